"""The renderer against dataplane.md: its examples verbatim, and each rendering rule."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tortie.calc import Calculator
from tortie.config import Marks, effective_config, settings_for
from tortie.core import Direction
from tortie.dataplane import match_text, rule_ids, rule_text
from tortie.dataplane.tables import parse_save, plan
from tortie.plan import Denial, build_plan, family_mismatch, nflog_prefix
from tortie.render import Mark, Renderer, chain_name, ipset_name, render, rule_match
from tortie.resources import load_resource

from .scenarios import load_cases

# dataplane.md's example, except the named-port set: a destination without a selector looks the
# port up over all(), in every namespace, not over the policy's namespace (felix/calc/
# rule_scanner.go namedPortsToIPSets; libcalico-go updateprocessors/rules.go scopes a side only
# when a selector field is used), so its id is that of (all(), tcp, pg).
SPEC_EXAMPLE = """\
-A cali-tw-cali2222 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A cali-tw-cali2222 -m conntrack --ctstate INVALID -j DROP
-A cali-tw-cali2222 -j MARK --set-mark 0x0/0x70000
-A cali-tw-cali2222 -m comment --comment "Start of tier default" -j MARK --set-mark 0x0/0x20000
-A cali-tw-cali2222 -m mark --mark 0x0/0x20000 -j cali-pi-np.prod.db-access
-A cali-tw-cali2222 -m mark --mark 0x10000/0x10000 -j RETURN
-A cali-tw-cali2222 -m comment --comment "End of tier default" -m mark --mark 0x0/0x20000 -j NFLOG --nflog-group 1 --nflog-prefix "DPI-1|default|prod/db-access" --nflog-size 80
-A cali-tw-cali2222 -m comment --comment "End of tier default" -m mark --mark 0x0/0x20000 -j LOG --log-prefix "calico-drop: " --log-level 5
-A cali-tw-cali2222 -m comment --comment "End of tier default" -m mark --mark 0x0/0x20000 -j DROP
-A cali-tw-cali2222 -j cali-pri-kns.prod
-A cali-tw-cali2222 -m mark --mark 0x10000/0x10000 -j RETURN
-A cali-tw-cali2222 -m comment --comment "No profile allowed" -j NFLOG --nflog-group 1 --nflog-prefix "DRI0|__NO_MATCH__" --nflog-size 80
-A cali-tw-cali2222 -m comment --comment "No profile allowed" -j LOG --log-prefix "calico-drop: " --log-level 5
-A cali-tw-cali2222 -m comment --comment "No profile allowed" -j DROP
-A cali-pi-np.prod.db-access -p tcp -j LOG --log-prefix "calico-packet: " --log-level 5
-A cali-pi-np.prod.db-access -p tcp -m set --match-set cali40s:8UUyI9QM4WJ2BIxyI6X5jAX src -m set --match-set cali40n:lJoBvEcARKewmTK8I-mwXfh dst,dst -j MARK --set-mark 0x10000/0x10000
-A cali-pi-np.prod.db-access -m mark --mark 0x10000/0x10000 -j RETURN
"""


def _view(file: str = "worked-examples.yaml"):  # type: ignore[no-untyped-def]
    return next(c for c in load_cases() if c.file == file).view()


def _plan(view: Any = None, interfaces: Any = None, **spec: Any):  # type: ignore[no-untyped-def]
    return build_plan(_view() if view is None else view, effective_config("n1", spec).typed, interfaces or {})


def _lines(rendered: Any, family: int, table: str, *chains: str) -> list[str]:
    t = rendered.tables[(family, table)]
    return [f"-A {c} {rule_text(rule)}" for c in chains for rule in t.chains[c].rules]


def _texts(rules: Any) -> list[str]:
    return [rule_text(r) for r in rules]


def _denial(prefix: str) -> Denial:
    return Denial(Direction.INGRESS, "t", "x", 0, "t|x|0|deny", prefix)


def test_spec_example_verbatim() -> None:
    rendered = render(_plan(dropActionOverride="LogAndDrop", prometheusReporterEnabled=True))
    assert _lines(rendered, 4, "filter", "cali-tw-cali2222", "cali-pi-np.prod.db-access") == \
        SPEC_EXAMPLE.splitlines()
    assert rendered.ipsets["cali40n:lJoBvEcARKewmTK8I-mwXfh"].members == {"10.65.0.20,tcp:5432"}
    assert rendered.ipsets["cali40s:8UUyI9QM4WJ2BIxyI6X5jAX"].members == {"10.65.0.10"}


def test_spec_ids_and_names() -> None:
    assert rule_ids("INPUT", ["-A INPUT -j cali-INPUT"]) == ["lV9p8wDoA5K-ayca"]
    assert rule_ids("cali-INPUT", ["-A cali-INPUT -i cali+ -g cali-wl-to-host",
                                   "-A cali-INPUT -m mark --mark 0x10000/0x10000 -j ACCEPT"]) == [
        "BWwde1RvJurNCVgN", "LYg_zUv_u71dYflw"]
    assert chain_name("cali-pi-", "np.prod.allow-frontend") == "cali-pi-_Vspq_hgOL8z9VqVIVee"
    assert chain_name("cali-pri-", "app-servers-with-a-long-name") == "cali-pri-_rlmNW9qe2KNf0_ojra"
    assert chain_name("cali-tw-", "cali12345678901") == "cali-tw-cali12345678901"
    assert len(chain_name("cali-pi-", "gnp." + "x" * 100)) == 28
    assert ipset_name(4, "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug") == "cali40s:5y5I3VdRZfDU01O--xXAPx2"


def test_top_level_chains() -> None:
    rendered = render(_plan())
    assert _lines(rendered, 4, "filter", "cali-INPUT", "cali-FORWARD", "cali-OUTPUT") == [
        "-A cali-INPUT -i cali+ -g cali-wl-to-host",
        "-A cali-INPUT -m mark --mark 0x10000/0x10000 -j ACCEPT",
        "-A cali-INPUT -j MARK --set-mark 0x0/0x1f0000",
        "-A cali-INPUT -j cali-from-host-endpoint",
        "-A cali-INPUT -m mark --mark 0x10000/0x10000 -j ACCEPT",
        "-A cali-FORWARD -j MARK --set-mark 0x0/0x1e0000",
        "-A cali-FORWARD -m mark --mark 0x0/0x10000 -j cali-from-hep-forward",
        "-A cali-FORWARD -i cali+ -j cali-from-wl-dispatch",
        "-A cali-FORWARD -o cali+ -j cali-to-wl-dispatch",
        "-A cali-FORWARD -j cali-to-hep-forward",
        "-A cali-FORWARD -m mark --mark 0x10000/0x10000 -j ACCEPT",
        "-A cali-OUTPUT -m mark --mark 0x10000/0x10000 -j ACCEPT",
        "-A cali-OUTPUT -o cali+ -j RETURN",
        "-A cali-OUTPUT -j MARK --set-mark 0x0/0x1f0000",
        "-A cali-OUTPUT -m conntrack ! --ctstate DNAT -j cali-to-host-endpoint",
        "-A cali-OUTPUT -m mark --mark 0x10000/0x10000 -j ACCEPT",
    ]
    assert _lines(rendered, 4, "filter", "cali-from-wl-dispatch")[-1] == \
        '-A cali-from-wl-dispatch -m comment --comment "Unknown interface" -j DROP'
    v6 = _lines(rendered, 6, "filter", "cali-wl-to-host")
    assert v6[:6] == [f"-A cali-wl-to-host -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT"
                      for t in (130, 131, 132, 133, 135, 136)]
    assert v6[6:] == ["-A cali-wl-to-host -j cali-from-wl-dispatch",
                      "-A cali-wl-to-host -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                      "-A cali-wl-to-host -j DROP"]
    assert {k: _texts(v) for k, v in rendered.tables[(4, "filter")].hooks.items()} == {
        "INPUT": ["-j cali-INPUT"], "FORWARD": ["-j cali-FORWARD"], "OUTPUT": ["-j cali-OUTPUT"]}


def test_marks_from_other_masks() -> None:
    m = Marks.from_mask(0xF8)
    assert (m.a, m.p, m.d, m.s0, m.s1) == (0x8, 0x10, 0x20, 0x40, 0x80)
    m = Marks.from_mask(0x80402011)
    assert (m.a, m.p, m.d, m.s0, m.s1) == (0x1, 0x10, 0x2000, 0x400000, 0x80000000)
    with pytest.raises(ValueError):
        Marks.from_mask(0xF)


@pytest.mark.parametrize("override,raw,mangle,filter_", [
    ("Drop", ["-j DROP"], ["-j DROP"], ["-j DROP"]),
    ("LogAndDrop", ['-j LOG --log-prefix "calico-drop: " --log-level 5', "-j DROP"],
     ['-j LOG --log-prefix "calico-drop: " --log-level 5', "-j DROP"],
     ['-j LOG --log-prefix "calico-drop: " --log-level 5', "-j DROP"]),
    ("Accept", ["-j MARK --set-mark 0x10000/0x10000", "-j CT --notrack", "-j ACCEPT"],
     ["-j MARK --set-mark 0x10000/0x10000", "-j ACCEPT"], ["-j ACCEPT"]),
    ("LogAndAccept", ['-j LOG --log-prefix "calico-drop: " --log-level 5', "-j MARK --set-mark 0x10000/0x10000",
                      "-j CT --notrack", "-j ACCEPT"],
     ['-j LOG --log-prefix "calico-drop: " --log-level 5', "-j MARK --set-mark 0x10000/0x10000", "-j ACCEPT"],
     ['-j LOG --log-prefix "calico-drop: " --log-level 5', "-j ACCEPT"]),
])
def test_deny_sequence_per_override_and_table(override: str, raw: list[str], mangle: list[str],
                                             filter_: list[str]) -> None:
    renderer = Renderer(_plan(dropActionOverride=override, prometheusReporterEnabled=True))
    match, m = (Mark(0x40000, 0x40000),), "-m mark --mark 0x40000/0x40000"
    assert _texts(renderer.deny(match, "raw", _denial("DPI0|x"))) == [f"{m} {r}" for r in raw]
    nflog = f'{m} -j NFLOG --nflog-group 1 --nflog-prefix "DPI0|x" --nflog-size 80'
    assert _texts(renderer.deny(match, "mangle", _denial("DPI0|x"))) == [nflog] + [f"{m} {r}" for r in mangle]
    assert _texts(renderer.deny(match, "filter", _denial("DPI0|x"))) == [nflog] + [f"{m} {r}" for r in filter_]


def test_rate_limit_and_log_action_prefix() -> None:
    renderer = Renderer(_plan(dropActionOverride="LogAndAccept", logDropActionOverride=True,
                              logActionRateLimit="5/minute", logActionRateLimitBurst=0))
    assert _texts(renderer.deny((), "filter")) == [
        '-m limit --limit 5/minute -j LOG --log-prefix "calico-drop LOGandACCEPT: " --log-level 5', "-j ACCEPT"]


def test_nflog_prefix_is_hashed_past_63_bytes() -> None:
    assert nflog_prefix("P", Direction.EGRESS, 3, "default|short") == "DPE3|default|short"
    long = nflog_prefix("P", Direction.INGRESS, 12, "tier|" + "n" * 80)
    assert long.startswith("DPI12|#") and len(long) == len("DPI12|#") + 24


def _rule(**spec: Any):  # type: ignore[no-untyped-def]
    doc = load_resource({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                         "metadata": {"name": "p"}, "spec": {"ingress": [{"action": "Allow", **spec}]}}).output()
    calc = Calculator("n1")
    calc.load([doc, load_resource({"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint",
                                   "metadata": {"name": "h"}, "spec": {"node": "n1", "interfaceName": "eth0"}}).output()])
    return calc.view().policies["p"].ingress[0]


def _match(rule: Any, family: int) -> tuple[list[str], str]:
    blocks, match = rule_match(rule, family, Marks.from_mask(0xFFFF0000))
    return _texts(blocks), match_text(match)


def test_match_blocks_clear_s1_before_each_later_block() -> None:
    rule = _rule(protocol="TCP", source={"ports": [1, "ssh"], "nets": ["198.18.0.0/24", "198.18.1.0/24"]},
                 destination={"ports": [80, "http"], "notNets": ["198.18.2.0/24", "198.18.3.0/24"]})
    blocks, match = _match(rule, 4)
    src_set, dst_set = [b.split("--match-set ")[1].split()[0] for b in blocks if "--match-set" in b]
    assert blocks == [
        "-j MARK --set-mark 0x0/0x180000",
        "-p tcp -m multiport --source-ports 1 -j MARK --set-mark 0x80000/0x80000",
        f"-p tcp -m set --match-set {src_set} src,src -j MARK --set-mark 0x80000/0x80000",
        "-j MARK --set-mark 0x0/0x100000",
        "-p tcp -m multiport --destination-ports 80 -j MARK --set-mark 0x100000/0x100000",
        f"-p tcp -m set --match-set {dst_set} dst,dst -j MARK --set-mark 0x100000/0x100000",
        "-m mark --mark 0x0/0x100000 -j MARK --set-mark 0x0/0x80000",
        "-j MARK --set-mark 0x0/0x100000",
        "-s 198.18.0.0/24 -j MARK --set-mark 0x100000/0x100000",
        "-s 198.18.1.0/24 -j MARK --set-mark 0x100000/0x100000",
        "-m mark --mark 0x0/0x100000 -j MARK --set-mark 0x0/0x80000",
        "-d 198.18.2.0/24 -j MARK --set-mark 0x0/0x80000",
        "-d 198.18.3.0/24 -j MARK --set-mark 0x0/0x80000",
    ]
    assert match == "-m mark --mark 0x80000/0x80000 -p tcp"


def test_a_single_port_alternative_is_inlined() -> None:
    rule = _rule(protocol="TCP", source={"ports": [1, 2]})
    assert _match(rule, 4) == ([], "-p tcp -m multiport --source-ports 1,2")


def test_only_negative_blocks_start_with_s0_set() -> None:
    rule = _rule(source={"notNets": ["198.18.2.0/24", "198.18.3.0/24"]})
    blocks, match = _match(rule, 4)
    assert blocks[0] == "-j MARK --set-mark 0x80000/0x180000"
    assert match == "-m mark --mark 0x80000/0x80000"


def test_multiport_chunks_of_fifteen_slots() -> None:
    ports = list(range(1, 15)) + ["100:200", 300]
    rule = _rule(protocol="UDP", destination={"ports": ports, "notPorts": list(range(1000, 1017))})
    blocks, match = _match(rule, 4)
    assert "--destination-ports 1,2,3,4,5,6,7,8,9,10,11,12,13,14 " in blocks[1]
    assert "--destination-ports 100:200,300 " in blocks[2]
    assert "-m multiport ! --destination-ports 1000,1001,1002,1003,1004,1005,1006,1007,1008,1009,1010,1011,1012," \
           "1013,1014 -m multiport ! --destination-ports 1015,1016" in match


def test_fragment_order_negations_and_families() -> None:
    rule = _rule(protocol="ICMP", icmp={"type": 8, "code": 0}, notICMP={"type": 3},
                 source={"nets": ["198.18.0.0/16"], "notNets": ["198.18.9.0/24"], "selector": "a == 'b'",
                         "notSelector": "c == 'd'"})
    blocks, match = _match(rule, 4)
    # One -s per rule: beside the inline net, the negated one is a block (felix/rules/policy.go).
    assert blocks == ["-j MARK --set-mark 0x80000/0x180000", "-s 198.18.9.0/24 -j MARK --set-mark 0x0/0x80000"]
    words = match.split()
    assert words[:8] == ["-m", "mark", "--mark", "0x80000/0x80000", "-p", "icmp", "-s", "198.18.0.0/16"]
    assert match.count("-s ") == 1
    assert match.index("--match-set") < match.index("--icmp-type 8/0") < match.index("! --icmp-type 3")
    # With a selector, the notSelector is folded into its set (felix/calc/rule_scanner.go,
    # combineMatchesIfPossible); alone, it is a negated set match.
    assert match.count("--match-set") == 1 and "! --match-set" not in match
    _, match = _match(_rule(source={"notSelector": "c == 'd'"}), 4)
    assert match.startswith("-m set ! --match-set cali40s:") and match.endswith(" src")
    assert family_mismatch(rule, 6)  # ICMP and an IPv4 net: not for IPv6
    assert family_mismatch(_rule(protocol="TCP", notProtocol="TCP"), 4)
    _, match = _match(_rule(notProtocol="UDP", ipVersion=6), 6)
    assert match == "! -p udp"


def test_star_hep_dispatch_with_exclusions() -> None:
    docs = [load_resource(d).output() for d in [
        {"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint", "metadata": {"name": "all"},
         "spec": {"node": "n1", "interfaceName": "*"}},
        {"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint", "metadata": {"name": "eth1"},
         "spec": {"node": "n1", "expectedIPs": ["198.18.7.1"]}},
    ]]
    calc = Calculator("n1")
    calc.load(docs)
    rendered = render(_plan(calc.view(), {"eth1": frozenset({"198.18.7.1"}), "veth0": frozenset(),
                                          "vethx": frozenset(), "eth2": frozenset()}, interfaceExclude="kube-ipvs0,/^veth/"))
    assert _lines(rendered, 4, "filter", "cali-from-host-endpoint") == [
        "-A cali-from-host-endpoint -i eth1 -g cali-fh-eth1",
        "-A cali-from-host-endpoint -i lo -j RETURN",
        "-A cali-from-host-endpoint -i cali+ -j RETURN",
        "-A cali-from-host-endpoint -i kube-ipvs0 -j RETURN",
        "-A cali-from-host-endpoint -i veth0 -j RETURN",
        "-A cali-from-host-endpoint -i vethx -j RETURN",
        "-A cali-from-host-endpoint -g cali-fh-*",
    ]
    assert "cali-failsafe-in" in rendered.tables[(4, "filter")].chains
    assert "cali-fh-*" not in rendered.tables[(4, "raw")].chains  # no untracked policy applies


def test_plan_of_an_unchanged_table_is_empty_and_foreign_rules_force_a_rewrite() -> None:
    rendered = render(_plan())
    table = rendered.tables[(4, "filter")]
    first = plan(table, parse_save(""), insert=True)
    lines = [line for line in first.batch.splitlines() if line.startswith(("-A", "-I"))]
    kernel = [f":{c} ACCEPT [0:0]" for c in ("INPUT", "FORWARD", "OUTPUT")]
    save = "\n".join([f":{c} - [0:0]" for c in table.chains] + kernel
                      + [re.sub(r"^-I (\w+) 1 ", r"-A \1 ", line) for line in lines])
    assert plan(table, parse_save(save), insert=True).batch == ""
    tampered = save + "\n-A cali-tw-cali2222 -j ACCEPT"
    again = plan(table, parse_save(tampered), insert=True)
    assert again.rewritten == ["cali-tw-cali2222"]


def test_workload_dispatch_is_one_level_with_valid_names_however_the_names_nest() -> None:
    """Interface names that share ever longer prefixes (``cali``, ``calia``, ``caliaa``, … with 17
    at the end) used to nest child dispatch chains, whose names outgrew 28 bytes: the whole
    dataplane was refused. As Calico builds it, there is one level of children, each named for
    one character and listing its names flat, and every name fits."""
    names = [f"cali{'a' * j}b" for j in range(10)] + [f"cali{'a' * 10}{c}" for c in "0123456789cdefghi"]
    docs = [{"apiVersion": "projectcalico.org/v3", "kind": "Profile", "metadata": {"name": "kns.t"},
             "spec": {"ingress": [{"action": "Allow"}]}}]
    docs += [{"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
              "metadata": {"name": f"w{i}", "namespace": "t"},
              "spec": {"node": "n1", "interfaceName": name, "ipNetworks": [f"198.18.31.{i + 1}/32"],
                       "profiles": ["kns.t"]}} for i, name in enumerate(names)]
    calc = Calculator("n1")
    calc.load([load_resource(d).output() for d in docs])
    chains = render(build_plan(calc.view(), settings_for("n1"))).tables[(4, "filter")].chains
    root = chains["cali-from-wl-dispatch"]
    children = {name for name in chains if name.startswith("cali-from-wl-dispatch-")}
    assert children == {"cali-from-wl-dispatch-a"}
    assert all(len(name.encode()) <= 28 and rule_text(rule) for name, chain in chains.items() for rule in chain.rules)
    assert not set(chains["cali-from-wl-dispatch-a"].targets) & children  # no grandchildren
    assert set(root.targets) | set(chains["cali-from-wl-dispatch-a"].targets) >= {
        chain_name("cali-fw-", name) for name in names}
