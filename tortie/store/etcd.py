"""The store contract on etcd v3, through aetcd's protocol bindings on a blocking gRPC channel.

aetcd's own client speaks only plain-text gRPC from asyncio; tortie's store is synchronous and
needs TLS, so it drives aetcd's generated stubs over a ``grpc`` channel it builds itself.
Creates, updates and deletes are transactions that compare the key's revision, so they mean
exactly what they mean on SQLite. Watches read their stream in a thread and resume from their
next revision when the connection drops; a compacted start raises CompactedError.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from aetcd import rpc

from ..core import read_bounded
from .base import (CompactedError, ConflictError, Event, EventType, KeyExistsError, KeyNotFoundError, KeyValue, Op,
                   OpKind, Store, StoreError, TooLargeError, UnavailableError, Watch, check_size)

LIST_PAGE = 1000
CALL_TIMEOUT = 10.0
CONNECT_TIMEOUT = 3.0
MAX_MESSAGE = 256 << 20
T = TypeVar("T")


def range_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with ``prefix`` (etcd's range_end)."""
    for i in range(len(prefix) - 1, -1, -1):
        if prefix[i] < 0xFF:
            return prefix[:i] + bytes([prefix[i] + 1])
    return b"\0"


@dataclass(frozen=True)
class EtcdSettings:
    endpoints: tuple[str, ...]  # host:port
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = None


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        return read_bounded(path)
    except OSError as exc:
        raise UnavailableError(f"cannot read {path}: {exc.strerror}") from None


def _kv(kv: Any) -> KeyValue:
    return KeyValue(kv.key.decode(), bytes(kv.value), kv.create_revision, kv.mod_revision, kv.version)


