/* The event engine on the mock: filters, MOV-DR exiting on demand,
 * conditions, actions (custom code, script, break, callback), imm yes/no,
 * ring full, 10,000 non-matching events, bad input, cleanup. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCPU 4
static struct hv *g_hv;

static int start(void **state)
{
    (void)state;
    if (support_setup_machine(NCPU, HV_MOCK_PROFILE_HASWELL))
        return -1;
    g_hv = support_start_hv();
    return 0;
}

static int stop(void **state)
{
    (void)state;
    support_stop_hv(g_hv); /* destroy frees the engine: nothing may leak */
    g_hv = NULL;
    hv_mock_fini();
    return 0;
}

static uint32_t add(uint64_t pid, uint32_t core, bool imm)
{
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS, .pid = pid, .core = core, .imm = imm };
    uint32_t id = 0;

    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_SUCCESS);
    assert_int_not_equal(id, 0);
    return id;
}

/* A guest MOV to DR7 from RAX on `cpu`, in process `pid`. */
static enum hv_exit_action mov_dr7(uint32_t cpu, uint64_t pid, uint64_t value)
{
    struct hv_mock_exit x = { .reason = HV_EXIT_MOV_DR, .instruction_len = 3,
                              .qualification = HV_QUAL_DR_MAKE(7, HV_DR_MOV_TO_DR, HV_GPR_RAX) };
    uint32_t prev = hv_mock_cpu_bind(cpu);
    enum hv_exit_action a;

    hv_mock_cpu(cpu)->pid = pid;
    hv_mock_current_vcpu()->gprs.r[HV_GPR_RAX] = value;
    a = hv_mock_exit(&x);
    hv_mock_cpu_bind(prev);
    return a;
}

static uint32_t drain(uint32_t cpu, struct hv_msg_record *out, uint32_t max)
{
    return hv_msg_get(hv_event_ring(g_hv, cpu), out, max);
}

static uint64_t fired(uint32_t id)
{
    struct hv_event_info *info;
    uint32_t n = 0, i;
    uint64_t f = UINT64_MAX;

    assert_int_equal(hv_event_list(g_hv, NULL, 0, &n), HV_STATUS_SUCCESS);
    info = calloc(n + 1, sizeof(*info));
    assert_int_equal(hv_event_list(g_hv, info, n, &n), HV_STATUS_SUCCESS);
    for (i = 0; i < n; i++)
        if (info[i].id == id)
            f = info[i].fired;
    free(info);
    if (f == UINT64_MAX)
        fail_msg("event %u not listed", id);
    return f;
}

static bool movdr_on(uint32_t cpu)
{
    uint64_t proc = 0;

    hv_mock_vmcs_peek_on(cpu, HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, &proc);
    return (proc & HV_PROC_MOV_DR_EXITING) != 0;
}

static void filters_pid_core_both(void **state)
{
    uint32_t by_pid, by_core, both, any;
    struct hv_msg_record r[8];

    (void)state;
    by_pid = add(0x490, HV_EVENT_ANY_CORE, true);   /* !dr pid 490 */
    by_core = add(HV_EVENT_ANY_PID, 3, true);       /* !dr core 3 */
    both = add(0x490, 3, true);                     /* !dr pid 490 core 3 */
    any = add(HV_EVENT_ANY_PID, HV_EVENT_ANY_CORE, true); /* !dr */

    assert_int_equal(mov_dr7(3, 0x490, 0x401), HV_ACTION_RESUME);
    assert_int_equal(mov_dr7(3, 0x500, 0x401), HV_ACTION_RESUME);
    assert_int_equal(mov_dr7(1, 0x490, 0x401), HV_ACTION_RESUME);
    assert_int_equal(mov_dr7(1, 0x500, 0x401), HV_ACTION_RESUME);
    assert_int_equal(fired(by_pid), 2);
    assert_int_equal(fired(by_core), 2);
    assert_int_equal(fired(both), 1);
    assert_int_equal(fired(any), 4);
    /* Core 3 got 1+1+1+1 (pid 490) + 1+1 (pid 500) records, in order. */
    assert_int_equal(drain(3, r, 8), 6);
    assert_int_equal(r[0].h.seq, 1);
    assert_int_equal(r[5].h.seq, 6);
    assert_int_equal(r[0].h.core, 3);
    assert_int_equal(r[0].h.pid, 0x490);
    assert_int_equal(r[0].h.kind, HV_MSG_DR_ACCESS);
    {
        struct hv_msg_dr_access a;

        memcpy(&a, r[0].payload, sizeof(a));
        assert_int_equal(a.dr, 7);
        assert_int_equal(a.direction, HV_DR_MOV_TO_DR);
        assert_int_equal(a.gpr, HV_GPR_RAX);
        assert_int_equal(a.value, 0x401);
    }
}

