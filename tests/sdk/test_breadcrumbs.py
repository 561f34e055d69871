"""Breadcrumbs: recorded in memory only with consent, redacted into the sealed report at a crash."""

from __future__ import annotations

import json
from typing import Any

import crashveil

EMAIL = "crumb.person@example.org"
HOME = "/home/crumbuser/notes.txt"
TOKEN = "sk_live_CRUMB0123456789abcdef"


def crash(message: str = "boom") -> BaseException:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


def sent_reports(client: Any) -> list[dict[str, Any]]:
    assert client.flush(5.0) is True
    return [json.loads(p) for p in client.transport_for_test.payloads("report")]


class Ticker:
    """A settable monotonic clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_consent_off_stores_nothing(make_client: Any) -> None:
    """Before the user chooses, a breadcrumb is dropped without making the ring."""
    client = make_client()
    client.add_breadcrumb("opened settings", "ui")
    assert (None, False) == (client.crumbs.ring, client.crumbs.enabled())


def test_crash_level_stores_nothing_and_sends_none(make_client: Any) -> None:
    """At ``crash`` (no breadcrumbs in its allowlist) nothing is kept and the report has none."""
    client = make_client()
    client.grant("crash")
    client.add_breadcrumb("opened settings", "ui")
    client.capture_exception(crash())
    [payload] = sent_reports(client)
    assert (None, None) == (client.crumbs.ring, payload.get("breadcrumbs"))


def test_diagnostic_sends_breadcrumbs_in_order(make_client: Any) -> None:
    """At ``diagnostic`` the crumbs go with the crash, oldest first, with their categories."""
    client = make_client()
    client.grant("diagnostic")
    client.add_breadcrumb("opened settings", "ui")
    client.add_breadcrumb("saved file")
    client.capture_exception(crash())
    [payload] = sent_reports(client)
    assert [("ui", "opened settings"), ("default", "saved file")] == [
        (b["category"], b["message"]) for b in payload["breadcrumbs"]]


def test_breadcrumbs_are_redacted(make_client: Any, opener: Any) -> None:
    """A planted email, home path and token never reach the report JSON or the sealed plaintext."""
    client = make_client()
    client.grant("diagnostic")
    client.add_breadcrumb(f"mailed {EMAIL} from {HOME} with token={TOKEN}", f"ui.{EMAIL}")
    client.capture_exception(crash())
    queue = client.queue(create=False)
    plaintext = "".join(opener(queue.read(item)).decode() for item in queue.items())
    [payload] = sent_reports(client)
    text = json.dumps(payload) + plaintext
    assert ([], 1) == ([c for c in (EMAIL, "/home/crumbuser", TOKEN) if c in text], len(payload["breadcrumbs"]))


def test_unsafe_category_becomes_other(make_client: Any) -> None:
    """A category with characters outside the safe set is replaced by ``other``."""
    client = make_client()
    client.grant("diagnostic")
    client.add_breadcrumb("clicked", "button <Save>")
    [crumb] = client.preview(crash()).breadcrumbs
    assert "other" == crumb.category


def test_ring_keeps_the_newest_twenty(make_client: Any) -> None:
    """The ring holds 20 crumbs; the oldest are dropped first."""
    client = make_client()
    client.grant("diagnostic")
    for n in range(25):
        client.add_breadcrumb(f"step {n}")
    report = client.preview(crash())
    assert [f"step {n}" for n in range(5, 25)] == [b.message for b in report.breadcrumbs]


def test_offsets_come_from_the_injected_clock(make_client: Any) -> None:
    """Each offset is the whole seconds between the crumb and the crash on the monotonic clock."""
    ticker = Ticker()
    client = make_client()
    client.crumbs.clock = ticker
    client.grant("diagnostic")
    client.add_breadcrumb("first")
    ticker.now += 30.5
    client.add_breadcrumb("second")
    ticker.now += 12
    client.add_breadcrumb("third")
    client.capture_exception(crash())
    [payload] = sent_reports(client)
    assert [42, 12, 0] == [b["offset_s"] for b in payload["breadcrumbs"]]


def test_preview_shows_breadcrumbs_only_at_levels_that_allow_them(make_client: Any) -> None:
    """``preview()`` shows the crumbs at ``diagnostic`` and none at ``crash``."""
    client = make_client()
    client.grant("diagnostic")
    client.add_breadcrumb("opened settings", "ui")
    assert (("opened settings",), None) == (tuple(b.message for b in client.preview(crash()).breadcrumbs),
                                            client.preview(crash(), "crash").breadcrumbs)


def test_remote_config_disabling_the_module_drops_them(make_client: Any) -> None:
    """Crumbs recorded before the server turned the module off are not sent, and new ones are not kept."""
    from crashveil.sdk.remote.config import RemoteConfig

    client = make_client()
    client.grant("diagnostic")
    client.add_breadcrumb("before")
    client.remote.config = RemoteConfig(modules={"breadcrumbs": False})
    client.capture_exception(crash())
    client._breadcrumbs_changed()
    client.add_breadcrumb("after")
    [payload] = sent_reports(client)
    assert (None, 0) == (payload.get("breadcrumbs"), len(client.crumbs.ring))


def test_remote_config_disabled_at_grant_keeps_nothing(make_client: Any) -> None:
    """With the module off in the remote config, granting ``diagnostic`` does not start the ring."""
    from crashveil.sdk.remote.config import RemoteConfig

    client = make_client()
    client.remote.config = RemoteConfig(modules={"breadcrumbs": False})
    client.grant("diagnostic")
    client.add_breadcrumb("step")
    assert client.crumbs.ring is None


def test_revoke_clears_breadcrumbs(make_client: Any) -> None:
    """Withdrawing consent forgets the crumbs in memory."""
    client = make_client()
    client.grant("diagnostic")
    client.add_breadcrumb("step")
    client.revoke()
    client.add_breadcrumb("after")
    assert (0, False) == (len(client.crumbs.ring), client.crumbs.enabled())


def test_lowering_consent_clears_breadcrumbs(make_client: Any) -> None:
    """Granting a level below ``diagnostic`` forgets the crumbs, and raising it again starts afresh."""
    client = make_client()
    client.grant("diagnostic")
    client.add_breadcrumb("old")
    client.grant("crash")
    client.grant("diagnostic")
    client.add_breadcrumb("new")
    assert ["new"] == [b.message for b in client.preview(crash()).breadcrumbs]


def test_failing_redactor_never_raises(make_client: Any, allow_internal_errors: list[BaseException]) -> None:
    """A redactor that fails makes the capture drop the report, never raise into the app."""

    class Broken:
        def redact(self, text: str, kind: str) -> str:
            raise RuntimeError("redactor broke")

    client = make_client()
    client._redactor = Broken()
    client.grant("diagnostic")
    client.add_breadcrumb("step")
    assert (None, ["redactor broke"]) == (client.capture_exception(crash()), [str(e) for e in allow_internal_errors])


def test_bad_input_and_failing_clock_never_raise(make_client: Any, allow_internal_errors: list[BaseException]) -> None:
    """A non-text message or category, or a clock that fails, is dropped or defaulted without raising."""

    def broken_clock() -> float:
        raise RuntimeError("clock broke")

    client = make_client()
    client.grant("diagnostic")
    client.add_breadcrumb(None, 3)  # type: ignore[arg-type]
    client.add_breadcrumb("kept", None)  # type: ignore[arg-type]
    client.crumbs.ring.clock = broken_clock
    client.add_breadcrumb("lost")
    assert ([("default", "kept")], ["clock broke"]) == ([(c, m) for _, c, m in client.crumbs.ring._items],
                                                        [str(e) for e in allow_internal_errors])


def test_facade_before_init_is_a_no_op() -> None:
    """Before ``init()`` the facade accepts a breadcrumb and does nothing."""
    crashveil.shutdown()
    assert crashveil.add_breadcrumb("step", "ui") is None


def test_nothing_written_to_disk(make_client: Any, tmp_path: Any) -> None:
    """Recording crumbs writes no file beyond what granting consent wrote."""
    client = make_client()
    client.grant("diagnostic")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    client.add_breadcrumb(f"secret {EMAIL}")
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert (before, False) == (after, EMAIL.encode() in stored)


def _log_lines(client: Any) -> list[tuple[str, str]]:
    import logging

    log = logging.getLogger("crumbapp")
    log.setLevel(logging.DEBUG)
    try:
        log.debug("debug line")
        log.info("opened %s", EMAIL)
        log.warning("disk low")
    finally:
        log.setLevel(logging.NOTSET)
    report = client.preview(crash())
    return [(b.category, b.message) for b in report.breadcrumbs or ()]


def test_logging_breadcrumbs_record_info_and_above(make_client: Any) -> None:
    """With ``logging_breadcrumbs=True`` INFO+ log records become redacted ``log.<level>`` crumbs."""
    client = make_client(logging_breadcrumbs=True)
    client.grant("diagnostic")
    client.install_hooks()
    assert [("log.info", "opened <email>"), ("log.warning", "disk low")] == _log_lines(client)


def test_logging_breadcrumbs_are_off_by_default(make_client: Any) -> None:
    """Without the option, log records never become breadcrumbs."""
    client = make_client()
    client.grant("diagnostic")
    client.install_hooks()
    assert [] == _log_lines(client)


def test_logging_breadcrumbs_need_consent(make_client: Any) -> None:
    """With the option but only ``crash`` granted, log records are not kept."""
    client = make_client(logging_breadcrumbs=True)
    client.grant("crash")
    client.install_hooks()
    _log_lines(client)
    assert client.crumbs.ring is None
