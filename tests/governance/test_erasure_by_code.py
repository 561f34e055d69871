"""Erasure by installation code (issue 21): the app and its secret are gone, the person still
has the code the app showed; the privacy officer's command erases every report of that
installation over every rotation period, the same way a revoke does, and hands over a signed
confirmation anyone can check. Without the code nothing links the periods; the code itself is
stored, logged and audited nowhere.

The real SDK (``Client``, its queue and sealing) sends to the real server app in process (the
SDK's recording transport hands the sealed bytes to the app's test client); the erasure runs
through the real ``crashveil`` command on the storage fixture's server directory."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from crashveil.cli.app import cli
from crashveil.server.db.tables import reports
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.erasure_by_code.erase import erase_by_code
from crashveil.testing import RecordingTransport
from crashveil.wire.install_code import erasure_key, format_code, parse_code
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, ConnectionString

from .conftest import Clock

with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from crashveil.server.http.app import create_app

REPORTS = "/api/v1/projects/demo/reports"
HEADERS = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}
REASON = "ticket SUP-4711: uninstalled, asked by e-mail"


@pytest.fixture
def api(settings: Any, storage: Any, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, storage, now=clock)) as client:
        yield client


@pytest.fixture
def run(storage: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    """Run a ``crashveil`` command on the storage fixture's server directory."""
    settings = storage.settings
    settings.settings_path.write_text(settings.to_toml())
    monkeypatch.setenv("CRASHVEIL_SERVER_DIR", str(settings.server_dir))
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args))
        return result.exit_code, result.output + (str(result.exception) if result.exception else "")

    return invoke


class App:
    """One installation of an app with the real SDK: crashes go to the server app in process."""

    def __init__(self, data_dir: Path, storage: Any, clock: Clock, api: TestClient) -> None:
        from crashveil.sdk.client import Client
        from crashveil.sdk.options import Options

        project = storage.project("demo")
        dsn = ConnectionString(host="127.0.0.1", port=9, project="demo",
                               public_key=project.keypairs[0].public_key_string(),
                               signing_key=project.signing_key.public_key_string(), ca_der=b"test-ca").format()
        self.transport = RecordingTransport()
        self.data_dir, self.api = data_dir, api
        self.client = Client(Options.from_kwargs({"dsn": dsn, "data_dir": data_dir, "release": "app@1.0",
                                                  "transport": self.transport,
                                                  "now": lambda: clock().timestamp()}, environ={}))
        self.client.grant("crash")

    def crash(self) -> bytes:
        """One crash, captured, sealed, queued and sent by the SDK, then stored by the server."""
        try:
            raise KeyError("settings")
        except KeyError as exc:
            assert self.client.capture_exception(exc) is not None
        assert self.client.flush(10.0)
        sealed = self.transport.sent[-1].sealed
        answer = self.api.post(REPORTS, content=sealed, headers=HEADERS)
        assert 201 == answer.status_code, answer.text
        return sealed


def _installs(storage: Any) -> list[str]:
    with storage.engine.connect() as conn:
        return sorted(conn.execute(sa.select(reports.c.install_id)).scalars())


def _everything_stored(storage: Any) -> str:
    """Every row of every table, as text; for SQLite also the raw database and WAL files."""
    metadata = sa.MetaData()
    metadata.reflect(storage.engine)
    with storage.engine.connect() as conn:
        text = repr([conn.execute(sa.select(table)).all() for table in metadata.sorted_tables])
    url = storage.engine.url
    if url.get_backend_name() == "sqlite":
        for path in Path(str(url.database)).parent.glob("*.db*"):
            text += path.read_bytes().decode("latin-1")
    return text


def _needles(code: str) -> list[str]:
    """The code as shown, as typed without dashes, and the key it stands for (hex, raw bytes)."""
    key = parse_code(code)
    return [code, code.replace("-", ""), code.replace("-", "").lower(), key.hex(), key.decode("latin-1")]


