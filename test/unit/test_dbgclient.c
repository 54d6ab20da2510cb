/*
 * The debugger's side of Debugger Mode (hvcore/client/dbgclient.h) and the
 * engine's serial targets, against a fake stub: a thread speaking
 * hvcore/debugger.h over the other end of a socketpair (or a 127.0.0.1
 * listener), with faults on demand: silence, a dropped line, stop reports
 * in between, stale and malformed replies. The real stub on the mock
 * machine is the integration test's (serial:sim).
 */
#define _GNU_SOURCE
#include "support.h"

#include <hvcore/client/dbgclient.h>
#include <hvcore/client/engine.h>
#include <hvcore/client/wire.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NCORES 4u
#define HDR 16u
#define FAULT_AT 0x3000u   /* the fake guest's memory ends here: the page after is not present */

static const struct hv_dbglink_opts lopts = { .max_payload = HV_DBG_MAX_MESSAGE, .ack_timeout_ms = 250,
                                              .max_retries = 8 };

/* ---- the fake stub ----------------------------------------------------------- */

enum fault {
    F_NONE,
    F_SILENT,         /* answer nothing */
    F_STOP_FIRST,     /* send a stop report before the reply */
    F_STALE_FIRST,    /* send a reply with an old tag before the right one */
    F_SHORT_BODY,     /* the reply's body one byte short (header length matching) */
    F_BAD_VERSION,    /* the reply's version is 7 */
    F_BAD_CORE,       /* a stop report naming core 300 */
    F_DROP,           /* close the line instead of answering (once) */
};

struct stub {
    pthread_t t;
    pthread_mutex_t lock;
    struct hv_dbglink *link;
    int stop; /* atomic */
    bool halted;
    uint32_t current;
    uint64_t msr[NCORES];
    uint64_t rax[NCORES];
    uint32_t queued;
    enum fault fault;
    uint16_t fault_type;      /* 0: every request */
    unsigned requests[0x60];  /* by type */
    uint32_t last_tag;
    int lfd;                  /* tcp: a listener re-plugging the link */
};

static void stop_report(struct stub *s, uint32_t reason, struct hv_dbg_stop *r)
{
    uint32_t i;

    memset(r, 0, sizeof(*r));
    r->state = s->halted ? HV_DBG_STATE_HALTED : HV_DBG_STATE_RUNNING;
    r->reason = s->halted ? reason : HV_DBG_STOP_NONE;
    r->stopping_core = 0;
    r->current_core = s->current;
    r->event_id = reason == HV_DBG_STOP_EVENT ? 1 : 0xFFFFFFFFu;
    r->ncores = NCORES;
    r->pid = 0x1234;
    r->rip = 0xfffff80773553180ull + s->current;
    r->mode = 64;
    r->insn_len = 3;
    r->insn[0] = 0x0f;
    r->insn[1] = 0x23;
    r->insn[2] = 0xf8;
    for (i = 0; i < NCORES && s->halted; i++)
        r->halted[0] |= (uint8_t)(1u << i);
    if (s->fault == F_BAD_CORE)
        r->current_core = 300;
}

static void send_msg(struct stub *s, uint16_t type, uint32_t tag, hv_status_t st, const void *body, uint32_t len)
{
    static _Thread_local uint8_t m[HV_DBG_MAX_MESSAGE];

    hv_dbg_header_put(m, type, tag, st, len);
    if (len != 0) /* body may be NULL for an empty reply */
        memcpy(m + HDR, body, len);
    if (s->fault == F_BAD_VERSION)
        m[0] = 7;
    (void)hv_dbglink_send(s->link, m, HDR + len);
}

