/* SPDX-License-Identifier: MIT */
/*
 * Event engine, VM-exit side (ROOT-SAFE): no lock, no allocation. An exit
 * reads the published snapshot once and visits only the events filed
 * under its four keys: (this core, this pid), (this core, any pid),
 * (any core, this pid), (any core, any pid).
 */
#include <hvcore/arch.h>
#include <hvcore/event.h>
#include <hvcore/exit.h>

#include "debugger/debugger_internal.h"
#include "event/event_internal.h"
#include "exit/trace_arch.h"
#include "lib.h"

/* Payloads (after struct hv_msg_header):
 *   DR_ACCESS  struct hv_msg_dr_access
 *   BREAK      struct hv_msg_dr_access, uint64_t gprs[16] (RSP real), rflags
 *   SCRIPT     struct hv_msg_dr_access, NUL-terminated text
 *   CODE       struct hv_msg_dr_access, the first bytes of the buffer */
struct break_payload {
    struct hv_msg_dr_access dr;
    uint64_t gprs[16];
    uint64_t rflags;
};

static void emit(struct hv_exit *x, const struct hv_event *e, const struct hv_event_access *a,
                 uint16_t kind, const void *payload, uint32_t len)
{
    struct hv_event_engine *g = x->vcpu->hv->events;
    const struct hv_os_ops *os = x->vcpu->hv->os;
    struct hv_msg_header h;

    hv_lib_zero(&h, sizeof(h));
    h.event_id = e->id;
    h.pid = a->pid;
    h.kind = kind;
    if (hv_msg_put(g->rings[a->core], &h, payload, len, e->imm) && os->notify != NULL)
        os->notify(os->ctx, a->core);
}

