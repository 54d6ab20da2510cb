/* SPDX-License-Identifier: MIT */
/*
 * Event forwarding: named outputs (file, named pipe, TCP), the routing of
 * records from events to outputs, and the text and JSON formats. The
 * behaviour is described in <hvcore/client/output.h>.
 *
 * Threads and locks:
 *   - set->lock guards the table of outputs and the bindings; it is held
 *     only for table work, never across I/O or a wait.
 *   - each output has o->m guarding its queue, state and counters, and
 *     one writer thread while it is open. The reader's hv_output_forward()
 *     takes set->lock, then o->m for a memcpy into the ring, and writes one
 *     byte to the writer's wake pipe (non-blocking) when the ring was empty.
 *   - the writer owns the file descriptor; it takes o->m only to take
 *     records out of the ring and to publish counters.
 * Outputs are never freed before the set is, so a pointer taken under
 * set->lock stays valid after it is released.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* POLLRDHUP, pipe2, MSG_NOSIGNAL */
#endif

#include <hvcore/client/output.h>
#include <hvcore/script.h>

#include "sys.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BATCH            64u     /* records the writer takes at once */
#define RETRY_MIN_MS     100u
#define RETRY_MAX_MS     1000u
#define CONNECT_WAIT_MS  1000
#define FORMAT_BYTES     8192u   /* one formatted record, either format */
#define QUOTE_NAME       48u

struct out {
    char name[HV_OUTPUT_NAME_MAX + 1];
    enum hv_output_type type;
    enum hv_output_format format;
    char target[HV_OUTPUT_TARGET_MAX + 1];
    struct sockaddr_storage addr;           /* tcp: resolved at create */
    socklen_t addr_len;

    pthread_mutex_t m;
    pthread_cond_t cv;                      /* queue drained, first attempt done, thread done */
    enum hv_output_state state;
    bool opening;                           /* hv_output_open is setting it up */
    bool running;                           /* a writer thread exists and the ring takes records */
    bool stop;                              /* the writer should end */
    struct timespec deadline;               /* ... after draining until then */
    bool attempted;                         /* tcp: the first connect attempt is over */
    bool ever_ready;                        /* for counting reconnects */
    struct hv_msg_record *ring;             /* HV_OUTPUT_QUEUE records while open */
    uint32_t head, count, inflight;
    uint64_t sent, dropped;
    uint32_t reconnects;
    char error[128];
    int wake[2];                            /* [0] writer polls, [1] forward writes */
    int fd;                                 /* the writer's; -1 when not connected */
    pthread_t thread;
    uint32_t bound;                         /* events bound (under set->lock) */
};

struct binding {
    uint32_t event;
    uint32_t n;
    bool console;
    uint8_t idx[HV_OUTPUT_MAX_PER_EVENT];
};

struct hv_output_set {
    pthread_mutex_t lock;
    struct out *outs[HV_OUTPUT_MAX];
    uint32_t n;
    struct binding *binds;                  /* sorted by event */
    uint32_t nbinds, cap_binds;
};

/* ---- small helpers ----------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static hv_status_t fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && err_len > 0) {
        va_start(ap, fmt);
        (void)vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return HV_STATUS_INVALID_PARAMETER;
}

static void clear_err(char *err, size_t err_len)
{
    if (err != NULL && err_len > 0)
        err[0] = '\0';
}

/* s as a printable, shortened string for messages. */
static const char *quote(char *dst, size_t cap, const char *s, size_t len)
{
    size_t i, n = len < cap - 1 ? len : cap - 4, o = 0;

    for (i = 0; i < n; i++)
        dst[o++] = ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7F) ? s[i] : '?';
    if (n < len) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

static bool is_console(const char *name)
{
    return strcasecmp(name, "console") == 0;
}

static uint64_t now_ms(void)
{
    return hv_sys_now_ms();
}

/* An absolute CLOCK_MONOTONIC time ms from now (the cond vars use it). */
static struct timespec deadline_in(int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static bool past(const struct timespec *t)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec > t->tv_sec || (ts.tv_sec == t->tv_sec && ts.tv_nsec >= t->tv_nsec);
}

const char *hv_output_type_name(enum hv_output_type type)
{
    return type == HV_OUTPUT_FILE ? "file" : type == HV_OUTPUT_NAMEDPIPE ? "namedpipe"
                                           : type == HV_OUTPUT_TCP ? "tcp" : "?";
}

const char *hv_output_format_name(enum hv_output_format format)
{
    return format == HV_OUTPUT_JSON ? "json" : format == HV_OUTPUT_TEXT ? "text" : "?";
}

const char *hv_output_state_name(enum hv_output_state state)
{
    return state == HV_OUTPUT_READY ? "open" : state == HV_OUTPUT_WAITING ? "waiting" : "closed";
}

/* ---- names ------------------------------------------------------------------- */

