/*
 * Benchmark: one request over the wire protocol on loopback TCP, through
 * the whole client engine (`tcp:127.0.0.1:PORT,key=FILE`) to an in-process
 * stub (hv_engine_serve_with, key required) over a simulated 2-core machine:
 * an MSR read of core 1. Also the cost of opening the target (connect and the
 * HMAC-SHA256 handshake both ways, then QUERY). Wall-clock means, printed,
 * never asserted (a shared machine is noisy).
 *
 *   bench_wire_tcp [N]     N requests (default 2000)
 */
#define _GNU_SOURCE
#include <hvcore/abi.h>
#include <hvcore/client/engine.h>
#include <hvcore/client/wire.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct hv_engine *sim;
static volatile sig_atomic_t stop;
static int lfd;
static struct hv_wire_key key;

static void *serve_main(void *arg)
{
    struct hv_engine_serve_opts o = { .key = &key };

    (void)arg;
    (void)hv_engine_serve_with(sim, lfd, &stop, &o);
    return NULL;
}

static double now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000ul, i, opens = 50;
    char dir[] = "/tmp/hvcore-bench-XXXXXX", path[64], target[128];
    struct hv_engine *e = NULL;
    pthread_t server;
    uint16_t port = 0;
    struct hv_abi_msr_result res[1];
    uint32_t got = 0;
    double t0, t1;
    int rc = 1;

    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/key", dir);
    if (!hv_success(hv_wire_key_generate(path)) || !hv_success(hv_wire_key_load(path, &key)) ||
        !hv_success(hv_engine_create(&sim, "sim:cores=2")) || !hv_success(hv_wire_listen("127.0.0.1", 0, &lfd)) ||
        !hv_success(hv_wire_local_port(lfd, &port)) || pthread_create(&server, NULL, serve_main, NULL) != 0) {
        fprintf(stderr, "bench_wire_tcp: setup failed: %s\n", hv_wire_last_error());
        goto out_files;
    }
    snprintf(target, sizeof(target), "tcp:127.0.0.1:%u,key=%s", (unsigned)port, path);
    t0 = now_us();
    for (i = 0; i < opens; i++) {
        if (!hv_success(hv_engine_create(&e, target))) {
            fprintf(stderr, "bench_wire_tcp: cannot open %s: %s\n", target, hv_wire_last_error());
            goto out_server;
        }
        if (i + 1 < opens) {
            hv_engine_destroy(e);
            e = NULL;
        }
    }
    t1 = now_us();
    printf("BENCH wire_tcp_open_with_handshake_us %.1f us\n", (t1 - t0) / (double)opens);
    for (i = 0; i < 100; i++) /* warm up */
        (void)hv_engine_msr_read(e, 1, 0xC0000082u, res, 1, &got);
    t0 = now_us();
    for (i = 0; i < n; i++) {
        if (!hv_success(hv_engine_msr_read(e, 1, 0xC0000082u, res, 1, &got)) || got != 1) {
            fprintf(stderr, "bench_wire_tcp: request %lu failed\n", i);
            goto out_server;
        }
    }
    t1 = now_us();
    printf("BENCH wire_tcp_request_roundtrip_us %.1f us\n", (t1 - t0) / (double)n);
    rc = 0;
out_server:
    hv_engine_destroy(e);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    pthread_join(server, NULL);
    close(lfd);
    hv_engine_destroy(sim);
out_files:
    hv_wire_key_wipe(&key);
    unlink(path);
    rmdir(dir);
    return rc;
}
