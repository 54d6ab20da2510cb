// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hvcore_vmcall.ko: /dev/hvcore for a Linux that runs on top of hvcore.efi.
 *
 * The hypervisor was loaded by firmware and shares no address space with
 * Linux, so this driver forwards the ioctls of platform/linux's /dev/hvcore
 * (QUERY, MSR, MSR_VALUES; hvcore/abi.h) to the register-only VMCALLs of
 * hvcore/vmcall.h (ring 0 + key), one VMCALL on each target CPU. hvctl
 * --target local then works unchanged. Events need the hypervisor's memory
 * and are not offered (ENOTTY).
 *
 *   make -C platform/uefi/linux KDIR=/lib/modules/$(uname -r)/build
 */
#include <linux/cpu.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/uaccess.h>
#include <asm/processor.h>

#include <hvcore/abi.h>
#include <hvcore/status.h>
#include <hvcore/vmcall.h>
#include "uapi/hvcore_ioctl.h"

#define STATUS_SUCCESS HV_STATUS_SUCCESS
#define STATUS_INVALID_PARAMETER HV_STATUS_INVALID_PARAMETER
#define STATUS_CPU_CALL_FAILED HV_STATUS_CPU_CALL_FAILED

struct call {
	u64 nr, a1, a2;
	u64 rax, rdx, r8;
};

static void vmcall_here(void *p)
{
	struct call *c = p;
	register u64 r8 asm("r8") = c->a2;
	u64 rax = c->nr, rcx = HV_VMCALL_KEY, rdx = c->a1;

	asm volatile("vmcall" : "+a"(rax), "+c"(rcx), "+d"(rdx), "+r"(r8) : : "memory");
	c->rax = rax;
	c->rdx = rdx;
	c->r8 = r8;
}

/* One VMCALL on `cpu` (interrupts off there, as smp_call_function gives). */
static int call_on(int cpu, struct call *c)
{
	return smp_call_function_single(cpu, vmcall_here, c, 1);
}

/* ---- QUERY ------------------------------------------------------------------ */

static void query_here(void *p)
{
	struct hv_abi_cpu_state *s = p;
	struct call c = { .nr = HV_VMCALL_QUERY, .a1 = HV_QUERY_CURRENT_CPU };
	u64 me;
	unsigned int r;

	vmcall_here(&c);
	me = c.rdx;
	c = (struct call){ .nr = HV_VMCALL_QUERY, .a1 = HV_QUERY_CPU_VIRTUALIZED, .a2 = me };
	vmcall_here(&c);
	s->virtualized = c.rax == 0 && c.rdx == 1;
	s->status = 0;
	for (r = 0; r < HV_ABI_EXIT_COUNTERS; r++) {
		c = (struct call){ .nr = HV_VMCALL_QUERY, .a1 = HV_QUERY_EXIT_COUNT, .a2 = r };
		vmcall_here(&c);
		s->exit_count[r] = c.rax == 0 ? c.rdx : 0;
	}
}

static u32 do_query(struct hv_abi_query *q, size_t size)
{
	unsigned int a, b, c, d, n = num_online_cpus(), i, room;

	room = (size - sizeof(*q)) / sizeof(q->cpus[0]);
	q->abi_version = HV_ABI_VERSION;
	q->cpu_count = n;
	q->cpus_written = min3(n, q->cpu_capacity, room);
	q->allocations = 0;
	cpuid(0x40000000, &a, &b, &c, &d);
	memset(q->signature, 0, sizeof(q->signature));
	memcpy(q->signature, &b, 4);
	memcpy(q->signature + 4, &c, 4);
	memcpy(q->signature + 8, &d, 4);
	for (i = 0; i < q->cpus_written; i++) {
		if (smp_call_function_single(i, query_here, &q->cpus[i], 1))
			return STATUS_CPU_CALL_FAILED;
	}
	return STATUS_SUCCESS;
}

/* ---- MSR -------------------------------------------------------------------- */

static u32 msr_one(int cpu, const struct hv_abi_msr_op *op, u64 *value, u32 *route)
{
	struct call c = { .nr = op->action == HV_ABI_MSR_WRITE ? HV_VMCALL_MSR_WRITE : HV_VMCALL_MSR_READ,
			  .a1 = op->msr, .a2 = op->value };

	if (call_on(cpu, &c))
		return STATUS_CPU_CALL_FAILED;
	*value = op->action == HV_ABI_MSR_WRITE ? op->value : c.rdx;
	*route = (u32)c.r8;
	return (u32)c.rax;
}

/* Targets: one core or all (HV_ABI_ALL_CORES); 0 if invalid. */
static unsigned int targets(const struct hv_abi_msr_op *op)
{
	unsigned int n = num_online_cpus();

	if (op->msr > 0xFFFFFFFFull || op->action > HV_ABI_MSR_WRITE)
		return 0;
	if (op->core_number == HV_ABI_ALL_CORES)
		return n;
	return op->core_number < n ? 1 : 0;
}

