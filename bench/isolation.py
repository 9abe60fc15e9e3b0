"""What a policy the kernel refuses costs the agent: finding it, and every change after.

    .venv/bin/python bench/isolation.py [--endpoints 200] [--rounds 5]

Two agents (in-process, each programming its own node namespace) see the same store of
``--endpoints`` local workloads with one policy each; the second store also holds one more
policy whose 1,500 notPorts make a rule ``iptables-restore`` refuses. Prints for each: the
first sync (seconds, restores written, isolation tries: ``--test`` runs and trial writes),
whether the refused policy was found and left out, and the median time to apply a later
change to another policy, with the ratio of the second agent to the first, measured in the
same run.
Runs as root; everything happens in namespaces it creates and deletes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from typing import Any

from tortie.agent import Agent
from tortie.dataplane import Dataplane, Runner
from tortie.datastore import ResourceClient, resource_key
from tortie.resources import GlobalNetworkPolicy, load_resource
from tortie.store import Store, open_store

NODE = "n1"


def _doc(kind: str, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": {"name": name, **meta}, "spec": spec}


def _policy(i: int, port: int) -> Any:
    return load_resource(_doc("GlobalNetworkPolicy", f"p{i}", {
        "selector": f"app == 'a{i}'", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [port]}}]}))


def seed(store: Store, endpoints: int, refused: bool) -> None:
    client = ResourceClient(store)
    client.ensure_defaults()
    client.create(load_resource(_doc("Profile", "kns.x", {"ingress": [{"action": "Allow"}],
                                                          "egress": [{"action": "Allow"}]})))
    for i in range(endpoints):
        client.create(load_resource(_doc("WorkloadEndpoint", f"{NODE}-k8s-w{i}-eth0", {
            "node": NODE, "orchestrator": "k8s", "pod": f"w{i}", "endpoint": "eth0",
            "interfaceName": f"cali{i:011x}", "profiles": ["kns.x"],
            "ipNetworks": [f"198.18.{i // 250}.{i % 250 + 1}/32"]}, namespace="x", labels={"app": f"a{i}"})))
        client.create(_policy(i, 80 + i % 100))
    if refused:  # written around the API, as an operator's tool or a hostile writer could
        store.create(resource_key(GlobalNetworkPolicy, "refused", None), json.dumps(_doc(
            "GlobalNetworkPolicy", "refused", {"selector": "app == 'a7'", "types": ["Ingress"], "ingress": [
                {"action": "Allow", "protocol": "TCP", "destination": {"notPorts": list(range(1, 1501))}}]})).encode())


def run(endpoints: int, rounds: int, refused: bool) -> dict[str, Any]:
    """One agent from an empty namespace: its first sync, then ``rounds`` policy changes."""
    netns = f"tortie-bx{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite://{tmp}/store.db"
            with open_store(url) as store:
                seed(store, endpoints, refused)
            runner = Runner(netns)
            agent = Agent(NODE, url, config_file="/nonexistent", env={}, runner=runner)
            try:
                started = time.perf_counter()
                agent.step()
                first = time.perf_counter() - started
                counts = {what: sum(n for (kind, table, _), n in runner.stats.items() if kind == what)
                          for what in ("restore", "isolation_try")}
                left_out = [text for text in agent.status.excluded if "refused" in text]
                changes = []
                with open_store(url) as store:
                    client = ResourceClient(store)
                    for n in range(rounds):
                        client.replace(_policy(3, 1000 + n))
                        started = time.perf_counter()
                        revision = store.revision()
                        while agent.status.applied_revision < revision:
                            agent.step()
                        changes.append(time.perf_counter() - started)
                return {"first": first, **counts, "left_out": left_out, "change": statistics.median(changes)}
            finally:
                agent.close()
                Dataplane(runner).cleanup()
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    clean = run(args.endpoints, args.rounds, refused=False)
    bad = run(args.endpoints, args.rounds, refused=True)
    for name, result in (("baseline, same run: no refused policy", clean), ("one refused policy", bad)):
        print(f"{name}: first sync {result['first']:.2f} s ({result['restore']} restores, "
              f"{result['isolation_try']} isolation tries); later policy change median {result['change'] * 1e3:.0f} ms")
    print(f"left out: {'; '.join(bad['left_out']) or 'nothing (the refused policy was not found)'}")
    print(f"refused / baseline: first sync {bad['first'] / clean['first']:.2f}, "
          f"later change {bad['change'] / clean['change']:.2f}")


if __name__ == "__main__":
    main()
