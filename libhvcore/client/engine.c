/* SPDX-License-Identifier: MIT */
/*
 * The client engine. Every operation is one request in the abi.h layouts;
 * a target only has to carry it: `local` as an ioctl on /dev/hvcore, `sim`
 * by executing it in-process on the core running over the mock backend
 * (hv_abi_execute, the same validation the stub uses), `tcp` as a frame of
 * the wire protocol to a stub.
 */
#define _GNU_SOURCE
#include <hvcore/abi_exec.h>
#include <hvcore/client/engine.h>
#include <hvcore/client/script.h>
#include <hvcore/client/cmd.h>
#include <hvcore/client/dbgclient.h>
#include <hvcore/client/wire.h>
#include <hvcore/event.h>
#include <hvcore/hv.h>
#include <hvcore/testing/dbg_sim.h>
#include <hvcore/testing/mock.h>

#include "sys.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum target_kind { T_LOCAL, T_SIM, T_TCP, T_SERIAL };

struct hv_engine {
    enum target_kind kind;
    char target[512];
    uint32_t cpu_count;
    int timeout_ms;
    pthread_mutex_t lock;
    intptr_t dev;               /* local: the device (hv_sys_dev_open) */
    struct hv *hv;              /* sim */
    int pipe_fd[2];             /* sim: readable when records may wait */
    uint64_t last_flush_ms;
    struct hv_wire_conn *conn;  /* tcp */
    /* tcp, once hv_engine_fd() was asked: a poller on its own connection
     * moves records into `queue` and makes pipe_fd readable. */
    pthread_t poller;
    bool poller_running, poller_stop;
    struct hv_wire_conn *poll_conn;
    struct hv_msg_record *queue;
    uint32_t q_head, q_count, q_lost;
    char host[64];
    uint16_t port;
    bool has_key;               /* tcp: the handshake proves `key` */
    struct hv_wire_key key;
    struct hv_dbgc *dbg;        /* serial: the debugger connection */
    struct hv_mock_dbg_sim *dbg_sim; /* serial:sim: the stub on the mock machine */
    int dbg_sim_fd;             /* serial:sim: the sim's end of the line */
};

#define TCP_QUEUE 4096u

/* The simulator runs on the mock backend, whose machine is per process. */
static pthread_mutex_t sim_owner_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sim_taken;

/* Take the process's mock machine (sim: and serial:sim targets); false when
 * another engine has it. */
static bool sim_claim(void)
{
    bool was_free;

    pthread_mutex_lock(&sim_owner_lock);
    was_free = !sim_taken;
    sim_taken = true;
    pthread_mutex_unlock(&sim_owner_lock);
    return was_free;
}

static void sim_release(void)
{
    pthread_mutex_lock(&sim_owner_lock);
    sim_taken = false;
    pthread_mutex_unlock(&sim_owner_lock);
}

static uint64_t now_ms(void)
{
    return hv_sys_now_ms();
}

/* serial: the abi.h requests Debugger Mode carries. Event changes are
 * queued by the target until `g`; an added event's id is not known before
 * then, so it is named HV_DBG_QUEUED_EVENT(position) (the target resolves
 * such ids in later queued changes). */
static hv_status_t serial_transact(struct hv_engine *e, uint32_t request, void *buf, size_t *resp_len)
{
    struct hv_abi_header *h = buf;
    struct hv_dbg_event_reply r;
    hv_status_t st;

    switch (request) {
    case HV_ABI_REQ_QUERY: {
        struct hv_abi_query *q = buf;

        if (h->size < sizeof(*q))
            return HV_STATUS_INVALID_PARAMETER;
        q->cpu_count = hv_dbgc_state(e->dbg)->hello.ncores;
        st = HV_STATUS_SUCCESS;
        break;
    }
    case HV_ABI_REQ_EVENT_ADD:
    case HV_ABI_REQ_EVENT_ACTION:
    case HV_ABI_REQ_EVENT_CTL:
        st = hv_dbgc_event(e->dbg, request, buf, h->size, &r);
        if (hv_success(st) && request == HV_ABI_REQ_EVENT_ADD)
            ((struct hv_abi_event_add *)buf)->id = HV_DBG_QUEUED_EVENT(r.index);
        if (st == HV_STATUS_INVALID_PARAMETER || st == HV_STATUS_INVALID_PACKET ||
            st == HV_STATUS_INSUFFICIENT_RESOURCES || st == HV_STATUS_TARGET_RUNNING || hv_success(st))
            break; /* the target's answer */
        return st;  /* the line's failure */
    default:
        /* No such request in Debugger Mode (event lists, scripts, ...). */
        return HV_STATUS_UNSUPPORTED;
    }
    h->status = st;
    *resp_len = h->size;
    return st;
}

static hv_status_t transact(struct hv_engine *e, uint32_t request, void *buf, size_t cap, size_t *resp_len)
{
    struct hv_abi_header *h = buf;
    hv_status_t st;

    *resp_len = 0;
    switch (e->kind) {
    case T_LOCAL:
        return hv_sys_dev_request(e->dev, request, buf, cap, resp_len);
    case T_SIM:
        return hv_abi_execute(e->hv, request, buf, cap, resp_len);
    case T_SERIAL:
        return serial_transact(e, request, buf, resp_len);
    case T_TCP: {
        uint32_t len = 0;
        uint16_t type = 0;

        st = hv_wire_call(e->conn, (uint16_t)request, buf, h->size, buf, (uint32_t)cap, &len, &type,
                          e->timeout_ms);
        if (!hv_success(st))
            return st;
        /* The answer must be the same request, whole, as we sent it. */
        if (len < sizeof(*h) || len > cap || h->size != len)
            return HV_STATUS_INVALID_PACKET;
        *resp_len = len;
        return h->status;
    }
    }
    return HV_STATUS_INVALID_PARAMETER;
}

hv_status_t hv_engine_request(struct hv_engine *e, uint32_t request, void *buf, size_t cap, size_t *resp_len)
{
    hv_status_t st;

    if (e == NULL || buf == NULL || resp_len == NULL || cap < sizeof(struct hv_abi_header))
        return HV_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&e->lock);
    st = transact(e, request, buf, cap, resp_len);
    pthread_mutex_unlock(&e->lock);
    return st;
}

static void init_header(struct hv_abi_header *h, size_t size)
{
    memset(h, 0, sizeof(*h));
    h->size = (uint32_t)size;
    h->version = HV_ABI_VERSION;
}

