/* Default exit handlers, given/when/then against the mocked VMCS. */
#include "exit_fixture.h"

#include <string.h>

#define GP_INJECTED (HV_INTR_INFO_VALID | HV_INTR_INFO_DELIVER_CODE | (HV_INTR_TYPE_HW_EXCEPTION << 8) | HV_VECTOR_GP)
#define UD_INJECTED (HV_INTR_INFO_VALID | (HV_INTR_TYPE_HW_EXCEPTION << 8) | HV_VECTOR_UD)
#define DB_INJECTED (HV_INTR_INFO_VALID | (HV_INTR_TYPE_HW_EXCEPTION << 8) | HV_VECTOR_DB)
#define NMI_INJECTED (HV_INTR_INFO_VALID | (HV_INTR_TYPE_NMI << 8) | HV_VECTOR_NMI)

static uint64_t *R;
static uint64_t rip0;

static int setup(void **state)
{
    if (fx_setup(state))
        return -1;
    R = fx_v->gprs.r;
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    return 0;
}

static void assert_skipped(uint32_t len)
{
    assert_int_equal(fx_field(HV_VMCS_GUEST_RIP), rip0 + len);
    assert_int_equal(fx_injected(), 0);
}

static void assert_faulted(uint32_t info)
{
    assert_int_equal(fx_field(HV_VMCS_GUEST_RIP), rip0);
    assert_int_equal(fx_injected(), info);
}

/* ---- CPUID ---------------------------------------------------------------- */

