/* SPDX-License-Identifier: MIT */
/* hvcore::testing — replay of recorded exits (hvcore/testing/replay.h). */
#define _POSIX_C_SOURCE 200809L

#include <hvcore/exit.h>
#include <hvcore/testing/mock.h>
#include <hvcore/testing/replay.h>
#include <hvcore/trace.h>
#include <hvcore/vmcs.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

static const char *const k_gpr[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                       "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

/* Mock failures during one replayed exit: reads the record does not have. */
struct fail_log {
    uint32_t count;
    char first[256];
};

static void on_mock_failure(void *ctx, const char *msg)
{
    struct fail_log *f = ctx;

    if (f->count++ == 0)
        snprintf(f->first, sizeof(f->first), "%s", msg);
}

/* Appends "; "-separated items to the divergence text. */
struct text {
    char *buf;
    size_t cap, len;
    unsigned items;
};

static void add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->len + 1 >= t->cap)
        return;
    if (t->items++ != 0) {
        n = snprintf(t->buf + t->len, t->cap - t->len, "; ");
        t->len += (size_t)n < t->cap - t->len ? (size_t)n : t->cap - t->len - 1;
    }
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < t->cap - t->len ? (size_t)n : t->cap - t->len - 1;
}

static const char *action_name(uint32_t a)
{
    static const char *const names[] = { "RESUME", "SKIP", "FATAL", "DEVIRTUALIZE" };

    return a < 4 ? names[a] : "?";
}

