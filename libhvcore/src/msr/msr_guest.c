/* SPDX-License-Identifier: MIT */
/*
 * Guest-state MSRs: the guest's value lives in a VMCS field that VM entry
 * loads (SDM Vol. 3C, 27.3.2.1), so a write in VMX root must go to the
 * field or the next entry would undo it. Values are validated as WRMSR
 * would (SDM Vol. 4 per-MSR definitions): a forbidden value is a #GP
 * status and changes nothing.
 */
#include <hvcore/arch.h>
#include <hvcore/msr.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "exit/trace_arch.h"

enum check {
    CHECK_NONE,          /* any value (field width truncates) */
    CHECK_CANONICAL,     /* a linear address: bits 63:47 all equal */
    CHECK_LOW32,         /* bits 63:32 reserved */
    CHECK_PAT,           /* each byte one of 0,1,4,5,6,7 */
    CHECK_EFER,
    CHECK_DEBUGCTL,
    CHECK_PERF_GLOBAL,
    CHECK_BNDCFGS,
    CHECK_RTIT_CTL,
    CHECK_S_CET,
};

/* CPUID feature an MSR depends on (absent feature = MSR absent = #GP). */
enum feature {
    FEAT_ALWAYS, FEAT_MPX, FEAT_PT, FEAT_PKS, FEAT_CET, FEAT_PERFMON_V2,
};

#define SAVED_ALWAYS 0u
#define SAVED_NEVER  0xFFFFFFFFu

struct guest_msr {
    uint32_t msr;
    uint32_t field;          /* VMCS guest-state field */
    uint32_t entry_ctl;      /* VM-entry control that loads it; 0 = always loaded */
    uint32_t exit_save_ctl;  /* VM-exit control that saves it; SAVED_ALWAYS = every
                                exit saves it once the CPU supports entry_ctl
                                (SDM Vol. 3C, 28.3.1); SAVED_NEVER = no exit does */
    enum check check;
    enum feature feature;
};

static const struct guest_msr guest_msrs[] = {
    { HV_MSR_IA32_SYSENTER_CS, HV_VMCS_GUEST_SYSENTER_CS, 0, SAVED_ALWAYS, CHECK_NONE, FEAT_ALWAYS },
    { HV_MSR_IA32_SYSENTER_ESP, HV_VMCS_GUEST_SYSENTER_ESP, 0, SAVED_ALWAYS, CHECK_CANONICAL, FEAT_ALWAYS },
    { HV_MSR_IA32_SYSENTER_EIP, HV_VMCS_GUEST_SYSENTER_EIP, 0, SAVED_ALWAYS, CHECK_CANONICAL, FEAT_ALWAYS },
    /* Not IA32_SMBASE: see smm_only() below. */
    /* VM entry loads the FS/GS bases from the guest segment fields, so a
     * write to the physical MSR in root would not survive the next entry. */
    { HV_MSR_IA32_FS_BASE, HV_VMCS_GUEST_FS_BASE, 0, SAVED_ALWAYS, CHECK_CANONICAL, FEAT_ALWAYS },
    { HV_MSR_IA32_GS_BASE, HV_VMCS_GUEST_GS_BASE, 0, SAVED_ALWAYS, CHECK_CANONICAL, FEAT_ALWAYS },
    { HV_MSR_IA32_DEBUGCTL, HV_VMCS_GUEST_IA32_DEBUGCTL, HV_ENTRY_CTL_LOAD_DEBUG_CONTROLS,
      HV_EXIT_CTL_SAVE_DEBUG_CONTROLS, CHECK_DEBUGCTL, FEAT_ALWAYS },
    { HV_MSR_IA32_PAT, HV_VMCS_GUEST_IA32_PAT, HV_ENTRY_CTL_LOAD_PAT, HV_EXIT_CTL_SAVE_PAT,
      CHECK_PAT, FEAT_ALWAYS },
    { HV_MSR_IA32_EFER, HV_VMCS_GUEST_IA32_EFER, HV_ENTRY_CTL_LOAD_EFER, HV_EXIT_CTL_SAVE_EFER,
      CHECK_EFER, FEAT_ALWAYS },
    /* No save control in the primary exit controls: guest writes are
     * trapped instead once the load control is on. */
    { HV_MSR_IA32_PERF_GLOBAL_CTRL, HV_VMCS_GUEST_IA32_PERF_GLOBAL_CTRL,
      HV_ENTRY_CTL_LOAD_PERF_GLOBAL_CTRL, SAVED_NEVER, CHECK_PERF_GLOBAL, FEAT_PERFMON_V2 },
    { HV_MSR_IA32_BNDCFGS, HV_VMCS_GUEST_IA32_BNDCFGS, HV_ENTRY_CTL_LOAD_BNDCFGS, SAVED_ALWAYS,
      CHECK_BNDCFGS, FEAT_MPX },
    { HV_MSR_IA32_RTIT_CTL, HV_VMCS_GUEST_IA32_RTIT_CTL, HV_ENTRY_CTL_LOAD_RTIT_CTL, SAVED_ALWAYS,
      CHECK_RTIT_CTL, FEAT_PT },
    { HV_MSR_IA32_PKRS, HV_VMCS_GUEST_IA32_PKRS, HV_ENTRY_CTL_LOAD_PKRS, SAVED_ALWAYS, CHECK_LOW32, FEAT_PKS },
    { HV_MSR_IA32_S_CET, HV_VMCS_GUEST_S_CET, HV_ENTRY_CTL_LOAD_CET_STATE, SAVED_ALWAYS, CHECK_S_CET, FEAT_CET },
    { HV_MSR_IA32_INTERRUPT_SSP_TABLE_ADDR, HV_VMCS_GUEST_INTR_SSP_TABLE_ADDR,
      HV_ENTRY_CTL_LOAD_CET_STATE, SAVED_ALWAYS, CHECK_CANONICAL, FEAT_CET },
};

