"""Erasure and the triage list: an erased installation stops counting in the group list's
all-time figures (installations, events, today/yesterday, first and last seen, releases and
environments, message template) as soon as its deletion request is processed.

The reports go through the ingest storage path; the erasure is a sealed deletion request
posted to the real ingest app (``Ingestor.delete`` -> ``erase_installs`` ->
``Storage.process_deletion_request``); the list is read through the dashboard page and the
storage query (``triage.listing.list_page``).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
import warnings
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crashveil.sdk.delivery.seal import seal_report
from crashveil.server.dashboard.triage.listing import ListedGroup, list_page
from crashveil.server.dashboard.triage.params import ListQuery
from crashveil.server.dashboard.triage.titles import TitleRules
from crashveil.server.db.triage_tables import group_facets
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE

from .conftest import NOW, _report
from .test_triage_list import ORIGIN, _login

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.server.http.app import create_app

DELETIONS = "/api/v1/projects/demo/deletion-requests"
ERASED = "e" * 32
KEPT = [f"{0xabc0 + i:032x}" for i in range(5)]  # min_k = 5: the page shows the count exactly


def _store(dash: Any, install: str, moment: datetime, *, release: str, deployment: str | None,
           message: str | None) -> None:
    report = _report("ErasureError", "erasable", release=release, os_family="linux", install=install,
                     message=message, hour=moment)
    report = dataclasses.replace(report, report_id=str(uuid.uuid4()), deployment=deployment)
    dash.storage.store_report("demo", report, origin="crashveil-sdk", received_at=moment, redaction_hits={},
                              dropped_fields=())


def _listed(dash: Any) -> ListedGroup:
    with dash.storage.engine.connect() as conn:
        page = list_page(conn, "demo", ListQuery(q="erasable", limit=50), TitleRules(True, NOW - timedelta(days=30)),
                         now=NOW)
    (row,) = page.rows
    return row


def _facets(dash: Any, group_id: int) -> set[tuple[str, str]]:
    with dash.storage.engine.connect() as conn:
        return {(r.kind, r.value) for r in conn.execute(sa.select(group_facets).where(
            group_facets.c.group_id == group_id))}


def _page_row(client: TestClient) -> list[str]:
    """The cells (tags stripped) of the group's row on the dashboard list."""
    page = client.get("/dashboard/p/demo/?q=erasable")
    assert 200 == page.status_code
    (row,) = [r for r in re.findall(r"<tr>(.*?)</tr>", page.text, re.S) if "ErasureError" in r]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _erase(dash: Any) -> None:
    """Post ERASED's sealed deletion request to the real ingest app."""
    ingest = TestClient(create_app(dash.storage.settings, dash.storage, now=lambda: NOW))
    project = dash.storage.project("demo")
    sealed = seal_report(f'{{"request_id": "{uuid.uuid4()}", "install_ids": ["{ERASED}"]}}'.encode(),
                         project.keypairs[0].public_key(), project_id="demo", schema_version=1)
    answer = ingest.post(DELETIONS, content=sealed, headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})
    assert 202 == answer.status_code


def test_erased_install_leaves_the_triage_list(dash: Any) -> None:
    """One group, reports from 6 installations; the erased one was the first and the last seen,
    sent the latest message and the only reports of release 6.6.6,
    and 3 of the group's 8 events (one yesterday, two today). After its deletion request, the
    list (storage query and page) counts 5 installations and 5 events, today 4 and yesterday
    1, first/last seen are the kept reports', and its release and message are
    gone (the message template cannot be recomputed without decrypting: it is forgotten)."""
    yesterday, early, late = NOW - timedelta(hours=20), NOW - timedelta(hours=6), NOW - timedelta(minutes=5)
    _store(dash, ERASED, NOW - timedelta(hours=30), release="6.6.6", deployment="erased-env", message=None)
    _store(dash, KEPT[0], yesterday, release="2.0.0", deployment="prod", message="kept message")
    for install in KEPT[1:]:
        _store(dash, install, early, release="2.0.0", deployment="prod", message="kept message")
    _store(dash, ERASED, NOW - timedelta(hours=1), release="6.6.6", deployment="erased-env", message=None)
    _store(dash, ERASED, late, release="6.6.6", deployment="erased-env", message="erased private words")
    before = _listed(dash)
    assert (6, 8, 6, 2) == (before.installs, before.events, before.today, before.yesterday)

    _erase(dash)

    after = _listed(dash)
    assert (5, 5, 4, 1) == (after.installs, after.events, after.today, after.yesterday)
    assert (yesterday, early) == (after.first_seen, after.last_seen)
    assert (("2.0.0",), None) == (after.releases, after.message)  # the template was the erased one's
    facets = _facets(dash, after.id)
    assert ("release", "6.6.6") not in facets  # environments are not in clear: see storage.erasure_groups
    assert (1, 4) == after.daily[-2:]  # the sparkline: yesterday and today
    assert {("release", "2.0.0"), ("environment", "prod"), ("os", "linux")} <= facets

    client = TestClient(dash.app, base_url=ORIGIN)
    _login(client, "dev")
    cells = _page_row(client)
    assert ["5", "5"] == cells[2:4]
    assert "6.6.6" not in " ".join(cells) and "erased private words" not in " ".join(cells)


def test_a_group_only_the_erased_install_saw_keeps_no_installs_events_or_facets(dash: Any) -> None:
    """A group seen by the erased installation alone: after erasure it counts no installation
    and no event, and none of its facets (environment included) is left."""
    for back in (30, 2):
        _store(dash, ERASED, NOW - timedelta(hours=back), release="6.6.6", deployment="erased-env", message=None)
    _erase(dash)
    after = _listed(dash)
    assert (0, 0, 0, 0, ()) == (after.installs, after.events, after.today, after.yesterday, after.releases)
    assert not any(after.daily)
    assert set() == _facets(dash, after.id)
