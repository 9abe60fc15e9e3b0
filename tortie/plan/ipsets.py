"""What each IP set holds in the kernel, per family, and the sets the kernel cannot take
(issue 15, class 4): a set with more members than ``maxIpsetSize`` (every set's ``maxelem``,
dataplane.md §8), or one the kernel refused when it was written on its own. The plan fails
closed the endpoints whose rules need such a set."""

from __future__ import annotations

import ipaddress
from typing import Iterable, Mapping

from ..calc import IPSet
from .leftout import LeftOut, LeftOutKind


def family_members(members: Iterable[str], family: int, kind: str) -> frozenset[str]:
    """The members of a set's ``family`` half as the kernel holds them: hash:net cannot hold
    /0, so a /0 is written as its two halves (§8)."""
    out = set()
    for member in members:
        if (":" in member.split(",", 1)[0]) != (family == 6):
            continue
        if kind == "selector" and member.endswith("/0"):
            net = ipaddress.ip_network(member, strict=False)
            out |= {str(half) for half in net.subnets(prefixlen_diff=1)}
        else:
            out.add(member)
    return frozenset(out)


def oversized(ipsets: Mapping[str, IPSet], families: tuple[int, ...], maxelem: int) -> dict[LeftOut, str]:
    """The sets with more members in some family than ``maxelem`` -> why, in words (no names
    of the users: the plan adds them)."""
    out = {}
    for set_id, ipset in ipsets.items():
        if 2 * len(ipset.members) <= maxelem:  # a /0 counts twice at most: it cannot be too big
            continue
        for family in families:
            size = len(family_members(ipset.members, family, ipset.kind))
            if size > maxelem:
                out[LeftOut(LeftOutKind.SET, set_id)] = (f"would hold {size} IPv{family} members, more than "
                                                         f"maxIpsetSize {maxelem}")
                break
    return out
