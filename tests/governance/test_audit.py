"""The audit trail: hash chain, signed checkpoint outside the database, tamper detection."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from crashveil.errors import AuditTamperedError
from crashveil.server.db.engine import write_tx
from crashveil.server.db.governance_tables import audit_entries
from crashveil.server.governance.audit import GENESIS, AuditTrail, entry_hash
from crashveil.server.keys.crypto import SigningKey


def _fill(trail: AuditTrail, n: int = 6) -> None:
    for i in range(n):
        trail.record("report.read", actor=f"user:{i % 3 + 1}", project_id="alpha", subject=f"report:r{i}",
                     detail={"reason": f"ticket {i} triage", "fields": ["stack", "message"]})


def _sql(trail: AuditTrail, statement: str, **params: object) -> None:
    with write_tx(trail.engine) as conn:
        conn.execute(sa.text(statement), params)


def test_intact_trail_verifies(trail: AuditTrail) -> None:
    """A trail written only through record() verifies, and its checkpoint names the last entry."""
    _fill(trail)
    result = trail.verify()
    assert (True, 6, 6, 6, None) == (result.ok, result.count, result.head_seq, result.checkpoint_seq, result.problem)


def test_entries_link_from_genesis(trail: AuditTrail) -> None:
    """The first entry links to the genesis hash and each next entry to the one before."""
    _fill(trail, 3)
    entries = trail.entries()
    assert [GENESIS, entries[0].hash, entries[1].hash] == [e.prev_hash for e in entries]


def test_empty_trail_verifies(trail: AuditTrail) -> None:
    """An empty trail with no checkpoint is valid."""
    assert (True, 0) == (trail.verify().ok, trail.verify().count)


@pytest.mark.parametrize(("column", "value"), [
    ("detail", '{"fields":["stack"],"reason":"ticket 2 triage"}'),
    ("actor", "user:9"),
    ("action", "login.success"),
    ("at", "2026-05-01T12:00:00.000001Z"),
    ("subject", "report:other"),
    ("project_id", "beta"),
])
def test_changed_field_is_detected(trail: AuditTrail, column: str, value: str) -> None:
    """Changing any stored column of an entry is reported at that entry."""
    _fill(trail)
    _sql(trail, f"UPDATE audit_entries SET {column} = :v WHERE seq = 3", v=value)
    result = trail.verify()
    assert (False, 3) == (result.ok, result.first_bad)


def test_rehashed_entry_breaks_the_link(trail: AuditTrail) -> None:
    """An entry changed and rehashed no longer matches the next entry's link."""
    _fill(trail)
    row = trail.entries()[2]
    new_hash = entry_hash(row.seq, row.at, "user:9", row.action, row.project_id, row.subject, row.detail,
                          row.prev_hash)
    _sql(trail, "UPDATE audit_entries SET actor = 'user:9', hash = :h WHERE seq = 3", h=new_hash)
    result = trail.verify()
    assert (False, 4) == (result.ok, result.first_bad)


def test_removed_entry_is_detected(trail: AuditTrail) -> None:
    """Deleting an entry in the middle is reported at the missing sequence number."""
    _fill(trail)
    _sql(trail, "DELETE FROM audit_entries WHERE seq = 4")
    result = trail.verify()
    assert (False, 4) == (result.ok, result.first_bad)


def test_reordered_entries_are_detected(trail: AuditTrail) -> None:
    """Swapping the positions of two entries is reported at the first of them."""
    _fill(trail)
    _sql(trail, "UPDATE audit_entries SET seq = 100 WHERE seq = 2")
    _sql(trail, "UPDATE audit_entries SET seq = 2 WHERE seq = 3")
    _sql(trail, "UPDATE audit_entries SET seq = 3 WHERE seq = 100")
    result = trail.verify()
    assert (False, 2) == (result.ok, result.first_bad)


def test_inserted_entry_is_detected(trail: AuditTrail) -> None:
    """An entry slipped in between two others breaks the chain where it was inserted."""
    _fill(trail)
    _sql(trail, "UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 4")
    _sql(trail, "UPDATE audit_entries SET seq = seq - 999 WHERE seq >= 1004")
    prev = trail.entries()[2].hash
    at = "2026-05-01T12:00:00.000000Z"
    forged = entry_hash(4, at, "user:1", "login.success", None, None, "{}", prev)
    _sql(trail, "INSERT INTO audit_entries (seq, at, actor, action, project_id, subject, detail, prev_hash, hash)"
                " VALUES (4, :at, 'user:1', 'login.success', NULL, NULL, '{}', :p, :h)", at=at, p=prev, h=forged)
    result = trail.verify()
    assert (False, 5) == (result.ok, result.first_bad)


def test_truncated_tail_is_detected(trail: AuditTrail) -> None:
    """Cutting off the newest entries is caught by the signed checkpoint."""
    _fill(trail)
    _sql(trail, "DELETE FROM audit_entries WHERE seq >= 5")
    result = trail.verify()
    assert (False, 5, 4) == (result.ok, result.first_bad, result.head_seq)


