/* SPDX-License-Identifier: MIT */
/*
 * The host end of a debugger line: hvcore/link.h over a descriptor (a
 * serial port, a TCP socket, a socketpair). The link layer does the
 * framing and reliability; this file only moves bytes, keeps time in
 * milliseconds, and turns errno values into the transport statuses of
 * hvcore/client/dbglink.h.
 */
#define _GNU_SOURCE
#include <hvcore/client/dbglink.h>
#include <hvcore/client/wire.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum line_kind { LINE_DEVICE, LINE_TCP, LINE_FD };

/* Why the calling thread's last open failed (the link is gone by then). */
static _Thread_local char open_err[384];

struct hv_dbglink {
    enum line_kind kind;
    int fd;
    bool is_socket;          /* send(MSG_NOSIGNAL) rather than write() */
    bool lost;
    char path[256];          /* device */
    unsigned baud;
    char host[64];           /* tcp */
    uint16_t port;
    hv_dbglink_reopen_fn reopen;
    void *reopen_ctx;
    int connect_timeout_ms;
    int ack_ms;
    uint32_t reconnects;
    struct hv_link link;
    uint8_t *rx;
    struct hv_link_config cfg;
    char what[320];
    char err[384];
};

/* ---- errors ------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static hv_status_t fail(struct hv_dbglink *l, hv_status_t st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(l->err, sizeof(l->err), fmt, ap);
    va_end(ap);
    return st;
}

/* errno of a read/write/open that a vanished line produces. */
static bool errno_is_lost(int e)
{
    return e == EIO || e == EPIPE || e == ECONNRESET || e == ENOTCONN || e == ENXIO || e == ENODEV ||
           e == ESHUTDOWN || e == ECONNABORTED;
}

/* ---- byte I/O for the link ---------------------------------------------- */

