/*
 * The UEFI OS layer (platform/uefi: os_uefi.c, ap_loop.c) against a fake
 * boot-services table and a fake MP Services protocol whose APs are
 * threads: allocation failure on the Nth AllocatePages, an AP that MP
 * Services cannot start, an AP that never answers, MP Services missing
 * (BSP only, with a warning), the run order, and MP Services calls routed
 * through the APs' service loops while hvcore owns them.
 */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "hvcore_uefi.h"

#include <hvcore/hv.h>

/* ---- fake CPU primitives (cpu_uefi.c) ------------------------------------------- */

static __thread uint32_t tl_apic = 7; /* the BSP's APIC ID: not its index, on purpose */
static char serial[16384];
static size_t serial_len;
static pthread_mutex_t serial_mu = PTHREAD_MUTEX_INITIALIZER;

uint32_t hvu_cpu_apic_id(void) { return tl_apic; }
void hvu_cpu_relax(void) { usleep(10); }
/*
 * Halting APs: a fake local APIC per AP. hvu_cpu_wake() sets the AP's
 * pending interrupt (its IRR), hvu_cpu_halt() sleeps until one is pending
 * and takes it, as "sti; hlt" does; so a wake-up sent before the AP halts
 * is not lost, and one that never comes leaves the AP asleep (the BSP's
 * bounded wait then fails the call). halting_mode off: the APs spin.
 */
static int halting_mode;
static pthread_mutex_t apic_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t apic_cv = PTHREAD_COND_INITIALIZER;
static int irr[256], wakes_sent, halts;
static __thread int tl_idt_ours;      /* this AP runs on hvcore's IDT */
static __thread int tl_idt_enters, tl_idt_leaves;
static int idt_unbalanced;            /* an AP left the loop on hvcore's IDT */

bool hvu_cpu_wake_ready(void) { return halting_mode != 0; }
void hvu_cpu_idt_enter(void *saved)
{
    memset(saved, 0x5A, 10);
    tl_idt_ours = 1;
    tl_idt_enters++;
}
void hvu_cpu_idt_leave(const void *saved)
{
    (void)saved;
    tl_idt_ours = 0;
    tl_idt_leaves++;
}
void hvu_cpu_halt(void)
{
    struct timespec t;

    if (!tl_idt_ours)
        fail_msg("an AP halted on the firmware's IDT");
    pthread_mutex_lock(&apic_mu);
    halts++;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 2;
    while (!irr[tl_apic & 255u]) {
        if (pthread_cond_timedwait(&apic_cv, &apic_mu, &t) != 0)
            break; /* asleep for good: the BSP's wait times out */
    }
    irr[tl_apic & 255u] = 0;
    pthread_mutex_unlock(&apic_mu);
}
void hvu_cpu_cli(void) {}
void hvu_cpu_wake(uint32_t apic_id)
{
    if (!halting_mode)
        fail_msg("wake-up IPI without halting APs");
    pthread_mutex_lock(&apic_mu);
    irr[apic_id & 255u] = 1;
    wakes_sent++;
    pthread_cond_broadcast(&apic_cv);
    pthread_mutex_unlock(&apic_mu);
}
void hvu_serial_write(const char *s, size_t n)
{
    pthread_mutex_lock(&serial_mu);
    if (serial_len + n < sizeof(serial)) {
        memcpy(serial + serial_len, s, n);
        serial_len += n;
        serial[serial_len] = '\0';
    }
    pthread_mutex_unlock(&serial_mu);
}
void hvu_cpu_stop(void) { fail_msg("hvu_cpu_stop: %s", serial); abort(); }

/* ---- fake boot services ------------------------------------------------------------- */

static EFI_BOOT_SERVICES fbs;
static int alloc_calls, fail_alloc_at; /* fail_alloc_at = N: the Nth call fails */
static int64_t live_pages;
static int wrong_type;

