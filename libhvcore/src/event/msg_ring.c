/* SPDX-License-Identifier: MIT */
/*
 * The per-core message ring (hvcore/msg.h, DESIGN.md 5): one producer (the
 * core, in VMX root with interrupts off), one reader at a time, and any
 * number of hv_msg_flush() callers on any CPU.
 *
 * Positions are free-running 64-bit counters (slot = position & mask), so
 * full and empty are told apart without a reserved slot: all `capacity`
 * slots hold records. A record at position p carries seq p + 1, which is
 * why seq has no gaps: only records that get in take a position.
 *
 * Three indices, on three cache lines so that the sides do not bounce
 * one line between CPUs on every record:
 *   committed  producer only (release): records [0, committed) are
 *              completely written.
 *   visible    monotonic, <= committed: records [0, visible) are readable.
 *              The producer moves it (imm, or a batch full) and so does
 *              hv_msg_flush() from any CPU.
 *   tail       reader only (release): records [0, tail) have been copied
 *              out, so their slots may be written again.
 *
 * The memory must be 8-byte aligned (64 is better): the indices are
 * 64-bit atomics, which need natural alignment; init refuses less.
 */
#include <hvcore/msg.h>

#include "lib.h"

#define CACHE_LINE 64u

/* The cache-line separation is explicit padding, not _Alignas(64): with
 * _Alignas the type would demand 64-byte aligned memory, and the ring lives
 * wherever the OS put it. Fields 64 bytes apart never share a line, so the
 * separation holds at any 8-byte alignment. */
struct hv_msg_ring {
    /* Producer's line: written on every put. */
    uint64_t committed;
    uint64_t dropped;       /* total; stored by the producer, read anywhere */
    uint64_t p_mask;
    uint32_t lost_run;      /* drops since the last record that got in
                               (written by the producer, read by stats) */
    uint32_t core;
    uint8_t pad0[CACHE_LINE - 4 * sizeof(uint64_t)];

    /* Publication line: written once per batch, polled by the reader. */
    uint64_t visible;
    uint8_t pad1[CACHE_LINE - sizeof(uint64_t)];

    /* Reader's line. */
    uint64_t tail;
    uint64_t c_mask;
    uint8_t pad2[CACHE_LINE - 2 * sizeof(uint64_t)];

    struct hv_msg_record rec[];
};

_Static_assert(sizeof(struct hv_msg_header) == 48, "hv_msg_header is 48 bytes (msg.h)");
_Static_assert(sizeof(struct hv_msg_record) == HV_MSG_RECORD_SIZE, "records are fixed-size");
_Static_assert(sizeof(struct hv_msg_ring) == 3 * CACHE_LINE, "one cache line per side");
_Static_assert(HV_MSG_PAYLOAD_MAX % 8 == 0, "payload copied in 8-byte words");

#define MIN_CAPACITY (2u * HV_MSG_BATCH)

static bool capacity_ok(uint32_t capacity)
{
    if (capacity < MIN_CAPACITY || (capacity & (capacity - 1u)) != 0)
        return false;
    /* Where size_t is 32-bit the byte count must not wrap. Tested in C, not
     * with #if: the kernel's SIZE_MAX is a cast the preprocessor cannot read. */
    {
        uint64_t bytes = sizeof(struct hv_msg_ring) + (uint64_t)capacity * sizeof(struct hv_msg_record);

        return bytes == (uint64_t)(size_t)bytes;
    }
}

size_t hv_msg_ring_bytes(uint32_t capacity)
{
    if (!capacity_ok(capacity))
        return 0;
    return sizeof(struct hv_msg_ring) + (size_t)capacity * sizeof(struct hv_msg_record);
}

hv_status_t hv_msg_ring_init(void *mem, uint32_t capacity, uint32_t core, struct hv_msg_ring **out)
{
    struct hv_msg_ring *r = mem;

    if (out != NULL)
        *out = NULL;
    if (mem == NULL || out == NULL || !capacity_ok(capacity) || ((uintptr_t)mem & 7u) != 0)
        return HV_STATUS_INVALID_PARAMETER;
    /* Slots need no clearing: the reader only copies published ones and
     * clears what lies past each payload itself. */
    hv_lib_zero(r, sizeof(*r));
    r->p_mask = capacity - 1u;
    r->c_mask = capacity - 1u;
    r->core = core;
    *out = r;
    return HV_STATUS_SUCCESS;
}

