"""What calc hands to the plan, the model and the dataplane: plain immutable data.

**Identity contract.** ``Calculator.view()`` builds a new ``NodeView`` each time, but its
parts are shared between views while they are unchanged: the same ``EndpointView``,
``PolicyView``, ``ProfileView`` or ``IPSet`` object means the same content, so consumers
may keep what they derived from a part, keyed by the part's identity, and reuse it
without comparing contents. In detail:

* an ``EndpointView`` is rebuilt whenever its entity, its effective labels, the policies
  that apply to it, their order or tiers, or a policy or profile it uses changes;
* a ``PolicyView`` or ``ProfileView`` is rebuilt whenever its resource changes (its rules
  refer to IP sets by id, so set membership does not rebuild it);
* an ``IPSet`` is rebuilt whenever its members change.

A new object does not promise a difference (a rebuild may give equal content); the same
object always promises none.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping

from ..core import Direction, IPNetwork, RuleAction, Stage
from .inputs import Entity, PolicyData
from .rules import CalcRule


@dataclass(frozen=True)
class TierView:
    """One tier as an endpoint meets it at one stage and direction: only the policies that
    apply there, in evaluation order (order, then name; evaluation.md §4.3)."""

    name: str
    order: float | None  # None: the tier sorts last (no order, or a tier that does not exist)
    policies: tuple[str, ...]  # policy keys, in evaluation order
    default_action: RuleAction = RuleAction.DENY  # at its end: Deny, or Pass on to the next tier


@dataclass(frozen=True)
class EndpointView:
    """A local workload or host endpoint: the entity as stored, its effective labels (its
    own, its profiles' and its namespace's, evaluation.md §2) and, for each stage and
    direction it takes part in, its tiers in order. Stages and directions with no policy
    are absent."""

    entity: Entity
    labels: Mapping[str, str]  # effective labels
    tiers: Mapping[tuple[Stage, Direction], tuple[TierView, ...]]  # the tiers in order, per stage and direction

    @property
    def key(self) -> str:
        return self.entity.key


@dataclass(frozen=True)
class PolicyView:
    """A policy that applies to some local endpoint, with its rules compiled (``CalcRule``:
    selectors resolved to IP set ids, ports and protocols typed), in the stored order."""

    data: PolicyData
    ingress: tuple[CalcRule, ...]
    egress: tuple[CalcRule, ...]


@dataclass(frozen=True)
class ProfileView:
    """A profile that a local endpoint lists, with its rules compiled as a policy's are."""

    name: str
    ingress: tuple[CalcRule, ...]
    egress: tuple[CalcRule, ...]


@dataclass(frozen=True)
class IPSet:
    """A selector set (members: CIDRs, /32 and /128 written bare) or a named-port set
    (members: ``<ip>,<proto>:<port>``), with both families in one set."""

    id: str
    kind: str  # "selector" or "namedport"
    members: frozenset[str]

    @cached_property
    def _nets(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(m, strict=False) for m in self.members if "/" in m)

    def contains(self, address: str) -> bool:
        """Selector sets: is the address inside any member?"""
        if address in self.members:
            return True
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self._nets if net.version == ip.version)


@dataclass(frozen=True)
class NodeView:
    """One node's share of the cluster: its local endpoints, the policies, profiles and IP sets
    they use, and who owns each address cluster-wide (for placing packets). Every mapping
    is read-only and every part immutable; see the identity contract above."""

    node: str
    endpoints: Mapping[str, EndpointView]  # local endpoints by entity key
    policies: Mapping[str, PolicyView]  # policies that apply to some local endpoint
    profiles: Mapping[str, ProfileView]  # profiles listed by local endpoints (existing ones)
    ipsets: Mapping[str, IPSet]  # set id (as the rules name it) -> the set
    owners: Mapping[str, tuple[str, ...]]  # address as an IP-set member (CIDR; /32, /128 bare) -> owners' keys
