/*
 * Debugger Mode on the mock machine: the polled 16550 driver and the link
 * over it against the fake UART (framing, retransmission, resync, silence),
 * and the stub (hvcore/debugger.h) driven as a remote debugger drives it
 * through hvcore/testing/dbg_sim.h: break-in halts every core, requests are
 * validated and executed on the right core, a core that never halts is
 * reported, foreign NMIs still reach the guest, event changes apply at GO.
 */
#define _POSIX_C_SOURCE 200809L

#include "support.h"

#include <hvcore/abi_exec.h>
#include <hvcore/debugger.h>
#include <hvcore/link.h>
#include <hvcore/testing/dbg_sim.h>
#include <hvcore/uart.h>

#include <pthread.h>
#include <string.h>
#include <time.h>

#define PORT 0x3F8u

/* ---- host side of the line (the in-memory queues) ---------------------------- */

static uint64_t host_now(void *ctx)
{
    struct timespec ts;

    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static hv_status_t host_read(void *ctx, uint8_t *buf, size_t cap, size_t *got)
{
    (void)ctx;
    *got = hv_mock_uart_host_read(buf, cap);
    return HV_STATUS_SUCCESS;
}

static hv_status_t host_write(void *ctx, const uint8_t *buf, size_t len, size_t *done)
{
    (void)ctx;
    *done = hv_mock_uart_host_write(buf, len);
    return HV_STATUS_SUCCESS;
}

static void host_wait(void *ctx, bool for_write, uint64_t ticks)
{
    struct timespec ts = { 0, 200000 };

    (void)ctx;
    (void)for_write;
    (void)ticks;
    nanosleep(&ts, NULL);
}

static struct hv_link g_host;
static uint8_t g_host_rx[HV_LINK_RX_BUFFER_SIZE(HV_DBG_MAX_MESSAGE)];
static uint8_t g_req[HV_DBG_MAX_MESSAGE], g_rep[HV_DBG_MAX_MESSAGE];
static uint32_t g_tag = 100;
static uint32_t g_host_seq0;

static void host_link_init(uint32_t ack_ms, uint32_t retries)
{
    struct hv_link_io io = { .read = host_read, .write = host_write, .now = host_now, .wait = host_wait };
    struct hv_link_config cfg = { .max_payload = HV_DBG_MAX_MESSAGE, .ack_timeout = ack_ms,
                                  .max_retries = retries, .initial_seq = (uint32_t)host_now(NULL) * 7u };

    g_host_seq0 = cfg.initial_seq;

    assert_int_equal(hv_link_init(&g_host, &io, &cfg, g_host_rx, sizeof(g_host_rx)), HV_STATUS_SUCCESS);
}

/* Send a request (raw body) and wait for the reply with its tag; STOP
 * messages met on the way are kept in *stop when given. Returns the reply
 * header's status; *body_len = its body bytes (in g_rep + 16). */
static hv_status_t xfer(uint16_t type, const void *body, uint32_t len, uint32_t *body_len)
{
    struct hv_dbg_header h;
    uint32_t got = 0, tag = ++g_tag;
    uint64_t deadline = host_now(NULL) + 10000u;

    hv_dbg_header_put(g_req, type, tag, 0, len);
    if (len)
        memcpy(g_req + 16, body, len);
    assert_int_equal(hv_link_send(&g_host, g_req, 16u + len), HV_STATUS_SUCCESS);
    while (host_now(NULL) < deadline) {
        if (hv_link_recv(&g_host, g_rep, sizeof(g_rep), &got, 500) != HV_STATUS_SUCCESS)
            continue;
        assert_int_equal(hv_dbg_header_check(g_rep, got, &h), HV_STATUS_SUCCESS);
        if (h.tag != tag)
            continue; /* an unsolicited STOP */
        assert_int_equal(h.type, type | HV_DBG_REPLY);
        if (body_len)
            *body_len = h.length;
        return h.status;
    }
    fail_msg("no reply to %s", hv_dbg_msg_name(type));
    return HV_STATUS_TIMEOUT;
}

/* Wait for an unsolicited STOP message. */
static void wait_stop(struct hv_dbg_stop *out)
{
    struct hv_dbg_header h;
    uint32_t got = 0;
    uint64_t deadline = host_now(NULL) + 10000u;

    while (host_now(NULL) < deadline) {
        if (hv_link_recv(&g_host, g_rep, sizeof(g_rep), &got, 500) != HV_STATUS_SUCCESS)
            continue;
        assert_int_equal(hv_dbg_header_check(g_rep, got, &h), HV_STATUS_SUCCESS);
        if (h.type == (HV_DBG_MSG_STOP | HV_DBG_REPLY)) {
            assert_int_equal(h.tag, 0);
            assert_int_equal(h.length, sizeof(*out));
            memcpy(out, g_rep + 16, sizeof(*out));
            return;
        }
    }
    fail_msg("no STOP message");
}

static bool bit(const uint8_t *map, uint32_t n)
{
    return (map[n / 8] >> (n % 8)) & 1u;
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* ---- the UART driver against the fake 16550 ---------------------------------- */

/* Given the fake 16550, when the driver initialises it for 9600 baud, then
 * the divisor is 12, the line 8N1, FIFOs on and cleared, interrupts off. */
static void uart_init_programs_the_line(void **state)
{
    struct hv_mock_uart_stats s;
    struct hv_uart u;

    (void)state;
    assert_int_equal(hv_mock_init(1, HV_MOCK_PROFILE_HASWELL), HV_STATUS_SUCCESS);
    hv_mock_uart_attach(PORT, -1);
    assert_int_equal(hv_uart_init(&u, PORT, 9600, 0), HV_STATUS_SUCCESS);
    hv_mock_uart_get_stats(&s);
    assert_int_equal(s.divisor, 12);
    assert_int_equal(s.lcr, 0x03);
    assert_int_equal(s.fcr & 0x07, 0x07);
    assert_int_equal(s.ier, 0);
    /* Nothing decodes another port; a baud that is no divisor is refused. */
    assert_int_equal(hv_uart_init(&u, 0x2F8, 115200, 0), HV_STATUS_NOT_FOUND);
    assert_int_equal(hv_uart_init(&u, PORT, 7000, 0), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_uart_init(NULL, PORT, 0, 0), HV_STATUS_INVALID_PARAMETER);
    hv_mock_fini();
}

/* A transmitter that never takes a byte: writes return at once with 0
 * bytes (the link bounds the wait), never a hang. */
static void uart_stuck_transmitter_is_bounded(void **state)
{
    struct hv_mock_uart_faults f = { .tx_stuck = true };
    struct hv_uart u;
    uint8_t b[4] = { 1, 2, 3, 4 };
    size_t done = 99;

    (void)state;
    assert_int_equal(hv_mock_init(1, HV_MOCK_PROFILE_HASWELL), HV_STATUS_SUCCESS);
    hv_mock_uart_attach(PORT, -1);
    assert_int_equal(hv_uart_init(&u, PORT, 0, 1000000u), HV_STATUS_SUCCESS);
    hv_mock_uart_set_faults(&f);
    assert_int_equal(hv_uart_write(&u, b, sizeof(b), &done), HV_STATUS_SUCCESS);
    assert_int_equal(done, 0);
    hv_mock_fini();
}

/* The target end of a link over the UART, echoing payloads, in a thread. */
struct echo {
    struct hv_link link;
    struct hv_uart uart;
    uint8_t rx[HV_LINK_RX_BUFFER_SIZE(2048)];
    uint8_t buf[2048];
    bool stop, exited;
    uint32_t echoed, abandoned;
    hv_status_t last_recv;
};

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    uint32_t len;
    hv_status_t st;

    hv_mock_cpu_bind(0);
    while (!__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
        st = hv_link_recv(&e->link, e->buf, sizeof(e->buf), &len, 50);
        __atomic_store_n(&e->last_recv, st, __ATOMIC_RELEASE);
        if (st != HV_STATUS_SUCCESS)
            continue;
        st = hv_link_send(&e->link, e->buf, len);
        if (st == HV_STATUS_SUCCESS)
            __atomic_fetch_add(&e->echoed, 1u, __ATOMIC_RELEASE);
        else if (st == HV_STATUS_DEVICE_CONNECTION_LOST &&
                 hv_link_last_reason(&e->link) == HV_LINK_REASON_PEER_RESTARTED)
            __atomic_fetch_add(&e->abandoned, 1u, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&e->exited, true, __ATOMIC_RELEASE);
    return NULL;
}

static struct echo g_echo;
static pthread_t g_echo_thread;

static void echo_start(uint32_t ack_ms)
{
    struct hv_link_io io;
    struct hv_link_config cfg = { .max_payload = 2048, .ack_timeout = ack_ms, .max_retries = 20,
                                  .initial_seq = 5000 };
    memset(&g_echo, 0, sizeof(g_echo));
    assert_int_equal(hv_mock_init(1, HV_MOCK_PROFILE_HASWELL), HV_STATUS_SUCCESS);
    hv_mock_uart_attach(PORT, -1);
    assert_int_equal(hv_uart_init(&g_echo.uart, PORT, 0, 1000000u), HV_STATUS_SUCCESS);
    hv_uart_link_io(&g_echo.uart, &io);
    assert_int_equal(hv_link_init(&g_echo.link, &io, &cfg, g_echo.rx, sizeof(g_echo.rx)), HV_STATUS_SUCCESS);
    assert_int_equal(pthread_create(&g_echo_thread, NULL, echo_main, &g_echo), 0);
}

static void echo_stop(void)
{
    __atomic_store_n(&g_echo.stop, true, __ATOMIC_RELEASE);
    /* Keep acknowledging: the echo of the last payload may still be
     * retransmitted if its ACK was lost on the line. */
    while (!__atomic_load_n(&g_echo.exited, __ATOMIC_ACQUIRE)) {
        (void)hv_link_poll(&g_host, NULL);
        nap_ms(1);
    }
    pthread_join(g_echo_thread, NULL);
    hv_mock_fini();
}

/* Echo `n` payloads of varied sizes (flag and escape bytes included). */
static void echo_round_trips(uint32_t n, uint32_t max_len)
{
    static uint8_t out[1500], in[2048];
    uint32_t i, k, len, got;

    for (i = 0; i < n; i++) {
        len = 1u + (i * 97u) % max_len;
        for (k = 0; k < len; k++)
            out[k] = (uint8_t)(k * 31u + i);
        out[0] = 0x7E;
        out[len - 1] = 0x7D;
        assert_int_equal(hv_link_send(&g_host, out, len), HV_STATUS_SUCCESS);
        do {
            got = 0;
        } while (hv_link_recv(&g_host, in, sizeof(in), &got, 2000) != HV_STATUS_SUCCESS);
        assert_int_equal(got, len);
        assert_memory_equal(in, out, len);
    }
}

/* Given a clean line, frames cross the UART both ways byte-exact. */
static void link_over_uart_frames(void **state)
{
    struct hv_link_stats hs;

    (void)state;
    echo_start(200);
    host_link_init(200, 20);
    echo_round_trips(20, 1500);
    hv_link_get_stats(&g_host, &hs);
    assert_int_equal(hs.retransmits, 0);
    assert_int_equal(hs.bad_frames, 0);
    echo_stop();
}

/* Given a line that drops and corrupts bytes both ways, every payload
 * still arrives once, by retransmission and resynchronisation. */
static void link_over_uart_survives_drops_and_noise(void **state)
{
    struct hv_mock_uart_faults f = { .seed = 7, .drop_rx_per_mille = 2, .drop_tx_per_mille = 2,
                                     .corrupt_rx_per_mille = 2, .corrupt_tx_per_mille = 2 };
    struct hv_link_stats hs, ts;

    (void)state;
    echo_start(100);
    host_link_init(100, 20);
    hv_mock_uart_set_faults(&f);
    echo_round_trips(40, 120);
    /* The echo's counters are its thread's: read them once it has ended. */
    echo_stop();
    hv_link_get_stats(&g_host, &hs);
    hv_link_get_stats(&g_echo.link, &ts);
    assert_true(hs.retransmits + ts.retransmits > 0);
    assert_true(hs.bad_frames + ts.bad_frames > 0);
}

/* Given a silent line, a send gives up with TIMEOUT after its retries and
 * the target's receive returns TIMEOUT: nothing waits forever. */
static void link_over_uart_times_out_on_silence(void **state)
{
    struct hv_mock_uart_faults f = { .silent = true };
    uint8_t b[8] = { 0 };

    (void)state;
    echo_start(50);
    host_link_init(50, 2);
    hv_mock_uart_set_faults(&f);
    assert_int_equal(hv_link_send(&g_host, b, sizeof(b)), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_link_last_reason(&g_host), HV_LINK_REASON_NO_ACK);
    /* The target's receive loop reports TIMEOUT (never a payload) once it has
     * run; on a loaded machine its thread may not have finished one receive
     * yet when the host gives up, so wait for it (bounded). */
    for (int i = 0; i < 10000 && __atomic_load_n(&g_echo.last_recv, __ATOMIC_ACQUIRE) != HV_STATUS_TIMEOUT; i++)
        nap_ms(1);
    assert_int_equal(__atomic_load_n(&g_echo.last_recv, __ATOMIC_ACQUIRE), HV_STATUS_TIMEOUT);
    assert_int_equal(__atomic_load_n(&g_echo.echoed, __ATOMIC_ACQUIRE), 0);
    echo_stop();
}

/* Given an established session, when the host reconnects (a new SYN
 * session) while the target waits for the ACK of its answer, then the
 * target abandons that answer at once and serves the new session. */
static void link_over_uart_abandons_a_reply_when_the_peer_reconnects(void **state)
{
    uint8_t p1[4] = { 1, 1, 1, 1 }, p2[4] = { 2, 2, 2, 2 }, in[64], raw[64];
    uint32_t got = 0;
    size_t n = 0, seen = 0;
    int i;

    (void)state;
    echo_start(300);
    host_link_init(300, 20);
    /* A session: one echo. */
    assert_int_equal(hv_link_send(&g_host, p1, sizeof(p1)), HV_STATUS_SUCCESS);
    while (hv_link_recv(&g_host, in, sizeof(in), &got, 1000) != HV_STATUS_SUCCESS)
        ;
    /* p1 again, written raw (no host endpoint to acknowledge the echo):
     * wait for its ACK and its echo on the line, drop them: the echo's
     * sender now waits for an ACK that will not come. */
    assert_int_equal(hv_link_encode(HV_LINK_KIND_DATA, 0, g_host_seq0 + 1u, p1, sizeof(p1), raw, sizeof(raw), &n),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_mock_uart_host_write(raw, n), n);
    while (seen < 4u) { /* the delimiters of the ACK and of the echo */
        size_t k = hv_mock_uart_host_read(in, 1), j;

        for (j = 0; j < k; j++)
            seen += in[j] == HV_LINK_FLAG_BYTE;
        if (k == 0)
            nap_ms(1);
    }
    /* The host reconnects: a new session. */
    hv_link_reset(&g_host, 0x51000000u);
    assert_int_equal(hv_link_send(&g_host, p2, sizeof(p2)), HV_STATUS_SUCCESS);
    for (i = 0; i < 10; i++) {
        assert_int_equal(hv_link_recv(&g_host, in, sizeof(in), &got, 5000), HV_STATUS_SUCCESS);
        if (in[0] == 2)
            break;
    }
    assert_int_equal(in[0], 2);
    assert_int_equal(__atomic_load_n(&g_echo.abandoned, __ATOMIC_ACQUIRE), 1);
    echo_stop();
}

/* ---- the stub on the simulated machine ---------------------------------------- */

static struct hv_mock_dbg_sim *g_sim;

static void sim_start(uint32_t ncores, uint32_t stuck)
{
    struct hv_mock_dbg_sim_config cfg;
    uint32_t i;

    hv_mock_dbg_sim_config_init(&cfg);
    cfg.ncores = ncores;
    cfg.stuck_core = stuck;
    cfg.halt_timeout_ms = 300;
    assert_int_equal(hv_mock_dbg_sim_start(&cfg, &g_sim), HV_STATUS_SUCCESS);
    for (i = 0; i < ncores; i++)
        hv_mock_dbg_sim_hv(g_sim)->vcpus[i].gprs.r[HV_GPR_RBX] = 0xB000u + i;
    host_link_init(300, 10);
}

static void sim_stop(void)
{
    hv_mock_dbg_sim_stop(g_sim);
    g_sim = NULL;
}

static void pause_target(struct hv_dbg_stop *s)
{
    uint32_t len = 0;

    assert_int_equal(xfer(HV_DBG_MSG_PAUSE, NULL, 0, &len), HV_STATUS_SUCCESS);
    assert_int_equal(len, sizeof(*s));
    memcpy(s, g_rep + 16, sizeof(*s));
}

static void go(void)
{
    assert_int_equal(xfer(HV_DBG_MSG_GO, NULL, 0, NULL), HV_STATUS_SUCCESS);
}

/* While running, HELLO and STATUS are answered from the UART core's
 * preemption-timer exits, other requests get TARGET_RUNNING. */
static void stub_answers_while_running(void **state)
{
    struct hv_dbg_hello h;
    struct hv_dbg_stop s;
    struct hv_dbg_core_req cr = { 0, 0 };
    uint32_t len = 0;

    (void)state;
    sim_start(2, UINT32_MAX);
    assert_int_equal(xfer(HV_DBG_MSG_HELLO, NULL, 0, &len), HV_STATUS_SUCCESS);
    assert_int_equal(len, sizeof(h));
    memcpy(&h, g_rep + 16, sizeof(h));
    assert_int_equal(h.version, HV_DBG_VERSION);
    assert_int_equal(h.state, HV_DBG_STATE_RUNNING);
    assert_int_equal(h.ncores, 2);
    assert_int_equal(h.max_read, HV_DBG_MAX_READ);
    assert_string_equal(h.signature, "libhvcore");
    assert_int_equal(xfer(HV_DBG_MSG_STATUS, NULL, 0, &len), HV_STATUS_SUCCESS);
    memcpy(&s, g_rep + 16, sizeof(s));
    assert_int_equal(s.state, HV_DBG_STATE_RUNNING);
    assert_int_equal(xfer(HV_DBG_MSG_GET_REGS, &cr, sizeof(cr), NULL), HV_STATUS_TARGET_RUNNING);
    assert_int_equal(xfer(HV_DBG_MSG_GO, NULL, 0, NULL), HV_STATUS_TARGET_RUNNING);
    assert_int_equal(xfer(0x0777, NULL, 0, NULL), HV_STATUS_INVALID_PARAMETER);
    sim_stop();
}

/* Break-in: every core halts (their guests make no progress), the report
 * names the stopping core, GO resumes them all, and the halting NMIs never
 * reach a guest. */
static void pause_halts_every_core_and_go_resumes(void **state)
{
    struct hv_dbg_stop s;
    uint64_t before[4], after[4];
    uint32_t i;

    (void)state;
    sim_start(4, UINT32_MAX);
    pause_target(&s);
    assert_int_equal(s.state, HV_DBG_STATE_HALTED);
    assert_int_equal(s.reason, HV_DBG_STOP_BREAK_IN);
    assert_int_equal(s.stopping_core, 0); /* the UART core read the PAUSE */
    assert_int_equal(s.current_core, 0);
    assert_int_equal(s.ncores, 4);
    assert_int_equal(s.stops, 1);
    for (i = 0; i < 4; i++) {
        assert_true(bit(s.halted, i));
        assert_false(bit(s.not_halted, i));
    }
    for (i = 1; i < 4; i++)
        assert_true(hv_mock_cpu_nmis_sent(i) >= 1);
    for (i = 0; i < 4; i++)
        before[i] = hv_mock_dbg_sim_guest_steps(g_sim, i);
    nap_ms(50);
    for (i = 0; i < 4; i++)
        after[i] = hv_mock_dbg_sim_guest_steps(g_sim, i);
    assert_memory_equal(before, after, sizeof(before));
    /* A watchdog NMI for core 2 while it is halted: the guest gets it after GO. */
    hv_mock_cpu_post_nmi(2);
    go();
    for (i = 0; i < 4; i++) {
        while (hv_mock_dbg_sim_guest_steps(g_sim, i) == after[i])
            nap_ms(1);
    }
    while (hv_mock_dbg_sim_guest_nmis(g_sim, 2) == 0)
        nap_ms(1);
    nap_ms(20);
    for (i = 0; i < 4; i++)
        assert_int_equal(hv_mock_dbg_sim_guest_nmis(g_sim, i), i == 2 ? 1 : 0);
    /* A second PAUSE halts again. */
    pause_target(&s);
    assert_int_equal(s.stops, 2);
    go();
    sim_stop();
}

/* A core that never takes its NMI is reported, not waited for; requests
 * for it answer TIMEOUT, the others work. */
static void core_that_never_halts_is_reported(void **state)
{
    struct hv_dbg_stop s;
    struct hv_abi_msr_op op = { .msr = 0xC0000103u /* TSC_AUX */, .core_number = HV_DBG_ALL_CORES,
                                .action = HV_ABI_MSR_READ };
    struct hv_dbg_msr_reply rep;
    struct hv_abi_msr_result res[3];
    struct hv_dbg_core_req cr = { 2, 0 };
    uint32_t len = 0;

    (void)state;
    sim_start(3, 2);
    hv_mock_msr_set(HV_MOCK_ALL_CPUS, 0xC0000103u, 3);
    pause_target(&s);
    assert_true(bit(s.halted, 0));
    assert_true(bit(s.halted, 1));
    assert_false(bit(s.halted, 2));
    assert_true(bit(s.not_halted, 2));
    assert_int_equal(xfer(HV_DBG_MSG_MSR, &op, sizeof(op), &len), HV_STATUS_TIMEOUT);
    memcpy(&rep, g_rep + 16, sizeof(rep));
    assert_int_equal(rep.count, 3);
    memcpy(res, g_rep + 16 + sizeof(rep), sizeof(res));
    assert_int_equal(res[0].status, HV_STATUS_SUCCESS);
    assert_int_equal(res[0].value, 3);
    assert_int_equal(res[1].status, HV_STATUS_SUCCESS);
    assert_int_equal(res[1].core, 1);
    assert_int_equal(res[2].status, HV_STATUS_TIMEOUT);
    assert_int_equal(xfer(HV_DBG_MSG_SWITCH_CORE, &cr, sizeof(cr), NULL), HV_STATUS_TIMEOUT);
    go();
    sim_stop();
}

/* Registers come from the core asked for; a write lands on that core;
 * switching cores moves the current core. */
static void registers_are_read_and_written_on_the_right_core(void **state)
{
    struct hv_dbg_core_req cr = { 1, 0 };
    struct hv_dbg_set_reg sr = { .core = 1, .reg = HV_GPR_RCX, .value = 0x1234 };
    struct hv_dbg_regs r, regs1;
    struct hv_dbg_stop s;
    uint32_t len = 0;

    (void)state;
    sim_start(2, UINT32_MAX);
    pause_target(&s);
    assert_int_equal(xfer(HV_DBG_MSG_GET_REGS, &cr, sizeof(cr), &len), HV_STATUS_SUCCESS);
    assert_int_equal(len, sizeof(r));
    memcpy(&r, g_rep + 16, sizeof(r));
    assert_int_equal(r.core, 1);
    assert_int_equal(r.gpr[HV_GPR_RBX], 0xB001);
    regs1 = r;
    assert_int_equal(xfer(HV_DBG_MSG_SET_REG, &sr, sizeof(sr), NULL), HV_STATUS_SUCCESS);
    assert_int_equal(hv_mock_dbg_sim_hv(g_sim)->vcpus[1].gprs.r[HV_GPR_RCX], 0x1234);
    sr.reg = HV_DBG_REG_RIP;
    sr.value = 0xFFFFFFFF81000000ull;
    assert_int_equal(xfer(HV_DBG_MSG_SET_REG, &sr, sizeof(sr), NULL), HV_STATUS_SUCCESS);
    /* Switch to core 1: the current core's registers are core 1's. */
    assert_int_equal(xfer(HV_DBG_MSG_SWITCH_CORE, &cr, sizeof(cr), &len), HV_STATUS_SUCCESS);
    memcpy(&s, g_rep + 16, sizeof(s));
    assert_int_equal(s.current_core, 1);
    assert_int_equal(s.rip, 0xFFFFFFFF81000000ull);
    cr.core = HV_DBG_CURRENT_CORE;
    assert_int_equal(xfer(HV_DBG_MSG_GET_REGS, &cr, sizeof(cr), NULL), HV_STATUS_SUCCESS);
    memcpy(&r, g_rep + 16, sizeof(r));
    assert_int_equal(r.core, 1);
    assert_int_equal(r.rip, 0xFFFFFFFF81000000ull);
    go();
    /* Core 1's VMCS (readable once it runs again) holds what was read and written. */
    assert_int_equal(regs1.cr0, support_field_on(1, HV_VMCS_GUEST_CR0));
    assert_int_equal(regs1.seg[HV_SEG_CS].selector, (uint16_t)support_field_on(1, HV_VMCS_GUEST_CS_SELECTOR));
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_RIP), 0xFFFFFFFF81000000ull);
    sim_stop();
}

