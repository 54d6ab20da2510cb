// SPDX-License-Identifier: MIT
/*
 * struct hv_os_ops for Windows (hvcore.sys).
 *
 * CPUs. The core numbers CPUs 0..n-1. Windows numbers them per processor
 * group (at most 64 per group): the core's index is the system-wide index
 * of KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS), and
 * KeGetProcessorNumberFromIndex turns it into {group, number} whenever a
 * thread must go there. Hot-add is refused by driver.c, so the mapping is
 * fixed while the driver is loaded.
 *
 * Running a function on CPUs. One CPU, or every CPU in a given order:
 * the calling thread moves to that CPU (KeSetSystemGroupAffinityThread, or
 * KeSetSystemAffinityThreadEx in group 0 where the group API is missing) and
 * runs the function at DISPATCH_LEVEL, so nothing else runs there until it
 * returns; bring-up and rollback are thereby one CPU at a time, as the
 * core's "stop at the first failure" rule needs. Every CPU at once
 * (HV_CPU_ORDER_ANY): KeIpiGenericCall when MmGetSystemRoutineAddress finds
 * it (every Windows since Server 2003; not Wine), else KeGenericCallDpc,
 * whose DPCs meet at KeSignalCallDpcSynchronize and report with
 * KeSignalCallDpcDone before it returns. Either way the caller learns how
 * many CPUs ran the function, and a short count is CPU_CALL_FAILED.
 *
 * ROOT-SAFE members run inside VM exits where the interrupted kernel may
 * hold any lock (the dispatcher lock, a PRCB's DPC lock): they only read
 * per-CPU data and write our own memory. log() fills a per-CPU lock-free
 * ring that hvw_log_flush() prints with DbgPrintEx later, in normal context;
 * notify() only sets a flag that driver.c's timer DPC acts on (KeInsertQueueDpc
 * and KeSetEvent take those very locks, so neither may be called in root).
 */
#include "hvw_kernel.h"
#include "hvcore_windows.h"

#define HVW_TAG 0x65724876u /* 'vHre' */
#define LOG_LINES 64
#define LOG_LINE 200

struct log_ring {
    char line[LOG_LINES][LOG_LINE];
    uint8_t level[LOG_LINES];
    volatile uint32_t head, tail; /* head: next write; tail: next read */
    uint32_t dropped;
};

struct cpu_slot {
    uint16_t group;
    uint8_t number;
};

static struct {
    uint32_t count;
    struct cpu_slot *cpus;          /* count entries */
    struct log_ring *logs;          /* count entries */
    hvw_ipi_generic_call_fn ipi;    /* NULL: KeGenericCallDpc */
    /* Processor groups; NULL (Wine): group 0 only, KeSetSystemAffinityThreadEx. */
    hvw_number_from_index_fn number_from_index;
    hvw_set_group_affinity_fn set_group_affinity;
    hvw_revert_group_affinity_fn revert_group_affinity;
    volatile long allocations;
    volatile long notify_pending;
    volatile long flushing;
} g;

long hvw_allocations(void)
{
    return __atomic_load_n(&g.allocations, __ATOMIC_SEQ_CST);
}

static void counted(const void *p)
{
    if (p != NULL)
        __atomic_add_fetch(&g.allocations, 1, __ATOMIC_SEQ_CST);
}

static void uncounted(void)
{
    __atomic_sub_fetch(&g.allocations, 1, __ATOMIC_SEQ_CST);
}

/* ---- PRE-LAUNCH ---------------------------------------------------------- */

static void *w_alloc_pages(void *ctx, size_t count)
{
    size_t bytes = count * HV_PAGE_SIZE;
    void *p;

    (void)ctx;
    if (count == 0 || bytes / HV_PAGE_SIZE != count)
        return NULL;
    /* Pool blocks of a page or more start on a page boundary. */
    p = ExAllocatePoolWithTag(NonPagedPoolNx, bytes, HVW_TAG);
    if (p != NULL)
        RtlZeroMemory(p, bytes);
    counted(p);
    return p;
}

static void w_free_pages(void *ctx, void *va, size_t count)
{
    (void)ctx;
    (void)count;
    if (va == NULL)
        return;
    ExFreePoolWithTag(va, HVW_TAG);
    uncounted();
}

