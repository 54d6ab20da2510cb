/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the host IDT used in VMX root (hv_arch_build_host_idt).
 *
 * 64-bit interrupt gates (SDM Vol. 3A, 6.14.1) with IST = 0: the CPU stays
 * on the current stack, which in VMX root is the core's host stack, aligns
 * RSP down to 16 bytes and pushes SS, RSP, RFLAGS, CS, RIP and, for some
 * vectors, an error code (SDM Vol. 3A, 6.14.2). An interrupt gate clears
 * IF; an NMI additionally blocks further NMIs until the next IRET.
 *
 * Per-vector stub: ENDBR64, a dummy error code of 0 for vectors that have
 * none (all but 8, 10-14, 17, 21, 29, 30), the vector number, then a jump
 * to the common handler. The stubs are variable-sized; their addresses are
 * published through hv_arch_idt_stub_offsets[256], self-relative 32-bit
 * offsets in read-only data (no absolute relocation, fine for PIC and
 * -mcmodel=kernel alike).
 *
 * Common handler, stack on entry (lowest address first):
 *     vector, error code, RIP, CS, RFLAGS, RSP, SS
 * It pushes RBX and the registers the ABI lets a callee clobber (RAX, RCX,
 * RDX, RSI, RDI, R8-R11), which completes struct hv_idt_frame
 * (arch_internal.h), keeps the frame's address in RBX, aligns RSP, saves
 * XMM0-15 below it, and calls hv_arch_idt_dispatch(frame) with DF = 0 and
 * the 32-byte Microsoft home area in place. The handler can interrupt the
 * exit stub at any instruction (an NMI), so everything it or its callees
 * may change is restored: the GPRs from the frame, XMM from the save area,
 * RFLAGS/RSP/SS/CS/RIP by IRETQ. RIP may have been rewritten by an
 * exception-table fixup. The error code and vector are dropped before
 * IRETQ.
 *
 * XMM is not saved for #UD (6) and #NM (7): those are the exceptions that
 * an unusable SSE unit itself raises (CR4.OSFXSR = 0 or CR0.TS = 1), and
 * saving XMM there would fault again and recurse until the stack is gone.
 * Neither path needs it: #UD is either an exception-table fixup (plain
 * general-register C) or fatal, and #NM is always fatal.
 *
 * RBP is left untouched, so a frame-pointer unwinder run from inside the
 * dispatcher walks on into the interrupted code's frames.
 */
#include "hv_asm.h"
#include "asm_offsets.h"

#define IDT_XMM_AREA        (16 * 16)
#define IDT_CALL_FRAME      (HV_SHADOW_SPACE + IDT_XMM_AREA)
#define IDT_XMM(n)          (HV_SHADOW_SPACE + 16 * (n))

    HV_SECTION_PUSH(HV_RODATA_SECTION)
    .balign 4
    .globl hv_arch_idt_stub_offsets
    HV_HIDDEN(hv_arch_idt_stub_offsets)
    HV_DATA_TYPE(hv_arch_idt_stub_offsets)
hv_arch_idt_stub_offsets:
    HV_SECTION_POP

    .text

/* One entry stub; `vec` is an absolute expression 0..255. */
.macro HV_IDT_STUB vec
    .balign 8
1:
    HV_ENDBR
    .if !(((\vec) == 8) || (((\vec) >= 10) && ((\vec) <= 14)) || ((\vec) == 17) || ((\vec) == 21) || ((\vec) == 29) || ((\vec) == 30))
    pushq   $0                          /* no error code from the CPU */
    .endif
    pushq   $(\vec)
    jmp     hv_arch_idt_common
    HV_SECTION_PUSH(HV_RODATA_SECTION)
    .long   1b - .
    HV_SECTION_POP
.endm

HV_LOCAL_FUNC_BEGIN(hv_arch_idt_stubs)
    .irp hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    .irp lo, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    HV_IDT_STUB (\hi * 16 + \lo)
    .endr
    .endr