/* Every request's validation: bad lengths, bad cores, bad registers, bad
 * MSR (a #GP per core), reserved bits, a faulting memory read. */
static void malformed_requests_get_errors(void **state)
{
    struct hv_dbg_stop s;
    struct hv_dbg_core_req cr = { 9, 0 };
    struct hv_dbg_set_reg sr = { .core = 0, .reg = HV_DBG_REG_COUNT, .value = 0 };
    struct hv_dbg_read_mem rm = { .address = 0x7000, .length = 16, .core = HV_DBG_CURRENT_CORE };
    struct hv_dbg_mem_reply mr;
    struct hv_abi_msr_op op = { .msr = 0xDEAD0000u, .core_number = HV_DBG_ALL_CORES, .action = HV_ABI_MSR_READ };
    struct hv_dbg_msr_reply rep;
    struct hv_abi_msr_result res[2];
    uint8_t junk[40] = { 0 };
    uint32_t len = 0;

    (void)state;
    sim_start(2, UINT32_MAX);
    pause_target(&s);
    /* Lengths. */
    assert_int_equal(xfer(HV_DBG_MSG_GET_REGS, junk, 4, NULL), HV_STATUS_INVALID_PACKET);
    assert_int_equal(xfer(HV_DBG_MSG_HELLO, junk, 1, NULL), HV_STATUS_INVALID_PACKET);
    assert_int_equal(xfer(HV_DBG_MSG_GO, junk, 8, NULL), HV_STATUS_INVALID_PACKET);
    assert_int_equal(xfer(HV_DBG_MSG_MSR, junk, 23, NULL), HV_STATUS_INVALID_PACKET);
    assert_int_equal(xfer(HV_DBG_MSG_READ_MEM, junk, 17, NULL), HV_STATUS_INVALID_PACKET);
    assert_int_equal(xfer(HV_DBG_MSG_EVENT, junk, 4, NULL), HV_STATUS_INVALID_PACKET);
    /* Cores and registers. */
    assert_int_equal(xfer(HV_DBG_MSG_GET_REGS, &cr, sizeof(cr), NULL), HV_STATUS_INVALID_PARAMETER);
    cr.core = HV_DBG_CURRENT_CORE;
    assert_int_equal(xfer(HV_DBG_MSG_SWITCH_CORE, &cr, sizeof(cr), NULL), HV_STATUS_INVALID_PARAMETER);
    cr.core = 0;
    cr.reserved = 1;
    assert_int_equal(xfer(HV_DBG_MSG_GET_REGS, &cr, sizeof(cr), NULL), HV_STATUS_INVALID_PACKET);
    assert_int_equal(xfer(HV_DBG_MSG_SET_REG, &sr, sizeof(sr), NULL), HV_STATUS_INVALID_PARAMETER);
    sr.reg = HV_DBG_REG_DR7;
    sr.value = 1ull << 40;
    assert_int_equal(xfer(HV_DBG_MSG_SET_REG, &sr, sizeof(sr), NULL), HV_STATUS_INVALID_PARAMETER);
    /* An MSR that does not exist: #GP on each core. */
    assert_int_equal(xfer(HV_DBG_MSG_MSR, &op, sizeof(op), &len), HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(len, sizeof(rep) + 2 * sizeof(res[0]));
    memcpy(&rep, g_rep + 16, sizeof(rep));
    memcpy(res, g_rep + 16 + sizeof(rep), sizeof(res));
    assert_int_equal(rep.count, 2);
    assert_int_equal(res[0].status, HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(res[1].status, HV_STATUS_EXCEPTION_GENERAL_PROTECTION);
    assert_int_equal(res[1].core, 1);
    op.msr = 1ull << 33;
    assert_int_equal(xfer(HV_DBG_MSG_MSR, &op, sizeof(op), NULL), HV_STATUS_INVALID_PARAMETER);
    op.msr = 0x10;
    op.core_number = 5;
    assert_int_equal(xfer(HV_DBG_MSG_MSR, &op, sizeof(op), NULL), HV_STATUS_INVALID_PARAMETER);
    op.core_number = 0;
    op.action = 7;
    assert_int_equal(xfer(HV_DBG_MSG_MSR, &op, sizeof(op), NULL), HV_STATUS_INVALID_PARAMETER);
    /* Memory: over the limit, and an address the guest has not mapped. */
    rm.length = HV_DBG_MAX_READ + 1;
    assert_int_equal(xfer(HV_DBG_MSG_READ_MEM, &rm, sizeof(rm), NULL), HV_STATUS_INVALID_PARAMETER);
    rm.length = 0;
    assert_int_equal(xfer(HV_DBG_MSG_READ_MEM, &rm, sizeof(rm), NULL), HV_STATUS_INVALID_PARAMETER);
    /* The sim's data page reads; across its end the read stops at the fault. */
    rm.address = HV_MOCK_DBG_SIM_DATA_GVA + 0x10;
    rm.length = 32;
    assert_int_equal(xfer(HV_DBG_MSG_READ_MEM, &rm, sizeof(rm), &len), HV_STATUS_SUCCESS);
    assert_int_equal(len, sizeof(mr) + 32);
    memcpy(&mr, g_rep + 16, sizeof(mr));
    assert_int_equal(mr.length, 32);
    assert_int_equal(mr.fault, HV_STATUS_SUCCESS);
    assert_int_equal(g_rep[16 + sizeof(mr)], 0x10);
    assert_int_equal(g_rep[16 + sizeof(mr) + 31], 0x2F);
    rm.address = HV_MOCK_DBG_SIM_DATA_GVA + 4096 - 8;
    rm.length = 16;
    assert_int_not_equal(xfer(HV_DBG_MSG_READ_MEM, &rm, sizeof(rm), &len), HV_STATUS_SUCCESS);
    memcpy(&mr, g_rep + 16, sizeof(mr));
    assert_int_equal(mr.length, 8);
    assert_int_equal(len, sizeof(mr) + 8);
    rm.address = 0x7000;
    assert_int_not_equal(xfer(HV_DBG_MSG_READ_MEM, &rm, sizeof(rm), &len), HV_STATUS_SUCCESS);
    memcpy(&mr, g_rep + 16, sizeof(mr));
    assert_int_equal(len, sizeof(mr));
    assert_int_equal(mr.length, 0);
    assert_int_not_equal(mr.fault, HV_STATUS_SUCCESS);
    /* Replies and STOPs are not requests; a header of another version is refused. */
    assert_int_equal(xfer(HV_DBG_MSG_STOP, NULL, 0, NULL), HV_STATUS_INVALID_PARAMETER);
    hv_dbg_header_put(g_req, HV_DBG_MSG_HELLO, 5, 0, 0);
    g_req[0] = 9;
    assert_int_equal(hv_link_send(&g_host, g_req, 16), HV_STATUS_SUCCESS);
    {
        struct hv_dbg_header h;
        uint32_t got = 0;

        while (hv_link_recv(&g_host, g_rep, sizeof(g_rep), &got, 1000) != HV_STATUS_SUCCESS)
            ;
        assert_int_equal(hv_dbg_header_check(g_rep, got, &h), HV_STATUS_SUCCESS);
        assert_int_equal(h.status, HV_STATUS_INVALID_PACKET);
        assert_int_equal(h.tag, 5);
    }
    /* Still halted and answering. */
    assert_int_equal(xfer(HV_DBG_MSG_STATUS, NULL, 0, NULL), HV_STATUS_SUCCESS);
    go();
    sim_stop();
}

/* MSRs while halted: a write on core 1 lands in core 1's MSR file only;
 * a guest-state MSR goes to core 1's VMCS field. */
static void msr_write_on_a_halted_core(void **state)
{
    struct hv_dbg_stop s;
    struct hv_abi_msr_op op = { .msr = 0x277 + 0x1000 /* nothing */, .core_number = 1, .action = HV_ABI_MSR_WRITE };
    struct hv_dbg_msr_reply rep;
    struct hv_abi_msr_result res, res2[2];
    uint64_t v0 = 0, v1 = 0;

    (void)state;
    sim_start(2, UINT32_MAX);
    pause_target(&s);
    op.msr = 0xC0000103u; /* TSC_AUX: an ordinary MSR */
    op.value = 0x77;
    hv_mock_msr_set(HV_MOCK_ALL_CPUS, 0xC0000103u, 0);
    assert_int_equal(xfer(HV_DBG_MSG_MSR, &op, sizeof(op), NULL), HV_STATUS_SUCCESS);
    memcpy(&rep, g_rep + 16, sizeof(rep));
    memcpy(&res, g_rep + 16 + sizeof(rep), sizeof(res));
    assert_int_equal(rep.count, 1);
    assert_int_equal(res.core, 1);
    assert_int_equal(res.in_root, 1);
    assert_int_equal(res.route, 0);
    assert_true(hv_mock_msr_get(1, 0xC0000103u, &v1));
    assert_true(hv_mock_msr_get(0, 0xC0000103u, &v0));
    assert_int_equal(v1, 0x77);
    assert_int_equal(v0, 0);
    /* FS_BASE is guest state: its VMCS field on core 1. */
    op.msr = 0xC0000100u;
    op.value = 0x7FFF00001000ull;
    assert_int_equal(xfer(HV_DBG_MSG_MSR, &op, sizeof(op), NULL), HV_STATUS_SUCCESS);
    memcpy(&res, g_rep + 16 + sizeof(rep), sizeof(res));
    assert_int_equal(res.route, 1);
    op.action = HV_ABI_MSR_READ;
    op.core_number = HV_DBG_ALL_CORES;
    assert_int_equal(xfer(HV_DBG_MSG_MSR, &op, sizeof(op), NULL), HV_STATUS_SUCCESS);
    memcpy(&rep, g_rep + 16, sizeof(rep));
    assert_int_equal(rep.count, 2);
    memcpy(res2, g_rep + 16 + sizeof(rep), sizeof(res2));
    assert_int_equal(res2[1].value, 0x7FFF00001000ull);
    assert_int_equal(res2[0].core, 0);
    go();
    assert_int_equal(support_field_on(1, HV_VMCS_GUEST_FS_BASE), 0x7FFF00001000ull);
    sim_stop();
}

/* An NMI that is not the debugger's still reaches the guest, and does not
 * halt anything. */
static void foreign_nmi_reaches_the_guest(void **state)
{
    struct hv_dbg_stop s;
    uint32_t len = 0;
    int i;

    (void)state;
    sim_start(2, UINT32_MAX);
    hv_mock_cpu_post_nmi(1);
    for (i = 0; i < 5000 && hv_mock_dbg_sim_guest_nmis(g_sim, 1) == 0; i++)
        nap_ms(1);
    assert_int_equal(hv_mock_dbg_sim_guest_nmis(g_sim, 1), 1);
    assert_int_equal(xfer(HV_DBG_MSG_STATUS, NULL, 0, &len), HV_STATUS_SUCCESS);
    memcpy(&s, g_rep + 16, sizeof(s));
    assert_int_equal(s.state, HV_DBG_STATE_RUNNING);
    assert_int_equal(s.stops, 0);
    sim_stop();
}

/* Build an ABI request in `buf`. */
static uint32_t abi_event_add(uint8_t *buf, uint64_t pid)
{
    struct hv_abi_event_add a;

    memset(&a, 0, sizeof(a));
    a.hdr.size = sizeof(a);
    a.hdr.version = HV_ABI_VERSION;
    a.type = 1;
    a.core = HV_ABI_ALL_CORES;
    a.pid = pid;
    a.imm = 1;
    memcpy(buf, &a, sizeof(a));
    return sizeof(a);
}

static uint32_t abi_event_break(uint8_t *buf, uint32_t id)
{
    struct hv_abi_event_action a;

    memset(&a, 0, sizeof(a));
    a.hdr.size = sizeof(a);
    a.hdr.version = HV_ABI_VERSION;
    a.id = id;
    a.kind = HV_ABI_ACTION_BREAK;
    memcpy(buf, &a, sizeof(a));
    return sizeof(a);
}

static hv_status_t send_event(uint32_t request, const uint8_t *abi, uint32_t abi_len)
{
    uint8_t body[256];
    struct hv_dbg_event_req r = { request, abi_len };

    memcpy(body, &r, sizeof(r));
    memcpy(body + sizeof(r), abi, abi_len);
    return xfer(HV_DBG_MSG_EVENT, body, (uint32_t)sizeof(r) + abi_len, NULL);
}

/* `!dr pid X` + break, queued while halted: nothing changes until GO; after
 * it the event exists, and a DR access of process X on core 1 halts the
 * machine with a STOP naming the event, core 1 and pid X. */
static void event_changes_apply_at_go_and_break_halts(void **state)
{
    struct hv_dbg_stop s;
    struct hv_dbg_event_results er;
    struct hv_dbg_event_result res[2];
    struct hv_dbg_event_reply rep;
    struct hv_event_info info[2];
    uint8_t abi[128];
    uint32_t n, len = 0, count = 0;
    int i;

    (void)state;
    sim_start(2, UINT32_MAX);
    pause_target(&s);
    n = abi_event_add(abi, 4242);
    assert_int_equal(send_event(HV_ABI_REQ_EVENT_ADD, abi, n), HV_STATUS_SUCCESS);
    memcpy(&rep, g_rep + 16, sizeof(rep));
    assert_int_equal(rep.index, 0);
    n = abi_event_break(abi, HV_DBG_QUEUED_EVENT(0));
    assert_int_equal(send_event(HV_ABI_REQ_EVENT_ACTION, abi, n), HV_STATUS_SUCCESS);
    /* A request type that is no event change, and an ABI size that lies. */
    assert_int_equal(send_event(HV_ABI_REQ_QUERY, abi, n), HV_STATUS_INVALID_PARAMETER);
    abi[0] ^= 1;
    assert_int_equal(send_event(HV_ABI_REQ_EVENT_ACTION, abi, n), HV_STATUS_INVALID_PACKET);
    /* Nothing applied while halted. */
    assert_int_equal(hv_event_list(hv_mock_dbg_sim_hv(g_sim), info, 2, &count), HV_STATUS_SUCCESS);
    assert_int_equal(count, 0);
    go();
    /* Polled while running, as a client does, until the batch is applied. */
    for (i = 0; i < 5000; i++) {
        assert_int_equal(xfer(HV_DBG_MSG_EVENT_RESULTS, NULL, 0, &len), HV_STATUS_SUCCESS);
        memcpy(&er, g_rep + 16, sizeof(er));
        if (er.pending == 0)
            break;
        nap_ms(2);
    }
    assert_int_equal(er.pending, 0);
    assert_int_equal(er.count, 2);
    assert_int_equal(hv_event_list(hv_mock_dbg_sim_hv(g_sim), info, 2, &count), HV_STATUS_SUCCESS);
    assert_int_equal(count, 1);
    assert_int_equal(info[0].pid, 4242);
    assert_int_equal(info[0].actions, 1u << HV_ABI_ACTION_BREAK);

    /* Another process: no stop. The right one: STOP. */
    assert_int_equal(hv_mock_dbg_sim_dr_access(g_sim, 1, 1, 0), HV_STATUS_SUCCESS);
    while (hv_mock_dbg_sim_dr_done(g_sim, 1) < 1)
        nap_ms(1);
    assert_int_equal(hv_mock_dbg_sim_dr_access(g_sim, 1, 4242, 0), HV_STATUS_SUCCESS);
    wait_stop(&s);
    assert_int_equal(s.reason, HV_DBG_STOP_EVENT);
    assert_int_equal(s.stopping_core, 1);
    assert_int_equal(s.current_core, 1);
    assert_int_equal(s.event_id, info[0].id);
    assert_int_equal(s.pid, 4242);
    assert_int_equal(s.dr.dr, 0);
    /* The instruction after the MOV RAX, DR0 (0F 21 C0) it stopped on. */
    assert_int_equal(s.rip, HV_MOCK_DBG_SIM_CODE_GVA + 16u + 3u);
    assert_int_equal(s.dr.rip, HV_MOCK_DBG_SIM_CODE_GVA + 16u);
    assert_int_equal(s.mode, 64);
    assert_int_equal(s.insn_status, HV_STATUS_SUCCESS);
    assert_int_equal(s.insn_len, HV_DBG_INSN_BYTES);
    assert_int_equal(s.insn[0], 0x90);
    assert_true(bit(s.halted, 0));
    assert_true(bit(s.halted, 1));
    /* The outcomes of the batch. */
    assert_int_equal(xfer(HV_DBG_MSG_EVENT_RESULTS, NULL, 0, &len), HV_STATUS_SUCCESS);
    memcpy(&er, g_rep + 16, sizeof(er));
    assert_int_equal(er.count, 2);
    assert_int_equal(er.pending, 0);
    memcpy(res, g_rep + 16 + sizeof(er), sizeof(res));
    assert_int_equal(res[0].status, HV_STATUS_SUCCESS);
    assert_int_equal(res[0].id, info[0].id);
    assert_int_equal(res[1].status, HV_STATUS_SUCCESS);
    assert_int_equal(res[1].id, info[0].id);
    go();
    while (hv_mock_dbg_sim_dr_done(g_sim, 1) < 2)
        nap_ms(1);
    sim_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uart_init_programs_the_line),
        cmocka_unit_test(uart_stuck_transmitter_is_bounded),
        cmocka_unit_test(link_over_uart_frames),
        cmocka_unit_test(link_over_uart_survives_drops_and_noise),
        cmocka_unit_test(link_over_uart_times_out_on_silence),
        cmocka_unit_test(link_over_uart_abandons_a_reply_when_the_peer_reconnects),
        cmocka_unit_test(stub_answers_while_running),
        cmocka_unit_test(pause_halts_every_core_and_go_resumes),
        cmocka_unit_test(core_that_never_halts_is_reported),
        cmocka_unit_test(registers_are_read_and_written_on_the_right_core),
        cmocka_unit_test(malformed_requests_get_errors),
        cmocka_unit_test(msr_write_on_a_halted_core),
        cmocka_unit_test(foreign_nmi_reaches_the_guest),
        cmocka_unit_test(event_changes_apply_at_go_and_break_halts),
    };
    support_fail_on_mock_failure();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
