"""Every validation rule of resources.md and felixconfig.md, valid and invalid, plus round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tortie.resources import (ResourceError, UnknownFieldError, UnknownKindError, ValidationError, flatten,
                              format_duration, load_resource, parse_documents, parse_duration, to_json, to_yaml)

from .profiles import examples


def doc(kind: str, spec: Any = None, name: str = "r1", **meta: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": {"name": name, **meta}}
    if spec is not None:
        d["spec"] = spec
    return d


def gnp(*rules: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return doc("GlobalNetworkPolicy", {"ingress": list(rules), **spec} if rules else spec)


def error_of(d: dict[str, Any]) -> str:
    with pytest.raises(ResourceError) as info:
        load_resource(d)
    return str(info.value)


# --- documents --------------------------------------------------------------

def test_unknown_kind_and_version() -> None:
    assert error_of(doc("IPPool")) == "Unknown resource type (IPPool) and/or version (projectcalico.org/v3)"
    d = doc("Tier")
    d["apiVersion"] = "v1"
    assert error_of(d) == "Unknown resource type (Tier) and/or version (v1)"
    with pytest.raises(UnknownKindError):
        load_resource({"metadata": {"name": "x"}})


def test_unknown_fields_name_their_dotted_path() -> None:
    d = doc("GlobalNetworkPolicy", {"egress": [{"action": "Allow"}, {"action": "Allow"},
                                               {"action": "Allow", "destination": {"port": 80}}]})
    assert error_of(d) == 'unknown field "spec.egress[2].destination.port"'
    assert error_of(doc("Tier", metadata_extra=1)) == 'unknown field "metadata.metadata_extra"'
    assert error_of({**doc("Tier"), "status": {}}) == 'unknown field "status"'
    assert error_of(doc("Tier", generateName="x")) == 'unknown field "metadata.generateName"'


@pytest.mark.parametrize("rule", [{"action": "Allow", "http": {"methods": ["GET"]}},
                                  {"action": "Allow", "source": {"serviceAccounts": {"names": ["a"]}}}])
def test_unsupported_calico_fields_are_unknown(rule: dict) -> None:
    assert error_of(gnp(rule)).startswith("unknown field")


def test_spec_may_be_omitted_or_null() -> None:
    assert load_resource(doc("Tier")).output()["spec"] == {}
    assert load_resource({**doc("Tier"), "spec": None}).output()["spec"] == {}


def test_documents_streams_lists_and_kind_lists() -> None:
    text = """
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: a}
---
---
- apiVersion: projectcalico.org/v3
  kind: Tier
  metadata: {name: b}
