#!/usr/bin/env bash
# Debugger Mode e2e, host side: run by boot.sh --host next to Bochs (dbg.sh).
# E2E_COM1 is Bochs's com1 socket-server, E2E_SERIAL_LOG the guest's console.
# Starts dbgrelay.py (the one client Bochs accepts), then drives the stub with
# hvctl --target serial:tcp:127.0.0.1:RELAY -f SCRIPT, one session per step,
# and judges hvctl's output and the guest's lines. Prints "E2E PASS|FAIL host-..."
# lines, the sessions' transcripts and BENCH lines; exits 1 if any check failed.
#
# usage: dbg_host.sh --relay-port P --control-port P --hvctl PATH --out DIR [--sim-port P] [--params-only]
set -uo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RELAY_PORT= CTL_PORT= HVCTL= OUT= PARAMS_ONLY=0 SIM_PORT=
while (($#)); do
    case $1 in
    --relay-port) RELAY_PORT=$2; shift 2 ;;
    --control-port) CTL_PORT=$2; shift 2 ;;
    --hvctl) HVCTL=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --params-only) PARAMS_ONLY=1; shift ;;
    --sim-port) SIM_PORT=$2; shift 2 ;;
    *) echo "dbg_host.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
: "${E2E_COM1:?run by boot.sh --host}" "${E2E_SERIAL_LOG:?}" "${RELAY_PORT:?}" "${CTL_PORT:?}" "${OUT:?}"
mkdir -p "$OUT"
LOG=$E2E_SERIAL_LOG
rc=0
pass() { echo "E2E PASS host-$*"; }
fail() { echo "E2E FAIL host-$*"; rc=1; }
say() { echo "[host $(date +%T)] $*"; }

/usr/bin/python3 "$E2E_DIR/dbgrelay.py" --target "$E2E_COM1" --listen "$RELAY_PORT" --control "$CTL_PORT" \
    --log "$OUT/relay.log" &
RELAY=$!
finish() {
    ctl quit >/dev/null 2>&1
    for _ in $(seq 20); do kill -0 "$RELAY" 2>/dev/null || break; sleep 0.5; done
    kill "$RELAY" 2>/dev/null
    echo "---- relay log ($OUT/relay.log) ----"
    cat "$OUT/relay.log" 2>/dev/null
    exit $rc
}

# One command to the relay's control port; prints its answer line.
ctl() {
    /usr/bin/python3 - "$CTL_PORT" "$*" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(sys.argv[2].encode() + b"\n")
a = b""
while not a.endswith(b"\n"):
    d = s.recv(4096)
    if not d:
        break
    a += d
print(a.decode().strip())
PY
}

# Wait up to SECONDS (wall) for an extended regex in the guest's log.
wait_log() { # regex seconds
    local end=$((SECONDS + $2))
    while ((SECONDS < end)); do
        grep -a -q -E "$1" "$LOG" 2>/dev/null && return 0
        kill -0 "$RELAY" 2>/dev/null || return 1 # Bochs ended
        sleep 1
    done
    return 1
}

if ((PARAMS_ONLY)); then
    # Only the guest's parameter checks: keep the line open until Bochs ends.
    wait "$RELAY"
    finish
fi

TARGET=serial:tcp:127.0.0.1:$RELAY_PORT
N=0
# One hvctl session: the script's lines on stdin of this function; its
# transcript is printed and kept in $OUT/sNN-NAME.{hvctl,out}; $HV holds
# the output, $HVRC the exit status.
session() { # name
    N=$((N + 1))
    local f
    f=$OUT/$(printf 's%02d' "$N")-$1
    cat >"$f.hvctl"
    # The stub answers requests one at a time and retransmits a reply whose ACK
    # never came (its client left) for a few seconds of guest time, which
    # under Bochs is up to ~25 s of wall time: a new session waits until the
    # line has been quiet for 8 s (at most 90 s), else it times out.
    if [[ $TARGET == "serial:tcp:127.0.0.1:$RELAY_PORT" ]]; then
        local t0=$SECONDS
        while (($(ctl quiet | cut -d. -f1) < 8 && SECONDS - t0 < 90)); do sleep 1; done
    fi
    echo "---- session $N ($1): hvctl --target $TARGET -f $(basename "$f").hvctl ----"
    HVRC=0
    timeout 600 "$HVCTL" --target "$TARGET" -f "$f.hvctl" >"$f.out" 2>&1 || HVRC=$?
    HV=$(tr -d '\r' <"$f.out")
    printf '%s\n' "$HV" | sed 's/^/    | /'
    echo "    (hvctl exit status $HVRC)"
}
has() { grep -q -E -- "$1" <<<"$HV"; }
ticks() { grep -a -c "^TICK cpu=$1 " "$LOG"; }
guest() { grep -a -E "$1" "$LOG" | tr -d '\r'; }

