/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol: framing, frame I/O with poll() deadlines, the client
 * connection (sequence matching, reconnect + retry) and the stub's serve
 * loop. The format and every contract are in <hvcore/client/wire.h>.
 *
 * Frames are never cast to structs: each field is read and written byte by
 * byte, little-endian. Sends and receives use MSG_DONTWAIT and wait in
 * poll() only when the socket would block, so a timeout of 0 still moves
 * whatever is ready and a blocking socket never blocks past a deadline.
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE 1 /* MSG_NOSIGNAL, MSG_DONTWAIT, SOCK_CLOEXEC */
#endif

#include <hvcore/client/wire.h>

#include "sys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* the key file: read, write, close, unlink (mingw has them too) */
#ifndef _WIN32
#include <netinet/tcp.h> /* TCP_NODELAY; Windows has it in winsock2.h */
#endif

/* ---- Per-thread failure reason --------------------------------------- */

static _Thread_local enum hv_wire_reason t_reason;
static _Thread_local char t_error[160];

static void clear_reason(void)
{
    t_reason = HV_WIRE_REASON_NONE;
    t_error[0] = '\0';
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static hv_status_t fail(hv_status_t st, enum hv_wire_reason reason, const char *fmt, ...)
{
    va_list ap;

    t_reason = reason;
    va_start(ap, fmt);
    vsnprintf(t_error, sizeof(t_error), fmt, ap);
    va_end(ap);
    return st;
}

enum hv_wire_reason hv_wire_last_reason(void)
{
    return t_reason;
}

const char *hv_wire_last_error(void)
{
    return t_error;
}

const char *hv_wire_reason_name(enum hv_wire_reason reason)
{
    switch (reason) {
    case HV_WIRE_REASON_NONE: return "NONE";
    case HV_WIRE_REASON_BAD_MAGIC: return "BAD_MAGIC";
    case HV_WIRE_REASON_BAD_VERSION: return "BAD_VERSION";
    case HV_WIRE_REASON_BAD_FLAGS: return "BAD_FLAGS";
    case HV_WIRE_REASON_BAD_TYPE: return "BAD_TYPE";
    case HV_WIRE_REASON_TOO_LONG: return "TOO_LONG";
    case HV_WIRE_REASON_NO_ROOM: return "NO_ROOM";
    case HV_WIRE_REASON_BAD_CHECKSUM: return "BAD_CHECKSUM";
    case HV_WIRE_REASON_SEQ_FUTURE: return "SEQ_FUTURE";
    case HV_WIRE_REASON_NOT_A_RESPONSE: return "NOT_A_RESPONSE";
    case HV_WIRE_REASON_WRONG_RESPONSE: return "WRONG_RESPONSE";
    case HV_WIRE_REASON_BAD_ERROR_FRAME: return "BAD_ERROR_FRAME";
    case HV_WIRE_REASON_BAD_HELLO: return "BAD_HELLO";
    case HV_WIRE_REASON_PEER_CLOSED: return "PEER_CLOSED";
    case HV_WIRE_REASON_PEER_CLOSED_MID_FRAME: return "PEER_CLOSED_MID_FRAME";
    case HV_WIRE_REASON_PEER_RESET: return "PEER_RESET";
    case HV_WIRE_REASON_CONNECT_FAILED: return "CONNECT_FAILED";
    case HV_WIRE_REASON_TIMEOUT_IDLE: return "TIMEOUT_IDLE";
    case HV_WIRE_REASON_TIMEOUT_MID_FRAME: return "TIMEOUT_MID_FRAME";
    case HV_WIRE_REASON_IO_ERROR: return "IO_ERROR";
    case HV_WIRE_REASON_BAD_ARGUMENT: return "BAD_ARGUMENT";
    case HV_WIRE_REASON_NO_MEMORY: return "NO_MEMORY";
    case HV_WIRE_REASON_RESPONSE_TOO_BIG: return "RESPONSE_TOO_BIG";
    case HV_WIRE_REASON_REMOTE_ERROR: return "REMOTE_ERROR";
    case HV_WIRE_REASON_AUTH_FAILED: return "AUTH_FAILED";
    case HV_WIRE_REASON_KEY_FILE: return "KEY_FILE";
    case HV_WIRE_REASON_HANDSHAKE: return "HANDSHAKE";
    }
    return "UNKNOWN_REASON";
}

/* ---- CRC-32 (IEEE, reflected, poly 0xEDB88320) ------------------------ */

static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xEE0E612Cu, 0x990951BAu, 0x076DC419u, 0x706AF48Fu,
    0xE963A535u, 0x9E6495A3u, 0x0EDB8832u, 0x79DCB8A4u, 0xE0D5E91Eu, 0x97D2D988u,
    0x09B64C2Bu, 0x7EB17CBDu, 0xE7B82D07u, 0x90BF1D91u, 0x1DB71064u, 0x6AB020F2u,
    0xF3B97148u, 0x84BE41DEu, 0x1ADAD47Du, 0x6DDDE4EBu, 0xF4D4B551u, 0x83D385C7u,
    0x136C9856u, 0x646BA8C0u, 0xFD62F97Au, 0x8A65C9ECu, 0x14015C4Fu, 0x63066CD9u,
    0xFA0F3D63u, 0x8D080DF5u, 0x3B6E20C8u, 0x4C69105Eu, 0xD56041E4u, 0xA2677172u,
    0x3C03E4D1u, 0x4B04D447u, 0xD20D85FDu, 0xA50AB56Bu, 0x35B5A8FAu, 0x42B2986Cu,
    0xDBBBC9D6u, 0xACBCF940u, 0x32D86CE3u, 0x45DF5C75u, 0xDCD60DCFu, 0xABD13D59u,
    0x26D930ACu, 0x51DE003Au, 0xC8D75180u, 0xBFD06116u, 0x21B4F4B5u, 0x56B3C423u,
    0xCFBA9599u, 0xB8BDA50Fu, 0x2802B89Eu, 0x5F058808u, 0xC60CD9B2u, 0xB10BE924u,
    0x2F6F7C87u, 0x58684C11u, 0xC1611DABu, 0xB6662D3Du, 0x76DC4190u, 0x01DB7106u,
    0x98D220BCu, 0xEFD5102Au, 0x71B18589u, 0x06B6B51Fu, 0x9FBFE4A5u, 0xE8B8D433u,
    0x7807C9A2u, 0x0F00F934u, 0x9609A88Eu, 0xE10E9818u, 0x7F6A0DBBu, 0x086D3D2Du,
    0x91646C97u, 0xE6635C01u, 0x6B6B51F4u, 0x1C6C6162u, 0x856530D8u, 0xF262004Eu,
    0x6C0695EDu, 0x1B01A57Bu, 0x8208F4C1u, 0xF50FC457u, 0x65B0D9C6u, 0x12B7E950u,
    0x8BBEB8EAu, 0xFCB9887Cu, 0x62DD1DDFu, 0x15DA2D49u, 0x8CD37CF3u, 0xFBD44C65u,
    0x4DB26158u, 0x3AB551CEu, 0xA3BC0074u, 0xD4BB30E2u, 0x4ADFA541u, 0x3DD895D7u,
    0xA4D1C46Du, 0xD3D6F4FBu, 0x4369E96Au, 0x346ED9FCu, 0xAD678846u, 0xDA60B8D0u,
    0x44042D73u, 0x33031DE5u, 0xAA0A4C5Fu, 0xDD0D7CC9u, 0x5005713Cu, 0x270241AAu,
    0xBE0B1010u, 0xC90C2086u, 0x5768B525u, 0x206F85B3u, 0xB966D409u, 0xCE61E49Fu,
    0x5EDEF90Eu, 0x29D9C998u, 0xB0D09822u, 0xC7D7A8B4u, 0x59B33D17u, 0x2EB40D81u,
    0xB7BD5C3Bu, 0xC0BA6CADu, 0xEDB88320u, 0x9ABFB3B6u, 0x03B6E20Cu, 0x74B1D29Au,
    0xEAD54739u, 0x9DD277AFu, 0x04DB2615u, 0x73DC1683u, 0xE3630B12u, 0x94643B84u,
    0x0D6D6A3Eu, 0x7A6A5AA8u, 0xE40ECF0Bu, 0x9309FF9Du, 0x0A00AE27u, 0x7D079EB1u,
    0xF00F9344u, 0x8708A3D2u, 0x1E01F268u, 0x6906C2FEu, 0xF762575Du, 0x806567CBu,
    0x196C3671u, 0x6E6B06E7u, 0xFED41B76u, 0x89D32BE0u, 0x10DA7A5Au, 0x67DD4ACCu,
    0xF9B9DF6Fu, 0x8EBEEFF9u, 0x17B7BE43u, 0x60B08ED5u, 0xD6D6A3E8u, 0xA1D1937Eu,
    0x38D8C2C4u, 0x4FDFF252u, 0xD1BB67F1u, 0xA6BC5767u, 0x3FB506DDu, 0x48B2364Bu,
    0xD80D2BDAu, 0xAF0A1B4Cu, 0x36034AF6u, 0x41047A60u, 0xDF60EFC3u, 0xA867DF55u,
    0x316E8EEFu, 0x4669BE79u, 0xCB61B38Cu, 0xBC66831Au, 0x256FD2A0u, 0x5268E236u,
    0xCC0C7795u, 0xBB0B4703u, 0x220216B9u, 0x5505262Fu, 0xC5BA3BBEu, 0xB2BD0B28u,
    0x2BB45A92u, 0x5CB36A04u, 0xC2D7FFA7u, 0xB5D0CF31u, 0x2CD99E8Bu, 0x5BDEAE1Du,
    0x9B64C2B0u, 0xEC63F226u, 0x756AA39Cu, 0x026D930Au, 0x9C0906A9u, 0xEB0E363Fu,
    0x72076785u, 0x05005713u, 0x95BF4A82u, 0xE2B87A14u, 0x7BB12BAEu, 0x0CB61B38u,
    0x92D28E9Bu, 0xE5D5BE0Du, 0x7CDCEFB7u, 0x0BDBDF21u, 0x86D3D2D4u, 0xF1D4E242u,
    0x68DDB3F8u, 0x1FDA836Eu, 0x81BE16CDu, 0xF6B9265Bu, 0x6FB077E1u, 0x18B74777u,
    0x88085AE6u, 0xFF0F6A70u, 0x66063BCAu, 0x11010B5Cu, 0x8F659EFFu, 0xF862AE69u,
    0x616BFFD3u, 0x166CCF45u, 0xA00AE278u, 0xD70DD2EEu, 0x4E048354u, 0x3903B3C2u,
    0xA7672661u, 0xD06016F7u, 0x4969474Du, 0x3E6E77DBu, 0xAED16A4Au, 0xD9D65ADCu,
    0x40DF0B66u, 0x37D83BF0u, 0xA9BCAE53u, 0xDEBB9EC5u, 0x47B2CF7Fu, 0x30B5FFE9u,
    0xBDBDF21Cu, 0xCABAC28Au, 0x53B39330u, 0x24B4A3A6u, 0xBAD03605u, 0xCDD70693u,
    0x54DE5729u, 0x23D967BFu, 0xB3667A2Eu, 0xC4614AB8u, 0x5D681B02u, 0x2A6F2B94u,
    0xB40BBE37u, 0xC30C8EA1u, 0x5A05DF1Bu, 0x2D02EF8Du,
};