---
apiVersion: projectcalico.org/v3
kind: TierList
items:
- {apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: c}}
"""
    names = [load_resource(d).name for d in flatten(parse_documents(text))]
    assert names == ["a", "b", "c"]
    as_json = '[{"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "j"}}]'
    assert [load_resource(d).name for d in flatten(parse_documents(as_json))] == ["j"]


# --- metadata ------------------------------------------------------------------

@pytest.mark.parametrize("kind,name,ok", [
    ("Profile", "a.b-c.d", True), ("Profile", "A", False), ("Profile", "a..b", False),
    ("Profile", "-a", False), ("Profile", "a" * 63 + "." + "b" * 63, True), ("Profile", "a" * 64, False),
    ("Profile", ".".join(["a" * 60] * 5), False),
    ("Tier", "sec-1", True), ("Tier", "sec.1", False), ("Tier", "a" * 64, False),
    ("FelixConfiguration", "node.my-host", True), ("GlobalNetworkSet", "x_y", False),
])
def test_name_rules(kind: str, name: str, ok: bool) -> None:
    d = doc(kind, {"node": "n", "interfaceName": "eth0"} if kind == "HostEndpoint" else None, name=name)
    if ok:
        assert load_resource(d).name == name
    else:
        assert "metadata.name" in error_of(d)


@pytest.mark.parametrize("name,tier,stored,error", [
    ("allow", None, "allow", None),
    ("default.allow", None, "allow", None),
    ("default.allow", "default", "allow", None),
    ("sec.allow", "sec", "sec.allow", None),
    ("allow", "sec", None, 'policy name must be prefixed with its tier "sec."'),
    ("other.allow", "sec", None, 'policy name must be prefixed with its tier "sec."'),
    ("sec.a.b", "sec", None, "optional '<tier>.' prefix"),
    ("knp.default.x", None, None, "reserved"),
    ("ossg.x", None, None, "reserved"),
    ("Allow", None, None, "DNS-1123 label"),
])
def test_policy_names_and_tier_prefix(name: str, tier: str | None, stored: str | None, error: str | None) -> None:
    spec = {"tier": tier} if tier else {}
    for kind in ("GlobalNetworkPolicy", "NetworkPolicy"):
        d = doc(kind, spec, name=name, **({"namespace": "ns1"} if kind == "NetworkPolicy" else {}))
        if error:
            assert error in error_of(d)
        else:
            r = load_resource(d)
            assert r.name == stored
            assert r.spec.tier == (tier or "default")
            assert r.metadata.labels["projectcalico.org/tier"] == (tier or "default")
            assert r.short_name == "allow"


def test_namespace_on_cluster_scoped_kind() -> None:
    assert error_of(doc("GlobalNetworkSet", namespace="x")) == (
        "namespace should not be specified for a non-namespaced resource. "
        "GlobalNetworkSet is not a namespaced resource")
    assert "namespace must be a DNS-1123 label" in error_of(doc("NetworkSet", namespace="Bad_NS"))


@pytest.mark.parametrize("labels,ok", [
    ({"app": "web"}, True), ({"example.com/app": "web"}, True), ({"app": ""}, True),
    ({"a" * 63: "v"}, True), ({"a" * 64: "v"}, False), ({"-app": "v"}, False), ({"app": "-v"}, False),
    ({"app": "v" * 64}, False), ({"Bad_Prefix/app": "v"}, False), ({"pcns.team": "a"}, False),
    ({"example.com/pcns.team": "a"}, False), ({"projectcalico.org/namespace": "x"}, False),
    ({"app": "has space"}, False),
])
def test_label_rules(labels: dict, ok: bool) -> None:
    d = doc("GlobalNetworkSet", labels=labels)
    if ok:
        assert load_resource(d).metadata.labels == labels
    else:
        assert "metadata.labels" in error_of(d)


def test_label_value_must_be_a_string() -> None:
    assert error_of(doc("GlobalNetworkSet", labels={"v": 1})) == (
        "error with field metadata.labels.v = '1' (must be a string)")


def test_annotations() -> None:
    assert load_resource(doc("Tier", annotations={"note": "any text: at all!"})).metadata.annotations
    assert "annotations must not exceed 262144 bytes" in error_of(doc("Tier", annotations={"a": "x" * 262144}))
    assert "annotation key" in error_of(doc("Tier", annotations={"bad key": "x"}))


def test_server_set_fields_are_accepted_on_input() -> None:
    r = load_resource(doc("Tier", resourceVersion="624", uid="u", creationTimestamp="2017-12-11T22:31:57Z"))
    assert r.metadata.resource_version == "624"


def test_workload_endpoint_reserved_labels() -> None:
    d = doc("WorkloadEndpoint", {"node": "n1", "orchestrator": "k8s"}, namespace="prod",
            labels={"projectcalico.org/namespace": "spoofed", "projectcalico.org/orchestrator": "x"})
    labels = load_resource(d).metadata.labels
    assert labels["projectcalico.org/namespace"] == "prod"
    assert labels["projectcalico.org/orchestrator"] == "k8s"
    d = doc("WorkloadEndpoint", {"node": "n1"}, namespace="prod", labels={"projectcalico.org/orchestrator": "x"})
    assert "projectcalico.org/orchestrator" not in load_resource(d).metadata.labels


# --- common values ------------------------------------------------------------

@pytest.mark.parametrize("proto,stored,reason", [
    ("TCP", "TCP", None), ("ICMPv6", "ICMPv6", None), ("UDPLite", "UDPLite", None), ("SCTP", "SCTP", None),
    (6, 6, None), ("17", 17, None), (255, 255, None),
    ("tcp", None, "protocol name invalid"), ("icmpv6", None, "protocol name invalid"),
    (0, None, "protocol number must be 1-255"), (256, None, "protocol number must be 1-255"),
    (True, None, "protocol name invalid"),
])
def test_protocols(proto: Any, stored: Any, reason: str | None) -> None:
    d = gnp({"action": "Allow", "protocol": proto})
    if reason:
        assert error_of(d) == f"error with field spec.ingress[0].protocol = '{proto if isinstance(proto, str) else str(proto).lower()}' ({reason})"
    else:
        assert load_resource(d).output()["spec"]["ingress"][0]["protocol"] == stored
    d = gnp({"action": "Allow", "notProtocol": proto})
    if reason:
        assert reason in error_of(d)


@pytest.mark.parametrize("port,stored,ok", [
    (80, 80, True), ("80", 80, True), ("1:65535", "1:65535", True), ("5:5", "5:5", True), ("http", "http", True),
    ("my-port.1", "my-port.1", True), (0, None, False), (65536, None, False), ("0:10", None, False),
    ("10:5", None, False), ("1:70000", None, False), ("123-", None, False), ("n" * 129, None, False),
    ("bad port", None, False), (True, None, False), (1.5, None, False),
])
def test_ports(port: Any, stored: Any, ok: bool) -> None:
    d = gnp({"action": "Allow", "protocol": "TCP", "destination": {"ports": [port]}})
    if ok:
        assert load_resource(d).output()["spec"]["ingress"][0]["destination"]["ports"] == [stored]
    else:
        assert "spec.ingress[0].destination.ports[0]" in error_of(d)


@pytest.mark.parametrize("cidr,ok", [
    ("10.0.0.0/8", True), ("10.1.2.3/8", True), ("10.1.2.3", True), ("2001:db8::/32", True), ("::1", True),
    ("10.0.0.0/33", False), ("10.0.0/8", False), ("10.0.0.0/255.0.0.0", False), ("fe80::/129", False),
    ("banana", False), ("", False),
])
def test_cidrs(cidr: str, ok: bool) -> None:
    d = gnp({"action": "Allow", "source": {"nets": [cidr]}})
    if ok:
        load_resource(d)
    else:
        assert error_of(d) == f"error with field spec.ingress[0].source.nets[0] = '{cidr}' (invalid CIDR)"


def test_selectors_are_parsed() -> None:
    assert error_of(gnp(selector='role = "db"')).startswith(
        "error with field spec.selector = 'role = \"db\"' (invalid selector: expected ==")
    for field in ("selector", "notSelector", "namespaceSelector"):
        assert "invalid selector" in error_of(gnp({"action": "Allow", "source": {field: "a =="}}))
    assert load_resource(gnp(selector="")).output()["spec"].get("selector") is None


# --- rule checks ----------------------------------------------------------------

@pytest.mark.parametrize("rule,path,reason", [
    ({}, "spec.ingress[0].action", "invalid action"),
    ({"action": "allow"}, "spec.ingress[0].action", "invalid action"),
    ({"action": "Allow", "icmp": {"type": 8}}, "spec.ingress[0].icmp", "ICMP fields require protocol ICMP or ICMPv6"),
    ({"action": "Allow", "protocol": "TCP", "notICMP": {"type": 8}}, "spec.ingress[0].notICMP",
     "ICMP fields require protocol ICMP or ICMPv6"),
    ({"action": "Allow", "protocol": "ICMP", "icmp": {"code": 1}}, "spec.ingress[0].icmp.code",
     "ICMP code specified without an ICMP type"),
    ({"action": "Allow", "protocol": "ICMP", "ipVersion": 6}, "spec.ingress[0].protocol",
     "ICMP protocol does not match ipVersion"),
    ({"action": "Allow", "protocol": "ICMPv6", "ipVersion": 4}, "spec.ingress[0].protocol",
     "ICMP protocol does not match ipVersion"),
    ({"action": "Allow", "destination": {"ports": [80]}}, "spec.ingress[0].destination.ports",
     "rules that specify ports must set protocol to TCP or UDP"),
    ({"action": "Allow", "protocol": "ICMP", "source": {"notPorts": [80]}}, "spec.ingress[0].source.notPorts",
     "rules that specify ports must set protocol to TCP or UDP"),
    ({"action": "Allow", "source": {"nets": ["10.0.0.0/8"]}, "destination": {"notNets": ["::/0"]}},
     "spec.ingress[0].destination.notNets", "rule contains both IPv4 and IPv6 CIDRs"),
    ({"action": "Allow", "ipVersion": 6, "source": {"nets": ["10.0.0.0/8"]}}, "spec.ingress[0].source.nets",
     "CIDR does not match ipVersion"),
    ({"action": "Allow", "ipVersion": 5}, "spec.ingress[0].ipVersion", "must be 4 or 6"),
    ({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 255}}, "spec.ingress[0].icmp.type", "must be 0-254"),
    ({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 3, "code": 256}}, "spec.ingress[0].icmp.code",
     "must be 0-255"),
])
def test_rule_checks(rule: dict, path: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_resource(gnp(rule))
    assert [(e.path, e.reason) for e in info.value.errors] == [(path, reason)]


@pytest.mark.parametrize("rule", [
    {"action": "Pass"}, {"action": "Log"}, {"action": "Deny", "protocol": 17, "destination": {"ports": [53, "1:1024"]}},
    {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8, "code": 0}, "ipVersion": 4},
    {"action": "Allow", "protocol": "ICMPv6", "notICMP": {"type": 128}},
    {"action": "Allow", "protocol": 1, "icmp": {"type": 0}},
    {"action": "Allow", "ipVersion": 6, "source": {"nets": ["2001:db8::/32"], "notNets": ["2001:db8::1"]}},
    {"action": "Allow", "source": {"selector": "a == 'b'", "notSelector": "has(c)", "namespaceSelector": "global()"}},
])
def test_valid_rules(rule: dict) -> None:
    assert load_resource(gnp(rule)).output()["spec"]["ingress"] == [rule]


def test_several_errors_are_listed_one_per_line() -> None:
    text = error_of(gnp({"action": "Allow", "protocol": "tcp"}, order="abc"))
    assert text.splitlines() == [
        "error with the following fields:",
        "-  spec.order = 'abc' (must be a number)",
        "-  spec.ingress[0].protocol = 'tcp' (protocol name invalid)",
    ]


# --- policies and tiers ---------------------------------------------------------

@pytest.mark.parametrize("spec,types", [
    ({}, ["Ingress"]),
    ({"ingress": [{"action": "Allow"}]}, ["Ingress"]),
    ({"egress": [{"action": "Allow"}]}, ["Egress"]),
    ({"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}, ["Ingress", "Egress"]),
    ({"egress": [{"action": "Allow"}], "types": ["Ingress"]}, ["Ingress"]),
    ({"types": []}, ["Ingress"]),
])
def test_types_defaulting(spec: dict, types: list[str]) -> None:
    assert load_resource(doc("GlobalNetworkPolicy", spec)).spec.types == types


def test_pre_dnat_types_default_to_ingress() -> None:
    spec = {"preDNAT": True, "applyOnForward": True, "ingress": [{"action": "Allow"}]}
    assert load_resource(doc("GlobalNetworkPolicy", spec)).spec.types == ["Ingress"]


@pytest.mark.parametrize("spec,reason", [
    ({"doNotTrack": True, "preDNAT": True, "applyOnForward": True}, "doNotTrack and preDNAT cannot both be true"),
    ({"preDNAT": True, "applyOnForward": True, "egress": [{"action": "Allow"}]},
     "preDNAT policy cannot have egress rules"),
    ({"preDNAT": True, "applyOnForward": True, "types": ["Egress"]}, "preDNAT policy cannot have egress rules"),
    ({"doNotTrack": True}, "applyOnForward must be true if either preDNAT or doNotTrack is true"),
    ({"preDNAT": True}, "applyOnForward must be true if either preDNAT or doNotTrack is true"),
    ({"types": ["Ingress", "Ingress"]}, "types must not contain duplicates"),
    ({"types": ["ingress"]}, "must be one of Ingress, Egress"),
    ({"order": float("inf")}, "must be a finite number"),
    ({"order": "10"}, "must be a number"),
])
def test_global_policy_checks(spec: dict, reason: str) -> None:
    assert reason in error_of(doc("GlobalNetworkPolicy", spec))


def test_network_policy_has_no_gnp_only_fields() -> None:
    assert error_of(doc("NetworkPolicy", {"doNotTrack": True}, namespace="a")) == 'unknown field "spec.doNotTrack"'


@pytest.mark.parametrize("order,out", [(100, 100), (100.0, 100), (10.5, 10.5), (0.1, 0.1), (-5, -5)])
def test_order_written_back(order: float, out: float) -> None:
    written = to_yaml(load_resource(gnp(order=order)).output())
    assert f"order: {out}\n" in written


def test_default_tier_order_must_not_be_set() -> None:
    assert error_of(doc("Tier", {"order": 5}, name="default")) == (
        "error with field spec.order = '5' (default tier order must not be set)")
    assert load_resource(doc("Tier", {"order": 5}, name="other")).spec.order == 5


# --- endpoints, profiles, sets ---------------------------------------------------

@pytest.mark.parametrize("spec,reason", [
    ({"interfaceName": "eth0"}, "field is required"),
    ({"node": "n1"}, "at least one of interfaceName and expectedIPs must be specified"),
    ({"node": "n1", "interfaceName": "a-very-long-interface"}, "must match"),
    ({"node": "n1", "expectedIPs": ["10.0.0.300"]}, "invalid IP address"),
    ({"node": "N1", "interfaceName": "eth0"}, "DNS-1123 subdomain"),
    ({"node": "n1", "interfaceName": "eth0", "ports": [{"name": "http", "protocol": "TCP"}]}, "field is required"),
    ({"node": "n1", "interfaceName": "eth0", "ports": [{"name": "http", "protocol": "SCTP", "port": 80}]},
     "must be one of TCP, UDP"),
    ({"node": "n1", "interfaceName": "eth0", "ports": [{"name": "80", "protocol": "TCP", "port": 80}]},
     "invalid named port"),
    ({"node": "n1", "interfaceName": "eth0", "ports": [{"name": "a", "protocol": "TCP", "port": 1},
                                                       {"name": "a", "protocol": "UDP", "port": 2}]},
     "named port names must be unique"),
])
def test_host_endpoint_checks(spec: dict, reason: str) -> None:
    assert reason in error_of(doc("HostEndpoint", spec))


def test_host_endpoint_valid() -> None:
    for spec in ({"node": "n1", "interfaceName": "*"}, {"node": "n1", "expectedIPs": ["198.18.0.1", "2001:db8::1"]},
                 {"node": "n1", "interfaceName": "eth0", "profiles": ["p"],
                  "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}):
        assert load_resource(doc("HostEndpoint", spec)).output()["spec"] == spec


@pytest.mark.parametrize("spec,reason", [
    ({"node": "n1", "ipNetworks": ["10.0.0.0/24"]}, "ipNetworks must contain single addresses (/32 or /128)"),
    ({"node": "n1", "ipNetworks": ["10.0.0.1/32"], "ipNATs": [{"internalIP": "10.0.0.2", "externalIP": "1.2.3.4"}]},
     "internalIP must be one of ipNetworks"),
    ({"node": "n1", "mac": "zz:00:00:00:00:00"}, "invalid MAC address"),
    ({"node": "n1", "ipv4Gateway": "gw"}, "invalid IP address"),
    ({"node": "n1", "interfaceName": "*"}, "must match"),
])
def test_workload_endpoint_checks(spec: dict, reason: str) -> None:
    assert reason in error_of(doc("WorkloadEndpoint", spec, namespace="ns"))


def test_workload_endpoint_valid() -> None:
    spec = {"node": "n1", "orchestrator": "k8s", "workload": "w", "pod": "p", "endpoint": "eth0",
            "containerID": "abc", "interfaceName": "cali12345", "ipNetworks": ["198.18.0.5/32", "2001:db8::5"],
            "ipNATs": [{"internalIP": "198.18.0.5", "externalIP": "198.19.0.5"}], "ipv4Gateway": "169.254.1.1",
            "mac": "ee:ee:ee:ee:ee:ee", "profiles": ["kns.ns"], "ports": [{"name": "pg", "protocol": "TCP",
                                                                           "port": 5432}]}
    assert load_resource(doc("WorkloadEndpoint", spec, namespace="ns")).output()["spec"] == spec


def test_profile_labels_to_apply_are_labels() -> None:
    assert "spec.labelsToApply" in error_of(doc("Profile", {"labelsToApply": {"bad key": "x"}}))
    assert load_resource(doc("Profile", {"labelsToApply": {"team": "a"}})).spec.labels_to_apply == {"team": "a"}


def test_network_sets_mix_families() -> None:
    for kind, meta in (("GlobalNetworkSet", {}), ("NetworkSet", {"namespace": "a"})):
        nets = ["198.18.0.0/16", "2001:db8::/32"]
        assert load_resource(doc(kind, {"nets": nets}, **meta)).output()["spec"]["nets"] == nets
        assert "invalid CIDR" in error_of(doc(kind, {"nets": ["x"]}, **meta))


# --- FelixConfiguration -------------------------------------------------------------

@pytest.mark.parametrize("field,value,stored", [
    ("dropActionOverride", "LogAndAccept", "LogAndAccept"),
    ("logDropActionOverride", True, True),
    ("ipv6Support", False, False),
    ("logPrefix", "calico-packet %t/%n", "calico-packet %t/%n"),
    ("logActionRateLimit", "20/second", "20/second"),
    ("logActionRateLimitBurst", 0, 0),
    ("iptablesRefreshInterval", "2m", "2m0s"),
    ("iptablesPostWriteCheckInterval", "0", "0s"),
    ("iptablesMarkMask", 0xFF000000, 0xFF000000),
    ("failsafeInboundHostPorts", [], []),
    ("failsafeOutboundHostPorts", [{"protocol": "udp", "port": 53}, {"port": 0, "protocol": "tcp"}],
     [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 0}]),
    ("interfacePrefix", "cali,tap", "cali,tap"),
    ("interfaceExclude", "kube-ipvs0,/^veth.*/", "kube-ipvs0,/^veth.*/"),
    ("healthHost", "0.0.0.0", "0.0.0.0"),
    ("prometheusReporterPort", 9092, 9092),
    ("logFilePath", "none", "none"),
    ("routeRefreshInterval", "90s", "1m30s"),
    ("vxlanVNI", 4096, 4096),
    ("natPortRange", "32768:65535", "32768:65535"),
    ("kubeNodePortRanges", ["30000:32767", 8080], ["30000:32767", 8080]),
    ("externalNodesCIDRList", ["198.18.0.0/15"], ["198.18.0.0/15"]),
    ("ipsecLogLevel", "Verbose", "Verbose"),
])
def test_felix_fields_valid(field: str, value: Any, stored: Any) -> None:
    spec = load_resource(doc("FelixConfiguration", {field: value}, name="default")).output()["spec"]
    assert spec == {field: stored}


@pytest.mark.parametrize("field,value,reason", [
    ("dropActionOverride", "LogAndLog", "must be one of Drop, Accept, LogAndDrop, LogAndAccept"),
    ("dropActionOverride", "logAndDrop", "must be one of Drop, Accept, LogAndDrop, LogAndAccept"),
    ("logDropActionOverride", "true", "must be a boolean"),
    ("logPrefix", "bad|char", "must be 0-64 characters"),
    ("logPrefix", "x" * 65, "must be 0-64 characters"),
    ("logActionRateLimit", "0/second", "must be N/second"),
    ("logActionRateLimit", "10/week", "must be N/second"),
    ("logActionRateLimitBurst", 10000, "must be 0-9999"),
    ("defaultEndpointToHostAction", "Allow", "must be one of Drop, Accept, Return"),
    ("iptablesBackend", "nft", "must be one of NFT, Legacy, Auto"),
    ("iptablesRefreshInterval", 90, 'must be a duration string such as "90s"'),
    ("iptablesRefreshInterval", "-1s", "invalid duration"),
    ("iptablesRefreshInterval", "90", "invalid duration"),
    ("iptablesMarkMask", 0xF, "must have at least 5 bits set"),
    ("iptablesMarkMask", 2**32, "must be 0-4294967295"),
    ("failsafeInboundHostPorts", [{"protocol": "SCTP", "port": 1}], "protocol must be TCP or UDP"),
    ("failsafeInboundHostPorts", [{"protocol": "TCP", "port": 70000}], "port must be 0-65535"),
    ("interfacePrefix", "cali,bad name", "comma list"),
    ("interfaceExclude", "/[/", "invalid regular expression"),
    ("maxIpsetSize", 0, "must be 1-2147483648"),
    ("prometheusReporterPort", 0, "must be 1-65535"),
    ("deletedMetricsRetentionSecs", 86401, "must be 0-86400"),
    ("healthHost", "not a host!", "invalid IP address"),
    ("logSeverityScreen", "Verbose", "must be one of Debug, Info, Warning, Error, Fatal"),
    ("metadataPort", 70000, "must be 0-65535"),
    ("flowLogsFileAggregationKindForAllowed", 3, "must be 0-2"),
    ("natPortRange", "http", "named ports are not allowed"),
    ("kubeNodePortRanges", [1, 2, 3, 4, 5, 6, 7, 8], "at most 7"),
    ("iptablesNATOutgoingInterfaceFilter", "a" * 16, "must match"),
    ("unknownThing", 1, None),
])
def test_felix_fields_invalid(field: str, value: Any, reason: str | None) -> None:
    text = error_of(doc("FelixConfiguration", {field: value}, name="default"))
    if reason is None:
        assert text == f'unknown field "spec.{field}"'
    else:
        assert text.startswith(f"error with field spec.{field} = ")
        assert reason in text


# --- durations --------------------------------------------------------------------

@pytest.mark.parametrize("text,out", [
    ("90s", "1m30s"), ("60s", "1m0s"), ("3600s", "1h0m0s"), ("1.5s", "1.5s"), ("0.25s", "250ms"),
    ("2h30s", "2h0m30s"), ("0", "0s"), ("500ms", "500ms"), ("1.5us", "1.5µs"), ("1µs", "1µs"), ("1μs", "1µs"),
    ("100ns", "100ns"), ("1.5h", "1h30m0s"), ("1m0.5s", "1m0.5s"),
])
def test_durations(text: str, out: str) -> None:
    assert format_duration(parse_duration(text)) == out


@settings(max_examples=examples(300))
@given(st.integers(min_value=0, max_value=10**15))
def test_duration_format_parses_back(ns: int) -> None:
    assert parse_duration(format_duration(ns)) == ns


# --- round trips ---------------------------------------------------------------------

ROUND_TRIP = [
    doc("GlobalNetworkPolicy", {
        "tier": "security", "order": 10.5, "selector": "role == 'db'", "types": ["Ingress", "Egress"],
        "ingress": [{"action": "Log"}, {"action": "Deny", "protocol": "TCP", "source": {"nets": ["198.18.0.0/16"]},
                                        "destination": {"ports": [22, "8000:8080", "http"]}}],
        "egress": [{"action": "Allow", "protocol": "ICMPv6", "icmp": {"type": 128, "code": 0}}],
        "applyOnForward": True}, name="security.db"),
    doc("NetworkPolicy", {"selector": "all()", "ingress": [{"action": "Pass"}]}, name="p", namespace="prod",
        labels={"app": "shop"}, annotations={"owner": "ops: \"team\""}),
    doc("FelixConfiguration", {"dropActionOverride": "LogAndAccept", "ipv6Support": False,
                               "failsafeInboundHostPorts": [], "iptablesRefreshInterval": "2m"}, name="default"),
    doc("WorkloadEndpoint", {"node": "node-a", "interfaceName": "cali0", "ipNetworks": ["198.18.0.2/32"],
                             "profiles": ["kns.prod"]}, name="w", namespace="prod", labels={"version": "1.10"}),
    doc("Profile", {"labelsToApply": {"env": "yes"}}, name="kns.prod", labels={"on": "true"}),
]


@pytest.mark.parametrize("d", ROUND_TRIP, ids=lambda d: d["kind"])
@pytest.mark.parametrize("codec", ["yaml", "json"])
def test_round_trip_is_stable(d: dict, codec: str) -> None:
    dump = to_yaml if codec == "yaml" else to_json
    first = dump(load_resource(d).output())
    again = flatten(parse_documents(first))
    assert len(again) == 1
    second = dump(load_resource(again[0]).output())
    assert first == second


def test_yaml_output_shape() -> None:
    r = load_resource(doc("FelixConfiguration", {"defaultEndpointToHostAction": "Return"}, name="node.myhost",
                          resourceVersion="624", creationTimestamp="2017-12-11T22:31:57Z"))
    assert to_yaml(r.output()) == """apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  creationTimestamp: 2017-12-11T22:31:57Z
  name: node.myhost
  resourceVersion: "624"
