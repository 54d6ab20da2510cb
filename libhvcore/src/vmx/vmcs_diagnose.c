/* SPDX-License-Identifier: MIT */
/*
 * VM-entry diagnosis: every check of SDM Vol. 3C 27.2 (controls, host
 * state, address-space size), 27.3 (guest state) and 27.4 (MSR-load area)
 * evaluated in software, so a failed VMLAUNCH/VMRESUME can be explained in
 * words. The mock backend decides its VM entries with this same code.
 *
 * Each check is one small function that returns true when the VMCS FAILS
 * it and records the fields and values involved; the table below gives it
 * its sentence. Fields are read lazily and once, so a check never reads a
 * field whose control is off (an unsupported field's VMREAD would fail and
 * overwrite VM_INSTRUCTION_ERROR).
 */
#include <hvcore/arch.h>
#include <hvcore/hv.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmcs_diagnose.h>
#include <hvcore/vmx.h>

#include "lib.h"

struct dctx {
    const struct hv_vmcs_diag_env *env;
    struct hv_vmcs_diag *d;
    uint32_t pin, proc, proc2, exit, entry;
    uint64_t proc3;
    bool ia32e, ug, host64, v86;
    uint64_t cr0, cr4, rfl;
    bool inject;                 /* VM-entry interruption information valid */
    uint32_t itype, ivec;
    uint32_t maxphy, linbits;
};

/* ---- field access ------------------------------------------------------- */

static uint64_t F(struct dctx *c, uint32_t field)
{
    int slot = hv_vmcs_field_slot(field);
    uint64_t v = 0;
    hv_status_t st;

    if (slot < 0)
        return 0;
    if (c->d->cached[slot] == 0) {
        st = c->env->read_field != NULL ? c->env->read_field(c->env->ctx, field, &v)
                                        : hv_vmcs_backend_read(field, HV_VMCS_FIELD_WIDTH(field), &v);
        c->d->cached[slot] = hv_success(st) ? 1 : 2;
        c->d->cache[slot] = hv_success(st) ? v : 0;
    }
    return c->d->cache[slot];
}

static void rec(struct hv_vmcs_finding *f, uint32_t field, uint64_t value)
{
    if (f->nvalues < HV_DIAG_MAX_VALUES) {
        f->field[f->nvalues] = field;
        f->value[f->nvalues] = value;
        f->nvalues++;
    }
}

/* Record a VMCS field with its value. */
static void recf(struct dctx *c, struct hv_vmcs_finding *f, uint32_t field)
{
    rec(f, field, F(c, field));
}

static bool canon(const struct dctx *c, uint64_t va)
{
    uint32_t n = c->linbits;
    uint64_t top = va >> (n - 1);

    return top == 0 || top == (~0ull >> (n - 1));
}

static bool beyond_width(const struct dctx *c, uint64_t pa)
{
    return c->maxphy < 64 && (pa >> c->maxphy) != 0;
}

/* An address VM entry wants aligned and inside the physical-address width
 * (SDM Vol. 3C, 27.2.1.1). */
static bool bad_pa(const struct dctx *c, uint64_t pa, uint64_t align)
{
    return (pa & (align - 1u)) != 0 || beyond_width(c, pa);
}

static bool bad_pa_field(struct dctx *c, struct hv_vmcs_finding *f, uint32_t field, uint64_t align)
{
    if (!bad_pa(c, F(c, field), align))
        return false;
    recf(c, f, field);
    return true;
}

static bool allowed0_bad(struct hv_vmcs_finding *f, uint32_t field, uint32_t v, uint64_t cap)
{
    uint32_t a0 = (uint32_t)cap;

    if ((v & a0) == a0)
        return false;
    rec(f, field, v);
    rec(f, HV_DIAG_FIELD_CAP, cap);
    return true;
}

static bool allowed1_bad(struct hv_vmcs_finding *f, uint32_t field, uint64_t v, uint64_t allowed1)
{
    if ((v & ~allowed1) == 0)
        return false;
    rec(f, field, v);
    rec(f, HV_DIAG_FIELD_CAP, allowed1);
    return true;
}

#define CHECK(nm) static bool nm(struct dctx *c, struct hv_vmcs_finding *f)

/* ---- 27.2.1.1 VM-execution control fields -------------------------------- */

CHECK(pin_allowed0) { return allowed0_bad(f, HV_VMCS_PIN_BASED_VM_EXEC_CONTROL, c->pin, c->env->caps->pin); }
CHECK(pin_allowed1) { return allowed1_bad(f, HV_VMCS_PIN_BASED_VM_EXEC_CONTROL, c->pin, c->env->caps->pin >> 32); }
CHECK(proc_allowed0) { return allowed0_bad(f, HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, c->proc, c->env->caps->proc); }
CHECK(proc_allowed1) { return allowed1_bad(f, HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, c->proc, c->env->caps->proc >> 32); }
CHECK(proc2_allowed0)
{
    return (c->proc & HV_PROC_ACTIVATE_SECONDARY) &&
           allowed0_bad(f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL, c->proc2, c->env->caps->proc2);
}
CHECK(proc2_allowed1)
{
    return (c->proc & HV_PROC_ACTIVATE_SECONDARY) &&
           allowed1_bad(f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL, c->proc2, c->env->caps->proc2 >> 32);
}
CHECK(proc3_allowed1)
{
    /* IA32_VMX_PROCBASED_CTLS3 is all allowed-1 bits (SDM Vol. 3D, A.3.4). */
    return (c->proc & HV_PROC_ACTIVATE_TERTIARY) &&
           allowed1_bad(f, HV_VMCS_TERTIARY_PROC_CONTROLS, c->proc3, c->env->proc3_cap);
}
CHECK(cr3_target_count)
{
    uint64_t max = (c->env->caps->misc >> 16) & 0x1FFu;

    if (F(c, HV_VMCS_CR3_TARGET_COUNT) <= max)
        return false;
    recf(c, f, HV_VMCS_CR3_TARGET_COUNT);
    rec(f, HV_DIAG_FIELD_CAP, max);
    return true;
}
CHECK(io_bitmap_a) { return (c->proc & HV_PROC_USE_IO_BITMAPS) && bad_pa_field(c, f, HV_VMCS_IO_BITMAP_A, 4096); }
CHECK(io_bitmap_b) { return (c->proc & HV_PROC_USE_IO_BITMAPS) && bad_pa_field(c, f, HV_VMCS_IO_BITMAP_B, 4096); }
CHECK(msr_bitmap) { return (c->proc & HV_PROC_USE_MSR_BITMAPS) && bad_pa_field(c, f, HV_VMCS_MSR_BITMAP, 4096); }
CHECK(virtual_apic_page)
{
    return (c->proc & HV_PROC_USE_TPR_SHADOW) && bad_pa_field(c, f, HV_VMCS_VIRTUAL_APIC_PAGE_ADDR, 4096);
}

#define PROC2_APIC_REGISTER_VIRT (1u << 8)
#define PROC2_VID                (1u << 9)
#define PROC2_VMCS_SHADOWING     (1u << 14)
#define PROC2_PML                (1u << 17)
#define PROC2_EPT_VE             (1u << 18)
#define PROC2_MBEC               (1u << 22)
#define PROC2_SPP                (1u << 23)
#define PROC2_TSC_SCALING        (1u << 25)
#define EXIT_SAVE_PREEMPTION_TIMER (1u << 22)
#define ENTRY_TO_SMM             (1u << 10)
#define ENTRY_DEACTIVATE_DUAL    (1u << 11)
#define CR0_WP_BIT               (1ull << 16)
#define CR4_PCIDE_BIT            (1ull << 17)
#define CR4_CET_BIT              (1ull << 23)

