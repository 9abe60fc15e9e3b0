"""From ``ip addr add`` to the kernel enforcing the expectedIPs host endpoint that expects it.

    .venv/bin/python bench/interfaces.py [--rounds 10]

A real agent runs in a lab node. Each round adds the address host endpoint ``by-ip``
expects to the node's eth0 and times until the kernel holds by-ip's chain for eth0
(``cali-fh-eth0``), then removes it and times until the chain is gone. Printed against the
periodic refresh that brought an address in before the agent followed netlink events (up to
``iptablesRefreshInterval``, 90 s by default) and against a store change with the same
effect (a host endpoint naming eth0), measured in the same run.
Runs as root; everything happens in namespaces it creates and deletes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tortie.agent.daemon import WATCH_POLL
from tortie.config import settings_for
from tortie.dataplane import Runner
from tortie.datastore import ResourceClient
from tortie.lab.network import NodeNetwork, ip_batch
from tortie.resources import HostEndpoint, load_resource
from tortie.store import open_store

TORTIE = str(Path(sys.executable).with_name("tortie"))
HOST, OUTSIDE, ADDED = "198.18.52.1", "198.18.53.1", "198.18.52.7"
CHAIN = ":cali-fh-eth0 "
POLL = 0.002  # seconds between two reads of the kernel's rules


def _doc(kind: str, name: str, spec: dict[str, Any], **meta: Any) -> Any:
    return load_resource({"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": {"name": name, **meta},
                          "spec": spec})


def timed(change: Callable[[], object], runner: Runner, present: bool, timeout: float = 120.0) -> float:
    """Seconds from ``change`` to the kernel holding (or no longer holding) by-ip's chain."""
    started = time.perf_counter()
    change()
    while (CHAIN in runner.run(["iptables-nft-save", "-t", "filter"])) != present:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the kernel did not follow within {timeout:g} s")
        time.sleep(POLL)
    return time.perf_counter() - started


def line(what: str, seconds: list[float]) -> str:
    return (f"{what}: median {statistics.median(seconds) * 1e3:.0f} ms, max {max(seconds) * 1e3:.0f} ms "
            f"({len(seconds)} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    node = "n1"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/store.db"
        with open_store(url) as store:
            client = ResourceClient(store)
            client.ensure_defaults()
            client.create(_doc("HostEndpoint", "by-ip", {"node": node, "expectedIPs": [ADDED]},
                               labels={"hep": "by-ip"}))
            client.create(_doc("GlobalNetworkPolicy", "udp-7001", {
                "selector": "has(hep)", "types": ["Ingress"],
                "ingress": [{"action": "Allow", "protocol": "UDP", "destination": {"ports": [7001]}}]}))
        lab = NodeNetwork(f"tortie-bi{uuid.uuid4().hex[:5]}", [HOST], [OUTSIDE], [])
        agent: subprocess.Popen[bytes] | None = None
        lab.up()
        try:
            agent = subprocess.Popen(["ip", "netns", "exec", lab.node, TORTIE, "--datastore", url, "agent", "--node",
                                      node, "-c", "/nonexistent"], stdout=subprocess.DEVNULL,
                                     stderr=open(Path(tmp) / "agent.log", "wb"))
            runner = Runner(lab.node)
            started = time.monotonic()
            while ":cali-FORWARD " not in runner.run(["iptables-nft-save", "-t", "filter"]):  # programmed
                if agent.poll() is not None or time.monotonic() - started > 60:
                    raise SystemExit("the agent did not start:\n" + (Path(tmp) / "agent.log").read_text()[-2000:])
                time.sleep(0.05)
            added, removed, stored = [], [], []
            for _ in range(args.rounds):
                added.append(timed(lambda: ip_batch([f"addr add {ADDED}/32 dev eth0"], lab.node), runner, True))
                removed.append(timed(lambda: ip_batch([f"addr del {ADDED}/32 dev eth0"], lab.node), runner, False))
            with open_store(url) as store:
                client = ResourceClient(store)
                named = _doc("HostEndpoint", "by-name", {"node": node, "interfaceName": "eth0"},
                             labels={"hep": "by-name"})
                for _ in range(args.rounds):
                    stored.append(timed(lambda: client.create(named), runner, True))
                    timed(lambda: client.delete(HostEndpoint, "by-name"), runner, False)
            refresh = settings_for(node).iptables_refresh_interval
            print(line("ip addr add to the kernel enforcing its expectedIPs host endpoint", added))
            print(line("ip addr del to the kernel no longer enforcing it", removed))
            print(line("baseline, same run: a store change with the same effect (a host endpoint naming eth0)",
                       stored))
            print(f"address / store change: {statistics.median(added) / statistics.median(stored):.2f} (target: "
                  f"within 1 s; the agent takes the interfaces at each turn of its loop, at least every "
                  f"{WATCH_POLL:g} s, while a store event wakes it at once)")
            print(f"before netlink an address waited for the periodic refresh: up to {refresh:g} s "
                  f"(iptablesRefreshInterval), {refresh / 2:g} s on average: worst case / median now "
                  f"{refresh / statistics.median(added):,.0f}x")
        finally:
            if agent is not None:
                agent.terminate()
                agent.wait()
            lab.down()


if __name__ == "__main__":
    main()
