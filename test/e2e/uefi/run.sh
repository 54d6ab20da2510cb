#!/usr/bin/env bash
# End-to-end runs of hvcore.efi under OVMF (DESIGN.md 8), judged by lines in
# the serial log:
#   run.sh --mode vtx   [--cpus N]   Bochs + OVMF, VT-x: load, every CPU
#                                    virtualized, exits, MSRs, unload, cycles
#   run.sh --mode shell [--cpus N]   Bochs + OVMF, VT-x, the UEFI Shell (built
#                                    into Debian's OVMF.fd): startup.nsh runs
#                                    `load hvcore.efi`, hvtest.efi checks every
#                                    CPU, `unload -n HANDLE` devirtualizes
#   run.sh --mode novtx [--cpus N]   QEMU + OVMF (TCG, no VT-x): a clean refusal
#   run.sh --mode linux [--cpus N]   Bochs + OVMF: hvcore.efi starts Debian's
#                                    kernel (EFI stub) + an initramfs on top
# Options: --efi-dir DIR (hvcore.efi, hvtest.efi; default: build them there),
# --workdir DIR, --timeout SECONDS, --lock-wait SECONDS, --cycles N,
# --hvctl PATH (linux: also run hvctl in the guest through hvcore_vmcall.ko),
# --keep-aps (linux: hvcore.efi --keep-aps, APs restarted at the firmware's
# SIPI instead of devirtualized at ExitBootServices; hangs on Bochs 2.7,
# whose INIT stays pending after VM-exit(INIT): see README.md).
# One emulator at a time on this machine: the harness's lock
# ($E2E_CACHE/bochs.lock) is held around every Bochs or QEMU run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
. "$HERE/../lib.sh"

MODE=vtx CPUS=2 WORKDIR= EFIDIR= TIMEOUT= LOCK_WAIT=1800 CYCLES=10 HVCTL= KEEP_APS=
while (($#)); do
    case $1 in
    --mode) MODE=${2:?}; shift 2 ;;
    --cpus) CPUS=${2:?}; shift 2 ;;
    --workdir) WORKDIR=${2:?}; shift 2 ;;
    --efi-dir) EFIDIR=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --lock-wait) LOCK_WAIT=${2:?}; shift 2 ;;
    --cycles) CYCLES=${2:?}; shift 2 ;;
    --hvctl) HVCTL=${2:?}; shift 2 ;;
    --keep-aps) KEEP_APS=--keep-aps; shift ;;
    *) e2e_die "unknown argument '$1'" ;;
    esac
done
case $MODE in
vtx) : "${TIMEOUT:=600}" ;;
shell) : "${TIMEOUT:=600}" ;;
novtx) : "${TIMEOUT:=120}" ;;
linux) : "${TIMEOUT:=900}" ;;
*) e2e_die "--mode must be vtx, shell, novtx or linux" ;;
esac
[[ $CPUS =~ ^[1-8]$ ]] || e2e_die "--cpus must be 1..8"
WORKDIR=${WORKDIR:-$ROOT/build-uefi/e2e-uefi-$MODE-$CPUS}
T0=$(date +%s.%N)

