/* SPDX-License-Identifier: MIT */
/*
 * hvcore.efi internals: the UEFI OS layer (os_uefi.c), the AP service loop
 * (ap_loop.c), the CPU primitives it needs (cpu_uefi.c; a fake in the unit
 * tests), the host environment (host_env.c) and the entry (efi_main.c).
 */
#ifndef HVCORE_UEFI_H
#define HVCORE_UEFI_H

#include <efi.h>
#include <stdbool.h>
#include <stdint.h>

#include <hvcore/hv.h>
#include <hvcore/os.h>

#include "uefi_mp.h"

#define HVU_MAX_CPUS 64u

/*
 * One AP's mailbox. While hvcore is loaded every AP runs ap_loop() (started
 * once through MP Services) and takes its work from here instead of going
 * back to MP Services between calls: OVMF wakes an idle AP with
 * INIT-SIPI-SIPI (HLT loop mode), and an INIT reaching a virtualized CPU is
 * a VM exit that parks it, so a virtualized AP must never go idle in the
 * firmware. Sequence numbers, not flags: the BSP posts request n by
 * setting `req` to n, the AP answers by setting `done` to n.
 */
struct hvu_ap {
    volatile uint32_t running;  /* 1 while the AP is inside ap_loop() */
    volatile uint32_t quit;     /* BSP: leave the loop */
    volatile uint32_t req, done;
    volatile uint32_t asleep;   /* the AP is about to halt or halted */
    hv_cpu_fn fn;               /* hvcore work, or NULL for ... */
    HVU_AP_PROCEDURE proc;      /* ... a firmware AP procedure (MP Services) */
    void *arg;
    hv_status_t status;
    bool broken;                /* did not answer in time: never used again */
    EFI_EVENT finished_event;   /* MP Services signals it when ap_loop() returned */
    bool halting;               /* the AP halts between requests: wake it with an IPI */
    uint32_t cpu;
    struct hvu *u;
};

typedef void (*hvu_log_sink)(const char *line);

struct hvu {
    EFI_BOOT_SERVICES *bs;
    HVU_MP_SERVICES *mp;        /* NULL: MP Services missing, BSP only */
    uint32_t cpu_count;
    uint32_t bsp;               /* MP Services' number of the BSP */
    uint32_t apic_id[HVU_MAX_CPUS];
    struct hvu_ap ap[HVU_MAX_CPUS];
    /* APs halt between requests (xAPIC wake-up IPIs), else they spin. */
    bool halting_aps;
    /* Bounds the BSP's waits for an AP (µs of Stall); a test lowers it. */
    uint64_t ap_timeout_us;
    /* Pages obtained with AllocatePages and not yet freed (every byte the
     * hypervisor keeps comes from there: EfiRuntimeServicesData). */
    int64_t pages_outstanding;
    uint64_t pages_allocated, pages_freed;
    /* The MP Services members we replaced while APs are in ap_loop(). */
    void *mp_saved_this_ap, *mp_saved_all_aps;
    struct hv_os_ops ops;
};

/* ---- os_uefi.c ----------------------------------------------------------- */

/* Find MP Services (BSP only, with a warning, when missing), number the CPUs
 * and record their APIC IDs. */
EFI_STATUS hvu_init(struct hvu *u, EFI_BOOT_SERVICES *bs);
const struct hv_os_ops *hvu_os_ops(struct hvu *u);
/* Write one log line ("hvcore: ..." on the serial port). ROOT-SAFE. */
void hvu_log(const char *level, const char *msg);
/* Pages from/to AllocatePages(EfiRuntimeServicesData), counted. */
void *hvu_alloc_pages(struct hvu *u, size_t pages);
void hvu_free_pages(struct hvu *u, void *va, size_t pages);

/* ---- ap_loop.c ----------------------------------------------------------- */

/* Run fn on AP `cpu` through its mailbox (starting ap_loop() there through
 * MP Services the first time). CPU_CALL_FAILED if it cannot. */
hv_status_t hvu_ap_call(struct hvu *u, uint32_t cpu, hv_cpu_fn fn, void *arg);
/* Let every AP leave ap_loop() and wait until MP Services has it back.
 * `at_exit_boot_services`: timers are off then, so only the loop's own
 * flag is waited for (the image stays: it is runtime memory). */
void hvu_ap_release_all(struct hvu *u, bool at_exit_boot_services);
/* Route MP Services' StartupThisAP/StartupAllAPs for APs inside ap_loop()
 * through the mailboxes (other firmware code keeps working while the APs
 * are hvcore's), and restore them. */
void hvu_mp_interpose(struct hvu *u);
void hvu_mp_restore(struct hvu *u);

/* ---- cpu_uefi.c (faked by the unit tests) ------------------------------- */

uint32_t hvu_cpu_apic_id(void);
void hvu_cpu_relax(void);
/* Halting APs (instead of spinning, which an emulator pays for on every
 * CPU): true when the local APIC is in xAPIC mode, where the BSP can wake
 * an AP with a fixed IPI. Called on the BSP before any AP idles. */
bool hvu_cpu_wake_ready(void);
/* On an AP in its service loop: load/unload hvcore's IDT (every vector:
 * EOI and return), saving the firmware's IDTR in `saved` (10 bytes). */
void hvu_cpu_idt_enter(void *saved);
void hvu_cpu_idt_leave(const void *saved);
/* Interrupts off; "sti; hlt" (the next interrupt ends it); off again. */
void hvu_cpu_halt(void);
void hvu_cpu_cli(void);
/* The wake-up IPI to the CPU with this APIC ID. */
void hvu_cpu_wake(uint32_t apic_id);
void hvu_serial_write(const char *s, size_t n);
void hvu_cpu_stop(void) __attribute__((noreturn));

#endif