static void *w_alloc_contiguous(void *ctx, size_t bytes)
{
    PHYSICAL_ADDRESS low, high, boundary;
    void *p;

    (void)ctx;
    if (bytes == 0)
        return NULL;
    low.QuadPart = 0;
    high.QuadPart = (1LL << 48) - 1;  /* the os.h promise: below 2^48 */
    boundary.QuadPart = 0;
    p = MmAllocateContiguousMemorySpecifyCache(bytes, low, high, boundary, MmCached);
    if (p != NULL)
        RtlZeroMemory(p, bytes);
    counted(p);
    return p;
}

static void w_free_contiguous(void *ctx, void *va, size_t bytes)
{
    (void)ctx;
    if (va == NULL)
        return;
    MmFreeContiguousMemorySpecifyCache(va, bytes, MmCached);
    uncounted();
}

static uint32_t w_cpu_count(void *ctx)
{
    (void)ctx;
    return g.count;
}

uint32_t hvw_cpu_count(void)
{
    return g.count;
}

bool hvw_cpu_group(uint32_t cpu, uint16_t *group, uint8_t *number)
{
    if (cpu >= g.count || g.cpus == NULL)
        return false;
    *group = g.cpus[cpu].group;
    *number = g.cpus[cpu].number;
    return true;
}

bool hvw_os_uses_ipi(void)
{
    return g.ipi != NULL;
}

/* Move the calling thread to `cpu`; false if this kernel cannot. */
static bool move_to(uint32_t cpu, GROUP_AFFINITY *old, KAFFINITY *old_mask)
{
    KAFFINITY mask = (KAFFINITY)1 << g.cpus[cpu].number;

    if (g.set_group_affinity != NULL && g.revert_group_affinity != NULL) {
        GROUP_AFFINITY aff;

        RtlZeroMemory(&aff, sizeof(aff));
        aff.Group = g.cpus[cpu].group;
        aff.Mask = mask;
        g.set_group_affinity(&aff, old);
        return true;
    }
    if (g.cpus[cpu].group != 0)
        return false;
    *old_mask = KeSetSystemAffinityThreadEx(mask);
    return true;
}

static void move_back(GROUP_AFFINITY *old, KAFFINITY old_mask)
{
    if (g.set_group_affinity != NULL && g.revert_group_affinity != NULL)
        g.revert_group_affinity(old);
    else
        KeRevertToUserAffinityThreadEx(old_mask);
}

static hv_status_t w_run_on_cpu(void *ctx, uint32_t cpu, hv_cpu_fn fn, void *arg)
{
    GROUP_AFFINITY old;
    KAFFINITY old_mask = 0;
    hv_status_t st;
    KIRQL irql;

    (void)ctx;
    /* Moving the thread needs IRQL < DISPATCH_LEVEL. */
    if (cpu >= g.count || fn == NULL || KeGetCurrentIrql() >= DISPATCH_LEVEL)
        return HV_STATUS_CPU_CALL_FAILED;
    RtlZeroMemory(&old, sizeof(old));
    if (!move_to(cpu, &old, &old_mask))
        return HV_STATUS_CPU_CALL_FAILED;
    KeRaiseIrql(DISPATCH_LEVEL, &irql);
    if (KeGetCurrentProcessorNumberEx(NULL) != cpu)
        st = HV_STATUS_CPU_CALL_FAILED;   /* the scheduler did not move us */
    else
        st = fn(cpu, arg);
    KeLowerIrql(irql);
    move_back(&old, old_mask);
    return st;
}

struct broadcast {
    hv_cpu_fn fn;
    void *arg;
    volatile long ran;
};

static void broadcast_one(struct broadcast *b)
{
    (void)b->fn(KeGetCurrentProcessorNumberEx(NULL), b->arg);
    __atomic_add_fetch(&b->ran, 1, __ATOMIC_SEQ_CST);
}

static ULONG_PTR NTAPI ipi_trampoline(ULONG_PTR context)
{
    broadcast_one((struct broadcast *)context);
    return 0;
}

static VOID NTAPI dpc_trampoline(PKDPC dpc, PVOID context, PVOID sysarg1, PVOID sysarg2)
{
    (void)dpc;
    broadcast_one(context);
    /* Every CPU has run fn before any returns; then report done. */
    KeSignalCallDpcSynchronize(sysarg2);
    KeSignalCallDpcDone(sysarg1);
}

