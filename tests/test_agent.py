"""The agent in a lab node: real enforcement, live configuration, repair, restarts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tortie.agent import Agent
from tortie.dataplane import Dataplane, Runner
from tortie.datastore import ResourceClient
from tortie.lab.network import NodeNetwork, Workload
from tortie.lab.traffic import probe
from tortie.resources import load_resource
from tortie.store import UnavailableError, open_store

from .cli import TORTIE
from .wait import wait_until

WORLD = Path(__file__).parent / "scenarios" / "worked-examples.yaml"


class Node:
    def __init__(self, tmp: Path) -> None:
        self.url = f"sqlite://{tmp}/store.db"
        self.log = tmp / "agent.log"
        docs = [load_resource(d) for d in yaml.safe_load(WORLD.read_text())["resources"]
                if d["kind"] != "HostEndpoint"]
        with open_store(self.url) as store:
            client = ResourceClient(store)
            client.ensure_defaults()
            for r in docs:
                client.create(r)
            client.apply(load_resource({"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration",
                                        "metadata": {"name": "node.n1"}, "spec": {
                                            "iptablesRefreshInterval": "1s", "healthEnabled": True,
                                            "healthPort": 9099}}))
        self.lab = NodeNetwork(f"tortie-a{uuid.uuid4().hex[:6]}", [], [], [
            Workload("web", "cali1111", ["10.65.0.10"]), Workload("db", "cali2222", ["10.65.0.20"])])
        self.lab.up()
        self.agent: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.agent = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.node, TORTIE, "--datastore", self.url, "agent", "--node", "n1",
             "-c", "/nonexistent"], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        self.wait_ready()

    def health(self, path: str = "/status") -> dict:
        out = subprocess.run(["ip", "netns", "exec", self.lab.node, sys.executable, "-c",
                              "import urllib.request, sys; r = urllib.request.urlopen('http://localhost:9099' + "
                              "sys.argv[1], timeout=2); print(r.status); print(r.read().decode())", path],
                             capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            return {}
        code, _, body = out.stdout.partition("\n")
        return {"code": int(code), **json.loads(body)}

    def wait_ready(self, revision: int | None = None) -> dict:
        def ready(status: dict) -> bool:
            return bool(status.get("ready")) and (revision is None or status.get("appliedRevision", 0) >= revision)
        awaited = "the agent to be ready" + (f" at revision {revision}" if revision is not None else "")
        return wait_until(awaited, self.health, ready,
                          details=lambda: self.log.read_text()[-2000:])

    def write(self, kind: str, name: str, spec: dict) -> int:
        with open_store(self.url) as store:
            doc = ResourceClient(store).apply(load_resource({"apiVersion": "projectcalico.org/v3", "kind": kind,
                                                             "metadata": {"name": name}, "spec": spec}))
        return int(doc["metadata"]["resourceVersion"])

    def probe(self, port: int, sport: int) -> tuple[bool, list[str]]:
        web, db = self.lab.workloads
        result = probe(web.netns, "10.65.0.10", db.netns, "10.65.0.20", "tcp", sport, str(port))
        return result.arrived, result.prefixes

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(sig)
            self.agent.wait(timeout=20)
        self.agent = None

    def iptables(self) -> str:
        return subprocess.run(["ip", "netns", "exec", self.lab.node, "iptables-nft-save"], capture_output=True,
                              text=True).stdout


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    try:
        yield n
    finally:
        n.stop(signal.SIGKILL)
        n.lab.down()


def test_enforces_and_applies_configuration_live(node: Node) -> None:
    node.start()
    assert node.probe(5432, 21001) == (True, ["calico-packet: "])
    assert node.probe(22, 21002) == (False, ["calico-packet: "])
    revision = node.write("FelixConfiguration", "node.n1", {"iptablesRefreshInterval": "1s", "healthEnabled": True,
                                                            "dropActionOverride": "LogAndAccept"})
    node.wait_ready(revision)  # bench/dataplane.py measures how soon
    assert node.probe(22, 21003) == (True, ["calico-packet: ", "calico-drop: "])
    status = node.health("/status")
    assert status["appliedRevision"] >= revision and status["storeConnected"] is True
    assert node.health("/liveness")["code"] == 200 and node.health("/readiness")["code"] == 200


def test_tampering_is_repaired_by_the_refresh(node: Node) -> None:
    node.start()
    subprocess.run(["ip", "netns", "exec", node.lab.node, "iptables-nft", "-F", "cali-tw-cali2222"], check=True)
    subprocess.run(["ip", "netns", "exec", node.lab.node, "iptables-nft", "-I", "cali-tw-cali2222", "1",
                    "-j", "ACCEPT"], check=True)
    wait_until("the refresh to repair the chain", lambda: node.health().get("repairs", 0), lambda n: n >= 1)
    assert node.probe(22, 21011)[0] is False


def test_sigterm_leaves_rules_and_cleanup_removes_them(node: Node) -> None:
    node.start()
    node.stop(signal.SIGTERM)
    assert ":cali-tw-cali2222" in node.iptables()
    assert node.probe(22, 21021)[0] is False  # still enforced with no agent running
    assert node.probe(5432, 21022)[0] is True
    subprocess.run(["ip", "netns", "exec", node.lab.node, TORTIE, "--datastore", node.url, "agent", "--node", "n1",
                    "-c", "/nonexistent", "--cleanup"], check=True, capture_output=True)
    assert "cali" not in node.iptables()


def test_kill_9_and_restart_without_an_open_window(node: Node) -> None:
    node.start()
    node.stop(signal.SIGKILL)
    assert node.probe(22, 21031)[0] is False
    node.start()
    for sport in range(21032, 21036):
        assert node.probe(22, sport)[0] is False
        assert node.probe(5432, sport + 100)[0] is True


def test_bad_content_in_the_store_never_crashes_the_agent(node: Node) -> None:
    node.start()
    with open_store(node.url) as store:
        store.create("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/broken", b"{not json")
        store.create("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/evil",
                     json.dumps({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                                 "metadata": {"name": "evil"},
                                 "spec": {"selector": "all()", "ingress": [{"action": "Allow", "protocol": "tcp;"}]}
                                 }).encode())
        store.create("/calico/resources/v3/projectcalico.org/workloadendpoints/prod/x",
                     json.dumps({"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
                                 "metadata": {"name": "x", "namespace": "prod"},
                                 "spec": {"node": "n1", "interfaceName": "cali;rm -rf /", "ipNetworks": ["1.2.3.4"]}
                                 }).encode())
        revision = store.revision()
    node.wait_ready(revision)
    assert node.agent is not None and node.agent.poll() is None
    assert node.probe(22, 21041)[0] is False and node.probe(5432, 21042)[0] is True
    log = node.log.read_text()
    assert "broken" in log and "evil" in log and "WorkloadEndpoint/prod/x" in log



class Outage:
    """Switches a FlakyStore off and on, and counts the calls it refused while off."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.refused = 0


