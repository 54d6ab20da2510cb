/* Exit recording (trace.h), trace files (client/trace_file.h) and replay
 * on the mock (testing/replay.h). */
#define _GNU_SOURCE
#include "exit_fixture.h"

#include <hvcore/abi.h>
#include <hvcore/abi_exec.h>
#include <hvcore/client/trace_file.h>
#include <hvcore/testing/replay.h>
#include <hvcore/trace.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RIP0 0xffffffff81001000ull

static uint32_t bit(uint32_t reason)
{
    return 1u << (reason % 32);
}

/* Drain core `core`'s ring into a trace writer. */
static uint32_t drain(struct hv *hv, uint32_t core, struct hv_trace_writer *w)
{
    static struct hv_msg_record recs[64];
    uint32_t n, total = 0;

    (void)hv_event_flush(hv);
    while ((n = hv_msg_get(hv_event_ring(hv, core), recs, 64)) != 0) {
        assert_int_equal(hv_trace_writer_feed(w, recs, n), HV_STATUS_SUCCESS);
        total += n;
    }
    return total;
}

static void trace_info(struct hv *hv, struct hv_abi_trace *t, uint32_t op)
{
    size_t len = 0;

    memset(t, 0, sizeof(*t));
    t->hdr.size = sizeof(*t);
    t->hdr.version = HV_ABI_VERSION;
    t->op = op;
    assert_int_equal(hv_abi_execute(hv, HV_ABI_REQ_TRACE, t, sizeof(*t), &len), HV_STATUS_SUCCESS);
}

static void cpuid_exit(uint64_t leaf)
{
    fx_v->gprs.r[HV_GPR_RAX] = leaf;
    fx_v->gprs.r[HV_GPR_RCX] = 0;
    fx_v->gprs.r[HV_GPR_RBX] = 0x1111;
    fx_v->gprs.r[HV_GPR_RDX] = 0x2222;
    assert_int_equal(fx_exit(HV_EXIT_CPUID, 0, 2), HV_ACTION_RESUME);
}

/* Given recording off, when exits run, then nothing is recorded and the
 * dispatcher never enters the recorder. */
static void test_off_records_nothing(void **state)
{
    struct hv_msg_stats s;

    (void)state;
    cpuid_exit(0);
    assert_null(fx_v->trace);
    assert_int_equal(hv_trace_armed, 0);
    assert_null(hv_event_ring(fx_hv, 1)); /* not even the rings exist */
    (void)s;
}

/* Given a recording of 2 CPUID exits, when CPUID and RDMSR exits run, then
 * exactly the first 2 CPUID exits are recorded with what the handler read
 * and did, and the recording ends by itself. */
