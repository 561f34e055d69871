"""Fixtures of the API tests: the dashboard tests' seeded SQLite server (``tests/dashboard/
conftest.py``, loaded by path) with the API's routes added, and tokens for its users."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _loading import load

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

_TESTS = Path(__file__).resolve().parents[2]
_dashboard = load("crashveil_tests_dashboard_conftest", _TESTS / "dashboard" / "conftest.py")
dash = _dashboard.dash
NOW = _dashboard.NOW
ROLES = {"dev": ("demo", "developer"), "viewer": ("demo", "viewer"), "officer": ("demo", "privacy-officer"),
         "outsider": ("other", "developer")}


@dataclass
class Api:
    """A test client of the dashboard plus the API, over the seeded ``dash``."""

    client: Any
    dash: Any

    def token(self, user: str, scopes: Iterable[str] = ("groups:read",), *, expires_days: int | None = 90) -> str:
        project, role = ROLES[user]
        _, token = self.dash.access.create_token(user, "test", projects=[project], roles=[role], actor="cli",
                                                 scopes=scopes, expires_days=expires_days)
        return token

    def get(self, path: str, token: str | None, **headers: str) -> Any:
        auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.client.get(path, headers={**auth, **headers})

    def patch(self, path: str, token: str | None, body: object) -> Any:
        auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.client.patch(path, json=body, headers=auth)


@pytest.fixture
def api(dash: Any) -> Api:
    from starlette.applications import Starlette

    from crashveil.server.api.routes import api_routes
    from crashveil.server.dashboard.routes import build_context

    now = lambda: dash.clock[0]  # noqa: E731 - the seeded clock, read at each call
    context = build_context(dash.storage, access=dash.access, audit=dash.audit, secret=b"k" * 32,
                            secure_cookies=False, now=now)
    app = Starlette(routes=[*dash.app.routes, *api_routes(dash.storage, access=dash.access, dashboard=context,
                                                          now=now)])
    return Api(TestClient(app, base_url="http://testserver"), dash)
