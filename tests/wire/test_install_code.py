"""The installation code's format: 120 bits in Crockford base32 with a Luhn mod 32 check character;
read back forgivingly (case, spaces, O/0, I/L/1), refused with a message naming what is wrong."""

from __future__ import annotations

import os

import pytest

from crashveil.errors import InstallationCodeError
from crashveil.wire.install_code import ALPHABET, CODE_CHARS, format_code, parse_code


def test_round_trip_and_forgiving_reading() -> None:
    """Five groups of five; lower case, spaces instead of dashes, O for 0 and l for 1 read the same."""
    key = bytes(range(15))
    code = format_code(key)
    loose = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert ([5] * 5, key, key) == ([len(g) for g in code.split("-")], parse_code(code), parse_code(loose))
    assert 120 == 5 * (CODE_CHARS - 1)


def test_every_single_typo_is_caught() -> None:
    """Each character of a code replaced by each other character: never accepted."""
    code = format_code(os.urandom(15)).replace("-", "")
    accepted = []
    for index, original in enumerate(code):
        for other in ALPHABET.replace(original, ""):
            try:
                parse_code(code[:index] + other + code[index + 1:])
                accepted.append((index, other))
            except InstallationCodeError:
                pass
    assert [] == accepted


@pytest.mark.parametrize(("mangle", "said"), [
    (lambda c: c[:-1], "has 24 letters and digits"),
    (lambda c: "U" + c[1:], "character 1 is not one the code uses"),
    (lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"), "check character does not match"),
])
def test_a_bad_code_is_named_not_echoed(mangle, said) -> None:
    """The message says what is wrong and never repeats the code."""
    bad = mangle(format_code(b"\x42" * 15))
    with pytest.raises(InstallationCodeError) as caught:
        parse_code(bad)
    assert (True, False) == (said in str(caught.value), bad.replace("-", "")[3:12] in str(caught.value))
