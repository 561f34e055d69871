"""RQ: a real ``redis-server`` (Debian's) and RQ's in-process ``SimpleWorker``; the last failure
of a job is reported with its function name and retry count, never its arguments."""

from __future__ import annotations

from typing import Any

import pytest
import rq
from redis import Redis

from crashveil.sdk.integrations._base import installed

from .conftest import CANARY_ADDRESS, CANARY_CARD, CANARY_EMAIL, CANARY_NAME, assert_no_canary


def bill_customer(customer: str, *, email: str, card: str) -> None:
    raise LookupError(f"no account for {email} paying with {card}")  # the name stays in the arguments


def ship_parcel(address: str) -> str:
    return address.upper()


@pytest.fixture
def queue(redis_url: str) -> Any:
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    return rq.Queue("crashveil-test", connection=connection)


class BurstWorker(rq.SimpleWorker):
    """RQ's in-process worker without its command channel: redis-py's pub/sub thread can wait
    up to RQ's ``sleep_time=60`` at teardown when a burst ends before it has subscribed."""

    def subscribe(self) -> None:
        self.pubsub = None
        self.pubsub_thread = None


def run_jobs(queue: Any) -> None:
    BurstWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=False)


def test_last_failure_of_a_job_is_reported_with_name_and_retries(queue: Any, sdk: list[Any]) -> None:
    """Two retries (interval 0), then the failure: one report, mechanism rq. The count of
    exception retries is not known to RQ (it keeps the retries left), so it is left out."""
    assert "rq" in installed()
    queue.enqueue(ship_parcel, CANARY_ADDRESS)
    job = queue.enqueue(bill_customer, CANARY_NAME, email=CANARY_EMAIL, card=CANARY_CARD, retry=rq.Retry(max=2))
    run_jobs(queue)
    job.refresh()
    [report] = sdk
    assert ("failed", "LookupError", "rq", None) == (job.get_status(), report.crash_type, report.mechanism,
                                                   report.task_retries)
    assert report.task_name is not None and report.task_name.endswith("test_tasks_rq.bill_customer")
    assert report.message is not None and "<email>" in report.message
    assert_no_canary(report)


def test_job_without_retries_reports_zero(queue: Any, sdk: list[Any]) -> None:
    queue.enqueue(bill_customer, "x", email="e", card="c")
    run_jobs(queue)
    assert [("rq", 0)] == [(report.mechanism, report.task_retries) for report in sdk]


def test_crash_level_has_no_message_but_keeps_the_task_fields(queue: Any, sdk: list[Any]) -> None:
    import crashveil

    crashveil.grant("crash")
    queue.enqueue(bill_customer, CANARY_NAME, email=CANARY_EMAIL, card=CANARY_CARD)
    run_jobs(queue)
    [report] = sdk
    assert (None, 0) == (report.message, report.task_retries)
    assert_no_canary(report)
