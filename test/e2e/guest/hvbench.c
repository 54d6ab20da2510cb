/*
 * Guest benchmark (issue 17): what VM exits cost, seen from the guest,
 * measured in emulated instructions. Under Bochs with `clock: sync=none`
 * the TSC advances with emulated instructions (guest_tsc_per_instruction
 * checks it), so RDTSC around a loop counts instructions, repeatably.
 *
 *   hvbench native FILE   before insmod: the native costs, into FILE
 *   hvbench virt FILE     with hvcore.ko loaded: the same operations
 *                         virtualized, minus the native costs from FILE,
 *                         and the !dr throughput and MSR broadcast latency
 *
 * Prints "BENCH <name> <value> <unit>" lines (collected by test/e2e/hv.sh)
 * and "HV-BENCH: ..." lines with the details. Nothing here is a pass/fail
 * judgement on timing; a figure that cannot be measured (e.g. the kernel
 * made no DR access) is left out, and the harness fails on a missing line.
 *
 * Each figure is the fastest of many short rounds: a round of ~30,000
 * instructions mostly falls between two timer interrupts (HZ 250 at
 * 50 M emulated instructions per second), so the minimum leaves interrupt
 * handling out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
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

#include <hvcore/abi.h>
#include <hvcore/msg.h>
#include "../../../platform/linux/uapi/hvcore_ioctl.h"
#include "guest_util.h"

#define MAXCPU 64
#define HYPERDBG_PACKETS_PER_S 33.0 /* one packet per 30 ms sleep (issue 17) */

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
    return (uint64_t)hi << 32 | lo;
}

