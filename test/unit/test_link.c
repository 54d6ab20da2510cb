/*
 * The link layer (hvcore/link.h) against a fake byte channel with fault
 * injection: two endpoints in one thread, the channel "pumps" the peer
 * (hv_link_poll) whenever a reader finds its queue empty, so the whole
 * exchange is deterministic (poll-count clock, seeded PRNG). Faults are
 * applied per frame on the way: drops, duplicates, flipped bits,
 * truncation, garbage between frames, delayed (reordered) frames.
 */
#include "support.h"

#include <hvcore/link.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QCAP (1u << 21)
#define MAXP 2048u

/* ---- PRNG --------------------------------------------------------------- */
static uint32_t rng_state = 1;

static uint32_t rnd(void)
{
    uint32_t x = rng_state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

/* ---- one direction of the fake line ------------------------------------ */
struct faults {
    unsigned drop, dup, flip, trunc, noise, delay; /* per mille, per frame */
};

struct dir {
    uint8_t *q;
    size_t head, tail;
    uint8_t acc[HV_LINK_ENCODED_MAX(MAXP) + 8];
    size_t acc_len;
    uint8_t held[HV_LINK_ENCODED_MAX(MAXP) + 8];
    size_t held_len;
    struct faults f;
    unsigned dropped, duplicated, flipped, truncated, noised, delayed, frames;
};

static void q_push(struct dir *d, const uint8_t *p, size_t n)
{
    assert_true(d->tail + n <= QCAP);
    memcpy(d->q + d->tail, p, n);
    d->tail += n;
}

static void deliver(struct dir *d, const uint8_t *fr, size_t n)
{
    uint8_t tmp[sizeof(d->acc)];
    unsigned r = rnd() % 1000;
    bool late = false;

    d->frames++;
    if (rnd() % 1000 < d->f.noise) {
        uint8_t junk[8];
        size_t k = 1 + rnd() % sizeof(junk), i;

        for (i = 0; i < k; i++)
            junk[i] = (uint8_t)(rnd() % 4 == 0 ? 0x7E : rnd());
        q_push(d, junk, k);
        d->noised++;
    }
    if (r < d->f.drop) {
        d->dropped++;
    } else if ((r -= d->f.drop) < d->f.flip) {
        memcpy(tmp, fr, n);
        tmp[1 + rnd() % (n - 2)] ^= (uint8_t)(1u << (rnd() % 8));
        q_push(d, tmp, n);
        d->flipped++;
    } else if ((r -= d->f.flip) < d->f.trunc) {
        q_push(d, fr, 1 + rnd() % (n - 2));
        d->truncated++;
    } else if ((r -= d->f.trunc) < d->f.dup) {
        q_push(d, fr, n);
        q_push(d, fr, n);
        d->duplicated++;
    } else if ((r -= d->f.dup) < d->f.delay && d->held_len == 0) {
        memcpy(d->held, fr, n);
        d->held_len = n;
        d->delayed++;
        late = true;
    } else {
        q_push(d, fr, n);
    }
    if (!late && d->held_len) {
        q_push(d, d->held, d->held_len);
        d->held_len = 0;
    }
}

/* Cut the written byte stream into frames (0x7E body 0x7E) for the faults. */
static void dir_write(struct dir *d, const uint8_t *p, size_t n)
{
    while (n--) {
        uint8_t b = *p++;

        if (d->acc_len == 0) {
            if (b == 0x7E)
                d->acc[d->acc_len++] = b;
            else
                q_push(d, &b, 1);
            continue;
        }
        assert_true(d->acc_len < sizeof(d->acc));
        d->acc[d->acc_len++] = b;
        if (b != 0x7E)
            continue;
        if (d->acc_len == 2) {
            d->acc_len = 1;
            continue;
        }
        deliver(d, d->acc, d->acc_len);
        d->acc_len = 0;
    }
}

/* ---- an endpoint's io --------------------------------------------------- */
struct end {
    struct dir *in, *out;
    struct hv_link *peer;   /* pumped when our input is empty */
    size_t read_max;        /* bytes per read (1 = a UART without FIFO) */
    bool lost, read_error, write_error, stall;
    unsigned reads, writes;
};

static bool pumping;

static hv_status_t end_read(void *ctx, uint8_t *buf, size_t cap, size_t *got)
{
    struct end *e = ctx;
    size_t n;

    e->reads++;
    *got = 0;
    if (e->lost)
        return HV_STATUS_DEVICE_CONNECTION_LOST;
    if (e->read_error)
        return HV_STATUS_READ_FAILED;
    if (e->in->head == e->in->tail && e->peer && !pumping) {
        pumping = true;
        (void)hv_link_poll(e->peer, NULL);
        pumping = false;
    }
    n = e->in->tail - e->in->head;
    if (n > cap)
        n = cap;
    if (e->read_max && n > e->read_max)
        n = e->read_max;
    memcpy(buf, e->in->q + e->in->head, n);
    e->in->head += n;
    if (e->in->head == e->in->tail)
        e->in->head = e->in->tail = 0;
    *got = n;
    return HV_STATUS_SUCCESS;
}

static hv_status_t end_write(void *ctx, const uint8_t *buf, size_t len, size_t *done)
{
    struct end *e = ctx;

    e->writes++;
    *done = 0;
    if (e->lost)
        return HV_STATUS_DEVICE_CONNECTION_LOST;
    if (e->write_error)
        return HV_STATUS_WRITE_FAILED;
    if (e->stall)
        return HV_STATUS_SUCCESS;
    dir_write(e->out, buf, len);
    *done = len;
    return HV_STATUS_SUCCESS;
}

/* ---- fixture ------------------------------------------------------------ */
struct fx {
    struct dir ab, ba;
    struct end ea, eb;
    struct hv_link a, b;
    uint8_t rxa[HV_LINK_RX_BUFFER_SIZE(MAXP)], rxb[HV_LINK_RX_BUFFER_SIZE(MAXP)];
};

/* ACK timeout of the next fixture, in ticks (poll-count clock: read attempts). */
static uint64_t fx_ack_timeout = 40;

static struct hv_link_config cfg_of(uint32_t seq, uint32_t retries)
{
    struct hv_link_config c = { .max_payload = MAXP, .ack_timeout = fx_ack_timeout, .max_retries = retries, .initial_seq = seq };

    return c;
}

static struct fx *fx_new(uint32_t seed, uint32_t retries)
{
    struct fx *x = calloc(1, sizeof(*x));
    struct hv_link_io ia, ib;
    struct hv_link_config ca = cfg_of(0x7E7D7E00u, retries), cb = cfg_of(0xFFFFFFF0u, retries);

    assert_non_null(x);
    rng_state = seed;
    x->ab.q = malloc(QCAP);
    x->ba.q = malloc(QCAP);
    assert_non_null(x->ab.q);
    assert_non_null(x->ba.q);
    x->ea = (struct end){ .in = &x->ba, .out = &x->ab, .peer = &x->b };
    x->eb = (struct end){ .in = &x->ab, .out = &x->ba, .peer = &x->a };
    ia = (struct hv_link_io){ .ctx = &x->ea, .read = end_read, .write = end_write };
    ib = (struct hv_link_io){ .ctx = &x->eb, .read = end_read, .write = end_write };
    assert_int_equal(hv_link_init(&x->a, &ia, &ca, x->rxa, sizeof(x->rxa)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_link_init(&x->b, &ib, &cb, x->rxb, sizeof(x->rxb)), HV_STATUS_SUCCESS);
    return x;
}

static void fx_free(struct fx *x)
{
    free(x->ab.q);
    free(x->ba.q);
    free(x);
}

/* Payloads rich in delimiter and escape bytes. */
static uint32_t make_msg(uint8_t *p, uint32_t i, uint32_t maxlen)
{
    uint32_t len = rnd() % (maxlen + 1), k;

    for (k = 0; k < len; k++) {
        uint32_t r = rnd() % 5;

        p[k] = r == 0 ? 0x7E : r == 1 ? 0x7D : (uint8_t)(i * 31 + k);
    }
    if (len >= 4)
        memcpy(p, &i, 4);
    return len;
}

/* ---- pure functions ----------------------------------------------------- */

static void crc32_check_value(void **state)
{
    (void)state;
    assert_int_equal(hv_link_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(hv_link_crc32(hv_link_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    assert_int_equal(hv_link_crc32(0, NULL, 0), 0);
}

static void encode_escapes_and_decodes_back(void **state)
{
    uint8_t payload[256], out[HV_LINK_ENCODED_MAX(256)], buf[HV_LINK_RX_BUFFER_SIZE(256)];
    struct hv_link_decoder d;
    struct hv_link_frame f;
    enum hv_link_reason why;
    size_t n, used, i, flags = 0;
    unsigned k;

    (void)state;
    for (k = 0; k < 256; k++)
        payload[k] = (uint8_t)k;
    /* Given a payload with every byte value and a seq containing 0x7E/0x7D, */
    assert_int_equal(hv_link_encode(HV_LINK_KIND_DATA, HV_LINK_FLAG_SYN, 0x7D7E7D7Eu, payload, 256, out, sizeof(out),
                                    &n),
                     HV_STATUS_SUCCESS);
    /* then 0x7E only delimits (first and last byte), */
    for (i = 0; i < n; i++)
        flags += out[i] == 0x7E;
    assert_int_equal(flags, 2);
    assert_int_equal(out[0], 0x7E);
    assert_int_equal(out[n - 1], 0x7E);
    /* and the decoder gives the frame back, consuming it exactly. */
    hv_link_decoder_init(&d, buf, sizeof(buf));
    assert_int_equal(hv_link_decode(&d, out, n, &used, &f, &why), HV_LINK_DECODE_FRAME);
    assert_int_equal(used, n);
    assert_int_equal(why, HV_LINK_REASON_NONE);
    assert_int_equal(f.kind, HV_LINK_KIND_DATA);
    assert_int_equal(f.flags, HV_LINK_FLAG_SYN);
    assert_int_equal(f.seq, 0x7D7E7D7Eu);
    assert_int_equal(f.length, 256);
    assert_memory_equal(f.payload, payload, 256);
    /* Too small an output is refused without writing a partial frame size. */
    assert_int_equal(hv_link_encode(HV_LINK_KIND_DATA, 0, 1, payload, 256, out, 100, &n),
                     HV_STATUS_INSUFFICIENT_RESOURCES);
    assert_int_equal(n, 0);
    /* Bad arguments. */
    assert_int_equal(hv_link_encode(HV_LINK_KIND_ACK, 0, 1, payload, 1, out, sizeof(out), &n),
                     HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_link_encode(3, 0, 1, NULL, 0, out, sizeof(out), &n), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_link_encode(HV_LINK_KIND_DATA, 0x80, 1, NULL, 0, out, sizeof(out), &n),
                     HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_link_encode(HV_LINK_KIND_DATA, 0, 1, NULL, 5, out, sizeof(out), &n),
                     HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_link_encode(HV_LINK_KIND_DATA, 0, 1, payload, HV_LINK_MAX_PAYLOAD + 1, out, sizeof(out), &n),
                     HV_STATUS_INVALID_PARAMETER);
}

/* Build a body by hand (for frames the encoder refuses to make). */
static size_t raw_frame(uint8_t *out, const uint8_t *body, size_t n, bool fix_crc)
{
    uint8_t b[64];
    size_t o = 0, i;

    memcpy(b, body, n);
    if (fix_crc) {
        uint32_t c = hv_link_crc32(0, b, n - 4);

        b[n - 4] = (uint8_t)c;
        b[n - 3] = (uint8_t)(c >> 8);
        b[n - 2] = (uint8_t)(c >> 16);
        b[n - 1] = (uint8_t)(c >> 24);
    }
    out[o++] = 0x7E;
    for (i = 0; i < n; i++) {
        if (b[i] == 0x7E || b[i] == 0x7D) {
            out[o++] = 0x7D;
            out[o++] = b[i] ^ 0x20;
        } else {
            out[o++] = b[i];
        }
    }
    out[o++] = 0x7E;
    return o;
}

static enum hv_link_reason decode_one(const uint8_t *in, size_t n, uint8_t *peer_version)
{
    uint8_t buf[64];
    struct hv_link_decoder d;
    struct hv_link_frame f;
    enum hv_link_reason why = HV_LINK_REASON_NONE;
    size_t used, off = 0;

    hv_link_decoder_init(&d, buf, sizeof(buf));
    while (off < n) {
        enum hv_link_decode_result r = hv_link_decode(&d, in + off, n - off, &used, &f, &why);

        off += used;
        if (r != HV_LINK_DECODE_MORE)
            break;
    }
    if (peer_version)
        *peer_version = d.peer_version;
    return why;
}

static void decoder_names_each_defect(void **state)
{
    uint8_t body[16] = { 1, 1, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0 }, out[64], big[200];
    uint8_t ver = 0;
    size_t n;

    (void)state;
    n = raw_frame(out, body, 16, true);
    assert_int_equal(decode_one(out, n, NULL), HV_LINK_REASON_NONE);
    /* A flipped bit. */
    out[5] ^= 0x04;
    assert_int_equal(decode_one(out, n, NULL), HV_LINK_REASON_BAD_CRC);
    /* Another version, CRC intact: a clear version error naming it. */
    body[0] = 2;
    n = raw_frame(out, body, 16, true);
    assert_int_equal(decode_one(out, n, &ver), HV_LINK_REASON_BAD_VERSION);
    assert_int_equal(ver, 2);
    body[0] = 1;
    body[1] = 9; /* unknown kind */
    n = raw_frame(out, body, 16, true);
    assert_int_equal(decode_one(out, n, NULL), HV_LINK_REASON_BAD_HEADER);
    body[1] = 1;
    body[3] = 1; /* reserved */
    n = raw_frame(out, body, 16, true);
    assert_int_equal(decode_one(out, n, NULL), HV_LINK_REASON_BAD_HEADER);
    body[3] = 0;
    body[8] = 1; /* length says 1, the frame has 0 */
    n = raw_frame(out, body, 16, true);
    assert_int_equal(decode_one(out, n, NULL), HV_LINK_REASON_BAD_LENGTH);
    body[8] = 0;
    /* Truncated: fewer bytes than a header and CRC. */
    n = raw_frame(out, body, 8, false);
    assert_int_equal(decode_one(out, n, NULL), HV_LINK_REASON_TOO_SHORT);
    /* An escape cut by a delimiter. */
    {
        const uint8_t esc[] = { 0x7E, 1, 2, 0x7D, 0x7E };

        assert_int_equal(decode_one(esc, sizeof(esc), NULL), HV_LINK_REASON_BAD_ESCAPE);
    }
    /* Longer than the buffer (64 bytes). */
    memset(big, 0x11, sizeof(big));
    big[0] = 0x7E;
    big[sizeof(big) - 1] = 0x7E;
    assert_int_equal(decode_one(big, sizeof(big), NULL), HV_LINK_REASON_TOO_LONG);
}

static void decoder_resyncs_after_garbage_and_truncation(void **state)
{
    uint8_t line[4096], buf[HV_LINK_RX_BUFFER_SIZE(64)], p[3][64];
    size_t n = 0, w, off, used;
    struct hv_link_decoder d;
    uint32_t lens[3] = { 0, 17, 64 }, seen = 0, bad = 0, i;
    unsigned chunked;

    (void)state;
    rng_state = 99;
    for (i = 0; i < 3; i++)
        make_msg(p[i], i, 64);
    /* garbage, frame 0, a truncated frame, garbage with delimiters, frame 1, frame 2 */
    memcpy(line + n, "\x01\x02\x7D\x33", 4);
    n += 4;
    assert_int_equal(hv_link_encode(1, 0, 10, p[0], lens[0], line + n, sizeof(line) - n, &w), 0);
    n += w;
    assert_int_equal(hv_link_encode(1, 0, 99, p[2], 64, line + n, sizeof(line) - n, &w), 0);
    n += w / 2; /* cut mid-frame */
    memcpy(line + n, "\x7E\x55\x7E\x7E\x66", 5);
    n += 5;
    assert_int_equal(hv_link_encode(1, 0, 11, p[1], lens[1], line + n, sizeof(line) - n, &w), 0);
    n += w;
    assert_int_equal(hv_link_encode(1, 0, 12, p[2], lens[2], line + n, sizeof(line) - n, &w), 0);
    n += w;
    /* Fed whole, byte by byte and in random chunks, the three good frames
     * come out in order and the damage is reported, never more. */
    for (chunked = 0; chunked < 3; chunked++) {
        hv_link_decoder_init(&d, buf, sizeof(buf));
        seen = bad = 0;
        off = 0;
        while (off < n) {
            size_t step = chunked == 0 ? n - off : chunked == 1 ? 1 : 1 + rnd() % 13;
            size_t end = off + step > n ? n : off + step;

            while (off < end) {
                struct hv_link_frame f;
                enum hv_link_reason why;
                enum hv_link_decode_result r = hv_link_decode(&d, line + off, end - off, &used, &f, &why);

                off += used;
                if (r == HV_LINK_DECODE_FRAME) {
                    assert_true(seen < 3);
                    assert_int_equal(f.seq, 10 + seen);
                    assert_int_equal(f.length, lens[seen]);
                    if (f.length)
                        assert_memory_equal(f.payload, p[seen], f.length);
                    seen++;
                } else if (r == HV_LINK_DECODE_BAD) {
                    bad++;
                }
            }
        }
        assert_int_equal(seen, 3);
        assert_true(bad >= 2); /* the truncated frame and the garbage between delimiters */
        assert_int_equal(d.garbage, 4);
    }
}

/* ---- endpoints ---------------------------------------------------------- */

static void init_refuses_bad_configuration(void **state)
{
    struct hv_link l;
    uint8_t rx[HV_LINK_RX_BUFFER_SIZE(64)];
    struct end e = { 0 };
    struct hv_link_io io = { .ctx = &e, .read = end_read, .write = end_write };
    struct hv_link_config c = { .max_payload = 64, .ack_timeout = 10, .max_retries = 1 };

    (void)state;
    assert_int_equal(hv_link_init(&l, &io, &c, rx, sizeof(rx) - 1), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_link_init(&l, NULL, &c, rx, sizeof(rx)), HV_STATUS_INVALID_PARAMETER);
    c.ack_timeout = 0;
    assert_int_equal(hv_link_init(&l, &io, &c, rx, sizeof(rx)), HV_STATUS_INVALID_PARAMETER);
    c.ack_timeout = 10;
    c.max_payload = HV_LINK_MAX_PAYLOAD + 1;
    assert_int_equal(hv_link_init(&l, &io, &c, rx, sizeof(rx)), HV_STATUS_INVALID_PARAMETER);
    c.max_payload = 64;
    io.write = NULL;
    assert_int_equal(hv_link_init(&l, &io, &c, rx, sizeof(rx)), HV_STATUS_INVALID_PARAMETER);
    io.write = end_write;
    assert_int_equal(hv_link_init(&l, &io, &c, rx, sizeof(rx)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_link_send(&l, rx, 65), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_link_last_reason(&l), HV_LINK_REASON_BAD_ARGUMENT);
    assert_string_equal(hv_link_reason_name(HV_LINK_REASON_BAD_CRC), "BAD_CRC");
    assert_string_equal(hv_link_reason_name((enum hv_link_reason)200), "UNKNOWN");
}

/* Request/response both ways: A -> B, then B -> A, n times. */
static void exchange(struct fx *x, unsigned n, uint32_t maxlen)
{
    static uint8_t msg[MAXP], got[MAXP];
    unsigned i;

    for (i = 0; i < n; i++) {
        struct hv_link *tx = i % 2 ? &x->b : &x->a, *rx = i % 2 ? &x->a : &x->b;
        uint32_t len = make_msg(msg, i, maxlen), glen = 0;
        hv_status_t st = hv_link_send(tx, msg, len);

        if (!hv_success(st)) {
            struct hv_link_stats s1, s2;

            hv_link_get_stats(tx, &s1);
            hv_link_get_stats(rx, &s2);
            fail_msg("message %u: send %s (%s): tx sent %llu retr %llu acks_rx %llu bad %llu stray %llu; "
                     "rx delivered %llu dup %llu busy %llu bad %llu acks_sent %llu",
                     i, hv_status_name(st), hv_link_reason_name(hv_link_last_reason(tx)),
                     (unsigned long long)s1.data_sent, (unsigned long long)s1.retransmits,
                     (unsigned long long)s1.acks_received, (unsigned long long)s1.bad_frames,
                     (unsigned long long)s1.stray_acks, (unsigned long long)s2.data_delivered,
                     (unsigned long long)s2.duplicates, (unsigned long long)s2.busy_drops,
                     (unsigned long long)s2.bad_frames, (unsigned long long)s2.acks_sent);
        }
        st = hv_link_recv(rx, got, sizeof(got), &glen, 200);
        if (!hv_success(st))
            fail_msg("message %u: recv %s (%s)", i, hv_status_name(st), hv_link_reason_name(hv_link_last_reason(rx)));
        assert_int_equal(glen, len);
        assert_memory_equal(got, msg, len);
    }
}

static void clean_line_delivers_everything_once(void **state)
{
    struct fx *x = fx_new(7, 3);
    struct hv_link_stats sa, sb;

    (void)state;
    exchange(x, 200, 600);
    hv_link_get_stats(&x->a, &sa);
    hv_link_get_stats(&x->b, &sb);
    assert_int_equal(sa.data_sent, 100);
    assert_int_equal(sa.retransmits, 0);
    assert_int_equal(sb.data_delivered, 100);
    assert_int_equal(sa.data_delivered, 100);
    assert_int_equal(sa.duplicates + sb.duplicates, 0);
    assert_int_equal(sa.bad_frames + sb.bad_frames, 0);
    fx_free(x);
}

static void noisy_line_delivers_everything_once_in_order(void **state)
{
    struct fx *x = fx_new(12345, 40);
    struct faults f = { .drop = 60, .dup = 60, .flip = 60, .trunc = 40, .noise = 60, .delay = 40 };
    struct hv_link_stats sa, sb;

    (void)state;
    x->ab.f = f;
    x->ba.f = f;
    /* Given a line that drops, doubles, flips, truncates, delays frames
     * and adds garbage in both directions, */
    exchange(x, 400, 700);
    hv_link_get_stats(&x->a, &sa);
    hv_link_get_stats(&x->b, &sb);
    /* then every message arrived exactly once and in order (exchange checked
     * each), and every kind of fault really happened and was recovered from. */
    assert_true(x->ab.dropped && x->ab.duplicated && x->ab.flipped && x->ab.truncated && x->ab.noised &&
                x->ab.delayed);
    assert_true(x->ba.dropped && x->ba.duplicated && x->ba.flipped && x->ba.truncated && x->ba.noised &&
                x->ba.delayed);
    assert_int_equal(sa.data_delivered, 200);
    assert_int_equal(sb.data_delivered, 200);
    assert_true(sa.retransmits > 0 && sb.retransmits > 0);
    assert_true(sa.duplicates + sb.duplicates > 0);
    assert_true(sa.bad_frames > 0 && sb.bad_frames > 0);
    assert_true(sa.garbage_bytes + sb.garbage_bytes + sa.bad_frames > 0);
    printf("noisy line: faults a->b drop %u dup %u flip %u trunc %u noise %u delay %u; "
           "retransmits %llu/%llu duplicates %llu/%llu bad frames %llu/%llu\n",
           x->ab.dropped, x->ab.duplicated, x->ab.flipped, x->ab.truncated, x->ab.noised, x->ab.delayed,
           (unsigned long long)sa.retransmits, (unsigned long long)sb.retransmits,
           (unsigned long long)sa.duplicates, (unsigned long long)sb.duplicates,
           (unsigned long long)sa.bad_frames, (unsigned long long)sb.bad_frames);
    fx_free(x);
}

static void uart_byte_at_a_time_with_noise(void **state)
{
    struct fx *x;
    struct faults f = { .drop = 50, .flip = 80, .noise = 80 };

    (void)state;
    fx_ack_timeout = 4000; /* one tick per byte read */
    x = fx_new(4242, 40);
    fx_ack_timeout = 40;
    x->ea.read_max = 1;
    x->eb.read_max = 1;
    x->ab.f = f;
    x->ba.f = f;
    exchange(x, 60, 300);
    assert_true(x->ab.flipped + x->ba.flipped > 0);
    fx_free(x);
}

static void silent_peer_times_out_after_bounded_retries(void **state)
{
    struct fx *x = fx_new(1, 5);
    struct hv_link_stats s;
    uint8_t m[10] = { 0 };

    (void)state;
    x->ea.peer = NULL; /* nobody answers */
    assert_int_equal(hv_link_send(&x->a, m, sizeof(m)), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_link_last_reason(&x->a), HV_LINK_REASON_NO_ACK);
    hv_link_get_stats(&x->a, &s);
    assert_int_equal(s.data_sent, 6);
    assert_int_equal(s.retransmits, 5);
    /* Bounded: (retries + 1) * ack_timeout read attempts, plus one per transmission. */
    assert_true(x->ea.reads <= 6 * (40 + 1));
    fx_free(x);
}

static void recv_times_out_or_names_the_corruption(void **state)
{
    struct fx *x = fx_new(1, 5);
    uint8_t buf[16], out[64], body[16] = { 1, 1, 0, 0, 5 };
    uint32_t len = 99;
    size_t n;

    (void)state;
    x->eb.peer = NULL;
    assert_int_equal(hv_link_recv(&x->b, buf, sizeof(buf), &len, 30), HV_STATUS_TIMEOUT);
    assert_int_equal(len, 0);
    assert_int_equal(hv_link_last_reason(&x->b), HV_LINK_REASON_IDLE);
    assert_true(x->eb.reads <= 32);
    /* Only a corrupt frame arrives: INVALID_PACKET, saying why. */
    n = raw_frame(out, body, 16, false);
    q_push(&x->ab, out, n);
    assert_int_equal(hv_link_recv(&x->b, buf, sizeof(buf), &len, 30), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_link_last_reason(&x->b), HV_LINK_REASON_BAD_CRC);
    /* A peer of another version. */
    body[0] = 2;
    n = raw_frame(out, body, 16, true);
    q_push(&x->ab, out, n);
    assert_int_equal(hv_link_recv(&x->b, buf, sizeof(buf), &len, 30), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_link_last_reason(&x->b), HV_LINK_REASON_BAD_VERSION);
    fx_free(x);
}

static void line_failures_are_reported_as_such(void **state)
{
    struct fx *x = fx_new(1, 5);
    uint8_t m[4] = { 1, 2, 3, 4 };
    uint32_t len;

    (void)state;
    x->ea.lost = true;
    assert_int_equal(hv_link_send(&x->a, m, 4), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_link_last_reason(&x->a), HV_LINK_REASON_PEER_CLOSED);
    assert_int_equal(hv_link_recv(&x->a, m, 4, &len, 5), HV_STATUS_DEVICE_CONNECTION_LOST);
    x->ea.lost = false;
    x->ea.write_error = true;
    assert_int_equal(hv_link_send(&x->a, m, 4), HV_STATUS_WRITE_FAILED);
    assert_int_equal(hv_link_last_reason(&x->a), HV_LINK_REASON_IO_ERROR);
    x->ea.write_error = false;
    x->ea.read_error = true;
    assert_int_equal(hv_link_send(&x->a, m, 4), HV_STATUS_READ_FAILED);
    x->ea.read_error = false;
    /* A line that takes no byte: TIMEOUT (WRITE_STALL), bounded. */
    x->ea.stall = true;
    x->ea.writes = 0;
    assert_int_equal(hv_link_send(&x->a, m, 4), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_link_last_reason(&x->a), HV_LINK_REASON_WRITE_STALL);
    assert_true(x->ea.writes <= 42);
    x->ea.stall = false;
    /* The frame written before the read failed did reach B: delivered once
     * (the sender could not know; an upper layer re-asks idempotently). */
    assert_int_equal(hv_link_recv(&x->b, m, 4, &len, 100), HV_STATUS_SUCCESS);
    assert_memory_equal(m, "\x01\x02\x03\x04", 4);
    assert_int_equal(hv_link_recv(&x->b, m, 4, &len, 100), HV_STATUS_TIMEOUT);
    /* And the link still works afterwards. */
    exchange(x, 4, 50);
    fx_free(x);
}

static void held_payload_makes_the_next_wait(void **state)
{
    struct fx *x = fx_new(3, 3);
    uint8_t m1[8] = "first", m2[8] = "second", m3[8] = "third", got[8];
    uint32_t len = 0;
    struct hv_link_stats sb;

    (void)state;
    /* B holds m1 (nobody called recv yet); m2 has nowhere to go. */
    assert_int_equal(hv_link_send(&x->a, m1, 8), HV_STATUS_SUCCESS);
    assert_int_equal(hv_link_send(&x->a, m2, 8), HV_STATUS_TIMEOUT);
    hv_link_get_stats(&x->b, &sb);
    assert_true(sb.busy_drops >= 4);
    assert_int_equal(sb.data_delivered, 1);
    /* A too small buffer: the payload stays held and its size is told. */
    assert_int_equal(hv_link_recv(&x->b, got, 4, &len, 5), HV_STATUS_INSUFFICIENT_RESOURCES);
    assert_int_equal(len, 8);
    assert_int_equal(hv_link_last_reason(&x->b), HV_LINK_REASON_NO_ROOM);
    assert_int_equal(hv_link_recv(&x->b, got, 8, &len, 5), HV_STATUS_SUCCESS);
    assert_memory_equal(got, m1, 8);
    /* m2 was refused (its sender was told TIMEOUT), never delivered late. */
    assert_int_equal(hv_link_send(&x->a, m3, 8), HV_STATUS_SUCCESS);
    assert_int_equal(hv_link_recv(&x->b, got, 8, &len, 5), HV_STATUS_SUCCESS);
    assert_memory_equal(got, m3, 8);
    assert_int_equal(hv_link_recv(&x->b, got, 8, &len, 5), HV_STATUS_TIMEOUT);
    fx_free(x);
}

static void new_session_is_accepted_old_syn_replay_is_not(void **state)
{
    struct fx *x = fx_new(5, 3);
    uint8_t first[HV_LINK_ENCODED_MAX(8)], got[8];
    size_t first_len;
    uint32_t len;
    struct hv_link_stats sb;

    (void)state;
    /* Capture A's first (SYN) frame as the line carried it. */
    assert_int_equal(hv_link_send(&x->a, "m1", 2), HV_STATUS_SUCCESS);
    assert_int_equal(hv_link_encode(HV_LINK_KIND_DATA, HV_LINK_FLAG_SYN, 0x7E7D7E00u, "m1", 2, first, sizeof(first),
                                    &first_len),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_link_recv(&x->b, got, 8, &len, 5), HV_STATUS_SUCCESS);
    assert_int_equal(hv_link_send(&x->a, "m2", 2), HV_STATUS_SUCCESS);
    assert_int_equal(hv_link_recv(&x->b, got, 8, &len, 5), HV_STATUS_SUCCESS);
    assert_memory_equal(got, "m2", 2);
    /* The old SYN frame shows up again: acknowledged, not delivered. */
    q_push(&x->ab, first, first_len);
    assert_int_equal(hv_link_recv(&x->b, got, 8, &len, 10), HV_STATUS_TIMEOUT);
    hv_link_get_stats(&x->b, &sb);
    assert_int_equal(sb.duplicates, 1);
    assert_int_equal(sb.data_delivered, 2);
    /* A reconnects with a new session starting far behind: delivered. */
    hv_link_reset(&x->a, 0x7E7D7E00u - 100000u);
    assert_int_equal(hv_link_send(&x->a, "m3", 2), HV_STATUS_SUCCESS);
    assert_int_equal(hv_link_recv(&x->b, got, 8, &len, 5), HV_STATUS_SUCCESS);
    assert_memory_equal(got, "m3", 2);
    /* And B restarting (its numbering lost) still takes A's next frames. */
    hv_link_reset(&x->b, 77);
    exchange(x, 6, 40);
    fx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32_check_value),
        cmocka_unit_test(encode_escapes_and_decodes_back),
        cmocka_unit_test(decoder_names_each_defect),
        cmocka_unit_test(decoder_resyncs_after_garbage_and_truncation),
        cmocka_unit_test(init_refuses_bad_configuration),
        cmocka_unit_test(clean_line_delivers_everything_once),
        cmocka_unit_test(noisy_line_delivers_everything_once_in_order),
        cmocka_unit_test(uart_byte_at_a_time_with_noise),
        cmocka_unit_test(silent_peer_times_out_after_bounded_retries),
        cmocka_unit_test(recv_times_out_or_names_the_corruption),
        cmocka_unit_test(line_failures_are_reported_as_such),
        cmocka_unit_test(held_payload_makes_the_next_wait),
        cmocka_unit_test(new_session_is_accepted_old_syn_replay_is_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