def test_replaced_chain_is_detected(trail: AuditTrail) -> None:
    """A chain rewritten consistently from the start does not match the checkpoint's hash."""
    _fill(trail)
    _sql(trail, "DELETE FROM audit_entries")
    prev = GENESIS
    for seq in range(1, 7):
        at = f"2026-05-01T12:00:0{seq}.000000Z"
        digest = entry_hash(seq, at, "system", "login.success", None, None, "{}", prev)
        _sql(trail, "INSERT INTO audit_entries (seq, at, actor, action, project_id, subject, detail, prev_hash,"
                    " hash) VALUES (:s, :at, 'system', 'login.success', NULL, NULL, '{}', :p, :h)",
             s=seq, at=at, p=prev, h=digest)
        prev = digest
    result = trail.verify()
    assert (False, 6) == (result.ok, result.first_bad)


def test_forged_head_is_detected(trail: AuditTrail) -> None:
    """A checkpoint edited to name an earlier entry fails its signature check."""
    _fill(trail)
    _sql(trail, "DELETE FROM audit_entries WHERE seq >= 5")
    data = json.loads(trail.checkpoint_path.read_text())
    data["seq"], data["hash"] = 4, trail.entries()[3].hash
    trail.checkpoint_path.write_text(json.dumps(data))
    result = trail.verify()
    assert (False, True) == (result.ok, "signature" in (result.problem or ""))


def test_head_signed_by_another_key_is_detected(trail: AuditTrail) -> None:
    """A checkpoint re-signed with an attacker's own key is rejected."""
    _fill(trail)
    _sql(trail, "DELETE FROM audit_entries WHERE seq >= 5")
    trail.checkpoint_path.unlink()
    forger = AuditTrail(trail.engine, key=SigningKey.generate(), checkpoint_path=trail.checkpoint_path)
    forger.checkpoint()
    result = trail.verify()
    assert (False, True) == (result.ok, "another key" in (result.problem or ""))


def test_removed_checkpoint_is_detected(trail: AuditTrail) -> None:
    """A trail whose checkpoint file was deleted does not verify."""
    _fill(trail)
    trail.checkpoint_path.unlink()
    assert (False, True) == (trail.verify().ok, "no checkpoint" in (trail.verify().problem or ""))


def test_pinned_public_key_must_match(trail: AuditTrail) -> None:
    """Verifying against a pinned key other than the signer's fails."""
    _fill(trail, 2)
    other = SigningKey.generate().public_key_string()
    assert (True, False) == (trail.verify(public_key=trail.public_key).ok, trail.verify(public_key=other).ok)


def test_checkpoint_refuses_to_sign_a_truncated_chain(trail: AuditTrail) -> None:
    """After the tail was cut, the next append refuses to move the checkpoint and says why."""
    _fill(trail)
    _sql(trail, "DELETE FROM audit_entries WHERE seq >= 5")
    _sql(trail, "UPDATE audit_head SET seq = 4, hash = :h", h=trail.entries()[-1].hash)
    with pytest.raises(AuditTamperedError):
        trail.record("logout", actor="user:1")


def test_recorded_in_callers_transaction_is_checkpointed_later(trail: AuditTrail) -> None:
    """An entry recorded inside a caller's transaction is covered by the next checkpoint()."""
    _fill(trail, 2)
    with write_tx(trail.engine) as conn:
        trail.record("role.grant", actor="cli", subject="user:2", project_id="alpha", detail={"role": "viewer"},
                     conn=conn)
    before = trail.read_checkpoint()
    trail.checkpoint()
    assert (2, 3, True) == (before.seq if before else None, trail.read_checkpoint().seq, trail.verify().ok)


def test_concurrent_appends_never_fork(trail: AuditTrail) -> None:
    """Twenty threads appending at once give one unbroken chain with every entry."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(5):
                trail.record("login.success", actor=f"user:{n}", detail={"i": i})
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = trail.verify()
    assert ([], True, 100, 100) == (errors, result.ok, result.count, result.checkpoint_seq)


@pytest.mark.parametrize("detail", [{"report": {"message": "x"}}, {"Bad Key": 1}, {"reason": "a\nb"},
                                    {"blob": b"bytes"}, {"reason": "x" * 1001}])
def test_detail_rejects_content_shapes(trail: AuditTrail, detail: dict) -> None:
    """Nested objects, bytes, control characters, odd keys and long text are refused in details."""
    with pytest.raises(ValueError):
        trail.record("report.read", actor="user:1", detail=detail)


def test_record_returns_stored_entry(trail: AuditTrail) -> None:
    """record() returns exactly the entry stored in the table."""
    entry = trail.record("token.create", actor="user:1", subject="token:abcd", detail={"roles": ["viewer"]})
    with trail.engine.connect() as conn:
        row = conn.execute(sa.select(audit_entries.c.hash, audit_entries.c.detail)).one()
    assert (entry.hash, '{"roles":["viewer"]}') == (row.hash, row.detail)
