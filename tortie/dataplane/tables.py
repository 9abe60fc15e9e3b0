"""Keeping the kernel's tables equal to the rendered ones (dataplane.md §9).

Read back with ``*-save``, compare rule ids (never rule text: save reorders fragments),
and write the difference as one ``*-restore --noflush`` batch per table and family.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import AbstractSet, Mapping

from ..core import paused_gc
from ..render import HOOKS, OWNED_PREFIX, Chain, Rule, Table
from .commands import CommandError, Iptables, TableRefused, Unencodable, restore_error
from .encode import EncodeError
from .encode import chain as chain_token
from .encode import rule_ids, rule_text

_ID = re.compile(r'--comment "?cali:([A-Za-z0-9_-]{16})"?')


@dataclass
class Current:
    """What one table holds now: every chain, per chain its rule ids (None for a rule without
    one), and for kernel chains also each rule's spec (to delete ours by full text)."""

    chains: set[str] = field(default_factory=set)
    ids: dict[str, list[str | None]] = field(default_factory=dict)
    rules: dict[str, list[tuple[str | None, str]]] = field(default_factory=dict)


def parse_save(text: str) -> Current:
    current = Current()
    for line in text.splitlines():
        if line.startswith(":"):
            name = line[1:].split()[0]
            current.chains.add(name)
            current.rules.setdefault(name, [])
        elif line.startswith("-A "):
            _, chain, spec = line.split(" ", 2)
            m = _ID.search(spec)
            current.rules.setdefault(chain, []).append((m.group(1) if m else None, spec))
    current.ids = {chain: [i for i, _ in rules] for chain, rules in current.rules.items()}
    return current


def _with_ids(chain: str, rules: tuple[Rule, ...]) -> list[tuple[str, str]]:
    """(id, rule line) of each rule, as written to iptables-restore."""
    name = chain_token(chain)
    bodies = [rule_text(r) for r in rules]
    ids = rule_ids(name, [f"-A {name} {body}" for body in bodies])
    head = f"-A {name} -m comment --comment \"cali:"
    return [(i, f'{head}{i}" {body}') for i, body in zip(ids, bodies, strict=True)]


def _encoded(desired: Table, chain: str, rules: tuple[Rule, ...], memo: IdMemo) -> list[tuple[str, str]]:
    """``memo(chain, rules)``, an EncodeError raised as Unencodable naming ``chain``: one
    value no rule may hold is the fault of whatever owns that chain, not of the table."""
    try:
        return memo(chain, rules)
    except EncodeError as exc:
        raise Unencodable(desired.family, desired.name, (chain,), str(exc)) from None


