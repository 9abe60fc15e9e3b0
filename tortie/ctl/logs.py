"""logs: kernel LOG lines (kernel-log.md) from syslog files, journald, dmesg or /dev/kmsg."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, BinaryIO, TypeVar

import click

from ..logs import CONTROL, Summary, describe, read_records

if TYPE_CHECKING:
    from ..audit import Cluster
T = TypeVar("T")


@click.group(short_help="Read kernel LOG lines.")
def logs() -> None:
    """Kernel LOG lines, as syslog, journald, dmesg or /dev/kmsg write them."""


@logs.command("parse", short_help="Turn LOG lines into records.")
@click.argument("files", nargs=-1, metavar="[FILE|-]...")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="One readable line per record, or JSON lines.")
@click.pass_context
def parse(ctx: click.Context, files: tuple[str, ...], fmt: str) -> None:
    """Print one record per kernel LOG line in FILEs (- or none: standard input): syslog
    files, journalctl (plain or -o json), dmesg (with or without -T) or /dev/kmsg records.
    Other lines are counted and skipped. A summary goes to standard error.

    Exit status: 0 when every input was read, 1 when one could not be (the others are still
    parsed).
    """
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):
        out.reconfigure(errors="backslashreplace")  # text output keeps whatever a log line holds
    write: Callable[[str], object] = out.write
    encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
    summary = Summary()
    try:
        for record in read_inputs(ctx, files, "logs parse", partial(read_records, summary=summary)):
            write((encode(record.to_json()) if fmt == "json" else describe(record)) + "\n")
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        discard_stdout()
    try:
        out.flush()
    except BrokenPipeError:
        discard_stdout()
    click.echo(f"logs parse: {summary}", err=True)
    if ctx.meta.get("failed"):
        ctx.exit(1)


@logs.command("explain", short_help="Replay LOG lines through the policies.")
@click.argument("files", nargs=-1, metavar="[FILE|-]...")
@click.option("--resources", "resource_files", multiple=True, metavar="FILE",
              help="Replay against these resources (YAML or JSON, as calicoctl get -o yaml writes them) "
                   "instead of the datastore's. Repeatable.")
@click.option("--node", help="The node that logged the lines (default: each line's host, then $NODENAME or "
                             "the host name).")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Two readable lines per LOG line, or JSON lines.")
@click.option("-c", "--config", "client_config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@click.pass_context
def explain(ctx: click.Context, files: tuple[str, ...], resource_files: tuple[str, ...], node: str | None, fmt: str,
            client_config: str | None) -> None:
    """Replay each kernel LOG line in FILEs (- or none: standard input) through the model,
    on the node that logged it and the interfaces it names, and tell the endpoints at both
    ends, the verdict, and the policy and rule that denied it; with staged policies, also
    the pending verdict (the same replay with every staged policy promoted). A line whose
    addresses and interfaces no endpoint owns is reported as not placed. Resources that do not validate
    are skipped and named on standard error; a summary follows there.

    Exit status: 0 when every input was read, 1 when one could not be, or a --resources file
    could not be read (then nothing is replayed).
    """
    from ..audit import describe_explanation, explain_record, explanation_json
    from ..config import node_name

    cluster = cluster_of(ctx, resource_files, client_config, "logs explain")
    for problem in cluster.problems:
        click.echo(f"logs explain: {problem}", err=True)
    default_node = node_name(node)
    summary = Summary()
    counts: dict[str, int] = {}
    encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
    try:
        for record in read_inputs(ctx, files, "logs explain", partial(read_records, summary=summary)):
            explanation = explain_record(cluster, record, node or record.host or default_node)
            verdict = (explanation.judgement.verdict.value if explanation.judgement else
                       "not replayed" if explanation.packet is None else "not placed")
            counts[verdict] = counts.get(verdict, 0) + 1
            click.echo(encode(explanation_json(record, explanation)) if fmt == "json" else "\n".join(
                line.translate(CONTROL) for line in describe_explanation(record, explanation).splitlines()))
    except BrokenPipeError:
        discard_stdout()
    told = ", ".join(f"{n:,} {what}" for what, n in sorted(counts.items()))
    click.echo(f"logs explain: {summary}" + (f"; replayed: {told}" if told else ""), err=True)
    if ctx.meta.get("failed"):
        ctx.exit(1)


def cluster_of(ctx: click.Context, resource_files: tuple[str, ...], client_config: str | None,
               command: str) -> Cluster:
    """The model over the resources in `resource_files`, or over the datastore's. Raises Fail
    (`COMMAND: --resources FILE: reason`) when a file cannot be read or parsed."""
    from ..audit import Cluster, ResourceFileError, from_files, from_listing
    from ..resources import ResourceError
    from ..store import StoreError
    from .context import Context, Fail

    if resource_files:
        try:
            return Cluster(from_files(resource_files))
        except ResourceFileError as exc:
            raise Fail(f"{command}: --resources {exc}") from None
    try:
        return Cluster(from_listing(ctx.find_object(Context).client(client_config).snapshot()))  # type: ignore[union-attr]
    except (ResourceError, StoreError) as exc:
        raise Fail(f"Failed to execute command: {exc}") from None


def read_inputs(ctx: click.Context, files: tuple[str, ...], command: str,
                read: Callable[..., Iterator[T]],
                label: str = "parsing") -> Iterator[T]:
    """What `read(stream, progress=...)` yields from each input in turn (- or none: standard
    input), with a progress bar over them on a terminal. An input that cannot be opened or
    read is named on stderr as `COMMAND: FILE: reason` and marks the run failed
    (`ctx.meta["failed"]`); the others are still read."""
    with progress_bar(files, label) as progress:
        for name in files or ("-",):
            try:
                with open_input(name) as stream:
                    yield from read(stream, progress=progress)
            except OSError as exc:
                if isinstance(exc, BrokenPipeError):
                    raise
                click.echo(f"{command}: {display_name(name)}: {reason(exc)}", err=True)
                ctx.meta["failed"] = True


@contextmanager
def open_input(name: str) -> Iterator[BinaryIO]:
    if name == "-":
        yield sys.stdin.buffer
        return
    with open(name, "rb") as stream:
        yield stream


def display_name(name: str) -> str:
    return "standard input" if name == "-" else name


def reason(exc: OSError) -> str:
    """What went wrong, in a few words: `no such file`, `is a directory`, `permission denied`."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()


@contextmanager
def progress_bar(files: tuple[str, ...], label: str = "parsing") -> Iterator[Callable[[int], None] | None]:
    """A progress bar on standard error, when it is a terminal and the records go elsewhere,
    over the regular files among the inputs; None otherwise."""
    total = 0
    if sys.stderr.isatty() and not sys.stdout.isatty():
        for name in files or ("-",):
            try:
                info = os.stat(sys.stdin.fileno()) if name == "-" else os.stat(name)
            except (OSError, ValueError):
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    if not total:
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def discard_stdout() -> None:
    """Point standard output at /dev/null, so that nothing more fails writing to a closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
