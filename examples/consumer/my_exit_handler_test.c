/*
 * How an SDK user unit-tests their own VM-exit handler in userspace:
 * override CPUID, chain to the default, and check the result on a fake
 * VT-x CPU. Built against an installed libhvcore (find_package).
 */
#include <hvcore/hvcore.h>
#include <hvcore/testing/mock.h>

#include <stdio.h>

static unsigned my_calls;

/* Hide AVX (CPUID.1:ECX[28]) from the guest, keep everything else. */
static enum hv_exit_action my_cpuid(struct hv_exit *e)
{
    uint32_t leaf = (uint32_t)e->gprs->r[HV_GPR_RAX];
    enum hv_exit_action a = hv_exit_default_handler(HV_EXIT_CPUID)(e);

    my_calls++;
    if (leaf == 1)
        e->gprs->r[HV_GPR_RCX] &= ~(1ull << 28);
    return a;
}

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "FAILED: %s (line %d)\n", #c, __LINE__); return 1; } } while (0)

int main(void)
{
    struct hv *hv = NULL;
    struct hv_vcpu *v;
    struct hv_mock_exit x = { .reason = HV_EXIT_CPUID, .instruction_len = 2 };

    CHECK(hv_mock_init(2, HV_MOCK_PROFILE_HASWELL) == HV_STATUS_SUCCESS);
    CHECK(hv_create(&hv, hv_mock_os(), NULL) == HV_STATUS_SUCCESS);
    CHECK(hv_exit_set_handler(hv, HV_EXIT_CPUID, my_cpuid) == HV_STATUS_SUCCESS);
    CHECK(hv_start(hv) == HV_STATUS_SUCCESS);

    hv_mock_cpu_bind(1);
    v = hv_mock_current_vcpu();
    v->gprs.r[HV_GPR_RAX] = 1;
    CHECK(hv_mock_exit(&x) == HV_ACTION_RESUME);
    CHECK(my_calls == 1);
    CHECK(((v->gprs.r[HV_GPR_RCX] >> 28) & 1) == 0);   /* our change */
    CHECK(((v->gprs.r[HV_GPR_RCX] >> 31) & 1) == 1);   /* the default's */

    CHECK(hv_stop(hv) == HV_STATUS_SUCCESS);
    hv_destroy(hv);
    CHECK(hv_mock_os_outstanding_allocs() == 0);
    hv_mock_fini();
    printf("consumer: 1 passed, 0 failed\n");
    return 0;
}
