// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hvuefi.ko: Linux's side of hvcore.efi, for the end-to-end test. A
 * firmware-loaded hypervisor shares no address space with Linux, so this
 * uses only the register calls of hvcore/vmcall.h (ring 0 + key): ping,
 * query, and the per-CPU MSR access that makes the MSR broadcast (one
 * VMCALL on each online CPU). It prints what it sees and stays loaded until
 * rmmod; the checks run at load.
 */
#include <linux/cpu.h>
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/smp.h>
#include <asm/msr.h>
#include <asm/processor.h>

#define KEY 0x68766F7265564D43ull
#define PING 1
#define PING_REPLY 0x6C69626876636F72ull
#define QUERY 4
#define MSR_READ 5
#define MSR_WRITE 6
#define Q_CPU_COUNT 0
#define Q_CURRENT_CPU 1
#define Q_CPU_VIRTUALIZED 2
#define Q_EXIT_COUNT 3
#define Q_EXIT_TOTAL 4
#define Q_CPU_EXIT_TOTAL 5
#define Q_CPU_EXIT_COUNT 6
#define Q_CPU_RESTARTS 7
#define EXIT_INIT 3
#define EXIT_SIPI 4
#define MAX_CPUS 64
#define STATUS_GP 0xC001000Du

static u64 vmcall(u64 nr, u64 a1, u64 a2, u64 *rdx_out)
{
	u64 rax = nr, rcx = KEY, rdx = a1;
	register u64 r8 asm("r8") = a2; /* "+r" alone could be any register */

	asm volatile("vmcall" : "+a"(rax), "+c"(rcx), "+d"(rdx), "+r"(r8) : : "memory");
	if (rdx_out)
		*rdx_out = rdx;
	return rax;
}

struct msr_job {
	u32 msr;
	u64 value;
	atomic_t ok, seen;
};

/* On each CPU: write through VMCALL, read back with a native RDMSR. */
static void msr_write_here(void *p)
{
	struct msr_job *j = p;
	u64 back;

	if (vmcall(MSR_WRITE, j->msr, j->value, NULL) == 0)
		atomic_inc(&j->ok);
	rdmsrl(j->msr, back);
	if (back == j->value)
		atomic_inc(&j->seen);
}

/*
 * Every CPU the hypervisor manages, including those Linux does not run
 * (OVMF on Bochs installs no ACPI tables, so Linux brings up no AP; the
 * firmware parked them at ExitBootServices with INIT-SIPI-SIPI): are they
 * still virtualized, how many exits, how often restarted at a SIPI, and
 * do their counters move (exits over one second)?
 */
static void report_every_cpu(u64 count)
{
	static u64 before[MAX_CPUS];
	u64 i, virt, total, init, sipi, restarts, n = min_t(u64, count, MAX_CPUS), all = 0;

	for (i = 0; i < n; i++)
		vmcall(QUERY, Q_CPU_EXIT_TOTAL, i, &before[i]);
	msleep(1000);
	for (i = 0; i < n; i++) {
		virt = total = init = sipi = restarts = 0;
		vmcall(QUERY, Q_CPU_VIRTUALIZED, i, &virt);
		vmcall(QUERY, Q_CPU_EXIT_TOTAL, i, &total);
		vmcall(QUERY, Q_CPU_EXIT_COUNT, (i << 32) | EXIT_INIT, &init);
		vmcall(QUERY, Q_CPU_EXIT_COUNT, (i << 32) | EXIT_SIPI, &sipi);
		vmcall(QUERY, Q_CPU_RESTARTS, i, &restarts);
		all += virt == 1;
		pr_info("hvuefi: hypervisor cpu %llu: virtualized %llu, %llu exits (+%llu in 1 s), INIT %llu, SIPI %llu, restarted at a SIPI %llu time(s)%s\n",
			i, virt, total, total - before[i], init, sipi, restarts & 0xffffffffull,
			(restarts >> 63) ? ", waiting for a SIPI" : "");
	}
	pr_info("hvuefi: %llu of %llu hypervisor CPUs virtualized after the OS booted; Linux runs on %d (OVMF on Bochs installs no ACPI tables: the APs stay parked in firmware)\n",
		all, count, num_online_cpus());
}

static int __init hvuefi_init(void)
{
	unsigned int a, b, c, d;
	char sig[13];
	u64 r, v, count = 0, me = 0, virt = 0, cpuid_exits = 0, total = 0, old;
	struct msr_job job = { .msr = MSR_IA32_SYSENTER_ESP };
	int cpus = num_online_cpus();

	cpuid(0x40000000, &a, &b, &c, &d);
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = 0;
	if (strcmp(sig, "libhvcore") != 0) {
		pr_err("hvuefi: no hvcore signature at CPUID 0x40000000 (\"%s\"): not virtualized\n", sig);
		return -ENODEV;
	}
	pr_info("hvuefi: CPUID 0x40000000 signature \"%s\" on cpu %d\n", sig, raw_smp_processor_id());

	preempt_disable();
	r = vmcall(PING, 0, 0, NULL);
	preempt_enable();
	if (r != PING_REPLY) {
		pr_err("hvuefi: VMCALL ping: 0x%llx\n", r);
		return -EIO;
	}
	pr_info("hvuefi: VMCALL ping answered (0x%llx) from kernel mode\n", r);

	preempt_disable();
	vmcall(QUERY, Q_CPU_COUNT, 0, &count);
	vmcall(QUERY, Q_CURRENT_CPU, 0, &me);
	vmcall(QUERY, Q_CPU_VIRTUALIZED, me, &virt);
	vmcall(QUERY, Q_EXIT_COUNT, 10, &cpuid_exits);
	vmcall(QUERY, Q_EXIT_TOTAL, 0, &total);
	preempt_enable();
	pr_info("hvuefi: VMCALL query: the hypervisor manages %llu CPU(s) from firmware; this one is its cpu %llu, virtualized %llu, %llu exits so far (%llu CPUID)\n",
		count, me, virt, total, cpuid_exits);
	pr_info("hvuefi: Linux sees %d CPU(s)\n", cpus);
	report_every_cpu(count);

	/* The broadcast: one VMCALL per online CPU, each into its own root. */
	rdmsrl(job.msr, old);
	job.value = 0xfffffe0000123000ull;
	on_each_cpu(msr_write_here, &job, 1);
	if (atomic_read(&job.ok) != cpus || atomic_read(&job.seen) != cpus) {
		pr_err("hvuefi: MSR broadcast through VMCALL: %d written, %d read back, of %d CPUs\n",
		       atomic_read(&job.ok), atomic_read(&job.seen), cpus);
		return -EIO;
	}
	job.value = old;
	atomic_set(&job.ok, 0);
	atomic_set(&job.seen, 0);
	on_each_cpu(msr_write_here, &job, 1);
	/* An MSR that does not exist (0x801: no x2APIC register has that
	 * index): the #GP status comes back, nothing faults. */
	preempt_disable();
	r = vmcall(MSR_READ, 0x801, 0, &v);
	preempt_enable();
	pr_info("hvuefi: MSR broadcast through VMCALL: ok (SYSENTER_ESP written on %d CPU(s), read back natively, restored to 0x%llx)\n",
		cpus, old);
	pr_info("hvuefi: MSR that does not exist, through VMCALL: status 0x%llx%s\n", r,
		r == STATUS_GP ? " (#GP status, nothing faulted)" : "");
	return 0;
}

static void __exit hvuefi_exit(void)
{
}

module_init(hvuefi_init);
module_exit(hvuefi_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("hvcore.efi end-to-end test: VMCALL from Linux to a firmware-loaded hypervisor");
