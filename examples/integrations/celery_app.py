"""A Celery worker whose invoice task fails: the failure reaches the crashveil server with the
task's name and retry count, never the customer's data in its arguments.

The broker is Celery's in-memory transport and the worker runs in this process (Celery's
own test worker, a real consumer on a thread), so the example needs nothing but
``pip install celery``:

    python examples/integrations/celery_app.py --dsn 'crashveil://...' --cert client.pem \\
        --key client.key --data-dir DIR --consent diagnostic
"""

from __future__ import annotations

import threading

import celery  # imported before crashveil.init(): its integration is installed
from _common import start  # beside this script: python puts its directory first on sys.path
from celery.contrib.testing.worker import start_worker

import crashveil

app = celery.Celery("shop", broker="memory://", backend="cache+memory://")
app.conf.update(task_always_eager=False, worker_hijack_root_logger=False, broker_connection_retry_on_startup=False)
failed = threading.Event()


@app.task(name="shop.tasks.send_invoice", bind=True, autoretry_for=(ConnectionError,),
          retry_kwargs={"max_retries": 1, "countdown": 0})
def send_invoice(self: celery.Task, customer: str, email: str, amount_cents: int) -> None:
    raise ConnectionError(f"mail server refused the invoice for {email}")  # the bug, with personal data


@celery.signals.task_failure.connect
def _done(**_: object) -> None:
    failed.set()


def main() -> None:
    start(__doc__.splitlines()[0], "shop-worker")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        send_invoice.delay("Bob Stone", "bob.stone@example.com", 12_900)
        failed.wait(30)
    print("sent:", crashveil.flush(10.0))


if __name__ == "__main__":
    main()
