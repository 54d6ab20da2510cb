/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — a Debugger Mode target on the mock machine
 * (hvcore/testing/dbg_sim.h): one thread per fake CPU plays its guest, one
 * plays the OS timer.
 */
#define _POSIX_C_SOURCE 200809L

#include <hvcore/debugger.h>
#include <hvcore/exit.h>
#include <hvcore/testing/dbg_sim.h>
#include <hvcore/testing/mock.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_MAX_CORES 16u
#define NMI_EXIT_INFO (HV_INTR_INFO_VALID | (HV_INTR_TYPE_NMI << HV_INTR_INFO_TYPE_SHIFT) | 2u)

struct sim_core {
    struct hv_mock_dbg_sim *sim;
    uint32_t index;
    pthread_t thread;
    bool started;
    uint64_t steps;          /* atomic */
    uint64_t guest_nmis;     /* atomic */
    uint64_t dr_done;        /* atomic */
    uint32_t dr_req;         /* atomic: 1 + DR number asked for, 0 none */
    uint64_t dr_pid;         /* atomic */
};

struct hv_mock_dbg_sim {
    struct hv_mock_dbg_sim_config cfg;
    struct hv *hv;
    bool stop;               /* atomic */
    pthread_t timer;
    bool timer_started;
    struct sim_core cores[SIM_MAX_CORES];
};

static void nap_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

    nanosleep(&ts, NULL);
}

void hv_mock_dbg_sim_config_init(struct hv_mock_dbg_sim_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->size = sizeof(*cfg);
    cfg->ncores = 2;
    cfg->fd = -1;
    cfg->port = 0x3F8;
    cfg->stuck_core = UINT32_MAX;
    cfg->x2apic = true;
}

