/* SPDX-License-Identifier: MIT */
/*
 * Test hook: named corruptions of the current VMCS, applied just before
 * VMLAUNCH (hv_config.test_corrupt) so that the VM-entry diagnosis can be
 * compared with what the processor, or an emulator with its own checks
 * (Bochs), says about the same failure. Each line is meant to trip the
 * check whose name it carries (vmcs_diagnose.h) and, as far as possible,
 * no other. Never applied unless a test asks for it by name.
 */
#include <hvcore/vmcs.h>
#include <hvcore/vmcs_diagnose.h>
#include <hvcore/vmx.h>

#define ALL (~0ull)
#define NONCANON 0x0100000000001000ull   /* bit 56 alone: canonical with neither 48 nor 57 bits */

struct corrupt_op {
    uint32_t field;
    uint64_t clear, set;                 /* new = (old & ~clear) | set */
};
struct corruption {
    const char *name;
    uint32_t nops;
    struct corrupt_op op[3];
};

#define OP1(f, c, s) 1, { { (f), (c), (s) } }
#define OP2(f, c, s, g, d, t) 2, { { (f), (c), (s) }, { (g), (d), (t) } }
#define OP3(f, c, s, g, d, t, h, e, u) 3, { { (f), (c), (s) }, { (g), (d), (t) }, { (h), (e), (u) } }
#define PIN HV_VMCS_PIN_BASED_VM_EXEC_CONTROL
#define PROC HV_VMCS_CPU_BASED_VM_EXEC_CONTROL
#define PROC2 HV_VMCS_SECONDARY_VM_EXEC_CONTROL
#define INFO HV_VMCS_VM_ENTRY_INTR_INFO

