// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * struct hv_os_ops for Linux.
 *
 * PRE-LAUNCH members use the ordinary kernel APIs. ROOT-SAFE members run
 * inside VM exits, where the interrupted kernel may hold any lock: they
 * read per-CPU data without locks, and log/notify only queue work that an
 * irq_work (a self-IPI taken once the guest runs again) finishes in normal
 * kernel context. Nothing here calls printk from VMX root.
 */
#include <linux/atomic.h>
#include <linux/irq_work.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include <asm/apic.h>
#include <asm/irq_vectors.h>

#include "hvcore_linux.h"

static atomic_long_t allocations = ATOMIC_LONG_INIT(0);

long hvl_allocations(void)
{
	return atomic_long_read(&allocations);
}

/* ---- PRE-LAUNCH -------------------------------------------------------- */

static void *lx_alloc_pages(void *ctx, size_t count)
{
	void *p = vzalloc(count * PAGE_SIZE);

	if (p)
		atomic_long_inc(&allocations);
	return p;
}

static void lx_free_pages(void *ctx, void *va, size_t count)
{
	if (!va)
		return;
	vfree(va);
	atomic_long_dec(&allocations);
}

static void *lx_alloc_contiguous(void *ctx, size_t bytes)
{
	void *p = alloc_pages_exact(bytes, GFP_KERNEL | __GFP_ZERO);

	if (p)
		atomic_long_inc(&allocations);
	return p;
}

static void lx_free_contiguous(void *ctx, void *va, size_t bytes)
{
	if (!va)
		return;
	free_pages_exact(va, bytes);
	atomic_long_dec(&allocations);
}

static uint32_t lx_cpu_count(void *ctx)
{
	return num_online_cpus();
}

struct cpu_call {
	hv_cpu_fn fn;
	void *arg;
	hv_status_t status;
};

static void cpu_call_trampoline(void *p)
{
	struct cpu_call *c = p;

	c->status = c->fn(smp_processor_id(), c->arg);
}

static hv_status_t lx_run_on_cpu(void *ctx, uint32_t cpu, hv_cpu_fn fn, void *arg)
{
	struct cpu_call c = { .fn = fn, .arg = arg, .status = HV_STATUS_CPU_CALL_FAILED };

	/* Runs fn with interrupts off on `cpu` (locally if it is this one). */
	if (cpu >= nr_cpu_ids || !cpu_online(cpu) ||
	    smp_call_function_single(cpu, cpu_call_trampoline, &c, 1))
		return HV_STATUS_CPU_CALL_FAILED;
	return c.status;
}

static hv_status_t lx_run_on_each_cpu(void *ctx, hv_cpu_fn fn, void *arg, enum hv_cpu_order order)
{
	int n = num_online_cpus(), i;

	/* One CPU at a time in the requested order, so that bring-up and
	 * rollback are sequential and the core's "stop at the first failure"
	 * rule holds. CPU hotplug is refused while the module is loaded. */
	for (i = 0; i < n; i++) {
		int cpu = order == HV_CPU_ORDER_DESCENDING ? n - 1 - i : i;
		hv_status_t st = lx_run_on_cpu(ctx, cpu, fn, arg);

		if (st == HV_STATUS_CPU_CALL_FAILED)
			return st;
	}
	return HV_STATUS_SUCCESS;
}

/* ---- ROOT-SAFE ----------------------------------------------------------- */

static uint64_t lx_virt_to_phys(void *ctx, const void *va)
{
	if (is_vmalloc_addr(va))
		return ((uint64_t)vmalloc_to_pfn(va) << PAGE_SHIFT) + offset_in_page(va);
	return __pa(va);
}

static void *lx_phys_to_virt(void *ctx, uint64_t pa)
{
	return __va(pa);
}

static uint32_t lx_cpu_index(void *ctx)
{
	/* %gs is the kernel's per-CPU base in VMX root too (HOST_GS_BASE). */
	return raw_smp_processor_id();
}

static uint64_t lx_current_pid(void *ctx)
{
	/* The task the guest was running: a plain read of per-CPU data. */
	return (uint64_t)current->tgid;
}

