/* The dispatcher: every exit reason gets a defined action, counters, lazy
 * state, handler overrides that chain to the default, skip semantics. */
#include "exit_fixture.h"

#include <string.h>

static const uint32_t all_reasons[] = {
#define X_(name, num) num,
    HV_EXIT_REASON_LIST(X_)
#undef X_
};

static bool expect_fatal(uint32_t reason)
{
    return hv_exit_default_handler(reason) == hv_exit_unexpected ||
           reason == HV_EXIT_TRIPLE_FAULT || reason == HV_EXIT_EXCEPTION_NMI ||
           reason == HV_EXIT_ENTRY_FAIL_GUEST_STATE || reason == HV_EXIT_ENTRY_FAIL_MSR_LOADING ||
           reason == HV_EXIT_ENTRY_FAIL_MACHINE_CHECK ||
           /* XSAVES/XRSTORS exits cannot happen without the control (the
            * fixture's Haswell has no XSAVES): unexplained, so fatal. */
           reason == HV_EXIT_XSAVES || reason == HV_EXIT_XRSTORS;
}

static void every_sdm_reason_gets_a_defined_action(void **state)
{
    size_t i;

    (void)state;
    assert_int_equal(sizeof(all_reasons) / sizeof(all_reasons[0]), 80);
    for (i = 0; i < sizeof(all_reasons) / sizeof(all_reasons[0]); i++) {
        uint32_t r = all_reasons[i];
        uint64_t before = hv_mock_exit_count(fx_hv, 1, r);
        enum hv_exit_action a;

        memset(&fx_v->gprs, 0, sizeof(fx_v->gprs));
        hv_mock_exit_dump_clear(fx_hv, 1);
        a = fx_exit(r, 0, 3);
        if (expect_fatal(r)) {
            if (a != HV_ACTION_FATAL)
                fail_msg("reason %u: action %d, want FATAL", r, a);
            assert_non_null(strstr(hv_mock_exit_dump(fx_hv, 1), "hvcore FATAL cpu 1"));
            hv_mock_cpu_resume_guest(1);
        } else if (a != HV_ACTION_RESUME) {
            fail_msg("reason %u: action %d, want RESUME", r, a);
        }
        assert_int_equal(hv_mock_exit_count(fx_hv, 1, r), before + 1);
    }
}

static void out_of_range_and_undefined_reasons_are_fatal(void **state)
{
    static const uint32_t bad[] = { 35, 38, 42, 71, 82, 83, HV_EXIT_REASON_COUNT, 100, 0x7FFF, 0xFFFF };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hv_mock_exit_dump_clear(fx_hv, 1);
        assert_int_equal(fx_exit(bad[i], 0, 0), HV_ACTION_FATAL);
        assert_non_null(strstr(hv_mock_exit_dump(fx_hv, 1), "unhandled VM exit"));
        hv_mock_cpu_resume_guest(1);
    }
    /* Reasons beyond the table are counted in the overflow slot. */
    assert_int_equal(hv_mock_exit_count(fx_hv, 1, HV_EXIT_REASON_COUNT), 4);
}

static void entry_failure_is_fatal_whatever_the_handler(void **state)
{
    (void)state;
    /* Bit 31 set with basic reason 33 (invalid guest state), qual 4. */
    assert_int_equal(fx_exit(HV_EXIT_REASON_ENTRY_FAILURE | HV_EXIT_ENTRY_FAIL_GUEST_STATE, 4, 0),
                     HV_ACTION_FATAL);
    assert_non_null(strstr(hv_mock_exit_dump(fx_hv, 1), "VM-entry failure"));
    assert_non_null(strstr(hv_mock_exit_dump(fx_hv, 1), "reason=0x80000021"));
}

static void cpuid_exit_reads_lazily_and_writes_only_rip(void **state)
{
    struct hv_mock_cpu *cpu = hv_mock_cpu(1);
    uint64_t r0, w0, rip = fx_field(HV_VMCS_GUEST_RIP);

    (void)state;
    fx_v->gprs.r[HV_GPR_RAX] = 0;
    r0 = cpu->vmcs_reads;
    w0 = cpu->vmcs_writes;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    /* reason, instruction length, RIP, RFLAGS, interruptibility */
    assert_true(cpu->vmcs_reads - r0 <= 5);
    assert_int_equal(cpu->vmcs_writes - w0, 1);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RIP), rip + 2);
}

static enum hv_exit_action resume_untouched(struct hv_exit *e)
{
    (void)e;
    return HV_ACTION_RESUME;
}

static enum hv_exit_action garbage_action(struct hv_exit *e)
{
    (void)e;
    return (enum hv_exit_action)77;
}

static unsigned chained;
static enum hv_exit_action chain_to_default(struct hv_exit *e)
{
    enum hv_exit_action a = hv_exit_default_handler(e->basic)(e);

    chained++;
    e->gprs->r[HV_GPR_RBX] ^= 0xFFu; /* change what the default produced */
    return a;
}

