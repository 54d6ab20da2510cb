/*
 * INIT and SIPI taken as a native CPU would (cfg.restart_on_sipi, issue
 * 12): the identity EPT built at hv_create, INIT -> wait-for-SIPI with EPT
 * and unrestricted guest on, SIPI -> real mode at CS = vector << 8, IP 0,
 * a second SIPI ignored, the fallback where the CPU has no unrestricted
 * guest, and the VMCALL queries an OS uses to see the parked CPUs.
 * Given/when/then against the mock; after every state change the mock's
 * VM-entry checks (SDM Vol. 3C, 27.2-27.3) judge the VMCS the next
 * VMRESUME would use.
 */
#include "exit_fixture.h"

#include <hvcore/vmcall.h>
#include <string.h>

#define EPT_RWX 7ull
#define EPT_LARGE (1ull << 7)
#define MT(t) ((uint64_t)(t) << 3)
#define MT_UC 0u
#define MT_WB 6u

static uint64_t *R;

static void start(enum hv_mock_profile profile, void (*prepare)(void))
{
    struct hv_config cfg;

    assert_int_equal(support_setup_machine(2, profile), 0);
    if (prepare != NULL)
        prepare();
    hv_config_init(&cfg);
    cfg.restart_on_sipi = true;
    assert_int_equal(hv_create(&fx_hv, hv_mock_os(), &cfg), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(fx_hv), HV_STATUS_SUCCESS);
    hv_mock_cpu_bind(1);
    fx_v = hv_mock_current_vcpu();
    assert_ptr_equal(fx_v, &fx_hv->vcpus[1]);
    R = fx_v->gprs.r;
}

static int setup(void **state)
{
    (void)state;
    start(HV_MOCK_PROFILE_HASWELL, NULL);
    return 0;
}

/* The VM-entry checks (hv_vmcs_diagnose, SDM Vol. 3C, 27.2-27.4) over the
 * bound CPU's VMCS as the next VMRESUME would see it. */
static void assert_entry_ok(void)
{
    static struct hv_vmcs_diag diag;
    struct hv_vmcs_diag_env env;
    struct hv_vmx_caps caps;
    char line[256];

    hv_mock_diag_env(hv_mock_cpu(1), &caps, &env);
    assert_int_equal(hv_vmcs_diagnose(&env, &diag), HV_STATUS_SUCCESS);
    if (diag.count != 0) {
        hv_vmcs_diagnose_format(&diag.findings[0], line, sizeof(line));
        fail_msg("the next VM entry would fail: %s", line);
    }
}

static uint64_t seg(uint32_t which, int part)
{
    const struct hv_vmcs_segment_fields *f = &hv_vmcs_guest_segment[which];

    return fx_field(part == 0 ? f->selector : part == 1 ? f->base : part == 2 ? f->limit : f->access_rights);
}

/* ---- the identity EPT ------------------------------------------------------- */

/* Variable MTRR 0: 0xC0000000-0xFFFFFFFF UC (the PCI hole); MTRRs on,
 * default WB (the profile's MTRR_DEF_TYPE 0xC06). */
static void pci_hole_uc(void)
{
    hv_mock_msr_set(HV_MOCK_ALL_CPUS, 0x200, 0xC0000000ull | MT_UC);
    hv_mock_msr_set(HV_MOCK_ALL_CPUS, 0x201, 0xFFFFC0000000ull | (1ull << 11));
}