uint32_t hv_wire_crc32(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;

    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *b++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

/* ---- Header encoding, byte by byte ----------------------------------- */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void put_header(uint8_t out[HV_WIRE_HEADER_SIZE], const struct hv_wire_header *h)
{
    hv_wire_put_le32(out + 0, h->magic);
    put_le16(out + 4, h->version);
    put_le16(out + 6, h->type);
    hv_wire_put_le32(out + 8, h->seq);
    hv_wire_put_le32(out + 12, h->length);
    hv_wire_put_le32(out + 16, h->checksum);
    put_le16(out + 20, h->flags);
    put_le16(out + 22, h->reserved);
}

/* CRC of the header (checksum field zero) alone: the payload is chained on. */
static uint32_t header_crc(const struct hv_wire_header *h)
{
    struct hv_wire_header z = *h;
    uint8_t raw[HV_WIRE_HEADER_SIZE];

    z.checksum = 0;
    put_header(raw, &z);
    return hv_wire_crc32(0, raw, sizeof(raw));
}

/* A complete, checksummed header for (type, seq, payload) in `version`
 * (another version only to tell an old peer why it is refused). */
static void make_header_v(uint8_t out[HV_WIRE_HEADER_SIZE], uint16_t version, uint16_t type, uint32_t seq,
                          const void *payload, uint32_t len)
{
    struct hv_wire_header h = {
        .magic = HV_WIRE_MAGIC,
        .version = version,
        .type = type,
        .seq = seq,
        .length = len,
    };

    h.checksum = hv_wire_crc32(header_crc(&h), payload, len);
    put_header(out, &h);
}

static void make_header(uint8_t out[HV_WIRE_HEADER_SIZE], uint16_t type, uint32_t seq, const void *payload,
                        uint32_t len)
{
    make_header_v(out, HV_WIRE_VERSION, type, seq, payload, len);
}

static hv_status_t check_frame_args(uint16_t type, const void *payload, uint32_t len)
{
    if (type == 0 || type == HV_WIRE_RESPONSE)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "frame type 0x%04X is reserved",
                    (unsigned)type);
    if (len > HV_WIRE_MAX_PAYLOAD)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "payload of %u bytes over the maximum %u",
                    (unsigned)len, HV_WIRE_MAX_PAYLOAD);
    if (!payload && len)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no payload buffer for %u bytes",
                    (unsigned)len);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_wire_encode(uint16_t type, uint32_t seq, const void *payload, uint32_t len, uint8_t *out,
                           size_t cap, size_t *written)
{
    hv_status_t st;

    if (!out || !written)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no output buffer");
    *written = 0;
    st = check_frame_args(type, payload, len);
    if (!hv_success(st))
        return st;
    if (cap < (size_t)HV_WIRE_HEADER_SIZE + len) {
        *written = (size_t)HV_WIRE_HEADER_SIZE + len;
        return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY,
                    "frame of %zu bytes does not fit %zu", *written, cap);
    }
    make_header(out, type, seq, payload, len);
    if (len)
        memcpy(out + HV_WIRE_HEADER_SIZE, payload, len);
    *written = (size_t)HV_WIRE_HEADER_SIZE + len;
    clear_reason();
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_wire_decode_header(const uint8_t hdr[HV_WIRE_HEADER_SIZE], struct hv_wire_header *h)
{
    if (!hdr || !h)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no header");
    h->magic = hv_wire_get_le32(hdr + 0);
    h->version = get_le16(hdr + 4);
    h->type = get_le16(hdr + 6);
    h->seq = hv_wire_get_le32(hdr + 8);
    h->length = hv_wire_get_le32(hdr + 12);
    h->checksum = hv_wire_get_le32(hdr + 16);
    h->flags = get_le16(hdr + 20);
    h->reserved = get_le16(hdr + 22);

    if (h->magic != HV_WIRE_MAGIC)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_MAGIC, "bad magic 0x%08X", (unsigned)h->magic);
    if (h->version != HV_WIRE_VERSION)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_VERSION, "frame version %u, expected %u",
                    (unsigned)h->version, HV_WIRE_VERSION);
    if (h->flags || h->reserved)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_FLAGS, "flags 0x%04X / reserved 0x%04X not zero",
                    (unsigned)h->flags, (unsigned)h->reserved);
    if (h->type == 0 || h->type == HV_WIRE_RESPONSE)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_TYPE, "frame type 0x%04X is reserved",
                    (unsigned)h->type);
    if (h->length > HV_WIRE_MAX_PAYLOAD)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_TOO_LONG, "payload length %u over the maximum %u",
                    (unsigned)h->length, HV_WIRE_MAX_PAYLOAD);
    clear_reason();
    return HV_STATUS_SUCCESS;
}

