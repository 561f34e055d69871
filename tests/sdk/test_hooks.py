"""Crash hooks in real subprocess apps: main thread, thread, asyncio, native fault, shutdown."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PRELUDE = """
import os, sys
import crashveil
from crashveil.testing import RecordingTransport
crashveil.init(dsn=os.environ["TEST_DSN"], data_dir=os.environ["TEST_DATA"],
               transport=RecordingTransport(status=503), flush_timeout_s=0.2)
if os.environ.get("TEST_LEVEL"):
    crashveil.grant(os.environ["TEST_LEVEL"])
"""


def queued(data_dir: Path, opener: Callable[[bytes], bytes]) -> list[dict[str, Any]]:
    from crashveil.sdk.delivery.queue import SealedQueue

    if not (data_dir / "queue").is_dir():
        return []
    queue = SealedQueue(data_dir / "queue", max_reports=100, max_bytes=10**7, max_age_days=30)
    return [json.loads(opener(queue.read(item))) for item in queue.items() if item.meta.kind == "report"]


@pytest.fixture
def app(run_app: Any, dsn: str, tmp_path: Path) -> Callable[..., Any]:
    def run(body: str, level: str = "crash", prelude: str = PRELUDE) -> Any:
        env = {"TEST_DSN": dsn, "TEST_DATA": str(tmp_path / "data"), "TEST_LEVEL": level}
        return run_app(prelude + body, env=env)
    return run


def test_main_thread_crash_is_queued_and_traceback_still_prints(app: Any, tmp_path: Path, opener: Any) -> None:
    """An uncaught exception is on disk at exit; the app's traceback and exit code are unchanged."""
    result = app("def main():\n    raise ValueError('boom')\nmain()\n")
    [report] = queued(tmp_path / "data", opener)
    assert (1, True) == (result.returncode, "ValueError: boom" in result.stderr)
    assert ("ValueError", "excepthook", ["main.py"]) == (
        report["crash_type"], report["mechanism"], sorted({f["file"] for f in report["stack"]["frames"]}))


def test_previous_excepthook_is_chained(app: Any) -> None:
    """A hook the app installed before init is still called."""
    prelude = ("import sys\nsys.excepthook = lambda *a: print('APP HOOK', file=sys.stderr)\n" + PRELUDE)
    result = app("raise KeyError(1)\n", prelude=prelude)
    assert (1, "APP HOOK") == (result.returncode, result.stderr.strip().splitlines()[-1])


def test_thread_crash(app: Any, tmp_path: Path, opener: Any) -> None:
    """An exception in a thread is reported with mechanism ``thread``; the default hook still prints."""
    result = app("import threading\nt = threading.Thread(target=lambda: 1/0)\nt.start(); t.join()\n")
    [report] = queued(tmp_path / "data", opener)
    assert (0, "ZeroDivisionError", "thread", True) == (result.returncode, report["crash_type"], report["mechanism"],
                                                        "ZeroDivisionError" in result.stderr)


def test_asyncio_unretrieved_task_exception(app: Any, tmp_path: Path, opener: Any) -> None:
    """A task exception nobody retrieved reaches the loop handler and is reported as ``asyncio``."""
    prelude = "import asyncio\n" + PRELUDE
    body = ("import gc\nasync def boom():\n    raise LookupError('x')\n"
            "async def main():\n    t = asyncio.ensure_future(boom())\n    await asyncio.wait([t])\n    del t\n"
            "    gc.collect()\nasyncio.run(main())\n")
    result = app(body, prelude=prelude)
    reports = queued(tmp_path / "data", opener)
    assert (0, [("LookupError", "asyncio")]) == (result.returncode,
                                                 [(r["crash_type"], r["mechanism"]) for r in reports])


def test_unraisable_during_shutdown(app: Any, tmp_path: Path, opener: Any) -> None:
    """An exception in an atexit callback during interpreter shutdown is still written to the queue."""
    prelude = "import atexit\ndef bye():\n    raise OSError(5, 'late')\natexit.register(bye)\n" + PRELUDE
    result = app("print('done')\n", prelude=prelude)
    reports = queued(tmp_path / "data", opener)
    assert (0, [("OSError", "unraisable", "errno:5")]) == (
        result.returncode, [(r["crash_type"], r["mechanism"], r.get("error_code")) for r in reports])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSEGV through ctypes")
def test_native_fault_is_reported_at_next_start(app: Any, tmp_path: Path, opener: Any) -> None:
    """A segfault leaves a faulthandler file that the next start turns into a ``native`` report."""
    first = app("import ctypes\ndef crash_here():\n    ctypes.string_at(0)\ncrash_here()\n")
    assert (-signal.SIGSEGV, []) == (first.returncode, queued(tmp_path / "data", opener))
    second = app("pass\n")
    [report] = queued(tmp_path / "data", opener)
    assert (0, "SIGSEGV", "signal:11", "native") == (second.returncode, report["crash_type"], report["error_code"],
                                                      report["mechanism"])
    assert ("main.py", "crash_here", True) in [(f["file"], f["function"], f["in_app"])
                                               for f in report["stack"]["frames"]]
    assert [] == list((tmp_path / "data" / "native").glob("fault-*.log"))[:0] + [
        p for p in (tmp_path / "data" / "native").glob("fault-*.log") if p.stat().st_size]


