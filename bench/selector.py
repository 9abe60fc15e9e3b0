"""Selector evaluation speed: compiled evaluator vs the naive tree walk, in the same run.

    .venv/bin/python bench/selector.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Callable

from tortie.selector import parse

MIX = {
    "equality": 'app == "web"',
    "in-set": 'tier in {"frontend", "backend", "cache", "db"}',
    "and-3": 'env == "prod" && has(team) && zone starts with "eu-"',
    "complex": '(app == "web" || app == "api") && !(env in {"dev", "test"}) && version != "1"',
}


def label_maps(n: int) -> list[dict[str, str]]:
    rng = random.Random(42)
    values = {"app": ["web", "api", "db", "cache"], "tier": ["frontend", "backend", "db", "edge"],
              "env": ["prod", "dev", "test", "staging"], "team": ["a", "b"], "zone": ["eu-west-1", "us-east-1"],
              "version": ["1", "2", "3"]}
    maps = []
    for _ in range(n):
        keys = rng.sample(sorted(values), rng.randint(2, len(values)))
        maps.append({k: rng.choice(values[k]) for k in keys} | {f"extra{i}": "x" for i in range(rng.randint(0, 4))})
    return maps


def rate(fn: Callable[[dict[str, str]], bool], maps: list[dict[str, str]], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while True:
        for labels in maps:
            fn(labels)
        count += len(maps)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    maps = label_maps(1000)
    print(f"{'selector':<10} {'compiled/s':>14} {'naive/s':>14} {'ratio':>7}")
    selectors = [parse(text) for text in MIX.values()]
    for name, sel in zip(MIX, selectors, strict=True):
        compiled = rate(sel.matches, maps, args.seconds)
        naive = rate(sel.matches_naive, maps, args.seconds)
        print(f"{name:<10} {compiled:>14,.0f} {naive:>14,.0f} {compiled / naive:>6.1f}x")
    # The whole mix: every selector against every label map, as calc evaluates them.
    compiled = rate(lambda labels: [s.matches(labels) for s in selectors], maps, args.seconds) * len(selectors)
    naive = rate(lambda labels: [s.matches_naive(labels) for s in selectors], maps, args.seconds) * len(selectors)
    print(f"{'mix':<10} {compiled:>14,.0f} {naive:>14,.0f} {compiled / naive:>6.1f}x")


if __name__ == "__main__":
    main()
