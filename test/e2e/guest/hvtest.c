/*
 * Guest-side end-to-end checks, run inside the emulated machine after
 * `insmod hvcore.ko` (and, with "after-unload", after `rmmod`).
 *
 *   hvtest loaded          the hypervisor is there and the kernel works
 *   hvtest unloaded        nothing of it is left
 *   hvtest allocations     print the module's outstanding allocations
 *   hvtest code-events     add and remove events with condition and code
 *                          buffers (executable memory), for the leak check
 *   hvtest script          !dr pid X script { printf ... dq(ADDR) }: pid, core
 *                          and a value read from the process's memory; an
 *                          endless loop ends in budget records, the process
 *                          finishes its work
 *
 * Every check prints one line "E2E PASS <name>: <detail>" or
 * "E2E FAIL <name>: <detail>"; the exit code is the number of failures.
 * Built static: the guest has only busybox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <sys/syscall.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include "guest_util.h"

#include <hvcore/msg.h>

#include <hvcore/abi.h>
#include <hvcore/client/script.h>
#include "../../../platform/linux/uapi/hvcore_ioctl.h"

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

static void cpuid(uint32_t leaf, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

static int ncpus(void)
{
    return guest_ncpus(4096);
}


static struct hv_abi_query *query(int *err)
{
    size_t size = sizeof(struct hv_abi_query) + 64 * sizeof(struct hv_abi_cpu_state);
    struct hv_abi_query *q = calloc(1, size);
    int fd = open("/dev/hvcore", O_RDWR);

    *err = 0;
    if (fd < 0 || !q) {
        *err = errno;
        free(q);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    q->hdr.size = (uint32_t)size;
    q->hdr.version = HV_ABI_VERSION;
    q->cpu_capacity = 64;
    if (ioctl(fd, HVCORE_IOCTL_QUERY, q) != 0) {
        *err = errno;
        free(q);
        q = NULL;
    }
    close(fd);
    return q;
}

static uint64_t total_exits(const struct hv_abi_query *q, uint32_t reason)
{
    uint64_t s = 0;

    for (uint32_t i = 0; i < q->cpus_written; i++)
        s += q->cpus[i].exit_count[reason];
    return s;
}

/* ---- per-CPU CPUID view -------------------------------------------------- */
static int cpuid_on_every_cpu(int want_hv, char *detail, size_t n)
{
    int ok = 1, off = 0;

    for (int c = 0; c < ncpus(); c++) {
        uint32_t r1[4], r4[4];
        char sig[13] = { 0 };

        if (guest_pin(c) != 0)
            return 0;
        cpuid(1, r1);
        cpuid(0x40000000u, r4);
        memcpy(sig, &r4[1], 4);
        memcpy(sig + 4, &r4[2], 4);
        memcpy(sig + 8, &r4[3], 4);
        int hv_bit = (r1[2] >> 31) & 1;
        int sig_ok = strcmp(sig, "libhvcore") == 0;
        off += snprintf(detail + off, n - (size_t)off, "cpu%d ecx31=%d sig=\"%s\" ", c, hv_bit, sig);
        if (want_hv ? !(hv_bit && sig_ok) : (hv_bit || sig_ok))
            ok = 0;
    }
    guest_pin(0);
    return ok;
}

/* ---- VMCALL from user mode ------------------------------------------------ */
static sigjmp_buf jb;
static volatile int got_sigill;
static void on_sigill(int sig)
{
    (void)sig;
    got_sigill = 1;
    siglongjmp(jb, 1);
}

static int user_vmcall_gets_sigill(void)
{
    struct sigaction sa = { 0 }, old;

    sa.sa_handler = on_sigill;
    sigaction(SIGILL, &sa, &old);
    got_sigill = 0;
    if (sigsetjmp(jb, 1) == 0) {
        /* Devirtualize request with the key: must not run from ring 3. */
        __asm__ volatile("vmcall" : : "a"(2ull), "c"(0x68766F7265564D43ull) : "memory");
    }
    sigaction(SIGILL, &old, NULL);
    return got_sigill;
}

/* ---- the kernel keeps working ---------------------------------------------- */
static void *spin_on(void *arg)
{
    int cpu = (int)(intptr_t)arg;
    volatile uint64_t x = 0;
    uint32_t r[4];

    if (guest_pin(cpu) != 0)
        return (void *)1;
    for (int i = 0; i < 20000; i++) {
        x += (uint64_t)i;
        if ((i & 1023) == 0)
            cpuid(0, r);
    }
    return sched_getcpu() == cpu ? NULL : (void *)1;
}

