/*
 * Benchmark: one Debugger Mode request (hvcore/debugger.h) through the whole
 * client (hv_dbgc over hv_dbglink) to the real stub on the mock machine
 * (hvcore/testing/dbg_sim.h), the target halted: GET_REGS of the current
 * core (a 16-byte request, a 472-byte reply) and an MSR read on every core,
 * over the in-process line (socketpair: the fake 16550 polled from VMX
 * root) and over the same line exposed on loopback TCP (hv_dbglink_serve_tcp,
 * as an emulator exposes a com port). Wall-clock means, printed, never
 * asserted (a shared machine is noisy; the stub polls its UART from a 1 ms
 * timer while running, but answers at once while halted).
 *
 *   bench_dbg_rtt [N]     N requests per figure (default 500)
 */
#define _GNU_SOURCE
#include <hvcore/client/dbgclient.h>
#include <hvcore/client/engine.h>
#include <hvcore/client/wire.h>
#include <hvcore/testing/dbg_sim.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile sig_atomic_t stop;
static int lfd, line[2];

static void *relay_main(void *arg)
{
    (void)arg;
    (void)hv_dbglink_serve_tcp(lfd, line[0], &stop, NULL, NULL);
    return NULL;
}

static double now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Mean microseconds of GET_REGS and of an all-core MSR read on `target`. */
static int measure(const char *name, const char *target, unsigned long n)
{
    struct hv_abi_msr_op op = { .msr = 0xC0000082u, .core_number = HV_ABI_ALL_CORES, .action = HV_ABI_MSR_READ };
    struct hv_abi_msr_result res[16];
    struct hv_dbg_regs r;
    struct hv_engine *e;
    struct hv_dbgc *d;
    unsigned long i;
    uint32_t got;
    double t0, t1;

    if (!hv_success(hv_engine_create(&e, target))) {
        fprintf(stderr, "bench_dbg_rtt: cannot open %s\n", target);
        return 1;
    }
    d = hv_engine_debugger(e);
    if (!hv_success(hv_dbgc_pause(d, NULL))) {
        fprintf(stderr, "bench_dbg_rtt: pause failed: %s\n", hv_dbgc_last_error(d));
        hv_engine_destroy(e);
        return 1;
    }
    t0 = now_us();
    for (i = 0; i < n; i++)
        if (!hv_success(hv_dbgc_regs(d, HV_DBG_CURRENT_CORE, &r)))
            break;
    t1 = now_us();
    if (i == n)
        printf("BENCH dbg_%s_get_regs_roundtrip_us %.1f us\n", name, (t1 - t0) / (double)n);
    t0 = now_us();
    for (i = 0; i < n; i++)
        if (!hv_success(hv_dbgc_msr(d, &op, res, 16, &got)))
            break;
    t1 = now_us();
    if (i == n)
        printf("BENCH dbg_%s_rdmsr_all_cores_roundtrip_us %.1f us\n", name, (t1 - t0) / (double)n);
    (void)hv_dbgc_go(d);
    hv_engine_destroy(e);
    return i == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 500ul;
    struct hv_mock_dbg_sim_config cfg;
    struct hv_mock_dbg_sim *sim = NULL;
    pthread_t relay;
    uint16_t port = 0;
    char target[64];
    int rc;

    rc = measure("socketpair", "serial:sim:cores=4", n);
    /* The same stub behind loopback TCP. */
    hv_mock_dbg_sim_config_init(&cfg);
    cfg.ncores = 4;
    if (!hv_success(hv_dbglink_socketpair(line)))
        return 1;
    cfg.fd = line[1];
    if (!hv_success(hv_mock_dbg_sim_start(&cfg, &sim)) || !hv_success(hv_wire_listen("127.0.0.1", 0, &lfd)) ||
        !hv_success(hv_wire_local_port(lfd, &port)) || pthread_create(&relay, NULL, relay_main, NULL) != 0) {
        fprintf(stderr, "bench_dbg_rtt: setup failed\n");
        return 1;
    }
    snprintf(target, sizeof(target), "serial:tcp:127.0.0.1:%u", (unsigned)port);
    rc |= measure("tcp", target, n);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(relay, NULL);
    hv_wire_close_fd(lfd);
    hv_mock_dbg_sim_stop(sim);
    hv_dbglink_peer_close(line[0]);
    hv_dbglink_peer_close(line[1]);
    return rc;
}
