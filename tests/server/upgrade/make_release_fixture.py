"""Regenerate ``release_0011.json``: a server directory's data as the previous release wrote it.

The previous release is main at ``f5f37db`` (its schema is revision 0011, the last before
0012). This script takes that commit's ``src`` and ``tests/_servers.py`` out of git into a
temporary directory and runs them, unchanged, in a child process: ``server init``, a client
certificate, users with roles, a Sentry DSN key, the real server (uvicorn, mutual TLS)
storing sealed reports in three groups, a developer opening one report on the dashboard
with a reason. Then it dumps every table (values tagged by type, so SQLite and PostgreSQL
can load them) and the server directory's key files into the JSON file beside this script.

The test (test_upgrade_from_release.py) builds the 0011 schema with the real migrations,
loads these rows, upgrades to head and checks that everything survived.

Run by hand from the repository root (needs the git history):
    PYTHONPATH=src python tests/server/upgrade/make_release_fixture.py
The keys in the fixture are test keys made for it and protect nothing else.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

RELEASE_COMMIT = "f5f37db"
HERE = Path(__file__).resolve().parent
OUT = HERE / "release_0011.json"
PASSWORD = "release-0011 test password"

# Runs under the release's code (PYTHONPATH = its src and tests).
INNER = r'''
import base64, json, re, ssl, sys, uuid
from datetime import date, datetime
from pathlib import Path
import httpx, sqlalchemy as sa
import _servers as servers

root, out, password = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
server_dir = servers.init_server_dir(root / "srv")
env = {"CRASHVEIL_NEW_PASSWORD": password}
servers._cli("user", "add", "dev", "--project", "demo", "--role", "developer", "--server-dir", str(server_dir.path),
             env=env)
servers._cli("user", "add", "officer", "--project", "*", "--role", "privacy-officer", "--server-dir",
             str(server_dir.path), env=env)
dsn = servers._cli("project", "sentry-key", "create", "demo", "--label", "web", "--server-dir",
                   str(server_dir.path)).strip().splitlines()[0]
server = servers.Server(server_dir, root / "server.log").start()
try:
    sealer = servers.Sealer(server_dir)
    context = ssl.create_default_context(cafile=str(server_dir.ca_pem))
    context.load_cert_chain(str(server_dir.client_cert), str(server_dir.client_key))
    sent = []
    for index in range(12):
        function = ("load", "save", "parse")[index % 3]
        report = sealer.report(crash_type=("KeyError", "ValueError", "OSError")[index % 3], function=function,
                               message="could not load the file" if index == 0 else None)
        answer = servers.post_sealed(context, server.port, sealer.seal(report))
        assert answer.status == 201, answer
        sent.append({"report_id": report.report_id, "receipt": answer.receipt, "crash_type": report.crash_type})
    web = ssl.create_default_context(cafile=str(server_dir.ca_pem))
    origin = f"https://127.0.0.1:{server.web_port}"
    with httpx.Client(transport=httpx.HTTPTransport(verify=web), base_url=origin, timeout=20,
                      headers={"Origin": origin}) as client:
        login = client.get("/dashboard/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', login.text).group(1)
        assert client.post("/dashboard/login", data={"nonce": nonce, "name": "dev", "password": password}
                           ).status_code in (200, 303)
        opened = sent[0]["report_id"]
        form = client.get(f"/dashboard/p/demo/reports/{opened}")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        page = client.post(f"/dashboard/p/demo/reports/{opened}", data={"csrf": csrf, "reason": "upgrade fixture"})
        assert page.status_code == 200 and "could not load the file" in page.text
finally:
    server.stop()

def tagged(value):
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    return value

engine = sa.create_engine(f"sqlite:///{server_dir.path / 'crashveil.db'}")
meta = sa.MetaData()
meta.reflect(engine)
tables = {}
with engine.connect() as conn:
    revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    for table in meta.sorted_tables:
        if table.name == "alembic_version":
            continue
        order = list(table.primary_key.columns) or list(table.columns)
        rows = conn.execute(sa.select(table).order_by(*order)).mappings().all()
        tables[table.name] = [{key: tagged(value) for key, value in row.items()} for row in rows]
engine.dispose()
files = {}
for path in sorted(server_dir.path.rglob("*")):
    relative = path.relative_to(server_dir.path).as_posix()
    if path.is_file() and relative.startswith(("keys/", "audit/", "projects/")) and not relative.endswith(".lock"):
        files[relative] = base64.b64encode(path.read_bytes()).decode()
out.write_text(json.dumps({"release": sys.argv[4], "revision": revision, "password": password,
                           "sentry_dsn_key": re.match(r"^https://([0-9a-f]+)@", dsn).group(1),
                           "reports": sent, "opened": sent[0]["report_id"], "files": files, "tables": tables},
                          indent=1, sort_keys=True) + "\n")
'''


def main() -> None:
    repo = HERE.parents[2]
    archive = subprocess.run(["git", "-C", str(repo), "archive", RELEASE_COMMIT, "src", "tests/_servers.py"],
                             check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        release = Path(tmp) / "release"
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(release, filter="data")
        env = {key: value for key, value in os.environ.items() if not key.startswith("CRASHVEIL_")}
        env["PYTHONPATH"] = f"{release / 'src'}{os.pathsep}{release / 'tests'}"
        subprocess.run([sys.executable, "-c", INNER, tmp, str(OUT), PASSWORD, RELEASE_COMMIT], check=True, env=env,
                       cwd=tmp)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
