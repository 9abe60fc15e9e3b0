"""The denied-flow stream: NFLOG denials aggregated per flow over a window, written as JSON
lines to ``<flowLogsFileDirectory>/denied-flows.jsonl`` with size-based rotation."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone

from ..core import Direction, KernelAction

FILE_NAME = "denied-flows.jsonl"


@dataclass(frozen=True)
class FlowKey:
    endpoint: str
    direction: Direction
    tier: str  # "" for profiles
    policy: str
    rule: int
    action: KernelAction  # as enforced after the override
    src: str
    dst: str
    protocol: int
    sport: int | None
    dport: int | None


@dataclass
class FlowCounts:
    packets: int
    bytes: int
    first: float  # wall-clock seconds
    last: float


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(node: str, key: FlowKey, counts: FlowCounts) -> dict[str, object]:
    return {"node": node, "endpoint": key.endpoint, "direction": key.direction, "tier": key.tier or None,
            "policy": key.policy, "profile": not key.tier, "ruleIndex": key.rule, "action": key.action,
            "srcIP": key.src, "dstIP": key.dst, "protocol": key.protocol, "srcPort": key.sport,
            "dstPort": key.dport, "packets": counts.packets, "bytes": counts.bytes,
            "firstSeen": _time(counts.first), "lastSeen": _time(counts.last)}


class FlowLog:
    """Accumulates flows; ``flush`` writes every flow of the window that ended and starts anew."""

    def __init__(self, node: str, directory: str, max_bytes: int, max_files: int) -> None:
        self.node = node
        self.path = os.path.join(directory, FILE_NAME)
        self.max_bytes = max_bytes
        self.max_files = max(1, max_files)
        self.flows: dict[FlowKey, FlowCounts] = {}

    def add(self, key: FlowKey, packets: int, size: int, now: float) -> None:
        counts = self.flows.get(key)
        if counts is None:
            self.flows[key] = FlowCounts(packets, size, now, now)
        else:
            counts.packets += packets
            counts.bytes += size
            counts.last = now

    def flush(self) -> int:
        """Write the window's flows (raises OSError when the file cannot be written)."""
        flows, self.flows = self.flows, {}
        if not flows:
            return 0
        text = "".join(json.dumps(record(self.node, k, c), separators=(",", ":")) + "\n" for k, c in flows.items())
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._rotate(len(text))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
        return len(flows)

    def _rotate(self, incoming: int) -> None:
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        if self.max_files == 1:
            os.truncate(self.path, 0)
            return
        for index in range(self.max_files - 1, 0, -1):  # .1 is the newest old file
            older = f"{self.path}.{index}"
            newer = f"{self.path}.{index - 1}" if index > 1 else self.path
            if os.path.exists(newer):
                os.replace(newer, older)