static int kernel_works(char *detail, size_t n)
{
    int children_ok = 0, threads_ok = 0, file_ok = 0;
    struct timespec t0, t1, d = { 0, 50 * 1000 * 1000 };

    for (int i = 0; i < 20; i++) {
        pid_t p = fork();
        if (p == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int st;
        if (p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            children_ok++;
    }
    pthread_t th[64];
    int nt = ncpus() < 64 ? ncpus() : 64;
    for (int c = 0; c < nt; c++)
        pthread_create(&th[c], NULL, spin_on, (void *)(intptr_t)c);
    for (int c = 0; c < nt; c++) {
        void *ret;
        pthread_join(th[c], &ret);
        if (ret == NULL)
            threads_ok++;
    }
    FILE *f = fopen("/proc/self/status", "r");
    char buf[256];
    if (f) {
        while (fgets(buf, sizeof(buf), f))
            if (!strncmp(buf, "Name:", 5))
                file_ok = 1;
        fclose(f);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nanosleep(&d, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    snprintf(detail, n, "%d/20 processes ran, %d/%d pinned threads ran on their CPU, /proc read %s, slept %ld ms for 50",
             children_ok, threads_ok, nt, file_ok ? "ok" : "FAILED", ms);
    return children_ok == 20 && threads_ok == nt && file_ok && ms >= 50 && ms < 5000;
}

/* ---- MSR broadcast through /dev/hvcore ------------------------------------- */
static int msr_ioctl(uint32_t core, uint32_t action, uint64_t msr, uint64_t value,
                     struct hv_abi_msr **out, int *err)
{
    size_t size = sizeof(struct hv_abi_msr) + 64 * sizeof(struct hv_abi_msr_result);
    struct hv_abi_msr *m = calloc(1, size);
    int fd = open("/dev/hvcore", O_RDWR), r;

    m->hdr.size = (uint32_t)size;
    m->hdr.version = HV_ABI_VERSION;
    m->op.msr = msr;
    m->op.core_number = core;
    m->op.action = action;
    m->op.value = value;
    m->result_capacity = 64;
    r = ioctl(fd, HVCORE_IOCTL_MSR, m);
    *err = r ? errno : 0;
    close(fd);
    *out = m;
    return r;
}

/* The guest's own view, independent of the hypervisor: the kernel's msr
 * driver executes RDMSR on that CPU in VMX non-root. */
static int guest_rdmsr(int cpu, uint32_t msr, uint64_t *v)
{
    char path[64];
    int fd, ok;

    snprintf(path, sizeof(path), "/dev/cpu/%d/msr", cpu);
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ok = pread(fd, v, 8, msr) == 8;
    close(fd);
    return ok ? 0 : -1;
}

static int msr_checks(void)
{
    const uint32_t ESP = 0x175;
    int n = ncpus(), err;
    uint64_t orig[64], g;
    struct hv_abi_msr *m;
    char detail[1024];
    int off, ok;

    /* originals, through the hypervisor */
    msr_ioctl(HV_ABI_ALL_CORES, HV_ABI_MSR_READ, ESP, 0, &m, &err);
    CHECK("msr-read-all", err == 0 && m->hdr.status == 0 && (int)m->results_written == n,
          "rdmsr 175 on all %d cores: status 0x%x, %u results, route %u (1 = VMCS field)", n, m->hdr.status,
          m->results_written, m->results[0].route);
    for (int c = 0; c < n && c < 64; c++)
        orig[c] = m->results[c].value;
    free(m);

    /* core 1 only */
    const uint64_t v1 = 0xfffffe0000abc000ull;
    msr_ioctl(1, HV_ABI_MSR_WRITE, ESP, v1, &m, &err);
    ok = err == 0 && m->hdr.status == 0 && m->results_written == 1 && m->results[0].core == 1;
    free(m);
    msr_ioctl(HV_ABI_ALL_CORES, HV_ABI_MSR_READ, ESP, 0, &m, &err);
    off = 0;
    for (int c = 0; c < n; c++) {
        off += snprintf(detail + off, sizeof(detail) - (size_t)off, "cpu%d=%llx ", c,
                        (unsigned long long)m->results[c].value);
        ok &= m->results[c].value == (c == 1 ? v1 : orig[c]);
    }
    ok &= guest_rdmsr(1, ESP, &g) == 0 && g == v1;
    off += snprintf(detail + off, sizeof(detail) - (size_t)off, "; guest RDMSR on cpu1 = %llx", (unsigned long long)g);
    if (n > 1 && guest_rdmsr(0, ESP, &g) == 0) {
        ok &= g == orig[0];
        snprintf(detail + off, sizeof(detail) - (size_t)off, ", on cpu0 = %llx", (unsigned long long)g);
    }
    free(m);
    CHECK("msr-write-core1-only", ok, "wrmsr 175 %llx core 1 -> %s", (unsigned long long)v1, detail);

    /* all cores */
    const uint64_t v2 = 0xfffffe0000def000ull;
    msr_ioctl(HV_ABI_ALL_CORES, HV_ABI_MSR_WRITE, ESP, v2, &m, &err);
    ok = err == 0 && m->hdr.status == 0;
    free(m);
    struct hv_abi_msr_values *mv;
    size_t vsize = sizeof(*mv) + 64 * 8;
    mv = calloc(1, vsize);
    mv->hdr.size = (uint32_t)vsize;
    mv->hdr.version = HV_ABI_VERSION;
    mv->op.msr = ESP;
    mv->op.core_number = HV_ABI_ALL_CORES;
    mv->op.action = HV_ABI_MSR_READ;
    mv->value_capacity = 64;
    int fd = open("/dev/hvcore", O_RDWR);
    ok &= ioctl(fd, HVCORE_IOCTL_MSR_VALUES, mv) == 0 && (int)mv->values_written == n;
    off = 0;
    for (int c = 0; c < n; c++) {
        ok &= mv->values[c] == v2 && guest_rdmsr(c, ESP, &g) == 0 && g == v2;
        off += snprintf(detail + off, sizeof(detail) - (size_t)off, "cpu%d=%llx(guest %llx) ", c,
                        (unsigned long long)mv->values[c], (unsigned long long)g);
    }
    CHECK("msr-sysenter-esp-all-cores", ok, "wrmsr 175 %llx on all, read back (values ioctl): %s",
          (unsigned long long)v2, detail);

    /* restore */
    for (int c = 0; c < n; c++) {
        msr_ioctl((uint32_t)c, HV_ABI_MSR_WRITE, ESP, orig[c], &m, &err);
        free(m);
    }

    /* An MSR that does not exist: #GP status per core, nobody crashes.
     * 0x801 is reserved in the x2APIC range and faults in every APIC mode;
     * Bochs answers other unknown indices with 0 (ignore_bad_msrs, which
     * Linux's early boot needs), so a made-up index would not fault here. */
    msr_ioctl(HV_ABI_ALL_CORES, HV_ABI_MSR_READ, 0x801u, 0, &m, &err);
    ok = err == 0 && m->hdr.status == 0xC001000Du && (int)m->results_written == n;
    for (int c = 0; c < n; c++)
        ok &= m->results[c].status == 0xC001000Du;
    free(m);
    struct hv_abi_query *q = query(&err);
    int still = q != NULL;
    for (uint32_t i = 0; q && i < q->cpus_written; i++)
        still &= q->cpus[i].virtualized == 1;
    free(q);
    CHECK("msr-gp-status", ok && still, "rdmsr 801 on all cores -> status 0xC001000D on each: %s; guest alive and still virtualized: %s",
          ok ? "yes" : "no", still ? "yes" : "no");

    /* bad requests: core that does not exist, output buffer too small, bad action */
    msr_ioctl(99, HV_ABI_MSR_READ, ESP, 0, &m, &err);
    int e1 = err;
    free(m);
    mv->hdr.size = (uint32_t)(sizeof(*mv) + 8);
    mv->value_capacity = 1;
    int r2 = ioctl(fd, HVCORE_IOCTL_MSR_VALUES, mv), e2 = errno;
    msr_ioctl(0, 7, ESP, 0, &m, &err);
    int e3 = err;
    free(m);
    close(fd);
    free(mv);
    CHECK("msr-bad-requests", e1 == EINVAL && (n == 1 || (r2 == -1 && e2 == EINVAL)) && e3 == EINVAL,
          "core 99 -> %s; 1 value slot for %d cores -> %s; action 7 -> %s", strerror(e1), n,
          n == 1 ? "n/a" : strerror(e2), strerror(e3));
    return 0;
}

/* ---- !dr: debug-register access events ----------------------------------- */

static int dev_fd(void)
{
    static int fd = -1;

    if (fd < 0)
        fd = open("/dev/hvcore", O_RDWR);
    return fd;
}

static uint32_t event_add(uint64_t pid, uint32_t core, int imm, int break_action)
{
    struct hv_abi_event_add a = { .hdr = { .size = sizeof(a), .version = HV_ABI_VERSION },
                                  .type = 1, .core = core, .pid = pid, .imm = (uint32_t)imm };

    if (ioctl(dev_fd(), HVCORE_IOCTL_EVENT_ADD, &a) != 0 || a.hdr.status != 0)
        return 0;
    if (break_action) {
        struct hv_abi_event_action act = { .hdr = { .size = sizeof(act), .version = HV_ABI_VERSION },
                                           .id = a.id, .kind = HV_ABI_ACTION_BREAK };
        if (ioctl(dev_fd(), HVCORE_IOCTL_EVENT_ACTION, &act) != 0 || act.hdr.status != 0)
            return 0;
    }
    return a.id;
}

static int events_clear(void)
{
    struct hv_abi_event_ctl c = { .hdr = { .size = sizeof(c), .version = HV_ABI_VERSION },
                                  .op = HV_ABI_EVENT_REMOVE, .id = HV_ABI_EVENT_ALL };

    return ioctl(dev_fd(), HVCORE_IOCTL_EVENT_CTL, &c) == 0 && c.hdr.status == 0;
}

/* A child that sets a hardware write breakpoint on its own variable (the
 * kernel programs DR0 and DR7 for it), pinned to `cpu`, writes it `n`
 * times, and reports the breakpoint's hit count through a pipe. */
static volatile uint64_t watched;
/* What a script action reads with dq(): set by each breakpoint child in its
 * own memory (the parent's copy holds something else). */
#define SCRIPT_VALUE 0x5C41A7E0DD15EA5Eull
static volatile uint64_t script_value;

static pid_t bp_child(int cpu, int n, int *result_fd, int *go_fd)
{
    int res[2], go[2];
    pid_t p;

    if (pipe(res) || pipe(go))
        return -1;
    p = fork();
    if (p == 0) {
        uint64_t count = 0;
        char c;
        int fd;

        close(res[0]);
        close(go[1]);
        script_value = SCRIPT_VALUE;
        guest_pin(cpu);
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        fd = guest_hw_watch_open(&watched, 0);
        if (fd < 0) {
            count = (uint64_t)-1;
        } else {
            for (int i = 0; i < n; i++)
                watched = (uint64_t)i;
            if (read(fd, &count, sizeof(count)) != sizeof(count))
                count = (uint64_t)-2;
            close(fd);
        }
        if (write(res[1], &count, sizeof(count)) != sizeof(count))
            _exit(1);
        _exit(0);
    }
    close(res[1]);
    close(go[0]);
    *result_fd = res[0];
    *go_fd = go[1];
    return p;
}

static uint64_t bp_finish(pid_t p, int result_fd)
{
    uint64_t count = 0;
    int st;

    if (read(result_fd, &count, sizeof(count)) != sizeof(count))
        count = (uint64_t)-3;
    close(result_fd);
    waitpid(p, &st, 0);
    return count;
}

/* Read every record available within `ms` milliseconds of the first wait. */
static int read_records(struct hv_msg_record *out, int max, int ms)
{
    int n = 0;
    struct pollfd pfd = { .fd = dev_fd(), .events = POLLIN };

    while (n < max && poll(&pfd, 1, ms) > 0) {
        ssize_t r = read(dev_fd(), out + n, (size_t)(max - n) * sizeof(*out));
        if (r <= 0)
            break;
        n += (int)(r / (ssize_t)sizeof(*out));
        ms = 200;
    }
    return n;
}

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

static int dr_checks(void)
{
    static struct hv_msg_record rec[4096];
    struct hv_abi_query *q;
    int err, ra, ga, rb, gb, n, i;
    char detail[1024];

    q = query(&err);
    uint64_t dr_exits0 = q ? total_exits(q, 29) : 99;
    free(q);
    CHECK("dr-no-exits-without-events", dr_exits0 == 0, "MOV-DR exits with no event: %llu", (unsigned long long)dr_exits0);

    /* !dr pid <A>: A on cpu 1 and B on cpu 0 both use breakpoints */
    pid_t a = bp_child(ncpus() > 1 ? 1 : 0, 10, &ra, &ga);
    pid_t b = bp_child(0, 10, &rb, &gb);
    uint32_t id = event_add((uint64_t)a, HV_ABI_ALL_CORES, 1, 1);
    CHECK("dr-add", id != 0, "!dr pid %x -> event %u", (unsigned)a, id);
    if (write(ga, "g", 1) != 1 || write(gb, "g", 1) != 1)
        return 0;
    uint64_t hits_a = bp_finish(a, ra), hits_b = bp_finish(b, rb);
    close(ga);
    close(gb);
    n = read_records(rec, 4096, 1000);
    int only_a = n > 0, dr7_writes = 0, breaks = 0;
    for (i = 0; i < n; i++) {
        struct hv_msg_dr_access acc;
        memcpy(&acc, rec[i].payload, sizeof(acc));
        only_a &= rec[i].h.pid == (uint64_t)a;
        dr7_writes += acc.dr == 7 && acc.direction == 0;
        breaks += rec[i].h.kind == HV_MSG_BREAK;
    }
    CHECK("dr-pid-filter", only_a && dr7_writes > 0,
          "%d records, all for pid %x: %s, %d MOV-to-DR7 among them, %d break records with registers", n,
          (unsigned)a, only_a ? "yes" : "NO", dr7_writes, breaks);
    CHECK("dr-breakpoint-still-fires", hits_a == 10 && hits_b == 10,
          "guest perf breakpoint hits: A %llu/10, B %llu/10", (unsigned long long)hits_a, (unsigned long long)hits_b);
    events_clear();

    /* !dr core 0: C on cpu 1, D on cpu 0 */
    if (ncpus() > 1) {
        pid_t c = bp_child(1, 5, &ra, &ga), d = bp_child(0, 5, &rb, &gb);
        id = event_add(UINT64_MAX, 0, 1, 0);
        if (write(ga, "g", 1) != 1 || write(gb, "g", 1) != 1)
            return 0;
        bp_finish(c, ra);
        bp_finish(d, rb);
        close(ga);
        close(gb);
        n = read_records(rec, 4096, 1000);
        int core0 = n > 0, from_d = 0, from_c = 0;
        for (i = 0; i < n; i++) {
            core0 &= rec[i].h.core == 0;
            from_d += rec[i].h.pid == (uint64_t)d;
            from_c += rec[i].h.pid == (uint64_t)c;
        }
        CHECK("dr-core-filter", core0 && from_d > 0 && from_c == 0,
              "!dr core 0: %d records, all on core 0: %s, %d from the process on cpu 0, %d from the one on cpu 1",
              n, core0 ? "yes" : "NO", from_d, from_c);
        events_clear();
    }

    /* imm no: batched, published by the 100 ms timer */
    pid_t e = bp_child(0, 3, &ra, &ga);
    id = event_add((uint64_t)e, HV_ABI_ALL_CORES, 0, 0);
    if (write(ga, "g", 1) != 1)
        return 0;
    bp_finish(e, ra);
    close(ga);
    double t0 = now_ms(), waited = -1;
    {
        struct pollfd pfd = { .fd = dev_fd(), .events = POLLIN };

        if (poll(&pfd, 1, 2000) > 0)
            waited = now_ms() - t0;   /* the first batch became readable */
    }
    n = read_records(rec, 4096, 200);
    CHECK("dr-imm-no-flush", n > 0 && waited >= 0 && waited < 1000.0,
          "imm no: %d records arrived %.0f ms after the process ended (flush every %u ms)", n, waited, HV_MSG_FLUSH_MS);

    /* clearing stops DR exits */
    events_clear();
    q = query(&err);
    uint64_t before = q ? total_exits(q, 29) : 0;
    free(q);
    pid_t f = bp_child(0, 5, &ra, &ga);
    if (write(ga, "g", 1) != 1)
        return 0;
    uint64_t hits_f = bp_finish(f, ra);
    close(ga);
    q = query(&err);
    uint64_t after = q ? total_exits(q, 29) : 0;
    free(q);
    snprintf(detail, sizeof(detail), "MOV-DR exits %llu -> %llu while a process used a breakpoint (%llu hits)",
             (unsigned long long)before, (unsigned long long)after, (unsigned long long)hits_f);
    CHECK("dr-clear-stops-exits", after == before && hits_f == 5, "%s", detail);
    return 0;
}

/* Events that own every kind of memory an event can have: a condition and
 * a code action (each an executable copy) and an action buffer. They are
 * never triggered (pid 1 sets no debug registers); the point is that adding
 * and removing them allocates and frees, under the e2e leak check. */
static int code_events(void)
{
    static const uint8_t cond[] = { 0x31, 0xC0, 0xC3 }; /* xor eax, eax; ret */
    static const uint8_t code[] = { 0x90, 0x90, 0xC3 }; /* nop; nop; ret */
    int err, added = 0, coded = 0, cleared;
    unsigned long long before = 0, during = 0, after = 0;
    struct hv_abi_query *q = query(&err);

    if (q)
        before = (unsigned long long)q->allocations;
    free(q);
    for (int i = 0; i < 3; i++) {
        struct {
            struct hv_abi_event_add a;
            uint8_t data[sizeof(cond)];
        } add = { .a = { .hdr = { .size = sizeof(add), .version = HV_ABI_VERSION },
                         .type = 1, .core = HV_ABI_ALL_CORES, .pid = 1, .imm = 1,
                         .buffer_size = 4096, .condition_len = sizeof(cond) } };
        struct {
            struct hv_abi_event_action act;
            uint8_t data[sizeof(code)];
        } act = { .act = { .hdr = { .size = sizeof(act), .version = HV_ABI_VERSION },
                           .kind = HV_ABI_ACTION_CODE, .data_len = sizeof(code) } };

        memcpy(add.data, cond, sizeof(cond));
        memcpy(act.data, code, sizeof(code));
        if (ioctl(dev_fd(), HVCORE_IOCTL_EVENT_ADD, &add) != 0 || add.a.hdr.status != 0)
            continue;
        added++;
        act.act.id = add.a.id;
        if (ioctl(dev_fd(), HVCORE_IOCTL_EVENT_ACTION, &act) == 0 && act.act.hdr.status == 0)
            coded++;
    }
    q = query(&err);
    if (q)
        during = (unsigned long long)q->allocations;
    free(q);
    cleared = events_clear();
    q = query(&err);
    if (q)
        after = (unsigned long long)q->allocations;
    free(q);
    CHECK("code-events", added == 3 && coded == 3 && cleared && during > before && after == before,
          "3 events with a condition, a code action and a buffer: %d added, %d with code, removed: %s; "
          "module allocations %llu -> %llu -> %llu",
          added, coded, cleared ? "yes" : "no", before, during, after);
    return 0;
}

/* ---- script actions (issue 15) ------------------------------------------- */

/* !dr pid <pid> imm yes script { src }: compiled here by the client
 * compiler, sent as HV_ABI_ACTION_PROGRAM as hvctl does. 0 on failure. */
static uint32_t event_add_script(uint64_t pid, const char *src, uint32_t budget, char *why, size_t cap)
{
    struct hv_abi_event_add a = { .hdr = { .size = sizeof(a), .version = HV_ABI_VERSION },
                                  .type = 1, .core = HV_ABI_ALL_CORES, .pid = pid, .imm = 1 };
    struct hv_script_error e;
    struct hv_abi_event_action *act;
    uint8_t *prog = NULL;
    uint32_t plen = 0;
    int ok;

    if (hv_script_compile(src, budget, &prog, &plen, &e) != 0) {
        hv_script_error_format(&e, why, cap);
        return 0;
    }
    if (ioctl(dev_fd(), HVCORE_IOCTL_EVENT_ADD, &a) != 0 || a.hdr.status != 0) {
        snprintf(why, cap, "EVENT_ADD failed (status 0x%x)", a.hdr.status);
        free(prog);
        return 0;
    }
    act = calloc(1, sizeof(*act) + plen);
    act->hdr.size = (uint32_t)(sizeof(*act) + plen);
    act->hdr.version = HV_ABI_VERSION;
    act->id = a.id;
    act->kind = HV_ABI_ACTION_PROGRAM;
    act->data_len = plen;
    memcpy(act->data, prog, plen);
    ok = ioctl(dev_fd(), HVCORE_IOCTL_EVENT_ACTION, act) == 0 && act->hdr.status == 0;
    if (!ok)
        snprintf(why, cap, "EVENT_ACTION PROGRAM failed (status 0x%x)", act->hdr.status);
    free(act);
    free(prog);
    return ok ? a.id : 0;
}

/* Wait up to `ms` for a breakpoint child's result; 1 if it came. */
static int bp_wait(int result_fd, int ms)
{
    struct pollfd pfd = { .fd = result_fd, .events = POLLIN };

    return poll(&pfd, 1, ms) > 0;
}

/* !dr pid X script { while (1) {} } with `budget` (0: the default). */
static void endless(uint32_t budget, int strict)
{
    static struct hv_msg_record rec[4096];
    char why[512];
    int ra, ga, n, i, nbudget = 0, exact = 0, bad = 0, done_armed;
    uint32_t want = budget ? budget : HV_SCRIPT_DEFAULT_BUDGET;
    pid_t b = bp_child(0, 10, &ra, &ga);
    uint32_t id = event_add_script((uint64_t)b, "while (1) {}", budget, why, sizeof(why));
    char name[64];

    snprintf(name, sizeof(name), "script-add-endless-%u", want);
    CHECK(name, id != 0, "!dr pid %x script { while (1) {} } budget %u -> event %u %s", (unsigned)b, want, id,
          id ? "" : why);
    double t0 = now_ms();
    if (write(ga, "g", 1) != 1)
        return;
    /* At most 20 s (5 s for the report-only default budget) of guest time
     * while the event is armed. */
    done_armed = bp_wait(ra, strict ? 20000 : 5000);
    double ms = now_ms() - t0;
    n = read_records(rec, 4096, 500);
    for (i = 0; i < n; i++) {
        struct hv_msg_script_status m;

        if (rec[i].h.pid != (uint64_t)b || rec[i].h.kind != HV_MSG_SCRIPT_STATUS) {
            bad++;
            continue;
        }
        memcpy(&m, rec[i].payload, sizeof(m));
        if (m.reason == HV_SCRIPT_END_BUDGET && m.status == HV_STATUS_SCRIPT_BUDGET_EXHAUSTED) {
            nbudget++;
            exact += m.executed == want;
        } else {
            bad++;
        }
    }
    events_clear();
    double t1 = now_ms();
    uint64_t hits = bp_wait(ra, 20000) ? bp_finish(b, ra) : (uint64_t)-9;
    double after = now_ms() - t1;
    close(ga);
    snprintf(name, sizeof(name), "script-endless-loop-budget-%u", want);
    CHECK(name, nbudget > 0 && exact == nbudget && bad == 0 && hits == 10 && (done_armed || !strict),
          "while (1) {} on !dr pid %x, budget %u: %d budget-exhausted records (%d after exactly %u instructions), "
          "%d other records; the process %s its 10 breakpoint writes while the event was armed (%.0f ms, %.1f ms "
          "per firing)%s; "
          "breakpoint hits %llu/10%s",
          (unsigned)b, want, nbudget, exact, want, bad, done_armed ? "finished" : "had NOT finished", ms,
          nbudget ? ms / nbudget : 0.0, done_armed ? "" : ", then the event was cleared", (unsigned long long)hits,
          done_armed ? "" : (hits == 10 ? " (finished after the clear)" : " (still not finished after the clear)"));
    (void)after;
}

static int script_checks(void)
{
    static struct hv_msg_record rec[4096];
    char src[256], why[512], want[128], first[128] = "";
    int ra, ga, n, i, cpu = ncpus() > 1 ? 1 : 0;

    /* 1. printf of $pid, $core and a quadword the process holds. */
    pid_t a = bp_child(cpu, 10, &ra, &ga);
    script_value = 0x0BAD0BAD;   /* the parent's copy: a read from the wrong process shows it */
    snprintf(src, sizeof(src), "printf(\"pid=%%x core=%%x val=%%llx\\n\", $pid, $core, dq(%llx));",
             (unsigned long long)(uintptr_t)&script_value);
    uint32_t id = event_add_script((uint64_t)a, src, 0, why, sizeof(why));
    CHECK("script-add", id != 0, "!dr pid %x script { %s } -> event %u %s", (unsigned)a, src, id, id ? "" : why);
    if (write(ga, "g", 1) != 1)
        return 0;
    uint64_t hits = bp_finish(a, ra);
    close(ga);
    n = read_records(rec, 4096, 1000);
    int texts = 0, good = 0, bad = 0, mem_errors = 0, other = 0;
    for (i = 0; i < n; i++) {
        if (rec[i].h.pid != (uint64_t)a) {
            other++;
            continue;
        }
        if (rec[i].h.kind == HV_MSG_SCRIPT) {
            const char *t = (const char *)rec[i].payload + sizeof(struct hv_msg_dr_access);

            texts++;
            snprintf(want, sizeof(want), "pid=%x core=%x val=%llx\n", (unsigned)a, rec[i].h.core,
                     (unsigned long long)SCRIPT_VALUE);
            if (strcmp(t, want) == 0 && rec[i].h.core == (uint32_t)cpu)
                good++;
            else
                bad++;
            if (first[0] == 0)
                snprintf(first, sizeof(first), "%.*s", (int)strcspn(t, "\n"), t);
        } else if (rec[i].h.kind == HV_MSG_SCRIPT_STATUS) {
            struct hv_msg_script_status m;

            memcpy(&m, rec[i].payload, sizeof(m));
            /* A DR write while the process is being torn down may find
             * its memory gone: a memory error record, never a crash. */
            if (m.reason == HV_SCRIPT_END_ERROR && m.error == HV_SCRIPT_ERR_MEMORY)
                mem_errors++;
            else
                bad++;
        } else {
            bad++;
        }
    }
    CHECK("script-printf-pid-core-dq", good > 0 && bad == 0 && hits == 10,
          "%d script records from pid %x on core %d, %d exactly \"pid=%x core=%x val=%llx\" (the first: \"%s\"), "
          "%d wrong, %d memory-error records, %d from others; its breakpoint hit %llu/10",
          texts, (unsigned)a, cpu, good, (unsigned)a, cpu, (unsigned long long)SCRIPT_VALUE, first, bad, mem_errors,
          other, (unsigned long long)hits);
    events_clear();

    /* 2. An endless loop: every firing ends with a budget record after
     * exactly its budget; the process still does all its work. The budget
     * is 5000 here (3.5 ms of guest time per firing on Bochs's 50 M
     * emulated instructions a second): one firing of the default 100000
     * lasts ~70 ms, many scheduler ticks, and once (1 run of 2) the process
     * did not finish within 78 s of guest time. */
    endless(5000, 1);
    /* 3. The default budget: the machine keeps running; whether the
     * process gets its work done while the event is armed is reported
     * (it did in 2 s of guest time), and once the event is cleared it
     * must finish. */
    endless(0, 0);
    return 0;
}

/* ---- a mixed exit workload for `hvctl record` (hv_body.sh) ------------------
 * Until process `until` ends (or `seconds` pass): on each CPU in turn CPUID
 * leaves, a ring-3 VMCALL (the hypervisor injects #UD: SIGILL here),
 * RDMSR of FEATURE_CONTROL (trapped, the guest's virtual copy) and of an
 * MSR outside the bitmap ranges (#GP: the msr driver says EIO), a WRMSR to
 * the locked FEATURE_CONTROL (#GP), and a hardware breakpoint opened and
 * closed (the kernel writes DR7 and DR0-3: MOV-DR exits once an event
 * turned MOV-DR exiting on). Short sleeps leave the recorder time to read. */
/* Is process `pid` still running? A child that exited stays a zombie
 * until the shell reaps it, and kill(pid, 0) still succeeds then. */
static int running(pid_t pid)
{
    char path[64], buf[256], *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static int workload(pid_t until, int seconds)
{
    static const uint32_t leaves[] = { 0, 1, 4, 7, 0xB, 0xD, 0x80000000u, 0x80000001u, 0x80000008u, 0x40000000u };
    time_t end = time(NULL) + seconds;
    unsigned long iters = 0, sigills = 0;
    int n = ncpus();
    uint32_t r[4];
    uint64_t v;

    while (time(NULL) < end && (until <= 0 || running(until))) {
        int cpu = (int)(iters % (unsigned long)n), fd;
        char path[64];

        guest_pin(cpu);
        for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
            cpuid(leaves[i], r);
        sigills += (unsigned long)user_vmcall_gets_sigill();
        (void)guest_rdmsr(cpu, 0x3A, &v);
        (void)guest_rdmsr(cpu, 0x40000100u, &v);
        snprintf(path, sizeof(path), "/dev/cpu/%d/msr", cpu);
        fd = open(path, O_WRONLY);
        if (fd >= 0) {
            v = 0x5;
            (void)!pwrite(fd, &v, 8, 0x3A);
            close(fd);
        }
        fd = guest_hw_watch_open(&watched, 0);
        if (fd >= 0) {
            watched = iters;
            close(fd);
        }
        iters++;
        usleep(10000);
    }
    printf("HV-WORKLOAD: %lu rounds on %d CPUs, %lu SIGILLs from ring-3 VMCALL\n", iters, n, sigills);
    return 0;
}

int main(int argc, char **argv)
{
    char detail[2048];
    int err;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: hvtest loaded|unloaded|allocations\n");
        return 2;
    }
    if (!strcmp(argv[1], "show")) {
        /* Plain words for the demo: what each CPU sees, and exit counts. */
        struct hv_abi_query *q = query(&err);
        static const struct { uint32_t reason; const char *name; } shown[] = {
            { 10, "CPUID" }, { 18, "VMCALL" }, { 28, "CR access" }, { 31, "RDMSR" },
            { 32, "WRMSR" }, { 55, "XSETBV" }, { 0, "NMI" }, { 8, "NMI window" },
        };
        for (int c = 0; c < ncpus(); c++) {
            uint32_t r1[4], r4[4];
            char sig[13] = { 0 };

            guest_pin(c);
            cpuid(1, r1);
            cpuid(0x40000000u, r4);
            memcpy(sig, &r4[1], 4);
            memcpy(sig + 4, &r4[2], 4);
            memcpy(sig + 8, &r4[3], 4);
            if ((r1[2] >> 31) & 1)
                printf("DEMO:   cpu %d sees: hypervisor-present bit SET, CPUID 0x40000000 vendor \"%s\"\n", c, sig);
            else
                printf("DEMO:   cpu %d sees: hypervisor-present bit clear (no hypervisor vendor leaf)\n", c);
            if (q && (uint32_t)c < q->cpus_written) {
                printf("DEMO:   cpu %d %s; VM exits so far:", c,
                       q->cpus[c].virtualized ? "is virtualized" : "is NOT virtualized");
                for (size_t k = 0; k < sizeof(shown) / sizeof(shown[0]); k++)
                    if (q->cpus[c].exit_count[shown[k].reason])
                        printf(" %s x%llu", shown[k].name,
                               (unsigned long long)q->cpus[c].exit_count[shown[k].reason]);
                printf("\n");
            }
        }
        if (!q)
            printf("DEMO:   /dev/hvcore is not there (%s): no hypervisor loaded\n", strerror(err));
        free(q);
        return 0;
    }
    if (!strcmp(argv[1], "allocations")) {
        struct hv_abi_query *q = query(&err);
        if (!q) {
            printf("E2E FAIL allocations: query failed (%s)\n", strerror(err));
            return 1;
        }
        printf("%llu\n", (unsigned long long)q->allocations);
        free(q);
        return 0;
    }
    if (!strcmp(argv[1], "loaded")) {
        struct stat st;
        CHECK("device", stat("/dev/hvcore", &st) == 0 && (st.st_mode & 0777) == 0600,
              "/dev/hvcore mode %o", stat("/dev/hvcore", &st) == 0 ? (unsigned)(st.st_mode & 0777) : 0);

        struct hv_abi_query *q = query(&err);
        CHECK("query", q != NULL, "ioctl QUERY %s", q ? "ok" : strerror(err));
        if (!q)
            return failures;
        int all = (int)q->cpus_written == ncpus() && (int)q->cpu_count == ncpus();
        int off = 0;
        for (uint32_t i = 0; i < q->cpus_written; i++) {
            off += snprintf(detail + off, sizeof(detail) - (size_t)off, "cpu%u=%s ", i,
                            q->cpus[i].virtualized ? "virtualized" : "NOT-virtualized");
            all &= q->cpus[i].virtualized == 1;
        }
        CHECK("every-cpu-virtualized", all, "%u of %d CPUs reported: %s", q->cpus_written, ncpus(), detail);

        /* Bad requests are refused cleanly. */
        int fd = open("/dev/hvcore", O_RDWR);
        struct hv_abi_query bad = { .hdr = { .size = 8, .version = HV_ABI_VERSION } };
        int r1 = ioctl(fd, HVCORE_IOCTL_QUERY, &bad), e1 = errno;
        bad.hdr.size = sizeof(bad);
        bad.hdr.version = 99;
        int r2 = ioctl(fd, HVCORE_IOCTL_QUERY, &bad), e2 = errno;
        bad.hdr.version = HV_ABI_VERSION;
        bad.cpu_capacity = 1000; /* more entries than the buffer holds */
        int r3 = ioctl(fd, HVCORE_IOCTL_QUERY, &bad), e3 = errno;
        int r4 = ioctl(fd, HVCORE_IOCTL_QUERY, (void *)8), e4 = errno;
        close(fd);
        CHECK("ioctl-lengths-checked", r1 == -1 && e1 == EINVAL && r2 == -1 && e2 == EINVAL &&
              r3 == -1 && e3 == EINVAL && r4 == -1 && e4 == EFAULT,
              "short size -> %s, wrong version -> %s, capacity beyond buffer -> %s, bad pointer -> %s",
              strerror(e1), strerror(e2), strerror(e3), strerror(e4));

        int ok = cpuid_on_every_cpu(1, detail, sizeof(detail));
        CHECK("cpuid-signature", ok, "%s", detail);

        uint64_t before = total_exits(q, 10);
        uint32_t r[4];
        for (int i = 0; i < 1000; i++)
            cpuid(0, r);
        free(q);
        q = query(&err);
        uint64_t after = q ? total_exits(q, 10) : 0;
        CHECK("exit-counters-move", q && after >= before + 1000,
              "CPUID exits %llu -> %llu after 1000 CPUIDs", (unsigned long long)before, (unsigned long long)after);
        uint64_t vmcalls_before = q ? total_exits(q, 18) : 0;

        int ill = user_vmcall_gets_sigill();
        free(q);
        q = query(&err);
        int still = q != NULL;
        for (uint32_t i = 0; q && i < q->cpus_written; i++)
            still &= q->cpus[i].virtualized == 1;
        CHECK("user-vmcall-sigill", ill && still && total_exits(q, 18) == vmcalls_before + 1,
              "VMCALL from ring 3 -> %s; all CPUs still virtualized: %s; VMCALL exits %llu -> %llu",
              ill ? "SIGILL" : "no signal", still ? "yes" : "no", (unsigned long long)vmcalls_before,
              (unsigned long long)(q ? total_exits(q, 18) : 0));
        free(q);

        ok = kernel_works(detail, sizeof(detail));
        CHECK("kernel-keeps-working", ok, "%s", detail);
        return failures;
    }
    if (!strcmp(argv[1], "dr")) {
        dr_checks();
        return failures;
    }
    if (!strcmp(argv[1], "msr")) {
        msr_checks();
        return failures;
    }
    if (!strcmp(argv[1], "code-events")) {
        code_events();
        return failures;
    }
    if (!strcmp(argv[1], "script")) {
        script_checks();
        return failures;
    }
    if (!strcmp(argv[1], "workload"))
        return workload(argc > 2 ? (pid_t)atoi(argv[2]) : 0, argc > 3 ? atoi(argv[3]) : 300);
    if (!strcmp(argv[1], "unloaded")) {
        struct stat st;
        int ok = cpuid_on_every_cpu(0, detail, sizeof(detail));
        CHECK("devirtualized", ok, "%s", detail);
        CHECK("device-gone", stat("/dev/hvcore", &st) != 0, "/dev/hvcore %s", errno == ENOENT ? "absent" : "present");
        return failures;
    }
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
