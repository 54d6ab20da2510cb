/*
 * The Windows OS layer (platform/windows: os_windows.c, vmx_check.c) on
 * Linux, against a fake of the kernel functions it calls (windows/
 * hvw_fake_kernel.h, implemented here): processors are threads bound to
 * the mock's fake CPUs, processor groups have a configurable size,
 * KeIpiGenericCall and the group API can be missing (as in Wine), and any
 * allocation can fail on its Nth call.
 *
 * Given such a machine, when the layer numbers CPUs, runs functions on one
 * or all of them, allocates for hv_create, logs and checks for VMX, then:
 * group numbering holds beyond 64 processors, a broadcast reaches every
 * processor exactly once (and a short one is reported), the Nth allocation
 * failing leaks nothing, the log never prints from the caller's context, and
 * the VMX check decides without VMXON or a FEATURE_CONTROL write.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hvw_kernel.h" /* the fake, with HVW_FAKE_KERNEL */
#include "hvcore_windows.h"

#include <hvcore/hv.h>
#include <hvcore/testing/mock.h>

/* ---- the fake kernel ---------------------------------------------------------- */

static struct {
    uint32_t cpus;               /* active processors */
    uint32_t group_size;         /* processors per group (Windows: up to 64) */
    bool have_ipi, have_groups;
    uint32_t dpc_skip_cpu;       /* a CPU the DPC broadcast never reaches (UINT32_MAX: none) */
    uint32_t alloc_calls, fail_alloc_at; /* pool + contiguous; 0 = never fail */
    long outstanding;
    uint32_t dbgprints, ipi_calls, dpc_calls, legacy_affinity_calls;
    GROUP_AFFINITY last_affinity;
    char printed[65536];
    size_t printed_len;
    uint32_t order[512], order_len;
} k;
static pthread_mutex_t k_mu = PTHREAD_MUTEX_INITIALIZER;
static __thread uint32_t tl_cpu;
static __thread KIRQL tl_irql;

static void bind_cpu(uint32_t cpu)
{
    tl_cpu = cpu;
    if (cpu < hv_mock_cpu_count())
        (void)hv_mock_cpu_bind(cpu);
}

static bool fail_now(void)
{
    bool fail;

    pthread_mutex_lock(&k_mu);
    k.alloc_calls++;
    fail = k.fail_alloc_at != 0 && k.alloc_calls == k.fail_alloc_at;
    pthread_mutex_unlock(&k_mu);
    return fail;
}

PVOID ExAllocatePoolWithTag(POOL_TYPE type, size_t bytes, ULONG tag)
{
    void *p;

    if (fail_now())
        return NULL;
    p = aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
    if (p != NULL)
        __atomic_add_fetch(&k.outstanding, 1, __ATOMIC_SEQ_CST);
    return p;
}

VOID ExFreePoolWithTag(PVOID p, ULONG tag)
{
    assert_non_null(p);
    free(p);
    __atomic_sub_fetch(&k.outstanding, 1, __ATOMIC_SEQ_CST);
}

PVOID MmAllocateContiguousMemorySpecifyCache(size_t bytes, PHYSICAL_ADDRESS low, PHYSICAL_ADDRESS high,
                                             PHYSICAL_ADDRESS boundary, MEMORY_CACHING_TYPE cache)
{
    assert_int_equal(low.QuadPart, 0);
    assert_int_equal(high.QuadPart, (1LL << 48) - 1);
    return ExAllocatePoolWithTag(NonPagedPoolNx, bytes, 0);
}

VOID MmFreeContiguousMemorySpecifyCache(PVOID p, size_t bytes, MEMORY_CACHING_TYPE cache)
{
    ExFreePoolWithTag(p, 0);
}

/* The mock's fake OS maps pa == va; so does this one. */
PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID va) { PHYSICAL_ADDRESS p = { (LONGLONG)(uintptr_t)va }; return p; }
PVOID MmGetVirtualForPhysical(PHYSICAL_ADDRESS pa) { return (PVOID)(uintptr_t)pa.QuadPart; }

