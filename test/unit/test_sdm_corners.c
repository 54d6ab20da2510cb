/*
 * Architectural corner cases of the default exit handlers and the
 * dispatcher (issue 11, section 3), given/when/then against the mock.
 * Each test failed before the change that made it pass.
 */
#include "exit_fixture.h"

#include <string.h>

#define INFO(type, vector) (HV_INTR_INFO_VALID | ((uint32_t)(type) << 8) | (uint32_t)(vector))
#define GP_INJECTED (INFO(HV_INTR_TYPE_HW_EXCEPTION, HV_VECTOR_GP) | HV_INTR_INFO_DELIVER_CODE)
#define UD_INJECTED INFO(HV_INTR_TYPE_HW_EXCEPTION, HV_VECTOR_UD)
#define DB_INJECTED INFO(HV_INTR_TYPE_HW_EXCEPTION, HV_VECTOR_DB)
#define PF_INFO (INFO(HV_INTR_TYPE_HW_EXCEPTION, HV_VECTOR_PF) | HV_INTR_INFO_DELIVER_CODE)
#define DF_INJECTED (INFO(HV_INTR_TYPE_HW_EXCEPTION, HV_VECTOR_DF) | HV_INTR_INFO_DELIVER_CODE)
#define CS_L (1ull << 13)
#define CPUID_7_EBX_RTM (1u << 11)

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

/* Replace the fixture's hypervisor: `prepare` may change the fake CPUs
 * before bring-up reads them, `reason`/`fn` installs a handler override. */
static void restart(void (*prepare)(void), uint32_t reason, hv_exit_handler_fn fn)
{
    assert_int_equal(fx_teardown(NULL), 0);
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    if (prepare != NULL)
        prepare();
    assert_int_equal(hv_create(&fx_hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    if (fn != NULL)
        assert_int_equal(hv_exit_set_handler(fx_hv, reason, fn), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(fx_hv), HV_STATUS_SUCCESS);
    hv_mock_cpu_bind(1);
    fx_v = hv_mock_current_vcpu();
    assert_ptr_equal(fx_v, &fx_hv->vcpus[1]);
    R = fx_v->gprs.r;
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
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

static void enter_compatibility_mode(void)
{
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CS_AR_BYTES, fx_field(HV_VMCS_GUEST_CS_AR_BYTES) & ~CS_L);
}

/* ---- retiring an instruction ------------------------------------------------ */

static void skip_clears_resume_flag(void **state)
{
    (void)state;
    /* Given RFLAGS.RF set (the guest returned from a #DB handler with IRET)... */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_RFLAGS, HV_RFLAGS_RF | HV_RFLAGS_IF | HV_RFLAGS_FIXED);
    R[HV_GPR_RAX] = 0;
    /* ...when an emulated CPUID retires... */
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    /* ...then RF is clear, as after any completed instruction (SDM 18.3.1.1). */
    assert_skipped(2);
    assert_int_equal(fx_field(HV_VMCS_GUEST_RFLAGS), HV_RFLAGS_IF | HV_RFLAGS_FIXED);
}

/* ---- MOV DR ----------------------------------------------------------------- */

static void mov_dr4_with_de_is_ud_before_gp_and_general_detect(void **state)
{
    uint64_t cr4 = fx_field(HV_VMCS_GUEST_CR4);

    (void)state;
    /* Given CR4.DE, CPL 3 and DR7.GD all at once... */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, cr4 | HV_CR4_DE);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_DR7, 0x400 | HV_DR7_GD);
    fx_set_cpl(3);
    /* ...when the guest reads DR4... */
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(4, HV_DR_MOV_FROM_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    /* ...then #UD wins, and GD is untouched (no #DB was delivered). */
    assert_faulted(UD_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_GUEST_DR7), 0x400 | HV_DR7_GD);
    fx_set_cpl(0);
    /* And at CPL 3 without the #UD condition, #GP comes before the #DB. */
    fx_set_cpl(3);
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(0, HV_DR_MOV_FROM_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    fx_set_cpl(0);
}

