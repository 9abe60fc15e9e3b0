"""The projectcalico.org/v3 resource model: kinds, validation, YAML/JSON codecs."""

from .codec import decode, flatten, kind_of, load_resource, parse_documents, to_json, to_yaml
from .duration import DurationError, format_duration, parse_duration
from .errors import (DecodeError, DocumentError, FieldError, InvalidParameter, ResourceError, UnknownFieldError,
                     UnknownKindError, ValidationError, go_float)
from .felixconfig import PARAMETERS, FelixConfiguration, Param
from .hostendpoint import HostEndpoint
from .kinds import ALL_KINDS, BY_KIND, BY_TYPE, UnsupportedKindError, kind_from_cli
from .networkset import GlobalNetworkSet, NetworkSet
from .kubernetes import KNP_PREFIX, NAMESPACE_PROFILE_PREFIX, KubernetesNetworkPolicy, Namespace
from .policy import DEFAULT_TIER, KUBERNETES_POLICY_PREFIX, GlobalNetworkPolicy, NetworkPolicy, Policy
from .profile import DEFAULT_ALLOW_PROFILE, Profile, default_allow_profile
from .resource import API_VERSION, Resource, not_namespaced_error
from .rule import EntityRule, ICMPFields, Rule, ServiceAccountMatch
from .staged import (STAGED_KINDS, StagedAction, StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy,
                     StagedNetworkPolicy, staged_action)
from .tier import BUILTIN_TIERS, DEFAULT_TIER_ORDER, Tier
from .values import (is_dns_label, is_name, is_port_name, label_value_problems, parse_ip, qualified_name_problems,
                     subdomain_problems)
from .workloadendpoint import WorkloadEndpoint

__all__ = [
    "ALL_KINDS", "API_VERSION", "BUILTIN_TIERS", "BY_KIND", "BY_TYPE", "DEFAULT_ALLOW_PROFILE", "DEFAULT_TIER",
    "DEFAULT_TIER_ORDER", "KNP_PREFIX", "KUBERNETES_POLICY_PREFIX", "NAMESPACE_PROFILE_PREFIX", "PARAMETERS",
    "STAGED_KINDS", "KubernetesNetworkPolicy", "Namespace", "Policy", "StagedAction", "StagedGlobalNetworkPolicy",
    "StagedKubernetesNetworkPolicy", "StagedNetworkPolicy", "staged_action",
    "DecodeError", "DocumentError", "DurationError", "EntityRule", "FelixConfiguration", "FieldError",
    "GlobalNetworkPolicy", "GlobalNetworkSet", "HostEndpoint", "ICMPFields", "InvalidParameter", "NetworkPolicy",
    "NetworkSet", "Param", "Profile", "Resource", "ResourceError", "Rule", "ServiceAccountMatch", "Tier",
    "UnknownFieldError", "UnknownKindError", "UnsupportedKindError", "ValidationError", "WorkloadEndpoint",
    "decode", "default_allow_profile", "flatten", "format_duration", "go_float", "is_dns_label", "is_name",
    "is_port_name", "kind_from_cli", "kind_of", "label_value_problems", "load_resource", "not_namespaced_error",
    "parse_documents", "parse_duration", "parse_ip", "qualified_name_problems", "subdomain_problems", "to_json",
    "to_yaml",
]
