/*
 * Benchmark: one MOV-to-DR7 exit with 1 matching event, and with 10,000
 * events for other processes plus the 1 that matches. callgrind counts
 * inside hv_exit_dispatch only (run.sh); the two figures should be equal
 * within a few percent, since matching never visits non-matching events.
 *
 *   bench_dr_events <events> [N]     events: 1 or 10000; N exits (default 20000)
 */
#include <hvcore/hvcore.h>
#include <hvcore/testing/mock.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    unsigned long events = argc > 1 ? strtoul(argv[1], NULL, 0) : 1, n = argc > 2 ? strtoul(argv[2], NULL, 0) : 20000, i;
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS, .core = HV_EVENT_ANY_CORE, .imm = false };
    struct hv_mock_exit x = { .reason = HV_EXIT_MOV_DR, .instruction_len = 3,
                              .qualification = HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX) };
    struct hv_msg_record rec[64];
    struct hv *hv = NULL;
    struct hv_vcpu *v;
    uint32_t id;

    if (hv_mock_init(1, HV_MOCK_PROFILE_HASWELL) != HV_STATUS_SUCCESS ||
        hv_create(&hv, hv_mock_os(), NULL) != HV_STATUS_SUCCESS || hv_start(hv) != HV_STATUS_SUCCESS)
        return 1;
    if (events > 1) {
        struct hv_event_spec *many = calloc(events - 1, sizeof(*many));
        uint32_t *ids = calloc(events - 1, sizeof(*ids));

        for (i = 0; i + 1 < events; i++) {
            many[i] = s;
            many[i].pid = 0x100000 + i;     /* other processes: never match */
        }
        if (hv_event_add_many(hv, many, (uint32_t)(events - 1), ids) != HV_STATUS_SUCCESS)
            return 1;
        free(many);
        free(ids);
    }
    s.pid = 0x490;
    if (hv_event_add(hv, &s, &id) != HV_STATUS_SUCCESS)
        return 1;
    hv_mock_cpu(0)->pid = 0x490;
    v = hv_mock_current_vcpu();
    for (i = 0; i < n; i++) {
        v->gprs.r[HV_GPR_RAX] = 0x401;
        if (hv_exit_dispatch(v) != HV_ACTION_RESUME)
            return 1;
        if ((i & 15) == 15)
            while (hv_msg_get(hv_event_ring(hv, 0), rec, 64))
                ;
        /* the exit-information fields, as the CPU leaves them */
        hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_REASON, HV_EXIT_MOV_DR);
        hv_mock_vmcs_seed(HV_VMCS_EXIT_QUALIFICATION, x.qualification);
        hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_INSTRUCTION_LEN, x.instruction_len);
    }
    if (hv_stop(hv) != HV_STATUS_SUCCESS)
        return 1;
    hv_destroy(hv);
    hv_mock_fini();
    return 0;
}
