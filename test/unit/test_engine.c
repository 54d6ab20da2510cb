/* The engine on the tcp target against an in-process stub over a
 * simulated machine: requests, events, and the pollable message handle. */
#include "support.h"

#include <hvcore/client/engine.h>
#include <hvcore/client/wire.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
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
        cmocka_unit_test(local_target_without_the_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
