# One load/unload cycle of the DKMS-built hvcore.ko (test/e2e/packages.sh):
# runs inside the guest (busybox sh) as /e2e/body.sh. /hv holds hvcore.ko as
# `dkms build` made it in a clean Debian 12 root, and hvtest (static).
# Prints "E2E PASS|FAIL <name>: ..." lines; any FAIL makes the body exit non-zero.
rc=0
pass() { echo "E2E PASS $*"; }
fail() { echo "E2E FAIL $*"; rc=1; }

echo "HV-E2E: guest kernel $(uname -r), $(grep -c '^processor' /proc/cpuinfo) CPUs (DKMS-built module)"
if insmod /hv/hvcore.ko; then pass "dkms-insmod: the DKMS-built hvcore.ko loaded"; else fail "dkms-insmod: insmod failed"; fi
dmesg | grep 'hvcore:' | sed 's/^/HV-DMESG: /'
# Every CPU virtualized, the CPUID signature on each, exit counters moving.
/hv/hvtest loaded || rc=1
if rmmod hvcore; then pass "dkms-rmmod: unloaded"; else fail "dkms-rmmod: rmmod hvcore failed"; fi
/hv/hvtest unloaded || rc=1
exit $rc
