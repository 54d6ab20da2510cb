// SPDX-License-Identifier: MIT
/*
 * What VMX root keeps using after the OS has booted, all in memory the
 * hypervisor owns (EfiRuntimeServicesData):
 *
 *  - Page tables: HOST_CR3 would otherwise be the firmware's CR3, whose
 *    tables are EfiBootServicesData (measured: OVMF's CR3 and IDT are type 4,
 *    its GDT type 6) that the OS reuses after ExitBootServices. Ours map all
 *    of physical memory 1:1 with 2 MiB pages, so every pointer root holds
 *    (image, hv, vcpus, stacks) is its physical address, whatever virtual
 *    map the OS later gives SetVirtualAddressMap.
 *  - A GDT and TSS per CPU: OVMF runs with TR = 0, and VM entry needs a
 *    usable TR (busy 64-bit TSS) for the guest; the host's GDTR/TR bases are
 *    taken from the running CPU. Each CPU gets a copy of the firmware's GDT
 *    (same selectors) plus a TSS descriptor, loaded before the core captures
 *    the state. The host IDT is the core's own (hv_config.own_host_idt), also
 *    allocated through the OS layer.
 *  - CR4.OSXSAVE: the core captures the running CR4 as HOST_CR4, and
 *    XSETBV, which always exits, is executed by root for the guest. OVMF
 *    runs with OSXSAVE clear (CR4 0x668), where XSETBV is #UD: the OS's
 *    first XSETBV (Linux's fpu__init_cpu_xstate) would get a #GP back. So
 *    OSXSAVE is turned on first where the CPU has XSAVE (harmless to the
 *    firmware: XCR0 stays x87) and off again at unload.
 */
#include "hvcore_uefi.h"
#include "host_env.h"

#define PTE_P    0x1ull
#define PTE_RW   0x2ull
#define PTE_PS   0x80ull
#define GIB      (1ull << 30)
#define MIB2     (1ull << 21)
#define CR4_OSXSAVE (1ull << 18)
#define TSS_OFFSET 0x800u
#define TSS_SIZE   0x68u

struct dtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

/* ---- page tables ------------------------------------------------------------ */

/* The end of the highest range in the memory map (RAM, MMIO, reserved). */
static EFI_STATUS memory_top(EFI_BOOT_SERVICES *bs, uint64_t *top)
{
    UINTN size = 0, key, dsize;
    UINT32 dver;
    EFI_MEMORY_DESCRIPTOR *map = NULL;
    EFI_STATUS st;
    UINTN off;

    st = bs->GetMemoryMap(&size, NULL, &key, &dsize, &dver);
    if (st != EFI_BUFFER_TOO_SMALL)
        return EFI_ERROR(st) ? st : EFI_DEVICE_ERROR;
    size += 8 * sizeof(EFI_MEMORY_DESCRIPTOR); /* the pool allocation adds entries */
    st = bs->AllocatePool(EfiBootServicesData, size, (void **)&map);
    if (EFI_ERROR(st))
        return st;
    st = bs->GetMemoryMap(&size, map, &key, &dsize, &dver);
    if (!EFI_ERROR(st)) {
        *top = 0;
        for (off = 0; off + dsize <= size; off += dsize) {
            const EFI_MEMORY_DESCRIPTOR *d = (const void *)((const char *)map + off);
            uint64_t end = d->PhysicalStart + d->NumberOfPages * HV_PAGE_SIZE;

            if (end > *top)
                *top = end;
        }
    }
    bs->FreePool(map);
    return st;
}

EFI_STATUS hvu_host_page_tables(struct hvu *u, struct hvu_host *h)
{
    uint64_t top = 0, gib, g, m;
    uint64_t *pml4, *pdpt;
    EFI_STATUS st;

    st = memory_top(u->bs, &top);
    if (EFI_ERROR(st))
        return st;
    /* At least the low 4 GiB (MMIO, the LAPIC), at most one PDPT (512 GiB). */
    gib = (top + GIB - 1) / GIB;
    if (gib < 4)
        gib = 4;
    if (gib > 512)
        return EFI_UNSUPPORTED;
    h->pt_pages = 2 + gib;
    h->pt = hvu_alloc_pages(u, (size_t)h->pt_pages);
    if (h->pt == NULL)
        return EFI_OUT_OF_RESOURCES;
    pml4 = h->pt;
    pdpt = pml4 + 512;
    pml4[0] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_RW;
    for (g = 0; g < gib; g++) {
        uint64_t *pd = pdpt + 512 * (g + 1);

        pdpt[g] = (uint64_t)(uintptr_t)pd | PTE_P | PTE_RW;
        for (m = 0; m < 512; m++)
            pd[m] = (g * GIB + m * MIB2) | PTE_P | PTE_RW | PTE_PS;
    }
    h->cr3 = (uint64_t)(uintptr_t)pml4;
    return EFI_SUCCESS;
}

void hvu_host_page_tables_free(struct hvu *u, struct hvu_host *h)
{
    hvu_free_pages(u, h->pt, (size_t)h->pt_pages);
    h->pt = NULL;
    h->cr3 = 0;
}

/* ---- per-CPU GDT and TSS ------------------------------------------------------ */

