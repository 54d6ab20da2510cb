/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — port I/O, a fake 16550 UART, the TSC and NMI IPIs
 * through the x2APIC ICR (see mock.h, "Port I/O, fake 16550, NMIs").
 *
 * The UART models what a polled driver sees (PC16550D data sheet): THR/RBR
 * at +0, IER +1, IIR/FCR +2, LCR +3 (DLAB = bit 7 maps DLL/DLM at +0/+1),
 * MCR +4, LSR +5 (DR bit 0, OE bit 1, THRE bit 5, TEMT bit 6), MSR +6,
 * SCR +7. Bytes the target transmits go to an in-memory queue (and, when a
 * descriptor is attached, to it); bytes for the target come from the host
 * side (hv_mock_uart_host_write or the descriptor). Faults are applied per
 * byte on the line, in both directions. One UART per process, shared by
 * every fake CPU (as a real one is), under one mutex.
 */
#define _POSIX_C_SOURCE 200809L

#include <hvcore/testing/mock.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mock_internal.h"

#define QCAP (1u << 20)

#define LSR_DR 0x01u
#define LSR_OE 0x02u
#define LSR_THRE 0x20u
#define LSR_TEMT 0x40u
#define LCR_DLAB 0x80u

struct byteq {
    uint8_t buf[QCAP];
    size_t head, tail; /* tail - head bytes held, indices mod QCAP */
};

static struct {
    pthread_mutex_t lock;
    bool attached;
    uint16_t base;
    int fd;
    uint8_t ier, lcr, mcr, fcr, scr, dll, dlm;
    struct hv_mock_uart_faults faults;
    uint32_t rng;
    struct hv_mock_uart_stats stats;
    struct byteq rx, tx;   /* rx: to the target; tx: from the target */
} g_uart = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* NMIs latched per fake CPU (sent through the ICR or posted by a test). */
static uint32_t g_nmi_latched[HV_MOCK_MAX_CPUS];
static uint32_t g_nmi_sent[HV_MOCK_MAX_CPUS];

static size_t q_len(const struct byteq *q)
{
    return q->tail - q->head;
}

static bool q_push(struct byteq *q, uint8_t b)
{
    if (q_len(q) >= QCAP)
        return false;
    q->buf[q->tail++ % QCAP] = b;
    return true;
}

static bool q_pop(struct byteq *q, uint8_t *b)
{
    if (q_len(q) == 0)
        return false;
    *b = q->buf[q->head++ % QCAP];
    return true;
}

static uint32_t rnd(void)
{
    uint32_t x = g_uart.rng ? g_uart.rng : 1u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return g_uart.rng = x;
}

/* One byte crossing the line: lost, corrupted or delivered to `q`. */
static void line_byte(struct byteq *q, uint8_t b, uint32_t drop, uint32_t corrupt)
{
    if (g_uart.faults.silent || (drop != 0 && rnd() % 1000u < drop)) {
        g_uart.stats.dropped++;
        return;
    }
    if (corrupt != 0 && rnd() % 1000u < corrupt) {
        b ^= (uint8_t)(1u << (rnd() % 8u));
        g_uart.stats.corrupted++;
    }
    if (!q_push(q, b))
        g_uart.stats.overruns++;
}

/* Move what the descriptor has into rx, and pending tx bytes out to it. */
static void pump_fd(void)
{
    uint8_t tmp[512];
    ssize_t n;
    size_t i, k;

    if (g_uart.fd < 0)
        return;
    while (q_len(&g_uart.rx) + sizeof(tmp) <= QCAP) {
        n = read(g_uart.fd, tmp, sizeof(tmp));
        if (n <= 0) {
            if (n == 0)
                g_uart.stats.host_closed = true;
            break;
        }
        for (i = 0; i < (size_t)n; i++)
            line_byte(&g_uart.rx, tmp[i], g_uart.faults.drop_rx_per_mille, g_uart.faults.corrupt_rx_per_mille);
    }
    while (q_len(&g_uart.tx) > 0) {
        k = 0;
        while (k < sizeof(tmp) && q_len(&g_uart.tx) > 0)
            (void)q_pop(&g_uart.tx, &tmp[k++]);
        n = write(g_uart.fd, tmp, k);
        if (n < 0)
            n = 0;
        if ((size_t)n < k) {
            /* Put the unwritten rest back at the head, in order. */
            g_uart.tx.head -= k - (size_t)n;
            break;
        }
    }
}

