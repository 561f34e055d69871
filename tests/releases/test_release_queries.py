"""The releases page's reads on SQLite and PostgreSQL: order, new and regressed groups, reports,
crash-affected and active installations (k-anonymous), crash-free rate, adoption, comparison."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crashveil.server.dashboard.releases.queries import compare_releases, release_health

from .conftest import NOW, seed_releases

MIN_K = 5


@pytest.fixture
def seeded(storage):
    return seed_releases(storage)


def test_rows_in_release_order_with_groups_reports_and_installs(storage, seeded) -> None:
    """Most recently seen first, adoption-only last; new and regressed groups; reports; crash-affected
    installations shown at k or more and hidden below."""
    with storage.engine.connect() as conn:
        rows = {r.release: r for r in release_health(conn, "demo", now=NOW, min_k=MIN_K)}
        order = [r.release for r in release_health(conn, "demo", now=NOW, min_k=MIN_K)]
    assert (["2.0", "1.1", "1.0", "2.1"], [1, 1, 1, 0], [1, 0, 0, 0], [11, 9, 10, 0]) == (
        order, [rows[r].new_groups for r in order], [rows[r].regressed_groups for r in order],
        [rows[r].reports for r in order])
    assert 9 <= rows["2.0"].crashed_installs <= 11  # a sketch: exact or a little under at this size
    assert (True, None) == (rows["1.1"].crashed_installs >= 6, rows["2.1"].crashed_installs)


def test_adoption_and_crash_free_rate(storage, seeded) -> None:
    """Active installations of the latest day, the rate over installation-days, 'no adoption data',
    and a rate hidden when its installations are fewer than k."""
    with storage.engine.connect() as conn:
        rows = {r.release: r for r in release_health(conn, "demo", now=NOW, min_k=MIN_K)}
    new, old, unpinged, quiet = rows["2.0"], rows["1.1"], rows["1.0"], rows["2.1"]
    assert (50, True, 30, 50) == (new.active_installs, new.has_adoption, len(new.adoption), new.adoption[-1].installs)
    assert 0.77 <= new.crash_free <= 0.82  # 1 - ~11 / 50
    assert (True, None, True, None) == (old.has_adoption, old.active_installs, old.rate_hidden, old.crash_free)
    assert (False, None, None) == (unpinged.has_adoption, unpinged.active_installs, unpinged.crash_free)
    assert (7, 1.0, None) == (quiet.active_installs, quiet.crash_free, quiet.adoption[-2].installs)


def test_compare_two_releases(storage, seeded) -> None:
    """B against A: groups seen in B and never in A, groups seen in A and not in B, both rows."""
    with storage.engine.connect() as conn:
        result = compare_releases(conn, "demo", "1.1", "2.0", now=NOW, min_k=MIN_K)
    assert (["OSError"], ["TypeError"], "1.1", "2.0", 50) == (
        [g.crash_type for g in result.new_in_b], [g.crash_type for g in result.fixed_in_b], result.a.release,
        result.b.release, result.b.active_installs)


def test_old_adoption_leaves_the_window(storage, seeded) -> None:
    """Forty days on, nothing of the window is left: no adoption data, no reports in the window."""
    with storage.engine.connect() as conn:
        rows = {r.release: r for r in release_health(conn, "demo", now=NOW + timedelta(days=40), min_k=MIN_K)}
    assert (False, 0, ["2.0", "1.1", "1.0"]) == (rows["2.0"].has_adoption, rows["2.0"].reports, list(rows))