static void cpuid_signature_leaf(void **state)
{
    (void)state;
    R[HV_GPR_RAX] = 0xFFFFFFFF40000000ull; /* upper half ignored, as the CPU does */
    R[HV_GPR_RCX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(R[HV_GPR_RAX], 0x40000001u);
    assert_memory_equal(&R[HV_GPR_RBX], "libh", 4);
    assert_memory_equal(&R[HV_GPR_RCX], "vcor", 4);
    assert_memory_equal(&R[HV_GPR_RDX], "e\0\0\0", 4);
    assert_int_equal(R[HV_GPR_RBX] >> 32, 0);
    assert_skipped(2);
    /* Other leaves of the hypervisor range read as zero. */
    R[HV_GPR_RAX] = 0x40000005u;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(R[HV_GPR_RAX] | R[HV_GPR_RBX] | R[HV_GPR_RCX] | R[HV_GPR_RDX], 0);
}

static void cpuid_passes_through_with_hypervisor_bit(void **state)
{
    struct hv_cpuid_regs real;

    (void)state;
    hv_arch_cpuid(1, 0, &real);
    R[HV_GPR_RAX] = 1;
    R[HV_GPR_RCX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(R[HV_GPR_RAX], real.eax);
    assert_int_equal(R[HV_GPR_RCX], real.ecx | (1u << 31));
    assert_int_equal(R[HV_GPR_RDX], real.edx);
    R[HV_GPR_RAX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_memory_equal(&R[HV_GPR_RBX], "Genu", 4);
}

static void cpuid_signature_is_configurable(void **state)
{
    struct hv_config cfg;
    struct hv *hv = NULL;
    struct hv_vcpu *v;

    (void)state;
    assert_int_equal(fx_teardown(NULL), 0);
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_SKYLAKE), 0);
    hv_config_init(&cfg);
    memcpy(cfg.signature, "AcmeSecurity", 12);
    assert_int_equal(hv_create(&hv, hv_mock_os(), &cfg), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_SUCCESS);
    v = hv_mock_current_vcpu();
    v->gprs.r[HV_GPR_RAX] = 0x40000000u;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_memory_equal(&v->gprs.r[HV_GPR_RBX], "Acme", 4);
    assert_memory_equal(&v->gprs.r[HV_GPR_RCX], "Secu", 4);
    assert_memory_equal(&v->gprs.r[HV_GPR_RDX], "rity", 4);
    assert_int_equal(hv_stop(hv), HV_STATUS_SUCCESS);
    hv_destroy(hv);
    assert_int_equal(fx_setup(NULL), 0);
    R = fx_v->gprs.r;
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
}

/* ---- RDMSR / WRMSR ---------------------------------------------------------- */

static void rdmsr_returns_edx_eax(void **state)
{
    uint64_t lstar = 0;

    (void)state;
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_LSTAR, &lstar));
    R[HV_GPR_RCX] = HV_MSR_IA32_LSTAR;
    R[HV_GPR_RAX] = R[HV_GPR_RDX] = 0xDEADBEEFDEADBEEFull;
    assert_int_equal(fx_exit(HV_EXIT_RDMSR, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(R[HV_GPR_RAX], lstar & 0xFFFFFFFFu);
    assert_int_equal(R[HV_GPR_RDX], lstar >> 32);
    assert_skipped(2);
}

static void msr_that_faults_injects_gp_at_the_instruction(void **state)
{
    (void)state;
    /* Given an MSR that #GPs on this core... */
    hv_mock_msr_set_gp(1, HV_MSR_IA32_LSTAR, true, true);
    R[HV_GPR_RCX] = HV_MSR_IA32_LSTAR;
    R[HV_GPR_RAX] = 0x1234;
    /* ...WRMSR and RDMSR give the guest #GP(0), RIP unchanged, RAX untouched. */
    assert_int_equal(fx_exit(HV_EXIT_WRMSR, 0, 2), HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE), 0);
    assert_int_equal(fx_exit(HV_EXIT_RDMSR, 0, 2), HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_equal(R[HV_GPR_RAX], 0x1234);
}

static void out_of_range_msr_indices_never_touch_the_bitmap(void **state)
{
    static const uint32_t msrs[] = { 0x2000, 0x40000000u, 0xBFFFFFFFu, 0xC0002000u, 0xFFFFFFFFu };
    uint8_t before[4096];
    size_t i;

    (void)state;
    memcpy(before, fx_v->msr_bitmap, sizeof(before));
    for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
        R[HV_GPR_RCX] = msrs[i];
        assert_int_equal(fx_exit(HV_EXIT_RDMSR, 0, 2), HV_ACTION_RESUME);
        assert_faulted(GP_INJECTED);
        assert_int_equal(fx_exit(HV_EXIT_WRMSR, 0, 2), HV_ACTION_RESUME);
        assert_faulted(GP_INJECTED);
        assert_int_equal(hv_msr_bitmap_set(fx_v, msrs[i], true, true), HV_STATUS_INVALID_PARAMETER);
    }
    assert_memory_equal(before, fx_v->msr_bitmap, sizeof(before));
}

static void guest_state_msrs_use_their_vmcs_fields(void **state)
{
    uint64_t phys_before = 0, phys_after = 0;

    (void)state;
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_SYSENTER_ESP, &phys_before));
    R[HV_GPR_RCX] = HV_MSR_IA32_SYSENTER_ESP;
    R[HV_GPR_RAX] = 0x89abcdefu;
    R[HV_GPR_RDX] = 0xfffffe00u;
    assert_int_equal(fx_exit(HV_EXIT_WRMSR, 0, 2), HV_ACTION_RESUME);
    assert_skipped(2);
    assert_int_equal(fx_field(HV_VMCS_GUEST_SYSENTER_ESP), 0xfffffe0089abcdefull);
    /* The physical MSR is the host's; VM entry loads the field. */
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_SYSENTER_ESP, &phys_after));
    assert_int_equal(phys_after, phys_before);
    R[HV_GPR_RAX] = R[HV_GPR_RDX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_RDMSR, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(R[HV_GPR_RAX], 0x89abcdefu);
    assert_int_equal(R[HV_GPR_RDX], 0xfffffe00u);

    /* Non-canonical address: #GP, field unchanged. */
    R[HV_GPR_RAX] = 0;
    R[HV_GPR_RDX] = 0x00008000u;
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_WRMSR, 0, 2), HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_GUEST_SYSENTER_ESP), 0xfffffe0089abcdefull);

    /* SMBASE is SMM-only: #GP, and GUEST_SMBASE is not its route. */
    R[HV_GPR_RCX] = HV_MSR_IA32_SMBASE;
    R[HV_GPR_RAX] = 0xA0000;
    R[HV_GPR_RDX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_WRMSR, 0, 2), HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_GUEST_SMBASE), 0x30000);
}

