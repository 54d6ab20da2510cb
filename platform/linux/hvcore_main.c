// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hvcore.ko: virtualizes every online CPU on load (blue pill) and
 * devirtualizes them on unload.
 *
 * CPU hotplug: refused while loaded. A CPU that came online later would
 * run unvirtualized, and one going offline would leave VMX through INIT
 * (which a VMX-root CPU blocks). The module registers a hotplug state
 * whose callbacks fail, so the kernel rolls back any online/offline.
 */
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <asm/msr.h>

#include <hvcore/arch.h>
#include <hvcore/debugger.h>
#include <hvcore/vmcall.h>

#include "hvcore_linux.h"

static int inject_launch_failure_cpu = -1;
module_param(inject_launch_failure_cpu, int, 0400);
MODULE_PARM_DESC(inject_launch_failure_cpu,
		 "test hook: fail VMLAUNCH on this CPU (VM-instruction error 7) to exercise the rollback");

static char *test_corrupt;
module_param(test_corrupt, charp, 0400);
MODULE_PARM_DESC(test_corrupt,
		 "test hook: corrupt the VMCS of CPU 0 before VMLAUNCH with the named corruption (e.g. guest.ldtr-type) "
		 "to compare the VM-entry diagnosis with the processor's verdict");

static bool test_leak_page_per_load;
module_param(test_leak_page_per_load, bool, 0400);
MODULE_PARM_DESC(test_leak_page_per_load,
		 "test hook: leak one page per load, past the module's allocation counter, to prove the e2e leak check");

static struct hv *the_hv;

/*
 * Benchmark hook (issue 17): reading the parameter pings the hypervisor
 * with VMCALL from ring 0 on the reading CPU: 20 rounds of 100 pings, each
 * round with interrupts off and timed with RDTSC, next to an empty loop of
 * the same length. Prints "<best round TSC> <empty loop TSC> <pings per
 * round> <wrong replies>": the per-ping round trip is (best - empty) / 100.
 * Under Bochs with `clock: sync=none` the TSC counts emulated instructions
 * (test/e2e/guest/hvbench.c prints the figure). Reading it changes nothing.
 */
#define BENCH_PINGS 100
static int bench_vmcall_ping_get(char *buf, const struct kernel_param *kp)
{
	u64 best = U64_MAX, empty = U64_MAX;
	unsigned int wrong = 0;
	int round, i;

	if (!the_hv)
		return sysfs_emit(buf, "not loaded\n");
	for (round = 0; round < 20; round++) {
		unsigned long flags;
		u64 t0, t1, t2;

		local_irq_save(flags);
		t0 = rdtsc_ordered();
		for (i = 0; i < BENCH_PINGS; i++)
			wrong += hv_arch_vmcall(HV_VMCALL_PING, HV_VMCALL_KEY, 0, 0) != HV_VMCALL_PING_REPLY;
		t1 = rdtsc_ordered();
		for (i = 0; i < BENCH_PINGS; i++)
			barrier();
		t2 = rdtsc_ordered();
		local_irq_restore(flags);
		best = min(best, t1 - t0);
		empty = min(empty, t2 - t1);
	}
	return sysfs_emit(buf, "%llu %llu %d %u\n", best, empty, BENCH_PINGS, wrong);
}

static const struct kernel_param_ops bench_vmcall_ping_ops = {
	.get = bench_vmcall_ping_get,
};
module_param_cb(bench_vmcall_ping, &bench_vmcall_ping_ops, NULL, 0400);
MODULE_PARM_DESC(bench_vmcall_ping,
		 "benchmark hook (read): VMCALL ping round trip on the reading CPU, in TSC ticks");
static enum cpuhp_state hp_state;
static void *host_pgd;

static int refuse_online(unsigned int cpu)
{
	pr_warn("refusing to online cpu %u while the hypervisor is loaded\n", cpu);
	return -EBUSY;
}

static int refuse_offline(unsigned int cpu)
{
	pr_warn("refusing to offline cpu %u while the hypervisor is loaded\n", cpu);
	return -EBUSY;
}

/* Host CR3 for VM exits: it must outlive the insmod process. A private
 * top-level table with the kernel half of the current one shares every
 * kernel mapping and belongs to no process. */
static int make_host_cr3(uint64_t *cr3)
{
	void *cur = __va(read_cr3_pa());

	host_pgd = (void *)get_zeroed_page(GFP_KERNEL);
	if (!host_pgd)
		return -ENOMEM;
	memcpy((char *)host_pgd + PAGE_SIZE / 2, (char *)cur + PAGE_SIZE / 2, PAGE_SIZE / 2);
	*cr3 = __pa(host_pgd);
	return 0;
}

/* Straight from the page allocator, not through hvl_os_ops(): the module's
 * own allocation counter must not see this page, so only a check in the
 * kernel can find it. Out of line so that the leak check names this
 * function as the caller. */
static noinline void test_leak_one_page(void)
{
	struct page *page = alloc_page(GFP_KERNEL);

	if (page)
		pr_warn("test hook: leaking page %px (pfn %#lx) on purpose\n", page, page_to_pfn(page));
	else
		pr_warn("test hook: no page to leak (allocation failed)\n");
}