hv_status_t hv_output_name_check(const char *name, size_t len, char *err, size_t err_len)
{
    char q[QUOTE_NAME];
    size_t i;

    clear_err(err, err_len);
    if (name == NULL || len == 0)
        return fail(err, err_len, "an output needs a name");
    quote(q, sizeof(q), name, len);
    if (len > HV_OUTPUT_NAME_MAX)
        return fail(err, err_len, "output name '%s' is longer than %u characters", q, HV_OUTPUT_NAME_MAX);
    for (i = 0; i < len; i++) {
        char c = name[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

        if (!letter && (i == 0 || !((c >= '0' && c <= '9') || c == '-' || c == '.')))
            return fail(err, err_len,
                        "output name '%s' is not a name: use letters, digits, '_', '-' and '.', starting with a "
                        "letter or '_'", q);
    }
    if (len == 7 && strncasecmp(name, "console", 7) == 0)
        return fail(err, err_len, "'console' is reserved: in output {...} it means the console itself");
    return HV_STATUS_SUCCESS;
}

/* ---- JSON and text ----------------------------------------------------------- */

struct sink {
    char *out;
    size_t size, total;
};

static void put(struct sink *s, const char *p, size_t n)
{
    if (s->size > 0 && s->total < s->size - 1) {
        size_t room = s->size - 1 - s->total;

        memcpy(s->out + s->total, p, n < room ? n : room);
        s->out[s->total + (n < room ? n : room)] = '\0';
    }
    s->total += n;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void putf(struct sink *s, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void puts_(struct sink *s, const char *str)
{
    put(s, str, strlen(str));
}

static void sink_init(struct sink *s, char *out, size_t size)
{
    s->out = out;
    s->size = out ? size : 0;
    s->total = 0;
    if (s->size > 0)
        s->out[0] = '\0';
}

/* Length of the valid UTF-8 sequence at p (2..4), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    uint32_t cp;
    size_t len, i;

    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2, cp = p[0] & 0x1Fu;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        len = 3, cp = p[0] & 0x0Fu;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4, cp = p[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static void json_escape(struct sink *s, const char *str, size_t len)
{
    const unsigned char *p = (const unsigned char *)str;
    size_t i = 0, run = 0;

    while (i < len) {
        unsigned char c = p[i];
        size_t u;

        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            i++;
            run++;
            continue;
        }
        put(s, str + i - run, run);
        run = 0;
        switch (c) {
        case '"': put(s, "\\\"", 2); i++; continue;
        case '\\': put(s, "\\\\", 2); i++; continue;
        case '\b': put(s, "\\b", 2); i++; continue;
        case '\f': put(s, "\\f", 2); i++; continue;
        case '\n': put(s, "\\n", 2); i++; continue;
        case '\r': put(s, "\\r", 2); i++; continue;
        case '\t': put(s, "\\t", 2); i++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7F) {
            putf(s, "\\u%04x", c);
            i++;
        } else if ((u = utf8_len(p + i, len - i)) != 0) {
            put(s, str + i, u);
            i += u;
        } else {
            put(s, "\\ufffd", 6);
            i++;
        }
    }
    put(s, str + i - run, run);
}

size_t hv_output_json_escape(const char *s, size_t len, char *out, size_t size)
{
    struct sink k;

    sink_init(&k, out, size);
    if (s != NULL)
        json_escape(&k, s, len);
    return k.total;
}

static const char *const k_regs[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };

/* fffff807`73553180, as hvctl prints 64-bit values. */
static const char *hex64(uint64_t v, char *buf)
{
    if (v >> 32)
        sprintf(buf, "%08x`%08x", (unsigned)(v >> 32), (unsigned)v);
    else
        sprintf(buf, "%08x", (unsigned)v);
    return buf;
}

/* The record's DR access and the bytes after it (clamped). */
static uint32_t record_parts(const struct hv_msg_record *r, struct hv_msg_dr_access *a, const uint8_t **rest)
{
    uint32_t len = r->h.payload_len <= HV_MSG_PAYLOAD_MAX ? r->h.payload_len : (uint32_t)HV_MSG_PAYLOAD_MAX;

    memcpy(a, r->payload, sizeof(*a));
    *rest = r->payload + sizeof(*a);
    len = len > sizeof(*a) ? len - (uint32_t)sizeof(*a) : 0;
    /* A script's text ends at its NUL, as the console always showed it. */
    if (r->h.kind == HV_MSG_SCRIPT) {
        const uint8_t *nul = memchr(*rest, 0, len);

        if (nul)
            len = (uint32_t)(nul - *rest);
    }
    return len;
}

const char *hv_output_script_status_text(const struct hv_msg_script_status *m, char *buf, size_t cap)
{
    static const char *const errs[] = { "error", "bad memory address", "division by zero",
                                        "calls nested too deep" };

    switch (m->reason) {
    case HV_SCRIPT_END_BUDGET:
        snprintf(buf, cap, "stopped: budget exhausted after %llu instructions (at %04x)",
                 (unsigned long long)m->executed, m->pc);
        break;
    case HV_SCRIPT_END_PAUSE:
        snprintf(buf, cap, "pause() at %04x (no debugger attached: the guest continues)", m->pc);
        break;
    case HV_SCRIPT_END_ERROR:
        if (m->error == HV_SCRIPT_ERR_MEMORY)
            snprintf(buf, cap, "stopped: %s 0x%llx (%s) at %04x", errs[1], (unsigned long long)m->address,
                     hv_status_name(m->status), m->pc);
        else
            snprintf(buf, cap, "stopped: %s at %04x (%s)", m->error < 4 ? errs[m->error] : errs[0], m->pc,
                     hv_status_name(m->status));
        break;
    default:
        snprintf(buf, cap, "status %u", m->reason);
        break;
    }
    return buf;
}

size_t hv_output_format_text(const struct hv_msg_record *r, char *out, size_t size)
{
    struct sink s;
    struct hv_msg_dr_access a;
    const uint8_t *rest;
    uint32_t n, k;
    char v[200], rip[24];

    sink_init(&s, out, size);
    if (r == NULL)
        return 0;
    if (r->h.kind == HV_MSG_SCRIPT_STATUS) {
        struct hv_msg_script_status m;

        memset(&m, 0, sizeof(m));
        memcpy(&m, r->payload, r->h.payload_len < sizeof(m) ? r->h.payload_len : sizeof(m));
        if (r->h.lost_before)
            putf(&s, "(%u messages lost before this one: the ring was full)\n", r->h.lost_before);
        putf(&s, "[core %u pid %llx event %u #%llu] script %s", r->h.core, (unsigned long long)r->h.pid,
             r->h.event_id, (unsigned long long)r->h.seq, hv_output_script_status_text(&m, v, sizeof(v)));
        puts_(&s, "\n");
        return s.total;
    }
    n = record_parts(r, &a, &rest);
    if (r->h.lost_before)
        putf(&s, "(%u messages lost before this one: the ring was full)\n", r->h.lost_before);
    putf(&s, "[core %u pid %llx event %u #%llu] %s dr%u, %s = %s at %s", r->h.core, (unsigned long long)r->h.pid,
         r->h.event_id, (unsigned long long)r->h.seq, a.direction ? "mov from" : "mov to", a.dr, k_regs[a.gpr & 15],
         hex64(a.value, v), hex64(a.rip, rip));
    if (r->h.kind == HV_MSG_SCRIPT) {
        puts_(&s, "\n  script: ");
        put(&s, (const char *)rest, n);
    } else if (r->h.kind == HV_MSG_BREAK) {
        uint64_t g[17] = { 0 };
        int i;

        memcpy(g, rest, n < sizeof(g) ? n : sizeof(g));
        puts_(&s, "\n  break (local mode: the guest continues):");
        for (i = 0; i < 16; i++)
            putf(&s, "%s%s=%s", i % 4 ? " " : "\n    ", k_regs[i], hex64(g[i], v));
        putf(&s, "\n    rflags=%s", hex64(g[16], v));
    } else if (r->h.kind == HV_MSG_CODE) {
        puts_(&s, "\n  code ran; buffer:");
        for (k = 0; k < n && k < 32; k++)
            putf(&s, " %02x", rest[k]);
    }
    puts_(&s, "\n");
    return s.total;
}

size_t hv_output_format_json(const struct hv_msg_record *r, char *out, size_t size)
{
    static const char *const kinds[] = { "unknown", "dr_access", "break", "script", "code", "script_status" };
    struct sink s;
    struct hv_msg_dr_access a;
    const uint8_t *rest;
    uint32_t n, k;

    sink_init(&s, out, size);
    if (r == NULL)
        return 0;
    if (r->h.kind == HV_MSG_SCRIPT_STATUS) {
        struct hv_msg_script_status m;
        char t[200];

        memset(&m, 0, sizeof(m));
        memcpy(&m, r->payload, r->h.payload_len < sizeof(m) ? r->h.payload_len : sizeof(m));
        putf(&s, "{\"event\":%u,\"core\":%u,\"pid\":\"0x%" PRIx64 "\",\"seq\":%" PRIu64
             ",\"kind\":\"script_status\",\"lost_before\":%u,\"reason\":%u,\"error\":%u,\"status\":\"%s\","
             "\"pc\":%u,\"executed\":%" PRIu64 ",\"address\":\"0x%" PRIx64 "\",\"text\":\"",
             r->h.event_id, r->h.core, r->h.pid, r->h.seq, r->h.lost_before, m.reason, m.error,
             hv_status_name(m.status), m.pc, m.executed, m.address);
        hv_output_script_status_text(&m, t, sizeof(t));
        json_escape(&s, t, strlen(t));
        puts_(&s, "\"}\n");
        return s.total;
    }
    n = record_parts(r, &a, &rest);
    putf(&s, "{\"event\":%u,\"core\":%u,\"pid\":\"0x%" PRIx64 "\",\"seq\":%" PRIu64 ",", r->h.event_id, r->h.core,
         r->h.pid, r->h.seq);
    if (r->h.kind < sizeof(kinds) / sizeof(kinds[0]) && r->h.kind != 0)
        putf(&s, "\"kind\":\"%s\",", kinds[r->h.kind]);
    else
        putf(&s, "\"kind\":\"unknown\",\"kind_number\":%u,", r->h.kind);
    putf(&s, "\"lost_before\":%u,\"timestamp\":\"0x%" PRIx64 "\",", r->h.lost_before, r->h.timestamp);
    putf(&s, "\"dr\":%u,\"direction\":\"%s\",\"gpr\":\"%s\",\"value\":\"0x%" PRIx64 "\",\"rip\":\"0x%" PRIx64 "\"",
         a.dr, a.direction ? "from" : "to", k_regs[a.gpr & 15], a.value, a.rip);
    if (r->h.kind == HV_MSG_SCRIPT) {
        puts_(&s, ",\"script\":\"");
        json_escape(&s, (const char *)rest, n);
        puts_(&s, "\"");
    } else if (r->h.kind == HV_MSG_BREAK) {
        uint64_t g[17] = { 0 };
        int i;

        memcpy(g, rest, n < sizeof(g) ? n : sizeof(g));
        puts_(&s, ",\"regs\":{");
        for (i = 0; i < 16; i++)
            putf(&s, "%s\"%s\":\"0x%" PRIx64 "\"", i ? "," : "", k_regs[i], g[i]);
        putf(&s, ",\"rflags\":\"0x%" PRIx64 "\"}", g[16]);
    } else if (r->h.kind == HV_MSG_CODE) {
        puts_(&s, ",\"buffer\":\"");
        for (k = 0; k < n; k++)
            putf(&s, "%02x", rest[k]);
        puts_(&s, "\"");
    }
    puts_(&s, "}\n");
    return s.total;
}

/* ---- targets ----------------------------------------------------------------- */

/* "HOST:PORT" / "[v6]:PORT" -> o->addr. */
static hv_status_t resolve_tcp(struct out *o, const char *target, char *err, size_t err_len)
{
    char host[256], q[QUOTE_NAME * 2];
    const char *colon, *h = target;
    size_t hl;
    char *end;
    unsigned long port;
    struct addrinfo hints, *res = NULL;
    int rc;

    quote(q, sizeof(q), target, strlen(target));
    if (target[0] == '[') {
        const char *close = strchr(target, ']');

        if (close == NULL || close[1] != ':')
            return fail(err, err_len, "tcp output '%s': want HOST:PORT or [IPv6]:PORT", q);
        h = target + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(target, ':');
        if (colon == NULL)
            return fail(err, err_len, "tcp output '%s': want HOST:PORT (e.g. 127.0.0.1:9000)", q);
        hl = (size_t)(colon - target);
        if (memchr(target, ':', hl) != NULL)
            return fail(err, err_len, "tcp output '%s': write an IPv6 address in brackets: [::1]:9000", q);
    }
    if (hl == 0 || hl >= sizeof(host))
        return fail(err, err_len, "tcp output '%s': the host is %s", q, hl ? "too long" : "missing");
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno || port == 0 || port > 65535)
        return fail(err, err_len, "tcp output '%s': the port must be a decimal number from 1 to 65535", q);
    memcpy(host, h, hl);
    host[hl] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(o->addr)) {
        if (res)
            freeaddrinfo(res);
        return fail(err, err_len, "tcp output '%s': cannot resolve '%s': %s", q, host,
                    rc ? gai_strerror(rc) : "no address");
    }
    memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
    o->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return HV_STATUS_SUCCESS;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void set_error(struct out *o, const char *fmt, ...)
{
    char buf[sizeof(o->error)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&o->m);
    memcpy(o->error, buf, sizeof(buf));
    pthread_mutex_unlock(&o->m);
}

/* Create the FIFO if missing; refuse a path that is something else. */
static int ensure_fifo(const char *path, char *why, size_t why_len)
{
    return hv_sys_fifo_ensure(path, why, why_len);
}

/* The writer's descriptor: a socket for TCP, a file or FIFO otherwise. */
static void close_target(const struct out *o, int fd)
{
    if (o->type == HV_OUTPUT_TCP)
        (void)hv_sys_sock_close(fd);
    else
        (void)hv_sys_file_close(fd);
}

/* The writer's (re)connection: a FIFO reader or a TCP peer. Returns the fd
 * or -1 (why says why). Bounded: a TCP connect waits CONNECT_WAIT_MS. */
static int connect_target(struct out *o, char *why, size_t why_len)
{
    int fd, e;

    if (o->type == HV_OUTPUT_NAMEDPIPE) {
        if (ensure_fifo(o->target, why, why_len) != 0)
            return -1;
        fd = hv_sys_fifo_open(o->target);
        if (fd < 0)
            snprintf(why, why_len, "%s", errno == ENXIO ? "no reader" : strerror(errno));
        return fd;
    }
    fd = hv_sys_tcp_socket(o->addr.ss_family, true);
    if (fd < 0) {
        snprintf(why, why_len, "socket: %s", hv_sys_strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addr_len) != 0) {
        /* Winsock says EWOULDBLOCK where POSIX says EINPROGRESS. */
        if (errno == EINPROGRESS || errno == EWOULDBLOCK) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };

            if (hv_sys_poll(&p, 1, CONNECT_WAIT_MS) <= 0) {
                snprintf(why, why_len, "connect: timed out");
                hv_sys_sock_close(fd);
                return -1;
            }
            e = hv_sys_sock_error(fd);
        } else {
            e = errno;
        }
        if (e != 0 && e != EINPROGRESS) {
            snprintf(why, why_len, "connect: %s", hv_sys_strerror(e));
            hv_sys_sock_close(fd);
            return -1;
        }
    }
    hv_sys_sock_connected(fd);
    return fd;
}

