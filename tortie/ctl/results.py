"""The success and failure messages of multi-resource commands (cli.md §4)."""

from __future__ import annotations

from typing import Callable, Sequence

from ..resources import Resource, ResourceError
from ..store import StoreError
from .context import Fail

PAST = {"create": "created", "apply": "applied", "replace": "replaced", "delete": "deleted"}

Action = tuple[type[Resource], Callable[[], object]]


def run_in_order(verb: str, actions: Sequence[Action]) -> str:
    """Run each action in order, stopping at the first error; return the success message.

    Writes made before an error are kept (cli.md §2).
    """
    kinds = {kind for kind, _ in actions}
    what = f"'{next(iter(kinds)).KIND}' " if len(kinds) == 1 else ""
    for done, (kind, action) in enumerate(actions):
        try:
            action()
        except (ResourceError, StoreError) as exc:
            raise Fail(_failure(verb, done, len(actions), kind, what, exc)) from None
    return f"Successfully {PAST[verb]} {len(actions)} {what}resource(s)"


def _failure(verb: str, done: int, total: int, kind: type[Resource], what: str, err: Exception) -> str:
    if total == 1:
        return f"Failed to {verb} '{kind.KIND}' resource: {err}"
    if done == 0:
        return f"Failed to {verb} any {what}resources: {err}"
    return f"Partial success: {PAST[verb]} the first {done} out of {total} {what}resources:\nHit error: {err}"