static EFI_STATUS EFIAPI f_alloc(EFI_ALLOCATE_TYPE t, EFI_MEMORY_TYPE mt, UINTN pages, EFI_PHYSICAL_ADDRESS *pa)
{
    void *p;

    (void)t;
    if (mt != EfiRuntimeServicesData)
        wrong_type++;
    if (++alloc_calls == fail_alloc_at)
        return EFI_OUT_OF_RESOURCES;
    p = aligned_alloc(4096, pages * 4096);
    if (p == NULL)
        return EFI_OUT_OF_RESOURCES;
    memset(p, 0xA5, pages * 4096); /* the layer must zero it */
    *pa = (EFI_PHYSICAL_ADDRESS)(uintptr_t)p;
    live_pages += (int64_t)pages;
    return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI f_free(EFI_PHYSICAL_ADDRESS pa, UINTN pages)
{
    free((void *)(uintptr_t)pa);
    live_pages -= (int64_t)pages;
    return EFI_SUCCESS;
}

static EFI_TPL tpl = TPL_APPLICATION;
static EFI_TPL EFIAPI f_raise(EFI_TPL t) { EFI_TPL o = tpl; tpl = t; return o; }
static VOID EFIAPI f_restore(EFI_TPL t) { tpl = t; }
static EFI_STATUS EFIAPI f_stall(UINTN us) { usleep(us > 1000 ? 1000 : (useconds_t)us); return EFI_SUCCESS; }

struct fevent {
    volatile int signaled;
};
static int live_events;
static EFI_STATUS EFIAPI f_create_event(UINT32 type, EFI_TPL t, EFI_EVENT_NOTIFY fn, VOID *ctx, EFI_EVENT *ev)
{
    (void)type; (void)t; (void)fn; (void)ctx;
    *ev = calloc(1, sizeof(struct fevent));
    live_events++;
    return EFI_SUCCESS;
}
static EFI_STATUS EFIAPI f_close_event(EFI_EVENT ev) { free(ev); live_events--; return EFI_SUCCESS; }
static EFI_STATUS EFIAPI f_signal_event(EFI_EVENT ev) { __atomic_store_n(&((struct fevent *)ev)->signaled, 1, __ATOMIC_RELEASE); return EFI_SUCCESS; }
static EFI_STATUS EFIAPI f_check_event(EFI_EVENT ev)
{
    return __atomic_exchange_n(&((struct fevent *)ev)->signaled, 0, __ATOMIC_ACQ_REL) ? EFI_SUCCESS : EFI_NOT_READY;
}

/* ---- fake MP Services: APs are threads ---------------------------------------------- */

static HVU_MP_SERVICES fmp;
static int mp_present, ncpus, fail_start_cpu = -1, silent_cpu = -1;
static volatile int busy[HVU_MAX_CPUS];
static pthread_t threads[HVU_MAX_CPUS];
static int started[HVU_MAX_CPUS];

static EFI_STATUS EFIAPI f_locate(EFI_GUID *g, VOID *reg, VOID **out)
{
    static const EFI_GUID mp = HVU_MP_SERVICES_GUID;

    (void)reg;
    if (!mp_present || memcmp(g, &mp, sizeof(mp)) != 0)
        return EFI_NOT_FOUND;
    *out = &fmp;
    return EFI_SUCCESS;
}
static EFI_STATUS EFIAPI f_count(HVU_MP_SERVICES *t, UINTN *n, UINTN *e) { (void)t; *n = *e = (UINTN)ncpus; return EFI_SUCCESS; }
static EFI_STATUS EFIAPI f_whoami(HVU_MP_SERVICES *t, UINTN *me) { (void)t; *me = 0; return EFI_SUCCESS; }
static EFI_STATUS EFIAPI f_info(HVU_MP_SERVICES *t, UINTN cpu, HVU_PROCESSOR_INFORMATION *i)
{
    (void)t;
    memset(i, 0, sizeof(*i));
    i->ProcessorId = cpu == 0 ? 7 : 100 + cpu;
    i->StatusFlag = HVU_PROCESSOR_ENABLED_BIT | (cpu == 0 ? HVU_PROCESSOR_AS_BSP_BIT : 0);
    return EFI_SUCCESS;
}

struct ap_job {
    UINTN cpu;
    HVU_AP_PROCEDURE proc;
    void *arg;
    EFI_EVENT ev;
};
static void *ap_thread(void *p)
{
    struct ap_job *j = p;

    tl_apic = 100 + (uint32_t)j->cpu;
    if ((int)j->cpu != silent_cpu)
        j->proc(j->arg);
    if (tl_idt_ours || tl_idt_enters != tl_idt_leaves)
        __atomic_fetch_add(&idt_unbalanced, 1, __ATOMIC_RELAXED);
    busy[j->cpu] = 0;
    if (j->ev != NULL)
        f_signal_event(j->ev);
    free(j);
    return NULL;
}
/* MP Services proper: a busy AP is NOT_READY (as OVMF's is while it runs
 * hvcore's loop), so a call that succeeds on a busy AP went through hvcore. */
static EFI_STATUS EFIAPI f_this_ap(HVU_MP_SERVICES *t, HVU_AP_PROCEDURE proc, UINTN cpu, EFI_EVENT ev, UINTN to,
                                   VOID *arg, BOOLEAN *fin)
{
    struct ap_job *j;

    (void)t; (void)to; (void)fin;
    if (cpu == 0 || cpu >= (UINTN)ncpus)
        return EFI_INVALID_PARAMETER;
    if ((int)cpu == fail_start_cpu)
        return EFI_DEVICE_ERROR;
    if (busy[cpu])
        return EFI_NOT_READY;
    if (started[cpu])
        pthread_join(threads[cpu], NULL);
    j = calloc(1, sizeof(*j));
    *j = (struct ap_job){ cpu, proc, arg, ev };
    busy[cpu] = 1;
    started[cpu] = 1;
    pthread_create(&threads[cpu], NULL, ap_thread, j);
    if (ev == NULL) { /* blocking */
        pthread_join(threads[cpu], NULL);
        started[cpu] = 0;
    }
    return EFI_SUCCESS;
}
static EFI_STATUS EFIAPI f_all_aps(HVU_MP_SERVICES *t, HVU_AP_PROCEDURE proc, BOOLEAN single, EFI_EVENT ev, UINTN to,
                                   VOID *arg, UINTN **failed)
{
    (void)t; (void)proc; (void)single; (void)ev; (void)to; (void)arg; (void)failed;
    return EFI_NOT_READY; /* only reached when no AP is hvcore's */
}

static struct hvu U;

static void join_all(void)
{
    unsigned i;

    for (i = 0; i < HVU_MAX_CPUS; i++) {
        if (started[i] && silent_cpu != (int)i)
            pthread_join(threads[i], NULL);
        started[i] = 0;
    }
}

static int setup_machine(int cpus, int with_mp)
{
    memset(&U, 0, sizeof(U));
    memset(&fbs, 0, sizeof(fbs));
    fbs.AllocatePages = f_alloc;
    fbs.FreePages = f_free;
    fbs.RaiseTPL = f_raise;
    fbs.RestoreTPL = f_restore;
    fbs.Stall = f_stall;
    fbs.CreateEvent = f_create_event;
    fbs.CloseEvent = f_close_event;
    fbs.SignalEvent = f_signal_event;
    fbs.CheckEvent = f_check_event;
    fbs.LocateProtocol = f_locate;
    memset(&fmp, 0, sizeof(fmp));
    fmp.GetNumberOfProcessors = f_count;
    fmp.GetProcessorInfo = f_info;
    fmp.WhoAmI = f_whoami;
    fmp.StartupThisAP = f_this_ap;
    fmp.StartupAllAPs = f_all_aps;
    ncpus = cpus;
    mp_present = with_mp;
    fail_start_cpu = silent_cpu = -1;
    alloc_calls = fail_alloc_at = 0;
    live_pages = 0;
    wrong_type = 0;
    serial_len = 0;
    serial[0] = '\0';
    tl_apic = 7;
    memset(irr, 0, sizeof(irr));
    wakes_sent = halts = idt_unbalanced = 0;
    U.ap_timeout_us = 200000; /* 0.2 s: the silent AP test waits this long */
    return hvu_init(&U, &fbs) == EFI_SUCCESS ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hvu_mp_restore(&U);
    hvu_ap_release_all(&U, false);
    join_all();
    return 0;
}

/* ---- what the tests run on the CPUs ------------------------------------------------- */

struct record {
    uint32_t order[HVU_MAX_CPUS];
    uint32_t n;
    uint32_t where[HVU_MAX_CPUS]; /* os->cpu_index() seen inside fn */
    uint32_t on_our_idt;          /* requests that ran on hvcore's IDT (must be 0) */
    EFI_TPL tpl_seen;
};
static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;

static hv_status_t record_fn(uint32_t cpu, void *arg)
{
    struct record *r = arg;
    const struct hv_os_ops *os = hvu_os_ops(&U);

    pthread_mutex_lock(&rec_mu);
    r->order[r->n++] = cpu;
    r->where[cpu] = os->cpu_index(os->ctx);
    r->on_our_idt += tl_idt_ours;
    if (cpu == 0)
        r->tpl_seen = tpl;
    pthread_mutex_unlock(&rec_mu);
    return cpu == 3 ? HV_STATUS_UNSUPPORTED : HV_STATUS_SUCCESS;
}

/* ---- tests --------------------------------------------------------------------------- */

static void mp_services_missing_means_bsp_only_with_a_warning(void **state)
{
    const struct hv_os_ops *os;
    struct record r = { 0 };

    (void)state;
    assert_int_equal(setup_machine(4, 0), 0);
    os = hvu_os_ops(&U);
    assert_int_equal(os->cpu_count(os->ctx), 1);
    assert_non_null(strstr(serial, "hvcore: warning: MP Services protocol not found: virtualizing the BSP only\r\n"));
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_fn, &r, HV_CPU_ORDER_ASCENDING), HV_STATUS_SUCCESS);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.order[0], 0);
    assert_int_equal(r.where[0], 0);
    assert_int_equal(os->run_on_cpu(os->ctx, 1, record_fn, &r), HV_STATUS_CPU_CALL_FAILED);
}

