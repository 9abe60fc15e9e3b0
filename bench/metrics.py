"""Denied-packet counting: how fast the agent counts with zero loss, what it costs, and scrapes.

    .venv/bin/python bench/metrics.py [--seconds 3] [--rates 25000,50000,100000,150000,200000,300000]

A real agent in a lab node denies UDP from one workload to another (dropActionOverride Drop);
iperf (v2) sends 64-byte packets at each rate. For every rate it prints what the kernel's
NFLOG rule saw, what /metrics counted, what the agent reported lost, and the agent's CPU.
Then the time of one scrape of /metrics with 10,000 series (the exporter's own code, on
127.0.0.1). Runs as root; everything happens in namespaces it creates and deletes.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tortie.agent.listener import Listener
from tortie.agent.metrics import DeniedMetrics, denied_registry, metrics_handler

from labs import seed, two_workloads

TORTIE = str(Path(sys.executable).with_name("tortie"))
A, B, PORT = "198.18.50.1", "198.18.50.2", 9100
WORLD = [
    {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
     "metadata": {"name": f"n1-k8s-{name}-eth0", "namespace": "bench", "labels": {"app": name}},
     "spec": {"node": "n1", "orchestrator": "k8s", "pod": name, "endpoint": "eth0", "interfaceName": f"cali{name}",
              "ipNetworks": [f"{address}/32"]}}
    for name, address in (("a", A), ("b", B))] + [
    {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "deny-udp"},
     "spec": {"selector": 'app == "b"', "types": ["Ingress"],
              "ingress": [{"action": "Deny", "protocol": "UDP", "destination": {"ports": [PORT]}}]}},
    {"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration", "metadata": {"name": "node.n1"},
     "spec": {"healthEnabled": True, "prometheusReporterEnabled": True, "prometheusMetricsEnabled": True,
              "prometheusProcessMetricsEnabled": False, "prometheusGoMetricsEnabled": False,
              "dropActionOverride": "Drop"}}]


def in_ns(netns: str, *args: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, *args], capture_output=True, text=True, check=True,
                          timeout=120).stdout


def scrape(netns: str, port: int) -> dict[str, float]:
    code = f"import urllib.request; print(urllib.request.urlopen('http://localhost:{port}/metrics').read().decode())"
    text = in_ns(netns, sys.executable, "-c", code)
    return {s.name: s.value for m in text_string_to_metric_families(text) for s in m.samples}


def ready(netns: str) -> bool:
    """The agent has written its NFLOG rules and serves both /metrics ports."""
    if "-j NFLOG" not in in_ns(netns, "iptables-nft-save", "-t", "filter"):
        return False
    try:
        scrape(netns, 9091), scrape(netns, 9092)
    except subprocess.CalledProcessError:
        return False
    return True


def kernel_count(netns: str) -> int:
    """Packets the kernel's NFLOG rules logged (their rule counters)."""
    save = in_ns(netns, "iptables-nft-save", "-c", "-t", "filter")
    return sum(int(m.group(1)) for m in re.finditer(r"^\[(\d+):\d+\] .*-j NFLOG", save, re.MULTILINE))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def scrape_time(series: int) -> float:
    denied = DeniedMetrics()
    denied.add(((f"default|ns{i % 50}/policy{i % 200}|{i % 7}|deny", f"198.18.{i >> 8 & 255}.{i & 255}", i, 60 * i)
                for i in range(series)), time.monotonic())
    listener = Listener("bench", metrics_handler(denied_registry(denied)))
    listener.configure("127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{listener.port}/metrics"
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            urllib.request.urlopen(url).read()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        listener.stop()


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that the namespaces are deleted on the way out
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rates", default="25000,50000,100000,150000,200000,300000")
    args = parser.parse_args()
    lab = two_workloads("k", A, B)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/bench.db"
        seed(url, WORLD)
        lab.up()
        agent = subprocess.Popen(["ip", "netns", "exec", lab.node, TORTIE, "--datastore", url, "agent", "--node",
                                  "n1", "-c", "/nonexistent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not ready(lab.node):
                if time.monotonic() > deadline:
                    raise RuntimeError("the agent did not program its NFLOG rules and serve /metrics")
                time.sleep(0.2)
            print(f"denied UDP, 64-byte packets, {args.seconds} s per rate; agent in a lab node")
            print(f"{'asked/s':>9} {'kernel/s':>9} {'kernel':>9} {'counted':>9} {'lost':>6} {'agent CPU':>10} "
                  f"{'CPU s per 10k/s':>16}")
            best = 0.0
            for rate in (int(r) for r in args.rates.split(",")):
                before, kernel0, cpu0 = scrape(lab.node, 9092), kernel_count(lab.node), cpu_seconds(agent.pid)
                lost0 = scrape(lab.node, 9091).get("tortie_nflog_packets_lost_total", 0)
                t0 = time.monotonic()
                subprocess.run(["ip", "netns", "exec", lab.workloads[0].netns,
                                "iperf", "-c", B, "-u", "-p", str(PORT), "-l", "36", "-b", f"{rate}pps", "-t",
                                str(args.seconds)], capture_output=True, timeout=args.seconds + 60)
                elapsed = time.monotonic() - t0
                kernel = kernel_count(lab.node) - kernel0
                counted = 0.0
                for _ in range(50):  # the agent folds its counts a few times a second
                    counted = scrape(lab.node, 9092).get("calico_denied_packets", 0) - before.get(
                        "calico_denied_packets", 0)
                    if counted >= kernel:
                        break
                    time.sleep(0.1)
                lost = scrape(lab.node, 9091).get("tortie_nflog_packets_lost_total", 0) - lost0
                cpu = cpu_seconds(agent.pid) - cpu0
                achieved = kernel / args.seconds
                per_10k = cpu / elapsed / (achieved / 10_000) if achieved else 0.0
                print(f"{rate:>9,} {achieved:>9,.0f} {kernel:>9,} {counted:>9,.0f} {lost:>6,.0f} "
                      f"{cpu / elapsed:>9.0%} {per_10k:>16.3f}")
                if counted == kernel and lost == 0:
                    best = max(best, achieved)
            print(f"highest rate counted with zero loss: {best:,.0f} packets/s (target >= 100,000)")
        finally:
            agent.terminate()
            agent.wait()
            lab.down()
    print(f"scrape of /metrics with 10,000 series: {scrape_time(10_000) * 1e3:.1f} ms (median of 20)")


if __name__ == "__main__":
    main()
