/* SPDX-License-Identifier: MIT */
/*
 * The host end of a debugger line (user mode, libc + POSIX): the reliable
 * link of hvcore/link.h (framing, CRC-32, seq/ack, retransmission,
 * resynchronisation) over a file descriptor, with a millisecond clock.
 *
 * Lines (hv_dbglink_open's `spec`, what follows "serial:" in an engine
 * target):
 *   /dev/ttyS0[,baud=N][,ack=MS]   a serial port: termios raw, 8N1, no flow
 *                                  control, CLOCAL, 115200 baud unless
 *                                  baud= says otherwise (a standard rate:
 *                                  9600 .. 921600); the port is opened
 *                                  exclusively (TIOCEXCL). "ttyS0" is
 *                                  /dev/ttyS0.
 *   tcp:HOST:PORT[,ack=MS]         a serial line exposed as a TCP socket,
 *                                  as emulators do (Bochs: com1:
 *                                  mode=socket-server, dev=HOST:PORT).
 *                                  HOST is an IPv4 dotted quad or
 *                                  localhost. No handshake: the bytes are
 *                                  the line's.
 * and hv_dbglink_from_fd for any connected stream (a socketpair to an
 * in-process stub, tests).
 *
 * Statuses, as the reference SDK documents them for a transport:
 *   TIMEOUT                 the debuggee did not acknowledge / answer in time
 *   DEVICE_CONNECTION_LOST  the line dropped: the peer closed the socket,
 *                           the serial device went away (EIO, hang-up), or
 *                           it cannot be opened / connected to
 *   READ_FAILED / WRITE_FAILED  any other error of read()/write()
 *   INVALID_PACKET          only corrupt frames came (bad CRC, unknown kind
 *                           or version, bad escape, ...): the link layer
 *                           drops them and the sender retransmits
 *   INVALID_PARAMETER       a malformed spec or argument
 *   ACCESS_DENIED           the device's permissions refuse us
 * After DEVICE_CONNECTION_LOST the descriptor is closed; every later call
 * returns DEVICE_CONNECTION_LOST until hv_dbglink_reconnect succeeds.
 *
 * One caller at a time per link (the engine serializes its calls).
 */
#ifndef HVCORE_CLIENT_DBGLINK_H
#define HVCORE_CLIENT_DBGLINK_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "../link.h"
#include "../status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest payload a link carries unless opts say otherwise. */
#define HV_DBGLINK_DEFAULT_PAYLOAD (64u * 1024u + 64u)
/* Serial port speed without baud=. */
#define HV_DBGLINK_DEFAULT_BAUD 115200u

struct hv_dbglink;

/* Zero fields take the defaults. */
struct hv_dbglink_opts {
    uint32_t max_payload;    /* 0: HV_DBGLINK_DEFAULT_PAYLOAD; at most HV_LINK_MAX_PAYLOAD */
    int ack_timeout_ms;      /* 0: serial port 250 ms + the time 8 KiB take at its baud rate,
                                tcp 500 ms, fd 200 ms (the spec's ack= overrides it) */
    int max_retries;         /* 0: 5; < 0: none (one transmission) */
    int connect_timeout_ms;  /* 0: 2000 (tcp connect, reconnect) */
};

/* A new descriptor for hv_dbglink_reconnect on a link made from an fd
 * (e.g. a fresh socketpair to the same in-process stub); < 0 when there is
 * none (then the reconnect fails with DEVICE_CONNECTION_LOST). */
typedef int (*hv_dbglink_reopen_fn)(void *ctx);

/* Open a line (spec above); opts may be NULL. */
hv_status_t hv_dbglink_open(struct hv_dbglink **out, const char *spec, const struct hv_dbglink_opts *opts);

/* A link over an already connected stream `fd` (made non-blocking; the
 * link owns it from now on, also on failure). `reopen` (may be NULL) gives
 * hv_dbglink_reconnect a new descriptor. */
hv_status_t hv_dbglink_from_fd(struct hv_dbglink **out, int fd, hv_dbglink_reopen_fn reopen, void *reopen_ctx,
                               const struct hv_dbglink_opts *opts);

