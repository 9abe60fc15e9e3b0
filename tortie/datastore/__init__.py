"""Resources in the datastore: where each one's key is, how a stored value decodes, and the
client that reads and writes them with libcalico-go's client rules (resources.md §9)."""

from .client import (INITIALISED_KEY, AlreadyExists, Conflict, DatastoreError, InvalidStored, Listing, NotFound,
                     NotSupported, ResourceClient, check_storable, retry_conflicts)
from .promote import PendingFeed, Promotion, has_staged, promote_staged, promotion
from .stored import (PREFIX, Doc, InvalidValue, StoredKey, StoredResource, decode_stored, key_prefix, parse_key,
                     resource_key)

__all__ = [
    "INITIALISED_KEY", "PREFIX",
    "AlreadyExists", "Conflict", "DatastoreError", "Doc", "InvalidStored", "InvalidValue", "Listing", "NotFound",
    "NotSupported", "PendingFeed", "Promotion", "ResourceClient", "StoredKey", "StoredResource",
    "check_storable", "decode_stored", "has_staged", "key_prefix", "parse_key", "promote_staged", "promotion",
    "resource_key", "retry_conflicts",
]
