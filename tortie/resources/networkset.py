"""NetworkSet and GlobalNetworkSet (api/pkg/apis/projectcalico/v3/networkset.go,
globalnetworkset.go): labelled lists of CIDRs (validator.go validateNetworkSet,
validateGlobalNetworkSet)."""

from __future__ import annotations


from .resource import NAMESPACE_LABEL, Resource
from .schema import STRING, Checker, List, Omit, Struct, field, struct
from .values import is_cidr


@struct
class NetworkSetSpec(Struct):
    nets: list[str] | None = field("nets", List(STRING))

    def check(self, c: Checker, at: str) -> None:
        for i, net in enumerate(self.nets or []):
            if not is_cidr(net):
                c.tag(f"Nets[{i}]", net, "cidr")


class _Set(Resource):
    __slots__ = ()

    def check(self, c: Checker, at: str) -> None:
        super().check(c, at)
        if NAMESPACE_LABEL in (self.metadata.labels or {}):
            c.error("Metadata.Labels (label)", NAMESPACE_LABEL, f"{NAMESPACE_LABEL} is not a valid label name")


@struct
class NetworkSet(_Set):
    KIND = "NetworkSet"
    NAMESPACED = True
    PLURAL = "networksets"
    NAMES = ("networkset", "networksets", "netsets")

    spec: NetworkSetSpec = field("spec", NetworkSetSpec, omit=Omit.NEVER)


@struct
class GlobalNetworkSet(_Set):
    KIND = "GlobalNetworkSet"
    PLURAL = "globalnetworksets"
    NAMES = ("globalnetworkset", "globalnetworksets", "gnetsets")

    spec: NetworkSetSpec = field("spec", NetworkSetSpec, omit=Omit.NEVER)
