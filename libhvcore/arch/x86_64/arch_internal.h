/* SPDX-License-Identifier: MIT */
/*
 * Glue between the backend's assembler stubs and its C code. Nothing here
 * is API: the functions are global only because the .S files call them
 * (or they call into the .S files).
 */
#ifndef HVCORE_ARCH_X86_64_ARCH_INTERNAL_H
#define HVCORE_ARCH_X86_64_ARCH_INTERNAL_H

#include <stdint.h>
#include <hvcore/hv.h>
#include <hvcore/status.h>

/* Functions that run in VMX root (or from an exception handler) must not
 * get profiling hooks: -pg/-mfentry (Linux ftrace) would call into the OS
 * from the exit path. The same attribute is what Linux's `notrace` is. */
#define HV_NOTRACE __attribute__((__no_instrument_function__))

/* ---- C functions called by the stubs --------------------------------- */

/* vmx_entry.S, action FATAL: os->panic(vcpu->dump), then halt forever. */
_Noreturn void hv_arch_fatal(struct hv_vcpu *vcpu);

/* vmx_entry.S, VMRESUME fell through: decode RFLAGS (CF/ZF) into a status,
 * hand it to hv_exit_vmresume_failed(), then halt forever. */
_Noreturn void hv_arch_vmresume_failed(struct hv_vcpu *vcpu, uint64_t rflags);

/* vmx_entry.S, action DEVIRTUALIZE (VMX already off): reload the guest's
 * control/descriptor-table/debug state and return &vcpu->resume, from which
 * the stub takes RIP, RSP and RFLAGS for its IRETQ. */
const struct hv_guest_resume *hv_arch_devirtualize(struct hv_vcpu *vcpu);

/* What idt_entry.S leaves on the stack for hv_arch_idt_dispatch(), lowest
 * address first (SDM Vol. 3A, 6.14.2 for the part the CPU pushes). */
struct hv_idt_frame {
    /* pushed by the common handler, last push first */
    uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax, rbx;
    /* pushed by the per-vector stub */
    uint64_t vector;
    uint64_t error_code;   /* the CPU's, or 0 pushed by the stub */
    /* pushed by the CPU */
    uint64_t rip, cs, rflags, rsp, ss;
};

/* idt_entry.S common handler: fixups, NMI, fatal exceptions. Returns only when
 * the interrupted code may continue (at frame->rip, which a fixup may have
 * changed). */
void hv_arch_idt_dispatch(struct hv_idt_frame *frame);

/* cli; hlt forever (an NMI wakes HLT; the loop puts the CPU back). */
_Noreturn void hv_arch_halt_forever(void);

/* ---- assembler functions called by C --------------------------------- */

/* fault_safe.S: VMREAD that survives #UD (not in VMX operation): 0 and
 * *value written on VMsucceed; nonzero, *value untouched, on VMfail or on
 * a fault. Used by exception handlers that must not fault themselves. */
int hv_arch_vmread_safe(uint64_t field, uint64_t *value);

/* idt_entry.S: self-relative offsets of the 256 IDT entry stubs:
 * stub[i] = (uintptr_t)&hv_arch_idt_stub_offsets[i] + offsets[i]. */
#if defined(__ELF__)
__attribute__((__visibility__("hidden")))
#endif
extern const int32_t hv_arch_idt_stub_offsets[256];

#endif /* HVCORE_ARCH_X86_64_ARCH_INTERNAL_H */
