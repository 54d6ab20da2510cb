/* SPDX-License-Identifier: MIT */
/*
 * Exit recording (trace.h): per-core buffers filled during a VM exit by
 * the VMCS accessors (vmcs.h), the CPU-access wrappers (trace_arch.h) and
 * the dispatcher, then one record per exit into the core's message ring.
 *
 * The accessors have no vcpu at hand, so a note finds its core through
 * the recording instance and os->cpu_index (ROOT-SAFE); only one instance
 * records at a time. Everything the exit path touches is allocated by
 * hv_trace_start, in PRE-LAUNCH context.
 */
#include <hvcore/arch.h>
#include <hvcore/event.h>
#include <hvcore/exit.h>
#include <hvcore/msg.h>
#include <hvcore/trace.h>

#include "event/event_internal.h"
#include "exit/exit_handlers.h"
#include "exit/trace_arch.h"
#include "lib.h"

uint32_t hv_trace_armed;
/* The recording instance (set by hv_trace_start, cleared by destroy). */
static struct hv *g_owner;
/* Serializes start/stop/destroy (PRE-LAUNCH callers on any CPU). */
static uint32_t g_lock;

struct hv_trace_core {
    uint32_t in_exit;           /* notes are taken between begin and end */
    uint16_t nreads, nwrites, nio;
    uint8_t flags;
    uint64_t seq;
    uint64_t gprs_before[16];
    struct hv_trace_field reads[HV_TRACE_MAX_READS];
    struct hv_trace_field writes[HV_TRACE_MAX_WRITES];
    struct hv_trace_io io[HV_TRACE_MAX_IO];
    uint32_t last_len;          /* keep_last: bytes of `out` (0 = none) */
    uint64_t out[(HV_TRACE_MAX_RECORD + 7u) / 8u];
};

struct hv_trace {
    uint32_t active;            /* atomic */
    bool keep_last;
    uint32_t reasons[3];
    uint64_t max_exits;
    uint64_t taken;             /* atomic: exits claimed against max_exits */
    uint64_t recorded, dropped; /* atomic */
    uint32_t cpu_vendor[3], cpu_signature;
    uint64_t vmx_basic;
    uint32_t cores;
    size_t pages;
    struct hv_trace_core core[];
};

_Static_assert(sizeof(struct hv_trace_file_header) == 80, "trace file header is 80 bytes (trace.h)");
_Static_assert(sizeof(struct hv_trace_exit) == 32, "trace record header is 32 bytes (trace.h)");
_Static_assert(sizeof(struct hv_trace_field) == 16 && sizeof(struct hv_trace_io) == 32, "trace entries");
_Static_assert(HV_TRACE_MAX_READS < 256 && HV_TRACE_MAX_WRITES < 256 && HV_TRACE_MAX_IO < 256,
               "counts fit the record's bytes");

static void lock(void)
{
    while (__atomic_exchange_n(&g_lock, 1u, __ATOMIC_ACQUIRE) != 0)
        __builtin_ia32_pause();
}

static void unlock(void)
{
    __atomic_store_n(&g_lock, 0u, __ATOMIC_RELEASE);
}

/* ---- notes (inside an exit) ------------------------------------------------ */

static struct hv_trace_core *current_core(void)
{
    struct hv *hv = __atomic_load_n(&g_owner, __ATOMIC_ACQUIRE);
    struct hv_trace *t;
    uint32_t cpu;

    if (hv == NULL || (t = hv->trace) == NULL)
        return NULL;
    cpu = hv->os->cpu_index(hv->os->ctx);
    if (cpu >= t->cores || !__atomic_load_n(&t->core[cpu].in_exit, __ATOMIC_RELAXED))
        return NULL;
    return &t->core[cpu];
}

void hv_trace_note_vmread(uint32_t field, uint64_t value, hv_status_t status)
{
    struct hv_trace_core *c = current_core();
    uint32_t i;

    if (c == NULL)
        return;
    /* Only the value the exit found: a later read returns what the handler
     * wrote or what was read first, which replay reproduces by itself. */
    for (i = 0; i < c->nreads; i++)
        if (c->reads[i].field == field)
            return;
    for (i = 0; i < c->nwrites; i++)
        if (c->writes[i].field == field)
            return;
    if (c->nreads == HV_TRACE_MAX_READS) {
        c->flags |= HV_TRACE_EXIT_TRUNCATED;
        return;
    }
    c->reads[c->nreads].field = field;
    c->reads[c->nreads].status = status;
    c->reads[c->nreads].value = value;
    c->nreads++;
}

