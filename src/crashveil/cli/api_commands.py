"""The API client's commands: ``crashveil groups``, ``crashveil releases`` and ``crashveil api``.

They call a running server's ``/api/v1/`` (``cli.api_client``) with the token in
``$CRASHVEIL_API_TOKEN``: ``--server URL`` (or ``$CRASHVEIL_API_SERVER``), ``--ca-file`` for
a server's own CA (or ``$CRASHVEIL_API_CA_FILE``). A table by default, ``--json`` for the
items as JSON; lists follow the server's pages up to ``--limit`` items. The server-side
``crashveil audit log`` reads the database directly; its API twin is ``crashveil api audit``.
Exit code 1 on an API error (one line on stderr), as the server commands.

Crash strings are attacker-controlled: in a table, characters a terminal could act on
(escape sequences, control characters) are shown as ``?``; JSON escapes them itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from crashveil.cli.api_client import ApiClient, Transport, UrllibTransport, token_from_env
from crashveil.cli.options import project_option
from crashveil.errors import ApiClientError

__all__ = ["ClientSettings", "api_group", "groups_group", "releases_group"]

_F = TypeVar("_F", bound=Callable[..., Any])
_CELL = 60


@dataclass(frozen=True)
class ClientSettings:
    """What a caller may put in click's ``obj``: the transport to use (tests: an in-process app)."""

    transport: Transport


def _connected(function: _F) -> _F:
    """``--server``, ``--ca-file`` and ``--json``; passes ``client`` (and ``as_json``)."""
    @functools.wraps(function)
    def run(server: str, ca_file: str | None, **kwargs: Any) -> Any:
        settings = click.get_current_context().find_object(ClientSettings)
        transport = settings.transport if settings is not None else UrllibTransport(cafile=ca_file)
        try:
            return function(client=ApiClient(server, token_from_env(), transport), **kwargs)
        except ApiClientError as exc:
            raise click.ClickException(str(exc)) from None  # one line on stderr, exit code 1

    run = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")(run)
    run = click.option("--ca-file", envvar="CRASHVEIL_API_CA_FILE", type=click.Path(dir_okay=False),
                       help="the server's CA certificate, if not a public one ($CRASHVEIL_API_CA_FILE)")(run)
    return click.option("--server", envvar="CRASHVEIL_API_SERVER", required=True, metavar="URL",
                        help="the server's web address ($CRASHVEIL_API_SERVER)")(run)  # type: ignore[return-value]


def _limit(default: int) -> Callable[[_F], _F]:
    return click.option("--limit", type=click.IntRange(1, 100_000), default=default, show_default=True,
                        help="at most this many items (pages are followed)")


