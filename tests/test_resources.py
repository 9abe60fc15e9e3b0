"""The v3 resource model as Calico v3.32 has it: decoding as calicoctl decodes, every check
with a document it accepts and one it refuses, output form, and round trips."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tortie.resources import (PARAMETERS, DecodeError, InvalidParameter, ResourceError, UnknownFieldError, UnknownKindError,
                              ValidationError, flatten, format_duration, load_resource, parse_documents,
                              parse_duration, to_json, to_yaml)

from .felix_export import full_felix_spec
from .profiles import examples

API = "projectcalico.org/v3"


def doc(kind: str, spec: Any = None, name: str = "r1", **meta: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"apiVersion": API, "kind": kind, "metadata": {"name": name, **meta}}
    if spec is not None:
        d["spec"] = spec
    return d


def gnp(*rules: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return doc("GlobalNetworkPolicy", {"ingress": list(rules), **spec} if rules else spec)


def np(*rules: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return doc("NetworkPolicy", {"ingress": list(rules), **spec} if rules else spec, namespace="ns1")


def hep(**spec: Any) -> dict[str, Any]:
    return doc("HostEndpoint", {"node": "n1", "interfaceName": "eth0", **spec})


def wep(**spec: Any) -> dict[str, Any]:
    return doc("WorkloadEndpoint", {"node": "n1", "orchestrator": "k8s", "pod": "p", "endpoint": "eth0",
                                    "interfaceName": "cali0", **spec}, name="n1-k8s-p-eth0", namespace="ns1")


def felix(**spec: Any) -> dict[str, Any]:
    return doc("FelixConfiguration", spec, name="default")


def error_of(d: dict[str, Any]) -> str:
    with pytest.raises(ResourceError) as info:
        load_resource(d)
    return str(info.value)


def check(d: dict[str, Any], error: str | None) -> None:
    """``d`` loads when ``error`` is None, else fails with ``error`` in its message."""
    if error is None:
        load_resource(d)
    else:
        assert error in error_of(d)


# --- decoding, as calicoctl reads a file -----------------------------------------------------

def test_field_names_match_in_any_case_and_print_canonically() -> None:
    r = load_resource(doc("Profile", {"Ingress": [{"Action": "Deny", "protocol": "ICMP", "ICMP": {"Type": 8}}]},
                          Labels={"a": "b"}))
    assert r.output()["spec"] == {"ingress": [{"action": "Deny", "protocol": "ICMP", "icmp": {"type": 8}}]}
    assert r.output()["metadata"]["labels"] == {"a": "b"}
    assert load_resource(doc("Tier", {"Order": 100}, name="t")).output()["spec"]["order"] == 100
    # Both spellings given: Go's decoder reads keys in sorted order, so the lower-case one wins.
    assert load_resource(doc("Tier", {"Order": 1, "order": 2}, name="t")).output()["spec"]["order"] == 2


def test_unknown_fields_are_named_with_their_path() -> None:
    d = gnp({"action": "Allow"}, {"action": "Allow", "destination": {"port": 80}})
    assert error_of(d) == "field in document is not recognized or is in the wrong location: spec.ingress[1].destination.port"
    assert isinstance(_decode_error(doc("Tier", colour=1)), UnknownFieldError)
    assert error_of({**doc("Tier"), "extra": {}}) == (
        "field in document is not recognized or is in the wrong location: extra")


def _decode_error(d: dict[str, Any]) -> ResourceError:
    with pytest.raises(ResourceError) as info:
        load_resource(d)
    return info.value


def test_the_first_problem_in_key_order_is_reported() -> None:
    d = gnp({"action": "Allow", "zeta": 1, "alpha": 2})
    assert error_of(d).endswith("spec.ingress[0].alpha")
    # A type error is remembered like an unknown field; the earlier key decides.
    assert error_of(doc("Tier", {"order": "x", "aaa": 1})).endswith("spec.aaa")
    assert error_of(doc("Tier", {"order": "x", "zzz": 1})) == (
        "cannot unmarshal string into field spec.order of type float64")


def test_a_value_its_type_refuses_stops_decoding_at_once() -> None:
    rule = {"action": "Deny", "source": {"ports": ["65535:1"], "aaa": 1}}
    assert error_of(gnp(rule)) == ("error with field spec.ingress[0].source.ports[0] = '65535:1' (minimum port number "
                                   "(65535) is greater than maximum port number (1) in port range)")
    assert error_of(gnp({"action": "Deny", "protocol": "TCP", "source": {"ports": [10, 65536]}})) == (
        "cannot unmarshal number 65536 into field spec.ingress[0].source.ports[1] of type uint16")
    assert error_of(gnp({"action": "Allow", "protocol": 256})) == (
        "cannot unmarshal number 256 into field spec.ingress[0].protocol of type uint8")
    assert "time: invalid duration" in error_of(felix(iptablesRefreshInterval="soon"))


@pytest.mark.parametrize("value,message", [
    ({"spec": {"order": [1]}}, "cannot unmarshal array into field spec.order of type float64"),
    ({"spec": {"selector": 5}}, "cannot unmarshal number into field spec.selector of type string"),
    ({"spec": {"doNotTrack": "yes"}}, "cannot unmarshal string into field spec.doNotTrack of type bool"),
    ({"spec": {"ingress": {"action": "Allow"}}}, "cannot unmarshal object into field spec.ingress of type []Rule"),
    ({"metadata": {"name": "p", "labels": {"a": 1}}}, "cannot unmarshal number into field metadata.labels.a"),
    ({"metadata": {"name": "p", "resourceVersion": 7}}, "cannot unmarshal number into field metadata.resourceVersion"),
])
def test_wrong_json_types(value: dict[str, Any], message: str) -> None:
    assert message in error_of({**doc("GlobalNetworkPolicy"), **value})


KUBERNETES_METADATA: dict[str, Any] = {
    "generateName": "x-", "selfLink": "/apis/x", "uid": "u", "generation": 3, "creationTimestamp": "2006-01-02T15:04:05Z",
    "deletionTimestamp": "2006-01-02T15:04:07Z", "deletionGracePeriodSeconds": 30, "finalizers": ["f"],
    "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u", "controller": True}],
    "managedFields": [{"manager": "kubectl", "operation": "Update", "time": "2006-01-02T15:04:05Z",
                       "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}],
}


def test_kubernetes_metadata_is_accepted() -> None:
    load_resource(doc("HostEndpoint", {"node": "n", "interfaceName": "eth0"}, **KUBERNETES_METADATA))


@pytest.mark.parametrize("meta,message", [
    ({"creationTimestamp": "yesterday"}, "not an RFC 3339 time"),
    ({"generation": "3"}, "cannot unmarshal string into field metadata.generation of type int64"),
    ({"ownerReferences": [{"name": "p", "bogus": 1}]}, "metadata.ownerReferences[0].bogus"),
])
def test_kubernetes_metadata_is_decoded_strictly(meta: dict[str, Any], message: str) -> None:
    assert message in error_of(doc("Tier", **meta))


def test_a_key_given_twice_is_an_error() -> None:
    with pytest.raises(ResourceError, match='key "order" already set in map'):
        parse_documents("kind: Tier\nspec:\n  order: 1\n  order: 2\n")


def test_null_leaves_a_field_unset() -> None:
    assert load_resource(gnp({"action": "Allow", "protocol": None, "icmp": None})).output()["spec"]["ingress"] == [
        {"action": "Allow"}]


def test_unknown_kind_and_version() -> None:
    assert error_of(doc("IPPool")) == "unknown resource type (IPPool) and/or version (projectcalico.org/v3)"
    with pytest.raises(UnknownKindError):
        load_resource({**doc("Tier"), "apiVersion": "v1"})


def test_spec_may_be_omitted_or_null() -> None:
    assert load_resource(doc("Profile")).output()["spec"] == {}
    assert load_resource({**doc("Profile"), "spec": None}).output()["spec"] == {}


def test_documents_streams_lists_and_kind_lists() -> None:
    text = """
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: a}
---
- {apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: b}}
---
apiVersion: projectcalico.org/v3
kind: TierList
items:
- {apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: c}}
"""
    assert [load_resource(d).name for d in flatten(parse_documents(text))] == ["a", "b", "c"]


# --- names, labels, annotations (validateObjectMeta, validateTier, policy name rules) ---------

NAMES = [
    ("Profile", "a.b-c.d", None), ("Profile", "A", "Metadata.Name = 'A' (name must consist of lower case"),
    ("Profile", "a..b", "name must consist"), ("Profile", "-a", "name must consist"),
    ("Profile", "a" * 64, None), ("Profile", "a" * 253, None), ("Profile", "a" * 254, "name is too long by 1 bytes"),
    ("Tier", "sec-1", None), ("Tier", "sec.1", "name must consist of lower case alphanumeric characters or '-'"),
    ("Tier", "a" * 63, None), ("Tier", "a" * 64, "name is too long by 1 bytes"),
    ("GlobalNetworkSet", "x_y", "name must consist"),
    ("GlobalNetworkPolicy", "th.ing", None), ("GlobalNetworkPolicy", "t.h.ing", "name must consist of lower"),
    ("GlobalNetworkPolicy", "knp.default.x", "name must consist of lower"),
    ("NetworkPolicy", "th.ing", None), ("NetworkPolicy", "knp.default.a.b", None),
    ("NetworkPolicy", "ossg.default.x", None), ("NetworkPolicy", "a.b.c", "name must consist of lower"),
    ("NetworkPolicy", "x" * 253, None), ("NetworkPolicy", "x" * 254, "name is too long by 1 bytes"),
]


@pytest.mark.parametrize("kind,name,error", NAMES)
def test_names(kind: str, name: str, error: str | None) -> None:
    check(doc(kind, name=name, **({"namespace": "ns1"} if kind == "NetworkPolicy" else {})), error)


@pytest.mark.parametrize("name,tier", [("default.allow", None), ("allow", None), ("allow", "sec"),
                                       ("sec.allow", "sec"), ("other.allow", "sec")])
def test_policies_keep_their_names_and_need_no_tier_prefix(name: str, tier: str | None) -> None:
    for d in (gnp(tier=tier) if tier else gnp(), np(tier=tier) if tier else np()):
        d["metadata"]["name"] = name
        r = load_resource(d)
        assert r.name == name
        assert r.output()["spec"]["tier"] == (tier or "default")
        assert r.output()["metadata"]["labels"] == {"projectcalico.org/tier": tier or "default"}


LABELS = [
    ({"app": "web"}, None), ({"example.com/app": "web"}, None), ({"app": ""}, None), ({"a" * 63: "v"}, None),
    ({"a" * 64: "v"}, "name part must be no more than 63 characters"), ({"-app": "v"}, "name part must consist"),
    ({"app": "-v"}, "a valid label must be an empty string"), ({"app": "v" * 64}, "must be no more than 63"),
    ({"Bad_Prefix/app": "v"}, "prefix part a lowercase RFC 1123 subdomain"), ({"a/b/c": "v"}, "a qualified name"),
    ({"/app": "v"}, "prefix part must be non-empty"), ({"pcns.team": "a"}, None),
    ({"projectcalico.org/namespace": "x"}, None),
]


@pytest.mark.parametrize("labels,error", LABELS)
def test_labels(labels: dict[str, str], error: str | None) -> None:
    check(doc("HostEndpoint", {"node": "n", "interfaceName": "eth0"}, labels=labels), error)


@pytest.mark.parametrize("kind,meta", [("GlobalNetworkSet", {}), ("NetworkSet", {"namespace": "ns1"})])
def test_sets_refuse_the_namespace_label(kind: str, meta: dict[str, str]) -> None:
    check(doc(kind, labels={"a": "b"}, **meta), None)
    check(doc(kind, labels={"projectcalico.org/namespace": "x"}, **meta),
          "projectcalico.org/namespace is not a valid label name")


@pytest.mark.parametrize("annotations,error", [
    ({"note": "any text: at all!"}, None), ({"Upper/Case": "x"}, None), ({"bad key": "x"}, "name part must consist"),
    ({"a": "x" * (256 * 1024 - 1)}, None), ({"a": "x" * (256 * 1024)}, "total size of annotations is too large by 1 bytes"),
])
def test_annotations(annotations: dict[str, str], error: str | None) -> None:
    check(doc("Tier", annotations=annotations, name="t"), error)


# --- rules (validateRule, validateEntityRule, the policy CRDs' rule checks) ----------------------

RULES = [
    ({"action": "Pass"}, None), ({"action": "allow"}, "Action = 'allow' (Reason: failed to validate Field: Action"),
    ({}, "Action = ''"),
    ({"action": "Allow", "ipVersion": 6}, None), ({"action": "Allow", "ipVersion": 5}, "because of Tag: ipVersion"),
    ({"action": "Allow", "protocol": "UDPLite"}, None), ({"action": "Allow", "protocol": "udp"}, "protocol name invalid"),
    ({"action": "Allow", "protocol": "17"}, None), ({"action": "Allow", "protocol": 0}, "protocol number invalid"),
    ({"action": "Allow", "notProtocol": "sctp"}, "Protocol = 'sctp' (protocol name invalid)"),
    ({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 3, "code": 1}}, None),
    ({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 255}}, "Type = '255' (Reason: failed to validate"),
    ({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 3, "code": 256}}, "because of Tag: lte"),
    ({"action": "Allow", "protocol": "ICMP", "icmp": {"code": 1}}, "ICMP code specified without an ICMP type"),
    ({"action": "Allow", "protocol": "ICMPv6", "icmp": {"type": 128}}, None),
    ({"action": "Allow", "protocol": 1, "icmp": {"type": 8}}, "rules that specify ICMP fields must set protocol to ICMP"),
    ({"action": "Allow", "protocol": "TCP", "notICMP": {"type": 8}}, None),
    ({"action": "Allow", "protocol": "ICMP", "ipVersion": 4}, None),
    ({"action": "Allow", "protocol": "ICMP", "ipVersion": 6}, "must set ipversion to '4' with protocol icmp"),
    ({"action": "Allow", "notProtocol": "ICMPv6", "ipVersion": 4}, "must set ipversion to '6' with protocol icmpv6"),
    ({"action": "Allow", "protocol": "SCTP", "destination": {"ports": [80, "1:1024"]}}, None),
    ({"action": "Allow", "protocol": "ICMP", "destination": {"ports": [80]}},
     "rules that specify ports must set protocol to TCP or UDP or SCTP"),
    ({"action": "Allow", "source": {"notPorts": ["http"]}}, None),
    ({"action": "Allow", "source": {"notPorts": [80]}},
     "rules with numeric port or port range must set protocol to TCP or UDP or SCTP"),
    ({"action": "Allow", "protocol": "TCP", "destination": {"ports": ["web-1"]}}, None),
    ({"action": "Allow", "protocol": "TCP", "destination": {"ports": ["Web"]}}, "because of Tag: portName"),
    ({"action": "Allow", "protocol": "TCP", "destination": {"ports": ["0:10"]}}, "Port = '0' (port range invalid"),
    ({"action": "Allow", "source": {"nets": ["10.0.0.0/8"], "notNets": ["10.1.0.0/16"]}}, None),
    ({"action": "Allow", "source": {"nets": ["10.1.2.3/8"]}}, "Nets[0] = '10.1.2.3/8' (Reason: failed to validate"),
    ({"action": "Allow", "source": {"nets": ["10.0.0.1"]}}, "Source.Nets = '10.0.0.1' (invalid CIDR)"),
    ({"action": "Allow", "source": {"nets": ["10.0.0.0/8"]}, "destination": {"nets": ["2001:db8::/32"]}},
     "rule contains both IPv4 and IPv6 CIDRs"),
    ({"action": "Allow", "ipVersion": 6, "destination": {"nets": ["10.0.0.0/8"]}},
     "rule IP version doesn't match CIDR version"),
    ({"action": "Allow", "destination": {"notNets": ["0.0.0.0/1"]}}, None),
    ({"action": "Allow", "destination": {"notNets": ["0.0.0.0/0"]}}, "catch-all CIDR in negation"),
    ({"action": "Allow", "source": {"notNets": ["::/0"]}}, "catch-all CIDR in negation"),
    ({"action": "Allow", "source": {"selector": "a == 'b'"}}, None),
    ({"action": "Allow", "source": {"selector": "a = 'b'"}}, "Selector = 'a = 'b'' (Reason: failed to validate"),
    ({"action": "Allow", "source": {"selector": "global()"}}, "global() can only be used in an EntityRule namespaceSelector"),
    ({"action": "Allow", "source": {"namespaceSelector": "global()"}}, None),
    ({"action": "Allow", "source": {"namespaceSelector": "global() && has(a)"}}, "global() cannot be combined"),
    ({"action": "Allow", "source": {"serviceAccounts": {"names": ["a"], "selector": "role == 'x'"}}}, None),
    ({"action": "Allow", "source": {"serviceAccounts": {"selector": "role = 'x'"}}}, "because of Tag: selector"),
    ({"action": "Allow", "source": {"services": {"name": "svc", "namespace": "ns"}}}, None),
    ({"action": "Allow", "source": {"services": {"namespace": "ns"}}}, "must specify a service name"),
    ({"action": "Allow", "source": {"services": {"name": "svc", "namespace": "ns"}, "nets": ["10.0.0.0/8"]}},
     "cannot specify Nets/NotNets and Services on the same rule"),
    ({"action": "Allow", "source": {"services": {"name": "svc", "namespace": "ns"}, "selector": "a == 'b'"}},
     "cannot specify Selector/NotSelector and Services on the same rule"),
    ({"action": "Allow", "source": {"services": {"name": "svc", "namespace": "ns"}, "namespaceSelector": "all()"}},
     "cannot specify NamespaceSelector and Services on the same rule"),
    ({"action": "Allow", "source": {"services": {"name": "svc", "namespace": "ns"}, "serviceAccounts": {}}},
     "cannot specify ServiceAccounts and Services on the same rule"),
    ({"action": "Allow", "source": {"services": {"name": "Svc", "namespace": "ns"}}}, "because of Tag: name"),
    ({"action": "Allow", "protocol": "TCP", "http": {"methods": ["GET"], "paths": [{"exact": "/a"}, {"prefix": "/b"}]}},
     None),
    ({"action": "Allow", "protocol": "UDP", "http": {"methods": ["GET"]}},
     "rules that specify HTTP fields must set protocol to TCP or empty"),
    ({"action": "Deny", "http": {"methods": ["GET"]}}, "HTTP match is only valid on Allow rules"),
    ({"action": "Allow", "http": {"methods": ["GET", "GET"]}}, "Invalid methods (duplicates): [GET GET]"),
    ({"action": "Allow", "http": {"paths": [{"exact": "/a", "prefix": "/a"}]}}, "Both 'exact' and 'prefix' are set"),
    ({"action": "Allow", "http": {"paths": [{}]}}, "Either 'exact' or 'prefix' must be set"),
    ({"action": "Allow", "http": {"paths": [{"exact": "a"}]}}, "must start with `/`"),
    ({"action": "Allow", "http": {"methods": ["M"] * 21}}, "should have at most 20 items"),
    ({"action": "Allow", "http": {"paths": [{"exact": "/" + "a" * 1024}]}}, "should be at most 1024 chars long"),
    ({"action": "Allow", "metadata": {"annotations": {"a": "b"}}}, None),
    ({"action": "Allow", "metadata": {"annotations": {"bad key": "b"}}}, "Metadata.Annotations (key)"),
]


@pytest.mark.parametrize("rule,error", RULES)
def test_rules(rule: dict[str, Any], error: str | None) -> None:
    check(gnp(rule), error)


@pytest.mark.parametrize("spec,error", [
    ({"egress": [{"action": "Allow", "destination": {"services": {"name": "s", "namespace": "n"}}}]}, None),
    ({"egress": [{"action": "Allow", "source": {"services": {"name": "s", "namespace": "n"}}}]},
     "Services = '{\"name\":\"s\",\"namespace\":\"n\"}' (not allowed in egress rule source)"),
    ({"ingress": [{"action": "Allow", "destination": {"services": {"name": "s", "namespace": "n"}}}]},
     "not allowed in ingress rule destination"),
    ({"egress": [{"action": "Allow", "http": {"methods": ["GET"]}}]}, "not allowed in egress rule"),
    ({"ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"services": {"name": "s"}, "ports": [80]}}]},
     "cannot specify ports with a service selector"),
    ({"selector": "global()"}, "NetworkPolicySpec.Selector = 'global()'"),
    ({"serviceAccountSelector": "role == 'x'"}, None),
    ({"serviceAccountSelector": "global()"}, "NetworkPolicySpec.ServiceAccountSelector"),
    ({"serviceAccountSelector": "role = 'x'"}, "because of Tag: selector"),
    ({"types": ["Ingress", "Egress"]}, None), ({"types": ["Ingress", "Ingress"]}, "'Ingress' type specified more than once"),
    ({"types": ["ingress"]}, "because of Tag: policyType"),
    ({"performanceHints": ["AssumeNeededOnEveryNode"]}, None), ({"performanceHints": ["Fast"]}, "because of Tag: oneof"),
    ({"tier": "Sec"}, "because of Tag: name"),
])
def test_network_policy_checks(spec: dict[str, Any], error: str | None) -> None:
    check(np(**spec), error)


@pytest.mark.parametrize("spec,error", [
    ({"doNotTrack": True, "applyOnForward": True}, None),
    ({"doNotTrack": True, "preDNAT": True, "applyOnForward": True}, "PreDNAT and DoNotTrack cannot both be true"),
    ({"preDNAT": True, "applyOnForward": True, "ingress": [{"action": "Allow"}]}, None),
    ({"preDNAT": True, "applyOnForward": True, "egress": [{"action": "Allow"}]},
     'PolicySpec.Egress = \'[{"action":"Allow"}]\' (PreDNAT PolicySpec cannot have any Egress rules)'),
    ({"preDNAT": True, "applyOnForward": True, "types": ["Egress"]}, "PreDNAT PolicySpec cannot have 'egress' Type"),
    ({"doNotTrack": True}, "ApplyOnForward must be true if either PreDNAT or DoNotTrack is true"),
    ({"namespaceSelector": "role == 'a'"}, None),
    ({"namespaceSelector": "global()"}, "GlobalNetworkPolicySpec.NamespaceSelector"),
    ({"egress": [{"action": "Allow", "destination": {"services": {"name": "s", "namespace": "n"}}}]}, None),
    ({"egress": [{"action": "Allow", "destination": {"services": {"name": "s"}}}]}, "must specify a namespace"),
    ({"egress": [{"action": "Allow", "http": {"methods": ["GET"]}}]}, "not allowed in egress rules"),
    ({"selector": "global()"}, "GlobalNetworkPolicySpec.Selector = 'global()'"),
])
def test_global_network_policy_checks(spec: dict[str, Any], error: str | None) -> None:
    check(gnp(**spec), error)


def test_no_error_text_holds_a_python_repr() -> None:
    text = error_of(gnp(preDNAT=True, applyOnForward=True, egress=[{"action": "Allow", "protocol": "TCP",
                                                                    "destination": {"ports": [80]}}]))
    assert "PreDNAT PolicySpec cannot have any Egress rules" in text
    assert not re.search(r"Rule\(|EntityRule\(|<tortie|object at 0x|\{'", text)


@pytest.mark.parametrize("spec,types", [
    ({}, ["Ingress"]), ({"ingress": [{"action": "Allow"}]}, ["Ingress"]), ({"egress": [{"action": "Allow"}]}, ["Egress"]),
    ({"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}, ["Ingress", "Egress"]),
    ({"egress": [{"action": "Allow"}], "types": ["Ingress"]}, ["Ingress"]),
])
def test_types_defaulting(spec: dict[str, Any], types: list[str]) -> None:
    assert load_resource(doc("GlobalNetworkPolicy", spec)).output()["spec"]["types"] == types


@pytest.mark.parametrize("order,out", [(100, 100), (100.0, 100), (10.5, 10.5), (-5, -5)])
def test_order_written_back(order: float, out: float) -> None:
    assert f"order: {out}\n" in to_yaml(load_resource(gnp(order=order)).output())


# --- tiers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,spec,error", [
    ("t", {}, None), ("t", {"defaultAction": "Pass"}, None), ("t", {"defaultAction": "Allow"}, "because of Tag: oneof"),
    ("default", {"order": 1000000, "defaultAction": "Deny"}, None),
    ("default", {"order": 1000}, "TierSpec.Order = '1000' (default tier order must be 1e+06)"),
    ("default", {"defaultAction": "Pass"}, "The 'default' tier must have default action 'Deny'"),
    ("kube-admin", {"order": 1000, "defaultAction": "Pass"}, None),
    ("kube-admin", {"order": 1000}, "The 'kube-admin' tier must have default action 'Pass'"),
    ("kube-admin", {"order": 100, "defaultAction": "Pass"}, "kube-admin tier order must be 1000"),
    ("kube-baseline", {"order": 10000000, "defaultAction": "Pass"}, None),
    ("kube-baseline", {"order": 1, "defaultAction": "Pass"}, "kube-baseline tier order must be 1e+07"),
])
def test_tiers(name: str, spec: dict[str, Any], error: str | None) -> None:
    check(doc("Tier", spec, name=name), error)


def test_tier_defaults() -> None:
    assert load_resource(doc("Tier", name="t")).output()["spec"] == {"order": 1000000, "defaultAction": "Deny"}
    # calicoctl validate runs the validator without the client's defaults.
    assert "default tier order" in str(_validated_only(doc("Tier", name="default")))


def _validated_only(d: dict[str, Any]) -> ResourceError:
    with pytest.raises(ResourceError) as info:
        load_resource(d, client_defaults=False)
    return info.value


# --- endpoints, profiles, sets ---------------------------------------------------------------------

ENDPOINTS = [
    (hep(), None), (hep(interfaceName="*"), None), (hep(interfaceName="a-very-long-iface"), "because of Tag: interface"),
    (doc("HostEndpoint", {"node": "n1"}), "no interface or expected IPs have been specified"),
    (doc("HostEndpoint", {"interfaceName": "eth0"}), "no node has been specified"),
    (hep(node="N1"), "because of Tag: name"), (hep(expectedIPs=["198.18.0.1", "2001:db8::1"]), None),
    (hep(expectedIPs=["198.18.0.300"]), "ExpectedIPs[0] = '198.18.0.300'"),
    (hep(profiles=["kns.a"]), None), (hep(profiles=["Bad"]), "Profiles[0] = 'Bad'"),
    (hep(ports=[{"name": "web", "protocol": "SCTP", "port": 80}, {"name": "web", "protocol": "UDP", "port": 81}]), None),
    (hep(ports=[{"name": "web", "protocol": "ICMP", "port": 80}]), "EndpointPort protocol does not support ports."),
    (hep(ports=[{"name": "Web", "protocol": "TCP", "port": 80}]), "Name = 'Web' (Reason: failed to validate"),
    (hep(ports=[{"name": "web", "protocol": "TCP"}]), "Port = '0' (Reason: failed to validate Field: Port"),
    (wep(), None), (wep(interfaceName="*"), None),
    (doc("WorkloadEndpoint", {"node": "n1"}, namespace="ns1"), "InterfaceName = ''"),
    (wep(containerID="abc-DEF1"), None), (wep(containerID="abc-"), "because of Tag: containerID"),
    (wep(ipNetworks=["198.18.0.5/32", "2001:db8::5"]), None),
    (wep(ipNetworks=["198.18.0.0/24"]), "IP network contains multiple addresses"),
    (wep(ipNetworks=["198.18.0.5/32"], ipNATs=[{"internalIP": "198.18.0.5", "externalIP": "198.19.0.5"}]), None),
    (wep(ipNetworks=["198.18.0.5/32"], ipNATs=[{"internalIP": "198.18.0.6", "externalIP": "198.19.0.5"}]),
     "NAT is not in the endpoint networks"),
    (wep(ipNetworks=["2001:db8::5"], ipNATs=[{"internalIP": "2001:db8::5", "externalIP": "198.19.0.5"}]),
     "mismatched IP versions"),
    (wep(ipv4Gateway="169.254.1.1", ipv6Gateway="fe80::1"), None), (wep(ipv4Gateway="fe80::1"), "because of Tag: ipv4"),
    (wep(mac="ee:ee:ee:ee:ee:ee"), None), (wep(mac="zz:00:00:00:00:00"), "because of Tag: mac"),
    (wep(ports=[{"protocol": "TCP", "port": 80, "hostPort": 8080}]), None),
    (wep(ports=[{"protocol": "TCP", "port": 80}]), "WorkloadEndpointPort name must not be empty"),
    (wep(ports=[{"name": "x", "protocol": "TCP", "port": 80, "hostIP": "10.0.0.1"}]), None),
    (wep(ports=[{"name": "x", "protocol": "TCP", "port": 80, "hostIP": "10.0.0.1/8"}]), "because of Tag: net"),
    (wep(allowSpoofedSourcePrefixes=["10.1.2.3/8"]), None),
    (wep(allowSpoofedSourcePrefixes=["10.abcd"]), "AllowSpoofedSourcePrefixes[0] = '10.abcd'"),
    (wep(serviceAccountName="sa-1"), None), (wep(serviceAccountName="SA"), "because of Tag: name"),
    (wep(qosControls={"ingressBandwidth": 1000000, "dscp": "AF11"}), None),
    (wep(qosControls={"ingressBandwidth": "fast"}), "cannot unmarshal string into field spec.qosControls"),
    (doc("Profile", {"labelsToApply": {"team": "a"}}), None),
    (doc("Profile", {"labelsToApply": {"bad key": "x"}}), "because of Tag: labels"),
    (doc("GlobalNetworkSet", {"nets": ["198.18.1.2/16", "2001:db8::/32"]}), None),
    (doc("GlobalNetworkSet", {"nets": ["x"]}), "Nets[0] = 'x' (Reason: failed to validate Field: Nets[0] because of Tag: cidr"),
    (doc("NetworkSet", {"nets": ["198.18.0.0/15"]}, namespace="a"), None),
    (doc("NetworkSet", {"nets": ["10.0.0.0/33"]}, namespace="a"), "because of Tag: cidr"),
]


@pytest.mark.parametrize("d,error", ENDPOINTS)
def test_endpoints_profiles_and_sets(d: dict[str, Any], error: str | None) -> None:
    check(d, error)


def test_workload_endpoint_labels() -> None:
    labels = load_resource(wep()).metadata.labels
    assert labels == {"projectcalico.org/namespace": "ns1", "projectcalico.org/orchestrator": "k8s"}


def test_endpoint_ports_print_every_field() -> None:
    out = load_resource(wep(ports=[{"name": "web", "protocol": "TCP", "port": 80}])).output()["spec"]["ports"]
    assert out == [{"name": "web", "protocol": "TCP", "port": 80, "hostPort": 0, "hostIP": ""}]


# --- FelixConfiguration ------------------------------------------------------------------------------

FELIX = [
    ({"chainInsertMode": "append"}, None), ({"chainInsertMode": "middle"}, "should match '^(?i)(Insert|Append)?$'"),
    ({"defaultEndpointToHostAction": "Return"}, None), ({"defaultEndpointToHostAction": "return"}, "Tag: dropAcceptReturn "),
    ({"logSeverityScreen": "Trace"}, None), ({"logSeveritySys": "Critical"}, "Tag: logLevel "),
    ({"iptablesBackend": "Legacy"}, None), ({"iptablesBackend": "nft"}, 'Unsupported value: "nft"'),
    ({"bpfEnforceRPF": "strict"}, None), ({"bpfEnforceRPF": "Tight"}, "should match"),
    ({"bpfLogLevel": "Off"}, None), ({"bpfLogLevel": "off"}, "because of Tag: bpfLogLevel"),
    ({"iptablesRefreshInterval": "90s"}, None), ({"iptablesRefreshInterval": "1.5s"}, "should match"),
    ({"iptablesRefreshInterval": "-1s"}, "should match"), ({"dataplaneWatchdogTimeout": "1.5s"}, None),
    ({"liveMigrationRouteConvergenceTime": "1.5s"}, None),
    ({"logActionRateLimit": "10/second"}, None), ({"logActionRateLimit": "0/second"}, "should match"),
    ({"logActionRateLimitBurst": 9999}, None), ({"logActionRateLimitBurst": 10000}, "less than or equal to 9999"),
    ({"logPrefix": "calico-drop %n"}, None), ({"logPrefix": "a.b"}, "should match"),
    ({"externalNodesList": ["198.18.0.0/15"]}, None), ({"externalNodesList": ["2001:db8::/32"]}, "has invalid IPv6 CIDR"),
    ({"externalNodesList": ["nope"]}, "has invalid CIDR(s)"),
    ({"openstackRegion": "region-1"}, None), ({"openstackRegion": "Region"}, "must be a valid DNS label"),
    ({"openstackRegion": "r" * 47}, "is too long"),
    ({"natOutgoingAddress": "198.18.0.1"}, None), ({"natOutgoingAddress": "2001:db8::1"}, "is not a valid IPv4 address"),
    ({"deviceRouteSourceAddressIPv6": "2001:db8::1"}, None),
    ({"deviceRouteSourceAddressIPv6": "198.18.0.1"}, "is not a valid IPv6 address"),
    ({"routeTableRange": {"min": 1, "max": 250}}, None), ({"routeTableRange": {"min": 1, "max": 251}}, "within 1..250"),
    ({"routeTableRanges": [{"min": 1, "max": 65535}]}, None), ({"routeTableRanges": [{"min": 1, "max": 65536}]},
                                                               "targets too many tables"),
    ({"routeTableRanges": [{"min": 5, "max": 4}]}, "min value cannot be greater than max value"),
    ({"routeTableRange": {"min": 1, "max": 2}, "routeTableRanges": [{"min": 3, "max": 4}]},
     "routeTableRange and routeTableRanges cannot both be set"),
    ({"healthTimeoutOverrides": [{"name": "InternalDataplaneMainLoop", "timeout": "1m"}]}, None),
    ({"healthTimeoutOverrides": [{"name": "a", "timeout": "-1s"}]}, "Timeout should not be negative"),
    ({"kubeNodePortRanges": ["30000:32767", 8080]}, None), ({"kubeNodePortRanges": list(range(1, 9))}, "too long (max 7)"),
    ({"kubeNodePortRanges": ["http"]}, "node port ranges should not contain named ports"),
    ({"natPortRange": "32768:65535"}, None), ({"natPortRange": 0}, "Port = '0' (port range invalid"),
    ({"failsafeInboundHostPorts": [{"protocol": "SCTP", "port": 0, "net": "10.0.0.0/8"}]}, None),
    ({"failsafeInboundHostPorts": [{"port": 70000}]}, "cannot unmarshal number 70000"),
    ({"wireguardListeningPort": 51820}, None), ({"wireguardListeningPort": 0}, "because of Tag: gt"),
    ({"wireguardRoutingRulePriority": 32765}, None), ({"wireguardRoutingRulePriority": 32766}, "because of Tag: lt"),
    ({"wireguardInterfaceName": "wg0"}, None), ({"wireguardInterfaceName": "wg 0"}, "because of Tag: interface"),
    ({"goGCThreshold": -1}, None), ({"goGCThreshold": -2}, "because of Tag: gte"),
    ({"bpfMaglevMaxServices": 3000}, None), ({"bpfMaglevMaxServices": 3001}, "because of Tag: lte"),
    ({"bpfMapSizeConntrackCleanupQueue": 1}, None), ({"bpfMapSizeConntrackCleanupQueue": 0}, "greater than or equal to 1"),
    ({"debugPort": 65535}, None), ({"debugPort": 65536}, "because of Tag: lte"),
    ({"featureDetectOverride": "ChecksumOffloadBroken=true"}, None), ({"featureDetectOverride": "x"}, "keyValueList"),
    ({"featureGates": "BPFConnectTimeLoadBalancingWorkaround=enabled"}, None), ({"featureGates": "a=b=c"}, "should match"),
    ({"prometheusMetricsHost": "0.0.0.0"}, None), ({"prometheusMetricsHost": "a b"}, "Tag: prometheusHost"),
    ({"iptablesNATOutgoingInterfaceFilter": "eth+"}, None), ({"iptablesNATOutgoingInterfaceFilter": "a b"}, "ifaceFilter"),
    ({"bpfLogFilters": {"all": "tcp"}}, None), ({"bpfLogFilters": {"bad name!": "x"}}, "Tag: bpfLogFilters"),
    ({"bpfForceTrackPacketsFromIfaces": ["docker+"]}, None), ({"bpfForceTrackPacketsFromIfaces": ["a b"]}, "ifaceFilterSlice"),
    ({"bpfDSROptoutCIDRs": ["10.0.0.0/8"]}, None), ({"bpfDSROptoutCIDRs": ["nope"]}, "because of Tag: cidrs"),
    ({"mtuIfacePattern": "^eth"}, None), ({"mtuIfacePattern": "(?=x)"}, "because of Tag: regexp"),
    ({"bpfConntrackTimeouts": {"tcpEstablished": "1h", "icmpTimeout": "Auto"}}, None),
    ({"bpfConntrackTimeouts": {"tcpEstablished": "long"}}, "spec.bpfConntrackTimeouts.tcpEstablished in body"),
    ({"nodeSelector": "all()"}, "nodeSelector must not be set on the 'default' or per-node"),
    ({"nftablesMode": "Enabled"}, None), ({"nftablesMode": "On"}, 'Unsupported value: "On"'),
    ({"prometheusMetricsClientAuth": "NoClientCert"}, None), ({"prometheusMetricsClientAuth": "None"}, "Tag: oneof"),
    ({"dropActionOverride": "LogAndDrop"}, None), ({"dropActionOverride": "logAndDrop"}, "Tag: oneof"),
    ({"bpfExportBufferSizeMB": 1}, None),
]


@pytest.mark.parametrize("spec,error", FELIX, ids=lambda v: str(v)[:60])
def test_felix_checks(spec: dict[str, Any], error: str | None) -> None:
    check(felix(**spec), error)


def test_felix_node_selector_outside_default_and_node_configs() -> None:
    check(doc("FelixConfiguration", {"nodeSelector": "all()"}, name="selected"), None)


def test_every_felix_field_is_accepted_and_printed_back_unchanged() -> None:
    spec = full_felix_spec()
    assert len(spec) == len(PARAMETERS) - 2  # nodeSelector and routeTableRange exclude others
    out = load_resource(felix(**spec)).output()["spec"]
    assert out == spec


def test_full_felix_export_round_trips_byte_for_byte() -> None:
    first = to_yaml(load_resource(felix(**full_felix_spec())).output())
    second = to_yaml(load_resource(flatten(parse_documents(first))[0]).output())
    assert first == second


def test_felix_output_form() -> None:
    out = load_resource(felix(ipv6Support=False, failsafeInboundHostPorts=[], healthHost="",
                              iptablesRefreshInterval="90s")).output()["spec"]
    # Pointer fields keep false, [] and ""; bpfLogLevel is always printed; nftablesMode has the CRD default.
    assert out == {"ipv6Support": False, "failsafeInboundHostPorts": [], "healthHost": "",
                   "iptablesRefreshInterval": "1m30s", "bpfLogLevel": "", "nftablesMode": "Auto"}


@pytest.mark.parametrize("name,value,canonical", [
    ("chainInsertMode", "append", "Append"), ("iptablesBackend", "NFT", "NFT"), ("iptablesRefreshInterval", "2m", "2m0s"),
    ("failsafeInboundHostPorts", [{"protocol": "udp", "port": 53}, {"port": 22}],
     [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 22}]),
    ("kubeNodePortRanges", [8080, "30000:32767"], [8080, "30000:32767"]),
])
def test_felix_values_as_the_agent_reads_them(name: str, value: Any, canonical: Any) -> None:
    assert PARAMETERS[name].check(value) == canonical


@pytest.mark.parametrize("name,value", [
    ("failsafeInboundHostPorts", [{"protocol": "SCTP", "port": 1}]), ("interfacePrefix", "cali,bad name"),
    ("interfaceExclude", "/[/"), ("healthPort", 65536), ("iptablesMarkMask", 15), ("logSeverityScreen", "debug"),
])
def test_felix_values_the_agent_refuses(name: str, value: Any) -> None:
    with pytest.raises(InvalidParameter):
        PARAMETERS[name].check(value)


# --- durations --------------------------------------------------------------------------------------

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


# --- output form and round trips ----------------------------------------------------------------------

@pytest.mark.parametrize("rule,out", [
    ({"action": "Allow", "protocol": "6"}, {"action": "Allow", "protocol": 6}),
    ({"action": "Allow", "protocol": "TCP", "destination": {"ports": ["80", "5:5", "1:2"]}},
     {"action": "Allow", "protocol": "TCP", "destination": {"ports": [80, 5, "1:2"]}}),
    ({"action": "Allow", "source": {}, "destination": {"selector": ""}}, {"action": "Allow"}),
])
def test_values_print_as_calicoctl_prints_them(rule: dict[str, Any], out: dict[str, Any]) -> None:
    assert load_resource(gnp(rule)).output()["spec"]["ingress"] == [out]


def test_tier_prints_its_status() -> None:
    assert load_resource(doc("Tier", name="t")).output()["status"] == {}


ROUND_TRIP = [
    doc("GlobalNetworkPolicy", {
        "tier": "security", "order": 10.5, "selector": "role == 'db'", "types": ["Ingress", "Egress"],
        "ingress": [{"action": "Log", "metadata": {"annotations": {"why": "audit"}}},
                    {"action": "Deny", "protocol": "TCP", "source": {"nets": ["198.18.0.0/16"]},
                     "destination": {"ports": [22, "8000:8080", "http"]}}],
        "egress": [{"action": "Allow", "protocol": "ICMPv6", "icmp": {"type": 128, "code": 0}},
                   {"action": "Allow", "destination": {"services": {"name": "api", "namespace": "prod"}}}],
        "applyOnForward": True, "performanceHints": ["AssumeNeededOnEveryNode"]}, name="security.db"),
    doc("NetworkPolicy", {"selector": "all()", "ingress": [{"action": "Allow", "protocol": "TCP",
                                                            "http": {"methods": ["GET"], "paths": [{"prefix": "/a"}]}}]},
        name="p", namespace="prod", labels={"app": "shop"}, annotations={"owner": "ops: \"team\""}),
    doc("FelixConfiguration", {"dropActionOverride": "LogAndAccept", "ipv6Support": False,
                               "failsafeInboundHostPorts": [], "iptablesRefreshInterval": "2m"}, name="default"),
    doc("WorkloadEndpoint", {"node": "node-a", "orchestrator": "k8s", "pod": "w", "endpoint": "eth0",
                             "interfaceName": "cali0", "ipNetworks": ["198.18.0.2/32"], "profiles": ["kns.prod"],
                             "allowSpoofedSourcePrefixes": ["198.19.0.0/16"], "qosControls": {"egressBandwidth": 1000}},
        name="node--a-k8s-w-eth0", namespace="prod", labels={"version": "1.10"}),
    doc("Tier", {"order": 50, "defaultAction": "Pass"}, name="security"),
    doc("Profile", {"labelsToApply": {"env": "yes"}}, name="kns.prod", labels={"on": "true"}),
]


@pytest.mark.parametrize("d", ROUND_TRIP, ids=lambda d: d["kind"])
@pytest.mark.parametrize("codec", ["yaml", "json"])
def test_round_trip_is_stable(d: dict[str, Any], codec: str) -> None:
    dump = to_yaml if codec == "yaml" else to_json
    first = dump(load_resource(d).output())
    again = flatten(parse_documents(first))
    assert len(again) == 1
    assert dump(load_resource(again[0]).output()) == first


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


# --- bad input never crashes and never shows Python objects ---------------------------------------------

ODD_VALUES: list[Any] = [[6], {"a": 1}, [[1]], 1.5, True, None, "", "x", -1, 2**70]


def _every_field_documents() -> list[dict[str, Any]]:
    rule_fields = ["action", "ipVersion", "protocol", "notProtocol", "icmp", "notICMP", "source", "destination",
                   "http", "metadata"]
    entity_fields = ["nets", "notNets", "selector", "notSelector", "namespaceSelector", "ports", "notPorts",
                     "services", "serviceAccounts"]
    cases = []
    for value in ODD_VALUES:
        cases += [gnp({"action": "Allow", field: value}) for field in rule_fields]
        cases += [gnp({"action": "Allow", "protocol": "TCP", "source": {field: value}}) for field in entity_fields]
        cases += [gnp({"action": "Allow", "protocol": "TCP", "source": {"ports": [value]}})]
        cases += [felix(**{name: value}) for name in PARAMETERS]
        cases += [felix(failsafeInboundHostPorts=[{"protocol": value, "port": 1}])]
        cases += [hep(**{field: value}) for field in ("node", "interfaceName", "expectedIPs", "profiles", "ports")]
        cases += [wep(**{field: value}) for field in ("ipNetworks", "ipNATs", "ipv4Gateway", "mac", "ports",
                                                      "qosControls", "allowSpoofedSourcePrefixes")]
        cases += [doc("Tier", {"order": value}), doc("Tier", labels=value), doc("Tier", name=value)]
    return cases


def test_odd_values_in_every_field_are_clean_errors() -> None:
    for d in _every_field_documents():
        try:
            load_resource(d)
        except ResourceError as exc:
            assert not re.search(r"\w\(|object at 0x|\{'", str(exc).replace("(regex", "").replace("(e.g.", "")), str(exc)


@settings(max_examples=examples(200))
@given(st.dictionaries(st.text(max_size=8), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10), max_size=5))
def test_random_documents_never_crash_loading(data: dict[str, Any]) -> None:
    for kind in ("GlobalNetworkPolicy", "FelixConfiguration", "WorkloadEndpoint", "Tier"):
        try:
            load_resource(doc(kind, data))
        except (ResourceError, DecodeError, ValidationError):
            pass


def test_random_yaml_is_parsed_or_refused() -> None:
    assert yaml.safe_load("a: 1")  # the test file's own YAML stays plain