void hv_trace_note_vmwrite(uint32_t field, uint64_t value, hv_status_t status)
{
    struct hv_trace_core *c = current_core();

    if (c == NULL)
        return;
    if (c->nwrites == HV_TRACE_MAX_WRITES) {
        c->flags |= HV_TRACE_EXIT_TRUNCATED;
        return;
    }
    c->writes[c->nwrites].field = field;
    c->writes[c->nwrites].status = status;
    c->writes[c->nwrites].value = value;
    c->nwrites++;
}

void hv_trace_note_io(uint32_t kind, uint32_t key, uint32_t key2, hv_status_t status, uint64_t v0, uint64_t v1)
{
    struct hv_trace_core *c = current_core();
    struct hv_trace_io *io;

    if (c == NULL)
        return;
    if (c->nio == HV_TRACE_MAX_IO) {
        c->flags |= HV_TRACE_EXIT_TRUNCATED;
        return;
    }
    io = &c->io[c->nio++];
    io->kind = (uint16_t)kind;
    io->reserved = 0;
    io->key = key;
    io->key2 = key2;
    io->status = status;
    io->value[0] = v0;
    io->value[1] = v1;
}

void hv_trace_note_opaque(void)
{
    struct hv_trace_core *c = current_core();

    if (c != NULL)
        c->flags |= HV_TRACE_EXIT_OPAQUE;
}

/* ---- the dispatcher's two calls ------------------------------------------- */

void hv_trace_exit_begin(struct hv_vcpu *vcpu)
{
    struct hv_trace_core *c = vcpu->trace;
    struct hv_trace *t = vcpu->hv->trace;
    uint32_t i;

    if (!__atomic_load_n(&t->active, __ATOMIC_ACQUIRE)) {
        /* Done (max reached or stopped): this core stops asking. */
        __atomic_store_n(&vcpu->trace, NULL, __ATOMIC_RELAXED);
        return;
    }
    c->seq++;
    c->nreads = c->nwrites = c->nio = 0;
    c->flags = 0;
    for (i = 0; i < 16; i++)
        c->gprs_before[i] = vcpu->gprs.r[i];
    __atomic_store_n(&c->in_exit, 1u, __ATOMIC_RELAXED);
}

static bool reason_wanted(const struct hv_trace *t, uint32_t basic)
{
    if ((t->reasons[0] | t->reasons[1] | t->reasons[2]) == 0)
        return true;
    return basic < 96 && (t->reasons[basic / 32] >> (basic % 32)) & 1u;
}

/* Serialize the exit into c->out; its size in bytes. */
static uint32_t build(struct hv_trace_core *c, const struct hv_vcpu *vcpu, uint32_t reason,
                      uint32_t action, uint32_t result)
{
    struct hv_trace_exit *h = (struct hv_trace_exit *)(void *)c->out;
    uint64_t *w = (uint64_t *)(void *)(h + 1);
    uint32_t r, mask = 0;

    for (r = 0; r < 16; r++)
        if (vcpu->gprs.r[r] != c->gprs_before[r])
            mask |= 1u << r;
    h->core = (uint16_t)vcpu->index;
    h->action = (uint8_t)action;
    h->result = (uint8_t)result;
    h->seq = c->seq;
    h->reason = reason;
    h->gpr_changed = (uint16_t)mask;
    h->nreads = (uint8_t)c->nreads;
    h->nwrites = (uint8_t)c->nwrites;
    h->nio = (uint8_t)c->nio;
    h->flags = c->flags;
    h->reserved0 = 0;
    h->reserved1 = 0;
    hv_lib_copy(w, c->gprs_before, sizeof(c->gprs_before));
    w += 16;
    for (r = 0; r < 16; r++)
        if (mask & (1u << r))
            *w++ = vcpu->gprs.r[r];
    hv_lib_copy(w, c->reads, c->nreads * sizeof(c->reads[0]));
    w += c->nreads * 2u;
    hv_lib_copy(w, c->writes, c->nwrites * sizeof(c->writes[0]));
    w += c->nwrites * 2u;
    hv_lib_copy(w, c->io, c->nio * sizeof(c->io[0]));
    w += c->nio * 4u;
    h->size = (uint32_t)((uint8_t *)w - (uint8_t *)h);
    return h->size;
}

