/* SPDX-License-Identifier: MIT */
/*
 * The client's OS services on Windows (mingw-w64): Winsock 2 with WSAPoll,
 * a loopback TCP pair where POSIX has a pipe (WSAPoll waits on sockets
 * only), and the system's own cryptography, BCrypt (bcrypt.dll). The
 * contracts are in sys.h.
 */
#include "sys.h"

#include <hvcore/abi_exec.h>

#include "hvcore_ioctl.h" /* platform/windows: the control codes */

#include <bcrypt.h>
#include <windows.h>

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS ((NTSTATUS)0)
#endif

static INIT_ONCE net_once = INIT_ONCE_STATIC_INIT;
static bool net_ok;

static BOOL CALLBACK net_start(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    WSADATA d;

    (void)once;
    (void)param;
    (void)ctx;
    net_ok = WSAStartup(MAKEWORD(2, 2), &d) == 0;
    return TRUE;
}

int hv_sys_net_init(void)
{
    InitOnceExecuteOnce(&net_once, net_start, NULL, NULL);
    if (!net_ok) {
        errno = ENETDOWN;
        return -1;
    }
    return 0;
}

/* Winsock's error of the last call as a POSIX errno value. */
static int map_wsa(int w)
{
    switch (w) {
    case WSAEWOULDBLOCK: return EWOULDBLOCK;
    case WSAEINPROGRESS: return EINPROGRESS;
    case WSAEALREADY: return EALREADY;
    case WSAEINTR: return EINTR;
    case WSAECONNRESET: return ECONNRESET;
    case WSAECONNABORTED: return ECONNABORTED;
    case WSAECONNREFUSED: return ECONNREFUSED;
    case WSAENOTCONN: return ENOTCONN;
    case WSAESHUTDOWN: return EPIPE;
    case WSAETIMEDOUT: return ETIMEDOUT;
    case WSAENETUNREACH: return ENETUNREACH;
    case WSAEHOSTUNREACH: return EHOSTUNREACH;
    case WSAEADDRINUSE: return EADDRINUSE;
    case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
    case WSAENOTSOCK: return EBADF;
    case WSAEBADF: return EBADF;
    case WSAEINVAL: return EINVAL;
    case WSAEMFILE: return EMFILE;
    case WSAENOBUFS: return ENOBUFS;
    case WSAEACCES: return EACCES;
    case WSAEAFNOSUPPORT: return EAFNOSUPPORT;
    case WSANOTINITIALISED: return ENETDOWN;
    case WSAENETDOWN: return ENETDOWN;
    case 0: return 0;
    default: return EIO;
    }
}

static int fail_wsa(void)
{
    errno = map_wsa(WSAGetLastError());
    return -1;
}

static SOCKET S(int fd)
{
    return fd < 0 ? INVALID_SOCKET : (SOCKET)(uintptr_t)(unsigned)fd;
}

static void set_nonblock(SOCKET s)
{
    u_long one = 1;

    (void)ioctlsocket(s, FIONBIO, &one);
}

/* A handle that child processes do not inherit (O_CLOEXEC's analogue). */
static int own_socket(SOCKET s)
{
    if (s == INVALID_SOCKET)
        return fail_wsa();
    (void)SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    return (int)(unsigned)s;
}

int hv_sys_tcp_socket(int family, bool nonblock)
{
    int fd;

    if (hv_sys_net_init() != 0)
        return -1;
    fd = own_socket(socket(family, SOCK_STREAM, IPPROTO_TCP));
    if (fd >= 0 && nonblock)
        set_nonblock(S(fd));
    return fd;
}

void hv_sys_sock_connected(int fd)
{
    set_nonblock(S(fd));
}

int hv_sys_sock_error(int fd)
{
    int err = 0, len = sizeof(err);

    if (getsockopt(S(fd), SOL_SOCKET, SO_ERROR, (char *)&err, &len) != 0)
        return map_wsa(WSAGetLastError());
    return map_wsa(err);
}

int hv_sys_sock_close(int fd)
{
    return closesocket(S(fd)) == 0 ? 0 : fail_wsa();
}

int hv_sys_sock_accept(int listen_fd, struct sockaddr_in *peer)
{
    int len = sizeof(*peer);
    int fd = own_socket(accept(S(listen_fd), (struct sockaddr *)peer, peer ? &len : NULL));

    if (fd >= 0)
        set_nonblock(S(fd));
    return fd;
}

