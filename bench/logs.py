"""Kernel LOG line parsing: lines/s of tortie's parser against a naive one (a compiled regular
expression per field, as a typical script has), on the same lines in the same run; then the
peak memory of `tortie logs parse -o json -` over 1 and 10 million lines fed through a pipe.
tortie converts a record's fields when the first is read: `parse` is what a reader pays
that looks at few records' fields, `+ fields` one that reads every field of every record
(as the naive parser always converts them all).

    .venv/bin/python bench/logs.py [--seconds 1.0] [--memory 1000000,10000000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from tortie.logs import parse_line

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PREFIXES = ("calico-drop: ", "calico-drop LOGandDROP: ", "calico-packet: ", "gnp.allow-ping: ")


def _v4(rng: random.Random) -> str:
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _v6(rng: random.Random) -> str:
    return "2001:0db8:0000:0000:0000:0000:" + ":".join(f"{rng.randrange(65536):04x}" for _ in range(2))


def _ip4(rng: random.Random, proto: str) -> str:
    return (f"SRC={_v4(rng)} DST={_v4(rng)} LEN={rng.randrange(40, 1500)} TOS=0x00 PREC=0x00 "
            f"TTL={rng.randrange(1, 65)} ID={rng.randrange(65536)} DF PROTO={proto}")


def _tcp(rng: random.Random) -> str:
    return (f"SPT={rng.randrange(1024, 65536)} DPT={rng.choice((22, 80, 443, 5432, 8080))} "
            f"WINDOW={rng.randrange(65536)} RES=0x00 SYN URGP=0")


def _link(rng: random.Random) -> str:
    return f"IN=cali{rng.randrange(16**11):011x} OUT=eth0 MAC=ee:ee:ee:ee:ee:ee:a2:4b:1c:05:9e:77:08:00"


def _uptime(rng: random.Random) -> str:
    return f"[{rng.randrange(10**6):>6}.{rng.randrange(10**6):06d}] "


def _syslog(rng: random.Random) -> str:
    return (f"{rng.choice(MONTHS)} {rng.randrange(1, 29):>2} {rng.randrange(24):02d}:{rng.randrange(60):02d}:"
            f"{rng.randrange(60):02d} node-{rng.randrange(9)} kernel: {_uptime(rng)}")


# The mix: (share, name, line maker). Shapes the fast path takes, and ones it leaves to the token parser.
SHAPES: list[tuple[int, str, Callable[[random.Random], str]]] = [
    (40, "syslog TCP", lambda r: f"{_syslog(r)}{r.choice(PREFIXES)}{_link(r)} {_ip4(r, 'TCP')} {_tcp(r)} "
                                 "MARK=0x40000 "),
    (15, "syslog UDP", lambda r: f"{_syslog(r)}{r.choice(PREFIXES)}{_link(r)} {_ip4(r, 'UDP')} "
                                 f"SPT={r.randrange(1024, 65536)} DPT=53 LEN={r.randrange(8, 512)} "),
    (10, "RFC 3339 TCP", lambda r: f"2026-03-03T09:15:{r.randrange(60):02d}.{r.randrange(10**6):06d}+01:00 node-b "
                                   f"kernel: calico-drop: {_link(r)} {_ip4(r, 'TCP')} {_tcp(r)}"),
    (10, "IPv6 TCP", lambda r: f"{_syslog(r)}calico-drop: {_link(r)} SRC={_v6(r)} DST={_v6(r)} "
                               f"LEN={r.randrange(60, 1500)} TC=0 HOPLIMIT=63 FLOWLBL={r.randrange(2**20)} "
                               f"PROTO=TCP {_tcp(r)} MARK=0x40000 "),
    (5, "ICMP echo", lambda r: f"{_syslog(r)}gnp.allow-ping: IN= OUT=eth1 {_ip4(r, 'ICMP')} TYPE=8 CODE=0 "
                               f"ID={r.randrange(65536)} SEQ={r.randrange(100)}"),
    (5, "ICMP error [ ]", lambda r: f"{_uptime(r)}calico-packet: {_link(r)} "
                                    f"{_ip4(r, 'ICMP')} TYPE=3 CODE=3 [{_ip4(r, 'UDP')} "
                                    f"SPT={r.randrange(1024, 65536)} DPT=33434 LEN=40 ] "),
    (5, "dmesg", lambda r: f"<5>{_uptime(r)}calico-drop: {_link(r)} "
                           f"{_ip4(r, 'TCP')} {_tcp(r)} "),
    (5, "journald JSON", lambda r: json.dumps({
        "__REALTIME_TIMESTAMP": str(1772529261804233 + r.randrange(10**9)), "_HOSTNAME": "node-a", "PRIORITY": "5",
        "MESSAGE": f"calico-drop: {_link(r)} {_ip4(r, 'TCP')} {_tcp(r)}"})),
    (5, "/dev/kmsg", lambda r: f"5,{r.randrange(10**6)},{r.randrange(10**10)},-;calico-drop: {_link(r)} "
                               f"{_ip4(r, 'UDP')} SPT={r.randrange(1024, 65536)} DPT=123 LEN=56 "),
]


def generate(n: int, seed: int = 1, shapes: list[tuple[int, str, Callable[[random.Random], str]]] = SHAPES
             ) -> Iterator[str]:
    """n lines of the mix, made as they are asked for."""
    rng = random.Random(seed)
    makers = [maker for share, _, maker in shapes for _ in range(share)]
    for _ in range(n):
        yield rng.choice(makers)(rng)


# --- the naive parser: one compiled regular expression per field ------------------------
_N_HEADER = re.compile(r"^(\w{3}\s+\d+ [\d:]+|\d{4}-\d\d-\d\dT\S+) (\S+) ")
_N_PREFIX = re.compile(r"(?:kernel: )?(?:\[\s*[\d.]+\] )?(.*?)IN=")
_N_TEXT = {name: re.compile(rf"{key}=(\S*)") for name, key in (
    ("in", "IN"), ("out", "OUT"), ("mac", "MAC"), ("src", "SRC"), ("dst", "DST"), ("proto", "PROTO"))}
_N_NUMBER = {name: re.compile(rf"{key}=(\d+)") for name, key in (
    ("len", "LEN"), ("ttl", "TTL"), ("id", "ID"), ("spt", "SPT"), ("dpt", "DPT"), ("window", "WINDOW"),
    ("icmpType", "TYPE"), ("icmpCode", "CODE"))}
_N_MARK = re.compile(r"MARK=0x([0-9a-f]+)")


def naive(line: str) -> dict[str, Any] | None:
    if "IN=" not in line:
        return None
    record: dict[str, Any] = {}
    m = _N_HEADER.search(line)
    record["time"], record["host"] = (m.group(1), m.group(2)) if m else (None, None)
    m = _N_PREFIX.search(line)
    record["prefix"] = m.group(1).strip().rstrip(":") if m else None
    for name, pattern in _N_TEXT.items():
        m = pattern.search(line)
        record[name] = m.group(1) if m else None
    for name, pattern in _N_NUMBER.items():
        m = pattern.search(line)
        record[name] = int(m.group(1)) if m else None
    m = _N_MARK.search(line)
    record["mark"] = int(m.group(1), 16) if m else None
    return record


def parse_all(line: str) -> object:
    """tortie's record with every field converted."""
    record = parse_line(line)
    return None if record is None else record.printed()


