/* The VMCS field table and the mock VMCS's width / unseeded-read checks. */
#include "support.h"

#include <string.h>

static int setup(void **state)
{
    (void)state;
    if (support_setup_machine(1, HV_MOCK_PROFILE_HASWELL))
        return -1;
    return hv_mock_vmcs_make_current() == HV_STATUS_SUCCESS ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hv_mock_fini();
    return 0;
}

static void encodings_match_the_sdm(void **state)
{
    (void)state;
    /* Spot checks against SDM Vol. 3D, Appendix B. */
    assert_int_equal(HV_VMCS_GUEST_DR7, 0x681A);
    assert_int_equal(HV_VMCS_VM_EXIT_REASON, 0x4402);
    assert_int_equal(HV_VMCS_EXIT_QUALIFICATION, 0x6400);
    assert_int_equal(HV_VMCS_GUEST_IA32_EFER, 0x2806);
    assert_int_equal(HV_VMCS_GUEST_SMBASE, 0x4828);
    assert_int_equal(HV_VMCS_HOST_RIP, 0x6C16);
    assert_int_equal(HV_VMCS_VPID, 0x0000);
    assert_int_equal(HV_VMCS_FIELD_WIDTH(HV_VMCS_GUEST_DR7), HV_VMCS_WNAT);
    assert_int_equal(HV_VMCS_FIELD_WIDTH(HV_VMCS_VM_EXIT_REASON), HV_VMCS_W32);
    assert_int_equal(HV_VMCS_FIELD_WIDTH(HV_VMCS_MSR_BITMAP), HV_VMCS_W64);
    assert_int_equal(HV_VMCS_FIELD_WIDTH(HV_VMCS_GUEST_CS_SELECTOR), HV_VMCS_W16);
}

static void slots_and_names_round_trip(void **state)
{
    int slot;

    (void)state;
    for (slot = 0; slot < (int)HV_VMCS_FIELD_COUNT; slot++) {
        uint32_t enc = hv_vmcs_slot_encoding(slot);

        assert_int_equal(hv_vmcs_field_slot(enc), slot);
        assert_string_not_equal(hv_vmcs_field_name(enc), "?");
    }
    assert_string_equal(hv_vmcs_field_name(HV_VMCS_GUEST_DR7), "GUEST_DR7");
    assert_int_equal(hv_vmcs_field_slot(0x7FFF), -1);
    assert_string_equal(hv_vmcs_field_name(0x7FFF), "?");
    assert_int_equal(hv_vmcs_slot_encoding(-1), 0xFFFFFFFFu);
    assert_int_equal(hv_vmcs_slot_encoding(HV_VMCS_FIELD_COUNT), 0xFFFFFFFFu);
}

static void typed_accessors_round_trip_and_truncate(void **state)
{
    (void)state;
    assert_int_equal(hv_vmcs_write16(HV_VMCS_GUEST_CS_SELECTOR, 0x10), HV_STATUS_SUCCESS);
    assert_int_equal(hv_vmcs_read16(HV_VMCS_GUEST_CS_SELECTOR), 0x10);
    assert_int_equal(hv_vmcs_writenat(HV_VMCS_GUEST_DR7, 0x400), HV_STATUS_SUCCESS);
    assert_int_equal(hv_vmcs_readnat(HV_VMCS_GUEST_DR7), 0x400);
    /* A 32-bit field keeps 32 bits, as VMWRITE does. */
    assert_int_equal(hv_vmcs_write(HV_VMCS_GUEST_ES_LIMIT, 0x1FFFFFFFFull), HV_STATUS_SUCCESS);
    assert_int_equal(hv_vmcs_read32(HV_VMCS_GUEST_ES_LIMIT), 0xFFFFFFFFu);
}

static void width_mismatch_is_caught(void **state)
{
    uint32_t before;

    (void)state;
    assert_int_equal(hv_vmcs_writenat(HV_VMCS_GUEST_DR7, 0x400), HV_STATUS_SUCCESS);
    support_count_mock_failures();
    before = hv_mock_failure_count();
    /* Claim 32 bits for a natural-width field: the mock must object. */
    (void)hv_vmcs_backend_read(HV_VMCS_GUEST_DR7, HV_VMCS_W32, &(uint64_t){0});
    assert_int_equal(hv_mock_failure_count(), before + 1);
    assert_non_null(strstr(hv_mock_last_failure(), "GUEST_DR7"));
    (void)hv_vmcs_backend_write(HV_VMCS_GUEST_CS_SELECTOR, HV_VMCS_WNAT, 1);
    assert_int_equal(hv_mock_failure_count(), before + 2);
    support_fail_on_mock_failure();
}

static void unseeded_read_fails_the_test(void **state)
{
    uint64_t v = 123;
    uint32_t before;

    (void)state;
    support_count_mock_failures();
    before = hv_mock_failure_count();
    assert_int_not_equal(hv_vmcs_read(HV_VMCS_GUEST_RIP, &v), HV_STATUS_SUCCESS);
    assert_int_equal(v, 0);
    assert_int_equal(hv_mock_failure_count(), before + 1);
    assert_non_null(strstr(hv_mock_last_failure(), "GUEST_RIP"));
    support_fail_on_mock_failure();
}

static void unknown_and_read_only_fields_fail_like_hardware(void **state)
{
    (void)state;
    support_count_mock_failures();
    assert_int_equal(hv_vmcs_write(0x7FFE, 1), HV_STATUS_VM_INSTRUCTION_ERROR(12));
    /* VMWRITE to a read-only data field: VM-instruction error 13. */
    assert_int_equal(hv_vmcs_write(HV_VMCS_VM_EXIT_REASON, 1), HV_STATUS_VM_INSTRUCTION_ERROR(13));
    support_fail_on_mock_failure();
    /* ...but a test may seed it to simulate an exit. */
    hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_REASON, HV_EXIT_CPUID);
    assert_int_equal(hv_vmcs_read32(HV_VMCS_VM_EXIT_REASON), HV_EXIT_CPUID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(encodings_match_the_sdm, setup, teardown),
        cmocka_unit_test_setup_teardown(slots_and_names_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(typed_accessors_round_trip_and_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(width_mismatch_is_caught, setup, teardown),
        cmocka_unit_test_setup_teardown(unseeded_read_fails_the_test, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_and_read_only_fields_fail_like_hardware, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
