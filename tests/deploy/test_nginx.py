"""deploy/nginx/crashveil.conf, run by Debian's nginx in front of a real server (issue 20).

nginx runs in the foreground as a child of the test, with its own prefix and configuration in
a temporary directory, on loopback ports, with a self-signed certificate standing in for the
public one. The site file is the guide's own, with only its ports, names and paths replaced.
Through it: the dashboard log-in works, and a real ``sentry_sdk`` whose DSN (printed by the
server with ``public_url`` set) points at nginx gets its event stored.

Which client address the server sees is shown by the dashboard's log-in limit per address
(20 posts, then 429): nginx connects to the server from 127.0.0.9 (``proxy_bind``) and the
browsers come from 127.0.0.5 and 127.0.0.6. Untrusted, the proxy's address is everyone's, so
when one browser has used the budget the other is refused too; with ``trusted_proxies =
["127.0.0.9"]`` each has its own, and a browser's own X-Forwarded-For does not buy a new one.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from .conftest import DEPLOY, required_binary

PROXY_ADDRESS = "127.0.0.9"
BROWSER_A, BROWSER_B = "127.0.0.5", "127.0.0.6"
PASSWORD = "a-long-enough-password-123"


def _public_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: the stand-in public certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crash.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "public.pem", directory / "public.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def site_config(*, https_port: int, http_port: int, web_port: int, server_dir: Path, cert: Path, key: Path) -> str:
    """deploy/nginx/crashveil.conf with this test's ports, certificate and server directory."""
    text = (DEPLOY / "nginx" / "crashveil.conf").read_text(encoding="utf-8")
    replacements = [
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("listen [::]:443 ssl;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("/etc/letsencrypt/live/crash.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/crash.example.com/privkey.pem", str(key)),
        ("https://127.0.0.1:8444", f"https://127.0.0.1:{web_port}"),
        ("/var/lib/crashveil/server/", f"{server_dir}/"),
    ]
    for old, new in replacements:
        assert old in text, f"deploy/nginx/crashveil.conf no longer has {old!r}: update this test and the guide"
        text = text.replace(old, new)
    return text


@dataclass
class Proxy:
    process: subprocess.Popen[bytes]
    port: int
    web_port: int
    ca: Path
    log: Path

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _start_nginx(binary: str, root: Path, site: str, log: Path, port: int) -> subprocess.Popen[bytes]:
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / sub).mkdir(exist_ok=True)
    (root / "site.conf").write_text(site)
    import os

    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must reach this private directory
    (root / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {log} info;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    # The test's stand-in for "the proxy's own address": 127.0.0.9, not the browsers' 127.0.0.x.
    proxy_bind {PROXY_ADDRESS};
    include {root}/site.conf;
}}
""")
    with log.open("ab") as out:
        process = subprocess.Popen([binary, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(log)],
                                   stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"nginx did not listen: {log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, servers: ModuleType) -> Iterator[tuple[Any, Proxy]]:
    """A server directory (init, a developer, web port fixed) and nginx in front of its web port."""
    binary = required_binary("nginx", "nginx")
    root = tmp_path_factory.mktemp("nginx")
    server_dir = servers.init_server_dir(root / "srv")
    servers._cli("user", "add", "dev", "--project", "demo", "--role", "developer", "--server-dir",
                 str(server_dir.path), env={"CRASHVEIL_NEW_PASSWORD": PASSWORD})
    web_port, https_port, http_port = servers.free_port(), servers.free_port(), servers.free_port()
    cert, key = _public_cert(root)
    site = site_config(https_port=https_port, http_port=http_port, web_port=web_port, server_dir=server_dir.path,
                       cert=cert, key=key)
    process = _start_nginx(binary, root, site, root / "nginx.log", https_port)
    try:
        yield server_dir, Proxy(process, https_port, web_port, cert, root / "nginx.log")
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve(servers: ModuleType, server_dir: Any, proxy: Proxy, log: Path, *, trusted: bool) -> Any:
    """The server behind ``proxy`` (its web port is the one in nginx's site file)."""
    server = servers.Server(server_dir, log, web_port=proxy.web_port, environ={
        "CRASHVEIL_PUBLIC_URL": proxy.origin,
        "CRASHVEIL_TRUSTED_PROXIES": PROXY_ADDRESS if trusted else ""})
    try:
        server.start(timeout_s=120)  # generous: a loaded machine is slow to start Python processes
    except BaseException:
        server.kill()
        raise
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the web listener, through nginx
        try:
            if httpx.get(f"{proxy.origin}/healthz", verify=proxy.tls(), timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"no answer through nginx: {proxy.log.read_text(errors='replace')[-2000:]}")


def _browser(proxy: Proxy, source: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source, verify=proxy.tls())
    return httpx.Client(base_url=proxy.origin, transport=transport, timeout=30)


def _nonce(text: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', text)
    assert found, "no log-in form"
    return found.group(1)


def _log_in(browser: httpx.Client, proxy: Proxy, password: str = PASSWORD,
            extra: dict[str, str] | None = None) -> httpx.Response:
    return _post_form(browser, proxy, _nonce(browser.get("/dashboard/login").text), password, extra)


def _post_form(browser: httpx.Client, proxy: Proxy, nonce: str, password: str = PASSWORD,
               extra: dict[str, str] | None = None) -> httpx.Response:
    return browser.post("/dashboard/login", data={"nonce": nonce, "name": "dev", "password": password},
                        headers={"Origin": proxy.origin, **(extra or {})}, follow_redirects=False)


def _use_up_the_budget(browser: httpx.Client, proxy: Proxy) -> list[int]:
    """Post one log-in form until the per-address limit answers 429 (its nonce is spent after
    the first post, so later posts are cheap 403s that still take a token)."""
    nonce = _nonce(browser.get("/dashboard/login").text)
    cookies = dict(browser.cookies)
    statuses = []
    for _ in range(40):
        browser.cookies.clear()
        for name, value in cookies.items():
            browser.cookies.set(name, value)
        statuses.append(browser.post("/dashboard/login", data={"nonce": nonce, "name": "nobody", "password": "x"},
                                     headers={"Origin": proxy.origin}, follow_redirects=False).status_code)
        if statuses[-1] == 429:
            break
    return statuses


def _stored_reports(server_dir: Any) -> int:
    import sqlalchemy as sa

    from crashveil.server.db.tables import reports

    storage = server_dir.storage()
    try:
        with storage.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one())
    finally:
        storage.close()


SENTRY_APP = """
import sys
import sentry_sdk
sentry_sdk.init(dsn=sys.argv[1], ca_certs=sys.argv[2], default_integrations=False, auto_enabling_integrations=False)
def load_settings():
    return {}["missing"]
try:
    load_settings()
except KeyError:
    sentry_sdk.capture_exception()
sentry_sdk.flush(timeout=20)
"""


def test_dashboard_and_sentry_ingest_through_nginx(stack, servers, tmp_path: Path, wait_for) -> None:
    """Through nginx and its certificate: the developer logs in and sees the dashboard; the DSN
    the server prints points at nginx (public_url) and a real sentry_sdk's event is stored."""
    server_dir, proxy = stack
    server = _serve(servers, server_dir, proxy, tmp_path / "server.log", trusted=True)
    try:
        with _browser(proxy, BROWSER_A) as browser:
            answer = _log_in(browser, proxy)
            page = browser.get(answer.headers.get("location", "/dashboard/"))
        dsn = servers._cli("project", "sentry-key", "create", "demo", "--server-dir", str(server_dir.path),
                           env={"CRASHVEIL_PUBLIC_URL": proxy.origin}).strip().splitlines()[-1]
        before = _stored_reports(server_dir)
        sent = subprocess.run([sys.executable, "-c", SENTRY_APP, dsn, str(proxy.ca)], capture_output=True, text=True,
                              timeout=60)
        stored = wait_for(lambda: _stored_reports(server_dir) > before, 20)
    finally:
        server.stop()
    assert (303, 200, True, f"@127.0.0.1:{proxy.port}/" in dsn, 0, True) == (
        answer.status_code, page.status_code, "Sign out" in page.text or "logout" in page.text,
        dsn.startswith("https://"), sent.returncode, bool(stored)), sent.stderr[-2000:]


@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted-proxy", "trusted-proxy"])
def test_client_address_is_the_proxys_unless_it_is_trusted(stack, servers, tmp_path: Path, trusted: bool) -> None:
    """Browser A uses up the log-in limit per address. Untrusted, nginx's address is the one
    both browsers have, so B is refused (429) as well; trusted, B logs in (303) while A, even
    claiming another address in its own X-Forwarded-For, stays refused."""
    server_dir, proxy = stack
    server = _serve(servers, server_dir, proxy, tmp_path / "server.log", trusted=trusted)
    try:
        with _browser(proxy, BROWSER_A) as a, _browser(proxy, BROWSER_A) as a2, _browser(proxy, BROWSER_B) as b:
            # Forms first (a GET takes no token): after the budget is spent only two posts
            # follow, long before the limit gives a token back (one per 30 s).
            b_nonce, a2_nonce = _nonce(b.get("/dashboard/login").text), _nonce(a2.get("/dashboard/login").text)
            spent = _use_up_the_budget(a, proxy)
            b_answer = _post_form(b, proxy, b_nonce).status_code
            a_spoofed = _post_form(a2, proxy, a2_nonce, extra={"X-Forwarded-For": "192.0.2.77"}).status_code
    finally:
        server.stop()
    assert (429, 303 if trusted else 429, 429) == (spent[-1], b_answer, a_spoofed), spent
