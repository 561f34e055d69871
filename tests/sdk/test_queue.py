"""The sealed on-disk queue: framing, atomic writes, bounds, damage, concurrency."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from crashveil.errors import StorageError
from crashveil.sdk.delivery.queue import QueueMeta, SealedQueue, decode_item, encode_item


class Clock:
    """A settable clock."""

    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def meta(clock: Clock, kind: str = "report") -> QueueMeta:
    return QueueMeta(kind=kind, crash_type="ValueError", level="crash", created=clock(), attempts=0)


def make_queue(tmp_path: Path, clock: Clock, **bounds: int) -> SealedQueue:
    settings = {"max_reports": 30, "max_bytes": 2_000_000, "max_age_days": 30, **bounds}
    return SealedQueue(tmp_path / "q", now=clock, **settings)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def put_n(queue: SealedQueue, clock: Clock, n: int, size: int = 100) -> list[str]:
    ids = []
    for i in range(n):
        clock.t += 1
        ids.append(queue.put(bytes([i % 256]) * size, meta(clock)))
    return ids


def test_round_trip_keeps_bytes_and_meta(tmp_path: Path, clock: Clock) -> None:
    """An item put in is listed with its meta and read back byte for byte."""
    queue = make_queue(tmp_path, clock)
    item_id = queue.put(b"CVS1 sealed", meta(clock))
    [item] = queue.items()
    assert item_id == item.id
    assert meta(clock) == item.meta
    assert b"CVS1 sealed" == queue.read(item)


def test_items_are_listed_oldest_first(tmp_path: Path, clock: Clock) -> None:
    """items() returns items in the order they were queued."""
    queue = make_queue(tmp_path, clock)
    ids = put_n(queue, clock, 5)
    assert ids == [item.id for item in queue.items()]


def test_modes_are_private(tmp_path: Path, clock: Clock) -> None:
    """The directory is 0700 and every item file 0600, even with a permissive umask."""
    old = os.umask(0)
    try:
        queue = make_queue(tmp_path, clock)
        queue.put(b"x", meta(clock))
    finally:
        os.umask(old)
    [item] = queue.items()
    assert 0o700 == stat.S_IMODE(queue.directory.stat().st_mode)
    assert 0o600 == stat.S_IMODE(item.path.stat().st_mode)


def test_loose_existing_directory_is_tightened(tmp_path: Path, clock: Clock) -> None:
    """An existing queue directory readable by others is set back to 0700."""
    (tmp_path / "q").mkdir(mode=0o755)
    os.chmod(tmp_path / "q", 0o755)
    queue = make_queue(tmp_path, clock)
    assert 0o700 == stat.S_IMODE(queue.directory.stat().st_mode)


def test_no_temp_files_are_left_behind(tmp_path: Path, clock: Clock) -> None:
    """After puts only final item files, the lock and the counters remain."""
    queue = make_queue(tmp_path, clock)
    put_n(queue, clock, 3)
    names = sorted(p.name for p in queue.directory.iterdir())
    assert [] == [n for n in names if n.startswith(".tmp-")]
    assert 3 == len([n for n in names if n.endswith(".cvq")])


def test_count_bound_drops_oldest_and_counts(tmp_path: Path, clock: Clock) -> None:
    """Beyond max_reports the oldest items go first, each counted as queue_overflow."""
    queue = make_queue(tmp_path, clock, max_reports=3)
    ids = put_n(queue, clock, 5)
    assert ids[2:] == [item.id for item in queue.items()]
    assert {"queue_overflow": 2} == queue.dropped


def test_byte_bound_drops_oldest(tmp_path: Path, clock: Clock) -> None:
    """Beyond max_bytes the oldest items go until the total fits."""
    item_size = len(encode_item(b"a" * 1000, meta(clock)))
    queue = make_queue(tmp_path, clock, max_bytes=item_size * 2 + 10)
    ids = put_n(queue, clock, 4, size=1000)
    items = queue.items()
    assert ids[2:] == [item.id for item in items]
    assert item_size * 2 >= sum(item.size for item in items)
    assert {"queue_overflow": 2} == queue.dropped


def test_item_larger_than_bound_is_not_written(tmp_path: Path, clock: Clock) -> None:
    """An item bigger than max_bytes alone is refused and counted, and evicts nothing."""
    queue = make_queue(tmp_path, clock, max_bytes=500)
    put_n(queue, clock, 1)
    assert "" == queue.put(b"x" * 1000, meta(clock))
    assert 1 == len(queue.items())
    assert {"too_large": 1} == queue.dropped


def test_deletion_requests_are_evicted_last(tmp_path: Path, clock: Clock) -> None:
    """A full queue drops newer crash reports before an older deletion request."""
    queue = make_queue(tmp_path, clock, max_reports=2)
    deletion_id = queue.put(b"erase me", meta(clock, "deletion"))
    put_n(queue, clock, 3)
    items = queue.items()
    assert deletion_id == items[0].id
    assert ["deletion", "report"] == [item.meta.kind for item in items]


def test_expired_items_are_dropped_and_counted(tmp_path: Path, clock: Clock) -> None:
    """Items older than max_age_days are removed when listed, and counted as expired."""
    queue = make_queue(tmp_path, clock, max_age_days=2)
    put_n(queue, clock, 2)
    clock.t += 2 * 86400 + 10
    fresh = put_n(queue, clock, 1)
    assert fresh == [item.id for item in queue.items()]
    assert {"expired": 2} == queue.dropped


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on tmpfs when there is one: 10,000 file creations take ~3 s there instead of
    10-40 s on a busy ext4 (the bounds logic is the same; durability is tested elsewhere)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="crashveil-queue-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_ten_thousand_offline_puts_stay_within_bounds(fast_dir: Path, clock: Clock) -> None:
    """10,000 crashes while offline leave at most max_reports items, the newest, all counted."""
    queue = make_queue(fast_dir, clock, max_reports=30, max_bytes=200_000)
    ids = put_n(queue, clock, 10_000, size=4096)
    items = queue.items()
    assert ids[-len(items):] == [item.id for item in items]
    assert len(items) <= 30
    assert 200_000 >= sum(item.size for item in items)
    assert {"queue_overflow": 10_000 - len(items)} == queue.dropped
    assert len(items) == len(list(queue.directory.glob("*.cvq")))


def damage_truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def damage_zero_tail(data: bytes) -> bytes:
    return data[: len(data) // 2] + b"\x00" * (len(data) - len(data) // 2)


def damage_flip_payload(data: bytes) -> bytes:
    middle = len(data) - 40
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]


def damage_bad_magic(data: bytes) -> bytes:
    return b"XXXX" + data[4:]


def damage_empty(data: bytes) -> bytes:
    return b""


def damage_extra_bytes(data: bytes) -> bytes:
    return data + b"\x00"


def damage_all_zero(data: bytes) -> bytes:
    return b"\x00" * len(data)


@pytest.mark.parametrize("damage", [damage_truncate, damage_zero_tail, damage_flip_payload, damage_bad_magic,
                                    damage_empty, damage_extra_bytes, damage_all_zero])
def test_damaged_file_is_dropped_and_neighbours_survive(tmp_path: Path, clock: Clock, damage) -> None:
    """A torn, truncated, zero-filled or tampered file is removed and counted; the others stay."""
    queue = make_queue(tmp_path, clock)
    ids = put_n(queue, clock, 3)
    victim = queue.directory / f"{ids[1]}.cvq"
    victim.write_bytes(damage(victim.read_bytes()))
    assert [ids[0], ids[2]] == [item.id for item in queue.items()]
    assert {"corrupt": 1} == queue.dropped
    assert not victim.exists()


def test_every_truncation_point_is_detected(tmp_path: Path, clock: Clock) -> None:
    """A file cut at any byte never decodes (the framing catches every torn write)."""
    data = encode_item(b"sealed payload", meta(clock))
    for cut in range(len(data)):
        with pytest.raises(ValueError):
            decode_item(data[:cut])


def test_file_damaged_between_listing_and_reading(tmp_path: Path, clock: Clock) -> None:
    """read() checks again: a file damaged after items() raises StorageError and is removed."""
    queue = make_queue(tmp_path, clock)
    put_n(queue, clock, 1)
    [item] = queue.items()
    item.path.write_bytes(damage_zero_tail(item.path.read_bytes()))
    with pytest.raises(StorageError):
        queue.read(item)
    assert {"corrupt": 1} == queue.dropped
    assert [] == queue.items()


def test_queue_of_only_poison_empties_without_raising(tmp_path: Path, clock: Clock) -> None:
    """A directory full of garbage files is cleaned up in one listing and never raises."""
    queue = make_queue(tmp_path, clock)
    for i in range(20):
        (queue.directory / f"{i:017d}-1-0-garbage.cvq").write_bytes(os.urandom(i * 7))
    assert [] == queue.items()
    assert {"corrupt": 20} == queue.dropped
    assert [] == queue.items()


def test_stale_temp_file_is_removed(tmp_path: Path, clock: Clock) -> None:
    """A temp file left by a writer that died more than an hour ago is removed and counted."""
    queue = make_queue(tmp_path, clock)
    tmp = queue.directory / ".tmp-00000000000000001-1-0-dead.cvq"
    tmp.write_bytes(b"half")
    os.utime(tmp, (clock() - 7200, clock() - 7200))
    fresh = queue.directory / ".tmp-00000000000000002-1-0-live.cvq"
    fresh.write_bytes(b"in progress")
    os.utime(fresh, (clock(), clock()))
    assert [] == queue.items()
    assert (False, True) == (tmp.exists(), fresh.exists())
    assert {"corrupt": 1} == queue.dropped


def test_remove_and_clear(tmp_path: Path, clock: Clock) -> None:
    """remove() deletes one item (twice is harmless); clear() deletes all items, keeps counters."""
    queue = make_queue(tmp_path, clock, max_reports=4)
    ids = put_n(queue, clock, 5)
    assert (True, False) == (queue.remove(ids[1]), queue.remove(ids[1]))
    assert 3 == queue.clear()
    assert [] == queue.items()
    assert {"queue_overflow": 1} == queue.dropped


def test_drop_counters_persist_and_take_resets(tmp_path: Path, clock: Clock) -> None:
    """Counters survive a new queue object (a restart); take_dropped returns then resets them."""
    queue = make_queue(tmp_path, clock)
    queue.count_drop("rejected_413")
    queue.count_drop("rejected_413", 2)
    again = make_queue(tmp_path, clock)
    assert {"rejected_413": 3} == again.dropped
    assert {"rejected_413": 3} == again.take_dropped()
    assert {} == queue.dropped


def test_write_failure_raises_storage_error_and_leaves_nothing(tmp_path: Path, clock: Clock,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that refuses the write (ENOSPC) gives StorageError, no temp file, a counter."""
    queue = make_queue(tmp_path, clock)
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StorageError):
        queue.put(b"x", meta(clock))
    monkeypatch.setattr(os, "write", real_write)
    assert [] == [p.name for p in queue.directory.iterdir() if p.name.startswith(".tmp-")]
    assert {"write_failed": 1} == queue.dropped


