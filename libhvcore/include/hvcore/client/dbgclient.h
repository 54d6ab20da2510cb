/* SPDX-License-Identifier: MIT */
/*
 * The debugger's side of Debugger Mode (user mode): requests of
 * hvcore/debugger.h over a debugger line (hvcore/client/dbglink.h), their
 * replies checked and decoded, and the stop reports the target sends by
 * itself. The engine's `serial:` targets are built on it; hvctl's pause, g,
 * r, ~, db/dq, wait use it directly (hv_engine_debugger()).
 *
 * A call sends one request and waits up to the timeout for the reply with
 * its tag; a stop report (STOP) that arrives meanwhile is kept for
 * hv_dbgc_take_stop() / hv_dbgc_wait_stop(), a late reply to an earlier
 * request that timed out is dropped. Statuses:
 *   the reply's status         the target ran the request (SUCCESS, or e.g.
 *                              EXCEPTION_GENERAL_PROTECTION, INVALID_PARAMETER
 *                              for a core that does not exist,
 *                              TARGET_RUNNING for a request that needs the
 *                              target halted)
 *   TIMEOUT                    no ACK / no reply in time (the debuggee does
 *                              not answer)
 *   DEVICE_CONNECTION_LOST     the line dropped and could not be opened again
 *   READ_FAILED / WRITE_FAILED the line's I/O failed
 *   INVALID_PACKET             the reply is malformed: wrong version, type or
 *                              length, a body of the wrong size, values out of
 *                              range (a stop report naming core 300 of 4)
 * A line that drops is opened again once within the call (a halted target
 * keeps waiting): requests that are safe to run twice (HELLO, STATUS,
 * PAUSE, GET_REGS, SET_REG, SWITCH_CORE, READ_MEM, MSR reads,
 * EVENT_RESULTS, EVENT_DISCARD) are sent again; for the others (GO, MSR
 * writes, EVENT) the call returns DEVICE_CONNECTION_LOST, since whether the
 * target ran them is unknown. After every reconnect the state (HELLO,
 * STATUS) is asked again.
 *
 * One caller at a time per client.
 */
#ifndef HVCORE_CLIENT_DBGCLIENT_H
#define HVCORE_CLIENT_DBGCLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "../abi.h"
#include "../debugger.h"
#include "../status.h"
#include "dbglink.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hv_dbgc;

/* What the client knows of the target (refreshed by every reply that says). */
struct hv_dbgc_state {
    struct hv_dbg_hello hello;  /* the last HELLO reply */
    bool halted;                /* every core held in VMX root */
    uint32_t current_core;      /* the core r / db / ~ act on */
    bool have_stop;             /* `stop` holds a stop report */
    struct hv_dbg_stop stop;    /* the last stop report (STOP, PAUSE, STATUS, SWITCH_CORE) */
    uint32_t reconnects;        /* lines opened again */
    uint64_t requests;          /* requests answered */
};

/* Take `link` (the client owns it from now on, also on failure), say HELLO
 * and ask the STATUS: a target that is already halted (a debugger that
 * reconnects) is found halted, its stop report in the state.
 * timeout_ms: per request (0: 2000). */
hv_status_t hv_dbgc_open(struct hv_dbgc **out, struct hv_dbglink *link, int timeout_ms);
void hv_dbgc_close(struct hv_dbgc *c);
void hv_dbgc_set_timeout(struct hv_dbgc *c, int timeout_ms);
const struct hv_dbgc_state *hv_dbgc_state(const struct hv_dbgc *c);
struct hv_dbglink *hv_dbgc_link(struct hv_dbgc *c);
/* The last failure in words (the line's, or what was wrong with a reply);
 * "" after a success. Never NULL. */
const char *hv_dbgc_last_error(const struct hv_dbgc *c);

/* HELLO / STATUS: refresh the state; *out may be NULL. */
hv_status_t hv_dbgc_hello(struct hv_dbgc *c, struct hv_dbg_hello *out);
hv_status_t hv_dbgc_status(struct hv_dbgc *c, struct hv_dbg_stop *out);
/* Break in; *out = the stop report (reason BREAK_IN, or the current one when
 * already halted). Waits up to the timeout plus the target's halt bound. */