static hv_status_t w_run_on_each_cpu(void *ctx, hv_cpu_fn fn, void *arg, enum hv_cpu_order order)
{
    struct broadcast b = { .fn = fn, .arg = arg, .ran = 0 };
    uint32_t i;

    if (fn == NULL)
        return HV_STATUS_CPU_CALL_FAILED;
    if (order == HV_CPU_ORDER_ANY) {
        if (g.ipi != NULL)
            (void)g.ipi(ipi_trampoline, (ULONG_PTR)&b);
        else
            KeGenericCallDpc(dpc_trampoline, &b);
        return (uint32_t)__atomic_load_n(&b.ran, __ATOMIC_SEQ_CST) == g.count ? HV_STATUS_SUCCESS
                                                                               : HV_STATUS_CPU_CALL_FAILED;
    }
    for (i = 0; i < g.count; i++) {
        uint32_t cpu = order == HV_CPU_ORDER_DESCENDING ? g.count - 1 - i : i;

        if (w_run_on_cpu(ctx, cpu, fn, arg) == HV_STATUS_CPU_CALL_FAILED)
            return HV_STATUS_CPU_CALL_FAILED;
    }
    return HV_STATUS_SUCCESS;
}

/* ---- ROOT-SAFE ------------------------------------------------------------ */

static uint64_t w_virt_to_phys(void *ctx, const void *va)
{
    (void)ctx;
    /* A page-table walk; no lock (nonpaged and contiguous memory only). */
    return (uint64_t)MmGetPhysicalAddress((PVOID)(uintptr_t)va).QuadPart;
}

static void *w_phys_to_virt(void *ctx, uint64_t pa)
{
    PHYSICAL_ADDRESS p;

    (void)ctx;
    p.QuadPart = (LONGLONG)pa;
    return MmGetVirtualForPhysical(p);
}

static uint32_t w_cpu_index(void *ctx)
{
    (void)ctx;
    /* From the PRCB through GS, which is the KPCR in VMX root too. */
    return KeGetCurrentProcessorNumberEx(NULL);
}

static uint64_t w_current_pid(void *ctx)
{
    (void)ctx;
    return (uint64_t)(uintptr_t)PsGetCurrentProcessId();
}

static void copy_line(char *dst, const char *src)
{
    size_t i;

    for (i = 0; i + 1 < LOG_LINE && src[i] != '\0'; i++)
        dst[i] = src[i];
    dst[i] = '\0';
}

/*
 * One writer per ring: the ring's own CPU, either in normal context at
 * DISPATCH_LEVEL or above (all the core's callers) or in VMX root, never
 * both at once on one CPU. A full ring drops the line and counts it.
 */
static void w_log(void *ctx, enum hv_log_level level, const char *msg)
{
    uint32_t cpu = KeGetCurrentProcessorNumberEx(NULL), h;
    struct log_ring *r;

    (void)ctx;
    if (g.logs == NULL || cpu >= g.count || msg == NULL)
        return;
    r = &g.logs[cpu];
    h = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
    if (h - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) >= LOG_LINES) {
        r->dropped++;
        return;
    }
    copy_line(r->line[h % LOG_LINES], msg);
    r->level[h % LOG_LINES] = (uint8_t)level;
    __atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
}

static ULONG dbg_level(uint8_t level)
{
    switch (level) {
    case HV_LOG_ERROR: return DPFLTR_ERROR_LEVEL;
    case HV_LOG_WARN:  return DPFLTR_WARNING_LEVEL;
    case HV_LOG_INFO:  return DPFLTR_INFO_LEVEL;
    default:           return DPFLTR_TRACE_LEVEL;
    }
}

void hvw_log_flush(void)
{
    uint32_t c;

    if (g.logs == NULL)
        return;
    /* One flusher at a time (readers may race with the timer DPC). */
    if (__atomic_exchange_n(&g.flushing, 1, __ATOMIC_ACQUIRE))
        return;
    for (c = 0; c < g.count; c++) {
        struct log_ring *r = &g.logs[c];
        uint32_t t = r->tail, h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);

        for (; t != h; t++)
            DbgPrintEx(DPFLTR_IHVDRIVER_ID, dbg_level(r->level[t % LOG_LINES]), "hvcore: %s\n",
                       r->line[t % LOG_LINES]);
        __atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
        if (r->dropped) {
            DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_WARNING_LEVEL,
                       "hvcore: log: %lu lines dropped on cpu %lu (ring full)\n", (unsigned long)r->dropped,
                       (unsigned long)c);
            r->dropped = 0;
        }
    }
    __atomic_store_n(&g.flushing, 0, __ATOMIC_RELEASE);
}

