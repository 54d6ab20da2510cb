/* SPDX-License-Identifier: MIT */
/* Internal interfaces of the Windows platform of libhvcore (hvcore.sys). */
#ifndef HVCORE_WINDOWS_H
#define HVCORE_WINDOWS_H

#include <stdbool.h>
#include <stdint.h>
#include <hvcore/hvcore.h>

/* os_windows.c: struct hv_os_ops over the Windows kernel. PASSIVE_LEVEL. */
hv_status_t hvw_os_init(void);
void hvw_os_exit(void);
const struct hv_os_ops *hvw_os_ops(void);
/* Active processors over every processor group (the core's CPU count). */
uint32_t hvw_cpu_count(void);
/* Group and number of the core's CPU index `cpu`; false if out of range. */
bool hvw_cpu_group(uint32_t cpu, uint16_t *group, uint8_t *number);
/* Whether ORDER_ANY broadcasts use KeIpiGenericCall (found at run time)
 * rather than KeGenericCallDpc. */
bool hvw_os_uses_ipi(void);
/* Print what the ROOT-SAFE log collected (IRQL <= DISPATCH_LEVEL, never in
 * VMX root). */
void hvw_log_flush(void);
/* Outstanding allocations made through the vtable (leak checks). */
long hvw_allocations(void);
/* Whether os->notify ran since the last call (and clear it). */
bool hvw_notify_take(void);

/* vmx_check.c: whether every processor could be virtualized, decided
 * without executing a VMX instruction or writing IA32_FEATURE_CONTROL:
 * SUCCESS, VMX_NOT_SUPPORTED, VMX_DISABLED_BY_FIRMWARE (locked off, or
 * unlocked: the driver never writes it) or INSUFFICIENT_RESOURCES (no
 * contiguous memory); the reason is logged. PASSIVE_LEVEL. */
hv_status_t hvw_vmx_check(void);

#endif
