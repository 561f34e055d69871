"""A crash becomes one signed webhook, end to end, on a real server.

The operator declares a ``[forwarding.hook]`` entry in the project's policy (crash type and
release only, no title), stores the webhook with ``crashveil destination add``, adds a
new-group rule with ``crashveil alert add``, and runs the server. A sealed report with
personal data planted in its message then reaches the receiver as one webhook whose
signature verifies with ``verify_webhook``, carrying the allowed fields and nothing planted;
a second report of the same crash sends nothing more (one incident, one notification).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _loading import load
from click.testing import CliRunner

from crashveil.cli.app import cli
from crashveil.policy import default_policy_path
from crashveil.server.alerts.destinations.webhook import verify_webhook

servers = load("crashveil_tests_servers", Path(__file__).parents[2] / "_servers.py")

SECRET = "whsec-e2e-1b7d44c0"
PLANTED = ("anna.berg@example.org", "+46 70 123 45 67", "/home/annaberg/")
FORWARDING = '''
[forwarding.hook]
kind = "webhook"
purpose = "Tell the on-call developer that a new crash appeared."
fields = ["crash_type", "release"]
review = "reviews/2026-12-07-hook.md"
'''


def _cli(server_dir: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, [*args, "--server-dir", str(server_dir)], env={"HOOK_SECRET": SECRET})
    assert 0 == result.exit_code, result.output


def test_a_new_crash_sends_one_signed_webhook_with_allowed_fields_only(tmp_path: Path, receiver: Any) -> None:
    sdir = servers.init_server_dir(tmp_path / "server")
    policy = tmp_path / "forwarding.policy.toml"
    policy.write_text(default_policy_path().read_text(encoding="utf-8") + FORWARDING, encoding="utf-8")
    _cli(sdir.path, "project", "set-policy", "demo", str(policy))
    _cli(sdir.path, "destination", "add", "hook", "--project", "demo", "--kind", "webhook", "--url", receiver.url,
         "--secret-env", "HOOK_SECRET")
    _cli(sdir.path, "alert", "add", "--project", "demo", "--kind", "new_group", "--destination", "hook")
    server = servers.Server(sdir, tmp_path / "server.log").start()
    try:
        sealer = servers.Sealer(sdir)
        context = servers.transport_for(server).ssl_context()
        message = "could not save for " + " ".join(PLANTED)
        for _ in range(2):
            answer = servers.post_sealed(context, server.port, sealer.seal(sealer.report(message=message)))
            assert 201 == answer.status, answer
        assert servers.wait_for(lambda: len(receiver.requests) >= 1, timeout_s=30)
        got = receiver.requests[0]
        verify_webhook(SECRET, got.headers, got.body)
        body = json.loads(got.body)
        log = server.log_text()
    finally:
        server.stop()
    assert 1 == len(receiver.requests)
    assert {"crash_type": "KeyError", "release": "1.0"} == body["fields"]
    assert "new_group" == body["rule"]
    text = got.body.decode() + log
    assert [] == [p for p in PLANTED if p in text]
