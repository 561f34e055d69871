"""Web integrations: the crashes a web framework answers with a 500.

``wsgi.py`` and ``asgi.py`` the generic middlewares; ``django.py``, ``flask.py``,
``starlette.py`` (and ``fastapi.py``, built on it) the framework hooks; ``_web.py`` the
``WebIntegration`` base with per-request opt-out and per-route sampling;
``request_context.py`` the route template, method, status and handler a report may carry
(policy fields only: never the URL, query, headers, cookies, body or client address).
Nothing is imported here: a framework's module is loaded only when it is wanted.
"""
