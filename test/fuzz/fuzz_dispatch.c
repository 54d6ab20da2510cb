/*
 * libFuzzer target: random exit reasons, qualifications, instruction
 * lengths, guest GPRs and guest state fed to hv_exit_dispatch() on the
 * mock. Any crash, sanitizer report or mock failure (unseeded VMCS read,
 * width mismatch, a CR/DR/XCR write the CPU would refuse) is a finding.
 *
 * Trust model kept by the harness: VMCALL RUN_IN_ROOT takes a kernel
 * pointer from ring-0 code holding the key, so the harness points RDX at a
 * valid request whenever the fuzzer forms that call.
 */
#include <hvcore/hvcore.h>
#include <hvcore/testing/mock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hv *g_hv;
static struct hv_vcpu *g_v;

static void on_failure(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "mock failure: %s\n", msg);
    abort();
}

static uint64_t root_fn(void *vcpu, void *arg)
{
    (void)vcpu;
    return (uint64_t)(uintptr_t)arg;
}
static struct hv_root_request g_req = { root_fn, (void *)7 };

static void start(void)
{
    if (hv_create(&g_hv, hv_mock_os(), NULL) != HV_STATUS_SUCCESS || hv_start(g_hv) != HV_STATUS_SUCCESS)
        abort();
    hv_mock_cpu_bind(0);
    g_v = hv_mock_current_vcpu();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (hv_mock_init(1, HV_MOCK_PROFILE_HASWELL) != HV_STATUS_SUCCESS)
        abort();
    hv_mock_set_failure_handler(on_failure, NULL);
    start();
    return 0;
}

struct input {
    uint32_t reason;
    uint32_t len;
    uint64_t qual;
    uint32_t intr_info;
    uint32_t interruptibility;
    uint64_t rflags;
    uint64_t dr7;
    uint32_t cpl;
    uint32_t cr4_de;
    uint64_t gprs[16];
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in;
    struct hv_mock_exit x;
    uint64_t cr4 = 0, ss_ar = 0;

    memset(&in, 0, sizeof(in));
    memcpy(&in, data, size < sizeof(in) ? size : sizeof(in));

    /* Mostly valid basic reasons, sometimes anything (bit 31 included). */
    x.reason = (in.reason & 0x80000000u) ? in.reason : (in.reason % 96u);
    x.qualification = in.qual;
    x.instruction_len = 1u + in.len % 15u;
    x.intr_info = in.intr_info;
    memcpy(g_v->gprs.r, in.gprs, sizeof(in.gprs));
    if (g_v->gprs.r[HV_GPR_RAX] == HV_VMCALL_RUN_IN_ROOT)
        g_v->gprs.r[HV_GPR_RDX] = (uint64_t)(uintptr_t)&g_req;
    /* Architecturally possible guest state only: the CPU never exits with
     * RFLAGS bit 1 clear or reserved bits set. */
    hv_mock_vmcs_seed(HV_VMCS_GUEST_RFLAGS, (in.rflags & 0x3F7FD5ull) | HV_RFLAGS_FIXED);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, in.interruptibility & 0xFu);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_DR7, (in.dr7 & 0xFFFF27FFull) | HV_DR7_FIXED_1);
    hv_mock_vmcs_peek(HV_VMCS_GUEST_SS_AR_BYTES, &ss_ar);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_SS_AR_BYTES, (ss_ar & ~0x60ull) | ((in.cpl & 3u) << 5));
    hv_mock_vmcs_peek(HV_VMCS_GUEST_CR4, &cr4);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, (in.cr4_de & 1) ? (cr4 | HV_CR4_DE) : (cr4 & ~HV_CR4_DE));

    switch (hv_mock_exit(&x)) {
    case HV_ACTION_RESUME:
    case HV_ACTION_SKIP:
        break;
    case HV_ACTION_FATAL:
        if (strstr(hv_mock_exit_dump(g_hv, 0), "hvcore FATAL") == NULL)
            abort(); /* fatal without a dump */
        hv_mock_cpu_resume_guest(0);
        break;
    case HV_ACTION_DEVIRTUALIZE:
        /* The guest asked to leave: bring the core back for the next input. */
        hv_destroy(g_hv);
        start();
        break;
    default:
        abort();
    }
    return 0;
}
