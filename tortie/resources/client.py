"""Resources in the store, with the server's rules (resources.md §9).

Each resource lives at ``/calico/resources/v3/projectcalico.org/<plural>/[<ns>/]<name>``
as its output-form JSON without ``resourceVersion``, which is the key's modification
revision. The client sets ``uid`` and ``creationTimestamp`` on create, keeps them on
update, checks what needs stored state (tier existence, compare-and-swap), and makes
sure tier ``default`` and FelixConfiguration ``default`` exist on a new store.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from ..store import ConflictError, KeyExistsError, KeyNotFoundError, KeyValue, Store
from .errors import ResourceError
from .felixconfig import FelixConfiguration
from .policy import DEFAULT_TIER, GlobalNetworkPolicy, NetworkPolicy, storage_name
from .resource import API_VERSION, Resource
from .stored import PREFIX, InvalidValue, StoredResource, decode_stored, key_prefix, resource_key
from .tier import Tier

INITIALISED_KEY = "/tortie/initialised"
REPLACE_ATTEMPTS = 5

Doc = dict[str, Any]


class DatastoreError(ResourceError):
    """A write or read the datastore refused; ``str()`` is calicoctl's text."""


def ident(kind: type[Resource], name: str, namespace: str | None) -> str:
    return f"{kind.KIND}({namespace}/{name})" if kind.NAMESPACED else f"{kind.KIND}({name})"


class NotFound(DatastoreError):
    def __init__(self, kind: type[Resource], name: str, namespace: str | None) -> None:
        super().__init__(f"resource does not exist: {ident(kind, name, namespace)}")


class AlreadyExists(DatastoreError):
    def __init__(self, kind: type[Resource], name: str, namespace: str | None) -> None:
        super().__init__(f"resource already exists: {ident(kind, name, namespace)}")


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
    def __init__(self, op: str, kind: type[Resource], name: str, reason: str) -> None:
        super().__init__(f"operation {op} is not supported on {ident(kind, name, None)}: {reason}")


def lookup_name(kind: type[Resource], name: str) -> str:
    """The stored name for a name given by a user: either spelling of a default-tier policy works."""
    return storage_name(name) if kind in (NetworkPolicy, GlobalNetworkPolicy) else name


@contextmanager
def _as_resource_errors(kind: type[Resource], name: str, namespace: str | None) -> Iterator[None]:
    """The store's key errors in the words of resources.md §9."""
    try:
        yield
    except KeyNotFoundError:
        raise NotFound(kind, name, namespace) from None
    except ConflictError:
        raise Conflict(kind, name, namespace) from None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Listing:
    """What a list read: the resources, the values that are not resources, and the revision."""

    items: list[StoredResource]
    invalid: list[InvalidValue]
    revision: int

    @property
    def docs(self) -> list[Doc]:
        return [item.doc for item in self.items]


def _listing(values: list[KeyValue], revision: int) -> Listing:
    items, invalid = [], []
    for kv in values:
        decoded = decode_stored(kv)
        if isinstance(decoded, StoredResource):
            items.append(decoded)
        elif decoded is not None:
            invalid.append(decoded)
    return Listing(items, invalid, revision)


def _server_fields(kv: KeyValue) -> dict[str, Any]:
    """uid and creationTimestamp of a stored value, if it has them."""
    decoded = decode_stored(kv)
    if not isinstance(decoded, StoredResource):
        return {}
    return {k: v for k, v in decoded.doc["metadata"].items() if k in ("uid", "creationTimestamp")}


def _resource_doc(kv: KeyValue) -> Doc:
    decoded = decode_stored(kv)
    if isinstance(decoded, InvalidValue):
        raise InvalidStored(decoded)
    assert decoded is not None, "resource_key() gives resource keys"
    return decoded.doc


def _encode(doc: Doc) -> bytes:
    meta = {k: v for k, v in doc["metadata"].items() if k != "resourceVersion"}
    return json.dumps({**doc, "metadata": meta}, sort_keys=True, separators=(",", ":")).encode()


def _revision(resource_version: str | None) -> int | None:
    if resource_version in (None, ""):
        return None
    try:
        return int(resource_version)
    except ValueError:
        raise ResourceError(f"error with field metadata.resourceVersion = '{resource_version}' "
                            "(must be a decimal revision)") from None


