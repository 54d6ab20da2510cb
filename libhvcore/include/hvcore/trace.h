/* SPDX-License-Identifier: MIT */
/*
 * Exit recording (`hvctl record`) and the trace file format (version 1).
 *
 * While a recording runs, each core keeps, for every VM exit, what its
 * handler saw and did: the exit reason, the guest GPRs before and after,
 * every VMCS field read (first value only), every VMCS write in order
 * (injections are the writes of VM_ENTRY_INTR_INFO and friends), the
 * values the handler took from the CPU (CPUID, RDMSR, debug and control
 * registers) and what it wrote there (WRMSR, DR/CR writes, XSETBV), and
 * the action. The record is built in per-core memory allocated when the
 * recording starts (never in the exit) and goes to the core's message ring
 * (msg.h) as HV_MSG_EXIT_TRACE records: one record cut into
 * HV_MSG_PAYLOAD_MAX-byte fragments, all of them or none (a full ring
 * drops the whole exit and counts it).
 *
 * Off, it costs one predictable branch per VMCS access (hv_trace_armed)
 * and one per exit (vcpu->trace).
 *
 * File layout (docs/trace-format.md), all little-endian:
 *   struct hv_trace_file_header (80 bytes)
 *   `exits` records, each a struct hv_trace_exit (32 bytes), then
 *     uint64_t gprs_before[16]            (RSP's slot: whatever the stub left)
 *     uint64_t gprs_after[popcount(gpr_changed)] (ascending register number)
 *     struct hv_trace_field reads[nreads]
 *     struct hv_trace_field writes[nwrites]
 *     struct hv_trace_io io[nio]
 *   and nothing else: size == the sum of those parts.
 * A reader refuses other magics, a version it does not know, a header_size
 * below 80 (a larger one is skipped: fields appended later), and any
 * record whose counts disagree with its size.
 */
#ifndef HVCORE_TRACE_H
#define HVCORE_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include "hv.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** File magic: the 8 bytes "HVTRACE\0". */
#define HV_TRACE_MAGIC "HVTRACE"
/** Version of the file and record layout described here. */
#define HV_TRACE_VERSION 1u

/** VMCS reads one record holds; past it the exit is flagged and dropped. */
#define HV_TRACE_MAX_READS  48u
/** VMCS writes one record holds. */
#define HV_TRACE_MAX_WRITES 32u
/** CPU accesses one record holds. */
#define HV_TRACE_MAX_IO     16u

/** The file header (80 bytes). */
struct hv_trace_file_header {
    char magic[8];              /**< "HVTRACE\0" */
    uint16_t version;           /**< HV_TRACE_VERSION */
    uint16_t header_size;       /**< 80; records start here */
    uint32_t core_count;        /**< cores of the recorded machine */
    uint32_t cpu_vendor[3];     /**< CPUID 0: EBX, EDX, ECX ("GenuineIntel") */
    uint32_t cpu_signature;     /**< CPUID 1 EAX: family, model, stepping */
    uint64_t vmx_basic;         /**< IA32_VMX_BASIC of core 0 (revision, TRUE controls) */
    uint64_t exits;             /**< records in the file */
    uint64_t dropped;           /**< exits lost while recording (ring full, cut records) */
    uint32_t reasons[3];        /**< basic reasons recorded (bit n = reason n); all 0 = every reason */
    uint32_t reserved[3];       /**< 0 */
};

/** hv_trace_exit.flags. */
enum hv_trace_flags {
    HV_TRACE_EXIT_TRUNCATED = 1u << 0, /**< a list overflowed: the record is incomplete */
    /** The handler ran code the record does not hold (a RUN_IN_ROOT request
     * from the OS, devirtualization, an event's condition, custom code,
     * callback or script): replay skips the exit and counts it. */
    HV_TRACE_EXIT_OPAQUE = 1u << 1,
};