static void w_notify(void *ctx, uint32_t cpu)
{
    (void)ctx;
    (void)cpu;
    __atomic_store_n(&g.notify_pending, 1, __ATOMIC_RELEASE);
}

bool hvw_notify_take(void)
{
    return __atomic_exchange_n(&g.notify_pending, 0, __ATOMIC_ACQ_REL) != 0;
}

static void w_panic(void *ctx, const char *msg)
{
    (void)ctx;
    /* 0xE0E1DEAD: hvcore's own bug check; parameter 1 = the message. */
    KeBugCheckEx(0xE0E1DEADu, (ULONG_PTR)msg, 0, 0, 0);
}

static const struct hv_os_ops windows_ops = {
    .size = sizeof(struct hv_os_ops),
    .ctx = NULL,
    .alloc_pages = w_alloc_pages,
    .free_pages = w_free_pages,
    .alloc_contiguous = w_alloc_contiguous,
    .free_contiguous = w_free_contiguous,
    .cpu_count = w_cpu_count,
    .run_on_cpu = w_run_on_cpu,
    .run_on_each_cpu = w_run_on_each_cpu,
    .virt_to_phys = w_virt_to_phys,
    .phys_to_virt = w_phys_to_virt,
    .cpu_index = w_cpu_index,
    .current_pid = w_current_pid,
    .log = w_log,
    .notify = w_notify,
    .panic = w_panic,
    /* No custom-code actions yet (alloc_exec NULL): an RX mapping needs an
     * MDL and MmProtectMdlSystemAddress; the core then refuses them. */
};

const struct hv_os_ops *hvw_os_ops(void)
{
    return &windows_ops;
}

static void *routine(const wchar_t *name)
{
    UNICODE_STRING u;

    RtlInitUnicodeString(&u, name);
    return MmGetSystemRoutineAddress(&u);
}

hv_status_t hvw_os_init(void)
{
    hv_status_t st = HV_STATUS_INSUFFICIENT_RESOURCES;
    uint32_t i;

    RtlZeroMemory(&g, sizeof(g));
    g.ipi = (hvw_ipi_generic_call_fn)routine(L"KeIpiGenericCall");
    g.number_from_index = (hvw_number_from_index_fn)routine(L"KeGetProcessorNumberFromIndex");
    g.set_group_affinity = (hvw_set_group_affinity_fn)routine(L"KeSetSystemGroupAffinityThread");
    g.revert_group_affinity = (hvw_revert_group_affinity_fn)routine(L"KeRevertToUserGroupAffinityThread");
    g.count = KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS);
    if (g.count == 0)
        return HV_STATUS_INTERNAL_ERROR;
    g.cpus = ExAllocatePoolWithTag(NonPagedPoolNx, (size_t)g.count * sizeof(*g.cpus), HVW_TAG);
    if (g.cpus == NULL)
        goto cpus_failed;
    for (i = 0; i < g.count; i++) {
        PROCESSOR_NUMBER pn;

        if (g.number_from_index == NULL) {
            /* No group API: one group of at most 64, numbered as indices. */
            if (i >= 64) {
                st = HV_STATUS_UNSUPPORTED;
                goto numbering_failed;
            }
            pn.Group = 0;
            pn.Number = (UCHAR)i;
        } else if (!NT_SUCCESS(g.number_from_index(i, &pn))) {
            st = HV_STATUS_INTERNAL_ERROR;
            goto numbering_failed;
        }
        g.cpus[i].group = pn.Group;
        g.cpus[i].number = pn.Number;
    }
    g.logs = ExAllocatePoolWithTag(NonPagedPoolNx, (size_t)g.count * sizeof(*g.logs), HVW_TAG);
    if (g.logs == NULL)
        goto logs_failed;
    RtlZeroMemory(g.logs, (size_t)g.count * sizeof(*g.logs));
    return HV_STATUS_SUCCESS;

logs_failed:
numbering_failed:
    ExFreePoolWithTag(g.cpus, HVW_TAG);
    g.cpus = NULL;
cpus_failed:
    g.count = 0;
    return st;
}

void hvw_os_exit(void)
{
    hvw_log_flush();
    if (g.logs != NULL)
        ExFreePoolWithTag(g.logs, HVW_TAG);
    if (g.cpus != NULL)
        ExFreePoolWithTag(g.cpus, HVW_TAG);
    g.logs = NULL;
    g.cpus = NULL;
    g.count = 0;
}
