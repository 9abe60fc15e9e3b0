"""One line -> one record (kernel-log.md: header, prefix, body)."""

from __future__ import annotations

from typing import Any

from .body import parse_body
from .fast import fill_message, match_body, parse_fast_line
from .header import header_fields, split_header
from .prefix import body_start, prefix_fields
from .record import LogRecord, build, build_lazy


def parse_line(line: str) -> LogRecord | None:
    """A log line (without its newline) -> its record, or None if it is not a LOG line
    (no `IN=… OUT=…` body). Never raises: unknown tokens go to `extra`, a line cut short
    is marked `partial`. A common body's fields are converted when the first is read."""
    if "IN=" not in line and line[:1] != "{":  # most lines of a syslog file: cheap to refuse
        return None
    record = parse_fast_line(line)
    if record is not None:
        return record
    message, start, header = split_header(line)
    i = body_start(message, start)
    if i < 0:
        return None
    raw = message[start:i]
    body = match_body(message, i)
    if body is not None:
        return build_lazy(LogRecord, fill_message, (header, raw, *body))
    d: dict[str, Any] = {}
    header_fields(header, d)
    prefix_fields(raw, d)
    parse_body(message, i, d)
    return build(LogRecord, d)
