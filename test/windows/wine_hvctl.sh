#!/usr/bin/env bash
# hvctl.exe (the mingw-w64 build of hvctl) under Wine, headless, in a fresh
# WINEPREFIX, against the Linux hvctl:
#   1. the demo script (examples/hvctl/demo.hvctl) against sim:cores=4, and
#   2. against a Linux-side `hvctl serve` over TCP on 127.0.0.1 with the key
#      handshake (hvctl keygen, serve --key, tcp:...,key=FILE), a wrong key
#      refused; and the Linux hvctl against `hvctl.exe serve` (keygen too);
#      both compared line by line with the Linux hvctl's output for the same
#      script, after masking what differs from run to run (host addresses
#      of the simulated guest, where the output thread's JSON line lands);
#      custom code included when hvctl.exe was built with Zydis
#      (scripts/mingw-deps.sh); the demo and a few commands with --json
#      give the same JSON as Linux when it was built with jansson; without
#      them (no network for mingw-deps.sh) the custom-code lines are left
#      out and both must be refused with the reason;
#   3. with hvcore.sys loaded (not virtualized under Wine): --target local
#      status, rdmsr, wrmsr, events and !dr answer with clear statuses.
# Usage: wine_hvctl.sh BUILD_DIR WORKDIR   (BUILD_DIR: the Linux build, with
# the mingw-w64 build in BUILD_DIR/windows). Exit 0 = every check passed,
# 77 = wine64 not installed (ctest: skipped).
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
BIN=$BUILD/windows/platform/windows
HVCTL=$BUILD/examples/hvctl
WORK=$(mkdir -p "$2" && cd "$2" && pwd)
for f in "$BIN/hvctl.exe" "$BIN/hvcore.sys" "$HVCTL"; do
  [ -f "$f" ] || { echo "FAIL: $f not built"; exit 1; }
done
# shellcheck source=wine_lib.sh
. "$(dirname "$0")/wine_lib.sh"
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2> /dev/null; wait "$SERVER_PID" 2> /dev/null; fi
  SERVER_PID=
}
trap 'stop_server; wine_cleanup' EXIT

wine_prefix
C=$WINEPREFIX/drive_c
cp "$BIN/hvctl.exe" "$BIN/hvcore.sys" "$C/"
# What hvctl.exe was linked with (platform/windows/CMakeLists.txt writes it).
LIBS=$BIN/hvctl_libs.txt
[ -f "$LIBS" ] || { echo "FAIL: $LIBS not written by the build"; exit 1; }
WIN_ZYDIS=$(sed -n 's/^zydis=//p' "$LIBS") WIN_JANSSON=$(sed -n 's/^jansson=//p' "$LIBS")
if [ "$WIN_ZYDIS" = ON ]; then
  cp "$SRC/examples/hvctl/demo.hvctl" "$C/demo.hvctl"
  say "    hvctl.exe has Zydis (scripts/mingw-deps.sh): the whole demo, custom code included"
else
  # The demo without its custom-code lines (`code {..}`): the script both run.
  grep -v 'code {' "$SRC/examples/hvctl/demo.hvctl" > "$C/demo.hvctl"
  say "    hvctl.exe without Zydis: demo.hvctl: $(grep -c 'code {' "$SRC/examples/hvctl/demo.hvctl") custom-code line(s) left out of the comparison"
fi

