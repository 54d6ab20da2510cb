# The README demo, inside the guest: load the hypervisor, look from inside,
# unload. Every line starting with DEMO: is shown to the user.
say() { echo "DEMO: $*"; }
ncpu=$(grep -c '^processor' /proc/cpuinfo)
say "Debian's kernel $(uname -r) is running on $ncpu emulated Haswell CPUs with VT-x (Bochs)."
say "Before loading, CPUID from inside the guest:"
/hv/hvtest show
say ""
say "insmod hvcore.ko: each CPU enters VMX root, builds its VMCS from its own running state and VMLAUNCHes back into the same kernel"
t0=$(cut -d' ' -f1 /proc/uptime)
insmod /hv/hvcore.ko || { say "insmod failed:"; dmesg | tail -n 20; exit 1; }
t1=$(cut -d' ' -f1 /proc/uptime)
dmesg | grep 'hvcore:' | sed 's/^\[[^]]*\] /DEMO:   /'
say "loaded in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s of guest time. The same kernel now runs as a guest:"
/hv/hvtest show
i=0; while [ $i -lt 200 ]; do grep -q . /proc/cpuinfo; i=$((i + 1)); done
say "after some work (200 reads of /proc/cpuinfo, each running CPUID on the reading CPU):"
/hv/hvtest show
say ""
say "rmmod hvcore: each CPU asks VMX root (VMCALL) to restore its state and leave VMX"
rmmod hvcore || { say "rmmod failed"; exit 1; }
dmesg | grep 'hvcore:' | tail -n $((ncpu + 1)) | sed 's/^\[[^]]*\] /DEMO:   /'
/hv/hvtest show
say "done: the kernel kept running throughout."
