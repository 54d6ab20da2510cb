/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — replay of recorded VM exits (trace.h) on the mock.
 *
 * Each record is fed to hv_exit_dispatch() on a fresh mock machine with
 * the recorded machine's core count (Haswell profile, the one Bochs
 * models): the core's VMCS holds only the fields the record says the
 * handler read (any other read is a reported mock failure, hence a
 * divergence), the CPU answers CPUID/RDMSR/DR/CR reads with the recorded
 * values, the GPRs are the recorded "before" values. The handler's outputs
 * (recorded again, by the same recorder) are compared with the file's:
 * the action and the dispatcher's result, the GPRs after (not the stub's
 * RSP slot: the guest's RSP is the VMCS field GUEST_RSP), the VMCS
 * writes in order (injections included), the CPU writes (WRMSR, DR/CR
 * writes, XSETBV). The first divergent exit is described field by field.
 */
#ifndef HVCORE_TESTING_REPLAY_H
#define HVCORE_TESTING_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <hvcore/hv.h>
#include <hvcore/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hv_replay_options {
    /* Called after hv_create() and before hv_start() of the replay machine
     * (e.g. hv_exit_set_handler to try a changed handler); NULL = none. */
    void (*setup)(struct hv *hv, void *ctx);
    void *ctx;
    uint64_t max_exits;         /* replay at most this many records; 0 = all */
};

struct hv_replay_result {
    uint32_t core_count;        /* from the file header */
    uint32_t cpu_signature;     /* CPUID 1 EAX of the recorded machine */
    char cpu_vendor[13];        /* "GenuineIntel" */
    uint64_t exits;             /* records in the file */
    uint64_t dropped;           /* exits the recording lost (header) */
    uint64_t replayed;          /* records fed to the dispatcher */
    uint64_t skipped;           /* records flagged HV_TRACE_EXIT_OPAQUE (code the record lacks): not fed */
    uint64_t matched;           /* replayed with identical outputs */
    uint64_t diverged;          /* replayed with different outputs */
    int have_divergence;        /* 1: first_* describe the first divergent exit */
    uint64_t first_index;       /* its position in the file, from 0 */
    uint64_t first_seq;         /* its seq on its core */
    uint32_t first_core;
    uint32_t first_reason;      /* full exit reason */
    char first[2048];           /* field by field, one "; "-separated item each */
};

/* Replay a trace held in memory. SUCCESS when every record could be fed
 * (divergences are in *out, not in the status); INVALID_PACKET for a
 * malformed trace (bad magic, unknown version, a record that disagrees
 * with its size or names a core the header lacks); INVALID_PARAMETER for
 * NULL arguments; a mock or hv_start failure as its status. */
hv_status_t hv_replay_buffer(const void *data, size_t len, const struct hv_replay_options *opt,
                             struct hv_replay_result *out);
/* The same for a file: READ_FAILED if it cannot be read. opt may be NULL. */
hv_status_t hv_replay_file(const char *path, const struct hv_replay_options *opt, struct hv_replay_result *out);

#ifdef __cplusplus
}
#endif
#endif
