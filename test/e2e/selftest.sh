#!/usr/bin/env bash
# Self-test of the end-to-end harness: builds test/e2e/selftest/hello.ko and the
# static vmxcheck program, boots the guest with them and runs selftest/body.sh
# (VMX flag on every CPU, CPUID.VMX on every CPU, the CPU's VMX capability MSRs
# and modern features (cpucaps), insmod, hello from every CPU, rmmod). Exits 0
# only if every run printed "E2E-SELFTEST PASS".
#
# usage: selftest.sh [--cpus N] [--runs R] [--timeout SECONDS] [--boot pvh|bzimage]
#                    [--workdir DIR] [--no-setup] [--model NAME]
#   --runs R     boot R times in a row (one Bochs at a time), default 1
#   --no-setup   do not run setup.sh first (it is idempotent and takes ~1 s when cached)
#   --model NAME emulated CPU model (boot.sh --model; default haswell or $HVCORE_E2E_MODEL)
# Each run's cpucaps report (Markdown) is left in WORKDIR/runN/cpucaps.md.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }
CPUS=2 RUNS=1 TIMEOUT=240 BOOT=pvh WORK='' SETUP=1 MODEL=${HVCORE_E2E_MODEL:-haswell}
while (($#)); do
    case $1 in
    --cpus) CPUS=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --boot) BOOT=${2:?}; shift 2 ;;
    --workdir) WORK=${2:?}; shift 2 ;;
    --no-setup) SETUP=0; shift ;;
    --model) MODEL=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "selftest.sh: unknown argument: $1" >&2; usage ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || e2e_die "--runs must be a positive integer"

if ((SETUP)); then
    "$E2E_DIR/setup.sh"
fi
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/hvcore-e2e-selftest.XXXXXX")}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

EXTRA=$WORK/extra
rm -rf "$EXTRA"
mkdir -p "$EXTRA/selftest"
KO=$("$E2E_DIR/build-module.sh" --out "$WORK/module" "$E2E_DIR/selftest")
cp "$KO" "$EXTRA/selftest/hello.ko"
"$E2E_DIR/build-static.sh" -o "$EXTRA/selftest/vmxcheck" "$E2E_DIR/selftest/vmxcheck.c" >/dev/null
"$E2E_DIR/build-static.sh" -o "$EXTRA/selftest/cpucaps" "$E2E_DIR/selftest/cpucaps.c" >/dev/null
# The kernel's own msr driver: cpucaps reads the VMX capability MSRs through it.
KVER=$(e2e_kver)
cp "$E2E_CACHE/$KVER/image/lib/modules/$KVER/kernel/arch/x86/kernel/msr.ko" "$EXTRA/selftest/" ||
    e2e_die "msr.ko not found in the kernel package"

pass=0 fail=0
for ((i = 1; i <= RUNS; i++)); do
    echo "=== selftest run $i/$RUNS (cpus $CPUS, model $MODEL)"
    t0=$(date +%s.%N)
    rc=0
    "$E2E_DIR/boot.sh" --cpus "$CPUS" --timeout "$TIMEOUT" --boot "$BOOT" --model "$MODEL" \
        --initramfs-dir "$EXTRA" --init "$E2E_DIR/selftest/body.sh" \
        --workdir "$WORK/run$i" --log "$WORK/run$i/serial.log" || rc=$?
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    grep -a '^cpucaps|' "$WORK/run$i/serial.log" 2>/dev/null | tr -d '\r' | sed 's/^cpucaps|//' >"$WORK/run$i/cpucaps.md" || true
    if ((rc == 0)) && grep -aq '^E2E-SELFTEST PASS' "$WORK/run$i/serial.log"; then
        grep -a -E '^(selftest|vmxcheck|E2E-SELFTEST)|hvcore-e2e:|^cpucaps\|(VMCS|EPT)' "$WORK/run$i/serial.log" | tr -d '\r' | sed 's/^/    guest| /'
        echo "=== run $i: PASS in ${secs}s"
        pass=$((pass + 1))
    else
        grep -a '^E2E-SELFTEST' "$WORK/run$i/serial.log" 2>/dev/null | tr -d '\r' || true
        echo "=== run $i: FAIL in ${secs}s (boot.sh status $rc; logs in $WORK/run$i)"
        fail=$((fail + 1))
    fi
done
echo "selftest: $pass passed, $fail failed"
((fail == 0))
