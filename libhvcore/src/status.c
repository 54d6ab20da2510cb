/* SPDX-License-Identifier: MIT */
#include <hvcore/status.h>

#include <stddef.h>

struct status_name {
    hv_status_t status;
    const char *name;
};

static const struct status_name status_names[] = {
    { HV_STATUS_SUCCESS, "SUCCESS" },
    { HV_STATUS_INSUFFICIENT_RESOURCES, "INSUFFICIENT_RESOURCES" },
    { HV_STATUS_READ_FAILED, "READ_FAILED" },
    { HV_STATUS_WRITE_FAILED, "WRITE_FAILED" },
    { HV_STATUS_ACCESS_VIOLATION, "ACCESS_VIOLATION" },
    { HV_STATUS_TIMEOUT, "TIMEOUT" },
    { HV_STATUS_ACCESS_DENIED, "ACCESS_DENIED" },
    { HV_STATUS_INVALID_PARAMETER, "INVALID_PARAMETER" },
    { HV_STATUS_INVALID_PACKET, "INVALID_PACKET" },
    { HV_STATUS_DEVICE_CONNECTION_LOST, "DEVICE_CONNECTION_LOST" },
    { HV_STATUS_EXCEPTION_GENERAL_PROTECTION, "EXCEPTION_GENERAL_PROTECTION" },
    { HV_STATUS_VMX_NOT_SUPPORTED, "VMX_NOT_SUPPORTED" },
    { HV_STATUS_VMX_DISABLED_BY_FIRMWARE, "VMX_DISABLED_BY_FIRMWARE" },
    { HV_STATUS_VMX_IN_USE, "VMX_IN_USE" },
    { HV_STATUS_VMX_FAIL_INVALID, "VMX_FAIL_INVALID" },
    { HV_STATUS_UNSUPPORTED, "UNSUPPORTED" },
    { HV_STATUS_VMX_BASIC_UNSUPPORTED, "VMX_BASIC_UNSUPPORTED" },
    { HV_STATUS_CR_FIXED_BITS, "CR_FIXED_BITS" },
    { HV_STATUS_NOT_VIRTUALIZED, "NOT_VIRTUALIZED" },
    { HV_STATUS_ALREADY_VIRTUALIZED, "ALREADY_VIRTUALIZED" },
    { HV_STATUS_VM_ENTRY_FAILED, "VM_ENTRY_FAILED" },
    { HV_STATUS_VMCS_FIELD_UNSUPPORTED, "VMCS_FIELD_UNSUPPORTED" },
    { HV_STATUS_CPU_CALL_FAILED, "CPU_CALL_FAILED" },
    { HV_STATUS_BAD_DESCRIPTOR, "BAD_DESCRIPTOR" },
    { HV_STATUS_INTERNAL_ERROR, "INTERNAL_ERROR" },
    { HV_STATUS_BAD_OS_OPS, "BAD_OS_OPS" },
    { HV_STATUS_NOT_FOUND, "NOT_FOUND" },
    { HV_STATUS_GUEST_PAGE_NOT_PRESENT, "GUEST_PAGE_NOT_PRESENT" },
    { HV_STATUS_GUEST_ADDRESS_NONCANONICAL, "GUEST_ADDRESS_NONCANONICAL" },
    { HV_STATUS_GUEST_PAGE_RESERVED_BIT, "GUEST_PAGE_RESERVED_BIT" },
    { HV_STATUS_SCRIPT_INVALID, "SCRIPT_INVALID" },
    { HV_STATUS_SCRIPT_BUDGET_EXHAUSTED, "SCRIPT_BUDGET_EXHAUSTED" },
    { HV_STATUS_SCRIPT_RUNTIME_ERROR, "SCRIPT_RUNTIME_ERROR" },
    { HV_STATUS_TARGET_RUNNING, "TARGET_RUNNING" },
};

const char *hv_status_name(hv_status_t status)
{
    size_t i;

    if (hv_status_is_vm_instruction_error(status))
        return "VM_INSTRUCTION_ERROR";
    for (i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if (status_names[i].status == status)
            return status_names[i].name;
    }
    return "UNKNOWN_STATUS";
}

/* SDM Vol. 3C, 31.4, Table 31-1 "VM-Instruction Error Numbers". */
static const char *const vm_instruction_errors[] = {
    [1] = "VMCALL executed in VMX root operation",
    [2] = "VMCLEAR with invalid physical address",
    [3] = "VMCLEAR with VMXON pointer",
    [4] = "VMLAUNCH with non-clear VMCS",
    [5] = "VMRESUME with non-launched VMCS",
    [6] = "VMRESUME after VMXOFF",
    [7] = "VM entry with invalid control field(s)",
    [8] = "VM entry with invalid host-state field(s)",
    [9] = "VMPTRLD with invalid physical address",
    [10] = "VMPTRLD with VMXON pointer",
    [11] = "VMPTRLD with incorrect VMCS revision identifier",
    [12] = "VMREAD/VMWRITE from/to unsupported VMCS component",
    [13] = "VMWRITE to read-only VMCS component",
    [15] = "VMXON executed in VMX root operation",
    [16] = "VM entry with invalid executive-VMCS pointer",
    [17] = "VM entry with non-launched executive VMCS",
    [18] = "VM entry with executive-VMCS pointer not VMXON pointer",
    [19] = "VMCALL with non-clear VMCS",
    [20] = "VMCALL with invalid VM-exit control fields",
    [22] = "VMCALL with incorrect MSEG revision identifier",
    [23] = "VMXOFF under dual-monitor treatment of SMIs and SMM",
    [24] = "VMCALL with invalid SMM-monitor features",
    [25] = "VM entry with invalid VM-execution control fields in executive VMCS",
    [26] = "VM entry with events blocked by MOV SS",
    [28] = "Invalid operand to INVEPT/INVVPID",
};

const char *hv_vm_instruction_error_text(uint32_t number)
{
    if (number < sizeof(vm_instruction_errors) / sizeof(vm_instruction_errors[0]) &&
        vm_instruction_errors[number] != NULL)
        return vm_instruction_errors[number];
    return "unknown VM-instruction error";
}
