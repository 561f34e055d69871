"""Linkability kept low: quasi-identifiers are k-anonymous per pseudonym period before storage,
two periods of one installation share no stored linking value, and the audit report measures it.

In-process over SQLite (the write path is the engines' shared code; ``counting`` uses only
the batch helpers both engines run). Each test stores a few dozen reports: well under a second.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _migrated import migrated_sqlite

from crashveil.sdk.consent.pseudonym import period_index, pseudonym_for
from crashveil.server.db import engine as db
from crashveil.server.keys.kek import FileKeyProvider
from crashveil.server.linkability.audit_section import linkability_blocks, linkability_section
from crashveil.server.linkability.tables import quasi_rung_reports
from crashveil.server.storage.records import PendingReport
from crashveil.server.storage.store import Storage
from crashveil.wire import Environment, Report
from crashveil.wire.report import Tag

from ..conftest import NOW, build_report, make_settings

K = 5
COMMON = ("Windows", "10.0.19045", "CPython", "3.12.4", "x86_64", "desktop")
RARE = ("Windows", "11.0.22631", "CPython", "3.13.1", "arm64", "desktop")
SMALL = ("macOS", "14.5", "CPython", "3.11.9", "arm64", "desktop")
CANARY = "10.CANARY7f3a9c"


def _open(tmp_path: Path, url: str) -> Storage:
    settings = make_settings(tmp_path, url, quasi_identifier_check=True)
    FileKeyProvider.create(settings.kek_path, now=NOW)
    store = Storage.open(settings, clock=lambda: NOW)
    store.create_project("demo", now=NOW)
    return store


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    """Storage over SQLite with the quasi-identifier check on (the suite's fixtures turn it off)."""
    url = migrated_sqlite(tmp_path / "crashveil.db")
    store = _open(tmp_path, url)
    yield store
    store.close()


@pytest.fixture
def any_storage(tmp_path: Path, database_url: str) -> Iterator[Storage]:
    """The same over each engine of the suite (SQLite, and PostgreSQL where it runs)."""
    store = _open(tmp_path, database_url)
    yield store
    store.close()


def _report(install: str, combo: tuple[str, ...], *, tags: tuple[Tag, ...] | None = None,
            hour: str = "2026-05-01T12:00Z") -> Report:
    fam, ver, impl, py, arch, device = combo
    return dataclasses.replace(build_report(install_id=install), environment=Environment(fam, ver, impl, py, arch),
                               device_class=device, tags=tags, occurred_hour=hour)  # type: ignore[arg-type]


def _store(storage: Storage, reports: list[Report], *, batch: int = 7, at: datetime = NOW) -> None:
    for start in range(0, len(reports), batch):
        storage.store_reports([PendingReport("demo", r, "crashveil-sdk", at, {}) for r in reports[start:start + batch]])


def _stored(storage: Storage) -> list[tuple[str, str | None, tuple[Any, ...]]]:
    """(install, os_family column, (environment, device class, tags) of the decrypted detail) per report."""
    with db.read_tx(storage.engine) as conn:
        rows = conn.execute(sa.text("SELECT report_id, install_id, os_family FROM reports")).all()
    out = []
    for report_id, install, os_family in rows:
        detail = storage.report_detail("demo", report_id)
        assert detail is not None
        r = detail.report
        out.append((install, os_family, (r.environment, r.device_class, r.tags)))
    return out


def _generalises(stored: tuple[Any, ...], raw: tuple[str, ...]) -> bool:
    """Whether a stored (environment, device) is ``raw`` cut to some rung (suppressed: always)."""
    env, device, _ = stored
    if env is None:
        return device is None
    fam, ver, impl, py, arch, raw_device = raw
    return (env.os_family == fam and env.python_impl == impl and device == raw_device
            and (env.os_version in ("", ver, ver.split(".")[0])) and py.startswith(env.python_version)
            and env.arch in ("", arch))


def test_a_rare_combination_cannot_single_out_its_installation(any_storage: Storage) -> None:
    """One installation with a unique OS, runtime and processor among 20 common ones and 3
    of a small group: every stored combination is shared by >= k planted installations or
    suppressed, the rare one is never stored as it is, and it hides among >= k installations
    whose every stored report is consistent with it (pseudonyms link within the period)."""
    planted = {f"{i:032x}": COMMON for i in range(20)}
    planted["f" * 32] = RARE
    planted.update({f"e{i:031x}": SMALL for i in range(3)})
    order = list(planted)
    order.insert(6, order.pop(order.index("f" * 32)))  # the rare one arrives while common ones still count
    reports = [_report(install, planted[install]) for _ in range(2) for install in order]
    _store(any_storage, reports)

    stored = _stored(any_storage)
    assert len(stored) == len(reports)
    for _, os_family, values in stored:
        env, device, _ = values
        if env is not None:
            sharing = {i for i, raw in planted.items() if _generalises(values, raw)}
            assert len(sharing) >= K, (values, len(sharing))
        assert os_family == (env.os_family if env is not None else None)
    rare_exact = Environment(*RARE[:5])
    assert all(values[0] != rare_exact for _, _, values in stored)
    consistent = {i for i in planted if all(_generalises(v, RARE) for j, _, v in stored if j == i)}
    assert "f" * 32 in consistent and len(consistent) >= K
    assert any(values[0] == Environment(*COMMON[:5]) for _, _, values in stored)  # common ones stay exact
    with db.read_tx(any_storage.engine) as conn:
        assert len(reports) == conn.execute(sa.select(sa.func.sum(quasi_rung_reports.c.reports))).scalar()
        record = any_storage.project("demo")
        assert record is not None
        section = linkability_section(conn, "demo", record.policy, since=NOW - timedelta(days=1),
                                      until=NOW + timedelta(hours=1))
    period = section["periods"][-1]
    assert {"reports_per_pseudonym": "2-3", "pseudonyms": 24, "reports": 48} in period["histogram"]
    assert period["histogram"][0]["pseudonyms"] == 0
    assert 0 < period["small_groups_before"] < 1 and period["small_groups_after"] == 0
    blocks = linkability_blocks(section)
    assert any(b[0] == "table" for b in blocks)


def test_two_periods_of_one_installation_share_no_stored_linking_value(storage: Storage) -> None:
    """The same installation in two pseudonym periods: its two stored reports (columns and
    decrypted detail) share no value that another installation's report of the second
    period does not share too, and no per-period table row of one period is kept beside the next's."""
    secret, other = os.urandom(32), os.urandom(32)
    rotation = 30
    first = NOW
    second = NOW + timedelta(days=rotation)
    p1, p2 = period_index(first.timestamp(), rotation), period_index(second.timestamp(), rotation)
    assert p2 == p1 + 1
    mine_1, mine_2 = pseudonym_for(secret, "demo", p1), pseudonym_for(secret, "demo", p2)
    theirs_2 = pseudonym_for(other, "demo", p2)
    assert mine_1 != mine_2
    hour = lambda moment: moment.strftime("%Y-%m-%dT%H:00Z")  # noqa: E731
    fillers = [_report(f"{i:032x}", COMMON, hour=hour(second)) for i in range(K)]
    _store(storage, [_report(mine_1, COMMON, hour=hour(first))], at=first)
    later = [_report(mine_2, COMMON, hour=hour(second)), _report(theirs_2, COMMON, hour=hour(second))]
    _store(storage, fillers + later, at=second)

    def values_of(install: str) -> set[Any]:
        with db.read_tx(storage.engine) as conn:
            row = conn.execute(sa.text("SELECT * FROM reports WHERE install_id = :i"), {"i": install}).mappings().one()
        detail = storage.report_detail("demo", row["report_id"])
        assert detail is not None
        plain = {k: v for k, v in detail.report.to_dict().items() if not isinstance(v, (dict, list))}
        skip = {"id", "receipt", "detail", "report_id", "received_at", "hour", "received_hour", "day", "data_key_id"}
        return {(k, v) for k, v in row.items() if k not in skip} | {("detail." + k, v) for k, v in plain.items()
                                                                   if k not in ("report_id", "occurred_hour")}

    shared = values_of(mine_1) & values_of(mine_2)
    assert shared <= values_of(mine_1) & values_of(theirs_2)
    assert not any(mine_1 in str(v) for v in values_of(mine_2))
    with db.read_tx(storage.engine) as conn:
        for table in ("quasi_class_counts", "quasi_early_installs", "quasi_rung_reports"):
            periods = set(conn.execute(sa.text(f"SELECT DISTINCT period FROM {table}")).scalars())
            assert periods <= {p1, p2}
        columns = {c for t in ("quasi_class_counts", "quasi_early_installs")
                   for c in conn.execute(sa.text(f"SELECT * FROM {t}")).keys()}
        assert not {"install_id", "pseudonym"} & columns


def test_canary_in_quasi_identifiers_never_stored_as_received(storage: Storage, tmp_path: Path) -> None:
    """A planted value in the OS version and a tag of a rare installation reaches no table,
    no detail and no byte of the database files: the check keeps keyed digests only, and the
    rare combination is coarsened before its detail is sealed."""
    canary_env = ("Linux", CANARY, "CPython", "3.12.4", "riscv64", "server")
    reports = [_report(f"{i:032x}", COMMON) for i in range(K + 2)]
    reports.append(_report("c" * 32, canary_env, tags=(Tag("feature", "CANARYTAG" + uuid.uuid4().hex[:6]),)))
    _store(storage, reports)
    for _, _, values in _stored(storage):
        assert "CANARY" not in repr(values)
    storage.close()
    for path in tmp_path.glob("crashveil.db*"):
        assert b"CANARY" not in path.read_bytes()


def test_an_early_installation_keeps_its_rung_for_the_period(storage: Storage) -> None:
    """The first k - 1 installations of a combination stay suppressed all period, even after
    the combination became common (else the pseudonym would tell them from a rare one)."""
    early = [f"{i:032x}" for i in range(K - 1)]
    _store(storage, [_report(i, COMMON) for i in early], batch=1)
    _store(storage, [_report(f"a{i:031x}", COMMON) for i in range(3)] + [_report(i, COMMON) for i in early])
    by_install: dict[str, set[Any]] = {}
    for install, _, values in _stored(storage):
        by_install.setdefault(install, set()).add(values[0])
    assert all(by_install[i] == {None} for i in early)
    assert by_install["a" + "0" * 31] == {Environment(*COMMON[:5])}


def test_policy_k_for_quasi_identifiers() -> None:
    """``[aggregation] quasi_identifier_min_k`` defaults to ``min_k``; lowering it is material."""
    from crashveil.policy import default_policy
    from crashveil.policy.diff import diff_policies

    policy = default_policy()
    assert policy.aggregation.quasi_k == policy.aggregation.min_k
    lower = dataclasses.replace(policy, aggregation=dataclasses.replace(policy.aggregation, quasi_identifier_min_k=3))
    changes = [c for c in diff_policies(policy, lower).changes if c.path == "aggregation.quasi_identifier_min_k"]
    assert changes and changes[0].material
