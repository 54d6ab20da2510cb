#!/usr/bin/env bash
# hvcore.sys under Wine (Debian's wine64), headless, in a fresh WINEPREFIX:
# `sc create/start` runs DriverEntry in winedevice.exe; the driver must find
# that it cannot virtualize without executing VMXON or writing
# IA32_FEATURE_CONTROL (either would kill winedevice), stay loaded in its
# "not virtualized" state, answer the test client's device controls with
# clear statuses, apply its DACL, and unload with nothing left (twice).
# Usage: wine_driver.sh BUILD_WIN_DIR WORKDIR
# Prints the transcript (also WORKDIR/transcript.txt); exit 0 = every check
# passed, 77 = wine64 not installed (ctest: skipped).
set -uo pipefail
BIN=$(cd "$1" && pwd)/platform/windows
WORK=$(mkdir -p "$2" && cd "$2" && pwd)
for f in hvcore.sys hvwin_client.exe; do
  [ -f "$BIN/$f" ] || { echo "FAIL: $BIN/$f not built"; exit 1; }
done
LOG=$WORK/driver.log           # winedevice.exe's stderr: the driver's DbgPrint lines
# shellcheck source=wine_lib.sh
. "$(dirname "$0")/wine_lib.sh"
wine_prefix
cp "$BIN/hvcore.sys" "$BIN/hvwin_client.exe" "$WINEPREFIX/drive_c/"

# The first command starts services.exe (and later winedevice.exe) with this
# WINEDEBUG and stderr: the driver's DbgPrintEx lines land in $LOG.
WINEDEBUG=warn+debugstr,err+all timeout 60 "$WINE" sc create hvcore type= kernel binPath= 'C:\hvcore.sys' \
  < /dev/null > "$LOG" 2>&1

for cycle in 1 2; do
  say "== load $cycle: sc start hvcore"
  w sc start hvcore
  check "sc start: RUNNING" has 'STATE +: 4 +RUNNING'
  sleep 1
  say "== hvwin_client status"
  w 'C:\hvwin_client.exe' status
  ncpu=$(sed -n 's/.*cpus \([0-9]*\),.*/\1/p' "$WORK/last.out")
  check "QUERY succeeds, $ncpu CPUs" has 'status: header 0x00000000 \(SUCCESS\), abi 1, cpus [1-9]'
  check "every CPU: not virtualized, with the reason" \
    test "$(grep -cE 'virtualized 0 status 0xe0e1000[12] \((VMX_NOT_SUPPORTED|VMX_DISABLED_BY_FIRMWARE)\)|virtualized 0 status 0xc0000002' "$WORK/last.out")" = "${ncpu:-x}"
  check "no allocation outstanding" has 'allocations 0,'
  say "== rdmsr 0x10 (all cores), wrmsr 0x1d9 1 on core 0"
  w 'C:\hvwin_client.exe' rdmsr 0x10
  check "rdmsr: NOT_VIRTUALIZED, nothing executed" has 'header 0xe0e10008 \(NOT_VIRTUALIZED\), 0 results'
  w 'C:\hvwin_client.exe' wrmsr 0x1d9 1 0
  check "wrmsr: NOT_VIRTUALIZED, nothing executed" has 'header 0xe0e10008 \(NOT_VIRTUALIZED\), 0 results'
  w 'C:\hvwin_client.exe' wrmsr 0x3a 5
  check "wrmsr FEATURE_CONTROL: NOT_VIRTUALIZED (never written)" has 'header 0xe0e10008'
  say "== a malformed request, an unknown request, a read, the DACL"
  w 'C:\hvwin_client.exe' malformed
  check "malformed: ERROR_INVALID_PARAMETER" has 'error 87$'
  w 'C:\hvwin_client.exe' unknown-ioctl
  check "unknown request: ERROR_INVALID_PARAMETER" has 'error 87$'
  w 'C:\hvwin_client.exe' read
  check "read: refused (STATUS_INVALID_DEVICE_STATE)" has 'error 22 '
  w 'C:\hvwin_client.exe' dacl
  say "== sc stop hvcore"
  w sc stop hvcore
  sleep 1
  w sc query hvcore
  check "sc stop: STOPPED" has 'STATE +: 1 +STOPPED'
  w 'C:\hvwin_client.exe' status
  check "device gone after unload" has 'open \\\\\.\\hvcore: error 2$'
done
w sc delete hvcore

say "== the driver's log (DbgPrintEx through Wine's debugstr channel)"
tr -d '\r' < "$LOG" | grep -E 'hvcore: |MmGetSystemRoutineAddress' | sed 's/^[0-9a-f]*:warn:debugstr:vDbgPrintExWithPrefix [0-9a-f]*:[0-9a-f]*: /    /' \
  | tee -a "$OUT" > "$WORK/driver.txt"
D=$WORK/driver.txt
check "DriverEntry ran twice" test "$(grep -c 'processors; broadcasts through' "$D")" = 2
check "broadcast falls back to KeGenericCallDpc (no KeIpiGenericCall in Wine)" has 'broadcasts through KeGenericCallDpc' "$D"
check "says why it cannot virtualize" has 'has no VMX \(CPUID.1:ECX\[5\] = 0\)|IA32_FEATURE_CONTROL = 0x0 is unlocked|no physically contiguous memory' "$D"
check "stays loaded, not virtualized" has 'not virtualized \((VMX_NOT_SUPPORTED|VMX_DISABLED_BY_FIRMWARE|INSUFFICIENT_RESOURCES)' "$D"
check "never virtualized a CPU" bash -c "! grep -qE 'processors virtualized|cannot virtualize cpu' '$D'"
check "DACL applied and read back: protected, SYSTEM and Administrators only" \
  has 'DACL read back: D:P\(A;;0x[0-9a-f]+;;;S-1-5-18\)\(A;;0x[0-9a-f]+;;;S-1-5-32-544\)$' "$D"
check "unloaded twice with 0 allocations outstanding" test "$(grep -c 'unloaded; 0 allocations outstanding' "$D")" = 2
check "winedevice.exe never died (no VMXON/WRMSR 0x3A executed)" \
  bash -c "! tr -d '\r' < '$LOG' | grep -qiE 'unhandled exception|privileged instruction|page fault on|wine: Unhandled'"
say "== $FAILS check(s) failed"
[ "$FAILS" -eq 0 ]
