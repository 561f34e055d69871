"""The installation code: what lets a person have an installation's reports erased from outside the app.

An install's pseudonyms (scheme v2) are derived in two steps from its 32-byte install secret::

    erasure_key = HMAC-SHA256(secret, "crashveil/erasure-key/v2")[:15]                  120 bits
    pseudonym   = HMAC-SHA256(erasure_key, "crashveil/pseudonym/v2" | project | period)[:16]

The SDK shows ``erasure_key`` to its user as the *installation code*. Whoever holds the code
(the person, or a privacy officer they gave it to) can recompute the pseudonyms of every
rotation period and so find every report of the installation still kept, long after the app
and its secret are gone. Whoever does not hold it (the server, a thief of its database) sees
per-period HMAC outputs under a 120-bit key: the periods stay unlinkable, as with v1
(``HMAC(secret, "crashveil/pseudonym/v1" | project | period)``, which had no code to show).

The code is Crockford base32 (digits and upper-case letters without I, L, O, U; read back
case-insensitively, with O as 0 and I, L as 1): 24 characters of key and one check character
(Luhn mod 32: every single mistyped character is caught, and nearly every swap of two neighbours), shown
as five groups of five, ``7K3QD-...-XXXXC``. Standard library only: the SDK and the server both
use this module.
"""

from __future__ import annotations

from crashveil.errors import InstallationCodeError

__all__ = ["CODE_CHARS", "ERASURE_KEY_BYTES", "code_digest", "erasure_key", "format_code", "parse_code", "period_index",
           "pseudonym_v1", "pseudonym_v2"]

ERASURE_KEY_BYTES = 15
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Characters of a code, check character included (group dashes not counted).
CODE_CHARS = ERASURE_KEY_BYTES * 8 // 5 + 1
_GROUP = 5
_INDEX = {char: index for index, char in enumerate(ALPHABET)}
_INDEX.update({"O": 0, "I": 1, "L": 1})
_KEY_LABEL = b"crashveil/erasure-key/v2"
_V1_LABEL = b"crashveil/pseudonym/v1\x00"
_V2_LABEL = b"crashveil/pseudonym/v2\x00"
_EXPECTED = f"{CODE_CHARS} letters and digits in groups of {_GROUP}, as the app shows it"


def _hmac(key: bytes, message: bytes) -> bytes:
    import hashlib  # here: the SDK's init() never needs them
    import hmac

    return hmac.new(key, message, hashlib.sha256).digest()


def erasure_key(secret: bytes) -> bytes:
    """The 15-byte erasure key of an install secret (what the installation code encodes)."""
    return _hmac(secret, _KEY_LABEL)[:ERASURE_KEY_BYTES]


def period_index(now_s: float, rotation_days: int) -> int:
    """Index of the pseudonym rotation period containing ``now_s`` (seconds since the epoch):
    the SDK derives the period's pseudonym from it, the server finds the period of a report
    or every period an erasure must cover."""
    return int(now_s // (rotation_days * 86_400))


def _period_message(label: bytes, project: str, period: int) -> bytes:
    return label + project.encode("utf-8") + b"\x00" + str(period).encode("ascii")


def pseudonym_v2(key: bytes, project: str, period: int) -> str:
    """The 32-hex-character pseudonym (scheme v2) of the install whose erasure key is ``key``."""
    return _hmac(key, _period_message(_V2_LABEL, project, period)).hex()[:32]


def pseudonym_v1(secret: bytes, project: str, period: int) -> str:
    """The pseudonym of scheme v1 (before installation codes): kept so ``revoke()`` still erases
    the reports an install sent before it was upgraded."""
    return _hmac(secret, _period_message(_V1_LABEL, project, period)).hex()[:32]


def _check_character(values: list[int]) -> int:
    """Luhn mod 32 over ``values`` (the key's characters): the value of the check character."""
    total, factor = 0, 2
    for value in reversed(values):
        addend = factor * value
        total += addend // 32 + addend % 32
        factor = 3 - factor
    return (32 - total % 32) % 32


def format_code(key: bytes) -> str:
    """``key`` (15 bytes) as the installation code people read: five dash-separated groups."""
    if len(key) != ERASURE_KEY_BYTES:
        raise ValueError(f"an erasure key has {ERASURE_KEY_BYTES} bytes")
    number = int.from_bytes(key, "big")
    values = [(number >> shift) & 31 for shift in range(5 * (CODE_CHARS - 2), -1, -5)]
    values.append(_check_character(values))
    text = "".join(ALPHABET[value] for value in values)
    return "-".join(text[start:start + _GROUP] for start in range(0, len(text), _GROUP))


def parse_code(text: object) -> bytes:
    """The erasure key an installation code stands for.

    Spaces and dashes are ignored, case does not matter, O reads as 0 and I, L as 1. Raises
    :class:`InstallationCodeError` naming what is wrong (length, a character by position, the
    check character); the code is never repeated in the message.
    """
    if not isinstance(text, str):
        raise InstallationCodeError("is missing", _EXPECTED)
    compact = "".join(text.split()).replace("-", "").upper()
    if len(compact) != CODE_CHARS:
        raise InstallationCodeError(f"has {len(compact)} letters and digits", _EXPECTED)
    values: list[int] = []
    for position, char in enumerate(compact, start=1):
        value = _INDEX.get(char)
        if value is None:
            raise InstallationCodeError(f"character {position} is not one the code uses",
                                        "digits and letters other than U")
        values.append(value)
    if _check_character(values[:-1]) != values[-1]:
        raise InstallationCodeError("the check character does not match: a character was mistyped or two swapped",
                                    "the code exactly as the app shows it")
    number = 0
    for value in values[:-1]:
        number = (number << 5) | value
    return number.to_bytes(ERASURE_KEY_BYTES, "big")


def code_digest(key: bytes) -> str:
    """A digest of an erasure key, for the confirmation handed to the person (never stored):
    it lets them see the confirmation is about their code, and tells no one else anything."""
    import hashlib

    return hashlib.blake2b(key, digest_size=16, person=b"cv-erasure-code").hexdigest()
