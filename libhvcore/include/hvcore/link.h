/* SPDX-License-Identifier: MIT */
/**
 * @file link.h
 * @brief The reliable link layer: framing, CRC-32, sequence numbers,
 *        acknowledgements, bounded retransmission and resynchronisation over
 *        any byte stream (a polled 16550 UART in VMX root, a TCP socket in
 *        user mode).
 *
 * The module is freestanding (part of the core, src/debugger/link.c): it
 * never allocates, never calls the OS, takes every buffer from its caller,
 * and every wait is bounded by the caller's clock or by a count of polls.
 * The same code runs in VMX root on a halted target and in the user-mode
 * client, so both ends of a line speak byte-identical frames.
 *
 * Frame on the line (HDLC-style byte stuffing):
 * @verbatim
 *   0x7E  escaped(body)  0x7E
 *   body (little-endian):
 *     off size field
 *      0   1   version   HV_LINK_VERSION (1)
 *      1   1   kind      HV_LINK_KIND_DATA (1) or HV_LINK_KIND_ACK (2)
 *      2   1   flags     bit 0 HV_LINK_FLAG_SYN (first frames of a session); others 0
 *      3   1   reserved  0
 *      4   4   seq       DATA: the sender's sequence number; ACK: the seq acknowledged
 *      8   4   length    payload bytes (DATA: 0 .. max payload; ACK: 0)
 *     12   N   payload
 *   12+N   4   crc       CRC-32/IEEE (zlib's crc32) over bytes 0 .. 12+N
 * @endverbatim
 * Inside the body a 0x7E byte is sent as 0x7D 0x5E and a 0x7D byte as
 * 0x7D 0x5D (the byte XOR 0x20), so 0x7E only ever delimits frames: after
 * line noise, a truncated frame or a lost byte the receiver resynchronises
 * at the next 0x7E, losing at most the frame the noise hit. Consecutive
 * 0x7E bytes are empty frames and are ignored; the closing 0x7E of one
 * frame may open the next.
 *
 * Reliability (stop-and-wait ARQ): hv_link_send() transmits one DATA frame
 * and waits up to hv_link_config::ack_timeout for the ACK carrying its seq,
 * retransmitting it up to hv_link_config::max_retries times. The receiver
 * acknowledges every DATA frame that passes the CRC and that it can keep,
 * delivers each seq once (a duplicate - a retransmission whose ACK was
 * lost, or a frame duplicated on the line - is acknowledged again and
 * dropped), and holds at most one received payload until hv_link_recv()
 * takes it; a DATA frame arriving while one is held is not acknowledged, so
 * its sender retransmits it later. Sequence numbers grow by one per new
 * frame. A sender's frames carry HV_LINK_FLAG_SYN until its first ACK
 * arrives: a SYN frame restarts the receiver's numbering (a peer that
 * reconnected or rebooted), unless its seq lies within the
 * HV_LINK_SYN_WINDOW sequence numbers at or before the last one delivered
 * (then it is an old duplicate). So each session must start from a fresh
 * hv_link_config::initial_seq (a clock or random value).
 *
 * Time: every timeout is in the caller's ticks, the unit of
 * hv_link_io::now (e.g. milliseconds in user mode, TSC ticks in root).
 * Without a clock (now == NULL) one tick is one read attempt that found no
 * byte (a poll count).
 *
 * Thread safety: none. One caller at a time per struct hv_link.
 */
#ifndef HVCORE_LINK_H
#define HVCORE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version byte of every frame this implementation sends and accepts. */
#define HV_LINK_VERSION 1u
/** Frame delimiter (start and end of every frame). */
#define HV_LINK_FLAG_BYTE 0x7Eu
/** Escape byte: the next byte is XOR HV_LINK_ESC_XOR. */
#define HV_LINK_ESC_BYTE 0x7Du
/** Value an escaped byte is XORed with. */
#define HV_LINK_ESC_XOR 0x20u

