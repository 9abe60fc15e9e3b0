"""Read NFLOG packets from the kernel (nfnetlink_log over a netlink socket, in pure Python).

The reader binds the groups in the calling process's network namespace, asks for sequence
numbers and a copy of each packet's first bytes (the rule's ``--nflog-size`` caps it), and
lets the kernel batch messages (queue threshold, flush timeout, large buffers). ``read``
returns the packets of one receive, already reduced to what the counters need; losses
(sequence gaps, receive-buffer overruns) are counted per group.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
from dataclasses import dataclass, field

NETLINK_NETFILTER = 12
NFNL_SUBSYS_ULOG = 4
NFULNL_MSG_PACKET = NFNL_SUBSYS_ULOG << 8
NFULNL_MSG_CONFIG = NFNL_SUBSYS_ULOG << 8 | 1
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
SO_RCVBUFFORCE = 33

NFULA_CFG_CMD, NFULA_CFG_MODE, NFULA_CFG_NLBUFSIZ, NFULA_CFG_TIMEOUT, NFULA_CFG_QTHRESH, NFULA_CFG_FLAGS = range(1, 7)
NFULNL_CFG_CMD_BIND, NFULNL_CFG_CMD_UNBIND = 1, 2
NFULNL_COPY_PACKET = 2
NFULNL_CFG_F_SEQ = 1
NFULA_PAYLOAD, NFULA_PREFIX, NFULA_SEQ = 9, 10, 12

COPY_RANGE = 80  # IPv6 header and ports, as the rules' --nflog-size
QUEUE_THRESHOLD = 256  # packets per batch message
FLUSH_TIMEOUT_CS = 2  # 1/100 s: a lone packet waits at most 20 ms
NL_BUFFER = 131072  # per batch; the kernel falls back to smaller sizes under pressure
RCV_BUFFER = 32 << 20

_NLMSG = struct.Struct("=IHHII")
_NLA = struct.Struct("=HH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class NflogError(OSError):
    pass


# One logged packet: (group, its rule's prefix, its first bytes from the IP header on). A plain
# tuple: at 100,000 packets a second an object per packet costs more than all the parsing.
Packet = tuple[int, bytes, bytes]


@dataclass
class Losses:
    gaps: dict[int, int] = field(default_factory=dict)  # group -> packets missing from the sequence
    overruns: int = 0  # receive-buffer overruns (the kernel dropped a batch; groups unknown)


def ip_length(header: bytes) -> int:
    """The packet's length on the wire from its IP header (IPv4 total length; IPv6 payload + 40)."""
    if not header:
        return 0
    if header[0] >> 4 == 6:
        return _U16.unpack_from(header, 4)[0] + 40 if len(header) >= 6 else 0
    return _U16.unpack_from(header, 2)[0] if len(header) >= 4 else 0


def source_address(header: bytes) -> bytes:
    """The packed source address (4 or 16 bytes) from an IP header."""
    return header[8:24] if header[:1] and header[0] >> 4 == 6 else header[12:16]


def _attribute(kind: int, value: bytes) -> bytes:
    length = _NLA.size + len(value)
    return _NLA.pack(length, kind) + value + b"\0" * (-length % 4)