static void movdr_exiting_only_where_needed(void **state)
{
    uint32_t c, id1, id_any;

    (void)state;
    for (c = 0; c < NCPU; c++)
        assert_false(movdr_on(c)); /* no event: no DR exits at all */
    id1 = add(HV_EVENT_ANY_PID, 1, true);
    for (c = 0; c < NCPU; c++)
        assert_int_equal(movdr_on(c), c == 1);
    id_any = add(0x1234, HV_EVENT_ANY_CORE, true);
    for (c = 0; c < NCPU; c++)
        assert_true(movdr_on(c));
    assert_int_equal(hv_event_disable(g_hv, id_any), HV_STATUS_SUCCESS);
    for (c = 0; c < NCPU; c++)
        assert_int_equal(movdr_on(c), c == 1);
    /* Another user of the control on core 2 keeps it on there. */
    assert_int_equal(hv_movdr_exiting_get(g_hv, 2), HV_STATUS_SUCCESS);
    assert_int_equal(hv_event_remove(g_hv, id1), HV_STATUS_SUCCESS);
    assert_int_equal(hv_event_remove(g_hv, id_any), HV_STATUS_SUCCESS);
    for (c = 0; c < NCPU; c++)
        assert_int_equal(movdr_on(c), c == 2);
    assert_int_equal(hv_movdr_exiting_put(g_hv, 2), HV_STATUS_SUCCESS);
    assert_false(movdr_on(2));
    assert_int_equal(hv_movdr_exiting_put(g_hv, 2), HV_STATUS_INVALID_PARAMETER);
}

static void emulation_stays_right(void **state)
{
    uint64_t rip0 = 0, dr7 = 0;

    (void)state;
    add(HV_EVENT_ANY_PID, HV_EVENT_ANY_CORE, false);
    hv_mock_vmcs_peek_on(0, HV_VMCS_GUEST_RIP, &rip0);
    assert_int_equal(mov_dr7(0, 7, 0x403), HV_ACTION_RESUME);
    assert_true(hv_mock_vmcs_peek_on(0, HV_VMCS_GUEST_DR7, &dr7));
    assert_int_equal(dr7, 0x403);            /* the guest's breakpoint is armed */
    hv_mock_vmcs_peek_on(0, HV_VMCS_GUEST_RIP, &rip0);
    /* A faulting access (bit 32 set) is still a #GP, and fires nothing. */
    assert_int_equal(mov_dr7(0, 7, 1ull << 32), HV_ACTION_RESUME);
    assert_int_equal(fired(1), 1);
}

static void condition_true_and_false(void **state)
{
    static const uint8_t never[] = { 0x31, 0xC0, 0xC3 };                     /* xor eax,eax; ret */
    static const uint8_t always[] = { 0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3 };  /* mov eax,1; ret */
    /* fires when the guest's RAX (gprs->r[0], RCX = gprs) is 0x777:
     * mov rax,[rcx]; cmp rax,0x777; sete al; movzx eax,al; ret */
    static const uint8_t rax_is_777[] = { 0x48, 0x8B, 0x01, 0x48, 0x3D, 0x77, 0x07, 0x00, 0x00,
                                          0x0F, 0x94, 0xC0, 0x0F, 0xB6, 0xC0, 0xC3 };
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS, .pid = HV_EVENT_ANY_PID,
                               .core = HV_EVENT_ANY_CORE, .imm = true };
    uint32_t a, b, c;

    (void)state;
    s.condition = never;
    s.condition_len = sizeof(never);
    assert_int_equal(hv_event_add(g_hv, &s, &a), HV_STATUS_SUCCESS);
    s.condition = always;
    s.condition_len = sizeof(always);
    assert_int_equal(hv_event_add(g_hv, &s, &b), HV_STATUS_SUCCESS);
    s.condition = rax_is_777;
    s.condition_len = sizeof(rax_is_777);
    assert_int_equal(hv_event_add(g_hv, &s, &c), HV_STATUS_SUCCESS);
    mov_dr7(0, 1, 0x401);
    mov_dr7(0, 1, 0x777);
    assert_int_equal(fired(a), 0);
    assert_int_equal(fired(b), 2);
    assert_int_equal(fired(c), 1);
}

