/* SPDX-License-Identifier: MIT */
/*
 * hv_dbglink (hvcore/client/dbglink.h) in the Windows build of
 * hvcore::client: the debugger line (serial ports through termios, serial
 * over TCP) is not ported to Windows yet, so every open is refused with a
 * sentence saying so (UNSUPPORTED) and no link ever exists; the other
 * functions only meet NULL. CMake compiles this file instead of dbglink.c
 * in the mingw-w64 build.
 */
#include <hvcore/client/dbglink.h>

#include <string.h>

static const char why_not[] = "serial: targets (Debugger Mode) are not available in the Windows build yet; "
                              "use hvctl on Linux";

hv_status_t hv_dbglink_open(struct hv_dbglink **out, const char *spec, const struct hv_dbglink_opts *opts)
{
    (void)spec, (void)opts;
    if (out)
        *out = NULL;
    return HV_STATUS_UNSUPPORTED;
}

hv_status_t hv_dbglink_from_fd(struct hv_dbglink **out, int fd, hv_dbglink_reopen_fn reopen, void *reopen_ctx,
                               const struct hv_dbglink_opts *opts)
{
    (void)fd, (void)reopen, (void)reopen_ctx, (void)opts;
    if (out)
        *out = NULL;
    return HV_STATUS_UNSUPPORTED;
}

hv_status_t hv_dbglink_pair(struct hv_dbglink **out, int *peer_fd, const struct hv_dbglink_opts *opts)
{
    (void)opts;
    if (out)
        *out = NULL;
    if (peer_fd)
        *peer_fd = -1;
    return HV_STATUS_UNSUPPORTED;
}

void hv_dbglink_peer_close(int peer_fd)
{
    (void)peer_fd;
}

hv_status_t hv_dbglink_socketpair(int fds[2])
{
    if (fds)
        fds[0] = fds[1] = -1;
    return HV_STATUS_UNSUPPORTED;
}

hv_status_t hv_dbglink_serve_tcp(int listen_fd, int line_fd, const volatile sig_atomic_t *stop,
                                 void (*log)(void *ctx, const char *line), void *log_ctx)
{
    (void)listen_fd, (void)line_fd, (void)stop, (void)log, (void)log_ctx;
    return HV_STATUS_UNSUPPORTED;
}

hv_status_t hv_dbglink_send(struct hv_dbglink *l, const void *payload, uint32_t len)
{
    (void)l, (void)payload, (void)len;
    return HV_STATUS_UNSUPPORTED;
}

hv_status_t hv_dbglink_recv(struct hv_dbglink *l, void *buf, uint32_t cap, uint32_t *len, int timeout_ms)
{
    (void)l, (void)buf, (void)cap, (void)timeout_ms;
    if (len)
        *len = 0;
    return HV_STATUS_UNSUPPORTED;
}

hv_status_t hv_dbglink_poll(struct hv_dbglink *l, bool *ready)
{
    (void)l;
    if (ready)
        *ready = false;
    return HV_STATUS_UNSUPPORTED;
}

hv_status_t hv_dbglink_reconnect(struct hv_dbglink *l)
{
    (void)l;
    return HV_STATUS_UNSUPPORTED;
}

int hv_dbglink_fd(const struct hv_dbglink *l)
{
    (void)l;
    return -1;
}

bool hv_dbglink_lost(const struct hv_dbglink *l)
{
    (void)l;
    return true;
}

uint32_t hv_dbglink_reconnects(const struct hv_dbglink *l)
{
    (void)l;
    return 0;
}

void hv_dbglink_get_stats(const struct hv_dbglink *l, struct hv_link_stats *out)
{
    (void)l;
    if (out)
        memset(out, 0, sizeof(*out));
}

enum hv_link_reason hv_dbglink_last_reason(const struct hv_dbglink *l)
{
    (void)l;
    return HV_LINK_REASON_NONE;
}

const char *hv_dbglink_last_error(const struct hv_dbglink *l)
{
    (void)l;
    return why_not;
}

const char *hv_dbglink_describe(const struct hv_dbglink *l)
{
    (void)l;
    return "no line (Windows build)";
}

int hv_dbglink_ack_timeout(const struct hv_dbglink *l)
{
    (void)l;
    return 0;
}

void hv_dbglink_close(struct hv_dbglink *l)
{
    (void)l;
}