/* Word copies through a volatile destination: fast enough for the exit
 * path, and the compiler cannot fold them into a memcpy call the core has
 * no libc for. The callers guarantee 8-byte alignment of both sides. */
static void copy_words(void *dst, const void *src, size_t words)
{
    volatile uint64_t *d = dst;
    const uint64_t *s = src;

    while (words--)
        *d++ = *s++;
}

static void zero_words(void *dst, size_t words)
{
    volatile uint64_t *d = dst;

    while (words--)
        *d++ = 0;
}

/* Inline, unlike hv_lib_copy: a call costs more than the few tail bytes. */
static void copy_bytes(void *dst, const void *src, size_t n)
{
    volatile uint8_t *d = dst;
    const uint8_t *s = src;

    while (n--)
        *d++ = *s++;
}

bool hv_msg_put(struct hv_msg_ring *r, const struct hv_msg_header *h,
                const void *payload, uint32_t payload_len, bool imm)
{
    struct hv_msg_record *rec;
    uint64_t pos, tail;
    size_t words;

    if (r == NULL || h == NULL)
        return false;
    /* Only this producer writes `committed`: a relaxed load is its own
     * latest value. The acquire on `tail` orders the reader's copies of a
     * slot before our overwrite of it. */
    pos = __atomic_load_n(&r->committed, __ATOMIC_RELAXED);
    tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    if (pos - tail > r->p_mask) {
        /* Full: drop, never overwrite (DESIGN.md 5). A saturated run
         * still shows the reader that very many were lost. */
        /* Atomic stores only because hv_msg_stats() reads it elsewhere. */
        if (r->lost_run != UINT32_MAX)
            __atomic_store_n(&r->lost_run, r->lost_run + 1u, __ATOMIC_RELAXED);
        __atomic_store_n(&r->dropped, r->dropped + 1u, __ATOMIC_RELAXED);
        return false;
    }

    if (payload == NULL)
        payload_len = 0;
    if (payload_len > HV_MSG_PAYLOAD_MAX)
        payload_len = HV_MSG_PAYLOAD_MAX;

    rec = &r->rec[pos & r->p_mask];
    rec->h.seq = pos + 1u;
    rec->h.pid = h->pid;
    rec->h.event_id = h->event_id;
    rec->h.core = r->core;
    rec->h.kind = h->kind;
    rec->h.payload_len = (uint16_t)payload_len;
    rec->h.lost_before = r->lost_run;
    rec->h.timestamp = h->timestamp;
    rec->h.reserved = 0;
    __atomic_store_n(&r->lost_run, 0u, __ATOMIC_RELAXED);
    /* Bytes past payload_len stay stale here (the reader clears them), to
     * keep this path to the bytes that matter. The length test also keeps
     * a NULL payload out of any pointer arithmetic. */
    if (payload_len != 0 && ((uintptr_t)payload & 7u) == 0) {
        words = payload_len / 8u;
        copy_words(rec->payload, payload, words);
        copy_bytes(rec->payload + words * 8u, (const uint8_t *)payload + words * 8u, payload_len % 8u);
    } else if (payload_len != 0) {
        copy_bytes(rec->payload, payload, payload_len);
    }

    pos++;
    __atomic_store_n(&r->committed, pos, __ATOMIC_RELEASE);
    if (!imm && pos - __atomic_load_n(&r->visible, __ATOMIC_RELAXED) < HV_MSG_BATCH)
        return false;
    /* A plain store is a monotonic max here, no CAS needed: `visible`
     * never exceeds `committed`, and only this producer can know a larger
     * committed value than `pos`. Flushers CAS from the value they saw, so
     * they cannot move it back below this store. */
    __atomic_store_n(&r->visible, pos, __ATOMIC_RELEASE);
    return true;
}

