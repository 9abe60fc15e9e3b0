"""Kernel LOG lines -> records (kernel-log.md): the lines from the wild, the spec's examples,
every header shape, round trips of generated lines, garbage, the stream and `tortie logs parse`."""

from __future__ import annotations

import io
import json
from json import dumps
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tortie.config import settings_for
from tortie.logs import HeaderShape, LogRecord, Packet, PrefixKind, body_start, normalise_prefix, parse_line
from tortie.logs.body import parse_body
from tortie.logs.fast import parse_fast_body, parse_fast_line
from tortie.logs.header import read_header
from tortie.logs.stream import MAX_LINE, SkipReason, Summary, read_records

from .cli import TORTIE, run_cli, run_on_terminal
from .conftest import CONFORMANCE
from .profiles import examples

LINES_FILE = CONFORMANCE / "logs" / "kernel-log-lines.txt"

H = HeaderShape
K = PrefixKind
MAC = "10:35:5a:7f:a4:c9:ee:13:38:5d:82:a7"
V4: dict[str, Any] = {"family": 4, "tos": 0, "prec": 0}
V6: dict[str, Any] = {"family": 6, "tc": 0}


def rec(**fields: Any) -> LogRecord:
    return LogRecord(**fields)


def tcp(spt: int, dpt: int, window: int, flags: tuple[str, ...] = ("SYN",)) -> dict[str, Any]:
    return {"proto": "TCP", "spt": spt, "dpt": dpt, "window": window, "res": 0, "tcp_flags": flags, "urgp": 0}


def udp(spt: int, dpt: int, length: int, proto: str = "UDP") -> dict[str, Any]:
    return {"proto": proto, "spt": spt, "dpt": dpt, "udp_len": length}


