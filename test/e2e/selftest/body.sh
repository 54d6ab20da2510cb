# shellcheck shell=sh
# hvcore e2e self-test body: runs inside the guest (busybox sh) as /e2e/body.sh.
# The harness put hello.ko and vmxcheck in /selftest (from --initramfs-dir).
fail() { echo "E2E-SELFTEST FAIL: $*"; exit 1; }

ncpu=$(grep -c '^processor' /proc/cpuinfo)
# Each CPU has a "flags" line and a "vmx flags" line; count the former only.
nvmx=$(grep -c '^flags.* vmx' /proc/cpuinfo)
echo "selftest: $ncpu cpus, $nvmx with the vmx flag"
[ "$nvmx" -eq "$ncpu" ] || fail "vmx flag on $nvmx of $ncpu cpus"

/selftest/vmxcheck || fail "vmxcheck"

# What the CPU model offers a hypervisor (VMX capability MSRs, modern features).
insmod /selftest/msr.ko 2>/dev/null
/selftest/cpucaps || fail "cpucaps"

insmod /selftest/hello.ko || fail "insmod hello.ko"
grep -q '^hello ' /proc/modules || fail "hello not in /proc/modules"
nhello=$(dmesg | grep -c 'hvcore-e2e: hello from cpu')
dmesg | grep 'hvcore-e2e: hello from cpu'
[ "$nhello" -eq "$ncpu" ] || fail "hello from $nhello of $ncpu cpus"

rmmod hello || fail "rmmod hello"
grep -q '^hello ' /proc/modules && fail "hello still loaded after rmmod"
dmesg | grep 'hvcore-e2e: goodbye' || fail "no goodbye on unload"

echo "E2E-SELFTEST PASS cpus=$ncpu"