/* ---- the writer thread ------------------------------------------------------- */

enum wres { WR_OK, WR_LOST, WR_STOPPED };

/* Write all of buf. FIFO and TCP descriptors are non-blocking: on EAGAIN
 * wait for room in 100 ms slices, giving up when the output is stopped
 * and its close deadline has passed. */
static enum wres write_all(struct out *o, int fd, const char *buf, size_t len, char *why, size_t why_len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t k;

        if (o->type == HV_OUTPUT_TCP)
            k = hv_sys_send(fd, buf + off, len - off);
        else
            k = hv_sys_file_write(fd, buf + off, len - off);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            bool give_up;

            pthread_mutex_lock(&o->m);
            give_up = o->stop && past(&o->deadline);
            pthread_mutex_unlock(&o->m);
            if (give_up)
                return WR_STOPPED;
            (void)hv_sys_poll(&p, 1, 100);
            if (p.revents & (POLLERR | POLLHUP)) {
                snprintf(why, why_len, "%s", o->type == HV_OUTPUT_TCP ? "connection lost" : "the reader went away");
                return WR_LOST;
            }
            continue;
        }
        snprintf(why, why_len, "write: %s", k < 0 ? hv_sys_strerror(errno) : "nothing written");
        if (k < 0 && errno == EPIPE) {
            /* Consume the SIGPIPE this thread generated (it is blocked here). */
            hv_sys_consume_sigpipe();
            snprintf(why, why_len, "%s", o->type == HV_OUTPUT_TCP ? "connection lost" : "the reader went away");
        }
        return WR_LOST;
    }
    return WR_OK;
}

