"""Real traffic between namespaces, and what the kernel logged about it."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time
from dataclasses import dataclass

from ..core import SCTP
from ..dataplane import KmsgReader, log_prefix

AGENT = [sys.executable, "-m", "tortie.lab.probe_agent"]


@dataclass
class ProbeResult:
    arrived: bool
    logs: list[str]  # kernel LOG lines this probe caused, in order

    @property
    def prefixes(self) -> list[str]:
        return [p for p in (log_prefix(line) for line in self.logs) if p is not None]


def _in(netns: str, args: list[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *args]


def _log_address(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return ip.exploded if ip.version == 6 else str(ip)


def _established(node_ns: str, src: str, dst: str, sport: int, dport: int) -> None:
    """Tell the node's conntrack that this TCP connection is already established."""
    subprocess.run(_in(node_ns, ["conntrack", "-I", "-p", "tcp", "-s", src, "-d", dst, "--sport", str(sport),
                                 "--dport", str(dport), "--state", "ESTABLISHED", "-u", "SEEN_REPLY,ASSURED",
                                 "--timeout", "60"]), check=True, capture_output=True, timeout=10)


def probe(src_ns: str, src: str, dst_ns: str, dst: str, proto: str, sport: int, target: str,
          timeout: float = 0.8, state: str = "new", node_ns: str | None = None) -> ProbeResult:
    """Send one probe: ``proto`` tcp, udp, udplite, sctp, icmp, or udp-forged (from ``src`` though
    ``src_ns`` need not own it); ``target`` the port, or ``TYPE[/CODE]`` for
    ICMP (then ``sport`` is the echo id). A TCP probe in ``state`` established is one segment
    of a connection entered into ``node_ns``'s conntrack first; in state invalid, a segment
    conntrack rejects. Returns whether it arrived and its LOG lines."""
    listen_target = target.split("/")[0]
    if proto == "tcp" and state == "established":
        if node_ns is None:
            raise ValueError("an established probe needs the node's namespace")
        _established(node_ns, src, dst, sport, int(target))
        proto = "tcp-segment"
    elif proto == "tcp" and state == "invalid":
        proto = "tcp-invalid"
    elif state != "new":
        raise ValueError(f"cannot probe {proto} in state {state}")
    listen_proto = "udp" if proto == "udp-forged" else proto
    with KmsgReader() as kmsg:
        listener = subprocess.Popen(_in(dst_ns, AGENT + ["listen", listen_proto, dst, listen_target, str(timeout + 1),
                                                         src]),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert listener.stdout is not None
            ready = listener.stdout.readline().strip()
            if ready != "READY":
                detail = listener.stderr.read() if listener.stderr else ""
                raise RuntimeError(f"probe listener in {dst_ns} failed: {detail}")
            sent = subprocess.run(_in(src_ns, AGENT + ["send", proto, src, str(sport), dst, target, str(timeout)]),
                                  capture_output=True, timeout=timeout + 10)
            # A TCP connection that was not made was not accepted either: no need to wait for
            # the listener's deadline. Anything else may still be on its way.
            grace = 0.2 if proto == "tcp" and sent.returncode != 0 else timeout + 2
            try:
                out, _ = listener.communicate(timeout=grace)
            except subprocess.TimeoutExpired:
                listener.kill()
                out, _ = listener.communicate()
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.communicate()
        time.sleep(0.05)  # let the last LOG lines reach the ring
        needle = f"SRC={_log_address(src)} DST={_log_address(dst)} "
        # The kernel log names ICMP probes by their echo id and has no ports for SCTP.
        mine = f"ID={sport} " if proto == "icmp" else f"PROTO={SCTP.log} " if proto == "sctp" else f"SPT={sport} "
        logs = [line for line in kmsg.read() if needle in line and mine in line and log_prefix(line) is not None]
    return ProbeResult("ARRIVED" in out, logs)
