/* Behaviour the SDM asks for on today's CPUs (issue 11, section 3): VMCS
 * setup on modern features, guest-state MSR rules, and guest state
 * capture from unusual but legal descriptor tables. Each test failed
 * before the change it came with. */
#include "support.h"

#include <string.h>

static struct hv *g_hv;
static struct hv_msr_result res[8];

static int teardown(void **state)
{
    (void)state;
    support_fail_on_mock_failure();
    if (hv_mock_cpu_count() > 0)
        hv_mock_cpu_bind(0);
    if (g_hv != NULL) {
        (void)hv_stop(g_hv);
        hv_destroy(g_hv);
        g_hv = NULL;
    }
    hv_mock_fini();
    return 0;
}

/* A code/data/system segment descriptor (SDM Vol. 3A, 3.4.5). */
static uint64_t desc(uint64_t base, uint32_t limit, uint32_t type, uint32_t s, uint32_t dpl,
                     uint32_t l, uint32_t db, uint32_t g)
{
    return (uint64_t)(limit & 0xFFFFu) | ((base & 0xFFFFFFull) << 16) |
           ((uint64_t)(type & 0xFu) << 40) | ((uint64_t)(s & 1u) << 44) |
           ((uint64_t)(dpl & 3u) << 45) | (1ull << 47) | ((uint64_t)((limit >> 16) & 0xFu) << 48) |
           ((uint64_t)(l & 1u) << 53) | ((uint64_t)(db & 1u) << 54) | ((uint64_t)(g & 1u) << 55) |
           (((base >> 24) & 0xFFull) << 56);
}

/* ---- host selectors ------------------------------------------------------ */

/* A GDT with more than 32 entries: the OS's kernel CS, SS and TSS sit at
 * indices 34, 35 and 40 (selectors 0x110, 0x118, 0x140). */
static uint64_t big_gdt[64];

static void host_selectors_keep_their_index_above_31(void **state)
{
    struct hv_mock_cpu *cpu;
    uint64_t tss, gate;

    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    cpu = hv_mock_cpu(0);
    memset(big_gdt, 0, sizeof(big_gdt));
    tss = (uint64_t)(uintptr_t)cpu->tss;
    big_gdt[34] = desc(0, 0xFFFFF, 0xB, 1, 0, 1, 0, 1);
    big_gdt[35] = desc(0, 0xFFFFF, 0x3, 1, 0, 0, 1, 1);
    big_gdt[40] = desc(tss, 0x67, 0xB, 0, 0, 0, 0, 0);
    big_gdt[41] = tss >> 32;
    cpu->gdtr.base = (uint64_t)(uintptr_t)big_gdt;
    cpu->gdtr.limit = sizeof(big_gdt) - 1;
    cpu->sel[HV_SEG_CS] = 0x110;
    cpu->sel[HV_SEG_SS] = 0x118;
    cpu->sel[HV_SEG_TR] = 0x140;

    g_hv = support_start_hv();
    /* SDM Vol. 3C, 27.2.3: only RPL (bits 1:0) and TI (bit 2) must be 0;
     * the index (bits 15:3) is the host's own. */
    assert_int_equal(support_field_on(0, HV_VMCS_HOST_CS_SELECTOR), 0x110);
    assert_int_equal(support_field_on(0, HV_VMCS_HOST_SS_SELECTOR), 0x118);
    assert_int_equal(support_field_on(0, HV_VMCS_HOST_TR_SELECTOR), 0x140);
    /* The host IDT's gates use that CS too. */
    gate = ((const uint64_t *)g_hv->vcpus[0].host_idt)[2 * HV_VECTOR_GP];
    assert_int_equal((gate >> 16) & 0xFFFF, 0x110);
}

/* ---- guest state from an LDT ------------------------------------------------ */

/* A 32-bit process with an LDT: FS (0x7) and DS (0xF) are LDT selectors
 * when the load IPI arrives in kernel mode. */
static uint64_t ldt[4];

static void with_an_ldt(struct hv_mock_cpu *cpu)
{
    ldt[0] = desc(0x1000, 0xFFFF, 0x3, 1, 3, 0, 1, 0);   /* byte-granular data, DPL 3 */
    ldt[1] = desc(0, 0xFFFFF, 0x3, 1, 3, 0, 1, 1);       /* flat data, DPL 3 */
    cpu->gdt[10] = desc((uint64_t)(uintptr_t)ldt, sizeof(ldt) - 1, 0x2, 0, 0, 0, 0, 0);
    cpu->gdt[11] = (uint64_t)(uintptr_t)ldt >> 32;
    cpu->sel[HV_SEG_LDTR] = 0x50;
    cpu->sel[HV_SEG_FS] = 0x7;
    cpu->sel[HV_SEG_DS] = 0xF;
}

