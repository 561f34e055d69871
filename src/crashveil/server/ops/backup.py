"""``crashveil server backup``: a consistent snapshot of a serving server, in one sealed archive.

What goes in, in this order (the order is what makes the snapshot consistent):

1. ``audit/head.json``, read first: the checkpoint only moves forward and only over committed
   entries, so a checkpoint read before the database snapshot names an entry inside it.
2. The database: SQLite through the online backup API (``sqlite3.Connection.backup``, one
   read transaction, writers go on), PostgreSQL through ``pg_dump --format=custom`` (one
   snapshot transaction).
3. The rest of the server directory, read after the snapshot: the KEK file then holds every
   key the snapshot's wrapped keys need (a rotation only adds keys and retires old ones).

The archive is a tar stream (``manifest.json`` first) sealed by :mod:`.archive`, written to a
temporary name beside the target and renamed when complete: an interrupted or failed backup
leaves nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from crashveil.errors import BackupError
from crashveil.server.ops.archive import KdfCost, SealedWriter
from crashveil.server.ops.progress import CheckedReader, NoProgress, Progress, StopFlag
from crashveil.server.settings import Settings

__all__ = ["BackupManifest", "BackupResult", "libpq_url", "make_backup", "pg_tool", "sqlite_path", "stop_child"]

FORMAT = 1
MANIFEST = "manifest.json"
DB_SQLITE = "database/crashveil.db"
DB_PGDUMP = "database/crashveil.pgdump"
FILES_PREFIX = "files/"
HEAD_FILE = "audit/head.json"
#: Files of a server directory that are never archived: runtime locks and temporary names.
_SKIP_SUFFIXES = (".lock", ".tmp", ".partial")


@dataclass(frozen=True)
class BackupManifest:
    """What the archive holds, written first into it (no secrets, no report content)."""

    created_at: str
    crashveil_version: str
    database: str  # "sqlite" or "postgresql"
    schema_revision: str | None
    audit_seq: int
    audit_hash: str
    checkpoint_seq: int | None
    sqlite_relative: str | None  # the SQLite file's path inside the server directory, if it is there
    files: list[str] = field(default_factory=list)
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> BackupManifest:
        try:
            fields = json.loads(data)
            manifest = cls(**fields)
        except (ValueError, TypeError) as exc:
            raise BackupError("the archive's manifest is not readable (made by another program?)") from exc
        if manifest.format != FORMAT or manifest.database not in ("sqlite", "postgresql"):
            raise BackupError(f"the archive has format {manifest.format} / database {manifest.database!r}; "
                              f"this crashveil reads format {FORMAT}")
        return manifest


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: BackupManifest
    size_bytes: int


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, ``None`` for another database."""
    if database_url.startswith("sqlite:///"):
        return Path(database_url[len("sqlite:///"):])
    return None


def libpq_url(database_url: str) -> str:
    """The URL pg_dump / pg_restore understand (no SQLAlchemy driver suffix)."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: on PATH, else the newest in Debian's /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[4]))
    if not candidates:
        raise BackupError(f"{name} not found: install the PostgreSQL client (apt-get install postgresql-client)")
    return str(candidates[-1])


def _audit_state(database_url: str) -> tuple[str | None, int, str]:
    """(schema revision, newest audit seq, its hash) of a database."""
    import sqlalchemy as sa

    from crashveil.server.db.engine import create_engine, current_revision
    from crashveil.server.db.governance_tables import audit_entries

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
            row = conn.execute(sa.select(audit_entries.c.seq, audit_entries.c.hash)
                               .order_by(audit_entries.c.seq.desc()).limit(1)).first()
    finally:
        engine.dispose()
    return revision, (int(row.seq) if row else 0), (row.hash if row else "")


def _sqlite_audit_state(path: Path) -> tuple[str | None, int, str]:
    """The same for a SQLite file, read-only (the snapshot is archived byte for byte)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        row = conn.execute("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return (revision[0] if revision else None), (int(row[0]) if row else 0), (row[1] if row else "")


def _snapshot_sqlite(source: Path, target: Path, progress: Progress) -> None:
    """One consistent copy through the online backup API: all pages in one step, so one read
    transaction (a stepwise copy restarts whenever the serving process writes)."""
    progress.stage("database snapshot (SQLite)")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=-1)
    finally:
        dst.close()
        src.close()
    progress.finish()


def _snapshot_postgres(database_url: str, target: Path, progress: Progress, stop: StopFlag) -> None:
    """``pg_dump --format=custom``: one snapshot transaction; stopped with us if interrupted."""
    progress.stage("database snapshot (pg_dump)")
    run_pg_tool([pg_tool("pg_dump"), "--format=custom", "--no-password", f"--file={target}",
                 f"--dbname={libpq_url(database_url)}"], stop)
    progress.finish()


