/* SPDX-License-Identifier: MIT */
/*
 * Debugger protocol helpers shared by the stub and the client
 * (hvcore/debugger.h): header encoding and checking, message names.
 * Freestanding; the header is read and written byte by byte so the
 * little-endian layout holds whatever the host's byte order.
 */
#include <hvcore/debugger.h>

#include "lib.h"

/* The wire layouts of version 1 (debugger.h): a change here breaks every peer. */
_Static_assert(sizeof(struct hv_dbg_header) == 16, "hv_dbg_header layout");
_Static_assert(sizeof(struct hv_dbg_hello) == 56, "hv_dbg_hello layout");
_Static_assert(sizeof(struct hv_dbg_stop) == 176, "hv_dbg_stop layout");
_Static_assert(sizeof(struct hv_dbg_core_req) == 8, "hv_dbg_core_req layout");
_Static_assert(sizeof(struct hv_dbg_segment) == 24, "hv_dbg_segment layout");
_Static_assert(sizeof(struct hv_dbg_regs) == 456, "hv_dbg_regs layout");
_Static_assert(sizeof(struct hv_dbg_set_reg) == 16, "hv_dbg_set_reg layout");
_Static_assert(sizeof(struct hv_dbg_read_mem) == 16, "hv_dbg_read_mem layout");
_Static_assert(sizeof(struct hv_dbg_mem_reply) == 16, "hv_dbg_mem_reply layout");
_Static_assert(sizeof(struct hv_abi_msr_op) == 24, "hv_abi_msr_op layout");
_Static_assert(sizeof(struct hv_abi_msr_result) == 24, "hv_abi_msr_result layout");
_Static_assert(16u + sizeof(struct hv_dbg_msr_reply) + HV_DBG_MAX_CORES * sizeof(struct hv_abi_msr_result)
                   <= HV_DBG_MAX_MESSAGE, "an MSR reply for every core fits one message");
_Static_assert(16u + sizeof(struct hv_dbg_mem_reply) + HV_DBG_MAX_READ <= HV_DBG_MAX_MESSAGE,
               "a READ_MEM reply fits one message");

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

void hv_dbg_header_put(void *buf, uint16_t type, uint32_t tag, hv_status_t status, uint32_t length)
{
    uint8_t *p = buf;

    if (p == NULL)
        return;
    put_le16(p, (uint16_t)HV_DBG_VERSION);
    put_le16(p + 2, type);
    hv_lib_put_le32(p + 4, tag);
    hv_lib_put_le32(p + 8, status);
    hv_lib_put_le32(p + 12, length);
}

hv_status_t hv_dbg_header_check(const void *payload, uint32_t len, struct hv_dbg_header *out)
{
    const uint8_t *p = payload;
    struct hv_dbg_header h;

    if (p == NULL || out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (len < sizeof(struct hv_dbg_header))
        return HV_STATUS_INVALID_PACKET;
    h.version = get_le16(p);
    h.type = get_le16(p + 2);
    h.tag = hv_lib_get_le32(p + 4);
    h.status = hv_lib_get_le32(p + 8);
    h.length = hv_lib_get_le32(p + 12);
    *out = h;
    if (h.version != HV_DBG_VERSION || len > HV_DBG_MAX_MESSAGE)
        return HV_STATUS_INVALID_PACKET;
    if (h.length != len - (uint32_t)sizeof(struct hv_dbg_header))
        return HV_STATUS_INVALID_PACKET;
    return HV_STATUS_SUCCESS;
}

/* Indexed by message type (the reply bit masked off); gaps are NULL and
 * fall back to "UNKNOWN". */
static const char *const msg_names[] = {
    [HV_DBG_MSG_HELLO] = "HELLO",
    [HV_DBG_MSG_STATUS] = "STATUS",
    [HV_DBG_MSG_PAUSE] = "PAUSE",
    [HV_DBG_MSG_GO] = "GO",
    [HV_DBG_MSG_GET_REGS] = "GET_REGS",
    [HV_DBG_MSG_SET_REG] = "SET_REG",
    [HV_DBG_MSG_SWITCH_CORE] = "SWITCH_CORE",
    [HV_DBG_MSG_MSR] = "MSR",
    [HV_DBG_MSG_READ_MEM] = "READ_MEM",
    [HV_DBG_MSG_EVENT] = "EVENT",
    [HV_DBG_MSG_EVENT_RESULTS] = "EVENT_RESULTS",
    [HV_DBG_MSG_EVENT_DISCARD] = "EVENT_DISCARD",
    [HV_DBG_MSG_STOP] = "STOP",
};

const char *hv_dbg_msg_name(uint16_t type)
{
    uint16_t t = (uint16_t)(type & ~HV_DBG_REPLY);

    if (t >= sizeof(msg_names) / sizeof(msg_names[0]) || msg_names[t] == NULL)
        return "UNKNOWN";
    return msg_names[t];
}
