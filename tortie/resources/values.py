"""Value rules the v3 validator applies: names, labels, addresses, ports, selectors.

Each follows the Calico or Kubernetes function that decides it (named in the docstring),
so that the same input is accepted or refused as calicoctl v3.32 would.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

from ..core import SCTP, TABLE, TCP, UDP, IPNetwork
from .errors import InvalidParameter

if TYPE_CHECKING:
    from ..selector import SelectorError



def invalid(reason: str) -> InvalidParameter:
    """The error a parameter check raises (the agent's configuration reads its ``reason``)."""
    return InvalidParameter(reason)


# --- names (validator.go nameRegex, tierNameRegex; k8s.io/apimachinery validation) --------

LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN_FMT = LABEL_FMT + "(\\." + LABEL_FMT + ")*"
NAME = re.compile(SUBDOMAIN_FMT)
DNS_LABEL = re.compile(LABEL_FMT)
CONTAINER_ID = re.compile("[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?")
INTERFACE = re.compile("[a-zA-Z0-9_.-]{1,15}")
IFACE_FILTER = re.compile("[a-zA-Z0-9:._+-]{1,15}")


def is_name(text: str) -> bool:
    """The validator's ``name`` rule: a DNS-1123 subdomain without a length limit."""
    return NAME.fullmatch(text) is not None


def is_dns_label(text: str) -> bool:
    return len(text) <= 63 and DNS_LABEL.fullmatch(text) is not None


def is_interface(text: str) -> bool:
    """validateInterface: ``*`` or 1-15 of ``[a-zA-Z0-9_.-]``."""
    return text == "*" or INTERFACE.fullmatch(text) is not None


_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME = re.compile(_QNAME_FMT)
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
              "alphanumeric character")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def subdomain_problems(text: str) -> list[str]:
    """Kubernetes IsDNS1123Subdomain."""
    problems = []
    if len(text) > 253:
        problems.append("must be no more than 253 characters")
    if not NAME.fullmatch(text):
        problems.append(_regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                     "characters, '-' or '.', and must start and end with an alphanumeric "
                                     "character", SUBDOMAIN_FMT, "example.com"))
    return problems


def qualified_name_problems(key: str) -> list[str]:
    """Kubernetes IsQualifiedName: ``[prefix/]name``, the rule for label and annotation keys."""
    parts = key.split("/")
    if len(parts) > 2:
        return ["a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    problems = []
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            problems.append("prefix part must be non-empty")
        else:
            problems += ["prefix part " + p for p in subdomain_problems(parts[0])]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if not _QNAME.fullmatch(name):
        problems.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return problems


def label_value_problems(value: str) -> list[str]:
    """Kubernetes IsValidLabelValue."""
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if value and not _QNAME.fullmatch(value):
        problems.append(_regex_error("a valid label must be an empty string or " + _QNAME_MSG,
                                     _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return problems


def labels_valid(labels: dict[str, str]) -> bool:
    """The validator's ``labels`` tag."""
    return all(not qualified_name_problems(k) and not label_value_problems(v) for k, v in labels.items())


_PORT_NAME_CHARS = re.compile("[-a-z0-9]+")


def is_port_name(name: str) -> bool:
    """Kubernetes IsValidPortName (validator ``portName``): at most 15 of ``[-a-z0-9]``, a
    letter among them, no ``--``, no hyphen at either end."""
    return (0 < len(name) <= 15 and _PORT_NAME_CHARS.fullmatch(name) is not None
            and re.search("[a-z]", name) is not None and "--" not in name
            and not name.startswith("-") and not name.endswith("-"))


# --- addresses (libcalico-go lib/net, Go's net package) -----------------------------------

_ADDRESS = re.compile(r"[0-9A-Fa-f:.]+")


@lru_cache(maxsize=1 << 16)
def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go's net.ParseIP: dotted IPv4 or IPv6 text, no zone, no prefix; None if neither.
    An IPv4-mapped IPv6 address counts as IPv4, as Go's ``To4`` does."""
    if not _ADDRESS.fullmatch(text):
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@lru_cache(maxsize=1 << 16)
def parse_cidr(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, IPNetwork] | None:
    """Go's net.ParseCIDR: ``address/prefix`` (the prefix is required); (address, network)."""
    address, slash, bits = text.partition("/")
    if not slash or not bits.isascii() or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        return None
    ip = parse_ip(address)
    if ip is None or int(bits) > ip.max_prefixlen:
        return None
    return ip, ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)


@lru_cache(maxsize=1 << 16)
def parse_cidr_or_ip(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address | None, IPNetwork] | None:
    """libcalico-go ParseCIDROrIP: a CIDR, or an address taken as /32 or /128.
    Empty text parses, as in Go, to no address at all."""
    parsed = parse_cidr(text)
    if parsed is not None:
        return parsed
    if text == "":
        return None, ipaddress.IPv6Network("::/128")
    ip = parse_ip(text)
    if ip is None:
        return None
    return ip, ipaddress.ip_network(ip)


def is_cidr(text: str) -> bool:
    """The validator's ``cidr``: any CIDR or address, host bits allowed."""
    return parse_cidr_or_ip(text) is not None


def is_net(text: str) -> bool:
    """The validator's ``net``: a CIDR or address whose host bits are clear."""
    parsed = parse_cidr_or_ip(text)
    return parsed is not None and (parsed[0] is None or parsed[0] == parsed[1].network_address)


def ip_version(text: str) -> int:
    """4 or 6 for an address, 0 if it is not one."""
    ip = parse_ip(text)
    return 0 if ip is None else ip.version


_MAC = [re.compile(p) for p in (
    r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}",
    r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){7}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){7}",
    r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){19}",
    r"[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}|[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){3}|[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){9}",
)]


