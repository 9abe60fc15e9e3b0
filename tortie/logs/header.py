"""Line headers (kernel-log.md §1): which shape a line has, what it says, where the message starts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from .record import HeaderShape

# After a syslog time and host: an optional tag, then the kernel's uptime stamp and printk
# caller id. `kernel:` is always the tag; another `word:` only when the body does not follow
# it at once (then it is the LOG prefix, as in `host IN-work: IN=...`).
_TAIL = (r"(?:(?P<host>(?!IN=)\S*[^\s:]) )?"
         r"(?:kernel: |[\w./-]+(?:\[[0-9]+\])?: (?!IN=\S* OUT=\S*(?: |$)))?"
         r"(?:\[ *(?P<uptime>[0-9]{1,12}\.[0-9]{1,9})\] ?)?(?:\[ *(?P<caller>[CT][0-9]{1,9})\] ?)?")
# The header patterns fast.py also uses, each with its groups in the order named.
RFC3164 = r"(?P<time>[A-Z][a-z]{2} {1,2}[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?) " + _TAIL
RFC3339 = (r"(?P<time>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
           r"(?:Z|[+-][0-9]{2}:?[0-9]{2})) " + _TAIL)
SYSLOG_GROUPS = ("time", "host", "uptime", "caller")
# dmesg and dmesg -r; journalctl -o short-monotonic adds the host and `kernel:`.
DMESG = (r"(?:<(?P<priority>[0-9]{1,9})>)?\[ *(?P<uptime>[0-9]{1,12}\.[0-9]{1,9})\] ?"
         r"(?:\[ *(?P<caller>[CT][0-9]{1,9})\] ?)?(?:(?P<host>\S+) kernel: )?")
DMESG_GROUPS = ("priority", "uptime", "caller", "host")
_RFC3164 = re.compile(RFC3164)
_RFC3339 = re.compile(RFC3339)
_DMESG = re.compile(DMESG)
_KMSG = re.compile(r"(?P<priority>[0-9]{1,9}),(?P<seq>[0-9]{1,19}),(?P<usec>[0-9]{1,19}),[^;]*;")
_DMESG_T = re.compile(r"(?:<(?P<priority>[0-9]{1,9})>)?"
                      r"\[(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4})\] ")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_header(line: str, d: dict[str, Any]) -> tuple[str, int]:
    """Strip the header of `line`: its fields go into `d` (`header`, and `time`, `host`,
    `uptime`, `caller`, `priority`, `seq` where printed). Returns the message and the index
    in it where the message proper starts; for a JSON line the message is its MESSAGE.
    Shapes are tried by the line's first character; a line that matches none is a bare
    message."""
    first = line[:1]
    if first == "{":
        message = _json_message(line, d)
        if message is not None:
            return message, 0
    elif "0" <= first <= "9":
        if line[4:5] == "-":
            m = _RFC3339.match(line)
            if m is not None:
                d["header"] = HeaderShape.RFC3339
                header_fields(SYSLOG_GROUPS, m.groups(), d)
                return line, m.end()
        else:
            m = _KMSG.match(line)
            if m is not None:
                d["header"] = HeaderShape.KMSG
                d["priority"] = int(m["priority"])
                d["seq"] = int(m["seq"])
                d["uptime"] = int(m["usec"]) / 1e6
                return line, m.end()
    elif first == "[" or first == "<":
        m = _DMESG.match(line)
        if m is not None:
            d["header"] = HeaderShape.DMESG
            header_fields(DMESG_GROUPS, m.groups(), d)
            return line, m.end()
        m = _DMESG_T.match(line)
        if m is not None:
            d["header"] = HeaderShape.DMESG_T
            if m["priority"] is not None:
                d["priority"] = int(m["priority"])
            d["time"] = m["time"]
            return line, m.end()
    elif "A" <= first <= "Z":
        m = _RFC3164.match(line)
        if m is not None:
            d["header"] = HeaderShape.RFC3164
            header_fields(SYSLOG_GROUPS, m.groups(), d)
            return line, m.end()
    d["header"] = HeaderShape.NONE
    return line, 0


def header_fields(names: tuple[str, ...], values: tuple[str | None, ...], d: dict[str, Any]) -> None:
    """The groups of a header pattern (`names`, in order) -> record fields in `d`."""
    for name, value in zip(names, values, strict=False):
        if value is not None:
            d[name] = float(value) if name == "uptime" else int(value) if name == "priority" else value


def _json_message(line: str, d: dict[str, Any]) -> str | None:
    """journald's `-o json` (or a log shipper's JSON): the MESSAGE or message ("" if it has
    none), and the header fields journald records; None if the line is not a JSON object."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict):
        return None
    d["header"] = HeaderShape.JSON
    message = entry.get("MESSAGE", entry.get("message"))
    if isinstance(message, list):  # journald writes a message that is not UTF-8 as its bytes
        try:
            message = bytes(message).decode(errors="replace")
        except (TypeError, ValueError):
            message = ""
    if not isinstance(message, str):
        message = ""
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
    return message.rstrip("\n")


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
