"""The scaffolding the local HTTPS fakes share (Graph for recall and mail, Entra, Key Vault, and
tests that need a certificate): a quiet JSON request handler and a threaded server on 127.0.0.1
with a TLS context, started on a free port and stopped by its owner (the fixture or the test
session). Certificates: a throwaway trustme CA's (``trustme_context``) or one self-signed
certificate written to files (``self_signed_certificate``), both made in the test."""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class JsonHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing and answers JSON; fakes subclass it with their routes."""

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (a timeout test): nobody is left to answer
            self.close_connection = True

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that refused our certificate or hung up (the tests of untrusted certificates
        and timeouts do that on purpose) is not an error of the fake; anything else is printed."""
        if isinstance(sys.exc_info()[1], OSError):  # ssl.SSLError, ConnectionResetError, ...
            return
        super().handle_error(request, client_address)


class LocalHttps:
    """``handler`` (a ``JsonHandler`` subclass, given ``attributes`` such as ``fake``) served over
    TLS on 127.0.0.1 and a free port, on its own thread; ``stop()`` shuts it down. The handshake
    happens in the handler's thread, so a stuck client cannot block ``accept()``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext, *, name: str,
                 **attributes: Any) -> None:
        self.server = _QuietServer(("127.0.0.1", 0), type("Handler", (handler,), attributes))
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.base_url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=name, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def trustme_context(ca: Any, *names: str) -> ssl.SSLContext:
    """A server context with a certificate of the test's trustme CA for ``names`` (127.0.0.1)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1",))).configure_cert(context)
    return context


def self_signed_certificate(folder: Path, stem: str = "entra") -> tuple[Path, Path]:
    """(certificate, key) files for 127.0.0.1 and localhost, self-signed, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{stem}-cert.pem", folder / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def self_signed_context(folder: Path, stem: str = "entra") -> tuple[ssl.SSLContext, Path]:
    """A server context with a fresh self-signed certificate, and the certificate's file (the CA
    bundle a client trusts)."""
    cert, key = self_signed_certificate(folder, stem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    return context, cert
