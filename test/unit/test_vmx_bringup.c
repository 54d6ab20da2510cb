/* VMX detection and VMXON/VMXOFF on one core, per capability profile. */
#include "support.h"

static struct hv *g_hv;

static int teardown(void **state)
{
    (void)state;
    if (g_hv) {
        hv_destroy(g_hv);
        g_hv = NULL;
    }
    hv_mock_fini();
    return 0;
}

static struct hv_vcpu *make_vcpu(enum hv_mock_profile p)
{
    assert_int_equal(support_setup_machine(1, p), 0);
    assert_int_equal(hv_create(&g_hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    return &g_hv->vcpus[0];
}

static void haswell_enters_and_leaves_vmx_exactly(void **state)
{
    struct hv_vcpu *v = make_vcpu(HV_MOCK_PROFILE_HASWELL);
    struct hv_mock_cpu *cpu = hv_mock_cpu(0);
    uint64_t cr4_before = cpu->cr[4], cr0_before = cpu->cr[0];

    (void)state;
    assert_int_equal(hv_vmx_on(v), HV_STATUS_SUCCESS);
    assert_true(cpu->vmx_operation);
    assert_true(cpu->cr[4] & HV_CR4_VMXE);
    assert_int_equal(cpu->current_vmcs_pa, v->vmcs_pa);
    assert_int_equal(*(uint32_t *)v->vmxon_region, 0x2b);
    assert_int_equal(*(uint32_t *)v->vmcs_region, 0x2b);
    assert_true(v->caps.true_ctls);
    assert_int_equal(v->steps & (HV_STEP_VMXON | HV_STEP_VMCS_LOADED), HV_STEP_VMXON | HV_STEP_VMCS_LOADED);

    hv_vmx_off(v);
    assert_false(cpu->vmx_operation);
    assert_int_equal(cpu->cr[4], cr4_before);
    assert_int_equal(cpu->cr[0], cr0_before);
    assert_int_equal(v->steps, 0);
}

static void skylake_unlocked_feature_control_gets_locked(void **state)
{
    struct hv_vcpu *v = make_vcpu(HV_MOCK_PROFILE_SKYLAKE);
    uint64_t fc = 0;

    (void)state;
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_FEATURE_CONTROL, &fc));
    assert_int_equal(fc & HV_FEATURE_CONTROL_LOCK, 0);
    assert_int_equal(hv_vmx_on(v), HV_STATUS_SUCCESS);
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_FEATURE_CONTROL, &fc));
    assert_int_equal(fc & (HV_FEATURE_CONTROL_LOCK | HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX),
                     HV_FEATURE_CONTROL_LOCK | HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX);
    assert_true(v->caps.has_xsaves);
    hv_vmx_off(v);
    /* The lock is write-once until reset: it stays, and we remember we set it. */
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_FEATURE_CONTROL, &fc));
    assert_true(fc & HV_FEATURE_CONTROL_LOCK);
    assert_true(v->steps & HV_STEP_FEATURE_CONTROL_LOCKED);
}

static void profile_statuses(void **state)
{
    static const struct { enum hv_mock_profile p; hv_status_t want; } cases[] = {
        { HV_MOCK_PROFILE_HASWELL, HV_STATUS_SUCCESS },
        { HV_MOCK_PROFILE_SKYLAKE, HV_STATUS_SUCCESS },
        { HV_MOCK_PROFILE_NO_VMX, HV_STATUS_VMX_NOT_SUPPORTED },
        { HV_MOCK_PROFILE_VMX_LOCKED_OFF, HV_STATUS_VMX_DISABLED_BY_FIRMWARE },
        { HV_MOCK_PROFILE_VMX_IN_USE, HV_STATUS_VMX_IN_USE },
        { HV_MOCK_PROFILE_NO_TRUE_CTLS, HV_STATUS_SUCCESS },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hv_vcpu *v = make_vcpu(cases[i].p);
        uint64_t cr4 = hv_mock_cpu(0)->cr[4];
        hv_status_t st = hv_vmx_on(v);

        if (st != cases[i].want)
            fail_msg("profile %s: got %s, want %s", hv_mock_profile_name(cases[i].p),
                     hv_status_name(st), hv_status_name(cases[i].want));
        if (st == HV_STATUS_SUCCESS)
            hv_vmx_off(v);
        /* Whatever happened, the CPU is as we found it. */
        assert_int_equal(hv_mock_cpu(0)->cr[4], cr4);
        assert_int_equal(v->steps & ~(uint32_t)HV_STEP_FEATURE_CONTROL_LOCKED, 0);
        hv_destroy(g_hv);
        g_hv = NULL;
        assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
        hv_mock_fini();
    }
}

