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

#define HV_EVENT_ANY_PID        0xFFFFFFFFFFFFFFFFull
#define HV_EVENT_ANY_CORE       0xFFFFFFFFu
#define HV_EVENT_MAX_ACTIONS    8u
#define HV_EVENT_MAX_CODE       4096u      /* custom code / condition bytes */
#define HV_EVENT_MAX_BUFFER     (1u << 20) /* pre-allocated action buffer */
#define HV_EVENT_MAX_SCRIPT     200u       /* script format string, NUL included */
#define HV_EVENT_MAX_EVENTS     65536u

enum hv_event_type {
    HV_EVENT_DR_ACCESS = 1,
    HV_EVENT_TYPE_COUNT
};

enum hv_event_action_kind {
    HV_EVENT_ACTION_BREAK = 1,    /* hand the access to the break handler */
    HV_EVENT_ACTION_CODE = 2,     /* run custom x86-64 code in VMX root */
    HV_EVENT_ACTION_SCRIPT = 3,   /* render a script (format string) into a message */
    HV_EVENT_ACTION_CALLBACK = 4, /* call a C function (SDK users) */
    HV_EVENT_ACTION_PROGRAM = 5,  /* run a script program (hvcore/script.h bytecode) */
};

/* What fired: handed to C callbacks and to the break handler. */
struct hv_event_access {
    uint32_t event_id;
    uint32_t core;
    uint64_t pid;
    uint32_t type;              /* enum hv_event_type */
    uint32_t reserved;
    struct hv_msg_dr_access dr; /* the decoded access (DR events) */
    struct hv_gprs *gprs;       /* guest GPRs at the access (RSP in rsp) */
    uint64_t rsp, rflags;
    void *context;              /* always NULL for DR events */
    void *buffer;               /* the event's pre-allocated buffer, or NULL */
    uint32_t buffer_size;
};

/* ROOT context: no allocation, no PRE-LAUNCH OS call. */
typedef void (*hv_event_callback_fn)(const struct hv_event_access *access, void *ctx);

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
    uint32_t condition_len;
};

struct hv_action_spec {
    uint32_t kind;              /* enum hv_event_action_kind */
    /* CODE: raw x86-64 code, Microsoft x64 ABI: RCX = the event's
     * pre-allocated buffer (or NULL), RDX = guest GPRs (struct hv_gprs *),
     * R8 = context (NULL). Validated by the client (hv_code_check); the
     * core re-checks only the size. */
    const uint8_t *code;
    uint32_t code_len;
    /* SCRIPT: text with pseudo-registers $pid $core $context $event $dr
     * $value $rip and $rax..$r15, rendered into a message. */
    const char *script;
    /* CALLBACK */
    hv_event_callback_fn callback;
    void *callback_ctx;
    /* PROGRAM: verified bytecode (hvcore/script.h), copied by the core. Its
     * printf output becomes HV_MSG_SCRIPT records (the access, then the
     * text); a run that ends early an HV_MSG_SCRIPT_STATUS record. */
    const uint8_t *program;
    uint32_t program_len;
};

struct hv_event_info {
    uint32_t id, type, core, enabled;
    uint64_t pid;
    uint64_t fired;             /* times its filters matched and it ran */
    uint32_t actions;           /* bitmask of 1 << kind */
    uint32_t imm;
};

hv_status_t hv_event_add(struct hv *hv, const struct hv_event_spec *spec, uint32_t *id);
/* Add n events at once, all or nothing (one snapshot, one MOV-DR update):
 * ids[i] receives the id of specs[i]. */
hv_status_t hv_event_add_many(struct hv *hv, const struct hv_event_spec *specs, uint32_t n, uint32_t *ids);
hv_status_t hv_event_add_action(struct hv *hv, uint32_t id, const struct hv_action_spec *action);
hv_status_t hv_event_enable(struct hv *hv, uint32_t id);
hv_status_t hv_event_disable(struct hv *hv, uint32_t id);
hv_status_t hv_event_remove(struct hv *hv, uint32_t id);
hv_status_t hv_event_clear(struct hv *hv);
/* Copy up to `max` events (ascending id) into out; *count = how many exist. */
hv_status_t hv_event_list(struct hv *hv, struct hv_event_info *out, uint32_t max, uint32_t *count);

/* The message ring of a core (NULL before the first event is added or for
 * a bad core) and the imm-no timer: the platform calls hv_event_flush()
 * every HV_MSG_FLUSH_MS and wakes readers if it returns true. */
struct hv_msg_ring *hv_event_ring(struct hv *hv, uint32_t core);
bool hv_event_flush(struct hv *hv);

/* The break handler: in local mode (the default) it delivers a break
 * record with the full guest register state and the guest continues.
 * A platform with a debugger replaces it (ROOT context). */
typedef void (*hv_break_handler_fn)(struct hv *hv, const struct hv_event_access *access);
void hv_event_set_break_handler(struct hv *hv, hv_break_handler_fn fn);

/* MOV-DR exiting, reference counted per core (PRE-LAUNCH). The engine
 * holds one reference per core that has an enabled DR event. */
hv_status_t hv_movdr_exiting_get(struct hv *hv, uint32_t core);
hv_status_t hv_movdr_exiting_put(struct hv *hv, uint32_t core);

/* Release everything (hv_destroy calls it). */
void hv_event_engine_destroy(struct hv *hv);

/* ---- ROOT-SAFE: called by the MOV-DR exit handler after emulation ---- */
struct hv_exit;
void hv_event_dr_fire(struct hv_exit *exit, const struct hv_msg_dr_access *access);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_EVENT_H */
