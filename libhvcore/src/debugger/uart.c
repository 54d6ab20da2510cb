/* SPDX-License-Identifier: MIT */
/*
 * Polled 16550 UART (hvcore/uart.h): port I/O through the arch backend,
 * no interrupts, nothing that can block beyond a handful of port reads.
 */
#include <hvcore/arch.h>
#include <hvcore/uart.h>

#include "lib.h"

enum {
    REG_DATA = 0, REG_IER = 1, REG_FCR = 2, REG_LCR = 3, REG_MCR = 4, REG_LSR = 5, REG_SCR = 7,
};
#define LSR_DR 0x01u
#define LSR_ERRORS 0x1Eu   /* overrun, parity, framing, break */
#define LSR_THRE 0x20u
#define LCR_8N1 0x03u
#define LCR_DLAB 0x80u
#define FCR_ENABLE_CLEAR 0x07u  /* enable FIFOs, clear RX and TX; trigger level 1 */
#define MCR_DTR_RTS 0x03u

hv_status_t hv_uart_init(struct hv_uart *u, uint16_t port, uint32_t baud, uint64_t tsc_per_ms)
{
    uint32_t div;

    if (u == NULL || port == 0)
        return HV_STATUS_INVALID_PARAMETER;
    if (baud == 0)
        baud = HV_UART_BASE_BAUD;
    div = HV_UART_BASE_BAUD / baud;
    if (div == 0 || div > 0xFFFFu || div * baud != HV_UART_BASE_BAUD)
        return HV_STATUS_INVALID_PARAMETER;
    hv_lib_zero(u, sizeof(*u));
    u->port = port;
    u->divisor = (uint16_t)div;
    u->tsc_per_ms = tsc_per_ms != 0 ? tsc_per_ms : 1000000u;

    /* A UART keeps what is written to its scratch register; an empty bus
     * reads back 0xFF whatever was written. */
    hv_arch_outb((uint16_t)(port + REG_SCR), 0x5A);
    if (hv_arch_inb((uint16_t)(port + REG_SCR)) != 0x5A || hv_arch_inb((uint16_t)(port + REG_LSR)) == 0xFF)
        return HV_STATUS_NOT_FOUND;

    hv_arch_outb((uint16_t)(port + REG_IER), 0);             /* polled: no interrupts */
    hv_arch_outb((uint16_t)(port + REG_LCR), LCR_DLAB);
    hv_arch_outb((uint16_t)(port + 0), (uint8_t)div);        /* DLL */
    hv_arch_outb((uint16_t)(port + 1), (uint8_t)(div >> 8)); /* DLM */
    hv_arch_outb((uint16_t)(port + REG_LCR), LCR_8N1);
    hv_arch_outb((uint16_t)(port + REG_FCR), FCR_ENABLE_CLEAR);
    hv_arch_outb((uint16_t)(port + REG_MCR), MCR_DTR_RTS);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_uart_read(struct hv_uart *u, uint8_t *buf, size_t cap, size_t *got)
{
    size_t n = 0;
    uint8_t lsr;

    if (u == NULL || buf == NULL || got == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (cap > HV_UART_READ_BURST)
        cap = HV_UART_READ_BURST;
    while (n < cap) {
        lsr = hv_arch_inb((uint16_t)(u->port + REG_LSR));
        if (lsr == 0xFF || !(lsr & LSR_DR))  /* 0xFF: the UART went away */
            break;
        if (lsr & LSR_ERRORS)
            u->line_errors++;
        buf[n++] = hv_arch_inb((uint16_t)(u->port + REG_DATA));
    }
    u->rx_bytes += n;
    *got = n;
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_uart_write(struct hv_uart *u, const uint8_t *buf, size_t len, size_t *done)
{
    size_t n = 0;
    uint8_t lsr;

    if (u == NULL || (buf == NULL && len != 0) || done == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    lsr = hv_arch_inb((uint16_t)(u->port + REG_LSR));
    if (lsr != 0xFF && (lsr & LSR_THRE)) {
        /* THRE with FIFOs on: the whole transmit FIFO is empty. */
        while (n < len && n < HV_UART_TX_FIFO)
            hv_arch_outb((uint16_t)(u->port + REG_DATA), buf[n++]);
    }
    u->tx_bytes += n;
    *done = n;
    return HV_STATUS_SUCCESS;
}

uint64_t hv_uart_now_ms(const struct hv_uart *u)
{
    return hv_arch_rdtsc() / u->tsc_per_ms;
}

static hv_status_t io_read(void *ctx, uint8_t *buf, size_t cap, size_t *got)
{
    return hv_uart_read(ctx, buf, cap, got);
}

static hv_status_t io_write(void *ctx, const uint8_t *buf, size_t len, size_t *done)
{
    return hv_uart_write(ctx, buf, len, done);
}

static uint64_t io_now(void *ctx)
{
    return hv_uart_now_ms(ctx);
}

void hv_uart_link_io(struct hv_uart *u, struct hv_link_io *io)
{
    if (io == NULL)
        return;
    hv_lib_zero(io, sizeof(*io));
    io->ctx = u;
    io->read = io_read;
    io->write = io_write;
    io->now = io_now;
}
