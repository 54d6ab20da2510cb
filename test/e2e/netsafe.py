#!/usr/bin/env python3
"""The wire transport is safe to expose (issue 14, point 6).

`hvctl serve` with a key on loopback, attacked the ways a new user would
meet: idle and slowloris peers, wrong / missing keys, a replayed handshake,
100 concurrent connect/disconnect cycles, an impostor server, an old
(version 1) client, unsafe key files, a non-loopback address without a key.
Through all of it the legitimate client (hvctl) must get in and work.

No timing is asserted except generous upper bounds on what must end (a
peer that never completes the handshake is closed "within 20 s" while the
server's deadline is 3 s): noise cannot cross them.

    test/e2e/netsafe.py <build-dir>
"""
import hashlib
import hmac
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

MAGIC = 0x31435648
VERSION = 2
T_AUTH_HELLO, T_AUTH_PROOF, T_QUERY, T_ERROR = 0x40, 0x41, 0x04, 0xFFFF
RESP = 0x8000
ACCESS_DENIED, UNSUPPORTED = 0xC0000022, 0xE0E10005

build = sys.argv[1] if len(sys.argv) > 1 else "build"
HVCTL = os.path.join(build, "examples", "hvctl")
work = tempfile.mkdtemp(prefix="hvcore-netsafe-")
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS", name, flush=True)
    else:
        failed += 1
        print("FAIL", name, detail, flush=True)


# ---- frames (hvcore/client/wire.h) ------------------------------------------
def frame(ftype, seq, payload=b"", version=VERSION):
    hdr = struct.pack("<IHHIIIHH", MAGIC, version, ftype, seq, len(payload), 0, 0, 0)
    crc = zlib.crc32(payload, zlib.crc32(hdr))
    return struct.pack("<IHHIIIHH", MAGIC, version, ftype, seq, len(payload), crc, 0, 0) + payload


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b


def recv_frame(s):
    magic, version, ftype, seq, length, _crc, _f, _r = struct.unpack("<IHHIIIHH", recv_exact(s, 24))
    assert magic == MAGIC
    return version, ftype, seq, recv_exact(s, length)


def mac(key, server, nc, ns):
    label = b"hvcore-wire-2 server" if server else b"hvcore-wire-2 client"
    return hmac.new(key, label + nc + ns, hashlib.sha256).digest()


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def handshake(port, key, nc=None, proof=None):
    """A handshake by hand. Returns (socket, ns, sent_hello, sent_proof,
    answer) where answer is the server's (type, payload) to the proof."""
    nc = nc or os.urandom(32)
    s = connect(port)
    hello = frame(T_AUTH_HELLO, 1, struct.pack("<II", VERSION, 1) + nc)
    s.sendall(hello)
    _, t, _, p = recv_frame(s)
    assert t == T_AUTH_HELLO | RESP, hex(t)
    ver, flags = struct.unpack("<II", p[:8])
    ns = p[8:40]
    assert ver == VERSION and flags & 1
    sent = frame(T_AUTH_PROOF, 2, proof if proof is not None else mac(key, False, nc, ns))
    s.sendall(sent)
    _, t, _, p = recv_frame(s)
    return s, nc, ns, hello, sent, (t, p)


