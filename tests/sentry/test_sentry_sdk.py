"""The real ``sentry-sdk`` from PyPI, in a subprocess, pointed at a crashveil server over HTTPS.

The app plants personal data everywhere the Sentry SDK picks it up with
``send_default_pii=True``: the exception message, local variables, a WSGI request (query,
cookies, headers, body, client address), the user context, breadcrumbs, tags, extra and the
server name. None of it may reach storage: the database files are scanned byte for byte and
every stored report is decrypted and scanned too. The crash must still be grouped by its
frames.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sentry_sdk")


HERE = Path(__file__).parent

PLANTED = {
    "email": "zoe.planted@example.org",
    "user_id": "user-8812-planted",
    "username": "zoeplanted",
    "ip": "203.0.113.77",
    "card": "4111 1111 1111 1111",
    "password": "hunter2-planted-pw",
    "token": "tok_9f8e7d6c5b4a3f2e1d0c",
    "cookie": "sessionid=planted-cookie-v4lue",
    "tag": "planted-tag-value-7731",
    "extra": "planted-extra-value-5512",
    "host": "zoe-planted-laptop",
    "query": "planted-query-value-9931",
    "body": "planted-body-value-4471",
    "header": "planted-header-value-2203",
    "phone": "+44 20 7946 0958",
}

#: One canary per string the Sentry mapping stores, each of a kind the server redactor finds
#: (tokens, a home path with a user name, an IP address, an e-mail address). Planted by the
#: app's third crash (a handled billing error with a chained cause) or its scope.
CANARIES = {
    "exception.type": "ghp_PlantedTypeToken0123456789abcdefXYZ",
    "exception.module": "sk_live_PlantedModule51Hx9aQ2bC3dE4fG",
    "chain.type": "AKIAPLANTEDCHAIN0123",
    "chain.module": "ghs_PlantedChainModule0123456789abcdef",
    "frame.function": "ghu_PlantedFunction0123456789abcdefghij",
    "frame.path": "zoeplantedhome",
    "frame.module": "ghr_PlantedFrameModule0123456789abcdefgh",
    "breadcrumb.category": "xoxb-planted-category-4455667788",
    "breadcrumb.message": "planted.crumb@example.org",
    "release": "ghp_PlantedRelease0123456789abcdefghijk",
    "exception.value": "planted.value@example.org",
    "chain.value": "planted.cause@example.org",
    "os.name": "planted.os@example.org",
    "runtime.name": "ghp_PlantedRuntime0123456789abcdefghijk",
}

APP = textwrap.dedent("""
    import sys, wsgiref.util
    import sentry_sdk
    from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

    dsn, ca, planted = sys.argv[1], sys.argv[2], __import__("json").loads(sys.argv[3])
    sentry_sdk.init(dsn=dsn, ca_certs=ca, send_default_pii=True, include_local_variables=True,
                    release="shop@2.0.0", environment="production", server_name=planted["host"],
                    max_request_body_size="always", shutdown_timeout=10, in_app_include=["__main__"])
    sentry_sdk.set_user({"id": planted["user_id"], "email": planted["email"], "username": planted["username"],
                         "ip_address": planted["ip"]})
    sentry_sdk.set_tag("customer", planted["tag"])
    sentry_sdk.set_extra("note", planted["extra"])
    message = "login " + planted["email"] + " from " + planted["ip"] + " tel " + planted["phone"]
    sentry_sdk.add_breadcrumb(category="auth", message=message,
                              data={"password": planted["password"]})

    def charge(card, email):
        password = planted["password"]
        token = planted["token"]
        raise ValueError(f"cannot charge card {card} for {email!r} with {token}")

    def checkout(environ, start_response):
        try:
            charge(planted["card"], planted["email"])
        except ValueError as exc:
            raise RuntimeError("checkout failed for " + planted["email"]) from exc

    app = SentryWsgiMiddleware(checkout)
    body = ("note=" + planted["body"]).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/checkout", "QUERY_STRING": "q=" + planted["query"],
               "REMOTE_ADDR": planted["ip"], "HTTP_COOKIE": planted["cookie"],
               "HTTP_X_CUSTOMER": planted["header"], "HTTP_AUTHORIZATION": "Bearer " + planted["token"],
               "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body))}
    wsgiref.util.setup_testing_defaults(environ)
    environ["wsgi.input"] = __import__("io").BytesIO(body)
    for _ in range(2):  # the same crash twice: one group
        try:
            app(environ, lambda *a: None)
        except RuntimeError:
            pass
    canary = planted["canaries"]
    class PlantedCause(Exception):
        pass
    PlantedCause.__name__ = PlantedCause.__qualname__ = canary["chain.type"]
    PlantedCause.__module__ = canary["chain.module"]
    class PlantedError(Exception):
        pass
    PlantedError.__name__ = PlantedError.__qualname__ = canary["exception.type"]
    PlantedError.__module__ = canary["exception.module"]
    billing = {"__name__": canary["frame.module"], "PlantedCause": PlantedCause, "value": canary["chain.value"]}
    exec(compile("def pay():\\n    raise PlantedCause('declined for ' + value)\\n",
                 "/home/" + canary["frame.path"] + "/shop/billing.py", "exec"), billing)
    pay = billing["pay"]
    pay.__code__ = pay.__code__.replace(co_name=canary["frame.function"], co_qualname=canary["frame.function"])
    sentry_sdk.add_breadcrumb(category=canary["breadcrumb.category"], message="paid by " + canary["breadcrumb.message"])
    sentry_sdk.set_context("os", {"name": "Linux " + canary["os.name"], "version": "6.5.0"})
    sentry_sdk.set_context("runtime", {"name": canary["runtime.name"], "version": "3.11.7"})
    sentry_sdk.get_client().options["release"] = "shop@2.0.0+" + canary["release"]
    try:
        try:
            pay()
        except PlantedCause as cause:
            raise PlantedError("billing failed for " + canary["exception.value"]) from cause
    except PlantedError:
        sentry_sdk.capture_exception()
    sentry_sdk.set_tag("feature", "checkout")  # on the policy's list of tag keys: kept
    sentry_sdk.capture_message("basket empty for " + planted["email"])
    import logging
    logging.getLogger("shop.billing").error("card %s declined for %s", planted["card"], planted["email"])
    sentry_sdk.flush(10)
    charge(planted["card"], planted["email"])  # uncaught: the excepthook integration reports it
