/* The engine on the tcp target against an in-process stub over a
 * simulated machine: requests, events, and the pollable message handle. */
#define _POSIX_C_SOURCE 200809L
#include "support.h"

#include <hvcore/abi_exec.h>
#include <hvcore/client/engine.h>
#include <hvcore/client/wire.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <time.h>
#include <unistd.h>

static struct hv_engine *sim;
static volatile sig_atomic_t stop;
static int lfd;
static uint16_t port;
static pthread_t server;

static void *serve_main(void *arg)
{
    (void)arg;
    (void)hv_engine_serve(sim, lfd, &stop);
    return NULL;
}

static int start_stub(void **state)
{
    (void)state;
    __atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
    if (!hv_success(hv_engine_create(&sim, "sim:cores=2")) || !hv_success(hv_wire_listen("127.0.0.1", 0, &lfd)) ||
        !hv_success(hv_wire_local_port(lfd, &port)))
        return -1;
    return pthread_create(&server, NULL, serve_main, NULL) == 0 ? 0 : -1;
}

static int stop_stub(void **state)
{
    (void)state;
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(server, NULL);
    close(lfd);
    hv_engine_destroy(sim);
    return 0;
}

static struct hv_engine *client(void)
{
    char target[64];
    struct hv_engine *e = NULL;

    snprintf(target, sizeof(target), "tcp:127.0.0.1:%u", port);
    assert_int_equal(hv_engine_create(&e, target), HV_STATUS_SUCCESS);
    assert_int_equal(hv_engine_cpu_count(e), 2);
    return e;
}

static void msr_and_events_over_tcp(void **state)
{
    struct hv_engine *e = client();
    struct hv_abi_msr_result r[2];
    struct hv_abi_event_info info[4];
    struct hv_engine_event ev = { .pid = 0x490, .core = HV_ABI_ALL_CORES, .imm = true, .action_break = true };
    uint32_t n = 0, id = 0;

    (void)state;
    assert_int_equal(hv_engine_msr_write(e, 1, 0x175, 0xfffffe0000002000ull, r, 2, &n), HV_STATUS_SUCCESS);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].route, 1);
    assert_int_equal(hv_engine_msr_read(e, HV_ABI_ALL_CORES, 0x175, r, 2, &n), HV_STATUS_SUCCESS);
    assert_int_equal(n, 2);
    assert_int_equal(r[1].value, 0xfffffe0000002000ull);
    assert_int_not_equal(r[0].value, 0xfffffe0000002000ull);
    assert_int_equal(hv_engine_msr_read(e, 0, 0xDEADBEEF, r, 2, &n), HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_engine_event_add(e, &ev, &id), HV_STATUS_SUCCESS);
    assert_int_equal(hv_engine_event_list(e, info, 4, &n), HV_STATUS_SUCCESS);
    assert_int_equal(n, 1);
    assert_int_equal(info[0].pid, 0x490);
    assert_int_equal(hv_engine_event_ctl(e, HV_ABI_EVENT_REMOVE, id), HV_STATUS_SUCCESS);
    assert_int_equal(hv_engine_event_ctl(e, HV_ABI_EVENT_REMOVE, id), HV_STATUS_NOT_FOUND);
    hv_engine_destroy(e);
}