VOID RtlInitUnicodeString(PUNICODE_STRING u, const wchar_t *s)
{
    u->Buffer = s;
    u->Length = (USHORT)(wcslen(s) * sizeof(wchar_t));
    u->MaximumLength = u->Length;
}

ULONG KeQueryActiveProcessorCountEx(USHORT group)
{
    assert_int_equal(group, ALL_PROCESSOR_GROUPS);
    return k.cpus;
}

static NTSTATUS NTAPI fake_number_from_index(ULONG i, PPROCESSOR_NUMBER pn)
{
    if (i >= k.cpus)
        return STATUS_INVALID_PARAMETER;
    pn->Group = (USHORT)(i / k.group_size);
    pn->Number = (UCHAR)(i % k.group_size);
    pn->Reserved = 0;
    return STATUS_SUCCESS;
}

ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER pn)
{
    if (pn != NULL)
        (void)fake_number_from_index(tl_cpu, pn);
    return tl_cpu;
}

static VOID NTAPI fake_set_group_affinity(PGROUP_AFFINITY aff, PGROUP_AFFINITY prev)
{
    uint32_t number = (uint32_t)__builtin_ctzll(aff->Mask);

    assert_int_equal(__builtin_popcountll(aff->Mask), 1);
    assert_true(number < k.group_size);
    prev->Group = (USHORT)(tl_cpu / k.group_size);
    prev->Mask = (KAFFINITY)1 << (tl_cpu % k.group_size);
    k.last_affinity = *aff;
    bind_cpu(aff->Group * k.group_size + number);
}

static VOID NTAPI fake_revert_group_affinity(PGROUP_AFFINITY prev)
{
    bind_cpu(prev->Group * k.group_size + (uint32_t)__builtin_ctzll(prev->Mask));
}

KAFFINITY KeSetSystemAffinityThreadEx(KAFFINITY mask)
{
    KAFFINITY old = (KAFFINITY)1 << tl_cpu;

    assert_int_equal(__builtin_popcountll(mask), 1);
    k.legacy_affinity_calls++;
    bind_cpu((uint32_t)__builtin_ctzll(mask));
    return old;
}

VOID KeRevertToUserAffinityThreadEx(KAFFINITY mask)
{
    bind_cpu((uint32_t)__builtin_ctzll(mask));
}

/* DISPATCH_LEVEL owns the CPU: the mock's per-CPU activity lock. */
KIRQL KeGetCurrentIrql(void) { return tl_irql; }

KIRQL hvw_fake_raise_irql(KIRQL to)
{
    KIRQL old = tl_irql;

    assert_true(to >= old);
    if (old < DISPATCH_LEVEL && to >= DISPATCH_LEVEL && tl_cpu < hv_mock_cpu_count())
        hv_mock_cpu_lock(tl_cpu);
    tl_irql = to;
    return old;
}

VOID KeLowerIrql(KIRQL to)
{
    assert_true(to <= tl_irql);
    if (tl_irql >= DISPATCH_LEVEL && to < DISPATCH_LEVEL && tl_cpu < hv_mock_cpu_count())
        hv_mock_cpu_unlock(tl_cpu);
    tl_irql = to;
}

/* KeGenericCallDpc: one thread per processor at DISPATCH_LEVEL; they meet
 * at KeSignalCallDpcSynchronize and count out with KeSignalCallDpcDone. */
struct dpc_run {
    hvw_deferred_routine routine;
    void *context;
    pthread_barrier_t barrier;
    volatile long done;
    uint32_t cpu;
};
struct dpc_thread {
    struct dpc_run *run;
    uint32_t cpu;
};

static void *dpc_thread(void *p)
{
    struct dpc_thread *t = p;
    KDPC dpc;
    KIRQL old;

    bind_cpu(t->cpu);
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    t->run->routine(&dpc, t->run->context, (PVOID)&t->run->done, (PVOID)&t->run->barrier);
    KeLowerIrql(old);
    return NULL;
}

