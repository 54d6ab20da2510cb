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
#include "script.h"

/* The ABI version: hv_abi_header.version of every request. */
#define HV_ABI_VERSION 1u
/* No request may claim more than this (bounds every copy from the caller). */
#define HV_ABI_MAX_REQUEST (1u << 20)

/* The first 16 bytes of every request. */
struct hv_abi_header {
    uint32_t size;      /* bytes of the whole request, header included */
    uint16_t version;   /* HV_ABI_VERSION the caller was built with */
    uint16_t flags;     /* 0 */
    uint32_t status;    /* out: hv_status_t */
    uint32_t reserved;  /* 0 */
};

/* ---- QUERY: version, CPU count, per-CPU state and exit counters ------- */
#define HV_ABI_EXIT_COUNTERS 87u /* HV_EXIT_REASON_COUNT + 1 (overflow slot) */

/* One CPU in a QUERY response. */
struct hv_abi_cpu_state {
    uint32_t virtualized;   /* 1 if this CPU runs under the hypervisor */
    uint32_t status;        /* its last bring-up status (hv_status_t) */
    uint64_t exit_count[HV_ABI_EXIT_COUNTERS]; /* exits by basic reason; the last slot counts reasons beyond the table */
};

/* QUERY (HVCORE_IOCTL_QUERY): version, CPU count, per-CPU state. */
struct hv_abi_query {
    struct hv_abi_header hdr;   /* size covers cpus[cpu_capacity] */
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
/* hv_abi_msr_op.action. */
enum hv_abi_msr_action {
    HV_ABI_MSR_READ = 0,    /* rdmsr */
    HV_ABI_MSR_WRITE = 1,   /* wrmsr */
};

/* The MSR operation of an MSR or MSR_VALUES request. */
struct hv_abi_msr_op {
    uint64_t msr;           /* index; must fit 32 bits */
    uint32_t core_number;   /* a core, or HV_ABI_ALL_CORES */
    uint32_t action;        /* enum hv_abi_msr_action */
    uint64_t value;         /* write: the value */
};

/* One core's outcome (HVCORE_IOCTL_MSR). */
struct hv_abi_msr_result {
    uint32_t core;          /* the core this result is for */
    uint32_t status;        /* hv_status_t for this core */
    uint64_t value;         /* read: the value; write: the value written */
    uint32_t route;         /* 0 physical MSR, 1 VMCS guest field, 2 virtual copy */
    uint32_t in_root;       /* 1: ran in VMX root */
};

/* HVCORE_IOCTL_MSR: per-core value and status. The buffer must hold one
 * result per target core (checked before anything runs); hdr.status is
 * SUCCESS or the first failing core's status. */
struct hv_abi_msr {
    struct hv_abi_header hdr;  /* size covers results[result_capacity] */
    struct hv_abi_msr_op op;   /* what to do */
    uint32_t result_capacity;  /* in: entries in results[] */
    uint32_t results_written;  /* out */
    struct hv_abi_msr_result results[]; /* out: one per target core, ascending */
};

/* HVCORE_IOCTL_MSR_VALUES: the twin for callers that want the values
 * only, one UINT64 per target core (as rdmsr's output), and hdr.status. */
struct hv_abi_msr_values {
    struct hv_abi_header hdr;  /* size covers values[value_capacity] */
    struct hv_abi_msr_op op;   /* what to do */
    uint32_t value_capacity;   /* in: entries in values[] */
    uint32_t values_written;   /* out */
    uint64_t values[];         /* out: one per target core, ascending */
};

/* ---- Events (!dr) --------------------------------------------------------
 * Variable data (condition/code bytes, script text) follows the fixed part
 * and is counted by its *_len field; the header's size must cover it. */
/* hv_abi_event_ctl.id: every event. */
#define HV_ABI_EVENT_ALL 0xFFFFFFFFu

struct hv_abi_event_add {           /* EVENT_ADD (HVCORE_IOCTL_EVENT_ADD): add one event */
    struct hv_abi_header hdr;       /* size covers data[condition_len] */
    uint32_t type;                  /* 1 = debug-register access */
    uint32_t core;                  /* a core, or HV_ABI_ALL_CORES */
    uint64_t pid;                   /* a process, or UINT64_MAX for any */
    uint32_t imm;                   /* 1 = deliver at once, 0 = batched */
    uint32_t buffer_size;           /* pre-allocated buffer for actions */
    uint32_t disabled;              /* 1 = add it disabled */
    uint32_t condition_len;         /* bytes in data[] (0 = no condition) */
    uint32_t id;                    /* out */
    uint32_t reserved;              /* 0 */
    uint8_t data[];                 /* the condition's code */
};

/* hv_abi_event_action.kind. */
enum hv_abi_action_kind {
    HV_ABI_ACTION_BREAK = 1,        /* break record with the guest registers */
    HV_ABI_ACTION_CODE = 2,         /* custom x86-64 code (data[] = the code) */
    HV_ABI_ACTION_SCRIPT = 3,       /* legacy format string (text incl. NUL) */
    HV_ABI_ACTION_PROGRAM = 4,      /* script bytecode (hvcore/script.h), at most HV_SCRIPT_MAX_PROGRAM bytes */
};

struct hv_abi_event_action {        /* EVENT_ACTION (HVCORE_IOCTL_EVENT_ACTION): add an action */
    struct hv_abi_header hdr;       /* size covers data[data_len] */
    uint32_t id;                    /* the event */
    uint32_t kind;                  /* enum hv_abi_action_kind */
    uint32_t data_len;              /* code bytes, or script text incl. NUL */
    uint32_t reserved;              /* 0 */
    uint8_t data[];                 /* code, text or bytecode */
};

/* hv_abi_event_ctl.op. */
enum hv_abi_event_op {
    HV_ABI_EVENT_ENABLE = 1,        /* enable */
    HV_ABI_EVENT_DISABLE = 2,       /* disable */
    HV_ABI_EVENT_REMOVE = 3,        /* remove */
};

struct hv_abi_event_ctl {           /* EVENT_CTL (HVCORE_IOCTL_EVENT_CTL): enable, disable, remove */
    struct hv_abi_header hdr;       /* size = sizeof(struct hv_abi_event_ctl) */
    uint32_t op;                    /* enum hv_abi_event_op */
    uint32_t id;                    /* an id, or HV_ABI_EVENT_ALL */
};

/* One event in an EVENT_LIST response. */
struct hv_abi_event_info {
    uint32_t id, type, core, enabled; /* id, type (1 = DR access), core filter, 1 if enabled */
    uint64_t pid;                   /* pid filter (UINT64_MAX = any) */
    uint64_t fired;                 /* times it ran */
    uint32_t actions;               /* bitmask of 1 << kind */
    uint32_t imm;                   /* 1: imm yes */
};

struct hv_abi_event_list {          /* EVENT_LIST (HVCORE_IOCTL_EVENT_LIST): the events, ascending id */
    struct hv_abi_header hdr;       /* size covers events[capacity] */
    uint32_t capacity;              /* in: entries in events[] */
    uint32_t count;                 /* out: events that exist */
    struct hv_abi_event_info events[]; /* out: min(count, capacity) entries */
};

/* ---- EVENT_RINGS: the message rings' counters, one entry per core --------
 * Totals since the rings were made (with the first event added after the
 * hypervisor started; count is 0 before). Exact once no event can fire any
 * more (all removed) and the rings are drained; while events fire, each
 * entry may lag by a record or two (hvcore/msg.h, struct hv_msg_stats):
 *   records generated on a core = produced + dropped
 *   produced = consumed + readable + pending
 *   dropped  = the lost_before fields of its records + unreported
 * Added after version 1 without changing any older layout: a hypervisor
 * that predates it rejects the request (an unknown ioctl or request). */
/* One core's ring counters in an EVENT_RINGS response. */
struct hv_abi_ring_stats {
    uint32_t core;                  /* the ring's core */
    uint32_t capacity;              /* records the ring holds */
    uint64_t produced;              /* records that got in (= the last seq) */
    uint64_t dropped;               /* records dropped: the ring was full */
    uint64_t consumed;              /* records read out */
    uint32_t readable;              /* published, not yet read */
    uint32_t pending;               /* written, not yet published (imm no) */
    uint32_t unreported;            /* drops not yet in any record's lost_before */
    uint32_t reserved;              /* 0 */
};

struct hv_abi_event_rings {         /* EVENT_RINGS (HVCORE_IOCTL_EVENT_RINGS): ring counters */
    struct hv_abi_header hdr;       /* size covers rings[capacity] */
    uint32_t capacity;              /* in: entries in rings[] */
    uint32_t count;                 /* out: rings that exist (0 or the CPU count) */
    struct hv_abi_ring_stats rings[]; /* min(count, capacity) written */
};

/* ---- SCRIPT_EVAL: run a script once on a core (`?` in hvctl) ----------------
 * data[] holds the program (hvcore/script.h bytecode, data_len bytes); the
 * result comes back in place. hdr.status: whether the run took place; the
 * run's own status is result.status. Added after version 1 as a new
 * request; an older hypervisor rejects it. */
struct hv_abi_script_eval {         /* SCRIPT_EVAL (HVCORE_IOCTL_SCRIPT_EVAL): run a script once */
    struct hv_abi_header hdr;       /* size covers data[data_len] */
    uint32_t core;                  /* where to run */
    uint32_t data_len;              /* program bytes in data[] */
    struct hv_script_eval_result result; /* out */
    uint8_t data[];                 /* the program */
};

/* ---- TRACE: exit recording (`hvctl record`, hvcore/trace.h) ---------------
 * op START arms recording on every core (max_exits over all cores, 0 = until
 * STOP; reasons bit n = basic reason n, all 0 = every reason); STOP disarms;
 * STATUS changes nothing. Every op answers with the counters and the CPU
 * facts a trace file's header needs. Records arrive in the message stream
 * (read(), HV_MSG_EXIT_TRACE fragments). Added after version 1 as a new
 * request; an older hypervisor rejects it. */
/* hv_abi_trace.op. */
enum hv_abi_trace_op {
    HV_ABI_TRACE_START = 1,         /* arm */
    HV_ABI_TRACE_STOP = 2,          /* disarm */
    HV_ABI_TRACE_STATUS = 3,        /* counters only */
};

struct hv_abi_trace {               /* TRACE (HVCORE_IOCTL_TRACE): exit recording */
    struct hv_abi_header hdr;       /* size = sizeof(struct hv_abi_trace) */
    uint32_t op;                    /* enum hv_abi_trace_op */
    uint32_t reserved;              /* 0 */
    uint64_t max_exits;             /* START: exits to record, 0 = until STOP */
    uint32_t reasons[3];            /* START: basic reasons (bitmap), all 0 = all */
    uint32_t active;                /* out: 1 while recording */
    uint64_t recorded;              /* out: records sent to the rings */
    uint64_t dropped;               /* out: exits lost (ring full, record too big) */
    uint32_t core_count;            /* out */
    uint32_t cpu_vendor[3];         /* out: CPUID 0 EBX, EDX, ECX */
    uint32_t cpu_signature;         /* out: CPUID 1 EAX */
    uint32_t reserved2;             /* 0 */
    uint64_t vmx_basic;             /* out: IA32_VMX_BASIC */
};

/* read() on the device returns whole struct hv_msg_record (hvcore/msg.h),
 * HV_MSG_RECORD_SIZE bytes each; a buffer smaller than one record is
 * EINVAL. poll() reports POLLIN when a record is readable. */

#endif
