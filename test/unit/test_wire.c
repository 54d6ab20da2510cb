/*
 * The wire protocol (hvcore/client/wire.h): framing, frame I/O with
 * timeouts, the client's sequence matching / reconnect / retry rules and
 * the stub's serve loop. socketpair(AF_UNIX) for most cases, a real
 * 127.0.0.1 listener for connect and reconnect. Short timeouts throughout.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1
#include "support.h"

#include <hvcore/client/wire.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SHORT_MS 100
#define TYPE_ECHO 0x0022u     /* the test handler echoes unknown types */
#define TYPE_FAIL 0x7F00u     /* the test handler refuses it */

static const uint16_t all_types[] = {
    HV_WIRE_HELLO, HV_WIRE_MSR, HV_WIRE_MSR_VALUES, HV_WIRE_QUERY, HV_WIRE_EVENT_ADD, HV_WIRE_EVENT_ACTION,
    HV_WIRE_EVENT_CTL, HV_WIRE_EVENT_LIST, HV_WIRE_MSG_READ, HV_WIRE_SIMULATE,
};

/* ---- helpers ------------------------------------------------------------ */

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

        assert_true(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

/* Encode a frame into a heap buffer; *n = its size. */
static uint8_t *frame(uint16_t type, uint32_t seq, const void *payload, uint32_t len, size_t *n)
{
    uint8_t *buf = malloc(HV_WIRE_HEADER_SIZE + (size_t)len);

    assert_non_null(buf);
    assert_int_equal(hv_wire_encode(type, seq, payload, len, buf, HV_WIRE_HEADER_SIZE + (size_t)len, n),
                     HV_STATUS_SUCCESS);
    assert_int_equal(*n, HV_WIRE_HEADER_SIZE + (size_t)len);
    return buf;
}

static void queue_frame(int fd, uint16_t type, uint32_t seq, const void *payload, uint32_t len)
{
    size_t n;
    uint8_t *f = frame(type, seq, payload, len, &n);

    write_all(fd, f, n);
    free(f);
}

static void queue_error(int fd, uint32_t seq, hv_status_t st)
{
    uint8_t b[4];

    hv_wire_put_le32(b, st);
    queue_frame(fd, HV_WIRE_ERROR, seq, b, sizeof(b));
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The peer reads the request a call sent and checks type/seq/payload. */
static void expect_request(int fd, uint16_t type, uint32_t seq, const void *payload, uint32_t len)
{
    struct hv_wire_header h;
    uint8_t buf[256];
    uint32_t n;

    assert_int_equal(hv_wire_recv(fd, &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, type);
    assert_int_equal(h.seq, seq);
    assert_int_equal(n, len);
    if (len)
        assert_memory_equal(buf, payload, len);
}

/* The handler the serve-loop tests use: HELLO, echo, TYPE_FAIL refused. */
struct server_log {
    uint16_t types[32];
    unsigned count;
};

static hv_status_t test_handler(void *ctx, uint16_t type, const void *req, uint32_t req_len, void *resp,
                                uint32_t resp_cap, uint32_t *resp_len)
{
    struct server_log *log = ctx;

    if (log && log->count < 32)
        log->types[log->count++] = type;
    if (type == HV_WIRE_HELLO) {
        hv_wire_encode_hello_response(resp, HV_WIRE_VERSION, 4, "HVCoreTestStub__extra");
        *resp_len = HV_WIRE_HELLO_RESP_SIZE;
        return HV_STATUS_SUCCESS;
    }
    if (type == TYPE_FAIL)
        return HV_STATUS_EXCEPTION_GENERAL_PROTECTION;
    if (req_len > resp_cap)
        return HV_STATUS_INVALID_PARAMETER;
    memcpy(resp, req, req_len);
    *resp_len = req_len;
    return HV_STATUS_SUCCESS;
}

/* ---- pure functions ----------------------------------------------------- */

static void crc_known_vector(void **state)
{
    (void)state;
    assert_int_equal(hv_wire_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(hv_wire_crc32(0, NULL, 0), 0);
    /* chaining */
    assert_int_equal(hv_wire_crc32(hv_wire_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

static void header_layout_is_little_endian(void **state)
{
    const uint8_t payload[3] = { 0xAA, 0xBB, 0xCC };
    uint8_t out[64];
    size_t n;
    uint8_t zeroed[HV_WIRE_HEADER_SIZE];
    uint32_t crc;

    (void)state;
    assert_int_equal(hv_wire_encode(HV_WIRE_QUERY, 0x01020304u, payload, 3, out, sizeof(out), &n), HV_STATUS_SUCCESS);
    assert_int_equal(n, 27);
    assert_memory_equal(out, "HVC1", 4);                       /* magic 0x31435648 LE */
    assert_int_equal(out[4], 2); assert_int_equal(out[5], 0);  /* version */
    assert_int_equal(out[6], 4); assert_int_equal(out[7], 0);  /* type */
    assert_int_equal(out[8], 4); assert_int_equal(out[9], 3);
    assert_int_equal(out[10], 2); assert_int_equal(out[11], 1); /* seq */
    assert_int_equal(out[12], 3); assert_int_equal(out[13], 0);
    assert_int_equal(out[14], 0); assert_int_equal(out[15], 0); /* length */
    assert_int_equal(out[20] | out[21] | out[22] | out[23], 0); /* flags, reserved */
    memcpy(zeroed, out, sizeof(zeroed));
    memset(zeroed + 16, 0, 4);
    crc = hv_wire_crc32(hv_wire_crc32(0, zeroed, sizeof(zeroed)), payload, 3);
    assert_int_equal(hv_wire_get_le32(out + 16), crc);
    assert_memory_equal(out + 24, payload, 3);
}

static void round_trip_every_type_and_size(void **state)
{
    static const uint32_t sizes[] = { 0, 1, HV_WIRE_MAX_PAYLOAD };
    uint8_t *payload = malloc(HV_WIRE_MAX_PAYLOAD);
    uint8_t *out = malloc(HV_WIRE_MAX_FRAME);
    size_t t, s, i, n;

    (void)state;
    assert_non_null(payload);
    assert_non_null(out);
    for (i = 0; i < HV_WIRE_MAX_PAYLOAD; i++)
        payload[i] = (uint8_t)(i * 31 + 7);
    for (t = 0; t < sizeof(all_types) / sizeof(all_types[0]) * 2 + 1; t++) {
        uint16_t type = t == sizeof(all_types) / sizeof(all_types[0]) * 2
                            ? HV_WIRE_ERROR
                            : (uint16_t)(all_types[t / 2] | ((t & 1) ? HV_WIRE_RESPONSE : 0));

        for (s = 0; s < 3; s++) {
            struct hv_wire_header h;
            uint32_t seq = (uint32_t)(t * 1000 + s + 0xFFFFFF00u);

            assert_int_equal(hv_wire_encode(type, seq, payload, sizes[s], out, HV_WIRE_MAX_FRAME, &n),
                             HV_STATUS_SUCCESS);
            assert_int_equal(n, HV_WIRE_HEADER_SIZE + sizes[s]);
            assert_int_equal(hv_wire_decode_header(out, &h), HV_STATUS_SUCCESS);
            assert_int_equal(h.magic, HV_WIRE_MAGIC);
            assert_int_equal(h.version, HV_WIRE_VERSION);
            assert_int_equal(h.type, type);
            assert_int_equal(h.seq, seq);
            assert_int_equal(h.length, sizes[s]);
            assert_int_equal(h.flags, 0);
            assert_int_equal(h.reserved, 0);
            assert_int_equal(hv_wire_check_payload(&h, out + HV_WIRE_HEADER_SIZE), HV_STATUS_SUCCESS);
            if (sizes[s])
                assert_memory_equal(out + HV_WIRE_HEADER_SIZE, payload, sizes[s]);
        }
    }
    free(payload);
    free(out);
}

static void encode_rejects_bad_arguments(void **state)
{
    uint8_t out[64], p = 0;
    size_t n = 99;

    (void)state;
    assert_int_equal(hv_wire_encode(0, 1, NULL, 0, out, sizeof(out), &n), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_wire_encode(HV_WIRE_RESPONSE, 1, NULL, 0, out, sizeof(out), &n),
                     HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_wire_encode(1, 1, &p, HV_WIRE_MAX_PAYLOAD + 1, out, sizeof(out), &n),
                     HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_wire_encode(1, 1, NULL, 5, out, sizeof(out), &n), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_wire_encode(1, 1, out, 41, out + 0, 64, &n), HV_STATUS_INSUFFICIENT_RESOURCES);
    assert_int_equal(n, 65); /* the size needed */
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_NO_MEMORY);
}

static void decode_rejects_bad_headers(void **state)
{
    uint8_t f[HV_WIRE_HEADER_SIZE];
    struct hv_wire_header h;
    size_t n;

    (void)state;
    /* bad magic */
    assert_int_equal(hv_wire_encode(HV_WIRE_QUERY, 1, NULL, 0, f, sizeof(f), &n), HV_STATUS_SUCCESS);
    f[0] ^= 0x01;
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_BAD_MAGIC);

    /* wrong version: INVALID_PACKET, but distinguishable */
    assert_int_equal(hv_wire_encode(HV_WIRE_QUERY, 1, NULL, 0, f, sizeof(f), &n), HV_STATUS_SUCCESS);
    put16(f + 4, 1);
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_BAD_VERSION);
    assert_int_equal(h.version, 1);
    assert_non_null(strstr(hv_wire_last_error(), "version 1"));
    assert_string_equal(hv_wire_reason_name(HV_WIRE_REASON_BAD_VERSION), "BAD_VERSION");

    /* flags / reserved */
    assert_int_equal(hv_wire_encode(HV_WIRE_QUERY, 1, NULL, 0, f, sizeof(f), &n), HV_STATUS_SUCCESS);
    put16(f + 20, 1);
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_BAD_FLAGS);
    put16(f + 20, 0);
    put16(f + 22, 0x8000);
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_BAD_FLAGS);

    /* reserved types */
    assert_int_equal(hv_wire_encode(HV_WIRE_QUERY, 1, NULL, 0, f, sizeof(f), &n), HV_STATUS_SUCCESS);
    put16(f + 6, 0);
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_BAD_TYPE);

    /* oversize length; exactly the maximum is fine */
    assert_int_equal(hv_wire_encode(HV_WIRE_QUERY, 1, NULL, 0, f, sizeof(f), &n), HV_STATUS_SUCCESS);
    hv_wire_put_le32(f + 12, HV_WIRE_MAX_PAYLOAD + 1);
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_TOO_LONG);
    hv_wire_put_le32(f + 12, 0xFFFFFFFFu);
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_INVALID_PACKET);
    hv_wire_put_le32(f + 12, HV_WIRE_MAX_PAYLOAD);
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_NONE);
}

