"""Kernel LOG lines (kernel-log.md) -> typed records, streamed."""

from .line import parse_line
from .prefix import body_start, classify_prefix, normalise_prefix
from .record import JSON_NAMES, HeaderShape, LogRecord, Packet, PrefixKind
from .stream import Summary, read_records
from .text import describe

__all__ = ["JSON_NAMES", "HeaderShape", "LogRecord", "Packet", "PrefixKind", "Summary", "body_start",
           "classify_prefix", "describe", "normalise_prefix", "parse_line", "read_records"]
