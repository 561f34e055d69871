"""The feedback storage on PostgreSQL (the other tests run on SQLite): store once per id, list,
answer, fetch by handle digest, topic counts, erasure of linked items and retention."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from _loading import load

from crashveil.server.db.engine import read_tx, write_tx
from crashveil.server.feedback import store
from crashveil.server.feedback.tables import forget_feedback

from .conftest import NOW

pytestmark = pytest.mark.postgres
_server = load("crashveil_tests_server_conftest", Path(__file__).parent.parent / "server" / "conftest.py")


def test_feedback_storage_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.storage.store import Storage

    settings = _server.make_settings(tmp_path, pg_url)
    FileKeyProvider.create(settings.kek_path, now=NOW)
    storage = Storage.open(settings, clock=lambda: NOW)
    try:
        storage.create_project("demo", now=NOW)
        digest = hashlib.sha256(b"handle").digest()
        items = [store.NewFeedback("demo", f"{n:032x}", topic, "a text", digest if n == 1 else bytes(32),
                                   "ab" * 16 if n == 2 else None, 0, "2026-05-01")
                 for n, topic in ((1, "question"), (2, "concern"))]
        with write_tx(storage.engine) as conn:
            stored = [store.store_feedback(conn, storage.keys, item) for item in [*items, items[0]]]
            listed = store.list_feedback(conn, "demo")
            store.reply_feedback(conn, storage.keys, "demo", listed[-1].id, "an answer", day="2026-05-02")
        with read_tx(storage.engine) as conn:
            replies = store.replies_for(conn, storage.keys, "demo", [digest])
            counts = store.topic_counts(conn, "demo", since_day="2026-05-01", until_day="2026-05-01")
        with write_tx(storage.engine) as conn:
            erased = forget_feedback(conn, "demo", ["ab" * 16])
            expired = store.expire_feedback(conn, "demo", today=date(2026, 12, 1), retention_days=180)
    finally:
        storage.close()
    assert ([True, True, False], 2, ["an answer"], {"question": {"answered": 1}, "concern": {"new": 1}}, 1, 1) == (
        stored, len(listed), [r["reply"] for r in replies], counts, erased, expired)
