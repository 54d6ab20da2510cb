#!/usr/bin/env bash
# VM-entry diagnosis against an independent oracle: Bochs's own VM-entry
# checks. One boot of the Debian guest on Bochs's emulated VT-x CPU loads
# hvcore.ko once per corruption of libhvcore/src/vmx/vmcs_corrupt.c
# (test_corrupt=NAME corrupts CPU 0's VMCS just before VMLAUNCH); for each,
# Bochs's log line for the refused entry ("VMFAIL: ..." / "VMENTER FAIL:
# ...") is compared with the check our diagnosis names. Prints the agreement
# table (corruption | Bochs says | we say) and fails on any disagreement,
# on a corruption Bochs accepted, or if fewer than 30 were compared.
#
# usage: diag.sh [--all] [--timeout SECONDS] [--workdir DIR] [--no-setup] [--report FILE]
#   --all   every corruption of the table (69; ~6 min of Bochs); default every
#           second one (35), which keeps all four groups (controls, host,
#           guest, link pointer) and the run near 3 min
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$E2E_DIR/../.." && pwd)

TIMEOUT=600 WORK= SETUP=1 REPORT= ALL=0
while (($#)); do
    case $1 in
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --workdir) WORK=${2:?}; shift 2 ;;
    --no-setup) SETUP=0; shift ;;
    --report) REPORT=${2:?}; shift 2 ;;
    --all) ALL=1; shift ;;
    *) echo "diag.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
((SETUP)) && "$E2E_DIR/setup.sh"
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/hvcore-diag.XXXXXX")}
mkdir -p "$WORK/extra/hv"
KVER=$(e2e_kver)

e2e_log "building hvcore.ko for $KVER"
make -s -C "$ROOT/platform/linux" KDIR="$(e2e_headers_dir "$KVER")" OUT="$WORK/kmod" >"$WORK/kmod.log" 2>&1 ||
    { tail -n 40 "$WORK/kmod.log" >&2; e2e_die "module build failed"; }
cp "$WORK/kmod/hvcore.ko" "$WORK/extra/hv/"
cp "$E2E_CACHE/$KVER/image/lib/modules/$KVER/kernel/arch/x86/kernel/msr.ko" "$WORK/extra/hv/" ||
    e2e_die "msr.ko not found in the kernel package (the markers need it)"
# The corruption names, in table order.
grep -o '^    { "[a-z0-9.-]*"' "$ROOT/libhvcore/src/vmx/vmcs_corrupt.c" | sed 's/.*"\(.*\)"/\1/' |
    awk -v all="$ALL" 'all == 1 || NR % 2 == 1' >"$WORK/extra/hv/corruptions"
n=$(wc -l <"$WORK/extra/hv/corruptions")
((n >= 30)) || e2e_die "only $n corruptions in vmcs_corrupt.c"

set +e
"$E2E_DIR/boot.sh" --cpus 1 --timeout "$TIMEOUT" --workdir "$WORK/boot" \
    --initramfs-dir "$WORK/extra" --init "$E2E_DIR/diag_body.sh" --log "$WORK/serial.log"
rc=$?
set -e
python3 "$E2E_DIR/diag_compare.py" "$WORK/serial.log" "$WORK/boot/bochs.log" ${REPORT:+--report "$REPORT"}
cmp=$?
grep -E '^E2E (PASS|FAIL)' "$WORK/serial.log" || true
fail=$(grep -c '^E2E FAIL' "$WORK/serial.log" || true)
((rc == 0 && fail == 0 && cmp == 0))
