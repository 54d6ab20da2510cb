#!/usr/bin/env bash
# End-to-end stress test of hvcore.ko (LIFECYCLE.md): in the guest, for
# SECONDS of guest time, 4 processes churn ioctls (events added, changed and
# removed; MSR reads and writes on all cores), 2 processes make the kernel
# access debug registers, and a reader drains /dev/hvcore (killed and
# restarted half way); then rmmod. Records generated = delivered + dropped,
# exactly, from the hypervisor's ring counters; no BUG, WARNING or Oops;
# 0 allocations outstanding.
#
# usage: stress.sh [--cpus N] [--seconds S] [--timeout SECONDS] [--workdir DIR] [--no-setup]
#   --seconds S  guest seconds of stress (default 60)
#   --timeout T  limit of the Bochs run (default 900)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$E2E_DIR/../.." && pwd)

CPUS=2 SECONDS_=60 TIMEOUT=900 WORK='' SETUP=1
while (($#)); do
    case $1 in
    --cpus) CPUS=${2:?}; shift 2 ;;
    --seconds) SECONDS_=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --workdir) WORK=${2:?}; shift 2 ;;
    --no-setup) SETUP=0; shift ;;
    *) echo "stress.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ $SECONDS_ =~ ^[1-9][0-9]*$ ]] || e2e_die "--seconds must be a positive integer"
((SETUP)) && "$E2E_DIR/setup.sh"
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/hvcore-stress.XXXXXX")}
mkdir -p "$WORK/extra/hv"
KVER=$(e2e_kver)

e2e_log "building hvcore.ko for $KVER"
make -s -C "$ROOT/platform/linux" KDIR="$(e2e_headers_dir "$KVER")" OUT="$WORK/kmod" >"$WORK/kmod.log" 2>&1 ||
    { tail -n 40 "$WORK/kmod.log" >&2; e2e_die "module build failed"; }
cp "$WORK/kmod/hvcore.ko" "$WORK/extra/hv/"
"$E2E_DIR/build-static.sh" -o "$WORK/extra/hv/hvstress" -I"$ROOT/libhvcore/include" \
    "$E2E_DIR/guest/hvstress.c" >/dev/null
echo "$SECONDS_" >"$WORK/extra/hv/stress-seconds"

T0=$(date +%s)
set +e
"$E2E_DIR/boot.sh" --cpus "$CPUS" --timeout "$TIMEOUT" --workdir "$WORK/boot" \
    --initramfs-dir "$WORK/extra" --init "$E2E_DIR/stress_body.sh" --log "$WORK/serial.log"
rc=$?
set -e
T1=$(date +%s)
touch "$WORK/serial.log"
echo "== results ($CPUS CPUs, $SECONDS_ s of stress; this script: $((T1 - T0)) s wall, including any wait for the Bochs lock)"
grep -a -E '^(E2E (PASS|FAIL)|HV-)' "$WORK/serial.log" | tr -d '\r' || true
pass=$(grep -a -c '^E2E PASS' "$WORK/serial.log" || true)
fail=$(grep -a -c '^E2E FAIL' "$WORK/serial.log" || true)
# The body's own checks must all be there: a run cut short passes nothing.
for name in stress-fresh-rings stress-workers stress-ioctls stress-breakpoints stress-records stress-exact-totals \
    stress-rmmod stress-no-leak stress-devirtualized stress-kernel-log; do
    grep -a -q "^E2E PASS $name:" "$WORK/serial.log" || { echo "e2e: no PASS line for $name"; fail=$((fail + 1)); }
done
((rc == 0 && pass > 0)) || fail=$((fail + 1))
echo "stress: $pass passed, $fail failed"
((fail == 0))
