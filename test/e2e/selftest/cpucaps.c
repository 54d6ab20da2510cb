/*
 * Static guest program: prints what the emulated CPU offers a hypervisor - the
 * VMX capability MSRs (IA32_VMX_BASIC .. IA32_VMX_VMFUNC, 0x480-0x492) and the
 * CPUID bits and controls of the modern features that issue 11 cares about.
 * Reads MSRs through the kernel's msr driver (/dev/cpu/N/msr: insmod msr.ko
 * first), on CPU 0 unless a CPU number is given. Every output line starts with
 * "cpucaps|" so a host script can pick them out of the serial log; the layout is
 * Markdown (test/e2e/MODELS.md is made of it).
 * Exit status: 0, or 1 if the MSRs cannot be read at all.
 * Build: test/e2e/build-static.sh -o cpucaps test/e2e/selftest/cpucaps.c
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int msr_fd = -1;

/* 0 and *ok=0 when the read faults (#GP becomes EIO in the msr driver). */
static uint64_t rdmsr(uint32_t idx, int *ok)
{
	uint64_t v = 0;

	*ok = pread(msr_fd, &v, sizeof(v), idx) == (ssize_t)sizeof(v);
	return *ok ? v : 0;
}

static void cpuid2(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static const struct {
	uint32_t idx;
	const char *name;
} vmx_msrs[] = {
	{ 0x480, "IA32_VMX_BASIC" },
	{ 0x481, "IA32_VMX_PINBASED_CTLS" },
	{ 0x482, "IA32_VMX_PROCBASED_CTLS" },
	{ 0x483, "IA32_VMX_EXIT_CTLS" },
	{ 0x484, "IA32_VMX_ENTRY_CTLS" },
	{ 0x485, "IA32_VMX_MISC" },
	{ 0x486, "IA32_VMX_CR0_FIXED0" },
	{ 0x487, "IA32_VMX_CR0_FIXED1" },
	{ 0x488, "IA32_VMX_CR4_FIXED0" },
	{ 0x489, "IA32_VMX_CR4_FIXED1" },
	{ 0x48a, "IA32_VMX_VMCS_ENUM" },
	{ 0x48b, "IA32_VMX_PROCBASED_CTLS2" },
	{ 0x48c, "IA32_VMX_EPT_VPID_CAP" },
	{ 0x48d, "IA32_VMX_TRUE_PINBASED_CTLS" },
	{ 0x48e, "IA32_VMX_TRUE_PROCBASED_CTLS" },
	{ 0x48f, "IA32_VMX_TRUE_EXIT_CTLS" },
	{ 0x490, "IA32_VMX_TRUE_ENTRY_CTLS" },
	{ 0x491, "IA32_VMX_VMFUNC" },
	{ 0x492, "IA32_VMX_PROCBASED_CTLS3" },
};

#define P(...) printf("cpucaps|" __VA_ARGS__)

static const char *yesno(int b)
{
	return b ? "yes" : "no";
}

int main(int argc, char **argv)
{
	int cpu = argc > 1 ? atoi(argv[1]) : 0;
	char path[64];
	uint64_t m[0x493 - 0x480] = { 0 };
	int okm[0x493 - 0x480] = { 0 };
	uint32_t r[4], l7[4], l7_1[4], d1[4], la[4], l1[4], l0[4];
	char brand[49] = { 0 };
	int ok;

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* CPUID on the same CPU */

	snprintf(path, sizeof(path), "/dev/cpu/%d/msr", cpu);
	msr_fd = open(path, O_RDONLY);
	if (msr_fd < 0) {
		P("ERROR: open %s: %s (insmod msr.ko first)\n", path, strerror(errno));
		return 1;
	}

	cpuid2(0, 0, l0);
	cpuid2(1, 0, l1);
	cpuid2(7, 0, l7);
	cpuid2(7, 1, l7_1);
	cpuid2(0xd, 1, d1);
	cpuid2(0xa, 0, la);
	cpuid2(0x80000000, 0, r);
	if (r[0] >= 0x80000004)
		for (uint32_t i = 0; i < 3; i++)
			cpuid2(0x80000002 + i, 0, (uint32_t *)(brand + 16 * i));

	P("## CPU %d: %s (CPUID.1:EAX 0x%x, max leaf 0x%x)\n", cpu, brand, l1[0], l0[0]);
	P("\n");
	P("### VMX capability MSRs\n");
	P("\n");
	P("| MSR | name | value | allowed-0 (must be 1) | allowed-1 (may be 1) |\n");
	P("| --- | --- | --- | --- | --- |\n");
	for (size_t i = 0; i < sizeof(vmx_msrs) / sizeof(vmx_msrs[0]); i++) {
		uint32_t idx = vmx_msrs[i].idx;
		uint64_t v = rdmsr(idx, &ok);
		int ctl = (idx >= 0x481 && idx <= 0x484) || idx == 0x48b || (idx >= 0x48d && idx <= 0x490);

		m[idx - 0x480] = v;
		okm[idx - 0x480] = ok;
		if (!ok)
			P("| 0x%x | %s | #GP | | |\n", idx, vmx_msrs[i].name);
		else if (ctl)
			P("| 0x%x | %s | 0x%016" PRIx64 " | 0x%08x | 0x%08x |\n", idx, vmx_msrs[i].name, v,
			  (uint32_t)v, (uint32_t)(v >> 32));
		else
			P("| 0x%x | %s | 0x%016" PRIx64 " | | |\n", idx, vmx_msrs[i].name, v);
	}
	/* Decoded. */
	uint64_t basic = m[0], ept = m[0xc];
	int true_ctls = (basic >> 55) & 1;
	uint32_t pin1 = (uint32_t)(m[true_ctls ? 0xd : 0x1] >> 32);
	uint32_t proc1 = (uint32_t)(m[true_ctls ? 0xe : 0x2] >> 32);
	uint32_t exit1 = (uint32_t)(m[true_ctls ? 0xf : 0x3] >> 32);
	uint32_t entry1 = (uint32_t)(m[true_ctls ? 0x10 : 0x4] >> 32);
	uint32_t proc2 = (proc1 >> 31) & 1 ? (uint32_t)(m[0xb] >> 32) : 0;

	P("\n");
	P("VMCS revision 0x%x, region %u bytes, TRUE controls %s; allowed-1 (TRUE MSRs when present): "
	  "pin 0x%x, primary 0x%x, secondary 0x%x, exit 0x%x, entry 0x%x\n",
	  (uint32_t)(basic & 0x7fffffff), (uint32_t)((basic >> 32) & 0x1fff), yesno(true_ctls), pin1, proc1,
	  proc2, exit1, entry1);
	P("\n");
	P("EPT/VPID caps 0x%" PRIx64 ": execute-only %s, 4-level walk %s, 5-level walk %s, WB %s, "
	  "2M pages %s, 1G pages %s, INVEPT %s (single %s, all %s), A/D %s, "
	  "INVVPID %s (addr %s, single %s, all %s, single-keep-globals %s)\n",
	  ept, yesno(ept & 1), yesno(ept >> 6 & 1), yesno(ept >> 7 & 1), yesno(ept >> 14 & 1), yesno(ept >> 16 & 1),
	  yesno(ept >> 17 & 1), yesno(ept >> 20 & 1), yesno(ept >> 25 & 1), yesno(ept >> 26 & 1), yesno(ept >> 21 & 1),
	  yesno(ept >> 32 & 1), yesno(ept >> 40 & 1), yesno(ept >> 41 & 1), yesno(ept >> 42 & 1), yesno(ept >> 43 & 1));
	P("\n");
	P("IA32_VMX_VMFUNC %s\n", okm[0x11] ? "readable" : "#GP");
	P("\n");

	/* Modern features: CPUID bit and the VMX control that goes with it. */
	int waitpkg = l7[2] >> 5 & 1, la57 = l7[2] >> 16 & 1, pks = l7[2] >> 31 & 1;
	int pku = l7[2] >> 3 & 1, cet_ss = l7[2] >> 7 & 1, cet_ibt = l7[3] >> 20 & 1;
	int rtm = l7[1] >> 11 & 1, hle = l7[1] >> 4 & 1, xsaves = d1[0] >> 3 & 1;
	int pdcm = l1[2] >> 15 & 1;
	uint64_t perfcap = pdcm ? rdmsr(0x345, &ok) : 0;
	int perfcap_ok = pdcm && ok;

	P("### Modern features\n");
	P("\n");
	P("| feature | CPUID | VMX control |\n");
	P("| --- | --- | --- |\n");
	P("| WAITPKG (TPAUSE/UMONITOR/UMWAIT) | 7.0:ECX[5] = %d | secondary \"enable user wait and pause\" (bit 26): %s |\n",
	  waitpkg, yesno(proc2 >> 26 & 1));
	P("| XSAVES | 0xD.1:EAX[3] = %d | secondary \"enable XSAVES/XRSTORS\" (bit 20): %s |\n", xsaves,
	  yesno(proc2 >> 20 & 1));
	P("| CET | 7.0:ECX[7] SHSTK = %d, 7.0:EDX[20] IBT = %d | entry \"load CET state\" (bit 20): %s, exit (bit 28): %s |\n",
	  cet_ss, cet_ibt, yesno(entry1 >> 20 & 1), yesno(exit1 >> 28 & 1));
	P("| PKS | 7.0:ECX[31] = %d (PKU 7.0:ECX[3] = %d) | entry \"load PKRS\" (bit 22): %s, exit (bit 29): %s |\n",
	  pks, pku, yesno(entry1 >> 22 & 1), yesno(exit1 >> 29 & 1));
	P("| LA57 | 7.0:ECX[16] = %d | EPT 5-level walk: %s |\n", la57, yesno(ept >> 7 & 1));
	P("| perfmon | 0xA: EAX 0x%x (version %u, %u GP counters), ECX 0x%x (fixed-counter bitmap), EDX 0x%x (%u fixed) | "
	  "entry/exit \"load PERF_GLOBAL_CTRL\" (entry bit 13, exit bit 12): %s/%s |\n",
	  la[0], la[0] & 0xff, la[0] >> 8 & 0xff, la[2], la[3], la[3] & 0x1f, yesno(entry1 >> 13 & 1),
	  yesno(exit1 >> 12 & 1));
	if (perfcap_ok)
		P("| PERF_METRICS | IA32_PERF_CAPABILITIES (0x345) = 0x%" PRIx64 ", bit 15 = %d | |\n", perfcap,
		  (int)(perfcap >> 15 & 1));
	else
		P("| PERF_METRICS | IA32_PERF_CAPABILITIES (0x345): %s | |\n", pdcm ? "#GP" : "no PDCM");
	P("| RTM | 7.0:EBX[11] = %d (HLE 7.0:EBX[4] = %d) | |\n", rtm, hle);
	P("\n");
	{
		uint32_t t15[4] = { 0 }, t16[4] = { 0 };

		if (l0[0] >= 0x15)
			cpuid2(0x15, 0, t15);
		if (l0[0] >= 0x16)
			cpuid2(0x16, 0, t16);
		P("CPUID 0x15 (TSC/crystal): EAX %u EBX %u ECX %u Hz; 0x16: base %u MHz, max %u MHz, bus %u MHz\n",
		  t15[0], t15[1], t15[2], t16[0], t16[1], t16[2]);
		P("\n");
	}
	P("CPUID 7.0: EBX 0x%x ECX 0x%x EDX 0x%x; 7.1: EAX 0x%x; 0xD.1: EAX 0x%x; 1: ECX 0x%x EDX 0x%x\n", l7[1], l7[2],
	  l7[3], l7_1[0], d1[0], l1[2], l1[3]);
	close(msr_fd);
	return 0;
}