static uint64_t now_ms(void *ctx)
{
    struct timespec t;

    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static hv_status_t io_read(void *ctx, uint8_t *buf, size_t cap, size_t *got)
{
    struct hv_dbglink *l = ctx;
    ssize_t r;

    *got = 0;
    if (l->fd < 0)
        return HV_STATUS_DEVICE_CONNECTION_LOST;
    r = read(l->fd, buf, cap);
    if (r > 0) {
        *got = (size_t)r;
        return HV_STATUS_SUCCESS;
    }
    if (r == 0) {
        /* End of file: the socket's peer closed it, or (VMIN 1, non-blocking)
         * the terminal hung up. */
        (void)fail(l, 0, "%s: the other end closed the line", l->what);
        return cap ? HV_STATUS_DEVICE_CONNECTION_LOST : HV_STATUS_SUCCESS;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return HV_STATUS_SUCCESS;
    (void)fail(l, 0, "%s: read: %s", l->what, strerror(errno));
    return errno_is_lost(errno) ? HV_STATUS_DEVICE_CONNECTION_LOST : HV_STATUS_READ_FAILED;
}

static hv_status_t io_write(void *ctx, const uint8_t *buf, size_t len, size_t *done)
{
    struct hv_dbglink *l = ctx;
    ssize_t r;

    *done = 0;
    if (l->fd < 0)
        return HV_STATUS_DEVICE_CONNECTION_LOST;
    r = l->is_socket ? send(l->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) : write(l->fd, buf, len);
    if (r >= 0) {
        *done = (size_t)r;
        return HV_STATUS_SUCCESS;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return HV_STATUS_SUCCESS;
    (void)fail(l, 0, "%s: write: %s", l->what, strerror(errno));
    return errno_is_lost(errno) ? HV_STATUS_DEVICE_CONNECTION_LOST : HV_STATUS_WRITE_FAILED;
}

static void io_wait(void *ctx, bool for_write, uint64_t ticks)
{
    struct hv_dbglink *l = ctx;
    struct pollfd p = { .fd = l->fd, .events = for_write ? POLLOUT : POLLIN };

    if (l->fd < 0)
        return;
    /* A hang-up or error also ends the wait: the next read/write says which. */
    (void)poll(&p, 1, ticks > INT_MAX ? INT_MAX : (int)ticks);
}

/* ---- opening lines -------------------------------------------------------- */

static const struct {
    unsigned rate;
    speed_t code;
} bauds[] = {
    { 9600, B9600 }, { 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 },
    { 230400, B230400 }, { 460800, B460800 }, { 921600, B921600 },
};

static bool baud_code(unsigned rate, speed_t *code)
{
    size_t i;

    for (i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
        if (bauds[i].rate == rate) {
            *code = bauds[i].code;
            return true;
        }
    return false;
}

static hv_status_t open_device(struct hv_dbglink *l)
{
    struct termios t;
    speed_t code = B115200;
    int fd, e;

    (void)baud_code(l->baud, &code);
    fd = open(l->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        if (e == EACCES || e == EPERM)
            return fail(l, HV_STATUS_ACCESS_DENIED, "%s: %s (is your user in group dialout?)", l->path, strerror(e));
        if (e == EBUSY)
            return fail(l, HV_STATUS_DEVICE_CONNECTION_LOST, "%s: %s (another program has the port open)", l->path,
                        strerror(e));
        return fail(l, (e == ENOENT || errno_is_lost(e)) ? HV_STATUS_DEVICE_CONNECTION_LOST : HV_STATUS_READ_FAILED,
                    "%s: %s", l->path, strerror(e));
    }
    if (!isatty(fd) || tcgetattr(fd, &t) != 0) {
        close(fd);
        return fail(l, HV_STATUS_INVALID_PARAMETER, "%s is not a serial port (a terminal device)", l->path);
    }
    /* Nobody else may open the port while we drive the debuggee on it. */
    (void)ioctl(fd, TIOCEXCL);
    /* Raw bytes both ways: no echo, no line editing, no CR/LF translation,
     * no XON/XOFF (0x11/0x13 are payload bytes), 8 data bits, no parity,
     * one stop bit, ignore modem control lines (a null-modem cable or an
     * emulator has no carrier), no hardware flow control. */
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS | HUPCL);
    t.c_cflag |= CS8 | CLOCAL | CREAD;
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    /* With O_NONBLOCK: read returns what is there or EAGAIN. */
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, code) != 0 || cfsetospeed(&t, code) != 0 || tcsetattr(fd, TCSANOW, &t) != 0) {
        e = errno;
        close(fd);
        return fail(l, HV_STATUS_WRITE_FAILED, "%s: cannot set %u baud raw 8N1: %s", l->path, l->baud, strerror(e));
    }
    /* Bytes from before this session are not ours. */
    (void)tcflush(fd, TCIOFLUSH);
    l->fd = fd;
    l->is_socket = false;
    return HV_STATUS_SUCCESS;
}

static hv_status_t open_tcp(struct hv_dbglink *l)
{
    int fd = -1, flags;
    hv_status_t st = hv_wire_tcp_open(l->host, l->port, l->connect_timeout_ms, &fd);

    if (!hv_success(st))
        return fail(l, st, "%s", hv_wire_last_error());
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        close(fd);
        return fail(l, HV_STATUS_READ_FAILED, "%s: fcntl: %s", l->what, strerror(errno));
    }
    l->fd = fd;
    l->is_socket = true;
    return HV_STATUS_SUCCESS;
}

static hv_status_t adopt_fd(struct hv_dbglink *l, int fd)
{
    struct stat s;
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 || fstat(fd, &s) != 0) {
        close(fd);
        return fail(l, HV_STATUS_INVALID_PARAMETER, "descriptor %d: %s", fd, strerror(errno));
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    l->fd = fd;
    l->is_socket = S_ISSOCK(s.st_mode);
    return HV_STATUS_SUCCESS;
}

static uint32_t fresh_seq(void)
{
    uint32_t v = 0;

    /* Each session must start elsewhere (link.h): random, else the clock. */
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        struct timespec t;

        clock_gettime(CLOCK_REALTIME, &t);
        v = (uint32_t)t.tv_nsec ^ (uint32_t)t.tv_sec * 2654435761u;
    }
    return v;
}