static void forbidden_pat_and_efer_values(void **state)
{
    uint64_t pat = fx_field(HV_VMCS_GUEST_IA32_PAT), efer = fx_field(HV_VMCS_GUEST_IA32_EFER);

    (void)state;
    R[HV_GPR_RCX] = HV_MSR_IA32_PAT;
    R[HV_GPR_RAX] = 0x00070402u; /* type 2 in byte 0 is reserved */
    R[HV_GPR_RDX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_WRMSR, 0, 2), HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_GUEST_IA32_PAT), pat);
    R[HV_GPR_RCX] = HV_MSR_IA32_EFER;
    R[HV_GPR_RAX] = (uint32_t)efer | (1u << 2); /* reserved bit */
    assert_int_equal(fx_exit(HV_EXIT_WRMSR, 0, 2), HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_GUEST_IA32_EFER), efer);
}

static void feature_control_is_a_virtual_copy(void **state)
{
    uint64_t real = 0;

    (void)state;
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_FEATURE_CONTROL, &real));
    R[HV_GPR_RCX] = HV_MSR_IA32_FEATURE_CONTROL;
    assert_int_equal(fx_exit(HV_EXIT_RDMSR, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(R[HV_GPR_RAX], real & 0xFFFFFFFFu);
    /* Locked: the guest's write #GPs, as on the real MSR. */
    R[HV_GPR_RAX] = 0;
    R[HV_GPR_RDX] = 0;
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_WRMSR, 0, 2), HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
}

/* ---- MOV CR ------------------------------------------------------------------ */

static void mov_to_cr4_keeps_vmxe_hidden(void **state)
{
    uint64_t shadow = fx_field(HV_VMCS_CR4_READ_SHADOW);

    (void)state;
    R[HV_GPR_RBX] = shadow | HV_CR4_DE;
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(4, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_RBX), 3),
                     HV_ACTION_RESUME);
    assert_skipped(3);
    assert_int_equal(fx_field(HV_VMCS_CR4_READ_SHADOW), shadow | HV_CR4_DE);
    assert_true(fx_field(HV_VMCS_GUEST_CR4) & HV_CR4_VMXE);
    assert_true(fx_field(HV_VMCS_GUEST_CR4) & HV_CR4_DE);
    /* A bit the CPU does not have (CR4 bit 31): #GP, nothing changes. */
    R[HV_GPR_RBX] = shadow | (1ull << 31);
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(4, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_RBX), 3),
                     HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_CR4_READ_SHADOW), shadow | HV_CR4_DE);
}

static void mov_to_cr0_checks(void **state)
{
    uint64_t shadow = fx_field(HV_VMCS_CR0_READ_SHADOW);

    (void)state;
    R[HV_GPR_RSI] = (shadow | HV_CR0_PG) & ~HV_CR0_PE; /* PG without PE */
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(0, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_RSI), 3),
                     HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    /* LMSW can set PE but never clear it. */
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(0, HV_CR_ACCESS_LMSW, 0) | (0x0Eull << 16), 3),
                     HV_ACTION_RESUME);
    assert_skipped(3);
    assert_true(fx_field(HV_VMCS_CR0_READ_SHADOW) & HV_CR0_PE);
    assert_int_equal(fx_field(HV_VMCS_CR0_READ_SHADOW) & 0xE, 0xE);
    /* CLTS clears TS. */
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(0, HV_CR_ACCESS_CLTS, 0), 2), HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_CR0_READ_SHADOW) & 8, 0);
}