static void mov_dr_outside_64bit_mode_moves_32_bits(void **state)
{
    (void)state;
    enter_compatibility_mode();
    /* Given a 32-bit operand whose register holds junk above bit 31... */
    R[HV_GPR_RAX] = 0xFFFFFFFF00000401ull;
    /* ...MOV to DR7 takes the low half: no #GP for the upper bits. */
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_skipped(3);
    assert_int_equal(fx_field(HV_VMCS_GUEST_DR7), 0x401);
    /* MOV from DR0 writes 32 bits, zeroing the upper half. */
    hv_arch_write_dr(0, 0x123456789ABCDEF0ull);
    R[HV_GPR_RBX] = 0xFFFFFFFFFFFFFFFFull;
    rip0 = fx_field(HV_VMCS_GUEST_RIP);
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(0, HV_DR_MOV_FROM_DR, HV_GPR_RBX), 3),
                     HV_ACTION_RESUME);
    assert_skipped(3);
    assert_int_equal(R[HV_GPR_RBX], 0x9ABCDEF0ull);
}

static void add_rtm(void)
{
    struct hv_cpuid_regs r;
    uint32_t i;

    for (i = 0; i < hv_mock_cpu_count(); i++) {
        uint32_t prev = hv_mock_cpu_bind(i);

        hv_arch_cpuid(7, 0, &r);
        r.ebx |= CPUID_7_EBX_RTM;
        hv_mock_cpuid_set(i, 7, 0, &r);
        hv_mock_cpu_bind(prev);
    }
}

static void dr7_rtm_bit_is_kept_only_with_rtm(void **state)
{
    (void)state;
    /* Given the Haswell profile without RTM, DR7 bit 11 reads as 0... */
    R[HV_GPR_RAX] = 0xC01; /* L0 | RTM | bit 10 */
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_GUEST_DR7), 0x401);
    /* ...and with RTM (CPUID.(7,0):EBX[11]) it enables RTM debugging. */
    restart(add_rtm, 0, NULL);
    assert_true(fx_v->caps.has_rtm);
    R[HV_GPR_RAX] = 0xC01;
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_int_equal(fx_field(HV_VMCS_GUEST_DR7), 0xC01);
}

static void injected_db_sets_dr6_rtm(void **state)
{
    (void)state;
    /* Given a CPU with RTM and a guest that cleared the active-low DR6.RTM... */
    restart(add_rtm, 0, NULL);
    hv_arch_write_dr(6, HV_DR6_FIXED_1 & ~HV_DR6_RTM);
    assert_int_equal(hv_arch_read_dr(6), HV_DR6_FIXED_1 & ~HV_DR6_RTM);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_DR7, 0x400 | HV_DR7_GD);
    /* ...when general detect raises a #DB... */
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(1, HV_DR_MOV_FROM_DR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    /* ...then DR6 reads as after a hardware #DB outside RTM: RTM set, BD set. */
    assert_faulted(DB_INJECTED);
    assert_int_equal(hv_arch_read_dr(6), HV_DR6_FIXED_1 | HV_DR6_BD);
}

/* ---- MOV CR ----------------------------------------------------------------- */

static void cr4_write_checks_use_the_guests_view(void **state)
{
    uint64_t real = fx_field(HV_VMCS_GUEST_CR4);
    uint64_t shadow = fx_field(HV_VMCS_CR4_READ_SHADOW);

    (void)state;
    /* Given the guest enabled PCIDE without an exit (an unowned bit: the
     * shadow still says 0) and uses PCID 5... */
    assert_int_equal(fx_field(HV_VMCS_CR4_GUEST_HOST_MASK) & (1ull << 17), 0);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, real | (1ull << 17));
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR3, 0x12345005ull);
    /* ...when it writes CR4 keeping PCIDE (a change to an owned bit exits)... */
    R[HV_GPR_RBX] = shadow | (1ull << 17);
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(4, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_RBX), 3),
                     HV_ACTION_RESUME);
    /* ...then it is not the 0 -> 1 transition that needs CR3[11:0] = 0. */
    assert_skipped(3);
    assert_true(fx_field(HV_VMCS_GUEST_CR4) & (1ull << 17));
}

