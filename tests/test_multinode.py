"""Three lab nodes on one etcd: cross-node flows against the model (which evaluates node by
node), per-node overrides, ipsets holding remote endpoints, an etcd outage under traffic and
an agent restart. Everything goes through the CLI, as a user would drive it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tortie.lab.etcd import EtcdServer
from tortie.lab.traffic import probe

from .cli import TORTIE
from .wait import wait_until

NODES = ("node-a", "node-b", "node-c")
LAB = """
nodes: [{name: node-a}, {name: node-b}, {name: node-c}]
workloads:
  - {name: web, namespace: shop, node: node-a, ipv4: 198.18.1.10, ipv6: "2001:db8:1::10", labels: {app: web}}
  - {name: api, namespace: shop, node: node-b, ipv4: 198.18.2.10, ipv6: "2001:db8:2::10", labels: {app: api}}
  - {name: db, namespace: data, node: node-c, ipv4: 198.18.3.10, ipv6: "2001:db8:3::10", labels: {app: db}}
"""
POLICIES = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: db-guard}
spec:
  selector: app == "db"
  types: [Ingress]
  ingress:
    - {action: Allow, protocol: TCP, source: {selector: app == "api"}, destination: {ports: [5432]}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: no-9999}
spec:
  order: 10
  selector: app in {"web", "api"}
  types: [Ingress]
  ingress:
    - {action: Deny, protocol: TCP, destination: {ports: [9999]}}
    - {action: Pass}
"""


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "TORTIE_LAB_DIR": str(tmp / "lab")}
        self.sport = 41000
        self.etcd = EtcdServer(data_dir=str(tmp / "etcd")).start()
        (tmp / "lab.yaml").write_text(LAB)
        (tmp / "policies.yaml").write_text(POLICIES)
        self.run("lab", "up", "-f", str(tmp / "lab.yaml"), "--datastore", self.etcd.url)
        self.run("apply", "-f", str(tmp / "policies.yaml"))
        self.run("lab", "wait")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([TORTIE, "--datastore", self.etcd.url, *args], capture_output=True, text=True,
                             env=self.env, timeout=180)
        if check:
            assert out.returncode == 0, f"tortie {' '.join(args)}: {out.stdout}{out.stderr}"
        return out

    def probe(self, source: str, target: str, *flags: str) -> dict:
        out = self.run("lab", "probe", source, target, "-o", "json", *flags, check=False)
        assert out.returncode in (0, 3), out.stdout + out.stderr
        return json.loads(out.stdout)

    def kernel(self, source: str, target: str, port: int) -> bool:
        """Did a TCP connection get through? The kernel alone, no datastore needed."""
        workloads = self.state()["workloads"]
        src, dst = workloads[source], workloads[target]
        self.sport += 1
        return probe(src["netns"], src["addresses"][0], dst["netns"], dst["addresses"][0], "tcp", self.sport,
                     str(port)).arrived

    def felix(self, name: str, **spec: object) -> None:
        doc = {"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration", "metadata": {"name": name},
               "spec": spec}
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(doc))
        self.run("apply", "-f", str(path))

    def state(self) -> dict:
        return json.loads((self.tmp / "lab" / "lab.json").read_text())

    def in_node(self, node: str, *command: str) -> str:
        netns = self.state()["nodes"][node]["netns"]
        return subprocess.run(["ip", "netns", "exec", netns, *command], capture_output=True, text=True,
                              check=True, timeout=30).stdout

    def status(self, node: str) -> dict:
        """The agent's /status on a node."""
        return json.loads(self.in_node(node, sys.executable, "-c", "import urllib.request; print(urllib.request."
                                       "urlopen('http://localhost:9099/status', timeout=5).read().decode())"))

    def close(self) -> None:
        self.run("lab", "down", check=False)
        self.etcd.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.close()


# (from, to, expected kernel outcome): across nodes, in both families.
FLOWS = [("api", "db:5432", "allowed"), ("web", "db:5432", "denied"), ("web", "api:80", "allowed"),
         ("db", "web:443", "allowed"), ("api", "web/ICMP", "allowed"), ("web", "api:9999", "denied")]


@pytest.mark.parametrize("family", ["-4", "-6"])
def test_cross_node_flows_are_what_the_model_says(cluster: Cluster, family: str) -> None:
    for source, target, expected in FLOWS:
        result = cluster.probe(source, target, *(["-6"] if family == "-6" else []))
        assert result["agree"], result
        assert result["kernel"] == expected, (source, target, result)
    hops = cluster.probe("web", "db:5432")["hops"]
    assert [(h["node"], h["action"]) for h in hops] == [("node-a", "accept"), ("node-c", "drop")]


def test_ipsets_on_every_node_hold_the_remote_endpoints(cluster: Cluster) -> None:
    # db-guard's source selector (app == "api") matters on node-c, where db lives; api is on node-b.
    sets = cluster.in_node("node-c", "ipset", "list")
    assert "198.18.2.10" in sets and "2001:db8:2::10" in sets
    assert "198.18.1.10" not in sets  # web is not selected


