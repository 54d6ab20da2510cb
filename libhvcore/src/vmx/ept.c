/* SPDX-License-Identifier: MIT */
/*
 * An identity-mapped EPT (guest-physical = host-physical), built once at
 * hv_create() for restarting a CPU at a SIPI: real-mode start-up code needs
 * "unrestricted guest", and unrestricted guest needs EPT (SDM Vol. 3C,
 * 26.2.1.1: "If the unrestricted guest VM-execution control is 1, the
 * enable EPT VM-execution control must also be 1").
 *
 * Layout (SDM Vol. 3C, 29.3.2, 4-level EPT): one PML4 entry, one PDPT;
 * the first 4 GiB through four page directories of 2 MiB pages, the rest
 * (up to MAXPHYADDR, at most 512 GiB) through 1 GiB pages, or more 2 MiB
 * directories where the CPU has no 1 GiB EPT pages. All of it read, write,
 * execute.
 *
 * Memory types: with EPT the MTRRs no longer apply to the guest's accesses;
 * the EPT memory type takes their place in the PAT combination (SDM Vol.
 * 3C, 29.3.7.2; Vol. 3A, 12.5.2.2). So the type of each 2 MiB page below
 * 4 GiB comes from the MTRRs as they are now: UC where any variable range
 * overlapping it is UC, where MTRRs are off, or where the default type is
 * UC and no WB range covers the page entirely; the first 2 MiB is UC if a
 * fixed range below 1 MiB is UC (the legacy VGA hole). Everything else is
 * WB, and the guest's PAT still makes its MMIO mappings UC.
 */
#include <hvcore/arch.h>
#include <hvcore/hv.h>
#include <hvcore/vmx.h>

#include "lib.h"

#define EPT_RWX          7ull
#define EPT_LARGE        (1ull << 7)
#define EPT_MT_SHIFT     3
#define MT_UC            0ull
#define MT_WB            6ull
#define SZ_2M            (1ull << 21)
#define SZ_1G            (1ull << 30)
#define LOW_DIRS         4u        /* page directories for the first 4 GiB */
#define MAX_GIB          512u      /* one PDPT */

/* IA32_VMX_EPT_VPID_CAP (SDM Vol. 3D, A.10). */
#define EPT_CAP_WALK4    (1ull << 6)
#define EPT_CAP_WB       (1ull << 14)
#define EPT_CAP_2M       (1ull << 16)
#define EPT_CAP_1G       (1ull << 17)
/* IA32_VMX_MISC bit 5: VM exits store EFER.LMA into the "IA-32e mode
 * guest" entry control (SDM Vol. 3D, A.6), which a guest that enters and
 * leaves long mode on its own depends on. */
#define MISC_STORES_LMA  (1ull << 5)

#define MSR_MTRRCAP      0xFEu
#define MSR_MTRR_DEF     0x2FFu
#define MSR_PHYSBASE0    0x200u
#define MTRR_DEF_E       (1ull << 11)
#define MTRR_DEF_FE      (1ull << 10)
#define MTRR_CAP_FIX     (1ull << 8)
#define MTRR_MASK_VALID  (1ull << 11)

static uint64_t msr_or(uint32_t msr, uint64_t fallback)
{
    uint64_t v;

    return hv_success(hv_arch_rdmsr_safe(msr, &v)) ? v : fallback;
}

/* The MTRRs, read once (SDM Vol. 3A, 12.11). */
struct mtrrs {
    bool enabled;
    uint64_t def_type;
    uint32_t count;
    uint64_t base[16], mask[16];   /* valid ranges only */
    bool low_uc;                   /* a fixed range below 1 MiB is UC */
};

static void read_mtrrs(struct mtrrs *m, uint64_t addr_mask)
{
    static const uint32_t fixed[] = { 0x250, 0x258, 0x259, 0x268, 0x269, 0x26A, 0x26B, 0x26C, 0x26D, 0x26E, 0x26F };
    uint64_t cap = msr_or(MSR_MTRRCAP, 0), def = msr_or(MSR_MTRR_DEF, 0), v;
    uint32_t i, n = (uint32_t)(cap & 0xFFu), b;

    hv_lib_zero(m, sizeof(*m));
    m->enabled = (def & MTRR_DEF_E) != 0;
    m->def_type = def & 0xFFu;
    for (i = 0; i < n && m->count < 16u; i++) {
        uint64_t mask = msr_or(MSR_PHYSBASE0 + 2u * i + 1u, 0);

        if (!(mask & MTRR_MASK_VALID))
            continue;
        m->base[m->count] = msr_or(MSR_PHYSBASE0 + 2u * i, 0) & (addr_mask | 0xFFu);
        m->mask[m->count] = mask & addr_mask;
        m->count++;
    }
    if (m->enabled && (def & MTRR_DEF_FE) && (cap & MTRR_CAP_FIX)) {
        for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
            v = msr_or(fixed[i], 0x0606060606060606ull);
            for (b = 0; b < 8; b++)
                m->low_uc = m->low_uc || ((v >> (b * 8)) & 0xFFu) == MT_UC;
        }
    }
}