static const struct guest_msr *find(uint32_t msr)
{
    uint32_t i;

    for (i = 0; i < sizeof(guest_msrs) / sizeof(guest_msrs[0]); i++) {
        if (guest_msrs[i].msr == msr)
            return &guest_msrs[i];
    }
    return NULL;
}

/* IA32_SMBASE can be read only in SMM and never written (SDM Vol. 4,
 * Table 2-2: "SMM only"); a guest or a broadcast outside SMM gets #GP on
 * both, as without a hypervisor. GUEST_SMBASE is state for the dual-monitor
 * treatment of SMM (SDM Vol. 3C, 32.15), not a copy of the MSR. */
static bool smm_only(uint32_t msr)
{
    return msr == HV_MSR_IA32_SMBASE;
}

/* IA32_FEATURE_CONTROL bits a WRMSR may set on this CPU (SDM Vol. 4,
 * Table 2-2; Vol. 3C, 24.7): lock; VMX outside SMX with VMX; VMX inside
 * SMX with VMX and SMX; the SENTER enables (14:8, 15) with SMX; SGX launch
 * control (17) and SGX (18) with those CPUID bits; LMCE (20) with
 * IA32_MCG_CAP[27]. Every other bit is reserved. */
#define CPUID_1_ECX_VMX        (1u << 5)
#define CPUID_1_ECX_SMX        (1u << 6)
#define CPUID_7_EBX_SGX        (1u << 2)
#define CPUID_7_ECX_SGX_LC     (1u << 30)
#define FC_SENTER_ENABLES      0xFF00ull
#define FC_SGX_LC              (1ull << 17)
#define FC_SGX                 (1ull << 18)
#define FC_LMCE                (1ull << 20)
#define MSR_IA32_MCG_CAP       0x179u
#define MCG_CAP_LMCE_P         (1ull << 27)

static uint64_t feature_control_writable(void)
{
    struct hv_cpuid_regs r;
    uint64_t mask = HV_FEATURE_CONTROL_LOCK, mcg = 0;
    uint32_t max;
    bool vmx, smx;

    hv_trace_cpuid(0, 0, &r);
    max = r.eax;
    hv_trace_cpuid(1, 0, &r);
    vmx = (r.ecx & CPUID_1_ECX_VMX) != 0;
    smx = (r.ecx & CPUID_1_ECX_SMX) != 0;
    if (vmx)
        mask |= HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX;
    if (vmx && smx)
        mask |= HV_FEATURE_CONTROL_VMX_IN_SMX;
    if (smx)
        mask |= FC_SENTER_ENABLES;
    if (max >= 7) {
        hv_trace_cpuid(7, 0, &r);
        if (r.ecx & CPUID_7_ECX_SGX_LC)
            mask |= FC_SGX_LC;
        if (r.ebx & CPUID_7_EBX_SGX)
            mask |= FC_SGX;
    }
    if (hv_success(hv_trace_rdmsr_safe(MSR_IA32_MCG_CAP, &mcg)) && (mcg & MCG_CAP_LMCE_P))
        mask |= FC_LMCE;
    return mask;
}