static void runs_in_order_on_the_right_cpu(void **state)
{
    const struct hv_os_ops *os;
    struct record up = { 0 }, down = { 0 };
    uint32_t i;

    (void)state;
    assert_int_equal(setup_machine(4, 1), 0);
    os = hvu_os_ops(&U);
    assert_int_equal(os->cpu_count(os->ctx), 4);
    /* cpu_index from the APIC ID (7, 101, 102, 103), inside fn on each CPU. */
    assert_int_equal(os->cpu_index(os->ctx), 0);
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_fn, &up, HV_CPU_ORDER_ASCENDING), HV_STATUS_SUCCESS);
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_fn, &down, HV_CPU_ORDER_DESCENDING), HV_STATUS_SUCCESS);
    assert_int_equal(up.n, 4);
    assert_int_equal(down.n, 4);
    for (i = 0; i < 4; i++) {
        assert_int_equal(up.order[i], i);
        assert_int_equal(down.order[i], 3 - i);
        assert_int_equal(up.where[i], i);
    }
    /* The BSP runs its part with interrupts off (TPL_HIGH_LEVEL) and
     * gives the TPL back. */
    assert_int_equal(up.tpl_seen, TPL_HIGH_LEVEL);
    assert_int_equal(tpl, TPL_APPLICATION);
    /* fn's own status comes back from run_on_cpu. */
    assert_int_equal(os->run_on_cpu(os->ctx, 3, record_fn, &up), HV_STATUS_UNSUPPORTED);
    assert_int_equal(os->run_on_cpu(os->ctx, 2, record_fn, &up), HV_STATUS_SUCCESS);
    assert_int_equal(os->run_on_cpu(os->ctx, 4, record_fn, &up), HV_STATUS_CPU_CALL_FAILED);
    /* Each AP was started once and stayed in the service loop. */
    assert_true(U.ap[1].running && U.ap[2].running && U.ap[3].running);
    hvu_ap_release_all(&U, false);
    assert_false(U.ap[1].running || U.ap[2].running || U.ap[3].running);
    join_all();
    assert_int_equal(live_events, 0);
}