# What each line of ../shared/conformance/logs/kernel-log-lines.txt says, written from the line.
WILD: list[LogRecord | None] = [
    rec(header=H.RFC3164, time="May 18 18:42:44", host="ubuntu", uptime=1156.246182, prefix_raw="calico-drop: ",
        prefix="calico-drop", kind=K.OVERRIDE, in_="tunl0", out="cali76be879f658", mac="", src="198.51.100.1",
        dst="198.51.100.2", len=60, ttl=62, ip_id=56743, ip_flags=("DF",), **V4, **tcp(56248, 80, 29200),
        mark=0xa000000),
    rec(header=H.RFC3339, time="2024-11-19T12:15:03.023805-08:00", host="host-1", prefix_raw="calico-packet: ",
        prefix="calico-packet", in_="cali527b0801ecb", out="eth0", mac=MAC + ":08:00", src="198.51.100.3",
        dst="198.51.100.4", len=60, ttl=63, ip_id=58406, ip_flags=("DF",), **V4, **tcp(45588, 80, 64860)),
    rec(header=H.RFC3339, time="2024-11-19T12:15:02.990083-08:00", host="host-1", prefix_raw="calico-packet: ",
        prefix="calico-packet", in_="cali527b0801ecb", out="calid3446e883f0", mac=MAC + ":08:00",
        src="198.51.100.3", dst="198.51.100.5", len=96, ttl=63, ip_id=19241, ip_flags=("DF",), **V4,
        **udp(42896, 53, 76)),
    rec(header=H.RFC3164, time="Dec  4 01:30:07", host="host-2", uptime=307753.360525, prefix_raw="calico-packet: ",
        prefix="calico-packet", in_="vxlan.calico", out="cali854fbe58c09", mac=MAC + ":08:00", src="198.51.100.6",
        dst="198.51.100.7", len=60, ttl=62, ip_id=35584, ip_flags=("DF",), **V4, **tcp(10275, 8080, 64240)),
    rec(header=H.RFC3164, time="Sep 25 03:36:35", host="host-3", prefix_raw="calico-packet: ", prefix="calico-packet",
        in_="calibb6007ff7fc", out="eth0", mac=MAC + ":08:00", src="198.51.100.8", dst="198.51.100.9", len=60,
        ttl=63, ip_id=12442, ip_flags=("DF",), **V4, **tcp(51813, 12865, 42600)),
    rec(header=H.RFC3164, time="Feb 26 12:03:37", host="host-4", uptime=3161.662745, prefix_raw="calico-packet: ",
        prefix="calico-packet", in_="eth0", out="cali21f32b9552e", mac=MAC + ":08:00", src="198.51.100.10",
        dst="198.51.100.11", len=60, ttl=59, ip_id=27873, ip_flags=("DF",), **V4, **tcp(57812, 80, 64240)),
    rec(header=H.RFC3164, time="Dec 20 11:01:55", host="<redacted>", prefix_raw="rpfilter_DROP: ",
        prefix="rpfilter_DROP", in_="eth0", out="", mac=MAC + ":86:dd",
        src="fe80:0000:0000:0000:bbb1:96ae:416a:d4b2", dst="ff02:0000:0000:0000:0000:0000:0000:00fb", len=85,
        hoplimit=1, flowlbl=223537, **V6, **udp(5353, 5353, 45)),
    rec(header=H.RFC3339, time="2021-11-04T18:33:46.114797+01:00", host="host-5", uptime=17748.074339, caller="C0",
        prefix_raw='"filter_IN_public_REJECT: "', prefix="filter_IN_public_REJECT", in_="eth0", out="",
        mac=MAC + ":86:dd", src="fe80:0000:0000:0000:9a9b:cbff:fe9d:f436",
        dst="ff02:0000:0000:0000:0000:0000:0000:0001", len=64, hoplimit=255, flowlbl=758639, **V6,
        **udp(53805, 53805, 24)),
    rec(header=H.RFC3164, time="Oct  2 06:26:25", host="example", uptime=593219.016960,
        prefix_raw="RULE 24 -- DENY ", prefix="RULE 24 -- DENY", in_="eth0", out="", mac=MAC + ":33:44",
        src="198.51.100.12", dst="198.51.100.13", len=40, ttl=113, ip_id=59263, **V4, **tcp(15314, 21379, 53920)),
    # The tag position holds `IN-work:` followed at once by the body: it is the prefix.
    rec(header=H.RFC3164, time="Apr  2 19:54:54", host="host-6", prefix_raw="IN-work: ", prefix="IN-work",
        in_="realize", out="", mac="10:35:5a:7f", src="198.51.100.14", dst="255.255.255.255", len=78, ttl=128,
        ip_id=31586, **V4, **udp(137, 137, 58), mark=0),
    rec(header=H.RFC3339, time="2018-02-20T13:50:44.330880+01:00", host="host-7", uptime=46506.088085,
        prefix_raw=" DSHIELDINPUT ", prefix="DSHIELDINPUT", in_="eth0", out="",
        mac=MAC + ":cc:f1:16:3b:60:85:aa:cf:f4:19:3e:63:ad:6f", src="198.51.100.15", dst="198.51.100.16", len=540,
        ttl=46, ip_id=58987, ip_flags=("DF",), **V4, **udp(34285, 25824, 520)),
    rec(header=H.RFC3164, time="Apr  9 17:02:08", host="host-8", prefix_raw="TRACE: filter:FORWARD:rule:1 ",
        prefix="TRACE: filter:FORWARD:rule:1", trace=True, in_="calieaf0cb8d5bc", out="ens3", mac=MAC + ":08:00",
        src="198.51.100.17", dst="198.51.100.18", len=60, ttl=63, ip_id=51237, ip_flags=("DF",), **V4,
        **tcp(58976, 8443, 29200), tcp_seq=3000208233, tcp_ack=0, tcp_opt="020405B40402080A8842580B0000000001030307",
        mark=0x40000),
    # Redacted: no IP lengths, and the UDP section ends before its LEN.
    rec(prefix_raw="[nftables] : drop : output : ", prefix="[nftables] : drop : output", in_="", out="ens3",
        family=4, src="…", dst="198.51.100.19", proto="UDP", dpt=123, partial=True),
    rec(prefix_raw="[UFW BLOCK] ", prefix="[UFW BLOCK]", in_="docker0", out="", physin="vethc149a32",
        mac="xx:xx:xx:xx:xx:xx:xx:xx:xx:xx:xx:xx:xx:xx", src="198.51.100.20", dst="yy.yy.yy.yy", len=60, ttl=64,
        ip_id=58585, ip_flags=("DF",), **V4, **tcp(45360, 5432, 29200)),
    rec(prefix_raw="[UFW DOCKER BLOCK] ", prefix="[UFW DOCKER BLOCK]", in_="eth0", out="docker_gwbridge",
        mac="xx:xx:xx:xx...", src="xx.xx.xx.xx", dst="198.51.100.21", len=60, ttl=52, ip_id=30439,
        ip_flags=("DF",), **V4, **tcp(28061, 80, 64240)),
    # No host between the time and the prefix.
    rec(header=H.RFC3164, time="Jan  8 03:37:09", prefix_raw="DENY: ", prefix="DENY", in_="eth0", out="",
        mac=MAC + ":08:00", src="198.51.100.22", dst="198.51.100.23", len=88, ttl=118, ip_id=21684, **V4,
        proto="ICMP", icmp_type=3, icmp_code=3,
        inner=Packet(src="198.51.100.23", dst="198.51.100.24", len=60, ttl=54, ip_id=0, ip_flags=("DF",), **V4,
                     **udp(21458, 62936, 40))),
    rec(header=H.RFC3164, time="Jan 22 10:52:34", host="host-9", uptime=307.757925, prefix_raw="", prefix="",
        in_="", out="enp0s3", mac=MAC + ":cc:f1:ff:ff", src="fe80:0000:0000:0000:0084:88ff:feae:790a",
        dst="ff02:0000:0000:0000:0000:0000:0000:0016", len=96, hoplimit=1, flowlbl=0, **V6, proto="ICMPv6",
        icmp_type=143, icmp_code=0, mark=0xD4),
    rec(header=H.RFC3164, time="Jun 28 04:35:30", host="host-10", prefix_raw="[SOMETHING-1234-A] ",
        prefix="[SOMETHING-1234-A]", in_="abc.123", out="abc.123", mac=MAC + ":cc:f1:16:3b:00:01",
        src="198.51.100.25", dst="198.51.100.25", len=32, ttl=63, ip_id=12345, **V4, **udp(9000, 9000, 12), mark=0),
    rec(prefix_raw="iptables DROP_INPUT: ", prefix="iptables DROP_INPUT", in_="eth0", out="", mac=MAC + ":08:00",
        src="198.51.100.26", dst="198.51.100.27", len=40, ttl=63, ip_id=31214, ip_flags=("DF",), **V4,
        **tcp(443, 40702, 0, ("RST",))),
    rec(header=H.RFC3164, time="Jul 24 19:19:10", host="localhost", uptime=1468637.581122,
        prefix_raw="OK_bfce786c-ab07-40ad-79f9-8 ", prefix="OK_bfce786c-ab07-40ad-79f9-8", in_="s-010255073003",
        out="eth0", mac=MAC + ":08:00", src="198.51.100.28", dst="198.51.100.29", len=60, ttl=63, ip_id=15946,
        ip_flags=("DF",), **V4, **tcp(51858, 80, 27400), mark=1),
    rec(header=H.RFC3164, time="Jul 24 19:21:51", host="localhost", uptime=1468798.671535,
        prefix_raw="DENY_C2C_d5978989-1401-49ff- ", prefix="DENY_C2C_d5978989-1401-49ff-", in_="s-010255073003",
        out="s-010255073002", mac=MAC + ":08:00", src="198.51.100.28", dst="198.51.100.30", len=60, ttl=63,
        ip_id=27922, ip_flags=("DF",), **V4, **tcp(37366, 8081, 27400), mark=1),
    rec(header=H.RFC3164, time="Jun 23 08:51:22", host="host-11", uptime=486938.916177, prefix_raw="[UFW BLOCK] ",
        prefix="[UFW BLOCK]", in_="eth1", out="", mac=MAC + ":00:00", src="198.51.100.31", dst="xx.xx.xx.xx",
        len=60, ttl=50, ip_id=51005, ip_flags=("DF",), **V4, **tcp(41945, 16881, 7300)),
    rec(header=H.RFC3164, time="Aug 10 12:36:02", host="host-12", uptime=259312.693198, prefix_raw="[UFW BLOCK] ",
        prefix="[UFW BLOCK]", in_="eth0", out="", mac=MAC + ":08:00", src="198.51.100.32", dst="198.51.100.33",
        len=157, family=4, tos=0, prec=0x20, ttl=115, ip_id=26439, proto="ICMP", icmp_type=3, icmp_code=3,
        inner=Packet(src="198.51.100.33", dst="198.51.100.32", len=129, ttl=49, ip_id=0, ip_flags=("DF",), **V4,
                     **udp(9985, 60435, 109))),
    None,  # cut at the start: no IN=, so not a LOG line
    rec(header=H.RFC3164, time="Nov 23 18:25:31", host="host-13", uptime=285.732015, prefix_raw="BANDWIDTH_IN:",
        prefix="BANDWIDTH_IN", in_="WAN", out="LAN", mac=MAC + ":08:00", src="198.51.100.36", dst="198.51.100.37",
        len=576, family=4, tos=0, prec=0x20, ttl=52, ip_id=62829, proto="ICMP", icmp_type=11, icmp_code=1,
        inner=Packet(src="198.51.100.37", dst="198.51.100.36", len=572, ttl=116, ip_id=4427, ip_flags=("MF",),
                     **V4, **udp(27005, 27038, 1035))),
    rec(header=H.RFC3164, time="Nov 23 18:11:42", host="host-13", uptime=22.322893,
        prefix_raw="Dropped by firewall: ", prefix="Dropped by firewall", in_="WAN", out="", mac="",
        src="198.51.100.38", dst="198.51.100.39", len=293, ttl=255, ip_id=10048, ip_flags=("DF",), **V4,
        **udp(5353, 5353, 273)),
    rec(header=H.DMESG, uptime=167.006433, prefix_raw="Inbound ", prefix="Inbound", in_="wlan0", out="",
        mac=MAC + ":08:00", src="198.51.100.40", dst="198.51.100.41", len=56, ttl=63, ip_id=817, ip_flags=("DF",),
        **V4, proto="ICMP", icmp_type=3, icmp_code=3,
        inner=Packet(src="198.51.100.41", dst="198.51.100.40", len=129, ttl=63, ip_id=0, ip_flags=("DF",), **V4,
                     **udp(24060, 24060, 109))),
    rec(header=H.DMESG, uptime=20.586965, prefix_raw="[UFW BLOCK] ", prefix="[UFW BLOCK]", in_="wlan0", out="",
        mac="", src="fe80:0000:0000:0000:69df:0f31:0cee:feab", dst="ff02:0000:0000:0000:0000:0000:0001:0003",
        len=86, hoplimit=255, flowlbl=67613, **V6, **udp(5355, 5355, 46)),
    rec(header=H.DMESG, priority=6, uptime=5739.482168, prefix_raw="CMWRAP ", prefix="CMWRAP", in_="",
        out="ppp0", src="198.51.100.42", dst="198.51.100.43", len=60, ttl=64, ip_id=49871, ip_flags=("DF",), **V4,
        **tcp(51454, 8080, 13600), uid=10126, gid=10126),
    # TOS and MARK without 0x, as a relay printed them; no RES; ACK both as the key and as the flag.
    rec(prefix_raw='UDM-Pro [LAN_LOCAL-RET-2147483647] DESCR="no rule description" ',
        prefix='UDM-Pro [LAN_LOCAL-RET-2147483647] DESCR="no rule description"', in_="wgsts1000", out="", mac="",
        src="198.51.100.44", dst="198.51.100.45", len=40, ttl=127, ip_id=4182, ip_flags=("DF",), **V4,
        proto="TCP", spt=56040, dpt=22, tcp_seq=1035551519, tcp_ack=2019387833, window=1024, tcp_flags=("ACK",),
        urgp=0, uid=0, gid=0, mark=0x40000),
]


def wild_lines() -> list[str]:
    return LINES_FILE.read_text().splitlines()


