/* SPDX-License-Identifier: MIT */
/*
 * VMCS setup for a blue-pill guest: the running OS continues as the guest
 * with exactly the state it had (SDM Vol. 3C, 25.4 guest-state area, 25.5
 * host-state area, 25.6-25.8 controls; checks in 27.2-27.3).
 */
#include <hvcore/arch.h>
#include <hvcore/hv.h>
#include <hvcore/msr.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "debugger/debugger_internal.h"
#include "lib.h"

/* Descriptor fields (SDM Vol. 3A, 3.4.5). */
#define DESC_S        (1ull << 44)   /* 0 = system descriptor */
#define DESC_P        (1ull << 47)
#define DESC_G        (1ull << 55)
#define AR_TYPE(ar)   ((ar) & 0xFu)
#define TSS_BUSY_64   0xBu
#define LDT_TYPE      0x2u

struct seg_state {
    uint16_t sel;
    uint64_t base;
    uint32_t limit;
    uint32_t ar;
};

/* The first failing VMWRITE wins; later writes are skipped so the status
 * names the field that failed. */
struct writer {
    struct hv_vcpu *vcpu;
    hv_status_t st;
    uint32_t failed_field;
};

static void note(struct writer *w, uint32_t field, hv_status_t st)
{
    if (hv_success(w->st) && !hv_success(st)) {
        w->st = st;
        w->failed_field = field;
    }
}