bool hv_msr_is_guest_state(uint32_t msr)
{
    return msr == HV_MSR_IA32_FEATURE_CONTROL || find(msr) != NULL;
}

/* CPUID leaf `leaf` if the CPU has it (basic and extended ranges each
 * have their own maximum, SDM Vol. 2A CPUID); zeros and false if not. */
static bool cpuid_leaf(uint32_t leaf, uint32_t subleaf, struct hv_cpuid_regs *r)
{
    hv_trace_cpuid(leaf & 0x80000000u, 0, r);
    if (r->eax < leaf) {
        r->eax = r->ebx = r->ecx = r->edx = 0;
        return false;
    }
    hv_trace_cpuid(leaf, subleaf, r);
    return true;
}

#define CPUID_7_ECX_LA57       (1u << 16)

/* The width WRMSR checks an address MSR against is the processor's
 * linear-address width, CPUID.80000008H:EAX[15:8]: 57 on a processor that
 * supports 5-level paging, 48 otherwise, whatever CR4.LA57 (SDM Vol. 2B,
 * WRMSR; Vol. 1, 3.3.7.1; Intel 5-Level Paging white paper 335252, 2.6:
 * these checks are static, by processor support). A leaf that reports
 * neither width falls back on CPUID.(7,0):ECX.LA57. */
static uint32_t linear_width(void)
{
    struct hv_cpuid_regs r;
    uint32_t w = 0;

    if (cpuid_leaf(0x80000008u, 0, &r))
        w = (r.eax >> 8) & 0xFFu;
    if (w != 48u && w != 57u) {
        (void)cpuid_leaf(7, 0, &r);
        w = (r.ecx & CPUID_7_ECX_LA57) ? 57u : 48u;
    }
    return w;
}

/* Bits 63:(width - 1) all equal. */
static bool canonical(uint64_t v)
{
    uint32_t w = linear_width();
    uint64_t top = v >> (w - 1u);

    return top == 0 || top == (~0ull >> (w - 1u));
}

/* IA32_PERF_GLOBAL_CTRL's valid bits (SDM Vol. 3B, 21.2.2-21.2.5 and Vol.
 * 2A CPUID leaf 0AH; Vol. 4, IA32_PERF_GLOBAL_CTRL): an enable per GP
 * counter (EAX[15:8] of them) in bits 31:0; an enable per fixed counter in
 * bits 47:32, where fixed counter i exists if EDX[4:0] > i or, from
 * version 5 on, ECX[i]; bit 48 (PERF_METRICS) if IA32_PERF_CAPABILITIES[15],
 * which exists with CPUID.1:ECX.PDCM[15]. */
#define CPUID_1_ECX_PDCM          (1u << 15)
#define MSR_IA32_PERF_CAPABILITIES 0x345u
#define PERF_CAP_PERF_METRICS     (1ull << 15)
#define PERF_GLOBAL_PERF_METRICS  (1ull << 48)
#define PERF_MAX_FIXED            16u

static uint64_t perf_global_ctrl_valid(void)
{
    struct hv_cpuid_regs r;
    uint64_t mask, cap = 0, fixed;
    uint32_t version, gp, nfixed;

    if (!cpuid_leaf(0xA, 0, &r))
        return 0;
    version = r.eax & 0xFFu;
    gp = (r.eax >> 8) & 0xFFu;
    nfixed = r.edx & 0x1Fu;
    mask = gp >= 32u ? 0xFFFFFFFFull : (1ull << gp) - 1u;
    fixed = nfixed >= PERF_MAX_FIXED ? 0xFFFFull : (1ull << nfixed) - 1u;
    if (version >= 5u)
        fixed |= r.ecx & 0xFFFFu;
    mask |= fixed << 32;
    (void)cpuid_leaf(1, 0, &r);
    if ((r.ecx & CPUID_1_ECX_PDCM) &&
        hv_success(hv_trace_rdmsr_safe(MSR_IA32_PERF_CAPABILITIES, &cap)) && (cap & PERF_CAP_PERF_METRICS))
        mask |= PERF_GLOBAL_PERF_METRICS;
    return mask;
}

