"""Where notifications go: one module per kind, each a :class:`~crashveil.server.alerts.notification.Destination`.

- :mod:`.webhook`: JSON signed with HMAC-SHA256 over ``timestamp.body`` (``verify_webhook`` for receivers);
- :mod:`.slack` and :mod:`.teams`: incoming-webhook chat messages;
- :mod:`.github` and :mod:`.gitlab`: an issue opened through the tracker's REST API;
- :mod:`.smtp`: a plain-text e-mail;
- :mod:`.store`: the ``destinations`` table (secrets sealed under the KEK), ``make_destination``
  and ``destinations_for``.

Every string of a notification but its link comes from a crash (attacker-controlled): each
kind renders it inert for its format (:mod:`.inert`). Each ``deliver`` makes one attempt,
bounded by timeouts, and never raises for a delivery failure; the outbox worker retries.
Standard library only (``urllib.request``, ``smtplib``): httpx is not a server dependency.
"""
