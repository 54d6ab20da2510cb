/* The mock's CPU profiles and their composition by SDK users: modern
 * profiles, capabilities changed before the VMCS field set is derived
 * (and refused after), accessors for what the core recorded, and another
 * core's VMCS without re-binding. */
#include "support.h"

#include <string.h>

static struct hv *g_hv;
static uint32_t g_failures;
static char g_last[512];

static void count_failure(void *ctx, const char *msg)
{
    (void)ctx;
    g_failures++;
    strncpy(g_last, msg, sizeof(g_last) - 1);
}

static void expect_failures(void)
{
    g_failures = 0;
    g_last[0] = '\0';
    hv_mock_set_failure_handler(count_failure, NULL);
}

static int teardown(void **state)
{
    (void)state;
    support_fail_on_mock_failure();
    if (g_hv != NULL) {
        hv_stop(g_hv);
        hv_destroy(g_hv);
        g_hv = NULL;
    }
    hv_mock_fini();
    return 0;
}

/* ---- profiles ------------------------------------------------------------- */

static void every_profile_boots_or_refuses_as_documented(void **state)
{
    static const struct { enum hv_mock_profile p; hv_status_t st; const char *name; } cases[] = {
        { HV_MOCK_PROFILE_HASWELL, HV_STATUS_SUCCESS, "haswell" },
        { HV_MOCK_PROFILE_SKYLAKE, HV_STATUS_SUCCESS, "skylake" },
        { HV_MOCK_PROFILE_NO_VMX, HV_STATUS_VMX_NOT_SUPPORTED, "no_vmx" },
        { HV_MOCK_PROFILE_VMX_LOCKED_OFF, HV_STATUS_VMX_DISABLED_BY_FIRMWARE, "vmx_locked_off" },
        { HV_MOCK_PROFILE_VMX_IN_USE, HV_STATUS_VMX_IN_USE, "vmx_in_use" },
        { HV_MOCK_PROFILE_NO_TRUE_CTLS, HV_STATUS_SUCCESS, "no_true_ctls" },
        { HV_MOCK_PROFILE_SAPPHIRE_RAPIDS, HV_STATUS_SUCCESS, "sapphire_rapids" },
        { HV_MOCK_PROFILE_NO_EPT_VPID, HV_STATUS_SUCCESS, "no_ept_vpid" },
        { HV_MOCK_PROFILE_BOCHS_TIGERLAKE, HV_STATUS_SUCCESS, "bochs_tigerlake" },
    };
    size_t i;

    (void)state;
    assert_int_equal(sizeof(cases) / sizeof(cases[0]), HV_MOCK_PROFILE_COUNT);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hv *hv = NULL;
        hv_status_t st;

        assert_int_equal(support_setup_machine(2, cases[i].p), 0);
        assert_string_equal(hv_mock_profile_name(cases[i].p), cases[i].name);
        assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
        st = hv_start(hv);
        if (st != cases[i].st)
            fail_msg("profile %s: hv_start %s, want %s", cases[i].name, hv_status_name(st),
                     hv_status_name(cases[i].st));
        if (hv_success(st))
            assert_int_equal(hv_stop(hv), HV_STATUS_SUCCESS);
        hv_destroy(hv);
        assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
        hv_mock_fini();
    }
    assert_string_equal(hv_mock_profile_name(HV_MOCK_PROFILE_COUNT), "?");
}

