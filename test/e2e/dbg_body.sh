# Debugger Mode e2e, guest side (busybox sh, /e2e/body.sh; test/e2e/dbg.sh).
# COM1 (ttyS0) is the debugger's line, Bochs's socket-server; this console
# is COM2. The host (dbg_host.sh) reads these lines and drives the stub over
# COM1; it talks back only through what the debugger changes (MSRs).
# Prints "E2E PASS|FAIL <name>: ..." lines; any FAIL makes the body exit
# non-zero.
rc=0
pass() { echo "E2E PASS $*"; }
fail() { echo "E2E FAIL $*"; rc=1; }
last_dmesg() { dmesg | grep "hvcore: .*$1" | tail -n 1 | sed 's/^\[[^]]*\] //'; }
G=/hv/dbgguest
ncpu=$(grep -c '^processor' /proc/cpuinfo)
echo "DBG-E2E: guest kernel $(uname -r), $ncpu CPUs"
insmod /hv/msr.ko 2>/dev/null || true

# ---- the parameter: refused values, a busy port, no change without it ----------
try_bad() { # name, expected dmesg text, insmod arguments...
    name=$1 want=$2
    shift 2
    if insmod /hv/hvcore.ko "$@" 2>/tmp/ins.err; then
        fail "param-$name: insmod $* succeeded"
        rmmod hvcore
    elif dmesg | grep -q "hvcore: .*$want"; then
        pass "param-$name: insmod $* refused ($(sed 's/.*: //' /tmp/ins.err)): \"$(last_dmesg "$want" | sed 's/^hvcore: //')\""
    else
        fail "param-$name: refused, but no '$want' in dmesg: $(dmesg | grep hvcore: | tail -n 2 | tr '\n' '|')"
    fi
}
try_bad unknown-value 'debug=bogus: not a serial port' debug=bogus
try_bad unaligned-port 'debug=0x3f9: not a serial port' debug=0x3f9
try_bad bad-baud 'debug_baud=1000: not a divisor' debug=ttyS0 debug_baud=1000
try_bad port-busy 'are in use' debug=ttyS0

# Without debug= nothing changes: the 8250 driver keeps its ports.
if insmod /hv/hvcore.ko; then
    if grep -q 'hvcore' /proc/ioports || ! grep -q '03f8-03ff : serial' /proc/ioports; then
        fail "param-absent: $(grep -E '03f8|hvcore' /proc/ioports | tr '\n' '|')"
    elif dmesg | grep -q 'Debugger Mode'; then
        fail "param-absent: $(last_dmesg 'Debugger Mode')"
    else
        pass "param-absent: loaded without debug=: no Debugger Mode, 0x3f8 still the serial driver's"
    fi
    rmmod hvcore
else
    fail "param-absent: insmod hvcore.ko failed"
fi

# Release COM1 from the kernel's serial driver: the PnP device whose
# resources are io 0x3f8-0x3ff (README.md, "Debugger mode").
pnp=
for d in /sys/bus/pnp/devices/*; do
    grep -q 'io 0x3f8-0x3ff' "$d/resources" 2>/dev/null && pnp=${d##*/}
done
if [ -n "$pnp" ] && echo "$pnp" >/sys/bus/pnp/drivers/serial/unbind && ! grep -q '03f8-03ff : serial' /proc/ioports; then
    pass "release-com1: PnP $pnp unbound from the serial driver; 0x3f8 free"
else
    fail "release-com1: pnp device '$pnp'; /proc/ioports: $(grep 03f8 /proc/ioports | tr '\n' '|')"
fi
try_bad no-uart 'no UART at I/O port 0x3e8' debug=ttyS2

# A core must halt within 1 s (guest time) of its NMI; the default 100 ms is tight under Bochs.
if insmod /hv/hvcore.ko debug=ttyS0 debug_halt_ms=1000; then
    if grep -q '03f8-03ff : hvcore debugger' /proc/ioports; then
        pass "load-debug: insmod debug=ttyS0: \"$(last_dmesg 'Debugger Mode' | sed 's/^hvcore: //')\"; /proc/ioports: 03f8-03ff : hvcore debugger"
    else
        fail "load-debug: loaded, /proc/ioports: $(grep 03f8 /proc/ioports | tr '\n' '|')"
    fi
else
    fail "load-debug: insmod hvcore.ko debug=ttyS0 failed: $(dmesg | grep hvcore: | tail -n 3 | tr '\n' '|')"
    exit 1
fi
dmesg | grep 'hvcore:' | sed 's/^/DBG-DMESG: /'

session() {
# ---- the debugger session (dbg_host.sh drives it) -------------------------------
# Tickers on both CPUs: while every core is halted, no TICK line appears.
$G tick 0 100000 &
t0=$!
$G tick 1 100000 &
t1=$!
# The host writes these on core 1 while halted (0x176: a VMCS guest field;
# 0xc0000103 TSC_AUX: executed in root), then `g`: the guest must see them.
$G msrwait 1 0x176 100000 >/tmp/msr176 &
m1=$!
$G msrwait 1 0xc0000103 100000 >/tmp/msraux &
m2=$!
sleep 1
cat /tmp/msr176 /tmp/msraux
echo "DBG-READY"
wait $m1
r1=$?
wait $m2
r2=$?
cat /tmp/msr176 /tmp/msraux | grep -v ORIG
[ $r1 = 0 ] && [ $r2 = 0 ] || fail "msr-guest-view: msrwait statuses $r1 $r2"

# A process whose breakpoints make the kernel write DR registers on cpu 1:
# the host adds `!dr pid P` with a break action and must see it halt there,
# at a MOV to or from a debug register in one of these kernel functions.
# /proc/kallsyms lists the kernel's own symbols in address order (kallsyms
# sorts them at build time): no sort, which takes minutes in the emulator.
awk '{
    if (prev) { print "DBG-KSYM", p, $1, pn; prev = 0 }
    if ($2 ~ /^[tT]$/ && $3 ~ /(hw_breakpoint|_debugreg$|exc_debug|local_db_|__switch_to_xtra)/) { p = $1; pn = $3; prev = 1 }
}' /proc/kallsyms
$G dr 1 100000 &
d1=$!
# The host signals the end by writing IA32_SYSENTER_ESP on core 0.
$G msrwait 0 0x175 100000
kill $d1 $t0 $t1 2>/dev/null
wait $d1 $t0 $t1 2>/dev/null
echo "DBG-GUEST-DONE"
}

# dbg.sh --params-only: the parameter checks without a debugger session.
[ -e /hv/params-only ] || session

if rmmod hvcore; then
    if grep -q 'hvcore' /proc/ioports; then
        fail "unload: $(grep hvcore /proc/ioports)"
    else
        pass "unload: rmmod hvcore: $(last_dmesg 'unloaded' | sed 's/^hvcore: //'); 0x3f8 released"
    fi
else
    fail "unload: rmmod hvcore failed"
fi
exit $rc