static hv_status_t check_crc(const struct hv_wire_header *h, uint32_t crc)
{
    if (crc != h->checksum)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_CHECKSUM,
                    "checksum 0x%08X, computed 0x%08X (type 0x%04X seq %u)", (unsigned)h->checksum, (unsigned)crc,
                    (unsigned)h->type, (unsigned)h->seq);
    clear_reason();
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_wire_check_payload(const struct hv_wire_header *h, const uint8_t *payload)
{
    if (!h || (!payload && h->length))
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no header or payload");
    return check_crc(h, hv_wire_crc32(header_crc(h), payload, h->length));
}

/* ---- Deadlines and poll ------------------------------------------------ */

/* Absolute deadline in monotonic milliseconds, or -1 for none. */
static int64_t now_ms(void)
{
    return (int64_t)hv_sys_now_ms();
}

static int64_t deadline_in(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - now_ms();
    if (left <= 0)
        return 0;
    return left > 0x7FFFFFFF ? 0x7FFFFFFF : (int)left;
}

/* 1 ready (or in error: the next syscall says which), 0 deadline passed,
 * -1 poll failed (errno). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p;
    int r;

    for (;;) {
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        r = hv_sys_poll(&p, 1, remaining_ms(deadline));
        if (r > 0) {
            if (p.revents & POLLNVAL) {
                errno = EBADF;
                return -1;
            }
            return 1;
        }
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* ---- Frame I/O ----------------------------------------------------------- */

/* Send one frame. *sent = bytes of it that went out (0 or the whole frame
 * means the stream is still at a frame boundary). */
static hv_status_t send_frame(int fd, uint16_t type, uint32_t seq, const void *payload, uint32_t len,
                              int64_t deadline, size_t *sent)
{
    uint8_t hdr[HV_WIRE_HEADER_SIZE];
    const uint8_t *pl = payload;
    size_t total = (size_t)HV_WIRE_HEADER_SIZE + len;
    size_t done = 0;

    *sent = 0;
    make_header(hdr, type, seq, payload, len);
    while (done < total) {
        ssize_t n;
        int w;

        if (done < HV_WIRE_HEADER_SIZE)
            n = hv_sys_send2_nb(fd, hdr + done, HV_WIRE_HEADER_SIZE - done, pl, len);
        else
            n = hv_sys_send_nb(fd, pl + (done - HV_WIRE_HEADER_SIZE), total - done);
        if (n > 0) {
            done += (size_t)n;
            *sent = done;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            w = wait_fd(fd, POLLOUT, deadline);
            if (w > 0)
                continue;
            if (w == 0)
                return fail(HV_STATUS_TIMEOUT, done ? HV_WIRE_REASON_TIMEOUT_MID_FRAME : HV_WIRE_REASON_TIMEOUT_IDLE,
                            "send timed out after %zu of %zu bytes", done, total);
            return fail(HV_STATUS_WRITE_FAILED, HV_WIRE_REASON_IO_ERROR, "poll: %s", hv_sys_strerror(errno));
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN))
            return fail(HV_STATUS_DEVICE_CONNECTION_LOST, HV_WIRE_REASON_PEER_RESET, "send: %s", hv_sys_strerror(errno));
        return fail(HV_STATUS_WRITE_FAILED, HV_WIRE_REASON_IO_ERROR, "send: %s",
                    n < 0 ? hv_sys_strerror(errno) : "no progress");
    }
    clear_reason();
    return HV_STATUS_SUCCESS;
}

/* Read buf[*got .. n). `before` = bytes of the current frame consumed
 * before this buffer (so the reason says whether a frame was cut). */
static hv_status_t recv_bytes(int fd, uint8_t *buf, size_t n, int64_t deadline, size_t before, size_t *got)
{
    while (*got < n) {
        ssize_t r = hv_sys_recv_nb(fd, buf + *got, n - *got, false);
        int w;

        if (r > 0) {
            *got += (size_t)r;
            continue;
        }
        if (r == 0) {
            if (before + *got == 0)
                return fail(HV_STATUS_DEVICE_CONNECTION_LOST, HV_WIRE_REASON_PEER_CLOSED,
                            "peer closed the connection");
            return fail(HV_STATUS_DEVICE_CONNECTION_LOST, HV_WIRE_REASON_PEER_CLOSED_MID_FRAME,
                        "peer closed mid-packet, after %zu bytes of the frame", before + *got);
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            w = wait_fd(fd, POLLIN, deadline);
            if (w > 0)
                continue;
            if (w == 0) {
                if (before + *got == 0)
                    return fail(HV_STATUS_TIMEOUT, HV_WIRE_REASON_TIMEOUT_IDLE, "no frame within the timeout");
                return fail(HV_STATUS_TIMEOUT, HV_WIRE_REASON_TIMEOUT_MID_FRAME,
                            "timed out mid-frame, after %zu bytes", before + *got);
            }
            return fail(HV_STATUS_READ_FAILED, HV_WIRE_REASON_IO_ERROR, "poll: %s", hv_sys_strerror(errno));
        }
        if (errno == ECONNRESET || errno == ENOTCONN)
            return fail(HV_STATUS_DEVICE_CONNECTION_LOST, HV_WIRE_REASON_PEER_RESET, "recv: %s", hv_sys_strerror(errno));
        return fail(HV_STATUS_READ_FAILED, HV_WIRE_REASON_IO_ERROR, "recv: %s", hv_sys_strerror(errno));
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t recv_header(int fd, struct hv_wire_header *h, int64_t deadline)
{
    uint8_t raw[HV_WIRE_HEADER_SIZE];
    size_t got = 0;
    hv_status_t st;

    st = recv_bytes(fd, raw, sizeof(raw), deadline, 0, &got);
    if (!hv_success(st))
        return st;
    return hv_wire_decode_header(raw, h);
}

/* The payload of a decoded header into buf (h->length bytes), checked. */
static hv_status_t recv_payload(int fd, const struct hv_wire_header *h, uint8_t *buf, int64_t deadline)
{
    size_t got = 0;
    hv_status_t st;

    st = recv_bytes(fd, buf, h->length, deadline, HV_WIRE_HEADER_SIZE, &got);
    if (!hv_success(st))
        return st;
    return hv_wire_check_payload(h, buf);
}

/* Read and drop the payload of a decoded header, checksum verified. */
static hv_status_t discard_payload(int fd, const struct hv_wire_header *h, int64_t deadline)
{
    uint8_t chunk[4096];
    uint32_t crc = header_crc(h);
    size_t done = 0;
    hv_status_t st;

    while (done < h->length) {
        size_t want = h->length - done < sizeof(chunk) ? h->length - done : sizeof(chunk);
        size_t got = 0;

        st = recv_bytes(fd, chunk, want, deadline, HV_WIRE_HEADER_SIZE + done, &got);
        if (!hv_success(st))
            return st;
        crc = hv_wire_crc32(crc, chunk, want);
        done += want;
    }
    return check_crc(h, crc);
}

hv_status_t hv_wire_send(int fd, uint16_t type, uint32_t seq, const void *payload, uint32_t len, int timeout_ms)
{
    size_t sent;
    hv_status_t st = check_frame_args(type, payload, len);

    if (!hv_success(st))
        return st;
    return send_frame(fd, type, seq, payload, len, deadline_in(timeout_ms), &sent);
}

hv_status_t hv_wire_recv(int fd, struct hv_wire_header *h, void *payload, uint32_t cap, uint32_t *len,
                         int timeout_ms)
{
    int64_t deadline = deadline_in(timeout_ms);
    hv_status_t st;

    if (!h || !len || (!payload && cap))
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no header, length or buffer");
    *len = 0;
    st = recv_header(fd, h, deadline);
    if (!hv_success(st))
        return st;
    if (h->length > cap)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_NO_ROOM, "payload of %u bytes over the buffer's %u",
                    (unsigned)h->length, (unsigned)cap);
    st = recv_payload(fd, h, payload, deadline);
    if (!hv_success(st))
        return st;
    *len = h->length;
    return HV_STATUS_SUCCESS;
}

/* ---- Addresses and sockets ---------------------------------------------- */

static hv_status_t parse_host(const char *host, uint16_t port, struct sockaddr_in *a)
{
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (!host || strcmp(host, "localhost") == 0) {
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return HV_STATUS_SUCCESS;
    }
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT,
                    "host \"%.64s\" is not an IPv4 dotted quad or localhost", host);
    return HV_STATUS_SUCCESS;
}