static void mov_to_cr3_drops_the_noflush_bit(void **state)
{
    uint64_t cr4 = fx_field(HV_VMCS_GUEST_CR4);

    (void)state;
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, cr4 | (1ull << 17)); /* PCIDE */
    R[HV_GPR_R9] = (1ull << 63) | 0x12345000ull | 5;
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(3, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_R9), 3),
                     HV_ACTION_RESUME);
    assert_skipped(3);
    assert_int_equal(fx_field(HV_VMCS_GUEST_CR3), 0x12345005ull);
    /* MOV from CR3 into RSP's slot goes to GUEST_RSP. */
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(3, HV_CR_ACCESS_MOV_FROM_CR, HV_GPR_RSP), 3),
                     HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RSP), 0x12345005ull);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, cr4);
}

/* ---- MOV DR ------------------------------------------------------------------ */

static void mov_from_dr6_into_rsp(void **state)
{
    (void)state;
    hv_arch_write_dr(6, 0xFFFF0FF1ull);
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(6, HV_DR_MOV_FROM_DR, HV_GPR_RSP), 3),
                     HV_ACTION_RESUME);
    assert_skipped(3);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RSP), 0xFFFF0FF1ull);
}

static void mov_to_dr7(void **state)
{
    (void)state;
    R[HV_GPR_RAX] = 0x1;  /* L0 */
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_skipped(3);
    assert_int_equal(fx_field(HV_VMCS_GUEST_DR7), 0x401);
    /* Bits 63:32 set: #GP, DR7 unchanged. */
    R[HV_GPR_RAX] = 0x100000001ull;
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_GUEST_DR7), 0x401);
    /* MOV from DR7 reads the VMCS copy, not the real register. */
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(7, HV_DR_MOV_FROM_DR, HV_GPR_R15), 3),
                     HV_ACTION_RESUME);
    assert_int_equal(R[HV_GPR_R15], 0x401);
}

static void mov_dr_from_cpl3_is_gp(void **state)
{
    (void)state;
    fx_set_cpl(3);
    R[HV_GPR_RAX] = 0x1234;
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(0, HV_DR_MOV_TO_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_not_equal(hv_arch_read_dr(0), 0x1234);
    fx_set_cpl(0);
}

static void dr4_dr5_alias_or_ud(void **state)
{
    uint64_t cr4 = fx_field(HV_VMCS_GUEST_CR4);

    (void)state;
    /* CR4.DE clear: DR5 is DR7, i.e. the guest's DR7 in the VMCS, which
     * differs from the real register while the guest runs. */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, cr4 & ~HV_CR4_DE);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_DR7, 0x455);
    assert_int_not_equal(hv_arch_read_dr(7), 0x455);
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(5, HV_DR_MOV_FROM_DR, HV_GPR_RCX), 3),
                     HV_ACTION_RESUME);
    assert_int_equal(R[HV_GPR_RCX], 0x455);
    /* CR4.DE set: #UD. */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, cr4 | HV_CR4_DE);
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(4, HV_DR_MOV_FROM_DR, HV_GPR_RCX), 3),
                     HV_ACTION_RESUME);
    assert_faulted(UD_INJECTED);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, cr4);
}

