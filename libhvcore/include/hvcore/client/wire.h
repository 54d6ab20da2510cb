/* SPDX-License-Identifier: MIT */
/*
 * The TCP wire protocol between a user-mode client (the engine, "tcp:"
 * targets) and a debuggee stub (`hvctl serve --listen 127.0.0.1:5555`).
 * User mode, C11 + POSIX sockets or Winsock 2 (libhvcore/client/sys.h).
 *
 * Framing
 * -------
 * A frame is a 24-byte header followed by `length` payload bytes. Every
 * integer is little-endian and is encoded/decoded byte by byte:
 *
 *   off size field
 *    0   4   magic     0x31435648 ("HVC1" as bytes 48 56 43 31)
 *    4   2   version   HV_WIRE_VERSION (2)
 *    6   2   type      see below
 *    8   4   seq       chosen by the requester, echoed by the response
 *   12   4   length    payload bytes, 0 .. HV_WIRE_MAX_PAYLOAD (1 MiB)
 *   16   4   checksum  CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320,
 *                      init/xorout 0xFFFFFFFF) over the 24 header bytes
 *                      with this field zero, followed by the payload
 *   20   2   flags     0
 *   22   2   reserved  0
 *
 * Types: 1 .. 0x7FFF are requests; the response to request T has type
 * T | 0x8000 and the request's seq. HV_WIRE_ERROR (0xFFFF) answers a
 * request that could not be served: its payload is exactly one u32, the
 * hv_status_t (never SUCCESS). Types 0 and 0x8000 are never valid.
 * Payloads are opaque to this layer: the abi.h request structs travel as
 * their bytes (the stub runs them through hv_abi_execute), except for the
 * few payloads defined here (HELLO, MSG_READ, ERROR), which are
 * little-endian u32 fields.
 *
 * A frame that fails a check (bad magic, version, flags/reserved, type
 * 0/0x8000, length over the maximum or over the receiver's buffer,
 * checksum) is INVALID_PACKET. The receiver cannot tell where the next
 * frame starts after a bad header, so a malformed frame leaves the stream
 * unusable: the connection must be closed (hv_wire_serve_conn and
 * hv_wire_call do so).
 *
 * Why a frame failed (and other failure details) is kept per thread:
 * hv_wire_last_reason() / hv_wire_last_error() describe the most recent
 * failing hv_wire_* call of the calling thread. A wrong version is
 * INVALID_PACKET with reason HV_WIRE_REASON_BAD_VERSION (the decoded
 * header also holds the peer's version).
 *
 * Handshake (version 2)
 * ---------------------
 * Every connection starts with a handshake; until it completes the server
 * runs no request (anything else gets HV_WIRE_ERROR ACCESS_DENIED and the
 * connection is closed). The key is a pre-shared secret (a file readable
 * only by its owner, see hv_wire_key_load); proofs are HMAC-SHA256 (OpenSSL
 * libcrypto) over both sides' fresh 32-byte random nonces, so both sides
 * prove the key and a recorded handshake replayed later fails (the other
 * side's nonce differs):
 *
 *   C -> S  AUTH_HELLO  u32 version 2, u32 flags (bit 0: client has a key),
 *                       Nc[32]
 *   S -> C  AUTH_HELLO|0x8000  u32 version 2, u32 flags (bit 0: key
 *                       required), Ns[32]
 *     no key on the server: done (a client that has a key refuses such a
 *     server: it cannot prove itself). Otherwise:
 *   C -> S  AUTH_PROOF  HMAC(K, "hvcore-wire-2 client" || Nc || Ns)
 *   S -> C  AUTH_PROOF|0x8000  HMAC(K, "hvcore-wire-2 server" || Nc || Ns)
 *     or HV_WIRE_ERROR ACCESS_DENIED (wrong key; the server logs it).
 *
 * A version-1 peer is told clearly: the server answers its first frame with
 * a version-1 HV_WIRE_ERROR carrying UNSUPPORTED (what a version-1 client
 * can decode), the client names the version it got (BAD_VERSION).
 * The handshake authenticates the peers; it does not encrypt or sign the
 * frames after it (use an SSH tunnel over networks you do not trust).
 *
 * Timeouts (all `timeout_ms` parameters): < 0 waits forever, 0 does not
 * wait (only what can be done at once), > 0 is a deadline in
 * milliseconds for the whole operation (the whole frame, not each byte).
 *
 * None of this is thread-safe per connection: one call at a time on a
 * given socket / struct hv_wire_conn (the engine serializes its calls).
 */