/* A link to a peer in this process (a stub on the mock machine): a
 * connected pair of stream descriptors, *out a link over one end, *peer_fd
 * the other (non-blocking, close-on-exec) for the peer, to be closed with
 * hv_dbglink_peer_close once the peer is done with it. */
hv_status_t hv_dbglink_pair(struct hv_dbglink **out, int *peer_fd, const struct hv_dbglink_opts *opts);
void hv_dbglink_peer_close(int peer_fd);

/* A connected pair of stream descriptors, both non-blocking and
 * close-on-exec (a line between a client and a stub in one process). */
hv_status_t hv_dbglink_socketpair(int fds[2]);

/* Expose a line as TCP, as an emulator exposes a serial port: relay bytes
 * between `line_fd` (non-blocking; e.g. the fake UART of a simulated
 * target) and one client of `listen_fd` at a time, until *stop becomes
 * non-zero. A newcomer takes the line from the client before it (an idle
 * or stale connection never locks the debugger out); bytes the line sends
 * while no client is there are dropped (the link layer resends what
 * matters). The line has no authentication, so a listener that is not
 * bound to a loopback address is refused (ACCESS_DENIED). `log` (may be
 * NULL) gets a line per connection. */
hv_status_t hv_dbglink_serve_tcp(int listen_fd, int line_fd, const volatile sig_atomic_t *stop,
                                 void (*log)(void *ctx, const char *line), void *log_ctx);

/* Send one payload reliably (hv_link_send: transmit, wait for the ACK,
 * retransmit up to max_retries times). */
hv_status_t hv_dbglink_send(struct hv_dbglink *l, const void *payload, uint32_t len);

/* Receive one payload, waiting up to timeout_ms (0: only what the line has
 * now; < 0: forever). INSUFFICIENT_RESOURCES when cap is too small (*len =
 * bytes needed; the payload stays held). */
hv_status_t hv_dbglink_recv(struct hv_dbglink *l, void *buf, uint32_t cap, uint32_t *len, int timeout_ms);

/* Process what the line has now (ACKs owed, a payload arriving); *ready =
 * a payload is waiting for hv_dbglink_recv. */
hv_status_t hv_dbglink_poll(struct hv_dbglink *l, bool *ready);

/* Close the descriptor (if still open), open the line again and start a
 * new link session (fresh sequence numbers, SYN: the peer's numbering
 * restarts; a target halted in its stub keeps waiting and answers the new
 * session). */
hv_status_t hv_dbglink_reconnect(struct hv_dbglink *l);

/* The descriptor, for poll(); -1 while the line is lost. */
int hv_dbglink_fd(const struct hv_dbglink *l);
/* Whether the line was lost (closed after DEVICE_CONNECTION_LOST). */
bool hv_dbglink_lost(const struct hv_dbglink *l);
/* Successful reconnects so far. */
uint32_t hv_dbglink_reconnects(const struct hv_dbglink *l);
/* The link layer's counters and its last failure reason. */
void hv_dbglink_get_stats(const struct hv_dbglink *l, struct hv_link_stats *out);
enum hv_link_reason hv_dbglink_last_reason(const struct hv_dbglink *l);
/* The last failure in words ("/dev/ttyS0: read: Input/output error",
 * "the debuggee did not acknowledge within 500 ms, 6 transmissions"); ""
 * after a success. l NULL: why the calling thread's last hv_dbglink_open /
 * hv_dbglink_from_fd failed. Never NULL. */
const char *hv_dbglink_last_error(const struct hv_dbglink *l);
/* What the link is over ("/dev/ttyS0 at 115200 baud", "tcp 127.0.0.1:5555"). */
const char *hv_dbglink_describe(const struct hv_dbglink *l);
/* The acknowledgement timeout in use, in milliseconds. */
int hv_dbglink_ack_timeout(const struct hv_dbglink *l);

/* Close the line and free the link; NULL is fine. */
void hv_dbglink_close(struct hv_dbglink *l);

#ifdef __cplusplus
}
#endif
#endif