/*
 * The log: a lock-free ring of fixed lines per CPU. A writer is either the
 * CPU itself in normal context (preemption off through the callers) or in
 * VMX root (interrupts off), never both at once on one CPU, so a per-CPU
 * ring with a head/tail pair needs no lock. Full ring: the line is dropped
 * and counted.
 */
#define LOG_LINES 64
#define LOG_LINE 200

struct log_ring {
	char line[LOG_LINES][LOG_LINE];
	u8 level[LOG_LINES];
	unsigned int head, tail; /* head: next write; tail: next read */
	unsigned int dropped;
};

/* One ring per possible CPU, allocated at init (too big for the module
 * per-CPU reserve). */
static struct log_ring *log_rings;
static DEFINE_SPINLOCK(flush_lock);
static struct irq_work log_work;
static struct irq_work reader_work;
static DECLARE_WAIT_QUEUE_HEAD(readers);

struct wait_queue_head *hvl_reader_wq(void)
{
	return &readers;
}

static void lx_log(void *ctx, enum hv_log_level level, const char *msg)
{
	struct log_ring *r;
	unsigned long flags;
	unsigned int h;

	if (!log_rings)
		return;
	local_irq_save(flags);
	r = &log_rings[raw_smp_processor_id()];
	h = READ_ONCE(r->head);
	if (h - READ_ONCE(r->tail) >= LOG_LINES) {
		r->dropped++;
	} else {
		strscpy(r->line[h % LOG_LINES], msg, LOG_LINE);
		r->level[h % LOG_LINES] = (u8)level;
		smp_store_release(&r->head, h + 1);
	}
	local_irq_restore(flags);
	/* A self-IPI: handled once interrupts are on again (in the guest). */
	irq_work_queue(&log_work);
}

void hvl_log_flush(void)
{
	unsigned long flags;
	int cpu;

	if (!log_rings)
		return;
	spin_lock_irqsave(&flush_lock, flags);
	for_each_possible_cpu(cpu) {
		struct log_ring *r = &log_rings[cpu];
		unsigned int t = r->tail, h = smp_load_acquire(&r->head);

		for (; t != h; t++) {
			const char *line = r->line[t % LOG_LINES];

			switch (r->level[t % LOG_LINES]) {
			case HV_LOG_ERROR: pr_err("%s\n", line); break;
			case HV_LOG_WARN:  pr_warn("%s\n", line); break;
			case HV_LOG_INFO:  pr_info("%s\n", line); break;
			default:           pr_debug("%s\n", line); break;
			}
		}
		smp_store_release(&r->tail, t);
		if (r->dropped) {
			pr_warn("log: %u lines dropped on cpu %d (ring full)\n", r->dropped, cpu);
			r->dropped = 0;
		}
	}
	spin_unlock_irqrestore(&flush_lock, flags);
}

static void log_work_fn(struct irq_work *w)
{
	hvl_log_flush();
}

static void reader_work_fn(struct irq_work *w)
{
	wake_up_interruptible(&readers);
}

static void lx_notify(void *ctx, uint32_t cpu)
{
	/* Called in VMX root: only queue a self-IPI; the wake-up runs when
	 * the guest takes it. */
	irq_work_queue(&reader_work);
}

/*
 * vmap() maps no-execute whatever pgprot it is given (since 5.8, "mm:
 * enforce that vmap can't map pages executable"), and nothing a module may
 * call makes vmalloc space executable (set_memory_x, __vmalloc_node_range
 * and module_alloc are not exported). So the read-only alias is made
 * executable PTE by PTE. No CPU has fetched from it yet; VMX root, the only
 * one that runs it, flushes its TLB before it first reads the event that
 * holds it (hv.h, root_tlb_gen).
 */
static int make_alias_executable(void *va, unsigned int n)
{
	unsigned int i, level;

	for (i = 0; i < n; i++) {
		pte_t *pte = lookup_address((unsigned long)va + (unsigned long)i * PAGE_SIZE, &level);

		if (!pte || level != PG_LEVEL_4K || !pte_present(*pte) || pte_write(*pte))
			return -EFAULT;
		set_pte(pte, pte_mkexec(*pte));
	}
	return 0;
}

