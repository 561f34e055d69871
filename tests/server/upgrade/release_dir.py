"""A server directory as the previous release left it, from ``release_0011.json``.

The schema is built by the real migrations up to the release's revision (0011); the rows
the release wrote (see make_release_fixture.py) are loaded as they were, into SQLite or
PostgreSQL, with PostgreSQL's id sequences moved past them as the release's own inserts
would have left them. The key files come from the fixture (the KEK wraps its data keys,
the audit key signed its checkpoint); TLS files are made fresh from the local PKI.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crashveil.server.db import engine as db
from crashveil.server.keys import pki
from crashveil.server.settings import Settings, write_settings

FIXTURE = Path(__file__).resolve().parent / "release_0011.json"
CLIENT = "upgrade-client"


@dataclass(frozen=True)
class ReleaseDir:
    path: Path
    database_url: str
    fixture: dict[str, Any]

    @property
    def client_cert(self) -> Path:
        return self.path / "clients" / f"{CLIENT}.pem"

    @property
    def client_key(self) -> Path:
        return self.path / "clients" / f"{CLIENT}.key"


def load_fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return data


def build(path: Path, database_url: str) -> ReleaseDir:
    """The release's server directory at ``path`` over ``database_url`` (an empty database)."""
    fixture = load_fixture()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for relative, encoded in fixture["files"].items():
        target = path / relative
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64decode(encoded))
    settings = Settings(server_dir=path, database_url=database_url, sealing_suite="x25519")
    now = datetime.now(UTC)
    ca = pki.create_ca("crashveil local CA", now=now)
    server = pki.issue_server_cert(ca, now=now)
    client = pki.issue_client_cert(ca, CLIENT, now=now)
    pki.write_certificate(settings.ca_cert_path, ca)
    pki.write_private_key(settings.ca_key_path, ca)
    pki.write_certificate(settings.server_cert_path, server)
    pki.write_private_key(settings.server_key_path, server)
    pki.write_certificate(path / "clients" / f"{CLIENT}.pem", client)
    pki.write_private_key(path / "clients" / f"{CLIENT}.key", client)
    write_settings(settings)
    engine = db.create_engine(database_url)
    try:
        db.migrate(engine, fixture["revision"])
        with engine.begin() as conn:
            _load_rows(conn, fixture["tables"])
    finally:
        engine.dispose()
    return ReleaseDir(path, database_url, fixture)


def _load_rows(conn: sa.Connection, tables: dict[str, list[dict[str, Any]]]) -> None:
    meta = sa.MetaData()
    meta.reflect(conn)
    assert set(tables) <= set(meta.tables), f"tables the release had that 0011 lacks: {set(tables) - set(meta.tables)}"
    for table in reversed(meta.sorted_tables):  # rows the migrations seed: the dump has their final state
        if table.name in tables:
            conn.execute(table.delete())
    for table in meta.sorted_tables:
        rows = tables.get(table.name)
        if rows:
            conn.execute(table.insert(), [{key: _value(table.c[key], value) for key, value in row.items()}
                                          for row in rows])
    if conn.dialect.name == "postgresql":
        for table in meta.sorted_tables:
            for column in table.primary_key.columns:
                if isinstance(column.type, sa.Integer) and tables.get(table.name):
                    conn.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"(SELECT max({column.name}) FROM {table.name})) "
                        f"WHERE pg_get_serial_sequence('{table.name}', '{column.name}') IS NOT NULL"))


def _value(column: sa.Column[Any], value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    moment = datetime.fromisoformat(value["$datetime"])
    timezone = isinstance(column.type, sa.DateTime) and column.type.timezone
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None and timezone else moment
