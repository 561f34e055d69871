"""The daily adoption ping: "this installation ran this release today", and nothing more.

What it is for: the server only learns of installations that crash, so it cannot say what share
of a release's installations did *not* crash, nor how fast a release is adopted. The ping is
the denominator: at most once per installation, release and UTC day, the app sends

    {"policy_digest", "consent_level", "release", "day", "install_id"}

(``wire.protocol.ADOPTION_FIELDS``): the release as a report would carry it (cut and redacted
on the device), the UTC day, and the same keyed install pseudonym reports carry
(``consent/pseudonym.py``, rotating). No time of day, no environment, no count of runs.

When: at ``start()`` (``init()``), only if all of these hold: the app turned it on
(``init(adoption_ping=True)``: off by default, so an app's developers choose to measure
adoption), a DSN (project and key), a release, consent not ``off``, the policy declares
``[adoption]`` (``policy.AdoptionRule``), and the granted level is at least its ``level``.
Consent ``off`` sends nothing, now or later: ``grant("off")`` and ``revoke()`` drop a queued
ping with every other unsent item.

How: sealed to the project's key like a report and put in the same on-disk queue (kind
``adoption``), so the same sender, backoff and limits deliver it (``POST .../adoption``). The
work (the policy, the pseudonym, sealing) runs on a daemon thread so ``init()`` stays cheap;
the cheap part, done first, is a look at ``adoption.sent`` in the data directory: the day and
a short digest of each release pinged that day (not the release: nothing of it is written to
disk in clear), one per line, written once the ping is queued. A ping that is
already in it is not built again; two processes starting at once may both send one, and the
server counts the installation once (it de-duplicates per day).

Loaded only by ``Client.send_adoption_ping``; the client passes itself as an
:class:`AdoptionHost`, nothing here imports the client.
"""

from __future__ import annotations

import threading

from crashveil.sdk._internal import suppress_internal_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from crashveil.policy.model import Policy
    from crashveil.sdk.delivery.host import SealedMessageHost as AdoptionHost

__all__ = ["MARKER", "KIND", "utc_day", "already_sent", "start_ping", "queue_ping"]

#: The file in the data directory that says which releases were pinged on which day.
MARKER = "adoption.sent"
#: The queue item kind (``sdk/delivery/queue.py``) and transport kind of a ping.
KIND = "adoption"
_lock = threading.Lock()


def utc_day(now_s: float) -> str:
    """The UTC day ``YYYY-MM-DD`` of ``now_s`` (seconds since the epoch), without ``datetime``."""
    import time

    return time.strftime("%Y-%m-%d", time.gmtime(now_s))


def _read_marker(path: Path) -> tuple[str, list[str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return "", []
    return (lines[0], lines[1:]) if lines else ("", [])


def _release_tag(release: str) -> str:
    """What the marker keeps of a release: a short digest, never the text."""
    import hashlib

    return hashlib.blake2b(release.encode("utf-8", "surrogatepass"), digest_size=8, person=b"cv-adopt-mark").hexdigest()


def already_sent(data_dir: Path, release: str, day: str) -> bool:
    """Whether a ping for ``release`` on ``day`` was queued already (one small read)."""
    sent_day, releases = _read_marker(data_dir / MARKER)
    return sent_day == day and _release_tag(release) in releases


def _mark_sent(data_dir: Path, release: str, day: str) -> None:
    from crashveil.sdk.consent.pseudonym import write_private_file

    path = data_dir / MARKER
    sent_day, releases = _read_marker(path)
    kept = releases if sent_day == day else []
    write_private_file(path, "\n".join([day, *kept, _release_tag(release)]).encode("ascii") + b"\n")


def start_ping(host: AdoptionHost, release: str) -> threading.Thread | None:
    """Queue today's ping for ``release`` on a daemon thread, unless the marker says it went; the thread."""
    release = release[:128]
    if already_sent(host.data_dir, release, utc_day(host.now())):
        return None
    thread = threading.Thread(target=_ping_quietly, args=(host, release), name="crashveil-adoption", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # interpreter shutting down: tomorrow is another day
        return None
    return thread


def _ping_quietly(host: AdoptionHost, release: str) -> None:
    with suppress_internal_errors("adoption"):
        queue_ping(host, release)


def queue_ping(host: AdoptionHost, release: str) -> bool:
    """Build, seal and queue today's ping for ``release`` if the policy and consent allow it; True if queued.

    Runs the checks again under a lock (consent may have changed since ``start``; another thread
    may have queued it).
    """
    with _lock:
        if not host.project:
            return False
        now = host.now()
        day = utc_day(now)
        release = release[:128]
        if already_sent(host.data_dir, release, day):
            return False
        policy = host.policy
        rule = policy.adoption
        level = host.consent.level()
        if rule is None or level not in policy.level_names:
            return False
        rank = policy.rank(level)
        if rank == 0 or rank < policy.rank(rule.level):
            return False
        payload = _payload(host, policy, level, release, day, now)
        sealed = host.seal_for_server(payload)
        if sealed is None:
            return False
        from crashveil.sdk.delivery.queue import QueueMeta

        host.queue(create=True).put(sealed, QueueMeta(kind=KIND, crash_type="", level=level, created=now))
        _mark_sent(host.data_dir, release, day)
    host.wake_sender()
    return True


def _payload(host: AdoptionHost, policy: Policy, level: str, release: str, day: str, now: float) -> bytes:
    """The ping's canonical JSON: exactly ``ADOPTION_FIELDS``, the release redacted as a report's."""
    from crashveil.wire.canonical import canonical_json

    assert host.project is not None, "queue_ping checked it"
    clean = host.redactor.redact(release, kind="message")[:128] or "-"
    return canonical_json({
        "policy_digest": host.consent.digest,
        "consent_level": level,
        "release": clean,
        "day": day,
        "install_id": host.secret.pseudonym(host.project, now, policy.keys.pseudonym_rotation_days),
    })
