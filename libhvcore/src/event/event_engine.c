/* SPDX-License-Identifier: MIT */
/*
 * Event engine, mutation side (PRE-LAUNCH): events are created, changed
 * and removed here; the VM-exit path (event_fire.c) only ever reads an
 * immutable snapshot published with release semantics (read-copy-update).
 * A replaced snapshot, and a removed event, are freed only after every
 * core has run a cross-call, i.e. has left any VM exit that could still
 * hold a pointer to them.
 */
#include <hvcore/arch.h>
#include <hvcore/event.h>
#include <hvcore/exit.h>
#include <hvcore/vmcall.h>

#include "event/event_internal.h"
#include "lib.h"

/* ---- lock: mutations are rare; a spin on an atomic flag is enough ------ */

static void lock(struct hv_event_engine *g)
{
    while (__atomic_exchange_n(&g->lock, 1u, __ATOMIC_ACQUIRE))
        __asm__ volatile("pause");
}

static void unlock(struct hv_event_engine *g)
{
    __atomic_store_n(&g->lock, 0u, __ATOMIC_RELEASE);
}

static size_t pages_for(size_t bytes)
{
    return (bytes + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
}

static void *alloc_bytes(struct hv *hv, size_t bytes, size_t *pages)
{
    *pages = pages_for(bytes ? bytes : 1);
    return hv->os->alloc_pages(hv->os->ctx, *pages);
}

/* ---- grace period -------------------------------------------------------- */

static hv_status_t quiescent(uint32_t cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    return HV_STATUS_SUCCESS;
}

/* Every core runs a cross-call with interrupts enabled before it, so none
 * is still inside a VM exit that started before this call. If the OS could
 * not run it everywhere, nothing is known about the cores it missed: the
 * caller must not free what those exits may read (false). */
static bool wait_for_exits(struct hv *hv)
{
    return hv_success(hv->os->run_on_each_cpu(hv->os->ctx, quiescent, NULL, HV_CPU_ORDER_ANY));
}

/* ---- engine creation ------------------------------------------------------- */

/* Free a partly or fully built engine that was never published: the first
 * `rings` rings, the tables, the engine itself. */
static void engine_undo(struct hv *hv, struct hv_event_engine *g, uint32_t rings)
{
    size_t rb = hv_msg_ring_bytes(EV_RING_CAPACITY);

    while (rings-- > 0)
        hv->os->free_pages(hv->os->ctx, g->ring_mem[rings], pages_for(rb));
    if (g->core_wants)
        hv->os->free_pages(hv->os->ctx, g->core_wants, g->wants_pages);
    if (g->rings)
        hv->os->free_pages(hv->os->ctx, g->rings, g->rings_pages);
    hv->os->free_pages(hv->os->ctx, g, pages_for(sizeof(*g)));
}

static hv_status_t engine_create(struct hv *hv)
{
    struct hv_event_engine *g, *expected = NULL;
    size_t pages, rb = hv_msg_ring_bytes(EV_RING_CAPACITY);
    uint32_t c;

    if (__atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) != NULL)
        return HV_STATUS_SUCCESS;
    g = alloc_bytes(hv, sizeof(*g), &pages);
    if (g == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    g->next_id = 1;
    g->rings = alloc_bytes(hv, (size_t)hv->cpu_count * (sizeof(void *) * 2), &g->rings_pages);
    g->core_wants = alloc_bytes(hv, hv->cpu_count, &g->wants_pages);
    if (g->rings == NULL || g->core_wants == NULL)
        goto tables_failed;
    g->ring_mem = (void **)(g->rings + hv->cpu_count);
    for (c = 0; c < hv->cpu_count; c++) {
        g->ring_mem[c] = hv->os->alloc_pages(hv->os->ctx, pages_for(rb));
        if (g->ring_mem[c] == NULL)
            goto rings_failed;
        if (!hv_success(hv_msg_ring_init(g->ring_mem[c], EV_RING_CAPACITY, c, &g->rings[c]))) {
            hv->os->free_pages(hv->os->ctx, g->ring_mem[c], pages_for(rb));
            goto rings_failed;
        }
    }
    g->break_handler = NULL;
    /* Two first adds may race here: one engine is published, the other is
     * undone, and both callers go on with the published one. */
    if (!__atomic_compare_exchange_n(&hv->events, &expected, g, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        engine_undo(hv, g, hv->cpu_count);
    return HV_STATUS_SUCCESS;

rings_failed:
    engine_undo(hv, g, c);
    return HV_STATUS_INSUFFICIENT_RESOURCES;
tables_failed:
    engine_undo(hv, g, 0);
    return HV_STATUS_INSUFFICIENT_RESOURCES;
}

hv_status_t hv_event_engine_get(struct hv *hv, struct hv_event_engine **out)
{
    hv_status_t st = engine_create(hv);

    *out = hv_success(st) ? __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) : NULL;
    return st;
}

static hv_status_t ev_script_state_get(struct hv *hv, struct hv_event_engine *g)
{
    if (g->script != NULL)
        return HV_STATUS_SUCCESS;
    g->script = alloc_bytes(hv, sizeof(*g->script), &g->script_pages);
    if (g->script == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    g->script_vms = alloc_bytes(hv, (size_t)hv->cpu_count * sizeof(struct hv_script_vm), &g->script_vms_pages);
    if (g->script_vms == NULL) {
        hv->os->free_pages(hv->os->ctx, g->script, g->script_pages);
        g->script = NULL;
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t ev_script_load(struct hv *hv, struct hv_event_engine *g, const uint8_t *prog, uint32_t len,
                           struct hv_script **out, size_t *pages)
{
    struct hv_script *s;
    hv_status_t st;

    st = ev_script_state_get(hv, g);
    if (!hv_success(st))
        return st;
    s = alloc_bytes(hv, sizeof(*s) + len, pages);
    if (s == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    /* The copy is what gets verified and run: the caller's buffer may
     * change after this returns. */
    hv_lib_copy(s + 1, prog, len);
    st = hv_script_bind(s, (const uint8_t *)(s + 1), len, &g->script->scratch, g->script->names);
    if (!hv_success(st)) {
        hv->os->free_pages(hv->os->ctx, s, *pages);
        return st;
    }
    *out = s;
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_event_script_lock_load(struct hv *hv, struct hv_event_engine *g, const uint8_t *prog, uint32_t len,
                                struct hv_script **out, size_t *pages)
{
    hv_status_t st;

    lock(g);
    st = ev_script_load(hv, g, prog, len, out, pages);
    unlock(g);
    return st;
}

/* ---- snapshot ---------------------------------------------------------------- */

static struct ev_slot *slot_for(struct ev_snapshot *s, const struct hv_event *e)
{
    uint32_t i = ev_hash(e->type, e->core, e->pid, s->mask);

    for (;;) {
        struct ev_slot *sl = &s->slots[i];

        if (sl->count == 0 || (sl->pid == e->pid && sl->core == e->core && sl->type == e->type))
            return sl;
        i = (i + 1) & s->mask;
    }
}

/* Build a snapshot of the events (all of them; `enabled` is checked at
 * fire time, so enabling needs no new snapshot). O(n). */
static hv_status_t build_snapshot(struct hv *hv, struct hv_event_engine *g, struct ev_snapshot **out)
{
    uint32_t nslots = 16, i;
    size_t bytes, pages;
    struct ev_snapshot *s;
    uint8_t *mem;

    *out = NULL;
    if (g->nevents == 0)
        return HV_STATUS_SUCCESS;
    while (nslots < g->nevents * 2u)
        nslots <<= 1;
    bytes = sizeof(*s) + (size_t)nslots * sizeof(struct ev_slot) + (size_t)g->nevents * sizeof(void *);
    mem = alloc_bytes(hv, bytes, &pages);
    if (mem == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    s = (struct ev_snapshot *)(void *)mem;
    s->gen = ++g->snap_gen;
    s->mask = nslots - 1;
    s->nlist = g->nevents;
    s->pages = pages;
    s->slots = (struct ev_slot *)(void *)(mem + sizeof(*s));
    s->list = (struct hv_event **)(void *)(mem + sizeof(*s) + (size_t)nslots * sizeof(struct ev_slot));

    /* Count per key, then give each key its run, then place the events. */
    for (i = 0; i < g->nevents; i++) {
        struct ev_slot *sl = slot_for(s, g->events[i]);

        if (sl->count == 0) {
            sl->pid = g->events[i]->pid;
            sl->core = g->events[i]->core;
            sl->type = g->events[i]->type;
        }
        sl->count++;
    }
    {
        uint32_t start = 0;

        for (i = 0; i < nslots; i++) {
            s->slots[i].start = start;
            start += s->slots[i].count;
        }
    }
    /* `start` serves as the fill cursor (counts stay intact, so the probe
     * chains stay valid), then moves back to the start of each run. */
    for (i = 0; i < g->nevents; i++)
        s->list[slot_for(s, g->events[i])->start++] = g->events[i];
    for (i = 0; i < nslots; i++)
        s->slots[i].start -= s->slots[i].count;
    *out = s;
    return HV_STATUS_SUCCESS;
}

/* Publish `next` and free the snapshot it replaces once no exit uses it.
 * Returns whether the grace period completed; if not, the old snapshot is
 * kept until the engine is destroyed, and so must be whatever it lists. */
static bool publish(struct hv *hv, struct hv_event_engine *g, struct ev_snapshot *next)
{
    struct ev_snapshot *old = __atomic_exchange_n(&g->snap, next, __ATOMIC_ACQ_REL);
    bool grace = wait_for_exits(hv);

    if (old != NULL) {
        if (grace) {
            hv->os->free_pages(hv->os->ctx, old, old->pages);
        } else {
            old->grave_next = g->grave_snaps;
            g->grave_snaps = old;
        }
    }
    return grace;
}

/* ---- MOV-DR exiting, reference counted ------------------------------------------ */

/* Level-triggered: the control follows the count as it is when this runs
 * in root, not the transition that asked for it. Two callers crossing zero
 * in opposite directions may have their requests run in either order; the
 * last one to run still sees the final count. */
static uint64_t movdr_in_root(void *vcpu_ptr, void *arg)
{
    struct hv_vcpu *v = vcpu_ptr;
    bool on = __atomic_load_n(&v->movdr_refs, __ATOMIC_ACQUIRE) != 0;

    (void)arg;
    hv_exit_update_proc_controls(v, on ? HV_PROC_MOV_DR_EXITING : 0, on ? 0 : HV_PROC_MOV_DR_EXITING);
    return HV_STATUS_SUCCESS;
}

static hv_status_t movdr_on_core(uint32_t cpu, void *arg)
{
    struct hv *hv = arg;
    struct hv_root_request req = { movdr_in_root, NULL };

    /* Not launched yet: hv_vmcs_setup() reads movdr_refs. */
    if (!(hv->vcpus[cpu].steps & HV_STEP_LAUNCHED))
        return HV_STATUS_SUCCESS;
    return (hv_status_t)hv_arch_vmcall(HV_VMCALL_RUN_IN_ROOT, HV_VMCALL_KEY, (uint64_t)(uintptr_t)&req, 0);
}

/* Bring core's MOV-DR exiting in line with its reference count. */
static hv_status_t movdr_apply(struct hv *hv, uint32_t core)
{
    return hv->os->run_on_cpu(hv->os->ctx, core, movdr_on_core, hv);
}

hv_status_t hv_movdr_exiting_get(struct hv *hv, uint32_t core)
{
    if (hv == NULL || core >= hv->cpu_count)
        return HV_STATUS_INVALID_PARAMETER;
    if (__atomic_fetch_add(&hv->vcpus[core].movdr_refs, 1u, __ATOMIC_ACQ_REL) == 0)
        return movdr_apply(hv, core);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_movdr_exiting_put(struct hv *hv, uint32_t core)
{
    uint32_t n;

    if (hv == NULL || core >= hv->cpu_count)
        return HV_STATUS_INVALID_PARAMETER;
    /* Never below zero, even when callers race on the last reference. */
    n = __atomic_load_n(&hv->vcpus[core].movdr_refs, __ATOMIC_ACQUIRE);
    do {
        if (n == 0)
            return HV_STATUS_INVALID_PARAMETER;
    } while (!__atomic_compare_exchange_n(&hv->vcpus[core].movdr_refs, &n, n - 1u, false, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    if (n == 1)
        return movdr_apply(hv, core);
    return HV_STATUS_SUCCESS;
}

/* The engine holds one reference on each core with an enabled DR event. */
static hv_status_t sync_movdr(struct hv *hv, struct hv_event_engine *g)
{
    hv_status_t first = HV_STATUS_SUCCESS, st;
    uint32_t c, i;

    for (c = 0; c < hv->cpu_count; c++) {
        uint8_t want = 0;

        for (i = 0; i < g->nevents && !want; i++) {
            const struct hv_event *e = g->events[i];

            want = e->type == HV_EVENT_DR_ACCESS && __atomic_load_n(&e->enabled, __ATOMIC_RELAXED) &&
                   (e->core == HV_EVENT_ANY_CORE || e->core == c);
        }
        if (want == g->core_wants[c])
            continue;
        st = want ? hv_movdr_exiting_get(hv, c) : hv_movdr_exiting_put(hv, c);
        if (hv_success(st))
            g->core_wants[c] = want;
        else if (hv_success(first))
            first = st;
    }
    return first;
}

/* ---- events -------------------------------------------------------------------- */

static struct hv_event *find(struct hv_event_engine *g, uint32_t id, uint32_t *index)
{
    uint32_t lo = 0, hi = g->nevents;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (g->events[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < g->nevents && g->events[lo]->id == id) {
        if (index)
            *index = lo;
        return g->events[lo];
    }
    return NULL;
}

static void *exec_copy(struct hv *hv, const uint8_t *bytes, uint32_t len, uint32_t *out_len)
{
    /* ENDBR64 first (a NOP without CET), then the user's bytes. */
    static const uint8_t endbr64[4] = { 0xF3, 0x0F, 0x1E, 0xFA };
    size_t pages;
    uint8_t *tmp = alloc_bytes(hv, 4u + len, &pages); /* not on the stack: bounded frames */
    void *code;

    if (tmp == NULL)
        return NULL;
    hv_lib_copy(tmp, endbr64, sizeof(endbr64));
    hv_lib_copy(tmp + 4, bytes, len);
    *out_len = len + 4;
    code = hv->os->alloc_exec(hv->os->ctx, tmp, len + 4u);
    hv->os->free_pages(hv->os->ctx, tmp, pages);
    return code;
}

static void free_event(struct hv *hv, struct hv_event *e)
{
    uint32_t i;

    for (i = 0; i < e->nactions; i++) {
        if (e->actions[i].code)
            hv->os->free_exec(hv->os->ctx, e->actions[i].code, e->actions[i].code_len);
        if (e->actions[i].prog)
            hv->os->free_pages(hv->os->ctx, e->actions[i].prog, e->actions[i].prog_pages);
    }
    if (e->cond)
        hv->os->free_exec(hv->os->ctx, e->cond, e->cond_len);
    if (e->buffer)
        hv->os->free_pages(hv->os->ctx, e->buffer, e->buffer_pages);
    hv->os->free_pages(hv->os->ctx, e, pages_for(sizeof(*e)));
}

/* Make room for `need` events in the id-sorted array. */
static hv_status_t grow(struct hv *hv, struct hv_event_engine *g, uint32_t need)
{
    uint32_t cap = g->cap ? g->cap : 64;
    size_t pages;
    struct hv_event **n;

    if (need <= g->cap)
        return HV_STATUS_SUCCESS;
    while (cap < need)
        cap *= 2;
    n = alloc_bytes(hv, (size_t)cap * sizeof(*n), &pages);
    if (n == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    if (g->events) {
        hv_lib_copy(n, g->events, (size_t)g->nevents * sizeof(*n));
        hv->os->free_pages(hv->os->ctx, g->events, g->events_pages);
    }
    g->events = n;
    g->events_pages = pages;
    g->cap = cap;
    return HV_STATUS_SUCCESS;
}

static bool spec_ok(const struct hv *hv, const struct hv_event_spec *spec)
{
    return spec != NULL && spec->size >= sizeof(*spec) && spec->type == HV_EVENT_DR_ACCESS &&
           (spec->core == HV_EVENT_ANY_CORE || spec->core < hv->cpu_count) &&
           spec->buffer_size <= HV_EVENT_MAX_BUFFER && spec->condition_len <= HV_EVENT_MAX_CODE &&
           (spec->condition_len == 0 || spec->condition != NULL);
}

/* Allocate and fill one event (no id yet, not visible to exits). */
static hv_status_t make_event(struct hv *hv, const struct hv_event_spec *spec, struct hv_event **out)
{
    struct hv_event *e;

    *out = NULL;
    e = hv->os->alloc_pages(hv->os->ctx, pages_for(sizeof(*e)));
    if (e == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    e->type = spec->type;
    e->pid = spec->pid;
    e->core = spec->core;
    e->imm = spec->imm;
    e->enabled = spec->disabled ? 0u : 1u;
    if (spec->buffer_size) {
        e->buffer = alloc_bytes(hv, spec->buffer_size, &e->buffer_pages);
        if (e->buffer == NULL)
            goto buffer_alloc_failed;
        e->buffer_size = spec->buffer_size;
    }
    if (spec->condition_len) {
        e->cond = exec_copy(hv, spec->condition, spec->condition_len, &e->cond_len);
        if (e->cond == NULL)
            goto cond_alloc_failed;
    }
    *out = e;
    return HV_STATUS_SUCCESS;

cond_alloc_failed:
buffer_alloc_failed:
    free_event(hv, e);
    return HV_STATUS_INSUFFICIENT_RESOURCES;
}

hv_status_t hv_event_add_many(struct hv *hv, const struct hv_event_spec *specs, uint32_t n, uint32_t *ids)
{
    struct hv_event_engine *g;
    struct ev_snapshot *snap;
    hv_status_t st = HV_STATUS_SUCCESS;
    uint32_t i, made = 0, first_id;

    if (hv == NULL || specs == NULL || ids == NULL || n == 0 || n > HV_EVENT_MAX_EVENTS)
        return HV_STATUS_INVALID_PARAMETER;
    for (i = 0; i < n; i++) {
        if (!spec_ok(hv, &specs[i]))
            return HV_STATUS_INVALID_PARAMETER;
        if (specs[i].condition_len && (!HV_OS_HAS(hv->os, alloc_exec) || !HV_OS_HAS(hv->os, free_exec)))
            return HV_STATUS_UNSUPPORTED;
    }
    st = engine_create(hv);
    if (!hv_success(st))
        return st;
    g = __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE);
    lock(g);
    if (g->nevents + n > HV_EVENT_MAX_EVENTS) {
        st = HV_STATUS_INSUFFICIENT_RESOURCES;
        goto limit_reached;
    }
    st = grow(hv, g, g->nevents + n);
    if (!hv_success(st))
        goto limit_reached;
    /* All or nothing: every event is made before any becomes visible. */
    first_id = g->next_id;
    for (made = 0; made < n; made++) {
        st = make_event(hv, &specs[made], &g->events[g->nevents + made]);
        if (!hv_success(st))
            goto make_failed;
        g->events[g->nevents + made]->id = first_id + made;
    }
    g->nevents += n;
    st = build_snapshot(hv, g, &snap);
    if (!hv_success(st))
        goto snapshot_failed;
    g->next_id += n;
    publish(hv, g, snap);
    st = sync_movdr(hv, g);
    for (i = 0; i < n; i++)
        ids[i] = first_id + i;
    unlock(g);
    return st;

snapshot_failed:
    g->nevents -= n;
make_failed:
    while (made-- > 0)
        free_event(hv, g->events[g->nevents + made]);
limit_reached:
    unlock(g);
    return st;
}

hv_status_t hv_event_add(struct hv *hv, const struct hv_event_spec *spec, uint32_t *id)
{
    if (hv == NULL || id == NULL || !spec_ok(hv, spec))
        return HV_STATUS_INVALID_PARAMETER;
    return hv_event_add_many(hv, spec, 1, id);
}

hv_status_t hv_event_add_action(struct hv *hv, uint32_t id, const struct hv_action_spec *a)
{
    struct hv_event_engine *g = hv ? __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) : NULL;
    struct ev_action *slot;
    struct hv_event *e;
    hv_status_t st = HV_STATUS_SUCCESS;
    uint32_t n, i;

    if (g == NULL || a == NULL)
        return hv == NULL || a == NULL ? HV_STATUS_INVALID_PARAMETER : HV_STATUS_NOT_FOUND;
    lock(g);
    e = find(g, id, NULL);
    if (e == NULL) {
        st = HV_STATUS_NOT_FOUND;
        goto out;
    }
    n = e->nactions;
    if (n >= HV_EVENT_MAX_ACTIONS) {
        st = HV_STATUS_INSUFFICIENT_RESOURCES;
        goto out;
    }
    slot = &e->actions[n];
    hv_lib_zero(slot, sizeof(*slot));
    slot->kind = a->kind;
    switch (a->kind) {
    case HV_EVENT_ACTION_BREAK:
        break;
    case HV_EVENT_ACTION_CODE:
        /* The client validated the instructions; the core re-checks size. */
        if (a->code == NULL || a->code_len == 0 || a->code_len > HV_EVENT_MAX_CODE) {
            st = HV_STATUS_INVALID_PARAMETER;
            goto out;
        }
        if (!HV_OS_HAS(hv->os, alloc_exec) || !HV_OS_HAS(hv->os, free_exec)) {
            st = HV_STATUS_UNSUPPORTED;
            goto out;
        }
        slot->code = exec_copy(hv, a->code, a->code_len, &slot->code_len);
        if (slot->code == NULL) {
            st = HV_STATUS_INSUFFICIENT_RESOURCES;
            goto out;
        }
        break;
    case HV_EVENT_ACTION_SCRIPT:
        if (a->script == NULL) {
            st = HV_STATUS_INVALID_PARAMETER;
            goto out;
        }
        for (i = 0; a->script[i] != '\0'; i++) {
            if (i + 1 >= HV_EVENT_MAX_SCRIPT) {
                st = HV_STATUS_INVALID_PARAMETER;
                goto out;
            }
            slot->script[i] = a->script[i];
        }
        break;
    case HV_EVENT_ACTION_PROGRAM:
        if (a->program == NULL || a->program_len == 0 || a->program_len > HV_SCRIPT_MAX_PROGRAM) {
            st = HV_STATUS_INVALID_PARAMETER;
            goto out;
        }
        st = ev_script_load(hv, g, a->program, a->program_len, &slot->prog, &slot->prog_pages);
        if (!hv_success(st))
            goto out;
        break;
    case HV_EVENT_ACTION_CALLBACK:
        if (a->callback == NULL) {
            st = HV_STATUS_INVALID_PARAMETER;
            goto out;
        }
        slot->callback = a->callback;
        slot->callback_ctx = a->callback_ctx;
        break;
    default:
        st = HV_STATUS_INVALID_PARAMETER;
        goto out;
    }
    if (slot->code != NULL || slot->prog != NULL) {
        /* New memory for root: with VPID, root may still hold a stale
         * translation of the pages the OS just handed over (a recycled
         * vmalloc address, mapped no-execute before; hv.h, root_tlb_gen).
         * A new snapshot generation makes each core flush before it next
         * reads the events, and once the grace period has passed no exit
         * that started under the old generation is left to see the slot. */
        struct ev_snapshot *snap;

        st = build_snapshot(hv, g, &snap);
        if (!hv_success(st) || !publish(hv, g, snap)) {
            /* Nobody can have seen the slot: it goes, and so does its copy. */
            if (slot->code != NULL)
                hv->os->free_exec(hv->os->ctx, slot->code, slot->code_len);
            if (slot->prog != NULL)
                hv->os->free_pages(hv->os->ctx, slot->prog, slot->prog_pages);
            slot->code = NULL;
            slot->prog = NULL;
            if (hv_success(st))
                st = HV_STATUS_CPU_CALL_FAILED;
            goto out;
        }
    }
    /* Readers see the slot only once it is complete. */
    __atomic_store_n(&e->nactions, n + 1, __ATOMIC_RELEASE);
out:
    unlock(g);
    return st;
}

static hv_status_t set_enabled(struct hv *hv, uint32_t id, uint32_t on)
{
    struct hv_event_engine *g = hv ? __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) : NULL;
    struct hv_event *e;
    hv_status_t st;

    if (hv == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (g == NULL)
        return HV_STATUS_NOT_FOUND;
    lock(g);
    e = find(g, id, NULL);
    if (e == NULL) {
        unlock(g);
        return HV_STATUS_NOT_FOUND;
    }
    __atomic_store_n(&e->enabled, on, __ATOMIC_RELEASE);
    st = sync_movdr(hv, g);
    unlock(g);
    return st;
}

hv_status_t hv_event_enable(struct hv *hv, uint32_t id)
{
    return set_enabled(hv, id, 1);
}

hv_status_t hv_event_disable(struct hv *hv, uint32_t id)
{
    return set_enabled(hv, id, 0);
}

hv_status_t hv_event_remove(struct hv *hv, uint32_t id)
{
    struct hv_event_engine *g = hv ? __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) : NULL;
    struct ev_snapshot *snap;
    struct hv_event *e;
    uint32_t index, i;
    hv_status_t st;

    if (hv == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (g == NULL)
        return HV_STATUS_NOT_FOUND;
    lock(g);
    e = find(g, id, &index);
    if (e == NULL) {
        unlock(g);
        return HV_STATUS_NOT_FOUND;
    }
    for (i = index; i + 1 < g->nevents; i++)
        g->events[i] = g->events[i + 1];
    g->nevents--;
    st = build_snapshot(hv, g, &snap);
    if (!hv_success(st)) {
        /* Keep it (disabled) rather than free what exits may still use. */
        for (i = g->nevents; i > index; i--)
            g->events[i] = g->events[i - 1];
        g->events[index] = e;
        g->nevents++;
        __atomic_store_n(&e->enabled, 0u, __ATOMIC_RELEASE);
        (void)sync_movdr(hv, g);
        unlock(g);
        return st;
    }
    /* Waits until no exit can still see `e`; if that cannot be known,
     * `e` waits for the engine's destruction instead. */
    if (publish(hv, g, snap)) {
        free_event(hv, e);
    } else {
        e->grave_next = g->grave_events;
        g->grave_events = e;
    }
    st = sync_movdr(hv, g);
    unlock(g);
    return st;
}

hv_status_t hv_event_clear(struct hv *hv)
{
    struct hv_event_engine *g = hv ? __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) : NULL;
    uint32_t i, n;
    hv_status_t st;
    bool grace;

    if (hv == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (g == NULL)
        return HV_STATUS_SUCCESS;
    lock(g);
    n = g->nevents;
    g->nevents = 0;
    grace = publish(hv, g, NULL);
    st = sync_movdr(hv, g);
    for (i = 0; i < n; i++) {
        if (grace) {
            free_event(hv, g->events[i]);
        } else {
            g->events[i]->grave_next = g->grave_events;
            g->grave_events = g->events[i];
        }
    }
    unlock(g);
    return st;
}

hv_status_t hv_event_list(struct hv *hv, struct hv_event_info *out, uint32_t max, uint32_t *count)
{
    struct hv_event_engine *g = hv ? __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) : NULL;
    uint32_t i, k;

    if (hv == NULL || count == NULL || (max && out == NULL))
        return HV_STATUS_INVALID_PARAMETER;
    *count = 0;
    if (g == NULL)
        return HV_STATUS_SUCCESS;
    lock(g);
    *count = g->nevents;
    for (i = 0; i < g->nevents && i < max; i++) {
        const struct hv_event *e = g->events[i];

        out[i].id = e->id;
        out[i].type = e->type;
        out[i].core = e->core;
        out[i].pid = e->pid;
        out[i].enabled = __atomic_load_n(&e->enabled, __ATOMIC_RELAXED) &&
                         !__atomic_load_n(&e->script_off, __ATOMIC_RELAXED);
        out[i].fired = __atomic_load_n(&e->fired, __ATOMIC_RELAXED);
        out[i].imm = e->imm;
        out[i].actions = 0;
        for (k = 0; k < e->nactions; k++)
            out[i].actions |= 1u << e->actions[k].kind;
    }
    unlock(g);
    return HV_STATUS_SUCCESS;
}

struct hv_msg_ring *hv_event_ring(struct hv *hv, uint32_t core)
{
    struct hv_event_engine *g = hv ? __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) : NULL;

    if (g == NULL || core >= hv->cpu_count)
        return NULL;
    return g->rings[core];
}

bool hv_event_flush(struct hv *hv)
{
    struct hv_event_engine *g = hv ? __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) : NULL;
    bool any = false;
    uint32_t c;

    if (g == NULL)
        return false;
    for (c = 0; c < hv->cpu_count; c++)
        any |= hv_msg_flush(g->rings[c]);
    return any;
}

void hv_event_set_break_handler(struct hv *hv, hv_break_handler_fn fn)
{
    if (hv == NULL || !hv_success(engine_create(hv)))
        return;
    __atomic_store_n(&hv->events->break_handler, fn, __ATOMIC_RELEASE);
}

void hv_event_engine_destroy(struct hv *hv)
{
    struct hv_event_engine *g = hv ? __atomic_load_n(&hv->events, __ATOMIC_ACQUIRE) : NULL;
    size_t rb = hv_msg_ring_bytes(EV_RING_CAPACITY);
    uint32_t c;

    if (g == NULL)
        return;
    (void)hv_event_clear(hv);
    /* After hv_stop no core runs an exit: the retired memory is free now. */
    while (g->grave_snaps != NULL) {
        struct ev_snapshot *s = g->grave_snaps;

        g->grave_snaps = s->grave_next;
        hv->os->free_pages(hv->os->ctx, s, s->pages);
    }
    while (g->grave_events != NULL) {
        struct hv_event *e = g->grave_events;

        g->grave_events = e->grave_next;
        free_event(hv, e);
    }
    for (c = 0; c < hv->cpu_count; c++)
        hv->os->free_pages(hv->os->ctx, g->ring_mem[c], pages_for(rb));
    if (g->events)
        hv->os->free_pages(hv->os->ctx, g->events, g->events_pages);
    hv->os->free_pages(hv->os->ctx, g->core_wants, g->wants_pages);
    hv->os->free_pages(hv->os->ctx, g->rings, g->rings_pages);
    if (g->script != NULL)
        hv->os->free_pages(hv->os->ctx, g->script, g->script_pages);
    if (g->script_vms != NULL)
        hv->os->free_pages(hv->os->ctx, g->script_vms, g->script_vms_pages);
    hv->os->free_pages(hv->os->ctx, g, pages_for(sizeof(*g)));
    hv->events = NULL;
}