static void general_detect_raises_db_with_bd(void **state)
{
    (void)state;
    hv_mock_vmcs_seed(HV_VMCS_GUEST_DR7, 0x400 | HV_DR7_GD);
    hv_arch_write_dr(6, 0xFFFF0FF0ull);
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(0, HV_DR_MOV_FROM_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_faulted(DB_INJECTED);
    assert_true(hv_arch_read_dr(6) & HV_DR6_BD);
    /* The CPU clears GD on delivery so the handler can touch DRs. */
    assert_int_equal(fx_field(HV_VMCS_GUEST_DR7), 0x400);
}

/* ---- XSETBV, INVD, VMX instructions ---------------------------------------------- */

static void xsetbv_validates_against_cpuid(void **state)
{
    static const struct { uint32_t ecx; uint64_t v; bool ok; } cases[] = {
        { 0, 0x7, true },          /* x87 | SSE | AVX */
        { 0, 0x3, true },
        { 0, 0x6, false },         /* x87 clear */
        { 0, 0x5, false },         /* AVX without SSE */
        { 0, 0x1ull << 40 | 7, false }, /* not offered by CPUID */
        { 1, 0x7, false },         /* only XCR0 exists for XSETBV */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rip0 = fx_field(HV_VMCS_GUEST_RIP);
        R[HV_GPR_RCX] = cases[i].ecx;
        R[HV_GPR_RAX] = (uint32_t)cases[i].v;
        R[HV_GPR_RDX] = cases[i].v >> 32;
        assert_int_equal(fx_exit(HV_EXIT_XSETBV, 0, 3), HV_ACTION_RESUME);
        if (cases[i].ok) {
            assert_skipped(3);
            assert_int_equal(hv_arch_xgetbv(0), cases[i].v);
        } else {
            assert_faulted(GP_INJECTED);
        }
    }
}

static void invd_gets_wbinvd_semantics(void **state)
{
    uint32_t before = hv_mock_cpu(1)->wbinvd_count;

    (void)state;
    assert_int_equal(fx_exit(HV_EXIT_INVD, 0, 2), HV_ACTION_RESUME);
    assert_skipped(2);
    assert_int_equal(hv_mock_cpu(1)->wbinvd_count, before + 1);
}

static void vmx_instructions_and_getsec_are_ud(void **state)
{
    static const uint32_t reasons[] = { HV_EXIT_GETSEC, HV_EXIT_VMCLEAR, HV_EXIT_VMLAUNCH, HV_EXIT_VMPTRLD,
        HV_EXIT_VMPTRST, HV_EXIT_VMREAD, HV_EXIT_VMRESUME, HV_EXIT_VMWRITE, HV_EXIT_VMXOFF,
        HV_EXIT_VMXON, HV_EXIT_INVEPT, HV_EXIT_INVVPID, HV_EXIT_VMFUNC };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        assert_int_equal(fx_exit(reasons[i], 0, 3), HV_ACTION_RESUME);
        assert_faulted(UD_INJECTED);
    }
}

/* ---- VMCALL ---------------------------------------------------------------------- */

static uint64_t ran_on;
static uint64_t root_fn(void *vcpu, void *arg)
{
    ran_on = ((struct hv_vcpu *)vcpu)->index;
    return (uint64_t)(uintptr_t)arg + 1;
}

static void vmcall_interface(void **state)
{
    struct hv_root_request req = { root_fn, (void *)41 };

    (void)state;
    assert_int_equal(hv_mock_guest_vmcall(HV_VMCALL_PING, HV_VMCALL_KEY, 0, 0), HV_VMCALL_PING_REPLY);
    assert_int_equal(hv_mock_guest_vmcall(HV_VMCALL_RUN_IN_ROOT, HV_VMCALL_KEY, (uint64_t)(uintptr_t)&req, 0), 42);
    assert_int_equal(ran_on, 1);
    assert_int_equal(hv_mock_guest_vmcall(HV_VMCALL_RUN_IN_ROOT, HV_VMCALL_KEY, 0, 0), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_mock_guest_vmcall(999, HV_VMCALL_KEY, 0, 0), HV_STATUS_INVALID_PARAMETER);
}

static void vmcall_from_cpl3_is_ud_and_runs_nothing(void **state)
{
    struct hv_root_request req = { root_fn, (void *)1 };

    (void)state;
    ran_on = 99;
    fx_set_cpl(3);
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    R[HV_GPR_RAX] = HV_VMCALL_RUN_IN_ROOT;
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RDX] = (uint64_t)(uintptr_t)&req;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME);
    assert_faulted(UD_INJECTED);
    assert_int_equal(ran_on, 99);
    assert_int_equal(R[HV_GPR_RAX], HV_VMCALL_RUN_IN_ROOT);
    fx_set_cpl(0);
    /* Wrong key from ring 0: #UD as well. */
    R[HV_GPR_RCX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME);
    assert_faulted(UD_INJECTED);
}

