"""store migrate: copy every resource from one datastore to another (for example a single
node's SQLite file to the etcd that many nodes will share)."""

from __future__ import annotations

import click

from ..datastore import INITIALISED_KEY, PREFIX
from ..store import KeyValue, Store, StoreError, open_store
from .context import Fail

PROGRESS_EVERY = 1000


@click.group(short_help="Move resources between datastores.")
def store() -> None:
    """Datastore maintenance."""


def _plan(source: Store, target: Store) -> tuple[list[KeyValue], int, list[str]]:
    """What to write, how many resources are already there unchanged, and those that differ.
    The marker of a bootstrapped store goes along, so the target does not bootstrap again."""
    items, _ = source.list(PREFIX)
    existing = {kv.key: kv.value for kv in target.list(PREFIX)[0]}
    writes = [kv for kv in items if existing.get(kv.key) != kv.value]
    differ = [kv.key for kv in writes if kv.key in existing]
    marker = source.get(INITIALISED_KEY)
    if marker is not None and target.get(INITIALISED_KEY) is None:
        writes.append(marker)
    same = sum(1 for kv in items if existing.get(kv.key) == kv.value)
    return writes, same, differ


@store.command()
@click.option("--from", "source_url", required=True, metavar="URL", help="Datastore to copy from.")
@click.option("--to", "target_url", required=True, metavar="URL", help="Datastore to copy to.")
@click.option("--overwrite", is_flag=True, help="Replace resources that exist in the target with other content.")
def migrate(source_url: str, target_url: str, overwrite: bool) -> None:
    """Copy every resource, as stored: names, labels, annotations, uid and creation time.

    Resources already in the target with the same content are left alone; any with other
    content stop the copy before anything is written, unless --overwrite. A SQLite --from
    must exist (a typo must not pass for an empty datastore). Their
    resourceVersion is the target's revision at which each was written.
    """
    try:
        with open_store(source_url, create=False) as source, open_store(target_url) as target:
            writes, same, differ = _plan(source, target)
            if differ and not overwrite:
                shown = "\n".join(f"  {key}" for key in differ[:10])
                more = f"\n  ... and {len(differ) - 10} more" if len(differ) > 10 else ""
                raise Fail(f"Nothing copied: {len(differ)} resource(s) exist in {target_url} with other content "
                           f"(use --overwrite to replace them):\n{shown}{more}")
            for done, kv in enumerate(writes, 1):
                if target.get(kv.key) is None:
                    target.create(kv.key, kv.value)
                else:
                    target.update(kv.key, kv.value)
                if done % PROGRESS_EVERY == 0:
                    click.echo(f"  {done:,}/{len(writes):,} copied", err=True)
    except StoreError as exc:
        raise Fail(f"Failed to migrate: {exc}") from None
    count = sum(1 for kv in writes if kv.key != INITIALISED_KEY)
    click.echo(f"Copied {count} resource(s) from {source_url} to {target_url}"
               + (f" ({same} already there)" if same else "") + ".")
