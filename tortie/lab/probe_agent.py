"""The two ends of a probe, run inside namespaces with ``ip netns exec``:

    python -m tortie.lab.probe_agent listen PROTO ADDRESS PORT|ICMPTYPE SECONDS [PEER]
    python -m tortie.lab.probe_agent send PROTO SRC SPORT|ID DST DPORT|ICMPTYPE[/CODE] SECONDS
    python -m tortie.lab.probe_agent blast SRC SPORT DST DPORT COUNT PAYLOAD [FLOWS [udp|udplite]]

PROTO is tcp, udp, udplite, sctp or icmp, ``udp-forged`` (one UDP datagram sent from SRC
whoever owns it, on a raw socket: for anti-spoofing; listen for it as udp), or
``tcp-segment`` and ``tcp-invalid``: one raw
TCP segment (an ACK, for a connection the node's conntrack already knows; or SYN+FIN,
which conntrack calls INVALID) that a raw listener catches before the receiving kernel
answers it. An sctp probe is one INIT chunk sent and caught on raw sockets (no SCTP stack
needed); udplite uses the kernel's UDP-Lite sockets.
``blast`` sends COUNT UDP (or UDP-Lite) datagrams of PAYLOAD bytes as fast as it can, from
FLOWS source ports in turn starting at SPORT (default 1: one flow), and prints how many it sent.
The listener prints READY once bound, then ARRIVED if the probe reached it. The sender
exits 0 when a TCP connection was established (or a packet was sent), 1 otherwise.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import sys
import time

from ..core import SCTP, UDPLITE


def _family(address: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def _icmp_proto(address: str) -> int:
    return socket.IPPROTO_ICMPV6 if ipaddress.ip_address(address).version == 6 else socket.IPPROTO_ICMP


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


TCP_FLAGS = {"tcp-segment": 0x10, "tcp-invalid": 0x03}  # ACK; SYN+FIN
IPPROTO_SCTP, IPPROTO_UDPLITE = SCTP.number, UDPLITE.number


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _sctp_init(sport: int, dport: int) -> bytes:
    """An SCTP packet with one INIT chunk (RFC 9260 §3.3.2), its CRC32c in place."""
    chunk = struct.pack("!BBHIIHHI", 1, 0, 20, 0x7E57, 65535, 1, 1, 1)
    packet = struct.pack("!HHII", sport, dport, 0, 0) + chunk
    return packet[:8] + struct.pack("<I", _crc32c(packet)) + packet[12:]


def _tcp_segment(src: str, dst: str, sport: int, dport: int, flags: int) -> bytes:
    """A TCP header with a valid checksum (over the pseudo header of either family)."""
    header = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0)
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version == 4:
        pseudo = a.packed + b.packed + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    else:
        pseudo = a.packed + b.packed + struct.pack("!I3xB", len(header), socket.IPPROTO_TCP)
    return header[:16] + struct.pack("!H", _checksum(pseudo + header)) + header[18:]


def _forged_udp(src: str, dst: str, sport: int, dport: int) -> bytes:
    """A whole IP packet carrying one UDP datagram from ``src``, whatever the sender's own
    addresses: for a raw socket that sends the header as given (IPPROTO_RAW)."""
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    payload = b"tortie-probe"
    length = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    if a.version == 4:
        pseudo = a.packed + b.packed + struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
        # The kernel fills in the IPv4 header checksum (and the id, left 0 here).
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
                             a.packed, b.packed)
    else:
        pseudo = a.packed + b.packed + struct.pack("!I3xB", length, socket.IPPROTO_UDP)
        header = struct.pack("!IHBB16s16s", 6 << 28, length, socket.IPPROTO_UDP, 64, a.packed, b.packed)
    checksum = _checksum(pseudo + udp) or 0xFFFF  # 0 would mean "no checksum", which IPv6 forbids
    return header + udp[:6] + struct.pack("!H", checksum) + udp[8:]


def listen(proto: str, address: str, port: int, seconds: float, peer: str | None) -> int:
    family = _family(address)
    if proto == "tcp":
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(8)
    elif proto in ("udp", "udplite"):
        sock = socket.socket(family, socket.SOCK_DGRAM, IPPROTO_UDPLITE if proto == "udplite" else 0)
        sock.bind((address, port))
    elif proto in TCP_FLAGS:
        sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
    elif proto == "sctp":
        sock = socket.socket(family, socket.SOCK_RAW, IPPROTO_SCTP)
    else:
        sock = socket.socket(family, socket.SOCK_RAW, _icmp_proto(address))
    print("READY", flush=True)
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], remaining)
        if not ready:
            break
        if proto == "tcp":
            conn, _ = sock.accept()
            conn.close()
            print("ARRIVED", flush=True)
            return 0
        data, source = sock.recvfrom(65535)
        if proto in ("udp", "udplite"):
            print("ARRIVED", flush=True)
            return 0
        header = 20 if family == socket.AF_INET else 0  # raw IPv4 sockets see the IP header
        if proto in TCP_FLAGS or proto == "sctp":
            arrived = len(data) >= header + 4 and struct.unpack("!H", data[header + 2:header + 4])[0] == port
        else:
            arrived = len(data) > header and data[header] == port
        if (peer is None or source[0] == peer) and arrived:
            print("ARRIVED", flush=True)
            return 0
    return 1


def send(proto: str, src: str, sport: int, dst: str, target: str, seconds: float) -> int:
    family = _family(dst)
    if proto == "tcp":
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((src, sport))
        sock.settimeout(seconds)
        try:
            sock.connect((dst, int(target)))
            return 0
        except OSError:
            return 1
        finally:
            sock.close()
    if proto in ("udp", "udplite"):
        sock = socket.socket(family, socket.SOCK_DGRAM, IPPROTO_UDPLITE if proto == "udplite" else 0)
        sock.bind((src, sport))
        sock.sendto(b"tortie-probe", (dst, int(target)))
        return 0
    if proto == "udp-forged":
        sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
        sock.sendto(_forged_udp(src, dst, sport, int(target)), (dst, 0))
        return 0
    if proto == "sctp":
        sock = socket.socket(family, socket.SOCK_RAW, IPPROTO_SCTP)
        sock.bind((src, 0))
        sock.sendto(_sctp_init(sport, int(target)), (dst, 0))
        return 0
    if proto in TCP_FLAGS:
        sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
        sock.bind((src, 0))
        sock.sendto(_tcp_segment(src, dst, sport, int(target), TCP_FLAGS[proto]), (dst, 0))
        return 0
    kind, _, code = target.partition("/")
    sock = socket.socket(family, socket.SOCK_RAW, _icmp_proto(dst))
    sock.bind((src, 0))
    body = struct.pack("!HH", sport, 1) + b"tortie-probe"
    packet = struct.pack("!BBH", int(kind), int(code or 0), 0) + body
    if family == socket.AF_INET:  # the kernel computes ICMPv6 checksums itself
        packet = packet[:2] + struct.pack("!H", _checksum(packet)) + packet[4:]
    sock.sendto(packet, (dst, 0))
    return 0


def blast(src: str, sport: int, dst: str, dport: int, count: int, payload: int, flows: int,
          proto: str = "udp") -> int:
    family = _family(dst)
    sockets = []
    for i in range(flows):
        sock = socket.socket(family, socket.SOCK_DGRAM, IPPROTO_UDPLITE if proto == "udplite" else 0)
        sock.bind((src, sport + i))
        sockets.append(sock)
    data, target = b"x" * payload, (dst, dport)
    for i in range(count):
        sockets[i % flows].sendto(data, target)
    print(count, flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv[0] == "blast":
        return blast(argv[1], int(argv[2]), argv[3], int(argv[4]), int(argv[5]), int(argv[6]),
                     int(argv[7]) if len(argv) > 7 else 1, argv[8] if len(argv) > 8 else "udp")
    if argv[0] == "listen":
        return listen(argv[1], argv[2], int(argv[3]), float(argv[4]), argv[5] if len(argv) > 5 else None)
    return send(argv[1], argv[2], int(argv[3]), argv[4], argv[5], float(argv[6]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
