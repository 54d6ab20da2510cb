/* hv_create / hv_start / hv_stop / hv_destroy across fake cores, with
 * every allocation and cross-core call failure driven by fault injection. */
#include "support.h"

#include <string.h>

static int teardown(void **state)
{
    (void)state;
    hv_mock_fini();
    return 0;
}

static void four_cores_virtualize_and_devirtualize(void **state)
{
    struct hv *hv;
    uint32_t i;
    uint64_t cr4[4];

    (void)state;
    assert_int_equal(support_setup_machine(4, HV_MOCK_PROFILE_HASWELL), 0);
    for (i = 0; i < 4; i++)
        cr4[i] = hv_mock_cpu(i)->cr[4];
    hv = support_start_hv();
    for (i = 0; i < 4; i++) {
        /* Given a started hypervisor, every core runs as a guest that
         * answered the VMCALL ping. */
        assert_true(hv_mock_cpu_in_guest(i));
        assert_true(hv->vcpus[i].steps & HV_STEP_LAUNCHED);
        assert_int_equal(hv_mock_exit_count(hv, i, HV_EXIT_VMCALL), 1);
    }
    assert_true(hv_mock_os_log_contains("virtualized (VMLAUNCH ok, VMCALL ping answered)"));
    support_stop_hv(hv);
    for (i = 0; i < 4; i++) {
        /* Then after stop: out of VMX, CR4 back as found. */
        assert_false(hv_mock_cpu_in_guest(i));
        assert_false(hv_mock_cpu(i)->vmx_operation);
        assert_int_equal(hv_mock_cpu(i)->cr[4], cr4[i]);
    }
}

static void every_allocation_failure_cleans_up(void **state)
{
    uint32_t n;
    struct hv *hv = NULL;
    hv_status_t st;

    (void)state;
    assert_int_equal(support_setup_machine(3, HV_MOCK_PROFILE_HASWELL), 0);
    /* Fail the 1st, 2nd, ... allocation until creation no longer needs
     * the failing one; each failure must leave nothing allocated. */
    for (n = 1; n < 100; n++) {
        hv_mock_os_fail_alloc_at(n);
        st = hv_create(&hv, hv_mock_os(), NULL);
        if (st == HV_STATUS_SUCCESS)
            break;
        assert_int_equal(st, HV_STATUS_INSUFFICIENT_RESOURCES);
        assert_null(hv);
        assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
    }
    /* 2 instance allocations + 5 regions for each of 3 cores. */
    assert_int_equal(n, 2 + 3 * 5 + 1);
    hv_mock_os_fail_alloc_at(0);
    hv_destroy(hv);
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
}

static void cross_core_call_failure_is_reported(void **state)
{
    struct hv *hv = NULL;
    uint32_t i;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    hv_mock_os_fail_cpu_call_at(1);
    assert_int_equal(hv_start(hv), HV_STATUS_CPU_CALL_FAILED);
    for (i = 0; i < 2; i++)
        assert_false(hv_mock_cpu(i)->vmx_operation);
    hv_destroy(hv);
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
}

static void failure_on_core_2_rolls_back_cores_0_and_1(void **state)
{
    struct hv *hv = NULL;
    uint32_t i;

    (void)state;
    assert_int_equal(support_setup_machine(4, HV_MOCK_PROFILE_HASWELL), 0);
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    hv_mock_vmx_fail_at(2, HV_MOCK_OP_VMLAUNCH, 1, HV_STATUS_VM_INSTRUCTION_ERROR(7));
    assert_int_equal(hv_start(hv), HV_STATUS_VM_INSTRUCTION_ERROR(7));
    assert_int_equal(hv->failed_cpu, 2);
    assert_true(hv_mock_os_log_contains("cpu 2: virtualization failed: VM_INSTRUCTION_ERROR (0xe0e11007) VM-instruction error 7: VM entry with invalid control field(s)"));
    for (i = 0; i < 4; i++) {
        assert_false(hv_mock_cpu(i)->vmx_operation);
        assert_false(hv_mock_cpu_in_guest(i));
    }
    /* Core 3 was never touched. */
    assert_int_equal(hv_mock_cpu(3)->op_calls[HV_MOCK_OP_VMXON], 0);
    /* Cores 0 and 1 went through a real devirtualize VMCALL. */
    assert_int_equal(hv_mock_exit_count(hv, 0, HV_EXIT_VMCALL), 2);
    assert_int_equal(hv_mock_exit_count(hv, 1, HV_EXIT_VMCALL), 2);
    hv_destroy(hv);
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
}

