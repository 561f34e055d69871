"""A real local HTTP receiver for the destinations' tests, and a notification with canaries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crashveil.server.alerts.notification import Notification

#: Crash strings an attacker would plant: Slack/Discord mentions, a Markdown link and image,
#: HTML, a GitLab quick action, an e-mail header after CR/LF.
CANARY_TITLE = ("KeyError <!channel> @everyone [click](http://evil.example/x) ![i](http://evil.example/i.png) "
                "<img src=x onerror=alert(1)>\r\nBcc: victim@example.com\n/close")


def notification(title: str = "KeyError in load", **fields: str | int | float) -> Notification:
    return Notification(project_id="demo", rule="new_group", dedupe_key="demo:new_group:42", title=title,
                        summary="3 events from 2 installations in the last hour",
                        link="https://crash.example/dashboard/projects/demo/groups/42",
                        occurred_at=datetime(2026, 12, 7, 12, 0, tzinfo=UTC), fields=fields)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records each request and answers ``status`` (with
    ``headers`` and ``body``): what a webhook endpoint or a tracker API would be."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, status: int, body: bytes = b"{}", **headers: str) -> None:
        self.status, self.body, self.headers = status, body, headers


def _handler(receiver_box: list[Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = receiver_box[0]
            length = int(self.headers.get("Content-Length", "0"))
            receiver.requests.append(Received("POST", self.path, dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(receiver.status)
            for name, value in {"Content-Type": "application/json", **receiver.headers}.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(receiver.body)))
            self.end_headers()
            self.wfile.write(receiver.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    server.daemon_threads = True
    box.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield box[0]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def make_notification() -> Callable[..., Notification]:
    """``make_notification(title=..., **fields)``: a notification as an alert rule makes one."""
    return notification


@pytest.fixture
def canary() -> str:
    return CANARY_TITLE
