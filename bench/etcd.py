"""Many nodes on etcd: propagation to N agents, write rates, and one agent's resync.

    .venv/bin/python bench/etcd.py [--nodes 3,10] [--changes 5] [--endpoints 10000]

1. A lab of N nodes (real agents in namespaces, a private etcd): the time from a policy write
   to the last of the N agents having it in its kernel (each agent's /status appliedRevision,
   watched from inside its namespace), median and max of several writes.
2. Writes/s into etcd through the store API (one process, sequential) and through the CLI
   (`tortie apply` of 1,000 policies in one file), with SQLite measured the same way as baseline.
3. One agent's resync: start to its first complete dataplane at 10,000 cluster endpoints and
   1,000 policies, from etcd and, as baseline, from SQLite.
Runs as root; everything happens in namespaces and directories it creates and deletes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from calc import cluster  # noqa: E402

from tortie.datastore import ResourceClient  # noqa: E402
from tortie.lab.etcd import EtcdServer  # noqa: E402
from tortie.lab.network import NodeNetwork  # noqa: E402
from tortie.resources import load_resource  # noqa: E402
from tortie.store import open_store  # noqa: E402

TORTIE = str(Path(sys.executable).with_name("tortie"))
WATCHER = """
import json, sys, time, urllib.request
last = -1
while True:
    try:
        revision = json.load(urllib.request.urlopen("http://localhost:9099/status", timeout=2))["appliedRevision"]
    except OSError:
        revision = -1
    if revision != last:
        print(time.monotonic(), revision, flush=True)
        last = revision
    time.sleep(0.002)
