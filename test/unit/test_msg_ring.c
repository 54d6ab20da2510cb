/* The per-core message ring: delivery (imm yes/no, flush), order and
 * fields, a full ring, bad arguments, and producers, readers and a flusher
 * racing on real threads. */
#define _GNU_SOURCE
#include "support.h"

#include <hvcore/msg.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

static struct hv_msg_ring *new_ring(uint32_t capacity, uint32_t core, void **mem)
{
    size_t bytes = hv_msg_ring_bytes(capacity);
    struct hv_msg_ring *r = NULL;

    assert_true(bytes >= (size_t)capacity * HV_MSG_RECORD_SIZE);
    *mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    assert_non_null(*mem);
    /* Garbage in the memory must not matter. */
    memset(*mem, 0xa5, bytes);
    assert_int_equal(hv_msg_ring_init(*mem, capacity, core, &r), HV_STATUS_SUCCESS);
    assert_ptr_equal(r, *mem);
    return r;
}

static void put_n(struct hv_msg_ring *r, uint32_t n, bool imm)
{
    struct hv_msg_header h = { .event_id = 7, .pid = 42, .kind = HV_MSG_SCRIPT };
    uint32_t i;

    for (i = 0; i < n; i++)
        hv_msg_put(r, &h, "x", 1, imm);
}

/* ---- delivery ------------------------------------------------------------ */

static void imm_yes_is_readable_at_once(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 0, &mem);
    struct hv_msg_header h = { .event_id = 1, .kind = HV_MSG_DR_ACCESS };
    struct hv_msg_record out[4];

    (void)state;
    /* when */
    assert_true(hv_msg_put(r, &h, NULL, 0, true));
    /* then */
    assert_int_equal(hv_msg_readable(r), 1);
    assert_int_equal(hv_msg_pending(r), 0);
    assert_int_equal(hv_msg_get(r, out, 4), 1);
    assert_int_equal(out[0].h.seq, 1);
    assert_int_equal(hv_msg_readable(r), 0);
    assert_int_equal(hv_msg_get(r, out, 4), 0);
    free(mem);
}

static void imm_no_waits_for_a_full_batch(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(64, 0, &mem);
    struct hv_msg_header h = { .event_id = 1, .kind = HV_MSG_DR_ACCESS };
    struct hv_msg_record out[HV_MSG_BATCH];
    uint32_t i;

    (void)state;
    /* given: one record short of a batch */
    for (i = 1; i < HV_MSG_BATCH; i++) {
        assert_false(hv_msg_put(r, &h, NULL, 0, false));
        assert_int_equal(hv_msg_readable(r), 0);
        assert_int_equal(hv_msg_pending(r), i);
        assert_int_equal(hv_msg_get(r, out, HV_MSG_BATCH), 0);
    }
    /* when: the batch fills */
    assert_true(hv_msg_put(r, &h, NULL, 0, false));
    /* then: all of it is readable, in order */
    assert_int_equal(hv_msg_pending(r), 0);
    assert_int_equal(hv_msg_readable(r), HV_MSG_BATCH);
    assert_int_equal(hv_msg_get(r, out, HV_MSG_BATCH), HV_MSG_BATCH);
    for (i = 0; i < HV_MSG_BATCH; i++)
        assert_int_equal(out[i].h.seq, i + 1);
    /* and the next batch starts counting from zero */
    assert_false(hv_msg_put(r, &h, NULL, 0, false));
    assert_int_equal(hv_msg_pending(r), 1);
    free(mem);
}

/* Batches end at multiples of HV_MSG_BATCH of the core's record count (the
 * producer reads only its own position): an imm-yes record in between
 * shortens the batch, and never more than HV_MSG_BATCH wait. */
