"""An HTTP listener the agent can start, move and stop while it runs, optionally over TLS
with a required client certificate (metrics.md §1)."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class TLSFiles:
    cert: str
    key: str
    ca: str

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        context.load_verify_locations(self.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        return context


class _DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Listener:
    """Serves ``handler`` while configured with an address; a new address or TLS setting
    restarts it in-process. ``configure`` raises OSError (or ssl.SSLError) when it cannot
    listen, and then serves nothing."""

    def __init__(self, name: str, handler: type[BaseHTTPRequestHandler]) -> None:
        self.name = name
        self._handler = handler
        self._server: ThreadingHTTPServer | None = None
        self._setting: tuple[Any, ...] | None = None

    @property
    def port(self) -> int | None:
        return self._server.server_address[1] if self._server is not None else None

    def configure(self, host: str | None, port: int, tls: TLSFiles | None = None) -> None:
        """``host`` None: stop. ``host`` "" listens on every address (dual-stack if possible)."""
        setting = None if host is None else (host, port, tls)
        if setting == self._setting:
            return
        self.stop()
        if setting is None:
            return
        server = self._bind(host or "", port)
        if tls is not None:
            try:
                server.socket = tls.context().wrap_socket(server.socket, server_side=True)
            except (OSError, ssl.SSLError):
                server.server_close()
                raise
        self._server, self._setting = server, setting
        threading.Thread(target=server.serve_forever, name=self.name, daemon=True).start()

    def _bind(self, host: str, port: int) -> ThreadingHTTPServer:
        if host in ("", "::") and socket.has_ipv6:
            try:
                return _DualStackServer(("::", port), self._handler)
            except OSError:
                if host == "::":
                    raise
        return _Server((host or "0.0.0.0", port), self._handler)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server, self._setting = None, None
