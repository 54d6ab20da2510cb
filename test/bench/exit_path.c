/*
 * Benchmark: one CPUID VM exit through hv_exit_dispatch() on the mock.
 *
 *   bench_exit_path [N]      run N CPUID exits (default 100000) and print
 *                            BENCH cpuid_exit_vmcs_accesses / _reads / _writes
 *
 * The instruction count comes from callgrind (test/bench/run.sh), which
 * counts only inside hv_exit_dispatch (--toggle-collect), so setup and the
 * exit simulator around it are not counted.
 */
#include <hvcore/hvcore.h>
#include <hvcore/testing/mock.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000ul, i;
    struct hv *hv = NULL;
    struct hv_vcpu *v;
    struct hv_mock_cpu *cpu;
    uint64_t r0, w0;

    if (hv_mock_init(1, HV_MOCK_PROFILE_HASWELL) != HV_STATUS_SUCCESS ||
        hv_create(&hv, hv_mock_os(), NULL) != HV_STATUS_SUCCESS || hv_start(hv) != HV_STATUS_SUCCESS) {
        fprintf(stderr, "bring-up failed\n");
        return 1;
    }
    v = hv_mock_current_vcpu();
    cpu = hv_mock_cpu(0);
    /* The exit-information fields as the CPU leaves them for CPUID. */
    hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_REASON, HV_EXIT_CPUID);
    hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_INSTRUCTION_LEN, 2);
    r0 = cpu->vmcs_reads;
    w0 = cpu->vmcs_writes;
    for (i = 0; i < n; i++) {
        v->gprs.r[HV_GPR_RAX] = (i & 1) ? 1 : 0x40000000u;
        v->gprs.r[HV_GPR_RCX] = 0;
        if (hv_exit_dispatch(v) != HV_ACTION_RESUME) {
            fprintf(stderr, "unexpected action\n");
            return 1;
        }
    }
    printf("BENCH cpuid_exit_vmcs_accesses %.2f ops\n", (double)(cpu->vmcs_reads - r0 + cpu->vmcs_writes - w0) / (double)n);
    printf("BENCH cpuid_exit_vmcs_reads %.2f ops\n", (double)(cpu->vmcs_reads - r0) / (double)n);
    printf("BENCH cpuid_exit_vmcs_writes %.2f ops\n", (double)(cpu->vmcs_writes - w0) / (double)n);
    hv_mock_cpu_bind(0);
    if (hv_stop(hv) != HV_STATUS_SUCCESS)
        return 1;
    hv_destroy(hv);
    hv_mock_fini();
    return 0;
}
