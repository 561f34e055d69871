"""``crashveil server restore``: a server directory and its database back from a sealed archive.

The archive is opened and checked chunk by chunk while it is unpacked into a temporary
directory beside the target (``.DIR.restoring-*``); a wrong passphrase, a corrupted or a
truncated archive, or an interruption removes it and leaves the target as it was. Then:

1. the database: SQLite, the snapshot file in the temporary directory; PostgreSQL,
   ``pg_restore --single-transaction`` into the database of the restored settings (or
   ``--database``), so an interrupted restore of the database rolls back;
2. the audit checkpoint is **re-anchored** (:meth:`AuditTrail.reanchor`): a ``server.restore``
   entry states the backup's time, who restored, and the checkpoint it replaces, and the
   head is signed at that entry, so ``crashveil audit verify`` passes and shows the restore;
3. the temporary directory is renamed to the target (a non-empty target, only with
   ``force``, is first moved aside to ``DIR.before-restore-<time>``, never deleted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, cast

from crashveil.errors import BackupError
from crashveil.server.ops.archive import SealedReader
from crashveil.server.ops.backup import (
    DB_PGDUMP,
    DB_SQLITE,
    FILES_PREFIX,
    MANIFEST,
    BackupManifest,
    libpq_url,
    pg_tool,
    run_pg_tool,
)
from crashveil.server.ops.progress import CheckedReader, NoProgress, Progress, StopFlag
from crashveil.server.settings import Settings

__all__ = ["RestoreResult", "restore_backup", "target_problem"]


@dataclass(frozen=True)
class RestoreResult:
    directory: Path
    manifest: BackupManifest
    restore_seq: int  # the server.restore entry the checkpoint now names
    moved_aside: Path | None
    database_url: str


def target_problem(target: Path) -> str | None:
    """Why restoring into ``target`` needs ``--force`` (it is a non-empty directory), or ``None``."""
    if target.exists() and not target.is_dir():
        return f"{target} exists and is not a directory"
    if target.is_dir() and any(target.iterdir()):
        return f"{target} is not empty (add --force to move it aside to {target.name}.before-restore-<time>)"
    return None


def _safe_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"the archive holds an unsafe path ({name[:80]!r}); not restoring")
    return path


def _unpack(archive: Path, passphrase: bytes, into: Path, progress: Progress,
            stop: StopFlag) -> tuple[BackupManifest, Path]:
    """Unpack the archive into ``into``; (manifest, the database member's file)."""
    size = archive.stat().st_size
    with archive.open("rb") as raw:
        progress.stage("opening archive", size, "bytes")
        reader = SealedReader(cast(BinaryIO, CheckedReader(raw, progress, stop)), passphrase, name=str(archive))
        manifest: BackupManifest | None = None
        database: Path | None = None
        with tarfile.open(fileobj=cast(BinaryIO, reader), mode="r|") as tar:
            for member in tar:
                stop.check()
                if not member.isfile():
                    raise BackupError(f"{archive}: unexpected member type; not restoring")
                name = _safe_member(member.name)
                source = tar.extractfile(member)
                assert source is not None
                if member.name == MANIFEST:
                    manifest = BackupManifest.from_json(source.read(1024 * 1024))
                    continue
                if member.name in (DB_SQLITE, DB_PGDUMP):
                    target = into / ".database"
                    database = target
                elif member.name.startswith(FILES_PREFIX):
                    target = into / PurePosixPath(*name.parts[1:])
                else:
                    raise BackupError(f"{archive}: unexpected member {member.name[:80]!r}; not restoring")
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, member.mode & 0o700 or 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out, 1024 * 1024)
        reader.read_to_end()  # the last chunk authenticates the whole stream
        progress.finish()
    if manifest is None or database is None:
        raise BackupError(f"{archive}: incomplete (no manifest or no database); not restoring")
    return manifest, database