static void test_records_cpuid_exits(void **state)
{
    struct hv_abi_trace t;
    struct hv_trace_config cfg = { .max_exits = 2, .reasons = { bit(HV_EXIT_CPUID), 0, 0 } };
    struct hv_trace_status st;
    struct hv_trace_writer *w;
    char path[] = "/tmp/hvtrace-unit-XXXXXX";
    int fd = mkstemp(path);
    FILE *f;
    static uint8_t buf[1 << 16];
    size_t len;
    const struct hv_trace_exit *r;
    const struct hv_trace_field *rd, *wr;
    const struct hv_trace_io *io;
    struct hv_trace_file_header h;
    uint32_t i;
    bool saw_reason = false;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(hv_trace_start(fx_hv, &cfg), HV_STATUS_SUCCESS);
    cpuid_exit(0);
    fx_v->gprs.r[HV_GPR_RCX] = 0x10; /* TSC: passes through the bitmap-less path */
    hv_mock_msr_set(1, 0x10, 0x123456789ull);
    fx_exit(HV_EXIT_RDMSR, 0, 2);
    cpuid_exit(1);
    cpuid_exit(0x40000000);
    assert_int_equal(hv_trace_get_status(fx_hv, &st), HV_STATUS_SUCCESS);
    assert_int_equal(st.recorded, 2);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.active, 0);

    trace_info(fx_hv, &t, HV_ABI_TRACE_STATUS);
    assert_int_equal(t.recorded, 2);
    assert_int_equal(hv_trace_writer_open(&w, path, &t), HV_STATUS_SUCCESS);
    assert_int_equal(drain(fx_hv, 1, w), 4); /* 2 exits, 2 fragments each */
    assert_int_equal(hv_trace_writer_exits(w), 2);
    assert_int_equal(hv_trace_writer_close(w, t.dropped), HV_STATUS_SUCCESS);

    f = fopen(path, "rb");
    assert_non_null(f);
    len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    unlink(path);
    memcpy(&h, buf, sizeof(h));
    assert_memory_equal(h.magic, "HVTRACE", 8);
    assert_int_equal(h.version, HV_TRACE_VERSION);
    assert_int_equal(h.core_count, 2);
    assert_int_equal(h.exits, 2);
    r = (const struct hv_trace_exit *)(const void *)(buf + h.header_size);
    assert_true(hv_trace_exit_valid(r, (uint32_t)(len - h.header_size)));
    assert_int_equal(r->core, 1);
    assert_int_equal(r->reason, HV_EXIT_CPUID);
    assert_int_equal(r->action, HV_ACTION_SKIP);
    assert_int_equal(r->result, HV_ACTION_RESUME);
    assert_int_equal(hv_trace_gprs_before(r)[HV_GPR_RAX], 0);
    assert_int_equal(hv_trace_gprs_before(r)[HV_GPR_RBX], 0x1111);
    /* RAX, RCX, RDX, RBX all took the leaf's values. */
    assert_int_equal(r->gpr_changed & 0xF, r->gpr_changed);
    rd = hv_trace_reads(r);
    for (i = 0; i < r->nreads; i++)
        if (rd[i].field == HV_VMCS_VM_EXIT_REASON && rd[i].value == HV_EXIT_CPUID)
            saw_reason = true;
    assert_true(saw_reason);
    wr = hv_trace_writes(r);
    assert_true(r->nwrites >= 1);
    assert_int_equal(wr[r->nwrites - 1].field, HV_VMCS_GUEST_RIP);
    assert_int_equal(wr[r->nwrites - 1].value, RIP0 + 2);
    io = hv_trace_ios(r);
    assert_int_equal(r->nio, 1);
    assert_int_equal(io[0].kind, HV_TRACE_IO_CPUID);
    assert_int_equal(io[0].key, 0);
    /* The second record is the second CPUID exit (leaf 1), seq 3 on core 1. */
    r = (const struct hv_trace_exit *)(const void *)((const uint8_t *)r + r->size);
    assert_true(hv_trace_exit_valid(r, (uint32_t)(buf + len - (const uint8_t *)r)));
    assert_int_equal(hv_trace_gprs_before(r)[HV_GPR_RAX], 1);
    assert_int_equal(r->seq, 3);
    assert_int_equal(hv_trace_stop(fx_hv), HV_STATUS_SUCCESS);
    assert_int_equal(hv_trace_armed, 0);
}

/* Given a recording nobody reads, when more exits come than the ring
 * holds, then whole exits are dropped and counted, never half of one. */
static void test_full_ring_drops_whole_exits(void **state)
{
    struct hv_trace_config cfg = { 0 };
    struct hv_trace_status st;
    struct hv_msg_stats ms;
    uint32_t i;

    (void)state;
    assert_int_equal(hv_trace_start(fx_hv, &cfg), HV_STATUS_SUCCESS);
    for (i = 0; i < 600; i++)
        cpuid_exit(0);
    assert_int_equal(hv_trace_get_status(fx_hv, &st), HV_STATUS_SUCCESS);
    hv_msg_stats(hv_event_ring(fx_hv, 1), &ms);
    assert_int_equal(st.recorded + st.dropped, 600);
    assert_int_equal(st.recorded, ms.capacity / 2);
    assert_int_equal(ms.produced, 2 * st.recorded);
    assert_int_equal(ms.dropped, 2 * st.dropped);
    assert_int_equal(hv_trace_stop(fx_hv), HV_STATUS_SUCCESS);
}

/* Bad requests on the ABI path are refused before anything runs. */
static void test_abi_rejects_bad_requests(void **state)
{
    struct hv_abi_trace t;
    size_t len;

    (void)state;
    memset(&t, 0, sizeof(t));
    t.hdr.size = sizeof(t);
    t.hdr.version = HV_ABI_VERSION;
    t.op = 9;
    assert_int_equal(hv_abi_execute(fx_hv, HV_ABI_REQ_TRACE, &t, sizeof(t), &len), HV_STATUS_INVALID_PARAMETER);
    t.op = HV_ABI_TRACE_START;
    t.reasons[2] = 1u << 31; /* reason 95: beyond the table */
    assert_int_equal(hv_abi_execute(fx_hv, HV_ABI_REQ_TRACE, &t, sizeof(t), &len), HV_STATUS_INVALID_PARAMETER);
    t.reasons[2] = 0;
    t.hdr.size = sizeof(t) - 8;
    assert_int_equal(hv_abi_execute(fx_hv, HV_ABI_REQ_TRACE, &t, sizeof(t), &len), HV_STATUS_INVALID_PARAMETER);
    assert_null(fx_v->trace);
}