static u32 do_msr(struct hv_abi_msr *m, size_t size)
{
	unsigned int n = targets(&m->op), k;
	u32 first = STATUS_SUCCESS;

	m->results_written = 0;
	/* Everything checked before any CPU runs anything. */
	if (n == 0 || m->result_capacity < n || (size - sizeof(*m)) / sizeof(m->results[0]) < n)
		return STATUS_INVALID_PARAMETER;
	for (k = 0; k < n; k++) {
		struct hv_abi_msr_result *r = &m->results[k];

		r->core = m->op.core_number == HV_ABI_ALL_CORES ? k : m->op.core_number;
		r->status = msr_one(r->core, &m->op, &r->value, &r->route);
		r->in_root = r->status != STATUS_CPU_CALL_FAILED;
		if (r->status != STATUS_SUCCESS && first == STATUS_SUCCESS)
			first = r->status;
	}
	m->results_written = n;
	return first;
}

static u32 do_msr_values(struct hv_abi_msr_values *m, size_t size)
{
	unsigned int n = targets(&m->op), k;
	u32 first = STATUS_SUCCESS, st, route;

	m->values_written = 0;
	if (n == 0 || m->value_capacity < n || (size - sizeof(*m)) / sizeof(m->values[0]) < n)
		return STATUS_INVALID_PARAMETER;
	for (k = 0; k < n; k++) {
		st = msr_one(m->op.core_number == HV_ABI_ALL_CORES ? k : m->op.core_number, &m->op,
			     &m->values[k], &route);
		if (st != STATUS_SUCCESS && first == STATUS_SUCCESS)
			first = st;
	}
	m->values_written = n;
	return first;
}

/* ---- the device -------------------------------------------------------------------- */

static long hvv_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *up = (void __user *)arg;
	struct hv_abi_header h;
	size_t min;
	void *buf;
	long err = 0;

	switch (cmd) {
	case HVCORE_IOCTL_QUERY: min = sizeof(struct hv_abi_query); break;
	case HVCORE_IOCTL_MSR: min = sizeof(struct hv_abi_msr); break;
	case HVCORE_IOCTL_MSR_VALUES: min = sizeof(struct hv_abi_msr_values); break;
	default: return -ENOTTY;
	}
	if (copy_from_user(&h, up, sizeof(h)))
		return -EFAULT;
	if (h.size < min || h.size > HV_ABI_MAX_REQUEST || h.version != HV_ABI_VERSION)
		return -EINVAL;
	buf = kvzalloc(h.size, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (copy_from_user(buf, up, h.size)) {
		err = -EFAULT;
		goto out;
	}
	((struct hv_abi_header *)buf)->size = h.size; /* as checked, whatever changed since */
	cpus_read_lock();
	switch (cmd) {
	case HVCORE_IOCTL_QUERY:
		((struct hv_abi_header *)buf)->status = do_query(buf, h.size);
		break;
	case HVCORE_IOCTL_MSR:
		((struct hv_abi_header *)buf)->status = do_msr(buf, h.size);
		break;
	default:
		((struct hv_abi_header *)buf)->status = do_msr_values(buf, h.size);
		break;
	}
	cpus_read_unlock();
	if (copy_to_user(up, buf, h.size))
		err = -EFAULT;
out:
	kvfree(buf);
	return err;
}

static const struct file_operations hvv_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = hvv_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice hvv_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "hvcore",
	.fops = &hvv_fops,
	.mode = 0600,
};

static int __init hvv_init(void)
{
	unsigned int a, b, c, d;
	struct call ping = { .nr = HV_VMCALL_PING };
	int err;

	/* VMCALL without a hypervisor is #UD: look for the signature first. */
	cpuid(0x40000000, &a, &b, &c, &d);
	if (b != 0x6862696c || c != 0x726f6376 || d != 0x65) {
		pr_err("hvcore_vmcall: no hvcore at CPUID 0x40000000\n");
		return -ENODEV;
	}
	err = call_on(0, &ping);
	if (err || ping.rax != HV_VMCALL_PING_REPLY) {
		pr_err("hvcore_vmcall: VMCALL ping not answered\n");
		return -ENODEV;
	}
	err = misc_register(&hvv_dev);
	if (err)
		return err;
	pr_info("hvcore_vmcall: /dev/hvcore forwards to hvcore.efi through VMCALL (%u CPU(s))\n", num_online_cpus());
	return 0;
}

static void __exit hvv_exit(void)
{
	misc_deregister(&hvv_dev);
}

module_init(hvv_init);
module_exit(hvv_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("/dev/hvcore over VMCALL, for Linux on top of hvcore.efi");
