/* SPDX-License-Identifier: MIT */
/*
 * Entering and leaving VMX root operation on one core (SDM Vol. 3C, 24.7
 * and 24.8; Vol. 3D, A.7-A.8 for the fixed CR bits), recording every step
 * so that leaving undoes exactly what entering did.
 */
#include <hvcore/arch.h>
#include <hvcore/hv.h>
#include <hvcore/vmx.h>

#include "lib.h"

static void log_vcpu(struct hv_vcpu *vcpu, enum hv_log_level lvl, const char *what, hv_status_t st)
{
    char buf[192];
    struct hv_sb sb;

    hv_sb_init(&sb, buf, sizeof(buf));
    hv_sb_str(&sb, "cpu ");
    hv_sb_dec(&sb, vcpu->index);
    hv_sb_str(&sb, ": ");
    hv_sb_str(&sb, what);
    if (st != HV_STATUS_SUCCESS) {
        hv_sb_str(&sb, ": ");
        hv_sb_status(&sb, st);
    }
    hv_lib_log(vcpu->hv != NULL ? vcpu->hv->os : NULL, lvl, buf);
}

/* SDM Vol. 3C, 24.7: VMXON needs FEATURE_CONTROL locked with "VMX outside
 * SMX" set. Firmware that left it unlocked lets us set and lock it. */
static hv_status_t enable_feature_control(struct hv_vcpu *vcpu)
{
    uint64_t fc = vcpu->caps.feature_control;
    hv_status_t st;

    if (fc & HV_FEATURE_CONTROL_LOCK)
        return (fc & HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX) ? HV_STATUS_SUCCESS
                                                          : HV_STATUS_VMX_DISABLED_BY_FIRMWARE;
    fc |= HV_FEATURE_CONTROL_LOCK | HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX;
    st = hv_arch_wrmsr_safe(HV_MSR_IA32_FEATURE_CONTROL, fc);
    if (!hv_success(st))
        return HV_STATUS_VMX_DISABLED_BY_FIRMWARE;
    vcpu->caps.feature_control = fc;
    vcpu->steps |= HV_STEP_FEATURE_CONTROL_LOCKED;
    log_vcpu(vcpu, HV_LOG_INFO, "IA32_FEATURE_CONTROL was unlocked: locked it with VMX outside SMX on", 0);
    return HV_STATUS_SUCCESS;
}

/* Bits fixed to 1 in FIXED0 must be set and bits 0 in FIXED1 clear while
 * in VMX operation. A running 64-bit OS already has PE/PG; anything we
 * must flip is remembered and flipped back on exit. */
static hv_status_t fix_control_registers(struct hv_vcpu *vcpu)
{
    const struct hv_vmx_caps *c = &vcpu->caps;
    uint64_t cr0 = hv_arch_read_cr(0), cr4 = hv_arch_read_cr(4);
    uint64_t new_cr0 = (cr0 | c->cr0_fixed0) & c->cr0_fixed1;
    uint64_t new_cr4 = ((cr4 | c->cr4_fixed0) & c->cr4_fixed1) | HV_CR4_VMXE;

    vcpu->cr0_before = cr0;
    vcpu->cr4_before = cr4;
    /* Turning paging or protection on underneath the OS is not something
     * a blue-pill can do: refuse rather than corrupt the running system. */
    if ((new_cr0 ^ cr0) & (HV_CR0_PE | HV_CR0_PG))
        return HV_STATUS_CR_FIXED_BITS;
    if (!(c->cr4_fixed1 & HV_CR4_VMXE))
        return HV_STATUS_CR_FIXED_BITS;

    if (new_cr0 != cr0) {
        hv_arch_write_cr(0, new_cr0);
        vcpu->steps |= HV_STEP_CR0_FIXED;
    }
    if (new_cr4 != cr4) {
        hv_arch_write_cr(4, new_cr4);
        vcpu->steps |= HV_STEP_CR4_VMXE_SET;
    }
    return HV_STATUS_SUCCESS;
}

