/* SPDX-License-Identifier: MIT */
/*
 * The OS-abstraction vtable: everything the platform-neutral core needs
 * from the operating system (or firmware) it is linked into.
 *
 * Context rules. Every member says where it may be called from:
 *   PRE-LAUNCH  only from normal kernel context, never inside a VM exit.
 *               It may sleep, allocate, take OS locks, send IPIs.
 *   ROOT-SAFE   may also be called inside a VM exit (VMX root, interrupts
 *               off, possibly while the OS is in the middle of anything):
 *               it must not sleep, allocate, take an OS lock that guest
 *               code could hold, or call into the OS's printk/DbgPrint path.
 * The core never calls a PRE-LAUNCH member from an exit handler; the
 * tests' fake OS checks that promise (see testing/mock.h).
 *
 * Locks are the core's own; the vtable has none on purpose.
 */
#ifndef HVCORE_OS_H
#define HVCORE_OS_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of the pages alloc_pages hands out (the x86 4 KiB page). */
#define HV_PAGE_SIZE 4096u

/* Severity of a log line (hv_os_ops.log). */
enum hv_log_level {
    HV_LOG_ERROR = 0,   /* something failed */
    HV_LOG_WARN  = 1,   /* something unexpected that was handled */
    HV_LOG_INFO  = 2,   /* progress (a CPU virtualized, ...) */
    HV_LOG_DEBUG = 3,   /* detail */
};

/* Order in which run_on_each_cpu visits CPUs. Bring-up uses ASCENDING and
 * teardown DESCENDING so that a rollback undoes work in reverse. */
enum hv_cpu_order {
    HV_CPU_ORDER_ANY        = 0, /* concurrently where the OS can */
    HV_CPU_ORDER_ASCENDING  = 1, /* one CPU at a time, 0 first */
    HV_CPU_ORDER_DESCENDING = 2, /* one CPU at a time, highest first */
};

/* A callback run on one CPU. It runs with preemption disabled on that CPU
 * and may execute VMX instructions; it returns its own status. */
typedef hv_status_t (*hv_cpu_fn)(uint32_t cpu, void *arg);

/* The OS vtable: what a platform gives the core (the contract is in the
 * file comment above and in docs/porting.md). */
struct hv_os_ops {
    /* sizeof(struct hv_os_ops) as the platform was compiled: lets a newer
     * core refuse (HV_STATUS_BAD_OS_OPS) or default members an older
     * platform does not know. */
    uint32_t size;
    /* Passed back as the first argument of every member. */
    void *ctx;

    /* ---- PRE-LAUNCH ---------------------------------------------------- */

    /* `count` zeroed, page-aligned 4 KiB pages, virtually contiguous.
     * NULL on failure. */
    void *(*alloc_pages)(void *ctx, size_t count);
    /* Free what alloc_pages returned (`count` as allocated). */
    void (*free_pages)(void *ctx, void *va, size_t count);

    /* Zeroed, page-aligned, *physically* contiguous memory below 2^48
     * (VMXON/VMCS regions, MSR bitmap, host stacks). NULL on failure. */
    void *(*alloc_contiguous)(void *ctx, size_t bytes);
    /* Free what alloc_contiguous returned (`bytes` as allocated). */
    void (*free_contiguous)(void *ctx, void *va, size_t bytes);

    /* Number of CPUs the core should manage; CPU indices are 0..count-1. */
    uint32_t (*cpu_count)(void *ctx);

    /* Run fn(cpu, arg) on `cpu` and wait for it. Returns fn's status, or
     * HV_STATUS_CPU_CALL_FAILED if the OS could not run it there. */
    hv_status_t (*run_on_cpu)(void *ctx, uint32_t cpu, hv_cpu_fn fn, void *arg);

    /* Run fn on every CPU in `order` and wait for all. Returns SUCCESS if
     * the OS ran fn everywhere (fn's own results travel through arg), or
     * HV_STATUS_CPU_CALL_FAILED if it could not. */
    hv_status_t (*run_on_each_cpu)(void *ctx, hv_cpu_fn fn, void *arg,
                                   enum hv_cpu_order order);

    /* ---- ROOT-SAFE ----------------------------------------------------- */

    /* Translate memory obtained from the allocators above. */
    uint64_t (*virt_to_phys)(void *ctx, const void *va);
    /* The reverse: a virtual address for physical address `pa` (guest
     * memory, exit/guest_mem.c); NULL if the OS does not map it. */
    void *(*phys_to_virt)(void *ctx, uint64_t pa);

    /* Index (0..cpu_count-1) of the CPU executing the caller. */
    uint32_t (*cpu_index)(void *ctx);

    /* Id of the process current on this CPU (from the OS's per-CPU data,
     * read without locks). 0 when there is none. */
    uint64_t (*current_pid)(void *ctx);

    /* Record a NUL-terminated line. Non-blocking and lock-free from the
     * caller's view: a platform defers printing to a safe context. */
    void (*log)(void *ctx, enum hv_log_level level, const char *msg);

    /* Tell the OS that `cpu`'s message ring has records for a reader. Must
     * only *schedule* the wake-up (IRQ work, DPC, ...); it runs later. */
    void (*notify)(void *ctx, uint32_t cpu);

    /* Unrecoverable state: stop the machine with `msg`. Does not return. */
    void (*panic)(void *ctx, const char *msg);

    /* ---- PRE-LAUNCH, optional (added in ABI 1.1; size tells) ------------ */

    /* Executable memory for custom-code actions: `bytes` are copied in and
     * the returned address may be called from VMX root. The mapping should
     * be read-only + executable once written (W^X). NULL on failure; a
     * platform without it (NULL member) has no custom-code actions. */
    void *(*alloc_exec)(void *ctx, const void *bytes, size_t len);
    /* Free what alloc_exec returned (`len` as allocated). */
    void (*free_exec)(void *ctx, void *code, size_t len);

    /* ---- NATIVE, optional (added in ABI 1.2) ----------------------------- */

    /* Deliver an NMI to the calling CPU (a self-IPI with NMI delivery
     * mode). Called on a CPU that has just left VMX (hv_stop), once for
     * each NMI that arrived while the hypervisor owned the CPU and that the
     * guest had not taken yet, so the OS's NMI handling (watchdog, perf,
     * the crash path) still sees it. Interrupts may be off; must not sleep.
     * NULL: such NMIs are logged as dropped. */
    void (*nmi_self)(void *ctx);
};

/* Whether vtable `os` has `member` set: its `size` covers the member and the
 * member is not NULL (for the optional ones above). */
#define HV_OS_HAS(os, member) \
    ((os)->size >= offsetof(struct hv_os_ops, member) + sizeof((os)->member) && (os)->member != NULL)

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_OS_H */