/* All fragments or none: a reader never sees half an exit. */
static void send(struct hv *hv, struct hv_trace *t, struct hv_trace_core *c, uint32_t core, uint32_t size)
{
    struct hv_msg_ring *ring = hv_event_ring(hv, core);
    const uint8_t *bytes = (const uint8_t *)c->out;
    uint32_t nfrag = (size + (uint32_t)HV_MSG_PAYLOAD_MAX - 1u) / (uint32_t)HV_MSG_PAYLOAD_MAX, i;
    struct hv_msg_header h;
    bool wake = false;

    if (ring == NULL || hv_msg_room(ring) < nfrag) {
        if (ring != NULL)
            hv_msg_drop(ring, nfrag);
        __atomic_fetch_add(&t->dropped, 1u, __ATOMIC_RELAXED);
        /* A lost exit does not count against max_exits: the recording
         * still delivers that many once the reader catches up. */
        if (t->max_exits != 0)
            __atomic_fetch_sub(&t->taken, 1u, __ATOMIC_RELAXED);
        return;
    }
    hv_lib_zero(&h, sizeof(h));
    h.kind = HV_MSG_EXIT_TRACE;
    h.pid = c->seq;
    for (i = 0; i < nfrag; i++) {
        uint32_t off = i * (uint32_t)HV_MSG_PAYLOAD_MAX;
        uint32_t len = size - off < HV_MSG_PAYLOAD_MAX ? size - off : (uint32_t)HV_MSG_PAYLOAD_MAX;

        h.event_id = i | nfrag << 16;
        wake |= hv_msg_put(ring, &h, bytes + off, len, false);
    }
    __atomic_fetch_add(&t->recorded, 1u, __ATOMIC_RELAXED);
    if (wake && hv->os->notify != NULL)
        hv->os->notify(hv->os->ctx, core);
}

