/*
 * Stress: threads act as cores and fire DR-access exits while another
 * thread adds, removes, enables and disables events and a reader drains
 * the rings. Run under ThreadSanitizer in the test command.
 *
 * Then: no record is lost without being counted, none is duplicated, none
 * is torn, and the permanent event saw every exit of every core.
 */
#include "support.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CORES 3            /* firing threads; core 3 is left to the mutator */
#define EXITS 4000
static struct hv *g_hv;
static atomic_bool done_firing;
static uint32_t permanent;

static void *core_thread(void *arg)
{
    uint32_t core = (uint32_t)(uintptr_t)arg, i;
    struct hv_mock_exit x = { .reason = HV_EXIT_MOV_DR, .instruction_len = 3,
                              .qualification = HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RBX) };
    struct hv_vcpu *v;

    hv_mock_cpu_bind(core);
    hv_mock_cpu(core)->pid = 100 + core;
    v = hv_mock_current_vcpu();
    for (i = 1; i <= EXITS; i++) {
        hv_mock_cpu_lock(core);
        /* value: counter in bits 31:16, core in bits 3:0 (DR7-legal) */
        v->gprs.r[HV_GPR_RBX] = ((uint64_t)i << 16) | core;
        hv_mock_cpu_unlock(core);
        if (hv_mock_exit(&x) != HV_ACTION_RESUME)
            abort();
        /* A producer much faster than its reader only tests dropping;
         * keep the reader mostly in reach (drops may still happen). */
        while (hv_msg_readable(hv_event_ring(g_hv, core)) + hv_msg_pending(hv_event_ring(g_hv, core)) > 768)
            sched_yield();
    }
    return NULL;
}

/* One more exit on `core` after everything was read: its record reports
 * any drops that no later record could report. */
static void sentinel(uint32_t core)
{
    struct hv_mock_exit x = { .reason = HV_EXIT_MOV_DR, .instruction_len = 3,
                              .qualification = HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RBX) };

    hv_mock_cpu_bind(core);
    hv_mock_current_vcpu()->gprs.r[HV_GPR_RBX] = ((uint64_t)(EXITS + 1) << 16) | core;
    if (hv_mock_exit(&x) != HV_ACTION_RESUME)
        abort();
}

static void *mutator(void *arg)
{
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS };
    uint32_t ids[16], n = 0, round = 0;

    (void)arg;
    while (!atomic_load(&done_firing)) {
        s.pid = (round & 1) ? HV_EVENT_ANY_PID : 100 + round % CORES;
        s.core = (round & 2) ? HV_EVENT_ANY_CORE : round % 4;
        s.imm = round & 4;
        if (n < 16 && hv_event_add(g_hv, &s, &ids[n]) == HV_STATUS_SUCCESS)
            n++;
        if (n > 0 && (round % 3) == 0)
            (void)hv_event_disable(g_hv, ids[round % n]);
        if (n > 0 && (round % 5) == 0)
            (void)hv_event_enable(g_hv, ids[round % n]);
        if (n > 8) {
            (void)hv_event_remove(g_hv, ids[0]);
            memmove(ids, ids + 1, (n - 1) * sizeof(ids[0]));
            n--;
        }
        round++;
    }
    return NULL;
}

struct seen {
    uint64_t next_seq, records, lost, permanent_records, lost_records;
    uint32_t last_counter;
};
static struct seen seen[CORES];
static atomic_int errors;

static void check(uint32_t core, const struct hv_msg_record *r)
{
    struct seen *s = &seen[core];
    struct hv_msg_dr_access a;

    memcpy(&a, r->payload, sizeof(a));
    /* in order, no duplicate, gaps exactly the counted drops */
    if (r->h.seq != s->next_seq + r->h.lost_before || r->h.core != core || r->h.pid != 100 + core ||
        (a.value & 0xF) != core || a.dr != 7 || r->h.kind != HV_MSG_DR_ACCESS)
        atomic_fetch_add(&errors, 1);
    s->next_seq = r->h.seq + 1;
    s->records++;
    s->lost += r->h.lost_before;
    if (r->h.lost_before)
        s->lost_records++;
    if (r->h.event_id == permanent) {
        uint32_t counter = (uint32_t)(a.value >> 16);

        /* the permanent event's records carry strictly increasing counters */
        if (counter <= s->last_counter)
            atomic_fetch_add(&errors, 1);
        s->last_counter = counter;
        s->permanent_records++;
    }
}

static void drain_all(void)
{
    struct hv_msg_record r[64];
    uint32_t c, n, i;

    for (c = 0; c < CORES; c++)
        while ((n = hv_msg_get(hv_event_ring(g_hv, c), r, 64)) > 0)
            for (i = 0; i < n; i++)
                check(c, &r[i]);
}

static void *reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&done_firing)) {
        (void)hv_event_flush(g_hv);
        drain_all();
    }
    return NULL;
}

static void add_remove_while_firing(void **state)
{
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS, .pid = HV_EVENT_ANY_PID,
                               .core = HV_EVENT_ANY_CORE, .imm = true };
    pthread_t th[CORES], mt, rd;
    uint32_t c;

    (void)state;
    assert_int_equal(support_setup_machine(4, HV_MOCK_PROFILE_HASWELL), 0);
    g_hv = support_start_hv();
    assert_int_equal(hv_event_add(g_hv, &s, &permanent), HV_STATUS_SUCCESS);
    for (c = 0; c < CORES; c++)
        seen[c].next_seq = 1;

    pthread_create(&mt, NULL, mutator, NULL);
    pthread_create(&rd, NULL, reader, NULL);
    for (c = 0; c < CORES; c++)
        pthread_create(&th[c], NULL, core_thread, (void *)(uintptr_t)c);
    for (c = 0; c < CORES; c++)
        pthread_join(th[c], NULL);
    atomic_store(&done_firing, true);
    pthread_join(mt, NULL);
    pthread_join(rd, NULL);
    (void)hv_event_flush(g_hv);
    drain_all();
    /* Only the permanent event is left enabled for the sentinels. */
    {
        struct hv_event_info info[32];
        uint32_t n = 0, i;

        assert_int_equal(hv_event_list(g_hv, info, 32, &n), HV_STATUS_SUCCESS);
        for (i = 0; i < n && i < 32; i++)
            if (info[i].id != permanent)
                assert_int_equal(hv_event_remove(g_hv, info[i].id), HV_STATUS_SUCCESS);
    }
    for (c = 0; c < CORES; c++)
        sentinel(c);
    (void)hv_event_flush(g_hv);
    drain_all();

    for (c = 0; c < CORES; c++) {
        uint64_t dropped = hv_msg_dropped(hv_event_ring(g_hv, c));

        print_message("core %u: %llu records, %llu dropped (all reported: %s), %llu from the permanent event\n", c,
                      (unsigned long long)seen[c].records, (unsigned long long)dropped,
                      seen[c].lost == dropped ? "yes" : "NO", (unsigned long long)seen[c].permanent_records);
        /* Every drop was reported to the reader by the record after it. */
        assert_int_equal(seen[c].lost, dropped);
        /* The permanent event fired on every exit (sentinel included). */
        if (dropped == 0)
            assert_int_equal(seen[c].permanent_records, EXITS + 1);
        assert_int_equal(seen[c].last_counter, EXITS + 1);
    }
    assert_int_equal(atomic_load(&errors), 0);
    support_stop_hv(g_hv);
    hv_mock_fini();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_remove_while_firing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
