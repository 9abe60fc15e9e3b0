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
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from ..store import ConflictError, KeyExistsError, KeyNotFoundError, KeyValue, Store
from .errors import ResourceError
from .felixconfig import FelixConfiguration
from .kinds import BY_KIND
from .policy import DEFAULT_TIER, GlobalNetworkPolicy, NetworkPolicy, storage_name
from .resource import API_VERSION, Resource
from .tier import Tier

PREFIX = "/calico/resources/v3/projectcalico.org/"
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


class NotSupported(DatastoreError):
    def __init__(self, op: str, kind: type[Resource], name: str, reason: str) -> None:
        super().__init__(f"operation {op} is not supported on {ident(kind, name, None)}: {reason}")


def key_prefix(kind: type[Resource], namespace: str | None = None) -> str:
    base = PREFIX + kind.PLURAL + "/"
    return base + f"{namespace}/" if kind.NAMESPACED and namespace else base


def resource_key(kind: type[Resource], name: str, namespace: str | None) -> str:
    return key_prefix(kind, namespace if kind.NAMESPACED else None) + name


def parse_key(key: str) -> tuple[type[Resource], str, str | None] | None:
    """(kind, name, namespace) of a resource key, or None for keys that are not resources."""
    if not key.startswith(PREFIX):
        return None
    plural, _, rest = key[len(PREFIX):].partition("/")
    kind = next((k for k in BY_KIND.values() if k.PLURAL == plural), None)
    if kind is None or not rest:
        return None
    namespace, _, name = rest.rpartition("/") if kind.NAMESPACED else ("", "", rest)
    return kind, name, namespace or None


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


def stored_doc(kv: KeyValue) -> Doc:
    """A stored value as its resource document, with resourceVersion. Raises ValueError."""
    doc = json.loads(kv.value)
    doc["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return doc


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
        name = lookup_name(kind, name)
        kv = self.store.get(resource_key(kind, name, namespace))
        if kv is None:
            raise NotFound(kind, name, namespace)
        return stored_doc(kv)

    def list(self, kind: type[Resource], namespace: str | None = None) -> tuple[list[Doc], int]:
        """Resources of a kind (of one namespace, or all when ``namespace`` is None)."""
        items, revision = self.store.list(key_prefix(kind, namespace))
        return [stored_doc(kv) for kv in items], revision

    def snapshot(self) -> tuple[list[Doc], int]:
        """Every resource of every kind (all namespaces), and the revision read at."""
        items, revision = self.store.list(PREFIX)
        return [stored_doc(kv) for kv in items], revision

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
        return stored_doc(kv)

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
        stored = json.loads(current.value)["metadata"]
        doc = resource.output()
        for server_field in ("uid", "creationTimestamp"):
            if server_field in stored:
                doc["metadata"][server_field] = stored[server_field]
        with _as_resource_errors(kind, name, namespace):
            kv = self.store.update(key, _encode(doc), current.mod_revision)
        return stored_doc(kv)

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
               resource_version: str | None = None) -> Doc:
        name = lookup_name(kind, name)
        expected = _revision(resource_version)
        if kind is Tier:
            self._check_tier_delete(name)
        with _as_resource_errors(kind, name, namespace):
            old = self.store.delete(resource_key(kind, name, namespace), expected)
        return stored_doc(old)

    # --- rules that need stored state ---------------------------------------------

    def _check_tier(self, resource: Resource) -> None:
        if isinstance(resource, (NetworkPolicy, GlobalNetworkPolicy)) and resource.tier != DEFAULT_TIER:
            if self.store.get(resource_key(Tier, resource.tier, None)) is None:
                raise NotFound(Tier, resource.tier, None)

    def _check_tier_delete(self, name: str) -> None:
        if name == DEFAULT_TIER:
            raise NotSupported("Delete", Tier, name, "Cannot delete default tier")
        for kind in (GlobalNetworkPolicy, NetworkPolicy):
            items, _ = self.store.list(key_prefix(kind))
            if any(json.loads(kv.value)["spec"].get("tier") == name for kv in items):
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
