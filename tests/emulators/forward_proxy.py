"""A forward HTTP proxy on 127.0.0.1, as an enterprise network puts between Airflow and a SaaS API.

It forwards plain-http requests given with an absolute URL (`GET http://host:port/path HTTP/1.1`) and tunnels
`CONNECT host:port` for HTTPS targets (the TLS session is the client's with the target: the proxy sees bytes).
With `credentials`, a request or CONNECT without the right `Proxy-Authorization: Basic` is answered
`407 Proxy Authentication Required` (with `Proxy-Authenticate`), as Squid does. `seen` logs every request it
received: the method, the target, the headers it saw (a CONNECT's only: what is inside the tunnel is not the
proxy's to read), whether it let it through.

    with ForwardProxy(credentials=("proxyuser", "proxy-pass-0123")) as proxy:
        httpx.get(api.url, proxy=httpx.Proxy(proxy.url, auth=("proxyuser", "proxy-pass-0123")))
        assert proxy.seen[0].target == api.url + "/"

Each connection serves one request (the answer says `Connection: close`); a tunnel lives until either side
closes it. With `tls=(cert, key)` it is an `https://` proxy (clients speak TLS to the proxy itself); tunnels are
then not offered (TLS in TLS), only forwarding.
"""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}


@dataclass(frozen=True)
class Seen:
    """One request the proxy received."""

    method: str
    target: str  # the absolute URL, or host:port for CONNECT
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    allowed: bool = True

    @property
    def proxy_credentials(self) -> tuple[str, str] | None:
        value = self.headers.get("proxy-authorization", "")
        if not value.lower().startswith("basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


class ForwardProxy:
    def __init__(
        self, credentials: tuple[str, str] | None = None, host: str = "127.0.0.1", tls: tuple[str, str] | None = None
    ) -> None:
        self.credentials = credentials
        self._tls = tls
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self._host = host
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "proxy not started"
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self._host}:{self._server.server_address[1]}"

    def targets(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [seen.target for seen in self.seen if method is None or seen.method == method]

    def start(self) -> ForwardProxy:
        proxy = self

        class _Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy._handle(self)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer((self._host, 0), _Handler)
        self._server.daemon_threads = True
        if self._tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one connection -------------------------------------------------------------------------------------------

    def _handle(self, handler: socketserver.StreamRequestHandler) -> None:
        line = handler.rfile.readline(65537).decode("latin-1").strip()
        if not line:
            return
        method, target, _version = [*line.split(" "), "", ""][:3]
        headers: list[tuple[str, str]] = []
        while True:
            header = handler.rfile.readline(65537).decode("latin-1")
            if header in ("\r\n", "\n", ""):
                break
            name, _, value = header.partition(":")
            headers.append((name.strip(), value.strip()))
        lowered = {name.lower(): value for name, value in headers}
        allowed = self._authorized(lowered.get("proxy-authorization"))
        with self.lock:
            self.seen.append(Seen(method.upper(), target, lowered, allowed))
        if not allowed:
            body = b"Proxy authentication required\n"
            handler.wfile.write(
                b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="emulator"\r\n'
                b"Content-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
            )
            return
        if method.upper() == "CONNECT" and self._tls:
            handler.wfile.write(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        elif method.upper() == "CONNECT":
            self._tunnel(handler, target)
        else:
            self._forward(handler, method, target, headers, int(lowered.get("content-length") or 0))

    def _authorized(self, value: str | None) -> bool:
        if self.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        return value == expected

    def _tunnel(self, handler: socketserver.StreamRequestHandler, target: str) -> None:
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError:
            handler.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        handler.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        handler.wfile.flush()
        client = handler.connection
        with upstream:
            sockets = [client, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], 10)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)

    def _forward(
        self,
        handler: socketserver.StreamRequestHandler,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        length: int,
    ) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            handler.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        body = handler.rfile.read(length) if length else b""
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        kept = [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP]
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in kept) + "Connection: close\r\n\r\n"
        try:
            with socket.create_connection((parts.hostname, parts.port or 80), timeout=10) as upstream:
                upstream.sendall(head.encode("latin-1") + body)
                answer = b""
                while chunk := upstream.recv(65536):
                    answer += chunk
        except OSError:
            handler.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        status_and_headers, _, rest = answer.partition(b"\r\n\r\n")
        lines = [
            line
            for line in status_and_headers.split(b"\r\n")
            if line.split(b":", 1)[0].strip().lower() not in (b"connection", b"keep-alive")
        ]
        handler.wfile.write(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + rest)
