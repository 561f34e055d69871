"""The group page's aggregates (issue 17): title and message by the list's title rules, the
stack signature with in-app frames marked, the newest report's source lines only to roles the
policy lets read ``source_context``, distributions by release, OS, runtime and environment
(k-folded where the policy rates the field above technical), daily counts, first release and
regressed-in. Reports go through the server's own redaction before storage, as at ingest, on
SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.server.db.tables import crash_groups

from .conftest import NOW
from .test_unavailable import database_url, pg_template, pg_url, postgresql_proc  # noqa: F401 - fixtures
from .test_views import ORIGIN, _login

#: Planted in a source line and in the message: an identifier no detector knows (so only the
#: role rules can keep it off a page) and an e-mail address (the server's redaction removes it).
SOURCE_TOKEN = "canarysrc7f3a"
MESSAGE_TOKEN = "canarymsg91bd"
EMAIL = "jane.canary@example.org"
ROLES = (("dev", "developer"), ("viewer", "viewer"), ("officer", "privacy-officer"), ("admin", "admin"))


@dataclass
class Site:
    storage: Any
    app: Any
    clock: list[Any]

    def client(self, name: str) -> TestClient:
        client = TestClient(self.app, base_url=ORIGIN)
        _login(client, name)
        return client

    def group_id(self, crash_type: str) -> int:
        with self.storage.engine.connect() as conn:
            return int(conn.execute(sa.select(crash_groups.c.id).where(
                crash_groups.c.crash_type == crash_type)).scalar_one())


def _report(crash_type: str, *, runtime: tuple[str, str] = ("cpython", "3.12"), deployment: str | None = "production",
            release: str = "2.0.0", source: bool = True, message: str | None = None, when: Any = NOW,
            install: str | None = None) -> Any:
    from crashveil.policy import compute_fingerprint, default_policy, policy_digest
    from crashveil.wire import Environment, Frame, Report, Stack
    from crashveil.wire.report import SourceLine

    frames = (Frame("app/cli.py", "main", 7, True), Frame("site-packages/lib/http.py", "send", 120, False),
              Frame("app/billing/charge.py", "charge", 42, True))
    context = (SourceLine(0, "run(argv)"), SourceLine(1, "sock.send(data)"),
               SourceLine(2, f"total = amount / count  # {SOURCE_TOKEN} {EMAIL}")) if source else None
    return Report(schema_version=1, policy_digest=policy_digest(default_policy()), consent_level="diagnostic",
                  report_id=str(uuid.uuid4()), crash_type=crash_type,
                  fingerprint=compute_fingerprint(crash_type, frames), stack=Stack(frames), release=release,
                  install_id=install or uuid.uuid4().hex, occurred_hour=when.strftime("%Y-%m-%dT%H:00Z"),
                  message=message, deployment=deployment, source_context=context,
                  environment=Environment("linux", "6", runtime[0], runtime[1], "x86_64"))


def _ingest(site: Site, report: Any, *, when: Any = NOW) -> None:
    """Store ``report`` after the server's redaction, as the ingest pipeline does."""
    from crashveil.policy import default_policy
    from crashveil.server.ingest.redaction import memoised_redactor, redact_report

    clean, hits = redact_report(report, memoised_redactor(default_policy()))
    site.storage.store_report("demo", clean, origin="crashveil-sdk", received_at=when, redaction_hits=hits,
                              dropped_fields=())


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:  # noqa: F811
    from argon2 import PasswordHasher
    from starlette.applications import Starlette

    from crashveil.server.dashboard import dashboard_routes
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

    clock = [NOW]
    settings = Settings(server_dir=tmp_path, database_url=database_url, sealing_suite="x25519", project_cache_s=0.0,
                        quasi_identifier_check=False)  # seeds single installations
    FileKeyProvider.create(settings.kek_path, now=NOW - timedelta(days=60))
    storage = Storage.open(settings, clock=lambda: clock[0])
    storage.create_project("demo", now=NOW - timedelta(days=60))
    audit = AuditTrail.for_server_dir(storage.engine, tmp_path, now=lambda: clock[0])
    access = AccessStore(storage.engine, audit, now=lambda: clock[0],
                         hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, role in ROLES:
        access.add_user(name, f"{name}-password-123", actor="cli")
        access.grant(name, "demo", role, actor="cli")
    routes = dashboard_routes(storage, access=access, audit=audit, secret=b"g" * 32, secure_cookies=False,
                              now=lambda: clock[0])
    yield Site(storage, Starlette(routes=routes), clock)
    storage.close()


def _signature(page: str) -> list[tuple[str, str]]:
    """(module.function, in app | library) of each frame the page's signature lists."""
    block = re.search(r'<ol class="signature">(.*?)</ol>', page, re.S)
    if block is None:
        return []
    return re.findall(r'<code>([^<]+)</code> <span class="flag">(in app|library)</span>', block.group(1))


def _dist(page: str, name: str) -> list[tuple[str, str]]:
    figure = re.search(rf'<figure class="chart-box" id="dist-{name}".*?</figure>', page, re.S).group(0)
    return re.findall(r'<tr><td(?: class="muted")?>([^<]+)</td><td class="num">(\d+)</td></tr>', figure)


def test_a_developer_sees_title_signature_and_redacted_source_lines(site: Site) -> None:
    """The developer (stack, messages, source context): type, message template and culprit;
    the fingerprint's frames outermost first, the library frame marked; the in-app source
    lines beside their frames, the e-mail redacted by the server; the library line never."""
    _ingest(site, _report("ChargeError", message=f"card of {EMAIL} declined: 'x{MESSAGE_TOKEN}' 42"))
    page = site.client("dev").get(f"/dashboard/p/demo/groups/{site.group_id('ChargeError')}").text
    h1 = re.search(r'<h1 id="group-title">(.*?)</h1>', page, re.S).group(1)
    message = re.search(r'<p class="group-message" id="group-message">(.*?)</p>', page, re.S).group(1)
    sources = re.findall(r'<pre class="source"[^>]*><span class="lineno">(\d+)</span> ([^<]*)</pre>', page)
    assert (["ChargeError", "in", "app.billing.charge.charge"],
            [("app.cli.main", "in app"), ("app.billing.charge.charge", "in app")],
            [("7", "run(argv)"), ("42", f"total = amount / count  # {SOURCE_TOKEN} &lt;email&gt;")],
            False, False, False) == (
        [h1, "in", re.search(r'id="group-culprit">([^<]+)<', page).group(1)],
        _signature(page), sources, EMAIL in page, MESSAGE_TOKEN in page, "sock.send" in page)
    assert "card of &lt;email&gt; declined: &lt;str&gt; &lt;n&gt;" == message
    with site.storage.engine.connect() as conn:  # the search text holds code names and the template only
        indexed = conn.execute(sa.select(crash_groups.c.search_code, crash_groups.c.title_message)).all()
    assert [] == [t for t in (SOURCE_TOKEN, MESSAGE_TOKEN, EMAIL) if t in repr(indexed)]


@pytest.mark.parametrize(("name", "stack", "message"), [("viewer", False, False), ("officer", False, False),
                                                         ("admin", True, False)])
def test_roles_without_source_context_see_no_planted_line(site: Site, name: str, stack: bool, message: bool) -> None:
    """Canary: a role the policy does not let read ``source_context`` (viewer, privacy officer,
    admin) finds the planted line nowhere: not on the group page, its title, the group list or
    a search; a role without ``stack`` sees no culprit or signature; none sees the message."""
    _ingest(site, _report("LeakError", message=f"{MESSAGE_TOKEN} failed"))
    gid = site.group_id("LeakError")
    client = site.client(name)
    page = client.get(f"/dashboard/p/demo/groups/{gid}").text
    listed = client.get("/dashboard/p/demo/").text
    found = client.get(f"/dashboard/p/demo/?q={SOURCE_TOKEN}").text  # the form echoes the query: read the rows
    searched = re.search(r'<table class="grid" id="groups".*?</table>', found, re.S).group(0)
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert ([], [], bool(_signature(page)), "app.billing.charge.charge" in page, message) == (
        [t for t in (SOURCE_TOKEN, EMAIL, "amount / count") if t in page + listed + searched + title],
        [t for t in (MESSAGE_TOKEN,) if t in page + listed + title], stack, stack, MESSAGE_TOKEN in page)


def test_source_lines_leave_with_source_contexts_retention(site: Site) -> None:
    """Source lines older than ``source_context``'s retention (30 days) are not shown, and
    retention clears them from the group row; the signature (code names) stays."""
    from crashveil.policy import default_policy
    from crashveil.server.db.engine import write_tx
    from crashveil.server.storage.triage import expire_source_lines

    _ingest(site, _report("OldError"))
    gid = site.group_id("OldError")
    site.clock[0] = NOW + timedelta(days=31)
    page = site.client("dev").get(f"/dashboard/p/demo/groups/{gid}").text
    with write_tx(site.storage.engine) as conn:
        expired = expire_source_lines(conn, "demo", default_policy(), site.clock[0])
    with site.storage.engine.connect() as conn:
        row = conn.execute(sa.select(crash_groups.c.source_lines, crash_groups.c.signature)
                           .where(crash_groups.c.id == gid)).one()
    assert (False, 2, 1, None, True) == (SOURCE_TOKEN in page, len(_signature(page)), expired, row.source_lines,
                                         row.signature is not None)


def test_distributions_daily_counts_and_releases(site: Site) -> None:
    """Release, OS, runtime and environment counts over 30 days; a runtime below k (= 5; the
    environment field is a quasi-identifier) is folded into "other", a deployment (technical)
    is not; 30 days of daily counts; the first stored report's release and the release it
    regressed in."""
    for _ in range(6):
        _ingest(site, _report("DistError", source=False))
    for _ in range(2):
        _ingest(site, _report("DistError", source=False, runtime=("pypy", "3.10"), deployment="staging",
                              release="2.1.0", when=NOW - timedelta(days=2)), when=NOW - timedelta(days=2))
    gid = site.group_id("DistError")
    site.storage.set_group_status("demo", gid, "resolved", release="2.1.0", now=NOW)
    _ingest(site, _report("DistError", source=False, release="2.2.0"))
    page = site.client("viewer").get(f"/dashboard/p/demo/groups/{gid}").text
    daily = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td><td class=\"num\">(\d+)</td></tr>", page)
    assert ([("2.0.0", "6"), ("2.1.0", "2"), ("2.2.0", "1")], [("linux", "9")],
            [("cpython 3.12", "7"), ("other values (each fewer than 5 reports, or beyond the first eight)", "2")],
            [("production", "7"), ("staging", "2")], 30, ("2026-05-20", "7"), ("2026-05-18", "2"), 9,
            "2.0.0", "2.2.0") == (
        _dist(page, "release"), _dist(page, "os"), _dist(page, "runtime"), _dist(page, "environment"), len(daily),
        daily[0], daily[2], sum(int(n) for _, n in daily),
        re.search(r'id="first-release">([^<]+)<', page).group(1),
        re.search(r'id="regressed-in">([^< ]+)', page).group(1))