static void set_nodelay(int fd)
{
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof(one));
}

static hv_status_t open_connected(const struct sockaddr_in *a, int timeout_ms, int *out)
{
    int64_t deadline = deadline_in(timeout_ms);
    int fd, err = 0, w;
    char ip[INET_ADDRSTRLEN] = "?";

    *out = -1;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    fd = hv_sys_tcp_socket(AF_INET, true);
    if (fd < 0)
        return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY, "socket: %s", hv_sys_strerror(errno));
    if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0) {
        /* Winsock says EWOULDBLOCK where POSIX says EINPROGRESS. */
        if (errno != EINPROGRESS && errno != EINTR && errno != EWOULDBLOCK) {
            err = errno;
        } else {
            w = wait_fd(fd, POLLOUT, deadline);
            if (w == 0) {
                hv_sys_sock_close(fd);
                return fail(HV_STATUS_TIMEOUT, HV_WIRE_REASON_CONNECT_FAILED, "connect to %s:%u timed out", ip,
                            (unsigned)ntohs(a->sin_port));
            }
            if (w < 0)
                err = errno;
            else
                err = hv_sys_sock_error(fd);
        }
    }
    if (err) {
        hv_sys_sock_close(fd);
        return fail(HV_STATUS_DEVICE_CONNECTION_LOST, HV_WIRE_REASON_CONNECT_FAILED, "connect to %s:%u: %s", ip,
                    (unsigned)ntohs(a->sin_port), hv_sys_strerror(err));
    }
    hv_sys_sock_connected(fd);
    set_nodelay(fd);
    *out = fd;
    return HV_STATUS_SUCCESS;
}

/* ---- Keys and the handshake ------------------------------------------------ */

static const char mac_label_client[] = "hvcore-wire-2 client";
static const char mac_label_server[] = "hvcore-wire-2 server";

void hv_wire_key_wipe(struct hv_wire_key *key)
{
    if (key)
        hv_sys_wipe(key, sizeof(*key));
}

hv_status_t hv_wire_key_load(const char *path, struct hv_wire_key *key)
{
    uint8_t buf[HV_WIRE_KEY_MAX + 64];
    bool regular = false, private_ = false;
    unsigned mode = 0;
    ssize_t n;
    size_t len;
    int fd;

    if (!path || !key)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no key file or key");
    memset(key, 0, sizeof(*key));
    fd = hv_sys_key_open(path, &regular, &private_, &mode);
    if (fd < 0)
        return fail(HV_STATUS_READ_FAILED, HV_WIRE_REASON_KEY_FILE, "key file %s: %s", path, hv_sys_strerror(errno));
    if (!regular) {
        close(fd);
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_KEY_FILE, "key file %s is not a regular file", path);
    }
    if (!private_) {
        close(fd);
        return fail(HV_STATUS_ACCESS_DENIED, HV_WIRE_REASON_KEY_FILE,
                    "key file %s is accessible by group or others (mode %04o); refusing it: chmod 600 %s", path,
                    mode, path);
    }
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0)
        return fail(HV_STATUS_READ_FAILED, HV_WIRE_REASON_KEY_FILE, "key file %s: %s", path, hv_sys_strerror(errno));
    len = (size_t)n;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    if (len < HV_WIRE_KEY_MIN || len > HV_WIRE_KEY_MAX) {
        hv_sys_wipe(buf, sizeof(buf));
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_KEY_FILE,
                    "key file %s holds %s bytes; a key is %u to %u bytes (hvctl keygen FILE makes one)", path,
                    len > HV_WIRE_KEY_MAX ? "too many" : "too few", HV_WIRE_KEY_MIN, HV_WIRE_KEY_MAX);
    }
    memcpy(key->bytes, buf, len);
    key->len = (uint32_t)len;
    hv_sys_wipe(buf, sizeof(buf));
    clear_reason();
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_wire_key_generate(const char *path)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[32];
    char text[2 * sizeof(raw) + 1];
    size_t i;
    int fd;
    bool ok;

    if (!path)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no key file");
    if (!hv_sys_random(raw, sizeof(raw)))
        return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY, "no random bytes from the system");
    for (i = 0; i < sizeof(raw); i++) {
        text[2 * i] = hex[raw[i] >> 4];
        text[2 * i + 1] = hex[raw[i] & 15];
    }
    text[2 * sizeof(raw)] = '\n';
    fd = hv_sys_key_create(path);
    if (fd < 0) {
        hv_sys_wipe(raw, sizeof(raw));
        hv_sys_wipe(text, sizeof(text));
        return fail(HV_STATUS_WRITE_FAILED, HV_WIRE_REASON_KEY_FILE, "key file %s: %s", path, hv_sys_strerror(errno));
    }
    ok = write(fd, text, sizeof(text)) == (ssize_t)sizeof(text);
    ok = close(fd) == 0 && ok;
    hv_sys_wipe(raw, sizeof(raw));
    hv_sys_wipe(text, sizeof(text));
    if (!ok) {
        (void)unlink(path);
        return fail(HV_STATUS_WRITE_FAILED, HV_WIRE_REASON_KEY_FILE, "key file %s: cannot write it", path);
    }
    clear_reason();
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_wire_auth_mac(const struct hv_wire_key *key, bool server, const uint8_t nc[HV_WIRE_NONCE_SIZE],
                             const uint8_t ns[HV_WIRE_NONCE_SIZE], uint8_t out[HV_WIRE_MAC_SIZE])
{
    uint8_t msg[sizeof(mac_label_client) - 1 + 2 * HV_WIRE_NONCE_SIZE];
    size_t l = sizeof(mac_label_client) - 1;

    if (!key || !nc || !ns || !out || key->len < HV_WIRE_KEY_MIN || key->len > HV_WIRE_KEY_MAX)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no key, nonce or output");
    /* Different labels: a server's proof can never be used as a client's. */
    memcpy(msg, server ? mac_label_server : mac_label_client, l);
    memcpy(msg + l, nc, HV_WIRE_NONCE_SIZE);
    memcpy(msg + l + HV_WIRE_NONCE_SIZE, ns, HV_WIRE_NONCE_SIZE);
    if (!hv_sys_hmac_sha256(key->bytes, key->len, msg, sizeof(msg), out))
        return fail(HV_STATUS_INTERNAL_ERROR, HV_WIRE_REASON_IO_ERROR, "HMAC-SHA256 failed");
    return HV_STATUS_SUCCESS;
}

static hv_status_t send_error(int fd, uint32_t seq, hv_status_t st, int64_t deadline)
{
    uint8_t b[HV_WIRE_ERROR_SIZE];
    size_t sent;

    hv_wire_put_le32(b, st);
    return send_frame(fd, HV_WIRE_ERROR, seq, b, sizeof(b), deadline, &sent);
}

/* A peer speaking `version` (e.g. 1) gets an ERROR in its own version:
 * UNSUPPORTED, which it can decode and print. Best effort, 28 bytes. */
