/*
 * Shared by the script fuzzers: a fake guest for hv_script_run on the mock
 * (4-level page tables with a few mapped pages holding numbers and strings,
 * registers, pseudo-registers, globals) and the checks every run must pass.
 */
#ifndef FUZZ_SCRIPT_ENV_H
#define FUZZ_SCRIPT_ENV_H

#include <hvcore/guest_mem.h>
#include <hvcore/hv.h>
#include <hvcore/msg.h>
#include <hvcore/script.h>
#include <hvcore/testing/mock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_globals[HV_SCRIPT_GLOBAL_SLOTS];
static char g_names[HV_SCRIPT_GLOBAL_SLOTS][HV_SCRIPT_NAME_LEN];
static struct hv_script_verify_scratch g_scratch;
static struct hv_gprs g_gprs;
static struct hv_guest_paging g_paging;
static unsigned g_status_records, g_pauses;
static unsigned long g_runs, g_runs_ok, g_runs_budget, g_runs_err, g_exec;

/* FUZZ_STATS=1: how many inputs got as far as a run, and how they ended. */
static void stats(void)
{
    if (getenv("FUZZ_STATS") != NULL)
        fprintf(stderr, "script runs %lu: ok %lu, budget exhausted %lu, run-time error %lu; %lu instructions\n",
                g_runs, g_runs_ok, g_runs_budget, g_runs_err, g_exec);
}

static void on_failure(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "mock failure: %s\n", msg);
    abort();
}

/* The guest: linear 0x0-0x1fff (so small pushi values are addresses) and
 * 0x7000 map to data pages; the pages after each mapping are absent. */
static void env_init(void)
{
    uint64_t root;

    if (hv_mock_init(1, HV_MOCK_PROFILE_HASWELL) != HV_STATUS_SUCCESS)
        abort();
    hv_mock_set_failure_handler(on_failure, NULL);
    atexit(stats);
    root = hv_mock_gmem_new_table();
    if (hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0x0, 0x5000, 4096, 2) != HV_STATUS_SUCCESS ||
        hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0x1000, 0x6000, 4096, 2) != HV_STATUS_SUCCESS ||
        hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0x7000, 0x8000, 4096, 2) != HV_STATUS_SUCCESS)
        abort();
    g_paging.cr0 = HV_CR0_PG | HV_CR0_PE;
    g_paging.cr3 = root;
    g_paging.cr4 = HV_CR4_PAE;
    g_paging.efer = HV_EFER_LME | HV_EFER_LMA;
}

/* Fresh contents for every input, so a finding replays alone. */
static void env_reset(void)
{
    static uint8_t page[4096];
    uint32_t i;

    for (i = 0; i < sizeof(page); i++)
        page[i] = (uint8_t)(i % 7 == 6 ? 0 : 'a' + i % 26);   /* short strings everywhere */
    memcpy(page + 0xff8, "no-nul!", 8);
    page[0xfff] = 'x';                                       /* runs into the next page */
    hv_mock_gmem_write(0x5000, page, sizeof(page));
    memset(page, 'y', sizeof(page));                         /* one long string, no NUL */
    hv_mock_gmem_write(0x6000, page, sizeof(page));
    hv_mock_gmem_write(0x8000, page, sizeof(page));
    hv_mock_gmem_write64(0x8000, 0x1122334455667788ull);
    memset(g_globals, 0, sizeof(g_globals));
    memset(g_names, 0, sizeof(g_names));
    for (i = 0; i < 16; i++)
        g_gprs.r[i] = i < 8 ? 0x100 * i : 0x7000 + i;
    g_status_records = 0;
    g_pauses = 0;
}

static void emit(void *ctx, uint16_t kind, const void *payload, uint32_t len)
{
    const uint8_t *p = payload;

    (void)ctx;
    if (len == 0 || len > HV_MSG_PAYLOAD_MAX)
        abort();
    if (kind == HV_MSG_SCRIPT) {
        /* Text records end with their NUL. */
        if (p[len - 1] != 0)
            abort();
    } else if (kind == HV_MSG_SCRIPT_STATUS) {
        struct hv_msg_script_status m;

        if (len != sizeof(m))
            abort();
        memcpy(&m, payload, sizeof(m));
        if (m.reason == HV_SCRIPT_END_PAUSE)
            g_pauses++;
        else
            g_status_records++;
    } else {
        abort();
    }
}

static void event_ctl(void *ctx, uint32_t id, bool en)
{
    (void)ctx;
    (void)id;
    (void)en;
}

/* Bind and run a program the verifier accepted; check what every run must
 * do: stay inside its budget, end in a known way, say so once. */
static void run_checked(const uint8_t *prog, uint32_t len)
{
    static struct hv_script_vm vm;
    struct hv_script s;
    struct hv_script_env env;
    hv_status_t st;

    if (hv_script_bind(&s, prog, len, &g_scratch, g_names) != HV_STATUS_SUCCESS)
        abort();   /* verified already, at most 64 globals: binding cannot fail */
    memset(&env, 0, sizeof(env));
    env.os = hv_mock_os();
    env.paging = &g_paging;
    env.gprs = &g_gprs;
    env.rip = 0xFFFFFFFF81000000ull;
    env.rflags = 0x246;
    env.pseudo[HV_SPSEUDO_PID] = 0x490;
    env.pseudo[HV_SPSEUDO_CORE] = 0;
    env.pseudo[HV_SPSEUDO_BUFFER] = 0x7000;
    env.globals = g_globals;
    env.vm = &vm;
    env.emit = emit;
    env.event_ctl = event_ctl;
    env.prefix = "pfx:";
    env.prefix_len = 4;
    st = hv_script_run(&s, &env);
    g_runs++;
    g_exec += env.executed;
    if (st == HV_STATUS_SUCCESS)
        g_runs_ok++;
    else if (st == HV_STATUS_SCRIPT_BUDGET_EXHAUSTED)
        g_runs_budget++;
    else
        g_runs_err++;

    /* Never more instructions than the budget. */
    if (env.executed > s.info.budget)
        abort();
    if (st != env.status)
        abort();
    switch (st) {
    case HV_STATUS_SUCCESS:
        if (env.end != HV_SCRIPT_END_OK || g_status_records != 0)
            abort();
        break;
    case HV_STATUS_SCRIPT_BUDGET_EXHAUSTED:
        if (env.end != HV_SCRIPT_END_BUDGET || env.executed != s.info.budget || g_status_records != 1)
            abort();
        break;
    case HV_STATUS_SCRIPT_INVALID:   /* the interpreter met what the verifier should have refused */
        abort();
    default:   /* a run-time error: division, depth, or the memory status of a bad read */
        if (env.end != HV_SCRIPT_END_ERROR || env.error == HV_SCRIPT_ERR_NONE || g_status_records != 1)
            abort();
        if ((st == HV_STATUS_SCRIPT_RUNTIME_ERROR) != (env.error != HV_SCRIPT_ERR_MEMORY))
            abort();
        break;
    }
}

#endif