def test_the_officer_sees_no_environment_distribution(site: Site) -> None:
    """The privacy officer may not read ``environment``: no OS or runtime values, on the page or
    as the OS plot (404), while release and deployment charts show."""
    _ingest(site, _report("EnvError", source=False, runtime=("cpython", "3.9")))
    gid = site.group_id("EnvError")
    client = site.client("officer")
    page = client.get(f"/dashboard/p/demo/groups/{gid}").text
    plot = client.get(f"/dashboard/p/demo/groups/{gid}/plots/os.svg")
    assert (False, False, 404, [("2.0.0", "1")], 2) == (
        "linux" in page, "cpython" in page, plot.status_code, _dist(page, "release"),
        page.count("does not see the"))


def _erase(site: Site, install: str) -> None:
    """Post ``install``'s sealed deletion request to the real ingest app."""
    from crashveil.sdk.delivery.seal import seal_report
    from crashveil.server.http.app import create_app
    from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE

    app = create_app(site.storage.settings, site.storage, now=lambda: NOW, group_commit=False)
    project = site.storage.project("demo")
    sealed = seal_report(f'{{"request_id": "{uuid.uuid4()}", "install_ids": ["{install}"]}}'.encode(),
                         project.keypairs[0].public_key(), project_id="demo", schema_version=1)
    answer = TestClient(app).post("/api/v1/projects/demo/deletion-requests", content=sealed,
                                  headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})
    app.state.ingestor.close()
    assert 202 == answer.status_code


