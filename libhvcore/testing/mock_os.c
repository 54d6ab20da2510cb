/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — the fake OS vtable (struct hv_os_ops).
 *
 *  - alloc_pages / alloc_contiguous: aligned_alloc(4096) + zero; every live
 *    allocation is tracked, so a free of an unknown pointer (double free) or
 *    with the wrong size/kind is a reported failure, and hv_mock_fini frees
 *    what the test leaked (check hv_mock_os_outstanding_allocs() first).
 *    Freeing a region some fake CPU still uses as its VMXON region or
 *    current VMCS is a reported failure.
 *  - virt_to_phys / phys_to_virt: identity, except that phys_to_virt of a
 *    fake guest-physical page (mock_gmem.c) gives that page's backing.
 *  - run_on_cpu binds the calling thread to the target fake CPU for the
 *    duration of fn (restoring the previous binding); run_on_each_cpu does
 *    that for every CPU, sequentially, ascending for ANY/ASCENDING and
 *    descending for DESCENDING.
 *  - a PRE-LAUNCH member called while the bound CPU is marked in-exit
 *    (hv_mock_os_set_in_exit) is a reported failure.
 *  - log keeps the last HV_MOCK_LOG_LINES lines as "[cpuN] LEVEL: msg".
 *  - panic is a reported failure; if the failure handler returns, so does
 *    panic.
 * ctx is a pointer to the fake OS's state; a member called with another
 * ctx is a reported failure.
 */
#define _POSIX_C_SOURCE 200809L

#include <hvcore/testing/mock.h>

#include "mock_sys.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

#define HV_MOCK_LOG_LINES 256u
#define HV_MOCK_LOG_LINE_LEN 256u

struct mock_alloc {
    struct mock_alloc *next;
    void *va;
    size_t bytes;
    size_t pages;      /* alloc_pages count; 0 for alloc_contiguous */
    bool contiguous;
};

struct mock_os {
    pthread_mutex_t lock;
    struct mock_alloc *allocs;
    uint32_t outstanding, alloc_calls, cpu_calls;
    uint32_t fail_alloc_at, fail_cpu_call_at;     /* countdowns, 0 = off */
    bool echo;
    char ring[HV_MOCK_LOG_LINES][HV_MOCK_LOG_LINE_LEN];
    uint32_t ring_next, ring_count;
    atomic_uint notify[HV_MOCK_MAX_CPUS];
    atomic_bool in_exit[HV_MOCK_MAX_CPUS];
};

static struct mock_os g_os = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- State ------------------------------------------------------------- */

static void free_all_allocs(void)
{
    struct mock_alloc *a, *next;

    pthread_mutex_lock(&g_os.lock);
    a = g_os.allocs;
    g_os.allocs = NULL;
    g_os.outstanding = 0;
    pthread_mutex_unlock(&g_os.lock);
    for (; a != NULL; a = next) {
        next = a->next;
        mock_page_free(a->va);
        free(a);
    }
}

void hv_mocki_os_reset(void)
{
    const char *echo = getenv("HVCORE_MOCK_ECHO");
    uint32_t i;

    free_all_allocs();
    pthread_mutex_lock(&g_os.lock);
    g_os.alloc_calls = 0;
    g_os.cpu_calls = 0;
    g_os.fail_alloc_at = 0;
    g_os.fail_cpu_call_at = 0;
    g_os.echo = echo != NULL && echo[0] != '\0' && echo[0] != '0';
    g_os.ring_next = 0;
    g_os.ring_count = 0;
    pthread_mutex_unlock(&g_os.lock);
    for (i = 0; i < HV_MOCK_MAX_CPUS; i++) {
        atomic_store(&g_os.notify[i], 0u);
        atomic_store(&g_os.in_exit[i], false);
    }
}

void hv_mocki_os_fini(void)
{
    free_all_allocs();
}

/* ---- Checks shared by the members ---------------------------------------- */

static void check_ctx(void *ctx, const char *member)
{
    if (ctx != &g_os)
        hv_mocki_fail("os->%s called with ctx %p, not the fake OS's %p", member, ctx, (void *)&g_os);
}