static void guest_state_capture_reads_ldt_selectors(void **state)
{
    uint64_t fs_base = 0;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    with_an_ldt(hv_mock_cpu(1));
    g_hv = support_start_hv();

    /* LDTR from its GDT descriptor: a present LDT (type 2). */
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_LDTR_SELECTOR), 0x50);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_LDTR_BASE), (uint64_t)(uintptr_t)ldt);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_LDTR_LIMIT), sizeof(ldt) - 1);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_LDTR_AR_BYTES), 0x82);
    /* FS: access rights and limit from LDT entry 0, base from the MSR. */
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_FS_SELECTOR), 0x7);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_FS_AR_BYTES), 0x40F3);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_FS_LIMIT), 0xFFFF);
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_FS_BASE, &fs_base));
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_FS_BASE), fs_base);
    /* DS: LDT entry 1, everything from the descriptor. */
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_DS_AR_BYTES), 0xC0F3);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_DS_LIMIT), 0xFFFFFFFFu);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_DS_BASE), 0);
    /* Host data selectors never point into the GDT with an LDT index. */
    assert_int_equal(support_field_on(1, HV_VMCS_HOST_FS_SELECTOR), 0);
    assert_int_equal(support_field_on(1, HV_VMCS_HOST_DS_SELECTOR), 0);
    /* The other core, without an LDT, is as before. */
    assert_int_equal(support_field_on(0, HV_VMCS_GUEST_LDTR_AR_BYTES), HV_AR_UNUSABLE);
}

static void ldt_selectors_that_cannot_be_loaded_are_refused(void **state)
{
    struct hv *hv = NULL;

    (void)state;
    /* Beyond the LDT's limit. */
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    with_an_ldt(hv_mock_cpu(0));
    hv_mock_cpu(0)->sel[HV_SEG_GS] = 0x2F;                /* LDT index 5 of 4 */
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_BAD_DESCRIPTOR);
    hv_destroy(hv);
    hv_mock_fini();
    /* An LDT selector with a null LDTR. */
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    hv_mock_cpu(0)->sel[HV_SEG_FS] = 0x7;
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_BAD_DESCRIPTOR);
    hv_destroy(hv);
    hv_mock_fini();
    /* TR can never come from an LDT. */
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    with_an_ldt(hv_mock_cpu(0));
    hv_mock_cpu(0)->sel[HV_SEG_TR] = 0x44;
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_BAD_DESCRIPTOR);
    hv_destroy(hv);
}

/* ---- secondary controls for modern guest features --------------------------- */

/* Linux's udelay uses TPAUSE when CPUID shows WAITPKG: without "enable
 * user wait and pause" TPAUSE/UMWAIT/UMONITOR #UD in a guest (SDM Vol. 3C,
 * 26.3 / Table 26-7). */
static void waitpkg_turns_on_user_wait_and_pause(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    g_hv = support_start_hv();
    assert_true(support_field_on(1, HV_VMCS_SECONDARY_VM_EXEC_CONTROL) & HV_PROC2_ENABLE_USER_WAIT_PAUSE);
}

static void waitpkg_the_cpu_cannot_enable_is_refused(void **state)
{
    struct hv *hv = NULL;

    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    hv_mock_vmx_ctls_allow(0, HV_MOCK_CTLS_PROC2, 0, HV_PROC2_ENABLE_USER_WAIT_PAUSE);
    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    /* The guest would #UD in udelay: refuse, as for RDTSCP/INVPCID/XSAVES. */
    assert_int_equal(hv_start(hv), HV_STATUS_UNSUPPORTED);
    hv_destroy(hv);
}

static void no_waitpkg_no_user_wait_and_pause(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    hv_mock_cpuid_update(0, 7, 0, HV_MOCK_ECX, 0, 1u << 5);
    g_hv = support_start_hv();
    assert_false(support_field_on(0, HV_VMCS_SECONDARY_VM_EXEC_CONTROL) & HV_PROC2_ENABLE_USER_WAIT_PAUSE);
}

/* With XSAVES enabled, XSAVES/XRSTORS exit for every bit set in
 * EDX:EAX & IA32_XSS & the XSS-exiting bitmap (SDM Vol. 3C, 26.1.3): the
 * bitmap must be written, and 0, or the guest's XSAVES may exit at random. */
