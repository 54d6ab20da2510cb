#!/usr/bin/python3
"""dbgping: a minimal second implementation of the debugger line, for the e2e.

Speaks the link layer (libhvcore/include/hvcore/link.h: 0x7E framing, byte
stuffing, CRC-32, seq/ACK, SYN on a session's first frames) and the debugger
protocol's HELLO and STATUS requests (hvcore/debugger.h) over TCP, written
from the headers rather than from the C code, so the e2e checks the stub
against the documents too. It also times requests: `bench N` sends N STATUS
requests and prints their round trips (send of the request to the end of its
reply, ACKs included).

usage: dbgping.py --target HOST:PORT [--timeout S] hello | status | bench N
Prints one line per reply; exits 0 when every request got a reply of the
right type and tag, 1 otherwise.
"""
import argparse
import random
import socket
import statistics
import struct
import sys
import time
import zlib

FLAG, ESC, XOR = 0x7E, 0x7D, 0x20
DATA, ACK, SYN = 1, 2, 1
HELLO, STATUS, REPLY = 0x0001, 0x0002, 0x8000


def encode(kind, seq, payload=b"", flags=0):
    body = struct.pack("<BBBBII", 1, kind, flags, 0, seq, len(payload)) + payload
    body += struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)
    out = bytearray([FLAG])
    for b in body:
        out += bytes([ESC, b ^ XOR]) if b in (FLAG, ESC) else bytes([b])
    out.append(FLAG)
    return bytes(out)


class Link:
    def __init__(self, sock, ack_timeout=2.0, retries=8):
        self.s = sock
        self.seq = random.getrandbits(31)
        self.syn = True
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.buf = bytearray()
        self.frames = []
        self.bad = 0
        self.retransmits = 0
        self.last_rx = None
        self.inbox = []

    def _pump(self, deadline):
        """Read until at least one frame is decoded or the deadline passes."""
        while not self.frames:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.s.settimeout(left)
            try:
                d = self.s.recv(4096)
            except socket.timeout:
                return
            if not d:
                raise ConnectionError("the line closed")
            self.buf += d
            while True:
                i = self.buf.find(FLAG)
                if i < 0:
                    break
                body = bytes(self.buf[:i])
                del self.buf[: i + 1]
                if body:
                    f = self._decode(body)
                    if f:
                        self.frames.append(f)
                    else:
                        self.bad += 1

    @staticmethod
    def _decode(body):
        raw = bytearray()
        it = iter(body)
        for b in it:
            if b == ESC:
                n = next(it, None)
                if n is None or n == FLAG:
                    return None
                raw.append(n ^ XOR)
            else:
                raw.append(b)
        if len(raw) < 16:
            return None
        ver, kind, flags, res, seq, length = struct.unpack_from("<BBBBII", raw)
        if ver != 1 or kind not in (DATA, ACK) or res or len(raw) != 16 + length:
            return None
        if zlib.crc32(bytes(raw[:-4])) & 0xFFFFFFFF != struct.unpack_from("<I", raw, len(raw) - 4)[0]:
            return None
        return kind, flags, seq, bytes(raw[12:-4])

    def _next(self, deadline):
        self._pump(deadline)
        return self.frames.pop(0) if self.frames else None

    def send(self, payload):
        frame = encode(DATA, self.seq, payload, SYN if self.syn else 0)
        for attempt in range(self.retries + 1):
            if attempt:
                self.retransmits += 1
            self.s.sendall(frame)
            deadline = time.monotonic() + self.ack_timeout
            while True:
                f = self._next(deadline)
                if f is None:
                    break
                kind, flags, seq, pl = f
                if kind == ACK and seq == self.seq:
                    self.seq = (self.seq + 1) & 0xFFFFFFFF
                    self.syn = False
                    return
                if kind == DATA:
                    self._ack_and_keep(f)
        raise TimeoutError("no ACK after %d transmissions" % (self.retries + 1))

    def _ack_and_keep(self, f):
        kind, flags, seq, pl = f
        self.s.sendall(encode(ACK, seq))
        if seq != self.last_rx:
            self.last_rx = seq
            self.inbox.append(pl)

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.inbox:
            f = self._next(deadline)
            if f is None:
                raise TimeoutError("no reply within %.1f s" % timeout)
            if f[0] == DATA:
                self._ack_and_keep(f)
        return self.inbox.pop(0)


def request(link, mtype, tag, timeout):
    link.send(struct.pack("<HHIII", 1, mtype, tag, 0, 0))
    while True:
        msg = link.recv(timeout)
        if len(msg) < 16:
            raise ValueError("short reply (%d bytes)" % len(msg))
        ver, typ, rtag, status, length = struct.unpack_from("<HHIII", msg)
        if typ == mtype | REPLY and rtag == tag:
            return status, msg[16 : 16 + length]
        # an unsolicited STOP or a stale reply: not ours, keep waiting


def describe(mtype, status, body):
    if mtype == HELLO and len(body) >= 56:
        ver, state, ncores, cur, maxmsg, maxread, maxq, qbytes, stops = struct.unpack_from("<IIIIIIIIQ", body)
        sig = body[40:56].split(b"\0")[0].decode(errors="replace")
        return "HELLO status=0x%08x version=%u state=%s cores=%u current=%u stops=%u signature=%s" % (
            status, ver, "halted" if state else "running", ncores, cur, stops, sig)
    if mtype == STATUS and len(body) >= 24:
        state, reason, stopping, cur, event, ncores = struct.unpack_from("<IIIIII", body)
        return "STATUS status=0x%08x state=%s reason=%u cores=%u" % (
            status, "halted" if state else "running", reason, ncores)
    return "type 0x%04x status=0x%08x body=%d bytes" % (mtype, status, len(body))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for each reply")
    ap.add_argument("what", choices=["hello", "status", "bench"])
    ap.add_argument("count", nargs="?", type=int, default=20)
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    link = Link(s)
    tag = random.getrandbits(16) << 8
    try:
        if a.what in ("hello", "status"):
            mtype = HELLO if a.what == "hello" else STATUS
            st, body = request(link, mtype, tag, a.timeout)
            print(describe(mtype, st, body))
        else:
            request(link, STATUS, tag, a.timeout)  # the session's SYN exchange, not timed
            rtts = []
            for i in range(a.count):
                t = time.monotonic()
                request(link, STATUS, tag + 1 + i, a.timeout)
                rtts.append((time.monotonic() - t) * 1e3)
            print("bench n=%d min_ms=%.2f median_ms=%.2f max_ms=%.2f retransmits=%d bad_frames=%d" % (
                len(rtts), min(rtts), statistics.median(rtts), max(rtts), link.retransmits, link.bad))
    except (TimeoutError, ConnectionError, ValueError, OSError) as e:
        print("dbgping: %s: %s" % (a.what, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
