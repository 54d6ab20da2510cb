/* SPDX-License-Identifier: MIT */
/*
 * MSRs whose guest value is not (only) the physical register: the
 * guest-state MSRs that VM entry loads from VMCS fields, SMBASE (a VMCS
 * field only), and IA32_FEATURE_CONTROL (a per-core virtual copy).
 *
 * A blue-pill guest and VMX root share every other MSR, so for those a
 * plain fault-safe RDMSR/WRMSR in root is the guest's view.
 */
#ifndef HVCORE_MSR_H
#define HVCORE_MSR_H

#include <stdbool.h>
#include <stdint.h>
#include "hv.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a guest-state MSR access went. */
enum hv_msr_route {
    HV_MSR_ROUTE_PHYSICAL = 0,  /* the real MSR (not a guest-state MSR, or the
                                   CPU lacks the VM-entry load control) */
    HV_MSR_ROUTE_VMCS_FIELD = 1,/* the VMCS guest-state field, loaded at entry */
    HV_MSR_ROUTE_VIRTUAL = 2,   /* the core's virtual copy (FEATURE_CONTROL) */
};

/* true for SYSENTER_CS/ESP/EIP, SMBASE, DEBUGCTL, PAT, EFER,
 * PERF_GLOBAL_CTRL, BNDCFGS, RTIT_CTL, PKRS, S_CET,
 * INTERRUPT_SSP_TABLE_ADDR and FEATURE_CONTROL. */
bool hv_msr_is_guest_state(uint32_t msr);

/*
 * The guest's view of `msr` on the current core, in VMX root with this
 * core's VMCS current. Any MSR may be passed: non-guest-state MSRs go to
 * the real register, fault-safe. Returns SUCCESS or
 * EXCEPTION_GENERAL_PROTECTION (the access would #GP on this CPU: MSR
 * absent, or a value the architecture forbids — nothing is changed).
 * `route` (may be NULL) says where the access went. ROOT-SAFE.
 */
hv_status_t hv_msr_guest_read(struct hv_vcpu *vcpu, uint32_t msr, uint64_t *value,
                              enum hv_msr_route *route);
hv_status_t hv_msr_guest_write(struct hv_vcpu *vcpu, uint32_t msr, uint64_t value,
                               enum hv_msr_route *route);

/* Set or clear the read/write intercept bits of `msr` in the core's MSR
 * bitmap (SDM Vol. 3C, 25.6.9). MSRs outside 0-0x1FFF and
 * 0xC0000000-0xC0001FFF always exit and return INVALID_PARAMETER here. */
hv_status_t hv_msr_bitmap_set(struct hv_vcpu *vcpu, uint32_t msr, bool trap_read, bool trap_write);

#ifdef __cplusplus
}
#endif
#endif
