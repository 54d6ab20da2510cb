/* SPDX-License-Identifier: MIT */
/*
 * The host IDT used in VMX root: building it, and the C half of its common
 * handler (the entry stubs are in idt_entry.S).
 *
 * Gate format (SDM Vol. 3A, 6.14.1, Figure 6-8), 16 bytes per vector:
 *     bits  15:0   offset 15:0
 *     bits  31:16  code-segment selector (host CS)
 *     bits  34:32  IST (0: stay on the current stack, the host stack)
 *     bits  43:40  type 0xE (64-bit interrupt gate: IF cleared on entry)
 *     bit   44     0;  bits 46:45 DPL 0;  bit 47 present
 *     bits  63:48  offset 31:16
 *     bits  95:64  offset 63:32;  bits 127:96 reserved (0)
 * 256 gates fill exactly one 4 KiB page.
 *
 * What an event in VMX root does (hv_arch_idt_dispatch):
 *   #UD, #GP, #PF at an exception-table site: continue at its fixup.
 *   NMI: hv_exit_root_nmi(vcpu), which queues it for the guest.
 *   #MC: hv_exit_root_machine_check(vcpu): queued for the guest's OS when
 *   root may continue (MCG_STATUS.RIPV), else a dump and a panic.
 *   anything else: hv_exit_root_exception(vcpu, vector, error code, RIP),
 *   which dumps state and panics; if it returns, the CPU halts.
 * The vcpu is found without any per-CPU OS data: VMREAD HOST_RSP gives the
 * address of the host-stack slot that holds this core's struct hv_vcpu *
 * (hv.h, HV_HOST_STACK_RESERVED). The VMREAD is the fault-safe one: between
 * the core's VMCLEAR/VMXOFF and the IDTR reload at the end of a
 * devirtualization this IDT is still live with no current VMCS (VMfail) or
 * outside VMX operation (#UD, fixed up), and then there is no vcpu: an NMI
 * there is dropped (nowhere to queue it; the OS takes over a few
 * instructions later) and any other exception halts the CPU.
 */
#include <stdint.h>
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/hv.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "arch_internal.h"
#include "extable.h"

#define IDT_VECTORS        256u
#define IDT_GATE_INTR64    0x8Eull    /* P = 1, DPL = 0, type = 0xE */

static inline HV_NOTRACE uint64_t stub_address(uint32_t vector)
{
    const int32_t *slot = &hv_arch_idt_stub_offsets[vector];

    return (uint64_t)(uintptr_t)slot + (uint64_t)(int64_t)*slot;
}

HV_NOTRACE void hv_arch_build_host_idt(void *page, uint16_t host_cs)
{
    volatile uint64_t *gate = page;
    uint64_t sel = (uint64_t)(host_cs & 0xFFFCu); /* RPL is meaningless in a gate */
    uint32_t v;

    for (v = 0; v < IDT_VECTORS; v++) {
        uint64_t a = stub_address(v);

        gate[2 * v] = (a & 0xFFFFull) | (sel << 16) | (IDT_GATE_INTR64 << 40) |
                      (((a >> 16) & 0xFFFFull) << 48);
        gate[2 * v + 1] = a >> 32;
    }
}

/* This core's vcpu while it is in VMX root, or NULL (see above). */
static HV_NOTRACE struct hv_vcpu *root_vcpu(void)
{
    uint64_t slot = 0;

    if (hv_arch_vmread_safe(HV_VMCS_HOST_RSP, &slot) != 0 || slot == 0 || (slot & 7u) != 0)
        return NULL;
    return *(struct hv_vcpu *const *)(uintptr_t)slot;
}

HV_NOTRACE void hv_arch_idt_dispatch(struct hv_idt_frame *frame)
{
    uint32_t vector = (uint32_t)frame->vector;
    struct hv_vcpu *vcpu;

    /* Faults only: for an NMI or a trap, RIP is not the address of an
     * instruction that failed, so it must never match a fault site. */
    if ((vector == HV_VECTOR_UD || vector == HV_VECTOR_GP || vector == HV_VECTOR_PF) &&
        hv_arch_extable_fixup(&frame->rip))
        return;

    vcpu = root_vcpu();
    if (vector == HV_VECTOR_NMI) {
        if (vcpu != NULL)
            hv_exit_root_nmi(vcpu);
        return;
    }
    if (vector == HV_VECTOR_MC && vcpu != NULL && hv_exit_root_machine_check(vcpu))
        return;
    if (vcpu != NULL && vector != HV_VECTOR_MC)
        hv_exit_root_exception(vcpu, vector, frame->error_code, frame->rip);
    hv_arch_halt_forever();
}
