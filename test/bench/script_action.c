/*
 * Benchmark: the cost per event of a script action through the real firing
 * path: one MOV-to-DR7 exit on the mock matching one event whose action is
 *   none     the event alone (its access record)
 *   break    HV_EVENT_ACTION_BREAK (the break record with the registers)
 *   printf   script { printf("pid=%x core=%x rax=%llx\n", $pid, $core, @rax); }
 *   dq       script { printf("pid=%x core=%x val=%llx\n", $pid, $core, dq(7000)); }
 *            (dq walks the guest's 4-level page tables from the VMCS)
 * The scripts are compiled by the client compiler and added as
 * HV_EVENT_ACTION_PROGRAM, as hvctl does. callgrind counts inside
 * hv_exit_dispatch only (run.sh); the difference to `none` is the action.
 *
 *   bench_script_action <none|break|printf|dq> [N]     N exits (default 20000)
 */
#include <hvcore/client/script.h>
#include <hvcore/guest_mem.h>
#include <hvcore/hvcore.h>
#include <hvcore/testing/mock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const scripts[] = {
    "printf(\"pid=%x core=%x rax=%llx\\n\", $pid, $core, @rax);",
    "printf(\"pid=%x core=%x val=%llx\\n\", $pid, $core, dq(7000));",
};

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "printf";
    unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 0) : 20000, i;
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS, .core = HV_EVENT_ANY_CORE,
                               .imm = false, .pid = 0x490 };
    struct hv_mock_exit x = { .reason = HV_EXIT_MOV_DR, .instruction_len = 3,
                              .qualification = HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX) };
    struct hv_action_spec act = { 0 };
    struct hv_msg_record rec[64];
    struct hv *hv = NULL;
    struct hv_vcpu *v;
    uint8_t *prog = NULL;
    uint32_t id, plen = 0;
    uint64_t root, records = 0, script_records = 0;
    char first[128] = "";

    if (hv_mock_init(1, HV_MOCK_PROFILE_HASWELL) != HV_STATUS_SUCCESS ||
        hv_create(&hv, hv_mock_os(), NULL) != HV_STATUS_SUCCESS || hv_start(hv) != HV_STATUS_SUCCESS)
        return 1;
    if (hv_event_add(hv, &s, &id) != HV_STATUS_SUCCESS)
        return 1;
    if (strcmp(kind, "break") == 0) {
        act.kind = HV_EVENT_ACTION_BREAK;
    } else if (strcmp(kind, "printf") == 0 || strcmp(kind, "dq") == 0) {
        struct hv_script_error err;

        if (hv_script_compile(scripts[kind[0] == 'd'], 0, &prog, &plen, &err) != HV_STATUS_SUCCESS)
            return 1;
        act.kind = HV_EVENT_ACTION_PROGRAM;
        act.program = prog;
        act.program_len = plen;
    } else if (strcmp(kind, "none") != 0) {
        fprintf(stderr, "usage: bench_script_action <none|break|printf|dq> [N]\n");
        return 2;
    }
    if (act.kind != 0 && hv_event_add_action(hv, id, &act) != HV_STATUS_SUCCESS) {
        fprintf(stderr, "hv_event_add_action failed\n");
        return 1;
    }
    free(prog);
    /* The guest: 4-level paging, linear 0x7000 -> physical 0x5000 holding a known value. */
    root = hv_mock_gmem_new_table();
    if (hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0x7000, 0x5000, 4096, 2) != HV_STATUS_SUCCESS)
        return 1;
    hv_mock_gmem_write64(0x5000, 0x1122334455667788ull);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR0, HV_CR0_PG | HV_CR0_PE);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR3, root);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, HV_CR4_PAE);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_IA32_EFER, HV_EFER_LME | HV_EFER_LMA);
    hv_mock_cpu(0)->pid = 0x490;
    v = hv_mock_current_vcpu();
    for (i = 0; i < n; i++) {
        v->gprs.r[HV_GPR_RAX] = 0x401;
        if (hv_exit_dispatch(v) != HV_ACTION_RESUME)
            return 1;
        if ((i & 15) == 15 || i + 1 == n) {
            size_t k, got;

            while ((got = hv_msg_get(hv_event_ring(hv, 0), rec, 64)) != 0)
                for (k = 0; k < got; k++) {
                    records++;
                    if (rec[k].h.kind == HV_MSG_SCRIPT && script_records++ == 0)
                        snprintf(first, sizeof(first), "%s",
                                 (const char *)rec[k].payload + sizeof(struct hv_msg_dr_access));
                    /* The run must have worked: no status record (budget, memory). */
                    if (rec[k].h.kind == HV_MSG_SCRIPT_STATUS) {
                        fprintf(stderr, "the script ended early: status record\n");
                        return 1;
                    }
                }
        }
        /* the exit-information fields, as the CPU leaves them */
        hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_REASON, HV_EXIT_MOV_DR);
        hv_mock_vmcs_seed(HV_VMCS_EXIT_QUALIFICATION, x.qualification);
        hv_mock_vmcs_seed(HV_VMCS_VM_EXIT_INSTRUCTION_LEN, x.instruction_len);
    }
    /* Every exit fired the action (a lost record would make the figure a lie);
     * with imm no the ring hands out whole batches, so the last may wait. */
    if (act.kind == HV_EVENT_ACTION_PROGRAM && (script_records > n || script_records + 64 < n)) {
        fprintf(stderr, "script records: %llu for %lu exits\n", (unsigned long long)script_records, n);
        return 1;
    }
    printf("script_action %s: %lu exits, %llu records (%llu script)%s%s", kind, n, (unsigned long long)records,
           (unsigned long long)script_records, first[0] ? "; the first: " : "\n", first);
    if (hv_stop(hv) != HV_STATUS_SUCCESS)
        return 1;
    hv_destroy(hv);
    hv_mock_fini();
    return 0;
}