def test_the_wild_file_is_what_the_expectations_were_written_from() -> None:
    lines = wild_lines()
    assert len(lines) == len(WILD) == 30
    assert [body_start(line) >= 0 for line in lines] == [r is not None for r in WILD]


@pytest.mark.parametrize("n", range(30))
def test_every_line_from_the_wild(n: int) -> None:
    assert parse_line(wild_lines()[n]) == WILD[n]


def test_the_wild_file_through_the_stream() -> None:
    summary = Summary()
    with LINES_FILE.open("rb") as f:
        records = list(read_records(f, summary))
    assert records == [r for r in WILD if r is not None]
    assert (summary.lines, summary.records, summary.partial) == (30, 29, 1)
    assert summary.skipped == {SkipReason.CUT: 1}
    assert str(summary) == "30 lines: 29 LOG lines (1 cut short), 1 skipped (1 cut before IN=)"


# --- the spec's examples (kernel-log.md §5) ---------------------------------------

SPEC = {
    "rfc3164 uptime": (
        "Mar  3 09:14:07 node-a kernel: [ 8812.402113] calico-drop: IN=cali7f3e2a91c0d OUT=eth0 "
        "MAC=ee:ee:ee:ee:ee:ee:a2:4b:1c:05:9e:77:08:00 SRC=10.65.3.14 DST=198.51.100.40 LEN=60 TOS=0x00 PREC=0x00 "
        "TTL=63 ID=27014 DF PROTO=TCP SPT=43822 DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0 MARK=0x40000 ",
        rec(header=H.RFC3164, time="Mar  3 09:14:07", host="node-a", uptime=8812.402113, prefix_raw="calico-drop: ",
            prefix="calico-drop", kind=K.OVERRIDE, in_="cali7f3e2a91c0d", out="eth0",
            mac="ee:ee:ee:ee:ee:ee:a2:4b:1c:05:9e:77:08:00", src="10.65.3.14", dst="198.51.100.40", len=60, ttl=63,
            ip_id=27014, ip_flags=("DF",), **V4, **tcp(43822, 443, 64240), mark=0x40000)),
    "action in the prefix": (
        "Mar  3 09:14:09 node-a kernel: calico-drop LOGandACCEPT: IN=eth0 OUT=cali2b9d04e6a11 "
        "MAC=52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00 SRC=192.0.2.77 DST=10.65.3.20 LEN=76 TOS=0x00 PREC=0x00 "
        "TTL=62 ID=0 DF PROTO=UDP SPT=40123 DPT=123 LEN=56 ",
        rec(header=H.RFC3164, time="Mar  3 09:14:09", host="node-a", prefix_raw="calico-drop LOGandACCEPT: ",
            prefix="calico-drop LOGandACCEPT", kind=K.OVERRIDE_ACCEPT, in_="eth0", out="cali2b9d04e6a11",
            mac="52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00", src="192.0.2.77", dst="10.65.3.20", len=76, ttl=62,
            ip_id=0, ip_flags=("DF",), **V4, **udp(40123, 123, 56))),
    "echo with a repeated ID": (
        "2026-03-03T09:15:21.804233+01:00 node-b kernel: gnp.allow-ping: IN= OUT=eth1 SRC=10.0.5.2 DST=203.0.113.7 "
        "LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=51322 DF PROTO=ICMP TYPE=8 CODE=0 ID=4101 SEQ=3",
        rec(header=H.RFC3339, time="2026-03-03T09:15:21.804233+01:00", host="node-b", prefix_raw="gnp.allow-ping: ",
            prefix="gnp.allow-ping", in_="", out="eth1", src="10.0.5.2", dst="203.0.113.7", len=84, ttl=64,
            ip_id=51322, ip_flags=("DF",), **V4, proto="ICMP", icmp_type=8, icmp_code=0, icmp_id=4101, icmp_seq=3)),
    "port unreachable": (
        "[ 9120.551907] calico-packet: IN=eth0 OUT= MAC=52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00 "
        "SRC=198.51.100.40 DST=10.0.5.2 LEN=88 TOS=0x00 PREC=0xC0 TTL=61 ID=31337 PROTO=ICMP TYPE=3 CODE=3 "
        "[SRC=10.0.5.2 DST=198.51.100.40 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=52113 DF PROTO=UDP SPT=53004 "
        "DPT=33434 LEN=40 ] ",
        rec(header=H.DMESG, uptime=9120.551907, prefix_raw="calico-packet: ", prefix="calico-packet", in_="eth0",
            out="", mac="52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00", src="198.51.100.40", dst="10.0.5.2", len=88,
            family=4, tos=0, prec=0xC0, ttl=61, ip_id=31337, proto="ICMP", icmp_type=3, icmp_code=3,
            inner=Packet(src="10.0.5.2", dst="198.51.100.40", len=60, ttl=63, ip_id=52113, ip_flags=("DF",), **V4,
                         **udp(53004, 33434, 40)))),
    "fragmentation needed": (
        "<5>[ 9121.002114] calico-drop: IN=eth0 OUT=cali2b9d04e6a11 MAC=52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00 "
        "SRC=198.51.100.1 DST=10.65.3.20 LEN=56 TOS=0x00 PREC=0x00 TTL=254 ID=0 PROTO=ICMP TYPE=3 CODE=4 "
        "[SRC=10.65.3.20 DST=203.0.113.50 LEN=1500 TOS=0x00 PREC=0x00 TTL=63 ID=1907 DF PROTO=TCP "
        "INCOMPLETE [8 bytes] ] MTU=1400 ",
        rec(header=H.DMESG, priority=5, uptime=9121.002114, prefix_raw="calico-drop: ", prefix="calico-drop",
            kind=K.OVERRIDE, in_="eth0", out="cali2b9d04e6a11", mac="52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00",
            src="198.51.100.1", dst="10.65.3.20", len=56, ttl=254, ip_id=0, **V4, proto="ICMP", icmp_type=3,
            icmp_code=4, mtu=1400,
            inner=Packet(src="10.65.3.20", dst="203.0.113.50", len=1500, ttl=63, ip_id=1907, ip_flags=("DF",),
                         **V4, proto="TCP", incomplete=8))),
    "ipv6 with caller id": (
        "Mar  3 09:16:40 node-c kernel: [ 9200.118540][    C3] calico-drop: IN=eth0 OUT=cali5c0de11a2b3 "
        "MAC=52:54:00:9e:11:02:52:54:00:31:7a:c4:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0009 "
        "DST=fd00:0065:0000:0003:0000:0000:0000:0014 LEN=80 TC=0 HOPLIMIT=63 FLOWLBL=724511 PROTO=TCP SPT=48810 "
        "DPT=8080 WINDOW=64800 RES=0x00 SYN URGP=0 MARK=0x40000 ",
        rec(header=H.RFC3164, time="Mar  3 09:16:40", host="node-c", uptime=9200.118540, caller="C3",
            prefix_raw="calico-drop: ", prefix="calico-drop", kind=K.OVERRIDE, in_="eth0", out="cali5c0de11a2b3",
            mac="52:54:00:9e:11:02:52:54:00:31:7a:c4:86:dd", src="2001:0db8:0000:0000:0000:0000:0000:0009",
            dst="fd00:0065:0000:0003:0000:0000:0000:0014", len=80, hoplimit=63, flowlbl=724511, **V6,
            **tcp(48810, 8080, 64800), mark=0x40000)),
    "journald message": (
        "calico-packet: IN=cali5c0de11a2b3 OUT=eth0 MAC=ee:ee:ee:ee:ee:ee:6e:41:0a:99:c2:3f:86:dd "
        "SRC=fd00:0065:0000:0003:0000:0000:0000:0014 DST=2001:0db8:0000:0000:0000:0000:0000:0009 LEN=104 TC=0 "
        "HOPLIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=23 SEQ=1",
        rec(prefix_raw="calico-packet: ", prefix="calico-packet", in_="cali5c0de11a2b3", out="eth0",
            mac="ee:ee:ee:ee:ee:ee:6e:41:0a:99:c2:3f:86:dd", src="fd00:0065:0000:0003:0000:0000:0000:0014",
            dst="2001:0db8:0000:0000:0000:0000:0000:0009", len=104, hoplimit=63, flowlbl=0, **V6, proto="ICMPv6",
            icmp_type=128, icmp_code=0, icmp_id=23, icmp_seq=1)),
    "kmsg fragment": (
        "5,48377,9130442871,-;calico-drop: IN=eth0 OUT= MAC=52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00 "
        "SRC=192.0.2.77 DST=10.0.5.2 LEN=548 TOS=0x00 PREC=0x00 TTL=60 ID=4242 FRAG:185 PROTO=UDP ",
        rec(header=H.KMSG, priority=5, seq=48377, uptime=9130.442871, prefix_raw="calico-drop: ",
            prefix="calico-drop", kind=K.OVERRIDE, in_="eth0", out="", mac="52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00",
            src="192.0.2.77", dst="10.0.5.2", len=548, ttl=60, ip_id=4242, frag=185, **V4, proto="UDP")),
    "glued prefix, empty MAC": (
        "[EDGE-7-D]IN=tunl0 OUT= MAC= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=47 ",
        rec(prefix_raw="[EDGE-7-D]", prefix="[EDGE-7-D]", in_="tunl0", out="", mac="", src="10.0.0.1",
            dst="10.0.0.2", len=40, ttl=64, ip_id=1, **V4, proto="47")),
    "quoted prefix": (
        '"edge-drop: "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=ESP '
        "SPI=0x1f2e ",
        rec(prefix_raw='"edge-drop: "', prefix="edge-drop", in_="eth0", out="", src="10.0.0.1", dst="10.0.0.2",
            len=40, ttl=64, ip_id=1, **V4, proto="ESP", spi=0x1F2E)),
    "bridged": (
        "fw-br: IN=br0 OUT=br0 PHYSIN=veth12ab PHYSOUT=veth34cd MAC=52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00 "
        "SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x10 PREC=0x00 TTL=64 ID=7 CE DF PROTO=TCP SPT=1 DPT=2 WINDOW=3 "
        "RES=0x00 CWR ECE URG ACK PSH RST SYN FIN URGP=9 ",
        rec(prefix_raw="fw-br: ", prefix="fw-br", in_="br0", out="br0", physin="veth12ab", physout="veth34cd",
            mac="52:54:00:9e:11:02:52:54:00:31:7a:c4:08:00", src="10.0.0.1", dst="10.0.0.2", len=60, family=4,
            tos=0x10, prec=0, ttl=64, ip_id=7, ip_flags=("CE", "DF"), proto="TCP", spt=1, dpt=2, window=3, res=0,
            tcp_flags=("CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN"), urgp=9)),
    "socket owner": (
        "audit-out IN= OUT=eth0 SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=7 DF PROTO=TCP "
        "SPT=1 DPT=2 WINDOW=3 RES=0x00 SYN URGP=0 UID=1000 GID=1000 ",
        rec(prefix_raw="audit-out ", prefix="audit-out", in_="", out="eth0", src="10.0.0.1", dst="10.0.0.2", len=60,
            ttl=64, ip_id=7, ip_flags=("DF",), **V4, **tcp(1, 2, 3), uid=1000, gid=1000)),
}


