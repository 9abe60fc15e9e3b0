"""audit: what enforcing would block, from recorded flows (flow logs and kernel LOG lines)."""

from __future__ import annotations

import json
import time
from functools import partial
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import click

from ..audit import (NONE, Cluster, End, Flow, FlowSummary, Judgement, PolicyHit, Report, Window, denial_hit,
                     explain_record, flow_of_record, read_flows, record_time)
from ..calc import Entity
from ..core import Verdict
from ..logs import LogRecord
from .context import Fail
from .logs import cluster_of, discard_stdout, read_inputs, reason

FILES = click.argument("files", nargs=-1, metavar="[FILE|-]...")
_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TYPES = {"WorkloadEndpoint": "wep", "HostEndpoint": "hep", "NetworkSet": "ns", "GlobalNetworkSet": "ns"}


def window_options(command: Callable[..., None]) -> Callable[..., None]:
    """--since, --until, --year and -c: the window of recorded flows, and where the datastore is."""
    for option in reversed([
        click.option("--since", help="Start of the window: RFC 3339, UNIX seconds, or a duration before now (2h)."),
        click.option("--until", help="End of the window, as --since."),
        click.option("--year", type=click.IntRange(1970, 9999),
                     help="The year of syslog times, which print none (default: this year)."),
        click.option("-c", "--config", "client_config", help="Client config file (default: /etc/tortie/tortie.cfg)."),
    ]):
        command = option(command)
    return command


def output_options(command: Callable[..., None]) -> Callable[..., None]:
    """-o and --top: how a report is written."""
    command = click.option("--top", type=click.IntRange(1), default=10, show_default=True,
                           help="Groups per table.")(command)
    return click.option("-o", "--output", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table",
                        show_default=True,
                        help="A table for the terminal, JSON, CSV, or one self-contained HTML file.")(command)


@click.group(short_help="Audit recorded flows against the policies.")
def audit() -> None:
    """What enforcing the policies (and the staged ones) would block or newly allow, from
    recorded flows: Calico Enterprise flow logs (flows.log) and kernel LOG lines."""


def when(text: str | None, now: float, option: str) -> float | None:
    """`--since`/`--until`: RFC 3339, UNIX seconds, or a duration before now (90s, 15m, 2h, 7d)."""
    if text is None:
        return None
    if text[:-1].isdigit() and text[-1:] in _DURATION:
        return now - int(text[:-1]) * _DURATION[text[-1]]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Fail(f"{option}: {text!r} is not RFC 3339, UNIX seconds or a duration like 2h") from None
    return (found if found.tzinfo else found.replace(tzinfo=UTC)).timestamp()


def window_of(since: str | None, until: str | None, now: float) -> Window:
    """The window --since and --until give; one that ends before it starts is refused
    (Fail), since it would hold no flow and the report would pass for a quiet one."""
    window = Window(when(since, now, "--since"), when(until, now, "--until"))
    if window.since is not None and window.until is not None and window.since > window.until:
        raise Fail(f"--since {since} is after --until {until}: the window holds no time")
    return window


def openable(files: tuple[str, ...], command: str) -> None:
    """Fail (Fail) for the first input file that cannot be opened, before any is read."""
    for name in files:
        try:
            if name != "-":
                open(name, "rb").close()
        except OSError as exc:
            raise Fail(f"{command}: {name}: {reason(exc)}") from None


def kernel_flows(cluster: Cluster | None, node: str | None, year: int,
                 summary: FlowSummary) -> Callable[[LogRecord], Flow | None]:
    """How a kernel line becomes a flow: its time (lines without a wall-clock time are
    counted and left out), and with a `cluster` the replay's ends (by workload name, as flow
    logs name them), its denial, and the pending verdict when policies are staged."""
    def flow(record: LogRecord) -> Flow | None:
        at = record_time(record, year)
        if at is None:
            summary.untimed += 1
            return None
        if cluster is None:
            return flow_of_record(record, at, node=node)
        explanation = explain_record(cluster, record, node or record.host or NONE)
        judged = explanation.judgement
        hit = denial_hit(judged) if judged is not None and judged.verdict is Verdict.DENY else None
        ends = (_end(explanation.source, record.src_canonical, record.spt),
                _end(explanation.destination, record.dst_canonical, record.dpt))
        return flow_of_record(record, at, hit, ends, _pending_hit(explanation.pending, judged), node)
    return flow