/** Fixed part of one exit record (32 bytes). */
struct hv_trace_exit {
    uint32_t size;              /**< bytes of the record, this header included */
    uint16_t core;              /**< the exiting core */
    uint8_t action;             /**< the handler's enum hv_exit_action (after event-delivery completion) */
    uint8_t result;             /**< what hv_exit_dispatch returned */
    uint64_t seq;               /**< exit number on this core, from 1, counting every exit while recording */
    uint32_t reason;            /**< full exit-reason field */
    uint16_t gpr_changed;       /**< bit r: GPR r changed; its after-value follows the before-values */
    uint8_t nreads;             /**< struct hv_trace_field entries: VMCS reads */
    uint8_t nwrites;            /**< then VMCS writes */
    uint8_t nio;                /**< then struct hv_trace_io entries */
    uint8_t flags;              /**< enum hv_trace_flags */
    uint16_t reserved0;         /**< 0 */
    uint32_t reserved1;         /**< 0 */
};

/** A VMCS field read or written (16 bytes). */
struct hv_trace_field {
    uint32_t field;             /**< the encoding */
    uint32_t status;            /**< reads: hv_status_t of the VMREAD; writes: of the VMWRITE */
    uint64_t value;             /**< the value read or written */
};

/** hv_trace_io.kind: what the handler asked of, or did to, the CPU. */
enum hv_trace_io_kind {
    HV_TRACE_IO_CPUID = 1,      /**< in:  key = leaf, key2 = subleaf, value[0] = EAX | EBX << 32, value[1] = ECX | EDX << 32 */
    HV_TRACE_IO_RDMSR = 2,      /**< in:  key = MSR, status, value[0] */
    HV_TRACE_IO_WRMSR = 3,      /**< out: key = MSR, status, value[0] */
    HV_TRACE_IO_READ_DR = 4,    /**< in:  key = DR number, value[0] */
    HV_TRACE_IO_WRITE_DR = 5,   /**< out: key = DR number, value[0] */
    HV_TRACE_IO_READ_CR = 6,    /**< in:  key = CR number, value[0] */
    HV_TRACE_IO_WRITE_CR = 7,   /**< out: key = CR number, value[0] */
    HV_TRACE_IO_XSETBV = 8,     /**< out: key = XCR, status, value[0] */
    HV_TRACE_IO_FC_VIRTUAL = 9, /**< in:  the guest's virtual IA32_FEATURE_CONTROL, value[0] */
};

/** One CPU access (32 bytes). */
struct hv_trace_io {
    uint16_t kind;              /**< enum hv_trace_io_kind */
    uint16_t reserved;          /**< 0 */
    uint32_t key;               /**< leaf, MSR, register number */
    uint32_t key2;              /**< CPUID subleaf; else 0 */
    uint32_t status;            /**< hv_status_t of a fault-safe access; else 0 */
    uint64_t value[2];          /**< the data (see the kind) */
};

/** Is `kind` something the handler did (compared by replay) rather than read?
 * Context: any. */
static inline bool hv_trace_io_is_output(uint32_t kind)
{
    return kind == HV_TRACE_IO_WRMSR || kind == HV_TRACE_IO_WRITE_DR || kind == HV_TRACE_IO_WRITE_CR ||
           kind == HV_TRACE_IO_XSETBV;
}

/** Largest record: fixed part, 32 GPR values, every list full. */
#define HV_TRACE_MAX_RECORD (sizeof(struct hv_trace_exit) + 32u * 8u +                      \
                             (HV_TRACE_MAX_READS + HV_TRACE_MAX_WRITES) * sizeof(struct hv_trace_field) + \
                             HV_TRACE_MAX_IO * sizeof(struct hv_trace_io))

/** How a recording is asked for (hv_trace_start). */
struct hv_trace_config {
    uint64_t max_exits;         /**< exits to record over all cores (lost ones do not count); 0 = until hv_trace_stop */
    uint32_t reasons[3];        /**< basic reasons to record (bit n = reason n); all 0 = every reason */
    /** true: records are not sent to the rings; each core keeps its last
     * one for hv_trace_last() (what replay compares against). */
    bool keep_last;
};

