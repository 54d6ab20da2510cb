/*
 * The link layer's receiving side (hvcore/link.h): the frame decoder fed
 * arbitrary line bytes in input-chosen chunks, and a whole endpoint
 * (hv_link_recv / hv_link_send) reading the same bytes as its line.
 * Invariants: never crashes or reads out of bounds; every frame the decoder
 * accepts re-encodes to a frame that decodes to the same thing; an
 * endpoint never delivers more than the line carried, and every call
 * returns within its bound.
 */
#include <hvcore/link.h>

#include <stdlib.h>
#include <string.h>

#define MAXP 512u

struct line {
    const uint8_t *p;
    size_t n, off;
    size_t written;
    unsigned calls;
};

static hv_status_t line_read(void *ctx, uint8_t *buf, size_t cap, size_t *got)
{
    struct line *l = ctx;
    size_t k = l->n - l->off;

    l->calls++;
    /* The chunk size comes from the data too (1 .. 16 bytes). */
    if (k > 1 + (l->off % 16))
        k = 1 + (l->off % 16);
    if (k > cap)
        k = cap;
    memcpy(buf, l->p + l->off, k);
    l->off += k;
    *got = k;
    return HV_STATUS_SUCCESS;
}

static hv_status_t line_write(void *ctx, const uint8_t *buf, size_t len, size_t *done)
{
    struct line *l = ctx;

    (void)buf;
    l->written += len;
    *done = len;
    return HV_STATUS_SUCCESS;
}

static void check_decoder(const uint8_t *data, size_t size)
{
    static uint8_t buf[HV_LINK_RX_BUFFER_SIZE(MAXP)], enc[HV_LINK_ENCODED_MAX(MAXP)], buf2[HV_LINK_RX_BUFFER_SIZE(MAXP)];
    struct hv_link_decoder d;
    size_t off = 0, step = 1;

    hv_link_decoder_init(&d, buf, sizeof(buf));
    while (off < size) {
        struct hv_link_frame f;
        enum hv_link_reason why;
        size_t used = 0, n = size - off > step ? step : size - off, w = 0;
        enum hv_link_decode_result r = hv_link_decode(&d, data + off, n, &used, &f, &why);

        if (used > n)
            abort();
        off += used;
        step = 1 + (step * 7 + used) % 64;
        if (r == HV_LINK_DECODE_MORE) {
            if (used != n)
                abort();
            continue;
        }
        if (r == HV_LINK_DECODE_BAD) {
            if (why == HV_LINK_REASON_NONE)
                abort();
            continue;
        }
        /* An accepted frame is well formed and survives a round trip. */
        if (f.version != HV_LINK_VERSION || f.length > MAXP || f.payload_dropped ||
            (f.kind == HV_LINK_KIND_ACK && f.length))
            abort();
        {
            struct hv_link_decoder d2;
            struct hv_link_frame g;
            size_t u2;

            if (hv_link_encode(f.kind, f.flags, f.seq, f.payload, f.length, enc, sizeof(enc), &w) != HV_STATUS_SUCCESS)
                abort();
            hv_link_decoder_init(&d2, buf2, sizeof(buf2));
            if (hv_link_decode(&d2, enc, w, &u2, &g, &why) != HV_LINK_DECODE_FRAME || u2 != w)
                abort();
            if (g.seq != f.seq || g.kind != f.kind || g.flags != f.flags || g.length != f.length ||
                (f.length && memcmp(g.payload, f.payload, f.length)))
                abort();
        }
    }
}

static void check_endpoint(const uint8_t *data, size_t size)
{
    static uint8_t rx[HV_LINK_RX_BUFFER_SIZE(MAXP)], out[MAXP];
    struct line ln = { data, size, 0, 0, 0 };
    struct hv_link_io io = { .ctx = &ln, .read = line_read, .write = line_write };
    struct hv_link_config cfg = { .max_payload = MAXP, .ack_timeout = 8, .max_retries = 2, .initial_seq = 5 };
    struct hv_link l;
    unsigned delivered = 0, rounds;

    if (hv_link_init(&l, &io, &cfg, rx, sizeof(rx)) != HV_STATUS_SUCCESS)
        abort();
    for (rounds = 0; rounds < 64 && ln.off < size; rounds++) {
        uint32_t len = 0;
        unsigned before = ln.calls;
        hv_status_t st = rounds % 3 == 2 ? hv_link_send(&l, "x", 1) : hv_link_recv(&l, out, sizeof(out), &len, 16);

        if (rounds % 3 != 2 && st == HV_STATUS_SUCCESS) {
            if (len > MAXP)
                abort();
            delivered++;
        }
        /* Bounded: a recv reads at most its timeout plus a burst of 64 late chunks plus one frame's worth. */
        if (ln.calls - before > 4096)
            abort();
    }
    /* Each delivered payload needs at least an opening flag and a 16-byte body on the line. */
    if ((size_t)delivered * 17 > size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decoder(data, size);
    check_endpoint(data, size);
    return 0;
}
