"""Line headers (kernel-log.md §1): which shape a line has, what it says, where the message starts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .record import HeaderShape

# After a syslog time and host: an optional tag, then the kernel's uptime stamp and printk
# caller id. `kernel:` is always the tag; another `word:` only when the body does not follow
# it at once (then it is the LOG prefix, as in `host IN-work: IN=...`).
_TAIL = (r"(?:(?P<host>(?!IN=)\S*[^\s:]) )?"
         r"(?:kernel: |[\w./-]+(?:\[[0-9]+\])?: (?!IN=\S* OUT=\S*(?: |$)))?"
         r"(?:\[ *(?P<uptime>[0-9]{1,12}\.[0-9]{1,9})\] ?)?(?:\[ *(?P<caller>[CT][0-9]{1,9})\] ?)?")
# A header pattern's groups, in order: the field each fills, and how its text converts
# (None: kept as printed).
Groups = tuple[tuple[str, Callable[[str], Any] | None], ...]
_TIME = ("time", None)
_HOST = ("host", None)
_UPTIME = ("uptime", float)
_CALLER = ("caller", None)
_PRIORITY = ("priority", int)
# The header patterns fast.py also uses, each with its groups in the order named.
RFC3164 = r"(?P<time>[A-Z][a-z]{2} {1,2}[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?) " + _TAIL
RFC3339 = (r"(?P<time>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
           r"(?:Z|[+-][0-9]{2}:?[0-9]{2})) " + _TAIL)
SYSLOG_GROUPS: Groups = (_TIME, _HOST, _UPTIME, _CALLER)
# dmesg and dmesg -r; journalctl -o short-monotonic adds the host and `kernel:`.
DMESG = (r"(?:<(?P<priority>[0-9]{1,9})>)?\[ *(?P<uptime>[0-9]{1,12}\.[0-9]{1,9})\] ?"
         r"(?:\[ *(?P<caller>[CT][0-9]{1,9})\] ?)?(?:(?P<host>\S+) kernel: )?")
DMESG_GROUPS: Groups = (_PRIORITY, _UPTIME, _CALLER, _HOST)
# /dev/kmsg: priority, sequence number, uptime in microseconds, flags.
KMSG = r"(?P<priority>[0-9]{1,9}),(?P<seq>[0-9]{1,19}),(?P<usec>[0-9]{1,19}),[^;]*;"
KMSG_GROUPS: Groups = (_PRIORITY, ("seq", int), ("uptime", lambda usec: int(usec) / 1e6))
_RFC3164 = re.compile(RFC3164)
_RFC3339 = re.compile(RFC3339)
_DMESG = re.compile(DMESG)
_KMSG = re.compile(KMSG)
_DMESG_T = re.compile(r"(?:<(?P<priority>[0-9]{1,9})>)?"
                      r"\[(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4})\] ")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHAPE_GROUPS: dict[HeaderShape, Groups] = {
    HeaderShape.RFC3164: SYSLOG_GROUPS, HeaderShape.RFC3339: SYSLOG_GROUPS, HeaderShape.DMESG: DMESG_GROUPS,
    HeaderShape.KMSG: KMSG_GROUPS, HeaderShape.DMESG_T: (_PRIORITY, _TIME), HeaderShape.NONE: ()}

# What a header says, not yet converted: the shape and its pattern's groups, or journald's entry.
Header = tuple[HeaderShape, tuple[str | None, ...] | dict[str, Any]]


def read_header(line: str, d: dict[str, Any]) -> tuple[str, int]:
    """Strip the header of `line`: its fields go into `d` (`header`, and `time`, `host`,
    `uptime`, `caller`, `priority`, `seq` where printed). Returns the message and the index
    in it where the message proper starts; for a JSON line the message is its MESSAGE."""
    message, start, header = split_header(line)
    header_fields(header, d)
    return message, start


def split_header(line: str) -> tuple[str, int, Header]:
    """The message of `line`, the index in it where the message proper starts, and the
    header unconverted (header_fields converts it). Shapes are tried by the line's first
    character; a line that matches none is a bare message."""
    first = line[:1]
    if first == "{":
        found = _json_message(line)
        if found is not None:
            return found[1], 0, (HeaderShape.JSON, found[0])
    elif "0" <= first <= "9":
        shape, m = (HeaderShape.RFC3339, _RFC3339.match(line)) if line[4:5] == "-" else (
            HeaderShape.KMSG, _KMSG.match(line))
        if m is not None:
            return line, m.end(), (shape, m.groups())
    elif first == "[" or first == "<":
        m = _DMESG.match(line)
        if m is not None:
            return line, m.end(), (HeaderShape.DMESG, m.groups())
        m = _DMESG_T.match(line)
        if m is not None:
            return line, m.end(), (HeaderShape.DMESG_T, m.groups())
    elif "A" <= first <= "Z":
        m = _RFC3164.match(line)
        if m is not None:
            return line, m.end(), (HeaderShape.RFC3164, m.groups())
    return line, 0, (HeaderShape.NONE, ())


def header_fields(header: Header, d: dict[str, Any]) -> None:
    """A header from split_header -> record fields in `d`: `header`, and `time`, `host`,
    `uptime` (seconds), `caller`, `priority`, `seq` where it printed them."""
    shape, values = header
    d["header"] = shape
    if isinstance(values, dict):
        _json_fields(values, d)
        return
    for (name, convert), value in zip(_SHAPE_GROUPS[shape], values, strict=True):
        if value is not None:
            d[name] = value if convert is None else convert(value)


def _json_message(line: str) -> tuple[dict[str, Any], str] | None:
    """journald's `-o json` (or a log shipper's JSON): the entry, and its MESSAGE or message
    ("" if it has none); None if the line is not a JSON object."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict):
        return None
    message = entry.get("MESSAGE", entry.get("message"))
    if isinstance(message, list):  # journald writes a message that is not UTF-8 as its bytes
        try:
            message = bytes(message).decode(errors="replace")
        except (TypeError, ValueError):
            message = ""
    if not isinstance(message, str):
        message = ""
    return entry, message.rstrip("\n")


def _json_fields(entry: dict[str, Any], d: dict[str, Any]) -> None:
    """The header fields journald records, from its entry, into `d`."""
    time = _realtime(entry.get("__REALTIME_TIMESTAMP"))
    for key in ("timestamp", "@timestamp", "time"):
        if time is None and isinstance(entry.get(key), str):
            time = entry[key]
    if time is not None:
        d["time"] = time
    for key in ("_HOSTNAME", "hostname", "host"):
        if isinstance(entry.get(key), str):
            d["host"] = entry[key]
            break
    usec = _digits(entry.get("_SOURCE_MONOTONIC_TIMESTAMP"))
    if usec is not None:
        d["uptime"] = usec / 1e6
    priority = _digits(entry.get("PRIORITY"))
    if priority is not None:
        d["priority"] = priority


def _realtime(value: object) -> str | None:
    """journald's wall-clock time (microseconds since the epoch) -> RFC 3339, UTC."""
    usec = _digits(value)
    try:
        return None if usec is None else (_EPOCH + timedelta(microseconds=usec)).isoformat()
    except OverflowError:
        return None


def _digits(value: object) -> int | None:
    """journald's numbers are strings of digits."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        return int(value)
    return None