static void an_ap_that_mp_services_cannot_start(void **state)
{
    const struct hv_os_ops *os;
    struct record r = { 0 };

    (void)state;
    assert_int_equal(setup_machine(4, 1), 0);
    os = hvu_os_ops(&U);
    fail_start_cpu = 2;
    assert_int_equal(os->run_on_cpu(os->ctx, 2, record_fn, &r), HV_STATUS_CPU_CALL_FAILED);
    assert_non_null(strstr(serial, "hvcore: error: MP Services could not start hvcore's service loop on cpu 2"));
    /* In order: 0 and 1 ran, 2 failed, 3 was never asked. */
    r.n = 0;
    assert_int_equal(os->run_on_each_cpu(os->ctx, record_fn, &r, HV_CPU_ORDER_ASCENDING), HV_STATUS_CPU_CALL_FAILED);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.order[0], 0);
    assert_int_equal(r.order[1], 1);
    assert_int_equal(live_events, 1); /* cpu 1's loop only */
}

static void an_ap_that_never_answers(void **state)
{
    const struct hv_os_ops *os;
    struct record r = { 0 };

    (void)state;
    assert_int_equal(setup_machine(3, 1), 0);
    os = hvu_os_ops(&U);
    silent_cpu = 1;
    assert_int_equal(os->run_on_cpu(os->ctx, 1, record_fn, &r), HV_STATUS_CPU_CALL_FAILED);
    assert_non_null(strstr(serial, "AP did not enter hvcore's service loop in time: cpu 1"));
    assert_true(U.ap[1].broken);
    /* Never used again: the next call fails at once. */
    serial_len = 0;
    assert_int_equal(os->run_on_cpu(os->ctx, 1, record_fn, &r), HV_STATUS_CPU_CALL_FAILED);
    assert_int_equal(r.n, 0);
    assert_int_equal(os->run_on_cpu(os->ctx, 2, record_fn, &r), HV_STATUS_SUCCESS);
    pthread_join(threads[1], NULL);
    started[1] = 0;
}