def test_many_threads_write_without_loss_or_excess(tmp_path: Path) -> None:
    """Eight threads putting at once keep every id unique and respect the count bound."""
    queue = SealedQueue(tmp_path / "q", max_reports=50, max_bytes=10_000_000, max_age_days=30)
    ids: list[str] = []
    lock = threading.Lock()

    def writer() -> None:
        for _ in range(25):
            item_id = queue.put(b"s" * 64, QueueMeta("report", "E", "crash", created=queue._now()))
            with lock:
                ids.append(item_id)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 200 == len(set(ids))
    assert 50 == len(queue.items())
    assert {"queue_overflow": 150} == queue.dropped


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_processes_write_without_loss_or_excess(tmp_path: Path) -> None:
    """Four forked children and the parent putting at once respect the bound and count every drop."""
    queue = SealedQueue(tmp_path / "q", max_reports=40, max_bytes=10_000_000, max_age_days=30)
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                for _ in range(30):
                    queue.put(b"c" * 64, QueueMeta("report", "E", "crash", created=queue._now()))
            except BaseException:  # noqa: BLE001 - any failure in the child: exit code 1 for the parent
                code = 1
            os._exit(code)
        children.append(pid)
    for _ in range(30):
        queue.put(b"p" * 64, QueueMeta("report", "E", "crash", created=queue._now()))
    codes = [os.waitpid(pid, 0)[1] for pid in children]
    assert [0, 0, 0, 0] == codes
    assert 40 == len(queue.items())
    assert {"queue_overflow": 110} == queue.dropped