static void corrupt_checksum_is_invalid_packet(void **state)
{
    const char msg[] = "payload";
    size_t n;
    uint8_t *f = frame(HV_WIRE_MSR, 7, msg, sizeof(msg), &n);
    struct hv_wire_header h;

    (void)state;
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_check_payload(&h, f + HV_WIRE_HEADER_SIZE), HV_STATUS_SUCCESS);
    f[HV_WIRE_HEADER_SIZE + 2] ^= 0x40;      /* a payload bit */
    assert_int_equal(hv_wire_check_payload(&h, f + HV_WIRE_HEADER_SIZE), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_BAD_CHECKSUM);
    f[HV_WIRE_HEADER_SIZE + 2] ^= 0x40;
    f[8] ^= 0x01;                            /* a header bit (seq) */
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_check_payload(&h, f + HV_WIRE_HEADER_SIZE), HV_STATUS_INVALID_PACKET);
    f[8] ^= 0x01;
    f[17] ^= 0x10;                           /* the checksum itself */
    assert_int_equal(hv_wire_decode_header(f, &h), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_check_payload(&h, f + HV_WIRE_HEADER_SIZE), HV_STATUS_INVALID_PACKET);
    free(f);
}

/* ---- frame I/O on a socketpair --------------------------------------- */

static void send_recv_small_sizes(void **state)
{
    int sv[2];
    uint8_t buf[8];
    struct hv_wire_header h;
    uint32_t n;

    (void)state;
    pair(sv);
    assert_int_equal(hv_wire_send(sv[0], HV_WIRE_QUERY, 1, NULL, 0, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_send(sv[0], HV_WIRE_QUERY | HV_WIRE_RESPONSE, 2, "Z", 1, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_recv(sv[1], &h, NULL, 0, &n, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_QUERY);
    assert_int_equal(h.seq, 1);
    assert_int_equal(n, 0);
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_QUERY | HV_WIRE_RESPONSE);
    assert_int_equal(n, 1);
    assert_int_equal(buf[0], 'Z');
    close(sv[0]);
    close(sv[1]);
}

struct big_sender {
    int fd;
    const uint8_t *p;
    hv_status_t st;
};

static void *big_send_thread(void *arg)
{
    struct big_sender *s = arg;

    s->st = hv_wire_send(s->fd, HV_WIRE_SIMULATE, 42, s->p, HV_WIRE_MAX_PAYLOAD, 2000);
    return NULL;
}

static void send_recv_max_size(void **state)
{
    int sv[2];
    uint8_t *out = malloc(HV_WIRE_MAX_PAYLOAD), *in = malloc(HV_WIRE_MAX_PAYLOAD);
    struct big_sender s;
    struct hv_wire_header h;
    pthread_t th;
    uint32_t n, i;

    (void)state;
    assert_non_null(out);
    assert_non_null(in);
    for (i = 0; i < HV_WIRE_MAX_PAYLOAD; i++)
        out[i] = (uint8_t)(i ^ (i >> 8));
    pair(sv);
    s.fd = sv[0];
    s.p = out;
    s.st = 1;
    assert_int_equal(pthread_create(&th, NULL, big_send_thread, &s), 0);
    assert_int_equal(hv_wire_recv(sv[1], &h, in, HV_WIRE_MAX_PAYLOAD, &n, 2000), HV_STATUS_SUCCESS);
    pthread_join(th, NULL);
    assert_int_equal(s.st, HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_SIMULATE);
    assert_int_equal(h.seq, 42);
    assert_int_equal(n, HV_WIRE_MAX_PAYLOAD);
    assert_memory_equal(in, out, HV_WIRE_MAX_PAYLOAD);
    close(sv[0]);
    close(sv[1]);
    free(out);
    free(in);
}

/* Send a (possibly corrupted) frame raw; the receiver says INVALID_PACKET. */
static void recv_rejects(uint8_t *f, size_t n, uint32_t cap, enum hv_wire_reason reason)
{
    int sv[2];
    uint8_t buf[64];
    struct hv_wire_header h;
    uint32_t len = 77;

    pair(sv);
    write_all(sv[0], f, n);
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, cap, &len, SHORT_MS), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), reason);
    assert_int_equal(len, 0);
    close(sv[0]);
    close(sv[1]);
}

