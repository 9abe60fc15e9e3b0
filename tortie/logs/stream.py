"""Records from a stream of log lines, in constant memory, with a count of what was skipped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import BinaryIO

from .line import parse_line
from .record import LogRecord
from .text import plural

MAX_LINE = 64 * 1024  # bytes; the kernel's own lines are under 1 KiB, journald's JSON a few KiB
_PROGRESS_STEP = 1 << 20


class SkipReason(StrEnum):
    """Why a line gave no record."""

    NOT_LOG = "not a LOG line"         # no IN=... OUT=... body
    CUT = "cut before IN="             # a LOG body whose start is missing
    BINARY = "binary"                  # NUL bytes or bytes that are not UTF-8, and no body
    TOO_LONG = "too long"              # over MAX_LINE bytes: not read into memory


@dataclass
class Summary:
    """What a run read: lines, records (and how many of them were cut short), skipped lines by reason."""

    lines: int = 0
    records: int = 0
    partial: int = 0
    skipped: Counter[SkipReason] = field(default_factory=Counter)

    def __str__(self) -> str:
        """One line, for example `30 lines: 29 LOG lines (1 cut short), 1 skipped (1 cut before IN=)`."""
        text = f"{self.lines:,} {plural(self.lines, 'line')}: {self.records:,} LOG {plural(self.records, 'line')}"
        if self.partial:
            text += f" ({self.partial:,} cut short)"
        skipped = sum(self.skipped.values())
        text += f", {skipped:,} skipped"
        if skipped:
            text += " (" + ", ".join(f"{n:,} {reason}" for reason, n in self.skipped.most_common()) + ")"
        return text


def read_lines(stream: BinaryIO, summary: Summary, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The lines of `stream` (bytes, with their line ends), counted into `summary.lines`. A
    line longer than MAX_LINE bytes is never held whole: it is counted as skipped (too long)
    and not yielded. `progress`, if given, is called with the number of bytes read since its
    last call, about every MiB. Raises OSError if reading fails (the lines before it have
    been yielded)."""
    readline = stream.readline
    pending = 0
    while True:
        raw = readline(MAX_LINE + 1)
        if not raw:
            break
        summary.lines += 1
        pending += len(raw)
        if len(raw) > MAX_LINE and raw[-1:] != b"\n":
            while raw and raw[-1:] != b"\n":  # read the rest of the line without keeping it
                raw = readline(MAX_LINE)
                pending += len(raw)
            summary.skipped[SkipReason.TOO_LONG] += 1
            continue
        if progress is not None and pending >= _PROGRESS_STEP:
            progress(pending)
            pending = 0
        yield raw
    if progress is not None and pending:
        progress(pending)


def record_of(raw: bytes, summary: Summary) -> LogRecord | None:
    """The record of one line (bytes, with its line end), counted into `summary`: a record,
    one cut short, or a line skipped and why."""
    line = raw.decode("utf-8", "replace").rstrip("\r\n")
    record = parse_line(line)
    if record is None:
        summary.skipped[skip_reason(line)] += 1
        return None
    summary.records += 1
    if record.partial:
        summary.partial += 1
    return record


def read_records(stream: BinaryIO, summary: Summary,
                 progress: Callable[[int], None] | None = None) -> Iterator[LogRecord]:
    """The records of the LOG lines in `stream` (bytes, lines ending in LF or CRLF), counted
    into `summary` as they are read (read_lines says how long lines and progress go).
    Raises OSError if reading fails (the records before it have been yielded)."""
    for raw in read_lines(stream, summary, progress):
        record = record_of(raw, summary)
        if record is not None:
            yield record


def skip_reason(line: str) -> SkipReason:
    """Why `line`, which is not a LOG line, is not one."""
    if "\x00" in line or "\ufffd" in line:
        return SkipReason.BINARY
    if "SRC=" in line and (" OUT=" in line or line.startswith("OUT=")):
        return SkipReason.CUT
    return SkipReason.NOT_LOG
