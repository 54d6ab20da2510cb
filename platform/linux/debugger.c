// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Debugger Mode on Linux (hvcore/debugger.h): `insmod hvcore.ko debug=ttyS0`
 * (or debug=0x3f8) hands a 16550 UART to the stub that runs in VMX root.
 * Without the parameter nothing here runs and nothing changes.
 *
 * What the platform owes the core before launch (hv.h, struct hv_config):
 *  - the port base, reserved with request_region() so that no driver of
 *    this kernel programs the same UART while the stub polls it. The 8250
 *    driver holds the legacy ports it found ("serial" in /proc/ioports): the
 *    load then fails and says how to release the port;
 *  - the TSC rate (tsc_khz is TSC ticks per millisecond), the stub's clock;
 *  - the local APIC's register page when x2APIC is off, mapped here
 *    (ioremap, PRE-LAUNCH) for the NMIs that halt the other cores; with
 *    x2APIC the stub writes the ICR MSR and needs no mapping.
 */
#include <linux/errno.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include <asm/msr.h>
#include <asm/tsc.h>

#include <hvcore/debugger.h>

#include "hvcore_linux.h"

static char *debug;
module_param(debug, charp, 0400);
MODULE_PARM_DESC(debug,
		 "Debugger Mode on this 16550 UART: ttyS0..ttyS3 or its I/O port base (e.g. 0x3f8, 0x2f8); "
		 "the kernel must not use the port (release it from the serial driver first)");

static unsigned int debug_baud;
module_param(debug_baud, uint, 0400);
MODULE_PARM_DESC(debug_baud, "line speed of the debug= UART in bits/s, a divisor of 115200 (default 115200)");

static unsigned int debug_halt_ms;
module_param(debug_halt_ms, uint, 0400);
MODULE_PARM_DESC(debug_halt_ms,
		 "how long a halt waits for each core to stop before reporting it as still running, in ms "
		 "(default 0: the core's 100 ms)");

/* The legacy PC ports, in the order Linux numbers them (ttyS0..ttyS3). */
static const uint16_t legacy_ports[] = { 0x3f8, 0x2f8, 0x3e8, 0x2e8 };

#define UART_PORTS 8u       /* registers of a 16550: base .. base + 7 */
#define UART_LSR 5u         /* line status register */
#define APIC_BASE_X2APIC BIT_ULL(10) /* IA32_APIC_BASE.EXTD (SDM Vol. 3A, 11.4.4) */
#define APIC_BASE_ADDR GENMASK_ULL(51, 12)

static uint16_t reserved_port;
static void __iomem *lapic;

/* ttySN (N = 0..3) or a port number (0x prefix for hex), 8-aligned and
 * above the ISA system devices (0x100). */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned int i;
	u16 v;

	for (i = 0; i < ARRAY_SIZE(legacy_ports); i++) {
		char name[8];

		snprintf(name, sizeof(name), "ttyS%u", i);
		if (!strcmp(s, name)) {
			*port = legacy_ports[i];
			return 0;
		}
	}
	if (kstrtou16(s, 0, &v) || v < 0x100 || v % UART_PORTS || v > 0x10000 - UART_PORTS)
		return -EINVAL;
	*port = v;
	return 0;
}

int hvl_debug_init(struct hv_config *cfg)
{
	uint16_t port;
	u64 apic_base;
	int err;

	if (!debug || !debug[0])
		return 0;
	if (parse_port(debug, &port)) {
		pr_err("debug=%s: not a serial port; use ttyS0..ttyS3 or an 8-aligned I/O port base such as 0x3f8\n",
		       debug);
		return -EINVAL;
	}
	if (debug_baud && (debug_baud > 115200 || 115200 % debug_baud)) {
		pr_err("debug_baud=%u: not a divisor of 115200 (e.g. 115200, 57600, 38400, 9600)\n", debug_baud);
		return -EINVAL;
	}
	if (!request_region(port, UART_PORTS, "hvcore debugger")) {
		pr_err("debug=%s: I/O ports %#x-%#x are in use (see /proc/ioports): the kernel's serial driver "
		       "must let go of them first (e.g. echo 00:05 > /sys/bus/pnp/drivers/serial/unbind, the PnP "
		       "device whose resources list io %#x), and the port must not be the console\n",
		       debug, port, port + UART_PORTS - 1, port);
		return -EBUSY;
	}
	/* No UART decodes the port: reads float to all ones. */
	if (inb(port + UART_LSR) == 0xff) {
		pr_err("debug=%s: no UART at I/O port %#x (line status reads 0xff)\n", debug, port);
		err = -ENODEV;
		goto no_uart;
	}
	rdmsrl(MSR_IA32_APICBASE, apic_base);
	if (!(apic_base & APIC_BASE_X2APIC)) {
		lapic = ioremap(apic_base & APIC_BASE_ADDR, PAGE_SIZE);
		if (!lapic) {
			pr_err("debug=%s: cannot map the local APIC at %#llx\n", debug, apic_base & APIC_BASE_ADDR);
			err = -ENOMEM;
			goto no_lapic;
		}
	}
	reserved_port = port;
	cfg->debug_port = port;
	cfg->debug_baud = debug_baud;
	cfg->debug_halt_timeout_ms = debug_halt_ms;
	cfg->debug_tsc_per_ms = tsc_khz;
	cfg->debug_lapic = (volatile void *)lapic;
	pr_info("Debugger Mode on %s (I/O %#x, %u baud, TSC %u kHz, %s)\n", debug, port,
		debug_baud ? debug_baud : 115200, tsc_khz, lapic ? "xAPIC mapped" : "x2APIC");
	return 0;

no_lapic:
no_uart:
	release_region(port, UART_PORTS);
	return err;
}

void hvl_debug_exit(void)
{
	if (lapic)
		iounmap(lapic);
	lapic = NULL;
	if (reserved_port)
		release_region(reserved_port, UART_PORTS);
	reserved_port = 0;
}
