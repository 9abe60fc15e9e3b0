"""Which endpoint governs each interface of the node (evaluation.md §3 "Interface
classification"; Felix's endpoint_mgr.go resolveHostEndpoints, v3.32.1)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Mapping, Sequence

from ..config import Settings, SourceSpoofing
from ..core import IPNetwork

if TYPE_CHECKING:
    from .plan import EndpointPlan

ALL_INTERFACES = "*"
LOOPBACK = "lo"


class InterfaceKind(StrEnum):
    WORKLOAD = "workload"  # the name starts with an interfacePrefix entry
    HOST = "host"  # a host endpoint governs it
    OTHER = "other"  # tortie does not police it


@dataclass(frozen=True)
class Governor:
    """What governs one interface. On a workload interface ``endpoint`` is None when no
    local WorkloadEndpoint has it: traffic there fails closed."""

    kind: InterfaceKind
    endpoint: EndpointPlan | None = None


@dataclass(frozen=True)
class HostEndpoints:
    by_interface: Mapping[str, EndpointPlan]  # interface -> the host endpoint governing it by name or address
    all_interfaces: EndpointPlan | None  # the ``*`` host endpoint, if any
    excluded: tuple[str, ...]  # interfaces the ``*`` host endpoint leaves alone (besides lo and workloads)
    warnings: tuple[str, ...]


def _names(endpoints: Sequence[EndpointPlan]) -> str:
    return ", ".join(ep.entity.name for ep in endpoints)


def resolve_host_endpoints(heps: Sequence[EndpointPlan], interfaces: Mapping[str, frozenset[str]],
                           settings: Settings) -> HostEndpoints:
    """Assign host endpoints to interfaces, as Felix does: among the host endpoints naming
    an interface or expecting one of its addresses, the one whose name sorts first wins; a
    host endpoint naming another interface never matches by address; the ``*`` host
    endpoint is chosen on its own, also by name. Interfaces are the node's (``interfaces``:
    name -> addresses) and those host endpoints name; workload interfaces are never host
    interfaces, and the addresses of excluded interfaces are not looked at (Felix does not
    track them). Each tie is one warning naming every claimant."""
    ordered = sorted(heps, key=lambda ep: ep.entity.name)
    named = {ep.entity.interface for ep in ordered if ep.entity.interface and ep.entity.interface != ALL_INTERFACES}
    by_interface: dict[str, EndpointPlan] = {}
    warnings = []
    exclude = settings.interface_exclude
    for iface in sorted(named | interfaces.keys()):
        if settings.is_workload_interface(iface):
            continue
        addresses = frozenset() if exclude.matches(iface) else interfaces.get(iface, frozenset())
        claimants = [ep for ep in ordered if ep.entity.interface == iface or (
            not ep.entity.interface and any(str(a.network_address) in addresses for a in ep.entity.addresses))]
        if claimants:
            by_interface[iface] = claimants[0]
        if len(claimants) > 1:
            warnings.append(f"interface {iface} is claimed by host endpoints {_names(claimants)}: "
                            f"{claimants[0].entity.name} governs it (its name sorts first)")
    every = [ep for ep in ordered if ep.entity.interface == ALL_INTERFACES]
    if len(every) > 1:
        warnings.append(f"host endpoints {_names(every)} are all for every interface: "
                        f"{every[0].entity.name} governs them (its name sorts first)")
    return HostEndpoints(by_interface, every[0] if every else None, exclude.expand(interfaces), tuple(warnings))


def spoofing_refused(ep: EndpointPlan, settings: Settings) -> str | None:
    """Why a WorkloadEndpoint counts as missing: it asks for ``allowSpoofedSourcePrefixes``
    while ``workloadSourceSpoofing`` is not Any (felix/calc/validation_filter.go). None when
    it is taken."""
    if ep.entity.spoof_prefixes and settings.workload_source_spoofing is not SourceSpoofing.ANY:
        return (f"workload endpoint {ep.name} is ignored: it allows spoofed source prefixes but "
                f"FelixConfiguration workloadSourceSpoofing is not Any")
    return None


def resolve_workloads(weps: Sequence[EndpointPlan], settings: Settings) -> tuple[dict[str, EndpointPlan], list[str]]:
    """Workload interface -> its WorkloadEndpoint (only names with an interfacePrefix). When
    several claim one interface, the key that sorts first wins, with a warning. ``weps`` are
    the ones taken (see ``spoofing_refused``)."""
    out: dict[str, EndpointPlan] = {}
    warnings = []
    for ep in sorted(weps, key=lambda ep: (ep.entity.interface or "", ep.key)):
        iface = ep.entity.interface
        if not iface or not settings.is_workload_interface(iface):
            continue
        if iface in out:
            warnings.append(f"interface {iface} is claimed by workload endpoints {out[iface].key} and {ep.key}: "
                            f"{out[iface].key} governs it")
            continue
        out[iface] = ep
    return out, warnings


def spoofed_prefixes(workloads: Mapping[str, EndpointPlan]) -> dict[str, tuple[IPNetwork, ...]]:
    """Workload interface -> the source prefixes it may send from besides its own routes
    (``allowSpoofedSourcePrefixes``), for the interfaces that have any, sorted by interface."""
    return {iface: ep.entity.spoof_prefixes for iface, ep in sorted(workloads.items()) if ep.entity.spoof_prefixes}


class SourceOutcome(StrEnum):
    """What anti-spoofing makes of a packet's source on the interface it arrives on."""

    UNCHECKED = "unchecked"  # not a workload interface, or one no endpoint has (its own denial decides)
    EXEMPT = "exempt"  # unspecified or IPv6 link-local: the rpfilter match lets it pass
    OWN = "own"  # one of the endpoint's addresses, which the node routes back through the interface
    ALLOWED = "allowed"  # in the endpoint's allowSpoofedSourcePrefixes: cali-rpf-skip accepts it
    SPOOFED = "spoofed"  # none of these: dropped in the raw table


