"""Reading the kernel log (/dev/kmsg) from a point on, for LOG lines (kernel-log.md)."""

from __future__ import annotations

import errno
import os
import re

_BODY = re.compile(r"(?<![A-Za-z0-9_])IN=\S* OUT=\S*( |$)")


class KmsgReader:
    """Records the kernel logs after construction. The log is shared by the whole machine:
    callers must pick out their own lines (by address, port or interface)."""

    def __init__(self) -> None:
        self._fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self._fd, 0, os.SEEK_END)

    def read(self) -> list[str]:
        """Messages logged since the last read, without their record headers."""
        out: list[str] = []
        while True:
            try:
                record = os.read(self._fd, 8192)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    return out
                if exc.errno == errno.EPIPE:  # overwritten while we were away: go on
                    continue
                raise
            if not record:
                return out
            text = record.decode(errors="replace")
            out.append(text.split(";", 1)[1].rstrip("\n") if ";" in text else text.rstrip("\n"))

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> KmsgReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def log_prefix(line: str) -> str | None:
    """The LOG prefix of a kernel line (kernel-log.md §2), or None if it is not a LOG line."""
    m = _BODY.search(line)
    return line[:m.start()] if m else None