/* The EPT memory type of the 2 MiB page at `pa` (below 4 GiB). */
static uint64_t type_of_2m(const struct mtrrs *m, uint64_t pa)
{
    bool covered_wb = false;
    uint32_t i;

    if (!m->enabled)
        return MT_UC;
    if (pa == 0 && m->low_uc)
        return MT_UC;
    for (i = 0; i < m->count; i++) {
        uint64_t hi = m->mask[i] & ~(SZ_2M - 1);
        uint64_t type = m->base[i] & 0xFFu;

        /* Some address of the page matches the range iff the bits of the
         * mask above the page's offset agree. */
        if ((pa & hi) != (m->base[i] & hi & ~0xFFull))
            continue;
        if (type == MT_UC)
            return MT_UC;
        /* Every address matches iff the mask has no bit inside the page. */
        if (type == MT_WB && (m->mask[i] & (SZ_2M - 1) & ~0xFFFull) == 0)
            covered_wb = true;
    }
    return (m->def_type == MT_UC && !covered_wb) ? MT_UC : MT_WB;
}

static const char *unsupported(const struct hv_vmx_caps *c)
{
    if (!((c->proc >> 32) & HV_PROC_ACTIVATE_SECONDARY) || !((c->proc2 >> 32) & HV_PROC2_ENABLE_EPT))
        return "the CPU has no EPT";
    if (!((c->proc2 >> 32) & HV_PROC2_UNRESTRICTED_GUEST))
        return "the CPU has no unrestricted guest";
    if (!(c->ept_vpid & EPT_CAP_WALK4) || !(c->ept_vpid & EPT_CAP_WB) || !(c->ept_vpid & EPT_CAP_2M))
        return "the CPU's EPT lacks 4-level walks, write-back EPT structures or 2 MiB pages";
    if (!(c->misc & HV_VMX_MISC_ACTIVITY_WAIT_SIPI))
        return "the CPU has no wait-for-SIPI activity state";
    if (!(c->misc & MISC_STORES_LMA))
        return "VM exits do not store EFER.LMA (IA32_VMX_MISC[5])";
    return NULL;
}

bool hv_ept_sipi_ready(const struct hv *hv, const struct hv_vcpu *vcpu, const char **why)
{
    const char *reason = NULL;

    if (hv == NULL || vcpu == NULL)
        reason = "no hypervisor";
    else if (!hv->cfg.restart_on_sipi)
        reason = "restart at SIPI not configured";
    else if (hv->eptp == 0)
        reason = hv->ept_off_reason != NULL ? hv->ept_off_reason : "no EPT was built";
    else
        reason = unsupported(&vcpu->caps);
    if (why != NULL)
        *why = reason;
    return reason == NULL;
}

hv_status_t hv_ept_build(struct hv *hv)
{
    const struct hv_os_ops *os;
    struct hv_vmx_caps caps;
    struct mtrrs m;
    uint64_t *pml4, *pdpt, *pd, pa, addr_mask, base_pa;
    uint32_t phys, gib, dirs, i, j;
    hv_status_t st;

    if (hv == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    os = hv->os;
    hv->eptp = 0;
    st = hv_vmx_caps_read(&caps);
    if (!hv_success(st)) {
        hv->ept_off_reason = "the VMX capabilities could not be read";
        return HV_STATUS_SUCCESS;
    }
    hv->ept_off_reason = unsupported(&caps);
    if (hv->ept_off_reason != NULL)
        return HV_STATUS_SUCCESS;

    phys = hv_vmx_maxphyaddr();
    gib = phys >= 39u ? MAX_GIB : (phys > 32u ? 1u << (phys - 30u) : LOW_DIRS);
    if (gib < LOW_DIRS)
        gib = LOW_DIRS;
    dirs = (caps.ept_vpid & EPT_CAP_1G) ? LOW_DIRS : gib;
    hv->ept_bytes = (size_t)(2u + dirs) * HV_PAGE_SIZE;
    hv->ept = os->alloc_contiguous(os->ctx, hv->ept_bytes);
    if (hv->ept == NULL) {
        hv->ept_bytes = 0;
        hv->ept_off_reason = "no memory for the EPT";
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    base_pa = os->virt_to_phys(os->ctx, hv->ept);
    pml4 = hv->ept;
    pdpt = pml4 + 512;
    pd = pdpt + 512;
    addr_mask = ((phys >= 64u ? 0ull : (1ull << phys)) - 1u) & ~0xFFFull;
    read_mtrrs(&m, addr_mask);

    pml4[0] = (base_pa + HV_PAGE_SIZE) | EPT_RWX;
    for (i = 0; i < gib; i++) {
        if (i < dirs) {
            pdpt[i] = (base_pa + (2u + i) * (uint64_t)HV_PAGE_SIZE) | EPT_RWX;
            for (j = 0; j < 512u; j++) {
                pa = (uint64_t)i * SZ_1G + (uint64_t)j * SZ_2M;
                pd[(size_t)i * 512u + j] = pa | EPT_LARGE | EPT_RWX |
                                            ((i < LOW_DIRS ? type_of_2m(&m, pa) : MT_WB) << EPT_MT_SHIFT);
            }
        } else {
            pdpt[i] = ((uint64_t)i * SZ_1G) | EPT_LARGE | EPT_RWX | (MT_WB << EPT_MT_SHIFT);
        }
    }
    /* EPTP: WB paging structures, 4-level walk (SDM Vol. 3C, 25.6.11). */
    hv->eptp = base_pa | (3ull << 3) | MT_WB;
    hv->ept_gib = gib;
    return HV_STATUS_SUCCESS;
}

void hv_ept_free(struct hv *hv)
{
    if (hv == NULL || hv->ept == NULL)
        return;
    hv->os->free_contiguous(hv->os->ctx, hv->ept, hv->ept_bytes);
    hv->ept = NULL;
    hv->ept_bytes = 0;
    hv->eptp = 0;
}
