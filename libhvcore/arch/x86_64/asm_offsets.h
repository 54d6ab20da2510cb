/* SPDX-License-Identifier: MIT */
/*
 * Constants the .S files of the backend need from C headers they cannot
 * include (structure offsets, VMCS encodings, status and action values).
 * Every value here is checked against its C definition by asm_offsets.c
 * with _Static_assert, so a layout change in hv.h or a renumbering breaks
 * the build instead of the machine. Plain numbers only: this file is read
 * by the assembler.
 *
 * The stubs deliberately depend on as little layout as possible:
 *   - struct hv_vcpu: only gprs at offset 0 (hv.h guarantees it);
 *   - struct hv_guest_resume: only rip/rsp/rflags, its first three members
 *     (the stub gets the structure's address from hv_arch_devirtualize(),
 *     so the position of `resume` inside struct hv_vcpu is C's business).
 */
#ifndef HVCORE_ARCH_X86_64_ASM_OFFSETS_H
#define HVCORE_ARCH_X86_64_ASM_OFFSETS_H

/* struct hv_vcpu: gprs.r[n] at n * 8 (x86 register-number order). */
#define HV_ASM_VCPU_GPRS    0
#define HV_ASM_GPR_RAX      0
#define HV_ASM_GPR_RCX      8
#define HV_ASM_GPR_RDX      16
#define HV_ASM_GPR_RBX      24
#define HV_ASM_GPR_RSP      32
#define HV_ASM_GPR_RBP      40
#define HV_ASM_GPR_RSI      48
#define HV_ASM_GPR_RDI      56
#define HV_ASM_GPR_R8       64
#define HV_ASM_GPR_R9       72
#define HV_ASM_GPR_R10      80
#define HV_ASM_GPR_R11      88
#define HV_ASM_GPR_R12      96
#define HV_ASM_GPR_R13      104
#define HV_ASM_GPR_R14      112
#define HV_ASM_GPR_R15      120

/* struct hv_guest_resume */
#define HV_ASM_RESUME_RIP    0
#define HV_ASM_RESUME_RSP    8
#define HV_ASM_RESUME_RFLAGS 16

/* VMCS field encodings (vmcs.h). */
#define HV_ASM_VMCS_VM_INSTRUCTION_ERROR 0x4400
#define HV_ASM_VMCS_GUEST_RSP            0x681C
#define HV_ASM_VMCS_GUEST_RIP            0x681E
#define HV_ASM_VMCS_HOST_RSP             0x6C14

/* hv_status_t values (status.h). */
#define HV_ASM_STATUS_SUCCESS                    0x00000000
#define HV_ASM_STATUS_EXCEPTION_GP               0xC001000D
#define HV_ASM_STATUS_ACCESS_VIOLATION           0xC0000005
#define HV_ASM_STATUS_VMX_FAIL_INVALID           0xE0E10004
#define HV_ASM_STATUS_INTERNAL_ERROR             0xE0E1000E
#define HV_ASM_STATUS_VM_INSTRUCTION_ERROR_BASE  0xE0E11000

/* enum hv_exit_action (hv.h). */
#define HV_ASM_ACTION_RESUME        0
#define HV_ASM_ACTION_SKIP          1
#define HV_ASM_ACTION_FATAL         2
#define HV_ASM_ACTION_DEVIRTUALIZE  3

/* struct hv_idt_frame (arch_internal.h): what idt_entry.S builds on the stack. */
#define HV_ASM_IDT_FRAME_VECTOR     80
#define HV_ASM_IDT_FRAME_SIZE       136

#endif /* HVCORE_ARCH_X86_64_ASM_OFFSETS_H */