static void pre_launch(void *ctx, const char *member)
{
    struct hv_mock_cpu *cpu = hv_mock_cpu_current();

    check_ctx(ctx, member);
    if (cpu != NULL && atomic_load(&g_os.in_exit[cpu->index]))
        hv_mocki_fail("PRE-LAUNCH OS call %s inside a VM exit (cpu%u)", member, cpu->index);
}

void hv_mock_os_set_in_exit(bool in_exit)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_mock_os_set_in_exit");

    if (cpu != NULL)
        atomic_store(&g_os.in_exit[cpu->index], in_exit);
}

/* ---- Memory -------------------------------------------------------------- */

/* 1 = this call fails; 0 = disarmed. Caller holds the lock. */
static bool countdown_fires(uint32_t *counter)
{
    return *counter != 0 && --*counter == 0;
}

static void *do_alloc(size_t bytes, size_t pages, bool contiguous)
{
    struct mock_alloc *a;
    void *va;
    bool fail;

    pthread_mutex_lock(&g_os.lock);
    g_os.alloc_calls++;
    fail = countdown_fires(&g_os.fail_alloc_at);
    pthread_mutex_unlock(&g_os.lock);
    if (fail || bytes == 0)
        return NULL;

    a = malloc(sizeof(*a));
    va = mock_page_alloc(bytes);
    if (a == NULL || va == NULL) {
        free(a);
        mock_page_free(va);
        return NULL;
    }
    memset(va, 0, bytes);
    a->va = va;
    a->bytes = bytes;
    a->pages = pages;
    a->contiguous = contiguous;
    pthread_mutex_lock(&g_os.lock);
    a->next = g_os.allocs;
    g_os.allocs = a;
    g_os.outstanding++;
    pthread_mutex_unlock(&g_os.lock);
    return va;
}

/* A region some fake CPU still uses must not be freed. */
static void check_not_in_use(const void *va, size_t bytes, const char *member)
{
    uint64_t lo = (uint64_t)(uintptr_t)va, hi = lo + bytes;
    uint32_t i, n = hv_mock_cpu_count();

    for (i = 0; i < n; i++) {
        const struct hv_mock_cpu *c = hv_mock_cpu(i);

        if (c->vmx_operation && c->vmxon_pa >= lo && c->vmxon_pa < hi)
            hv_mocki_fail("os->%s(%p): cpu%u is still in VMX operation with this VMXON region",
                          member, va, i);
        if (c->current_vmcs_pa != ~0ull && c->current_vmcs_pa >= lo && c->current_vmcs_pa < hi)
            hv_mocki_fail("os->%s(%p): it is still cpu%u's current VMCS (VMCLEAR it first)",
                          member, va, i);
    }
}

static void do_free(void *va, size_t bytes, size_t pages, bool contiguous, const char *member)
{
    struct mock_alloc **pp, *a = NULL;

    if (va == NULL)
        return;
    check_not_in_use(va, bytes, member);
    pthread_mutex_lock(&g_os.lock);
    for (pp = &g_os.allocs; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->va == va) {
            a = *pp;
            *pp = a->next;
            g_os.outstanding--;
            break;
        }
    }
    pthread_mutex_unlock(&g_os.lock);
    if (a == NULL) {
        hv_mocki_fail("os->%s(%p): not a live allocation of the fake OS (double free?)", member, va);
        return;
    }
    if (a->contiguous != contiguous)
        hv_mocki_fail("os->%s(%p): allocated with %s", member, va,
                      a->contiguous ? "alloc_contiguous" : "alloc_pages");
    else if (contiguous ? (a->bytes != bytes && (bytes + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE * HV_PAGE_SIZE != a->bytes)
                        : a->pages != pages)
        hv_mocki_fail("os->%s(%p, %zu): allocated as %zu %s", member, va, contiguous ? bytes : pages,
                      contiguous ? a->bytes : a->pages, contiguous ? "bytes" : "pages");
    mock_page_free(a->va);
    free(a);
}