static void imm_no_batches_end_at_multiples_of_the_batch(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(64, 0, &mem);
    struct hv_msg_header h = { .event_id = 1, .kind = HV_MSG_DR_ACCESS };
    struct hv_msg_record out[2 * HV_MSG_BATCH];
    uint32_t i;

    (void)state;
    /* given: three records, the third imm yes (all three readable) */
    put_n(r, 2, false);
    assert_true(hv_msg_put(r, &h, NULL, 0, true));
    assert_int_equal(hv_msg_readable(r), 3);
    /* when: imm-no records up to the next multiple of the batch */
    for (i = 4; i < HV_MSG_BATCH; i++) {
        assert_false(hv_msg_put(r, &h, NULL, 0, false));
        assert_true(hv_msg_pending(r) <= HV_MSG_BATCH);
    }
    /* then: the 16th record publishes the shortened batch */
    assert_true(hv_msg_put(r, &h, NULL, 0, false));
    assert_int_equal(hv_msg_pending(r), 0);
    assert_int_equal(hv_msg_get(r, out, 2 * HV_MSG_BATCH), HV_MSG_BATCH);
    for (i = 0; i < HV_MSG_BATCH; i++)
        assert_int_equal(out[i].h.seq, i + 1);
    /* and a flush in a batch does not stretch the next one */
    put_n(r, 5, false);
    assert_true(hv_msg_flush(r));
    for (i = 6; i < HV_MSG_BATCH; i++)
        assert_false(hv_msg_put(r, &h, NULL, 0, false));
    assert_true(hv_msg_put(r, &h, NULL, 0, false));
    assert_int_equal(hv_msg_get(r, out, 2 * HV_MSG_BATCH), HV_MSG_BATCH);
    assert_int_equal(out[HV_MSG_BATCH - 1].h.seq, 2 * HV_MSG_BATCH);
    free(mem);
}

static void flush_publishes_batched_records(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 0, &mem);
    struct hv_msg_record out[8];

    (void)state;
    /* given */
    assert_false(hv_msg_flush(r));
    put_n(r, 5, false);
    assert_int_equal(hv_msg_readable(r), 0);
    /* when */
    assert_true(hv_msg_flush(r));
    /* then */
    assert_int_equal(hv_msg_readable(r), 5);
    assert_int_equal(hv_msg_pending(r), 0);
    assert_false(hv_msg_flush(r));
    assert_int_equal(hv_msg_get(r, out, 8), 5);
    assert_int_equal(out[4].h.seq, 5);
    free(mem);
}

static void imm_yes_publishes_the_records_before_it(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 0, &mem);
    struct hv_msg_header h = { .kind = HV_MSG_SCRIPT };
    struct hv_msg_record out[8];
    uint32_t i;

    (void)state;
    /* given: three batched records */
    for (i = 0; i < 3; i++) {
        h.event_id = 100 + i;
        assert_false(hv_msg_put(r, &h, NULL, 0, false));
    }
    assert_int_equal(hv_msg_readable(r), 0);
    /* when */
    h.event_id = 103;
    assert_true(hv_msg_put(r, &h, NULL, 0, true));
    /* then: all four, in the order produced */
    assert_int_equal(hv_msg_readable(r), 4);
    assert_int_equal(hv_msg_get(r, out, 8), 4);
    for (i = 0; i < 4; i++) {
        assert_int_equal(out[i].h.seq, i + 1);
        assert_int_equal(out[i].h.event_id, 100 + i);
    }
    free(mem);
}

/* ---- order and fields ------------------------------------------------------ */

static void records_keep_order_fields_and_payload(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 3, &mem);
    struct hv_msg_record out[7];
    uint8_t payload[64];
    uint64_t next = 1;
    uint32_t i, n, got, j;

    (void)state;
    /* Three laps of the ring, read in uneven chunks. */
    for (i = 0; i < 100; i++) {
        struct hv_msg_header h = {
            .seq = 999, .core = 999, .lost_before = 999, .payload_len = 999, /* ignored */
            .event_id = 1000 + i, .pid = 0x1000 + i, .kind = (uint16_t)(1 + i % 4), .timestamp = i * 10u,
        };
        for (j = 0; j < sizeof(payload); j++)
            payload[j] = (uint8_t)(i + j);
        hv_msg_put(r, &h, payload, i % 65, i % 5 == 0);
        if (i % 9 == 8 || i == 99) {
            hv_msg_flush(r);
            while ((got = hv_msg_get(r, out, 7)) != 0) {
                for (n = 0; n < got; n++) {
                    uint32_t k = (uint32_t)(next - 1);

                    assert_int_equal(out[n].h.seq, next);
                    assert_int_equal(out[n].h.core, 3);
                    assert_int_equal(out[n].h.event_id, 1000 + k);
                    assert_int_equal(out[n].h.pid, 0x1000 + k);
                    assert_int_equal(out[n].h.kind, 1 + k % 4);
                    assert_int_equal(out[n].h.timestamp, k * 10u);
                    assert_int_equal(out[n].h.lost_before, 0);
                    assert_int_equal(out[n].h.reserved, 0);
                    assert_int_equal(out[n].h.payload_len, k % 65);
                    for (j = 0; j < k % 65; j++)
                        assert_int_equal(out[n].payload[j], (uint8_t)(k + j));
                    for (; j < HV_MSG_PAYLOAD_MAX; j++)
                        assert_int_equal(out[n].payload[j], 0);
                    next++;
                }
            }
        }
    }
    assert_int_equal(next, 101);
    assert_int_equal(hv_msg_dropped(r), 0);
    free(mem);
}

