/* SPDX-License-Identifier: MIT */
/*
 * One validation and dispatch path for requests in the abi.h layouts.
 * Every length is checked against the header's size, and that against
 * what the caller owns, before anything is read or executed.
 */
#include <hvcore/abi_exec.h>
#include <hvcore/script.h>
#include <hvcore/event.h>
#include <hvcore/msr.h>
#include <hvcore/trace.h>

#include "lib.h"

static hv_status_t fail(struct hv_abi_header *h, size_t cap)
{
    if (cap >= sizeof(*h))
        h->status = HV_STATUS_INVALID_PARAMETER;
    return HV_STATUS_INVALID_PARAMETER;
}

/* The header checks every request passes first (both execute paths). */
static bool header_ok(const struct hv_abi_header *h, size_t cap)
{
    return h->version == HV_ABI_VERSION && h->flags == 0 && h->reserved == 0 && h->size >= sizeof(*h) &&
           h->size <= cap && h->size <= HV_ABI_MAX_REQUEST;
}

static void *tmp_alloc(struct hv *hv, size_t bytes, size_t *pages)
{
    *pages = (bytes + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
    if (*pages == 0)
        *pages = 1;
    return hv->os->alloc_pages(hv->os->ctx, *pages);
}

static hv_status_t do_msr(struct hv *hv, uint8_t *buf, size_t size, bool values_only)
{
    size_t head = values_only ? sizeof(struct hv_abi_msr_values) : sizeof(struct hv_abi_msr);
    size_t entry = values_only ? sizeof(uint64_t) : sizeof(struct hv_abi_msr_result);
    struct hv_abi_msr *rq = (struct hv_abi_msr *)(void *)buf;
    struct hv_abi_msr_values *rv = (struct hv_abi_msr_values *)(void *)buf;
    const struct hv_abi_msr_op *op = &rq->op;  /* same place in both layouts */
    uint32_t capacity = values_only ? rv->value_capacity : rq->result_capacity;
    uint32_t n = hv_msr_target_count(hv, op->core_number), i;
    struct hv_msr_result *res;
    size_t pages;
    hv_status_t st;

    if (size < head || op->msr > 0xFFFFFFFFull || op->action > HV_ABI_MSR_WRITE || n == 0 ||
        capacity < n || capacity > HV_ABI_MAX_REQUEST / entry || head + (size_t)capacity * entry > size)
        return HV_STATUS_INVALID_PARAMETER;
    res = tmp_alloc(hv, (size_t)n * sizeof(*res), &pages);
    if (res == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    if (op->action == HV_ABI_MSR_READ)
        st = hv_msr_read(hv, op->core_number, (uint32_t)op->msr, res, n);
    else
        st = hv_msr_write(hv, op->core_number, (uint32_t)op->msr, op->value, res, n);
    for (i = 0; i < n; i++) {
        if (values_only) {
            rv->values[i] = res[i].value;
        } else {
            rq->results[i].core = res[i].core;
            rq->results[i].status = res[i].status;
            rq->results[i].value = res[i].value;
            rq->results[i].route = res[i].route;
            rq->results[i].in_root = res[i].in_root;
        }
    }
    if (values_only)
        rv->values_written = n;
    else
        rq->results_written = n;
    hv->os->free_pages(hv->os->ctx, res, pages);
    return st;
}

static hv_status_t do_query(struct hv *hv, uint8_t *buf, size_t size)
{
    struct hv_abi_query *q = (struct hv_abi_query *)(void *)buf;
    uint32_t i, n, r;

    if (size < sizeof(*q) || q->cpu_capacity > HV_ABI_MAX_REQUEST / sizeof(struct hv_abi_cpu_state) ||
        sizeof(*q) + (size_t)q->cpu_capacity * sizeof(struct hv_abi_cpu_state) > size)
        return HV_STATUS_INVALID_PARAMETER;
    q->abi_version = HV_ABI_VERSION;
    q->cpu_count = hv->cpu_count;
    n = q->cpu_count < q->cpu_capacity ? q->cpu_count : q->cpu_capacity;
    q->cpus_written = n;
    q->allocations = 0;
    hv_lib_zero(q->signature, sizeof(q->signature));
    hv_lib_copy(q->signature, hv->cfg.signature, HV_SIGNATURE_LEN);
    for (i = 0; i < n; i++) {
        const struct hv_vcpu *v = &hv->vcpus[i];

        q->cpus[i].virtualized = (v->steps & HV_STEP_LAUNCHED) ? 1u : 0u;
        q->cpus[i].status = v->status;
        for (r = 0; r < HV_ABI_EXIT_COUNTERS; r++)
            q->cpus[i].exit_count[r] = v->exit_count[r];
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t do_event_add(struct hv *hv, uint8_t *buf, size_t size)
{
    struct hv_abi_event_add *a = (struct hv_abi_event_add *)(void *)buf;
    struct hv_event_spec spec;
    hv_status_t st;
    uint32_t id = 0;

    if (size < sizeof(*a) || a->condition_len > HV_EVENT_MAX_CODE ||
        sizeof(*a) + (size_t)a->condition_len > size || a->reserved || a->imm > 1 || a->disabled > 1)
        return HV_STATUS_INVALID_PARAMETER;
    hv_lib_zero(&spec, sizeof(spec));
    spec.size = sizeof(spec);
    spec.type = a->type;
    spec.pid = a->pid;
    spec.core = a->core;
    spec.imm = a->imm != 0;
    spec.disabled = a->disabled != 0;
    spec.buffer_size = a->buffer_size;
    spec.condition = a->condition_len ? a->data : NULL;
    spec.condition_len = a->condition_len;
    st = hv_event_add(hv, &spec, &id);
    a->id = hv_success(st) ? id : 0;
    return st;
}

static hv_status_t do_event_action(struct hv *hv, uint8_t *buf, size_t size)
{
    struct hv_abi_event_action *a = (struct hv_abi_event_action *)(void *)buf;
    struct hv_action_spec act;

    if (size < sizeof(*a) || a->data_len > (a->kind == HV_ABI_ACTION_PROGRAM ? HV_SCRIPT_MAX_PROGRAM
                                                                               : HV_EVENT_MAX_CODE) ||
        sizeof(*a) + (size_t)a->data_len > size || a->reserved)
        return HV_STATUS_INVALID_PARAMETER;
    hv_lib_zero(&act, sizeof(act));
    act.kind = a->kind;
    switch (a->kind) {
    case HV_ABI_ACTION_BREAK:
        break;
    case HV_ABI_ACTION_CODE:
        if (a->data_len == 0)
            return HV_STATUS_INVALID_PARAMETER;
        act.code = a->data;
        act.code_len = a->data_len;
        break;
    case HV_ABI_ACTION_SCRIPT:
        /* The text must end, with its NUL, inside what was sent. */
        if (a->data_len == 0 || a->data_len > HV_EVENT_MAX_SCRIPT || a->data[a->data_len - 1] != '\0')
            return HV_STATUS_INVALID_PARAMETER;
        act.script = (const char *)a->data;
        break;
    case HV_ABI_ACTION_PROGRAM:
        /* Verified again by the core (hv_script_bind) on its own copy. */
        if (a->data_len == 0)
            return HV_STATUS_INVALID_PARAMETER;
        act.kind = HV_EVENT_ACTION_PROGRAM;
        act.program = a->data;
        act.program_len = a->data_len;
        break;
    default:
        return HV_STATUS_INVALID_PARAMETER; /* C callbacks do not travel */
    }
    return hv_event_add_action(hv, a->id, &act);
}

static hv_status_t do_event_ctl(struct hv *hv, uint8_t *buf, size_t size)
{
    struct hv_abi_event_ctl *c = (struct hv_abi_event_ctl *)(void *)buf;
    struct hv_event_info *info;
    hv_status_t st;
    uint32_t n = 0, i;
    size_t pages;

    if (size < sizeof(*c) || c->op < HV_ABI_EVENT_ENABLE || c->op > HV_ABI_EVENT_REMOVE)
        return HV_STATUS_INVALID_PARAMETER;
    if (c->id != HV_ABI_EVENT_ALL) {
        if (c->op == HV_ABI_EVENT_ENABLE)
            return hv_event_enable(hv, c->id);
        if (c->op == HV_ABI_EVENT_DISABLE)
            return hv_event_disable(hv, c->id);
        return hv_event_remove(hv, c->id);
    }
    if (c->op == HV_ABI_EVENT_REMOVE)
        return hv_event_clear(hv);
    st = hv_event_list(hv, NULL, 0, &n);
    if (!hv_success(st) || n == 0)
        return st;
    info = tmp_alloc(hv, (size_t)n * sizeof(*info), &pages);
    if (info == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    st = hv_event_list(hv, info, n, &n);
    for (i = 0; hv_success(st) && i < n; i++)
        st = c->op == HV_ABI_EVENT_ENABLE ? hv_event_enable(hv, info[i].id) : hv_event_disable(hv, info[i].id);
    hv->os->free_pages(hv->os->ctx, info, pages);
    return st;
}

static hv_status_t do_event_list(struct hv *hv, uint8_t *buf, size_t size)
{
    struct hv_abi_event_list *l = (struct hv_abi_event_list *)(void *)buf;
    struct hv_event_info *info;
    uint32_t n = 0, i;
    size_t pages;
    hv_status_t st;

    if (size < sizeof(*l) || l->capacity > HV_EVENT_MAX_EVENTS ||
        sizeof(*l) + (size_t)l->capacity * sizeof(struct hv_abi_event_info) > size)
        return HV_STATUS_INVALID_PARAMETER;
    info = tmp_alloc(hv, ((size_t)l->capacity + 1) * sizeof(*info), &pages);
    if (info == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    st = hv_event_list(hv, info, l->capacity, &n);
    for (i = 0; hv_success(st) && i < n && i < l->capacity; i++) {
        l->events[i].id = info[i].id;
        l->events[i].type = info[i].type;
        l->events[i].core = info[i].core;
        l->events[i].enabled = info[i].enabled;
        l->events[i].pid = info[i].pid;
        l->events[i].fired = info[i].fired;
        l->events[i].actions = info[i].actions;
        l->events[i].imm = info[i].imm;
    }
    l->count = n;
    hv->os->free_pages(hv->os->ctx, info, pages);
    return st;
}

static hv_status_t do_event_rings(struct hv *hv, uint8_t *buf, size_t size)
{
    struct hv_abi_event_rings *r = (struct hv_abi_event_rings *)(void *)buf;
    struct hv_msg_stats s;
    uint32_t c, n;

    if (size < sizeof(*r) || r->capacity > HV_ABI_MAX_REQUEST / sizeof(struct hv_abi_ring_stats) ||
        sizeof(*r) + (size_t)r->capacity * sizeof(struct hv_abi_ring_stats) > size)
        return HV_STATUS_INVALID_PARAMETER;
    /* The rings live as long as the engine (until hv_destroy): no lock. */
    n = hv_event_ring(hv, 0) != NULL ? hv->cpu_count : 0;
    r->count = n;
    for (c = 0; c < n && c < r->capacity; c++) {
        hv_msg_stats(hv_event_ring(hv, c), &s);
        r->rings[c].core = c;
        r->rings[c].capacity = s.capacity;
        r->rings[c].produced = s.produced;
        r->rings[c].dropped = s.dropped;
        r->rings[c].consumed = s.consumed;
        r->rings[c].readable = s.readable;
        r->rings[c].pending = s.pending;
        r->rings[c].unreported = s.unreported;
        r->rings[c].reserved = 0;
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t do_script_eval(struct hv *hv, uint8_t *buf, size_t size)
{
    struct hv_abi_script_eval *r = (struct hv_abi_script_eval *)(void *)buf;

    if (size < sizeof(*r) || r->data_len == 0 || r->data_len > HV_SCRIPT_MAX_PROGRAM ||
        sizeof(*r) + (size_t)r->data_len > size)
        return HV_STATUS_INVALID_PARAMETER;
    return hv_script_eval(hv, r->core, r->data, r->data_len, &r->result);
}

static hv_status_t do_trace(struct hv *hv, uint8_t *buf, size_t size)
{
    struct hv_abi_trace *r = (struct hv_abi_trace *)(void *)buf;
    struct hv_trace_config cfg;
    struct hv_trace_status s;
    hv_status_t st = HV_STATUS_SUCCESS;
    uint32_t i;

    if (size < sizeof(*r) || r->reserved != 0 || r->reserved2 != 0 || r->op < HV_ABI_TRACE_START ||
        r->op > HV_ABI_TRACE_STATUS)
        return HV_STATUS_INVALID_PARAMETER;
    if (r->op == HV_ABI_TRACE_START) {
        hv_lib_zero(&cfg, sizeof(cfg));
        cfg.max_exits = r->max_exits;
        for (i = 0; i < 3; i++)
            cfg.reasons[i] = r->reasons[i];
        st = hv_trace_start(hv, &cfg);
    } else if (r->op == HV_ABI_TRACE_STOP) {
        st = hv_trace_stop(hv);
    }
    (void)hv_trace_get_status(hv, &s);
    r->active = s.active;
    r->recorded = s.recorded;
    r->dropped = s.dropped;
    r->core_count = s.core_count;
    for (i = 0; i < 3; i++)
        r->cpu_vendor[i] = s.cpu_vendor[i];
    r->cpu_signature = s.cpu_signature;
    r->vmx_basic = s.vmx_basic;
    return st;
}

hv_status_t hv_abi_execute(struct hv *hv, uint32_t request, void *buf, size_t cap, size_t *resp_len)
{
    struct hv_abi_header *h = buf;
    hv_status_t st;
    uint8_t *b = buf;

    if (resp_len != NULL)
        *resp_len = 0;
    if (hv == NULL || buf == NULL || resp_len == NULL || cap < sizeof(*h))
        return HV_STATUS_INVALID_PARAMETER;
    if (!header_ok(h, cap))
        return fail(h, cap);
    switch (request) {
    case HV_ABI_REQ_MSR:        st = do_msr(hv, b, h->size, false); break;
    case HV_ABI_REQ_MSR_VALUES: st = do_msr(hv, b, h->size, true); break;
    case HV_ABI_REQ_QUERY:      st = do_query(hv, b, h->size); break;
    case HV_ABI_REQ_EVENT_ADD:  st = do_event_add(hv, b, h->size); break;
    case HV_ABI_REQ_EVENT_ACTION: st = do_event_action(hv, b, h->size); break;
    case HV_ABI_REQ_EVENT_CTL:  st = do_event_ctl(hv, b, h->size); break;
    case HV_ABI_REQ_EVENT_LIST: st = do_event_list(hv, b, h->size); break;
    case HV_ABI_REQ_EVENT_RINGS: st = do_event_rings(hv, b, h->size); break;
    case HV_ABI_REQ_SCRIPT_EVAL: st = do_script_eval(hv, b, h->size); break;
    case HV_ABI_REQ_TRACE:      st = do_trace(hv, b, h->size); break;
    default:                    st = HV_STATUS_INVALID_PARAMETER; break;
    }
    h->status = st;
    *resp_len = h->size;
    return st;
}

/* The fixed part each request kind must at least have (offline path). */
static size_t fixed_size(uint32_t request)
{
    switch (request) {
    case HV_ABI_REQ_MSR:          return sizeof(struct hv_abi_msr);
    case HV_ABI_REQ_MSR_VALUES:   return sizeof(struct hv_abi_msr_values);
    case HV_ABI_REQ_QUERY:        return sizeof(struct hv_abi_query);
    case HV_ABI_REQ_EVENT_ADD:    return sizeof(struct hv_abi_event_add);
    case HV_ABI_REQ_EVENT_ACTION: return sizeof(struct hv_abi_event_action);
    case HV_ABI_REQ_EVENT_CTL:    return sizeof(struct hv_abi_event_ctl);
    case HV_ABI_REQ_EVENT_LIST:   return sizeof(struct hv_abi_event_list);
    case HV_ABI_REQ_EVENT_RINGS:  return sizeof(struct hv_abi_event_rings);
    case HV_ABI_REQ_SCRIPT_EVAL:  return sizeof(struct hv_abi_script_eval);
    case HV_ABI_REQ_TRACE:        return sizeof(struct hv_abi_trace);
    default:                      return 0;
    }
}

hv_status_t hv_abi_execute_offline(uint32_t cpu_count, hv_status_t reason, uint32_t request, void *buf,
                                   size_t cap, size_t *resp_len)
{
    struct hv_abi_header *h = buf;
    struct hv_abi_query *q = buf;
    size_t need = fixed_size(request);
    hv_status_t st = HV_STATUS_NOT_VIRTUALIZED;
    uint32_t i, n;

    if (resp_len != NULL)
        *resp_len = 0;
    if (buf == NULL || resp_len == NULL || cap < sizeof(*h) || hv_success(reason))
        return HV_STATUS_INVALID_PARAMETER;
    if (!header_ok(h, cap) || need == 0 || h->size < need)
        return fail(h, cap);
    if (request == HV_ABI_REQ_QUERY) {
        if (q->cpu_capacity > HV_ABI_MAX_REQUEST / sizeof(struct hv_abi_cpu_state) ||
            sizeof(*q) + (size_t)q->cpu_capacity * sizeof(struct hv_abi_cpu_state) > h->size)
            return fail(h, cap);
        q->abi_version = HV_ABI_VERSION;
        q->cpu_count = cpu_count;
        n = cpu_count < q->cpu_capacity ? cpu_count : q->cpu_capacity;
        q->cpus_written = n;
        q->allocations = 0;
        hv_lib_zero(q->signature, sizeof(q->signature));
        for (i = 0; i < n; i++) {
            hv_lib_zero(&q->cpus[i], sizeof(q->cpus[i]));
            q->cpus[i].status = reason;   /* why this CPU is not virtualized */
        }
        st = HV_STATUS_SUCCESS;
    }
    h->status = st;
    *resp_len = h->size;
    return st;
}