/* Parse "[,baud=N][,ack=MS]" (baud only for a device). */
static hv_status_t parse_options(struct hv_dbglink *l, const char *p, bool device, int *ack)
{
    while (*p) {
        unsigned long v;
        char *end;
        bool is_baud;

        if (*p != ',')
            return fail(l, HV_STATUS_INVALID_PARAMETER, "unexpected '%s' (options are ,%sack=MS)", p,
                        device ? "baud=N," : "");
        p++;
        is_baud = !strncmp(p, "baud=", 5);
        if (!(is_baud && device) && strncmp(p, "ack=", 4))
            return fail(l, HV_STATUS_INVALID_PARAMETER, "unknown option '%.40s' (options are %sack=MS)", p,
                        device ? "baud=N, " : "");
        p += is_baud ? 5 : 4;
        errno = 0;
        v = strtoul(p, &end, 10);
        if (errno || end == p || (*end && *end != ','))
            return fail(l, HV_STATUS_INVALID_PARAMETER, "%s wants a decimal number, not '%.40s'",
                        is_baud ? "baud" : "ack", p);
        if (is_baud) {
            speed_t code;

            if (v > UINT_MAX || !baud_code((unsigned)v, &code))
                return fail(l, HV_STATUS_INVALID_PARAMETER,
                            "baud=%lu is not a standard rate (9600, 19200, 38400, 57600, 115200, 230400, 460800, "
                            "921600)", v);
            l->baud = (unsigned)v;
        } else {
            if (v == 0 || v > 600000)
                return fail(l, HV_STATUS_INVALID_PARAMETER, "ack=%lu: 1 .. 600000 ms", v);
            *ack = (int)v;
        }
        p = end;
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t parse_spec(struct hv_dbglink *l, const char *spec, int *ack)
{
    const char *comma;
    size_t n;

    if (!strncmp(spec, "tcp:", 4)) {
        const char *addr = spec + 4, *colon;
        char *end;
        unsigned long port;

        comma = strchr(addr, ',');
        n = comma ? (size_t)(comma - addr) : strlen(addr);
        colon = memrchr(addr, ':', n);
        if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof(l->host))
            return fail(l, HV_STATUS_INVALID_PARAMETER, "'%s': want tcp:HOST:PORT", spec);
        memcpy(l->host, addr, (size_t)(colon - addr));
        l->host[colon - addr] = '\0';
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno || end == colon + 1 || end != addr + n || port == 0 || port > 65535)
            return fail(l, HV_STATUS_INVALID_PARAMETER, "'%s': the port is 1 .. 65535", spec);
        l->port = (uint16_t)port;
        l->kind = LINE_TCP;
        snprintf(l->what, sizeof(l->what), "tcp %s:%u", l->host, (unsigned)l->port);
        return parse_options(l, addr + n, false, ack);
    }
    comma = strchr(spec, ',');
    n = comma ? (size_t)(comma - spec) : strlen(spec);
    if (n == 0)
        return fail(l, HV_STATUS_INVALID_PARAMETER, "no serial device named (serial:/dev/ttyS0)");
    /* "ttyS0" is short for /dev/ttyS0. */
    if (snprintf(l->path, sizeof(l->path), "%s%.*s", spec[0] == '/' ? "" : "/dev/", (int)n, spec) >=
        (int)sizeof(l->path))
        return fail(l, HV_STATUS_INVALID_PARAMETER, "device path too long");
    l->kind = LINE_DEVICE;
    l->baud = HV_DBGLINK_DEFAULT_BAUD;
    if (!hv_success(parse_options(l, spec + n, true, ack)))
        return HV_STATUS_INVALID_PARAMETER;
    snprintf(l->what, sizeof(l->what), "%s at %u baud", l->path, l->baud);
    return HV_STATUS_SUCCESS;
}

static hv_status_t open_line(struct hv_dbglink *l)
{
    switch (l->kind) {
    case LINE_DEVICE: return open_device(l);
    case LINE_TCP: return open_tcp(l);
    case LINE_FD: {
        int fd = l->reopen ? l->reopen(l->reopen_ctx) : -1;

        if (fd < 0)
            return fail(l, HV_STATUS_DEVICE_CONNECTION_LOST, "%s: the line is gone and cannot be opened again",
                        l->what);
        return adopt_fd(l, fd);
    }
    }
    return HV_STATUS_INVALID_PARAMETER;
}