static void ept_maps_every_address_to_itself_with_mtrr_types(void **state)
{
    const uint64_t *pml4, *pdpt, *pd;
    uint64_t base;

    (void)state;
    /* Given MTRRs that make 3-4 GiB uncacheable... */
    assert_int_equal(fx_teardown(NULL), 0);
    start(HV_MOCK_PROFILE_HASWELL, pci_hole_uc);
    /* ...then hv_create built a 4-level WB EPT (EPTP bits 5:3 = 3, 2:0 = 6)... */
    assert_non_null(fx_hv->ept);
    assert_int_equal(fx_hv->eptp & 0xFFF, (3u << 3) | MT_WB);
    base = fx_hv->eptp & ~0xFFFull;
    assert_int_equal(base, (uint64_t)(uintptr_t)fx_hv->ept);
    pml4 = fx_hv->ept;
    pdpt = pml4 + 512;
    pd = pdpt + 512;
    assert_int_equal(pml4[0], (base + 4096) | EPT_RWX);
    assert_int_equal(pml4[1], 0);
    /* ...2 MiB pages below 4 GiB, each mapping its own address... */
    assert_int_equal(pdpt[0], (base + 2 * 4096) | EPT_RWX);
    assert_int_equal(pdpt[3], (base + 5 * 4096) | EPT_RWX);
    assert_int_equal(pd[0], 0 | EPT_LARGE | EPT_RWX | MT(MT_WB));
    assert_int_equal(pd[1], (1ull << 21) | EPT_LARGE | EPT_RWX | MT(MT_WB));
    /* ...UC where the MTRRs say UC, WB just below... */
    assert_int_equal(pd[3 * 512 - 1], 0xBFE00000ull | EPT_LARGE | EPT_RWX | MT(MT_WB));
    assert_int_equal(pd[3 * 512], 0xC0000000ull | EPT_LARGE | EPT_RWX | MT(MT_UC));
    assert_int_equal(pd[4 * 512 - 1], 0xFFE00000ull | EPT_LARGE | EPT_RWX | MT(MT_UC));
    /* ...and 1 GiB WB pages above, up to 512 GiB (MAXPHYADDR 48). */
    assert_int_equal(fx_hv->ept_gib, 512);
    assert_int_equal(pdpt[4], (4ull << 30) | EPT_LARGE | EPT_RWX | MT(MT_WB));
    assert_int_equal(pdpt[511], (511ull << 30) | EPT_LARGE | EPT_RWX | MT(MT_WB));
    /* (fx_teardown checks that hv_destroy freed it: no allocation left.) */
}

static void legacy_vga_uc(void)
{
    hv_mock_msr_set(HV_MOCK_ALL_CPUS, 0x259, 0x0000000000000606ull); /* 0xA0000-0xBFFFF: UC bytes */
}

static void first_2m_is_uc_when_a_fixed_range_is(void **state)
{
    const uint64_t *pd;

    (void)state;
    assert_int_equal(fx_teardown(NULL), 0);
    start(HV_MOCK_PROFILE_HASWELL, legacy_vga_uc);
    pd = (const uint64_t *)fx_hv->ept + 1024;
    assert_int_equal(pd[0], 0 | EPT_LARGE | EPT_RWX | MT(MT_UC));
    assert_int_equal(pd[1] & 0x38, MT(MT_WB));
}

static void ept_allocation_failure_fails_create_and_loses_nothing(void **state)
{
    struct hv_config cfg;
    struct hv *hv = NULL;
    uint32_t nth;
    hv_status_t st = HV_STATUS_INTERNAL_ERROR;

    (void)state;
    assert_int_equal(fx_teardown(NULL), 0);
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    hv_config_init(&cfg);
    cfg.restart_on_sipi = true;
    /* Every allocation of hv_create in turn, the EPT (the last) included. */
    for (nth = 1; nth < 64 && st != HV_STATUS_SUCCESS; nth++) {
        hv_mock_os_fail_alloc_at(nth);
        st = hv_create(&hv, hv_mock_os(), &cfg);
        hv_mock_os_fail_alloc_at(0);
        if (st != HV_STATUS_SUCCESS) {
            assert_int_equal(st, HV_STATUS_INSUFFICIENT_RESOURCES);
            assert_null(hv);
            assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
        }
    }
    assert_int_equal(st, HV_STATUS_SUCCESS);
    assert_true(nth > 3);
    assert_non_null(hv->ept);
    hv_destroy(hv);
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
    start(HV_MOCK_PROFILE_HASWELL, NULL);
}

/* ---- INIT, SIPI ------------------------------------------------------------- */

