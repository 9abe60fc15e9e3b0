"""The resource set a replay runs against: the datastore's, or files exported with
`calicoctl get ... -o yaml` (from tortie or a real Calico cluster).

A file is read the way `tortie create -f` reads one (resources.md, codec.py). A file that
cannot be read or parsed fails the whole set (an answer over none of its resources would
pass for one over all of them), but a resource that does not validate is skipped with one
line saying why: a replay over what did validate is still worth having, and the lines tell
what is missing from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core import MAX_INPUT, paused_gc, shown
from ..datastore import Listing, StoredResource, promote_staged, resource_key
from ..resources import (DEFAULT_TIER, KNP_PREFIX, STAGED_KINDS, FelixConfiguration, KubernetesNetworkPolicy,
                         ResourceError, UnknownKindError, decode, flatten, kind_of, parse_documents)

Doc = dict[str, Any]
DEFAULT_NAMESPACE = "default"


class ResourceFileError(ValueError):
    """A resource file that cannot be used; the message is `FILE: reason`."""


@dataclass(frozen=True)
class ResourceSet:
    """Resources for the calculator (stored resources or validated output-form documents),
    and one line per thing that was left out and why."""

    items: tuple[StoredResource | Doc, ...]
    problems: tuple[str, ...] = ()

    def felix_spec(self, name: str) -> Mapping[str, Any] | None:
        """The spec of FelixConfiguration `name` (`default`, `node.<node>`), None if absent."""
        for item in self.items:
            doc = item.doc if isinstance(item, StoredResource) else item
            meta = doc.get("metadata") or {}
            if doc.get("kind") == FelixConfiguration.KIND and meta.get("name") == name:
                spec = doc.get("spec")
                return spec if isinstance(spec, Mapping) else {}
        return None


def from_listing(listing: Listing) -> ResourceSet:
    """The datastore's resources (a client's `snapshot()`); values that are not resources
    are problems."""
    return ResourceSet(tuple(listing.items), tuple(f"{invalid}; ignored" for invalid in listing.invalid))


def from_files(paths: tuple[str, ...] | list[str], *, strict: bool = False) -> ResourceSet:
    """Every resource of the YAML or JSON files at `paths` (documents, lists, `<Kind>List`),
    decoded and validated as `tortie create -f` does. A kind tortie does not have and a
    resource that does not validate are problems (one line each, naming the file and the
    resource); the rest is the set. Raises ResourceFileError for the first file that cannot be
    read or parsed, and, when `strict` (a change, which must load whole), for the first problem
    or a file that holds no resources."""
    items: list[Doc] = []
    problems: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_INPUT + 1)
            with paused_gc():
                docs = flatten(parse_documents(decode(data)))
                # flatten expands the lists of tortie's kinds; a real cluster's export has others (IPPoolList)
                docs = [item for doc in docs for item in (
                    doc["items"] if str(doc.get("kind")).endswith("List") and isinstance(doc.get("items"), list)
                    else [doc]) if isinstance(item, dict)]
        except OSError as exc:
            raise ResourceFileError(f"{path}: {(exc.strerror or str(exc)).lower()}") from None
        except ResourceError as exc:
            raise ResourceFileError(f"{path}: {exc}") from None
        if strict and not docs:
            raise ResourceFileError(f"{path}: holds no resources")
        skipped: dict[str, int] = {}
        for n, doc in enumerate(docs, 1):
            try:
                kind = kind_of(doc)
                resource = kind.parse(doc)
                if kind.NAMESPACED and not resource.metadata.namespace:
                    resource.metadata.namespace = DEFAULT_NAMESPACE
                items.append(resource.validated().output())
            except UnknownKindError:
                name = f"{shown(doc.get('apiVersion'), 60)} {shown(doc.get('kind'), 60)}"
                if strict:
                    raise ResourceFileError(f"{path}: resource {n} is a {name}, not a kind policy replay uses") \
                        from None
                skipped[name] = skipped.get(name, 0) + 1
            except ResourceError as exc:
                meta = doc.get("metadata")
                named = meta.get("name") if isinstance(meta, dict) else None
                lines = str(exc).splitlines()  # a validation error lists its fields one a line, after a heading
                reason = "; ".join(line.lstrip("- ") for line in lines[1:]) if len(lines) > 1 else str(exc)
                what = f"{path}: resource {n} ({doc.get('kind')} {shown(named, 60)})"
                if strict:
                    raise ResourceFileError(f"{what}: {reason}") from None
                problems.append(f"{what} skipped: {reason}")
        problems += [f"{path}: {count} {kind} {'resource' if count == 1 else 'resources'} skipped "
                     "(not a kind policy replay uses)" for kind, count in sorted(skipped.items())]
    return ResourceSet(tuple(items), tuple(problems))


def identity(item: StoredResource | Doc) -> tuple[str, str | None, str]:
    """(kind, namespace, name) of a stored resource or a document; the kind as calc knows it
    (a Kubernetes NetworkPolicy is a KubernetesNetworkPolicy, not a Calico NetworkPolicy)."""
    if isinstance(item, StoredResource):
        return item.kind.model_kind(), item.namespace, item.name
    meta = item.get("metadata") or {}
    try:
        kind = kind_of(item).model_kind()
    except ResourceError:
        kind = str(item.get("kind"))
    return kind, meta.get("namespace"), str(meta.get("name"))


def _tier(item: StoredResource | Doc) -> str:
    """The tier of a policy document (`default` when it names none)."""
    spec = (item.doc if isinstance(item, StoredResource) else item).get("spec")
    tier = spec.get("tier") if isinstance(spec, Mapping) else None
    return tier if isinstance(tier, str) and tier else DEFAULT_TIER


def changed(base: ResourceSet, added: ResourceSet, removed: tuple[str, ...] = ()) -> tuple[ResourceSet, list[str]]:
    """`base` with the resources of `added` created or replacing those of the same kind,
    namespace and name, and the policies named in `removed` deleted; and the names in
    `removed` that name no policy of `base`. A policy is named as reports name it: `<name>`
    for a GlobalNetworkPolicy, `<namespace>/<name>` for a NetworkPolicy, and
    `<namespace>/knp.default.<name>` (or `<namespace>/<name>`) for a Kubernetes NetworkPolicy;
    or as flow log records name it, with the tier before the name: `<tier>.<name>` and
    `<namespace>/<tier>.<name>` (Calico's names before v3.30) for the policy `<name>` of that
    tier, when no policy has the whole name."""
    replaced = {identity(item) for item in added.items}
    tiers = {identity(item): _tier(item) for item in base.items}
    gone: set[tuple[str, str | None, str]] = set()
    unknown = []
    for name in removed:
        namespace, _, short = name.rpartition("/")
        keys: list[tuple[str, str | None, str]] = [
            ("NetworkPolicy", namespace, short), (KubernetesNetworkPolicy.MODEL_KIND, namespace,
                                                  short.removeprefix(KNP_PREFIX))] if namespace else \
            [("GlobalNetworkPolicy", None, short)]
        key = next((key for key in keys if key in tiers), None)
        tier, _, untiered = short.partition(".")
        if key is None and untiered and tiers.get(tiered := (keys[0][0], keys[0][1], untiered)) == tier:
            key = tiered
        if key is None:
            unknown.append(name)
        else:
            gone.add(key)
    kept = tuple(item for item in base.items if identity(item) not in replaced | gone)
    return ResourceSet(kept + added.items, base.problems + added.problems), unknown


def _stored(item: StoredResource | Doc) -> StoredResource | Doc:
    """A document as the stored resource it would be (its own kind, name and namespace);
    a document of no kind tortie has stays as it is."""
    if isinstance(item, StoredResource):
        return item
    try:
        kind = kind_of(item)
    except ResourceError:
        return item
    _, namespace, name = identity(item)
    namespace = namespace if kind.NAMESPACED else None
    return StoredResource(resource_key(kind, name, namespace), kind, name, namespace, item)


def staged(resources: ResourceSet) -> bool:
    """Whether `resources` holds a staged policy."""
    return any(_is_staged(_stored(item)) for item in resources.items)


def promoted(resources: ResourceSet) -> ResourceSet:
    """`resources` with every staged policy promoted (datastore.promote_staged): the
    set the pending verdict is the enforced verdict of (model/pending.py)."""
    items = [_stored(item) for item in resources.items]
    stored = [item for item in items if isinstance(item, StoredResource)]
    others = [item for item in items if not isinstance(item, StoredResource)]
    return ResourceSet(tuple(promote_staged(stored)) + tuple(others), resources.problems)


def without_staged(resources: ResourceSet) -> ResourceSet:
    """`resources` without its staged policies (which change no enforced verdict)."""
    return ResourceSet(tuple(item for item in resources.items if not _is_staged(_stored(item))), resources.problems)


def _is_staged(item: StoredResource | Doc) -> bool:
    return isinstance(item, StoredResource) and item.kind in STAGED_KINDS
