/*
 * Static guest test program (the guest has only busybox): pins itself to each
 * online CPU in turn and checks CPUID.1:ECX.VMX[bit 5].
 * Build: test/e2e/build-static.sh -o vmxcheck test/e2e/selftest/vmxcheck.c
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int vmx = 0;

	for (long cpu = 0; cpu < ncpu; cpu++) {
		cpu_set_t set;
		unsigned int a, b, c, d;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0) {
			perror("vmxcheck: sched_setaffinity");
			return 2;
		}
		__cpuid(1, a, b, c, d);
		printf("vmxcheck: cpu %ld: CPUID.1:ECX=%#x vmx=%u\n", cpu, c, (c >> 5) & 1);
		vmx += (c >> 5) & 1;
	}
	printf("vmxcheck: %d/%ld cpus report VMX\n", vmx, ncpu);
	return vmx == ncpu ? 0 : 1;
}
