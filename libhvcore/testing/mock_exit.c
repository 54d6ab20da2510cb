/* SPDX-License-Identifier: MIT */
/* VM-exit simulation for the mock backend (see mock.h). */
#include <hvcore/exit.h>
#include <hvcore/testing/mock.h>
#include <hvcore/vmcall.h>

#include <stdio.h>

struct hv_vcpu *hv_mock_current_vcpu(void)
{
    uint64_t host_rsp = 0;

    if (!hv_mock_vmcs_peek(HV_VMCS_HOST_RSP, &host_rsp) || host_rsp == 0)
        return NULL;
    /* HOST_RSP points at the slot holding the vcpu (hv.h). */
    return (struct hv_vcpu *)(uintptr_t)*(const uint64_t *)(uintptr_t)host_rsp;
}

static enum hv_exit_action mock_exit_locked(const struct hv_mock_exit *x)
{
    struct hv_mock_cpu *cpu = hv_mock_cpu_current();
    struct hv_vcpu *vcpu;
    enum hv_exit_action action;
    uint64_t entry_info = 0;
    char msg[128];

    if (cpu == NULL || !cpu->in_guest) {
        snprintf(msg, sizeof(msg), "hv_mock_exit: cpu %d is not running a guest",
                 cpu ? (int)cpu->index : -1);
        hv_mock_report_failure(msg);
        return HV_ACTION_FATAL;
    }
    vcpu = hv_mock_current_vcpu();
    if (vcpu == NULL) {
        hv_mock_report_failure("hv_mock_exit: HOST_RSP does not lead to a vcpu");
        return HV_ACTION_FATAL;
    }
    hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_REASON, x->reason);
    hv_mock_vmcs_seed(HV_VMCS_EXIT_QUALIFICATION, x->qualification);
    hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_INSTRUCTION_LEN, x->instruction_len);
    hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_INTR_INFO, x->intr_info);
    hv_mock_vmcs_seed(HV_VMCS_IDT_VECTORING_INFO, x->idt_vectoring_info);
    hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_INTR_ERROR_CODE, 0);
    hv_mock_vmcs_seed(HV_VMCS_IDT_VECTORING_ERROR_CODE, x->idt_vectoring_error);
    if (!hv_mock_vmcs_peek(HV_VMCS_VM_INSTRUCTION_ERROR, &entry_info))
        hv_mock_vmcs_seed(HV_VMCS_VM_INSTRUCTION_ERROR, 0);
    if (hv_mock_vmcs_peek(HV_VMCS_VM_ENTRY_INTR_INFO, &entry_info))
        hv_mock_vmcs_seed(HV_VMCS_VM_ENTRY_INTR_INFO, entry_info & ~(uint64_t)HV_INTR_INFO_VALID);

    hv_mock_os_set_in_exit(true);
    cpu->in_guest = false;
    action = hv_exit_dispatch(vcpu);
    hv_mock_os_set_in_exit(false);

    switch (action) {
    case HV_ACTION_RESUME:
    case HV_ACTION_SKIP:
        cpu->in_guest = true;
        break;
    case HV_ACTION_DEVIRTUALIZE:
        hv_arch_restore_guest_state(&vcpu->resume);
        break;
    case HV_ACTION_FATAL:
    default:
        /* The real stub would stop the machine; the test inspects the dump. */
        break;
    }
    return action;
}

enum hv_exit_action hv_mock_exit(const struct hv_mock_exit *x)
{
    struct hv_mock_cpu *cpu = hv_mock_cpu_current();
    enum hv_exit_action action;

    /* The whole exit, seeding included, is one activity of this CPU. */
    if (cpu != NULL)
        hv_mock_cpu_lock(cpu->index);
    action = mock_exit_locked(x);
    if (cpu != NULL)
        hv_mock_cpu_unlock(cpu->index);
    return action;
}

uint64_t hv_mock_guest_vmcall(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3)
{
    struct hv_vcpu *vcpu = hv_mock_current_vcpu();
    struct hv_mock_exit x = { .reason = HV_EXIT_VMCALL, .instruction_len = 3 };
    enum hv_exit_action action;

    if (vcpu == NULL)
        return UINT64_MAX;
    vcpu->gprs.r[HV_GPR_RAX] = number;
    vcpu->gprs.r[HV_GPR_RCX] = a1;
    vcpu->gprs.r[HV_GPR_RDX] = a2;
    vcpu->gprs.r[HV_GPR_R8] = a3;
    action = hv_mock_exit(&x);
    if (action == HV_ACTION_FATAL)
        return UINT64_MAX;
    return vcpu->gprs.r[HV_GPR_RAX];
}