static void long_payload_is_truncated(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 0, &mem);
    struct hv_msg_header h = { .kind = HV_MSG_CODE };
    struct hv_msg_record out[2];
    static uint8_t big[HV_MSG_PAYLOAD_MAX + 9];
    uint32_t j;

    (void)state;
    for (j = 0; j < sizeof(big); j++)
        big[j] = (uint8_t)(j * 3 + 1);
    /* when: too long, from an aligned and from an unaligned source */
    hv_msg_put(r, &h, big, sizeof(big), true);
    hv_msg_put(r, &h, big + 1, HV_MSG_PAYLOAD_MAX + 1, true);
    /* then */
    assert_int_equal(hv_msg_get(r, out, 2), 2);
    assert_int_equal(out[0].h.payload_len, HV_MSG_PAYLOAD_MAX);
    assert_int_equal(out[1].h.payload_len, HV_MSG_PAYLOAD_MAX);
    assert_memory_equal(out[0].payload, big, HV_MSG_PAYLOAD_MAX);
    assert_memory_equal(out[1].payload, big + 1, HV_MSG_PAYLOAD_MAX);
    free(mem);
}

static void stale_bytes_of_a_reused_slot_never_reach_the_reader(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 0, &mem);
    struct hv_msg_header h = { .kind = HV_MSG_CODE };
    struct hv_msg_record out;
    uint8_t full[HV_MSG_PAYLOAD_MAX];
    uint32_t i, j;

    (void)state;
    memset(full, 0xee, sizeof(full));
    /* given: every slot once held a full payload */
    for (i = 0; i < 32; i++) {
        hv_msg_put(r, &h, full, sizeof(full), true);
        assert_int_equal(hv_msg_get(r, &out, 1), 1);
    }
    /* when: the slots are reused with short payloads */
    for (i = 0; i < 32; i++) {
        memset(&out, 0x77, sizeof(out));
        hv_msg_put(r, &h, "abc", i % 4, true);
        assert_int_equal(hv_msg_get(r, &out, 1), 1);
        /* then */
        assert_int_equal(out.h.payload_len, i % 4);
        assert_memory_equal(out.payload, "abc", i % 4);
        for (j = i % 4; j < HV_MSG_PAYLOAD_MAX; j++)
            assert_int_equal(out.payload[j], 0);
    }
    free(mem);
}

static void get_honours_max_and_keeps_the_rest(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 0, &mem);
    struct hv_msg_record out[10];

    (void)state;
    put_n(r, 10, true);
    assert_int_equal(hv_msg_get(r, out, 0), 0);
    assert_int_equal(hv_msg_get(r, NULL, 5), 0);
    assert_int_equal(hv_msg_get(r, out, 3), 3);
    assert_int_equal(out[2].h.seq, 3);
    assert_int_equal(hv_msg_readable(r), 7);
    assert_int_equal(hv_msg_get(r, out, 10), 7);
    assert_int_equal(out[0].h.seq, 4);
    assert_int_equal(out[6].h.seq, 10);
    free(mem);
}

/* ---- a full ring ----------------------------------------------------------- */

