"""Several server processes: N fronts and one writer (``run.run_processes``), and the
socket protocol between them (``ingest.WriterClient`` / ``ingest.serve_writer``)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crashveil.errors import StorageError
from crashveil.server.http.run import share_limits
from crashveil.server.ingest.writer import WriterClient, serve_writer
from crashveil.server.settings import Settings
from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE, receipt_path, reports_path

from .test_run_tls import ServerDir, _client, _free_port, _init_from_test_pki, _sealed_report

# --- the protocol, in one process ----------------------------------------------------------------

def _writer_thread(store_rows: Any, writer_ends: list[socket.socket] | None = None
                   ) -> tuple[list[socket.socket], threading.Thread]:
    """A writer thread serving two socket pairs; the fronts' ends are returned (the writer's
    ends are appended to ``writer_ends`` when given)."""
    pairs = [socket.socketpair() for _ in range(2)]
    if writer_ends is not None:
        writer_ends.extend(a for a, _ in pairs)
    thread = threading.Thread(target=serve_writer, args=(store_rows, [a for a, _ in pairs]), daemon=True)
    thread.start()
    return [b for _, b in pairs], thread


def _has_unread_bytes(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False


def test_rows_of_all_fronts_are_stored_together_and_answered_in_order() -> None:
    batches: list[list[int]] = []
    first: list[int] = []
    gate = threading.Event()

    def store_rows(rows: list[int]) -> list[int]:
        if not first:
            first.extend(rows)
        gate.wait(5)
        batches.append(rows)
        return [row * 10 for row in rows]

    writer_ends: list[socket.socket] = []
    ends, thread = _writer_thread(store_rows, writer_ends)

    def all_rows_waiting() -> bool:
        """The writer holds its first batch, and each front's other rows wait in its socket."""
        return bool(first) and all(set(rows) <= set(first) or _has_unread_bytes(end)
                                   for rows, end in ((range(5), writer_ends[0]), (range(5, 9), writer_ends[1])))

    async def front(end: socket.socket, rows: range) -> list[int]:
        client = WriterClient()
        await client.connect(end)
        try:
            return list(await asyncio.gather(*(client.submit_async(row) for row in rows)))
        finally:
            client.close()

    async def main() -> list[list[int]]:
        first = asyncio.ensure_future(front(ends[0], range(5)))
        second = asyncio.ensure_future(front(ends[1], range(5, 9)))
        deadline = time.monotonic() + 10
        while not all_rows_waiting():  # both fronts' rows are waiting in the writer's sockets
            assert time.monotonic() < deadline, "the fronts' rows did not reach the writer"
            await asyncio.sleep(0.005)
        gate.set()
        return [await first, await second]

    assert [[0, 10, 20, 30, 40], [50, 60, 70, 80]] == asyncio.run(main())
    thread.join(5)
    assert not thread.is_alive()  # both fronts closed: the writer is done
    assert sorted(sum(batches, [])) == list(range(9)) and len(batches) <= 2


def test_many_rows_at_once_go_in_several_frames() -> None:
    from crashveil.server.ingest.writer import ROWS_PER_FRAME

    sizes: list[int] = []

    def store_rows(rows: list[int]) -> list[int]:
        sizes.append(len(rows))
        return [-row for row in rows]

    ends, thread = _writer_thread(store_rows)

    async def main() -> list[int]:
        client = WriterClient()
        await client.connect(ends[0])
        try:
            return list(await asyncio.gather(*(client.submit_async(row) for row in range(3 * ROWS_PER_FRAME))))
        finally:
            client.close()
            ends[1].close()

    assert [-row for row in range(3 * ROWS_PER_FRAME)] == asyncio.run(main())
    thread.join(5)
    assert sum(sizes) == 3 * ROWS_PER_FRAME