int hv_sys_sock_dup(int fd)
{
    WSAPROTOCOL_INFOW info;
    SOCKET s;

    if (WSADuplicateSocketW(S(fd), GetCurrentProcessId(), &info) != 0)
        return fail_wsa();
    s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0, WSA_FLAG_OVERLAPPED);
    if (s != INVALID_SOCKET)
        set_nonblock(s);
    return own_socket(s);
}

void hv_sys_sock_shutdown(int fd)
{
    (void)shutdown(S(fd), SD_BOTH);
}

void hv_sys_sock_nodelay(int fd)
{
    BOOL one = TRUE;

    (void)setsockopt(S(fd), IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof(one));
}

void hv_sys_sock_adopt(int fd)
{
    if (hv_sys_net_init() == 0 && fd >= 0)
        set_nonblock(S(fd));
}

/* Sockets here are non-blocking (hv_sys_sock_connected): a plain send or
 * recv never blocks. Windows never raises a signal on a broken stream. */
ssize_t hv_sys_send_nb(int fd, const void *buf, size_t len)
{
    int n = send(S(fd), buf, len > 0x7FFFFFFF ? 0x7FFFFFFF : (int)len, 0);

    return n == SOCKET_ERROR ? fail_wsa() : n;
}

ssize_t hv_sys_send2_nb(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
    WSABUF bufs[2] = { { (ULONG)alen, (char *)(uintptr_t)a }, { (ULONG)blen, (char *)(uintptr_t)b } };
    DWORD sent = 0;

    if (WSASend(S(fd), bufs, blen ? 2 : 1, &sent, 0, NULL, NULL) == SOCKET_ERROR)
        return fail_wsa();
    return (ssize_t)sent;
}

ssize_t hv_sys_recv_nb(int fd, void *buf, size_t len, bool peek)
{
    int n = recv(S(fd), buf, len > 0x7FFFFFFF ? 0x7FFFFFFF : (int)len, peek ? MSG_PEEK : 0);

    return n == SOCKET_ERROR ? fail_wsa() : n;
}

ssize_t hv_sys_send(int fd, const void *buf, size_t len)
{
    return hv_sys_send_nb(fd, buf, len);
}

int hv_sys_poll(struct pollfd *fds, unsigned n, int timeout_ms)
{
    int r;

    if (n == 0) {
        /* WSAPoll refuses an empty set: a plain wait. */
        if (timeout_ms > 0)
            Sleep((DWORD)timeout_ms);
        return 0;
    }
    r = WSAPoll(fds, n, timeout_ms);
    return r == SOCKET_ERROR ? fail_wsa() : r;
}

/* socketpair() as Windows lacks it: listen on an ephemeral loopback port,
 * connect, accept; the listener goes away at once. */
int hv_sys_wake_pair(int fds[2])
{
    struct sockaddr_in a;
    int alen = sizeof(a);
    SOCKET l, c = INVALID_SOCKET, s = INVALID_SOCKET;

    fds[0] = fds[1] = -1;
    if (hv_sys_net_init() != 0)
        return -1;
    l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (l == INVALID_SOCKET)
        return fail_wsa();
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(l, (struct sockaddr *)&a, &alen) != 0 ||
        listen(l, 1) != 0)
        goto fail;
    c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (c == INVALID_SOCKET || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto fail;
    s = accept(l, NULL, NULL);
    if (s == INVALID_SOCKET)
        goto fail;
    closesocket(l);
    set_nonblock(s);
    set_nonblock(c);
    fds[0] = own_socket(s);
    fds[1] = own_socket(c);
    return 0;
fail:
    fail_wsa();
    {
        int e = errno;

        if (c != INVALID_SOCKET)
            closesocket(c);
        closesocket(l);
        errno = e;
    }
    return -1;
}

ssize_t hv_sys_wake_write(int fd, const void *buf, size_t len)
{
    return hv_sys_send_nb(fd, buf, len);
}

ssize_t hv_sys_wake_read(int fd, void *buf, size_t len)
{
    return hv_sys_recv_nb(fd, buf, len, false);
}

void hv_sys_wake_close(int fd)
{
    if (fd >= 0)
        (void)closesocket(S(fd));
}

/* ---- The local driver: \\.\hvcore --------------------------------------- */

