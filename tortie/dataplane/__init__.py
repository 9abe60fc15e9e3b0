"""The kernel side: calc's NodeView rendered to iptables chains and ipsets, and kept in
sync with the kernel (read back, diff, one restore per table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..calc import NodeView
from ..config import EffectiveConfig
from .commands import CommandError, Iptables, Runner
from .ipsets import IPSetSync, SetPlan
from .names import chain_name, ipset_name, policy_id, rule_ids
from .render import FAMILIES, TABLES, IPSetSpec, RenderCache, Rendered, Table, render
from .tables import Plan, TableSync

__all__ = [
    "CommandError", "Dataplane", "IPSetSpec", "Iptables", "Plan", "RenderCache", "Rendered", "Runner", "Table",
    "TableSync",
    "chain_name", "ipset_name", "policy_id", "render", "rule_ids",
]


@dataclass
class ApplyResult:
    sets: SetPlan
    plans: dict[tuple[int, str], Plan] = field(default_factory=dict)

    @property
    def wrote(self) -> bool:
        return bool(self.sets.before or self.sets.after) or any(p.batch for p in self.plans.values())


class Dataplane:
    """Programs one network namespace (the one the runner runs commands in)."""

    def __init__(self, runner: Runner, backend: str = "nft", insert: bool = True) -> None:
        self.runner = runner
        self.tables = TableSync(Iptables(runner, backend), insert)
        self.sets = IPSetSync(runner)

    def apply(self, rendered: Rendered, maxelem: int, read_back: bool = True) -> ApplyResult:
        """Sets first (rules may use them), then every table, then destroy unused sets.

        Without ``read_back`` the diff is against what this object last wrote; the periodic
        refresh reads the kernel back, which also repairs anything changed behind our back.
        """
        set_plan = self.sets.plan(rendered.ipsets, maxelem, read_back)
        self.sets.run(set_plan.before)
        result = ApplyResult(set_plan)
        for family in FAMILIES:
            for table in TABLES:
                desired = rendered.tables.get((family, table), Table(family, table))
                result.plans[(family, table)] = self.tables.apply(desired, read_back)
        self.sets.run(set_plan.after)
        self.sets.written(set_plan)
        return result

    def program(self, view: NodeView, config: EffectiveConfig, interfaces: dict[str, set[str]] | None = None,
                read_back: bool = True) -> ApplyResult:
        return self.apply(render(view, config, interfaces), config["maxIpsetSize"], read_back)

    def cleanup(self) -> ApplyResult:
        """Remove every chain, hook rule and set tortie owns in this namespace."""
        return self.apply(Rendered({}, {}), 1)