static void full_ring_drops_counts_and_says_so(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 0, &mem);
    struct hv_msg_header h = { .kind = HV_MSG_SCRIPT };
    struct hv_msg_record out[40];
    uint32_t i;

    (void)state;
    /* given: 40 records into 32 slots, nobody reading */
    for (i = 0; i < 40; i++) {
        h.event_id = i;
        bool published = hv_msg_put(r, &h, NULL, 0, false);
        /* the 16th and 32nd fill a batch; the dropped ones report false */
        assert_int_equal(published, i == 15 || i == 31);
    }
    /* then: every slot is used (no reserved slot), the rest counted */
    assert_int_equal(hv_msg_readable(r), 32);
    assert_int_equal(hv_msg_dropped(r), 8);
    assert_int_equal(hv_msg_get(r, out, 40), 32);
    for (i = 0; i < 32; i++) {
        assert_int_equal(out[i].h.seq, i + 1);
        assert_int_equal(out[i].h.event_id, i);
        assert_int_equal(out[i].h.lost_before, 0);
    }
    /* when: the next record gets in */
    h.event_id = 40;
    assert_true(hv_msg_put(r, &h, NULL, 0, true));
    h.event_id = 41;
    assert_true(hv_msg_put(r, &h, NULL, 0, true));
    /* then: it says how many were lost before it; seq has no gap */
    assert_int_equal(hv_msg_get(r, out, 40), 2);
    assert_int_equal(out[0].h.seq, 33);
    assert_int_equal(out[0].h.event_id, 40);
    assert_int_equal(out[0].h.lost_before, 8);
    assert_int_equal(out[1].h.seq, 34);
    assert_int_equal(out[1].h.lost_before, 0);
    assert_int_equal(hv_msg_dropped(r), 8);
    free(mem);
}

static void imm_record_into_a_full_ring_is_dropped(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 0, &mem);
    struct hv_msg_header h = { .kind = HV_MSG_SCRIPT };
    struct hv_msg_record out[32];

    (void)state;
    put_n(r, 32, true);
    assert_false(hv_msg_put(r, &h, NULL, 0, true));
    assert_int_equal(hv_msg_dropped(r), 1);
    assert_int_equal(hv_msg_readable(r), 32);
    /* freeing one slot is enough for the next */
    assert_int_equal(hv_msg_get(r, out, 1), 1);
    assert_true(hv_msg_put(r, &h, NULL, 0, true));
    assert_int_equal(hv_msg_get(r, out, 32), 32);
    assert_int_equal(out[31].h.seq, 33);
    assert_int_equal(out[31].h.lost_before, 1);
    free(mem);
}

static void stats_add_up_exactly(void **state)
{
    void *mem;
    struct hv_msg_ring *r = new_ring(32, 3, &mem);
    struct hv_msg_record out[32];
    struct hv_msg_stats s;
    uint64_t lost = 0;
    uint32_t i, n;

    (void)state;
    hv_msg_stats(NULL, &s);
    assert_int_equal(s.produced + s.dropped + s.consumed + s.capacity, 0);
    hv_msg_stats(r, NULL); /* nothing to fill: no crash */
    hv_msg_stats(r, &s);
    assert_int_equal(s.capacity, 32);
    assert_int_equal(s.produced + s.dropped + s.consumed + s.readable + s.pending + s.unreported, 0);
    /* given: 40 batched records into 32 slots (two batches published), 5 read */
    put_n(r, 40, false);
    assert_int_equal(hv_msg_get(r, out, 5), 5);
    hv_msg_stats(r, &s);
    assert_int_equal(s.produced, 32);
    assert_int_equal(s.dropped, 8);
    assert_int_equal(s.unreported, 8);
    assert_int_equal(s.consumed, 5);
    assert_int_equal(s.readable, 27);
    assert_int_equal(s.pending, 0);
    /* when: 3 more batched (pending), then the rest read */
    put_n(r, 3, false);
    hv_msg_stats(r, &s);
    assert_int_equal(s.produced, 35);
    assert_int_equal(s.pending, 3);
    assert_int_equal(s.unreported, 0);  /* the first of them says lost_before 8 */
    assert_true(hv_msg_flush(r));
    while ((n = hv_msg_get(r, out, 32)) != 0)
        for (i = 0; i < n; i++)
            lost += out[i].h.lost_before;
    /* then: generated = produced + dropped; every produced record was read;
     * the drops are all in some record's lost_before */
    hv_msg_stats(r, &s);
    assert_int_equal(s.produced + s.dropped, 43);
    assert_int_equal(s.consumed, s.produced);
    assert_int_equal(s.readable + s.pending, 0);
    assert_int_equal(lost + s.unreported, s.dropped);
    free(mem);
}

/* ---- bad arguments --------------------------------------------------------- */