#ifndef HVCORE_CLIENT_WIRE_H
#define HVCORE_CLIENT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HV_WIRE_MAGIC        0x31435648u  /* "HVC1" */
#define HV_WIRE_VERSION      2u       /* 2: handshake (HV_WIRE_AUTH_*) first */
#define HV_WIRE_HEADER_SIZE  24u
#define HV_WIRE_MAX_PAYLOAD  (1u << 20)
#define HV_WIRE_MAX_FRAME    (HV_WIRE_HEADER_SIZE + HV_WIRE_MAX_PAYLOAD)

#define HV_WIRE_RESPONSE     0x8000u      /* bit set in every response type */

/* ---- Message types (requests; responses are type | HV_WIRE_RESPONSE) -- */
/* HELLO: payload u32 client version; response u32 server version, u32 cpu
 * count, char[16] signature (NUL-padded). */
#define HV_WIRE_HELLO         0x0001u
#define HV_WIRE_MSR           0x0002u  /* struct hv_abi_msr, both ways */
#define HV_WIRE_MSR_VALUES    0x0003u  /* struct hv_abi_msr_values */
#define HV_WIRE_QUERY         0x0004u  /* struct hv_abi_query */
#define HV_WIRE_EVENT_ADD     0x0010u  /* struct hv_abi_event_add (NOT retried) */
#define HV_WIRE_EVENT_ACTION  0x0011u  /* struct hv_abi_event_action (NOT retried) */
#define HV_WIRE_EVENT_CTL     0x0012u  /* struct hv_abi_event_ctl */
#define HV_WIRE_EVENT_LIST    0x0013u  /* struct hv_abi_event_list */
/* MSG_READ: payload u32 max records, u32 timeout ms; response: whole
 * struct hv_msg_record (hvcore/msg.h) records, back to back. */
#define HV_WIRE_MSG_READ      0x0020u
#define HV_WIRE_SIMULATE      0x0030u  /* simulator request, opaque bytes */
/* The handshake (see above); never valid after it. */
#define HV_WIRE_AUTH_HELLO    0x0040u
#define HV_WIRE_AUTH_PROOF    0x0041u
/* ERROR: u32 hv_status_t, the answer to a request that was not served. */
#define HV_WIRE_ERROR         0xFFFFu

#define HV_WIRE_HELLO_REQ_SIZE     4u
#define HV_WIRE_HELLO_RESP_SIZE    24u
#define HV_WIRE_SIGNATURE_SIZE     16u
#define HV_WIRE_MSG_READ_REQ_SIZE  8u
#define HV_WIRE_ERROR_SIZE         4u
#define HV_WIRE_NONCE_SIZE         32u
#define HV_WIRE_MAC_SIZE           32u    /* HMAC-SHA256 */
#define HV_WIRE_AUTH_HELLO_SIZE    (8u + HV_WIRE_NONCE_SIZE)
#define HV_WIRE_AUTH_FLAG_KEY      1u
#define HV_WIRE_KEY_MIN            16u    /* bytes of key material */
#define HV_WIRE_KEY_MAX            256u

/* The decoded header. hv_wire_decode_header fills every field even when it
 * returns INVALID_PACKET, so the caller can look at e.g. the version. */
struct hv_wire_header {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t seq;
    uint32_t length;
    uint32_t checksum;
    uint16_t flags;
    uint16_t reserved;
};