def rate(fn: Callable[[str], object], lines: list[str], seconds: float) -> float:
    """Lines/s, the best of several passes over `lines` (CPU time: other work on the machine counts less)."""
    best = 0.0
    deadline = time.perf_counter() + seconds
    while True:
        start = time.process_time()
        for line in lines:
            fn(line)
        best = max(best, len(lines) / max(time.process_time() - start, 1e-9))
        if time.perf_counter() >= deadline:
            return best


# Peak memory as the process's own high-water mark (ru_maxrss would count the forked parent).
PEAK = """
import re, sys
from tortie.ctl.main import main
code = main(sys.argv[1:])
print(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read())[1], file=sys.stderr)
sys.exit(code)
"""


def memory_run(n: int) -> tuple[float, int, str]:
    """Feed n generated lines through a pipe to `tortie logs parse -o json -`: (lines/s, peak KiB, summary)."""
    proc = subprocess.Popen([sys.executable, "-c", PEAK, "logs", "parse", "-o", "json", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    start = time.perf_counter()
    batch: list[str] = []
    for line in generate(n, seed=2):
        batch.append(line)
        if len(batch) == 2000:
            proc.stdin.write(("\n".join(batch) + "\n").encode())
            batch.clear()
    proc.stdin.write(("\n".join(batch) + "\n").encode() if batch else b"")
    proc.stdin.close()
    err = proc.stderr.read().decode()
    proc.wait()
    elapsed = time.perf_counter() - start
    summary, peak = err.splitlines()[-2:]
    return n / elapsed, int(peak), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--memory", default="1000000,10000000", help="line counts for the memory runs ('' for none)")
    args = parser.parse_args()

    print(f"{'lines':<16} {'parse/s':>10} {'naive/s':>10} {'ratio':>7} {'+ fields/s':>11} {'ratio':>7}")
    mix = list(generate(20000))
    assert all(parse_line(line) is not None for line in mix)
    for share, name, maker in [*SHAPES, (0, "mix", lambda r: "")]:
        lines = mix if name == "mix" else list(generate(5000, shapes=[(share, name, maker)]))
        seconds = args.seconds * (2 if name == "mix" else 1)
        ours, theirs, whole = (rate(parse_line, lines, seconds), rate(naive, lines, seconds),
                               rate(parse_all, lines, seconds))
        print(f"{name:<16} {ours:>10,.0f} {theirs:>10,.0f} {ours / theirs:>6.2f}x {whole:>11,.0f} "
              f"{whole / theirs:>6.2f}x")

    for n in (int(x) for x in args.memory.split(",") if x):
        per_second, peak, summary = memory_run(n)
        print(f"tortie logs parse -o json, {n:,} lines through a pipe: {per_second:,.0f} lines/s, "
              f"peak RSS {peak / 1024:.1f} MiB ({summary})")


if __name__ == "__main__":
    main()
