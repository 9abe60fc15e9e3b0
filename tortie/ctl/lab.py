"""lab: virtual nodes and workloads in network namespaces, to see tortie work on one machine."""

from __future__ import annotations

import ipaddress
import itertools
import os
import subprocess
import sys
from pathlib import Path

import click

from ..calc import Calculator
from ..config import config_for_node
from ..core import BY_NAME, ICMP, ICMPV6, Verdict
from ..datastore import Listing, ResourceClient
from ..lab import LabError, LabSpec, LabState, agent_status, down, namespace_of, probe, up, wait
from ..model import Packet, evaluate_path, pending_plans, store_plans
from ..store import StoreError, open_store, resolve_datastore
from .context import Fail, context
from .explain import find_workload
from .output import serialise

TORTIE = str(Path(sys.executable).with_name("tortie"))


def _unseen(listing: Listing, nodes: list[str]) -> list[str]:
    """The stored values the model cannot read, whose earlier version an agent may still enforce."""
    unseen = [str(invalid) for invalid in listing.invalid]
    for node in nodes:
        calc = Calculator(node)
        calc.load(listing.items)
        unseen += [p for p in calc.problems() if " is ignored, " in p and p not in unseen]
    return unseen


def _state() -> LabState:
    state = LabState.load()
    if state is None:
        raise Fail("No lab is running: start one with 'tortie lab up -f LAB.yaml'")
    return state


@click.group(short_help="Virtual nodes and workloads on this machine.")
def lab() -> None:
    """Build a lab of virtual nodes and workloads in network namespaces, each node with its
    own agent, and send real traffic through it."""


@lab.command("up")
@click.option("-f", "--filename", required=True, help="LAB.yaml: nodes and workloads.")
@click.option("--etcd", is_flag=True, help="Run a private etcd for the lab and use it as the datastore.")
@click.pass_context
def lab_up(ctx: click.Context, filename: str, etcd: bool) -> None:
    """Create the lab: one namespace per node, joined by a fabric, and one per workload. Write
    the WorkloadEndpoints, the nodes' HostEndpoints and the namespace profiles, start one
    agent per node and wait until every agent is ready.

    The datastore is --datastore (or $TORTIE_DATASTORE, ...), or with --etcd a private etcd
    that 'tortie lab down' removes; print it with 'tortie lab datastore'.
    """
    datastore = context(ctx).datastore
    if etcd and datastore:
        raise click.UsageError("--etcd and --datastore exclude each other")
    try:
        spec = LabSpec.load(filename)
        up(spec, None if etcd else resolve_datastore(datastore), TORTIE, progress=click.echo, etcd=etcd)
    except (LabError, StoreError) as exc:
        raise Fail(f"Failed to start the lab: {exc}") from None
    click.echo(f"Lab up: {len(spec.nodes)} nodes, {len(spec.workloads)} workloads")


@lab.command("datastore")
def lab_datastore() -> None:
    """Print the lab's datastore URL (for --datastore or TORTIE_DATASTORE)."""
    click.echo(_state().datastore)


@lab.command("down")
def lab_down() -> None:
    """Stop the lab's agents and remove every namespace and file it created."""
    down(progress=click.echo)


