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

/* RCX of every hypercall ("CMVerovh" in little-endian bytes). */
#define HV_VMCALL_KEY            0x68766F7265564D43ull

/* Hypercall numbers (RAX). */
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
    /* Calls below pass no pointers: only registers, so an OS whose address
     * space is not root's (a hypervisor loaded by firmware, with its own
     * page tables) can use them. Result: RAX = status, RDX = value. */
    /* RDX = enum hv_vmcall_query item, R8 = its index. */
    HV_VMCALL_QUERY          = 4,
    /* The guest's view of MSR RDX on the calling core (msr.h,
     * hv_msr_guest_read): RAX = status (EXCEPTION_GENERAL_PROTECTION for an
     * MSR that would #GP), RDX = value, R8 = where it was read (enum
     * hv_msr_route, msr.h). */
    HV_VMCALL_MSR_READ       = 5,
    /* Write R8 to MSR RDX on the calling core (hv_msr_guest_write): guest-
     * state MSRs go to their VMCS fields. RAX = status, R8 = where it went
     * (enum hv_msr_route). An OS broadcasts by making the call on each of
     * its CPUs. */
    HV_VMCALL_MSR_WRITE      = 6,
};

/* Items of HV_VMCALL_QUERY (RDX); the value comes back in RDX. */
enum hv_vmcall_query {
    HV_QUERY_CPU_COUNT       = 0, /* CPUs the hypervisor manages */
    HV_QUERY_CURRENT_CPU     = 1, /* index of the calling CPU */
    HV_QUERY_CPU_VIRTUALIZED = 2, /* R8 = CPU index: 1 if launched, else 0 */
    HV_QUERY_EXIT_COUNT      = 3, /* R8 = basic exit reason: exits of it on the calling CPU */
    HV_QUERY_EXIT_TOTAL      = 4, /* every exit on the calling CPU */
    /* Any CPU's counters, e.g. of APs the OS does not run (parked by the
     * firmware): R8 = CPU index, or (CPU index << 32) | basic reason. */
    HV_QUERY_CPU_EXIT_TOTAL  = 5, /* R8 = CPU index: every exit on that CPU */
    HV_QUERY_CPU_EXIT_COUNT  = 6, /* R8 = (CPU index << 32) | basic reason */
    /* R8 = CPU index: SIPIs that restarted it (cfg.restart_on_sipi), with
     * bit 63 set while it waits for a SIPI after an INIT. */
    HV_QUERY_CPU_RESTARTS    = 7,
};

/* RAX after HV_VMCALL_PING ("rochvbil" in little-endian bytes). */
#define HV_VMCALL_PING_REPLY     0x6C69626876636F72ull

/* A request executed in VMX root on the calling core. */
struct hv_root_request {
    uint64_t (*fn)(void *vcpu, void *arg);  /* run in VMX root; `vcpu` is the core's struct hv_vcpu * */
    void *arg;                              /* passed to fn */
};

#endif
