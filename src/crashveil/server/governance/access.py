"""Users, roles per project, passwords, API tokens, sessions and log-in limits, and the
audited read of one report.

Who may do what once authenticated (roles, permissions, the fields each role sees) is
``principals``; this module turns users, sessions and tokens into principals.
Every object lookup is scoped by the authorised project.

Secrets: passwords are hashed with argon2id (argon2-cffi defaults, RFC 9106); API tokens
(``cvt_<id>_<secret>``, 256 random bits) and session ids are stored as SHA-256 and compared
with :func:`hmac.compare_digest` after a lookup by id. Tokens never exceed the current
grants of their user, so revoking a role takes effect on the next request.

Log-in limit: after ``max_failures`` failed log-ins for one account within
``failure_window``, further attempts are refused without checking the password (ASVS v4
2.2.1 allows at most 100 per hour; we default to 10 per 15 minutes). Each attempt is
reserved atomically before its password is checked, so concurrent attempts cannot overrun
the limit; accounts are named by a keyed digest of the typed name, never the name
(``login_guard``). Unknown names take the same time and give the same answer as wrong
passwords (no user enumeration).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection, Engine

from crashveil.errors import AccessDenied, ConfigError, LoginBlocked, LoginFailed, NotVisible, TokenRefused
from crashveil.policy.model import ROLES, Policy
from crashveil.server.db.engine import read_tx, write_tx
from crashveil.server.db.governance_tables import api_tokens, role_grants, sessions, users
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.login_guard import (
    AnonymousAuditGate,
    account_digest,
    normalise_name,
    release_attempts,
    reserve_attempt,
)
from crashveil.server.governance.principals import (
    ALL_PROJECTS,
    PERMISSIONS,
    Principal,
    check_reason,
    require_permission,
    visible_fields,
)
from crashveil.server.governance.token_scopes import USE_WRITE_EVERY, UseCounter, check_scopes
from crashveil.server.http.ratelimit import KeyedLimiter

__all__ = [
    "SESSION_COOKIE",
    "AccessStore",
    "ApiCaller",
    "TokenInfo",
    "UserInfo",
    "session_cookie_options",
]

#: The session cookie: ``__Host-`` prefix (Secure, Path=/, no Domain), HttpOnly, SameSite.
SESSION_COOKIE = "__Host-crashveil-session"
_TOKEN_RE = re.compile(r"^cvt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PROJECT_RE = re.compile(r"^(\*|[a-z0-9][a-z0-9-]{0,62})$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def session_cookie_options(*, max_age_s: int | None = None) -> dict[str, Any]:
    """Keyword arguments for Starlette's ``Response.set_cookie`` (value added by the caller)."""
    options: dict[str, Any] = {"key": SESSION_COOKIE, "secure": True, "httponly": True, "samesite": "strict",
                               "path": "/"}
    if max_age_s is not None:
        options["max_age"] = max_age_s
    return options


def _token_grants(user_grants: Mapping[str, frozenset[str]], scope_projects: list[str],
                  scope_roles: frozenset[str]) -> dict[str, frozenset[str]]:
    """A token's grants: its user's current grants, cut to the token's projects and roles."""
    grants: dict[str, frozenset[str]] = {}
    names = set(user_grants) if ALL_PROJECTS in scope_projects else set(scope_projects)
    for project in names:
        held = user_grants.get(project, frozenset())
        if project != ALL_PROJECTS:
            held = held | user_grants.get(ALL_PROJECTS, frozenset())
        roles = held & scope_roles
        if roles:
            grants[project] = roles
    return grants


# --- the store ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserInfo:
    user_id: int
    name: str
    created_at: datetime
    disabled: bool
    grants: Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    user: str
    name: str
    projects: tuple[str, ...]
    roles: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    last_used_at: datetime | None
    scopes: tuple[str, ...] = ()
    use_count: int = 0


@dataclass(frozen=True)
class ApiCaller:
    """Who calls the API: the token's principal (its roles) and the token's scopes."""

    principal: Principal
    scopes: frozenset[str]


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError("user name", "is not allowed", "1-64 of a-z 0-9 . _ - (lower case)")
    return name


def _check_project(project_id: str) -> str:
    if not isinstance(project_id, str) or not _PROJECT_RE.match(project_id):
        raise ConfigError("project", f"{project_id!r} is not a project id", "a project id, or * for all")
    return project_id