static void xss_exiting_bitmap_is_zero_with_xsaves(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_SKYLAKE), 0);
    g_hv = support_start_hv();
    assert_true(support_field_on(1, HV_VMCS_SECONDARY_VM_EXEC_CONTROL) & HV_PROC2_ENABLE_XSAVES);
    assert_int_equal(support_field_on(1, HV_VMCS_XSS_EXIT_BITMAP), 0);
    assert_int_equal(support_field_on(0, HV_VMCS_XSS_EXIT_BITMAP), 0);
}

/* ---- XSAVES / XRSTORS exits (reasons 63, 64) ---------------------------------- */

static enum hv_exit_action exit_on(uint32_t cpu, uint32_t reason, uint32_t len)
{
    struct hv_mock_exit x = { .reason = reason, .instruction_len = len };
    uint32_t prev = hv_mock_cpu_bind(cpu);
    enum hv_exit_action a = hv_mock_exit(&x);

    hv_mock_cpu_bind(prev);
    return a;
}

/* The core never sets a bit in the XSS-exiting bitmap; an SDK user's code
 * may. If such an exit reaches the default handler (no handler for 63/64,
 * or one that chains to the default), the instruction cannot be emulated
 * in root (the guest's extended state is not root's), so the default
 * gives the bitmap back its 0 and re-runs the instruction natively: RIP
 * unchanged, nothing injected, the guest's state exactly as the CPU
 * would leave it. It says so in the log. */
static void xsaves_exit_resets_the_bitmap_and_reruns_natively(void **state)
{
    static const uint32_t reasons[] = { HV_EXIT_XSAVES, HV_EXIT_XRSTORS };
    size_t i;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_SKYLAKE), 0);
    g_hv = support_start_hv();
    for (i = 0; i < 2; i++) {
        uint64_t rip = support_field_on(1, HV_VMCS_GUEST_RIP);

        hv_mock_os_log_clear();
        hv_mock_vmcs_seed_on(1, HV_VMCS_XSS_EXIT_BITMAP, 0x100);   /* a user's PT bit */
        if (exit_on(1, reasons[i], 4) != HV_ACTION_RESUME)
            fail_msg("reason %u: not resumed", reasons[i]);
        assert_int_equal(support_field_on(1, HV_VMCS_GUEST_RIP), rip);
        assert_false(support_field_on(1, HV_VMCS_VM_ENTRY_INTR_INFO) & HV_INTR_INFO_VALID);
        assert_int_equal(support_field_on(1, HV_VMCS_XSS_EXIT_BITMAP), 0);
        assert_true(hv_mock_os_log_contains("XSS-exiting bitmap 0x100"));
        assert_int_equal(hv_mock_exit_count(g_hv, 1, reasons[i]), 1);
    }
}

/* An XSAVES exit the bitmap does not explain (bitmap already 0, or XSAVES
 * not enabled at all) would exit again forever if re-run: fatal, dumped. */
static void unexplained_xsaves_exit_is_fatal(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SKYLAKE), 0);
    g_hv = support_start_hv();
    assert_int_equal(exit_on(0, HV_EXIT_XSAVES, 4), HV_ACTION_FATAL);
    assert_non_null(strstr(hv_mock_exit_dump(g_hv, 0), "unhandled VM exit"));
    hv_mock_cpu_resume_guest(0);
    assert_int_equal(hv_stop(g_hv), HV_STATUS_SUCCESS);
    hv_destroy(g_hv);
    g_hv = NULL;
    hv_mock_fini();

    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);  /* no XSAVES */
    g_hv = support_start_hv();
    assert_int_equal(exit_on(0, HV_EXIT_XRSTORS, 4), HV_ACTION_FATAL);
    assert_non_null(strstr(hv_mock_exit_dump(g_hv, 0), "unhandled VM exit"));
    hv_mock_cpu_resume_guest(0);
}

/* ---- IA32_SMBASE and the virtual FEATURE_CONTROL ----------------------------- */

