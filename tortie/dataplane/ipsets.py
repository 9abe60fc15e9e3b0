"""Keeping the kernel's ipsets equal to the rendered ones (dataplane.md §8), through
one ``ipset restore`` batch per apply."""

from __future__ import annotations

from dataclasses import dataclass, field

from .commands import CommandError, Runner
from .render import IPSetSpec

OWNED = ("cali4", "cali6")


@dataclass
class CurrentSet:
    type: str
    family: int
    maxelem: int
    members: set[str] | frozenset[str] = field(default_factory=set)


def parse_save(text: str) -> dict[str, CurrentSet]:
    """Our sets from ``ipset save``."""
    sets: dict[str, CurrentSet] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or not words[1].startswith(OWNED):
            continue
        if words[0] == "create":
            options = dict(zip(words[3::2], words[4::2], strict=False))
            sets[words[1]] = CurrentSet(words[2], 6 if options.get("family") == "inet6" else 4,
                                        int(options.get("maxelem", 0)))
        elif words[0] == "add" and words[1] in sets:
            sets[words[1]].members.add(words[2])
    return sets


def _create(name: str, spec: IPSetSpec, maxelem: int) -> str:
    family = "inet6" if spec.family == 6 else "inet"
    return f"create {name} {spec.type} family {family} maxelem {maxelem}"


@dataclass
class SetPlan:
    before: str  # batch to run before the iptables write (create, fill, swap)
    after: str  # batch to run after it (destroy what is no longer referenced)
    desired: dict[str, CurrentSet] = field(default_factory=dict)  # what the kernel holds afterwards


def plan(desired: dict[str, IPSetSpec], current: dict[str, CurrentSet], maxelem: int) -> SetPlan:
    before: list[str] = []
    after: list[str] = []
    temp = 0
    for name, spec in sorted(desired.items()):
        have = current.get(name)
        if have is None:
            before.append(_create(name, spec, maxelem))
            before += [f"add {name} {m} -exist" for m in sorted(spec.members)]
        elif (have.type, have.family, have.maxelem) != (spec.type, spec.family, maxelem):
            # Fill a temporary set, swap it in, destroy the old one: no moment without the set.
            temp_name = f"cali{spec.family}t{temp}"
            temp += 1
            before.append(_create(temp_name, spec, maxelem))
            before += [f"add {temp_name} {m} -exist" for m in sorted(spec.members)]
            before += [f"swap {temp_name} {name}", f"destroy {temp_name}"]
        elif have.members is not spec.members:  # the same frozenset as last written: nothing to do
            before += [f"add {name} {m} -exist" for m in sorted(spec.members - have.members)]
            before += [f"del {name} {m} -exist" for m in sorted(have.members - spec.members)]
    after += [f"destroy {name}" for name in sorted(current) if name not in desired]
    return SetPlan("\n".join(before + [""]) if before else "", "\n".join(after + [""]) if after else "")


class IPSetSync:
    """Plans and writes sets, remembering what it wrote (like TableSync)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._known: dict[str, CurrentSet] | None = None

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

    def written(self, result: SetPlan) -> None:
        """Both batches of ``result`` went through: the kernel now holds what it wanted."""
        self._known = result.desired
