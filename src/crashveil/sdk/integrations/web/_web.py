"""What the web integrations share: per-request opt-out, sampling per route, and the report.

``WebIntegration`` holds the settings an app gives an integration:

- ``opt_out_header``: a request carrying it with a true value (``X-Crashveil-Opt-Out: 1``)
  is never reported. The header is read for that decision only and goes nowhere.
- ``opt_out``: a hook called with the framework's request object (Flask's ``request``,
  Django's ``HttpRequest``, Starlette's ``Request``, the WSGI environ, the ASGI scope);
  True keeps that request's crash out of reports (a signed-in user's setting, say).
- ``route_sample_rates``: route template -> fraction of its crashes reported (a noisy
  endpoint at 0.1); other routes are reported at 1.0 (the policy's own sampling and limits
  still apply after).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from crashveil.sdk._internal import suppress_internal_errors
from crashveil.sdk.integrations._base import Integration, capture, claim
from crashveil.sdk.integrations.web.request_context import RequestContext

__all__ = ["DEFAULT_OPT_OUT_HEADER", "WebIntegration", "truthy"]

DEFAULT_OPT_OUT_HEADER = "X-Crashveil-Opt-Out"
_TRUE = frozenset({"1", "true", "yes", "on"})


def truthy(value: object) -> bool:
    """Whether a header value says yes (``1``, ``true``, ``yes``, ``on``)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return isinstance(value, str) and value.strip().lower() in _TRUE


class WebIntegration(Integration):
    """An integration that reports requests' crashes; the settings above, checked here."""

    def __init__(self, *, opt_out_header: str | None = DEFAULT_OPT_OUT_HEADER,
                 opt_out: Callable[[object], bool] | None = None,
                 route_sample_rates: Mapping[str, float] | None = None,
                 rng: random.Random | None = None) -> None:
        from crashveil.errors import ConfigError

        if opt_out is not None and not callable(opt_out):
            raise ConfigError("opt_out", "is not callable", "a function(request) -> bool")
        rates = dict(route_sample_rates or {})
        for route, rate in rates.items():
            if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
                raise ConfigError(f"route_sample_rates[{route!r}]", "is not a rate", "a number from 0.0 to 1.0")
        self.opt_out_header = opt_out_header
        #: The header as WSGI spells it in the environ, and as ASGI spells it in the scope.
        self.environ_key = None if opt_out_header is None else "HTTP_" + opt_out_header.upper().replace("-", "_")
        self.header_bytes = None if opt_out_header is None else opt_out_header.lower().encode("latin-1")
        self.opt_out = opt_out
        self.route_sample_rates = rates
        self.rng = rng or random.SystemRandom()

    def report(self, exc: BaseException, request: object, context: RequestContext, *,
               header_value: object = None) -> str | None:
        """Report a request's crash unless the request opted out or its route is sampled out.

        ``header_value``: the opt-out header of the request as the framework gives it (None:
        absent). The exception is claimed first either way, so no other layer reports it.
        """
        if not claim(exc):
            return None
        if header_value is not None and truthy(header_value):
            return None
        if self.opt_out is not None:
            decided = True  # a failing hook opts out: when in doubt, leave the person out
            with suppress_internal_errors("opt_out"):
                decided = self.opt_out(request) is True
            if decided:
                return None
        rate = self.route_sample_rates.get(context.route or "", 1.0)
        if rate < 1.0 and self.rng.random() >= rate:
            return None
        return capture(exc, mechanism="web", context=context.fields())
