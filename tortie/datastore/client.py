"""Resources in the store, with the rules of libcalico-go's client (resources.md §9).

Each resource lives at ``/calico/resources/v3/projectcalico.org/<plural>/[<ns>/]<name>``
as its output-form JSON without ``resourceVersion``, which is the key's modification
revision. The client sets ``uid`` and ``creationTimestamp`` on create and keeps them on
update; it checks what needs stored state (tier existence, compare-and-swap) and the
client-side rules of calicoctl and libcalico-go (lib/clientv3, calicoctl resourcemgr):
Kubernetes-owned policy names, workload endpoint names, the built-in tiers and the
built-in profile ``projectcalico-default-allow``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterator

from ..resources import (API_VERSION, BUILTIN_TIERS, DEFAULT_ALLOW_PROFILE, DEFAULT_TIER, DEFAULT_TIER_ORDER,
                         KUBERNETES_POLICY_PREFIX, STAGED_KINDS, FelixConfiguration, FieldError, GlobalNetworkPolicy,
                         NetworkPolicy, Policy, Profile, Resource, ResourceError, StagedAction,
                         StagedGlobalNetworkPolicy, StagedNetworkPolicy, Tier, ValidationError, WorkloadEndpoint,
                         default_allow_profile)
from ..store import ConflictError, KeyExistsError, KeyNotFoundError, KeyValue, Op, OpKind, Store, check_size
from .kubernetes import DERIVED
from .promote import promotion
from .stored import PREFIX, Doc, InvalidValue, StoredResource, decode_stored, key_prefix, resource_key

INITIALISED_KEY = "/tortie/initialised"
BUILTIN_TIERS_KEY = "/tortie/builtin-tiers"
REPLACE_ATTEMPTS = 5
KUBERNETES_POLICY = "kubernetes network policies must be managed through the kubernetes API"


class DatastoreError(ResourceError):
    """A write or read the datastore refused; ``str()`` is calicoctl's text."""


def ident(kind: type[Resource], name: str, namespace: str | None) -> str:
    return f"{kind.KIND}({namespace}/{name})" if kind.NAMESPACED else f"{kind.KIND}({name})"


class NotFound(DatastoreError):
    def __init__(self, kind: type[Resource], name: str, namespace: str | None) -> None:
        super().__init__(f"resource does not exist: {ident(kind, name, namespace)}")


class AlreadyExists(DatastoreError):
    def __init__(self, identifier: str, reason: str = "") -> None:
        super().__init__(f"resource already exists: {identifier}" + (f" with error: {reason}" if reason else ""))


class Conflict(DatastoreError):
    def __init__(self, kind: type[Resource], name: str, namespace: str | None) -> None:
        super().__init__(f"update conflict: {ident(kind, name, namespace)}")


class InvalidStored(DatastoreError):
    """The value at a resource's key is not that resource (written around the API)."""

    def __init__(self, invalid: InvalidValue) -> None:
        super().__init__(f"{ident(invalid.kind, invalid.name, invalid.namespace)} is not valid in the datastore "
                         f"({invalid.reason}); delete it or apply a valid one")
        self.invalid = invalid


class NotSupported(DatastoreError):
    def __init__(self, op: str, identifier: str, reason: str) -> None:
        super().__init__(f"operation {op} is not supported on {identifier}: {reason}")


@contextmanager
def _as_resource_errors(kind: type[Resource], name: str, namespace: str | None) -> Iterator[None]:
    """The store's key errors in the words of resources.md §9."""
    try:
        yield
    except KeyNotFoundError:
        raise NotFound(kind, name, namespace) from None
    except ConflictError:
        raise Conflict(kind, name, namespace) from None


def _uid() -> str:
    import uuid  # here, not at the top: only writes need it, and it costs every command a few ms
    return str(uuid.uuid4())


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Promoted:
    """What a promotion wrote (or, dry, would write): the enforced resource ``enforced`` was
    created, updated (replaced) or deleted as ``op`` says; ``doc`` is what it holds now (None
    when deleted)."""

    staged: str
    enforced: str
    op: OpKind
    doc: Doc | None


@dataclass(frozen=True)
class Listing:
    """What a list read: the resources, the values that are not resources, and the revision."""

    items: list[StoredResource]
    invalid: list[InvalidValue]
    revision: int

    @property
    def docs(self) -> list[Doc]:
        return [item.doc for item in self.items]