/* An idle connection: has the peer gone (TCP FIN, FIFO reader closed)? */
static bool peer_gone(struct out *o, short revents)
{
    char scratch[512];

    if (revents & (POLLERR | POLLHUP | POLLNVAL))
        return true;
#ifdef POLLRDHUP
    if (revents & POLLRDHUP)
        return true;
#endif
    if (o->type == HV_OUTPUT_TCP && (revents & POLLIN)) {
        for (;;) {
            ssize_t k = hv_sys_recv_nb(o->fd, scratch, sizeof(scratch), false);

            if (k == 0)
                return true;
            if (k < 0)
                return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
            /* Whatever the peer sends is ignored. */
        }
    }
    return false;
}

struct writer_state {
    uint64_t next_retry;        /* ms: when to try to (re)connect next */
    uint32_t backoff;
};

static void lost(struct out *o, struct writer_state *w, const char *why)
{
    if (o->fd >= 0 && o->type != HV_OUTPUT_FILE) {
        close_target(o, o->fd);
        o->fd = -1;
    }
    pthread_mutex_lock(&o->m);
    if (o->type != HV_OUTPUT_FILE)
        o->state = HV_OUTPUT_WAITING;
    snprintf(o->error, sizeof(o->error), "%s", why);
    pthread_mutex_unlock(&o->m);
    w->backoff = RETRY_MIN_MS;
    w->next_retry = now_ms() + w->backoff;
}

