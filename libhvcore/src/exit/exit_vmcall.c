/* SPDX-License-Identifier: MIT */
/*
 * The hypercall interface (vmcall.h). Only ring-0 code holding the key may
 * call; anything else sees the #UD a CPU without a hypervisor gives.
 */
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/msr.h>
#include <hvcore/vmcall.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "exit/exit_handlers.h"
#include "exit/trace_arch.h"

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

/* HV_VMCALL_QUERY: registers only, so any OS can ask, whatever its
 * address space. Counters are read without a lock: each core writes only
 * its own, and a query is a snapshot. */
static hv_status_t query(const struct hv_vcpu *v, uint64_t item, uint64_t index, uint64_t *value)
{
    const struct hv *hv = v->hv;
    uint64_t sum = 0;
    uint32_t i;

    switch (item) {
    case HV_QUERY_CPU_COUNT:
        *value = hv->cpu_count;
        return HV_STATUS_SUCCESS;
    case HV_QUERY_CURRENT_CPU:
        *value = v->index;
        return HV_STATUS_SUCCESS;
    case HV_QUERY_CPU_VIRTUALIZED:
        if (index >= hv->cpu_count)
            return HV_STATUS_INVALID_PARAMETER;
        *value = (__atomic_load_n(&hv->vcpus[index].steps, __ATOMIC_RELAXED) & HV_STEP_LAUNCHED) ? 1u : 0u;
        return HV_STATUS_SUCCESS;
    case HV_QUERY_EXIT_COUNT:
        if (index > HV_EXIT_REASON_COUNT)
            return HV_STATUS_INVALID_PARAMETER;
        *value = v->exit_count[index];
        return HV_STATUS_SUCCESS;
    case HV_QUERY_EXIT_TOTAL:
        for (i = 0; i <= HV_EXIT_REASON_COUNT; i++)
            sum += v->exit_count[i];
        *value = sum;
        return HV_STATUS_SUCCESS;
    case HV_QUERY_CPU_EXIT_TOTAL:
        if (index >= hv->cpu_count)
            return HV_STATUS_INVALID_PARAMETER;
        for (i = 0; i <= HV_EXIT_REASON_COUNT; i++)
            sum += __atomic_load_n(&hv->vcpus[index].exit_count[i], __ATOMIC_RELAXED);
        *value = sum;
        return HV_STATUS_SUCCESS;
    case HV_QUERY_CPU_EXIT_COUNT:
        if ((index >> 32) >= hv->cpu_count || (uint32_t)index > HV_EXIT_REASON_COUNT)
            return HV_STATUS_INVALID_PARAMETER;
        *value = __atomic_load_n(&hv->vcpus[index >> 32].exit_count[(uint32_t)index], __ATOMIC_RELAXED);
        return HV_STATUS_SUCCESS;
    case HV_QUERY_CPU_RESTARTS:
        if (index >= hv->cpu_count)
            return HV_STATUS_INVALID_PARAMETER;
        *value = (uint64_t)__atomic_load_n(&hv->vcpus[index].sipi_restarts, __ATOMIC_RELAXED) |
                 ((uint64_t)__atomic_load_n(&hv->vcpus[index].awaiting_sipi, __ATOMIC_RELAXED) << 63);
        return HV_STATUS_SUCCESS;
    default:
        return HV_STATUS_INVALID_PARAMETER;
    }
}

enum hv_exit_action hv_exit_vmcall(struct hv_exit *e)
{
    uint64_t value = 0;
    enum hv_msr_route route = HV_MSR_ROUTE_PHYSICAL;

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
        hv_trace_opaque();
        capture_resume(e);
        r[HV_GPR_RAX] = HV_STATUS_SUCCESS;
        hv_vmx_off(e->vcpu);
        return HV_ACTION_DEVIRTUALIZE;
    case HV_VMCALL_RUN_IN_ROOT:
        hv_trace_opaque();
        req = (const struct hv_root_request *)(uintptr_t)r[HV_GPR_RDX];
        /* The request, its argument and result buffers are OS memory,
         * perhaps recycled since root last looked (hv.h, root_tlb_gen). */
        hv_arch_flush_root_tlb(e->vcpu->caps.has_invpcid);
        if (req == NULL || req->fn == NULL)
            r[HV_GPR_RAX] = HV_STATUS_INVALID_PARAMETER;
        else
            r[HV_GPR_RAX] = req->fn(e->vcpu, req->arg);
        return HV_ACTION_SKIP;
    case HV_VMCALL_QUERY:
        r[HV_GPR_RAX] = query(e->vcpu, r[HV_GPR_RDX], r[HV_GPR_R8], &value);
        r[HV_GPR_RDX] = value;
        return HV_ACTION_SKIP;
    case HV_VMCALL_MSR_READ:
        /* An MSR number is 32 bits; RDMSR ignores the upper half of RCX. */
        r[HV_GPR_RAX] = hv_msr_guest_read(e->vcpu, (uint32_t)r[HV_GPR_RDX], &value, &route);
        r[HV_GPR_RDX] = value;
        r[HV_GPR_R8] = route;
        return HV_ACTION_SKIP;
    case HV_VMCALL_MSR_WRITE:
        r[HV_GPR_RAX] = hv_msr_guest_write(e->vcpu, (uint32_t)r[HV_GPR_RDX], r[HV_GPR_R8], &route);
        r[HV_GPR_R8] = route;
        return HV_ACTION_SKIP;
    default:
        r[HV_GPR_RAX] = HV_STATUS_INVALID_PARAMETER;
        return HV_ACTION_SKIP;
    }
}