# ---- tools (Debian packages; installed when missing) ----
PKGS=(gnu-efi ovmf mtools dosfstools)
[[ $MODE == novtx ]] && PKGS+=(qemu-system-x86) || PKGS+=(bochs bochsbios vgabios)
MISSING=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || MISSING+=("$p")
done
if ((${#MISSING[@]})); then
    e2e_log "installing ${MISSING[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >&2 ||
        e2e_die "apt-get install ${MISSING[*]} failed"
fi
OVMF=/usr/share/ovmf/OVMF.fd
[[ -s $OVMF ]] || e2e_die "$OVMF missing (package ovmf)"

mkdir -p "$WORKDIR"
if [[ -z $EFIDIR ]]; then
    EFIDIR=$WORKDIR/efi
    make -s -C "$ROOT/platform/uefi" OUT="$EFIDIR" >"$WORKDIR/build.log" 2>&1 ||
        { cat "$WORKDIR/build.log" >&2; e2e_die "building hvcore.efi failed"; }
fi
[[ -s $EFIDIR/hvcore.efi && -s $EFIDIR/hvtest.efi ]] || e2e_die "no hvcore.efi/hvtest.efi in $EFIDIR"

# ---- the disk: a FAT16 superfloppy, \EFI\BOOT\BOOTX64.EFI = hvtest.efi ----
IMG=$WORKDIR/disk.img
STAGE=$WORKDIR/stage
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp "$EFIDIR/hvtest.efi" "$STAGE/BOOTX64.EFI"
cp "$EFIDIR/hvcore.efi" "$STAGE/hvcore.efi"
SIZE_BLOCKS=64 # x 516096 bytes (16 heads * 63 sectors * 512) = 32 MiB
case $MODE in
vtx) echo "vtx cycles=$CYCLES" >"$STAGE/hvtest.cfg" ;;
shell)
    # No \EFI\BOOT\BOOTX64.EFI: OVMF's boot manager falls through to its
    # built-in UEFI Shell, which runs \startup.nsh after its countdown. The
    # shell numbers handles itself: `dh` tells hvtest.efi hvcore.efi's, and
    # hvtest.efi writes the `unload` line (\unl.nsh) the script then runs.
    rm -f "$STAGE/BOOTX64.EFI"
    cp "$EFIDIR/hvtest.efi" "$STAGE/hvtest.efi"
    printf '%s\r\n' '@echo -off' 'echo HVTEST-SHELL startup.nsh: load hvcore.efi' 'fs0:' 'load hvcore.efi' \
        'dh -p LoadedImage >a dh.txt' 'hvtest.efi shell-loaded' 'echo HVTEST-SHELL unl.nsh:' 'type unl.nsh' \
        'unl.nsh' 'hvtest.efi shell-unloaded' >"$STAGE/startup.nsh"
    ;;
novtx) echo "novtx" >"$STAGE/hvtest.cfg" ;;
linux)
    KVER=$(e2e_kver)
    cp "$E2E_CACHE/$KVER/image/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
    "$HERE/initramfs.sh" "$KVER" "$WORKDIR/initrd" "$STAGE/initrd.gz" "$HVCTL" >&2
    # The kernel line of DESIGN.md 7; reboot=t + reboot -f ends the run
    # (poweroff hangs under OVMF on Bochs).
    echo "linux ${KEEP_APS:+$KEEP_APS }\\vmlinuz initrd=\\initrd.gz console=ttyS0,115200 quiet cryptomgr.notests mitigations=off rodata=off idle=halt panic=-1 reboot=t" \
        >"$STAGE/hvtest.cfg"
    SIZE_BLOCKS=256
    ;;
