"""The store contract, written once for every backend.

A backend's test module subclasses ``StoreContract`` and provides the ``url`` fixture
(a fresh, empty store each test). Everything here goes through ``open_store(url)``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

from tortie.store import (MAX_VALUE, CompactedError, ConflictError, Event, EventType, KeyExistsError,
                          KeyNotFoundError, Op, OpKind, Store, TooLargeError, Watch, open_store)

from .wait import wait_until


def gather(watch: Watch, events: list[Event]) -> list[Event]:
    """``events`` with what the watch delivers next added to it."""
    events += watch.next(timeout=0.5)
    return events


def _increment(url: str, key: str, times: int) -> int:
    """Compare-and-swap increments of a counter; returns how many conflicts were retried."""
    retries = 0
    with open_store(url) as store:
        for _ in range(times):
            while True:
                kv = store.get(key)
                assert kv is not None
                try:
                    store.update(key, str(int(kv.value) + 1).encode(), kv.mod_revision)
                    break
                except ConflictError:
                    retries += 1
    return retries


class StoreContract:
    @pytest.fixture
    def store(self, url: str) -> Store:
        with open_store(url) as s:
            yield s

    def test_new_store_is_empty(self, store: Store) -> None:
        assert store.list("/")[0] == []
        assert store.get("/nothing") is None

    def test_create_update_delete_revisions(self, store: Store) -> None:
        start = store.revision()
        a = store.create("/k/a", b"1")
        assert (a.create_revision, a.mod_revision, a.version) == (start + 1, start + 1, 1)
        with pytest.raises(KeyExistsError):
            store.create("/k/a", b"2")
        b = store.update("/k/a", b"2", a.mod_revision)
        assert (b.create_revision, b.mod_revision, b.version, b.value) == (start + 1, start + 2, 2, b"2")
        with pytest.raises(ConflictError):
            store.update("/k/a", b"3", a.mod_revision)
        c = store.update("/k/a", b"3")  # unconditional
        assert c.mod_revision == start + 3
        with pytest.raises(ConflictError):
            store.delete("/k/a", b.mod_revision)
        gone = store.delete("/k/a", c.mod_revision)
        assert gone.value == b"3"
        assert store.revision() == start + 4  # deletes count too
        assert store.get("/k/a") is None
        with pytest.raises(KeyNotFoundError):
            store.update("/k/a", b"4")
        with pytest.raises(KeyNotFoundError):
            store.delete("/k/a")
        # A failed write does not move the revision.
        assert store.revision() == start + 4

    def test_a_commit_writes_all_or_nothing(self, store: Store) -> None:
        a = store.create("/t/a", b"a")
        b = store.create("/t/b", b"b")
        start = store.revision()
        for ops, error in (
                ([Op(OpKind.CREATE, "/t/c", b"c"), Op(OpKind.CREATE, "/t/a", b"x")], KeyExistsError),
                ([Op(OpKind.DELETE, "/t/a", expected_revision=a.mod_revision), Op(OpKind.UPDATE, "/t/z", b"z")],
                 KeyNotFoundError),
                ([Op(OpKind.UPDATE, "/t/a", b"x"), Op(OpKind.DELETE, "/t/b", expected_revision=a.mod_revision)],
                 ConflictError),
                ([Op(OpKind.CREATE, "/t/c", b"c"), Op(OpKind.CREATE, "/t/d", b"d" * (MAX_VALUE + 1))],
                 TooLargeError)):
            with pytest.raises(error):
                store.commit(ops)
            assert store.revision() == start and [kv.key for kv in store.list("/t/")[0]] == ["/t/a", "/t/b"]
        with store.watch("/t/", start + 1) as watch:
            new, gone, changed = store.commit([Op(OpKind.CREATE, "/t/c", b"c"),
                                               Op(OpKind.DELETE, "/t/a", expected_revision=a.mod_revision),
                                               Op(OpKind.UPDATE, "/t/b", b"B", b.mod_revision)])
            assert (new.value, gone.value, changed.value, changed.version) == (b"c", b"a", b"B", 2)
            assert store.get("/t/a") is None and store.get("/t/b") == changed
            events: list[Event] = []
            wait_until("the commit's three events", lambda: gather(watch, events), lambda got: len(got) >= 3)
        assert [(e.type, e.kv.key) for e in events] == [
            (EventType.PUT, "/t/c"), (EventType.DELETE, "/t/a"), (EventType.PUT, "/t/b")]
        assert store.revision() == changed.mod_revision

    def test_list_prefix_in_key_order_with_revision(self, store: Store) -> None:
        for key in ("/p/b", "/p/a", "/q/a", "/p/c/d"):
            store.create(key, key.encode())
        items, rev = store.list("/p/")
        assert [kv.key for kv in items] == ["/p/a", "/p/b", "/p/c/d"]
        assert rev == store.revision()

    def test_values_are_bytes_exactly(self, store: Store) -> None:
        value = bytes(range(256)) * 10
        store.create("/bin", value)
        assert store.get("/bin").value == value

    def test_too_large_value_is_refused(self, store: Store) -> None:
        with pytest.raises(TooLargeError):
            store.create("/big", b"x" * (MAX_VALUE + 1))
        assert store.get("/big") is None

    def test_watch_delivers_in_order_without_gaps(self, store: Store) -> None:
        start = store.revision() + 1
        with store.watch("/w/", start) as watch:
            store.create("/w/a", b"1")
            store.create("/other", b"x")
            store.update("/w/a", b"2")
            store.delete("/w/a")
            events: list[Event] = []
            wait_until("three events under /w/", lambda: gather(watch, events), lambda seen: len(seen) >= 3)
        assert [(e.type, e.kv.key, e.kv.value) for e in events] == [
            (EventType.PUT, "/w/a", b"1"), (EventType.PUT, "/w/a", b"2"), (EventType.DELETE, "/w/a", b"")]
        assert [e.revision for e in events] == [start, start + 2, start + 3]

    def test_watch_resumes_from_next_revision(self, url: str, store: Store) -> None:
        start = store.revision() + 1
        for i in range(5):
            store.create(f"/r/{i}", b"x")
        with store.watch("/r/", start) as watch:
            first = watch.next(timeout=1)
            resume = watch.next_revision
        for i in range(5, 8):
            store.create(f"/r/{i}", b"x")
        with open_store(url) as again, again.watch("/r/", resume) as watch:  # as after a restart
            rest: list[Event] = []
            wait_until("the rest of the eight events", lambda: gather(watch, rest),
                       lambda seen: len(first) + len(seen) >= 8)
        keys = [e.kv.key for e in first + rest]
        assert keys == [f"/r/{i}" for i in range(8)]

    def test_watch_times_out_empty(self, store: Store) -> None:
        with store.watch("/quiet/", store.revision() + 1) as watch, ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(watch.next, 0.2)
            wait_until("next(timeout=0.2) to return", waiting.done)
            assert waiting.result() == []

    def test_watch_sees_writes_from_another_thread_promptly(self, url: str, store: Store) -> None:
        with store.watch("/t/", store.revision() + 1) as watch, ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(watch.next, 600)  # wakes on the write, not at its timeout
            with open_store(url) as other:
                other.create("/t/x", b"1")
            wait_until("the watch to wake on the write", waiting.done)
            events = waiting.result()
        assert events and events[0].kv.key == "/t/x"

    def test_compaction(self, store: Store) -> None:
        start = store.revision() + 1
        for i in range(10):
            store.create(f"/c/{i}", b"x")
        store.compact(start + 5)
        with pytest.raises(CompactedError) as info:
            store.watch("/c/", start)
        assert info.value.compacted == start + 5
        with store.watch("/c/", start + 5) as watch:
            assert [e.kv.key for e in watch.next(timeout=1)] == [f"/c/{i}" for i in range(5, 10)]
        # Compaction forgets history, not data.
        assert len(store.list("/c/")[0]) == 10

    def test_concurrent_compare_and_swap_loses_no_update(self, url: str, store: Store) -> None:
        store.create("/counter", b"0")
        processes, times = 8, 200
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            pool.starmap(_increment, [(url, "/counter", times)] * processes)
        assert int(store.get("/counter").value) == processes * times
