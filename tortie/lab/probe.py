"""Real traffic between namespaces, and what the kernel logged about it."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time
from dataclasses import dataclass

from ..dataplane.kmsg import KmsgReader, log_prefix

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


def probe(src_ns: str, src: str, dst_ns: str, dst: str, proto: str, sport: int, target: str,
          timeout: float = 0.8) -> ProbeResult:
    """Send one probe: ``proto`` tcp, udp or icmp; ``target`` the port, or ``TYPE[/CODE]`` for
    ICMP (then ``sport`` is the echo id). Returns whether it arrived and its LOG lines."""
    listen_target = target.split("/")[0]
    with KmsgReader() as kmsg:
        listener = subprocess.Popen(_in(dst_ns, AGENT + ["listen", proto, dst, listen_target, str(timeout + 1), src]),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert listener.stdout is not None
            ready = listener.stdout.readline().strip()
            if ready != "READY":
                raise RuntimeError(f"probe listener in {dst_ns} failed: {listener.stderr.read() if listener.stderr else ''}")
            subprocess.run(_in(src_ns, AGENT + ["send", proto, src, str(sport), dst, target, str(timeout)]),
                           capture_output=True, timeout=timeout + 10)
            try:
                out, _ = listener.communicate(timeout=timeout + 2)
            except subprocess.TimeoutExpired:
                listener.kill()
                out, _ = listener.communicate()
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.communicate()
        time.sleep(0.05)  # let the last LOG lines reach the ring
        needle = f"SRC={_log_address(src)} DST={_log_address(dst)} "
        mine = f"SPT={sport} " if proto != "icmp" else f"ID={sport} "
        logs = [line for line in kmsg.read() if needle in line and mine in line and log_prefix(line) is not None]
    return ProbeResult("ARRIVED" in out, logs)