static void cpuid0(void)
{
    uint32_t a = 0, b, c = 0, d;

    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int ncpus(void)
{
    return guest_ncpus(MAXCPU);
}


static void bench(const char *name, double value, const char *unit)
{
    printf("BENCH %s %.1f %s\n", name, value, unit);
    fflush(stdout);
}

/* ---- /dev/hvcore ----------------------------------------------------------- */

static int dev = -1;

static void hdr(struct hv_abi_header *h, size_t size)
{
    memset(h, 0, sizeof(*h));
    h->size = (uint32_t)size;
    h->version = HV_ABI_VERSION;
}

struct query_buf {
    struct hv_abi_query q;
    struct hv_abi_cpu_state cpus[MAXCPU];
};

/* Exits of `reason` on every CPU so far (reason -1: all reasons). */
static uint64_t exits(int reason)
{
    static struct query_buf b;
    uint64_t s = 0;

    memset(&b, 0, sizeof(b));
    hdr(&b.q.hdr, sizeof(b));
    b.q.cpu_capacity = MAXCPU;
    if (ioctl(dev, HVCORE_IOCTL_QUERY, &b) != 0 || b.q.hdr.status != 0)
        return 0;
    for (uint32_t i = 0; i < b.q.cpus_written; i++) {
        if (reason >= 0) {
            s += b.cpus[i].exit_count[reason];
            continue;
        }
        for (uint32_t r = 0; r < sizeof(b.cpus[i].exit_count) / sizeof(b.cpus[i].exit_count[0]); r++)
            s += b.cpus[i].exit_count[r];
    }
    return s;
}

struct rings_buf {
    struct hv_abi_event_rings r;
    struct hv_abi_ring_stats s[MAXCPU];
};

/* Records generated (produced + dropped) and dropped, all cores. */
static int ring_totals(uint64_t *generated, uint64_t *dropped)
{
    static struct rings_buf b;

    memset(&b, 0, sizeof(b));
    hdr(&b.r.hdr, sizeof(b));
    b.r.capacity = MAXCPU;
    if (ioctl(dev, HVCORE_IOCTL_EVENT_RINGS, &b) != 0 || b.r.hdr.status != 0)
        return -1;
    *generated = *dropped = 0;
    for (uint32_t i = 0; i < b.r.count && i < MAXCPU; i++) {
        *generated += b.s[i].produced + b.s[i].dropped;
        *dropped += b.s[i].dropped;
    }
    return 0;
}

static uint32_t event_add(uint64_t pid, int imm)
{
    struct hv_abi_event_add a;

    memset(&a, 0, sizeof(a));
    hdr(&a.hdr, sizeof(a));
    a.type = 1;
    a.core = HV_ABI_ALL_CORES;
    a.pid = pid;
    a.imm = (uint32_t)imm;
    a.disabled = 0;
    a.buffer_size = 0;
    a.condition_len = 0;
    if (ioctl(dev, HVCORE_IOCTL_EVENT_ADD, &a) != 0 || a.hdr.status != 0) {
        printf("HV-BENCH: adding !dr pid %llx failed: %s, status 0x%x\n", (unsigned long long)pid, strerror(errno),
               a.hdr.status);
        return 0;
    }
    return a.id;
}

static int event_action(uint32_t id, uint32_t kind, const void *data, uint32_t len)
{
    struct {
        struct hv_abi_event_action a;
        uint8_t data[16];
    } b;

    memset(&b, 0, sizeof(b));
    hdr(&b.a.hdr, sizeof(b.a) + len);
    b.a.id = id;
    b.a.kind = kind;
    b.a.data_len = len;
    memcpy(b.data, data, len);
    if (ioctl(dev, HVCORE_IOCTL_EVENT_ACTION, &b) == 0 && b.a.hdr.status == 0)
        return 0;
    printf("HV-BENCH: action %u on event %u failed: %s, status 0x%x\n", kind, id, strerror(errno), b.a.hdr.status);
    return -1;
}

static void events_clear(void)
{
    struct hv_abi_event_ctl c;

    hdr(&c.hdr, sizeof(c));
    c.op = HV_ABI_EVENT_REMOVE;
    c.id = HV_ABI_EVENT_ALL;
    if (ioctl(dev, HVCORE_IOCTL_EVENT_CTL, &c) != 0 || c.hdr.status != 0)
        printf("HV-BENCH: removing the events failed\n");
}

/* ---- the operations ------------------------------------------------------- */

/* Rounds of `n` operations; the fastest round, in TSC per operation. */
#define ROUNDS 40

static double best_empty(int n)
{
    uint64_t best = UINT64_MAX;

    for (int r = 0; r < ROUNDS; r++) {
        uint64_t t0 = rdtsc();
        for (int i = 0; i < n; i++)
            __asm__ volatile("" ::: "memory");
        uint64_t d = rdtsc() - t0;
        best = d < best ? d : best;
    }
    return (double)best / n;
}

static double best_cpuid(int n)
{
    uint64_t best = UINT64_MAX;

    for (int r = 0; r < ROUNDS; r++) {
        uint64_t t0 = rdtsc();
        for (int i = 0; i < n; i++)
            cpuid0();
        uint64_t d = rdtsc() - t0;
        best = d < best ? d : best;
    }
    return (double)best / n;
}

/* 64 NOPs per iteration against an empty iteration: TSC per instruction. */
static double tsc_per_instruction(void)
{
    uint64_t best = UINT64_MAX, base = UINT64_MAX;

    for (int r = 0; r < ROUNDS; r++) {
        uint64_t t0 = rdtsc();
        for (int i = 0; i < 100; i++)
            __asm__ volatile(".rept 64\n\tnop\n\t.endr" ::: "memory");
        uint64_t t1 = rdtsc();
        for (int i = 0; i < 100; i++)
            __asm__ volatile("" ::: "memory");
        uint64_t t2 = rdtsc();
        best = t1 - t0 < best ? t1 - t0 : best;
        base = t2 - t1 < base ? t2 - t1 : base;
    }
    return (double)(best - base) / (100.0 * 64.0);
}

/* RDMSR IA32_FEATURE_CONTROL (0x3A) by the kernel's msr driver: pread. */
static int msr_fd = -1;

static double best_rdmsr(int n)
{
    uint64_t best = UINT64_MAX, v;

    if (msr_fd < 0)
        msr_fd = open("/dev/cpu/0/msr", O_RDONLY);
    if (msr_fd < 0)
        return -1;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t t0 = rdtsc();
        for (int i = 0; i < n; i++)
            if (pread(msr_fd, &v, 8, 0x3a) != 8)
                return -1;
        uint64_t d = rdtsc() - t0;
        best = d < best ? d : best;
    }
    return (double)best / n;
}

/* DR accesses the kernel really makes: enabling a perf hardware breakpoint
 * of this task installs it (MOV to DR0 and DR7 at once, not lazily at the
 * next switch), disabling it uninstalls it (MOV to DR7). The breakpoint is
 * on a variable nobody touches: no #DB. */
