"""The NFLOG message parser and the header helpers, on messages built here as the kernel builds them."""

from __future__ import annotations

import ipaddress
import socket
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from tortie.collector import NflogParser, flow_of, ip_length, source_address
from tortie.core import ICMP, ICMPV6, PORT_PROTOCOLS, protocol
from tortie.collector.nflog import NFULA_PAYLOAD, NFULA_PREFIX, NFULA_SEQ, NFULNL_MSG_PACKET, _attribute

from .profiles import examples


def message(group: int, prefix: bytes, payload: bytes, seq: int | None) -> bytes:
    attributes = _attribute(1, struct.pack("!HBx", 0x0800, 1)) + _attribute(NFULA_PREFIX, prefix + b"\0")
    attributes += _attribute(NFULA_PAYLOAD, payload)
    if seq is not None:
        attributes += _attribute(NFULA_SEQ, struct.pack("!I", seq))
    body = struct.pack("=BBH", socket.AF_INET, 0, socket.htons(group)) + attributes
    return struct.pack("=IHHII", 16 + len(body), NFULNL_MSG_PACKET, 0, 0, 0) + body


def ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: int, protocol: int = 17) -> bytes:
    return (struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + payload, 1, 0, 64, protocol, 0, socket.inet_aton(src),
                        socket.inet_aton(dst)) + struct.pack("!HHHH", sport, dport, 8 + payload, 0))


def ipv6_tcp(src: str, dst: str, sport: int, dport: int, payload: int) -> bytes:
    return (struct.pack("!IHBB16s16s", 6 << 28, 20 + payload, 6, 64, ipaddress.IPv6Address(src).packed,
                        ipaddress.IPv6Address(dst).packed) + struct.pack("!HHII", sport, dport, 0, 0))


def flow(header: bytes) -> tuple[bytes, bytes, int, bytes, int]:
    found = flow_of(header)
    assert found is not None
    return found


def test_a_batch_is_parsed_and_gaps_are_counted() -> None:
    header4 = ipv4_udp("198.18.0.1", "198.18.0.2", 4000, 53, 10)
    header6 = ipv6_tcp("2001:db8::7", "2001:db8::8", 5000, 443, 0)
    batch = (message(1, b"DPI0|default|x", header4, 10) + message(2, b"DRE0|__NO_MATCH__", header6, 20)
             + message(1, b"DPI0|default|x", header4, 13))
    reader = NflogParser()
    packets = reader.parse(memoryview(batch))
    assert [(g, p) for g, p, _ in packets] == [(1, b"DPI0|default|x"), (2, b"DRE0|__NO_MATCH__"),
                                              (1, b"DPI0|default|x")]
    assert reader.losses.gaps == {1: 2}
    assert ip_length(packets[0][2]) == 38 and ip_length(packets[1][2]) == 60
    assert source_address(packets[1][2]) == ipaddress.IPv6Address("2001:db8::7").packed
    assert flow_of(header4) == (socket.inet_aton("198.18.0.1"), socket.inet_aton("198.18.0.2"), 17,
                                struct.pack("!HH", 4000, 53), 38)
    assert flow(header6)[2:] == (6, struct.pack("!HH", 5000, 443), 60)


def test_every_protocol_with_ports_keeps_them() -> None:
    """UDPLite and SCTP flows keep their ports in the flow log, as in the model (one protocol table)."""
    for number in PORT_PROTOCOLS:
        header = ipv4_udp("198.18.0.1", "198.18.0.2", 4000, 53, 10, number)
        assert flow(header)[2:4] == (number, struct.pack("!HH", 4000, 53)), protocol(number).name
    assert flow(ipv4_udp("198.18.0.1", "198.18.0.2", 4000, 53, 10, 47))[3] == b""  # GRE: no ports


def test_icmp_flows_carry_the_id_and_the_type_and_code() -> None:
    """Calico's stand-ins for ports: the id, and type << 8 | code, for ICMP and ICMPv6."""
    icmp = ipv4_udp("198.18.0.1", "198.18.0.2", 0, 0, 10, ICMP.number)[:20] + struct.pack("!BBHHH", 13, 0, 0, 77, 1)
    assert flow(icmp)[2:4] == (ICMP.number, struct.pack("!HH", 77, 13 << 8))
    icmp6 = ipv6_tcp("2001:db8::7", "2001:db8::8", 0, 0, 0)[:40] + struct.pack("!BBHHH", 128, 0, 0, 9, 1)
    icmp6 = icmp6[:6] + bytes([ICMPV6.number]) + icmp6[7:]
    assert flow(icmp6)[2:4] == (ICMPV6.number, struct.pack("!HH", 9, 128 << 8))
    assert flow(icmp[:22])[3] == b""  # cut short: no ports


@settings(max_examples=examples(300))
@given(st.lists(st.tuples(st.integers(0, 65535), st.binary(max_size=64), st.binary(max_size=80),
                          st.none() | st.integers(0, 2**32 - 1)), max_size=8), st.integers(0, 200))
def test_any_batch_parses_and_a_cut_batch_never_crashes(items: list[tuple[int, bytes, bytes, int | None]], cut: int) -> None:
    batch = b"".join(message(g, p.replace(b"\0", b"_"), h, s) for g, p, h, s in items)
    packets = NflogParser().parse(memoryview(batch))
    assert [(g, p.replace(b"\0", b"_"), h) for g, p, h, _ in items] == packets
    NflogParser().parse(memoryview(batch[:max(0, len(batch) - cut)]))
    for _, _, header in packets:
        flow_of(header)
        ip_length(header)


@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_parser(data: bytes) -> None:
    for _, _, header in NflogParser().parse(memoryview(data)):
        flow_of(header)
