// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * dbgguest: the guest's side of the Debugger Mode e2e (test/e2e/dbg.sh).
 * The host drives the hypervisor's stub over COM1; the guest can only show
 * what it sees, on its console (COM2, the serial log the host reads).
 *
 *   dbgguest tick CPU SECONDS
 *       pinned to CPU, print "TICK cpu=CPU n=N up=UPTIME" every 250 ms of
 *       guest time for SECONDS: while the debugger holds every core, no
 *       TICK line may appear.
 *   dbgguest dr CPU SECONDS
 *       pinned to CPU, print "DBG-DR pid=P cpu=CPU ready", then every 300 ms
 *       set a hardware write breakpoint on a variable of its own through
 *       perf_event_open (the kernel writes DR0..DR7 for this process: MOV-DR
 *       exits a `!dr pid P` event sees), write the variable, close it, and
 *       print "DBG-DR round=N"; for SECONDS.
 *   dbgguest msrwait CPU MSR SECONDS
 *       read MSR on CPU (/dev/cpu/CPU/msr, the kernel's msr driver), print
 *       "DBG-MSR-ORIG cpu=.. msr=.. value=..", then poll every 100 ms until it
 *       changes; print "DBG-MSR-CHANGED cpu=.. msr=.. value=.. after=SECONDS",
 *       write the original back ("DBG-MSR-RESTORED ..."), exit 0; exit 1 with
 *       "DBG-MSR-UNCHANGED" after SECONDS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "guest_util.h"


static double uptime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pin(int cpu)
{
	if (guest_pin(cpu)) {
		fprintf(stderr, "dbgguest: cannot pin to cpu %d: %s\n", cpu, strerror(errno));
		return -1;
	}
	return 0;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line: lines of concurrent programs never interleave. */
	if (write(1, line, (size_t)n) < 0)
		return;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int tick(int cpu, double seconds)
{
	double end = guest_now() + seconds;
	unsigned long n = 0;

	if (pin(cpu))
		return 1;
	while (guest_now() < end) {
		say("TICK cpu=%d n=%lu up=%.2f", cpu, n++, uptime());
		sleep_ms(250);
	}
	return 0;
}

static volatile uint64_t watched;

static int dr(int cpu, double seconds)
{
	double end = guest_now() + seconds;
	unsigned long round = 0;

	if (pin(cpu))
		return 1;
	say("DBG-DR pid=%d cpu=%d ready", (int)getpid(), cpu);
	while (guest_now() < end) {
		int fd = guest_hw_watch_open(&watched, 0);

		if (fd < 0) {
			say("DBG-DR perf_event_open failed: %s", strerror(errno));
			return 1;
		}
		watched = round;
		close(fd);
		say("DBG-DR round=%lu cpu=%d", round++, sched_getcpu());
		sleep_ms(300);
	}
	return 0;
}

static int msr_rw(int cpu, uint32_t msr, uint64_t *v, int write_it)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/dev/cpu/%d/msr", cpu);
	fd = open(path, write_it ? O_WRONLY : O_RDONLY);
	if (fd < 0)
		return -1;
	n = write_it ? pwrite(fd, v, 8, msr) : pread(fd, v, 8, msr);
	close(fd);
	return n == 8 ? 0 : -1;
}

static int msrwait(int cpu, uint32_t msr, double seconds)
{
	uint64_t orig, v;
	double t0 = guest_now();

	if (msr_rw(cpu, msr, &orig, 0)) {
		say("DBG-MSR-ERROR cpu=%d msr=%#x: cannot read: %s", cpu, msr, strerror(errno));
		return 1;
	}
	say("DBG-MSR-ORIG cpu=%d msr=%#x value=%#" PRIx64, cpu, msr, orig);
	while (guest_now() - t0 < seconds) {
		if (msr_rw(cpu, msr, &v, 0) == 0 && v != orig) {
			say("DBG-MSR-CHANGED cpu=%d msr=%#x value=%#" PRIx64 " after=%.1f", cpu, msr, v, guest_now() - t0);
			if (msr_rw(cpu, msr, &orig, 1) == 0 && msr_rw(cpu, msr, &v, 0) == 0 && v == orig)
				say("DBG-MSR-RESTORED cpu=%d msr=%#x value=%#" PRIx64, cpu, msr, v);
			else
				say("DBG-MSR-ERROR cpu=%d msr=%#x: cannot restore %#" PRIx64, cpu, msr, orig);
			return 0;
		}
		sleep_ms(100);
	}
	say("DBG-MSR-UNCHANGED cpu=%d msr=%#x value=%#" PRIx64 " for %.0f s", cpu, msr, orig, seconds);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "tick"))
		return tick(atoi(argv[2]), atof(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "dr"))
		return dr(atoi(argv[2]), atof(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "msrwait"))
		return msrwait(atoi(argv[2]), (uint32_t)strtoul(argv[3], NULL, 0), atof(argv[4]));
	fprintf(stderr, "usage: dbgguest tick CPU SECONDS | dr CPU SECONDS | msrwait CPU MSR SECONDS\n");
	return 2;
}
