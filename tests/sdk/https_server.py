"""A real HTTPS server with mutual TLS on 127.0.0.1 for SDK tests, and the PKI it needs.

``make_pki(directory)`` generates, with cryptography's x509: a CA, a server certificate for
127.0.0.1 and localhost, a client certificate, a server certificate for the wrong host,
a second ("wrong") CA with its own client certificate, and an expired client certificate
from the right CA. ``ReportServer`` serves the routes of ``crashveil.wire.protocol`` from a
thread (stdlib ``http.server`` + ``ssl``), requires a client certificate from the CA,
records what it received, and answers from a script of responses.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crashveil.wire import protocol
from crashveil.wire.protocol import ConnectionString

PROJECT = "demo-app"


@dataclass
class Pki:
    """Paths of generated PEM files and the CA's DER (what a connection string pins)."""

    ca_der: bytes
    server_cert: Path
    server_key: Path
    wrong_host_cert: Path
    wrong_host_key: Path
    client_cert: Path
    client_key: Path
    wrong_ca_der: bytes
    wrong_ca_client_cert: Path
    wrong_ca_client_key: Path
    expired_client_cert: Path
    expired_client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], common_name: str, *, server: bool,
          names: list[x509.GeneralName] | None = None, expired: bool = False
          ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    start, end = (now - dt.timedelta(days=10), now - dt.timedelta(days=1)) if expired else \
        (now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _write(directory: Path, stem: str, pair: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
           ) -> tuple[Path, Path]:
    key, cert = pair
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def make_pki(directory: Path) -> Pki:
    """Generate every certificate the transport tests need into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca("crashveil test CA")
    wrong_ca = _ca("some other CA")
    local = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server_cert, server_key = _write(directory, "server", _leaf(ca, "crashveil server", server=True, names=local))
    wrong_host_cert, wrong_host_key = _write(directory, "wrong-host", _leaf(
        ca, "elsewhere", server=True, names=[x509.DNSName("elsewhere.example")]))
    client_cert, client_key = _write(directory, "client", _leaf(ca, "app install", server=False))
    wrong_client_cert, wrong_client_key = _write(directory, "wrong-ca-client", _leaf(
        wrong_ca, "app install", server=False))
    expired_cert, expired_key = _write(directory, "expired-client", _leaf(
        ca, "app install", server=False, expired=True))
    return Pki(
        ca_der=ca[1].public_bytes(serialization.Encoding.DER),
        server_cert=server_cert, server_key=server_key,
        wrong_host_cert=wrong_host_cert, wrong_host_key=wrong_host_key,
        client_cert=client_cert, client_key=client_key,
        wrong_ca_der=wrong_ca[1].public_bytes(serialization.Encoding.DER),
        wrong_ca_client_cert=wrong_client_cert, wrong_ca_client_key=wrong_client_key,
        expired_client_cert=expired_cert, expired_client_key=expired_key,
    )


@dataclass
class Received:
    """One request the server handled."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_subject: Any = None


@dataclass
class Scripted:
    """A response to give instead of the default one."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error": "scripted"}'
    #: Send only this many bytes of the body (Content-Length still promises all of it), then close.
    truncate_at: int | None = None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        pass

    def _record(self, body: bytes) -> None:
        peer = None
        if isinstance(self.connection, ssl.SSLSocket):
            peer = self.connection.getpeercert()
        with self.server.owner.lock:
            self.server.owner.received.append(Received(self.command, self.path, dict(self.headers), body, peer))

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                truncate_at: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if truncate_at is None:
            self.wfile.write(body)
        else:
            self.wfile.write(body[:truncate_at])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self._record(body)
        owner = self.server.owner
        routes = {protocol.reports_path(PROJECT): "report", protocol.deletion_path(PROJECT): "deletion"}
        if self.path not in routes:
            self._answer(404, b'{"error": "not_found"}')
            return
        if self.headers.get("Content-Type") != protocol.SEALED_CONTENT_TYPE:
            self._answer(415, b'{"error": "unsupported_media_type"}')
            return
        with owner.lock:
            scripted = owner.script.popleft() if owner.script else None
            owner.count += 1
            number = owner.count
        if scripted is not None:
            self._answer(scripted.status, scripted.body, scripted.headers, scripted.truncate_at)
        elif routes[self.path] == "report":
            self._answer(201, json.dumps({"receipt": f"r-{number}", "status": "stored"}).encode())
        else:
            self._answer(202, json.dumps({"request_id": f"d-{number}", "status": "accepted",
                                          "confirmation": "x"}).encode())

    def do_GET(self) -> None:
        self._record(b"")
        owner = self.server.owner
        if self.path == protocol.config_path(PROJECT) and owner.config_body is not None:
            self._answer(200, owner.config_body)
        else:
            self._answer(404, b'{"error": "not_found"}')


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: ReportServer

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.owner.context is None:
            return sock, address
        sock.settimeout(5)
        try:
            return self.owner.context.wrap_socket(sock, server_side=True), address
        except OSError:
            with self.owner.lock:
                self.owner.handshake_failures += 1
            sock.close()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-request is part of the tests


class ReportServer:
    """The crashveil HTTP contract on 127.0.0.1, over mutual TLS unless ``tls=False``.

    Use as a context manager. ``script`` holds responses to give, in order, before the
    default ``201 {"receipt": ...}``; ``received`` lists every request that got through TLS.
    """

    def __init__(self, pki: Pki, *, tls: bool = True, wrong_host: bool = False, port: int = 0) -> None:
        self.pki = pki
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.script: deque[Scripted] = deque()
        self.config_body: bytes | None = None
        self.handshake_failures = 0
        self.count = 0
        self.context: ssl.SSLContext | None = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if wrong_host:
                context.load_cert_chain(pki.wrong_host_cert, pki.wrong_host_key)
            else:
                context.load_cert_chain(pki.server_cert, pki.server_key)
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=pki.ca_der)
            self.context = context
        self._httpd = _HttpServer(("127.0.0.1", port), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def connection(self, host: str = "127.0.0.1") -> ConnectionString:
        """A connection string for this server pinning the test CA."""
        return ConnectionString(host=host, port=self.port, project=PROJECT, public_key="x25519:" + "A" * 43,
                                signing_key="ed25519:" + "A" * 43, ca_der=self.pki.ca_der)

    def reports(self) -> list[bytes]:
        """Bodies of every report POST received, in order."""
        with self.lock:
            return [r.body for r in self.received if r.method == "POST" and r.path == protocol.reports_path(PROJECT)]

    def __enter__(self) -> ReportServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
