"""The Calico resources stored Kubernetes documents stand for, as calicoctl reads them.

With an etcd datastore, Calico's kube-controllers writes each Kubernetes NetworkPolicy into
it as the Calico NetworkPolicy ``knp.default.<name>`` of the same namespace
(kube-controllers/pkg/converter/networkpolicy_converter.go), and each Namespace as the
Profile ``kns.<name>`` (kube-controllers/pkg/controllers/namespace), so ``calicoctl get``
lists and gets them beside the Calico ones. tortie stores only the Kubernetes documents;
this module derives what calicoctl would read there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..resources import (KNP_PREFIX, NAMESPACE_PROFILE_PREFIX, KubernetesNetworkPolicy, Namespace, NetworkPolicy,
                         Profile, Resource, ResourceError)
from .stored import InvalidValue, StoredResource, resource_key


def kubernetes_name(name: str) -> str | None:
    """The Kubernetes NetworkPolicy name that the NetworkPolicy name ``knp.default.<name>``
    stands for; None for any other name."""
    return name[len(KNP_PREFIX):] if name.startswith(KNP_PREFIX) and len(name) > len(KNP_PREFIX) else None


def namespace_name(name: str) -> str | None:
    """The Namespace that the Profile name ``kns.<name>`` stands for; None for any other name."""
    prefix = NAMESPACE_PROFILE_PREFIX
    return name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else None


def calico_uid(uid: object) -> str | None:
    """The uid Calico gives a resource converted from a Kubernetes one: every byte of the
    Kubernetes uid with its bits in reverse order, but the version and variant bytes as they
    are (libcalico-go/lib/backend/k8s/conversion/conversion.go ConvertUID). None when ``uid``
    is not a UUID."""
    try:
        raw = uuid.UUID(str(uid)).bytes
    except ValueError:
        return None
    flipped = bytearray(int(f"{byte:08b}"[::-1], 2) for byte in raw)
    flipped[6], flipped[8] = raw[6], raw[8]
    return str(uuid.UUID(bytes=bytes(flipped)))


def _converted(stored: StoredResource, doc: dict[str, Any], kind: type[NetworkPolicy] | type[Profile],
               namespace: str | None) -> StoredResource:
    """``doc`` as the resource of ``kind`` that ``stored`` stands for: its output form, with
    the Kubernetes document's creation time and revision and its uid converted."""
    doc = kind.load(doc).output()
    meta = stored.doc["metadata"]
    doc["metadata"].update({k: meta[k] for k in ("creationTimestamp", "resourceVersion") if k in meta})
    uid = calico_uid(meta.get("uid"))
    if uid is not None:
        doc["metadata"]["uid"] = uid
    name = doc["metadata"]["name"]
    return StoredResource(resource_key(kind, name, namespace), kind, name, namespace, doc)


def converted_policy(stored: StoredResource) -> StoredResource | InvalidValue:
    """The NetworkPolicy ``knp.default.<name>`` that the stored Kubernetes NetworkPolicy
    ``stored`` stands for (conversion.go's spec, the tier label), with the metadata
    ``_converted`` gives it. An InvalidValue, naming the Kubernetes document, when it does
    not load."""
    try:
        policy = KubernetesNetworkPolicy.load(stored.doc)
        assert isinstance(policy, KubernetesNetworkPolicy)
        return _converted(stored, policy.calico_doc(), NetworkPolicy, stored.namespace)
    except ResourceError as exc:
        return InvalidValue(stored.key, stored.kind, stored.name, stored.namespace, str(exc))


def namespace_profile(stored: StoredResource) -> StoredResource | InvalidValue:
    """The Profile ``kns.<name>`` that the stored Namespace ``stored`` stands for
    (conversion.go NamespaceToProfile: allow-all rules, its labels as ``pcns.`` labels to
    apply, no labels of its own), with the metadata ``_converted`` gives it. An InvalidValue,
    naming the Namespace, when it does not load."""
    try:
        namespace = Namespace.load(stored.doc)
        assert isinstance(namespace, Namespace)
        doc = namespace.profile_doc()
        doc["metadata"] = {"name": doc["metadata"]["name"]}
        return _converted(stored, doc, Profile, None)
    except ResourceError as exc:
        return InvalidValue(stored.key, stored.kind, stored.name, stored.namespace, str(exc))


@dataclass(frozen=True)
class Derivation:
    """How a kind's resources come from stored Kubernetes documents: the Kubernetes kind
    (``source``), the Kubernetes name a resource name stands for (None: none), and the
    conversion of one stored document."""

    source: type[Resource]
    source_name: Callable[[str], str | None]
    convert: Callable[[StoredResource], StoredResource | InvalidValue]


DERIVED: Mapping[type[Resource], Derivation] = MappingProxyType({
    NetworkPolicy: Derivation(KubernetesNetworkPolicy, kubernetes_name, converted_policy),
    Profile: Derivation(Namespace, namespace_name, namespace_profile),
})
