#!/usr/bin/python3
"""dbgrelay: the host end of the emulated serial line in the debugger e2e (dbg.sh).

Bochs's com1 socket-server takes one client per run and refuses every later
connect (measured, README.md "Debugger mode"), while the e2e drops and reopens
the debugger's connection. The relay is that one client: it holds Bochs's
connection for the whole run and lets debugger clients (hvctl --target
serial:tcp:127.0.0.1:PORT) connect one after another. Bytes from the target
while no client is connected are dropped, as on a serial line nobody listens to.

It splits each direction at the link layer's 0x7E delimiters
(libhvcore/include/hvcore/link.h) and forwards each frame when its closing
delimiter arrives, so it can log frames, corrupt chosen ones on command and
time each request (a DATA frame to the target) until the target's first DATA
frame back: the round trip of one request over the emulated serial line, with
hvctl's own costs left out.

usage: dbgrelay.py --target HOST:PORT --listen PORT --control PORT [--log FILE]

Control port: one command per line, one answer line each:
  corrupt to-target|to-host data|ack|any N   flip a bit in each of the next N such frames
  noise to-target|to-host N                   send N garbage bytes (never 0x7E) before the next frame
  stats                                       counters as KEY=VALUE words
  rtt                                         request round trips so far: "n=.. min_ms=.. median_ms=.. max_ms=.."
  rtt-reset                                   forget them
  quiet                                       seconds since the last byte in either direction
  quit                                        close everything and exit 0
"""
import argparse
import os
import selectors
import socket
import statistics
import struct
import sys
import time
import zlib

FLAG, ESC, XOR = 0x7E, 0x7D, 0x20
KINDS = {1: "DATA", 2: "ACK"}
T0 = time.monotonic()


def unescape(body):
    out = bytearray()
    it = iter(body)
    for b in it:
        if b == ESC:
            nxt = next(it, None)
            if nxt is None:
                return None
            out.append(nxt ^ XOR)
        else:
            out.append(b)
    return bytes(out)


def decode(body):
    """(kind name, seq, flags, length, payload) of a well-formed frame, or None."""
    raw = unescape(body)
    if raw is None or len(raw) < 16:
        return None
    version, kind, flags, _res, seq, length = struct.unpack_from("<BBBBII", raw)
    if version != 1 or kind not in KINDS or len(raw) != 16 + length:
        return None
    if zlib.crc32(raw[:-4]) & 0xFFFFFFFF != struct.unpack_from("<I", raw, len(raw) - 4)[0]:
        return None
    return KINDS[kind], seq, flags, length, raw[12:-4]


def corrupt(body):
    """The frame with one bit flipped past its first header bytes (escapes kept valid): its CRC fails."""
    b = bytearray(body)
    for i in range(4, len(b)):
        if b[i] in (FLAG, ESC) or (i > 0 and b[i - 1] == ESC):
            continue
        for bit in (0x01, 0x02, 0x04):
            if b[i] ^ bit not in (FLAG, ESC):
                b[i] ^= bit
                return bytes(b)
    return bytes(b)


class Direction:
    def __init__(self, name):
        self.name = name
        self.buf = bytearray()
        self.frames = {"DATA": 0, "ACK": 0, "bad": 0}
        self.retransmits = 0
        self.last_data_seq = None
        self.corrupt_left = 0
        self.corrupt_kind = "any"
        self.corrupted = 0
        self.noise_next = 0
        self.noise_sent = 0
        self.garbage = 0


