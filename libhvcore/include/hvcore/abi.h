/* SPDX-License-Identifier: MIT */
/*
 * Request layouts shared by every transport (Linux ioctl, Windows
 * IOCTL, the wire protocol): fixed-width fields, explicit padding, no
 * pointers. Every request starts with struct hv_abi_header, whose `size`
 * is the byte length of the whole request as the caller built it and
 * `version` the ABI version it was built against; the receiver checks
 * both before reading anything else and writes its result into `status`.
 */
#ifndef HVCORE_ABI_H
#define HVCORE_ABI_H

#include <stdint.h>

#define HV_ABI_VERSION 1u
/* No request may claim more than this (bounds every copy from the caller). */
#define HV_ABI_MAX_REQUEST (1u << 20)

struct hv_abi_header {
    uint32_t size;      /* bytes of the whole request, header included */
    uint16_t version;   /* HV_ABI_VERSION the caller was built with */
    uint16_t flags;     /* 0 */
    uint32_t status;    /* out: hv_status_t */
    uint32_t reserved;  /* 0 */
};

/* ---- QUERY: version, CPU count, per-CPU state and exit counters ------- */
#define HV_ABI_EXIT_COUNTERS 87u /* HV_EXIT_REASON_COUNT + 1 (overflow slot) */

struct hv_abi_cpu_state {
    uint32_t virtualized;   /* 1 if this CPU runs under the hypervisor */
    uint32_t status;        /* its last bring-up status (hv_status_t) */
    uint64_t exit_count[HV_ABI_EXIT_COUNTERS];
};

struct hv_abi_query {
    struct hv_abi_header hdr;
    uint32_t abi_version;   /* out */
    uint32_t cpu_count;     /* out: CPUs the hypervisor manages */
    uint32_t cpu_capacity;  /* in: entries the caller allocated in cpus[] */
    uint32_t cpus_written;  /* out: min(cpu_count, cpu_capacity) */
    uint64_t allocations;   /* out: the platform's outstanding allocations */
    char signature[16];     /* out: CPUID 0x40000000 signature, NUL-padded */
    struct hv_abi_cpu_state cpus[]; /* cpu_capacity entries */
};

#endif
