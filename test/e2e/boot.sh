#!/usr/bin/env bash
# Boot Debian's kernel on Bochs's emulated VT-x CPU, run a test body in the
# guest and judge the run by the serial log.
#
# usage: boot.sh --init FILE [--cpus N] [--initramfs-dir DIR] [--timeout SECONDS]
#                [--log FILE] [--workdir DIR] [--boot pvh|bzimage] [--cmdline-extra STR]
#                [--lock-wait SECONDS] [--model NAME] [--com1-socket PORT [--host CMD]]
#
#   --init FILE          shell script run as the test body inside the guest (busybox sh)
#   --cpus N             emulated CPUs (default 2)
#   --initramfs-dir DIR  extra files, copied to the root of the initramfs (e.g.
#                        hvcore.ko, static test programs); they can be found under /
#   --timeout SECONDS    hard limit for the Bochs run (default 240)
#   --log FILE           serial log (default WORKDIR/serial.log)
#   --workdir DIR        scratch dir: initramfs, ISO, bochsrc, bochs.log (default: mktemp)
#   --boot pvh|bzimage   pvh (default): uncompressed vmlinux via pvhload + mboot.c32;
#                        bzimage: the packaged vmlinuz (its XZ decompressor costs ~70 s)
#   --cmdline-extra STR  appended to the kernel command line
#   --lock-wait SECONDS  how long to wait for another harness's Bochs run to end
#                        (one guest at a time; default 900)
#   --model NAME         emulated CPU: haswell (default; or $HVCORE_E2E_MODEL),
#                        tigerlake, icelake; lib.sh (e2e_model) holds the bochsrc
#                        options and kernel parameters each one needs
#   --com1-socket PORT   COM1 (ttyS0, I/O 0x3f8) becomes Bochs's socket-server on
#                        127.0.0.1:PORT for a host-side client (a debugger); the
#                        guest console, the loader's output and the serial log move
#                        to COM2 (ttyS1, 0x2f8, console=ttyS1)
#   --host CMD           with --com1-socket: run CMD (bash -c) on the host next to
#                        Bochs, in the same network namespace, its output in
#                        WORKDIR/host.log; environment: E2E_COM1=127.0.0.1:PORT,
#                        E2E_SERIAL_LOG=LOG, E2E_WORKDIR=WORKDIR. It must exit 0 for the
#                        run to pass; it is killed 20 s after Bochs ends.
#
# The guest's /init mounts proc, sys, dev and tmpfs on /tmp, prints E2E-BEGIN,
# runs the body with sh, prints "E2E-END rc=<status>", sleeps 1 s and powers off.
# Success (exit 0) only if the serial log has "E2E-END rc=0" and no "Kernel panic",
# "BUG:" or "Oops"; otherwise the tails of the serial and Bochs logs are printed
# and the exit status is 1 (2 for usage errors). Bochs's own exit status means
# nothing (it is 1 after a clean poweroff) and is ignored.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

CPUS=2 INITRAMFS_DIR='' INIT='' TIMEOUT=240 LOG='' WORKDIR='' BOOT=pvh CMDLINE_EXTRA='' LOCK_WAIT=900
COM1_SOCKET='' HOST_CMD=''
MODEL=${HVCORE_E2E_MODEL:-haswell}
while (($#)); do
    case $1 in
    --cpus) CPUS=${2:?--cpus needs a value}; shift 2 ;;
    --initramfs-dir) INITRAMFS_DIR=${2:?}; shift 2 ;;
    --init) INIT=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --log) LOG=${2:?}; shift 2 ;;
    --workdir) WORKDIR=${2:?}; shift 2 ;;
    --boot) BOOT=${2:?}; shift 2 ;;
    --cmdline-extra) CMDLINE_EXTRA=${2?}; shift 2 ;;
    --lock-wait) LOCK_WAIT=${2:?}; shift 2 ;;
    --model) MODEL=${2:?}; shift 2 ;;
    --com1-socket) COM1_SOCKET=${2:?}; shift 2 ;;
    --host) HOST_CMD=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "boot.sh: unknown argument: $1" >&2; usage ;;
    esac
