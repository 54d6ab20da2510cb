/* SPDX-License-Identifier: MIT */
/*
 * The client's few OS services, one header for both systems:
 * sys_posix.c (Linux: BSD sockets, poll, pipes, OpenSSL libcrypto) and
 * sys_win32.c (Windows: Winsock 2 with WSAPoll, a loopback socket pair for
 * wake-ups, BCrypt). CMake compiles exactly one of them; the rest of the
 * client calls only these and never tests which system it runs on.
 *
 * Sockets are ints on both systems. A Windows SOCKET is a kernel handle,
 * and handles have 32 significant bits on 64-bit Windows (they are shared
 * with 32-bit processes: "Interprocess Communication Between 32-bit and
 * 64-bit Applications", Win32 docs), so the cast is lossless.
 * Every function that fails returns -1 (or false) with errno set to a POSIX
 * value (EAGAIN, EINTR, EINPROGRESS, ECONNRESET, ...), whatever the system.
 * Internal to hvcore_client: not installed.
 */
#ifndef HVCORE_CLIENT_SYS_H
#define HVCORE_CLIENT_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <hvcore/status.h>

#ifdef _WIN32
/* Vista's Winsock (WSAPoll, inet_pton) and BCrypt. */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif
#include <winsock2.h> /* struct pollfd, POLLIN, POLLOUT: WSAPoll's */
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#endif

/* Start the socket layer once per process (WSAStartup); 0 or -1. */
int hv_sys_net_init(void);

/* A TCP socket of `family`, non-blocking when `nonblock` (close-on-exec). */
int hv_sys_tcp_socket(int family, bool nonblock);
/* After a non-blocking connect completed: the socket in the mode its
 * users expect (POSIX: blocking again, each send/recv passing MSG_DONTWAIT;
 * Windows has no per-call MSG_DONTWAIT, so it stays non-blocking and every
 * wait is a poll). */
void hv_sys_sock_connected(int fd);
/* The pending error of a socket (SO_ERROR) as an errno value; 0 none. */
int hv_sys_sock_error(int fd);
int hv_sys_sock_close(int fd);
/* accept(2), the peer's address into *peer when not NULL; close-on-exec,
 * and in the same I/O mode as a connected socket (hv_sys_sock_connected). */
int hv_sys_sock_accept(int listen_fd, struct sockaddr_in *peer);
/* A second descriptor for the same socket (closed separately). */
int hv_sys_sock_dup(int fd);
/* shutdown(SHUT_RDWR): wakes whoever waits on the socket. */
void hv_sys_sock_shutdown(int fd);
/* TCP_NODELAY: answers go out at once, not after the peer's delayed ACK. */
void hv_sys_sock_nodelay(int fd);
/* A socket handed in by a caller (hv_wire_conn_from_fd, accepted ones). */
void hv_sys_sock_adopt(int fd);

/* Never blocking, never raising SIGPIPE. send2: two buffers in one call. */
ssize_t hv_sys_send_nb(int fd, const void *buf, size_t len);
ssize_t hv_sys_send2_nb(int fd, const void *a, size_t alen, const void *b, size_t blen);
ssize_t hv_sys_recv_nb(int fd, void *buf, size_t len, bool peek);
/* Blocking-mode send (the output writer's TCP peer), without SIGPIPE. */
ssize_t hv_sys_send(int fd, const void *buf, size_t len);

/* poll(2) / WSAPoll over sockets and hv_sys_wake_pair ends. */
int hv_sys_poll(struct pollfd *fds, unsigned n, int timeout_ms);

/* A non-blocking pair: fds[0] becomes readable (POLLIN) when fds[1] is
 * written. POSIX: a pipe; Windows: a connected loopback TCP pair, as WSAPoll
 * takes only sockets. */
int hv_sys_wake_pair(int fds[2]);
ssize_t hv_sys_wake_write(int fd, const void *buf, size_t len);
ssize_t hv_sys_wake_read(int fd, void *buf, size_t len);
void hv_sys_wake_close(int fd);

/* The local driver: Linux /dev/hvcore (ioctl, read), Windows \\.\hvcore
 * (DeviceIoControl, overlapped ReadFile). A handle, -1 when none. */
intptr_t hv_sys_dev_open(hv_status_t *st);
void hv_sys_dev_close(intptr_t dev);
/* One hv_abi request (hv_abi_request kind), answered in place in buf; the
 * request's own status, or the transport's (INVALID_PARAMETER,
 * INSUFFICIENT_RESOURCES, DEVICE_CONNECTION_LOST, WRITE_FAILED). */
hv_status_t hv_sys_dev_request(intptr_t dev, uint32_t request, void *buf, size_t cap, size_t *resp_len);
/* Whole records, waiting up to timeout_ms (-1: no limit); TIMEOUT when
 * none came, READ_FAILED when the driver refused. */
hv_status_t hv_sys_dev_read(intptr_t dev, void *records, size_t record_size, uint32_t max, uint32_t *n,
                            int timeout_ms);
/* A descriptor poll() can wait on for records, or -1 (Windows: none;
 * hv_sys_dev_read waits itself). */
int hv_sys_dev_pollfd(intptr_t dev);

/* Monotonic clock and a sleep. */
uint64_t hv_sys_now_ms(void);
void hv_sys_sleep_ms(unsigned ms);

/* Cryptography from the system's library (OpenSSL libcrypto / BCrypt). */
bool hv_sys_random(void *buf, size_t len);
bool hv_sys_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[32]);
/* Constant-time comparison: 0 when equal. */
int hv_sys_memcmp_ct(const void *a, const void *b, size_t len);
/* Zeroing the compiler may not remove. */
void hv_sys_wipe(void *buf, size_t len);

/* Key files. Open for reading: -1 with errno, or the fd; *private_ is
 * false when others may read it (POSIX: a group/other mode bit, *mode set;
 * Windows: mode bits say nothing, the file's ACL decides, so true). */
int hv_sys_key_open(const char *path, bool *regular, bool *private_, unsigned *mode);
/* Create a new file only its owner may read (O_EXCL, no symlink follow). */
int hv_sys_key_create(const char *path);

/* Files the output writer appends to: 0600 when created; "/dev/stdout"
 * and "/dev/stderr" name the standard streams on every system. */
int hv_sys_file_open_append(const char *path);
ssize_t hv_sys_file_write(int fd, const void *buf, size_t len);
int hv_sys_file_close(int fd);
/* A FIFO: created 0600 if missing (0, or -1 with why), then opened for
 * writing without blocking (the fd, or -1 with errno; ENXIO: no reader). */
int hv_sys_fifo_ensure(const char *path, char *why, size_t why_len);
int hv_sys_fifo_open(const char *path);

/* SIGPIPE: ignored for the process (serve), blocked in the calling thread
 * (the output writer), a pending one consumed after EPIPE. Windows has no
 * SIGPIPE: nothing to do there. */
void hv_sys_ignore_sigpipe(void);
void hv_sys_block_sigpipe(void);
void hv_sys_consume_sigpipe(void);
/* Text for an errno value, socket errors included. */
const char *hv_sys_strerror(int err);

#endif