void hv_trace_exit_end(struct hv_vcpu *vcpu, uint32_t reason, uint32_t action, uint32_t result)
{
    struct hv_trace_core *c = vcpu->trace;
    struct hv_trace *t = vcpu->hv->trace;
    uint32_t size;

    if (c == NULL || !__atomic_load_n(&c->in_exit, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&c->in_exit, 0u, __ATOMIC_RELAXED);
    /* Stopped meanwhile: the notes may be incomplete. */
    if (!__atomic_load_n(&t->active, __ATOMIC_ACQUIRE) || !reason_wanted(t, reason & HV_EXIT_REASON_BASIC_MASK))
        return;
    if (t->max_exits != 0 && __atomic_fetch_add(&t->taken, 1u, __ATOMIC_RELAXED) >= t->max_exits) {
        __atomic_store_n(&t->active, 0u, __ATOMIC_RELEASE);
        return;
    }
    if (c->flags & HV_TRACE_EXIT_TRUNCATED) {
        __atomic_fetch_add(&t->dropped, 1u, __ATOMIC_RELAXED);
        if (t->max_exits != 0)
            __atomic_fetch_sub(&t->taken, 1u, __ATOMIC_RELAXED);
        return;
    }
    size = build(c, vcpu, reason, action, result);
    if (t->keep_last) {
        c->last_len = size;
        __atomic_fetch_add(&t->recorded, 1u, __ATOMIC_RELAXED);
        return;
    }
    send(vcpu->hv, t, c, vcpu->index, size);
}

/* ---- control (PRE-LAUNCH) ---------------------------------------------------- */

static hv_status_t noop_on_cpu(uint32_t cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    return HV_STATUS_SUCCESS;
}

/* Disarm and wait until no exit on any core still writes a note. */
static void stop_locked(struct hv *hv)
{
    uint32_t i;

    if (hv->trace == NULL)
        return;
    __atomic_store_n(&hv->trace->active, 0u, __ATOMIC_RELEASE);
    for (i = 0; i < hv->cpu_count; i++)
        __atomic_store_n(&hv->vcpus[i].trace, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&hv_trace_armed, 0u, __ATOMIC_RELEASE);
    /* A cross-call runs on each core between exits: after it none is in
     * one that began with recording on. */
    (void)hv->os->run_on_each_cpu(hv->os->ctx, noop_on_cpu, NULL, HV_CPU_ORDER_ANY);
}

/* CPU facts for a trace file's header, taken on core 0 (any thread may
 * ask for a recording). */
static hv_status_t cpu_facts_on_cpu(uint32_t cpu, void *arg)
{
    struct hv_trace *t = arg;
    struct hv_cpuid_regs r;

    (void)cpu;
    hv_arch_cpuid(0, 0, &r);
    t->cpu_vendor[0] = r.ebx;
    t->cpu_vendor[1] = r.edx;
    t->cpu_vendor[2] = r.ecx;
    hv_arch_cpuid(1, 0, &r);
    t->cpu_signature = r.eax;
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_trace_start(struct hv *hv, const struct hv_trace_config *cfg)
{
    struct hv_event_engine *g;
    struct hv_trace *t;
    size_t bytes, pages;
    hv_status_t st;
    uint32_t i;

    if (hv == NULL || cfg == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    /* Bits of reasons the dispatcher does not know name nothing. */
    if (HV_EXIT_REASON_COUNT < 96 && (cfg->reasons[2] >> (HV_EXIT_REASON_COUNT - 64)) != 0)
        return HV_STATUS_INVALID_PARAMETER;
    if (!hv->started)
        return HV_STATUS_NOT_VIRTUALIZED;
    if (!cfg->keep_last) {
        st = hv_event_engine_get(hv, &g);
        if (!hv_success(st))
            return st;
    }
    lock();
    if (g_owner != NULL && g_owner != hv) {
        unlock();
        return HV_STATUS_INVALID_PARAMETER;
    }
    if (hv->trace == NULL) {
        bytes = sizeof(*t) + (size_t)hv->cpu_count * sizeof(t->core[0]);
        pages = (bytes + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
        t = hv->os->alloc_pages(hv->os->ctx, pages);
        if (t == NULL) {
            unlock();
            return HV_STATUS_INSUFFICIENT_RESOURCES;
        }
        hv_lib_zero(t, bytes);
        t->pages = pages;
        t->cores = hv->cpu_count;
        hv->trace = t;
    }
    stop_locked(hv);
    t = hv->trace;
    t->keep_last = cfg->keep_last;
    t->max_exits = cfg->max_exits;
    for (i = 0; i < 3; i++)
        t->reasons[i] = cfg->reasons[i];
    t->taken = t->recorded = t->dropped = 0;
    for (i = 0; i < t->cores; i++)
        t->core[i].last_len = 0;
    (void)hv->os->run_on_cpu(hv->os->ctx, 0, cpu_facts_on_cpu, t);
    t->vmx_basic = hv->vcpus[0].caps.basic;
    __atomic_store_n(&g_owner, hv, __ATOMIC_RELEASE);
    __atomic_store_n(&t->active, 1u, __ATOMIC_RELEASE);
    __atomic_store_n(&hv_trace_armed, 1u, __ATOMIC_RELEASE);
    for (i = 0; i < hv->cpu_count; i++)
        __atomic_store_n(&hv->vcpus[i].trace, &t->core[i], __ATOMIC_RELEASE);
    unlock();
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_trace_stop(struct hv *hv)
{
    if (hv == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    lock();
    stop_locked(hv);
    unlock();
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_trace_get_status(struct hv *hv, struct hv_trace_status *out)
{
    const struct hv_trace *t;
    uint32_t i;

    if (hv == NULL || out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    hv_lib_zero(out, sizeof(*out));
    out->core_count = hv->cpu_count;
    t = hv->trace;
    if (t == NULL)
        return HV_STATUS_SUCCESS;
    out->active = __atomic_load_n(&t->active, __ATOMIC_ACQUIRE);
    out->recorded = __atomic_load_n(&t->recorded, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&t->dropped, __ATOMIC_RELAXED);
    out->max_exits = t->max_exits;
    for (i = 0; i < 3; i++) {
        out->reasons[i] = t->reasons[i];
        out->cpu_vendor[i] = t->cpu_vendor[i];
    }
    out->cpu_signature = t->cpu_signature;
    out->vmx_basic = t->vmx_basic;
    return HV_STATUS_SUCCESS;
}

const struct hv_trace_exit *hv_trace_last(struct hv *hv, uint32_t core)
{
    if (hv == NULL || hv->trace == NULL || core >= hv->trace->cores || hv->trace->core[core].last_len == 0)
        return NULL;
    return (const struct hv_trace_exit *)(const void *)hv->trace->core[core].out;
}

void hv_trace_destroy(struct hv *hv)
{
    if (hv == NULL || hv->trace == NULL)
        return;
    lock();
    stop_locked(hv);
    hv->os->free_pages(hv->os->ctx, hv->trace, hv->trace->pages);
    hv->trace = NULL;
    if (g_owner == hv)
        __atomic_store_n(&g_owner, NULL, __ATOMIC_RELEASE);
    unlock();
}

bool hv_trace_exit_valid(const struct hv_trace_exit *rec, uint32_t avail)
{
    uint64_t need;

    if (rec == NULL || avail < sizeof(*rec) || rec->size > avail || rec->reserved0 != 0 || rec->reserved1 != 0 ||
        rec->nreads > HV_TRACE_MAX_READS || rec->nwrites > HV_TRACE_MAX_WRITES || rec->nio > HV_TRACE_MAX_IO)
        return false;
    need = sizeof(*rec) + 16u * 8u + 8u * (uint64_t)hv_trace_popcount16(rec->gpr_changed) +
           ((uint64_t)rec->nreads + rec->nwrites) * sizeof(struct hv_trace_field) +
           (uint64_t)rec->nio * sizeof(struct hv_trace_io);
    return need == rec->size;
}
