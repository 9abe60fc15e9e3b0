"""Hostile content (issue 15): whatever is written straight into the store, or given to the
CLI, the agent keeps running and enforcing the last good state, and the CLI answers with
one clear line.

The lab suite is a harness other classes add cases to: a ``Hostile`` names a key and the
bytes to put there (from what the key holds now); the harness writes them while a TCP
connection is carrying traffic, then checks with real packets that the agent is alive,
the last good state is enforced, a later legitimate change is applied, a restart
converges, and ``get``, ``delete`` and ``lab probe`` answer without a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tortie.agent import Agent
from tortie.calc import Calculator, NodeView, resource_id
from tortie.dataplane import rule_text
from tortie.datastore import InvalidValue, StoredResource, decode_stored, parse_key, resource_key
from tortie.lab.lab import HEALTH_PORT, LabState, WorkloadSpec, agent_status, wait
from tortie.lab.traffic import probe
from tortie.plan import build_plan
from tortie.render import render
from tortie.resources import (BY_KIND, FelixConfiguration, GlobalNetworkPolicy, GlobalNetworkSet, NetworkPolicy,
                              Profile, Resource, Tier, WorkloadEndpoint, load_resource)
from tortie.selector import SelectorError, parse
from tortie.store import Event, EventType, KeyValue, open_store

from .test_agent import CLIENT, ECHO_SERVER
from .wait import wait_until

TORTIE = str(Path(sys.executable).with_name("tortie"))
ROOT = Path(__file__).resolve().parent.parent
API = "projectcalico.org/v3"
NODE = "node-a"
SOURCES = ("backend", "frontend")  # the lab's policy lets only the backend reach database:5432


def _doc(kind: type[Resource], name: str, spec: Any, namespace: str | None = None,
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {}), **({"labels": labels} if labels else {})}
    return {"apiVersion": API, "kind": kind.KIND, "metadata": meta, "spec": spec}


def _allow_db(kind: type[Resource], name: str, namespace: str | None = None) -> dict[str, Any]:
    """A policy that would let everyone reach the database first, if it were ever enforced."""
    return _doc(kind, name, {"order": 0, "selector": 'role == "db"', "types": ["Ingress"],
                             "ingress": [{"action": "Allow"}]}, namespace)


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _with(current: dict[str, Any] | None, **changes: Any) -> bytes:
    assert current is not None, "the case changes a resource the lab has"
    return _json({**current, **changes})


def _spec(**changes: Any) -> Callable[[dict[str, Any] | None], bytes]:
    """The document at the key now, with ``changes`` in its spec."""
    def value(current: dict[str, Any] | None) -> bytes:
        assert current is not None, "the case changes a resource the lab has"
        return _json({**current, "spec": {**current["spec"], **changes}})
    return value


# --- the harness -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """One hostile value: ``value`` gives the bytes to store at the key of ``kind`` ``name``
    (in ``namespace``) from the document there now (None if there is none). ``logged`` is
    text the agent's log must show about it; ``absent`` names resources of the same kind
    that must not exist afterwards (a document that named them was not taken at its word).

    ``enforced`` is what the backend and the frontend get from the database afterwards: the
    last good state, or, for a value the agent takes and fails closed, both denied; ``taken``
    says the agent takes the value, so the model (which reads the store) agrees with the
    kernel. ``setup`` is applied with the CLI before the value is written and deleted after;
    ``excluded`` is text /readiness must show while the value is there."""

    id: str
    kind: type[Resource]
    name: str
    value: Callable[[dict[str, Any] | None], bytes]
    logged: str
    namespace: str | None = None
    absent: tuple[str, ...] = ()
    enforced: tuple[str, str] = ("allowed", "denied")
    taken: bool = False
    setup: tuple[dict[str, Any], ...] = ()
    excluded: str = ""

    @property
    def key(self) -> str:
        return resource_key(self.kind, self.name, self.namespace)

    def cli(self, *names: str) -> list[str]:
        return [self.kind.NAMES[0], *names, *(["-n", self.namespace] if self.namespace else [])]


DATABASE_WEP = f"{NODE.replace('-', '--')}-k8s-database-eth0"  # libcalico-go doubles the dashes of each part

HOSTILE = [
    # Class 3: values that used to stop the agent, at its next start or at once.
    Hostile("deep-json", GlobalNetworkPolicy, "deep", lambda _: b"[" * 100_000 + b"]" * 100_000,
            "nested deeper than"),
    Hostile("selector-of-50000-parentheses", GlobalNetworkPolicy, "parens",
            lambda _: _json(_doc(GlobalNetworkPolicy, "parens", {"selector": "(" * 50_000 + "all()" + ")" * 50_000})),
            "parentheses nested deeper than"),
    Hostile("kind-as-a-list", GlobalNetworkPolicy, "listkind",
            lambda _: _json({**_allow_db(GlobalNetworkPolicy, "listkind"), "kind": ["GlobalNetworkPolicy"]}),
            "its kind is"),
    Hostile("workload-spec-a-list", WorkloadEndpoint, DATABASE_WEP, lambda doc: _with(doc, spec=[]),
            "spec is a list", namespace="data"),
    Hostile("felixconfiguration-spec-a-string", FelixConfiguration, "default", lambda doc: _with(doc, spec="x"),
            "spec is a string"),
    Hostile("not-json-at-a-policy", GlobalNetworkPolicy, "database-access", lambda _: b"{not json",
            "not JSON"),
    # Class 5: identity comes from the key.
    Hostile("document-names-another-policy", GlobalNetworkPolicy, "harmless",
            lambda _: _json(_allow_db(GlobalNetworkPolicy, "zz-allow-all")), "metadata.name is 'zz-allow-all'",
            absent=("zz-allow-all",)),
    Hostile("document-of-another-kind", GlobalNetworkSet, "evil",
            lambda _: _json(_allow_db(GlobalNetworkPolicy, "evil")), "its kind is 'GlobalNetworkPolicy'"),
    Hostile("document-of-another-namespace", NetworkPolicy, "np-elsewhere",
            lambda _: _json(_allow_db(NetworkPolicy, "np-elsewhere", "data")), "metadata.namespace is 'data'",
            namespace="shop"),
    # Class 1: stored strings that would change what iptables-restore reads.
    *(Hostile(f"profile-{what}", WorkloadEndpoint, DATABASE_WEP, _spec(profiles=["kns.data", text]),
              "spec.profiles", namespace="data") for what, text in (("injects-a-line", "kns.shop\n-F"),
                                                                   ("breaks-the-quoting", 'x" -j ACCEPT #'))),
    # Class 2: a workload asks to send from others' addresses while the node allows no spoofing:
    # Felix counts the endpoint as missing, so it fails closed.
    Hostile("workload-asks-for-spoofed-sources", WorkloadEndpoint, DATABASE_WEP,
            _spec(allowSpoofedSourcePrefixes=["198.18.10.0/24"]),
            "workloadSourceSpoofing is not Any", namespace="data", enforced=("denied", "denied"), taken=True),
    # Class 4: values the kernel cannot take.
    Hostile("named-port-of-a-billion", WorkloadEndpoint, DATABASE_WEP,
            _spec(ports=[{"name": "pg", "protocol": "TCP", "port": 1_000_000_000}]),
            "port 1000000000 is not 1-65535", namespace="data"),
    Hostile("sets-over-max-ipset-size", FelixConfiguration, "default",
            _spec(maxIpsetSize=2),
            "more than maxIpsetSize 2", enforced=("denied", "denied"), taken=True,
            setup=(_doc(GlobalNetworkSet, "backend-peers", {"nets": ["198.18.12.0/28", "198.18.12.16/28"]},
                        labels={"app": "backend"}),),
            excluded="used by GlobalNetworkPolicy database-access; endpoint data/" + DATABASE_WEP + " fails closed"),
    # A rule iptables-restore refuses (1,500 notPorts: more arguments than its parser takes for
    # one rule): the policy denies what reaches it, the database fails closed, the rest converges.
    Hostile("policy-iptables-restore-refuses", GlobalNetworkPolicy, "database-access",
            _spec(ingress=[{"action": "Allow", "protocol": "TCP", "destination": {"notPorts": list(range(1, 1501))}}]),
            "GlobalNetworkPolicy database-access was refused by iptables-restore (Parser cannot handle more "
            "arguments)", enforced=("denied", "denied"),
            excluded="left out, denying every packet that reaches it; endpoint data/" + DATABASE_WEP + " fails closed"),
]

# A later legitimate change: the backend loses its access to the database, and the frontend
# its access to the backend's api port (seen also while the database fails closed).
LEGIT = _doc(GlobalNetworkPolicy, "legit-block-backend", {
    "order": 1, "selector": 'role == "db" || role == "api"', "types": ["Ingress"],
    "ingress": [{"action": "Deny", "protocol": "TCP", "source": {"selector": 'app == "backend"'}},
                {"action": "Deny", "protocol": "TCP", "source": {"selector": 'app == "frontend"'},
                 "destination": {"ports": [9000]}}]})


@dataclass
class Lab:
    """``tortie lab up`` with examples/lab.yaml and examples/policies.yaml, driven by the CLI."""

    tmp: Path
    env: dict[str, str] = field(init=False)
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)  # agents this harness restarted
    traffic: subprocess.Popen[str] | None = None
    echo: subprocess.Popen[str] | None = None

    def __post_init__(self) -> None:
        self.env = {**os.environ, "TORTIE_DATASTORE": f"sqlite://{self.tmp}/lab.db",
                    "TORTIE_LAB_DIR": str(self.tmp / "lab")}

    @property
    def state(self) -> dict[str, Any]:
        return json.loads((self.tmp / "lab" / "lab.json").read_text())  # type: ignore[no-any-return]

    def tortie(self, *args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([TORTIE, *args], env=self.env, capture_output=True, text=True, timeout=180)
        assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr
        return out

    def apply(self, doc: dict[str, Any]) -> None:
        path = self.tmp / "apply.json"
        path.write_text(json.dumps(doc))
        out = self.tortie("apply", "-f", str(path))
        assert out.returncode == 0, out.stdout

    def wait(self) -> None:
        """Until the agent has applied the store's revision (what ``tortie lab wait`` does)."""
        wait(LabState(**self.state), progress=lambda _: None)
        assert self.alive()

    def alive(self) -> bool:
        pid = self.state["nodes"][NODE]["pid"]
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def status(self) -> dict[str, Any]:
        return agent_status(self.state["nodes"][NODE]["netns"])

    def log(self) -> str:
        return Path(self.state["nodes"][NODE]["log"]).read_text()

    def probes(self, pairs: list[tuple[str, str]]) -> list[tuple[str, bool]]:
        """What the kernel does with a new connection from each source to its target (no two
        to one target: a listener holds the port), all at once, and whether the model (from
        the store) agrees; when it does not, the probe must name the stored values whose last
        good version the agent may still enforce, or what the agent left out."""
        running = [subprocess.Popen([TORTIE, "lab", "probe", source, target, "-o", "json"], env=self.env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for source, target in pairs]
        out = []
        for proc in running:
            stdout, stderr = proc.communicate(timeout=180)
            assert proc.returncode in (0, 3) and "Traceback" not in stdout + stderr, stdout + stderr
            data = json.loads(stdout)
            assert data["agree"] or data.get("unseen") or data.get("excluded"), data
            out.append((data["kernel"], data["agree"]))
        return out

    def expect(self, enforced: tuple[str | None, str | None], model_agrees: bool = True,
               api: str | None = None) -> None:
        """The backend's and the frontend's new connections to the database are ``enforced``,
        the frontend's to the backend's api port ``api`` (None: not looked at), and the
        connection that carries traffic through every case still flows."""
        wanted = [(source, "database:5432", want) for source, want in zip(SOURCES, enforced, strict=True)]
        wanted = [w for w in [*wanted, ("frontend", "backend:9000", api)] if w[2] is not None]
        while wanted:  # in rounds of distinct targets
            round_, targets = [], set()
            for w in wanted:
                if w[1] not in targets:
                    round_.append(w)
                    targets.add(w[1])
            wanted = [w for w in wanted if w not in round_]
            for (source, target, want), (kernel, agree) in zip(
                    round_, self.probes([(source, target) for source, target, _ in round_]), strict=True):
                assert kernel == want, f"{source} -> {target} is {kernel}, want {want}"
                assert agree or not model_agrees, f"{source} -> {target}: the model disagrees"
        self.ping()

    def readiness(self) -> tuple[int, dict[str, Any]]:
        code = ("import json, urllib.error, urllib.request\n"
                "try:\n"
                f"    r = urllib.request.urlopen('http://localhost:{HEALTH_PORT}/readiness', timeout=2)\n"
                "except urllib.error.HTTPError as e:\n"
                "    r = e\n"
                "print(r.status, r.read().decode())")
        out = subprocess.run(["ip", "netns", "exec", self.state["nodes"][NODE]["netns"], sys.executable, "-c", code],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        status, _, body = out.partition(" ")
        return int(status), json.loads(body)

    def filter_table(self) -> str:
        return subprocess.run(["ip", "netns", "exec", self.state["nodes"][NODE]["netns"], "iptables-nft-save", "-t",
                               "filter"], capture_output=True, text=True, timeout=10, check=True).stdout

    def start_traffic(self) -> None:
        """A TCP connection frontend -> backend that carries traffic through every case."""
        workloads = self.state["workloads"]
        address = workloads["backend"]["addresses"][0]
        self.echo = subprocess.Popen(["ip", "netns", "exec", workloads["backend"]["netns"], sys.executable, "-c",
                                      ECHO_SERVER, address, "9001"], stdout=subprocess.PIPE, text=True)
        assert self.echo.stdout is not None and self.echo.stdout.readline().strip() == "READY"
        self.traffic = subprocess.Popen(["ip", "netns", "exec", workloads["frontend"]["netns"], sys.executable, "-c",
                                         CLIENT, address, "9001"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        assert self.traffic.stdout is not None and self.traffic.stdout.readline().strip() == "CONNECTED"

    def ping(self) -> None:
        assert self.traffic is not None and self.traffic.stdin is not None and self.traffic.stdout is not None
        self.traffic.stdin.write("ping\n")
        self.traffic.stdin.flush()
        assert self.traffic.stdout.readline().strip() == "ECHO ping"

    def restart(self) -> None:
        """kill -9 the node's agent and start it again as ``lab up`` does."""
        state = self.state
        info = state["nodes"][NODE]
        os.kill(info["pid"], signal.SIGKILL)
        for agent in self.agents:
            agent.poll()  # reap the one this harness started, if it was that one
        wait_until("the agent is gone", self.alive, lambda alive: not alive, timeout=30)
        env = {**os.environ, "FELIX_HEALTHENABLED": "true", "FELIX_HEALTHPORT": str(HEALTH_PORT)}
        with open(info["log"], "ab") as log:
            agent = subprocess.Popen(["ip", "netns", "exec", info["netns"], TORTIE, "--datastore",
                                      state["agent_datastore"], "agent", "--node", NODE], stdout=log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.agents.append(agent)
        info["pid"] = agent.pid
        (self.tmp / "lab" / "lab.json").write_text(json.dumps(state, indent=2))
        self.wait()

    def read(self, key: str) -> bytes | None:
        with open_store(self.env["TORTIE_DATASTORE"]) as store:
            kv = store.get(key)
        return kv.value if kv is not None else None

    def write(self, key: str, value: bytes) -> None:
        """Straight into the store, around every check of the API."""
        with open_store(self.env["TORTIE_DATASTORE"]) as store:
            if store.get(key) is None:
                store.create(key, value)
            else:
                store.update(key, value)

    def close(self) -> None:
        for proc in (self.traffic, self.echo):
            if proc is not None:
                proc.kill()
                proc.wait()
        subprocess.run([TORTIE, "lab", "down"], env=self.env, capture_output=True, timeout=120)
        for agent in self.agents:
            agent.wait(timeout=30)


# Someone else's rule in the node's filter table: nothing tortie writes may remove it.
FOREIGN = ["INPUT", "-p", "udp", "--dport", "9", "-m", "comment", "--comment", "not-tortie", "-j", "DROP"]
BASELINE = ("allowed", "denied")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One lab for every case: each case leaves it as it found it (its last check says so)."""
    lab = Lab(tmp_path_factory.mktemp("hostile"))
    try:
        up = lab.tortie("lab", "up", "-f", str(ROOT / "examples" / "lab.yaml"))
        assert up.returncode == 0, up.stdout + up.stderr
        assert lab.tortie("apply", "-f", str(ROOT / "examples" / "policies.yaml")).returncode == 0
        subprocess.run(["ip", "netns", "exec", lab.state["nodes"][NODE]["netns"], "iptables-nft", "-A", *FOREIGN],
                       check=True, capture_output=True, timeout=10)
        lab.wait()
        lab.start_traffic()
        lab.expect(BASELINE, api="allowed")
        yield lab
    finally:
        lab.close()


def test_a_workload_in_the_lab_cannot_send_as_another(lab: Lab) -> None:
    """Class 2 in the lab the agent runs: the backend lets anyone in, yet UDP the frontend
    forges with the database's source never arrives, while the database's own does."""
    workloads = lab.state["workloads"]
    frontend, database, backend = (workloads[n] for n in ("frontend", "database", "backend"))
    for family in (4, 6):
        source, target = (next(a for a in w["addresses"] if (":" in a) == (family == 6)) for w in (database, backend))
        forged = probe(frontend["netns"], source, backend["netns"], target, "udp-forged", 41000 + family, "9100")
        honest = probe(database["netns"], source, backend["netns"], target, "udp-forged", 41010 + family, "9100")
        assert (forged.arrived, honest.arrived) == (False, True), f"IPv{family}"
    node = lab.state["nodes"][NODE]["netns"]
    interfaces = [WorkloadSpec(name, workloads[name]["namespace"], NODE, "").interface
                  for name in ("frontend", "database", "backend")]
    values = subprocess.run(["ip", "netns", "exec", node, "sysctl", "-n",
                             *(f"net/ipv4/conf/{iface}/rp_filter" for iface in interfaces)],
                            capture_output=True, text=True, check=True, timeout=10).stdout.split()
    assert values == ["1", "1", "1"]  # strict, as the agent keeps them


@pytest.mark.parametrize("case", HOSTILE, ids=[c.id for c in HOSTILE])
def test_hostile_value_written_straight_into_the_store(lab: Lab, case: Hostile) -> None:
    for doc in case.setup:
        lab.apply(doc)
    original = lab.read(case.key)
    current = decode_stored(KeyValue(case.key, original, 1, 1, 1)) if original is not None else None
    lab.write(case.key, case.value(current.doc if isinstance(current, StoredResource) else None))
    # The model reads the store, so it cannot know a last good version that the store lost.
    model_agrees = original is None or case.taken
    try:
        # Alive, the value reported once, the last good state (or, for what the kernel cannot
        # take, a closed endpoint) enforced by the kernel, health saying what is wrong.
        lab.wait()
        assert case.logged in lab.log()
        invalid = decode_stored(KeyValue(case.key, lab.read(case.key) or b"", 1, 1, 1))
        if isinstance(invalid, InvalidValue):
            assert any(case.key in p for p in lab.status()["problems"])
        lab.expect(case.enforced, model_agrees)
        code, ready = lab.readiness()
        assert code == 200 and ready["ready"] is True
        if case.excluded:
            assert any(case.excluded in text for text in ready["excluded"]), ready
        assert "not-tortie" in lab.filter_table()

        # The CLI answers: a list shows the rest and says what it skipped; the value itself
        # is refused by name; nothing a document claimed to be exists.
        listed = lab.tortie("get", *case.cli(), "-o", "yaml")
        assert listed.returncode == 0, listed.stdout
        if isinstance(invalid, InvalidValue):
            assert case.key in listed.stderr and len(listed.stderr.splitlines()) == 1
            named = lab.tortie("get", *case.cli(case.name))
            assert named.returncode == 1 and len(named.stderr.splitlines()) == 1  # errors: stderr
            assert "is not valid in the datastore" in named.stderr
        for name in case.absent:
            missing = lab.tortie("get", *case.cli(name))
            assert missing.returncode == 1 and "resource does not exist" in missing.stderr

        # A later legitimate change is applied, and a restart converges.
        lab.apply(LEGIT)
        lab.wait()
        lab.expect(("denied", None), model_agrees, api="denied")
        lab.restart()
        assert lab.status()["ready"] is True
        # Replaced by an invalid value, the key counts as absent now; the model, which sees the
        # store but not the kernel's interfaces, cannot tell a workload that lost its endpoint.
        lab.expect(("denied", None), model_agrees, api="denied")
        assert "not-tortie" in lab.filter_table()
    finally:
        # An operator can remove the value with the CLI; the lab gets its state back.
        deleted = lab.tortie("delete", *case.cli(case.name))
        assert deleted.returncode == 0, deleted.stdout
        if original is not None:
            lab.write(case.key, original)
        lab.tortie("delete", "gnp", "legit-block-backend")
        for doc in case.setup:
            lab.tortie("delete", BY_KIND[doc["kind"]].NAMES[0], doc["metadata"]["name"])
        lab.wait()
    lab.expect(BASELINE, api="allowed")
    assert lab.readiness()[1]["excluded"] == []


# --- the CLI reads and expands within bounds (class 6) ---------------------------------------

LAUGHS = "".join([
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: lol}\nspec:\n",
    '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
    *(f"  {b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)),
])
ANNOTATED = "".join([
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: lol\n  annotations:\n",
    '    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
    *(f"    {b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcde", "bcdef", strict=True)),
])
POLICY = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: "
BAD_INPUTS = {
    "billion-laughs": (LAUGHS, "excessive aliasing"),
    "aliases-in-annotations": (ANNOTATED, "metadata.annotations"),
    "nested-50000-deep": ("[" * 50_000 + "]" * 50_000, "nest"),
    "order-of-5001-digits": (POLICY + "{order: " + "9" * 5001 + "}\n", "a number of 5,001 characters"),
    "selector-of-50000-parentheses": (POLICY + "{selector: '" + "(" * 50_000 + "all()" + ")" * 50_000 + "'}\n",
                                      "parentheses nested deeper than 50"),
    "bad-float": (POLICY + "{order: !!float abc}\n", "'abc' is not a valid float"),
}


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TORTIE_DATASTORE": f"sqlite://{tmp_path}/cli.db"}


def _nothing_stored(env: dict[str, str]) -> None:
    out = subprocess.run([TORTIE, "get", "gnp", "-o", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and json.loads(out.stdout)["items"] == []


def _one_clear_line(out: subprocess.CompletedProcess[bytes], reason: str) -> None:
    text = out.stdout.decode() + out.stderr.decode()
    assert out.returncode == 1 and "Traceback" not in text, text
    assert reason in text and len(text) < 2000, text[:2000]


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_cli_refuses_unbounded_input_with_one_clear_line(cli_env: dict[str, str], tmp_path: Path, name: str) -> None:
    text, reason = BAD_INPUTS[name]
    path = tmp_path / "input.yaml"
    path.write_text(text)
    out = subprocess.run([TORTIE, "apply", "-f", str(path)], env=cli_env, capture_output=True, timeout=60)
    _one_clear_line(out, reason)
    _nothing_stored(cli_env)


def test_cli_reads_no_more_than_the_limit_from_devices_and_pipes(cli_env: dict[str, str]) -> None:
    out = subprocess.run([TORTIE, "apply", "-f", "/dev/zero"], env=cli_env, capture_output=True, timeout=120)
    _one_clear_line(out, "input is larger than 64 MiB")
    with open("/dev/zero", "rb") as zero:
        out = subprocess.run([TORTIE, "apply", "-f", "-"], stdin=zero, env=cli_env, capture_output=True, timeout=120)
    _one_clear_line(out, "input is larger than 64 MiB")
    proc = subprocess.Popen([TORTIE, "apply", "-f", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli_env)
    assert proc.stdin is not None
    chunk = b"x" * (1 << 20)
    try:
        while proc.poll() is None:  # an endless pipe: the CLI stops reading at the limit
            proc.stdin.write(chunk)
    except BrokenPipeError:
        pass
    stdout, stderr = proc.communicate(timeout=120)
    _one_clear_line(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
                    "input is larger than 64 MiB")
    _nothing_stored(cli_env)


# --- one decoding step, unit by unit (classes 3 and 5) ----------------------------------------

GNP_KEY = resource_key(GlobalNetworkPolicy, "p", None)


def _decoded(value: bytes, key: str = GNP_KEY) -> StoredResource | InvalidValue | None:
    return decode_stored(KeyValue(key, value, 7, 9, 2))


def test_a_valid_value_decodes_with_its_revision() -> None:
    decoded = _decoded(_json(_allow_db(GlobalNetworkPolicy, "p")))
    assert isinstance(decoded, StoredResource)
    assert (decoded.kind, decoded.name, decoded.namespace) == (GlobalNetworkPolicy, "p", None)
    assert decoded.doc["metadata"] == {"name": "p", "resourceVersion": "9"}


@pytest.mark.parametrize("value, reason", [
    (b"{not json", "not JSON (Expecting property name enclosed in double quotes at character 1)"),
    (b"\xff", "not UTF-8 text (invalid byte at offset 0)"),
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper than 32 levels"),
    (b"[1, 2]", "the value is a JSON list, not an object"),
    (b'{"x": NaN}', "NaN is not JSON"),
    (b'{"x": 1e999}', "a number out of range (1e999)"),
    (b'{"x": ' + b"9" * 5001 + b"}", "a number of 5001 characters (at most 100)"),
    (_json({**_allow_db(GlobalNetworkPolicy, "p"), "kind": ["GlobalNetworkPolicy"]}),
     """its kind is '["GlobalNetworkPolicy"]', the key's is GlobalNetworkPolicy"""),
    (_json(_allow_db(GlobalNetworkPolicy, "zz-allow-all")),
     "metadata.name is 'zz-allow-all', the key's name is 'p'"),
    (_json(_allow_db(NetworkPolicy, "p")), "its kind is 'NetworkPolicy', the key's is GlobalNetworkPolicy"),
    (_json(_allow_db(GlobalNetworkPolicy, "p", "ns")), "metadata.namespace is 'ns', the key's namespace is none"),
    (_json({**_allow_db(GlobalNetworkPolicy, "p"), "apiVersion": "v1"}), "apiVersion is 'v1', not projectcalico"),
    (_json({**_allow_db(GlobalNetworkPolicy, "p"), "spec": "x"}), "spec is a string, not a map"),
    (_json({**_allow_db(GlobalNetworkPolicy, "p"), "metadata": []}), "metadata is a list, not a map"),
])
def test_an_invalid_value_is_one_line_about_its_key(value: bytes, reason: str) -> None:
    decoded = _decoded(value)
    assert isinstance(decoded, InvalidValue)
    assert str(decoded).startswith(f"{GNP_KEY} holds no valid GlobalNetworkPolicy: ")
    assert reason in decoded.reason and "\n" not in str(decoded) and len(str(decoded)) < 300


def test_keys_that_are_not_a_resource_are_not_decoded() -> None:
    prefix = "/calico/resources/v3/projectcalico.org/"
    for key in ("/tortie/initialised", prefix + "mysteries/x", prefix + "globalnetworkpolicies/",
                prefix + "globalnetworkpolicies/a/b", prefix + "networkpolicies/only-a-name",
                prefix + "networkpolicies/ns/"):
        assert _decoded(b"{}", key) is None


@given(st.binary(max_size=200))
def test_no_bytes_make_the_decoder_raise(value: bytes) -> None:
    assert isinstance(_decoded(value), (StoredResource, InvalidValue))


def test_selector_nesting_is_bounded_with_a_clear_error() -> None:
    assert parse("(" * 50 + "a == 'x'" + ")" * 50).matches({"a": "x"})
    with pytest.raises(SelectorError, match="parentheses nested deeper than 50 at offset 50"):
        parse("(" * 50_000 + "all()" + ")" * 50_000)


def test_two_workloads_naming_one_interface_render_one_dispatch_entry() -> None:
    calc = Calculator("n1")
    calc.load([load_resource(_doc(WorkloadEndpoint, name, {"node": "n1", "interfaceName": "cali1111",
                                                          "ipNetworks": [address]}, "prod")).output()
               for name, address in (("b", "10.65.0.11/32"), ("a", "10.65.0.10/32"))])
    agent = Agent("n1", "sqlite:///nonexistent/unused.db", "/nonexistent", env=ENV)
    rendered = render(build_plan(calc.view(), agent.settings))  # this raised TypeError: the property found it
    assert "cali-tw-cali1111" in rendered.tables[(4, "filter")].chains
    dispatch = rendered.tables[(4, "filter")].chains["cali-to-wl-dispatch"]
    assert sum("cali1111" in rule_text(rule) for rule in dispatch.rules) == 1


# --- random values at random keys never stop the agent (property) ---------------------------

WORLD = [load_resource(d).output() for d in [
    _doc(WorkloadEndpoint, "web", {"node": "n1", "interfaceName": "cali1111", "ipNetworks": ["10.65.0.10/32"],
                                   "profiles": ["kns.prod"]}, "prod", {"role": "web"}),
    _doc(WorkloadEndpoint, "db", {"node": "n1", "interfaceName": "cali2222", "ipNetworks": ["10.65.0.20/32"],
                                  "profiles": ["kns.prod"], "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}]},
         "prod", {"role": "db"}),
    _doc(WorkloadEndpoint, "far", {"node": "n2", "interfaceName": "cali5555", "ipNetworks": ["10.65.1.5/32"]}, "prod",
         {"role": "web"}),
    _doc(Profile, "kns.prod", {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}),
    _doc(Tier, "security", {"order": 10}),
    _doc(NetworkPolicy, "db-access", {"selector": 'role == "db"', "ingress": [
        {"action": "Allow", "protocol": "TCP", "source": {"selector": 'role == "web"'},
         "destination": {"ports": ["pg"]}}]}, "prod"),
    _doc(GlobalNetworkPolicy, "security.no-bad", {"tier": "security", "selector": "all()", "ingress": [
        {"action": "Deny", "source": {"selector": 'set == "bad"'}}, {"action": "Pass"}]}),
    _doc(GlobalNetworkSet, "bad", {"nets": ["203.0.113.0/24"]}, labels={"set": "bad"}),
    _doc(FelixConfiguration, "default", {"dropActionOverride": "LogAndDrop"}),
]]
ENV = {"FELIX_HEALTHENABLED": "false", "FELIX_PROMETHEUSREPORTERENABLED": "false",
       "FELIX_PROMETHEUSMETRICSENABLED": "false"}


def _key(doc: dict[str, Any]) -> str:
    meta = doc["metadata"]
    return resource_key(BY_KIND[doc["kind"]], meta["name"], meta.get("namespace"))


WORLD_KEYS = [_key(d) for d in WORLD]
NEW_KEYS = [resource_key(WorkloadEndpoint, "new", "prod"), resource_key(NetworkPolicy, "new", "other"),
            resource_key(GlobalNetworkPolicy, "new", None), resource_key(GlobalNetworkSet, "new", None),
            resource_key(FelixConfiguration, "node.n1", None), "/calico/resources/v3/projectcalico.org/profiles/new",
            "/calico/resources/v3/projectcalico.org/tiers/new", "/calico/resources/v3/projectcalico.org/x/y"]

def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=12) | st.sampled_from(["all()", "(((", "TCP", "10.0.0.0/8", "n1", "prod"]),
                    _containers, max_leaves=25)
DEEP = st.integers(1, 100_000).flatmap(lambda n: st.sampled_from([b"[" * n + b"]" * n,
                                                                  b'{"a":' * n + b"1" + b"}" * n]))


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, child in children:
        yield from _paths(child, (*at, k))


def _part(value: Any, path: tuple[Any, ...]) -> Any:
    return _part(value[path[0]], path[1:]) if path else value


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


PARTS = [_part(d, path) for d in WORLD for path in _paths(d)]  # well-typed somewhere: often valid elsewhere too


EDITS: dict[str, list[Any]] = {
    "labels": [{"role": "db"}, {"role": "web"}, {"set": "bad"}, {}], "selector": ['role == "web"', "all()", "has(set)"],
    "ipNetworks": [["10.65.0.30/32"], ["10.65.0.10/32"], []], "nets": [["198.51.100.0/24"], ["10.65.0.0/16"]],
    "order": [1, 5, 100], "node": ["n1", "n2"], "action": ["Allow", "Deny", "Pass", "Log"], "profiles": [[], ["kns.prod"]],
}


@st.composite
def hostile_writes(draw: st.DrawFn) -> tuple[str, bytes]:
    key = draw(st.sampled_from(WORLD_KEYS + NEW_KEYS))
    how = draw(st.sampled_from(["mutate", "mutate", "edit", "edit", "json", "deep", "bytes"]))
    if how == "json":
        return key, _json(draw(JSON))
    if how == "deep":
        return key, draw(DEEP)
    if how == "bytes":
        return key, draw(st.binary(max_size=40))
    # A real document of the key's kind and identity (now and then of another), one part changed.
    at = parse_key(key)
    same = [d for d in WORLD if at is not None and d["kind"] == at.kind.KIND]
    other_kind = not same or draw(st.integers(0, 4)) == 0
    template = draw(st.sampled_from(WORLD if other_kind else same))
    if at is not None and template["kind"] == at.kind.KIND:
        identity = {"name": at.name, **({"namespace": at.namespace} if at.namespace else {})}
        template = {**template, "metadata": {**{k: v for k, v in template["metadata"].items() if k != "namespace"},
                                             **identity}}
    if how == "edit":  # a change that is usually valid: the agent must then take it, and only it
        edits = [path for path in _paths(template) if path and path[-1] in EDITS]
        if edits:
            path = draw(st.sampled_from(edits))
            return key, _json(_replace(template, path, draw(st.sampled_from(EDITS[path[-1]]))))
    path = draw(st.sampled_from(list(_paths(template))))
    part = _part(template, path)
    alike = [p for p in PARTS if type(p) is type(part)]  # often valid: the agent must then take it
    return key, _json(_replace(template, path, draw(JSON | st.sampled_from(PARTS) | st.sampled_from(alike))))


def _put(key: str, value: bytes, revision: int) -> Event:
    return Event(EventType.PUT, KeyValue(key, value, revision, revision, 1))


def _enforced(agent: Agent) -> tuple[Any, Any]:
    """What the agent would program: its view and the tables rendered from it."""
    view: NodeView = agent._calc.view()  # noqa: SLF001 - the agent's own calc, driven in-process
    rendered = render(build_plan(view, agent.settings))
    return _comparable(view), (rendered.tables, rendered.ipsets)


def _comparable(view: NodeView) -> Any:
    return ({k: (dict(e.labels), dict(e.tiers)) for k, e in view.endpoints.items()}, set(view.policies),
            set(view.profiles), {k: s.members for k, s in view.ipsets.items()}, dict(view.owners))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_writes())
def test_random_values_at_random_keys_never_stop_the_agent_or_change_unrelated_enforcement(
        write: tuple[str, bytes]) -> None:
    key, value = write
    agent = Agent("n1", "sqlite:///nonexistent/unused.db", "/nonexistent", env=ENV)
    for revision, doc in enumerate(WORLD, 1):
        if agent._handle_guarded(_put(_key(doc), _json(doc), revision)):  # noqa: SLF001
            agent._apply_config("test")  # noqa: SLF001
    before, config = _enforced(agent), agent.config
    if agent._handle_guarded(_put(key, value, 100)):  # noqa: SLF001 - what the loop does with one event
        agent._apply_config("test")  # noqa: SLF001
    # Nothing was left to the catch-all: every value was decoded, or refused, by design.
    assert not any("could not be applied" in p for p in agent.status.invalid.values())
    assert not any("cannot be read (" in p for p in agent._calc.problems())  # noqa: SLF001
    decoded = decode_stored(KeyValue(key, value, 100, 100, 1))
    if decoded is None or decoded.kind is FelixConfiguration:
        if not isinstance(decoded, StoredResource):
            assert agent.config == config  # the last good configuration stays
        return
    # The same world loaded from scratch, with the value as it stands: if it is refused there
    # too, the agent enforces exactly what it did before (the last good version of its key
    # included); if it is taken, exactly what a fresh start would.
    fresh = Calculator("n1")
    others: list[StoredResource | dict[str, Any]] = [d for k, d in zip(WORLD_KEYS, WORLD, strict=True) if k != key]
    fresh.load(others + ([decoded] if isinstance(decoded, StoredResource) else []))
    kind, address = resource_id(decoded)
    refused = isinstance(decoded, InvalidValue) or any(p.startswith(f"{kind} {address} is ignored")
                                                       for p in fresh.problems())
    event(f"{decoded.kind.KIND} {'refused' if refused else 'taken'}")
    if refused:
        assert _enforced(agent) == before
    else:
        assert _enforced(agent)[0] == _comparable(fresh.view())