static void lmsw_keeps_unowned_cr0_bits(void **state)
{
    uint64_t real = fx_field(HV_VMCS_GUEST_CR0);
    const uint64_t am = 1ull << 18;

    (void)state;
    /* Given AM, an unowned bit, cleared in the real CR0 but set in the
     * stale shadow... */
    assert_int_equal(fx_field(HV_VMCS_CR0_GUEST_HOST_MASK) & am, 0);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR0, real & ~am);
    hv_mock_vmcs_seed(HV_VMCS_CR0_READ_SHADOW, fx_field(HV_VMCS_CR0_READ_SHADOW) | am);
    /* ...when LMSW exits (it touches PE, an owned bit)... */
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(0, HV_CR_ACCESS_LMSW, 0) | (0x3ull << 16), 3),
                     HV_ACTION_RESUME);
    /* ...then AM stays as the guest had it. */
    assert_skipped(3);
    assert_int_equal(fx_field(HV_VMCS_GUEST_CR0) & am, 0);
}

static void cr3_above_maxphyaddr_is_gp(void **state)
{
    struct hv_cpuid_regs r;
    uint32_t width;

    (void)state;
    hv_arch_cpuid(0x80000008u, 0, &r);
    width = r.eax & 0xFF;
    assert_true(width < 52);
    /* Given a CR3 with a bit at MAXPHYADDR set: #GP, GUEST_CR3 unchanged. */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR3, 0x1000);
    R[HV_GPR_RAX] = (1ull << width) | 0x2000;
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(3, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_GUEST_CR3), 0x1000);
    /* The highest valid bit is accepted. */
    R[HV_GPR_RAX] = (1ull << (width - 1)) | 0x2000;
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(3, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_skipped(3);
    assert_int_equal(fx_field(HV_VMCS_GUEST_CR3), (1ull << (width - 1)) | 0x2000);
}

static void mov_to_cr_outside_64bit_mode_moves_32_bits(void **state)
{
    (void)state;
    enter_compatibility_mode();
    R[HV_GPR_RAX] = 0xFFFFFFFF12345000ull;
    assert_int_equal(fx_exit(HV_EXIT_CR_ACCESS, HV_QUAL_CR_MAKE(3, HV_CR_ACCESS_MOV_TO_CR, HV_GPR_RAX), 3),
                     HV_ACTION_RESUME);
    assert_skipped(3);
    assert_int_equal(fx_field(HV_VMCS_GUEST_CR3), 0x12345000ull);
}

/* ---- events interrupted by the exit ----------------------------------------- */

static enum hv_exit_action resume_handler(struct hv_exit *e)
{
    (void)e;
    return HV_ACTION_RESUME; /* e.g. a user's EPT handler fixed the mapping */
}

static enum hv_exit_action inject_gp_handler(struct hv_exit *e)
{
    (void)hv_inject_gp(e, 0);
    return HV_ACTION_RESUME;
}

static enum hv_exit_action exit_with_vectoring(uint32_t info, uint32_t code, uint32_t len)
{
    struct hv_mock_exit x = { .reason = HV_EXIT_EPT_VIOLATION, .instruction_len = len,
                              .idt_vectoring_info = info, .idt_vectoring_error = code };

    return hv_mock_exit(&x);
}

static void interrupted_event_is_delivered_again(void **state)
{
    (void)state;
    restart(NULL, HV_EXIT_EPT_VIOLATION, resume_handler);
    /* Given an EPT violation while the guest took a #PF with error code 2... */
    assert_int_equal(exit_with_vectoring(PF_INFO, 2, 0), HV_ACTION_RESUME);
    /* ...then the #PF is injected again, with its error code, at the same RIP. */
    assert_faulted(PF_INFO);
    assert_int_equal(fx_field(HV_VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE), 2);
    /* A software interrupt (INT 0x80) keeps its instruction length. */
    assert_int_equal(exit_with_vectoring(INFO(HV_INTR_TYPE_SW_INTERRUPT, 0x80), 0, 2), HV_ACTION_RESUME);
    assert_faulted(INFO(HV_INTR_TYPE_SW_INTERRUPT, 0x80));
    assert_int_equal(fx_field(HV_VMCS_VM_ENTRY_INSTRUCTION_LEN), 2);
    /* An external interrupt too. */
    assert_int_equal(exit_with_vectoring(INFO(HV_INTR_TYPE_EXTERNAL, 0x31), 0, 0), HV_ACTION_RESUME);
    assert_faulted(INFO(HV_INTR_TYPE_EXTERNAL, 0x31));
    /* No valid vectoring information: nothing is injected. */
    assert_int_equal(exit_with_vectoring(0, 0, 0), HV_ACTION_RESUME);
    assert_faulted(0);
}

