// SPDX-License-Identifier: MIT
/*
 * The few CPU and port accesses the UEFI OS layer needs, kept apart so the
 * unit tests can replace them (test/unit/test_uefi_os.c). All ROOT-SAFE.
 */
#include "hvcore_uefi.h"

#define COM1 0x3F8u
#define LSR_THR_EMPTY 0x20u

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* The initial APIC ID (CPUID.1:EBX[31:24]): what MP Services reports as
 * ProcessorId on xAPIC machines such as OVMF's. */
uint32_t hvu_cpu_apic_id(void)
{
    uint32_t a = 1, b, c = 0, d;

    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return b >> 24;
}

void hvu_cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

/* Straight to the UART the firmware set up (COM1, polled): no boot service,
 * so it works in VMX root and after ExitBootServices. A UART that never
 * drains (none there) costs a bounded wait per character, not a hang. */
void hvu_serial_write(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        uint32_t spins = 0;

        while (!(inb(COM1 + 5) & LSR_THR_EMPTY) && spins++ < 100000u)
            __asm__ volatile("pause");
        outb(COM1, (uint8_t)s[i]);
    }
}

void hvu_cpu_stop(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}