intptr_t hv_sys_dev_open(hv_status_t *st)
{
    /* Overlapped: a read waits with a timeout and can be cancelled. */
    HANDLE h = CreateFileA("\\\\.\\hvcore", GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED, NULL);
    DWORD e;

    if (h != INVALID_HANDLE_VALUE) {
        *st = HV_STATUS_SUCCESS;
        return (intptr_t)h;
    }
    e = GetLastError();
    *st = e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? HV_STATUS_DEVICE_CONNECTION_LOST
          : e == ERROR_ACCESS_DENIED                              ? HV_STATUS_ACCESS_DENIED
                                                                  : HV_STATUS_READ_FAILED;
    return -1;
}

void hv_sys_dev_close(intptr_t dev)
{
    if (dev != -1)
        CloseHandle((HANDLE)dev);
}

/* Wait for an overlapped call on dev; false on timeout (cancelled). */
static bool dev_wait(HANDLE dev, OVERLAPPED *ov, DWORD ms, DWORD *got)
{
    if (WaitForSingleObject(ov->hEvent, ms) != WAIT_OBJECT_0) {
        CancelIoEx(dev, ov);
        (void)GetOverlappedResult(dev, ov, got, TRUE);
        SetLastError(WAIT_TIMEOUT);
        return false;
    }
    return GetOverlappedResult(dev, ov, got, FALSE) != 0;
}