static void restore_control_registers(struct hv_vcpu *vcpu)
{
    if (vcpu->steps & HV_STEP_CR4_VMXE_SET) {
        hv_arch_write_cr(4, vcpu->cr4_before);
        vcpu->steps &= ~(uint32_t)HV_STEP_CR4_VMXE_SET;
    }
    if (vcpu->steps & HV_STEP_CR0_FIXED) {
        hv_arch_write_cr(0, vcpu->cr0_before);
        vcpu->steps &= ~(uint32_t)HV_STEP_CR0_FIXED;
    }
}

hv_status_t hv_vmx_on(struct hv_vcpu *vcpu)
{
    hv_status_t st;
    bool vmxe_was_set;

    if (vcpu == NULL || vcpu->vmxon_region == NULL || vcpu->vmcs_region == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (vcpu->steps & HV_STEP_VMXON)
        return HV_STATUS_ALREADY_VIRTUALIZED;

    st = hv_vmx_caps_read(&vcpu->caps);
    if (!hv_success(st))
        goto caps_failed;
    st = enable_feature_control(vcpu);
    if (!hv_success(st))
        goto caps_failed;
    vcpu->feature_control_virtual = vcpu->caps.feature_control;

    vmxe_was_set = (hv_arch_read_cr(4) & HV_CR4_VMXE) != 0;
    st = fix_control_registers(vcpu);
    if (!hv_success(st))
        goto cr_fix_failed;

    /* SDM Vol. 3C, 25.11.5: both regions start with the revision id,
     * bit 31 clear (not a shadow VMCS). */
    *(volatile uint32_t *)vcpu->vmxon_region = vcpu->caps.revision;
    *(volatile uint32_t *)vcpu->vmcs_region = vcpu->caps.revision;

    st = hv_arch_vmxon(vcpu->vmxon_pa);
    if (!hv_success(st)) {
        /* Someone else owns VMX on this core if CR4.VMXE was already on
         * or the CPU says we are in VMX root already (error 15). */
        if (vmxe_was_set || hv_status_vm_instruction_error(st) == 15)
            st = HV_STATUS_VMX_IN_USE;
        goto vmxon_failed;
    }
    vcpu->steps |= HV_STEP_VMXON;

    st = hv_arch_vmclear(vcpu->vmcs_pa);
    if (!hv_success(st))
        goto vmclear_failed;
    vcpu->steps |= HV_STEP_VMCS_CLEARED;

    st = hv_arch_vmptrld(vcpu->vmcs_pa);
    if (!hv_success(st))
        goto vmptrld_failed;
    vcpu->steps |= HV_STEP_VMCS_LOADED;
    return HV_STATUS_SUCCESS;

vmptrld_failed:
vmclear_failed:
    (void)hv_arch_vmxoff();
    vcpu->steps &= ~(uint32_t)(HV_STEP_VMXON | HV_STEP_VMCS_CLEARED);
vmxon_failed:
cr_fix_failed:
    restore_control_registers(vcpu);
caps_failed:
    vcpu->status = st;
    log_vcpu(vcpu, HV_LOG_ERROR, "entering VMX operation failed", st);
    return st;
}

void hv_vmx_off(struct hv_vcpu *vcpu)
{
    hv_status_t st;

    if (vcpu == NULL)
        return;
    if (vcpu->steps & (HV_STEP_VMCS_LOADED | HV_STEP_VMCS_CLEARED)) {
        /* VMCLEAR flushes the processor's cached VMCS data to memory and
         * makes the region safe to free (SDM Vol. 3C, 25.11.3). */
        st = hv_arch_vmclear(vcpu->vmcs_pa);
        if (!hv_success(st))
            log_vcpu(vcpu, HV_LOG_WARN, "VMCLEAR on teardown failed", st);
        vcpu->steps &= ~(uint32_t)(HV_STEP_VMCS_LOADED | HV_STEP_VMCS_CLEARED |
                                   HV_STEP_VMCS_SETUP | HV_STEP_LAUNCHED);
    }
    if (vcpu->steps & HV_STEP_VMXON) {
        st = hv_arch_vmxoff();
        if (!hv_success(st))
            log_vcpu(vcpu, HV_LOG_WARN, "VMXOFF failed", st);
        vcpu->steps &= ~(uint32_t)HV_STEP_VMXON;
    }
    restore_control_registers(vcpu);
    /* HV_STEP_FEATURE_CONTROL_LOCKED stays: the lock bit is write-once
     * until reset (SDM Vol. 3C, 24.7). */
}
