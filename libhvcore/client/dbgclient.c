/* SPDX-License-Identifier: MIT */
/*
 * The debugger's side of Debugger Mode: hvcore/debugger.h requests over a
 * hv_dbglink, every reply checked before anything of it is used (the
 * target is a peer, not a trusted library), stop reports kept when they
 * arrive in between, and one reconnect per call when the line drops.
 */
#define _GNU_SOURCE
#include <hvcore/client/dbgclient.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HDR ((uint32_t)sizeof(struct hv_dbg_header))
/* How long a PAUSE may take beyond the request timeout: the target waits
 * for every core to halt (hv_config.debug_halt_timeout_ms) before it
 * answers. */
#define PAUSE_EXTRA_MS 5000
/* Slices of a wait for a stop report, so an interrupt is seen soon. */
#define WAIT_SLICE_MS 100

struct hv_dbgc {
    struct hv_dbglink *link;
    int timeout_ms;
    uint32_t tag;
    bool reconnecting;          /* HELLO/STATUS after a reconnect: no nested reconnect */
    bool stop_pending;          /* a STOP arrived by itself, not taken yet */
    struct hv_dbg_stop pending;
    struct hv_dbgc_state st;
    char err[400];
    uint8_t tx[HV_DBG_MAX_MESSAGE];
    uint8_t rx[HV_DBG_MAX_MESSAGE];
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static hv_status_t fail(struct hv_dbgc *c, hv_status_t st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    return st;
}

static uint64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* ---- registers ----------------------------------------------------------------- */

static const char *const reg_names[HV_DBG_REG_COUNT] = {
    [0] = "rax", [1] = "rcx", [2] = "rdx", [3] = "rbx", [4] = "rsp", [5] = "rbp", [6] = "rsi", [7] = "rdi",
    [8] = "r8", [9] = "r9", [10] = "r10", [11] = "r11", [12] = "r12", [13] = "r13", [14] = "r14", [15] = "r15",
    [HV_DBG_REG_RIP] = "rip", [HV_DBG_REG_RFLAGS] = "rflags", [HV_DBG_REG_DR0] = "dr0", [HV_DBG_REG_DR1] = "dr1",
    [HV_DBG_REG_DR2] = "dr2", [HV_DBG_REG_DR3] = "dr3", [HV_DBG_REG_DR6] = "dr6", [HV_DBG_REG_DR7] = "dr7",
};

int hv_dbgc_reg_index(const char *name)
{
    int i;

    if (name == NULL)
        return -1;
    /* WinDbg's names for the flags. */
    if (!strcmp(name, "efl") || !strcmp(name, "eflags"))
        return HV_DBG_REG_RFLAGS;
    for (i = 0; i < HV_DBG_REG_COUNT; i++)
        if (!strcmp(name, reg_names[i]))
            return i;
    return -1;
}

const char *hv_dbgc_reg_name(uint32_t reg)
{
    return reg < HV_DBG_REG_COUNT ? reg_names[reg] : "?";
}

/* ---- checking what the target sends ------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static hv_status_t bad(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err && err_len) {
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return HV_STATUS_INVALID_PACKET;
}

static bool bitmap_beyond(const uint8_t *map, uint32_t ncores)
{
    uint32_t i;

    for (i = ncores; i < HV_DBG_MAX_CORES; i++)
        if (map[i / 8] & (1u << (i % 8)))
            return true;
    return false;
}

static hv_status_t check_stop(const uint8_t *body, uint32_t ncores, char *err, size_t err_len)
{
    struct hv_dbg_stop s;

    memcpy(&s, body, sizeof(s));
    if (s.state > HV_DBG_STATE_HALTED || s.reason > HV_DBG_STOP_EVENT)
        return bad(err, err_len, "stop report with state %u, reason %u", s.state, s.reason);
    if (s.ncores == 0 || s.ncores > HV_DBG_MAX_CORES || (ncores && s.ncores != ncores))
        return bad(err, err_len, "stop report for %u cores (the target has %u)", s.ncores, ncores);
    if (s.insn_len > HV_DBG_INSN_BYTES || s.reserved != 0)
        return bad(err, err_len, "stop report with %u instruction bytes", s.insn_len);
    if (bitmap_beyond(s.halted, s.ncores) || bitmap_beyond(s.not_halted, s.ncores))
        return bad(err, err_len, "stop report naming cores past the %u the target has", s.ncores);
    if (s.state == HV_DBG_STATE_HALTED &&
        (s.current_core >= s.ncores || s.stopping_core >= s.ncores ||
         (s.mode != 16 && s.mode != 32 && s.mode != 64)))
        return bad(err, err_len, "stop report: current core %u, stopping core %u (of %u), mode %u",
                   s.current_core, s.stopping_core, s.ncores, s.mode);
    return HV_STATUS_SUCCESS;
}

/* The body a successful reply of `type` must have. */
static hv_status_t check_body(uint16_t type, const uint8_t *body, uint32_t len, uint32_t ncores, char *err,
                              size_t err_len)
{
    switch (type) {
    case HV_DBG_MSG_HELLO: {
        struct hv_dbg_hello h;

        if (len != sizeof(h))
            return bad(err, err_len, "HELLO reply of %u bytes, not %zu", len, sizeof(h));
        memcpy(&h, body, sizeof(h));
        if (h.state > HV_DBG_STATE_HALTED || h.ncores == 0 || h.ncores > HV_DBG_MAX_CORES ||
            h.current_core >= h.ncores || h.max_read == 0)
            return bad(err, err_len, "HELLO reply: state %u, %u cores, current %u, max read %u", h.state,
                       h.ncores, h.current_core, h.max_read);
        return HV_STATUS_SUCCESS;
    }
    case HV_DBG_MSG_STATUS:
    case HV_DBG_MSG_PAUSE:
    case HV_DBG_MSG_SWITCH_CORE:
    case HV_DBG_MSG_STOP:
        if (len != sizeof(struct hv_dbg_stop))
            return bad(err, err_len, "%s reply of %u bytes, not %zu", hv_dbg_msg_name(type), len,
                       sizeof(struct hv_dbg_stop));
        return check_stop(body, ncores, err, err_len);
    case HV_DBG_MSG_GO:
    case HV_DBG_MSG_EVENT_DISCARD:
        if (len != 0)
            return bad(err, err_len, "%s reply with %u bytes of body", hv_dbg_msg_name(type), len);
        return HV_STATUS_SUCCESS;
    case HV_DBG_MSG_GET_REGS: {
        struct hv_dbg_regs r;

        if (len != sizeof(r))
            return bad(err, err_len, "GET_REGS reply of %u bytes, not %zu", len, sizeof(r));
        memcpy(&r.core, body, sizeof(r.core));
        if (ncores && r.core >= ncores)
            return bad(err, err_len, "registers of core %u of %u", r.core, ncores);
        return HV_STATUS_SUCCESS;
    }
    case HV_DBG_MSG_SET_REG: {
        struct hv_dbg_set_reg r;

        if (len != sizeof(r))
            return bad(err, err_len, "SET_REG reply of %u bytes, not %zu", len, sizeof(r));
        memcpy(&r, body, sizeof(r));
        if (r.reg >= HV_DBG_REG_COUNT)
            return bad(err, err_len, "SET_REG reply for register %u", r.reg);
        return HV_STATUS_SUCCESS;
    }
    case HV_DBG_MSG_MSR: {
        struct hv_dbg_msr_reply m;

        if (len < sizeof(m))
            return bad(err, err_len, "MSR reply of %u bytes", len);
        memcpy(&m, body, sizeof(m));
        if (m.count > HV_DBG_MAX_CORES || (ncores && m.count > ncores) ||
            len != sizeof(m) + (uint64_t)m.count * sizeof(struct hv_abi_msr_result))
            return bad(err, err_len, "MSR reply of %u bytes with %u results", len, m.count);
        return HV_STATUS_SUCCESS;
    }
    case HV_DBG_MSG_READ_MEM: {
        struct hv_dbg_mem_reply m;

        if (len < sizeof(m))
            return bad(err, err_len, "READ_MEM reply of %u bytes", len);
        memcpy(&m, body, sizeof(m));
        if (m.length > HV_DBG_MAX_READ || len != sizeof(m) + m.length)
            return bad(err, err_len, "READ_MEM reply of %u bytes carrying %u", len, m.length);
        return HV_STATUS_SUCCESS;
    }
    case HV_DBG_MSG_EVENT:
        if (len != sizeof(struct hv_dbg_event_reply))
            return bad(err, err_len, "EVENT reply of %u bytes", len);
        return HV_STATUS_SUCCESS;
    case HV_DBG_MSG_EVENT_RESULTS: {
        struct hv_dbg_event_results r;

        if (len < sizeof(r))
            return bad(err, err_len, "EVENT_RESULTS reply of %u bytes", len);
        memcpy(&r, body, sizeof(r));
        if (r.count > HV_DBG_MAX_QUEUED || len != sizeof(r) + (uint64_t)r.count * sizeof(struct hv_dbg_event_result))
            return bad(err, err_len, "EVENT_RESULTS reply of %u bytes with %u results", len, r.count);
        return HV_STATUS_SUCCESS;
    }
    default:
        return bad(err, err_len, "reply of unknown type 0x%04x", type);
    }
}

hv_status_t hv_dbgc_check_message(const void *payload, uint32_t len, uint16_t type, uint32_t tag, uint32_t ncores,
                                  struct hv_dbg_header *h, const uint8_t **body, bool *is_stop, bool *stale,
                                  char *err, size_t err_len)
{
    hv_status_t st;

    if (err && err_len)
        err[0] = '\0';
    if (h == NULL || body == NULL || is_stop == NULL || stale == NULL || (payload == NULL && len))
        return HV_STATUS_INVALID_PARAMETER;
    *is_stop = *stale = false;
    *body = NULL;
    memset(h, 0, sizeof(*h));
    if (payload == NULL)
        return bad(err, err_len, "empty message");
    st = hv_dbg_header_check(payload, len, h);
    if (!hv_success(st)) {
        if (len >= HDR && h->version != HV_DBG_VERSION)
            return bad(err, err_len, "message of protocol version %u (this client speaks %u)", h->version,
                       HV_DBG_VERSION);
        return bad(err, err_len, "malformed message (%u bytes, header says %u of body)", len, h->length);
    }
    *body = (const uint8_t *)payload + HDR;
    if (!(h->type & HV_DBG_REPLY))
        return bad(err, err_len, "the target sent a request (%s)", hv_dbg_msg_name(h->type));
    if (h->type == (HV_DBG_MSG_STOP | HV_DBG_REPLY)) {
        if (h->status != HV_STATUS_SUCCESS)
            return bad(err, err_len, "stop report with status 0x%08x", h->status);
        *is_stop = true;
        return check_body(HV_DBG_MSG_STOP, *body, h->length, ncores, err, err_len);
    }
    if (h->tag != tag) {
        /* The answer to a request that timed out: its caller is gone. */
        *stale = true;
        return HV_STATUS_SUCCESS;
    }
    if (h->type != (uint16_t)(type | HV_DBG_REPLY))
        return bad(err, err_len, "%s reply to a %s request", hv_dbg_msg_name(h->type), hv_dbg_msg_name(type));
    /* A refused request may come back empty. */
    if (h->status != HV_STATUS_SUCCESS && h->length == 0)
        return HV_STATUS_SUCCESS;
    return check_body(type, *body, h->length, ncores, err, err_len);
}

/* ---- state ------------------------------------------------------------------------ */

static void take_stop_report(struct hv_dbgc *c, const struct hv_dbg_stop *s)
{
    c->st.halted = s->state == HV_DBG_STATE_HALTED;
    if (c->st.halted) {
        c->st.current_core = s->current_core;
        c->st.stop = *s;
        c->st.have_stop = true;
    } else {
        c->st.have_stop = false;
    }
}

/* ---- one exchange ------------------------------------------------------------------- */

static bool retry_safe(uint16_t type, const void *body)
{
    switch (type) {
    case HV_DBG_MSG_HELLO:
    case HV_DBG_MSG_STATUS:
    case HV_DBG_MSG_PAUSE:
    case HV_DBG_MSG_GET_REGS:
    case HV_DBG_MSG_SET_REG:
    case HV_DBG_MSG_SWITCH_CORE:
    case HV_DBG_MSG_READ_MEM:
    case HV_DBG_MSG_EVENT_RESULTS:
    case HV_DBG_MSG_EVENT_DISCARD:
        return true;
    case HV_DBG_MSG_MSR: {
        struct hv_abi_msr_op op;

        memcpy(&op, body, sizeof(op));
        return op.action == HV_ABI_MSR_READ;
    }
    default:
        return false;
    }
}

static hv_status_t requery(struct hv_dbgc *c);

enum rx_kind { RX_REPLY, RX_STOP, RX_STALE };

/* One message, waiting up to timeout_ms: the reply to `tag` (0: no request
 * is waiting), a stop report (kept), or something nobody waits for. */
static hv_status_t receive(struct hv_dbgc *c, uint16_t type, uint32_t tag, int timeout_ms, enum rx_kind *kind,
                           struct hv_dbg_header *h, const uint8_t **body)
{
    uint32_t len = 0;
    bool stale, is_stop;
    hv_status_t st;

