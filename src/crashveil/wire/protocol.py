"""The HTTP contract between the SDK and the server, kept in one place.

Routes (all under TLS; the server's ``openapi.yaml`` is the full contract):

``POST /api/v1/projects/{project}/reports``
    Body: one sealed report (``SEALED_CONTENT_TYPE``, see ``crashveil.sdk.delivery.seal``), optionally
    gzip or zstd ``Content-Encoding``. ``201`` ``{"receipt": id, "status": "stored"}`` once
    committed; ``200`` with the same receipt when the report id was already stored (retries
    are idempotent). Errors: ``{"error": code, "field": path, "message": text}`` with 400,
    413, 415 or 422 (drop, never retry); 429 and 503 carry ``Retry-After`` (keep, retry later).
``POST /api/v1/projects/{project}/deletion-requests``
    Body: sealed JSON ``{"request_id": <uuid4>, "install_ids": [<32 hex>, ...]}`` (at most
    ``MAX_DELETION_IDS``, newest first), sealed like a report. ``202``
    ``{"request_id", "status", "record", "confirmation"}`` (an Ed25519 signature over
    ``record``: request id, project id, processing time; the same answer whether there were
    reports or not).
``POST /api/v1/projects/{project}/adoption``
    Body: sealed JSON ``{"policy_digest", "consent_level", "release", "day", "install_id"}``
    (exactly these, ``ADOPTION_FIELDS``; ``day`` is the UTC day ``YYYY-MM-DD``), sealed like a
    report: "this installation ran this release today", at most once per installation,
    release and day, only when the policy's ``[adoption]`` allows it at the granted level.
    ``202`` ``{"status": "accepted"}`` whether it was counted or already seen that day; 400
    names a malformed key, 422 a ping the policy does not allow or a day outside the window.
``POST /api/v1/projects/{project}/feedback``
    Body: sealed JSON ``{"feedback_id", "policy_digest", "topic", "text", "reply_digest"}`` and,
    only when the user chose to link it to their reports, ``install_id`` (``FEEDBACK_FIELDS``,
    ``FEEDBACK_OPTIONAL``): the user's privacy feedback, redacted on the device. ``reply_digest``
    is the SHA-256 (hex) of a random reply handle only the device keeps. ``202``
    ``{"status": "accepted"}`` (also for a retry of the same ``feedback_id``).
``GET /api/v1/projects/{project}/feedback/replies``
    Header ``REPLY_HANDLES_HEADER``: up to ``MAX_REPLY_HANDLES`` reply handles, space-separated.
    ``200`` ``{"replies": [{"reply_to": <reply_digest>, "status", "day", "reply"}]}``: the privacy
    officer's answers to those handles' feedback, nothing for a handle without one.
``GET /api/v1/projects/{project}/config``
    Signed remote config: ``{"config": <base64url JSON>, "signature": <base64url>}``.
``GET /api/v1/receipts/{receipt}``
    Public status of one report, no content.

The connection string the server prints for an app (and ``crashveil.init(dsn=...)`` takes)::

    crashveil://HOST:PORT/PROJECT?key=<suite>:<b64url>&sign=ed25519:<b64url>&ca=<b64url DER>

``key`` is the project's HPKE public key, ``sign`` the Ed25519 key that signs remote config,
``ca`` the DER of the CA that signed the server certificate (pinned: the system trust store is
not used). There is no plain-HTTP form.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import quote

from crashveil.wire._connection import PROJECT_ID_PATTERN as PROJECT_ID_PATTERN, parse_connection_parts

__all__ = [
    "API_PREFIX",
    "SEALED_CONTENT_TYPE",
    "SCHEMA_HEADER",
    "MAX_CONFIG_SIGNATURES",
    "MAX_DELETION_IDS",
    "ADOPTION_FIELDS",
    "FEEDBACK_FIELDS",
    "FEEDBACK_OPTIONAL",
    "MAX_REPLY_HANDLES",
    "REPLY_HANDLES_HEADER",
    "feedback_path",
    "feedback_replies_path",
    "PROJECT_ID_PATTERN",
    "ConnectionString",
    "reports_path",
    "deletion_path",
    "adoption_path",
    "config_path",
    "receipt_path",
]

API_PREFIX = "/api/v1"
SEALED_CONTENT_TYPE = "application/vnd.crashveil.sealed"
SCHEMA_HEADER = "X-Crashveil-Schema"
#: Most install ids (pseudonyms of the current and earlier periods) one deletion request names.
MAX_DELETION_IDS = 64
#: Most signatures of one remote config document: the newest signing key and the ones still in
#: their rotation overlap (``sdk/remote/config.py``). The SDK looks at no more.
MAX_CONFIG_SIGNATURES = 4
#: The keys of an adoption ping's payload, every one required and no other allowed.
ADOPTION_FIELDS = ("consent_level", "day", "install_id", "policy_digest", "release")
#: The keys of a privacy feedback payload: every one of ``FEEDBACK_FIELDS`` required, and
#: ``FEEDBACK_OPTIONAL`` only when the user linked the feedback to their reports.
FEEDBACK_FIELDS = ("feedback_id", "policy_digest", "reply_digest", "text", "topic")
FEEDBACK_OPTIONAL = ("install_id",)
#: The header of the reply fetch, and the most handles one fetch names.
REPLY_HANDLES_HEADER = "X-Crashveil-Reply-Handles"
MAX_REPLY_HANDLES = 8
#: ``PROJECT_ID_PATTERN`` (a project id) is defined with the parser, ``_connection.py``.


def reports_path(project: str) -> str:
    return f"{API_PREFIX}/projects/{project}/reports"


def deletion_path(project: str) -> str:
    return f"{API_PREFIX}/projects/{project}/deletion-requests"


def adoption_path(project: str) -> str:
    return f"{API_PREFIX}/projects/{project}/adoption"


def feedback_path(project: str) -> str:
    return f"{API_PREFIX}/projects/{project}/feedback"


def feedback_replies_path(project: str) -> str:
    return f"{API_PREFIX}/projects/{project}/feedback/replies"


def config_path(project: str) -> str:
    return f"{API_PREFIX}/projects/{project}/config"


def receipt_path(receipt: str) -> str:
    return f"{API_PREFIX}/receipts/{receipt}"


@dataclass(frozen=True)
class ConnectionString:
    """Where and how an app reports: server, project, and the keys it pins."""

    host: str
    port: int
    project: str
    public_key: str
    signing_key: str
    ca_der: bytes

    def format(self) -> str:
        ca = base64.urlsafe_b64encode(self.ca_der).rstrip(b"=").decode()
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"crashveil://{host}:{self.port}/{self.project}"
                f"?key={quote(self.public_key, safe=':')}&sign={quote(self.signing_key, safe=':')}&ca={ca}")

    @classmethod
    def parse(cls, text: str) -> ConnectionString:
        """Parse and check a connection string; ``ConfigError`` names the part that is wrong."""
        return cls(*parse_connection_parts(text))
