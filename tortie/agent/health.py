"""The agent's health endpoints (metrics.md §4): /liveness, /readiness and /status."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


class HealthServer:
    """Serves while enabled; moving it to another host or port restarts it in-process."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self._status = status
        self._server: ThreadingHTTPServer | None = None
        self._where: tuple[str, int] | None = None

    def configure(self, enabled: bool, host: str, port: int) -> None:
        where = (host, port) if enabled else None
        if where == self._where:
            return
        self.stop()
        if where is not None:
            self._server = ThreadingHTTPServer(where, self._handler())
            self._where = where
            threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server, self._where = None, None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        status = self._status

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                state = status()
                if self.path == "/liveness":
                    self._send(200 if state["live"] else 503, {"live": state["live"]})
                elif self.path == "/readiness":
                    self._send(200 if state["ready"] else 503, {"ready": state["ready"]})
                elif self.path in ("/status", "/"):
                    self._send(200, state)
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = (json.dumps(body, indent=2, sort_keys=True, default=str) + "\n").encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
