"""The task fields of a report: only through the policy, only code-shaped names, bounded counts."""

from __future__ import annotations

from typing import Any

import pytest

import crashveil
from crashveil.sdk.integrations.tasks.task_context import TaskContext

from .conftest import CANARY_EMAIL, assert_no_canary


def report_for(task: TaskContext, reports: list[Any]) -> Any:
    try:
        raise RuntimeError("task failed")
    except RuntimeError as exc:
        crashveil._current().capture_exception(exc, mechanism="celery", context=task.fields())
    return reports[-1]


@pytest.mark.parametrize(("name", "kept"), [
    ("shop.tasks.send_invoice", "shop.tasks.send_invoice"),
    ("worker:queue-1.<lambda>", "worker:queue-1.<lambda>"),
    ("Jane Doe's task", None),  # not a code name: left out
    (f"tasks.{CANARY_EMAIL}", None),  # redacted to a placeholder inside, then no longer one name
    ("x" * 201, None),
    ("tasks.\u202eevil", None),
])
def test_only_code_shaped_task_names_are_sent(name: str, kept: str | None, sdk: list[Any]) -> None:
    report = report_for(TaskContext(name=name, retries=0), sdk)
    assert kept == report.task_name
    assert_no_canary(report)


@pytest.mark.parametrize(("retries", "sent"), [(0, 0), (3, 3), (-2, 0), (10**9, 1_000_000), (True, None), (None, None)])
def test_retry_counts_are_bounded_integers(retries: Any, sent: int | None, sdk: list[Any]) -> None:
    assert sent == report_for(TaskContext(name="t", retries=retries), sdk).task_retries


def test_the_fields_follow_the_policy_allowlist(sdk: list[Any]) -> None:
    """Both are declared at level ``crash`` with purpose and retention; a level without them drops them."""
    from crashveil.policy import default_policy

    policy = default_policy()
    rules = {name: policy.fields[name] for name in ("task_name", "task_retries")}
    assert {("crash", 90, "technical")} == {(r.level, r.retention_days, r.sensitivity) for r in rules.values()}
    assert all(rule.purpose for rule in rules.values())
    crashveil.grant("crash")
    report = report_for(TaskContext(name="shop.tasks.x", retries=1), sdk)
    assert ("shop.tasks.x", 1, None) == (report.task_name, report.task_retries, report.message)
