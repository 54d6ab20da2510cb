/* SPDX-License-Identifier: MIT */
/*
 * hvctl record / hvctl replay: exit recording to a trace file (hvcore/trace.h,
 * docs/trace-format.md) and its replay on the mock (hvcore/testing/replay.h).
 */
#define _GNU_SOURCE
#include <hvcore/client/engine.h>
#include <hvcore/client/trace_file.h>
#include <hvcore/testing/replay.h>
#include <hvcore/trace.h>
#include <hvcore/vmx.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hvctl_trace.h"

static const struct {
    const char *name;
    uint32_t reason;
} k_reasons[] = {
#define HV_X_(name, n) { #name, n },
    HV_EXIT_REASON_LIST(HV_X_)
#undef HV_X_
};

/* "CPUID", "cpuid", "mov-dr" and "mov_dr" all name MOV_DR; or a number. */
static bool reason_by_name(const char *s, size_t len, uint32_t *out)
{
    size_t i, k;
    char *end;
    unsigned long v;
    char buf[40];

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isdigit((unsigned char)buf[0])) {
        v = strtoul(buf, &end, 0);
        if (*end != '\0' || v >= HV_EXIT_REASON_COUNT)
            return false;
        *out = (uint32_t)v;
        return true;
    }
    for (k = 0; k < len; k++)
        buf[k] = buf[k] == '-' ? '_' : buf[k];
    for (i = 0; i < sizeof(k_reasons) / sizeof(k_reasons[0]); i++) {
        if (!strcasecmp(k_reasons[i].name, buf)) {
            *out = k_reasons[i].reason;
            return true;
        }
    }
    return false;
}

static const char *reason_name(uint32_t basic)
{
    size_t i;

    for (i = 0; i < sizeof(k_reasons) / sizeof(k_reasons[0]); i++)
        if (k_reasons[i].reason == basic)
            return k_reasons[i].name;
    return "?";
}

static uint64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static int record_usage(void)
{
    fprintf(stderr, "usage: hvctl [--target T] record --exits N [--reasons LIST] -o FILE [--timeout SECONDS]\n"
                    "  LIST: comma-separated exit reasons by name or number (cpuid,rdmsr,wrmsr,mov-dr,vmcall)\n");
    return 2;
}

int hvctl_record(struct hv_engine *e, int argc, char **argv, const volatile sig_atomic_t *stop)
{
    uint32_t reasons[3] = { 0, 0, 0 }, r, n;
    uint64_t exits = 0, deadline;
    unsigned long timeout_s = 120;
    const char *path = NULL;
    struct hv_trace_writer *w = NULL;
    struct hv_abi_trace t;
    static struct hv_msg_record recs[256];
    hv_status_t st, wst = HV_STATUS_SUCCESS;
    char *end;
    int i;

    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--exits") && i + 1 < argc) {
            exits = strtoull(argv[++i], &end, 0);
            if (*end != '\0' || exits == 0) {
                fprintf(stderr, "hvctl record: --exits needs a positive number, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--reasons") && i + 1 < argc) {
            const char *s = argv[++i];

            while (*s) {
                size_t len = strcspn(s, ",");

                if (!reason_by_name(s, len, &r)) {
                    fprintf(stderr, "hvctl record: unknown exit reason '%.*s' (a name such as cpuid, rdmsr, "
                                    "wrmsr, mov-dr, vmcall, or a number below %u)\n", (int)len, s,
                            HV_EXIT_REASON_COUNT);
                    return 2;
                }
                reasons[r / 32] |= 1u << (r % 32);
                s += len + (s[len] == ',');
            }
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            timeout_s = strtoul(argv[++i], &end, 0);
            if (*end != '\0' || timeout_s == 0) {
                fprintf(stderr, "hvctl record: --timeout needs a positive number of seconds\n");
                return 2;
            }
        } else {
            return record_usage();
        }
    }
    if (exits == 0 || path == NULL)
        return record_usage();

    st = hv_engine_trace(e, HV_ABI_TRACE_START, exits, reasons, &t);
    if (!hv_success(st)) {
        fprintf(stderr, "hvctl record: the target refused to record: %s (0x%08x)\n", hv_status_name(st), st);
        return 1;
    }
    st = hv_trace_writer_open(&w, path, &t);
    if (!hv_success(st)) {
        fprintf(stderr, "hvctl record: cannot write %s: %s\n", path, strerror(errno));
        (void)hv_engine_trace(e, HV_ABI_TRACE_STOP, 0, NULL, &t);
        return 1;
    }
    deadline = now_ms() + (uint64_t)timeout_s * 1000u;
    for (;;) {
        st = hv_engine_read(e, recs, 256, &n, 200);
        if (hv_success(st) && n != 0)
            wst = hv_trace_writer_feed(w, recs, n);
        else if (!hv_success(st) && st != HV_STATUS_TIMEOUT)
            break;
        if (!hv_success(wst) || (stop != NULL && *stop))
            break;
        if (hv_trace_writer_exits(w) >= exits)
            break;
        /* Ask how the recording goes only when the stream is quiet. */
        if (n != 0 && now_ms() <= deadline)
            continue;
        if (!hv_success(hv_engine_trace(e, HV_ABI_TRACE_STATUS, 0, NULL, &t)))
            break;
        /* The hypervisor is done and everything it sent is in. */
        if (!t.active && hv_trace_writer_exits(w) + hv_trace_writer_lost(w) >= t.recorded && n == 0)
            break;
        if (now_ms() > deadline) {
            fprintf(stderr, "hvctl record: %lu s passed: stopping with what was recorded\n", timeout_s);
            break;
        }
    }
    (void)hv_engine_trace(e, HV_ABI_TRACE_STOP, 0, NULL, &t);
    /* What was in flight when it stopped: until a read brings no more of
     * it (events may keep the stream busy with their own records). */
    deadline = now_ms() + 2000u;
    while (hv_success(wst) && now_ms() < deadline && hv_success(hv_engine_read(e, recs, 256, &n, 300)) && n != 0) {
        uint64_t before = hv_trace_writer_exits(w) + hv_trace_writer_lost(w);
        uint32_t k, frags = 0;

        for (k = 0; k < n; k++)
            frags += recs[k].h.kind == HV_MSG_EXIT_TRACE;
        wst = hv_trace_writer_feed(w, recs, n);
        if (frags == 0 && hv_trace_writer_exits(w) + hv_trace_writer_lost(w) == before)
            break;
    }
    exits = hv_trace_writer_exits(w);
    st = hv_trace_writer_close(w, t.dropped);
    if (!hv_success(st) || !hv_success(wst)) {
        fprintf(stderr, "hvctl record: writing %s failed\n", path);
        return 1;
    }
    printf("recorded %llu exits on %u cores to %s (%llu dropped)\n", (unsigned long long)exits, t.core_count, path,
           (unsigned long long)t.dropped);
    return exits != 0 ? 0 : 1;
}

