// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * serprobe: the guest half of the serial-line measurements of the debugger
 * e2e (test/e2e/dbg.sh, DESIGN.md 7): the host drives it over COM1, which
 * Bochs exposes as a TCP socket-server.
 *
 * usage: serprobe DEVICE        (e.g. /dev/ttyS0; the line is set raw, 115200 8N1)
 * Writes "READY\n", then obeys one-byte commands from the host:
 *   'e'        echo every following byte until 'x' (round trips)
 *   's' N(4)   send N bytes (little-endian count), then report the guest time
 *   'r' N(4)   receive N bytes, answer 'K'
 *   'q'        quit
 * Every read waits at most 120 s (a host that went away ends the probe).
 * Guest-time figures go to stdout as "SERPROBE ..." lines.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int fd;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int get(uint8_t *b)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 120000) != 1)
		return -1;
	return read(fd, b, 1) == 1 ? 0 : -1;
}

static int put(const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int get_count(uint32_t *n)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		if (get(&b[i]))
			return -1;
	*n = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

int main(int argc, char **argv)
{
	struct termios t;
	uint8_t c, buf[256];

	if (argc != 2) {
		fprintf(stderr, "usage: serprobe DEVICE\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_NOCTTY);
	if (fd < 0 || tcgetattr(fd, &t)) {
		perror(argv[1]);
		return 1;
	}
	cfmakeraw(&t);
	cfsetispeed(&t, B115200);
	cfsetospeed(&t, B115200);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~CRTSCTS;
	if (tcsetattr(fd, TCSANOW, &t)) {
		perror("tcsetattr");
		return 1;
	}
	tcflush(fd, TCIOFLUSH);
	put("READY\n", 6);
	printf("SERPROBE ready on %s\n", argv[1]);
	fflush(stdout);
	for (;;) {
		if (get(&c)) {
			printf("SERPROBE host silent for 120 s: quitting\n");
			return 1;
		}
		if (c == 'q') {
			printf("SERPROBE quit\n");
			return 0;
		} else if (c == 'e') {
			unsigned n = 0;
			double t0 = now();
			while (!get(&c) && c != 'x') {
				put(&c, 1);
				n++;
			}
			printf("SERPROBE echoed %u bytes in %.3f s guest time\n", n, now() - t0);
		} else if (c == 's' || c == 'r') {
			uint32_t n, done = 0;
			double t0;

			if (get_count(&n))
				return 1;
			t0 = now();
			memset(buf, 'A', sizeof(buf));
			while (done < n) {
				uint32_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);
				if (c == 's' ? put(buf, k) : (get(buf) ? -1 : (int)(k = 1, 0)))
					return 1;
				done += k;
			}
			if (c == 's')
				tcdrain(fd);
			else
				put("K", 1);
			double dt = now() - t0;
			printf("SERPROBE %s %u bytes in %.3f s guest time (%.0f bytes/s)\n", c == 's' ? "sent" : "received", n,
			       dt, dt > 0 ? n / dt : 0.0);
		}
		fflush(stdout);
	}
}
