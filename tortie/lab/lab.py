"""A lab: virtual nodes and workloads from LAB.yaml, one agent per node, and their state.

Everything the lab creates is recorded in a state file, and every namespace it creates
is named ``tortie-lab-…`` (``tortie-lab.<hash>-…`` for a lab whose state directory is not
the default), so ``down`` removes it all, also after a crashed run, and never another
lab's. Only processes the lab started (recorded by PID, checked against their command
line) are ever stopped.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

import yaml

from ..core import MAX_INPUT, read_bounded
from ..datastore import ResourceClient
from ..resources import (Resource, ResourceError, is_dns_label, label_value_problems, load_resource, parse_ip,
                         qualified_name_problems, subdomain_problems)
from ..store import StoreError, open_store
from .etcd import EtcdServer, stop_process
from .fabric import Fabric
from .network import LabError, NodeNetwork, Workload

DEFAULT_STATE_DIR = Path("/run/tortie-lab")
STATE_DIR = Path(os.environ.get("TORTIE_LAB_DIR", DEFAULT_STATE_DIR))


def namespace_prefix(state_dir: Path) -> str:
    """The prefix of a lab's namespaces: labs of different state directories (test runs side
    by side on one machine) never take each other's namespaces for their own leftovers."""
    if state_dir == DEFAULT_STATE_DIR:
        return "tortie-lab"
    return "tortie-lab." + hashlib.sha256(os.path.abspath(state_dir).encode()).hexdigest()[:6]


PREFIX = namespace_prefix(STATE_DIR)
NETNS_NAME_MAX = 255  # a namespace is a file under /run/netns: NAME_MAX
LAB_RANGES = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32"))
HEALTH_PORT = 9099


@dataclass
class WorkloadSpec:
    name: str
    namespace: str
    node: str
    ipv4: str
    ipv6: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def interface(self) -> str:
        """Calico's naming: ``cali`` + 11 hex digits of a hash of the workload."""
        return "cali" + hashlib.sha1(f"{self.namespace}.{self.name}".encode()).hexdigest()[:11]

    @property
    def addresses(self) -> list[str]:
        return [a for a in (self.ipv4, self.ipv6) if a]


