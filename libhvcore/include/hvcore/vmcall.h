/* SPDX-License-Identifier: MIT */
/*
 * The core's hypercall interface (VMCALL from the guest, CPL 0 only).
 *
 *   RAX = call number, RCX = HV_VMCALL_KEY, RDX/R8 = arguments.
 *   Result in RAX (an hv_status_t unless the call says otherwise).
 *
 * A VMCALL from CPL > 0, or with the wrong key, gets #UD injected and runs
 * nothing, exactly as on a CPU without a hypervisor. The key keeps stray
 * VMCALLs (other hypervisors' guest drivers probing) from reaching us.
 */
#ifndef HVCORE_VMCALL_H
#define HVCORE_VMCALL_H

#include <stdint.h>

#define HV_VMCALL_KEY            0x68766F7265564D43ull /* "CMVerovh" */

enum hv_vmcall_number {
    /* "Are you there?": RAX = HV_VMCALL_PING_REPLY. */
    HV_VMCALL_PING           = 1,
    /* Leave VMX on this core; the guest continues after the VMCALL,
     * no longer virtualized. RAX = SUCCESS. */
    HV_VMCALL_DEVIRTUALIZE   = 2,
    /* Run a registered root-mode request on this core:
     * RDX = struct hv_root_request * (guest-virtual = host-virtual, the
     * blue-pill shares the address space). RAX = the request's status. */
    HV_VMCALL_RUN_IN_ROOT    = 3,
};

#define HV_VMCALL_PING_REPLY     0x6C69626876636F72ull /* "rochvbil" */

/* A request executed in VMX root on the calling core. */
struct hv_root_request {
    uint64_t (*fn)(void *vcpu, void *arg);  /* struct hv_vcpu * */
    void *arg;
};

#endif