    st = hv_dbglink_recv(c->link, c->rx, sizeof(c->rx), &len, timeout_ms);
    if (!hv_success(st))
        return fail(c, st, "%s", hv_dbglink_last_error(c->link));
    st = hv_dbgc_check_message(c->rx, len, type, tag, c->st.hello.ncores, h, body, &is_stop, &stale, c->err,
                               sizeof(c->err));
    if (!hv_success(st))
        return st;
    if (is_stop) {
        memcpy(&c->pending, *body, sizeof(c->pending));
        c->stop_pending = true;
        take_stop_report(c, &c->pending);
        *kind = RX_STOP;
    } else {
        *kind = stale || tag == 0 ? RX_STALE : RX_REPLY;
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t await_reply(struct hv_dbgc *c, uint16_t type, uint32_t tag, int timeout_ms,
                               struct hv_dbg_header *h, const uint8_t **body)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    unsigned late = 0;

    for (;;) {
        uint64_t now = now_ms();
        int left = now >= deadline ? 0 : (int)(deadline - now);
        enum rx_kind kind = RX_STALE;
        hv_status_t st = receive(c, type, tag, left, &kind, h, body);

        if (st == HV_STATUS_TIMEOUT)
            return fail(c, st, "%s: no reply to %s within %d ms", hv_dbglink_describe(c->link),
                        hv_dbg_msg_name(type), timeout_ms);
        if (!hv_success(st) || kind == RX_REPLY)
            return st;
        /* A stop report or a stale reply: read on, but a peer that keeps
         * sending other things cannot hold us past the deadline for long. */
        if (left == 0 && ++late > 64)
            return fail(c, HV_STATUS_TIMEOUT, "%s: no reply to %s within %d ms", hv_dbglink_describe(c->link),
                        hv_dbg_msg_name(type), timeout_ms);
    }
}

static hv_status_t reconnect(struct hv_dbgc *c)
{
    hv_status_t st = hv_dbglink_reconnect(c->link);

    if (!hv_success(st))
        return fail(c, st, "%s", hv_dbglink_last_error(c->link));
    c->st.reconnects++;
    /* A halted target kept waiting: learn where it stands again. */
    return requery(c);
}

/* Send `type` with `body`, wait for its reply; *rbody / *rlen = the reply's
 * body (in c->rx, valid until the next exchange). Returns the transport's
 * status or the reply's. */
static hv_status_t exchange(struct hv_dbgc *c, uint16_t type, const void *body, uint32_t blen, int timeout_ms,
                            const uint8_t **rbody, uint32_t *rlen)
{
    bool reconnected = false;
    struct hv_dbg_header h;
    hv_status_t st;

    *rbody = NULL;
    *rlen = 0;
    if (blen > sizeof(c->tx) - HDR)
        return fail(c, HV_STATUS_INVALID_PARAMETER, "%s request of %u bytes is over the limit",
                    hv_dbg_msg_name(type), blen);
    for (;;) {
        uint32_t tag;

        if (hv_dbglink_lost(c->link)) {
            /* Nothing of this request went out yet: any type may go after it. */
            if (reconnected || c->reconnecting)
                return fail(c, HV_STATUS_DEVICE_CONNECTION_LOST, "%s", hv_dbglink_last_error(c->link));
            reconnected = true;
            st = reconnect(c);
            if (!hv_success(st))
                return st;
        }
        tag = ++c->tag;
        if (tag == 0)
            tag = ++c->tag; /* 0 is the stop report's */
        hv_dbg_header_put(c->tx, type, tag, HV_STATUS_SUCCESS, blen);
        if (blen)
            memcpy(c->tx + HDR, body, blen);
        st = hv_dbglink_send(c->link, c->tx, HDR + blen);
        if (hv_success(st))
            st = await_reply(c, type, tag, timeout_ms, &h, rbody);
        else
            (void)fail(c, st, "%s", hv_dbglink_last_error(c->link));
        if (st == HV_STATUS_DEVICE_CONNECTION_LOST && !reconnected && !c->reconnecting && retry_safe(type, body))
            continue; /* reconnect at the top, then send it again */
        if (!hv_success(st))
            return st;
        break;
    }
    c->st.requests++;
    c->err[0] = '\0';
    *rlen = h.length;
    if (h.status == HV_STATUS_TARGET_RUNNING) {
        c->st.halted = false;
        c->st.have_stop = false;
        (void)fail(c, h.status, "%s needs the target halted: it is running ('pause' breaks in)",
                   hv_dbg_msg_name(type));
    }
    return h.status;
}

static hv_status_t requery(struct hv_dbgc *c)
{
    bool was = c->reconnecting;
    hv_status_t st;

    c->reconnecting = true;
    st = hv_dbgc_hello(c, NULL);
    if (hv_success(st))
        st = hv_dbgc_status(c, NULL);
    c->reconnecting = was;
    return st;
}

/* ---- API ---------------------------------------------------------------------------- */

hv_status_t hv_dbgc_open(struct hv_dbgc **out, struct hv_dbglink *link, int timeout_ms)
{
    struct hv_dbgc *c;
    hv_status_t st;

    if (out)
        *out = NULL;
    if (out == NULL || link == NULL) {
        hv_dbglink_close(link);
        return HV_STATUS_INVALID_PARAMETER;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        hv_dbglink_close(link);
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    c->link = link;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    c->tag = (uint32_t)now_ms() << 8; /* a fresh range per client: stale replies of an earlier one never match */
    st = requery(c);
    if (!hv_success(st)) {
        hv_dbgc_close(c);
        return st;
    }
    *out = c;
    return HV_STATUS_SUCCESS;
}

void hv_dbgc_close(struct hv_dbgc *c)
{
    if (c == NULL)
        return;
    hv_dbglink_close(c->link);
    free(c);
}

void hv_dbgc_set_timeout(struct hv_dbgc *c, int timeout_ms)
{
    if (c && timeout_ms > 0)
        c->timeout_ms = timeout_ms;
}

const struct hv_dbgc_state *hv_dbgc_state(const struct hv_dbgc *c)
{
    return c ? &c->st : NULL;
}

struct hv_dbglink *hv_dbgc_link(struct hv_dbgc *c)
{
    return c ? c->link : NULL;
}

const char *hv_dbgc_last_error(const struct hv_dbgc *c)
{
    return c ? c->err : "no debugger connection";
}

hv_status_t hv_dbgc_hello(struct hv_dbgc *c, struct hv_dbg_hello *out)
{
    const uint8_t *b;
    uint32_t n, known;
    hv_status_t st;

    if (c == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    known = c->st.hello.ncores;
    /* Any number of cores until the target says how many. */
    c->st.hello.ncores = 0;
    st = exchange(c, HV_DBG_MSG_HELLO, NULL, 0, c->timeout_ms, &b, &n);
    if (!hv_success(st)) {
        c->st.hello.ncores = known;
        return st;
    }
    if (n != sizeof(c->st.hello))
        return fail(c, HV_STATUS_INVALID_PACKET, "HELLO answered without its body");
    memcpy(&c->st.hello, b, sizeof(c->st.hello));
    c->st.hello.signature[sizeof(c->st.hello.signature) - 1] = '\0';
    c->st.halted = c->st.hello.state == HV_DBG_STATE_HALTED;
    c->st.current_core = c->st.hello.current_core;
    if (out)
        *out = c->st.hello;
    return st;
}

/* STATUS, PAUSE and SWITCH_CORE answer with a stop report. */
static hv_status_t stop_call(struct hv_dbgc *c, uint16_t type, const void *body, uint32_t blen, int timeout_ms,
                             struct hv_dbg_stop *out)
{
    const uint8_t *b;
    uint32_t n;
    struct hv_dbg_stop s;
    hv_status_t st;

    if (c == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = exchange(c, type, body, blen, timeout_ms, &b, &n);
    if (n == sizeof(s)) {
        memcpy(&s, b, sizeof(s));
        take_stop_report(c, &s);
        if (out)
            *out = s;
    } else if (hv_success(st)) {
        return fail(c, HV_STATUS_INVALID_PACKET, "%s answered without a stop report", hv_dbg_msg_name(type));
    }
    return st;
}

hv_status_t hv_dbgc_status(struct hv_dbgc *c, struct hv_dbg_stop *out)
{
    return stop_call(c, HV_DBG_MSG_STATUS, NULL, 0, c ? c->timeout_ms : 0, out);
}

hv_status_t hv_dbgc_pause(struct hv_dbgc *c, struct hv_dbg_stop *out)
{
    hv_status_t st = stop_call(c, HV_DBG_MSG_PAUSE, NULL, 0, c ? c->timeout_ms + PAUSE_EXTRA_MS : 0, out);

    /* Its reply is the report: nothing left for a waiter. */
    if (c && hv_success(st))
        c->stop_pending = false;
    return st;
}

hv_status_t hv_dbgc_go(struct hv_dbgc *c)
{
    const uint8_t *b;
    uint32_t n;
    hv_status_t st;

    if (c == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = exchange(c, HV_DBG_MSG_GO, NULL, 0, c->timeout_ms, &b, &n);
    if (hv_success(st)) {
        c->st.halted = false;
        c->st.have_stop = false;
        c->stop_pending = false;
    }
    return st;
}

bool hv_dbgc_take_stop(struct hv_dbgc *c, struct hv_dbg_stop *out)
{
    if (c == NULL || !c->stop_pending)
        return false;
    c->stop_pending = false;
    if (out)
        *out = c->pending;
    return true;
}

hv_status_t hv_dbgc_poll(struct hv_dbgc *c)
{
    unsigned i;

    if (c == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (hv_dbglink_lost(c->link))
        return HV_STATUS_SUCCESS; /* the next request reconnects */
    /* Bounded: a few messages a call, never a wait. */
    for (i = 0; i < 16; i++) {
        struct hv_dbg_header h;
        const uint8_t *b;
        enum rx_kind kind;
        hv_status_t st = receive(c, 0, 0, 0, &kind, &h, &b);

        if (st == HV_STATUS_TIMEOUT)
            return HV_STATUS_SUCCESS;
        if (!hv_success(st))
            return st;
    }
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_dbgc_wait_stop(struct hv_dbgc *c, int timeout_ms, const volatile sig_atomic_t *interrupt,
                              struct hv_dbg_stop *out, bool *broke_in)
{
    uint64_t deadline = now_ms() + (timeout_ms < 0 ? 0 : (uint64_t)timeout_ms);
    bool reconnected = false;

    if (broke_in)
        *broke_in = false;
    if (c == NULL || out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    for (;;) {
        struct hv_dbg_header h;
        const uint8_t *b;
        enum rx_kind kind;
        uint64_t now = now_ms();
        int slice = WAIT_SLICE_MS;
        hv_status_t st;

        if (hv_dbgc_take_stop(c, out))
            return HV_STATUS_SUCCESS;
        if (c->st.halted && c->st.have_stop) {
            *out = c->st.stop;
            return HV_STATUS_SUCCESS;
        }
        if (interrupt && *interrupt) {
            if (broke_in)
                *broke_in = true;
            return hv_dbgc_pause(c, out);
        }
        if (timeout_ms >= 0) {
            if (now >= deadline)
                return fail(c, HV_STATUS_TIMEOUT, "the target did not stop within %d ms", timeout_ms);
            if (deadline - now < (uint64_t)slice)
                slice = (int)(deadline - now);
        }
        if (hv_dbglink_lost(c->link)) {
            if (reconnected)
                return fail(c, HV_STATUS_DEVICE_CONNECTION_LOST, "%s", hv_dbglink_last_error(c->link));
            reconnected = true;
            st = reconnect(c);
            if (!hv_success(st))
                return st;
            continue;
        }
        st = receive(c, 0, 0, slice, &kind, &h, &b);
        if (hv_success(st) || st == HV_STATUS_TIMEOUT)
            continue;
        if (st != HV_STATUS_DEVICE_CONNECTION_LOST)
            return st;
        /* Lost: the top of the loop opens the line again, once. */
    }
}

hv_status_t hv_dbgc_regs(struct hv_dbgc *c, uint32_t core, struct hv_dbg_regs *out)
{
    struct hv_dbg_core_req r = { .core = core };
    const uint8_t *b;
    uint32_t n;
    hv_status_t st;

    if (c == NULL || out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = exchange(c, HV_DBG_MSG_GET_REGS, &r, sizeof(r), c->timeout_ms, &b, &n);
    if (n == sizeof(*out))
        memcpy(out, b, sizeof(*out));
    else if (hv_success(st))
        return fail(c, HV_STATUS_INVALID_PACKET, "GET_REGS answered without registers");
    return st;
}

hv_status_t hv_dbgc_set_reg(struct hv_dbgc *c, uint32_t core, uint32_t reg, uint64_t value, uint64_t *now)
{
    struct hv_dbg_set_reg r = { .core = core, .reg = reg, .value = value };
    const uint8_t *b;
    uint32_t n;
    hv_status_t st;

    if (c == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = exchange(c, HV_DBG_MSG_SET_REG, &r, sizeof(r), c->timeout_ms, &b, &n);
    if (n == sizeof(r)) {
        memcpy(&r, b, sizeof(r));
        if (now)
            *now = r.value;
    } else if (hv_success(st)) {
        return fail(c, HV_STATUS_INVALID_PACKET, "SET_REG answered without the value");
    }
    return st;
}

hv_status_t hv_dbgc_switch_core(struct hv_dbgc *c, uint32_t core, struct hv_dbg_stop *out)
{
    struct hv_dbg_core_req r = { .core = core };

    return stop_call(c, HV_DBG_MSG_SWITCH_CORE, &r, sizeof(r), c ? c->timeout_ms : 0, out);
}

hv_status_t hv_dbgc_msr(struct hv_dbgc *c, const struct hv_abi_msr_op *op, struct hv_abi_msr_result *res,
                        uint32_t cap, uint32_t *count)
{
    struct hv_dbg_msr_reply m;
    const uint8_t *b;
    uint32_t n;
    hv_status_t st;

    if (count)
        *count = 0;
    if (c == NULL || op == NULL || count == NULL || (cap && res == NULL))
        return HV_STATUS_INVALID_PARAMETER;
    st = exchange(c, HV_DBG_MSG_MSR, op, sizeof(*op), c->timeout_ms, &b, &n);
    if (n < sizeof(m))
        return hv_success(st) ? fail(c, HV_STATUS_INVALID_PACKET, "MSR answered without results") : st;
    memcpy(&m, b, sizeof(m));
    if (m.count > cap)
        return fail(c, HV_STATUS_INSUFFICIENT_RESOURCES, "MSR reply has %u results, room for %u", m.count, cap);
    memcpy(res, b + sizeof(m), (size_t)m.count * sizeof(*res));
    *count = m.count;
    return st;
}

hv_status_t hv_dbgc_read(struct hv_dbgc *c, uint32_t core, uint64_t address, void *buf, uint32_t len,
                         uint32_t *done, hv_status_t *fault)
{
    uint32_t chunk;
    uint8_t *dst = buf;

    if (done)
        *done = 0;
    if (fault)
        *fault = HV_STATUS_SUCCESS;
    if (c == NULL || done == NULL || fault == NULL || (len && buf == NULL))
        return HV_STATUS_INVALID_PARAMETER;
    chunk = c->st.hello.max_read;
    if (chunk == 0 || chunk > HV_DBG_MAX_READ)
        chunk = HV_DBG_MAX_READ;
    while (*done < len) {
        struct hv_dbg_read_mem r = { .address = address + *done, .core = core };
        struct hv_dbg_mem_reply m;
        const uint8_t *b;
        uint32_t n;
        hv_status_t st;

        r.length = len - *done < chunk ? len - *done : chunk;
        st = exchange(c, HV_DBG_MSG_READ_MEM, &r, sizeof(r), c->timeout_ms, &b, &n);
        if (n < sizeof(m))
            return hv_success(st) ? fail(c, HV_STATUS_INVALID_PACKET, "READ_MEM answered without bytes") : st;
        memcpy(&m, b, sizeof(m));
        if (m.address != r.address || m.length > r.length || (hv_success(st) && m.length != r.length))
            return fail(c, HV_STATUS_INVALID_PACKET, "READ_MEM reply for %u bytes at %llx, asked %u at %llx",
                        m.length, (unsigned long long)m.address, r.length, (unsigned long long)r.address);
        memcpy(dst + *done, b + sizeof(m), m.length);
        *done += m.length;
        if (!hv_success(st)) {
            /* A fault (a page not present, ...): the bytes before it are good. */
            *fault = m.fault != HV_STATUS_SUCCESS ? m.fault : st;
            return HV_STATUS_SUCCESS;
        }
    }
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_dbgc_event(struct hv_dbgc *c, uint32_t abi_request, const void *req, uint32_t len,
                          struct hv_dbg_event_reply *out)
{
    struct hv_dbg_event_req e = { .request = abi_request, .request_len = len };
    static _Thread_local uint8_t body[HV_DBG_MAX_MESSAGE];
    const uint8_t *b;
    uint32_t n;
    hv_status_t st;

    if (c == NULL || req == NULL || len == 0 || len > HV_DBG_MAX_EVENT_REQUEST)
        return HV_STATUS_INVALID_PARAMETER;
    memcpy(body, &e, sizeof(e));
    memcpy(body + sizeof(e), req, len);
    st = exchange(c, HV_DBG_MSG_EVENT, body, (uint32_t)sizeof(e) + len, c->timeout_ms, &b, &n);
    if (n == sizeof(*out) && out)
        memcpy(out, b, sizeof(*out));
    else if (hv_success(st) && n != sizeof(*out))
        return fail(c, HV_STATUS_INVALID_PACKET, "EVENT answered without its queue position");
    return st;
}

hv_status_t hv_dbgc_event_results(struct hv_dbgc *c, struct hv_dbg_event_results *sum,
                                  struct hv_dbg_event_result *out, uint32_t cap)
{
    const uint8_t *b;
    uint32_t n, k;
    hv_status_t st;

    if (c == NULL || sum == NULL || (cap && out == NULL))
        return HV_STATUS_INVALID_PARAMETER;
    st = exchange(c, HV_DBG_MSG_EVENT_RESULTS, NULL, 0, c->timeout_ms, &b, &n);
    if (n < sizeof(*sum))
        return hv_success(st) ? fail(c, HV_STATUS_INVALID_PACKET, "EVENT_RESULTS answered without results") : st;
    memcpy(sum, b, sizeof(*sum));
    k = sum->count < cap ? sum->count : cap;
    memcpy(out, b + sizeof(*sum), (size_t)k * sizeof(*out));
    return st;
}

hv_status_t hv_dbgc_event_discard(struct hv_dbgc *c)
{
    const uint8_t *b;
    uint32_t n;

    if (c == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    return exchange(c, HV_DBG_MSG_EVENT_DISCARD, NULL, 0, c->timeout_ms, &b, &n);
}
