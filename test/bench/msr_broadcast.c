/*
 * Benchmark: one wrmsr request on all 8 cores of the mock (hv_msr_write with
 * HV_ALL_CORES): cross-call per core, VMCALL into VMX root, guest-state MSR
 * routed to its VMCS field. callgrind counts only inside hv_msr_write (run.sh).
 *
 *   bench_msr_broadcast [N]     N requests (default 2000)
 */
#include <hvcore/hvcore.h>
#include <hvcore/testing/mock.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000ul, i;
    struct hv_msr_result res[8];
    struct hv *hv = NULL;

    if (hv_mock_init(8, HV_MOCK_PROFILE_HASWELL) != HV_STATUS_SUCCESS ||
        hv_create(&hv, hv_mock_os(), NULL) != HV_STATUS_SUCCESS || hv_start(hv) != HV_STATUS_SUCCESS) {
        fprintf(stderr, "bring-up failed\n");
        return 1;
    }
    for (i = 0; i < n; i++) {
        if (hv_msr_write(hv, HV_ALL_CORES, HV_MSR_IA32_SYSENTER_ESP, 0xfffffe0000001000ull + i * 16, res, 8) !=
            HV_STATUS_SUCCESS) {
            fprintf(stderr, "request %lu failed\n", i);
            return 1;
        }
    }
    printf("BENCH msr_write_all_cores_requests %lu requests\n", n);
    if (hv_stop(hv) != HV_STATUS_SUCCESS)
        return 1;
    hv_destroy(hv);
    hv_mock_fini();
    return 0;
}
