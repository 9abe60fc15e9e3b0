"""An etcd-v3-shaped revisioned key-value store with interchangeable backends."""

from .base import (MAX_VALUE, CompactedError, ConflictError, Event, EventType, KeyExistsError, KeyNotFoundError,
                   KeyValue, Op, OpKind, Store, StoreError, TooLargeError, UnavailableError, Watch, check_size)
from .sqlite import SQLiteStore, prefix_end
from .url import (DEFAULT_DATASTORE, DatastoreURL, InvalidURLError, etcd_url, open_store, parse_datastore_url,
                  resolve_datastore)

__all__ = [
    "DEFAULT_DATASTORE", "MAX_VALUE",
    "CompactedError", "ConflictError", "DatastoreURL", "Event", "EventType", "InvalidURLError", "KeyExistsError",
    "KeyNotFoundError", "KeyValue", "Op", "OpKind", "SQLiteStore", "Store", "StoreError", "TooLargeError",
    "UnavailableError", "Watch", "check_size", "etcd_url", "open_store", "parse_datastore_url", "prefix_end",
    "resolve_datastore",
]
