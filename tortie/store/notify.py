"""Wake a watcher when a file in a directory is written (Linux inotify, through libc).

An idle watch that polls every few milliseconds keeps a CPU from resting and, on a busy
node, steals it from the traffic it polices; with inotify it sleeps until a commit.
"""

from __future__ import annotations

import os
import select

IN_MODIFY = 0x002
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENTS = IN_MODIFY | IN_MOVED_TO | IN_CREATE


class DirectoryNotifier:
    """``wait(timeout)`` returns True as soon as some file in ``directory`` changed."""

    def __init__(self, directory: str) -> None:
        # Imported here, not with the store: ctypes.util brings subprocess, shutil and tempfile,
        # a cost every short-lived command would pay for the watches only the agent opens.
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if libc.inotify_add_watch(fd, os.fsencode(directory), _EVENTS) < 0:
            errno = ctypes.get_errno()
            os.close(fd)
            raise OSError(errno, f"inotify_add_watch {directory} failed")
        self._fd = fd

    def drain(self) -> None:
        """Forget the changes seen so far (the caller is about to look for itself)."""
        try:
            while os.read(self._fd, 65536):
                pass
        except BlockingIOError:
            pass

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._fd], [], [], max(timeout, 0.0))
        return bool(ready)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def directory_notifier(directory: str) -> DirectoryNotifier | None:
    """A notifier, or None where inotify is unavailable (then the caller polls)."""
    try:
        return DirectoryNotifier(directory)
    except (OSError, AttributeError):
        return None