static void sapphire_rapids_has_the_modern_features(void **state)
{
    struct hv_cpuid_regs r;
    uint64_t v = 0;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    assert_true(hv_mock_cpuid_get(1, 7, 0, &r));
    assert_true(r.ecx & (1u << 5));            /* WAITPKG */
    assert_true(r.ecx & (1u << 7));            /* CET_SS */
    assert_true(r.edx & (1u << 20));           /* CET_IBT */
    assert_true(r.ecx & (1u << 31));           /* PKS */
    assert_true(r.ecx & (1u << 16));           /* LA57 */
    assert_true(r.ebx & (1u << 11));           /* RTM */
    assert_false(r.ebx & (1u << 14));          /* no MPX */
    assert_true(hv_mock_cpuid_get(1, 0xD, 1, &r));
    assert_true(r.eax & (1u << 3));            /* XSAVES */
    assert_true(hv_mock_cpuid_get(1, 0xA, 0, &r));
    assert_int_equal(r.eax & 0xFF, 5);         /* perfmon v5 */
    assert_int_equal((r.eax >> 8) & 0xFF, 8);
    assert_int_equal(r.ecx, 0xF);              /* fixed-counter bitmask */
    assert_true(hv_mock_cpuid_get(1, 0x80000008u, 0, &r));
    assert_int_equal((r.eax >> 8) & 0xFF, 57); /* linear-address width */
    assert_true(hv_mock_msr_get(1, 0x345, &v));
    assert_true(v & (1u << 15));               /* PERF_METRICS */
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS, &v));
    assert_true((v >> 32) & HV_ENTRY_CTL_LOAD_CET_STATE);
    assert_true((v >> 32) & HV_ENTRY_CTL_LOAD_PKRS);
    assert_false((v >> 32) & HV_ENTRY_CTL_LOAD_BNDCFGS);
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_VMX_PROCBASED_CTLS2, &v));
    assert_true((v >> 32) & HV_PROC2_ENABLE_USER_WAIT_PAUSE);
    assert_true((v >> 32) & HV_PROC2_ENABLE_XSAVES);
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_VMX_PROCBASED_CTLS3, NULL));

    g_hv = support_start_hv();
    /* The CET and PKRS guest-state fields exist and hold the live values
     * every exit saved (SDM 28.3.1). */
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_S_CET), 0x4);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_IA32_PKRS), 0x55555554u);
    assert_true(hv_mock_vmcs_peek_on(1, HV_VMCS_GUEST_SSP, NULL));
}

/* The second e2e CPU as measured in the Bochs guest (test/e2e/MODELS.md). */
static void bochs_tigerlake_is_the_measured_model(void **state)
{
    static const struct { uint32_t msr; uint64_t value; } measured[] = {
        { HV_MSR_IA32_VMX_BASIC, 0x01D8100000000004ull },
        { HV_MSR_IA32_VMX_MISC, 0x600401E0ull },
        { HV_MSR_IA32_VMX_CR4_FIXED1, 0xF72FFFull },
        { HV_MSR_IA32_VMX_PROCBASED_CTLS2, 0x02977FFF00000000ull },
        { HV_MSR_IA32_VMX_EPT_VPID_CAP, 0x00000F0106B34141ull },
        { HV_MSR_IA32_VMX_TRUE_PROCBASED_CTLS, 0xFFF9FFFE04006172ull },
        { HV_MSR_IA32_VMX_TRUE_EXIT_CTLS, 0x107FFFFF00036DFBull },
        { HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS, 0x0010FFFF000011FBull },
    };
    struct hv_cpuid_regs r;
    uint64_t v = 0;
    size_t i;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_BOCHS_TIGERLAKE), 0);
    for (i = 0; i < sizeof(measured) / sizeof(measured[0]); i++) {
        assert_true(hv_mock_msr_get(1, measured[i].msr, &v));
        if (v != measured[i].value)
            fail_msg("msr %#x = %#llx, measured %#llx", measured[i].msr, (unsigned long long)v,
                     (unsigned long long)measured[i].value);
    }
    assert_true(hv_mock_cpuid_get(1, 7, 0, &r));
    assert_int_equal(r.ebx, 0xF1BF27EBu);
    assert_int_equal(r.ecx, 0x00405FCEu);
    assert_int_equal(r.edx, 0xFC100510u);
    assert_true(hv_mock_cpuid_get(1, 0xA, 0, &r));
    assert_int_equal(r.eax, 0x08300805u);
    assert_true(hv_mock_msr_get(1, 0x345, &v));
    assert_int_equal(v, 0);                    /* no PERF_METRICS: reads 0 in Bochs */
    assert_false(hv_mock_msr_get(1, HV_MSR_IA32_PKRS, &v));

    /* The core picks what the e2e run picked: XSAVES on, no user wait/pause. */
    g_hv = support_start_hv();
    assert_true(g_hv->vcpus[1].ctls.proc2 & HV_PROC2_ENABLE_XSAVES);
    assert_false(g_hv->vcpus[1].ctls.proc2 & HV_PROC2_ENABLE_USER_WAIT_PAUSE);
    assert_true(hv_mock_vmcs_peek_on(1, HV_VMCS_XSS_EXIT_BITMAP, &v));
    assert_int_equal(v, 0);
}

