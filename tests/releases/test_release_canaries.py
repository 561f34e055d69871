"""Canaries: identifiers planted in a release string (of a report and of an adoption ping) and the
install pseudonym reach neither storage nor the releases page, through the real ingest routes."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.policy import default_policy, policy_digest
from crashveil.server.http.app import create_app
from crashveil.wire.canonical import canonical_json
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, adoption_path, reports_path

from .conftest import NOW, ORIGIN, build_report, login

HEADERS = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}
PLANTED = "2.0 frank.canary@example.com +44 20 7946 0958"
INSTALL = "c4" * 16


def _dump(engine: Any) -> str:
    """Every row of every table as text (bytes as hex)."""
    metadata = sa.MetaData()
    parts = []
    with engine.connect() as conn:
        metadata.reflect(conn)
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.append(json.dumps([v.hex() if isinstance(v, bytes) else str(v) for v in row]))
    return "\n".join(parts)


def test_planted_release_and_pseudonym_reach_neither_storage_nor_page(settings, storage, dashboard,
                                                                      seal: Callable[[bytes], bytes]) -> None:
    """A report and a ping with a personal release: stored and shown redacted; the ping's pseudonym is
    nowhere in clear (the report's install id is, by design, in ``reports``)."""
    ingest = TestClient(create_app(settings, storage, now=lambda: NOW, group_commit=False))
    report = build_report(release=PLANTED, install_id="d5" * 16, report_id=str(uuid.uuid4()))
    stored = ingest.post(reports_path("demo"), content=seal(report.to_json()), headers=HEADERS)
    ping = {"policy_digest": policy_digest(default_policy()), "consent_level": "crash", "release": PLANTED,
            "day": NOW.date().isoformat(), "install_id": INSTALL}
    pinged = ingest.post(adoption_path("demo"), content=seal(canonical_json(ping)), headers=HEADERS)
    page = TestClient(dashboard, base_url=ORIGIN)
    login(page, "dev")
    text = page.get("/dashboard/p/demo/releases").text
    dump = _dump(storage.engine)
    assert (201, 202) == (stored.status_code, pinged.status_code)
    # The phone number whole, with or without its spaces: a fragment of 4 digits turns up by
    # chance in the hex of keys and digests the dump holds.
    phone = any(form in dump for form in ("7946 0958", "79460958", "+44 20"))
    assert (False, False, False, False, True) == ("frank.canary" in dump, phone, INSTALL in dump,
                                                  "frank.canary" in text, "2.0 &lt;" in text)
