"""The real server for reliability tests and scripts: init, start, kill, restart, inspect.

No pytest here, so ``scripts/load.py`` and ``scripts/reliability_report.py`` use it too (by
path: ``tests`` is not a package). The same way ``tests/server/http/test_run_tls.py`` starts the
server: ``crashveil server init`` and ``issue-client-cert``, then ``run_server`` on uvicorn
in a subprocess, mutual TLS, loopback only. Settings are overridden per start with
``CRASHVEIL_<KEY>`` variables (``Settings.load`` reads them), so one server directory can be
restarted with other limits or another database.

Clients are the SDK's own: :class:`crashveil.sdk.transport.HttpsTransport` (pinned CA,
client certificate, no plain-HTTP path) and :func:`crashveil.sdk.delivery.seal.seal_report`.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crashveil.policy import compute_fingerprint, policy_digest
from crashveil.wire import Environment, Frame, Report, Stack
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, ConnectionString, reports_path

__all__ = ["ServerDir", "Server", "init_server_dir", "free_port", "Sealer", "post_sealed", "stored_rows",
           "consistency_problems", "transport_for"]

SERVER_CODE = ("import sys; from pathlib import Path; from crashveil.server.settings import Settings; "
               "from crashveil.server.http.run import run_server; run_server(Settings.load(Path(sys.argv[1])))")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerDir:
    """A server directory made by the CLI, a client certificate, and its database URL."""

    path: Path
    client_cert: Path
    client_key: Path
    database_url: str | None = None  # None: the directory's own SQLite file

    @property
    def ca_pem(self) -> Path:
        return self.path / "tls" / "ca.pem"

    def settings(self) -> Any:
        from crashveil.server.settings import Settings

        return Settings.load(self.path, environ={}, database_url=self.database_url)

    def storage(self) -> Any:
        from crashveil.server.storage.store import Storage

        return Storage.open(self.settings())


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "crashveil", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env} if env else None)
    if done.returncode != 0:
        raise RuntimeError(f"crashveil {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def init_server_dir(path: Path, *, database_url: str | None = None, client: str = "load-client") -> ServerDir:
    """``crashveil server init`` + ``issue-client-cert``; with ``database_url`` (a migrated,
    empty PostgreSQL database) the directory is made for it, as an operator would
    (``server init --database``): the ``demo`` project, the audit trail and its signed
    checkpoint, and the certificate register are all in that database."""
    _cli("server", "init", str(path), *(("--database", database_url) if database_url else ()))
    _cli("server", "issue-client-cert", client, "--server-dir", str(path))
    return ServerDir(path, path / "clients" / f"{client}.pem", path / "clients" / f"{client}.key", database_url)


@dataclass
class Server:
    """One server process over a :class:`ServerDir`; ``start`` again after ``kill`` or ``stop``."""

    dir: ServerDir
    log: Path
    port: int = field(default_factory=free_port)
    # The web listener (dashboard, Sentry ingest) gets its own free port too, so servers of
    # parallel test workers never compete for the default 8444.
    web_port: int = field(default_factory=free_port)
    environ: dict[str, str] = field(default_factory=dict)
    # Lower the server's soft RLIMIT_NOFILE to this (never raised), so that descriptor
    # exhaustion is reachable with a few hundred sockets.
    nofile: int | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # The loopback address both listeners bind (several hosts of one server: 127.0.0.2, ...).
    host: str = "127.0.0.1"

    def url(self, path: str) -> str:
        return f"https://{self.host}:{self.port}{path}"

    def start(self, timeout_s: float = 30.0) -> Server:
        env = {key: value for key, value in os.environ.items() if not key.startswith("CRASHVEIL_")}
        # Tests send from one installation: the quasi-identifier k check (tests/server/linkability) is off.
        env.update({"CRASHVEIL_PORT": str(self.port), "CRASHVEIL_WEB_PORT": str(self.web_port),
                    "CRASHVEIL_QUASI_IDENTIFIER_CHECK": "false", **self.environ})
        if self.host != "127.0.0.1":
            env["CRASHVEIL_HOST"] = self.host
        if self.dir.database_url:
            env["CRASHVEIL_DATABASE_URL"] = self.dir.database_url
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts} ---\n".encode())
            out.flush()
            self.process = subprocess.Popen([sys.executable, "-c", SERVER_CODE, str(self.dir.path)], env=env,
                                            stdout=out, stderr=subprocess.STDOUT, preexec_fn=self._limits)
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        waiting = [self.port, self.web_port]  # started: both listeners accept (they bind one after the other)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_text()[-3000:]}")
            try:
                with socket.create_connection((self.host, waiting[0]), timeout=0.2):
                    waiting.pop(0)
                if not waiting:
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not listen within {timeout_s} s: {self.log_text()[-3000:]}")

    def _limits(self) -> None:
        """In the child before exec: lower the soft descriptor limit if asked (never raise it)."""
        if self.nofile is not None:
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(self.nofile, soft), hard))

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush; what is committed is all there is."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int:
        """Send ``sig`` and wait; returns the exit status (raises if it does not exit in time)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def memory_kb(self) -> tuple[int, int]:
        """(current RSS, peak RSS) of the server process in KiB, from /proc."""
        assert self.process is not None
        values = {"VmRSS": 0, "VmHWM": 0}
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0])
        except OSError:
            pass
        return values["VmRSS"], values["VmHWM"]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def connection_string(self) -> ConnectionString:
        storage = self.dir.storage()
        try:
            project = storage.project("demo")
            assert project is not None
            ca_der = ssl.PEM_cert_to_DER_cert(self.dir.ca_pem.read_text())
            return ConnectionString(self.host, self.port, "demo", project.keypairs[0].public_key_string(),
                                    project.signing_key.public_key_string(), ca_der)
        finally:
            storage.close()

    def dsn(self) -> str:
        return self.connection_string().format()


