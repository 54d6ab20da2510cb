/* SPDX-License-Identifier: MIT */
/*
 * The event engine: "when the guest does X (on these cores, in this
 * process), if this condition holds, run these actions". Generic over
 * event types; the first is the debug-register access (`!dr`, VM-exit
 * reason 29, MOV-DR exiting).
 *
 * Matching costs O(1) in the events that cannot match: the engine keeps an
 * immutable snapshot hashed by (type, core or any, pid or any), and an exit
 * looks up just its four keys. Adding, removing, enabling or disabling
 * builds and publishes a new snapshot (read-copy-update); exits running on
 * other cores keep using the old one until they return, and it is freed
 * only after every core has passed a point outside VM exits. Nothing stops
 * or races the exits on other cores.
 *
 * MOV-DR exiting is switched on only on the cores that have an enabled DR
 * event, and off when the last one goes (reference counted together with
 * any other user of the control: hv_movdr_exiting_get/put).
 *
 * All functions except the ROOT-SAFE ones are PRE-LAUNCH (they allocate
 * and call os->run_on_cpu); they serialize among themselves.
 */
#ifndef HVCORE_EVENT_H
#define HVCORE_EVENT_H

#include <stdbool.h>
#include <stdint.h>
#include "hv.h"
#include "msg.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* hv_event_spec.pid: every process. */
#define HV_EVENT_ANY_PID        0xFFFFFFFFFFFFFFFFull
/* hv_event_spec.core: every core. */
#define HV_EVENT_ANY_CORE       0xFFFFFFFFu
/* Actions one event may have. */
#define HV_EVENT_MAX_ACTIONS    8u
/* Bytes of custom code or of a condition. */
#define HV_EVENT_MAX_CODE       4096u
/* Bytes of an event's pre-allocated action buffer. */
#define HV_EVENT_MAX_BUFFER     (1u << 20)
/* Bytes of a script format string, NUL included. */
#define HV_EVENT_MAX_SCRIPT     200u
/* Events one add_many call may add. */
#define HV_EVENT_MAX_EVENTS     65536u

/* Event types (hv_event_spec.type). */
enum hv_event_type {
    HV_EVENT_DR_ACCESS = 1,     /* a MOV to or from a debug register (exit reason 29) */
    HV_EVENT_TYPE_COUNT         /* one past the last type */
};

/* Action kinds (hv_action_spec.kind). */
enum hv_event_action_kind {
    HV_EVENT_ACTION_BREAK = 1,    /* hand the access to the break handler */
    HV_EVENT_ACTION_CODE = 2,     /* run custom x86-64 code in VMX root */
    HV_EVENT_ACTION_SCRIPT = 3,   /* render a script (format string) into a message */
    HV_EVENT_ACTION_CALLBACK = 4, /* call a C function (SDK users) */
    HV_EVENT_ACTION_PROGRAM = 5,  /* run a script program (hvcore/script.h bytecode) */
};

/* What fired: handed to C callbacks and to the break handler. */
struct hv_event_access {
    uint32_t event_id;          /* the event that fired */
    uint32_t core;              /* the core it fired on */
    uint64_t pid;               /* the process current on that core */
    uint32_t type;              /* enum hv_event_type */
    uint32_t reserved;          /* 0 */
    struct hv_msg_dr_access dr; /* the decoded access (DR events) */
    struct hv_gprs *gprs;       /* guest GPRs at the access (RSP in rsp) */
    uint64_t rsp, rflags;       /* guest RSP and RFLAGS at the access */
    void *context;              /* always NULL for DR events */
    void *buffer;               /* the event's pre-allocated buffer, or NULL */
    uint32_t buffer_size;       /* its size in bytes */
};

/* A C callback action. Context: ROOT-SAFE (it runs inside the VM exit):
 * no allocation, no PRE-LAUNCH OS call. */
typedef void (*hv_event_callback_fn)(const struct hv_event_access *access, void *ctx);