static void no_ept_vpid_profile_runs_without_them(void **state)
{
    uint64_t v = 0;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_NO_EPT_VPID), 0);
    assert_false(hv_mock_msr_get(0, HV_MSR_IA32_VMX_EPT_VPID_CAP, NULL));
    assert_false(hv_mock_msr_get(0, HV_MSR_IA32_VMX_VMFUNC, NULL));
    g_hv = support_start_hv();
    assert_int_equal(support_field_on(1, HV_VMCS_SECONDARY_VM_EXEC_CONTROL),
                     HV_PROC2_ENABLE_RDTSCP | HV_PROC2_ENABLE_INVPCID);
    /* VPID is a field this CPU does not implement: VMfailValid(12). */
    hv_mock_cpu_bind(1);
    assert_int_equal(hv_vmcs_read(HV_VMCS_VPID, &v), HV_STATUS_VM_INSTRUCTION_ERROR(12));
    assert_int_equal(hv_vmcs_read(HV_VMCS_EPT_POINTER, &v), HV_STATUS_VM_INSTRUCTION_ERROR(12));
}

/* ---- composing a CPU ------------------------------------------------------ */

/* Haswell has no CET. Given one with CET in CPUID and the load-CET-state
 * controls allowed before hv_start, the guest-state fields exist and a
 * write of S_CET lands in GUEST_S_CET through the load control. */