VOID KeGenericCallDpc(hvw_deferred_routine routine, PVOID context)
{
    struct dpc_run run = { .routine = routine, .context = context, .done = 0 };
    uint32_t n = 0, i;
    pthread_t *th = calloc(k.cpus, sizeof(*th));
    struct dpc_thread *ts = calloc(k.cpus, sizeof(*ts));

    k.dpc_calls++;
    for (i = 0; i < k.cpus; i++)
        n += i != k.dpc_skip_cpu;
    pthread_barrier_init(&run.barrier, NULL, n);
    for (i = 0; i < k.cpus; i++) {
        if (i == k.dpc_skip_cpu)
            continue;
        ts[i].run = &run;
        ts[i].cpu = i;
        assert_int_equal(pthread_create(&th[i], NULL, dpc_thread, &ts[i]), 0);
    }
    for (i = 0; i < k.cpus; i++)
        if (i != k.dpc_skip_cpu)
            pthread_join(th[i], NULL);
    /* Every DPC that ran must have reported done. */
    assert_int_equal(run.done, n);
    pthread_barrier_destroy(&run.barrier);
    free(th);
    free(ts);
}

VOID KeSignalCallDpcDone(PVOID arg1) { __atomic_add_fetch((volatile long *)arg1, 1, __ATOMIC_SEQ_CST); }

LOGICAL KeSignalCallDpcSynchronize(PVOID arg2)
{
    return pthread_barrier_wait((pthread_barrier_t *)arg2) == PTHREAD_BARRIER_SERIAL_THREAD;
}

/* KeIpiGenericCall: every processor at once (threads). */
struct ipi_thread {
    hvw_ipi_fn fn;
    ULONG_PTR ctx;
    uint32_t cpu;
};

static void *ipi_thread(void *p)
{
    struct ipi_thread *t = p;
    KIRQL old;

    bind_cpu(t->cpu);
    KeRaiseIrql(14, &old); /* IPI_LEVEL */
    t->fn(t->ctx);
    KeLowerIrql(old);
    return NULL;
}

static ULONG_PTR NTAPI fake_ipi_generic_call(hvw_ipi_fn fn, ULONG_PTR ctx)
{
    pthread_t *th = calloc(k.cpus, sizeof(*th));
    struct ipi_thread *ts = calloc(k.cpus, sizeof(*ts));
    uint32_t i;

    k.ipi_calls++;
    for (i = 0; i < k.cpus; i++) {
        ts[i] = (struct ipi_thread){ fn, ctx, i };
        assert_int_equal(pthread_create(&th[i], NULL, ipi_thread, &ts[i]), 0);
    }
    for (i = 0; i < k.cpus; i++)
        pthread_join(th[i], NULL);
    free(th);
    free(ts);
    return 0;
}

PVOID MmGetSystemRoutineAddress(PUNICODE_STRING name)
{
    if (!wcscmp(name->Buffer, L"KeIpiGenericCall"))
        return k.have_ipi ? (PVOID)fake_ipi_generic_call : NULL;
    if (!wcscmp(name->Buffer, L"KeGetProcessorNumberFromIndex"))
        return k.have_groups ? (PVOID)fake_number_from_index : NULL;
    if (!wcscmp(name->Buffer, L"KeSetSystemGroupAffinityThread"))
        return k.have_groups ? (PVOID)fake_set_group_affinity : NULL;
    if (!wcscmp(name->Buffer, L"KeRevertToUserGroupAffinityThread"))
        return k.have_groups ? (PVOID)fake_revert_group_affinity : NULL;
    return NULL;
}

HANDLE PsGetCurrentProcessId(void) { return (HANDLE)(uintptr_t)(4 + tl_cpu); }

