/* SPDX-License-Identifier: MIT */
/*
 * VMLAUNCH and the VM-exit stub.
 *
 * ==== hv_arch_vmlaunch_here ================================================
 *
 * The blue-pill launch: the guest must continue exactly where the caller
 * is. VM entry loads RIP, RSP and RFLAGS from the VMCS but leaves the
 * general-purpose and XMM registers alone (SDM Vol. 3C, 27.3.2), so the
 * stub saves RFLAGS and the callee-saved GPRs on the caller's stack,
 * VMWRITEs GUEST_RSP = the resulting RSP and GUEST_RIP = .Lguest_continues,
 * and executes VMLAUNCH. On success the CPU "returns" at .Lguest_continues
 * in VMX non-root with that same RSP, pops the saved registers and returns
 * HV_STATUS_SUCCESS to the caller, now a guest. If VMLAUNCH (or one of the
 * VMWRITEs) falls through, RFLAGS tell why (SDM Vol. 3C, 31.2):
 *   CF = 1   VMfailInvalid  -> HV_STATUS_VMX_FAIL_INVALID
 *   ZF = 1   VMfailValid    -> HV_STATUS_VM_INSTRUCTION_ERROR(VMCS[0x4400])
 * and the same pops return that status in VMX root. An entry that fails
 * its guest-state checks is NOT a fall-through: it is a VM exit with reason
 * bit 31 set and arrives at the exit stub below (SDM Vol. 3C, 27.8).
 *
 * ==== The VM-exit stub (HOST_RIP = hv_arch_exit_entry()) ==================
 *
 * On a VM exit the CPU loads the host state (SDM Vol. 3C, 28.5): RSP =
 * HOST_RSP, RIP = HOST_RIP, RFLAGS = 0x2 (interrupts off, DF = 0), DR7 =
 * 0x400, IA32_DEBUGCTL = 0, GDTR/IDTR limits = 0xFFFF, TR limit = 0x67,
 * LDTR unusable. Every GPR except RSP still holds the guest's value, and
 * so do all XMM registers.
 *
 * Host stack at the exit (hv.h, HV_HOST_STACK_RESERVED; S = HOST_RSP,
 * 16-byte aligned by the core; the stub realigns anyway):
 *
 *     S + 8     0 (reserved)
 *     S + 0     struct hv_vcpu *  of this core      <- RSP at the exit
 *     ------- after the GPRs are saved, RSP is aligned down and lowered:
 *     F + 296   padding
 *     F + 288   struct hv_vcpu *  (copy, for the VMRESUME-failure path)
 *     F + 32    XMM0..XMM15, 16 bytes each (XMMn at F + 32 + 16n)
 *     F + 0     32-byte home area for the Microsoft x64 ABI   <- RSP = F
 *
 * F is 16-byte aligned, so every call below is made with the alignment
 * both ABIs require. The first instruction is a PUSH of RAX, briefly
 * using the 8 bytes below S; the vcpu is then loaded from 8(%rsp) and
 * every other GPR is stored straight into vcpu->gprs.r[] (x86 register
 * number order, r[RSP] = 0: the guest's RSP lives in the VMCS), and the
 * POP stores the guest's RAX. No guest register is overwritten before it
 * is saved.
 *
 * XMM0-15 are saved because the dispatcher and whatever it calls may use
 * them: all sixteen are caller-saved in the SysV ABI, XMM0-5 in the
 * Microsoft ABI, and OS callbacks are not compiled with
 * -mgeneral-regs-only. Legacy-SSE MOVDQA does not touch the upper halves of
 * YMM/ZMM registers. Requires CR0.TS = 0 and CR4.OSFXSR = 1 in HOST_CR0/
 * HOST_CR4 (true of any x86-64 OS that does eager FPU switching).
 *
 * Then hv_exit_dispatch(vcpu) runs (RBP = 0 so frame-pointer unwinders stop
 * here instead of walking into the guest's stack) and its action decides:
 *
 *   RESUME / SKIP   XMM and GPRs from the save areas (RAX last, it is the
 *                   base register), VMRESUME. A fall-through goes to
 *                   hv_arch_vmresume_failed(vcpu, RFLAGS), which records
 *                   the decoded status and stops the machine; it never
 *                   returns, and if it did the CPU halts.
 *   DEVIRTUALIZE    the core has captured vcpu->resume and executed VMCLEAR
 *                   and VMXOFF. hv_arch_devirtualize(vcpu) reloads CR0/
 *                   CR3/CR4, GDTR, TR, DR7, DEBUGCTL, FS/GS bases and the
 *                   IDTR and returns &vcpu->resume. The stub restores XMM,
 *                   builds an IRETQ frame (current SS, resume.rsp,
 *                   resume.rflags, current CS, resume.rip), restores every
 *                   GPR from vcpu->gprs (RAX = the VMCALL result the core
 *                   put there) and executes IRETQ, which loads RIP, CS,
 *                   RFLAGS, RSP and SS in one instruction (SDM Vol. 2,
 *                   IRET; Vol. 3A, 6.14.3). CS/SS are the host selectors,
 *                   which the core took from the running OS at setup and
 *                   which index the same descriptors in the restored GDT.
 *   FATAL (other)   hv_arch_fatal(vcpu): os->panic(dump), then halt.
 */