/** Counters of the recording (hv_trace_status). */
struct hv_trace_status {
    uint32_t active;            /**< 1 while exits are being recorded */
    uint32_t core_count;        /**< cores of this machine */
    uint64_t recorded;          /**< records that reached a ring (or were kept) */
    uint64_t dropped;           /**< exits lost: a ring was full or a record was cut */
    uint64_t max_exits;         /**< as started */
    uint32_t reasons[3];        /**< as started */
    uint32_t cpu_vendor[3];     /**< CPUID 0 EBX, EDX, ECX of core 0 */
    uint32_t cpu_signature;     /**< CPUID 1 EAX of core 0 */
    uint64_t vmx_basic;         /**< IA32_VMX_BASIC of core 0 */
};

/** Start recording (or restart with new settings). The per-core memory and
 * the message rings are allocated here. Returns SUCCESS, INVALID_PARAMETER
 * (hv or cfg NULL, a reason bit beyond the table, another instance is
 * recording), NOT_VIRTUALIZED (hv_start has not run), or
 * INSUFFICIENT_RESOURCES. Context: PRE-LAUNCH. */
hv_status_t hv_trace_start(struct hv *hv, const struct hv_trace_config *cfg);
/** Stop recording; records already in the rings stay there. SUCCESS or
 * INVALID_PARAMETER (hv NULL). Context: PRE-LAUNCH. */
hv_status_t hv_trace_stop(struct hv *hv);
/** Fill `out` (zeros if no recording was ever started). SUCCESS or
 * INVALID_PARAMETER. Context: any. */
hv_status_t hv_trace_get_status(struct hv *hv, struct hv_trace_status *out);
/** With keep_last: the last record `core` built (NULL, 0 if none).
 * Context: PRE-LAUNCH, on a quiet core. */
const struct hv_trace_exit *hv_trace_last(struct hv *hv, uint32_t core);
/** Free the recording's memory (hv_destroy calls it). Context: PRE-LAUNCH. */
void hv_trace_destroy(struct hv *hv);

/** Bytes of the record's parts, checked against its size: true if `rec`
 * (with `avail` bytes readable from it) is a well-formed record. Context: any. */
bool hv_trace_exit_valid(const struct hv_trace_exit *rec, uint32_t avail);
/** Set bits of a GPR mask (no libgcc helper in kernel builds). Context: any. */
static inline uint32_t hv_trace_popcount16(uint32_t m)
{
    uint32_t n = 0;

    for (m &= 0xFFFFu; m != 0; m &= m - 1u)
        n++;
    return n;
}
/** The 16 GPRs before the handler ran, of a well-formed record
 * (hv_trace_exit_valid). Context: any. */
static inline const uint64_t *hv_trace_gprs_before(const struct hv_trace_exit *r)
{
    return (const uint64_t *)(const void *)(r + 1);
}
/** The after-values of the GPRs set in gpr_changed. Context: any. */
static inline const uint64_t *hv_trace_gprs_after(const struct hv_trace_exit *r)
{
    return hv_trace_gprs_before(r) + 16;
}
/** The VMCS reads (nreads entries). Context: any. */
static inline const struct hv_trace_field *hv_trace_reads(const struct hv_trace_exit *r)
{
    return (const struct hv_trace_field *)(const void *)(hv_trace_gprs_after(r) +
                                                         hv_trace_popcount16(r->gpr_changed));
}
/** The VMCS writes, in order (nwrites entries). Context: any. */
static inline const struct hv_trace_field *hv_trace_writes(const struct hv_trace_exit *r)
{
    return hv_trace_reads(r) + r->nreads;
}
/** The CPU accesses, in order (nio entries). Context: any. */
static inline const struct hv_trace_io *hv_trace_ios(const struct hv_trace_exit *r)
{
    return (const struct hv_trace_io *)(const void *)(hv_trace_writes(r) + r->nwrites);
}

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_TRACE_H */
