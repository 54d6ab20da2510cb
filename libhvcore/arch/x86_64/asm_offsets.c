/* SPDX-License-Identifier: MIT */
/*
 * Build-time proof that asm_offsets.h (read by the .S files) matches the C
 * definitions. A failure here means: a header changed, fix asm_offsets.h
 * and re-read the stub that uses the constant. No code is generated.
 */
#include <stddef.h>
#include <stdint.h>
#include <hvcore/hv.h>
#include <hvcore/status.h>
#include <hvcore/vmcs.h>

#include "arch_internal.h"
#include "asm_offsets.h"
#include "extable.h"

#define HV_ASM_CHECK(cond, what) _Static_assert(cond, "asm_offsets.h out of date: " what)

HV_ASM_CHECK(offsetof(struct hv_vcpu, gprs) == HV_ASM_VCPU_GPRS, "hv_vcpu.gprs");
HV_ASM_CHECK(sizeof(((struct hv_gprs *)0)->r[0]) == 8, "gpr width");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_RAX * 8 == HV_ASM_GPR_RAX, "RAX");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_RCX * 8 == HV_ASM_GPR_RCX, "RCX");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_RDX * 8 == HV_ASM_GPR_RDX, "RDX");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_RBX * 8 == HV_ASM_GPR_RBX, "RBX");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_RSP * 8 == HV_ASM_GPR_RSP, "RSP");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_RBP * 8 == HV_ASM_GPR_RBP, "RBP");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_RSI * 8 == HV_ASM_GPR_RSI, "RSI");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_RDI * 8 == HV_ASM_GPR_RDI, "RDI");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_R8 * 8 == HV_ASM_GPR_R8, "R8");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_R9 * 8 == HV_ASM_GPR_R9, "R9");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_R10 * 8 == HV_ASM_GPR_R10, "R10");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_R11 * 8 == HV_ASM_GPR_R11, "R11");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_R12 * 8 == HV_ASM_GPR_R12, "R12");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_R13 * 8 == HV_ASM_GPR_R13, "R13");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_R14 * 8 == HV_ASM_GPR_R14, "R14");
HV_ASM_CHECK(offsetof(struct hv_gprs, r) + HV_GPR_R15 * 8 == HV_ASM_GPR_R15, "R15");
HV_ASM_CHECK(sizeof(struct hv_gprs) == 16 * 8, "hv_gprs size");

HV_ASM_CHECK(offsetof(struct hv_guest_resume, rip) == HV_ASM_RESUME_RIP, "resume.rip");
HV_ASM_CHECK(offsetof(struct hv_guest_resume, rsp) == HV_ASM_RESUME_RSP, "resume.rsp");
HV_ASM_CHECK(offsetof(struct hv_guest_resume, rflags) == HV_ASM_RESUME_RFLAGS, "resume.rflags");
HV_ASM_CHECK(sizeof(((struct hv_guest_resume *)0)->rip) == 8 &&
             sizeof(((struct hv_guest_resume *)0)->rsp) == 8 &&
             sizeof(((struct hv_guest_resume *)0)->rflags) == 8, "resume field width");

HV_ASM_CHECK(HV_VMCS_VM_INSTRUCTION_ERROR == HV_ASM_VMCS_VM_INSTRUCTION_ERROR, "VM_INSTRUCTION_ERROR");
HV_ASM_CHECK(HV_VMCS_GUEST_RSP == HV_ASM_VMCS_GUEST_RSP, "GUEST_RSP");
HV_ASM_CHECK(HV_VMCS_GUEST_RIP == HV_ASM_VMCS_GUEST_RIP, "GUEST_RIP");
HV_ASM_CHECK(HV_VMCS_HOST_RSP == HV_ASM_VMCS_HOST_RSP, "HOST_RSP");

HV_ASM_CHECK(HV_STATUS_SUCCESS == HV_ASM_STATUS_SUCCESS, "SUCCESS");
HV_ASM_CHECK(HV_STATUS_EXCEPTION_GENERAL_PROTECTION == HV_ASM_STATUS_EXCEPTION_GP, "EXCEPTION_GP");
HV_ASM_CHECK(HV_STATUS_ACCESS_VIOLATION == HV_ASM_STATUS_ACCESS_VIOLATION, "ACCESS_VIOLATION");
HV_ASM_CHECK(HV_STATUS_VMX_FAIL_INVALID == HV_ASM_STATUS_VMX_FAIL_INVALID, "VMX_FAIL_INVALID");
HV_ASM_CHECK(HV_STATUS_INTERNAL_ERROR == HV_ASM_STATUS_INTERNAL_ERROR, "INTERNAL_ERROR");
HV_ASM_CHECK(HV_STATUS_VM_INSTRUCTION_ERROR_BASE == HV_ASM_STATUS_VM_INSTRUCTION_ERROR_BASE,
             "VM_INSTRUCTION_ERROR_BASE");
HV_ASM_CHECK(HV_STATUS_VM_INSTRUCTION_ERROR(0x1234) ==
             (HV_ASM_STATUS_VM_INSTRUCTION_ERROR_BASE | 0x34), "VM_INSTRUCTION_ERROR(n) keeps the low byte");

HV_ASM_CHECK(HV_ACTION_RESUME == HV_ASM_ACTION_RESUME, "ACTION_RESUME");
HV_ASM_CHECK(HV_ACTION_SKIP == HV_ASM_ACTION_SKIP, "ACTION_SKIP");
HV_ASM_CHECK(HV_ACTION_FATAL == HV_ASM_ACTION_FATAL, "ACTION_FATAL");
HV_ASM_CHECK(HV_ACTION_DEVIRTUALIZE == HV_ASM_ACTION_DEVIRTUALIZE, "ACTION_DEVIRTUALIZE");

HV_ASM_CHECK(offsetof(struct hv_idt_frame, r11) == 0, "idt frame: r11 pushed last");
HV_ASM_CHECK(offsetof(struct hv_idt_frame, rbx) == 72, "idt frame: rbx pushed first");
HV_ASM_CHECK(offsetof(struct hv_idt_frame, vector) == HV_ASM_IDT_FRAME_VECTOR, "idt frame: vector");
HV_ASM_CHECK(offsetof(struct hv_idt_frame, error_code) == HV_ASM_IDT_FRAME_VECTOR + 8, "idt frame: error");
HV_ASM_CHECK(offsetof(struct hv_idt_frame, rip) == HV_ASM_IDT_FRAME_VECTOR + 16, "idt frame: rip");
HV_ASM_CHECK(offsetof(struct hv_idt_frame, ss) == HV_ASM_IDT_FRAME_VECTOR + 48, "idt frame: ss");
HV_ASM_CHECK(sizeof(struct hv_idt_frame) == HV_ASM_IDT_FRAME_SIZE, "idt frame size");

HV_ASM_CHECK(sizeof(struct hv_extable_entry) == 8 &&
             offsetof(struct hv_extable_entry, insn) == 0 &&
             offsetof(struct hv_extable_entry, fixup) == 4, "extable entry layout");