static void no_true_ctls_uses_plain_msrs(void **state)
{
    struct hv_vcpu *v = make_vcpu(HV_MOCK_PROFILE_NO_TRUE_CTLS);
    uint64_t plain = 0;

    (void)state;
    assert_int_equal(hv_vmx_caps_read(&v->caps), HV_STATUS_SUCCESS);
    assert_false(v->caps.true_ctls);
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_VMX_PROCBASED_CTLS, &plain));
    assert_int_equal(v->caps.proc, plain);
    /* CR3-load/store exiting are default-1 there. */
    assert_true((uint32_t)v->caps.proc & HV_PROC_CR3_LOAD_EXITING);
}

static void vmx_instruction_failures_unwind(void **state)
{
    static const enum hv_mock_vmx_op ops[] = { HV_MOCK_OP_VMXON, HV_MOCK_OP_VMCLEAR, HV_MOCK_OP_VMPTRLD };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        struct hv_vcpu *v = make_vcpu(HV_MOCK_PROFILE_HASWELL);
        struct hv_mock_cpu *cpu = hv_mock_cpu(0);
        uint64_t cr4 = cpu->cr[4];

        hv_mock_vmx_fail_at(0, ops[i], 1, HV_STATUS_VMX_FAIL_INVALID);
        assert_int_equal(hv_vmx_on(v), HV_STATUS_VMX_FAIL_INVALID);
        assert_false(cpu->vmx_operation);
        assert_int_equal(cpu->cr[4], cr4);
        assert_int_equal(v->steps, 0);
        assert_int_equal(v->status, HV_STATUS_VMX_FAIL_INVALID);
        hv_destroy(g_hv);
        g_hv = NULL;
        hv_mock_fini();
    }
}

static void adjust_controls_hand_computed(void **state)
{
    uint32_t out = 0;
    /* allowed-0 (must be 1) = 0x16, allowed-1 (may be 1) = 0x7f. */
    const uint64_t cap = (0x7full << 32) | 0x16u;

    (void)state;
    assert_int_equal(hv_vmx_adjust_controls(0, 0, cap, &out), HV_STATUS_SUCCESS);
    assert_int_equal(out, 0x16);
    assert_int_equal(hv_vmx_adjust_controls(0x41, 0, cap, &out), HV_STATUS_SUCCESS);
    assert_int_equal(out, 0x57);
    /* 0x80 is not allowed-1: dropped when wanted... */
    assert_int_equal(hv_vmx_adjust_controls(0x88, 0, cap, &out), HV_STATUS_SUCCESS);
    assert_int_equal(out, 0x1e);
    /* ...and a clear status when required. */
    assert_int_equal(hv_vmx_adjust_controls(0, 0x80, cap, &out), HV_STATUS_UNSUPPORTED);
    assert_int_equal(out, 0x16);
    /* The Haswell figures measured under Bochs (DESIGN.md 7b). */
    assert_int_equal(hv_vmx_adjust_controls(HV_PROC_USE_MSR_BITMAPS | HV_PROC_ACTIVATE_SECONDARY, 0,
                                            (0xfff9fffeull << 32) | 0x04006172u, &out), HV_STATUS_SUCCESS);
    assert_int_equal(out, 0x94006172u);
    assert_int_equal(hv_vmx_adjust_controls(0, 0, 0, NULL), HV_STATUS_INVALID_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(haswell_enters_and_leaves_vmx_exactly, teardown),
        cmocka_unit_test_teardown(skylake_unlocked_feature_control_gets_locked, teardown),
        cmocka_unit_test_teardown(profile_statuses, teardown),
        cmocka_unit_test_teardown(no_true_ctls_uses_plain_msrs, teardown),
        cmocka_unit_test_teardown(vmx_instruction_failures_unwind, teardown),
        cmocka_unit_test(adjust_controls_hand_computed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
