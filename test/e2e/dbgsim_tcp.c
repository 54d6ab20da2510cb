// SPDX-License-Identifier: MIT
/*
 * dbgsim_tcp: the Debugger Mode stub on the mock machine (hvcore::testing,
 * hvcore/testing/dbg_sim.h) behind a TCP listener on 127.0.0.1, the way
 * Bochs puts the emulated target's COM1 behind one. The e2e (dbg_host.sh)
 * times the same request here and over the emulated serial line: the same
 * stub code, over TCP instead of a 16550 at 115200 baud.
 *
 * usage: dbgsim_tcp PORT [SECONDS]
 * Listens on 127.0.0.1:PORT, prints "dbgsim_tcp: listening on 127.0.0.1:PORT",
 * takes ONE connection (as Bochs does: put dbgrelay.py in front for more)
 * and serves the sim (2 cores) on it until the peer closes or SECONDS
 * (default 600) pass. Exits 0, or 1 with a message.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hvcore/status.h>
#include <hvcore/testing/dbg_sim.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct hv_mock_dbg_sim_config cfg;
	struct hv_mock_dbg_sim *sim = NULL;
	int one = 1, ls, fd, seconds = argc > 2 ? atoi(argv[2]) : 600;
	hv_status_t st;
	time_t end;

	if (argc < 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535 || seconds <= 0) {
		fprintf(stderr, "usage: dbgsim_tcp PORT [SECONDS]\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1)) {
		perror("dbgsim_tcp: listen");
		return 1;
	}
	printf("dbgsim_tcp: listening on 127.0.0.1:%s\n", argv[1]);
	fflush(stdout);
	fd = accept(ls, NULL, NULL);
	if (fd < 0) {
		perror("dbgsim_tcp: accept");
		return 1;
	}
	close(ls);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	hv_mock_dbg_sim_config_init(&cfg);
	cfg.fd = fd;
	st = hv_mock_dbg_sim_start(&cfg, &sim);
	if (!hv_success(st)) {
		fprintf(stderr, "dbgsim_tcp: hv_mock_dbg_sim_start: %s (0x%08x)\n", hv_status_name(st), st);
		return 1;
	}
	printf("dbgsim_tcp: serving the sim (%u cores) on the connection\n", cfg.ncores);
	fflush(stdout);
	/* POLLRDHUP reports the peer's close without taking the sim's bytes. */
	end = time(NULL) + seconds;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLRDHUP };

		if (poll(&p, 1, 500) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			break;
		if (time(NULL) >= end)
			break;
	}
	hv_mock_dbg_sim_stop(sim);
	close(fd);
	printf("dbgsim_tcp: done\n");
	return 0;
}
