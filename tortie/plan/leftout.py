"""What the kernel cannot take and the plan leaves out (issue 15, class 4), for sets and rules
alike: a set, a policy, a profile or an endpoint, each failing closed for what it protects.

The dataplane only reports that a batch was refused and which chains or sets it held; the
plan decides what is left out, and ``isolate`` finds the least that must be, by trying
states of the plan that leave out more or less of the suspects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Callable, Collection, Mapping, Sequence

from ..calc import NodeView


class LeftOutKind(StrEnum):
    """What a left-out thing is; its ``key`` is the set id, the plan's policy key, the profile
    name or the endpoint key."""

    SET = "IP set"
    POLICY = "policy"
    PROFILE = "profile"
    ENDPOINT = "endpoint"


@dataclass(frozen=True, order=True)
class LeftOut:
    """One thing the plan leaves out of the kernel. A set is not written and the endpoints whose
    rules match on it fail closed; a policy or profile denies every packet that reaches it;
    an endpoint keeps no tiers and no profiles."""

    kind: LeftOutKind
    key: str


def part_of(view: NodeView, left: LeftOut) -> object | None:
    """The part of ``view`` that ``left`` names, None when it has none. By calc's identity
    contract it is the same object while unchanged: a refusal found for one object need not
    hold for the next (the operator may have fixed it)."""
    parts: dict[LeftOutKind, Mapping[str, object]] = {
        LeftOutKind.SET: view.ipsets, LeftOutKind.POLICY: view.policies, LeftOutKind.PROFILE: view.profiles,
        LeftOutKind.ENDPOINT: view.endpoints}
    return parts[left.kind].get(left.key)


def isolate(suspects: Sequence[LeftOut], refused: Callable[[frozenset[LeftOut]], str | None],
            error: str, likely: Collection[LeftOut] = ()) -> dict[LeftOut, str] | None:
    """The suspects that must be left out for the kernel to take the rest, each with the error
    the kernel gave for it; None when it refuses even with every suspect left out.

    ``refused(left_out)`` tries the state that leaves ``left_out`` out and returns the error,
    or None when it is taken; the state that leaves nothing out was refused with ``error``.
    The ``likely`` suspects (those that changed since the kernel last took a plan) are
    searched first, on their own: when the culprits are among them no other suspect is ever
    left out by a try, which matters when tries are written. Suspects are tried in order,
    each culprit found by halving the untried ones: at most 1 + (log2 n + 1) tries per
    culprit, plus that many for the likely ones when the culprits are not all among them.
    A suspect must not hide one later in the order when it is left out (the caller lists
    endpoints before the policies and profiles they use).
    """
    first = [s for s in suspects if s in likely]
    if first and len(first) < len(suspects):
        found = _bisect(first, refused, error)
        if found is not None:
            return found
    return _bisect(suspects, refused, error)


def _bisect(suspects: Sequence[LeftOut], refused: Callable[[frozenset[LeftOut]], str | None],
            error: str) -> dict[LeftOut, str] | None:
    """``isolate`` among ``suspects`` alone."""
    rest = list(suspects)
    if refused(frozenset(rest)) is not None:
        return None
    culprits: dict[LeftOut, str] = {}
    while rest:
        # Known: leaving out the culprits and all of ``rest`` is taken; with ``rest`` in, ``error``.
        lo, hi = 0, len(rest)  # rest[:lo] in is taken, rest[:hi] in is refused
        while hi - lo > 1:
            mid = (lo + hi) // 2
            found = refused(frozenset(culprits) | frozenset(rest[mid:]))
            if found is None:
                lo = mid
            else:
                hi, error = mid, found
        culprits[rest[hi - 1]] = error
        rest = rest[hi:]
        if rest:
            found = refused(frozenset(culprits))
            if found is None:
                break
            error = found
    return culprits
