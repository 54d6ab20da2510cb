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
_Static_assert((HV_MSG_BATCH & (HV_MSG_BATCH - 1u)) == 0, "batches end at multiples of a power of two");

/* The producer copies the caller's header as words 1-4 (hv_msg_put): pid,
 * event_id/core, kind/payload_len/lost_before, timestamp; seq (word 0), core
 * and reserved (word 5) are filled in by the reader. may_alias: these words
 * overlay fields of other types. */
typedef uint64_t __attribute__((__may_alias__)) hv_msg_word_t;
_Static_assert(offsetof(struct hv_msg_header, pid) == 8 && offsetof(struct hv_msg_header, event_id) == 16 &&
               offsetof(struct hv_msg_header, core) == 20 && offsetof(struct hv_msg_header, kind) == 24 &&
               offsetof(struct hv_msg_header, payload_len) == 26 && offsetof(struct hv_msg_header, lost_before) == 28 &&
               offsetof(struct hv_msg_header, timestamp) == 32 && offsetof(struct hv_msg_header, reserved) == 40,
               "header words as hv_msg_put copies them");

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

/* The empty asm makes each word opaque to the compiler, so it can neither
 * fold these loops into a memcpy call (the core has no libc) nor needs a
 * volatile destination, which would cost a reload per word: the loops stay
 * one load and one store per word. The callers guarantee 8-byte alignment. */
#define HV_MSG_OPAQUE(x) __asm__("" : "+r"(x))

static void copy_words(void *dst, const void *src, size_t words)
{
    uint64_t *d = dst;
    const uint64_t *s = src;
    size_t i;

    for (i = 0; i < words; i++) {
        uint64_t w = s[i];

        HV_MSG_OPAQUE(w);
        d[i] = w;
    }
}

static void zero_words(void *dst, size_t words)
{
    volatile uint64_t *d = dst;

    while (words--)
        *d++ = 0;
}

static void copy_bytes(void *dst, const void *src, size_t n)
{
    volatile uint8_t *d = dst;
    const uint8_t *s = src;

    while (n--)
        *d++ = *s++;
}

/* One payload word: case k + 1 copies word k and falls into case k. */
#define HV_MSG_WORD(k)                      \
    case (k) + 1: {                         \
        uint64_t w = s[k];                  \
                                            \
        HV_MSG_OPAQUE(w);                   \
        d[k] = w;                           \
    }                                       \
    __attribute__((__fallthrough__))

_Static_assert(HV_MSG_PAYLOAD_MAX / 8u == 26, "one HV_MSG_WORD per payload word");

/* `words` whole words, 8-byte aligned on both sides. Most payloads are a
 * few words (a DR access is 5), where a loop's counting would cost as much
 * as the copying: the switch enters an unrolled copy at the right word
 * (Duff's device), one dispatch, then one load and one store per word. */
static inline __attribute__((__always_inline__)) void put_words(uint64_t *d, const uint64_t *s, uint32_t words)
{
    /* words <= HV_MSG_PAYLOAD_MAX / 8 (the callers clamp). The mask and
     * the labels up to 31 cover every value the switch can see, so its
     * jump needs no range check; 27-31 never occur. */
    switch (words & 31u) {
    case 31:
    case 30:
    case 29:
    case 28:
    case 27:
    HV_MSG_WORD(25);
    HV_MSG_WORD(24);
    HV_MSG_WORD(23);
    HV_MSG_WORD(22);
    HV_MSG_WORD(21);
    HV_MSG_WORD(20);
    HV_MSG_WORD(19);
    HV_MSG_WORD(18);
    HV_MSG_WORD(17);
    HV_MSG_WORD(16);
    HV_MSG_WORD(15);
    HV_MSG_WORD(14);
    HV_MSG_WORD(13);
    HV_MSG_WORD(12);
    HV_MSG_WORD(11);
    HV_MSG_WORD(10);
    HV_MSG_WORD(9);
    HV_MSG_WORD(8);
    HV_MSG_WORD(7);
    HV_MSG_WORD(6);
    HV_MSG_WORD(5);
    HV_MSG_WORD(4);
    HV_MSG_WORD(3);
    HV_MSG_WORD(2);
    HV_MSG_WORD(1);
    HV_MSG_WORD(0);
    case 0:
        break;
    default:
        __builtin_unreachable();
    }
}

/* Records [0, pos) are written: commit them, and publish them too if
 * `imm` or a batch is full. Returns whether they were published. */
static inline __attribute__((__always_inline__)) bool put_commit(struct hv_msg_ring *r, uint64_t pos, bool imm)
{
    __atomic_store_n(&r->committed, pos, __ATOMIC_RELEASE);
    /* Batches end where the position is a multiple of HV_MSG_BATCH: an
     * earlier publication (imm, a flush) only makes one batch shorter, so
     * at most HV_MSG_BATCH records are ever pending, and the test reads
     * nothing but our own position (not `visible`, which flushers on other
     * CPUs write). */
    if (!imm && (pos & (HV_MSG_BATCH - 1u)) != 0)
        return false;
    /* A plain store is a monotonic max here, no CAS needed: `visible`
     * never exceeds `committed`, and only this producer can know a larger
     * committed value than `pos`. Flushers CAS from the value they saw, so
     * they cannot move it back below this store. */
    __atomic_store_n(&r->visible, pos, __ATOMIC_RELEASE);
    return true;
}