def test_the_code_erases_every_period_after_the_app_is_gone(api: TestClient, storage: Any, clock: Clock,
                                                            tmp_path: Path, run: Any,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Two rotation periods of one installation's reports, its data dir deleted, then ``erasure
    by-code``: both periods' reports are gone, a replay of the first is refused (tombstones),
    another installation's reports stay; the confirmation verifies, also against the person's
    code; the audit trail and the audit report count it, and the code is nowhere."""
    caplog.set_level(logging.DEBUG)
    gone, kept = App(tmp_path / "app-a", storage, clock, api), App(tmp_path / "app-b", storage, clock, api)
    first = gone.crash()
    kept.crash()
    clock.advance(days=10)  # 2026-05-11: the next 30-day rotation period began on 2026-05-07
    gone.crash()
    kept.crash()
    code = gone.client.installation_code()
    assert code is not None and len(set(_installs(storage))) == 4  # two installs, two pseudonyms each
    gone.client.close()
    shutil.rmtree(gone.data_dir)

    out = tmp_path / "confirmation.json"
    erased = run("erasure", "by-code", code, "--project", "demo", "--reason", REASON, "--out", str(out))
    left = _installs(storage)
    replay = api.post(REPORTS, content=first, headers=HEADERS)
    verified = run("erasure", "verify", str(out), "--code", code)
    other_code = format_code(erasure_key(b"\x07" * 32))
    about_another = run("erasure", "verify", str(out), "--code", other_code)
    report = json.loads(run("audit", "report", "--format", "json")[1])
    markdown = run("audit", "report")[1]
    entry = AuditTrail.for_server_dir(storage.engine, storage.settings.server_dir).entries(
        actions=["erasure.by_code"])[-1]
    assert (0, 2, 422) == (erased[0], len(left), replay.status_code), erased[1]
    assert left == sorted(kept.client.secret.pseudonym("demo", t, 30) for t in (
        clock().timestamp(), clock().timestamp() - 10 * 86_400))
    assert ((0, True), 1) == ((verified[0], "Valid" in verified[1]), about_another[0])
    assert (2, REASON, 1) == (entry.details["reports_deleted"], entry.details["reason"],
                              report["erasures_by_code"]["count"])
    assert "## Erasures by installation code" in markdown
    stored, logged = _everything_stored(storage), caplog.text + erased[1]
    assert [] == [n for n in _needles(code) if n in stored or n in logged or n in entry.detail]


def test_a_mistyped_code_is_named_and_an_unknown_one_answers_like_a_known_one(storage: Any, clock: Clock,
                                                                              run: Any) -> None:
    """A swapped check character is refused, saying so (exit 1, nothing erased, nothing audited);
    two valid codes, one with reports and one never seen, get confirmations of the same form."""
    from crashveil.wire.install_code import pseudonym_v2

    from .conftest import build_report

    known, unknown = erasure_key(b"\x01" * 32), erasure_key(b"\x02" * 32)
    period = int(clock().timestamp() // (30 * 86_400))
    storage.store_report("demo", build_report(install_id=pseudonym_v2(known, "demo", period)),
                         origin="crashveil-sdk", received_at=clock(), redaction_hits={}, dropped_fields=())
    code = format_code(known)
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    refused = run("erasure", "by-code", typo, "--project", "demo", "--reason", REASON)
    trail = AuditTrail.for_server_dir(storage.engine, storage.settings.server_dir, now=clock)
    answers = [erase_by_code(storage, trail, "demo", c, reason=REASON, actor="cli", now=clock()).document
               for c in (code, format_code(unknown))]
    assert (1, True, False) == (refused[0], "check character" in refused[1], code in refused[1])
    assert ([sorted(a) for a in answers][0], answers[0]["status"]) == ([sorted(a) for a in answers][1], "processed")
    assert ([], [1, 0]) == (_installs(storage), [e.details["reports_deleted"]
                                                 for e in trail.entries(actions=["erasure.by_code"])])

