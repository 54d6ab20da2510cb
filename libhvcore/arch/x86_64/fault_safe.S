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
 * RDMSR/WRMSR raise #GP(0) for an unimplemented MSR, a reserved bit or a
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

    HV_SECTION_PUSH(HV_EXTABLE_SECTION)
    .balign 4
    .globl hv_arch_extable_end
    HV_HIDDEN(hv_arch_extable_end)
    HV_DATA_TYPE(hv_arch_extable_end)
hv_arch_extable_end:
    HV_SECTION_POP

    HV_NOTE_GNU_STACK
