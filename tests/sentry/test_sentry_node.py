"""The real ``@sentry/node`` from npm (``tests/sentry/node``, installed by ``scripts/test``), in
Node.js subprocesses, pointed at a crashveil server over HTTPS.

The same app is deployed twice, to ``.../releases/v1/app`` and ``.../releases/v2/app``, and
run from each: a handled error with a cause, a plain ``captureMessage``, a parameterized one
and an uncaught exception that ends the process. Both deployments must land in the SAME
groups, with paths relative to the app, and the planted personal data (``sendDefaultPii``,
user, tags, extra, breadcrumbs, messages) must reach no server file, log line, decrypted
report or dashboard page.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
NODE_MODULES = HERE / "node" / "node_modules"
NODE = shutil.which("node")
if NODE is None or not (NODE_MODULES / "@sentry" / "node").is_dir():
    pytest.skip("needs Node.js and @sentry/node (scripts/test installs them: npm install in tests/sentry/node)",
                allow_module_level=True)

_spec = importlib.util.spec_from_file_location("crashveil_tests_sentry_live", HERE / "live.py")
live = sys.modules.setdefault("crashveil_tests_sentry_live", importlib.util.module_from_spec(_spec))  # type: ignore[arg-type]
_spec.loader.exec_module(live)  # type: ignore[union-attr]

PLANTED = {
    "email": "zoe.nodeplanted@example.org",
    "user_id": "node-user-4471-planted",
    "username": "zoenodeplanted",
    "ip": "203.0.113.91",
    "tag": "planted-node-tag-8812",
    "extra": "planted-node-extra-3391",
    "host": "zoe-node-planted-box",
    "password": "node-planted-pw-7713",
}

CART = textwrap.dedent("""\
    function total(basket) {
      return basket.items.length;
    }
    module.exports = { total };
""")

MAIN = textwrap.dedent("""\
    const Sentry = require("@sentry/node");
    const { total } = require("./cart");
    const planted = JSON.parse(process.env.CRASHVEIL_PLANTED);
    Sentry.init({
      dsn: process.env.CRASHVEIL_DSN, sendDefaultPii: true, environment: "staging",
      release: "shop@" + process.env.CRASHVEIL_RELEASE, serverName: planted.host,
    });
    Sentry.setUser({ id: planted.user_id, email: planted.email, username: planted.username, ip_address: planted.ip });
    Sentry.setTag("feature", "cart");
    Sentry.setTag("customer", planted.tag);
    Sentry.setExtra("note", planted.extra);
    Sentry.addBreadcrumb({ category: "auth", message: "login " + planted.email, data: { password: planted.password } });
    try {
      total(undefined);
    } catch (cause) {
      Sentry.captureException(new Error("checkout failed for " + planted.email, { cause }));
    }
    Sentry.captureMessage("basket empty for " + planted.email, "warning");
    Sentry.captureMessage(Sentry.parameterize`coupon ${planted.email} refused`, "info");
    Sentry.flush(10000).then(() => {
      setTimeout(() => total(null), 0);  // uncaught: the process ends
    });