def _check_role(role: str) -> str:
    if role not in PERMISSIONS:
        raise ConfigError("role", f"{role!r} is not a role", " or ".join(ROLES))
    return role


#: A session's idle timer is moved at most this often. Reading a page is then a read, not a
#: write transaction per request (on SQLite the write lock the ingest writer needs; on
#: PostgreSQL three more round trips); the idle timeout (30 min) is late by at most this.
SESSION_TOUCH = timedelta(seconds=60)


class AccessStore:
    """Users, grants, tokens and sessions in the database; every change is audited.

    Args:
        engine: the server database.
        audit: where changes, log-ins and reads are recorded.
        now: the clock.
        hasher: argon2id hasher (tests may pass cheaper parameters).
        max_failures, failure_window: the per-account log-in limit.
        account_key: the key of the typed names' digests (``login_guard.account_digest``).
        anonymous_audit: the bucket in front of anonymous audit entries (default: 30, then 1 per 5 s).
        session_idle, session_absolute: session timeouts (ASVS v4 3.3.2 L2: 30 min, 12 h).
    """

    def __init__(self, engine: Engine, audit: AuditTrail, *, now: Callable[[], datetime] = _utcnow,
                 hasher: PasswordHasher | None = None, max_failures: int = 10,
                 failure_window: timedelta = timedelta(minutes=15),
                 session_idle: timedelta = timedelta(minutes=30),
                 session_absolute: timedelta = timedelta(hours=12), account_key: bytes | None = None,
                 anonymous_audit: KeyedLimiter | None = None) -> None:
        self.engine = engine
        self.audit = audit
        self._now = now
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()
        self.max_failures = max_failures
        self.failure_window = failure_window
        self.session_idle = session_idle
        self.session_absolute = session_absolute
        # A server's processes must share the key (app.py passes the dashboard secret);
        # without one, digests match only within this store (tests, the CLI).
        self._account_key = account_key if account_key is not None else secrets.token_bytes(32)
        self.anonymous_audit = AnonymousAuditGate(anonymous_audit)
        self._token_uses = UseCounter()

    def _dummy(self) -> str:
        """The hash an unknown name is verified against, so that both cost one verify.

        Made on the first log-in rather than in ``__init__``: a full argon2 hash costs about
        half a second, which every server process and CLI command would pay without a log-in.
        The first log-in pays it whatever the name, so its time tells nothing about the name."""
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            return self._dummy_hash

    # -- users ----------------------------------------------------------------------------------
    def _hash_password(self, password: str) -> str:
        if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise ConfigError("password", "has the wrong length", f"{MIN_PASSWORD} to {MAX_PASSWORD} characters")
        return self._hasher.hash(password)

    def _user_row(self, conn: Connection, name: str) -> Any:
        return conn.execute(sa.select(users).where(users.c.name == name)).first()

    def _require_user(self, conn: Connection, name: str) -> Any:
        row = self._user_row(conn, _check_name(name))
        if row is None:
            raise ConfigError("user", f"{name!r} does not exist", "a name from 'crashveil user list'")
        return row

    def add_user(self, name: str, password: str, *, actor: str) -> int:
        """Create a user (no roles yet); returns the user id."""
        _check_name(name)
        hashed = self._hash_password(password)
        with write_tx(self.engine) as conn:
            if self._user_row(conn, name) is not None:
                raise ConfigError("user", f"{name!r} already exists", "a new name")
            user_id = int(conn.execute(users.insert().values(name=name, password_hash=hashed,
                                                             created_at=self._now())).inserted_primary_key[0])  # type: ignore[index]  # SQLAlchemy types it Optional; an insert always has one
            self.audit.record("user.add", actor=actor, subject=f"user:{user_id}", conn=conn)
        self.audit.checkpoint()
        return user_id

    def disable_user(self, name: str, *, actor: str) -> None:
        """Disable a user: log-in, sessions and tokens stop working at once."""
        with write_tx(self.engine) as conn:
            row = self._require_user(conn, name)
            conn.execute(users.update().where(users.c.id == row.id).values(disabled_at=self._now()))
            self._end_sessions(conn, row.id)
            self.audit.record("user.disable", actor=actor, subject=f"user:{row.id}", conn=conn)
        self.audit.checkpoint()

    def _grants(self, conn: Connection, user_id: int) -> dict[str, frozenset[str]]:
        found: dict[str, set[str]] = {}
        for row in conn.execute(sa.select(role_grants.c.project_id, role_grants.c.role)
                                .where(role_grants.c.user_id == user_id)):
            found.setdefault(row.project_id, set()).add(row.role)
        return {project: frozenset(roles) for project, roles in found.items()}

    def list_users(self) -> list[UserInfo]:
        with read_tx(self.engine) as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
            return [UserInfo(r.id, r.name, r.created_at, r.disabled_at is not None, self._grants(conn, r.id))
                    for r in rows]

    def grant(self, name: str, project_id: str, role: str, *, actor: str) -> bool:
        """Grant ``role`` on ``project_id`` (``*``: all); False if it was already held."""
        _check_project(project_id)
        _check_role(role)
        with write_tx(self.engine) as conn:
            row = self._require_user(conn, name)
            exists = conn.execute(sa.select(role_grants.c.role).where(
                role_grants.c.user_id == row.id, role_grants.c.project_id == project_id,
                role_grants.c.role == role)).first()
            if exists is not None:
                return False
            conn.execute(role_grants.insert().values(user_id=row.id, project_id=project_id, role=role,
                                                     granted_at=self._now()))
            self.audit.record("role.grant", actor=actor, project_id=project_id, subject=f"user:{row.id}",
                              detail={"role": role}, conn=conn)
        self.audit.checkpoint()
        return True

    def revoke(self, name: str, project_id: str, role: str, *, actor: str) -> bool:
        """Revoke ``role`` on ``project_id``; effective on the next request. False if not held."""
        _check_project(project_id)
        _check_role(role)
        with write_tx(self.engine) as conn:
            row = self._require_user(conn, name)
            done = conn.execute(role_grants.delete().where(
                role_grants.c.user_id == row.id, role_grants.c.project_id == project_id,
                role_grants.c.role == role)).rowcount
            if not done:
                return False
            self.audit.record("role.revoke", actor=actor, project_id=project_id, subject=f"user:{row.id}",
                              detail={"role": role}, conn=conn)
        self.audit.checkpoint()
        return True

    # -- tokens ---------------------------------------------------------------------------------
    def create_token(self, name: str, token_name: str, *, projects: Iterable[str], roles: Iterable[str],
                     actor: str, by: Principal | None = None, expires_days: int | None = 90,
                     scopes: Iterable[str] = ()) -> tuple[str, str]:
        """A new API token for user ``name``: returns (token id, token). The token is shown once.

        The token's roles must be held by the user in every listed project now; later, it
        never exceeds the user's current grants. A token cannot create tokens (``by``).
        ``scopes`` (``token_scopes.SCOPES``) name the API operations it may call; with
        none it can only list its projects.
        """
        scope_list = check_scopes(scopes)
        if by is not None and by.kind == "token":
            raise AccessDenied("an API token cannot create tokens")
        project_list = sorted({_check_project(p) for p in projects})
        role_list = sorted({_check_role(r) for r in roles})
        if not project_list or not role_list:
            raise ConfigError("token", "needs at least one project and one role", "--project P --role R")
        if not re.match(r"^[A-Za-z0-9 ._-]{1,64}$", token_name):
            raise ConfigError("token name", "is not allowed", "1-64 of letters, digits, space . _ -")
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = self._now()
        with write_tx(self.engine) as conn:
            row = self._require_user(conn, name)
            if by is not None and by.kind == "session" and by.user_id != row.id \
                    and "admin" not in by.roles_in(ALL_PROJECTS):
                raise AccessDenied("only an admin of all projects can create tokens for other users")
            grants = self._grants(conn, row.id)
            for project in project_list:
                held = grants.get(project, frozenset()) | grants.get(ALL_PROJECTS, frozenset())
                missing = set(role_list) - held
                if missing:
                    raise AccessDenied(f"user {name!r} does not hold {', '.join(sorted(missing))} in {project!r}")
            conn.execute(api_tokens.insert().values(
                token_id=token_id, user_id=row.id, name=token_name, secret_sha256=_sha256(secret),
                projects=",".join(project_list), roles=",".join(role_list), scopes=",".join(scope_list),
                created_at=now,
                expires_at=now + timedelta(days=expires_days) if expires_days else None))
            self.audit.record("token.create", actor=actor, subject=f"token:{token_id}",
                              detail={"user": f"user:{row.id}", "projects": project_list, "roles": role_list,
                                      "scopes": scope_list},
                              conn=conn)
        self.audit.checkpoint()
        return token_id, f"cvt_{token_id}_{secret}"

    def revoke_token(self, token_id: str, *, actor: str) -> bool:
        """Revoke a token at once; False if unknown or already revoked."""
        with write_tx(self.engine) as conn:
            done = conn.execute(api_tokens.update().where(api_tokens.c.token_id == token_id,
                                                          api_tokens.c.revoked_at.is_(None))
                                .values(revoked_at=self._now())).rowcount
            if not done:
                return False
            self.audit.record("token.revoke", actor=actor, subject=f"token:{token_id}", conn=conn)
        self.audit.checkpoint()
        return True

    def list_tokens(self) -> list[TokenInfo]:
        with read_tx(self.engine) as conn:
            rows = conn.execute(sa.select(api_tokens, users.c.name.label("user_name"))
                                .join(users, users.c.id == api_tokens.c.user_id)
                                .order_by(api_tokens.c.created_at)).all()
        return [TokenInfo(r.token_id, r.user_name, r.name, tuple(r.projects.split(",")), tuple(r.roles.split(",")),
                          r.created_at, r.expires_at, r.revoked_at is not None, r.last_used_at,
                          tuple(s for s in r.scopes.split(",") if s), int(r.use_count)) for r in rows]

    def authenticate_token(self, token: str) -> Principal:
        """The principal of an API token (``Authorization: Bearer cvt_...``); see :meth:`authenticate_api`."""
        return self.authenticate_api(token).principal

    def authenticate_api(self, token: str) -> ApiCaller:
        """The principal and scopes of an API token (``Authorization: Bearer cvt_...``).

        A read transaction; the use is written at most once a minute per token
        (``token_scopes.UseCounter``), so API reads do not each cost a write.

        Raises:
            TokenRefused: unknown, malformed, revoked or expired token, or disabled user
                (one message for all; HTTP 401).
        """
        denied = TokenRefused("the token is not valid")
        match = _TOKEN_RE.match(token) if isinstance(token, str) else None
        if match is None:
            raise denied
        token_id, secret = match.groups()
        now = self._now()
        with read_tx(self.engine) as conn:
            row = conn.execute(sa.select(api_tokens, users.c.name.label("user_name"), users.c.disabled_at)
                               .join(users, users.c.id == api_tokens.c.user_id)
                               .where(api_tokens.c.token_id == token_id)).first()
            expected = row.secret_sha256 if row is not None else _sha256("-")
            good = hmac.compare_digest(expected, _sha256(secret))
            if row is None or not good or row.revoked_at is not None or row.disabled_at is not None \
                    or (row.expires_at is not None and row.expires_at <= now):
                raise denied
            user_grants = self._grants(conn, row.user_id)
        self._note_use(token_id, row.last_used_at, now)
        principal = Principal(row.user_id, row.user_name, "token",
                              _token_grants(user_grants, row.projects.split(","), frozenset(row.roles.split(","))),
                              token_id)
        return ApiCaller(principal, frozenset(s for s in row.scopes.split(",") if s))

    def _note_use(self, token_id: str, last_used: datetime | None, now: datetime) -> None:
        """Write the token's last use and use count if a write is due (one process wins a minute)."""
        uses = self._token_uses.count(token_id, last_used, now)
        if not uses:
            return
        t = api_tokens.c
        with write_tx(self.engine) as conn:
            done = conn.execute(api_tokens.update().where(
                t.token_id == token_id, sa.or_(t.last_used_at.is_(None), t.last_used_at <= now - USE_WRITE_EVERY))
                .values(last_used_at=now, use_count=t.use_count + uses)).rowcount
        if not done:
            self._token_uses.restore(token_id, uses)

    # -- log-in and sessions --------------------------------------------------------------------
    def login(self, name: str, password: str) -> tuple[Principal, str]:
        """Check a password and open a session: returns (principal, session id for the cookie).

        The attempt is reserved against the account's limit before the password is checked
        (:func:`crashveil.server.governance.login_guard.reserve_attempt`); the typed name is kept only
        as a keyed digest.

        Raises:
            LoginBlocked: too many recent failures for this account (the password is not checked).
            LoginFailed: unknown name, wrong password or disabled user (one answer for all).
        """
        account = normalise_name(name)
        digest = account_digest(self._account_key, account)
        dummy = self._dummy()
        now = self._now()
        with write_tx(self.engine) as conn:
            reservation, failures = reserve_attempt(conn, digest, now=now, window=self.failure_window,
                                                    limit=self.max_failures)
            row = self._user_row(conn, account) if _NAME_RE.match(account) else None
        subject = f"user:{row.id}" if row is not None else "user:unknown"
        if reservation is None:
            self.anonymous_audit.record(self.audit, "login.blocked", subject=subject, detail={"failures": failures})
            raise LoginBlocked()
        ok = False
        try:
            ok = self._hasher.verify(row.password_hash if row is not None else dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError, TypeError):
            ok = False
        if not ok or row is None or row.disabled_at is not None:
            self.anonymous_audit.record(self.audit, "login.failure", subject=subject)
            raise LoginFailed()
        session_id = secrets.token_urlsafe(32)
        with write_tx(self.engine) as conn:
            if self._hasher.check_needs_rehash(row.password_hash):
                conn.execute(users.update().where(users.c.id == row.id)
                             .values(password_hash=self._hasher.hash(password)))
            release_attempts(conn, digest, reservation)
            conn.execute(sessions.insert().values(id_sha256=_sha256(session_id), user_id=row.id, created_at=now,
                                                  last_seen_at=now))
            grants = self._grants(conn, row.id)
            self.audit.record("login.success", actor=f"user:{row.id}", subject=f"user:{row.id}", conn=conn)
        self.audit.checkpoint()
        return Principal(row.id, row.name, "session", grants), session_id

    def load_session(self, session_id: str | None) -> Principal | None:
        """The principal of a session cookie, with its current grants; ``None`` if it is not
        valid (unknown, ended, idle too long, too old, user disabled). Refreshes its idle timer."""
        if not isinstance(session_id, str) or not 20 <= len(session_id) <= 128:
            return None
        now = self._now()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sessions, users.c.name, users.c.disabled_at)
                               .join(users, users.c.id == sessions.c.user_id)
                               .where(sessions.c.id_sha256 == _sha256(session_id))).first()
            if row is None or row.ended_at is not None or row.disabled_at is not None \
                    or now - row.last_seen_at > self.session_idle or now - row.created_at > self.session_absolute:
                return None
            principal = Principal(row.user_id, row.name, "session", self._grants(conn, row.user_id))
        if now - row.last_seen_at >= SESSION_TOUCH:
            with write_tx(self.engine) as conn:
                conn.execute(sessions.update().where(sessions.c.id_sha256 == row.id_sha256,
                                                     sessions.c.ended_at.is_(None)).values(last_seen_at=now))
        return principal

    def logout(self, session_id: str) -> None:
        """End a session on the server (the cookie alone is then worthless)."""
        if not isinstance(session_id, str):
            return
        with write_tx(self.engine) as conn:
            row = conn.execute(sa.select(sessions.c.user_id).where(
                sessions.c.id_sha256 == _sha256(session_id), sessions.c.ended_at.is_(None))).first()
            if row is None:
                return
            conn.execute(sessions.update().where(sessions.c.id_sha256 == _sha256(session_id))
                         .values(ended_at=self._now()))
            self.audit.record("logout", actor=f"user:{row.user_id}", subject=f"user:{row.user_id}", conn=conn)
        self.audit.checkpoint()

    def _end_sessions(self, conn: Connection, user_id: int) -> None:
        conn.execute(sessions.update().where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
                     .values(ended_at=self._now()))

    # -- reading one report ---------------------------------------------------------------------
    def read_report(self, principal: Principal, project_id: str, report_id: str, reason: object, *,
                    policy: Policy, fetch: Callable[[str, str], Mapping[str, Any] | None]) -> dict[str, Any]:
        """One report, cut down to the fields the principal's roles may see, and audited.

        ``fetch(project_id, report_id)`` returns the stored report as a dict (for example
        ``storage.report_detail(...).report.to_dict()``) or ``None``. The audit entry (user,
        report id, reason, field names shown) is committed before anything is returned.

        Raises:
            NotVisible: no role in the project, or no such report in it (404).
            AccessDenied: no role that reads reports, or no valid reason (403).
        """
        roles = require_permission(principal, project_id, "reports.read")
        text = check_reason(reason)
        body = fetch(project_id, report_id)
        if body is None:
            raise NotVisible(f"no report {report_id!r}")
        allowed = visible_fields(policy, roles)
        shown = {name: body[name] for name in allowed if body.get(name) is not None}
        self.audit.record("report.read", actor=principal.actor, project_id=project_id,
                          subject=f"report:{report_id}", detail={"reason": text, "fields": sorted(shown)})
        return shown