class IdMemo:
    """Rule ids and lines of each chain's last rules, made again only when its rules change.
    The same id list object is handed out while the rules are the same, so comparing
    against what was written last is an identity check."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[tuple[Rule, ...], list[tuple[str, str]], list[str | None]]] = {}

    def _get(self, chain: str, rules: tuple[Rule, ...]) -> tuple[tuple[Rule, ...], list[tuple[str, str]],
                                                                   list[str | None]]:
        hit = self._memo.get(chain)
        if hit is None or (hit[0] is not rules and hit[0] != rules):
            lines = _with_ids(chain, rules)
            hit = (rules, lines, [i for i, _ in lines])
            self._memo[chain] = hit
        return hit

    def __call__(self, chain: str, rules: tuple[Rule, ...]) -> list[tuple[str, str]]:
        return self._get(chain, rules)[1]

    def ids(self, chain: str, rules: tuple[Rule, ...]) -> list[str | None]:
        return self._get(chain, rules)[2]


@dataclass
class Plan:
    batch: str  # empty when nothing needs writing
    rewritten: list[str]  # owned chains written whole
    removed: list[str]  # owned chains deleted
    hooks: list[str]  # kernel chains whose tortie rules were re-done


def _minimal_edits(chain: str, have: list[str | None], wanted: list[tuple[str, str]]) -> list[str]:
    """Legacy backend: replace differing rules in place, delete surplus ones, append new ones."""
    edits = []
    for n, (rule_id, line) in enumerate(wanted[:len(have)], 1):
        if have[n - 1] != rule_id:
            edits.append(line.replace(f"-A {chain} ", f"-R {chain} {n} ", 1))
    edits += [f"-D {chain} {len(wanted) + 1}"] * max(0, len(have) - len(wanted))
    edits += [line for _, line in wanted[len(have):]]
    return edits


def plan(desired: Table, current: Current, insert: bool, memo: IdMemo | None = None,
         minimal: bool = False, written: Mapping[str, Chain] | None = None,
         keep: AbstractSet[str] = frozenset()) -> Plan:
    """The restore batch that turns ``current`` into ``desired``: whole-chain rewrites for the
    nft backend, minimal in-place edits for legacy (``minimal``). ``written``: the chains last
    written, when ``current`` is what writing them left (not read back): the same Chain
    object there needs no look at all. ``keep``: owned chains no longer wanted that are
    emptied but not deleted (a rule tortie does not own refers to them). Raises Unencodable
    naming the chain whose rules hold a value that cannot be written."""
    memo = memo or IdMemo()
    declares: list[str] = []
    rules: list[str] = []
    rewritten = []
    written = written or {}
    for name, value in sorted(desired.chains.items()):
        if written.get(name) is value:
            continue
        lines = _encoded(desired, name, value.rules, memo)
        wanted = memo.ids(name, value.rules)
        have = current.ids.get(name)
        if name in current.chains and (have is wanted or have == wanted):
            continue
        if minimal and name in current.chains:
            rules += _minimal_edits(name, have or [], lines)
        else:
            declares.append(f":{name} - [0:0]")  # declaring an existing chain flushes it; name checked above
            rules += [line for _, line in lines]
        rewritten.append(name)
    hooks = []
    for kernel in sorted(HOOKS[desired.name]):
        wanted_lines = _encoded(desired, kernel, desired.hooks.get(kernel, ()), memo)
        have_rules = current.rules.get(kernel, [])
        ours = [(i, spec) for i, spec in have_rules if i is not None]
        ids = [i for i, _ in have_rules]
        expected = [i for i, _ in wanted_lines]
        run = ids[:len(expected)] if insert else ids[len(ids) - len(expected):]
        if run == expected and len(ours) == len(expected):
            continue
        hooks.append(kernel)
        rules += [f"-D {kernel} {spec}" for _, spec in ours]
        if insert:
            rules += [line.replace(f"-A {kernel} ", f"-I {kernel} 1 ", 1) for _, line in reversed(wanted_lines)]
        else:
            rules += [line for _, line in wanted_lines]
    unwanted = sorted(c for c in current.chains if c.startswith(OWNED_PREFIX) and c not in desired.chains)
    removed = [c for c in unwanted if c not in keep]
    declares += [f":{c} - [0:0]" for c in unwanted if c not in keep or current.ids.get(c)]
    tail = [f"-X {c}" for c in removed]
    if not (declares or rules or tail):
        return Plan("", [], [], [])
    batch = "\n".join([f"*{desired.name}"] + declares + rules + tail + ["COMMIT", ""])
    return Plan(batch, rewritten, removed, hooks)


def after(desired: Table, current: Current, insert: bool, memo: IdMemo | None = None,
          written: Mapping[str, Chain] | None = None, keep: AbstractSet[str] = frozenset()) -> Current:
    """What a table holds once ``plan(desired, current, written=written, keep=keep)`` has been written."""
    memo = memo or IdMemo()
    written = written or {}
    state = Current(set(current.chains) | set(desired.chains))
    for name, rules in current.rules.items():
        if not name.startswith(OWNED_PREFIX):
            foreign: list[tuple[str | None, str]] = [(i, spec) for i, spec in rules if i is None]
            ours: list[tuple[str | None, str]] = [(i, line.split(" ", 2)[2])
                                                  for i, line in memo(name, desired.hooks.get(name, ()))]
            state.rules[name] = ours + foreign if insert else foreign + ours
            state.ids[name] = [i for i, _ in state.rules[name]]
    for name, chain in desired.chains.items():
        state.ids[name] = current.ids[name] if written.get(name) is chain else memo.ids(name, chain.rules)
    unwanted = {c for c in current.chains if c.startswith(OWNED_PREFIX) and c not in desired.chains}
    state.chains -= unwanted - set(keep)
    for name in unwanted & set(keep):
        state.ids[name], state.rules[name] = [], []
    return state


class TableSync:
    """Plans and writes tables, remembering what it wrote so that it reads the kernel back
    only when asked (periodic refresh, post-write check) or after a failure."""

    def __init__(self, iptables: Iptables, insert: bool = True) -> None:
        self.iptables = iptables
        self.insert = insert
        self._known: dict[tuple[int, str], Current] = {}
        self._written: dict[tuple[int, str], dict[str, Chain]] = {}  # the chains behind ``_known``
        self._ids: dict[tuple[int, str], IdMemo] = {}
        # Owned chains that could not be deleted (a rule tortie does not own jumps to them),
        # kept empty; tried again whenever the table is read back.
        self.stuck: dict[tuple[int, str], frozenset[str]] = {}

    def read(self, family: int, table: str) -> Current:
        text = self.iptables.save(family, table)
        with paused_gc():
            return parse_save(text)

    def apply(self, desired: Table, read_back: bool = True, trial: bool = False) -> Plan:
        """Write what turns the table into ``desired``. Raises TableRefused (nothing of that
        batch written) when the restore fails, and Unencodable (see ``plan``). ``trial``: the
        write is a try to find what the kernel refuses (counted apart, see ``Iptables.restore``)."""
        key = (desired.family, desired.name)
        current = self._known.get(key) if not read_back else None
        written = self._written.get(key) if current is not None else None
        if current is None:
            current = self.read(*key)
        ids = self._ids.setdefault(key, IdMemo())
        self._known.pop(key, None)
        keep = self.stuck.get(key, frozenset()) if not read_back else frozenset()
        minimal = self.iptables.backend == "legacy"
        with paused_gc():  # lines and ids: acyclic, and the heap holds a cluster's worth of objects
            result = plan(desired, current, self.insert, ids, minimal, written, keep)
        try:
            if result.batch:
                self.iptables.restore(desired.family, desired.name, result.batch, trial=trial)
        except CommandError as exc:
            if not result.removed:
                raise TableRefused(*key, tuple(result.rewritten), restore_error(str(exc))) from None
            # One chain that cannot go (something else still jumps to it) must not keep the
            # rest of the table from converging: write it all but the deletions, then try
            # each deletion on its own.
            keep = frozenset(keep | set(result.removed))
            with paused_gc():
                result = plan(desired, current, self.insert, ids, minimal, written, keep)
            try:
                if result.batch:
                    self.iptables.restore(desired.family, desired.name, result.batch, trial=trial)
            except CommandError as again:
                raise TableRefused(*key, tuple(result.rewritten), restore_error(str(again))) from None
            keep = frozenset(c for c in keep if not self._delete(desired.family, desired.name, c))
        with paused_gc():
            self._known[key] = after(desired, current, self.insert, ids, written, keep)
        self._written[key] = desired.chains
        self.stuck[key] = frozenset(c for c in keep if c not in desired.chains)
        return result

    def check(self, desired: Table) -> None:
        """Would the restore that turns the kernel's table into ``desired`` be taken? Read back,
        then ``--test``: only what iptables-restore itself checks, not what the kernel does on
        commit; nothing is written or remembered, and no chain is deleted. Raises TableRefused."""
        key = (desired.family, desired.name)
        current = self.read(*key)
        keep = frozenset(c for c in current.chains if c.startswith(OWNED_PREFIX))
        with paused_gc():
            result = plan(desired, current, self.insert, self._ids.setdefault(key, IdMemo()),
                          self.iptables.backend == "legacy", keep=keep)
        try:
            if result.batch:
                self.iptables.restore(desired.family, desired.name, result.batch, test=True)
        except CommandError as exc:
            raise TableRefused(*key, tuple(result.rewritten), restore_error(str(exc))) from None

    def _delete(self, family: int, table: str, chain: str) -> bool:
        """Delete one emptied owned chain; False when the kernel refuses."""
        try:
            self.iptables.restore(family, table, f"*{table}\n-X {chain_token(chain)}\nCOMMIT\n")
        except CommandError:
            return False
        return True

    def remove_all(self, family: int, table: str) -> Plan:
        """Delete every tortie chain and hook rule of a table (``agent --cleanup``)."""
        return self.apply(Table(family, table))