#include "hv_asm.h"
#include "asm_offsets.h"


/* Frame below the vcpu slot, see the picture above. */
#define EXIT_FRAME_XMM      HV_SHADOW_SPACE
#define EXIT_FRAME_VCPU     (EXIT_FRAME_XMM + 16 * 16)
#define EXIT_FRAME_SIZE     (EXIT_FRAME_VCPU + 16)

/*
 * XMM0-15 to/from the exit frame: the caller-saved SSE state of the C ABI.
 *
 * HV_ARCH_EXIT_SAVE_XMM=0 (set by platform/linux/Kbuild) leaves them out:
 * the Linux kernel builds all of its C code, and therefore the core, this
 * backend and every OS callback that can run in VMX root, with -mno-sse
 * -mno-mmx (arch/x86/Makefile), and its own SIMD code only runs between
 * kernel_fpu_begin()/end() in normal context, never from our callbacks.
 * Nothing in VMX root touches an XMM register, so the guest's values are
 * still there at VMRESUME: 32 instructions less per exit (issue 17). Any
 * platform whose root-mode code may use SSE (the Microsoft ABI, firmware)
 * keeps the default.
 */
#ifndef HV_ARCH_EXIT_SAVE_XMM
#define HV_ARCH_EXIT_SAVE_XMM 1
#endif

.macro SAVE_XMM_TO_FRAME
#if HV_ARCH_EXIT_SAVE_XMM
    movdqa  %xmm0,  EXIT_FRAME_XMM + 0x00(%rsp)
    movdqa  %xmm1,  EXIT_FRAME_XMM + 0x10(%rsp)
    movdqa  %xmm2,  EXIT_FRAME_XMM + 0x20(%rsp)
    movdqa  %xmm3,  EXIT_FRAME_XMM + 0x30(%rsp)
    movdqa  %xmm4,  EXIT_FRAME_XMM + 0x40(%rsp)
    movdqa  %xmm5,  EXIT_FRAME_XMM + 0x50(%rsp)
    movdqa  %xmm6,  EXIT_FRAME_XMM + 0x60(%rsp)
    movdqa  %xmm7,  EXIT_FRAME_XMM + 0x70(%rsp)
    movdqa  %xmm8,  EXIT_FRAME_XMM + 0x80(%rsp)
    movdqa  %xmm9,  EXIT_FRAME_XMM + 0x90(%rsp)
    movdqa  %xmm10, EXIT_FRAME_XMM + 0xA0(%rsp)
    movdqa  %xmm11, EXIT_FRAME_XMM + 0xB0(%rsp)
    movdqa  %xmm12, EXIT_FRAME_XMM + 0xC0(%rsp)
    movdqa  %xmm13, EXIT_FRAME_XMM + 0xD0(%rsp)
    movdqa  %xmm14, EXIT_FRAME_XMM + 0xE0(%rsp)
    movdqa  %xmm15, EXIT_FRAME_XMM + 0xF0(%rsp)
#endif
.endm

.macro RESTORE_XMM_FROM_FRAME
#if HV_ARCH_EXIT_SAVE_XMM
    movdqa  EXIT_FRAME_XMM + 0x00(%rsp), %xmm0
    movdqa  EXIT_FRAME_XMM + 0x10(%rsp), %xmm1
    movdqa  EXIT_FRAME_XMM + 0x20(%rsp), %xmm2
    movdqa  EXIT_FRAME_XMM + 0x30(%rsp), %xmm3
    movdqa  EXIT_FRAME_XMM + 0x40(%rsp), %xmm4
    movdqa  EXIT_FRAME_XMM + 0x50(%rsp), %xmm5
    movdqa  EXIT_FRAME_XMM + 0x60(%rsp), %xmm6
    movdqa  EXIT_FRAME_XMM + 0x70(%rsp), %xmm7
    movdqa  EXIT_FRAME_XMM + 0x80(%rsp), %xmm8
    movdqa  EXIT_FRAME_XMM + 0x90(%rsp), %xmm9
    movdqa  EXIT_FRAME_XMM + 0xA0(%rsp), %xmm10
    movdqa  EXIT_FRAME_XMM + 0xB0(%rsp), %xmm11
    movdqa  EXIT_FRAME_XMM + 0xC0(%rsp), %xmm12
    movdqa  EXIT_FRAME_XMM + 0xD0(%rsp), %xmm13
    movdqa  EXIT_FRAME_XMM + 0xE0(%rsp), %xmm14
    movdqa  EXIT_FRAME_XMM + 0xF0(%rsp), %xmm15
