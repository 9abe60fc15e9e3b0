"""HTTP listeners the agent can start, move and stop while it runs, optionally over TLS with
a required client certificate (metrics.md §1).

Workloads can reach these ports, so what a client does must not cost the agent more than a
bounded amount (issue 15, class 7). Every listener runs on one asyncio event loop in one
thread: a connection costs no thread and a few kilobytes. Each connection gets ``head_timeout`` seconds to
finish its TLS handshake and send its request head (at most ``MAX_HEAD`` bytes), gets one
answer, and is closed. A listener keeps at most ``max_connections`` open; one more closes
the connection that has waited longest for its request, so that idle clients cannot keep
a scraper out, and is itself closed only when every open connection is being answered.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable, Coroutine, TypeVar

HEAD_TIMEOUT = 10.0  # seconds for the TLS handshake and the request head
WRITE_TIMEOUT = 10.0  # seconds for the client to take the answer
MAX_CONNECTIONS = 64  # open connections per listener
MAX_HEAD = 8192  # bytes of request line and headers
LINGER = 1.0  # seconds a closing connection waits for the client to close too

T = TypeVar("T")


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


@dataclass(frozen=True)
class Response:
    code: int
    body: bytes
    content_type: str


Handler = Callable[[str], Response]  # the request target of a GET -> its answer


class _Loop:
    """The one event loop thread every listener shares, started on first use."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def run(cls, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (or exception)."""
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                threading.Thread(target=cls._loop.run_forever, name="tortie-listeners", daemon=True).start()
            loop = cls._loop
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {code} {phrase}\r\n".encode()


def _answer(response: Response) -> bytes:
    head = (f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n"
            "Connection: close\r\n\r\n")
    return _status_line(response.code) + head.encode() + response.body


def _plain(code: int, text: str) -> Response:
    return Response(code, f"{text}\n".encode(), "text/plain; charset=utf-8")