static volatile uint64_t watched;
static int bp_fd = -1;

static int bp_open(void)
{
    if (bp_fd >= 0)
        return 0;
    bp_fd = guest_hw_watch_open(&watched, 1);
    return bp_fd < 0 ? -1 : 0;
}

static int bp_toggle(void)
{
    if (ioctl(bp_fd, PERF_EVENT_IOC_ENABLE, 0) != 0 || ioctl(bp_fd, PERF_EVENT_IOC_DISABLE, 0) != 0)
        return -1;
    return 0;
}

static double best_bp(int n)
{
    uint64_t best = UINT64_MAX;

    if (bp_open() != 0)
        return -1;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t t0 = rdtsc();
        for (int i = 0; i < n; i++)
            if (bp_toggle() != 0)
                return -1;
        uint64_t d = rdtsc() - t0;
        best = d < best ? d : best;
    }
    return (double)best / n;
}

/* ---- native -------------------------------------------------------------- */

#define N_CPUID 100
#define N_RDMSR 10
#define N_BP 5

static int cmd_native(const char *file)
{
    FILE *f = fopen(file, "w");

    if (f == NULL || guest_pin(0) != 0) {
        printf("HV-BENCH: native: cannot write %s or pin to cpu 0\n", file);
        return 1;
    }
    fprintf(f, "empty %.2f\n", best_empty(N_CPUID));
    fprintf(f, "cpuid %.2f\n", best_cpuid(N_CPUID));
    fprintf(f, "rdmsr %.2f\n", best_rdmsr(N_RDMSR));
    fprintf(f, "bp %.2f\n", best_bp(N_BP));
    fclose(f);
    return 0;
}

static double native_value(const char *file, const char *key)
{
    char name[64];
    double v;
    FILE *f = fopen(file, "r");

    if (f == NULL)
        return -1;
    while (fscanf(f, "%63s %lf", name, &v) == 2)
        if (strcmp(name, key) == 0) {
            fclose(f);
            return v;
        }
    fclose(f);
    return -1;
}

/* ---- a reader draining /dev/hvcore (a child on the last CPU) --------------- */

struct reader_state {
    volatile uint64_t records;
    volatile uint64_t toggles;    /* the throughput generator's count */
    volatile int stop;
};

static struct reader_state *RS;

static int rs_map(void)
{
    if (RS == NULL) {
        void *m = mmap(NULL, sizeof(*RS), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

        if (m == MAP_FAILED)
            return -1;
        RS = m;
    }
    return 0;
}

static pid_t reader_start(void)
{
    pid_t p;

    if (rs_map() != 0)
        return -1;
    RS->records = 0;
    RS->stop = 0;
    p = fork();
    if (p == 0) {
        static struct hv_msg_record buf[256];
        int fd = open("/dev/hvcore", O_RDONLY | O_NONBLOCK);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };

        guest_pin(ncpus() - 1);
        for (;;) {
            ssize_t r = read(fd, buf, sizeof(buf));

            if (r > 0) {
                RS->records += (uint64_t)r / sizeof(buf[0]);
                continue;
            }
            if (RS->stop)
                _exit(0);
            poll(&pfd, 1, 20);
        }
    }
    return p;
}

/* Let the flush timer publish what is left, read it, stop. */
static uint64_t reader_stop(pid_t p)
{
    struct timespec t = { 0, 150 * 1000 * 1000 };
    int st;

    nanosleep(&t, NULL);
    RS->stop = 1;
    waitpid(p, &st, 0);
    return RS->records;
}

/* ---- !dr exit costs -------------------------------------------------------- */

struct dr_case {
    const char *name;
    const char *what;
};