static void recv_rejects_malformed_frames(void **state)
{
    size_t n;
    uint8_t *f;

    (void)state;
    f = frame(HV_WIRE_QUERY, 1, "abcd", 4, &n);
    f[HV_WIRE_HEADER_SIZE] ^= 1;
    recv_rejects(f, n, 64, HV_WIRE_REASON_BAD_CHECKSUM);
    free(f);

    f = frame(HV_WIRE_QUERY, 1, "abcd", 4, &n);
    f[3] = 0x32; /* "HVC2" */
    recv_rejects(f, n, 64, HV_WIRE_REASON_BAD_MAGIC);
    free(f);

    f = frame(HV_WIRE_QUERY, 1, "abcd", 4, &n);
    put16(f + 4, 7);
    recv_rejects(f, n, 64, HV_WIRE_REASON_BAD_VERSION);
    free(f);

    f = frame(HV_WIRE_QUERY, 1, "abcd", 4, &n);
    hv_wire_put_le32(f + 12, HV_WIRE_MAX_PAYLOAD + 1);
    recv_rejects(f, n, 64, HV_WIRE_REASON_TOO_LONG);
    free(f);

    /* larger than the caller's buffer */
    f = frame(HV_WIRE_QUERY, 1, "abcdefgh", 8, &n);
    recv_rejects(f, n, 4, HV_WIRE_REASON_NO_ROOM);
    free(f);
}

