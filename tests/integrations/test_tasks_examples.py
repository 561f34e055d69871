"""examples/integrations/celery_app.py against the real server: the task failure arrives with
its name and retry count; the customer's data in the task's arguments arrives nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import DemoServer

pytestmark = pytest.mark.slow


def test_celery_example_reports_into_the_server(demo_server: DemoServer, tmp_path: Path) -> None:
    result = demo_server.run_example("celery_app.py", tmp_path)
    assert "sent: True" in result.stdout, result.stderr[-3000:]
    [report] = [r for r in demo_server.stored() if r.mechanism == "celery"]
    assert ("ConnectionError", "shop.tasks.send_invoice", 1, "mail server refused the invoice for <email>") == (
        report.crash_type, report.task_name, report.task_retries, report.message)
    stored = report.to_json().decode() + demo_server.log()
    assert [] == [canary for canary in ("Bob Stone", "bob.stone", "12900") if canary in stored]
