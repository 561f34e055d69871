"""The server redacts every string of a native report itself (issue 14, item 15).

The server must not trust the client: each canary (an email, a home path with a user name, an
AWS access key id, a phone number) is planted in each string field of a report sealed to the
project's key without the SDK's redaction, sent to a real server (``crashveil server init``,
uvicorn, mutual TLS), and looked for in the SQLite database file with its WAL and shared
memory, the server's log, and the dashboard pages (group list, group pages, every report
opened with a reason). A field that is a strict identifier (a pattern of the wire format) must
refuse the canary instead. A new string field without a plan here fails the first test.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _loading import load

_TESTS = Path(__file__).parents[1]




servers = load("crashveil_tests_servers", _TESTS / "_servers.py")
fields = load("crashveil_tests_report_fields", _TESTS / "_report_fields.py")

#: canary -> what must never be found (the part that identifies).
CANARIES = {
    "canary.person@example.org": "canary.person@example.org",
    "ab@canary.io": "ab@canary.io",  # fits the 16 characters of python_version
    "/home/canaryuser/app/x.py": "canaryuser",
    "AKIAQCANARY7EXAMPL2Z": "CANARY7EXAMPL2Z",
    "+1 415 555 0132": "415 555 0132",
}
NEEDLES = tuple(CANARIES.values())

#: How the server treats each string field: ``redacted`` (the server redactor runs over it) or
#: ``strict`` (a pattern of the wire format that no canary can match: the report is refused).
PLAN = {
    "policy_digest": "strict", "consent_level": "strict", "report_id": "strict", "fingerprint": "strict",
    "error_code": "strict", "chain[0].error_code": "strict", "occurred_hour": "strict", "install_id": "strict",
    "client_stats{key}": "strict", "http_method": "strict",
    "crash_type": "redacted", "chain[0].crash_type": "redacted", "release": "redacted",
    "stack.frames[0].file": "redacted", "stack.frames[0].function": "redacted",
    "chain[0].stack.frames[0].file": "redacted", "chain[0].stack.frames[0].function": "redacted",
    "chain[0].message": "redacted", "message": "redacted", "comment": "redacted",
    "breadcrumbs[0].category": "redacted", "breadcrumbs[0].message": "redacted",
    "environment.os_family": "redacted", "environment.os_version": "redacted",
    "environment.python_impl": "redacted", "environment.python_version": "redacted",
    "environment.arch": "redacted", "route": "redacted", "handler": "redacted",
    "task_name": "redacted",
    "platform": "strict", "tags[0].key": "strict",
    "dist": "redacted", "deployment": "redacted", "logger": "redacted", "transaction": "redacted",
    "tags[0].value": "redacted", "grouping[0]": "redacted", "message_template": "redacted",
    "source_context[0].line": "redacted",
}
PASSWORD = "canary-dashboard-password-1"


def test_every_string_field_has_a_canary_plan() -> None:
    """Adding a ``str`` field to the report dataclasses needs a line in ``PLAN`` (and so a canary)."""
    assert sorted(fields.string_paths()) == sorted(PLAN)


def _max_length(path: str) -> int:
    """The wire format's length limit of the string at ``path``."""
    import dataclasses
    import typing

    from crashveil.wire.report import LIMITS, Report

    cls: Any = Report
    limit = LIMITS["max_message_chars"]
    for part in path.replace("[0]", "").replace("{key}", "").split("."):
        fld = {f.name: f for f in dataclasses.fields(cls)}[part]
        limit = fld.metadata.get("spec", {}).get("max_length", LIMITS["max_message_chars"])
        hint = typing.get_type_hints(cls)[part]
        for arg in typing.get_args(hint) or (hint,):
            inner = typing.get_args(arg)[0] if typing.get_origin(arg) is tuple else arg
            if dataclasses.is_dataclass(inner):
                cls = inner
    return int(limit)


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real server that received every canary in every field; what it answered."""
    root = tmp_path_factory.mktemp("canaries")
    server_dir = servers.init_server_dir(root / "server")
    servers._cli("user", "add", "dev", "--project", "demo", "--role", "developer",
                 "--server-dir", str(server_dir.path), env={"CRASHVEIL_NEW_PASSWORD": PASSWORD})
    server = servers.Server(server_dir, root / "server.log").start()
    try:
        sealer = servers.Sealer(server_dir)
        context = ssl.create_default_context(cafile=str(server_dir.ca_pem))
        context.load_cert_chain(str(server_dir.client_cert), str(server_dir.client_key))
        answers: dict[tuple[str, str], Any] = {}
        for path in PLAN:
            for canary in CANARIES:
                report = fields.plant(fields.full_report(sealer.digest), path, canary)
                answers[(path, canary)] = (report["report_id"],
                                           servers.post_sealed(context, server.port, sealer.seal(
                                               json.dumps(report).encode())))
        pages = _dashboard_pages(server, [rid for rid, answer in answers.values() if answer.status == 201])
        yield {"answers": answers, "pages": pages, "server": server, "dir": server_dir}
    finally:
        server.stop()


def _dashboard_pages(server: Any, report_ids: list[str]) -> list[str]:
    """The group list, every group page, and every report opened with a reason, as a developer."""
    context = ssl.create_default_context(cafile=str(server.dir.ca_pem))
    origin = f"https://127.0.0.1:{server.web_port}"
    pages: list[str] = []
    with httpx.Client(transport=httpx.HTTPTransport(verify=context), base_url=origin, timeout=20,
                      headers={"Origin": origin}) as client:
        login = client.get("/dashboard/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        answer = client.post("/dashboard/login", data={"nonce": nonce, "name": "dev", "password": PASSWORD})
        assert answer.status_code in (200, 303), answer.text[-500:]
        listing = client.get("/dashboard/p/demo/")
        assert 200 == listing.status_code
        pages.append(listing.text)
        for group in sorted(set(re.findall(r"/dashboard/p/demo/groups/(\d+)", listing.text))):
            page = client.get(f"/dashboard/p/demo/groups/{group}")
            assert 200 == page.status_code
            pages.append(page.text)
        for report_id in report_ids:
            form = client.get(f"/dashboard/p/demo/reports/{report_id}")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            opened = client.post(f"/dashboard/p/demo/reports/{report_id}",
                                 data={"csrf": csrf, "reason": "canary test: checking server redaction"})
            assert 200 == opened.status_code, opened.text[-500:]
            pages.append(opened.text)
    return pages


def test_each_field_is_redacted_or_refused(sent: dict[str, Any]) -> None:
    """Redacted fields accept the report (when the canary fits the field); strict ones refuse it."""
    wrong = []
    for (path, canary), (_, answer) in sent["answers"].items():
        if PLAN[path] == "strict" or len(canary) > _max_length(path):
            ok = 400 <= answer.status < 500
        else:
            ok = answer.status == 201
        if not ok:
            wrong.append((path, canary, answer.status, answer.error))
    assert [] == wrong


def test_no_canary_in_the_database_files(sent: dict[str, Any]) -> None:
    """Not in the SQLite file, its WAL or its shared memory (read while the server runs)."""
    files = sorted(p for p in sent["dir"].path.rglob("*") if p.is_file() and ".db" in p.name)
    assert any(p.name.endswith("-wal") for p in files), files
    found = {(p.name, n) for p in files for n in NEEDLES if n.encode() in p.read_bytes()}
    assert set() == found


def test_no_canary_in_the_server_log(sent: dict[str, Any]) -> None:
    text = sent["server"].log_text()
    assert "Uvicorn running" in text
    assert [] == [n for n in NEEDLES if n in text]


def test_no_canary_in_the_dashboard(sent: dict[str, Any]) -> None:
    """Every accepted report was opened; none of the pages shows a canary."""
    accepted = sum(1 for _, answer in sent["answers"].values() if answer.status == 201)
    pages = sent["pages"]
    assert accepted > 50 and len(pages) >= accepted + 2
    assert [] == sorted({n for page in pages for n in NEEDLES if n in page})


def test_the_canaries_would_be_seen() -> None:
    """The probe works: each needle is in its canary, and the redactor is what removes it."""
    from crashveil.redact import DETECTORS, Redactor

    redactor = Redactor(DETECTORS)
    assert [] == [c for c, n in CANARIES.items() if n not in c or n in redactor.redact(c)]