@lab.command("wait")
@click.option("--timeout", type=float, default=60, show_default=True, help="Seconds to wait.")
def lab_wait(timeout: float) -> None:
    """Block until every lab agent has applied the datastore's current revision."""
    try:
        wait(_state(), timeout, progress=click.echo)
    except (LabError, StoreError) as exc:
        raise Fail(str(exc)) from None


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lab_exec(name: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside the network namespace of workload or node NAME."""
    try:
        netns = namespace_of(_state(), name)
    except LabError as exc:
        raise Fail(str(exc)) from None
    os.execvp("ip", ["ip", "netns", "exec", netns, *command])


_sports = itertools.count(30000 + os.getpid() % 20000)


@lab.command("probe")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO[:PORT][/TCP|UDP|ICMP]")
@click.option("-6", "ipv6", is_flag=True, help="Use the workloads' IPv6 addresses.")
@click.option("--src", "forged", metavar="ADDRESS",
              help="Send from this source address instead of FROM's own (one UDP datagram on a raw socket, "
                   "TO:PORT/UDP): what anti-spoofing does with it.")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def lab_probe(ctx: click.Context, source: str, target: str, ipv6: bool, forged: str | None, fmt: str) -> None:
    """Send real traffic from workload FROM to workload TO and compare with the model.

    Prints ALLOWED or DENIED (what the kernel did), the model's answer, the pending answer
    (the model's with every staged policy promoted), and the kernel log lines the probe
    caused. Exits 0 when kernel and model agree, 3 when they do not; then it also names the
    stored values the model cannot read, whose last good version the agent may still enforce,
    and what the agents on the way leave out because the kernel refused it.
    """
    state = _state()
    name, _, proto = target.partition("/")
    name, _, port_text = name.partition(":")
    proto = (proto or ("TCP" if port_text else "ICMP")).upper()
    if proto not in ("TCP", "UDP", "ICMP") or (proto != "ICMP" and not port_text.isdigit()):
        raise click.BadParameter("expected TO:PORT/TCP, TO:PORT/UDP or TO/ICMP", param_hint="TO")
    if forged is not None:
        try:
            forged = str(ipaddress.ip_address(forged))
        except ValueError:
            raise click.BadParameter(f"{forged!r} is not an IP address", param_hint="--src") from None
        if proto != "UDP":
            raise click.BadParameter("a forged source is sent as UDP: give TO:PORT/UDP", param_hint="--src")
        if ipv6 and ":" not in forged:
            raise click.BadParameter(f"{forged} is not an IPv6 address, and -6 is given", param_hint="--src")
    for who in (source, name):
        if who not in state.workloads:
            raise Fail(f"no workload called {who!r} in the lab")
    src_w, dst_w = state.workloads[source], state.workloads[name]
    family = 6 if ipv6 or (forged is not None and ":" in forged) else 4
    src = forged or next((a for a in src_w["addresses"] if (":" in a) == (family == 6)), None)
    dst = next((a for a in dst_w["addresses"] if (":" in a) == (family == 6)), None)
    if src is None or dst is None:
        raise Fail(f"both workloads need an IPv{family} address")
    sport = next(_sports)
    number = (ICMPV6 if family == 6 else ICMP).number if proto == "ICMP" else BY_NAME[proto].number
    packet_port = int(port_text) if port_text else None
    nodes = sorted({src_w["node"], dst_w["node"]})
    try:
        with open_store(state.datastore) as store:
            client = ResourceClient(store)
            listing = client.snapshot()
            configs = {node: config_for_node(client, node) for node in nodes}
    except StoreError as exc:
        raise Fail(f"Failed to read the datastore: {exc}") from None
    sender = find_workload(listing, f"{src_w['namespace']}/{source}") if forged else None
    settings = {node: configs[node].typed for node in nodes}  # each node on the way decides with its own plan
    packet = Packet(src, dst, number, sport if proto != "ICMP" else None, packet_port,
                    8 if number == 1 else 128 if number == 58 else None, 0 if number in (1, 58) else None,
                    "new", None, None)
    model = evaluate_path(store_plans(listing.items, settings), packet, sender)
    pending = evaluate_path(pending_plans(listing.items, settings), packet, sender)
    try:
        kernel = probe(src_w["netns"], src, dst_w["netns"], dst, "udp-forged" if forged else proto.lower(), sport,
                       port_text if proto != "ICMP" else f"{packet.icmp_type}/0")
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # e.g. the lab's namespaces are gone
        raise Fail(f"Failed to probe: {' '.join(str(exc).split())}") from None
    kernel_word = "allowed" if kernel.arrived else "denied"
    model_word = "allowed" if model.action == "accept" else "denied"
    pending_word = "allowed" if pending.action == "accept" else "denied"
    agree = kernel_word == model_word
    unseen = [] if agree else _unseen(listing, nodes)
    excluded = [] if agree else [text for node in nodes for text in
                                 agent_status(state.nodes[node]["netns"]).get("excluded", [])]
    if fmt == "json":
        click.echo(serialise({"kernel": kernel_word, "model": model_word, "agree": agree, "logs": kernel.logs,
                              "pending": pending_word, "pendingDeniedBy": pending.denied_by,
                              "deniedBy": model.denied_by, "logPrefixes": model.log_prefixes,
                              "hops": [{"node": h.node, "verdict": str(h.result.verdict),
                                        "action": str(h.result.action), "cause": h.result.cause,
                                        "deniedBy": h.result.denied_by} for h in model.hops],
                              **({"unseen": unseen} if unseen else {}),
                              **({"excluded": excluded} if excluded else {})}, "json"), nl=False)
    else:
        detail = ", ".join(f"{h.node}: {h.result.verdict}" + (
            f" ({h.result.cause})" if h.result.verdict is Verdict.DENY and not h.result.denied_by else "")
            for h in model.hops)
        detail += f"; denied by {model.denied_by}" if model.denied_by else ""
        detail += f"; pending: {pending_word}" + (f", denied by {pending.denied_by}" if pending.denied_by else "")
        sender_text = f"{source} (as {forged})" if forged else source
        click.echo(f"{kernel_word.upper()}  {sender_text} -> {name} {proto}{':' + port_text if port_text else ''}"
                   f"  (model: {model_word}; {detail}){'' if agree else '  KERNEL AND MODEL DISAGREE'}")
        for line in kernel.logs:
            click.echo(f"  kernel: {line}")
        if unseen:
            click.echo("  the model reads the store as it is; the agent may still enforce the last good version of:")
            for text in unseen:
                click.echo(f"    {text}")
        if excluded:
            click.echo("  the agents leave out what the kernel refused:")
            for text in excluded:
                click.echo(f"    {text}")
    ctx.exit(0 if agree else 3)