static void recv_timeouts(void **state)
{
    int sv[2];
    uint8_t buf[64];
    struct hv_wire_header h;
    uint32_t n;
    size_t fn;
    int64_t t0;
    uint8_t *f = frame(HV_WIRE_QUERY, 1, "0123456789", 10, &fn);

    (void)state;
    /* nothing at all */
    pair(sv);
    t0 = now_ms();
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_TIMEOUT);
    assert_true(now_ms() - t0 >= SHORT_MS - 5);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_TIMEOUT_IDLE);
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, sizeof(buf), &n, 0), HV_STATUS_TIMEOUT);

    /* a short read: half a header, then nothing */
    write_all(sv[0], f, 10);
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_TIMEOUT_MID_FRAME);
    close(sv[0]);
    close(sv[1]);

    /* header complete, payload short */
    pair(sv);
    write_all(sv[0], f, HV_WIRE_HEADER_SIZE + 3);
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_TIMEOUT_MID_FRAME);
    close(sv[0]);
    close(sv[1]);
    free(f);
}

static void peer_closing(void **state)
{
    int sv[2];
    uint8_t buf[64];
    struct hv_wire_header h;
    uint32_t n;
    size_t fn;
    uint8_t *f = frame(HV_WIRE_EVENT_LIST, 5, "0123456789", 10, &fn);

    (void)state;
    /* mid-header */
    pair(sv);
    write_all(sv[0], f, 12);
    close(sv[0]);
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_PEER_CLOSED_MID_FRAME);
    close(sv[1]);

    /* mid-payload: half a frame, then close */
    pair(sv);
    write_all(sv[0], f, fn / 2 + 5);
    close(sv[0]);
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_PEER_CLOSED_MID_FRAME);
    close(sv[1]);

    /* between frames: one whole frame, then close */
    pair(sv);
    write_all(sv[0], f, fn);
    close(sv[0]);
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(n, 10);
    assert_int_equal(hv_wire_recv(sv[1], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_PEER_CLOSED);

    /* sending to a closed peer: no SIGPIPE, connection lost */
    assert_int_equal(hv_wire_send(sv[1], HV_WIRE_QUERY, 1, "x", 1, SHORT_MS), HV_STATUS_DEVICE_CONNECTION_LOST);
    close(sv[1]);
    free(f);
}

static void send_timeout_when_peer_does_not_read(void **state)
{
    int sv[2];
    uint8_t *big = calloc(1, HV_WIRE_MAX_PAYLOAD);

    (void)state;
    assert_non_null(big);
    pair(sv);
    /* 1 MiB does not fit the socket buffers and nobody reads */
    assert_int_equal(hv_wire_send(sv[0], HV_WIRE_SIMULATE, 1, big, HV_WIRE_MAX_PAYLOAD, SHORT_MS), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_TIMEOUT_MID_FRAME);
    assert_int_equal(hv_wire_send(-1, HV_WIRE_QUERY, 1, NULL, 0, SHORT_MS), HV_STATUS_WRITE_FAILED);
    close(sv[0]);
    close(sv[1]);
    free(big);
}

/* ---- hv_wire_call over a socketpair (answers queued in advance) ------- */

static struct hv_wire_conn *pair_conn(int *peer)
{
    int sv[2];
    struct hv_wire_conn *c = NULL;

    pair(sv);
    assert_int_equal(hv_wire_conn_from_fd(&c, sv[0]), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_conn_next_seq(c), 1);
    *peer = sv[1];
    return c;
}

static void call_matches_response(void **state)
{
    int peer;
    struct hv_wire_conn *c = pair_conn(&peer);
    uint8_t resp[16];
    uint32_t n;
    uint16_t t;

    (void)state;
    queue_frame(peer, HV_WIRE_QUERY | HV_WIRE_RESPONSE, 1, "abc", 3);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, "xyz", 3, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_SUCCESS);
    assert_int_equal(n, 3);
    assert_int_equal(t, HV_WIRE_QUERY | HV_WIRE_RESPONSE);
    assert_memory_equal(resp, "abc", 3);
    expect_request(peer, HV_WIRE_QUERY, 1, "xyz", 3);
    assert_int_equal(hv_wire_conn_next_seq(c), 2);

    /* the response does not fit: dropped, size reported, stream still fine */
    queue_frame(peer, HV_WIRE_QUERY | HV_WIRE_RESPONSE, 2, "0123456789abcdefXYZ", 19);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_INSUFFICIENT_RESOURCES);
    assert_int_equal(n, 19);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_RESPONSE_TOO_BIG);
    assert_true(hv_wire_conn_fd(c) >= 0);
    queue_frame(peer, HV_WIRE_QUERY | HV_WIRE_RESPONSE, 3, "ok", 2);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, NULL, SHORT_MS),
                     HV_STATUS_SUCCESS);
    assert_memory_equal(resp, "ok", 2);

    /* bad arguments */
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY | HV_WIRE_RESPONSE, NULL, 0, NULL, 0, NULL, NULL, SHORT_MS),
                     HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_wire_call(c, 0, NULL, 0, NULL, 0, NULL, NULL, SHORT_MS), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_wire_call(NULL, 1, NULL, 0, NULL, 0, NULL, NULL, SHORT_MS), HV_STATUS_INVALID_PARAMETER);
    hv_wire_close(c);
    close(peer);
}

