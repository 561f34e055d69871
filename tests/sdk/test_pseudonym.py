"""Keyed, rotating install pseudonyms."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from crashveil.sdk.consent.pseudonym import InstallSecret, period_index, pseudonym_for
from crashveil.wire.install_code import pseudonym_v1

DAY = 86_400


def test_pseudonym_has_the_wire_form() -> None:
    """A pseudonym is 32 lower-case hex characters."""
    assert re.fullmatch(r"[0-9a-f]{32}", pseudonym_for(b"k" * 32, "proj", 7)) is not None


def test_same_period_same_pseudonym() -> None:
    """Within one rotation period the pseudonym is stable."""
    a = pseudonym_for(b"k" * 32, "proj", period_index(100 * DAY, 30))
    b = pseudonym_for(b"k" * 32, "proj", period_index(100 * DAY + 5 * DAY, 30))
    assert a == b


def test_rotation_changes_the_pseudonym() -> None:
    """The next period gives an unrelated pseudonym."""
    assert pseudonym_for(b"k" * 32, "proj", 3) != pseudonym_for(b"k" * 32, "proj", 4)


def test_projects_cannot_be_linked() -> None:
    """The same install has different pseudonyms in different projects."""
    assert pseudonym_for(b"k" * 32, "a", 3) != pseudonym_for(b"k" * 32, "b", 3)


def test_secret_is_random_and_private(tmp_path: Path) -> None:
    """The secret is drawn from the injected randomness and written mode 0600."""
    secret = InstallSecret(tmp_path / "s" / "install.key", random_bytes=lambda n: b"\x01" * n)
    assert b"\x01" * 32 == secret.get()
    assert 0o600 == stat.S_IMODE((tmp_path / "s" / "install.key").stat().st_mode)


def test_unpersisted_secret_writes_nothing(tmp_path: Path) -> None:
    """A preview's pseudonym needs no file; persisting later keeps the same secret."""
    path = tmp_path / "install.key"
    secret = InstallSecret(path)
    first = secret.pseudonym("p", 0, 30, persist=False)
    assert (False, first) == (path.exists(), secret.pseudonym("p", 0, 30, persist=True))
    assert path.exists() is True


def test_pseudonyms_since_cover_the_lookback(tmp_path: Path) -> None:
    """A deletion request carries the pseudonyms of each period back to the lookback, newest first:
    the current scheme's, then the one before installation codes (reports sent before the upgrade)."""
    secret = InstallSecret(tmp_path / "install.key", random_bytes=lambda n: b"\x02" * n)
    secret.get()
    now = 1000 * DAY
    expected = [name for period in (33, 32, 31, 30)
                for name in (pseudonym_for(b"\x02" * 32, "p", period), pseudonym_v1(b"\x02" * 32, "p", period))]
    assert expected == secret.pseudonyms_since("p", now, 30, 90)


def test_no_secret_no_pseudonyms(tmp_path: Path) -> None:
    """Without a secret nothing was ever sent under a pseudonym, so nothing to delete."""
    assert [] == InstallSecret(tmp_path / "install.key").pseudonyms_since("p", 0, 30, 90)


def test_destroy_unlinks_the_future(tmp_path: Path) -> None:
    """After destroy, a new secret gives unrelated pseudonyms."""
    values = iter([b"\x03" * 32, b"\x04" * 32])
    secret = InstallSecret(tmp_path / "install.key", random_bytes=lambda n: next(values))
    before = secret.pseudonym("p", 0, 30)
    secret.destroy()
    assert (False, True) == ((tmp_path / "install.key").exists(), before != secret.pseudonym("p", 0, 30))
