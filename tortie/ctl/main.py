"""The ``tortie`` command line (cli.md): calicoctl v3.32's resource commands, and more.

As calicoctl (calicoctl/calicoctl/calicoctl.go): ``-h`` prints help and exits 0; a
command's bad flags or arguments print that command's usage and exit 1; a bad option
before the command gets ``Invalid option: '<args>'...``; an unknown command gets
``unknown command`` and the usage.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from .. import CALICOCTL_VERSION
from .context import Context, Fail, compatible

LOG_LEVELS = ("debug", "info", "warn", "error", "fatal", "panic")
# Options of the top-level command that may also follow the subcommand (cli.md §1).
GLOBAL_OPTIONS = {"--datastore": "--datastore", "-l": "--log-level", "--log-level": "--log-level"}
# The verbs calicoctl has: their usage mistakes are answered in calicoctl's words.
CALICOCTL_COMMANDS = frozenset({"create", "apply", "replace", "delete", "get", "label", "patch", "validate", "version"})
# Command name -> the module of tortie.ctl that defines it. A module is imported only when its
# command runs (or help lists them all): a `get` never pays for the agent, the lab or prometheus_client.
LAZY_COMMANDS = {"create": "write", "apply": "write", "replace": "write", "delete": "write", "validate": "write",
                 "get": "get", "label": "label", "patch": "patch", "config": "config", "explain": "explain",
                 "agent": "agent", "lab": "lab", "store": "store", "logs": "logs", "audit": "audit",
                 "recommend": "recommend", "promote": "promote"}


class LazyGroup(click.Group):
    """A group whose commands in ``LAZY_COMMANDS`` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        command = getattr(importlib.import_module(f".{LAZY_COMMANDS[cmd_name]}", __package__), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--datastore", metavar="URL", envvar=None,
              help="sqlite://PATH or etcd://HOST:PORT (default: $TORTIE_DATASTORE, "
                   "then sqlite:///var/lib/tortie/tortie.db).")
@click.option("-l", "--log-level", type=click.Choice(LOG_LEVELS), default="panic",
              help="Log level of the client's own messages (stderr).")
@click.option("--context", "kube_context", hidden=True, help="Kubernetes context (ignored).")
@click.option("--allow-version-mismatch", is_flag=True, help="Accepted for calicoctl compatibility.")
@click.pass_context
def cli(ctx: click.Context, /, datastore: str | None, log_level: str, **_: Any) -> None:
    """tortie: Calico policy, with audit mode, for every node.

    Resource commands work like calicoctl's: the same YAML, flags, messages and exit codes.
    """
    level = {"warn": "WARNING", "fatal": "CRITICAL", "panic": "CRITICAL"}.get(log_level, log_level.upper())
    logging.basicConfig(level=level, stream=sys.stderr)
    ctx.obj = Context(datastore=datastore)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.option("--client", "client_only", is_flag=True, help="Show the client version only.")
@click.option("--poll", help="Accepted for calicoctl compatibility.")
@click.option("-c", "--config", help="Accepted for calicoctl compatibility.")
@compatible
def version(**_: Any) -> None:
    """Print the version, and the calicoctl version whose behaviour tortie follows."""
    from .. import __version__  # read on first use (tortie/__init__.py)
    click.echo(f"Client Version:    {__version__}")
    click.echo(f"calicoctl Version: {CALICOCTL_VERSION}")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options that follow the subcommand to the front, where click wants them."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg == "--":
            rest += args[i:]
            break
        if name in GLOBAL_OPTIONS and (eq or i + 1 < len(args)):
            front += [GLOBAL_OPTIONS[name], value if eq else args[i + 1]]
            i += 1 if eq else 2
            continue
        rest.append(arg)
        i += 1
    return front + rest


def _command_word(args: list[str]) -> str | None:
    """The first word after the global options."""
    i = 0
    while i < len(args):
        if args[i] in ("--datastore", "--log-level", "--context"):
            i += 2
        elif args[i].startswith("-"):
            i += 1
        else:
            return args[i]
    return None


