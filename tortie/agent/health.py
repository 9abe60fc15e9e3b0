"""The agent's health endpoints (metrics.md §4): /liveness, /readiness and /status."""

from __future__ import annotations

import json
from typing import Any, Callable

from .listener import Listener, Response


def health_handler(status: Callable[[], dict[str, Any]]) -> Callable[[str], Response]:
    """Answers for the health paths from the agent's ``status()`` at request time."""
    def answer(path: str) -> Response:
        state = status()
        if path == "/liveness":
            return _json(200 if state["live"] else 503, {"live": state["live"]})
        if path == "/readiness":
            # Ready while the kernel holds the current plan; what it holds it without is said
            # by name, and so is why it is not ready.
            body = {"ready": state["ready"], "excluded": state.get("excluded", [])}
            if not state["ready"] and state.get("lastError"):
                body["lastError"] = state["lastError"]
            return _json(200 if state["ready"] else 503, body)
        if path in ("/status", "/"):
            return _json(200, state)
        return _json(404, {"error": "not found"})
    return answer


def _json(code: int, body: dict[str, Any]) -> Response:
    data = json.dumps(body, indent=2, sort_keys=True, default=str) + "\n"
    return Response(code, data.encode(), "application/json")


class HealthServer:
    """Serves while enabled; moving it to another host or port restarts it in-process."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self._listener = Listener("health", health_handler(status))

    def configure(self, enabled: bool, host: str, port: int) -> None:
        self._listener.configure(host if enabled else None, port)

    def stop(self) -> None:
        self._listener.stop()