# Mask what differs between any two runs: guest RIP/RSP/RDX are host
# addresses of the simulator (so are the first 8 bytes of the demo's custom
# code buffer: `mov [rcx], rdx`), the target names a port and a key path, a
# mismatch names the script's path; the JSON line of the `output` thread
# lands between other lines wherever it is written: compared as a set.
# Records of different cores reach `listen` in an order that depends on
# timing (each core has its own ring; imm-no batches flush on a timer): inside
# each listen block, the records (a "[core ..." line and its indented lines)
# are compared as a sorted set; everything else keeps its order.
sort_listen() {
  /usr/bin/python3 -c '
import sys
out, recs, cur, inblock = [], [], None, False
for line in sys.stdin.read().split("\n"):
    if inblock and line.startswith("[core "):
        if cur is not None: recs.append(cur)
        cur = [line]
    elif inblock and cur is not None and (line.startswith("  ") or line == ""):
        cur.append(line)
    elif inblock and (line.startswith("(") or line.startswith("hvctl> ")):
        if cur is not None: recs.append(cur)
        out.extend(l for r in sorted(recs) for l in r)
        recs, cur, inblock = [], None, False
        out.append(line)
        inblock = line.startswith("hvctl> listen")
    else:
        if inblock and cur is not None:
            recs.append(cur); cur = None
        out.append(line)
        if line.startswith("hvctl> listen"): inblock = True
if cur is not None: recs.append(cur)
out.extend(l for r in sorted(recs) for l in r)
sys.stdout.write("\n".join(out))
'
}
normalize() {
  tr -d '\r' < "$1" | sed -E -e 's/ at [0-9a-f]{8}(`[0-9a-f]{8})?/ at ADDR/' \
      -e 's/(rdx|rsp)=[0-9a-f]{8}(`[0-9a-f]{8})?/\1=ADDR/g' -e 's/"rip":"0x[0-9a-f]+"/"rip":"ADDR"/' \
      -e 's/"(rdx|rsp)":"0x[0-9a-f]+"/"\1":"ADDR"/g' -e 's/(code ran; buffer:)( [0-9a-f]{2}){8}/\1 ADDR/' \
      -e 's/"buffer":"[0-9a-f]{16}/"buffer":"ADDR/' \
      -e 's/^target tcp:[^ ]*, /target tcp:TARGET, /' -e 's/^hvctl: [^ ]*demo\.hvctl:/hvctl: demo.hvctl:/' |
    sort_listen > "$1.norm"
  { grep -v '^{"event"' "$1.norm"; echo "-- forwarded JSON lines, sorted:"; grep '^{"event"' "$1.norm" | sort; } \
    > "$1.cmp"
}
# The Linux hvctl's stdout through a pipe, as under Wine: the demo's
# `output ... file /dev/stdout` reopens stdout, which for a regular file
# would be a second file offset writing over the first.
linux_hvctl() { # linux_hvctl OUTFILE ARGS...
  local f=$1; shift
  timeout 120 "$HVCTL" "$@" 2>&1 | cat > "$f"
  return "${PIPESTATUS[0]}"
}
# compare WHAT LINUX_OUT WINDOWS_OUT
compare() {
  normalize "$2"
  normalize "$3"
  local n
  n=$(grep -c . "$2.cmp")
  if diff -u "$2.cmp" "$3.cmp" > "$WORK/$1.diff"; then
    say "ok   $1: the same $n lines as the all-Linux run"
  else
    say "FAIL $1: differs from the all-Linux run:"
    sed 's/^/    /' "$WORK/$1.diff" | head -40 | tee -a "$OUT"
    FAILS=$((FAILS + 1))
  fi
}

say "== 1. the demo against sim:cores=4"
linux_hvctl "$WORK/sim.linux" --target sim:cores=4 -f "$C/demo.hvctl"
check "Linux hvctl: the demo runs (exit 0)" test $? = 0
w 'C:\hvctl.exe' --target sim:cores=4 -f 'C:\demo.hvctl'
check "hvctl.exe: the demo runs (exit 0)" test $? = 0
cp "$WORK/last.out" "$WORK/sim.windows"
compare sim "$WORK/sim.linux" "$WORK/sim.windows"
say "    (first lines under Wine:)"
head -n 12 "$WORK/sim.windows" | sed 's/^/    /' | tee -a "$OUT"
if [ "$WIN_ZYDIS" = ON ]; then
  check "custom code: checked and shown as on Linux (the demo above)" \
    grep -qE '^0003  c3 +ret +\(appended\)' "$WORK/sim.windows"
  w 'C:\hvctl.exe' --target sim:cores=4 '!dr code {0f 01 c1}'
  check "custom code: vmcall refused by the validator, exit 1" \
    bash -c "[ $? = 1 ] && grep -q 'code refused' '$WORK/last.out'"
else
  w 'C:\hvctl.exe' --target sim:cores=4 '!dr pid 490 buffer 200 code {48 89 11}'
  check "custom code: refused with the reason (no Zydis in hvctl.exe), exit 1" \
    bash -c "grep -q 'code refused: custom code is not available in this build (no Zydis' '$WORK/last.out'"