static uint64_t guest_rdmsr(uint32_t cpu, uint32_t msr, bool *gp)
{
    uint32_t prev = hv_mock_cpu_bind(cpu);
    struct hv_vcpu *v = hv_mock_current_vcpu();
    struct hv_mock_exit x = { .reason = HV_EXIT_RDMSR, .instruction_len = 2 };
    uint64_t info = 0;

    v->gprs.r[HV_GPR_RCX] = msr;
    v->gprs.r[HV_GPR_RAX] = v->gprs.r[HV_GPR_RDX] = 0xDEAD;
    hv_mock_vmcs_seed(HV_VMCS_VM_ENTRY_INTR_INFO, 0);
    (void)hv_mock_exit(&x);
    (void)hv_mock_vmcs_peek(HV_VMCS_VM_ENTRY_INTR_INFO, &info);
    *gp = (info & HV_INTR_INFO_VALID) && HV_INTR_INFO_VECTOR(info) == HV_VECTOR_GP;
    hv_mock_cpu_bind(prev);
    return ((uint64_t)(uint32_t)v->gprs.r[HV_GPR_RDX] << 32) | (uint32_t)v->gprs.r[HV_GPR_RAX];
}

static bool guest_wrmsr_gp(uint32_t cpu, uint32_t msr, uint64_t value)
{
    uint32_t prev = hv_mock_cpu_bind(cpu);
    struct hv_vcpu *v = hv_mock_current_vcpu();
    struct hv_mock_exit x = { .reason = HV_EXIT_WRMSR, .instruction_len = 2 };
    uint64_t info = 0;

    v->gprs.r[HV_GPR_RCX] = msr;
    v->gprs.r[HV_GPR_RAX] = (uint32_t)value;
    v->gprs.r[HV_GPR_RDX] = value >> 32;
    hv_mock_vmcs_seed(HV_VMCS_VM_ENTRY_INTR_INFO, 0);
    (void)hv_mock_exit(&x);
    (void)hv_mock_vmcs_peek(HV_VMCS_VM_ENTRY_INTR_INFO, &info);
    hv_mock_cpu_bind(prev);
    return (info & HV_INTR_INFO_VALID) && HV_INTR_INFO_VECTOR(info) == HV_VECTOR_GP;
}

/* IA32_SMBASE is readable only in SMM (SDM Vol. 4, Table 2-2 "SMM only";
 * Vol. 3C, 32.11): outside SMM both RDMSR and WRMSR #GP, and GUEST_SMBASE,
 * used only by the dual-monitor treatment of SMM, is nobody's route to it. */