static void handler_fault_during_delivery_follows_the_double_fault_rules(void **state)
{
    (void)state;
    restart(NULL, HV_EXIT_EPT_VIOLATION, inject_gp_handler);
    /* A #GP while delivering a #PF is a #DF (error code 0). */
    assert_int_equal(exit_with_vectoring(PF_INFO, 2, 0), HV_ACTION_RESUME);
    assert_faulted(DF_INJECTED);
    assert_int_equal(fx_field(HV_VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE), 0);
    /* A #GP while delivering a #GP: #DF too. */
    assert_int_equal(exit_with_vectoring(GP_INJECTED, 0, 0), HV_ACTION_RESUME);
    assert_faulted(DF_INJECTED);
    /* A #GP while delivering a benign #UD: handled serially, the #GP. */
    assert_int_equal(exit_with_vectoring(UD_INJECTED, 0, 0), HV_ACTION_RESUME);
    assert_faulted(GP_INJECTED);
    /* A fault while delivering a #DF is a triple fault: fatal, with a dump. */
    support_count_mock_failures();
    assert_int_equal(exit_with_vectoring(DF_INJECTED, 0, 0), HV_ACTION_FATAL);
    assert_non_null(strstr(hv_exit_last_dump(fx_v), "reason="));
    hv_mock_cpu(1)->in_guest = true;
    support_fail_on_mock_failure();
}

/* ---- hv_inject_event refuses what VM entry would refuse --------------------- */

static hv_status_t inject_status[16];
static int inject_count;

static enum hv_exit_action try_bad_injections(struct hv_exit *e)
{
    inject_count = 0;
    inject_status[inject_count++] = hv_inject_event(e, 3, 1 /* reserved type */, false, 0);
    inject_status[inject_count++] = hv_inject_event(e, 3, HV_INTR_TYPE_NMI, false, 0);
    inject_status[inject_count++] = hv_inject_event(e, 32, HV_INTR_TYPE_HW_EXCEPTION, false, 0);
    inject_status[inject_count++] = hv_inject_event(e, HV_VECTOR_GP, HV_INTR_TYPE_HW_EXCEPTION, false, 0);
    inject_status[inject_count++] = hv_inject_event(e, HV_VECTOR_UD, HV_INTR_TYPE_HW_EXCEPTION, true, 0);
    inject_status[inject_count++] = hv_inject_event(e, HV_VECTOR_GP, HV_INTR_TYPE_HW_EXCEPTION, true, 0x10000);
    inject_status[inject_count++] = hv_inject_event(e, 0x80, HV_INTR_TYPE_SW_INTERRUPT, false, 0);
    inject_status[inject_count++] = hv_inject_event(e, 1, HV_INTR_TYPE_OTHER, false, 0);
    inject_status[inject_count++] = hv_inject_event(e, 0x30, HV_INTR_TYPE_EXTERNAL, true, 0);
    return HV_ACTION_RESUME;
}