""")


_spec = importlib.util.spec_from_file_location("crashveil_tests_sentry_live", HERE / "live.py")
live = sys.modules.setdefault("crashveil_tests_sentry_live", importlib.util.module_from_spec(_spec))  # type: ignore[arg-type]
_spec.loader.exec_module(live)  # type: ignore[union-attr]
Running = live.Live


@pytest.fixture(scope="module", params=["crash", "diagnostic"])
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            server_maker: Any) -> Iterator[Running]:
    """A real uvicorn server over HTTPS in a subprocess; Sentry events at the level of the param."""
    with live.live_server(tmp_path_factory.mktemp("sentry-e2e"), server_maker, request.param) as server:
        yield server


@pytest.fixture(scope="module")
def sent(running: Running) -> Running:
    """Run the planted app once against the server; it exits 1 from its uncaught exception."""
    script = running.directory.parent / "shop_app.py"
    script.write_text(APP)
    planted = json.dumps({**PLANTED, "canaries": CANARIES})
    result = subprocess.run(
        [sys.executable, str(script), running.dsn, str(running.ca), planted],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SENTRY_DEBUG": "0"},
    )
    assert (1, True) == (result.returncode, "ValueError: cannot charge card" in result.stderr), result.stderr
    # Each event was answered after its commit, and the app flushed before exiting: all six
    # are stored now. Poll anyway (a deadline, no fixed sleep) in case the last answer raced.
    deadline = time.monotonic() + 10
    while len(_stored(running)) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    return running


def _stored(running: Running) -> list[tuple[Any, Any]]:
    return live.stored(running.directory)  # type: ignore[no-any-return]


def _variants(value: str) -> set[str]:
    return {value, value.replace(" ", ""), value.lower()}


def test_crashes_and_messages_are_stored_with_origin_sentry_sdk(sent: Running) -> None:
    """The two handled checkouts, the billing error, the message, the logged error and the
    uncaught crash are stored, all with origin ``sentry-sdk``."""
    rows = _stored(sent)
    assert ["sentry-sdk"] * 6 == [row.origin for row, _ in rows]


def test_message_and_logging_events_become_groups_titled_by_template(sent: Running) -> None:
    """``capture_message`` and ``logger.error`` without ``exc_info`` are groups: at ``crash``
    titled ``Message`` / ``Message (logger)`` with no text; at ``diagnostic`` still so titled (the
    shipped policy shows titles to viewers, templates to developers only), with the redacted
    template kept (the logging call's ``%s`` template, never its arguments)."""
    rows = _stored(sent)
    reports = [d.report for _, d in rows if d.report.mechanism in ("manual", "logging") and d.report.stack is None]
    found = sorted((r.crash_type, r.mechanism, r.severity, r.logger, r.message_template) for r in reports)
    if rows[0][0].level == "crash":
        assert [("Message", "manual", "info", None, None),
                ("Message (shop.billing)", "logging", "error", "shop.billing", None)] == found
    else:
        assert [("Message", "manual", "info", None, "basket empty for <email>"),
                ("Message (shop.billing)", "logging", "error", "shop.billing", "card %s declined for %s")] == found


def test_uncaught_crash_keeps_deployment_tags_and_os(sent: Running) -> None:
    """The uncaught crash: unhandled excepthook, deployment ``production``, only the allowlisted tag,
    platform ``python``, and an OS family read from the runtime's build (sentry-python sends no OS)."""
    _, detail = _stored(sent)[-1]
    report = detail.report
    assert ("excepthook", False, "production", "python", (("feature", "checkout"),)) == (
        report.mechanism, report.handled, report.deployment, report.platform,
        tuple((t.key, t.value) for t in report.tags))
    assert "unknown" != report.environment.os_family
    assert "tags" in detail.dropped_fields  # the tag ``customer`` is not on the list


def test_no_planted_value_reaches_the_database_files(sent: Running) -> None:
    """No planted value is in any byte of the database, its WAL, or any other server file."""
    blobs = b"".join(p.read_bytes() for p in sent.directory.rglob("*") if p.is_file())
    found = sorted(name for name, value in PLANTED.items()
                   if any(v.encode() in blobs for v in _variants(value)))
    assert [] == found


def test_no_planted_value_is_in_the_decrypted_reports(sent: Running) -> None:
    """Decrypted, the stored reports (and what the server noted) hold no planted value."""
    text = json.dumps([{"report": detail.report.to_dict(), "dropped": detail.dropped_fields}
                       for _, detail in _stored(sent)])
    found = sorted(name for name, value in PLANTED.items() if any(v in text for v in _variants(value)))
    assert [] == found


def test_the_server_log_holds_no_planted_value(sent: Running) -> None:
    """The server's own log lines carry no planted value (nor the client address)."""
    text = sent.log.read_text(errors="replace")
    assert [] == sorted(name for name, value in PLANTED.items() if value in text)


def test_repeated_crash_is_one_group_with_the_apps_frames(sent: Running) -> None:
    """Both checkouts share one group; its stack ends in the app's ``checkout`` frame."""
    rows = _stored(sent)
    checkout = [(row, detail) for row, detail in rows if detail.report.crash_type == "RuntimeError"]
    assert 2 == len(checkout)
    assert 1 == len({row.group_id for row, _ in checkout})
    frames = checkout[0][1].report.stack.frames
    assert "checkout" == frames[-1].function
    assert (True, "shop_app.py") == (frames[-1].in_app, frames[-1].file.rsplit("/", 1)[-1])


def test_chained_cause_keeps_its_type_and_frames(sent: Running) -> None:
    """The ``raise ... from`` cause is in the chain with its type and the ``charge`` frame.

    sentry-python does not say whether a link is ``__cause__`` or ``__context__`` (its
    ``mechanism.source`` is set for exception groups only), so the relation is ``context``.
    """
    detail = next(d for _, d in _stored(sent) if d.report.crash_type == "RuntimeError")
    cause = detail.report.chain[0]
    assert ("ValueError", "charge") == (cause.crash_type, cause.stack.frames[-1].function)


def test_user_id_becomes_a_keyed_pseudonym(sent: Running) -> None:
    """The user id is stored only as a 32-hex pseudonym, the same for all four crashes."""
    rows = _stored(sent)
    ids = {row.install_id for row, _ in rows}
    assert 1 == len(ids)
    assert 32 == len(next(iter(ids)))


def test_dropped_fields_are_counted(sent: Running) -> None:
    """Request, tags, extra, server name, user details and frame variables are named as dropped."""
    _, detail = _stored(sent)[0]
    expected = {"request", "tags", "extra", "server_name", "user.email", "user.ip_address", "user.username",
                "exception.frames.vars"}
    assert expected == expected & set(detail.dropped_fields)


def test_message_and_breadcrumbs_follow_the_level(sent: Running) -> None:
    """At ``crash`` no message or breadcrumb is stored; at ``diagnostic`` both are, redacted."""
    rows = _stored(sent)
    level = rows[0][0].level
    uncaught = rows[-1][1].report
    if level == "crash":
        assert (None, None) == (uncaught.message, uncaught.breadcrumbs)
    else:
        assert "checkout failed for <email>" == rows[0][1].report.message
        assert "login <email> from <ip> tel <phone>" == uncaught.breadcrumbs[0].message


@pytest.fixture(scope="module")
def dashboard_text(sent: Running) -> str:
    return live.dashboard_text(sent.directory)  # type: ignore[no-any-return]


@pytest.mark.parametrize("field", sorted(CANARIES))
def test_canary_of_each_stored_field_is_redacted(sent: Running, dashboard_text: str, field: str) -> None:
    """The value planted in ``field`` of a real sentry-sdk event (nor its first 20 characters)
    is in no server file (database, WAL), no server log line, no decrypted report and no
    dashboard page."""
    value = CANARIES[field][:20]  # a prefix: a value cut short by a length limit leaks too
    files = b"".join(p.read_bytes() for p in sent.directory.rglob("*") if p.is_file())
    reports = json.dumps([detail.report.to_dict() for _, detail in _stored(sent)])
    places = {"files": value.encode() in files, "log": value in sent.log.read_text(errors="replace"),
              "reports": value in reports, "dashboard": value in dashboard_text}
    assert [] == [place for place, found in places.items() if found]

