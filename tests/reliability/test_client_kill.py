"""The app's own process fails: SIGKILL while its sender flushes the on-disk queue or while a
crash is being written to it; an exception at interpreter shutdown while the sender is busy;
an app ``excepthook`` that raises. Each time the next start delivers everything that reached
the disk, once.

Real parts only: the app is a subprocess using the SDK as an app does (``crashveil.init`` with
a DSN, client certificate, consent granted, ``capture_exception`` and the crash hooks), the
server is the real one (``tests/_servers.py``, mutual TLS), kills are SIGKILL. The project's
policy is the shipped one with its SDK rate limits raised (``crashveil project set-policy``),
so that the SDK does not drop the test's crashes by design.

What "reached the disk" means is read from the disk: after each kill the test opens every
``.cvq`` file of the app's queue with the project's private key (as the server would) and
adds its report id to the app's own log of ids ``capture_exception`` returned.

Kills that must land in a window of a few hundred microseconds (a queue file being written,
a report in flight, a report the server stored that the app has not yet removed) are aimed
by freezing the app with SIGSTOP at random instants, looking at its files, locks and sockets
from outside, and sending SIGKILL while it is frozen inside the window (else SIGCONT).

``CRASHVEIL_RELIABILITY_SCALE`` multiplies the kills; ``CRASHVEIL_KILL_SEED`` replays a run.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

servers = sys.modules["crashveil_tests_servers"]  # tests/_servers.py, loaded by conftest.py
SCALE = max(1, int(os.environ.get("CRASHVEIL_RELIABILITY_SCALE", "1")))
_OUT = Path(__file__).resolve().parents[2] / "test-output" / "reliability"

pytestmark = pytest.mark.slow
MODES = ("writing", "sending", "acknowledged", "random")

APP = textwrap.dedent('''
    import atexit, os, sys, threading
    from crashveil.sdk import _internal

    def note_internal_error(exc):  # what the SDK swallows, for the test to see
        with open(os.environ["APP_ERRORS"], "a") as out:
            out.write(f"{os.getpid()} {type(exc).__name__} at {_internal._where(exc)}\\n")

    _internal.add_error_listener(note_internal_error)
    SCENARIO = os.environ["APP_SCENARIO"]
    TAG = os.environ.get("APP_TAG", "")

    KEEP = []  # exceptions raised at exit stay alive to the end: each is a distinct object

    def failing_atexit():
        KEEP.append(type(f"AtExitBefore{TAG}", (OSError,), {})(5, "late"))
        raise KEEP[-1]

    def failing_hook(*args):
        print("APP HOOK", file=sys.stderr)
        raise type(f"AppHookBroke{TAG}", (RuntimeError,), {})("the app's hook failed")

    if SCENARIO == "shutdown":
        atexit.register(failing_atexit)  # before init: runs after crashveil's own exit flush
    if SCENARIO == "hook_before_init":
        sys.excepthook = failing_hook
    if SCENARIO == "thread_hook_before_init":
        threading.excepthook = failing_hook

    import crashveil

    crashveil.init(dsn=os.environ["APP_DSN"], data_dir=os.environ["APP_DATA"], app_name="killapp", release="1.0",
                   client_cert=os.environ["APP_CERT"], client_key=os.environ["APP_KEY"],
                   policy=os.environ["APP_POLICY"], flush_timeout_s=float(os.environ["APP_FLUSH_S"]))
    crashveil.grant("crash")
    ids = os.open(os.environ["APP_IDS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def crash(name):
        try:
            raise type(name, (LookupError,), {})("boom")
        except LookupError as exc:
            report_id = crashveil.capture_exception(exc)
        if report_id:
            os.write(ids, (report_id + "\\n").encode())  # after the capture returned: on disk

    print("ready", flush=True)
    for i in range(int(os.environ.get("APP_CRASHES", "0"))):
        crash(f"Crash{TAG}x{i}")
    if SCENARIO == "crashes":
        print("flushed", crashveil.flush(), flush=True)
    elif SCENARIO == "shutdown":
        def failing_late():
            KEEP.append(type(f"AtExitAfter{TAG}", (OSError,), {})(5, "late"))
            raise KEEP[-1]

        atexit.register(failing_late)  # after init: runs before crashveil's exit flush
    elif SCENARIO == "hook_after_init":
        ours = sys.excepthook

        def chaining(*args):
            ours(*args)
            failing_hook(*args)

        sys.excepthook = chaining
    if SCENARIO.startswith("hook_"):
        raise type(f"MainCrash{TAG}", (ValueError,), {})("boom")
    if SCENARIO == "thread_hook_before_init":
        worker = threading.Thread(target=lambda: 1 / 0)
        worker.start()
        worker.join()
''')


def _policy_file(path: Path) -> Path:
    """The shipped policy with the SDK's rate limits and queue size raised (same fields, levels)."""
    from crashveil.policy.loader import default_policy_path

    text = default_policy_path().read_text()
    for old, new in (("reports_per_hour = 10\n", "reports_per_hour = 100000\n"),
                     ("reports_per_day = 50\n", "reports_per_day = 100000\n"),
                     ("queue_max_reports = 30\n", "queue_max_reports = 1000\n")):
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return path


