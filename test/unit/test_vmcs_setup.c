/* hv_vmcs_setup: every field it writes, checked against the fake CPU. */
#include "support.h"

static struct hv *g_hv;

static int setup(void **state)
{
    (void)state;
    if (support_setup_machine(2, HV_MOCK_PROFILE_HASWELL))
        return -1;
    return hv_create(&g_hv, hv_mock_os(), NULL) == HV_STATUS_SUCCESS ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hv_vmx_off(&g_hv->vcpus[hv_mock_cpu_current()->index]);
    hv_destroy(g_hv);
    g_hv = NULL;
    hv_mock_fini();
    return 0;
}

static uint64_t field(uint32_t f)
{
    uint64_t v = 0;

    if (!hv_mock_vmcs_peek(f, &v))
        fail_msg("setup did not write %s", hv_vmcs_field_name(f));
    return v;
}

static struct hv_vcpu *setup_cpu1(const struct hv_guest_entry *entry)
{
    struct hv_vcpu *v = &g_hv->vcpus[1];

    hv_mock_cpu_bind(1);
    assert_int_equal(hv_vmx_on(v), HV_STATUS_SUCCESS);
    assert_int_equal(hv_vmcs_setup(v, entry), HV_STATUS_SUCCESS);
    return v;
}

static void guest_state_is_the_running_state(void **state)
{
    const struct hv_guest_entry entry = { .rsp = 0xffffc90000123ff8ull,
                                          .rip = 0xffffffff81000123ull, .rflags = 0x246 };
    struct hv_vcpu *v;
    struct hv_mock_cpu *cpu;
    uint64_t val;

    (void)state;
    v = setup_cpu1(&entry);
    cpu = hv_mock_cpu(1);

    assert_int_equal(field(HV_VMCS_GUEST_CS_SELECTOR), cpu->sel[HV_SEG_CS]);
    assert_int_equal(field(HV_VMCS_GUEST_CS_AR_BYTES), 0xA09B);   /* 64-bit code, G, P */
    assert_int_equal(field(HV_VMCS_GUEST_CS_LIMIT), 0xFFFFFFFFu);
    assert_int_equal(field(HV_VMCS_GUEST_CS_BASE), 0);
    assert_int_equal(field(HV_VMCS_GUEST_SS_SELECTOR), cpu->sel[HV_SEG_SS]);
    assert_int_equal(field(HV_VMCS_GUEST_SS_AR_BYTES), 0xC093);
    /* Null data selectors and LDTR are "unusable". */
    assert_int_equal(field(HV_VMCS_GUEST_DS_AR_BYTES), HV_AR_UNUSABLE);
    assert_int_equal(field(HV_VMCS_GUEST_ES_AR_BYTES), HV_AR_UNUSABLE);
    assert_int_equal(field(HV_VMCS_GUEST_LDTR_AR_BYTES), HV_AR_UNUSABLE);
    /* TR: busy 64-bit TSS with its full 64-bit base. */
    assert_int_equal(field(HV_VMCS_GUEST_TR_SELECTOR), cpu->sel[HV_SEG_TR]);
    assert_int_equal(field(HV_VMCS_GUEST_TR_AR_BYTES), 0x8B);
    assert_int_equal(field(HV_VMCS_GUEST_TR_LIMIT), 0x67);
    assert_int_equal(field(HV_VMCS_GUEST_TR_BASE), (uint64_t)(uintptr_t)cpu->tss);
    /* FS/GS bases come from the MSRs, not the GDT. */
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_GS_BASE, &val));
    assert_int_equal(field(HV_VMCS_GUEST_GS_BASE), val);
    assert_int_equal(field(HV_VMCS_HOST_GS_BASE), val);
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_FS_BASE, &val));
    assert_int_equal(field(HV_VMCS_GUEST_FS_BASE), val);

    assert_int_equal(field(HV_VMCS_GUEST_GDTR_BASE), cpu->gdtr.base);
    assert_int_equal(field(HV_VMCS_GUEST_GDTR_LIMIT), cpu->gdtr.limit);
    assert_int_equal(field(HV_VMCS_GUEST_IDTR_BASE), cpu->idtr.base);
    assert_int_equal(field(HV_VMCS_GUEST_IDTR_LIMIT), cpu->idtr.limit);
    assert_int_equal(field(HV_VMCS_GUEST_CR0), cpu->cr[0]);
    assert_int_equal(field(HV_VMCS_GUEST_CR3), cpu->cr[3]);
    assert_int_equal(field(HV_VMCS_GUEST_CR4), cpu->cr[4]);
    assert_true(field(HV_VMCS_GUEST_CR4) & HV_CR4_VMXE);
    assert_int_equal(field(HV_VMCS_GUEST_DR7), cpu->dr[7]);

    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_EFER, &val));
    assert_int_equal(field(HV_VMCS_GUEST_IA32_EFER), val);
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_PAT, &val));
    assert_int_equal(field(HV_VMCS_GUEST_IA32_PAT), val);
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_DEBUGCTL, &val));
    assert_int_equal(field(HV_VMCS_GUEST_IA32_DEBUGCTL), val);
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_SYSENTER_CS, &val));
    assert_int_equal(field(HV_VMCS_GUEST_SYSENTER_CS), val & 0xFFFFFFFFu);
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_SYSENTER_ESP, &val));
    assert_int_equal(field(HV_VMCS_GUEST_SYSENTER_ESP), val);
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_SYSENTER_EIP, &val));
    assert_int_equal(field(HV_VMCS_GUEST_SYSENTER_EIP), val);

    assert_int_equal(field(HV_VMCS_GUEST_RSP), entry.rsp);
    assert_int_equal(field(HV_VMCS_GUEST_RIP), entry.rip);
    assert_int_equal(field(HV_VMCS_GUEST_RFLAGS), 0x246);
    assert_int_equal(field(HV_VMCS_GUEST_ACTIVITY_STATE), 0);
    assert_int_equal(field(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO), 0);
    assert_int_equal(field(HV_VMCS_VMCS_LINK_POINTER), ~0ull);
    (void)v;
}