done
[[ -n $INIT ]] || { echo "boot.sh: --init FILE is required" >&2; usage; }
[[ -f $INIT ]] || e2e_die "--init: no such file: $INIT"
[[ $CPUS =~ ^[1-9][0-9]*$ && $CPUS -le 16 ]] || e2e_die "--cpus must be 1..16, got '$CPUS'"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || e2e_die "--timeout must be a positive integer, got '$TIMEOUT'"
[[ $LOCK_WAIT =~ ^[0-9]+$ ]] || e2e_die "--lock-wait must be a number of seconds, got '$LOCK_WAIT'"
[[ -z $INITRAMFS_DIR || -d $INITRAMFS_DIR ]] || e2e_die "--initramfs-dir: not a directory: $INITRAMFS_DIR"
[[ $BOOT == pvh || $BOOT == bzimage ]] || e2e_die "--boot must be pvh or bzimage"
[[ -z $COM1_SOCKET || ($COM1_SOCKET =~ ^[1-9][0-9]*$ && $COM1_SOCKET -le 65535) ]] ||
    e2e_die "--com1-socket must be a TCP port, got '$COM1_SOCKET'"
[[ -z $HOST_CMD || -n $COM1_SOCKET ]] || e2e_die "--host needs --com1-socket"
e2e_model "$MODEL"
for t in bochs-bin xorriso cpio gzip timeout setsid; do
    command -v "$t" >/dev/null || e2e_die "$t not found: run test/e2e/setup.sh"
done

KVER=$(e2e_kver)
KDIR=$E2E_CACHE/$KVER
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] && file_is_static=$(LC_ALL=C readelf -lW "$BUSYBOX" 2>/dev/null || true)
[[ -x $BUSYBOX && $file_is_static != *INTERP* ]] || e2e_die "$BUSYBOX is not a static busybox: install busybox-static"
SYSLINUX_BIOS=/usr/lib/syslinux/modules/bios
ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin
BIOS_ROM=/usr/share/bochs/BIOS-bochs-latest
VGA_ROM=/usr/share/vgabios/vgabios.bin
for f in "$ISOLINUX_BIN" "$SYSLINUX_BIOS/ldlinux.c32" "$SYSLINUX_BIOS/mboot.c32" \
    "$SYSLINUX_BIOS/libcom32.c32" "$BIOS_ROM" "$VGA_ROM"; do
    [[ -s $f ]] || e2e_die "missing $f: run test/e2e/setup.sh"
done

if [[ -z $WORKDIR ]]; then
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/hvcore-e2e.XXXXXX")
else
    mkdir -p "$WORKDIR"