static void allocation_failure_on_the_nth_call(void **state)
{
    struct hv *hv;
    hv_status_t st;
    int n, total;

    (void)state;
    /* Count the AllocatePages calls of a good hv_create on 2 CPUs. */
    assert_int_equal(setup_machine(2, 1), 0);
    assert_int_equal(hv_create(&hv, hvu_os_ops(&U), NULL), HV_STATUS_SUCCESS);
    total = alloc_calls;
    assert_true(total >= 6);
    assert_int_equal(U.pages_outstanding, live_pages);
    hv_destroy(hv);
    assert_int_equal(live_pages, 0);
    assert_int_equal(U.pages_outstanding, 0);
    assert_int_equal(U.pages_allocated, U.pages_freed);
    /* Each call failing in turn: a clean INSUFFICIENT_RESOURCES, every page
     * given back. */
    for (n = 1; n <= total; n++) {
        assert_int_equal(setup_machine(2, 1), 0);
        fail_alloc_at = n;
        hv = (struct hv *)1;
        st = hv_create(&hv, hvu_os_ops(&U), NULL);
        assert_int_equal(st, HV_STATUS_INSUFFICIENT_RESOURCES);
        assert_null(hv);
        assert_int_equal(live_pages, 0);
        assert_int_equal(U.pages_outstanding, 0);
    }
    assert_int_equal(wrong_type, 0); /* every page EfiRuntimeServicesData */
}

