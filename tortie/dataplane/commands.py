"""Running the kernel's tools: iptables save/restore, ipset, ip. Optionally inside a
named network namespace (``ip netns exec``), which is how tests and the lab use them."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


class CommandError(RuntimeError):
    pass


@dataclass(frozen=True)
class Runner:
    netns: str | None = None  # run inside this named network namespace
    timeout: float = 30.0

    def run(self, args: list[str], input: str | None = None) -> str:
        argv = (["ip", "netns", "exec", self.netns] if self.netns else []) + args
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CommandError(f"{args[0]}: {exc}") from None
        if proc.returncode != 0:
            detail = " ".join((proc.stderr or proc.stdout).split())[:500]
            raise CommandError(f"{' '.join(args[:3])} failed ({proc.returncode}): {detail}")
        return proc.stdout


@dataclass(frozen=True)
class Iptables:
    """The save/restore binaries of one backend (dataplane.md §9.4)."""

    runner: Runner
    backend: str = "nft"  # nft or legacy; never both in one namespace

    def _binary(self, family: int, verb: str) -> str:
        return f"{'ip6tables' if family == 6 else 'iptables'}-{self.backend}-{verb}"

    def save(self, family: int, table: str) -> str:
        return self.runner.run([self._binary(family, "save"), "-t", table])

    def restore(self, family: int, text: str) -> None:
        args = [self._binary(family, "restore"), "--noflush"]
        if self.backend == "legacy":
            args += ["--wait", "10"]
        self.runner.run(args, input=text)
