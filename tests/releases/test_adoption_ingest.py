"""The adoption endpoint: strict validation (4xx naming the key, never echoing it), one count per
installation, release and day, the day window, and pruning of the de-duplication set."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():  # starlette >= 1.0 prefers httpx2 and warns when it finds httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from crashveil.policy import default_policy, policy_digest
from crashveil.server.db.adoption_tables import adoption_seen, release_adoption
from crashveil.server.http.app import create_app
from crashveil.wire.canonical import canonical_json
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, adoption_path

from .conftest import NOW

HEADERS = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}
TODAY = NOW.date().isoformat()


def ping(**changes: Any) -> dict[str, Any]:
    body = {"policy_digest": policy_digest(default_policy()), "consent_level": "crash", "release": "2.0.0",
            "day": TODAY, "install_id": "ab" * 16}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


@pytest.fixture
def post(settings: Any, storage: Any, seal: Callable[[bytes], bytes]) -> Callable[..., Any]:
    clock = [NOW]
    client = TestClient(create_app(settings, storage, now=lambda: clock[0], group_commit=False))

    def send(body: dict[str, Any] | bytes, *, at: Any = None) -> Any:
        clock[0] = at or NOW
        raw = body if isinstance(body, bytes) else canonical_json(body)
        return client.post(adoption_path("demo"), content=seal(raw), headers=HEADERS)

    return send


def counts(storage: Any) -> dict[tuple[str, str], int]:
    with storage.engine.connect() as conn:
        rows = conn.execute(sa.select(release_adoption.c.release, release_adoption.c.day, release_adoption.c.installs))
        return {(r.release, r.day): r.installs for r in rows}


def test_one_count_per_installation_release_and_day(post, storage) -> None:
    """The same ping twice counts once (same answer both times); another installation or release counts."""
    answers = [post(ping()), post(ping()), post(ping(install_id="cd" * 16)), post(ping(release="2.1.0"))]
    assert ([202] * 4, [{"status": "accepted"}] * 4, {("2.0.0", TODAY): 2, ("2.1.0", TODAY): 1}) == (
        [a.status_code for a in answers], [a.json() for a in answers], counts(storage))


BAD = [
    (b"not json", 400, None),
    (canonical_json([1, 2]), 400, None),
    (canonical_json({**ping(), "email": "alice@example.com"}), 400, None),
    (ping(release=None), 400, "release"),
    (ping(release=""), 400, "release"),
    (ping(release="x" * 129), 400, "release"),
    (ping(release="2.0\u202e.1"), 400, "release"),
    (ping(release=7), 400, "release"),
    (ping(day="07/12/2026"), 400, "day"),
    (ping(day="2026-02-30"), 400, "day"),
    (ping(install_id="alice@example.com"), 400, "install_id"),
    (ping(policy_digest="sha256:nope"), 400, "policy_digest"),
    (ping(policy_digest="sha256:" + "0" * 64), 422, "policy_digest"),
    (ping(consent_level="off"), 422, "consent_level"),
    (ping(consent_level="everything"), 422, "consent_level"),
    (ping(day=(NOW - timedelta(days=2)).date().isoformat()), 422, "day"),
    (ping(day=(NOW + timedelta(days=1)).date().isoformat()), 422, "day"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD)
def test_bad_pings_are_4xx_naming_the_key(post, storage, body, status, field) -> None:
    """Every malformed or disallowed ping gets a 4xx naming what is wrong, nothing is counted, and the
    answer never repeats what was sent."""
    answer = post(body)
    text = answer.text
    assert (status, field, False, False, {}) == (
        answer.status_code, answer.json()["field"], "alice" in text, "\u202e" in text, counts(storage))


def test_yesterday_counts_and_closed_days_leave_the_set(post, storage) -> None:
    """A late ping of yesterday counts; once a day is closed its de-duplication rows are deleted,
    its count stays."""
    yesterday = (NOW - timedelta(days=1)).date().isoformat()
    first = post(ping(day=yesterday))
    later = NOW + timedelta(days=2)
    second = post(ping(day=later.date().isoformat()), at=later)
    with storage.engine.connect() as conn:
        seen_days = sorted(conn.execute(sa.select(adoption_seen.c.day)).scalars())
    assert (202, 202, [later.date().isoformat()], {("2.0.0", yesterday): 1, ("2.0.0", later.date().isoformat()): 1}) \
        == (first.status_code, second.status_code, seen_days, counts(storage))


def test_a_policy_without_adoption_refuses_pings(settings, storage, seal) -> None:
    """A project whose policy has no [adoption] counts nothing: 422 adoption_not_declared."""
    from pathlib import Path

    text = Path(default_policy().source).read_text(encoding="utf-8")
    stripped = text[:text.index("[adoption]")] + text[text.index("[redaction]"):]
    stripped = stripped.replace('version = "1.2.0"', 'version = "1.2.1"')
    digest = storage.set_policy("demo", stripped, now=NOW)
    policy = storage.project("demo").policies[digest]
    client = TestClient(create_app(settings, storage, now=lambda: NOW, group_commit=False))
    answer = client.post(adoption_path("demo"), content=seal(canonical_json(ping(policy_digest=policy_digest(policy)))),
                         headers=HEADERS)
    assert (422, "adoption_not_declared", {}) == (answer.status_code, answer.json()["error"], counts(storage))


def test_the_day_set_holds_no_pseudonym_and_the_release_is_redacted(post, storage) -> None:
    """Canary: a planted e-mail in the release and the pseudonym itself never reach storage in clear."""
    install = "5e" * 16
    answer = post(ping(release="2.0 alice.canary@example.com", install_id=install))
    dump = _dump(storage.engine)
    assert (202, False, False, True) == (answer.status_code, "alice.canary" in dump, install in dump,
                                         any(r.startswith("2.0 <") for r, _ in counts(storage)))


def _dump(engine: Any) -> str:
    """Every row of every table as text (bytes as hex), to look for planted values."""
    parts = []
    with engine.connect() as conn:
        metadata = sa.MetaData()
        metadata.reflect(conn)
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.append(json.dumps([v.hex() if isinstance(v, bytes) else str(v) for v in row]))
    return "\n".join(parts)


def test_retention_prunes_adoption_once_pings_stop(post, storage) -> None:
    """No ping arrives after a day: the retention run deletes the closed day's de-duplication
    rows and, past the policy's adoption retention, the counts too (not only the next ping)."""
    from crashveil.server.governance.audit import AuditTrail
    from crashveil.server.governance.retention import run_retention

    assert 202 == post(ping()).status_code
    keep = default_policy().adoption
    assert keep is not None
    trail = AuditTrail.for_server_dir(storage.engine, storage.settings.server_dir)

    def seen_rows() -> int:
        with storage.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(adoption_seen)).scalar_one())

    run_retention(storage, trail, now=NOW + timedelta(days=3))
    after_closing = (seen_rows(), counts(storage))
    run_retention(storage, trail, now=NOW + timedelta(days=keep.retention_days + 1))
    assert ((0, {("2.0.0", TODAY): 1}), (0, {})) == (after_closing, (seen_rows(), counts(storage)))


def test_erasure_forgets_the_installation_in_the_open_days_set(post, storage) -> None:
    """An erased installation leaves the de-duplication set of the open days (the counts stay:
    they hold no installation); another installation's entry stays."""
    assert [202, 202] == [post(ping()).status_code, post(ping(install_id="cd" * 16)).status_code]
    with storage.engine.begin() as conn:
        from crashveil.server.storage.deletion import delete_installs

        delete_installs(conn, "demo", "req-1", ["ab" * 16], now=NOW)
    with storage.engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(adoption_seen)).scalar_one()
    assert (1, {("2.0.0", TODAY): 2}) == (left, counts(storage))