static bool sim_stopping(struct hv_mock_dbg_sim *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

/* After an exit: an NMI the entry injects is one the guest receives. */
static void count_injection(struct sim_core *c)
{
    uint64_t info = 0;

    if (hv_mock_vmcs_peek(HV_VMCS_VM_ENTRY_INTR_INFO, &info) && (info & HV_INTR_INFO_VALID) &&
        ((info >> HV_INTR_INFO_TYPE_SHIFT) & 7u) == HV_INTR_TYPE_NMI)
        __atomic_fetch_add(&c->guest_nmis, 1u, __ATOMIC_RELAXED);
}

static uint32_t proc_controls(void)
{
    uint64_t proc = 0;

    (void)hv_mock_vmcs_peek(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, &proc);
    return (uint32_t)proc;
}

/* One step of `c`'s guest, under its CPU's activity lock (the OS timer
 * thread may run a callback on the same fake CPU): an exit if something
 * causes one. Returns whether it took an exit. */
static bool guest_step(struct sim_core *c, struct timespec *last)
{
    struct hv_mock_exit x;
    struct timespec now;
    uint8_t insn[16];
    uint32_t dr;

    memset(&x, 0, sizeof(x));
    if (!hv_mock_cpu_in_guest(c->index))
        return false;
    if (hv_mock_cpu_take_nmi(c->index)) {
        x.reason = HV_EXIT_EXCEPTION_NMI;
        x.intr_info = NMI_EXIT_INFO;
    } else if (proc_controls() & HV_PROC_NMI_WINDOW_EXITING) {
        x.reason = HV_EXIT_NMI_WINDOW;
    } else if ((dr = __atomic_exchange_n(&c->dr_req, 0u, __ATOMIC_ACQ_REL)) != 0) {
        /* The guest executes MOV RAX, DRn at its RIP. */
        memset(insn, 0x90, sizeof(insn));
        insn[0] = 0x0F;
        insn[1] = 0x21;
        insn[2] = (uint8_t)(0xC0u | (dr - 1u) << 3);
        (void)hv_mock_gmem_write(HV_MOCK_DBG_SIM_CODE_GPA + 16u * c->index, insn, sizeof(insn));
        hv_mock_vmcs_seed(HV_VMCS_GUEST_RIP, HV_MOCK_DBG_SIM_CODE_GVA + 16u * c->index);
        if (proc_controls() & HV_PROC_MOV_DR_EXITING) {
            hv_mock_cpu(c->index)->pid = __atomic_load_n(&c->dr_pid, __ATOMIC_ACQUIRE);
            x.reason = HV_EXIT_MOV_DR;
            x.qualification = (uint64_t)(dr - 1u) | (uint64_t)HV_DR_MOV_FROM_DR << 4 | (uint64_t)HV_GPR_RAX << 8;
            x.instruction_len = 3;
            (void)hv_mock_exit(&x);
            count_injection(c);
        }
        __atomic_fetch_add(&c->dr_done, 1u, __ATOMIC_RELEASE);
        return true;
    } else {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (c->index != 0 || (now.tv_sec - last->tv_sec) * 1000000000L + (now.tv_nsec - last->tv_nsec) < 1000000L)
            return false;
        *last = now;
        x.reason = HV_EXIT_PREEMPTION_TIMER; /* core 0 owns the UART */
    }
    (void)hv_mock_exit(&x);
    count_injection(c);
    return true;
}

static void *core_main(void *arg)
{
    struct sim_core *c = arg;
    struct hv_mock_dbg_sim *s = c->sim;
    struct timespec last;
    bool took;

    hv_mock_cpu_bind(c->index);
    clock_gettime(CLOCK_MONOTONIC, &last);
    while (!sim_stopping(s)) {
        __atomic_fetch_add(&c->steps, 1u, __ATOMIC_RELAXED);
        if (c->index == s->cfg.stuck_core) {
            nap_us(200);
            continue;
        }
        hv_mock_cpu_lock(c->index);
        took = guest_step(c, &last);
        hv_mock_cpu_unlock(c->index);
        if (!took)
            nap_us(100);
    }
    return NULL;
}

static void *timer_main(void *arg)
{
    struct hv_mock_dbg_sim *s = arg;

    while (!sim_stopping(s)) {
        if (hv_debugger_events_pending(s->hv))
            (void)hv_debugger_apply_events(s->hv);
        nap_us(2000);
    }
    return NULL;
}

static hv_status_t map_guest_memory(uint32_t ncores)
{
    uint64_t root = hv_mock_gmem_new_table();
    uint8_t page[4096];
    hv_status_t st;
    uint32_t i;

    st = hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, HV_MOCK_DBG_SIM_CODE_GVA, HV_MOCK_DBG_SIM_CODE_GPA, 4096, 0);
    if (hv_success(st))
        st = hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, HV_MOCK_DBG_SIM_DATA_GVA, HV_MOCK_DBG_SIM_DATA_GPA,
                              4096, 2);
    if (!hv_success(st))
        return st;
    memset(page, 0x90, sizeof(page));
    if (!hv_mock_gmem_write(HV_MOCK_DBG_SIM_CODE_GPA, page, sizeof(page)))
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    for (i = 0; i < sizeof(page); i++)
        page[i] = (uint8_t)i;
    if (!hv_mock_gmem_write(HV_MOCK_DBG_SIM_DATA_GPA, page, sizeof(page)))
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    for (i = 0; i < ncores; i++) {
        hv_mock_vmcs_seed_on(i, HV_VMCS_GUEST_CR3, root);
        hv_mock_vmcs_seed_on(i, HV_VMCS_GUEST_RIP, HV_MOCK_DBG_SIM_CODE_GVA + 16u * i);
    }
    return HV_STATUS_SUCCESS;
}

static void stop_threads(struct hv_mock_dbg_sim *s)
{
    uint32_t i;

    __atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
    if (s->timer_started)
        pthread_join(s->timer, NULL);
    s->timer_started = false;
    for (i = 0; i < SIM_MAX_CORES; i++) {
        if (s->cores[i].started)
            pthread_join(s->cores[i].thread, NULL);
        s->cores[i].started = false;
    }
}

