"""The real browser of the dashboard tests: an ASGI app served by uvicorn on a free loopback
port, and Debian's chromium driven by playwright with a watch on CSP violations.

Shared by ``tests/dashboard/test_browser.py`` (and the modules that take its fixtures) and
``tests/releases/test_releases_browser.py``; ``tests/`` is on pytest's ``pythonpath``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"
#: How long a locator wait may take: generous, as CI runs these beside other work (a wait
#: returns as soon as its condition holds).
WAIT_MS = 30_000
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# Collects CSP violations and marks any script that ran; init scripts run outside the page's CSP.
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port; yields its base URL once it listens."""
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, with an event set once it listens (no polling of ``started``)."""

        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            self.ready = threading.Event()

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            self.ready.set()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    assert srv.ready.wait(timeout=60), "uvicorn did not start listening"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def chromium_page(base_url: str) -> Iterator[Any]:
    """A fresh chromium page on ``base_url`` that records CSP violations in ``window.__csp``."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base_url)
        context.add_init_script(WATCH)
        context.set_default_timeout(WAIT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()
