"""The lab commands end to end: up, wait, probe (kernel against model), exec, down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tortie.lab import LabError, LabSpec
from tortie.lab.lab import namespace_prefix

TORTIE = str(Path(sys.executable).with_name("tortie"))
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    environment = {**os.environ, "TORTIE_DATASTORE": f"sqlite://{tmp_path}/lab.db",
                   "TORTIE_LAB_DIR": str(tmp_path / "lab")}
    try:
        yield environment
    finally:
        subprocess.run([TORTIE, "lab", "down"], env=environment, capture_output=True, timeout=60)


def tortie(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TORTIE, *args], env=env, capture_output=True, text=True, timeout=120)


def namespaces(env: dict[str, str]) -> list[str]:
    prefix = namespace_prefix(Path(env["TORTIE_LAB_DIR"])) + "-"
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def test_lab_lifecycle_and_probes(env: dict[str, str]) -> None:
    up = tortie(env, "lab", "up", "-f", str(ROOT / "examples" / "lab.yaml"))
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Lab up: 1 nodes, 3 workloads" in up.stdout
    assert len(namespaces(env)) == 5  # node, outside, three workloads
    assert tortie(env, "apply", "-f", str(ROOT / "examples" / "policies.yaml")).returncode == 0
    assert tortie(env, "lab", "wait").returncode == 0
    allowed = tortie(env, "lab", "probe", "backend", "database:5432")
    assert (allowed.returncode, allowed.stdout.split()[0]) == (0, "ALLOWED")
    denied = tortie(env, "lab", "probe", "frontend", "database:5432/TCP", "-o", "json")
    assert denied.returncode == 0
    data = json.loads(denied.stdout)
    assert (data["kernel"], data["model"], data["agree"]) == ("denied", "denied", True)
    v6 = tortie(env, "lab", "probe", "-6", "frontend", "backend:9000")
    assert v6.stdout.split()[0] == "ALLOWED"
    udp = tortie(env, "lab", "probe", "frontend", "backend:53/UDP")
    assert udp.stdout.split()[0] == "ALLOWED"
    # the same datagram from frontend as the database: anti-spoofing drops it, as the model says
    spoofed = json.loads(tortie(env, "lab", "probe", "frontend", "backend:53/UDP", "--src", "198.18.20.30",
                                "-o", "json").stdout)
    assert (spoofed["kernel"], spoofed["agree"], spoofed["hops"][0]["cause"].split(" on ")[0]) == (
        "denied", True, "spoofed source")
    assert tortie(env, "patch", "felixconfig", "default", "-p",
                  '{"spec":{"dropActionOverride":"LogAndDrop"}}').returncode == 0
    assert tortie(env, "lab", "wait").returncode == 0
    logged = json.loads(tortie(env, "lab", "probe", "frontend", "database/ICMP", "-o", "json").stdout)
    assert logged["kernel"] == "denied" and logged["agree"]
    assert logged["logs"] and logged["logs"][0].startswith("calico-drop: ") and "PROTO=ICMP" in logged["logs"][0]
    out = tortie(env, "lab", "exec", "frontend", "--", "ip", "-br", "addr", "show", "eth0")
    assert "198.18.10.10/32" in out.stdout
    assert tortie(env, "lab", "probe", "frontend", "nobody:80").returncode == 1
    down = tortie(env, "lab", "down")
    assert down.returncode == 0 and namespaces(env) == []


def test_lab_down_cleans_up_after_a_crash(env: dict[str, str]) -> None:
    assert tortie(env, "lab", "up", "-f", str(ROOT / "examples" / "lab.yaml")).returncode == 0
    state = Path(env["TORTIE_LAB_DIR"]) / "lab.json"
    pid = json.loads(state.read_text())["nodes"]["node-a"]["pid"]
    os.kill(pid, 9)
    state.unlink()  # as if the machine lost the state file too
    assert namespaces(env)
    assert tortie(env, "lab", "down").returncode == 0
    assert namespaces(env) == []


def test_bad_lab_files(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [{name: a}]\nworkloads: [{name: w, namespace: x, node: a, ipv4: 10.0.0.1}]\n")
    out = tortie(env, "lab", "up", "-f", str(bad))
    assert out.returncode == 1 and "outside 198.18.0.0/15" in out.stderr  # errors: stderr, as calicoctl's
    bad.write_text("nodes: [{name: a}]\nworkloads: [{name: w, namespace: x, node: b, ipv4: 198.18.0.1}]\n")
    assert "unknown node b" in tortie(env, "lab", "up", "-f", str(bad)).stderr
    assert namespaces(env) == []


def test_a_lab_file_with_a_bad_name_creates_nothing_and_says_so_in_one_line(env: dict[str, str],
                                                                            tmp_path: Path) -> None:
    bad = tmp_path / "l6.yaml"
    bad.write_text('nodes:\n- name: "N 1!"\nworkloads: []\n')
    for _ in range(2):  # nothing left behind that would fail the next run differently
        out = tortie(env, "lab", "up", "-f", str(bad))
        assert (out.returncode, out.stdout) == (1, ""), out.stdout
        assert out.stderr.startswith(f"Failed to start the lab: {bad}: node 'N 1!': not a valid name: a lowercase "
                                     "RFC 1123 subdomain") and out.stderr.count("\n") == 1, out.stderr
        assert namespaces(env) == []


WORKLOAD = "{name: w, namespace: x, node: a, ipv4: 198.18.0.1"
BAD_LABS = {
    "nodes: []\n": "a lab needs at least one node",
    "nodes: [a]\n": "'nodes' must be a list of {name: NAME}",
    f"nodes: [{{name: a}}]\nworkloads: [{WORKLOAD}, labels: {{'bad key!': v}}}}]\n":
        "workload w: label key 'bad key!': name part must consist of alphanumeric characters",
    f"nodes: [{{name: a}}]\nworkloads: [{WORKLOAD}, labels: {{a: 'b c'}}}}]\n":
        "workload w: label a: value 'b c': a valid label must be an empty string",
    f"nodes: [{{name: a}}]\nworkloads: [{WORKLOAD}, labels: {{a: 1}}}}]\n": "workload w: labels must map strings",
    f"nodes: [{{name: a}}]\nworkloads: [{WORKLOAD}}}, {{name: v, namespace: x, node: a, ipv4: 198.18.0.1}}]\n":
        "workload v: 198.18.0.1 is already workload w's",
    f"nodes: [{{name: a}}]\nworkloads: [{WORKLOAD}, ipv6: '2001:db8::1'}}, {{name: v, namespace: x, node: a, "
    "ipv4: 198.18.0.2, ipv6: '2001:db8:0::1'}]\n": "workload v: 2001:db8:0::1 is already workload w's",
    "nodes: [{name: a}]\nworkloads: [{name: W, namespace: x, node: a, ipv4: 198.18.0.1}]\n":
        "workload 'W': not a valid name",
    "nodes: [{name: a}]\nworkloads: [{name: w, namespace: X, node: a, ipv4: 198.18.0.1}]\n":
        "workload w: namespace 'X' is not a valid namespace name",
    "nodes: [{name: a}]\nworkloads: [{name: w, namespace: x, node: a, ipv4: '2001:db8::1'}]\n":
        "workload w: ipv4 '2001:db8::1' is not an IPv4 address",
    "nodes: [{name: a}]\nworkloads: [{name: w, namespace: x, node: a, ipv4: 5}]\n": "workload w: ipv4 must be a string",
    f"nodes: [{{name: a}}]\nworkloads: [{WORKLOAD}, bogus: 1}}]\n":
        "workload: got an unexpected keyword argument 'bogus'",
    f"nodes: [{{name: a}}]\nworkloads: [{WORKLOAD}, ports: [{{name: Bad, port: 80}}]}}]\n":
        "workload w: error with the following fields: - Name = 'Bad'",
    "nodes: [{name: " + "a" * 250 + "}]\n": f"node '{'a' * 250}': name too long for a lab namespace",
}


def test_an_endless_lab_file_is_refused_at_the_input_bound() -> None:
    with pytest.raises(LabError, match="^cannot read lab file /dev/zero: larger than 64 MiB$"):
        LabSpec.load("/dev/zero")


@pytest.mark.parametrize("text", sorted(BAD_LABS))
def test_a_lab_file_is_checked_whole_before_anything_is_created(tmp_path: Path, text: str) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    with pytest.raises(LabError) as caught:
        LabSpec.load(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: {BAD_LABS[text]}") and "\n" not in message, message
