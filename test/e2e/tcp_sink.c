/*
 * A TCP listener for the forwarding integration test: listens on
 * 127.0.0.1 (port 0: the system picks one), writes the port to PORTFILE,
 * then accepts connections one after the other and appends every byte
 * they send to OUTFILE, until SECONDS have passed or SIGTERM/SIGINT.
 *
 *   tcp_sink PORTFILE OUTFILE SECONDS
 *
 * Loopback only; bounded in time; no dependency beyond libc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    FILE *pf, *out;
    time_t end;
    int lfd, one = 1, conn = -1;

    if (argc != 4) {
        fprintf(stderr, "usage: tcp_sink PORTFILE OUTFILE SECONDS\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    end = time(NULL) + atoi(argv[3]);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 4) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &len) != 0) {
        perror("tcp_sink: listen");
        return 1;
    }
    out = fopen(argv[2], "ab");
    pf = fopen(argv[1], "w");
    if (out == NULL || pf == NULL) {
        perror("tcp_sink: open");
        return 1;
    }
    fprintf(pf, "%u\n", ntohs(a.sin_port));
    fclose(pf);
    while (!stop && time(NULL) < end) {
        struct pollfd p = { .fd = conn >= 0 ? conn : lfd, .events = POLLIN };
        char buf[4096];
        ssize_t k;

        if (poll(&p, 1, 100) <= 0)
            continue;
        if (conn < 0) {
            conn = accept(lfd, NULL, NULL);
            continue;
        }
        k = read(conn, buf, sizeof(buf));
        if (k <= 0) {
            close(conn);
            conn = -1;
            continue;
        }
        fwrite(buf, 1, (size_t)k, out);
        fflush(out);
    }
    if (conn >= 0)
        close(conn);
    close(lfd);
    fclose(out);
    return 0;
}
