/* SPDX-License-Identifier: MIT */
/*
 * The hypercall interface (vmcall.h). Only ring-0 code holding the key may
 * call; anything else sees the #UD a CPU without a hypervisor gives.
 */
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/vmcall.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "exit_handlers.h"

/* Everything the stub needs to continue the guest natively once VMX is
 * off, taken from the VMCS while it is still readable. */
static void capture_resume(struct hv_exit *e)
{
    struct hv_guest_resume *r = &e->vcpu->resume;

    r->rip = hv_exit_rip(e) + hv_exit_instruction_length(e);
    r->rsp = hv_exit_rsp(e);
    r->rflags = hv_exit_rflags(e);
    r->cr0 = hv_vmcs_readnat(HV_VMCS_GUEST_CR0);
    r->cr3 = hv_vmcs_readnat(HV_VMCS_GUEST_CR3);
    /* The guest's CR4 as it believes it to be, i.e. without our VMXE. */
    r->cr4 = hv_vmcs_readnat(HV_VMCS_GUEST_CR4) & ~HV_CR4_VMXE;
    r->dr7 = hv_vmcs_readnat(HV_VMCS_GUEST_DR7);
    r->debugctl = hv_vmcs_read64(HV_VMCS_GUEST_IA32_DEBUGCTL);
    r->fs_base = hv_vmcs_readnat(HV_VMCS_GUEST_FS_BASE);
    r->gs_base = hv_vmcs_readnat(HV_VMCS_GUEST_GS_BASE);
    r->gdtr_base = hv_vmcs_readnat(HV_VMCS_GUEST_GDTR_BASE);
    r->gdtr_limit = (uint16_t)hv_vmcs_read32(HV_VMCS_GUEST_GDTR_LIMIT);
    r->idtr_base = hv_vmcs_readnat(HV_VMCS_GUEST_IDTR_BASE);
    r->idtr_limit = (uint16_t)hv_vmcs_read32(HV_VMCS_GUEST_IDTR_LIMIT);
    r->tr_selector = hv_vmcs_read16(HV_VMCS_GUEST_TR_SELECTOR);
    r->ldtr_selector = hv_vmcs_read16(HV_VMCS_GUEST_LDTR_SELECTOR);
    r->sysenter_cs = hv_vmcs_read32(HV_VMCS_GUEST_SYSENTER_CS);
    r->sysenter_esp = hv_vmcs_readnat(HV_VMCS_GUEST_SYSENTER_ESP);
    r->sysenter_eip = hv_vmcs_readnat(HV_VMCS_GUEST_SYSENTER_EIP);
    /* The guest's PAT/EFER live in the VMCS only while entry loads them
     * (and exit saves them); otherwise the exit did not touch the MSRs. */
    r->restore_pat = (e->vcpu->ctls.entry & HV_ENTRY_CTL_LOAD_PAT) && (e->vcpu->ctls.exit & HV_EXIT_CTL_LOAD_PAT);
    r->restore_efer = (e->vcpu->ctls.entry & HV_ENTRY_CTL_LOAD_EFER) && (e->vcpu->ctls.exit & HV_EXIT_CTL_LOAD_EFER);
    r->pat = r->restore_pat ? hv_vmcs_read64(HV_VMCS_GUEST_IA32_PAT) : 0;
    r->efer = r->restore_efer ? hv_vmcs_read64(HV_VMCS_GUEST_IA32_EFER) : 0;
}

enum hv_exit_action hv_exit_vmcall(struct hv_exit *e)
{
    uint64_t *r = e->gprs->r;
    const struct hv_root_request *req;

    if (hv_exit_cpl(e) != 0 || r[HV_GPR_RCX] != HV_VMCALL_KEY) {
        (void)hv_inject_ud(e);
        return HV_ACTION_RESUME;
    }
    switch (r[HV_GPR_RAX]) {
    case HV_VMCALL_PING:
        r[HV_GPR_RAX] = HV_VMCALL_PING_REPLY;
        return HV_ACTION_SKIP;
    case HV_VMCALL_DEVIRTUALIZE:
        capture_resume(e);
        r[HV_GPR_RAX] = HV_STATUS_SUCCESS;
        hv_vmx_off(e->vcpu);
        return HV_ACTION_DEVIRTUALIZE;
    case HV_VMCALL_RUN_IN_ROOT:
        req = (const struct hv_root_request *)(uintptr_t)r[HV_GPR_RDX];
        /* The request, its argument and result buffers are OS memory,
         * perhaps recycled since root last looked (hv.h, root_tlb_gen). */
        hv_arch_flush_root_tlb(e->vcpu->caps.has_invpcid);
        if (req == NULL || req->fn == NULL)
            r[HV_GPR_RAX] = HV_STATUS_INVALID_PARAMETER;
        else
            r[HV_GPR_RAX] = req->fn(e->vcpu, req->arg);
        return HV_ACTION_SKIP;
    default:
        r[HV_GPR_RAX] = HV_STATUS_INVALID_PARAMETER;
        return HV_ACTION_SKIP;
    }
}