static void bad_arguments_are_rejected(void **state)
{
    static const uint32_t bad[] = { 0, 1, 2, 16, 31, 33, 48, 100, 0x80000001u, 0xffffffffu };
    size_t bytes = hv_msg_ring_bytes(32);
    void *mem = aligned_alloc(64, bytes + 64);
    struct hv_msg_ring *r = (struct hv_msg_ring *)0x1;
    size_t i;

    (void)state;
    assert_non_null(mem);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(hv_msg_ring_bytes(bad[i]), 0);
        assert_int_equal(hv_msg_ring_init(mem, bad[i], 0, &r), HV_STATUS_INVALID_PARAMETER);
        assert_null(r);
        r = (struct hv_msg_ring *)0x1;
    }
    assert_int_equal(hv_msg_ring_init(NULL, 32, 0, &r), HV_STATUS_INVALID_PARAMETER);
    assert_null(r);
    assert_int_equal(hv_msg_ring_init(mem, 32, 0, NULL), HV_STATUS_INVALID_PARAMETER);
    /* the indices are 64-bit atomics: misaligned memory is refused */
    assert_int_equal(hv_msg_ring_init((char *)mem + 4, 32, 0, &r), HV_STATUS_INVALID_PARAMETER);
    /* the smallest and a large power of two are fine */
    assert_int_equal(hv_msg_ring_bytes(32), bytes);
    assert_true(hv_msg_ring_bytes(1u << 20) > (size_t)(1u << 20) * HV_MSG_RECORD_SIZE);
    assert_int_equal(hv_msg_ring_init(mem, 32, 0, &r), HV_STATUS_SUCCESS);
    /* 8-byte alignment is all it needs */
    assert_int_equal(hv_msg_ring_init((char *)mem + 8, 32, 0, &r), HV_STATUS_SUCCESS);
    /* NULL ring: nothing happens, nothing crashes */
    assert_false(hv_msg_put(NULL, &(struct hv_msg_header){ 0 }, NULL, 0, true));
    assert_false(hv_msg_put(r, NULL, NULL, 0, true));
    assert_int_equal(hv_msg_readable(r), 0);
    assert_false(hv_msg_flush(NULL));
    assert_int_equal(hv_msg_get(NULL, NULL, 1), 0);
    assert_int_equal(hv_msg_dropped(NULL), 0);
    assert_int_equal(hv_msg_readable(NULL), 0);
    assert_int_equal(hv_msg_pending(NULL), 0);
    free(mem);
}

/* ---- threads: producers, readers and a flusher racing ---------------------- */

#define STRESS_RINGS     4
#define STRESS_READERS   4
#define STRESS_CAPACITY  64
#define STRESS_RECORDS   200000u
#define STRESS_PAUSE_EVERY 32u
#define STRESS_BURST     2048u
#define STRESS_PAYLOAD   (HV_MSG_PAYLOAD_MAX + 1u)  /* lengths 0..208 */

/* Everything the producer put in a record follows from its seq (payload,
 * pid, kind) or from the producer's attempt number k (timestamp), so a
 * reader can check each record on its own and across the stream. */
static uint8_t pattern(uint64_t seq, uint32_t j)
{
    return (uint8_t)(seq * 7u + j * 13u + (seq >> 8));
}

struct stress_ring {
    struct hv_msg_ring *r;
    void *mem;
    uint32_t index;
    /* producer's own */
    uint64_t imm_not_published;
    /* reader side, under `lock` (readers take turns, as the platform's) */
    pthread_mutex_t lock;
    uint64_t last_seq;
    int64_t last_k;
    uint64_t received;
    uint64_t lost_sum;
    uint64_t errors;
    char first_error[160];
};

static struct stress_ring rings[STRESS_RINGS];
static atomic_bool flusher_stop;
static atomic_bool producers_done;
static atomic_ulong flushes_published;

/* Sleeping, not sched_yield(): with more threads than cores, yield storms
 * cost seconds of system time and make the run length erratic. */
static void pause_us(long us)
{
    struct timespec ts = { 0, us * 1000 };

    nanosleep(&ts, NULL);
}