def _safe(value: object) -> str:
    text = "-" if value is None else str(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= _CELL else text[:_CELL - 1] + "…"


def _table(items: Iterable[Any], columns: Sequence[tuple[str, Callable[[dict[str, Any]], object]]]) -> None:
    rows = [[name for name, _ in columns]] + [[_safe(cell(item)) for _, cell in columns] for item in items]
    if len(rows) == 1:
        click.echo("(none)")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _show(data: object, as_json: bool, columns: Sequence[tuple[str, Callable[[dict[str, Any]], object]]]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    elif isinstance(data, list):
        _table(data, columns)
    else:
        _table([data], columns)


def _key(name: str) -> Callable[[dict[str, Any]], object]:
    return lambda item: item.get(name)


def _title(item: dict[str, Any]) -> str:
    return str(item.get("type")) + (f": {item['message']}" if item.get("message") else "")


_GROUP_COLUMNS = (("id", _key("id")), ("status", _key("status")), ("events", _key("events")),
                  ("installs", _key("installs")), ("last seen", lambda g: str(g.get("last_seen"))[:16]),
                  ("assignee", _key("assignee")), ("title", _title))


@click.group("groups")
def groups_group() -> None:
    """Crash groups through a server's API (token in $CRASHVEIL_API_TOKEN)."""


@groups_group.command("list")
@_connected
@project_option("the project", required=True)
@click.option("--status", help="open, resolved, ignored or regressed")
@click.option("--sort", help="as the dashboard: last_seen, first_seen, events, installs, trend")
@click.option("-q", "--query", "query", help="free-text search")
@click.option("--release", help="seen in this release")
@click.option("--env", help="seen in this environment")
@click.option("--os", "os_family", help="seen on this OS family")
@_limit(50)
def groups_list(client: ApiClient, as_json: bool, project: str, limit: int, **filters: str | None) -> None:
    """List a project's crash groups, with the dashboard's filters."""
    names = {"query": "q", "os_family": "os"}
    params = {names.get(k, k): v for k, v in filters.items() if v is not None}
    groups = list(client.items(f"/api/v1/projects/{project}/groups", "groups", params, limit=limit, page_max=100))
    _show(groups, as_json, _GROUP_COLUMNS)


@groups_group.command("show")
@_connected
@project_option("the project", required=True)
@click.argument("group_id", type=click.IntRange(1))
def groups_show(client: ApiClient, as_json: bool, project: str, group_id: int) -> None:
    """Show one crash group (and its ETag, for update --if-match)."""
    answer = client.get(f"/api/v1/projects/{project}/groups/{group_id}")
    _show(answer.json(), as_json,
          (*_GROUP_COLUMNS, ("first release", _key("first_release")), ("resolved in", _key("resolved_in"))))
    if not as_json and answer.headers.get("etag"):
        click.echo(f"ETag: {_safe(answer.headers['etag'])}", err=True)


@groups_group.command("update")
@_connected
@project_option("the project", required=True)
@click.argument("group_id", type=click.IntRange(1))
@click.option("--status", type=click.Choice(["open", "resolved", "ignored"]))
@click.option("--release", help="with --status resolved: the release that fixes it")
@click.option("--assignee", help="user:<id> of a user who may change groups")
@click.option("--unassign", is_flag=True, help="clear the assignee")
@click.option("--if-match", "if_match", metavar="ETAG", help="change only if the group is still at this ETag")
def groups_update(client: ApiClient, as_json: bool, project: str, group_id: int, status: str | None,
                  release: str | None, assignee: str | None, unassign: bool, if_match: str | None) -> None:
    """Change a group's status and/or assignee (audited on the server)."""
    body: dict[str, object] = {}
    if status is not None:
        body["status"] = status
    if release is not None:
        body["release"] = release
    if assignee is not None and unassign:
        raise click.UsageError("--assignee and --unassign exclude each other")
    if assignee is not None or unassign:
        body["assignee"] = assignee
    if "status" not in body and "assignee" not in body:
        raise click.UsageError("give --status, --assignee or --unassign")
    answer = client.patch(f"/api/v1/projects/{project}/groups/{group_id}", body, if_match=if_match)
    _show(answer.json(), as_json, _GROUP_COLUMNS)


@click.group("releases")
def releases_group() -> None:
    """Release health through a server's API (token in $CRASHVEIL_API_TOKEN)."""


@releases_group.command("list")
@_connected
@project_option("the project", required=True)
@_limit(30)
def releases_list(client: ApiClient, as_json: bool, project: str, limit: int) -> None:
    """List a project's releases: new and regressed groups, crash-free rate."""
    rows = list(client.items(f"/api/v1/projects/{project}/releases", "releases", {}, limit=limit, page_max=30))
    _show(rows, as_json, (("release", _key("release")), ("new", _key("new_groups")),
                          ("regressed", _key("regressed_groups")), ("reports", _key("reports")),
                          ("crashed installs", _key("crashed_installs")), ("crash-free", _rate)))


def _rate(row: dict[str, Any]) -> str:
    return "-" if row.get("crash_free") is None else f"{row['crash_free'] * 100:.2f} %"


@click.group("api")
def api_group() -> None:
    """Projects, audit log, daily counts and tokens through a server's API."""


@api_group.command("projects")
@_connected
@_limit(200)
def api_projects(client: ApiClient, as_json: bool, limit: int) -> None:
    """List the projects the token reaches."""
    rows = list(client.items("/api/v1/projects", "projects", {}, limit=limit, page_max=200))
    _show(rows, as_json, (("project", _key("id")), ("roles", lambda p: ",".join(p.get("roles") or [])),
                          ("public summary", _key("public_summary")), ("policy", _key("policy_version"))))


@api_group.command("audit")
@_connected
@project_option("the project", required=True)
@_limit(50)
def api_audit(client: ApiClient, as_json: bool, project: str, limit: int) -> None:
    """A project's audit log, newest first (scope audit:read)."""
    rows = list(client.items(f"/api/v1/projects/{project}/audit", "entries", {}, limit=limit, page_max=200))
    _show(rows, as_json, (("seq", _key("seq")), ("at", lambda e: str(e.get("at"))[:19]), ("actor", _key("actor")),
                          ("action", _key("action")), ("subject", _key("subject"))))


@api_group.command("aggregates")
@_connected
@project_option("the project", required=True)
@click.option("--days", type=click.IntRange(1, 30), default=14, show_default=True)
@click.option("--group", "group_id", type=click.IntRange(1), help="one group only")
@click.option("--release", help="one release only")
@_limit(500)
def api_aggregates(client: ApiClient, as_json: bool, project: str, days: int, group_id: int | None,
                   release: str | None, limit: int) -> None:
    """Reports and installations per day, group and release (fewer than k: -)."""
    params = {"days": str(days)} | ({"group": str(group_id)} if group_id else {}) | (
        {"release": release} if release else {})
    rows = list(client.items(f"/api/v1/projects/{project}/aggregates", "aggregates", params, limit=limit,
                             page_max=500))
    _show(rows, as_json, (("day", _key("day")), ("group", _key("group")), ("release", _key("release")),
                          ("reports", _key("reports")), ("installs", _key("installs"))))


_TOKEN_COLUMNS = (("id", _key("id")), ("name", _key("name")), ("user", _key("user")),
                  ("scopes", lambda t: ",".join(t.get("scopes") or [])),
                  ("expires", lambda t: str(t.get("expires_at") or "never")[:10]),
                  ("last used", lambda t: str(t.get("last_used_at") or "never")[:16]),
                  ("state", lambda t: "revoked" if t.get("revoked") else "expired" if t.get("expired") else "active"))


@api_group.command("tokens")
@_connected
@_limit(200)
def api_tokens(client: ApiClient, as_json: bool, limit: int) -> None:
    """List API tokens (never their secrets; scope admin)."""
    _show(list(client.items("/api/v1/tokens", "tokens", {}, limit=limit, page_max=200)), as_json, _TOKEN_COLUMNS)


@api_group.command("revoke-token")
@_connected
@click.argument("token_id")
def api_revoke_token(client: ApiClient, as_json: bool, token_id: str) -> None:
    """Revoke an API token at once (scope admin; audited)."""
    if not token_id.isascii() or not token_id.isalnum() or len(token_id) > 64:
        raise click.BadParameter("a token id (the hex part after cvt_)", param_hint="TOKEN_ID")
    _show(client.post(f"/api/v1/tokens/{token_id}/revoke").json(), as_json, _TOKEN_COLUMNS)