# ---- the guest is up, the module loaded in Debugger Mode ------------------------
if wait_log '^DBG-READY' 900; then
    pass "guest-ready: $(guest 'load-debug' | head -n 1 | sed 's/^E2E PASS //')"
else
    fail "guest-ready: no DBG-READY in the guest's log"
    finish
fi
wait_log '^TICK cpu=1 ' 60 && wait_log '^TICK cpu=0 ' 60 || fail "tickers: no TICK lines from both CPUs"

# A second implementation of the line (dbgping.py, from the headers) gets a
# HELLO answered while the guest runs.
out=$(/usr/bin/python3 "$E2E_DIR/dbgping.py" --target "127.0.0.1:$RELAY_PORT" --timeout 30 hello 2>&1)
echo "    dbgping hello: $out"
if grep -q 'HELLO status=0x00000000 version=1 state=running cores=2' <<<"$out"; then
    pass "hello-running: $out"
else
    fail "hello-running: $out"
fi

# ---- break in, both cores halted, registers, MSR writes on core 1; drop the line --
V176=ffffffff81abc000
VAUX=5a5a
session break-in <<EOF
status
pause
~
r
r rip
~ 1
r
r rip
wrmsr 176 $V176 core 1
wrmsr c0000103 $VAUX core 1
rdmsr 176 core 1
rdmsr c0000103 core 1
EOF
if ((HVRC == 0)) && has 'break-in: core [0-9a-f]+ halted the target' && ! has 'did not halt'; then
    pass "break-in: $(grep -m1 'break-in: core' <<<"$HV"); no core left running"
else
    fail "break-in: exit $HVRC, no break-in stop report, or a core did not halt"
fi
if has '^core 0:$' && has '^switched to core 1' && has '^core 1:$' && [[ $(grep -c '^rip=' <<<"$HV") -ge 2 ]]; then
    pass "registers: r on core 0 ($(sed -n '/^core 0:$/,/^hvctl>/p' <<<"$HV" | grep -m1 -o '^rip=[0-9a-f]*')) and on core 1 ($(sed -n '/^core 1:$/,/^hvctl>/p' <<<"$HV" | grep -m1 -o '^rip=[0-9a-f]*'))"
else
    fail "registers: no register dump of core 0 and core 1"
fi
if has "msr\[176\] = ${V176:0:8}\`?${V176:8}" && has "msr\[c0000103\] = [0\`]*5a5a"; then
    pass "wrmsr-halted: core 1 reads back msr[176] = $V176 and msr[c0000103] = $VAUX while halted"
else
    fail "wrmsr-halted: the halted core 1 did not read back the values written"
fi

# Both cores halted: no TICK line from either while the host sleeps.
a0=$(ticks 0) a1=$(ticks 1)
sleep 8
b0=$(ticks 0) b1=$(ticks 1)
if ((a0 == b0 && a1 == b1 && a0 > 0 && a1 > 0)); then
    pass "all-halted: no TICK line from cpu 0 ($a0) or cpu 1 ($a1) across 8 s of host time with the connection dropped"
else
    fail "all-halted: TICK lines cpu0 $a0 -> $b0, cpu1 $a1 -> $b1 across 8 s"