/* Try to (re)connect if it is time; true when connected now. */
static bool try_connect(struct out *o, struct writer_state *w)
{
    char why[96];
    int fd;

    if (o->fd >= 0)
        return true;
    if (now_ms() < w->next_retry)
        return false;
    fd = connect_target(o, why, sizeof(why));
    pthread_mutex_lock(&o->m);
    o->attempted = true;
    if (fd >= 0) {
        o->fd = fd;
        o->state = HV_OUTPUT_READY;
        if (o->ever_ready)
            o->reconnects++;
        o->ever_ready = true;
        w->backoff = RETRY_MIN_MS;
    } else {
        o->state = HV_OUTPUT_WAITING;
        snprintf(o->error, sizeof(o->error), "%s", why);
        w->next_retry = now_ms() + w->backoff;
        w->backoff = w->backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : w->backoff * 2;
    }
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->m);
    return fd >= 0;
}

static void drain_wake(struct out *o)
{
    char buf[64];

    while (hv_sys_wake_read(o->wake[0], buf, sizeof(buf)) > 0) {
    }
}

static void *writer_main(void *arg)
{
    struct out *o = arg;
    struct writer_state w = { 0, RETRY_MIN_MS };
    struct hv_msg_record *batch = malloc(BATCH * sizeof(*batch));
    char *text = malloc(FORMAT_BYTES);
    uint32_t n, i;

    /* A write on a FIFO whose reader left raises SIGPIPE for this thread:
     * keep it blocked here (and consume it), never kill the process. */
    hv_sys_block_sigpipe();

    if (o->type != HV_OUTPUT_FILE)
        (void)try_connect(o, &w);
    for (;;) {
        bool stop, give_up;
        uint64_t sent = 0, dropped = 0;

        pthread_mutex_lock(&o->m);
        stop = o->stop;
        give_up = stop && past(&o->deadline);
        n = 0;
        if (batch && text) {
            while (n < BATCH && o->count > 0) {
                batch[n++] = o->ring[o->head];
                o->head = (o->head + 1) % HV_OUTPUT_QUEUE;
                o->count--;
            }
        } else {
            /* No memory for the batch: everything queued is dropped. */
            o->dropped += o->count;
            o->head = (o->head + o->count) % HV_OUTPUT_QUEUE;
            o->count = 0;
        }
        o->inflight = n;
        pthread_mutex_unlock(&o->m);

        if (n == 0) {
            struct pollfd p[2];
            int np = 1, timeout = -1;

            if (stop)
                break;
            if (o->type != HV_OUTPUT_FILE && o->fd < 0) {
                if (try_connect(o, &w))
                    continue;
                timeout = (int)(w.next_retry > now_ms() ? w.next_retry - now_ms() : 0);
            }
            p[0].fd = o->wake[0];
            p[0].events = POLLIN;
            p[0].revents = 0;
            if (o->type != HV_OUTPUT_FILE && o->fd >= 0) {
                p[1].fd = o->fd;
                p[1].events = o->type == HV_OUTPUT_TCP ? POLLIN : 0;
#ifdef POLLRDHUP
                if (o->type == HV_OUTPUT_TCP)
                    p[1].events |= POLLRDHUP;
#endif
                p[1].revents = 0;
                np = 2;
            }
            if (hv_sys_poll(p, (unsigned)np, timeout) > 0) {
                if (p[0].revents & POLLIN)
                    drain_wake(o);
                if (np == 2 && peer_gone(o, p[1].revents))
                    lost(o, &w, o->type == HV_OUTPUT_TCP ? "the peer closed the connection" : "the reader went away");
            }
            continue;
        }

        for (i = 0; i < n; i++) {
            char why[96] = "";
            size_t len;
            enum wres r;

            if (give_up || (o->type != HV_OUTPUT_FILE && !try_connect(o, &w))) {
                dropped++;
                continue;
            }
            len = o->format == HV_OUTPUT_JSON ? hv_output_format_json(&batch[i], text, FORMAT_BYTES)
                                              : hv_output_format_text(&batch[i], text, FORMAT_BYTES);
            if (len >= FORMAT_BYTES)
                len = FORMAT_BYTES - 1;
            r = write_all(o, o->fd, text, len, why, sizeof(why));
            if (r == WR_OK) {
                sent++;
                continue;
            }
            dropped++;
            if (r == WR_STOPPED) {
                give_up = true;
                if (o->type != HV_OUTPUT_FILE)
                    lost(o, &w, "closed while the record was being written");
            } else if (o->type == HV_OUTPUT_FILE) {
                set_error(o, "%s", why);
            } else {
                lost(o, &w, why);
            }
        }
        pthread_mutex_lock(&o->m);
        o->sent += sent;
        o->dropped += dropped;
        o->inflight = 0;
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->m);
    }
    if (o->fd >= 0)
        close_target(o, o->fd);
    o->fd = -1;
    free(batch);
    free(text);
    return NULL;
}

/* ---- the set ----------------------------------------------------------------- */

hv_status_t hv_output_set_create(struct hv_output_set **out)
{
    struct hv_output_set *s;

    if (out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    *out = s;
    return HV_STATUS_SUCCESS;
}

static struct out *find(struct hv_output_set *s, const char *name, uint32_t *idx)
{
    uint32_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->outs[i]->name, name) == 0) {
            if (idx)
                *idx = i;
            return s->outs[i];
        }
    return NULL;
}

static void out_free(struct out *o)
{
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->m);
    free(o);
}