/* ---- replay ------------------------------------------------------------- */

static uint8_t *g_file;
static size_t g_file_len;

/* Record a mixed run (CPUID, RDMSR that faults, RDMSR, MOV to/from DR,
 * VMCALL) on a machine of its own and keep the file in memory. */
static void record_mixed(void)
{
    struct hv *hv;
    struct hv_vcpu *v;
    struct hv_trace_config cfg = { 0 };
    struct hv_abi_trace t;
    struct hv_trace_writer *w;
    char path[] = "/tmp/hvtrace-unit-XXXXXX";
    int fd = mkstemp(path);
    FILE *f;
    struct hv_mock_exit x = { .reason = HV_EXIT_CPUID, .instruction_len = 2 };
    uint32_t i;

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
    hv = support_start_hv();
    hv_mock_cpu_bind(1);
    v = hv_mock_current_vcpu();
    hv_mock_vmcs_seed(HV_VMCS_GUEST_RIP, RIP0);
    assert_int_equal(hv_trace_start(hv, &cfg), HV_STATUS_SUCCESS);
    for (i = 0; i < 8; i++) {
        v->gprs.r[HV_GPR_RAX] = i & 1 ? 0x40000000 : 7;
        v->gprs.r[HV_GPR_RCX] = 0;
        x.reason = HV_EXIT_CPUID;
        x.qualification = 0;
        x.instruction_len = 2;
        hv_mock_exit(&x);
        v->gprs.r[HV_GPR_RCX] = i & 1 ? 0x10 : 0xC0DE0000u; /* TSC, and an MSR that #GPs */
        x.reason = HV_EXIT_RDMSR;
        hv_mock_exit(&x);
        v->gprs.r[HV_GPR_RBX] = 0x1000 + i;
        x.reason = HV_EXIT_MOV_DR;
        x.qualification = 0 | (3u << 8);           /* MOV DR0, RBX */
        x.instruction_len = 3;
        hv_mock_exit(&x);
        x.qualification = 0 | (1u << 4) | (2u << 8); /* MOV RDX, DR0 */
        hv_mock_exit(&x);
        (void)hv_mock_guest_vmcall(HV_VMCALL_PING, HV_VMCALL_KEY, 0, 0);
    }
    assert_int_equal(hv_trace_stop(hv), HV_STATUS_SUCCESS);
    trace_info(hv, &t, HV_ABI_TRACE_STATUS);
    assert_int_equal(t.recorded, 40);
    assert_int_equal(hv_trace_writer_open(&w, path, &t), HV_STATUS_SUCCESS);
    drain(hv, 1, w);
    assert_int_equal(hv_trace_writer_exits(w), 40);
    assert_int_equal(hv_trace_writer_close(w, t.dropped), HV_STATUS_SUCCESS);
    hv_mock_cpu_bind(0);
    support_stop_hv(hv);
    hv_mock_fini();

    f = fopen(path, "rb");
    assert_non_null(f);
    g_file = malloc(1 << 20);
    g_file_len = fread(g_file, 1, 1 << 20, f);
    fclose(f);
    unlink(path);
}

/* Given a recording, when it is replayed with the same handlers, then every
 * exit matches. */
static void test_replay_matches(void **state)
{
    struct hv_replay_result res;

    (void)state;
    record_mixed();
    assert_int_equal(hv_replay_buffer(g_file, g_file_len, NULL, &res), HV_STATUS_SUCCESS);
    if (res.have_divergence)
        print_message("divergence at %llu: %s\n", (unsigned long long)res.first_index, res.first);
    assert_int_equal(res.exits, 40);
    assert_int_equal(res.replayed, 40);
    assert_int_equal(res.matched, 40);
    assert_int_equal(res.have_divergence, 0);
    free(g_file);
}

/* A CPUID handler with a bug: EBX loses its low byte. */
static enum hv_exit_action broken_cpuid(struct hv_exit *e)
{
    enum hv_exit_action a = hv_exit_default_handler(HV_EXIT_CPUID)(e);

    e->gprs->r[HV_GPR_RBX] &= ~0xFFull;
    return a;
}

static void install_broken(struct hv *hv, void *ctx)
{
    (void)ctx;
    assert_int_equal(hv_exit_set_handler(hv, HV_EXIT_CPUID, broken_cpuid), HV_STATUS_SUCCESS);
}

