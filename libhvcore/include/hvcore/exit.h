/* SPDX-License-Identifier: MIT */
/*
 * VM-exit dispatch and the guest-state view handlers work with.
 *
 * The exit stub saves the guest GPRs into vcpu->gprs and calls
 * hv_exit_dispatch() on the core's host stack. The dispatcher reads the
 * exit reason, counts it, and calls the handler registered for it (a
 * bounds-checked table; unknown reasons go to hv_exit_unexpected()).
 *
 * Handlers return an action instead of moving RIP themselves. RIP, RSP,
 * RFLAGS, the exit qualification and the instruction length are read from
 * the VMCS only when a handler asks, and RIP/RSP/RFLAGS are written back
 * only if a handler changed them. Everything here is ROOT-SAFE: no
 * allocation, no OS call other than the ROOT-SAFE members.
 */
#ifndef HVCORE_EXIT_H
#define HVCORE_EXIT_H

#include <stdbool.h>
#include <stdint.h>
#include "hv.h"
#include "status.h"
#include "vmcs.h"
#include "vmx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lazily read guest state (bits of hv_exit.valid / hv_exit.dirty). */
enum hv_exit_state {
    HV_EXIT_HAVE_RIP = 1u << 0,     /* hv_exit.rip */
    HV_EXIT_HAVE_RSP = 1u << 1,     /* hv_exit.rsp */
    HV_EXIT_HAVE_RFLAGS = 1u << 2,  /* hv_exit.rflags */
    HV_EXIT_HAVE_QUAL = 1u << 3,    /* hv_exit.qual */
    HV_EXIT_HAVE_LEN = 1u << 4,     /* hv_exit.instr_len */
    HV_EXIT_HAVE_CPL = 1u << 5,     /* hv_exit.cpl */
};

/* One VM exit as handlers see it. Read the lazy fields through the
 * accessors below (hv_exit_rip() ...), never directly. */
struct hv_exit {
    struct hv_vcpu *vcpu;   /* the exiting core */
    struct hv_gprs *gprs;   /* its saved guest GPRs (RSP excepted) */
    uint32_t reason;        /* full exit-reason field */
    uint32_t basic;         /* bits 15:0 */
    uint32_t valid, dirty;  /* enum hv_exit_state: read so far / changed by a handler */
    uint64_t rip, rsp, rflags, qual; /* lazily read guest RIP, RSP, RFLAGS, exit qualification */
    uint32_t instr_len;     /* lazily read VM-exit instruction length */
    uint32_t cpl;           /* lazily read guest CPL */
    bool injected;          /* an event was injected during this exit */
};

/* Handle one VM exit of `vcpu` and say what the stub does next (the
 * dispatcher has already applied SKIP and written back changed state).
 * Called by the exit stub (and the mock's exit simulator). Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
enum hv_exit_action hv_exit_dispatch(struct hv_vcpu *vcpu);

/* Replace the handler of a basic exit reason (before hv_start()). NULL
 * restores the default. INVALID_PARAMETER for a reason outside the table,
 * ALREADY_VIRTUALIZED once hv_start() ran, else SUCCESS.
 * Context: PRE-LAUNCH (before hv_start()). */
hv_status_t hv_exit_set_handler(struct hv *hv, uint32_t reason, hv_exit_handler_fn fn);
/* The core's default handler for a reason (never NULL: the fallback).
 * Context: any. */
hv_exit_handler_fn hv_exit_default_handler(uint32_t reason);
/* The named fallback: records a state dump, returns HV_ACTION_FATAL. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
enum hv_exit_action hv_exit_unexpected(struct hv_exit *exit);

/* Lazy accessors: each field is read from the VMCS at most once per exit
 * and written back at the end only if a handler changed it. Inline: they
 * are the hot path of every handler. */
#define HV_EXIT_LAZY_READ_(e, bit, member, expr) \
    do {                                         \
        if (!((e)->valid & (bit))) {             \
            (e)->member = (expr);                \
            (e)->valid |= (bit);                 \
        }                                        \
    } while (0)