static void capabilities_changed_before_vmxon_shape_the_vmcs(void **state)
{
    struct hv_msr_result res[2];
    uint64_t v = 0;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    assert_false(hv_mock_caps_frozen(0));
    hv_mock_vmx_ctls_allow(HV_MOCK_ALL_CPUS, HV_MOCK_CTLS_ENTRY,
                           HV_ENTRY_CTL_LOAD_CET_STATE | HV_ENTRY_CTL_LOAD_PKRS, 0);
    hv_mock_vmx_ctls_allow(HV_MOCK_ALL_CPUS, HV_MOCK_CTLS_EXIT,
                           HV_EXIT_CTL_LOAD_CET_STATE | HV_EXIT_CTL_LOAD_PKRS, 0);
    hv_mock_cpuid_update(HV_MOCK_ALL_CPUS, 7, 0, HV_MOCK_ECX, (1u << 7) | (1u << 31), 0); /* CET_SS PKS */
    hv_mock_cpuid_update(HV_MOCK_ALL_CPUS, 7, 0, HV_MOCK_EDX, 1u << 20, 0);                /* CET_IBT */
    hv_mock_msr_set(HV_MOCK_ALL_CPUS, HV_MSR_IA32_S_CET, 0);
    hv_mock_msr_set(HV_MOCK_ALL_CPUS, HV_MSR_IA32_PKRS, 0);
    /* Both the plain and the TRUE MSR say so. */
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_VMX_ENTRY_CTLS, &v));
    assert_true((v >> 32) & HV_ENTRY_CTL_LOAD_PKRS);
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS, &v));
    assert_true((v >> 32) & HV_ENTRY_CTL_LOAD_PKRS);

    g_hv = support_start_hv();
    assert_true(hv_mock_caps_frozen(0));
    assert_int_equal(hv_msr_write(g_hv, 1, HV_MSR_IA32_S_CET, 0x4, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(res[0].route, HV_MSR_ROUTE_VMCS_FIELD);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_S_CET), 0x4);
    assert_true(support_field_on(1, HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_CET_STATE);
    assert_int_equal(hv_msr_write(g_hv, 1, HV_MSR_IA32_PKRS, 0x55555554u, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(res[0].route, HV_MSR_ROUTE_VMCS_FIELD);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_IA32_PKRS), 0x55555554u);
    /* Core 0 took neither write. */
    assert_false(support_field_on(0, HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_PKRS);
}

static void capability_changes_after_vmxon_are_failures(void **state)
{
    struct hv_cpuid_regs before, after;
    uint64_t v0 = 0, v1 = 0;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_SKYLAKE), 0);
    g_hv = support_start_hv();
    expect_failures();

    assert_true(hv_mock_cpuid_get(0, 7, 0, &before));
    hv_mock_cpuid_update(0, 7, 0, HV_MOCK_ECX, 1u << 16, 0);
    assert_int_equal(g_failures, 1);
    assert_non_null(strstr(g_last, "hv_mock_cpuid_update: CPUID of cpu0 changed after its first VMXON"));
    assert_true(hv_mock_cpuid_get(0, 7, 0, &after));
    assert_memory_equal(&before, &after, sizeof(before));

    hv_mock_cpuid_set(1, 0xA, 0, &before);
    assert_int_equal(g_failures, 2);

    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_VMX_ENTRY_CTLS, &v0));
    hv_mock_msr_set(1, HV_MSR_IA32_VMX_ENTRY_CTLS, ~0ull);
    assert_int_equal(g_failures, 3);
    assert_non_null(strstr(g_last, "capability MSR 0x484 of cpu1"));
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_VMX_ENTRY_CTLS, &v1));
    assert_int_equal(v0, v1);

    hv_mock_vmx_ctls_allow(HV_MOCK_ALL_CPUS, HV_MOCK_CTLS_PROC2, HV_PROC2_ENABLE_USER_WAIT_PAUSE, 0);
    assert_int_equal(g_failures, 5);                    /* once per frozen CPU */
    hv_mock_msr_remove(0, 0x345);                       /* PERF_CAPABILITIES */
    hv_mock_msr_set_gp(0, HV_MSR_IA32_VMX_BASIC, true, false);
    assert_int_equal(g_failures, 7);
    assert_true(hv_mock_msr_get(0, 0x345, NULL));

    /* State is not capability: it changes whenever a test likes. */
    hv_mock_msr_set(1, HV_MSR_IA32_LSTAR, 0xffffffff81000000ull);
    hv_mock_msr_set(1, HV_MSR_IA32_FEATURE_CONTROL, 0x5);
    hv_mock_cpu(1)->dr[0] = 0x1000;
    assert_int_equal(g_failures, 7);
}

static void capabilities_freeze_per_cpu_at_its_first_vmxon(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    assert_int_equal(hv_mock_vmcs_make_current(), HV_STATUS_SUCCESS); /* cpu 0 */
    assert_true(hv_mock_caps_frozen(0));
    assert_false(hv_mock_caps_frozen(1));
    hv_mock_cpuid_update(1, 7, 0, HV_MOCK_ECX, 1u << 5, 0);          /* fine: cpu 1 */
    expect_failures();
    hv_mock_cpuid_update(0, 7, 0, HV_MOCK_ECX, 1u << 5, 0);
    assert_int_equal(g_failures, 1);
}

