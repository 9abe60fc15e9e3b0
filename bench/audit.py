"""The audit report over a million flow log records: seconds and records/s of `tortie audit
report -o json FILE` (a fresh process: start-up included), its peak memory, and against the
same run's baseline: reading the file's lines with json.loads alone, as a script would.
On a terminal the report's progress bar shows on stderr.

    .venv/bin/python bench/audit.py [--records 1000000] [--keep FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time

POLICIES = [f"{tier}|{ns}/{tier}.{name}" for tier in ("default", "security", "platform")
            for ns in ("shop", "data", "web", "ops") for name in ("allow-web", "db-access", "egress", "dns")]


def record(rng: random.Random, start: int) -> str:
    """One Calico Enterprise flow log record: most allowed, some denied and let through
    (audit mode), some with a staged policy that would deny or allow them."""
    src, dst = rng.randrange(2000), rng.randrange(2000)
    enforced = f"0|{rng.choice(POLICIES)}|{rng.choice(('allow', 'allow', 'allow', 'deny'))}|{rng.randrange(-1, 4)}"
    pending = enforced if rng.random() < 0.8 else f"0|{rng.choice(POLICIES)}|{rng.choice(('allow', 'deny'))}|0"
    return json.dumps({
        "start_time": start, "end_time": start + 10, "host": f"node-{src % 20}", "action": "allow",
        "reporter": rng.choice(("src", "dst")),
        "source_ip": f"10.{src // 250}.{src % 250}.1", "source_name": f"pod-{src}", "source_name_aggr": "pod-*",
        "source_namespace": f"ns-{src % 40}", "source_type": "wep", "source_port": rng.randrange(1024, 65536),
        "source_labels": {"labels": [f"app=app-{src % 100}", f"team=t{src % 7}"]},
        "dest_ip": f"10.{dst // 250}.{dst % 250}.2", "dest_name": f"pod-{dst}", "dest_name_aggr": "pod-*",
        "dest_namespace": f"ns-{dst % 40}", "dest_type": "wep", "dest_port": rng.choice((53, 80, 443, 5432, 8080)),
        "dest_labels": {"labels": [f"app=app-{dst % 100}"]}, "dest_service_name": "-",
        "proto": rng.choice(("tcp", "tcp", "udp")), "packets_in": rng.randrange(1, 50), "packets_out": 0,
        "bytes_in": 1000, "bytes_out": 0, "num_flows": 1, "num_flows_started": 1, "num_flows_completed": 0,
        "policies": {"enforced_policies": [enforced], "pending_policies": [pending]}}, separators=(",", ":"))


PEAK = """
import re, sys
from tortie.ctl.main import main
code = main(sys.argv[1:])
print(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read())[1], file=sys.stderr)
sys.exit(code)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", help="write the records here and keep them")
    args = parser.parse_args()
    rng = random.Random(1)
    path = args.keep or tempfile.mkstemp(suffix=".log")[1]
    try:
        with open(path, "w") as f:
            base = 1772529200
            for i in range(args.records):
                f.write(record(rng, base + i * 86400 // args.records) + "\n")
        size = os.path.getsize(path)
        start = time.perf_counter()
        with open(path, "rb") as f:
            for line in f:
                json.loads(line)
        baseline = time.perf_counter() - start
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PEAK, "audit", "report", "-o", "json", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if proc.returncode != 0:
            sys.exit(proc.stderr)
        report = json.loads(proc.stdout)
        peak = int(proc.stderr.splitlines()[-1])
        summary = next(line for line in proc.stderr.splitlines() if line.startswith("audit report:"))
        print(f"{args.records:,} flow log records ({size / 2**20:.0f} MiB): tortie audit report -o json "
              f"{elapsed:.2f} s ({cpu:.2f} s CPU; {args.records / elapsed:,.0f} records/s), peak RSS "
              f"{peak / 1024:.1f} MiB; json.loads of every line alone {baseline:.2f} s "
              f"({baseline / elapsed:.2f}x tortie's time)")
        print(f"would block: {report['wouldBlock']['flows']:,} flows, newly allowed: "
              f"{report['newlyAllowed']['flows']:,}; {re.sub(r'^audit report: ', '', summary)}")
    finally:
        if not args.keep:
            os.unlink(path)


if __name__ == "__main__":
    main()
