/* SPDX-License-Identifier: MIT */
/*
 * The guest-state view of one VM exit: lazy reads, write-back of what
 * changed, GPR access by register number, and retiring the exiting
 * instruction the way the CPU would have.
 */
#include <hvcore/exit.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

uint64_t hv_exit_rip(struct hv_exit *e)
{
    if (!(e->valid & HV_EXIT_HAVE_RIP)) {
        e->rip = hv_vmcs_readnat(HV_VMCS_GUEST_RIP);
        e->valid |= HV_EXIT_HAVE_RIP;
    }
    return e->rip;
}

uint64_t hv_exit_rsp(struct hv_exit *e)
{
    if (!(e->valid & HV_EXIT_HAVE_RSP)) {
        e->rsp = hv_vmcs_readnat(HV_VMCS_GUEST_RSP);
        e->valid |= HV_EXIT_HAVE_RSP;
    }
    return e->rsp;
}

uint64_t hv_exit_rflags(struct hv_exit *e)
{
    if (!(e->valid & HV_EXIT_HAVE_RFLAGS)) {
        e->rflags = hv_vmcs_readnat(HV_VMCS_GUEST_RFLAGS);
        e->valid |= HV_EXIT_HAVE_RFLAGS;
    }
    return e->rflags;
}

uint64_t hv_exit_qualification(struct hv_exit *e)
{
    if (!(e->valid & HV_EXIT_HAVE_QUAL)) {
        e->qual = hv_vmcs_readnat(HV_VMCS_EXIT_QUALIFICATION);
        e->valid |= HV_EXIT_HAVE_QUAL;
    }
    return e->qual;
}

uint32_t hv_exit_instruction_length(struct hv_exit *e)
{
    if (!(e->valid & HV_EXIT_HAVE_LEN)) {
        e->instr_len = hv_vmcs_read32(HV_VMCS_VM_EXIT_INSTRUCTION_LEN);
        e->valid |= HV_EXIT_HAVE_LEN;
    }
    return e->instr_len;
}

uint32_t hv_exit_cpl(struct hv_exit *e)
{
    /* SS.DPL is the CPL (SDM Vol. 3C, 25.4.1); CS.DPL is not for
     * conforming code segments. */
    if (!(e->valid & HV_EXIT_HAVE_CPL)) {
        e->cpl = (hv_vmcs_read32(HV_VMCS_GUEST_SS_AR_BYTES) >> 5) & 3u;
        e->valid |= HV_EXIT_HAVE_CPL;
    }
    return e->cpl;
}

void hv_exit_set_rip(struct hv_exit *e, uint64_t rip)
{
    e->rip = rip;
    e->valid |= HV_EXIT_HAVE_RIP;
    e->dirty |= HV_EXIT_HAVE_RIP;
}

void hv_exit_set_rsp(struct hv_exit *e, uint64_t rsp)
{
    e->rsp = rsp;
    e->valid |= HV_EXIT_HAVE_RSP;
    e->dirty |= HV_EXIT_HAVE_RSP;
}

void hv_exit_set_rflags(struct hv_exit *e, uint64_t rflags)
{
    e->rflags = rflags | HV_RFLAGS_FIXED;
    e->valid |= HV_EXIT_HAVE_RFLAGS;
    e->dirty |= HV_EXIT_HAVE_RFLAGS;
}

uint64_t hv_exit_gpr(struct hv_exit *e, uint32_t reg)
{
    reg &= 15u;
    return reg == HV_GPR_RSP ? hv_exit_rsp(e) : e->gprs->r[reg];
}

void hv_exit_set_gpr(struct hv_exit *e, uint32_t reg, uint64_t value)
{
    reg &= 15u;
    if (reg == HV_GPR_RSP)
        hv_exit_set_rsp(e, value);
    else
        e->gprs->r[reg] = value;
}

void hv_exit_skip_instruction(struct hv_exit *e)
{
    uint64_t rip = hv_exit_rip(e);
    uint64_t next = rip + hv_exit_instruction_length(e);
    uint64_t rflags = hv_exit_rflags(e);
    uint32_t intr = hv_vmcs_read32(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO);

    /* Outside 64-bit mode EIP wraps at 4 GiB. Only an instruction that
     * crosses that line needs CS.L, so the common path reads nothing more. */
    if (next > 0xFFFFFFFFull && rip <= 0xFFFFFFFFull &&
        !(hv_vmcs_read32(HV_VMCS_GUEST_CS_AR_BYTES) & (1u << 13)))
        next &= 0xFFFFFFFFull;
    hv_exit_set_rip(e, next);

    /* Retiring an instruction ends the one-instruction shadow of a
     * preceding STI or MOV SS (SDM Vol. 3C, 25.4.2, Table 25-3). */
    if (intr & (HV_INTERRUPTIBILITY_STI | HV_INTERRUPTIBILITY_MOV_SS))
        (void)hv_vmcs_write32(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO,
                              intr & ~(HV_INTERRUPTIBILITY_STI | HV_INTERRUPTIBILITY_MOV_SS));

    /* With RFLAGS.TF set (and DEBUGCTL.BTF clear) the instruction would
     * have ended in a single-step trap: make it pending (DR6.BS) so VM
     * entry delivers the #DB the guest expects (SDM Vol. 3B, 18.3.1.4;
     * Vol. 3C, 27.7.3). */
    if ((rflags & HV_RFLAGS_TF) && !(hv_vmcs_read64(HV_VMCS_GUEST_IA32_DEBUGCTL) & (1ull << 1))) {
        uint64_t pend = hv_vmcs_readnat(HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS);

        (void)hv_vmcs_writenat(HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS, pend | HV_PENDING_DBG_BS);
    }
}