@pytest.mark.parametrize("name", SPEC)
def test_spec_examples(name: str) -> None:
    line, expected = SPEC[name]
    assert parse_line(line) == expected


# --- headers ----------------------------------------------------------------------

BODY = "IN= OUT=eth0 SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDP SPT=1 DPT=2 LEN=40"
PACKET: dict[str, Any] = {"in_": "", "out": "eth0", "src": "10.0.0.1", "dst": "10.0.0.2", "len": 60, "ttl": 64, "ip_id": 1, **V4,
          **udp(1, 2, 40)}


@pytest.mark.parametrize(("line", "header"), [
    (f"[Tue Mar  3 09:14:07 2026] drop: {BODY}", {"header": H.DMESG_T, "time": "Tue Mar  3 09:14:07 2026"}),
    (f"<4>[Tue Mar  3 09:14:07 2026] drop: {BODY}",
     {"header": H.DMESG_T, "time": "Tue Mar  3 09:14:07 2026", "priority": 4}),
    (f"Mar 03 09:14:07.123456 node-a kernel: drop: {BODY}",  # journalctl -o short-precise
     {"header": H.RFC3164, "time": "Mar 03 09:14:07.123456", "host": "node-a"}),
    (f"Mar 3 09:14:07 node-a kernel: drop: {BODY}", {"header": H.RFC3164, "time": "Mar 3 09:14:07", "host": "node-a"}),
    (f"2026-03-03T09:14:07+0100 node-a kernel: drop: {BODY}",  # journalctl -o short-iso
     {"header": H.RFC3339, "time": "2026-03-03T09:14:07+0100", "host": "node-a"}),
    (f"2026-03-03T09:14:07Z node-a fw[12]: drop: {BODY}", {"header": H.RFC3339, "time": "2026-03-03T09:14:07Z",
                                                            "host": "node-a"}),
    (f"[ 8812.402113] node-a kernel: drop: {BODY}",  # journalctl -o short-monotonic
     {"header": H.DMESG, "uptime": 8812.402113, "host": "node-a"}),
    (f"[    1.500000][  T812] drop: {BODY}", {"header": H.DMESG, "uptime": 1.5, "caller": "T812"}),
    (f"6,1,2500000,c,more;drop: {BODY}", {"header": H.KMSG, "priority": 6, "seq": 1, "uptime": 2.5}),
])
def test_header_shapes(line: str, header: dict[str, Any]) -> None:
    assert parse_line(line) == rec(**header, prefix_raw="drop: ", prefix="drop", **PACKET)


def test_journald_json() -> None:
    entry = {"__REALTIME_TIMESTAMP": "1772529261804233", "_HOSTNAME": "node-b", "PRIORITY": "5",
             "_SOURCE_MONOTONIC_TIMESTAMP": "9200118540", "SYSLOG_IDENTIFIER": "kernel",
             "MESSAGE": f"calico-drop LOGandDROP: {BODY}"}
    expected = rec(header=H.JSON, time="2026-03-03T09:14:21.804233+00:00", host="node-b", priority=5,
                   uptime=9200.11854, prefix_raw="calico-drop LOGandDROP: ", prefix="calico-drop LOGandDROP",
                   kind=K.OVERRIDE_DROP, **PACKET)
    assert parse_line(json.dumps(entry)) == expected
    # journald writes a message that is not UTF-8 as a list of bytes; a shipper may write `message`.
    raw = list(f"calico-drop LOGandDROP: {BODY}".encode())
    assert parse_line(json.dumps({**entry, "MESSAGE": raw})) == expected
    assert parse_line(json.dumps({"message": f"x: {BODY}", "host": "h", "@timestamp": "t"})) == rec(
        header=H.JSON, time="t", host="h", prefix_raw="x: ", prefix="x", **PACKET)
    for other in ('{"MESSAGE": 5}', "{not json", "[1, 2]", '{"a": "IN= OUT="}', '{"MESSAGE": [300]}'):
        assert parse_line(other) is None


def test_a_tag_other_than_kernel_directly_before_the_body_is_the_prefix() -> None:
    assert parse_line(f"Mar  3 09:14:07 node-a fw: {BODY}") == rec(
        header=H.RFC3164, time="Mar  3 09:14:07", host="node-a", prefix_raw="fw: ", prefix="fw", **PACKET)
    assert parse_line(f"Mar  3 09:14:07 node-a fw: drop: {BODY}") == rec(
        header=H.RFC3164, time="Mar  3 09:14:07", host="node-a", prefix_raw="drop: ", prefix="drop", **PACKET)
    assert parse_line(f"Mar  3 09:14:07 node-a kernel: {BODY}") == rec(
        header=H.RFC3164, time="Mar  3 09:14:07", host="node-a", prefix_raw="", prefix="", **PACKET)


# --- prefix -------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "prefix"), [
    ("", ""), ("calico-drop: ", "calico-drop"), ('"edge-drop: "', "edge-drop"), ('  " a: " : ', '" a: "'),
    ("a::", "a:"), ('"', '"'), ('""', ""), ("[EDGE-7-D]", "[EDGE-7-D]"), ("  x  ", "x"),
])
def test_normalised_prefix(raw: str, prefix: str) -> None:
    assert normalise_prefix(raw) == prefix


