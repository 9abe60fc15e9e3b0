"""Store throughput and watch latency on the SQLite backend.

    .venv/bin/python bench/store.py [--writes 2000] [--processes 4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time

from tortie.store import open_store


def _writer(url: str, worker: int, count: int) -> None:
    with open_store(url) as store:
        for i in range(count):
            store.create(f"/bench/{worker}/{i}", b"x" * 512)


def sequential(url: str, count: int) -> float:
    with open_store(url) as store:
        start = time.perf_counter()
        for i in range(count):
            store.create(f"/seq/{i}", b"x" * 512)
        return count / (time.perf_counter() - start)


def concurrent(url: str, processes: int, count: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w, count)) for w in range(processes)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return processes * count / (time.perf_counter() - start)


def _timed_writer(url: str, count: int) -> None:
    with open_store(url) as store:
        for i in range(count):
            store.create(f"/lat/{i}", repr(time.time()).encode())
            time.sleep(0.01)


def watch_latency(url: str, count: int) -> list[float]:
    with open_store(url) as store, store.watch("/lat/", store.revision() + 1) as watch:
        proc = multiprocessing.get_context("spawn").Process(target=_timed_writer, args=(url, count))
        proc.start()
        delays: list[float] = []
        while len(delays) < count:
            for event in watch.next(timeout=5):
                delays.append(time.time() - float(event.kv.value))
        proc.join()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/bench.db"
        print(f"sequential writes:        {sequential(url, args.writes):,.0f} /s (one process)")
        rate = concurrent(url, args.processes, args.writes // args.processes)
        print(f"concurrent writes:        {rate:,.0f} /s ({args.processes} processes, one file)")
        delays = sorted(watch_latency(url, 200))
        p50, p99 = statistics.median(delays), delays[int(len(delays) * 0.99) - 1]
        print(f"watch latency (another process): p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
