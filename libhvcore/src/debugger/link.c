/* SPDX-License-Identifier: MIT */
/*
 * The reliable link layer (hvcore/link.h): HDLC-style framing, CRC-32,
 * stop-and-wait ARQ with bounded retransmission. Freestanding: the same
 * object runs in VMX root (a polled UART on a halted target) and in the
 * user-mode client (a TCP socket). No allocation, no recursion, every loop
 * bounded by the caller's clock (or by a count of I/O attempts).
 */
#include <hvcore/link.h>

#include "lib.h"

/* Decoder states. */
enum {
    DEC_HUNT = 0,  /* before the first delimiter: bytes are garbage */
    DEC_IN,        /* inside a frame (or between frames, len 0) */
    DEC_ESC,       /* the previous byte was the escape */
    DEC_DISCARD,   /* the frame is already bad: skip to the next delimiter */
};

/* Bytes moved per I/O call; two of these may be live on one stack. */
#define LINK_CHUNK 256u

/* ---- CRC-32 ------------------------------------------------------------- */

/* Nibble table for the reflected polynomial 0xEDB88320: 64 bytes of
 * constant data instead of 1 KiB, two lookups per byte. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t hv_link_crc32(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;

    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
    }
    return ~crc;
}

static bool frame_args_ok(uint8_t kind, uint8_t flags, const void *payload, uint32_t len)
{
    if (kind != HV_LINK_KIND_DATA && kind != HV_LINK_KIND_ACK)
        return false;
    if (flags & ~HV_LINK_FLAG_SYN)
        return false;
    if (kind == HV_LINK_KIND_ACK && len != 0)
        return false;
    if (len > HV_LINK_MAX_PAYLOAD || (payload == NULL && len != 0))
        return false;
    return true;
}

static void make_header(uint8_t hdr[HV_LINK_HEADER_SIZE], uint8_t kind, uint8_t flags, uint32_t seq, uint32_t len)
{
    hdr[0] = HV_LINK_VERSION;
    hdr[1] = kind;
    hdr[2] = flags;
    hdr[3] = 0;
    hv_lib_put_le32(hdr + 4, seq);
    hv_lib_put_le32(hdr + 8, len);
}

/* ---- Encoder ------------------------------------------------------------ */

/* Escapes into a bounded output; `fail` latches when it runs out. */
struct esc_out {
    uint8_t *out;
    size_t cap;
    size_t len;
    bool fail;
};

static void esc_raw(struct esc_out *o, uint8_t b)
{
    if (o->len >= o->cap) {
        o->fail = true;
        return;
    }
    o->out[o->len++] = b;
}

static void esc_bytes(struct esc_out *o, const uint8_t *p, size_t n)
{
    while (n--) {
        uint8_t b = *p++;

        if (b == HV_LINK_FLAG_BYTE || b == HV_LINK_ESC_BYTE) {
            esc_raw(o, HV_LINK_ESC_BYTE);
            esc_raw(o, (uint8_t)(b ^ HV_LINK_ESC_XOR));
        } else {
            esc_raw(o, b);
        }
    }
}