async def _ready(sock: socket.socket, write: bool) -> None:
    """Wait until ``sock`` can be written (or read) without blocking."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    fd = sock.fileno()
    (loop.add_writer if write else loop.add_reader)(fd, wake)
    try:
        await done
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def _retrying(sock: socket.socket, operation: Callable[[], T]) -> T:
    """Run a non-blocking socket (or TLS) operation until it completes."""
    while True:
        try:
            return operation()
        except (BlockingIOError, ssl.SSLWantReadError):
            await _ready(sock, write=False)
        except ssl.SSLWantWriteError:
            await _ready(sock, write=True)


async def _linger(stream: socket.socket) -> None:
    """Close our side and read what the client still sends, for at most LINGER seconds:
    closing with unread data would reset the connection and could destroy what we sent
    last (an answer, or the TLS alert that tells a client without a certificate why)."""
    try:
        stream.shutdown(socket.SHUT_WR)  # a TLS socket turns plain here: its alert or answer is sent
        async with asyncio.timeout(LINGER):
            while await _retrying(stream, lambda: stream.recv(MAX_HEAD)):
                pass
    except (TimeoutError, OSError):
        pass


class _Server:
    """One listening socket and the connections it has open (used on the loop thread only).

    Sockets are driven directly rather than through asyncio's streams: its TLS layer drops
    the alert that tells a client without a certificate why it is refused."""

    def __init__(self, sock: socket.socket, handler: Handler, tls: ssl.SSLContext | None, head_timeout: float,
                 max_connections: int) -> None:
        self.sock = sock
        self.handler = handler
        self.tls = tls
        self.head_timeout = head_timeout
        self.max_connections = max_connections
        self.waiting: dict[asyncio.Task[None], None] = {}  # not yet sent a request head; oldest first
        self.answering: set[asyncio.Task[None]] = set()
        self.accepting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.accepting = asyncio.get_running_loop().create_task(self.accept())

    async def accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self.sock)
            conn.setblocking(False)
            if len(self.waiting) + len(self.answering) >= self.max_connections:
                if not self.waiting:
                    conn.close()
                    continue
                oldest = next(iter(self.waiting))
                del self.waiting[oldest]
                oldest.cancel()
            self.waiting[loop.create_task(self.connection(conn))] = None

    async def connection(self, conn: socket.socket) -> None:
        task = asyncio.current_task()
        assert task is not None
        stream = conn
        try:
            try:
                async with asyncio.timeout(self.head_timeout):
                    if self.tls is not None:
                        stream = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
                        await _retrying(stream, stream.do_handshake)
                    head = await self.head(stream)
                self.waiting.pop(task, None)
                self.answering.add(task)
                data = memoryview(_answer(self.respond(head)))
                async with asyncio.timeout(WRITE_TIMEOUT):
                    while data:
                        data = data[await _retrying(stream, lambda: stream.send(data)):]
            except (TimeoutError, ValueError, OSError):
                pass  # a client that is too slow, too large or gone (ssl.SSLError is an OSError) gets no more time
            await _linger(stream)
        finally:  # also when cancelled: evicted, or the listener stops
            self.waiting.pop(task, None)
            self.answering.discard(task)
            stream.close()

    @staticmethod
    async def head(stream: socket.socket) -> bytes:
        """The request line and headers; ValueError past MAX_HEAD bytes or at end of stream."""
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = await _retrying(stream, lambda: stream.recv(MAX_HEAD))
            if not chunk:
                raise ValueError("connection closed before the request head")
            received += chunk
            if len(received) > MAX_HEAD:
                raise ValueError("request head too large")
        return received

    def respond(self, head: bytes) -> Response:
        request = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(request) != 3 or not request[2].startswith("HTTP/1."):
            return _plain(400, "bad request")
        method, target, _ = request
        if method != "GET":
            return _plain(501, f"unsupported method {method[:20]!r}")
        try:
            return self.handler(target)
        except Exception as exc:  # noqa: BLE001 - one failed answer must not stop the listener
            return _plain(500, f"internal error: {type(exc).__name__}")

    async def close(self) -> None:
        tasks = [t for t in (self.accepting, *self.waiting, *self.answering) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.sock.close()


class Listener:
    """Serves ``handler`` while configured with an address; a new address or TLS setting
    restarts it in-process. ``configure`` raises OSError (or ssl.SSLError) when it cannot
    listen, and then serves nothing."""

    def __init__(self, name: str, handler: Handler, head_timeout: float = HEAD_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.name = name
        self._handler = handler
        self._head_timeout = head_timeout
        self._max_connections = max_connections
        self._server: _Server | None = None
        self._port: int | None = None
        self._setting: tuple[Any, ...] | None = None

    @property
    def port(self) -> int | None:
        return self._port

    def configure(self, host: str | None, port: int, tls: TLSFiles | None = None) -> None:
        """``host`` None: stop. ``host`` "" listens on every address (dual-stack if possible)."""
        setting = None if host is None else (host, port, tls)
        if setting == self._setting:
            return
        self.stop()
        if host is None:
            return
        context = tls.context() if tls is not None else None
        sock = _bind(host, port)
        server = _Server(sock, self._handler, context, self._head_timeout, self._max_connections)
        _Loop.run(server.start())
        self._server, self._port, self._setting = server, sock.getsockname()[1], setting

    def stop(self) -> None:
        if self._server is not None:
            _Loop.run(self._server.close())
        self._server, self._port, self._setting = None, None, None


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; "" or "::" listens on IPv6 and IPv4 where the host has IPv6."""
    if host in ("", "::") and socket.has_ipv6:
        try:
            return _listen(socket.AF_INET6, "::", port, dual_stack=True)
        except OSError:
            if host == "::":
                raise
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return _listen(family, host or "0.0.0.0", port, dual_stack=False)


def _listen(family: int, host: str, port: int, dual_stack: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if dual_stack:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
