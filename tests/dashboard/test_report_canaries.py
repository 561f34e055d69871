"""Canaries on the report page: personal data planted in a crash (an e-mail address, a home path
with a user name) is redacted by the server before storage and appears on no page; fields the
viewer's role may not see appear nowhere on it (trace, field groups, raw JSON).

Reports come in through the real server app (``create_app`` over the dashboard's storage):
natively, sealed to the project's key as the SDK seals them but without the SDK's redaction,
and from the real ``sentry-sdk`` through the Sentry bridge. They are opened with a reason on
the same app's dashboard."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from crashveil.wire.report import Breadcrumb, ChainedError, SourceLine, Stack, Tag

from .test_report_page import _full_report, _in_order, _open, _policy_text, _store
from .test_views import ORIGIN, _csrf, _login

EMAIL = "canary.person@example.org"
HOME = "/home/canaryuser/app/secrets.py"
#: What must never be found: the parts that identify someone.
NEEDLES = (EMAIL, "canaryuser")


#: The whole server's dashboard sets secure cookies: it is reached over https.
SECURE_ORIGIN = "https://testserver"


@pytest.fixture
def client(dash: Any) -> TestClient:
    """The dashboard app of the ``dash`` fixture."""
    return TestClient(dash.app, base_url=ORIGIN)


@pytest.fixture
def server(dash: Any) -> Iterator[TestClient]:
    """The whole server app (native and Sentry ingest, dashboard) over the dashboard's storage."""
    from crashveil.server.http.app import create_app

    app = create_app(dash.storage.settings, dash.storage, now=lambda: dash.clock[0])
    with TestClient(app, base_url=SECURE_ORIGIN) as client:
        yield client


def _open_on_server(server: TestClient, report_id: str) -> str:
    """Log in as dev on the whole server's dashboard and open ``report_id`` with a reason."""
    login = server.get("/dashboard/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
    answer = server.post("/dashboard/login", data={"nonce": nonce, "name": "dev", "password": "dev-password-123"},
                         headers={"Origin": SECURE_ORIGIN}, follow_redirects=False)
    assert 303 == answer.status_code
    form = server.get(f"/dashboard/p/demo/reports/{report_id}")
    opened = server.post(f"/dashboard/p/demo/reports/{report_id}", headers={"Origin": SECURE_ORIGIN},
                         data={"csrf": _csrf(form.text), "reason": "canary test: no planted value"})
    assert 200 == opened.status_code
    return opened.text


def _planted() -> Any:
    """The full test report with the canaries in every free-text place a crash can carry them."""
    report = _full_report()
    chain = report.chain or ()
    return dataclasses.replace(
        report, message=f"could not write {HOME} for {EMAIL}",
        chain=(dataclasses.replace(chain[0], message=f"mail to {EMAIL} bounced"), *chain[1:]),
        breadcrumbs=(Breadcrumb(9, "ui.click", f"opened {HOME}"), Breadcrumb(2, "mail", f"sent to {EMAIL}")),
        source_context=(SourceLine(3, f"    open('{HOME}')"),), tags=(Tag("feature", EMAIL),),
        comment=f"it crashed, write to {EMAIL}")


def _seal(dash: Any, payload: bytes) -> bytes:
    from crashveil.sdk.delivery.seal import seal_report

    project = dash.storage.project("demo")
    return seal_report(payload, project.keypairs[0].public_key(), project_id="demo", schema_version=1)


def test_planted_personal_data_is_redacted_before_storage_and_on_no_page(server: TestClient, dash: Any) -> None:
    """A native report carrying the canaries unredacted is stored redacted (its decrypted detail
    holds none); the opened page shows the redaction placeholders and no canary."""
    from crashveil.wire.protocol import SCHEMA_HEADER, SEALED_CONTENT_TYPE

    report = _planted()
    answer = server.post("/api/v1/projects/demo/reports", content=_seal(dash, report.to_json()),
                         headers={"Content-Type": SEALED_CONTENT_TYPE, SCHEMA_HEADER: "1"})
    assert 201 == answer.status_code, answer.text
    detail = dash.storage.report_detail("demo", report.report_id)
    stored = detail.report.to_json().decode()
    page = _open_on_server(server, report.report_id)
    assert ([], [], True, True) == ([n for n in NEEDLES if n in stored], [n for n in NEEDLES if n in page],
                                    "&lt;email&gt;" in page, "could not write" in page)


def _sentry_envelope(module: str) -> tuple[str, bytes]:
    """A handled crash with a cause, captured by the real sentry-sdk with ``send_default_pii``:
    (event id, envelope bytes). The canaries are in messages, a path, a breadcrumb, the user."""
    import sentry_sdk
    from sentry_sdk.transport import Transport

    class Capture(Transport):
        def __init__(self) -> None:
            super().__init__()
            self.envelopes: list[bytes] = []

        def capture_envelope(self, envelope: Any) -> None:
            self.envelopes.append(envelope.serialize())

    capture = Capture()
    with warnings.catch_warnings():  # send_default_pii is deprecated in newer releases; the most data is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        client = sentry_sdk.Client(dsn="http://public@127.0.0.1:9/1", transport=capture, default_integrations=False,
                                   send_default_pii=True, release="shop@2.0.0", environment="production",
                                   in_app_include=[module])

    def encode(document: object) -> str:
        def refuse(value: object) -> object:
            raise TypeError(f"cannot store {HOME}")
        return json.dumps(document, default=refuse)

    def save() -> None:
        try:
            encode({"draft": object()})
        except TypeError as exc:
            raise RuntimeError(f"could not save the draft of {EMAIL}") from exc

    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        scope.set_user({"email": EMAIL, "username": "canaryuser", "ip_address": "203.0.113.7"})
        scope.set_tag("feature", "export")
        sentry_sdk.add_breadcrumb(category="ui.click", message=f"clicked save as {EMAIL}")
        try:
            save()
        except RuntimeError as exc:
            event_id = sentry_sdk.capture_exception(exc)
    client.flush()
    assert event_id is not None and len(capture.envelopes) == 1
    return event_id, capture.envelopes[0]


