"""Access control: passwords, log-in limits, sessions, tokens, roles, fields, audited reads."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from crashveil.errors import AccessDenied, ConfigError, LoginBlocked, LoginFailed, NotVisible
from crashveil.policy import default_policy
from crashveil.server.db.governance_tables import api_tokens, sessions, users
from crashveil.server.governance.access import SESSION_COOKIE, AccessStore, session_cookie_options
from crashveil.server.governance.audit import AuditTrail
from crashveil.server.governance.principals import Principal, check_reason, require_permission, visible_fields

PW = "correct horse battery"
REPORT = {"report_id": "r1", "crash_type": "KeyError", "stack": {"frames": []}, "message": "boom",
          "install_id": "ab" * 16, "release": "1.0"}


@pytest.fixture
def access(trail: AuditTrail, clock) -> AccessStore:
    store = AccessStore(trail.engine, trail, now=clock, hasher=PasswordHasher(time_cost=1, memory_cost=1024),
                        max_failures=3)
    store.add_user("dana", PW, actor="cli")
    store.grant("dana", "alpha", "developer", actor="cli")
    store.add_user("olga", PW, actor="cli")
    store.grant("olga", "alpha", "privacy-officer", actor="cli")
    return store


def _actions(trail: AuditTrail) -> list[str]:
    return [entry.action for entry in trail.entries()]


def test_password_is_stored_as_argon2id(access: AccessStore) -> None:
    """The users table holds an argon2id hash, never the password."""
    with access.engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash).where(users.c.name == "dana")).scalar_one()
    assert (True, False) == (stored.startswith("$argon2id$"), PW in stored)


def test_short_password_is_refused(access: AccessStore) -> None:
    """A password under 12 characters is refused when a user is created."""
    with pytest.raises(ConfigError):
        access.add_user("eve", "short", actor="cli")


def test_login_opens_a_session_with_current_grants(access: AccessStore) -> None:
    """A good password gives a session whose principal holds the user's grants."""
    principal, session_id = access.login("dana", PW)
    loaded = access.load_session(session_id)
    assert (frozenset({"developer"}), frozenset({"developer"})) == (principal.roles_in("alpha"),
                                                                    loaded.roles_in("alpha") if loaded else None)


def test_session_id_is_stored_hashed_and_new_each_login(access: AccessStore) -> None:
    """Each log-in gets a fresh session id, and the database holds only its SHA-256."""
    _, first = access.login("dana", PW)
    _, second = access.login("dana", PW)
    with access.engine.connect() as conn:
        stored = set(conn.execute(sa.select(sessions.c.id_sha256)).scalars())
    assert (True, False, False) == (first != second, first in stored, second in stored)


def test_wrong_password_and_unknown_user_fail_alike(access: AccessStore, trail: AuditTrail) -> None:
    """A wrong password and an unknown name raise the same error with the same message, both audited."""
    with pytest.raises(LoginFailed) as wrong:
        access.login("dana", "wrong password here")
    with pytest.raises(LoginFailed) as unknown:
        access.login("nobody", "wrong password here")
    assert (str(wrong.value), ["login.failure", "login.failure"]) == (str(unknown.value), _actions(trail)[-2:])


def test_login_is_blocked_after_too_many_failures(access: AccessStore, trail: AuditTrail, clock) -> None:
    """After the limit, even the right password is refused until the window has passed."""
    for _ in range(3):
        with pytest.raises(LoginFailed):
            access.login("dana", "wrong password here")
    with pytest.raises(LoginBlocked):
        access.login("dana", PW)
    blocked_action = _actions(trail)[-1]
    clock.advance(minutes=16)
    principal, _ = access.login("dana", PW)
    assert ("login.blocked", "dana") == (blocked_action, principal.name)


def test_session_idle_and_absolute_timeouts(access: AccessStore, clock) -> None:
    """A session ends after 30 idle minutes, and after 12 hours even when used."""
    _, idle = access.login("dana", PW)
    _, busy = access.login("dana", PW)
    clock.advance(minutes=31)
    idle_after = access.load_session(idle)
    for _ in range(25):
        access.load_session(busy)
        clock.advance(minutes=29)
    assert (None, None) == (idle_after, access.load_session(busy))


def test_reading_a_session_writes_its_idle_timer_at_most_once_a_minute(access: AccessStore, clock) -> None:
    """A page read within a minute of the last refresh is a read only; after a minute the idle
    timer moves, so a session used every 20 seconds never times out."""
    _, session_id = access.login("dana", PW)

    def last_seen() -> object:
        with access.engine.connect() as conn:
            return conn.execute(sa.select(sessions.c.last_seen_at)).scalar_one()

    first = last_seen()
    seen = []
    for _ in range(3 * 31):  # 31 minutes
        clock.advance(seconds=20)
        assert access.load_session(session_id) is not None
        seen.append(last_seen())
    assert (first, 1 + 31) == (seen[1], len(set(seen)))  # the log-in time, then one write a minute


