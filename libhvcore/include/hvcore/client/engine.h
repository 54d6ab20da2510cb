/* SPDX-License-Identifier: MIT */
/*
 * The user-mode engine: one handle on a target, the same calls for all.
 *
 *   hv_engine_create(&e, "local")            the Linux device /dev/hvcore
 *   hv_engine_create(&e, "sim:cores=4")      the real core on the mock
 *                                            backend, in this process (no VT-x)
 *   "sim:cores=4,gp=c0000082@2"              ...where core 2 raises #GP on
 *                                            MSR c0000082 (hex; repeatable,
 *                                            up to 16): per-core failures
 *   hv_engine_create(&e, "tcp:127.0.0.1:5555")  a stub speaking the wire
 *                                            protocol (hvctl serve)
 *   "serial:/dev/ttyS0[,baud=N]"             Debugger Mode (hvcore/debugger.h)
 *   "serial:tcp:127.0.0.1:5555"              over a serial port, a serial line
 *   "serial:sim:cores=4"                     exposed as TCP (an emulator's com
 *                                            port), or the stub on the mock
 *                                            machine in this process. The MSR
 *                                            calls run in VMX root on the
 *                                            halted cores (TARGET_RUNNING while
 *                                            the target runs: pause first);
 *                                            event changes are queued until
 *                                            `g` (an added event's id is
 *                                            HV_DBG_QUEUED_EVENT(n) until
 *                                            then); the rest of Debugger Mode
 *                                            is hv_engine_debugger().
 *
 * Statuses are the shared ones (status.h): INVALID_PARAMETER for bad
 * arguments, INSUFFICIENT_RESOURCES for allocation failure, READ_FAILED /
 * WRITE_FAILED for a transport that cannot read/write, TIMEOUT when no
 * answer comes in time, INVALID_PACKET for a malformed answer,
 * DEVICE_CONNECTION_LOST when the peer is gone, and the request's own
 * status (e.g. EXCEPTION_GENERAL_PROTECTION) otherwise. One engine may be
 * used from several threads; calls are serialized per engine.
 */
#ifndef HVCORE_CLIENT_ENGINE_H
#define HVCORE_CLIENT_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "../abi.h"
#include "../msg.h"
#include "../status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hv_engine;

hv_status_t hv_engine_create(struct hv_engine **out, const char *target);
void hv_engine_destroy(struct hv_engine *e);
const char *hv_engine_target(const struct hv_engine *e);
uint32_t hv_engine_cpu_count(const struct hv_engine *e);
/* Timeout of one request on transports that have one (default 2000 ms). */
void hv_engine_set_timeout(struct hv_engine *e, int timeout_ms);

/* MSR read/write on `core` or HV_ABI_ALL_CORES: one result per target core
 * in results[0..*count); returns SUCCESS or the first failing core's status. */
hv_status_t hv_engine_msr_read(struct hv_engine *e, uint32_t core, uint32_t msr,
                               struct hv_abi_msr_result *results, uint32_t cap, uint32_t *count);
hv_status_t hv_engine_msr_write(struct hv_engine *e, uint32_t core, uint32_t msr, uint64_t value,
                                struct hv_abi_msr_result *results, uint32_t cap, uint32_t *count);

/* An event as `!dr` builds it. Code and condition must already have passed
 * hv_code_check() (hvctl does it); the target re-checks the size. */
struct hv_engine_event {
    uint64_t pid;               /* UINT64_MAX = any */
    uint32_t core;              /* HV_ABI_ALL_CORES = any */
    bool imm;
    bool action_break;          /* add a break action */
    uint32_t buffer_size;
    const char *script;         /* NULL = none: a script (compiled here) or a legacy format string */
    uint32_t script_budget;     /* instructions per run, 0 = default */
    const uint8_t *code;        /* NULL = none */
    uint32_t code_len;
    const uint8_t *condition;   /* NULL = none */
    uint32_t condition_len;
};
hv_status_t hv_engine_event_add(struct hv_engine *e, const struct hv_engine_event *ev, uint32_t *id);
/* op: HV_ABI_EVENT_ENABLE / _DISABLE / _REMOVE; id or HV_ABI_EVENT_ALL */
hv_status_t hv_engine_event_ctl(struct hv_engine *e, uint32_t op, uint32_t id);
hv_status_t hv_engine_event_list(struct hv_engine *e, struct hv_abi_event_info *out, uint32_t cap, uint32_t *count);

/* Message stream: up to `max` records; waits up to timeout_ms for the
 * first (0 = do not wait, -1 = forever). TIMEOUT when none came. */
