"""Staged policies: StagedNetworkPolicy (snp), StagedGlobalNetworkPolicy (sgnp) and
StagedKubernetesNetworkPolicy (sknp) (api/pkg/apis/projectcalico/v3/staged*.go), with their
defaults (api/pkg/defaults, libcalico-go clientv3 staged*.go) and checks (validator.go
validateStaged*; the staged policy CRDs).

A staged policy is never enforced. Its ``stagedAction`` says what promoting it does to the
enforced policy of the same name (and namespace): Set (the default) creates or replaces it,
Delete removes it, Learn acts as Set, Ignore does nothing (``promote.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from .kubernetes import (KNP_PREFIX, KubernetesNetworkPolicy, KubernetesNetworkPolicySpec, calico_policy_doc,
                         check_subdomain_name)
from .policy import (GLOBAL_POLICY_NAME, NETWORK_POLICY_NAME, GlobalNetworkPolicy, GlobalNetworkPolicySpec,
                     NetworkPolicy, NetworkPolicySpec, Policy)
from .resource import Resource, check_annotations, check_labels
from .schema import STRING, Checker, Omit, field

DELETE_SPEC_NOT_EMPTY = "Spec fields, except Tier, should all be zero-value if stagedAction is Delete"
DELETE_K8S_SPEC_NOT_EMPTY = "Spec fields should all be zero-value if stagedAction is Delete"


class StagedAction(StrEnum):
    SET = "Set"
    DELETE = "Delete"
    LEARN = "Learn"
    IGNORE = "Ignore"


STAGED_ACTIONS = tuple(a.value for a in StagedAction)


def check_staged_action(c: Checker, value: str | None) -> None:
    """The validator's ``stagedAction`` tag and the CRD's enum."""
    if value is not None and value not in STAGED_ACTIONS:
        c.tag("StagedAction", value, "stagedAction")
        c.enum("spec.stagedAction", value, STAGED_ACTIONS)


def staged_action(resource: StagedResource) -> StagedAction:
    """The resource's action; Set when it has none (the CRD default)."""
    return StagedAction(resource.spec.staged_action or StagedAction.SET)


def _check_delete(c: Checker, spec: StagedNetworkPolicySpec | StagedGlobalNetworkPolicySpec) -> bool:
    """A Delete's spec is empty but for its tier; True when the spec is a Delete's."""
    if spec.staged_action != StagedAction.DELETE:
        return False
    rest = {k: v for k, v in spec.encode().items() if k not in ("stagedAction", "tier")}
    if rest:
        c.error(f"Staged{spec.SPEC_NAME}", rest, DELETE_SPEC_NOT_EMPTY)
    return True


@dataclass(slots=True)
class StagedNetworkPolicySpec(NetworkPolicySpec):
    staged_action: str | None = field("stagedAction", STRING)

    def check(self, c: Checker, at: str) -> None:
        check_staged_action(c, self.staged_action)
        NetworkPolicySpec.check(self, c, at)

    def check_policy(self, c: Checker) -> None:
        """validateStagedNetworkPolicy: a Delete is empty, another action a policy's spec."""
        if not _check_delete(c, self):
            NetworkPolicySpec.check_policy(self, c)


@dataclass(slots=True)
class StagedGlobalNetworkPolicySpec(GlobalNetworkPolicySpec):
    staged_action: str | None = field("stagedAction", STRING)

    def check(self, c: Checker, at: str) -> None:
        check_staged_action(c, self.staged_action)
        GlobalNetworkPolicySpec.check(self, c, at)

    def check_policy(self, c: Checker) -> None:
        """validateStagedGlobalNetworkPolicy."""
        if not _check_delete(c, self):
            GlobalNetworkPolicySpec.check_policy(self, c)


class _StagedPolicy(Policy):
    """The defaults snp and sgnp share; the checks are the enforced kind's, ``ENFORCED``,
    with the spec's own for stagedAction."""

    __slots__ = ()
    ENFORCED: ClassVar[type[Resource]]
    spec: StagedNetworkPolicySpec | StagedGlobalNetworkPolicySpec

    def client_defaults(self) -> None:
        """api/pkg/defaults, then clientv3's: a Delete has no types."""
        Policy.client_defaults(self)
        if self.spec.staged_action == StagedAction.DELETE:
            self.spec.types = None

    def crd_defaults(self) -> None:
        Policy.crd_defaults(self)
        if not self.spec.staged_action:
            self.spec.staged_action = StagedAction.SET.value

    def enforced_doc(self) -> dict[str, Any]:
        """ConvertStagedPolicyToEnforced: the enforced policy with this one's metadata and spec
        (without stagedAction, uid and resourceVersion)."""
        meta = {k: v for k, v in self.metadata.encode().items()
                if k in ("name", "namespace", "labels", "annotations")}
        spec = {k: v for k, v in self.spec.encode().items() if k != "stagedAction"}
        return {"apiVersion": self.API, "kind": self.ENFORCED.KIND, "metadata": meta, "spec": spec}


