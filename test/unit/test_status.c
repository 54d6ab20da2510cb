/* Status codes: the well-known values are fixed forever, names are right. */
#include "support.h"

#include <string.h>

static void well_known_values_are_exact(void **state)
{
    (void)state;
    assert_int_equal(HV_STATUS_SUCCESS, 0x0u);
    assert_int_equal(HV_STATUS_INSUFFICIENT_RESOURCES, 0xC0000002u);
    assert_int_equal(HV_STATUS_READ_FAILED, 0xC0000003u);
    assert_int_equal(HV_STATUS_WRITE_FAILED, 0xC0000004u);
    assert_int_equal(HV_STATUS_TIMEOUT, 0xC0000007u);
    assert_int_equal(HV_STATUS_INVALID_PARAMETER, 0xC0000010u);
    assert_int_equal(HV_STATUS_INVALID_PACKET, 0xC0000031u);
    assert_int_equal(HV_STATUS_DEVICE_CONNECTION_LOST, 0xC0000308u);
    assert_int_equal(HV_STATUS_EXCEPTION_GENERAL_PROTECTION, 0xC001000Du);
    assert_int_equal(sizeof(hv_status_t), 4);
}

static void names_cover_every_code(void **state)
{
    static const struct { hv_status_t st; const char *name; } cases[] = {
        { HV_STATUS_SUCCESS, "SUCCESS" },
        { HV_STATUS_INSUFFICIENT_RESOURCES, "INSUFFICIENT_RESOURCES" },
        { HV_STATUS_READ_FAILED, "READ_FAILED" },
        { HV_STATUS_WRITE_FAILED, "WRITE_FAILED" },
        { HV_STATUS_TIMEOUT, "TIMEOUT" },
        { HV_STATUS_ACCESS_DENIED, "ACCESS_DENIED" },
        { HV_STATUS_INVALID_PARAMETER, "INVALID_PARAMETER" },
        { HV_STATUS_INVALID_PACKET, "INVALID_PACKET" },
        { HV_STATUS_DEVICE_CONNECTION_LOST, "DEVICE_CONNECTION_LOST" },
        { HV_STATUS_EXCEPTION_GENERAL_PROTECTION, "EXCEPTION_GENERAL_PROTECTION" },
        { HV_STATUS_VMX_NOT_SUPPORTED, "VMX_NOT_SUPPORTED" },
        { HV_STATUS_VMX_DISABLED_BY_FIRMWARE, "VMX_DISABLED_BY_FIRMWARE" },
        { HV_STATUS_VMX_IN_USE, "VMX_IN_USE" },
        { HV_STATUS_UNSUPPORTED, "UNSUPPORTED" },
        { HV_STATUS_VM_ENTRY_FAILED, "VM_ENTRY_FAILED" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(hv_status_name(cases[i].st), cases[i].name);
    assert_string_equal(hv_status_name(0x12345678u), "UNKNOWN_STATUS");
}

static void vm_instruction_error_travels_in_the_status(void **state)
{
    hv_status_t st = HV_STATUS_VM_INSTRUCTION_ERROR(7);

    (void)state;
    assert_true(hv_status_is_vm_instruction_error(st));
    assert_int_equal(hv_status_vm_instruction_error(st), 7);
    assert_string_equal(hv_status_name(st), "VM_INSTRUCTION_ERROR");
    assert_string_equal(hv_vm_instruction_error_text(7), "VM entry with invalid control field(s)");
    assert_string_equal(hv_vm_instruction_error_text(15), "VMXON executed in VMX root operation");
    assert_string_equal(hv_vm_instruction_error_text(99), "unknown VM-instruction error");
    assert_false(hv_status_is_vm_instruction_error(HV_STATUS_VMX_IN_USE));
    assert_int_equal(hv_status_vm_instruction_error(HV_STATUS_SUCCESS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_known_values_are_exact),
        cmocka_unit_test(names_cover_every_code),
        cmocka_unit_test(vm_instruction_error_travels_in_the_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