hv_status_t hv_output_create(struct hv_output_set *set, const char *name, enum hv_output_type type,
                             const char *target, enum hv_output_format format, char *err, size_t err_len)
{
    char q[QUOTE_NAME];
    pthread_condattr_t ca;
    struct out *o;
    hv_status_t st;
    size_t tl;

    clear_err(err, err_len);
    if (set == NULL || name == NULL || target == NULL)
        return fail(err, err_len, "no set, name or target");
    if ((st = hv_output_name_check(name, strlen(name), err, err_len)) != HV_STATUS_SUCCESS)
        return st;
    if (type != HV_OUTPUT_FILE && type != HV_OUTPUT_NAMEDPIPE && type != HV_OUTPUT_TCP)
        return fail(err, err_len, "output type %d: use file, namedpipe or tcp", (int)type);
    if (format != HV_OUTPUT_TEXT && format != HV_OUTPUT_JSON)
        return fail(err, err_len, "output format %d: use text or json", (int)format);
    tl = strlen(target);
    if (tl == 0)
        return fail(err, err_len, "output '%s' needs a %s", name, type == HV_OUTPUT_TCP ? "HOST:PORT" : "path");
    if (tl > HV_OUTPUT_TARGET_MAX)
        return fail(err, err_len, "output '%s': the target is longer than %u characters", name, HV_OUTPUT_TARGET_MAX);
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    memcpy(o->name, name, strlen(name) + 1);
    memcpy(o->target, target, tl + 1);
    o->type = type;
    o->format = format;
    o->fd = -1;
    o->wake[0] = o->wake[1] = -1;
    if (type == HV_OUTPUT_TCP && (st = resolve_tcp(o, target, err, err_len)) != HV_STATUS_SUCCESS) {
        free(o);
        return st;
    }
    if (pthread_mutex_init(&o->m, NULL) != 0) {
        free(o);
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&o->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&o->m);
        free(o);
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    pthread_condattr_destroy(&ca);

    pthread_mutex_lock(&set->lock);
    if (find(set, name, NULL) != NULL) {
        pthread_mutex_unlock(&set->lock);
        out_free(o);
        return fail(err, err_len, "output '%s' already exists", quote(q, sizeof(q), name, strlen(name)));
    }
    if (set->n >= HV_OUTPUT_MAX) {
        pthread_mutex_unlock(&set->lock);
        out_free(o);
        return fail(err, err_len, "too many outputs: at most %u", HV_OUTPUT_MAX);
    }
    set->outs[set->n++] = o;
    pthread_mutex_unlock(&set->lock);
    return HV_STATUS_SUCCESS;
}