ULONG DbgPrintEx(ULONG component, ULONG level, const char *fmt, ...)
{
    va_list ap;
    int n;

    pthread_mutex_lock(&k_mu);
    k.dbgprints++;
    va_start(ap, fmt);
    n = vsnprintf(k.printed + k.printed_len, sizeof(k.printed) - k.printed_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        k.printed_len += (size_t)n < sizeof(k.printed) - k.printed_len ? (size_t)n : sizeof(k.printed) - k.printed_len - 1;
    pthread_mutex_unlock(&k_mu);
    return 0;
}

VOID KeBugCheckEx(ULONG code, ULONG_PTR p1, ULONG_PTR p2, ULONG_PTR p3, ULONG_PTR p4)
{
    fail_msg("KeBugCheckEx(0x%x, %s)", code, (const char *)p1);
}

/* ---- fixtures --------------------------------------------------------------------- */

static void machine(uint32_t cpus, uint32_t group_size, bool ipi, bool groups)
{
    memset(&k, 0, sizeof(k));
    k.cpus = cpus;
    k.group_size = group_size;
    k.have_ipi = ipi;
    k.have_groups = groups;
    k.dpc_skip_cpu = UINT32_MAX;
    tl_cpu = 0;
    tl_irql = PASSIVE_LEVEL;
}

static int teardown(void **state)
{
    hvw_os_exit();
    hv_mock_fini();
    assert_int_equal(k.outstanding, 0);
    return 0;
}

static hv_status_t record_cpu(uint32_t cpu, void *arg)
{
    pthread_mutex_lock(&k_mu);
    assert_int_equal(cpu, KeGetCurrentProcessorNumberEx(NULL));
    assert_true(KeGetCurrentIrql() >= DISPATCH_LEVEL);
    if (k.order_len < 512)
        k.order[k.order_len++] = cpu;
    pthread_mutex_unlock(&k_mu);
    return arg == NULL ? HV_STATUS_SUCCESS : *(hv_status_t *)arg;
}

/* ---- tests --------------------------------------------------------------------- */

static void groups_number_cpus_beyond_64(void **state)
{
    const struct hv_os_ops *os;
    uint16_t group;
    uint8_t number;

    /* Given 130 processors in groups of 64 (groups 0, 1, 2). */
    machine(130, 64, true, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    os = hvw_os_ops();
    assert_int_equal(os->cpu_count(os->ctx), 130);
    assert_true(hvw_cpu_group(70, &group, &number));
    assert_int_equal(group, 1);
    assert_int_equal(number, 6);
    assert_true(hvw_cpu_group(129, &group, &number));
    assert_int_equal(group, 2);
    assert_int_equal(number, 1);
    assert_false(hvw_cpu_group(130, &group, &number));
    /* When a function runs on CPU 70, then the thread moved to group 1,
     * processor 6, ran it at DISPATCH_LEVEL and came back at PASSIVE. */
    assert_int_equal(os->run_on_cpu(os->ctx, 70, record_cpu, NULL), HV_STATUS_SUCCESS);
    assert_int_equal(k.last_affinity.Group, 1);
    assert_int_equal(k.last_affinity.Mask, (KAFFINITY)1 << 6);
    assert_int_equal(k.order[0], 70);
    assert_int_equal(KeGetCurrentIrql(), PASSIVE_LEVEL);
    assert_int_equal(tl_cpu, 0);
    /* A CPU that does not exist is a failed call, not a crash. */
    assert_int_equal(os->run_on_cpu(os->ctx, 130, record_cpu, NULL), HV_STATUS_CPU_CALL_FAILED);
    hvw_os_exit();

    /* Groups need not be full: 130 processors in groups of 40. */
    machine(130, 40, true, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    assert_true(hvw_cpu_group(70, &group, &number));
    assert_int_equal(group, 1);
    assert_int_equal(number, 30);
    assert_int_equal(os->run_on_cpu(os->ctx, 125, record_cpu, NULL), HV_STATUS_SUCCESS);
    assert_int_equal(k.last_affinity.Group, 3);
    assert_int_equal(k.last_affinity.Mask, (KAFFINITY)1 << 5);
}

static void without_the_group_api_group_0_only(void **state)
{
    const struct hv_os_ops *os = hvw_os_ops();

    /* Wine: no KeGetProcessorNumberFromIndex / KeSetSystemGroupAffinityThread. */
    machine(130, 64, false, false);
    assert_int_equal(hvw_os_init(), HV_STATUS_UNSUPPORTED);
    assert_int_equal(k.outstanding, 0);
    machine(4, 64, false, false);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    assert_int_equal(os->run_on_cpu(os->ctx, 3, record_cpu, NULL), HV_STATUS_SUCCESS);
    assert_int_equal(k.legacy_affinity_calls, 1);
    assert_int_equal(k.order[0], 3);
    assert_int_equal(tl_cpu, 0);
}

static void run_on_cpu_refused_at_dispatch_level(void **state)
{
    const struct hv_os_ops *os = hvw_os_ops();
    KIRQL old;

    machine(4, 64, true, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    assert_int_equal(os->run_on_cpu(os->ctx, 1, record_cpu, NULL), HV_STATUS_CPU_CALL_FAILED);
    KeLowerIrql(old);
    assert_int_equal(k.order_len, 0);
}

static void ordered_runs_visit_every_cpu_in_order(void **state)
{
    const struct hv_os_ops *os = hvw_os_ops();
    hv_status_t fail = HV_STATUS_VMX_NOT_SUPPORTED;
    uint32_t i;

    machine(70, 64, true, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_cpu, NULL, HV_CPU_ORDER_ASCENDING), HV_STATUS_SUCCESS);
    assert_int_equal(k.order_len, 70);
    for (i = 0; i < 70; i++)
        assert_int_equal(k.order[i], i);
    k.order_len = 0;
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_cpu, NULL, HV_CPU_ORDER_DESCENDING), HV_STATUS_SUCCESS);
    for (i = 0; i < 70; i++)
        assert_int_equal(k.order[i], 69 - i);
    /* fn's own failure travels through arg, not the return value. */
    k.order_len = 0;
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_cpu, &fail, HV_CPU_ORDER_ASCENDING), HV_STATUS_SUCCESS);
    assert_int_equal(k.order_len, 70);
}