def test_each_node_applies_its_own_override(cluster: Cluster) -> None:
    cluster.felix("node.node-a", dropActionOverride="LogAndAccept")
    cluster.felix("node.node-b", dropActionOverride="Drop")
    cluster.felix("default", dropActionOverride="LogAndDrop")  # node-c has no node.node-c
    cluster.run("lab", "wait")
    try:
        to_web = cluster.probe("api", "web:9999")  # denied on node-a: LogAndAccept
        assert (to_web["kernel"], to_web["agree"]) == ("allowed", True)
        assert any("calico-drop: " in line for line in to_web["logs"])
        to_api = cluster.probe("web", "api:9999")  # denied on node-b: Drop
        assert (to_api["kernel"], to_api["agree"], to_api["logs"]) == ("denied", True, [])
        to_db = cluster.probe("web", "db:5432")  # denied on node-c: the default, LogAndDrop
        assert (to_db["kernel"], to_db["agree"]) == ("denied", True)
        assert [line.split(" ")[0] for line in to_db["logs"]] == ["calico-drop:"]
    finally:
        cluster.felix("node.node-a")
        cluster.felix("node.node-b")
        cluster.felix("default")
        cluster.run("lab", "wait")


def test_etcd_outage_keeps_enforcement_and_later_changes_reach_every_node(cluster: Cluster) -> None:
    cluster.etcd.stop(remove=False)

    def connected_while_enforcing() -> list[str]:
        assert cluster.kernel("api", "db", 5432)
        assert not cluster.kernel("web", "db", 5432)
        return [node for node in NODES if cluster.status(node)["storeConnected"]]
    try:  # traffic all along, until every agent knows etcd is gone, and after
        wait_until("every agent to find etcd unreachable", connected_while_enforcing, lambda nodes: not nodes)
        assert cluster.kernel("api", "db", 5432) and not cluster.kernel("web", "db", 5432)
    finally:
        cluster.etcd.start()
    path = cluster.tmp / "open-db.yaml"
    path.write_text(POLICIES.split("---")[0].replace('app == "api"', '(app == "api" || app == "web")'))
    cluster.run("apply", "-f", str(path))
    cluster.run("lab", "wait", "--timeout", "60")
    try:
        for family in ([], ["-6"]):
            assert cluster.probe("web", "db:5432", *family)["kernel"] == "allowed"
        # Every node has the change: node-c enforces it, and the status of each reports its revision.
        revision = int(json.loads(cluster.run("get", "gnp", "db-guard", "-o", "json").stdout)
                       ["metadata"]["resourceVersion"])
        for node in NODES:
            status = cluster.status(node)
            assert status["appliedRevision"] >= revision and status["storeConnected"]
    finally:
        path.write_text(POLICIES.split("---")[0])
        cluster.run("apply", "-f", str(path))
        cluster.run("lab", "wait")


def test_an_agent_restart_converges_without_disruption(cluster: Cluster) -> None:
    state = cluster.state()
    info = state["nodes"]["node-c"]
    os.kill(info["pid"], signal.SIGKILL)
    # With no agent on node-c its rules stay: db is still guarded, api still reaches it.
    assert cluster.probe("web", "db:5432")["kernel"] == "denied"
    assert cluster.probe("api", "db:5432")["kernel"] == "allowed"
    with open(info["log"], "ab") as log:
        proc = subprocess.Popen(["ip", "netns", "exec", info["netns"], TORTIE, "--datastore", state["agent_datastore"],
                                 "agent", "--node", "node-c"], stdout=log, stderr=subprocess.STDOUT,
                                env={**cluster.env, "FELIX_HEALTHENABLED": "true", "FELIX_HEALTHPORT": "9099"},
                                start_new_session=True)
    state["nodes"]["node-c"]["pid"] = proc.pid
    (cluster.tmp / "lab" / "lab.json").write_text(json.dumps(state))

    def converged() -> bool:
        assert cluster.probe("web", "db:5432")["kernel"] == "denied"  # never open while it starts
        return cluster.run("lab", "wait", "--timeout", "1", check=False).returncode == 0
    wait_until("the restarted agent to converge", converged)
    assert cluster.probe("api", "db:5432")["kernel"] == "allowed"
    assert cluster.probe("web", "db:5432")["kernel"] == "denied"


def test_lab_with_its_own_etcd(tmp_path: Path) -> None:
    env = {**os.environ, "TORTIE_LAB_DIR": str(tmp_path / "lab")}
    (tmp_path / "lab.yaml").write_text(LAB)

    def tortie(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TORTIE, *args], capture_output=True, text=True, env=env, timeout=180)

    up = tortie("lab", "up", "-f", str(tmp_path / "lab.yaml"), "--etcd")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        url = tortie("lab", "datastore").stdout.strip()
        assert url.startswith("etcd://127.0.0.1:")
        assert tortie("--datastore", url, "get", "hep", "node-b-eth0").returncode == 0
        state = json.loads((tmp_path / "lab" / "lab.json").read_text())
        assert set(state["processes"]) == {"etcd", "relay"}
        probe = tortie("lab", "probe", "web", "db:80")
        assert probe.returncode == 0 and probe.stdout.startswith("ALLOWED"), probe.stdout
    finally:
        down = tortie("lab", "down")
    assert down.returncode == 0
    for pid in state["processes"].values():
        assert not Path(f"/proc/{pid}").exists() or b"etcd" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert not (tmp_path / "lab" / "etcd").exists()