def test_meta_rejects_unknown_kind() -> None:
    """QueueMeta only accepts the kinds the sender knows."""
    with pytest.raises(ValueError):
        QueueMeta(kind="other", crash_type="E", level="crash", created=0.0)


def test_file_holds_only_the_sealed_bytes_and_meta(tmp_path: Path, clock: Clock) -> None:
    """The file is header + meta + the exact sealed bytes + digest: nothing else is stored."""
    queue = make_queue(tmp_path, clock)
    queue.put(b"SEALED", meta(clock))
    [item] = queue.items()
    raw = item.path.read_bytes()
    assert raw == encode_item(b"SEALED", meta(clock))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_child_does_not_keep_a_lock_held_by_a_parent_thread(tmp_path: Path, clock: Clock) -> None:
    """A lock held by a parent thread during fork is released when that thread lets go, child alive or not."""
    queue = make_queue(tmp_path, clock)
    taken, release, done = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        with queue.sending():
            taken.set()
            release.wait(10)
        done.set()

    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(10)
    started_r, started_w = os.pipe()
    stop_r, stop_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: say it runs (its at-fork hook has run), then stay alive until told
        os.close(stop_w)
        os.write(started_w, b"1")
        os.read(stop_r, 1)  # returns when the parent closes its end: the check is done
        os._exit(0)
    os.close(started_w)
    os.close(stop_r)
    try:
        assert b"1" == os.read(started_r, 1)
        os.close(started_r)
        release.set()
        done.wait(10)
        with queue.sending() as mine:
            assert True is mine
    finally:
        os.close(stop_w)
        os.waitpid(pid, 0)
        thread.join()