static void custom_code_gets_documented_registers(void **state)
{
    /* mov [rcx],rdx; mov [rcx+8],r8; mov rax,[rdx+8]; mov [rcx+16],rax; ret
     * -> buffer = { gprs pointer, context (NULL), guest RCX } */
    static const uint8_t code[] = { 0x48, 0x89, 0x11, 0x4C, 0x89, 0x41, 0x08,
                                    0x48, 0x8B, 0x42, 0x08, 0x48, 0x89, 0x41, 0x10, 0xC3 };
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS, .pid = HV_EVENT_ANY_PID,
                               .core = 2, .imm = true, .buffer_size = 0x200 };
    struct hv_action_spec act = { .kind = HV_EVENT_ACTION_CODE, .code = code, .code_len = sizeof(code) };
    struct hv_msg_record r;
    uint64_t words[3];
    uint32_t id, prev;

    (void)state;
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_SUCCESS);  /* !dr buffer 200 code {..} */
    assert_int_equal(hv_event_add_action(g_hv, id, &act), HV_STATUS_SUCCESS);
    prev = hv_mock_cpu_bind(2);
    hv_mock_current_vcpu()->gprs.r[HV_GPR_RCX] = 0xC0FFEE;
    hv_mock_cpu_bind(prev);
    mov_dr7(2, 5, 0x401);
    assert_int_equal(drain(2, &r, 1), 1);
    assert_int_equal(r.h.kind, HV_MSG_CODE);
    memcpy(words, r.payload + sizeof(struct hv_msg_dr_access), sizeof(words));
    assert_int_equal(words[0], (uint64_t)(uintptr_t)&g_hv->vcpus[2].gprs);
    assert_int_equal(words[1], 0);            /* the event context is NULL */
    assert_int_equal(words[2], 0xC0FFEE);
    /* The core re-checks the size limit the client already checked. */
    act.code_len = HV_EVENT_MAX_CODE + 1;
    assert_int_equal(hv_event_add_action(g_hv, id, &act), HV_STATUS_INVALID_PARAMETER);
}

static void script_break_and_callback(void **state)
{
    struct hv_action_spec sc = { .kind = HV_EVENT_ACTION_SCRIPT,
                                 .script = "pid=$pid core=$core ctx=$context rax=$rax rsp=$rsp $r1 $$" };
    struct hv_action_spec br = { .kind = HV_EVENT_ACTION_BREAK };
    struct hv_msg_record r[4];
    uint64_t rsp = 0, regs[16];
    uint32_t id;
    char text[HV_EVENT_MAX_SCRIPT + 1];

    (void)state;
    id = add(HV_EVENT_ANY_PID, 0, true);
    assert_int_equal(hv_event_add_action(g_hv, id, &sc), HV_STATUS_SUCCESS);
    assert_int_equal(hv_event_add_action(g_hv, id, &br), HV_STATUS_SUCCESS);
    hv_mock_vmcs_peek_on(0, HV_VMCS_GUEST_RSP, &rsp);
    mov_dr7(0, 0x490, 0x401);
    assert_int_equal(drain(0, r, 4), 2);
    assert_int_equal(r[0].h.kind, HV_MSG_SCRIPT);
    memcpy(text, r[0].payload + sizeof(struct hv_msg_dr_access), sizeof(text) - 1);
    text[sizeof(text) - 1] = 0;
    {
        char want[200];

        snprintf(want, sizeof(want), "pid=0x490 core=0x0 ctx=0x0 rax=0x401 rsp=0x%llx $r1 $$",
                 (unsigned long long)rsp);
        assert_string_equal(text, want);
    }
    assert_int_equal(r[1].h.kind, HV_MSG_BREAK);
    memcpy(regs, r[1].payload + sizeof(struct hv_msg_dr_access), sizeof(regs));
    assert_int_equal(regs[HV_GPR_RAX], 0x401);
    assert_int_equal(regs[HV_GPR_RSP], rsp);
    /* A script longer than the limit is refused. */
    memset(text, 'x', sizeof(text));
    text[sizeof(text) - 1] = 0;
    sc.script = text;
    assert_int_equal(hv_event_add_action(g_hv, id, &sc), HV_STATUS_INVALID_PARAMETER);
}

