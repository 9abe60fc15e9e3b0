"""The kinds tortie has, with calicoctl's CLI names for them (calicoctl/calicoctl/resourcemgr),
and the Kubernetes kinds it reads (kubernetes.py)."""

from __future__ import annotations

from .errors import ResourceError
from .felixconfig import FelixConfiguration
from .hostendpoint import HostEndpoint
from .kubernetes import KUBERNETES_KINDS
from .networkset import GlobalNetworkSet, NetworkSet
from .policy import GlobalNetworkPolicy, NetworkPolicy
from .profile import Profile
from .resource import API_VERSION, Resource
from .staged import STAGED_KINDS
from .tier import Tier
from .workloadendpoint import WorkloadEndpoint

ALL_KINDS: tuple[type[Resource], ...] = (
    FelixConfiguration, GlobalNetworkPolicy, NetworkPolicy, Tier, Profile,
    HostEndpoint, WorkloadEndpoint, GlobalNetworkSet, NetworkSet, *STAGED_KINDS, *KUBERNETES_KINDS,
)
BY_KIND: dict[str, type[Resource]] = {k.KIND: k for k in ALL_KINDS if k.API == API_VERSION}  # the v3 kinds
BY_TYPE: dict[tuple[str, str], type[Resource]] = {(k.API, k.KIND): k for k in ALL_KINDS}  # (apiVersion, kind)
_BY_CLI_NAME: dict[str, type[Resource]] = {name: k for k in ALL_KINDS for name in k.NAMES}


class UnsupportedKindError(ResourceError):
    def __init__(self, name: str) -> None:
        super().__init__(f"resource type '{name}' is not supported")


def kind_from_cli(name: str) -> type[Resource]:
    """The kind a CLI argument names, in any case. Raises UnsupportedKindError."""
    try:
        return _BY_CLI_NAME[name.lower()]
    except KeyError:
        raise UnsupportedKindError(name) from None
