"""Adoption pings: "this installation ran this release today", counted as distinct installs per day.

``POST /api/v1/projects/{project}/adoption`` (``wire/protocol.py``) carries a sealed JSON
object with exactly ``ADOPTION_FIELDS``. The order is the order of cost, cheapest refusal
first: project rate limit and body limits (``http/app.py``) -> open (HPKE) -> strict parse
(400 naming the key) -> policy by digest, its ``[adoption]`` and the consent level (422) ->
the day window (today or yesterday, UTC: a ping may come late from an app that was
offline; 422) -> the pseudonym's rate limit (429) -> the release redacted again, as a report's
-> counted.

Counting (``db/adoption_tables.py`` says why this shape): one transaction inserts the
(project, day, release, digest) row into the day's de-duplication set, and only when that row
is new adds one to ``release_adoption``. The same transaction deletes the set's rows of closed
days and the counts past the policy's ``adoption.retention_days``, so no per-installation row
outlives the two open days even if retention never runs. The answer is the same whether the
ping was counted or already seen: it tells a sender nothing about a pseudonym.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crashveil.errors import ReportRejected, Throttled
from crashveil.server.db import engine as db
from crashveil.server.db.adoption_tables import OPEN_DAYS, adoption_seen, prune_adoption, release_adoption, seen_digest
from crashveil.server.http.ratelimit import retry_after_header
from crashveil.server.ingest.rejections import reject
from crashveil.textsafe import find_unsafe
from crashveil.wire.protocol import ADOPTION_FIELDS

if TYPE_CHECKING:
    from crashveil.policy import Policy
    from crashveil.server.ingest.pipeline import Ingestor

__all__ = ["AdoptionPing", "MAX_PING_BYTES", "MAX_RELEASES_PER_DAY", "count_adoption", "parse_ping", "check_ping",
           "record_ping"]

#: An opened ping is ~200 bytes; anything much larger is not one.
MAX_PING_BYTES = 1024
#: Distinct releases one project may count per day: bounds what a sender holding the DSN can add.
MAX_RELEASES_PER_DAY = 200
_PATTERNS = {
    "policy_digest": (re.compile(r"^sha256:[0-9a-f]{64}$"), "expected sha256: and 64 lower-case hex digits"),
    "consent_level": (re.compile(r"^[a-z][a-z0-9_-]{0,39}$"), "expected a consent level name"),
    "day": (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "expected a UTC day YYYY-MM-DD"),
    "install_id": (re.compile(r"^[0-9a-f]{32}$"), "expected 32 lower-case hex digits"),
}


@dataclass(frozen=True)
class AdoptionPing:
    """An opened, well-formed ping (not yet checked against the policy)."""

    policy_digest: str
    consent_level: str
    release: str
    day: str
    install_id: str


def _bad(field: str | None, message: str) -> ReportRejected:
    return reject("bad_adoption_ping", message, status=400, field=field)


def parse_ping(payload: bytes) -> AdoptionPing:
    """The ping in ``payload`` (opened bytes); 400 naming the first wrong key, never echoing a value."""
    if len(payload) > MAX_PING_BYTES:
        raise _bad(None, f"the adoption ping is larger than {MAX_PING_BYTES} bytes")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad(None, "the adoption ping is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise _bad(None, "expected an object")
    for key in data:
        if key not in ADOPTION_FIELDS:
            raise _bad(None, f"unknown key in the adoption ping (expected {', '.join(ADOPTION_FIELDS)})")
    values: dict[str, str] = {}
    for key in ADOPTION_FIELDS:
        value = data.get(key)
        if value is None:
            raise _bad(key, "required key is missing")
        if not isinstance(value, str):
            raise _bad(key, "expected a string")
        values[key] = value
    for key, (pattern, expected) in _PATTERNS.items():
        if not pattern.match(values[key]):
            raise _bad(key, expected)
    _check_day(values["day"])
    release = values["release"]
    if not 1 <= len(release) <= 128:
        raise _bad("release", "expected 1 to 128 characters")
    if find_unsafe(release) >= 0:
        raise _bad("release", "contains a control or invisible formatting character")
    try:
        release.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad("release", "contains a lone surrogate") from None
    return AdoptionPing(**values)


def _check_day(day: str) -> None:
    try:
        date.fromisoformat(day)
    except ValueError:
        raise _bad("day", "not a calendar day") from None


def check_ping(ping: AdoptionPing, policy: Policy | None, *, today: date) -> None:
    """422 unless ``policy`` (the project's, by the ping's digest) allows the ping at its level, today."""
    if policy is None:
        raise reject("unknown_policy_digest", "the ping was sent under a policy this project does not have",
                     field="policy_digest")
    if policy.adoption is None:
        raise reject("adoption_not_declared", "the policy does not declare an adoption ping", field=None)
    try:
        rank = policy.rank(ping.consent_level)
    except KeyError:
        raise reject("unknown_consent_level", "the policy has no such consent level", field="consent_level") from None
    if rank == 0 or rank < policy.rank(policy.adoption.level):
        raise reject("consent_below_adoption_level", "the consent level is below the policy's adoption level",
                     field="consent_level")
    day = date.fromisoformat(ping.day)
    if not today - timedelta(days=OPEN_DAYS - 1) <= day <= today:
        raise reject("outside_adoption_window", "the day is not today or yesterday (UTC)", field="day")


def record_ping(conn: sa.Connection, project_id: str, release: str, day: str, digest: bytes, *,
                today: date, retention_days: int) -> bool:
    """Count one installation for (release, day) unless already counted; True when it was new.

    In ``conn``'s (write) transaction. Also deletes the project's closed days from the set and
    counts older than ``retention_days``. 422 when the day already has ``MAX_RELEASES_PER_DAY``
    other releases.
    """
    prune_adoption(conn, project_id, today=today, retention_days=retention_days)
    cols = release_adoption.c
    known = conn.execute(sa.select(cols.release).where(cols.project_id == project_id, cols.day == day,
                                                       cols.release == release)).first()
    if known is None:
        releases = conn.execute(sa.select(sa.func.count()).select_from(release_adoption)
                                .where(cols.project_id == project_id, cols.day == day)).scalar_one()
        if releases >= MAX_RELEASES_PER_DAY:
            raise reject("too_many_releases", f"more than {MAX_RELEASES_PER_DAY} releases counted this day",
                         field="release")
    insert = db.dialect_insert(conn, adoption_seen).values(project_id=project_id, day=day, release=release,
                                                           digest=digest).on_conflict_do_nothing()
    # RETURNING, not rowcount: both engines return no row for an ignored conflict.
    if conn.execute(insert.returning(adoption_seen.c.day)).first() is None:
        return False
    upsert = db.dialect_insert(conn, release_adoption).values(project_id=project_id, release=release, day=day,
                                                              installs=1)
    conn.execute(upsert.on_conflict_do_update(index_elements=["project_id", "release", "day"],
                                              set_={"installs": cols.installs + 1}))
    return True


def count_adoption(ingestor: Ingestor, project_id: str, sealed: bytes, *, now: datetime) -> dict[str, Any]:
    """Open, check and count one sealed ping for the route; the answer's body (always the same)."""
    project = ingestor.project(project_id)
    ping = parse_ping(ingestor.open(project, sealed))
    policy = project.policies.get(ping.policy_digest)
    moment = now
    check_ping(ping, policy, today=moment.date())
    assert policy is not None and policy.adoption is not None, "check_ping refused it otherwise"
    wait = ingestor.pseudonym_limiter.take(f"{project.id}/{ping.install_id}")
    if wait:
        raise Throttled("installation", retry_after_header(wait))
    release, hits = ingestor.redactor(ping.policy_digest, policy)(ping.release, "message")
    for detector, count in hits.items():
        ingestor.metrics.redaction_hits.labels("adoption.release", detector).inc(count)
    with db.write_tx(ingestor.storage.engine) as conn:
        record_ping(conn, project.id, release[:128], ping.day, seen_digest(project.id, ping.day, ping.install_id),
                    today=moment.date(), retention_days=policy.adoption.retention_days)
    return {"status": "accepted"}