def _pending_hit(pending: Judgement | None, judged: Judgement | None) -> PolicyHit | None:
    """The pending trace entry of a replayed line: its pending denial; for a pending allow,
    the enforced denial, allowed (as replay.denial_hit names it); None without one."""
    if pending is None or judged is None:
        return None
    if pending.verdict is Verdict.DENY:
        return denial_hit(pending)
    return denial_hit(judged, Verdict.ALLOW) if judged.verdict is Verdict.DENY else None


def _end(entity: Entity | None, ip: str | None, port: int | None) -> End:
    if entity is None:
        return End(ip, port, type="net")
    return End(ip, port, entity.workload or entity.name, entity.namespace or NONE, _TYPES.get(entity.kind, NONE))


def gather(ctx: click.Context, files: tuple[str, ...], kernel: Callable[[LogRecord], Flow | None],
           summary: FlowSummary, command: str) -> Iterator[Flow]:
    """The flows of every input. An input file that cannot be opened fails the command before
    any is read (Fail), and one that fails while read marks the run failed (read_inputs):
    the caller then writes no answer, since one over some of the inputs would pass for one
    over all of them."""
    openable(files, command)
    return read_inputs(ctx, files, command, partial(read_flows, summary=summary, kernel=kernel), "reading")


@audit.command("report", short_help="What enforcing would block, and newly allow.")
@FILES
@click.option("--resources", "resource_files", multiple=True, metavar="FILE",
              help="Replay kernel LOG lines against these resources to name their policy, endpoints and "
                   "pending verdict.")
@click.option("--replay", is_flag=True, help="Replay kernel LOG lines against the datastore's resources.")
@click.option("--node", help="The node that logged kernel lines (default: each line's host).")
@window_options
@output_options
@click.pass_context
def report(ctx: click.Context, files: tuple[str, ...], since: str | None, until: str | None,
           resource_files: tuple[str, ...], replay: bool, node: str | None, year: int | None, fmt: str, top: int,
           client_config: str | None) -> None:
    """Report what enforcing would block over the flows in FILEs (- or none: standard
    input): Calico Enterprise flow log records (one JSON object a line) and kernel LOG
    lines, in any mix. A flow would be blocked when the policies with the staged ones
    promoted deny it (its pending policies) or, under dropActionOverride Accept or
    LogAndAccept, when it was denied and let through. The flows a staged policy would allow
    that are denied now are listed too. Groups: policy, source and destination workload
    and namespace, port; with counts, first and last seen, and an example each.

    Resources that do not validate are skipped and named on standard error.

    Exit status: 0 when every input was read, 1 when one or a --resources file could not
    be (then nothing is written on standard output).
    """
    now = time.time()
    window = window_of(since, until, now)
    cluster = cluster_of(ctx, resource_files, client_config, "audit report") if resource_files or replay else None
    if cluster is not None:
        for problem in cluster.problems:
            click.echo(f"audit report: {problem}", err=True)
    summary = FlowSummary()
    kernel = kernel_flows(cluster, node, year or datetime.now(UTC).year, summary)
    result = Report(window).add_all(gather(ctx, files, kernel, summary, "audit report"))
    if ctx.meta.get("failed"):
        ctx.exit(1)
    show(result, fmt, top, "tortie audit report")
    click.echo(f"audit report: {summary}", err=True)


