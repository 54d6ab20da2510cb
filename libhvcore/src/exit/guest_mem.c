/* SPDX-License-Identifier: MIT */
/*
 * Guest memory from VMX root (hvcore/guest_mem.h): the guest's page walk in
 * software, then a fault-safe copy through os->phys_to_virt.
 *
 * The walk follows SDM Vol. 3A, chapter 4: 32-bit paging (4.3), PAE (4.4),
 * 4-level and 5-level paging (4.5). Entries are read with the backend's
 * fault-safe copy, because a guest's CR3 or an entry may name physical
 * memory the host does not map.
 */
#include <hvcore/arch.h>
#include <hvcore/guest_mem.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#define PTE_P        (1ull << 0)
#define PTE_PS       (1ull << 7)
/* Bits 51:12 of an entry or of CR3 (the architectural maximum
 * MAXPHYADDR; bits above it up to 51 are reserved, SDM Vol. 3A, 4.5.5). */
#define ADDR_MASK    0x000FFFFFFFFFF000ull
#define CR4_PSE      (1ull << 4)
#define CR4_LA57     (1ull << 12)
/* PAE PDPTE bits 2:1 and 8:5 are reserved (SDM Vol. 3A, Table 4-8). */
#define PDPTE_RSVD   0x1E6ull

void hv_guest_paging_current(struct hv_guest_paging *out)
{
    out->cr0 = hv_vmcs_readnat(HV_VMCS_GUEST_CR0);
    out->cr3 = hv_vmcs_readnat(HV_VMCS_GUEST_CR3);
    out->cr4 = hv_vmcs_readnat(HV_VMCS_GUEST_CR4);
    out->efer = hv_vmcs_read64(HV_VMCS_GUEST_IA32_EFER);
}

enum hv_guest_paging_mode hv_guest_paging_mode(const struct hv_guest_paging *p)
{
    if (!(p->cr0 & HV_CR0_PG))
        return HV_GUEST_PAGING_NONE;
    if (!(p->cr4 & HV_CR4_PAE))
        return HV_GUEST_PAGING_32BIT;
    /* EFER.LMA = EFER.LME and CR0.PG; in a VMCS it equals the "IA-32e mode
     * guest" entry control (SDM Vol. 3C, 27.3.1.1). */
    if (!(p->efer & HV_EFER_LMA))
        return HV_GUEST_PAGING_PAE;
    return (p->cr4 & CR4_LA57) ? HV_GUEST_PAGING_5LEVEL : HV_GUEST_PAGING_4LEVEL;
}

hv_status_t hv_guest_mem_read_phys(const struct hv_os_ops *os, uint64_t gpa, void *dst, size_t len)
{
    const uint8_t *src;

    if (os == NULL || os->phys_to_virt == NULL || (dst == NULL && len != 0))
        return HV_STATUS_INVALID_PARAMETER;
    if (len == 0)
        return HV_STATUS_SUCCESS;
    /* Physical addresses stop at bit 51 (SDM Vol. 3A, 4.1.4). */
    if (gpa > 0x000FFFFFFFFFFFFFull || len > 0x0010000000000000ull - gpa)
        return HV_STATUS_ACCESS_VIOLATION;
    src = os->phys_to_virt(os->ctx, gpa);
    if (src == NULL)
        return HV_STATUS_ACCESS_VIOLATION;
    return hv_arch_read_safe(dst, src, len);
}

static hv_status_t write_phys(const struct hv_os_ops *os, uint64_t gpa, const void *src, size_t len)
{
    uint8_t *dst;

    if (len == 0)
        return HV_STATUS_SUCCESS;
    if (gpa > 0x000FFFFFFFFFFFFFull || len > 0x0010000000000000ull - gpa)
        return HV_STATUS_ACCESS_VIOLATION;
    dst = os->phys_to_virt(os->ctx, gpa);
    if (dst == NULL)
        return HV_STATUS_ACCESS_VIOLATION;
    return hv_arch_write_safe(dst, src, len);
}

