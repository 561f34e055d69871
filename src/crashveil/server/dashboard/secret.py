"""The dashboard secret: the key of CSRF tokens, log-in cookies and failed-log-in name digests."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["load_or_create_secret"]


def load_or_create_secret(path: Path) -> bytes:
    """The dashboard secret (CSRF derivation, log-in cookie signing), made once, mode 0600."""
    path = Path(path)
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as handle:
        handle.write(value)
    return value
