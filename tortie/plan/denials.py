"""Every place a packet can be denied, named once: the metric label (evaluation.md §8),
the NFLOG prefix (dataplane.md §6) and what the prefix stands for in the flow log."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from ..core import Direction

NFLOG_PREFIX_MAX = 63
NO_MATCH = "__NO_MATCH__"
PROFILE_TIER = "__PROFILE__"
NFLOG_GROUPS = {Direction.INGRESS: 1, Direction.EGRESS: 2}
_SAFE_REF = re.compile(r"[A-Za-z0-9_.:/|-]*")


def nflog_prefix(kind: str, direction: Direction, index: int, ref: str) -> str:
    """``D<kind><I|E><index>|<ref>`` (kind P for policies, R for profiles), hashed when it
    would be longer than 63 bytes or ``ref`` holds a character a prefix must not carry."""
    head = f"D{kind}{'I' if direction is Direction.INGRESS else 'E'}{index}|"
    full = head + ref
    if len(full.encode()) <= NFLOG_PREFIX_MAX and _SAFE_REF.fullmatch(ref):
        return full
    digest = base64.urlsafe_b64encode(hashlib.sha224(full.encode()).digest()).decode().rstrip("=")
    return f"{head}#{digest[:24]}"


@dataclass(frozen=True)
class Denial:
    """One denial: a Deny rule, the end of a tier, or the end of the profiles."""

    direction: Direction
    tier: str  # "" for profiles
    policy: str  # [<namespace>/]<name>, the profile's name, or __NO_MATCH__
    rule: int  # the rule's index; -1 for the end of a tier
    label: str  # the denied-packet metric's policy label
    nflog_prefix: str

    @property
    def profile(self) -> bool:
        return not self.tier

    @property
    def group(self) -> int:
        """The NFLOG group: 1 for ingress, 2 for egress."""
        return NFLOG_GROUPS[self.direction]


@lru_cache(maxsize=1 << 16)
def policy_denial(tier: str, policy: str, direction: Direction, index: int) -> Denial:
    """A policy's Deny rule ``index`` (-1: the end of ``tier``, after ``policy``, its last policy)."""
    return Denial(direction, tier, policy, index, f"{tier}|{policy}|{index}|deny",
                  nflog_prefix("P", direction, index, f"{tier}|{policy}"))


@lru_cache(maxsize=1 << 16)
def profile_denial(profile: str, direction: Direction, index: int) -> Denial:
    """A profile's Deny rule ``index``; ``no_match`` for the end of the profiles."""
    return Denial(direction, "", profile, index, f"{PROFILE_TIER}|{profile}|{index}|deny",
                  nflog_prefix("R", direction, index, profile))


def no_match(direction: Direction) -> Denial:
    """The end of the profiles: no profile allowed."""
    return profile_denial(NO_MATCH, direction, 0)
