/* SPDX-License-Identifier: MIT */
/*
 * The client's OS services on POSIX systems (Linux): BSD sockets, poll,
 * pipes, OpenSSL libcrypto. The contracts are in sys.h.
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pipe2, MSG_NOSIGNAL, SOCK_CLOEXEC */
#endif

#include "sys.h"

#include <hvcore/abi_exec.h>

#include "uapi/hvcore_ioctl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int hv_sys_net_init(void)
{
    return 0;
}

int hv_sys_tcp_socket(int family, bool nonblock)
{
    return socket(family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
}

void hv_sys_sock_connected(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags >= 0)
        (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

int hv_sys_sock_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

int hv_sys_sock_close(int fd)
{
    return close(fd);
}

int hv_sys_sock_accept(int listen_fd, struct sockaddr_in *peer)
{
    socklen_t len = sizeof(*peer);

    return accept4(listen_fd, (struct sockaddr *)peer, peer ? &len : NULL, SOCK_CLOEXEC);
}

int hv_sys_sock_dup(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void hv_sys_sock_shutdown(int fd)
{
    (void)shutdown(fd, SHUT_RDWR);
}

void hv_sys_sock_nodelay(int fd)
{
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void hv_sys_sock_adopt(int fd)
{
    (void)fd;
}

ssize_t hv_sys_send_nb(int fd, const void *buf, size_t len)
{
    return send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

ssize_t hv_sys_send2_nb(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
    struct iovec iov[2] = { { (void *)(uintptr_t)a, alen }, { (void *)(uintptr_t)b, blen } };
    struct msghdr msg;

    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = blen ? 2 : 1;
    return sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

ssize_t hv_sys_recv_nb(int fd, void *buf, size_t len, bool peek)
{
    return recv(fd, buf, len, MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
}

ssize_t hv_sys_send(int fd, const void *buf, size_t len)
{
    return send(fd, buf, len, MSG_NOSIGNAL);
}

int hv_sys_poll(struct pollfd *fds, unsigned n, int timeout_ms)
{
    return poll(fds, (nfds_t)n, timeout_ms);
}

int hv_sys_wake_pair(int fds[2])
{
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
}

ssize_t hv_sys_wake_write(int fd, const void *buf, size_t len)
{
    return write(fd, buf, len);
}

ssize_t hv_sys_wake_read(int fd, void *buf, size_t len)
{
    return read(fd, buf, len);
}

void hv_sys_wake_close(int fd)
{
    if (fd >= 0)
        (void)close(fd);
}

/* ---- The local driver: /dev/hvcore -------------------------------------- */

intptr_t hv_sys_dev_open(hv_status_t *st)
{
    int fd = open("/dev/hvcore", O_RDWR | O_CLOEXEC);

    *st = fd >= 0 ? HV_STATUS_SUCCESS
                  : (errno == ENOENT || errno == ENXIO || errno == ENODEV) ? HV_STATUS_DEVICE_CONNECTION_LOST
                                                                            : HV_STATUS_READ_FAILED;
    return fd;
}

void hv_sys_dev_close(intptr_t dev)
{
    if (dev >= 0)
        (void)close((int)dev);
}

static unsigned long ioctl_for(uint32_t request)
{
    switch (request) {
    case HV_ABI_REQ_QUERY: return HVCORE_IOCTL_QUERY;
    case HV_ABI_REQ_MSR: return HVCORE_IOCTL_MSR;
    case HV_ABI_REQ_MSR_VALUES: return HVCORE_IOCTL_MSR_VALUES;
    case HV_ABI_REQ_EVENT_ADD: return HVCORE_IOCTL_EVENT_ADD;
    case HV_ABI_REQ_EVENT_ACTION: return HVCORE_IOCTL_EVENT_ACTION;
    case HV_ABI_REQ_EVENT_CTL: return HVCORE_IOCTL_EVENT_CTL;
    case HV_ABI_REQ_EVENT_LIST: return HVCORE_IOCTL_EVENT_LIST;
    case HV_ABI_REQ_EVENT_RINGS: return HVCORE_IOCTL_EVENT_RINGS;
    case HV_ABI_REQ_SCRIPT_EVAL: return HVCORE_IOCTL_SCRIPT_EVAL;
    case HV_ABI_REQ_TRACE: return HVCORE_IOCTL_TRACE;
    default: return 0;
    }
}

hv_status_t hv_sys_dev_request(intptr_t dev, uint32_t request, void *buf, size_t cap, size_t *resp_len)
{
    struct hv_abi_header *h = buf;
    unsigned long code = ioctl_for(request);

    (void)cap; /* the driver reads h->size and never writes past it */
    *resp_len = 0;
    if (code == 0)
        return HV_STATUS_INVALID_PARAMETER;
    if (ioctl((int)dev, code, buf) != 0) {
        if (errno == EINVAL)
            return HV_STATUS_INVALID_PARAMETER;
        if (errno == ENOMEM)
            return HV_STATUS_INSUFFICIENT_RESOURCES;
        if (errno == ENODEV || errno == ENXIO)
            return HV_STATUS_DEVICE_CONNECTION_LOST;
        return HV_STATUS_WRITE_FAILED;
    }
    *resp_len = h->size;
    return h->status;
}

hv_status_t hv_sys_dev_read(intptr_t dev, void *records, size_t record_size, uint32_t max, uint32_t *n,
                            int timeout_ms)
{
    struct pollfd p = { .fd = (int)dev, .events = POLLIN };
    ssize_t r;

    *n = 0;
    if (poll(&p, 1, timeout_ms) <= 0)
        return HV_STATUS_TIMEOUT;
    r = read((int)dev, records, (size_t)max * record_size);
    if (r < 0)
        return errno == EAGAIN ? HV_STATUS_TIMEOUT : HV_STATUS_READ_FAILED;
    *n = (uint32_t)((size_t)r / record_size);
    return HV_STATUS_SUCCESS;
}

int hv_sys_dev_pollfd(intptr_t dev)
{
    return (int)dev;
}

uint64_t hv_sys_now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

void hv_sys_sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

bool hv_sys_random(void *buf, size_t len)
{
    return len <= 0x7FFFFFFF && RAND_bytes(buf, (int)len) == 1;
}

bool hv_sys_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[32])
{
    unsigned int n = 0;

    return key_len <= 0x7FFFFFFF && HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n) != NULL &&
           n == 32;
}

int hv_sys_memcmp_ct(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len);
}

void hv_sys_wipe(void *buf, size_t len)
{
    OPENSSL_cleanse(buf, len);
}

int hv_sys_key_open(const char *path, bool *regular, bool *private_, unsigned *mode)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return -1;
    /* fstat on the opened file: no window between the check and the read. */
    if (fstat(fd, &st) < 0) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    *regular = S_ISREG(st.st_mode);
    *private_ = (st.st_mode & 077) == 0;
    *mode = (unsigned)(st.st_mode & 07777);
    return fd;
}

int hv_sys_key_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    /* The umask may have taken bits away, never added any; be explicit. */
    if (fd >= 0 && fchmod(fd, 0600) != 0) {
        int e = errno;

        close(fd);
        (void)unlink(path);
        errno = e;
        return -1;
    }
    return fd;
}

int hv_sys_file_open_append(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

ssize_t hv_sys_file_write(int fd, const void *buf, size_t len)
{
    return write(fd, buf, len);
}

int hv_sys_file_close(int fd)
{
    return close(fd);
}

int hv_sys_fifo_ensure(const char *path, char *why, size_t why_len)
{
    struct stat st;

    if (stat(path, &st) == 0) {
        if (S_ISFIFO(st.st_mode))
            return 0;
        snprintf(why, why_len, "exists and is not a named pipe (FIFO)");
        return -1;
    }
    if (errno != ENOENT || (mkfifo(path, 0600) != 0 && errno != EEXIST)) {
        snprintf(why, why_len, "cannot create the FIFO: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int hv_sys_fifo_open(const char *path)
{
    return open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
}

void hv_sys_ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

void hv_sys_block_sigpipe(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void hv_sys_consume_sigpipe(void)
{
    sigset_t set;
    struct timespec zero = { 0, 0 };

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    (void)sigtimedwait(&set, NULL, &zero);
}

const char *hv_sys_strerror(int err)
{
    return strerror(err);
}