static const char *io_name(uint32_t k)
{
    static const char *const names[] = { "?", "CPUID", "RDMSR", "WRMSR", "READ_DR", "WRITE_DR",
                                         "READ_CR", "WRITE_CR", "XSETBV", "FEATURE_CONTROL(virtual)" };

    return k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static void gprs_after(const struct hv_trace_exit *r, uint64_t out[16])
{
    const uint64_t *after = hv_trace_gprs_after(r);
    uint32_t i, k = 0;

    memcpy(out, hv_trace_gprs_before(r), 16 * sizeof(uint64_t));
    for (i = 0; i < 16; i++)
        if (r->gpr_changed & (1u << i))
            out[i] = after[k++];
}

static void describe_write(char *buf, size_t cap, const struct hv_trace_field *w)
{
    bool inj = w->field == HV_VMCS_VM_ENTRY_INTR_INFO || w->field == HV_VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE ||
               w->field == HV_VMCS_VM_ENTRY_INSTRUCTION_LEN;

    snprintf(buf, cap, "%s%s=0x%llx", inj ? "injection " : "", hv_vmcs_field_name(w->field),
             (unsigned long long)w->value);
}

/* The CPU writes of a record, in order. */
static uint32_t outputs(const struct hv_trace_exit *r, const struct hv_trace_io **out, uint32_t max)
{
    const struct hv_trace_io *io = hv_trace_ios(r);
    uint32_t i, n = 0;

    for (i = 0; i < r->nio && n < max; i++)
        if (hv_trace_io_is_output(io[i].kind))
            out[n++] = &io[i];
    return n;
}

/* Compare the replayed record with the recorded one; true if equal. */
static bool compare(const struct hv_trace_exit *want, const struct hv_trace_exit *got, const struct fail_log *f,
                    struct text *t)
{
    uint64_t a[16], b[16];
    const struct hv_trace_field *ww, *gw;
    const struct hv_trace_io *wo[HV_TRACE_MAX_IO], *go[HV_TRACE_MAX_IO];
    uint32_t i, nw, ng, n;
    char x[128], y[128];
    unsigned before = t->items;

    if (f->count != 0)
        add(t, "the handler read what the recording does not have (%u mock failure%s, first: %s)", f->count,
            f->count == 1 ? "" : "s", f->first);
    if (got == NULL) {
        add(t, "nothing was recorded on replay");
        return false;
    }
    if (want->action != got->action)
        add(t, "handler action: recorded %s, replayed %s", action_name(want->action), action_name(got->action));
    if (want->result != got->result)
        add(t, "dispatcher result: recorded %s, replayed %s", action_name(want->result), action_name(got->result));
    gprs_after(want, a);
    gprs_after(got, b);
    /* Slot 4 is not the guest's RSP (GUEST_RSP in the VMCS is): the stub
     * leaves it and event actions use it as scratch. */
    for (i = 0; i < 16; i++)
        if (i != HV_GPR_RSP && a[i] != b[i])
            add(t, "%s after: recorded 0x%llx, replayed 0x%llx", k_gpr[i], (unsigned long long)a[i],
                (unsigned long long)b[i]);
    ww = hv_trace_writes(want);
    gw = hv_trace_writes(got);
    n = want->nwrites > got->nwrites ? want->nwrites : got->nwrites;
    for (i = 0; i < n; i++) {
        if (i < want->nwrites && i < got->nwrites && ww[i].field == gw[i].field && ww[i].value == gw[i].value)
            continue;
        if (i < want->nwrites)
            describe_write(x, sizeof(x), &ww[i]);
        else
            snprintf(x, sizeof(x), "nothing");
        if (i < got->nwrites)
            describe_write(y, sizeof(y), &gw[i]);
        else
            snprintf(y, sizeof(y), "nothing");
        add(t, "VMCS write %u: recorded %s, replayed %s", i + 1, x, y);
    }
    nw = outputs(want, wo, HV_TRACE_MAX_IO);
    ng = outputs(got, go, HV_TRACE_MAX_IO);
    n = nw > ng ? nw : ng;
    for (i = 0; i < n; i++) {
        if (i < nw && i < ng && wo[i]->kind == go[i]->kind && wo[i]->key == go[i]->key &&
            wo[i]->value[0] == go[i]->value[0] && wo[i]->status == go[i]->status)
            continue;
        if (i < nw)
            snprintf(x, sizeof(x), "%s 0x%x=0x%llx", io_name(wo[i]->kind), wo[i]->key,
                     (unsigned long long)wo[i]->value[0]);
        else
            snprintf(x, sizeof(x), "nothing");
        if (i < ng)
            snprintf(y, sizeof(y), "%s 0x%x=0x%llx", io_name(go[i]->kind), go[i]->key,
                     (unsigned long long)go[i]->value[0]);
        else
            snprintf(y, sizeof(y), "nothing");
        add(t, "CPU write %u: recorded %s, replayed %s", i + 1, x, y);
    }
    return t->items == before;
}

/* The recorded CPU's answers, put into the fake CPU before the exit. */
static void seed_inputs(struct hv *hv, uint32_t core, const struct hv_trace_exit *r)
{
    struct hv_mock_cpu *cpu = hv_mock_cpu(core);
    const struct hv_trace_field *rd = hv_trace_reads(r);
    const struct hv_trace_io *io = hv_trace_ios(r);
    struct hv_cpuid_regs regs;
    uint32_t i;

    hv_mock_vmcs_clear_fields();
    for (i = 0; i < r->nreads; i++)
        if (rd[i].status == HV_STATUS_SUCCESS)
            hv_mock_vmcs_seed(rd[i].field, rd[i].value);
    for (i = 0; i < r->nio; i++) {
        switch (io[i].kind) {
        case HV_TRACE_IO_CPUID:
            regs.eax = (uint32_t)io[i].value[0];
            regs.ebx = (uint32_t)(io[i].value[0] >> 32);
            regs.ecx = (uint32_t)io[i].value[1];
            regs.edx = (uint32_t)(io[i].value[1] >> 32);
            hv_mocki_replay_cpuid(cpu, io[i].key, io[i].key2, &regs);
            break;
        case HV_TRACE_IO_RDMSR:
            hv_mocki_replay_msr(cpu, io[i].key, io[i].value[0], io[i].status != HV_STATUS_SUCCESS, false);
            break;
        case HV_TRACE_IO_WRMSR: {
            /* The MSR must exist (and fault the same way) for the write. */
            struct hv_mock_msr *m = hv_mocki_msr(cpu, io[i].key);

            hv_mocki_replay_msr(cpu, io[i].key, m != NULL ? m->value : 0, m != NULL && m->gp_on_read,
                                io[i].status != HV_STATUS_SUCCESS);
            break;
        }
        case HV_TRACE_IO_READ_DR:
            if (io[i].key < 8)
                cpu->dr[io[i].key] = io[i].value[0];
            break;
        case HV_TRACE_IO_READ_CR:
            if (io[i].key < 9)
                cpu->cr[io[i].key] = io[i].value[0];
            break;
        case HV_TRACE_IO_FC_VIRTUAL:
            hv_mock_set_feature_control_virtual(hv, core, io[i].value[0]);
            break;
        default:
            break;
        }
    }
}

/* A core's VMCS as hv_start left it, to put back before hv_stop. */
struct saved_vmcs {
    bool saved;
    bool have[HV_VMCS_FIELD_COUNT];
    uint64_t value[HV_VMCS_FIELD_COUNT];
};

static void save_vmcs(struct saved_vmcs *s, uint32_t core)
{
    int i;

    if (s->saved)
        return;
    for (i = 0; i < (int)HV_VMCS_FIELD_COUNT; i++)
        s->have[i] = hv_mock_vmcs_peek_on(core, hv_vmcs_slot_encoding(i), &s->value[i]);
    s->saved = true;
}

static void restore_vmcs(const struct saved_vmcs *s, uint32_t core)
{
    int i;

    if (!s->saved)
        return;
    (void)hv_mock_cpu_bind(core);
    hv_mock_vmcs_clear_fields();
    for (i = 0; i < (int)HV_VMCS_FIELD_COUNT; i++)
        if (s->have[i])
            hv_mock_vmcs_seed(hv_vmcs_slot_encoding(i), s->value[i]);
}

static hv_status_t replay_one(struct hv *hv, const struct hv_trace_exit *r, struct hv_replay_result *out,
                              uint64_t index, struct saved_vmcs *saved)
{
    uint32_t core = r->core, i;
    struct hv_vcpu *vcpu = &hv->vcpus[core];
    struct hv_mock_cpu *cpu;
    struct fail_log f = { 0, "" };
    struct text t;
    char tmp[sizeof(out->first)];
    hv_mock_failure_fn old_fn;
    void *old_ctx;

    (void)hv_mock_cpu_bind(core);
    cpu = hv_mock_cpu(core);
    save_vmcs(&saved[core], core);
    hv_mock_exit_dump_clear(hv, core);
    hv_mock_cpu_lock(core);
    hv_mock_get_failure_handler(&old_fn, &old_ctx);
    hv_mock_set_failure_handler(on_mock_failure, &f);
    seed_inputs(hv, core, r);
    for (i = 0; i < 16; i++)
        vcpu->gprs.r[i] = hv_trace_gprs_before(r)[i];
    hv_mock_os_set_in_exit(true);
    cpu->in_guest = false;
    (void)hv_exit_dispatch(vcpu);
    cpu->in_guest = true;
    hv_mock_os_set_in_exit(false);
    hv_mock_set_failure_handler(old_fn, old_ctx);
    hv_mock_cpu_unlock(core);

    out->replayed++;
    t.buf = tmp;
    t.cap = sizeof(tmp);
    t.len = 0;
    t.items = 0;
    tmp[0] = '\0';
    if (compare(r, hv_trace_last(hv, core), &f, &t)) {
        out->matched++;
        return HV_STATUS_SUCCESS;
    }
    out->diverged++;
    if (!out->have_divergence) {
        out->have_divergence = 1;
        out->first_index = index;
        out->first_seq = r->seq;
        out->first_core = core;
        out->first_reason = r->reason;
        memcpy(out->first, tmp, sizeof(out->first));
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t run(const uint8_t *p, size_t len, const struct hv_trace_file_header *h,
                       const struct hv_replay_options *opt, struct hv_replay_result *out)
{
    struct hv_trace_config cfg;
    struct saved_vmcs *saved;
    struct hv *hv = NULL;
    size_t off = h->header_size;
    uint64_t i, limit = opt != NULL && opt->max_exits != 0 ? opt->max_exits : h->exits;
    hv_status_t st;
    uint32_t c;

    st = hv_mock_init(h->core_count, HV_MOCK_PROFILE_HASWELL);
    if (!hv_success(st))
        return st;
    saved = calloc(h->core_count, sizeof(*saved));
    if (saved == NULL) {
        st = HV_STATUS_INSUFFICIENT_RESOURCES;
        goto no_saved;
    }
    st = hv_create(&hv, hv_mock_os(), NULL);
    if (!hv_success(st))
        goto create_failed;
    if (opt != NULL && opt->setup != NULL)
        opt->setup(hv, opt->ctx);
    st = hv_start(hv);
    if (!hv_success(st))
        goto start_failed;
    memset(&cfg, 0, sizeof(cfg));
    cfg.keep_last = true;
    st = hv_trace_start(hv, &cfg);
    if (!hv_success(st))
        goto trace_failed;
    for (i = 0; i < h->exits && i < limit; i++) {
        const struct hv_trace_exit *r = (const struct hv_trace_exit *)(const void *)(p + off);

        if (((uintptr_t)r & 7u) != 0 || !hv_trace_exit_valid(r, (uint32_t)(len - off < UINT32_MAX ? len - off : UINT32_MAX)) ||
            r->core >= h->core_count) {
            st = HV_STATUS_INVALID_PACKET;
            break;
        }
        if (r->flags & HV_TRACE_EXIT_TRUNCATED) {
            st = HV_STATUS_INVALID_PACKET;
            break;
        }
        if (r->flags & HV_TRACE_EXIT_OPAQUE) {
            out->skipped++;
            off += r->size;
            continue;
        }
        st = replay_one(hv, r, out, i, saved);
        if (!hv_success(st))
            break;
        off += r->size;
    }
    (void)hv_trace_stop(hv);
    for (c = 0; c < h->core_count; c++)
        restore_vmcs(&saved[c], c);
    (void)hv_mock_cpu_bind(0);
trace_failed:
    (void)hv_stop(hv);
start_failed:
    hv_destroy(hv);
create_failed:
    free(saved);
no_saved:
    hv_mock_fini();
    return st;
}

hv_status_t hv_replay_buffer(const void *data, size_t len, const struct hv_replay_options *opt,
                             struct hv_replay_result *out)
{
    struct hv_trace_file_header h;

    if (data == NULL || out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    memset(out, 0, sizeof(*out));
    if (len < sizeof(h))
        return HV_STATUS_INVALID_PACKET;
    memcpy(&h, data, sizeof(h));
    if (memcmp(h.magic, HV_TRACE_MAGIC, sizeof(h.magic)) != 0 || h.version != HV_TRACE_VERSION ||
        h.header_size < sizeof(h) || h.header_size > len || (h.header_size & 7u) != 0 || h.core_count == 0 ||
        h.core_count > HV_MOCK_MAX_CPUS)
        return HV_STATUS_INVALID_PACKET;
    out->core_count = h.core_count;
    out->cpu_signature = h.cpu_signature;
    memcpy(out->cpu_vendor, h.cpu_vendor, 12);
    out->cpu_vendor[12] = '\0';
    out->exits = h.exits;
    out->dropped = h.dropped;
    return run(data, len, &h, opt, out);
}

hv_status_t hv_replay_file(const char *path, const struct hv_replay_options *opt, struct hv_replay_result *out)
{
    FILE *f;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;
    hv_status_t st;

    if (path == NULL || out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    memset(out, 0, sizeof(*out));
    f = fopen(path, "rb");
    if (f == NULL)
        return HV_STATUS_READ_FAILED;
    for (;;) {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap ? cap * 2 : 1u << 16);

            if (nb == NULL) {
                free(buf);
                fclose(f);
                return HV_STATUS_INSUFFICIENT_RESOURCES;
            }
            buf = nb;
            cap = cap ? cap * 2 : 1u << 16;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    st = ferror(f) ? HV_STATUS_READ_FAILED : hv_replay_buffer(buf, len, opt, out);
    fclose(f);
    free(buf);
    return st;
}
