/* SPDX-License-Identifier: MIT */
/*
 * Messages from VMX root to the OS: one single-producer ring per core.
 *
 * The producer is the core itself, inside a VM exit (no lock, no
 * allocation, never blocks: a full ring drops the record and counts it).
 * The consumer is a reader in normal OS context (one reader per ring at a
 * time; the platform serializes readers).
 *
 * Delivery (the `imm` option of an event):
 *   imm yes  the record becomes readable at once and os->notify(cpu) is
 *            called (the platform defers the actual wake-up).
 *   imm no   records are written but published in batches: when the
 *            core's record count reaches a multiple of HV_MSG_BATCH (so
 *            at most HV_MSG_BATCH are ever pending), or when
 *            hv_msg_flush() runs (the platform calls it from a timer,
 *            every HV_MSG_FLUSH_MS), whichever comes first. Faster (no
 *            wake-up per record), not real time, latency bounded by the
 *            timer.
 * An imm-yes record also publishes every record before it: readers always
 * see records in the order they were produced.
 *
 * Records are fixed-size (HV_MSG_RECORD_SIZE bytes), so a reader copies
 * whole records and can never see a torn one.
 */
#ifndef HVCORE_MSG_H
#define HVCORE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of every record (header + payload). */
#define HV_MSG_RECORD_SIZE 256u
/* Pending imm-no records that publish a batch without waiting for the timer. */
#define HV_MSG_BATCH       16u
/* Period of the platform's imm-no flush timer (hv_msg_flush, hv_event_flush). */
#define HV_MSG_FLUSH_MS    100u

/* What a record carries (hv_msg_header.kind). */
enum hv_msg_kind {
    HV_MSG_DR_ACCESS = 1,   /* an event fired on a debug-register access */
    HV_MSG_BREAK = 2,       /* a break action: full guest registers */
    HV_MSG_SCRIPT = 3,      /* text rendered by a script action */
    HV_MSG_CODE = 4,        /* custom code ran: its buffer's first bytes */
    HV_MSG_SCRIPT_STATUS = 5, /* a script run ended early: struct hv_msg_script_status (script.h) */
    /* A fragment of one recorded VM exit (trace.h): event_id = fragment
     * index | fragment count << 16, pid = the exit's seq on its core. */
    HV_MSG_EXIT_TRACE = 6,
};

/* Fixed header of every record (48 bytes). */
struct hv_msg_header {
    uint64_t seq;           /* per-core sequence number, from 1, no gaps */
    uint64_t pid;           /* process current on the core at the event */
    uint32_t event_id;      /* the event that produced it */
    uint32_t core;          /* the core (ring) that produced it */
    uint16_t kind;          /* enum hv_msg_kind */
    uint16_t payload_len;   /* bytes of payload used */
    uint32_t lost_before;   /* records dropped (ring full) just before this one */
    uint64_t timestamp;     /* producer-defined (e.g. TSC); 0 if none */
    uint64_t reserved;      /* 0 */
};

/* The decoded debug-register access carried by DR-access records. */
struct hv_msg_dr_access {
    uint32_t dr;            /* 0-7 (DR4/5 as the guest named them) */
    uint32_t direction;     /* 0 = MOV to DR, 1 = MOV from DR */
    uint32_t gpr;           /* register number of the other operand */
    uint32_t reserved;      /* 0 */
    uint64_t value;         /* the value written or read */
    uint64_t rip;           /* guest RIP of the MOV */
};

/* Payload bytes a record can carry (208). */
#define HV_MSG_PAYLOAD_MAX (HV_MSG_RECORD_SIZE - sizeof(struct hv_msg_header))

/* One record as readers receive it. */
struct hv_msg_record {
    struct hv_msg_header h; /* the header */
    uint8_t payload[HV_MSG_RECORD_SIZE - sizeof(struct hv_msg_header)]; /* h.payload_len bytes used */
};

/* One ring. The memory (hv_msg_ring_bytes(capacity)) comes from the OS
 * before launch; capacity is a power of two, >= 2 * HV_MSG_BATCH. */
struct hv_msg_ring;

/* Bytes of memory a ring of `capacity` records needs. Context: any. */
size_t hv_msg_ring_bytes(uint32_t capacity);
/* Initialize a ring in `mem` for `core`. Returns SUCCESS, or
 * INVALID_PARAMETER for a bad capacity or NULL. Context: PRE-LAUNCH. */
hv_status_t hv_msg_ring_init(void *mem, uint32_t capacity, uint32_t core, struct hv_msg_ring **out);

/* Producer (ROOT-SAFE, the ring's own core only): write one record.
 * `h` supplies event_id/pid/kind/timestamp; seq, core, lost_before and
 * payload_len are filled in. payload_len > HV_MSG_PAYLOAD_MAX is
 * truncated. Returns true if the record was published at once (imm, or a
 * batch filled) so the caller should os->notify; false if it was batched
 * or dropped. Context: ROOT-SAFE (no lock, no allocation, never blocks). */
bool hv_msg_put(struct hv_msg_ring *r, const struct hv_msg_header *h,
                const void *payload, uint32_t payload_len, bool imm);

/* Producer side: slots free for hv_msg_put right now (a record needing
 * several can check first, so that it goes in whole or not at all).
 * Context: ROOT-SAFE (the ring's own core). */
uint32_t hv_msg_room(const struct hv_msg_ring *r);
/* Producer side: count `n` records as dropped (ring full), as a failed
 * hv_msg_put would. Context: ROOT-SAFE (the ring's own core). */
void hv_msg_drop(struct hv_msg_ring *r, uint32_t n);

/* Publish every written record (the imm-no timer); returns true if
 * anything new became readable. Context: any. */
bool hv_msg_flush(struct hv_msg_ring *r);

/* Consumer: copy up to `max` readable records into `out`; returns how
 * many. Context: PRE-LAUNCH (normal OS context; not ROOT-SAFE): one reader
 * per ring at a time. */
uint32_t hv_msg_get(struct hv_msg_ring *r, struct hv_msg_record *out, uint32_t max);

/* Total records dropped because the ring was full. Context: any. */
uint64_t hv_msg_dropped(const struct hv_msg_ring *r);
/* Records published, not yet read. Context: any. */
uint32_t hv_msg_readable(const struct hv_msg_ring *r);
/* Records written, not yet published (imm no). Context: any. */
uint32_t hv_msg_pending(const struct hv_msg_ring *r);

/* A ring's totals since init. Each field is read atomically, but not all
 * at one instant: while the producer or a reader runs they may disagree
 * by a record or two (consumed <= produced always holds). Once the ring is
 * quiet, they are exact:
 *   records generated  = produced + dropped
 *   produced           = consumed + readable + pending
 *   dropped            = sum of the lost_before fields of every record
 *                        produced + unreported                          */
struct hv_msg_stats {
    uint64_t produced;      /* records that got in (the last one's seq) */
    uint64_t dropped;       /* records dropped because the ring was full */
    uint64_t consumed;      /* records copied out by readers */
    uint32_t readable;      /* published, not yet read */
    uint32_t pending;       /* written, not yet published (imm no) */
    /* Drops after the last record that got in (no record's lost_before
     * counts them yet; saturates). */
    uint32_t unreported;
    uint32_t capacity;      /* records the ring holds */
};

/* Fill `out` with the ring's totals; zeros for a NULL ring. Context: any. */
void hv_msg_stats(const struct hv_msg_ring *r, struct hv_msg_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_MSG_H */
