/* SPDX-License-Identifier: MIT */
/* Trace files from the message stream (hvcore/client/trace_file.h). */
#include <hvcore/client/trace_file.h>
#include <hvcore/trace.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One core's exit being put back together. */
struct partial {
    uint8_t buf[HV_TRACE_MAX_RECORD + HV_MSG_PAYLOAD_MAX];
    uint32_t len, next, count;
    uint64_t seq;
};

struct hv_trace_writer {
    FILE *f;
    struct hv_trace_file_header h;
    uint64_t exits, lost;
    bool failed;
    uint32_t cores;
    struct partial *p;          /* one per core */
};

hv_status_t hv_trace_writer_open(struct hv_trace_writer **out, const char *path, const struct hv_abi_trace *info)
{
    struct hv_trace_writer *w;

    if (out == NULL || path == NULL || info == NULL || info->core_count == 0)
        return HV_STATUS_INVALID_PARAMETER;
    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL || (w->p = calloc(info->core_count, sizeof(*w->p))) == NULL) {
        free(w);
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    w->cores = info->core_count;
    memcpy(w->h.magic, HV_TRACE_MAGIC, sizeof(w->h.magic));
    w->h.version = HV_TRACE_VERSION;
    w->h.header_size = sizeof(w->h);
    w->h.core_count = info->core_count;
    memcpy(w->h.cpu_vendor, info->cpu_vendor, sizeof(w->h.cpu_vendor));
    w->h.cpu_signature = info->cpu_signature;
    w->h.vmx_basic = info->vmx_basic;
    memcpy(w->h.reasons, info->reasons, sizeof(w->h.reasons));
    w->f = fopen(path, "wb");
    if (w->f == NULL || fwrite(&w->h, sizeof(w->h), 1, w->f) != 1) {
        if (w->f != NULL)
            fclose(w->f);
        free(w->p);
        free(w);
        return HV_STATUS_WRITE_FAILED;
    }
    *out = w;
    return HV_STATUS_SUCCESS;
}

static void take(struct hv_trace_writer *w, const struct hv_msg_record *m)
{
    struct partial *p;
    uint32_t index = m->h.event_id & 0xFFFFu, count = m->h.event_id >> 16;

    if (m->h.core >= w->cores || count == 0 || index >= count ||
        count * HV_MSG_PAYLOAD_MAX > sizeof(p->buf))
        return;
    p = &w->p[m->h.core];
    /* Records lost just before this one, or a fragment out of turn: the
     * exit under construction (if any) is incomplete. */
    if (p->count != 0 && (m->h.lost_before != 0 || index != p->next || m->h.pid != p->seq)) {
        w->lost++;
        p->count = 0;
    }
    if (p->count == 0) {
        if (index != 0) {
            if (index == count - 1)
                w->lost++; /* a headless exit, counted once: at its last fragment */
            return;
        }
        p->len = 0;
        p->next = 0;
        p->count = count;
        p->seq = m->h.pid;
    }
    memcpy(p->buf + p->len, m->payload, m->h.payload_len);
    p->len += m->h.payload_len;
    p->next++;
    if (p->next < p->count)
        return;
    p->count = 0;
    if (!hv_trace_exit_valid((const struct hv_trace_exit *)(const void *)p->buf, p->len)) {
        w->lost++;
        return;
    }
    if (fwrite(p->buf, p->len, 1, w->f) != 1)
        w->failed = true;
    else
        w->exits++;
}

hv_status_t hv_trace_writer_feed(struct hv_trace_writer *w, const struct hv_msg_record *recs, uint32_t n)
{
    uint32_t i;

    if (w == NULL || (recs == NULL && n != 0))
        return HV_STATUS_INVALID_PARAMETER;
    for (i = 0; i < n; i++)
        if (recs[i].h.kind == HV_MSG_EXIT_TRACE)
            take(w, &recs[i]);
    return w->failed ? HV_STATUS_WRITE_FAILED : HV_STATUS_SUCCESS;
}

uint64_t hv_trace_writer_exits(const struct hv_trace_writer *w)
{
    return w != NULL ? w->exits : 0;
}

uint64_t hv_trace_writer_lost(const struct hv_trace_writer *w)
{
    return w != NULL ? w->lost : 0;
}

hv_status_t hv_trace_writer_close(struct hv_trace_writer *w, uint64_t dropped)
{
    bool ok;

    if (w == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    w->h.exits = w->exits;
    w->h.dropped = dropped + w->lost;
    ok = !w->failed && fseek(w->f, 0, SEEK_SET) == 0 && fwrite(&w->h, sizeof(w->h), 1, w->f) == 1;
    ok = fclose(w->f) == 0 && ok;
    free(w->p);
    free(w);
    return ok ? HV_STATUS_SUCCESS : HV_STATUS_WRITE_FAILED;
}
