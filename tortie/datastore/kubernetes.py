"""The Calico NetworkPolicy a stored Kubernetes NetworkPolicy stands for, as calicoctl reads it.

With an etcd datastore, Calico's kube-controllers writes each Kubernetes NetworkPolicy into
it as the Calico NetworkPolicy ``knp.default.<name>`` of the same namespace
(kube-controllers/pkg/converter/networkpolicy_converter.go), so ``calicoctl get
networkpolicy`` lists and gets it beside the Calico ones. tortie stores only the Kubernetes
document; this module derives what calicoctl would read there.
"""

from __future__ import annotations

import uuid

from ..resources import KNP_PREFIX, KubernetesNetworkPolicy, NetworkPolicy, ResourceError
from .stored import InvalidValue, StoredResource, resource_key


def kubernetes_name(name: str) -> str | None:
    """The Kubernetes NetworkPolicy name that the NetworkPolicy name ``knp.default.<name>``
    stands for; None for any other name."""
    return name[len(KNP_PREFIX):] if name.startswith(KNP_PREFIX) and len(name) > len(KNP_PREFIX) else None


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


def converted_policy(stored: StoredResource) -> StoredResource | InvalidValue:
    """The NetworkPolicy ``knp.default.<name>`` that the stored Kubernetes NetworkPolicy
    ``stored`` stands for, in its output form (tier label, types), with the Kubernetes
    document's creation time and revision and its uid converted (``calico_uid``). An
    InvalidValue, naming the Kubernetes document, when it does not load."""
    try:
        policy = KubernetesNetworkPolicy.load(stored.doc)
        assert isinstance(policy, KubernetesNetworkPolicy)
        doc = NetworkPolicy.load(policy.calico_doc()).output()
    except ResourceError as exc:
        return InvalidValue(stored.key, stored.kind, stored.name, stored.namespace, str(exc))
    meta = stored.doc["metadata"]
    doc["metadata"].update({k: meta[k] for k in ("creationTimestamp", "resourceVersion") if k in meta})
    uid = calico_uid(meta.get("uid"))
    if uid is not None:
        doc["metadata"]["uid"] = uid
    name = doc["metadata"]["name"]
    return StoredResource(resource_key(NetworkPolicy, name, stored.namespace), NetworkPolicy, name, stored.namespace,
                          doc)