class NflogParser:
    """Turns received batches into packets and keeps each group's sequence to count gaps."""

    def __init__(self) -> None:
        self.losses = Losses()
        self._expected: dict[int, int] = {}

    def parse(self, data: memoryview) -> list[Packet]:
        """The packet messages of one receive; other messages and cut-off tails are skipped."""
        packets = []
        offset, end = 0, len(data)
        unpack_msg, unpack_nla, u16, u32 = _NLMSG.unpack_from, _NLA.unpack_from, _U16.unpack_from, _U32.unpack_from
        expected = self._expected
        while offset + 20 <= end:
            length, kind = unpack_msg(data, offset)[:2]
            if length < 20:
                break
            if kind == NFULNL_MSG_PACKET:
                group = u16(data, offset + 18)[0]
                prefix = header = b""
                seq = -1
                position, stop = offset + 20, min(offset + length, end)
                while position + 4 <= stop:
                    nla_len, nla_type = unpack_nla(data, position)
                    if nla_len < 4 or position + nla_len > stop:
                        break
                    nla_type &= 0x3FFF
                    if nla_type == NFULA_PREFIX:
                        prefix = bytes(data[position + 4:position + nla_len - 1])  # without the NUL
                    elif nla_type == NFULA_PAYLOAD:
                        header = bytes(data[position + 4:position + nla_len])
                    elif nla_type == NFULA_SEQ and nla_len >= 8:
                        seq = u32(data, position + 4)[0]
                    position += (nla_len + 3) & ~3
                if seq >= 0:
                    want = expected.get(group)
                    if want is not None and seq > want:
                        self.losses.gaps[group] = self.losses.gaps.get(group, 0) + seq - want
                    expected[group] = seq + 1
                packets.append((group, prefix, header))
            offset += (length + 3) & ~3
        return packets


class NflogReader:
    def __init__(self, groups: tuple[int, ...] = (1, 2)) -> None:
        self.groups = groups
        self.parser = NflogParser()
        self._seq = 0
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCV_BUFFER)
            except PermissionError:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCV_BUFFER)
            self._sock.bind((0, 0))
            for group in groups:
                self._configure(group)
        except OSError:
            self._sock.close()
            raise
        self._buffer = bytearray(1 << 20)

    def fileno(self) -> int:
        return self._sock.fileno()

    def _request(self, group: int, attributes: bytes) -> None:
        self._seq += 1
        body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(group)) + attributes
        self._sock.send(_NLMSG.pack(_NLMSG.size + len(body), NFULNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK,
                                    self._seq, 0) + body)
        while True:  # the ack (packets may already be queued in front of it)
            data = self._sock.recv(65536)
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, kind, _, seq, _ = _NLMSG.unpack_from(data, offset)
                if kind == NLMSG_ERROR and seq == self._seq:
                    code = -struct.unpack_from("=i", data, offset + _NLMSG.size)[0]
                    if code:
                        raise NflogError(code, f"NFLOG group {group}: {os.strerror(code)}")
                    return
                offset += (length + 3) & ~3 if length else len(data)

    def _configure(self, group: int) -> None:
        bind = _attribute(NFULA_CFG_CMD, struct.pack("B", NFULNL_CFG_CMD_BIND))
        try:
            self._request(group, bind)
        except NflogError as exc:
            if exc.errno != errno.EBUSY:
                raise
            raise NflogError(errno.EBUSY, f"NFLOG group {group} is already bound by another process "
                                          "in this network namespace") from None
        self._request(group, b"".join((
            _attribute(NFULA_CFG_MODE, struct.pack("!IBx", COPY_RANGE, NFULNL_COPY_PACKET)),
            _attribute(NFULA_CFG_NLBUFSIZ, _U32.pack(NL_BUFFER)),
            _attribute(NFULA_CFG_QTHRESH, _U32.pack(QUEUE_THRESHOLD)),
            _attribute(NFULA_CFG_TIMEOUT, _U32.pack(FLUSH_TIMEOUT_CS)),
            _attribute(NFULA_CFG_FLAGS, _U16.pack(NFULNL_CFG_F_SEQ)),
        )))

    def read(self, timeout: float) -> list[Packet]:
        """The packets of one receive (empty after ``timeout`` seconds without any)."""
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return []
        try:
            size = self._sock.recv_into(self._buffer)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                self.parser.losses.overruns += 1
                return []
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return []
            raise
        return self.parser.parse(memoryview(self._buffer)[:size])

    def close(self) -> None:
        for group in self.groups:
            try:
                self._request(group, _attribute(NFULA_CFG_CMD, struct.pack("B", NFULNL_CFG_CMD_UNBIND)))
            except OSError:
                pass
        self._sock.close()