/* One configuration: the toggle loop's cost, and the DR exits it makes. */
static int dr_case_run(const struct dr_case *c, double native_bp, double cpuid_root)
{
    uint64_t x0 = exits(29), g0 = 0, d0 = 0, g1 = 0, d1 = 0;
    pid_t rd = reader_start();
    double t;
    uint64_t x1, delivered;
    double per_iter, per_exit;

    ring_totals(&g0, &d0);
    t = best_bp(N_BP);
    x1 = exits(29);
    ring_totals(&g1, &d1);
    delivered = rd > 0 ? reader_stop(rd) : 0;
    if (t < 0) {
        printf("HV-BENCH: %s: the breakpoint loop failed\n", c->name);
        return -1;
    }
    per_iter = (double)(x1 - x0) / (ROUNDS * N_BP);
    printf("HV-BENCH: %s (%s): %.1f TSC per enable+disable (native %.1f), %.2f MOV-DR exits each, "
           "records generated %llu, dropped %llu, read %llu\n", c->name, c->what, t, native_bp, per_iter,
           (unsigned long long)(g1 - g0), (unsigned long long)(d1 - d0), (unsigned long long)delivered);
    if (per_iter < 1.0) {
        printf("HV-BENCH: %s: the kernel made no DR access in the loop: no figure\n", c->name);
        return -1;
    }
    per_exit = (t - native_bp) / per_iter;
    bench(c->name, per_exit, "instr");
    printf("HV-BENCH: %s = %.2f x the CPUID exit\n", c->name, per_exit / cpuid_root);
    return 0;
}

/* ---- !dr throughput --------------------------------------------------------- */

/* A generator on cpu 0 toggles the breakpoint for `seconds` of guest time,
 * at most `rate` toggles per second (0: as fast as it can), while the
 * reader drains. Reports records per guest-second. */
struct tput {
    double seconds, generated, delivered, dropped, per_toggle;
};

static int throughput(int imm, double seconds, double toggle_rate, struct tput *o)
{
    uint64_t g0, d0, g1, d1, delivered;
    pid_t rd, gen;
    double t0, t1;
    int st = 0;

    RS->toggles = 0;
    gen = fork();
    if (gen == 0) {
        guest_pin(0);
        /* an inherited descriptor is the parent's breakpoint: open our own */
        if (bp_fd >= 0)
            close(bp_fd);
        bp_fd = -1;
        if (bp_open() != 0)
            _exit(2);
        raise(SIGSTOP); /* until the event for this pid exists */
        double start = now_s(), next = start;
        uint64_t n = 0;
        while (now_s() - start < seconds) {
            if (bp_toggle() != 0)
                _exit(4);
            n++;
            if (toggle_rate > 0) {
                next += 1.0 / toggle_rate;
                while (now_s() < next)
                    ;
            }
        }
        RS->toggles = n;
        _exit(0);
    }
    if (gen < 0 || waitpid(gen, &st, WUNTRACED) != gen || !WIFSTOPPED(st)) {
        printf("HV-BENCH: throughput: the generator did not start (status 0x%x)\n", st);
        return -1;
    }
    if (event_add((uint64_t)gen, imm) == 0) {
        kill(gen, SIGKILL);
        waitpid(gen, &st, 0);
        return -1;
    }
    rd = reader_start();
    if (ring_totals(&g0, &d0) != 0) {
        printf("HV-BENCH: throughput: EVENT_RINGS failed: %s\n", strerror(errno));
        return -1;
    }
    t0 = now_s();
    kill(gen, SIGCONT);
    waitpid(gen, &st, 0);
    t1 = now_s();
    events_clear();
    delivered = rd > 0 ? reader_stop(rd) : 0;
    if (ring_totals(&g1, &d1) != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("HV-BENCH: throughput: EVENT_RINGS (%s) or the generator (status 0x%x) failed\n", strerror(errno), st);
        return -1;
    }
    o->seconds = t1 - t0;
    o->generated = (double)(g1 - g0) / o->seconds;
    o->dropped = (double)(d1 - d0) / o->seconds;
    o->delivered = (double)delivered / o->seconds;
    o->per_toggle = RS->toggles ? (double)(g1 - g0) / (double)RS->toggles : 0;
    printf("HV-BENCH: throughput imm %s, %s: %.2f guest-s, %llu toggles, %llu generated, %llu delivered, "
           "%llu dropped\n", imm ? "yes" : "no", toggle_rate > 0 ? "throttled" : "unthrottled", o->seconds,
           (unsigned long long)RS->toggles, (unsigned long long)(g1 - g0), (unsigned long long)delivered,
           (unsigned long long)(d1 - d0));
    return 0;
}

