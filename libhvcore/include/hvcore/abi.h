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

/* ---- MSR read/write on one core or all cores --------------------------
 * The fields users of `wrmsr <msr> <value> [core <n>]` know:
 * { UINT64 Msr; UINT32 CoreNumber (0xFFFFFFFF = all); ActionType; UINT64 Value }.
 */
#define HV_ABI_ALL_CORES 0xFFFFFFFFu
enum hv_abi_msr_action {
    HV_ABI_MSR_READ = 0,
    HV_ABI_MSR_WRITE = 1,
};

struct hv_abi_msr_op {
    uint64_t msr;           /* index; must fit 32 bits */
    uint32_t core_number;   /* a core, or HV_ABI_ALL_CORES */
    uint32_t action;        /* enum hv_abi_msr_action */
    uint64_t value;         /* write: the value */
};

/* One core's outcome (HVCORE_IOCTL_MSR). */
struct hv_abi_msr_result {
    uint32_t core;
    uint32_t status;        /* hv_status_t for this core */
    uint64_t value;         /* read: the value; write: the value written */
    uint32_t route;         /* 0 physical MSR, 1 VMCS guest field, 2 virtual copy */
    uint32_t in_root;       /* 1: ran in VMX root */
};

/* HVCORE_IOCTL_MSR: per-core value and status. The buffer must hold one
 * result per target core (checked before anything runs); hdr.status is
 * SUCCESS or the first failing core's status. */
struct hv_abi_msr {
    struct hv_abi_header hdr;
    struct hv_abi_msr_op op;
    uint32_t result_capacity;  /* in: entries in results[] */
    uint32_t results_written;  /* out */
    struct hv_abi_msr_result results[];
};

/* HVCORE_IOCTL_MSR_VALUES: the twin for callers that want the values
 * only, one UINT64 per target core (as rdmsr's output), and hdr.status. */
struct hv_abi_msr_values {
    struct hv_abi_header hdr;
    struct hv_abi_msr_op op;
    uint32_t value_capacity;   /* in: entries in values[] */
    uint32_t values_written;   /* out */
    uint64_t values[];
};

#endif