static const struct corruption k_corrupt[] = {
    { "ctl.pin.allowed0", OP1(PIN, 0x2, 0) },
    { "ctl.pin.allowed1", OP1(PIN, 0, 1u << 31) },
    { "ctl.proc.allowed0", OP1(PROC, 0x2, 0) },
    { "ctl.proc.allowed1", OP1(PROC, 0, 0x1) },
    { "ctl.proc2.allowed1", OP1(PROC2, 0, 1u << 31) },
    { "ctl.exit.allowed0", OP1(HV_VMCS_VM_EXIT_CONTROLS, 0x1, 0) },
    { "ctl.exit.allowed1", OP1(HV_VMCS_VM_EXIT_CONTROLS, 0, 1u << 31) },
    { "ctl.entry.allowed0", OP1(HV_VMCS_VM_ENTRY_CONTROLS, 0x1, 0) },
    { "ctl.entry.allowed1", OP1(HV_VMCS_VM_ENTRY_CONTROLS, 0, 1u << 31) },
    { "ctl.cr3-target-count", OP1(HV_VMCS_CR3_TARGET_COUNT, ALL, 100) },
    { "ctl.msr-bitmap", OP1(HV_VMCS_MSR_BITMAP, 0, 0x800) },
    { "ctl.io-bitmap-a", OP3(PROC, 0, HV_PROC_USE_IO_BITMAPS, HV_VMCS_IO_BITMAP_A, ALL, 0x1234,
                             HV_VMCS_IO_BITMAP_B, ALL, 0) },
    { "ctl.virtual-nmis", OP2(PIN, HV_PIN_NMI_EXITING, HV_PIN_VIRTUAL_NMIS, PROC, HV_PROC_NMI_WINDOW_EXITING, 0) },
    { "ctl.nmi-window", OP2(PIN, HV_PIN_VIRTUAL_NMIS, 0, PROC, 0, HV_PROC_NMI_WINDOW_EXITING) },
    { "ctl.vpid-zero", OP2(PROC2, 0, HV_PROC2_ENABLE_VPID, HV_VMCS_VPID, ALL, 0) },
    { "ctl.unrestricted-needs-ept", OP1(PROC2, HV_PROC2_ENABLE_EPT, HV_PROC2_UNRESTRICTED_GUEST) },
    { "ctl.apic-access-addr", OP2(PROC2, 0, HV_PROC2_VIRTUALIZE_APIC_ACCESSES, HV_VMCS_APIC_ACCESS_ADDR, ALL, 0x10) },
    { "ctl.virtual-apic-page", OP3(PROC, 0, HV_PROC_USE_TPR_SHADOW, HV_VMCS_VIRTUAL_APIC_PAGE_ADDR, ALL, 0x10,
                                   HV_VMCS_TPR_THRESHOLD, ALL, 0) },
    { "ctl.eptp-memtype", OP2(PROC2, 0, HV_PROC2_ENABLE_EPT, HV_VMCS_EPT_POINTER, ALL, 0x1019) },
    { "ctl.exit.save-timer", OP2(HV_VMCS_VM_EXIT_CONTROLS, 0, 1u << 22, PIN, HV_PIN_PREEMPTION_TIMER, 0) },
    { "ctl.exit.msr-store-addr", OP2(HV_VMCS_VM_EXIT_MSR_STORE_COUNT, ALL, 1, HV_VMCS_VM_EXIT_MSR_STORE_ADDR, ALL, 8) },
    { "ctl.exit.msr-load-addr", OP2(HV_VMCS_VM_EXIT_MSR_LOAD_COUNT, ALL, 1, HV_VMCS_VM_EXIT_MSR_LOAD_ADDR, ALL, 8) },
    { "ctl.entry.msr-load-addr", OP2(HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT, ALL, 1, HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR, ALL, 8) },
    { "ctl.entry.intr-type", OP1(INFO, ALL, HV_INTR_INFO_VALID | 0x120u) },
    { "ctl.entry.intr-nmi-vector", OP1(INFO, ALL, HV_INTR_INFO_VALID | 0x203u) },
    { "ctl.entry.intr-hw-vector", OP1(INFO, ALL, HV_INTR_INFO_VALID | 0x320u) },
    { "ctl.entry.intr-deliver-code", OP1(INFO, ALL, HV_INTR_INFO_VALID | 0x30Du) },
    { "host.cr0", OP1(HV_VMCS_HOST_CR0, HV_CR0_NE, 0) },
    { "host.cr4", OP1(HV_VMCS_HOST_CR4, HV_CR4_VMXE, 0) },
    { "host.cr3", OP1(HV_VMCS_HOST_CR3, 0, 1ull << 52) },
    { "host.selector-ti-rpl", OP1(HV_VMCS_HOST_DS_SELECTOR, 0, 3) },
    { "host.cs-null", OP1(HV_VMCS_HOST_CS_SELECTOR, ALL, 0) },
    { "host.tr-null", OP1(HV_VMCS_HOST_TR_SELECTOR, ALL, 0) },
    { "host.fs-base", OP1(HV_VMCS_HOST_FS_BASE, ALL, NONCANON) },
    { "host.gs-base", OP1(HV_VMCS_HOST_GS_BASE, ALL, NONCANON) },
    { "host.tr-base", OP1(HV_VMCS_HOST_TR_BASE, ALL, NONCANON) },
    { "host.gdtr-base", OP1(HV_VMCS_HOST_GDTR_BASE, ALL, NONCANON) },
    { "host.idtr-base", OP1(HV_VMCS_HOST_IDTR_BASE, ALL, NONCANON) },
    { "host.sysenter-esp", OP1(HV_VMCS_HOST_IA32_SYSENTER_ESP, ALL, NONCANON) },
    { "host.sysenter-eip", OP1(HV_VMCS_HOST_IA32_SYSENTER_EIP, ALL, NONCANON) },
    { "host.pat", OP1(HV_VMCS_HOST_IA32_PAT, 0xFF, 0x02) },
    { "host.efer-reserved", OP1(HV_VMCS_HOST_IA32_EFER, 0, 0x2) },
    { "host.efer-lma-lme", OP1(HV_VMCS_HOST_IA32_EFER, HV_EFER_LMA, 0) },
    { "host.cr4-pae-64bit", OP1(HV_VMCS_HOST_CR4, HV_CR4_PAE, 0) },
    { "host.rip-canonical", OP1(HV_VMCS_HOST_RIP, ALL, NONCANON) },
    { "addr.host64-required", OP1(HV_VMCS_VM_EXIT_CONTROLS, HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE, 0) },
    { "guest.cr0", OP1(HV_VMCS_GUEST_CR0, HV_CR0_NE, 0) },
    { "guest.cr4", OP1(HV_VMCS_GUEST_CR4, HV_CR4_VMXE, 0) },
    { "guest.cr3", OP1(HV_VMCS_GUEST_CR3, 0, 1ull << 52) },
    { "guest.dr7", OP1(HV_VMCS_GUEST_DR7, 0, 1ull << 32) },
    { "guest.rflags-bit1", OP1(HV_VMCS_GUEST_RFLAGS, HV_RFLAGS_FIXED, 0) },
    { "guest.rflags-reserved", OP1(HV_VMCS_GUEST_RFLAGS, 0, 0x8) },
    { "guest.rflags-vm", OP1(HV_VMCS_GUEST_RFLAGS, 0, HV_RFLAGS_VM) },
    { "guest.ldtr-type", OP2(HV_VMCS_GUEST_LDTR_AR_BYTES, ALL, 0x83, HV_VMCS_GUEST_LDTR_SELECTOR, ALL, 0) },
    { "guest.tr-type", OP1(HV_VMCS_GUEST_TR_AR_BYTES, 0xF, 0x9) },
    { "guest.tr-ti", OP1(HV_VMCS_GUEST_TR_SELECTOR, 0, 4) },
    { "guest.cs-type", OP1(HV_VMCS_GUEST_CS_AR_BYTES, 0xF, 0x8) },
    { "guest.cs-l-db", OP1(HV_VMCS_GUEST_CS_AR_BYTES, 0, 1u << 14) },
    { "guest.seg-p", OP1(HV_VMCS_GUEST_SS_AR_BYTES, 0x80, 0) },
    { "guest.fs-base", OP1(HV_VMCS_GUEST_FS_BASE, ALL, NONCANON) },
    { "guest.idtr-base", OP1(HV_VMCS_GUEST_IDTR_BASE, ALL, NONCANON) },
    { "guest.gdtr-limit", OP1(HV_VMCS_GUEST_GDTR_LIMIT, 0, 1u << 16) },
    { "guest.sysenter-esp", OP1(HV_VMCS_GUEST_SYSENTER_ESP, ALL, NONCANON) },
    { "guest.pat", OP1(HV_VMCS_GUEST_IA32_PAT, 0xFF, 0x02) },
    { "guest.efer-reserved", OP1(HV_VMCS_GUEST_IA32_EFER, 0, 0x2) },
    { "guest.activity", OP1(HV_VMCS_GUEST_ACTIVITY_STATE, ALL, 5) },
    { "guest.intr-sti-movss", OP1(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, ALL, 3) },
    { "guest.pending-dbg", OP1(HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0, 0x10) },
    { "guest.link-pointer", OP1(HV_VMCS_VMCS_LINK_POINTER, ALL, 0x10) },
};