static void init_waits_for_sipi_with_unrestricted_guest(void **state)
{
    const char *why = "x";

    (void)state;
    assert_true(hv_ept_sipi_ready(fx_hv, fx_v, &why));
    assert_null(why);
    /* Given a running 64-bit guest without EPT... */
    assert_int_equal(fx_field(HV_VMCS_SECONDARY_VM_EXEC_CONTROL) & HV_PROC2_ENABLE_EPT, 0);
    /* ...when an INIT arrives (and the exit saved blocking by SMI, as
     * Bochs 2.7 does after wait-for-SIPI: not in SMM, it must be 0)... */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, HV_INTERRUPTIBILITY_SMI);
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO), 0);
    /* ...then it waits for a SIPI, with EPT (the identity map) and
     * unrestricted guest on and CR0.PE/PG no longer owned by the host. */
    assert_int_equal(fx_field(HV_VMCS_GUEST_ACTIVITY_STATE), HV_ACTIVITY_WAIT_SIPI);
    assert_int_equal(fx_field(HV_VMCS_SECONDARY_VM_EXEC_CONTROL) &
                         (HV_PROC2_ENABLE_EPT | HV_PROC2_UNRESTRICTED_GUEST),
                     HV_PROC2_ENABLE_EPT | HV_PROC2_UNRESTRICTED_GUEST);
    assert_int_equal(fx_field(HV_VMCS_EPT_POINTER), fx_hv->eptp);
    assert_int_equal(fx_field(HV_VMCS_CR0_GUEST_HOST_MASK) & (HV_CR0_PE | HV_CR0_PG), 0);
    assert_true(fx_field(HV_VMCS_CR0_GUEST_HOST_MASK) & HV_CR0_NE);
    assert_true(fx_v->awaiting_sipi);
    assert_true(hv_mock_os_log_contains("INIT received: waiting for a SIPI"));
    assert_entry_ok();
}

static void sipi_starts_real_mode_at_the_vector(void **state)
{
    struct hv_cpuid_regs id;
    uint32_t i;

    (void)state;
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    for (i = 0; i < 16; i++)
        R[i] = 0x1111 * (i + 1);
    /* When the SIPI with vector 0x9A arrives... */
    assert_int_equal(fx_exit(HV_EXIT_SIPI, 0x9A, 0), HV_ACTION_RESUME);
    /* ...then the CPU runs, in real mode, at 9A00:0000 (SDM Vol. 3A, 10.4.3)... */
    assert_int_equal(fx_field(HV_VMCS_GUEST_ACTIVITY_STATE), HV_ACTIVITY_ACTIVE);
    assert_int_equal(seg(HV_SEG_CS, 0), 0x9A00);
    assert_int_equal(seg(HV_SEG_CS, 1), 0x9A000);
    assert_int_equal(seg(HV_SEG_CS, 2), 0xFFFF);
    assert_int_equal(seg(HV_SEG_CS, 3), 0x9B);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RIP), 0);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RSP), 0);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RFLAGS), HV_RFLAGS_FIXED);
    for (i = HV_SEG_ES; i <= HV_SEG_GS; i++) {
        if (i == HV_SEG_CS)
            continue;
        assert_int_equal(seg(i, 0), 0);
        assert_int_equal(seg(i, 1), 0);
        assert_int_equal(seg(i, 2), 0xFFFF);
        assert_int_equal(seg(i, 3), 0x93);
    }
    /* ...with the INIT state of Table 10-1: the guest reads CR0 =
     * 0x60000010 and CR4 = 0, paging and protection off, EFER 0, no
     * IA-32e mode, GPRs 0 and EDX = the processor signature... */
    assert_int_equal(fx_field(HV_VMCS_CR0_READ_SHADOW), 0x60000010);
    assert_int_equal(fx_field(HV_VMCS_GUEST_CR0) & (HV_CR0_PE | HV_CR0_PG), 0);
    assert_int_equal(fx_field(HV_VMCS_CR4_READ_SHADOW), 0);
    assert_int_equal(fx_field(HV_VMCS_GUEST_CR3), 0);
    assert_int_equal(fx_field(HV_VMCS_GUEST_IA32_EFER), 0);
    assert_int_equal(fx_field(HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_IA32E_MODE_GUEST, 0);
    assert_int_equal(fx_field(HV_VMCS_GUEST_GDTR_LIMIT), 0xFFFF);
    assert_int_equal(fx_field(HV_VMCS_GUEST_IDTR_BASE), 0);
    hv_arch_cpuid(1, 0, &id);
    for (i = 0; i < 16; i++)
        if (i != HV_GPR_RDX && i != HV_GPR_RSP)
            assert_int_equal(R[i], 0);
    assert_int_equal(R[HV_GPR_RDX], id.eax);
    assert_false(fx_v->awaiting_sipi);
    assert_int_equal(fx_v->sipi_restarts, 1);
    assert_true(hv_mock_os_log_contains("SIPI vector 0x9a: restarting in real mode at 0x9a00:0000"));
    /* ...and that state passes the VM-entry checks (unrestricted guest). */
    assert_entry_ok();
}

