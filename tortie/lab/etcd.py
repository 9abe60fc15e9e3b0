"""A private etcd for a lab or a test: Debian's etcd-server on 127.0.0.1, in a temporary data
directory, on ports nobody else uses; stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from ..store import UnavailableError, open_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EtcdServer:
    """``start()`` runs etcd and waits until it answers; ``stop()`` ends it and removes its data
    unless ``data_dir`` was given (then a later start finds the same data)."""

    data_dir: str | None = None
    client_port: int = 0
    peer_port: int = 0
    extra_args: list[str] = field(default_factory=list)
    scheme: str = "http"
    pid: int | None = None
    _own_dir: bool = False

    @property
    def url(self) -> str:
        return f"{'etcds' if self.scheme == 'https' else 'etcd'}://127.0.0.1:{self.client_port}"

    def start(self, timeout: float = 20.0, env: dict[str, str] | None = None) -> EtcdServer:
        binary = shutil.which("etcd")
        if binary is None:
            raise UnavailableError("etcd is not installed (Debian package etcd-server; scripts/setup.sh installs it)")
        if self.data_dir is None:
            self.data_dir, self._own_dir = tempfile.mkdtemp(prefix="tortie-etcd-"), True
        os.makedirs(self.data_dir, exist_ok=True)
        self.client_port = self.client_port or free_port()
        self.peer_port = self.peer_port or free_port()
        client = f"{self.scheme}://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = open(os.path.join(self.data_dir, "etcd.log"), "ab")
        proc = subprocess.Popen(
            [binary, "--name", "tortie", "--data-dir", os.path.join(self.data_dir, "data"),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"tortie={peer}", "--log-level", "warn", *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.pid = proc.pid
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise UnavailableError(f"etcd exited ({proc.returncode}): {self.log_tail()}")
            try:
                with open_store(self.url, env or {}) as store:
                    store.revision()
                return self
            except UnavailableError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.data_dir or "", "etcd.log"), encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self, remove: bool = True) -> None:
        """Stop etcd (SIGTERM, then SIGKILL); ``remove`` deletes a temporary data directory."""
        if self.pid is not None:
            stop_process(self.pid)
            self.pid = None
        if remove and self._own_dir and self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None


def stop_process(pid: int, grace: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; reaps it when it is our child."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:  # not our child: watch /proc instead
            if not os.path.exists(f"/proc/{pid}"):
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