static void smbase_is_gp_outside_smm(void **state)
{
    uint64_t smbase0 = 0;
    bool gp = false;
    uint32_t c;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    g_hv = support_start_hv();
    smbase0 = support_field_on(1, HV_VMCS_GUEST_SMBASE);
    assert_int_equal(hv_msr_write(g_hv, HV_ALL_CORES, HV_MSR_IA32_SMBASE, 0xA0000, res, 2),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    for (c = 0; c < 2; c++) {
        assert_int_equal(res[c].status, HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
        assert_int_equal(support_field_on(c, HV_VMCS_GUEST_SMBASE), smbase0);
    }
    assert_int_equal(hv_msr_read(g_hv, 1, HV_MSR_IA32_SMBASE, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    /* The guest's own RDMSR/WRMSR: #GP(0), the field untouched. */
    (void)guest_rdmsr(1, HV_MSR_IA32_SMBASE, &gp);
    assert_true(gp);
    assert_true(guest_wrmsr_gp(1, HV_MSR_IA32_SMBASE, 0xA0000));
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_SMBASE), smbase0);
    assert_false(hv_msr_is_guest_state(HV_MSR_IA32_SMBASE));
}

/* Even where the platform does not fault on it (an emulator, a broken
 * VM), a broadcast to cores not virtualized refuses SMBASE the same way. */
static void smbase_is_gp_on_cores_not_virtualized(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    hv_mock_msr_set_gp(HV_MOCK_ALL_CPUS, HV_MSR_IA32_SMBASE, false, false);
    assert_int_equal(hv_create(&g_hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_read(g_hv, HV_ALL_CORES, HV_MSR_IA32_SMBASE, res, 2),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(res[1].status, HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_SMBASE, 0xA0000, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    hv_destroy(g_hv);
    g_hv = NULL;
}

/* The guest's FEATURE_CONTROL copy takes only what WRMSR to the real MSR
 * takes (SDM Vol. 4, Table 2-2, IA32_FEATURE_CONTROL; Vol. 3C, 24.7): not
 * once locked, no reserved bit, bit 1 and SENTER bits 15:8 only with SMX,
 * SGX bits only with SGX, LMCE only with MCG_CAP[27]. */
static void feature_control_copy_validates_writes(void **state)
{
    static const uint64_t bad[] = {
        1ull << 3,                 /* reserved */
        1ull << 63,                /* reserved */
        HV_FEATURE_CONTROL_VMX_IN_SMX | HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX,  /* no SMX */
        0xFF00ull,                 /* SENTER enables without SMX */
        1ull << 17, 1ull << 18,    /* SGX launch control, SGX: no SGX */
        1ull << 20,                /* LMCE without MCG_CAP[27] */
    };
    uint64_t phys = 0;
    size_t i;

    (void)state;
    /* Firmware left it unlocked; the guest's copy starts unlocked too. */
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    hv_mock_msr_set(HV_MOCK_ALL_CPUS, HV_MSR_IA32_FEATURE_CONTROL, 0);
    g_hv = support_start_hv();
    hv_mock_set_feature_control_virtual(g_hv, 0, 0);
    hv_mock_set_feature_control_virtual(g_hv, 1, 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (hv_msr_write(g_hv, 0, HV_MSR_IA32_FEATURE_CONTROL, bad[i] | HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX,
                         res, 1) != HV_STATUS_EXCEPTION_GENERAL_PROTECTION)
            fail_msg("FEATURE_CONTROL 0x%llx accepted", (unsigned long long)bad[i]);
        assert_int_equal(hv_mock_feature_control_virtual(g_hv, 0), 0);
    }
    assert_true(guest_wrmsr_gp(1, HV_MSR_IA32_FEATURE_CONTROL, 0xFF04));
    assert_int_equal(hv_mock_feature_control_virtual(g_hv, 1), 0);

    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_FEATURE_CONTROL, 0x4, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(res[0].route, HV_MSR_ROUTE_VIRTUAL);
    assert_int_equal(hv_mock_feature_control_virtual(g_hv, 0), 0x4);
    assert_false(guest_wrmsr_gp(0, HV_MSR_IA32_FEATURE_CONTROL, 0x5));   /* lock it */
    assert_int_equal(hv_mock_feature_control_virtual(g_hv, 0), 0x5);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_FEATURE_CONTROL, 0x5, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    /* The real MSR is the one hv_vmx_on locked, untouched by all this. */
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_FEATURE_CONTROL, &phys));
    assert_int_equal(phys, 0x5);
}

static void feature_control_bits_follow_the_cpu(void **state)
{
    (void)state;
    /* Skylake has SMX: VMX in SMX and the SENTER enables are fine. */
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SKYLAKE), 0);
    g_hv = support_start_hv();
    hv_mock_set_feature_control_virtual(g_hv, 0, 0);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_FEATURE_CONTROL, 0xFF06, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_FEATURE_CONTROL, 0xFF06 | (1ull << 20), res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_stop(g_hv), HV_STATUS_SUCCESS);
    hv_destroy(g_hv);
    g_hv = NULL;
    hv_mock_fini();
    /* Sapphire Rapids has LMCE (MCG_CAP[27]) and SGX launch control once
     * CPUID says so. */
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    hv_mock_msr_set(0, HV_MSR_IA32_FEATURE_CONTROL, 0);
    hv_mock_cpuid_update(0, 7, 0, HV_MOCK_ECX, 1u << 30, 0);
    g_hv = support_start_hv();
    hv_mock_set_feature_control_virtual(g_hv, 0, 0);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_FEATURE_CONTROL, 0x4 | (1ull << 17) | (1ull << 20),
                                  res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_FEATURE_CONTROL, 0x4 | (1ull << 18), res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
}

/* ---- what WRMSR accepts ---------------------------------------------------- */

/* 57-bit canonical (bit 56 = 0, bits 63:57 = 0) but not 48-bit canonical. */
#define LA57_ONLY   0x00FF800000000000ull
#define NEITHER     0x0100000000000000ull

/* WRMSR of an address MSR checks canonicality against the processor's
 * linear-address width (CPUID.80000008H:EAX[15:8]: 57 with 5-level paging
 * support), not against CR4.LA57 (SDM Vol. 2B WRMSR; Intel 5-Level Paging
 * white paper 335252, 2.6). The mock's Sapphire Rapids runs 4-level paging
 * (CR4.LA57 = 0) like a default Linux boot. */