static hv_status_t query_cpu_count(struct hv_engine *e)
{
    struct hv_abi_query q;
    size_t len;
    hv_status_t st;

    init_header(&q.hdr, sizeof(q));
    q.cpu_capacity = 0;
    st = hv_engine_request(e, HV_ABI_REQ_QUERY, &q, sizeof(q), &len);
    if (hv_success(st))
        e->cpu_count = q.cpu_count;
    return st;
}

/* ---- creation --------------------------------------------------------------- */

/* sim[:cores=N][,gp=MSR@CORE]...: MSR in hex, CORE a number (decimal or 0x). */
#define SIM_MAX_GP 16u

static hv_status_t create_sim(struct hv_engine *e, const char *args)
{
    unsigned long cores = 4;
    struct { uint32_t msr, core; } gp[SIM_MAX_GP];
    uint32_t ngp = 0, i;
    hv_status_t st;

    if (*args == ':') {
        const char *p = args + 1;
        bool first = true;

        for (;;) {
            char *end;

            errno = 0;
            if (first && !strncmp(p, "cores=", 6)) {
                cores = strtoul(p + 6, &end, 0);
                if (errno || end == p + 6 || cores == 0 || cores > HV_MOCK_MAX_CPUS)
                    return HV_STATUS_INVALID_PARAMETER;
            } else if (!strncmp(p, "gp=", 3) && ngp < SIM_MAX_GP) {
                unsigned long msr = strtoul(p + 3, &end, 16), core;

                if (errno || end == p + 3 || *end != '@' || msr > UINT32_MAX)
                    return HV_STATUS_INVALID_PARAMETER;
                p = end + 1;
                core = strtoul(p, &end, 0);
                if (errno || end == p || core >= HV_MOCK_MAX_CPUS)
                    return HV_STATUS_INVALID_PARAMETER;
                gp[ngp].msr = (uint32_t)msr;
                gp[ngp++].core = (uint32_t)core;
            } else {
                return HV_STATUS_INVALID_PARAMETER;
            }
            first = false;
            if (*end == '\0')
                break;
            if (*end != ',')
                return HV_STATUS_INVALID_PARAMETER;
            p = end + 1;
        }
        for (i = 0; i < ngp; i++)
            if (gp[i].core >= cores)
                return HV_STATUS_INVALID_PARAMETER;
    } else if (*args != '\0') {
        return HV_STATUS_INVALID_PARAMETER;
    }
    if (!sim_claim())
        return HV_STATUS_UNSUPPORTED; /* one simulated machine per process */
    st = hv_mock_init((uint32_t)cores, HV_MOCK_PROFILE_HASWELL);
    for (i = 0; hv_success(st) && i < ngp; i++)
        hv_mock_msr_set_gp(gp[i].core, gp[i].msr, true, true);
    if (hv_success(st))
        st = hv_create(&e->hv, hv_mock_os(), NULL);
    if (hv_success(st)) {
        st = hv_start(e->hv);
        if (!hv_success(st)) {
            hv_destroy(e->hv);
            e->hv = NULL;
        }
    }
    if (hv_success(st) && hv_sys_wake_pair(e->pipe_fd) != 0)
        st = HV_STATUS_INSUFFICIENT_RESOURCES;
    if (!hv_success(st)) {
        if (e->hv) {
            (void)hv_stop(e->hv);
            hv_destroy(e->hv);
            e->hv = NULL;
        }
        hv_mock_fini();
        sim_release();
        return st;
    }
    e->cpu_count = (uint32_t)cores;
    e->last_flush_ms = now_ms();
    return HV_STATUS_SUCCESS;
}

/* tcp:HOST:PORT[,key=FILE]; without key= the key file named by
 * HVCORE_KEY_FILE, if set. */
static hv_status_t create_tcp(struct hv_engine *e, const char *args)
{
    char host[64], addr[160];
    const char *colon, *comma, *key_file = NULL;
    unsigned long port;
    char *end;
    size_t n;
    hv_status_t st;

    if (*args != ':')
        return HV_STATUS_INVALID_PARAMETER;
    args++;
    comma = strchr(args, ',');
    n = comma ? (size_t)(comma - args) : strlen(args);
    if (n >= sizeof(addr))
        return HV_STATUS_INVALID_PARAMETER;
    memcpy(addr, args, n);
    addr[n] = '\0';
    if (comma) {
        if (strncmp(comma + 1, "key=", 4) != 0 || comma[5] == '\0')
            return HV_STATUS_INVALID_PARAMETER;
        key_file = comma + 5;
    } else {
        key_file = getenv("HVCORE_KEY_FILE");
        if (key_file && !*key_file)
            key_file = NULL;
    }
    colon = strrchr(addr, ':');
    if (colon == NULL || (n = (size_t)(colon - addr)) == 0 || n >= sizeof(host))
        return HV_STATUS_INVALID_PARAMETER;
    memcpy(host, addr, n);
    host[n] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno || *end || port == 0 || port > 65535)
        return HV_STATUS_INVALID_PARAMETER;
    memcpy(e->host, host, n + 1);
    e->port = (uint16_t)port;
    if (key_file) {
        st = hv_wire_key_load(key_file, &e->key);
        if (!hv_success(st))
            return st;
        e->has_key = true;
    }
    return hv_wire_connect_auth(&e->conn, host, (uint16_t)port, e->timeout_ms, e->has_key ? &e->key : NULL);
}

/* serial:sim[:cores=N]: the stub on the mock machine (hvcore/testing/dbg_sim.h)
 * in this process; its fake 16550 talks over a socketpair, so the client
 * speaks to it exactly as to a serial port. */
static hv_status_t create_serial_sim(struct hv_engine *e, const char *args, struct hv_dbglink **l)
{
    struct hv_dbglink_opts o = { .max_payload = HV_DBG_MAX_MESSAGE };
    struct hv_mock_dbg_sim_config cfg;
    unsigned long cores = 4;
    hv_status_t st;
    int peer = -1;

    *l = NULL;
    if (*args == ':') {
        char *end;

        if (strncmp(args + 1, "cores=", 6) != 0)
            return HV_STATUS_INVALID_PARAMETER;
        errno = 0;
        cores = strtoul(args + 7, &end, 0);
        if (errno || end == args + 7 || *end != '\0' || cores == 0 || cores > 16)
            return HV_STATUS_INVALID_PARAMETER;
    } else if (*args != '\0') {
        return HV_STATUS_INVALID_PARAMETER;
    }
    if (!sim_claim())
        return HV_STATUS_UNSUPPORTED; /* one simulated machine per process */
    st = hv_dbglink_pair(l, &peer, &o);
    if (!hv_success(st))
        goto no_pair;
    hv_mock_dbg_sim_config_init(&cfg);
    cfg.ncores = (uint32_t)cores;
    cfg.fd = peer;
    st = hv_mock_dbg_sim_start(&cfg, &e->dbg_sim);
    if (!hv_success(st))
        goto no_sim;
    e->dbg_sim_fd = peer;
    return HV_STATUS_SUCCESS;
no_sim:
    hv_dbglink_close(*l);
    *l = NULL;
    hv_dbglink_peer_close(peer);
no_pair:
    sim_release();
    return st;
}