def test_logout_invalidates_the_session(access: AccessStore, trail: AuditTrail) -> None:
    """After log-out the session id no longer authenticates, and the log-out is audited."""
    _, session_id = access.login("dana", PW)
    access.logout(session_id)
    assert (None, "logout") == (access.load_session(session_id), _actions(trail)[-1])


def test_disabling_a_user_ends_sessions_and_tokens(access: AccessStore) -> None:
    """A disabled user's session and token stop working, and log-in fails."""
    _, session_id = access.login("dana", PW)
    _, token = access.create_token("dana", "ci", projects=["alpha"], roles=["developer"], actor="cli")
    access.disable_user("dana", actor="cli")
    with pytest.raises(AccessDenied):
        access.authenticate_token(token)
    with pytest.raises(LoginFailed):
        access.login("dana", PW)
    assert access.load_session(session_id) is None


def test_token_is_stored_as_sha256_and_authenticates(access: AccessStore) -> None:
    """The token string is returned once; the database keeps only a SHA-256 of its secret."""
    token_id, token = access.create_token("dana", "ci", projects=["alpha"], roles=["developer"], actor="cli")
    with access.engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens.c.secret_sha256)).scalar_one()
    principal = access.authenticate_token(token)
    assert (False, 64, f"token:{token_id}", frozenset({"developer"})) == (
        token[len("cvt_") + 16 + 1:] in stored, len(stored), principal.actor, principal.roles_in("alpha"))


@pytest.mark.parametrize("mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: t + "x",
                                    lambda t: "cvt_" + "0" * 16 + t[20:], lambda t: ""])
def test_altered_token_is_refused(access: AccessStore, mangle) -> None:
    """A token with a changed secret, id or shape is refused."""
    _, token = access.create_token("dana", "ci", projects=["alpha"], roles=["developer"], actor="cli")
    with pytest.raises(AccessDenied):
        access.authenticate_token(mangle(token))


def test_revoked_and_expired_tokens_are_refused(access: AccessStore, clock) -> None:
    """A revoked token fails at once; an unrevoked one fails after its expiry."""
    revoked_id, revoked = access.create_token("dana", "a", projects=["alpha"], roles=["developer"], actor="cli")
    _, expiring = access.create_token("dana", "b", projects=["alpha"], roles=["developer"], actor="cli",
                                      expires_days=1)
    access.revoke_token(revoked_id, actor="cli")
    with pytest.raises(AccessDenied):
        access.authenticate_token(revoked)
    clock.advance(days=1, seconds=1)
    with pytest.raises(AccessDenied):
        access.authenticate_token(expiring)


def test_token_cannot_hold_roles_the_user_lacks(access: AccessStore) -> None:
    """Minting a token with a role or project the user does not hold is refused (no escalation)."""
    with pytest.raises(AccessDenied):
        access.create_token("dana", "x", projects=["alpha"], roles=["admin"], actor="cli")
    with pytest.raises(AccessDenied):
        access.create_token("dana", "x", projects=["beta"], roles=["developer"], actor="cli")


def test_token_cannot_mint_tokens(access: AccessStore) -> None:
    """A principal authenticated by a token cannot create another token."""
    _, token = access.create_token("dana", "ci", projects=["alpha"], roles=["developer"], actor="cli")
    principal = access.authenticate_token(token)
    with pytest.raises(AccessDenied):
        access.create_token("dana", "more", projects=["alpha"], roles=["developer"], actor=principal.actor,
                            by=principal)


def test_session_user_cannot_mint_tokens_for_others(access: AccessStore) -> None:
    """A non-admin user cannot create a token for another user."""
    principal, _ = access.login("dana", PW)
    with pytest.raises(AccessDenied):
        access.create_token("olga", "x", projects=["alpha"], roles=["privacy-officer"], actor=principal.actor,
                            by=principal)


def test_revoked_role_takes_effect_on_the_next_request(access: AccessStore) -> None:
    """After a role is revoked, the existing session and token no longer carry it."""
    _, session_id = access.login("dana", PW)
    _, token = access.create_token("dana", "ci", projects=["alpha"], roles=["developer"], actor="cli")
    access.revoke("dana", "alpha", "developer", actor="cli")
    session = access.load_session(session_id)
    assert (frozenset(), frozenset()) == (session.roles_in("alpha") if session else None,
                                          access.authenticate_token(token).roles_in("alpha"))


def test_grant_and_revoke_are_audited(access: AccessStore, trail: AuditTrail) -> None:
    """Role changes are recorded with the project and the role."""
    access.grant("dana", "beta", "viewer", actor="cli")
    access.revoke("dana", "beta", "viewer", actor="cli")
    last = trail.entries()[-2:]
    assert ([("role.grant", "beta", {"role": "viewer"}), ("role.revoke", "beta", {"role": "viewer"})]
            == [(e.action, e.project_id, e.details) for e in last])


