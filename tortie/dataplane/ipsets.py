"""Keeping the kernel's ipsets equal to the rendered ones (dataplane.md §8), through
one ``ipset restore`` batch per apply."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..render import IPSetSpec
from .commands import CommandError, Runner
from .encode import create_set, set_member, set_name

OWNED = ("cali4", "cali6")
_TEMP = re.compile(r"cali[46]t[0-9]+")


class SetsRefused(CommandError):
    """Sets the kernel refused when each was written on its own: kernel set name -> the error."""

    def __init__(self, refused: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {error}" for name, error in sorted(refused.items())))
        self.refused = refused


@dataclass
class CurrentSet:
    type: str
    family: int
    maxelem: int
    members: set[str] | frozenset[str] = field(default_factory=set)


def parse_save(text: str) -> dict[str, CurrentSet]:
    """Our sets from ``ipset save``."""
    sets: dict[str, CurrentSet] = {}
    members: dict[str, set[str]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or not words[1].startswith(OWNED):
            continue
        if words[0] == "create":
            options = dict(zip(words[3::2], words[4::2], strict=False))
            members[words[1]] = set()
            sets[words[1]] = CurrentSet(words[2], 6 if options.get("family") == "inet6" else 4,
                                        int(options.get("maxelem", 0)), members[words[1]])
        elif words[0] == "add" and words[1] in sets:
            members[words[1]].add(words[2])
    return sets


def _create(name: str, spec: IPSetSpec, maxelem: int) -> str:
    return create_set(name, spec.type, spec.family, maxelem)


def _members(verb: str, name: str, members: frozenset[str] | set[str]) -> list[str]:
    return [set_member(verb, name, m) for m in sorted(members)]


@dataclass
class SetPlan:
    before: str  # batch to run before the iptables write (create, fill, swap)
    after: str  # batch to run after it (destroy what is no longer referenced)
    desired: dict[str, CurrentSet] = field(default_factory=dict)  # what the kernel holds afterwards


def _temporary(name: str) -> bool:
    return bool(_TEMP.fullmatch(name))


def plan(desired: dict[str, IPSetSpec], current: dict[str, CurrentSet], maxelem: int) -> SetPlan:
    """The ``ipset restore`` batches that turn ``current`` into ``desired``. Raises EncodeError
    when a rendered value cannot be written (nothing of the batch is then written)."""
    # A batch that failed half-way may have left a temporary set: creating it again would fail.
    before: list[str] = [f"destroy {name}" for name in sorted(current) if _temporary(name)]
    after: list[str] = []
    temp = 0
    for name, spec in sorted(desired.items()):
        have = current.get(name)
        if have is None:
            before.append(_create(name, spec, maxelem))
            before += _members("add", name, spec.members)
        elif (have.type, have.family, have.maxelem) != (spec.type, spec.family, maxelem):
            # Fill a temporary set, swap it in, destroy the old one: no moment without the set.
            temp_name = f"cali{spec.family}t{temp}"
            temp += 1
            before.append(_create(temp_name, spec, maxelem))
            before += _members("add", temp_name, spec.members)
            before += [f"swap {temp_name} {set_name(name)}", f"destroy {temp_name}"]
        elif have.members is not spec.members:  # the same frozenset as last written: nothing to do
            before += _members("add", name, spec.members - have.members)
            before += _members("del", name, have.members - spec.members)
    after += [f"destroy {set_name(name)}" for name in sorted(current) if name not in desired and not _temporary(name)]
    return SetPlan("\n".join(before + [""]) if before else "", "\n".join(after + [""]) if after else "")


class IPSetSync:
    """Plans and writes sets, remembering what it wrote (like TableSync)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._known: dict[str, CurrentSet] | None = None
        self.stuck: frozenset[str] = frozenset()  # sets no longer used that the kernel would not destroy

    def read(self) -> dict[str, CurrentSet]:
        return parse_save(self.runner.run(["ipset", "save"]))

    def plan(self, desired: dict[str, IPSetSpec], maxelem: int, read_back: bool = True) -> SetPlan:
        current = self._known if self._known is not None and not read_back else self.read()
        self._known = None  # unknown until the writes succeed
        result = plan(desired, current, maxelem)
        result.desired = {name: CurrentSet(s.type, s.family, maxelem, s.members) for name, s in desired.items()}
        return result

    def run(self, batch: str) -> None:
        if batch:
            self.runner.stats["ipset_restore", "", 0] += 1
            try:
                self.runner.run(["ipset", "restore"], input=batch)
            except CommandError:
                self.runner.stats["ipset_restore_error", "", 0] += 1
                raise

    def isolate(self, desired: dict[str, IPSetSpec], maxelem: int) -> dict[str, str]:
        """After a batch failed: write each set of ``desired`` on its own, from what the kernel
        holds now, so that one set the kernel refuses keeps none of the others from it.
        Returns the refused sets' names -> the error."""
        current = self.read()
        self._known = None
        refused = {}
        for name, spec in sorted(desired.items()):
            batch = plan({name: spec}, {n: have for n, have in current.items() if n == name or _temporary(n)},
                         maxelem).before
            try:
                self.run(batch)
                current = {n: have for n, have in current.items() if not _temporary(n)}  # the batch destroyed them
            except CommandError as exc:
                refused[name] = str(exc)
                current = self.read()  # what the failed batch left
        return refused

    def destroy(self, batch: str) -> None:
        """Run ``batch`` (a SetPlan's ``after``: destroy lines); when it fails, destroy each set
        on its own. A set the kernel will not destroy (a rule tortie does not own uses it)
        stays, named in ``stuck``, and is tried again at the next read-back."""
        self.stuck = frozenset()
        try:
            self.run(batch)
            return
        except CommandError:
            pass
        stuck = set()
        for line in batch.splitlines():
            try:
                self.run(line + "\n")
            except CommandError:
                stuck.add(line.split()[1])
        self.stuck = frozenset(stuck)

    def written(self, result: SetPlan) -> None:
        """Both batches of ``result`` went through: the kernel now holds what it wanted."""
        self._known = result.desired