static struct hv_event_access seen;
static unsigned calls;
static void cb(const struct hv_event_access *a, void *ctx)
{
    seen = *a;
    calls += ctx == (void *)&calls;
}

static void callback_sees_the_decoded_access(void **state)
{
    struct hv_action_spec act = { .kind = HV_EVENT_ACTION_CALLBACK, .callback = cb, .callback_ctx = &calls };
    uint32_t id = add(0x77, 1, false);

    (void)state;
    assert_int_equal(hv_event_add_action(g_hv, id, &act), HV_STATUS_SUCCESS);
    mov_dr7(1, 0x77, 0x455);
    assert_int_equal(calls, 1);
    assert_int_equal(seen.event_id, id);
    assert_int_equal(seen.core, 1);
    assert_int_equal(seen.pid, 0x77);
    assert_int_equal(seen.dr.dr, 7);
    assert_int_equal(seen.dr.value, 0x455);
    assert_null(seen.context);
}

static void imm_yes_and_no_ordering(void **state)
{
    uint32_t batched = add(0x10, 0, false), now = add(0x20, 0, true);
    struct hv_msg_record r[4];

    (void)state;
    (void)batched;
    (void)now;
    mov_dr7(0, 0x10, 0x401); /* imm no: written, not yet readable */
    assert_int_equal(hv_msg_readable(hv_event_ring(g_hv, 0)), 0);
    assert_int_equal(hv_mock_os_notify_count(0), 0);
    mov_dr7(0, 0x20, 0x401); /* imm yes: publishes both, in order, and wakes */
    assert_int_equal(hv_mock_os_notify_count(0), 1);
    assert_int_equal(drain(0, r, 4), 2);
    assert_int_equal(r[0].h.pid, 0x10);
    assert_int_equal(r[1].h.pid, 0x20);
    mov_dr7(0, 0x10, 0x401);
    assert_int_equal(hv_msg_readable(hv_event_ring(g_hv, 0)), 0);
    assert_true(hv_event_flush(g_hv)); /* the timer */
    assert_int_equal(drain(0, r, 4), 1);
}

static void ring_full_drops_are_counted(void **state)
{
    struct hv_msg_record *r = calloc(1200, sizeof(*r));
    uint32_t i, n;

    (void)state;
    add(HV_EVENT_ANY_PID, 1, true);
    for (i = 0; i < 1100; i++)
        mov_dr7(1, 1, 0x401);
    n = drain(1, r, 1200);
    assert_true(n < 1100);
    assert_int_equal(hv_msg_dropped(hv_event_ring(g_hv, 1)), 1100 - n);
    mov_dr7(1, 1, 0x401);
    assert_int_equal(drain(1, r, 1), 1);
    assert_int_equal(r[0].h.lost_before, 1100 - n);
    free(r);
}

