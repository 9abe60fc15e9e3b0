"""What every command shares: the failure exception and the datastore connection."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..resources import ResourceClient
from ..store import Store, open_store, resolve_datastore


class Fail(Exception):
    """A command failed; the message is printed as is and the exit status is 1."""


@dataclass
class Context:
    datastore: str | None = None
    _stores: list[Store] = field(default_factory=list)

    def client(self, config: str | None) -> ResourceClient:
        """Open the datastore (cli.md §1) and make sure its default objects exist."""
        store = open_store(resolve_datastore(self.datastore, config_file=config))
        self._stores.append(store)
        client = ResourceClient(store)
        client.ensure_defaults()
        return client

    def close(self) -> None:
        for store in self._stores:
            store.close()