/** Kind of a DATA frame (carries a payload, is acknowledged). */
#define HV_LINK_KIND_DATA 1u
/** Kind of an ACK frame (acknowledges the DATA seq it carries, no payload). */
#define HV_LINK_KIND_ACK 2u
/** Flag: the sender has not had an ACK yet in this session (see the file comment). */
#define HV_LINK_FLAG_SYN 0x01u

/** Bytes of the unescaped body before the payload. */
#define HV_LINK_HEADER_SIZE 12u
/** Bytes of the unescaped body after the payload (the CRC-32). */
#define HV_LINK_TRAILER_SIZE 4u
/** Unescaped bytes a frame adds to its payload. */
#define HV_LINK_OVERHEAD (HV_LINK_HEADER_SIZE + HV_LINK_TRAILER_SIZE)
/** Largest payload any link accepts (1 MiB plus room for an upper layer's header). */
#define HV_LINK_MAX_PAYLOAD ((1u << 20) + 64u)
/** Receive buffer a link needs for payloads of up to @p max_payload bytes. */
#define HV_LINK_RX_BUFFER_SIZE(max_payload) ((size_t)(max_payload) + HV_LINK_OVERHEAD)
/** Worst-case bytes on the line for one frame of @p len payload bytes (every body byte escaped, two flags). */
#define HV_LINK_ENCODED_MAX(len) (2u + 2u * ((size_t)(len) + HV_LINK_OVERHEAD))
/** A SYN frame whose seq is this close behind the last delivered one is an old duplicate. */
#define HV_LINK_SYN_WINDOW 1024u

/** Why a frame was rejected or an operation failed (hv_link_last_reason(), decoder results). */
enum hv_link_reason {
    HV_LINK_REASON_NONE = 0,     /**< no failure */
    HV_LINK_REASON_BAD_CRC,      /**< INVALID_PACKET: CRC-32 mismatch (noise, flipped bits) */
    HV_LINK_REASON_BAD_VERSION,  /**< INVALID_PACKET: the peer speaks another link version */
    HV_LINK_REASON_BAD_HEADER,   /**< INVALID_PACKET: unknown kind, reserved bits set, an ACK with a payload */
    HV_LINK_REASON_BAD_LENGTH,   /**< INVALID_PACKET: length field disagrees with the bytes between the flags */
    HV_LINK_REASON_TOO_SHORT,    /**< INVALID_PACKET: fewer bytes than header and CRC (a truncated frame) */
    HV_LINK_REASON_TOO_LONG,     /**< INVALID_PACKET: more bytes than the receive buffer holds */
    HV_LINK_REASON_BAD_ESCAPE,   /**< INVALID_PACKET: 0x7D followed by the 0x7E delimiter */
    HV_LINK_REASON_BUSY,         /**< a DATA frame arrived while one was held: not acknowledged, resent later */
    HV_LINK_REASON_NO_ACK,       /**< TIMEOUT: no ACK after the last retransmission */
    HV_LINK_REASON_IDLE,         /**< TIMEOUT: no DATA frame before the deadline */
    HV_LINK_REASON_PEER_CLOSED,  /**< DEVICE_CONNECTION_LOST reported by the byte I/O */
    HV_LINK_REASON_IO_ERROR,     /**< READ_FAILED / WRITE_FAILED reported by the byte I/O */
    HV_LINK_REASON_WRITE_STALL,  /**< TIMEOUT: the byte I/O took no byte for a whole ack_timeout */
    HV_LINK_REASON_BAD_ARGUMENT, /**< INVALID_PARAMETER */
    HV_LINK_REASON_NO_ROOM,      /**< INSUFFICIENT_RESOURCES: the caller's buffer is smaller than the payload */
    HV_LINK_REASON_PEER_RESTARTED, /**< DEVICE_CONNECTION_LOST: a new session (SYN) began while a send waited for its ACK */
};