static void ten_thousand_events_one_match(void **state)
{
    uint32_t i, match;

    (void)state;
    {
        struct hv_event_spec *many = calloc(10000, sizeof(*many));
        uint32_t *ids = calloc(10000, sizeof(*ids));

        for (i = 0; i < 10000; i++) {
            many[i].size = sizeof(many[i]);
            many[i].type = HV_EVENT_DR_ACCESS;
            many[i].pid = 0x100000 + i;
            many[i].core = HV_EVENT_ANY_CORE;
        }
        /* all or nothing: a bad one in the batch adds none */
        many[9999].core = 77;
        assert_int_equal(hv_event_add_many(g_hv, many, 10000, ids), HV_STATUS_INVALID_PARAMETER);
        many[9999].core = HV_EVENT_ANY_CORE;
        assert_int_equal(hv_event_add_many(g_hv, many, 10000, ids), HV_STATUS_SUCCESS);
        assert_int_equal(ids[9999], ids[0] + 9999);
        free(many);
        free(ids);
    }
    match = add(0x490, HV_EVENT_ANY_CORE, false);
    mov_dr7(2, 0x490, 0x401);
    mov_dr7(2, 0x491, 0x401);
    assert_int_equal(fired(match), 1);
    assert_int_equal(fired(1), 0);
    assert_int_equal(hv_event_clear(g_hv), HV_STATUS_SUCCESS);
    for (i = 0; i < NCPU; i++)
        assert_false(movdr_on(i));
}

static void bad_input_is_refused(void **state)
{
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS, .pid = HV_EVENT_ANY_PID,
                               .core = HV_EVENT_ANY_CORE };
    struct hv_action_spec act = { .kind = 99 };
    uint32_t id;

    (void)state;
    s.core = NCPU;
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_INVALID_PARAMETER);
    s.core = HV_EVENT_ANY_CORE;
    s.type = 7;
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_INVALID_PARAMETER);
    s.type = HV_EVENT_DR_ACCESS;
    s.buffer_size = HV_EVENT_MAX_BUFFER + 1;
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_INVALID_PARAMETER);
    s.buffer_size = 0;
    s.condition_len = HV_EVENT_MAX_CODE + 1;
    s.condition = (const uint8_t *)"";
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_INVALID_PARAMETER);
    s.condition_len = 0;
    s.size = 4;
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_INVALID_PARAMETER);
    s.size = sizeof(s);
    assert_int_equal(hv_event_add(g_hv, &s, &id), HV_STATUS_SUCCESS);
    assert_int_equal(hv_event_add_action(g_hv, id, &act), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_event_enable(g_hv, 999), HV_STATUS_NOT_FOUND);
    assert_int_equal(hv_event_remove(g_hv, 999), HV_STATUS_NOT_FOUND);
    assert_int_equal(hv_event_add_action(g_hv, 999, &act), HV_STATUS_NOT_FOUND);
}

static void every_allocation_failure_cleans_up(void **state)
{
    struct hv_event_spec s = { .size = sizeof(s), .type = HV_EVENT_DR_ACCESS, .pid = 5, .core = 1,
                               .buffer_size = 64, .condition = (const uint8_t *)"\xb8\x01\x00\x00\x00\xc3",
                               .condition_len = 6 };
    uint32_t n, id, before;
    hv_status_t st;

    (void)state;
    add(1, 1, true); /* the engine exists */
    before = hv_mock_os_outstanding_allocs();
    for (n = 1; n < 50; n++) {
        hv_mock_os_fail_alloc_at(n);
        st = hv_event_add(g_hv, &s, &id);
        if (st == HV_STATUS_SUCCESS)
            break;
        assert_int_equal(st, HV_STATUS_INSUFFICIENT_RESOURCES);
        assert_int_equal(hv_mock_os_outstanding_allocs(), before);
    }
    hv_mock_os_fail_alloc_at(0);
    assert_int_equal(hv_event_remove(g_hv, id), HV_STATUS_SUCCESS);
    assert_int_equal(hv_mock_os_outstanding_allocs(), before);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, start, stop)
    const struct CMUnitTest tests[] = {
        T(filters_pid_core_both), T(movdr_exiting_only_where_needed), T(emulation_stays_right),
        T(condition_true_and_false), T(custom_code_gets_documented_registers), T(script_break_and_callback),
        T(callback_sees_the_decoded_access), T(imm_yes_and_no_ordering), T(ring_full_drops_are_counted),
        T(ten_thousand_events_one_match), T(bad_input_is_refused), T(every_allocation_failure_cleans_up),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
