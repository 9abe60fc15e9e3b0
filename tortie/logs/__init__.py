"""Kernel LOG lines (kernel-log.md) -> typed records, streamed."""

from .line import parse_line
from .prefix import body_start, classify_prefix, normalise_prefix
from .record import JSON_NAMES, HeaderShape, LogRecord, Packet, PrefixKind
from .stream import Summary, read_lines, read_records, record_of
from .text import CONTROL, describe, host_port, plural

__all__ = ["CONTROL", "JSON_NAMES", "HeaderShape", "LogRecord", "Packet", "PrefixKind", "Summary", "body_start",
           "classify_prefix", "describe", "host_port", "normalise_prefix", "parse_line", "plural", "read_lines",
           "read_records", "record_of"]