esac
rm -f "$IMG"
dd if=/dev/zero of="$IMG" bs=516096 count=$SIZE_BLOCKS status=none
mkfs.vfat -F 16 -n HVCORE "$IMG" >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$IMG" ::/EFI ::/EFI/BOOT
[[ -f $STAGE/BOOTX64.EFI ]] && mcopy -i "$IMG" "$STAGE/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
for f in "$STAGE"/*; do
    [[ $(basename "$f") == BOOTX64.EFI ]] || mcopy -i "$IMG" "$f" "::/$(basename "$f")"
done

LOG=$WORKDIR/serial.log
BXLOG=$WORKDIR/bochs.log
rm -f "$LOG" "$BXLOG" "$IMG.lock"
if [[ $MODE == novtx ]]; then
    EMU="QEMU $(dpkg-query -W -f '${Version}' qemu-system-x86) (TCG, no VT-x)"
    CMD=(qemu-system-x86_64 -machine q35 -cpu max -smp "$CPUS" -m 512 -display none -serial "file:$LOG"
         -monitor none -bios "$OVMF" -drive "file=$IMG,format=raw" -net none -no-reboot)
else
    e2e_model haswell
    EMU="Bochs $(e2e_bochs_version), $E2E_BOCHS_CPU"
    cat >"$WORKDIR/bochsrc" <<EOB
# generated by test/e2e/uefi/run.sh (DESIGN.md 7 and 8)
megs: 512
romimage: file=$OVMF
vgaromimage: file=/usr/share/vgabios/vgabios.bin
cpu: model=$E2E_BOCHS_CPU, count=$CPUS, ips=50000000, reset_on_triple_fault=0
clock: sync=none
display_library: rfb, options="timeout=0"
ata0-master: type=disk, path="$IMG", mode=flat
boot: disk
com1: enabled=1, mode=file, dev="$LOG"
speaker: enabled=0
sound: driver=dummy
mouse: enabled=0
panic: action=fatal
log: $BXLOG
EOB
    printf 'c\n' >"$WORKDIR/bochs.rc"
    CMD=(bochs-bin -q -unlock -f "$WORKDIR/bochsrc" -rc "$WORKDIR/bochs.rc")
fi
NETNS=()
unshare --net true 2>/dev/null && NETNS=(unshare --net)

echo "== hvcore.efi e2e ($MODE): $EMU x $CPUS, OVMF $(dpkg-query -W -f '${Version}' ovmf), timeout ${TIMEOUT}s"
mkdir -p "$E2E_CACHE"
exec {LOCKFD}>>"$E2E_CACHE/bochs.lock"
if ! flock -n "$LOCKFD"; then
    echo "== another emulator run holds $E2E_CACHE/bochs.lock: waiting up to ${LOCK_WAIT}s"
    flock -w "$LOCK_WAIT" "$LOCKFD" || e2e_die "gave up waiting for $E2E_CACHE/bochs.lock"
fi
EMUPID=
cleanup() {
    if [[ -n $EMUPID ]] && kill -0 "$EMUPID" 2>/dev/null; then
        kill -TERM -- "-$EMUPID" 2>/dev/null || true
        sleep 1
        kill -KILL -- "-$EMUPID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
T1=$(date +%s.%N)
(
    trap - EXIT
    exec setsid timeout --kill-after=10 "$TIMEOUT" "${NETNS[@]}" "${CMD[@]}" </dev/null >"$WORKDIR/emu.stdout" 2>&1
) &
EMUPID=$!
# Linux on top ends with `reboot -f` (reboot=t: a triple fault). The guest's
# triple fault is a VM exit, and the core resets the machine as the CPU
# would (port 0xCF9), so Bochs restarts instead of stopping on it: once the
# reset line is in the log, the run is over.
if [[ $MODE == linux ]]; then
    (
        while kill -0 "$EMUPID" 2>/dev/null; do
            if grep -a -q 'guest triple fault: resetting the machine' "$LOG" 2>/dev/null; then
                sleep 3
                kill -TERM -- "-$EMUPID" 2>/dev/null
                break
            fi
            sleep 1
        done
    ) &
    WATCH=$!
fi
RC=0
wait "$EMUPID" || RC=$?
if [[ -n ${WATCH:-} ]]; then
    kill "$WATCH" 2>/dev/null || true
    wait "$WATCH" 2>/dev/null || true
fi
kill -KILL -- "-$EMUPID" 2>/dev/null || true
EMUPID=
T2=$(date +%s.%N)
exec {LOCKFD}>&-

# ---- judge (the emulator's exit status means nothing: Bochs gives 1) ----
touch "$LOG"
tr -d '\r' <"$LOG" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' >"$WORKDIR/serial.txt"
S=$WORKDIR/serial.txt
FAIL=
((RC == 124 || RC == 137)) && FAIL="timeout: emulator still running after ${TIMEOUT}s"
need() { grep -a -q -E "$1" "$S" || FAIL="${FAIL:+$FAIL; }missing in the serial log: $2"; }
if [[ $MODE == linux ]]; then
    need '^hvcore: all [0-9]+ processor\(s\) virtualized' "hvcore: all N processor(s) virtualized"
    need '^hvcore: starting the next stage' "hvcore: starting the next stage"
    need '^hvcore: ExitBootServices: ' "the ExitBootServices line"
    need '^UEFI-LINUX EFI runtime: SetVirtualAddressMap done' "Linux's SetVirtualAddressMap"
    need '^UEFI-LINUX hvuefi: CPUID 0x40000000 signature "libhvcore"' "the CPUID signature seen in Linux"
    need '^UEFI-LINUX hvuefi: VMCALL ping answered' "the VMCALL ping from kernel mode"
    need '^UEFI-LINUX hvuefi: MSR broadcast through VMCALL: ok' "the MSR broadcast through VMCALL"
    # Every CPU as the hypervisor sees it, asked from Linux (VMCALL QUERY
    # of each CPU): the BSP virtualized with moving counters; the APs,
    # parked by the firmware at ExitBootServices (INIT-SIPI-SIPI), still
    # virtualized with --keep-aps, else devirtualized before it.
    if [[ -n $KEEP_APS ]]; then
        need "^hvcore: ExitBootServices: $((CPUS - 1)) AP\\(s\\) handed back to the firmware still virtualized" \
            "the APs staying virtualized at ExitBootServices"
        need "^UEFI-LINUX hvuefi: $CPUS of $CPUS hypervisor CPUs virtualized after the OS booted" \
            "every CPU virtualized, seen from Linux"
    else
        need "^hvcore: ExitBootServices: $((CPUS - 1)) AP\\(s\\) devirtualized and handed back to the firmware" \
            "the APs devirtualized at ExitBootServices"
        need "^UEFI-LINUX hvuefi: 1 of $CPUS hypervisor CPUs virtualized after the OS booted" \
            "the BSP virtualized, the APs not, seen from Linux"
    fi
    need '^UEFI-LINUX hvuefi: hypervisor cpu 0: virtualized 1, [0-9]+ exits \(\+[1-9][0-9]* in 1 s\)' \
        "the BSP's exit counters moving, seen from Linux"
    need '^UEFI-LINUX hvcore_vmcall.ko loaded' "hvcore_vmcall.ko (/dev/hvcore over VMCALL)"
    if [[ -n $HVCTL ]]; then
        need '^UEFI-LINUX hvctl status: .*target local, 1 cores' "hvctl status through /dev/hvcore"
        need '^UEFI-LINUX hvctl wrmsr: .*msr\[175\] <- fffffe00`00abc000 \(VMCS guest field\)' "hvctl wrmsr (VMCS guest field)"
        need '^UEFI-LINUX hvctl rdmsr: .*msr\[175\] = fffffe00`00abc000' "hvctl rdmsr reads it back"
        need '^UEFI-LINUX hvctl bad msr: .*EXCEPTION_GENERAL_PROTECTION \(0xc001000d\)' "hvctl: the #GP status for a bad MSR"
    fi
    need '^UEFI-LINUX workload: ok' "the workload"
    need 'guest triple fault: resetting the machine' "the reboot (reboot=t: triple fault -> machine reset by hvcore)"
    END=$(grep -a -m1 '^UEFI-LINUX-END rc=' "$S" || true)
    [[ $END == 'UEFI-LINUX-END rc=0'* ]] || FAIL="${FAIL:+$FAIL; }no 'UEFI-LINUX-END rc=0' (got '${END}')"
    grep -a -q -E 'Kernel panic|(^|[^[:alnum:]_])BUG:|Oops' "$S" && FAIL="${FAIL:+$FAIL; }kernel problem in the log"
else
    END=$(grep -a -m1 '^HVTEST-END rc=' "$S" || true)
    [[ $END == 'HVTEST-END rc=0'* ]] || FAIL="${FAIL:+$FAIL; }no 'HVTEST-END rc=0' (got '${END}')"
    grep -a -q '^HVTEST FAIL' "$S" && FAIL="${FAIL:+$FAIL; }HVTEST FAIL lines"
    if [[ $MODE == shell ]]; then
        need '^HVTEST-SHELL startup.nsh' "the UEFI Shell running startup.nsh"
        need "^hvcore: all $CPUS processor\\(s\\) virtualized" "hvcore: all $CPUS processor(s) virtualized"
        need "^HVTEST ok: shell: CPUID 0x40000000 signature \"libhvcore\" on $CPUS of $CPUS processors" \
            "the signature on every processor after \`load\`"
        need "^HVTEST ok: shell: VMCALL QUERY: $CPUS of $CPUS processors virtualized" "every processor virtualized"
        need '^HVTEST ok: shell: hvcore.efi is handle [0-9A-Fa-f]+ in `dh`' "hvcore.efi's handle from \`dh\`"
        need '^hvcore: unloaded: every processor devirtualized' "the unload line"
        need '^HVTEST ok: shell: after `unload`: signature on 0 processors' "every processor devirtualized after \`unload\`"
    elif [[ $MODE == vtx ]]; then
        need "^hvcore: all $CPUS processor\\(s\\) virtualized" "hvcore: all $CPUS processor(s) virtualized"
        need '^hvcore: unloaded: every processor devirtualized' "the unload line"
        need "signature \"libhvcore\" on $CPUS of $CPUS processors" "the signature on every processor"
    else
        need '^hvcore: error: VT-x is not available' "hvcore's refusal"
    fi
fi
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
echo "---- serial log: hvcore and test lines ----"
# Every test line; hvcore's own lines of the first load (and any error,
# the ExitBootServices hand-back and the unload), not those of every cycle.
awk '(/^(HVTEST|UEFI-LINUX)/ || /^unload -n /) && !/^HVTEST cycle [2-9]:/ { print; if (/^HVTEST ok: unload/) quiet = 1; next }
     /^hvcore: / && (!quiet || /error|warning|ExitBootServices|starting|unloaded/) { print substr($0, 1, 240) }' "$S" || true
if [[ $MODE != novtx ]]; then
    VMXERR=$(grep -a -c -E 'VMENTER FAIL|VMFAIL|VMEXIT: Guest State|in VMX guest' "$BXLOG" 2>/dev/null || true)
    echo "== ${VMXERR:-0} VMX error line(s) in bochs.log"
fi
if [[ $MODE == linux ]]; then
    echo "== note: OVMF on Bochs installs no ACPI tables, so Linux sees one CPU there; the APs stay parked in firmware"
    [[ -n $KEEP_APS ]] && echo "== note: --keep-aps: the APs were to stay virtualized through the firmware's INIT-SIPI-SIPI" ||
        echo "== note: the APs were devirtualized at ExitBootServices (hvcore.efi without --keep-aps; Bochs 2.7 keeps an INIT pending after VM-exit(INIT))"
fi
echo "== wall time: total $(elapsed "$T0" "$T2") s, emulator $(elapsed "$T1" "$T2") s"
if [[ -n $FAIL ]]; then
    echo "== FAIL: $FAIL"
    echo "---- last 40 lines of the serial log ----"
    tail -n 40 "$S"
    if [[ -s $BXLOG ]]; then echo "---- last 30 lines of bochs.log ----"; tail -n 30 "$BXLOG"; fi
    exit 1
fi
echo "== PASS: ${END}"
