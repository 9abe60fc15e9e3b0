"""The shop the audit tests replay against (examples/lab.yaml's workloads and
examples/policies.yaml's database policy), exported as `calicoctl get -o yaml` writes a
list; and lines and flows the model says it logs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tortie.resources import to_yaml

NODE = "node-a"
FRONTEND, BACKEND, DATABASE, OUTSIDE = "198.18.10.10", "198.18.10.20", "198.18.20.30", "203.0.113.7"


def interface(namespace: str, name: str) -> str:
    return "cali" + hashlib.sha1(f"{namespace}.{name}".encode()).hexdigest()[:11]


def _wep(name: str, namespace: str, ip: str, labels: dict[str, str], ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
            "metadata": {"name": f"{NODE.replace('-', '--')}-k8s-{name}-eth0", "namespace": namespace, "labels": labels},
            "spec": {"node": NODE, "orchestrator": "k8s", "workload": "", "pod": name, "endpoint": "eth0",
                     "interfaceName": interface(namespace, name), "profiles": [f"kns.{namespace}"],
                     "ipNetworks": [f"{ip}/32"], "ports": ports}}


def _profile(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "Profile", "metadata": {"name": f"kns.{namespace}"},
            "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}}


DATABASE_POLICY: dict[str, Any] = {
    "apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "database-access"},
    "spec": {"selector": 'role == "db"', "types": ["Ingress"], "ingress": [
        {"action": "Allow", "protocol": "TCP", "source": {"selector": 'app == "backend"'},
         "destination": {"ports": ["pg"]}}]}}


def shop(override: str = "LogAndAccept", extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The shop's resources: profiles, three workloads, the database policy, FelixConfiguration default."""
    return [
        _profile("shop"), _profile("data"),
        _wep("frontend", "shop", FRONTEND, {"app": "frontend", "role": "web"},
             [{"name": "http", "protocol": "TCP", "port": 8080}]),
        _wep("backend", "shop", BACKEND, {"app": "backend", "role": "api"},
             [{"name": "api", "protocol": "TCP", "port": 9000}]),
        _wep("database", "data", DATABASE, {"app": "database", "role": "db"},
             [{"name": "pg", "protocol": "TCP", "port": 5432}]),
        DATABASE_POLICY,
        {"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration", "metadata": {"name": "default"},
         "spec": {"dropActionOverride": override}},
        *(extra or []),
    ]


def export(path: Path, resources: list[dict[str, Any]]) -> Path:
    """`resources` as calicoctl get -o yaml writes them: one `<Kind>List` document per kind."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        kinds.setdefault(resource["kind"], []).append(resource)
    path.write_text("---\n".join(to_yaml({"apiVersion": "projectcalico.org/v3", "kind": f"{kind}List",
                                           "items": items, "metadata": {"resourceVersion": "1"}})
                                  for kind, items in kinds.items()))
    return path


def flow_record(start: int, source: tuple[str, str, str], dest: tuple[str, str, str], dport: int, action: str,
                enforced: list[str], pending: list[str] | None = None, packets: int = 3, proto: str = "tcp",
                reporter: str = "dst", sport: int = 43822, flows: int = 1) -> dict[str, Any]:
    """A Calico Enterprise flow log record; `source` and `dest` are (ip, namespace, name)."""
    record: dict[str, Any] = {
        "start_time": start, "end_time": start + 10, "host": NODE, "action": action, "reporter": reporter,
        "source_ip": source[0], "source_namespace": source[1], "source_name": source[2], "source_name_aggr": "-",
        "source_type": "wep" if source[2] != "-" else "net", "source_port": sport,
        "source_labels": {"labels": [f"app={source[2]}"]} if source[2] != "-" else None,
        "dest_ip": dest[0], "dest_namespace": dest[1], "dest_name": dest[2], "dest_name_aggr": "-",
        "dest_type": "wep" if dest[2] != "-" else "net", "dest_port": dport,
        "dest_labels": {"labels": [f"app={dest[2]}"]} if dest[2] != "-" else None, "dest_service_name": "-",
        "proto": proto, "packets_in": packets, "packets_out": 0, "bytes_in": packets * 60, "bytes_out": 0,
        "num_flows": flows, "num_flows_started": flows, "num_flows_completed": 0,
        "policies": {"enforced_policies": enforced, "pending_policies": pending if pending is not None else enforced}}
    return record
