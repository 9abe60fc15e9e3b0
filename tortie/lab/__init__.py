"""The lab: virtual nodes and workloads in network namespaces on this machine, one agent per
node, probes with real packets, and the private etcd a lab can run.

Names are loaded on first use: ``python -m tortie.lab.probe_agent`` runs in every probe and
must not pay for the lab's datastore and YAML imports."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .etcd import EtcdServer, free_port
    from .lab import HEALTH_PORT, LabSpec, LabState, agent_status, down, namespace_of, up, wait
    from .network import LabError, NodeNetwork, Workload
    from .traffic import ProbeResult, probe

_HOME = {
    "EtcdServer": "etcd", "free_port": "etcd",
    "HEALTH_PORT": "lab", "LabSpec": "lab", "LabState": "lab", "agent_status": "lab", "down": "lab",
    "namespace_of": "lab", "up": "lab", "wait": "lab",
    "LabError": "network", "NodeNetwork": "network", "Workload": "network",
    "ProbeResult": "traffic", "probe": "traffic",
}

__all__ = [
    "HEALTH_PORT", "EtcdServer", "LabError", "LabSpec", "LabState", "NodeNetwork", "ProbeResult", "Workload",
    "agent_status", "down", "free_port", "namespace_of", "probe", "up", "wait",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
