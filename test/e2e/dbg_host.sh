#!/usr/bin/env bash
# Debugger Mode e2e, host side: run by boot.sh --host next to Bochs (dbg.sh).
# E2E_COM1 is Bochs's com1 socket-server, E2E_SERIAL_LOG the guest's console.
# Starts dbgrelay.py (the one client Bochs accepts), then drives the stub with
# hvctl --target serial:tcp:127.0.0.1:RELAY -f SCRIPT, one session per step,
# and judges hvctl's output and the guest's lines. Prints "E2E PASS|FAIL host-..."
# lines, the sessions' transcripts and BENCH lines; exits 1 if any check failed.
#
# usage: dbg_host.sh --relay-port P --control-port P --hvctl PATH --out DIR [--params-only]
set -uo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RELAY_PORT= CTL_PORT= HVCTL= OUT= PARAMS_ONLY=0
while (($#)); do
    case $1 in
    --relay-port) RELAY_PORT=$2; shift 2 ;;
    --control-port) CTL_PORT=$2; shift 2 ;;
    --hvctl) HVCTL=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --params-only) PARAMS_ONLY=1; shift ;;
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
    RELAY=
    finish
fi

finish