class _Connection:
    """A channel to the first endpoint that answers, its stubs and the auth token."""

    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        credentials = None
        if settings.tls or settings.ca_file or settings.cert_file:
            credentials = grpc.ssl_channel_credentials(_read(settings.ca_file), _read(settings.key_file),
                                                       _read(settings.cert_file))
        options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
        errors = []
        for endpoint in settings.endpoints:
            channel = (grpc.secure_channel(endpoint, credentials, options) if credentials
                       else grpc.insecure_channel(endpoint, options))
            try:
                grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT)
            except grpc.FutureTimeoutError:
                channel.close()
                errors.append(endpoint)
                continue
            self.channel = channel
            self.kv = rpc.KVStub(channel)
            self.watch = rpc.WatchStub(channel)
            self.endpoint = endpoint
            self.metadata: tuple[tuple[str, str], ...] = ()
            self._authenticate()
            return
        raise UnavailableError(f"cannot reach etcd at {', '.join(errors)}")

    def _authenticate(self) -> None:
        if not self.settings.username:
            return
        try:
            reply = rpc.AuthStub(self.channel).Authenticate(
                rpc.AuthenticateRequest(name=self.settings.username, password=self.settings.password or ""),
                timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            self.channel.close()
            raise UnavailableError(f"etcd at {self.endpoint} refused user {self.settings.username}: "
                                   f"{exc.details()}") from None
        self.metadata = (("token", reply.token),)

    def close(self) -> None:
        self.channel.close()


def _failed(ops: Sequence[Op], found: list[Any]) -> StoreError:
    """The error of the first write whose compare failed, from the keys as the failure read them."""
    for op, kvs in zip(ops, found, strict=True):
        if op.kind is OpKind.CREATE:
            if kvs:
                return KeyExistsError(op.key)
        elif not kvs:
            return KeyNotFoundError(op.key)
        elif op.expected_revision is not None and kvs[0].mod_revision != op.expected_revision:
            return ConflictError(op.key, op.expected_revision, kvs[0].mod_revision)
    return StoreError("a transaction's comparisons failed, yet every key was as expected")


def _unavailable(exc: grpc.RpcError, where: str) -> StoreError:
    code = exc.code()
    if code == grpc.StatusCode.INVALID_ARGUMENT and "too large" in (exc.details() or ""):
        return TooLargeError(f"etcd: {exc.details()}")
    return UnavailableError(f"etcd at {where}: {code.name.lower().replace('_', ' ')}: {exc.details()}")


class EtcdStore(Store):
    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._conn: _Connection | None = _Connection(settings)

    def _call(self, method: Callable[[_Connection], T]) -> T:
        """One RPC; a lost connection is rebuilt once (another endpoint may answer)."""
        for attempt in (0, 1):
            with self._lock:
                if self._conn is None:
                    self._conn = _Connection(self.settings)
                conn = self._conn
            try:
                return method(conn)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED and attempt == 0:
                    conn._authenticate()  # the token expired
                    continue
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and attempt == 0:
                    with self._lock:
                        if self._conn is conn:
                            conn.close()
                            self._conn = None
                    continue
                raise _unavailable(exc, conn.endpoint) from None
        raise AssertionError("unreachable")

    def _range(self, request: Any) -> Any:
        return self._call(lambda c: c.kv.Range(request, timeout=CALL_TIMEOUT, metadata=c.metadata))

    def _txn(self, request: Any) -> Any:
        return self._call(lambda c: c.kv.Txn(request, timeout=CALL_TIMEOUT, metadata=c.metadata))

    # --- the contract --------------------------------------------------------------------------

    def revision(self) -> int:
        return int(self._range(rpc.RangeRequest(key=b"\0", count_only=True)).header.revision)

    def get(self, key: str) -> KeyValue | None:
        reply = self._range(rpc.RangeRequest(key=key.encode()))
        return _kv(reply.kvs[0]) if reply.kvs else None

    def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        start, end = prefix.encode(), range_end(prefix.encode())
        out: list[KeyValue] = []
        revision = 0
        while True:  # pages at one revision: a consistent snapshot of any size
            reply = self._range(rpc.RangeRequest(key=start, range_end=end, limit=LIST_PAGE, revision=revision))
            revision = revision or reply.header.revision
            out += [_kv(kv) for kv in reply.kvs]
            if not reply.more:
                return out, int(revision)
            start = reply.kvs[-1].key + b"\0"

    def _check(self, key: str, value: bytes) -> None:
        check_size(key, value)

    def create(self, key: str, value: bytes) -> KeyValue:
        return self.commit([Op(OpKind.CREATE, key, value)])[0]

    def update(self, key: str, value: bytes, expected_revision: int | None = None) -> KeyValue:
        return self.commit([Op(OpKind.UPDATE, key, value, expected_revision)])[0]

    def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        return self.commit([Op(OpKind.DELETE, key, expected_revision=expected_revision)])[0]

    def commit(self, ops: Sequence[Op]) -> Sequence[KeyValue]:
        """One etcd transaction: a compare per write (absent for a create; present, or at its
        expected revision, otherwise); when one fails, the keys are read back to say which."""
        compares, success, failure = [], [], []
        for op in ops:
            k = op.key.encode()
            if op.kind is OpKind.CREATE:
                compares.append(rpc.Compare(key=k, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
                                            create_revision=0))
            elif op.expected_revision is not None:
                compares.append(rpc.Compare(key=k, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                                            mod_revision=op.expected_revision))
            else:
                compares.append(rpc.Compare(key=k, target=rpc.Compare.CREATE, result=rpc.Compare.GREATER,
                                            create_revision=0))
            if op.kind is OpKind.DELETE:
                success.append(rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k, prev_kv=True)))
            else:
                self._check(op.key, op.value)
                success.append(rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=op.value, prev_kv=True)))
            failure.append(rpc.RequestOp(request_range=rpc.RangeRequest(key=k)))
        reply = self._txn(rpc.TxnRequest(compare=compares, success=success, failure=failure))
        if not reply.succeeded:
            raise _failed(ops, [r.response_range.kvs for r in reply.responses])
        revision = reply.header.revision
        out = []
        for op, response in zip(ops, reply.responses, strict=True):
            if op.kind is OpKind.DELETE:
                out.append(_kv(response.response_delete_range.prev_kvs[0]))
            elif op.kind is OpKind.CREATE:
                out.append(KeyValue(op.key, op.value, revision, revision, 1))
            else:
                prev = response.response_put.prev_kv
                out.append(KeyValue(op.key, op.value, prev.create_revision, revision, prev.version + 1))
        return out

    def watch(self, prefix: str, start_revision: int) -> Watch:
        return EtcdWatch(self, prefix, start_revision if start_revision > 0 else self.revision() + 1)

    def compact(self, revision: int) -> None:
        if revision > self.revision():
            raise StoreError(f"cannot compact to revision {revision}: it is in the future")
        try:
            self._call(lambda c: c.kv.Compact(rpc.CompactionRequest(revision=revision, physical=True),
                                              timeout=CALL_TIMEOUT, metadata=c.metadata))
        except UnavailableError as exc:
            if "compacted" not in str(exc):  # compacting to an already compacted revision is no error
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class EtcdWatch(Watch):
    """A watch stream read by a thread into a queue; reopened from ``next_revision`` when it breaks."""

    def __init__(self, store: EtcdStore, prefix: str, start_revision: int) -> None:
        self._store = store
        self._prefix = prefix.encode()
        self._next = start_revision
        self._queue: queue.Queue[list[Event] | StoreError] = queue.Queue()
        self._closed = threading.Event()
        self._call: Any = None
        self._open()
        try:
            first = self._queue.get(timeout=CALL_TIMEOUT + CONNECT_TIMEOUT)
        except queue.Empty:
            self.close()
            raise UnavailableError("etcd did not open the watch") from None
        if isinstance(first, StoreError):
            raise first
        if self._compacted(start_revision):
            # Fail now, not later: etcd reports the compaction on the stream, within its sync interval.
            try:
                item = self._queue.get(timeout=5)
            except queue.Empty:
                item = CompactedError(start_revision, start_revision + 1)
            self.close()
            if isinstance(item, StoreError):
                raise item
            raise CompactedError(start_revision, start_revision + 1)

    @property
    def next_revision(self) -> int:
        return self._next

    def _compacted(self, revision: int) -> bool:
        try:
            self._store._range(rpc.RangeRequest(key=b"\0", count_only=True, revision=revision))
        except UnavailableError as exc:
            return "compacted" in str(exc)
        return False

    def _open(self) -> None:
        start = self._next
        requests: queue.Queue[Any] = queue.Queue()
        requests.put(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=self._prefix, range_end=range_end(self._prefix), start_revision=start)))

        def outgoing() -> Iterator[Any]:
            while (request := requests.get()) is not None:
                yield request

        try:
            self._call = self._store._call(lambda c: c.watch.Watch(outgoing(), metadata=c.metadata))
        except StoreError as exc:
            self._queue.put(exc)
            return
        threading.Thread(target=self._read, args=(self._call, requests, start), name="etcd-watch",
                         daemon=True).start()

    def _read(self, call: Any, requests: queue.Queue[Any], start: int) -> None:
        created = False
        try:
            for reply in call:
                if reply.compact_revision:
                    self._queue.put(CompactedError(start, reply.compact_revision))
                    return
                if reply.created and not created:
                    created = True
                    self._queue.put([])  # the stream is open
                if reply.canceled:
                    self._queue.put(UnavailableError(f"etcd cancelled the watch: {reply.cancel_reason}"))
                    return
                events = [Event(EventType.DELETE if e.type == rpc.Event.DELETE else EventType.PUT,
                                KeyValue(e.kv.key.decode(), b"" if e.type == rpc.Event.DELETE else bytes(e.kv.value),
                                         e.kv.create_revision, e.kv.mod_revision, e.kv.version))
                          for e in reply.events]
                if events:
                    self._queue.put(events)
        except grpc.RpcError as exc:
            if not self._closed.is_set():
                self._queue.put(_unavailable(exc, "watch") if created else _unavailable(exc, "watch start"))
        finally:
            requests.put(None)

    def next(self, timeout: float | None = None) -> list[Event]:
        while True:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return []
            if isinstance(item, CompactedError):
                raise item
            if isinstance(item, StoreError):
                # The stream broke: reopen it where we are; if etcd is down, tell the caller.
                self._open()
                try:
                    again = self._queue.get(timeout=CALL_TIMEOUT)
                except queue.Empty:
                    raise item from None
                if isinstance(again, StoreError):
                    raise again
                if not again:
                    continue
                item = again
            if item:
                self._next = item[-1].revision + 1
                return item
            if timeout is not None:
                return []

    def close(self) -> None:
        self._closed.set()
        if self._call is not None:
            self._call.cancel()