hv_status_t hv_engine_read(struct hv_engine *e, struct hv_msg_record *out, uint32_t max, uint32_t *n,
                           int timeout_ms);
/* A file descriptor that polls readable when records may be waiting
 * (on Windows a socket, for WSAPoll); -1 when there is none: on Windows
 * the local target's device cannot be polled, so wait in hv_engine_read. */
int hv_engine_fd(struct hv_engine *e);

/* Simulated targets only (sim, or tcp to a sim stub): make the guest on
 * `core`, in process `pid`, execute MOV DR7, <value>. UNSUPPORTED elsewhere. */
hv_status_t hv_engine_simulate_dr(struct hv_engine *e, uint32_t core, uint64_t pid, uint64_t value);

/* The debuggee stub: serve this engine (typically a sim) over the wire
 * protocol on an already listening socket (hv_wire_listen) until *stop
 * becomes non-zero; each connection is served by its own thread. Every
 * connection must complete the handshake (hvcore/client/wire.h) within
 * handshake_ms before any request runs; with a key, both sides prove it.
 * At most max_pending connections may be in their handshake (a newcomer
 * closes the oldest) and max_sessions past it (a newcomer closes the one
 * idle longest; its client reconnects on its next call). A session idle for
 * idle_ms is closed; a request must arrive whole, and its answer be taken,
 * within request_ms. Refused (ACCESS_DENIED, logged) when the socket is not
 * bound to a loopback address and there is no key. Wrong keys, handshake
 * timeouts, evictions are logged through opts->log (NULL: stderr). On stop
 * every connection is closed; returns once their threads have ended. */
struct hv_wire_key;
struct hv_engine_serve_opts {
    const struct hv_wire_key *key;  /* NULL: no authentication (loopback only) */
    int handshake_ms;               /* 0: 3000 */
    int idle_ms;                    /* 0: 60000; < 0: no idle limit */
    int request_ms;                 /* 0: 10000 */
    unsigned max_sessions;          /* 0: 8 (a client and its poller hold two) */
    unsigned max_pending;           /* 0: 16 */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
};
hv_status_t hv_engine_serve_with(struct hv_engine *e, int listen_fd, const volatile sig_atomic_t *stop,
                                 const struct hv_engine_serve_opts *opts);
/* hv_engine_serve_with(e, listen_fd, stop, NULL): no key, defaults. */
hv_status_t hv_engine_serve(struct hv_engine *e, int listen_fd, const volatile sig_atomic_t *stop);

/* serial targets: the debugger connection (hvcore/client/dbgclient.h:
 * pause, go, registers, memory, stop reports); NULL for the others. Its
 * calls are not serialized with the engine's: use both from one thread. */
struct hv_dbgc;
struct hv_dbgc *hv_engine_debugger(struct hv_engine *e);

/* Raw request in the abi.h layouts (advanced; what the stub forwards). */
hv_status_t hv_engine_request(struct hv_engine *e, uint32_t request, void *buf, size_t cap, size_t *resp_len);

/** Run a compiled script once on `core` of the target (`?` in hvctl).
 * @return the request's status; the run's own is out->status. */
hv_status_t hv_engine_script_eval(struct hv_engine *e, uint32_t core, const uint8_t *prog, uint32_t len,
                                  struct hv_script_eval_result *out);

/** simulate dr with guest registers set first (bit i of regs_set: regs[i],
 * x86 order; rax is then `value`); sim target only (UNSUPPORTED over tcp). */
hv_status_t hv_engine_simulate_dr_regs(struct hv_engine *e, uint32_t core, uint64_t pid, uint64_t value,
                                       const uint64_t *regs, uint32_t regs_set);

/** Exit recording (TRACE request, hvcore/trace.h): op HV_ABI_TRACE_START
 * (max_exits over all cores, 0 = until STOP; reasons: bit n = basic reason
 * n, NULL or all 0 = every reason), HV_ABI_TRACE_STOP or HV_ABI_TRACE_STATUS;
 * *out receives the answer (counters, core count, CPU facts) whatever the
 * status. Records arrive through hv_engine_read as HV_MSG_EXIT_TRACE
 * fragments (hvcore/client/trace_file.h puts them together). Statuses as
 * hv_engine_request, or the core's (NOT_VIRTUALIZED, INVALID_PARAMETER,
 * INSUFFICIENT_RESOURCES). Context: user mode, any thread. */
hv_status_t hv_engine_trace(struct hv_engine *e, uint32_t op, uint64_t max_exits, const uint32_t reasons[3],
                            struct hv_abi_trace *out);

#ifdef __cplusplus
}
#endif
#endif
