/* SPDX-License-Identifier: MIT */
/* VM-exit simulation for the mock backend (see mock.h), the guest state
 * exits save and entries load on their own, and read-only views of what
 * the core recorded per core. */
#include <hvcore/exit.h>
#include <hvcore/testing/mock.h>
#include <hvcore/vmcall.h>

#include <stdio.h>
#include <string.h>

#include "mock_internal.h"

/* ---- Guest state that lives in the VMCS on its own ------------------------
 * On a CPU that supports the VM-entry control loading one of these, every
 * VM exit saves the register into its guest-state field whatever the
 * controls (SDM Vol. 3C, 28.3.1 for the MSRs, 28.3.3 for SSP), and the
 * VM-exit control, when on, then loads or clears it for the host (28.5.1);
 * a VM entry with the control on loads it from the field (27.3.2.1). So
 * these fields always hold the guest's live value in VMX root. The other
 * guest-state MSRs (PAT, EFER, DEBUGCTL, SYSENTER_*) are not modelled:
 * their physical MSRs stay what the test set. */
#define LIVE_SSP 0u   /* not an MSR: the SSP register (cpu->ssp) */

struct live_state {
    uint32_t msr;          /* LIVE_SSP for SSP */
    uint32_t guest_field;
    uint32_t entry_ctl;    /* load at entry; support means "saved at exit" */
    uint32_t exit_ctl;     /* load (host_field) or clear (host_field 0) at exit */
    uint32_t host_field;
    uint32_t also_saved_if_exit_ctl; /* RTIT_CTL: support of the clear control counts too */
};

static const struct live_state k_live[] = {
    { HV_MSR_IA32_S_CET, HV_VMCS_GUEST_S_CET, HV_ENTRY_CTL_LOAD_CET_STATE,
      HV_EXIT_CTL_LOAD_CET_STATE, HV_VMCS_HOST_S_CET, 0 },
    { LIVE_SSP, HV_VMCS_GUEST_SSP, HV_ENTRY_CTL_LOAD_CET_STATE,
      HV_EXIT_CTL_LOAD_CET_STATE, HV_VMCS_HOST_SSP, 0 },
    { HV_MSR_IA32_INTERRUPT_SSP_TABLE_ADDR, HV_VMCS_GUEST_INTR_SSP_TABLE_ADDR,
      HV_ENTRY_CTL_LOAD_CET_STATE, HV_EXIT_CTL_LOAD_CET_STATE, HV_VMCS_HOST_INTR_SSP_TABLE_ADDR, 0 },
    { HV_MSR_IA32_PKRS, HV_VMCS_GUEST_IA32_PKRS, HV_ENTRY_CTL_LOAD_PKRS,
      HV_EXIT_CTL_LOAD_PKRS, HV_VMCS_HOST_IA32_PKRS, 0 },
    { HV_MSR_IA32_BNDCFGS, HV_VMCS_GUEST_IA32_BNDCFGS, HV_ENTRY_CTL_LOAD_BNDCFGS,
      HV_EXIT_CTL_CLEAR_BNDCFGS, 0, 0 },
    { HV_MSR_IA32_RTIT_CTL, HV_VMCS_GUEST_IA32_RTIT_CTL, HV_ENTRY_CTL_LOAD_RTIT_CTL,
      HV_EXIT_CTL_CLEAR_RTIT_CTL, 0, HV_EXIT_CTL_CLEAR_RTIT_CTL },
};

static uint64_t live_get(struct hv_mock_cpu *cpu, uint32_t msr)
{
    struct hv_mock_msr *m;

    if (msr == LIVE_SSP)
        return cpu->ssp;
    m = hv_mocki_msr(cpu, msr);
    return m != NULL ? m->value : 0;
}

static void live_set(struct hv_mock_cpu *cpu, uint32_t msr, uint64_t value)
{
    struct hv_mock_msr *m;

    if (msr == LIVE_SSP) {
        cpu->ssp = value;
        return;
    }
    m = hv_mocki_msr(cpu, msr);
    if (m != NULL)
        m->value = value;
}

static uint32_t current_ctls(const struct hv_mock_cpu *cpu, uint32_t field)
{
    uint64_t v = 0;

    (void)hv_mocki_vmcs_get(cpu, field, &v);
    return (uint32_t)v;
}

void hv_mocki_exit_save(struct hv_mock_cpu *cpu)
{
    uint32_t entry1 = (uint32_t)(hv_mocki_ctl_cap(cpu, HV_MSR_IA32_VMX_ENTRY_CTLS,
                                                  HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS) >> 32);
    uint32_t exit1 = (uint32_t)(hv_mocki_ctl_cap(cpu, HV_MSR_IA32_VMX_EXIT_CTLS,
                                                 HV_MSR_IA32_VMX_TRUE_EXIT_CTLS) >> 32);
    uint32_t exit = current_ctls(cpu, HV_VMCS_VM_EXIT_CONTROLS);
    uint64_t host;
    size_t i;

    for (i = 0; i < sizeof(k_live) / sizeof(k_live[0]); i++) {
        const struct live_state *l = &k_live[i];

        if (!(entry1 & l->entry_ctl) && !(exit1 & l->also_saved_if_exit_ctl))
            continue;
        hv_mocki_vmcs_put(cpu, l->guest_field, live_get(cpu, l->msr));
        if (exit & l->exit_ctl) {
            host = 0;
            if (l->host_field != 0)
                (void)hv_mocki_vmcs_get(cpu, l->host_field, &host);
            live_set(cpu, l->msr, host);
        }
    }
}

