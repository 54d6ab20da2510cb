/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Internal interfaces of the Linux platform of libhvcore. */
#ifndef HVCORE_LINUX_H
#define HVCORE_LINUX_H

#include <hvcore/hvcore.h>

struct hv;

/* os_linux.c */
const struct hv_os_ops *hvl_os_ops(void);
int hvl_os_init(void);
void hvl_os_exit(void);
/* Print what the ROOT-SAFE log collected (PRE-LAUNCH context). */
void hvl_log_flush(void);
/* Outstanding allocations made through the vtable (leak checks). */
long hvl_allocations(void);

/* Readers of /dev/hvcore wait here; os->notify wakes them (deferred). */
struct wait_queue_head;
struct wait_queue_head *hvl_reader_wq(void);

/* dev.c */
int hvl_dev_init(struct hv *hv);
void hvl_dev_exit(void);
/* The machine is going down: finish requests in flight, refuse new ones
 * (-ESHUTDOWN), remove every event. */
void hvl_dev_shutdown(void);

/* lifecycle.c: reboot/halt/power-off/kexec and the emergency paths
 * devirtualize every CPU before the machine or the next kernel goes on. */
int hvl_lifecycle_init(struct hv *hv);
void hvl_lifecycle_exit(void);

/* debugger.c: Debugger Mode (debug=ttyS0 | debug=0x3f8). hvl_debug_init
 * checks the parameters, reserves the UART's ports, maps the local APIC
 * and fills cfg->debug_*; without debug= it does nothing and returns 0.
 * hvl_debug_exit undoes it (after hv_destroy). */
struct hv_config;
int hvl_debug_init(struct hv_config *cfg);
void hvl_debug_exit(void);

#endif