class ResourceClient:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- bootstrap ----------------------------------------------------------------

    def ensure_defaults(self) -> None:
        """Create tier ``default`` and FelixConfiguration ``default`` once, on first use.

        A marker key records that this happened, so deleting the default
        FelixConfiguration later is not undone by the next command.
        """
        if self.store.get(INITIALISED_KEY) is not None:
            return
        for kind in (Tier, FelixConfiguration):
            resource = kind.load({"apiVersion": API_VERSION, "kind": kind.KIND, "metadata": {"name": "default"}})
            try:
                self.create(resource)
            except AlreadyExists:
                pass
        try:
            self.store.create(INITIALISED_KEY, _now().encode())
        except KeyExistsError:
            pass

    # --- reads --------------------------------------------------------------------

    def get(self, kind: type[Resource], name: str, namespace: str | None = None) -> Doc:
        """One resource. Raises NotFound, or InvalidStored when its key holds no valid value."""
        name = lookup_name(kind, name)
        kv = self.store.get(resource_key(kind, name, namespace))
        if kv is None:
            raise NotFound(kind, name, namespace)
        return _resource_doc(kv)

    def list(self, kind: type[Resource], namespace: str | None = None) -> Listing:
        """Resources of a kind (of one namespace, or all when ``namespace`` is None)."""
        return _listing(*self.store.list(key_prefix(kind, namespace)))

    def snapshot(self) -> Listing:
        """Every resource of every kind (all namespaces), at one revision."""
        return _listing(*self.store.list(PREFIX))

    # --- writes -------------------------------------------------------------------

    def create(self, resource: Resource) -> Doc:
        kind = type(resource)
        if resource.metadata.resource_version:
            raise ResourceError(f"error with field metadata.resourceVersion = '{resource.metadata.resource_version}'"
                                " (field must not be set for a Create request)")
        self._check_tier(resource)
        doc = resource.output()
        doc["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=_now())
        try:
            kv = self.store.create(resource_key(kind, resource.name, resource.namespace), _encode(doc))
        except KeyExistsError:
            raise AlreadyExists(kind, resource.name, resource.namespace) from None
        return _resource_doc(kv)

    def update(self, resource: Resource, resource_version: str | None) -> Doc:
        """One update; with a resourceVersion it is a compare-and-swap."""
        kind, name, namespace = type(resource), resource.name, resource.namespace
        expected = _revision(resource_version)
        key = resource_key(kind, name, namespace)
        current = self.store.get(key)
        if current is None:
            raise NotFound(kind, name, namespace)
        if expected is not None and current.mod_revision != expected:
            raise Conflict(kind, name, namespace)
        self._check_tier(resource)
        doc = resource.output()
        # A value written around the API (invalid) gets new server fields, as if created.
        doc["metadata"].update(_server_fields(current) or {"uid": str(uuid.uuid4()), "creationTimestamp": _now()})
        with _as_resource_errors(kind, name, namespace):
            kv = self.store.update(key, _encode(doc), current.mod_revision)
        return _resource_doc(kv)

    def replace(self, resource: Resource) -> Doc:
        """calicoctl replace: CAS with the given resourceVersion, else retry on conflicts."""
        if resource.metadata.resource_version:
            return self.update(resource, resource.metadata.resource_version)
        return retry_conflicts(lambda: self.update(resource, None))

    def apply(self, resource: Resource) -> Doc:
        """Create, or if it exists, replace (with the given resourceVersion if there was one)."""
        given = resource.metadata.resource_version
        resource.metadata.resource_version = None
        try:
            return self.create(resource)
        except AlreadyExists:
            resource.metadata.resource_version = given
            return self.replace(resource)

    def delete(self, kind: type[Resource], name: str, namespace: str | None = None,
               resource_version: str | None = None) -> StoredResource | InvalidValue | None:
        """Delete by key, whatever the key holds (an operator must be able to remove an
        invalid value). Returns what was deleted."""
        name = lookup_name(kind, name)
        expected = _revision(resource_version)
        if kind is Tier:
            self._check_tier_delete(name)
        with _as_resource_errors(kind, name, namespace):
            old = self.store.delete(resource_key(kind, name, namespace), expected)
        return decode_stored(old)

    # --- rules that need stored state ---------------------------------------------

    def _check_tier(self, resource: Resource) -> None:
        if isinstance(resource, (NetworkPolicy, GlobalNetworkPolicy)) and resource.tier != DEFAULT_TIER:
            if self.store.get(resource_key(Tier, resource.tier, None)) is None:
                raise NotFound(Tier, resource.tier, None)

    def _check_tier_delete(self, name: str) -> None:
        if name == DEFAULT_TIER:
            raise NotSupported("Delete", Tier, name, "Cannot delete default tier")
        for kind in (GlobalNetworkPolicy, NetworkPolicy):
            if any((p.doc.get("spec") or {}).get("tier") == name for p in self.list(kind).items):
                raise NotSupported("Delete", Tier, name, "Cannot delete a non-empty tier")


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