""")


def _deploy(root: Path, release: str) -> Path:
    """The app under ``root/srv/releases/<release>/app`` with its own ``node_modules`` link."""
    app = root / "deploy" / "srv" / "releases" / release / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "cart.js").write_text(CART)
    (app / "src" / "main.js").write_text(MAIN)
    (app / "node_modules").symlink_to(NODE_MODULES)
    return app


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory, server_maker: Any) -> Iterator[Any]:
    """Both deployments run once against one server (level ``diagnostic``); 8 events stored."""
    root = tmp_path_factory.mktemp("sentry-node")
    with live.live_server(root, server_maker, "diagnostic") as server:
        for release in ("v1", "v2"):
            app = _deploy(root, release)
            env = {**os.environ, "CRASHVEIL_DSN": server.dsn, "CRASHVEIL_RELEASE": release.lstrip("v") + ".0.0",
                   "CRASHVEIL_PLANTED": json.dumps(PLANTED), "NODE_EXTRA_CA_CERTS": str(server.ca)}
            result = subprocess.run([NODE, str(app / "src" / "main.js")], cwd=app, env=env, capture_output=True,
                                    text=True, timeout=60, check=False)
            assert (1, True) == (result.returncode, "TypeError" in result.stderr), result.stderr[-2000:]
        live.wait_for(server.directory, 8)
        yield server


def _by_release(server: Any) -> dict[str, list[Any]]:
    rows: dict[str, list[Any]] = {}
    for row, detail in live.stored(server.directory):
        rows.setdefault(detail.report.release, []).append((row, detail))
    return rows


def test_both_deployments_make_the_same_four_groups(sent: Any) -> None:
    """v1 and v2 store four events each, in the same four groups (paths do not depend on the install)."""
    rows = _by_release(sent)
    assert [4, 4] == [len(rows["shop@1.0.0"]), len(rows["shop@2.0.0"])]
    groups = [{row.group_id for row, _ in rows[release]} for release in ("shop@1.0.0", "shop@2.0.0")]
    assert (4, groups[0]) == (len(groups[0]), groups[1])


def test_frames_are_relative_to_the_app(sent: Any) -> None:
    """No stored frame carries the deployment path; the cart frame is the app's ``cart.js``."""
    files = {f.file for _, d in live.stored(sent.directory) if d.report.stack
             for f in d.report.stack.frames + tuple(x for c in d.report.chain or () if c.stack for x in c.stack.frames)}
    assert [] == sorted(f for f in files if "releases" in f or f.startswith("/"))
    assert {"cart.js", "main.js"} <= files


def test_handled_error_keeps_its_cause_tags_and_context(sent: Any) -> None:
    """The handled Error: chained ``cause`` (the TypeError in cart.js), handled, tag ``feature`` only,
    deployment, platform, OS and runtime, source line of the app's own frame."""
    (_, detail), = [(r, d) for r, d in _by_release(sent)["shop@1.0.0"] if d.report.crash_type == "Error"]
    report = detail.report
    assert (("cause", "TypeError", "total"), True, "manual") == (
        (report.chain[0].relation, report.chain[0].crash_type, report.chain[0].stack.frames[-1].function),
        report.handled, report.mechanism)
    assert ("staging", "node", "error", (("feature", "cart"),)) == (
        report.deployment, report.platform, report.severity, tuple((t.key, t.value) for t in report.tags))
    assert ("Linux", "node", "20") == (report.environment.os_family, report.environment.python_impl,
                                       report.environment.python_version.split(".")[0])
    assert "checkout failed for <email>" == report.message
    assert any("new Error(" in line.line for line in report.source_context)
    assert {"tags", "extra", "server_name", "user.email", "exception.frames.context"} <= set(detail.dropped_fields)


def test_uncaught_exception_is_an_unhandled_fatal_crash(sent: Any) -> None:
    """``auto.node.onuncaughtexception``: crash kind excepthook, not handled, severity fatal."""
    uncaught = [d.report for _, d in live.stored(sent.directory) if d.report.crash_type == "TypeError"]
    assert [("excepthook", False, "fatal")] * 2 == [(r.mechanism, r.handled, r.severity) for r in uncaught]


def test_messages_are_groups_keeping_their_redacted_template(sent: Any) -> None:
    """``captureMessage`` is a message group (not "Error") keeping its redacted text as template; a
    parameterized message its template, its values never stored. Titles stay ``Message`` (the
    shipped policy shows templates to developers only) and the templates split the groups."""
    found = sorted({(d.report.crash_type, d.report.message_template, d.report.severity, d.report.mechanism,
                     d.report.fingerprint) for _, d in live.stored(sent.directory)
                    if d.report.message_template is not None})
    assert [("Message", "basket empty for <email>", "warning", "manual"),
            ("Message", "coupon %s refused", "info", "manual")] == [row[:4] for row in found]
    assert found[0][4] != found[1][4]


def test_planted_values_reach_no_file_log_report_or_page(sent: Any) -> None:
    """No planted value is in a server file, the server log, a decrypted report or a dashboard page."""
    files = live.server_files(sent.directory)
    reports = json.dumps([[d.report.to_dict(), d.dropped_fields] for _, d in live.stored(sent.directory)])
    log = sent.log.read_text(errors="replace")
    pages = live.dashboard_text(sent.directory)
    found = sorted((name, place) for name, value in PLANTED.items()
                   for place, text in (("files", files), ("reports", reports), ("log", log), ("pages", pages))
                   if (value.encode() in text if isinstance(text, bytes) else value in text))
    assert [] == found
