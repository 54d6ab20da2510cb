# hvcore lifecycle body: runs inside the guest (busybox sh) as /e2e/body.sh,
# on the first boot and again on the second (LIFECYCLE.md). /hv holds
# hvcore.ko, nvram.ko, hvstress (static), maybe hvctl, and lifecycle-mode
# ("reboot" or "panic").
#
# A byte of CMOS RAM (/dev/nvram offset 50 = CMOS 0x40, which neither the
# Bochs BIOS nor Linux uses) survives the reset and tells the boots apart:
#   0     first boot: load, arm, start debug-register traffic, mark 0xA5,
#         then `reboot -f` (or panic through sysrq); never returns
#   0xA5  second boot: clear the mark, check the CPUs are native, exit 0
#         (the harness then powers off: there is no third boot)
MODE=$(cat /hv/lifecycle-mode 2>/dev/null)
OFF=50
MARK=165
fail() { echo "E2E FAIL $*"; exit 1; }

insmod /hv/nvram.ko 2>/dev/null
stage=$(/hv/hvstress mark get $OFF) || fail "lifecycle-mark: cannot read CMOS through /dev/nvram"

if [ "$stage" = "$MARK" ]; then
    echo "LIFECYCLE: second boot after $MODE (CMOS mark $MARK left by the first boot), kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime) s"
    /hv/hvstress mark set $OFF 0 || fail "lifecycle-mark: cannot clear the mark"
    [ "$(/hv/hvstress mark get $OFF)" = 0 ] || fail "lifecycle-mark: the mark did not clear"
    grep -q '^hvcore ' /proc/modules && fail "lifecycle-second-boot: hvcore is loaded"
    out=$(/hv/hvstress native)
    st=$?
    echo "$out" | sed 's/^/LIFECYCLE: /'
    [ $st = 0 ] || fail "lifecycle-second-boot: a CPU still reports the hypervisor"
    echo "E2E PASS lifecycle-second-boot: the machine came back after $MODE; no hypervisor on any CPU"
    exit 0
fi
[ "$stage" = 0 ] || fail "lifecycle-mark: CMOS byte is $stage, neither 0 (first boot) nor $MARK (second)"

echo "LIFECYCLE: first boot, mode $MODE, kernel $(uname -r), $(grep -c '^processor' /proc/cpuinfo) CPUs; cmdline: $(cat /proc/cmdline)"
insmod /hv/hvcore.ko || fail "lifecycle-insmod: insmod hvcore.ko failed"
q=$(/hv/hvstress query) || fail "lifecycle-loaded: $q"
if [ -x /hv/hvctl ]; then
    how="hvctl: $(/hv/hvctl --target local '!dr' 2>&1 | head -n 1)"
else
    how="hvstress: $(/hv/hvstress arm)"
fi
/hv/hvctl --target local events 2>/dev/null | sed 's/^/LIFECYCLE: /'
# Debug-register traffic on every CPU while the machine goes down: the
# event fires until the notifier removes it.
ncpu=$(grep -c '^processor' /proc/cpuinfo)
c=0
while [ $c -lt "$ncpu" ]; do
    /hv/hvstress dr-loop 600 $c >/dev/null 2>&1 &
    c=$((c + 1))
done
sleep 1
q2=$(/hv/hvstress query)
echo "LIFECYCLE: armed: $q; event added by $how; now: $q2"
case "$q2" in *" 0 MOV-DR exits"*) fail "lifecycle-armed: no MOV-DR exit while the event is armed" ;; esac

# The module's notices (and the core's per-CPU lines, info) on the console:
# the kernel runs with `quiet`.
echo 8 > /proc/sys/kernel/printk
/hv/hvstress mark set $OFF $MARK || fail "lifecycle-mark: cannot write CMOS"
[ "$(/hv/hvstress mark get $OFF)" = $MARK ] || fail "lifecycle-mark: CMOS did not keep the mark"
sync
# From the last CPU: Bochs 2.7 with several CPUs stalls when the boot CPU
# itself resets the machine (LIFECYCLE.md); the harness gives the kernel
# reboot=pci,s<last CPU> for reboot -f, and the panic is raised there.
last=$((ncpu - 1))
if [ "$MODE" = panic ]; then
    echo "LIFECYCLE: panic now (sysrq c on cpu $last, panic=-1)"
    sleep 1 # let the console drain: the kernel's lines would cut into ours
    /hv/hvstress crash $last
else
    echo "LIFECYCLE: reboot -f now (the kernel restarts from cpu $(cat /sys/kernel/reboot/cpu 2>/dev/null || echo '?'))"
    sleep 1
    reboot -f
fi
sleep 60
fail "lifecycle-$MODE: the machine is still running 60 s after $MODE"
