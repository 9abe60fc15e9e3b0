"""The kernel side: rendered chains and ipsets kept in sync with the kernel of one network
namespace (read back, diff by rule id, one restore per table, ipset batches), backend
detection, and the commands that do it. Text for the kernel is made in ``encode`` only."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core import FAMILIES
from ..plan import Plan
from ..render import TABLES, Rendered, Table, render
from .backend import detect_backend
from .commands import CommandError, Iptables, Runner, TableRefused, Unencodable
from .encode import EncodeError, match_text, rule_ids, rule_text
from .interfaces import InterfaceWatch, Interfaces, interface_changes, read_interfaces
from .ipsets import IPSetSync, SetPlan, SetsRefused
from .kernel import log_lines_may_be_lost
from .kmsg import KmsgReader, log_prefix
from .sysctls import SysctlSync
from .tables import Plan as TablePlan
from .tables import TableSync

__all__ = [
    "ApplyResult", "CommandError", "Dataplane", "EncodeError", "IPSetSync", "InterfaceWatch", "Interfaces", "Iptables",
    "KmsgReader", "Runner", "SetPlan", "SetsRefused", "SysctlSync", "TablePlan", "TableRefused", "TableSync",
    "Unencodable", "detect_backend",
    "interface_changes", "log_lines_may_be_lost", "log_prefix", "match_text", "read_interfaces", "rule_ids",
    "rule_text",
]


@dataclass
class ApplyResult:
    sets: SetPlan
    plans: dict[tuple[int, str], TablePlan] = field(default_factory=dict)
    sysctls: bool = False  # rp_filter values were written

    @property
    def wrote(self) -> bool:
        return bool(self.sets.before or self.sets.after) or any(p.batch for p in self.plans.values()) or self.sysctls


class Dataplane:
    """Programs one network namespace (the one the runner runs commands in)."""

    def __init__(self, runner: Runner, backend: str = "nft", insert: bool = True) -> None:
        self.runner = runner
        self.tables = TableSync(Iptables(runner, backend), insert)
        self.sets = IPSetSync(runner)
        self.sysctls = SysctlSync(runner)

    def apply(self, rendered: Rendered, maxelem: int, read_back: bool = True, trial: bool = False) -> ApplyResult:
        """Write ``rendered``: sets first (rules may use them), then every table of both
        families (a family or table not rendered is emptied of tortie's rules), then destroy
        sets no longer used, then the workload interfaces' rp_filter sysctls. ``maxelem`` is
        each set's capacity (maxIpsetSize).

        Without ``read_back`` the diff is against what this object last wrote; the periodic
        refresh reads the kernel back, which also repairs anything changed behind our back.
        Raises CommandError when a command fails and EncodeError when a set's or sysctl's
        value cannot be written; either way the rest of that table's batch is not written.
        A chain whose rules hold a value that cannot be written raises Unencodable (a
        TableRefused naming that chain; nothing of its table is run). When the sets' batch
        fails, each set is written on its own: SetsRefused names those the kernel refuses
        (the caller plans again without them), and nothing else is written then. A
        table's refused restore raises TableRefused, naming the chains its batch held (the
        tables before it are written; the caller finds what to leave out, see ``check``).
        ``trial``: the write is a try of that search (its restores are counted apart)."""
        set_plan = self.sets.plan(rendered.ipsets, maxelem, read_back)
        try:
            self.sets.run(set_plan.before)
        except CommandError:
            refused = self.sets.isolate(rendered.ipsets, maxelem)
            if refused:
                raise SetsRefused(refused) from None
        result = ApplyResult(set_plan)
        for family in FAMILIES:
            for table in TABLES:
                desired = rendered.tables.get((family, table), Table(family, table))
                result.plans[(family, table)] = self.tables.apply(desired, read_back, trial)
        self.sets.destroy(set_plan.after)
        self.sets.written(set_plan)
        result.sysctls = self.sysctls.apply(rendered.rp_filter, read_back)
        return result

    def check(self, rendered: Rendered) -> TableRefused | None:
        """The first table whose restore towards ``rendered`` iptables-restore refuses with
        ``--test`` (or that cannot be encoded: Unencodable), or None; nothing is written
        (sets neither: ``rendered`` must use only sets the kernel holds already)."""
        for family in FAMILIES:
            for table in TABLES:
                try:
                    self.tables.check(rendered.tables.get((family, table), Table(family, table)))
                except TableRefused as exc:
                    return exc
        return None

    def program(self, plan: Plan, read_back: bool = True) -> ApplyResult:
        """Render ``plan`` and apply it (tests and tools; the agent keeps a render cache)."""
        return self.apply(render(plan), plan.settings.max_ipset_size, read_back)

    def cleanup(self) -> ApplyResult:
        """Remove every chain, hook rule and set tortie owns in this namespace."""
        return self.apply(Rendered({}, {}), 1)
