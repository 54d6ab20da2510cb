/* SPDX-License-Identifier: MIT */
/*
 * MSRs whose guest value is not (only) the physical register: the
 * guest-state MSRs that VM entry loads from VMCS fields, and
 * IA32_FEATURE_CONTROL (a per-core virtual copy). IA32_SMBASE is SMM-only:
 * RDMSR and WRMSR of it are #GP for the guest and the broadcast alike.
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

/* true for SYSENTER_CS/ESP/EIP, FS/GS_BASE, DEBUGCTL, PAT, EFER,
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

/* ---- Broadcast: rdmsr/wrmsr on one core or on every core ---------------- */

#define HV_ALL_CORES 0xFFFFFFFFu

/* One core's outcome. */
struct hv_msr_result {
    uint32_t core;
    hv_status_t status;     /* SUCCESS, EXCEPTION_GENERAL_PROTECTION, ... */
    uint64_t value;         /* read: the value; write: the value written */
    uint32_t route;         /* enum hv_msr_route */
    uint32_t in_root;       /* 1: executed in VMX root (core virtualized) */
};

/*
 * Read or write `msr` on `core`, or on every core with HV_ALL_CORES, and
 * report each core's result in results[k] for the k-th target core in
 * ascending order (results[0] for a single core). PRE-LAUNCH context: it
 * runs a callback on each target core (os->run_on_cpu) that enters VMX
 * root by VMCALL when the core is virtualized, and runs the access there
 * fault-safe; on a core that is not virtualized the access runs directly,
 * still fault-safe. A #GP is that core's EXCEPTION_GENERAL_PROTECTION,
 * never a crash; guest-state MSRs go to their VMCS fields (msr.h above).
 *
 * Returns INVALID_PARAMETER, before anything runs, for a core that does
 * not exist or results_len smaller than the number of target cores; else
 * SUCCESS when every target succeeded, or the status of the first core
 * that did not. Callers on several threads may target the same cores at
 * once: each core executes one request at a time, none is refused.
 */
hv_status_t hv_msr_read(struct hv *hv, uint32_t core, uint32_t msr,
                        struct hv_msr_result *results, uint32_t results_len);
hv_status_t hv_msr_write(struct hv *hv, uint32_t core, uint32_t msr, uint64_t value,
                         struct hv_msr_result *results, uint32_t results_len);
/* Number of results a request for `core` produces (0 for a bad core). */
uint32_t hv_msr_target_count(const struct hv *hv, uint32_t core);

/* Set or clear the read/write intercept bits of `msr` in the core's MSR
 * bitmap (SDM Vol. 3C, 25.6.9). MSRs outside 0-0x1FFF and
 * 0xC0000000-0xC0001FFF always exit and return INVALID_PARAMETER here. */
hv_status_t hv_msr_bitmap_set(struct hv_vcpu *vcpu, uint32_t msr, bool trap_read, bool trap_write);

#ifdef __cplusplus
}
#endif
#endif
