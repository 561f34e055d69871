"""Alert destinations: process CPU to render one notification for each kind (the escaping of
every crash string included), with a plain title and with a title full of injection attempts,
and the CPU of one signed webhook delivery to a local receiver (render, sign, POST, answer).
Rounds interleave the cases so a busy machine weighs on all alike. Prints medians in
microseconds and the canary/plain ratio.

    PYTHONPATH=src python bench/destinations.py --calls 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table

from crashveil.server.alerts.destinations.issue_text import issue_body, issue_title
from crashveil.server.alerts.destinations.slack import slack_payload
from crashveil.server.alerts.destinations.smtp import email_message
from crashveil.server.alerts.destinations.teams import teams_payload
from crashveil.server.alerts.destinations.webhook import WebhookDestination, notification_json, sign
from crashveil.server.alerts.notification import Notification

CANARY = ("KeyError <!channel> @everyone [click](http://evil.example/x) ![i](http://evil.example/i.png) "
          "<img src=x onerror=alert(1)>\r\nBcc: victim@example.com\n/close")


def _notification(title: str) -> Notification:
    return Notification(project_id="demo", rule="new_group", dedupe_key="demo:new_group:42", title=title,
                        summary="3 events from 2 installations in the last hour",
                        link="https://crash.example/dashboard/projects/demo/groups/42",
                        occurred_at=datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
                        fields={"release": "1.2.0", "os": "linux", "crash_type": "KeyError", "events": 3})


RENDERERS: dict[str, Callable[[Notification], object]] = {
    "webhook (json + sign)": lambda n: sign("secret", 1_800_000_000, notification_json(n)),
    "slack": lambda n: json.dumps(slack_payload(n)),
    "teams": lambda n: json.dumps(teams_payload(n)),
    "github/gitlab": lambda n: (issue_title(n), issue_body(n)),
    "email": lambda n: email_message(n, sender="a@ops.example", recipients=["b@team.example"]).as_bytes(),
}


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _cpu_us(action: Callable[[], object], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        action()
    return (time.process_time() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    plain, canary = _notification("KeyError in load"), _notification(CANARY)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = WebhookDestination("bench", f"http://127.0.0.1:{server.server_address[1]}/", "secret")
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for kind, render in RENDERERS.items():
            for label, note in (("plain", plain), ("canary", canary)):
                samples.setdefault((kind, label), []).append(_cpu_us(lambda r=render, n=note: r(n), args.calls))
        samples.setdefault(("webhook delivery (local)", "plain"), []).append(
            _cpu_us(lambda: hook.deliver(plain), max(1, args.calls // 20)))
    server.shutdown()
    rows = []
    for kind in [*RENDERERS, "webhook delivery (local)"]:
        base = statistics.median(samples[(kind, "plain")])
        hostile = samples.get((kind, "canary"))
        rows.append([kind, f"{base:.1f}", f"{statistics.median(hostile):.1f}" if hostile else "-",
                     f"{statistics.median(hostile) / base:.2f}" if hostile else "-"])
    print_table(["case (CPU us per call, median)", "plain title", "canary title", "ratio"], rows)


if __name__ == "__main__":
    main()