static void throughput_figures(int imm, double seconds)
{
    const char *tag = imm ? "imm_yes" : "imm_no";
    struct tput t, u;
    char name[96];
    double rate, toggles;

    if (throughput(imm, seconds, 0, &t) != 0) {
        printf("HV-BENCH: throughput imm %s failed\n", imm ? "yes" : "no");
        return;
    }
    snprintf(name, sizeof(name), "dr_records_generated_per_s_%s", tag);
    bench(name, t.generated, "records/s");
    snprintf(name, sizeof(name), "dr_records_delivered_per_s_%s", tag);
    bench(name, t.delivered, "records/s");
    snprintf(name, sizeof(name), "dr_records_dropped_per_s_%s", tag);
    bench(name, t.dropped, "records/s");
    snprintf(name, sizeof(name), "dr_records_vs_hyperdbg_%s", tag);
    bench(name, t.delivered / HYPERDBG_PACKETS_PER_S, "x");
    /* The highest rate without a drop: the full rate if nothing dropped
     * there (then the generator, not the ring, is the limit); else halve
     * the generator's rate until nothing drops. */
    rate = t.generated;
    u = t;
    toggles = t.per_toggle > 0 ? t.generated / t.per_toggle : 0;
    for (int k = 0; u.dropped > 0 && toggles > 0 && k < 4; k++) {
        toggles /= 2;
        if (throughput(imm, seconds, toggles, &u) != 0)
            return;
        rate = u.generated;
    }
    if (u.dropped > 0) {
        printf("HV-BENCH: throughput imm %s: drops even at %.0f records/s\n", imm ? "yes" : "no", rate);
        return;
    }
    snprintf(name, sizeof(name), "dr_records_zero_drop_rate_%s", tag);
    bench(name, rate, "records/s");
    printf("HV-BENCH: throughput imm %s: zero drops at %.0f records/s%s\n", imm ? "yes" : "no", rate,
           t.dropped > 0 ? " (throttled generator)" : " (the generator's full rate: it, not the ring, is the limit)");
}

/* ---- MSR broadcast latency --------------------------------------------------- */

struct msr_buf {
    struct hv_abi_msr m;
    struct hv_abi_msr_result r[MAXCPU];
};

static int msr_op(uint32_t action, uint64_t value, struct msr_buf *b)
{
    memset(b, 0, sizeof(*b));
    hdr(&b->m.hdr, sizeof(*b));
    b->m.op.msr = 0x175; /* IA32_SYSENTER_ESP: unused by 64-bit Linux */
    b->m.op.core_number = HV_ABI_ALL_CORES;
    b->m.op.action = action;
    b->m.op.value = value;
    b->m.result_capacity = MAXCPU;
    return ioctl(dev, HVCORE_IOCTL_MSR, b) == 0 && b->m.hdr.status == 0 ? 0 : -1;
}

static void msr_latency(void)
{
    static struct msr_buf b, orig;
    uint64_t best = UINT64_MAX, sum = 0;
    char name[64];
    int n = 30;

    if (msr_op(HV_ABI_MSR_READ, 0, &orig) != 0) {
        printf("HV-BENCH: msr broadcast: rdmsr failed\n");
        return;
    }
    for (int i = 0; i < n; i++) {
        uint64_t t0 = rdtsc();
        int r = msr_op(HV_ABI_MSR_WRITE, orig.r[0].value, &b);
        uint64_t d = rdtsc() - t0;

        if (r != 0) {
            printf("HV-BENCH: msr broadcast: wrmsr failed\n");
            return;
        }
        best = d < best ? d : best;
        sum += d;
    }
    /* every core had the same value (Linux leaves it 0); put each back */
    for (uint32_t c = 0; c < orig.m.results_written; c++) {
        memset(&b, 0, sizeof(b));
        hdr(&b.m.hdr, sizeof(b));
        b.m.op.msr = 0x175;
        b.m.op.core_number = orig.r[c].core;
        b.m.op.action = HV_ABI_MSR_WRITE;
        b.m.op.value = orig.r[c].value;
        b.m.result_capacity = MAXCPU;
        ioctl(dev, HVCORE_IOCTL_MSR, &b);
    }
    snprintf(name, sizeof(name), "msr_broadcast_latency_%dcpu", ncpus());
    bench(name, (double)best, "instr");
    printf("HV-BENCH: wrmsr 175 on all %d cores, ioctl entry to return: fastest %llu, mean %.0f of %d\n", ncpus(),
           (unsigned long long)best, (double)sum / n, n);
}

/* ---- virtualized --------------------------------------------------------------- */

