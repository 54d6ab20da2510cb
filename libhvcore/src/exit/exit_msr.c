/* SPDX-License-Identifier: MIT */
/*
 * RDMSR/WRMSR exits: reached for MSRs the bitmap traps and for every index
 * outside the two bitmap ranges (SDM Vol. 3C, 26.1.3). The access is done
 * fault-safe; an MSR that faults on the real CPU becomes a #GP(0) at the
 * guest's instruction, exactly as without a hypervisor.
 */
#include <hvcore/exit.h>
#include <hvcore/msr.h>

#include "exit/exit_handlers.h"

enum hv_exit_action hv_exit_rdmsr(struct hv_exit *e)
{
    uint64_t *r = e->gprs->r;
    uint64_t value = 0;
    hv_status_t st;

    st = hv_msr_guest_read(e->vcpu, (uint32_t)r[HV_GPR_RCX], &value, NULL);
    if (!hv_success(st)) {
        (void)hv_inject_gp(e, 0);
        return HV_ACTION_RESUME;
    }
    r[HV_GPR_RAX] = (uint32_t)value;
    r[HV_GPR_RDX] = value >> 32;
    return HV_ACTION_SKIP;
}

enum hv_exit_action hv_exit_wrmsr(struct hv_exit *e)
{
    uint64_t *r = e->gprs->r;
    uint64_t value = ((uint64_t)(uint32_t)r[HV_GPR_RDX] << 32) | (uint32_t)r[HV_GPR_RAX];
    hv_status_t st;

    st = hv_msr_guest_write(e->vcpu, (uint32_t)r[HV_GPR_RCX], value, NULL);
    if (!hv_success(st)) {
        (void)hv_inject_gp(e, 0);
        return HV_ACTION_RESUME;
    }
    return HV_ACTION_SKIP;
}
