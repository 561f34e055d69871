"""The ``destinations`` table: add, list, load and remove a project's destinations.

Secrets are sealed with AES-256-GCM under the ``destinations`` key of ``shared_secrets``
(32 random bytes wrapped by the KEK like the audit signing key, rewrapped by KEK rotations),
with the row's project, name and kind as associated data: a sealed value copied to another
row does not open. :func:`list_destinations` never unseals anything.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crashveil.errors import DestinationError
from crashveil.server.alerts.destinations.records import (
    KINDS,
    ConfigValue,
    DestinationRecord,
    check_name_syntax,
    make_destination,
)
from crashveil.server.alerts.notification import Destination
from crashveil.server.db.engine import read_tx, write_tx
from crashveil.server.db.tables import destinations
from crashveil.server.keys.shared_secrets import shared_secret

if TYPE_CHECKING:
    from crashveil.server.storage.store import Storage

_log = logging.getLogger("crashveil.alerts")

__all__ = ["DESTINATIONS_SECRET", "DestinationSummary", "add_destination", "destinations_for",
           "list_destinations", "load_destination", "remove_destination"]

#: The name of the sealing key in ``shared_secrets``.
DESTINATIONS_SECRET = "destinations"
_NONCE = 12


@dataclass(frozen=True)
class DestinationSummary:
    """What ``destination list`` shows: no secret, not even sealed."""

    project_id: str
    name: str
    kind: str
    config: dict[str, ConfigValue]
    created_at: datetime


def _key(storage: Storage) -> AESGCM:
    return AESGCM(shared_secret(storage.engine, storage.keys, DESTINATIONS_SECRET, seed=lambda: os.urandom(32)))


def _aad(project_id: str, name: str, kind: str) -> bytes:
    return f"crashveil-destination\0{project_id}\0{name}\0{kind}".encode()


def _seal(storage: Storage, record: DestinationRecord) -> bytes:
    nonce = os.urandom(_NONCE)
    plain = json.dumps(dict(record.secrets), sort_keys=True).encode()
    return nonce + _key(storage).encrypt(nonce, plain, _aad(record.project_id, record.name, record.kind))


def _unseal(storage: Storage, row: sa.Row[tuple[str, str, str, str, bytes, datetime]]) -> dict[str, str]:
    sealed = bytes(row.sealed_secrets)
    try:
        plain = _key(storage).decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(row.project_id, row.name, row.kind))
    except InvalidTag:
        raise DestinationError(f"destination {row.name!r}: its secrets do not open (sealed for another row, "
                               f"or damaged)") from None
    loaded = json.loads(plain)
    return {str(k): str(v) for k, v in loaded.items()}


def add_destination(storage: Storage, record: DestinationRecord, *, now: datetime | None = None) -> None:
    """Store ``record`` (checked by building its destination first); refuses a taken name."""
    check_name_syntax(record.name)
    if record.kind not in KINDS:
        raise DestinationError(f"kind must be one of {', '.join(KINDS)}")
    if storage.project(record.project_id) is None:
        raise DestinationError(f"no project {record.project_id!r}")
    make_destination(record)
    if load_summary(storage, record.project_id, record.name) is not None:
        raise DestinationError(f"project {record.project_id!r} already has a destination {record.name!r} "
                               f"(remove it first)")
    values = {"project_id": record.project_id, "name": record.name, "kind": record.kind,
              "config": json.dumps(dict(record.config), sort_keys=True), "sealed_secrets": _seal(storage, record),
              "created_at": now or datetime.now(UTC)}
    with write_tx(storage.engine) as conn:
        conn.execute(destinations.insert().values(**values))


def _summary(row: sa.Row[tuple[str, str, str, str, datetime]]) -> DestinationSummary:
    return DestinationSummary(row.project_id, row.name, row.kind, json.loads(row.config), row.created_at)


def list_destinations(storage: Storage, project_id: str | None = None) -> list[DestinationSummary]:
    """Every destination (of ``project_id``), by project and name; secrets are not read."""
    columns = [destinations.c.project_id, destinations.c.name, destinations.c.kind, destinations.c.config,
               destinations.c.created_at]
    query = sa.select(*columns).order_by(destinations.c.project_id, destinations.c.name)
    if project_id is not None:
        query = query.where(destinations.c.project_id == project_id)
    with read_tx(storage.engine) as conn:
        return [_summary(row) for row in conn.execute(query)]


def load_summary(storage: Storage, project_id: str, name: str) -> DestinationSummary | None:
    return next((s for s in list_destinations(storage, project_id) if s.name == name), None)


def _rows(storage: Storage, project_id: str, name: str | None = None) -> list[sa.Row[Any]]:
    query = sa.select(destinations).where(destinations.c.project_id == project_id).order_by(destinations.c.name)
    if name is not None:
        query = query.where(destinations.c.name == name)
    with read_tx(storage.engine) as conn:
        return list(conn.execute(query).all())


def _record(storage: Storage, row: sa.Row[Any]) -> DestinationRecord:
    return DestinationRecord(row.project_id, row.name, row.kind, json.loads(row.config), _unseal(storage, row),
                             row.created_at)


def _records(storage: Storage, project_id: str, name: str | None = None) -> list[DestinationRecord]:
    return [_record(storage, row) for row in _rows(storage, project_id, name)]


def load_destination(storage: Storage, project_id: str, name: str) -> DestinationRecord | None:
    """One destination with its secrets unsealed, or None."""
    found = _records(storage, project_id, name)
    return found[0] if found else None


def remove_destination(storage: Storage, project_id: str, name: str) -> bool:
    """Delete a destination (its sealed secrets with it); False when there was none."""
    with write_tx(storage.engine) as conn:
        deleted = conn.execute(destinations.delete().where(destinations.c.project_id == project_id,
                                                           destinations.c.name == name))
    return bool(deleted.rowcount)


def destinations_for(storage: Storage, project_id: str) -> list[Destination]:
    """Every destination of ``project_id``, ready to deliver (by name)."""
    return [make_destination(record) for record in _records(storage, project_id)]


class StoredDestinations:
    """The outbox worker's :class:`~crashveil.server.alerts.worker.DestinationDirectory`: each
    project's stored destinations. A row that cannot be built (a secret that no longer
    unseals, a setting made invalid) is logged by name and skipped, so it cannot hold back
    the project's other destinations; its notifications wait in the outbox."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def for_project(self, project_id: str) -> list[Destination]:
        found: list[Destination] = []
        for row in _rows(self._storage, project_id):
            try:
                found.append(make_destination(_record(self._storage, row)))
            except DestinationError as exc:
                _log.error("alert destination %r of project %r cannot be used: %s", row.name, project_id, exc)
        return found