def test_erasure_forgets_the_source_lines_it_sent_and_a_lone_groups_day_counts(site: Site) -> None:
    """The erased installation sent the newest report, whose source lines the group kept: they
    go (the earlier reports' lines could only come back by decrypting them); the signature, code
    names only, stays. A group only it saw loses its runtime and environment day counts."""
    from crashveil.server.db.triage_tables import group_day_facets

    erased = "e" * 32
    _ingest(site, _report("SharedError", install="a" * 32), when=NOW - timedelta(hours=2))
    _ingest(site, _report("SharedError", install=erased), when=NOW - timedelta(hours=1))
    _ingest(site, _report("LoneError", source=False, install=erased), when=NOW - timedelta(hours=1))
    shared, lone = site.group_id("SharedError"), site.group_id("LoneError")
    before = site.client("dev").get(f"/dashboard/p/demo/groups/{shared}").text
    _erase(site, erased)
    after = site.client("dev").get(f"/dashboard/p/demo/groups/{shared}").text
    with site.storage.engine.connect() as conn:
        counts = {gid: conn.execute(sa.select(sa.func.count()).select_from(group_day_facets).where(
            group_day_facets.c.group_id == gid)).scalar_one() for gid in (shared, lone)}
    assert (True, False, 2, {shared: 2, lone: 0}) == (SOURCE_TOKEN in before, SOURCE_TOKEN in after,
                                                     len(_signature(after)), counts)
