/* SPDX-License-Identifier: MIT */
/*
 * Control-register accesses (exit reason 28; qualification in SDM Vol. 3C,
 * 28.2.1, Table 28-3). CR0/CR4 exit only when the guest changes a bit we
 * own (guest/host mask): the guest keeps its view in the read shadow while
 * the real register keeps VMXE and the fixed bits. CR3 and CR8 exit only
 * when their exiting controls are on.
 */
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/hv.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "exit/trace_arch.h"
#include "exit/exit_handlers.h"

#define CR0_TS   (1ull << 3)
#define CR0_NW   (1ull << 29)
#define CR0_CD   (1ull << 30)
#define CR4_PCIDE (1ull << 17)
#define CR3_NOFLUSH (1ull << 63)

static enum hv_exit_action gp(struct hv_exit *e)
{
    (void)hv_inject_gp(e, 0);
    return HV_ACTION_RESUME;
}

/* 64-bit mode is CS.L = 1 (VM entry guarantees EFER.LMA with it, SDM Vol.
 * 3C, 27.3.1.2); outside it MOV CR moves 32 bits (SDM Vol. 2B, MOV CR). */
static bool in_64bit_mode(void)
{
    return (hv_vmcs_read32(HV_VMCS_GUEST_CS_AR_BYTES) & (1u << 13)) != 0;
}

/* The value the guest believes a masked CR holds: the bits the host owns
 * (mask = 1) come from the read shadow, the others from the real register
 * (SDM Vol. 3C, 26.3 "MOV from CR0/CR4"). */
static uint64_t guest_cr0(void)
{
    uint64_t m = hv_vmcs_readnat(HV_VMCS_CR0_GUEST_HOST_MASK);

    return (hv_vmcs_readnat(HV_VMCS_GUEST_CR0) & ~m) | (hv_vmcs_readnat(HV_VMCS_CR0_READ_SHADOW) & m);
}

static uint64_t guest_cr4(void)
{
    uint64_t m = hv_vmcs_readnat(HV_VMCS_CR4_GUEST_HOST_MASK);

    return (hv_vmcs_readnat(HV_VMCS_GUEST_CR4) & ~m) | (hv_vmcs_readnat(HV_VMCS_CR4_READ_SHADOW) & m);
}

static void flush_guest_tlb(struct hv_exit *e)
{
    /* With VPID the guest's translations survive VM transitions, so an
     * emulated CR write that architecturally flushes the TLB must flush
     * this VPID's entries (SDM Vol. 3C, 29.1). */
    if (e->vcpu->ctls.proc2 & HV_PROC2_ENABLE_VPID)
        (void)hv_arch_invvpid(1 /* single context */, (uint16_t)(e->vcpu->index + 1u), 0);
}

/* MOV to CR0 (SDM Vol. 2B, MOV—Move to/from Control Registers). */
static enum hv_exit_action write_cr0(struct hv_exit *e, uint64_t v)
{
    const struct hv_vmx_caps *c = &e->vcpu->caps;
    uint64_t efer = hv_vmcs_read64(HV_VMCS_GUEST_IA32_EFER);
    uint64_t fixed0 = c->cr0_fixed0;
    bool ug = (e->vcpu->ctls.proc2 & HV_PROC2_UNRESTRICTED_GUEST) != 0;

    if ((v >> 32) != 0 || ((v & CR0_NW) && !(v & CR0_CD)) ||
        ((v & HV_CR0_PG) && !(v & HV_CR0_PE)))
        return gp(e);
    /* Leaving paging in 64-bit mode is a #GP; a guest leaves IA-32e mode
     * from compatibility mode (SDM Vol. 3A, 10.8.5.4). */
    if (!(v & HV_CR0_PG) && (efer & HV_EFER_LMA) && in_64bit_mode())
        return gp(e);
    /* Under unrestricted guest (a CPU restarted at a SIPI) PE and PG are
     * the guest's own; paging with EFER.LME on or off switches IA-32e
     * mode, which the CPU would do itself (SDM Vol. 3A, 10.8.5). */
    if (ug) {
        uint32_t entry = hv_vmcs_read32(HV_VMCS_VM_ENTRY_CONTROLS);
        bool lma = (v & HV_CR0_PG) && (efer & HV_EFER_LME);

        fixed0 &= ~(HV_CR0_PE | HV_CR0_PG);
        if ((v & HV_CR0_PG) && (efer & HV_EFER_LME) && !(guest_cr4() & HV_CR4_PAE))
            return gp(e);
        efer = lma ? (efer | HV_EFER_LMA) : (efer & ~HV_EFER_LMA);
        entry = lma ? (entry | HV_ENTRY_CTL_IA32E_MODE_GUEST) : (entry & ~HV_ENTRY_CTL_IA32E_MODE_GUEST);
        if (hv_vmcs_write64(HV_VMCS_GUEST_IA32_EFER, efer) != HV_STATUS_SUCCESS ||
            hv_vmcs_write32(HV_VMCS_VM_ENTRY_CONTROLS, entry) != HV_STATUS_SUCCESS)
            return hv_exit_unexpected(e);
    } else if (!(v & HV_CR0_PG) && (efer & HV_EFER_LMA)) {
        /* A blue-pill guest cannot run with PE/PG off. */
        return gp(e);
    }
    if (hv_vmcs_writenat(HV_VMCS_CR0_READ_SHADOW, v) != HV_STATUS_SUCCESS ||
        hv_vmcs_writenat(HV_VMCS_GUEST_CR0, (v | fixed0) & c->cr0_fixed1) != HV_STATUS_SUCCESS)
        return hv_exit_unexpected(e);
    return HV_ACTION_SKIP;
}