static void misuse_of_the_controls_helper_is_reported(void **state)
{
    uint64_t before = 0, after = 0;

    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    expect_failures();
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_VMX_PINBASED_CTLS, &before));
    /* Pin bit 1 is default-1: it cannot be forbidden. */
    hv_mock_vmx_ctls_allow(0, HV_MOCK_CTLS_PIN, 0, 1u << 1);
    assert_int_equal(g_failures, 1);
    assert_non_null(strstr(g_last, "default-1"));
    hv_mock_vmx_ctls_allow(0, HV_MOCK_CTLS_PIN, 1u << 7, 1u << 7);
    assert_int_equal(g_failures, 2);
    hv_mock_vmx_ctls_allow(0, (enum hv_mock_ctls)9, 1, 0);
    assert_int_equal(g_failures, 3);
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_VMX_PINBASED_CTLS, &after));
    assert_int_equal(before, after);
    /* Forbidding an allowed-1 control works and keeps the TRUE twin in step. */
    hv_mock_vmx_ctls_allow(0, HV_MOCK_CTLS_PIN, 0, HV_PIN_PREEMPTION_TIMER);
    assert_int_equal(g_failures, 3);
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_VMX_TRUE_PINBASED_CTLS, &after));
    assert_false((after >> 32) & HV_PIN_PREEMPTION_TIMER);
}

/* ---- accessors -------------------------------------------------------------- */

static void accessors_show_what_the_core_recorded(void **state)
{
    struct hv_mock_exit x = { .reason = HV_EXIT_TRIPLE_FAULT };
    uint64_t fc = 0;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    g_hv = support_start_hv();
    assert_true(hv_mock_cpu_in_guest(0) && hv_mock_cpu_in_guest(1));
    assert_int_equal(hv_mock_exit_count(g_hv, 1, HV_EXIT_VMCALL), 1);   /* the ping */
    assert_int_equal(hv_mock_exit_count(g_hv, 1, HV_EXIT_TRIPLE_FAULT), 0);
    assert_string_equal(hv_mock_exit_dump(g_hv, 1), "");
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_FEATURE_CONTROL, &fc));
    assert_int_equal(hv_mock_feature_control_virtual(g_hv, 1), fc);
    assert_int_equal(hv_mock_movdr_refs(g_hv, 1), 0);
    assert_int_equal(hv_movdr_exiting_get(g_hv, 1), HV_STATUS_SUCCESS);
    assert_int_equal(hv_mock_movdr_refs(g_hv, 1), 1);
    assert_int_equal(hv_movdr_exiting_put(g_hv, 1), HV_STATUS_SUCCESS);

    /* A fatal exit: the CPU stops in root, with a dump. */
    hv_mock_cpu_bind(1);
    assert_int_equal(hv_mock_exit(&x), HV_ACTION_FATAL);
    assert_false(hv_mock_cpu_in_guest(1));
    assert_int_equal(hv_mock_exit_count(g_hv, 1, HV_EXIT_TRIPLE_FAULT), 1);
    assert_non_null(strstr(hv_mock_exit_dump(g_hv, 1), "hvcore FATAL cpu 1"));
    hv_mock_exit_dump_clear(g_hv, 1);
    assert_string_equal(hv_mock_exit_dump(g_hv, 1), "");
    /* Reasons beyond the table share one counter. */
    x.reason = 0x7FFF;
    hv_mock_cpu_resume_guest(1);
    assert_int_equal(hv_mock_exit(&x), HV_ACTION_FATAL);
    assert_int_equal(hv_mock_exit_count(g_hv, 1, 0xFFFF), 1);
    hv_mock_cpu_resume_guest(1);
    assert_true(hv_mock_cpu_in_guest(1));
    hv_mock_cpu_bind(0);

    /* Misuse is reported, never a crash. */
    expect_failures();
    assert_int_equal(hv_mock_exit_count(g_hv, 2, HV_EXIT_VMCALL), 0);
    assert_string_equal(hv_mock_exit_dump(NULL, 0), "");
    assert_int_equal(hv_mock_movdr_refs(g_hv, 7), 0);
    assert_int_equal(g_failures, 3);
    support_fail_on_mock_failure();
    assert_int_equal(hv_stop(g_hv), HV_STATUS_SUCCESS);
    assert_false(hv_mock_cpu_in_guest(1));
    expect_failures();
    hv_mock_cpu_resume_guest(1);                          /* devirtualized */
    assert_int_equal(g_failures, 1);
    assert_false(hv_mock_cpu_in_guest(1));
    support_fail_on_mock_failure();
    hv_destroy(g_hv);
    g_hv = NULL;
}