/* A MOV-DR handler that forgets to skip the instruction. */
static enum hv_exit_action no_skip_dr(struct hv_exit *e)
{
    (void)hv_exit_default_handler(HV_EXIT_MOV_DR)(e);
    return HV_ACTION_RESUME;
}

static void install_no_skip(struct hv *hv, void *ctx)
{
    (void)ctx;
    assert_int_equal(hv_exit_set_handler(hv, HV_EXIT_MOV_DR, no_skip_dr), HV_STATUS_SUCCESS);
}

/* Given a recording, when a handler that changes behaviour replays it, then
 * the first divergent exit is reported with the differing fields. */
static void test_replay_reports_broken_handler(void **state)
{
    struct hv_replay_result res;
    struct hv_replay_options o = { .setup = install_broken };

    (void)state;
    record_mixed();
    assert_int_equal(hv_replay_buffer(g_file, g_file_len, &o, &res), HV_STATUS_SUCCESS);
    assert_int_equal(res.replayed, 40);
    assert_true(res.have_divergence);
    assert_int_equal(res.first_index, 0);
    assert_int_equal(res.first_reason, HV_EXIT_CPUID);
    /* Leaf 7 on Haswell has EBX bits in the low byte; 0x40000000 has "libh". */
    assert_non_null(strstr(res.first, "rbx after: recorded 0x"));
    assert_int_equal(res.matched + res.diverged, 40);
    assert_true(res.diverged >= 4);

    o.setup = install_no_skip;
    assert_int_equal(hv_replay_buffer(g_file, g_file_len, &o, &res), HV_STATUS_SUCCESS);
    assert_int_equal(res.first_index, 2);
    assert_int_equal(res.first_reason, HV_EXIT_MOV_DR);
    assert_non_null(strstr(res.first, "handler action: recorded SKIP, replayed RESUME"));
    assert_non_null(strstr(res.first, "VMCS write"));
    assert_non_null(strstr(res.first, "GUEST_RIP="));
    assert_int_equal(res.diverged, 16);
    free(g_file);
}

/* Malformed traces are refused, never half-replayed. */
static void test_replay_rejects_malformed(void **state)
{
    struct hv_replay_result res;
    struct hv_trace_exit *r;

    (void)state;
    record_mixed();
    g_file[0] = 'X';
    assert_int_equal(hv_replay_buffer(g_file, g_file_len, NULL, &res), HV_STATUS_INVALID_PACKET);
    g_file[0] = 'H';
    r = (struct hv_trace_exit *)(void *)(g_file + sizeof(struct hv_trace_file_header));
    r->nreads++; /* counts now disagree with the size */
    assert_int_equal(hv_replay_buffer(g_file, g_file_len, NULL, &res), HV_STATUS_INVALID_PACKET);
    r->nreads--;
    assert_int_equal(hv_replay_buffer(g_file, g_file_len - 8, NULL, &res), HV_STATUS_INVALID_PACKET);
    assert_int_equal(hv_replay_file("/nonexistent/trace", NULL, &res), HV_STATUS_READ_FAILED);
    free(g_file);
}

#ifdef HVCORE_SHIPPED_TRACE
/* The trace recorded in the Bochs guest (test/data): every later change of
 * a handler is checked against these real exits. */
static void test_replay_shipped_bochs_trace(void **state)
{
    struct hv_replay_result res;

    (void)state;
    assert_int_equal(hv_replay_file(HVCORE_SHIPPED_TRACE, NULL, &res), HV_STATUS_SUCCESS);
    if (res.have_divergence)
        print_message("first divergence: exit %llu (core %u seq %llu reason %u): %s\n",
                      (unsigned long long)res.first_index, res.first_core, (unsigned long long)res.first_seq,
                      res.first_reason, res.first);
    print_message("shipped trace: %llu exits, %llu matched\n", (unsigned long long)res.exits,
                  (unsigned long long)res.matched);
    assert_true(res.exits >= 100);
    assert_int_equal(res.replayed, res.exits);
    assert_int_equal(res.matched, res.exits);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off_records_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_records_cpuid_exits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_full_ring_drops_whole_exits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_abi_rejects_bad_requests, fx_setup, fx_teardown),
        cmocka_unit_test(test_replay_matches),
        cmocka_unit_test(test_replay_reports_broken_handler),
        cmocka_unit_test(test_replay_rejects_malformed),
#ifdef HVCORE_SHIPPED_TRACE
        cmocka_unit_test(test_replay_shipped_bochs_trace),
#endif
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