static void check_each_once(uint32_t n)
{
    uint32_t seen[200] = { 0 }, i;

    assert_int_equal(k.order_len, n);
    for (i = 0; i < k.order_len; i++)
        seen[k.order[i]]++;
    for (i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
}

static void broadcast_reaches_every_cpu_once(void **state)
{
    const struct hv_os_ops *os = hvw_os_ops();

    /* With KeIpiGenericCall (real Windows). */
    machine(130, 64, true, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    assert_true(hvw_os_uses_ipi());
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_cpu, NULL, HV_CPU_ORDER_ANY), HV_STATUS_SUCCESS);
    assert_int_equal(k.ipi_calls, 1);
    assert_int_equal(k.dpc_calls, 0);
    check_each_once(130);
    hvw_os_exit();

    /* Without it (Wine): KeGenericCallDpc with its signal routines. */
    machine(130, 64, false, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    assert_false(hvw_os_uses_ipi());
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_cpu, NULL, HV_CPU_ORDER_ANY), HV_STATUS_SUCCESS);
    assert_int_equal(k.dpc_calls, 1);
    check_each_once(130);

    /* A processor the broadcast never reached: reported, not ignored. */
    k.order_len = 0;
    k.dpc_skip_cpu = 77;
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_cpu, NULL, HV_CPU_ORDER_ANY), HV_STATUS_CPU_CALL_FAILED);
    assert_int_equal(k.order_len, 129);
}

