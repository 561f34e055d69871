"""The dashboard: server-rendered pages over aggregates, audited reads of single reports."""

from __future__ import annotations

from crashveil.server.dashboard.csrf import load_or_create_secret
from crashveil.server.dashboard.headers import CSP
from crashveil.server.dashboard.routes import dashboard_routes

__all__ = ["CSP", "dashboard_routes", "load_or_create_secret"]