hv_status_t hv_sys_dev_request(intptr_t dev, uint32_t request, void *buf, size_t cap, size_t *resp_len)
{
    struct hv_abi_header *h = buf;
    OVERLAPPED ov;
    DWORD got = 0, e;
    BOOL ok;

    *resp_len = 0;
    if (request == 0 || request > 0x7FFu || h->size > cap || cap > 0xFFFFFFFFu)
        return HV_STATUS_INVALID_PARAMETER;
    memset(&ov, 0, sizeof(ov));
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    if (ov.hEvent == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    /* METHOD_BUFFERED, the request in and the answer out of one buffer. */
    ok = DeviceIoControl((HANDLE)dev, HVCORE_WIN_CTL(request), buf, h->size, buf, (DWORD)cap, &got, &ov);
    if (!ok && GetLastError() == ERROR_IO_PENDING)
        ok = dev_wait((HANDLE)dev, &ov, INFINITE, &got);
    e = ok ? 0 : GetLastError();
    CloseHandle(ov.hEvent);
    if (!ok)
        return e == ERROR_INVALID_PARAMETER ? HV_STATUS_INVALID_PARAMETER
               : e == ERROR_NOT_ENOUGH_MEMORY || e == ERROR_NO_SYSTEM_RESOURCES ? HV_STATUS_INSUFFICIENT_RESOURCES
               : e == ERROR_INVALID_HANDLE || e == ERROR_DEVICE_REMOVED ? HV_STATUS_DEVICE_CONNECTION_LOST
                                                                           : HV_STATUS_WRITE_FAILED;
    if (got < sizeof(*h) || got > cap)
        return HV_STATUS_INVALID_PACKET;
    *resp_len = got;
    return h->status;
}

hv_status_t hv_sys_dev_read(intptr_t dev, void *records, size_t record_size, uint32_t max, uint32_t *n,
                            int timeout_ms)
{
    OVERLAPPED ov;
    DWORD got = 0, e;
    BOOL ok;

    *n = 0;
    if ((size_t)max * record_size > 0xFFFFFFFFu)
        return HV_STATUS_INVALID_PARAMETER;
    memset(&ov, 0, sizeof(ov));
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    if (ov.hEvent == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    ok = ReadFile((HANDLE)dev, records, (DWORD)((size_t)max * record_size), &got, &ov);
    if (!ok && GetLastError() == ERROR_IO_PENDING)
        ok = dev_wait((HANDLE)dev, &ov, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms, &got);
    e = ok ? 0 : GetLastError();
    CloseHandle(ov.hEvent);
    if (!ok)
        return e == WAIT_TIMEOUT || e == ERROR_OPERATION_ABORTED ? HV_STATUS_TIMEOUT : HV_STATUS_READ_FAILED;
    *n = (uint32_t)(got / record_size);
    return HV_STATUS_SUCCESS;
}

int hv_sys_dev_pollfd(intptr_t dev)
{
    (void)dev;
    return -1;
}

uint64_t hv_sys_now_ms(void)
{
    return (uint64_t)GetTickCount64();
}

void hv_sys_sleep_ms(unsigned ms)
{
    Sleep(ms);
}

bool hv_sys_random(void *buf, size_t len)
{
    return len <= 0xFFFFFFFFu &&
           BCryptGenRandom(NULL, buf, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == STATUS_SUCCESS;
}

bool hv_sys_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[32])
{
    BCRYPT_ALG_HANDLE alg = NULL;
    BCRYPT_HASH_HANDLE h = NULL;
    bool ok = false;

    if (key_len > 0xFFFFFFFFu || msg_len > 0xFFFFFFFFu)
        return false;
    if (BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, NULL, BCRYPT_ALG_HANDLE_HMAC_FLAG) !=
        STATUS_SUCCESS)
        return false;
    /* No object buffer: BCrypt allocates it (Windows 7 and later). */
    if (BCryptCreateHash(alg, &h, NULL, 0, (PUCHAR)(uintptr_t)key, (ULONG)key_len, 0) != STATUS_SUCCESS)
        goto close_alg;
    ok = BCryptHashData(h, (PUCHAR)(uintptr_t)msg, (ULONG)msg_len, 0) == STATUS_SUCCESS &&
         BCryptFinishHash(h, out, 32, 0) == STATUS_SUCCESS;
    BCryptDestroyHash(h);
close_alg:
    BCryptCloseAlgorithmProvider(alg, 0);
    return ok;
}

int hv_sys_memcmp_ct(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    size_t i;

    for (i = 0; i < len; i++)
        d |= (uint8_t)(x[i] ^ y[i]);
    return d != 0;
}

void hv_sys_wipe(void *buf, size_t len)
{
    SecureZeroMemory(buf, len);
}

int hv_sys_key_open(const char *path, bool *regular, bool *private_, unsigned *mode)
{
    struct _stat64 st;
    int fd = _open(path, _O_RDONLY | _O_BINARY | _O_NOINHERIT);

    if (fd < 0)
        return -1;
    if (_fstat64(fd, &st) < 0) {
        int e = errno;

        _close(fd);
        errno = e;
        return -1;
    }
    *regular = (st.st_mode & _S_IFMT) == _S_IFREG;
    /* The mode bits of a Windows file say nothing about who may read it:
     * its ACL does (inherited from the directory unless set). */
    *private_ = true;
    *mode = (unsigned)(st.st_mode & 0777);
    return fd;
}

int hv_sys_key_create(const char *path)
{
    return _open(path, _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT, _S_IREAD | _S_IWRITE);
}

int hv_sys_file_open_append(const char *path)
{
    /* Scripts written for Linux name the standard streams this way. */
    if (!strcmp(path, "/dev/stdout"))
        return _dup(1);
    if (!strcmp(path, "/dev/stderr"))
        return _dup(2);
    return _open(path, _O_WRONLY | _O_APPEND | _O_CREAT | _O_BINARY | _O_NOINHERIT, _S_IREAD | _S_IWRITE);
}

ssize_t hv_sys_file_write(int fd, const void *buf, size_t len)
{
    return _write(fd, buf, len > 0x7FFFFFFF ? 0x7FFFFFFF : (unsigned)len);
}

int hv_sys_file_close(int fd)
{
    return _close(fd);
}

int hv_sys_fifo_ensure(const char *path, char *why, size_t why_len)
{
    (void)path;
    snprintf(why, why_len, "named pipes (FIFOs) are not available in the Windows build: use a file or tcp output");
    return -1;
}

int hv_sys_fifo_open(const char *path)
{
    (void)path;
    errno = ENOSYS;
    return -1;
}

void hv_sys_ignore_sigpipe(void)
{
}

void hv_sys_block_sigpipe(void)
{
}

void hv_sys_consume_sigpipe(void)
{
}

/* The C library's strerror knows the classic errno values only; the
 * socket ones map_wsa produces get their POSIX sentence here. */
const char *hv_sys_strerror(int err)
{
    switch (err) {
    case EWOULDBLOCK: return "Operation would block";
    case EINPROGRESS: return "Operation now in progress";
    case EALREADY: return "Operation already in progress";
    case ECONNRESET: return "Connection reset by peer";
    case ECONNABORTED: return "Software caused connection abort";
    case ECONNREFUSED: return "Connection refused";
    case ENOTCONN: return "Transport endpoint is not connected";
    case ETIMEDOUT: return "Connection timed out";
    case ENETUNREACH: return "Network is unreachable";
    case EHOSTUNREACH: return "No route to host";
    case EADDRINUSE: return "Address already in use";
    case EADDRNOTAVAIL: return "Cannot assign requested address";
    case ENOBUFS: return "No buffer space available";
    case EAFNOSUPPORT: return "Address family not supported by protocol";
    case ENETDOWN: return "Network is down (Winsock not started)";
    default: return strerror(err);
    }
}