static void call_timeout_then_late_answer_is_discarded(void **state)
{
    int peer;
    struct hv_wire_conn *c = pair_conn(&peer);
    uint8_t resp[16];
    uint32_t n;
    int64_t t0 = now_ms();

    (void)state;
    /* no answer at all */
    assert_int_equal(hv_wire_call(c, HV_WIRE_MSR, "r", 1, resp, sizeof(resp), &n, NULL, SHORT_MS), HV_STATUS_TIMEOUT);
    assert_true(now_ms() - t0 >= SHORT_MS - 5);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_TIMEOUT_IDLE);
    assert_true(hv_wire_conn_fd(c) >= 0); /* the stream is still in step */
    expect_request(peer, HV_WIRE_MSR, 1, "r", 1);

    /* the late answer to seq 1 arrives, then the answer to seq 2 */
    queue_frame(peer, HV_WIRE_MSR | HV_WIRE_RESPONSE, 1, "late", 4);
    queue_frame(peer, HV_WIRE_MSR | HV_WIRE_RESPONSE, 2, "new", 3);
    assert_int_equal(hv_wire_call(c, HV_WIRE_MSR, "r", 1, resp, sizeof(resp), &n, NULL, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(n, 3);
    assert_memory_equal(resp, "new", 3);
    expect_request(peer, HV_WIRE_MSR, 2, "r", 1);
    hv_wire_close(c);
    close(peer);
}

static void call_out_of_order_sequence(void **state)
{
    int peer;
    struct hv_wire_conn *c = pair_conn(&peer);
    uint8_t resp[16];
    uint32_t n;
    uint16_t t;
    static uint8_t big_stale[5000];

    (void)state;
    /* stale seq - 1 (a big one and an ERROR), then the right one: SUCCESS */
    queue_frame(peer, HV_WIRE_QUERY | HV_WIRE_RESPONSE, 1, "one", 3);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_SUCCESS);
    queue_frame(peer, HV_WIRE_QUERY | HV_WIRE_RESPONSE, 1, big_stale, sizeof(big_stale));
    queue_error(peer, 1, HV_STATUS_INVALID_PARAMETER);
    queue_frame(peer, HV_WIRE_QUERY | HV_WIRE_RESPONSE, 2, "two", 3);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_SUCCESS);
    assert_memory_equal(resp, "two", 3);

    /* seq + 1: from the future */
    queue_frame(peer, HV_WIRE_QUERY | HV_WIRE_RESPONSE, 4, "four", 4);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_SEQ_FUTURE);
    assert_int_equal(hv_wire_conn_fd(c), -1); /* closed: the stream cannot be trusted */
    /* a wrapped fd has no address: the next call cannot reconnect */
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_CONNECT_FAILED);
    hv_wire_close(c);
    close(peer);

    /* a request type where the response is due */
    c = pair_conn(&peer);
    queue_frame(peer, HV_WIRE_QUERY, 1, NULL, 0);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_NOT_A_RESPONSE);
    hv_wire_close(c);
    close(peer);

    /* the response to another request type */
    c = pair_conn(&peer);
    queue_frame(peer, HV_WIRE_MSR | HV_WIRE_RESPONSE, 1, NULL, 0);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_WRONG_RESPONSE);
    hv_wire_close(c);
    close(peer);

    /* a corrupted answer */
    c = pair_conn(&peer);
    {
        size_t fn;
        uint8_t *f = frame(HV_WIRE_QUERY | HV_WIRE_RESPONSE, 1, "abc", 3, &fn);

        f[fn - 1] ^= 0xFF;
        write_all(peer, f, fn);
        free(f);
    }
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_BAD_CHECKSUM);
    hv_wire_close(c);
    close(peer);
}

static void call_error_frame_returns_its_status(void **state)
{
    int peer;
    struct hv_wire_conn *c = pair_conn(&peer);
    uint8_t resp[16];
    uint32_t n = 99;
    uint16_t t;

    (void)state;
    queue_error(peer, 1, HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(hv_wire_call(c, HV_WIRE_MSR, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(t, HV_WIRE_ERROR);
    assert_int_equal(n, 0);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_REMOTE_ERROR);
    assert_true(hv_wire_conn_fd(c) >= 0);

    /* a carried DEVICE_CONNECTION_LOST is the target's answer, not ours:
     * no reconnect (this connection could not), the stream stays up */
    queue_error(peer, 2, HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_REMOTE_ERROR);
    assert_true(hv_wire_conn_fd(c) >= 0);

    /* an ERROR frame carrying SUCCESS is a protocol violation */
    queue_error(peer, 3, HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, &t, SHORT_MS),
                     HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_BAD_ERROR_FRAME);
    hv_wire_close(c);
    close(peer);
}

static void call_peer_gone_without_address(void **state)
{
    int peer;
    struct hv_wire_conn *c = pair_conn(&peer);
    uint8_t resp[16];
    uint32_t n;

    (void)state;
    /* the peer closes in the middle of the answer */
    {
        size_t fn;
        uint8_t *f = frame(HV_WIRE_QUERY | HV_WIRE_RESPONSE, 1, "abcdef", 6, &fn);

        write_all(peer, f, fn - 2);
        free(f);
    }
    close(peer);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, NULL, 0, resp, sizeof(resp), &n, NULL, SHORT_MS),
                     HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_wire_conn_fd(c), -1);
    hv_wire_close(c);
}

