"""The dashboard's log-in, log-out and audit noise (issue 14, items 3, 12, 13, 14): concurrent
wrong passwords over a real uvicorn server, single-use log-in nonces, anonymous floods that
cannot hide report reads, cookie deletions that match their cookies, and typed names that
reach no file, log or page."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from .test_views import ORIGIN, _csrf, _login

SECRET = b"k" * 32


class CountingHasher(PasswordHasher):
    """The real argon2id hasher, counting how many passwords it checked."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # argon2's name
        with self._lock:
            self.verified += 1
        return super().verify(hash, password)


def _app(dash, *, hasher: PasswordHasher | None = None, secure_cookies: bool = False):
    """The dashboard of ``dash`` over the same database, with its own access store."""
    from starlette.applications import Starlette

    from crashveil.server.dashboard import dashboard_routes
    from crashveil.server.governance.access import AccessStore

    access = AccessStore(dash.storage.engine, dash.audit, now=lambda: dash.clock[0], account_key=SECRET,
                         hasher=hasher or PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    return Starlette(routes=dashboard_routes(dash.storage, access=access, audit=dash.audit, secret=SECRET,
                                             secure_cookies=secure_cookies, now=lambda: dash.clock[0]))


def _nonce(text: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', text).group(1)


@pytest.fixture
def served(dash) -> Iterator[tuple[str, CountingHasher]]:
    """A dashboard with a counting hasher, served by uvicorn on a free loopback port."""
    import uvicorn

    hasher = CountingHasher()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(_app(dash, hasher=hasher), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started
    yield f"http://127.0.0.1:{port}", hasher
    srv.should_exit = True
    thread.join(timeout=10)


def test_sixty_concurrent_wrong_passwords_check_at_most_the_limit(served) -> None:
    """60 log-ins with wrong passwords for one account, posted at once to a real server: no
    more passwords are checked than the per-account limit (10), and each answer is 401 or 429."""
    base, hasher = served
    clients = [httpx.Client(base_url=base, timeout=60) for _ in range(60)]
    try:
        nonces = [_nonce(c.get("/dashboard/login").text) for c in clients]
        barrier = threading.Barrier(60)

        def post(i: int) -> int:
            barrier.wait(timeout=30)
            return clients[i].post("/dashboard/login", data={"nonce": nonces[i], "name": "dev",
                                                             "password": f"wrong password {i}"},
                                   headers={"Origin": base}).status_code

        with ThreadPoolExecutor(max_workers=60) as pool:
            statuses = list(pool.map(post, range(60)))
    finally:
        for c in clients:
            c.close()
    assert (True, set()) == (hasher.verified <= 10, set(statuses) - {401, 429})


def test_login_nonce_is_single_use(dash) -> None:
    """A log-in form posts once: the same nonce again is refused before any password check,
    and writes no audit entry."""
    client = TestClient(_app(dash), base_url=ORIGIN)
    page = client.get("/dashboard/login")
    cookie = page.cookies["cv_login"]
    form = {"nonce": _nonce(page.text), "name": "dev", "password": "not the password"}
    first = client.post("/dashboard/login", data=form, headers={"Origin": ORIGIN})
    before = len(dash.audit.entries())
    client.cookies.set("cv_login", cookie)  # the answer set a fresh pair: replay the first one
    again = client.post("/dashboard/login", data=form, headers={"Origin": ORIGIN})
    assert (401, 403, before) == (first.status_code, again.status_code, len(dash.audit.entries()))


def _officer_after_a_report_read(dash):
    """The app, a signed-in privacy officer of all projects and the id of the report a
    developer then read with a reason (the entry anonymous noise must not hide)."""
    app = _app(dash)
    dash.access.add_user("warden", "warden-password-123", actor="cli")
    dash.access.grant("warden", "*", "privacy-officer", actor="cli")
    officer = TestClient(app, base_url=ORIGIN, client=("192.0.2.10", 40000))
    _login(officer, "warden")
    dev = TestClient(app, base_url=ORIGIN, client=("192.0.2.11", 40000))
    _login(dev, "dev")
    rid = dash.report_ids["render"]
    form = dev.get(f"/dashboard/p/demo/reports/{rid}")
    dev.post(f"/dashboard/p/demo/reports/{rid}", data={"csrf": _csrf(form.text), "reason": "ticket 42: render"},
             headers={"Origin": ORIGIN})
    return app, officer, rid


def test_anonymous_flood_cannot_hide_report_reads(dash) -> None:
    """After a report read, 250 failed log-ins from one address under new names: at most a few
    dozen audit entries are written, and the privacy page of an officer of all projects still
    lists the read."""
    app, officer, rid = _officer_after_a_report_read(dash)
    before = len(dash.audit.entries())
    flood = TestClient(app, base_url=ORIGIN, client=("198.51.100.7", 40000))
    statuses = []
    for n in range(250):
        nonce = _nonce(flood.get("/dashboard/login").text)
        statuses.append(flood.post("/dashboard/login", data={"nonce": nonce, "name": f"flood-{n}",
                                                             "password": "wrong password"},
                                   headers={"Origin": ORIGIN}).status_code)
    written = len(dash.audit.entries()) - before
    page = officer.get("/dashboard/privacy")
    assert (True, True, True) == (written <= 40, f"report:{rid}" in page.text, statuses.count(429) >= 200)


def _set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """name -> {"value": ..., attribute (lower case): value or ""} of each Set-Cookie header."""
    found: dict[str, dict[str, str]] = {}
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        entry = {"value": value.strip('"')}
        for attribute in attributes:
            key, _, val = attribute.partition("=")
            entry[key.lower()] = val.lower()
        found[name] = entry
    return found


_MATCHING = ("path", "domain", "secure", "httponly", "samesite")


def test_logout_deletes_each_cookie_with_the_attributes_it_was_set_with(dash) -> None:
    """Every cookie the log-in set is deleted (at log-in, or at log-out) with the same name,
    Path, Domain, Secure, HttpOnly and SameSite, and an expiry in the past."""
    origin = "https://testserver"
    client = TestClient(_app(dash, secure_cookies=True), base_url=origin)
    form = client.get("/dashboard/login")
    login = client.post("/dashboard/login", data={"nonce": _nonce(form.text), "name": "dev",
                                                  "password": "dev-password-123"},
                        headers={"Origin": origin}, follow_redirects=False)
    page = client.get("/dashboard/")
    logout = client.post("/dashboard/logout", data={"csrf": _csrf(page.text)}, headers={"Origin": origin},
                         follow_redirects=False)
    made = {**_set_cookies(form), **{k: v for k, v in _set_cookies(login).items() if v["value"]}}
    deleted = {k: v for k, v in _set_cookies(login).items() if not v["value"]}
    deleted.update(_set_cookies(logout))
    mismatched = {name: ({a: made[name].get(a) for a in _MATCHING}, {a: deleted.get(name, {}).get(a)
                                                                     for a in _MATCHING})
                  for name in made if {a: made[name].get(a) for a in _MATCHING}
                  != {a: deleted.get(name, {}).get(a) for a in _MATCHING}}
    expired = all(v.get("max-age") == "0" for v in deleted.values())
    assert ({"__Host-cv_login", "__Host-crashveil-session"}, {}, True, 303) == (
        set(made), mismatched, expired, logout.status_code)


def test_typed_names_never_reach_the_database_file_logs_or_pages(dash, tmp_path: Path, caplog) -> None:
    """A typed user name, and a password typed into the name field, appear in no file of the
    server directory (database, WAL, audit head), no log record and no page, through failed,
    blocked and refused log-ins."""
    caplog.set_level(logging.DEBUG)
    canaries = ("canary-user-5b1e", "Tr0ub4dor&3-Canary-9f")
    app = _app(dash)
    pages: list[str] = []
    for n, name in enumerate(canaries):
        client = TestClient(app, base_url=ORIGIN, client=(f"192.0.2.{20 + n}", 40000))
        for _ in range(12):  # past the per-account limit of 10: blocked attempts too
            form = client.get("/dashboard/login")
            answer = client.post("/dashboard/login", data={"nonce": _nonce(form.text), "name": name,
                                                           "password": "wrong password"},
                                 headers={"Origin": ORIGIN})
            pages += [form.text, answer.text, str(answer.headers)]
    found = []
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        found += [f"{path.name}: {c}" for c in canaries if c.lower().encode() in data]
    logs = caplog.text.lower()
    found += [f"log: {c}" for c in canaries if c.lower() in logs]
    found += [f"page: {c}" for c in canaries if any(c.lower() in p.lower() for p in pages)]
    assert [] == found


def test_privacy_page_lists_reads_apart_from_anonymous_entries(dash) -> None:
    """Even with 300 anonymous entries after it (floods over many processes and restarts, each
    with a fresh gate), a report read stays on the privacy page, and the anonymous entries are
    summed per action instead of listed one by one."""
    app, officer, rid = _officer_after_a_report_read(dash)
    for _ in range(300):
        dash.audit.record("login.failure", actor="anonymous", subject="user:unknown")
    page = officer.get("/dashboard/privacy")
    rows = re.findall(r"<td>anonymous</td>", page.text)
    summary = re.search(r'<tr class="anonymous-count"><td>login\.failure</td><td class="num">(\d+)</td>', page.text)
    assert (200, True, True, "300") == (page.status_code, f"report:{rid}" in page.text, len(rows) <= 20,
                                        summary.group(1) if summary else None)