/* The rare payload: an unaligned source, or a length that is not a
 * multiple of 8 (script text); then the commit. Out of line and reached by
 * a tail call, so that the common path needs no call and no saved
 * registers. */
static __attribute__((__noinline__)) bool put_slow(struct hv_msg_ring *r, uint8_t *dst, const uint8_t *src,
                                               uint32_t len, uint64_t pos, bool imm)
{
    uint32_t whole = len & ~7u;

    if (((uintptr_t)src & 7u) != 0) {
        copy_bytes(dst, src, len);
    } else {
        put_words((uint64_t *)(void *)dst, (const uint64_t *)(const void *)src, whole / 8u);
        copy_bytes(dst + whole, src + whole, len - whole);
    }
    return put_commit(r, pos, imm);
}

/* Full ring: drop, never overwrite (DESIGN.md 5). A saturated run still
 * shows the reader that very many were lost. Atomic stores only because
 * hv_msg_stats() reads these elsewhere. Out of line: the common path does
 * not pay for it. */
static __attribute__((__noinline__)) bool put_dropped(struct hv_msg_ring *r)
{
    if (r->lost_run != UINT32_MAX)
        __atomic_store_n(&r->lost_run, r->lost_run + 1u, __ATOMIC_RELAXED);
    __atomic_store_n(&r->dropped, r->dropped + 1u, __ATOMIC_RELAXED);
    return false;
}

bool hv_msg_put(struct hv_msg_ring *r, const struct hv_msg_header *h,
                const void *payload, uint32_t payload_len, bool imm)
{
    struct hv_msg_record *rec;
    uint64_t pos, tail;

    if (r == NULL || h == NULL)
        return false;
    /* Only this producer writes `committed`: a relaxed load is its own
     * latest value. The acquire on `tail` orders the reader's copies of a
     * slot before our overwrite of it. */
    /* One test on the common path: no payload means length 0, too long
     * is truncated. */
    if (__builtin_expect(payload == NULL || payload_len > HV_MSG_PAYLOAD_MAX, 0))
        payload_len = payload == NULL ? 0 : HV_MSG_PAYLOAD_MAX;
    pos = __atomic_load_n(&r->committed, __ATOMIC_RELAXED);
    tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    if (pos - tail > r->p_mask)
        return put_dropped(r);

    /* Only what the reader cannot know goes into the slot: seq (the
     * position + 1), core and reserved are the reader's to fill in
     * (hv_msg_get), which also means no value of them is ever taken from
     * OS memory. */
    rec = &r->rec[pos & r->p_mask];
    /* One register for the slot: else the compiler rebuilds its address
     * for each field below. */
    HV_MSG_OPAQUE(rec);
    /* pid, event_id (+ core), kind (+ payload_len, lost_before), timestamp:
     * four words from the caller's header, then the two fields that are
     * ours. offsetof-checked at the top of the file. */
    {
        const hv_msg_word_t *src = (const hv_msg_word_t *)(const void *)h;
        hv_msg_word_t *dst = (hv_msg_word_t *)(void *)&rec->h;

        dst[1] = src[1];
        dst[2] = src[2];
        dst[3] = src[3];
        dst[4] = src[4];
    }
    rec->h.payload_len = (uint16_t)payload_len;
    rec->h.lost_before = r->lost_run;
    __atomic_store_n(&r->lost_run, 0u, __ATOMIC_RELAXED);
    /* Bytes past payload_len stay stale here (the reader clears them), to
     * keep this path to the bytes that matter. A NULL payload has length
     * 0 by now, so it takes the first branch and is never dereferenced. */
    if ((((uintptr_t)payload | payload_len) & 7u) != 0)
        return put_slow(r, rec->payload, payload, payload_len, pos + 1u, imm);
    put_words((uint64_t *)(void *)rec->payload, payload, payload_len / 8u);
    return put_commit(r, pos + 1u, imm);
}

uint32_t hv_msg_room(const struct hv_msg_ring *r)
{
    uint64_t pos, tail;

    if (r == NULL)
        return 0;
    pos = __atomic_load_n(&r->committed, __ATOMIC_RELAXED);
    tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    return (uint32_t)(r->p_mask + 1u - (pos - tail));
}

void hv_msg_drop(struct hv_msg_ring *r, uint32_t n)
{
    if (r == NULL)
        return;
    while (n--)
        (void)put_dropped(r);
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
        /* The producer leaves these to the reader (hv_msg_put). */
        out[i].h.seq = t + i + 1u;
        out[i].h.core = r->core;
        out[i].h.reserved = 0;
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
