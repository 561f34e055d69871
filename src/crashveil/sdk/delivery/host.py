"""What a message of its own (the adoption ping, privacy feedback) uses of the client to be
sealed and queued like a report. Imported for type checking only: the client passes itself in,
and nothing that uses this protocol imports the client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from crashveil.policy.model import Policy
from crashveil.redact import Redactor
from crashveil.sdk.consent.pseudonym import InstallSecret
from crashveil.sdk.consent.store import ConsentStore

__all__ = ["SealedMessageHost"]


class SealedMessageHost(Protocol):
    """The client as a message of its own sees it: its policy and redactor, the install secret
    and consent, sealing to the server's key, the on-disk queue and the sending thread."""

    data_dir: Path
    project: str | None
    secret: InstallSecret
    consent: ConsentStore
    now: Callable[[], float]

    @property
    def policy(self) -> Policy: ...
    @property
    def redactor(self) -> Redactor: ...
    def seal_for_server(self, payload: bytes) -> bytes | None: ...
    def queue(self, *, create: bool) -> Any: ...
    def wake_sender(self) -> None: ...