static void serial_sim_stop(struct hv_engine *e)
{
    if (e->dbg_sim == NULL)
        return;
    hv_mock_dbg_sim_stop(e->dbg_sim);
    e->dbg_sim = NULL;
    hv_dbglink_peer_close(e->dbg_sim_fd);
    e->dbg_sim_fd = -1;
    sim_release();
}

/* serial:/dev/ttyS0[,baud=N] | serial:tcp:HOST:PORT | serial:sim:cores=N */
/* ",timeout=MS" anywhere in a serial spec: the per-request timeout, cut
 * out of the spec (the line does not know it). A target behind an emulator
 * answers slowly: a corrupt reply costs it a whole ACK timeout (1 s of the
 * target's time, several seconds of wall time under Bochs) before it sends
 * again, so the default leaves room for that. */
#define SERIAL_DEFAULT_TIMEOUT_MS 10000

static hv_status_t serial_timeout(const char *spec, char *rest, size_t cap, int *timeout_ms)
{
    const char *t = strstr(spec, ",timeout=");
    unsigned long v;
    char *end;

    *timeout_ms = SERIAL_DEFAULT_TIMEOUT_MS;
    if (strlen(spec) >= cap)
        return HV_STATUS_INVALID_PARAMETER;
    if (t == NULL) {
        memcpy(rest, spec, strlen(spec) + 1);
        return HV_STATUS_SUCCESS;
    }
    errno = 0;
    v = strtoul(t + 9, &end, 10);
    if (errno || end == t + 9 || (*end && *end != ',') || v == 0 || v > 3600000)
        return HV_STATUS_INVALID_PARAMETER;
    *timeout_ms = (int)v;
    snprintf(rest, cap, "%.*s%s", (int)(t - spec), spec, end);
    return HV_STATUS_SUCCESS;
}

static hv_status_t create_serial(struct hv_engine *e, const char *spec)
{
    struct hv_dbglink_opts o = { .max_payload = HV_DBG_MAX_MESSAGE };
    struct hv_dbglink *l = NULL;
    char line[sizeof(e->target)];
    hv_status_t st;

    st = serial_timeout(spec, line, sizeof(line), &e->timeout_ms);
    if (!hv_success(st))
        return st;
    if (!strncmp(line, "sim", 3))
        st = create_serial_sim(e, line + 3, &l);
    else
        st = hv_dbglink_open(&l, line, &o);
    if (!hv_success(st))
        return st;
    st = hv_dbgc_open(&e->dbg, l, e->timeout_ms);
    if (hv_success(st))
        e->cpu_count = hv_dbgc_state(e->dbg)->hello.ncores;
    return st;
}

hv_status_t hv_engine_create(struct hv_engine **out, const char *target)
{
    struct hv_engine *e;
    hv_status_t st;

    if (out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    *out = NULL;
    if (target == NULL || strlen(target) >= sizeof(e->target))
        return HV_STATUS_INVALID_PARAMETER;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    snprintf(e->target, sizeof(e->target), "%s", target);
    e->dev = -1;
    e->dbg_sim_fd = -1;
    e->pipe_fd[0] = e->pipe_fd[1] = -1;
    e->timeout_ms = 2000;
    pthread_mutex_init(&e->lock, NULL);

    if (!strcmp(target, "local")) {
        e->kind = T_LOCAL;
        e->dev = hv_sys_dev_open(&st);
    } else if (!strncmp(target, "serial:", 7)) {
        e->kind = T_SERIAL;
        st = create_serial(e, target + 7);
    } else if (!strncmp(target, "sim", 3)) {
        e->kind = T_SIM;
        st = create_sim(e, target + 3);
    } else if (!strncmp(target, "tcp", 3)) {
        e->kind = T_TCP;
        st = create_tcp(e, target + 3);
    } else {
        st = HV_STATUS_INVALID_PARAMETER;
    }
    if (hv_success(st) && e->kind != T_SIM && e->kind != T_SERIAL)
        st = query_cpu_count(e);
    if (!hv_success(st)) {
        hv_engine_destroy(e);
        return st;
    }
    *out = e;
    return HV_STATUS_SUCCESS;
}

static void poller_stop(struct hv_engine *e)
{
    if (!e->poller_running)
        return;
    pthread_mutex_lock(&e->lock);
    e->poller_stop = true;
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->poller, NULL);
    e->poller_running = false;
    hv_wire_close(e->poll_conn);
    e->poll_conn = NULL;
}

