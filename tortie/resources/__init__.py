"""The projectcalico.org/v3 resource model: kinds, validation, YAML/JSON codecs."""

from .client import (AlreadyExists, Conflict, DatastoreError, InvalidStored, Listing, NotFound, NotSupported,
                     ResourceClient, retry_conflicts)
from .codec import decode, flatten, kind_of, load_resource, parse_documents, to_json, to_yaml
from .duration import DurationError, format_duration, parse_duration
from .errors import (DecodeError, DocumentError, FieldError, InvalidParameter, ResourceError, UnknownFieldError,
                     UnknownKindError, ValidationError)
from .felixconfig import PARAMETERS, FelixConfiguration, Param
from .hostendpoint import HostEndpoint
from .kinds import ALL_KINDS, BY_KIND, BY_TYPE, UnsupportedKindError, kind_from_cli
from .networkset import GlobalNetworkSet, NetworkSet
from .policy import DEFAULT_TIER, GlobalNetworkPolicy, NetworkPolicy
from .profile import Profile
from .resource import API_VERSION, Resource
from .stored import InvalidValue, StoredKey, StoredResource, decode_stored, parse_key
from .tier import Tier
from .workloadendpoint import WorkloadEndpoint

__all__ = [
    "AlreadyExists", "Conflict", "DatastoreError", "InvalidStored", "Listing", "NotFound", "NotSupported",
    "ResourceClient", "retry_conflicts",
    "InvalidValue", "StoredKey", "StoredResource", "decode_stored", "parse_key",
    "ALL_KINDS", "API_VERSION", "BY_KIND", "BY_TYPE", "DEFAULT_TIER", "PARAMETERS",
    "DecodeError", "DocumentError", "DurationError", "FelixConfiguration", "FieldError", "GlobalNetworkPolicy",
    "GlobalNetworkSet", "HostEndpoint", "NetworkPolicy", "NetworkSet", "Param", "Profile", "Resource",
    "InvalidParameter", "ResourceError", "Tier", "UnknownFieldError", "UnknownKindError", "UnsupportedKindError",
    "ValidationError", "WorkloadEndpoint",
    "decode", "flatten", "format_duration", "kind_from_cli", "kind_of", "load_resource",
    "parse_documents", "parse_duration", "to_json", "to_yaml",
]