fi
if [ "$WIN_JANSSON" = ON ]; then
  # A few commands, then the whole demo, with --json on both sides.
  printf '%s\n' status 'wrmsr c0000082 fffff807`73553180 core 2' 'rdmsr c0000082' 'expect fail rdmsr 12345678' \
    '!dr pid 490 core 3' events > "$C/json.hvctl"
  linux_hvctl "$WORK/json.linux" --json --target sim:cores=4 -f "$C/json.hvctl"
  check "Linux hvctl --json: a few commands (exit 0)" test $? = 0
  w 'C:\hvctl.exe' --json --target sim:cores=4 -f 'C:\json.hvctl'
  check "hvctl.exe --json: a few commands (exit 0)" test $? = 0
  cp "$WORK/last.out" "$WORK/json.windows"
  compare json "$WORK/json.linux" "$WORK/json.windows"
  linux_hvctl "$WORK/jsondemo.linux" --json --target sim:cores=4 -f "$C/demo.hvctl"
  check "Linux hvctl --json: the demo (exit 0)" test $? = 0
  w 'C:\hvctl.exe' --json --target sim:cores=4 -f 'C:\demo.hvctl' > /dev/null
  check "hvctl.exe --json: the demo (exit 0)" test $? = 0
  cp "$WORK/last.out" "$WORK/jsondemo.windows"
  # The order of records from different threads (imm yes, batched flush,
  # the output thread) within a `listen` is timing: the text demo above
  # checks the order; here the JSON lines are compared as a sorted set.
  sort "$WORK/jsondemo.linux" > "$WORK/jsondemo.linux.sorted"
  tr -d '\r' < "$WORK/jsondemo.windows" | sort > "$WORK/jsondemo.windows.sorted"
  compare json-demo "$WORK/jsondemo.linux.sorted" "$WORK/jsondemo.windows.sorted"
else
  w 'C:\hvctl.exe' --json --target sim:cores=4 status
  check "--json: refused with the reason (no jansson in hvctl.exe), exit 2" \
    bash -c "[ $? = 2 ] && grep -q -- '--json: not available in this build' '$WORK/last.out'"
fi

say "== 2. the demo against a Linux hvctl serve over TCP on 127.0.0.1, with a key"
rm -f "$WORK/key" "$WORK/wrong.key"
"$HVCTL" keygen "$WORK/key" > /dev/null && "$HVCTL" keygen "$WORK/wrong.key" > /dev/null
check "hvctl keygen: two keys" test -s "$WORK/key" -a -s "$WORK/wrong.key"
# start_server: a fresh simulated machine per client run (events persist).
start_server() {
  local i
  : > "$WORK/serve.out"
  "$HVCTL" serve --listen 127.0.0.1:0 --key "$WORK/key" --cores 4 > "$WORK/serve.out" 2> "$WORK/serve.err" &
  SERVER_PID=$!
  for i in $(seq 1 100); do
    PORT=$(sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\), key required/\1/p' "$WORK/serve.out")
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  return 1
}
start_server
check "hvctl serve --key: listening on 127.0.0.1:${PORT:-?}" test -n "${PORT:-}"
# `simulate dr ... rbx 7000 rcx 1234` (guest registers) is not in the wire
# protocol: UNSUPPORTED over TCP for either client, the one line of the demo
# that fails there; both must say the same.
linux_hvctl "$WORK/tcp.linux" --target "tcp:127.0.0.1:$PORT,key=$WORK/key" -f "$C/demo.hvctl"
LINUX_RC=$?
check "Linux hvctl over TCP: the demo runs (only the register simulate is UNSUPPORTED over TCP)" \
  bash -c "[ $LINUX_RC = 1 ] && grep -qE ': 1 of [0-9]+ commands did not behave as written' '$WORK/tcp.linux' && grep -q '^simulate: UNSUPPORTED' '$WORK/tcp.linux'"
stop_server
start_server
KEYW="Z:$(echo "$WORK/key" | tr / '\\')"
w 'C:\hvctl.exe' --target "tcp:127.0.0.1:$PORT,key=$KEYW" -f 'C:\demo.hvctl'
check "hvctl.exe over TCP (BCrypt HMAC-SHA256 handshake): the demo runs, the same exit status ($LINUX_RC)" \
  test $? = "$LINUX_RC"
cp "$WORK/last.out" "$WORK/tcp.windows"
compare tcp "$WORK/tcp.linux" "$WORK/tcp.windows"
w 'C:\hvctl.exe' --target "tcp:127.0.0.1:$PORT,key=Z:$(echo "$WORK/wrong.key" | tr / '\\')" status
check "a wrong key: refused, the server's proof never accepted" \
  bash -c "grep -q \"cannot open target 'tcp:\" '$WORK/last.out' && ! grep -q '^target tcp' '$WORK/last.out'"
