/*
 * hv_abi_execute_offline(): the ABI of a platform driver that is loaded but
 * not virtualized (platform/windows under Wine, or any machine where the
 * driver refuses to virtualize). Given requests in the abi.h layouts, when
 * they are executed offline, then QUERY reports every CPU as not
 * virtualized with the reason, every other request gets NOT_VIRTUALIZED,
 * and malformed ones get INVALID_PARAMETER with nothing written past size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <hvcore/abi_exec.h>

#define REASON HV_STATUS_VMX_NOT_SUPPORTED

static void hdr_init(struct hv_abi_header *h, uint32_t size)
{
    memset(h, 0, sizeof(*h));
    h->size = size;
    h->version = HV_ABI_VERSION;
}

static void query_reports_each_cpu_not_virtualized_with_reason(void **state)
{
    union { struct hv_abi_query q; uint8_t b[sizeof(struct hv_abi_query) + 4 * sizeof(struct hv_abi_cpu_state) + 64]; } u;
    size_t qsize = sizeof(struct hv_abi_query) + 3 * sizeof(struct hv_abi_cpu_state), len = 0;
    uint32_t i;

    memset(&u, 0xAB, sizeof(u));
    hdr_init(&u.q.hdr, (uint32_t)qsize);
    u.q.cpu_capacity = 3;
    assert_int_equal(hv_abi_execute_offline(5, REASON, HV_ABI_REQ_QUERY, &u, qsize, &len), HV_STATUS_SUCCESS);
    assert_int_equal(len, qsize);
    assert_int_equal(u.q.hdr.status, HV_STATUS_SUCCESS);
    assert_int_equal(u.q.abi_version, HV_ABI_VERSION);
    assert_int_equal(u.q.cpu_count, 5);
    assert_int_equal(u.q.cpus_written, 3);
    assert_int_equal(u.q.signature[0], 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(u.q.cpus[i].virtualized, 0);
        assert_int_equal(u.q.cpus[i].status, REASON);
        assert_int_equal(u.q.cpus[i].exit_count[0], 0);
    }
    /* Nothing past the request's size. */
    assert_int_equal(u.b[qsize], 0xAB);
}

static void other_requests_answer_not_virtualized(void **state)
{
    static const uint32_t reqs[] = { HV_ABI_REQ_MSR, HV_ABI_REQ_MSR_VALUES, HV_ABI_REQ_EVENT_ADD,
                                     HV_ABI_REQ_EVENT_ACTION, HV_ABI_REQ_EVENT_CTL, HV_ABI_REQ_EVENT_LIST,
                                     HV_ABI_REQ_EVENT_RINGS, HV_ABI_REQ_SCRIPT_EVAL, HV_ABI_REQ_TRACE };
    union { struct hv_abi_msr m; uint8_t b[4096]; } u;
    size_t i, len;

    for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        memset(&u, 0, sizeof(u));
        hdr_init(&u.m.hdr, 3000);
        u.m.op.msr = 0x10;
        u.m.op.core_number = HV_ABI_ALL_CORES;
        u.m.result_capacity = 4;
        len = 0;
        assert_int_equal(hv_abi_execute_offline(2, REASON, reqs[i], &u, sizeof(u), &len), HV_STATUS_NOT_VIRTUALIZED);
        assert_int_equal(u.m.hdr.status, HV_STATUS_NOT_VIRTUALIZED);
        assert_int_equal(len, 3000);
        assert_int_equal(u.m.results_written, 0); /* nothing ran */
    }
}

static void malformed_requests_are_invalid(void **state)
{
    union { struct hv_abi_query q; uint8_t b[256]; } u;
    size_t len = 99;

    /* Unknown request. */
    hdr_init(&u.q.hdr, sizeof(u.q));
    assert_int_equal(hv_abi_execute_offline(2, REASON, 0x77, &u, sizeof(u), &len), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(u.q.hdr.status, HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(len, 0);
    /* Wrong version. */
    hdr_init(&u.q.hdr, sizeof(u.q));
    u.q.hdr.version = 9;
    assert_int_equal(hv_abi_execute_offline(2, REASON, HV_ABI_REQ_QUERY, &u, sizeof(u), &len),
                     HV_STATUS_INVALID_PARAMETER);
    /* Size beyond what the caller owns. */
    hdr_init(&u.q.hdr, 4096);
    assert_int_equal(hv_abi_execute_offline(2, REASON, HV_ABI_REQ_QUERY, &u, sizeof(u), &len),
                     HV_STATUS_INVALID_PARAMETER);
    /* Shorter than the request's fixed part. */
    hdr_init(&u.q.hdr, sizeof(struct hv_abi_header) + 4);
    assert_int_equal(hv_abi_execute_offline(2, REASON, HV_ABI_REQ_MSR, &u, sizeof(u), &len),
                     HV_STATUS_INVALID_PARAMETER);
    /* A capacity the size does not cover. */
    hdr_init(&u.q.hdr, sizeof(u.q));
    u.q.cpu_capacity = 1000;
    assert_int_equal(hv_abi_execute_offline(2, REASON, HV_ABI_REQ_QUERY, &u, sizeof(u), &len),
                     HV_STATUS_INVALID_PARAMETER);
    /* A reason of SUCCESS is the caller's bug. */
    hdr_init(&u.q.hdr, sizeof(u.q));
    u.q.cpu_capacity = 0;
    assert_int_equal(hv_abi_execute_offline(2, HV_STATUS_SUCCESS, HV_ABI_REQ_QUERY, &u, sizeof(u), &len),
                     HV_STATUS_INVALID_PARAMETER);
    /* Too small for a header. */
    assert_int_equal(hv_abi_execute_offline(2, REASON, HV_ABI_REQ_QUERY, &u, 8, &len), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_abi_execute_offline(2, REASON, HV_ABI_REQ_QUERY, NULL, 64, &len), HV_STATUS_INVALID_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(query_reports_each_cpu_not_virtualized_with_reason),
        cmocka_unit_test(other_requests_answer_not_virtualized),
        cmocka_unit_test(malformed_requests_are_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
