"""Canonical JSON: the one encoding of bytes that are signed, hashed or compared.

Compact separators, sorted keys, UTF-8, NaN and infinities refused (``ValueError``). The
same value always gives the same bytes, on the SDK and on the server: the remote config
and the deletion confirmation the server signs, the audit trail's hash chain, a report's
``to_json``, the policy digest, the SDK's queue and history files.

``ensure_ascii`` is a keyword because the bytes of existing digests and files must not
change: the policy digest, the SDK's queue metadata, history lines and limits state, and the
retention run summary were always written with non-ASCII characters escaped (``\\u00e9``);
the signed and hash-chained bytes (remote config, deletion confirmation, audit trail) and
report JSON as plain UTF-8, the default. Switching a use changes every digest made with it.

Standard library only, imported on first use (the SDK's ``import crashveil`` never loads it).
"""

from __future__ import annotations

import json

__all__ = ["canonical_json"]


def canonical_json(value: object, *, ensure_ascii: bool = False) -> bytes:
    """The canonical JSON bytes of ``value`` (dicts, lists, tuples, strings, numbers, bools, None).

    Raises:
        ValueError: ``value`` holds NaN or an infinity.
        TypeError: ``value`` holds something JSON has no form for (a datetime, a set...);
            the caller converts it first, so the conversion is part of its documented format.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=ensure_ascii,
                      allow_nan=False).encode("utf-8")