class FlakyStore:
    """A real store that can be made unreachable: every call fails while the outage is on."""

    def __init__(self, store, outage: Outage) -> None:  # type: ignore[no-untyped-def]
        self._store, self._outage = store, outage

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            if self._outage.down.is_set():
                self._outage.refused += 1
                raise UnavailableError("store unreachable (test outage)")
            result = attr(*args, **kwargs)
            return FlakyStore(result, self._outage) if name == "watch" else result
        return call

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self._store.close()


def test_store_outage_keeps_enforcing_and_catches_up(node: Node) -> None:
    outage = Outage()
    agent = Agent("n1", node.url, "/nonexistent", env={"FELIX_HEALTHENABLED": "false"},
                  runner=Runner(node.lab.node), store_factory=lambda url: FlakyStore(open_store(url), outage))
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        wait_until("the agent to be ready", lambda: agent.status.ready)
        outage.down.set()
        wait_until("the agent to find the store unreachable", lambda: agent.status.store_connected,
                   lambda connected: connected is False)
        revision = node.write("GlobalNetworkPolicy", "allow-ssh", {  # written while the agent cannot read
            "selector": "all()", "order": 1,
            "ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [22]}}]})
        refused = outage.refused
        wait_until("the agent to try the store again after the write", lambda: outage.refused,
                   lambda n: n > refused)
        assert node.probe(22, 21051)[0] is False  # the last good state, still enforced
        assert node.probe(5432, 21052)[0] is True
        outage.down.clear()
        wait_until(f"the agent to apply revision {revision}", lambda: agent.status.applied_revision,
                   lambda applied: applied >= revision)
        assert agent.status.store_connected
        assert node.probe(22, 21053)[0] is True  # the change made during the outage now applies
        assert thread.is_alive()
    finally:
        agent.stopping.set()
        thread.join(timeout=10)


def test_backend_change_migrates_every_rule(node: Node) -> None:
    agent = Agent("n1", node.url, "/nonexistent", env={"FELIX_HEALTHENABLED": "false"}, runner=Runner(node.lab.node))
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        wait_until("the agent to be ready", lambda: agent.status.ready)
        assert "cali" in node.iptables()
        revision = node.write("FelixConfiguration", "node.n1", {"iptablesRefreshInterval": "1s",
                                                                "iptablesBackend": "Legacy"})
        wait_until(f"the agent to apply revision {revision}", lambda: agent.status.applied_revision,
                   lambda applied: applied >= revision)
        assert "cali" not in node.iptables()  # nothing left in nft
        legacy = subprocess.run(["ip", "netns", "exec", node.lab.node, "iptables-legacy-save"],
                                capture_output=True, text=True).stdout
        assert ":cali-tw-cali2222" in legacy
        assert node.probe(22, 21061)[0] is False and node.probe(5432, 21062)[0] is True
    finally:
        agent.stopping.set()
        thread.join(timeout=10)
        Dataplane(Runner(node.lab.node), backend="legacy").cleanup()


ECHO_SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); print("READY", flush=True)
conn, _ = s.accept()
while data := conn.recv(100):
    conn.sendall(data)
"""
CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("CONNECTED", flush=True)
for line in sys.stdin:
    c.sendall(line.encode())
    print("ECHO " + c.recv(100).decode().strip(), flush=True)
"""


def test_restart_keeps_established_connections(node: Node) -> None:
    node.start()
    web, db = node.lab.workloads
    server = subprocess.Popen(["ip", "netns", "exec", db.netns, sys.executable, "-c", ECHO_SERVER, "10.65.0.20",
                               "5432"], stdout=subprocess.PIPE, text=True)
    client = None
    try:
        assert server.stdout.readline().strip() == "READY"
        client = subprocess.Popen(["ip", "netns", "exec", web.netns, sys.executable, "-c", CLIENT, "10.65.0.20",
                                   "5432"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert client.stdout.readline().strip() == "CONNECTED"
        node.stop(signal.SIGKILL)
        node.start()  # a fresh agent converges over the existing rules
        client.stdin.write("still-here\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "ECHO still-here"
    finally:
        for proc in (client, server):
            if proc is not None:
                proc.kill()
                proc.wait()
