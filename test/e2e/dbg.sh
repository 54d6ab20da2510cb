#!/usr/bin/env bash
# End-to-end test of Debugger Mode (issue 14): Debian's kernel on Bochs's
# emulated VT-x CPU loads hvcore.ko debug=ttyS0; COM1 is Bochs's socket-
# server, reached by the host through dbgrelay.py; the host (dbg_host.sh)
# breaks in with hvctl --target serial:tcp:..., checks the halt, registers,
# MSR writes, a `!dr` break, a dropped connection and corrupt frames, and
# times requests. The guest (dbg_body.sh) checks the parameter and reports
# what it sees on COM2, the serial log. Judged by lines of both.
#
# usage: dbg.sh [--cpus N] [--timeout SECONDS] [--workdir DIR] [--no-setup] [--hvctl PATH] [--params-only]
#   --hvctl PATH    the hvctl to drive the stub with (default: build/examples/hvctl of this tree)
#   --params-only   only the guest's checks of the debug= parameter (no session)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$E2E_DIR/../.." && pwd)

CPUS=2 TIMEOUT=1200 WORK= SETUP=1 HVCTL=$ROOT/build/examples/hvctl PARAMS_ONLY=0
while (($#)); do
    case $1 in
    --cpus) CPUS=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --workdir) WORK=${2:?}; shift 2 ;;
    --no-setup) SETUP=0; shift ;;
    --hvctl) HVCTL=${2:?}; shift 2 ;;
    --params-only) PARAMS_ONLY=1; shift ;;
    *) echo "dbg.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
((CPUS >= 2)) || e2e_die "--cpus must be at least 2 (the test halts and writes core 1)"
((PARAMS_ONLY)) || [[ -x $HVCTL ]] || e2e_die "no hvctl at $HVCTL (--hvctl PATH)"
((SETUP)) && "$E2E_DIR/setup.sh"
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/hvcore-e2e.XXXXXX")}
rm -rf "$WORK/extra"
mkdir -p "$WORK/extra/hv"
WORK=$(cd "$WORK" && pwd)
KVER=$(e2e_kver)

e2e_log "building hvcore.ko for $KVER"
make -s -C "$ROOT/platform/linux" KDIR="$(e2e_headers_dir "$KVER")" OUT="$WORK/kmod" >"$WORK/kmod.log" 2>&1 ||
    { tail -n 40 "$WORK/kmod.log" >&2; e2e_die "module build failed"; }
cp "$WORK/kmod/hvcore.ko" "$WORK/extra/hv/"
cp "$E2E_CACHE/$KVER/image/lib/modules/$KVER/kernel/arch/x86/kernel/msr.ko" "$WORK/extra/hv/" ||
    e2e_die "msr.ko not found in the kernel package (the guest reads MSRs through it)"
"$E2E_DIR/build-static.sh" -o "$WORK/extra/hv/dbgguest" "$E2E_DIR/guest/dbgguest.c" >/dev/null
((PARAMS_ONLY)) && : >"$WORK/extra/hv/params-only"

# Ports on 127.0.0.1: Bochs's com1, the relay's client and control ports,
# hvctl serve --serial (the TCP round trip).
# boot.sh runs Bochs and the host side in a private network namespace when
# it can; these are free on the host too, for when it cannot.
read -r P_COM1 P_RELAY P_CTL P_SIM < <(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

HOST_ARGS=(--relay-port "$P_RELAY" --control-port "$P_CTL" --hvctl "$HVCTL" --out "$WORK/host"
    --sim-port "$P_SIM")
((PARAMS_ONLY)) && HOST_ARGS+=(--params-only)
set +e
"$E2E_DIR/boot.sh" --cpus "$CPUS" --timeout "$TIMEOUT" --workdir "$WORK/boot" \
    --initramfs-dir "$WORK/extra" --init "$E2E_DIR/dbg_body.sh" --log "$WORK/serial.log" \
    --cmdline-extra "nosoftlockup nowatchdog rcupdate.rcu_cpu_stall_suppress=1" \
    --com1-socket "$P_COM1" --host "$(printf '%q ' "$E2E_DIR/dbg_host.sh" "${HOST_ARGS[@]}")"
rc=$?
set -e
echo "== host side (dbg_host.sh; hvctl sessions and relay in $WORK/host)"
tr -d '\r' <"$WORK/boot/host.log" 2>/dev/null | grep -v '^\[relay' || true
echo "== results ($CPUS CPUs)"
{ tr -d '\r' <"$WORK/serial.log"; tr -d '\r' <"$WORK/boot/host.log"; } 2>/dev/null |
    grep -E '^E2E (PASS|FAIL)' | tee "$WORK/results.txt" || true
grep -h -E '^BENCH ' "$WORK/boot/host.log" 2>/dev/null | tr -d '\r' >"$WORK/bench.txt" || true
pass=$(grep -c '^E2E PASS' "$WORK/results.txt" || true)
fail=$(grep -c '^E2E FAIL' "$WORK/results.txt" || true)
((rc == 0 && pass > 0)) || fail=$((fail + 1))
echo "e2e: $pass passed, $fail failed"
((fail == 0))
