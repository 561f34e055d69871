"""The delivery log as read back: one entry per delivery attempt, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashveil.server.alerts.tables import alert_deliveries
from crashveil.server.db import engine as db

__all__ = ["DeliveryEntry", "delivery_log"]


@dataclass(frozen=True)
class DeliveryEntry:
    outbox_id: int
    rule_id: int | None
    destination: str
    attempt: int
    ok: bool
    status: int | None
    detail: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"outbox_id": self.outbox_id, "rule_id": self.rule_id, "destination": self.destination,
                "attempt": self.attempt, "ok": self.ok, "status": self.status, "detail": self.detail,
                "at": self.at.isoformat()}


def delivery_log(engine: Engine, project_id: str, *, limit: int = 50) -> list[DeliveryEntry]:
    c = alert_deliveries.c
    with db.read_tx(engine) as conn:
        rows = conn.execute(sa.select(c.outbox_id, c.rule_id, c.destination, c.attempt, c.ok, c.status, c.detail,
                                      c.at).where(c.project_id == project_id)
                            .order_by(c.at.desc(), c.id.desc()).limit(limit)).all()
    return [DeliveryEntry(*row) for row in rows]