/* An event to add (hv_event_add). */
struct hv_event_spec {
    uint32_t size;              /* sizeof(struct hv_event_spec) */
    uint32_t type;              /* enum hv_event_type */
    uint64_t pid;               /* a process id, or HV_EVENT_ANY_PID */
    uint32_t core;              /* a core, or HV_EVENT_ANY_CORE */
    uint32_t buffer_size;       /* bytes of pre-allocated buffer (0 = none) */
    bool imm;                   /* messages at once (true) or batched */
    bool disabled;              /* add it disabled */
    /* Optional condition: raw x86-64 code, Microsoft x64 ABI: RCX = guest
     * GPRs, RDX = context (NULL); fires when it returns non-zero in RAX. */
    const uint8_t *condition;
    uint32_t condition_len;     /* bytes of condition (0 = none; at most HV_EVENT_MAX_CODE) */
};

/* An action to add to an event (hv_event_add_action). */
struct hv_action_spec {
    uint32_t kind;              /* enum hv_event_action_kind */
    /* CODE: raw x86-64 code, Microsoft x64 ABI: RCX = the event's
     * pre-allocated buffer (or NULL), RDX = guest GPRs (struct hv_gprs *),
     * R8 = context (NULL). Validated by the client (hv_code_check); the
     * core re-checks only the size. */
    const uint8_t *code;
    uint32_t code_len;          /* CODE: bytes of code (at most HV_EVENT_MAX_CODE) */
    /* SCRIPT: text with pseudo-registers $pid $core $context $event $dr
     * $value $rip and $rax..$r15, rendered into a message. */
    const char *script;
    /* CALLBACK */
    hv_event_callback_fn callback;
    void *callback_ctx;         /* CALLBACK: passed to callback as `ctx` */
    /* PROGRAM: verified bytecode (hvcore/script.h), copied by the core. Its
     * printf output becomes HV_MSG_SCRIPT records (the access, then the
     * text); a run that ends early an HV_MSG_SCRIPT_STATUS record. */
    const uint8_t *program;
    uint32_t program_len;       /* PROGRAM: bytes of bytecode */
};

/* An event as hv_event_list reports it. */
struct hv_event_info {
    uint32_t id, type, core, enabled; /* id, enum hv_event_type, core filter, 1 if enabled */
    uint64_t pid;               /* pid filter (HV_EVENT_ANY_PID = any) */
    uint64_t fired;             /* times its filters matched and it ran */
    uint32_t actions;           /* bitmask of 1 << kind */
    uint32_t imm;               /* 1: imm yes */
};

/* Add one event; *id receives its id. MOV-DR exiting goes on for the cores
 * it covers when it is enabled. Returns SUCCESS, INVALID_PARAMETER (NULL
 * argument, spec->size too small, unknown type, a core that does not
 * exist, a buffer or condition over its limit), UNSUPPORTED (a condition
 * on a platform without os->alloc_exec), INSUFFICIENT_RESOURCES, or
 * CPU_CALL_FAILED (MOV-DR exiting could not be updated on a core; nothing
 * is added). Context: PRE-LAUNCH. */
hv_status_t hv_event_add(struct hv *hv, const struct hv_event_spec *spec, uint32_t *id);
/* Add n events at once, all or nothing (one snapshot, one MOV-DR update):
 * ids[i] receives the id of specs[i]. Statuses as hv_event_add (also
 * INVALID_PARAMETER for n = 0 or n > HV_EVENT_MAX_EVENTS). Context:
 * PRE-LAUNCH. */
hv_status_t hv_event_add_many(struct hv *hv, const struct hv_event_spec *specs, uint32_t n, uint32_t *ids);
/* Add an action to event `id` (up to HV_EVENT_MAX_ACTIONS). Returns
 * SUCCESS, NOT_FOUND, INVALID_PARAMETER (unknown kind, missing code/script/
 * callback, sizes over the limits, too many actions), UNSUPPORTED (custom
 * code without os->alloc_exec), SCRIPT_INVALID (bytecode the verifier
 * refuses) or INSUFFICIENT_RESOURCES. Context: PRE-LAUNCH. */
