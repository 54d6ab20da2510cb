/*
 * libFuzzer target: the wire protocol's receiving side (hvcore/client/wire.h).
 *
 * Input: byte 0 = mode, byte 1 = buffer capacity selector, the rest = a
 * byte stream as a peer would send it. With mode bit 0 the harness first
 * walks the stream as frames and writes the right checksum into each
 * (bit 1: also the right magic/version and zero flags/reserved), so the
 * fuzzer gets past the CRC and reaches the payload / sequence logic.
 *
 * The stream goes
 *   1. to hv_wire_decode_header + hv_wire_check_payload; a frame they
 *      accept must re-encode to exactly the same bytes;
 *   2. through a socketpair into hv_wire_recv until it fails (what it
 *      returns must fit the buffer and match the header);
 *   3. through a socketpair into hv_wire_call on a wrapped fd (sequence
 *      matching, stale-frame discarding, ERROR frames);
 *   4. (mode bit 2) into hv_wire_serve_conn with an echo handler;
 *   5. (selector bit 3) into hv_wire_server_handshake, with a key (bit 4:
 *      then no byte stream may pass) or without.
 * Everything is already queued, followed by EOF, so timeouts of 0 never
 * wait. Any crash, sanitizer report or broken property is a finding.
 *
 * Run: fuzz_wire -runs=200000 (default -max_len is plenty; lengths past
 * the socket buffer are simply cut).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1
#include <hvcore/client/wire.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQUIRE(cond, ...)                                                \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz_wire: %s: ", #cond);                    \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            abort();                                                      \
        }                                                                 \
    } while (0)

static uint8_t g_stream[1u << 16];
static uint8_t g_buf[1u << 16];
static uint8_t g_enc[(1u << 16) + HV_WIRE_HEADER_SIZE];

static const uint32_t caps[8] = { 0, 1, 4, 16, 24, 100, 4096, sizeof(g_buf) };

static void fix_frames(uint8_t *s, size_t n, int full)
{
    size_t o = 0;

    while (o + HV_WIRE_HEADER_SIZE <= n) {
        uint32_t len = hv_wire_get_le32(s + o + 12);
        uint8_t zero[HV_WIRE_HEADER_SIZE];
        uint32_t crc;

        if (full) {
            hv_wire_put_le32(s + o, HV_WIRE_MAGIC);
            s[o + 4] = HV_WIRE_VERSION;
            s[o + 5] = 0;
            memset(s + o + 20, 0, 4);
        }
        if (len > n - o - HV_WIRE_HEADER_SIZE)
            break;
        memcpy(zero, s + o, sizeof(zero));
        memset(zero + 16, 0, 4);
        crc = hv_wire_crc32(hv_wire_crc32(0, zero, sizeof(zero)), s + o + HV_WIRE_HEADER_SIZE, len);
        hv_wire_put_le32(s + o + 16, crc);
        o += HV_WIRE_HEADER_SIZE + len;
    }
}

static void check_pure(const uint8_t *s, size_t n)
{
    struct hv_wire_header h;
    size_t w = 0;

    if (n < HV_WIRE_HEADER_SIZE)
        return;
    if (hv_wire_decode_header(s, &h) != HV_STATUS_SUCCESS)
        return;
    REQUIRE(h.length <= HV_WIRE_MAX_PAYLOAD, "accepted length %u", h.length);
    if (h.length > n - HV_WIRE_HEADER_SIZE)
        return;
    if (hv_wire_check_payload(&h, s + HV_WIRE_HEADER_SIZE) != HV_STATUS_SUCCESS)
        return;
    REQUIRE(hv_wire_encode(h.type, h.seq, s + HV_WIRE_HEADER_SIZE, h.length, g_enc, sizeof(g_enc), &w) ==
                HV_STATUS_SUCCESS, "re-encode failed");
    REQUIRE(w == HV_WIRE_HEADER_SIZE + (size_t)h.length && memcmp(g_enc, s, w) == 0,
            "accepted frame does not re-encode to itself");
}

/* A socketpair with the stream queued on sv[1] and its write side shut:
 * the reader sees the bytes, then EOF. */