/* Why the calling thread's last failing hv_wire_* call failed. */
enum hv_wire_reason {
    HV_WIRE_REASON_NONE = 0,
    HV_WIRE_REASON_BAD_MAGIC,             /* INVALID_PACKET */
    HV_WIRE_REASON_BAD_VERSION,           /* INVALID_PACKET: peer speaks another version */
    HV_WIRE_REASON_BAD_FLAGS,             /* INVALID_PACKET: flags or reserved non-zero */
    HV_WIRE_REASON_BAD_TYPE,              /* INVALID_PACKET: type 0 or 0x8000 */
    HV_WIRE_REASON_TOO_LONG,              /* INVALID_PACKET: length > HV_WIRE_MAX_PAYLOAD */
    HV_WIRE_REASON_NO_ROOM,               /* INVALID_PACKET: payload > the receiver's buffer */
    HV_WIRE_REASON_BAD_CHECKSUM,          /* INVALID_PACKET */
    HV_WIRE_REASON_SEQ_FUTURE,            /* INVALID_PACKET: response to a request not sent yet */
    HV_WIRE_REASON_NOT_A_RESPONSE,        /* INVALID_PACKET: a request type where a response was due */
    HV_WIRE_REASON_WRONG_RESPONSE,        /* INVALID_PACKET: response type != request | 0x8000 */
    HV_WIRE_REASON_BAD_ERROR_FRAME,       /* INVALID_PACKET: ERROR payload not one non-SUCCESS u32 */
    HV_WIRE_REASON_BAD_HELLO,             /* INVALID_PACKET: HELLO response too short */
    HV_WIRE_REASON_PEER_CLOSED,           /* DEVICE_CONNECTION_LOST between frames */
    HV_WIRE_REASON_PEER_CLOSED_MID_FRAME, /* DEVICE_CONNECTION_LOST inside a frame */
    HV_WIRE_REASON_PEER_RESET,            /* DEVICE_CONNECTION_LOST: EPIPE / ECONNRESET */
    HV_WIRE_REASON_CONNECT_FAILED,        /* connect refused/unreachable, or reconnect impossible */
    HV_WIRE_REASON_TIMEOUT_IDLE,          /* TIMEOUT, nothing of a frame moved: stream still usable */
    HV_WIRE_REASON_TIMEOUT_MID_FRAME,     /* TIMEOUT inside a frame: stream unusable */
    HV_WIRE_REASON_IO_ERROR,              /* READ_FAILED / WRITE_FAILED (errno in the text) */
    HV_WIRE_REASON_BAD_ARGUMENT,          /* INVALID_PARAMETER */
    HV_WIRE_REASON_NO_MEMORY,             /* INSUFFICIENT_RESOURCES */
    HV_WIRE_REASON_RESPONSE_TOO_BIG,      /* hv_wire_call: INSUFFICIENT_RESOURCES, stream usable */
    HV_WIRE_REASON_REMOTE_ERROR,          /* hv_wire_call: the peer answered HV_WIRE_ERROR */
    HV_WIRE_REASON_AUTH_FAILED,           /* ACCESS_DENIED: wrong / missing key, no handshake */
    HV_WIRE_REASON_KEY_FILE,              /* a key file that is unsafe or unusable */
    HV_WIRE_REASON_HANDSHAKE,             /* INVALID_PACKET: malformed handshake message */
};

/* Reason and a human-readable message ("frame version 2, expected 1") for
 * the calling thread's most recent failure; set by every hv_wire_* call
 * that fails, reset to NONE / "" by every call that succeeds. Never NULL. */
enum hv_wire_reason hv_wire_last_reason(void);
const char *hv_wire_last_error(void);
const char *hv_wire_reason_name(enum hv_wire_reason reason);

/* True for 1 .. 0x7FFF. */
static inline bool hv_wire_is_request_type(uint16_t type)
{
    return type != 0 && !(type & HV_WIRE_RESPONSE);
}

/* ---- Little-endian helpers for the payloads defined here -------------- */
static inline uint32_t hv_wire_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void hv_wire_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---- Pure functions ---------------------------------------------------- */

/* CRC-32/IEEE, zlib convention: start with crc = 0, chain by passing the
 * previous result (crc32(crc32(0, a), b) == crc32(0, a || b)).
 * hv_wire_crc32(0, "123456789", 9) == 0xCBF43926. */
uint32_t hv_wire_crc32(uint32_t crc, const void *p, size_t n);

/* Encode one frame into out[0 .. cap). *written = header + len on
 * success. INVALID_PARAMETER: type 0 or 0x8000, len > HV_WIRE_MAX_PAYLOAD,
 * payload NULL with len > 0, out/written NULL. INSUFFICIENT_RESOURCES: cap
 * < HV_WIRE_HEADER_SIZE + len (then *written = the size needed). */
