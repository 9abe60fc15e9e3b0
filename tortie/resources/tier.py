"""Tier (api/pkg/apis/projectcalico/v3/tier.go): order and default action, with the
client's defaults (libcalico-go lib/resources/tier.go DefaultTierFields) and checks
(validator.go validateTier; the tiers CRD)."""

from __future__ import annotations


from .errors import go_float
from .policy import DEFAULT_TIER
from .resource import LABEL_NAME_REASON, Resource, check_annotations, check_labels
from .schema import FLOAT, INT64, STRING, TIME, Checker, List, Omit, Struct, StructType, field, join, struct
from .values import DNS_LABEL

KUBE_ADMIN_TIER = "kube-admin"
KUBE_BASELINE_TIER = "kube-baseline"
DEFAULT_TIER_ORDER = 1_000_000
# The tiers every datastore has: name -> (order, default action) (libcalico-go clientv3 EnsureInitialized).
BUILTIN_TIERS = {DEFAULT_TIER: (DEFAULT_TIER_ORDER, "Deny"), KUBE_ADMIN_TIER: (1_000, "Pass"),
                 KUBE_BASELINE_TIER: (10_000_000, "Pass")}
DEFAULT_ACTIONS = ("Pass", "Deny")
_CONDITION_TYPE = ("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                   "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")
_CONDITION_REASON = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


@struct
class Condition(Struct):
    GO = "v1.Condition"
    type: str | None = field("type", STRING, omit=Omit.NEVER)
    status: str | None = field("status", STRING, omit=Omit.NEVER)
    observed_generation: int | None = field("observedGeneration", INT64)
    last_transition_time: str | None = field("lastTransitionTime", TIME, omit=Omit.NEVER)
    reason: str | None = field("reason", STRING, omit=Omit.NEVER)
    message: str | None = field("message", STRING, omit=Omit.NEVER)

    def check(self, c: Checker, at: str) -> None:
        c.enum(join(at, "status"), self.status or "", ("True", "False", "Unknown"))
        c.pattern(join(at, "type"), self.type or "", _CONDITION_TYPE)
        c.pattern(join(at, "reason"), self.reason or "", _CONDITION_REASON)
        c.minimum(join(at, "observedGeneration"), self.observed_generation, 0)


@struct
class TierStatus(Struct):
    conditions: list[Condition] | None = field("conditions", List(StructType(Condition)))

    def check(self, c: Checker, at: str) -> None:
        for i, condition in enumerate(self.conditions or []):
            condition.check(c, join(join(at, "conditions"), i))


@struct
class TierSpec(Struct):
    order: int | float | None = field("order", FLOAT, omit=Omit.POINTER)
    default_action: str | None = field("defaultAction", STRING, omit=Omit.POINTER)

    def check(self, c: Checker, at: str) -> None:
        if self.default_action is not None and self.default_action not in ("Deny", "Pass"):
            c.tag("DefaultAction", self.default_action, "oneof")


@struct
class Tier(Resource):
    KIND = "Tier"
    PLURAL = "tiers"
    NAMES = ("tier", "tiers")

    spec: TierSpec = field("spec", TierSpec, omit=Omit.NEVER)
    status: TierStatus | None = field("status", TierStatus, omit=Omit.NEVER)

    def client_defaults(self) -> None:
        """DefaultTierFields: no order means 1,000,000, no default action means Deny."""
        if self.spec.order is None:
            self.spec.order = DEFAULT_TIER_ORDER
        self.crd_defaults()

    def crd_defaults(self) -> None:
        if self.spec.default_action is None:
            self.spec.default_action = "Deny"

    def check(self, c: Checker, at: str) -> None:
        Resource.check(self, c, at)  # zero-argument super() fails in a slots dataclass
        if self.status is not None:
            self.status.check(c, "status")
        name = self.name
        if len(name.encode()) > 63:
            c.error("Metadata.Name", name, f"name is too long by {len(name.encode()) - 63} bytes")
        if not DNS_LABEL.fullmatch(name):
            c.error("Metadata.Name", name, LABEL_NAME_REASON)
        builtin = BUILTIN_TIERS.get(name)
        if builtin is not None and self.spec.order != builtin[0]:
            c.error("TierSpec.Order", self.spec.order, f"{name} tier order must be {go_float(builtin[0])}")
        check_annotations(c, self.metadata.annotations)
        check_labels(c, self.metadata.labels)
        action = self.spec.default_action
        c.enum("spec.defaultAction", action, ("Allow", "Deny", "Log", "Pass"))
        c.enum("spec.defaultAction", action, DEFAULT_ACTIONS)
        if builtin is not None and action != builtin[1]:
            c.schema("Tier", f"The '{name}' tier must have default action '{builtin[1]}'")