/**
 * @brief Byte I/O and clock supplied by the caller.
 *
 * Calling context of every member: whatever context the link is used in
 * (root-safe members for a link used in VMX root: no allocation, no OS
 * lock, no blocking beyond the time asked).
 */
struct hv_link_io {
    /** Passed to every member. */
    void *ctx;
    /**
     * Read what is available now, without waiting: up to @p cap bytes into
     * @p buf, *@p got = bytes read (0 when none). Returns SUCCESS,
     * DEVICE_CONNECTION_LOST (the line or peer is gone) or READ_FAILED.
     * Required.
     */
    hv_status_t (*read)(void *ctx, uint8_t *buf, size_t cap, size_t *got);
    /**
     * Write what can be written now: up to @p len bytes, *@p done = bytes
     * taken (0 when the line cannot take any now). Returns SUCCESS,
     * DEVICE_CONNECTION_LOST or WRITE_FAILED. Required.
     */
    hv_status_t (*write)(void *ctx, const uint8_t *buf, size_t len, size_t *done);
    /** Monotonic time in ticks. Optional: NULL counts one tick per read or write that moved no byte. */
    uint64_t (*now)(void *ctx);
    /**
     * Optional: wait at most @p ticks for the line to become readable
     * (@p for_write false) or writable (true); user mode implements it with
     * poll(), root with a PAUSE loop or not at all (NULL: busy polling).
     * Returning early is always allowed.
     */
    void (*wait)(void *ctx, bool for_write, uint64_t ticks);
};

/** @brief Parameters of a link endpoint. */
struct hv_link_config {
    /** Largest payload sent or accepted, 1 .. HV_LINK_MAX_PAYLOAD. */
    uint32_t max_payload;
    /** Ticks hv_link_send waits for an ACK (and for a stalled write) before retransmitting; > 0. */
    uint64_t ack_timeout;
    /** Retransmissions after the first transmission before hv_link_send gives up. */
    uint32_t max_retries;
    /** Sequence number of the first DATA frame; must differ per session (clock or random bits). */
    uint32_t initial_seq;
};

/** @brief Counters of one endpoint (never reset except by hv_link_init). */
struct hv_link_stats {
    uint64_t data_sent;        /**< DATA frames transmitted, retransmissions included */
    uint64_t retransmits;      /**< DATA frames transmitted again for want of an ACK */
    uint64_t acks_sent;        /**< ACK frames transmitted */
    uint64_t acks_received;    /**< ACKs that matched the frame being sent */
    uint64_t data_delivered;   /**< new DATA payloads accepted */
    uint64_t duplicates;       /**< DATA frames already delivered (acknowledged again, dropped) */
    uint64_t busy_drops;       /**< DATA frames dropped unacknowledged because one was held */
    uint64_t bad_frames;       /**< frames rejected (CRC, version, header, length, escape, size) */
    uint64_t stray_acks;       /**< ACKs for no frame in flight (late or duplicated) */
    uint64_t garbage_bytes;    /**< bytes outside any frame (before the first 0x7E, noise) */
};

/** @brief A decoded frame (points into the decoder's buffer until its next call). */
struct hv_link_frame {
    uint8_t version;          /**< HV_LINK_VERSION */
    uint8_t kind;             /**< HV_LINK_KIND_DATA or HV_LINK_KIND_ACK */
    uint8_t flags;            /**< HV_LINK_FLAG_SYN or 0 */
    uint32_t seq;             /**< sequence number */
    uint32_t length;          /**< payload bytes */
    const uint8_t *payload;   /**< length bytes (NULL when length is 0 or the payload was dropped) */
    bool payload_dropped;     /**< header-only decoding (internal to hv_link): the payload did not fit */
};

