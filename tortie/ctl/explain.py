"""explain: what happens to one packet on one node, and why."""

from __future__ import annotations

import ipaddress
from typing import Any

import click

from ..calc import BadInput, Calculator, Entity, entity_from_doc
from ..config import ConfigFileError, config_for_node, node_name
from ..core import ICMP, ICMPV6, PORT_PROTOCOLS, DropActionOverride, KernelAction, Verdict, parse_protocol, protocol
from ..model import Packet, Result, pending_plans, plan_for
from ..model import explain as model_explain
from ..resources import ResourceError, WorkloadEndpoint
from ..datastore import Listing, has_staged
from ..store import StoreError
from .context import Fail, context
from .output import serialise


def parse_endpoint(text: str, what: str) -> tuple[str, int | None]:
    """``IP``, ``IPv4:PORT`` or ``[IPv6]:PORT``."""
    address, port = text, None
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif text.count(":") == 1:
        address, port = text.split(":")
    try:
        address = str(ipaddress.ip_address(address))
        number = int(port) if port is not None else None
    except ValueError:
        raise click.BadParameter(f"{text!r} is not IP, IPv4:PORT or [IPv6]:PORT", param_hint=what) from None
    if number is not None and not 0 <= number <= 65535:
        raise click.BadParameter(f"port {number} is not 0-65535", param_hint=what)
    return address, number