static void tell_old_peer(int fd, uint16_t version, uint32_t seq)
{
    uint8_t f[HV_WIRE_HEADER_SIZE + HV_WIRE_ERROR_SIZE];

    hv_wire_put_le32(f + HV_WIRE_HEADER_SIZE, HV_STATUS_UNSUPPORTED);
    make_header_v(f, version, HV_WIRE_ERROR, seq, f + HV_WIRE_HEADER_SIZE, HV_WIRE_ERROR_SIZE);
    (void)!hv_sys_send_nb(fd, f, sizeof(f));
}

/* One handshake message from the client: header of `type` with exactly
 * `len` payload bytes into buf. Anything else is answered and refused. */
static hv_status_t server_recv_step(int fd, uint16_t type, uint8_t *buf, uint32_t len, int64_t deadline,
                                    uint32_t *seq)
{
    struct hv_wire_header h;
    hv_status_t st;

    st = recv_header(fd, &h, deadline);
    if (st == HV_STATUS_INVALID_PACKET && t_reason == HV_WIRE_REASON_BAD_VERSION && h.magic == HV_WIRE_MAGIC) {
        tell_old_peer(fd, h.version, h.seq);
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_VERSION,
                    "client speaks wire version %u, this server %u: it was told UNSUPPORTED (upgrade the client)",
                    (unsigned)h.version, HV_WIRE_VERSION);
    }
    if (!hv_success(st))
        return st;
    *seq = h.seq;
    if (h.type != type) {
        (void)send_error(fd, h.seq, HV_STATUS_ACCESS_DENIED, deadline);
        return fail(HV_STATUS_ACCESS_DENIED, HV_WIRE_REASON_AUTH_FAILED,
                    "frame type 0x%04X where the handshake's 0x%04X was due: refused", (unsigned)h.type,
                    (unsigned)type);
    }
    if (h.length != len) {
        (void)send_error(fd, h.seq, HV_STATUS_INVALID_PACKET, deadline);
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_HANDSHAKE, "handshake message of %u bytes, expected %u",
                    (unsigned)h.length, (unsigned)len);
    }
    return recv_payload(fd, &h, buf, deadline);
}

hv_status_t hv_wire_server_handshake(int fd, const struct hv_wire_key *key, int timeout_ms)
{
    int64_t deadline = deadline_in(timeout_ms);
    uint8_t hello[HV_WIRE_AUTH_HELLO_SIZE], nc[HV_WIRE_NONCE_SIZE], ns[HV_WIRE_NONCE_SIZE];
    uint8_t proof[HV_WIRE_MAC_SIZE], want[HV_WIRE_MAC_SIZE];
    uint32_t seq = 0, version;
    size_t sent;
    hv_status_t st;

    if (fd < 0 || (key && (key->len < HV_WIRE_KEY_MIN || key->len > HV_WIRE_KEY_MAX)))
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no socket, or a bad key");
    st = server_recv_step(fd, HV_WIRE_AUTH_HELLO, hello, sizeof(hello), deadline, &seq);
    if (!hv_success(st))
        return st;
    version = hv_wire_get_le32(hello);
    if (version != HV_WIRE_VERSION) {
        (void)send_error(fd, seq, HV_STATUS_UNSUPPORTED, deadline);
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_VERSION,
                    "client handshake version %u, this server %u", (unsigned)version, HV_WIRE_VERSION);
    }
    memcpy(nc, hello + 8, sizeof(nc));
    if (!hv_sys_random(ns, sizeof(ns))) {
        (void)send_error(fd, seq, HV_STATUS_INSUFFICIENT_RESOURCES, deadline);
        return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY, "no random bytes from the system");
    }
    hv_wire_put_le32(hello, HV_WIRE_VERSION);
    hv_wire_put_le32(hello + 4, key ? HV_WIRE_AUTH_FLAG_KEY : 0);
    memcpy(hello + 8, ns, sizeof(ns));
    st = send_frame(fd, HV_WIRE_AUTH_HELLO | HV_WIRE_RESPONSE, seq, hello, sizeof(hello), deadline, &sent);
    if (!hv_success(st) || !key)
        return st;
    st = server_recv_step(fd, HV_WIRE_AUTH_PROOF, proof, sizeof(proof), deadline, &seq);
    if (!hv_success(st))
        return st;
    st = hv_wire_auth_mac(key, false, nc, ns, want);
    if (!hv_success(st))
        return st;
    if (hv_sys_memcmp_ct(proof, want, sizeof(want)) != 0) {
        (void)send_error(fd, seq, HV_STATUS_ACCESS_DENIED, deadline);
        return fail(HV_STATUS_ACCESS_DENIED, HV_WIRE_REASON_AUTH_FAILED,
                    "wrong key (the client's proof does not match; refused)");
    }
    st = hv_wire_auth_mac(key, true, nc, ns, proof);
    if (!hv_success(st))
        return st;
    st = send_frame(fd, HV_WIRE_AUTH_PROOF | HV_WIRE_RESPONSE, seq, proof, sizeof(proof), deadline, &sent);
    if (hv_success(st))
        clear_reason();
    return st;
}

/* The answer to handshake step `type` sent with `seq`: exactly `len`
 * bytes into buf, or the status of an ERROR frame, explained. */
static hv_status_t client_recv_step(int fd, uint16_t type, uint32_t seq, uint8_t *buf, uint32_t len,
                                    int64_t deadline)
{
    struct hv_wire_header h;
    hv_status_t st;

    st = recv_header(fd, &h, deadline);
    if (st == HV_STATUS_INVALID_PACKET && t_reason == HV_WIRE_REASON_BAD_VERSION)
        return fail(st, HV_WIRE_REASON_BAD_VERSION, "server speaks wire version %u, this client %u",
                    (unsigned)h.version, HV_WIRE_VERSION);
    if (st == HV_STATUS_DEVICE_CONNECTION_LOST)
        return fail(st, t_reason,
                    "server closed the connection during the handshake (busy, or an old server speaking wire "
                    "version 1)");
    if (!hv_success(st))
        return st;
    if (h.seq != seq)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_HANDSHAKE, "handshake answer seq %u, expected %u",
                    (unsigned)h.seq, (unsigned)seq);
    if (h.type == HV_WIRE_ERROR && h.length == HV_WIRE_ERROR_SIZE) {
        uint8_t b[HV_WIRE_ERROR_SIZE];
        hv_status_t carried;

        st = recv_payload(fd, &h, b, deadline);
        if (!hv_success(st))
            return st;
        carried = hv_wire_get_le32(b);
        if (carried == HV_STATUS_ACCESS_DENIED)
            return fail(carried, HV_WIRE_REASON_AUTH_FAILED, "the server refused our key (wrong key)");
        if (hv_success(carried))
            carried = HV_STATUS_INVALID_PACKET;
        return fail(carried, HV_WIRE_REASON_REMOTE_ERROR, "the server refused the handshake with status 0x%08X",
                    (unsigned)carried);
    }
    if (h.type != (uint16_t)(type | HV_WIRE_RESPONSE) || h.length != len)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_HANDSHAKE,
                    "handshake answer type 0x%04X of %u bytes, expected 0x%04X of %u", (unsigned)h.type,
                    (unsigned)h.length, (unsigned)(type | HV_WIRE_RESPONSE), (unsigned)len);
    return recv_payload(fd, &h, buf, deadline);
}