static hv_status_t read_entry(const struct hv_os_ops *os, uint64_t pa, uint32_t bytes, uint64_t *e)
{
    uint64_t v = 0;
    hv_status_t st = hv_guest_mem_read_phys(os, pa, &v, bytes);

    if (st != HV_STATUS_SUCCESS)
        return st;
    *e = v;   /* little-endian: a 4-byte entry lands in the low half */
    return (v & PTE_P) ? HV_STATUS_SUCCESS : HV_STATUS_GUEST_PAGE_NOT_PRESENT;
}

static hv_status_t walk_32bit(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                              uint64_t gva, uint64_t *gpa)
{
    uint64_t pde, pte;
    hv_status_t st;

    st = read_entry(os, (p->cr3 & 0xFFFFF000ull) + ((gva >> 22) & 0x3FF) * 4u, 4, &pde);
    if (st != HV_STATUS_SUCCESS)
        return st;
    if ((pde & PTE_PS) && (p->cr4 & CR4_PSE)) {
        /* 4 MiB page; PSE-36 puts PA bits 39:32 in PDE bits 20:13 (4.3). */
        *gpa = (pde & 0xFFC00000ull) | (((pde >> 13) & 0xFFu) << 32) | (gva & 0x3FFFFFu);
        return HV_STATUS_SUCCESS;
    }
    st = read_entry(os, (pde & 0xFFFFF000ull) + ((gva >> 12) & 0x3FF) * 4u, 4, &pte);
    if (st != HV_STATUS_SUCCESS)
        return st;
    *gpa = (pte & 0xFFFFF000ull) | (gva & 0xFFFu);
    return HV_STATUS_SUCCESS;
}

static hv_status_t walk_pae(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                            uint64_t gva, uint64_t *gpa)
{
    uint64_t pdpte, pde, pte;
    hv_status_t st;

    /* The CPU loads the four PDPTEs at a CR3 write (and keeps them in the
     * VMCS with EPT, SDM Vol. 3C, 25.4.2); reading them from CR3's page is
     * what the guest last wrote there. CR3 bits 31:5 (4.4.1). */
    st = read_entry(os, (p->cr3 & 0xFFFFFFE0ull) + ((gva >> 30) & 3u) * 8u, 8, &pdpte);
    if (st != HV_STATUS_SUCCESS)
        return st;
    if (pdpte & PDPTE_RSVD)
        return HV_STATUS_GUEST_PAGE_RESERVED_BIT;
    st = read_entry(os, (pdpte & ADDR_MASK) + ((gva >> 21) & 0x1FF) * 8u, 8, &pde);
    if (st != HV_STATUS_SUCCESS)
        return st;
    if (pde & PTE_PS) {
        *gpa = (pde & ADDR_MASK & ~0x1FFFFFull) | (gva & 0x1FFFFFu);
        return HV_STATUS_SUCCESS;
    }
    st = read_entry(os, (pde & ADDR_MASK) + ((gva >> 12) & 0x1FF) * 8u, 8, &pte);
    if (st != HV_STATUS_SUCCESS)
        return st;
    *gpa = (pte & ADDR_MASK) | (gva & 0xFFFu);
    return HV_STATUS_SUCCESS;
}

static hv_status_t walk_long(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                             uint64_t gva, uint64_t *gpa, uint32_t levels)
{
    uint32_t bits = 12u + 9u * levels;       /* 48 or 57 */
    uint64_t table = p->cr3 & ADDR_MASK;      /* CR3 bits 11:0 may hold a PCID */
    uint32_t level;
    uint64_t e = 0;
    hv_status_t st;

    /* Canonical: bits 63:bits-1 all equal (SDM Vol. 3A, 4.5). */
    if ((uint64_t)((int64_t)(gva << (64u - bits)) >> (64u - bits)) != gva)
        return HV_STATUS_GUEST_ADDRESS_NONCANONICAL;
    for (level = levels; level >= 1; level--) {
        uint32_t shift = 12u + 9u * (level - 1u);

        st = read_entry(os, table + ((gva >> shift) & 0x1FFu) * 8u, 8, &e);
        if (st != HV_STATUS_SUCCESS)
            return st;
        if (level == 1) {
            *gpa = (e & ADDR_MASK) | (gva & 0xFFFu);
            return HV_STATUS_SUCCESS;
        }
        if (e & PTE_PS) {
            uint64_t size = 1ull << shift;

            /* PS is reserved in PML5Es and PML4Es (Tables 4-14, 4-15); a
             * PDPTE with PS maps 1 GiB, a PDE 2 MiB. */
            if (level >= 4)
                return HV_STATUS_GUEST_PAGE_RESERVED_BIT;
            *gpa = (e & ADDR_MASK & ~(size - 1u)) | (gva & (size - 1u));
            return HV_STATUS_SUCCESS;
        }
        table = e & ADDR_MASK;
    }
    return HV_STATUS_INTERNAL_ERROR;   /* unreachable: level 1 returns */
}

