/*
 * Guest-side end-to-end checks, run inside the emulated machine after
 * `insmod hvcore.ko` (and, with "after-unload", after `rmmod`).
 *
 *   hvtest loaded          the hypervisor is there and the kernel works
 *   hvtest unloaded        nothing of it is left
 *   hvtest allocations     print the module's outstanding allocations
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

#include <hvcore/abi.h>
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
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static int pin(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
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

        if (pin(c) != 0)
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
    pin(0);
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

    if (pin(cpu) != 0)
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

            pin(c);
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