#endif
.endm


    .text

/* ---- hv_status_t hv_arch_vmlaunch_here(void) ---------------------------- */
HV_FUNC_BEGIN(hv_arch_vmlaunch_here)
    HV_ENDBR
    pushfq
    pushq   %rbx
    pushq   %rbp
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
#if defined(_WIN64)
    pushq   %rsi                        /* callee-saved in the MS ABI */
    pushq   %rdi
#endif
    /* RSP from here to .Lguest_continues must not change. */
    movl    $HV_ASM_VMCS_GUEST_RSP, %eax
    vmwrite %rsp, %rax                  /* VMCS[GUEST_RSP] = RSP */
    jbe     .Llaunch_failed
    leaq    .Lguest_continues(%rip), %rdx
    movl    $HV_ASM_VMCS_GUEST_RIP, %eax
    vmwrite %rdx, %rax                  /* VMCS[GUEST_RIP] = continuation */
    jbe     .Llaunch_failed
    /* RAX is the status the guest side returns (the continuation leaves it
     * alone): SUCCESS on entry, or HV_STATUS_VM_ENTRY_FAILED that the core
     * puts in the saved RAX when the entry ends in an entry-failure exit and
     * it hands the CPU back here (exit/exit_misc.c). MOV keeps the flags. */
    movl    $0, %eax
    vmlaunch
    /* Fall-through: VMfail; RFLAGS still hold its CF/ZF. */
.Llaunch_failed:
    jc      .Llaunch_fail_invalid
    jz      .Llaunch_fail_valid
    movl    $HV_ASM_STATUS_INTERNAL_ERROR, %eax   /* neither flag: cannot happen */
    jmp     .Llaunch_out
.Llaunch_fail_invalid:
    movl    $HV_ASM_STATUS_VMX_FAIL_INVALID, %eax
    jmp     .Llaunch_out
.Llaunch_fail_valid:
    xorl    %eax, %eax
    movl    $HV_ASM_VMCS_VM_INSTRUCTION_ERROR, %edx
    vmread  %rdx, %rax                  /* RAX = VM-instruction error number */
    movzbl  %al, %eax
    orl     $HV_ASM_STATUS_VM_INSTRUCTION_ERROR_BASE, %eax
    jmp     .Llaunch_out

    /* VM entry succeeded: we are the guest, RSP = the value written above,
     * every other register as it was at VMLAUNCH. */
.Lguest_continues:
    HV_ENDBR                            /* EAX = status, see above */
.Llaunch_out:
#if defined(_WIN64)
    popq    %rdi
    popq    %rsi
#endif
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbp
    popq    %rbx
    popfq
    HV_RET
HV_FUNC_END(hv_arch_vmlaunch_here)

/* ---- uint64_t hv_arch_exit_entry(void): the HOST_RIP value -------------- */
HV_FUNC_BEGIN(hv_arch_exit_entry)
    HV_ENDBR
    leaq    hv_arch_vmexit(%rip), %rax
    HV_RET
HV_FUNC_END(hv_arch_exit_entry)

/* ---- the VM-exit stub ----------------------------------------------------- */
HV_LOCAL_FUNC_BEGIN(hv_arch_vmexit)
    HV_ENDBR
    pushq   %rax                        /* guest RAX; 8(%rsp) = vcpu slot */
    movq    8(%rsp), %rax               /* RAX = struct hv_vcpu * (gprs at 0) */
    movq    %rcx, HV_ASM_GPR_RCX(%rax)
    movq    %rdx, HV_ASM_GPR_RDX(%rax)
    movq    %rbx, HV_ASM_GPR_RBX(%rax)
    movq    $0,   HV_ASM_GPR_RSP(%rax)
    movq    %rbp, HV_ASM_GPR_RBP(%rax)
    movq    %rsi, HV_ASM_GPR_RSI(%rax)
    movq    %rdi, HV_ASM_GPR_RDI(%rax)
    movq    %r8,  HV_ASM_GPR_R8(%rax)
    movq    %r9,  HV_ASM_GPR_R9(%rax)
    movq    %r10, HV_ASM_GPR_R10(%rax)
    movq    %r11, HV_ASM_GPR_R11(%rax)
    movq    %r12, HV_ASM_GPR_R12(%rax)
    movq    %r13, HV_ASM_GPR_R13(%rax)
    movq    %r14, HV_ASM_GPR_R14(%rax)
    movq    %r15, HV_ASM_GPR_R15(%rax)
    popq    HV_ASM_GPR_RAX(%rax)        /* guest RAX; RSP = HOST_RSP again */

    movq    %rax, %rbx                  /* vcpu, callee-saved in both ABIs */
    andq    $-16, %rsp
    subq    $EXIT_FRAME_SIZE, %rsp
    movq    %rbx, EXIT_FRAME_VCPU(%rsp)
    SAVE_XMM_TO_FRAME

    xorl    %ebp, %ebp                  /* end of the frame-pointer chain */
    movq    %rbx, HV_ARG0
    call    hv_exit_dispatch            /* EAX = enum hv_exit_action */

    cmpl    $HV_ASM_ACTION_SKIP, %eax
    jbe     .Lexit_resume               /* RESUME (0) or SKIP (1) */
    cmpl    $HV_ASM_ACTION_DEVIRTUALIZE, %eax
    je      .Lexit_devirtualize
    movq    %rbx, HV_ARG0               /* FATAL or anything unknown */
    call    hv_arch_fatal
    jmp     .Lexit_halt