bool hv_msg_flush(struct hv_msg_ring *r)
{
    uint64_t c, v;

    if (r == NULL)
        return false;
    /* Acquire on `committed` then release on `visible`: a reader that sees
     * our value also sees the record bytes the producer wrote before it. */
    c = __atomic_load_n(&r->committed, __ATOMIC_ACQUIRE);
    v = __atomic_load_n(&r->visible, __ATOMIC_RELAXED);
    /* Each failure means `visible` grew, and it cannot pass the producer's
     * committed value, so this loop ends. */
    while (v < c) {
        if (__atomic_compare_exchange_n(&r->visible, &v, c, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

uint32_t hv_msg_get(struct hv_msg_ring *r, struct hv_msg_record *out, uint32_t max)
{
    const struct hv_msg_record *rec;
    uint64_t t, v, n, i;
    size_t len, words;

    if (r == NULL || out == NULL)
        return 0;
    /* The platform serializes readers, which orders one reader's `tail`
     * store before the next reader's load: relaxed is enough here. */
    t = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    v = __atomic_load_n(&r->visible, __ATOMIC_ACQUIRE);
    n = v - t;
    if (n > max)
        n = max;
    for (i = 0; i < n; i++) {
        rec = &r->rec[(t + i) & r->c_mask];
        /* The ring is OS memory: never trust a length read from it. */
        len = rec->h.payload_len;
        if (len > HV_MSG_PAYLOAD_MAX)
            len = HV_MSG_PAYLOAD_MAX;
        words = (len + 7u) / 8u;
        copy_words(&out[i].h, &rec->h, sizeof(rec->h) / 8u);
        out[i].h.payload_len = (uint16_t)len;
        copy_words(out[i].payload, rec->payload, words);
        /* The reader gets zeros past the payload, not the stale bytes of
         * an older record in that slot. */
        hv_lib_zero(out[i].payload + len, words * 8u - len);
        zero_words(out[i].payload + words * 8u, HV_MSG_PAYLOAD_MAX / 8u - words);
    }
    if (n != 0)
        __atomic_store_n(&r->tail, t + n, __ATOMIC_RELEASE);
    return (uint32_t)n;
}

uint64_t hv_msg_dropped(const struct hv_msg_ring *r)
{
    return r == NULL ? 0 : __atomic_load_n(&r->dropped, __ATOMIC_RELAXED);
}

/* The counters read the lower index first, with acquire: whoever stored it
 * had already seen the upper index at least that high, so the difference
 * cannot go negative. */
uint32_t hv_msg_readable(const struct hv_msg_ring *r)
{
    uint64_t t, v;

    if (r == NULL)
        return 0;
    t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    v = __atomic_load_n(&r->visible, __ATOMIC_ACQUIRE);
    return (uint32_t)(v - t);
}

uint32_t hv_msg_pending(const struct hv_msg_ring *r)
{
    uint64_t v, c;

    if (r == NULL)
        return 0;
    v = __atomic_load_n(&r->visible, __ATOMIC_ACQUIRE);
    c = __atomic_load_n(&r->committed, __ATOMIC_ACQUIRE);
    return (uint32_t)(c - v);
}

void hv_msg_stats(const struct hv_msg_ring *r, struct hv_msg_stats *out)
{
    uint64_t t, v, c;

    if (out == NULL)
        return;
    hv_lib_zero(out, sizeof(*out));
    if (r == NULL)
        return;
    /* Lower index first, each with acquire (as the counters above): the
     * differences cannot go negative. */
    t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    v = __atomic_load_n(&r->visible, __ATOMIC_ACQUIRE);
    c = __atomic_load_n(&r->committed, __ATOMIC_ACQUIRE);
    out->produced = c;
    out->consumed = t;
    out->readable = (uint32_t)(v - t);
    out->pending = (uint32_t)(c - v);
    out->dropped = __atomic_load_n(&r->dropped, __ATOMIC_RELAXED);
    out->unreported = __atomic_load_n(&r->lost_run, __ATOMIC_RELAXED);
    out->capacity = (uint32_t)(r->c_mask + 1u);
}