static uint8_t uart_in(uint16_t reg)
{
    uint8_t b = 0, lsr;

    switch (reg) {
    case 0:
        if (g_uart.lcr & LCR_DLAB)
            return g_uart.dll;
        pump_fd();
        if (q_pop(&g_uart.rx, &b))
            g_uart.stats.rx_bytes++;
        return b;
    case 1:
        return (g_uart.lcr & LCR_DLAB) ? g_uart.dlm : g_uart.ier;
    case 2:
        return (uint8_t)(((g_uart.fcr & 1u) ? 0xC0u : 0u) | 0x01u); /* FIFOs, no interrupt pending */
    case 3:
        return g_uart.lcr;
    case 4:
        return g_uart.mcr;
    case 5:
        g_uart.stats.lsr_reads++;
        pump_fd();
        lsr = 0;
        if (q_len(&g_uart.rx) > 0)
            lsr |= LSR_DR;
        if (!g_uart.faults.tx_stuck)
            lsr |= LSR_THRE | LSR_TEMT;
        return lsr;
    case 6:
        return 0xB0u; /* DCD, DSR, CTS */
    default:
        return g_uart.scr;
    }
}

static void uart_out(uint16_t reg, uint8_t v)
{
    switch (reg) {
    case 0:
        if (g_uart.lcr & LCR_DLAB) {
            g_uart.dll = v;
            break;
        }
        if (g_uart.faults.tx_stuck) {
            /* Writing THR while THRE is clear overwrites the holding byte. */
            g_uart.stats.tx_overwritten++;
            break;
        }
        g_uart.stats.tx_bytes++;
        line_byte(&g_uart.tx, v, g_uart.faults.drop_tx_per_mille, g_uart.faults.corrupt_tx_per_mille);
        pump_fd();
        break;
    case 1:
        if (g_uart.lcr & LCR_DLAB)
            g_uart.dlm = v;
        else
            g_uart.ier = v;
        break;
    case 2:
        g_uart.fcr = v;
        if (v & 0x02u) { /* clear the receive FIFO */
            g_uart.stats.rx_cleared += q_len(&g_uart.rx);
            g_uart.rx.head = g_uart.rx.tail;
        }
        break;
    case 3:
        g_uart.lcr = v;
        break;
    case 4:
        g_uart.mcr = v;
        break;
    case 5:
    case 6:
        break;
    default:
        g_uart.scr = v;
        break;
    }
}

uint8_t hv_arch_inb(uint16_t port)
{
    uint8_t v = 0xFF; /* nothing decodes the port: the bus floats high */

    pthread_mutex_lock(&g_uart.lock);
    g_uart.stats.port_reads++;
    if (g_uart.attached && port >= g_uart.base && port < g_uart.base + 8u)
        v = uart_in((uint16_t)(port - g_uart.base));
    pthread_mutex_unlock(&g_uart.lock);
    return v;
}

void hv_arch_outb(uint16_t port, uint8_t value)
{
    pthread_mutex_lock(&g_uart.lock);
    g_uart.stats.port_writes++;
    if (g_uart.attached && port >= g_uart.base && port < g_uart.base + 8u)
        uart_out((uint16_t)(port - g_uart.base), value);
    pthread_mutex_unlock(&g_uart.lock);
}

