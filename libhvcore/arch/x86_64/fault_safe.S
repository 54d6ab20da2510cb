/* SPDX-License-Identifier: MIT */
/*
 * Instructions that may fault, each paired with a fixup (extable.h).
 *
 * Why assembler and not inline asm in C: the backend finds its exception
 * table through two labels placed around its part of the .hv_extable
 * section. That only works if every entry comes from one object in a known
 * order, which a compiler does not promise for inline asm (functions get
 * reordered, inlined, cloned or dropped). So every fault site lives here,
 * between hv_arch_extable_begin and hv_arch_extable_end, and nowhere else.
 *
 * Fixup protocol (extable.h): a fault at .Lxxx_insn resumes at .Lxxx_fixup
 * with all registers as they were at the fault. The fixups only load the
 * return value; the caller's output (*value) is never written on that path.
 *
 * The copies (REP MOVSB) take #PF or #GP on memory the OS does not map or
 * a non-canonical pointer. RDMSR/WRMSR raise #GP(0) for an unimplemented MSR, a reserved bit or a
 * non-canonical address (SDM Vol. 2, RDMSR/WRMSR); XSETBV raises #GP for an
 * invalid XCR0 value and #UD when CR4.OSXSAVE = 0; VMREAD raises #UD
 * outside VMX operation (SDM Vol. 3C, 31.3). Every one of them reports
 * "failed" here, whatever the vector.
 *
 * All functions are leaves that touch only RAX, RCX, RDX, R8 and the
 * argument registers (caller-saved in both the SysV and Microsoft ABIs).
 */
#include "hv_asm.h"
#include "asm_offsets.h"
#include "extable.h"

    HV_SECTION_PUSH(HV_EXTABLE_SECTION)
    .balign 4
    .globl hv_arch_extable_begin
    HV_HIDDEN(hv_arch_extable_begin)
    HV_DATA_TYPE(hv_arch_extable_begin)
hv_arch_extable_begin:
    HV_SECTION_POP

    .text

/* hv_status_t hv_arch_rdmsr_safe(uint32_t msr, uint64_t *value) */
HV_FUNC_BEGIN(hv_arch_rdmsr_safe)
    HV_ENDBR
    movl    HV_ARG0_32, %ecx            /* MSR index */
    movq    HV_ARG1, %r8                /* out pointer (RDX under the MS ABI) */
.Lrdmsr_insn:
    rdmsr                               /* EDX:EAX = MSR[ECX] */
    shlq    $32, %rdx
    movl    %eax, %eax
    orq     %rdx, %rax
    movq    %rax, (%r8)
    xorl    %eax, %eax                  /* HV_STATUS_SUCCESS */
    HV_RET
.Lrdmsr_fixup:
    movl    $HV_ASM_STATUS_EXCEPTION_GP, %eax
    HV_RET
    HV_EXTABLE(.Lrdmsr_insn, .Lrdmsr_fixup)
HV_FUNC_END(hv_arch_rdmsr_safe)

/* hv_status_t hv_arch_wrmsr_safe(uint32_t msr, uint64_t value) */
HV_FUNC_BEGIN(hv_arch_wrmsr_safe)
    HV_ENDBR
    movl    HV_ARG0_32, %ecx            /* MSR index */
    movq    HV_ARG1, %rax               /* EAX = low half */
    movq    %rax, %rdx
    shrq    $32, %rdx                   /* EDX = high half */
.Lwrmsr_insn:
    wrmsr
    xorl    %eax, %eax
    HV_RET
.Lwrmsr_fixup:
    movl    $HV_ASM_STATUS_EXCEPTION_GP, %eax
    HV_RET
    HV_EXTABLE(.Lwrmsr_insn, .Lwrmsr_fixup)
HV_FUNC_END(hv_arch_wrmsr_safe)