hv_status_t hv_wire_encode(uint16_t type, uint32_t seq, const void *payload, uint32_t len, uint8_t *out,
                           size_t cap, size_t *written);

/* Decode and check a header (everything but the checksum, which covers
 * the payload too). INVALID_PACKET with hv_wire_last_reason() BAD_MAGIC,
 * BAD_VERSION, BAD_FLAGS, BAD_TYPE or TOO_LONG; *h is filled regardless.
 * INVALID_PARAMETER for NULL pointers. */
hv_status_t hv_wire_decode_header(const uint8_t hdr[HV_WIRE_HEADER_SIZE], struct hv_wire_header *h);

/* Verify h->checksum over the header (re-encoded from *h, checksum zero)
 * and payload[0 .. h->length). INVALID_PACKET (BAD_CHECKSUM) on mismatch;
 * INVALID_PARAMETER if h is NULL, or payload is NULL with a length. */
hv_status_t hv_wire_check_payload(const struct hv_wire_header *h, const uint8_t *payload);

/* ---- Frame I/O on a connected stream socket ----------------------------
 * The socket may be blocking or not (each send/recv is MSG_DONTWAIT and
 * waits in poll()); SIGPIPE is never raised (MSG_NOSIGNAL). */

/* SUCCESS; TIMEOUT (reason TIMEOUT_IDLE if nothing was written, else
 * TIMEOUT_MID_FRAME: part of the frame is out, close the socket);
 * DEVICE_CONNECTION_LOST on EPIPE / ECONNRESET / ENOTCONN; WRITE_FAILED on
 * any other send error; INVALID_PARAMETER as hv_wire_encode. */
hv_status_t hv_wire_send(int fd, uint16_t type, uint32_t seq, const void *payload, uint32_t len, int timeout_ms);

/* Receive one whole frame: header into *h, payload into payload[0 .. cap),
 * its length into *len (0 on failure). Returns
 *   SUCCESS
 *   TIMEOUT                 nothing (reason TIMEOUT_IDLE, the stream is
 *                           still usable) or part of a frame (TIMEOUT_MID_FRAME,
 *                           the bytes read are lost: close) within the timeout
 *   DEVICE_CONNECTION_LOST  the peer closed: between frames (PEER_CLOSED) or
 *                           in the middle of one (PEER_CLOSED_MID_FRAME), or
 *                           reset the connection (PEER_RESET)
 *   READ_FAILED             any other recv/poll error
 *   INVALID_PACKET          bad header (see hv_wire_decode_header), checksum
 *                           mismatch, or length > cap (NO_ROOM); the stream
 *                           is unusable: close the connection
 *   INVALID_PARAMETER       h or len NULL, payload NULL with cap > 0.
 * On INVALID_PACKET *h holds the decoded header. */
hv_status_t hv_wire_recv(int fd, struct hv_wire_header *h, void *payload, uint32_t cap, uint32_t *len,
                         int timeout_ms);

/* ---- Keys and the handshake -------------------------------------------- */
struct hv_wire_key {
    uint32_t len;                     /* HV_WIRE_KEY_MIN .. HV_WIRE_KEY_MAX */
    uint8_t bytes[HV_WIRE_KEY_MAX];
};

/* Read a key file: a regular file, not accessible by group or others (mode
 * & 077 == 0: anything else is refused with ACCESS_DENIED, reason KEY_FILE,
 * and "chmod 600 FILE" in the message), HV_WIRE_KEY_MIN .. HV_WIRE_KEY_MAX
 * bytes once trailing whitespace is cut (INVALID_PARAMETER otherwise; e.g.
 * 64 hex digits from hv_wire_key_generate). READ_FAILED when it cannot be
 * opened. The bytes are the key as they are (hex text is not decoded). */
hv_status_t hv_wire_key_load(const char *path, struct hv_wire_key *key);

/* Create `path` (must not exist) with mode 0600 holding 64 hex digits from
 * 32 random bytes (OpenSSL RAND_bytes). */
hv_status_t hv_wire_key_generate(const char *path);

/* Overwrite a key in memory. */
void hv_wire_key_wipe(struct hv_wire_key *key);

