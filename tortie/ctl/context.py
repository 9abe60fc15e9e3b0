"""What every command shares: the failure exception and the datastore connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import click

from ..datastore import ResourceClient
from ..store import Store, StoreError, open_store, resolve_datastore


def compatible(command: Callable[..., Any]) -> Callable[..., Any]:
    """calicoctl's options that tortie accepts and has no use for."""
    command = click.option("--context", "kube_context", hidden=True, help="Kubernetes context (ignored).")(command)
    return click.option("--allow-version-mismatch", is_flag=True, help="Accepted for calicoctl compatibility.")(
        command)


class Fail(Exception):
    """A command failed; the message is printed as is on standard error, where calicoctl
    prints its errors (calicoctl.go main), and the exit status is 1."""


def context(ctx: click.Context) -> Context:
    """The command line's shared state (set up by the top-level command)."""
    found = ctx.find_object(Context)
    assert found is not None, "commands run under the tortie group"
    return found


@dataclass
class Context:
    datastore: str | None = None
    _stores: list[Store] = field(default_factory=list)

    def client(self, config: str | None) -> ResourceClient:
        """Open the datastore (cli.md §1) and make sure its built-in objects exist.
        A datastore that cannot be opened fails as calicoctl's client does."""
        try:
            store = open_store(resolve_datastore(self.datastore, config_file=config))
            self._stores.append(store)
            client = ResourceClient(store)
            client.ensure_defaults()
        except StoreError as exc:
            raise Fail(f"Failed to create Calico API client: {exc}") from None
        return client

    def close(self) -> None:
        for store in self._stores:
            store.close()