static void canonical_means_the_cpus_linear_address_width(void **state)
{
    static const uint32_t msrs[] = {
        HV_MSR_IA32_FS_BASE, HV_MSR_IA32_GS_BASE, HV_MSR_IA32_SYSENTER_ESP,
        HV_MSR_IA32_SYSENTER_EIP, HV_MSR_IA32_INTERRUPT_SSP_TABLE_ADDR,
    };
    size_t i;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    assert_false(hv_mock_cpu(0)->cr[4] & (1ull << 12));
    g_hv = support_start_hv();
    for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
        if (hv_msr_write(g_hv, HV_ALL_CORES, msrs[i], LA57_ONLY, res, 2) != HV_STATUS_SUCCESS)
            fail_msg("MSR 0x%x = 0x%llx refused on a CPU with LA57", msrs[i], (unsigned long long)LA57_ONLY);
        assert_int_equal(hv_msr_write(g_hv, 1, msrs[i], NEITHER, res, 1),
                         HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    }
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_FS_BASE), LA57_ONLY);
    /* The guest's own WRMSR follows the same rule. */
    assert_false(guest_wrmsr_gp(1, HV_MSR_IA32_SYSENTER_EIP, LA57_ONLY | 0x1000));
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_SYSENTER_EIP), LA57_ONLY | 0x1000);
    assert_true(guest_wrmsr_gp(1, HV_MSR_IA32_SYSENTER_EIP, NEITHER));
}

static void canonical_is_48_bits_without_la57(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    g_hv = support_start_hv();
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_FS_BASE, LA57_ONLY, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_FS_BASE, 0xFFFF800000000000ull, res, 1),
                     HV_STATUS_SUCCESS);
}

/* Whatever a guest-state MSR reads, writing it back is accepted: the
 * hypervisor never turns a no-op WRMSR into a #GP. */
static void writing_back_what_was_read_always_succeeds(void **state)
{
    static const uint32_t msrs[] = {
        HV_MSR_IA32_SYSENTER_CS, HV_MSR_IA32_SYSENTER_ESP, HV_MSR_IA32_SYSENTER_EIP,
        HV_MSR_IA32_FS_BASE, HV_MSR_IA32_GS_BASE, HV_MSR_IA32_DEBUGCTL, HV_MSR_IA32_PAT,
        HV_MSR_IA32_EFER, HV_MSR_IA32_PERF_GLOBAL_CTRL, HV_MSR_IA32_BNDCFGS, HV_MSR_IA32_RTIT_CTL,
        HV_MSR_IA32_PKRS, HV_MSR_IA32_S_CET, HV_MSR_IA32_INTERRUPT_SSP_TABLE_ADDR,
        HV_MSR_IA32_FEATURE_CONTROL,
    };
    static const enum hv_mock_profile profiles[] = {
        HV_MOCK_PROFILE_HASWELL, HV_MOCK_PROFILE_SKYLAKE, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS,
    };
    size_t p, i;

    (void)state;
    for (p = 0; p < sizeof(profiles) / sizeof(profiles[0]); p++) {
        assert_int_equal(support_setup_machine(1, profiles[p]), 0);
        g_hv = support_start_hv();
        hv_mock_set_feature_control_virtual(g_hv, 0, 0x4);   /* unlocked: writable */
        for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
            uint64_t v;
            hv_status_t st;

            if (hv_msr_read(g_hv, 0, msrs[i], res, 1) != HV_STATUS_SUCCESS)
                continue;                                     /* absent here: #GP both ways */
            v = res[0].value;
            st = hv_msr_write(g_hv, 0, msrs[i], v, res, 1);
            if (st != HV_STATUS_SUCCESS)
                fail_msg("%s: MSR 0x%x read 0x%llx, writing it back gave %s", hv_mock_profile_name(profiles[p]),
                         msrs[i], (unsigned long long)v, hv_status_name(st));
        }
        assert_int_equal(hv_stop(g_hv), HV_STATUS_SUCCESS);
        hv_destroy(g_hv);
        g_hv = NULL;
        hv_mock_fini();
    }
}

/* PERF_GLOBAL_CTRL's valid bits (SDM Vol. 4, IA32_PERF_GLOBAL_CTRL; Vol.
 * 3B, 21.2.2-21.2.5 and CPUID leaf 0AH): GP counters EAX[15:8]; fixed
 * counter i if EDX[4:0] > i or, from version 5, ECX[i]; bit 48 with
 * IA32_PERF_CAPABILITIES[15] (PERF_METRICS). */
static void perf_global_ctrl_bits_come_from_cpuid_0a(void **state)
{
    uint64_t linux_value = 0;

    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    /* Fixed counters 0-3 contiguous, and 5 through the v5 bitmask only. */
    hv_mock_cpuid_update(0, 0xA, 0, HV_MOCK_ECX, 1u << 5, 0);
    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_PERF_GLOBAL_CTRL, &linux_value));
    g_hv = support_start_hv();
    /* What Linux left there (8 GP, 4 fixed, PERF_METRICS) goes back in. */
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, linux_value, res, 1),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 37, res, 1),
                     HV_STATUS_SUCCESS);                                      /* fixed 5 */
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 36, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);                 /* fixed 4 */
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 8, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);                 /* GP 8 */
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 49, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
}

