#!/usr/bin/python3
"""integration.dbgrelay: dbgrelay.py against a fake target (a TCP server standing
in for Bochs's com1 socket-server). Given link frames (link.h) on both sides:
frames pass unchanged, bytes from the target with no client are dropped, a
corrupted frame keeps its length and fails its CRC, noise is injected, a second
client gets in after the first left, stats count it all, bad commands get an
error line."""
import os
import socket
import struct
import subprocess
import sys
import time
import zlib

RELAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dbgrelay.py")


def frame(kind, seq, payload=b"", flags=0):
    body = struct.pack("<BBBBII", 1, kind, flags, 0, seq, len(payload)) + payload
    body += struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)
    esc = bytearray()
    for b in body:
        esc += bytes([0x7D, b ^ 0x20]) if b in (0x7E, 0x7D) else bytes([b])
    return b"\x7e" + bytes(esc) + b"\x7e"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def recv_exactly(sock, n):
    got = b""
    sock.settimeout(10)
    while len(got) < n:
        d = sock.recv(n - len(got))
        assert d, "connection closed after %d of %d bytes" % (len(got), n)
        got += d
    return got


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    lport, cport = free_port(), free_port()
    relay = subprocess.Popen([sys.executable, RELAY, "--target", "127.0.0.1:%d" % srv.getsockname()[1],
                              "--listen", str(lport), "--control", str(cport)])
    fails = 0

    def check(name, ok, detail=""):
        nonlocal fails
        print("%s %s%s" % ("PASS" if ok else "FAIL", name, (": " + detail) if detail else ""))
        fails += not ok

    def ctl(cmd):
        c = socket.create_connection(("127.0.0.1", cport), timeout=10)
        c.sendall(cmd.encode() + b"\n")
        a = b""
        while not a.endswith(b"\n"):
            a += c.recv(1000)
        c.close()
        return a.decode().strip()

    def connect():
        for _ in range(100):
            try:
                return socket.create_connection(("127.0.0.1", lport), timeout=10)
            except OSError:
                time.sleep(0.1)
        raise SystemExit("relay does not listen")

    try:
        srv.settimeout(20)
        target, _ = srv.accept()
        target.sendall(b"boot text" + frame(1, 5, b"lost"))  # nobody connected: dropped
        time.sleep(0.3)
        c = connect()
        time.sleep(0.3)
        f = frame(1, 7, b"req \x7e\x7d", 1)
        c.sendall(f)
        check("pass-to-target", recv_exactly(target, len(f)) == f)
        back = frame(2, 7) + frame(1, 100, b"resp")
        target.sendall(back)
        check("pass-to-host", recv_exactly(c, len(back)) == back)
        check("corrupt-cmd", ctl("corrupt to-target data 1") == "ok")
        check("noise-cmd", ctl("noise to-host 5") == "ok")
        c.sendall(f)
        got = recv_exactly(target, len(f))
        check("corrupted", got != f and len(got) == len(f) and got[0] == 0x7E and got[-1] == 0x7E
              and got.count(b"\x7e") == 2)
        target.sendall(frame(2, 8))
        got = recv_exactly(c, 5 + len(frame(2, 8)))
        check("noise", got[:5] != frame(2, 8)[:5] and b"\x7e" not in got[:5] and got[5:] == frame(2, 8))
        stats = dict(w.split("=") for w in ctl("stats").split())
        check("stats", stats["dropped_bytes"] == str(len(b"boot text" + frame(1, 5, b"lost")))
              and stats["to_target_corrupted"] == "1" and stats["to_target_retransmits"] == "1"
              and stats["to_host_noise"] == "5", ctl("stats"))
        check("rtt", ctl("rtt").startswith("n=1 "), ctl("rtt"))
        c.close()
        time.sleep(0.3)
        c = connect()
        time.sleep(0.3)
        g = frame(1, 9, b"again")
        c.sendall(g)
        check("reconnect", recv_exactly(target, len(g)) == g and ctl("stats").startswith("clients=2 "))
        time.sleep(0.3)
        check("quiet", float(ctl("quiet")) >= 0.2, ctl("quiet"))
        check("bad-command", ctl("corrupt sideways 1").startswith("error: "))
        check("quit", ctl("quit") == "ok")
        relay.wait(10)
        check("exit-status", relay.returncode == 0, str(relay.returncode))
    finally:
        if relay.poll() is None:
            relay.kill()
    print("dbgrelay: %s" % ("all checks passed" if not fails else "%d check(s) failed" % fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