/* The client's side; seq numbers come from *next_seq. */
static hv_status_t client_handshake(int fd, const struct hv_wire_key *key, int timeout_ms, uint32_t *next_seq)
{
    int64_t deadline = deadline_in(timeout_ms);
    uint8_t hello[HV_WIRE_AUTH_HELLO_SIZE], nc[HV_WIRE_NONCE_SIZE], ns[HV_WIRE_NONCE_SIZE];
    uint8_t proof[HV_WIRE_MAC_SIZE], want[HV_WIRE_MAC_SIZE];
    uint32_t seq, flags;
    size_t sent;
    hv_status_t st;

    if (!hv_sys_random(nc, sizeof(nc)))
        return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY, "no random bytes from the system");
    hv_wire_put_le32(hello, HV_WIRE_VERSION);
    hv_wire_put_le32(hello + 4, key ? HV_WIRE_AUTH_FLAG_KEY : 0);
    memcpy(hello + 8, nc, sizeof(nc));
    seq = (*next_seq)++;
    st = send_frame(fd, HV_WIRE_AUTH_HELLO, seq, hello, sizeof(hello), deadline, &sent);
    if (!hv_success(st))
        return st;
    st = client_recv_step(fd, HV_WIRE_AUTH_HELLO, seq, hello, sizeof(hello), deadline);
    if (!hv_success(st))
        return st;
    if (hv_wire_get_le32(hello) != HV_WIRE_VERSION)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_VERSION, "server handshake version %u, this client %u",
                    (unsigned)hv_wire_get_le32(hello), HV_WIRE_VERSION);
    flags = hv_wire_get_le32(hello + 4);
    memcpy(ns, hello + 8, sizeof(ns));
    if (!(flags & HV_WIRE_AUTH_FLAG_KEY)) {
        if (key)
            return fail(HV_STATUS_ACCESS_DENIED, HV_WIRE_REASON_AUTH_FAILED,
                        "the server does not authenticate (started without a key) although we have one: refused");
        return HV_STATUS_SUCCESS;
    }
    if (!key)
        return fail(HV_STATUS_ACCESS_DENIED, HV_WIRE_REASON_AUTH_FAILED,
                    "the server requires a key: add ,key=FILE to the target or set HVCORE_KEY_FILE");
    st = hv_wire_auth_mac(key, false, nc, ns, proof);
    if (!hv_success(st))
        return st;
    seq = (*next_seq)++;
    st = send_frame(fd, HV_WIRE_AUTH_PROOF, seq, proof, sizeof(proof), deadline, &sent);
    if (!hv_success(st))
        return st;
    st = client_recv_step(fd, HV_WIRE_AUTH_PROOF, seq, proof, sizeof(proof), deadline);
    if (!hv_success(st))
        return st;
    st = hv_wire_auth_mac(key, true, nc, ns, want);
    if (!hv_success(st))
        return st;
    if (hv_sys_memcmp_ct(proof, want, sizeof(want)) != 0)
        return fail(HV_STATUS_ACCESS_DENIED, HV_WIRE_REASON_AUTH_FAILED,
                    "the server did not prove it knows the key (another server, or another key file)");
    return HV_STATUS_SUCCESS;
}

/* ---- Client connection --------------------------------------------------- */

struct hv_wire_conn {
    int fd;                     /* -1 while closed */
    bool has_addr;              /* false: wraps a caller's fd, cannot reconnect */
    struct sockaddr_in addr;
    int connect_timeout_ms;
    uint32_t next_seq;
    uint32_t reconnects;
    bool in_hook;
    hv_wire_reconnect_fn hook;
    void *hook_ctx;
    bool has_key;
    struct hv_wire_key key;     /* has_key: the handshake proves it */
};

static void conn_drop(struct hv_wire_conn *c)
{
    if (c->fd >= 0)
        hv_sys_sock_close(c->fd);
    c->fd = -1;
}

static struct hv_wire_conn *conn_new(void)
{
    struct hv_wire_conn *c = calloc(1, sizeof(*c));

    if (c) {
        c->fd = -1;
        c->next_seq = 1;
    }
    return c;
}

/* A new socket to c->addr with the handshake done. A server full of
 * unauthenticated peers may drop ours before it answers: try again. */
static hv_status_t open_session(struct hv_wire_conn *c)
{
    hv_status_t st = HV_STATUS_DEVICE_CONNECTION_LOST;
    int attempt;

    for (attempt = 0; attempt < 3; attempt++) {
        st = open_connected(&c->addr, c->connect_timeout_ms, &c->fd);
        if (!hv_success(st))
            return st;
        st = client_handshake(c->fd, c->has_key ? &c->key : NULL, c->connect_timeout_ms, &c->next_seq);
        if (hv_success(st))
            return st;
        conn_drop(c);
        if (st != HV_STATUS_DEVICE_CONNECTION_LOST)
            break;
    }
    return st;
}

hv_status_t hv_wire_connect_auth(struct hv_wire_conn **out, const char *host, uint16_t port, int timeout_ms,
                                 const struct hv_wire_key *key)
{
    struct hv_wire_conn *c;
    hv_status_t st;

    if (!out)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no output pointer");
    *out = NULL;
    if (!host)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no host");
    if (key && (key->len < HV_WIRE_KEY_MIN || key->len > HV_WIRE_KEY_MAX))
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "key of %u bytes", (unsigned)key->len);
    c = conn_new();
    if (!c)
        return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY, "out of memory");
    if (key) {
        c->key = *key;
        c->has_key = true;
    }
    c->connect_timeout_ms = timeout_ms;
    st = parse_host(host, port, &c->addr);
    if (hv_success(st))
        st = open_session(c);
    if (!hv_success(st)) {
        hv_wire_key_wipe(&c->key);
        free(c);
        return st;
    }
    c->has_addr = true;
    *out = c;
    clear_reason();
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_wire_connect(struct hv_wire_conn **out, const char *host, uint16_t port, int timeout_ms)
{
    return hv_wire_connect_auth(out, host, port, timeout_ms, NULL);
}

hv_status_t hv_wire_tcp_open(const char *host, uint16_t port, int timeout_ms, int *fd)
{
    struct sockaddr_in a;
    hv_status_t st;

    if (!fd)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no output pointer");
    *fd = -1;
    st = parse_host(host, port, &a);
    if (hv_success(st))
        st = open_connected(&a, timeout_ms, fd);
    if (hv_success(st))
        clear_reason();
    return st;
}

hv_status_t hv_wire_conn_from_fd(struct hv_wire_conn **out, int fd)
{
    struct hv_wire_conn *c;

    if (!out || fd < 0) {
        if (fd >= 0)
            hv_sys_sock_close(fd);
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no output pointer or fd");
    }
    *out = NULL;
    hv_sys_sock_adopt(fd);
    c = conn_new();
    if (!c) {
        hv_sys_sock_close(fd);
        return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY, "out of memory");
    }
    c->fd = fd;
    *out = c;
    clear_reason();
    return HV_STATUS_SUCCESS;
}

void hv_wire_set_reconnect_hook(struct hv_wire_conn *conn, hv_wire_reconnect_fn fn, void *ctx)
{
    if (!conn)
        return;
    conn->hook = fn;
    conn->hook_ctx = fn ? ctx : NULL;
}

int hv_wire_conn_fd(const struct hv_wire_conn *conn)
{
    return conn ? conn->fd : -1;
}

uint32_t hv_wire_conn_next_seq(const struct hv_wire_conn *conn)
{
    return conn ? conn->next_seq : 0;
}

uint32_t hv_wire_conn_reconnects(const struct hv_wire_conn *conn)
{
    return conn ? conn->reconnects : 0;
}

void hv_wire_close(struct hv_wire_conn *conn)
{
    if (!conn)
        return;
    conn_drop(conn);
    hv_wire_key_wipe(&conn->key);
    free(conn);
}

bool hv_wire_type_is_retry_safe(uint16_t type)
{
    switch (type) {
    case HV_WIRE_HELLO:
    case HV_WIRE_MSR:
    case HV_WIRE_MSR_VALUES:
    case HV_WIRE_QUERY:
    case HV_WIRE_EVENT_CTL:
    case HV_WIRE_EVENT_LIST:
    case HV_WIRE_MSG_READ:
    case HV_WIRE_SIMULATE:
        return true;
    default: /* EVENT_ADD, EVENT_ACTION, anything unknown */
        return false;
    }
}

