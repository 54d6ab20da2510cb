# hvcore end-to-end body: runs inside the guest (busybox sh) as /e2e/body.sh.
# /hv holds hvcore.ko, hvtest and hvleak (static), and hvcore.imports and
# hvcore.syms (the module's undefined and function symbols, for hvleak).
# Prints "E2E PASS|FAIL <name>: ..." lines; any FAIL makes the body exit
# non-zero.
rc=0
pass() { echo "E2E PASS $*"; }
fail() { echo "E2E FAIL $*"; rc=1; }
# hv.sh --leak-hook: every load in the leak window leaks a page (the
# leak-kernel check must then fail).
HOOK=
[ -e /hv/leak-hook ] && HOOK=test_leak_page_per_load=1
# Where each load's code was, so hvleak can name a caller after rmmod.
sections() {
    for s in /sys/module/hvcore/sections/.*text*; do echo "${s##*/} $(cat "$s")"; done >>/tmp/hvleak.sections
}
load() { insmod /hv/hvcore.ko $HOOK "$@" && sections; }
leak_check() { # NAME: stop the window, print its lines, return hvleak's status
    /hv/hvleak check --syms /hv/hvcore.syms --sections /tmp/hvleak.sections >/tmp/$1.out 2>&1
    r=$?
    cat /tmp/$1.out
    return $r
}
leak_summary() { sed -n 's/^HV-LEAK: \([0-9]* events in the window: .*\)/\1/p' "$1"; }

echo "HV-E2E: guest kernel $(uname -r), $(grep -c '^processor' /proc/cpuinfo) CPUs"
# The kernel's msr driver (for guest-side RDMSR checks) is loaded before the
# leak window opens: hvleak then leaves its code out of "module code".
insmod /hv/msr.ko 2>/dev/null || true
# Benchmark, native half (hvbench.c): the same operations before any load.
/hv/hvbench native /tmp/bench.native || echo "HV-BENCH: the native half failed"

# ---- leak window: from before the first load to after the last unload ----------
# Every allocation the module's code makes through the kernel's allocation
# APIs in this window must be freed by its end (hvleak.c says how). The
# module's own allocation counter is checked separately (exact, but blind
# to anything that bypasses hvl_os_ops()).
if /hv/hvleak start --imports /hv/hvcore.imports >/tmp/leak-start.out 2>&1; then
    leak_armed=1
else
    leak_armed=0
fi
cat /tmp/leak-start.out

# ---- load: every CPU virtualized ----------------------------------------------
t0=$(cut -d' ' -f1 /proc/uptime)
if load; then
    t1=$(cut -d' ' -f1 /proc/uptime)
    pass "insmod: loaded in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
else
    fail "insmod: insmod hvcore.ko failed"
fi
dmesg | grep 'hvcore:' | sed 's/^/HV-DMESG: /'
/hv/hvtest loaded || rc=1

# ---- MSR broadcast (the kernel's msr driver gives the guest's own view) -------------
/hv/hvtest msr || rc=1

# ---- !dr events: hardware breakpoints set by guest processes --------------------
/hv/hvtest dr || rc=1
# Events owning condition/code buffers (executable copies) and action buffers.
/hv/hvtest code-events || rc=1
# Script actions: printf of pid, core and a dq() of the process's memory; an endless loop.
/hv/hvtest script || rc=1

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

    # ---- exit record and replay: 10,000 exits of a mixed workload -------------------
    # An armed !dr event turns MOV-DR exiting on; hvtest workload makes CPUID,
    # ring-3 VMCALL, RDMSR/WRMSR and MOV-DR exits until the recorder is done.
    hv '!dr' imm no >/dev/null
    t0=$(cut -d' ' -f1 /proc/uptime)
    /hv/hvctl --target local record --exits 10000 --reasons cpuid,rdmsr,wrmsr,mov-dr,vmcall \
        -o /tmp/exits.hvtrace --timeout 600 >/tmp/record.out 2>&1 &
    rec=$!
    /hv/hvtest workload $rec 660
    wait $rec; rrc=$?
    t1=$(cut -d' ' -f1 /proc/uptime)
    hv events c all >/dev/null
    if [ $rrc -eq 0 ] && grep -q '^recorded 10000 exits' /tmp/record.out; then
        pass "exit-record: $(cat /tmp/record.out) in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, $(wc -c </tmp/exits.hvtrace) bytes"
    else
        fail "exit-record: status $rrc: $(tr '\n' '|' </tmp/record.out)"
    fi
    # Replayed in the guest's userspace (the mock in hvctl), then copied out
    # for the host to replay too (hv.sh).
    out=$(/hv/hvctl replay /tmp/exits.hvtrace 2>&1); prc=$?
    if [ $prc -eq 0 ] && echo "$out" | grep -q 'diverged 0'; then
        pass "exit-replay-guest: $(echo "$out" | sed -n 2p)"
    else
        fail "exit-replay-guest: status $prc: $(echo "$out" | tr '\n' '|')"
    fi
    echo "HV-TRACE-BEGIN $(wc -c </tmp/exits.hvtrace)"
    gzip -9 -c /tmp/exits.hvtrace | base64
    echo "HV-TRACE-END"
    rm -f /tmp/exits.hvtrace