uint64_t hv_arch_rdtsc(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hv_arch_pause(void)
{
    /* Let the other fake CPUs' threads run (a real PAUSE frees the
     * pipeline for the sibling thread). */
    struct timespec ts = { 0, 1000 };

    nanosleep(&ts, NULL);
}

void hv_arch_unblock_nmi(void)
{
    /* The mock takes NMIs only as simulated exits: nothing is blocked. */
}

void hv_mock_uart_attach(uint16_t base, int fd)
{
    pthread_mutex_lock(&g_uart.lock);
    g_uart.attached = true;
    g_uart.base = base;
    g_uart.fd = fd;
    g_uart.ier = g_uart.lcr = g_uart.mcr = g_uart.fcr = g_uart.scr = g_uart.dll = g_uart.dlm = 0;
    memset(&g_uart.faults, 0, sizeof(g_uart.faults));
    memset(&g_uart.stats, 0, sizeof(g_uart.stats));
    g_uart.rng = 1;
    g_uart.rx.head = g_uart.rx.tail = 0;
    g_uart.tx.head = g_uart.tx.tail = 0;
    pthread_mutex_unlock(&g_uart.lock);
}

void hv_mock_uart_detach(void)
{
    pthread_mutex_lock(&g_uart.lock);
    g_uart.attached = false;
    g_uart.fd = -1;
    pthread_mutex_unlock(&g_uart.lock);
}

void hv_mock_uart_set_faults(const struct hv_mock_uart_faults *f)
{
    pthread_mutex_lock(&g_uart.lock);
    if (f != NULL)
        g_uart.faults = *f;
    else
        memset(&g_uart.faults, 0, sizeof(g_uart.faults));
    g_uart.rng = g_uart.faults.seed ? g_uart.faults.seed : 1u;
    pthread_mutex_unlock(&g_uart.lock);
}

size_t hv_mock_uart_host_write(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t i;

    pthread_mutex_lock(&g_uart.lock);
    for (i = 0; i < len && q_len(&g_uart.rx) < QCAP; i++)
        line_byte(&g_uart.rx, p[i], g_uart.faults.drop_rx_per_mille, g_uart.faults.corrupt_rx_per_mille);
    pthread_mutex_unlock(&g_uart.lock);
    return i;
}

size_t hv_mock_uart_host_read(void *buf, size_t cap)
{
    uint8_t *p = buf;
    size_t n = 0;

    pthread_mutex_lock(&g_uart.lock);
    while (n < cap && q_pop(&g_uart.tx, &p[n]))
        n++;
    pthread_mutex_unlock(&g_uart.lock);
    return n;
}

void hv_mock_uart_get_stats(struct hv_mock_uart_stats *out)
{
    pthread_mutex_lock(&g_uart.lock);
    *out = g_uart.stats;
    out->divisor = (uint16_t)(g_uart.dll | g_uart.dlm << 8);
    out->lcr = g_uart.lcr;
    out->fcr = g_uart.fcr;
    out->ier = g_uart.ier;
    out->mcr = g_uart.mcr;
    pthread_mutex_unlock(&g_uart.lock);
}

/* ---- NMIs ------------------------------------------------------------------ */

void hv_mocki_icr_write(struct hv_mock_cpu *from, uint64_t icr)
{
    uint32_t mode = (uint32_t)(icr >> 8) & 7u, shorthand = (uint32_t)(icr >> 18) & 3u;
    uint32_t dest = (uint32_t)(icr >> 32), n = hv_mock_cpu_count(), i;

    if (mode != 4u) /* only NMI delivery is modelled */
        return;
    for (i = 0; i < n && i < HV_MOCK_MAX_CPUS; i++) {
        bool hit = (shorthand == 0 && i == dest) || (shorthand == 1 && i == from->index) || shorthand == 2 ||
                   (shorthand == 3 && i != from->index);

        if (hit) {
            __atomic_fetch_add(&g_nmi_latched[i], 1u, __ATOMIC_SEQ_CST);
            __atomic_fetch_add(&g_nmi_sent[i], 1u, __ATOMIC_SEQ_CST);
        }
    }
}

void hv_mock_cpu_post_nmi(uint32_t cpu)
{
    if (cpu < HV_MOCK_MAX_CPUS)
        __atomic_fetch_add(&g_nmi_latched[cpu], 1u, __ATOMIC_SEQ_CST);
}

bool hv_mock_cpu_take_nmi(uint32_t cpu)
{
    uint32_t v;

    if (cpu >= HV_MOCK_MAX_CPUS)
        return false;
    v = __atomic_load_n(&g_nmi_latched[cpu], __ATOMIC_SEQ_CST);
    while (v != 0) {
        /* A CPU latches one NMI while another is pending (SDM Vol. 3A,
         * 6.7.1): several sent before it looked are one. */
        if (__atomic_compare_exchange_n(&g_nmi_latched[cpu], &v, 0u, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return true;
    }
    return false;
}

uint32_t hv_mock_cpu_nmis_sent(uint32_t cpu)
{
    return cpu < HV_MOCK_MAX_CPUS ? __atomic_load_n(&g_nmi_sent[cpu], __ATOMIC_SEQ_CST) : 0u;
}

void hv_mocki_nmi_reset(void)
{
    uint32_t i;

    for (i = 0; i < HV_MOCK_MAX_CPUS; i++) {
        __atomic_store_n(&g_nmi_latched[i], 0u, __ATOMIC_SEQ_CST);
        __atomic_store_n(&g_nmi_sent[i], 0u, __ATOMIC_SEQ_CST);
    }
}