static int hvctl(const char *cmd)
{
    char line[512];

    snprintf(line, sizeof(line), "/hv/hvctl --target local '%s' >/tmp/hvbench-hvctl.out 2>&1", cmd);
    return system(line) == 0 ? 0 : -1;
}

static void vmcall_ping(void)
{
    unsigned long long best, empty;
    int pings = 0;
    unsigned wrong = 1;
    FILE *f = fopen("/sys/module/hvcore/parameters/bench_vmcall_ping", "r");

    if (f == NULL || fscanf(f, "%llu %llu %d %u", &best, &empty, &pings, &wrong) != 4 || pings <= 0 || wrong) {
        printf("HV-BENCH: vmcall ping: no figure (%s, %u wrong replies)\n", f ? "read" : strerror(errno), wrong);
        if (f)
            fclose(f);
        return;
    }
    fclose(f);
    bench("guest_vmcall_ping", (double)(best - empty) / pings, "instr");
}

/* The exit stub on Linux saves no XMM register (vmx_entry.S): XMM0-15
 * must come back from 1000 CPUID exits as they went in. A pass/fail check,
 * not a figure. */
static void xmm_survives_exits(void)
{
    static uint8_t in[256] __attribute__((aligned(16))), out[256] __attribute__((aligned(16)));
    int same;

    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)(i * 7 + 3);
    memset(out, 0, sizeof(out));
    __asm__ volatile(
        "movdqu 0(%[in]), %%xmm0\n\t"
        "movdqu 16(%[in]), %%xmm1\n\t"
        "movdqu 32(%[in]), %%xmm2\n\t"
        "movdqu 48(%[in]), %%xmm3\n\t"
        "movdqu 64(%[in]), %%xmm4\n\t"
        "movdqu 80(%[in]), %%xmm5\n\t"
        "movdqu 96(%[in]), %%xmm6\n\t"
        "movdqu 112(%[in]), %%xmm7\n\t"
        "movdqu 128(%[in]), %%xmm8\n\t"
        "movdqu 144(%[in]), %%xmm9\n\t"
        "movdqu 160(%[in]), %%xmm10\n\t"
        "movdqu 176(%[in]), %%xmm11\n\t"
        "movdqu 192(%[in]), %%xmm12\n\t"
        "movdqu 208(%[in]), %%xmm13\n\t"
        "movdqu 224(%[in]), %%xmm14\n\t"
        "movdqu 240(%[in]), %%xmm15\n\t"
        "mov $1000, %%r8d\n\t"
        "1: xor %%eax, %%eax\n\t"
        "xor %%ecx, %%ecx\n\t"
        "cpuid\n\t"
        "dec %%r8d\n\t"
        "jnz 1b\n\t"
        "movdqu %%xmm0, 0(%[out])\n\t"
        "movdqu %%xmm1, 16(%[out])\n\t"
        "movdqu %%xmm2, 32(%[out])\n\t"
        "movdqu %%xmm3, 48(%[out])\n\t"
        "movdqu %%xmm4, 64(%[out])\n\t"
        "movdqu %%xmm5, 80(%[out])\n\t"
        "movdqu %%xmm6, 96(%[out])\n\t"
        "movdqu %%xmm7, 112(%[out])\n\t"
        "movdqu %%xmm8, 128(%[out])\n\t"
        "movdqu %%xmm9, 144(%[out])\n\t"
        "movdqu %%xmm10, 160(%[out])\n\t"
        "movdqu %%xmm11, 176(%[out])\n\t"
        "movdqu %%xmm12, 192(%[out])\n\t"
        "movdqu %%xmm13, 208(%[out])\n\t"
        "movdqu %%xmm14, 224(%[out])\n\t"
        "movdqu %%xmm15, 240(%[out])\n\t"
        :
        : [in] "r"(in), [out] "r"(out)
        : "rax", "rbx", "rcx", "rdx", "r8", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    same = memcmp(in, out, sizeof(in)) == 0;
    printf("E2E %s xmm-survives-exits: XMM0-15 %s across 1000 CPUID exits\n", same ? "PASS" : "FAIL",
           same ? "unchanged" : "CHANGED");
}

