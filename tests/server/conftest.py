"""Server fixtures: settings in a temporary server directory, and a ``storage`` over SQLite
and over a real PostgreSQL (Debian's binaries, started by pytest-postgresql).

PostgreSQL tests are marked ``postgres`` and skipped when no ``pg_ctl`` is installed
(``apt-get install -y postgresql``). Each test gets a fresh database copied from a migrated
template, so the schema is built once per session.
"""

from __future__ import annotations

import functools
import glob
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _migrated import migrated_sqlite

pytest.importorskip("sqlalchemy")

from pytest_postgresql import factories

from crashveil.policy import compute_fingerprint, default_policy, policy_digest
from crashveil.server.db import engine as db
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.settings import Settings
from crashveil.server.storage.store import Storage
from crashveil.wire import Environment, Frame, Report, Stack

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def _find_pg_ctl() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return found[-1] if found else None


def _pg_ctl_executable(tmp_root: Path) -> str | None:
    """pg_ctl, or, as root (which pg_ctl refuses), a wrapper running it as ``postgres``.

    The wrapper also moves the data directory out of pytest's temporary root, which pytest
    keeps at mode 0700 (another pytest session starting would lock ``postgres`` out).
    """
    real = _find_pg_ctl()
    if real is None or os.geteuid() != 0:
        return real
    wrapper = tmp_root / "pg_ctl"
    staged = tmp_root / f".pg_ctl.{os.getpid()}"
    staged.write_text(f"""#!{sys.executable}
import hashlib, os, shutil, subprocess, sys
REAL = {real!r}
HOME = "/tmp/crashveil-pg"
args = sys.argv[1:]
data = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-D", "--pgdata")), None)
mapped = None
if data:
    parent = os.path.dirname(os.path.abspath(data))
    mapped = os.path.join(HOME, hashlib.sha256(parent.encode()).hexdigest()[:16])
    os.makedirs(mapped, exist_ok=True)
    os.chmod(HOME, 0o711)
    shutil.chown(mapped, "postgres")
    args = [a.replace(parent, mapped) for a in args]
    os.makedirs(data, exist_ok=True)  # pytest-postgresql checks that the data dir exists
rc = subprocess.run(["runuser", "-u", "postgres", "--", REAL, *args], cwd="/").returncode
if args[:1] == ["stop"] and mapped and rc == 0:
    shutil.rmtree(mapped, ignore_errors=True)
sys.exit(rc)
""")
    staged.chmod(0o755)
    staged.replace(wrapper)  # atomic: parallel sessions never run a half-written wrapper
    return str(wrapper)


_WRAPPER_DIR = Path(f"/tmp/crashveil-test-pgctl-{os.getuid()}")
_WRAPPER_DIR.mkdir(exist_ok=True)
PG_CTL = _pg_ctl_executable(_WRAPPER_DIR)

# pytest-postgresql starts postgres with -F (fsync off); our server refuses that, so the
# shared server turns fsync back on. Tests of the refusal change settings per database.
postgresql_proc = factories.postgresql_proc(executable=PG_CTL or "pg_ctl", postgres_options="-c fsync=on")


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated template database on the session's PostgreSQL; yields the server URL base."""
    if PG_CTL is None:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    proc = request.getfixturevalue("postgresql_proc")
    base = f"postgresql://{proc.user}@{proc.host}:{proc.port}"
    admin = db.create_engine(f"{base}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS crashveil_template")
        conn.exec_driver_sql("CREATE DATABASE crashveil_template")
    template = db.create_engine(f"{base}/crashveil_template")
    db.migrate(template)
    template.dispose()
    yield base
    admin.dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = db.create_engine(f"{pg_template}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE crashveil_template")
    yield f"{pg_template}/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def make_settings(server_dir: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for a server directory in a test, x25519 keys for speed unless told."""
    # Tests seed single installations; tests/server/linkability turn the k check back on.
    values: dict[str, object] = {"sealing_suite": "x25519", "project_cache_s": 0.0, "quasi_identifier_check": False}
    values.update(overrides)
    return Settings(server_dir=server_dir, database_url=database_url, **values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path / "crashveil.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings of a server directory with a KEK file, over the parametrized database."""
    result = make_settings(tmp_path, database_url, mass_failure_per_hour=5)
    FileKeyProvider.create(result.kek_path, now=NOW)
    return result


@pytest.fixture
def storage(settings: Settings) -> Iterator[Storage]:
    """An open Storage with one project, ``demo``, on the default policy."""
    store = Storage.open(settings, clock=lambda: NOW)
    store.create_project("demo", now=NOW)
    yield store
    store.close()


def build_report(*, crash_type: str = "KeyError", function: str = "load", release: str | None = "1.0.0",
                 install_id: str | None = "ab" * 16, message: str | None = None, report_id: str | None = None,
                 os_family: str = "linux", fingerprint: str | None = None) -> Report:
    """A valid report at the default policy's digest; the stack decides the fingerprint."""
    frames = (Frame("app/main.py", "main", 10, True), Frame("app/store.py", function, 42, True))
    return Report(
        schema_version=1, policy_digest=_default_digest(), consent_level="diagnostic",
        report_id=report_id or str(uuid.uuid4()), crash_type=crash_type,
        fingerprint=fingerprint or compute_fingerprint(crash_type, frames), stack=Stack(frames),
        release=release, install_id=install_id, message=message, occurred_hour="2026-05-01T12:00Z",
        environment=Environment(os_family, "6", "cpython", "3.11", "x86_64"),
    )


@pytest.fixture
def make_report() -> Callable[..., Report]:
    """The report builder (see build_report)."""
    return build_report


@functools.cache
def _default_digest() -> str:
    """The shipped policy's digest, computed once (a digest costs milliseconds and fixtures
    build hundreds of reports)."""

    return policy_digest(default_policy())
