/* SPDX-License-Identifier: MIT */
/*
 * Event forwarding (user mode, libc + POSIX threads): HyperDbg's
 *
 *   output create NAME file PATH | namedpipe PATH | tcp HOST:PORT [text|json]
 *   output open NAME        output close NAME        output (the list)
 *   !dr ... output {NAME ...}
 *
 * as a library: a set of named outputs, each a file, a named pipe (a FIFO
 * on Linux) or a TCP connection, and a routing table from event ids to
 * outputs. The reader of the message stream (hv_engine_read) hands every
 * record to hv_output_forward(), which queues it for each open output the
 * record's event is bound to and says whether the console should show it.
 *
 * Routing (HyperDbg's rule, plus an explicit `console`):
 *   - a record of an event with no binding goes to the console only;
 *   - a record of a bound event goes to each of its outputs that is open,
 *     and to the console as well when the binding includes the console
 *     (`output {log console}`) or when none of its outputs is open (then
 *     nothing is lost silently: HyperDbg shows such records too).
 *
 * Never blocking the reader: hv_output_forward() only copies the record
 * (256 bytes) into the output's bounded queue (HV_OUTPUT_QUEUE records)
 * and wakes its writer thread; a full queue drops the record and counts
 * it. Each open output has one writer thread that formats and writes:
 *   file       appended (O_APPEND, created 0600 if missing); one write()
 *              per record, so the file is flushed at record boundaries;
 *   namedpipe  a FIFO, created (0600) if missing; opened non-blocking. No
 *              reader: the output waits (state WAITING), records are
 *              dropped and counted, and the open is retried in the
 *              background until a reader comes (and again after the
 *              reader goes). A full pipe: the writer waits for room, the
 *              queue fills, and further records are dropped and counted;
 *   tcp        a connection to HOST:PORT (IPv4, IPv6 in [brackets], or a
 *              name resolved at create). Not connected or lost: WAITING,
 *              records dropped and counted, reconnected in the background
 *              (100 ms, doubling up to 1 s between attempts); writes never
 *              raise SIGPIPE. A record cut by a lost connection counts as
 *              dropped, and the next connection starts with a whole one.
 * A record counts as `sent` once written whole, as `dropped` when it was
 * given to an open output and will never be written (queue full, no
 * reader, not connected, write error, or still queued when the output was
 * closed and the close wait ran out).
 *
 * Formats (per output):
 *   text  exactly what `hvctl listen` prints for the record (one line, or
 *         several for a break record's registers), newline-terminated;
 *   json  one JSON object per line (JSON Lines). 64-bit quantities (pid,
 *         value, rip, registers, timestamp) are hex strings ("0x490") so
 *         that parsers using doubles keep them exact; small counters (seq,
 *         core, event, dr, lost_before) are numbers:
 *         {"event":1,"core":3,"pid":"0x490","seq":1,"kind":"break",
 *          "lost_before":0,"timestamp":"0x0","dr":7,"direction":"to",
 *          "gpr":"rax","value":"0x401","rip":"0x55dab4234d3b",
 *          "regs":{"rax":"0x401",...,"r15":"0x0","rflags":"0x246"}}
 *         kind "script" adds "script":"<text>", kind "code" adds
 *         "buffer":"<hex bytes>"; strings are escaped (hv_output_json_escape).
 *
 * Names: 1 .. HV_OUTPUT_NAME_MAX characters of [A-Za-z0-9_.-], starting
 * with a letter or '_', case-sensitive; `console` (any case) is reserved:
 * in a binding it stands for the console.
 *
 * All functions are thread-safe; hv_output_forward() may run on one thread
 * while another creates, opens, closes or lists outputs.
 */
#ifndef HVCORE_CLIENT_OUTPUT_H
#define HVCORE_CLIENT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../msg.h"
#include "../status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HV_OUTPUT_NAME_MAX      31u     /* characters of a name */
#define HV_OUTPUT_TARGET_MAX    4095u   /* characters of a path or HOST:PORT */
#define HV_OUTPUT_MAX           32u     /* outputs in one set */
#define HV_OUTPUT_MAX_PER_EVENT 8u      /* outputs one event may be bound to (console aside) */
#define HV_OUTPUT_QUEUE         1024u   /* records queued per output before drops */
#define HV_OUTPUT_CLOSE_WAIT_MS 1000    /* how long close waits for the queue to drain */
#define HV_OUTPUT_ALL_EVENTS    0xFFFFFFFFu

enum hv_output_type {
    HV_OUTPUT_FILE = 1,
    HV_OUTPUT_NAMEDPIPE = 2,
    HV_OUTPUT_TCP = 3,
};

enum hv_output_format {
    HV_OUTPUT_TEXT = 0,
    HV_OUTPUT_JSON = 1,
};

enum hv_output_state {
    HV_OUTPUT_CLOSED = 0,   /* created, or closed: its events' records are not for it */
    HV_OUTPUT_READY = 1,    /* open and writing */
    HV_OUTPUT_WAITING = 2,  /* open, but no FIFO reader / not connected: records are
                               dropped and counted while it retries in the background */
};

struct hv_output_info {
    char name[HV_OUTPUT_NAME_MAX + 1];
    enum hv_output_type type;
    enum hv_output_format format;
    enum hv_output_state state;
    char target[HV_OUTPUT_TARGET_MAX + 1];
    uint64_t sent;          /* records written whole, since create */
    uint64_t dropped;       /* records given to it while open and never written */
    uint32_t queued;        /* records waiting for its writer now */
    uint32_t reconnects;    /* connections (tcp) / reader opens (namedpipe) after the first */
    uint32_t events;        /* events bound to it */
    char error[128];        /* the last I/O problem since it was opened, "" if none */
};