/* Executable memory for custom code: pages written through the linear map
 * (RW, NX), then a read-only executable alias (W^X). */
static void *lx_alloc_exec(void *ctx, const void *bytes, size_t len)
{
	unsigned int n = DIV_ROUND_UP(len, PAGE_SIZE), i;
	struct page **pages;
	void *va = NULL;

	if (!len)
		return NULL;
	pages = kcalloc(n, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return NULL;
	for (i = 0; i < n; i++) {
		size_t chunk = min_t(size_t, PAGE_SIZE, len - (size_t)i * PAGE_SIZE);

		pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!pages[i])
			goto fail;
		memcpy(page_address(pages[i]), (const u8 *)bytes + (size_t)i * PAGE_SIZE, chunk);
	}
	va = vmap(pages, n, VM_MAP, PAGE_KERNEL_ROX);
	if (!va)
		goto fail;
	if (make_alias_executable(va, n)) {
		pr_err("cannot make the custom-code alias at %px executable\n", va);
		vunmap(va);
		goto fail;
	}
	kfree(pages);
	atomic_long_inc(&allocations);
	return va;
fail:
	while (i-- > 0)
		__free_page(pages[i]);
	kfree(pages);
	return NULL;
}

static void lx_free_exec(void *ctx, void *code, size_t len)
{
	unsigned int n = DIV_ROUND_UP(len, PAGE_SIZE), i;
	struct page *pages[16];

	if (!code)
		return;
	/* HV_EVENT_MAX_CODE + ENDBR64 spans at most 2 pages. */
	for (i = 0; i < n && i < ARRAY_SIZE(pages); i++)
		pages[i] = vmalloc_to_page((u8 *)code + (size_t)i * PAGE_SIZE);
	vunmap(code);
	for (i = 0; i < n && i < ARRAY_SIZE(pages); i++)
		__free_page(pages[i]);
	atomic_long_dec(&allocations);
}

static void lx_panic(void *ctx, const char *msg)
{
	panic("hvcore: %s\n", msg);
}

/* An NMI the hypervisor still owed this CPU when it left VMX: a self-IPI
 * with NMI delivery mode (the APIC driver turns NMI_VECTOR into it). */
static void lx_nmi_self(void *ctx)
{
	apic->send_IPI_self(NMI_VECTOR);
}

static const struct hv_os_ops linux_ops = {
	.size = sizeof(struct hv_os_ops),
	.ctx = NULL,
	.alloc_pages = lx_alloc_pages,
	.free_pages = lx_free_pages,
	.alloc_contiguous = lx_alloc_contiguous,
	.free_contiguous = lx_free_contiguous,
	.cpu_count = lx_cpu_count,
	.run_on_cpu = lx_run_on_cpu,
	.run_on_each_cpu = lx_run_on_each_cpu,
	.virt_to_phys = lx_virt_to_phys,
	.phys_to_virt = lx_phys_to_virt,
	.cpu_index = lx_cpu_index,
	.current_pid = lx_current_pid,
	.log = lx_log,
	.notify = lx_notify,
	.panic = lx_panic,
	.alloc_exec = lx_alloc_exec,
	.free_exec = lx_free_exec,
	.nmi_self = lx_nmi_self,
};

const struct hv_os_ops *hvl_os_ops(void)
{
	return &linux_ops;
}

int hvl_os_init(void)
{
	log_rings = vzalloc(array_size(nr_cpu_ids, sizeof(*log_rings)));
	if (!log_rings)
		return -ENOMEM;
	init_irq_work(&log_work, log_work_fn);
	init_irq_work(&reader_work, reader_work_fn);
	return 0;
}

void hvl_os_exit(void)
{
	irq_work_sync(&log_work);
	irq_work_sync(&reader_work);
	hvl_log_flush();
	vfree(log_rings);
	log_rings = NULL;
}
