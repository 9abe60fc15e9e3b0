"""The store contract on the SQLite backend, plus what only a file can do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tortie.store import SQLiteStore, UnavailableError, open_store

from .store_contract import StoreContract
from .wait import wait_until

WRITER = """
import sys
from tortie.store import open_store
store = open_store(sys.argv[1])
i = 0
while True:
    store.create(f"/crash/{i}", b"v" * 4096)
    if i:
        store.update(f"/crash/{i - 1}", b"w" * 8192)
    i += 1
    print(i, flush=True)
"""


class TestSQLiteContract(StoreContract):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite://{tmp_path}/store.db"


def test_kill_9_mid_write_leaves_a_consistent_file(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/crash.db"
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True)
        # Let it get well into its stream of transactions, then kill it without warning.
        for _ in range(200 + attempt * 100):
            proc.stdout.readline()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        store = SQLiteStore(f"{tmp_path}/crash.db")
        assert store.check_consistency() == []
        items, rev = store.list("/crash/")
        with store.watch("/crash/", 1) as watch:
            replayed: dict[str, bytes] = {}

            def replay() -> int:
                replayed.update((e.kv.key, e.kv.value) for e in watch.next(timeout=0.1))
                return watch.next_revision
            wait_until(f"the watch to replay up to revision {rev}", replay, lambda after: after > rev)
        assert replayed == {kv.key: kv.value for kv in items}
        # The file still takes writes.
        store.create(f"/after/{attempt}", b"ok")
        store.close()


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnavailableError, match="datastore directory does not exist"):
        open_store(f"sqlite://{tmp_path}/no/such/dir/x.db")


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(UnavailableError, match="not a tortie datastore"):
        open_store(f"sqlite://{path}")


def test_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    open_store(f"sqlite://{path}").close()
    holder = subprocess.Popen(  # holds the lock until its stdin closes
        [sys.executable, "-c",
         "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
         "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        store = open_store(f"sqlite://{path}?lock_timeout=0.5")
        with pytest.raises(UnavailableError, match=r"locked by another process \(waited 0.5s\)"):
            store.create("/x", b"1")
    finally:
        holder.communicate()


def test_automatic_compaction_keeps_recent_history(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "auto.db"), retain=500)
    for i in range(2100):
        store.update("/k", str(i).encode()) if i else store.create("/k", b"0")
    with store.watch("/k", store.revision() - 499) as watch:
        assert len(watch.next(timeout=1)) == 500
    assert store.check_consistency() == []


def test_a_backlog_drains_batch_after_batch(tmp_path: Path) -> None:
    """A watch that fell more than one batch behind reads the next batch at once, not after the
    next idle re-check: rows are waiting even though the files have not changed since."""
    store = open_store(f"sqlite://{tmp_path}/backlog.db")
    start = store.create("/backlog/first", b"v").mod_revision
    for i in range(2500):
        store.create(f"/backlog/{i}", b"v")
    watch = store.watch("/backlog/", start)
    seen = []
    for _ in range(3):
        seen += watch.next(timeout=0)
    assert len(seen) == 2501
    assert watch.next(timeout=0) == []
