"""Django through the real framework: middleware + got_request_exception (one report), context, privacy."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

import crashveil
from crashveil.sdk.integrations.web.django import DjangoIntegration

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper next to this file, in any import mode
from web_support import CANARIES, assert_no_canary, delivered, reporting

MIDDLEWARE = "crashveil.sdk.integrations.web.django.CrashveilMiddleware"


def create_order(request: HttpRequest, name: str) -> HttpResponse:
    raise KeyError("boom")


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@pytest.fixture(scope="module", autouse=True)
def django_settings() -> None:
    """One in-process Django project (settings can be configured once per process)."""
    urls = types.ModuleType("crashveil_web_test_urls")
    urls.urlpatterns = [path("users/<str:name>/orders", create_order), path("health", health)]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    if not settings.configured:
        settings.configure(DEBUG=False, SECRET_KEY="test-only", ROOT_URLCONF=urls.__name__, ALLOWED_HOSTS=["*"],
                           MIDDLEWARE=[MIDDLEWARE], TEMPLATES=[], INSTALLED_APPS=[],
                           LOGGING_CONFIG=None, USE_TZ=True)
        django.setup()


def crash(**headers: str) -> int:
    client = Client(raise_request_exception=False, REMOTE_ADDR=CANARIES["client"])
    client.cookies["sessionid"] = CANARIES["cookie"]
    response = client.post(f"/users/{CANARIES['path']}/orders?email={CANARIES['query']}",
                           data={"note": CANARIES["body"]}, headers={"X-Customer": CANARIES["header"], **headers})
    return response.status_code


def test_view_crash_reports_url_pattern_not_the_path(tmp_path: Path, dsn: str, opener: Any) -> None:
    """Middleware and signal both see the crash: one report, with the pattern and the view's name."""
    with reporting(tmp_path, dsn, opener, integrations=[DjangoIntegration()]) as transport:
        assert 500 == crash()
        [report] = delivered(transport)
        assert_no_canary(transport, tmp_path / "data")
    assert ("KeyError", "web", "users/<str:name>/orders", "POST", 500) == (
        report["crash_type"], report["mechanism"], report["route"], report["http_method"], report["status_code"])
    assert report["handler"].endswith("test_web_django.create_order")


def test_signal_alone_without_the_middleware(tmp_path: Path, dsn: str, opener: Any) -> None:
    """An app that did not add the middleware is still covered by the signal (auto-detected)."""
    from django.test import override_settings

    with override_settings(MIDDLEWARE=[]), reporting(tmp_path, dsn, opener) as transport:
        assert 500 == crash()
        [report] = delivered(transport)
    assert "users/<str:name>/orders" == report["route"]


def test_django_request_log_is_the_same_crash(tmp_path: Path, dsn: str, opener: Any) -> None:
    """django.request logs the crash after the signal: with the logging integration still one report."""
    logging.getLogger("django.request").propagate = True
    with reporting(tmp_path, dsn, opener, logging_integration=True) as transport:
        crash()
        reports = delivered(transport)
    assert ["users/<str:name>/orders"] == [report.get("route") for report in reports]


def test_opt_out_header(tmp_path: Path, dsn: str, opener: Any) -> None:
    with reporting(tmp_path, dsn, opener, logging_integration=True) as transport:
        assert 500 == crash(**{"X-Crashveil-Opt-Out": "1"})
        assert [] == delivered(transport)


def test_opt_out_hook_gets_the_http_request(tmp_path: Path, dsn: str, opener: Any) -> None:
    seen: list[bool] = []

    def opted_out(request: object) -> bool:
        seen.append(isinstance(request, HttpRequest))
        return True

    with reporting(tmp_path, dsn, opener, integrations=[DjangoIntegration(opt_out=opted_out)]) as transport:
        crash()
        assert ([], [True]) == (delivered(transport), seen)


def test_request_log_lines_never_become_breadcrumbs(tmp_path: Path, dsn: str, opener: Any) -> None:
    """django.request logs the path of a crashed request; at diagnostic level with log breadcrumbs,
    the next crash (another request, maybe another person) must not carry that line."""
    logging.getLogger("django.request").propagate = True
    with reporting(tmp_path, dsn, opener, level="diagnostic", logging_breadcrumbs=True) as transport:
        crash()
        logging.getLogger("shop").warning("an app line is kept")
        try:
            raise ValueError("the next crash")
        except ValueError as exc:
            assert crashveil.capture_exception(exc) is not None
        reports = delivered(transport)
        assert_no_canary(transport, tmp_path / "data")
    assert ["an app line is kept"] == [crumb["message"] for crumb in reports[-1].get("breadcrumbs", [])]
