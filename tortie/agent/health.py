"""The agent's health endpoints (metrics.md §4): /liveness, /readiness and /status."""

from __future__ import annotations

import json
from typing import Any, Callable

from .listener import Listener, QuietHandler


class HealthServer:
    """Serves while enabled; moving it to another host or port restarts it in-process."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                state = status()
                if self.path == "/liveness":
                    self._json(200 if state["live"] else 503, {"live": state["live"]})
                elif self.path == "/readiness":
                    self._json(200 if state["ready"] else 503, {"ready": state["ready"]})
                elif self.path in ("/status", "/"):
                    self._json(200, state)
                else:
                    self._json(404, {"error": "not found"})

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, indent=2, sort_keys=True, default=str) + "\n"
                self.send(code, data.encode(), "application/json")

        self._listener = Listener("health", Handler)

    def configure(self, enabled: bool, host: str, port: int) -> None:
        self._listener.configure(host if enabled else None, port)

    def stop(self) -> None:
        self._listener.stop()