int hvctl_replay(int argc, char **argv)
{
    struct hv_replay_result *res;
    struct hv_replay_options o = { 0 };
    hv_status_t st;
    int i;
    const char *path = NULL;
    char *end;

    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--max") && i + 1 < argc) {
            o.max_exits = strtoull(argv[++i], &end, 0);
            if (*end != '\0')
                path = NULL, i = argc;
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            path = NULL;
            break;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: hvctl replay FILE [--max N]   (FILE from hvctl record)\n");
        return 2;
    }
    res = calloc(1, sizeof(*res));
    if (res == NULL)
        return 1;
    st = hv_replay_file(path, &o, res);
    if (st == HV_STATUS_READ_FAILED) {
        fprintf(stderr, "hvctl replay: cannot read %s: %s\n", path, strerror(errno));
        free(res);
        return 1;
    }
    if (st == HV_STATUS_INVALID_PACKET && res->replayed == 0 && res->exits == 0) {
        fprintf(stderr, "hvctl replay: %s is not a trace file this version reads (magic \"HVTRACE\", version %u)\n",
                path, HV_TRACE_VERSION);
        free(res);
        return 1;
    }
    printf("trace %s: %llu exits on %u cores (%s, CPUID 1 EAX %#x), %llu dropped while recording\n", path,
           (unsigned long long)res->exits, res->core_count, res->cpu_vendor, res->cpu_signature,
           (unsigned long long)res->dropped);
    printf("replayed %llu, matched %llu, diverged %llu, skipped %llu (ran code the trace does not hold)\n",
           (unsigned long long)res->replayed, (unsigned long long)res->matched, (unsigned long long)res->diverged,
           (unsigned long long)res->skipped);
    if (res->have_divergence)
        printf("first divergence: exit %llu (core %u, seq %llu, reason %u %s): %s\n",
               (unsigned long long)res->first_index, res->first_core, (unsigned long long)res->first_seq,
               res->first_reason, reason_name(res->first_reason & 0xFFFFu), res->first);
    if (!hv_success(st))
        printf("replay stopped: %s (0x%08x) at exit %llu\n", hv_status_name(st), st,
               (unsigned long long)res->replayed);
    i = hv_success(st) && res->matched == res->replayed && res->replayed + res->skipped == res->exits ? 0 : 1;
    free(res);
    return i;
}
