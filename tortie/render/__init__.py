"""The node plan as iptables chains and ipsets, as values: rules know their matches, targets,
sets and NFLOG denials. Pure; tortie.dataplane writes what it renders to the kernel."""

from .iptables import (Action, Address, Builtin, Chain, ConnState, End, Icmp, Interface, Jump, Limit, Log, Mark,
                       Match, MultiPort, Nflog, NoTrack, Proto, ReversePathFailed, Rule, SetMark, SetMatch, Table)
from .matches import rule_match
from .names import HOOKS, OWNED_PREFIX, TABLES, chain_name, ipset_name, policy_id
from .renderer import IPSetSpec, RenderCache, Rendered, Renderer, RpFilter, chain_owners, comment, render

__all__ = [
    "HOOKS", "OWNED_PREFIX", "TABLES", "Action", "Address", "Builtin", "Chain", "ConnState", "End", "IPSetSpec",
    "Icmp", "Interface", "Jump", "Limit", "Log", "Mark", "Match", "MultiPort", "Nflog", "NoTrack", "Proto",
    "RenderCache", "Rendered", "Renderer", "ReversePathFailed", "RpFilter", "Rule", "SetMark", "SetMatch", "Table",
    "chain_name", "chain_owners", "comment",
    "ipset_name", "policy_id", "render", "rule_match",
]