HV_FUNC_END(hv_arch_idt_stubs)

HV_LOCAL_FUNC_BEGIN(hv_arch_idt_common)
    /* 0(%rsp) = vector, 8 = error code, 16 = RIP, 24 = CS, 32 = RFLAGS,
     * 40 = RSP, 48 = SS. */
    pushq   %rbx
    pushq   %rax
    pushq   %rcx
    pushq   %rdx
    pushq   %rsi
    pushq   %rdi
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    movq    %rsp, %rbx                  /* struct hv_idt_frame * */
    andq    $-16, %rsp
    subq    $IDT_CALL_FRAME, %rsp
    cld                                 /* both ABIs want DF = 0 at a call */

    movq    HV_ASM_IDT_FRAME_VECTOR(%rbx), %rax
    cmpq    $6, %rax                    /* #UD */
    je      .Lidt_call
    cmpq    $7, %rax                    /* #NM */
    je      .Lidt_call
    movdqa  %xmm0,  IDT_XMM(0)(%rsp)
    movdqa  %xmm1,  IDT_XMM(1)(%rsp)
    movdqa  %xmm2,  IDT_XMM(2)(%rsp)
    movdqa  %xmm3,  IDT_XMM(3)(%rsp)
    movdqa  %xmm4,  IDT_XMM(4)(%rsp)
    movdqa  %xmm5,  IDT_XMM(5)(%rsp)
    movdqa  %xmm6,  IDT_XMM(6)(%rsp)
    movdqa  %xmm7,  IDT_XMM(7)(%rsp)
    movdqa  %xmm8,  IDT_XMM(8)(%rsp)
    movdqa  %xmm9,  IDT_XMM(9)(%rsp)
    movdqa  %xmm10, IDT_XMM(10)(%rsp)
    movdqa  %xmm11, IDT_XMM(11)(%rsp)
    movdqa  %xmm12, IDT_XMM(12)(%rsp)
    movdqa  %xmm13, IDT_XMM(13)(%rsp)
    movdqa  %xmm14, IDT_XMM(14)(%rsp)
    movdqa  %xmm15, IDT_XMM(15)(%rsp)
.Lidt_call:
    movq    %rbx, HV_ARG0
    call    hv_arch_idt_dispatch

    movq    HV_ASM_IDT_FRAME_VECTOR(%rbx), %rax
    cmpq    $6, %rax
    je      .Lidt_out
    cmpq    $7, %rax
    je      .Lidt_out
    movdqa  IDT_XMM(0)(%rsp),  %xmm0
    movdqa  IDT_XMM(1)(%rsp),  %xmm1
    movdqa  IDT_XMM(2)(%rsp),  %xmm2
    movdqa  IDT_XMM(3)(%rsp),  %xmm3
    movdqa  IDT_XMM(4)(%rsp),  %xmm4
    movdqa  IDT_XMM(5)(%rsp),  %xmm5
    movdqa  IDT_XMM(6)(%rsp),  %xmm6
    movdqa  IDT_XMM(7)(%rsp),  %xmm7
    movdqa  IDT_XMM(8)(%rsp),  %xmm8
    movdqa  IDT_XMM(9)(%rsp),  %xmm9
    movdqa  IDT_XMM(10)(%rsp), %xmm10
    movdqa  IDT_XMM(11)(%rsp), %xmm11
    movdqa  IDT_XMM(12)(%rsp), %xmm12
    movdqa  IDT_XMM(13)(%rsp), %xmm13
    movdqa  IDT_XMM(14)(%rsp), %xmm14
    movdqa  IDT_XMM(15)(%rsp), %xmm15
.Lidt_out:
    movq    %rbx, %rsp
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rdi
    popq    %rsi
    popq    %rdx
    popq    %rcx
    popq    %rax
    popq    %rbx
    addq    $16, %rsp                   /* vector and error code */
    iretq
HV_FUNC_END(hv_arch_idt_common)

    HV_NOTE_GNU_STACK