static void *stress_producer(void *arg)
{
    struct stress_ring *s = arg;
    _Alignas(8) uint8_t buf[STRESS_PAYLOAD + 8];
    uint64_t dropped = 0, k;
    uint32_t j;

    /* The default 50 us of timer slack would stretch every short pause. */
    prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0);

    for (k = 0; k < STRESS_RECORDS; k++) {
        /* the seq this record gets if it gets in */
        uint64_t seq = k + 1 - dropped;
        uint32_t len = (uint32_t)(seq % STRESS_PAYLOAD);
        /* every third record from an unaligned source */
        uint8_t *p = buf + (k % 3 == 0 ? 1 : 0);
        bool imm = k % 5 == 0;
        struct hv_msg_header h = {
            .event_id = s->index, .pid = seq ^ 0x5a5a5a5a5a5a5a5aull,
            .kind = (uint16_t)(1 + seq % 4), .timestamp = k,
        };
        bool published;

        for (j = 0; j < len; j++)
            p[j] = pattern(seq, j);
        published = hv_msg_put(s->r, &h, p, len, imm);
        /* only this thread produces, so the counter says whether it got in */
        if (hv_msg_dropped(s->r) != dropped)
            dropped++;
        else if (imm && !published)
            s->imm_not_published++;
        /* Calm stretches, where the readers and the flusher get in, then
         * bursts that fill the ring: records both get through and get
         * dropped, on 2 cores as on 64. */
        if ((k / STRESS_BURST) % 2 == 0 && k % STRESS_PAUSE_EVERY == 0)
            pause_us(10);
    }
    return NULL;
}

static void stress_error(struct stress_ring *s, const char *what, uint64_t seq, uint64_t got, uint64_t want)
{
    if (s->errors++ == 0)
        snprintf(s->first_error, sizeof(s->first_error), "ring %u seq %llu: %s: got %llu, want %llu", s->index,
                 (unsigned long long)seq, what, (unsigned long long)got, (unsigned long long)want);
}

static void stress_check(struct stress_ring *s, const struct hv_msg_record *m)
{
    uint64_t seq = m->h.seq;
    int64_t k = (int64_t)m->h.timestamp;
    uint32_t j, len = (uint32_t)(seq % STRESS_PAYLOAD);

    if (seq != s->last_seq + 1)
        stress_error(s, "seq not the next one", seq, seq, s->last_seq + 1);
    if (k <= s->last_k)
        stress_error(s, "attempt number went back", seq, (uint64_t)k, (uint64_t)s->last_k);
    else if ((uint64_t)(k - s->last_k - 1) != m->h.lost_before)
        stress_error(s, "lost_before is not the gap in attempts", seq, m->h.lost_before,
                     (uint64_t)(k - s->last_k - 1));
    if (m->h.core != 10 + s->index || m->h.event_id != s->index)
        stress_error(s, "core/event_id", seq, m->h.core, 10 + s->index);
    if (m->h.pid != (seq ^ 0x5a5a5a5a5a5a5a5aull) || m->h.kind != 1 + seq % 4)
        stress_error(s, "pid/kind (torn header)", seq, m->h.kind, 1 + seq % 4);
    if (m->h.payload_len != len)
        stress_error(s, "payload_len (torn header)", seq, m->h.payload_len, len);
    for (j = 0; j < HV_MSG_PAYLOAD_MAX; j++) {
        uint8_t want = j < len ? pattern(seq, j) : 0;
        if (m->payload[j] != want) {
            stress_error(s, "payload byte (torn record)", seq, j, len);
            break;
        }
    }
    s->last_seq = seq;
    s->last_k = k;
    s->lost_sum += m->h.lost_before;
    s->received++;
}

/* Returns how many records it read. */
static uint32_t stress_read(struct stress_ring *s, bool wait)
{
    struct hv_msg_record out[16];
    uint32_t n, i;

    if (wait)
        pthread_mutex_lock(&s->lock);
    else if (pthread_mutex_trylock(&s->lock) != 0)
        return 0;
    n = hv_msg_get(s->r, out, 16);
    for (i = 0; i < n; i++)
        stress_check(s, &out[i]);
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void *stress_reader(void *arg)
{
    uint32_t first = (uint32_t)(uintptr_t)arg, i, got;

    prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0);
    /* Each reader goes round all rings, so every ring changes readers. */
    while (!atomic_load_explicit(&producers_done, memory_order_acquire)) {
        got = 0;
        for (i = 0; i < STRESS_RINGS; i++)
            got += stress_read(&rings[(first + i) % STRESS_RINGS], false);
        if (got == 0)
            pause_us(5);
    }
    /* Everything is flushed by now: drain. */
    for (i = 0; i < STRESS_RINGS; i++)
        while (stress_read(&rings[(first + i) % STRESS_RINGS], true) != 0)
            ;
    return NULL;
}

