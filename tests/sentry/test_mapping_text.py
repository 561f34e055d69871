"""Text cleaning of the Sentry mapping: the fast path for printable text changes nothing."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from crashveil.server.sentry.mapping.read import CONTROL as _CONTROL, clean as _clean


@settings(max_examples=500, deadline=None, database=None)
@given(st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=12))
def test_clean_removes_controls_and_replaces_surrogates(text: str) -> None:
    assert _CONTROL.sub("", text.encode("utf-8", "replace").decode("utf-8")) == _clean(text)