static void injected_launch_failure_rolls_back(void **state)
{
    struct hv_config cfg;
    struct hv *hv = NULL;

    (void)state;
    assert_int_equal(support_setup_machine(3, HV_MOCK_PROFILE_HASWELL), 0);
    hv_config_init(&cfg);
    cfg.inject_launch_failure_cpu = 1;
    assert_int_equal(hv_create(&hv, hv_mock_os(), &cfg), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_VM_INSTRUCTION_ERROR(7));
    assert_int_equal(hv->failed_cpu, 1);
    /* VMLAUNCH was never executed on cpu 1; cpu 0 was undone. */
    assert_int_equal(hv_mock_cpu(1)->op_calls[HV_MOCK_OP_VMLAUNCH], 0);
    assert_false(hv_mock_cpu(0)->vmx_operation);
    assert_false(hv_mock_cpu(1)->vmx_operation);
    hv_destroy(hv);
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
}

static void firmware_states_refuse_cleanly(void **state)
{
    static const struct { enum hv_mock_profile p; hv_status_t want; } cases[] = {
        { HV_MOCK_PROFILE_NO_VMX, HV_STATUS_VMX_NOT_SUPPORTED },
        { HV_MOCK_PROFILE_VMX_LOCKED_OFF, HV_STATUS_VMX_DISABLED_BY_FIRMWARE },
        { HV_MOCK_PROFILE_VMX_IN_USE, HV_STATUS_VMX_IN_USE },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hv *hv = NULL;

        assert_int_equal(support_setup_machine(2, cases[i].p), 0);
        assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
        assert_int_equal(hv_start(hv), cases[i].want);
        assert_int_equal(hv->failed_cpu, 0);
        hv_destroy(hv);
        assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
        hv_mock_fini();
    }
}

static void bad_arguments(void **state)
{
    struct hv *hv = (struct hv *)1;
    struct hv_os_ops ops;
    struct hv_config cfg;

    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    assert_int_equal(hv_create(NULL, hv_mock_os(), NULL), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_create(&hv, NULL, NULL), HV_STATUS_BAD_OS_OPS);
    assert_null(hv);
    memcpy(&ops, hv_mock_os(), sizeof(ops));
    ops.size = 8;
    assert_int_equal(hv_create(&hv, &ops, NULL), HV_STATUS_BAD_OS_OPS);
    memcpy(&ops, hv_mock_os(), sizeof(ops));
    ops.run_on_cpu = NULL;
    assert_int_equal(hv_create(&hv, &ops, NULL), HV_STATUS_BAD_OS_OPS);
    hv_config_init(&cfg);
    cfg.size = 4;
    assert_int_equal(hv_create(&hv, hv_mock_os(), &cfg), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_start(NULL), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_stop(NULL), HV_STATUS_INVALID_PARAMETER);
    hv_destroy(NULL);
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(four_cores_virtualize_and_devirtualize, teardown),
        cmocka_unit_test_teardown(every_allocation_failure_cleans_up, teardown),
        cmocka_unit_test_teardown(cross_core_call_failure_is_reported, teardown),
        cmocka_unit_test_teardown(failure_on_core_2_rolls_back_cores_0_and_1, teardown),
        cmocka_unit_test_teardown(injected_launch_failure_rolls_back, teardown),
        cmocka_unit_test_teardown(firmware_states_refuse_cleanly, teardown),
        cmocka_unit_test_teardown(bad_arguments, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
