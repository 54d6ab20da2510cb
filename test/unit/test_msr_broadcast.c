/* hv_msr_read / hv_msr_write across fake cores: targets, #GP per core,
 * guest-state MSRs in their VMCS fields, forbidden values, bad input,
 * concurrent callers. */
#include "support.h"

#include <pthread.h>
#include <string.h>

#define NCPU 4
static struct hv *g_hv;
static struct hv_msr_result res[256];

static int start(void **state)
{
    (void)state;
    if (support_setup_machine(NCPU, HV_MOCK_PROFILE_HASWELL))
        return -1;
    g_hv = support_start_hv();
    return 0;
}

static int stop(void **state)
{
    (void)state;
    support_stop_hv(g_hv);
    g_hv = NULL;
    hv_mock_fini();
    return 0;
}

static uint64_t phys(uint32_t cpu, uint32_t msr)
{
    uint64_t v = 0;

    assert_true(hv_mock_msr_get(cpu, msr, &v));
    return v;
}

static void one_core_vs_all_cores(void **state)
{
    uint64_t before[NCPU];
    uint32_t i;

    (void)state;
    for (i = 0; i < NCPU; i++)
        before[i] = phys(i, HV_MSR_IA32_LSTAR);
    /* wrmsr c0000082 fffff807`73553180 core 2 */
    assert_int_equal(hv_msr_write(g_hv, 2, HV_MSR_IA32_LSTAR, 0xfffff80773553180ull, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(res[0].core, 2);
    assert_int_equal(res[0].status, HV_STATUS_SUCCESS);
    assert_int_equal(res[0].in_root, 1);
    assert_int_equal(res[0].route, HV_MSR_ROUTE_PHYSICAL);
    for (i = 0; i < NCPU; i++)
        assert_int_equal(phys(i, HV_MSR_IA32_LSTAR), i == 2 ? 0xfffff80773553180ull : before[i]);

    /* wrmsr c0000082 fffff807`73553180 (all cores), then rdmsr on all */
    assert_int_equal(hv_msr_write(g_hv, HV_ALL_CORES, HV_MSR_IA32_LSTAR, 0xfffff80773553180ull, res, NCPU),
                     HV_STATUS_SUCCESS);
    memset(res, 0, sizeof(res));
    assert_int_equal(hv_msr_read(g_hv, HV_ALL_CORES, HV_MSR_IA32_LSTAR, res, NCPU), HV_STATUS_SUCCESS);
    for (i = 0; i < NCPU; i++) {
        assert_int_equal(res[i].core, i);
        assert_int_equal(res[i].status, HV_STATUS_SUCCESS);
        assert_int_equal(res[i].value, 0xfffff80773553180ull);
        /* ping + the two all-core requests (+ the single one on core 2) */
        assert_int_equal(hv_mock_exit_count(g_hv, i, HV_EXIT_VMCALL), i == 2 ? 4 : 3);
    }
}

static void fault_on_one_core_only(void **state)
{
    uint32_t i;

    (void)state;
    hv_mock_msr_set_gp(1, HV_MSR_IA32_LSTAR, true, true);
    assert_int_equal(hv_msr_read(g_hv, HV_ALL_CORES, HV_MSR_IA32_LSTAR, res, NCPU),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    for (i = 0; i < NCPU; i++)
        assert_int_equal(res[i].status, i == 1 ? HV_STATUS_EXCEPTION_GENERAL_PROTECTION : HV_STATUS_SUCCESS);
    /* An MSR no CPU has: #GP everywhere, everyone still running. */
    assert_int_equal(hv_msr_read(g_hv, HV_ALL_CORES, 0xDEADBEEFu, res, NCPU), HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    for (i = 0; i < NCPU; i++) {
        assert_int_equal(res[i].status, HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
        assert_true(hv_mock_cpu_in_guest(i));
    }
    assert_int_equal(hv_msr_write(g_hv, 3, 0xDEADBEEFu, 1, res, 1), HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
}

struct gs_case { uint32_t msr, field; uint64_t value; };

static void guest_state_msrs_land_in_their_fields(void **state)
{
    static const struct gs_case cases[] = {
        { HV_MSR_IA32_SYSENTER_CS, HV_VMCS_GUEST_SYSENTER_CS, 0x10 },
        { HV_MSR_IA32_SYSENTER_ESP, HV_VMCS_GUEST_SYSENTER_ESP, 0xfffffe0000003000ull },
        { HV_MSR_IA32_SYSENTER_EIP, HV_VMCS_GUEST_SYSENTER_EIP, 0xffffffff81a01234ull },
        { HV_MSR_IA32_DEBUGCTL, HV_VMCS_GUEST_IA32_DEBUGCTL, 0x1 },
        { HV_MSR_IA32_PAT, HV_VMCS_GUEST_IA32_PAT, 0x0007010600070106ull },
        { HV_MSR_IA32_EFER, HV_VMCS_GUEST_IA32_EFER, 0xD01 },
        { HV_MSR_IA32_FS_BASE, HV_VMCS_GUEST_FS_BASE, 0x7f0012345000ull },
        { HV_MSR_IA32_GS_BASE, HV_VMCS_GUEST_GS_BASE, 0xffff88801f200000ull },
    };
    size_t i;
    uint32_t c;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t phys_before[NCPU] = { 0 };

        for (c = 0; c < NCPU; c++)
            (void)hv_mock_msr_get(c, cases[i].msr, &phys_before[c]);
        if (hv_msr_write(g_hv, HV_ALL_CORES, cases[i].msr, cases[i].value, res, NCPU) != HV_STATUS_SUCCESS)
            fail_msg("MSR 0x%x: %s", cases[i].msr, hv_status_name(res[0].status));
        for (c = 0; c < NCPU; c++) {
            uint64_t after = 0;

            assert_int_equal(res[c].route, HV_MSR_ROUTE_VMCS_FIELD);
            assert_int_equal(support_field_on(c, cases[i].field), cases[i].value);
            /* The physical MSR is the host's: untouched. */
            (void)hv_mock_msr_get(c, cases[i].msr, &after);
            assert_int_equal(after, phys_before[c]);
        }
        /* ...and a read through the hypervisor returns the field. */
        assert_int_equal(hv_msr_read(g_hv, 3, cases[i].msr, res, 1), HV_STATUS_SUCCESS);
        assert_int_equal(res[0].value, cases[i].value);
    }
    /* PERF_GLOBAL_CTRL exists with architectural perfmon v2+ (CPUID 0xA):
     * without it the write is the #GP a real CPU gives. */
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 0x3, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
}

/* A Haswell that reports perfmon v3 (4 counters, 3 fixed): CPUID is a
 * capability, so it is set before the first VMXON. */
static int start_perfmon_v3(void **state)
{
    struct hv_cpuid_regs pm = { .eax = 3 | (4u << 8), .edx = 3 };

    (void)state;
    if (support_setup_machine(NCPU, HV_MOCK_PROFILE_HASWELL))
        return -1;
    hv_mock_cpuid_set(HV_MOCK_ALL_CPUS, 0xA, 0, &pm);
    g_hv = support_start_hv();
    return 0;
}

static void perf_global_ctrl_with_perfmon(void **state)
{
    (void)state;
    /* The load control gets switched on, and the guest's own writes are
     * trapped since no exit control saves the MSR. */
    /* Counter 5 does not exist: #GP. */
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 5, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 0x3, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(res[0].route, HV_MSR_ROUTE_VMCS_FIELD);
    assert_int_equal(support_field_on(0, HV_VMCS_GUEST_IA32_PERF_GLOBAL_CTRL), 0x3);
    assert_true(support_field_on(0, HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_PERF_GLOBAL_CTRL);
    assert_true(((uint8_t *)g_hv->vcpus[0].msr_bitmap)[2048 + 0x38F / 8] & (1u << (0x38F % 8)));
    assert_false(support_field_on(1, HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_PERF_GLOBAL_CTRL);
}

static void feature_control_is_virtual(void **state)
{
    uint64_t real0 = phys(0, HV_MSR_IA32_FEATURE_CONTROL);

    (void)state;
    assert_int_equal(hv_msr_read(g_hv, HV_ALL_CORES, HV_MSR_IA32_FEATURE_CONTROL, res, NCPU), HV_STATUS_SUCCESS);
    assert_int_equal(res[0].route, HV_MSR_ROUTE_VIRTUAL);
    assert_int_equal(res[0].value, real0);
    /* Locked (Bochs/Haswell leaves 0x5): a write is the #GP the CPU gives. */
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_FEATURE_CONTROL, 0, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(phys(0, HV_MSR_IA32_FEATURE_CONTROL), real0);
}

static void forbidden_values_are_gp_and_change_nothing(void **state)
{
    static const struct gs_case bad[] = {
        { HV_MSR_IA32_SYSENTER_ESP, HV_VMCS_GUEST_SYSENTER_ESP, 0x0000800000000000ull }, /* non-canonical */
        { HV_MSR_IA32_SYSENTER_EIP, HV_VMCS_GUEST_SYSENTER_EIP, 0x8000000000000000ull },
        { HV_MSR_IA32_PAT, HV_VMCS_GUEST_IA32_PAT, 0x0007040600070402ull },              /* type 2 */
        { HV_MSR_IA32_PAT, HV_VMCS_GUEST_IA32_PAT, 0x0807040600070406ull },              /* type 8 */
        { HV_MSR_IA32_EFER, HV_VMCS_GUEST_IA32_EFER, 0xD01 | (1ull << 3) },              /* reserved bit */
        { HV_MSR_IA32_EFER, HV_VMCS_GUEST_IA32_EFER, 0xD01 & ~HV_EFER_LME },             /* LME off with paging */
        { HV_MSR_IA32_DEBUGCTL, HV_VMCS_GUEST_IA32_DEBUGCTL, 1ull << 2 },                /* reserved bit */
        { HV_MSR_IA32_GS_BASE, HV_VMCS_GUEST_GS_BASE, 0x0001000000000000ull },
    };
    size_t i;
    uint32_t c;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t before[NCPU];

        for (c = 0; c < NCPU; c++)
            before[c] = support_field_on(c, bad[i].field);
        if (hv_msr_write(g_hv, HV_ALL_CORES, bad[i].msr, bad[i].value, res, NCPU) !=
            HV_STATUS_EXCEPTION_GENERAL_PROTECTION)
            fail_msg("case %zu (MSR 0x%x = 0x%llx) was accepted", i, bad[i].msr, (unsigned long long)bad[i].value);
        for (c = 0; c < NCPU; c++) {
            assert_int_equal(res[c].status, HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
            assert_int_equal(support_field_on(c, bad[i].field), before[c]);
        }
    }
}

static void bad_core_and_short_results_run_nothing(void **state)
{
    uint32_t calls = hv_mock_os_cpu_calls();

    (void)state;
    assert_int_equal(hv_msr_read(g_hv, NCPU, HV_MSR_IA32_LSTAR, res, 1), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_msr_write(g_hv, 0xFFFFFFFEu, HV_MSR_IA32_LSTAR, 0, res, 1), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_msr_read(g_hv, HV_ALL_CORES, HV_MSR_IA32_LSTAR, res, NCPU - 1), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_msr_read(g_hv, 0, HV_MSR_IA32_LSTAR, NULL, 1), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_msr_read(NULL, 0, HV_MSR_IA32_LSTAR, res, 1), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_mock_os_cpu_calls(), calls);
    assert_int_equal(hv_msr_target_count(g_hv, HV_ALL_CORES), NCPU);
    assert_int_equal(hv_msr_target_count(g_hv, NCPU), 0);
}

static void cross_call_failure_on_one_core(void **state)
{
    (void)state;
    /* The third core's cross-call cannot be delivered. */
    hv_mock_os_fail_cpu_call_at(3);
    assert_int_equal(hv_msr_read(g_hv, HV_ALL_CORES, HV_MSR_IA32_LSTAR, res, NCPU), HV_STATUS_CPU_CALL_FAILED);
    assert_int_equal(res[0].status, HV_STATUS_SUCCESS);
    assert_int_equal(res[2].status, HV_STATUS_CPU_CALL_FAILED);
    assert_int_equal(res[3].status, HV_STATUS_SUCCESS);
}

static void not_virtualized_runs_directly_still_fault_safe(void **state)
{
    struct hv *hv = NULL;
    struct hv_msr_result r[NCPU];

    (void)state;
    assert_int_equal(support_setup_machine(NCPU, HV_MOCK_PROFILE_HASWELL), 0);
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(hv, 1, HV_MSR_IA32_SYSENTER_ESP, 0xfffffe0000001000ull, r, 1), HV_STATUS_SUCCESS);
    assert_int_equal(r[0].in_root, 0);
    assert_int_equal(phys(1, HV_MSR_IA32_SYSENTER_ESP), 0xfffffe0000001000ull);
    hv_mock_msr_set_gp(2, HV_MSR_IA32_LSTAR, true, false);
    assert_int_equal(hv_msr_read(hv, HV_ALL_CORES, HV_MSR_IA32_LSTAR, r, NCPU), HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(r[2].status, HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(r[1].status, HV_STATUS_SUCCESS);
    hv_destroy(hv);
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
    hv_mock_fini();
}

static void many_cores_no_64_cpu_limit(void **state)
{
    struct hv *hv;
    uint32_t i;

    (void)state;
    assert_int_equal(support_setup_machine(130, HV_MOCK_PROFILE_SKYLAKE), 0);
    hv = support_start_hv();
    assert_int_equal(hv_msr_write(hv, 129, HV_MSR_IA32_SYSENTER_EIP, 0xffffffff81000000ull, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_read(hv, HV_ALL_CORES, HV_MSR_IA32_SYSENTER_EIP, res, 130), HV_STATUS_SUCCESS);
    for (i = 0; i < 130; i++) {
        assert_int_equal(res[i].core, i);
        if (i == 129)
            assert_int_equal(res[i].value, 0xffffffff81000000ull);
        else
            assert_int_not_equal(res[i].value, 0xffffffff81000000ull);
    }
    support_stop_hv(hv);
    hv_mock_fini();
}

/* ---- concurrency ------------------------------------------------------------ */
#define THREADS 6
#define PER_THREAD 150
static unsigned ok_count[THREADS];
static uint64_t per_core_requests[NCPU];
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void *caller(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg, i;
    struct hv_msr_result r[NCPU];

    for (i = 0; i < PER_THREAD; i++) {
        uint32_t core = (i % 3 == 0) ? HV_ALL_CORES : (t + i) % NCPU;
        uint64_t v = 0xfffffe0000000000ull | ((uint64_t)t << 16) | i;
        hv_status_t st = (i & 1) ? hv_msr_read(g_hv, core, HV_MSR_IA32_SYSENTER_ESP, r, NCPU)
                                 : hv_msr_write(g_hv, core, HV_MSR_IA32_SYSENTER_ESP, v, r, NCPU);
        if (st == HV_STATUS_SUCCESS)
            ok_count[t]++;
        pthread_mutex_lock(&count_lock);
        if (core == HV_ALL_CORES)
            for (uint32_t c = 0; c < NCPU; c++)
                per_core_requests[c]++;
        else
            per_core_requests[core]++;
        pthread_mutex_unlock(&count_lock);
    }
    return NULL;
}

static void concurrent_callers_all_complete(void **state)
{
    pthread_t th[THREADS];
    uint64_t vmcalls_before[NCPU];
    unsigned t;
    uint32_t c;

    (void)state;
    for (c = 0; c < NCPU; c++)
        vmcalls_before[c] = hv_mock_exit_count(g_hv, c, HV_EXIT_VMCALL);
    for (t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, caller, (void *)(uintptr_t)t);
    for (t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (t = 0; t < THREADS; t++)
        assert_int_equal(ok_count[t], PER_THREAD);
    /* Every request reached VMX root on each of its cores exactly once. */
    for (c = 0; c < NCPU; c++)
        assert_int_equal(hv_mock_exit_count(g_hv, c, HV_EXIT_VMCALL) - vmcalls_before[c], per_core_requests[c]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_core_vs_all_cores, start, stop),
        cmocka_unit_test_setup_teardown(fault_on_one_core_only, start, stop),
        cmocka_unit_test_setup_teardown(guest_state_msrs_land_in_their_fields, start, stop),
        cmocka_unit_test_setup_teardown(perf_global_ctrl_with_perfmon, start_perfmon_v3, stop),
        cmocka_unit_test_setup_teardown(feature_control_is_virtual, start, stop),
        cmocka_unit_test_setup_teardown(forbidden_values_are_gp_and_change_nothing, start, stop),
        cmocka_unit_test_setup_teardown(bad_core_and_short_results_run_nothing, start, stop),
        cmocka_unit_test_setup_teardown(cross_call_failure_on_one_core, start, stop),
        cmocka_unit_test(not_virtualized_runs_directly_still_fault_safe),
        cmocka_unit_test(many_cores_no_64_cpu_limit),
        cmocka_unit_test_setup_teardown(concurrent_callers_all_complete, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