void hv_engine_destroy(struct hv_engine *e)
{
    if (e == NULL)
        return;
    poller_stop(e);
    free(e->queue);
    hv_sys_dev_close(e->dev);
    if (e->conn)
        hv_wire_close(e->conn);
    /* The sim first: it may still answer on the line while it stops. */
    serial_sim_stop(e);
    hv_dbgc_close(e->dbg);
    hv_wire_key_wipe(&e->key);
    if (e->kind == T_SIM && e->hv != NULL) {
        (void)hv_stop(e->hv);
        hv_destroy(e->hv);
        hv_mock_fini();
        sim_release();
    }
    hv_sys_wake_close(e->pipe_fd[0]);
    hv_sys_wake_close(e->pipe_fd[1]);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

const char *hv_engine_target(const struct hv_engine *e)
{
    return e ? e->target : "";
}

uint32_t hv_engine_cpu_count(const struct hv_engine *e)
{
    return e ? e->cpu_count : 0;
}

void hv_engine_set_timeout(struct hv_engine *e, int timeout_ms)
{
    if (e && timeout_ms > 0)
        e->timeout_ms = timeout_ms;
    if (e && e->dbg)
        hv_dbgc_set_timeout(e->dbg, timeout_ms);
}

struct hv_dbgc *hv_engine_debugger(struct hv_engine *e)
{
    return e ? e->dbg : NULL;
}

/* ---- MSRs ------------------------------------------------------------------- */

static hv_status_t msr_op(struct hv_engine *e, uint32_t core, uint32_t action, uint32_t msr, uint64_t value,
                          struct hv_abi_msr_result *results, uint32_t cap, uint32_t *count)
{
    uint32_t n = core == HV_ABI_ALL_CORES ? (e ? e->cpu_count : 0) : 1, i;
    size_t size, len;
    struct hv_abi_msr *m;
    hv_status_t st;

    if (count)
        *count = 0;
    if (e == NULL || results == NULL || count == NULL || n == 0 || cap < n)
        return HV_STATUS_INVALID_PARAMETER;
    if (e->kind == T_SERIAL) {
        /* Run in VMX root on the halted cores, without resuming them. */
        struct hv_abi_msr_op op = { .msr = msr, .core_number = core, .action = action, .value = value };

        pthread_mutex_lock(&e->lock);
        st = hv_dbgc_msr(e->dbg, &op, results, cap, count);
        pthread_mutex_unlock(&e->lock);
        return st;
    }
    size = sizeof(*m) + (size_t)n * sizeof(m->results[0]);
    m = calloc(1, size);
    if (m == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    init_header(&m->hdr, size);
    m->op.msr = msr;
    m->op.core_number = core;
    m->op.action = action;
    m->op.value = value;
    m->result_capacity = n;
    st = hv_engine_request(e, HV_ABI_REQ_MSR, m, size, &len);
    if (m->results_written <= n && m->results_written <= cap) {
        for (i = 0; i < m->results_written; i++)
            results[i] = m->results[i];
        *count = m->results_written;
    } else if (hv_success(st)) {
        st = HV_STATUS_INVALID_PACKET;
    }
    free(m);
    return st;
}

hv_status_t hv_engine_msr_read(struct hv_engine *e, uint32_t core, uint32_t msr,
                               struct hv_abi_msr_result *results, uint32_t cap, uint32_t *count)
{
    return msr_op(e, core, HV_ABI_MSR_READ, msr, 0, results, cap, count);
}

hv_status_t hv_engine_msr_write(struct hv_engine *e, uint32_t core, uint32_t msr, uint64_t value,
                                struct hv_abi_msr_result *results, uint32_t cap, uint32_t *count)
{
    return msr_op(e, core, HV_ABI_MSR_WRITE, msr, value, results, cap, count);
}

/* ---- events ------------------------------------------------------------------- */

static hv_status_t add_action(struct hv_engine *e, uint32_t id, uint32_t kind, const void *data, uint32_t len)
{
    size_t size = sizeof(struct hv_abi_event_action) + len, rlen;
    struct hv_abi_event_action *a = calloc(1, size);
    hv_status_t st;

    if (a == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    init_header(&a->hdr, size);
    a->id = id;
    a->kind = kind;
    a->data_len = len;
    if (len)
        memcpy(a->data, data, len);
    st = hv_engine_request(e, HV_ABI_REQ_EVENT_ACTION, a, size, &rlen);
    free(a);
    return st;
}

hv_status_t hv_engine_event_add(struct hv_engine *e, const struct hv_engine_event *ev, uint32_t *id)
{
    size_t size, rlen;
    struct hv_abi_event_add *a;
    hv_status_t st;

    if (e == NULL || ev == NULL || id == NULL || (ev->condition_len && ev->condition == NULL) ||
        ev->condition_len > HV_EVENT_MAX_CODE || (ev->code && (ev->code_len == 0 || ev->code_len > HV_EVENT_MAX_CODE)) ||
        (ev->script && strlen(ev->script) >= HV_CMD_MAX_SCRIPT))
        return HV_STATUS_INVALID_PARAMETER;
    size = sizeof(*a) + ev->condition_len;
    a = calloc(1, size);
    if (a == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    init_header(&a->hdr, size);
    a->type = HV_EVENT_DR_ACCESS;
    a->core = ev->core;
    a->pid = ev->pid;
    a->imm = ev->imm ? 1 : 0;
    a->buffer_size = ev->buffer_size;
    a->condition_len = ev->condition_len;
    if (ev->condition_len)
        memcpy(a->data, ev->condition, ev->condition_len);
    st = hv_engine_request(e, HV_ABI_REQ_EVENT_ADD, a, size, &rlen);
    *id = a->id;
    free(a);
    /* Actions: a failure removes the half-made event again. */
    if (hv_success(st) && ev->code)
        st = add_action(e, *id, HV_ABI_ACTION_CODE, ev->code, ev->code_len);
    if (hv_success(st) && ev->script) {
        uint8_t *prog = NULL;
        uint32_t plen = 0;

        /* A script is compiled here and runs as bytecode; the format strings
         * of older hvctl versions ("$pid $core") still go as text, which
         * the core renders as before. */
        st = hv_script_compile(ev->script, ev->script_budget, &prog, &plen, NULL);
        if (hv_success(st))
            st = add_action(e, *id, HV_ABI_ACTION_PROGRAM, prog, plen);
        else if (hv_script_is_legacy_format(ev->script) && strlen(ev->script) < HV_EVENT_MAX_SCRIPT)
            st = add_action(e, *id, HV_ABI_ACTION_SCRIPT, ev->script, (uint32_t)strlen(ev->script) + 1);
        free(prog);
    }
    if (hv_success(st) && ev->action_break)
        st = add_action(e, *id, HV_ABI_ACTION_BREAK, NULL, 0);
    if (!hv_success(st) && *id != 0) {
        (void)hv_engine_event_ctl(e, HV_ABI_EVENT_REMOVE, *id);
        *id = 0;
    }
    return st;
}

hv_status_t hv_engine_event_ctl(struct hv_engine *e, uint32_t op, uint32_t id)
{
    struct hv_abi_event_ctl c;
    size_t len;

    if (e == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    init_header(&c.hdr, sizeof(c));
    c.op = op;
    c.id = id;
    return hv_engine_request(e, HV_ABI_REQ_EVENT_CTL, &c, sizeof(c), &len);
}

hv_status_t hv_engine_event_list(struct hv_engine *e, struct hv_abi_event_info *out, uint32_t cap, uint32_t *count)
{
    size_t size, len;
    struct hv_abi_event_list *l;
    hv_status_t st;
    uint32_t i;

    if (e == NULL || count == NULL || (cap && out == NULL) || cap > HV_EVENT_MAX_EVENTS)
        return HV_STATUS_INVALID_PARAMETER;
    size = sizeof(*l) + (size_t)cap * sizeof(l->events[0]);
    l = calloc(1, size);
    if (l == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    init_header(&l->hdr, size);
    l->capacity = cap;
    st = hv_engine_request(e, HV_ABI_REQ_EVENT_LIST, l, size, &len);
    *count = l->count;
    for (i = 0; i < l->count && i < cap; i++)
        out[i] = l->events[i];
    free(l);
    return st;
}

/* ---- messages ------------------------------------------------------------------ */

static uint32_t sim_take(struct hv_engine *e, struct hv_msg_record *out, uint32_t max)
{
    uint32_t n = 0, c;
    char drain[64];

    /* The imm-no timer of a real platform, run by whoever reads. */
    if (now_ms() - e->last_flush_ms >= HV_MSG_FLUSH_MS) {
        (void)hv_event_flush(e->hv);
        e->last_flush_ms = now_ms();
    }
    for (c = 0; c < e->cpu_count && n < max; c++)
        n += hv_msg_get(hv_event_ring(e->hv, c), out + n, max - n);
    while (hv_sys_wake_read(e->pipe_fd[0], drain, sizeof(drain)) > 0)
        ;
    return n;
}

static uint32_t queue_take(struct hv_engine *e, struct hv_msg_record *out, uint32_t max);

hv_status_t hv_engine_read(struct hv_engine *e, struct hv_msg_record *out, uint32_t max, uint32_t *n,
                           int timeout_ms)
{
    uint64_t deadline;

    if (n)
        *n = 0;
    if (e == NULL || out == NULL || n == NULL || max == 0)
        return HV_STATUS_INVALID_PARAMETER;
    /* Debugger Mode has no message stream: the target stops instead. */
    if (e->kind == T_SERIAL)
        return HV_STATUS_UNSUPPORTED;
    deadline = now_ms() + (timeout_ms < 0 ? 0 : (uint64_t)timeout_ms);
    for (;;) {
        int wait;

        switch (e->kind) {
        case T_LOCAL:
            wait = timeout_ms < 0 ? -1 : (int)(deadline > now_ms() ? deadline - now_ms() : 0);
            return hv_sys_dev_read(e->dev, out, sizeof(*out), max, n, wait);
        case T_SIM:
            pthread_mutex_lock(&e->lock);
            *n = sim_take(e, out, max);
            pthread_mutex_unlock(&e->lock);
            if (*n)
                return HV_STATUS_SUCCESS;
            break;
        case T_SERIAL:
            return HV_STATUS_UNSUPPORTED;
        case T_TCP: {
            uint32_t req[2] = { max, 0 }, len = 0;

            if (e->poller_running) {
                /* Records come through the poller's queue. */
                *n = queue_take(e, out, max);
                if (*n)
                    return HV_STATUS_SUCCESS;
                break;
            }
            {
            uint16_t type = 0;
            hv_status_t st;

            pthread_mutex_lock(&e->lock);
            st = hv_wire_call(e->conn, HV_WIRE_MSG_READ, req, sizeof(req), out,
                              max * (uint32_t)sizeof(*out), &len, &type, e->timeout_ms);
            pthread_mutex_unlock(&e->lock);
            if (!hv_success(st))
                return st;
            if (len % sizeof(*out))
                return HV_STATUS_INVALID_PACKET;
            *n = len / (uint32_t)sizeof(*out);
            if (*n)
                return HV_STATUS_SUCCESS;
            }
            break;
        }
        }
        if (timeout_ms >= 0 && now_ms() >= deadline)
            return HV_STATUS_TIMEOUT;
        hv_sys_sleep_ms(10);
    }
}

/* tcp: fetch records on a second connection so that the request
 * connection stays free, queue them, and wake pollers through the pipe. */
static void *poller_main(void *arg)
{
    struct hv_engine *e = arg;
    struct hv_msg_record *batch = calloc(64, sizeof(*batch));

    while (batch != NULL) {
        uint32_t req[2] = { 64, 0 }, len = 0, n, i;
        uint16_t type = 0;
        hv_status_t st;
        bool stop;

        pthread_mutex_lock(&e->lock);
        stop = e->poller_stop;
        pthread_mutex_unlock(&e->lock);
        if (stop)
            break;
        st = hv_wire_call(e->poll_conn, HV_WIRE_MSG_READ, req, sizeof(req), batch, 64 * (uint32_t)sizeof(*batch),
                          &len, &type, e->timeout_ms);
        n = hv_success(st) && len % sizeof(*batch) == 0 ? len / (uint32_t)sizeof(*batch) : 0;
        if (n) {
            pthread_mutex_lock(&e->lock);
            for (i = 0; i < n; i++) {
                if (e->q_count == TCP_QUEUE) {
                    e->q_lost++; /* told to the reader in the next record */
                    continue;
                }
                batch[i].h.lost_before += e->q_lost;
                e->q_lost = 0;
                e->queue[(e->q_head + e->q_count++) % TCP_QUEUE] = batch[i];
            }
            pthread_mutex_unlock(&e->lock);
            if (hv_sys_wake_write(e->pipe_fd[1], "r", 1) < 0) {
                /* full pipe: the reader is already due */
            }
        } else {
            hv_sys_sleep_ms(50);
        }
    }
    free(batch);
    return NULL;
}

static uint32_t queue_take(struct hv_engine *e, struct hv_msg_record *out, uint32_t max)
{
    uint32_t n = 0;
    char drain[64];

    pthread_mutex_lock(&e->lock);
    while (n < max && e->q_count) {
        out[n++] = e->queue[e->q_head];
        e->q_head = (e->q_head + 1) % TCP_QUEUE;
        e->q_count--;
    }
    if (e->q_count == 0)
        while (hv_sys_wake_read(e->pipe_fd[0], drain, sizeof(drain)) > 0)
            ;
    pthread_mutex_unlock(&e->lock);
    return n;
}

int hv_engine_fd(struct hv_engine *e)
{
    if (e == NULL)
        return -1;
    if (e->kind == T_LOCAL)
        return hv_sys_dev_pollfd(e->dev);
    if (e->kind == T_SIM)
        return e->pipe_fd[0];
    if (e->kind == T_SERIAL)
        return -1;
    if (!e->poller_running) {
        if (e->queue == NULL && (e->queue = calloc(TCP_QUEUE, sizeof(*e->queue))) == NULL)
            return -1;
        if (e->pipe_fd[0] < 0 && hv_sys_wake_pair(e->pipe_fd) != 0)
            return -1;
        if (!hv_success(hv_wire_connect_auth(&e->poll_conn, e->host, e->port, e->timeout_ms,
                                             e->has_key ? &e->key : NULL)))
            return -1;
        e->poller_stop = false;
        if (pthread_create(&e->poller, NULL, poller_main, e) != 0) {
            hv_wire_close(e->poll_conn);
            e->poll_conn = NULL;
            return -1;
        }
        e->poller_running = true;
    }
    return e->pipe_fd[0];
}

/* ---- simulation ------------------------------------------------------------------ */

struct simulate_req {
    uint32_t core, reserved;
    uint64_t pid, value;
};

static hv_status_t sim_dr(struct hv_engine *e, uint32_t core, uint64_t pid, uint64_t value, const uint64_t *regs,
                          uint32_t regs_set)
{
    struct hv_mock_exit x = { .reason = HV_EXIT_MOV_DR, .instruction_len = 3,
                              .qualification = HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX) };
    uint32_t prev;
    struct hv_vcpu *v;
    enum hv_exit_action a;

    if (core >= e->cpu_count)
        return HV_STATUS_INVALID_PARAMETER;
    prev = hv_mock_cpu_bind(core);
    hv_mock_cpu_lock(core);
    hv_mock_cpu(core)->pid = pid;
    v = hv_mock_current_vcpu();
    {
        uint32_t i;

        for (i = 0; i < 16; i++) {
            if (!((regs_set >> i) & 1u))
                continue;
            if (i == HV_GPR_RSP)
                hv_mock_vmcs_seed(HV_VMCS_GUEST_RSP, regs[i]);
            else
                v->gprs.r[i] = regs[i];
        }
    }
    v->gprs.r[HV_GPR_RAX] = value;
    hv_mock_cpu_unlock(core);
    a = hv_mock_exit(&x);
    hv_mock_cpu_bind(prev);
    if (a != HV_ACTION_RESUME)
        return HV_STATUS_INTERNAL_ERROR;
    if (hv_sys_wake_write(e->pipe_fd[1], "r", 1) < 0) {
        /* full pipe: the reader is already due */
    }
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_engine_simulate_dr(struct hv_engine *e, uint32_t core, uint64_t pid, uint64_t value)
{
    return hv_engine_simulate_dr_regs(e, core, pid, value, NULL, 0);
}

hv_status_t hv_engine_simulate_dr_regs(struct hv_engine *e, uint32_t core, uint64_t pid, uint64_t value,
                                       const uint64_t *regs, uint32_t regs_set)
{
    hv_status_t st;

    if (e == NULL || (regs_set != 0 && regs == NULL))
        return HV_STATUS_INVALID_PARAMETER;
    /* The wire's simulate request carries no registers. */
    if (regs_set != 0 && e->kind == T_TCP)
        return HV_STATUS_UNSUPPORTED;
    if (e->kind == T_SERIAL) {
        /* serial:sim: the core's guest executes MOV RAX, DR7 (its thread
         * takes the exit; an event with a break action halts the machine). */
        if (e->dbg_sim == NULL || regs_set != 0)
            return HV_STATUS_UNSUPPORTED;
        (void)value;
        return hv_mock_dbg_sim_dr_access(e->dbg_sim, core, pid, 7);
    }
    if (e->kind == T_LOCAL)
        return HV_STATUS_UNSUPPORTED;
    if (e->kind == T_TCP) {
        struct simulate_req r = { core, 0, pid, value };
        struct hv_abi_header h;
        uint32_t len = 0;
        uint16_t type = 0;

        pthread_mutex_lock(&e->lock);
        st = hv_wire_call(e->conn, HV_WIRE_SIMULATE, &r, sizeof(r), &h, sizeof(h), &len, &type, e->timeout_ms);
        pthread_mutex_unlock(&e->lock);
        if (hv_success(st) && len != sizeof(h))
            return HV_STATUS_INVALID_PACKET;
        return hv_success(st) ? h.status : st;
    }
    pthread_mutex_lock(&e->lock);
    st = sim_dr(e, core, pid, value, regs, regs_set);
    pthread_mutex_unlock(&e->lock);
    return st;
}

/* ---- the stub: this engine served over the wire protocol -------------------------- */

/*
 * Who may hold the stub, and for how long. Every accepted connection gets a
 * slot. Until its handshake completes it is PENDING: it must finish within
 * handshake_ms, costs no request buffers, and when max_pending are waiting
 * the oldest is closed to make room (a peer that connects and says nothing
 * cannot keep a newcomer out). A completed handshake makes it a SESSION;
 * when max_sessions exist the one idle longest (not running a request) is
 * closed (its client reconnects by itself on its next call). GONE slots were
 * closed by the accept loop and wait for their thread to finish.
 */
enum slot_state { SLOT_FREE, SLOT_PENDING, SLOT_SESSION, SLOT_GONE };

struct serve_slot {
    enum slot_state state;
    int fd;
    bool busy;           /* a request is running */
    uint64_t since_ms;   /* accepted / last request finished */
    char peer[48];
};

struct serve_ctx {
    struct hv_engine *e;
    struct hv_engine_serve_opts o;
    pthread_mutex_t lock;
    struct serve_slot *slots;
    unsigned nslots;
    unsigned threads;
};

struct stub {
    struct hv_engine *sim;
    struct serve_ctx *srv;
    unsigned slot;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void serve_log(struct serve_ctx *s, const char *fmt, ...)
{
    char line[320];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (s->o.log)
        s->o.log(s->o.log_ctx, line);
    else
        fprintf(stderr, "hv_engine_serve: %s\n", line);
}

static void stub_mark(struct stub *s, bool busy)
{
    if (s->srv == NULL)
        return;
    pthread_mutex_lock(&s->srv->lock);
    s->srv->slots[s->slot].busy = busy;
    s->srv->slots[s->slot].since_ms = now_ms();
    pthread_mutex_unlock(&s->srv->lock);
}

static hv_status_t stub_answer(struct stub *s, uint16_t type, const void *payload, uint32_t len, void *resp,
                               uint32_t resp_cap, uint32_t *resp_len)
{
    size_t n = 0;
    hv_status_t st;

    *resp_len = 0;
    switch (type) {
    case HV_WIRE_HELLO: {
        uint32_t out[2] = { 1, hv_engine_cpu_count(s->sim) };
        char sig[16] = "libhvcore";

        if (resp_cap < sizeof(out) + sizeof(sig))
            return HV_STATUS_INSUFFICIENT_RESOURCES;
        memcpy(resp, out, sizeof(out));
        memcpy((char *)resp + sizeof(out), sig, sizeof(sig));
        *resp_len = sizeof(out) + sizeof(sig);
        return HV_STATUS_SUCCESS;
    }
    case HV_WIRE_MSG_READ: {
        uint32_t req[2], got = 0, max;

        if (len != sizeof(req))
            return HV_STATUS_INVALID_PACKET;
        memcpy(req, payload, sizeof(req));
        max = req[0];
        if (max > resp_cap / sizeof(struct hv_msg_record))
            max = resp_cap / (uint32_t)sizeof(struct hv_msg_record);
        if (max == 0)
            return HV_STATUS_INVALID_PARAMETER;
        st = hv_engine_read(s->sim, resp, max, &got, 0);
        if (!hv_success(st) && st != HV_STATUS_TIMEOUT)
            return st;
        *resp_len = got * (uint32_t)sizeof(struct hv_msg_record);
        return HV_STATUS_SUCCESS;
    }
    case HV_WIRE_SIMULATE: {
        struct { uint32_t core, reserved; uint64_t pid, value; } r;
        struct hv_abi_header h = { .size = sizeof(h), .version = HV_ABI_VERSION };

        if (len != sizeof(r) || resp_cap < sizeof(h))
            return HV_STATUS_INVALID_PACKET;
        memcpy(&r, payload, sizeof(r));
        h.status = hv_engine_simulate_dr(s->sim, r.core, r.pid, r.value);
        memcpy(resp, &h, sizeof(h));
        *resp_len = sizeof(h);
        return HV_STATUS_SUCCESS;
    }
    default:
        /* abi.h requests: validated and executed by the core (hv_abi_execute). */
        if (len < sizeof(struct hv_abi_header) || len > resp_cap)
            return HV_STATUS_INVALID_PACKET;
        memcpy(resp, payload, len);
        if (((struct hv_abi_header *)resp)->size != len)
            return HV_STATUS_INVALID_PACKET;
        st = hv_engine_request(s->sim, type, resp, len, &n);
        if (n == 0)
            return st; /* malformed: an error frame */
        *resp_len = (uint32_t)n;
        return HV_STATUS_SUCCESS;
    }
}

static hv_status_t stub_handle(void *ctx, uint16_t type, const void *payload, uint32_t len, void *resp,
                               uint32_t resp_cap, uint32_t *resp_len)
{
    struct stub *s = ctx;
    hv_status_t st;

    stub_mark(s, true);
    st = stub_answer(s, type, payload, len, resp, resp_cap, resp_len);
    stub_mark(s, false);
    return st;
}

struct stub_conn {
    struct stub stub;
    int fd;
};

static unsigned count_state(const struct serve_ctx *s, enum slot_state state)
{
    unsigned i, n = 0;

    for (i = 0; i < s->nslots; i++)
        n += s->slots[i].state == state;
    return n;
}

/* Close a slot's connection from outside its thread (lock held): the
 * thread's next poll/recv/send fails and it frees the slot. */
static void slot_evict(struct serve_ctx *s, unsigned i)
{
    s->slots[i].state = SLOT_GONE;
    hv_sys_sock_shutdown(s->slots[i].fd);
}

/* A handshake completed: make room for the session (lock held). */
static bool admit_session(struct serve_ctx *s, unsigned self)
{
    unsigned i, victim = s->nslots;

    if (s->slots[self].state != SLOT_PENDING)
        return false; /* evicted while it finished */
    if (count_state(s, SLOT_SESSION) >= s->o.max_sessions) {
        for (i = 0; i < s->nslots; i++)
            if (s->slots[i].state == SLOT_SESSION && !s->slots[i].busy &&
                (victim == s->nslots || s->slots[i].since_ms < s->slots[victim].since_ms))
                victim = i;
        if (victim == s->nslots) {
            serve_log(s, "%s: all %u sessions are running requests; closed", s->slots[self].peer,
                      s->o.max_sessions);
            return false;
        }
        serve_log(s, "%s: session limit (%u) reached; closing the session idle longest (%s)", s->slots[self].peer,
                  s->o.max_sessions, s->slots[victim].peer);
        slot_evict(s, victim);
    }
    s->slots[self].state = SLOT_SESSION;
    s->slots[self].busy = false;
    s->slots[self].since_ms = now_ms();
    return true;
}

static void *stub_thread(void *arg)
{
    struct stub_conn *c = arg;
    struct serve_ctx *s = c->stub.srv;
    unsigned i = c->stub.slot;
    struct serve_slot *slot = &s->slots[i];
    hv_status_t st;
    bool admitted = false;
    char peer[sizeof(slot->peer)];
    int dup_fd;

    memcpy(peer, slot->peer, sizeof(peer));
    st = hv_wire_server_handshake(c->fd, s->o.key, s->o.handshake_ms);
    pthread_mutex_lock(&s->lock);
    if (hv_success(st))
        admitted = admit_session(s, i);
    else if (slot->state == SLOT_PENDING) {
        enum hv_wire_reason why = hv_wire_last_reason();

        /* A peer that connects and leaves without a word is not news. */
        if (st == HV_STATUS_TIMEOUT)
            serve_log(s, "%s: no handshake within %d ms; closed", peer, s->o.handshake_ms);
        else if (!(st == HV_STATUS_DEVICE_CONNECTION_LOST && why == HV_WIRE_REASON_PEER_CLOSED))
            serve_log(s, "%s: handshake failed: %s (%s): %s; closed", peer, hv_status_name(st),
                      hv_wire_reason_name(why), hv_wire_last_error());
    }
    pthread_mutex_unlock(&s->lock);
    if (admitted) {
        /* The session loop closes the descriptor it gets; the slot keeps
         * the original so the accept loop can shut the socket down. */
        dup_fd = hv_sys_sock_dup(c->fd);
        if (dup_fd >= 0) {
            st = hv_wire_serve_session(dup_fd, stub_handle, &c->stub, s->o.idle_ms, s->o.request_ms);
            if (st == HV_STATUS_TIMEOUT && hv_wire_last_reason() == HV_WIRE_REASON_TIMEOUT_MID_FRAME)
                serve_log(s, "%s: a request did not arrive or its answer was not taken within %d ms; closed", peer,
                          s->o.request_ms);
            else if (st == HV_STATUS_INVALID_PACKET)
                serve_log(s, "%s: malformed frame (%s); closed", peer, hv_wire_last_error());
        }
    }
    pthread_mutex_lock(&s->lock);
    slot->state = SLOT_FREE;
    slot->fd = -1;
    s->threads--;
    pthread_mutex_unlock(&s->lock);
    hv_sys_sock_close(c->fd);
    free(c);
    return NULL;
}

static bool is_loopback_listener(int fd, char *where, size_t cap)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    char ip[INET_ADDRSTRLEN] = "?";

    snprintf(where, cap, "?");
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0 || a.sin_family != AF_INET)
        return false;
    inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
    snprintf(where, cap, "%s:%u", ip, (unsigned)ntohs(a.sin_port));
    return (ntohl(a.sin_addr.s_addr) >> 24) == 127;
}

hv_status_t hv_engine_serve_with(struct hv_engine *e, int listen_fd, const volatile sig_atomic_t *stop,
                                 const struct hv_engine_serve_opts *opts)
{
    struct serve_ctx s;
    char where[64];
    unsigned i;

    if (e == NULL || listen_fd < 0 || stop == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    memset(&s, 0, sizeof(s));
    if (opts)
        s.o = *opts;
    s.e = e;
    if (s.o.handshake_ms <= 0)
        s.o.handshake_ms = 3000;
    if (s.o.idle_ms == 0)
        s.o.idle_ms = 60000;
    if (s.o.request_ms <= 0)
        s.o.request_ms = 10000;
    if (s.o.max_sessions == 0)
        s.o.max_sessions = 8;
    if (s.o.max_pending == 0)
        s.o.max_pending = 16;
    if (s.o.max_sessions > 256 || s.o.max_pending > 256 ||
        (s.o.key && (s.o.key->len < HV_WIRE_KEY_MIN || s.o.key->len > HV_WIRE_KEY_MAX)))
        return HV_STATUS_INVALID_PARAMETER;
    /* Anyone who can reach a non-loopback address could drive the target. */
    if (!is_loopback_listener(listen_fd, where, sizeof(where)) && s.o.key == NULL) {
        serve_log(&s, "refusing to serve on %s without a key: only loopback (127.0.0.0/8) may go without one",
                  where);
        return HV_STATUS_ACCESS_DENIED;
    }
    /* Evicted slots linger until their thread notices: room for as many. */
    s.nslots = s.o.max_sessions + 2 * s.o.max_pending;
    s.slots = calloc(s.nslots, sizeof(*s.slots));
    if (s.slots == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    for (i = 0; i < s.nslots; i++)
        s.slots[i].fd = -1;
    pthread_mutex_init(&s.lock, NULL);

    /* Atomic: set by a signal handler (hvctl) or by another thread. */
    while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
        struct pollfd p = { .fd = listen_fd, .events = POLLIN };
        struct sockaddr_in peer;
        struct stub_conn *c;
        unsigned slot = 0, oldest;
        char ip[INET_ADDRSTRLEN] = "?";
        pthread_t t;
        int fd;

        if (hv_sys_poll(&p, 1, 200) <= 0)
            continue;
        memset(&peer, 0, sizeof(peer));
        fd = hv_sys_sock_accept(listen_fd, &peer);
        if (fd < 0)
            continue;
        hv_sys_sock_nodelay(fd);
        if (peer.sin_family == AF_INET)
            inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
        pthread_mutex_lock(&s.lock);
        if (count_state(&s, SLOT_PENDING) >= s.o.max_pending) {
            oldest = s.nslots;
            for (i = 0; i < s.nslots; i++)
                if (s.slots[i].state == SLOT_PENDING &&
                    (oldest == s.nslots || s.slots[i].since_ms < s.slots[oldest].since_ms))
                    oldest = i;
            if (oldest < s.nslots) {
                serve_log(&s, "%u connections without a handshake; closing the oldest (%s)", s.o.max_pending,
                          s.slots[oldest].peer);
                slot_evict(&s, oldest);
            }
        }
        while (slot < s.nslots && s.slots[slot].state != SLOT_FREE)
            slot++;
        if (slot == s.nslots || (c = calloc(1, sizeof(*c))) == NULL) {
            pthread_mutex_unlock(&s.lock);
            hv_sys_sock_close(fd);
            continue;
        }
        s.slots[slot].state = SLOT_PENDING;
        s.slots[slot].fd = fd;
        s.slots[slot].busy = false;
        s.slots[slot].since_ms = now_ms();
        snprintf(s.slots[slot].peer, sizeof(s.slots[slot].peer), "%s:%u", ip, (unsigned)ntohs(peer.sin_port));
        s.threads++;
        c->stub.sim = e;
        c->stub.srv = &s;
        c->stub.slot = slot;
        c->fd = fd;
        if (pthread_create(&t, NULL, stub_thread, c) != 0) {
            s.slots[slot].state = SLOT_FREE;
            s.slots[slot].fd = -1;
            s.threads--;
            pthread_mutex_unlock(&s.lock);
            hv_sys_sock_close(fd);
            free(c);
            continue;
        }
        pthread_detach(t);
        pthread_mutex_unlock(&s.lock);
    }
    /* Close every connection, then wait for their threads. */
    pthread_mutex_lock(&s.lock);
    for (i = 0; i < s.nslots; i++)
        if (s.slots[i].state != SLOT_FREE)
            hv_sys_sock_shutdown(s.slots[i].fd);
    pthread_mutex_unlock(&s.lock);
    for (;;) {
        unsigned n;

        pthread_mutex_lock(&s.lock);
        n = s.threads;
        pthread_mutex_unlock(&s.lock);
        if (n == 0)
            break;
        hv_sys_sleep_ms(10);
    }
    pthread_mutex_destroy(&s.lock);
    free(s.slots);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_engine_serve(struct hv_engine *e, int listen_fd, const volatile sig_atomic_t *stop)
{
    return hv_engine_serve_with(e, listen_fd, stop, NULL);
}

hv_status_t hv_engine_script_eval(struct hv_engine *e, uint32_t core, const uint8_t *prog, uint32_t len,
                                  struct hv_script_eval_result *out)
{
    struct hv_abi_script_eval *r;
    size_t size = sizeof(*r) + len, rlen = 0;
    hv_status_t st;

    if (e == NULL || prog == NULL || out == NULL || len == 0 || len > HV_SCRIPT_MAX_PROGRAM)
        return HV_STATUS_INVALID_PARAMETER;
    r = calloc(1, size);
    if (r == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    init_header(&r->hdr, size);
    r->core = core;
    r->data_len = len;
    memcpy(r->data, prog, len);
    st = hv_engine_request(e, HV_ABI_REQ_SCRIPT_EVAL, r, size, &rlen);
    if (hv_success(st)) {
        *out = r->result;
        out->text[HV_SCRIPT_EVAL_TEXT - 1] = '\0';
        if (out->text_len >= HV_SCRIPT_EVAL_TEXT)
            out->text_len = HV_SCRIPT_EVAL_TEXT - 1;
    }
    free(r);
    return st;
}

hv_status_t hv_engine_trace(struct hv_engine *e, uint32_t op, uint64_t max_exits, const uint32_t reasons[3],
                            struct hv_abi_trace *out)
{
    struct hv_abi_trace r;
    size_t rlen = 0;
    hv_status_t st;

    if (e == NULL || out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    memset(&r, 0, sizeof(r));
    init_header(&r.hdr, sizeof(r));
    r.op = op;
    r.max_exits = max_exits;
    if (reasons != NULL)
        memcpy(r.reasons, reasons, sizeof(r.reasons));
    st = hv_engine_request(e, HV_ABI_REQ_TRACE, &r, sizeof(r), &rlen);
    *out = r;
    return st;
}