/* The handshake MAC: HMAC-SHA256(key, label || nc || ns), label "hvcore-wire-2
 * server" when `server`, else "hvcore-wire-2 client". */
hv_status_t hv_wire_auth_mac(const struct hv_wire_key *key, bool server, const uint8_t nc[HV_WIRE_NONCE_SIZE],
                             const uint8_t ns[HV_WIRE_NONCE_SIZE], uint8_t out[HV_WIRE_MAC_SIZE]);

/* The server's side of the handshake on a fresh connection, all of it within
 * timeout_ms. key NULL = no authentication (loopback only: see
 * hv_engine_serve). SUCCESS: requests may be served. ACCESS_DENIED (reason
 * AUTH_FAILED): wrong key, or a request before the handshake (the client got
 * HV_WIRE_ERROR ACCESS_DENIED); INVALID_PACKET (BAD_VERSION: an old client,
 * told UNSUPPORTED in its own version; HANDSHAKE: malformed); TIMEOUT; the
 * errors of hv_wire_recv. The caller closes fd on failure. */
hv_status_t hv_wire_server_handshake(int fd, const struct hv_wire_key *key, int timeout_ms);

/* ---- Client connection ----------------------------------------------- */
struct hv_wire_conn; /* opaque */

/* Called after hv_wire_call had to open a new socket (the old one was lost
 * or broken), before the request is (re)sent: the place for the HELLO
 * handshake. hv_wire_call may be used from inside it (it will not
 * reconnect again while the hook runs). A non-SUCCESS result closes the
 * new socket and becomes the result of the hv_wire_call that reconnected. */
typedef hv_status_t (*hv_wire_reconnect_fn)(struct hv_wire_conn *conn, void *ctx);

/* Connect to host:port (an IPv4 dotted quad or "localhost"), waiting up to
 * timeout_ms (the same timeout is used by later reconnects). The socket is
 * TCP_NODELAY. INVALID_PARAMETER for a bad host / NULL out;
 * DEVICE_CONNECTION_LOST when refused / unreachable (CONNECT_FAILED);
 * TIMEOUT; INSUFFICIENT_RESOURCES when no socket or memory. */
hv_status_t hv_wire_connect(struct hv_wire_conn **out, const char *host, uint16_t port, int timeout_ms);

/* hv_wire_connect, then the handshake (see above) with `key` (NULL: none;
 * the key is copied), on this and every later reconnect, within timeout_ms
 * each. hv_wire_connect is this with key NULL. ACCESS_DENIED (reason
 * AUTH_FAILED) when the server refused the key, wants a key we do not have,
 * did not prove it knows ours, or does not authenticate although we have a
 * key; INVALID_PACKET (BAD_VERSION) for a server speaking another version.
 * A connection closed by the server during the handshake (it was full of
 * unauthenticated peers and dropped ours) is tried twice more. */
hv_status_t hv_wire_connect_auth(struct hv_wire_conn **out, const char *host, uint16_t port, int timeout_ms,
                                 const struct hv_wire_key *key);

/* Only the TCP connection of hv_wire_connect, no handshake and no frames:
 * a raw byte stream for other protocols (a serial line that an emulator
 * exposes as a TCP socket, see hvcore/client/dbglink.h). *fd is blocking,
 * TCP_NODELAY, close-on-exec. Statuses as hv_wire_connect. */
hv_status_t hv_wire_tcp_open(const char *host, uint16_t port, int timeout_ms, int *fd);

/* Wrap an already connected stream socket (e.g. one end of a socketpair);
 * the connection owns fd from now on (also on failure). It has no address,
 * so it cannot reconnect: a lost connection stays lost. No handshake is
 * run (the frames only: tests, fuzzers, a peer already authenticated). */
hv_status_t hv_wire_conn_from_fd(struct hv_wire_conn **out, int fd);

/* Install (or clear with NULL) the reconnect hook. */
void hv_wire_set_reconnect_hook(struct hv_wire_conn *conn, hv_wire_reconnect_fn fn, void *ctx);

/* The current socket, or -1 while the connection is closed (after a
 * failure, until the next hv_wire_call reconnects). For poll() only. */
int hv_wire_conn_fd(const struct hv_wire_conn *conn);

