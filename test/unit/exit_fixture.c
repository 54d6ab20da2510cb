#include "exit_fixture.h"

struct hv *fx_hv;
struct hv_vcpu *fx_v;

int fx_setup(void **state)
{
    (void)state;
    if (support_setup_machine(2, HV_MOCK_PROFILE_HASWELL))
        return -1;
    if (hv_create(&fx_hv, hv_mock_os(), NULL) != HV_STATUS_SUCCESS)
        return -1;
    if (hv_start(fx_hv) != HV_STATUS_SUCCESS)
        return -1;
    hv_mock_cpu_bind(1);
    fx_v = hv_mock_current_vcpu();
    hv_mock_vmcs_seed(HV_VMCS_GUEST_RIP, 0xffffffff81001000ull);
    return fx_v == &fx_hv->vcpus[1] ? 0 : -1;
}

int fx_teardown(void **state)
{
    uint32_t i;

    (void)state;
    support_fail_on_mock_failure();
    /* A FATAL exit leaves the core "stopped"; let it run for the teardown. */
    for (i = 0; i < 2; i++)
        if (!hv_mock_cpu_in_guest(i) && hv_mock_cpu(i)->vmx_operation &&
            (fx_hv->vcpus[i].steps & HV_STEP_LAUNCHED))
            hv_mock_cpu_resume_guest(i);
    if (hv_stop(fx_hv) != HV_STATUS_SUCCESS)
        return -1;
    hv_destroy(fx_hv);
    fx_hv = NULL;
    if (hv_mock_os_outstanding_allocs() != 0)
        return -1;
    hv_mock_fini();
    return 0;
}

enum hv_exit_action fx_exit(uint32_t reason, uint64_t qual, uint32_t len)
{
    struct hv_mock_exit x = { .reason = reason, .qualification = qual, .instruction_len = len };

    return hv_mock_exit(&x);
}

uint64_t fx_field(uint32_t field)
{
    uint64_t v = 0;

    if (!hv_mock_vmcs_peek(field, &v))
        fail_msg("field %s never written", hv_vmcs_field_name(field));
    return v;
}

uint32_t fx_injected(void)
{
    uint64_t v = 0;

    if (!hv_mock_vmcs_peek(HV_VMCS_VM_ENTRY_INTR_INFO, &v) || !(v & HV_INTR_INFO_VALID))
        return 0;
    return (uint32_t)v;
}

void fx_set_cpl(uint32_t cpl)
{
    uint64_t ar = fx_field(HV_VMCS_GUEST_SS_AR_BYTES);

    hv_mock_vmcs_seed(HV_VMCS_GUEST_SS_AR_BYTES, (ar & ~0x60ull) | ((uint64_t)(cpl & 3) << 5));
}