fi
if guest '^DBG-MSR-CHANGED' | grep -q .; then fail "msr-before-go: the guest saw a change while halted"; fi

# ---- reconnect: still halted, state kept; g ----------------------------------------
session reconnect <<EOF
status
rdmsr 176 core 1
g
EOF
if ((HVRC == 0)) && has '^halted \(stop #' && has "msr\[176\] = ${V176:0:8}\`?${V176:8}" && has '^running'; then
    pass "reconnect: a new connection found the target still halted ($(grep -m1 '^halted' <<<"$HV")), the MSR kept, g resumed it"
else
    fail "reconnect: exit $HVRC"
fi
if wait_log "^DBG-MSR-CHANGED cpu=1 msr=0x176 value=0x$V176 " 300 &&
    wait_log "^DBG-MSR-CHANGED cpu=1 msr=0xc0000103 value=0x$VAUX " 60; then
    pass "msr-guest-view: the guest read back on cpu 1: $(guest '^DBG-MSR-CHANGED' | tr '\n' ';')"
else
    fail "msr-guest-view: $(guest '^DBG-MSR' | tr '\n' ';')"
fi
c0=$(ticks 0) c1=$(ticks 1)
sleep 5
d0=$(ticks 0) d1=$(ticks 1)
if ((d0 > c0 && d1 > c1)); then pass "resumed: TICK lines again on cpu 0 ($c0 -> $d0) and cpu 1 ($c1 -> $d1)"; else fail "resumed: cpu0 $c0 -> $d0, cpu1 $c1 -> $d1"; fi

# ---- !dr pid P with a break action: the machine halts at the process's MOV DR --------
if wait_log '^DBG-DR pid=[0-9]+ cpu=1 ready' 300; then
    PID=$(guest '^DBG-DR pid=' | head -n 1 | sed 's/.*pid=\([0-9]*\).*/\1/')
    PIDX=$(printf '%x' "$PID")
    session dr-break <<EOF
pause
!dr pid $PIDX core 1
g
wait 0n300
r rip
EOF
    # The stop report that `wait` printed.
    after=$(sed -n '/^hvctl> wait/,$p' <<<"$HV")
    stop=$(grep -m1 -E 'event [0-9]+ \(!dr: .*halted the target on core' <<<"$after")
    where=$(grep -m1 -E '^core [0-9a-f]+: pid ' <<<"$after")
    rip=$(sed -n 's/^core [0-9a-f]*: pid [0-9a-f]*, rip \([0-9a-f`]*\),.*/\1/p' <<<"$where" | tr -d '`')
    ksym=
    if [[ -n $rip ]]; then
        ksym=$(guest '^DBG-KSYM ' | awk -v r="$rip" '{ if (length($2) == length(r) && $2 <= r && r < $3) print $4 }' | head -n 1)
    fi
    # The stop is reported after the MOV-DR exit was handled: RIP is the
    # instruction after the MOV (0F 21 /r or 0F 23 /r, 3 bytes).
    mov=
    if [[ -n $rip ]]; then
        at=$(printf '%x' $((0x$rip - 3)))
        session dr-insn <<EOF
db $at L 3
EOF
        mov=$(grep -m1 -i -E "^${at:0:8}\`?${at:8} +0f 2[13] [0-9a-f]{2}( |$)" <<<"$HV")
    fi
    if [[ -n $stop && $stop == *"on core 1 "* && $where == "core 1: pid $PIDX,"* && -n $ksym && -n $mov ]]; then
        pass "dr-break: $stop; $where (the guest's pid $PID = 0x$PIDX, pinned to cpu 1); rip in $ksym; the MOV before it: $mov"
    else
        fail "dr-break: stop '$stop'; where '$where' (want core 1, pid $PIDX); rip '$rip' in '$ksym'; MOV bytes '$mov'"
    fi
    # Remove the event (applied after g, by the module's periodic work): until
    # then the process's next DR writes may halt the target again; each such
    # stop must be the same event, and `g` continues.
    session dr-clear <<EOF
events c all
g
EOF
    extra=0
    for _ in 1 2 3 4 5 6; do
        sleep 3
        session dr-check <<EOF