static enum hv_exit_action write_cr4(struct hv_exit *e, uint64_t v)
{
    const struct hv_vmx_caps *c = &e->vcpu->caps;
    uint64_t old = guest_cr4();
    uint64_t efer = hv_vmcs_read64(HV_VMCS_GUEST_IA32_EFER);

    /* Bits the CPU does not implement (FIXED1 = 0) are reserved; VMXE is
     * allowed in the guest's view (it saw VMX in CPUID). */
    if (v & ~(c->cr4_fixed1 | HV_CR4_VMXE))
        return gp(e);
    if ((efer & HV_EFER_LMA) && !(v & HV_CR4_PAE))
        return gp(e);
    if ((v & CR4_PCIDE) && !(old & CR4_PCIDE) &&
        (hv_vmcs_readnat(HV_VMCS_GUEST_CR3) & 0xFFFu) != 0)
        return gp(e);
    if (hv_vmcs_writenat(HV_VMCS_CR4_READ_SHADOW, v) != HV_STATUS_SUCCESS ||
        hv_vmcs_writenat(HV_VMCS_GUEST_CR4, ((v | c->cr4_fixed0) & c->cr4_fixed1) | HV_CR4_VMXE) != HV_STATUS_SUCCESS)
        return hv_exit_unexpected(e);
    flush_guest_tlb(e);
    return HV_ACTION_SKIP;
}

static enum hv_exit_action write_cr3(struct hv_exit *e, uint64_t v)
{
    uint64_t cr4 = hv_vmcs_readnat(HV_VMCS_GUEST_CR4);
    bool noflush = (cr4 & CR4_PCIDE) && (v & CR3_NOFLUSH);

    /* Bit 63 is an instruction hint, not part of CR3: a GUEST_CR3 with it
     * set fails the next VM entry (DESIGN.md 7b; SDM 27.3.1.1). */
    v &= ~CR3_NOFLUSH;
    /* Bits at or above MAXPHYADDR are reserved: a #GP for the guest, never
     * a GUEST_CR3 that fails the next VM entry (SDM Vol. 3C, 27.3.1.1). */
    if (v >> hv_vmx_maxphyaddr())
        return gp(e);
    if (hv_vmcs_writenat(HV_VMCS_GUEST_CR3, v) != HV_STATUS_SUCCESS)
        return hv_exit_unexpected(e);
    if (!noflush)
        flush_guest_tlb(e);
    return HV_ACTION_SKIP;
}

enum hv_exit_action hv_exit_cr_access(struct hv_exit *e)
{
    uint64_t q = hv_exit_qualification(e);
    uint32_t cr = HV_QUAL_CR_NUMBER(q), reg = HV_QUAL_CR_GPR(q);
    uint64_t v, shadow;

    switch (HV_QUAL_CR_ACCESS_TYPE(q)) {
    case HV_CR_ACCESS_MOV_TO_CR:
        v = hv_exit_gpr(e, reg);
        if (!in_64bit_mode())
            v = (uint32_t)v; /* a 32-bit source: the upper half is not read */
        switch (cr) {
        case 0: return write_cr0(e, v);
        case 3: return write_cr3(e, v);
        case 4: return write_cr4(e, v);
        case 8:
            if (v >> 4)
                return gp(e);
            hv_trace_write_cr(8, v);
            return HV_ACTION_SKIP;
        default:
            return hv_exit_unexpected(e);
        }
    case HV_CR_ACCESS_MOV_FROM_CR:
        if (cr == 3)
            v = hv_vmcs_readnat(HV_VMCS_GUEST_CR3);
        else if (cr == 8)
            v = hv_trace_read_cr(8);
        else
            return hv_exit_unexpected(e);
        if (!in_64bit_mode())
            v = (uint32_t)v; /* a 32-bit destination: the upper half is zeroed */
        hv_exit_set_gpr(e, reg, v);
        return HV_ACTION_SKIP;
    case HV_CR_ACCESS_CLTS:
        shadow = guest_cr0();
        return write_cr0(e, shadow & ~CR0_TS);
    default: /* LMSW: loads CR0[3:0], can set PE but never clear it */
        shadow = guest_cr0();
        v = HV_QUAL_CR_LMSW_DATA(q) & 0xFu;
        return write_cr0(e, (shadow & ~0xEull) | v | (shadow & HV_CR0_PE));
    }
}
