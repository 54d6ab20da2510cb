/*
 * The debugger protocol (hvcore/debugger.h): message header checks and
 * names. The stub's tests (fake UART, halting, commands) are in
 * test_debugger_stub.c.
 */
#include "support.h"

#include <hvcore/debugger.h>

#include <string.h>

/* Given a header written by hv_dbg_header_put, when it is checked with the
 * matching payload length, then every field comes back. */
static void header_round_trips(void **state)
{
    uint8_t buf[16 + 8];
    struct hv_dbg_header h;

    (void)state;
    hv_dbg_header_put(buf, HV_DBG_MSG_GET_REGS | HV_DBG_REPLY, 0x01020304u, HV_STATUS_TARGET_RUNNING, 8);
    assert_int_equal(buf[0], 1);
    assert_int_equal(buf[1], 0);
    assert_int_equal(buf[2], 0x10);
    assert_int_equal(buf[3], 0x80);
    assert_int_equal(buf[4], 0x04);
    assert_int_equal(buf[7], 0x01);
    assert_int_equal(hv_dbg_header_check(buf, sizeof(buf), &h), HV_STATUS_SUCCESS);
    assert_int_equal(h.version, HV_DBG_VERSION);
    assert_int_equal(h.type, HV_DBG_MSG_GET_REGS | HV_DBG_REPLY);
    assert_int_equal(h.tag, 0x01020304u);
    assert_int_equal(h.status, HV_STATUS_TARGET_RUNNING);
    assert_int_equal(h.length, 8);
}

/* Malformed headers are INVALID_PACKET, never read past the payload. */
static void header_rejects_malformed(void **state)
{
    uint8_t buf[64];
    struct hv_dbg_header h;

    (void)state;
    memset(buf, 0, sizeof(buf));
    hv_dbg_header_put(buf, HV_DBG_MSG_HELLO, 1, 0, 0);
    assert_int_equal(hv_dbg_header_check(buf, 15, &h), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_dbg_header_check(buf, 17, &h), HV_STATUS_INVALID_PACKET); /* length says 0 */
    assert_int_equal(hv_dbg_header_check(buf, 16, &h), HV_STATUS_SUCCESS);
    buf[0] = 2; /* another version: the header is still reported */
    assert_int_equal(hv_dbg_header_check(buf, 16, &h), HV_STATUS_INVALID_PACKET);
    assert_int_equal(h.version, 2);
    assert_int_equal(h.type, HV_DBG_MSG_HELLO);
    assert_int_equal(hv_dbg_header_check(NULL, 16, &h), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_dbg_header_check(buf, 16, NULL), HV_STATUS_INVALID_PARAMETER);
    hv_dbg_header_put(buf, HV_DBG_MSG_HELLO, 1, 0, 0xFFFFFFF0u); /* length wraps nothing */
    assert_int_equal(hv_dbg_header_check(buf, 16, &h), HV_STATUS_INVALID_PACKET);
}

static void names(void **state)
{
    (void)state;
    assert_string_equal(hv_dbg_msg_name(HV_DBG_MSG_STOP | HV_DBG_REPLY), "STOP");
    assert_string_equal(hv_dbg_msg_name(HV_DBG_MSG_READ_MEM), "READ_MEM");
    assert_string_equal(hv_dbg_msg_name(0x0005), "UNKNOWN");
    assert_string_equal(hv_dbg_msg_name(0x7FFF), "UNKNOWN");
    assert_string_equal(hv_status_name(HV_STATUS_TARGET_RUNNING), "TARGET_RUNNING");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_round_trips),
        cmocka_unit_test(header_rejects_malformed),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
