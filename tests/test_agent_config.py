"""The agent's configuration and plan in-process, against a real kernel in a throwaway
namespace: the config file is read at start and on request (SIGHUP) only, a bad value
keeps the last good one whatever name it was written under, and ties are logged once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tortie.agent import Agent
from tortie.dataplane import Runner
from tortie.datastore import ResourceClient
from tortie.resources import load_resource
from tortie.store import open_store

from .wait import wait_until

API = "projectcalico.org/v3"


def _write(url: str, kind: str, name: str, spec: dict[str, object]) -> int:
    with open_store(url) as store:
        doc = ResourceClient(store).apply(load_resource({"apiVersion": API, "kind": kind, "metadata": {"name": name},
                                                         "spec": spec}))
    return int(doc["metadata"]["resourceVersion"])


def until_applied(agent: Agent, revision: int) -> None:
    """Run an in-process agent's loop until it has applied ``revision``."""
    def step() -> int:
        agent.step()
        return agent.status.applied_revision

    wait_until(f"revision {revision} applied", step, lambda applied: applied >= revision,
               details=lambda: str(agent.status))


def test_file_read_at_start_and_on_request_last_good_kept_tie_logged_once(
        netns: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite://{tmp_path}/store.db"
    with open_store(url) as store:
        ResourceClient(store).ensure_defaults()
    for name in ("a-first", "b-second"):  # both name eth9: a tie
        _write(url, "HostEndpoint", name, {"node": "n1", "interfaceName": "eth9"})
    path = tmp_path / "felix.cfg"
    path.write_text("IptablesPostWriteCheckIntervalSecs = 5\n")
    agent = Agent("n1", url, config_file=str(path), env={}, runner=Runner(netns))
    caplog.set_level(logging.INFO, logger="tortie")
    try:
        until_applied(agent, _write(url, "FelixConfiguration", "default", {"logPrefix": "one"}))
        assert agent.settings.iptables_post_write_check_interval == 5
        path.write_text("IptablesPostWriteCheckIntervalSecs = bogus\n")
        until_applied(agent, _write(url, "FelixConfiguration", "default", {"logPrefix": "two"}))
        assert agent.settings.log_prefix == "two"
        assert agent.status.config_problems == []  # a FelixConfiguration change does not read the file again
        agent.reread_config_file()
        until_applied(agent, _write(url, "FelixConfiguration", "default", {"logPrefix": "three"}))
        assert agent.settings.iptables_post_write_check_interval == 5  # the last good value, not the default 1s
        assert [p.split(": ")[1] for p in agent.status.config_problems] == ["IptablesPostWriteCheckIntervalSecs = 'bogus'"]
    finally:
        agent.close()
    ties = [r.getMessage() for r in caplog.records if "claimed by host endpoints" in r.getMessage()]
    assert ties == ["interface eth9 is claimed by host endpoints a-first, b-second: a-first governs it "
                    "(its name sorts first)"]