/* IA32_S_CET (SDM Vol. 4, Table 2-2; Vol. 1, 18.3.1): SH_STK_EN (0) and
 * WR_SHSTK_EN (1) with CET_SS; ENDBR_EN (2), LEG_IW_EN (3), NO_TRACK_EN
 * (4), SUPPRESS_DIS (5), SUPPRESS (10), TRACKER (11) and the legacy
 * code-page bitmap base (63:12, a canonical linear address) with CET_IBT;
 * bits 9:6 reserved; SUPPRESS and TRACKER both set is #GP. */
#define CPUID_7_ECX_CET_SS     (1u << 7)
#define CPUID_7_EDX_CET_IBT    (1u << 20)
#define S_CET_SS_BITS          0x3ull
#define S_CET_IBT_BITS         (0x3Cull | (1ull << 10) | (1ull << 11) | ~0xFFFull)
#define S_CET_SUPPRESS         (1ull << 10)
#define S_CET_TRACKER          (1ull << 11)

static bool s_cet_allowed(uint64_t v)
{
    struct hv_cpuid_regs r;
    uint64_t allowed = 0;

    (void)cpuid_leaf(7, 0, &r);
    if (r.ecx & CPUID_7_ECX_CET_SS)
        allowed |= S_CET_SS_BITS;
    if (r.edx & CPUID_7_EDX_CET_IBT)
        allowed |= S_CET_IBT_BITS;
    if (v & ~allowed)
        return false;
    if ((v & S_CET_SUPPRESS) && (v & S_CET_TRACKER))
        return false;
    return canonical(v & ~0xFFFull);
}

#define CPUID_80000001_EDX_NX  (1u << 20)

static bool has_feature(enum feature f)
{
    struct hv_cpuid_regs r;
    uint32_t max;

    if (f == FEAT_ALWAYS)
        return true;
    hv_trace_cpuid(0, 0, &r);
    max = r.eax;
    if (f == FEAT_PERFMON_V2) {
        if (max < 0xA)
            return false;
        hv_trace_cpuid(0xA, 0, &r);
        return (r.eax & 0xFFu) >= 2; /* IA32_PERF_GLOBAL_CTRL since v2 */
    }
    if (max < 7)
        return false;
    hv_trace_cpuid(7, 0, &r);
    switch (f) {
    case FEAT_MPX: return (r.ebx >> 14) & 1u;
    case FEAT_PT:  return (r.ebx >> 25) & 1u;
    case FEAT_PKS: return (r.ecx >> 31) & 1u;
    case FEAT_CET: return ((r.ecx >> 7) & 1u) || ((r.edx >> 20) & 1u);
    default:       return false;
    }
}

/* Whether WRMSR would accept `v` (SDM Vol. 4, Table 2-2 and the feature
 * chapters); false means #GP. */
static bool value_allowed(struct hv_vcpu *vcpu, enum check c, uint64_t v)
{
    struct hv_cpuid_regs r;
    uint32_t i;

    switch (c) {
    case CHECK_NONE:
        return true;
    case CHECK_CANONICAL:
        return canonical(v);
    case CHECK_LOW32:
        return (v >> 32) == 0;
    case CHECK_PAT:
        /* Memory types 2 and 3 and everything above 7 are reserved. */
        for (i = 0; i < 8; i++) {
            uint32_t t = (uint32_t)(v >> (i * 8)) & 0xFFu;

            if (t == 2 || t == 3 || t > 7)
                return false;
        }
        return true;
    case CHECK_EFER: {
        uint64_t cur = hv_vmcs_read64(HV_VMCS_GUEST_IA32_EFER);
        uint64_t cr0 = hv_vmcs_readnat(HV_VMCS_GUEST_CR0);

        if (v & ~(HV_EFER_SCE | HV_EFER_LME | HV_EFER_LMA | HV_EFER_NXE))
            return false;
        /* NXE is reserved without NX (SDM Vol. 4, IA32_EFER; Vol. 3A, 5.13). */
        (void)cpuid_leaf(0x80000001u, 0, &r);
        if ((v & HV_EFER_NXE) && !(r.edx & CPUID_80000001_EDX_NX))
            return false;
        /* LME may not change while paging is on (SDM Vol. 3A, 10.8.5). */
        if ((cr0 & HV_CR0_PG) && ((v ^ cur) & HV_EFER_LME))
            return false;
        (void)vcpu;
        return true;
    }
    case CHECK_DEBUGCTL:
        /* LBR, BTF, TR, BTS, BTINT, BTS_OFF_OS/USR, FREEZE_LBRS/PERFMON_ON_PMI,
         * ENABLE_UNCORE_PMI, FREEZE_WHILE_SMM, RTM_DEBUG (Vol. 4, 2-2). */
        return (v & ~0xFFC3ull) == 0;
    case CHECK_PERF_GLOBAL:
        return (v & ~perf_global_ctrl_valid()) == 0;
    case CHECK_BNDCFGS:
        return (v & 0xFFCull) == 0 && canonical(v & ~0xFFFull);
    case CHECK_RTIT_CTL:
        /* Reserved: 18, 23, 28-31, 48-55, 57-63 (Vol. 4, IA32_RTIT_CTL). */
        return (v & 0xFEFF0000F0840000ull) == 0;
    case CHECK_S_CET:
        return s_cet_allowed(v);
    }
    return false;
}

