"""The agent on etcd: a watch whose history was compacted while etcd was away ends in a clean
resync, and the kernel gets the changes it missed."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from tortie.agent import Agent
from tortie.dataplane import Runner
from tortie.datastore import ResourceClient
from tortie.lab.etcd import EtcdServer
from tortie.resources import load_resource
from tortie.store import open_store

from .wait import wait_until


def _policy(port: int) -> object:
    return load_resource({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                          "metadata": {"name": "guard"},
                          "spec": {"selector": "all()", "ingress": [
                              {"action": "Deny", "protocol": "TCP", "destination": {"ports": [port]}}]}})


def test_compacted_history_triggers_a_clean_resync(netns: str, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    etcd = EtcdServer(data_dir=str(tmp_path / "etcd")).start()
    try:
        with open_store(etcd.url) as store:
            client = ResourceClient(store)
            client.ensure_defaults()
            client.apply(load_resource({"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
                                        "metadata": {"name": "n1-k8s-web-eth0", "namespace": "shop"},
                                        "spec": {"node": "n1", "orchestrator": "k8s", "pod": "web",
                                                 "endpoint": "eth0", "interfaceName": "caliweb",
                                                 "ipNetworks": ["198.18.70.1/32"]}}))
            client.apply(_policy(7001))
        agent = Agent("n1", etcd.url, "/nonexistent", env={}, runner=Runner(netns))

        def step() -> object:
            agent.step()
            return agent.status
        wait_until("the agent to be ready", step, lambda _: agent.status.ready)

        def rules() -> str:
            return subprocess.run(["ip", "netns", "exec", netns, "iptables-nft-save", "-t", "filter"],
                                  capture_output=True, text=True, check=True).stdout

        assert "--dport 7001" in rules() or "--dports 7001" in rules()
        etcd.stop(remove=False)  # the agent's watch breaks ...
        etcd.start()
        with open_store(etcd.url) as store:  # ... and what it missed is compacted away
            client = ResourceClient(store)
            client.apply(_policy(7002))
            revision = int(client.apply(_policy(7003))["metadata"]["resourceVersion"])
            store.compact(revision)  # the agent would resume from 7002's revision: gone
        caplog.set_level(logging.INFO, logger="tortie.agent")
        wait_until(f"the agent to resync and apply revision {revision}", step,
                   lambda _: agent.status.applied_revision >= revision, timeout=30)
        assert "7003" in rules() and "7001" not in rules()
        assert "watch history was compacted: resyncing" in caplog.text
        agent.close()  # its store connection and its netlink watch
    finally:
        etcd.stop()