/* Answer one request. */
static void serve(struct stub *s, const uint8_t *msg, uint32_t len)
{
    static _Thread_local uint8_t out[HV_DBG_MAX_MESSAGE];
    const uint8_t *b = msg + HDR;
    struct hv_dbg_header h;
    uint32_t n = 0;
    hv_status_t st = HV_STATUS_SUCCESS;
    uint16_t type;
    bool faulty;

    if (!hv_success(hv_dbg_header_check(msg, len, &h)))
        return;
    type = h.type;
    s->requests[type < 0x60 ? type : 0]++;
    s->last_tag = h.tag;
    faulty = s->fault != F_NONE && (s->fault_type == 0 || s->fault_type == type);
    if (faulty && s->fault == F_SILENT)
        return;
    if (faulty && s->fault == F_DROP) {
        s->fault = F_NONE;
        shutdown(hv_dbglink_fd(s->link), SHUT_RDWR);
        return;
    }
    if (faulty && s->fault == F_STOP_FIRST) {
        struct hv_dbg_stop r;

        s->halted = true;
        stop_report(s, HV_DBG_STOP_EVENT, &r);
        send_msg(s, HV_DBG_MSG_STOP | HV_DBG_REPLY, 0, HV_STATUS_SUCCESS, &r, sizeof(r));
    }
    if (faulty && s->fault == F_STALE_FIRST)
        send_msg(s, type | HV_DBG_REPLY, h.tag - 1, HV_STATUS_SUCCESS, NULL, 0);
    if (!s->halted && type != HV_DBG_MSG_HELLO && type != HV_DBG_MSG_STATUS && type != HV_DBG_MSG_PAUSE) {
        send_msg(s, type | HV_DBG_REPLY, h.tag, HV_STATUS_TARGET_RUNNING, NULL, 0);
        return;
    }
    switch (type) {
    case HV_DBG_MSG_HELLO: {
        struct hv_dbg_hello *o = (void *)out;

        memset(o, 0, sizeof(*o));
        o->version = HV_DBG_VERSION;
        o->state = s->halted;
        o->ncores = NCORES;
        o->current_core = s->current;
        o->max_message = HV_DBG_MAX_MESSAGE;
        o->max_read = 1024; /* smaller than the limit: reads take several requests */
        memcpy(o->signature, "fake stub", 10);
        n = sizeof(*o);
        break;
    }
    case HV_DBG_MSG_PAUSE:
        s->halted = true;
        /* fall through */
    case HV_DBG_MSG_STATUS:
        stop_report(s, HV_DBG_STOP_BREAK_IN, (void *)out);
        n = sizeof(struct hv_dbg_stop);
        break;
    case HV_DBG_MSG_GO:
        s->halted = false;
        break;
    case HV_DBG_MSG_GET_REGS:
    case HV_DBG_MSG_SWITCH_CORE: {
        struct hv_dbg_core_req r;
        uint32_t core;

        memcpy(&r, b, sizeof(r));
        core = r.core == HV_DBG_CURRENT_CORE ? s->current : r.core;
        if (core >= NCORES) {
            st = HV_STATUS_INVALID_PARAMETER;
            break;
        }
        if (type == HV_DBG_MSG_SWITCH_CORE) {
            s->current = core;
            stop_report(s, HV_DBG_STOP_BREAK_IN, (void *)out);
            n = sizeof(struct hv_dbg_stop);
        } else {
            struct hv_dbg_regs *o = (void *)out;

            memset(o, 0, sizeof(*o));
            o->core = core;
            o->gpr[0] = s->rax[core];
            o->rip = 0xfffff80773553180ull + core;
            o->rflags = 0x246;
            n = sizeof(*o);
        }
        break;
    }
    case HV_DBG_MSG_SET_REG: {
        struct hv_dbg_set_reg r;

        memcpy(&r, b, sizeof(r));
        if (r.core == HV_DBG_CURRENT_CORE)
            r.core = s->current;
        if (r.core >= NCORES || r.reg != 0) {
            st = HV_STATUS_INVALID_PARAMETER;
            break;
        }
        s->rax[r.core] = r.value;
        memcpy(out, &r, sizeof(r));
        n = sizeof(r);
        break;
    }
    case HV_DBG_MSG_MSR: {
        struct hv_abi_msr_op op;
        struct hv_dbg_msr_reply m = { 0 };
        struct hv_abi_msr_result *res = (void *)(out + sizeof(m));
        uint32_t c;

        memcpy(&op, b, sizeof(op));
        for (c = 0; c < NCORES; c++) {
            if (op.core_number != HV_ABI_ALL_CORES && op.core_number != c)
                continue;
            memset(&res[m.count], 0, sizeof(res[0]));
            res[m.count].core = c;
            res[m.count].in_root = 1;
            if (op.msr != 0xC0000082u) {
                res[m.count].status = HV_STATUS_EXCEPTION_GENERAL_PROTECTION;
                if (st == HV_STATUS_SUCCESS)
                    st = HV_STATUS_EXCEPTION_GENERAL_PROTECTION;
            } else {
                if (op.action == HV_ABI_MSR_WRITE)
                    s->msr[c] = op.value;
                res[m.count].value = s->msr[c];
            }
            m.count++;
        }
        memcpy(out, &m, sizeof(m));
        n = (uint32_t)(sizeof(m) + m.count * sizeof(res[0]));
        break;
    }
    case HV_DBG_MSG_READ_MEM: {
        struct hv_dbg_read_mem r;
        struct hv_dbg_mem_reply m;
        uint32_t i;

        memcpy(&r, b, sizeof(r));
        m.address = r.address;
        m.length = 0;
        m.fault = HV_STATUS_SUCCESS;
        for (i = 0; i < r.length; i++) {
            if (r.address + i >= FAULT_AT) {
                m.fault = st = HV_STATUS_GUEST_PAGE_NOT_PRESENT;
                break;
            }
            out[sizeof(m) + i] = (uint8_t)(r.address + i);
            m.length++;
        }
        memcpy(out, &m, sizeof(m));
        n = (uint32_t)sizeof(m) + m.length;
        break;
    }
    case HV_DBG_MSG_EVENT: {
        struct hv_dbg_event_reply r = { .index = s->queued++, .queued = s->queued };

        memcpy(out, &r, sizeof(r));
        n = sizeof(r);
        break;
    }
    default:
        st = HV_STATUS_INVALID_PARAMETER;
        break;
    }
    if (faulty && s->fault == F_SHORT_BODY && n)
        n--;
    send_msg(s, type | HV_DBG_REPLY, h.tag, st, out, n);
}