@dataclass
class LabSpec:
    nodes: list[str]
    workloads: list[WorkloadSpec]

    @classmethod
    def load(cls, path: str) -> LabSpec:
        """LAB.yaml, checked whole (check) before the lab creates anything. Raises LabError,
        one line naming the file, the node or workload and what is wrong."""
        try:
            data = yaml.safe_load(read_bounded(path, MAX_INPUT))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise LabError(f"cannot read lab file {path}: {reason[:1].lower()}{reason[1:]}") from None
        except yaml.YAMLError as exc:
            raise LabError(f"lab file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
        if not isinstance(data, dict) or set(data) - {"nodes", "workloads"}:
            raise LabError(f"{path}: expected 'nodes' and 'workloads'")
        nodes, workloads = data.get("nodes") or [], data.get("workloads") or []
        if not isinstance(nodes, list) or not all(isinstance(n, dict) and set(n) == {"name"} for n in nodes):
            raise LabError(f"{path}: 'nodes' must be a list of {{name: NAME}}")
        if not isinstance(workloads, list) or not all(isinstance(w, dict) for w in workloads):
            raise LabError(f"{path}: 'workloads' must be a list of mappings")
        try:
            lab = cls([n["name"] for n in nodes], [WorkloadSpec(**w) for w in workloads])
        except TypeError as exc:  # a missing or unknown key
            raise LabError(f"{path}: workload: {str(exc).partition('__init__() ')[2] or exc}") from None
        try:
            lab.check()
        except LabError as exc:
            raise LabError(f"{path}: {exc}") from None
        return lab

    def check(self) -> None:
        """Everything ``up`` relies on, so that it fails before creating anything: at least one
        node; node names as Calico's node and HostEndpoint names (DNS-1123 subdomains) short
        enough for a namespace name; workload names as Kubernetes pod names, their namespaces
        as namespace names (DNS labels), their labels as Calico validates labels; IPv4 and
        IPv6 addresses in the lab ranges, each used once; every resource the lab writes
        valid. Raises LabError (one line)."""
        if not self.nodes:
            raise LabError("a lab needs at least one node")
        for node in self.nodes:
            _check_name(f"node {node!r}", node)
            if len(f"{PREFIX}-{node}-node") > NETNS_NAME_MAX:
                raise LabError(f"node {node!r}: name too long for a lab namespace (at most "
                               f"{NETNS_NAME_MAX - len(PREFIX) - 6} characters)")
        names = [w.name for w in self.workloads]
        if len(set(names)) != len(names) or len(set(self.nodes)) != len(self.nodes):
            raise LabError("node and workload names must be unique")
        owners: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
        for w in self.workloads:
            _check_workload(w)
            if w.node not in self.nodes:
                raise LabError(f"workload {w.name}: unknown node {w.node}")
            for key, version in (("ipv4", 4), ("ipv6", 6)):
                address = getattr(w, key)
                if address is None:
                    continue
                ip = parse_ip(address) if isinstance(address, str) else None
                if ip is None or ip.version != version:
                    raise LabError(f"workload {w.name}: {key} {address!r} is not an IPv{version} address")
                if not any(ip in net for net in LAB_RANGES):
                    raise LabError(f"workload {w.name}: {address} is outside 198.18.0.0/15 and 2001:db8::/32")
                if ip in owners:
                    raise LabError(f"workload {w.name}: {address} is already workload {owners[ip]}'s")
                owners[ip] = w.name
        # What else Calico validates (ports, ...): the resources up will write.
        for what, build in [*((f"workload {w.name}", partial(_wep, w)) for w in self.workloads),
                            *((f"node {node}", partial(_hep, node, [])) for node in self.nodes),
                            *((f"namespace {ns}", partial(_namespace_profile, ns))
                              for ns in sorted({w.namespace for w in self.workloads}))]:
            try:
                build()
            except ResourceError as exc:
                raise LabError(f"{what}: {' '.join(str(exc).split())}") from None


def _check_name(what: str, name: object) -> None:
    if not isinstance(name, str):
        raise LabError(f"{what}: the name must be a string")
    problems = subdomain_problems(name)
    if problems:
        raise LabError(f"{what}: not a valid name: {problems[0]}")


def _check_workload(w: WorkloadSpec) -> None:
    """A workload's own fields (types, names, labels); addresses and node are check's."""
    _check_name(f"workload {w.name!r}", w.name)
    for key in ("namespace", "node", "ipv4"):
        if not isinstance(getattr(w, key), str):
            raise LabError(f"workload {w.name}: {key} must be a string")
    if not is_dns_label(w.namespace):
        raise LabError(f"workload {w.name}: namespace {w.namespace!r} is not a valid namespace name "
                       "(a DNS label: lower case letters, digits and '-', at most 63)")
    if not isinstance(w.labels, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in w.labels.items()):
        raise LabError(f"workload {w.name}: labels must map strings to strings")
    for key, value in w.labels.items():
        problems = qualified_name_problems(key)
        if problems:
            raise LabError(f"workload {w.name}: label key {key!r}: {problems[0]}")
        problems = label_value_problems(value)
        if problems:
            raise LabError(f"workload {w.name}: label {key}: value {value!r}: {problems[0]}")
    if not isinstance(w.ports, list):
        raise LabError(f"workload {w.name}: ports must be a list")


class NodeRecord(TypedDict):
    netns: str
    pid: int | None  # the node's agent, once started
    log: str  # path of the agent's log file
    addresses: list[str]  # on the fabric


class WorkloadRecord(TypedDict):
    netns: str
    node: str
    addresses: list[str]
    namespace: str


@dataclass
class LabState:
    datastore: str  # as the user's commands reach it
    agent_datastore: str = ""  # as the agents reach it from their node namespaces
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    workloads: dict[str, WorkloadRecord] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    processes: dict[str, int] = field(default_factory=dict)  # "etcd" / "relay" -> PID

    @staticmethod
    def path() -> Path:
        return STATE_DIR / "lab.json"

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self.path().write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls) -> LabState | None:
        try:
            return cls(**json.loads(cls.path().read_text()))
        except (OSError, ValueError, TypeError):
            return None