static bool load_ctl_active(struct hv_vcpu *vcpu, const struct guest_msr *g)
{
    return g->entry_ctl == 0 || (vcpu->ctls.entry & g->entry_ctl) != 0;
}

/* Does the guest field of `g` hold the guest's live value in root? It
 * does when this exit saved it: always, for the state a CPU with the load
 * control saves on every exit (BNDCFGS, RTIT_CTL, PKRS, S_CET, the SSP
 * table address and SSP itself, SDM Vol. 3C, 28.3.1 and 28.3.3), or when
 * the save control is on (PAT, EFER, DEBUGCTL). */
static bool field_is_live(const struct hv_vcpu *vcpu, const struct guest_msr *g)
{
    if (g->exit_save_ctl == SAVED_ALWAYS)
        return true;
    return g->exit_save_ctl != SAVED_NEVER && (vcpu->ctls.exit & g->exit_save_ctl) != 0;
}

/* Turn on the entry control that loads `g`, so that the next VM entry
 * loads exactly what the guest has now: a field this exit saved is left
 * as it is (rewriting it could only lose state, e.g. GUEST_SSP, which no
 * RDMSR reads); any other is seeded from the physical MSR, which is the
 * guest's own while no exit control loads a host value into it. */
static hv_status_t enable_load_ctl(struct hv_vcpu *vcpu, const struct guest_msr *g)
{
    uint32_t i, entry = vcpu->ctls.entry | g->entry_ctl;
    hv_status_t st;
    uint64_t v;

    for (i = 0; i < sizeof(guest_msrs) / sizeof(guest_msrs[0]); i++) {
        if (guest_msrs[i].entry_ctl != g->entry_ctl || field_is_live(vcpu, &guest_msrs[i]))
            continue;
        st = hv_trace_rdmsr_safe(guest_msrs[i].msr, &v);
        if (!hv_success(st))
            v = 0;
        st = hv_vmcs_write(guest_msrs[i].field, v);
        if (!hv_success(st))
            return st;
    }
    st = hv_vmcs_write32(HV_VMCS_VM_ENTRY_CONTROLS, entry);
    if (!hv_success(st))
        return st;
    vcpu->ctls.entry = entry;
    /* Without an exit control that saves the MSR, a guest WRMSR would be
     * undone at the next entry: trap the guest's writes instead. */
    if (!field_is_live(vcpu, g))
        (void)hv_msr_bitmap_set(vcpu, g->msr, false, true);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_msr_guest_read(struct hv_vcpu *vcpu, uint32_t msr, uint64_t *value,
                              enum hv_msr_route *route)
{
    const struct guest_msr *g;
    enum hv_msr_route where = HV_MSR_ROUTE_PHYSICAL;
    hv_status_t st;

    if (vcpu == NULL || value == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (smm_only(msr)) {
        st = HV_STATUS_EXCEPTION_GENERAL_PROTECTION;
    } else if (msr == HV_MSR_IA32_FEATURE_CONTROL) {
        *value = vcpu->feature_control_virtual;
        if (hv_trace_on_())
            hv_trace_note_io(HV_TRACE_IO_FC_VIRTUAL, msr, 0, HV_STATUS_SUCCESS, *value, 0);
        where = HV_MSR_ROUTE_VIRTUAL;
        st = HV_STATUS_SUCCESS;
    } else if ((g = find(msr)) != NULL && has_feature(g->feature) && load_ctl_active(vcpu, g)) {
        st = hv_vmcs_read(g->field, value);
        where = HV_MSR_ROUTE_VMCS_FIELD;
    } else if (g != NULL && !has_feature(g->feature)) {
        st = HV_STATUS_EXCEPTION_GENERAL_PROTECTION;
    } else {
        st = hv_trace_rdmsr_safe(msr, value);
    }
    if (route != NULL)
        *route = where;
    return st;
}

hv_status_t hv_msr_guest_write(struct hv_vcpu *vcpu, uint32_t msr, uint64_t value,
                               enum hv_msr_route *route)
{
    const struct guest_msr *g;
    hv_status_t st;

    if (route != NULL)
        *route = HV_MSR_ROUTE_PHYSICAL;
    if (vcpu == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (smm_only(msr))
        return HV_STATUS_EXCEPTION_GENERAL_PROTECTION;

    if (msr == HV_MSR_IA32_FEATURE_CONTROL) {
        if (hv_trace_on_())
            hv_trace_note_io(HV_TRACE_IO_FC_VIRTUAL, msr, 0, HV_STATUS_SUCCESS, vcpu->feature_control_virtual, 0);
        /* The copy takes what the real MSR would: locked means locked,
         * and a reserved bit or a feature's bit without the feature #GPs. */
        if ((vcpu->feature_control_virtual & HV_FEATURE_CONTROL_LOCK) ||
            (value & ~feature_control_writable()))
            return HV_STATUS_EXCEPTION_GENERAL_PROTECTION;
        vcpu->feature_control_virtual = value;
        if (route != NULL)
            *route = HV_MSR_ROUTE_VIRTUAL;
        return HV_STATUS_SUCCESS;
    }
    g = find(msr);
    if (g == NULL)
        return hv_trace_wrmsr_safe(msr, value);
    if (!has_feature(g->feature) || !value_allowed(vcpu, g->check, value))
        return HV_STATUS_EXCEPTION_GENERAL_PROTECTION;
    if (msr == HV_MSR_IA32_EFER)
        value = (value & ~HV_EFER_LMA) | (hv_vmcs_read64(HV_VMCS_GUEST_IA32_EFER) & HV_EFER_LMA);

    if (!load_ctl_active(vcpu, g)) {
        if (!((vcpu->caps.entry >> 32) & g->entry_ctl)) {
            /* The CPU cannot load this MSR at entry: root and guest share
             * the physical register, so write that. */
            return hv_trace_wrmsr_safe(msr, value);
        }
        st = enable_load_ctl(vcpu, g);
        if (!hv_success(st))
            return st;
    }
    st = hv_vmcs_write(g->field, value);
    if (hv_success(st) && route != NULL)
        *route = HV_MSR_ROUTE_VMCS_FIELD;
    return st;
}

hv_status_t hv_msr_bitmap_set(struct hv_vcpu *vcpu, uint32_t msr, bool trap_read, bool trap_write)
{
    /* 4 KiB bitmap: read-low, read-high, write-low, write-high, 1 KiB each
     * (SDM Vol. 3C, 25.6.9). */
    volatile uint8_t *bm;
    uint32_t bit, base;

    if (vcpu == NULL || vcpu->msr_bitmap == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (msr <= 0x1FFFu) {
        base = 0;
        bit = msr;
    } else if (msr >= 0xC0000000u && msr <= 0xC0001FFFu) {
        base = 1024;
        bit = msr - 0xC0000000u;
    } else {
        return HV_STATUS_INVALID_PARAMETER;
    }
    bm = vcpu->msr_bitmap;
    if (trap_read)
        bm[base + bit / 8] |= (uint8_t)(1u << (bit % 8));
    else
        bm[base + bit / 8] &= (uint8_t)~(1u << (bit % 8));
    if (trap_write)
        bm[2048 + base + bit / 8] |= (uint8_t)(1u << (bit % 8));
    else
        bm[2048 + base + bit / 8] &= (uint8_t)~(1u << (bit % 8));
    return HV_STATUS_SUCCESS;
}
