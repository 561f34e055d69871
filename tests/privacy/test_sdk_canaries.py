"""Planted personal data never reaches the sealed bytes' plaintext, the queue files or the logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

EMAIL = "canary.person@example.org"
USER = "canaryuser"
TOKEN = "sk_live_CANARY0123456789abcdef"
CARD = "4111 1111 1111 1111"
TYPED = "my secret answer"
CANARIES = (EMAIL, f"/home/{USER}", TOKEN, CARD.replace(" ", ""), CARD, TYPED)


def nested_crash() -> BaseException:
    """A chained crash whose messages, path and context carry every canary."""
    path = f"/home/{USER}/Documents/{EMAIL}.txt"
    code = compile("def main():\n    raise ValueError(msg)\n", path, "exec")
    try:
        try:
            raise PermissionError(13, f"cannot open {path} token={TOKEN}")
        except PermissionError:
            namespace: dict[str, Any] = {"msg": f"card {CARD} for {EMAIL} typed '{TYPED}'"}
            exec(code, namespace)
            namespace["main"]()  # type: ignore[operator]
    except ValueError as exc:
        return exc
    raise AssertionError("no crash")


def found(text: str) -> list[str]:
    return [canary for canary in CANARIES if canary in text]


@pytest.mark.parametrize("level", ["crash", "diagnostic"])
def test_no_canary_in_what_is_sent_or_stored(make_client: Any, tmp_path: Path, opener: Any, level: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Messages, chained messages, paths, release, comments: no canary survives, anywhere."""
    from crashveil.testing import RecordingTransport

    caplog.set_level(logging.DEBUG)
    client = make_client(transport=RecordingTransport(status=503, opener=opener), release=f"app@1 {EMAIL}",
                         keep_history_content=True)
    client.grant(level, ask_each_time=True)
    client.capture_exception(nested_crash())
    [pending] = client.pending()
    client.decide(pending.id, level, f"I am {USER}, mail me at {EMAIL}, card {CARD}")
    queue = client.queue(create=False)
    plaintexts = [opener(queue.read(item)).decode() for item in queue.items()]
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert ([], [], [], []) == (found("".join(plaintexts)), found(stored.decode("latin-1")),
                                found(caplog.text), found(json.dumps([e.to_dict() for e in client.history()])))
    assert 1 == len(plaintexts)


def test_preview_has_no_canary(make_client: Any) -> None:
    """What the app shows the user is as clean as what is sent."""
    report = make_client().preview(nested_crash(), "diagnostic")
    assert [] == found(report.to_json().decode())


def test_canaries_would_be_seen(make_client: Any) -> None:
    """The probe works: the raw exception does carry the canaries."""
    exc = nested_crash()
    assert [EMAIL, f"/home/{USER}", TOKEN, CARD, TYPED] == [c for c in CANARIES if c in str(exc) + str(exc.__context__)
                                                            + exc.__traceback__.tb_next.tb_frame.f_code.co_filename]


def test_no_canary_in_breadcrumbs(make_client: Any, tmp_path: Path, opener: Any) -> None:
    """Breadcrumbs carrying every canary, in message and category, leave none in the report, queue or disk."""
    from crashveil.testing import RecordingTransport

    client = make_client(transport=RecordingTransport(status=503, opener=opener))
    client.grant("diagnostic")
    client.add_breadcrumb(f"opened /home/{USER}/{EMAIL}.txt token={TOKEN} card {CARD} typed '{TYPED}'",
                          f"ui.{EMAIL}")
    client.add_breadcrumb("plain step", TOKEN)
    preview = client.preview(ValueError("boom")).to_json().decode()
    client.capture_exception(ValueError("boom"))
    queue = client.queue(create=False)
    plaintexts = "".join(opener(queue.read(item)).decode() for item in queue.items())
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert ([], [], [], 2) == (found(preview), found(plaintexts), found(stored.decode("latin-1")),
                               plaintexts.count('"offset_s"'))
