#include "support.h"

#include <stdio.h>

static void fail_handler(void *ctx, const char *msg)
{
    (void)ctx;
    fail_msg("mock failure: %s", msg);
}

static void count_handler(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

void support_fail_on_mock_failure(void)
{
    hv_mock_set_failure_handler(fail_handler, NULL);
}

void support_count_mock_failures(void)
{
    hv_mock_set_failure_handler(count_handler, NULL);
}

int support_setup_machine(uint32_t ncpus, enum hv_mock_profile profile)
{
    hv_status_t st = hv_mock_init(ncpus, profile);

    support_fail_on_mock_failure();
    return st == HV_STATUS_SUCCESS ? 0 : -1;
}

struct hv *support_start_hv(void)
{
    struct hv *hv = NULL;

    assert_int_equal(hv_create(&hv, hv_mock_os(), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_SUCCESS);
    return hv;
}

void support_stop_hv(struct hv *hv)
{
    assert_int_equal(hv_stop(hv), HV_STATUS_SUCCESS);
    hv_destroy(hv);
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
}

uint64_t support_field_on(uint32_t cpu, uint32_t field)
{
    uint64_t v = 0;

    if (!hv_mock_vmcs_peek_on(cpu, field, &v))
        fail_msg("cpu %u: %s never written", cpu, hv_vmcs_field_name(field));
    return v;
}