/* New socket to the saved address, then the hook. */
static hv_status_t conn_reconnect(struct hv_wire_conn *c)
{
    hv_status_t st;

    conn_drop(c);
    if (!c->has_addr)
        return fail(HV_STATUS_DEVICE_CONNECTION_LOST, HV_WIRE_REASON_CONNECT_FAILED,
                    "connection lost and no address to reconnect to");
    st = open_session(c);
    if (!hv_success(st))
        return st;
    c->reconnects++;
    if (c->hook) {
        c->in_hook = true;
        st = c->hook(c, c->hook_ctx);
        c->in_hook = false;
        if (!hv_success(st)) {
            conn_drop(c);
            return st;
        }
    }
    return HV_STATUS_SUCCESS;
}

/* One attempt: send with the next seq, wait for its answer. *remote is set
 * when the status is the one an ERROR frame carried. Closes the socket on
 * every failure that leaves the stream out of step. */
static hv_status_t call_once(struct hv_wire_conn *c, uint16_t type, const void *req, uint32_t req_len, void *resp,
                             uint32_t resp_cap, uint32_t *rlen, uint16_t *rtype, int timeout_ms, bool *remote)
{
    int64_t deadline = deadline_in(timeout_ms);
    uint32_t seq = c->next_seq++;
    struct hv_wire_header h;
    size_t sent;
    hv_status_t st;

    *remote = false;
    st = send_frame(c->fd, type, seq, req, req_len, deadline, &sent);
    if (!hv_success(st)) {
        if (!(st == HV_STATUS_TIMEOUT && sent == 0))
            conn_drop(c);
        return st;
    }
    for (;;) {
        int32_t ahead;

        st = recv_header(c->fd, &h, deadline);
        if (!hv_success(st)) {
            if (!(st == HV_STATUS_TIMEOUT && t_reason == HV_WIRE_REASON_TIMEOUT_IDLE))
                conn_drop(c);
            return st;
        }
        if (!(h.type & HV_WIRE_RESPONSE)) {
            conn_drop(c);
            return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_NOT_A_RESPONSE,
                        "request type 0x%04X (seq %u) where a response was due", (unsigned)h.type, (unsigned)h.seq);
        }
        ahead = (int32_t)(h.seq - seq);
        if (ahead > 0) {
            conn_drop(c);
            return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_SEQ_FUTURE,
                        "response seq %u from the future (waiting for %u)", (unsigned)h.seq, (unsigned)seq);
        }
        if (ahead < 0) {
            /* A late answer to an earlier call that gave up: drop it. */
            st = discard_payload(c->fd, &h, deadline);
            if (!hv_success(st)) {
                conn_drop(c);
                return st;
            }
            continue;
        }
        if (h.type == HV_WIRE_ERROR) {
            uint8_t b[HV_WIRE_ERROR_SIZE];
            hv_status_t carried;

            if (h.length != HV_WIRE_ERROR_SIZE) {
                conn_drop(c);
                return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_ERROR_FRAME,
                            "ERROR frame of %u bytes, expected %u", (unsigned)h.length, HV_WIRE_ERROR_SIZE);
            }
            st = recv_payload(c->fd, &h, b, deadline);
            if (!hv_success(st)) {
                conn_drop(c);
                return st;
            }
            carried = hv_wire_get_le32(b);
            if (hv_success(carried)) {
                conn_drop(c);
                return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_ERROR_FRAME, "ERROR frame carrying SUCCESS");
            }
            *rtype = HV_WIRE_ERROR;
            *remote = true;
            return fail(carried, HV_WIRE_REASON_REMOTE_ERROR, "peer answered request 0x%04X with status 0x%08X",
                        (unsigned)type, (unsigned)carried);
        }
        if (h.type != (uint16_t)(type | HV_WIRE_RESPONSE)) {
            conn_drop(c);
            return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_WRONG_RESPONSE,
                        "response type 0x%04X to request 0x%04X", (unsigned)h.type, (unsigned)type);
        }
        if (h.length > resp_cap) {
            st = discard_payload(c->fd, &h, deadline);
            if (!hv_success(st)) {
                conn_drop(c);
                return st;
            }
            *rlen = h.length;
            *rtype = h.type;
            return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_RESPONSE_TOO_BIG,
                        "response of %u bytes over the buffer's %u", (unsigned)h.length, (unsigned)resp_cap);
        }
        st = recv_payload(c->fd, &h, resp, deadline);
        if (!hv_success(st)) {
            conn_drop(c);
            return st;
        }
        *rlen = h.length;
        *rtype = h.type;
        return HV_STATUS_SUCCESS;
    }
}

static bool overlaps(const void *a, size_t an, const void *b, size_t bn)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

    return an && bn && x < y + bn && y < x + an;
}

hv_status_t hv_wire_call(struct hv_wire_conn *conn, uint16_t type, const void *req, uint32_t req_len, void *resp,
                         uint32_t resp_cap, uint32_t *resp_len, uint16_t *resp_type, int timeout_ms)
{
    uint32_t rlen = 0;
    uint16_t rtype = 0;
    bool reconnected = false, remote = false;
    void *saved = NULL;
    const void *out = req;
    hv_status_t st;

    if (resp_len)
        *resp_len = 0;
    if (resp_type)
        *resp_type = 0;
    if (!conn)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no connection");
    if (!hv_wire_is_request_type(type))
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "0x%04X is not a request type",
                    (unsigned)type);
    st = check_frame_args(type, req, req_len);
    if (!hv_success(st))
        return st;
    if (!resp && resp_cap)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no response buffer");

    if (conn->fd >= 0 && conn->has_addr && !conn->in_hook) {
        uint8_t b;

        /* The server closes sessions idle too long (or evicts them): if it
         * already has, reconnect before sending, so that even a request
         * that is never re-sent (EVENT_ADD) goes out on a live session. */
        if (hv_sys_recv_nb(conn->fd, &b, 1, true) == 0)
            conn_drop(conn);
    }
    if (conn->fd < 0) {
        /* Closed by an earlier failure: nothing of this request went out. */
        if (conn->in_hook)
            return fail(HV_STATUS_DEVICE_CONNECTION_LOST, HV_WIRE_REASON_CONNECT_FAILED,
                        "connection lost inside the reconnect hook");
        st = conn_reconnect(conn);
        if (!hv_success(st))
            return st;
        reconnected = true;
    }
    /* The answer may be read over the request (one buffer for both, as the
     * engine does); a retry must resend the original bytes, so keep them. */
    if (!reconnected && !conn->in_hook && conn->has_addr && hv_wire_type_is_retry_safe(type) &&
        overlaps(req, req_len, resp, resp_cap)) {
        saved = malloc(req_len);
        if (!saved)
            return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY, "out of memory");
        memcpy(saved, req, req_len);
    }
    for (;;) {
        st = call_once(conn, type, out, req_len, resp, resp_cap, &rlen, &rtype, timeout_ms, &remote);
        if (st != HV_STATUS_DEVICE_CONNECTION_LOST || remote)
            break;
        /* Lost (socket already closed): one reconnect and one more copy,
         * only for requests that may run twice. */
        if (reconnected || conn->in_hook || !hv_wire_type_is_retry_safe(type))
            break;
        st = conn_reconnect(conn);
        if (!hv_success(st))
            break;
        reconnected = true;
        if (saved)
            out = saved; /* req may hold part of the lost answer by now */
    }
    free(saved);
    if (resp_len)
        *resp_len = rlen;
    if (resp_type)
        *resp_type = rtype;
    if (hv_success(st))
        clear_reason();
    return st;
}