# Options whose value is a path: a file name is any bytes, as in Go (os.Open), so it may
# be outside UTF-8; every other argument names something stored or shown and must be text.
PATH_OPTIONS = frozenset({"-f", "--filename", "-c", "--config", "--config-file", "--resources", "--with"})
# Commands whose positional arguments are files (or, for `lab exec`, a command line).
PATH_POSITIONALS = frozenset({"logs", "audit", "recommend"})


def _not_text(args: list[str], word: str | None) -> str | None:
    """The first argument that is not UTF-8 text and is not a path, if any. Python hands such
    bytes over as lone surrogates (PEP 383), which no store, name or output can take."""
    value_options = _value_options(args, word)
    after_command = False
    takes: str | None = None  # what the option before this argument takes: "path" or "value"
    for arg in args:
        name, eq, _ = arg.partition("=")
        if takes == "path":
            text = True
        elif takes == "value":
            text = _is_text(arg)
        else:
            text = (_is_text(arg) or (name in PATH_OPTIONS and bool(eq)) or name[:2] in PATH_OPTIONS
                    or (after_command and word in PATH_POSITIONALS and not arg.startswith("-")))
        if not text:
            return arg
        if takes is not None or eq:
            takes = None
        else:
            takes = "path" if arg in PATH_OPTIONS else "value" if arg in value_options else None
        after_command = after_command or arg == word
        if word == "lab" and after_command and arg == "exec":
            return None  # lab exec NAME COMMAND...: the command's own bytes
    return None


def _value_options(args: list[str], word: str | None) -> frozenset[str]:
    """The options that take a value in the command (and subcommand) ``word`` of ``args``:
    their values are not the positional files of PATH_POSITIONALS."""
    if word not in PATH_POSITIONALS:
        return frozenset()
    ctx = click.Context(cli, info_name="tortie")
    command = cli.get_command(ctx, word)
    rest = args[args.index(word) + 1:]
    options: set[str] = set()
    while command is not None:
        options |= {opt for param in command.params if isinstance(param, click.Option) and not param.is_flag
                    for opt in param.opts}
        sub = next((arg for arg in rest if not arg.startswith("-")), None)
        command = command.get_command(ctx, sub) if isinstance(command, click.Group) and sub else None
    return frozenset(options)


def _printable(arg: str) -> str:
    """``arg`` with any byte outside UTF-8 shown as ``\\xNN``."""
    return arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_text(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _usage() -> str:
    return cli.get_help(click.Context(cli, info_name="tortie", **cli.context_settings))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    hoisted = hoist_global_options(args)
    word = _command_word(hoisted)
    bad = _not_text(hoisted, word)
    if bad is not None:
        click.echo(f"invalid argument '{_printable(bad)}': not UTF-8 text", err=True)
        return 1
    if word is None and not {"-h", "--help"} & set(hoisted):
        click.echo(_usage())
        return 1
    if word is not None and word not in cli.list_commands(click.Context(cli, info_name="tortie")):
        click.echo(f'unknown command: "{word}"')
        click.echo(_usage())
        return 1
    try:
        # Without standalone mode click returns, not raises, the status a command gives ctx.exit().
        status = cli.main(hoisted, prog_name="tortie", standalone_mode=False)
    except Fail as exc:
        click.echo(str(exc), err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        if isinstance(exc, click.BadParameter) and word not in CALICOCTL_COMMANDS:
            # tortie's own commands: the option, its value, what is wrong; an error, so on stderr
            click.echo(exc.format_message(), err=True)
            return 1
        if exc.ctx is not None and exc.ctx.command is not cli:
            # calicoctl prints the command's usage (docopt), then its own words for the mistake.
            click.echo(exc.ctx.get_usage())
            click.echo(f"invalid option: 'tortie {_printable(' '.join(args))}'. Use flag '--help' to read about a "
                       "specific subcommand")
        else:
            click.echo(f"Invalid option: '{_printable(' '.join(args))}'. Use flag '--help' to read about a specific "
                       "subcommand.")
        return 1
    except click.Abort:
        return 1
    return status if isinstance(status, int) else 0
