/* SPDX-License-Identifier: MIT */
/* Internal structures shared by event_engine.c (mutations) and
 * event_fire.c (the VM-exit path). */
#ifndef HVCORE_SRC_EVENT_INTERNAL_H
#define HVCORE_SRC_EVENT_INTERNAL_H

#include <hvcore/event.h>
#include <hvcore/msg.h>
#include <hvcore/script.h>

/* Custom code and conditions use the Microsoft x64 ABI (what users of the
 * `!dr code {..}` command write for). The copy starts with ENDBR64 so an
 * indirect call is legal under CET-IBT; branches inside keep their
 * relative offsets. */
typedef uint64_t (__attribute__((ms_abi)) *hv_code_fn)(void *a1, void *a2, void *a3);

struct ev_action {
    uint32_t kind;
    void *code;                 /* executable copy (CODE) */
    uint32_t code_len;          /* bytes in the copy */
    hv_event_callback_fn callback;
    void *callback_ctx;
    char script[HV_EVENT_MAX_SCRIPT];
    struct hv_script *prog;     /* PROGRAM: bound program, its bytes follow it */
    size_t prog_pages;
};

/* Shared by every script run: global names and values, the verifier's
 * scratch (used under the engine lock), one interpreter per core. */
struct ev_script_state {
    char names[HV_SCRIPT_GLOBAL_SLOTS][HV_SCRIPT_NAME_LEN];
    uint64_t globals[HV_SCRIPT_GLOBAL_SLOTS];
    struct hv_script_verify_scratch scratch;
};

struct hv_event {
    uint32_t id, type;
    uint64_t pid;
    uint32_t core;
    bool imm;
    uint32_t enabled;           /* atomic */
    uint32_t script_off;        /* atomic: a script's event_disable() */
    void *buffer;
    uint32_t buffer_size;
    size_t buffer_pages;
    void *cond;                 /* executable copy of the condition, or NULL */
    uint32_t cond_len;
    uint32_t nactions;          /* atomic: actions[0..n) are complete */
    struct ev_action actions[HV_EVENT_MAX_ACTIONS];
    uint64_t fired;             /* atomic */
    struct hv_event *grave_next; /* retired while a grace period failed */
};

/* One key of the snapshot: (type, core or ANY, pid or ANY) -> a run of
 * events in `list`. Open addressing; count == 0 marks an empty slot. */
struct ev_slot {
    uint64_t pid;
    uint32_t core, type;
    uint32_t start, count;
};

struct ev_snapshot {
    uint64_t gen;               /* publication number, from 1 (hv.h: root_tlb_gen) */
    struct ev_snapshot *grave_next; /* retired while a grace period failed */
    uint32_t mask;              /* slots - 1 (power of two) */
    uint32_t nlist;
    size_t pages;
    struct ev_slot *slots;
    struct hv_event **list;
};

struct hv_event_engine {
    uint32_t lock;              /* serializes mutations (atomic flag) */
    uint32_t next_id;
    struct hv_event **events;   /* ascending id */
    uint32_t nevents, cap;
    size_t events_pages;
    struct ev_snapshot *snap;   /* published; read with acquire */
    uint64_t snap_gen;          /* generation of the last snapshot built */
    /* What could not be freed because a grace period failed (an exit may
     * still read it): freed by hv_event_engine_destroy, after hv_stop. */
    struct ev_snapshot *grave_snaps;
    struct hv_event *grave_events;
    struct hv_msg_ring **rings; /* one per core */
    void **ring_mem;
    size_t rings_pages;
    uint8_t *core_wants;        /* engine holds a MOV-DR reference on core */
    size_t wants_pages;
    hv_break_handler_fn break_handler;
    struct ev_script_state *script;   /* made with the first script */
    size_t script_pages;
    struct hv_script_vm *script_vms;  /* one per core */
    size_t script_vms_pages;
};

/* The engine, made if needed (PRE-LAUNCH). */
hv_status_t hv_event_engine_get(struct hv *hv, struct hv_event_engine **out);
/* Copy, verify and bind a program, taking the engine lock: *out and its pages. */
hv_status_t hv_event_script_lock_load(struct hv *hv, struct hv_event_engine *g, const uint8_t *prog, uint32_t len,
                                      struct hv_script **out, size_t *pages);

#define EV_RING_CAPACITY 1024u

static inline uint32_t ev_hash(uint32_t type, uint32_t core, uint64_t pid, uint32_t mask)
{
    uint64_t h = pid * 0x9E3779B97F4A7C15ull ^ ((uint64_t)core + 1) * 0xC2B2AE3D27D4EB4Full ^ type;

    return (uint32_t)(h >> 29) & mask;
}

/* The run of events for one key, or NULL (count 0). ROOT-SAFE. */
static inline const struct ev_slot *ev_lookup(const struct ev_snapshot *s, uint32_t type,
                                              uint32_t core, uint64_t pid)
{
    uint32_t i = ev_hash(type, core, pid, s->mask);

    for (;;) {
        const struct ev_slot *sl = &s->slots[i];

        if (sl->count == 0)
            return NULL;
        if (sl->pid == pid && sl->core == core && sl->type == type)
            return sl;
        i = (i + 1) & s->mask;
    }
}

#endif