struct hv_output_set;

hv_status_t hv_output_set_create(struct hv_output_set **out);
/* Closes every open output (each waits up to HV_OUTPUT_CLOSE_WAIT_MS for
 * its queue to drain) and frees the set. NULL is fine. */
void hv_output_set_destroy(struct hv_output_set *set);

/*
 * Define output `name`: `target` is a path (file, namedpipe) or HOST:PORT
 * (tcp; resolved now). Nothing is opened yet. INVALID_PARAMETER for a bad
 * name, type, format or target; a name already defined or
 * HV_OUTPUT_MAX outputs: INVALID_PARAMETER too. The message in err (may
 * be NULL with err_len 0) says which.
 */
hv_status_t hv_output_create(struct hv_output_set *set, const char *name, enum hv_output_type type,
                             const char *target, enum hv_output_format format, char *err, size_t err_len);

/*
 * Open it: a file is opened for appending (an error fails the open); a
 * named pipe is created if missing (a path that exists and is not a FIFO
 * fails) and opened if a reader is there, else the output waits for one;
 * a tcp output connects in the background (open waits up to one second
 * for the first attempt, so the state reported right after is meaningful;
 * not connecting is WAITING, not a failure). NOT_FOUND for an unknown
 * name; INVALID_PARAMETER if it is already open.
 */
hv_status_t hv_output_open(struct hv_output_set *set, const char *name, char *err, size_t err_len);

/* Close it: waits up to HV_OUTPUT_CLOSE_WAIT_MS for its queued records to
 * be written (what is left is dropped and counted), then closes the file,
 * pipe or connection. NOT_FOUND; INVALID_PARAMETER if it is not open. */
hv_status_t hv_output_close(struct hv_output_set *set, const char *name, char *err, size_t err_len);

/* Outputs in creation order: info[0 .. min(*count, cap)); *count = all. */
hv_status_t hv_output_list(struct hv_output_set *set, struct hv_output_info *info, uint32_t cap, uint32_t *count);
/* One output by name. NOT_FOUND. */
hv_status_t hv_output_query(struct hv_output_set *set, const char *name, struct hv_output_info *info);

/*
 * Check that every name of names[0 .. n) is a defined output (console
 * excepted), before an event is added: NOT_FOUND with "unknown output
 * 'x' (create it first: output create x file PATH)"; INVALID_PARAMETER
 * for n > HV_OUTPUT_MAX_PER_EVENT (console not counted) or a bad name.
 */
hv_status_t hv_output_resolve(struct hv_output_set *set, const char *const *names, uint32_t n, char *err,
                              size_t err_len);

/*
 * Bind event `event_id` to names[0 .. n) (duplicates count once; a name
 * `console` binds the console), replacing an earlier binding of that
 * event; checks as hv_output_resolve first and binds nothing on error.
 * n == 0 with console == false removes the binding.
 */
hv_status_t hv_output_bind(struct hv_output_set *set, uint32_t event_id, const char *const *names, uint32_t n,
                           bool console, char *err, size_t err_len);
/* Forget the binding of an event (HV_OUTPUT_ALL_EVENTS: of every event). */
void hv_output_unbind(struct hv_output_set *set, uint32_t event_id);
/* The binding of an event as "a b console" into buf (NUL-terminated);
 * returns its length, 0 when the event is not bound. */
size_t hv_output_bindings(struct hv_output_set *set, uint32_t event_id, char *buf, size_t size);

/*
 * Route one record (see Routing above); never blocks on I/O. Returns true
 * when the console should show it. set == NULL or r == NULL: true.
 */
bool hv_output_forward(struct hv_output_set *set, const struct hv_msg_record *r);

/* Wait up to timeout_ms (-1 = no limit) until every open output has
 * written or dropped everything queued. SUCCESS or TIMEOUT. */
hv_status_t hv_output_flush(struct hv_output_set *set, int timeout_ms);

/*
 * The formats, snprintf-like: write at most size - 1 characters and a NUL
 * (out may be NULL when size is 0), return the full length. Both end in a
 * newline. Malformed records (payload_len past the payload) are clamped.
 */
size_t hv_output_format_text(const struct hv_msg_record *r, char *out, size_t size);
size_t hv_output_format_json(const struct hv_msg_record *r, char *out, size_t size);

/*
 * s[0 .. len) as the inside of a JSON string (no quotes), snprintf-like:
 * " and \ escaped, \b \f \n \r \t, other control bytes and DEL as \u00XX,
 * valid UTF-8 kept, each byte of an invalid UTF-8 sequence (overlong,
 * surrogate, past U+10FFFF, cut short) as \ufffd. NUL bytes are data.
 */
size_t hv_output_json_escape(const char *s, size_t len, char *out, size_t size);

/* The name rules above: SUCCESS or INVALID_PARAMETER with a message
 * quoting the name. `console` is refused here (it is not a name to create). */
hv_status_t hv_output_name_check(const char *name, size_t len, char *err, size_t err_len);

/* "file", "namedpipe", "tcp"; "text", "json"; "closed", "open", "waiting". */
const char *hv_output_type_name(enum hv_output_type type);
const char *hv_output_format_name(enum hv_output_format format);
const char *hv_output_state_name(enum hv_output_state state);

struct hv_msg_script_status;
/** One line for a script's status record ("stopped: budget exhausted after
 * N instructions ..."); returns buf. Context: user mode. */
const char *hv_output_script_status_text(const struct hv_msg_script_status *m, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
