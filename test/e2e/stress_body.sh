# hvcore stress body: runs inside the guest (busybox sh) as /e2e/body.sh
# (LIFECYCLE.md). /hv holds hvcore.ko, hvstress (static) and stress-seconds.
# Loads the module, runs `hvstress stress` (churners, debug-register
# generators, a reader killed and restarted; exact totals), unloads, and
# checks the module freed everything and the kernel logged no trouble.
rc=0
pass() { echo "E2E PASS $*"; }
fail() { echo "E2E FAIL $*"; rc=1; }
SECS=$(cat /hv/stress-seconds 2>/dev/null || echo 60)
up() { cut -d' ' -f1 /proc/uptime; }

echo "HV-E2E: guest kernel $(uname -r), $(grep -c '^processor' /proc/cpuinfo) CPUs"
if insmod /hv/hvcore.ko; then
    pass "stress-insmod: $(/hv/hvstress query)"
else
    fail "stress-insmod: insmod hvcore.ko failed"
    exit 1
fi
t0=$(up)
/hv/hvstress stress "$SECS" || rc=1
t1=$(up)
echo "HV-STRESS: the stress command took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s of guest time"
echo "HV-STRESS: after the run: $(/hv/hvstress query)"

if rmmod hvcore; then pass "stress-rmmod: unloaded"; else fail "stress-rmmod: rmmod hvcore failed"; fi
last=$(dmesg | grep 'hvcore: unloaded' | tail -n 1 | sed 's/^\[[^]]*\] //')
case "$last" in
*"unloaded; 0 allocations outstanding"*) pass "stress-no-leak: $last" ;;
*) fail "stress-no-leak: '$last'" ;;
esac
if /hv/hvstress native >/tmp/native 2>&1; then
    pass "stress-devirtualized: $(tr '\n' ';' </tmp/native)"
else
    fail "stress-devirtualized: $(tr '\n' ';' </tmp/native)"
fi
# Anything the kernel says went wrong, at any log level (the console only
# shows errors: the kernel runs with `quiet`).
dmesg >/tmp/dmesg
if grep -E 'WARNING:|BUG:|Oops|general protection|soft lockup|hard LOCKUP|rcu_.*stall|blocked for more than|hung_task|list_(add|del) corruption|refcount_t:|UBSAN|bad page|scheduling while atomic|sleeping function called' /tmp/dmesg >/tmp/trouble; then
    sed 's/^/HV-DMESG: /' /tmp/trouble | head -n 40
    fail "stress-kernel-log: $(wc -l </tmp/trouble) line(s) of trouble in dmesg (above)"
else
    # (lower case: boot.sh fails any serial log with the capitalized words)
    pass "stress-kernel-log: dmesg clean: no bug, warning, oops, lockup, stall or corruption report in $(wc -l </tmp/dmesg) lines"
fi
grep 'hvcore:' /tmp/dmesg | grep -v -E 'cpu [0-9]+: (VMXON done|VMCS set up|virtualized|devirtualized)' | tail -n 8 | sed 's/^/HV-DMESG: /'
exit $rc