status
EOF
        has '^halted' || break
        extra=$((extra + 1))
        session dr-continue <<EOF
g
EOF
    done
    if has '^running'; then
        pass "dr-cleared: the target runs on with the event removed ($extra more stop(s) before it took effect)"
    else
        fail "dr-cleared: still halting after the event was cleared"
    fi
else
    fail "dr-break: the guest's DR process did not start"
fi

# ---- corrupt frames on the line: answered, recovered ------------------------------
# Two request frames to the target, and the next two frames to the host
# (whatever they are: the stub's ACK of the first request and its reply), plus
# noise both ways. A corrupted reply is recovered by the stub's retransmission
# (ACK wait 250 ms + the frame's line time, in guest time; a few seconds of wall
# time under Bochs while halted), well within hvctl's 10 s request timeout.
echo "    relay: $(ctl corrupt to-target data 2) $(ctl corrupt to-host any 2) $(ctl noise to-target 7) $(ctl noise to-host 9)"
session corrupt <<EOF
pause
status
rdmsr 176 core 1
g
EOF
stats=$(ctl stats)
echo "    relay stats: $stats"
if ((HVRC == 0)) && grep -q 'to_target_corrupted=2' <<<"$stats" && grep -q 'to_host_corrupted=2' <<<"$stats"; then
    pass "corrupt-frames: every command answered; relay: $(grep -o 'to_[a-z]*_\(corrupted\|retransmits\|noise\)=[0-9]*' <<<"$stats" | tr '\n' ' ')"
else
    fail "corrupt-frames: exit $HVRC; relay: $stats"
fi

# ---- round trip of one request: the emulated serial line, and TCP -------------------
# dbgping.py times STATUS requests (sent to reply received, ACKs included),
# halted and running. TCP: the same stub code on the mock machine with its
# serial line on a TCP socket (hvctl serve --serial).
ctl corrupt to-target any 0 >/dev/null
ctl corrupt to-host any 0 >/dev/null
bench() { # transport state port
    local out med
    out=$(/usr/bin/python3 "$E2E_DIR/dbgping.py" --target "127.0.0.1:$3" --timeout 60 bench 20 2>&1)
    echo "    dbgping bench ($1, $2): $out"
    med=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<<"$out")
    if [[ -n $med ]]; then
        echo "BENCH dbg_request_rtt_${1}_${2} $med ms"
        pass "bench-$1-$2: one STATUS request's round trip: $out"
    else
        fail "bench-$1-$2: $out"
    fi
}
session bench-pause <<EOF
pause
EOF
bench serial halted "$RELAY_PORT"
session bench-go <<EOF
g
EOF
bench serial running "$RELAY_PORT"
if [[ -n $SIM_PORT ]]; then
    "$HVCTL" serve --serial --listen "127.0.0.1:$SIM_PORT" --cores 2 >"$OUT/serve.log" 2>&1 &
    SERVE=$!
    for _ in $(seq 50); do
        /usr/bin/python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
            "$SIM_PORT" 2>/dev/null && break
        sleep 0.2
    done
    TARGET_SAVED=$TARGET
    TARGET=serial:tcp:127.0.0.1:$SIM_PORT
    session bench-tcp-pause <<EOF
pause
EOF
    bench tcp halted "$SIM_PORT"
    session bench-tcp-go <<EOF
g
EOF
    bench tcp running "$SIM_PORT"
    TARGET=$TARGET_SAVED
    kill "$SERVE" 2>/dev/null
    wait "$SERVE" 2>/dev/null
else
    fail "bench-tcp: no --sim-port"
fi

# ---- the end: tell the guest (IA32_SYSENTER_ESP on core 0), let it finish ----------
session finish <<EOF
pause
wrmsr 175 ffffffff8badf00d core 0
g
EOF
if wait_log '^E2E-END' 600; then
    pass "guest-finished: $(guest '^DBG-GUEST-DONE|^E2E-END' | tr '\n' ' ')"
else
    fail "guest-finished: no E2E-END"
fi
finish