def _restore_postgres(dump: Path, database_url: str, progress: Progress, stop: StopFlag, *, force: bool) -> None:
    """``pg_restore`` into ``database_url`` in one transaction (rolled back if interrupted)."""
    from crashveil.server.db.engine import create_engine

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            import sqlalchemy as sa

            tables = sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()
    if tables and not force:
        raise BackupError(f"the database {libpq_url(database_url).rsplit('/', 1)[-1]} is not empty "
                          "(add --force to replace its tables)")
    progress.stage("restoring database (pg_restore)")
    # stopped with us, pg_restore's one transaction is rolled back
    run_pg_tool([pg_tool("pg_restore"), "--single-transaction", "--no-owner", "--no-privileges", "--exit-on-error",
                 "--no-password", f"--dbname={libpq_url(database_url)}",
                 *(("--clean", "--if-exists") if tables else ()), str(dump)], stop)
    progress.finish()


def _place_sqlite(staging: Path, database: Path, manifest: BackupManifest) -> str:
    """Move the SQLite snapshot to its place in the staging directory; the settings' URL."""
    relative = manifest.sqlite_relative or "crashveil.db"
    target = staging / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.replace(database, target)
    return f"sqlite:///{relative}"


def _reanchor(settings: Settings, manifest: BackupManifest, *, actor: str, archive: Path,
              replaced: Path | None) -> int:
    from crashveil.server.db.engine import create_engine
    from crashveil.server.governance.audit import AuditTrail

    engine = create_engine(settings.database_url)
    try:
        trail = AuditTrail.for_server_dir(engine, settings.server_dir)
        entry = trail.reanchor("server.restore", actor=actor, detail={
            "backup_created_at": manifest.created_at, "backup_audit_seq": manifest.audit_seq,
            "backup_version": manifest.crashveil_version, "database": manifest.database,
            "archive": archive.name[:200], "replaced_directory": replaced is not None})
    finally:
        engine.dispose()
    return entry.seq


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A private temporary directory beside ``target``; removed unless it was renamed away."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.restoring-"))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def restore_backup(archive: Path, target: Path, passphrase: bytes, *, actor: str, force: bool = False,
                   database_url: str | None = None, progress: Progress | None = None,
                   stop: StopFlag | None = None) -> RestoreResult:
    """Restore ``archive`` into the directory ``target`` (see the module docstring).

    Raises:
        BackupError: wrong passphrase, corrupted or truncated archive, a non-empty target
            without ``force``, a failed pg_restore; the target is left as it was.
        Interrupted: ``stop`` was requested; the target is left as it was.
    """
    from crashveil.server.settings import Settings, write_settings

    progress, stop = progress or NoProgress(), stop or StopFlag()
    archive, target = Path(archive).resolve(), Path(target).resolve()
    problem = target_problem(target)
    if problem and not (force and target.is_dir()):
        raise BackupError(problem)
    with _staging(target) as staging:
        manifest, database = _unpack(archive, passphrase, staging, progress, stop)
        stop.check()
        if manifest.database == "sqlite" and database_url is None:
            url = _place_sqlite(staging, database, manifest)
            settings = Settings.load(staging, environ={}, database_url=url)
            write_settings(settings)
        else:
            settings = Settings.load(staging, environ={}, database_url=database_url)
            if manifest.database == "postgresql":
                _restore_postgres(database, settings.database_url, progress, stop, force=force)
                database.unlink()
            else:
                raise BackupError("a SQLite backup restores into the server directory; leave out --database")
            if database_url is not None:
                write_settings(settings)
        stop.check()
        restore_seq = _reanchor(settings, manifest, actor=actor, archive=archive,
                                replaced=target if problem else None)
        moved = None
        if target.exists():
            if problem:
                moved = target.with_name(f"{target.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
                os.rename(target, moved)
            else:
                target.rmdir()  # empty
        os.rename(staging, target)
        target.chmod(0o700)
    final = dataclasses.replace(settings, server_dir=target).database_url
    if manifest.database == "sqlite" and database_url is None:
        final = f"sqlite:///{target / (manifest.sqlite_relative or 'crashveil.db')}"
    return RestoreResult(target, manifest, restore_seq, moved, final)
