"""Model details the scenario files do not reach: log prefixes, packet placement, what explain says."""

from __future__ import annotations

import pytest

from tortie.calc import Calculator
from tortie.config import expand_log_prefix
from tortie.model import evaluate, route
from tortie.resources import load_resource

from .scenarios import load_cases


@pytest.mark.parametrize("template,expected", [
    ("calico-packet", "calico-packet: "),
    ("", "calico-packet: "),
    ("%t/%k/%n", "sec/np/allow-db: "),
    ("%p", "prod/allow-db: "),
    ("100%% %x", "100% %x: "),
    ("a-very-long-prefix-for-%n-in-%t", "a-very-long-prefix-for-allow-"),  # cut to 29 bytes
])
def test_log_prefix_expansion(template: str, expected: str) -> None:
    got = expand_log_prefix(template, "sec", "np", "allow-db", "prod")
    assert got == expected
    assert len(got.encode()) <= 29


def test_profile_log_prefix_has_an_empty_tier() -> None:
    assert expand_log_prefix("[%t|%k|%n]", "", "pro", "kns.prod", None) == "[|pro|kns.prod]: "


def test_route_places_packets_by_their_addresses() -> None:
    docs = [load_resource(d).output() for d in [
        {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint", "metadata": {"name": "w", "namespace": "a"},
         "spec": {"node": "n1", "interfaceName": "caliw", "ipNetworks": ["198.18.0.1/32"]}},
        {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint", "metadata": {"name": "r", "namespace": "a"},
         "spec": {"node": "n2", "interfaceName": "calir", "ipNetworks": ["198.18.0.2/32"]}},
        {"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint", "metadata": {"name": "h"},
         "spec": {"node": "n1", "interfaceName": "eth0", "expectedIPs": ["198.18.1.1"]}},
    ]]
    calc = Calculator("n1")
    calc.load(docs)
    view = calc.view()
    assert route(view, "198.18.0.1", "198.18.0.2") == ("caliw", "eth0")  # to a remote workload
    assert route(view, "203.0.113.1", "198.18.0.1") == ("eth0", "caliw")  # from outside the cluster
    assert route(view, "198.18.0.1", "198.18.1.1") == ("caliw", None)  # to the host
    assert route(view, "198.18.1.1", "203.0.113.1") == (None, "eth0")  # from the host


@pytest.mark.parametrize("file,name,said", [
    ("services-http.yaml", "a Service side matches nothing; the http match is not enforced",
     "names Service sv/frontend: tortie knows no Kubernetes Services, and Calico matches nothing"),
    ("services-http.yaml", "a Service side matches nothing; the http match is not enforced",
     "rule 1 (Allow) matches (its http match is not enforced"),
    ("families.yaml", "IPv6 skips a rule whose notNets are all IPv4", "no IPv6 CIDR in destination notNets"),
    ("tier-defaults.yaml", "a Pass default action is no denial; the default tier allows",
     "tier audit: no policy decided: its defaultAction is Pass, on to the next tier (no denial)"),
    ("rule-sides.yaml", "from outside the cluster, the notSelector-only side does not match",
     "rule 0 (Deny) does not match: source 198.51.100.7 is not selected"),
])
def test_explain_states_what_calico_does(file: str, name: str, said: str) -> None:
    """issue 12: for each rule Calico enforces differently from what it says, the trace
    (what ``tortie explain`` prints) says what Calico does."""
    case = next(c for c in load_cases() if c.file == file and c.name == name)
    plan = case.plan()
    events = [e for step in evaluate(plan, case.build_packet(plan.view)).trace for e in step["events"]]
    assert any(said in e for e in events), events
