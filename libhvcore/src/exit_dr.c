/* SPDX-License-Identifier: MIT */
/*
 * MOV to/from debug registers (exit reason 29, MOV-DR exiting). Emulated
 * to the architecture (SDM Vol. 2B MOV—Move to/from Debug Registers; Vol.
 * 3B, 18.2): the guest's DR7 lives in GUEST_DR7 (save/load debug
 * controls), DR0-3 and DR6 are the real registers, which VM transitions
 * leave alone (SDM Vol. 3C, 27.3.3 / 28.3.1).
 */
#include <hvcore/arch.h>
#include <hvcore/event.h>
#include <hvcore/exit.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "exit_handlers.h"

/* DR7 bits 11, 12, 14, 15 read as 0; bits 63:32 must be 0 (#GP). */
#define DR7_RESERVED_ZERO 0xD800ull

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
    uint64_t dr7, v;

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
    if (dr == 4 || dr == 5) {
        /* With CR4.DE they do not exist; without it they alias DR6/DR7. */
        if (hv_vmcs_readnat(HV_VMCS_GUEST_CR4) & HV_CR4_DE) {
            (void)hv_inject_ud(e);
            return HV_ACTION_RESUME;
        }
        dr += 2;
    }

    if (HV_QUAL_DR_DIRECTION(q) == HV_DR_MOV_FROM_DR) {
        v = dr == 7 ? dr7 : hv_arch_read_dr(dr);
        hv_exit_set_gpr(e, reg, v);
        notify_events(e, q, v);
        return HV_ACTION_SKIP;
    }

    v = hv_exit_gpr(e, reg);
    switch (dr) {
    case 6:
        if (v >> 32) {
            (void)hv_inject_gp(e, 0);
            return HV_ACTION_RESUME;
        }
        hv_arch_write_dr(6, v);
        break;
    case 7:
        if (v >> 32) {
            (void)hv_inject_gp(e, 0);
            return HV_ACTION_RESUME;
        }
        (void)hv_vmcs_writenat(HV_VMCS_GUEST_DR7, (v & ~DR7_RESERVED_ZERO) | HV_DR7_FIXED_1);
        break;
    default:
        hv_arch_write_dr(dr, v);
        break;
    }
    notify_events(e, q, v);
    return HV_ACTION_SKIP;
}