static void perf_global_ctrl_without_v5_or_perf_metrics(void **state)
{
    struct hv_cpuid_regs v4 = { .eax = 4 | (4u << 8) | (48u << 16), .ecx = 0x20, .edx = 3 };
    uint64_t cap = 0;

    (void)state;
    /* Before version 5, ECX is reserved: its bits name no counter. */
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    hv_mock_cpuid_set(0, 0xA, 0, &v4);
    g_hv = support_start_hv();
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 0x70000000Full, res, 1),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 37, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 48, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_stop(g_hv), HV_STATUS_SUCCESS);
    hv_destroy(g_hv);
    g_hv = NULL;
    hv_mock_fini();
    /* Perfmon v5 without PERF_METRICS: bit 48 is reserved. */
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    assert_true(hv_mock_msr_get(0, 0x345, &cap));
    hv_mock_msr_set(0, 0x345, cap & ~(1ull << 15));
    hv_mock_msr_set(0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 0xF000000FFull);
    g_hv = support_start_hv();
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 0xF000000FFull, res, 1),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 48, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
}

/* IA32_S_CET (SDM Vol. 4, Table 2-2; Vol. 1, 18.3): bits 9:6 reserved,
 * SUPPRESS (10) together with TRACKER (11) is #GP, the legacy-bitmap base
 * (63:12) must be canonical, and the IBT bits (2-5, 10, 11, 63:12) need
 * CET_IBT, the shadow-stack bits (0, 1) CET_SS. */
static void s_cet_reserved_combinations_are_gp(void **state)
{
    static const uint64_t bad[] = {
        (1ull << 10) | (1ull << 11),            /* SUPPRESS with TRACKER */
        1ull << 6, 1ull << 9,                   /* reserved */
        NEITHER | 0x4,                          /* legacy bitmap base not canonical */
    };
    size_t i;

    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    g_hv = support_start_hv();
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (hv_msr_write(g_hv, 0, HV_MSR_IA32_S_CET, bad[i], res, 1) != HV_STATUS_EXCEPTION_GENERAL_PROTECTION)
            fail_msg("S_CET 0x%llx accepted", (unsigned long long)bad[i]);
    }
    assert_int_equal(support_field_on(0, HV_VMCS_GUEST_S_CET), 0x4);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_S_CET, 0x4 | 0x10 | (1ull << 10) | LA57_ONLY, res, 1),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_S_CET, 0x1 | (1ull << 11), res, 1), HV_STATUS_SUCCESS);
}

static void s_cet_bits_follow_cet_ss_and_ibt(void **state)
{
    (void)state;
    /* Shadow stacks only (no IBT). */
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    hv_mock_cpuid_update(0, 7, 0, HV_MOCK_EDX, 0, 1u << 20);
    hv_mock_msr_set(0, HV_MSR_IA32_S_CET, 0);
    g_hv = support_start_hv();
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_S_CET, 0x3, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_S_CET, 0x4, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_S_CET, 0x1000, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_stop(g_hv), HV_STATUS_SUCCESS);
    hv_destroy(g_hv);
    g_hv = NULL;
    hv_mock_fini();
    /* IBT only (no shadow stacks). */
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    hv_mock_cpuid_update(0, 7, 0, HV_MOCK_ECX, 0, 1u << 7);
    g_hv = support_start_hv();
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_S_CET, 0x4, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_S_CET, 0x1, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
}

/* EFER.NXE is reserved without CPUID.80000001H:EDX.NX[20] (SDM Vol. 4,
 * IA32_EFER; Vol. 3A, 5.1). */
static void efer_nxe_without_nx_is_gp(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    hv_mock_cpuid_update(0, 0x80000001u, 0, HV_MOCK_EDX, 0, 1u << 20);
    hv_mock_msr_set(0, HV_MSR_IA32_EFER, HV_EFER_SCE | HV_EFER_LME | HV_EFER_LMA);
    g_hv = support_start_hv();
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_EFER, HV_EFER_SCE | HV_EFER_LME, res, 1),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_EFER, HV_EFER_SCE | HV_EFER_LME | HV_EFER_NXE, res, 1),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_false(support_field_on(0, HV_VMCS_GUEST_IA32_EFER) & HV_EFER_NXE);
}

