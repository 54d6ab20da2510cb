/*
 * hvcore-demo: bring up a hypervisor on the mock backend (fake VT-x CPUs),
 * show what happens on each core, send a few VM exits through the real
 * dispatcher, and tear everything down.
 *
 *   hvcore-demo [--cpus N] [--profile haswell|skylake|no-vmx|locked-off|in-use|no-true-ctls|
 *                                     sapphire-rapids|no-ept-vpid|bochs-tigerlake]
 */
#include <hvcore/hvcore.h>
#include <hvcore/testing/mock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; enum hv_mock_profile p; } profiles[] = {
    { "haswell", HV_MOCK_PROFILE_HASWELL },       { "skylake", HV_MOCK_PROFILE_SKYLAKE },
    { "no-vmx", HV_MOCK_PROFILE_NO_VMX },          { "locked-off", HV_MOCK_PROFILE_VMX_LOCKED_OFF },
    { "in-use", HV_MOCK_PROFILE_VMX_IN_USE },      { "no-true-ctls", HV_MOCK_PROFILE_NO_TRUE_CTLS },
    { "sapphire-rapids", HV_MOCK_PROFILE_SAPPHIRE_RAPIDS }, { "no-ept-vpid", HV_MOCK_PROFILE_NO_EPT_VPID },
    { "bochs-tigerlake", HV_MOCK_PROFILE_BOCHS_TIGERLAKE },
};

static void step(const char *msg)
{
    printf("\n== %s\n", msg);
}

static void show_cpuid_from_guest(uint32_t cpu)
{
    struct hv_vcpu *v;
    struct hv_mock_exit x = { .reason = HV_EXIT_CPUID, .instruction_len = 2 };
    char sig[13] = { 0 };
    uint64_t rip_before = 0, rip_after = 0;

    hv_mock_cpu_bind(cpu);
    v = hv_mock_current_vcpu();
    hv_mock_vmcs_peek(HV_VMCS_GUEST_RIP, &rip_before);
    v->gprs.r[HV_GPR_RAX] = 0x40000000u;
    v->gprs.r[HV_GPR_RCX] = 0;
    hv_mock_exit(&x);
    memcpy(sig, &v->gprs.r[HV_GPR_RBX], 4);
    memcpy(sig + 4, &v->gprs.r[HV_GPR_RCX], 4);
    memcpy(sig + 8, &v->gprs.r[HV_GPR_RDX], 4);
    hv_mock_vmcs_peek(HV_VMCS_GUEST_RIP, &rip_after);
    printf("  cpu %u: guest CPUID 0x40000000 -> max leaf 0x%llx, signature \"%s\"; RIP advanced by %llu\n",
           cpu, (unsigned long long)v->gprs.r[HV_GPR_RAX], sig,
           (unsigned long long)(rip_after - rip_before));

    v->gprs.r[HV_GPR_RAX] = 1;
    hv_mock_exit(&x);
    printf("  cpu %u: guest CPUID 1 -> ECX 0x%08llx (bit 31, hypervisor present: %s)\n", cpu,
           (unsigned long long)v->gprs.r[HV_GPR_RCX],
           (v->gprs.r[HV_GPR_RCX] >> 31) & 1 ? "yes" : "no");
}

int main(int argc, char **argv)
{
    uint32_t ncpus = 4, i, r;
    enum hv_mock_profile profile = HV_MOCK_PROFILE_HASWELL;
    struct hv *hv = NULL;
    hv_status_t st;

    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--cpus") && a + 1 < argc) {
            ncpus = (uint32_t)strtoul(argv[++a], NULL, 0);
        } else if (!strcmp(argv[a], "--profile") && a + 1 < argc) {
            const char *want = argv[++a];
            size_t k;

            for (k = 0; k < sizeof(profiles) / sizeof(profiles[0]); k++)
                if (!strcmp(profiles[k].name, want))
                    break;
            if (k == sizeof(profiles) / sizeof(profiles[0])) {
                fprintf(stderr, "unknown profile '%s'\n", want);
                return 2;
            }
            profile = profiles[k].p;
        } else {
            fprintf(stderr, "usage: %s [--cpus N] [--profile NAME]\n", argv[0]);
            return 2;
        }
    }

    printf("libhvcore %d.%d.%d demo: a hypervisor on %u fake VT-x cores (mock backend, profile %s)\n",
           HVCORE_VERSION_MAJOR, HVCORE_VERSION_MINOR, HVCORE_VERSION_PATCH, ncpus,
           hv_mock_profile_name(profile));
    st = hv_mock_init(ncpus, profile);
    if (st != HV_STATUS_SUCCESS) {
        fprintf(stderr, "mock init: %s\n", hv_status_name(st));
        return 1;
    }

    step("1. hv_create: allocate VMXON/VMCS regions, MSR bitmap, host stack and IDT per core");
    st = hv_create(&hv, hv_mock_os(), NULL);
    printf("  -> %s (0x%08x); %u allocations outstanding\n", hv_status_name(st), st,
           hv_mock_os_outstanding_allocs());
    if (st != HV_STATUS_SUCCESS)
        return 1;

    step("2. hv_start: on each core, read VMX capabilities, VMXON, VMCS setup, VMLAUNCH, VMCALL ping");
    hv_mock_os_set_echo(true);
    st = hv_start(hv);
    hv_mock_os_set_echo(false);
    printf("  -> %s (0x%08x)\n", hv_status_name(st), st);
    if (st != HV_STATUS_SUCCESS) {
        printf("  core %u refused; every core is back as it was.\n", hv->failed_cpu);
        hv_destroy(hv);
        hv_mock_fini();
        return 0;
    }
    for (i = 0; i < ncpus; i++) {
        const struct hv_vcpu *v = &hv->vcpus[i];

        printf("  cpu %u: VMCS rev 0x%x (%s controls) pin 0x%x proc 0x%08x proc2 0x%x exit 0x%x entry 0x%x\n",
               i, v->caps.revision, v->caps.true_ctls ? "TRUE" : "plain", v->ctls.pin, v->ctls.proc,
               v->ctls.proc2, v->ctls.exit, v->ctls.entry);
    }

    step("3. the guest runs: CPUID exits go through the real dispatcher");
    for (i = 0; i < ncpus; i++)
        show_cpuid_from_guest(i);

    step("4. exit counters per core");
    for (i = 0; i < ncpus; i++) {
        printf("  cpu %u:", i);
        for (r = 0; r < HV_EXIT_REASON_COUNT; r++)
            if (hv->vcpus[i].exit_count[r])
                printf(" reason %u x%llu", r, (unsigned long long)hv->vcpus[i].exit_count[r]);
        printf("\n");
    }

    step("5. hv_stop + hv_destroy: devirtualize each core by VMCALL, free everything");
    hv_mock_os_set_echo(true);
    st = hv_stop(hv);
    hv_mock_os_set_echo(false);
    printf("  -> %s\n", hv_status_name(st));
    hv_destroy(hv);
    printf("  %u allocations outstanding; cores in VMX operation:", hv_mock_os_outstanding_allocs());
    for (i = 0; i < ncpus; i++)
        printf(" %s", hv_mock_cpu(i)->vmx_operation ? "yes" : "no");
    printf("\n");
    hv_mock_fini();
    return st == HV_STATUS_SUCCESS ? 0 : 1;
}
