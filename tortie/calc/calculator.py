"""Which tiers, policies, profiles and IP sets each local endpoint of a node needs.

``Calculator`` holds the cluster's resources for one node and is updated one resource
at a time. An update recomputes only what it touches (the endpoint's own policies and
its membership of the sets in use, or the policy's endpoints and sets) and returns a
``Delta``: whether anything changed, and the problems seen for the first time. ``view()``
gives the immutable ``NodeView``, whose parts are the same objects while they are
unchanged (the identity contract of ``view.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from ..core import DIRECTIONS, Direction, RuleAction, Stage, paused_gc, shorten
from ..datastore import StoredKey, StoredResource
from ..resources import BY_TYPE, KNP_PREFIX, NAMESPACE_PROFILE_PREFIX
from .inputs import (BUILTIN_TIER_DATA, ENTITY_KINDS, POLICY_KINDS, BadInput, Entity, PolicyData, ProfileData,
                     TierData, entity_from_doc, entity_key, policy_from_doc, profile_from_doc, tier_from_doc)
from .labels import LabelIndex
from .rules import (NAMESPACE_LABEL, NAMESPACE_PREFIX, RESERVED_PREFIXES, SERVICE_ACCOUNT_LABEL, SERVICE_ACCOUNT_PREFIX,
                    NamedPortSetSpec, RuleCompiler)
from .view import EndpointView, IPSet, NodeView, PolicyView, ProfileView, TierView

NAMESPACE_PROFILE = "kns."
ACCOUNT_PROFILE = "ksa."
NAMESPACE_NAME_LABEL = "projectcalico.org/name"
Doc = Mapping[str, Any]


@dataclass
class Delta:
    """What one update means to the agent: whether the node's view changed (what changed is
    told by identity: see ``view.py``), and the problems seen for the first time."""

    changed: bool = False
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.changed or bool(self.problems)


@dataclass
class _CompiledRules:
    view: PolicyView | ProfileView
    sets: frozenset[str]  # ids of the selector and named-port sets its rules use


def _identity(item: StoredKey | Doc) -> tuple[str, str, str | None]:
    """(kind, name, namespace): a stored resource's from its key; a document that was never
    stored (tests, in-memory examples) names its own."""
    if isinstance(item, StoredKey):
        return item.kind.model_kind(), item.name, item.namespace
    meta = item.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    kind, name, namespace, version = item.get("kind"), meta.get("name"), meta.get("namespace"), item.get("apiVersion")
    known = BY_TYPE.get((version, kind)) if isinstance(version, str) and isinstance(kind, str) else None
    kind = known.model_kind() if known is not None else kind
    return (kind if isinstance(kind, str) else "", name if isinstance(name, str) else "",
            namespace if isinstance(namespace, str) else None)


def resource_id(item: StoredKey | Doc) -> tuple[str, str]:
    """(kind, key) that updates and deletes are addressed by: for a stored resource, always
    its store key's identity, never what its document says (issue 15, class 5).

    ``kind`` is the v3 kind (``"WorkloadEndpoint"``; ``"Namespace"`` for a Kubernetes
    Namespace); ``key`` is ``"<Kind>/[<namespace>/]<name>"`` for endpoints and network sets,
    ``"<namespace>/<name>"`` for a NetworkPolicy and the name for every other kind. Never
    raises: a document without a usable identity gives empty strings, which no resource
    matches."""
    kind, name, namespace = _identity(item)
    if kind in ENTITY_KINDS:
        return kind, entity_key(kind, name, namespace)
    if kind == "NetworkPolicy":
        return kind, f"{namespace}/{name}"
    if kind == "KubernetesNetworkPolicy":  # beside a Calico one of the same name, as in Felix
        return kind, f"{namespace}/{KNP_PREFIX}{name}"
    return kind, name


class Calculator:
    """The cluster as node ``node`` needs it (evaluation.md §2–§5, dataplane.md §8).

    Input: resources one at a time (``load`` for a snapshot, ``update``, ``delete``), each a
    ``StoredResource`` from the datastore or a v3 document (the JSON mapping the API prints);
    every kind is accepted and those calc does not use (FelixConfiguration) are ignored.
    Output: a ``Delta`` per call, and ``view()``, the immutable ``NodeView`` of the node's
    local endpoints with their ordered tiers, the policies and profiles they use and the IP
    sets those rules match. Errors: none for content. A document that does not make sense
    is a problem (in the Delta once, then in ``problems()``) and its last good version stays
    in force; the agent never enforces less or more than the last state that made sense.
    Cost: proportional to what an update touches (the endpoint's policies and set
    memberships, or the policy's endpoints and sets), not to the cluster.

    Follows Felix's calculation graph (felix/calc/calc_graph.go): the active-rules
    calculator and policy resolver (active_rules_calculator.go, policy_resolver.go), tier
    and policy order (policy_sorter.go) and the selector and named-port indexes of
    felix/labelindex.
    """

    def __init__(self, node: str) -> None:
        self.node = node
        self.entities: dict[str, Entity] = {}
        self.index = LabelIndex()  # effective labels of every entity
        self.profiles: dict[str, ProfileData] = {}  # in force: a Namespace's over a stored Profile of its name
        self._stored_profiles: dict[str, ProfileData] = {}  # the Profile resources
        self._namespace_profiles: dict[str, ProfileData] = {}  # kns.<name> of each Namespace resource
        self.policies: dict[str, PolicyData] = {}
        self.tiers: dict[str, TierData] = {}  # stored Tier resources
        self.owners: dict[str, set[str]] = {}  # address text -> entity keys
        self._by_profile: dict[str, set[str]] = {}  # profile -> entities listing it
        self._by_namespace: dict[str, set[str]] = {}  # namespace -> its entities
        self._applies: dict[str, set[str]] = {}  # local endpoint -> policies applying (any stage, direction)
        self._users: dict[str, set[str]] = {}  # policy -> local endpoints it applies to
        self._compiled: dict[str, _CompiledRules] = {}  # "policy:<key>" / "profile:<name>" in use
        self._set_users: dict[str, set[str]] = {}  # set id -> compiled owners using it
        self._compiler = RuleCompiler()
        self._matches: dict[str, set[str]] = {}  # selector-set id -> matching entity keys
        self._ipsets: dict[str, IPSet] = {}
        self._problems: dict[str, str] = {}  # resource id -> its problem
        self._reported: set[str] = set()
        self._views: dict[str, EndpointView] = {}  # built by view(), rebuilt when stale
        self._stale: set[str] = set()
        self._owners_view: Mapping[str, tuple[str, ...]] | None = None

    # --- loading ------------------------------------------------------------------

    def load(self, items: Iterable[StoredResource | Doc]) -> Delta:
        """Apply a whole snapshot (resources of any kinds, in any order, as ``update`` takes
        them); the merged Delta. Never raises for content."""
        delta = Delta()
        # Entities before policies: a set then fills once from the index when a policy
        # brings it into use, instead of being patched once per entity.
        order = {"Tier": 0, "Profile": 1, "Namespace": 1, **{k: 2 for k in ENTITY_KINDS}}
        ordered = sorted(items, key=lambda item: order.get(resource_id(item)[0], 3))
        with paused_gc():
            for item in ordered:
                self._merge(delta, self.update(item))
        return delta

    def update(self, item: StoredResource | Doc) -> Delta:
        """Apply one created or changed resource, addressed as ``resource_id`` gives it (its
        kind decides what it is; kinds calc does not use are ignored). Returns the Delta:
        ``changed`` if the view changed, and each problem seen for the first time. Never
        raises for content: a resource that does not make sense keeps its last good version."""
        _, name, namespace = _identity(item)
        kind, key = resource_id(item)
        doc = item.doc if isinstance(item, StoredResource) else item
        delta = Delta()
        try:
            data = _input_data(kind, name, namespace, key, doc)
        except BadInput as exc:
            # The last good version, if any, stays in force (the agent never enforces less
            # or more than the last state that made sense).
            self._problem(delta, f"{kind} {key}", f"{kind} {key} is ignored, the last good version stays: {exc}")
            return delta
        if isinstance(data, Entity):
            self._set_entity(data, delta)
        elif isinstance(data, PolicyData):
            self._set_policy(data, delta)
        elif isinstance(data, ProfileData):
            self._set_profile(data, self._namespace_profiles if kind == "Namespace" else self._stored_profiles, delta)
        elif isinstance(data, TierData):
            self._set_tier(key, data, delta)
        else:
            return delta
        self._problems.pop(f"{kind} {key}", None)
        return delta

    def delete(self, kind: str, key: str, delta: Delta | None = None) -> Delta:
        """Apply the deletion of a resource, addressed as ``resource_id`` gives it (``kind``,
        ``key``); adds to ``delta`` when given, else to a new Delta, and returns it. A key calc
        does not hold changes nothing."""
        delta = Delta() if delta is None else delta
        self._problems.pop(f"{kind} {key}", None)
        if kind in ENTITY_KINDS and key in self.entities:
            self._remove_entity(key, delta)
        elif kind in POLICY_KINDS and key in self.policies:
            self._set_policy_applicability(self.policies.pop(key), set(), delta)
            delta.changed = True
        elif kind == "Profile" and key in self._stored_profiles:
            del self._stored_profiles[key]
            self._settle_profile(key, delta)
        elif kind == "Namespace" and NAMESPACE_PROFILE_PREFIX + key in self._namespace_profiles:
            del self._namespace_profiles[NAMESPACE_PROFILE_PREFIX + key]
            self._settle_profile(NAMESPACE_PROFILE_PREFIX + key, delta)
        elif kind == "Tier" and key in self.tiers:
            del self.tiers[key]
            self._tier_changed(key, delta)
        return delta

    # --- entities -----------------------------------------------------------------

    def _effective_labels(self, e: Entity) -> dict[str, str]:
        """An entity's labels as Felix's selectors see them.

        Its own labels first, then its profiles' labelsToApply in order, then the labels
        Calico derives: the namespace's (``pcns.``) and the service account's (``pcsa.``).
        A WorkloadEndpoint's own ``pcns.``/``pcsa.`` labels are dropped, so that no workload
        pretends to be in another namespace (libcalico-go updateprocessors/
        workloadendpointprocessor.go), and its serviceAccountName sets
        ``projectcalico.org/serviceaccount``. Those prefixes come only from the namespace and
        service-account profiles (felix/calc/profile_decoder.go), never from another
        profile's labelsToApply; ``projectcalico.org/namespace`` is always the entity's own.
        """
        if e.kind == "WorkloadEndpoint":
            labels = {k: v for k, v in e.labels.items() if not k.startswith(RESERVED_PREFIXES)}
            if e.service_account is not None:
                labels[SERVICE_ACCOUNT_LABEL] = e.service_account
        else:
            labels = dict(e.labels)
        for name in e.profiles:
            profile = self.profiles.get(name)
            if profile:
                for k, v in profile.labels_to_apply.items():
                    if not k.startswith(RESERVED_PREFIXES):
                        labels.setdefault(k, v)
        if e.namespace is not None:
            derived = {NAMESPACE_PREFIX + k: v for k, v in self._namespace_labels(e.namespace).items()}
            if e.service_account is not None:
                derived.update((SERVICE_ACCOUNT_PREFIX + k, v)
                               for k, v in self._account_labels(e.namespace, e.service_account).items())
            for k, v in derived.items():
                labels.setdefault(k, v)
            labels[NAMESPACE_LABEL] = e.namespace
        return labels

    def _namespace_labels(self, namespace: str) -> dict[str, str]:
        """The namespace's labels: its ``kns.<namespace>`` profile's labels, and its
        labelsToApply's ``pcns.`` labels as Calico's Kubernetes conversion writes them."""
        profile = self.profiles.get(NAMESPACE_PROFILE + namespace)
        if profile is None:
            return {NAMESPACE_NAME_LABEL: namespace}
        return {**_decoded(profile.labels_to_apply, NAMESPACE_PREFIX), **profile.labels,
                NAMESPACE_NAME_LABEL: namespace}

    def _account_labels(self, namespace: str, account: str) -> dict[str, str]:
        """The service account's labels: its ``ksa.<namespace>.<name>`` profile's ``pcsa.``
        labelsToApply (libcalico-go k8s/conversion ServiceAccountToProfile) and its name."""
        profile = self.profiles.get(f"{ACCOUNT_PROFILE}{namespace}.{account}")
        found = _decoded(profile.labels_to_apply, SERVICE_ACCOUNT_PREFIX) if profile is not None else {}
        return {**found, NAMESPACE_NAME_LABEL: account}

    def _is_local(self, e: Entity) -> bool:
        return e.is_endpoint and e.node == self.node

    def _set_entity(self, e: Entity, delta: Delta) -> None:
        old = self.entities.get(e.key)
        if old == e:
            return
        if old is not None:
            self._unlink(old)
        self.entities[e.key] = e
        for name in e.profiles:
            self._by_profile.setdefault(name, set()).add(e.key)
        if e.namespace is not None:
            self._by_namespace.setdefault(e.namespace, set()).add(e.key)
        for address in e.members:
            self.owners.setdefault(address, set()).add(e.key)
        self._owners_view = None
        self._relabel(e.key, delta, previous=old.members if old is not None else (),
                      ports_changed=old is not None and old.ports != e.ports)
        if old is not None and self._is_local(old) and not self._is_local(e):
            self._set_local_policies(e.key, set(), delta)
            self._applies.pop(e.key, None)
        if self._is_local(e) or (old is not None and self._is_local(old)):
            self._touch(delta, e.key)
            self._use_profiles(delta)

    def _unlink(self, e: Entity) -> None:
        self._owners_view = None
        for name in e.profiles:
            self._by_profile.get(name, set()).discard(e.key)
        if e.namespace is not None:
            self._by_namespace.get(e.namespace, set()).discard(e.key)
        for address in e.members:
            keys = self.owners.get(address, set())
            keys.discard(e.key)
            if not keys:
                self.owners.pop(address, None)

    def _remove_entity(self, key: str, delta: Delta) -> None:
        e = self.entities.pop(key)
        self._unlink(e)
        self.index.remove(key)
        self._refresh_membership(key, delta, e.members)
        if self._is_local(e):
            self._set_local_policies(key, set(), delta)
            self._applies.pop(key, None)
            self._touch(delta, key)
            self._use_profiles(delta)

    def _relabel(self, key: str, delta: Delta, previous: tuple[str, ...] | None = None,
                 ports_changed: bool = False) -> None:
        """Recompute an entity's effective labels and everything that depends on them."""
        e = self.entities[key]
        labels = self._effective_labels(e)
        changed = self.index.labels.get(key) != labels
        if changed:
            self.index.set(key, labels)
        previous = e.members if previous is None else previous
        if changed or previous != e.members:
            self._refresh_membership(key, delta, previous)
        if ports_changed:
            for set_id in self._compiler.named_sets.keys() & self._ipsets.keys():
                self._patch(set_id, self._build_set(set_id).members, delta)
        if self._is_local(e):
            if changed:
                self._touch(delta, key)
            self._set_local_policies(key, {p.key for p in self.policies.values() if self._applies_to(p, e)}, delta)

    # --- policies -----------------------------------------------------------------

    def _applies_to(self, p: PolicyData, e: Entity) -> bool:
        if p.namespace is not None:
            if e.kind != "WorkloadEndpoint" or e.namespace != p.namespace:
                return False
        elif e.kind == "WorkloadEndpoint" and Stage.NORMAL not in p.stages:
            return False
        return p.selector.matches(self.index.labels[e.key])

    def _set_local_policies(self, key: str, policies: set[str], delta: Delta) -> None:
        old = self._applies.get(key, set())
        if key in self._applies and old == policies:
            return
        self._applies[key] = policies
        self._touch(delta, key)
        for p in old - policies:
            self._users[p].discard(key)
            if not self._users[p]:
                del self._users[p]
                self._release(f"policy:{p}", delta)
        for p in policies - old:
            if p not in self._users:
                self._users[p] = set()
                self._use(f"policy:{p}", delta)
            self._users[p].add(key)

    def _set_policy(self, p: PolicyData, delta: Delta) -> None:
        old = self.policies.get(p.key)
        if old == p:
            return
        self.policies[p.key] = p
        delta.changed = True
        users = {k for k in self._applies if self._applies_to(p, self.entities[k])}
        if old is not None and p.key in self._users:
            self._release(f"policy:{p.key}", delta)  # its rules may have changed: compile again
            self._use(f"policy:{p.key}", delta)
            self._touch(delta, *self._users[p.key])
        self._set_policy_applicability(p, users, delta)

    def _set_policy_applicability(self, p: PolicyData, users: set[str], delta: Delta) -> None:
        before = self._users.get(p.key, set())
        for key in before ^ users:
            applies = set(self._applies[key])
            applies.symmetric_difference_update({p.key})
            self._set_local_policies(key, applies, delta)

    # --- profiles and tiers -----------------------------------------------------------

    def _set_profile(self, profile: ProfileData, source: dict[str, ProfileData], delta: Delta) -> None:
        source[profile.name] = profile
        self._settle_profile(profile.name, delta)

    def _settle_profile(self, name: str, delta: Delta) -> None:
        """Put in force the profile ``name`` that wins: a Namespace's ``kns.<name>`` over a
        stored Profile of that name, as Calico's namespace controller keeps the datastore's
        (kube-controllers/pkg/controllers/namespace), and as with Kubernetes as the datastore,
        where every ``kns.`` profile is a Namespace's (libcalico-go k8s/resources/profile.go)."""
        winner = self._namespace_profiles.get(name) or self._stored_profiles.get(name)
        if self.profiles.get(name) == winner:
            return
        if winner is None:
            del self.profiles[name]
        else:
            self.profiles[name] = winner
        self._profile_changed(name, delta)

    def _profile_changed(self, name: str, delta: Delta) -> None:
        delta.changed = True
        affected = set(self._by_profile.get(name, ()))
        if name.startswith(NAMESPACE_PROFILE):
            affected |= self._by_namespace.get(name[len(NAMESPACE_PROFILE):], set())
        elif name.startswith(ACCOUNT_PROFILE):  # ksa.<namespace>.<account>: a namespace has no dots
            namespace, _, account = name[len(ACCOUNT_PROFILE):].partition(".")
            affected |= {k for k in self._by_namespace.get(namespace, ())
                         if self.entities[k].service_account == account}
        for key in affected:
            self._relabel(key, delta)
        if f"profile:{name}" in self._compiled:
            self._release(f"profile:{name}", delta)
        # The views of its endpoints refer to it, also when it appears or goes (view.py).
        self._touch(delta, *(k for k in self._by_profile.get(name, ()) if k in self._applies))
        self._use_profiles(delta)

    def _use_profiles(self, delta: Delta) -> None:
        """Keep exactly the profiles that local endpoints list (and that exist) compiled."""
        wanted = {f"profile:{n}" for k in self._applies for n in self.entities[k].profiles if n in self.profiles}
        for owner in [o for o in self._compiled if o.startswith("profile:") and o not in wanted]:
            self._release(owner, delta)
        for owner in wanted - self._compiled.keys():
            self._use(owner, delta)

    def _set_tier(self, name: str, tier: TierData, delta: Delta) -> None:
        if self.tiers.get(name) == tier:
            return
        self.tiers[name] = tier
        self._tier_changed(name, delta)

    def _tier(self, name: str) -> TierData | None:
        """A tier's data: its stored resource's, a built-in tier's defaults, or None for a
        tier that does not exist."""
        return self.tiers.get(name) or BUILTIN_TIER_DATA.get(name)

    def _tier_changed(self, name: str, delta: Delta) -> None:
        for p in self.policies.values():
            if p.tier == name:
                self._touch(delta, *self._users.get(p.key, ()))

    # --- compiled rules and IP sets ---------------------------------------------------

    def _use(self, owner: str, delta: Delta) -> None:
        kind, _, name = owner.partition(":")
        compiler = self._compiler
        if kind == "policy":
            p = self.policies[name]
            view: PolicyView | ProfileView = PolicyView(p, compiler.rules(p.ingress, p.namespace),
                                                        compiler.rules(p.egress, p.namespace))
        else:
            pr = self.profiles[name]
            view = ProfileView(name, compiler.rules(pr.ingress, None), compiler.rules(pr.egress, None))
            delta.changed = True
        named = _set_ids(view) - compiler.selector_sets.keys()
        sets = frozenset(_set_ids(view) | {compiler.named_sets[n].selector_id for n in named})
        self._compiled[owner] = _CompiledRules(view, sets)
        for set_id in sorted(sets, key=lambda i: i in compiler.named_sets):  # base selector sets first
            users = self._set_users.setdefault(set_id, set())
            if not users:
                self._activate(set_id, delta)
            users.add(owner)

    def _release(self, owner: str, delta: Delta) -> None:
        compiled = self._compiled.pop(owner, None)
        if compiled is None:
            return
        for set_id in compiled.sets:
            users = self._set_users[set_id]
            users.discard(owner)
            if not users:
                del self._set_users[set_id]
                self._deactivate(set_id, delta)

    def _activate(self, set_id: str, delta: Delta) -> None:
        if set_id in self._compiler.selector_sets:
            self._matches[set_id] = self.index.matching(self._compiler.selector_sets[set_id].selector)
        self._ipsets[set_id] = self._build_set(set_id)
        delta.changed = True

    def _deactivate(self, set_id: str, delta: Delta) -> None:
        self._ipsets.pop(set_id, None)
        self._matches.pop(set_id, None)
        delta.changed = True

    def _build_set(self, set_id: str) -> IPSet:
        compiler = self._compiler
        if set_id in compiler.selector_sets:
            members = {a for key in self._matches[set_id] for a in self.entities[key].members}
            return IPSet(set_id, "selector", frozenset(members))
        spec = compiler.named_sets[set_id]
        members = {m for key in self._matches[spec.selector_id] for m in _named_members(self.entities[key], spec)}
        return IPSet(set_id, "namedport", frozenset(members))

    def _refresh_membership(self, key: str, delta: Delta, previous: tuple[str, ...]) -> None:
        """Re-test one entity against every selector in use and patch the sets it changes.

        ``previous`` is the entity's addresses before this update (its current ones if
        they did not change). Selector sets are patched in place; named-port sets, which
        are small, are rebuilt when their base selector set moved.
        """
        labels = self.index.labels.get(key)
        entity = self.entities.get(key)
        current = entity.members if entity is not None and labels is not None else ()
        moved = current != previous
        touched = set()
        for set_id, matches in self._matches.items():
            was = key in matches
            now = labels is not None and self._compiler.selector_sets[set_id].selector.matches(labels)
            if was == now and not (now and moved):
                continue
            (matches.add if now else matches.discard)(key)
            touched.add(set_id)
            old = self._ipsets[set_id].members
            gone = {a for a in previous if was and not (self.owners.get(a, set()) & matches)}
            self._patch(set_id, (old - gone) | (set(current) if now else set()), delta)
        for set_id, spec in self._compiler.named_sets.items():
            if set_id not in self._ipsets or spec.selector_id not in touched:
                continue
            if moved:  # addresses changed: rare, rebuild
                self._patch(set_id, self._build_set(set_id).members, delta)
                continue
            mine = _named_members(entity, spec) if entity is not None else set()
            old = self._ipsets[set_id].members
            matches = self._matches[spec.selector_id]
            if key in matches:
                self._patch(set_id, old | mine, delta)
                continue
            # Keep what another matching endpoint with the same address still provides.
            kept = {m for m in mine for other in (self.owners.get(m.split(",")[0], set()) & matches)
                    if m in _named_members(self.entities[other], spec)}
            self._patch(set_id, old - (mine - kept), delta)

    def _patch(self, set_id: str, members: set[str] | frozenset[str], delta: Delta) -> None:
        if members != self._ipsets[set_id].members:
            self._ipsets[set_id] = IPSet(set_id, self._ipsets[set_id].kind, frozenset(members))
            delta.changed = True

    # --- problems and output ----------------------------------------------------------

    def _problem(self, delta: Delta, key: str, text: str) -> None:
        self._problems[key] = text
        if text not in self._reported:
            self._reported.add(text)
            delta.problems.append(text)

    def problems(self) -> tuple[str, ...]:
        """Bad resources, and resources that do not fit together (a profile or tier that does
        not exist, an address two endpoints claim), one sentence each, sorted. Scans the
        cluster: call it now and then (the agent does at start and at each read-back), not
        per update."""
        found = dict(self._problems)
        for key in self._applies:
            e = self.entities[key]
            for name in e.profiles:
                if name not in self.profiles:
                    found[f"profile {name}"] = f"profile {name} (listed by {e.key}) does not exist: it has no rules"
        for p in self._users:
            tier = self.policies[p].tier
            if self._tier(tier) is None:
                found[f"tier {tier}"] = f"tier {tier} (of policy {p}) does not exist: it sorts last"
        for key, e in self.entities.items():
            claimed = sorted(k for k in e.labels if e.kind == "WorkloadEndpoint" and k.startswith(RESERVED_PREFIXES))
            if claimed:
                found[f"labels {key}"] = (f"{key}: labels {', '.join(claimed)} are ignored, as Calico ignores them: "
                                          "only the namespace and service-account profiles set pcns. and pcsa. labels")
        for name in self._stored_profiles.keys() & self._namespace_profiles.keys():
            found[f"shadowed profile {name}"] = (
                f"Profile {name} is not used: Namespace {name[len(NAMESPACE_PROFILE_PREFIX):]} stands for it "
                "(as Calico's kube-controllers keeps a namespace's profile)")
        for name, profile in self.profiles.items():
            claimed = sorted(k for k in profile.labels_to_apply if k.startswith(RESERVED_PREFIXES))
            if claimed and not name.startswith((NAMESPACE_PROFILE, ACCOUNT_PROFILE)):
                found[f"labels profile {name}"] = (f"profile {name}: labelsToApply {', '.join(claimed)} are ignored: "
                                                   "only the namespace and service-account profiles set them")
        for address, keys in self.owners.items():
            endpoints = sorted(k for k in keys if self.entities[k].is_endpoint)
            if len(endpoints) > 1:
                found[f"address {address}"] = f"address {address} belongs to several endpoints: {', '.join(endpoints)}"
        for text in found.values():
            self._reported.add(text)
        return tuple(sorted(found.values()))

    def view(self) -> NodeView:
        """The node's view now: a new NodeView sharing every unchanged part with the last one
        (view.py's identity contract: the same object means unchanged). Costs the endpoints
        changed since the last call; never raises."""
        for key in self._stale:
            if key in self._applies:
                self._views[key] = self._endpoint_view(key)
            else:
                self._views.pop(key, None)
        self._stale.clear()
        if self._owners_view is None:
            with paused_gc():  # one tuple per address: acyclic, and the heap is large
                self._owners_view = MappingProxyType({a: tuple(sorted(k)) for a, k in self.owners.items()})
        endpoints = dict(self._views)
        policies = {o.partition(":")[2]: c.view for o, c in self._compiled.items() if isinstance(c.view, PolicyView)}
        profiles = {o.partition(":")[2]: c.view for o, c in self._compiled.items() if isinstance(c.view, ProfileView)}
        frozen = MappingProxyType
        return NodeView(self.node, frozen(endpoints), frozen(policies), frozen(profiles),
                        frozen(dict(self._ipsets)), self._owners_view)

    def _endpoint_view(self, key: str) -> EndpointView:
        e = self.entities[key]
        stages = (Stage.NORMAL,) if e.kind == "WorkloadEndpoint" else tuple(Stage)
        tiers = {}
        for stage in stages:
            for direction in DIRECTIONS:
                if stage is Stage.PRE_DNAT and direction is Direction.EGRESS:
                    continue
                chosen = [self.policies[p] for p in self._applies[key]
                          if stage in self.policies[p].stages and direction.policy_type in self.policies[p].types]
                tiers[(stage, direction)] = self._order(chosen)
        return EndpointView(e, MappingProxyType(dict(self.index.labels[key])), MappingProxyType(tiers))

    def _order(self, policies: list[PolicyData]) -> tuple[TierView, ...]:
        by_tier: dict[str, list[PolicyData]] = {}
        for p in policies:
            by_tier.setdefault(p.tier, []).append(p)

        def tier_key(name: str) -> tuple[bool, bool, float, str]:
            # felix/calc/policy_sorter.go (TierLess): existing tiers first, then by order
            # (none last), then by name; a tier that does not exist sorts last.
            tier = self._tier(name)
            order = tier.order if tier is not None else None
            return (tier is None, order is None, order or 0.0, name)

        def policy_key(p: PolicyData) -> tuple[bool, float, str]:
            # felix/calc/policy_sorter.go (PolKVLess): by order (none last), ties by
            # "<name>/<namespace>/<kind>".
            return (p.order is None, p.order or 0.0, f"{p.name}/{p.namespace or ''}/{p.kind}")

        views = []
        for name in sorted(by_tier, key=tier_key):
            tier = self._tier(name)
            views.append(TierView(name, tier.order if tier is not None else None,
                                  tuple(p.key for p in sorted(by_tier[name], key=policy_key)),
                                  tier.default_action if tier is not None else RuleAction.DENY))
        return tuple(views)

    def _touch(self, delta: Delta, *keys: str) -> None:
        """These local endpoints changed: their views are rebuilt by the next ``view()``."""
        if keys:
            self._stale.update(keys)
            delta.changed = True

    @staticmethod
    def _merge(into: Delta, other: Delta) -> None:
        into.changed |= other.changed
        into.problems += other.problems


def _input_data(kind: str, name: str, namespace: str | None, key: str,
                doc: Doc) -> Entity | PolicyData | ProfileData | TierData | None:
    """A resource document as calc's input data. Pure: raises only
    BadInput, so that no stored value can leave calc half updated."""
    try:
        if kind in ENTITY_KINDS:
            return entity_from_doc(kind, name, namespace, doc)
        if kind in POLICY_KINDS:
            return policy_from_doc(key, doc)
        if kind == "Profile":
            return profile_from_doc(key, doc)
        if kind == "Namespace":  # it is its profile (conversion.go NamespaceToProfile)
            return profile_from_doc(NAMESPACE_PROFILE_PREFIX + key, doc)
        if kind == "Tier":
            return tier_from_doc(doc)
        return None
    except BadInput:
        raise
    except Exception as exc:  # noqa: BLE001 - a defect in reading one document stays with that document
        raise BadInput(f"cannot be read ({type(exc).__name__}: {shorten(str(exc))})") from None


def _decoded(labels: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The labels that carry ``prefix``, without it (felix/calc/profile_decoder.go decodeLabels)."""
    return {k[len(prefix):]: v for k, v in labels.items() if k.startswith(prefix)}


def _set_ids(view: PolicyView | ProfileView) -> set[str]:
    ids: set[str] = set()
    for rule in view.ingress + view.egress:
        for side in (rule.source, rule.destination):
            ids |= {i for i in (side.selector, side.not_selector) if i}
            ids |= set(side.named_ports) | set(side.not_named_ports)
    return ids


def _named_members(e: Entity, spec: NamedPortSetSpec) -> set[str]:
    """An entity's members of a named-port set: ``<ip>,<proto>:<port>`` per single address."""
    proto = spec.protocol
    return {f"{address},{proto.iptables}:{port.port}" for port in e.ports
            if port.name == spec.name and port.protocol is proto
            for address in e.members if "/" not in address}