static void pollable_message_handle(void **state)
{
    struct hv_engine *e = client();
    struct hv_engine_event ev = { .pid = HV_ABI_ALL_CORES, .core = HV_ABI_ALL_CORES, .imm = true };
    struct hv_msg_record rec[8];
    struct pollfd p;
    uint32_t id = 0, n = 0;

    (void)state;
    ev.pid = UINT64_MAX;
    assert_int_equal(hv_engine_event_add(e, &ev, &id), HV_STATUS_SUCCESS);
    p.fd = hv_engine_fd(e);
    p.events = POLLIN;
    assert_true(p.fd >= 0);
    /* Given nothing happened, the handle stays quiet... */
    assert_int_equal(poll(&p, 1, 150), 0);
    /* ...when the guest on core 1 writes DR7, it becomes readable. */
    assert_int_equal(hv_engine_simulate_dr(e, 1, 0x77, 0x401), HV_STATUS_SUCCESS);
    assert_int_equal(poll(&p, 1, 3000), 1);
    assert_int_equal(hv_engine_read(e, rec, 8, &n, 0), HV_STATUS_SUCCESS);
    assert_int_equal(n, 1);
    assert_int_equal(rec[0].h.core, 1);
    assert_int_equal(rec[0].h.pid, 0x77);
    assert_int_equal(rec[0].h.event_id, id);
    /* Nothing more: a read with a short timeout says so. */
    assert_int_equal(hv_engine_read(e, rec, 8, &n, 100), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_engine_event_ctl(e, HV_ABI_EVENT_REMOVE, HV_ABI_EVENT_ALL), HV_STATUS_SUCCESS);
    hv_engine_destroy(e);
}

static hv_status_t rings(struct hv_engine *e, struct hv_abi_event_rings *r, uint32_t capacity, size_t size)
{
    size_t len = 0;

    memset(r, 0, size);
    r->hdr.size = (uint32_t)size;
    r->hdr.version = HV_ABI_VERSION;
    r->capacity = capacity;
    return hv_engine_request(e, HV_ABI_REQ_EVENT_RINGS, r, size, &len);
}

