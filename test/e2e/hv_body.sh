# hvcore end-to-end body: runs inside the guest (busybox sh) as /e2e/body.sh.
# /hv holds hvcore.ko and hvtest (static). Prints "E2E PASS|FAIL <name>: ..."
# lines; any FAIL makes the body exit non-zero.
rc=0
pass() { echo "E2E PASS $*"; }
fail() { echo "E2E FAIL $*"; rc=1; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

echo "HV-E2E: guest kernel $(uname -r), $(grep -c '^processor' /proc/cpuinfo) CPUs"
sync; echo 3 > /proc/sys/vm/drop_caches
mem0=$(meminfo MemAvailable); slab0=$(meminfo Slab)

# ---- load: every CPU virtualized ----------------------------------------------
t0=$(cut -d' ' -f1 /proc/uptime)
if insmod /hv/hvcore.ko; then
    t1=$(cut -d' ' -f1 /proc/uptime)
    pass "insmod: loaded in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
else
    fail "insmod: insmod hvcore.ko failed"
fi
dmesg | grep 'hvcore:' | sed 's/^/HV-DMESG: /'
/hv/hvtest loaded || rc=1

# ---- MSR broadcast (the kernel's msr driver gives the guest's own view) -------------
insmod /hv/msr.ko 2>/dev/null || true
/hv/hvtest msr || rc=1

# ---- !dr events: hardware breakpoints set by guest processes --------------------
/hv/hvtest dr || rc=1

# ---- the hvctl client against the real device ------------------------------------
if [ -x /hv/hvctl ]; then
    hv() { /hv/hvctl --target local "$@" 2>&1; }
    want() { # name, pattern, output
        if echo "$3" | grep -q -- "$2"; then pass "hvctl-$1: $(echo "$3" | head -n 1)"; else fail "hvctl-$1: got: $(echo "$3" | tr '\n' '|')"; fi
    }
    ncpu=$(grep -c '^processor' /proc/cpuinfo)
    want status "target local, $ncpu cores" "$(hv status)"
    orig=$(hv rdmsr 175 core 1 | sed -n 's/.*= \([0-9a-f`]*\).*/\1/p')
    want wrmsr-core-1 'core : 1 - msr\[175\] <- fffffe00`00abc000 (VMCS guest field)' "$(hv wrmsr 175 'fffffe00`00abc000' core 1)"
    want rdmsr-core-1 'core : 1 - msr\[175\] = fffffe00`00abc000' "$(hv rdmsr 175)"
    hv wrmsr 175 "$orig" core 1 >/dev/null
    want gp-status 'msr\[801\]: EXCEPTION_GENERAL_PROTECTION (0xc001000d)' "$(hv rdmsr 801)"
    want dr-add 'event [0-9]*: !dr pid any core 0 imm yes' "$(hv '!dr' core 0)"
    want events-list 'enabled  !dr pid any      core 0' "$(hv events)"
    want events-clear 'no events' "$(hv events c all; hv events)"
fi

# ---- CPU hotplug is refused while loaded ----------------------------------------
if [ -w /sys/devices/system/cpu/cpu1/online ]; then
    if echo 0 > /sys/devices/system/cpu/cpu1/online 2>/tmp/hp.err; then
        fail "hotplug-refused: cpu1 went offline while the hypervisor was loaded"
        echo 1 > /sys/devices/system/cpu/cpu1/online
    else
        pass "hotplug-refused: offlining cpu1 failed ($(cat /tmp/hp.err | sed 's/.*: //')); $(dmesg | grep 'refusing to offline' | tail -n 1 | sed 's/^\[[^]]*\] //')"
    fi
fi

# ---- unload: devirtualized ----------------------------------------------------
if rmmod hvcore; then pass "rmmod: unloaded"; else fail "rmmod: rmmod hvcore failed"; fi
dmesg | grep 'hvcore:' | tail -n 4 | sed 's/^/HV-DMESG: /'
/hv/hvtest unloaded || rc=1
if dmesg | grep -q 'hvcore: unloaded; 0 allocations outstanding'; then
    pass "no-leak-first-cycle: the module freed every allocation"
else
    fail "no-leak-first-cycle: $(dmesg | grep 'hvcore: unloaded' | tail -n 1)"
fi

# ---- 10 more load/unload cycles ---------------------------------------------------
cycles=0; clean=0
i=1
while [ $i -le 10 ]; do
    if insmod /hv/hvcore.ko && /hv/hvtest allocations >/tmp/allocs && rmmod hvcore; then
        cycles=$((cycles + 1))
        last=$(dmesg | grep 'hvcore: unloaded' | tail -n 1)
        case "$last" in *"unloaded; 0 allocations outstanding"*) clean=$((clean + 1)) ;; esac
    fi
    i=$((i + 1))
done
[ $cycles -eq 10 ] && [ $clean -eq 10 ] && pass "reload-10x: 10 load/unload cycles, each freed all $(cat /tmp/allocs) allocations" \
    || fail "reload-10x: $cycles cycles completed, $clean ended with 0 allocations outstanding"
/hv/hvtest unloaded >/dev/null || fail "reload-10x: hypervisor still visible after the last unload"

# ---- a failure on one CPU rolls back the others -----------------------------------
ncpu=$(grep -c '^processor' /proc/cpuinfo)
if [ "$ncpu" -ge 2 ]; then
    last=$((ncpu - 1))
    if insmod /hv/hvcore.ko inject_launch_failure_cpu=$last 2>/tmp/ins.err; then
        fail "rollback: insmod succeeded although cpu $last was made to fail"
        rmmod hvcore
    else
        msg=$(dmesg | grep "cannot virtualize cpu $last" | tail -n 1 | sed 's/^\[[^]]*\] //')
        if [ -n "$msg" ] && /hv/hvtest unloaded >/dev/null; then
            pass "rollback: insmod refused ($(sed 's/.*: //' /tmp/ins.err)); \"$msg\"; every CPU back to native"
        else
            fail "rollback: message '$msg'; hypervisor still visible or no message"
        fi
    fi
fi

sync; echo 3 > /proc/sys/vm/drop_caches
mem1=$(meminfo MemAvailable); slab1=$(meminfo Slab)
dmem=$((mem0 - mem1)); dslab=$((slab1 - slab0))
# The kernel's own caches move a little between samples; a leak of the
# hypervisor's regions (~30 KiB per CPU per load, x11 loads) would not hide.
if [ $dmem -lt 1024 ] && [ $dslab -lt 1024 ]; then
    pass "memory: MemAvailable ${mem0} -> ${mem1} kB, Slab ${slab0} -> ${slab1} kB"
else
    fail "memory: MemAvailable ${mem0} -> ${mem1} kB, Slab ${slab0} -> ${slab1} kB"
fi
exit $rc
