"""Flow logs: new connections per second through a node with flow logs off and on, in one run,
and what the agent (with its conntrack reader) spends per 10,000 new connections a second.

    .venv/bin/python bench/flows.py [--seconds 5] [--clients 2]

A real agent in a lab node allows TCP from workload a to workload b. Clients in a open and
close connections to a server in b as fast as they can, first with flowLogsFileEnabled off,
then on (aggregation and flush as configured by default, policies and labels included).
Prints both rates, their ratio (target at least 0.9) and the agent's CPU (with its conntrack
dumps). Runs as root;
everything happens in namespaces it creates and deletes.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tortie.lab.network import NodeNetwork
from tortie.datastore import ResourceClient
from tortie.resources import load_resource
from tortie.store import open_store

from labs import seed, two_workloads

TORTIE = str(Path(sys.executable).with_name("tortie"))
A, B, PORT = "198.18.52.1", "198.18.52.2", 7000
WORLD = [
    {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
     "metadata": {"name": f"n1-k8s-{name}-eth0", "namespace": "bench", "labels": {"app": name}},
     "spec": {"node": "n1", "orchestrator": "k8s", "pod": name, "endpoint": "eth0", "interfaceName": f"cali{name}",
              "ipNetworks": [f"{address}/32"]}}
    for name, address in (("a", A), ("b", B))] + [
    {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "allow-tcp"},
     "spec": {"selector": "all()", "ingress": [{"action": "Allow", "protocol": "TCP"}],
              "egress": [{"action": "Allow", "protocol": "TCP"}]}}]
SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(4096); print("READY", flush=True)
while True:
    c, _ = s.accept(); c.close()
"""
CLIENT = """
import socket, sys, time
end, n = time.monotonic() + float(sys.argv[3]), 0
while time.monotonic() < end:
    c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00")
    c.connect((sys.argv[1], int(sys.argv[2]))); c.close(); n += 1
print(n)
"""


def in_ns(netns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", netns, *args]


def cpu_seconds(pid: int) -> float:
    """The CPU time of the agent and of the children it waited for (its conntrack dumps)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / 100  # utime, stime, cutime, cstime in ticks of 1/100 s


def status(netns: str) -> dict[str, object]:
    code = "import urllib.request; print(urllib.request.urlopen('http://localhost:9099/status').read().decode())"
    out = subprocess.run(in_ns(netns, sys.executable, "-c", code), capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def configure(url: str, netns: str, spec: dict[str, object]) -> None:
    with open_store(url) as store:
        doc = ResourceClient(store).apply(load_resource({
            "apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration", "metadata": {"name": "node.n1"},
            "spec": {"healthEnabled": True, **spec}}))
    revision = int(doc["metadata"]["resourceVersion"])
    deadline = time.monotonic() + 60
    while not (status(netns).get("ready") and int(str(status(netns).get("appliedRevision", 0))) >= revision):
        if time.monotonic() > deadline:
            raise RuntimeError("the agent did not apply the configuration")
        time.sleep(0.2)


def rate(lab: NodeNetwork, clients: int, seconds: float) -> float:
    runs = [subprocess.Popen(in_ns(lab.workloads[0].netns, sys.executable, "-c", CLIENT, B, str(PORT), str(seconds)),
                             stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    return sum(int(run.communicate(timeout=seconds + 60)[0]) for run in runs) / seconds


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that the namespaces are deleted on the way out
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    lab = two_workloads("f", A, B)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/bench.db"
        seed(url, WORLD)
        lab.up()
        server = subprocess.Popen(in_ns(lab.workloads[1].netns, sys.executable, "-c", SERVER, B, str(PORT)),
                                  stdout=subprocess.PIPE, text=True)
        agent = subprocess.Popen(in_ns(lab.node, TORTIE, "--datastore", url, "agent", "--node", "n1", "-c",
                                       "/nonexistent"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "READY"
            results = {}
            for name, spec in (("off", {}), ("on", {"flowLogsFileEnabled": True, "flowLogsFileDirectory": tmp,
                                                     "flowLogsFileIncludePolicies": True,
                                                     "flowLogsFileIncludeLabels": True})):
                configure(url, lab.node, spec)
                cpu0, t0 = cpu_seconds(agent.pid), time.monotonic()
                achieved = rate(lab, args.clients, args.seconds)
                cpu = cpu_seconds(agent.pid) - cpu0
                elapsed = time.monotonic() - t0
                results[name] = achieved
                per_10k = cpu / elapsed / (achieved / 10_000) if achieved else 0.0
                print(f"flow logs {name:>3}: {achieved:>8,.0f} new connections/s, agent CPU {cpu / elapsed:>5.0%}, "
                      f"{per_10k:.3f} CPU s/s per 10,000 connections/s")
            print(f"ratio on/off: {results['on'] / results['off']:.2f} (target >= 0.9)")
        finally:
            for proc in (agent, server):
                proc.terminate()
                proc.wait()
            lab.down()
        written = sum(1 for path in Path(tmp).glob("flows.log*") for _ in path.open())  # the agent flushed on exit
        print(f"flow-log records written: {written:,}")


if __name__ == "__main__":
    main()