hv_status_t hv_guest_mem_translate(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                                   uint64_t gva, uint64_t *gpa)
{
    struct hv_guest_paging cur;

    if (os == NULL || gpa == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (p == NULL) {
        hv_guest_paging_current(&cur);
        p = &cur;
    }
    switch (hv_guest_paging_mode(p)) {
    case HV_GUEST_PAGING_NONE:
        /* Linear addresses are 32 bits wide outside IA-32e mode. */
        if (gva > 0xFFFFFFFFull)
            return HV_STATUS_GUEST_ADDRESS_NONCANONICAL;
        *gpa = gva;
        return HV_STATUS_SUCCESS;
    case HV_GUEST_PAGING_32BIT:
        if (gva > 0xFFFFFFFFull)
            return HV_STATUS_GUEST_ADDRESS_NONCANONICAL;
        return walk_32bit(os, p, gva, gpa);
    case HV_GUEST_PAGING_PAE:
        if (gva > 0xFFFFFFFFull)
            return HV_STATUS_GUEST_ADDRESS_NONCANONICAL;
        return walk_pae(os, p, gva, gpa);
    case HV_GUEST_PAGING_4LEVEL:
        return walk_long(os, p, gva, gpa, 4);
    case HV_GUEST_PAGING_5LEVEL:
        return walk_long(os, p, gva, gpa, 5);
    }
    return HV_STATUS_INTERNAL_ERROR;
}

/* Copy page by page: each 4 KiB linear page is translated on its own. */
static hv_status_t copy_linear(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                               uint64_t gva, uint8_t *host, size_t len, size_t *done, bool to_guest)
{
    struct hv_guest_paging cur;
    size_t copied = 0;
    hv_status_t st = HV_STATUS_SUCCESS;

    if (done != NULL)
        *done = 0;
    if (os == NULL || (host == NULL && len != 0))
        return HV_STATUS_INVALID_PARAMETER;
    if (p == NULL) {
        hv_guest_paging_current(&cur);
        p = &cur;
    }
    while (copied < len) {
        uint64_t va = gva + copied;
        size_t chunk = 4096u - (size_t)(va & 0xFFFu);
        uint64_t gpa = 0;

        if (chunk > len - copied)
            chunk = len - copied;
        /* Wrapping past the top of the address space is not a linear
         * address the guest could use either. */
        if (va < gva) {
            st = HV_STATUS_GUEST_ADDRESS_NONCANONICAL;
            break;
        }
        st = hv_guest_mem_translate(os, p, va, &gpa);
        if (st != HV_STATUS_SUCCESS)
            break;
        st = to_guest ? write_phys(os, gpa, host + copied, chunk)
                      : hv_guest_mem_read_phys(os, gpa, host + copied, chunk);
        if (st != HV_STATUS_SUCCESS)
            break;
        copied += chunk;
    }
    if (done != NULL)
        *done = copied;
    return st;
}

hv_status_t hv_guest_mem_read(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                              uint64_t gva, void *dst, size_t len, size_t *done)
{
    return copy_linear(os, p, gva, (uint8_t *)dst, len, done, false);
}

hv_status_t hv_guest_mem_write(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                               uint64_t gva, const void *src, size_t len, size_t *done)
{
    /* The cast drops const only to share copy_linear; src is only read. */
    return copy_linear(os, p, gva, (uint8_t *)(uintptr_t)src, len, done, true);
}