def _wep(w: WorkloadSpec) -> Resource:
    spec: dict[str, Any] = {"node": w.node, "orchestrator": "k8s", "workload": w.name, "pod": w.name,
                            "endpoint": "eth0", "interfaceName": w.interface, "profiles": [f"kns.{w.namespace}"],
                            "ipNetworks": [f"{a}/{ipaddress.ip_address(a).max_prefixlen}" for a in w.addresses]}
    if w.ports:
        spec["ports"] = w.ports
    return load_resource({"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
                          "metadata": {"namespace": w.namespace, "labels": w.labels},  # named from the spec
                          "spec": spec})


def _hep(node: str, addresses: list[str]) -> Resource:
    return load_resource({"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint",
                          "metadata": {"name": f"{node}-eth0", "labels": {"tortie.lab/node": node}},
                          "spec": {"node": node, "interfaceName": "eth0",
                                   "expectedIPs": addresses}})


def _namespace_profile(namespace: str) -> Resource:
    return load_resource({"apiVersion": "projectcalico.org/v3", "kind": "Profile",
                          "metadata": {"name": f"kns.{namespace}"},
                          "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}})


def _start_relay(state: LabState, datastore: str) -> str:
    """For an etcd datastore, a relay the agents reach from their namespaces; their URL."""
    scheme, _, endpoints = datastore.partition("://")
    path = STATE_DIR / "etcd.sock"
    proc = subprocess.Popen([sys.executable, "-m", "tortie.lab.relay", str(path), endpoints.strip("/")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    state.processes["relay"] = proc.pid
    state.save()
    for _ in range(100):
        if path.exists():
            return f"{scheme}://unix:{path}"
        time.sleep(0.05)
    raise LabError("the datastore relay did not start")


def up(spec: LabSpec, datastore: str | None, tortie: str, progress: Any = print, etcd: bool = False) -> LabState:
    """Create the lab, write its endpoints, start its agents and wait until they are ready.
    With ``etcd`` the lab runs a private etcd (kept in its state directory) as its datastore."""
    if LabState.load() is not None or _leftover_namespaces():
        down(progress=lambda _: None)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state = LabState(datastore or "")
    state.save()
    try:
        if etcd:
            server = EtcdServer(data_dir=str(STATE_DIR / "etcd"))
            try:
                server.start()
            finally:
                if server.pid is not None:
                    state.processes["etcd"] = server.pid
            state.datastore = server.url
            progress(f"etcd: {server.url} (private to the lab)")
        state.agent_datastore = state.datastore
        if state.datastore.startswith(("etcd://", "etcds://")):
            state.agent_datastore = _start_relay(state, state.datastore)
        state.save()
        fabric = Fabric(f"{PREFIX}-fabric")
        try:
            fabric.up()
        finally:
            state.namespaces += fabric.namespaces
            state.save()
        networks = []
        for index, node in enumerate(spec.nodes):
            workloads = [w for w in spec.workloads if w.node == node]
            members = [Workload(w.name, w.interface, w.addresses) for w in workloads]
            net = NodeNetwork(f"{PREFIX}-{node}", [], [], members, fabric=fabric.port(index))
            progress(f"node {node}: {len(workloads)} workloads")
            try:
                net.up()
            finally:
                state.namespaces += net.namespaces
                state.save()
            networks.append(net)
            assert net.fabric is not None
            state.nodes[node] = {"netns": net.node, "pid": None, "log": str(STATE_DIR / f"agent-{node}.log"),
                                 "addresses": list(net.fabric.addresses)}
            for w, lw in zip(workloads, net.workloads, strict=True):
                state.workloads[w.name] = {"netns": lw.netns, "node": node, "addresses": w.addresses,
                                           "namespace": w.namespace}
        fabric.connect(networks)
        with open_store(state.datastore) as store:
            client = ResourceClient(store)
            client.ensure_defaults()
            for resource in [_namespace_profile(ns) for ns in sorted({w.namespace for w in spec.workloads})] + [
                    _wep(w) for w in spec.workloads] + [
                    _hep(node, info["addresses"]) for node, info in state.nodes.items()]:
                client.apply(resource)
        for node, info in state.nodes.items():
            env = {**os.environ, "FELIX_HEALTHENABLED": "true", "FELIX_HEALTHPORT": str(HEALTH_PORT)}
            with open(info["log"], "ab") as log:
                proc = subprocess.Popen(["ip", "netns", "exec", info["netns"], tortie, "--datastore",
                                         state.agent_datastore, "agent", "--node", node], stdout=log,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
            info["pid"] = proc.pid
            state.save()
        wait(state, progress=progress)
    except (LabError, ResourceError, StoreError, OSError) as exc:
        progress(f"lab up failed: {' '.join(str(exc).split())}; cleaning up")
        down(progress=lambda _: None)
        if isinstance(exc, (OSError, ResourceError)):
            raise LabError(" ".join(str(exc).split())) from None
        raise
    return state


def agent_status(netns: str) -> dict[str, Any]:
    code = ("import json, urllib.request; "
            f"print(urllib.request.urlopen('http://localhost:{HEALTH_PORT}/status', timeout=2).read().decode())")
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=10)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def wait(state: LabState, timeout: float = 60, progress: Any = print) -> None:
    """Block until every agent has applied the store's current revision."""
    with open_store(state.datastore) as store:
        revision = store.revision()
    deadline = time.monotonic() + timeout
    pending = set(state.nodes)
    while pending:
        for node in sorted(pending):
            if agent_status(state.nodes[node]["netns"]).get("appliedRevision", -1) >= revision:
                pending.discard(node)
                progress(f"node {node}: agent ready at revision {revision}")
        if pending and time.monotonic() > deadline:
            logs = {n: Path(state.nodes[n]["log"]).read_text()[-800:] for n in pending}
            raise LabError(f"agents not ready after {timeout:.0f}s: {', '.join(sorted(pending))}\n{logs}")
        if pending:
            time.sleep(0.2)


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _ours(pid: int) -> bool:
    """Is this PID still a tortie agent (so we never signal a recycled PID)?"""
    cmdline = _cmdline(pid)
    return any(part.endswith(b"tortie") for part in cmdline) and b"agent" in cmdline


def _is(pid: int, what: str) -> bool:
    """Is this PID still the lab's etcd or relay?"""
    cmdline = _cmdline(pid)
    if what == "etcd":
        return bool(cmdline) and cmdline[0].endswith(b"etcd") and str(STATE_DIR).encode() in b" ".join(cmdline)
    return b"tortie.lab.relay" in cmdline


def _leftover_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    # "NAME (id: N)" per line; a name may hold spaces (a lab of an older, laxer tortie)
    return [re.sub(r" \(id: \d+\)$", "", line) for line in out.splitlines() if line.startswith(PREFIX + "-")]


def down(progress: Any = print) -> None:
    """Stop the lab's agents and delete everything it created, also after a crash."""
    state = LabState.load()
    if state is not None:
        for node, info in state.nodes.items():
            pid = info.get("pid")
            if pid and _ours(pid):
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    if not _ours(pid):
                        break
                    time.sleep(0.1)
                else:
                    os.kill(pid, signal.SIGKILL)
                progress(f"node {node}: agent stopped")
    for name in _leftover_namespaces():
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    if state is not None:
        for what, pid in state.processes.items():
            if _is(pid, what):
                stop_process(pid)
                progress(f"{what} stopped")
        for info in state.nodes.values():
            Path(info["log"]).unlink(missing_ok=True)
        LabState.path().unlink(missing_ok=True)
    shutil.rmtree(STATE_DIR / "etcd", ignore_errors=True)
    (STATE_DIR / "etcd.sock").unlink(missing_ok=True)
    progress("lab removed")


def namespace_of(state: LabState, name: str) -> str:
    if name in state.workloads:
        return state.workloads[name]["netns"]
    if name in state.nodes:
        return state.nodes[name]["netns"]
    raise LabError(f"no workload or node called {name!r} in the lab")
