"""logs: kernel LOG lines (kernel-log.md) from syslog files, journald, dmesg or /dev/kmsg."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

import click

from ..logs import Summary, describe, read_records


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
    failed = False
    with _progress(files) as progress:
        for name in files or ("-",):
            try:
                with _open(name) as stream:
                    for record in read_records(stream, summary, progress):
                        if fmt == "json":
                            write(encode(record.to_json()) + "\n")
                        else:
                            write(describe(record) + "\n")
            except OSError as exc:
                if isinstance(exc, BrokenPipeError):  # the reader went away (| head): stop quietly
                    _discard_stdout()
                    break
                click.echo(f"logs parse: {_display(name)}: {_reason(exc)}", err=True)
                failed = True
    try:
        out.flush()
    except BrokenPipeError:
        _discard_stdout()
    click.echo(f"logs parse: {summary}", err=True)
    if failed:
        ctx.exit(1)


@contextmanager
def _open(name: str) -> Iterator[BinaryIO]:
    if name == "-":
        yield sys.stdin.buffer
        return
    with open(name, "rb") as stream:
        yield stream


def _display(name: str) -> str:
    return "standard input" if name == "-" else name


def _reason(exc: OSError) -> str:
    """What went wrong, in a few words: `no such file`, `is a directory`, `permission denied`."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()


@contextmanager
def _progress(files: tuple[str, ...]) -> Iterator[Callable[[int], None] | None]:
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
    with click.progressbar(length=total, label="parsing", file=sys.stderr) as bar:
        yield bar.update


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so that nothing more fails writing to a closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