/* Sequence number the next request will carry. A new connection starts
 * at 1; every request sent (a retry included) takes the next number;
 * reconnecting does not reset it. */
uint32_t hv_wire_conn_next_seq(const struct hv_wire_conn *conn);

/* Times this connection reconnected (a new socket after the first one). */
uint32_t hv_wire_conn_reconnects(const struct hv_wire_conn *conn);

/* Requests hv_wire_call may send a second time after the connection was
 * lost: HELLO, MSR, MSR_VALUES, QUERY, EVENT_CTL, EVENT_LIST, MSG_READ,
 * SIMULATE. Not EVENT_ADD / EVENT_ACTION (a second copy would add a second
 * event / action if the first was executed before the answer got lost),
 * and not any type this header does not define. */
bool hv_wire_type_is_retry_safe(uint16_t type);

/*
 * One request/response exchange: sends `type` with the next seq and waits
 * for the frame with that seq.
 *   - A response with an older seq (the late answer to an earlier call that
 *     timed out) is read, checksum-verified and discarded; waiting goes on.
 *   - A response seq from the future, a request type, or a response type
 *     other than type | 0x8000 / HV_WIRE_ERROR: INVALID_PACKET.
 *   - HV_WIRE_ERROR: returns the status it carries (*resp_type = 0xFFFF,
 *     *resp_len = 0); reason REMOTE_ERROR.
 *   - A response longer than resp_cap is read and dropped (the stream stays
 *     usable): INSUFFICIENT_RESOURCES with *resp_len = the length needed.
 *   - SUCCESS: resp[0 .. *resp_len), *resp_type = type | 0x8000.
 * resp_len and resp_type may be NULL; resp may be NULL if resp_cap is 0.
 * req and resp may be the same buffer (the answer overwrites the request;
 * for a retry-safe type the request is copied aside first, so a retry
 * resends the original bytes).
 * timeout_ms bounds one attempt (sending + waiting); a reconnect adds up to
 * the connect timeout and the retry another timeout_ms.
 *
 * Connection handling:
 *   - If the socket was closed by an earlier failure, or the server has
 *     closed it since the last call (an idle session ended: seen as EOF
 *     before anything is sent), the call first reconnects (then runs the
 *     hook), for every type: nothing was sent yet.
 *   - DEVICE_CONNECTION_LOST while sending or waiting (EPIPE, ECONNRESET,
 *     the peer closing before or in the middle of the response): the
 *     socket is closed; if the type is hv_wire_type_is_retry_safe() and
 *     this call has not reconnected yet, it reconnects once (hook) and sends
 *     the request once more with a new seq. EVENT_ADD / EVENT_ACTION are
 *     never re-sent: DEVICE_CONNECTION_LOST is returned (whether the target
 *     executed it is unknown: list the events to find out), and the next
 *     call reconnects.
 *   - INVALID_PACKET (malformed frame, protocol violation), READ_FAILED,
 *     WRITE_FAILED, and a TIMEOUT in the middle of a frame close the socket
 *     and are returned as is; the next call reconnects. A TIMEOUT with no
 *     frame byte moved keeps the socket (a late answer is discarded by seq).
 *   - A failed reconnect returns DEVICE_CONNECTION_LOST (or TIMEOUT, or the
 *     hook's status) and leaves the connection closed.
 * Retrying MSG_READ cannot duplicate anything, but records the target
 * dequeued for a lost answer are lost; a retried EVENT_CTL REMOVE whose
 * first copy ran answers NOT_FOUND.
 */
hv_status_t hv_wire_call(struct hv_wire_conn *conn, uint16_t type, const void *req, uint32_t req_len, void *resp,
                         uint32_t resp_cap, uint32_t *resp_len, uint16_t *resp_type, int timeout_ms);

/* HELLO on `conn`: sends HV_WIRE_VERSION; fills what the server answered
 * (signature NUL-terminated). INVALID_PACKET (BAD_HELLO) when the answer
 * is shorter than HV_WIRE_HELLO_RESP_SIZE. Usable as the reconnect hook's body. */
struct hv_wire_hello_info {
    uint32_t server_version;
    uint32_t cpu_count;
    char signature[HV_WIRE_SIGNATURE_SIZE + 1];
};
hv_status_t hv_wire_hello(struct hv_wire_conn *conn, struct hv_wire_hello_info *info, int timeout_ms);

