"""What promoting a staged policy does, as data: the pending policy set, and ``tortie promote``.

A staged policy stands for a change to the enforced policy of the same name and namespace
(its ``ENFORCED`` kind; a StagedKubernetesNetworkPolicy's is the Kubernetes NetworkPolicy):
Set and Learn create or replace it with the staged spec, Delete removes it, Ignore leaves it
alone (issue 13; api/pkg/apis/projectcalico/v3 ConvertStaged*ToEnforced). Calico evaluates a
staged policy beside the enforced one of the same name; tortie lets it stand in for it, which
is what promoting it will do.

``promote_staged`` is pure: the pending verdict is the enforced model evaluated over its result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..resources import (STAGED_KINDS, Resource, ResourceError, StagedAction, StagedGlobalNetworkPolicy,
                         StagedKubernetesNetworkPolicy, StagedNetworkPolicy, staged_action)
from .stored import Doc, StoredKey, StoredResource, parse_key, resource_key


@dataclass(frozen=True)
class Promotion:
    """The write that promoting one staged policy means. ``doc`` is the enforced resource to
    create or replace (None: delete it; ``action`` Ignore: nothing to write)."""

    action: StagedAction
    kind: type[Resource]
    name: str
    namespace: str | None
    doc: Doc | None

    @property
    def key(self) -> str:
        return resource_key(self.kind, self.name, self.namespace)


def promotion(staged: Resource) -> Promotion:
    """The promotion of a loaded (validated) staged policy. Raises ResourceError for another kind."""
    if isinstance(staged, StagedKubernetesNetworkPolicy):
        doc = staged.kubernetes_doc()
    elif isinstance(staged, (StagedNetworkPolicy, StagedGlobalNetworkPolicy)):
        doc = staged.enforced_doc()
    else:
        raise ResourceError(f"{staged.KIND} is not a staged policy")
    kind = staged.ENFORCED
    action = staged_action(staged)
    return Promotion(action, kind, staged.name, staged.namespace if kind.NAMESPACED else None,
                     None if action is StagedAction.DELETE else doc)


def _loaded(item: StoredResource) -> Resource | None:
    try:
        return item.kind.load(item.doc)
    except ResourceError:
        return None  # a bad staged policy stages nothing (calc reports bad enforced ones)


def promote_staged(items: Iterable[StoredResource]) -> list[StoredResource]:
    """The resources as they would be with every staged policy promoted, in key order of the
    staged policies (at most one staged policy has a given enforced key per kind: a
    StagedNetworkPolicy and a StagedKubernetesNetworkPolicy cannot name the same one). The
    staged policies themselves are left out; a staged policy that does not load stages
    nothing."""
    out: dict[str, StoredResource] = {}
    staged: list[StoredResource] = []
    for item in items:
        if item.kind in STAGED_KINDS:
            staged.append(item)
        else:
            out[item.key] = item
    for item in sorted(staged, key=lambda s: s.key):
        resource = _loaded(item)
        if resource is None:
            continue
        p = promotion(resource)
        if p.action is StagedAction.IGNORE:
            continue
        if p.doc is None:
            out.pop(p.key, None)
        else:
            out[p.key] = StoredResource(p.key, p.kind, p.name, p.namespace, p.doc)
    return list(out.values())


def has_staged(items: Iterable[StoredResource]) -> bool:
    return any(item.kind in STAGED_KINDS for item in items)


def target_key(staged: StoredKey) -> str:
    """The key of the enforced resource a staged policy's key stands for."""
    kind = staged.kind.ENFORCED  # type: ignore[attr-defined]
    return resource_key(kind, staged.name, staged.namespace if kind.NAMESPACED else None)


class PendingFeed:
    """The pending policy set kept up to date one store change at a time: what ``update`` and
    ``delete`` return is what changes in ``promote_staged`` of the store (each target key
    resolved by ``promote_staged`` of its enforced resource and its staged policy), so that a
    second calc fed with it always holds the pending set."""

    def __init__(self) -> None:
        self.enforced: dict[str, StoredResource] = {}  # resources a staged policy can stand for
        self.staged: dict[str, StoredResource] = {}  # by target key

    def load(self, items: Iterable[StoredResource]) -> list[StoredResource]:
        """Start from a snapshot; its pending set."""
        listed = list(items)
        self.enforced = {i.key: i for i in listed if i.kind in ENFORCED_KINDS}
        self.staged = {target_key(i): i for i in listed if i.kind in STAGED_KINDS}
        return promote_staged(listed)

    def update(self, item: StoredResource) -> list[StoredResource | StoredKey]:
        """The changes (a resource to set, or a key to delete) that ``item``'s update makes."""
        if item.kind in STAGED_KINDS:
            target = target_key(item)
            self.staged[target] = item
            return [self._resolve(target)]
        if item.kind in ENFORCED_KINDS:
            self.enforced[item.key] = item
            return [self._resolve(item.key)]
        return [item]

    def delete(self, at: StoredKey) -> list[StoredResource | StoredKey]:
        if at.kind in STAGED_KINDS:
            target = target_key(at)
            self.staged.pop(target, None)
            return [self._resolve(target)]
        if at.kind in ENFORCED_KINDS:
            self.enforced.pop(at.key, None)
            return [self._resolve(at.key)]
        return [at]

    def _resolve(self, target: str) -> StoredResource | StoredKey:
        present = [i for i in (self.enforced.get(target), self.staged.get(target)) if i is not None]
        promoted = [i for i in promote_staged(present) if i.key == target]
        if promoted:
            return promoted[0]
        at = parse_key(target)
        assert at is not None, "target keys are resource keys"
        return at


ENFORCED_KINDS = frozenset(k.ENFORCED for k in STAGED_KINDS)  # type: ignore[attr-defined]