@dataclass(frozen=True)
class SourceCheck:
    """Anti-spoofing's decision on one source: the outcome and, for OWN and ALLOWED, the
    endpoint address or allowed prefix that covers the source."""

    outcome: SourceOutcome
    network: IPNetwork | None = None

    @property
    def dropped(self) -> bool:
        return self.outcome is SourceOutcome.SPOOFED


def source_check(ep: EndpointPlan | None, prefixes: Sequence[IPNetwork], src: str) -> SourceCheck:
    """How strict reverse-path filtering treats a packet from ``src`` (IP address text) that
    arrives on the interface of workload ``ep`` with the rpf-skip entries ``prefixes`` (its
    ``allowSpoofedSourcePrefixes``). The node routes a workload's addresses (its ipNetworks)
    to its interface, so a source passes when it is one of them or inside ``prefixes``.
    Unspecified and IPv6 link-local sources pass, as the kernel's rpfilter match lets them
    (xt_rpfilter). With no endpoint (None) the interface's routes are none of tortie's facts:
    UNCHECKED, and its unknown-interface denial decides. Follows Felix's raw PREROUTING
    (rules/static.go: cali-rpf-skip, then the rpfilter DROP). Raises ValueError for a
    ``src`` that is not an address."""
    ip = ipaddress.ip_address(src)
    if ep is None:
        return SourceCheck(SourceOutcome.UNCHECKED)
    if ip.is_unspecified or (ip.version == 6 and ip.is_link_local):
        return SourceCheck(SourceOutcome.EXEMPT)
    for outcome, nets in ((SourceOutcome.OWN, ep.entity.addresses), (SourceOutcome.ALLOWED, prefixes)):
        covering = next((net for net in nets if net.version == ip.version and ip in net), None)
        if covering is not None:
            return SourceCheck(outcome, covering)
    return SourceCheck(SourceOutcome.SPOOFED)