#define VMW(w, width, field, value)                                       \
    do {                                                                  \
        if (hv_success((w)->st))                                          \
            note((w), (field), hv_vmcs_write##width((field), (value)));   \
    } while (0)

/* Host selectors: VM entry requires RPL (bits 1:0) and TI (bit 2) to be 0
 * and keeps the index, all 13 bits of it (SDM Vol. 3C, 27.2.3). An LDT
 * selector's index means nothing in the GDT, so a data segment that came
 * from the LDT becomes null, which a 64-bit host may have in DS, ES, FS
 * and GS (27.2.3; VM exit then marks it unusable, 28.5.2). */
#define HOST_SEL(sel) ((uint16_t)(((sel) & 4u) ? 0u : ((sel) & 0xFFF8u)))

/* The descriptor table a selector indexes: the GDT, or for TI = 1 the LDT
 * that LDTR points at (SDM Vol. 3A, 3.4.2). */
struct desc_table {
    uint64_t base;
    uint32_t limit;     /* bytes - 1 */
    bool present;
};

/* Read one segment's hidden state from its descriptor table the way the
 * CPU loaded it. 64-bit system descriptors (TSS, LDT) are 16 bytes and
 * live only in the GDT (SDM Vol. 3A, 7.2.3, 8.5.1: LLDT and LTR take GDT
 * selectors). A data segment register may hold an LDT selector: Linux does
 * not reload DS/ES/FS/GS on entry to the kernel, so a 32-bit process with
 * an LDT (Wine, DOSEMU) can be the interrupted context of the load IPI. */
static hv_status_t read_segment(const struct desc_table *gdt_tab, const struct desc_table *ldt_tab,
                                enum hv_seg which, uint16_t sel, struct seg_state *out)
{
    uint32_t index = sel >> 3;
    const struct desc_table *tab = gdt_tab;
    const volatile uint64_t *table;
    uint64_t desc;

    out->sel = sel;
    out->base = 0;
    out->limit = 0;
    out->ar = HV_AR_UNUSABLE;

    if ((sel & ~3u) == 0) {
        /* Null selector: "unusable" (SDM Vol. 3C, 25.4.1). CS and TR can
         * never be null in a running 64-bit OS. */
        return (which == HV_SEG_CS || which == HV_SEG_TR) ? HV_STATUS_BAD_DESCRIPTOR
                                                            : HV_STATUS_SUCCESS;
    }
    if (sel & 4u) {
        /* The kernel runs on GDT CS/SS; TR and LDTR are GDT-only. A TI=1
         * selector with no usable LDT could not have been loaded. */
        if (which == HV_SEG_CS || which == HV_SEG_SS || which == HV_SEG_TR ||
            which == HV_SEG_LDTR || ldt_tab == NULL || !ldt_tab->present)
            return HV_STATUS_BAD_DESCRIPTOR;
        tab = ldt_tab;
    }
    if ((uint64_t)index * 8u + 7u > tab->limit)
        return HV_STATUS_BAD_DESCRIPTOR;

    table = (const volatile uint64_t *)(uintptr_t)tab->base;
    desc = table[index];
    if (!(desc & DESC_P))
        return HV_STATUS_SUCCESS; /* left unusable */
    out->base = ((desc >> 16) & 0xFFFFFFull) | ((desc >> 32) & 0xFF000000ull);
    out->limit = (uint32_t)((desc & 0xFFFFull) | ((desc >> 32) & 0xF0000ull));
    if (desc & DESC_G)
        out->limit = (out->limit << 12) | 0xFFFu;
    out->ar = (uint32_t)((desc >> 40) & 0xF0FFull);

    if (!(desc & DESC_S)) {
        /* A system descriptor in a data segment register cannot have
         * been loaded; in the LDT there are no 16-byte ones to read. */
        if (tab != gdt_tab || (uint64_t)index * 8u + 15u > tab->limit)
            return HV_STATUS_BAD_DESCRIPTOR;
        out->base |= (table[index + 1] & 0xFFFFFFFFull) << 32;
    }
    /* SDM Vol. 3C, 27.3.1.2: TR must be a busy TSS for VM entry. */
    if (which == HV_SEG_TR && AR_TYPE(out->ar) != TSS_BUSY_64)
        return HV_STATUS_BAD_DESCRIPTOR;
    return HV_STATUS_SUCCESS;
}

static hv_status_t choose_controls(struct hv_vcpu *vcpu)
{
    const struct hv_vmx_caps *c = &vcpu->caps;
    struct hv_vmx_controls *ctl = &vcpu->ctls;
    uint32_t want2 = 0, need2 = 0, need_proc = HV_PROC_USE_MSR_BITMAPS;

    /* Someone asked for DR-access exits before this core was set up. */
    if (vcpu->movdr_refs > 0)
        need_proc |= HV_PROC_MOV_DR_EXITING;
    hv_status_t st;

    /* A guest that can see RDTSCP/INVPCID/XSAVES/WAITPKG in CPUID takes
     * #UD on them unless the matching secondary control is on (SDM Vol.
     * 3C, 26.3, Table 26-7; 25.6.2 for "enable user wait and pause"):
     * these are required, not optional. Linux's udelay uses TPAUSE. */
    if (c->has_rdtscp)
        need2 |= HV_PROC2_ENABLE_RDTSCP;
    if (c->has_invpcid)
        need2 |= HV_PROC2_ENABLE_INVPCID;
    if (c->has_xsaves)
        need2 |= HV_PROC2_ENABLE_XSAVES;
    if (c->has_waitpkg)
        need2 |= HV_PROC2_ENABLE_USER_WAIT_PAUSE;
    if (vcpu->hv->cfg.use_vpid && ((c->proc2 >> 32) & HV_PROC2_ENABLE_VPID))
        want2 |= HV_PROC2_ENABLE_VPID;
    if (need2 | want2)
        need_proc |= HV_PROC_ACTIVATE_SECONDARY;

    /* NMI-window exiting, which re-delivers NMIs that hit VMX root, needs
     * "virtual NMIs", which needs "NMI exiting" (SDM Vol. 3C, 27.2.1.1). */
    st = hv_vmx_adjust_controls(vcpu->host_idt != NULL ? HV_PIN_NMI_EXITING | HV_PIN_VIRTUAL_NMIS : 0,
                                0, c->pin, &ctl->pin);
    if (hv_success(st) && (ctl->pin & (HV_PIN_NMI_EXITING | HV_PIN_VIRTUAL_NMIS)) !=
                              (HV_PIN_NMI_EXITING | HV_PIN_VIRTUAL_NMIS))
        ctl->pin &= ~(uint32_t)(HV_PIN_NMI_EXITING | HV_PIN_VIRTUAL_NMIS);
    /* Debugger Mode: the UART core polls the line for a break-in from
     * VMX-preemption-timer exits (SDM Vol. 3C, 26.5.1); with "save timer
     * value" off every VM entry reloads the full period. */
    if (hv_success(st) && hv_debugger_timer_value(vcpu) != 0 && ((c->pin >> 32) & HV_PIN_PREEMPTION_TIMER))
        ctl->pin |= HV_PIN_PREEMPTION_TIMER;
    if (hv_success(st))
        st = hv_vmx_adjust_controls(0, need_proc, c->proc, &ctl->proc);
    if (hv_success(st)) {
        if (ctl->proc & HV_PROC_ACTIVATE_SECONDARY)
            st = hv_vmx_adjust_controls(want2, need2, c->proc2, &ctl->proc2);
        else
            ctl->proc2 = 0;
    }
    if (hv_success(st))
        st = hv_vmx_adjust_controls(HV_EXIT_CTL_SAVE_PAT | HV_EXIT_CTL_LOAD_PAT |
                                        HV_EXIT_CTL_SAVE_EFER | HV_EXIT_CTL_LOAD_EFER,
                                    HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE | HV_EXIT_CTL_SAVE_DEBUG_CONTROLS,
                                    c->exit, &ctl->exit);
    if (hv_success(st))
        st = hv_vmx_adjust_controls(HV_ENTRY_CTL_LOAD_PAT | HV_ENTRY_CTL_LOAD_EFER,
                                    HV_ENTRY_CTL_IA32E_MODE_GUEST | HV_ENTRY_CTL_LOAD_DEBUG_CONTROLS,
                                    c->entry, &ctl->entry);
    return st;
}

struct captured {
    struct seg_state seg[HV_SEG_COUNT];
    struct hv_dtr gdtr, idtr;
    uint64_t cr0, cr3, cr4, dr7;
    uint64_t debugctl, sysenter_cs, sysenter_esp, sysenter_eip, efer, pat;
    uint64_t fs_base, gs_base;
};

static hv_status_t capture(struct captured *cap)
{
    static const uint32_t msrs[] = {
        HV_MSR_IA32_DEBUGCTL, HV_MSR_IA32_SYSENTER_CS, HV_MSR_IA32_SYSENTER_ESP,
        HV_MSR_IA32_SYSENTER_EIP, HV_MSR_IA32_EFER, HV_MSR_IA32_PAT,
        HV_MSR_IA32_FS_BASE, HV_MSR_IA32_GS_BASE,
    };
    uint64_t *dst[] = {
        &cap->debugctl, &cap->sysenter_cs, &cap->sysenter_esp, &cap->sysenter_eip,
        &cap->efer, &cap->pat, &cap->fs_base, &cap->gs_base,
    };
    struct desc_table gdt, ldt;
    hv_status_t st;
    uint32_t i;

    hv_arch_sgdt(&cap->gdtr);
    hv_arch_sidt(&cap->idtr);
    gdt.base = cap->gdtr.base;
    gdt.limit = cap->gdtr.limit;
    gdt.present = true;
    /* LDTR first: the other selectors may index the LDT it names. */
    st = read_segment(&gdt, NULL, HV_SEG_LDTR, hv_arch_read_selector(HV_SEG_LDTR), &cap->seg[HV_SEG_LDTR]);
    if (!hv_success(st))
        return st;
    ldt.base = cap->seg[HV_SEG_LDTR].base;
    ldt.limit = cap->seg[HV_SEG_LDTR].limit;
    ldt.present = !(cap->seg[HV_SEG_LDTR].ar & HV_AR_UNUSABLE);
    /* An LDTR selector must name an LDT descriptor (type 2), SDM Vol. 3A, 3.5. */
    if (ldt.present && AR_TYPE(cap->seg[HV_SEG_LDTR].ar) != LDT_TYPE)
        return HV_STATUS_BAD_DESCRIPTOR;
    for (i = 0; i < HV_SEG_COUNT; i++) {
        if (i == HV_SEG_LDTR)
            continue;
        st = read_segment(&gdt, &ldt, (enum hv_seg)i, hv_arch_read_selector((enum hv_seg)i), &cap->seg[i]);
        if (!hv_success(st))
            return st;
    }
    cap->cr0 = hv_arch_read_cr(0);
    cap->cr3 = hv_arch_read_cr(3);
    cap->cr4 = hv_arch_read_cr(4);
    cap->dr7 = hv_arch_read_dr(7);
    for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
        st = hv_arch_rdmsr_safe(msrs[i], dst[i]);
        if (!hv_success(st))
            return st;
    }
    /* In 64-bit mode the FS/GS bases live in MSRs, not the GDT. */
    cap->seg[HV_SEG_FS].base = cap->fs_base;
    cap->seg[HV_SEG_GS].base = cap->gs_base;
    return HV_STATUS_SUCCESS;
}