def _read(decoded: StoredResource) -> StoredResource:
    """What libcalico-go's client fills in when it reads: a tier's order and default action
    (lib/resources/tier.go DefaultTierFields)."""
    spec = decoded.doc.get("spec")
    if decoded.kind is not Tier or (isinstance(spec, dict) and "order" in spec and "defaultAction" in spec):
        return decoded
    spec = {"order": DEFAULT_TIER_ORDER, "defaultAction": "Deny", **(spec or {})}
    return dataclasses.replace(decoded, doc={**decoded.doc, "spec": spec})


def _listing(values: list[KeyValue], revision: int, built_in: list[StoredResource]) -> Listing:
    items, invalid = [], []
    for kv in values:
        decoded = decode_stored(kv)
        if isinstance(decoded, StoredResource):
            items.append(_read(decoded))
        elif decoded is not None:
            invalid.append(decoded)
    return Listing(items + built_in, invalid, revision)


def _default_allow() -> StoredResource:
    """The profile libcalico-go answers for without storing it (lib/resources/profile.go)."""
    return StoredResource(resource_key(Profile, DEFAULT_ALLOW_PROFILE, None), Profile, DEFAULT_ALLOW_PROFILE, None,
                          default_allow_profile())


def _resource_doc(kv: KeyValue) -> Doc:
    decoded = decode_stored(kv)
    if isinstance(decoded, InvalidValue):
        raise InvalidStored(decoded)
    assert decoded is not None, "resource_key() gives resource keys"
    return _read(decoded).doc


class Unstorable(DatastoreError):
    """A resource whose stored value the datastore's readers would refuse; nothing is written."""

    def __init__(self, invalid: InvalidValue) -> None:
        super().__init__(f"{ident(invalid.kind, invalid.name, invalid.namespace)} cannot be stored: "
                         f"{invalid.reason}")