/* hv_status_t hv_arch_xsetbv_safe(uint32_t xcr, uint64_t value) */
HV_FUNC_BEGIN(hv_arch_xsetbv_safe)
    HV_ENDBR
    movl    HV_ARG0_32, %ecx            /* XCR index */
    movq    HV_ARG1, %rax
    movq    %rax, %rdx
    shrq    $32, %rdx
.Lxsetbv_insn:
    xsetbv                              /* XCR[ECX] = EDX:EAX */
    xorl    %eax, %eax
    HV_RET
.Lxsetbv_fixup:
    movl    $HV_ASM_STATUS_EXCEPTION_GP, %eax
    HV_RET
    HV_EXTABLE(.Lxsetbv_insn, .Lxsetbv_fixup)
HV_FUNC_END(hv_arch_xsetbv_safe)

/* int hv_arch_vmread_safe(uint64_t field, uint64_t *value)
 * 0 = read; 1 = VMfail (CF or ZF) or a fault (#UD: not in VMX operation). */
HV_FUNC_BEGIN(hv_arch_vmread_safe)
    HV_ENDBR
    movq    HV_ARG1, %r8
.Lvmread_insn:
    vmread  HV_ARG0, %rax               /* RAX = VMCS[field] */
    jbe     .Lvmread_fixup              /* CF=1 (VMfailInvalid) or ZF=1 (VMfailValid) */
    movq    %rax, (%r8)
    xorl    %eax, %eax
    HV_RET
.Lvmread_fixup:
    movl    $1, %eax
    HV_RET
    HV_EXTABLE(.Lvmread_insn, .Lvmread_fixup)
HV_FUNC_END(hv_arch_vmread_safe)

/* hv_status_t hv_arch_read_safe(void *dst, const void *src, uint64_t len)
 * hv_status_t hv_arch_write_safe(void *dst, const void *src, uint64_t len)
 * The same body twice (a jump into another function's middle would upset
 * objtool): REP MOVSB faults with RIP at the instruction itself and RCX,
 * RSI, RDI counting what was already moved (SDM Vol. 2B, REP; Vol. 3A,
 * 6.5), so the fixup sees the stack as it was and returns ACCESS_VIOLATION.
 * RDI/RSI are callee-saved under the Microsoft ABI. DF is 0 at every call
 * (both ABIs; a VM exit clears RFLAGS but bit 1, SDM Vol. 3C, 28.5.3). */
#if defined(_WIN64)
#define HV_COPY_ENTER  pushq %rdi; pushq %rsi; movq %rcx, %rdi; movq %rdx, %rsi; movq %r8, %rcx
#define HV_COPY_LEAVE  popq %rsi; popq %rdi
#else
#define HV_COPY_ENTER  movq %rdx, %rcx
#define HV_COPY_LEAVE
#endif
#define HV_SAFE_COPY(name, tag)                          \
HV_FUNC_BEGIN(name);                                     \
    HV_ENDBR;                                            \
    HV_COPY_ENTER;                                       \
.L##tag##_insn:                                          \
    rep movsb;                                           \
    xorl    %eax, %eax;                                  \
.L##tag##_out:                                           \
    HV_COPY_LEAVE;                                       \
    HV_RET;                                              \
.L##tag##_fixup:                                         \
    movl    $HV_ASM_STATUS_ACCESS_VIOLATION, %eax;       \
    jmp     .L##tag##_out;                               \
    HV_EXTABLE(.L##tag##_insn, .L##tag##_fixup);         \
HV_FUNC_END(name)

HV_SAFE_COPY(hv_arch_read_safe, rdcopy)
HV_SAFE_COPY(hv_arch_write_safe, wrcopy)

    HV_SECTION_PUSH(HV_EXTABLE_SECTION)
    .balign 4
    .globl hv_arch_extable_end
    HV_HIDDEN(hv_arch_extable_end)
    HV_DATA_TYPE(hv_arch_extable_end)
hv_arch_extable_end:
    HV_SECTION_POP

    HV_NOTE_GNU_STACK