/** @brief Streaming frame decoder state (fields private; embedded in struct hv_link). */
struct hv_link_decoder {
    uint8_t *buf;      /**< private: unescaped body so far */
    uint32_t cap;      /**< private: size of buf */
    uint32_t len;      /**< private: bytes in buf */
    uint32_t total;    /**< private: body bytes of the current frame */
    uint32_t crc;      /**< private: running CRC register (all but the last four bytes) */
    uint8_t tail[4];   /**< private: the last four body bytes */
    uint8_t state;     /**< private: hunting, in a frame, after an escape, discarding */
    uint8_t error;     /**< private: enum hv_link_reason of the frame being discarded */
    uint8_t peer_version; /**< version byte of the last frame rejected for BAD_VERSION */
    bool header_only;  /**< private: keep decoding frames longer than buf (for their header) */
    uint64_t garbage;  /**< bytes seen outside any frame */
};

/** Result of hv_link_decode(). */
enum hv_link_decode_result {
    HV_LINK_DECODE_MORE = 0, /**< every input byte consumed, no frame ended */
    HV_LINK_DECODE_FRAME,    /**< a valid frame ended: *frame is filled */
    HV_LINK_DECODE_BAD,      /**< a corrupt frame ended: *reason says why (its bytes are dropped) */
};

/**
 * @brief Endpoint state. Allocate it anywhere (static, stack, heap); the
 * fields are private - use the functions below.
 */
struct hv_link {
    struct hv_link_io io;             /**< private */
    struct hv_link_config cfg;        /**< private */
    struct hv_link_decoder dec;       /**< private */
    uint8_t *rx_buf;                  /**< private: caller's receive buffer */
    uint32_t rx_cap;                  /**< private */
    uint32_t held_len;                /**< private: payload bytes of the held DATA frame */
    bool held;                        /**< private: a delivered payload waits in rx_buf */
    bool tx_syn;                      /**< private: no ACK received yet this session */
    bool rx_synced;                   /**< private: rx_last is meaningful */
    bool corrupt_seen;                /**< private: a bad frame arrived during the current call */
    uint32_t tx_seq;                  /**< private: seq of the next new DATA frame */
    uint32_t rx_last;                 /**< private: seq of the last delivered DATA frame */
    uint32_t inflight_seq;            /**< private: seq being sent by hv_link_send */
    bool inflight;                    /**< private: hv_link_send waits for inflight_seq's ACK */
    bool acked;                       /**< private: that ACK arrived */
    bool ack_owed;                    /**< private: an ACK must go out */
    bool peer_restarted;              /**< private: a new session's SYN frame arrived during hv_link_send */
    uint32_t ack_owed_seq;            /**< private: the seq it acknowledges */
    uint8_t reason;                   /**< private: enum hv_link_reason of the last failure */
    uint8_t bad_reason;               /**< private: reason of the last corrupt frame */
    uint64_t ticks;                   /**< private: the poll-count clock when io.now is NULL */
    struct hv_link_stats stats;       /**< private: see hv_link_get_stats */
    uint8_t small[HV_LINK_OVERHEAD];  /**< private: decodes ACKs while a payload is held */
};

/* ---- Pure functions (any context) ------------------------------------- */

/**
 * @brief CRC-32/IEEE (reflected, polynomial 0xEDB88320, zlib convention).
 *
 * Start with @p crc = 0 and chain by passing the previous result:
 * crc(crc(0, a), b) == crc(0, a || b); hv_link_crc32(0, "123456789", 9) ==
 * 0xCBF43926. Context: any.
 * @param crc previous value (0 to start)
 * @param data bytes (may be NULL when @p n is 0)
 * @param n number of bytes
 * @return the updated CRC
 */
uint32_t hv_link_crc32(uint32_t crc, const void *data, size_t n);

