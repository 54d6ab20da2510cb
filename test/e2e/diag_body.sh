# VM-entry diagnosis oracle body: runs inside the guest (busybox sh) as
# /e2e/body.sh. For each corruption named in /hv/corruptions: a marker
# (RDMSR of an unknown MSR, which Bochs logs as "RDMSR: Unknown register
# 0x1337xxxx") so the host can cut bochs.log per corruption, then insmod
# hvcore.ko test_corrupt=NAME (it must fail), and the module's diagnosis
# from dmesg. Prints "DIAG <i> <name> first=<check> all=<checks>" lines.
rc=0
pass() { echo "E2E PASS $*"; }
fail() { echo "E2E FAIL $*"; rc=1; }
insmod /hv/msr.ko 2>/dev/null || true
# MSR index = file offset of /dev/cpu/0/msr = 8 * skip.
marker() { dd if=/dev/cpu/0/msr of=/dev/null bs=8 count=1 skip=$((0x266E000 + $1)) 2>/dev/null; }
i=0
for name in $(cat /hv/corruptions); do
    i=$((i + 1))
    marker "$i"
    dmesg -c >/dev/null
    if insmod /hv/hvcore.ko test_corrupt="$name" 2>/dev/null; then
        fail "diag $name: the module loaded despite the corruption"
        rmmod hvcore
    fi
    first=$(dmesg | sed -n 's/.*first failing check: SDM [^ ]* \([^:]*\):.*/\1/p' | head -n 1)
    all=$(dmesg | sed -n 's/.*VM-entry check failed: SDM [^ ]* \([^:]*\):.*/\1/p' | sort -u | tr '\n' ' ')
    echo "DIAG $i $name first=${first:-none} all=${all:-none}"
    dmesg | grep -m 1 'first failing check' | sed 's/^/DIAG-MSG: /'
done
marker $((i + 1))
# After every refused entry the machine must be intact: a clean load works.
dmesg -c >/dev/null
if insmod /hv/hvcore.ko; then
    pass "diag: clean load after $i refused VM entries"
    rmmod hvcore && pass "diag: unload" || fail "diag: rmmod failed"
else
    fail "diag: clean load failed after $i refused VM entries"
    dmesg | tail -n 20 | sed 's/^/DIAG-DMESG: /'
fi
exit $rc