stop_server
say "    the server's log:"
sed 's/^/    /' "$WORK/serve.err" | tail -n 4 | tee -a "$OUT"

say "== 2b. the other way round: hvctl.exe keygen and serve, the Linux hvctl as the client"
rm -f "$C/win.key"
w 'C:\hvctl.exe' keygen 'C:\win.key'
check "hvctl.exe keygen (BCryptGenRandom): a 64-hex-digit key" grep -qxE '[0-9a-f]{64}' "$C/win.key"
chmod 600 "$C/win.key"    # the Linux side refuses a key file others may read
timeout 120 "$WINE" 'C:\hvctl.exe' serve --listen 127.0.0.1:0 --key 'C:\win.key' --cores 4 \
  < /dev/null > "$WORK/serve.win.out" 2> "$WORK/serve.win.err" &
SERVER_PID=$!
PORT=
for i in $(seq 1 150); do
  PORT=$(tr -d '\r' < "$WORK/serve.win.out" | sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\), key required/\1/p')
  [ -n "$PORT" ] && break
  sleep 0.2
done
check "hvctl.exe serve --key: listening on 127.0.0.1:${PORT:-?}" test -n "$PORT"
linux_hvctl "$WORK/tcpwin.linux" --target "tcp:127.0.0.1:$PORT,key=$C/win.key" -f "$C/demo.hvctl"
check "Linux hvctl against hvctl.exe serve: the demo runs, the same exit status ($LINUX_RC)" test $? = "$LINUX_RC"
compare tcp-serve-win "$WORK/tcp.linux" "$WORK/tcpwin.linux"
stop_server

say "== 3. --target local with hvcore.sys loaded (not virtualized under Wine)"
w 'C:\hvctl.exe' --target local status
check "before the driver: cannot open \\\\.\\hvcore, exit 1" \
  bash -c "grep -q \"cannot open target 'local': DEVICE_CONNECTION_LOST\" '$WORK/last.out'"
timeout 60 "$WINE" sc create hvcore type= kernel binPath= 'C:\hvcore.sys' < /dev/null > "$WORK/driver.log" 2>&1
w sc start hvcore
check "sc start: RUNNING" has 'STATE +: 4 +RUNNING'
sleep 1
w 'C:\hvctl.exe' --target local status
ncpu=$(sed -n 's/^target local, \([0-9]*\) cores$/\1/p' "$WORK/last.out")
check "status: answers, ${ncpu:-?} cores" test -n "$ncpu"
check "status: every core not virtualized, with the reason" \
  test "$(grep -cE '^core [0-9]+: not virtualized: (VMX_NOT_SUPPORTED|VMX_DISABLED_BY_FIRMWARE|INSUFFICIENT_RESOURCES) \(0x' "$WORK/last.out")" = "${ncpu:-x}"
w 'C:\hvctl.exe' --target local 'rdmsr c0000082'
check "rdmsr: NOT_VIRTUALIZED, exit 1" bash -c "[ $? = 1 ] && grep -q 'NOT_VIRTUALIZED' '$WORK/last.out'"
w 'C:\hvctl.exe' --target local 'wrmsr 1d9 1 core 0'
check "wrmsr: NOT_VIRTUALIZED, exit 1" bash -c "[ $? = 1 ] && grep -q 'NOT_VIRTUALIZED' '$WORK/last.out'"
w 'C:\hvctl.exe' --target local events
check "events: NOT_VIRTUALIZED, exit 1" bash -c "[ $? = 1 ] && grep -q '^events: NOT_VIRTUALIZED' '$WORK/last.out'"
w 'C:\hvctl.exe' --target local '!dr pid 490'
check "!dr: NOT_VIRTUALIZED, exit 1" bash -c "[ $? = 1 ] && grep -q 'NOT_VIRTUALIZED' '$WORK/last.out'"
w sc stop hvcore
sleep 1
w 'C:\hvctl.exe' --target local status
check "after sc stop: the device is gone" \
  bash -c "grep -q \"cannot open target 'local': DEVICE_CONNECTION_LOST\" '$WORK/last.out'"
w sc delete hvcore
say "== $FAILS check(s) failed"
[ "$FAILS" -eq 0 ]