def _encode(key: str, doc: Doc) -> bytes:
    """The stored value of ``doc`` at ``key``: strict JSON, read back as every reader reads
    it (decode_stored) before it is written. Raises Unstorable."""
    meta = {k: v for k, v in doc["metadata"].items() if k != "resourceVersion"}
    try:
        value = json.dumps({**doc, "metadata": meta}, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        value = b"NaN"  # refused below, with the reason a reader gives
    decoded = decode_stored(KeyValue(key, value, 0, 0, 0))
    if isinstance(decoded, InvalidValue):
        raise Unstorable(decoded)
    return value


def _created_doc(resource: Resource) -> Doc:
    doc = resource.output()
    doc["metadata"] = {k: v for k, v in doc["metadata"].items() if k in ("name", "namespace", "labels",
                                                                             "annotations")}
    doc["metadata"].update(uid=_uid(), creationTimestamp=_now())
    return doc


def check_storable(resource: Resource) -> None:
    """Check what a create of the valid ``resource`` would store as the store checks it,
    without one: strict JSON its readers take, within etcd's request size. Raises
    Unstorable or TooLargeError (a StoreError)."""
    key = resource_key(type(resource), resource.name, resource.namespace)
    check_size(key, _encode(key, _created_doc(resource)))


def _revision(resource_version: str | None) -> int | None:
    if resource_version in (None, ""):
        return None
    try:
        return int(resource_version)
    except ValueError:
        raise ValidationError([FieldError("Metadata.ResourceVersion", resource_version,
                                          "must be a decimal revision")]) from None


def _stored_metadata(current: KeyValue, resource: Resource) -> Doc:
    """The stored metadata an update keeps (all but labels and annotations); a value written
    around the API (invalid) gets new server fields, as if created."""
    decoded = decode_stored(current)
    if isinstance(decoded, StoredResource):
        return {k: v for k, v in decoded.doc["metadata"].items()
                if k not in ("labels", "annotations", "resourceVersion")}
    identity = {"name": resource.name, "namespace": resource.namespace} if resource.NAMESPACED else {
        "name": resource.name}
    return {**identity, "uid": _uid(), "creationTimestamp": _now()}


def _default_allow_op(op: str) -> NotSupported:
    return NotSupported(op, DEFAULT_ALLOW_PROFILE,
                        f'The profile "{DEFAULT_ALLOW_PROFILE}" is a default provided by Calico and cannot be '
                        f"{'updated' if op == 'Update' else 'deleted'}")


def _is_kubernetes_policy(kind: type[Resource], name: str) -> bool:
    return kind is NetworkPolicy and name.startswith(KUBERNETES_POLICY_PREFIX)


def check_identity(resource: Resource) -> None:
    """A workload endpoint's name is derived from its spec (libcalico-go clientv3
    workloadendpoint.go assignOrValidateName)."""
    if not isinstance(resource, WorkloadEndpoint):
        return
    expected, problem = resource.spec.identity_name()
    if problem is not None:
        raise ValidationError([problem])
    if resource.name != expected:
        raise ValidationError([FieldError(
            "Name", resource.name, "the WorkloadEndpoint name does not match the primary identifiers assigned in the "
                                   f"Spec: expected name {expected}")])


class ResourceClient:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- bootstrap ----------------------------------------------------------------

    def ensure_defaults(self) -> None:
        """Create FelixConfiguration ``default`` once, and the built-in tiers.

        Markers record that this happened, so deleting the default FelixConfiguration
        later is not undone by the next command (the built-in tiers cannot be deleted).
        """
        if self.store.get(INITIALISED_KEY) is None:
            self._create_once(FelixConfiguration.load(
                {"apiVersion": API_VERSION, "kind": FelixConfiguration.KIND, "metadata": {"name": "default"}}))
            self._mark(INITIALISED_KEY)
        if self.store.get(BUILTIN_TIERS_KEY) is None:
            for name, (order, action) in BUILTIN_TIERS.items():
                self._create_once(Tier.load({"apiVersion": API_VERSION, "kind": Tier.KIND, "metadata": {"name": name},
                                             "spec": {"order": order, "defaultAction": action}}))
            self._mark(BUILTIN_TIERS_KEY)

    def _create_once(self, resource: Resource) -> None:
        try:
            self.create(resource)
        except AlreadyExists:
            pass

    def _mark(self, key: str) -> None:
        try:
            self.store.create(key, _now().encode())
        except KeyExistsError:
            pass

    # --- reads --------------------------------------------------------------------

    def get(self, kind: type[Resource], name: str, namespace: str | None = None) -> Doc:
        """One resource; a NetworkPolicy ``knp.default.<name>`` or a Profile ``kns.<name>`` is
        the one a stored Kubernetes NetworkPolicy or Namespace stands for, when there is one
        (kubernetes.py). Raises NotFound, or InvalidStored when its key holds no valid value."""
        if kind is Profile and name == DEFAULT_ALLOW_PROFILE:
            return default_allow_profile()
        kv = self._kubernetes_source(kind, name, namespace)
        if kv is not None:
            converted = decode_stored(kv)
            if isinstance(converted, StoredResource):
                converted = DERIVED[kind].convert(converted)
            if isinstance(converted, InvalidValue):
                raise InvalidStored(converted)
            assert converted is not None, "resource_key() gives resource keys"
            return converted.doc
        kv = self.store.get(resource_key(kind, name, namespace))
        if kv is None:
            raise NotFound(kind, name, namespace)
        return _resource_doc(kv)

    def _kubernetes_source(self, kind: type[Resource], name: str, namespace: str | None) -> KeyValue | None:
        """The stored Kubernetes document resource ``name`` of ``kind`` stands for (kubernetes.py
        DERIVED); None for other kinds and names, or when there is none."""
        derivation = DERIVED.get(kind)
        source_name = derivation.source_name(name) if derivation is not None else None
        if derivation is None or source_name is None:
            return None
        return self.store.get(resource_key(derivation.source, source_name, namespace))

    def list(self, kind: type[Resource], namespace: str | None = None) -> Listing:
        """Resources of a kind (of one namespace, or all when ``namespace`` is None), by
        namespace and name. NetworkPolicies and Profiles include those stored Kubernetes
        NetworkPolicies and Namespaces stand for (kubernetes.py), a Namespace's profile
        instead of a stored one of its name (as calc takes it), and the revision is then the
        later of the two reads."""
        listing = _listing(*self.store.list(key_prefix(kind, namespace)), [])
        built_in = [_default_allow()] if kind is Profile else []
        derivation = DERIVED.get(kind)
        if derivation is None:
            return Listing(listing.items + built_in, listing.invalid, listing.revision)
        sources = _listing(*self.store.list(key_prefix(derivation.source, namespace)), [])
        converted = [derivation.convert(item) for item in sources.items]
        derived = [c for c in converted if isinstance(c, StoredResource)]
        names = {(item.namespace, item.name) for item in derived}
        items = [item for item in listing.items if (item.namespace, item.name) not in names] + derived
        items.sort(key=lambda item: (item.namespace or "", item.name))
        return Listing(items + built_in,
                       listing.invalid + sources.invalid + [c for c in converted if isinstance(c, InvalidValue)],
                       max(listing.revision, sources.revision))

    def snapshot(self) -> Listing:
        """Every resource of every kind (all namespaces), at one revision."""
        return _listing(*self.store.list(PREFIX), [_default_allow()])

    # --- writes -------------------------------------------------------------------

    def create(self, resource: Resource) -> Doc:
        doc = self._new_doc(resource)
        try:
            key = resource_key(type(resource), resource.name, resource.namespace)
            kv = self.store.create(key, _encode(key, doc))
        except KeyExistsError:
            raise AlreadyExists(resource.ident) from None
        return _resource_doc(kv)

    def _new_doc(self, resource: Resource) -> Doc:
        """The document a create stores, after the checks a create makes."""
        kind = type(resource)
        if kind is Profile and resource.name == DEFAULT_ALLOW_PROFILE:
            raise AlreadyExists(DEFAULT_ALLOW_PROFILE, f'{DEFAULT_ALLOW_PROFILE} already exists. The profile '
                                                       f'"{DEFAULT_ALLOW_PROFILE}" is default provided by Calico')
        if _is_kubernetes_policy(kind, resource.name):
            raise NotSupported("create or apply", resource.ident, KUBERNETES_POLICY)
        self._check_tier(resource)
        check_identity(resource)
        if resource.metadata.resource_version:
            raise ValidationError([FieldError("Metadata.ResourceVersion", resource.metadata.resource_version,
                                              "field must not be set for a Create request")])
        return _created_doc(resource)

    def update(self, resource: Resource, resource_version: str | None) -> Doc:
        """One update; with a resourceVersion it is a compare-and-swap. Metadata other than
        labels and annotations is kept as stored (resourcemgr.go mergeMetadataForUpdate)."""
        kind, name, namespace = type(resource), resource.name, resource.namespace
        if kind is Profile and name == DEFAULT_ALLOW_PROFILE:
            raise _default_allow_op("Update")
        expected = _revision(resource_version)
        key = resource_key(kind, name, namespace)
        current = self.store.get(key)
        if current is None and kind is NetworkPolicy and self._kubernetes_source(kind, name, namespace) is not None:
            raise NotSupported("apply or replace", resource.ident, KUBERNETES_POLICY)  # calicoctl reads it first
        if current is None:
            raise NotFound(kind, name, namespace)
        if expected is not None and current.mod_revision != expected:
            raise Conflict(kind, name, namespace)
        doc = self._updated_doc(current, resource)
        with _as_resource_errors(kind, name, namespace):
            kv = self.store.update(key, _encode(key, doc), current.mod_revision)
        return _resource_doc(kv)

    def _updated_doc(self, current: KeyValue, resource: Resource) -> Doc:
        """The document an update of ``current`` stores, after the checks an update makes."""
        if _is_kubernetes_policy(type(resource), resource.name):
            raise NotSupported("apply or replace", resource.ident, KUBERNETES_POLICY)
        self._check_tier(resource)
        check_identity(resource)
        doc = resource.output()
        kept = {k: v for k, v in doc["metadata"].items() if k in ("labels", "annotations")}
        doc["metadata"] = {**_stored_metadata(current, resource), **kept}
        return doc

    def replace(self, resource: Resource) -> Doc:
        """calicoctl replace: CAS with the given resourceVersion, else retry on conflicts."""
        if resource.metadata.resource_version:
            return self.update(resource, resource.metadata.resource_version)
        return retry_conflicts(lambda: self.update(resource, None))

    def apply(self, resource: Resource) -> Doc:
        """Create, or if it exists (or cannot be created), replace it with the given resourceVersion."""
        given = resource.metadata.resource_version
        resource.metadata.resource_version = None
        try:
            return self.create(resource)
        except (AlreadyExists, NotSupported):
            resource.metadata.resource_version = given
            return self.replace(resource)

    def delete(self, kind: type[Resource], name: str, namespace: str | None = None,
               resource_version: str | None = None) -> StoredResource | InvalidValue | None:
        """Delete by key, whatever the key holds (an operator must be able to remove an
        invalid value). Returns what was deleted."""
        if kind is Profile and name == DEFAULT_ALLOW_PROFILE:
            raise _default_allow_op("Delete")
        if _is_kubernetes_policy(kind, name):
            raise NotSupported("delete", ident(kind, name, namespace), KUBERNETES_POLICY)
        expected = _revision(resource_version)
        if kind is Tier:
            self._check_tier_delete(name)
        with _as_resource_errors(kind, name, namespace):
            old = self.store.delete(resource_key(kind, name, namespace), expected)
        return decode_stored(old)

    def promote(self, kind: type[Resource], name: str, namespace: str | None = None,
                dry_run: bool = False) -> Promoted:
        """``tortie promote``: write what promoting the staged policy means (``promotion``) and
        delete the staged policy, in one transaction that also checks that neither changed
        since they were read. With ``dry_run``, check and say what would be written, and write
        nothing. Raises NotFound (the staged policy, or the enforced one a Delete removes),
        NotSupported (an Ignore, or a kind that is not staged), InvalidStored, ValidationError,
        Conflict (a concurrent change)."""
        if kind not in STAGED_KINDS:
            raise NotSupported("promote", ident(kind, name, namespace), "only staged policies can be promoted")
        key = resource_key(kind, name, namespace)
        staged_kv = self.store.get(key)
        if staged_kv is None:
            raise NotFound(kind, name, namespace)
        staged = kind.load(_resource_doc(staged_kv))
        p = promotion(staged)
        if p.action is StagedAction.IGNORE:
            raise NotSupported("promote", staged.ident, "its stagedAction is Ignore: there is nothing to promote")
        current = self.store.get(p.key)
        if p.doc is None:
            if current is None:
                raise NotFound(p.kind, p.name, p.namespace)
            op, doc = Op(OpKind.DELETE, p.key, expected_revision=current.mod_revision), None
        else:
            enforced = p.kind.load(p.doc)
            if current is None:
                doc = self._new_doc(enforced)
                op = Op(OpKind.CREATE, p.key, _encode(p.key, doc))
            else:
                doc = self._updated_doc(current, enforced)
                op = Op(OpKind.UPDATE, p.key, _encode(p.key, doc), current.mod_revision)
        if not dry_run:
            try:
                self.store.commit([op, Op(OpKind.DELETE, key, expected_revision=staged_kv.mod_revision)])
            except (KeyExistsError, KeyNotFoundError, ConflictError):
                raise Conflict(kind, name, namespace) from None
        return Promoted(staged.ident, ident(p.kind, p.name, p.namespace), op.kind, doc)

    # --- rules that need stored state ---------------------------------------------

    def _check_tier(self, resource: Resource) -> None:
        if isinstance(resource, Policy):  # staged ones too (clientv3 staged*.go Create)
            if self.store.get(resource_key(Tier, resource.tier, None)) is None:
                raise NotFound(Tier, resource.tier, None)

    def _check_tier_delete(self, name: str) -> None:
        """Built-in tiers stay; a tier with policies stays (libcalico-go clientv3 tier.go Delete)."""
        if name in BUILTIN_TIERS:
            raise NotSupported("Delete", name, f"Cannot delete {name} tier")
        for kind in (NetworkPolicy, GlobalNetworkPolicy, StagedNetworkPolicy, StagedGlobalNetworkPolicy):
            if any((p.doc.get("spec") or {}).get("tier", DEFAULT_TIER) == name for p in self.list(kind).items):
                raise NotSupported("delete", name, "Cannot delete a non-empty tier")


def retry_conflicts(write: Callable[[], Doc]) -> Doc:
    """Run a read-modify-write until it does not conflict: 5 attempts, pauses up to 1 s."""
    for attempt in range(REPLACE_ATTEMPTS):
        try:
            return write()
        except Conflict:
            if attempt == REPLACE_ATTEMPTS - 1:
                raise
            time.sleep(min(1.0, 0.05 * 2**attempt))
    raise AssertionError("unreachable")