hv_status_t hv_wire_hello(struct hv_wire_conn *conn, struct hv_wire_hello_info *info, int timeout_ms)
{
    uint8_t req[HV_WIRE_HELLO_REQ_SIZE];
    uint8_t resp[256];
    uint32_t n = 0;
    hv_status_t st;

    if (!info)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no hello info");
    memset(info, 0, sizeof(*info));
    hv_wire_put_le32(req, HV_WIRE_VERSION);
    st = hv_wire_call(conn, HV_WIRE_HELLO, req, sizeof(req), resp, sizeof(resp), &n, NULL, timeout_ms);
    if (!hv_success(st))
        return st;
    if (n < HV_WIRE_HELLO_RESP_SIZE)
        return fail(HV_STATUS_INVALID_PACKET, HV_WIRE_REASON_BAD_HELLO, "HELLO answer of %u bytes, expected %u",
                    (unsigned)n, HV_WIRE_HELLO_RESP_SIZE);
    info->server_version = hv_wire_get_le32(resp);
    info->cpu_count = hv_wire_get_le32(resp + 4);
    memcpy(info->signature, resp + 8, HV_WIRE_SIGNATURE_SIZE);
    info->signature[HV_WIRE_SIGNATURE_SIZE] = '\0';
    return HV_STATUS_SUCCESS;
}

/* ---- Server side ------------------------------------------------------------ */

hv_status_t hv_wire_listen(const char *host, uint16_t port, int *listen_fd)
{
    struct sockaddr_in a;
    int fd, one = 1;
    hv_status_t st;

    if (!listen_fd)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no output fd");
    *listen_fd = -1;
    st = parse_host(host, port, &a);
    if (!hv_success(st))
        return st;
    fd = hv_sys_tcp_socket(AF_INET, false);
    if (fd < 0)
        return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY, "socket: %s", hv_sys_strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, (const char *)&one, sizeof(one)) < 0 ||
        bind(fd, (const struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
        int err = errno;

        hv_sys_sock_close(fd);
        return fail(HV_STATUS_WRITE_FAILED, HV_WIRE_REASON_IO_ERROR, "listen on port %u: %s", (unsigned)port,
                    hv_sys_strerror(err));
    }
    *listen_fd = fd;
    clear_reason();
    return HV_STATUS_SUCCESS;
}

void hv_wire_close_fd(int fd)
{
    if (fd >= 0)
        (void)hv_sys_sock_close(fd);
}

hv_status_t hv_wire_local_port(int fd, uint16_t *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    if (!port)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no output port");
    *port = 0;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return fail(HV_STATUS_READ_FAILED, HV_WIRE_REASON_IO_ERROR, "getsockname: %s", hv_sys_strerror(errno));
    if (a.sin_family != AF_INET)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "not an IPv4 socket");
    *port = ntohs(a.sin_port);
    clear_reason();
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_wire_accept(int listen_fd, int *fd, int timeout_ms)
{
    int64_t deadline = deadline_in(timeout_ms);
    int w, s;

    if (!fd)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no output fd");
    *fd = -1;
    for (;;) {
        w = wait_fd(listen_fd, POLLIN, deadline);
        if (w == 0)
            return fail(HV_STATUS_TIMEOUT, HV_WIRE_REASON_TIMEOUT_IDLE, "no connection within the timeout");
        if (w < 0)
            return fail(HV_STATUS_READ_FAILED, HV_WIRE_REASON_IO_ERROR, "poll: %s", hv_sys_strerror(errno));
        s = hv_sys_sock_accept(listen_fd, NULL);
        if (s >= 0)
            break;
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
            continue;
        return fail(HV_STATUS_READ_FAILED, HV_WIRE_REASON_IO_ERROR, "accept: %s", hv_sys_strerror(errno));
    }
    set_nodelay(s);
    *fd = s;
    clear_reason();
    return HV_STATUS_SUCCESS;
}

void hv_wire_encode_hello_response(uint8_t out[HV_WIRE_HELLO_RESP_SIZE], uint32_t server_version,
                                   uint32_t cpu_count, const char *signature)
{
    size_t n = signature ? strnlen(signature, HV_WIRE_SIGNATURE_SIZE) : 0;

    hv_wire_put_le32(out, server_version);
    hv_wire_put_le32(out + 4, cpu_count);
    memset(out + 8, 0, HV_WIRE_SIGNATURE_SIZE);
    if (n)
        memcpy(out + 8, signature, n);
}

/* session false: one timeout for waiting and receiving each request
 * (hv_wire_serve_conn); true: idle, then request_ms per request. */
static hv_status_t serve_loop(int fd, hv_wire_handler_fn fn, void *ctx, int idle_timeout_ms, int request_ms,
                              bool session)
{
    uint8_t *req = NULL, *resp = NULL;
    struct hv_wire_header h;
    hv_status_t st;

    if (fd < 0)
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no socket");
    if (!fn) {
        hv_sys_sock_close(fd);
        return fail(HV_STATUS_INVALID_PARAMETER, HV_WIRE_REASON_BAD_ARGUMENT, "no handler");
    }
    req = malloc(HV_WIRE_MAX_PAYLOAD);
    resp = malloc(HV_WIRE_MAX_PAYLOAD);
    if (!req || !resp) {
        free(req);
        free(resp);
        hv_sys_sock_close(fd);
        return fail(HV_STATUS_INSUFFICIENT_RESOURCES, HV_WIRE_REASON_NO_MEMORY, "out of memory");
    }
    for (;;) {
        uint32_t len = 0, rlen = 0;
        hv_status_t hst;

        if (session) {
            /* Idle between requests may be long; a request, once begun,
             * must arrive whole within request_ms (no trickling). */
            int w = wait_fd(fd, POLLIN, deadline_in(idle_timeout_ms));

            if (w == 0) {
                st = fail(HV_STATUS_TIMEOUT, HV_WIRE_REASON_TIMEOUT_IDLE, "no request for %d ms", idle_timeout_ms);
                break;
            }
            if (w < 0) {
                st = fail(HV_STATUS_READ_FAILED, HV_WIRE_REASON_IO_ERROR, "poll: %s", hv_sys_strerror(errno));
                break;
            }
        }
        st = hv_wire_recv(fd, &h, req, HV_WIRE_MAX_PAYLOAD, &len, session ? request_ms : idle_timeout_ms);
        if (!hv_success(st)) {
            if (st == HV_STATUS_DEVICE_CONNECTION_LOST && t_reason == HV_WIRE_REASON_PEER_CLOSED)
                st = HV_STATUS_SUCCESS; /* orderly end between requests */
            break;
        }
        if (!hv_wire_is_request_type(h.type) ||
            (session && (h.type == HV_WIRE_AUTH_HELLO || h.type == HV_WIRE_AUTH_PROOF))) {
            hst = HV_STATUS_INVALID_PACKET;
        } else {
            hst = fn(ctx, h.type, req, len, resp, HV_WIRE_MAX_PAYLOAD, &rlen);
            if (hv_success(hst) && rlen > HV_WIRE_MAX_PAYLOAD)
                hst = HV_STATUS_INVALID_PARAMETER;
        }
        if (hv_success(hst)) {
            st = hv_wire_send(fd, (uint16_t)(h.type | HV_WIRE_RESPONSE), h.seq, resp, rlen,
                              session ? request_ms : idle_timeout_ms);
        } else {
            uint8_t b[HV_WIRE_ERROR_SIZE];

            hv_wire_put_le32(b, hst);
            st = hv_wire_send(fd, HV_WIRE_ERROR, h.seq, b, sizeof(b), session ? request_ms : idle_timeout_ms);
        }
        if (!hv_success(st))
            break;
    }
    hv_sys_sock_close(fd);
    free(req);
    free(resp);
    if (hv_success(st))
        clear_reason();
    return st;
}

hv_status_t hv_wire_serve_conn(int fd, hv_wire_handler_fn fn, void *ctx, int idle_timeout_ms)
{
    return serve_loop(fd, fn, ctx, idle_timeout_ms, idle_timeout_ms, false);
}

hv_status_t hv_wire_serve_session(int fd, hv_wire_handler_fn fn, void *ctx, int idle_ms, int request_ms)
{
    return serve_loop(fd, fn, ctx, idle_ms, request_ms, true);
}