.Lexit_resume:
    RESTORE_XMM_FROM_FRAME
    movq    %rbx, %rax
    movq    HV_ASM_GPR_RCX(%rax), %rcx
    movq    HV_ASM_GPR_RDX(%rax), %rdx
    movq    HV_ASM_GPR_RBX(%rax), %rbx
    movq    HV_ASM_GPR_RBP(%rax), %rbp
    movq    HV_ASM_GPR_RSI(%rax), %rsi
    movq    HV_ASM_GPR_RDI(%rax), %rdi
    movq    HV_ASM_GPR_R8(%rax),  %r8
    movq    HV_ASM_GPR_R9(%rax),  %r9
    movq    HV_ASM_GPR_R10(%rax), %r10
    movq    HV_ASM_GPR_R11(%rax), %r11
    movq    HV_ASM_GPR_R12(%rax), %r12
    movq    HV_ASM_GPR_R13(%rax), %r13
    movq    HV_ASM_GPR_R14(%rax), %r14
    movq    HV_ASM_GPR_R15(%rax), %r15
    movq    HV_ASM_GPR_RAX(%rax), %rax
    vmresume
    /* Fall-through: VMfail. Every GPR is the guest's now; RSP is still F. */
    pushfq
    popq    HV_ARG1                     /* RFLAGS with the CF/ZF verdict */
    movq    EXIT_FRAME_VCPU(%rsp), HV_ARG0
    xorl    %ebp, %ebp
    call    hv_arch_vmresume_failed     /* does not return */
    jmp     .Lexit_halt

.Lexit_devirtualize:
    movq    %rbx, HV_ARG0
    call    hv_arch_devirtualize        /* RAX = &vcpu->resume; IDTR = guest's */
    RESTORE_XMM_FROM_FRAME
    /* IRETQ frame (SS, RSP, RFLAGS, CS, RIP), pushed onto the host stack. */
    movl    %ss, %ecx
    pushq   %rcx
    pushq   HV_ASM_RESUME_RSP(%rax)
    pushq   HV_ASM_RESUME_RFLAGS(%rax)
    movl    %cs, %ecx
    pushq   %rcx
    pushq   HV_ASM_RESUME_RIP(%rax)
    movq    %rbx, %rax                  /* vcpu: restore the guest's GPRs */
    movq    HV_ASM_GPR_RCX(%rax), %rcx
    movq    HV_ASM_GPR_RDX(%rax), %rdx
    movq    HV_ASM_GPR_RBX(%rax), %rbx
    movq    HV_ASM_GPR_RBP(%rax), %rbp
    movq    HV_ASM_GPR_RSI(%rax), %rsi
    movq    HV_ASM_GPR_RDI(%rax), %rdi
    movq    HV_ASM_GPR_R8(%rax),  %r8
    movq    HV_ASM_GPR_R9(%rax),  %r9
    movq    HV_ASM_GPR_R10(%rax), %r10
    movq    HV_ASM_GPR_R11(%rax), %r11
    movq    HV_ASM_GPR_R12(%rax), %r12
    movq    HV_ASM_GPR_R13(%rax), %r13
    movq    HV_ASM_GPR_R14(%rax), %r14
    movq    HV_ASM_GPR_R15(%rax), %r15
    movq    HV_ASM_GPR_RAX(%rax), %rax  /* the VMCALL result */
    iretq                               /* native again, after the VMCALL */

.Lexit_halt:
    cli
    hlt
    jmp     .Lexit_halt
HV_FUNC_END(hv_arch_vmexit)

    HV_NOTE_GNU_STACK
