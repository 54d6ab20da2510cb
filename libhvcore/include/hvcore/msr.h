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
 * INTERRUPT_SSP_TABLE_ADDR and FEATURE_CONTROL (SDM Vol. 3C, 25.4.1,
 * 27.3.2.1). Context: any. */
bool hv_msr_is_guest_state(uint32_t msr);

/*
 * The guest's view of `msr` on the current core, in VMX root with this
 * core's VMCS current. Any MSR may be passed: non-guest-state MSRs go to
 * the real register, fault-safe. Returns SUCCESS or
 * EXCEPTION_GENERAL_PROTECTION (the access would #GP on this CPU: MSR
 * absent, or a value the architecture forbids — nothing is changed), or
 * INVALID_PARAMETER for a NULL vcpu/value; a VMCS-field read returns
 * hv_vmcs_read()'s status. `route` (may be NULL) says where the access went.
 * Context: ROOT-SAFE (VMX root, this core's VMCS current).
 */
hv_status_t hv_msr_guest_read(struct hv_vcpu *vcpu, uint32_t msr, uint64_t *value,
                              enum hv_msr_route *route);
/* Write the guest's `msr` on the current core: FEATURE_CONTROL to the
 * virtual copy (#GP once locked, or for a reserved bit), guest-state MSRs
 * to their VMCS field (turning the VM-entry load control on when the CPU
 * has it; the physical MSR when it does not), others to the real register,
 * fault-safe. Returns SUCCESS, EXCEPTION_GENERAL_PROTECTION (what the CPU
 * would #GP on: SMBASE, a missing feature, a value the SDM forbids, e.g.
 * a non-canonical base; nothing is changed), INVALID_PARAMETER (NULL vcpu)
 * or a VMCS access status. Context: ROOT-SAFE (VMX root, this core's VMCS
 * current). */
hv_status_t hv_msr_guest_write(struct hv_vcpu *vcpu, uint32_t msr, uint64_t value,
                               enum hv_msr_route *route);

/* ---- Broadcast: rdmsr/wrmsr on one core or on every core ---------------- */

/* The `core` that means every core. */
#define HV_ALL_CORES 0xFFFFFFFFu

/* One core's outcome. */
struct hv_msr_result {
    uint32_t core;          /* the core this result is for */
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
 * that did not (CPU_CALL_FAILED when the OS could not run the callback
 * there). Callers on several threads may target the same cores at
 * once: each core executes one request at a time, none is refused.
 * Context: PRE-LAUNCH (it may also run after hv_start(): it enters root
 * by VMCALL).
 */
hv_status_t hv_msr_read(struct hv *hv, uint32_t core, uint32_t msr,
                        struct hv_msr_result *results, uint32_t results_len);
/* As hv_msr_read(), writing `value` (results[k].value = value). Statuses
 * as hv_msr_read; context: PRE-LAUNCH. */
hv_status_t hv_msr_write(struct hv *hv, uint32_t core, uint32_t msr, uint64_t value,
                         struct hv_msr_result *results, uint32_t results_len);
/* Number of results a request for `core` produces (0 for a bad core).
 * Context: any. */
uint32_t hv_msr_target_count(const struct hv *hv, uint32_t core);

/* Set or clear the read/write intercept bits of `msr` in the core's MSR
 * bitmap (SDM Vol. 3C, 25.6.9). MSRs outside 0-0x1FFF and
 * 0xC0000000-0xC0001FFF always exit and return INVALID_PARAMETER here
 * (also for a core without an MSR bitmap); else SUCCESS. The change takes
 * effect at the next VM entry of that core. Context: ROOT-SAFE on the
 * core itself, or PRE-LAUNCH before the core is launched. */
hv_status_t hv_msr_bitmap_set(struct hv_vcpu *vcpu, uint32_t msr, bool trap_read, bool trap_write);

#ifdef __cplusplus
}
#endif
#endif