/**
 * @brief Encode one frame, escaped and delimited, into @p out.
 *
 * Context: any.
 * @param kind HV_LINK_KIND_DATA or HV_LINK_KIND_ACK
 * @param flags 0 or HV_LINK_FLAG_SYN
 * @param seq sequence number
 * @param payload @p len bytes (may be NULL when @p len is 0)
 * @param len payload bytes, <= HV_LINK_MAX_PAYLOAD (0 for an ACK)
 * @param out destination
 * @param cap bytes available at @p out (HV_LINK_ENCODED_MAX(len) always suffices)
 * @param written bytes produced (on INSUFFICIENT_RESOURCES: 0)
 * @return SUCCESS; INVALID_PARAMETER for an unknown kind or flag, an ACK with a
 *         payload, len over the maximum or NULL pointers; INSUFFICIENT_RESOURCES
 *         when @p cap is too small.
 */
hv_status_t hv_link_encode(uint8_t kind, uint8_t flags, uint32_t seq, const void *payload, uint32_t len,
                           uint8_t *out, size_t cap, size_t *written);

/**
 * @brief Start a decoder that collects frame bodies into @p buf.
 *
 * Context: any. Frames whose body (header + payload + CRC) exceeds @p cap
 * are rejected with HV_LINK_REASON_TOO_LONG; size @p buf with
 * HV_LINK_RX_BUFFER_SIZE(). Bytes before the first 0x7E are garbage.
 * @param d decoder
 * @param buf body buffer, owned by the caller, kept until the decoder is dropped
 * @param cap size of @p buf (at least HV_LINK_OVERHEAD to decode anything)
 */
void hv_link_decoder_init(struct hv_link_decoder *d, uint8_t *buf, uint32_t cap);

/**
 * @brief Feed line bytes to a decoder; stops at the end of each frame.
 *
 * Context: any. Consumes bytes from @p in until a frame (valid or corrupt)
 * ends or the input runs out; *@p used says how many (call again with the
 * rest). A valid frame's payload points into the decoder's buffer and stays
 * valid until the next call. Never fails on any input.
 * @param d decoder (hv_link_decoder_init)
 * @param in line bytes
 * @param n number of bytes at @p in
 * @param used bytes consumed
 * @param frame filled on HV_LINK_DECODE_FRAME
 * @param reason on HV_LINK_DECODE_BAD: why the frame was rejected (may be NULL)
 * @return HV_LINK_DECODE_MORE, HV_LINK_DECODE_FRAME or HV_LINK_DECODE_BAD
 */
enum hv_link_decode_result hv_link_decode(struct hv_link_decoder *d, const uint8_t *in, size_t n, size_t *used,
                                          struct hv_link_frame *frame, enum hv_link_reason *reason);

/**
 * @brief Name of a reason ("BAD_CRC", ...); never NULL. Context: any.
 * @param reason a value of enum hv_link_reason
 * @return a static string ("UNKNOWN" for values not in the enum)
 */
const char *hv_link_reason_name(enum hv_link_reason reason);

/* ---- Endpoint (root-safe once initialised: no allocation, bounded waits) -- */

/**
 * @brief Initialise an endpoint over the caller's byte I/O.
 *
 * Context: any (no allocation; nothing is sent).
 * @param l endpoint to initialise
 * @param io byte I/O and clock (copied); read and write are required
 * @param cfg parameters (copied)
 * @param rx_buf receive buffer, kept by the link until it is dropped
 * @param rx_cap size of @p rx_buf, at least HV_LINK_RX_BUFFER_SIZE(cfg->max_payload)
 * @return SUCCESS; INVALID_PARAMETER for NULL pointers, a missing read/write,
 *         max_payload 0 or over HV_LINK_MAX_PAYLOAD, ack_timeout 0, or
 *         rx_cap too small.
 */
hv_status_t hv_link_init(struct hv_link *l, const struct hv_link_io *io, const struct hv_link_config *cfg,
                         uint8_t *rx_buf, size_t rx_cap);

/**
 * @brief Start a new session on the same endpoint (after a reconnect).
 *
 * Drops a held payload and a partial frame, forgets the peer's numbering
 * and sends SYN frames again from @p initial_seq. Counters are kept.
 * Context: any.
 * @param l endpoint
 * @param initial_seq first seq of the new session (must differ from the last session's range)
 */