static void host_state_and_controls(void **state)
{
    const struct hv_guest_entry entry = { 0, 0, 0x2 };
    struct hv_vcpu *v;
    struct hv_mock_cpu *cpu;
    uint64_t rsp;

    (void)state;
    v = setup_cpu1(&entry);
    cpu = hv_mock_cpu(1);

    /* Host selectors with RPL and TI cleared (SDM 27.2.3). */
    assert_int_equal(field(HV_VMCS_HOST_CS_SELECTOR), cpu->sel[HV_SEG_CS] & 0xF8);
    assert_int_equal(field(HV_VMCS_HOST_TR_SELECTOR), cpu->sel[HV_SEG_TR] & 0xF8);
    assert_int_equal(field(HV_VMCS_HOST_TR_BASE), (uint64_t)(uintptr_t)cpu->tss);
    assert_int_equal(field(HV_VMCS_HOST_CR3), cpu->cr[3]);
    assert_int_equal(field(HV_VMCS_HOST_CR4), cpu->cr[4]);
    assert_int_equal(field(HV_VMCS_HOST_GDTR_BASE), cpu->gdtr.base);
    assert_int_equal(field(HV_VMCS_HOST_IDTR_BASE), (uint64_t)(uintptr_t)v->host_idt);
    assert_int_equal(field(HV_VMCS_HOST_RIP), hv_arch_exit_entry());
    /* HOST_RSP points at the slot that names this vcpu, 16-byte aligned. */
    rsp = field(HV_VMCS_HOST_RSP);
    assert_int_equal(rsp % 16, 0);
    assert_ptr_equal((void *)(uintptr_t)*(uint64_t *)(uintptr_t)rsp, v);
    assert_true(rsp > (uint64_t)(uintptr_t)v->host_stack);
    assert_true(rsp < (uint64_t)(uintptr_t)v->host_stack + HV_HOST_STACK_SIZE);

    /* Controls: MSR bitmap + secondary (RDTSCP, INVPCID, VPID), 64-bit
     * host, IA-32e guest, debug controls, PAT/EFER, NMI exiting for the
     * NMI window. Each respects the TRUE capability MSRs. */
    assert_true(field(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL) & HV_PROC_USE_MSR_BITMAPS);
    assert_true(field(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL) & HV_PROC_ACTIVATE_SECONDARY);
    assert_false(field(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL) & HV_PROC_CR3_LOAD_EXITING);
    assert_int_equal(field(HV_VMCS_SECONDARY_VM_EXEC_CONTROL),
                     HV_PROC2_ENABLE_RDTSCP | HV_PROC2_ENABLE_INVPCID | HV_PROC2_ENABLE_VPID);
    assert_int_equal(field(HV_VMCS_VPID), 2);
    assert_true(field(HV_VMCS_VM_EXIT_CONTROLS) & HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE);
    assert_true(field(HV_VMCS_VM_EXIT_CONTROLS) & HV_EXIT_CTL_LOAD_EFER);
    assert_true(field(HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_IA32E_MODE_GUEST);
    assert_true(field(HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_DEBUG_CONTROLS);
    assert_true(field(HV_VMCS_VM_ENTRY_CONTROLS) & HV_ENTRY_CTL_LOAD_PAT);
    assert_int_equal(field(HV_VMCS_PIN_BASED_VM_EXEC_CONTROL) & (HV_PIN_NMI_EXITING | HV_PIN_VIRTUAL_NMIS),
                     HV_PIN_NMI_EXITING | HV_PIN_VIRTUAL_NMIS);
    assert_int_equal(field(HV_VMCS_MSR_BITMAP), v->msr_bitmap_pa);
    /* VMXE is ours: masked, and hidden from the guest's reads. */
    assert_true(field(HV_VMCS_CR4_GUEST_HOST_MASK) & HV_CR4_VMXE);
    assert_false(field(HV_VMCS_CR4_READ_SHADOW) & HV_CR4_VMXE);
    assert_int_equal(field(HV_VMCS_CR0_READ_SHADOW), cpu->cr[0]);
    /* Only the virtual FEATURE_CONTROL is trapped in the bitmap. */
    assert_int_equal(((uint8_t *)v->msr_bitmap)[0x3A / 8], 1u << (0x3A % 8));
    assert_int_equal(((uint8_t *)v->msr_bitmap)[2048 + 0x3A / 8], 1u << (0x3A % 8));
}

static void missing_required_control_is_a_clear_status(void **state)
{
    const struct hv_guest_entry entry = { 0, 0, 0x2 };
    struct hv_vcpu *v = &g_hv->vcpus[1];
    uint64_t p2 = 0;

    (void)state;
    hv_mock_cpu_bind(1);
    /* The guest has RDTSCP in CPUID, but the CPU cannot enable it for a
     * guest: the guest would #UD, so setup must refuse. */
    assert_true(hv_mock_msr_get(1, HV_MSR_IA32_VMX_PROCBASED_CTLS2, &p2));
    hv_mock_msr_set(1, HV_MSR_IA32_VMX_PROCBASED_CTLS2, p2 & ~((uint64_t)HV_PROC2_ENABLE_RDTSCP << 32));
    assert_int_equal(hv_vmx_on(v), HV_STATUS_SUCCESS);
    assert_int_equal(hv_vmcs_setup(v, &entry), HV_STATUS_UNSUPPORTED);
    assert_false(v->steps & HV_STEP_VMCS_SETUP);
}

static void bad_gdt_is_refused(void **state)
{
    const struct hv_guest_entry entry = { 0, 0, 0x2 };
    struct hv_vcpu *v = &g_hv->vcpus[1];
    struct hv_mock_cpu *cpu = hv_mock_cpu(1);

    (void)state;
    hv_mock_cpu_bind(1);
    /* TR beyond the GDT limit. */
    cpu->sel[HV_SEG_TR] = (uint16_t)((HV_MOCK_GDT_ENTRIES + 2) * 8);
    assert_int_equal(hv_vmx_on(v), HV_STATUS_SUCCESS);
    assert_int_equal(hv_vmcs_setup(v, &entry), HV_STATUS_BAD_DESCRIPTOR);
    assert_int_equal(hv_vmcs_setup(NULL, &entry), HV_STATUS_INVALID_PARAMETER);
}

static void setup_needs_a_loaded_vmcs(void **state)
{
    const struct hv_guest_entry entry = { 0, 0, 0x2 };

    (void)state;
    hv_mock_cpu_bind(1);
    assert_int_equal(hv_vmcs_setup(&g_hv->vcpus[1], &entry), HV_STATUS_NOT_VIRTUALIZED);
}

static void vmwrite_failure_names_the_field(void **state)
{
    const struct hv_guest_entry entry = { 0, 0, 0x2 };
    struct hv_vcpu *v = &g_hv->vcpus[1];

    (void)state;
    hv_mock_cpu_bind(1);
    assert_int_equal(hv_vmx_on(v), HV_STATUS_SUCCESS);
    hv_mock_vmx_fail_at(1, HV_MOCK_OP_VMWRITE, 5, HV_STATUS_VM_INSTRUCTION_ERROR(12));
    assert_int_equal(hv_vmcs_setup(v, &entry), HV_STATUS_VM_INSTRUCTION_ERROR(12));
    assert_true(hv_mock_os_log_contains("VMCS setup: VMWRITE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(guest_state_is_the_running_state, setup, teardown),
        cmocka_unit_test_setup_teardown(host_state_and_controls, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_required_control_is_a_clear_status, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_gdt_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(setup_needs_a_loaded_vmcs, setup, teardown),
        cmocka_unit_test_setup_teardown(vmwrite_failure_names_the_field, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