static void *os_alloc_pages(void *ctx, size_t count)
{
    pre_launch(ctx, "alloc_pages");
    if (count > SIZE_MAX / HV_PAGE_SIZE)
        return NULL;
    return do_alloc(count * HV_PAGE_SIZE, count, false);
}

static void os_free_pages(void *ctx, void *va, size_t count)
{
    pre_launch(ctx, "free_pages");
    do_free(va, count * HV_PAGE_SIZE, count, false, "free_pages");
}

static void *os_alloc_contiguous(void *ctx, size_t bytes)
{
    size_t rounded;

    pre_launch(ctx, "alloc_contiguous");
    if (bytes > SIZE_MAX - HV_PAGE_SIZE)
        return NULL;
    rounded = (bytes + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE * HV_PAGE_SIZE;
    return do_alloc(rounded, 0, true);
}

static void os_free_contiguous(void *ctx, void *va, size_t bytes)
{
    pre_launch(ctx, "free_contiguous");
    do_free(va, bytes, 0, true, "free_contiguous");
}

uint32_t hv_mock_os_outstanding_allocs(void)
{
    uint32_t n;

    pthread_mutex_lock(&g_os.lock);
    n = g_os.outstanding;
    pthread_mutex_unlock(&g_os.lock);
    return n;
}

uint32_t hv_mock_os_alloc_calls(void)
{
    uint32_t n;

    pthread_mutex_lock(&g_os.lock);
    n = g_os.alloc_calls;
    pthread_mutex_unlock(&g_os.lock);
    return n;
}

void hv_mock_os_fail_alloc_at(uint32_t nth)
{
    pthread_mutex_lock(&g_os.lock);
    g_os.fail_alloc_at = nth;
    pthread_mutex_unlock(&g_os.lock);
}

/* ---- CPUs ---------------------------------------------------------------- */

static uint32_t os_cpu_count(void *ctx)
{
    pre_launch(ctx, "cpu_count");
    return hv_mock_cpu_count();
}

/* Counts the call; true if fault injection makes it fail. */
static bool cpu_call_fails(void)
{
    bool fail;

    pthread_mutex_lock(&g_os.lock);
    g_os.cpu_calls++;
    fail = countdown_fires(&g_os.fail_cpu_call_at);
    pthread_mutex_unlock(&g_os.lock);
    return fail;
}

static hv_status_t run_bound(uint32_t cpu, hv_cpu_fn fn, void *arg)
{
    uint32_t prev;
    hv_status_t st;

    /* A CPU runs one cross-call at a time, never in the middle of a VM
     * exit (interrupts are off there): the per-CPU lock models that. */
    hv_mock_cpu_lock(cpu);
    prev = hv_mock_cpu_bind(cpu);
    st = fn(cpu, arg);
    (void)hv_mock_cpu_bind(prev);
    hv_mock_cpu_unlock(cpu);
    return st;
}

static pthread_once_t cpu_locks_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t cpu_locks[HV_MOCK_MAX_CPUS];

static void cpu_locks_init(void)
{
    pthread_mutexattr_t a;
    uint32_t i;

    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    for (i = 0; i < HV_MOCK_MAX_CPUS; i++)
        pthread_mutex_init(&cpu_locks[i], &a);
    pthread_mutexattr_destroy(&a);
}

void hv_mock_cpu_lock(uint32_t cpu)
{
    pthread_once(&cpu_locks_once, cpu_locks_init);
    if (cpu < HV_MOCK_MAX_CPUS)
        pthread_mutex_lock(&cpu_locks[cpu]);
}

void hv_mock_cpu_unlock(uint32_t cpu)
{
    if (cpu < HV_MOCK_MAX_CPUS)
        pthread_mutex_unlock(&cpu_locks[cpu]);
}

static hv_status_t os_run_on_cpu(void *ctx, uint32_t cpu, hv_cpu_fn fn, void *arg)
{
    pre_launch(ctx, "run_on_cpu");
    if (cpu_call_fails() || fn == NULL || cpu >= hv_mock_cpu_count())
        return HV_STATUS_CPU_CALL_FAILED;
    return run_bound(cpu, fn, arg);
}

static hv_status_t os_run_on_each_cpu(void *ctx, hv_cpu_fn fn, void *arg, enum hv_cpu_order order)
{
    uint32_t i, n = hv_mock_cpu_count();

    pre_launch(ctx, "run_on_each_cpu");
    if (cpu_call_fails() || fn == NULL || n == 0)
        return HV_STATUS_CPU_CALL_FAILED;
    for (i = 0; i < n; i++)
        (void)run_bound(order == HV_CPU_ORDER_DESCENDING ? n - 1u - i : i, fn, arg);
    return HV_STATUS_SUCCESS;
}

uint32_t hv_mock_os_cpu_calls(void)
{
    uint32_t n;

    pthread_mutex_lock(&g_os.lock);
    n = g_os.cpu_calls;
    pthread_mutex_unlock(&g_os.lock);
    return n;
}

void hv_mock_os_fail_cpu_call_at(uint32_t nth)
{
    pthread_mutex_lock(&g_os.lock);
    g_os.fail_cpu_call_at = nth;
    pthread_mutex_unlock(&g_os.lock);
}

/* ---- ROOT-SAFE members ----------------------------------------------------- */

static uint64_t os_virt_to_phys(void *ctx, const void *va)
{
    check_ctx(ctx, "virt_to_phys");
    return (uint64_t)(uintptr_t)va;
}

static void *os_phys_to_virt(void *ctx, uint64_t pa)
{
    void *gmem;

    check_ctx(ctx, "phys_to_virt");
    gmem = hv_mocki_gmem_virt(pa);
    return gmem != NULL ? gmem : (void *)(uintptr_t)pa;
}

bool hv_mocki_os_owns(const void *p, uint64_t len)
{
    const struct mock_alloc *a;
    uintptr_t x = (uintptr_t)p;
    bool ok = false;

    pthread_mutex_lock(&g_os.lock);
    for (a = g_os.allocs; a != NULL; a = a->next) {
        uintptr_t base = (uintptr_t)a->va;
        if (x >= base && x - base < a->bytes && len <= a->bytes - (x - base)) {
            ok = true;
            break;
        }
    }
    pthread_mutex_unlock(&g_os.lock);
    return ok;
}

static uint32_t os_cpu_index(void *ctx)
{
    struct hv_mock_cpu *cpu;

    check_ctx(ctx, "cpu_index");
    cpu = hv_mocki_cpu("os->cpu_index");
    return cpu != NULL ? cpu->index : 0;
}

static uint64_t os_current_pid(void *ctx)
{
    struct hv_mock_cpu *cpu;

    check_ctx(ctx, "current_pid");
    cpu = hv_mocki_cpu("os->current_pid");
    return cpu != NULL ? cpu->pid : 0;
}

static const char *level_name(enum hv_log_level level)
{
    switch (level) {
    case HV_LOG_ERROR: return "ERROR";
    case HV_LOG_WARN: return "WARN";
    case HV_LOG_INFO: return "INFO";
    case HV_LOG_DEBUG: return "DEBUG";
    default: return "LOG?";
    }
}

static void log_line(enum hv_log_level level, const char *msg)
{
    struct hv_mock_cpu *cpu = hv_mock_cpu_current();
    char line[HV_MOCK_LOG_LINE_LEN];
    bool echo;

    if (cpu != NULL)
        snprintf(line, sizeof(line), "[cpu%u] %s: %s", cpu->index, level_name(level), msg);
    else
        snprintf(line, sizeof(line), "[cpu?] %s: %s", level_name(level), msg);
    pthread_mutex_lock(&g_os.lock);
    memcpy(g_os.ring[g_os.ring_next], line, sizeof(line));
    g_os.ring_next = (g_os.ring_next + 1u) % HV_MOCK_LOG_LINES;
    if (g_os.ring_count < HV_MOCK_LOG_LINES)
        g_os.ring_count++;
    echo = g_os.echo;
    pthread_mutex_unlock(&g_os.lock);
    if (echo) {
        printf("%s\n", line);
        fflush(stdout);
    }
}

static void os_log(void *ctx, enum hv_log_level level, const char *msg)
{
    check_ctx(ctx, "log");
    log_line(level, msg != NULL ? msg : "(null)");
}

void hv_mocki_log(const char *fmt, ...)
{
    char msg[HV_MOCK_LOG_LINE_LEN];
    va_list ap;
    int n;

    n = snprintf(msg, sizeof(msg), "mock: ");
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    log_line(HV_LOG_DEBUG, msg);
}

static void os_notify(void *ctx, uint32_t cpu)
{
    check_ctx(ctx, "notify");
    if (cpu >= hv_mock_cpu_count() || cpu >= HV_MOCK_MAX_CPUS) {
        hv_mocki_fail("os->notify(%u): no such CPU (%u exist)", cpu, hv_mock_cpu_count());
        return;
    }
    atomic_fetch_add(&g_os.notify[cpu], 1u);
}

static void os_panic(void *ctx, const char *msg)
{
    check_ctx(ctx, "panic");
    hv_mocki_fail("os->panic: %s", msg != NULL ? msg : "(null)");
}

uint32_t hv_mock_os_notify_count(uint32_t cpu)
{
    return cpu < HV_MOCK_MAX_CPUS ? atomic_load(&g_os.notify[cpu]) : 0;
}

void hv_mock_os_set_echo(bool on)
{
    pthread_mutex_lock(&g_os.lock);
    g_os.echo = on;
    pthread_mutex_unlock(&g_os.lock);
}

bool hv_mock_os_log_contains(const char *needle)
{
    bool found = false;
    uint32_t i;

    if (needle == NULL)
        return false;
    pthread_mutex_lock(&g_os.lock);
    for (i = 0; i < g_os.ring_count && !found; i++)
        found = strstr(g_os.ring[i], needle) != NULL;
    pthread_mutex_unlock(&g_os.lock);
    return found;
}

void hv_mock_os_log_clear(void)
{
    pthread_mutex_lock(&g_os.lock);
    g_os.ring_next = 0;
    g_os.ring_count = 0;
    pthread_mutex_unlock(&g_os.lock);
}

/* ---- Executable memory (custom code) ------------------------------------- */

/* Tracked like any allocation (so leaks and fault injection cover it),
 * written while writable, then made read-only + executable (W^X). */
static void *os_alloc_exec(void *ctx, const void *bytes, size_t len)
{
    size_t rounded;
    void *va;

    pre_launch(ctx, "alloc_exec");
    if (bytes == NULL || len == 0 || len > SIZE_MAX - HV_PAGE_SIZE)
        return NULL;
    rounded = (len + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE * HV_PAGE_SIZE;
    va = do_alloc(rounded, 0, true);
    if (va == NULL)
        return NULL;
    memcpy(va, bytes, len);
    if (mock_page_protect(va, rounded, true) != 0) {
        do_free(va, rounded, 0, true, "alloc_exec");
        return NULL;
    }
    return va;
}

static void os_free_exec(void *ctx, void *code, size_t len)
{
    size_t rounded = (len + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE * HV_PAGE_SIZE;

    pre_launch(ctx, "free_exec");
    if (code == NULL)
        return;
    (void)mock_page_protect(code, rounded, false);
    do_free(code, rounded, 0, true, "free_exec");
}

/* ---- The vtable ------------------------------------------------------------ */

static const struct hv_os_ops g_ops = {
    .size = sizeof(struct hv_os_ops),
    .ctx = &g_os,
    .alloc_pages = os_alloc_pages,
    .free_pages = os_free_pages,
    .alloc_contiguous = os_alloc_contiguous,
    .free_contiguous = os_free_contiguous,
    .cpu_count = os_cpu_count,
    .run_on_cpu = os_run_on_cpu,
    .run_on_each_cpu = os_run_on_each_cpu,
    .virt_to_phys = os_virt_to_phys,
    .phys_to_virt = os_phys_to_virt,
    .cpu_index = os_cpu_index,
    .current_pid = os_current_pid,
    .log = os_log,
    .notify = os_notify,
    .panic = os_panic,
    .alloc_exec = os_alloc_exec,
    .free_exec = os_free_exec,
};

const struct hv_os_ops *hv_mock_os(void)
{
    return &g_ops;
}
