"""One line -> one record (kernel-log.md: header, prefix, body)."""

from __future__ import annotations

from typing import Any

from .body import parse_body
from .fast import parse_fast_body, parse_fast_line
from .header import read_header
from .prefix import body_start, prefix_info
from .record import LogRecord, build


def parse_line(line: str) -> LogRecord | None:
    """A log line (without its newline) -> its record, or None if it is not a LOG line
    (no `IN=… OUT=…` body). Never raises: unknown tokens go to `extra`, a line cut short
    is marked `partial`."""
    if "IN=" not in line and line[:1] != "{":  # most lines of a syslog file: cheap to refuse
        return None
    record = parse_fast_line(line)
    if record is not None:
        return record
    d: dict[str, Any] = {}
    message, start = read_header(line, d)
    i = body_start(message, start)
    if i < 0:
        return None
    raw = message[start:i]
    d["prefix_raw"] = raw
    d["prefix"], d["kind"], trace = prefix_info(raw)
    if trace:
        d["trace"] = True
    if not parse_fast_body(message, i, d):
        parse_body(message, i, d)
    return build(LogRecord, d)
