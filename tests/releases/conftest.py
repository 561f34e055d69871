"""Fixtures of the releases tests: the server tests' databases (SQLite file, fresh PostgreSQL),
settings and storage, shared rather than copied, and a sealer of adoption pings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _loading import load

_server = load("crashveil_tests_server_conftest", Path(__file__).parent.parent / "server" / "conftest.py")
postgresql_proc = _server.postgresql_proc
pg_template = _server.pg_template
pg_url = _server.pg_url
database_url = _server.database_url
settings = _server.settings
storage = _server.storage
make_report = _server.make_report
build_report = _server.build_report
NOW = _server.NOW


@pytest.fixture
def seal(storage: Any) -> Callable[[bytes], bytes]:
    """Seal a payload to project ``demo``'s key, as the SDK does."""
    from crashveil.sdk.delivery.seal import seal_report

    key = storage.project("demo").keypairs[0].public_key()
    return lambda payload: seal_report(payload, key, project_id="demo", schema_version=1)