static const char *const reg_names[16] = {
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

static bool name_is(const char *p, const char *name, uint32_t *len)
{
    uint32_t i;

    for (i = 0; name[i]; i++)
        if (p[i] != name[i])
            return false;
    /* The name must end here: $r1 is not $r10. */
    if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9'))
        return false;
    *len = i;
    return true;
}

/* Render a script: text with $pseudo-registers replaced by hex values. */
static void render(const char *script, const struct hv_event_access *a, char *out, size_t cap)
{
    struct hv_sb sb;
    const char *p = script;

    hv_sb_init(&sb, out, cap);
    while (*p) {
        uint32_t len = 0, r;
        char one[2] = { *p, 0 };

        if (*p != '$') {
            hv_sb_str(&sb, one);
            p++;
            continue;
        }
        p++;
        if (name_is(p, "pid", &len))
            hv_sb_hex(&sb, a->pid);
        else if (name_is(p, "core", &len))
            hv_sb_hex(&sb, a->core);
        else if (name_is(p, "context", &len))
            hv_sb_hex(&sb, (uint64_t)(uintptr_t)a->context);
        else if (name_is(p, "event", &len))
            hv_sb_hex(&sb, a->event_id);
        else if (name_is(p, "dr", &len))
            hv_sb_hex(&sb, a->dr.dr);
        else if (name_is(p, "value", &len))
            hv_sb_hex(&sb, a->dr.value);
        else if (name_is(p, "rip", &len))
            hv_sb_hex(&sb, a->dr.rip);
        else if (name_is(p, "rflags", &len))
            hv_sb_hex(&sb, a->rflags);
        else {
            for (r = 0; r < 16; r++) {
                if (name_is(p, reg_names[r], &len)) {
                    hv_sb_hex(&sb, r == HV_GPR_RSP ? a->rsp : a->gprs->r[r]);
                    break;
                }
            }
            if (r == 16)
                hv_sb_str(&sb, "$"); /* not a pseudo-register: keep the text */
        }
        p += len;
    }
}

static void default_break(struct hv_exit *x, const struct hv_event *e, const struct hv_event_access *a)
{
    struct break_payload b;

    b.dr = a->dr;
    hv_lib_copy(b.gprs, a->gprs->r, sizeof(b.gprs));
    b.gprs[HV_GPR_RSP] = a->rsp;
    b.rflags = a->rflags;
    emit(x, e, a, HV_MSG_BREAK, &b, sizeof(b));
}

struct script_out {
    struct hv_exit *x;
    const struct hv_event *e;
    const struct hv_event_access *a;
};

static void script_emit(void *ctx, uint16_t kind, const void *payload, uint32_t len)
{
    struct script_out *o = ctx;

    emit(o->x, o->e, o->a, kind, payload, len);
}

static void ev_script_event_ctl(void *ctx, uint32_t id, bool enable)
{
    const struct ev_snapshot *s = ctx;
    uint32_t i;

    /* Only events the client enabled: a script can switch them off and on
     * again (script_off); MOV-DR exiting and the snapshot stay as they are. */
    for (i = 0; i < s->nlist; i++) {
        if (s->list[i]->id == id) {
            __atomic_store_n(&s->list[i]->script_off, enable ? 0u : 1u, __ATOMIC_RELEASE);
            return;
        }
    }
}

static void run_program(struct hv_exit *x, const struct hv_event *e, struct hv_event_access *a,
                        const struct hv_script *prog, const struct ev_snapshot *snap)
{
    struct hv_event_engine *g = x->vcpu->hv->events;
    struct script_out o = { x, e, a };
    struct hv_script_env env;

    hv_lib_zero(&env, sizeof(env));
    env.os = x->vcpu->hv->os;
    env.paging = NULL;                  /* the guest's, from the VMCS */
    env.gprs = a->gprs;                 /* RSP in r[4] (fire_one) */
    env.rip = hv_exit_rip(x);
    env.rflags = a->rflags;
    env.pseudo[HV_SPSEUDO_PID] = a->pid;
    env.pseudo[HV_SPSEUDO_CORE] = a->core;
    env.pseudo[HV_SPSEUDO_IP] = a->dr.rip;
    env.pseudo[HV_SPSEUDO_BUFFER] = (uint64_t)(uintptr_t)a->buffer;
    env.pseudo[HV_SPSEUDO_CONTEXT] = (uint64_t)(uintptr_t)a->context;
    env.pseudo[HV_SPSEUDO_EVENT_ID] = a->event_id;
    /* Actions run after the access was emulated: HyperDbg's post stage. */
    env.pseudo[HV_SPSEUDO_EVENT_STAGE] = 1;
    env.globals = g->script->globals;
    env.vm = &g->script_vms[a->core];
    env.emit = script_emit;
    env.emit_ctx = &o;
    env.event_ctl = ev_script_event_ctl;
    env.event_ctx = (void *)(uintptr_t)snap;
    env.prefix = &a->dr;
    env.prefix_len = (uint32_t)sizeof(a->dr);
    (void)hv_script_run(prog, &env);
    if (env.rip_changed)
        hv_exit_set_rip(x, env.rip);
    if (env.rflags_changed) {
        hv_exit_set_rflags(x, env.rflags);
        a->rflags = env.rflags;
    }
    if (a->gprs->r[HV_GPR_RSP] != a->rsp) {
        hv_exit_set_rsp(x, a->gprs->r[HV_GPR_RSP]);
        a->rsp = a->gprs->r[HV_GPR_RSP];
    }
}

static void fire_one(struct hv_exit *x, struct hv_event *e, struct hv_event_access *a,
                     const struct ev_snapshot *snap)
{
    struct hv_event_engine *g = x->vcpu->hv->events;
    uint8_t payload[HV_MSG_PAYLOAD_MAX];
    uint32_t n, i;

    a->event_id = e->id;
    a->buffer = e->buffer;
    a->buffer_size = e->buffer_size;
    /* The guest's RSP, for code, scripts and break records. */
    a->gprs->r[HV_GPR_RSP] = a->rsp;

    /* Conditions, code, callbacks and scripts are not in an exit record. */
    if (e->cond != NULL)
        hv_trace_opaque();
    if (e->cond != NULL && ((hv_code_fn)e->cond)(a->gprs, NULL, NULL) == 0)
        return;
    __atomic_fetch_add(&e->fired, 1u, __ATOMIC_RELAXED);

    n = __atomic_load_n(&e->nactions, __ATOMIC_ACQUIRE);
    if (n == 0)
        emit(x, e, a, HV_MSG_DR_ACCESS, &a->dr, sizeof(a->dr));
    for (i = 0; i < n; i++) {
        const struct ev_action *act = &e->actions[i];
        uint32_t len = 0;

        switch (act->kind) {
        case HV_EVENT_ACTION_BREAK: {
            hv_break_handler_fn bh = __atomic_load_n(&g->break_handler, __ATOMIC_ACQUIRE);

            if (x->vcpu->hv->dbg != NULL)
                hv_debugger_break(x->vcpu->hv, a);
            else if (bh != NULL)
                bh(x->vcpu->hv, a);
            else
                default_break(x, e, a);
            break;
        }
        case HV_EVENT_ACTION_CODE:
            hv_trace_opaque();
            (void)((hv_code_fn)act->code)(e->buffer, a->gprs, NULL);
            hv_lib_copy(payload, &a->dr, sizeof(a->dr));
            if (e->buffer != NULL) {
                len = e->buffer_size < sizeof(payload) - sizeof(a->dr) ? e->buffer_size
                                                                      : (uint32_t)(sizeof(payload) - sizeof(a->dr));
                hv_lib_copy(payload + sizeof(a->dr), e->buffer, len);
            }
            emit(x, e, a, HV_MSG_CODE, payload, (uint32_t)sizeof(a->dr) + len);
            break;
        case HV_EVENT_ACTION_SCRIPT:
            hv_lib_copy(payload, &a->dr, sizeof(a->dr));
            render(act->script, a, (char *)payload + sizeof(a->dr), sizeof(payload) - sizeof(a->dr));
            for (len = 0; payload[sizeof(a->dr) + len] != 0; len++)
                ;
            emit(x, e, a, HV_MSG_SCRIPT, payload, (uint32_t)sizeof(a->dr) + len + 1);
            break;
        case HV_EVENT_ACTION_CALLBACK:
            hv_trace_opaque();
            act->callback(a, act->callback_ctx);
            break;
        case HV_EVENT_ACTION_PROGRAM:
            hv_trace_opaque();
            run_program(x, e, a, act->prog, snap);
            break;
        default:
            break;
        }
    }
    a->gprs->r[HV_GPR_RSP] = 0;
}

void hv_event_dr_fire(struct hv_exit *x, const struct hv_msg_dr_access *dr)
{
    struct hv_event_engine *g = x->vcpu->hv->events;
    const struct hv_os_ops *os = x->vcpu->hv->os;
    const struct ev_snapshot *s;
    struct hv_event_access a;
    uint32_t core = x->vcpu->index, k, i;
    uint64_t pid;
    bool have_state = false;

    if (g == NULL)
        return;
    s = __atomic_load_n(&g->snap, __ATOMIC_ACQUIRE);
    if (s == NULL)
        return;
    /* New snapshot, events, rings or code pages: drop root's stale
     * translations before reading any of them (hv.h, root_tlb_gen). */
    if (s->gen != x->vcpu->root_tlb_gen) {
        hv_arch_flush_root_tlb(x->vcpu->caps.has_invpcid);
        x->vcpu->root_tlb_gen = s->gen;
    }
    pid = os->current_pid != NULL ? os->current_pid(os->ctx) : 0;

    for (k = 0; k < 4; k++) {
        const struct ev_slot *sl = ev_lookup(s, HV_EVENT_DR_ACCESS, (k & 2) ? HV_EVENT_ANY_CORE : core,
                                             (k & 1) ? HV_EVENT_ANY_PID : pid);

        if (sl == NULL)
            continue;
        for (i = 0; i < sl->count; i++) {
            struct hv_event *e = s->list[sl->start + i];

            if (!__atomic_load_n(&e->enabled, __ATOMIC_ACQUIRE) ||
                __atomic_load_n(&e->script_off, __ATOMIC_ACQUIRE))
                continue;
            if (!have_state) {
                /* Only an exit that fires pays for the extra state. */
                a.core = core;
                a.pid = pid;
                a.type = HV_EVENT_DR_ACCESS;
                a.reserved = 0;
                a.dr = *dr;
                a.gprs = x->gprs;
                a.rsp = hv_exit_rsp(x);
                a.rflags = hv_exit_rflags(x);
                a.context = NULL;
                have_state = true;
            }
            fire_one(x, e, &a, s);
        }
    }
}