static struct hv_dbglink *link_new(void)
{
    struct hv_dbglink *l = calloc(1, sizeof(*l));

    if (l)
        l->fd = -1;
    return l;
}

/* Everything but the descriptor: the link layer over it. */
static hv_status_t link_start(struct hv_dbglink *l, const struct hv_dbglink_opts *opts, int ack_from_spec)
{
    struct hv_link_io io = { .ctx = l, .read = io_read, .write = io_write, .now = now_ms, .wait = io_wait };
    struct hv_dbglink_opts o = { 0 };
    size_t cap;

    if (opts)
        o = *opts;
    if (o.max_payload == 0)
        o.max_payload = HV_DBGLINK_DEFAULT_PAYLOAD;
    if (o.max_payload > HV_LINK_MAX_PAYLOAD || o.ack_timeout_ms < 0 || o.connect_timeout_ms < 0)
        return fail(l, HV_STATUS_INVALID_PARAMETER, "bad link options");
    l->connect_timeout_ms = o.connect_timeout_ms ? o.connect_timeout_ms : 2000;
    if (ack_from_spec)
        l->ack_ms = ack_from_spec;
    else if (o.ack_timeout_ms)
        l->ack_ms = o.ack_timeout_ms;
    else if (l->kind == LINE_DEVICE)
        /* After write() returns, up to the kernel's buffer (a few KiB) is
         * still to go out at the line rate (10 bits a byte with 8N1)
         * before the peer sees the frame's end and acknowledges it. */
        l->ack_ms = 250 + (int)(8192u * 10u * 1000u / l->baud);
    else
        l->ack_ms = l->kind == LINE_TCP ? 500 : 200;
    l->cfg.max_payload = o.max_payload;
    l->cfg.ack_timeout = (uint64_t)l->ack_ms;
    l->cfg.max_retries = o.max_retries < 0 ? 0u : o.max_retries == 0 ? 5u : (uint32_t)o.max_retries;
    l->cfg.initial_seq = fresh_seq();
    cap = HV_LINK_RX_BUFFER_SIZE(o.max_payload);
    l->rx = malloc(cap);
    if (l->rx == NULL)
        return fail(l, HV_STATUS_INSUFFICIENT_RESOURCES, "out of memory");
    return hv_link_init(&l->link, &io, &l->cfg, l->rx, cap);
}

