/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the guest test programs (hvtest, hvbench, hvstress,
 * dbgguest): each is one static binary built by build-static.sh from a
 * single source, so these are header-only. Include after defining
 * _GNU_SOURCE (CPU_SET).
 */
#ifndef HVCORE_E2E_GUEST_UTIL_H
#define HVCORE_E2E_GUEST_UTIL_H

#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>

/* Online CPUs, at least 1 and at most @max (the programs' per-CPU arrays). */
static inline int guest_ncpus(int max)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > max ? max : (int)n;
}

/* Run the calling thread on @cpu only; 0 or -1 (errno set). */
static inline int guest_pin(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

/* Monotonic seconds. */
static inline double guest_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A user-mode hardware write breakpoint on the 8 bytes at @addr for this
 * process, any CPU: the kernel programs DR0-DR3/DR7 for it on every context
 * switch in, which is what makes MOV-DR exits in the guest. Returns the perf
 * fd or -1 (errno set). @disabled: create it disabled (PERF_EVENT_IOC_ENABLE
 * arms it later).
 */
static inline int guest_hw_watch_open(const volatile void *addr, int disabled)
{
    struct perf_event_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.type = PERF_TYPE_BREAKPOINT;
    attr.size = sizeof(attr);
    attr.bp_type = HW_BREAKPOINT_W;
    attr.bp_addr = (uint64_t)(uintptr_t)addr;
    attr.bp_len = HW_BREAKPOINT_LEN_8;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    attr.disabled = disabled ? 1 : 0;
    return (int)syscall(__NR_perf_event_open, &attr, 0, -1, -1, 0);
}

#endif
