"""A real crashveil server over HTTPS in a subprocess (``serve.py``), for tests that drive real
Sentry SDKs at it. Loaded by path (``tests`` is not a package): see ``load_live``."""

from __future__ import annotations

import importlib.util
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashveil.server.sentry.keys import SentryKeys, format_dsn
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage

HERE = Path(__file__).parent


@dataclass
class Live:
    directory: Path
    dsn: str
    ca: Path
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pki(directory: Path) -> Any:
    name = "crashveil_tests_https_server"
    spec = importlib.util.spec_from_file_location(name, HERE.parent / "sdk" / "https_server.py")
    assert spec and spec.loader
    module = sys.modules.setdefault(name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module.make_pki(directory)


@contextmanager
def live_server(root: Path, make_server: Callable[..., tuple[Settings, Storage]], level: str) -> Iterator[Live]:
    """Serve project ``demo`` with one DSN key at ``level`` until the block ends."""
    directory = root / "srv"
    directory.mkdir()
    settings, storage = make_server(directory)
    settings.settings_path.write_text(settings.to_toml())
    project, key = SentryKeys(storage.engine).create_key("demo", level=level)
    storage.close()
    pki = _pki(root / "pki")
    ca = root / "ca.pem"
    ca.write_text(ssl.DER_cert_to_PEM_cert(pki.ca_der))
    port = free_port()
    log = root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(HERE / "serve.py"), str(directory), str(port),
                                    str(pki.server_cert), str(pki.server_key)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield Live(directory, format_dsn(key, project.numeric_id, host="127.0.0.1", port=port), ca, log)
    finally:
        process.terminate()
        process.wait(timeout=10)


def stored(directory: Path) -> list[tuple[Any, Any]]:
    """Every stored report (row, decrypted detail), oldest first."""
    import sqlalchemy as sa

    from crashveil.server.db.tables import reports

    storage = Storage.open(Settings.load(directory))
    try:
        with storage.engine.connect() as conn:
            rows = conn.execute(sa.select(reports).order_by(reports.c.id)).all()
        return [(row, storage.report_detail(row.project_id, row.report_id)) for row in rows]
    finally:
        storage.close()


def wait_for(directory: Path, count: int, timeout_s: float = 15) -> list[tuple[Any, Any]]:
    """The stored reports once there are ``count`` (polling with a deadline), or what there is."""
    deadline = time.monotonic() + timeout_s
    rows = stored(directory)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = stored(directory)
    return rows


def server_files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def dashboard_text(directory: Path) -> str:
    """Every dashboard page of project ``demo`` as a developer sees it: the group list, each
    group, and each report opened with a reason (the real app over the server's storage)."""
    import re
    import warnings

    from argon2 import PasswordHasher

    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.http.app import create_app

    with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    settings = Settings.load(directory)
    storage = Storage.open(settings)
    try:
        audit = AuditTrail.for_server_dir(storage.engine, directory)
        access = AccessStore(storage.engine, audit, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        access.add_user("canary-dev", "canary-dev-password-1", actor="cli")  # once per server (module fixture)
        access.grant("canary-dev", "demo", "developer", actor="cli")
        origin = "https://testserver"
        client = TestClient(create_app(settings, storage, surface="web"), base_url=origin)
        login = client.get("/dashboard/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        answer = client.post("/dashboard/login", headers={"Origin": origin}, follow_redirects=False,
                             data={"nonce": nonce, "name": "canary-dev", "password": "canary-dev-password-1"})
        assert 303 == answer.status_code
        pages = [client.get("/dashboard/p/demo/").text]
        for group in sorted({row.group_id for row, _ in stored(directory)}):
            pages.append(client.get(f"/dashboard/p/demo/groups/{group}").text)
        for row, _ in stored(directory):
            form = client.get(f"/dashboard/p/demo/reports/{row.report_id}")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            opened = client.post(f"/dashboard/p/demo/reports/{row.report_id}", headers={"Origin": origin},
                                 data={"csrf": csrf, "reason": "canary test: no planted value"})
            assert 200 == opened.status_code
            pages.append(opened.text)
        return "\n".join(pages)
    finally:
        storage.close()