static int feed(const uint8_t *s, size_t n, int sv[2])
{
    size_t o = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    while (o < n) {
        ssize_t w = send(sv[0], s + o, n - o, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (w <= 0)
            break; /* the socket buffer is full: the rest is cut */
        o += (size_t)w;
    }
    shutdown(sv[0], SHUT_WR);
    return 0;
}

static void via_recv(const uint8_t *s, size_t n, uint32_t cap)
{
    int sv[2];
    int frames = 0;

    if (feed(s, n, sv) != 0)
        return;
    for (;;) {
        struct hv_wire_header h;
        uint32_t len = 0xDEADBEEFu;
        hv_status_t st = hv_wire_recv(sv[1], &h, g_buf, cap, &len, 0);

        if (st != HV_STATUS_SUCCESS) {
            REQUIRE(len == 0, "failed recv left len %u", len);
            REQUIRE(st == HV_STATUS_INVALID_PACKET || st == HV_STATUS_DEVICE_CONNECTION_LOST ||
                        st == HV_STATUS_TIMEOUT || st == HV_STATUS_READ_FAILED,
                    "unexpected status 0x%08X", st);
            break;
        }
        REQUIRE(len <= cap && len == h.length, "len %u cap %u header %u", len, cap, h.length);
        REQUIRE(h.magic == HV_WIRE_MAGIC && h.version == HV_WIRE_VERSION && !h.flags && !h.reserved,
                "accepted a bad header");
        REQUIRE(++frames <= (int)(n / HV_WIRE_HEADER_SIZE), "more frames than bytes allow");
    }
    close(sv[0]);
    close(sv[1]);
}

static void via_call(const uint8_t *s, size_t n, uint32_t cap, uint8_t sel)
{
    static const uint16_t types[4] = { HV_WIRE_QUERY, HV_WIRE_EVENT_ADD, HV_WIRE_MSG_READ, HV_WIRE_HELLO };
    struct hv_wire_conn *c = NULL;
    int sv[2], i;

    if (feed(s, n, sv) != 0)
        return;
    if (hv_wire_conn_from_fd(&c, sv[1]) != HV_STATUS_SUCCESS) {
        close(sv[0]);
        return;
    }
    for (i = 0; i < 4; i++) {
        uint32_t len = 0xDEADBEEFu;
        uint16_t type = 0xBEEF;
        hv_status_t st = hv_wire_call(c, types[(sel >> (2 * i)) & 3], "req", 3, g_buf, cap, &len, &type, 0);

        if (st == HV_STATUS_SUCCESS) {
            REQUIRE(len <= cap, "response %u over cap %u", len, cap);
            REQUIRE(type & HV_WIRE_RESPONSE, "response type 0x%04X", type);
        } else if (st == HV_STATUS_INSUFFICIENT_RESOURCES && hv_wire_last_reason() == HV_WIRE_REASON_RESPONSE_TOO_BIG) {
            REQUIRE(len > cap, "too big but %u <= %u", len, cap);
        } else if (hv_wire_last_reason() == HV_WIRE_REASON_REMOTE_ERROR) {
            REQUIRE(type == HV_WIRE_ERROR && len == 0, "ERROR answer as type 0x%04X len %u", type, len);
        }
        if (hv_wire_conn_fd(c) < 0 || st == HV_STATUS_TIMEOUT)
            break;
    }
    hv_wire_close(c);
    close(sv[0]);
}

static hv_status_t echo(void *ctx, uint16_t type, const void *req, uint32_t req_len, void *resp,
                        uint32_t resp_cap, uint32_t *resp_len)
{
    (void)ctx;
    REQUIRE(hv_wire_is_request_type(type), "handler got type 0x%04X", type);
    REQUIRE(req_len <= resp_cap, "request %u over %u", req_len, resp_cap);
    if (type & 1)
        return HV_STATUS_INVALID_PARAMETER;
    memcpy(resp, req, req_len);
    *resp_len = req_len;
    return HV_STATUS_SUCCESS;
}

static void via_serve(const uint8_t *s, size_t n)
{
    int sv[2];

    if (feed(s, n, sv) != 0)
        return;
    (void)hv_wire_serve_conn(sv[1], echo, NULL, 0); /* closes sv[1] */
    close(sv[0]);
}

/* The server's handshake (selector bit 3): with a key, then without. */
static void via_handshake(const uint8_t *s, size_t n, bool keyed)
{
    static const struct hv_wire_key key = { .len = 16, .bytes = "fuzz-key-0123456" };
    hv_status_t st;
    int sv[2];

    if (feed(s, n, sv) != 0)
        return;
    st = hv_wire_server_handshake(sv[1], keyed ? &key : NULL, 0);
    /* Nothing the fuzzer can make up passes the keyed proof. */
    REQUIRE(!(keyed && hv_success(st)), "keyed handshake passed without the key");
    close(sv[1]);
    close(sv[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode, sel;
    size_t n;
    uint32_t cap;

    if (size < 2)
        return 0;
    mode = data[0];
    sel = data[1];
    n = size - 2;
    if (n > sizeof(g_stream))
        n = sizeof(g_stream);
    memcpy(g_stream, data + 2, n);
    if (mode & 1)
        fix_frames(g_stream, n, mode & 2);
    cap = caps[sel & 7];

    check_pure(g_stream, n);
    via_recv(g_stream, n, cap);
    via_call(g_stream, n, cap, (uint8_t)(mode >> 3));
    if (mode & 4)
        via_serve(g_stream, n);
    if (sel & 8)
        via_handshake(g_stream, n, sel & 16);
    return 0;
}