"""


def policy(name: str, port: int) -> dict:
    return {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": name},
            "spec": {"selector": "all()", "types": ["Ingress"],
                     "ingress": [{"action": "Deny", "protocol": "TCP", "destination": {"ports": [port]}}]}}


class Watchers:
    """One status watcher per lab node, inside its namespace; when each reached a revision."""

    def __init__(self, namespaces: dict[str, str]) -> None:
        self.seen: dict[str, list[tuple[float, int]]] = {node: [] for node in namespaces}
        self.procs = []
        for node, netns in namespaces.items():
            proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", WATCHER],
                                    stdout=subprocess.PIPE, text=True)
            self.procs.append(proc)
            threading.Thread(target=self._read, args=(node, proc), daemon=True).start()

    def _read(self, node: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            t, revision = line.split()
            self.seen[node].append((float(t), int(revision)))

    def reached(self, revision: int, timeout: float = 30) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            times = {node: next((t for t, r in list(seen) if r >= revision), None) for node, seen in self.seen.items()}
            if all(t is not None for t in times.values()):
                return times  # type: ignore[return-value]
            time.sleep(0.01)
        raise RuntimeError(f"not every agent reached revision {revision}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def propagation(nodes: int, changes: int, tmp: Path) -> None:
    env = {**os.environ, "TORTIE_LAB_DIR": str(tmp / f"lab{nodes}")}
    spec = {"nodes": [{"name": f"n{i}"} for i in range(nodes)],
            "workloads": [{"name": f"w{i}", "namespace": "bench", "node": f"n{i}", "ipv4": f"198.18.{60 + i}.1"}
                          for i in range(nodes)]}
    lab_file = tmp / f"lab{nodes}.yaml"
    lab_file.write_text(json.dumps(spec))
    up = subprocess.run([TORTIE, "lab", "up", "-f", str(lab_file), "--etcd"], env=env, capture_output=True,
                        text=True, timeout=600)
    if up.returncode != 0:
        raise RuntimeError(up.stdout + up.stderr)
    try:
        url = subprocess.run([TORTIE, "lab", "datastore"], env=env, capture_output=True, text=True).stdout.strip()
        state = json.loads((tmp / f"lab{nodes}" / "lab.json").read_text())
        watchers = Watchers({node: info["netns"] for node, info in state["nodes"].items()})
        try:
            delays = []
            with open_store(url) as store:
                client = ResourceClient(store)
                for i in range(changes):
                    time.sleep(0.5)
                    t0 = time.monotonic()
                    revision = int(client.apply(load_resource(policy("bench", 7000 + i)))["metadata"]
                                   ["resourceVersion"])
                    delays.append(max(watchers.reached(revision).values()) - t0)
            print(f"policy write to the last of {nodes} agents enforcing it: median "
                  f"{statistics.median(delays) * 1e3:.0f} ms, max {max(delays) * 1e3:.0f} ms ({changes} writes)")
        finally:
            watchers.stop()
    finally:
        subprocess.run([TORTIE, "lab", "down"], env=env, capture_output=True, timeout=120)


def write_rates(url: str, label: str, tmp: Path) -> tuple[float, float]:
    with open_store(url) as store:
        t0 = time.perf_counter()
        for i in range(2000):
            store.create(f"/bench/{label}/{i}", b"x" * 600)
        api = 2000 / (time.perf_counter() - t0)
    path = tmp / "policies.yaml"
    path.write_text("\n---\n".join(json.dumps(policy(f"cli-{i}", 1000 + i)) for i in range(1000)))
    t0 = time.perf_counter()
    subprocess.run([TORTIE, "--datastore", url, "apply", "-f", str(path)], check=True, capture_output=True)
    cli = 1000 / (time.perf_counter() - t0)
    return api, cli


def resync(url: str, docs: list[dict], node: str) -> float:
    with open_store(url) as store:
        client = ResourceClient(store)
        client.ensure_defaults()
        for d in docs:
            client.create(load_resource(d))
    lab = NodeNetwork(f"tortie-e{uuid.uuid4().hex[:6]}")
    lab.up()
    relay = None
    try:
        agent_url = url
        if url.startswith("etcd://"):  # the agent's namespace reaches etcd through a Unix-socket relay
            sock = f"{tempfile.mkdtemp()}/etcd.sock"
            relay = subprocess.Popen([sys.executable, "-m", "tortie.lab.relay", sock, url.split("://")[1]])
            while not os.path.exists(sock):
                time.sleep(0.01)
            agent_url = f"etcd://unix:{sock}"
        watcher = Watchers({node: lab.node})
        t0 = time.monotonic()
        agent = subprocess.Popen(["ip", "netns", "exec", lab.node, TORTIE, "--datastore", agent_url, "agent",
                                  "--node", node, "-c", "/nonexistent"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env={**os.environ, "FELIX_HEALTHENABLED": "true"})
        try:
            return watcher.reached(1, timeout=120)[node] - t0
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait()
            watcher.stop()
    finally:
        if relay is not None:
            relay.kill()
            relay.wait()
        lab.down()


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that everything is removed on the way out
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="3,10")
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--endpoints", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for n in (int(x) for x in args.nodes.split(",")):
            propagation(n, args.changes, tmp)
        etcd = EtcdServer().start()
        try:
            api, cli = write_rates(etcd.url, "etcd", tmp)
            api_sqlite, cli_sqlite = write_rates(f"sqlite://{tmp}/rates.db", "sqlite", tmp)
            print(f"writes/s through the store API: etcd {api:,.0f}, SQLite {api_sqlite:,.0f} "
                  f"(ratio {api / api_sqlite:.2f})")
            print(f"writes/s through the CLI (apply of 1,000 policies): etcd {cli:,.0f}, SQLite {cli_sqlite:,.0f} "
                  f"(ratio {cli / cli_sqlite:.2f})")
        finally:
            etcd.stop()
        docs = [load_resource(d).output() for d in cluster(args.endpoints, 100, 1000, random.Random(3))]
        etcd = EtcdServer().start()
        try:
            on_etcd = resync(etcd.url, docs, "node7")
        finally:
            etcd.stop()
        on_sqlite = resync(f"sqlite://{tmp}/resync.db", docs, "node7")
        print(f"one agent's resync at {args.endpoints:,} endpoints and 1,000 policies: etcd {on_etcd:.2f} s, "
              f"SQLite {on_sqlite:.2f} s (ratio {on_etcd / on_sqlite:.2f})")


if __name__ == "__main__":
    main()