/* The register-only calls (query, MSR read/write on the calling core): what
 * an OS with its own address space uses. Result in RAX, value in RDX. */
static void vmcall_query_and_msr_use_registers_only(void **state)
{
    uint64_t esp = 0;

    (void)state;
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_QUERY;
    R[HV_GPR_RDX] = HV_QUERY_CPU_COUNT;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RAX], HV_STATUS_SUCCESS);
    assert_int_equal(R[HV_GPR_RDX], fx_hv->cpu_count);

    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_QUERY;
    R[HV_GPR_RDX] = HV_QUERY_CURRENT_CPU;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RDX], fx_v->index);

    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_QUERY;
    R[HV_GPR_RDX] = HV_QUERY_CPU_VIRTUALIZED;
    R[HV_GPR_R8] = fx_v->index;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RAX], HV_STATUS_SUCCESS);
    assert_int_equal(R[HV_GPR_RDX], 1);

    /* A CPU that does not exist, an exit reason beyond the table, an
     * unknown item: INVALID_PARAMETER, value 0. */
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_QUERY;
    R[HV_GPR_RDX] = HV_QUERY_CPU_VIRTUALIZED;
    R[HV_GPR_R8] = fx_hv->cpu_count;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RAX], HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(R[HV_GPR_RDX], 0);
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_QUERY;
    R[HV_GPR_RDX] = HV_QUERY_EXIT_COUNT;
    R[HV_GPR_R8] = HV_EXIT_REASON_COUNT + 1;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RAX], HV_STATUS_INVALID_PARAMETER);
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_QUERY;
    R[HV_GPR_RDX] = 77;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RAX], HV_STATUS_INVALID_PARAMETER);

    /* Exit counters move: every VMCALL above was counted, and the total
     * holds at least those. */
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_QUERY;
    R[HV_GPR_RDX] = HV_QUERY_EXIT_COUNT;
    R[HV_GPR_R8] = HV_EXIT_VMCALL;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RDX], fx_v->exit_count[HV_EXIT_VMCALL]);
    assert_true(R[HV_GPR_RDX] >= 8);
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_QUERY;
    R[HV_GPR_RDX] = HV_QUERY_EXIT_TOTAL;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_true(R[HV_GPR_RDX] >= fx_v->exit_count[HV_EXIT_VMCALL]);

    /* A guest-state MSR goes to its VMCS field on this core. */
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_MSR_WRITE;
    R[HV_GPR_RDX] = HV_MSR_IA32_SYSENTER_ESP;
    R[HV_GPR_R8] = 0xffff800012345000ull;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RAX], HV_STATUS_SUCCESS);
    assert_int_equal(fx_field(HV_VMCS_GUEST_SYSENTER_ESP), 0xffff800012345000ull);
    assert_int_equal(R[HV_GPR_R8], HV_MSR_ROUTE_VMCS_FIELD);
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_MSR_READ;
    R[HV_GPR_RDX] = 0xFFFFFFFF00000000ull | HV_MSR_IA32_SYSENTER_ESP; /* upper half ignored */
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RAX], HV_STATUS_SUCCESS);
    esp = R[HV_GPR_RDX];
    assert_int_equal(esp, 0xffff800012345000ull);
    assert_int_equal(R[HV_GPR_R8], HV_MSR_ROUTE_VMCS_FIELD);

    /* An MSR that does not exist: the #GP status, nothing changes, the
     * guest goes on after the VMCALL (no fault injected). */
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_MSR_READ;
    R[HV_GPR_RDX] = 0x12345678u;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RAX], HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(R[HV_GPR_RDX], 0);
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_MSR_WRITE;
    R[HV_GPR_RDX] = 0x12345678u;
    R[HV_GPR_R8] = 1;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME); /* skipped */
    assert_int_equal(R[HV_GPR_RAX], HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(fx_injected(), 0);

    /* From ring 3: #UD and nothing written, as for every call. */
    fx_set_cpl(3);
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    R[HV_GPR_RCX] = HV_VMCALL_KEY;
    R[HV_GPR_RAX] = HV_VMCALL_MSR_WRITE;
    R[HV_GPR_RDX] = HV_MSR_IA32_SYSENTER_ESP;
    R[HV_GPR_R8] = 0x1000;
    assert_int_equal(fx_exit(HV_EXIT_VMCALL, 0, 3), HV_ACTION_RESUME);
    assert_faulted(UD_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_GUEST_SYSENTER_ESP), 0xffff800012345000ull);
    fx_set_cpl(0);
}