/* Close the socket and free the connection; NULL is fine. */
void hv_wire_close(struct hv_wire_conn *conn);

/* ---- Server side (the stub) ------------------------------------------- */

/* Listening TCP socket on host:port (dotted quad, "localhost", or NULL for
 * 127.0.0.1; port 0 picks one: see hv_wire_local_port), SO_REUSEADDR,
 * close-on-exec. INVALID_PARAMETER for a bad host; WRITE_FAILED when
 * bind/listen fails (errno in hv_wire_last_error()); INSUFFICIENT_RESOURCES
 * when no socket. */
hv_status_t hv_wire_listen(const char *host, uint16_t port, int *listen_fd);

/* Close a socket of hv_wire_listen / hv_wire_accept (close(2) on POSIX,
 * closesocket on Windows); a negative fd is ignored. */
void hv_wire_close_fd(int fd);

/* Port a bound socket listens on (host order). */
hv_status_t hv_wire_local_port(int fd, uint16_t *port);

/* Accept one connection within timeout_ms (TCP_NODELAY, close-on-exec).
 * TIMEOUT, READ_FAILED on an accept error. */
hv_status_t hv_wire_accept(int listen_fd, int *fd, int timeout_ms);

/* HELLO response payload, for the stub's handler: server version, cpu
 * count, signature NUL-padded/truncated to 16 bytes. */
void hv_wire_encode_hello_response(uint8_t out[HV_WIRE_HELLO_RESP_SIZE], uint32_t server_version,
                                   uint32_t cpu_count, const char *signature);

/* A request handler: answer `type` (1 .. 0x7FFF) with payload req[0 ..
 * req_len) into resp[0 .. resp_cap) (resp_cap = HV_WIRE_MAX_PAYLOAD),
 * *resp_len = bytes written. SUCCESS sends type | 0x8000 with those
 * bytes; any other status sends HV_WIRE_ERROR carrying it. Both buffers
 * are the serve loop's own malloc'd HV_WIRE_MAX_PAYLOAD-byte buffers
 * (aligned for any abi.h struct; the request's bytes are not otherwise
 * checked: the handler validates them, e.g. with hv_abi_execute). */
typedef hv_status_t (*hv_wire_handler_fn)(void *ctx, uint16_t type, const void *req, uint32_t req_len,
                                          void *resp, uint32_t resp_cap, uint32_t *resp_len);

/*
 * Serve one connection until it ends; always closes fd before returning.
 * Loop: receive a request (waiting up to idle_timeout_ms for it to start
 * and finish; < 0 = forever), call fn, send the answer (within
 * idle_timeout_ms). A frame with a response type gets HV_WIRE_ERROR
 * (INVALID_PACKET) and the loop goes on; a handler claiming more than
 * resp_cap bytes gets HV_WIRE_ERROR (INVALID_PARAMETER). Returns
 *   SUCCESS                 the peer closed between requests
 *   DEVICE_CONNECTION_LOST  the peer closed mid-frame or reset
 *   INVALID_PACKET          a malformed frame arrived (stream unusable)
 *   TIMEOUT                 idle for idle_timeout_ms (or stalled mid-frame)
 *   READ_FAILED / WRITE_FAILED  socket errors
 *   INSUFFICIENT_RESOURCES  no memory for the two HV_WIRE_MAX_PAYLOAD buffers
 *   INVALID_PARAMETER       fn NULL or fd < 0.
 */
hv_status_t hv_wire_serve_conn(int fd, hv_wire_handler_fn fn, void *ctx, int idle_timeout_ms);

/* hv_wire_serve_conn after a completed handshake, with two limits: the
 * next request may take up to idle_ms to begin (< 0: forever); once its
 * first byte is in, the whole frame must arrive and its answer be sent
 * within request_ms (a peer trickling bytes is cut off: TIMEOUT). AUTH_*
 * frames get HV_WIRE_ERROR INVALID_PACKET. */
hv_status_t hv_wire_serve_session(int fd, hv_wire_handler_fn fn, void *ctx, int idle_ms, int request_ms);

#ifdef __cplusplus
}
#endif
#endif