def ca_der() -> bytes:
    """A throwaway self-signed CA certificate (DER), so the HTTPS transport gets as far as a socket."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_consent_off_writes_nothing_and_opens_no_socket(run_app: Any, dsn: str, tmp_path: Path) -> None:
    """With consent off a crashing app leaves no file in its data dir and constructs no socket."""
    import dataclasses

    from crashveil.wire.protocol import ConnectionString

    dsn = dataclasses.replace(ConnectionString.parse(dsn), ca_der=ca_der()).format()
    source = """
        import os, socket
        _socket = socket.socket
        class Recording(_socket):
            def __init__(self, *args, **kwargs):
                with open(os.environ["SOCKET_LOG"], "a") as log:
                    log.write("socket\\n")
                super().__init__(*args, **kwargs)
        socket.socket = Recording
        import crashveil
        crashveil.init(dsn=os.environ["TEST_DSN"], app_name="offapp")
        if os.environ.get("GRANT"):
            crashveil.grant("crash")
        raise ValueError("boom")
    """
    log = tmp_path / "sockets.log"
    env = {"TEST_DSN": dsn, "SOCKET_LOG": str(log)}
    result = run_app(source, env=env)
    home = tmp_path / "home"
    assert (1, [], False) == (result.returncode, sorted(str(p) for p in home.rglob("*")), log.exists())
    # The same app with consent writes its data dir and tries to send: the probes work.
    run_app(source, env={**env, "GRANT": "1"})
    assert (True, True) == ((home / ".local" / "share" / "offapp" / "crashveil" / "queue").is_dir(), log.exists())


class _CountingClient:
    """Stands in for ``Client`` behind ``Hooks._capture``: records what was captured, by name only
    (holding the exceptions would hide a leak and pin their addresses)."""

    def __init__(self) -> None:
        self.captured: list[tuple[str, str]] = []

    def capture_exception(self, exc: BaseException, *, mechanism: str = "manual", tb: Any = None) -> str:
        self.captured.append((str(exc), mechanism))
        return "id"


def _bare_hooks() -> tuple[Any, _CountingClient]:
    from crashveil.sdk.hooks import Hooks

    client = _CountingClient()
    hooks = Hooks(client)  # type: ignore[arg-type]
    hooks.active = True  # capturing, without replacing the interpreter's hooks in this process
    return hooks, client


def test_distinct_crashes_at_a_reused_address_are_each_captured() -> None:
    """A crash whose exception is freed, then a new one CPython places at the same address:
    both are captured (an id-based "already seen" skipped the second)."""
    hooks, client = _bare_hooks()
    addresses: list[int] = []
    for i in range(20):
        exc = LookupError(f"crash {i}")
        addresses.append(id(exc))
        hooks._capture(exc, "thread")
        del exc
    assert (True, [(f"crash {i}", "thread") for i in range(20)]) == (
        len(set(addresses)) < len(addresses), client.captured)


def test_one_exception_seen_by_two_hooks_is_captured_once() -> None:
    """Logged, then raised to the excepthook; or threading.excepthook then sys.excepthook: one report."""
    hooks, client = _bare_hooks()
    first, second = ValueError("one"), ValueError("two")
    for exc, mechanism in ((first, "logging"), (first, "excepthook"), (second, "thread"), (first, "unraisable"),
                           (second, "excepthook")):
        hooks._capture(exc, mechanism)
    assert [("one", "logging"), ("two", "thread")] == client.captured


def test_hooks_keep_no_captured_exception_alive() -> None:
    """After a capture the SDK holds no reference to the exception (nor its traceback and frames):
    one whose class allows weak references is freed once the app drops it, a built-in one has
    no more referrers than before."""
    import gc
    import weakref

    hooks, client = _bare_hooks()
    try:
        raise type("AppError", (KeyError,), {})("held?")
    except KeyError as caught:
        exc = caught
    alive = weakref.ref(exc)
    hooks._capture(exc, "excepthook", exc.__traceback__)
    del exc
    gc.collect()
    builtin = KeyError("built-in")
    before = sys.getrefcount(builtin)
    hooks._capture(builtin, "thread", None)
    assert (None, before, 2) == (alive(), sys.getrefcount(builtin), len(client.captured))


def test_unhashable_app_exception_is_captured_once() -> None:
    """An app exception class with ``__eq__`` and no ``__hash__`` (unhashable) is remembered too."""
    hooks, client = _bare_hooks()

    class Unhashable(Exception):
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("the SDK must not compare exceptions")

    exc = Unhashable("u")
    hooks._capture(exc, "logging")
    hooks._capture(exc, "excepthook")
    assert [("u", "logging")] == client.captured


def test_a_copy_of_a_seen_builtin_exception_is_a_new_crash_and_it_still_pickles() -> None:
    """A built-in exception (no weak references) is remembered by a marker on itself: a copy or
    an unpickled twin is another object, captured again; pickling the marked one still works."""
    import copy
    import pickle

    hooks, client = _bare_hooks()
    exc = OSError(5, "disk")
    hooks._capture(exc, "logging")
    hooks._capture(exc, "excepthook")
    twin = pickle.loads(pickle.dumps(exc))
    hooks._capture(copy.copy(exc), "thread")
    hooks._capture(twin, "unraisable")
    assert (["logging", "thread", "unraisable"], (5, "disk")) == ([m for _, m in client.captured], twin.args)
