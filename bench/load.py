"""Load and validate policy documents from a file, exactly as ``tortie create -f`` does.

    .venv/bin/python bench/load.py [--count 10000]

Prints the time against PyYAML's bare C loader on the same text, measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

import yaml

from tortie.ctl.input import load_file
from tortie.ctl.write import prepare


def policies(count: int) -> str:
    rng = random.Random(7)
    apps = ["web", "api", "db", "cache", "queue", "auth", "search", "billing"]
    docs = []
    for i in range(count):
        app = rng.choice(apps)
        ingress = [
            {"action": "Allow", "protocol": "TCP",
             "source": {"selector": f"app == '{rng.choice(apps)}' && env in {{'prod', 'staging'}}"},
             "destination": {"ports": [rng.choice([80, 443, 5432, 6379]), "8000:8080"]}},
            {"action": "Allow", "protocol": "UDP", "source": {"nets": [f"198.18.{i % 256}.0/24"]},
             "destination": {"ports": [53]}},
            {"action": "Deny"},
        ]
        spec = {"order": rng.randint(1, 1000), "selector": f"app == '{app}' && tier == 't{i % 50}'",
                "ingress": ingress, "egress": [{"action": "Allow", "protocol": "TCP", "destination": {
                    "notNets": ["198.19.0.0/16"], "ports": [443]}}]}
        if i % 2:
            docs.append({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
                         "metadata": {"name": f"pol-{i}", "namespace": f"ns{i % 20}", "labels": {"app": app}},
                         "spec": spec})
        else:
            docs.append({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                         "metadata": {"name": f"gpol-{i}"}, "spec": {**spec, "applyOnForward": True}})
    return yaml.safe_dump_all(docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    args = parser.parse_args()
    text = policies(args.count)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        best = bare = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            list(yaml.load_all(text, Loader=yaml.CSafeLoader))
            bare = min(bare, time.perf_counter() - start)
            start = time.perf_counter()
            resources = load_file(f.name)
            errors = prepare(resources, None)
            best = min(best, time.perf_counter() - start)
            assert len(resources) == args.count and not errors, errors[:1]
            del resources  # outside the timed region: freeing 10,000 objects is not loading them
    print(f"documents: {args.count:,} ({len(text) / 1e6:.1f} MB of YAML), best of 3")
    print(f"load and validate: {best:.3f} s (target < 2 s), {args.count / best:,.0f} documents/s")
    print(f"baseline, PyYAML's C loader alone (no checks, no bounds): {bare:.3f} s; ratio {best / bare:.2f}")

if __name__ == "__main__":
    main()