def is_mac(text: str) -> bool:
    """Go's net.ParseMAC: EUI-48, EUI-64 or 20-octet addresses, in ``:``, ``-`` or ``.`` form."""
    return any(p.fullmatch(text) for p in _MAC)


# --- protocols and ports (numorstring, validator.go validateProtocol) ----------------------

PROTOCOLS = {p.name: p.number for p in TABLE}  # the names exactly as numorstring spells them
PORT_PROTOCOLS = (TCP.number, UDP.number, SCTP.number)  # numorstring Protocol.SupportsPorts


def protocol_number(value: int | str) -> int:
    """The IP protocol number of a valid protocol value."""
    return PROTOCOLS[value] if isinstance(value, str) else value


def supports_ports(value: int | str) -> bool:
    """numorstring Protocol.SupportsPorts: TCP, UDP or SCTP, by number or name."""
    if isinstance(value, int):
        return value in PORT_PROTOCOLS
    return value in ("TCP", "UDP", "SCTP", "tcp", "udp", "sctp")


def port_bounds(port: int | str) -> tuple[int, int] | None:
    """(min, max) of a numeric port or range; None for a named port."""
    if isinstance(port, int):
        return port, port
    lo, colon, hi = port.partition(":")
    if colon and lo.isdigit() and hi.isdigit():
        return int(lo), int(hi)
    return None


# --- selectors (libcalico-go lib/selector) ----------------------------------------------

@lru_cache(maxsize=1 << 14)
def selector_problem(text: str) -> SelectorError | None:
    """Why ``text`` is not a selector, or None."""
    # The selector compiler loads when a selector is first checked, not with the resources:
    # a command that only lists or prints them does not need it (bench/cli.py).
    from ..selector import SelectorError, parse
    try:
        parse(text)
    except SelectorError as exc:
        return exc
    return None


def only_global(text: str) -> bool:
    """A namespaceSelector that uses ``global()`` must be that alone (validateEntityRule)."""
    from ..selector import Kind, SelectorError, tokenize  # as in selector_problem
    try:
        tokens = tokenize(text)
    except SelectorError:
        return False
    return len(tokens) <= 2 and tokens[0].kind is Kind.Global


def matching(regex: str) -> Callable[[str], bool]:
    pattern = re.compile(regex)
    return lambda text: pattern.fullmatch(text) is not None