@dataclass(slots=True)
class StagedNetworkPolicy(_StagedPolicy):
    KIND = "StagedNetworkPolicy"
    NAMESPACED = True
    PLURAL = "stagednetworkpolicies"
    NAMES = ("stagednetworkpolicy", "stagednetworkpolicies", "stagedpolicy", "snp", "stagedpolicies", "spol",
             "spols")
    NAME_PATTERN = NETWORK_POLICY_NAME
    ENFORCED = NetworkPolicy

    spec: StagedNetworkPolicySpec = field("spec", StagedNetworkPolicySpec, omit=Omit.NEVER)


@dataclass(slots=True)
class StagedGlobalNetworkPolicy(_StagedPolicy):
    KIND = "StagedGlobalNetworkPolicy"
    PLURAL = "stagedglobalnetworkpolicies"
    NAMES = ("stagedglobalnetworkpolicy", "stagedglobalnetworkpolicies", "sgnp", "sgnps")
    NAME_PATTERN = GLOBAL_POLICY_NAME
    ENFORCED = GlobalNetworkPolicy

    spec: StagedGlobalNetworkPolicySpec = field("spec", StagedGlobalNetworkPolicySpec, omit=Omit.NEVER)


@dataclass(slots=True)
class StagedKubernetesNetworkPolicySpec(KubernetesNetworkPolicySpec):
    staged_action: str | None = field("stagedAction", STRING)


@dataclass(slots=True)
class StagedKubernetesNetworkPolicy(Resource):
    KIND = "StagedKubernetesNetworkPolicy"
    NAMESPACED = True
    PLURAL = "stagedkubernetesnetworkpolicies"
    NAMES = ("stagedkubernetesnetworkpolicy", "stagedkubernetesnetworkpolicies", "stagedkubernetespolicy", "sknp",
             "stagedkubernetespolicies", "skpol", "skpols")
    ENFORCED = KubernetesNetworkPolicy

    spec: StagedKubernetesNetworkPolicySpec = field("spec", StagedKubernetesNetworkPolicySpec, omit=Omit.NEVER)

    def crd_defaults(self) -> None:
        if not self.spec.staged_action:
            self.spec.staged_action = StagedAction.SET.value

    def check(self, c: Checker, at: str) -> None:
        """validateStagedKubernetesNetworkPolicy. Its name and rules are also checked as the
        Kubernetes API server checks a NetworkPolicy's (docs/decisions.md: Calico converts them
        unchecked, and a name that is no key segment, empty or with a slash, cannot be stored)."""
        name = self.name
        if len(name.encode()) > 253:
            c.error("Metadata.Name", name, f"name is too long by {len(name.encode()) - 253} bytes")
        else:
            check_subdomain_name(c, name)
        check_annotations(c, self.metadata.annotations)
        check_labels(c, self.metadata.labels)
        check_staged_action(c, self.spec.staged_action)
        if self.spec.staged_action == StagedAction.DELETE:
            rest = {k: v for k, v in self.spec.encode().items() if k != "stagedAction" and v != {}}
            if rest:
                c.error("StagedKubernetesNetworkPolicySpec", rest, DELETE_K8S_SPEC_NOT_EMPTY)
            return
        self.spec.check(c, "spec")

    def enforced_doc(self) -> dict[str, Any]:
        """The Calico NetworkPolicy that promoting it (as a NetworkPolicy) is enforced as:
        ``knp.default.<name>`` in its namespace (conversion.go)."""
        return calico_policy_doc(KNP_PREFIX + self.name, self.namespace, self.spec)

    def kubernetes_doc(self) -> dict[str, Any]:
        """ConvertStagedKubernetesPolicyToK8SEnforced: the NetworkPolicy it becomes."""
        meta = {k: v for k, v in self.metadata.encode().items()
                if k in ("name", "namespace", "labels", "annotations")}
        spec = {k: v for k, v in self.spec.encode().items() if k != "stagedAction"}
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": spec}


StagedResource = StagedNetworkPolicy | StagedGlobalNetworkPolicy | StagedKubernetesNetworkPolicy
STAGED_KINDS: tuple[type[Resource], ...] = (StagedNetworkPolicy, StagedGlobalNetworkPolicy,
                                            StagedKubernetesNetworkPolicy)
