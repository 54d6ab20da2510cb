/* SPDX-License-Identifier: MIT */
/*
 * Execute one request in the abi.h layouts against a hypervisor instance:
 * the single validation and dispatch path for every transport that
 * carries those layouts (the in-process simulator, the TCP stub; platform
 * drivers may use it too). PRE-LAUNCH context.
 *
 * `buf` holds the request and receives the response in place; `cap` is
 * the number of bytes the caller owns. The request's header.size must be
 * within cap and cover every variable part the request announces; nothing
 * outside [buf, buf + header.size) is read or written.
 */
#ifndef HVCORE_ABI_EXEC_H
#define HVCORE_ABI_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include "abi.h"
#include "hv.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Request kinds; the numbers are the wire protocol's message types too. */
enum hv_abi_request {
    HV_ABI_REQ_MSR = 0x02,          /* struct hv_abi_msr */
    HV_ABI_REQ_MSR_VALUES = 0x03,   /* struct hv_abi_msr_values */
    HV_ABI_REQ_QUERY = 0x04,        /* struct hv_abi_query */
    HV_ABI_REQ_EVENT_ADD = 0x10,    /* struct hv_abi_event_add */
    HV_ABI_REQ_EVENT_ACTION = 0x11, /* struct hv_abi_event_action */
    HV_ABI_REQ_EVENT_CTL = 0x12,    /* struct hv_abi_event_ctl */
    HV_ABI_REQ_EVENT_LIST = 0x13,   /* struct hv_abi_event_list */
    HV_ABI_REQ_EVENT_RINGS = 0x14,  /* struct hv_abi_event_rings */
    HV_ABI_REQ_SCRIPT_EVAL = 0x15,  /* struct hv_abi_script_eval */
    HV_ABI_REQ_TRACE = 0x16,        /* struct hv_abi_trace */
};

/* Execute request `request` (enum hv_abi_request) held in `buf`.
 * Returns INVALID_PARAMETER for a malformed request (nothing executed; the
 * header's status is set when the header itself was readable), else the
 * request's own status (SUCCESS or its failure, also in the header). *resp_len = bytes of the
 * response (the request's header.size). Context: PRE-LAUNCH (it runs
 * callbacks on cores through the OS vtable). */
hv_status_t hv_abi_execute(struct hv *hv, uint32_t request, void *buf, size_t cap, size_t *resp_len);

/*
 * The same ABI for a platform driver that is loaded but could not (or must
 * not) virtualize, and so has no struct hv: the header is checked exactly as
 * above, and each request must at least hold its fixed part. QUERY succeeds
 * with cpu_count CPUs, none virtualized, each with `reason` (not SUCCESS) as
 * its status and an empty signature; every other known request is answered
 * NOT_VIRTUALIZED (in the header too) and nothing runs; an unknown request or
 * a malformed one is INVALID_PARAMETER. Never touches a CPU.
 * Context: any (no allocation, no OS call).
 */
hv_status_t hv_abi_execute_offline(uint32_t cpu_count, hv_status_t reason, uint32_t request, void *buf,
                                   size_t cap, size_t *resp_len);

#ifdef __cplusplus
}
#endif
#endif
