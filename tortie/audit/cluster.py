"""The model over a whole resource set: who owns each address, and each node's plan, built
when a packet first needs it. Replays of log lines and flows all go through here, so a
kernel line, a flow log record and a what-if are judged by the same plans the agent
enforces (model/, plan/)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property

from ..calc import Calculator, Entity
from ..config import Settings, effective_config
from ..core import Verdict
from ..model import EXTERNAL_INTERFACE, Packet, PathResult, Result, evaluate, evaluate_path, plan_for
from ..plan import Plan
from ..plan import NO_MATCH, PROFILE_TIER
from .resources import ResourceSet, promoted, staged

ENDPOINT_KINDS = ("WorkloadEndpoint", "HostEndpoint")


@dataclass(frozen=True)
class DeniedBy:
    """The denial a verdict names, from its metric label (`<tier>|<policy>|<rule>|deny`,
    plan/denials.py): the tier ("" for profiles), `[<namespace>/]<name>` of the policy or
    profile (`__NO_MATCH__`: no profile allowed), and the rule's index (-1: end of tier)."""

    tier: str
    policy: str
    rule: int

    @classmethod
    def from_label(cls, label: str) -> DeniedBy:
        tier, policy, rule, _ = label.split("|")
        return cls("" if tier == PROFILE_TIER else tier, policy, int(rule))

    def __str__(self) -> str:
        if not self.tier:
            return "no profile allowed" if self.policy == NO_MATCH else \
                f"profile {self.policy} rule {self.rule}"
        if self.rule < 0:
            return f"end of tier {self.tier} (after {self.policy})"
        return f"tier {self.tier}, policy {self.policy} rule {self.rule}"


@dataclass(frozen=True)
class Judgement:
    """What the policies decide for one packet across the nodes it crosses: the verdict
    before any override, the node and denial that decided a deny (`cause` in words when no
    policy or profile rule did, as for an unknown workload interface)."""

    verdict: Verdict
    node: str | None = None
    cause: str = ""
    denied_by: DeniedBy | None = None


ALLOWED = Judgement(Verdict.ALLOW)


def judgement(node: str, result: Result) -> Judgement:
    """One node's Result as a Judgement."""
    if result.verdict is Verdict.ALLOW:
        return ALLOWED
    denied_by = DeniedBy.from_label(result.denied_by) if result.denied_by else None
    return Judgement(Verdict.DENY, node, result.cause, denied_by)


class Cluster:
    """The model of `resources`. `external` is the interface the model sends packets to and
    from addresses outside a node through (model.route)."""

    def __init__(self, resources: ResourceSet, external: str = EXTERNAL_INTERFACE) -> None:
        self.resources = resources
        self.external = external
        self._index = Calculator("")  # a node with no endpoints: the cluster-wide entities alone
        self._index.load(resources.items)
        self._plans: dict[str, Plan] = {}

    @cached_property
    def pending(self) -> Cluster:
        """The model of the same resources with every staged policy promoted, whose verdicts
        are the pending verdicts of this one (model/pending.py); this Cluster itself when
        no policy is staged."""
        return Cluster(promoted(self.resources), self.external) if staged(self.resources) else self

    @property
    def problems(self) -> tuple[str, ...]:
        """What the resource set left out, then what the calculator ignored."""
        return self.resources.problems + self._index.problems()

    def owner(self, address: str | None) -> Entity | None:
        """The endpoint that owns `address` (the first by key), else the network set, else None."""
        keys = self._index.owners.get(address or "", ())
        entities = [self._index.entities[k] for k in sorted(keys)]
        return next((e for e in entities if e.kind in ENDPOINT_KINDS), entities[0] if entities else None)

    def labels(self, entity: Entity) -> Mapping[str, str]:
        """`entity`'s effective labels (its own, its profiles', its namespace's)."""
        return self._index.index.labels.get(entity.key, entity.labels)

    def entities(self) -> list[Entity]:
        """Every endpoint and network set, by key."""
        return [self._index.entities[k] for k in sorted(self._index.entities)]

    def settings(self, node: str) -> Settings:
        """`node`'s typed settings from the set's FelixConfigurations (no config file, no environment)."""
        spec = self.resources.felix_spec
        return effective_config(node, spec("default"), spec(f"node.{node}"), env={}).typed

    def plan(self, node: str) -> Plan:
        plan = self._plans.get(node)
        if plan is None:
            calc = Calculator(node)
            calc.load(self.resources.items)
            plan = self._plans[node] = plan_for(calc.view(), self.settings(node), self.external)
        return plan

    def evaluate_at(self, node: str, packet: Packet) -> Result:
        """`packet` on `node`, on the interfaces it names."""
        return evaluate(self.plan(node), packet)

    def path(self, packet: Packet) -> PathResult:
        """`packet` through the node of its source, then the node of its destination, each
        placing it by its addresses (model.evaluate_path). No hops when no endpoint owns either."""
        nodes = [e.node for e in (self.owner(packet.src), self.owner(packet.dst))
                 if e is not None and e.kind in ENDPOINT_KINDS and e.node]
        return evaluate_path({node: self.plan(node) for node in dict.fromkeys(nodes)},
                             replace(packet, in_iface=None, out_iface=None))

    def judge(self, packet: Packet) -> Judgement | None:
        """The policies' verdict on `packet` along its path; None if no endpoint owns its
        source or destination (the model cannot place it)."""
        hops = self.path(packet).hops
        if not hops:
            return None
        for hop in hops:
            if hop.result.verdict is Verdict.DENY:
                return judgement(hop.node, hop.result)
        return ALLOWED