spec:
  defaultEndpointToHostAction: Return
"""


def test_yaml_quotes_strings_that_read_as_other_types() -> None:
    out = to_yaml({"a": "true", "b": "10", "c": "null", "d": "", "e": "1.5", "f": "10:20", "g": "plain"})
    assert out == 'a: "true"\nb: "10"\nc: "null"\nd: ""\ne: "1.5"\nf: "10:20"\ng: plain\n'


def test_unquoted_port_range_is_not_base_60() -> None:
    d = flatten(parse_documents("""
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [10:20]}}]
"""))[0]
    assert load_resource(d).output()["spec"]["ingress"][0]["destination"]["ports"] == ["10:20"]


def test_false_and_empty_omitted_except_felix_pointer_fields() -> None:
    out = load_resource(gnp(doNotTrack=False, ingress=[], types=["Ingress"])).output()["spec"]
    assert "doNotTrack" not in out and "ingress" not in out
    felix = load_resource(doc("FelixConfiguration", {"ipv6Support": False, "failsafeInboundHostPorts": []},
                              name="default")).output()["spec"]
    assert felix == {"ipv6Support": False, "failsafeInboundHostPorts": []}


RULE_FIELDS = ["action", "ipVersion", "protocol", "notProtocol", "icmp", "notICMP", "source", "destination"]
ENTITY_FIELDS = ["nets", "notNets", "selector", "notSelector", "namespaceSelector", "ports", "notPorts"]
ENDPOINT_FIELDS = {"HostEndpoint": ["node", "interfaceName", "expectedIPs", "profiles", "ports"],
                   "WorkloadEndpoint": ["node", "interfaceName", "ipNetworks", "ipNATs", "ipv4Gateway", "mac",
                                        "profiles", "ports", "workload"]}
ODD_VALUES = [[6], {"a": 1}, [[1]], 1.5, True, None]


def _every_field_document() -> list[dict[str, Any]]:
    from tortie.resources import PARAMETERS
    cases = []
    for value in ODD_VALUES:
        cases += [gnp({"action": "Allow", field: value}) for field in RULE_FIELDS]
        cases += [gnp({"action": "Allow", "protocol": "TCP", "source": {field: value}}) for field in ENTITY_FIELDS]
        cases += [gnp({"action": "Allow", "protocol": "TCP", "source": {"ports": [value]}})]
        cases += [doc("FelixConfiguration", {name: value}, name="default") for name in PARAMETERS]
        cases += [doc("FelixConfiguration", {"failsafeInboundHostPorts": [{"protocol": value, "port": 1}]},
                      name="default")]
        cases += [doc(kind, {"node": "n", "interfaceName": "eth0", field: value}, namespace="a")
                  if kind == "WorkloadEndpoint" else doc(kind, {"node": "n", "interfaceName": "eth0", field: value})
                  for kind, fields in ENDPOINT_FIELDS.items() for field in fields]
        cases += [doc("Tier", {"order": value}), doc("Tier", labels=value), doc("Tier", name=value)]
    return cases


def test_odd_values_in_every_field_are_errors_not_crashes() -> None:
    for d in _every_field_document():
        try:
            load_resource(d)
        except ResourceError:
            pass


@settings(max_examples=examples(200))
@given(st.dictionaries(st.text(max_size=8), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10), max_size=5))
def test_random_documents_never_crash_loading(data: dict) -> None:
    for kind in ("GlobalNetworkPolicy", "FelixConfiguration", "WorkloadEndpoint"):
        try:
            load_resource(doc(kind, data))
        except (ResourceError, UnknownFieldError):
            pass
