/* SPDX-License-Identifier: MIT */
/*
 * Assembler-only helpers shared by the .S files of the x86-64 backend.
 *
 * ABI. The C side of the core is compiled for the System V AMD64 ABI on
 * Linux and UEFI (gnu-efi builds ELF with the SysV convention) and for the
 * Microsoft x64 ABI when the target is Windows (mingw-w64 or clang with a
 * *-windows target, both of which predefine _WIN64). The stubs therefore
 * name argument registers through HV_ARG0..3 and always reserve the 32-byte
 * "home" area the Microsoft ABI requires above the return address of every
 * call (harmless under SysV). Scratch registers used by the stubs are
 * caller-saved in both ABIs (RAX, RCX, RDX, R8-R11) unless a stub says
 * otherwise.
 *
 * Object format. ELF gets .type/.size, a .note.GNU-stack section and
 * hidden visibility for internal symbols; PE/COFF gets .def/.endef and a
 * read-only data section named .rdata.
 *
 * Platform hooks (all optional, supplied with -include in the assembler
 * flags of the platform build):
 *   HV_PLATFORM_EXTABLE(insn, fixup)  see extable.h
 *   HV_PLATFORM_RET                   the return sequence to use instead of
 *                                     a bare `ret` (Linux: `RET`, which is
 *                                     `jmp __x86_return_thunk` under
 *                                     CONFIG_RETHUNK)
 */
#ifndef HVCORE_ARCH_X86_64_HV_ASM_H
#define HVCORE_ARCH_X86_64_HV_ASM_H

#ifndef __ASSEMBLER__
#error "hv_asm.h is for .S files only"
#endif

#if defined(_WIN64)
#define HV_ARG0     %rcx
#define HV_ARG1     %rdx
#define HV_ARG2     %r8
#define HV_ARG3     %r9
#define HV_ARG0_32  %ecx
#define HV_ARG1_32  %edx
#define HV_ARG2_32  %r8d
#define HV_ARG3_32  %r9d
#else
#define HV_ARG0     %rdi
#define HV_ARG1     %rsi
#define HV_ARG2     %rdx
#define HV_ARG3     %rcx
#define HV_ARG0_32  %edi
#define HV_ARG1_32  %esi
#define HV_ARG2_32  %edx
#define HV_ARG3_32  %ecx
#endif

/* Microsoft x64 home area for the callee's four register arguments. */
#define HV_SHADOW_SPACE 32

/* An indirect-branch landing pad (CET IBT). A NOP on CPUs without CET
 * (it sits in the 0F 1E hint-NOP space), so it is always emitted at every
 * address the CPU may reach by something other than a direct branch:
 * HOST_RIP, the guest continuation of VMLAUNCH, IDT entry points, and the
 * global functions (whose address C may take). */
#define HV_ENDBR endbr64

#ifdef HV_PLATFORM_RET
#define HV_RET HV_PLATFORM_RET
#else
#define HV_RET ret
#endif

#ifdef __ELF__
#define HV_FUNC_TYPE(name)   .type name, @function
#define HV_LOCAL_TYPE(name)  .type name, @function
#define HV_FUNC_SIZE(name)   .size name, . - name
#define HV_DATA_TYPE(name)   .type name, @object
#define HV_HIDDEN(name)      .hidden name
#define HV_RODATA_SECTION    .rodata, "a"
#define HV_EXTABLE_SECTION   .hv_extable, "a"
#define HV_NOTE_GNU_STACK    .section .note.GNU-stack, "", @progbits
#else
#define HV_FUNC_TYPE(name)   .def name; .scl 2; .type 32; .endef
#define HV_LOCAL_TYPE(name)  .def name; .scl 3; .type 32; .endef
#define HV_FUNC_SIZE(name)
#define HV_DATA_TYPE(name)
#define HV_HIDDEN(name)
#define HV_RODATA_SECTION    .rdata, "dr"
#define HV_EXTABLE_SECTION   .hv_extable, "dr"
#define HV_NOTE_GNU_STACK
#endif

/* Emit into another section and come back. ELF has a section stack; for
 * PE/COFF (whose assemblers do not all know .pushsection) the "pop" returns
 * to .text, which is where every use in this backend starts from.
 * Variadic because a section spec contains a comma. */
#ifdef __ELF__
#define HV_SECTION_PUSH(...) .pushsection __VA_ARGS__
#define HV_SECTION_POP       .popsection
#else
#define HV_SECTION_PUSH(...) .section __VA_ARGS__
#define HV_SECTION_POP       .text
#endif

/* A global function with the given C name. */
#define HV_FUNC_BEGIN(name)  \
    .globl name;             \
    HV_FUNC_TYPE(name);      \
    .balign 16;              \
    name:
#define HV_FUNC_END(name)    HV_FUNC_SIZE(name)

/* A file-local function: no .globl, but a real symbol so that debuggers,
 * objdump and Bochs's symbol lookup show a name. */
#define HV_LOCAL_FUNC_BEGIN(name) \
    HV_LOCAL_TYPE(name);          \
    .balign 16;                   \
    name:

#endif /* HVCORE_ARCH_X86_64_HV_ASM_H */
