"""The node agent: watch the store, recompute with calc, plan, render, program the dataplane.

One loop does everything that touches state, so nothing needs a lock: it reads watch
events, feeds them to calc one at a time, takes the interfaces a netlink thread
publishes, and once per batch plans the node, renders the plan and programs the kernel
(an address that appears is enforced at the next turn). It also runs the periodic
read-back (which repairs tampering), the post-write check, and reconnection when the
store goes away, all without ever removing rules because of an error: tortie fails closed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..calc import Calculator, NodeView, resource_id
from ..config import (DEFAULT_CONFIG_FILE, ChainInsertMode, EffectiveConfig, IptablesBackend, Settings,
                      effective_config, read_config_file)
from ..core import shorten
from ..dataplane import (CommandError, Dataplane, EncodeError, Interfaces, InterfaceWatch, Runner, SetsRefused,
                         TableRefused, Unencodable, detect_backend, interface_changes, log_lines_may_be_lost)
from ..datastore import (PREFIX, InvalidValue, PendingFeed, ResourceClient, StoredKey, StoredResource, decode_stored,
                         parse_key)
from ..plan import LeftOut, LeftOutKind, Plan, PlanCache, build_plan, isolate, part_of
from ..render import Log, RenderCache, Rendered, chain_owners, render
from ..resources import FelixConfiguration
from ..store import CompactedError, Event, EventType, Store, StoreError, open_store
from .health import HealthServer
from .reporting import Reporting

log = logging.getLogger("tortie.agent")
WATCH_POLL = 0.2
RETRY_AFTER_FAILURE = 10.0
WRITE_RETRIES = 10
LIVENESS_SLACK = 30.0
FIRST_INTERFACES = 10.0  # seconds to wait for the first netlink dump before programming fails and is retried


@dataclass
class Status:
    """What the agent reports on its health endpoints (``tortie agent`` status JSON)."""

    ready: bool = False
    store_connected: bool = False
    applied_revision: int = 0  # the store revision the dataplane reflects
    seen_revision: int = 0
    repairs: int = 0
    writes: int = 0
    last_error: str | None = None
    problems: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)  # store key -> why its value is not used
    in_sync: bool = False  # the last programming succeeded: the kernel holds the current plan
    excluded: list[str] = field(default_factory=list)  # what the dataplane leaves out and fails closed, by name
    config_problems: list[str] = field(default_factory=list)
    last_loop: float = field(default_factory=time.monotonic)


class Agent:
    """The agent of node ``node`` on the store at ``datastore`` (a URL: sqlite:// or etcd://),
    programming the network namespace ``runner`` runs commands in. ``config_file`` (default
    /etc/tortie/felix.cfg) is read at start and on SIGHUP; ``env`` (default the process's)
    supplies FELIX_* values; ``store_factory`` opens the datastore URL (tests pass their own).

    ``run()`` loops until SIGTERM or ``stopping`` is set: it watches the store, feeds calc,
    and per batch of events plans, renders and writes the kernel (one iptables-restore per
    table that changed, ipset batches), reads the kernel back every
    ``iptablesRefreshInterval`` seconds and repairs what changed behind its back. Nothing in
    the store stops it or makes it raise: a value that is not valid is reported and its
    last good version stays; a store that goes away is retried while the rules stay; a
    failing command is retried and never leaves fewer rules than the last good state.
    ``status`` and the health endpoints say how it is doing.

    Follows felixconfig.md (configuration and its sources), dataplane.md §9–§10 (syncing and
    kernel facts) and Felix's internal dataplane loop (felix/dataplane/linux/int_dataplane.go).
    """

    def __init__(self, node: str, datastore: str, config_file: str | None = None,
                 env: Mapping[str, str] | None = None, runner: Runner | None = None,
                 store_factory: Callable[[str], Store] = open_store) -> None:
        self.node = node
        self.store_factory = store_factory
        self.datastore = datastore
        self.config_file = config_file or DEFAULT_CONFIG_FILE
        self.env = dict(os.environ if env is None else env)
        self.runner = runner or Runner()
        self.status = Status()
        self.health = HealthServer(self._status_json)
        self.reporting = Reporting(node, self.runner)
        self.stopping = threading.Event()
        self._store: Store | None = None
        self._watch: Any = None
        self._calc = Calculator(node)
        # The pending policy set (staged policies promoted), kept while flow logs are on.
        self._pending: tuple[PendingFeed, Calculator] | None = None
        self._pending_plan_cache = PlanCache()
        self._resync_wanted = False
        self._felix: dict[str, dict[str, Any] | None] = {"default": None, f"node.{node}": None}
        self._file = read_config_file(self.config_file)
        self._config: EffectiveConfig = effective_config(node, None, None, self._file, self.env)
        self._dirty = True
        self._next_refresh = 0.0
        self._post_write_at: float | None = None
        self._retry_at = 0.0
        self._reread_config_file = False
        self._dp: Dataplane | None = None
        self._detected: str | None = None
        self._plan_cache = PlanCache()
        self._render_cache = RenderCache()
        self._netlink: InterfaceWatch | None = None  # follows the interfaces of the namespace the runner programs
        self._interfaces: Interfaces | None = None  # the ones the plan was last built with
        self._interfaces_changed = False
        self._warned_log_lines = False
        self._unused: tuple[str, ...] = ()  # unused parameters already logged
        self._warned: set[str] = set()  # plan warnings and exclusions already logged
        # What the kernel refused (sets, policies, profiles, endpoints) -> why, left out until the
        # next refresh or until it changes; and the part of the view each was refused as.
        self._left_out: dict[LeftOut, str] = {}
        self._refused_as: dict[LeftOut, object | None] = {}
        self._good_view: NodeView | None = None  # the view of the last plan the kernel took

    # --- main loop -------------------------------------------------------------------

    def run(self) -> None:
        """Loop until SIGTERM, SIGINT or ``stopping``; SIGHUP re-reads the config file (signals
        are taken only on the main thread). Leaves the rules in place on the way out."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
            signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
            signal.signal(signal.SIGHUP, lambda *_: self.reread_config_file())
        log.info("agent starting node=%s datastore=%s", self.node, self.datastore)
        try:
            while not self.stopping.is_set():
                self.status.last_loop = time.monotonic()
                self.step()
        finally:
            self.close()
            log.info("agent stopped; rules stay in place")

    def close(self) -> None:
        """Stop the listeners and the NFLOG reader and let go of the store; rules stay."""
        self.health.stop()
        self.reporting.stop()
        if self._netlink is not None:
            self._netlink.close()
            self._netlink = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def reread_config_file(self) -> None:
        """Read the config file again at the next turn of the loop (what SIGHUP does). The
        file is read at start and then only when asked: a FelixConfiguration change does
        not re-read it."""
        self._reread_config_file = True

    def step(self) -> None:
        """One turn of the loop: connect if needed, take events, program if due."""
        if self._reread_config_file:
            self._reread_config_file = False
            self._file = read_config_file(self.config_file)
            self._apply_config("config file re-read (SIGHUP)")
        if self._watch is None and not self._connect():
            if self.status.ready:  # the store's last good state still meets the interfaces as they are now
                self._take_interfaces()
                if self._interfaces_changed and time.monotonic() >= self._retry_at:
                    self._program_guarded("interfaces changed")
            self.stopping.wait(1.0)
            return
        try:
            events = self._watch.next(timeout=WATCH_POLL)
        except CompactedError:
            log.warning("watch history was compacted: resyncing")
            self._watch = None
            self._resync()
            return
        except StoreError as exc:
            self._lost(exc)
            return
        config_changed = False
        for event in events:
            config_changed |= self._handle_guarded(event)
            self.status.seen_revision = event.revision
        if config_changed:
            self._apply_config("FelixConfiguration changed")
        self._take_interfaces()
        if self._resync_wanted:  # flow logs were switched on: the pending set needs every resource
            self._watch.close()
            self._resync()
            return
        if events and not self._dirty and self.status.ready:
            # Nothing in these events changes this node's dataplane: it reflects them already.
            self.status.applied_revision = self.status.seen_revision
        now = time.monotonic()
        if self._dirty and now >= self._retry_at:
            self._program_guarded("initial sync" if not self.status.ready else
                                  "interfaces changed" if self._interfaces_changed else "store changes")
        elif self._post_write_at is not None and now >= self._post_write_at:
            self._post_write_at = None
            self._program_guarded("post-write check", repair=True)
        elif self._next_refresh and now >= self._next_refresh:
            self._program_guarded("periodic refresh", repair=True)

    def _program_guarded(self, reason: str, repair: bool = False) -> None:
        """``program``, with a defect in computing the rules kept from stopping the loop: the
        rules in the kernel stay, and it is tried again later."""
        try:
            self.program(reason, repair)
        except Exception as exc:  # noqa: BLE001 - enforcement outlives any one defect
            text = f"programming the dataplane failed, keeping the current rules ({type(exc).__name__}: " \
                   f"{shorten(str(exc))})"
            if self.status.last_error != text:
                log.exception("%s", text)
            self._failed(text)
            self._next_refresh = self._retry_at

    # --- interfaces -------------------------------------------------------------------

    def _interface_watch(self) -> InterfaceWatch:
        """The netlink watch of the namespace this agent programs (``runner.netns``, or its
        own when the runner has none), started on first use."""
        if self._netlink is None:
            self._netlink = InterfaceWatch(self.runner.netns).start()
        return self._netlink

    def _take_interfaces(self) -> None:
        """Take the newest interfaces the watch published: a change is a change to program
        (an address that appears brings in the host endpoint that expects it)."""
        seen = self._interface_watch().poll()
        if seen is None or seen == self._interfaces:
            return
        if self._interfaces is not None:
            log.info("interfaces changed: %s", "; ".join(interface_changes(self._interfaces, seen)))
            self._interfaces_changed = True
        self._interfaces = seen
        self._dirty = True

    # --- store ------------------------------------------------------------------------

    def _connect(self) -> bool:
        try:
            if self._store is None:
                self._store = self.store_factory(self.datastore)
            if self.status.seen_revision and not self._resync_wanted:
                self._watch = self._store.watch(PREFIX, self.status.seen_revision + 1)
                self.status.store_connected = True
                log.info("store reachable again; resuming from revision %d", self.status.seen_revision + 1)
                return True
            self._resync()
            return self._watch is not None
        except CompactedError:
            self._resync()
            return self._watch is not None
        except StoreError as exc:
            self._lost(exc)
            return False

    def _resync(self) -> None:
        """Read everything, rebuild calc from scratch, and watch from there."""
        assert self._store is not None
        try:
            listing = ResourceClient(self._store).snapshot()
            self._watch = self._store.watch(PREFIX, listing.revision + 1)
        except StoreError as exc:
            self._lost(exc)
            return
        # A value that is not valid counts as absent after a restart: its last good version
        # is not known any more (libcalico-go's list skips what it cannot parse, too).
        self.status.invalid = {}
        for invalid in listing.invalid:
            self._note_invalid(invalid)
        calc = Calculator(self.node)
        delta = calc.load(item for item in listing.items if item.kind is not FelixConfiguration)
        self._calc = calc
        self._report(delta.problems)
        for name in self._felix:
            self._felix[name] = next((item.doc.get("spec") or {} for item in listing.items
                                      if item.kind is FelixConfiguration and item.name == name), None)
        self._apply_config("initial sync")
        self._pending = None
        if self.settings.flow_logs.enabled:
            feed, pending = PendingFeed(), Calculator(self.node)
            pending.load(feed.load(item for item in listing.items if item.kind is not FelixConfiguration))
            self._pending = (feed, pending)
        self._resync_wanted = False
        self.status.seen_revision = listing.revision
        self.status.store_connected = True
        self._dirty = True
        log.info("synced %d resources at revision %d", len(listing.items), listing.revision)

    def _lost(self, exc: Exception) -> None:
        if self.status.store_connected or self.status.last_error != str(exc):
            log.error("store unavailable, enforcing the last good state: %s", exc)
        self.status.store_connected = False
        self.status.last_error = str(exc)
        self._watch = None
        if self._store is not None:
            try:
                self._store.close()
            except StoreError:
                pass
            self._store = None

    def _handle_guarded(self, event: Event) -> bool:
        """``_handle``, with whatever it raises turned into a problem about the event's key:
        no value in the store may stop the loop (issue 15, class 3)."""
        try:
            return self._handle(event)
        except Exception as exc:  # noqa: BLE001 - the agent outlives any one value
            text = f"{shorten(event.kv.key)}: could not be applied ({type(exc).__name__}: {shorten(str(exc))})"
            if self.status.invalid.get(event.kv.key) != text:
                log.exception("%s", text)
            self.status.invalid[event.kv.key] = text
            return False

    def _handle(self, event: Event) -> bool:
        """Apply one store event; True if it changed this node's FelixConfiguration. Every
        update and delete is addressed by the event's key, whatever its value says."""
        at = parse_key(event.kv.key)
        if at is None:
            return False
        item: StoredKey | InvalidValue | None = at
        if event.type is EventType.PUT:
            item = decode_stored(event.kv)
            if isinstance(item, InvalidValue):
                self._note_invalid(item)  # the last good version, if any, stays in force
                return False
        self.status.invalid.pop(at.key, None)
        if at.kind is FelixConfiguration:
            if at.name not in self._felix:
                return False
            self._felix[at.name] = (item.doc.get("spec") or {}) if isinstance(item, StoredResource) else None
            return True
        if isinstance(item, StoredResource):
            delta = self._calc.update(item)
        else:
            delta = self._calc.delete(*resource_id(at))
        if self._pending is not None:
            feed, pending = self._pending
            for change in (feed.update(item) if isinstance(item, StoredResource) else feed.delete(at)):
                delta.changed |= bool(pending.update(change) if isinstance(change, StoredResource)
                                      else pending.delete(*resource_id(change)))
        self._report(delta.problems)
        self._dirty |= bool(delta)
        return False

    def _note_invalid(self, invalid: InvalidValue) -> None:
        """Report a value that is not a resource, once per key and reason."""
        text = f"{invalid}; ignored"
        if self.status.invalid.get(invalid.key) != text:
            log.error("%s", text)
        self.status.invalid[invalid.key] = text

    def _report(self, problems: list[str]) -> None:
        for text in problems:
            log.error("%s", text)

    # --- configuration ---------------------------------------------------------------------

    def _apply_config(self, why: str) -> None:
        """Recompute the configuration from the FelixConfigurations seen, the file as last
        read and the environment; a bad new value keeps the last good one (tortie.config)."""
        new = effective_config(self.node, self._felix["default"], self._felix[f"node.{self.node}"], self._file,
                               self.env, last_good=self._config)
        for problem in new.problems:
            log.error("invalid configuration: %s", problem)
        settings = new.settings
        changed = {n for n in settings if settings[n].value != self._config.settings[n].value}
        self._config = new
        self.status.config_problems = [str(p) for p in new.problems]
        if changed:
            log.info("configuration (%s): %s", why, ", ".join(f"{n}={settings[n].value!r}" for n in sorted(changed)))
            self._dirty = True
        if new.unused and new.unused != self._unused:
            log.info("configuration: tortie stores but does not act on %s", ", ".join(new.unused))
        self._unused = new.unused
        typed = new.typed
        logging.getLogger("tortie").setLevel(typed.log_level)
        self.health.configure(typed.health_enabled, typed.health_host, typed.health_port)
        self.reporting.configure(typed, len(new.problems))
        if not typed.flow_logs.enabled:
            self._pending = None
        elif self._pending is None and self._watch is not None:
            self._resync_wanted = True

    @property
    def config(self) -> EffectiveConfig:
        return self._config

    @property
    def settings(self) -> Settings:
        return self._config.typed

    # --- dataplane --------------------------------------------------------------------------

    def _backend(self) -> str:
        choice = self.settings.iptables_backend
        if choice is IptablesBackend.AUTO:
            if self._detected is None:
                self._detected = detect_backend(self.runner)
                log.info("iptables backend detected: %s", self._detected)
            return self._detected
        self._detected = None  # detect again whenever the value changes back to Auto
        return "legacy" if choice is IptablesBackend.LEGACY else "nft"

    def _dataplane(self) -> Dataplane:
        """The dataplane for the current backend and insert mode (kept while they stay the same,
        so that it remembers what it wrote). A backend change first removes everything tortie
        wrote through the old one: the two must never both hold rules (§9.4)."""
        backend = self._backend()
        insert = self.settings.chain_insert_mode is ChainInsertMode.INSERT
        if self._dp is not None and self._dp.tables.iptables.backend != backend:
            log.info("iptables backend changes from %s to %s: removing tortie's rules from %s",
                     self._dp.tables.iptables.backend, backend, self._dp.tables.iptables.backend)
            self._dp.cleanup()
            self._dp = None
        if self._dp is None or self._dp.tables.insert != insert:
            self._dp = Dataplane(self.runner, backend=backend, insert=insert)
        return self._dp

    def program(self, reason: str, repair: bool = False) -> None:
        """Plan, render and write the current view (``repair``: read the kernel back first, as
        the periodic refresh does). ``reason`` is logged with what was written. A command
        that keeps failing (after ``WRITE_RETRIES`` retries) leaves the rules as they are, is
        reported in ``status.last_error`` and is retried later; nothing is raised."""
        settings = self.settings
        dataplane = self._dataplane()
        view = self._calc.view()
        if repair or not self.status.ready:  # finding problems scans the cluster: not on every change
            self.status.problems = list(self._calc.problems())
        # What the kernel refused may fit now: try again at each refresh, and whatever changed.
        self._left_out = {} if repair else {
            left: why for left, why in self._left_out.items() if part_of(view, left) is self._refused_as.get(left)}
        self._refused_as = {left: self._refused_as[left] for left in self._left_out}
        if self._interfaces is None:
            self._interfaces = self._interface_watch().wait(FIRST_INTERFACES)
        interfaces = self._interfaces
        if interfaces is None:
            self.status.last_error = self._interface_watch().problem or "the interfaces are not known yet"
            log.error("programming the dataplane waits for the interfaces: %s", self.status.last_error)
            self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE
            return
        for attempt in range(WRITE_RETRIES + 1):
            try:
                plan = build_plan(view, settings, interfaces, self._plan_cache, self._left_out)
                self._warn(plan.warnings)
                rendered = render(plan, self._render_cache)
                pending = None if self._pending is None else build_plan(
                    self._pending[1].view(), settings, interfaces, self._pending_plan_cache)
                self.reporting.prepare(plan, rendered, pending, self._calc.entities)
                started = time.monotonic()
                result = dataplane.apply(rendered, settings.max_ipset_size, read_back=repair or attempt > 0)
                self.reporting.applied(plan, rendered, self.status.seen_revision, time.monotonic() - started)
                break
            except EncodeError as exc:  # in a set or a sysctl: a bug, never content (calc refuses it)
                log.error("programming the dataplane failed, keeping the current rules: %s", exc)
                self._failed(str(exc))
                return
            except SetsRefused as exc:
                # Leave those sets out and plan again at once: the endpoints that need them
                # fail closed, everything else converges.
                refused = {LeftOut(LeftOutKind.SET, spec.set_id): f"was refused by the kernel ({shorten(error)})"
                           for name, error in exc.refused.items() if (spec := rendered.ipsets.get(name))}
                if not refused.keys() - self._left_out.keys() or attempt == WRITE_RETRIES:
                    log.error("programming the dataplane failed, keeping the current rules: %s", exc)
                    self._failed(str(exc))
                    return
                self._leave_out(refused, plan)
            except CommandError as exc:
                # Refused again after a read-back, or not writable at all: find what the kernel
                # cannot take, leave it out and plan again at once; everything else converges.
                unencodable = isinstance(exc, Unencodable)
                found = self._isolate(exc, plan, rendered, dataplane) if isinstance(exc, TableRefused) and (
                    attempt > 0 or unencodable) and attempt < WRITE_RETRIES else None
                if found:
                    self._leave_out(found, plan)
                    continue
                if attempt == WRITE_RETRIES or unencodable:  # writing it again cannot help
                    log.error("programming the dataplane failed, keeping the current rules: %s", exc)
                    self._failed(str(exc))
                    return
                time.sleep(0.001 * 2**attempt)
        self._warn_if_log_lines_are_lost(rendered)
        self._exclusions(plan.failures, dataplane)
        self._good_view = plan.view
        now = time.monotonic()
        self._dirty = self._interfaces_changed = False
        self.status.applied_revision = self.status.seen_revision
        self.status.ready = self.status.in_sync = True
        self.status.last_error = None
        refresh = settings.iptables_refresh_interval
        self._next_refresh = now + refresh if refresh else 0.0
        if result.wrote:
            self.status.writes += 1
            if repair:
                self.status.repairs += 1
                log.warning("repaired the dataplane (%s): something else changed tortie's rules or sets", reason)
            else:
                log.info("programmed the dataplane (%s) at revision %d", reason, self.status.applied_revision)
            check = settings.iptables_post_write_check_interval
            self._post_write_at = now + check if check and not repair else None

    def _leave_out(self, refused: dict[LeftOut, str], plan: Plan) -> None:
        self._left_out.update(refused)
        self._refused_as.update({left: part_of(plan.view, left) for left in refused})

    def _isolate(self, exc: TableRefused, plan: Plan, rendered: Rendered,
                 dataplane: Dataplane) -> dict[LeftOut, str] | None:
        """What to leave out so that the kernel takes the rest, after ``plan`` (rendered as
        ``rendered``) was refused as ``exc`` says: the endpoints, profiles and policies whose
        chains the refused batch held are the suspects (``isolate``), tried as whole plans;
        those that changed since the last plan the kernel took are tried first, on their
        own. When ``--test`` already refuses the plan (or it cannot be encoded), the tries
        are ``--test`` runs and the kernel keeps its rules meanwhile; otherwise (the kernel
        refused the commit) each try is written, and leaves out more, never less, than the
        plan: with the culprit among what changed, nothing that did not change fails closed,
        even for a moment. None when leaving out every suspect is refused too (something
        else is wrong: retried as any failure)."""
        owners = chain_owners(plan)
        suspects = sorted({owners[c] for c in exc.chains if c in owners} - self._left_out.keys(),
                          key=lambda s: (s.kind is not LeftOutKind.ENDPOINT, s))  # endpoints hide their policies
        if not suspects:
            return None
        good = self._good_view
        changed = [s for s in suspects if good is None or part_of(plan.view, s) is not part_of(good, s)]
        first = dataplane.check(rendered)
        tested = first is not None

        def refused(left_out: frozenset[LeftOut]) -> str | None:
            trial = build_plan(plan.view, plan.settings, plan.interfaces, self._plan_cache,
                               {**self._left_out, **dict.fromkeys(left_out, "is being tried")})
            tables = render(trial, self._render_cache)
            if tested:
                found = dataplane.check(tables)
                return _why(found) if found is not None else None
            try:
                dataplane.apply(tables, trial.settings.max_ipset_size, trial=True)
            except TableRefused as again:
                return _why(again)
            except CommandError as again:
                return shorten(str(again))
            return None

        return isolate(suspects, refused, _why(first or exc), changed)

    def _failed(self, text: str) -> None:
        """Programming failed: the kernel keeps what it had, which is not the current plan."""
        self.status.last_error = text
        self.status.in_sync = False
        self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE

    def _exclusions(self, failures: tuple[str, ...], dataplane: Dataplane) -> None:
        """What the kernel holds without: the plan's failures (sets left out, endpoints failed
        closed) and chains that could not be deleted. Each logged once, all in health."""
        stuck = sorted({c for chains in dataplane.tables.stuck.values() for c in chains})
        excluded = list(failures) + [f"chain {c} is no longer used but could not be deleted (a rule tortie does not "
                                     f"own refers to it): left empty" for c in stuck]
        excluded += [f"IP set {name} is no longer used but could not be destroyed (a rule tortie does not own uses "
                     f"it): left in place" for name in sorted(dataplane.sets.stuck)]
        for text in excluded:
            if text not in self._warned:
                self._warned.add(text)
                log.error("%s", text)
        self.status.excluded = excluded

    def _warn(self, warnings: tuple[str, ...]) -> None:
        """Log each of the plan's warnings once (a tie stays a tie until someone fixes it)."""
        for text in warnings:
            if text not in self._warned:
                self._warned.add(text)
                log.warning("%s", text)

    def _warn_if_log_lines_are_lost(self, rendered: Rendered) -> None:
        if self._warned_log_lines:
            return
        uses_log = any(isinstance(rule.action, Log) for t in rendered.tables.values() for chain in t.chains.values()
                       for rule in chain.rules)
        if uses_log and log_lines_may_be_lost():
            self._warned_log_lines = True
            log.warning("LOG rules are in use but this agent runs outside the initial network namespace and "
                        "net.netfilter.nf_log_all_netns is not 1: the kernel will drop their lines. Set it to 1 "
                        "in the initial namespace.")

    def cleanup(self) -> None:
        """Remove every chain, hook rule and set tortie owns here (``tortie agent --cleanup``),
        through the backend the configuration selects."""
        Dataplane(self.runner, backend=self._backend()).cleanup()

    # --- health --------------------------------------------------------------------------

    def _status_json(self) -> dict[str, Any]:
        s = self.status
        live = time.monotonic() - s.last_loop < LIVENESS_SLACK and self.reporting.live()
        return {"node": self.node, "live": live, "ready": s.ready and s.in_sync,
                "storeConnected": s.store_connected, "appliedRevision": s.applied_revision,
                "seenRevision": s.seen_revision, "repairs": s.repairs, "writes": s.writes,
                "lastError": s.last_error, "excluded": s.excluded,
                "problems": s.problems + sorted(s.invalid.values()) + self.reporting.problems
                + ([self._netlink.problem] if self._netlink is not None and self._netlink.problem else []),
                "configProblems": s.config_problems, "reporting": self.reporting.status()}


def _why(refused: TableRefused) -> str:
    """Why the owner of a refused table's chain is left out, as its exclusion says it."""
    if isinstance(refused, Unencodable):
        return f"holds a value that cannot be written to the kernel ({refused.error})"
    return f"was refused by iptables-restore ({shorten(refused.error)})"


def setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                           "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger("tortie")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


__all__ = ["Agent", "Status", "setup_logging"]