def test_storage_failure_and_a_lost_writer_are_storage_errors() -> None:
    def store_rows(rows: list[int]) -> list[int]:
        raise StorageError("database is locked (test)")

    ends, thread = _writer_thread(store_rows)

    async def main() -> tuple[str, str, str]:
        client = WriterClient()
        await client.connect(ends[0])
        with pytest.raises(StorageError) as failed:
            await client.submit_async(1)
        ends[1].close()
        mine, writers = socket.socketpair()  # a writer that never answers, then goes away
        writers.setblocking(False)
        other = WriterClient()
        await other.connect(mine)
        pending = other.submit_async(2)
        # The row has reached the writer (it reads the frame), and then the writer goes away.
        assert await asyncio.wait_for(asyncio.get_running_loop().sock_recv(writers, 1 << 16), 10)
        writers.close()
        with pytest.raises(StorageError) as lost:
            await pending
        with pytest.raises(StorageError) as later:
            other.submit_async(3)
        client.close()
        other.close()
        return str(failed.value), str(lost.value), str(later.value)

    assert ("database is locked (test)", "the writer process is gone",
            "the writer process is gone") == asyncio.run(main())
    thread.join(5)


def test_rate_limits_are_shared_among_fronts(tmp_path: Path) -> None:
    settings = Settings(server_dir=tmp_path, database_url="sqlite:///x.db", project_rate_per_s=200.0,
                        project_burst=2000, pseudonym_rate_per_hour=60)
    shared = share_limits(settings, 3)
    assert (200.0 / 3, 667, 20) == (shared.project_rate_per_s, shared.project_burst, shared.pseudonym_rate_per_hour)
    assert share_limits(settings, 1) is settings


# --- the real server -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> ServerDir:
    return _init_from_test_pki(tmp_path_factory.mktemp("server") / "srv")


def _children(pid: int) -> list[int]:
    """The server's processes (not multiprocessing's resource tracker)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]


def _listening(port: int) -> int:
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            count += 1
    return count


_TWO_FRONTS = ("import sys; from pathlib import Path; from crashveil.server.settings import Settings; "
               "from crashveil.server.http.run import run_server; "
               "run_server(Settings.load(Path(sys.argv[1])), workers=2)")


def start_two_fronts(server_dir: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``run_server(workers=2)`` over ``server_dir`` in a subprocess (output to ``log``),
    returned once both fronts listen on the ports ``env`` names."""
    ports = (int(env["CRASHVEIL_PORT"]), int(env["CRASHVEIL_WEB_PORT"]))
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", _TWO_FRONTS, str(server_dir)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while any(_listening(port) < 2 for port in ports):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the fronts did not start: {log.read_text()}")
        time.sleep(0.1)
    return process


@pytest.fixture
def two_fronts(server_dir: ServerDir, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port, web_port = _free_port(), _free_port()
    env = {**os.environ, "CRASHVEIL_PORT": str(port), "CRASHVEIL_WEB_PORT": str(web_port)}
    log = tmp_path / "server.log"
    process = start_two_fronts(server_dir.path, env, log)
    yield process, port, log
    if process.poll() is None:
        process.kill()
        process.wait(30)


def test_two_fronts_and_a_writer_store_and_answer_retries_alike(server_dir: ServerDir, two_fronts: Any) -> None:
    process, port, log = two_fronts
    headers = {"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"}
    url = f"https://127.0.0.1:{port}"
    sealed = [_sealed_report(server_dir)[1] for _ in range(6)]
    answers = []
    for body in sealed + sealed[:2]:  # new connections: both fronts get some
        with _client(server_dir) as client:
            answers.append(client.post(url + reports_path("demo"), content=body, headers=headers))
    with _client(server_dir) as client:
        status = client.get(url + receipt_path(answers[0].json()["receipt"]))
    assert [201] * 6 + [200, 200] == [a.status_code for a in answers]
    assert [a.json()["receipt"] for a in answers[:2]] == [a.json()["receipt"] for a in answers[6:]]
    assert "grouped" == status.json()["status"]
    assert 3 == len(_children(process.pid))  # the writer and two fronts

    process.send_signal(signal.SIGTERM)
    assert 0 == process.wait(60), log.read_text()


def test_the_fronts_and_the_writer_die_with_the_parent(two_fronts: Any) -> None:
    process, _, _ = two_fronts
    children = _children(process.pid)
    assert 3 == len(children)
    process.kill()
    process.wait(30)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
              for pid in children):
        assert time.monotonic() < deadline, "children outlived the parent"
        time.sleep(0.1)


def test_a_dead_child_stops_the_server(two_fronts: Any) -> None:
    process, _, log = two_fronts
    os.kill(_children(process.pid)[-1], signal.SIGKILL)
    assert 0 != process.wait(60)
    assert "a server process exited on its own" in log.read_text()