static void second_sipi_is_ignored(void **state)
{
    (void)state;
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_exit(HV_EXIT_SIPI, 0x9A, 0), HV_ACTION_RESUME);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_RIP, 0x1234);
    /* When another SIPI reaches the running CPU (INIT-SIPI-SIPI)... */
    assert_int_equal(fx_exit(HV_EXIT_SIPI, 0x10, 0), HV_ACTION_RESUME);
    /* ...then nothing changes: it is not waiting for one. */
    assert_int_equal(seg(HV_SEG_CS, 0), 0x9A00);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RIP), 0x1234);
    assert_int_equal(fx_v->sipi_restarts, 1);
    assert_true(hv_mock_os_log_contains("SIPI vector 0x10 ignored"));
    assert_entry_ok();
}

static void paging_on_with_lme_enters_ia32e_mode(void **state)
{
    (void)state;
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_exit(HV_EXIT_SIPI, 0x9A, 0), HV_ACTION_RESUME);
    /* Given the restarted CPU's start-up code with CR4.PAE and EFER.LME
     * set (neither exits)... */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, fx_field(HV_VMCS_GUEST_CR4) | HV_CR4_PAE);
    hv_mock_vmcs_seed(HV_VMCS_CR4_READ_SHADOW, HV_CR4_PAE);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR3, 0x100000);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_IA32_EFER, HV_EFER_LME);
    /* ...when it turns on PE, PG and NE in one MOV CR0 (NE is the host's
     * bit, so this one exits)... */
    R[HV_GPR_RAX] = 0x80000031;
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(0, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    /* ...then it is in IA-32e mode as the CPU would have made it. */
    assert_int_equal(fx_field(HV_VMCS_GUEST_CR0) & 0x80000031, 0x80000031);
    assert_int_equal(fx_field(HV_VMCS_CR0_READ_SHADOW), 0x80000031);
    assert_int_equal(fx_field(HV_VMCS_GUEST_IA32_EFER), HV_EFER_LME | HV_EFER_LMA);
    assert_true(fx_field(HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_IA32E_MODE_GUEST);
    assert_entry_ok();
    /* And back: paging off from compatibility mode leaves IA-32e mode. */
    R[HV_GPR_RAX] = 0x00000011;
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(0, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_GUEST_CR0) & (HV_CR0_PE | HV_CR0_PG), HV_CR0_PE);
    assert_int_equal(fx_field(HV_VMCS_GUEST_IA32_EFER), HV_EFER_LME);
    assert_int_equal(fx_field(HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_IA32E_MODE_GUEST, 0);
    assert_entry_ok();
}

static void init_without_unrestricted_guest_parks_safely(void **state)
{
    const char *why = NULL;

    (void)state;
    /* Given a CPU without EPT and unrestricted guest (restart requested)... */
    assert_int_equal(fx_teardown(NULL), 0);
    start(HV_MOCK_PROFILE_NO_EPT_VPID, NULL);
    assert_null(fx_hv->ept);
    assert_int_equal(fx_hv->eptp, 0);
    assert_false(hv_ept_sipi_ready(fx_hv, fx_v, &why));
    assert_string_equal(why, "the CPU has no EPT");
    /* ...when INIT and SIPI arrive... */
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    /* ...then the CPU is parked in wait-for-SIPI, nothing else changed,
     * the log says why... */
    assert_int_equal(fx_field(HV_VMCS_GUEST_ACTIVITY_STATE), HV_ACTIVITY_WAIT_SIPI);
    assert_false(fx_v->awaiting_sipi);
    assert_true(hv_mock_os_log_contains("parked in wait-for-SIPI (no restart at SIPI: the CPU has no EPT)"));
    assert_entry_ok();
    assert_int_equal(fx_exit(HV_EXIT_SIPI, 0x9A, 0), HV_ACTION_RESUME);
    /* ...and the SIPI leaves it parked, in its old mode. */
    assert_int_equal(fx_field(HV_VMCS_GUEST_ACTIVITY_STATE), HV_ACTIVITY_WAIT_SIPI);
    assert_int_not_equal(seg(HV_SEG_CS, 0), 0x9A00);
    assert_true(hv_mock_os_log_contains("SIPI vector 0x9a ignored"));
    assert_int_equal(fx_v->sipi_restarts, 0);
    assert_entry_ok();
}

static void restart_off_by_default(void **state)
{
    const char *why = NULL;

    (void)state;
    assert_int_equal(fx_teardown(NULL), 0);
    assert_int_equal(fx_setup(NULL), 0);
    assert_null(fx_hv->ept);
    assert_false(hv_ept_sipi_ready(fx_hv, fx_v, &why));
    assert_string_equal(why, "restart at SIPI not configured");
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_GUEST_ACTIVITY_STATE), HV_ACTIVITY_WAIT_SIPI);
    assert_false(fx_v->awaiting_sipi);
}