def node_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--node``: given, it names a node (empty would silently mean the host's name)."""
    if value is not None and not value:
        raise click.BadParameter("a node name cannot be empty", param_hint="--node")
    return value


@click.command(short_help="Explain what happens to a packet on a node.")
@click.option("--node", callback=node_option,
              help="Node name (default: $NODENAME, $FELIX_FELIXHOSTNAME, then the host name).")
@click.option("--src", help="Source IP[:PORT] ([IPv6]:PORT); with --from-workload, its address by default.")
@click.option("--dst", required=True, help="Destination IP[:PORT].")
@click.option("--proto", required=True, help="TCP, UDP, ICMP, ICMPv6 or a protocol number.")
@click.option("--icmp-type", type=click.IntRange(0, 255), help="ICMP type.")
@click.option("--icmp-code", type=click.IntRange(0, 255), help="ICMP code.")
@click.option("--established", is_flag=True, help="The packet belongs to an established connection.")
@click.option("--from-workload", "workload", metavar="[NAMESPACE/]NAME",
              help="The packet comes from this workload endpoint (its name or its pod's; namespace default), "
                   "arriving on its interface: a --src that is not its own meets anti-spoofing.")
@click.option("--in-interface", "in_iface", callback=lambda _c, _p, v: interface_name(v), metavar="IFACE",
              help="The interface the packet arrives on (default: its source's).")
@click.option("--external-iface", default="eth0", show_default=True,
              callback=lambda _c, _p, v: interface_name(v, "--external-iface"),
              help="Interface that addresses outside this node's endpoints are reached through.")
@click.option("--config-file", help="Agent config file (default: /etc/tortie/felix.cfg).")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-c", "--config", "client_config", help="Client config file (default: /etc/tortie/tortie.cfg).")
@click.pass_context
def explain(ctx: click.Context, node: str | None, src: str | None, dst: str, proto: str, icmp_type: int | None,
            icmp_code: int | None, established: bool, workload: str | None, in_iface: str | None, external_iface: str,
            config_file: str | None, fmt: str, client_config: str | None) -> None:
    """Show the verdict the policies give a packet on NODE, what the kernel does with it
    after dropActionOverride, the log lines and metrics it produces, and every tier,
    policy and rule considered on the way; then the pending verdict, which the policies
    would give with every staged policy promoted.

    An address that belongs to no endpoint is outside the cluster. A packet arriving on a
    workload's interface (--from-workload, --in-interface) meets anti-spoofing first: a
    source that is none of the workload's addresses is dropped unless its endpoint's
    allowSpoofedSourcePrefixes cover it.
    """
    if workload and in_iface:
        raise click.BadParameter("it names the interface already: leave out --in-interface",
                                 param_hint="--from-workload")
    if src is None and not workload:
        raise click.MissingParameter("Give it, or --from-workload.", param_hint="'--src'", param_type="option")
    dst_ip, dport = parse_endpoint(dst, "--dst")
    src_ip, sport = parse_endpoint(src, "--src") if src is not None else ("", None)
    try:
        number = parse_protocol(proto).number
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--proto") from None
    if src_ip and ipaddress.ip_address(src_ip).version != ipaddress.ip_address(dst_ip).version:
        raise Fail("Failed to execute command: --src and --dst are of different IP versions")
    check_packet(number, ipaddress.ip_address(dst_ip).version, sport, dport, icmp_type, icmp_code)
    try:
        client = context(ctx).client(client_config)
        listing = client.snapshot()
        sender = find_workload(listing, workload) if workload else None
        if sender is not None:
            name, in_iface = sender_node(sender, node), sender.interface
            src_ip = src_ip or own_address(sender, ipaddress.ip_address(dst_ip).version)
        else:
            name = node_name(node)
        config = config_for_node(client, name, config_file)
    except (ConfigFileError, ResourceError, StoreError) as exc:
        raise Fail(f"Failed to execute command: {exc}") from None
    calc = Calculator(name)
    calc.load(listing.items)
    plan = plan_for(calc.view(), config.typed, external_iface)
    state = "established" if established else "new"
    packet, result = model_explain(plan, src_ip, dst_ip, number, sport, dport, icmp_type, icmp_code, state,
                                   external_iface, in_iface)
    pending_plan = pending_plans(listing.items, {name: config.typed}, external_iface)[name]
    _, pending = model_explain(pending_plan, src_ip, dst_ip, number, sport, dport, icmp_type, icmp_code, state,
                               external_iface, in_iface)
    notes = calc.problems() + tuple(f"{invalid}; ignored" for invalid in listing.invalid) + plan.warnings
    override = config.typed.drop_action_override
    if fmt == "json":
        click.echo(serialise({**result.as_json(), "pending": pending_json(pending), "node": name,
                              "src": packet.src, "inInterface": packet.in_iface, "outInterface": packet.out_iface,
                              "problems": list(notes)}, "json"), nl=False)
    else:
        click.echo(story(name, packet, result, override, notes))
        click.echo(pending_story(pending, override, has_staged(listing.items)))


def interface_name(text: str | None, option: str = "--in-interface") -> str | None:
    """An interface option: a name the kernel can give an interface (1-15 characters, none of
    them ``/``, ``:`` or white space, and not ``.`` or ``..``: Linux's dev_valid_name)."""
    if text is not None and (not 0 < len(text) < 16 or text in (".", "..")
                             or any(c in "/:" or c.isspace() for c in text)):
        raise click.BadParameter(f"{text!r} is not an interface name", param_hint=option)
    return text


def check_packet(number: int, family: int, sport: int | None, dport: int | None, icmp_type: int | None,
                 icmp_code: int | None) -> None:
    """Refuse a packet no kernel sees: ports on a protocol without ports, an ICMP type or code
    on another protocol (or a code without its type), ICMP in IPv6 or ICMPv6 in IPv4.
    Raises click.BadParameter naming the option."""
    name = protocol(number).display
    if number not in PORT_PROTOCOLS:
        for option, port in (("--src", sport), ("--dst", dport)):
            if port is not None:
                raise click.BadParameter(f"{name} has no ports: give the address alone", param_hint=option)
    icmp = {ICMP.number: 4, ICMPV6.number: 6}.get(number)
    if icmp is None:
        for option, value in (("--icmp-type", icmp_type), ("--icmp-code", icmp_code)):
            if value is not None:
                raise click.BadParameter(f"{name} is not ICMP or ICMPv6", param_hint=option)
    elif icmp != family:
        raise click.BadParameter(f"{name} is for IPv{icmp}; the addresses are IPv{family}", param_hint="--proto")
    if icmp_code is not None and icmp_type is None:
        raise click.BadParameter("a code needs its --icmp-type", param_hint="--icmp-code")


def find_workload(listing: Listing, ref: str) -> Entity:
    """The WorkloadEndpoint ``[NAMESPACE/]NAME`` names (namespace ``default`` when none is
    given, as calicoctl's): the one of that name, else the one of that pod (or workload).
    Raises Fail when there is none, several, or the one found is not valid or has no
    interface."""
    namespace, _, name = ref.rpartition("/")
    namespace = namespace or "default"
    named, of_pod = [], []
    for item in listing.items:
        if item.kind is not WorkloadEndpoint or item.namespace != namespace:
            continue
        try:
            entity = entity_from_doc("WorkloadEndpoint", item.name, namespace, item.doc)
        except BadInput as exc:
            if item.name == name:
                raise Fail(f"Failed to execute command: workload endpoint {namespace}/{name} is not valid: "
                           f"{exc}") from None
            continue
        if entity.name == name:
            named.append(entity)
        elif entity.workload == name:
            of_pod.append(entity)
    found = named or of_pod
    if not found:
        raise Fail(f"Failed to execute command: no workload endpoint in namespace {namespace} is called {name} "
                   "or is of a pod called so")
    if len(found) > 1:
        raise Fail(f"Failed to execute command: pod {namespace}/{name} has several workload endpoints: "
                   f"{', '.join(e.name for e in found)}; name one")
    if not found[0].interface:
        raise Fail(f"Failed to execute command: workload endpoint {namespace}/{found[0].name} has no interfaceName")
    return found[0]


def sender_node(sender: Entity, node: str | None) -> str:
    """The node a packet from workload ``sender`` is explained on: its own; --node, when
    given, must name it."""
    if node is not None and node != sender.node:
        raise Fail(f"Failed to execute command: workload endpoint {sender.namespace}/{sender.name} is on node "
                   f"{sender.node}, not {node}")
    return sender.node or ""


def own_address(sender: Entity, family: int) -> str:
    """The first address of workload ``sender`` in IP ``family``, as --src defaults to it."""
    address = next((net.network_address for net in sender.addresses if net.version == family), None)
    if address is None:
        raise Fail(f"Failed to execute command: workload endpoint {sender.namespace}/{sender.name} has no "
                   f"IPv{family} address: give --src")
    return str(address)


def pending_json(pending: Result) -> dict[str, Any]:
    """The ``pending`` object of ``explain -o json``."""
    return {"verdict": str(pending.verdict) if pending.decided else None, "action": str(pending.action),
            "deniedBy": pending.denied_by, "trace": pending.trace}


def _where(packet: Packet) -> str:
    if packet.hook == "input":
        return f"arriving on {packet.in_iface} for the host itself"
    if packet.hook == "output":
        return f"sent by the host out of {packet.out_iface}"
    return f"forwarded from {packet.in_iface} to {packet.out_iface}"


def _trace(result: Result) -> list[str]:
    lines = []
    for n, step in enumerate(result.trace, 1):
        outcome = f": {step['outcome']}" if step["outcome"] != "none" or step["events"] else ""
        lines.append(f"{n}. {step['step']}{outcome}")
        lines += [f"     {event}" for event in step["events"]]
    return lines


def _verdict(result: Result, override: DropActionOverride, would: str = "") -> list[str]:
    """The verdict's lines; ``would`` makes them conditional ("would ")."""
    if not result.decided:
        lines = ["none from tortie; the host's own rules decide."]
    elif result.verdict is Verdict.ALLOW:
        lines = [f"allow. The kernel {would or ''}{'accept' if would else 'accepts'} the packet."]
    else:
        verb = ("accept" if would else "accepts") if result.action is KernelAction.ACCEPT else (
            "drop" if would else "drops")
        lines = [f"deny ({result.cause}). The kernel {would}{verb} it, whatever dropActionOverride says."
                 if override.accepts and result.action is KernelAction.DROP else
                 f"deny ({result.cause}). With dropActionOverride {override} the kernel {would}{verb} it."]
    if result.denied_by:
        lines.append(f"Denied by: {result.denied_by}")
    return lines


def story(node: str, packet: Packet, result: Result, override: DropActionOverride, problems: tuple[str, ...]) -> str:
    proto = protocol(packet.protocol).display
    src = f"{packet.src}:{packet.sport}" if packet.sport is not None else packet.src
    dst = f"{packet.dst}:{packet.dport}" if packet.dport is not None else packet.dst
    lines = [f"{proto} {src} -> {dst} ({packet.state}) on node {node}, {_where(packet)}.", ""]
    lines += _trace(result)
    lines.append("")
    verdict = _verdict(result, override)
    lines += [f"Verdict: {verdict[0]}", *verdict[1:]]
    lines += [f"Kernel log: {line}" for line in result.log_lines]
    lines += [f'Metric: calico_denied_packets{{policy="{label}",srcIP="{packet.src}"}} += 1'
              for label in result.metric_policies]
    lines += [f"Note: {p}" for p in problems]
    return "\n".join(lines)


def pending_story(pending: Result, override: DropActionOverride, staged: bool) -> str:
    """The pending verdict: with no staged policy it is the enforced one, said in one line."""
    if not staged:
        return "Pending verdict: the same (there are no staged policies)."
    verdict = _verdict(pending, override, "would ")
    return "\n".join(["", "With the staged policies promoted:", "", *_trace(pending), "",
                      f"Pending verdict: {verdict[0]}", *verdict[1:]])