void hv_mocki_entry_load(struct hv_mock_cpu *cpu)
{
    uint32_t entry = current_ctls(cpu, HV_VMCS_VM_ENTRY_CONTROLS);
    uint64_t v;
    size_t i;

    for (i = 0; i < sizeof(k_live) / sizeof(k_live[0]); i++) {
        if ((entry & k_live[i].entry_ctl) && hv_mocki_vmcs_get(cpu, k_live[i].guest_field, &v))
            live_set(cpu, k_live[i].msr, v);
    }
}

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

    hv_mocki_exit_save(cpu);

    hv_mock_os_set_in_exit(true);
    cpu->in_guest = false;
    action = hv_exit_dispatch(vcpu);
    hv_mock_os_set_in_exit(false);

    switch (action) {
    case HV_ACTION_RESUME:
    case HV_ACTION_SKIP:
        hv_mocki_entry_load(cpu);
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

/* ---- What the core recorded, per core ------------------------------------ */

bool hv_mock_cpu_in_guest(uint32_t cpu)
{
    const struct hv_mock_cpu *c = hv_mock_cpu(cpu);

    return c != NULL && c->in_guest;
}

void hv_mock_cpu_resume_guest(uint32_t cpu)
{
    struct hv_mock_cpu *c = hv_mock_cpu(cpu);

    if (c == NULL) {
        hv_mocki_fail("hv_mock_cpu_resume_guest: no fake CPU %u", cpu);
        return;
    }
    hv_mock_cpu_lock(cpu);
    /* Only a CPU that stopped in VMX root with its launched VMCS current
     * (what a FATAL exit leaves) can go back to being the guest. */
    if (!c->vmx_operation || c->current_vmcs_pa == ~0ull ||
        !hv_mocki_vmcs_launched(c->current_vmcs_pa))
        hv_mocki_fail("hv_mock_cpu_resume_guest: cpu%u has no launched VMCS current "
                      "(it was never launched, or was devirtualized)", cpu);
    else
        c->in_guest = true;
    hv_mock_cpu_unlock(cpu);
}

static const struct hv_vcpu *vcpu_of(const struct hv *hv, uint32_t core, const char *caller)
{
    if (hv == NULL || hv->vcpus == NULL || core >= hv->cpu_count) {
        hv_mocki_fail("%s: no core %u in this hypervisor instance (%u cores)", caller, core,
                      hv != NULL ? hv->cpu_count : 0u);
        return NULL;
    }
    return &hv->vcpus[core];
}

uint64_t hv_mock_exit_count(const struct hv *hv, uint32_t core, uint32_t reason)
{
    const struct hv_vcpu *v = vcpu_of(hv, core, "hv_mock_exit_count");

    if (v == NULL)
        return 0;
    return v->exit_count[reason < HV_EXIT_REASON_COUNT ? reason : HV_EXIT_REASON_COUNT];
}

const char *hv_mock_exit_dump(const struct hv *hv, uint32_t core)
{
    const struct hv_vcpu *v = vcpu_of(hv, core, "hv_mock_exit_dump");

    return v != NULL ? hv_exit_last_dump(v) : "";
}

void hv_mock_exit_dump_clear(struct hv *hv, uint32_t core)
{
    if (vcpu_of(hv, core, "hv_mock_exit_dump_clear") != NULL)
        memset(hv->vcpus[core].dump, 0, sizeof(hv->vcpus[core].dump));
}

uint64_t hv_mock_feature_control_virtual(const struct hv *hv, uint32_t core)
{
    const struct hv_vcpu *v = vcpu_of(hv, core, "hv_mock_feature_control_virtual");

    return v != NULL ? v->feature_control_virtual : 0;
}

void hv_mock_set_feature_control_virtual(struct hv *hv, uint32_t core, uint64_t value)
{
    if (vcpu_of(hv, core, "hv_mock_set_feature_control_virtual") == NULL)
        return;
    /* As one activity of that CPU: it may be inside an exit reading it. */
    hv_mock_cpu_lock(core);
    hv->vcpus[core].feature_control_virtual = value;
    hv_mock_cpu_unlock(core);
}

uint32_t hv_mock_movdr_refs(const struct hv *hv, uint32_t core)
{
    const struct hv_vcpu *v = vcpu_of(hv, core, "hv_mock_movdr_refs");

    return v != NULL ? v->movdr_refs : 0;
}