@pytest.mark.parametrize(("override", "log_action", "kind"), [
    ("LogAndDrop", False, K.OVERRIDE), ("LogAndAccept", False, K.OVERRIDE),
    ("LogAndDrop", True, K.OVERRIDE_DROP), ("LogAndAccept", True, K.OVERRIDE_ACCEPT),
])
def test_the_prefixes_tortie_writes_are_classified(override: str, log_action: bool, kind: PrefixKind) -> None:
    settings = settings_for("n1", {"dropActionOverride": override, "logDropActionOverride": log_action})
    record = parse_line(settings.drop_log_prefix + BODY)
    assert record is not None and record.kind == kind


@pytest.mark.parametrize(("message", "start"), [
    ("IN= OUT=", 0), ("IN= OUT= ", 0), ("x IN=a OUT=b c", 2), ("IN-wan: IN=a OUT=", 8), ("aIN=x OUT=y IN=a OUT=", 12),
    ("PHYSIN=a OUT=b", -1), ("IN=a OUTX=b", -1), ("IN=a OUT=b\tc", -1), ("IN=a b OUT=c IN=d OUT=e", 13),
    ("_IN=a OUT=b", -1), ("-IN=a OUT=b", 1),
])
def test_where_the_body_starts(message: str, start: int) -> None:
    assert body_start(message) == start


# --- body ---------------------------------------------------------------------------

HEAD = "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 "
IP: dict[str, Any] = {"in_": "eth0", "out": "", "src": "10.0.0.1", "dst": "10.0.0.2", "len": 60, "ttl": 64, "ip_id": 1, **V4}


@pytest.mark.parametrize(("body", "fields"), [
    # cut inside a section
    ("IN=eth0 OUT= MAC=aa:bb", {"in_": "eth0", "out": "", "mac": "aa:bb", "partial": True}),
    ("IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LE", {"in_": "eth0", "out": "", "src": "10.0.0.1", "dst": "10.0.0.2",
                                                 "family": 4, "extra": ("LE",), "partial": True}),
    (HEAD + "PROTO=TCP SPT=1 DPT=2 WINDOW=3 RES=0x00 SYN", {**IP, "proto": "TCP", "spt": 1, "dpt": 2, "window": 3,
                                                          "res": 0, "tcp_flags": ("SYN",), "partial": True}),
    (HEAD + "PROTO=UDP SPT=1 DPT=2 LEN=", {**IP, "proto": "UDP", "spt": 1, "dpt": 2, "extra": ("LEN=",),
                                          "partial": True}),
    (HEAD + "PROTO=ICMP TYPE=3 CODE=1 [SRC=10.0.0.2 DST=10.0.0.1 LEN=60",
     {**IP, "proto": "ICMP", "icmp_type": 3, "icmp_code": 1,
      "inner": Packet(src="10.0.0.2", dst="10.0.0.1", len=60, family=4), "partial": True}),
    (HEAD + "PROTO=ICMP TYPE=3 CODE=1", {**IP, "proto": "ICMP", "icmp_type": 3, "icmp_code": 1, "partial": True}),
    (HEAD + "PROTO=TCP SPT=1 DPT=2 WINDOW=3 RES=0x00 URGP=0 OPT (0204", {
        **IP, "proto": "TCP", "spt": 1, "dpt": 2, "window": 3, "res": 0, "urgp": 0, "extra": ("OPT (0204",),
        "partial": True}),
    (HEAD + "PROTO=TCP SPT=1 DPT=2 WINDOW=3 RES=0x00 URGP=0 UID=5", {
        **IP, "proto": "TCP", "spt": 1, "dpt": 2, "window": 3, "res": 0, "urgp": 0, "uid": 5, "partial": True}),
    # complete as printed
    (HEAD + "PROTO=TCP INCOMPLETE [8 bytes] ", {**IP, "proto": "TCP", "incomplete": 8}),
    (HEAD + "PROTO=ICMP TYPE=3 CODE=1 [TRUNCATED] ", {**IP, "proto": "ICMP", "icmp_type": 3, "icmp_code": 1,
                                                     "inner": Packet(truncated=True)}),
    (HEAD + "PROTO=ICMP TYPE=11 CODE=0 [SRC=10.0.0.2 DST=10.0.0.1 LEN=60 TC=0 HOPLIMIT=1 FLOWLBL=0 TRUNCATED] ",
     {**IP, "proto": "ICMP", "icmp_type": 11, "icmp_code": 0,
      "inner": Packet(src="10.0.0.2", dst="10.0.0.1", len=60, tc=0, hoplimit=1, flowlbl=0, family=6,
                      truncated=True)}),
    ("IN=eth0 OUT= MAC=aa TRUNCATED", {"in_": "eth0", "out": "", "mac": "aa", "truncated": True}),
    ("IN=eth0 OUT= ARP HTYPE=1 PTYPE=0x0800", {"in_": "eth0", "out": "", "extra": ("ARP", "HTYPE=1", "PTYPE=0x0800")}),
    (HEAD + "OPT (07270400) PROTO=UDP SPT=1 DPT=2 LEN=8", {**IP, "ip_opt": "07270400", **udp(1, 2, 8)}),
    (HEAD + "MF FRAG:3 PROTO=6 ", {**IP, "ip_flags": ("MF",), "frag": 3, "proto": "6"}),
    (HEAD + "PROTO=ICMP TYPE=5 CODE=1 GATEWAY=10.0.0.9 [SRC=1.2.3.4 DST=5.6.7.8 LEN=20 TOS=0x00 PREC=0x00 TTL=1 ID=2 "
     "PROTO=47 ] ", {**IP, "proto": "ICMP", "icmp_type": 5, "icmp_code": 1, "gateway": "10.0.0.9",
                     "inner": Packet(src="1.2.3.4", dst="5.6.7.8", len=20, ttl=1, ip_id=2, **V4, proto="47")}),
    (HEAD + "PROTO=ICMP TYPE=12 CODE=0 PARAMETER=20 [SRC=1.2.3.4 DST=5.6.7.8 LEN=20 TOS=0x00 PREC=0x00 TTL=1 ID=2 "
     "PROTO=47 ] ", {**IP, "proto": "ICMP", "icmp_type": 12, "icmp_code": 0, "parameter": 20,
                     "inner": Packet(src="1.2.3.4", dst="5.6.7.8", len=20, ttl=1, ip_id=2, **V4, proto="47")}),
    ("IN=eth0 OUT= SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0000:0000:0000:0000:0000:0002 LEN=1280 "
     "TC=0 HOPLIMIT=64 FLOWLBL=0 FRAG:1232 ID:0000abcd PROTO=UDP ",
     {"in_": "eth0", "out": "", "src": "2001:0db8:0000:0000:0000:0000:0000:0001",
      "dst": "2001:0db8:0000:0000:0000:0000:0000:0002", "len": 1280, "hoplimit": 64, "flowlbl": 0, **V6,
      "ext": ("FRAG:1232", "ID:0000abcd"), "proto": "UDP"}),
    ("IN=eth0 OUT= SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0000:0000:0000:0000:0000:0002 LEN=1280 "
     "TC=0 HOPLIMIT=64 FLOWLBL=0 OPT ( Unknown Ext Hdr 99",
     {"in_": "eth0", "out": "", "src": "2001:0db8:0000:0000:0000:0000:0000:0001",
      "dst": "2001:0db8:0000:0000:0000:0000:0000:0002", "len": 1280, "hoplimit": 64, "flowlbl": 0, **V6,
      "ext": ("OPT ( Unknown Ext Hdr 99",), "partial": True}),
    ("IN=eth0 OUT= SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0000:0000:0000:0000:0000:0002 LEN=1280 "
     "TC=0 HOPLIMIT=64 FLOWLBL=0 Unknown Ext Hdr 99",
     {"in_": "eth0", "out": "", "src": "2001:0db8:0000:0000:0000:0000:0000:0001",
      "dst": "2001:0db8:0000:0000:0000:0000:0000:0002", "len": 1280, "hoplimit": 64, "flowlbl": 0, **V6,
      "ext": ("Unknown", "Ext", "Hdr", "99")}),
    (HEAD + "PROTO=ICMPv6 TYPE=4 CODE=0 POINTER=00000028 [SRC=a DST=b PROTO=58 ] MTU=9 ",
     {**IP, "proto": "ICMPv6", "icmp_type": 4, "icmp_code": 0, "pointer": 0x28, "mtu": 9,
      "inner": Packet(src="a", dst="b", proto="58")}),
    # unknown tokens, repeated keys, values that do not read: kept in extra, in order
    (HEAD + "PROTO=TCP SPT=1 DPT=2 SEQ=5 ACK=6 WINDOW=3 RES=0x00 ACK ACK LEN=9 ID=x URGP=0 ZZZ=1 ",
     {**IP, **tcp(1, 2, 3, ("ACK",)), "tcp_seq": 5, "tcp_ack": 6, "extra": ("ACK", "LEN=9", "ID=x", "ZZZ=1")}),
    ("IN=eth0 OUT= VPROTO=0x8100 VID=5 SRC=10.0.0.1 DST=10.0.0.2 LEN=x TOS=0x00 PREC=0x00 TTL=64 ID=1 "
     "PROTO=UDP SPT=1 DPT=2 LEN=8 MARK=0x1 MARK=0x2",
     {**{k: v for k, v in IP.items() if k != "len"}, "extra": ("VPROTO=0x8100", "VID=5", "LEN=x", "MARK=0x2"),
      **udp(1, 2, 8), "mark": 1}),
])
def test_bodies(body: str, fields: dict[str, Any]) -> None:
    assert parse_line("x: " + body) == rec(prefix_raw="x: ", prefix="x", **fields)