static void *stub_main(void *arg)
{
    struct stub *s = arg;
    static _Thread_local uint8_t msg[HV_DBG_MAX_MESSAGE];

    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        uint32_t len = 0;
        hv_status_t st;

        pthread_mutex_lock(&s->lock);
        if (s->lfd >= 0 && hv_dbglink_lost(s->link)) {
            int fd;

            /* The emulator side: take the debugger's next connection. */
            if (hv_success(hv_wire_accept(s->lfd, &fd, 10))) {
                hv_dbglink_close(s->link);
                if (!hv_success(hv_dbglink_from_fd(&s->link, fd, NULL, NULL, &lopts)))
                    s->link = NULL;
            }
        }
        st = s->link ? hv_dbglink_recv(s->link, msg, sizeof(msg), &len, 10) : HV_STATUS_TIMEOUT;
        if (hv_success(st))
            serve(s, msg, len);
        pthread_mutex_unlock(&s->lock);
        if (!hv_success(st) && st != HV_STATUS_TIMEOUT && st != HV_STATUS_INVALID_PACKET) {
            struct timespec ts = { 0, 5 * 1000 * 1000 };

            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void stub_init(struct stub *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->lfd = -1;
}

/* A socketpair: the client's link in *l. */
static void stub_start_pair(struct stub *s, struct hv_dbglink **l)
{
    int sv[2];

    stub_init(s);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(hv_dbglink_from_fd(&s->link, sv[1], NULL, NULL, &lopts), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_from_fd(l, sv[0], NULL, NULL, &lopts), HV_STATUS_SUCCESS);
    assert_int_equal(pthread_create(&s->t, NULL, stub_main, s), 0);
}

/* A 127.0.0.1 listener (an emulator's serial socket); *port. */
static void stub_start_tcp(struct stub *s, uint16_t *port)
{
    int sv[2];

    stub_init(s);
    assert_int_equal(hv_wire_listen("127.0.0.1", 0, &s->lfd), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_local_port(s->lfd, port), HV_STATUS_SUCCESS);
    /* A placeholder line, lost at once: the first connection replaces it. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[0]);
    assert_int_equal(hv_dbglink_from_fd(&s->link, sv[1], NULL, NULL, &lopts), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_send(s->link, "x", 1), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(pthread_create(&s->t, NULL, stub_main, s), 0);
}

static void stub_end(struct stub *s)
{
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->t, NULL);
    hv_dbglink_close(s->link);
    if (s->lfd >= 0)
        close(s->lfd);
    pthread_mutex_destroy(&s->lock);
}

static void set_fault(struct stub *s, enum fault f, uint16_t type)
{
    pthread_mutex_lock(&s->lock);
    s->fault = f;
    s->fault_type = type;
    pthread_mutex_unlock(&s->lock);
}

/* ---- tests ---------------------------------------------------------------------- */

/* Given a running target, when the debugger connects, breaks in and works
 * on the halted cores, then every request gets its decoded answer. */
static void break_in_and_work_while_halted(void **state)
{
    struct hv_dbglink *l;
    struct hv_dbgc *c;
    struct stub s;
    struct hv_dbg_stop stop;
    struct hv_dbg_regs regs;
    struct hv_abi_msr_op op = { .msr = 0xC0000082u, .core_number = 1, .action = HV_ABI_MSR_WRITE,
                                .value = 0xfffff80773553180ull };
    struct hv_abi_msr_result res[NCORES];
    static uint8_t mem[10000];
    uint32_t n, i, done;
    uint64_t now;
    hv_status_t fault;

    (void)state;
    stub_start_pair(&s, &l);
    assert_int_equal(hv_dbgc_open(&c, l, 2000), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbgc_state(c)->hello.ncores, NCORES);
    assert_false(hv_dbgc_state(c)->halted);
    assert_string_equal(hv_dbgc_state(c)->hello.signature, "fake stub");
    /* Running: requests that need a halted target say so. */
    assert_int_equal(hv_dbgc_regs(c, HV_DBG_CURRENT_CORE, &regs), HV_STATUS_TARGET_RUNNING);
    assert_non_null(strstr(hv_dbgc_last_error(c), "'pause'"));

    assert_int_equal(hv_dbgc_pause(c, &stop), HV_STATUS_SUCCESS);
    assert_int_equal(stop.state, HV_DBG_STATE_HALTED);
    assert_int_equal(stop.reason, HV_DBG_STOP_BREAK_IN);
    assert_true(hv_dbgc_state(c)->halted);
    assert_int_equal(hv_dbgc_state(c)->current_core, 0);

    assert_int_equal(hv_dbgc_set_reg(c, 2, 0, 5, &now), HV_STATUS_SUCCESS);
    assert_true(now == 5);
    assert_int_equal(hv_dbgc_set_reg(c, 2, 16, 5, &now), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_dbgc_regs(c, 2, &regs), HV_STATUS_SUCCESS);
    assert_int_equal(regs.core, 2);
    assert_true(regs.gpr[0] == 5);
    assert_int_equal(hv_dbgc_regs(c, 9, &regs), HV_STATUS_INVALID_PARAMETER);

    assert_int_equal(hv_dbgc_switch_core(c, 3, &stop), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbgc_state(c)->current_core, 3);
    assert_true(stop.rip == 0xfffff80773553183ull);

    /* wrmsr on core 1 while halted, then rdmsr on every core. */
    assert_int_equal(hv_dbgc_msr(c, &op, res, NCORES, &n), HV_STATUS_SUCCESS);
    assert_int_equal(n, 1);
    assert_int_equal(res[0].core, 1);
    op.action = HV_ABI_MSR_READ;
    op.core_number = HV_ABI_ALL_CORES;
    assert_int_equal(hv_dbgc_msr(c, &op, res, NCORES, &n), HV_STATUS_SUCCESS);
    assert_int_equal(n, NCORES);
    for (i = 0; i < n; i++)
        assert_true(res[i].value == (i == 1 ? 0xfffff80773553180ull : 0));
    /* A #GP on every core: the first core's status, every result. */
    op.msr = 0x12345678u;
    assert_int_equal(hv_dbgc_msr(c, &op, res, NCORES, &n), HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(n, NCORES);
    assert_int_equal(hv_dbgc_msr(c, &op, res, 2, &n), HV_STATUS_INSUFFICIENT_RESOURCES);

    /* Memory over several requests (max_read 1024), up to a missing page. */
    assert_int_equal(hv_dbgc_read(c, HV_DBG_CURRENT_CORE, 0x1000, mem, 0x1800, &done, &fault), HV_STATUS_SUCCESS);
    assert_int_equal(done, 0x1800);
    assert_int_equal(fault, HV_STATUS_SUCCESS);
    for (i = 0; i < done; i++)
        assert_int_equal(mem[i], (uint8_t)(0x1000 + i));
    assert_int_equal(s.requests[HV_DBG_MSG_READ_MEM], 6);
    assert_int_equal(hv_dbgc_read(c, HV_DBG_CURRENT_CORE, 0x2f00, mem, sizeof(mem), &done, &fault),
                     HV_STATUS_SUCCESS);
    assert_int_equal(done, 0x100);
    assert_int_equal(fault, HV_STATUS_GUEST_PAGE_NOT_PRESENT);

    assert_int_equal(hv_dbgc_go(c), HV_STATUS_SUCCESS);
    assert_false(hv_dbgc_state(c)->halted);
    hv_dbgc_close(c);
    stub_end(&s);
}

/* A stop report that arrives while a reply is awaited is kept for the
 * waiter; a stale reply is dropped; an interrupt breaks in. */
static void stop_reports_stale_replies_and_break_in(void **state)
{
    struct hv_dbglink *l;
    struct hv_dbgc *c;
    struct stub s;
    struct hv_dbg_stop stop;
    volatile sig_atomic_t intr = 0;
    bool broke;

    (void)state;
    stub_start_pair(&s, &l);
    assert_int_equal(hv_dbgc_open(&c, l, 2000), HV_STATUS_SUCCESS);
    set_fault(&s, F_STOP_FIRST, HV_DBG_MSG_STATUS);
    assert_int_equal(hv_dbgc_status(c, NULL), HV_STATUS_SUCCESS);
    set_fault(&s, F_NONE, 0);
    assert_true(hv_dbgc_take_stop(c, &stop));
    assert_int_equal(stop.reason, HV_DBG_STOP_EVENT);
    assert_int_equal(stop.event_id, 1);
    assert_false(hv_dbgc_take_stop(c, &stop));
    assert_true(hv_dbgc_state(c)->halted);

    set_fault(&s, F_STALE_FIRST, 0);
    assert_int_equal(hv_dbgc_switch_core(c, 1, &stop), HV_STATUS_SUCCESS);
    assert_int_equal(stop.current_core, 1);
    set_fault(&s, F_NONE, 0);

    /* Running: the wait ends in TIMEOUT, or in a break-in when interrupted. */
    assert_int_equal(hv_dbgc_go(c), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbgc_wait_stop(c, 150, &intr, &stop, &broke), HV_STATUS_TIMEOUT);
    assert_false(broke);
    intr = 1;
    assert_int_equal(hv_dbgc_wait_stop(c, -1, &intr, &stop, &broke), HV_STATUS_SUCCESS);
    assert_true(broke);
    assert_int_equal(stop.reason, HV_DBG_STOP_BREAK_IN);
    assert_true(hv_dbgc_state(c)->halted);
    hv_dbgc_close(c);
    stub_end(&s);
}

/* Replies that are not what they should be: INVALID_PACKET with words. */
static void malformed_replies_are_invalid_packet(void **state)
{
    struct hv_dbglink *l;
    struct hv_dbgc *c;
    struct stub s;
    struct hv_dbg_regs regs;
    struct hv_dbg_stop stop;

    (void)state;
    stub_start_pair(&s, &l);
    assert_int_equal(hv_dbgc_open(&c, l, 2000), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbgc_pause(c, &stop), HV_STATUS_SUCCESS);
    set_fault(&s, F_SHORT_BODY, 0);
    assert_int_equal(hv_dbgc_regs(c, 0, &regs), HV_STATUS_INVALID_PACKET);
    assert_non_null(strstr(hv_dbgc_last_error(c), "GET_REGS reply of 455 bytes"));
    set_fault(&s, F_BAD_VERSION, 0);
    assert_int_equal(hv_dbgc_regs(c, 0, &regs), HV_STATUS_INVALID_PACKET);
    assert_non_null(strstr(hv_dbgc_last_error(c), "protocol version 7"));
    set_fault(&s, F_BAD_CORE, 0);
    assert_int_equal(hv_dbgc_status(c, &stop), HV_STATUS_INVALID_PACKET);
    assert_non_null(strstr(hv_dbgc_last_error(c), "current core 300, stopping core 0 (of 4)"));
    /* The line itself is fine: the next good reply is taken. */
    set_fault(&s, F_NONE, 0);
    assert_int_equal(hv_dbgc_regs(c, 0, &regs), HV_STATUS_SUCCESS);
    hv_dbgc_close(c);
    stub_end(&s);
}

/* A target that does not answer: TIMEOUT; its late answers are dropped. */
static void silent_target_is_timeout(void **state)
{
    struct hv_dbglink *l;
    struct hv_dbgc *c;
    struct stub s;
    struct hv_dbg_regs regs;
    struct hv_dbg_stop stop;

    (void)state;
    stub_start_pair(&s, &l);
    assert_int_equal(hv_dbgc_open(&c, l, 300), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbgc_pause(c, &stop), HV_STATUS_SUCCESS);
    set_fault(&s, F_SILENT, HV_DBG_MSG_GET_REGS);
    assert_int_equal(hv_dbgc_regs(c, 0, &regs), HV_STATUS_TIMEOUT);
    assert_non_null(strstr(hv_dbgc_last_error(c), "no reply to GET_REGS"));
    set_fault(&s, F_NONE, 0);
    assert_int_equal(hv_dbgc_regs(c, 1, &regs), HV_STATUS_SUCCESS);
    assert_int_equal(regs.core, 1);
    hv_dbgc_close(c);
    stub_end(&s);
}

/* Over TCP (an emulator's serial socket): the line drops while halted;
 * a request that is safe to repeat reconnects and goes again, the state is
 * asked again; GO is not repeated (DEVICE_CONNECTION_LOST), the next call
 * reconnects. */
static void dropped_line_reconnects_to_the_halted_target(void **state)
{
    struct hv_dbglink *l;
    struct hv_dbgc *c;
    struct stub s;
    struct hv_dbg_regs regs;
    struct hv_dbg_stop stop;
    uint16_t port;
    char spec[64];

    (void)state;
    stub_start_tcp(&s, &port);
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u", (unsigned)port);
    assert_int_equal(hv_dbglink_open(&l, spec, &lopts), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbgc_open(&c, l, 2000), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbgc_pause(c, &stop), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbgc_switch_core(c, 2, NULL), HV_STATUS_SUCCESS);

    set_fault(&s, F_DROP, HV_DBG_MSG_GET_REGS);
    assert_int_equal(hv_dbgc_regs(c, HV_DBG_CURRENT_CORE, &regs), HV_STATUS_SUCCESS);
    assert_int_equal(regs.core, 2);
    assert_int_equal(hv_dbgc_state(c)->reconnects, 1);
    assert_true(hv_dbgc_state(c)->halted);
    assert_int_equal(hv_dbgc_state(c)->current_core, 2);

    set_fault(&s, F_DROP, HV_DBG_MSG_GO);
    assert_int_equal(hv_dbgc_go(c), HV_STATUS_DEVICE_CONNECTION_LOST);
    /* The target did not run it: it is still halted, as the next call finds. */
    assert_int_equal(hv_dbgc_status(c, &stop), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbgc_state(c)->reconnects, 2);
    assert_int_equal(stop.state, HV_DBG_STATE_HALTED);
    assert_int_equal(hv_dbgc_go(c), HV_STATUS_SUCCESS);
    hv_dbgc_close(c);
    stub_end(&s);
}

/* The engine: serial:tcp:... targets, the PsWriteMsr-style calls on the
 * halted cores, event changes queued. */
static void engine_serial_target(void **state)
{
    struct hv_engine *e;
    struct stub s;
    struct hv_abi_msr_result res[NCORES];
    struct hv_engine_event ev = { .pid = UINT64_MAX, .core = HV_ABI_ALL_CORES, .imm = true, .action_break = true };
    uint16_t port;
    uint32_t n, id;
    char target[80];

    (void)state;
    stub_start_tcp(&s, &port);
    snprintf(target, sizeof(target), "serial:tcp:127.0.0.1:%u", (unsigned)port);
    assert_int_equal(hv_engine_create(&e, target), HV_STATUS_SUCCESS);
    assert_non_null(hv_engine_debugger(e));
    assert_int_equal(hv_engine_cpu_count(e), NCORES);
    /* Running: the MSR calls tell to pause first. */
    assert_int_equal(hv_engine_msr_read(e, HV_ABI_ALL_CORES, 0xC0000082u, res, NCORES, &n),
                     HV_STATUS_TARGET_RUNNING);
    assert_int_equal(hv_dbgc_pause(hv_engine_debugger(e), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_engine_msr_write(e, 1, 0xC0000082u, 0x1234, res, NCORES, &n), HV_STATUS_SUCCESS);
    assert_int_equal(n, 1);
    assert_int_equal(hv_engine_msr_read(e, HV_ABI_ALL_CORES, 0xC0000082u, res, NCORES, &n), HV_STATUS_SUCCESS);
    assert_int_equal(n, NCORES);
    assert_true(res[1].value == 0x1234 && res[0].value == 0);
    assert_int_equal(hv_engine_event_add(e, &ev, &id), HV_STATUS_SUCCESS);
    assert_int_equal(id, HV_DBG_QUEUED_EVENT(0));
    assert_int_equal(s.queued, 2); /* the event and its break action */
    assert_int_equal(hv_engine_event_ctl(e, HV_ABI_EVENT_DISABLE, id), HV_STATUS_SUCCESS);
    assert_int_equal(s.queued, 3);
    {
        struct hv_abi_event_info info[4];

        assert_int_equal(hv_engine_event_list(e, info, 4, &n), HV_STATUS_UNSUPPORTED);
    }
    hv_engine_destroy(e);
    stub_end(&s);

    /* Nothing there: the target cannot be opened. */
    assert_int_equal(hv_engine_create(&e, "serial:/nonexistent/ttyS9"), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_engine_create(&e, "serial:/dev/ttyS0,baud=12"), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_engine_create(&e, "serial:tcp:127.0.0.1:1,timeout=0"), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_engine_create(&e, "serial:tcp:127.0.0.1:1,timeout=9x"), HV_STATUS_INVALID_PARAMETER);
    /* The timeout is the engine's: the line gets the rest of the spec (nothing listens there). */
    assert_int_equal(hv_engine_create(&e, "serial:tcp:127.0.0.1:1,timeout=5000,ack=300"),
                     HV_STATUS_DEVICE_CONNECTION_LOST);
}

/* The pure checks on crafted messages. */
static void check_message_refuses_what_does_not_fit(void **state)
{
    uint8_t m[HDR + sizeof(struct hv_dbg_stop)];
    struct hv_dbg_header h;
    struct hv_dbg_stop s;
    const uint8_t *b;
    bool is_stop, stale;
    char err[200];

    (void)state;
    memset(&s, 0, sizeof(s));
    s.state = HV_DBG_STATE_HALTED;
    s.ncores = 4;
    s.mode = 64;
    memcpy(m + HDR, &s, sizeof(s));
    hv_dbg_header_put(m, HV_DBG_MSG_STOP | HV_DBG_REPLY, 0, 0, sizeof(s));
    assert_int_equal(hv_dbgc_check_message(m, sizeof(m), HV_DBG_MSG_GO, 5, 4, &h, &b, &is_stop, &stale, err,
                                           sizeof(err)),
                     HV_STATUS_SUCCESS);
    assert_true(is_stop);
    /* A request from the target. */
    hv_dbg_header_put(m, HV_DBG_MSG_GO, 5, 0, sizeof(s));
    assert_int_equal(hv_dbgc_check_message(m, sizeof(m), HV_DBG_MSG_GO, 5, 4, &h, &b, &is_stop, &stale, err,
                                           sizeof(err)),
                     HV_STATUS_INVALID_PACKET);
    assert_non_null(strstr(err, "sent a request"));
    /* The wrong reply type for the tag. */
    hv_dbg_header_put(m, HV_DBG_MSG_HELLO | HV_DBG_REPLY, 5, 0, 0);
    assert_int_equal(hv_dbgc_check_message(m, HDR, HV_DBG_MSG_GO, 5, 4, &h, &b, &is_stop, &stale, err, sizeof(err)),
                     HV_STATUS_INVALID_PACKET);
    assert_non_null(strstr(err, "HELLO reply to a GO request"));
    /* Another tag: stale. */
    assert_int_equal(hv_dbgc_check_message(m, HDR, HV_DBG_MSG_GO, 6, 4, &h, &b, &is_stop, &stale, err, sizeof(err)),
                     HV_STATUS_SUCCESS);
    assert_true(stale);
    /* Length disagreeing with the payload; too short for a header. */
    hv_dbg_header_put(m, HV_DBG_MSG_GO | HV_DBG_REPLY, 5, 0, 4);
    assert_int_equal(hv_dbgc_check_message(m, HDR, HV_DBG_MSG_GO, 5, 4, &h, &b, &is_stop, &stale, err, sizeof(err)),
                     HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_dbgc_check_message(m, 3, HV_DBG_MSG_GO, 5, 4, &h, &b, &is_stop, &stale, err, sizeof(err)),
                     HV_STATUS_INVALID_PACKET);
    /* A GO reply with a body. */
    hv_dbg_header_put(m, HV_DBG_MSG_GO | HV_DBG_REPLY, 5, 0, 8);
    assert_int_equal(hv_dbgc_check_message(m, HDR + 8, HV_DBG_MSG_GO, 5, 4, &h, &b, &is_stop, &stale, err,
                                           sizeof(err)),
                     HV_STATUS_INVALID_PACKET);
    /* Stop report with a core past ncores in its bitmap. */
    s.halted[1] = 1; /* core 8 of 4 */
    memcpy(m + HDR, &s, sizeof(s));
    hv_dbg_header_put(m, HV_DBG_MSG_STOP | HV_DBG_REPLY, 0, 0, sizeof(s));
    assert_int_equal(hv_dbgc_check_message(m, sizeof(m), HV_DBG_MSG_GO, 5, 4, &h, &b, &is_stop, &stale, err,
                                           sizeof(err)),
                     HV_STATUS_INVALID_PACKET);
    assert_non_null(strstr(err, "past the 4"));

    assert_int_equal(hv_dbgc_reg_index("rax"), 0);
    assert_int_equal(hv_dbgc_reg_index("r15"), 15);
    assert_int_equal(hv_dbgc_reg_index("rsp"), 4);
    assert_int_equal(hv_dbgc_reg_index("rip"), HV_DBG_REG_RIP);
    assert_int_equal(hv_dbgc_reg_index("efl"), HV_DBG_REG_RFLAGS);
    assert_int_equal(hv_dbgc_reg_index("dr7"), HV_DBG_REG_DR7);
    assert_int_equal(hv_dbgc_reg_index("cr3"), -1);
    assert_string_equal(hv_dbgc_reg_name(HV_DBG_REG_DR6), "dr6");
    assert_string_equal(hv_dbgc_reg_name(99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(break_in_and_work_while_halted),
        cmocka_unit_test(stop_reports_stale_replies_and_break_in),
        cmocka_unit_test(malformed_replies_are_invalid_packet),
        cmocka_unit_test(silent_target_is_timeout),
        cmocka_unit_test(dropped_line_reconnects_to_the_halted_target),
        cmocka_unit_test(engine_serial_target),
        cmocka_unit_test(check_message_refuses_what_does_not_fit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
