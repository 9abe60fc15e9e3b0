"""Loading the scenario files of tests/scenarios (shared by the model and kernel tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from collections.abc import Mapping

from tortie.calc import Calculator, NodeView
from tortie.config import Settings, effective_config
from tortie.core import parse_protocol
from tortie.ctl.explain import parse_endpoint
from tortie.model import Packet, route
from tortie.plan import Plan, build_plan
from tortie.resources import load_resource

DIRECTORY = Path(__file__).parent / "scenarios"


@dataclass
class Case:
    file: str
    name: str
    node: str
    docs: list[dict[str, Any]]
    config: dict[str, Any]
    node_config: dict[str, Any] | None
    packet: dict[str, Any]
    expect: dict[str, Any]

    @property
    def id(self) -> str:
        overlay = ",".join(f"{k}={v}" for k, v in {**self.config, **(self.node_config or {})}.items())
        return f"{self.file}: {self.name} [{overlay}]"

    def view(self) -> NodeView:
        calc = Calculator(self.node)
        calc.load(self.docs)
        return calc.view()

    def settings(self, **overrides: object) -> Settings:
        return effective_config(self.node, {**self.config, **overrides}, self.node_config).typed

    def plan(self, interfaces: Mapping[str, frozenset[str]] | None = None, **overrides: object) -> Plan:
        """The plan of the case's node; the interfaces default to the model's placement."""
        view = self.view()
        return build_plan(view, self.settings(**overrides),
                          self.interface_addresses(view) if interfaces is None else interfaces)

    def build_packet(self, view: NodeView) -> Packet:
        p = self.packet
        src, sport = parse_endpoint(str(p["src"]), "src")
        dst, dport = parse_endpoint(str(p["dst"]), "dst")
        in_iface, out_iface = route(view, src, dst)
        if "inIface" in p:
            in_iface = None if p["inIface"] == "host" else p["inIface"]
        if "outIface" in p:
            out_iface = None if p["outIface"] == "host" else p["outIface"]
        return Packet(src, dst, parse_protocol(str(p["proto"])).number, sport, dport, p.get("icmpType"),
                      p.get("icmpCode"), p.get("state", "new"), in_iface, out_iface)

    def interface_addresses(self, view: NodeView) -> dict[str, frozenset[str]]:
        return {"eth0": frozenset(str(a.network_address) for ep in view.endpoints.values()
                                  if ep.entity.kind == "HostEndpoint" for a in ep.entity.addresses)}


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(DIRECTORY.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        docs = [load_resource(d).output() for d in data["resources"]]
        for variant in data.get("variants", [{}]):
            for packet in data["packets"]:
                config = {**data.get("config", {}), **variant.get("config", {}), **packet.get("config", {})}
                node_config = variant.get("nodeConfig", data.get("nodeConfig"))
                expect = {**variant.get("expect", {}), **packet.get("expect", {})}
                cases.append(Case(path.name, packet["name"], data["node"], docs, config, node_config, packet, expect))
    return cases