# --- generated lines round-trip to the same record -----------------------------------

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
WORD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
names = st.text("abcdefghijklmnopqrstuvwxyz0123456789.-_@", min_size=0, max_size=15)
u8 = st.integers(0, 255)
u16 = st.integers(0, 65535)
u32 = st.integers(0, 2**32 - 1)
ipv4 = st.tuples(u8, u8, u8, u8).map(lambda t: ".".join(map(str, t)))
ipv6 = st.lists(u16, min_size=8, max_size=8).map(lambda g: ":".join(f"{x:04x}" for x in g))
mac = st.lists(u8, min_size=0, max_size=20).map(lambda b: ":".join(f"{x:02x}" for x in b))
prefix_text = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85"),
                      max_size=20)
LOOKS_LIKE_HEADER = re.compile(r"[{<0-9]|\[|[A-Z][a-z]{2} ")
SPEC_BODY = re.compile(r"(?<![A-Za-z0-9_])IN=\S* OUT=\S*(?: |$)")  # kernel-log.md §2, written out again


@st.composite
def prefixes(draw: st.DrawFn) -> tuple[str, str]:
    """(prefix_raw, prefix): spaces, quotes, `IN` inside, a colon or not, glued or not, or none at all."""
    core = draw(st.one_of(st.sampled_from(["calico-drop", "calico-drop LOGandDROP", "calico-drop LOGandACCEPT",
                                           "calico-packet", "IN-wan", "a IN b", "[UFW BLOCK]", "gnp.allow-ping",
                                           "TRACE: raw:PREROUTING:rule:2", 'DESCR="x y"', "IN", ""]),
                          prefix_text.map(str.strip)))
    assume(not (core.endswith((":", '"')) or core.startswith('"')))
    if not core:
        return "", ""
    colon, quoted = draw(st.booleans()), draw(st.booleans())
    text = core + (":" if colon else "") + draw(st.sampled_from(["", " "]))
    raw = draw(st.sampled_from(["", " ", "  "])) + (f'"{text}"' if quoted else text) + draw(st.sampled_from(["", " "]))
    assume(raw[-1] not in WORD_CHARS)
    return raw, core


@st.composite
def packets(draw: st.DrawFn, inner: bool = False) -> tuple[list[list[str]], dict[str, Any]]:
    """The IP and protocol sections of a packet the kernel could log: (sections as token lists, fields)."""
    family = draw(st.sampled_from([4, 6]))
    src, dst = (draw(ipv4), draw(ipv4)) if family == 4 else (draw(ipv6), draw(ipv6))
    length = draw(u16)
    f: dict[str, Any] = {"family": family, "src": src, "dst": dst, "len": length}
    ip = [f"SRC={src}", f"DST={dst}", f"LEN={length}"]
    if family == 4:
        f |= {"tos": draw(u8), "prec": draw(u8), "ttl": draw(u8), "ip_id": draw(u16)}
        ip += [f"TOS=0x{f['tos']:02X}", f"PREC=0x{f['prec']:02X}", f"TTL={f['ttl']}", f"ID={f['ip_id']}"]
        flags = tuple(x for x in ("CE", "DF", "MF") if draw(st.booleans()))
        if flags:
            f["ip_flags"] = flags
        ip_bare = list(flags)
    else:
        f |= {"tc": draw(u8), "hoplimit": draw(u8), "flowlbl": draw(st.integers(0, 2**20 - 1))}
        ip += [f"TC={f['tc']}", f"HOPLIMIT={f['hoplimit']}", f"FLOWLBL={f['flowlbl']}"]
        ip_bare = []
    proto = draw(st.sampled_from(["TCP", "UDP", "UDPLITE", "ICMP", "47"]))
    if proto == "ICMP" and family == 6:
        proto = "ICMPv6"
    f["proto"] = proto
    section = [f"PROTO={proto}"]
    bare: list[str] = []
    if proto == "TCP":
        f |= {"spt": draw(u16), "dpt": draw(u16), "window": draw(u16), "res": draw(st.integers(0, 15)),
              "urgp": draw(u16)}
        section += [f"SPT={f['spt']}", f"DPT={f['dpt']}"]
        if draw(st.booleans()):
            f |= {"tcp_seq": draw(u32), "tcp_ack": draw(u32)}
            section += [f"SEQ={f['tcp_seq']}", f"ACK={f['tcp_ack']}"]
        section += [f"WINDOW={f['window']}", f"RES=0x{f['res']:02x}", f"URGP={f['urgp']}"]
        flags = tuple(x for x in ("CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN") if draw(st.booleans()))
        if flags:
            f["tcp_flags"] = flags
        bare = list(flags)
    elif proto in ("UDP", "UDPLITE"):
        f |= {"spt": draw(u16), "dpt": draw(u16), "udp_len": draw(u16)}
        section += [f"SPT={f['spt']}", f"DPT={f['dpt']}", f"LEN={f['udp_len']}"]
    elif proto.startswith("ICMP"):
        echo = 8 if proto == "ICMP" else 128
        kind = draw(st.sampled_from([echo, 3, 11]) if not inner else st.just(echo))
        f |= {"icmp_type": kind, "icmp_code": draw(st.integers(0, 3))}  # not 3/4, which adds an MTU
        section += [f"TYPE={kind}", f"CODE={f['icmp_code']}"]
        if kind == echo:
            f |= {"icmp_id": draw(u16), "icmp_seq": draw(u16)}
            section += [f"ID={f['icmp_id']}", f"SEQ={f['icmp_seq']}"]
        else:
            sections, inner_fields = draw(packets(inner=True))
            f["inner"] = Packet(**inner_fields)
            bare = ["[" + " ".join(in_kernel_order(*sections)) + " ]"]
    return [ip, ip_bare, section, bare], f


def in_kernel_order(ip: list[str], ip_bare: list[str], proto: list[str], proto_bare: list[str]) -> list[str]:
    """A packet's tokens as the kernel prints them: TCP's flags go before URGP."""
    if proto[0] == "PROTO=TCP":
        return ip + ip_bare + proto[:-1] + proto_bare + proto[-1:]
    return ip + ip_bare + proto + proto_bare