/* ---- serve loop on a socketpair --------------------------------------- */

static void serve_answers_requests(void **state)
{
    int sv[2];
    struct server_log log = { .count = 0 };
    struct hv_wire_header h;
    uint8_t buf[64], hello[4];
    uint32_t n;

    (void)state;
    pair(sv);
    hv_wire_put_le32(hello, HV_WIRE_VERSION);
    assert_int_equal(hv_wire_send(sv[0], HV_WIRE_HELLO, 1, hello, 4, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_send(sv[0], TYPE_ECHO, 2, "echo me", 7, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_send(sv[0], TYPE_FAIL, 3, NULL, 0, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_send(sv[0], HV_WIRE_MSR | HV_WIRE_RESPONSE, 4, NULL, 0, SHORT_MS), HV_STATUS_SUCCESS);
    shutdown(sv[0], SHUT_WR);

    /* everything is queued: the loop answers all, then sees the close */
    assert_int_equal(hv_wire_serve_conn(sv[1], test_handler, &log, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(log.count, 3); /* the response-typed frame never reaches the handler */

    assert_int_equal(hv_wire_recv(sv[0], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_HELLO | HV_WIRE_RESPONSE);
    assert_int_equal(h.seq, 1);
    assert_int_equal(n, HV_WIRE_HELLO_RESP_SIZE);
    assert_int_equal(hv_wire_get_le32(buf), HV_WIRE_VERSION);
    assert_int_equal(hv_wire_get_le32(buf + 4), 4);
    assert_memory_equal(buf + 8, "HVCoreTestStub__", 16); /* truncated to 16 */

    assert_int_equal(hv_wire_recv(sv[0], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, TYPE_ECHO | HV_WIRE_RESPONSE);
    assert_int_equal(h.seq, 2);
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "echo me", 7);

    assert_int_equal(hv_wire_recv(sv[0], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_ERROR);
    assert_int_equal(h.seq, 3);
    assert_int_equal(n, 4);
    assert_int_equal(hv_wire_get_le32(buf), HV_STATUS_EXCEPTION_GENERAL_PROTECTION);

    assert_int_equal(hv_wire_recv(sv[0], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_ERROR);
    assert_int_equal(h.seq, 4);
    assert_int_equal(hv_wire_get_le32(buf), HV_STATUS_INVALID_PACKET);

    /* serve closed its end */
    assert_int_equal(hv_wire_recv(sv[0], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_PEER_CLOSED);
    close(sv[0]);
}

static void serve_closes_on_malformed_request(void **state)
{
    int sv[2];
    struct server_log log = { .count = 0 };
    struct hv_wire_header h;
    uint8_t buf[64];
    uint32_t n;
    size_t fn;
    uint8_t *f = frame(TYPE_ECHO, 2, "zz", 2, &fn);

    (void)state;
    pair(sv);
    assert_int_equal(hv_wire_send(sv[0], TYPE_ECHO, 1, "hi", 2, SHORT_MS), HV_STATUS_SUCCESS);
    f[0] = 'X'; /* bad magic */
    write_all(sv[0], f, fn);
    assert_int_equal(hv_wire_send(sv[0], TYPE_ECHO, 3, "never", 5, SHORT_MS), HV_STATUS_SUCCESS);
    free(f);

    assert_int_equal(hv_wire_serve_conn(sv[1], test_handler, &log, SHORT_MS), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_BAD_MAGIC);
    assert_int_equal(log.count, 1);
    assert_int_equal(hv_wire_recv(sv[0], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(h.seq, 1);
    assert_memory_equal(buf, "hi", 2);
    /* then the connection is gone (unread bytes may turn the close into a reset) */
    assert_int_equal(hv_wire_recv(sv[0], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_DEVICE_CONNECTION_LOST);
    close(sv[0]);

    /* idle: nothing arrives */
    pair(sv);
    assert_int_equal(hv_wire_serve_conn(sv[1], test_handler, &log, SHORT_MS), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_wire_recv(sv[0], &h, buf, sizeof(buf), &n, SHORT_MS), HV_STATUS_DEVICE_CONNECTION_LOST);
    close(sv[0]);
}

/* ---- TCP on 127.0.0.1: connect, reconnect, retry rules --------------- */

struct tcp_server {
    int listen_fd;
    int closed_pipe[2];     /* a byte once the first connection is closed */
    struct server_log log2; /* requests seen on the second connection */
    int accepted;
    bool half_answer;       /* first connection: half a response, then close */
    bool swallow_next;      /* first connection: read the second request, close without an answer */
    hv_status_t serve_st;
};

/* First connection: answer one request (or send half an answer), then
 * close it. Second connection: the serve loop until the client closes. */
static void *tcp_server_thread(void *arg)
{
    struct tcp_server *s = arg;
    struct hv_wire_header h;
    uint8_t buf[256];
    uint32_t n;
    int fd;

    if (!hv_success(hv_wire_accept(s->listen_fd, &fd, 2000)))
        return NULL;
    if (!hv_success(hv_wire_server_handshake(fd, NULL, 2000))) {
        close(fd);
        return NULL;
    }
    s->accepted++;
    if (hv_success(hv_wire_recv(fd, &h, buf, sizeof(buf), &n, 2000))) {
        if (s->half_answer) {
            uint8_t f[HV_WIRE_HEADER_SIZE + 32];
            size_t fn;

            memset(buf, 'X', 32);
            if (hv_success(hv_wire_encode((uint16_t)(h.type | HV_WIRE_RESPONSE), h.seq, buf, 32, f, sizeof(f), &fn)))
                (void)!write(fd, f, HV_WIRE_HEADER_SIZE + 16);
        } else {
            (void)hv_wire_send(fd, (uint16_t)(h.type | HV_WIRE_RESPONSE), h.seq, buf, n, 2000);
            /* lost after it was sent: the client cannot know whether it ran */
            if (s->swallow_next)
                (void)hv_wire_recv(fd, &h, buf, sizeof(buf), &n, 2000);
        }
    }
    close(fd);
    if (write(s->closed_pipe[1], "c", 1) != 1)
        return NULL;
    if (!hv_success(hv_wire_accept(s->listen_fd, &fd, 2000)))
        return NULL;
    if (!hv_success(hv_wire_server_handshake(fd, NULL, 2000))) {
        close(fd);
        return NULL;
    }
    s->accepted++;
    s->serve_st = hv_wire_serve_conn(fd, test_handler, &s->log2, 2000);
    return NULL;
}

static bool g_swallow_next;

static void tcp_start(struct tcp_server *s, pthread_t *th, uint16_t *port, bool half_answer)
{
    memset(s, 0, sizeof(*s));
    s->swallow_next = g_swallow_next;
    s->serve_st = 1;
    s->half_answer = half_answer;
    assert_int_equal(hv_wire_listen("127.0.0.1", 0, &s->listen_fd), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_local_port(s->listen_fd, port), HV_STATUS_SUCCESS);
    assert_true(*port != 0);
    assert_int_equal(pipe(s->closed_pipe), 0);
    assert_int_equal(pthread_create(th, NULL, tcp_server_thread, s), 0);
}

static void tcp_wait_first_closed(struct tcp_server *s)
{
    char b;

    assert_int_equal(read(s->closed_pipe[0], &b, 1), 1);
}

static void tcp_finish(struct tcp_server *s, pthread_t th)
{
    pthread_join(th, NULL);
    close(s->listen_fd);
    close(s->closed_pipe[0]);
    close(s->closed_pipe[1]);
}

static int g_hook_calls;
static struct hv_wire_hello_info g_hook_hello;

static hv_status_t hello_hook(struct hv_wire_conn *conn, void *ctx)
{
    (void)ctx;
    g_hook_calls++;
    return hv_wire_hello(conn, &g_hook_hello, 1000);
}

static void connect_errors(void **state)
{
    struct hv_wire_conn *c = (struct hv_wire_conn *)1;
    int lfd;
    uint16_t port;

    (void)state;
    assert_int_equal(hv_wire_connect(&c, "not-an-address", 1, SHORT_MS), HV_STATUS_INVALID_PARAMETER);
    assert_null(c);
    assert_int_equal(hv_wire_connect(&c, NULL, 1, SHORT_MS), HV_STATUS_INVALID_PARAMETER);
    /* a port nobody listens on any more */
    assert_int_equal(hv_wire_listen("localhost", 0, &lfd), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_local_port(lfd, &port), HV_STATUS_SUCCESS);
    close(lfd);
    assert_int_equal(hv_wire_connect(&c, "127.0.0.1", port, SHORT_MS), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_CONNECT_FAILED);
    assert_null(c);
    assert_int_equal(hv_wire_listen("bogus", 0, &lfd), HV_STATUS_INVALID_PARAMETER);
}

static void reconnect_retries_idempotent_request(void **state)
{
    struct tcp_server s;
    pthread_t th;
    uint16_t port;
    struct hv_wire_conn *c;
    uint8_t resp[64];
    uint32_t n;
    uint16_t t;

    (void)state;
    g_hook_calls = 0;
    tcp_start(&s, &th, &port, false);
    assert_int_equal(hv_wire_connect(&c, "127.0.0.1", port, 1000), HV_STATUS_SUCCESS);
    hv_wire_set_reconnect_hook(c, hello_hook, NULL);
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, "q1", 2, resp, sizeof(resp), &n, &t, 1000), HV_STATUS_SUCCESS);
    assert_memory_equal(resp, "q1", 2);
    tcp_wait_first_closed(&s);

    /* the server dropped the connection: QUERY reconnects, HELLO, retries */
    assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, "q2", 2, resp, sizeof(resp), &n, &t, 1000), HV_STATUS_SUCCESS);
    assert_int_equal(n, 2);
    assert_memory_equal(resp, "q2", 2);
    assert_int_equal(t, HV_WIRE_QUERY | HV_WIRE_RESPONSE);
    assert_int_equal(hv_wire_conn_reconnects(c), 1);
    assert_int_equal(g_hook_calls, 1);
    assert_int_equal(g_hook_hello.server_version, HV_WIRE_VERSION);
    assert_int_equal(g_hook_hello.cpu_count, 4);
    assert_string_equal(g_hook_hello.signature, "HVCoreTestStub__");
    hv_wire_close(c);

    tcp_finish(&s, th);
    assert_int_equal(s.accepted, 2);
    assert_int_equal(s.serve_st, HV_STATUS_SUCCESS);
    assert_int_equal(s.log2.count, 2);
    assert_int_equal(s.log2.types[0], HV_WIRE_HELLO);
    assert_int_equal(s.log2.types[1], HV_WIRE_QUERY);
}

static void event_add_is_not_retried(void **state)
{
    struct tcp_server s;
    pthread_t th;
    uint16_t port;
    struct hv_wire_conn *c;
    uint8_t resp[64];
    uint32_t n;

    (void)state;
    g_swallow_next = true;
    tcp_start(&s, &th, &port, false);
    g_swallow_next = false;
    assert_int_equal(hv_wire_connect(&c, "localhost", port, 1000), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_call(c, HV_WIRE_EVENT_LIST, NULL, 0, resp, sizeof(resp), &n, NULL, 1000),
                     HV_STATUS_SUCCESS);

    assert_false(hv_wire_type_is_retry_safe(HV_WIRE_EVENT_ADD));
    assert_false(hv_wire_type_is_retry_safe(HV_WIRE_EVENT_ACTION));
    assert_false(hv_wire_type_is_retry_safe(0x7ABC));
    assert_true(hv_wire_type_is_retry_safe(HV_WIRE_EVENT_CTL));
    /* the server takes EVENT_ADD and closes without answering */
    assert_int_equal(hv_wire_call(c, HV_WIRE_EVENT_ADD, "add", 3, resp, sizeof(resp), &n, NULL, 1000),
                     HV_STATUS_DEVICE_CONNECTION_LOST);
    tcp_wait_first_closed(&s);
    assert_int_equal(hv_wire_conn_fd(c), -1);
    assert_int_equal(hv_wire_conn_reconnects(c), 0);

    /* the next call reconnects first (nothing was sent yet) */
    assert_int_equal(hv_wire_call(c, HV_WIRE_EVENT_LIST, "l", 1, resp, sizeof(resp), &n, NULL, 1000),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_conn_reconnects(c), 1);
    /* errors from the handler still travel as ERROR frames */
    assert_int_equal(hv_wire_call(c, TYPE_FAIL, NULL, 0, resp, sizeof(resp), &n, NULL, 1000),
                     HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    hv_wire_close(c);

    tcp_finish(&s, th);
    assert_int_equal(s.accepted, 2);
    assert_int_equal(s.serve_st, HV_STATUS_SUCCESS);
    assert_int_equal(s.log2.count, 2); /* EVENT_LIST and TYPE_FAIL; never EVENT_ADD */
    assert_int_equal(s.log2.types[0], HV_WIRE_EVENT_LIST);
    assert_int_equal(s.log2.types[1], TYPE_FAIL);
}

/* The peer dies in the middle of the answer, which the caller reads into
 * the request's own buffer: the retry still sends the original request. */
static void retry_after_half_answer_resends_original_request(void **state)
{
    struct tcp_server s;
    pthread_t th;
    uint16_t port;
    struct hv_wire_conn *c;
    uint8_t buf[64];
    uint32_t n;

    (void)state;
    tcp_start(&s, &th, &port, true);
    assert_int_equal(hv_wire_connect(&c, "127.0.0.1", port, 1000), HV_STATUS_SUCCESS);
    memset(buf, 'R', 32);
    assert_int_equal(hv_wire_call(c, HV_WIRE_MSR_VALUES, buf, 32, buf, sizeof(buf), &n, NULL, 1000),
                     HV_STATUS_SUCCESS);
    assert_int_equal(n, 32);
    for (n = 0; n < 32; n++)
        assert_int_equal(buf[n], 'R');
    assert_int_equal(hv_wire_conn_reconnects(c), 1);
    hv_wire_close(c);
    tcp_finish(&s, th);
    assert_int_equal(s.accepted, 2);
    assert_int_equal(s.log2.count, 1);
    assert_int_equal(s.log2.types[0], HV_WIRE_MSR_VALUES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc_known_vector),
        cmocka_unit_test(header_layout_is_little_endian),
        cmocka_unit_test(round_trip_every_type_and_size),
        cmocka_unit_test(encode_rejects_bad_arguments),
        cmocka_unit_test(decode_rejects_bad_headers),
        cmocka_unit_test(corrupt_checksum_is_invalid_packet),
        cmocka_unit_test(send_recv_small_sizes),
        cmocka_unit_test(send_recv_max_size),
        cmocka_unit_test(recv_rejects_malformed_frames),
        cmocka_unit_test(recv_timeouts),
        cmocka_unit_test(peer_closing),
        cmocka_unit_test(send_timeout_when_peer_does_not_read),
        cmocka_unit_test(call_matches_response),
        cmocka_unit_test(call_timeout_then_late_answer_is_discarded),
        cmocka_unit_test(call_out_of_order_sequence),
        cmocka_unit_test(call_error_frame_returns_its_status),
        cmocka_unit_test(call_peer_gone_without_address),
        cmocka_unit_test(serve_answers_requests),
        cmocka_unit_test(serve_closes_on_malformed_request),
        cmocka_unit_test(connect_errors),
        cmocka_unit_test(reconnect_retries_idempotent_request),
        cmocka_unit_test(event_add_is_not_retried),
        cmocka_unit_test(retry_after_half_answer_resends_original_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
