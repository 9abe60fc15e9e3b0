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
from typing import Any

from .errors import ResourceError
from .kubernetes import KubernetesNetworkPolicy
from .resource import Resource
from .staged import (STAGED_KINDS, StagedAction, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy,
                     StagedNetworkPolicy, staged_action)
from .stored import StoredResource, resource_key

Doc = dict[str, Any]


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
        kind: type[Resource] = KubernetesNetworkPolicy
        doc = staged.kubernetes_doc()
    elif isinstance(staged, (StagedNetworkPolicy, StagedGlobalNetworkPolicy)):
        kind, doc = staged.ENFORCED, staged.enforced_doc()
    else:
        raise ResourceError(f"{staged.KIND} is not a staged policy")
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