@st.composite
def lines(draw: st.DrawFn, kernel_order: bool | None = None, trailer: bool = True) -> tuple[str, LogRecord]:
    """A LOG line in one of the header shapes, and the record it holds. Keys are shuffled within
    each section unless `kernel_order`; bare tokens stay after their section's first key. With
    `trailer` false: no UID, GID or MARK, and not JSON (the body ends the line)."""
    sections, f = draw(packets())
    f |= {"in_": draw(names), "out": draw(names)}
    link = []
    for key in ("physin", "physout", "mac"):
        if draw(st.booleans()):
            f[key] = draw(mac if key == "mac" else names)
            link.append(f"{key.upper()}={f[key]}")
    tail = []
    if trailer and draw(st.booleans()):
        f |= {"uid": draw(u32), "gid": draw(u32)}
        tail += [f"UID={f['uid']}", f"GID={f['gid']}"]
    if trailer and draw(st.booleans()):
        f["mark"] = draw(st.integers(1, 2**32 - 1))
        tail.append(f"MARK=0x{f['mark']:x}")
    ip, ip_bare, proto, proto_bare = sections
    shuffle = not kernel_order if kernel_order is not None else draw(st.booleans())
    if shuffle:
        link, ip, tail = draw(st.permutations(link)), draw(st.permutations(ip)), draw(st.permutations(tail))
        proto = proto[:1] + list(draw(st.permutations(proto[1:])))
        proto_bare = list(draw(st.permutations(proto_bare)))
        proto = proto[:1] + proto_bare + proto[1:] if draw(st.booleans()) else proto + proto_bare
        packet = ip + ip_bare + proto
    else:
        packet = in_kernel_order(ip, ip_bare, proto, proto_bare)
    body = " ".join([f"IN={f['in_']}", f"OUT={f['out']}", *link, *packet, *tail])
    body += draw(st.sampled_from(["", " "]))
    raw, prefix = draw(prefixes())
    found = SPEC_BODY.search(raw + body)
    assume(found is not None and found.start() == len(raw))
    header, fields, message = draw(headers(raw + body, json=trailer))
    # Prefixes that the header before them would take as its own (the header wins).
    shape = fields["header"]
    if shape in (H.RFC3164, H.RFC3339):
        if "tag" not in fields:
            assume(not re.match(r"kernel: |[\w./-]+(\[[0-9]+\])?: .", raw))
        if "uptime" not in fields:
            assume(not re.match(r"\[ *[0-9]{1,12}\.[0-9]", raw))
    if shape in (H.RFC3164, H.RFC3339, H.DMESG) and "caller" not in fields:
        assume(not re.match(r"\[ *[CT][0-9]", raw))
    if shape == H.DMESG:
        assume(not re.match(r"\S+ kernel: ", raw))
    if shape == H.NONE:
        assume(not LOOKS_LIKE_HEADER.match(raw))
    fields.pop("tag", None)
    kind = {"calico-drop": K.OVERRIDE, "calico-drop LOGandDROP": K.OVERRIDE_DROP,
            "calico-drop LOGandACCEPT": K.OVERRIDE_ACCEPT}.get(prefix, K.OTHER)
    trace = {"trace": True} if prefix.startswith("TRACE:") else {}
    return header + message, rec(**fields, prefix_raw=raw, prefix=prefix, kind=kind, **trace, **f)


@st.composite
def headers(draw: st.DrawFn, message: str, json: bool = True) -> tuple[str, dict[str, Any], str]:
    """(header text, the fields it gives, the message as the header shape carries it)."""
    shape = draw(st.sampled_from([s for s in HeaderShape if json or s != H.JSON]))
    seconds, micros = draw(st.integers(0, 10**7)), draw(st.integers(0, 999999))
    uptime = f"{seconds}.{micros:06d}"
    host = draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=12))
    clock = f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:{draw(st.integers(0, 59)):02d}"
    f: dict[str, Any] = {"header": shape}
    if shape == H.JSON:
        usec = draw(st.integers(0, 2**50))
        text = dumps({"__REALTIME_TIMESTAMP": str(usec), "_HOSTNAME": host, "MESSAGE": message})
        time = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=usec)).isoformat()
        return text, f | {"time": time, "host": host}, ""
    if shape == H.KMSG:
        prio, seq, usec = draw(u8), draw(u32), draw(st.integers(0, 10**12))
        return f"{prio},{seq},{usec},-;", f | {"priority": prio, "seq": seq, "uptime": usec / 1e6}, message
    if shape == H.DMESG_T:
        time = f"Tue {draw(st.sampled_from(MONTHS))} {draw(st.integers(1, 31)):>2} {clock} 2026"
        return f"[{time}] ", f | {"time": time}, message
    if shape == H.DMESG:
        text = f"[{uptime:>12}] "
        f["uptime"] = float(uptime)
        if draw(st.booleans()):
            f["priority"] = draw(st.integers(0, 191))
            text = f"<{f['priority']}>" + text
        return text, f, message
    if shape == H.NONE:
        return "", f, message
    if shape == H.RFC3164:
        time = f"{draw(st.sampled_from(MONTHS))} {draw(st.integers(1, 31)):>2} {clock}"
    else:
        time = f"2026-03-{draw(st.integers(1, 31)):02d}T{clock}.{micros:06d}{draw(st.sampled_from(['Z', '+01:00']))}"
    tag = draw(st.sampled_from(["kernel: ", "fw[12]: ", ""]))
    text = f"{time} {host} {tag}"
    f |= {"time": time, "host": host}
    if tag:
        f["tag"] = tag
    if draw(st.booleans()):
        text += f"[{uptime:>12}] "
        f["uptime"] = float(uptime)
        if draw(st.booleans()):
            f["caller"] = f"C{draw(st.integers(0, 64))}"
            text = text[:-1] + f"[{f['caller']:>6}] "
    elif tag == "fw[12]: ":
        assume(not message.startswith("IN="))  # fw[12]: right before the body is the prefix
    return text, f, message


@settings(max_examples=examples(400))
@given(lines())
def test_generated_lines_round_trip(case: tuple[str, LogRecord]) -> None:
    line, expected = case
    assert parse_line(line) == expected


@settings(max_examples=examples(300))
@given(lines(kernel_order=True))
def test_the_fast_path_and_the_token_parser_agree(case: tuple[str, LogRecord]) -> None:
    line, expected = case
    d: dict[str, Any] = {}
    message, start = read_header(line, d)
    i = body_start(message, start)
    by_tokens: dict[str, Any] = {}
    parse_body(message, i, by_tokens)
    fast: dict[str, Any] = {}
    if parse_fast_body(message, i, fast):
        assert fast == by_tokens
    record = parse_fast_line(line)
    assert record is None or record == expected


def test_the_fast_path_takes_the_common_lines() -> None:
    for line, _ in [SPEC["rfc3164 uptime"], SPEC["echo with a repeated ID"], SPEC["ipv6 with caller id"],
                    SPEC["journald message"], SPEC["socket owner"]]:
        assert parse_fast_line(line) == parse_line(line)


@settings(max_examples=examples(300))
@given(lines(kernel_order=True, trailer=False), st.data())
def test_a_line_cut_before_its_last_field_is_partial(case: tuple[str, LogRecord], data: st.DataObject) -> None:
    line, _ = case
    found = SPEC_BODY.search(line)
    assert found is not None
    start, last = found.end(), line.rstrip().rindex(" ")  # after IN= OUT=, and where the last field starts
    cut = line[:data.draw(st.integers(start, last))]
    assume(not re.search(r"PROTO=[0-9]+$", cut))  # PROTO=4 may be all there was
    record = parse_line(cut)
    assert record is not None and record.partial


@settings(max_examples=examples(500))
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
                 st.tuples(lines(), st.integers(0, 400), st.text(max_size=5)).map(
                     lambda t: t[0][0][:t[1]] + t[2] + t[0][0][t[1]:]),
                 st.lists(st.sampled_from(["IN=", " OUT=", "[", "]", "OPT", " (", ")", "INCOMPLETE", "PROTO=ICMP",
                                           " ", "SRC=1.2.3.4", "TYPE=3", "{", '"MESSAGE":', "x", "bytes]", "[8",
                                           "TRUNCATED", "=", "LEN=", "\x00", "\ufffd", "MARK=0x"]),
                          max_size=40).map("".join)))