fi

# ---- benchmarks: exit costs, !dr throughput, MSR broadcast (BENCH lines) ---------
/hv/hvbench virt /tmp/bench.native || echo "HV-BENCH: the virtualized half failed"

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
    if load && /hv/hvtest allocations >/tmp/allocs && rmmod hvcore; then
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
    if load inject_launch_failure_cpu=$last 2>/tmp/ins.err; then
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

# ---- leak check: exact, at the kernel's allocation APIs --------------------------
if [ $leak_armed = 1 ]; then
    leak_check leak
    case $? in
    0) pass "leak-kernel: nothing the module allocated is left: $(leak_summary /tmp/leak.out)" ;;
    1) fail "leak-kernel: $(grep -c 'outstanding: ' /tmp/leak.out) allocations by module code still outstanding after the last unload (HV-LEAK lines above): $(leak_summary /tmp/leak.out)" ;;
    *) fail "leak-kernel: the check could not run: $(grep 'ERROR' /tmp/leak.out | head -n 1)" ;;
    esac
else
    fail "leak-kernel: the check could not start: $(grep 'ERROR' /tmp/leak-start.out | head -n 1)"
fi

# ---- the leak check can fail: two loads with the test hook leak two pages --------
# The hook takes its page straight from the page allocator, past the module's
# counter: the counter must say 0 outstanding, hvleak must name both pages.
if /hv/hvleak start --imports /hv/hvcore.imports >/tmp/hook-start.out 2>&1; then
    loads=0; counted0=0
    for i in 1 2; do
        if insmod /hv/hvcore.ko test_leak_page_per_load=1 && sections && rmmod hvcore; then
            loads=$((loads + 1))
            case "$(dmesg | grep 'hvcore: unloaded' | tail -n 1)" in *"unloaded; 0 allocations outstanding"*) counted0=$((counted0 + 1)) ;; esac
        fi
    done
    leak_check hook
    hrc=$?
    pages=$(dmesg | sed -n 's/.*hvcore: test hook: leaking page \([0-9a-f]*\) .*/\1/p' | tail -n 2)
    found=0
    for p in $pages; do
        grep -q "outstanding: alloc_pages page 0x$p from test_leak_one_page+" /tmp/hook.out && found=$((found + 1))
    done
    outstanding=$(grep -c 'outstanding: ' /tmp/hook.out)
    if [ $hrc -eq 1 ] && [ $loads -eq 2 ] && [ $counted0 -eq 2 ] && [ $found -eq 2 ] && [ "$outstanding" -eq 2 ]; then
        pass "leak-detector: 2 loads with test_leak_page_per_load=1 leaked pages $(echo $pages | tr ' ' ','); the module's counter said 0 outstanding both times; hvleak found exactly these 2 (from test_leak_one_page)"
    else
        fail "leak-detector: hvleak status $hrc, $loads loads, counter 0 after $counted0, hook pages '$(echo $pages)', $found of them found, $outstanding outstanding in all"
    fi
else
    cat /tmp/hook-start.out
    fail "leak-detector: the check could not start: $(grep 'ERROR' /tmp/hook-start.out | head -n 1)"
fi
exit $rc