static hv_status_t prepare_one(uint32_t cpu, void *arg)
{
    struct hvu_host *h = arg;
    struct hvu_host_cpu *c = &h->cpu[cpu];
    struct dtr old, gdtr;
    uint64_t *gdt = c->page, tss = (uint64_t)(uintptr_t)c->page + TSS_OFFSET;
    uint32_t entries, i, tss_index, a = 1, b, cx = 0, d;
    uint64_t cr4;
    uint16_t tr;

    __asm__ volatile("sgdt %0" : "=m"(old));
    __asm__ volatile("str %0" : "=r"(tr));
    c->old_gdt_base = old.base;
    c->old_gdt_limit = old.limit;
    c->old_tr = tr;
    entries = ((uint32_t)old.limit + 1u) / 8u;
    /* Room for the copy and a 16-byte TSS descriptor below the TSS. */
    tss_index = (entries + 1u) & ~1u;
    if ((tss_index + 2u) * 8u > TSS_OFFSET)
        return HV_STATUS_UNSUPPORTED;
    for (i = 0; i < entries; i++)
        gdt[i] = ((const volatile uint64_t *)(uintptr_t)old.base)[i];
    /* Available 64-bit TSS (type 9), present, limit 0x67; no I/O bitmap
     * (its offset is the TSS size), no IST stacks: root never changes
     * privilege level. */
    gdt[tss_index] = (uint64_t)(TSS_SIZE - 1u) | ((tss & 0xFFFFFFull) << 16) | (0x89ull << 40) |
                     (((tss >> 24) & 0xFFull) << 56);
    gdt[tss_index + 1] = tss >> 32;
    *(volatile uint16_t *)(uintptr_t)(tss + 0x66) = TSS_SIZE;
    gdtr.limit = (uint16_t)((tss_index + 2u) * 8u - 1u);
    gdtr.base = (uint64_t)(uintptr_t)gdt;
    __asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
    __asm__ volatile("ltr %w0" : : "r"((uint16_t)(tss_index * 8u)) : "memory");
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(cx), "=d"(d));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    c->set_osxsave = ((cx >> 26) & 1u) && !(cr4 & CR4_OSXSAVE); /* CPUID.1:ECX.XSAVE */
    if (c->set_osxsave)
        __asm__ volatile("mov %0, %%cr4" : : "r"(cr4 | CR4_OSXSAVE) : "memory");
    c->loaded = true;
    return HV_STATUS_SUCCESS;
}

/* The firmware's GDT again. Its TR, if it had one, is reloaded (busy bit
 * cleared first, as LTR demands); OVMF has none (TR = 0), and a null TR
 * cannot be loaded: TR keeps describing our TSS, which a CPU at CPL 0
 * without IST stacks never reads, and the next INIT (MP Services' next
 * wake-up of an AP) or the OS's own LTR replaces it. */
static hv_status_t restore_one(uint32_t cpu, void *arg)
{
    struct hvu_host *h = arg;
    struct hvu_host_cpu *c = &h->cpu[cpu];
    struct dtr old = { c->old_gdt_limit, c->old_gdt_base };

    uint64_t cr4;

    if (!c->loaded)
        return HV_STATUS_SUCCESS;
    if (c->set_osxsave) {
        __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
        __asm__ volatile("mov %0, %%cr4" : : "r"(cr4 & ~CR4_OSXSAVE) : "memory");
    }
    __asm__ volatile("lgdt %0" : : "m"(old) : "memory");
    if ((c->old_tr & ~7u) != 0 && (uint32_t)(c->old_tr & ~7u) + 15u <= c->old_gdt_limit) {
        volatile uint64_t *d = (volatile uint64_t *)(uintptr_t)(c->old_gdt_base + (c->old_tr & ~7u));

        *d &= ~(2ull << 40); /* busy -> available */
        __asm__ volatile("ltr %w0" : : "r"(c->old_tr) : "memory");
    }
    c->loaded = false;
    return HV_STATUS_SUCCESS;
}

EFI_STATUS hvu_host_cpus_prepare(struct hvu *u, struct hvu_host *h)
{
    uint32_t i;

    for (i = 0; i < u->cpu_count; i++) {
        h->cpu[i].page = hvu_alloc_pages(u, 1);
        if (h->cpu[i].page == NULL)
            goto alloc_failed;
    }
    /* APs first: MP Services copies the BSP's GDTR into every AP it wakes,
     * and the APs must start from the firmware's, not from ours. */
    if (!hv_success(u->ops.run_on_each_cpu(u, prepare_one, h, HV_CPU_ORDER_DESCENDING)))
        goto run_failed;
    for (i = 0; i < u->cpu_count; i++) {
        if (!h->cpu[i].loaded)
            goto run_failed;
    }
    return EFI_SUCCESS;

run_failed:
    hvu_host_cpus_restore(u, h);
    return EFI_DEVICE_ERROR;
alloc_failed:
    while (i-- > 0) {
        hvu_free_pages(u, h->cpu[i].page, 1);
        h->cpu[i].page = NULL;
    }
    return EFI_OUT_OF_RESOURCES;
}

void hvu_host_cpus_restore(struct hvu *u, struct hvu_host *h)
{
    uint32_t i;

    (void)u->ops.run_on_each_cpu(u, restore_one, h, HV_CPU_ORDER_ASCENDING);
    for (i = 0; i < u->cpu_count; i++) {
        /* A CPU that could not restore still uses its page: keep it. */
        if (h->cpu[i].loaded)
            continue;
        hvu_free_pages(u, h->cpu[i].page, 1);
        h->cpu[i].page = NULL;
    }
}