hv_status_t hv_link_encode(uint8_t kind, uint8_t flags, uint32_t seq, const void *payload, uint32_t len,
                           uint8_t *out, size_t cap, size_t *written)
{
    uint8_t hdr[HV_LINK_HEADER_SIZE], crc[HV_LINK_TRAILER_SIZE];
    struct esc_out o = { out, cap, 0, false };

    if (written == NULL || out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    *written = 0;
    if (!frame_args_ok(kind, flags, payload, len))
        return HV_STATUS_INVALID_PARAMETER;
    make_header(hdr, kind, flags, seq, len);
    hv_lib_put_le32(crc, hv_link_crc32(hv_link_crc32(0, hdr, sizeof(hdr)), payload, len));
    esc_raw(&o, HV_LINK_FLAG_BYTE);
    esc_bytes(&o, hdr, sizeof(hdr));
    esc_bytes(&o, payload, len);
    esc_bytes(&o, crc, sizeof(crc));
    esc_raw(&o, HV_LINK_FLAG_BYTE);
    if (o.fail)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    *written = o.len;
    return HV_STATUS_SUCCESS;
}

/* ---- Decoder ------------------------------------------------------------ */

void hv_link_decoder_init(struct hv_link_decoder *d, uint8_t *buf, uint32_t cap)
{
    hv_lib_zero(d, sizeof(*d));
    d->buf = buf;
    d->cap = buf ? cap : 0;
    d->state = DEC_HUNT;
}

static void dec_start(struct hv_link_decoder *d)
{
    d->state = DEC_IN;
    d->len = 0;
    d->total = 0;
    d->crc = 0xFFFFFFFFu;
    d->error = HV_LINK_REASON_NONE;
}

/* Check a complete body; fills *f on success. The CRC ran while the bytes
 * came (lagging four bytes behind, so the trailer is not in it). */
static enum hv_link_reason check_body(struct hv_link_decoder *d, struct hv_link_frame *f)
{
    const uint8_t *b = d->buf;
    uint32_t n = d->total, length, crc = 0, i;

    if (n < HV_LINK_OVERHEAD)
        return HV_LINK_REASON_TOO_SHORT;
    for (i = 0; i < 4; i++)
        crc |= (uint32_t)d->tail[(n - 4 + i) % 4] << (8 * i);
    if (~d->crc != crc)
        return HV_LINK_REASON_BAD_CRC;
    /* The version is judged only on a frame whose CRC holds: noise cannot
     * pass for a peer of another version. */
    if (b[0] != HV_LINK_VERSION) {
        d->peer_version = b[0];
        return HV_LINK_REASON_BAD_VERSION;
    }
    length = hv_lib_get_le32(b + 8);
    if ((b[1] != HV_LINK_KIND_DATA && b[1] != HV_LINK_KIND_ACK) || (b[2] & ~HV_LINK_FLAG_SYN) || b[3] != 0)
        return HV_LINK_REASON_BAD_HEADER;
    if (length != n - HV_LINK_OVERHEAD)
        return HV_LINK_REASON_BAD_LENGTH;
    if (b[1] == HV_LINK_KIND_ACK && length != 0)
        return HV_LINK_REASON_BAD_HEADER;
    f->version = b[0];
    f->kind = b[1];
    f->flags = b[2];
    f->seq = hv_lib_get_le32(b + 4);
    f->length = length;
    f->payload_dropped = n > d->cap;
    f->payload = length && !f->payload_dropped ? b + HV_LINK_HEADER_SIZE : NULL;
    return HV_LINK_REASON_NONE;
}

static void dec_append(struct hv_link_decoder *d, uint8_t b)
{
    uint8_t *slot = &d->tail[d->total % 4];

    if (d->total >= 4) {
        d->crc ^= *slot;
        d->crc = (d->crc >> 4) ^ crc_nibble[d->crc & 0xFu];
        d->crc = (d->crc >> 4) ^ crc_nibble[d->crc & 0xFu];
    }
    *slot = b;
    if (d->len < d->cap) {
        d->buf[d->len++] = b;
    } else if (!d->header_only || d->cap < HV_LINK_HEADER_SIZE || d->total >= 0xFFFFFFF0u) {
        d->state = DEC_DISCARD;
        d->error = HV_LINK_REASON_TOO_LONG;
        return;
    }
    d->total++;
}

enum hv_link_decode_result hv_link_decode(struct hv_link_decoder *d, const uint8_t *in, size_t n, size_t *used,
                                          struct hv_link_frame *frame, enum hv_link_reason *reason)
{
    enum hv_link_reason why = HV_LINK_REASON_NONE;
    enum hv_link_decode_result res = HV_LINK_DECODE_MORE;
    size_t i;

    for (i = 0; i < n; i++) {
        uint8_t b = in[i];

        switch (d->state) {
        case DEC_HUNT:
            if (b == HV_LINK_FLAG_BYTE)
                dec_start(d);
            else
                d->garbage++;
            continue;
        case DEC_ESC:
            if (b == HV_LINK_FLAG_BYTE) {
                /* An escape cut short by a delimiter: the frame is lost,
                 * the delimiter opens the next one. */
                why = HV_LINK_REASON_BAD_ESCAPE;
                res = HV_LINK_DECODE_BAD;
                break;
            }
            d->state = DEC_IN;
            dec_append(d, (uint8_t)(b ^ HV_LINK_ESC_XOR));
            continue;
        case DEC_DISCARD:
            if (b == HV_LINK_FLAG_BYTE) {
                why = (enum hv_link_reason)d->error;
                res = HV_LINK_DECODE_BAD;
                break;
            }
            continue;
        default: /* DEC_IN */
            if (b == HV_LINK_ESC_BYTE) {
                d->state = DEC_ESC;
                continue;
            }
            if (b != HV_LINK_FLAG_BYTE) {
                dec_append(d, b);
                continue;
            }
            if (d->total == 0)
                continue; /* back-to-back delimiters: an empty frame */
            why = check_body(d, frame);
            res = why == HV_LINK_REASON_NONE ? HV_LINK_DECODE_FRAME : HV_LINK_DECODE_BAD;
            break;
        }
        /* A frame ended at delimiter in[i]; that delimiter opens the next. */
        dec_start(d);
        i++;
        break;
    }
    if (used)
        *used = i;
    if (reason)
        *reason = why;
    return res;
}

const char *hv_link_reason_name(enum hv_link_reason reason)
{
    static const char *const names[] = {
        [HV_LINK_REASON_NONE] = "NONE",
        [HV_LINK_REASON_BAD_CRC] = "BAD_CRC",
        [HV_LINK_REASON_BAD_VERSION] = "BAD_VERSION",
        [HV_LINK_REASON_BAD_HEADER] = "BAD_HEADER",
        [HV_LINK_REASON_BAD_LENGTH] = "BAD_LENGTH",
        [HV_LINK_REASON_TOO_SHORT] = "TOO_SHORT",
        [HV_LINK_REASON_TOO_LONG] = "TOO_LONG",
        [HV_LINK_REASON_BAD_ESCAPE] = "BAD_ESCAPE",
        [HV_LINK_REASON_BUSY] = "BUSY",
        [HV_LINK_REASON_NO_ACK] = "NO_ACK",
        [HV_LINK_REASON_IDLE] = "IDLE",
        [HV_LINK_REASON_PEER_CLOSED] = "PEER_CLOSED",
        [HV_LINK_REASON_IO_ERROR] = "IO_ERROR",
        [HV_LINK_REASON_WRITE_STALL] = "WRITE_STALL",
        [HV_LINK_REASON_BAD_ARGUMENT] = "BAD_ARGUMENT",
        [HV_LINK_REASON_NO_ROOM] = "NO_ROOM",
        [HV_LINK_REASON_PEER_RESTARTED] = "PEER_RESTARTED",
    };

    if ((unsigned)reason >= sizeof(names) / sizeof(names[0]) || names[reason] == NULL)
        return "UNKNOWN";
    return names[reason];
}

/* ---- Endpoint: time ----------------------------------------------------- */

static uint64_t link_now(struct hv_link *l)
{
    return l->io.now ? l->io.now(l->io.ctx) : l->ticks;
}

static uint64_t deadline_after(struct hv_link *l, uint64_t ticks)
{
    uint64_t now = link_now(l);

    return now + ticks < now ? UINT64_MAX : now + ticks;
}

static bool expired(struct hv_link *l, uint64_t deadline)
{
    return link_now(l) >= deadline;
}

/* Nothing moved: let time pass (poll-count clock) or wait for the line. */
static void link_idle(struct hv_link *l, bool for_write, uint64_t deadline)
{
    uint64_t now = link_now(l);

    if (l->io.wait && now < deadline)
        l->io.wait(l->io.ctx, for_write, l->io.now ? deadline - now : 1);
}

static hv_status_t io_fail(struct hv_link *l, hv_status_t st)
{
    l->reason = st == HV_STATUS_DEVICE_CONNECTION_LOST ? HV_LINK_REASON_PEER_CLOSED : HV_LINK_REASON_IO_ERROR;
    return st;
}

/* ---- Endpoint: receiving ------------------------------------------------ */

/* The decoder writes into rx_buf unless a payload is held there; the
 * buffer changes only between frames. */
static void pick_buffer(struct hv_link *l)
{
    if (l->dec.total != 0 || l->dec.state == DEC_DISCARD || l->dec.state == DEC_ESC)
        return;
    /* While a payload is held, frames are decoded for their header only
     * (the CRC still covers all of them): enough to acknowledge a
     * retransmission of a frame already delivered. */
    l->dec.header_only = l->held;
    if (l->held) {
        l->dec.buf = l->small;
        l->dec.cap = sizeof(l->small);
    } else {
        l->dec.buf = l->rx_buf;
        l->dec.cap = l->rx_cap;
    }
}

/* A DATA seq the receiver has already delivered? */
static bool is_duplicate(const struct hv_link *l, const struct hv_link_frame *f)
{
    if (!l->rx_synced)
        return false;
    if (f->flags & HV_LINK_FLAG_SYN)
        return (uint32_t)(l->rx_last - f->seq) < HV_LINK_SYN_WINDOW;
    return (int32_t)(f->seq - l->rx_last) <= 0;
}

static void on_frame(struct hv_link *l, const struct hv_link_frame *f)
{
    if (f->kind == HV_LINK_KIND_ACK) {
        if (l->inflight && f->seq == l->inflight_seq && !l->acked) {
            l->acked = true;
            l->tx_syn = false;
            l->stats.acks_received++;
        } else {
            l->stats.stray_acks++;
        }
        return;
    }
    if (is_duplicate(l, f)) {
        /* Its ACK was lost or the line doubled it: acknowledge again. */
        l->stats.duplicates++;
        l->ack_owed = true;
        l->ack_owed_seq = f->seq;
        return;
    }
    /* A peer we had a session with starts a new one: it reconnected, and
     * whatever is being sent to its old session will never be ACKed. */
    if ((f->flags & HV_LINK_FLAG_SYN) && l->rx_synced && l->inflight)
        l->peer_restarted = true;
    if (l->held || f->payload_dropped) {
        /* No room: not acknowledged, so the sender resends it later. */
        l->stats.busy_drops++;
        return;
    }
    if (f->length && f->payload != l->rx_buf + HV_LINK_HEADER_SIZE)
        hv_lib_copy(l->rx_buf + HV_LINK_HEADER_SIZE, f->payload, f->length);
    l->held = true;
    l->held_len = f->length;
    l->rx_last = f->seq;
    l->rx_synced = true;
    l->ack_owed = true;
    l->ack_owed_seq = f->seq;
    l->stats.data_delivered++;
}

/* Read one chunk of what the line has and decode it. *moved tells whether
 * any byte came. ACKs owed are only recorded here (never sent), so this
 * may run while a frame is half written. */
static hv_status_t process_input(struct hv_link *l, bool *moved)
{
    uint8_t chunk[LINK_CHUNK];
    size_t got = 0, off = 0;
    hv_status_t st;

    *moved = false;
    if (!l->io.now)
        l->ticks++;
    st = l->io.read(l->io.ctx, chunk, sizeof(chunk), &got);
    if (!hv_success(st))
        return io_fail(l, st);
    if (got > sizeof(chunk))
        got = sizeof(chunk);
    *moved = got != 0;
    while (off < got) {
        struct hv_link_frame f;
        enum hv_link_reason why;
        size_t used = 0;
        uint64_t garbage = l->dec.garbage;
        enum hv_link_decode_result r = hv_link_decode(&l->dec, chunk + off, got - off, &used, &f, &why);

        l->stats.garbage_bytes += l->dec.garbage - garbage;
        off += used;
        if (r == HV_LINK_DECODE_FRAME) {
            on_frame(l, &f);
        } else if (r == HV_LINK_DECODE_BAD) {
            l->stats.bad_frames++;
            l->corrupt_seen = true;
            l->bad_reason = (uint8_t)why;
        }
        pick_buffer(l);
    }
    return HV_STATUS_SUCCESS;
}

/* ---- Endpoint: sending -------------------------------------------------- */

/* Write all of buf; while the line takes nothing, keep reading (so two
 * peers writing big frames at each other cannot deadlock) and give up
 * after ack_timeout ticks without progress. */
static hv_status_t write_all(struct hv_link *l, const uint8_t *buf, size_t n)
{
    uint64_t stall = deadline_after(l, l->cfg.ack_timeout);

    while (n) {
        size_t done = 0;
        hv_status_t st;
        bool moved;

        if (!l->io.now)
            l->ticks++;
        st = l->io.write(l->io.ctx, buf, n, &done);
        if (!hv_success(st))
            return io_fail(l, st);
        if (done > n)
            done = n;
        if (done) {
            buf += done;
            n -= done;
            stall = deadline_after(l, l->cfg.ack_timeout);
            continue;
        }
        if (expired(l, stall)) {
            l->reason = HV_LINK_REASON_WRITE_STALL;
            return HV_STATUS_TIMEOUT;
        }
        st = process_input(l, &moved);
        if (!hv_success(st))
            return st;
        if (!moved)
            link_idle(l, true, stall);
    }
    return HV_STATUS_SUCCESS;
}

/* Escaping writer over write_all, a chunk at a time. */
struct tx {
    struct hv_link *l;
    uint8_t buf[LINK_CHUNK];
    size_t len;
    hv_status_t st;
};

static void tx_flush(struct tx *t)
{
    if (t->len && hv_success(t->st))
        t->st = write_all(t->l, t->buf, t->len);
    t->len = 0;
}

static void tx_raw(struct tx *t, uint8_t b)
{
    if (t->len == sizeof(t->buf))
        tx_flush(t);
    t->buf[t->len++] = b;
}

static void tx_bytes(struct tx *t, const uint8_t *p, size_t n)
{
    while (n-- && hv_success(t->st)) {
        uint8_t b = *p++;

        if (b == HV_LINK_FLAG_BYTE || b == HV_LINK_ESC_BYTE) {
            tx_raw(t, HV_LINK_ESC_BYTE);
            tx_raw(t, (uint8_t)(b ^ HV_LINK_ESC_XOR));
        } else {
            tx_raw(t, b);
        }
    }
}

static hv_status_t write_frame(struct hv_link *l, uint8_t kind, uint8_t flags, uint32_t seq, const uint8_t *payload,
                               uint32_t len)
{
    uint8_t hdr[HV_LINK_HEADER_SIZE], crc[HV_LINK_TRAILER_SIZE];
    struct tx t;

    t.l = l;
    t.len = 0;
    t.st = HV_STATUS_SUCCESS;
    make_header(hdr, kind, flags, seq, len);
    hv_lib_put_le32(crc, hv_link_crc32(hv_link_crc32(0, hdr, sizeof(hdr)), payload, len));
    tx_raw(&t, HV_LINK_FLAG_BYTE);
    tx_bytes(&t, hdr, sizeof(hdr));
    tx_bytes(&t, payload, len);
    tx_bytes(&t, crc, sizeof(crc));
    tx_raw(&t, HV_LINK_FLAG_BYTE);
    tx_flush(&t);
    return t.st;
}

/* Send the ACK recorded by on_frame, if any. The loop is bounded: each
 * round needs a new DATA frame to have arrived while the ACK was written. */
static hv_status_t flush_ack(struct hv_link *l)
{
    unsigned rounds;

    for (rounds = 0; l->ack_owed && rounds < 8; rounds++) {
        hv_status_t st;

        l->ack_owed = false;
        st = write_frame(l, HV_LINK_KIND_ACK, 0, l->ack_owed_seq, NULL, 0);
        if (!hv_success(st))
            return st;
        l->stats.acks_sent++;
    }
    return HV_STATUS_SUCCESS;
}

/* ---- Endpoint: API ------------------------------------------------------ */

hv_status_t hv_link_init(struct hv_link *l, const struct hv_link_io *io, const struct hv_link_config *cfg,
                         uint8_t *rx_buf, size_t rx_cap)
{
    if (l == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    hv_lib_zero(l, sizeof(*l));
    l->reason = HV_LINK_REASON_BAD_ARGUMENT;
    if (io == NULL || cfg == NULL || rx_buf == NULL || io->read == NULL || io->write == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (cfg->max_payload == 0 || cfg->max_payload > HV_LINK_MAX_PAYLOAD || cfg->ack_timeout == 0)
        return HV_STATUS_INVALID_PARAMETER;
    if (rx_cap < HV_LINK_RX_BUFFER_SIZE(cfg->max_payload))
        return HV_STATUS_INVALID_PARAMETER;
    l->io = *io;
    l->cfg = *cfg;
    l->rx_buf = rx_buf;
    l->rx_cap = (uint32_t)HV_LINK_RX_BUFFER_SIZE(cfg->max_payload);
    l->reason = HV_LINK_REASON_NONE;
    hv_link_reset(l, cfg->initial_seq);
    return HV_STATUS_SUCCESS;
}

void hv_link_reset(struct hv_link *l, uint32_t initial_seq)
{
    hv_link_decoder_init(&l->dec, l->rx_buf, l->rx_cap);
    l->held = false;
    l->held_len = 0;
    l->tx_syn = true;
    l->rx_synced = false;
    l->tx_seq = initial_seq;
    l->inflight = false;
    l->acked = false;
    l->ack_owed = false;
    l->corrupt_seen = false;
}

hv_status_t hv_link_send(struct hv_link *l, const void *payload, uint32_t len)
{
    hv_status_t st = HV_STATUS_SUCCESS;
    uint32_t attempt, seq;

    if (l == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (len > l->cfg.max_payload || (payload == NULL && len != 0)) {
        l->reason = HV_LINK_REASON_BAD_ARGUMENT;
        return HV_STATUS_INVALID_PARAMETER;
    }
    l->reason = HV_LINK_REASON_NONE;
    l->corrupt_seen = false;
    /* A new seq even if an earlier send gave up: the peer may have
     * delivered that one and would take the same seq for a duplicate. */
    seq = l->tx_seq++;
    l->inflight = true;
    l->inflight_seq = seq;
    l->acked = false;
    l->peer_restarted = false;
    for (attempt = 0; attempt <= l->cfg.max_retries && !l->acked && !l->peer_restarted; attempt++) {
        uint64_t deadline;

        if (attempt)
            l->stats.retransmits++;
        st = write_frame(l, HV_LINK_KIND_DATA, l->tx_syn ? HV_LINK_FLAG_SYN : 0, seq, payload, len);
        if (!hv_success(st))
            goto out;
        l->stats.data_sent++;
        deadline = deadline_after(l, l->cfg.ack_timeout);
        for (;;) {
            bool moved;

            st = flush_ack(l);
            if (!hv_success(st))
                goto out;
            if (l->acked || l->peer_restarted || expired(l, deadline))
                break;
            st = process_input(l, &moved);
            if (!hv_success(st))
                goto out;
            if (!moved && !l->acked)
                link_idle(l, false, deadline);
        }
    }
    if (l->acked) {
        st = HV_STATUS_SUCCESS;
    } else if (l->peer_restarted) {
        l->reason = HV_LINK_REASON_PEER_RESTARTED;
        st = HV_STATUS_DEVICE_CONNECTION_LOST;
    } else if (l->corrupt_seen) {
        l->reason = l->bad_reason;
        st = HV_STATUS_INVALID_PACKET;
    } else {
        l->reason = HV_LINK_REASON_NO_ACK;
        st = HV_STATUS_TIMEOUT;
    }
out:
    l->inflight = false;
    return st;
}

hv_status_t hv_link_recv(struct hv_link *l, void *buf, uint32_t cap, uint32_t *len, uint64_t timeout)
{
    uint64_t deadline;
    unsigned late = 0;
    hv_status_t st;

    if (l == NULL || len == NULL || (buf == NULL && cap != 0)) {
        if (l)
            l->reason = HV_LINK_REASON_BAD_ARGUMENT;
        return HV_STATUS_INVALID_PARAMETER;
    }
    *len = 0;
    l->reason = HV_LINK_REASON_NONE;
    l->corrupt_seen = false;
    deadline = deadline_after(l, timeout);
    for (;;) {
        bool moved;

        /* The ACK goes out before the payload is handed over, so the
         * sender is not left waiting while the caller works on it. */
        st = flush_ack(l);
        if (!hv_success(st))
            return st;
        if (l->held)
            break;
        st = process_input(l, &moved);
        if (!hv_success(st))
            return st;
        if (l->held)
            continue;
        if (expired(l, deadline)) {
            /* Past the deadline, finish a frame that is still arriving,
             * but only for a bounded number of chunks (a flood cannot
             * hold the caller). */
            if (!moved || ++late > 64)
                break;
            continue;
        }
        if (!moved)
            link_idle(l, false, deadline);
    }
    if (!l->held) {
        if (l->corrupt_seen) {
            l->reason = l->bad_reason;
            return HV_STATUS_INVALID_PACKET;
        }
        l->reason = HV_LINK_REASON_IDLE;
        return HV_STATUS_TIMEOUT;
    }
    if (l->held_len > cap) {
        *len = l->held_len;
        l->reason = HV_LINK_REASON_NO_ROOM;
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    hv_lib_copy(buf, l->rx_buf + HV_LINK_HEADER_SIZE, l->held_len);
    *len = l->held_len;
    l->held = false;
    l->held_len = 0;
    pick_buffer(l);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_link_poll(struct hv_link *l, bool *ready)
{
    unsigned rounds;
    hv_status_t st;

    if (l == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    /* Bounded: at most this many chunks per call, even on a flooded line. */
    for (rounds = 0; rounds < 64; rounds++) {
        bool moved;

        st = process_input(l, &moved);
        if (!hv_success(st))
            goto out;
        if (!moved)
            break;
    }
    st = flush_ack(l);
out:
    if (ready)
        *ready = l->held;
    return st;
}

void hv_link_set_ack_timeout(struct hv_link *l, uint64_t ticks)
{
    if (l != NULL && ticks != 0)
        l->cfg.ack_timeout = ticks;
}

enum hv_link_reason hv_link_last_reason(const struct hv_link *l)
{
    return l ? (enum hv_link_reason)l->reason : HV_LINK_REASON_BAD_ARGUMENT;
}

void hv_link_get_stats(const struct hv_link *l, struct hv_link_stats *out)
{
    if (l && out)
        *out = l->stats;
}