static void inject_event_refuses_invalid_combinations(void **state)
{
    int i;

    (void)state;
    restart(NULL, HV_EXIT_RDPMC, try_bad_injections);
    /* An exit with instruction length 0: a software interrupt cannot use it. */
    assert_int_equal(fx_exit(HV_EXIT_RDPMC, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(inject_count, 9);
    for (i = 0; i < inject_count; i++)
        if (inject_status[i] != HV_STATUS_INVALID_PARAMETER)
            fail_msg("bad injection %d accepted: 0x%x", i, inject_status[i]);
    /* Nothing reached the VM-entry fields: the entry would have failed. */
    assert_faulted(0);
}

/* ---- NMIs and machine checks owed to the guest ------------------------------ */

#define NMI_INFO INFO(HV_INTR_TYPE_NMI, HV_VECTOR_NMI)
#define MC_INJECTED INFO(HV_INTR_TYPE_HW_EXCEPTION, HV_VECTOR_MC)

static enum hv_exit_action nmi_exit(void)
{
    struct hv_mock_exit x = { .reason = HV_EXIT_EXCEPTION_NMI, .intr_info = NMI_INFO };

    return hv_mock_exit(&x);
}

static bool window_open(void)
{
    return (fx_field(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL) & HV_PROC_NMI_WINDOW_EXITING) != 0;
}

static void nmis_owed_are_capped_at_two(void **state)
{
    int i;

    (void)state;
    /* Given a burst of five NMIs (three in the guest, two in root)... */
    for (i = 0; i < 3; i++)
        assert_int_equal(nmi_exit(), HV_ACTION_RESUME);
    hv_exit_root_nmi(fx_v);
    hv_exit_root_nmi(fx_v);
    /* ...the guest is owed two, as a CPU latches one while another is
     * being handled; the window delivers exactly those, then closes. */
    assert_int_equal(fx_v->pending_nmis, 2);
    assert_true(window_open());
    for (i = 0; i < 2; i++) {
        assert_int_equal(fx_exit(HV_EXIT_NMI_WINDOW, 0, 0), HV_ACTION_RESUME);
        assert_int_equal(fx_injected(), NMI_INFO);
    }
    assert_int_equal(fx_v->pending_nmis, 0);
    assert_false(window_open());
}

static uint32_t nmi_self_calls[2];

static void count_nmi_self(void *ctx)
{
    (void)ctx;
    nmi_self_calls[hv_mock_cpu_current()->index]++;
}

static void owed_nmis_go_back_to_the_os_at_devirtualization(void **state)
{
    static struct hv_os_ops os;

    (void)state;
    assert_int_equal(fx_teardown(NULL), 0);
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    os = *hv_mock_os();
    os.nmi_self = count_nmi_self;
    memset(nmi_self_calls, 0, sizeof(nmi_self_calls));
    assert_int_equal(hv_create(&fx_hv, &os, NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(fx_hv), HV_STATUS_SUCCESS);
    hv_mock_cpu_bind(1);
    fx_v = hv_mock_current_vcpu();
    /* Given two NMIs core 1's guest has not taken yet... */
    assert_int_equal(nmi_exit(), HV_ACTION_RESUME);
    assert_int_equal(nmi_exit(), HV_ACTION_RESUME);
    /* ...when the hypervisor stops, core 1 raises both on itself, natively. */
    assert_int_equal(hv_stop(fx_hv), HV_STATUS_SUCCESS);
    assert_int_equal(nmi_self_calls[1], 2);
    assert_int_equal(nmi_self_calls[0], 0);
    assert_int_equal(fx_hv->vcpus[1].pending_nmis, 0);
    hv_destroy(fx_hv);
    fx_hv = NULL;
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
    assert_int_equal(fx_setup(NULL), 0);
}

static void machine_check_in_root_reaches_the_guests_os(void **state)
{
    (void)state;
    /* Given a #MC in root that root may survive (MCG_STATUS: RIPV, MCIP)... */
    hv_mock_msr_set(1, HV_MSR_IA32_MCG_STATUS, 0x5);
    assert_true(hv_exit_root_machine_check(fx_v));
    /* ...the next NMI window delivers it to the guest as #MC (vector 18),
     * before anything else, and closes when nothing more is owed. */
    assert_true(window_open());
    assert_int_equal(fx_exit(HV_EXIT_NMI_WINDOW, 0, 0), HV_ACTION_RESUME);
    assert_faulted(MC_INJECTED);
    assert_int_equal(fx_v->pending_mce, 0);
    assert_false(window_open());
    /* With an NMI owed as well, the #MC goes first and the NMI next. */
    hv_exit_root_nmi(fx_v);
    assert_true(hv_exit_root_machine_check(fx_v));
    assert_int_equal(fx_exit(HV_EXIT_NMI_WINDOW, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_injected(), MC_INJECTED);
    assert_true(window_open());
    assert_int_equal(fx_exit(HV_EXIT_NMI_WINDOW, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(fx_injected(), NMI_INFO);
    assert_false(window_open());
}

static void machine_check_root_cannot_survive_stops_the_machine(void **state)
{
    (void)state;
    /* RIPV clear: the interrupted root code cannot go on; a dump names it
     * and os->panic stops the machine (the mock reports the panic). */
    hv_mock_msr_set(1, HV_MSR_IA32_MCG_STATUS, 0x4);
    support_count_mock_failures();
    assert_false(hv_exit_root_machine_check(fx_v));
    assert_int_equal(hv_mock_failure_count(), 1);
    assert_non_null(strstr(hv_exit_last_dump(fx_v), "machine check in VMX root"));
    assert_int_equal(fx_v->pending_mce, 0);
    /* MCG_STATUS unreadable: the same. */
    hv_mock_msr_remove(1, HV_MSR_IA32_MCG_STATUS);
    assert_false(hv_exit_root_machine_check(fx_v));
    assert_int_equal(hv_mock_failure_count(), 2);
    support_fail_on_mock_failure();
}

/* ---- VPID: root's own translations --------------------------------------- */

static uint32_t root_flushes(uint32_t cpu)
{
    return hv_mock_cpu(cpu)->root_tlb_flushes;
}

static void dr_exit(void)
{
    R[HV_GPR_RAX] = 0x401;
    assert_int_equal(fx_exit(HV_EXIT_MOV_DR, HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX), 3), HV_ACTION_RESUME);
}

static void root_flushes_its_tlb_before_touching_recycled_os_memory(void **state)
{
    struct hv_event_spec spec = { .size = sizeof(spec), .type = HV_EVENT_DR_ACCESS, .pid = HV_EVENT_ANY_PID,
                                  .core = HV_EVENT_ANY_CORE, .imm = true };
    struct hv_msr_result res[1];
    uint32_t f0 = root_flushes(0), f1 = root_flushes(1), id = 0;

    (void)state;
    assert_true(fx_v->ctls.proc2 & HV_PROC2_ENABLE_VPID);
    /* A request run in root (an MSR read on core 1) reads a buffer the OS
     * handed over: root's TLB is flushed first, on that core only. */
    assert_int_equal(hv_msr_read(fx_hv, 1, HV_MSR_IA32_SYSENTER_ESP, res, 1), HV_STATUS_SUCCESS);
    assert_int_equal(root_flushes(1), f1 + 1);
    assert_int_equal(root_flushes(0), f0);
    /* The first DR exit that sees a new event snapshot flushes once... */
    assert_int_equal(hv_event_add(fx_hv, &spec, &id), HV_STATUS_SUCCESS);
    hv_mock_cpu_bind(1);
    f1 = root_flushes(1);
    dr_exit();
    assert_int_equal(root_flushes(1), f1 + 1);
    /* ...later ones on the same snapshot do not. */
    dr_exit();
    dr_exit();
    assert_int_equal(root_flushes(1), f1 + 1);
    /* A replaced snapshot (the event removed, one added) is new memory again. */
    assert_int_equal(hv_event_remove(fx_hv, id), HV_STATUS_SUCCESS);
    assert_int_equal(hv_event_add(fx_hv, &spec, &id), HV_STATUS_SUCCESS);
    hv_mock_cpu_bind(1);
    f1 = root_flushes(1);
    dr_exit();
    assert_int_equal(root_flushes(1), f1 + 1);
    /* Exits that only use the VMCS never flush. */
    R[HV_GPR_RAX] = 0;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
    assert_int_equal(root_flushes(1), f1 + 1);
    assert_int_equal(hv_event_remove(fx_hv, id), HV_STATUS_SUCCESS);
}

static void a_code_action_is_new_memory_for_root(void **state)
{
    static const uint8_t code[] = { 0x90, 0xC3 }; /* nop; ret */
    struct hv_event_spec spec = { .size = sizeof(spec), .type = HV_EVENT_DR_ACCESS, .pid = HV_EVENT_ANY_PID,
                                  .core = HV_EVENT_ANY_CORE, .imm = true };
    struct hv_action_spec act = { .kind = HV_EVENT_ACTION_CODE, .code = code, .code_len = sizeof(code) };
    struct hv_action_spec brk = { .kind = HV_EVENT_ACTION_BREAK };
    uint32_t f1, id = 0;

    (void)state;
    /* Given an event that core 1 has fired since its last flush, */
    assert_int_equal(hv_event_add(fx_hv, &spec, &id), HV_STATUS_SUCCESS);
    hv_mock_cpu_bind(1);
    dr_exit();
    f1 = root_flushes(1);
    /* a code action added to it is a fresh executable copy, maybe at a
     * recycled address: the next exit that runs it flushes first (the
     * 60 s e2e stress test met a #PF on instruction fetch in root here). */
    assert_int_equal(hv_event_add_action(fx_hv, id, &act), HV_STATUS_SUCCESS);
    hv_mock_cpu_bind(1);
    dr_exit();
    assert_int_equal(root_flushes(1), f1 + 1);
    /* An action that brings no new memory costs nothing. */
    assert_int_equal(hv_event_add_action(fx_hv, id, &brk), HV_STATUS_SUCCESS);
    hv_mock_cpu_bind(1);
    dr_exit();
    assert_int_equal(root_flushes(1), f1 + 1);
    assert_int_equal(hv_event_remove(fx_hv, id), HV_STATUS_SUCCESS);
}

/* ---- the machine's life events ---------------------------------------------- */

static void triple_fault_resets_the_machine(void **state)
{
    (void)state;
    /* Given a guest that triple-faults, the core records why and resets
     * the platform as the CPU's shutdown would (the mock records it). */
    support_count_mock_failures();
    assert_int_equal(fx_exit(HV_EXIT_TRIPLE_FAULT, 0, 0), HV_ACTION_FATAL);
    support_fail_on_mock_failure();
    assert_int_equal(hv_mock_cpu(1)->platform_resets, 1);
    assert_non_null(strstr(hv_exit_last_dump(fx_v), "reason=0x2"));
    assert_true(hv_mock_os_log_contains("guest triple fault: resetting the machine"));
    hv_mock_cpu_resume_guest(1);
}

static uint32_t activity(void)
{
    return (uint32_t)fx_field(HV_VMCS_GUEST_ACTIVITY_STATE);
}

static void init_parks_the_cpu_and_sipi_leaves_it_parked(void **state)
{
    (void)state;
    /* Given an INIT sent to a virtualized CPU... */
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    /* ...it waits for a SIPI, as after a native INIT, nothing injected. */
    assert_int_equal(activity(), HV_ACTIVITY_WAIT_SIPI);
    assert_faulted(0);
    assert_true(hv_mock_os_log_contains("INIT received: the CPU is parked in wait-for-SIPI"));
    /* A SIPI cannot start real-mode code here: the CPU stays parked. */
    assert_int_equal(fx_exit(HV_EXIT_SIPI, 0x9A, 0), HV_ACTION_RESUME);
    assert_int_equal(activity(), HV_ACTIVITY_WAIT_SIPI);
    assert_true(hv_mock_os_log_contains("SIPI vector 0x9a ignored"));
    assert_int_equal(hv_mock_cpu(1)->platform_resets, 0);
}

static void no_wait_for_sipi_state(void)
{
    uint64_t misc = 0;

    assert_true(hv_mock_msr_get(0, HV_MSR_IA32_VMX_MISC, &misc));
    hv_mock_msr_set(HV_MOCK_ALL_CPUS, HV_MSR_IA32_VMX_MISC, misc & ~HV_VMX_MISC_ACTIVITY_WAIT_SIPI);
}

static void init_parks_in_hlt_without_wait_for_sipi(void **state)
{
    (void)state;
    restart(no_wait_for_sipi_state, 0, NULL);
    assert_int_equal(fx_exit(HV_EXIT_INIT_SIGNAL, 0, 0), HV_ACTION_RESUME);
    assert_int_equal(activity(), HV_ACTIVITY_HLT);
}

static void emergency_stop_devirtualizes_only_the_calling_cpu(void **state)
{
    (void)state;
    /* Given two virtualized cores, when the OS's crash path stops core 1
     * from core 1 (with an NMI still owed there, which is dropped: the
     * machine is going down)... */
    assert_int_equal(nmi_exit(), HV_ACTION_RESUME);
    assert_int_equal(hv_stop_this_cpu(fx_hv), HV_STATUS_SUCCESS);
    /* ...core 1 has left VMX and core 0 still runs as a guest. */
    assert_false(hv_mock_cpu(1)->vmx_operation);
    assert_false(hv_mock_cpu_in_guest(1));
    assert_true(hv_mock_cpu_in_guest(0));
    assert_true(hv_mock_os_log_contains("devirtualized (emergency)"));
    /* A second call on the same core finds nothing to do. */
    assert_int_equal(hv_stop_this_cpu(fx_hv), HV_STATUS_SUCCESS);
    /* The regular stop (the teardown) finishes core 0. */
}

/* ---- leaving VMX ---------------------------------------------------------- */

static void devirtualization_restores_guest_msrs(void **state)
{
    static const struct { uint32_t msr; uint64_t value; } want[] = {
        { HV_MSR_IA32_SYSENTER_CS, 0x23 },
        { HV_MSR_IA32_SYSENTER_ESP, 0xFFFFFE0000ABC000ull },
        { HV_MSR_IA32_SYSENTER_EIP, 0xFFFFFFFF81E00000ull },
        { HV_MSR_IA32_PAT, 0x0007010600070106ull },
        { HV_MSR_IA32_EFER, HV_EFER_LME | HV_EFER_LMA | HV_EFER_NXE }, /* SCE off */
    };
    struct hv_msr_result res[2];
    uint32_t i, cpu;
    uint64_t v;

    (void)state;
    /* Given guest-state MSRs changed through each core's VMCS (the VM exit
     * that devirtualizes loads the host's values into the real MSRs)... */
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(hv_msr_write(fx_hv, HV_ALL_CORES, want[i].msr, want[i].value, res, 2), HV_STATUS_SUCCESS);
        assert_int_equal(res[0].route, 1); /* the VMCS guest field */
    }
    /* ...when the hypervisor stops... */
    assert_int_equal(hv_stop(fx_hv), HV_STATUS_SUCCESS);
    /* ...then every core continues natively with the guest's values. */
    for (cpu = 0; cpu < 2; cpu++)
        for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            assert_true(hv_mock_msr_get(cpu, want[i].msr, &v));
            if (v != want[i].value)
                fail_msg("cpu %u msr %#x = %#llx, want %#llx", cpu, want[i].msr, (unsigned long long)v,
                         (unsigned long long)want[i].value);
        }
    hv_destroy(fx_hv);
    fx_hv = NULL;
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
    assert_int_equal(fx_setup(NULL), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(skip_clears_resume_flag),
        T(mov_dr4_with_de_is_ud_before_gp_and_general_detect),
        T(mov_dr_outside_64bit_mode_moves_32_bits),
        T(dr7_rtm_bit_is_kept_only_with_rtm),
        T(injected_db_sets_dr6_rtm),
        T(cr4_write_checks_use_the_guests_view),
        T(lmsw_keeps_unowned_cr0_bits),
        T(cr3_above_maxphyaddr_is_gp),
        T(mov_to_cr_outside_64bit_mode_moves_32_bits),
        T(interrupted_event_is_delivered_again),
        T(handler_fault_during_delivery_follows_the_double_fault_rules),
        T(inject_event_refuses_invalid_combinations),
        T(nmis_owed_are_capped_at_two),
        T(owed_nmis_go_back_to_the_os_at_devirtualization),
        T(machine_check_in_root_reaches_the_guests_os),
        T(machine_check_root_cannot_survive_stops_the_machine),
        T(root_flushes_its_tlb_before_touching_recycled_os_memory),
        T(a_code_action_is_new_memory_for_root),
        T(triple_fault_resets_the_machine),
        T(init_parks_the_cpu_and_sipi_leaves_it_parked),
        T(init_parks_in_hlt_without_wait_for_sipi),
        T(emergency_stop_devirtualizes_only_the_calling_cpu),
        T(devirtualization_restores_guest_msrs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
