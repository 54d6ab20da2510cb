/* The PsWriteMsr-style API against the simulated target: the names and
 * numeric statuses users of that SDK rely on. */
#include "support.h"

#include <hvcore/client/pulse.h>

static PPS_ENGINE eng;

static int open_sim(void **state)
{
    (void)state;
    return EngCreateEngine(&eng, "sim:cores=4") == PULSE_STATUS_SUCCESS ? 0 : -1;
}

static int close_sim(void **state)
{
    (void)state;
    EngDestroyEngine(eng);
    eng = NULL;
    return 0;
}

static void status_values_are_the_sdk_ones(void **state)
{
    (void)state;
    assert_int_equal(PULSE_STATUS_SUCCESS, 0);
    assert_int_equal(PULSE_STATUS_INSUFFICIENT_RESOURCES, 0xC0000002u);
    assert_int_equal(PULSE_STATUS_READ_FAILED, 0xC0000003u);
    assert_int_equal(PULSE_STATUS_WRITE_FAILED, 0xC0000004u);
    assert_int_equal(PULSE_STATUS_TIMEOUT, 0xC0000007u);
    assert_int_equal(PULSE_STATUS_INVALID_PARAMETER, 0xC0000010u);
    assert_int_equal(PULSE_STATUS_INVALID_PACKET, 0xC0000031u);
    assert_int_equal(PULSE_STATUS_DEVICE_CONNECTION_LOST, 0xC0000308u);
    assert_int_equal(PULSE_STATUS_EXCEPTION_GENERAL_PROTECTION, 0xC001000Du);
}

static void ps_write_msr_writes_every_core(void **state)
{
    UINT64 v[4];
    UINT32 n = 0, i;

    (void)state;
    assert_int_equal(PsWriteMsr(eng, 0xC0000082, 0xfffff80773553180ull), PULSE_STATUS_SUCCESS);
    assert_int_equal(PsReadMsr(eng, 0xC0000082, PULSE_ALL_CORES, v, 4, &n), PULSE_STATUS_SUCCESS);
    assert_int_equal(n, 4);
    for (i = 0; i < 4; i++)
        assert_int_equal(v[i], 0xfffff80773553180ull);
    /* the per-core form */
    assert_int_equal(PsWriteMsrOnCore(eng, 0x175, 0xfffffe0000001000ull, 2), PULSE_STATUS_SUCCESS);
    assert_int_equal(PsReadMsr(eng, 0x175, 2, v, 1, &n), PULSE_STATUS_SUCCESS);
    assert_int_equal(n, 1);
    assert_int_equal(v[0], 0xfffffe0000001000ull);
    assert_int_equal(PsReadMsr(eng, 0x175, 1, v, 1, &n), PULSE_STATUS_SUCCESS);
    assert_int_not_equal(v[0], 0xfffffe0000001000ull);
}

static void documented_statuses(void **state)
{
    UINT64 v[4];
    UINT32 n;

    (void)state;
    /* NULL engine */
    assert_int_equal(PsWriteMsr(NULL, 0xC0000082, 0), PULSE_STATUS_INVALID_PARAMETER);
    assert_int_equal(EngCreateEngine(NULL, "sim"), PULSE_STATUS_INVALID_PARAMETER);
    /* #GP: an MSR no CPU has, a forbidden value */
    assert_int_equal(PsWriteMsr(eng, 0xDEADBEEF, 1), PULSE_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(PsWriteMsr(eng, 0x175, 0x0000800000000000ull), PULSE_STATUS_EXCEPTION_GENERAL_PROTECTION);
    /* bad arguments */
    assert_int_equal(PsWriteMsr(eng, 0x100000000ull, 1), PULSE_STATUS_INVALID_PARAMETER);
    assert_int_equal(PsWriteMsrOnCore(eng, 0x175, 1, 4), PULSE_STATUS_INVALID_PARAMETER);
    assert_int_equal(PsReadMsr(eng, 0x175, PULSE_ALL_CORES, v, 3, &n), PULSE_STATUS_INVALID_PARAMETER);
    /* peer gone: nobody listens there */
    {
        PPS_ENGINE t = NULL;

        assert_int_equal(EngCreateEngine(&t, "tcp:127.0.0.1:1"), PULSE_STATUS_DEVICE_CONNECTION_LOST);
        assert_null(t);
    }
    /* a second simulated machine in one process is refused, not corrupted */
    {
        PPS_ENGINE t = NULL;

        assert_int_not_equal(EngCreateEngine(&t, "sim:cores=2"), PULSE_STATUS_SUCCESS);
        assert_int_equal(EngCreateEngine(&t, "sim:cores=0"), PULSE_STATUS_INVALID_PARAMETER);
        assert_int_equal(EngCreateEngine(&t, "bogus"), PULSE_STATUS_INVALID_PARAMETER);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_values_are_the_sdk_ones),
        cmocka_unit_test_setup_teardown(ps_write_msr_writes_every_core, open_sim, close_sim),
        cmocka_unit_test_setup_teardown(documented_statuses, open_sim, close_sim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