/* Look a name up; NOT_FOUND with a message. */
static hv_status_t lookup(struct hv_output_set *set, const char *name, struct out **o, char *err, size_t err_len)
{
    char q[QUOTE_NAME];

    clear_err(err, err_len);
    if (set == NULL || name == NULL)
        return fail(err, err_len, "no set or name");
    pthread_mutex_lock(&set->lock);
    *o = find(set, name, NULL);
    pthread_mutex_unlock(&set->lock);
    if (*o == NULL) {
        quote(q, sizeof(q), name, strlen(name));
        (void)fail(err, err_len, "unknown output '%s' (create it first: output create %s file PATH)", q, q);
        return HV_STATUS_NOT_FOUND;
    }
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_output_open(struct hv_output_set *set, const char *name, char *err, size_t err_len)
{
    struct out *o;
    char why[96];
    hv_status_t st;
    int fd = -1;

    if ((st = lookup(set, name, &o, err, err_len)) != HV_STATUS_SUCCESS)
        return st;
    pthread_mutex_lock(&o->m);
    if (o->running || o->opening) {
        pthread_mutex_unlock(&o->m);
        return fail(err, err_len, "output '%s' is already open", o->name);
    }
    o->opening = true;          /* claims the output against a second open */
    pthread_mutex_unlock(&o->m);

    /* Local, immediate checks here; a TCP connection is the writer's. */
    if (o->type == HV_OUTPUT_FILE) {
        fd = hv_sys_file_open_append(o->target);
        if (fd < 0)
            snprintf(why, sizeof(why), "%s", strerror(errno));
    } else if (o->type == HV_OUTPUT_NAMEDPIPE && ensure_fifo(o->target, why, sizeof(why)) != 0) {
        fd = -2;
    }
    if (fd == -2 || (o->type == HV_OUTPUT_FILE && fd < 0)) {
        pthread_mutex_lock(&o->m);
        o->opening = false;
        pthread_mutex_unlock(&o->m);
        return fail(err, err_len, "cannot open output '%s' (%s %s): %s", o->name, hv_output_type_name(o->type),
                    o->target, why);
    }
    pthread_mutex_lock(&o->m);
    o->ring = calloc(HV_OUTPUT_QUEUE, sizeof(*o->ring));
    if (o->ring == NULL || hv_sys_wake_pair(o->wake) != 0) {
        free(o->ring);
        o->ring = NULL;
        o->opening = false;
        pthread_mutex_unlock(&o->m);
        if (fd >= 0)
            hv_sys_file_close(fd);
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    o->head = o->count = o->inflight = 0;
    o->stop = false;
    o->attempted = o->type == HV_OUTPUT_FILE;
    o->error[0] = '\0';
    o->fd = fd;
    o->state = o->type == HV_OUTPUT_FILE ? HV_OUTPUT_READY : HV_OUTPUT_WAITING;
    if (pthread_create(&o->thread, NULL, writer_main, o) != 0) {
        hv_sys_wake_close(o->wake[0]);
        hv_sys_wake_close(o->wake[1]);
        o->wake[0] = o->wake[1] = -1;
        free(o->ring);
        o->ring = NULL;
        o->opening = false;
        o->state = HV_OUTPUT_CLOSED;
        o->fd = -1;
        pthread_mutex_unlock(&o->m);
        if (fd >= 0)
            hv_sys_file_close(fd);
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    o->opening = false;
    o->running = true;
    /* Report a meaningful first state: wait (bounded) for the first
     * connection attempt of a FIFO or TCP output. */
    {
        struct timespec until = deadline_in(CONNECT_WAIT_MS + 200);

        while (!o->attempted && pthread_cond_timedwait(&o->cv, &o->m, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&o->m);
    return HV_STATUS_SUCCESS;
}

/* Stop the writer (draining until the deadline) and release the queue. */
static void close_out(struct out *o)
{
    pthread_mutex_lock(&o->m);
    if (o->running && o->stop) {
        /* Another thread is closing it: wait for that to finish. */
        while (o->running)
            pthread_cond_wait(&o->cv, &o->m);
    }
    if (!o->running) {
        pthread_mutex_unlock(&o->m);
        return;
    }
    o->stop = true;
    o->deadline = deadline_in(HV_OUTPUT_CLOSE_WAIT_MS);
    (void)hv_sys_wake_write(o->wake[1], "x", 1);
    pthread_mutex_unlock(&o->m);
    pthread_join(o->thread, NULL);
    pthread_mutex_lock(&o->m);
    o->dropped += o->count;             /* left when the deadline passed */
    o->count = o->head = o->inflight = 0;
    free(o->ring);
    o->ring = NULL;
    hv_sys_wake_close(o->wake[0]);
    hv_sys_wake_close(o->wake[1]);
    o->wake[0] = o->wake[1] = -1;
    o->running = false;
    o->stop = false;
    o->state = HV_OUTPUT_CLOSED;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->m);
}

hv_status_t hv_output_close(struct hv_output_set *set, const char *name, char *err, size_t err_len)
{
    struct out *o;
    hv_status_t st;
    bool running;

    if ((st = lookup(set, name, &o, err, err_len)) != HV_STATUS_SUCCESS)
        return st;
    pthread_mutex_lock(&o->m);
    running = o->running && !o->stop;
    pthread_mutex_unlock(&o->m);
    if (!running)
        return fail(err, err_len, "output '%s' is not open", o->name);
    close_out(o);
    return HV_STATUS_SUCCESS;
}

void hv_output_set_destroy(struct hv_output_set *set)
{
    uint32_t i;

    if (set == NULL)
        return;
    for (i = 0; i < set->n; i++) {
        close_out(set->outs[i]);
        out_free(set->outs[i]);
    }
    free(set->binds);
    pthread_mutex_destroy(&set->lock);
    free(set);
}

static void fill_info(struct out *o, struct hv_output_info *info)
{
    memset(info, 0, sizeof(*info));
    memcpy(info->name, o->name, sizeof(info->name));
    memcpy(info->target, o->target, sizeof(info->target));
    info->type = o->type;
    info->format = o->format;
    info->events = o->bound;
    pthread_mutex_lock(&o->m);
    info->state = o->running ? o->state : HV_OUTPUT_CLOSED;
    info->sent = o->sent;
    info->dropped = o->dropped;
    info->queued = o->count + o->inflight;
    info->reconnects = o->reconnects;
    memcpy(info->error, o->error, sizeof(info->error));
    pthread_mutex_unlock(&o->m);
}

hv_status_t hv_output_list(struct hv_output_set *set, struct hv_output_info *info, uint32_t cap, uint32_t *count)
{
    uint32_t i;

    if (set == NULL || count == NULL || (info == NULL && cap > 0))
        return HV_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&set->lock);
    *count = set->n;
    for (i = 0; i < set->n && i < cap; i++)
        fill_info(set->outs[i], &info[i]);
    pthread_mutex_unlock(&set->lock);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_output_query(struct hv_output_set *set, const char *name, struct hv_output_info *info)
{
    struct out *o;

    if (set == NULL || name == NULL || info == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&set->lock);
    o = find(set, name, NULL);
    if (o != NULL)
        fill_info(o, info);
    pthread_mutex_unlock(&set->lock);
    return o ? HV_STATUS_SUCCESS : HV_STATUS_NOT_FOUND;
}

/* ---- bindings ---------------------------------------------------------------- */

/* Index of the binding of `event`, or where it would go (*found false). */
static uint32_t bind_pos(const struct hv_output_set *s, uint32_t event, bool *found)
{
    uint32_t lo = 0, hi = s->nbinds;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (s->binds[mid].event < event)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < s->nbinds && s->binds[lo].event == event;
    return lo;
}

/* Under set->lock: names -> distinct output indexes. */
static hv_status_t resolve_locked(struct hv_output_set *set, const char *const *names, uint32_t n, uint8_t *idx,
                                  uint32_t *count, bool *console, char *err, size_t err_len)
{
    char q[QUOTE_NAME];
    uint32_t i, k, m = 0;
    hv_status_t st;

    if (console)
        *console = false;
    for (i = 0; i < n; i++) {
        const char *name = names[i];

        if (name == NULL)
            return fail(err, err_len, "output name %u is missing", i);
        if (is_console(name)) {
            if (console)
                *console = true;
            continue;
        }
        if ((st = hv_output_name_check(name, strlen(name), err, err_len)) != HV_STATUS_SUCCESS)
            return st;
        if (find(set, name, &k) == NULL) {
            quote(q, sizeof(q), name, strlen(name));
            (void)fail(err, err_len, "unknown output '%s' (create it first: output create %s file PATH)", q, q);
            return HV_STATUS_NOT_FOUND;
        }
        {
            uint32_t j;
            bool dup = false;

            for (j = 0; j < m; j++)
                dup = dup || idx[j] == k;
            if (dup)
                continue;
        }
        if (m >= HV_OUTPUT_MAX_PER_EVENT)
            return fail(err, err_len, "an event can forward to at most %u outputs", HV_OUTPUT_MAX_PER_EVENT);
        idx[m++] = (uint8_t)k;
    }
    *count = m;
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_output_resolve(struct hv_output_set *set, const char *const *names, uint32_t n, char *err,
                              size_t err_len)
{
    uint8_t idx[HV_OUTPUT_MAX_PER_EVENT];
    uint32_t m;
    hv_status_t st;

    clear_err(err, err_len);
    if (set == NULL || (names == NULL && n > 0))
        return fail(err, err_len, "no set or names");
    pthread_mutex_lock(&set->lock);
    st = resolve_locked(set, names, n, idx, &m, NULL, err, err_len);
    pthread_mutex_unlock(&set->lock);
    return st;
}

static void unbind_at(struct hv_output_set *s, uint32_t pos)
{
    uint32_t k;

    for (k = 0; k < s->binds[pos].n; k++)
        s->outs[s->binds[pos].idx[k]]->bound--;
    memmove(&s->binds[pos], &s->binds[pos + 1], (s->nbinds - pos - 1) * sizeof(s->binds[0]));
    s->nbinds--;
}

hv_status_t hv_output_bind(struct hv_output_set *set, uint32_t event_id, const char *const *names, uint32_t n,
                           bool console, char *err, size_t err_len)
{
    struct binding b;
    uint32_t pos, k;
    bool found, named_console;
    hv_status_t st;

    clear_err(err, err_len);
    if (set == NULL || (names == NULL && n > 0))
        return fail(err, err_len, "no set or names");
    memset(&b, 0, sizeof(b));
    b.event = event_id;
    pthread_mutex_lock(&set->lock);
    st = resolve_locked(set, names, n, b.idx, &b.n, &named_console, err, err_len);
    if (st != HV_STATUS_SUCCESS) {
        pthread_mutex_unlock(&set->lock);
        return st;
    }
    b.console = console || named_console;
    pos = bind_pos(set, event_id, &found);
    if (found)
        unbind_at(set, pos);
    if (b.n == 0 && !b.console) {
        pthread_mutex_unlock(&set->lock);
        return HV_STATUS_SUCCESS;
    }
    if (set->nbinds == set->cap_binds) {
        uint32_t cap = set->cap_binds ? set->cap_binds * 2 : 16;
        struct binding *nb = realloc(set->binds, cap * sizeof(*nb));

        if (nb == NULL) {
            pthread_mutex_unlock(&set->lock);
            return HV_STATUS_INSUFFICIENT_RESOURCES;
        }
        set->binds = nb;
        set->cap_binds = cap;
    }
    pos = bind_pos(set, event_id, &found);
    memmove(&set->binds[pos + 1], &set->binds[pos], (set->nbinds - pos) * sizeof(set->binds[0]));
    set->binds[pos] = b;
    set->nbinds++;
    for (k = 0; k < b.n; k++)
        set->outs[b.idx[k]]->bound++;
    pthread_mutex_unlock(&set->lock);
    return HV_STATUS_SUCCESS;
}

void hv_output_unbind(struct hv_output_set *set, uint32_t event_id)
{
    uint32_t pos;
    bool found;

    if (set == NULL)
        return;
    pthread_mutex_lock(&set->lock);
    if (event_id == HV_OUTPUT_ALL_EVENTS) {
        while (set->nbinds > 0)
            unbind_at(set, set->nbinds - 1);
    } else {
        pos = bind_pos(set, event_id, &found);
        if (found)
            unbind_at(set, pos);
    }
    pthread_mutex_unlock(&set->lock);
}

size_t hv_output_bindings(struct hv_output_set *set, uint32_t event_id, char *buf, size_t size)
{
    struct sink s;
    uint32_t pos, k;
    bool found;

    sink_init(&s, buf, size);
    if (set == NULL)
        return 0;
    pthread_mutex_lock(&set->lock);
    pos = bind_pos(set, event_id, &found);
    if (found) {
        const struct binding *b = &set->binds[pos];

        for (k = 0; k < b->n; k++) {
            if (k)
                puts_(&s, " ");
            put(&s, set->outs[b->idx[k]]->name, strlen(set->outs[b->idx[k]]->name));
        }
        if (b->console)
            puts_(&s, b->n ? " console" : "console");
    }
    pthread_mutex_unlock(&set->lock);
    return s.total;
}

/* ---- the reader's side --------------------------------------------------------- */

/* Queue r for o if o is open; true when it was open (queued or dropped). */
static bool enqueue(struct out *o, const struct hv_msg_record *r)
{
    bool open;

    pthread_mutex_lock(&o->m);
    open = o->running && !o->stop;
    if (open) {
        if (o->count >= HV_OUTPUT_QUEUE) {
            o->dropped++;               /* slow output: drop, count, never wait */
        } else {
            o->ring[(o->head + o->count) % HV_OUTPUT_QUEUE] = *r;
            /* Non-blocking, and under o->m so close cannot close the pipe
             * in between; a full pipe already wakes the writer. */
            if (o->count++ == 0)
                (void)hv_sys_wake_write(o->wake[1], "x", 1);
        }
    }
    pthread_mutex_unlock(&o->m);
    return open;
}

bool hv_output_forward(struct hv_output_set *set, const struct hv_msg_record *r)
{
    bool console = true, any_open = false;
    uint32_t pos, k;
    bool found;

    if (set == NULL || r == NULL)
        return true;
    pthread_mutex_lock(&set->lock);
    pos = bind_pos(set, r->h.event_id, &found);
    if (found) {
        const struct binding *b = &set->binds[pos];

        for (k = 0; k < b->n; k++)
            any_open = enqueue(set->outs[b->idx[k]], r) || any_open;
        console = b->console || !any_open;
    }
    pthread_mutex_unlock(&set->lock);
    return console;
}

hv_status_t hv_output_flush(struct hv_output_set *set, int timeout_ms)
{
    struct out *outs[HV_OUTPUT_MAX];
    struct timespec until = deadline_in(timeout_ms < 0 ? 0 : timeout_ms);
    uint32_t n, i;
    hv_status_t st = HV_STATUS_SUCCESS;

    if (set == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&set->lock);
    n = set->n;
    memcpy(outs, set->outs, n * sizeof(outs[0]));
    pthread_mutex_unlock(&set->lock);
    for (i = 0; i < n; i++) {
        struct out *o = outs[i];

        pthread_mutex_lock(&o->m);
        while (o->running && (o->count > 0 || o->inflight > 0)) {
            if (timeout_ms < 0) {
                pthread_cond_wait(&o->cv, &o->m);
            } else if (pthread_cond_timedwait(&o->cv, &o->m, &until) != 0) {
                st = HV_STATUS_TIMEOUT;
                break;
            }
        }
        pthread_mutex_unlock(&o->m);
    }
    return st;
}