static bool same(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

uint32_t hv_vmcs_corrupt_count(void)
{
    return (uint32_t)(sizeof(k_corrupt) / sizeof(k_corrupt[0]));
}

const char *hv_vmcs_corrupt_name(uint32_t index)
{
    return index < hv_vmcs_corrupt_count() ? k_corrupt[index].name : NULL;
}

hv_status_t hv_vmcs_corrupt_apply(const char *name)
{
    const struct corruption *c = NULL;
    hv_status_t st;
    uint64_t v;
    uint32_t i;

    if (name == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    for (i = 0; i < hv_vmcs_corrupt_count() && c == NULL; i++) {
        if (same(k_corrupt[i].name, name))
            c = &k_corrupt[i];
    }
    if (c == NULL)
        return HV_STATUS_NOT_FOUND;
    for (i = 0; i < c->nops; i++) {
        v = 0;
        /* A field replaced whole is not read (it may never have been
         * written); otherwise an unsupported one counts as 0. */
        if (c->op[i].clear != ALL)
            (void)hv_vmcs_read(c->op[i].field, &v);
        st = hv_vmcs_write(c->op[i].field, (v & ~c->op[i].clear) | c->op[i].set);
        if (!hv_success(st))
            return st;
    }
    return HV_STATUS_SUCCESS;
}
