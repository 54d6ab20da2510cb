/*
 * The host end of a debugger line (hvcore/client/dbglink.h) over real
 * descriptors: a socketpair whose other end is a fake peer (silent, closing,
 * answering with corrupt frames, or a whole link endpoint echoing), a pty
 * standing in for a serial port (termios settings, hang-up), and a TCP
 * listener on 127.0.0.1 standing in for an emulator's serial socket
 * (reconnect). Short acknowledgement timeouts; no timing is asserted.
 */
#define _GNU_SOURCE
#include "support.h"

#include <hvcore/client/dbglink.h>
#include <hvcore/client/wire.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#define ACK_MS 40
#define PAYLOAD 4096u

/* Failure cases: quick to give up. */
static const struct hv_dbglink_opts quick = { .max_payload = PAYLOAD, .ack_timeout_ms = ACK_MS, .max_retries = 2 };
/* Exchanges that must succeed: room for a loaded machine. */
static const struct hv_dbglink_opts roomy = { .max_payload = PAYLOAD, .ack_timeout_ms = 250, .max_retries = 8 };

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* ---- an echoing peer: a whole link endpoint in a thread ------------------ */

struct echo {
    pthread_t t;
    int fd;                   /* its end; replaced on reconnect */
    struct hv_dbglink *link;  /* the peer's endpoint (kept across reconnects: a target that waits) */
    int stop; /* atomic */
    unsigned echoed;
    pthread_mutex_t lock;
};

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    static _Thread_local uint8_t buf[PAYLOAD];

    while (!__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
        uint32_t len = 0;
        hv_status_t st;

        pthread_mutex_lock(&e->lock);
        st = hv_dbglink_recv(e->link, buf, sizeof(buf), &len, 20);
        if (hv_success(st)) {
            buf[0] ^= 0xFF; /* an answer, not the request reflected */
            if (hv_success(hv_dbglink_send(e->link, buf, len)))
                e->echoed++;
        }
        pthread_mutex_unlock(&e->lock);
        if (st == HV_STATUS_DEVICE_CONNECTION_LOST) {
            struct timespec ts = { 0, 5 * 1000 * 1000 };

            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void echo_start(struct echo *e, int fd)
{
    memset(e, 0, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    e->fd = fd;
    assert_int_equal(hv_dbglink_from_fd(&e->link, fd, NULL, NULL, &roomy), HV_STATUS_SUCCESS);
    assert_int_equal(pthread_create(&e->t, NULL, echo_main, e), 0);
}

static void echo_stop(struct echo *e)
{
    __atomic_store_n(&e->stop, 1, __ATOMIC_RELEASE);
    pthread_join(e->t, NULL);
    hv_dbglink_close(e->link);
    pthread_mutex_destroy(&e->lock);
}

/* Send a payload full of delimiter and escape bytes, expect its answer. */
static void round_trip(struct hv_dbglink *l, uint32_t len, uint8_t salt)
{
    static uint8_t out[PAYLOAD], in[PAYLOAD];
    uint32_t got = 0, i;

    for (i = 0; i < len; i++)
        out[i] = i % 3 == 0 ? 0x7E : i % 3 == 1 ? 0x7D : (uint8_t)(i + salt);
    assert_int_equal(hv_dbglink_send(l, out, len), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_recv(l, in, sizeof(in), &got, 2000), HV_STATUS_SUCCESS);
    assert_int_equal(got, len);
    if (len) {
        assert_int_equal(in[0], (uint8_t)(out[0] ^ 0xFF));
        assert_memory_equal(in + 1, out + 1, len - 1);
    }
}

/* ---- a raw peer: reads frames, answers as told ------------------------------ */

enum raw_mode { RAW_SILENT, RAW_BAD_ACK_THEN_GOOD, RAW_ONLY_CORRUPT, RAW_CLOSE_ON_FIRST };

struct raw {
    pthread_t t;
    int fd;
    enum raw_mode mode;
    int stop; /* atomic */
    unsigned data_frames;
};

static void raw_write(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void raw_ack(int fd, uint32_t seq, bool corrupt)
{
    uint8_t f[HV_LINK_ENCODED_MAX(0)];
    size_t n = 0;

    if (hv_link_encode(HV_LINK_KIND_ACK, 0, seq, NULL, 0, f, sizeof(f), &n) != HV_STATUS_SUCCESS)
        return;
    if (corrupt)
        f[n - 3] ^= 0x01; /* a bit of the CRC: the frame still ends at its 0x7E */
    raw_write(fd, f, n);
}

static void *raw_main(void *arg)
{
    struct raw *r = arg;
    static _Thread_local uint8_t body[HV_LINK_RX_BUFFER_SIZE(PAYLOAD)];
    struct hv_link_decoder d;

    hv_link_decoder_init(&d, body, sizeof(body));
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        uint8_t in[512];
        size_t off = 0;
        ssize_t n;

        if (poll(&p, 1, 10) <= 0)
            continue;
        n = recv(r->fd, in, sizeof(in), MSG_DONTWAIT);
        if (n <= 0)
            break;
        while (off < (size_t)n) {
            struct hv_link_frame f;
            size_t used = 0;

            if (hv_link_decode(&d, in + off, (size_t)n - off, &used, &f, NULL) == HV_LINK_DECODE_FRAME &&
                f.kind == HV_LINK_KIND_DATA) {
                r->data_frames++;
                switch (r->mode) {
                case RAW_SILENT: break;
                case RAW_BAD_ACK_THEN_GOOD: raw_ack(r->fd, f.seq, r->data_frames == 1); break;
                case RAW_ONLY_CORRUPT: raw_ack(r->fd, f.seq, true); break;
                case RAW_CLOSE_ON_FIRST:
                    shutdown(r->fd, SHUT_RDWR);
                    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
                    break;
                }
            }
            off += used;
        }
    }
    return NULL;
}

static void raw_start(struct raw *r, int fd, enum raw_mode mode)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->mode = mode;
    assert_int_equal(pthread_create(&r->t, NULL, raw_main, r), 0);
}

static void raw_stop(struct raw *r)
{
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    pthread_join(r->t, NULL);
    close(r->fd);
}

/* ---- tests ------------------------------------------------------------------ */

/* Given a peer that runs a link endpoint, when payloads full of 0x7E/0x7D
 * go both ways, then each arrives whole, once. */
static void echo_peer_round_trips(void **state)
{
    struct hv_dbglink *l;
    struct hv_link_stats s;
    struct echo e;
    int sv[2];

    (void)state;
    pair(sv);
    echo_start(&e, sv[1]);
    assert_int_equal(hv_dbglink_from_fd(&l, sv[0], NULL, NULL, &roomy), HV_STATUS_SUCCESS);
    round_trip(l, 1, 1);
    round_trip(l, 0, 2);
    round_trip(l, PAYLOAD, 3);
    round_trip(l, 777, 4);
    hv_dbglink_get_stats(l, &s);
    assert_int_equal(s.data_delivered, 4);
    assert_int_equal(s.bad_frames, 0);
    assert_string_equal(hv_dbglink_last_error(l), "");
    hv_dbglink_close(l);
    echo_stop(&e);
}

/* Given a peer that never answers, when a payload is sent, then TIMEOUT
 * after the bounded retransmissions (no ACK), and the words say so. */
static void silent_peer_is_timeout(void **state)
{
    struct hv_dbglink *l;
    struct hv_link_stats s;
    struct raw r;
    uint32_t len = 9;
    uint8_t buf[16];
    int sv[2];

    (void)state;
    pair(sv);
    raw_start(&r, sv[1], RAW_SILENT);
    assert_int_equal(hv_dbglink_from_fd(&l, sv[0], NULL, NULL, &quick), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_send(l, "ping", 4), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_dbglink_last_reason(l), HV_LINK_REASON_NO_ACK);
    assert_non_null(strstr(hv_dbglink_last_error(l), "did not acknowledge"));
    hv_dbglink_get_stats(l, &s);
    assert_int_equal(s.data_sent, 3);       /* the first transmission and max_retries (2) more */
    assert_int_equal(s.retransmits, 2);
    /* Nothing comes back either: recv is TIMEOUT (idle), the line still open. */
    assert_int_equal(hv_dbglink_recv(l, buf, sizeof(buf), &len, 30), HV_STATUS_TIMEOUT);
    assert_int_equal(len, 0);
    assert_int_equal(hv_dbglink_last_reason(l), HV_LINK_REASON_IDLE);
    assert_false(hv_dbglink_lost(l));
    raw_stop(&r);
    assert_int_equal(r.data_frames, 3);
    hv_dbglink_close(l);
}

/* Given a peer that closes the connection, when the link sends or receives,
 * then DEVICE_CONNECTION_LOST, the descriptor is closed, and it stays lost. */
static void peer_close_is_connection_lost(void **state)
{
    struct hv_dbglink *l;
    struct raw r;
    uint32_t len;
    uint8_t buf[16];
    int sv[2];

    (void)state;
    pair(sv);
    raw_start(&r, sv[1], RAW_CLOSE_ON_FIRST);
    assert_int_equal(hv_dbglink_from_fd(&l, sv[0], NULL, NULL, &quick), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_send(l, "ping", 4), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_true(hv_dbglink_lost(l));
    assert_int_equal(hv_dbglink_fd(l), -1);
    assert_int_equal(hv_dbglink_recv(l, buf, sizeof(buf), &len, 10), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_dbglink_send(l, "x", 1), HV_STATUS_DEVICE_CONNECTION_LOST);
    /* No way to open it again: reconnect says so. */
    assert_int_equal(hv_dbglink_reconnect(l), HV_STATUS_DEVICE_CONNECTION_LOST);
    raw_stop(&r);
    hv_dbglink_close(l);

    /* Closed while a receive waits. */
    pair(sv);
    assert_int_equal(hv_dbglink_from_fd(&l, sv[0], NULL, NULL, &quick), HV_STATUS_SUCCESS);
    close(sv[1]);
    assert_int_equal(hv_dbglink_recv(l, buf, sizeof(buf), &len, 1000), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_dbglink_last_reason(l), HV_LINK_REASON_PEER_CLOSED);
    assert_non_null(strstr(hv_dbglink_last_error(l), "closed the line"));
    hv_dbglink_close(l);
}

/* Given a corrupt ACK, then a good one for the retransmission: SUCCESS
 * with one retransmission and one bad frame counted. Given only corrupt
 * answers: INVALID_PACKET. */
static void corrupt_frames_are_retransmitted_or_invalid_packet(void **state)
{
    static const uint8_t garbage[] = { 0x7E, 0x01, 0x02, 0x03, 0x7D, 0x7E, 0x7E, 0x55, 0x7E };
    struct hv_dbglink *l;
    struct hv_link_stats s;
    struct raw r;
    uint32_t len;
    uint8_t buf[16];
    int sv[2];

    (void)state;
    pair(sv);
    raw_start(&r, sv[1], RAW_BAD_ACK_THEN_GOOD);
    assert_int_equal(hv_dbglink_from_fd(&l, sv[0], NULL, NULL, &roomy), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_send(l, "ping", 4), HV_STATUS_SUCCESS);
    hv_dbglink_get_stats(l, &s);
    assert_true(s.retransmits >= 1);  /* more only if the peer was slower than an ack timeout */
    assert_true(s.bad_frames >= 1);
    assert_int_equal(s.acks_received, 1);
    raw_stop(&r);
    hv_dbglink_close(l);

    pair(sv);
    raw_start(&r, sv[1], RAW_ONLY_CORRUPT);
    assert_int_equal(hv_dbglink_from_fd(&l, sv[0], NULL, NULL, &quick), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_send(l, "ping", 4), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_dbglink_last_reason(l), HV_LINK_REASON_BAD_CRC);
    assert_false(hv_dbglink_lost(l));
    raw_stop(&r);
    hv_dbglink_close(l);

    /* A receive that sees only line noise: INVALID_PACKET, not TIMEOUT. */
    pair(sv);
    assert_int_equal(hv_dbglink_from_fd(&l, sv[0], NULL, NULL, &quick), HV_STATUS_SUCCESS);
    raw_write(sv[1], garbage, sizeof(garbage));
    assert_int_equal(hv_dbglink_recv(l, buf, sizeof(buf), &len, 50), HV_STATUS_INVALID_PACKET);
    assert_int_not_equal(hv_dbglink_last_reason(l), HV_LINK_REASON_NONE);
    close(sv[1]);
    hv_dbglink_close(l);
}

/* Read and write errors other than a lost line: READ_FAILED / WRITE_FAILED. */
static void io_errors_are_read_or_write_failed(void **state)
{
    struct hv_dbglink *l;
    uint32_t len;
    uint8_t buf[16];
    int p[2], dir;

    (void)state;
    /* read() of a directory: EISDIR. */
    dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dir >= 0);
    assert_int_equal(hv_dbglink_from_fd(&l, dir, NULL, NULL, &quick), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_recv(l, buf, sizeof(buf), &len, 10), HV_STATUS_READ_FAILED);
    assert_int_equal(hv_dbglink_last_reason(l), HV_LINK_REASON_IO_ERROR);
    assert_non_null(strstr(hv_dbglink_last_error(l), "read:"));
    hv_dbglink_close(l);
    /* write() to the read end of a pipe: EBADF. */
    assert_int_equal(pipe(p), 0);
    assert_int_equal(hv_dbglink_from_fd(&l, p[0], NULL, NULL, &quick), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_send(l, "x", 1), HV_STATUS_WRITE_FAILED);
    assert_non_null(strstr(hv_dbglink_last_error(l), "write:"));
    hv_dbglink_close(l);
    close(p[1]);
}

/* ---- reconnect over a socketpair: the peer endpoint waits, like a halted target */

struct replug {
    struct echo *peer;
    unsigned opened;
};

static int replug_open(void *ctx)
{
    struct replug *r = ctx;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    /* The peer keeps its endpoint (its numbering, its state) on a new line. */
    pthread_mutex_lock(&r->peer->lock);
    hv_dbglink_close(r->peer->link);
    if (!hv_success(hv_dbglink_from_fd(&r->peer->link, sv[1], NULL, NULL, &roomy))) {
        close(sv[0]);
        sv[0] = -1;
    }
    pthread_mutex_unlock(&r->peer->lock);
    r->opened++;
    return sv[0];
}

static void reconnect_starts_a_new_session(void **state)
{
    struct hv_dbglink *l;
    struct replug rp;
    struct echo e;
    int sv[2];

    (void)state;
    pair(sv);
    echo_start(&e, sv[1]);
    rp.peer = &e;
    rp.opened = 0;
    assert_int_equal(hv_dbglink_from_fd(&l, sv[0], replug_open, &rp, &roomy), HV_STATUS_SUCCESS);
    round_trip(l, 100, 1);
    /* The line drops (the peer's end goes away). */
    pthread_mutex_lock(&e.lock);
    shutdown(hv_dbglink_fd(e.link), SHUT_RDWR);
    pthread_mutex_unlock(&e.lock);
    assert_int_equal(hv_dbglink_send(l, "after", 5), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_dbglink_reconnect(l), HV_STATUS_SUCCESS);
    assert_int_equal(hv_dbglink_reconnects(l), 1);
    assert_false(hv_dbglink_lost(l));
    round_trip(l, 200, 2);
    round_trip(l, 3, 3);
    hv_dbglink_close(l);
    echo_stop(&e);
    assert_int_equal(rp.opened, 1);
}

/* ---- a serial port: a pty stands in for /dev/ttyS0 ------------------------- */

static void serial_port_is_raw_8n1_and_hangs_up(void **state)
{
    struct hv_dbglink *l;
    struct termios t;
    struct echo e;
    char spec[128];
    uint32_t len;
    uint8_t buf[16];
    int master, slave;

    (void)state;
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    /* The master end is the debuggee's UART, raw too. */
    assert_int_equal(tcgetattr(master, &t), 0);
    cfmakeraw(&t);
    assert_int_equal(tcsetattr(master, TCSANOW, &t), 0);
    snprintf(spec, sizeof(spec), "%s,baud=9600,ack=200", ptsname(master));
    assert_int_equal(hv_dbglink_open(&l, spec, NULL), HV_STATUS_SUCCESS);
    assert_non_null(strstr(hv_dbglink_describe(l), "at 9600 baud"));
    assert_int_equal(hv_dbglink_ack_timeout(l), 200);
    /* What the port was set to, seen through a second descriptor. */
    slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave >= 0) {
        /* TIOCEXCL refuses other openers, except root. */
        assert_int_equal(getuid(), 0);
    } else {
        assert_int_equal(errno, EBUSY);
        slave = dup(hv_dbglink_fd(l));
    }
    assert_int_equal(tcgetattr(slave, &t), 0);
    assert_int_equal(cfgetospeed(&t), B9600);
    assert_int_equal(t.c_cflag & CSIZE, CS8);
    assert_int_equal(t.c_cflag & (PARENB | CSTOPB | CRTSCTS), 0);
    assert_true(t.c_cflag & CLOCAL);
    assert_int_equal(t.c_lflag & (ICANON | ECHO | ISIG), 0);
    assert_int_equal(t.c_iflag & (IXON | ICRNL), 0);
    assert_int_equal(t.c_oflag & OPOST, 0);
    close(slave);

    echo_start(&e, master);
    round_trip(l, 300, 7);
    echo_stop(&e); /* closes the master: the port hangs up */
    assert_int_equal(hv_dbglink_recv(l, buf, sizeof(buf), &len, 1000), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_true(hv_dbglink_lost(l));
    hv_dbglink_close(l);
}

/* ---- an emulator's serial socket: TCP on 127.0.0.1 ---------------------------- */

struct server {
    pthread_t t;
    int lfd;
    struct echo *peer;      /* the first connection starts it, later ones re-plug it */
    unsigned accepted;
    int stop; /* atomic */
};

static void *server_main(void *arg)
{
    struct server *s = arg;

    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        int fd;

        if (!hv_success(hv_wire_accept(s->lfd, &fd, 50)))
            continue;
        if (s->accepted++ == 0) {
            s->peer->fd = fd;
            if (!hv_success(hv_dbglink_from_fd(&s->peer->link, fd, NULL, NULL, &roomy)))
                break;
            if (pthread_create(&s->peer->t, NULL, echo_main, s->peer) != 0)
                break;
        } else {
            pthread_mutex_lock(&s->peer->lock);
            hv_dbglink_close(s->peer->link);
            if (!hv_success(hv_dbglink_from_fd(&s->peer->link, fd, NULL, NULL, &roomy)))
                s->peer->link = NULL;
            pthread_mutex_unlock(&s->peer->lock);
        }
    }
    return NULL;
}

static void tcp_line_reconnects_to_the_same_port(void **state)
{
    struct hv_dbglink *l;
    struct server srv;
    struct echo e;
    uint16_t port;
    char spec[64];

    (void)state;
    memset(&srv, 0, sizeof(srv));
    memset(&e, 0, sizeof(e));
    pthread_mutex_init(&e.lock, NULL);
    srv.peer = &e;
    assert_int_equal(hv_wire_listen("127.0.0.1", 0, &srv.lfd), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_local_port(srv.lfd, &port), HV_STATUS_SUCCESS);
    assert_int_equal(pthread_create(&srv.t, NULL, server_main, &srv), 0);
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u", (unsigned)port);
    assert_int_equal(hv_dbglink_open(&l, spec, &roomy), HV_STATUS_SUCCESS);
    assert_non_null(strstr(hv_dbglink_describe(l), "tcp 127.0.0.1:"));
    round_trip(l, 64, 1);
    /* The emulator side drops us. */
    pthread_mutex_lock(&e.lock);
    shutdown(hv_dbglink_fd(e.link), SHUT_RDWR);
    pthread_mutex_unlock(&e.lock);
    assert_int_equal(hv_dbglink_send(l, "x", 1), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_int_equal(hv_dbglink_reconnect(l), HV_STATUS_SUCCESS);
    round_trip(l, 1000, 2);
    hv_dbglink_close(l);
    __atomic_store_n(&srv.stop, 1, __ATOMIC_RELEASE);
    pthread_join(srv.t, NULL);
    close(srv.lfd);
    assert_int_equal(srv.accepted, 2);
    echo_stop(&e);
}

/* ---- specs ----------------------------------------------------------------------- */

static void bad_specs_are_refused_with_reasons(void **state)
{
    static const struct {
        const char *spec;
        hv_status_t st;
        const char *words;
    } cases[] = {
        { "", HV_STATUS_INVALID_PARAMETER, "no serial device" },
        { "tcp:", HV_STATUS_INVALID_PARAMETER, "tcp:HOST:PORT" },
        { "tcp:127.0.0.1", HV_STATUS_INVALID_PARAMETER, "tcp:HOST:PORT" },
        { "tcp:127.0.0.1:0", HV_STATUS_INVALID_PARAMETER, "port" },
        { "tcp:127.0.0.1:70000", HV_STATUS_INVALID_PARAMETER, "port" },
        { "tcp:127.0.0.1:5555,baud=9600", HV_STATUS_INVALID_PARAMETER, "unknown option" },
        { "tcp:not-a-host:5555", HV_STATUS_INVALID_PARAMETER, "dotted quad" },
        { "/dev/ttyS0,baud=1234", HV_STATUS_INVALID_PARAMETER, "standard rate" },
        { "/dev/ttyS0,baud=", HV_STATUS_INVALID_PARAMETER, "decimal number" },
        { "/dev/ttyS0,parity=odd", HV_STATUS_INVALID_PARAMETER, "unknown option" },
        { "/dev/ttyS0,ack=0", HV_STATUS_INVALID_PARAMETER, "ack=0" },
        { "/dev/null", HV_STATUS_INVALID_PARAMETER, "not a serial port" },
        { "/nonexistent/ttyS9", HV_STATUS_DEVICE_CONNECTION_LOST, "No such file" },
    };
    struct hv_dbglink *l = (struct hv_dbglink *)&l;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hv_status_t st = hv_dbglink_open(&l, cases[i].spec, NULL);

        if (st != cases[i].st || strstr(hv_dbglink_last_error(NULL), cases[i].words) == NULL)
            fail_msg("'%s': %s (0x%08x) '%s'", cases[i].spec, hv_status_name(st), st, hv_dbglink_last_error(NULL));
        assert_null(l);
    }
    assert_int_equal(hv_dbglink_open(NULL, "tcp:127.0.0.1:1", NULL), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_dbglink_from_fd(&l, -1, NULL, NULL, NULL), HV_STATUS_INVALID_PARAMETER);
}

/* Nothing listens: the line cannot be opened (DEVICE_CONNECTION_LOST). */
static void tcp_refused_is_connection_lost(void **state)
{
    struct hv_dbglink *l;
    uint16_t port;
    char spec[64];
    int lfd;

    (void)state;
    /* A port that was just free. */
    assert_int_equal(hv_wire_listen("127.0.0.1", 0, &lfd), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_local_port(lfd, &port), HV_STATUS_SUCCESS);
    close(lfd);
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u", (unsigned)port);
    assert_int_equal(hv_dbglink_open(&l, spec, NULL), HV_STATUS_DEVICE_CONNECTION_LOST);
    assert_non_null(strstr(hv_dbglink_last_error(NULL), "refused"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(echo_peer_round_trips),
        cmocka_unit_test(silent_peer_is_timeout),
        cmocka_unit_test(peer_close_is_connection_lost),
        cmocka_unit_test(corrupt_frames_are_retransmitted_or_invalid_packet),
        cmocka_unit_test(io_errors_are_read_or_write_failed),
        cmocka_unit_test(reconnect_starts_a_new_session),
        cmocka_unit_test(serial_port_is_raw_8n1_and_hangs_up),
        cmocka_unit_test(tcp_line_reconnects_to_the_same_port),
        cmocka_unit_test(bad_specs_are_refused_with_reasons),
        cmocka_unit_test(tcp_refused_is_connection_lost),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