/* ---- what an OS sees ---------------------------------------------------------- */

static uint64_t query(uint64_t item, uint64_t index, uint64_t *value)
{
    uint64_t st = hv_mock_guest_vmcall(HV_VMCALL_QUERY, HV_VMCALL_KEY, item, index);

    *value = fx_v->gprs.r[HV_GPR_RDX];
    return st;
}

static void queries_report_another_cpus_exits_and_restarts(void **state)
{
    uint64_t v = 0, total1;

    (void)state;
    /* Given core 1 took INIT and SIPI... */
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_exit(HV_EXIT_SIPI, 0x9A, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    total1 = 0;
    for (uint32_t i = 0; i <= HV_EXIT_REASON_COUNT; i++)
        total1 += fx_v->exit_count[i];
    /* ...when core 0 asks about core 1... */
    hv_mock_cpu_bind(0);
    fx_v = hv_mock_current_vcpu();
    fx_set_cpl(0);
    assert_int_equal(query(HV_QUERY_CPU_EXIT_COUNT, (1ull << 32) | HV_EXIT_INIT_SIGNAL, &v), HV_STATUS_SUCCESS);
    assert_int_equal(v, 2);
    assert_int_equal(query(HV_QUERY_CPU_EXIT_COUNT, (1ull << 32) | HV_EXIT_SIPI, &v), HV_STATUS_SUCCESS);
    assert_int_equal(v, 1);
    assert_int_equal(query(HV_QUERY_CPU_EXIT_TOTAL, 1, &v), HV_STATUS_SUCCESS);
    assert_int_equal(v, total1);
    /* ...restarted once, waiting again... */
    assert_int_equal(query(HV_QUERY_CPU_RESTARTS, 1, &v), HV_STATUS_SUCCESS);
    assert_int_equal(v, (1ull << 63) | 1u);
    assert_int_equal(query(HV_QUERY_CPU_VIRTUALIZED, 1, &v), HV_STATUS_SUCCESS);
    assert_int_equal(v, 1);
    /* ...and bad indexes are refused. */
    assert_int_equal(query(HV_QUERY_CPU_EXIT_TOTAL, 2, &v), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(query(HV_QUERY_CPU_EXIT_COUNT, (2ull << 32) | 3u, &v), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(query(HV_QUERY_CPU_EXIT_COUNT, (1ull << 32) | (HV_EXIT_REASON_COUNT + 1u), &v),
                     HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(query(HV_QUERY_CPU_RESTARTS, 7, &v), HV_STATUS_INVALID_PARAMETER);
    /* Core 1 resumes the restarted guest for the teardown. */
    hv_mock_cpu_bind(1);
    fx_v = hv_mock_current_vcpu();
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(ept_maps_every_address_to_itself_with_mtrr_types),
        T(first_2m_is_uc_when_a_fixed_range_is),
        T(ept_allocation_failure_fails_create_and_loses_nothing),
        T(init_waits_for_sipi_with_unrestricted_guest),
        T(sipi_starts_real_mode_at_the_vector),
        T(second_sipi_is_ignored),
        T(paging_on_with_lme_enters_ia32e_mode),
        T(init_without_unrestricted_guest_parks_safely),
        T(restart_off_by_default),
        T(queries_report_another_cpus_exits_and_restarts),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