class Relay:
    def __init__(self, args):
        self.args = args
        self.logf = open(args.log, "a", buffering=1) if args.log else sys.stdout
        self.sel = selectors.DefaultSelector()
        self.target = None
        self.client = None
        self.clients = 0
        self.to_target = Direction("to-target")
        self.to_host = Direction("to-host")
        self.dropped = 0
        self.pending = None  # monotonic time the last request frame went to the target
        self.rtts = []
        self.last_kind = None
        self.last_byte = time.monotonic()
        self.running = True

    def log(self, msg):
        self.logf.write("[relay %8.3f] %s\n" % (time.monotonic() - T0, msg))

    def connect_target(self):
        host, port = self.args.target.rsplit(":", 1)
        deadline = time.monotonic() + self.args.connect_timeout
        while True:
            try:
                s = socket.create_connection((host, int(port)), timeout=5)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    self.log("cannot connect to the target %s: %s" % (self.args.target, e))
                    sys.exit(1)
                time.sleep(0.2)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        self.target = s
        self.sel.register(s, selectors.EVENT_READ, self.on_target)
        self.log("connected to the target %s" % self.args.target)

    def listen(self, port, cb):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(4)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, cb)
        return s

    # ---- the line -------------------------------------------------------
    def send_all(self, sock, data):
        sock.setblocking(True)
        try:
            sock.sendall(data)
        finally:
            sock.setblocking(False)

    def pass_bytes(self, d, data, out):
        """Split at 0x7E; forward (possibly corrupted) frames to out (None: drop)."""
        d.buf += data
        self.last_byte = time.monotonic()
        while True:
            i = d.buf.find(FLAG)
            if i < 0:
                return
            body = bytes(d.buf[:i])
            del d.buf[: i + 1]
            chunk = self.frame(d, body) + bytes([FLAG])
            if d.noise_next:
                noise = bytes((0x55 + k) & 0xFF for k in range(d.noise_next))
                noise = noise.replace(bytes([FLAG]), b"\x00")
                chunk = noise + chunk
                d.noise_sent += d.noise_next
                self.log("%s: injected %d noise bytes" % (d.name, d.noise_next))
                d.noise_next = 0
            if out is None:
                self.dropped += len(chunk)
            else:
                self.send_all(out, chunk)
                if d is self.to_target and self.pending is None and body and self.last_kind == "DATA":
                    self.pending = time.monotonic()

    def frame(self, d, body):
        self.last_kind = None
        if not body:
            return body
        f = decode(body)
        if f is None:
            d.frames["bad"] += 1
            d.garbage += len(body)
            self.log("%s: %d bytes that are no valid frame" % (d.name, len(body)))
            return body
        kind, seq, flags, length, payload = f
        self.last_kind = kind
        d.frames[kind] += 1
        note = ""
        if kind == "DATA":
            if d.last_data_seq == seq:
                d.retransmits += 1
                note = " (retransmission)"
            d.last_data_seq = seq
            if d is self.to_host and self.pending is not None:
                self.rtts.append(time.monotonic() - self.pending)
                self.pending = None
        if d.corrupt_left and d.corrupt_kind in ("any", kind.lower()):
            d.corrupt_left -= 1
            d.corrupted += 1
            body = corrupt(body)
            note += " CORRUPTED by the relay"
            if d is self.to_target and kind == "DATA":
                self.pending = None  # the target never sees this one: no answer to time
                self.last_kind = None
        if self.args.verbose or note:
            self.log("%s: %s seq=%u len=%u%s%s" % (d.name, kind, seq, length, " SYN" if flags & 1 else "", note))
        return body

    def on_target(self, sock):
        try:
            data = sock.recv(65536)
        except OSError as e:
            data = b""
            self.log("target read error: %s" % e)
        if not data:
            self.log("the target closed the line (Bochs ended)")
            self.running = False
            return
        self.pass_bytes(self.to_host, data, self.client)

    def on_client(self, sock):
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.log("client %d disconnected" % self.clients)
            self.sel.unregister(sock)
            sock.close()
            self.client = None
            self.to_host.buf.clear()
            self.to_target.buf.clear()
            self.pending = None
            return
        self.pass_bytes(self.to_target, data, self.target)

    def on_accept(self, lsock):
        s, _ = lsock.accept()
        if self.client is not None:
            self.log("refusing a second client while one is connected")
            s.close()
            return
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        self.client = s
        self.clients += 1
        self.to_host.buf.clear()
        self.sel.register(s, selectors.EVENT_READ, self.on_client)
        self.log("client %d connected" % self.clients)

    # ---- control --------------------------------------------------------
    def on_control_accept(self, lsock):
        s, _ = lsock.accept()
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, self.on_control)
        self.ctl_bufs[s] = b""

    def on_control(self, sock):
        data = sock.recv(4096)
        if not data:
            self.sel.unregister(sock)
            sock.close()
            self.ctl_bufs.pop(sock, None)
            return
        self.ctl_bufs[sock] += data
        while b"\n" in self.ctl_bufs[sock]:
            line, rest = self.ctl_bufs[sock].split(b"\n", 1)
            self.ctl_bufs[sock] = rest
            self.send_all(sock, (self.command(line.decode(errors="replace").split()) + "\n").encode())

    def command(self, w):
        dirs = {"to-target": self.to_target, "to-host": self.to_host}
        if len(w) == 4 and w[0] == "corrupt" and w[1] in dirs and w[2] in ("data", "ack", "any") and w[3].isdigit():
            d = dirs[w[1]]
            d.corrupt_left, d.corrupt_kind = int(w[3]), w[2]
            self.log("will corrupt the next %s %s frame(s) %s" % (w[3], w[2], w[1]))
            return "ok"
        if len(w) == 3 and w[0] == "noise" and w[1] in dirs and w[2].isdigit():
            dirs[w[1]].noise_next = int(w[2])
            return "ok"
        if w == ["stats"]:
            words = ["clients=%d" % self.clients, "dropped_bytes=%d" % self.dropped]
            for d in (self.to_target, self.to_host):
                p = d.name.replace("-", "_")
                words += ["%s_data=%d" % (p, d.frames["DATA"]), "%s_ack=%d" % (p, d.frames["ACK"]),
                          "%s_bad=%d" % (p, d.frames["bad"]), "%s_retransmits=%d" % (p, d.retransmits),
                          "%s_corrupted=%d" % (p, d.corrupted), "%s_corrupt_pending=%d" % (p, d.corrupt_left),
                          "%s_noise=%d" % (p, d.noise_sent)]
            return " ".join(words)
        if w == ["rtt"]:
            if not self.rtts:
                return "n=0"
            ms = sorted(x * 1e3 for x in self.rtts)
            return "n=%d min_ms=%.2f median_ms=%.2f max_ms=%.2f" % (len(ms), ms[0], statistics.median(ms), ms[-1])
        if w == ["quiet"]:
            return "%.1f" % (time.monotonic() - self.last_byte)
        if w == ["rtt-reset"]:
            self.rtts = []
            return "ok"
        if w == ["quit"]:
            self.running = False
            return "ok"
        return "error: unknown command %r" % " ".join(w)

    def run(self):
        self.ctl_bufs = {}
        self.listen(self.args.listen, self.on_accept)
        self.listen(self.args.control, self.on_control_accept)
        self.log("listening on 127.0.0.1:%d (clients), 127.0.0.1:%d (control)" % (self.args.listen, self.args.control))
        self.connect_target()
        while self.running:
            for key, _ in self.sel.select(timeout=1.0):
                key.data(key.fileobj)
        self.log("exiting: %s" % self.command(["stats"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default=os.environ.get("E2E_COM1"), help="HOST:PORT of Bochs's com1 socket-server")
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--control", type=int, required=True)
    ap.add_argument("--log")
    ap.add_argument("--verbose", action="store_true", help="log every frame")
    ap.add_argument("--connect-timeout", type=float, default=120.0)
    args = ap.parse_args()
    if not args.target:
        ap.error("--target or E2E_COM1 is required")
    Relay(args).run()


if __name__ == "__main__":
    main()