def test_a_sentry_report_renders_its_chain_frames_and_breadcrumbs_without_the_canaries(server: TestClient,
                                                                                     dash: Any) -> None:
    """An event of the real sentry-sdk, through the Sentry bridge at level diagnostic, reads like
    a native one: the cause then the reported error with Python's sentence, in-app frames with
    their source lines, library frames folded, the breadcrumb, Sentry's fields in their policy
    classes; no canary anywhere on the page."""
    import sqlalchemy as sa

    from crashveil.server.db.tables import reports
    from crashveil.server.sentry.keys import SentryKeys

    project, key = SentryKeys(dash.storage.engine).create_key("demo", level="diagnostic")
    _, body = _sentry_envelope(__name__)
    answer = server.post(f"/api/{project.numeric_id}/envelope/", content=body, headers={
        "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_client=sentry.python/2, sentry_key={key}"})
    assert 200 == answer.status_code, answer.text
    with dash.storage.engine.connect() as conn:
        report_id = conn.execute(sa.select(reports.c.report_id).where(reports.c.origin != "crashveil-sdk")).scalar_one()
    page = _open_on_server(server, report_id)
    trace = page[page.index('id="trace"'):page.index('id="breadcrumbs"')]
    # sentry-python does not mark ``raise ... from``: the bridge maps the link as context.
    assert ([], True, True, True, True) == (
        [n for n in NEEDLES if n in page],
        _in_order(trace, "<code>TypeError</code>", "frames left out (library frames",
                  'in <code class="function">refuse', "During handling of the above exception",
                  "<code>RuntimeError</code>", "could not save the draft of &lt;email&gt;",
                  'in <code class="function">save', "raise RuntimeError"),
        "clicked save as &lt;email&gt;" in page, 'id="field-severity"' in page and 'id="field-tags"' in page,
        _in_order(page, 'id="field-platform"', "python", 'id="field-handled"', "yes"))


def test_fields_the_role_may_not_see_appear_nowhere(client: TestClient, dash: Any) -> None:
    """A policy that withholds message, breadcrumbs, source lines, tags, comment and environment
    from developers: none of their planted values, nor their rows, reach the page or its raw JSON;
    the page names them as not shown."""
    withheld = ("message", "breadcrumbs", "source_context", "tags", "comment", "environment")
    digest = dash.storage.set_policy("demo", _policy_text(**{name: ["admin"] for name in withheld}))
    marks = {name: f"withheld-{name}-{uuid.uuid4().hex[:8]}" for name in withheld}
    report = dataclasses.replace(
        _full_report(), policy_digest=digest, message=marks["message"], comment=marks["comment"],
        breadcrumbs=(Breadcrumb(3, "ui", marks["breadcrumbs"]),),
        source_context=(SourceLine(3, marks["source_context"]),),
        tags=(Tag("feature", marks["tags"]),),
        chain=(ChainedError("cause", "OSError", message=marks["message"], stack=Stack(())),))
    report = dataclasses.replace(report, environment=dataclasses.replace(report.environment, os_version="77.withheld"))
    _login(client, "dev")
    page = _open(client, _store(dash, report)).text
    rows = set(re.findall(r'<tr id="field-([a-z_]+)">', page))
    hidden_note = re.search(r"Not shown to your role: ([^.]+)\.", page)
    assert ([], False, set(), set(), True, True) == (
        [name for name, mark in marks.items() if mark in page], "77.withheld" in page, rows & set(withheld),
        set(withheld) - set(hidden_note.group(1).split(", ")) if hidden_note else set(withheld),
        'id="breadcrumbs"' not in page, "OSError" in page)