def test_garbage_never_raises(line: str) -> None:
    record = parse_line(line)
    assert record is None or isinstance(record, LogRecord)
    if record is not None:
        json.dumps(record.to_json())


def test_deep_brackets_and_huge_numbers() -> None:
    body = "IN= OUT= SRC=1 DST=2 LEN=" + "9" * 5000 + " PROTO=ICMP TYPE=3 CODE=0 " + "[" * 20000 + "]" * 20000
    record = parse_line(body)
    assert record is not None and record.len is None and record.inner is not None
    assert parse_line('{"MESSAGE": ' + "[" * 100000 + "}") is None
    assert parse_line("5," + "9" * 5000 + ",1,-;x IN= OUT=") is not None


# --- the stream ---------------------------------------------------------------------

def test_the_stream_skips_and_counts() -> None:
    log = "\r\n".join([
        SPEC["rfc3164 uptime"][0],
        "Mar  3 09:14:07 node-a systemd[1]: Started Session 5.",
        "",
        " OUT=eth0 SRC=10.0.0.1 DST=10.0.0.2 LEN=60",
        SPEC["kmsg fragment"][0],
    ]).encode() + b"\nbin\x00ary\n\xff\xfe IN= x\nx" + b"y" * (MAX_LINE + 10) + b"\n" + b"d: \xe9" + BODY.encode()
    summary = Summary()
    records = list(read_records(io.BytesIO(log), summary))
    assert records == [SPEC["rfc3164 uptime"][1], SPEC["kmsg fragment"][1],
                       rec(prefix_raw="d: \ufffd", prefix="d: \ufffd", **PACKET)]
    assert (summary.lines, summary.records, summary.partial) == (9, 3, 0)
    assert summary.skipped == {SkipReason.NOT_LOG: 2, SkipReason.CUT: 1, SkipReason.BINARY: 2,
                               SkipReason.TOO_LONG: 1}


def test_a_line_exactly_at_the_limit_is_read() -> None:
    line = b"x: " + BODY.encode() + b" " * (MAX_LINE - 3 - len(BODY)) + b"\n"
    assert len(line) == MAX_LINE + 1
    summary = Summary()
    assert len(list(read_records(io.BytesIO(line + line[:-1]), summary))) == 2
    assert (summary.lines, summary.records) == (2, 2)


# --- tortie logs parse ----------------------------------------------------------------

def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    return run_cli(["logs", "parse", *args], datastore=None, stdin=stdin)


def test_cli_json_lines() -> None:
    code, out, err = run("-o", "json", str(LINES_FILE))
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [r.to_json() for r in WILD if r is not None]
    assert err == "logs parse: 30 lines: 29 LOG lines (1 cut short), 1 skipped (1 cut before IN=)\n"
    first = json.loads(out.splitlines()[0])
    assert list(first)[:10] == ["header", "time", "host", "uptime", "prefixRaw", "prefix", "kind", "in", "out", "mac"]
    assert first["kind"] == "override" and first["srcCanonical"] == "198.51.100.1" and first["mark"] == 0xA000000
    v6 = json.loads(out.splitlines()[6])
    assert (v6["srcCanonical"], v6["dstCanonical"], v6["udpLen"]) == ("fe80::bbb1:96ae:416a:d4b2", "ff02::fb", 45)
    icmp = json.loads(out.splitlines()[15])
    assert (icmp["icmpType"], icmp["icmpCode"], icmp["inner"]["dpt"], icmp["inner"]["udpLen"]) == (3, 3, 62936, 40)


def test_cli_text() -> None:
    lines = [SPEC[name][0] for name in ("rfc3164 uptime", "ipv6 with caller id", "fragmentation needed")]
    lines.append("calico-drop: IN=eth0\x1b[31m OUT= SRC=1.2.3.4 DST=5.6.7.8")
    code, out, err = run(stdin="\n".join(lines).encode())
    assert code == 0
    assert out.splitlines() == [
        'Mar  3 09:14:07 node-a "calico-drop" override TCP 10.65.3.14:43822 > 198.51.100.40:443 SYN len=60 ttl=63 '
        "in=cali7f3e2a91c0d out=eth0 mark=0x40000",
        'Mar  3 09:16:40 node-c "calico-drop" override TCP [2001:db8::9]:48810 > [fd00:65:0:3::14]:8080 SYN len=80 '
        "ttl=63 in=eth0 out=cali5c0de11a2b3 mark=0x40000",
        '[9121.002114] - "calico-drop" override ICMP 198.51.100.1 > 10.65.3.20 type=3 code=4 mtu=1400 len=56 ttl=254 '
        "[TCP 10.65.3.20 > 203.0.113.50 incomplete=8 len=1500 ttl=63] in=eth0 out=cali2b9d04e6a11",
        '- - "calico-drop" override - 1.2.3.4 > 5.6.7.8 in=eth0\\x1b[31m out= partial',
    ]
    assert err == "logs parse: 4 lines: 4 LOG lines (1 cut short), 0 skipped\n"


def test_cli_bad_inputs(tmp_path: Path) -> None:
    good = tmp_path / "good.log"
    good.write_text(SPEC["rfc3164 uptime"][0] + "\n")
    code, out, err = run(str(tmp_path / "missing.log"), str(tmp_path), str(good))
    assert code == 1
    assert len(out.splitlines()) == 1  # the good file is still parsed
    assert err.splitlines() == [f"logs parse: {tmp_path / 'missing.log'}: no such file",
                                f"logs parse: {tmp_path}: is a directory",
                                "logs parse: 1 line: 1 LOG line, 0 skipped"]
    code, out, err = run(stdin=bytes(range(256)) * 50)
    assert (code, out) == (0, "")
    assert err == "logs parse: 51 lines: 0 LOG lines, 51 skipped (51 binary)\n"


# Runs the command in a process of its own and adds its peak memory to stderr (VmHWM: the
# high-water mark of this process's own memory, which ru_maxrss is not after a fork).
PEAK = """
import re, sys
from tortie.ctl.main import main
code = main(sys.argv[1:])
print(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read())[1], file=sys.stderr)
sys.exit(code)
"""


def test_cli_two_gigabytes_in_constant_memory(tmp_path: Path) -> None:
    """A 2 GiB file (sparse: all NUL bytes, one line) is read through in 64 KiB pieces."""
    big = tmp_path / "big.log"
    with big.open("wb") as f:
        f.truncate(2 * 1024**3)
        f.seek(0, os.SEEK_END)
        f.write(b"\n" + SPEC["rfc3164 uptime"][0].encode() + b"\n")
    proc = subprocess.run([sys.executable, "-c", PEAK, "logs", "parse", "-o", "json", str(big)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == SPEC["rfc3164 uptime"][1].to_json()
    summary, peak_kib = proc.stderr.splitlines()
    assert summary == "logs parse: 2 lines: 1 LOG line, 1 skipped (1 too long)"
    assert int(peak_kib) < 100 * 1024


def test_cli_closed_pipe_and_exit_statuses(tmp_path: Path) -> None:
    log = tmp_path / "many.log"
    log.write_text((SPEC["rfc3164 uptime"][0] + "\n") * 50000)
    proc = subprocess.run(f"{TORTIE} logs parse {log} | head -1; echo status=${{PIPESTATUS[0]}}", shell=True,
                          executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines()[1] == "status=0"
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("logs parse: ")
    proc = subprocess.run([TORTIE, "logs", "parse", "--output", "yaml"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr


def test_cli_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    log = tmp_path / "many.log"
    log.write_text((SPEC["rfc3164 uptime"][0] + "\n") * 20000)
    code, _, text = run_on_terminal(["logs", "parse", str(log)])
    assert code == 0
    assert "parsing" in text and "100%" in text
    assert text.rstrip().endswith("logs parse: 20,000 lines: 20,000 LOG lines, 0 skipped")


@settings(max_examples=examples(200))
@given(st.binary(max_size=2000))
def test_any_bytes_through_the_stream(data: bytes) -> None:
    summary = Summary()
    records = list(read_records(io.BytesIO(data), summary))
    assert summary.records == len(records)
    assert summary.lines == summary.records + sum(summary.skipped.values())
