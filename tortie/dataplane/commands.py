"""Running the kernel's tools: iptables save/restore, ipset, ip. Optionally inside a
named network namespace (``ip netns exec``), which is how tests and the lab use them."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field


class CommandError(RuntimeError):
    pass


class TableRefused(CommandError):
    """The restore of one table (IP version ``family``, table ``table``) was refused; ``chains``
    are the owned chains its batch wrote, ``error`` what the restore said (see ``restore_error``)."""

    def __init__(self, family: int, table: str, chains: tuple[str, ...], error: str) -> None:
        super().__init__(error)
        self.family, self.table, self.chains, self.error = family, table, chains, error


class Unencodable(TableRefused):
    """A table whose batch could not be made: a value in the rules of ``chains`` (one chain)
    is outside the grammar of its place (``EncodeError``). Nothing was run; like a refused
    restore, the caller finds what to leave out, but need not read the kernel back first."""


# What a failed restore's message holds besides the refusal: the command, the tool's version,
# and line numbers and a usage hint about a batch the user never sees.
_RESTORE_NOISE = re.compile(r"^.*? failed \(\d+\): |\S+ v\d[\d.]* \(\w+\): |\s*Error occurred at line: \d+|"
                            r"\s*Try `\S+ -h' or '\S+ --help' for more information\.")
_RESTORE_LINE = re.compile(r"\bline \d+: ")


def restore_error(text: str) -> str:
    """What a failed restore said, without the rest of its message, each distinct complaint
    once: the same refusal reads the same whatever else its batch held, with or without
    ``--test``, on either backend."""
    parts = (" ".join(_RESTORE_NOISE.sub(" ", part).split()) for part in _RESTORE_LINE.split(text))
    return "; ".join(dict.fromkeys(part for part in parts if part))


@dataclass(frozen=True)
class Runner:
    netns: str | None = None  # run inside this named network namespace
    timeout: float = 30.0
    # (what, table, IP version) -> runs; what: save, restore, restore_error, isolation_try, ipset_restore, ...
    stats: Counter[tuple[str, str, int]] = field(default_factory=Counter, compare=False, hash=False)

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
        self.runner.stats["save", table, family] += 1
        return self.runner.run([self._binary(family, "save"), "-t", table])

    def restore(self, family: int, table: str, text: str, test: bool = False, trial: bool = False) -> None:
        """One ``*-restore --noflush`` of ``text``, a batch for ``table``; with ``test``, only
        parsed and built (``--test``): the kernel's rules stay as they are. A ``trial`` (and
        every ``test``) is a try made to find what the kernel refuses: counted apart from the
        writes towards the plan (stats ``isolation_try``, ``isolation_refused``), so that
        ``restore`` and ``restore_error`` count what Felix's restore calls and errors do."""
        args = [self._binary(family, "restore"), "--noflush"]
        if self.backend == "legacy":
            args += ["--wait", "10"]
        if test:
            args.append("--test")
        trial = trial or test
        self.runner.stats["isolation_try" if trial else "restore", table, family] += 1
        try:
            self.runner.run(args, input=text)
        except CommandError:
            self.runner.stats["isolation_refused" if trial else "restore_error", table, family] += 1
            raise