def show(result: Report, fmt: str, top: int, title: str) -> None:
    """Write `result` to standard output as `fmt` (table, json, csv, html)."""
    from ..audit import render_html, report_json, to_csv, to_table

    if fmt == "json":
        text = json.dumps(report_json(result), indent=2) + "\n"
    elif fmt == "csv":
        text = to_csv(result)
    elif fmt == "html":
        text = render_html(result, title)
    else:
        text = to_table(result, top) + "\n"
    try:
        click.echo(text, nl=False)
    except BrokenPipeError:
        discard_stdout()


@audit.command("replay", short_help="Replay recorded flows against changed or staged policies.")
@FILES
@click.option("--with", "with_files", multiple=True, metavar="FILE",
              help="Resources to add or replace (YAML or JSON, as for tortie apply; staged policies count as "
                   "promoted). Repeatable.")
@click.option("--without", "without", multiple=True, metavar="NAME",
              help="A policy to remove: NAME (GlobalNetworkPolicy) or NAMESPACE/NAME (NetworkPolicy), the name "
                   "also as flow logs write it, after its tier (TIER.NAME). Repeatable.")
@click.option("--resources", "resource_files", multiple=True, metavar="FILE",
              help="The current resources (as calicoctl get -o yaml writes them) instead of the datastore's.")
@window_options
@output_options
@click.pass_context
def replay(ctx: click.Context, files: tuple[str, ...], with_files: tuple[str, ...], without: tuple[str, ...],
           resource_files: tuple[str, ...], since: str | None, until: str | None, year: int | None, fmt: str,
           top: int, client_config: str | None) -> None:
    """Replay the flows in FILEs (flow log records and kernel LOG lines, - or none:
    standard input) against the current policies and against them changed by --with and
    --without (without either: by promoting the staged policies), and list every flow
    whose verdict changes, grouped as the report groups them: newly denied flows under
    the policy that denies them after the change, newly allowed ones under the policy
    that denied them before.

    Exit status: 0 when every input was read, 1 when one or a --resources file could not
    be, a --with file does not load whole (cannot be read, holds no resources, or one that
    does not validate), a --without names no policy, or there is no change to replay; then
    nothing is written on standard output.
    """
    from ..audit import ReplayCounts, ResourceFileError, changed, from_files, promoted, without_staged
    from ..audit import replay_flows as changed_flows

    now = time.time()
    window = window_of(since, until, now)
    openable(files, "audit replay")  # a missing input is the first thing to say, not the change
    before = cluster_of(ctx, resource_files, client_config, "audit replay")
    if with_files or without:
        # the change alone: the staged policies of the files promoted, not those of the current set
        try:  # a what-if over part of its change would pass for one over all of it
            added = from_files(with_files, strict=True)
        except ResourceFileError as exc:
            raise Fail(f"audit replay: --with {exc}") from None
        resources, unknown = changed(without_staged(before.resources), added, without)
        if unknown:
            raise Fail(f"audit replay: --without {unknown[0]}: no such policy")
        after = Cluster(promoted(resources))
    elif before.pending is not before:
        after = before.pending
    else:
        raise Fail("audit replay: no policy is staged: stage one with tortie apply, or give --with FILE "
                         "or --without NAME")
    for problem in after.problems:
        click.echo(f"audit replay: {problem}", err=True)
    summary, counts = FlowSummary(), ReplayCounts()
    kernel = kernel_flows(before, None, year or datetime.now(UTC).year, summary)  # the ends named
    outside = 0

    def in_window(flows: Iterator[Flow]) -> Iterator[Flow]:
        nonlocal outside
        for flow in flows:
            if window.holds(flow):
                yield flow
            else:
                outside += flow.count

    flows = in_window(gather(ctx, files, kernel, summary, "audit replay"))
    result = Report(window).add_all(changed_flows(before, after, flows, counts))
    result.read, result.outside = counts.read + outside, outside  # every flow read, not only the changed ones
    if ctx.meta.get("failed"):
        ctx.exit(1)
    show(result, fmt, top, "tortie audit replay")
    click.echo(f"audit replay: {summary}; {counts}", err=True)

