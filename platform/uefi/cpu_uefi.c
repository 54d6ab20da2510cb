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

/* ---- halting APs and waking them --------------------------------------------- */

#define MSR_APIC_BASE 0x1Bu
#define APIC_BASE_ENABLE (1ull << 11)
#define APIC_BASE_X2APIC (1ull << 10)
#define APIC_EOI 0xB0u
#define APIC_ICR_LOW 0x300u
#define APIC_ICR_HIGH 0x310u
#define ICR_PENDING (1u << 12)
#define ICR_ASSERT (1u << 14)
#define WAKE_VECTOR 0xF1u

struct idtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

/* One IDT for every AP in the loop; each vector points at wake_stub. */
static uint64_t ap_idt[256 * 2] __attribute__((aligned(16)));
static volatile uint32_t *apic; /* xAPIC registers (identity-mapped MMIO) */
__attribute__((visibility("hidden"))) uint64_t hvu_apic_eoi_addr; /* read by wake_stub */

/* Any interrupt or NMI in the loop: EOI (harmless for an NMI) and back to
 * the HLT loop, which then looks at its mailbox. No error code is expected:
 * no exception is raised there. */
__asm__(".text\n"
        ".balign 16\n"
        "hvu_wake_stub:\n"
        "    endbr64\n"
        "    pushq %rax\n"
        "    movq hvu_apic_eoi_addr(%rip), %rax\n"
        "    movl $0, (%rax)\n"
        "    popq %rax\n"
        "    iretq\n");
extern char hvu_wake_stub[];

static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

bool hvu_cpu_wake_ready(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE), stub = (uint64_t)(uintptr_t)hvu_wake_stub;
    uint16_t cs;
    uint32_t v;

    if (!(base & APIC_BASE_ENABLE) || (base & APIC_BASE_X2APIC))
        return false;
    apic = (volatile uint32_t *)(uintptr_t)(base & ~0xFFFull);
    hvu_apic_eoi_addr = (uint64_t)(uintptr_t)apic + APIC_EOI;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    /* 64-bit interrupt gates (type 14), present, DPL 0, no IST. */
    for (v = 0; v < 256; v++) {
        ap_idt[2 * v] = (stub & 0xFFFFull) | ((uint64_t)cs << 16) | (0x8Eull << 40) |
                        (((stub >> 16) & 0xFFFFull) << 48);
        ap_idt[2 * v + 1] = stub >> 32;
    }
    return true;
}

void hvu_cpu_idt_enter(void *saved)
{
    struct idtr ours = { sizeof(ap_idt) - 1, (uint64_t)(uintptr_t)ap_idt };

    __asm__ volatile("cli; sidt (%0); lidt %1" : : "r"(saved), "m"(ours) : "memory");
}

void hvu_cpu_idt_leave(const void *saved)
{
    __asm__ volatile("cli; lidt (%0)" : : "r"(saved) : "memory");
}

void hvu_cpu_halt(void)
{
    __asm__ volatile("sti; hlt; cli" ::: "memory");
}

void hvu_cpu_cli(void)
{
    __asm__ volatile("cli" ::: "memory");
}

/* A fixed IPI to one CPU (xAPIC ICR; SDM Vol. 3A, 11.6.1). Only the BSP
 * sends, one at a time. */
void hvu_cpu_wake(uint32_t apic_id)
{
    uint32_t spins = 0;

    if (apic == NULL)
        return;
    while ((apic[APIC_ICR_LOW / 4] & ICR_PENDING) && spins++ < 100000u)
        __asm__ volatile("pause");
    apic[APIC_ICR_HIGH / 4] = apic_id << 24;
    apic[APIC_ICR_LOW / 4] = ICR_ASSERT | WAKE_VECTOR;
}

void hvu_cpu_stop(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}