fi
WORKDIR=$(cd "$WORKDIR" && pwd)
LOG=${LOG:-$WORKDIR/serial.log}
mkdir -p "$(dirname "$LOG")"
LOG=$(cd "$(dirname "$LOG")" && pwd)/$(basename "$LOG")
for p in "$WORKDIR" "$LOG"; do # they go into bochsrc, which has no escaping
    [[ $p != *[[:space:]\"\',]* ]] || e2e_die "path with blanks, quotes or commas not supported: '$p'"
done
BXLOG=$WORKDIR/bochs.log

echo "== hvcore e2e: bochs $(e2e_bochs_version), kernel $(e2e_kernel_version "$KVER"), cpu $E2E_MODEL ($E2E_BOCHS_CPU) x $CPUS, boot $BOOT, timeout ${TIMEOUT}s"
echo "== workdir $WORKDIR, serial log $LOG"
T0=$(date +%s.%N)

# ---------------------------------------------------------------- initramfs
STAGE=$WORKDIR/initramfs
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,e2e}
if [[ -n $INITRAMFS_DIR ]]; then
    cp -a "$INITRAMFS_DIR"/. "$STAGE"/
fi
cp "$BUSYBOX" "$STAGE/bin/busybox"
cp "$INIT" "$STAGE/e2e/body.sh"
cat >"$STAGE/init" <<'EOF'
#!/bin/busybox sh
# hvcore e2e harness init (generated by test/e2e/boot.sh)
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mount -t tmpfs tmpfs /tmp
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo "E2E-BEGIN kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) uptime=$(cut -d' ' -f1 /proc/uptime)"
cd /e2e
sh /e2e/body.sh
rc=$?
echo "E2E-END rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
sleep 1
poweroff -f
EOF
chmod 755 "$STAGE/init" "$STAGE/e2e/body.sh"
# Plain (uncompressed) newc cpio: mboot.c32 would gunzip a .gz module itself, and
# any decompression inside the emulator costs seconds; the kernel accepts both.
(cd "$STAGE" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc --owner=0:0 --quiet) >"$WORKDIR/initrd.cpio"

# ---------------------------------------------------------------- ISO
CONSOLE=ttyS0 SERIAL_UNIT=0
[[ -n $COM1_SOCKET ]] && CONSOLE=ttyS1 SERIAL_UNIT=1
CMDLINE="console=$CONSOLE,115200 quiet cryptomgr.notests mitigations=off rodata=off idle=halt panic=-1 reboot=t${E2E_MODEL_CMDLINE:+ $E2E_MODEL_CMDLINE}${CMDLINE_EXTRA:+ $CMDLINE_EXTRA}"
ISODIR=$WORKDIR/iso
rm -rf "$ISODIR"
mkdir -p "$ISODIR/isolinux"
cp "$ISOLINUX_BIN" "$SYSLINUX_BIOS/ldlinux.c32" "$SYSLINUX_BIOS/mboot.c32" \
    "$SYSLINUX_BIOS/libcom32.c32" "$ISODIR/isolinux/"
GRAFT=()
if [[ $BOOT == pvh ]]; then
    PVHLOAD=$(e2e_build_pvhload)
    cp "$PVHLOAD" "$ISODIR/isolinux/pvhload.elf"
    GRAFT=("/isolinux/vmlinux=$KDIR/vmlinux.pvh")
    ENTRY="  KERNEL mboot.c32
  APPEND pvhload.elf $CMDLINE --- vmlinux --- initrd.cpio"
else
    GRAFT=("/isolinux/vmlinuz=$KDIR/image/boot/vmlinuz-$KVER")
    ENTRY="  LINUX vmlinuz
  INITRD initrd.cpio
  APPEND $CMDLINE"
fi
cat >"$ISODIR/isolinux/isolinux.cfg" <<EOF
SERIAL $SERIAL_UNIT 115200
DEFAULT e2e
PROMPT 0
TIMEOUT 0
LABEL e2e
$ENTRY
EOF
rm -f "$WORKDIR/e2e.iso"
xorriso -as mkisofs -quiet -o "$WORKDIR/e2e.iso" -R -J -V HVCORE_E2E \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
    -graft-points "$ISODIR" "/isolinux/initrd.cpio=$WORKDIR/initrd.cpio" "${GRAFT[@]}" \
    >"$WORKDIR/xorriso.log" 2>&1 || { cat "$WORKDIR/xorriso.log" >&2; e2e_die "xorriso failed"; }

# ---------------------------------------------------------------- bochsrc
CPU_MSRS=
if [[ -n $E2E_MODEL_MSRS ]]; then # model-specific MSRs (lib.sh, e2e_model)
    printf '%s\n' "$E2E_MODEL_MSRS" >"$WORKDIR/msrs.def"
    CPU_MSRS=", msrs=\"$WORKDIR/msrs.def\""
fi
if [[ -n $COM1_SOCKET ]]; then
    # Measured (README.md, "Debugger mode"): Bochs waits in accept() for the
    # client before the machine starts; one client per run.
    COM_LINES="com1: enabled=1, mode=socket-server, dev=127.0.0.1:$COM1_SOCKET
com2: enabled=1, mode=file, dev=\"$LOG\""
else
    COM_LINES="com1: enabled=1, mode=file, dev=\"$LOG\""
fi
cat >"$WORKDIR/bochsrc" <<EOF
# generated by test/e2e/boot.sh (see DESIGN.md section 7; options=fastboot skips
# the BIOS boot-menu wait, ~2.5 s)
megs: 512
romimage: file=$BIOS_ROM, options=fastboot
vgaromimage: file=$VGA_ROM
cpu: model=$E2E_BOCHS_CPU, count=$CPUS, ips=50000000, reset_on_triple_fault=0$CPU_MSRS
clock: sync=none
display_library: rfb, options="timeout=0"
ata0-master: type=cdrom, path="$WORKDIR/e2e.iso", status=inserted
boot: cdrom
$COM_LINES
speaker: enabled=0
sound: driver=dummy
mouse: enabled=0
panic: action=fatal
log: $BXLOG
EOF
# HVCORE_E2E_DEBUGGER_RC=FILE: Bochs debugger commands instead of a plain "c"
# (e.g. "sba 200000000", "c", "r", "u /8", "q" to sample where the guest is);
# the debugger's output lands in WORKDIR/bochs.stdout.
if [[ -n ${HVCORE_E2E_DEBUGGER_RC:-} ]]; then
    cp "$HVCORE_E2E_DEBUGGER_RC" "$WORKDIR/bochs.rc"
else
    printf 'c\n' >"$WORKDIR/bochs.rc"
fi
rm -f "$LOG" "$BXLOG" "$WORKDIR/bochs.stdout" "$WORKDIR"/*.lock # Bochs locks only disk images; be safe

# ---------------------------------------------------------------- run
# Bochs runs in its own session/process group under an outer 'timeout'; whatever
# happens to this script, the whole group is killed on the way out.
BXPID=
cleanup() {
    if [[ -n $BXPID ]] && kill -0 "$BXPID" 2>/dev/null; then
        kill -TERM -- "-$BXPID" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$BXPID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Bochs's rfb display listens on 0.0.0.0:5900 (the next free port if taken). A
# private network namespace (root) keeps it off the host's interfaces and away
# from other runs; HVCORE_E2E_HOST_NET=1 keeps the host's network (e.g. for a
# com1 socket-server that a host-side client must reach).
NETNS=()
if [[ ${HVCORE_E2E_HOST_NET:-0} != 1 ]] && unshare --net true 2>/dev/null; then
    NETNS=(unshare --net)
fi

# One Bochs guest at a time on this machine (2 cores): a lock in the cache dir,
# held by this script and inherited by Bochs, serializes runs.
LOCK=$E2E_CACHE/bochs.lock
exec {LOCKFD}>>"$LOCK"
if ! flock -n "$LOCKFD"; then
    echo "== another Bochs run holds $LOCK: waiting up to ${LOCK_WAIT}s"
    flock -w "$LOCK_WAIT" "$LOCKFD" || e2e_die "gave up after ${LOCK_WAIT}s waiting for $LOCK"
fi

if ((${#NETNS[@]})); then
    echo "== network: private namespace (unshare --net)"
else
    echo "== network: host's (Bochs's rfb display listens on TCP port 5900 or the next free one)"
fi
BXCMD=(bochs-bin -q -f "$WORKDIR/bochsrc" -rc "$WORKDIR/bochs.rc")
rm -f "$WORKDIR/host.log" "$WORKDIR/host.rc"
if [[ -n $COM1_SOCKET ]]; then
    # Bochs and the host command share the network namespace (loopback brought
    # up in a private one), the process group and the timeout. A host command
    # that fails leaves the guest nobody to talk to: Bochs goes 30 s later.
    cat >"$WORKDIR/run.sh" <<'EOF'
set -u
W=$1; shift
[[ ${E2E_PRIVATE_NET:-0} == 1 ]] && ip link set lo up
HOSTPID=
if [[ -n ${E2E_HOST_CMD:-} ]]; then
    ( bash -c "$E2E_HOST_CMD"; echo $? >"$W/host.rc" ) </dev/null >"$W/host.log" 2>&1 &
    HOSTPID=$!
fi
"$@" </dev/null &
BOCHS=$!
if [[ -n $HOSTPID ]]; then
    while kill -0 "$BOCHS" 2>/dev/null && kill -0 "$HOSTPID" 2>/dev/null; do sleep 0.5; done
    if kill -0 "$BOCHS" 2>/dev/null && [[ $(cat "$W/host.rc" 2>/dev/null) != 0 ]]; then
        for _ in $(seq 60); do kill -0 "$BOCHS" 2>/dev/null || break; sleep 0.5; done
        kill -TERM "$BOCHS" 2>/dev/null
    fi
fi
wait "$BOCHS"
rc=$?
if [[ -n $HOSTPID ]]; then
    for _ in $(seq 40); do kill -0 "$HOSTPID" 2>/dev/null || break; sleep 0.5; done
    kill -TERM -- "$HOSTPID" 2>/dev/null && echo "[boot.sh] host command still running 20 s after Bochs ended: killed" >>"$W/host.log"
    wait "$HOSTPID"
fi
exit $rc
EOF
    export E2E_COM1=127.0.0.1:$COM1_SOCKET E2E_SERIAL_LOG=$LOG E2E_WORKDIR=$WORKDIR E2E_HOST_CMD=$HOST_CMD
    E2E_PRIVATE_NET=0
    ((${#NETNS[@]})) && E2E_PRIVATE_NET=1
    export E2E_PRIVATE_NET
    BXCMD=(bash "$WORKDIR/run.sh" "$WORKDIR" "${BXCMD[@]}")
    echo "== com1: socket-server on $E2E_COM1 (debugger); console and serial log on com2 (ttyS1)${HOST_CMD:+; host command: $HOST_CMD}"
fi
T1=$(date +%s.%N)
# The subshell resets the traps and execs, so $! is the pid of setsid -> timeout,
# which leads the new session and process group that Bochs runs in.
(
    trap - EXIT INT TERM
    exec setsid timeout --kill-after=10 "$TIMEOUT" \
        "${NETNS[@]}" "${BXCMD[@]}" </dev/null >>"$WORKDIR/bochs.stdout" 2>&1
) &
BXPID=$!
RC=0
wait "$BXPID" || RC=$?
BXPID_DONE=$BXPID
# Any stragglers of the group (there should be none) go too.
kill -KILL -- "-$BXPID_DONE" 2>/dev/null || true
BXPID=
T2=$(date +%s.%N)

# ---------------------------------------------------------------- judge
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
touch "$LOG"
FAIL=
if ((RC == 124 || RC == 137)); then
    FAIL="timeout: Bochs still running after ${TIMEOUT}s"
fi
# "Kernel panic", "BUG:" (also "watchdog: BUG: soft lockup"), "kernel BUG at",
# "Oops" - as words, so that a test printing e.g. "DEBUG:" is not taken for one.
PANIC_RE='Kernel panic|(^|[^[:alnum:]_])BUG:|kernel BUG at|(^|[^[:alnum:]_])Oops([^[:alnum:]_]|$)'
PANIC=$(grep -a -m3 -E "$PANIC_RE" "$LOG" || true)
if [[ -n $PANIC ]]; then
    FAIL="${FAIL:+$FAIL; }kernel problem in the serial log: $(head -n1 <<<"$PANIC" | tr -d '\r')"
fi
END_LINE=$(grep -a -m1 '^E2E-END rc=' "$LOG" | tr -d '\r' || true)
if [[ -z $END_LINE ]]; then
    FAIL="${FAIL:+$FAIL; }no E2E-END marker in the serial log"
elif [[ $END_LINE != 'E2E-END rc=0 '* ]]; then
    FAIL="${FAIL:+$FAIL; }test body failed: $END_LINE"
fi
if [[ -n $HOST_CMD ]]; then
    HOST_RC=$(cat "$WORKDIR/host.rc" 2>/dev/null || echo none)
    [[ $HOST_RC == 0 ]] || FAIL="${FAIL:+$FAIL; }host command failed (status $HOST_RC, WORKDIR/host.log)"
fi
# Bochs explains failed VM entries in words (DESIGN.md 7b); reported, not judged.
VMX_RE='VMENTER FAIL|VMFAIL|VMEXIT: Guest State|in VMX guest'
VMXERR=$(grep -a -c -E "$VMX_RE" "$BXLOG" 2>/dev/null || true)

echo "== bochs exit status $RC (ignored), ${VMXERR:-0} VMX error line(s) in bochs.log"
if ((${VMXERR:-0} > 0)); then
    grep -a -m5 -E "$VMX_RE" "$BXLOG" | sed 's/^/   bochs.log| /'
fi
echo "== wall time: total $(elapsed "$T0" "$T2") s, bochs $(elapsed "$T1" "$T2") s"
if [[ -n $FAIL ]]; then
    echo "== FAIL: $FAIL"
    echo "---- last 60 lines of the serial log ($LOG) ----"
    tail -n 60 "$LOG" | tr -d '\r' || true
    echo "---- last 60 lines of the Bochs log ($BXLOG) ----"
    tail -n 60 "$BXLOG" 2>/dev/null || true
    echo "---- Bochs stdout/stderr ----"
    tail -n 20 "$WORKDIR/bochs.stdout" 2>/dev/null || true
    if [[ -n $HOST_CMD ]]; then
        echo "---- last 60 lines of the host command's output ($WORKDIR/host.log) ----"
        tail -n 60 "$WORKDIR/host.log" 2>/dev/null || true
    fi
    exit 1
fi
echo "== PASS: $END_LINE"
