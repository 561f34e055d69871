"""Shared fixtures: SDK errors swallowed in production fail the test here; keys, DSN, clients.

The autouse ``internal_errors`` fixture is sentry-python's ``internal_exceptions``: whatever
``suppress_internal_errors`` swallows during a test is re-raised when the test ends, so
"never crash the host" cannot hide bugs. A test that crashes inside the SDK on purpose asks
for ``allow_internal_errors`` and inspects the list it gets.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def internal_errors(request: pytest.FixtureRequest) -> Iterator[list[BaseException]]:
    """Collect the SDK's swallowed internal errors and re-raise the first at teardown."""
    try:
        from crashveil.sdk import _internal
    except ImportError:  # pragma: no cover - before the SDK exists
        yield []
        return
    errors: list[BaseException] = []
    _internal.add_error_listener(errors.append)
    _internal.reset_dropped()
    try:
        yield errors
    finally:
        _internal.remove_error_listener(errors.append)
        if errors and "allow_internal_errors" not in request.fixturenames:
            raise errors[0]


@pytest.fixture
def allow_internal_errors(internal_errors: list[BaseException]) -> list[BaseException]:
    """For tests that break the SDK on purpose: the swallowed errors, not re-raised."""
    return internal_errors


@pytest.fixture(autouse=True)
def _no_leftover_client() -> Iterator[None]:
    """Each test starts and ends with the null client and the interpreter's own hooks."""
    yield
    import crashveil

    crashveil.shutdown()


@pytest.fixture(scope="session")
def keypair() -> Any:
    """A project key pair (X25519: fast) for sealing in tests."""
    from crashveil.server.keys.crypto import ProjectKeyPair

    return ProjectKeyPair.generate("x25519")


@pytest.fixture(scope="session")
def dsn(keypair: Any) -> str:
    """A connection string for project ``test-app`` with the test public key."""
    from crashveil.wire.protocol import ConnectionString

    sign = "ed25519:" + base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()
    return ConnectionString(host="127.0.0.1", port=9, project="test-app", public_key=keypair.public_key_string(),
                            signing_key=sign, ca_der=b"test-ca").format()


@pytest.fixture
def opener(keypair: Any) -> Callable[[bytes], bytes]:
    """Opens what the SDK sealed, as the server would."""
    from crashveil.server.keys.crypto import open_report
    from crashveil.wire.report import SCHEMA_VERSION

    return lambda sealed: open_report(sealed, [keypair], project_id="test-app", schema_version=SCHEMA_VERSION)


class Clock:
    """A settable clock: ``clock()`` returns ``clock.now``."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app_root(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    return root


@pytest.fixture
def make_client(tmp_path: Path, dsn: str, opener: Any, clock: Clock, app_root: Path) -> Callable[..., Any]:
    """Build a ``Client`` with a ``RecordingTransport`` (``client.transport_for_test``), no hooks."""
    from crashveil.sdk.client import Client
    from crashveil.sdk.options import Options
    from crashveil.testing import RecordingTransport

    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        transport = overrides.pop("transport", None) or RecordingTransport(opener=opener)
        kwargs = {"dsn": dsn, "data_dir": tmp_path / "data", "app_root": app_root, "release": "app@1.0",
                  "transport": transport, "now": clock, **overrides}
        client = Client(Options.from_kwargs(kwargs, environ={}))
        client.transport_for_test = transport
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def run_app(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs a script as ``app/main.py`` in a fresh interpreter (see ``_run_app``)."""
    return lambda source, **kwargs: _run_app(tmp_path, source, **kwargs)


def _run_app(tmp_path: Path, source: str, *, env: dict[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as a script ``app/main.py`` in a fresh interpreter; HOME is ``tmp_path/home``."""
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    script = app / "main.py"
    script.write_text(textwrap.dedent(source))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("CRASHVEIL_") and key not in ("XDG_DATA_HOME", "PYTHONFAULTHANDLER")}
    environment.update({"HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"})
    environment.update(env or {})
    return subprocess.run([sys.executable, str(script)], cwd=str(tmp_path), env=environment, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def wait_for() -> Callable[..., bool]:
    """``tests/_servers.py``'s ``wait_for(predicate, timeout_s, step_s=0.05)``: poll a condition
    until it holds or the deadline passes; its last value. Tests wait for what they need, never
    for a fixed time. (``_servers`` is loaded by path: ``tests`` is not a package.)"""
    from _loading import load

    wait: Callable[..., bool] = load("crashveil_tests_servers", Path(__file__).parent / "_servers.py").wait_for
    return wait
