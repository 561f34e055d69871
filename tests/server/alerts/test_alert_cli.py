"""``crashveil alert add/list/remove/deliveries`` on a server directory."""

from __future__ import annotations

import json

import pytest

from crashveil.cli import main
from crashveil.server.alerts.notification import DeliveryResult
from crashveil.server.alerts.worker import OutboxWorker
from crashveil.server.storage.store import Storage

from ..conftest import NOW
from .conftest import Directory, Recorder, store_crash


def test_alert_commands(store: Storage, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store.settings.settings_path.write_text(store.settings.to_toml())
    monkeypatch.setenv("CRASHVEIL_SERVER_DIR", str(store.settings.server_dir))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["alert", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    added = run("add", "--project", "demo", "--kind", "new_group", "--destination", "chat", "--quiet", "22:00-07:00",
                "--timezone", "Europe/Berlin")
    refused = run("add", "--project", "demo", "--kind", "new_group", "--destination", "pager")
    listed = json.loads(run("list", "--project", "demo", "--format", "json")[1])
    store_crash(store)
    chat = Recorder("chat", results=[DeliveryResult(False, 503, "HTTP 503 \x1b[31m")])
    OutboxWorker(store.engine, Directory([chat]), lambda p: store.project(p).policy,  # type: ignore[union-attr]
                 clock=lambda: NOW.replace(day=2, hour=6)).run_once()
    deliveries = run("deliveries", "--project", "demo")
    removed = run("remove", "1", "--project", "demo")
    assert ((0, "1\n"), 1, "destination" in refused[2]) == ((added[0], added[1]), refused[0], True)
    assert [("new_group", ["chat"], {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin",
                                     "mode": "digest"})] == [(r["kind"], r["destinations"], r["quiet"]) for r in listed]
    assert (0, True, False) == (deliveries[0], "chat\trule 1\tattempt 1\tfailed\t503" in deliveries[1],
                                "\x1b" in deliveries[1])
    assert (0, "no alert rules\n") == (removed[0], run("list", "--project", "demo")[1])
