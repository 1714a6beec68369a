"""One small HTTP(S) server base for every emulator: routes, JSON helpers, call counters.

Emulators bind 127.0.0.1 on a free port, run in a daemon thread and stop on exit:

    with DastraEmulator() as api:
        httpx.get(api.url + "/v1/workspaces")
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """What a handler sees of an incoming request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None
    raw_query: str = ""  # the query string as sent (`query` keeps the last value of a repeated name)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) from an `Authorization: Basic` header, or None."""
        value = self.header("authorization") or ""
        if not value.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password

    def bearer(self) -> str | None:
        value = self.header("authorization") or ""
        return value[7:] if value.lower().startswith("bearer ") else None


@dataclass
class Response:
    """What a handler returns."""

    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    seconds_per_byte: float = 0.0  # > 0: the body trickles out a byte at a time (a slow or hostile server)
    header_seconds_per_byte: float = 0.0  # > 0: so do the status line and headers, before any body
    chunks: Iterable[bytes] | None = None  # set: the body, sent as it is produced (Transfer-Encoding: chunked)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", {"Location": location})


Handler = Callable[[Request], Response]


class Emulator:
    """Base class: subclasses register routes in `setup_routes` with `self.route(...)`."""

    def __init__(self, port: int = 0, tls: tuple[str, str] | None = None, host: str = "127.0.0.1") -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._host, self._port, self._tls = host, port, tls
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.setup_routes()

    def setup_routes(self) -> None:
        """Register routes; overridden by each emulator."""

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve `method` requests whose path fully matches the regex `pattern`."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self._host}:{self._server.server_address[1]}"

    def start(self) -> Emulator:
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                emulator._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        self._server = ThreadingHTTPServer((self._host, self._port), _Handler)
        self._server.daemon_threads = True
        if self._tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (for the README's demo command)."""
        self.start()
        assert self._thread is not None
        try:
            self._thread.join()
        except KeyboardInterrupt:
            self.stop()

    def _dispatch(self, raw: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(raw.path)
        length = int(raw.headers.get("Content-Length") or 0)
        body = raw.rfile.read(length) if length else b""
        request = Request(
            method=raw.command,
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in raw.headers.items()},
            body=body,
            raw_query=parts.query,
        )
        response = self._handle(request)
        if response.chunks is not None:
            self._send_chunked(raw, response)
            return
        payload = response.body
        if not isinstance(payload, bytes):
            payload = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        raw.send_response(response.status)
        for name, value in response.headers.items():
            raw.send_header(name, value)
        raw.send_header("Content-Length", str(len(payload)))
        if response.header_seconds_per_byte:  # what end_headers() would send at once, a byte at a time
            head, raw._headers_buffer = b"".join(raw._headers_buffer) + b"\r\n", []  # type: ignore[attr-defined]
            if not self._trickle(raw, head, response.header_seconds_per_byte):
                return
        else:
            raw.end_headers()
        if raw.command == "HEAD":
            return
        if not response.seconds_per_byte:
            raw.wfile.write(payload)
            return
        self._trickle(raw, payload, response.seconds_per_byte)

    def _send_chunked(self, raw: BaseHTTPRequestHandler, response: Response) -> None:
        """Send `response.chunks` one HTTP chunk each, as they are produced (a body never held whole)."""
        raw.send_response(response.status)
        for name, value in response.headers.items():
            raw.send_header(name, value)
        raw.send_header("Transfer-Encoding", "chunked")
        raw.end_headers()
        if raw.command == "HEAD":
            return
        try:
            for chunk in response.chunks or ():
                if chunk:
                    raw.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            raw.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            with self.lock:
                self.calls["stream abandoned"] += 1

    def _trickle(self, raw: BaseHTTPRequestHandler, data: bytes, seconds_per_byte: float) -> bool:
        """Write `data` a byte at a time; False when the client hung up first (what a bounded client does)."""
        try:
            for i in range(len(data)):
                raw.wfile.write(data[i : i + 1])
                raw.wfile.flush()
                time.sleep(seconds_per_byte)
        except (BrokenPipeError, ConnectionResetError):
            with self.lock:
                self.calls["trickle abandoned"] += 1
            return False
        return True

    def _handle(self, request: Request) -> Response:
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if not match:
                continue
            path_matched = True
            if method != request.method:
                continue
            request.match = match
            with self.lock:
                self.calls[f"{method} {pattern.pattern}"] += 1
            try:
                return handler(request)
            except Exception as exc:  # a broken handler must show up in the test, not hang it
                return Response.json({"error": "emulator_error", "detail": repr(exc)}, status=500)
        if path_matched:
            return Response.json({"error": "method_not_allowed"}, status=405)
        return Response.json({"error": "not_found", "path": request.path}, status=404)

    def count(self, method: str, pattern: str) -> int:
        """How many times the route `method pattern` was called."""
        with self.lock:
            return self.calls[f"{method.upper()} {pattern}"]


def self_signed_cert(directory: str, host: str = "127.0.0.1") -> tuple[str, str]:
    """Write a self-signed certificate for `host` (and localhost) into `directory`; return (cert, key) paths."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = Path(directory, "cert.pem"), Path(directory, "key.pem")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)
