"""The privacy officer's erasure by installation code on the dashboard (issue 21): a CSRF-checked
post with a reason erases the installation's reports of every period and shows the signed
confirmation, offered as a download that verifies; other roles of the project get a 403, people
without a role in it the usual 404; a mistyped code is named, never echoed."""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _migrated import migrated_sqlite

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.server.db.tables import reports
from crashveil.server.governance.erasure_by_code.confirmation import verify_document
from crashveil.wire.install_code import erasure_key, format_code, pseudonym_v2

from .conftest import NOW, Dash, _report
from .test_views import ORIGIN, _csrf, _login

PAGE = "/dashboard/p/demo/erasure"


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[Dash]:
    """The dashboard of ``conftest.dash`` without its seeded reports (they cost seconds): projects
    demo and other; dev, viewer, officer and boss (admin) in demo, outsider in other."""
    from argon2 import PasswordHasher
    from starlette.applications import Starlette

    from crashveil.server.dashboard import dashboard_routes
    from crashveil.server.governance.access import AccessStore
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.keys.kek import FileKeyProvider
    from crashveil.server.settings import Settings
    from crashveil.server.storage.store import Storage

    url = migrated_sqlite(tmp_path / "crashveil.db")
    clock = [NOW]
    settings = Settings(server_dir=tmp_path, database_url=url, sealing_suite="x25519", project_cache_s=0.0)
    FileKeyProvider.create(settings.kek_path, now=NOW - timedelta(days=40))
    storage = Storage.open(settings, clock=lambda: clock[0])
    for project in ("demo", "other"):
        storage.create_project(project, now=NOW - timedelta(days=40))
    audit = AuditTrail.for_server_dir(storage.engine, tmp_path, now=lambda: clock[0])
    access = AccessStore(storage.engine, audit, now=lambda: clock[0],
                         hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, project, role in (("dev", "demo", "developer"), ("viewer", "demo", "viewer"),
                                ("officer", "demo", "privacy-officer"), ("boss", "demo", "admin"),
                                ("outsider", "other", "developer")):
        access.add_user(name, f"{name}-password-123", actor="cli")
        access.grant(name, project, role, actor="cli")
    routes = dashboard_routes(storage, access=access, audit=audit, secret=b"k" * 32, secure_cookies=False,
                              now=lambda: clock[0])
    yield Dash(Starlette(routes=routes), storage, access, audit, clock, {}, {})
    storage.close()
REASON = "ticket SUP-77, person uninstalled"


def _plant(dash: Any) -> tuple[str, list[str]]:
    """Reports of one installation in this period and the one before; its code and pseudonyms."""
    key = erasure_key(b"\x05" * 32)
    names = []
    for back in (0, 31):
        moment = NOW - timedelta(days=back)
        name = pseudonym_v2(key, "demo", int(moment.timestamp() // (30 * 86_400)))
        names.append(name)
        dash.storage.store_report("demo", _report("KeyError", "load", release="1.0.0", os_family="linux", install=name,
                                                  message=None, hour=moment),
                                  origin="crashveil-sdk", received_at=moment, redaction_hits={}, dropped_fields=())
    return format_code(key), names


def _count(dash: Any, names: list[str]) -> int:
    with dash.storage.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(reports).where(
            reports.c.install_id.in_(names))).scalar_one())


def test_officer_erases_by_code_and_downloads_a_confirmation_that_verifies(dash: Any) -> None:
    """Both periods' reports go; the page shows the confirmation (no count); its download verifies
    against the project's signing key; the audit entry has the reason and counts, not the code."""
    code, names = _plant(dash)
    client = TestClient(dash.app, base_url=ORIGIN)
    _login(client, "officer")
    form = client.get(PAGE)
    before = _count(dash, names)
    done = client.post(PAGE, data={"csrf": _csrf(form.text), "code": code.lower(), "reason": REASON},
                       headers={"Origin": ORIGIN})
    document = html.unescape(done.text.split('id="erasure-confirmation">')[1].split("</pre>")[0])
    download = client.post(f"{PAGE}/confirmation", data={"csrf": _csrf(done.text), "document": document},
                           headers={"Origin": ORIGIN})
    stated = verify_document(download.json(), [dash.storage.project("demo").signing_key.public_key_string()])
    entry = dash.audit.entries(actions=["erasure.by_code"])[-1]
    assert (200, 2, 0, 200) == (form.status_code, before, _count(dash, names), done.status_code)
    assert ("attachment", "demo") == (download.headers["content-disposition"].split(";")[0], stated.project_id)
    assert "deleted" not in done.text.split('id="erasure-confirmation">')[1]
    assert ((2, REASON), code not in entry.detail) == ((entry.details["reports_deleted"], entry.details["reason"]),
                                                      True)


def test_other_roles_get_403_strangers_404_and_a_mistyped_code_is_named(dash: Any) -> None:
    """A developer and a viewer of the project: 403 on the form and the post (nothing erased); a
    developer of another project: 404; an officer without the CSRF token: 403; an officer with a
    mistyped code: 400 naming the check character, the code not echoed; an admin may erase."""
    code, names = _plant(dash)
    statuses = []
    for name in ("dev", "viewer", "outsider"):
        client = TestClient(dash.app, base_url=ORIGIN)
        _login(client, name)
        token = _csrf(client.get("/dashboard/").text)
        statuses.append((client.get(PAGE).status_code, client.post(
            PAGE, data={"csrf": token, "code": code, "reason": REASON}, headers={"Origin": ORIGIN}).status_code))
    officer = TestClient(dash.app, base_url=ORIGIN)
    _login(officer, "officer")
    token = _csrf(officer.get(PAGE).text)
    no_csrf = officer.post(PAGE, data={"code": code, "reason": REASON}, headers={"Origin": ORIGIN}).status_code
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    mistyped = officer.post(PAGE, data={"csrf": token, "code": typo, "reason": REASON}, headers={"Origin": ORIGIN})
    no_reason = officer.post(PAGE, data={"csrf": token, "code": code, "reason": "x"}, headers={"Origin": ORIGIN})
    still = _count(dash, names)
    admin = TestClient(dash.app, base_url=ORIGIN)
    _login(admin, "boss")
    by_admin = admin.post(PAGE, data={"csrf": _csrf(admin.get(PAGE).text), "code": code, "reason": REASON},
                          headers={"Origin": ORIGIN})
    assert ([(403, 403), (403, 403), (404, 404)], 403) == (statuses, no_csrf)
    assert (400, True, False) == (mistyped.status_code, "check character" in mistyped.text, typo in mistyped.text)
    assert (400, 2, 200, 0) == (no_reason.status_code, still, by_admin.status_code, _count(dash, names))
