"""Erasure: every report of an install goes, across periods, and the request is audited without pseudonyms."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crashveil.server.audit import AuditTrail
from crashveil.server.db.tables import reports
from crashveil.server.erasure import erase_installs

GONE = "1a" * 16
KEPT = "2b" * 16


def test_erasure_removes_all_reports_of_the_install(storage, make_report, server_dir) -> None:
    """Reports of the erased install from several days and releases are all deleted; others stay."""
    now = storage._clock()
    for days, release in ((0, "1.0.0"), (3, "1.1.0"), (40, "0.9.0"), (80, "0.8.0")):
        for install in (GONE, KEPT):
            storage.store_report("demo", make_report(install_id=install, release=release), origin="crashveil-sdk",
                                 received_at=now - timedelta(days=days), redaction_hits={}, dropped_fields=())
    trail = AuditTrail.for_server_dir(storage.engine, server_dir, now=lambda: now)
    record = erase_installs(storage, trail, "demo", "req-1", [GONE], now=now)
    with storage.engine.connect() as conn:
        left = sorted(conn.execute(sa.select(reports.c.install_id)).scalars())
    entry = trail.entries()[-1]
    assert (4, [KEPT] * 4, "erasure", {"installs": 1, "reports_deleted": 4}, False, True) == (
        record.deleted_count, left, entry.action, entry.details, GONE in entry.detail, trail.verify().ok)
