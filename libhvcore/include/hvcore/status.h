/* SPDX-License-Identifier: MIT */
/*
 * libhvcore status codes.
 *
 * 32-bit NTSTATUS-style values, identical on every platform and on the wire,
 * so a status printed by the Linux module, the Windows driver, the UEFI
 * image or the user-mode client means the same thing everywhere.
 *
 * Layout (as NTSTATUS): bits 31:30 severity (3 = error), bit 29 customer,
 * bits 27:16 facility, bits 15:0 code. The well-known values below are the
 * ones users of the PsWriteMsr-style SDK already check for; the core's own
 * codes use the customer bit and facility 0x0E1 ("hv") so they can never
 * collide with an OS status.
 */
#ifndef HVCORE_STATUS_H
#define HVCORE_STATUS_H

#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A status: HV_STATUS_SUCCESS (0) or one of the error values below. */
typedef uint32_t hv_status_t;

/* Well-known values (must never change). */
#define HV_STATUS_SUCCESS                       0x00000000u
#define HV_STATUS_INSUFFICIENT_RESOURCES        0xC0000002u
#define HV_STATUS_READ_FAILED                   0xC0000003u
#define HV_STATUS_WRITE_FAILED                  0xC0000004u
#define HV_STATUS_ACCESS_VIOLATION              0xC0000005u
#define HV_STATUS_TIMEOUT                       0xC0000007u
#define HV_STATUS_ACCESS_DENIED                 0xC0000022u
#define HV_STATUS_INVALID_PARAMETER             0xC0000010u
#define HV_STATUS_INVALID_PACKET                0xC0000031u
#define HV_STATUS_DEVICE_CONNECTION_LOST        0xC0000308u
#define HV_STATUS_EXCEPTION_GENERAL_PROTECTION  0xC001000Du

/* The core's own codes: severity error, customer bit, facility 0x0E1. */
#define HV_STATUS_CORE_BASE                     0xE0E10000u

/* CPUID.1:ECX.VMX[bit 5] is clear: this CPU has no VT-x. */
#define HV_STATUS_VMX_NOT_SUPPORTED             0xE0E10001u
/* IA32_FEATURE_CONTROL is locked with "VMX outside SMX" off (SDM Vol. 3, 24.7). */
#define HV_STATUS_VMX_DISABLED_BY_FIRMWARE      0xE0E10002u
/* VMXON refused because the CPU is already in VMX operation (another hypervisor). */
#define HV_STATUS_VMX_IN_USE                    0xE0E10003u
/* A VMX instruction failed with VMfailInvalid (no current VMCS / bad pointer). */
#define HV_STATUS_VMX_FAIL_INVALID              0xE0E10004u
/* A required VMX capability or control is not offered by this CPU. */
#define HV_STATUS_UNSUPPORTED                   0xE0E10005u
/* IA32_VMX_BASIC reports a VMCS memory type other than write-back, or a
 * 32-bit physical-address limit, which this core does not handle. */
#define HV_STATUS_VMX_BASIC_UNSUPPORTED         0xE0E10006u
/* CR0/CR4 cannot satisfy the VMX fixed-bit MSRs (e.g. paging off). */
#define HV_STATUS_CR_FIXED_BITS                 0xE0E10007u
/* The operation needs a virtualized core and this one is not (or the reverse). */
#define HV_STATUS_NOT_VIRTUALIZED               0xE0E10008u
/* The operation needs a core that is not virtualized yet (or handlers that
 * are not frozen by hv_start()). */