/* ---- turning on a VM-entry load control ---------------------------------------- */

/* On a CPU with load-CET-state, every VM exit saves SSP, S_CET and the SSP
 * table address into their guest fields (SDM Vol. 3C, 28.3.1, 28.3.3): in
 * root those fields ARE the guest's live state. Turning the entry control
 * on (the first S_CET write through the hypervisor) must load exactly
 * them back; zeroing GUEST_SSP would switch the guest's shadow stack. */
static void enabling_load_cet_keeps_the_live_ssp(void **state)
{
    const uint64_t ssp = 0xffffc90000a0ffd8ull;

    (void)state;
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    hv_mock_cpu(1)->ssp = ssp;
    hv_mock_msr_set(1, HV_MSR_IA32_INTERRUPT_SSP_TABLE_ADDR, 0xffff88807fc12000ull);
    g_hv = support_start_hv();
    assert_false(support_field_on(1, HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_CET_STATE);

    assert_int_equal(hv_msr_write(g_hv, 1, HV_MSR_IA32_S_CET, 0x14, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(res[0].route, HV_MSR_ROUTE_VMCS_FIELD);
    assert_true(support_field_on(1, HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_CET_STATE);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_S_CET), 0x14);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_SSP), ssp);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_INTR_SSP_TABLE_ADDR), 0xffff88807fc12000ull);
    /* The guest resumed on its own shadow stack. */
    assert_int_equal(hv_mock_cpu(1)->ssp, ssp);
    /* And the next write goes straight to the field. */
    assert_int_equal(hv_msr_write(g_hv, 1, HV_MSR_IA32_S_CET, 0x4, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_SSP), ssp);
}

/* The same holds for PKRS: its field is saved at every exit. */
static void enabling_load_pkrs_keeps_the_live_value(void **state)
{
    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS), 0);
    g_hv = support_start_hv();
    assert_int_equal(hv_msr_write(g_hv, 0, HV_MSR_IA32_PKRS, 0x5555555Cu, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(support_field_on(0, HV_VMCS_GUEST_IA32_PKRS), 0x5555555Cu);
    assert_true(support_field_on(0, HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_PKRS);
    /* Nothing else in the CET group was touched by the PKRS control. */
    assert_false(support_field_on(0, HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_CET_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(host_selectors_keep_their_index_above_31, teardown),
        cmocka_unit_test_teardown(guest_state_capture_reads_ldt_selectors, teardown),
        cmocka_unit_test_teardown(ldt_selectors_that_cannot_be_loaded_are_refused, teardown),
        cmocka_unit_test_teardown(waitpkg_turns_on_user_wait_and_pause, teardown),
        cmocka_unit_test_teardown(waitpkg_the_cpu_cannot_enable_is_refused, teardown),
        cmocka_unit_test_teardown(no_waitpkg_no_user_wait_and_pause, teardown),
        cmocka_unit_test_teardown(xss_exiting_bitmap_is_zero_with_xsaves, teardown),
        cmocka_unit_test_teardown(xsaves_exit_resets_the_bitmap_and_reruns_natively, teardown),
        cmocka_unit_test_teardown(unexplained_xsaves_exit_is_fatal, teardown),
        cmocka_unit_test_teardown(smbase_is_gp_outside_smm, teardown),
        cmocka_unit_test_teardown(smbase_is_gp_on_cores_not_virtualized, teardown),
        cmocka_unit_test_teardown(feature_control_copy_validates_writes, teardown),
        cmocka_unit_test_teardown(feature_control_bits_follow_the_cpu, teardown),
        cmocka_unit_test_teardown(canonical_means_the_cpus_linear_address_width, teardown),
        cmocka_unit_test_teardown(canonical_is_48_bits_without_la57, teardown),
        cmocka_unit_test_teardown(writing_back_what_was_read_always_succeeds, teardown),
        cmocka_unit_test_teardown(perf_global_ctrl_bits_come_from_cpuid_0a, teardown),
        cmocka_unit_test_teardown(perf_global_ctrl_without_v5_or_perf_metrics, teardown),
        cmocka_unit_test_teardown(s_cet_reserved_combinations_are_gp, teardown),
        cmocka_unit_test_teardown(s_cet_bits_follow_cet_ss_and_ibt, teardown),
        cmocka_unit_test_teardown(efer_nxe_without_nx_is_gp, teardown),
        cmocka_unit_test_teardown(enabling_load_cet_keeps_the_live_ssp, teardown),
        cmocka_unit_test_teardown(enabling_load_pkrs_keeps_the_live_value, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