static void another_cores_vmcs_without_rebinding(void **state)
{
    uint64_t rip0 = 0;

    (void)state;
    assert_int_equal(support_setup_machine(3, HV_MOCK_PROFILE_HASWELL), 0);
    g_hv = support_start_hv();
    assert_true(hv_mock_vmcs_peek(HV_VMCS_GUEST_RIP, &rip0));       /* bound to 0 */
    hv_mock_vmcs_seed_on(2, HV_VMCS_GUEST_RIP, 0xffffffff81234567ull);
    assert_int_equal(support_field_on(2, HV_VMCS_GUEST_RIP), 0xffffffff81234567ull);
    assert_int_equal(hv_mock_cpu_current()->index, 0);
    assert_int_equal(support_field_on(0, HV_VMCS_GUEST_RIP), rip0);
    /* Each core has its own VMCS. */
    assert_int_not_equal(support_field_on(1, HV_VMCS_VPID), support_field_on(2, HV_VMCS_VPID));
    expect_failures();
    assert_false(hv_mock_vmcs_peek_on(3, HV_VMCS_GUEST_RIP, NULL));   /* no such CPU */
    hv_mock_vmcs_seed_on(0, 0x1234567u, 0);                          /* no such field */
    assert_int_equal(g_failures, 2);
}

/* What a VM exit saves on its own lands in the VMCS as on hardware: the
 * shadow-stack pointer in GUEST_SSP on a CPU with load-CET-state. */
static void exits_save_the_live_cet_and_pks_state(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    hv_mock_cpu(1)->ssp = 0xffffc90000a0fff8ull;
    g_hv = support_start_hv();
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_SSP), 0xffffc90000a0fff8ull);
    hv_mock_cpu(1)->ssp = 0xffffc90000a0ffe0ull;
    hv_mock_msr_set(1, HV_MSR_IA32_PKRS, 0x5555555Cu);
    hv_mock_cpu_bind(1);
    assert_int_equal(hv_mock_guest_vmcall(HV_VMCALL_PING, HV_VMCALL_KEY, 0, 0), HV_VMCALL_PING_REPLY);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_SSP), 0xffffc90000a0ffe0ull);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_IA32_PKRS), 0x5555555Cu);
    hv_mock_cpu_bind(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(every_profile_boots_or_refuses_as_documented, teardown),
        cmocka_unit_test_teardown(sapphire_rapids_has_the_modern_features, teardown),
        cmocka_unit_test_teardown(bochs_tigerlake_is_the_measured_model, teardown),
        cmocka_unit_test_teardown(no_ept_vpid_profile_runs_without_them, teardown),
        cmocka_unit_test_teardown(capabilities_changed_before_vmxon_shape_the_vmcs, teardown),
        cmocka_unit_test_teardown(capability_changes_after_vmxon_are_failures, teardown),
        cmocka_unit_test_teardown(capabilities_freeze_per_cpu_at_its_first_vmxon, teardown),
        cmocka_unit_test_teardown(misuse_of_the_controls_helper_is_reported, teardown),
        cmocka_unit_test_teardown(accessors_show_what_the_core_recorded, teardown),
        cmocka_unit_test_teardown(another_cores_vmcs_without_rebinding, teardown),
        cmocka_unit_test_teardown(exits_save_the_live_cet_and_pks_state, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