static void pages_are_zeroed_runtime_data(void **state)
{
    const struct hv_os_ops *os;
    uint8_t *p;
    size_t i;

    (void)state;
    assert_int_equal(setup_machine(1, 1), 0);
    os = hvu_os_ops(&U);
    p = os->alloc_contiguous(os->ctx, 3 * 4096 + 1); /* rounds up to 4 pages */
    assert_non_null(p);
    assert_int_equal(U.pages_outstanding, 4);
    for (i = 0; i < 4 * 4096; i++)
        assert_int_equal(p[i], 0);
    assert_int_equal(os->virt_to_phys(os->ctx, p), (uint64_t)(uintptr_t)p);
    assert_ptr_equal(os->phys_to_virt(os->ctx, (uint64_t)(uintptr_t)p), p);
    os->free_contiguous(os->ctx, p, 3 * 4096 + 1);
    assert_int_equal(U.pages_outstanding, 0);
    assert_int_equal(live_pages, 0);
    assert_int_equal(wrong_type, 0);
    fail_alloc_at = alloc_calls + 1;
    assert_null(os->alloc_pages(os->ctx, 1));
    assert_int_equal(U.pages_outstanding, 0);
}

static int ran_on[HVU_MAX_CPUS];
static VOID EFIAPI fw_proc(VOID *arg)
{
    (void)arg;
    __atomic_fetch_add(&ran_on[hvu_os_ops(&U)->cpu_index(&U)], 1, __ATOMIC_RELAXED);
}

static hv_status_t nothing(uint32_t cpu, void *arg)
{
    (void)cpu; (void)arg;
    return HV_STATUS_SUCCESS;
}

static void mp_services_keep_working_while_the_aps_are_ours(void **state)
{
    const struct hv_os_ops *os;
    BOOLEAN fin = FALSE;
    EFI_EVENT ev;

    (void)state;
    memset(ran_on, 0, sizeof(ran_on));
    assert_int_equal(setup_machine(3, 1), 0);
    os = hvu_os_ops(&U);
    assert_int_equal(os->run_on_each_cpu(os->ctx, nothing, NULL, HV_CPU_ORDER_ASCENDING), HV_STATUS_SUCCESS);
    /* Without hvcore's routing, MP Services finds the APs busy. */
    assert_int_equal(fmp.StartupThisAP(&fmp, fw_proc, 1, NULL, 0, NULL, NULL), EFI_NOT_READY);
    hvu_mp_interpose(&U);
    assert_int_equal(fmp.StartupThisAP(&fmp, fw_proc, 1, NULL, 0, NULL, &fin), EFI_SUCCESS);
    assert_true(fin);
    assert_int_equal(ran_on[1], 1);
    f_create_event(0, 0, NULL, NULL, &ev);
    assert_int_equal(fmp.StartupAllAPs(&fmp, fw_proc, FALSE, ev, 0, NULL, NULL), EFI_SUCCESS);
    assert_int_equal(f_check_event(ev), EFI_SUCCESS); /* signalled when done */
    f_close_event(ev);
    assert_int_equal(ran_on[0], 0); /* not on the BSP */
    assert_int_equal(ran_on[1], 2);
    assert_int_equal(ran_on[2], 1);
    hvu_mp_restore(&U);
    assert_ptr_equal(fmp.StartupThisAP, f_this_ap);
    assert_ptr_equal(fmp.StartupAllAPs, f_all_aps);
    /* Released: MP Services has its APs back. */
    hvu_ap_release_all(&U, false);
    join_all();
    assert_int_equal(fmp.StartupThisAP(&fmp, fw_proc, 2, NULL, 0, NULL, NULL), EFI_SUCCESS);
    assert_int_equal(ran_on[2], 2);
    assert_int_equal(live_events, 0);
}