# ---- processes ------------------------------------------------------------------
def keyfile(name, mode=0o600):
    path = os.path.join(work, name)
    r = subprocess.run([HVCTL, "keygen", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.chmod(path, mode)
    return path


def start_server(*args):
    log = open(os.path.join(work, "serve-%d.log" % time.monotonic_ns()), "w+")
    p = subprocess.Popen([HVCTL, "serve", "--cores", "4"] + list(args), stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    m = re.search(r":(\d+)", line.rsplit(" on ", 1)[-1]) if " on " in line else None
    if not m:
        p.kill()
        log.seek(0)
        raise SystemExit("hvctl serve did not start: %r %s" % (line, log.read()))
    return p, int(m.group(1)), log


def hvctl(target, *cmd, timeout=30, env=None):
    try:
        r = subprocess.run([HVCTL, "--target", target] + list(cmd), capture_output=True, text=True,
                           timeout=timeout, env=env)
        return r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        return -1, "timed out after %ds: %s" % (timeout, e)


def closed_within(s, seconds):
    """True when the server closes s (EOF or reset) within `seconds`."""
    s.settimeout(seconds)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            if s.recv(4096) == b"":
                return True
    except (ConnectionError, OSError):
        return True
    return False


def main():
    key = keyfile("key")
    other = keyfile("other-key")

    # ---- key files and addresses ----------------------------------------------------
    loose = keyfile("loose-key", 0o640)
    r = subprocess.run([HVCTL, "serve", "--listen", "127.0.0.1:0", "--key", loose], capture_output=True, text=True,
                       timeout=10)
    check("keyfile-group-readable-refused-by-serve", r.returncode != 0 and "chmod 600" in r.stderr, r.stderr)
    world = keyfile("world-key", 0o604)
    rc, out = hvctl("tcp:127.0.0.1:1,key=" + world, "status")
    check("keyfile-other-readable-refused-by-client", rc != 0 and "accessible by group or others" in out, out)
    r = subprocess.run([HVCTL, "serve", "--listen", "0.0.0.0:0"], capture_output=True, text=True, timeout=10)
    check("non-loopback-without-key-refused", r.returncode != 0 and "without a key" in r.stderr, r.stderr)
    p, _, _ = start_server("--listen", "0.0.0.0:0", "--key", key)
    check("non-loopback-with-key-serves", p.poll() is None)
    p.terminate()
    p.wait(10)

    # ---- the report that started it: no key, 127.0.0.1, eight idle connections ---------
    srv, port, log = start_server("--listen", "127.0.0.1:0")
    try:
        idle = [connect(port) for _ in range(8)]
        rc, out = hvctl("tcp:127.0.0.1:%d" % port, "status", timeout=20,
                        env={k: v for k, v in os.environ.items() if k != "HVCORE_KEY_FILE"})
        check("no-key-loopback-client-gets-in-past-8-idle-connections", rc == 0 and "4 cores" in out, out)
        for x in idle:
            x.close()
    finally:
        srv.terminate()
        srv.wait(15)

    srv, port, log = start_server("--listen", "127.0.0.1:0", "--key", key)
    T = "tcp:127.0.0.1:%d" % port
    TK = T + ",key=" + key
    try:
        rc, out = hvctl(TK, "rdmsr", "c0000082", "core", "1")
        check("right-key-works", rc == 0 and "msr[c0000082] = ffffffff`81c00080" in out, out)
        rc, out = hvctl(T, "status", env=dict(os.environ, HVCORE_KEY_FILE=key))
        check("key-from-HVCORE_KEY_FILE", rc == 0 and "4 cores" in out, out)

        # ---- wrong / missing key, impostor server, old client -----------------------------
        rc, out = hvctl(T + ",key=" + other, "status")
        check("wrong-key-ACCESS_DENIED", rc != 0 and "ACCESS_DENIED" in out and "refused our key" in out, out)
        time.sleep(0.2)
        log.seek(0)
        check("wrong-key-logged-by-server", "wrong key" in log.read())
        rc, out = hvctl(T, "status", env={k: v for k, v in os.environ.items() if k != "HVCORE_KEY_FILE"})
        check("no-key-ACCESS_DENIED", rc != 0 and "requires a key" in out, out)

        s = connect(port)
        s.sendall(frame(T_QUERY, 1, struct.pack("<IHHII", 56, 1, 0, 0, 0) + bytes(40)))
        _, t, _, pl = recv_frame(s)
        check("request-before-handshake-refused",
              t == T_ERROR and struct.unpack("<I", pl)[0] == ACCESS_DENIED and closed_within(s, 10))
        s.close()

        s = connect(port)
        s.sendall(frame(0x0001, 7, struct.pack("<I", 1), version=1))
        v, t, seq, pl = recv_frame(s)
        check("old-version-client-told-UNSUPPORTED",
              v == 1 and t == T_ERROR and seq == 7 and struct.unpack("<I", pl)[0] == UNSUPPORTED)
        s.close()
        time.sleep(0.2)
        log.seek(0)
        check("old-version-client-logged", "wire version 1" in log.read())

        # ---- replayed handshake: the server's nonce is new, the old proof fails -----------
        kb = open(key, "rb").read().rstrip()
        s1, nc, ns1, hello, proof, (t, pl) = handshake(port, kb)
        ok = t == T_AUTH_PROOF | RESP and pl == mac(kb, True, nc, ns1)
        s1.sendall(frame(T_QUERY, 3, struct.pack("<IHHII", 56, 1, 0, 0, 0) + bytes(40)))
        _, t, _, pl = recv_frame(s1)
        check("manual-handshake-then-request", ok and t == T_QUERY | RESP and struct.unpack("<I", pl[20:24])[0] == 4)
        s1.close()
        s2, _, ns2, _, _, (t, pl) = handshake(port, kb, nc=nc, proof=proof[24:])
        check("replayed-handshake-refused",
              ns2 != ns1 and t == T_ERROR and struct.unpack("<I", pl)[0] == ACCESS_DENIED and closed_within(s2, 10))
        s2.close()

        # a server that does not know the key cannot pass for ours (mutual)
        fake = socket.socket()
        fake.bind(("127.0.0.1", 0))
        fake.listen(1)

        def impostor():
            c, _ = fake.accept()
            _, _, seq, _ = recv_frame(c)
            c.sendall(frame(T_AUTH_HELLO | RESP, seq, struct.pack("<II", VERSION, 1) + os.urandom(32)))
            _, _, seq, _ = recv_frame(c)
            c.sendall(frame(T_AUTH_PROOF | RESP, seq, os.urandom(32)))
            time.sleep(1)
            c.close()

        th = threading.Thread(target=impostor, daemon=True)
        th.start()
        rc, out = hvctl("tcp:127.0.0.1:%d,key=%s" % (fake.getsockname()[1], key), "status")
        check("impostor-server-detected", rc != 0 and "did not prove it knows the key" in out, out)
        th.join(5)
        fake.close()

        # ---- idle and slowloris peers while the real client works --------------------------
        idle = [connect(port) for _ in range(24)]
        slow = [connect(port) for _ in range(4)]
        stop = threading.Event()
        trickle = frame(T_AUTH_HELLO, 1, struct.pack("<II", VERSION, 1) + os.urandom(32))

        def slowloris(sock):
            for b in trickle:
                if stop.is_set():
                    return
                try:
                    sock.send(bytes([b]))
                except OSError:
                    return
                time.sleep(0.4)

        ths = [threading.Thread(target=slowloris, args=(x,), daemon=True) for x in slow]
        for x in ths:
            x.start()
        rc, out = hvctl(TK, "rdmsr", "c0000082", "core", "2", timeout=20)
        check("client-gets-in-past-24-idle-and-4-slowloris-peers", rc == 0 and "core : 2 - msr[c0000082]" in out, out)
        check("idle-peers-closed-by-the-server", all(closed_within(x, 20) for x in idle))
        check("slowloris-peers-closed-by-the-server", all(closed_within(x, 20) for x in slow))
        stop.set()
        for x in idle + slow:
            x.close()

        # ---- 100 concurrent connect/disconnect cycles while the client keeps working ----------
        errors = []

        def churn(i):
            for k in range(10):
                try:
                    c = connect(port)
                    if k % 3 == 1:
                        c.send(trickle[:10])
                    elif k % 3 == 2:
                        c.send(b"garbage, not a frame at all.....")
                    c.close()
                except OSError as e:
                    errors.append(str(e))

        script = os.path.join(work, "script")
        with open(script, "w") as f:
            f.write("rdmsr c0000082 core 3\n" * 100)
        workers = [threading.Thread(target=churn, args=(i,)) for i in range(10)]
        for w in workers:
            w.start()
        rc, out = hvctl(TK, "-f", script, timeout=60)
        for w in workers:
            w.join(30)
        good = out.count("core : 3 - msr[c0000082] = ffffffff`81c00080")
        check("100-concurrent-connect-disconnect-cycles-client-keeps-working", rc == 0 and good == 100,
              "rc %d, %d of 100 answers, churn errors %s: %s" % (rc, good, errors[:3], out[-400:]))

        # ---- sessions: idle authenticated peers cannot fill the server either ----------------
        held = [handshake(port, kb)[0] for _ in range(10)]
        rc, out = hvctl(TK, "status", timeout=20)
        check("client-gets-in-past-10-idle-sessions", rc == 0 and "4 cores" in out, out)
        for x in held:
            x.close()
        log.seek(0)
        check("session-eviction-logged", "closing the session idle longest" in log.read())
    finally:
        srv.terminate()
        try:
            srv.wait(15)
        except subprocess.TimeoutExpired:
            srv.kill()
            check("serve-stops-on-SIGTERM", False)
    log.seek(0)
    text = log.read()
    print("---- server log (%d lines) ----" % text.count("\n"))
    print("\n".join(text.splitlines()[:12]))
    print("netsafe: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