hv_status_t hv_dbgc_pause(struct hv_dbgc *c, struct hv_dbg_stop *out);
/* Resume every core. */
hv_status_t hv_dbgc_go(struct hv_dbgc *c);
/* A stop report that came by itself since the last look: true and *out. */
bool hv_dbgc_take_stop(struct hv_dbgc *c, struct hv_dbg_stop *out);
/* Wait up to timeout_ms (< 0: forever) for the target to stop by itself; if
 * *interrupt (may be NULL) becomes non-zero meanwhile, break in (PAUSE) and
 * set *broke_in. SUCCESS with *out; TIMEOUT when it did not stop; the
 * line's statuses. Already halted: SUCCESS at once with the current report. */
hv_status_t hv_dbgc_wait_stop(struct hv_dbgc *c, int timeout_ms, const volatile sig_atomic_t *interrupt,
                              struct hv_dbg_stop *out, bool *broke_in);
/* Process what the line has now (a stop report arriving); never waits. */
hv_status_t hv_dbgc_poll(struct hv_dbgc *c);

/* Registers of a halted core (HV_DBG_CURRENT_CORE: the current one). */
hv_status_t hv_dbgc_regs(struct hv_dbgc *c, uint32_t core, struct hv_dbg_regs *out);
/* Write register `reg` (enum hv_dbg_reg); *now (may be NULL) = the value it holds afterwards. */
hv_status_t hv_dbgc_set_reg(struct hv_dbgc *c, uint32_t core, uint32_t reg, uint64_t value, uint64_t *now);
/* Make `core` current; *out (may be NULL) = its stop report. */
hv_status_t hv_dbgc_switch_core(struct hv_dbgc *c, uint32_t core, struct hv_dbg_stop *out);
/* rdmsr / wrmsr on the halted cores, in VMX root (one result per target
 * core, ascending, into res[0 .. *count)); SUCCESS or the first failing
 * core's status. INSUFFICIENT_RESOURCES when cap is smaller than the cores
 * the reply names. */
hv_status_t hv_dbgc_msr(struct hv_dbgc *c, const struct hv_abi_msr_op *op, struct hv_abi_msr_result *res,
                        uint32_t cap, uint32_t *count);
/* Guest virtual memory of a halted core, `len` bytes at `address` (any
 * length: several requests of at most hello.max_read bytes). *done = bytes
 * read; a fault stops it: *fault = its status (SUCCESS when none), and the
 * call returns SUCCESS with the bytes before it. */
hv_status_t hv_dbgc_read(struct hv_dbgc *c, uint32_t core, uint64_t address, void *buf, uint32_t len,
                         uint32_t *done, hv_status_t *fault);
/* Queue an event change (an abi.h request, its header first) until GO. */
hv_status_t hv_dbgc_event(struct hv_dbgc *c, uint32_t abi_request, const void *req, uint32_t len,
                          struct hv_dbg_event_reply *out);
/* Outcome of the changes applied at the last GO: *sum and up to cap results. */
hv_status_t hv_dbgc_event_results(struct hv_dbgc *c, struct hv_dbg_event_results *sum,
                                  struct hv_dbg_event_result *out, uint32_t cap);
/* Drop the changes queued since the last GO. */
hv_status_t hv_dbgc_event_discard(struct hv_dbgc *c);

/* ---- Pure helpers (no I/O; the fuzzer drives them) ------------------------ */

/* enum hv_dbg_reg of a name ("rax", "r8", "rip", "rflags"/"efl", "dr7"), or -1. */
int hv_dbgc_reg_index(const char *name);
/* Name of an enum hv_dbg_reg ("rax"); "?" for others. */
const char *hv_dbgc_reg_name(uint32_t reg);

/* Check one received link payload as the reply to request `type` with
 * `tag`, or a stop report: SUCCESS with *h (and *body, its length in
 * h->length); INVALID_PACKET (why in err) when it is neither. A reply's
 * body must have the size its type has (stop reports, regs, ...), counts
 * must match lengths, values be in range (ncores: the target's cores, 0 =
 * not known yet). *is_stop = an unsolicited STOP; *stale = a reply to an
 * older request (tag differs): drop it. */
hv_status_t hv_dbgc_check_message(const void *payload, uint32_t len, uint16_t type, uint32_t tag, uint32_t ncores,
                                  struct hv_dbg_header *h, const uint8_t **body, bool *is_stop, bool *stale,
                                  char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
