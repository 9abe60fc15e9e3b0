"""The metrics and health listeners with real sockets: whatever clients do, they cost no
thread and a bounded number of open connections, and a request is still answered."""

from __future__ import annotations

import json
import resource
import socket
import threading
import urllib.request
from typing import Iterator

import pytest

from tortie.agent.health import HealthServer
from tortie.agent.listener import MAX_CONNECTIONS, MAX_HEAD, Listener, Response

IDLE = 2000


def _status() -> dict[str, object]:
    return {"live": True, "ready": True}


@pytest.fixture
def health() -> Iterator[tuple[HealthServer, int]]:
    server = HealthServer(_status)
    server.configure(True, "127.0.0.1", 0)
    port = server._listener.port  # noqa: SLF001 - the port the OS chose
    assert port is not None
    try:
        yield server, port
    finally:
        server.stop()


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection and read until the listener closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def _held(port: int, clients: list[socket.socket]) -> int:
    """How many of ``clients`` (connected to 127.0.0.1:``port``) the listener has accepted and
    not closed: established sockets of 127.0.0.1:``port`` whose peer is one of them and that
    have a file (one in the accept queue has inode 0). Counted from /proc/net/tcp rather than
    this process's descriptors, which other threads also open; matched by both ends, since
    another process's socket may use the same port number on another local address."""
    peers = {f"{LOOPBACK}:{sock.getsockname()[1]:04X}" for sock in clients}
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows
               if row[1] == f"{LOOPBACK}:{port:04X}" and row[2] in peers and row[3] == "01" and row[9] != "0")


def test_thousands_of_idle_connections_cost_no_thread_and_a_request_is_answered(
        health: tuple[HealthServer, int]) -> None:
    _, port = health
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, IDLE + 1024)), hard))
    assert _get(port, "/readiness")[0] == 200
    threads = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(IDLE)]
    try:
        code, body = _get(port, "/status")  # accepted after every idle one: the listen queue is FIFO
        assert (code, json.loads(body)) == (200, _status())
        assert threading.active_count() == threads
        # The listener holds at most MAX_CONNECTIONS of them; it closed the ones that waited longest.
        assert _held(port, idle) <= MAX_CONNECTIONS
        assert sum(_closed_by_peer(s) for s in idle) >= IDLE - MAX_CONNECTIONS
    finally:
        for sock in idle:
            sock.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_client_that_sends_no_request_is_closed_after_the_head_timeout() -> None:
    listener = Listener("test", lambda path: Response(200, b"ok\n", "text/plain"), head_timeout=0.2)
    listener.configure("127.0.0.1", 0)
    try:
        assert listener.port is not None
        with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as sock:
            sock.sendall(b"GET /slow")  # never finishes its head
            assert sock.recv(100) == b""  # closed by the listener, with no answer
    finally:
        listener.stop()


def test_answers_and_refusals(health: tuple[HealthServer, int]) -> None:
    _, port = health
    assert _get(port, "/liveness") == (200, b'{\n  "live": true\n}\n')
    assert _get(port, "/nope")[0] == 404
    assert _raw(port, b"POST /status HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 501 ")
    assert _raw(port, b"nonsense\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _raw(port, b"GET /status HTTP/1.1\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n") == b""  # too large: closed
    response = _raw(port, b"GET /readiness HTTP/1.0\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection: close\r\n" in response


def test_a_failing_handler_answers_500_and_the_listener_keeps_serving() -> None:
    calls: list[str] = []

    def handler(path: str) -> Response:
        calls.append(path)
        if path == "/boom":
            raise RuntimeError("boom")
        return Response(200, b"ok\n", "text/plain")

    listener = Listener("test", handler)
    listener.configure("127.0.0.1", 0)
    try:
        assert listener.port is not None
        assert _get(listener.port, "/boom")[0] == 500
        assert _get(listener.port, "/fine") == (200, b"ok\n")
        assert calls == ["/boom", "/fine"]
    finally:
        listener.stop()


def test_moving_and_stopping_frees_the_port() -> None:
    listener = Listener("test", lambda path: Response(200, path.encode(), "text/plain"))
    listener.configure("127.0.0.1", 0)
    first = listener.port
    assert first is not None and _get(first, "/a") == (200, b"/a")
    listener.configure("localhost", 0)  # a new setting: served elsewhere, the old port closed
    second = listener.port
    assert second is not None and second != first and _get(second, "/b") == (200, b"/b")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", first), timeout=30)
    listener.stop()
    assert listener.port is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", second), timeout=30)