def transport_for(server: Server, *, client_cert: Path | None = None, client_key: Path | None = None,
                  timeout_s: float = 10.0) -> Any:
    """The SDK's HTTPS transport to ``server`` (its own client certificate unless told)."""
    from crashveil.sdk.transport import HttpsTransport

    cert = client_cert if client_cert is not None else server.dir.client_cert
    key = client_key if client_key is not None else server.dir.client_key
    return HttpsTransport(server.connection_string(), client_cert=str(cert), client_key=str(key),
                          timeout_s=timeout_s)


class Sealer:
    """Reports sealed to the ``demo`` project's current key, as the SDK seals them."""

    def __init__(self, server_dir: ServerDir) -> None:
        storage = server_dir.storage()
        try:
            project = storage.project("demo", fresh=True)
            assert project is not None
            self.digest = policy_digest(project.policy)
            self.key = project.keypairs[0].public_key()
            self.key_string = project.keypairs[0].public_key_string()
        finally:
            storage.close()

    def report(self, *, crash_type: str = "KeyError", function: str = "load", install_id: str | None = None,
               message: str | None = None, hour: str | None = None) -> Report:
        frames = (Frame("app/main.py", "main", 3, True), Frame("app/store.py", function, 42, True))
        return Report(schema_version=1, policy_digest=self.digest, consent_level="diagnostic",
                      report_id=str(uuid.uuid4()), crash_type=crash_type,
                      fingerprint=compute_fingerprint(crash_type, frames), stack=Stack(frames), release="1.0",
                      environment=Environment("linux", "6", "cpython", "3.11", "x86_64"), message=message,
                      occurred_hour=hour or datetime.now(UTC).strftime("%Y-%m-%dT%H:00Z"),
                      install_id=install_id or uuid.uuid4().hex)

    def seal(self, report: Report | bytes) -> bytes:
        from crashveil.sdk.delivery.seal import seal_report

        payload = report.to_json() if isinstance(report, Report) else report
        return seal_report(payload, self.key, project_id="demo", schema_version=1)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as a load sender sees it (status 0: no answer at all)."""

    status: int
    error: str | None = None
    receipt: str | None = None
    retry_after: str | None = None


def post_sealed(context: ssl.SSLContext, port: int, sealed: bytes, *, timeout_s: float = 10.0,
                path: str = reports_path("demo"), headers: dict[str, str] | None = None,
                host: str = "127.0.0.1") -> Answer:
    """POST one sealed report over the SDK's TLS context; one connection per request, as the SDK."""
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=timeout_s)
    try:
        connection.request("POST", path, body=sealed, headers={
            "Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1", **(headers or {})})
        response = connection.getresponse()
        body = response.read(64 * 1024)
        if response.length:  # cut off before its Content-Length: no answer (the SDK does the same)
            return Answer(0, "cut_off")
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        return Answer(response.status, data.get("error"), data.get("receipt"), response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException):
        return Answer(0, "no_answer")
    finally:
        connection.close()