static void write_guest_state(struct writer *w, const struct captured *cap,
                              const struct hv_guest_entry *entry)
{
    uint32_t i;

    /* The tables hold field encodings chosen at run time, so these use the
     * run-time-width accessor; the encodings are all checked constants. */
    for (i = 0; i < HV_SEG_COUNT && hv_success(w->st); i++) {
        note(w, hv_vmcs_guest_segment[i].selector, hv_vmcs_write(hv_vmcs_guest_segment[i].selector, cap->seg[i].sel));
        if (hv_success(w->st))
            note(w, hv_vmcs_guest_segment[i].base, hv_vmcs_write(hv_vmcs_guest_segment[i].base, cap->seg[i].base));
        if (hv_success(w->st))
            note(w, hv_vmcs_guest_segment[i].limit, hv_vmcs_write(hv_vmcs_guest_segment[i].limit, cap->seg[i].limit));
        if (hv_success(w->st))
            note(w, hv_vmcs_guest_segment[i].access_rights, hv_vmcs_write(hv_vmcs_guest_segment[i].access_rights, cap->seg[i].ar));
    }
    VMW(w, 32, HV_VMCS_GUEST_GDTR_LIMIT, cap->gdtr.limit);
    VMW(w, nat, HV_VMCS_GUEST_GDTR_BASE, cap->gdtr.base);
    VMW(w, 32, HV_VMCS_GUEST_IDTR_LIMIT, cap->idtr.limit);
    VMW(w, nat, HV_VMCS_GUEST_IDTR_BASE, cap->idtr.base);

    VMW(w, nat, HV_VMCS_GUEST_CR0, cap->cr0);
    VMW(w, nat, HV_VMCS_GUEST_CR3, cap->cr3);
    VMW(w, nat, HV_VMCS_GUEST_CR4, cap->cr4);
    VMW(w, nat, HV_VMCS_GUEST_DR7, cap->dr7);
    VMW(w, 64, HV_VMCS_GUEST_IA32_DEBUGCTL, cap->debugctl);
    VMW(w, 32, HV_VMCS_GUEST_SYSENTER_CS, cap->sysenter_cs);
    VMW(w, nat, HV_VMCS_GUEST_SYSENTER_ESP, cap->sysenter_esp);
    VMW(w, nat, HV_VMCS_GUEST_SYSENTER_EIP, cap->sysenter_eip);
    /* SMBASE cannot be read outside SMM; start from the architectural
     * default (SDM Vol. 3C, 32.11). Used only under dual-monitor SMM. */
    VMW(w, 32, HV_VMCS_GUEST_SMBASE, 0x30000u);
    VMW(w, 64, HV_VMCS_GUEST_IA32_EFER, cap->efer);
    VMW(w, 64, HV_VMCS_GUEST_IA32_PAT, cap->pat);

    VMW(w, nat, HV_VMCS_GUEST_RSP, entry->rsp);
    VMW(w, nat, HV_VMCS_GUEST_RIP, entry->rip);
    VMW(w, nat, HV_VMCS_GUEST_RFLAGS, entry->rflags | HV_RFLAGS_FIXED);

    VMW(w, 32, HV_VMCS_GUEST_ACTIVITY_STATE, 0);          /* active */
    VMW(w, 32, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, 0);
    VMW(w, nat, HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    /* No shadow VMCS: the link pointer must be all ones (SDM 27.3.1.5). */
    VMW(w, 64, HV_VMCS_VMCS_LINK_POINTER, ~0ull);
}

static void write_host_state(struct writer *w, struct hv_vcpu *vcpu, const struct captured *cap)
{
    const struct hv_vmx_controls *ctl = &vcpu->ctls;
    uint64_t host_cr3 = vcpu->hv->cfg.host_cr3 ? vcpu->hv->cfg.host_cr3 : cap->cr3;
    uint8_t *stack_top = (uint8_t *)vcpu->host_stack + HV_HOST_STACK_SIZE;
    uint64_t *slot = (uint64_t *)(void *)(stack_top - HV_HOST_STACK_RESERVED);

    /* The exit stub finds its vcpu in the top slot of the host stack. */
    slot[0] = (uint64_t)(uintptr_t)vcpu;
    slot[1] = 0;

    /* The exit stub saves XMM registers: CR0.TS must be clear in root. */
    VMW(w, nat, HV_VMCS_HOST_CR0, cap->cr0 & ~(1ull << 3));
    VMW(w, nat, HV_VMCS_HOST_CR3, host_cr3);
    VMW(w, nat, HV_VMCS_HOST_CR4, cap->cr4);
    VMW(w, 16, HV_VMCS_HOST_ES_SELECTOR, HOST_SEL(cap->seg[HV_SEG_ES].sel));
    VMW(w, 16, HV_VMCS_HOST_CS_SELECTOR, HOST_SEL(cap->seg[HV_SEG_CS].sel));
    VMW(w, 16, HV_VMCS_HOST_SS_SELECTOR, HOST_SEL(cap->seg[HV_SEG_SS].sel));
    VMW(w, 16, HV_VMCS_HOST_DS_SELECTOR, HOST_SEL(cap->seg[HV_SEG_DS].sel));
    VMW(w, 16, HV_VMCS_HOST_FS_SELECTOR, HOST_SEL(cap->seg[HV_SEG_FS].sel));
    VMW(w, 16, HV_VMCS_HOST_GS_SELECTOR, HOST_SEL(cap->seg[HV_SEG_GS].sel));
    VMW(w, 16, HV_VMCS_HOST_TR_SELECTOR, HOST_SEL(cap->seg[HV_SEG_TR].sel));
    VMW(w, nat, HV_VMCS_HOST_FS_BASE, cap->fs_base);
    /* The host GS base must be the OS's per-CPU base: kernel code called
     * from exit handlers (stack protector, per-CPU data) uses %gs. */
    VMW(w, nat, HV_VMCS_HOST_GS_BASE, cap->gs_base);
    VMW(w, nat, HV_VMCS_HOST_TR_BASE, cap->seg[HV_SEG_TR].base);
    VMW(w, nat, HV_VMCS_HOST_GDTR_BASE, cap->gdtr.base);
    if (vcpu->host_idt != NULL) {
        hv_arch_build_host_idt(vcpu->host_idt, HOST_SEL(cap->seg[HV_SEG_CS].sel));
        VMW(w, nat, HV_VMCS_HOST_IDTR_BASE, (uint64_t)(uintptr_t)vcpu->host_idt);
    } else {
        VMW(w, nat, HV_VMCS_HOST_IDTR_BASE, cap->idtr.base);
    }
    VMW(w, 32, HV_VMCS_HOST_IA32_SYSENTER_CS, cap->sysenter_cs);
    VMW(w, nat, HV_VMCS_HOST_IA32_SYSENTER_ESP, cap->sysenter_esp);
    VMW(w, nat, HV_VMCS_HOST_IA32_SYSENTER_EIP, cap->sysenter_eip);
    if (ctl->exit & HV_EXIT_CTL_LOAD_EFER)
        VMW(w, 64, HV_VMCS_HOST_IA32_EFER, cap->efer);
    if (ctl->exit & HV_EXIT_CTL_LOAD_PAT)
        VMW(w, 64, HV_VMCS_HOST_IA32_PAT, cap->pat);
    VMW(w, nat, HV_VMCS_HOST_RSP, (uint64_t)(uintptr_t)(stack_top - HV_HOST_STACK_RESERVED));
    VMW(w, nat, HV_VMCS_HOST_RIP, hv_arch_exit_entry());
}

static void write_controls(struct writer *w, struct hv_vcpu *vcpu)
{
    const struct hv_vmx_caps *c = &vcpu->caps;
    const struct hv_vmx_controls *ctl = &vcpu->ctls;
    /* Bits the guest may not change on its own: VMXE and every bit the
     * fixed MSRs pin. Reads of them return the shadow, i.e. the values
     * the OS had before we arrived (SDM Vol. 3C, 25.6.6). */
    uint64_t cr0_mask = c->cr0_fixed0 | (~c->cr0_fixed1 & 0xFFFFFFFFull);
    uint64_t cr4_mask = c->cr4_fixed0 | (~c->cr4_fixed1 & 0xFFFFFFFFull) | HV_CR4_VMXE;

    VMW(w, 32, HV_VMCS_PIN_BASED_VM_EXEC_CONTROL, ctl->pin);
    if (ctl->pin & HV_PIN_PREEMPTION_TIMER)
        VMW(w, 32, HV_VMCS_VMX_PREEMPTION_TIMER_VALUE, hv_debugger_timer_value(vcpu));
    VMW(w, 32, HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, ctl->proc);
    if (ctl->proc & HV_PROC_ACTIVATE_SECONDARY)
        VMW(w, 32, HV_VMCS_SECONDARY_VM_EXEC_CONTROL, ctl->proc2);
    VMW(w, 32, HV_VMCS_VM_EXIT_CONTROLS, ctl->exit);
    VMW(w, 32, HV_VMCS_VM_ENTRY_CONTROLS, ctl->entry);
    VMW(w, 32, HV_VMCS_EXCEPTION_BITMAP, 0);
    VMW(w, 32, HV_VMCS_PAGE_FAULT_ERROR_CODE_MASK, 0);
    VMW(w, 32, HV_VMCS_PAGE_FAULT_ERROR_CODE_MATCH, 0);
    VMW(w, 32, HV_VMCS_CR3_TARGET_COUNT, 0);
    VMW(w, 32, HV_VMCS_VM_EXIT_MSR_STORE_COUNT, 0);
    VMW(w, 32, HV_VMCS_VM_EXIT_MSR_LOAD_COUNT, 0);
    VMW(w, 32, HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT, 0);
    VMW(w, 32, HV_VMCS_VM_ENTRY_INTR_INFO, 0);
    VMW(w, 64, HV_VMCS_MSR_BITMAP, vcpu->msr_bitmap_pa);
    VMW(w, 64, HV_VMCS_TSC_OFFSET, 0);
    if (ctl->proc2 & HV_PROC2_ENABLE_VPID)
        VMW(w, 16, HV_VMCS_VPID, (uint16_t)(vcpu->index + 1u)); /* VPID 0 is the host's */
    /* XSAVES/XRSTORS exit for the bits of EDX:EAX & IA32_XSS set in this
     * bitmap (SDM Vol. 3C, 26.1.3, 25.6.20); an unwritten field holds
     * whatever the region held. 0: they never exit. */
    if (ctl->proc2 & HV_PROC2_ENABLE_XSAVES)
        VMW(w, 64, HV_VMCS_XSS_EXIT_BITMAP, 0);
    VMW(w, nat, HV_VMCS_CR0_GUEST_HOST_MASK, cr0_mask);
    VMW(w, nat, HV_VMCS_CR0_READ_SHADOW, vcpu->cr0_before);
    VMW(w, nat, HV_VMCS_CR4_GUEST_HOST_MASK, cr4_mask);
    VMW(w, nat, HV_VMCS_CR4_READ_SHADOW, vcpu->cr4_before & ~HV_CR4_VMXE);
}

/* The OS's state as captured, for giving the CPU back when VMLAUNCH ends
 * in an entry-failure exit (vcpu->launching, exit/exit_misc.c): the VMCS's
 * guest fields cannot be trusted then, it is what the entry refused. RIP
 * and RSP are filled in from the launch stub's own fields at that time. */
static void remember_launch_state(struct hv_vcpu *vcpu, const struct captured *cap,
                                  const struct hv_guest_entry *entry)
{
    struct hv_guest_resume *r = &vcpu->resume;

    hv_lib_zero(r, sizeof(*r));
    r->rflags = entry->rflags | HV_RFLAGS_FIXED;
    r->cr0 = cap->cr0;
    r->cr3 = cap->cr3;
    r->cr4 = cap->cr4 & ~HV_CR4_VMXE;
    r->dr7 = cap->dr7;
    r->debugctl = cap->debugctl;
    r->fs_base = cap->fs_base;
    r->gs_base = cap->gs_base;
    r->gdtr_base = cap->gdtr.base;
    r->gdtr_limit = cap->gdtr.limit;
    r->idtr_base = cap->idtr.base;
    r->idtr_limit = cap->idtr.limit;
    r->tr_selector = cap->seg[HV_SEG_TR].sel;
    r->ldtr_selector = cap->seg[HV_SEG_LDTR].sel;
    r->sysenter_cs = (uint32_t)cap->sysenter_cs;
    r->sysenter_esp = cap->sysenter_esp;
    r->sysenter_eip = cap->sysenter_eip;
    r->restore_pat = true;
    r->pat = cap->pat;
    r->restore_efer = true;
    r->efer = cap->efer;
}

hv_status_t hv_vmcs_setup(struct hv_vcpu *vcpu, const struct hv_guest_entry *entry)
{
    struct captured cap;
    struct writer w;
    hv_status_t st;

    if (vcpu == NULL || entry == NULL || vcpu->hv == NULL || vcpu->host_stack == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    if (!(vcpu->steps & HV_STEP_VMCS_LOADED))
        return HV_STATUS_NOT_VIRTUALIZED;

    st = choose_controls(vcpu);
    if (!hv_success(st))
        return st;
    hv_lib_zero(&cap, sizeof(cap));
    st = capture(&cap);
    if (!hv_success(st))
        return st;

    w.vcpu = vcpu;
    w.st = HV_STATUS_SUCCESS;
    w.failed_field = 0;
    write_controls(&w, vcpu);
    write_host_state(&w, vcpu, &cap);
    write_guest_state(&w, &cap, entry);
    if (!hv_success(w.st)) {
        char buf[160];
        struct hv_sb sb;

        hv_sb_init(&sb, buf, sizeof(buf));
        hv_sb_str(&sb, "VMCS setup: VMWRITE ");
        hv_sb_str(&sb, hv_vmcs_field_name(w.failed_field));
        hv_sb_str(&sb, " failed: ");
        hv_sb_status(&sb, w.st);
        hv_lib_log(vcpu->hv->os, HV_LOG_ERROR, buf);
        return w.st;
    }
    remember_launch_state(vcpu, &cap, entry);
    /* The guest reads and writes its own virtual FEATURE_CONTROL. */
    st = hv_msr_bitmap_set(vcpu, HV_MSR_IA32_FEATURE_CONTROL, true, true);
    if (!hv_success(st))
        return st;
    vcpu->steps |= HV_STEP_VMCS_SETUP;
    return HV_STATUS_SUCCESS;
}