/* EVENT_RINGS: records produced, dropped and read per core add up exactly. */
static void ring_counters_over_tcp(void **state)
{
    struct hv_engine *e = client();
    struct {
        struct hv_abi_event_rings r;
        struct hv_abi_ring_stats s[2];
    } q;
    struct hv_engine_event ev = { .pid = UINT64_MAX, .core = HV_ABI_ALL_CORES, .imm = true };
    struct hv_msg_record rec[8];
    uint32_t id = 0, n = 0, i, got = 0;
    uint64_t lost = 0;

    (void)state;
    /* Given no event was ever added, there are no rings yet. */
    assert_int_equal(rings(e, &q.r, 2, sizeof(q)), HV_STATUS_SUCCESS);
    assert_int_equal(q.r.count, 0);
    /* When core 0 produces more records than its ring holds and core 1 three, */
    assert_int_equal(hv_engine_event_add(e, &ev, &id), HV_STATUS_SUCCESS);
    for (i = 0; i < 1030; i++)
        assert_int_equal(hv_engine_simulate_dr(e, 0, 0x10, i), HV_STATUS_SUCCESS);
    for (i = 0; i < 3; i++)
        assert_int_equal(hv_engine_simulate_dr(e, 1, 0x11, i), HV_STATUS_SUCCESS);
    /* then each ring counts what got in and what was dropped. */
    assert_int_equal(rings(e, &q.r, 2, sizeof(q)), HV_STATUS_SUCCESS);
    assert_int_equal(q.r.count, 2);
    assert_int_equal(q.s[0].core, 0);
    assert_int_equal(q.s[0].produced + q.s[0].dropped, 1030);
    assert_int_equal(q.s[0].produced, q.s[0].capacity);
    assert_int_equal(q.s[0].unreported, q.s[0].dropped);
    assert_int_equal(q.s[0].readable, q.s[0].capacity);
    assert_int_equal(q.s[1].core, 1);
    assert_int_equal(q.s[1].produced, 3);
    assert_int_equal(q.s[1].dropped, 0);
    /* When a few are read and one more gets into core 0's ring, */
    assert_int_equal(hv_engine_read(e, rec, 8, &n, 1000), HV_STATUS_SUCCESS);
    for (i = 0; i < n; i++)
        lost += rec[i].h.lost_before;
    got = n;
    /* (reading took records from core 0 or core 1: free one slot on core 0) */
    while (rings(e, &q.r, 2, sizeof(q)) == HV_STATUS_SUCCESS && q.s[0].consumed == 0) {
        assert_int_equal(hv_engine_read(e, rec, 8, &n, 1000), HV_STATUS_SUCCESS);
        got += n;
    }
    assert_int_equal(hv_engine_simulate_dr(e, 0, 0x10, 0), HV_STATUS_SUCCESS);
    assert_int_equal(rings(e, &q.r, 2, sizeof(q)), HV_STATUS_SUCCESS);
    /* then the drops moved into that record's lost_before, and reads are counted. */
    assert_int_equal(q.s[0].produced + q.s[0].dropped, 1031);
    assert_int_equal(q.s[0].unreported, 0);
    assert_int_equal(q.s[0].consumed + q.s[1].consumed, got);
    /* Drain: every record produced is read; the drops all show in lost_before. */
    while (hv_engine_read(e, rec, 8, &n, 200) == HV_STATUS_SUCCESS && n) {
        for (i = 0; i < n; i++)
            lost += rec[i].h.lost_before;
        got += n;
    }
    assert_int_equal(rings(e, &q.r, 2, sizeof(q)), HV_STATUS_SUCCESS);
    assert_int_equal(got, q.s[0].produced + q.s[1].produced);
    assert_int_equal(q.s[0].consumed, q.s[0].produced);
    assert_int_equal(q.s[1].consumed, 3);
    assert_int_equal(lost, q.s[0].dropped);
    /* A capacity beyond the buffer, and a short buffer, are refused. */
    assert_int_equal(rings(e, &q.r, 3, sizeof(q)), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(rings(e, &q.r, 0, sizeof(q.r) - 1), HV_STATUS_INVALID_PARAMETER);
    /* Capacity 1: the count says 2, one entry written. */
    memset(&q, 0xa5, sizeof(q));
    assert_int_equal(rings(e, &q.r, 1, sizeof(q.r) + sizeof(q.s[0])), HV_STATUS_SUCCESS);
    assert_int_equal(q.r.count, 2);
    assert_int_equal(hv_engine_event_ctl(e, HV_ABI_EVENT_REMOVE, HV_ABI_EVENT_ALL), HV_STATUS_SUCCESS);
    hv_engine_destroy(e);
}

/* The stub ends idle sessions (idle_ms); the client's next request, even
 * one never re-sent (EVENT_ADD), goes out on a new session. */
static void *serve_short_idle(void *arg)
{
    struct hv_engine_serve_opts o = { .idle_ms = 100, .log = NULL };

    (void)arg;
    (void)hv_engine_serve_with(sim, lfd, &stop, &o);
    return NULL;
}

static void idle_session_closed_then_event_add_reconnects(void **state)
{
    struct hv_engine_event ev = { .pid = 7, .core = HV_ABI_ALL_CORES };
    struct hv_abi_msr_result r[2];
    struct hv_engine *e;
    struct timespec ts = { 0, 400 * 1000 * 1000 };
    uint32_t id = 0, n = 0;

    (void)state;
    __atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
    assert_int_equal(hv_engine_create(&sim, "sim:cores=2"), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_listen("127.0.0.1", 0, &lfd), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_local_port(lfd, &port), HV_STATUS_SUCCESS);
    assert_int_equal(pthread_create(&server, NULL, serve_short_idle, NULL), 0);
    e = client();
    assert_int_equal(hv_engine_msr_read(e, 0, 0xC0000082u, r, 2, &n), HV_STATUS_SUCCESS);
    nanosleep(&ts, NULL); /* the server closes the session after 100 ms idle */
    assert_int_equal(hv_engine_event_add(e, &ev, &id), HV_STATUS_SUCCESS);
    assert_true(id != 0);
    hv_engine_destroy(e);
    stop_stub(NULL);
}

static void local_target_without_the_device(void **state)
{
    struct hv_engine *e = NULL;

    (void)state;
    if (access("/dev/hvcore", F_OK) == 0)
        skip();
    assert_int_equal(hv_engine_create(&e, "local"), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_null(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(msr_and_events_over_tcp, start_stub, stop_stub),
        cmocka_unit_test_setup_teardown(pollable_message_handle, start_stub, stop_stub),
        cmocka_unit_test_setup_teardown(ring_counters_over_tcp, start_stub, stop_stub),
        cmocka_unit_test(local_target_without_the_device),
        cmocka_unit_test(idle_session_closed_then_event_add_reconnects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
