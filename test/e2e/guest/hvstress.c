/*
 * Guest side of the lifecycle and stress end-to-end tests (LIFECYCLE.md),
 * run inside the emulated machine with hvcore.ko loaded.
 *
 *   hvstress query                 one line: CPUs, how many are virtualized,
 *                                  module allocations, MOV-DR exits
 *   hvstress native                every CPU runs without the hypervisor
 *                                  (CPUID.1:ECX[31] clear, no vendor leaf)
 *   hvstress arm                   add a !dr event (any pid, any core, imm yes)
 *   hvstress dr-loop SECONDS [CPU] make the kernel access debug registers
 *                                  (a perf hardware breakpoint opened, hit and
 *                                  closed in a loop) until SECONDS pass
 *   hvstress mark get|set OFF [V]  a byte of CMOS RAM through /dev/nvram
 *                                  (survives a reset: tells boots apart)
 *   hvstress crash CPU             panic the kernel on CPU (sysrq c)
 *   hvstress stress SECONDS        the stress test (below)
 *
 * stress: for SECONDS of guest time, 4 churners add, change and remove
 * events and read and write MSRs on every core through /dev/hvcore, 2
 * generators make debug-register accesses on their cores, and a reader
 * drains /dev/hvcore; the reader is killed (SIGKILL) half way, nothing
 * reads for 2 s, and a new reader takes over. Then every event is removed,
 * the rings are drained and the hypervisor's ring counters
 * (HVCORE_IOCTL_EVENT_RINGS) must close exactly against what the readers
 * counted:
 *   generated = produced + dropped          (hypervisor, per core)
 *   delivered = records the readers counted (per core: seq 1..n, no gap,
 *               no duplicate)               = produced = consumed
 *   dropped   = sum of lost_before over delivered records + unreported
 * The reader's state and its read buffer live in memory shared with the
 * parent, so records a reader had read but not yet counted when it was
 * killed are counted by the next one (read() lands them in that buffer
 * before it returns; SIGKILL cannot stop a copy half way).
 *
 * Prints "E2E PASS|FAIL <name>: ..." lines and one "HV-STRESS: ..." summary;
 * exits with the number of failures. Built static (the guest has busybox).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>

#include "guest_util.h"

#include <hvcore/abi.h>
#include <hvcore/msg.h>
#include <hvcore/status.h>
#include "../../../platform/linux/uapi/hvcore_ioctl.h"

#define MAXCPU 64
#define CHURNERS 4
#define DRGENS 2
#define RBUF 64            /* records per read(): the driver's maximum */
#define OWN_EVENTS 6       /* events each churner keeps at most */
#define ST_NOT_FOUND HV_STATUS_NOT_FOUND
#define ST_GP HV_STATUS_EXCEPTION_GENERAL_PROTECTION

static int failures;

#define CHECK(name, cond, ...)                                              \
    do {                                                                    \
        printf("E2E %s %s: ", (cond) ? "PASS" : "FAIL", name);              \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
        fflush(stdout);                                                     \
        if (!(cond))                                                        \
            failures++;                                                     \
    } while (0)

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static int ncpus(void)
{
    return guest_ncpus(MAXCPU);
}