static void *stress_flusher(void *arg)
{
    uint32_t i;

    (void)arg;
    prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0);
    while (!atomic_load_explicit(&flusher_stop, memory_order_relaxed)) {
        for (i = 0; i < STRESS_RINGS; i++)
            if (hv_msg_flush(rings[i].r))
                atomic_fetch_add_explicit(&flushes_published, 1, memory_order_relaxed);
        pause_us(2);
    }
    return NULL;
}

static void producers_readers_and_flusher_race(void **state)
{
    pthread_t prod[STRESS_RINGS], rd[STRESS_READERS], fl;
    uint64_t total_rx = 0, total_drop = 0;
    uint32_t i;

    (void)state;
    /* given */
    atomic_store(&flusher_stop, false);
    atomic_store(&producers_done, false);
    atomic_store(&flushes_published, 0);
    for (i = 0; i < STRESS_RINGS; i++) {
        memset(&rings[i], 0, sizeof(rings[i]));
        rings[i].index = i;
        rings[i].last_k = -1;
        rings[i].r = new_ring(STRESS_CAPACITY, 10 + i, &rings[i].mem);
        pthread_mutex_init(&rings[i].lock, NULL);
    }
    /* when */
    assert_int_equal(pthread_create(&fl, NULL, stress_flusher, NULL), 0);
    for (i = 0; i < STRESS_READERS; i++)
        assert_int_equal(pthread_create(&rd[i], NULL, stress_reader, (void *)(uintptr_t)i), 0);
    for (i = 0; i < STRESS_RINGS; i++)
        assert_int_equal(pthread_create(&prod[i], NULL, stress_producer, &rings[i]), 0);
    for (i = 0; i < STRESS_RINGS; i++)
        pthread_join(prod[i], NULL);
    atomic_store_explicit(&flusher_stop, true, memory_order_relaxed);
    pthread_join(fl, NULL);
    /* the last timer tick: after it, everything written is readable */
    for (i = 0; i < STRESS_RINGS; i++)
        hv_msg_flush(rings[i].r);
    atomic_store_explicit(&producers_done, true, memory_order_release);
    for (i = 0; i < STRESS_READERS; i++)
        pthread_join(rd[i], NULL);

    /* then */
    for (i = 0; i < STRESS_RINGS; i++) {
        struct stress_ring *s = &rings[i];
        uint64_t dropped = hv_msg_dropped(s->r);
        uint64_t trailing = STRESS_RECORDS - 1 - (uint64_t)s->last_k;

        if (s->errors != 0)
            fail_msg("%llu bad records; first: %s", (unsigned long long)s->errors, s->first_error);
        assert_int_equal(s->imm_not_published, 0);
        assert_int_equal(s->received + dropped, STRESS_RECORDS);
        assert_int_equal(s->last_seq, s->received);
        /* drops after the last record that got in have no record to tell */
        assert_int_equal(s->lost_sum + trailing, dropped);
        assert_int_equal(hv_msg_readable(s->r), 0);
        assert_int_equal(hv_msg_pending(s->r), 0);
        total_rx += s->received;
        total_drop += dropped;
        pthread_mutex_destroy(&s->lock);
        free(s->mem);
    }
    print_message("stress: %u rings x %u records: %llu received, %llu dropped, %lu flushes published\n",
                  STRESS_RINGS, STRESS_RECORDS, (unsigned long long)total_rx, (unsigned long long)total_drop,
                  atomic_load(&flushes_published));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(imm_yes_is_readable_at_once),
        cmocka_unit_test(imm_no_waits_for_a_full_batch),
        cmocka_unit_test(imm_no_batches_end_at_multiples_of_the_batch),
        cmocka_unit_test(flush_publishes_batched_records),
        cmocka_unit_test(imm_yes_publishes_the_records_before_it),
        cmocka_unit_test(records_keep_order_fields_and_payload),
        cmocka_unit_test(long_payload_is_truncated),
        cmocka_unit_test(stale_bytes_of_a_reused_slot_never_reach_the_reader),
        cmocka_unit_test(get_honours_max_and_keeps_the_rest),
        cmocka_unit_test(full_ring_drops_counts_and_says_so),
        cmocka_unit_test(imm_record_into_a_full_ring_is_dropped),
        cmocka_unit_test(stats_add_up_exactly),
        cmocka_unit_test(bad_arguments_are_rejected),
        cmocka_unit_test(producers_readers_and_flusher_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