def test_no_role_in_project_is_404_and_wrong_role_is_403() -> None:
    """Another project's objects are invisible (404); a missing permission in one's own is 403."""
    viewer = Principal(1, "v", "session", {"alpha": frozenset({"viewer"})})
    with pytest.raises(NotVisible):
        require_permission(viewer, "beta", "aggregates.read")
    with pytest.raises(AccessDenied) as denied:
        require_permission(viewer, "alpha", "reports.read")
    assert (False, frozenset({"viewer"})) == (isinstance(denied.value, NotVisible),
                                              require_permission(viewer, "alpha", "aggregates.read"))


@pytest.mark.parametrize(("role", "permission", "allowed"), [
    ("viewer", "reports.read", False), ("developer", "reports.read", True),
    ("privacy-officer", "reports.read", False), ("admin", "reports.read", False),
    ("privacy-officer", "audit.read", True), ("developer", "audit.read", False),
    ("admin", "users.manage", True), ("privacy-officer", "users.manage", False),
    ("developer", "keys.manage", False), ("privacy-officer", "erasure.manage", True),
])
def test_role_permission_matrix(role: str, permission: str, allowed: bool) -> None:
    """Each role holds exactly the permissions of the issue's role table."""
    principal = Principal(1, "u", "session", {"alpha": frozenset({role})})
    try:
        require_permission(principal, "alpha", permission)
        got = True
    except AccessDenied:
        got = False
    assert allowed == got


def test_visible_fields_follow_the_policy() -> None:
    """Free-text fields are visible to developers only; privacy officers see ids, not content."""
    policy = default_policy()
    developer = set(visible_fields(policy, ["developer"]))
    officer = set(visible_fields(policy, ["privacy-officer"]))
    assert ({"message", "comment", "breadcrumbs"}, set(), True) == (
        {"message", "comment", "breadcrumbs"} & developer, {"message", "comment", "breadcrumbs", "stack"} & officer,
        "install_id" in officer)


def test_read_report_filters_fields_and_audits(access: AccessStore, trail: AuditTrail) -> None:
    """A developer's read returns only policy-visible fields and records reason and field names."""
    principal, _ = access.login("dana", PW)
    shown = access.read_report(principal, "alpha", "r1", "ticket 42: crash on save", policy=default_policy(),
                               fetch=lambda p, r: dict(REPORT))
    entry = trail.entries()[-1]
    assert (
        sorted(REPORT),
        "report.read",
        "report:r1",
        {"reason": "ticket 42: crash on save", "fields": sorted(REPORT)},
        "boom" in entry.detail,
    ) == (sorted(shown), entry.action, entry.subject, entry.details, False)


def test_read_report_needs_a_reason(access: AccessStore, trail: AuditTrail) -> None:
    """Without a stated reason nothing is fetched and nothing is shown."""
    principal, _ = access.login("dana", PW)
    fetched: list[str] = []
    with pytest.raises(AccessDenied):
        access.read_report(principal, "alpha", "r1", "  ", policy=default_policy(),
                           fetch=lambda p, r: fetched.append(r) or dict(REPORT))
    assert [] == fetched


def test_read_report_of_another_project_is_404(access: AccessStore) -> None:
    """A developer of alpha asking for a report through project beta gets 404, and nothing is fetched."""
    principal, _ = access.login("dana", PW)
    fetched: list[str] = []
    with pytest.raises(NotVisible):
        access.read_report(principal, "beta", "r1", "ticket 42: crash on save", policy=default_policy(),
                           fetch=lambda p, r: fetched.append(r) or dict(REPORT))
    assert [] == fetched


def test_report_id_not_in_the_project_is_404(access: AccessStore) -> None:
    """A report id that the scoped lookup does not find in the project is 404."""
    principal, _ = access.login("dana", PW)
    with pytest.raises(NotVisible):
        access.read_report(principal, "alpha", "from-beta", "ticket 42: crash on save", policy=default_policy(),
                           fetch=lambda p, r: None)


def test_privacy_officer_cannot_read_report_content(access: AccessStore) -> None:
    """A privacy officer (not also developer) is refused a report read."""
    principal, _ = access.login("olga", PW)
    with pytest.raises(AccessDenied):
        access.read_report(principal, "alpha", "r1", "ticket 42: crash on save", policy=default_policy(),
                           fetch=lambda p, r: dict(REPORT))


def test_cookie_options_are_strict() -> None:
    """The session cookie is __Host-, Secure, HttpOnly and SameSite=strict on path /."""
    assert ({"key": SESSION_COOKIE, "secure": True, "httponly": True, "samesite": "strict", "path": "/"},
            True) == (session_cookie_options(), SESSION_COOKIE.startswith("__Host-"))


@pytest.mark.parametrize("reason", [None, "", "short", "x" * 501, 42])
def test_bad_reasons_are_refused(reason: object) -> None:
    """Missing, too short, too long or non-text reasons are refused."""
    with pytest.raises(AccessDenied):
        check_reason(reason)


def test_whole_flow_keeps_the_trail_valid(access: AccessStore, trail: AuditTrail) -> None:
    """After users, grants, log-ins and tokens the audit trail still verifies."""
    access.login("dana", PW)
    access.create_token("dana", "ci", projects=["alpha"], roles=["developer"], actor="cli")
    assert trail.verify().ok is True
