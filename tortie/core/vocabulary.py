"""The words every stage of tortie shares: stages, directions, rule actions, verdicts and
what the kernel does (evaluation.md §2–§5, Felix's rule and endpoint vocabulary)."""

from __future__ import annotations

import ipaddress
from enum import StrEnum

# An address block of either family, as ipaddress.ip_network returns it.
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Stage(StrEnum):
    """Where a policy applies on the packet's way (evaluation.md §3)."""

    UNTRACKED = "U"  # doNotTrack: raw table, before conntrack
    PRE_DNAT = "D"  # preDNAT: mangle table, host endpoint ingress only
    NORMAL = "N"  # filter table
    FORWARD = "F"  # applyOnForward: filter table, forwarded traffic of host endpoints

    @property
    def tracked(self) -> bool:
        """Stages after conntrack: their denials are counted and can log through NFLOG."""
        return self is not Stage.UNTRACKED


class Direction(StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"

    @property
    def policy_type(self) -> str:
        """The policy ``types`` entry that selects this direction."""
        return "Ingress" if self is Direction.INGRESS else "Egress"


class RuleAction(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"
    PASS = "Pass"
    LOG = "Log"


class Verdict(StrEnum):
    """What the policies decide for a packet, before ``dropActionOverride``."""

    ALLOW = "allow"
    DENY = "deny"


class KernelAction(StrEnum):
    """What the kernel does with the packet in the end."""

    ACCEPT = "accept"
    DROP = "drop"


class DropActionOverride(StrEnum):
    """``dropActionOverride``: what the kernel does with a policy denial (felixconfig.md §1)."""

    DROP = "Drop"
    ACCEPT = "Accept"
    LOG_AND_DROP = "LogAndDrop"
    LOG_AND_ACCEPT = "LogAndAccept"

    @property
    def logs(self) -> bool:
        return self in (DropActionOverride.LOG_AND_DROP, DropActionOverride.LOG_AND_ACCEPT)

    @property
    def accepts(self) -> bool:
        return self in (DropActionOverride.ACCEPT, DropActionOverride.LOG_AND_ACCEPT)

    @property
    def kernel_action(self) -> KernelAction:
        return KernelAction.ACCEPT if self.accepts else KernelAction.DROP


STAGES = tuple(Stage)
DIRECTIONS = tuple(Direction)
FAMILIES = (4, 6)