/* Guest RIP, read from the VMCS once per exit. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
static inline uint64_t hv_exit_rip(struct hv_exit *e)
{
    HV_EXIT_LAZY_READ_(e, HV_EXIT_HAVE_RIP, rip, hv_vmcs_readnat(HV_VMCS_GUEST_RIP));
    return e->rip;
}
/* Guest RSP, read from the VMCS once per exit. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
static inline uint64_t hv_exit_rsp(struct hv_exit *e)
{
    HV_EXIT_LAZY_READ_(e, HV_EXIT_HAVE_RSP, rsp, hv_vmcs_readnat(HV_VMCS_GUEST_RSP));
    return e->rsp;
}
/* Guest RFLAGS, read from the VMCS once per exit. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
static inline uint64_t hv_exit_rflags(struct hv_exit *e)
{
    HV_EXIT_LAZY_READ_(e, HV_EXIT_HAVE_RFLAGS, rflags, hv_vmcs_readnat(HV_VMCS_GUEST_RFLAGS));
    return e->rflags;
}
/* The exit qualification (SDM Vol. 3C, 28.2.1), read from the VMCS once per exit. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
static inline uint64_t hv_exit_qualification(struct hv_exit *e)
{
    HV_EXIT_LAZY_READ_(e, HV_EXIT_HAVE_QUAL, qual, hv_vmcs_readnat(HV_VMCS_EXIT_QUALIFICATION));
    return e->qual;
}
/* The VM-exit instruction length (SDM Vol. 3C, 28.2.5), read from the VMCS once per exit. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
static inline uint32_t hv_exit_instruction_length(struct hv_exit *e)
{
    HV_EXIT_LAZY_READ_(e, HV_EXIT_HAVE_LEN, instr_len, hv_vmcs_read32(HV_VMCS_VM_EXIT_INSTRUCTION_LEN));
    return e->instr_len;
}
/* Guest CPL = SS.DPL (SDM Vol. 3C, 25.4.1); CS.DPL is not, for conforming code.
 * Context: ROOT-SAFE. */
static inline uint32_t hv_exit_cpl(struct hv_exit *e)
{
    HV_EXIT_LAZY_READ_(e, HV_EXIT_HAVE_CPL, cpl, (hv_vmcs_read32(HV_VMCS_GUEST_SS_AR_BYTES) >> 5) & 3u);
    return e->cpl;
}
/* Change the guest RIP; written back when the handler returns. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
static inline void hv_exit_set_rip(struct hv_exit *e, uint64_t rip)
{
    e->rip = rip;
    e->valid |= HV_EXIT_HAVE_RIP;
    e->dirty |= HV_EXIT_HAVE_RIP;
}
/* Change the guest RSP; written back when the handler returns. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
static inline void hv_exit_set_rsp(struct hv_exit *e, uint64_t rsp)
{
    e->rsp = rsp;
    e->valid |= HV_EXIT_HAVE_RSP;
    e->dirty |= HV_EXIT_HAVE_RSP;
}
/* Change the guest RFLAGS (the fixed bit 1 is kept set); written back when the handler returns. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
static inline void hv_exit_set_rflags(struct hv_exit *e, uint64_t rflags)
{
    e->rflags = rflags | HV_RFLAGS_FIXED;
    e->valid |= HV_EXIT_HAVE_RFLAGS;
    e->dirty |= HV_EXIT_HAVE_RFLAGS;
}

/* GPR by x86 register number (0..15); RSP (4) goes through the VMCS.
 * Context: ROOT-SAFE. */
static inline uint64_t hv_exit_gpr(struct hv_exit *e, uint32_t reg)
{
    reg &= 15u;
    return reg == HV_GPR_RSP ? hv_exit_rsp(e) : e->gprs->r[reg];
}
/* Set a GPR by x86 register number (0..15); RSP (4) goes through the
 * VMCS. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
static inline void hv_exit_set_gpr(struct hv_exit *e, uint32_t reg, uint64_t value)
{
    reg &= 15u;
    if (reg == HV_GPR_RSP)
        hv_exit_set_rsp(e, value);
    else
        e->gprs->r[reg] = value;
}

/* ---- Event injection (SDM Vol. 3C, 27.6 / 28.x; 25.8.3) ---------------
 * Injecting never advances RIP: handlers that inject return RESUME.
 * Every hv_inject_* returns SUCCESS, INVALID_PARAMETER (an event the SDM's
 * VM-entry checks would refuse, SDM Vol. 3C, 27.2.1.3), or the status of
 * a failed VMWRITE; the event is delivered at the next VM entry. */
