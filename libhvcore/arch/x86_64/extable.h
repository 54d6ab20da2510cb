/* SPDX-License-Identifier: MIT */
/*
 * The backend's exception table: how an instruction that may fault (RDMSR,
 * WRMSR, XSETBV, VMREAD probing) reports the fault instead of taking the
 * machine down. Included by C (the entry layout and the lookup) and by the
 * .S files (the macro that emits entries).
 *
 * ---- Entry layout (section ".hv_extable", 4-byte aligned) ---------------
 *
 *     struct hv_extable_entry {
 *         int32_t insn;   address of the faulting instruction minus &insn
 *         int32_t fixup;  address to continue at         minus &fixup
 *     };
 *
 * Both fields are self-relative 32-bit offsets (R_X86_64_PC32 / REL32), so
 * the table needs no load-time fix-up and works unchanged with
 * -mcmodel=kernel, -fPIC/-fPIE, a Linux module, a PE driver or a gnu-efi
 * image: only the distance between the table and the code matters, and both
 * live in the same object.
 *
 * ---- Bounds ---------------------------------------------------------------
 *
 * Linker-made __start_/__stop_ symbols are not usable here (the section name
 * starts with a dot, a kernel module is only partially linked, and PE has no
 * such symbols). Instead every entry is emitted by ONE object, fault_safe.S,
 * which brackets its own part of the section with hv_arch_extable_begin and
 * hv_arch_extable_end. A linker never splits or reorders the inside of one
 * input section, so [begin, end) is exactly this backend's table. Rule that
 * follows: HV_EXTABLE() may only be used in fault_safe.S.
 *
 * ---- Fixup protocol -------------------------------------------------------
 *
 * A fault (#GP, #PF, and #UD for VMREAD outside VMX operation or XSETBV with
 * CR4.OSXSAVE clear) at `insn` continues at `fixup` with every register as
 * it was when the instruction faulted; nothing is pushed, nothing is
 * reported but the new RIP. The code at `fixup` turns that into a return
 * value (HV_STATUS_EXCEPTION_GENERAL_PROTECTION for the MSR/XCR helpers)
 * and never writes the caller's output.
 *
 * Who applies it:
 *   - in VMX root with the backend's own host IDT: hv_arch_idt_dispatch()
 *     (idt.c) calls hv_arch_extable_fixup() for vectors 6, 13 and 14;
 *   - anywhere the OS's IDT is live (pre-launch, guest mode, VMX root
 *     without own_host_idt): the OS's own fault handler, through the entry
 *     that HV_PLATFORM_EXTABLE adds to the OS's table.
 *
 * ---- HV_PLATFORM_EXTABLE(insn, fixup) --------------------------------------
 *
 * Optional, defined by the platform in a header it force-includes into the
 * ASSEMBLER flags of the backend (Kbuild: asflags-y += -include ...). It is
 * expanded in assembler context (after cpp) once per fault site, right after
 * the backend's own entry, with two assembler-local labels (.Lxxx) of the
 * same object's .text: the faulting instruction and the fixup. It must
 * expand to assembler statements separated by ';' that register "a fault at
 * insn continues at fixup with registers unchanged" with the OS. Linux:
 *     #include <asm/asm.h>
 *     #define HV_PLATFORM_EXTABLE(insn, fixup) _ASM_EXTABLE(insn, fixup)
 * (the kernel's default fixup type only rewrites regs->ip, which is exactly
 * this protocol). When it is not defined it expands to nothing.
 */
#ifndef HVCORE_ARCH_X86_64_EXTABLE_H
#define HVCORE_ARCH_X86_64_EXTABLE_H

#ifdef __ASSEMBLER__

#ifndef HV_PLATFORM_EXTABLE
#define HV_PLATFORM_EXTABLE(insn, fixup)
#endif

/* One entry in the backend's table plus the platform's. Needs hv_asm.h. */
#define HV_EXTABLE(insn, fixup)               \
    HV_SECTION_PUSH(HV_EXTABLE_SECTION);      \
    .balign 4;                                \
    .long (insn) - .;                         \
    .long (fixup) - .;                        \
    HV_SECTION_POP;                           \
    HV_PLATFORM_EXTABLE(insn, fixup)

#else /* C */

#include <stdbool.h>
#include <stdint.h>

struct hv_extable_entry {
    int32_t insn;   /* faulting instruction - &insn */
    int32_t fixup;  /* continuation address - &fixup */
};

#if defined(__ELF__)
#define HV_EXTABLE_HIDDEN __attribute__((__visibility__("hidden")))
#else
#define HV_EXTABLE_HIDDEN
#endif

/* Bounds of this backend's entries (defined in fault_safe.S). */
extern const struct hv_extable_entry hv_arch_extable_begin[] HV_EXTABLE_HIDDEN;
extern const struct hv_extable_entry hv_arch_extable_end[] HV_EXTABLE_HIDDEN;

/* If *rip is a fault site of the table, rewrite it to its fixup and return
 * true; else leave it and return false. ROOT-SAFE, callable from any
 * exception handler (no locks, no allocation, reads only the table). */
bool hv_arch_extable_fixup(uint64_t *rip);

#endif /* __ASSEMBLER__ */
#endif /* HVCORE_ARCH_X86_64_EXTABLE_H */