void hv_link_reset(struct hv_link *l, uint32_t initial_seq);

/**
 * @brief Send one payload reliably: transmit, wait for its ACK, retransmit.
 *
 * Blocks at most (max_retries + 1) * 2 * ack_timeout ticks. While waiting it
 * acknowledges and holds one DATA frame from the peer (hv_link_recv takes
 * it). Context: any once initialised (root-safe when the io members are).
 * @param l endpoint
 * @param payload @p len bytes (read again for each retransmission)
 * @param len 0 .. max_payload
 * @return SUCCESS when the peer acknowledged it; TIMEOUT when no ACK came
 *         after the last retransmission (HV_LINK_REASON_NO_ACK) or the line
 *         took no byte for an ack_timeout (WRITE_STALL);
 *         DEVICE_CONNECTION_LOST (HV_LINK_REASON_PEER_RESTARTED) when, while
 *         it waited, a SYN DATA frame of a new session arrived from a peer it
 *         had a session with (that peer reconnected: the payload is abandoned,
 *         the new session's frame is held for hv_link_recv); INVALID_PACKET when
 *         only corrupt frames came back; DEVICE_CONNECTION_LOST, READ_FAILED,
 *         WRITE_FAILED from the byte I/O; INVALID_PARAMETER for len over
 *         max_payload or a NULL payload with a length.
 */
hv_status_t hv_link_send(struct hv_link *l, const void *payload, uint32_t len);

/**
 * @brief Receive one payload, waiting at most @p timeout ticks.
 *
 * Returns a payload already held at once; otherwise reads the line,
 * acknowledging DATA frames, until a new one arrives or the deadline
 * passes. @p timeout 0 only processes what the line has now.
 * Context: any once initialised.
 * @param l endpoint
 * @param buf destination of the payload
 * @param cap size of @p buf
 * @param len payload bytes copied (on INSUFFICIENT_RESOURCES: bytes needed)
 * @param timeout ticks to wait
 * @return SUCCESS; TIMEOUT when nothing arrived (HV_LINK_REASON_IDLE);
 *         INVALID_PACKET when only corrupt frames arrived;
 *         INSUFFICIENT_RESOURCES when @p cap is too small (the payload stays
 *         held); DEVICE_CONNECTION_LOST, READ_FAILED, WRITE_FAILED from the
 *         byte I/O; INVALID_PARAMETER for NULL pointers.
 */
hv_status_t hv_link_recv(struct hv_link *l, void *buf, uint32_t cap, uint32_t *len, uint64_t timeout);

/**
 * @brief Process what the line has now without waiting (ACKs, duplicates, one held payload).
 *
 * Context: any once initialised.
 * @param l endpoint
 * @param ready set to true when a payload is held (hv_link_recv returns it at once); may be NULL
 * @return SUCCESS, or the byte I/O's DEVICE_CONNECTION_LOST / READ_FAILED / WRITE_FAILED.
 */
hv_status_t hv_link_poll(struct hv_link *l, bool *ready);

/**
 * @brief Change the ACK timeout of later hv_link_send calls (e.g. by the
 * size of the payload at a slow line's baud rate). Context: any.
 * @param l endpoint
 * @param ticks the new hv_link_config::ack_timeout (0 is ignored)
 */
void hv_link_set_ack_timeout(struct hv_link *l, uint64_t ticks);

/**
 * @brief Why the endpoint's most recent failing call failed (NONE after a success). Context: any.
 * @param l endpoint
 * @return the reason
 */
enum hv_link_reason hv_link_last_reason(const struct hv_link *l);

/**
 * @brief Copy the endpoint's counters. Context: any.
 * @param l endpoint
 * @param out destination
 */
void hv_link_get_stats(const struct hv_link *l, struct hv_link_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_LINK_H */