/* Inject #GP(error_code) (SDM Vol. 3A, 6.15, vector 13). Statuses as
 * hv_inject_event. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
hv_status_t hv_inject_gp(struct hv_exit *exit, uint32_t error_code);
/* Inject #UD (vector 6, no error code). Statuses as hv_inject_event. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
hv_status_t hv_inject_ud(struct hv_exit *exit);
/* #DB: `dr6_bits` are OR-ed into the guest's DR6 (e.g. HV_DR6_BD) as the
 * processor would before delivering it (SDM Vol. 3B, 18.2.3). Statuses
 * as hv_inject_event. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
hv_status_t hv_inject_db(struct hv_exit *exit, uint64_t dr6_bits);
/* Inject #PF(error_code) with guest CR2 = `cr2` (vector 14; SDM Vol. 3A,
 * 4.7). Statuses as hv_inject_event. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
hv_status_t hv_inject_pf(struct hv_exit *exit, uint64_t cr2, uint32_t error_code);
/* Inject an NMI (type 2, vector 2; SDM Vol. 3C, 27.6.1). Statuses as
 * hv_inject_event. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
hv_status_t hv_inject_nmi(struct hv_exit *exit);
/* Generic: vector, type (enum hv_intr_type), optional error code
 * (SDM Vol. 3C, 25.8.3, 27.6). Returns SUCCESS, INVALID_PARAMETER (an
 * event the VM-entry checks would refuse: bad type/vector pair, an error
 * code where none is delivered, SDM Vol. 3C, 27.2.1.3), or the status of a
 * failed VMWRITE. Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
hv_status_t hv_inject_event(struct hv_exit *exit, uint32_t vector, uint32_t type,
                            bool has_error_code, uint32_t error_code);

/* Advance RIP past the exiting instruction the way the CPU would have
 * retired it: clears blocking by STI / MOV SS and, if RFLAGS.TF was set,
 * makes the single-step #DB pending (BS) for delivery at entry. The
 * dispatcher calls it for HV_ACTION_SKIP; exposed for custom handlers
 * (SDM Vol. 3C, 25.4.2 interruptibility, 27.7.3 pending debug
 * exceptions). Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
void hv_exit_skip_instruction(struct hv_exit *exit);

/* Last fatal dump of a core (NUL-terminated text), for platforms to print.
 * Context: any (after the exit that wrote it). */
const char *hv_exit_last_dump(const struct hv_vcpu *vcpu);

/* ---- Called by the arch backend in VMX root --------------------------- */
/* VMRESUME fell through: record the VM-instruction error and stop the
 * machine through os->panic (never returns to the guest). Context: VMX
 * root, from the exit stub. */
void hv_exit_vmresume_failed(struct hv_vcpu *vcpu, hv_status_t status);
/* An exception in VMX root that no fixup handles: dump, os->panic.
 * Context: VMX root, from the host IDT. */
void hv_exit_root_exception(struct hv_vcpu *vcpu, uint32_t vector,
                            uint64_t error_code, uint64_t rip);
/* Read-modify-write of the primary processor-based controls of the
 * current core (VMX root), keeping vcpu->ctls in step and never losing an
 * NMI window opened meanwhile by an NMI taken in root (SDM Vol. 3C,
 * 25.6.2). Context: ROOT-SAFE (inside a VM exit, on the exiting core). */
void hv_exit_update_proc_controls(struct hv_vcpu *vcpu, uint32_t set, uint32_t clear);
/* An NMI arrived in VMX root: remember it and open an NMI window so it
 * reaches the guest at the next VM entry (SDM Vol. 3C, 26.7.6 / 25.6.2).
 * Context: VMX root, from the host IDT's NMI handler. */
void hv_exit_root_nmi(struct hv_vcpu *vcpu);
/* A machine check (#MC) arrived in VMX root. Policy: when the interrupted
 * root code may continue (IA32_MCG_STATUS.RIPV = 1) it is recorded and
 * delivered to the guest, i.e. to the OS's own machine-check handler,
 * which finds the error in the banks, at the next NMI-window exit (opened
 * here; SDM Vol. 3B, 16.10, Vol. 3C 26.7.6); returns true and the CPU
 * resumes root. Otherwise (RIPV = 0, or MCG_STATUS unreadable) it dumps
 * state and stops the machine through os->panic; returns false.
 * Context: VMX root, from the host IDT's #MC handler. */
bool hv_exit_root_machine_check(struct hv_vcpu *vcpu);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_EXIT_H */