static void cpuid(uint32_t leaf, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

static void hdr(struct hv_abi_header *h, size_t size)
{
    memset(h, 0, sizeof(*h));
    h->size = (uint32_t)size;
    h->version = HV_ABI_VERSION;
}

static int open_dev(int flags)
{
    int fd = open("/dev/hvcore", O_RDWR | flags);

    if (fd < 0) {
        printf("E2E FAIL open: /dev/hvcore: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

/* ---- requests ------------------------------------------------------------ */

struct query_buf {
    struct hv_abi_query q;
    struct hv_abi_cpu_state cpus[MAXCPU];
};

static int query(int fd, struct query_buf *b)
{
    memset(b, 0, sizeof(*b));
    hdr(&b->q.hdr, sizeof(*b));
    b->q.cpu_capacity = MAXCPU;
    return ioctl(fd, HVCORE_IOCTL_QUERY, b) == 0 && b->q.hdr.status == 0 ? 0 : -1;
}

static uint64_t exits(const struct query_buf *b, uint32_t reason)
{
    uint64_t s = 0;

    for (uint32_t i = 0; i < b->q.cpus_written; i++)
        s += b->q.cpus[i].exit_count[reason];
    return s;
}

struct rings_buf {
    struct hv_abi_event_rings r;
    struct hv_abi_ring_stats s[MAXCPU];
};

static int rings(int fd, struct rings_buf *b)
{
    memset(b, 0, sizeof(*b));
    hdr(&b->r.hdr, sizeof(*b));
    b->r.capacity = MAXCPU;
    return ioctl(fd, HVCORE_IOCTL_EVENT_RINGS, b) == 0 && b->r.hdr.status == 0 ? 0 : -1;
}

/* ioctl + status; returns the status, or 0xFFFFFFFF with errno set when the
 * ioctl itself failed. */
static uint32_t req(int fd, unsigned long code, struct hv_abi_header *h)
{
    if (ioctl(fd, code, h) != 0)
        return 0xFFFFFFFFu;
    return h->status;
}

static uint32_t add_event(int fd, uint64_t pid, uint32_t core, int imm, int disabled, uint32_t buffer_size,
                          const uint8_t *cond, uint32_t cond_len, uint32_t *id)
{
    struct {
        struct hv_abi_event_add a;
        uint8_t data[16];
    } b;

    memset(&b, 0, sizeof(b));
    hdr(&b.a.hdr, sizeof(b.a) + cond_len);
    b.a.type = 1;
    b.a.core = core;
    b.a.pid = pid;
    b.a.imm = (uint32_t)imm;
    b.a.disabled = (uint32_t)disabled;
    b.a.buffer_size = buffer_size;
    b.a.condition_len = cond_len;
    if (cond_len)
        memcpy(b.data, cond, cond_len);
    uint32_t st = req(fd, HVCORE_IOCTL_EVENT_ADD, &b.a.hdr);
    *id = b.a.id;
    return st;
}

static uint32_t add_action(int fd, uint32_t id, uint32_t kind, const void *data, uint32_t len)
{
    struct {
        struct hv_abi_event_action a;
        uint8_t data[64];
    } b;

    memset(&b, 0, sizeof(b));
    hdr(&b.a.hdr, sizeof(b.a) + len);
    b.a.id = id;
    b.a.kind = kind;
    b.a.data_len = len;
    if (len)
        memcpy(b.data, data, len);
    return req(fd, HVCORE_IOCTL_EVENT_ACTION, &b.a.hdr);
}

static uint32_t event_ctl(int fd, uint32_t op, uint32_t id)
{
    struct hv_abi_event_ctl c;

    memset(&c, 0, sizeof(c));
    hdr(&c.hdr, sizeof(c));
    c.op = op;
    c.id = id;
    return req(fd, HVCORE_IOCTL_EVENT_CTL, &c.hdr);
}

struct list_buf {
    struct hv_abi_event_list l;
    struct hv_abi_event_info e[64];
};

static uint32_t event_list(int fd, struct list_buf *b)
{
    memset(b, 0, sizeof(*b));
    hdr(&b->l.hdr, sizeof(*b));
    b->l.capacity = 64;
    return req(fd, HVCORE_IOCTL_EVENT_LIST, &b->l.hdr);
}

struct msr_buf {
    struct hv_abi_msr m;
    struct hv_abi_msr_result r[MAXCPU];
};

static uint32_t msr_op(int fd, uint32_t core, uint32_t action, uint32_t msr, uint64_t value, struct msr_buf *b)
{
    memset(b, 0, sizeof(*b));
    hdr(&b->m.hdr, sizeof(*b));
    b->m.op.msr = msr;
    b->m.op.core_number = core;
    b->m.op.action = action;
    b->m.op.value = value;
    b->m.result_capacity = MAXCPU;
    return req(fd, HVCORE_IOCTL_MSR, &b->m.hdr);
}

struct msr_values_buf {
    struct hv_abi_msr_values m;
    uint64_t v[MAXCPU];
};

static uint32_t msr_values(int fd, uint32_t msr, struct msr_values_buf *b)
{
    memset(b, 0, sizeof(*b));
    hdr(&b->m.hdr, sizeof(*b));
    b->m.op.msr = msr;
    b->m.op.core_number = HV_ABI_ALL_CORES;
    b->m.op.action = HV_ABI_MSR_READ;
    b->m.value_capacity = MAXCPU;
    return req(fd, HVCORE_IOCTL_MSR_VALUES, &b->m.hdr);
}

/* ---- debug-register accesses --------------------------------------------- */

static volatile uint64_t watched;

/* One round: a perf hardware write breakpoint on `watched` (the kernel
 * writes DR0 and DR7 to install it, DR7 again at every switch away and
 * back, reads and writes DR6 and DR7 in its #DB handler at each hit), hit
 * `n` times, closed. Returns the hit count the kernel saw, or -1. */
static long bp_round(int n)
{
    uint64_t count = 0;
    int fd;

    fd = guest_hw_watch_open(&watched, 0);
    if (fd < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        watched = (uint64_t)i;
        if ((i & 7) == 7)
            sched_yield();
    }
    if (read(fd, &count, sizeof(count)) != sizeof(count))
        count = (uint64_t)-1;
    close(fd);
    return (long)count;
}

/* ---- shared state (survives a killed reader) ----------------------------- */

enum churn_op {
    OP_ADD, OP_ACTION, OP_REMOVE, OP_TOGGLE, OP_LIST, OP_FOREIGN, OP_ALL, OP_MSR_READ, OP_MSR_VALUES,
    OP_MSR_WRITE_ALL, OP_MSR_WRITE_CORE, OP_MSR_GP, OP_QUERY, OP_COUNT
};
static const char *const op_names[OP_COUNT] = {
    "add", "action", "remove", "enable/disable", "list", "foreign-id", "all-enable/disable", "rdmsr-all",
    "rdmsr-values", "wrmsr-all", "wrmsr-core", "rdmsr-#GP", "query" };

struct acct {                      /* one core's count, written whole before it is published */
    uint64_t seq;                  /* the last record counted (= records counted: seqs have no gap) */
    uint64_t lost;                 /* sum of lost_before over them */
};

struct shared {
    double deadline;
    volatile int reader_stop;      /* parent: drain what is left, then exit */
    /* reader accounting: per core two slots, `cur` says which one holds */
    struct acct acct[MAXCPU][2];
    volatile uint32_t cur[MAXCPU];
    volatile uint64_t bad;         /* gaps, duplicates, malformed records */
    char bad_what[200];
    /* reader buffer: read() lands here */
    struct hv_msg_record buf[RBUF];
    /* per reader incarnation */
    volatile uint64_t inc_counted[4], inc_reads[4], inc_recovered[4];
    volatile uint64_t kinds[5];
    /* workers */
    struct {
        uint64_t ops[OP_COUNT], expected_fail, unexpected;
        char err[200];
    } churn[CHURNERS];
    struct {
        uint64_t rounds, writes, hits, bad_rounds;
        int pinned;
        char err[200];
    } gen[DRGENS];
};

static struct shared *S;
static int NC;

static void note_bad(const char *fmt, ...)
{
    va_list ap;

    if (S->bad++ == 0) {
        va_start(ap, fmt);
        vsnprintf(S->bad_what, sizeof(S->bad_what), fmt, ap);
        va_end(ap);
    }
}

/* Count one record unless it is counted already. Kill-safe: the new count
 * goes to the slot not in use, then one store switches to it. */
static int account(const struct hv_msg_record *r, int recovering)
{
    uint32_t c = r->h.core, cur, nxt;
    const struct acct *a;

    if (c >= (uint32_t)NC || r->h.kind < HV_MSG_DR_ACCESS || r->h.kind > HV_MSG_CODE ||
        r->h.payload_len > HV_MSG_PAYLOAD_MAX || r->h.event_id == 0) {
        if (!recovering)
            note_bad("malformed record: core %u kind %u len %u event %u seq %llu", c, r->h.kind,
                     r->h.payload_len, r->h.event_id, (unsigned long long)r->h.seq);
        return 0;
    }
    cur = S->cur[c];
    a = &S->acct[c][cur];
    if (r->h.seq <= a->seq) {
        if (!recovering)
            note_bad("core %u: seq %llu after %llu (duplicate or out of order)", c,
                     (unsigned long long)r->h.seq, (unsigned long long)a->seq);
        return 0;
    }
    if (r->h.seq != a->seq + 1)
        note_bad("core %u: seq %llu after %llu: %llu records never reached a reader", c,
                 (unsigned long long)r->h.seq, (unsigned long long)a->seq,
                 (unsigned long long)(r->h.seq - a->seq - 1));
    nxt = cur ^ 1u;
    S->acct[c][nxt].seq = r->h.seq;
    S->acct[c][nxt].lost = a->lost + r->h.lost_before;
    __atomic_store_n(&S->cur[c], nxt, __ATOMIC_RELEASE);
    S->kinds[r->h.kind]++;
    return 1;
}

static uint64_t counted(uint32_t c)
{
    return S->acct[c][S->cur[c]].seq;
}

static uint64_t counted_lost(uint32_t c)
{
    return S->acct[c][S->cur[c]].lost;
}

static void reader_main(int inc)
{
    int fd = open_dev(O_NONBLOCK);
    struct pollfd p = { .fd = fd, .events = POLLIN };

    /* What the last reader read but had not counted yet. */
    for (int i = 0; i < RBUF; i++)
        if (S->buf[i].h.seq != 0)
            S->inc_recovered[inc] += (uint64_t)account(&S->buf[i], 1);
    for (;;) {
        ssize_t n;

        memset(S->buf, 0, sizeof(S->buf));
        n = read(fd, S->buf, sizeof(S->buf));
        if (n < 0 && errno != EAGAIN) {
            note_bad("reader %d: read: %s", inc, strerror(errno));
            _exit(1);
        }
        if (n > 0) {
            S->inc_reads[inc]++;
            if (n % (ssize_t)sizeof(struct hv_msg_record))
                note_bad("reader %d: read returned %zd bytes, not whole records", inc, n);
            for (ssize_t i = 0; i < n / (ssize_t)sizeof(struct hv_msg_record); i++)
                S->inc_counted[inc] += (uint64_t)account(&S->buf[i], 0);
            continue;
        }
        if (S->reader_stop) {
            struct rings_buf rb;
            uint64_t left = 0;

            if (rings(fd, &rb) != 0) {
                note_bad("reader %d: EVENT_RINGS failed: %s", inc, strerror(errno));
                _exit(1);
            }
            for (uint32_t c = 0; c < rb.r.count && c < MAXCPU; c++)
                left += rb.s[c].readable + rb.s[c].pending;
            if (left == 0)
                _exit(0);
        }
        poll(&p, 1, 50);
    }
}

/* ---- churners ---------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return n ? (uint32_t)(rng_state % n) : 0;
}

static void churner_main(int k, const pid_t *gen_pids)
{
    static const uint8_t always[] = { 0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3 }; /* mov eax, 1; ret */
    static const uint8_t never[] = { 0x31, 0xC0, 0xC3 };                     /* xor eax, eax; ret */
    static const uint8_t code[] = { 0x90, 0x90, 0xC3 };                      /* nop; nop; ret */
    static const char script[] = "dr $dr value $value pid $pid core $core rip $rip";
    int fd = open_dev(0);
    uint32_t own[OWN_EVENTS], nown = 0, id, st;
    struct msr_buf mb;
    struct msr_values_buf vb;
    struct list_buf lb;
    struct query_buf qb;
    typeof(S->churn[0]) *me = &S->churn[k];

    rng_state = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1) ^ (uint64_t)getpid();
#define BAD(...)                                                            \
    do {                                                                    \
        if (me->unexpected++ == 0)                                          \
            snprintf(me->err, sizeof(me->err), __VA_ARGS__);                \
    } while (0)
    while (now_s() < S->deadline) {
        uint32_t r = rnd(100), op;

        if (r < 18)
            op = OP_ADD;
        else if (r < 26)
            op = OP_ACTION;
        else if (r < 38)
            op = OP_REMOVE;
        else if (r < 48)
            op = OP_TOGGLE;
        else if (r < 52)
            op = OP_LIST;
        else if (r < 54)
            op = OP_FOREIGN;
        else if (r < 55)
            op = OP_ALL;
        else if (r < 68)
            op = OP_MSR_READ;
        else if (r < 76)
            op = OP_MSR_VALUES;
        else if (r < 84)
            op = OP_MSR_WRITE_ALL;
        else if (r < 93)
            op = OP_MSR_WRITE_CORE;
        else if (r < 97)
            op = OP_MSR_GP;
        else
            op = OP_QUERY;
        if ((op == OP_ACTION || op == OP_REMOVE || op == OP_TOGGLE) && nown == 0)
            op = OP_ADD;
        if (op == OP_ADD && nown == OWN_EVENTS)
            op = OP_REMOVE;
        me->ops[op]++;
        switch (op) {
        case OP_ADD: {
            uint32_t w = rnd(10), c = rnd(10);
            uint64_t pid = w < 6 ? UINT64_MAX : w < 9 ? (uint64_t)gen_pids[rnd(DRGENS)] : 999999;
            uint32_t core = c < 6 ? HV_ABI_ALL_CORES : rnd((uint32_t)NC);
            const uint8_t *cond = NULL;
            uint32_t clen = 0, cr = rnd(10);

            if (cr == 0) {
                cond = never;
                clen = sizeof(never);
            } else if (cr < 3) {
                cond = always;
                clen = sizeof(always);
            }
            st = add_event(fd, pid, core, (int)rnd(2), rnd(5) == 0, rnd(3) == 0 ? 256 : 0, cond, clen, &id);
            if (st != 0 || id == 0)
                BAD("add: status 0x%x (%s) id %u", st, strerror(errno), id);
            else
                own[nown++] = id;
            break;
        }
        case OP_ACTION: {
            uint32_t a = rnd(3);

            id = own[rnd(nown)];
            if (a == 0)
                st = add_action(fd, id, HV_ABI_ACTION_BREAK, NULL, 0);
            else if (a == 1)
                st = add_action(fd, id, HV_ABI_ACTION_SCRIPT, script, sizeof(script));
            else
                st = add_action(fd, id, HV_ABI_ACTION_CODE, code, sizeof(code));
            /* an event holds at most HV_EVENT_MAX_ACTIONS (8): then it refuses */
            if (st != 0 && st != HV_STATUS_INSUFFICIENT_RESOURCES)
                BAD("action kind %u on %u: status 0x%x (%s)", a, id, st, strerror(errno));
            else if (st != 0)
                me->expected_fail++;
            break;
        }
        case OP_REMOVE: {
            uint32_t i = rnd(nown);

            st = event_ctl(fd, HV_ABI_EVENT_REMOVE, own[i]);
            if (st != 0)
                BAD("remove %u: status 0x%x (%s)", own[i], st, strerror(errno));
            own[i] = own[--nown];
            break;
        }
        case OP_TOGGLE:
            id = own[rnd(nown)];
            st = event_ctl(fd, rnd(2) ? HV_ABI_EVENT_ENABLE : HV_ABI_EVENT_DISABLE, id);
            if (st != 0)
                BAD("enable/disable %u: status 0x%x (%s)", id, st, strerror(errno));
            break;
        case OP_LIST:
            st = event_list(fd, &lb);
            if (st != 0 || lb.l.count > CHURNERS * OWN_EVENTS)
                BAD("list: status 0x%x (%s), %u events", st, strerror(errno), lb.l.count);
            break;
        case OP_FOREIGN:
            /* Someone else's event: it may be gone by now. */
            st = event_list(fd, &lb);
            if (st != 0) {
                BAD("list: status 0x%x (%s)", st, strerror(errno));
                break;
            }
            if (lb.l.count == 0)
                break;
            id = lb.e[rnd(lb.l.count < 64 ? lb.l.count : 64)].id;
            st = event_ctl(fd, rnd(2) ? HV_ABI_EVENT_ENABLE : HV_ABI_EVENT_DISABLE, id);
            if (st != 0 && st != ST_NOT_FOUND)
                BAD("enable/disable foreign %u: status 0x%x (%s)", id, st, strerror(errno));
            else if (st != 0)
                me->expected_fail++;
            break;
        case OP_ALL:
            st = event_ctl(fd, rnd(3) ? HV_ABI_EVENT_ENABLE : HV_ABI_EVENT_DISABLE, HV_ABI_EVENT_ALL);
            if (st != 0 && st != ST_NOT_FOUND)
                BAD("enable/disable all: status 0x%x (%s)", st, strerror(errno));
            else if (st != 0)
                me->expected_fail++;
            break;
        case OP_MSR_READ: {
            uint32_t msr = 0x174 + rnd(3);

            st = msr_op(fd, HV_ABI_ALL_CORES, HV_ABI_MSR_READ, msr, 0, &mb);
            if (st != 0 || mb.m.results_written != (uint32_t)NC)
                BAD("rdmsr %x all: status 0x%x (%s), %u results", msr, st, strerror(errno),
                    mb.m.results_written);
            break;
        }
        case OP_MSR_VALUES:
            st = msr_values(fd, 0x176, &vb);
            if (st != 0 || vb.m.values_written != (uint32_t)NC)
                BAD("rdmsr values 176: status 0x%x (%s)", st, strerror(errno));
            break;
        case OP_MSR_WRITE_ALL: {
            /* SYSENTER_CS and _EIP are the same on every CPU: write that
             * value to all cores at once (nothing changes for the kernel). */
            uint32_t msr = rnd(2) ? 0x174 : 0x176, i;

            st = msr_op(fd, HV_ABI_ALL_CORES, HV_ABI_MSR_READ, msr, 0, &mb);
            if (st != 0) {
                BAD("rdmsr %x all: status 0x%x (%s)", msr, st, strerror(errno));
                break;
            }
            uint64_t v = mb.r[0].value;
            for (i = 1; i < mb.m.results_written; i++)
                if (mb.r[i].value != v)
                    break;
            if (i != mb.m.results_written) {
                BAD("msr %x differs between cores (%llx, %llx)", msr, (unsigned long long)v,
                    (unsigned long long)mb.r[i].value);
                break;
            }
            st = msr_op(fd, HV_ABI_ALL_CORES, HV_ABI_MSR_WRITE, msr, v, &mb);
            if (st != 0 || mb.m.results_written != (uint32_t)NC)
                BAD("wrmsr %x %llx all: status 0x%x (%s)", msr, (unsigned long long)v, st, strerror(errno));
            break;
        }
        case OP_MSR_WRITE_CORE: {
            /* SYSENTER_ESP is per CPU: write each core's own value back. */
            uint32_t c = rnd((uint32_t)NC);

            st = msr_op(fd, c, HV_ABI_MSR_READ, 0x175, 0, &mb);
            if (st != 0 || mb.m.results_written != 1 || mb.r[0].core != c) {
                BAD("rdmsr 175 core %u: status 0x%x (%s)", c, st, strerror(errno));
                break;
            }
            uint64_t v = mb.r[0].value;
            st = msr_op(fd, c, HV_ABI_MSR_WRITE, 0x175, v, &mb);
            if (st != 0 || mb.r[0].value != v)
                BAD("wrmsr 175 %llx core %u: status 0x%x (%s)", (unsigned long long)v, c, st, strerror(errno));
            break;
        }
        case OP_MSR_GP:
            st = msr_op(fd, HV_ABI_ALL_CORES, HV_ABI_MSR_READ, 0x801, 0, &mb);
            if (st != ST_GP)
                BAD("rdmsr 801: status 0x%x (%s), want #GP", st, strerror(errno));
            break;
        case OP_QUERY:
            if (query(fd, &qb) != 0 || qb.q.cpu_count != (uint32_t)NC)
                BAD("query: %s", strerror(errno));
            for (uint32_t i = 0; i < qb.q.cpus_written; i++)
                if (!qb.q.cpus[i].virtualized)
                    BAD("query: cpu %u not virtualized", i);
            break;
        default:
            break;
        }
    }
#undef BAD
    _exit(0);
}

static void gen_main(int k)
{
    typeof(S->gen[0]) *me = &S->gen[k];
    const int n = 20;

    me->pinned = k % NC;
    if (guest_pin(me->pinned) != 0)
        snprintf(me->err, sizeof(me->err), "cannot pin to cpu %d", me->pinned);
    while (now_s() < S->deadline) {
        long hits = bp_round(n);

        me->rounds++;
        me->writes += (uint64_t)n;
        if (hits < 0) {
            if (me->bad_rounds++ == 0)
                snprintf(me->err, sizeof(me->err), "perf_event_open or read failed: %s", strerror(errno));
        } else {
            me->hits += (uint64_t)hits;
            if (hits != n && me->bad_rounds++ == 0)
                snprintf(me->err, sizeof(me->err), "%ld hits for %d writes", hits, n);
        }
    }
    _exit(0);
}

/* ---- the stress test ------------------------------------------------------ */

static pid_t spawn(void (*fn)(int), int arg)
{
    pid_t p = fork();

    if (p == 0) {
        fn(arg);
        _exit(0);
    }
    return p;
}

static const pid_t *g_gen_pids;
static void churner_entry(int k) { churner_main(k, g_gen_pids); }

/* Wait for `p` until `limit` (monotonic seconds); SIGKILL it then. Returns
 * the wait status, or -1 if it had to be killed. */
static int reap(pid_t p, double limit)
{
    int st;

    for (;;) {
        pid_t r = waitpid(p, &st, WNOHANG);

        if (r == p)
            return st;
        if (r < 0)
            return -1;
        if (now_s() > limit) {
            kill(p, SIGKILL);
            waitpid(p, &st, 0);
            return -1;
        }
        sleep_ms(20);
    }
}

static int stress(int seconds)
{
    pid_t gen[DRGENS], churn[CHURNERS], reader;
    struct query_buf q0, q1;
    struct rings_buf rb;
    int fd = open_dev(0), st, ok;
    double t0, t_kill, t_restart, t_end;

    NC = ncpus();
    S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED) {
        printf("E2E FAIL stress: mmap: %s\n", strerror(errno));
        return 1;
    }
    if (query(fd, &q0) != 0 || q0.q.cpu_count != (uint32_t)NC) {
        printf("E2E FAIL stress: QUERY failed or CPU count differs (%s)\n", strerror(errno));
        return 1;
    }
    if (rings(fd, &rb) != 0) {
        printf("E2E FAIL stress: HVCORE_IOCTL_EVENT_RINGS failed: %s\n", strerror(errno));
        return 1;
    }
    /* The totals count from the rings' creation: start from none, so that
     * what this run generated is all there is. */
    CHECK("stress-fresh-rings", rb.r.count == 0, "%u rings before the first event (module freshly loaded)",
          rb.r.count);
    t0 = now_s();
    S->deadline = t0 + seconds;
    printf("HV-STRESS: %d s, %d CPUs: %d churners, %d debug-register generators, 1 reader (killed at %d s)\n",
           seconds, NC, CHURNERS, DRGENS, seconds / 2);
    fflush(stdout);
    reader = spawn(reader_main, 0);
    for (int k = 0; k < DRGENS; k++)
        gen[k] = spawn(gen_main, k);
    g_gen_pids = gen;
    for (int k = 0; k < CHURNERS; k++)
        churn[k] = spawn(churner_entry, k);

    /* Half way: kill the reader; for 2 s nobody reads (the rings fill and
     * drop); a new reader takes over and first counts what the old one had
     * read but not counted. */
    while (now_s() < t0 + seconds / 2.0)
        sleep_ms(50);
    t_kill = now_s();
    kill(reader, SIGKILL);
    waitpid(reader, &st, 0);
    int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    sleep_ms(2000);
    t_restart = now_s();
    reader = spawn(reader_main, 1);

    /* The workers end at the deadline; 60 s more is plenty for any call. */
    int workers_ok = 1;
    for (int k = 0; k < DRGENS; k++)
        workers_ok &= reap(gen[k], S->deadline + 60) == 0;
    for (int k = 0; k < CHURNERS; k++)
        workers_ok &= reap(churn[k], S->deadline + 60) == 0;
    t_end = now_s();

    /* No event, no record: then the rings can only drain. */
    uint32_t cst = event_ctl(fd, HV_ABI_EVENT_REMOVE, HV_ABI_EVENT_ALL);
    S->reader_stop = 1;
    int reader_clean = reap(reader, now_s() + 60) == 0;
    double t_drained = now_s();
    int qok = query(fd, &q1) == 0, rok = rings(fd, &rb) == 0;

    /* ---- report ---- */
    uint64_t produced = 0, dropped = 0, consumed = 0, left = 0, unreported = 0, delivered = 0, lost = 0;
    int per_core_ok = rok && rb.r.count == (uint32_t)NC;
    char cores[1024];
    int off = 0;

    for (uint32_t c = 0; rok && c < rb.r.count && c < MAXCPU; c++) {
        const struct hv_abi_ring_stats *s = &rb.s[c];

        produced += s->produced;
        dropped += s->dropped;
        consumed += s->consumed;
        left += s->readable + s->pending;
        unreported += s->unreported;
        delivered += counted(c);
        lost += counted_lost(c);
        per_core_ok &= s->consumed == s->produced && counted(c) == s->produced &&
                       counted_lost(c) + s->unreported == s->dropped && s->readable == 0 && s->pending == 0;
        off += snprintf(cores + off, sizeof(cores) - (size_t)off,
                        "%score %u: generated %llu = delivered %llu + dropped %llu (lost_before %llu + unreported %u)",
                        c ? "; " : "", c, (unsigned long long)(s->produced + s->dropped),
                        (unsigned long long)counted(c), (unsigned long long)s->dropped,
                        (unsigned long long)counted_lost(c), s->unreported);
    }
    uint64_t generated = produced + dropped;
    uint64_t dr_exits = qok ? exits(&q1, 29) - exits(&q0, 29) : 0;
    uint64_t ops = 0, unexpected = 0, expected_fail = 0;
    char opline[1024];

    off = 0;
    for (int o = 0; o < OP_COUNT; o++) {
        uint64_t n = 0;

        for (int k = 0; k < CHURNERS; k++)
            n += S->churn[k].ops[o];
        ops += n;
        off += snprintf(opline + off, sizeof(opline) - (size_t)off, "%s%s %llu", o ? ", " : "", op_names[o],
                        (unsigned long long)n);
    }
    for (int k = 0; k < CHURNERS; k++) {
        unexpected += S->churn[k].unexpected;
        expected_fail += S->churn[k].expected_fail;
    }

    printf("HV-STRESS: guest time %.1f s of work (workers ended %.1f s after the start), drained %.1f s later\n",
           S->deadline - t0, t_end - t0, t_drained - t_end);
    printf("HV-STRESS: generated %llu = delivered %llu + dropped %llu (hypervisor: produced %llu, read %llu, "
           "left %llu; readers: counted %llu, lost_before %llu + unreported %llu)\n",
           (unsigned long long)generated, (unsigned long long)delivered, (unsigned long long)dropped,
           (unsigned long long)produced, (unsigned long long)consumed, (unsigned long long)left,
           (unsigned long long)delivered, (unsigned long long)lost, (unsigned long long)unreported);
    printf("HV-STRESS: %s\n", cores);
    printf("HV-STRESS: records by kind: dr %llu, break %llu, script %llu, code %llu; MOV-DR exits %llu\n",
           (unsigned long long)S->kinds[1], (unsigned long long)S->kinds[2], (unsigned long long)S->kinds[3],
           (unsigned long long)S->kinds[4], (unsigned long long)dr_exits);
    printf("HV-STRESS: reader 1: %llu records in %llu reads, killed at %.1f s; nobody read for %.1f s; "
           "reader 2: %llu recovered from reader 1's buffer, then %llu in %llu reads\n",
           (unsigned long long)S->inc_counted[0], (unsigned long long)S->inc_reads[0], t_kill - t0,
           t_restart - t_kill, (unsigned long long)S->inc_recovered[1], (unsigned long long)S->inc_counted[1],
           (unsigned long long)S->inc_reads[1]);
    printf("HV-STRESS: churners: %llu requests (%s); %llu refused as expected, %llu unexpected\n",
           (unsigned long long)ops, opline, (unsigned long long)expected_fail, (unsigned long long)unexpected);
    for (int k = 0; k < DRGENS; k++)
        printf("HV-STRESS: generator %d on cpu %d: %llu breakpoint rounds, %llu writes, %llu hits\n", k,
               S->gen[k].pinned, (unsigned long long)S->gen[k].rounds, (unsigned long long)S->gen[k].writes,
               (unsigned long long)S->gen[k].hits);
    fflush(stdout);

    CHECK("stress-workers", workers_ok && killed && reader_clean,
          "%d churners and %d generators ended on time: %s; reader 1 killed by SIGKILL: %s; reader 2 drained "
          "and exited: %s", CHURNERS, DRGENS, workers_ok ? "yes" : "NO", killed ? "yes" : "NO",
          reader_clean ? "yes" : "NO");
    CHECK("stress-ioctls", unexpected == 0 && ops > 0,
          "%llu requests by %d churners, %llu unexpected results%s%s", (unsigned long long)ops, CHURNERS,
          (unsigned long long)unexpected, unexpected ? ": " : "", unexpected ? S->churn[0].err[0] ? S->churn[0].err :
          S->churn[1].err[0] ? S->churn[1].err : S->churn[2].err[0] ? S->churn[2].err : S->churn[3].err : "");
    ok = 1;
    for (int k = 0; k < DRGENS; k++)
        ok &= S->gen[k].rounds > 0 && S->gen[k].bad_rounds == 0 && S->gen[k].hits == S->gen[k].writes;
    CHECK("stress-breakpoints", ok && dr_exits > 0,
          "the guest's own breakpoints kept working: %llu/%llu and %llu/%llu hits%s%s; %llu MOV-DR exits",
          (unsigned long long)S->gen[0].hits, (unsigned long long)S->gen[0].writes,
          (unsigned long long)S->gen[1].hits, (unsigned long long)S->gen[1].writes,
          S->gen[0].err[0] || S->gen[1].err[0] ? ": " : "", S->gen[0].err[0] ? S->gen[0].err : S->gen[1].err,
          (unsigned long long)dr_exits);
    CHECK("stress-records", S->bad == 0 && delivered > 0 && S->inc_counted[0] > 0 && S->inc_counted[1] > 0,
          "every record well formed, per-core seq 1..n with no gap or duplicate across the reader restart: %s%s; "
          "both readers counted records: %llu, %llu", S->bad ? "NO, first: " : "yes", S->bad ? S->bad_what : "",
          (unsigned long long)S->inc_counted[0], (unsigned long long)S->inc_counted[1]);
    CHECK("stress-exact-totals", cst == 0 && rok && per_core_ok && generated == delivered + dropped &&
          left == 0 && lost + unreported == dropped,
          "generated %llu = delivered %llu + dropped %llu, exactly, on every core (events removed: status 0x%x; "
          "nothing left in the rings: %llu)", (unsigned long long)generated, (unsigned long long)delivered,
          (unsigned long long)dropped, cst, (unsigned long long)left);
    return failures;
}

/* ---- small commands ---------------------------------------------------- */

static int cmd_mark(int argc, char **argv)
{
    /* /dev/nvram offset 0 is CMOS byte 14; the driver takes rtc_lock. */
    int fd = open("/dev/nvram", O_RDWR);
    long off = argc > 3 ? strtol(argv[3], NULL, 0) : -1;
    unsigned char v;

    if (fd < 0 || off < 0 || off > 100) {
        fprintf(stderr, "mark: /dev/nvram: %s (offset %ld)\n", strerror(errno), off);
        return 2;
    }
    if (!strcmp(argv[2], "get")) {
        if (pread(fd, &v, 1, off) != 1) {
            fprintf(stderr, "mark get: %s\n", strerror(errno));
            return 2;
        }
        printf("%u\n", v);
        return 0;
    }
    if (!strcmp(argv[2], "set") && argc > 4) {
        v = (unsigned char)strtoul(argv[4], NULL, 0);
        if (pwrite(fd, &v, 1, off) != 1) {
            fprintf(stderr, "mark set: %s\n", strerror(errno));
            return 2;
        }
        return 0;
    }
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: hvstress query|native|arm|dr-loop SECONDS [CPU]|mark get|set OFF [V]|crash CPU|stress SECONDS\n");
        return 2;
    }
    NC = ncpus();
    if (!strcmp(argv[1], "query")) {
        struct query_buf q;
        int fd = open_dev(0), v = 0;

        if (query(fd, &q) != 0) {
            printf("query failed: %s\n", strerror(errno));
            return 1;
        }
        for (uint32_t i = 0; i < q.q.cpus_written; i++)
            v += q.q.cpus[i].virtualized == 1;
        printf("%u CPUs, %d virtualized, %llu allocations, %llu MOV-DR exits\n", q.q.cpu_count, v,
               (unsigned long long)q.q.allocations, (unsigned long long)exits(&q, 29));
        return v == NC && q.q.cpu_count == (uint32_t)NC ? 0 : 1;
    }
    if (!strcmp(argv[1], "native")) {
        int ok = 1;

        for (int c = 0; c < NC; c++) {
            uint32_t r1[4], r4[4];

            if (guest_pin(c) != 0)
                return 1;
            cpuid(1, r1);
            cpuid(0x40000000u, r4);
            int present = (r1[2] >> 31) & 1, sig = !memcmp(&r4[1], "libh", 4);
            printf("cpu %d: hypervisor bit %d, libhvcore leaf %s\n", c, present, sig ? "present" : "absent");
            ok &= !present && !sig;
        }
        return ok ? 0 : 1;
    }
    if (!strcmp(argv[1], "arm")) {
        uint32_t id = 0;
        uint32_t st = add_event(open_dev(0), UINT64_MAX, HV_ABI_ALL_CORES, 1, 0, 0, NULL, 0, &id);

        printf("event %u: !dr pid any core any imm yes (status 0x%x)\n", id, st);
        return st == 0 && id ? 0 : 1;
    }
    if (!strcmp(argv[1], "dr-loop") && argc > 2) {
        double end = now_s() + atof(argv[2]);
        unsigned long rounds = 0;

        if (argc > 3)
            guest_pin(atoi(argv[3]));
        while (now_s() < end) {
            bp_round(20);
            rounds++;
        }
        printf("dr-loop: %lu rounds\n", rounds);
        return 0;
    }
    if (!strcmp(argv[1], "crash") && argc > 2) {
        /* Panic the kernel from a chosen CPU (sysrq c). */
        int fd;

        if (guest_pin(atoi(argv[2])) != 0) {
            fprintf(stderr, "crash: cannot pin to cpu %s: %s\n", argv[2], strerror(errno));
            return 2;
        }
        fd = open("/proc/sysrq-trigger", O_WRONLY);
        if (fd < 0 || write(fd, "c", 1) != 1) {
            fprintf(stderr, "crash: /proc/sysrq-trigger: %s\n", strerror(errno));
            return 2;
        }
        return 1; /* not reached */
    }
    if (!strcmp(argv[1], "mark") && argc > 3)
        return cmd_mark(argc, argv);
    if (!strcmp(argv[1], "stress") && argc > 2) {
        int s = atoi(argv[2]);

        return stress(s > 0 ? s : 60);
    }
    fprintf(stderr, "hvstress: unknown command %s\n", argv[1]);
    return 2;
}