hv_status_t hv_dbglink_open(struct hv_dbglink **out, const char *spec, const struct hv_dbglink_opts *opts)
{
    struct hv_dbglink *l;
    int ack = 0;
    hv_status_t st;

    if (out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    *out = NULL;
    if (spec == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    l = link_new();
    if (l == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    st = parse_spec(l, spec, &ack);
    if (hv_success(st))
        st = link_start(l, opts, ack);
    if (hv_success(st))
        st = open_line(l);
    if (!hv_success(st)) {
        snprintf(open_err, sizeof(open_err), "%s", l->err);
        hv_dbglink_close(l);
        return st;
    }
    l->err[0] = '\0';
    open_err[0] = '\0';
    *out = l;
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_dbglink_from_fd(struct hv_dbglink **out, int fd, hv_dbglink_reopen_fn reopen, void *reopen_ctx,
                               const struct hv_dbglink_opts *opts)
{
    struct hv_dbglink *l;
    hv_status_t st;

    if (out)
        *out = NULL;
    if (out == NULL || fd < 0) {
        if (fd >= 0)
            close(fd);
        return HV_STATUS_INVALID_PARAMETER;
    }
    l = link_new();
    if (l == NULL) {
        close(fd);
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    l->kind = LINE_FD;
    l->reopen = reopen;
    l->reopen_ctx = reopen_ctx;
    snprintf(l->what, sizeof(l->what), "descriptor %d", fd);
    st = link_start(l, opts, 0);
    if (hv_success(st))
        st = adopt_fd(l, fd);
    else
        close(fd);
    if (!hv_success(st)) {
        snprintf(open_err, sizeof(open_err), "%s", l->err);
        hv_dbglink_close(l);
        return st;
    }
    *out = l;
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_dbglink_pair(struct hv_dbglink **out, int *peer_fd, const struct hv_dbglink_opts *opts)
{
    int sv[2];
    hv_status_t st;

    if (out)
        *out = NULL;
    if (peer_fd)
        *peer_fd = -1;
    if (out == NULL || peer_fd == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = hv_dbglink_socketpair(sv);
    if (!hv_success(st))
        return st;
    st = hv_dbglink_from_fd(out, sv[0], NULL, NULL, opts);
    if (!hv_success(st)) {
        close(sv[1]);
        return st;
    }
    snprintf((*out)->what, sizeof((*out)->what), "socketpair to a stub in this process");
    *peer_fd = sv[1];
    return HV_STATUS_SUCCESS;
}

void hv_dbglink_peer_close(int peer_fd)
{
    if (peer_fd >= 0)
        close(peer_fd);
}

hv_status_t hv_dbglink_socketpair(int fds[2])
{
    int i;

    if (fds == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    for (i = 0; i < 2; i++)
        (void)fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    return HV_STATUS_SUCCESS;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void relay_log(void (*log)(void *, const char *), void *ctx, const char *fmt, ...)
{
    char line[200];
    va_list ap;

    if (log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log(ctx, line);
}

/* Move what `from` has to `to`; false when `from` is closed or failed.
 * Bytes `to` cannot take now are dropped: a line has no flow control
 * either, and the link layer resends. */
static bool relay_some(int from, int to)
{
    uint8_t buf[4096];
    ssize_t n = read(from, buf, sizeof(buf));

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return false;
    if (n > 0 && to >= 0)
        (void)send(to, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    return true;
}

hv_status_t hv_dbglink_serve_tcp(int listen_fd, int line_fd, const volatile sig_atomic_t *stop,
                                 void (*log)(void *ctx, const char *line), void *log_ctx)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int client = -1;

    if (listen_fd < 0 || line_fd < 0 || stop == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (getsockname(listen_fd, (struct sockaddr *)&a, &alen) != 0 || a.sin_family != AF_INET ||
        (ntohl(a.sin_addr.s_addr) >> 24) != 127) {
        relay_log(log, log_ctx, "refusing to expose the line on a non-loopback address: it has no authentication");
        return HV_STATUS_ACCESS_DENIED;
    }
    while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
        struct pollfd p[3] = { { .fd = listen_fd, .events = POLLIN }, { .fd = line_fd, .events = POLLIN },
                               { .fd = client, .events = POLLIN } };

        if (poll(p, client >= 0 ? 3 : 2, 200) <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            int fd;

            if (hv_success(hv_wire_accept(listen_fd, &fd, 0))) {
                if (client >= 0) {
                    relay_log(log, log_ctx, "a new client takes the line from the one before");
                    close(client);
                }
                (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                client = fd;
                relay_log(log, log_ctx, "client connected");
                continue; /* p[2] described the old client */
            }
        }
        if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !relay_some(line_fd, client)) {
            relay_log(log, log_ctx, "the line closed");
            break;
        }
        if (client >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR)) && !relay_some(client, line_fd)) {
            relay_log(log, log_ctx, "client left");
            close(client);
            client = -1;
        }
    }
    if (client >= 0)
        close(client);
    return HV_STATUS_SUCCESS;
}

/* ---- traffic ---------------------------------------------------------------- */

static void drop_line(struct hv_dbglink *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    l->lost = true;
}

/* Words for a link failure the byte I/O did not already describe. */
static hv_status_t after(struct hv_dbglink *l, hv_status_t st, const char *op)
{
    enum hv_link_reason why = hv_link_last_reason(&l->link);

    if (hv_success(st)) {
        l->err[0] = '\0';
        return st;
    }
    switch (why) {
    case HV_LINK_REASON_PEER_CLOSED:
    case HV_LINK_REASON_IO_ERROR:
        break; /* io_read / io_write said it */
    case HV_LINK_REASON_NO_ACK:
        (void)fail(l, st, "%s: the debuggee did not acknowledge within %d ms, %u transmissions", l->what, l->ack_ms,
                   l->cfg.max_retries + 1);
        break;
    case HV_LINK_REASON_IDLE:
        (void)fail(l, st, "%s: no answer from the debuggee in time", l->what);
        break;
    case HV_LINK_REASON_WRITE_STALL:
        (void)fail(l, st, "%s: the line took no byte for %d ms", l->what, l->ack_ms);
        break;
    default:
        (void)fail(l, st, "%s: %s: %s", l->what, op, hv_link_reason_name(why));
        break;
    }
    if (st == HV_STATUS_DEVICE_CONNECTION_LOST)
        drop_line(l);
    return st;
}

static hv_status_t check_open(struct hv_dbglink *l)
{
    if (l->fd >= 0)
        return HV_STATUS_SUCCESS;
    return fail(l, HV_STATUS_DEVICE_CONNECTION_LOST, "%s: the line was lost (reconnect)", l->what);
}

hv_status_t hv_dbglink_send(struct hv_dbglink *l, const void *payload, uint32_t len)
{
    hv_status_t st;

    if (l == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = check_open(l);
    if (!hv_success(st))
        return st;
    return after(l, hv_link_send(&l->link, payload, len), "send");
}

hv_status_t hv_dbglink_recv(struct hv_dbglink *l, void *buf, uint32_t cap, uint32_t *len, int timeout_ms)
{
    hv_status_t st;

    if (len)
        *len = 0;
    if (l == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = check_open(l);
    if (!hv_success(st))
        return st;
    st = hv_link_recv(&l->link, buf, cap, len, timeout_ms < 0 ? UINT64_MAX / 4 : (uint64_t)timeout_ms);
    /* A payload too big for cap is no transport failure: it stays held. */
    if (st == HV_STATUS_INSUFFICIENT_RESOURCES)
        return fail(l, st, "%s: a payload of %u bytes does not fit in %u", l->what, len ? *len : 0, cap);
    return after(l, st, "recv");
}

hv_status_t hv_dbglink_poll(struct hv_dbglink *l, bool *ready)
{
    hv_status_t st;

    if (ready)
        *ready = false;
    if (l == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = check_open(l);
    if (!hv_success(st))
        return st;
    return after(l, hv_link_poll(&l->link, ready), "poll");
}

hv_status_t hv_dbglink_reconnect(struct hv_dbglink *l)
{
    hv_status_t st;

    if (l == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    drop_line(l);
    st = open_line(l);
    if (!hv_success(st))
        return st;
    l->lost = false;
    l->reconnects++;
    hv_link_reset(&l->link, fresh_seq());
    l->err[0] = '\0';
    return HV_STATUS_SUCCESS;
}

int hv_dbglink_fd(const struct hv_dbglink *l)
{
    return l ? l->fd : -1;
}

bool hv_dbglink_lost(const struct hv_dbglink *l)
{
    return l == NULL || l->lost;
}

uint32_t hv_dbglink_reconnects(const struct hv_dbglink *l)
{
    return l ? l->reconnects : 0;
}

void hv_dbglink_get_stats(const struct hv_dbglink *l, struct hv_link_stats *out)
{
    if (l && out)
        hv_link_get_stats(&l->link, out);
}

enum hv_link_reason hv_dbglink_last_reason(const struct hv_dbglink *l)
{
    return l ? hv_link_last_reason(&l->link) : HV_LINK_REASON_BAD_ARGUMENT;
}

const char *hv_dbglink_last_error(const struct hv_dbglink *l)
{
    return l ? l->err : open_err;
}

const char *hv_dbglink_describe(const struct hv_dbglink *l)
{
    return l ? l->what : "";
}

int hv_dbglink_ack_timeout(const struct hv_dbglink *l)
{
    return l ? l->ack_ms : 0;
}

void hv_dbglink_close(struct hv_dbglink *l)
{
    if (l == NULL)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l->rx);
    free(l);
}
