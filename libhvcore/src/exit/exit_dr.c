/* SPDX-License-Identifier: MIT */
/*
 * MOV to/from debug registers (exit reason 29, MOV-DR exiting). Emulated
 * to the architecture (SDM Vol. 2B MOV—Move to/from Debug Registers; Vol.
 * 3B, 18.2): the guest's DR7 lives in GUEST_DR7 (save/load debug
 * controls), DR0-3 and DR6 are the real registers, which VM transitions
 * leave alone (SDM Vol. 3C, 27.3.3 / 28.3.1).
 */
#include <stdbool.h>

#include <hvcore/arch.h>
#include <hvcore/event.h>
#include <hvcore/exit.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "exit/trace_arch.h"
#include "exit/exit_handlers.h"

/* DR7 bits 12, 14, 15 read as 0, and bit 11 too unless the CPU has RTM
 * (then it enables RTM debugging, SDM Vol. 3B, 18.3.3); bits 63:32 must
 * be 0 (#GP). */
#define DR7_RESERVED_ZERO 0xD000ull

/* 64-bit mode is CS.L = 1; VM entry guarantees IA32_EFER.LMA then (SDM
 * Vol. 3C, 27.3.1.2). Outside it MOV DR moves 32 bits (SDM Vol. 2B, MOV
 * DR: "operand size ... 32 bits outside 64-bit mode"). */
static bool in_64bit_mode(void)
{
    return (hv_vmcs_read32(HV_VMCS_GUEST_CS_AR_BYTES) & (1u << 13)) != 0;
}

/* After the access was emulated: the event engine sees what the guest did
 * (the DR number as the guest named it, DR4/5 included). */
static void notify_events(struct hv_exit *e, uint64_t q, uint64_t value)
{
    struct hv_msg_dr_access a;

    if (e->vcpu->hv->events == NULL)
        return;
    a.dr = HV_QUAL_DR_NUMBER(q);
    a.direction = HV_QUAL_DR_DIRECTION(q);
    a.gpr = HV_QUAL_DR_GPR(q);
    a.reserved = 0;
    a.value = value;
    a.rip = hv_exit_rip(e);
    hv_event_dr_fire(e, &a);
}

enum hv_exit_action hv_exit_mov_dr(struct hv_exit *e)
{
    uint64_t q = hv_exit_qualification(e);
    uint32_t dr = HV_QUAL_DR_NUMBER(q), reg = HV_QUAL_DR_GPR(q);
    uint64_t dr7, v, reserved;
    bool wide;

    /* Fault priority (SDM Vol. 2B, MOV DR, exceptions): #UD for DR4/DR5
     * with CR4.DE, then #GP for CPL > 0, then the general-detect #DB. With
     * CR4.DE clear DR4/DR5 alias DR6/DR7. The guest's CR4 view is its
     * shadow for the bits we own (DE is not one of them, so GUEST_CR4). */
    if ((dr == 4 || dr == 5) && (hv_vmcs_readnat(HV_VMCS_GUEST_CR4) & HV_CR4_DE)) {
        (void)hv_inject_ud(e);
        return HV_ACTION_RESUME;
    }
    if (hv_exit_cpl(e) != 0) {
        (void)hv_inject_gp(e, 0);
        return HV_ACTION_RESUME;
    }
    /* General detect: any DR access with DR7.GD set raises #DB with DR6.BD
     * before it executes; the CPU clears GD so the handler can use the
     * debug registers (SDM Vol. 3B, 18.2.4). */
    dr7 = hv_vmcs_readnat(HV_VMCS_GUEST_DR7);
    if (dr7 & HV_DR7_GD) {
        (void)hv_vmcs_writenat(HV_VMCS_GUEST_DR7, dr7 & ~HV_DR7_GD);
        (void)hv_inject_db(e, HV_DR6_BD);
        return HV_ACTION_RESUME;
    }
    if (dr == 4 || dr == 5)
        dr += 2;
    wide = in_64bit_mode();

    if (HV_QUAL_DR_DIRECTION(q) == HV_DR_MOV_FROM_DR) {
        v = dr == 7 ? dr7 : hv_trace_read_dr(dr);
        if (!wide)
            v = (uint32_t)v; /* a 32-bit destination: the upper half is zeroed */
        hv_exit_set_gpr(e, reg, v);
        notify_events(e, q, v);
        return HV_ACTION_SKIP;
    }

    v = hv_exit_gpr(e, reg);
    if (!wide)
        v = (uint32_t)v; /* a 32-bit source: the upper half is not read */
    reserved = DR7_RESERVED_ZERO | (e->vcpu->caps.has_rtm ? 0 : HV_DR7_RTM);
    switch (dr) {
    case 6:
        if (v >> 32) {
            (void)hv_inject_gp(e, 0);
            return HV_ACTION_RESUME;
        }
        hv_trace_write_dr(6, v);
        break;
    case 7:
        if (v >> 32) {
            (void)hv_inject_gp(e, 0);
            return HV_ACTION_RESUME;
        }
        (void)hv_vmcs_writenat(HV_VMCS_GUEST_DR7, (v & ~reserved) | HV_DR7_FIXED_1);
        break;
    default:
        hv_trace_write_dr(dr, v);
        break;
    }
    notify_events(e, q, v);
    return HV_ACTION_SKIP;
}