#define HV_STATUS_ALREADY_VIRTUALIZED           0xE0E10009u
/* VM entry failed with an entry-failure exit (reason bit 31; SDM Vol. 3, 27.8). */
#define HV_STATUS_VM_ENTRY_FAILED               0xE0E1000Au
/* A VMCS field this CPU does not implement (VMfailValid error 12). */
#define HV_STATUS_VMCS_FIELD_UNSUPPORTED        0xE0E1000Bu
/* The OS layer could not run a callback on the requested CPU. */
#define HV_STATUS_CPU_CALL_FAILED               0xE0E1000Cu
/* A guest descriptor (GDT entry, selector) is malformed or out of the table. */
#define HV_STATUS_BAD_DESCRIPTOR                0xE0E1000Du
/* An invariant of the core was broken; the message log says which. */
#define HV_STATUS_INTERNAL_ERROR                0xE0E1000Eu
/* The OS vtable is missing a member this operation needs, or is too old. */
#define HV_STATUS_BAD_OS_OPS                    0xE0E1000Fu
/* Something with this id does not exist. */
#define HV_STATUS_NOT_FOUND                     0xE0E10010u
/* Guest memory (exit/guest_mem.c): a paging-structure entry on the walk of
 * a guest linear address is not present (the guest itself would take #PF;
 * SDM Vol. 3A, 4.7). */
#define HV_STATUS_GUEST_PAGE_NOT_PRESENT        0xE0E10040u
/* A guest linear address that is not canonical for the guest's paging mode
 * (48 or 57 bits, SDM Vol. 3A, 4.5), or above 4 GiB outside IA-32e mode. */
#define HV_STATUS_GUEST_ADDRESS_NONCANONICAL    0xE0E10041u
/* A paging-structure entry on the walk has a reserved bit set (PS in a
 * PML4E/PML5E, reserved PDPTE bits in PAE mode): the guest would take a
 * #PF with RSVD (SDM Vol. 3A, 4.7). */
#define HV_STATUS_GUEST_PAGE_RESERVED_BIT       0xE0E10045u
/* Script engine (script/): bytecode the verifier refuses. */
#define HV_STATUS_SCRIPT_INVALID                0xE0E10042u
/* A script ran out of its instruction budget and was stopped. */
#define HV_STATUS_SCRIPT_BUDGET_EXHAUSTED       0xE0E10043u
/* A script stopped at a run-time error (a bad memory address, division by
 * zero, ...); its record says which. */
#define HV_STATUS_SCRIPT_RUNTIME_ERROR          0xE0E10044u
/* Debugger Mode (debugger.h): the request needs a halted target and the
 * target is running (send PAUSE first). */
#define HV_STATUS_TARGET_RUNNING                0xE0E10050u

/*
 * VMfailValid: the VM-instruction error number (SDM Vol. 3, 31.4) is
 * carried in the low byte, so a single status says *which* error the CPU
 * reported, e.g. 0xE0E11007 = "VM entry with invalid control field(s)".
 */
#define HV_STATUS_VM_INSTRUCTION_ERROR_BASE     0xE0E11000u
/* The status for VM-instruction error number `n` (low byte). */
#define HV_STATUS_VM_INSTRUCTION_ERROR(n)       (HV_STATUS_VM_INSTRUCTION_ERROR_BASE | ((uint32_t)(n) & 0xFFu))

/* True for HV_STATUS_SUCCESS only. Context: any. */
static inline bool hv_success(hv_status_t s) { return s == HV_STATUS_SUCCESS; }

/* True if `s` carries a VM-instruction error number
 * (HV_STATUS_VM_INSTRUCTION_ERROR(n); SDM Vol. 3C, 31.4). Context: any. */
static inline bool hv_status_is_vm_instruction_error(hv_status_t s)
{
    return (s & ~0xFFu) == HV_STATUS_VM_INSTRUCTION_ERROR_BASE;
}

/* The VM-instruction error number carried by such a status, else 0.
 * Context: any. */
static inline uint32_t hv_status_vm_instruction_error(hv_status_t s)
{
    return hv_status_is_vm_instruction_error(s) ? (s & 0xFFu) : 0u;
}

/* Symbolic name ("INVALID_PARAMETER", "VM_INSTRUCTION_ERROR", ...); never
 * NULL ("UNKNOWN_STATUS" for a value not listed here). Context: any (a static table). */
const char *hv_status_name(hv_status_t status);

/* Text of a VM-instruction error number (SDM Vol. 3C, 31.4, Table 31-1);
 * never NULL. Context: any (a static table). */
const char *hv_vm_instruction_error_text(uint32_t number);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_STATUS_H */