def get_status(context: ssl.SSLContext, port: int, path: str, *, timeout_s: float = 5.0) -> int:
    """The status of ``GET path`` over the SDK's TLS context (0: no answer)."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout_s)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


def stored_rows(server_dir: ServerDir) -> list[tuple[str, str, bool]]:
    """``(report_id, receipt, has_detail)`` of every stored report."""
    import sqlalchemy as sa

    from crashveil.server.db.tables import reports

    storage = server_dir.storage()
    try:
        with storage.engine.connect() as conn:
            return [(r[0], r[1], r[2] is not None) for r in conn.execute(
                sa.select(reports.c.report_id, reports.c.receipt, reports.c.detail))]
    finally:
        storage.close()


def consistency_problems(server_dir: ServerDir, *, decrypt: int = 50) -> list[str]:
    """What a half-written report would leave behind; ``[]`` when the database is whole.

    Every report has its group; each group's ``total_count`` equals its reports and the sum
    of its roll-ups; no report id is stored twice; stored details decrypt (up to ``decrypt``).
    """
    import sqlalchemy as sa

    from crashveil.server.db.tables import crash_groups, group_rollups, reports

    problems: list[str] = []
    storage = server_dir.storage()
    try:
        with storage.engine.connect() as conn:
            per_group = dict(conn.execute(sa.select(reports.c.group_id, sa.func.count())
                                          .group_by(reports.c.group_id)).all())
            totals = dict(conn.execute(sa.select(crash_groups.c.id, crash_groups.c.total_count)).all())
            rollups = dict(conn.execute(sa.select(group_rollups.c.group_id, sa.func.sum(group_rollups.c.count))
                                        .group_by(group_rollups.c.group_id)).all())
            dupes = conn.execute(sa.select(reports.c.report_id).group_by(reports.c.project_id, reports.c.report_id)
                                 .having(sa.func.count() > 1)).scalars().all()
            sample = conn.execute(sa.select(reports.c.report_id).where(reports.c.detail.is_not(None))
                                  .limit(decrypt)).scalars().all()
        for group_id, count in per_group.items():
            if group_id not in totals:
                problems.append(f"reports of missing group {group_id}")
            elif totals[group_id] != count:
                problems.append(f"group {group_id}: total_count {totals[group_id]} but {count} reports")
        for group_id, total in totals.items():
            if int(rollups.get(group_id) or 0) != total:
                problems.append(f"group {group_id}: roll-ups {rollups.get(group_id)} but total_count {total}")
        problems += [f"report {r} stored twice" for r in dupes]
        for report_id in sample:
            if storage.report_detail("demo", report_id) is None:
                problems.append(f"report {report_id} does not decrypt")
    finally:
        storage.close()
    return problems


def wait_for(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` passed; its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


def load_module(name: str, path: Path) -> Any:
    """Import a file that is not in a package (a script, or this module from a script)."""
    import importlib.util

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
