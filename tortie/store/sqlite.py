"""The embedded store: one SQLite file in WAL mode, shared safely by many processes.

Tables: ``kv`` holds the live keys; ``log`` holds one row per revision (every write,
deletes included), which is what watches read; ``meta`` holds the current and the
compacted revision. Every write runs in one ``BEGIN IMMEDIATE`` transaction, so the
revision counter, the key and its log row change together or not at all; so do the
writes of one ``commit``.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

from .base import (CompactedError, ConflictError, Event, EventType, KeyExistsError, KeyNotFoundError, KeyValue, Op,
                   OpKind, Store, StoreError, UnavailableError, Watch, check_size)
from .notify import directory_notifier

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value BLOB NOT NULL,
    create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
    rev INTEGER PRIMARY KEY, key TEXT NOT NULL, deleted INTEGER NOT NULL,
    value BLOB NOT NULL, create_rev INTEGER NOT NULL, version INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta VALUES ('schema', 1), ('revision', 0), ('compacted', 0);
"""

POLL_INTERVAL = 0.005
FULL_POLL_EVERY = 1.0  # query at least this often even when the files look unchanged
WATCH_BATCH = 1000
AUTO_COMPACT_EVERY = 1000


class _Connection:
    """One SQLite connection, used by one thread at a time, with errors in our words."""

    def __init__(self, path: str, lock_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.lock = threading.Lock()
        try:
            self.db = sqlite3.connect(path, timeout=lock_timeout, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise self.translate(exc) from None

    def translate(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return UnavailableError(
                f"datastore {self.path} is locked by another process (waited {self.lock_timeout:g}s)")
        if "readonly" in text or "read-only" in text:
            return UnavailableError(f"datastore {self.path} is read-only")
        if "not a database" in text or "malformed" in text:
            return UnavailableError(f"datastore {self.path} is not a tortie datastore ({text})")
        if "unable to open" in text:
            directory = os.path.dirname(os.path.abspath(self.path))
            if not os.access(directory, os.W_OK):
                reason = f"{directory} is read-only"
            else:
                reason = "permission denied" if os.path.exists(self.path) else "cannot create the file"
            return UnavailableError(f"cannot open datastore {self.path}: {reason}")
        return UnavailableError(f"datastore {self.path}: {text}")

    @contextmanager
    def transaction(self, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
        """One transaction; ``BEGIN IMMEDIATE`` takes the write lock up front."""
        with self.lock:
            try:
                self.db.execute(begin)
                yield self.db
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self.translate(exc) from None
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _meta(db: sqlite3.Connection, name: str) -> int:
    return int(db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0])


class SQLiteStore(Store):
    def __init__(self, path: str, lock_timeout: float = 10.0, retain: int = 10000) -> None:
        """Open (creating if needed) the store at ``path``. Its directory must exist.

        ``retain`` revisions of history are kept for watches; older ones are compacted
        automatically. 0 keeps everything until ``compact`` is called.
        """
        self.path = path
        self.lock_timeout = lock_timeout
        self.retain = retain
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise UnavailableError(f"datastore directory does not exist: {directory}")
        self._conn = _Connection(path, lock_timeout)
        try:
            self._create_schema()
        except StoreError:
            self._conn.close()
            raise

    def _create_schema(self) -> None:
        # Only a new file needs the write lock, so readers open while others write.
        with self._conn.transaction() as db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                return
        with self._conn.transaction("BEGIN IMMEDIATE") as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    # --- the contract --------------------------------------------------------------

    def revision(self) -> int:
        with self._conn.transaction() as db:
            return _meta(db, "revision")

    def get(self, key: str) -> KeyValue | None:
        with self._conn.transaction() as db:
            row = db.execute("SELECT key, value, create_rev, mod_rev, version FROM kv WHERE key = ?",
                             (key,)).fetchone()
        return KeyValue(*row) if row else None

    def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        with self._conn.transaction() as db:
            rows = db.execute(
                "SELECT key, value, create_rev, mod_rev, version FROM kv WHERE key >= ? AND key < ? ORDER BY key",
                (prefix, prefix_end(prefix))).fetchall()
            return [KeyValue(*row) for row in rows], _meta(db, "revision")

    def create(self, key: str, value: bytes) -> KeyValue:
        return self.commit([Op(OpKind.CREATE, key, value)])[0]

    def update(self, key: str, value: bytes, expected_revision: int | None = None) -> KeyValue:
        return self.commit([Op(OpKind.UPDATE, key, value, expected_revision)])[0]

    def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        return self.commit([Op(OpKind.DELETE, key, expected_revision=expected_revision)])[0]

    def commit(self, ops: Sequence[Op]) -> Sequence[KeyValue]:
        """One ``BEGIN IMMEDIATE`` transaction; each write takes the next revision (the log
        keeps one row per revision), and readers see all of them or none."""
        for op in ops:
            if op.kind is not OpKind.DELETE:
                check_size(op.key, op.value)
        with self._conn.transaction("BEGIN IMMEDIATE") as db:
            start = rev = _meta(db, "revision")
            out = []
            for op in ops:
                rev += 1
                out.append(self._apply(db, rev, op))
            db.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (rev,))
            if self.retain and rev // AUTO_COMPACT_EVERY > start // AUTO_COMPACT_EVERY and rev > self.retain:
                _compact(db, rev - self.retain)
        return out

    def _apply(self, db: sqlite3.Connection, rev: int, op: Op) -> KeyValue:
        key, value = op.key, op.value
        if op.kind is OpKind.CREATE:
            if db.execute("SELECT 1 FROM kv WHERE key = ?", (key,)).fetchone():
                raise KeyExistsError(key)
            db.execute("INSERT INTO kv VALUES (?, ?, ?, ?, ?)", (key, value, rev, rev, 1))
            db.execute("INSERT INTO log VALUES (?, ?, 0, ?, ?, 1)", (rev, key, value, rev))
            return KeyValue(key, value, rev, rev, 1)
        old = self._current(db, key, op.expected_revision)
        if op.kind is OpKind.DELETE:
            db.execute("DELETE FROM kv WHERE key = ?", (key,))
            db.execute("INSERT INTO log VALUES (?, ?, 1, x'', ?, 0)", (rev, key, old.create_revision))
            return old
        kv = KeyValue(key, value, old.create_revision, rev, old.version + 1)
        db.execute("UPDATE kv SET value = ?, mod_rev = ?, version = ? WHERE key = ?", (value, rev, kv.version, key))
        db.execute("INSERT INTO log VALUES (?, ?, 0, ?, ?, ?)", (rev, key, value, kv.create_revision, kv.version))
        return kv

    def _current(self, db: sqlite3.Connection, key: str, expected: int | None) -> KeyValue:
        row = db.execute("SELECT key, value, create_rev, mod_rev, version FROM kv WHERE key = ?", (key,)).fetchone()
        if not row:
            raise KeyNotFoundError(key)
        kv = KeyValue(*row)
        if expected is not None and kv.mod_revision != expected:
            raise ConflictError(key, expected, kv.mod_revision)
        return kv

    def watch(self, prefix: str, start_revision: int) -> Watch:
        return SQLiteWatch(self, prefix, start_revision)

    def compact(self, revision: int) -> None:
        with self._conn.transaction("BEGIN IMMEDIATE") as db:
            if revision > _meta(db, "revision"):
                raise StoreError(f"cannot compact to revision {revision}: it is in the future")
            _compact(db, revision)

    def close(self) -> None:
        self._conn.close()

    # --- maintenance -------------------------------------------------------------

    def check_consistency(self) -> builtins.list[str]:
        """Problems found in the file (empty if it is sound): SQLite's check plus our invariants."""
        with self._conn.transaction() as db:
            problems = [r[0] for r in db.execute("PRAGMA integrity_check") if r[0] != "ok"]
            rev, first = _meta(db, "revision"), max(_meta(db, "compacted"), 1)
            count, top = db.execute("SELECT count(*), max(rev) FROM log").fetchone()
            if rev and (count != rev - first + 1 or top != rev):
                problems.append(f"log holds {count} rows up to {top}, expected revisions {first}..{rev}")
            stale = db.execute(
                "SELECT count(*) FROM kv LEFT JOIN log ON log.rev = kv.mod_rev "
                "WHERE kv.mod_rev >= ? AND (log.key IS NOT kv.key OR log.value IS NOT kv.value)",
                (first,)).fetchone()[0]
            if stale:
                problems.append(f"{stale} keys disagree with their log rows")
        return problems


def _compact(db: sqlite3.Connection, revision: int) -> None:
    if revision > _meta(db, "compacted"):
        db.execute("DELETE FROM log WHERE rev < ?", (revision,))
        db.execute("UPDATE meta SET value = ? WHERE name = 'compacted'", (revision,))


def prefix_end(prefix: str) -> str:
    """The smallest key greater than every key that starts with ``prefix``."""
    return prefix + "\U0010ffff" if prefix else "\U0010ffff"


class SQLiteWatch(Watch):
    def __init__(self, store: SQLiteStore, prefix: str, start_revision: int) -> None:
        self._prefix = prefix
        self._conn = _Connection(store.path, store.lock_timeout)
        self._next = start_revision if start_revision > 0 else store.revision() + 1
        self._files = (store.path, store.path + "-wal")
        self._seen: tuple[tuple[int, int], ...] | None = None
        self._polled_at = 0.0
        self._notifier = directory_notifier(os.path.dirname(os.path.abspath(store.path)))
        self._more = False
        # Fail now, not later, if the start is already compacted.
        self._pending: list[Event] = self._poll()

    @property
    def next_revision(self) -> int:
        return self._next

    def next(self, timeout: float | None = None) -> list[Event]:
        if self._pending:
            events, self._pending = self._pending, []
            return events
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._notifier is not None:
                self._notifier.drain()  # before looking, so that a commit after the look wakes us
            events = self._poll() if self._may_have_changed() else []
            if events:
                return events
            remaining = FULL_POLL_EVERY if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return []
            if self._notifier is not None:
                self._notifier.wait(min(remaining, FULL_POLL_EVERY))
            else:
                time.sleep(min(POLL_INTERVAL, remaining))

    def _may_have_changed(self) -> bool:
        """Every commit in WAL mode changes the -wal file (and a checkpoint the database), so
        unchanged files mean no new revisions: a stat instead of a query while idle. A full
        batch last time means more rows are waiting, whatever the files say."""
        if self._more:
            return True
        seen = []
        for path in self._files:
            try:
                st = os.stat(path)
                seen.append((st.st_mtime_ns, st.st_size))
            except OSError:
                seen.append((0, 0))
        state = tuple(seen)
        if state != self._seen or time.monotonic() - self._polled_at > FULL_POLL_EVERY:
            self._seen = state
            return True
        return False

    def _poll(self) -> list[Event]:
        self._polled_at = time.monotonic()
        with self._conn.transaction() as db:
            compacted = _meta(db, "compacted")
            if self._next < compacted:
                raise CompactedError(self._next, compacted)
            rows = db.execute("SELECT rev, key, deleted, value, create_rev, version FROM log WHERE rev >= ? "
                              "ORDER BY rev LIMIT ?", (self._next, WATCH_BATCH)).fetchall()
        events = []
        for rev, key, deleted, value, create_rev, version in rows:
            if key.startswith(self._prefix):
                kind = EventType.DELETE if deleted else EventType.PUT
                events.append(Event(kind, KeyValue(key, value, create_rev, rev, version)))
        if rows:
            self._next = rows[-1][0] + 1
        self._more = len(rows) == WATCH_BATCH
        return events

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.close()
        self._conn.close()
