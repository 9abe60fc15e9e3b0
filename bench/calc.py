"""Policy calculation at cluster scale: full calculation for one node, one change, one explain.

    .venv/bin/python bench/calc.py [--endpoints 10000] [--nodes 100] [--policies 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from tortie.calc import Calculator
from tortie.config import settings_for
from tortie.model import explain, plan_for

API = "projectcalico.org/v3"
APPS = [f"app{i}" for i in range(50)]
TIERS = ["security", "platform", "default"]


def cluster(endpoints: int, nodes: int, policies: int, rng: random.Random) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"apiVersion": API, "kind": "Tier", "metadata": {"name": "security"}, "spec": {"order": 100}},
        {"apiVersion": API, "kind": "Tier", "metadata": {"name": "platform"}, "spec": {"order": 200}},
    ]
    namespaces = [f"ns{i}" for i in range(20)]
    for ns in namespaces:
        docs.append({"apiVersion": API, "kind": "Profile",
                     "metadata": {"name": f"kns.{ns}", "labels": {"env": rng.choice(["prod", "dev"])}},
                     "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}})
    for i in range(endpoints):
        ns = namespaces[i % len(namespaces)]
        node = f"node{i % nodes}"
        # Named as the client names a workload endpoint: <node>-<orchestrator>-<pod>-<endpoint>.
        docs.append({"apiVersion": API, "kind": "WorkloadEndpoint",
                     "metadata": {"name": f"{node}-k8s-wep{i}-eth0", "namespace": ns, "labels": {
                         "app": rng.choice(APPS), "tier": rng.choice(["web", "api", "db"]),
                         "version": str(rng.randint(1, 5))}},
                     "spec": {"node": node, "orchestrator": "k8s", "pod": f"wep{i}", "endpoint": "eth0",
                              "interfaceName": f"cali{i:011d}",
                              "ipNetworks": [f"198.18.{i // 256}.{i % 256}/32"], "profiles": [f"kns.{ns}"],
                              "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}})
    for i in range(policies):
        tier = TIERS[i % 3]
        app, other = rng.choice(APPS), rng.choice(APPS)
        rules = [
            {"action": "Allow", "protocol": "TCP", "source": {"selector": f'app == "{other}"'},
             "destination": {"ports": [80, "http"]}},
            {"action": "Allow", "protocol": "TCP", "source": {"namespaceSelector": 'env == "prod"',
                                                             "selector": 'tier in {"web", "api"}'}},
            {"action": "Deny", "protocol": "UDP", "source": {"nets": [f"203.0.{i % 256}.0/24"]}},
            {"action": "Pass" if tier != "default" else "Allow", "source": {"notSelector": 'version == "1"'}},
        ]
        name = f"pol{i}" if tier == "default" else f"{tier}.pol{i}"
        docs.append({"apiVersion": API, "kind": "GlobalNetworkPolicy" if i % 2 else "NetworkPolicy",
                     "metadata": {"name": name, **({} if i % 2 else {"namespace": namespaces[i % 20]})},
                     "spec": {"tier": tier, "order": rng.randint(1, 100), "selector": f'app == "{app}"',
                              "types": ["Ingress", "Egress"], "ingress": rules,
                              "egress": [{"action": "Allow", "destination": {"selector": f'app == "{other}"'}}]}})
    return docs


def timed(fn: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=10000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--policies", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(1)
    docs = cluster(args.endpoints, args.nodes, args.policies, rng)
    # Stored documents are what calc reads: validate them the way the store holds them.
    from tortie.resources import load_resource
    docs = [load_resource(d).output() for d in docs]
    print(f"cluster: {args.endpoints:,} endpoints on {args.nodes} nodes, {args.policies:,} policies in 3 tiers")

    start = time.perf_counter()
    calc = Calculator("node7")
    calc.load(docs)
    loaded = time.perf_counter()
    view = calc.view()
    full = time.perf_counter() - start
    print(f"full calculation for one node: {full:.3f} s (load {loaded - start:.3f} s, "
          f"view {full - (loaded - start):.3f} s)"
          f" - {len(view.endpoints)} local endpoints, {len(view.policies)} policies, {len(view.ipsets)} IP sets"
          f"  (target < 1 s)")

    weps = [d for d in docs if d["kind"] == "WorkloadEndpoint"]
    pols = [d for d in docs if d["kind"].endswith("NetworkPolicy")]

    def relabel() -> None:
        doc = rng.choice(weps)
        doc["metadata"]["labels"] = {**doc["metadata"]["labels"], "app": rng.choice(APPS)}
        calc.update(doc)

    def repolicy() -> None:
        doc = rng.choice(pols)
        doc["spec"] = {**doc["spec"], "selector": f'app == "{rng.choice(APPS)}"', "order": rng.randint(1, 100)}
        calc.update(doc)

    for name, fn in (("endpoint label change", relabel), ("policy change", repolicy)):
        times = sorted(timed(fn, 300))
        print(f"{name}: median {statistics.median(times) * 1e3:.2f} ms, p99 {times[int(len(times) * .99)] * 1e3:.2f} ms"
              f"  (target < 5 ms)")

    view = calc.view()
    start = time.perf_counter()
    plan = plan_for(view, settings_for("node7", {"prometheusReporterEnabled": True}))
    print(f"plan for one node: {(time.perf_counter() - start) * 1e3:.1f} ms")
    local = [ep for ep in view.endpoints.values()]
    pairs = [(rng.choice(local), rng.choice(weps)) for _ in range(500)]

    def one_explain() -> None:
        dst, src = pairs[rng.randrange(len(pairs))]
        explain(plan, src["spec"]["ipNetworks"][0].split("/")[0],
                str(dst.entity.addresses[0].network_address), 6, 40000, 8080)

    times = sorted(timed(one_explain, 1000))
    print(f"explain one packet: median {statistics.median(times) * 1e3:.3f} ms, "
          f"p99 {times[int(len(times) * .99)] * 1e3:.3f} ms  (target < 1 ms)")


if __name__ == "__main__":
    main()