static int status_to_errno(hv_status_t st)
{
	switch (st) {
	case HV_STATUS_VMX_NOT_SUPPORTED:
	case HV_STATUS_VMX_BASIC_UNSUPPORTED:
	case HV_STATUS_UNSUPPORTED:
		return -ENODEV;
	case HV_STATUS_VMX_DISABLED_BY_FIRMWARE:
		return -EPERM;
	case HV_STATUS_VMX_IN_USE:
		return -EBUSY;
	case HV_STATUS_INSUFFICIENT_RESOURCES:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static void report_failure(hv_status_t st)
{
	uint32_t vmerr = hv_status_vm_instruction_error(st);

	if (the_hv && the_hv->failed_cpu != UINT32_MAX)
		pr_err("cannot virtualize cpu %u: %s (0x%08x)%s%s\n", the_hv->failed_cpu,
		       hv_status_name(st), st, vmerr ? ", VM-instruction error: " : "",
		       vmerr ? hv_vm_instruction_error_text(vmerr) : "");
	else
		pr_err("cannot start: %s (0x%08x)\n", hv_status_name(st), st);
	if (the_hv && hv_vmcs_diagnose_failed(the_hv)) {
		char line[320];

		hv_vmcs_diagnose_format(hv_vmcs_diagnose_failed(the_hv), line, sizeof(line));
		pr_err("VM entry refused, first failing check: %s\n", line);
	}
	if (st == HV_STATUS_VMX_DISABLED_BY_FIRMWARE)
		pr_err("VMX is disabled in firmware (IA32_FEATURE_CONTROL locked with VMX off)\n");
	else if (st == HV_STATUS_VMX_IN_USE)
		pr_err("VMX is already in use by another hypervisor\n");
}

static int __init hvcore_init(void)
{
	struct hv_config cfg;
	hv_status_t st;
	int err, cpu;

	/* The core numbers CPUs 0..n-1: the online set must be exactly that. */
	cpus_read_lock();
	for_each_online_cpu(cpu) {
		if (cpu >= num_online_cpus()) {
			cpus_read_unlock();
			pr_err("online CPUs are not 0..%u; bring them online or offline first\n",
			       num_online_cpus() - 1);
			return -EINVAL;
		}
	}
	err = cpuhp_setup_state_nocalls_cpuslocked(CPUHP_AP_ONLINE_DYN, "hvcore:refuse",
						   refuse_online, refuse_offline);
	cpus_read_unlock();
	if (err < 0)
		goto hotplug_failed;
	hp_state = err;

	err = hvl_os_init();
	if (err)
		goto os_init_failed;

	hv_config_init(&cfg);
	if (inject_launch_failure_cpu >= 0)
		cfg.inject_launch_failure_cpu = (uint32_t)inject_launch_failure_cpu;
	if (test_corrupt && test_corrupt[0])
		cfg.test_corrupt = test_corrupt;
	err = hvl_debug_init(&cfg);
	if (err)
		goto debug_failed;
	err = make_host_cr3(&cfg.host_cr3);
	if (err)
		goto host_cr3_failed;

	st = hv_create(&the_hv, hvl_os_ops(), &cfg);
	if (!hv_success(st))
		goto create_failed;
	st = hv_start(the_hv);
	hvl_log_flush();
	if (!hv_success(st))
		goto start_failed;

	err = hvl_dev_init(the_hv);
	if (err)
		goto dev_failed;
	err = hvl_lifecycle_init(the_hv);
	if (err)
		goto lifecycle_failed;
	pr_info("all %u CPUs virtualized; /dev/hvcore ready\n", the_hv->cpu_count);
	if (test_leak_page_per_load)
		test_leak_one_page();
	return 0;

lifecycle_failed:
	pr_err("cannot register the reboot notifier (%d)\n", err);
	hvl_dev_exit();
	goto stop_hv;
dev_failed:
	pr_err("cannot register /dev/hvcore (%d)\n", err);
stop_hv:
	hv_debugger_release(the_hv);
	hv_stop(the_hv);
	hvl_log_flush();
	hv_destroy(the_hv);
	the_hv = NULL;
	goto host_cr3_cleanup;
start_failed:
	report_failure(st);
	hv_destroy(the_hv);
	the_hv = NULL;
	err = status_to_errno(st);
	goto host_cr3_cleanup;
create_failed:
	report_failure(st);
	err = status_to_errno(st);
host_cr3_cleanup:
	free_page((unsigned long)host_pgd);
host_cr3_failed:
	hvl_debug_exit();
debug_failed:
	hvl_os_exit();
os_init_failed:
	cpuhp_remove_state_nocalls(hp_state);
hotplug_failed:
	return err;
}

static void __exit hvcore_exit(void)
{
	hv_status_t st;

	hvl_lifecycle_exit();
	hvl_dev_exit();
	/* A debugger's halt must not hold the cores hv_stop calls. */
	hv_debugger_release(the_hv);
	st = hv_stop(the_hv);
	hvl_log_flush();
	if (!hv_success(st)) {
		/* Cores may still be in VMX root: the stub keeps its UART and LAPIC mapping too. */
		pr_err("devirtualization failed: %s (0x%08x); keeping its memory\n", hv_status_name(st), st);
	} else {
		hv_destroy(the_hv);
		hvl_debug_exit();
	}
	the_hv = NULL;
	free_page((unsigned long)host_pgd);
	hvl_os_exit();
	cpuhp_remove_state_nocalls(hp_state);
	pr_info("unloaded; %ld allocations outstanding\n", hvl_allocations());
}

module_init(hvcore_init);
module_exit(hvcore_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("libhvcore: a VT-x hypervisor that virtualizes the running kernel");
MODULE_VERSION("0.1.0");
