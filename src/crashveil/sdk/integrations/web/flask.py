"""Flask: the ``got_request_exception`` signal, sent for every exception a view lets out.

Flask answers such a crash with a 500 and logs it; the signal comes first, so the report
carries the request's context and the log record that follows is recognised as the same
crash (one report). The route is the URL rule (``/users/<int:id>``), the handler the view
function's name: never ``request.path``, its query, headers, cookies or body.

Imported only when ``flask`` is already loaded, or when the app names the integration.
"""

from __future__ import annotations

from typing import Any

import flask

from crashveil.sdk.integrations._base import active
from crashveil.sdk.integrations.web._web import WebIntegration
from crashveil.sdk.integrations.web.request_context import RequestContext, handler_name, method_name

__all__ = ["FlaskIntegration", "default_integrations"]


class FlaskIntegration(WebIntegration):
    """Reports Flask views' crashes (settings: :class:`WebIntegration`; the hook gets ``flask.request``)."""

    name = "flask"
    framework_module = "flask"

    def setup_once(self) -> None:
        flask.got_request_exception.connect(_on_exception, weak=False)


def default_integrations() -> tuple[FlaskIntegration]:
    return (FlaskIntegration(),)


def _on_exception(sender: flask.Flask, exception: BaseException | None = None, **_: Any) -> None:
    integration = active(FlaskIntegration.name)
    if not isinstance(integration, FlaskIntegration) or exception is None or not flask.has_request_context():
        return
    request = flask.request
    rule = request.url_rule
    view = sender.view_functions.get(request.endpoint) if request.endpoint else None
    context = RequestContext(route=rule.rule if rule is not None else None, http_method=method_name(request.method),
                             status_code=500, handler=handler_name(view))
    header = request.headers.get(integration.opt_out_header) if integration.opt_out_header else None
    integration.report(exception, request, context, header_value=header)
