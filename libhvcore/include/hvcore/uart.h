/* SPDX-License-Identifier: MIT */
/*
 * A polled 16550 UART driver for VMX root (Debugger Mode, debugger.h) and
 * the link-layer byte I/O over it (hvcore/link.h).
 *
 * Polled only: interrupts stay off at the UART (IER = 0), no OS call, no
 * allocation; every function does a bounded amount of port I/O and returns
 * (the link bounds the waits with its clock). Register layout and bits as
 * the PC16550D data sheet: THR/RBR +0, IER +1, FCR +2, LCR +3 (DLAB bit 7
 * maps the divisor latch at +0/+1), MCR +4, LSR +5, SCR +7.
 */
#ifndef HVCORE_UART_H
#define HVCORE_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "link.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The input clock / 16: the baud rate of divisor 1. */
#define HV_UART_BASE_BAUD 115200u
/* Bytes the transmit FIFO takes once LSR.THRE is set (FIFOs enabled). */
#define HV_UART_TX_FIFO 16u
/* Bytes one hv_uart_read call takes at most before returning. */
#define HV_UART_READ_BURST 64u

/* A UART (fill with hv_uart_init). */
struct hv_uart {
    uint16_t port;          /* I/O port base */
    uint16_t divisor;       /* HV_UART_BASE_BAUD / baud */
    uint64_t tsc_per_ms;    /* clock of the link io: TSC ticks per millisecond */
    uint64_t line_errors;   /* bytes received with LSR overrun/parity/framing/break set */
    uint64_t rx_bytes, tx_bytes; /* bytes moved */
};

/* Program the UART at `port`: divisor for `baud` (0 = 115200), 8N1, FIFOs
 * on and cleared, interrupts off, DTR|RTS; checks that a UART answers (the
 * scratch register keeps a value and LSR is not all ones). `tsc_per_ms` is
 * the clock of hv_uart_link_io (0 = 1,000,000).
 * @return SUCCESS; INVALID_PARAMETER (NULL, port 0, a baud that is no
 *         divisor of 115200); NOT_FOUND (nothing decodes the port).
 * Context: PRE-LAUNCH or ROOT-SAFE (port I/O only). */
hv_status_t hv_uart_init(struct hv_uart *u, uint16_t port, uint32_t baud, uint64_t tsc_per_ms);

/* Take up to `cap` received bytes now (at most HV_UART_READ_BURST), without
 * waiting; *got = bytes read. Bytes that arrive with a line error are kept
 * (the link's CRC rejects the frame) and counted.
 * @return SUCCESS, or INVALID_PARAMETER (NULL pointers).
 * Context: ROOT-SAFE. */
hv_status_t hv_uart_read(struct hv_uart *u, uint8_t *buf, size_t cap, size_t *got);

/* Give the transmitter up to `len` bytes now: a FIFO's worth when LSR.THRE
 * is set, nothing otherwise; *done = bytes taken.
 * @return SUCCESS, or INVALID_PARAMETER (NULL pointers).
 * Context: ROOT-SAFE. */
hv_status_t hv_uart_write(struct hv_uart *u, const uint8_t *buf, size_t len, size_t *done);

/* Milliseconds from the TSC at `u`'s rate. Context: ROOT-SAFE. */
uint64_t hv_uart_now_ms(const struct hv_uart *u);

/* Fill `io` with the link byte I/O over `u` (read, write, a millisecond
 * clock from the TSC; no wait member: the link polls). Context: any. */
void hv_uart_link_io(struct hv_uart *u, struct hv_link_io *io);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_UART_H */