static void override_chains_to_default(void **state)
{
    struct hv *hv = NULL;
    struct hv_vcpu *v;

    (void)state;
    /* A second instance on a fresh machine: handlers are set before start. */
    assert_int_equal(fx_teardown(NULL), 0);
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_exit_set_handler(hv, HV_EXIT_CPUID, chain_to_default), HV_STATUS_SUCCESS);
    assert_int_equal(hv_exit_set_handler(hv, HV_EXIT_REASON_COUNT, chain_to_default), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_exit_set_handler(NULL, HV_EXIT_CPUID, chain_to_default), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_start(hv), HV_STATUS_SUCCESS);
    /* Frozen once running. */
    assert_int_equal(hv_exit_set_handler(hv, HV_EXIT_CPUID, NULL), HV_STATUS_ALREADY_VIRTUALIZED);

    hv_mock_cpu_bind(0);
    v = hv_mock_current_vcpu();
    v->gprs.r[HV_GPR_RAX] = 0x40000000u;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(chained, 1);
    /* Default filled EBX with "libh", the override flipped its low byte. */
    assert_int_equal(v->gprs.r[HV_GPR_RBX], 0x6862696cu ^ 0xFFu);

    assert_int_equal(hv_stop(hv), HV_STATUS_SUCCESS);
    /* Stopped: handlers may change again; NULL restores the default. */
    assert_int_equal(hv_exit_set_handler(hv, HV_EXIT_CPUID, NULL), HV_STATUS_SUCCESS);
    assert_ptr_equal(hv->handlers[HV_EXIT_CPUID], hv_exit_default_handler(HV_EXIT_CPUID));
    hv_destroy(hv);
    assert_int_equal(fx_setup(NULL), 0);
}

static void resume_without_change_writes_nothing(void **state)
{
    struct hv *hv = NULL;
    struct hv_mock_cpu *cpu;
    uint64_t w0;

    (void)state;
    assert_int_equal(fx_teardown(NULL), 0);
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_exit_set_handler(hv, HV_EXIT_HLT, resume_untouched), HV_STATUS_SUCCESS);
    assert_int_equal(hv_exit_set_handler(hv, HV_EXIT_PAUSE, garbage_action), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_SUCCESS);
    cpu = hv_mock_cpu(0);
    w0 = cpu->vmcs_writes;
    assert_int_equal(fx_exit(HV_EXIT_HLT, 0, 1), HV_ACTION_RESUME);
    assert_int_equal(cpu->vmcs_writes, w0);
    /* A handler returning an undefined action is a loud fatal, not a guess. */
    assert_int_equal(fx_exit(HV_EXIT_PAUSE, 0, 2), HV_ACTION_FATAL);
    hv_mock_cpu_resume_guest(0);
    assert_int_equal(hv_stop(hv), HV_STATUS_SUCCESS);
    hv_destroy(hv);
    assert_int_equal(fx_setup(NULL), 0);
}

static void skip_clears_sti_blocking_and_raises_single_step(void **state)
{
    uint64_t rip = fx_field(HV_VMCS_GUEST_RIP);

    (void)state;
    /* Given STI blocking and RFLAGS.TF, when CPUID is skipped... */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, HV_INTERRUPTIBILITY_STI | HV_INTERRUPTIBILITY_NMI);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_RFLAGS, 0x302); /* TF | IF */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    fx_v->gprs.r[HV_GPR_RAX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    /* ...then RIP moves, STI blocking ends (NMI blocking stays), and the
     * single-step #DB is pending for delivery at entry. */
    assert_int_equal(fx_field(HV_VMCS_GUEST_RIP), rip + 2);
    assert_int_equal(fx_field(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO), HV_INTERRUPTIBILITY_NMI);
    assert_int_equal(fx_field(HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS), HV_PENDING_DBG_BS);

    /* Without TF nothing becomes pending. */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_RFLAGS, 0x202);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

static void skip_wraps_eip_outside_64bit_mode(void **state)
{
    uint64_t cs_ar = fx_field(HV_VMCS_GUEST_CS_AR_BYTES);

    (void)state;
    /* A compatibility-mode CPUID at the top of the 4 GiB space. */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CS_AR_BYTES, cs_ar & ~(1ull << 13));
    hv_mock_vmcs_seed(HV_VMCS_GUEST_RIP, 0xFFFFFFFFull);
    fx_v->gprs.r[HV_GPR_RAX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RIP), 1);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CS_AR_BYTES, cs_ar);
}

static enum hv_exit_action inject_then_skip(struct hv_exit *e)
{
    (void)hv_inject_gp(e, 0);
    return HV_ACTION_SKIP; /* wrong on purpose */
}

static void injecting_a_fault_never_advances_rip(void **state)
{
    struct hv *hv = NULL;
    uint64_t rip;

    (void)state;
    assert_int_equal(fx_teardown(NULL), 0);
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_exit_set_handler(hv, HV_EXIT_RDPMC, inject_then_skip), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_SUCCESS);
    rip = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_RDPMC, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RIP), rip);
    assert_int_equal(fx_injected(), HV_INTR_INFO_VALID | HV_INTR_INFO_DELIVER_CODE |
                                    (HV_INTR_TYPE_HW_EXCEPTION << 8) | HV_VECTOR_GP);
    assert_int_equal(hv_stop(hv), HV_STATUS_SUCCESS);
    hv_destroy(hv);
    assert_int_equal(fx_setup(NULL), 0);
}

static void counters_are_per_core(void **state)
{
    (void)state;
    fx_v->gprs.r[HV_GPR_RAX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(hv_mock_exit_count(fx_hv, 1, HV_EXIT_CPUID), 2);
    assert_int_equal(hv_mock_exit_count(fx_hv, 0, HV_EXIT_CPUID), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_sdm_reason_gets_a_defined_action, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(out_of_range_and_undefined_reasons_are_fatal, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(entry_failure_is_fatal_whatever_the_handler, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(cpuid_exit_reads_lazily_and_writes_only_rip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(override_chains_to_default, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(resume_without_change_writes_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(skip_clears_sti_blocking_and_raises_single_step, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(skip_wraps_eip_outside_64bit_mode, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(injecting_a_fault_never_advances_rip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(counters_are_per_core, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
