"""Keeping workload interfaces' IPv4 ``rp_filter`` sysctls as rendered (Felix's
endpoint_mgr.go configureInterface): strict, or off where the endpoint allows spoofed
source prefixes. Read and written in the network namespace the runner runs commands in."""

from __future__ import annotations

from typing import Mapping

from ..render import RpFilter
from .commands import Runner
from .encode import rp_filter_setting

_HEAD, _TAIL = "net.ipv4.conf.", ".rp_filter"


def parse_rp_filter(text: str) -> dict[str, str]:
    """Interface -> rp_filter value from ``sysctl -a`` lines (``net.ipv4.conf.IF.rp_filter = V``,
    a dot in IF printed as a slash)."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" = ")
        if key.startswith(_HEAD) and key.endswith(_TAIL):
            out[key[len(_HEAD):-len(_TAIL)].replace("/", ".")] = value.strip()
    return out


class SysctlSync:
    """Writes the values that differ from the kernel's (read back) or from what it last
    wrote (otherwise), like TableSync and IPSetSync."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._known: dict[str, str] | None = None

    def read(self) -> dict[str, str]:
        return parse_rp_filter(self.runner.run(["sysctl", "-e", "-r", r"^net\.ipv4\.conf\..*\.rp_filter$", "-a"]))

    def apply(self, desired: Mapping[str, RpFilter], read_back: bool = True) -> bool:
        """Make each interface's rp_filter its ``desired`` value with one ``sysctl -w``; an
        interface gone meanwhile is skipped (``-e``). True when something was written.
        Raises CommandError when sysctl fails and EncodeError for a name that cannot be written."""
        current = self._known if self._known is not None and not read_back else self.read()
        self._known = None  # unknown until the write succeeds
        todo = sorted((iface, value.value) for iface, value in desired.items() if current.get(iface) != value.value)
        if todo:
            self.runner.stats["sysctl", "", 4] += 1
            self.runner.run(["sysctl", "-q", "-e", "-w", *(rp_filter_setting(iface, value) for iface, value in todo)])
        self._known = {**current, **{iface: value.value for iface, value in desired.items()}}
        return bool(todo)