hv_status_t hv_event_add_action(struct hv *hv, uint32_t id, const struct hv_action_spec *action);
/* Enable event `id` (MOV-DR exiting on for its cores). SUCCESS, NOT_FOUND,
 * INVALID_PARAMETER, INSUFFICIENT_RESOURCES or CPU_CALL_FAILED.
 * Context: PRE-LAUNCH. */
hv_status_t hv_event_enable(struct hv *hv, uint32_t id);
/* Disable event `id`; statuses as hv_event_enable. Context: PRE-LAUNCH. */
hv_status_t hv_event_disable(struct hv *hv, uint32_t id);
/* Remove event `id`; its memory is freed once no exit can still see it.
 * Statuses as hv_event_enable. Context: PRE-LAUNCH. */
hv_status_t hv_event_remove(struct hv *hv, uint32_t id);
/* Remove every event. SUCCESS (also when there were none),
 * INVALID_PARAMETER, INSUFFICIENT_RESOURCES or CPU_CALL_FAILED.
 * Context: PRE-LAUNCH. */
hv_status_t hv_event_clear(struct hv *hv);
/* Copy up to `max` events (ascending id) into out; *count = how many exist.
 * SUCCESS or INVALID_PARAMETER (NULL hv or count, out NULL with max > 0).
 * Context: PRE-LAUNCH. */
hv_status_t hv_event_list(struct hv *hv, struct hv_event_info *out, uint32_t max, uint32_t *count);

/* The message ring of a core (NULL before the first event is added or for
 * a bad core) and the imm-no timer: the platform calls hv_event_flush()
 * every HV_MSG_FLUSH_MS and wakes readers if it returns true.
 * Context: any. */
struct hv_msg_ring *hv_event_ring(struct hv *hv, uint32_t core);
/* Publish every ring's pending imm-no records (hv_msg_flush on each);
 * true if anything new became readable. Context: any (a timer). */
bool hv_event_flush(struct hv *hv);

/* The break handler: in local mode (the default) it delivers a break
 * record with the full guest register state and the guest continues.
 * A platform with a debugger replaces it (ROOT context). */
typedef void (*hv_break_handler_fn)(struct hv *hv, const struct hv_event_access *access);
/* Replace the break handler (NULL restores the local one).
 * Context: PRE-LAUNCH (before events with break actions fire). */
void hv_event_set_break_handler(struct hv *hv, hv_break_handler_fn fn);

/* Take a reference on MOV-DR exiting of `core` (SDM Vol. 3C, 25.6.2,
 * "MOV-DR exiting"); the control is on while references remain. The engine
 * holds one reference per core that has an enabled DR event. Returns
 * SUCCESS, INVALID_PARAMETER (no such core) or CPU_CALL_FAILED (the first
 * reference could not turn the control on there). Context: PRE-LAUNCH. */
hv_status_t hv_movdr_exiting_get(struct hv *hv, uint32_t core);
/* Drop a reference taken with hv_movdr_exiting_get. SUCCESS, or
 * INVALID_PARAMETER (no such core, or no reference held) or CPU_CALL_FAILED.
 * Context:
 * PRE-LAUNCH. */
hv_status_t hv_movdr_exiting_put(struct hv *hv, uint32_t core);

/* Release everything (hv_destroy calls it). Context: PRE-LAUNCH. */
void hv_event_engine_destroy(struct hv *hv);

/* ---- ROOT-SAFE: called by the MOV-DR exit handler after emulation ---- */
struct hv_exit;
/* Run the events that match this access (core, pid, type) and their
 * actions, producing records on this core's ring. Context: ROOT-SAFE
 * (inside the MOV-DR exit, SDM Vol. 3C, 28.1.3 / Table 28-4). */
void hv_event_dr_fire(struct hv_exit *exit, const struct hv_msg_dr_access *access);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_EVENT_H */