static void halting_aps_wake_for_every_request(void **state)
{
    const struct hv_os_ops *os;
    struct record r = { 0 };
    uint32_t round, i;
    int n_halts, n_wakes;

    (void)state;
    halting_mode = 1;
    assert_int_equal(setup_machine(4, 1), 0);
    halting_mode = 1;
    assert_true(U.halting_aps);
    os = hvu_os_ops(&U);
    /* Many rounds both ways: a lost wake-up would leave an AP asleep and
     * the call would fail after the 0.2 s bound. */
    for (round = 0; round < 200; round++) {
        r.n = 0;
        assert_int_equal(os->run_on_each_cpu(os->ctx, record_fn, &r,
                                             round & 1 ? HV_CPU_ORDER_DESCENDING : HV_CPU_ORDER_ASCENDING),
                         HV_STATUS_SUCCESS);
        assert_int_equal(r.n, 4);
        for (i = 0; i < 4; i++)
            assert_int_equal(r.where[r.order[i]], r.order[i]);
    }
    /* Requests ran on the firmware's IDT, the halts on hvcore's. */
    assert_int_equal(r.on_our_idt, 0);
    pthread_mutex_lock(&apic_mu);
    n_halts = halts;
    n_wakes = wakes_sent;
    pthread_mutex_unlock(&apic_mu);
    assert_true(n_halts > 0);
    /* An IPI only for an AP that said it was going to sleep: never more
     * than one per request (600 AP requests). */
    assert_true(n_wakes <= 600);
    /* MP Services routed through halting APs too. */
    memset(ran_on, 0, sizeof(ran_on));
    hvu_mp_interpose(&U);
    assert_int_equal(fmp.StartupThisAP(&fmp, fw_proc, 3, NULL, 0, NULL, NULL), EFI_SUCCESS);
    assert_int_equal(ran_on[3], 1);
    hvu_mp_restore(&U);
    hvu_ap_release_all(&U, false);
    join_all();
    assert_int_equal(idt_unbalanced, 0); /* each AP left on the firmware's IDT */
    assert_int_equal(live_events, 0);
    halting_mode = 0;
}

static void log_lines_are_whole_and_tagged(void **state)
{
    const struct hv_os_ops *os;

    (void)state;
    assert_int_equal(setup_machine(1, 1), 0);
    os = hvu_os_ops(&U);
    os->log(os->ctx, HV_LOG_INFO, "cpu 0: virtualized");
    os->log(os->ctx, HV_LOG_ERROR, "cpu 1: failed");
    os->log(os->ctx, HV_LOG_WARN, "careful");
    assert_string_equal(serial, "hvcore: cpu 0: virtualized\r\nhvcore: error: cpu 1: failed\r\n"
                                "hvcore: warning: careful\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(mp_services_missing_means_bsp_only_with_a_warning, teardown),
        cmocka_unit_test_teardown(runs_in_order_on_the_right_cpu, teardown),
        cmocka_unit_test_teardown(an_ap_that_mp_services_cannot_start, teardown),
        cmocka_unit_test_teardown(an_ap_that_never_answers, teardown),
        cmocka_unit_test_teardown(allocation_failure_on_the_nth_call, teardown),
        cmocka_unit_test_teardown(pages_are_zeroed_runtime_data, teardown),
        cmocka_unit_test_teardown(mp_services_keep_working_while_the_aps_are_ours, teardown),
        cmocka_unit_test_teardown(halting_aps_wake_for_every_request, teardown),
        cmocka_unit_test_teardown(log_lines_are_whole_and_tagged, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