/* ---- NMIs, fatal reasons ------------------------------------------------------------ */

static void nmis_are_reinjected_through_the_window(void **state)
{
    struct hv_mock_exit nmi = { .reason = HV_EXIT_EXCEPTION_NMI,
                                .intr_info = HV_INTR_INFO_VALID | (HV_INTR_TYPE_NMI << 8) | 2 };

    (void)state;
    /* A guest NMI exits; it is queued and the window opened. */
    assert_int_equal(hv_mock_exit(&nmi), HV_ACTION_RESUME);
    assert_int_equal(fx_v->pending_nmis, 1);
    assert_true(fx_field(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL) & HV_PROC_NMI_WINDOW_EXITING);
    /* One arrives in VMX root too (the arch IDT calls this). */
    hv_exit_root_nmi(fx_v);
    assert_int_equal(fx_v->pending_nmis, 2);
    /* Each window exit delivers one; the window closes after the last. */
    assert_int_equal(fx_exit(HV_EXIT_NMI_WINDOW, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_injected(), NMI_INJECTED);
    assert_true(fx_field(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL) & HV_PROC_NMI_WINDOW_EXITING);
    assert_int_equal(fx_exit(HV_EXIT_NMI_WINDOW, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_injected(), NMI_INJECTED);
    assert_int_equal(fx_v->pending_nmis, 0);
    assert_false(fx_field(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL) & HV_PROC_NMI_WINDOW_EXITING);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RIP), rip0);
}

static void triple_fault_is_fatal_with_a_dump(void **state)
{
    (void)state;
    R[HV_GPR_RBX] = 0xabcdef;
    assert_int_equal(fx_exit(HV_EXIT_TRIPLE_FAULT, 0, 0), HV_ACTION_FATAL);
    assert_non_null(strstr(hv_mock_exit_dump(fx_hv, 1), "reason=0x2"));
    assert_non_null(strstr(hv_mock_exit_dump(fx_hv, 1), "GUEST_RIP="));
    assert_non_null(strstr(hv_mock_exit_dump(fx_hv, 1), "rbx=0xabcdef"));
    assert_true(hv_mock_os_log_contains("hvcore FATAL cpu 1"));
    assert_string_equal(hv_exit_last_dump(fx_v), hv_mock_exit_dump(fx_hv, 1));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(cpuid_signature_leaf), T(cpuid_passes_through_with_hypervisor_bit), T(cpuid_signature_is_configurable),
        T(rdmsr_returns_edx_eax), T(msr_that_faults_injects_gp_at_the_instruction),
        T(out_of_range_msr_indices_never_touch_the_bitmap), T(guest_state_msrs_use_their_vmcs_fields),
        T(forbidden_pat_and_efer_values), T(feature_control_is_a_virtual_copy),
        T(mov_to_cr4_keeps_vmxe_hidden), T(mov_to_cr0_checks), T(mov_to_cr3_drops_the_noflush_bit),
        T(mov_from_dr6_into_rsp), T(mov_to_dr7), T(mov_dr_from_cpl3_is_gp), T(dr4_dr5_alias_or_ud),
        T(general_detect_raises_db_with_bd), T(xsetbv_validates_against_cpuid), T(invd_gets_wbinvd_semantics),
        T(vmx_instructions_and_getsec_are_ud), T(vmcall_interface), T(vmcall_from_cpl3_is_ud_and_runs_nothing),
        T(vmcall_query_and_msr_use_registers_only),
        T(nmis_are_reinjected_through_the_window), T(triple_fault_is_fatal_with_a_dump),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
