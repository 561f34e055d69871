"""FastAPI: the Starlette integration (FastAPI apps are Starlette apps); this name is for discovery."""

from __future__ import annotations

from crashveil.sdk.integrations.web.starlette import StarletteIntegration, default_integrations

__all__ = ["FastApiIntegration", "default_integrations"]

FastApiIntegration = StarletteIntegration
