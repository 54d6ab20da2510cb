/* SPDX-License-Identifier: MIT */
/* arch_selftest helpers: enter code with a chosen register file (GPRs and
 * XMM), and a landing pad that captures all of them back. */
    .text
/* void sim_enter(const uint64_t *gpr16, const void *xmm256, uint64_t rsp, uint64_t rip) */
    .globl sim_enter
sim_enter:
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, sim_saved_rsp(%rip)
    movq %rcx, sim_target(%rip)
    movdqu 0x00(%rsi), %xmm0
    movdqu 0x10(%rsi), %xmm1
    movdqu 0x20(%rsi), %xmm2
    movdqu 0x30(%rsi), %xmm3
    movdqu 0x40(%rsi), %xmm4
    movdqu 0x50(%rsi), %xmm5
    movdqu 0x60(%rsi), %xmm6
    movdqu 0x70(%rsi), %xmm7
    movdqu 0x80(%rsi), %xmm8
    movdqu 0x90(%rsi), %xmm9
    movdqu 0xa0(%rsi), %xmm10
    movdqu 0xb0(%rsi), %xmm11
    movdqu 0xc0(%rsi), %xmm12
    movdqu 0xd0(%rsi), %xmm13
    movdqu 0xe0(%rsi), %xmm14
    movdqu 0xf0(%rsi), %xmm15
    movq %rdx, %rsp
    movq 0(%rdi), %rax
    movq 8(%rdi), %rcx
    movq 16(%rdi), %rdx
    movq 24(%rdi), %rbx
    movq 40(%rdi), %rbp
    movq 48(%rdi), %rsi
    movq 64(%rdi), %r8
    movq 72(%rdi), %r9
    movq 80(%rdi), %r10
    movq 88(%rdi), %r11
    movq 96(%rdi), %r12
    movq 104(%rdi), %r13
    movq 112(%rdi), %r14
    movq 120(%rdi), %r15
    movq 56(%rdi), %rdi
    jmp *sim_target(%rip)

/* Landing: capture every register into sim_out, then return from sim_enter. */
    .globl sim_landing
sim_landing:
    movq %rax, sim_out+0(%rip)
    movq %rcx, sim_out+8(%rip)
    movq %rdx, sim_out+16(%rip)
    movq %rbx, sim_out+24(%rip)
    movq %rsp, sim_out+32(%rip)
    movq %rbp, sim_out+40(%rip)
    movq %rsi, sim_out+48(%rip)
    movq %rdi, sim_out+56(%rip)
    movq %r8, sim_out+64(%rip)
    movq %r9, sim_out+72(%rip)
    movq %r10, sim_out+80(%rip)
    movq %r11, sim_out+88(%rip)
    movq %r12, sim_out+96(%rip)
    movq %r13, sim_out+104(%rip)
    movq %r14, sim_out+112(%rip)
    movq %r15, sim_out+120(%rip)
    pushfq
    popq sim_out_rflags(%rip)
    movdqu %xmm0, sim_out_xmm+0x00(%rip)
    movdqu %xmm1, sim_out_xmm+0x10(%rip)
    movdqu %xmm2, sim_out_xmm+0x20(%rip)
    movdqu %xmm3, sim_out_xmm+0x30(%rip)
    movdqu %xmm4, sim_out_xmm+0x40(%rip)
    movdqu %xmm5, sim_out_xmm+0x50(%rip)
    movdqu %xmm6, sim_out_xmm+0x60(%rip)
    movdqu %xmm7, sim_out_xmm+0x70(%rip)
    movdqu %xmm8, sim_out_xmm+0x80(%rip)
    movdqu %xmm9, sim_out_xmm+0x90(%rip)
    movdqu %xmm10, sim_out_xmm+0xa0(%rip)
    movdqu %xmm11, sim_out_xmm+0xb0(%rip)
    movdqu %xmm12, sim_out_xmm+0xc0(%rip)
    movdqu %xmm13, sim_out_xmm+0xd0(%rip)
    movdqu %xmm14, sim_out_xmm+0xe0(%rip)
    movdqu %xmm15, sim_out_xmm+0xf0(%rip)
    movl $1, sim_landed(%rip)
    /* fall into sim_abort */
    .globl sim_abort
sim_abort:
    movq sim_saved_rsp(%rip), %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    ret

/* uint64_t call_vmlaunch_checked(uint64_t *callee_out7): set callee-saved
 * regs to patterns, call hv_arch_vmlaunch_here, store them + rflags after. */
    .globl call_vmlaunch_checked
call_vmlaunch_checked:
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq %rdi
    movabsq $0x1111111111111111, %rbx
    movabsq $0x5555555555555555, %rbp
    movabsq $0xCCCCCCCCCCCCCCCC, %r12
    movabsq $0xDDDDDDDDDDDDDDDD, %r13
    movabsq $0xEEEEEEEEEEEEEEEE, %r14
    movabsq $0xFFFFFFFFFFFFFFF0, %r15
    call hv_arch_vmlaunch_here
    popq %rdi
    movq %rbx, 0(%rdi)
    movq %rbp, 8(%rdi)
    movq %r12, 16(%rdi)
    movq %r13, 24(%rdi)
    movq %r14, 32(%rdi)
    movq %r15, 40(%rdi)
    movq %rsp, 48(%rdi)
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    ret

    .bss
    .balign 16
    .globl sim_out, sim_out_xmm, sim_out_rflags, sim_landed, sim_saved_rsp, sim_target
sim_out: .skip 128
sim_out_xmm: .skip 256
sim_out_rflags: .skip 8
sim_landed: .skip 8
sim_saved_rsp: .skip 8
sim_target: .skip 8
    .section .note.GNU-stack, "", @progbits