@dataclass
class App:
    """The test app over one data directory, reporting to ``server``."""

    server: Any
    root: Path
    set_policy: bool = True  # False: another App on this server already did
    policy: Path = field(init=False)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "app").mkdir(parents=True, exist_ok=True)
        (self.root / "home").mkdir(exist_ok=True)
        (self.root / "app" / "main.py").write_text(APP)
        self.policy = _policy_file(self.root / "policy.toml")
        if not self.set_policy:
            return
        done = subprocess.run([sys.executable, "-m", "crashveil", "project", "set-policy", "demo", str(self.policy),
                               "--server-dir", str(self.server.dir.path)], capture_output=True, text=True, timeout=120)
        assert 0 == done.returncode, done.stderr

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def queue_dir(self) -> Path:
        return self.data / "queue"

    @property
    def errors(self) -> list[str]:
        path = self.root / "internal-errors.log"
        return path.read_text().splitlines() if path.exists() else []

    @property
    def logged_ids(self) -> set[str]:
        path = self.root / "ids.log"
        return set(path.read_text().split()) if path.exists() else set()

    def start(self, scenario: str, *, crashes: int = 0, tag: str = "", flush_s: float = 60.0) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CRASHVEIL_") and k not in ("XDG_DATA_HOME", "PYTHONFAULTHANDLER")}
        env.update({"HOME": str(self.root / "home"), "PYTHONDONTWRITEBYTECODE": "1", "APP_SCENARIO": scenario,
                    "APP_CRASHES": str(crashes), "APP_TAG": tag, "APP_FLUSH_S": str(flush_s),
                    "APP_DSN": self.server.dsn(), "APP_DATA": str(self.data), "APP_POLICY": str(self.policy),
                    "APP_CERT": str(self.server.dir.client_cert), "APP_KEY": str(self.server.dir.client_key),
                    "APP_IDS": str(self.root / "ids.log"), "APP_ERRORS": str(self.root / "internal-errors.log")})
        proc = subprocess.Popen([sys.executable, str(self.root / "app" / "main.py")], cwd=str(self.root), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def run(self, scenario: str, *, timeout: float = 120.0, **kwargs: Any) -> tuple[int, str, str]:
        proc = self.start(scenario, **kwargs)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def app(make_server: Any, tmp_path: Path) -> Any:
    server = make_server(None, CRASHVEIL_PSEUDONYM_RATE_PER_HOUR="1000000")
    made = App(server, tmp_path / "client")  # sets the policy before the server reads its projects
    server.start()
    yield made
    made.close()


def _wait_ready(proc: subprocess.Popen[str], timeout_s: float = 60.0) -> None:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    line = proc.stdout.readline() if ready else ""
    assert "ready\n" == line, (line, proc.poll())


@dataclass
class QueueOnDisk:
    """What a killed app left in its queue directory."""

    report_ids: set[str]
    torn_items: list[str]  # .cvq files that do not decode or open: must never exist
    temp_files: list[str]  # .tmp-* files: a write the kill interrupted


def _queue_on_disk(app: App, keypairs: Any) -> QueueOnDisk:
    from crashveil.sdk.delivery.queue import decode_item
    from crashveil.server.keys.crypto import open_report

    ids, torn, temp = set(), [], []
    if not app.queue_dir.is_dir():
        return QueueOnDisk(ids, torn, temp)
    for path in sorted(app.queue_dir.iterdir()):
        if path.name.startswith(".tmp-"):
            temp.append(path.name)
        elif path.suffix == ".cvq":
            try:
                meta, sealed = decode_item(path.read_bytes())
                ids.add(json.loads(open_report(sealed, keypairs, project_id="demo", schema_version=1))["report_id"])
            except FileNotFoundError:
                continue
            except Exception as exc:  # noqa: BLE001 - any failure to read an item is the finding
                torn.append(f"{path.name}: {type(exc).__name__}")
    return QueueOnDisk(ids, torn, temp)


def _stored(app: App) -> list[str]:
    return [row[0] for row in servers.stored_rows(app.server.dir)]


def _keypairs(app: App) -> Any:
    storage = app.server.dir.storage()
    try:
        return storage.project("demo", fresh=True).keypairs
    finally:
        storage.close()


def _all_stopped(pid: int) -> bool:
    """Every thread of ``pid`` is stopped (or gone)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return True
    for task in tasks:
        try:
            state = Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            continue
        if state not in ("T", "t", "Z", "X"):
            return False
    return True


def _writing(app: App, seen: set[str]) -> Any:
    """True while a queue item is being written: a new ``.tmp-*.cvq`` exists, not yet renamed."""
    def check(pid: int) -> bool:
        try:
            return any(n.startswith(".tmp-") and n.endswith(".cvq") and n not in seen
                       for n in os.listdir(app.queue_dir))
        except FileNotFoundError:
            return False
    return check


def _holds_send_lock(app: App, pid: int) -> bool:
    """Whether ``pid`` holds the queue's send lock (``SealedQueue.sending``: one item in hand)."""
    try:
        lock = os.stat(app.queue_dir / ".send.lock").st_ino
    except FileNotFoundError:
        return False
    return any(cols[1] == "FLOCK" and cols[4] == str(pid) and cols[5].endswith(f":{lock}")
               for cols in (line.split() for line in Path("/proc/locks").read_text().splitlines()))


def _sending(app: App) -> Any:
    """True while the sender has a report in flight: it holds the send lock and has a TCP
    connection established to the server."""
    port = f":{app.server.port:04X}"

    def check(pid: int) -> bool:
        try:
            inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                      if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
        except FileNotFoundError:
            return False
        for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[2].endswith(port) and cols[3] == "01" and cols[9] in inodes:  # 01: ESTABLISHED
                return _holds_send_lock(app, pid)
        return False
    return check


def _acknowledged(app: App, keypairs: Any) -> Any:
    """True between the server storing a report and the app removing it from its queue: the
    sender holds the send lock and a queued report id is already in the server's database."""
    import sqlite3

    from crashveil.sdk.delivery.queue import decode_item
    from crashveil.server.keys.crypto import open_report

    known: dict[str, str] = {}

    def check(pid: int) -> bool:
        if not _holds_send_lock(app, pid):
            return False
        names = [n for n in os.listdir(app.queue_dir) if n.endswith(".cvq") and not n.startswith(".")]
        for name in names:
            if name not in known:
                try:
                    sealed = decode_item((app.queue_dir / name).read_bytes())[1]
                    known[name] = json.loads(open_report(sealed, keypairs, project_id="demo",
                                                         schema_version=1))["report_id"]
                except FileNotFoundError:
                    continue
        db = sqlite3.connect(f"file:{app.server.dir.path / 'crashveil.db'}?mode=ro", uri=True, timeout=5)
        try:
            stored = {row[0] for row in db.execute("SELECT report_id FROM reports")}
        finally:
            db.close()
        return any(known.get(name) in stored for name in names)
    return check


def _kill_when(proc: subprocess.Popen[str], predicate: Any, rng: random.Random, timeout_s: float) -> bool:
    """SIGSTOP at random moments until ``predicate(pid)`` holds while the app is frozen, then
    SIGKILL it in that state; SIGKILL anyway after ``timeout_s``. Whether it was caught."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(rng.uniform(0.0, 0.003))  # a random moment to freeze the app at (inside the deadline)
        proc.send_signal(signal.SIGSTOP)
        frozen_by = time.monotonic() + 1.0
        while not _all_stopped(proc.pid) and time.monotonic() < frozen_by:
            pass
        if predicate(proc.pid):
            proc.send_signal(signal.SIGKILL)
            return True
        proc.send_signal(signal.SIGCONT)
    proc.send_signal(signal.SIGKILL)
    return False


def test_sigkill_while_flushing_or_writing_loses_nothing_that_reached_the_disk(app: App) -> None:
    """SIGKILL at random moments while the app writes crashes to its queue and while its sender
    flushes the queue; the next start delivers every report that was on disk, each stored once,
    and no torn item is ever seen or trips the SDK."""
    kills = 8 * SCALE
    seed = int(os.environ.get("CRASHVEIL_KILL_SEED", str(random.SystemRandom().randrange(1 << 30))))
    rng = random.Random(seed)
    keypairs = _keypairs(app)
    on_disk: set[str] = set()
    rounds: list[dict[str, Any]] = []
    temp_seen: set[str] = set()
    for index in range(kills):
        mode = MODES[index % len(MODES)]
        # "writing": a long burst of crashes, caught while one is being written to the queue;
        # "sending": caught while the sender has a report in flight; "acknowledged": caught
        # after the server stored a report, before the app removed it; "random": any moment.
        proc = app.start("crashes", crashes={"writing": 300, "random": 12}.get(mode, 8), tag=f"r{index}")
        _wait_ready(proc)
        if mode == "random":  # 12 sends take >= 1.1 s (the sender's 100 ms pacing): still running at 0.8 s
            time.sleep(rng.uniform(0.0, 0.8))  # the fault's random moment, not a wait for anything
            caught = proc.poll() is None
            proc.send_signal(signal.SIGKILL)
        else:
            probe = {"writing": lambda temp_seen=temp_seen: _writing(app, temp_seen), "sending": lambda: _sending(app),
                     "acknowledged": lambda: _acknowledged(app, keypairs)}[mode]()
            caught = _kill_when(proc, probe, rng, 20.0)
        proc.communicate(timeout=30)
        left = _queue_on_disk(app, keypairs)
        stored = set(_stored(app))
        on_disk |= left.report_ids
        rounds.append({"mode": mode, "caught": caught, "queued": len(left.report_ids),
                       "stored_but_queued": len(left.report_ids & stored),
                       "temp_files": sorted(set(left.temp_files) - temp_seen), "torn_items": left.torn_items})
        temp_seen |= set(left.temp_files)
    for _ in range(1 + kills // 4):  # the next start delivers what is queued (a long run's backlog: a few starts)
        code, out, err = app.run("crashes")
        if code or out != "ready\nflushed False\n":
            break
    after = _queue_on_disk(app, keypairs)
    aged: list[str] = []
    if after.temp_files:
        # An interrupted write leaves its temp file; the SDK removes one an hour old at start.
        for name in after.temp_files:
            os.utime(app.queue_dir / name, (time.time() - 7200, time.time() - 7200))
        app.run("crashes")
        aged = _queue_on_disk(app, keypairs).temp_files
    stored_ids = _stored(app)
    expected = app.logged_ids | on_disk
    result = {"seed": seed, "kills": kills, "caught": {m: sum(r["caught"] for r in rounds if r["mode"] == m)
                                                      for m in MODES},
              "reports_written": len(app.logged_ids), "on_disk_at_a_kill": len(on_disk),
              "expected": len(expected), "stored": len(stored_ids),
              "stored_but_still_queued_at_kill": sum(r["stored_but_queued"] for r in rounds),
              "kills_during_a_write": sum(1 for r in rounds if r["temp_files"]),
              "lost": len(expected - set(stored_ids)), "duplicates": len(stored_ids) - len(set(stored_ids)),
              "torn_items": sum(len(r["torn_items"]) for r in rounds), "internal_errors": app.errors,
              "rounds": rounds}
    _OUT.mkdir(parents=True, exist_ok=True)
    (_OUT / "client-kill.json").write_text(json.dumps(result, indent=2) + "\n")
    message = f"seed {seed}: {json.dumps({k: v for k, v in result.items() if k != 'rounds'})}\n{err[-3000:]}"
    # Each kill hit its moment: a write left its temp file, an acknowledged report was still queued.
    hit = [r["mode"] for r in rounds if r["caught"] and (r["mode"] != "writing" or r["temp_files"])
           and (r["mode"] != "acknowledged" or r["stored_but_queued"])]
    assert (kills, [], [], [], 0) == (len(hit), sorted(expected - set(stored_ids)),
                                      [r["torn_items"] for r in rounds if r["torn_items"]], app.errors,
                                      result["duplicates"]), message
    assert (0, "flushed True\n", "", [], [], []) == (code, out.replace("ready\n", ""), err, sorted(after.report_ids),
                                                     after.torn_items, aged), message
    assert [] == servers.consistency_problems(app.server.dir), message


def _delivered(app: App, ids: Any = None) -> list[tuple[str, str]]:
    """(crash type, mechanism) of every stored report (of ``ids`` if given), from its decrypted detail."""
    storage = app.server.dir.storage()
    try:
        details = [storage.report_detail("demo", report_id) for report_id in _stored(app)
                   if ids is None or report_id in ids]
    finally:
        storage.close()
    return sorted((d.report.crash_type.rsplit(".", 1)[-1], str(d.report.mechanism)) if d else ("?", "?")
                  for d in details)


def test_crash_at_interpreter_shutdown_while_the_sender_is_busy_is_delivered_at_next_start(app: App) -> None:
    """Exceptions in atexit callbacks, one running before crashveil's exit flush and one after
    it, while the sender still has a backlog: both are written to the queue and the next start
    delivers them and the backlog, each once."""
    code, out, err = app.run("shutdown", crashes=6, tag="S", flush_s=0.3)
    left = _queue_on_disk(app, _keypairs(app))
    code2, out2, err2 = app.run("crashes")
    delivered = _delivered(app)
    assert (0, 2, "flushed True\n") == (code, err.count("Exception ignored in"), out2.replace("ready\n", "")), err
    assert (
        [("AtExitAfterS", "unraisable"), ("AtExitBeforeS", "unraisable")]
        + [(f"CrashSx{i}", "manual") for i in range(6)],
        [],
        [],
        True,
    ) == (delivered, sorted(app.logged_ids - set(_stored(app))), app.errors, len(left.report_ids) > 0), (err, err2)


def test_app_hooks_that_raise_do_not_lose_the_crash(app: App) -> None:
    """The app's own hook raises: one installed before ``init()`` (ours captures, then chains to
    it), one installed after that calls ours first, a ``threading.excepthook`` that raises
    (Python then hands the hook's own error to ``sys.excepthook``). The app still fails as it
    would without crashveil; every crash our hooks saw is delivered, once, by the next start."""
    expected = {"hook_before_init": (1, "Error in sys.excepthook", [("MainCrashH", "excepthook")]),
                "hook_after_init": (1, "Error in sys.excepthook", [("MainCrashH", "excepthook")]),
                "thread_hook_before_init": (0, "Exception in threading.excepthook",
                                            [("AppHookBrokeH", "excepthook"), ("ZeroDivisionError", "thread")])}
    seen = {}
    for scenario in expected:  # one app (data directory) per scenario, one server
        one = app if scenario == "hook_before_init" else App(app.server, app.root.parent / scenario, set_policy=False)
        before = set(_stored(app))
        try:
            code, _, err = one.run(scenario, tag="H")
            _, out, _ = one.run("crashes")
        finally:
            one.close()
        seen[scenario] = (code, expected[scenario][1] if expected[scenario][1] in err else err[-1000:],
                          _delivered(app, set(_stored(app)) - before), "APP HOOK" in err, out, one.errors)
    assert {s: (c, m, d, True, "ready\nflushed True\n", []) for s, (c, m, d) in expected.items()} == seen
