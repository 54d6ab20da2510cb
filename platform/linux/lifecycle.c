// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The machine's life events while hvcore.ko is loaded.
 *
 * Reboot, halt, power-off and kexec: the kernel runs the reboot notifiers
 * with every CPU still online and able to take cross-calls
 * (kernel_restart_prepare(), kernel_halt(), kernel_power_off(),
 * kernel_kexec()), so the notifier ends event delivery and devirtualizes
 * every CPU there, through the same path as rmmod. Firmware, or the next
 * kernel, then starts on CPUs that are out of VMX operation (a CPU left in
 * VMX root blocks INIT, which is how both bring their APs up).
 *
 * Panic, kdump and emergency restart do not run those notifiers: they stop
 * the other CPUs with NMIs and call cpu_emergency_disable_virtualization()
 * on each CPU (the hook KVM uses), with interrupts off. hvcore registers
 * that callback where the kernel has it, and it devirtualizes the CPU it
 * runs on with hv_stop_this_cpu() (no allocation, no sleeping lock). Where
 * the kernel lacks the hook (kernels before the 6.6 rework and its stable
 * backports) a crash leaves the CPUs virtualized: a kdump kernel then runs
 * as the guest of the crashed one's hypervisor, which still answers it.
 *
 * The guest's own INIT, SIPI and triple faults are the core's (exit_misc.c).
 */
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/reboot.h>

#include <asm/reboot.h>

#include <hvcore/debugger.h>

#include "hvcore_linux.h"

static struct hv *life_hv;
static DEFINE_MUTEX(life_lock);
static bool life_stopped;

static const char *action_name(unsigned long action)
{
	switch (action) {
	case SYS_RESTART:
		return "reboot";
	case SYS_HALT:
		return "halt";
	case SYS_POWER_OFF:
		return "power off";
	default:
		return "shutdown";
	}
}

static int on_reboot(struct notifier_block *nb, unsigned long action, void *data)
{
	hv_status_t st;

	mutex_lock(&life_lock);
	if (life_stopped) {
		mutex_unlock(&life_lock);
		return NOTIFY_DONE;
	}
	pr_notice("%s: devirtualizing every CPU first\n", action_name(action));
	hvl_dev_shutdown();
	hv_debugger_release(life_hv);
	st = hv_stop(life_hv);
	hvl_log_flush();
	if (hv_success(st)) {
		life_stopped = true;
		pr_notice("%s: all %u CPUs devirtualized\n", action_name(action), life_hv->cpu_count);
	} else {
		pr_err("%s: devirtualization failed: %s (0x%08x)\n", action_name(action), hv_status_name(st), st);
	}
	mutex_unlock(&life_lock);
	return NOTIFY_DONE;
}

static struct notifier_block reboot_nb = {
	.notifier_call = on_reboot,
	/* After other drivers' notifiers (which may still use the CPUs
	 * normally), before the machine goes: lowest priority runs last. */
	.priority = INT_MIN,
};

#ifdef HVL_HAVE_EMERGENCY_VIRT_CB
/* NMI or interrupts-off context on each CPU in turn: no locks, no printk
 * of our own (the core's log is the lock-free ring). */
static void on_emergency(void)
{
	struct hv *hv = READ_ONCE(life_hv);

	if (hv) {
		hv_debugger_release(hv); /* lock-free: a halt ends at its next bounded wait */
		(void)hv_stop_this_cpu(hv);
	}
}
#endif

int hvl_lifecycle_init(struct hv *hv)
{
	int err;

	life_hv = hv;
	life_stopped = false;
	err = register_reboot_notifier(&reboot_nb);
	if (err)
		return err;
#ifdef HVL_HAVE_EMERGENCY_VIRT_CB
	cpu_emergency_register_virt_callback(on_emergency);
#endif
	return 0;
}

/* Before the regular devirtualization of rmmod (which is then the first). */
void hvl_lifecycle_exit(void)
{
#ifdef HVL_HAVE_EMERGENCY_VIRT_CB
	cpu_emergency_unregister_virt_callback(on_emergency);
#endif
	unregister_reboot_notifier(&reboot_nb);
	WRITE_ONCE(life_hv, NULL);
}
