#!/bin/busybox sh
# /init of the Linux-on-top run: Linux booted by hvcore.efi (its EFI stub),
# the BSP still virtualized. Lines starting "UEFI-LINUX" are judged by run.sh.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
say() { echo "UEFI-LINUX $*"; }
say "kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU(s) online"
# Linux has called SetVirtualAddressMap by now (efi_enter_virtual_mode, early
# in start_kernel): root, still answering below, did not depend on it.
if dmesg | grep -q 'Unable to switch EFI into virtual mode'; then
    say "EFI runtime: SetVirtualAddressMap FAILED"
else
    say "EFI runtime: SetVirtualAddressMap done, $(ls /sys/firmware/efi/runtime-map 2>/dev/null | wc -l) runtime regions mapped ($(dmesg | grep -m1 -o 'efi: EFI v[^ ]* by .*'))"
fi
rc=0
if insmod /hvuefi.ko; then
    dmesg | grep 'hvuefi:' | sed 's/^\[[ 0-9.]*\] //' | while read -r l; do say "$l"; done
    rmmod hvuefi
else
    rc=1
    dmesg | grep 'hvuefi:' | sed 's/^\[[ 0-9.]*\] //' | while read -r l; do say "$l"; done
    say "insmod hvuefi.ko failed"
fi
# hvctl, unchanged, through /dev/hvcore of hvcore_vmcall.ko (ioctls forwarded
# to VMCALL on each CPU).
if insmod /hvcore_vmcall.ko; then
    say "hvcore_vmcall.ko loaded: /dev/hvcore forwards to VMCALL"
    if [ -x /bin/hvctl ]; then
        hv() { /bin/hvctl --target local "$@" 2>&1; }
        say "hvctl status: $(hv status | tr '\n' ' ')"
        orig=$(hv rdmsr 175 core 0 | sed -n 's/.*= \([0-9a-f`]*\).*/\1/p')
        say "hvctl wrmsr: $(hv wrmsr 175 'fffffe00`00abc000' | tr '\n' ' ')"
        say "hvctl rdmsr: $(hv rdmsr 175 | tr '\n' ' ')"
        hv wrmsr 175 "$orig" >/dev/null
        say "hvctl rdmsr after restore: $(hv rdmsr 175 | tr '\n' ' ')"
        say "hvctl bad msr: $(hv rdmsr 801 | tr '\n' ' ')"
    fi
    rmmod hvcore_vmcall
else
    rc=1
    say "insmod hvcore_vmcall.ko failed"
fi
# The workload: processes, pinned-free forks, file reads, sleeps.
ok=1
i=0
while [ $i -lt 30 ]; do sh -c 'exit 0' || ok=0; i=$((i + 1)); done
for f in /proc/cpuinfo /proc/meminfo /hvuefi.ko /bin/busybox; do cat "$f" >/dev/null || ok=0; done
md5sum /bin/busybox >/tmp/sum && [ -s /tmp/sum ] || ok=0
( sleep 1; echo done >/tmp/bg ) & wait
[ "$(cat /tmp/bg)" = done ] || ok=0
sleep 1
if [ $ok = 1 ]; then say "workload: ok (30 processes, file reads, md5sum, sleeps)"; else say "workload: FAILED"; rc=1; fi
say "note: OVMF on Bochs installs no ACPI tables, so Linux sees one CPU here; the other CPUs stay parked in firmware (their state: the hypervisor cpu lines above)"
echo "UEFI-LINUX-END rc=$rc"
sync
reboot -f