CHECK(tpr_threshold_high)
{
    if (!(c->proc & HV_PROC_USE_TPR_SHADOW) || (c->proc2 & PROC2_VID) || (F(c, HV_VMCS_TPR_THRESHOLD) >> 4) == 0)
        return false;
    recf(c, f, HV_VMCS_TPR_THRESHOLD);
    return true;
}
CHECK(tpr_threshold_vtpr)
{
    uint8_t vtpr = 0;
    uint64_t page;

    if (!(c->proc & HV_PROC_USE_TPR_SHADOW) || (c->proc2 & (PROC2_VID | HV_PROC2_VIRTUALIZE_APIC_ACCESSES)) ||
        c->env->read_phys == NULL)
        return false;
    page = F(c, HV_VMCS_VIRTUAL_APIC_PAGE_ADDR);
    if (bad_pa(c, page, 4096) || (F(c, HV_VMCS_TPR_THRESHOLD) >> 4) != 0)
        return false; /* reported by the checks above */
    /* VTPR is byte 0x80 of the virtual-APIC page (SDM Vol. 3C, 30.1.1). */
    if (!hv_success(c->env->read_phys(c->env->ctx, page + 0x80u, &vtpr, 1)))
        return false;
    if ((F(c, HV_VMCS_TPR_THRESHOLD) & 0xFu) <= (uint32_t)(vtpr >> 4))
        return false;
    recf(c, f, HV_VMCS_TPR_THRESHOLD);
    rec(f, HV_DIAG_FIELD_MEMORY, vtpr);
    return true;
}
CHECK(apicv_needs_tpr)
{
    if ((c->proc & HV_PROC_USE_TPR_SHADOW) ||
        !(c->proc2 & (HV_PROC2_VIRTUALIZE_X2APIC | PROC2_APIC_REGISTER_VIRT | PROC2_VID)))
        return false;
    recf(c, f, HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);
    recf(c, f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
    return true;
}
CHECK(vnmi_needs_nmi_exit)
{
    if ((c->pin & HV_PIN_NMI_EXITING) || !(c->pin & HV_PIN_VIRTUAL_NMIS))
        return false;
    recf(c, f, HV_VMCS_PIN_BASED_VM_EXEC_CONTROL);
    return true;
}
CHECK(nmi_window_needs_vnmi)
{
    if ((c->pin & HV_PIN_VIRTUAL_NMIS) || !(c->proc & HV_PROC_NMI_WINDOW_EXITING))
        return false;
    recf(c, f, HV_VMCS_PIN_BASED_VM_EXEC_CONTROL);
    recf(c, f, HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);
    return true;
}
CHECK(apic_access_addr)
{
    return (c->proc2 & HV_PROC2_VIRTUALIZE_APIC_ACCESSES) && bad_pa_field(c, f, HV_VMCS_APIC_ACCESS_ADDR, 4096);
}
CHECK(x2apic_and_apic_access)
{
    if ((c->proc2 & (HV_PROC2_VIRTUALIZE_X2APIC | HV_PROC2_VIRTUALIZE_APIC_ACCESSES)) !=
        (HV_PROC2_VIRTUALIZE_X2APIC | HV_PROC2_VIRTUALIZE_APIC_ACCESSES))
        return false;
    recf(c, f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
    return true;
}
CHECK(vid_needs_ext_int)
{
    if (!(c->proc2 & PROC2_VID) || (c->pin & HV_PIN_EXTERNAL_INTERRUPT_EXITING))
        return false;
    recf(c, f, HV_VMCS_PIN_BASED_VM_EXEC_CONTROL);
    recf(c, f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
    return true;
}
CHECK(posted_needs_vid_ack)
{
    if (!(c->pin & HV_PIN_POSTED_INTERRUPTS) ||
        ((c->proc2 & PROC2_VID) && (c->exit & HV_EXIT_CTL_ACK_INTERRUPT_ON_EXIT)))
        return false;
    recf(c, f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
    recf(c, f, HV_VMCS_VM_EXIT_CONTROLS);
    return true;
}
CHECK(posted_vector)
{
    if (!(c->pin & HV_PIN_POSTED_INTERRUPTS) || (F(c, HV_VMCS_POSTED_INTR_NOTIFY_VECTOR) & 0xFF00u) == 0)
        return false;
    recf(c, f, HV_VMCS_POSTED_INTR_NOTIFY_VECTOR);
    return true;
}
CHECK(posted_desc_addr)
{
    return (c->pin & HV_PIN_POSTED_INTERRUPTS) && bad_pa_field(c, f, HV_VMCS_POSTED_INTR_DESC_ADDR, 64);
}
CHECK(vpid_zero)
{
    if (!(c->proc2 & HV_PROC2_ENABLE_VPID) || F(c, HV_VMCS_VPID) != 0)
        return false;
    recf(c, f, HV_VMCS_VPID);
    return true;
}

/* EPTP (SDM Vol. 3C, 25.6.11; capabilities in Vol. 3D, A.10). */
#define EPT_CAP_WALK4  (1ull << 6)
#define EPT_CAP_WALK5  (1ull << 7)
#define EPT_CAP_UC     (1ull << 8)
#define EPT_CAP_WB     (1ull << 14)
#define EPT_CAP_AD     (1ull << 21)
static bool ept_on(const struct dctx *c) { return (c->proc2 & HV_PROC2_ENABLE_EPT) != 0; }
CHECK(eptp_memtype)
{
    uint64_t e = ept_on(c) ? F(c, HV_VMCS_EPT_POINTER) : 0, cap = c->env->caps->ept_vpid;
    uint32_t t = (uint32_t)(e & 7u);

    if (!ept_on(c) || (t == 0 && (cap & EPT_CAP_UC)) || (t == 6 && (cap & EPT_CAP_WB)))
        return false;
    rec(f, HV_VMCS_EPT_POINTER, e);
    rec(f, HV_DIAG_FIELD_CAP, cap);
    return true;
}
CHECK(eptp_walk)
{
    uint64_t e = ept_on(c) ? F(c, HV_VMCS_EPT_POINTER) : 0, cap = c->env->caps->ept_vpid;
    uint32_t w = (uint32_t)((e >> 3) & 7u);

    if (!ept_on(c) || (w == 3 && (cap & EPT_CAP_WALK4)) || (w == 4 && (cap & EPT_CAP_WALK5)))
        return false;
    rec(f, HV_VMCS_EPT_POINTER, e);
    rec(f, HV_DIAG_FIELD_CAP, cap);
    return true;
}
CHECK(eptp_ad)
{
    uint64_t e = ept_on(c) ? F(c, HV_VMCS_EPT_POINTER) : 0, cap = c->env->caps->ept_vpid;

    if (!ept_on(c) || !(e & (1ull << 6)) || (cap & EPT_CAP_AD))
        return false;
    rec(f, HV_VMCS_EPT_POINTER, e);
    rec(f, HV_DIAG_FIELD_CAP, cap);
    return true;
}
CHECK(eptp_reserved)
{
    uint64_t e = ept_on(c) ? F(c, HV_VMCS_EPT_POINTER) : 0;

    /* Bit 7 is "supervisor shadow stack" (reserved without CET). */
    if (!ept_on(c) || ((e & 0xF00ull) == 0 && !beyond_width(c, e)))
        return false;
    rec(f, HV_VMCS_EPT_POINTER, e);
    return true;
}
CHECK(pml_needs_ept)
{
    if (!(c->proc2 & PROC2_PML) || ept_on(c))
        return false;
    recf(c, f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
    return true;
}
CHECK(pml_addr) { return (c->proc2 & PROC2_PML) && bad_pa_field(c, f, HV_VMCS_PML_ADDRESS, 4096); }
CHECK(ug_needs_ept)
{
    if (!c->ug || ept_on(c))
        return false;
    recf(c, f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
    return true;
}
CHECK(mbec_needs_ept)
{
    if (!(c->proc2 & PROC2_MBEC) || ept_on(c))
        return false;
    recf(c, f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
    return true;
}
CHECK(vmfunc_reserved)
{
    return (c->proc2 & HV_PROC2_ENABLE_VMFUNC) &&
           allowed1_bad(f, HV_VMCS_VM_FUNCTION_CONTROLS, F(c, HV_VMCS_VM_FUNCTION_CONTROLS), c->env->caps->vmfunc);
}
CHECK(eptp_switch_needs_ept)
{
    if (!(c->proc2 & HV_PROC2_ENABLE_VMFUNC) || !(F(c, HV_VMCS_VM_FUNCTION_CONTROLS) & 1u) || ept_on(c))
        return false;
    recf(c, f, HV_VMCS_VM_FUNCTION_CONTROLS);
    recf(c, f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
    return true;
}
CHECK(eptp_list_addr)
{
    return (c->proc2 & HV_PROC2_ENABLE_VMFUNC) && (F(c, HV_VMCS_VM_FUNCTION_CONTROLS) & 1u) &&
           bad_pa_field(c, f, HV_VMCS_EPTP_LIST_ADDR, 4096);
}
CHECK(vmread_bitmap) { return (c->proc2 & PROC2_VMCS_SHADOWING) && bad_pa_field(c, f, HV_VMCS_VMREAD_BITMAP, 4096); }
CHECK(vmwrite_bitmap) { return (c->proc2 & PROC2_VMCS_SHADOWING) && bad_pa_field(c, f, HV_VMCS_VMWRITE_BITMAP, 4096); }
CHECK(ve_info_addr) { return (c->proc2 & PROC2_EPT_VE) && bad_pa_field(c, f, HV_VMCS_VE_INFO_ADDR, 4096); }
CHECK(spp_needs_ept)
{
    if (!(c->proc2 & PROC2_SPP) || ept_on(c))
        return false;
    recf(c, f, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
    return true;
}
CHECK(spp_table) { return (c->proc2 & PROC2_SPP) && bad_pa_field(c, f, HV_VMCS_SPP_TABLE_POINTER, 4096); }
CHECK(tsc_multiplier_zero)
{
    if (!(c->proc2 & PROC2_TSC_SCALING) || F(c, HV_VMCS_TSC_MULTIPLIER) != 0)
        return false;
    recf(c, f, HV_VMCS_TSC_MULTIPLIER);
    return true;
}

/* ---- 27.2.1.2 VM-exit control fields ------------------------------------- */

CHECK(exit_allowed0) { return allowed0_bad(f, HV_VMCS_VM_EXIT_CONTROLS, c->exit, c->env->caps->exit); }
CHECK(exit_allowed1) { return allowed1_bad(f, HV_VMCS_VM_EXIT_CONTROLS, c->exit, c->env->caps->exit >> 32); }
CHECK(exit_save_timer)
{
    if (!(c->exit & EXIT_SAVE_PREEMPTION_TIMER) || (c->pin & HV_PIN_PREEMPTION_TIMER))
        return false;
    recf(c, f, HV_VMCS_PIN_BASED_VM_EXEC_CONTROL);
    recf(c, f, HV_VMCS_VM_EXIT_CONTROLS);
    return true;
}
/* An MSR area: 16-byte aligned, its last byte inside the width. */
static bool msr_area_bad(struct dctx *c, struct hv_vmcs_finding *f, uint32_t count_field, uint32_t addr_field)
{
    uint64_t n = F(c, count_field), a;

    if (n == 0)
        return false;
    a = F(c, addr_field);
    if ((a & 15u) == 0 && !beyond_width(c, a + n * 16u - 1u))
        return false;
    rec(f, addr_field, a);
    rec(f, count_field, n);
    return true;
}
CHECK(exit_msr_store_addr) { return msr_area_bad(c, f, HV_VMCS_VM_EXIT_MSR_STORE_COUNT, HV_VMCS_VM_EXIT_MSR_STORE_ADDR); }
CHECK(exit_msr_load_addr) { return msr_area_bad(c, f, HV_VMCS_VM_EXIT_MSR_LOAD_COUNT, HV_VMCS_VM_EXIT_MSR_LOAD_ADDR); }

/* ---- 27.2.1.3 VM-entry control fields ------------------------------------ */

CHECK(entry_allowed0) { return allowed0_bad(f, HV_VMCS_VM_ENTRY_CONTROLS, c->entry, c->env->caps->entry); }
CHECK(entry_allowed1) { return allowed1_bad(f, HV_VMCS_VM_ENTRY_CONTROLS, c->entry, c->env->caps->entry >> 32); }
CHECK(intr_type)
{
    bool mtf = ((c->env->caps->proc >> 32) & HV_PROC_MONITOR_TRAP_FLAG) != 0;

    if (!c->inject || !(c->itype == 1 || (c->itype == HV_INTR_TYPE_OTHER && !mtf)))
        return false;
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
CHECK(intr_nmi_vector)
{
    if (!c->inject || c->itype != HV_INTR_TYPE_NMI || c->ivec == HV_VECTOR_NMI)
        return false;
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
CHECK(intr_hw_vector)
{
    if (!c->inject || c->itype != HV_INTR_TYPE_HW_EXCEPTION || c->ivec <= 31)
        return false;
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
CHECK(intr_other_vector)
{
    if (!c->inject || c->itype != HV_INTR_TYPE_OTHER || c->ivec == 0)
        return false;
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
CHECK(intr_error_code_bit)
{
    uint32_t v = c->ivec;
    bool pe = !c->ug || (c->cr0 & HV_CR0_PE);
    bool want = pe && c->itype == HV_INTR_TYPE_HW_EXCEPTION &&
                (v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21);
    bool has = (F(c, HV_VMCS_VM_ENTRY_INTR_INFO) & HV_INTR_INFO_DELIVER_CODE) != 0;

    if (!c->inject || want == has)
        return false;
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    recf(c, f, HV_VMCS_GUEST_CR0);
    return true;
}
CHECK(intr_reserved)
{
    if (!c->inject || (F(c, HV_VMCS_VM_ENTRY_INTR_INFO) & 0x7FFFF000u) == 0)
        return false;
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
CHECK(intr_error_code)
{
    if (!c->inject || !(F(c, HV_VMCS_VM_ENTRY_INTR_INFO) & HV_INTR_INFO_DELIVER_CODE) ||
        (F(c, HV_VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE) >> 16) == 0)
        return false;
    recf(c, f, HV_VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE);
    return true;
}
CHECK(intr_instr_len)
{
    uint64_t len;
    /* IA32_VMX_MISC[30]: a length of 0 is allowed (SDM Vol. 3D, A.6). */
    bool zero_ok = (c->env->caps->misc & (1ull << 30)) != 0;

    if (!c->inject || !(c->itype == HV_INTR_TYPE_SW_INTERRUPT || c->itype == HV_INTR_TYPE_PRIV_SW_EXCEPTION ||
                        c->itype == HV_INTR_TYPE_SW_EXCEPTION))
        return false;
    len = F(c, HV_VMCS_VM_ENTRY_INSTRUCTION_LEN);
    if ((len >= 1 && len <= 15) || (len == 0 && zero_ok))
        return false;
    rec(f, HV_VMCS_VM_ENTRY_INSTRUCTION_LEN, len);
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
CHECK(entry_msr_load_addr) { return msr_area_bad(c, f, HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT, HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR); }
CHECK(entry_smm)
{
    /* Both controls are for the dual-monitor treatment, entered from SMM
     * only; the core never runs in SMM. */
    if (!(c->entry & (ENTRY_TO_SMM | ENTRY_DEACTIVATE_DUAL)))
        return false;
    recf(c, f, HV_VMCS_VM_ENTRY_CONTROLS);
    return true;
}

/* ---- 27.2.2 host control registers and MSRs ------------------------------ */

static bool cr_fixed_bad(struct dctx *c, struct hv_vmcs_finding *f, uint32_t field, uint64_t v,
                         uint64_t fixed0, uint64_t fixed1)
{
    (void)c;
    if ((v & fixed0) == fixed0 && (v & ~fixed1) == 0)
        return false;
    rec(f, field, v);
    rec(f, HV_DIAG_FIELD_CAP, (v & fixed0) != fixed0 ? fixed0 : fixed1);
    return true;
}
CHECK(host_cr0)
{
    const struct hv_vmx_caps *k = c->env->caps;

    return cr_fixed_bad(c, f, HV_VMCS_HOST_CR0, F(c, HV_VMCS_HOST_CR0), k->cr0_fixed0, k->cr0_fixed1);
}
CHECK(host_cr4)
{
    const struct hv_vmx_caps *k = c->env->caps;

    return cr_fixed_bad(c, f, HV_VMCS_HOST_CR4, F(c, HV_VMCS_HOST_CR4), k->cr4_fixed0 | HV_CR4_VMXE, k->cr4_fixed1);
}
CHECK(host_cr3)
{
    if (!beyond_width(c, F(c, HV_VMCS_HOST_CR3)))
        return false;
    recf(c, f, HV_VMCS_HOST_CR3);
    return true;
}
CHECK(host_cr4_cet_wp)
{
    if (!(F(c, HV_VMCS_HOST_CR4) & CR4_CET_BIT) || (F(c, HV_VMCS_HOST_CR0) & CR0_WP_BIT))
        return false;
    recf(c, f, HV_VMCS_HOST_CR4);
    recf(c, f, HV_VMCS_HOST_CR0);
    return true;
}
static bool noncanon_field(struct dctx *c, struct hv_vmcs_finding *f, uint32_t field)
{
    if (canon(c, F(c, field)))
        return false;
    recf(c, f, field);
    return true;
}
CHECK(host_sysenter_esp) { return noncanon_field(c, f, HV_VMCS_HOST_IA32_SYSENTER_ESP); }
CHECK(host_sysenter_eip) { return noncanon_field(c, f, HV_VMCS_HOST_IA32_SYSENTER_EIP); }

/* PAT entries may be 0, 1, 4, 5, 6 or 7 (SDM Vol. 3A, 11.12.2). */
static bool pat_bad(uint64_t pat)
{
    uint32_t i;

    for (i = 0; i < 8; i++) {
        uint32_t t = (uint32_t)(pat >> (8 * i)) & 0xFFu;

        if (t == 2 || t == 3 || t > 7)
            return true;
    }
    return false;
}
CHECK(host_pat)
{
    if (!(c->exit & HV_EXIT_CTL_LOAD_PAT) || !pat_bad(F(c, HV_VMCS_HOST_IA32_PAT)))
        return false;
    recf(c, f, HV_VMCS_HOST_IA32_PAT);
    return true;
}
#define EFER_DEFINED (HV_EFER_SCE | HV_EFER_LME | HV_EFER_LMA | HV_EFER_NXE)
CHECK(host_efer_reserved)
{
    if (!(c->exit & HV_EXIT_CTL_LOAD_EFER) || (F(c, HV_VMCS_HOST_IA32_EFER) & ~EFER_DEFINED) == 0)
        return false;
    recf(c, f, HV_VMCS_HOST_IA32_EFER);
    return true;
}
CHECK(host_efer_lma_lme)
{
    uint64_t e = (c->exit & HV_EXIT_CTL_LOAD_EFER) ? F(c, HV_VMCS_HOST_IA32_EFER) : 0;

    if (!(c->exit & HV_EXIT_CTL_LOAD_EFER) ||
        (!(e & HV_EFER_LMA) == !c->host64 && !(e & HV_EFER_LME) == !c->host64))
        return false;
    rec(f, HV_VMCS_HOST_IA32_EFER, e);
    recf(c, f, HV_VMCS_VM_EXIT_CONTROLS);
    return true;
}
/* IA32_S_CET: bits 9:6 reserved, bits 63:12 a canonical address (SDM Vol.
 * 1, 17.2.3); SSP: 4-byte aligned and canonical. */
static bool s_cet_bad(const struct dctx *c, uint64_t v) { return (v & 0x3C0ull) != 0 || !canon(c, v); }
static bool ssp_bad(const struct dctx *c, uint64_t v) { return (v & 3u) != 0 || !canon(c, v); }
CHECK(host_s_cet)
{
    if (!(c->exit & HV_EXIT_CTL_LOAD_CET_STATE) || !s_cet_bad(c, F(c, HV_VMCS_HOST_S_CET)))
        return false;
    recf(c, f, HV_VMCS_HOST_S_CET);
    return true;
}
CHECK(host_ssp)
{
    if (!(c->exit & HV_EXIT_CTL_LOAD_CET_STATE) || !ssp_bad(c, F(c, HV_VMCS_HOST_SSP)))
        return false;
    recf(c, f, HV_VMCS_HOST_SSP);
    return true;
}
CHECK(host_ssp_table) { return (c->exit & HV_EXIT_CTL_LOAD_CET_STATE) && noncanon_field(c, f, HV_VMCS_HOST_INTR_SSP_TABLE_ADDR); }
CHECK(host_pkrs)
{
    if (!(c->exit & HV_EXIT_CTL_LOAD_PKRS) || (F(c, HV_VMCS_HOST_IA32_PKRS) >> 32) == 0)
        return false;
    recf(c, f, HV_VMCS_HOST_IA32_PKRS);
    return true;
}

/* ---- 27.2.3 host segment and descriptor-table registers ------------------ */

static const uint32_t k_host_sel[] = {
    HV_VMCS_HOST_ES_SELECTOR, HV_VMCS_HOST_CS_SELECTOR, HV_VMCS_HOST_SS_SELECTOR, HV_VMCS_HOST_DS_SELECTOR,
    HV_VMCS_HOST_FS_SELECTOR, HV_VMCS_HOST_GS_SELECTOR, HV_VMCS_HOST_TR_SELECTOR,
};
CHECK(host_sel_ti_rpl)
{
    uint32_t i;

    for (i = 0; i < sizeof(k_host_sel) / sizeof(k_host_sel[0]); i++) {
        if (F(c, k_host_sel[i]) & 7u)
            recf(c, f, k_host_sel[i]);
    }
    return f->nvalues != 0;
}
CHECK(host_cs_null)
{
    if (F(c, HV_VMCS_HOST_CS_SELECTOR) != 0)
        return false;
    recf(c, f, HV_VMCS_HOST_CS_SELECTOR);
    return true;
}
CHECK(host_tr_null)
{
    if (F(c, HV_VMCS_HOST_TR_SELECTOR) != 0)
        return false;
    recf(c, f, HV_VMCS_HOST_TR_SELECTOR);
    return true;
}
CHECK(host_ss_null)
{
    if (c->host64 || F(c, HV_VMCS_HOST_SS_SELECTOR) != 0)
        return false;
    recf(c, f, HV_VMCS_HOST_SS_SELECTOR);
    recf(c, f, HV_VMCS_VM_EXIT_CONTROLS);
    return true;
}
CHECK(host_fs_base) { return noncanon_field(c, f, HV_VMCS_HOST_FS_BASE); }
CHECK(host_gs_base) { return noncanon_field(c, f, HV_VMCS_HOST_GS_BASE); }
CHECK(host_tr_base) { return noncanon_field(c, f, HV_VMCS_HOST_TR_BASE); }
CHECK(host_gdtr_base) { return noncanon_field(c, f, HV_VMCS_HOST_GDTR_BASE); }
CHECK(host_idtr_base) { return noncanon_field(c, f, HV_VMCS_HOST_IDTR_BASE); }

/* ---- 27.2.4 address-space size ------------------------------------------- */

CHECK(addr_cpu_not_ia32e)
{
    if (c->env->cpu_ia32e || !(c->host64 || c->ia32e))
        return false;
    recf(c, f, HV_VMCS_VM_EXIT_CONTROLS);
    recf(c, f, HV_VMCS_VM_ENTRY_CONTROLS);
    return true;
}
CHECK(addr_host64_needed)
{
    if (!c->env->cpu_ia32e || c->host64)
        return false;
    recf(c, f, HV_VMCS_VM_EXIT_CONTROLS);
    rec(f, HV_DIAG_FIELD_CPU, 1);
    return true;
}
CHECK(addr_guest_needs_host64)
{
    if (c->host64 || !c->ia32e)
        return false;
    recf(c, f, HV_VMCS_VM_EXIT_CONTROLS);
    recf(c, f, HV_VMCS_VM_ENTRY_CONTROLS);
    return true;
}
CHECK(host_pcide_32)
{
    if (c->host64 || !(F(c, HV_VMCS_HOST_CR4) & CR4_PCIDE_BIT))
        return false;
    recf(c, f, HV_VMCS_HOST_CR4);
    return true;
}
CHECK(host_rip_32)
{
    if (c->host64 || (F(c, HV_VMCS_HOST_RIP) >> 32) == 0)
        return false;
    recf(c, f, HV_VMCS_HOST_RIP);
    return true;
}
CHECK(host_pae_64)
{
    if (!c->host64 || (F(c, HV_VMCS_HOST_CR4) & HV_CR4_PAE))
        return false;
    recf(c, f, HV_VMCS_HOST_CR4);
    return true;
}
CHECK(host_rip_canonical) { return c->host64 && noncanon_field(c, f, HV_VMCS_HOST_RIP); }

/* ---- 27.3.1.1 guest control registers, debug registers, MSRs ------------- */

CHECK(guest_cr0)
{
    const struct hv_vmx_caps *k = c->env->caps;
    uint64_t f0 = k->cr0_fixed0;

    /* Unrestricted guests may clear PE and PG (SDM Vol. 3D, A.7). */
    if (c->ug)
        f0 &= ~(HV_CR0_PE | HV_CR0_PG);
    return cr_fixed_bad(c, f, HV_VMCS_GUEST_CR0, c->cr0, f0, k->cr0_fixed1 & 0xFFFFFFFFull);
}
CHECK(guest_cr0_pg_pe)
{
    if (!(c->cr0 & HV_CR0_PG) || (c->cr0 & HV_CR0_PE))
        return false;
    recf(c, f, HV_VMCS_GUEST_CR0);
    return true;
}
CHECK(guest_cr4)
{
    const struct hv_vmx_caps *k = c->env->caps;

    return cr_fixed_bad(c, f, HV_VMCS_GUEST_CR4, c->cr4, k->cr4_fixed0, k->cr4_fixed1);
}
CHECK(guest_cr4_cet_wp)
{
    if (!(c->cr4 & CR4_CET_BIT) || (c->cr0 & CR0_WP_BIT))
        return false;
    recf(c, f, HV_VMCS_GUEST_CR4);
    recf(c, f, HV_VMCS_GUEST_CR0);
    return true;
}
/* DEBUGCTL bits 5:2 and 63:16 are reserved (SDM Vol. 3B, 18.4.1). */
#define DEBUGCTL_DEFINED 0xFFC3ull
CHECK(guest_debugctl)
{
    if (!(c->entry & HV_ENTRY_CTL_LOAD_DEBUG_CONTROLS) || (F(c, HV_VMCS_GUEST_IA32_DEBUGCTL) & ~DEBUGCTL_DEFINED) == 0)
        return false;
    recf(c, f, HV_VMCS_GUEST_IA32_DEBUGCTL);
    return true;
}
CHECK(guest_ia32e_pg)
{
    if (!c->ia32e || (c->cr0 & HV_CR0_PG))
        return false;
    recf(c, f, HV_VMCS_GUEST_CR0);
    recf(c, f, HV_VMCS_VM_ENTRY_CONTROLS);
    return true;
}
CHECK(guest_ia32e_pae)
{
    if (!c->ia32e || (c->cr4 & HV_CR4_PAE))
        return false;
    recf(c, f, HV_VMCS_GUEST_CR4);
    recf(c, f, HV_VMCS_VM_ENTRY_CONTROLS);
    return true;
}
CHECK(guest_pcide)
{
    if (c->ia32e || !(c->cr4 & CR4_PCIDE_BIT))
        return false;
    recf(c, f, HV_VMCS_GUEST_CR4);
    recf(c, f, HV_VMCS_VM_ENTRY_CONTROLS);
    return true;
}
CHECK(guest_cr3)
{
    if (!beyond_width(c, F(c, HV_VMCS_GUEST_CR3)))
        return false;
    recf(c, f, HV_VMCS_GUEST_CR3);
    return true;
}
CHECK(guest_dr7)
{
    if (!(c->entry & HV_ENTRY_CTL_LOAD_DEBUG_CONTROLS) || (F(c, HV_VMCS_GUEST_DR7) >> 32) == 0)
        return false;
    recf(c, f, HV_VMCS_GUEST_DR7);
    return true;
}
CHECK(guest_sysenter_esp) { return noncanon_field(c, f, HV_VMCS_GUEST_SYSENTER_ESP); }
CHECK(guest_sysenter_eip) { return noncanon_field(c, f, HV_VMCS_GUEST_SYSENTER_EIP); }
CHECK(guest_pat)
{
    if (!(c->entry & HV_ENTRY_CTL_LOAD_PAT) || !pat_bad(F(c, HV_VMCS_GUEST_IA32_PAT)))
        return false;
    recf(c, f, HV_VMCS_GUEST_IA32_PAT);
    return true;
}
CHECK(guest_efer_reserved)
{
    if (!(c->entry & HV_ENTRY_CTL_LOAD_EFER) || (F(c, HV_VMCS_GUEST_IA32_EFER) & ~EFER_DEFINED) == 0)
        return false;
    recf(c, f, HV_VMCS_GUEST_IA32_EFER);
    return true;
}
CHECK(guest_efer_lma)
{
    if (!(c->entry & HV_ENTRY_CTL_LOAD_EFER) || !(F(c, HV_VMCS_GUEST_IA32_EFER) & HV_EFER_LMA) == !c->ia32e)
        return false;
    recf(c, f, HV_VMCS_GUEST_IA32_EFER);
    recf(c, f, HV_VMCS_VM_ENTRY_CONTROLS);
    return true;
}
CHECK(guest_efer_lme)
{
    uint64_t e = (c->entry & HV_ENTRY_CTL_LOAD_EFER) ? F(c, HV_VMCS_GUEST_IA32_EFER) : 0;

    if (!(c->entry & HV_ENTRY_CTL_LOAD_EFER) || !(c->cr0 & HV_CR0_PG) || !(e & HV_EFER_LMA) == !(e & HV_EFER_LME))
        return false;
    rec(f, HV_VMCS_GUEST_IA32_EFER, e);
    recf(c, f, HV_VMCS_GUEST_CR0);
    return true;
}
CHECK(guest_bndcfgs)
{
    uint64_t v;

    if (!(c->entry & HV_ENTRY_CTL_LOAD_BNDCFGS))
        return false;
    v = F(c, HV_VMCS_GUEST_IA32_BNDCFGS);
    if ((v & 0xFFCull) == 0 && canon(c, v & ~0xFFFull))
        return false;
    rec(f, HV_VMCS_GUEST_IA32_BNDCFGS, v);
    return true;
}
CHECK(guest_s_cet)
{
    if (!(c->entry & HV_ENTRY_CTL_LOAD_CET_STATE) || !s_cet_bad(c, F(c, HV_VMCS_GUEST_S_CET)))
        return false;
    recf(c, f, HV_VMCS_GUEST_S_CET);
    return true;
}
CHECK(guest_ssp)
{
    if (!(c->entry & HV_ENTRY_CTL_LOAD_CET_STATE) || !ssp_bad(c, F(c, HV_VMCS_GUEST_SSP)))
        return false;
    recf(c, f, HV_VMCS_GUEST_SSP);
    return true;
}
CHECK(guest_ssp_table) { return (c->entry & HV_ENTRY_CTL_LOAD_CET_STATE) && noncanon_field(c, f, HV_VMCS_GUEST_INTR_SSP_TABLE_ADDR); }
CHECK(guest_pkrs)
{
    if (!(c->entry & HV_ENTRY_CTL_LOAD_PKRS) || (F(c, HV_VMCS_GUEST_IA32_PKRS) >> 32) == 0)
        return false;
    recf(c, f, HV_VMCS_GUEST_IA32_PKRS);
    return true;
}

/* ---- 27.3.1.2 guest segment registers ------------------------------------ */

/* Access rights (SDM Vol. 3C, 25.4.1, Table 25-2). */
#define AR_TYPE(ar) ((ar) & 0xFu)
#define AR_S(ar) (((ar) >> 4) & 1u)
#define AR_DPL(ar) (((ar) >> 5) & 3u)
#define AR_P(ar) (((ar) >> 7) & 1u)
#define AR_L(ar) (((ar) >> 13) & 1u)
#define AR_DB(ar) (((ar) >> 14) & 1u)
#define AR_G(ar) (((ar) >> 15) & 1u)
#define AR_UNUSABLE(ar) (((ar) >> 16) & 1u)
#define AR_RESERVED 0xFFFE0F00u

static uint32_t sel(struct dctx *c, enum hv_seg s) { return (uint32_t)F(c, hv_vmcs_guest_segment[s].selector); }
static uint64_t sbase(struct dctx *c, enum hv_seg s) { return F(c, hv_vmcs_guest_segment[s].base); }
static uint32_t slimit(struct dctx *c, enum hv_seg s) { return (uint32_t)F(c, hv_vmcs_guest_segment[s].limit); }
static uint32_t sar(struct dctx *c, enum hv_seg s) { return (uint32_t)F(c, hv_vmcs_guest_segment[s].access_rights); }
static bool usable(struct dctx *c, enum hv_seg s) { return !AR_UNUSABLE(sar(c, s)); }

/* Outside virtual-8086 mode the code/data segments get the 27.3.1.2
 * access-rights checks; SS/DS/ES/FS/GS only while usable. */
static bool seg_checked(struct dctx *c, enum hv_seg s)
{
    return !c->v86 && s <= HV_SEG_GS && (s == HV_SEG_CS || usable(c, s));
}

static bool limit_g_bad(uint32_t limit, uint32_t ar)
{
    return ((limit & 0xFFFu) != 0xFFFu && AR_G(ar)) || ((limit & 0xFFF00000u) && !AR_G(ar));
}

CHECK(guest_tr_ti)
{
    if (!(sel(c, HV_SEG_TR) & 4u))
        return false;
    rec(f, HV_VMCS_GUEST_TR_SELECTOR, sel(c, HV_SEG_TR));
    return true;
}
CHECK(guest_ldtr_ti)
{
    if (!usable(c, HV_SEG_LDTR) || !(sel(c, HV_SEG_LDTR) & 4u))
        return false;
    rec(f, HV_VMCS_GUEST_LDTR_SELECTOR, sel(c, HV_SEG_LDTR));
    return true;
}
CHECK(guest_ss_rpl)
{
    if (c->v86 || c->ug || (sel(c, HV_SEG_SS) & 3u) == (sel(c, HV_SEG_CS) & 3u))
        return false;
    rec(f, HV_VMCS_GUEST_SS_SELECTOR, sel(c, HV_SEG_SS));
    rec(f, HV_VMCS_GUEST_CS_SELECTOR, sel(c, HV_SEG_CS));
    return true;
}
/* Virtual-8086 mode: base = selector * 16, limit 0xFFFF, AR 0xF3. */
CHECK(guest_v86_base)
{
    uint32_t s;

    if (!c->v86)
        return false;
    for (s = HV_SEG_ES; s <= HV_SEG_GS; s++) {
        if (sbase(c, (enum hv_seg)s) != (uint64_t)sel(c, (enum hv_seg)s) << 4)
            rec(f, hv_vmcs_guest_segment[s].base, sbase(c, (enum hv_seg)s));
    }
    return f->nvalues != 0;
}
CHECK(guest_v86_limit)
{
    uint32_t s;

    if (!c->v86)
        return false;
    for (s = HV_SEG_ES; s <= HV_SEG_GS; s++) {
        if (slimit(c, (enum hv_seg)s) != 0xFFFFu)
            rec(f, hv_vmcs_guest_segment[s].limit, slimit(c, (enum hv_seg)s));
    }
    return f->nvalues != 0;
}
CHECK(guest_v86_ar)
{
    uint32_t s;

    if (!c->v86)
        return false;
    for (s = HV_SEG_ES; s <= HV_SEG_GS; s++) {
        if (sar(c, (enum hv_seg)s) != 0xF3u)
            rec(f, hv_vmcs_guest_segment[s].access_rights, sar(c, (enum hv_seg)s));
    }
    return f->nvalues != 0;
}
static bool seg_base_noncanon(struct dctx *c, struct hv_vmcs_finding *f, enum hv_seg s)
{
    if (canon(c, sbase(c, s)))
        return false;
    rec(f, hv_vmcs_guest_segment[s].base, sbase(c, s));
    return true;
}
CHECK(guest_tr_base) { return seg_base_noncanon(c, f, HV_SEG_TR); }
CHECK(guest_fs_base) { return seg_base_noncanon(c, f, HV_SEG_FS); }
CHECK(guest_gs_base) { return seg_base_noncanon(c, f, HV_SEG_GS); }
CHECK(guest_ldtr_base) { return usable(c, HV_SEG_LDTR) && seg_base_noncanon(c, f, HV_SEG_LDTR); }
CHECK(guest_cs_base)
{
    if (c->v86 || (sbase(c, HV_SEG_CS) >> 32) == 0)
        return false;
    rec(f, HV_VMCS_GUEST_CS_BASE, sbase(c, HV_SEG_CS));
    return true;
}
CHECK(guest_data_base)
{
    static const enum hv_seg segs[] = { HV_SEG_SS, HV_SEG_DS, HV_SEG_ES };
    uint32_t i;

    for (i = 0; i < 3 && !c->v86; i++) {
        if (usable(c, segs[i]) && (sbase(c, segs[i]) >> 32))
            rec(f, hv_vmcs_guest_segment[segs[i]].base, sbase(c, segs[i]));
    }
    return f->nvalues != 0;
}
CHECK(guest_cs_type)
{
    uint32_t ar = sar(c, HV_SEG_CS), t = AR_TYPE(ar);

    if (c->v86 || (!AR_UNUSABLE(ar) && (t == 9 || t == 11 || t == 13 || t == 15 || (c->ug && t == 3))))
        return false;
    rec(f, HV_VMCS_GUEST_CS_AR_BYTES, ar);
    return true;
}
/* The same bit rule over CS, SS, DS, ES, FS, GS: the failing ones are
 * recorded (at most three). */
static bool seg_rule(struct dctx *c, struct hv_vmcs_finding *f, bool (*bad)(uint32_t ar, uint32_t limit))
{
    uint32_t s;

    for (s = HV_SEG_ES; s <= HV_SEG_GS; s++) {
        if (seg_checked(c, (enum hv_seg)s) && bad(sar(c, (enum hv_seg)s), slimit(c, (enum hv_seg)s)))
            rec(f, hv_vmcs_guest_segment[s].access_rights, sar(c, (enum hv_seg)s));
    }
    return f->nvalues != 0;
}
static bool s_clear(uint32_t ar, uint32_t limit) { (void)limit; return !AR_S(ar); }
static bool p_clear(uint32_t ar, uint32_t limit) { (void)limit; return !AR_P(ar); }
static bool ar_reserved(uint32_t ar, uint32_t limit) { (void)limit; return (ar & AR_RESERVED & ~(uint32_t)HV_AR_UNUSABLE) != 0; }
static bool limit_bad(uint32_t ar, uint32_t limit) { return limit_g_bad(limit, ar); }
CHECK(guest_seg_s) { return seg_rule(c, f, s_clear); }
CHECK(guest_seg_p) { return seg_rule(c, f, p_clear); }
CHECK(guest_seg_reserved) { return seg_rule(c, f, ar_reserved); }
CHECK(guest_seg_limit)
{
    uint32_t s;

    for (s = HV_SEG_ES; s <= HV_SEG_GS; s++) {
        if (seg_checked(c, (enum hv_seg)s) && limit_bad(sar(c, (enum hv_seg)s), slimit(c, (enum hv_seg)s))) {
            rec(f, hv_vmcs_guest_segment[s].limit, slimit(c, (enum hv_seg)s));
            rec(f, hv_vmcs_guest_segment[s].access_rights, sar(c, (enum hv_seg)s));
        }
    }
    return f->nvalues != 0;
}
CHECK(guest_cs_dpl)
{
    uint32_t cs = sar(c, HV_SEG_CS), ss = sar(c, HV_SEG_SS), t = AR_TYPE(cs);
    bool bad;

    if (c->v86)
        return false;
    bad = (t == 3 && AR_DPL(cs) != 0) || ((t == 9 || t == 11) && AR_DPL(cs) != AR_DPL(ss)) ||
          ((t == 13 || t == 15) && AR_DPL(cs) > AR_DPL(ss));
    if (!bad)
        return false;
    rec(f, HV_VMCS_GUEST_CS_AR_BYTES, cs);
    rec(f, HV_VMCS_GUEST_SS_AR_BYTES, ss);
    return true;
}
CHECK(guest_cs_l_db)
{
    uint32_t cs = sar(c, HV_SEG_CS);

    if (c->v86 || !c->ia32e || !AR_L(cs) || !AR_DB(cs))
        return false;
    rec(f, HV_VMCS_GUEST_CS_AR_BYTES, cs);
    return true;
}
CHECK(guest_ss_type)
{
    uint32_t ss = sar(c, HV_SEG_SS);

    if (!seg_checked(c, HV_SEG_SS) || AR_TYPE(ss) == 3 || AR_TYPE(ss) == 7)
        return false;
    rec(f, HV_VMCS_GUEST_SS_AR_BYTES, ss);
    return true;
}
CHECK(guest_ss_dpl)
{
    uint32_t ss = sar(c, HV_SEG_SS);

    if (c->v86 || c->ug || AR_DPL(ss) == (sel(c, HV_SEG_SS) & 3u))
        return false;
    rec(f, HV_VMCS_GUEST_SS_AR_BYTES, ss);
    rec(f, HV_VMCS_GUEST_SS_SELECTOR, sel(c, HV_SEG_SS));
    return true;
}
CHECK(guest_ss_dpl_zero)
{
    uint32_t ss = sar(c, HV_SEG_SS);

    if (c->v86 || AR_DPL(ss) == 0 || (AR_TYPE(sar(c, HV_SEG_CS)) != 3 && (c->cr0 & HV_CR0_PE)))
        return false;
    rec(f, HV_VMCS_GUEST_SS_AR_BYTES, ss);
    recf(c, f, HV_VMCS_GUEST_CR0);
    return true;
}
static bool data_rule(struct dctx *c, struct hv_vmcs_finding *f, uint32_t rule)
{
    static const enum hv_seg segs[] = { HV_SEG_DS, HV_SEG_ES, HV_SEG_FS, HV_SEG_GS };
    uint32_t i;

    for (i = 0; i < 4; i++) {
        enum hv_seg s = segs[i];
        uint32_t ar = sar(c, s), t = AR_TYPE(ar);
        bool bad;

        if (!seg_checked(c, s))
            continue;
        if (rule == 0)
            bad = !(t & 1u);                        /* accessed */
        else if (rule == 1)
            bad = (t & 8u) && !(t & 2u);            /* code must be readable */
        else
            bad = !c->ug && t <= 11 && AR_DPL(ar) < (sel(c, s) & 3u);
        if (bad)
            rec(f, hv_vmcs_guest_segment[s].access_rights, ar);
    }
    return f->nvalues != 0;
}
CHECK(guest_data_accessed) { return data_rule(c, f, 0); }
CHECK(guest_data_readable) { return data_rule(c, f, 1); }
CHECK(guest_data_dpl) { return data_rule(c, f, 2); }

static bool tr_rec(struct dctx *c, struct hv_vmcs_finding *f)
{
    rec(f, HV_VMCS_GUEST_TR_AR_BYTES, sar(c, HV_SEG_TR));
    return true;
}
CHECK(guest_tr_unusable) { return !usable(c, HV_SEG_TR) && tr_rec(c, f); }
CHECK(guest_tr_type)
{
    uint32_t t = AR_TYPE(sar(c, HV_SEG_TR));

    /* A 16-bit busy TSS (3) only outside IA-32e mode; 64-bit busy TSS (11). */
    return !(t == 11 || (!c->ia32e && t == 3)) && tr_rec(c, f);
}
CHECK(guest_tr_s) { return AR_S(sar(c, HV_SEG_TR)) && tr_rec(c, f); }
CHECK(guest_tr_p) { return !AR_P(sar(c, HV_SEG_TR)) && tr_rec(c, f); }
CHECK(guest_tr_reserved) { return (sar(c, HV_SEG_TR) & AR_RESERVED) != 0 && tr_rec(c, f); }
CHECK(guest_tr_limit)
{
    if (!limit_g_bad(slimit(c, HV_SEG_TR), sar(c, HV_SEG_TR)))
        return false;
    rec(f, HV_VMCS_GUEST_TR_LIMIT, slimit(c, HV_SEG_TR));
    return tr_rec(c, f);
}
static bool ldtr_rec(struct dctx *c, struct hv_vmcs_finding *f)
{
    rec(f, HV_VMCS_GUEST_LDTR_AR_BYTES, sar(c, HV_SEG_LDTR));
    return true;
}
CHECK(guest_ldtr_type) { return usable(c, HV_SEG_LDTR) && AR_TYPE(sar(c, HV_SEG_LDTR)) != 2 && ldtr_rec(c, f); }
CHECK(guest_ldtr_s) { return usable(c, HV_SEG_LDTR) && AR_S(sar(c, HV_SEG_LDTR)) && ldtr_rec(c, f); }
CHECK(guest_ldtr_p) { return usable(c, HV_SEG_LDTR) && !AR_P(sar(c, HV_SEG_LDTR)) && ldtr_rec(c, f); }
CHECK(guest_ldtr_reserved)
{
    return usable(c, HV_SEG_LDTR) && (sar(c, HV_SEG_LDTR) & AR_RESERVED) != 0 && ldtr_rec(c, f);
}
CHECK(guest_ldtr_limit)
{
    if (!usable(c, HV_SEG_LDTR) || !limit_g_bad(slimit(c, HV_SEG_LDTR), sar(c, HV_SEG_LDTR)))
        return false;
    rec(f, HV_VMCS_GUEST_LDTR_LIMIT, slimit(c, HV_SEG_LDTR));
    return ldtr_rec(c, f);
}

/* ---- 27.3.1.3 guest descriptor-table registers --------------------------- */

CHECK(guest_gdtr_base) { return noncanon_field(c, f, HV_VMCS_GUEST_GDTR_BASE); }
CHECK(guest_idtr_base) { return noncanon_field(c, f, HV_VMCS_GUEST_IDTR_BASE); }
CHECK(guest_gdtr_limit)
{
    if ((F(c, HV_VMCS_GUEST_GDTR_LIMIT) >> 16) == 0)
        return false;
    recf(c, f, HV_VMCS_GUEST_GDTR_LIMIT);
    return true;
}
CHECK(guest_idtr_limit)
{
    if ((F(c, HV_VMCS_GUEST_IDTR_LIMIT) >> 16) == 0)
        return false;
    recf(c, f, HV_VMCS_GUEST_IDTR_LIMIT);
    return true;
}

/* ---- 27.3.1.4 guest RIP and RFLAGS --------------------------------------- */

static bool in_64bit(struct dctx *c) { return c->ia32e && AR_L(sar(c, HV_SEG_CS)); }
CHECK(guest_rip_high)
{
    if (in_64bit(c) || (F(c, HV_VMCS_GUEST_RIP) >> 32) == 0)
        return false;
    recf(c, f, HV_VMCS_GUEST_RIP);
    recf(c, f, HV_VMCS_GUEST_CS_AR_BYTES);
    return true;
}
CHECK(guest_rip_canonical) { return in_64bit(c) && noncanon_field(c, f, HV_VMCS_GUEST_RIP); }
CHECK(guest_rflags_reserved)
{
    if ((c->rfl & 0xFFFFFFFFFFC08028ull) == 0)
        return false;
    rec(f, HV_VMCS_GUEST_RFLAGS, c->rfl);
    return true;
}
CHECK(guest_rflags_bit1)
{
    if (c->rfl & HV_RFLAGS_FIXED)
        return false;
    rec(f, HV_VMCS_GUEST_RFLAGS, c->rfl);
    return true;
}
CHECK(guest_rflags_vm)
{
    if (!(c->rfl & HV_RFLAGS_VM) || (!c->ia32e && (c->cr0 & HV_CR0_PE)))
        return false;
    rec(f, HV_VMCS_GUEST_RFLAGS, c->rfl);
    recf(c, f, HV_VMCS_VM_ENTRY_CONTROLS);
    recf(c, f, HV_VMCS_GUEST_CR0);
    return true;
}
CHECK(guest_rflags_if)
{
    if (!c->inject || c->itype != HV_INTR_TYPE_EXTERNAL || (c->rfl & HV_RFLAGS_IF))
        return false;
    rec(f, HV_VMCS_GUEST_RFLAGS, c->rfl);
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}

/* ---- 27.3.1.5 guest non-register state ----------------------------------- */

static uint32_t activity(struct dctx *c) { return (uint32_t)F(c, HV_VMCS_GUEST_ACTIVITY_STATE); }
static uint32_t intr_state(struct dctx *c) { return (uint32_t)F(c, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO); }

CHECK(guest_activity)
{
    uint32_t a = activity(c);

    /* IA32_VMX_MISC bits 8:6 say which of HLT, shutdown and wait-for-SIPI
     * are supported (SDM Vol. 3D, A.6). */
    if (a == 0 || (a <= 3 && (c->env->caps->misc & (1ull << (5 + a)))))
        return false;
    rec(f, HV_VMCS_GUEST_ACTIVITY_STATE, a);
    rec(f, HV_DIAG_FIELD_CAP, c->env->caps->misc);
    return true;
}
CHECK(guest_activity_hlt_dpl)
{
    if (activity(c) != HV_ACTIVITY_HLT || AR_DPL(sar(c, HV_SEG_SS)) == 0)
        return false;
    rec(f, HV_VMCS_GUEST_ACTIVITY_STATE, activity(c));
    recf(c, f, HV_VMCS_GUEST_SS_AR_BYTES);
    return true;
}
CHECK(guest_activity_blocking)
{
    if (activity(c) == HV_ACTIVITY_ACTIVE || (intr_state(c) & 3u) == 0)
        return false;
    rec(f, HV_VMCS_GUEST_ACTIVITY_STATE, activity(c));
    rec(f, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, intr_state(c));
    return true;
}
CHECK(guest_activity_event)
{
    uint32_t a = activity(c);
    bool ok;

    if (!c->inject || a == HV_ACTIVITY_ACTIVE || a > 3)
        return false;
    /* Events that may be injected in each state (SDM Vol. 3C, 27.3.1.5). */
    if (a == HV_ACTIVITY_HLT)
        ok = c->itype == HV_INTR_TYPE_EXTERNAL || c->itype == HV_INTR_TYPE_NMI ||
             (c->itype == HV_INTR_TYPE_HW_EXCEPTION && (c->ivec == HV_VECTOR_DB || c->ivec == HV_VECTOR_MC)) ||
             (c->itype == HV_INTR_TYPE_OTHER && c->ivec == 0);
    else if (a == HV_ACTIVITY_SHUTDOWN)
        ok = c->itype == HV_INTR_TYPE_NMI || (c->itype == HV_INTR_TYPE_HW_EXCEPTION && c->ivec == HV_VECTOR_MC);
    else
        ok = false;
    if (ok)
        return false;
    rec(f, HV_VMCS_GUEST_ACTIVITY_STATE, a);
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
CHECK(guest_intr_reserved)
{
    if ((intr_state(c) & ~0x1Fu) == 0)
        return false;
    rec(f, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, intr_state(c));
    return true;
}
CHECK(guest_intr_sti_movss)
{
    if ((intr_state(c) & 3u) != 3u)
        return false;
    rec(f, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, intr_state(c));
    return true;
}
CHECK(guest_intr_sti_if)
{
    if (!(intr_state(c) & HV_INTERRUPTIBILITY_STI) || (c->rfl & HV_RFLAGS_IF))
        return false;
    rec(f, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, intr_state(c));
    rec(f, HV_VMCS_GUEST_RFLAGS, c->rfl);
    return true;
}
CHECK(guest_intr_ext_blocked)
{
    if (!c->inject || c->itype != HV_INTR_TYPE_EXTERNAL || (intr_state(c) & 3u) == 0)
        return false;
    rec(f, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, intr_state(c));
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
CHECK(guest_intr_nmi_movss)
{
    if (!c->inject || c->itype != HV_INTR_TYPE_NMI || !(intr_state(c) & HV_INTERRUPTIBILITY_MOV_SS))
        return false;
    rec(f, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, intr_state(c));
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
CHECK(guest_intr_smi)
{
    /* Blocking by SMI only inside SMM, which the core never enters from. */
    if (!(intr_state(c) & HV_INTERRUPTIBILITY_SMI))
        return false;
    rec(f, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, intr_state(c));
    return true;
}
CHECK(guest_intr_vnmi)
{
    if (!(c->pin & HV_PIN_VIRTUAL_NMIS) || !c->inject || c->itype != HV_INTR_TYPE_NMI ||
        !(intr_state(c) & HV_INTERRUPTIBILITY_NMI))
        return false;
    rec(f, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, intr_state(c));
    recf(c, f, HV_VMCS_VM_ENTRY_INTR_INFO);
    return true;
}
/* Pending debug exceptions: B3-B0, enabled breakpoint (12), BS (14) and
 * RTM (16) are defined; everything else is reserved (SDM Vol. 3C, 25.4.2). */
CHECK(guest_pending_dbg)
{
    if ((F(c, HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS) & ~0x1500Full) == 0)
        return false;
    recf(c, f, HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS);
    return true;
}
CHECK(guest_pending_dbg_bs)
{
    uint64_t pd = F(c, HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS);
    bool want;

    /* Only when an STI/MOV-SS shadow or HLT defers a single-step trap:
     * then BS says whether one is pending, and it must agree with
     * RFLAGS.TF and DEBUGCTL.BTF. */
    if ((intr_state(c) & 3u) == 0 && activity(c) != HV_ACTIVITY_HLT)
        return false;
    want = (c->rfl & HV_RFLAGS_TF) && !(F(c, HV_VMCS_GUEST_IA32_DEBUGCTL) & 2u);
    if (!want == !(pd & HV_PENDING_DBG_BS))
        return false;
    rec(f, HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS, pd);
    rec(f, HV_VMCS_GUEST_RFLAGS, c->rfl);
    recf(c, f, HV_VMCS_GUEST_IA32_DEBUGCTL);
    return true;
}
CHECK(guest_link_addr)
{
    uint64_t l = F(c, HV_VMCS_VMCS_LINK_POINTER);

    if (l == ~0ull || !bad_pa(c, l, 4096))
        return false;
    rec(f, HV_VMCS_VMCS_LINK_POINTER, l);
    return true;
}
CHECK(guest_link_revision)
{
    uint64_t l = F(c, HV_VMCS_VMCS_LINK_POINTER);
    uint32_t hdr = 0, want;

    if (l == ~0ull || bad_pa(c, l, 4096) || c->env->read_phys == NULL)
        return false;
    /* The first 4 bytes there: the VMCS revision, bit 31 = shadow VMCS,
     * which must match "VMCS shadowing". */
    want = c->env->caps->revision | ((c->proc2 & PROC2_VMCS_SHADOWING) ? 0x80000000u : 0u);
    if (hv_success(c->env->read_phys(c->env->ctx, l, &hdr, 4)) && hdr == want)
        return false;
    rec(f, HV_VMCS_VMCS_LINK_POINTER, l);
    rec(f, HV_DIAG_FIELD_MEMORY, hdr);
    return true;
}

/* ---- 27.3.1.6 PDPTEs ----------------------------------------------------- */

CHECK(guest_pdpte)
{
    static const uint32_t pdpte[] = { HV_VMCS_GUEST_PDPTE0, HV_VMCS_GUEST_PDPTE1, HV_VMCS_GUEST_PDPTE2,
                                      HV_VMCS_GUEST_PDPTE3 };
    uint32_t i;

    /* PAE paging with EPT: the PDPTEs come from these fields. */
    if (!ept_on(c) || c->ia32e || !(c->cr0 & HV_CR0_PG) || !(c->cr4 & HV_CR4_PAE))
        return false;
    for (i = 0; i < 4; i++) {
        uint64_t e = F(c, pdpte[i]);

        if ((e & 1u) && ((e & 0x1E6ull) || beyond_width(c, e & ~(1ull << 63))))
            rec(f, pdpte[i], e);
    }
    return f->nvalues != 0;
}

/* ---- 27.4 VM-entry MSR-load area ----------------------------------------- */

#define MSRLOAD_MAX 4096u   /* bound on the walk; 512*(N+1) is the recommended maximum */
#define MSR_SMM_MONITOR_CTL 0x9Bu

static bool msrload(struct dctx *c, struct hv_vmcs_finding *f, uint32_t rule)
{
    uint64_t n = F(c, HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT), a;
    uint64_t e[2];
    uint32_t i, idx;
    bool bad;

    if (n == 0)
        return false;
    a = F(c, HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR);
    if (c->env->read_phys == NULL || (a & 15u) || beyond_width(c, a + n * 16u - 1u))
        return false;
    for (i = 0; i < n && i < MSRLOAD_MAX; i++) {
        if (!hv_success(c->env->read_phys(c->env->ctx, a + (uint64_t)i * 16u, e, 16))) {
            bad = rule == HV_DIAG_MSRLOAD_READ;
            e[0] = 0;
        } else if (rule == HV_DIAG_MSRLOAD_READ) {
            continue;
        } else {
            idx = (uint32_t)e[0];
            if (rule == HV_DIAG_MSRLOAD_FS_GS_BASE)
                bad = idx == HV_MSR_IA32_FS_BASE || idx == HV_MSR_IA32_GS_BASE;
            else if (rule == HV_DIAG_MSRLOAD_X2APIC)
                bad = (idx >> 8) == 8u;
            else if (rule == HV_DIAG_MSRLOAD_SMM_ONLY)
                bad = idx == MSR_SMM_MONITOR_CTL;
            else
                bad = (e[0] >> 32) != 0;
        }
        if (bad) {
            rec(f, HV_DIAG_FIELD_INDEX, i);
            rec(f, HV_DIAG_FIELD_MEMORY, e[0]);
            rec(f, HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR, a);
            return true;
        }
    }
    return false;
}
CHECK(msrload_read) { return msrload(c, f, HV_DIAG_MSRLOAD_READ); }
CHECK(msrload_fs_gs) { return msrload(c, f, HV_DIAG_MSRLOAD_FS_GS_BASE); }
CHECK(msrload_x2apic) { return msrload(c, f, HV_DIAG_MSRLOAD_X2APIC); }
CHECK(msrload_smm) { return msrload(c, f, HV_DIAG_MSRLOAD_SMM_ONLY); }
CHECK(msrload_reserved) { return msrload(c, f, HV_DIAG_MSRLOAD_RESERVED); }

/* ---- the table ------------------------------------------------------------ */

struct check {
    bool (*fn)(struct dctx *c, struct hv_vmcs_finding *f);
    const char *text;
};

#define C(id, f, t) [HV_DIAG_##id] = { .fn = (f), .text = (t) }
static const struct check k_checks[HV_DIAG_CHECK_COUNT] = {
    C(PIN_ALLOWED0, pin_allowed0, "a pin-based control that must be 1 (IA32_VMX_(TRUE_)PINBASED_CTLS allowed-0) is 0"),
    C(PIN_ALLOWED1, pin_allowed1, "a pin-based control that must be 0 (allowed-1 setting) is 1"),
    C(PROC_ALLOWED0, proc_allowed0, "a primary processor-based control that must be 1 (allowed-0 setting) is 0"),
    C(PROC_ALLOWED1, proc_allowed1, "a primary processor-based control that must be 0 (allowed-1 setting) is 1"),
    C(PROC2_ALLOWED0, proc2_allowed0, "a secondary processor-based control that must be 1 is 0"),
    C(PROC2_ALLOWED1, proc2_allowed1, "a secondary processor-based control that this CPU does not support is 1"),
    C(PROC3_ALLOWED1, proc3_allowed1, "a tertiary processor-based control that this CPU does not support is 1"),
    C(CR3_TARGET_COUNT, cr3_target_count, "the CR3-target count exceeds the number IA32_VMX_MISC[24:16] supports"),
    C(IO_BITMAP_A, io_bitmap_a, "with I/O bitmaps on, I/O bitmap A must be 4 KiB aligned and inside the physical-address width"),
    C(IO_BITMAP_B, io_bitmap_b, "with I/O bitmaps on, I/O bitmap B must be 4 KiB aligned and inside the physical-address width"),
    C(MSR_BITMAP, msr_bitmap, "with MSR bitmaps on, the MSR-bitmap address must be 4 KiB aligned and inside the physical-address width"),
    C(VIRTUAL_APIC_PAGE, virtual_apic_page, "with the TPR shadow on, the virtual-APIC page address must be 4 KiB aligned and inside the width"),
    C(TPR_THRESHOLD_HIGH, tpr_threshold_high, "with the TPR shadow and no virtual-interrupt delivery, TPR threshold bits 31:4 must be 0"),
    C(TPR_THRESHOLD_VTPR, tpr_threshold_vtpr, "the TPR threshold (bits 3:0) may not exceed VTPR bits 7:4 of the virtual-APIC page"),
    C(APICV_NEEDS_TPR, apicv_needs_tpr, "x2APIC virtualization, APIC-register virtualization and virtual-interrupt delivery need the TPR shadow"),
    C(VNMI_NEEDS_NMI_EXIT, vnmi_needs_nmi_exit, "\"virtual NMIs\" needs \"NMI exiting\""),
    C(NMI_WINDOW_NEEDS_VNMI, nmi_window_needs_vnmi, "\"NMI-window exiting\" needs \"virtual NMIs\""),
    C(APIC_ACCESS_ADDR, apic_access_addr, "with APIC accesses virtualized, the APIC-access address must be 4 KiB aligned and inside the width"),
    C(X2APIC_AND_APIC_ACCESS, x2apic_and_apic_access, "\"virtualize x2APIC mode\" and \"virtualize APIC accesses\" may not both be 1"),
    C(VID_NEEDS_EXT_INT, vid_needs_ext_int, "virtual-interrupt delivery needs \"external-interrupt exiting\""),
    C(POSTED_NEEDS_VID_ACK, posted_needs_vid_ack, "posted interrupts need virtual-interrupt delivery and \"acknowledge interrupt on exit\""),
    C(POSTED_VECTOR, posted_vector, "with posted interrupts, the notification vector's bits 15:8 must be 0"),
    C(POSTED_DESC_ADDR, posted_desc_addr, "with posted interrupts, the descriptor address must be 64-byte aligned and inside the width"),
    C(VPID_ZERO, vpid_zero, "with \"enable VPID\" the VPID may not be 0 (VPID 0 is the host's)"),
    C(EPTP_MEMTYPE, eptp_memtype, "the EPTP memory type (bits 2:0) is not one IA32_VMX_EPT_VPID_CAP offers (UC 0 or WB 6)"),
    C(EPTP_WALK, eptp_walk, "the EPTP page-walk length (bits 5:3, minus 1) is not a supported 4 or 5 levels"),
    C(EPTP_AD, eptp_ad, "the EPTP enables accessed/dirty flags (bit 6) but the CPU does not support them"),
    C(EPTP_RESERVED, eptp_reserved, "EPTP bits 11:8 or bits beyond the physical-address width are set"),
    C(PML_NEEDS_EPT, pml_needs_ept, "\"enable PML\" needs \"enable EPT\""),
    C(PML_ADDR, pml_addr, "the PML address must be 4 KiB aligned and inside the physical-address width"),
    C(UG_NEEDS_EPT, ug_needs_ept, "\"unrestricted guest\" needs \"enable EPT\""),
    C(MBEC_NEEDS_EPT, mbec_needs_ept, "mode-based execute control for EPT needs \"enable EPT\""),
    C(VMFUNC_RESERVED, vmfunc_reserved, "a VM-function control that IA32_VMX_VMFUNC does not offer is 1"),
    C(EPTP_SWITCH_NEEDS_EPT, eptp_switch_needs_ept, "EPTP switching needs \"enable EPT\""),
    C(EPTP_LIST_ADDR, eptp_list_addr, "the EPTP-list address must be 4 KiB aligned and inside the physical-address width"),
    C(VMREAD_BITMAP, vmread_bitmap, "with VMCS shadowing, the VMREAD-bitmap address must be 4 KiB aligned and inside the width"),
    C(VMWRITE_BITMAP, vmwrite_bitmap, "with VMCS shadowing, the VMWRITE-bitmap address must be 4 KiB aligned and inside the width"),
    C(VE_INFO_ADDR, ve_info_addr, "with EPT-violation #VE, the #VE information address must be 4 KiB aligned and inside the width"),
    C(SPP_NEEDS_EPT, spp_needs_ept, "sub-page write permissions need \"enable EPT\""),
    C(SPP_TABLE, spp_table, "the SPP table pointer must be 4 KiB aligned and inside the physical-address width"),
    C(TSC_MULTIPLIER_ZERO, tsc_multiplier_zero, "with TSC scaling the TSC multiplier may not be 0"),
    C(EXIT_ALLOWED0, exit_allowed0, "a VM-exit control that must be 1 (allowed-0 setting) is 0"),
    C(EXIT_ALLOWED1, exit_allowed1, "a VM-exit control that must be 0 (allowed-1 setting) is 1"),
    C(EXIT_SAVE_TIMER, exit_save_timer, "\"save VMX-preemption timer value\" needs \"activate VMX-preemption timer\""),
    C(EXIT_MSR_STORE_ADDR, exit_msr_store_addr, "the VM-exit MSR-store area must be 16-byte aligned and end inside the physical-address width"),
    C(EXIT_MSR_LOAD_ADDR, exit_msr_load_addr, "the VM-exit MSR-load area must be 16-byte aligned and end inside the physical-address width"),
    C(ENTRY_ALLOWED0, entry_allowed0, "a VM-entry control that must be 1 (allowed-0 setting) is 0"),
    C(ENTRY_ALLOWED1, entry_allowed1, "a VM-entry control that must be 0 (allowed-1 setting) is 1"),
    C(INTR_TYPE, intr_type, "the injected event's type is reserved (1) or \"other event\" without monitor-trap-flag support"),
    C(INTR_NMI_VECTOR, intr_nmi_vector, "an injected NMI must have vector 2"),
    C(INTR_HW_VECTOR, intr_hw_vector, "an injected hardware exception must have a vector of at most 31"),
    C(INTR_OTHER_VECTOR, intr_other_vector, "an injected \"other event\" (pending MTF) must have vector 0"),
    C(INTR_ERROR_CODE_BIT, intr_error_code_bit, "\"deliver error code\" must be 1 exactly for #DF #TS #NP #SS #GP #PF #AC #CP in protected mode"),
    C(INTR_RESERVED, intr_reserved, "VM-entry interruption-information bits 30:12 are reserved and must be 0"),
    C(INTR_ERROR_CODE, intr_error_code, "when an error code is delivered, its bits 31:16 must be 0"),
    C(INTR_INSTR_LEN, intr_instr_len, "a software interrupt or exception needs an instruction length of 1 to 15"),
    C(ENTRY_MSR_LOAD_ADDR, entry_msr_load_addr, "the VM-entry MSR-load area must be 16-byte aligned and end inside the physical-address width"),
    C(ENTRY_SMM, entry_smm, "\"entry to SMM\" and \"deactivate dual-monitor treatment\" are only for VM entries from SMM"),
    C(HOST_CR0, host_cr0, "host CR0 violates IA32_VMX_CR0_FIXED0/FIXED1"),
    C(HOST_CR4, host_cr4, "host CR4 violates IA32_VMX_CR4_FIXED0/FIXED1 (CR4.VMXE must be 1)"),
    C(HOST_CR3, host_cr3, "host CR3 sets bits beyond the physical-address width"),
    C(HOST_CR4_CET_WP, host_cr4_cet_wp, "host CR4.CET needs host CR0.WP"),
    C(HOST_SYSENTER_ESP, host_sysenter_esp, "the host IA32_SYSENTER_ESP must be canonical"),
    C(HOST_SYSENTER_EIP, host_sysenter_eip, "the host IA32_SYSENTER_EIP must be canonical"),
    C(HOST_PAT, host_pat, "with \"load IA32_PAT\" every host PAT entry must be a valid memory type (0, 1, 4-7)"),
    C(HOST_EFER_RESERVED, host_efer_reserved, "with \"load IA32_EFER\" the host EFER's reserved bits must be 0"),
    C(HOST_EFER_LMA_LME, host_efer_lma_lme, "host EFER.LMA and EFER.LME must both equal \"host address-space size\""),
    C(HOST_S_CET, host_s_cet, "the host IA32_S_CET has reserved bits 9:6 set or a non-canonical bitmap address"),
    C(HOST_SSP, host_ssp, "the host SSP must be 4-byte aligned and canonical"),
    C(HOST_SSP_TABLE, host_ssp_table, "the host interrupt SSP table address must be canonical"),
    C(HOST_PKRS, host_pkrs, "with \"load PKRS\" the host PKRS bits 63:32 must be 0"),
    C(HOST_SEL_TI_RPL, host_sel_ti_rpl, "host selectors must have TI (bit 2) and RPL (bits 1:0) 0"),
    C(HOST_CS_NULL, host_cs_null, "the host CS selector may not be 0"),
    C(HOST_TR_NULL, host_tr_null, "the host TR selector may not be 0"),
    C(HOST_SS_NULL, host_ss_null, "a 32-bit host (host address-space size 0) may not have a null SS"),
    C(HOST_FS_BASE, host_fs_base, "the host FS base must be canonical"),
    C(HOST_GS_BASE, host_gs_base, "the host GS base must be canonical"),
    C(HOST_TR_BASE, host_tr_base, "the host TR base must be canonical"),
    C(HOST_GDTR_BASE, host_gdtr_base, "the host GDTR base must be canonical"),
    C(HOST_IDTR_BASE, host_idtr_base, "the host IDTR base must be canonical"),
    C(ADDR_CPU_NOT_IA32E, addr_cpu_not_ia32e, "outside IA-32e mode neither \"host address-space size\" nor \"IA-32e mode guest\" may be 1"),
    C(ADDR_HOST64_NEEDED, addr_host64_needed, "the CPU is in IA-32e mode, so \"host address-space size\" must be 1"),
    C(ADDR_GUEST_NEEDS_HOST64, addr_guest_needs_host64, "\"IA-32e mode guest\" needs \"host address-space size\""),
    C(HOST_PCIDE_32, host_pcide_32, "a 32-bit host may not have CR4.PCIDE set"),
    C(HOST_RIP_32, host_rip_32, "a 32-bit host needs host RIP bits 63:32 clear"),
    C(HOST_PAE_64, host_pae_64, "a 64-bit host needs host CR4.PAE"),
    C(HOST_RIP_CANONICAL, host_rip_canonical, "a 64-bit host needs a canonical host RIP"),
    C(GUEST_CR0, guest_cr0, "guest CR0 violates IA32_VMX_CR0_FIXED0/FIXED1 (PE and PG may be 0 only for an unrestricted guest)"),
    C(GUEST_CR0_PG_PE, guest_cr0_pg_pe, "guest CR0.PG needs CR0.PE"),
    C(GUEST_CR4, guest_cr4, "guest CR4 violates IA32_VMX_CR4_FIXED0/FIXED1"),
    C(GUEST_CR4_CET_WP, guest_cr4_cet_wp, "guest CR4.CET needs guest CR0.WP"),
    C(GUEST_DEBUGCTL, guest_debugctl, "with \"load debug controls\" the guest IA32_DEBUGCTL's reserved bits (5:2, 63:16) must be 0"),
    C(GUEST_IA32E_PG, guest_ia32e_pg, "an IA-32e mode guest needs CR0.PG"),
    C(GUEST_IA32E_PAE, guest_ia32e_pae, "an IA-32e mode guest needs CR4.PAE"),
    C(GUEST_PCIDE, guest_pcide, "CR4.PCIDE may be set only in an IA-32e mode guest"),
    C(GUEST_CR3, guest_cr3, "guest CR3 sets bits beyond the physical-address width"),
    C(GUEST_DR7, guest_dr7, "with \"load debug controls\" guest DR7 bits 63:32 must be 0"),
    C(GUEST_SYSENTER_ESP, guest_sysenter_esp, "the guest IA32_SYSENTER_ESP must be canonical"),
    C(GUEST_SYSENTER_EIP, guest_sysenter_eip, "the guest IA32_SYSENTER_EIP must be canonical"),
    C(GUEST_PAT, guest_pat, "with \"load IA32_PAT\" every guest PAT entry must be a valid memory type (0, 1, 4-7)"),
    C(GUEST_EFER_RESERVED, guest_efer_reserved, "with \"load IA32_EFER\" the guest EFER's reserved bits must be 0"),
    C(GUEST_EFER_LMA, guest_efer_lma, "guest EFER.LMA must equal \"IA-32e mode guest\""),
    C(GUEST_EFER_LME, guest_efer_lme, "with guest CR0.PG, guest EFER.LME must equal EFER.LMA"),
    C(GUEST_BNDCFGS, guest_bndcfgs, "with \"load IA32_BNDCFGS\" bits 11:2 must be 0 and the base canonical"),
    C(GUEST_S_CET, guest_s_cet, "the guest IA32_S_CET has reserved bits 9:6 set or a non-canonical bitmap address"),
    C(GUEST_SSP, guest_ssp, "the guest SSP must be 4-byte aligned and canonical"),
    C(GUEST_SSP_TABLE, guest_ssp_table, "the guest interrupt SSP table address must be canonical"),
    C(GUEST_PKRS, guest_pkrs, "with \"load PKRS\" the guest PKRS bits 63:32 must be 0"),
    C(GUEST_TR_TI, guest_tr_ti, "the guest TR selector must have TI (bit 2) clear"),
    C(GUEST_LDTR_TI, guest_ldtr_ti, "a usable guest LDTR selector must have TI (bit 2) clear"),
    C(GUEST_SS_RPL, guest_ss_rpl, "guest SS.RPL must equal CS.RPL (outside virtual-8086 mode and unrestricted guests)"),
    C(GUEST_V86_BASE, guest_v86_base, "in virtual-8086 mode each segment base must be its selector times 16"),
    C(GUEST_V86_LIMIT, guest_v86_limit, "in virtual-8086 mode each segment limit must be 0xFFFF"),
    C(GUEST_V86_AR, guest_v86_ar, "in virtual-8086 mode each segment's access rights must be 0xF3"),
    C(GUEST_TR_BASE, guest_tr_base, "the guest TR base must be canonical"),
    C(GUEST_FS_BASE, guest_fs_base, "the guest FS base must be canonical"),
    C(GUEST_GS_BASE, guest_gs_base, "the guest GS base must be canonical"),
    C(GUEST_LDTR_BASE, guest_ldtr_base, "a usable guest LDTR's base must be canonical"),
    C(GUEST_CS_BASE, guest_cs_base, "guest CS base bits 63:32 must be 0"),
    C(GUEST_DATA_BASE, guest_data_base, "usable guest SS, DS and ES bases must have bits 63:32 clear"),
    C(GUEST_CS_TYPE, guest_cs_type, "guest CS must be an accessed code segment (type 9, 11, 13, 15; 3 for an unrestricted guest)"),
    C(GUEST_SEG_S, guest_seg_s, "usable guest code/data segments must have S (bit 4) set; a null selector needs the unusable bit"),
    C(GUEST_SEG_P, guest_seg_p, "usable guest code/data segments must be present (P, bit 7)"),
    C(GUEST_SEG_RESERVED, guest_seg_reserved, "guest segment access-rights bits 11:8 and 31:17 must be 0"),
    C(GUEST_SEG_LIMIT, guest_seg_limit, "a guest segment limit disagrees with its G bit (G=1 needs limit bits 11:0 set, G=0 limit bits 31:20 clear)"),
    C(GUEST_CS_DPL, guest_cs_dpl, "guest CS.DPL is inconsistent with its type and SS.DPL"),
    C(GUEST_CS_L_DB, guest_cs_l_db, "in an IA-32e mode guest CS may not have both L and D/B set"),
    C(GUEST_SS_TYPE, guest_ss_type, "a usable guest SS must be a read/write accessed data segment (type 3 or 7)"),
    C(GUEST_SS_DPL, guest_ss_dpl, "guest SS.DPL must equal SS.RPL (unless unrestricted guest)"),
    C(GUEST_SS_DPL_ZERO, guest_ss_dpl_zero, "guest SS.DPL must be 0 when CS is type 3 or CR0.PE is 0"),
    C(GUEST_DATA_ACCESSED, guest_data_accessed, "usable guest DS/ES/FS/GS must be accessed (type bit 0)"),
    C(GUEST_DATA_READABLE, guest_data_readable, "a code segment in guest DS/ES/FS/GS must be readable"),
    C(GUEST_DATA_DPL, guest_data_dpl, "a usable non-conforming guest DS/ES/FS/GS needs DPL >= RPL"),
    C(GUEST_TR_UNUSABLE, guest_tr_unusable, "guest TR must be usable"),
    C(GUEST_TR_TYPE, guest_tr_type, "guest TR must be a busy TSS (type 11; type 3 also outside IA-32e mode)"),
    C(GUEST_TR_S, guest_tr_s, "guest TR must be a system segment (S = 0)"),
    C(GUEST_TR_P, guest_tr_p, "guest TR must be present"),
    C(GUEST_TR_RESERVED, guest_tr_reserved, "guest TR access-rights bits 11:8 and 31:17 must be 0"),
    C(GUEST_TR_LIMIT, guest_tr_limit, "the guest TR limit disagrees with its G bit"),
    C(GUEST_LDTR_TYPE, guest_ldtr_type, "a usable guest LDTR must be an LDT (type 2); a null LDTR needs the unusable bit"),
    C(GUEST_LDTR_S, guest_ldtr_s, "a usable guest LDTR must be a system segment (S = 0)"),
    C(GUEST_LDTR_P, guest_ldtr_p, "a usable guest LDTR must be present"),
    C(GUEST_LDTR_RESERVED, guest_ldtr_reserved, "guest LDTR access-rights bits 11:8 and 31:17 must be 0"),
    C(GUEST_LDTR_LIMIT, guest_ldtr_limit, "the guest LDTR limit disagrees with its G bit"),
    C(GUEST_GDTR_BASE, guest_gdtr_base, "the guest GDTR base must be canonical"),
    C(GUEST_IDTR_BASE, guest_idtr_base, "the guest IDTR base must be canonical"),
    C(GUEST_GDTR_LIMIT, guest_gdtr_limit, "guest GDTR limit bits 31:16 must be 0"),
    C(GUEST_IDTR_LIMIT, guest_idtr_limit, "guest IDTR limit bits 31:16 must be 0"),
    C(GUEST_RIP_HIGH, guest_rip_high, "outside 64-bit mode (IA-32e guest with CS.L) guest RIP bits 63:32 must be 0"),
    C(GUEST_RIP_CANONICAL, guest_rip_canonical, "in 64-bit mode guest RIP must be canonical"),
    C(GUEST_RFLAGS_RESERVED, guest_rflags_reserved, "guest RFLAGS reserved bits (63:22, 15, 5, 3) must be 0"),
    C(GUEST_RFLAGS_BIT1, guest_rflags_bit1, "guest RFLAGS bit 1 must be 1"),
    C(GUEST_RFLAGS_VM, guest_rflags_vm, "guest RFLAGS.VM must be 0 in an IA-32e mode guest or with CR0.PE clear"),
    C(GUEST_RFLAGS_IF, guest_rflags_if, "injecting an external interrupt needs guest RFLAGS.IF"),
    C(GUEST_ACTIVITY, guest_activity, "the guest activity state is not one IA32_VMX_MISC says is supported"),
    C(GUEST_ACTIVITY_HLT_DPL, guest_activity_hlt_dpl, "the HLT activity state needs guest SS.DPL 0"),
    C(GUEST_ACTIVITY_BLOCKING, guest_activity_blocking, "a non-active activity state is not allowed with blocking by STI or MOV SS"),
    C(GUEST_ACTIVITY_EVENT, guest_activity_event, "the injected event cannot be delivered in this activity state"),
    C(GUEST_INTR_RESERVED, guest_intr_reserved, "guest interruptibility-state bits 31:5 must be 0"),
    C(GUEST_INTR_STI_MOVSS, guest_intr_sti_movss, "blocking by STI and by MOV SS may not both be set"),
    C(GUEST_INTR_STI_IF, guest_intr_sti_if, "blocking by STI needs guest RFLAGS.IF"),
    C(GUEST_INTR_EXT_BLOCKED, guest_intr_ext_blocked, "an external interrupt cannot be injected under blocking by STI or MOV SS"),
    C(GUEST_INTR_NMI_MOVSS, guest_intr_nmi_movss, "an NMI cannot be injected under blocking by MOV SS"),
    C(GUEST_INTR_SMI, guest_intr_smi, "blocking by SMI is only possible in SMM"),
    C(GUEST_INTR_VNMI, guest_intr_vnmi, "with virtual NMIs, an NMI cannot be injected while blocking by NMI is set"),
    C(GUEST_PENDING_DBG, guest_pending_dbg, "guest pending-debug-exception reserved bits (11:4, 13, 15, 63:17) must be 0"),
    C(GUEST_PENDING_DBG_BS, guest_pending_dbg_bs, "under an STI/MOV-SS shadow or in HLT, pending BS must be 1 exactly when RFLAGS.TF=1 and DEBUGCTL.BTF=0"),
    C(GUEST_LINK_ADDR, guest_link_addr, "the VMCS link pointer must be all ones, or 4 KiB aligned and inside the physical-address width"),
    C(GUEST_LINK_REVISION, guest_link_revision, "the VMCS the link pointer names must carry this CPU's revision and a shadow bit matching \"VMCS shadowing\""),
    C(GUEST_PDPTE, guest_pdpte, "with PAE paging and EPT, a present guest PDPTE has reserved bits set"),
    C(MSRLOAD_READ, msrload_read, "an entry of the VM-entry MSR-load area cannot be read"),
    C(MSRLOAD_FS_GS_BASE, msrload_fs_gs, "the VM-entry MSR-load area may not load IA32_FS_BASE or IA32_GS_BASE"),
    C(MSRLOAD_X2APIC, msrload_x2apic, "the VM-entry MSR-load area may not load an x2APIC MSR (0x800-0x8FF)"),
    C(MSRLOAD_SMM_ONLY, msrload_smm, "the VM-entry MSR-load area may not load IA32_SMM_MONITOR_CTL outside SMM"),
    C(MSRLOAD_RESERVED, msrload_reserved, "bits 63:32 of a VM-entry MSR-load entry's first quadword must be 0"),
};
#undef C

static const char *const k_name[HV_DIAG_CHECK_COUNT] = {
#define HV_X_(id, name, sec, kind) [HV_DIAG_##id] = name,
    HV_DIAG_CHECK_LIST(HV_X_)
#undef HV_X_
};
static const char *const k_section[HV_DIAG_CHECK_COUNT] = {
#define HV_X_(id, name, sec, kind) [HV_DIAG_##id] = sec,
    HV_DIAG_CHECK_LIST(HV_X_)
#undef HV_X_
};
static const uint8_t k_kind[HV_DIAG_CHECK_COUNT] = {
#define HV_X_(id, name, sec, kind) [HV_DIAG_##id] = HV_DIAG_##kind,
    HV_DIAG_CHECK_LIST(HV_X_)
#undef HV_X_
};

const char *hv_vmcs_diagnose_name(uint32_t check)
{
    return check < HV_DIAG_CHECK_COUNT ? k_name[check] : "?";
}

const char *hv_vmcs_diagnose_section(uint32_t check)
{
    return check < HV_DIAG_CHECK_COUNT ? k_section[check] : "";
}

const char *hv_vmcs_diagnose_sentence(uint32_t check)
{
    return check < HV_DIAG_CHECK_COUNT && k_checks[check].text != NULL ? k_checks[check].text : "";
}

enum hv_diag_kind hv_vmcs_diagnose_kind(uint32_t check)
{
    return check < HV_DIAG_CHECK_COUNT ? (enum hv_diag_kind)k_kind[check] : HV_DIAG_GUEST;
}

static bool str_eq(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

int hv_vmcs_diagnose_lookup(const char *name)
{
    uint32_t i;

    if (name == NULL)
        return -1;
    for (i = 0; i < HV_DIAG_CHECK_COUNT; i++) {
        if (str_eq(k_name[i], name))
            return (int)i;
    }
    return -1;
}

bool hv_vmcs_diagnose_has(const struct hv_vmcs_diag *d, uint32_t check)
{
    uint32_t i;

    for (i = 0; d != NULL && i < d->count; i++) {
        if (d->findings[i].check == check)
            return true;
    }
    return false;
}

const struct hv_vmcs_finding *hv_vmcs_diagnose_first(const struct hv_vmcs_diag *d, enum hv_diag_kind kind)
{
    uint32_t i;

    for (i = 0; d != NULL && i < d->count; i++) {
        if (k_kind[d->findings[i].check] == kind)
            return &d->findings[i];
    }
    return NULL;
}

hv_status_t hv_vmcs_diagnose(const struct hv_vmcs_diag_env *env, struct hv_vmcs_diag *d)
{
    struct dctx c;
    uint32_t i, info;

    if (env == NULL || d == NULL || env->caps == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    hv_lib_zero(d, sizeof(*d));
    hv_lib_zero(&c, sizeof(c));
    c.env = env;
    c.d = d;
    c.maxphy = env->maxphyaddr != 0 ? env->maxphyaddr : hv_vmx_maxphyaddr();
    if (c.maxphy > 64)
        c.maxphy = 64;
    c.linbits = env->linear_bits == 57 ? 57 : 48;

    c.pin = (uint32_t)F(&c, HV_VMCS_PIN_BASED_VM_EXEC_CONTROL);
    c.proc = (uint32_t)F(&c, HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);
    c.proc2 = (c.proc & HV_PROC_ACTIVATE_SECONDARY) ? (uint32_t)F(&c, HV_VMCS_SECONDARY_VM_EXEC_CONTROL) : 0;
    c.proc3 = (c.proc & HV_PROC_ACTIVATE_TERTIARY) ? F(&c, HV_VMCS_TERTIARY_PROC_CONTROLS) : 0;
    c.exit = (uint32_t)F(&c, HV_VMCS_VM_EXIT_CONTROLS);
    c.entry = (uint32_t)F(&c, HV_VMCS_VM_ENTRY_CONTROLS);
    c.ia32e = (c.entry & HV_ENTRY_CTL_IA32E_MODE_GUEST) != 0;
    c.ug = (c.proc2 & HV_PROC2_UNRESTRICTED_GUEST) != 0;
    c.host64 = (c.exit & HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE) != 0;
    c.cr0 = F(&c, HV_VMCS_GUEST_CR0);
    c.cr4 = F(&c, HV_VMCS_GUEST_CR4);
    c.rfl = F(&c, HV_VMCS_GUEST_RFLAGS);
    c.v86 = (c.rfl & HV_RFLAGS_VM) != 0 && !c.ia32e && (c.cr0 & HV_CR0_PE);
    info = (uint32_t)F(&c, HV_VMCS_VM_ENTRY_INTR_INFO);
    c.inject = (info & HV_INTR_INFO_VALID) != 0;
    c.itype = (info >> HV_INTR_INFO_TYPE_SHIFT) & 7u;
    c.ivec = info & 0xFFu;

    for (i = 0; i < HV_DIAG_CHECK_COUNT; i++) {
        struct hv_vmcs_finding fnd;

        hv_lib_zero(&fnd, sizeof(fnd));
        fnd.check = (uint16_t)i;
        if (k_checks[i].fn == NULL || !k_checks[i].fn(&c, &fnd))
            continue;
        d->failed++;
        if (d->count < HV_DIAG_MAX_FINDINGS)
            hv_lib_copy(&d->findings[d->count++], &fnd, sizeof(fnd));
    }
    return HV_STATUS_SUCCESS;
}

static void sb_field(struct hv_sb *sb, uint32_t field)
{
    switch (field) {
    case HV_DIAG_FIELD_CAP: hv_sb_str(sb, "capability"); break;
    case HV_DIAG_FIELD_MEMORY: hv_sb_str(sb, "memory"); break;
    case HV_DIAG_FIELD_INDEX: hv_sb_str(sb, "entry"); break;
    case HV_DIAG_FIELD_CPU: hv_sb_str(sb, "cpu-ia32e"); break;
    default: hv_sb_str(sb, hv_vmcs_field_name(field)); break;
    }
}

size_t hv_vmcs_diagnose_format(const struct hv_vmcs_finding *f, char *buf, size_t cap)
{
    struct hv_sb sb;
    uint32_t i;

    if (buf == NULL || cap == 0)
        return 0;
    hv_sb_init(&sb, buf, cap);
    if (f == NULL)
        return 0;
    hv_sb_str(&sb, "SDM ");
    hv_sb_str(&sb, hv_vmcs_diagnose_section(f->check));
    hv_sb_str(&sb, " ");
    hv_sb_str(&sb, hv_vmcs_diagnose_name(f->check));
    hv_sb_str(&sb, ": ");
    hv_sb_str(&sb, hv_vmcs_diagnose_sentence(f->check));
    hv_sb_str(&sb, " [");
    for (i = 0; i < f->nvalues && i < HV_DIAG_MAX_VALUES; i++) {
        if (i > 0)
            hv_sb_str(&sb, " ");
        sb_field(&sb, f->field[i]);
        hv_sb_str(&sb, "=");
        hv_sb_hex(&sb, f->value[i]);
    }
    hv_sb_str(&sb, "]");
    return sb.len;
}

static hv_status_t read_phys_os(void *ctx, uint64_t pa, void *dst, uint32_t len)
{
    const struct hv_os_ops *os = ctx;
    void *src;

    if (os == NULL || os->phys_to_virt == NULL)
        return HV_STATUS_UNSUPPORTED;
    src = os->phys_to_virt(os->ctx, pa);
    if (src == NULL)
        return HV_STATUS_ACCESS_VIOLATION;
    return hv_arch_read_safe(dst, src, len);
}

void hv_vmcs_diagnose_env(struct hv_vcpu *vcpu, struct hv_vmcs_diag_env *env)
{
    uint64_t efer = 0;

    if (env == NULL)
        return;
    hv_lib_zero(env, sizeof(*env));
    if (vcpu == NULL)
        return;
    env->caps = &vcpu->caps;
    env->ctx = (void *)(uintptr_t)vcpu->hv->os;
    env->read_phys = read_phys_os;
    /* PROCBASED_CTLS3 exists only when "activate tertiary controls" may be 1. */
    if ((vcpu->caps.proc >> 32) & HV_PROC_ACTIVATE_TERTIARY)
        (void)hv_arch_rdmsr_safe(HV_MSR_IA32_VMX_PROCBASED_CTLS3, &env->proc3_cap);
    env->cpu_ia32e = hv_success(hv_arch_rdmsr_safe(HV_MSR_IA32_EFER, &efer)) && (efer & HV_EFER_LMA);
    env->linear_bits = (hv_arch_read_cr(4) & (1ull << 12)) ? 57 : 48; /* CR4.LA57 */
}

void hv_vmcs_diagnose_log(struct hv_vcpu *vcpu, const struct hv_vmcs_diag *d)
{
    char line[320];
    struct hv_sb sb;
    uint32_t i;
    size_t n;

    if (vcpu == NULL || d == NULL)
        return;
    for (i = 0; i < d->count; i++) {
        hv_sb_init(&sb, line, sizeof(line));
        hv_sb_str(&sb, "cpu ");
        hv_sb_dec(&sb, vcpu->index);
        hv_sb_str(&sb, ": VM-entry check failed: ");
        n = sb.len;
        (void)hv_vmcs_diagnose_format(&d->findings[i], line + n, sizeof(line) - n);
        hv_lib_log(vcpu->hv->os, HV_LOG_ERROR, line);
    }
    if (d->failed > d->count) {
        hv_sb_init(&sb, line, sizeof(line));
        hv_sb_str(&sb, "cpu ");
        hv_sb_dec(&sb, vcpu->index);
        hv_sb_str(&sb, ": VM-entry diagnosis: ");
        hv_sb_dec(&sb, d->failed - d->count);
        hv_sb_str(&sb, " more failing checks not shown");
        hv_lib_log(vcpu->hv->os, HV_LOG_ERROR, line);
    }
    if (d->failed == 0) {
        hv_sb_init(&sb, line, sizeof(line));
        hv_sb_str(&sb, "cpu ");
        hv_sb_dec(&sb, vcpu->index);
        hv_sb_str(&sb, ": VM-entry diagnosis found no failing check");
        hv_lib_log(vcpu->hv->os, HV_LOG_ERROR, line);
    }
}

void hv_vmcs_diagnose_vcpu(struct hv_vcpu *vcpu)
{
    struct hv_vmcs_diag_env env;

    if (vcpu == NULL)
        return;
    hv_vmcs_diagnose_env(vcpu, &env);
    if (!hv_success(hv_vmcs_diagnose(&env, &vcpu->diag)))
        return;
    vcpu->diag_valid = true;
    hv_vmcs_diagnose_log(vcpu, &vcpu->diag);
}

const struct hv_vmcs_finding *hv_vmcs_diagnose_failed(const struct hv *hv)
{
    const struct hv_vcpu *v;

    if (hv == NULL || hv->failed_cpu >= hv->cpu_count)
        return NULL;
    v = &hv->vcpus[hv->failed_cpu];
    return v->diag_valid && v->diag.count > 0 ? &v->diag.findings[0] : NULL;
}
