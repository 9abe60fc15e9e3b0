"""Common value types of resources.md §3–§4 as pydantic-annotated types.

Each validator takes the raw YAML value, raises ``invalid(reason)`` with the spec's
reason text, and returns the value in its stored form.
"""

from __future__ import annotations

import ipaddress
import math
import re
from functools import lru_cache
from typing import Annotated, Any, Callable

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from ..core import BY_NAME
from ..selector import SelectorError, parse
from .duration import DurationError, normalise_duration


def invalid(reason: str) -> PydanticCustomError:
    return PydanticCustomError("tortie", "{reason}", {"reason": reason})


def plain(fn: Callable[[Any], Any]) -> PlainValidator:
    return PlainValidator(fn)


# --- basic types -------------------------------------------------------------

def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def int_in(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if not is_int(value):
            raise invalid("must be an integer")
        if not lo <= value <= hi:
            raise invalid(f"must be {lo}-{hi}")
        return value
    return check


def int_of(*choices: int) -> Callable[[Any], int]:
    reason = "must be " + " or ".join(str(c) for c in choices)

    def check(value: Any) -> int:
        if not is_int(value) or value not in choices:
            raise invalid(reason)
        return value
    return check


def check_str(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid("must be a string")
    return value


def matching(regex: str, reason: str) -> Callable[[Any], str]:
    pattern = re.compile(regex)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise invalid(reason)
        return value
    return check


def one_of(*choices: str) -> Callable[[Any], str]:
    reason = "must be one of " + ", ".join(choices)

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise invalid(reason)
        return value
    return check


def check_number(value: Any) -> int | float:
    """A finite number, written back as an integer when integral (policy and tier order)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid("must be a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise invalid("must be a finite number")
        if value.is_integer():
            return int(value)
    return value


def check_duration(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid('must be a duration string such as "90s"')
    try:
        return normalise_duration(value)
    except DurationError as exc:
        raise invalid(str(exc)) from None


# --- names and labels -------------------------------------------------------

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?")


def is_dns_label(text: str) -> bool:
    return len(text) <= 63 and DNS_LABEL.fullmatch(text) is not None


def is_dns_subdomain(text: str) -> bool:
    return 0 < len(text) <= 253 and all(is_dns_label(part) for part in text.split("."))


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key, or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not is_dns_subdomain(prefix):
        return "label key prefix must be a DNS-1123 subdomain of at most 253 characters"
    if not (len(name) <= 63 and _LABEL_NAME.fullmatch(name)):
        return ("label key name must be 1-63 characters of [A-Za-z0-9_.-], "
                "starting and ending with a letter or digit")
    return None


def label_value_problem(value: str) -> str | None:
    if value and not (len(value) <= 63 and _LABEL_NAME.fullmatch(value)):
        return ("label value must be empty or 1-63 characters of [A-Za-z0-9_.-], "
                "starting and ending with a letter or digit")
    return None


def check_node_name(value: Any) -> str:
    if not isinstance(value, str) or not is_dns_subdomain(value):
        raise invalid("must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')")
    return value


# --- network values -----------------------------------------------------------

_CIDR = re.compile(r"[0-9A-Fa-f:.]+(/[0-9]{1,3})?")


@lru_cache(maxsize=65536)
def cidr_version(text: str) -> int:
    """IP version of a CIDR or bare address; raises ValueError if it is neither."""
    if not _CIDR.fullmatch(text):
        raise ValueError(text)
    return ipaddress.ip_network(text, strict=False).version


def check_cidr(value: Any) -> str:
    try:
        cidr_version(value)
    except (ValueError, TypeError):
        raise invalid("invalid CIDR") from None
    return value


def check_ip(value: Any) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise invalid("invalid IP address") from None
    return value


def check_mac(value: Any) -> str:
    return matching(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", "invalid MAC address")(value)


def check_protocol(value: Any) -> int | str:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if is_int(value):
        if not 1 <= value <= 255:
            raise invalid("protocol number must be 1-255")
        return value
    if not isinstance(value, str) or value not in BY_NAME:
        raise invalid("protocol name invalid")
    return value


def protocol_number(value: int | str) -> int:
    return BY_NAME[value].number if isinstance(value, str) else value


_NAMED_PORT = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_RANGE = re.compile(r"([0-9]+):([0-9]+)")


def named_port_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not _NAMED_PORT.fullmatch(value) or not re.search("[A-Za-z]", value):
        return "invalid named port: 1-128 characters of [A-Za-z0-9_.-] with at least one letter"
    return None


def port_value(value: Any, named: bool = True) -> int | str:
    """A port, a range ``"a:b"`` or (if ``named``) a named port, in stored form."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if is_int(value):
        if not 1 <= value <= 65535:
            raise invalid("port must be 1-65535")
        return value
    if isinstance(value, str):
        m = _RANGE.fullmatch(value)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if not 1 <= lo <= hi <= 65535:
                raise invalid("port range must be a:b with 1 <= a <= b <= 65535")
            return value
        if named and named_port_problem(value) is None:
            return value
    raise invalid("invalid port" if named else "invalid port or range (named ports are not allowed)")


def check_port(value: Any) -> int | str:
    return port_value(value)


def check_numeric_port(value: Any) -> int | str:
    return port_value(value, named=False)


def check_selector(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid("must be a string")
    try:
        parse(value)
    except SelectorError as exc:
        raise invalid(f"invalid selector: {exc}") from None
    return value


Str = str  # strict models: pydantic checks the type itself, reported as "must be a string"
Number = Annotated[int | float, plain(check_number)]
Duration = Annotated[str, plain(check_duration)]
Cidr = Annotated[str, plain(check_cidr)]
IP = Annotated[str, plain(check_ip)]
Mac = Annotated[str, plain(check_mac)]
Protocol = Annotated[int | str, plain(check_protocol)]
Port = Annotated[int | str, plain(check_port)]
SelectorText = Annotated[str, plain(check_selector)]
NodeName = Annotated[str, plain(check_node_name)]
InterfaceName = Annotated[str, plain(matching(r"[A-Za-z0-9_.-]{1,15}", "must match ^[A-Za-z0-9_.-]{1,15}$"))]
