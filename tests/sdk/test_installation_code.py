"""The installation code on the device: none before consent, stable while the install secret
lives, gone with ``revoke()``; the pseudonyms the SDK sends are those the code recomputes, so the
server can erase them all after the app is gone; the prompts and ``client show`` display it."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import crashveil
from crashveil.sdk.prompts import ask_in_terminal
from crashveil.wire.install_code import parse_code, pseudonym_v2


def test_code_lifecycle_and_the_pseudonyms_it_recomputes(make_client: Any, clock: Any) -> None:
    """None before init and before a grant; after it, a code that the next start shows again and
    from which the report's pseudonym follows; after revoke none, and the next grant a new one."""
    before_init = crashveil.installation_code()
    client = make_client()
    before_grant = client.installation_code()
    client.grant("crash")
    code = client.installation_code()
    assert code is not None
    again = make_client().installation_code()
    period = int(clock.now // (30 * 86_400))
    sent = client.secret.pseudonym("test-app", clock.now, 30)
    client.revoke()
    after_revoke = client.installation_code()
    client.grant("crash")
    assert (None, None, code, None) == (before_init, before_grant, again, after_revoke)
    assert (pseudonym_v2(parse_code(code), "test-app", period), True) == (sent, client.installation_code() != code)


def test_the_prompt_and_client_show_display_the_code(make_client: Any, tmp_path: Path) -> None:
    """Once a level is granted, the terminal prompt (the app's privacy settings) and ``crashveil
    client show`` name the installation code."""
    client = make_client()
    client.grant("crash")
    out = io.StringIO()
    ask_in_terminal(client, input=lambda _prompt: "", output=out)
    show = subprocess.run([sys.executable, "-m", "crashveil", "client", "show", "--data-dir", str(client.data_dir)],
                          capture_output=True, text=True, check=True).stdout
    code = client.installation_code()
    assert (True, True) == (f"Installation code: {code}" in out.getvalue(), f"Installation code: {code}" in show)
