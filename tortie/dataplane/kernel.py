"""Kernel facts the agent checks (dataplane.md §10)."""

from __future__ import annotations

import os

NF_LOG_ALL_NETNS = "/proc/sys/net/netfilter/nf_log_all_netns"


def log_lines_may_be_lost(own_netns: str = "/proc/self/ns/net", init_netns: str = "/proc/1/ns/net",
                          sysctl: str = NF_LOG_ALL_NETNS) -> bool:
    """True when LOG lines from this namespace would be silently dropped: we are not in the
    initial network namespace and nf_log_all_netns cannot be read as 1."""
    try:
        if os.readlink(own_netns) == os.readlink(init_netns):
            return False
    except OSError:
        pass  # cannot tell where we are: judge by the sysctl alone
    try:
        with open(sysctl) as f:
            return f.read().strip() != "1"
    except OSError:
        return True