hv_status_t hv_mock_dbg_sim_start(const struct hv_mock_dbg_sim_config *cfg, struct hv_mock_dbg_sim **out)
{
    struct hv_mock_dbg_sim *s;
    struct hv_config hc;
    hv_status_t st;
    uint32_t i;

    if (cfg == NULL || out == NULL || cfg->size < sizeof(*cfg) || cfg->ncores == 0 || cfg->ncores > SIM_MAX_CORES)
        return HV_STATUS_INVALID_PARAMETER;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    s->cfg = *cfg;
    if (s->cfg.port == 0)
        s->cfg.port = 0x3F8;
    st = hv_mock_init(cfg->ncores, HV_MOCK_PROFILE_HASWELL);
    if (!hv_success(st))
        goto mock_init_failed;
    if (cfg->x2apic)
        hv_mock_msr_set(HV_MOCK_ALL_CPUS, 0x1B, 0xFEE00C00ull);
    hv_mock_uart_attach(s->cfg.port, cfg->fd);
    hv_config_init(&hc);
    hc.debug_port = s->cfg.port;
    hc.debug_baud = cfg->baud;
    hc.debug_halt_timeout_ms = cfg->halt_timeout_ms;
    hc.debug_tsc_per_ms = 1000000u; /* the mock's TSC counts nanoseconds */
    st = hv_create(&s->hv, hv_mock_os(), &hc);
    if (!hv_success(st))
        goto create_failed;
    st = hv_start(s->hv);
    if (!hv_success(st))
        goto start_failed;
    st = map_guest_memory(cfg->ncores);
    if (!hv_success(st))
        goto guest_memory_failed;
    for (i = 0; i < cfg->ncores; i++) {
        s->cores[i].sim = s;
        s->cores[i].index = i;
        if (pthread_create(&s->cores[i].thread, NULL, core_main, &s->cores[i]) != 0) {
            st = HV_STATUS_INSUFFICIENT_RESOURCES;
            goto threads_failed;
        }
        s->cores[i].started = true;
    }
    if (pthread_create(&s->timer, NULL, timer_main, s) != 0) {
        st = HV_STATUS_INSUFFICIENT_RESOURCES;
        goto threads_failed;
    }
    s->timer_started = true;
    *out = s;
    return HV_STATUS_SUCCESS;

threads_failed:
    stop_threads(s);
guest_memory_failed:
    (void)hv_stop(s->hv);
start_failed:
    hv_destroy(s->hv);
create_failed:
    hv_mock_uart_detach();
    hv_mock_fini();
mock_init_failed:
    free(s);
    return st;
}

void hv_mock_dbg_sim_stop(struct hv_mock_dbg_sim *s)
{
    if (s == NULL)
        return;
    /* A halted machine would keep its core threads in VMX root: release
     * them as GO does (no debugger is left to say it). */
    __atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
    hv_debugger_release(s->hv);
    stop_threads(s);
    (void)hv_stop(s->hv);
    hv_destroy(s->hv);
    hv_mock_uart_detach();
    hv_mock_fini();
    free(s);
}

struct hv *hv_mock_dbg_sim_hv(struct hv_mock_dbg_sim *s)
{
    return s != NULL ? s->hv : NULL;
}

hv_status_t hv_mock_dbg_sim_dr_access(struct hv_mock_dbg_sim *s, uint32_t core, uint64_t pid, uint32_t dr)
{
    if (s == NULL || core >= s->cfg.ncores || dr > 7)
        return HV_STATUS_INVALID_PARAMETER;
    __atomic_store_n(&s->cores[core].dr_pid, pid, __ATOMIC_RELEASE);
    __atomic_store_n(&s->cores[core].dr_req, dr + 1u, __ATOMIC_RELEASE);
    return HV_STATUS_SUCCESS;
}

uint64_t hv_mock_dbg_sim_guest_steps(struct hv_mock_dbg_sim *s, uint32_t core)
{
    return s != NULL && core < s->cfg.ncores ? __atomic_load_n(&s->cores[core].steps, __ATOMIC_RELAXED) : 0;
}

uint64_t hv_mock_dbg_sim_guest_nmis(struct hv_mock_dbg_sim *s, uint32_t core)
{
    return s != NULL && core < s->cfg.ncores ? __atomic_load_n(&s->cores[core].guest_nmis, __ATOMIC_RELAXED) : 0;
}

uint64_t hv_mock_dbg_sim_dr_done(struct hv_mock_dbg_sim *s, uint32_t core)
{
    return s != NULL && core < s->cfg.ncores ? __atomic_load_n(&s->cores[core].dr_done, __ATOMIC_ACQUIRE) : 0;
}
