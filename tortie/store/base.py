"""The store contract: an etcd-v3-shaped key-value store under one global revision.

Every backend (SQLite now, etcd later) implements ``Store`` with these semantics and
passes the same contract tests (tests/store_contract.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int  # number of writes since creation, 1 after create


class EventType(Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    kv: KeyValue  # for DELETE: the key, an empty value and the deleting revision

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


class OpKind(Enum):
    CREATE = "create"  # the key must not exist
    UPDATE = "update"  # the key must exist (with ``expected_revision``, if given)
    DELETE = "delete"  # likewise


@dataclass(frozen=True, slots=True)
class Op:
    """One write of a transaction (``Store.commit``); ``value`` is unused by DELETE."""

    kind: OpKind
    key: str
    value: bytes = b""
    expected_revision: int | None = None


class StoreError(Exception):
    """Base of every store error; ``str()`` is a one-line message for users."""


class KeyExistsError(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}")
        self.key = key


class KeyNotFoundError(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class ConflictError(StoreError):
    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(f"revision of {key} is {actual}, not {expected}")
        self.key, self.expected, self.actual = key, expected, actual


class CompactedError(StoreError):
    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} has been compacted; the oldest available is {compacted}")
        self.requested, self.compacted = requested, compacted


class UnavailableError(StoreError):
    """The store cannot be used: missing, read-only, locked, corrupt or unreachable."""


class TooLargeError(StoreError):
    pass


MAX_VALUE = 1536 * 1024  # etcd's default request limit, 1.5 MiB


def check_size(key: str, value: bytes) -> None:
    """Refuse a value over MAX_VALUE, as etcd refuses the request. Raises TooLargeError."""
    if len(value) > MAX_VALUE:
        raise TooLargeError(f"{key} is {len(value)} bytes; the limit is {MAX_VALUE} bytes (1.5 MiB)")


class Watch(ABC):
    """Events for keys under a prefix, from a start revision, in order and without gaps."""

    @abstractmethod
    def next(self, timeout: float | None = None) -> list[Event]:
        """The next batch of events; empty if none arrived within ``timeout`` seconds.

        Raises CompactedError if the events needed next are no longer kept.
        """

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def next_revision(self) -> int:
        """The revision this watch delivers next; pass it to resume after a restart."""

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Store(ABC):
    @abstractmethod
    def revision(self) -> int:
        """The current store revision (0 for a new store)."""

    @abstractmethod
    def get(self, key: str) -> KeyValue | None: ...

    @abstractmethod
    def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` in key order, and the revision the list was read at."""

    @abstractmethod
    def create(self, key: str, value: bytes) -> KeyValue:
        """Write a new key. Raises KeyExistsError if it is present."""

    @abstractmethod
    def update(self, key: str, value: bytes, expected_revision: int | None = None) -> KeyValue:
        """Overwrite an existing key; with ``expected_revision``, only if its mod revision matches.

        Raises KeyNotFoundError or ConflictError.
        """

    @abstractmethod
    def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        """Delete a key, returning its last value. Raises KeyNotFoundError or ConflictError."""

    @abstractmethod
    def commit(self, ops: Sequence[Op]) -> Sequence[KeyValue]:
        """Several writes in one transaction, at most one per key: all of them or none. Returns
        each key's new value (a DELETE's last one). Raises what the first write that cannot be
        made would raise alone (KeyExistsError, KeyNotFoundError, ConflictError, TooLargeError),
        having written nothing."""

    @abstractmethod
    def watch(self, prefix: str, start_revision: int) -> Watch:
        """Watch keys under ``prefix`` from ``start_revision`` (inclusive)."""

    @abstractmethod
    def compact(self, revision: int) -> None:
        """Forget the history before ``revision``; watches from earlier revisions fail."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
