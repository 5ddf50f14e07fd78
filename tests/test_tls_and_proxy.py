"""HTTPS with a private CA (``ca_bundle=``) and proxies (``HTTPS_PROXY`` / ``HTTP_PROXY`` /
``NO_PROXY``).

Everything is real: a CA and a server certificate are generated here with ``cryptography``,
an HTTPS server (Python's ``ssl`` + ``http.server``) and a CONNECT-capable proxy run on
127.0.0.1 in threads. Proxy settings are read from the environment when a process first
builds its HTTP client, so every proxy scenario runs the client in a fresh interpreter
(``sys.executable -c``) with a hard timeout.

Token exposure through a proxy: for ``https://`` the client opens a ``CONNECT host:port``
tunnel and runs TLS inside it, so the ``Authorization: Bearer`` header only ever travels
encrypted inside the tunnel; the proxy sees the target host and port, never the token
(``test_https_listing_goes_through_the_connect_proxy`` checks exactly that). For plain
``http://`` (allowed only to loopback, e.g. the emulator) a proxy receives the whole request,
token included, in clear text.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from _helpers import TOKEN, guid, wire_job
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fabric_jobs import FabricConnectionError, FabricError, JobsClient

WORKSPACE = guid("tls-workspace")
ITEM = guid("tls-item")
JOBS = [wire_job(1, itemId=ITEM), wire_job(2, itemId=ITEM)]
JOB_IDS = [job["id"] for job in JOBS]

#: Every proxy variable reqwest may read, in both spellings; scrubbed from child processes.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")

SUBPROCESS_TIMEOUT = 60


# ------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Pki:
    ca_pem: Path
    server_cert: Path
    server_key: Path
    #: A second, unrelated CA (trusting it alone must not be enough).
    other_ca_pem: Path
    #: A certificate from the right CA for the wrong name (only DNS other.example).
    wrong_name_cert: Path
    wrong_name_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fabric-jobs tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(
        now + datetime.timedelta(days=2)
    )


def make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return key, _validity(builder).sign(key, hashes.SHA256())


def make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: list[x509.GeneralName],
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("fabric-jobs test server"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    return key, _validity(builder).sign(ca_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = make_ca("fabric-jobs test CA")
    server_key, server_cert = make_leaf(
        ca_key,
        ca_cert,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    _, other_ca = make_ca("some other CA")
    wrong_key, wrong_cert = make_leaf(ca_key, ca_cert, [x509.DNSName("other.example")])
    return Pki(
        ca_pem=_write_cert(directory / "ca.pem", ca_cert),
        server_cert=_write_cert(directory / "server.pem", server_cert),
        server_key=_write_key(directory / "server.key", server_key),
        other_ca_pem=_write_cert(directory / "other-ca.pem", other_ca),
        wrong_name_cert=_write_cert(directory / "wrong-name.pem", wrong_cert),
        wrong_name_key=_write_key(directory / "wrong-name.key", wrong_key),
    )


# ------------------------------------------------------------------- HTTPS server


class TlsJobsServer:
    """HTTPS on 127.0.0.1: ``GET .../jobs/instances`` with ``Bearer TOKEN`` answers one page
    with the two ``JOBS`` (no continuation); anything else a 401/404 Fabric error.

    ``requests`` holds ``(path, authorization header)`` per HTTP request; ``errors`` the
    exceptions of connections that failed (e.g. the client rejected the certificate)."""

    def __init__(self, cert: Path, key: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.requests: list[tuple[str, str | None]] = []
        self.errors: list[BaseException] = []
        self.connections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5

            def setup(self) -> None:
                super().setup()
                outer.connections += 1
                self.connection.do_handshake()  # in the connection's thread, not accept()

            def do_GET(self) -> None:
                authorization = self.headers.get("Authorization")
                outer.requests.append((self.path, authorization))
                if authorization != f"Bearer {TOKEN}":
                    self._answer(401, {"errorCode": "Unauthorized", "message": "no token"})
                elif urlsplit(self.path).path.endswith("/jobs/instances"):
                    self._answer(200, {"value": JOBS})
                else:
                    self._answer(404, {"errorCode": "EntityNotFound", "message": "no route"})

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("RequestId", guid("tls-request"))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def server_bind(self) -> None:
                # HTTPServer.server_bind resolves the FQDN (a DNS lookup); not needed here.
                TCPServer.server_bind(self)
                self.server_name, self.server_port = self.server_address[:2]

            def get_request(self) -> tuple[socket.socket, Any]:
                sock, address = self.socket.accept()
                wrapped = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                return wrapped, address

            def handle_error(self, request: Any, client_address: Any) -> None:
                outer.errors.append(sys.exc_info()[1] or RuntimeError("unknown"))

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def base_url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}/v1"

    def __enter__(self) -> TlsJobsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def tls_server(pki: Pki):
    with TlsJobsServer(pki.server_cert, pki.server_key) as server:
        yield server


def list_ids(client: JobsClient, workspace: str = WORKSPACE, item: str = ITEM) -> list[Any]:
    return [job.id for job in client.list_item_job_instances(workspace, item)]


# ---------------------------------------------------------------------- ca_bundle


def test_https_with_the_private_ca_lists_the_instances(tls_server, pki):
    client = JobsClient(
        token=TOKEN, base_url=tls_server.base_url(), ca_bundle=str(pki.ca_pem), max_retries=0
    )
    assert list_ids(client) == JOB_IDS
    assert tls_server.requests == [
        (f"/v1/workspaces/{WORKSPACE}/items/{ITEM}/jobs/instances", f"Bearer {TOKEN}")
    ]
    assert tls_server.errors == []


def test_ca_bundle_accepts_a_path_object(tls_server, pki):
    client = JobsClient(
        token=TOKEN, base_url=tls_server.base_url(), ca_bundle=pki.ca_pem, max_retries=0
    )
    assert list_ids(client) == JOB_IDS
    assert list_ids(client) == JOB_IDS  # and again, on the pooled connection


def test_https_to_localhost_matches_the_dns_name(tls_server, pki):
    client = JobsClient(
        token=TOKEN,
        base_url=tls_server.base_url("localhost"),
        ca_bundle=str(pki.ca_pem),
        max_retries=0,
        timeout=10,
    )
    assert client.base_url == f"https://localhost:{tls_server.port}/v1"
    assert list_ids(client) == JOB_IDS
    assert len(tls_server.requests) == 1


def test_bundle_with_several_certificates_is_accepted(tls_server, pki, tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.other_ca_pem.read_bytes() + b"\n" + pki.ca_pem.read_bytes())
    client = JobsClient(
        token=TOKEN, base_url=tls_server.base_url(), ca_bundle=bundle, max_retries=0
    )
    assert list_ids(client) == JOB_IDS


def _certificate_failure(client: JobsClient) -> FabricConnectionError:
    with pytest.raises(FabricConnectionError) as caught:
        list_ids(client)
    return caught.value


def test_unknown_ca_is_a_connection_error_about_the_certificate(tls_server):
    client = JobsClient(token=TOKEN, base_url=tls_server.base_url(), max_retries=0, timeout=10)
    error = _certificate_failure(client)
    message = str(error)
    assert "certificate" in message.lower()
    assert "UnknownIssuer" in message
    assert isinstance(error, ConnectionError)
    assert (
        error.url == f"{tls_server.base_url()}/workspaces/{WORKSPACE}/items/{ITEM}/jobs/instances"
    )
    assert TOKEN not in message
    assert TOKEN not in repr(error)
    # The handshake failed, so no HTTP request (and no token) reached the server.
    assert tls_server.requests == []


def test_trusting_another_ca_is_not_enough(tls_server, pki):
    client = JobsClient(
        token=TOKEN,
        base_url=tls_server.base_url(),
        ca_bundle=pki.other_ca_pem,
        max_retries=0,
        timeout=10,
    )
    message = str(_certificate_failure(client))
    assert "UnknownIssuer" in message
    assert tls_server.requests == []


def test_certificate_for_another_name_is_rejected(pki):
    with TlsJobsServer(pki.wrong_name_cert, pki.wrong_name_key) as server:
        client = JobsClient(
            token=TOKEN,
            base_url=server.base_url(),
            ca_bundle=pki.ca_pem,
            max_retries=0,
            timeout=10,
        )
        message = str(_certificate_failure(client))
        assert "certificate" in message.lower()
        assert "other.example" in message  # says which name the certificate is for
        assert server.requests == []


def test_plain_http_client_against_the_https_server_fails_cleanly(tls_server):
    # http:// to a TLS port: the server cannot parse the request; no hang, a FabricError.
    client = JobsClient(
        token=TOKEN, base_url=f"http://127.0.0.1:{tls_server.port}/v1", max_retries=0, timeout=5
    )
    with pytest.raises(FabricError):
        list_ids(client)
    assert tls_server.requests == []


def _bad_bundle(tmp_path: Path, kind: str, pki: Pki) -> Path:
    path = tmp_path / f"{kind}.pem"
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a certificate\n")
    elif kind == "der":
        pem = pki.ca_pem.read_bytes()
        path.write_bytes(
            x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        )
    elif kind == "private-key-only":
        path.write_bytes(pki.server_key.read_bytes())
    elif kind == "truncated":
        path.write_bytes(pki.ca_pem.read_bytes()[:200])
    return path


@pytest.mark.parametrize(
    "kind", ["missing", "directory", "empty", "text", "der", "private-key-only", "truncated"]
)
@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_unusable_ca_bundle_is_a_value_error_at_construction(tmp_path, pki, kind, as_path):
    bundle = _bad_bundle(tmp_path, kind, pki)
    with pytest.raises(ValueError, match="ca_bundle") as caught:
        JobsClient(
            token=TOKEN,
            base_url="https://127.0.0.1:1/v1",
            ca_bundle=bundle if as_path else str(bundle),
        )
    assert TOKEN not in str(caught.value)


# ------------------------------------------------------------------------ proxies


class Proxy:
    """A small HTTP proxy on 127.0.0.1: ``CONNECT host:port`` tunnels (bytes relayed both
    ways, the client's bytes kept in ``tunnelled``) and absolute-form requests
    (``GET http://127.0.0.1:port/... HTTP/1.1``, forwarded to that loopback origin, one
    request per connection). ``heads`` keeps every request head the proxy itself read."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.heads: list[bytes] = []
        self.tunnelled = bytearray()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    # -- what it saw
    @property
    def request_lines(self) -> list[str]:
        return [head.split(b"\r\n", 1)[0].decode("latin-1") for head in self.heads]

    @property
    def connect_targets(self) -> list[str]:
        return [line.split()[1] for line in self.request_lines if line.startswith("CONNECT ")]

    # -- serving
    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self._open.append(conn)
            self._spawn(self._handle, conn)

    @staticmethod
    def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head, rest

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            head, rest = self._read_head(conn)
            if not head:
                return
            self.heads.append(head)
            method, target, version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method == "CONNECT":
                self._tunnel(conn, target, rest)
            else:
                self._forward(conn, method, target, version, head, rest)
        except OSError:
            pass
        finally:
            conn.close()

    def _tunnel(self, conn: socket.socket, target: str, rest: bytes) -> None:
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=10)
        with self._lock:
            self._open.append(upstream)
        conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        if rest:
            self.tunnelled += rest
            upstream.sendall(rest)
        self._spawn(self._pipe, upstream, conn, False)
        self._pipe(conn, upstream, True)

    def _pipe(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if record:
                    self.tunnelled += chunk
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def _forward(
        self,
        conn: socket.socket,
        method: str,
        target: str,
        version: str,
        head: bytes,
        rest: bytes,
    ) -> None:
        url = urlsplit(target)
        if url.scheme != "http" or url.hostname != "127.0.0.1" or url.port is None:
            conn.sendall(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            return
        origin_form = url.path + (f"?{url.query}" if url.query else "")
        headers = [
            line
            for line in head.split(b"\r\n")[1:]
            if not line.lower().startswith((b"connection:", b"proxy-", b"keep-alive:"))
        ]
        request = b"\r\n".join(
            [f"{method} {origin_form} {version}".encode("latin-1"), *headers, b"Connection: close"]
        )
        with socket.create_connection((url.hostname, url.port), timeout=10) as upstream:
            upstream.sendall(request + b"\r\n\r\n" + rest)
            response = b""
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                response += chunk
        # One request per client connection: tell the client not to reuse it.
        response_head, _, body = response.partition(b"\r\n\r\n")
        lines = [
            line
            for line in response_head.split(b"\r\n")
            if not line.lower().startswith((b"connection:", b"keep-alive:"))
        ]
        conn.sendall(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body)

    def __enter__(self) -> Proxy:
        self._spawn(self._serve)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=2)


@pytest.fixture
def proxy():
    with Proxy() as running:
        yield running


CHILD = """
import json, sys
from fabric_jobs import FabricError, JobsClient
base_url, ca_bundle, workspace_id, item_id = sys.argv[1:5]
client = JobsClient(base_url=base_url, ca_bundle=ca_bundle or None, max_retries=0, timeout=10)
try:
    ids = [job.id for job in client.list_item_job_instances(workspace_id, item_id)]
except FabricError as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error)}))
else:
    print(json.dumps({"ids": ids}))
"""


def list_in_child(
    base_url: str,
    *,
    ca_bundle: Path | None = None,
    workspace_id: str = WORKSPACE,
    item_id: str = ITEM,
    **proxy_env: str,
) -> dict[str, Any]:
    """Lists in a fresh interpreter whose only proxy settings are ``proxy_env``; the token
    travels in ``FABRIC_TOKEN``. Returns ``{"ids": [...]}`` or ``{"error", "message"}``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in PROXY_VARIABLES and name != "FABRIC_TOKEN"
    }
    env.update(proxy_env)
    env["FABRIC_TOKEN"] = TOKEN
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            base_url,
            str(ca_bundle or ""),
            workspace_id,
            item_id,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_https_listing_goes_through_the_connect_proxy(tls_server, pki, proxy):
    result = list_in_child(tls_server.base_url(), ca_bundle=pki.ca_pem, HTTPS_PROXY=proxy.url)
    assert result == {"ids": JOB_IDS}
    assert proxy.connect_targets == [f"127.0.0.1:{tls_server.port}"]
    assert tls_server.requests == [
        (f"/v1/workspaces/{WORKSPACE}/items/{ITEM}/jobs/instances", f"Bearer {TOKEN}")
    ]
    # The proxy saw the CONNECT head (no credentials in it) and then only TLS records: the
    # bearer token went through the tunnel encrypted.
    assert all(b"authorization" not in head.lower() for head in proxy.heads)
    assert len(proxy.tunnelled) > 0
    assert proxy.tunnelled[:1] == b"\x16"  # a TLS handshake record (ClientHello)
    assert TOKEN.encode() not in bytes(proxy.tunnelled)
    assert b"Bearer" not in bytes(proxy.tunnelled)


def test_lowercase_https_proxy_is_honoured_too(tls_server, pki, proxy):
    result = list_in_child(tls_server.base_url(), ca_bundle=pki.ca_pem, https_proxy=proxy.url)
    assert result == {"ids": JOB_IDS}
    assert proxy.connect_targets == [f"127.0.0.1:{tls_server.port}"]


def test_no_proxy_bypasses_the_https_proxy(tls_server, pki, proxy):
    result = list_in_child(
        tls_server.base_url(), ca_bundle=pki.ca_pem, HTTPS_PROXY=proxy.url, NO_PROXY="127.0.0.1"
    )
    assert result == {"ids": JOB_IDS}
    assert proxy.heads == []
    assert len(tls_server.requests) == 1


def test_certificate_is_still_checked_through_the_proxy(tls_server, proxy):
    # The tunnel does not weaken TLS: without the CA the listing fails, no request is made.
    result = list_in_child(tls_server.base_url(), HTTPS_PROXY=proxy.url)
    assert result["error"] == "FabricConnectionError"
    assert "certificate" in result["message"].lower()
    assert proxy.connect_targets == [f"127.0.0.1:{tls_server.port}"]
    assert tls_server.requests == []


def test_unreachable_https_proxy_is_a_connection_error_not_a_bypass(tls_server, pki):
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead_port = placeholder.getsockname()[1]
    result = list_in_child(
        tls_server.base_url(), ca_bundle=pki.ca_pem, HTTPS_PROXY=f"http://127.0.0.1:{dead_port}"
    )
    assert result["error"] == "FabricConnectionError"
    assert tls_server.requests == []


def test_http_proxy_is_not_used_for_https(tls_server, pki, proxy):
    result = list_in_child(tls_server.base_url(), ca_bundle=pki.ca_pem, HTTP_PROXY=proxy.url)
    assert result == {"ids": JOB_IDS}
    assert proxy.heads == []


@pytest.fixture
def paged_emulator(emulator, make_item):
    """The emulator with 8 instances served 3 per page (3 requests per listing)."""
    emulator.set_page_size(3)
    item = make_item(8)
    emulator.clear_requests()
    return emulator, item


def test_plain_http_goes_through_the_http_proxy_in_absolute_form(paged_emulator, proxy):
    emulator, item = paged_emulator
    result = list_in_child(
        emulator.base_url,
        workspace_id=item.workspace_id,
        item_id=item.item_id,
        HTTP_PROXY=proxy.url,
    )
    assert result == {"ids": item.ids}
    lines = proxy.request_lines
    assert len(lines) == 3
    prefix = f"GET http://127.0.0.1:{emulator.port}{item.path}"
    assert all(line.startswith(prefix) and line.endswith(" HTTP/1.1") for line in lines), lines
    # The proxy forwarded them: the emulator saw every page, authorized.
    requests = emulator.requests
    assert [r["path"] for r in requests] == [item.path] * 3
    assert all(r["authorized"] for r in requests)
    # Plain http: the proxy does see the bearer token (only allowed for loopback origins).
    assert all(f"Bearer {TOKEN}".encode() in head for head in proxy.heads)


def test_no_proxy_bypasses_the_http_proxy(paged_emulator, proxy):
    emulator, item = paged_emulator
    result = list_in_child(
        emulator.base_url,
        workspace_id=item.workspace_id,
        item_id=item.item_id,
        HTTP_PROXY=proxy.url,
        NO_PROXY="127.0.0.1",
    )
    assert result == {"ids": item.ids}
    assert proxy.heads == []
    assert len(emulator.requests) == 3


def test_https_proxy_is_not_used_for_plain_http(paged_emulator, proxy):
    emulator, item = paged_emulator
    result = list_in_child(
        emulator.base_url,
        workspace_id=item.workspace_id,
        item_id=item.item_id,
        HTTPS_PROXY=proxy.url,
    )
    assert result == {"ids": item.ids}
    assert proxy.heads == []