static void nth_allocation_failing_leaks_nothing(void **state)
{
    struct hv_config cfg;
    struct hv *hv;
    uint32_t n, total;
    hv_status_t st;

    /* hvw_os_init's own allocations. */
    for (n = 1; n <= 2; n++) {
        machine(4, 64, true, true);
        k.fail_alloc_at = n;
        assert_int_equal(hvw_os_init(), HV_STATUS_INSUFFICIENT_RESOURCES);
        assert_int_equal(k.outstanding, 0);
        assert_int_equal(hvw_allocations(), 0);
    }
    /* hv_create through the layer: count its allocations, then fail each. */
    assert_int_equal(hv_mock_init(4, HV_MOCK_PROFILE_HASWELL), HV_STATUS_SUCCESS);
    machine(4, 64, true, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    hv_config_init(&cfg);
    k.alloc_calls = 0;
    assert_int_equal(hv_create(&hv, hvw_os_ops(), &cfg), HV_STATUS_SUCCESS);
    total = k.alloc_calls;
    assert_true(total > 4);
    assert_int_equal(hvw_allocations(), (long)total);
    hv_destroy(hv);
    assert_int_equal(hvw_allocations(), 0);
    for (n = 1; n <= total; n++) {
        k.alloc_calls = 0;
        k.fail_alloc_at = n;
        hv = NULL;
        st = hv_create(&hv, hvw_os_ops(), &cfg);
        assert_int_equal(st, HV_STATUS_INSUFFICIENT_RESOURCES);
        assert_null(hv);
        assert_int_equal(hvw_allocations(), 0);
    }
    k.fail_alloc_at = 0;
}

static hv_status_t log_lines(uint32_t cpu, void *arg)
{
    const struct hv_os_ops *os = hvw_os_ops();
    char line[64];
    int i;

    for (i = 0; i < *(int *)arg; i++) {
        snprintf(line, sizeof(line), "line %d from cpu %u", i, cpu);
        os->log(os->ctx, HV_LOG_INFO, line);
    }
    return HV_STATUS_SUCCESS;
}

static void log_is_deferred_and_counts_drops(void **state)
{
    const struct hv_os_ops *os = hvw_os_ops();
    int lines = 70;

    machine(2, 64, true, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    /* When 70 lines are logged on CPU 1 (as from VMX root)... */
    assert_int_equal(os->run_on_cpu(os->ctx, 1, log_lines, &lines), HV_STATUS_SUCCESS);
    /* ...then nothing was printed there; */
    assert_int_equal(k.dbgprints, 0);
    /* the flush prints the 64 the ring held, in order, and the 6 dropped. */
    hvw_log_flush();
    assert_non_null(strstr(k.printed, "hvcore: line 0 from cpu 1\n"));
    assert_non_null(strstr(k.printed, "hvcore: line 63 from cpu 1\n"));
    assert_null(strstr(k.printed, "line 64 from"));
    assert_true(strstr(k.printed, "line 0 from") < strstr(k.printed, "line 63 from"));
    assert_non_null(strstr(k.printed, "log: 6 lines dropped on cpu 1 (ring full)"));
    assert_int_equal(k.dbgprints, 65);
    /* A second flush has nothing left. */
    hvw_log_flush();
    assert_int_equal(k.dbgprints, 65);
}

static void notify_only_sets_a_flag(void **state)
{
    const struct hv_os_ops *os = hvw_os_ops();

    machine(2, 64, true, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    assert_false(hvw_notify_take());
    os->notify(os->ctx, 1);
    assert_int_equal(k.dbgprints, 0);
    assert_true(hvw_notify_take());
    assert_false(hvw_notify_take());
}

/* The VMX check on the mock's fake CPUs: never VMXON, never a write of
 * IA32_FEATURE_CONTROL, whatever the profile. */
static void vmx_check_case(enum hv_mock_profile profile, uint64_t fc, bool set_fc, uint32_t fail_alloc,
                           hv_status_t want, const char *says)
{
    struct hv_mock_msr *m;
    uint32_t c;

    assert_int_equal(hv_mock_init(4, profile), HV_STATUS_SUCCESS);
    if (set_fc)
        hv_mock_msr_set(HV_MOCK_ALL_CPUS, HV_MSR_IA32_FEATURE_CONTROL, fc);
    machine(4, 64, false, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    k.alloc_calls = 0;
    k.fail_alloc_at = fail_alloc;
    assert_int_equal(hvw_vmx_check(), want);
    k.fail_alloc_at = 0;
    if (says != NULL)
        assert_non_null(strstr(k.printed, says));
    for (c = 0; c < 4; c++) {
        assert_int_equal(hv_mock_cpu(c)->op_calls[HV_MOCK_OP_VMXON], 0);
        m = hv_mock_msr_find(c, HV_MSR_IA32_FEATURE_CONTROL);
        if (m != NULL)
            assert_int_equal(m->writes, 0);
    }
    hvw_os_exit();
    hv_mock_fini();
}

static void vmx_check_decides_without_trying(void **state)
{
    vmx_check_case(HV_MOCK_PROFILE_NO_VMX, 0, false, 0, HV_STATUS_VMX_NOT_SUPPORTED,
                   "processor 0 has no VMX (CPUID.1:ECX[5] = 0)");
    /* Wine on a host that passes the VMX bit through: FEATURE_CONTROL reads 0. */
    vmx_check_case(HV_MOCK_PROFILE_HASWELL, 0, true, 0, HV_STATUS_VMX_DISABLED_BY_FIRMWARE,
                   "IA32_FEATURE_CONTROL = 0x0 is unlocked");
    vmx_check_case(HV_MOCK_PROFILE_SKYLAKE, 0, false, 0, HV_STATUS_VMX_DISABLED_BY_FIRMWARE, "is unlocked");
    vmx_check_case(HV_MOCK_PROFILE_VMX_LOCKED_OFF, 0, false, 0, HV_STATUS_VMX_DISABLED_BY_FIRMWARE,
                   "VMX is disabled in firmware (IA32_FEATURE_CONTROL = 0x1)");
    /* Only the last processor unlocked: it is named. */
    assert_int_equal(hv_mock_init(4, HV_MOCK_PROFILE_HASWELL), HV_STATUS_SUCCESS);
    hv_mock_msr_set(3, HV_MSR_IA32_FEATURE_CONTROL, 0);
    machine(4, 64, false, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    assert_int_equal(hvw_vmx_check(), HV_STATUS_VMX_DISABLED_BY_FIRMWARE);
    assert_non_null(strstr(k.printed, "processor 3: IA32_FEATURE_CONTROL = 0x0 is unlocked"));
    assert_int_equal(hv_mock_msr_find(3, HV_MSR_IA32_FEATURE_CONTROL)->writes, 0);
    hvw_os_exit();
    hv_mock_fini();
    /* Wine: VMX fine but no contiguous memory. */
    vmx_check_case(HV_MOCK_PROFILE_HASWELL, 0, false, 1, HV_STATUS_INSUFFICIENT_RESOURCES,
                   "no physically contiguous memory");
    vmx_check_case(HV_MOCK_PROFILE_HASWELL, 0, false, 0, HV_STATUS_SUCCESS, NULL);
}

/* And when the check passes, the layer runs the whole bring-up on the mock:
 * every CPU virtualized in order, devirtualized, nothing left. */
static void bring_up_through_the_layer(void **state)
{
    struct hv_config cfg;
    struct hv *hv = NULL;
    uint32_t c;

    assert_int_equal(hv_mock_init(4, HV_MOCK_PROFILE_HASWELL), HV_STATUS_SUCCESS);
    machine(4, 64, false, true);
    assert_int_equal(hvw_os_init(), HV_STATUS_SUCCESS);
    assert_int_equal(hvw_vmx_check(), HV_STATUS_SUCCESS);
    hv_config_init(&cfg);
    assert_int_equal(hv_create(&hv, hvw_os_ops(), &cfg), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_SUCCESS);
    for (c = 0; c < 4; c++)
        assert_true(hv->vcpus[c].steps & HV_STEP_LAUNCHED);
    assert_int_equal(hv_stop(hv), HV_STATUS_SUCCESS);
    hv_destroy(hv);
    assert_int_equal(hvw_allocations(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(groups_number_cpus_beyond_64, teardown),
        cmocka_unit_test_teardown(without_the_group_api_group_0_only, teardown),
        cmocka_unit_test_teardown(run_on_cpu_refused_at_dispatch_level, teardown),
        cmocka_unit_test_teardown(ordered_runs_visit_every_cpu_in_order, teardown),
        cmocka_unit_test_teardown(broadcast_reaches_every_cpu_once, teardown),
        cmocka_unit_test_teardown(nth_allocation_failing_leaks_nothing, teardown),
        cmocka_unit_test_teardown(log_is_deferred_and_counts_drops, teardown),
        cmocka_unit_test_teardown(notify_only_sets_a_flag, teardown),
        cmocka_unit_test_teardown(vmx_check_decides_without_trying, teardown),
        cmocka_unit_test_teardown(bring_up_through_the_layer, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