static int cmd_virt(const char *file)
{
    double native_empty = native_value(file, "empty"), native_cpuid = native_value(file, "cpuid");
    double native_rdmsr = native_value(file, "rdmsr"), native_bp = native_value(file, "bp");
    double v, cpuid_root;
    char cmd[256];
    uint32_t id;
    pid_t self = getpid();

    dev = open("/dev/hvcore", O_RDWR);
    if (dev < 0 || guest_pin(0) != 0 || native_cpuid < 0 || rs_map() != 0) {
        printf("HV-BENCH: virt: /dev/hvcore, cpu 0 or the native figures (%s) missing\n", file);
        return 1;
    }
    events_clear();
    xmm_survives_exits();
    bench("guest_tsc_per_instruction", tsc_per_instruction(), "tsc");
    bench("guest_empty_loop", native_empty, "instr");

    /* CPUID */
    v = best_cpuid(N_CPUID);
    cpuid_root = v - native_cpuid;
    bench("guest_cpuid_native", native_cpuid - native_empty, "instr");
    bench("guest_cpuid_virtualized", v - native_empty, "instr");
    bench("guest_cpuid_exit_root", cpuid_root, "instr");

    /* RDMSR 0x3A through the msr driver: one exit per read */
    uint64_t r0 = exits(31);
    v = best_rdmsr(N_RDMSR);
    double rdmsr_exits = (double)(exits(31) - r0) / (ROUNDS * N_RDMSR);
    if (v > 0 && native_rdmsr > 0 && rdmsr_exits >= 1.0) {
        bench("guest_rdmsr_feature_control_exit_root", (v - native_rdmsr) / rdmsr_exits, "instr");
        printf("HV-BENCH: pread(/dev/cpu/0/msr, 0x3a): native %.1f, virtualized %.1f, %.2f RDMSR exits each\n",
               native_rdmsr, v, rdmsr_exits);
    } else {
        printf("HV-BENCH: rdmsr: no figure (native %.1f, virtualized %.1f, %.2f RDMSR exits each)\n", native_rdmsr,
               v, rdmsr_exits);
    }

    vmcall_ping();

    /* MOV to DR7 with MOV-DR exiting on */
    if (native_bp < 0) {
        printf("HV-BENCH: no native breakpoint figure: no DR figures\n");
    } else {
        static const struct dr_case none = { "guest_dr_exit_no_match", "!dr pid 1: MOV-DR exiting on, no match" };
        static const struct dr_case brk = { "guest_dr_exit_imm_no_break", "!dr pid self imm no, break action" };
        static const struct dr_case code = { "guest_dr_exit_code_action", "!dr pid self imm no, code {90 90}" };
        static const struct dr_case script = { "guest_dr_exit_script_action",
                                               "!dr pid self imm no script { printf(...) }" };
        static const uint8_t nops[] = { 0x90, 0x90, 0xC3 };

        if (event_add(1, 1) != 0)
            dr_case_run(&none, native_bp, cpuid_root);
        events_clear();
        id = event_add((uint64_t)self, 0);
        if (id != 0 && event_action(id, HV_ABI_ACTION_BREAK, NULL, 0) == 0)
            dr_case_run(&brk, native_bp, cpuid_root);
        events_clear();
        id = event_add((uint64_t)self, 0);
        if (id != 0 && event_action(id, HV_ABI_ACTION_CODE, nops, sizeof(nops)) == 0)
            dr_case_run(&code, native_bp, cpuid_root);
        events_clear();
        snprintf(cmd, sizeof(cmd), "!dr pid %x script { printf(\"%%llx %%llx\\n\", $pid, @rax); } imm no",
                 (unsigned)self);
        if (access("/hv/hvctl", X_OK) != 0)
            printf("HV-BENCH: no /hv/hvctl: no script action figure\n");
        else if (hvctl(cmd) != 0)
            printf("HV-BENCH: hvctl %s failed (/tmp/hvbench-hvctl.out)\n", cmd);
        else
            dr_case_run(&script, native_bp, cpuid_root);
        events_clear();
    }

    /* !dr records per guest-second, a reader draining */
    throughput_figures(1, 0.25);
    throughput_figures(0, 0.25);

    msr_latency();
    events_clear();
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "native") == 0)
        return cmd_native(argv[2]);
    if (argc == 3 && strcmp(argv[1], "virt") == 0)
        return cmd_virt(argv[2]);
    fprintf(stderr, "usage: hvbench native|virt FILE\n");
    return 2;
}
