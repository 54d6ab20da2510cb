/* SPDX-License-Identifier: MIT */
/*
 * Writing a trace file (hvcore/trace.h) from the message stream: the
 * HV_MSG_EXIT_TRACE fragments of each core are put back together and each
 * whole record appended; an exit with a missing fragment (a gap in the
 * fragment numbers or records lost before it) is counted as dropped.
 * `hvctl record` uses it.
 */
#ifndef HVCORE_CLIENT_TRACE_FILE_H
#define HVCORE_CLIENT_TRACE_FILE_H

#include <stdint.h>
#include "../abi.h"
#include "../msg.h"
#include "../status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hv_trace_writer;

/* Create `path` and write a header from a TRACE response (`info`).
 * WRITE_FAILED if the file cannot be created, INSUFFICIENT_RESOURCES,
 * INVALID_PARAMETER for NULL or 0 cores. */
hv_status_t hv_trace_writer_open(struct hv_trace_writer **out, const char *path, const struct hv_abi_trace *info);
/* Take records from the stream; others than HV_MSG_EXIT_TRACE are
 * ignored. Returns WRITE_FAILED once a write failed. */
hv_status_t hv_trace_writer_feed(struct hv_trace_writer *w, const struct hv_msg_record *recs, uint32_t n);
/* Whole exits written so far, exits lost in the stream. */
uint64_t hv_trace_writer_exits(const struct hv_trace_writer *w);
uint64_t hv_trace_writer_lost(const struct hv_trace_writer *w);
/* Rewrite the header's counters (dropped = the hypervisor's count plus the
 * stream's losses) and close. SUCCESS or WRITE_FAILED. */
hv_status_t hv_trace_writer_close(struct hv_trace_writer *w, uint64_t dropped);

#ifdef __cplusplus
}
#endif
#endif
