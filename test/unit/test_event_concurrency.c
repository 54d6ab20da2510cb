/*
 * Event engine under concurrent callers (issue 11, section 5): engine
 * creation cannot race, MOV-DR exiting follows its reference count whatever
 * order the requests run in, and a failed cross-call is never taken for a
 * grace period. Given/when/then against the mock; each failed before the
 * change that made it pass. Also run under ThreadSanitizer.
 */
#define _POSIX_C_SOURCE 200809L
#include "support.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

static struct hv *g_hv;

static int start(void **state)
{
    (void)state;
    if (support_setup_machine(2, HV_MOCK_PROFILE_HASWELL))
        return -1;
    g_hv = support_start_hv();
    return 0;
}

static int stop(void **state)
{
    (void)state;
    support_stop_hv(g_hv); /* destroy frees everything, the retired memory included */
    g_hv = NULL;
    hv_mock_fini();
    return 0;
}

static struct hv_event_spec spec(void)
{
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS, .pid = HV_EVENT_ANY_PID,
                               .core = HV_EVENT_ANY_CORE, .imm = true, .buffer_size = 64 };
    return s;
}

/* ---- two first adds at once ----------------------------------------------- */

/* An OS whose first two page allocations wait for each other, so that two
 * threads are inside the engine's creation at the same time. */
static struct hv_os_ops racy_os;
static pthread_barrier_t both_in;
static atomic_int to_hold;

static void *racy_alloc(void *ctx, size_t count)
{
    if (atomic_fetch_sub(&to_hold, 1) > 0)
        pthread_barrier_wait(&both_in);
    return hv_mock_os()->alloc_pages(ctx, count);
}

static void *first_add(void *arg)
{
    struct hv_event_spec s = spec();

    *(hv_status_t *)arg = hv_event_add(g_hv, &s, &(uint32_t){ 0 });
    return NULL;
}

static void two_first_adds_make_one_engine(void **state)
{
    pthread_t t[2];
    hv_status_t st[2];
    struct hv_event_info info[4];
    uint32_t n = 0;

    (void)state;
    /* Given a hypervisor on an OS that makes both first adds overlap... */
    support_stop_hv(g_hv);
    racy_os = *hv_mock_os();
    racy_os.alloc_pages = racy_alloc;
    assert_int_equal(hv_create(&g_hv, &racy_os, NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(g_hv), HV_STATUS_SUCCESS);
    pthread_barrier_init(&both_in, NULL, 2);
    atomic_store(&to_hold, 2);
    /* ...when two threads add the first events at the same time... */
    pthread_create(&t[0], NULL, first_add, &st[0]);
    pthread_create(&t[1], NULL, first_add, &st[1]);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    pthread_barrier_destroy(&both_in);
    /* ...then both succeed, one engine holds both events, and the loser's
     * engine was freed (stop() checks that nothing is left). */
    assert_int_equal(st[0], HV_STATUS_SUCCESS);
    assert_int_equal(st[1], HV_STATUS_SUCCESS);
    assert_int_equal(hv_event_list(g_hv, info, 4, &n), HV_STATUS_SUCCESS);
    assert_int_equal(n, 2);
    assert_int_not_equal(info[0].id, info[1].id);
}

/* ---- MOV-DR exiting follows the count, not the order ------------------------ */

static bool movdr_on(uint32_t core)
{
    uint64_t proc = 0;
    uint32_t prev = hv_mock_cpu_bind(core);

    assert_true(hv_mock_vmcs_peek(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, &proc));
    hv_mock_cpu_bind(prev);
    return (proc & HV_PROC_MOV_DR_EXITING) != 0;
}

/* An OS that, the first time it is asked to run something on a CPU, lets
 * another caller's whole get (count 0 -> 1 and its request) run first: the
 * two requests reach root in the opposite order of the count changes. */
static struct hv_os_ops reorder_os;
static atomic_bool interleave;

static hv_status_t reorder_run_on_cpu(void *ctx, uint32_t cpu, hv_cpu_fn fn, void *arg)
{
    if (atomic_exchange(&interleave, false))
        assert_int_equal(hv_movdr_exiting_get(g_hv, cpu), HV_STATUS_SUCCESS);
    return hv_mock_os()->run_on_cpu(ctx, cpu, fn, arg);
}

static void movdr_exiting_follows_the_final_count(void **state)
{
    (void)state;
    support_stop_hv(g_hv);
    reorder_os = *hv_mock_os();
    reorder_os.run_on_cpu = reorder_run_on_cpu;
    assert_int_equal(hv_create(&g_hv, &reorder_os, NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(g_hv), HV_STATUS_SUCCESS);
    /* Given one reference on core 1: exiting on... */
    assert_int_equal(hv_movdr_exiting_get(g_hv, 1), HV_STATUS_SUCCESS);
    assert_true(movdr_on(1));
    /* ...when its holder drops it (1 -> 0) while another caller takes one
     * (0 -> 1) whose request runs in root first... */
    atomic_store(&interleave, true);
    assert_int_equal(hv_movdr_exiting_put(g_hv, 1), HV_STATUS_SUCCESS);
    /* ...then the late request of the drop leaves exiting on: one live
     * reference remains. */
    assert_int_equal(g_hv->vcpus[1].movdr_refs, 1);
    assert_true(movdr_on(1));
    assert_int_equal(hv_movdr_exiting_put(g_hv, 1), HV_STATUS_SUCCESS);
    assert_false(movdr_on(1));
    /* Below zero is refused, never wrapped. */
    assert_int_equal(hv_movdr_exiting_put(g_hv, 1), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(g_hv->vcpus[1].movdr_refs, 0);
}

/* ---- a failed cross-call is no grace period ---------------------------------- */

static void failed_grace_period_frees_nothing_exits_may_read(void **state)
{
    struct hv_event_spec s = spec();
    uint32_t id = 0, before;

    (void)state;
    /* Given an event with a buffer that exits read... */
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_SUCCESS);
    before = hv_mock_os_outstanding_allocs();
    /* ...when it is removed and the OS cannot run the grace-period
     * cross-call on every CPU... */
    hv_mock_os_fail_cpu_call_at(1);
    assert_int_equal(hv_event_remove(g_hv, id), HV_STATUS_SUCCESS);
    /* ...then it is gone from the list, but neither it nor the snapshot an
     * exit may still be reading was freed (an empty table publishes no new
     * snapshot, so the count is exactly what it was). */
    assert_int_equal(hv_event_list(g_hv, NULL, 0, &id), HV_STATUS_SUCCESS);
    assert_int_equal(id, 0);
    assert_int_equal(hv_mock_os_outstanding_allocs(), before);
    /* The same for clearing everything. */
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_SUCCESS);
    before = hv_mock_os_outstanding_allocs();
    hv_mock_os_fail_cpu_call_at(1);
    assert_int_equal(hv_event_clear(g_hv), HV_STATUS_SUCCESS);
    assert_int_equal(hv_mock_os_outstanding_allocs(), before);
    /* A successful grace period frees as before. */
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_SUCCESS);
    before = hv_mock_os_outstanding_allocs();
    assert_int_equal(hv_event_remove(g_hv, id), HV_STATUS_SUCCESS);
    assert_true(hv_mock_os_outstanding_allocs() < before);
    /* stop(): destroy, after hv_stop, frees what was kept. */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_first_adds_make_one_engine, start, stop),
        cmocka_unit_test_setup_teardown(movdr_exiting_follows_the_final_count, start, stop),
        cmocka_unit_test_setup_teardown(failed_grace_period_frees_nothing_exits_may_read, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