def run_pg_tool(args: list[str], stop: StopFlag) -> None:
    """Run a PostgreSQL client tool (``args[0]``) until it ends, checking ``stop`` meanwhile (the
    tool is stopped with us, see :func:`stop_child`); a failure is a :class:`BackupError`
    naming the tool and the last line it printed."""
    with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          start_new_session=True) as proc:
        try:
            while proc.poll() is None:
                stop.check()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.2)
        finally:
            stop_child(proc)
        errors = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if proc.returncode != 0:
        last = errors.strip().splitlines()[-1] if errors.strip() else f"exit code {proc.returncode}"
        raise BackupError(f"{Path(args[0]).name} failed: {last}")


def stop_child(proc: subprocess.Popen[bytes]) -> None:
    """End pg_dump / pg_restore if still running: SIGINT first (they then cancel their query on
    the server, so no backend is left waiting for a lock), SIGKILL if that is not enough."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _directory_files(settings: Settings, exclude: set[Path]) -> Iterator[Path]:
    """Regular files of the server directory to archive, in a stable order."""
    root = settings.server_dir
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path in exclude or path.name.endswith(_SKIP_SUFFIXES):
            continue
        relative = path.relative_to(root).as_posix()
        if relative == HEAD_FILE or relative.startswith(".") or "/." in relative:
            continue
        yield path


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o600) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path, progress: Progress, stop: StopFlag) -> None:
    stat = path.stat()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = stat.st_size, stat.st_mode & 0o700, int(stat.st_mtime)
    with path.open("rb") as handle:
        tar.addfile(info, CheckedReader(handle, progress, stop))


def _write_archive(partial: Path, passphrase: bytes, manifest: BackupManifest, members: list[tuple[str, Path]],
                   head_bytes: bytes | None, *, progress: Progress, stop: StopFlag, cost: KdfCost | None) -> None:
    """The sealed tar stream: the manifest, the database, the checkpoint read first, the files."""
    total = sum(path.stat().st_size for _, path in members)
    with partial.open("wb") as raw:
        sealed = SealedWriter(raw, passphrase, cost=cost)
        progress.stage("sealing archive", total, "bytes")
        with tarfile.open(fileobj=cast(BinaryIO, sealed), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, manifest.to_json())
            _add_file(tar, *members[0], progress, stop)
            if head_bytes is not None:
                _add_bytes(tar, FILES_PREFIX + HEAD_FILE, head_bytes)
            for name, path in members[1:]:
                _add_file(tar, name, path, progress, stop)
        sealed.close()
        raw.flush()
        os.fsync(raw.fileno())
        progress.finish()


def make_backup(settings: Settings, out_path: Path, passphrase: bytes, *, progress: Progress | None = None,
                stop: StopFlag | None = None, cost: KdfCost | None = None) -> BackupResult:
    """Write the sealed archive of the server directory of ``settings`` to ``out_path``.

    Raises:
        BackupError: the target exists, pg_dump failed, or the disk refused.
        Interrupted: ``stop`` was requested; nothing is left at ``out_path`` or beside it.
    """
    from crashveil import __version__

    progress, stop = progress or NoProgress(), stop or StopFlag()
    out_path = Path(out_path).resolve()
    if out_path.exists():
        raise BackupError(f"{out_path}: already exists (choose another name; a backup never overwrites)")
    head_path = settings.server_dir / HEAD_FILE
    head_bytes = head_path.read_bytes() if head_path.is_file() else None  # before the snapshot: see above
    checkpoint_seq = int(json.loads(head_bytes)["seq"]) if head_bytes else None
    db_file = sqlite_path(settings.database_url)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=f".{out_path.name}.") as scratch:
        snapshot = Path(scratch) / "snapshot"
        if db_file is not None:
            _snapshot_sqlite(db_file, snapshot, progress)
            revision, audit_seq, audit_hash = _sqlite_audit_state(snapshot)
        else:  # read before the dump: the dump holds at least this entry
            revision, audit_seq, audit_hash = _audit_state(settings.database_url)
            _snapshot_postgres(settings.database_url, snapshot, progress, stop)
        stop.check()
        exclude = {out_path}
        if db_file is not None:
            exclude |= {db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm"), Path(f"{db_file}-journal")}
        files = list(_directory_files(settings, exclude))
        relative = None
        if db_file is not None and db_file.resolve().is_relative_to(settings.server_dir):
            relative = db_file.resolve().relative_to(settings.server_dir).as_posix()
        names = [p.relative_to(settings.server_dir).as_posix() for p in files]
        if head_bytes is not None:
            names.append(HEAD_FILE)
        manifest = BackupManifest(
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), crashveil_version=__version__,
            database="sqlite" if db_file is not None else "postgresql", schema_revision=revision,
            audit_seq=audit_seq, audit_hash=audit_hash, checkpoint_seq=checkpoint_seq, sqlite_relative=relative,
            files=sorted(names))
        partial = Path(scratch) / "archive.partial"
        members = [(DB_SQLITE if db_file is not None else DB_PGDUMP, snapshot)]
        members += [(FILES_PREFIX + p.relative_to(settings.server_dir).as_posix(), p) for p in files]
        _write_archive(partial, passphrase, manifest, members, head_bytes, progress=progress, stop=stop, cost=cost)
        stop.check()
        os.link(partial, out_path)  # fails rather than overwrite a file made meanwhile
    return BackupResult(out_path, manifest, out_path.stat().st_size)
