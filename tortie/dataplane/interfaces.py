"""The interfaces of the network namespace the agent enforces, and their addresses, followed
through rtnetlink events (pyroute2) instead of being read again at each refresh.

Felix learns them the same way (felix/ifacemonitor/iface_monitor.go, v3.32.1): subscribe to
the link and address groups, then dump every link and address, and apply each event to
that state. The events that arrive while the dump is read are applied after it; each one
sets a fact (a link's name, an address present or gone) and a later event of the same
fact wins, so the state converges to the kernel's. When the socket's buffer overruns
(ENOBUFS) events were lost: the socket is opened again and everything dumped again.

What is pure here: the facts (``LinkSeen``, ``LinkGone``, ``AddressSeen``, ``AddressGone``),
``fact_of`` (a netlink message -> its fact, or None) and ``apply`` (links, facts -> links).
The I/O: ``session``, ``dump``, ``changes`` (one netlink socket) and ``InterfaceWatch`` (a
thread that follows one namespace and publishes ``name -> addresses`` snapshots).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyroute2 import AsyncIPRoute

log = logging.getLogger("tortie.agent")

# The kernel's rtnetlink numbers (linux/rtnetlink.h). pyroute2 has them too, but importing it
# takes 0.1-0.2 s, which only the code that opens a socket should pay (not ``tortie explain``).
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR = 16, 17, 20, 21
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100
GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR
RCVBUF = 4 << 20  # bytes: a burst of thousands of address events fits before the socket overruns
RETRY_AFTER_FAILURE = 1.0  # seconds before a failed netlink socket is opened again
CLOSE_WAIT = 30.0  # seconds ``close`` waits for the thread

Interfaces = Mapping[str, frozenset[str]]  # interface name -> its addresses (text, as ipaddress prints them)


@dataclass(frozen=True)
class Link:
    """One link of the namespace; ``name`` is empty while only its addresses are known."""

    name: str = ""
    addresses: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class LinkSeen:
    """RTM_NEWLINK: link ``index`` exists and is called ``name`` (a rename keeps the index)."""

    index: int
    name: str


@dataclass(frozen=True)
class LinkGone:
    """RTM_DELLINK: link ``index`` and its addresses are gone."""

    index: int


@dataclass(frozen=True)
class AddressSeen:
    """RTM_NEWADDR: ``address`` (IPv4 or IPv6, text) is on link ``index``."""

    index: int
    address: str


@dataclass(frozen=True)
class AddressGone:
    """RTM_DELADDR: ``address`` is no longer on link ``index``."""

    index: int
    address: str


Fact = LinkSeen | LinkGone | AddressSeen | AddressGone
Links = Mapping[int, Link]  # link index -> link


def _address(message: Any) -> str | None:
    # IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on a point-to-point
    # IPv4 link and the only one IPv6 sends.
    text = message.get_attr("IFA_LOCAL") or message.get_attr("IFA_ADDRESS")
    return str(ipaddress.ip_address(text)) if isinstance(text, str) else None


def fact_of(message: Any) -> Fact | None:
    """The fact a pyroute2 rtnetlink message states, or None for any other message and for
    one that lacks what its fact needs (a message is never trusted to be well formed)."""
    try:
        kind = message["header"]["type"]
        index = message["index"]
        if not isinstance(index, int) or index <= 0:
            return None
        if kind == RTM_DELLINK:
            return LinkGone(index)
        if kind == RTM_NEWLINK:
            name = message.get_attr("IFLA_IFNAME")
            return LinkSeen(index, name) if isinstance(name, str) and name else None
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            address = _address(message)
            if address is None:
                return None
            return AddressSeen(index, address) if kind == RTM_NEWADDR else AddressGone(index, address)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return None


def apply(links: Links, facts: Iterable[Fact]) -> dict[int, Link]:
    """``links`` after ``facts``, in order (a new mapping; ``links`` is not changed). An
    address of a link not seen yet is kept until its link is."""
    out = dict(links)
    for fact in facts:
        if isinstance(fact, LinkGone):
            out.pop(fact.index, None)
            continue
        link = out.get(fact.index, Link())
        if isinstance(fact, LinkSeen):
            out[fact.index] = replace(link, name=fact.name)
        elif isinstance(fact, AddressSeen):
            out[fact.index] = replace(link, addresses=link.addresses | {fact.address})
        else:
            out[fact.index] = replace(link, addresses=link.addresses - {fact.address})
    return out


def by_name(links: Links) -> Interfaces:
    """The interfaces as the plan takes them: name -> addresses, named links only."""
    return MappingProxyType({link.name: link.addresses for link in links.values() if link.name})


def interface_changes(old: Interfaces, new: Interfaces) -> list[str]:
    """What changed from ``old`` to ``new``, one short phrase per interface, by name (for
    the agent's log): "eth1 appeared with 198.18.0.9", "eth1 is gone", "eth1 gained ..., lost ..."."""
    out = []
    for name in sorted(old.keys() | new.keys()):
        if name not in new:
            out.append(f"{name} is gone")
        elif name not in old:
            out.append(f"{name} appeared" + (f" with {', '.join(sorted(new[name]))}" if new[name] else ""))
        elif parts := [f"{verb} {', '.join(sorted(addresses))}" for verb, addresses in
                       (("gained", new[name] - old[name]), ("lost", old[name] - new[name])) if addresses]:
            out.append(f"{name} {', '.join(parts)}")
    return out


def is_overrun(exc: BaseException) -> bool:
    """Whether ``exc`` says the socket's buffer overran and events were lost."""
    code = exc.errno if isinstance(exc, OSError) else getattr(exc, "code", None)  # pyroute2's NetlinkError
    return code == errno.ENOBUFS


@asynccontextmanager
async def session(netns: str | None, rcvbuf: int = RCVBUF) -> AsyncIterator[AsyncIPRoute]:
    """An rtnetlink socket in network namespace ``netns`` (a name under /var/run/netns; None:
    this process's), subscribed to link and address events. The namespace must exist: it is
    never created. Raises OSError when the socket cannot be opened."""
    from pyroute2 import AsyncIPRoute

    async with AsyncIPRoute(netns=netns, flags=0, rcvbuf=rcvbuf) as ipr:
        await ipr.bind(groups=GROUPS)
        yield ipr


async def _facts(messages: AsyncIterator[Any]) -> AsyncIterator[Fact]:
    async for message in messages:
        if (fact := fact_of(message)) is not None:
            yield fact


async def dump(ipr: AsyncIPRoute) -> dict[int, Link]:
    """Every link and address of the socket's namespace."""
    facts = [fact for request in (ipr.link, ipr.addr) async for fact in _facts(await request("dump"))]
    return apply({}, facts)


async def changes(ipr: AsyncIPRoute) -> list[Fact]:
    """The facts of the next datagram of events (waits for one). Raises OSError with errno
    ENOBUFS when events were lost (``is_overrun``); the socket is then unusable."""
    return [fact async for fact in _facts(ipr.get())]


class InterfaceWatch:
    """Follows the interfaces of network namespace ``netns`` (None: this process's) in a
    thread of its own, and publishes each new ``name -> addresses`` snapshot. The agent
    takes them with ``poll`` in its loop, so a new address reaches the plan at the next
    turn of the loop. It never stops on its own: a socket that fails is opened again,
    and a message it does not understand is skipped."""

    def __init__(self, netns: str | None = None, rcvbuf: int = RCVBUF) -> None:
        self.netns = netns
        self.rcvbuf = rcvbuf
        self.resyncs = 0  # full dumps after an overrun
        self.problem: str | None = None  # why the interfaces are not followed right now
        self._snapshots: queue.SimpleQueue[Interfaces] = queue.SimpleQueue()
        self._latest: Interfaces | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"netlink-{netns or 'self'}", daemon=True)

    def start(self) -> InterfaceWatch:
        self._thread.start()
        self._started.wait()
        return self

    def poll(self) -> Interfaces | None:
        """The newest snapshot published since the last ``poll`` or ``wait``, or None."""
        newest = None
        while True:
            try:
                newest = self._snapshots.get_nowait()
            except queue.Empty:
                break
        if newest is not None:
            self._latest = newest
        return newest

    def wait(self, timeout: float) -> Interfaces | None:
        """The newest snapshot, waiting up to ``timeout`` seconds for the first one; None if
        there is none yet."""
        if self.poll() is None and self._latest is None:
            try:
                self._latest = self._snapshots.get(timeout=timeout)
            except queue.Empty:
                return None
            self.poll()
        return self._latest

    def close(self) -> None:
        """Stop following and close the socket (waits up to ``CLOSE_WAIT`` seconds for the thread,
        which may be opening a socket in a namespace)."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        if self._thread.is_alive():
            self._thread.join(CLOSE_WAIT)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._task = loop.create_task(self._follow())
        self._started.set()
        try:
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    async def _follow(self) -> None:
        published: Interfaces | None = None
        while True:
            try:
                async with session(self.netns, self.rcvbuf) as ipr:
                    links = await dump(ipr)
                    self.problem = None
                    while True:
                        current = by_name(links)
                        if current != published:
                            published = current
                            self._snapshots.put(current)
                        links = apply(links, await changes(ipr))
            except Exception as exc:  # noqa: BLE001 - it outlives any socket or message; cancelling stops it
                if is_overrun(exc):
                    self.resyncs += 1
                    log.warning("netlink: interface events were lost (the socket's buffer overran); "
                                "reading every interface and address again")
                    continue
                where = f"network namespace {self.netns}" if self.netns else "this network namespace"
                problem = f"cannot follow the interfaces of {where} through netlink ({type(exc).__name__}: {exc})"
                if problem != self.problem:
                    log.error("%s; trying again every %g s", problem, RETRY_AFTER_FAILURE)
                self.problem = problem
                await asyncio.sleep(RETRY_AFTER_FAILURE)


def read_interfaces(netns: str | None = None) -> Interfaces:
    """The interfaces of ``netns`` now (one dump; tests and tools). Raises OSError."""
    async def read() -> Interfaces:
        async with session(netns) as ipr:
            return by_name(await dump(ipr))
    return asyncio.run(read())
