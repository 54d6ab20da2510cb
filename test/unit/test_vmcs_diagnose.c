/* hv_vmcs_diagnose: a clean VMCS set up by the core passes every check;
 * for each check, one corruption of the fields it reads makes exactly that
 * check fail (plus only the ones a recipe names as unavoidable companions),
 * and the mock's VMLAUNCH (which decides with the same code) fails the way
 * the check's kind says. */
#include "support.h"
#include "exit_fixture.h"

#include <stdio.h>

#include <string.h>

static struct hv *g_hv;
static struct hv_vcpu *g_v;
static uint64_t *g_page;       /* a zeroed fake-OS page (pa == va) */

#define PAGE 0xFEEDFACE00000000ull  /* in `set`: replaced by the page's address */
#define ALL (~0ull)
#define NONCANON 0x0100000000001000ull  /* bit 56 alone: not canonical with 48 or 57 bits */
#define NOCAP 0                   /* no environment tweak */

struct op {
    uint32_t field;
    uint64_t clear, set;           /* new = (old & ~clear) | set */
};
enum tweak { TW_NONE = 0, TW_PROC2_ALLOWED0, TW_NO_EPT_AD, TW_CPU_NOT_IA32E, TW_BNDCFGS };
struct recipe {
    const char *check;
    struct op ops[8];
    const char *also[4];           /* other checks this corruption must also trip */
    uint64_t page[2];              /* first two quadwords of the page */
    uint32_t vtpr;                 /* byte 0x80 of the page */
    enum tweak tweak;
};

#define PIN HV_VMCS_PIN_BASED_VM_EXEC_CONTROL
#define PROC HV_VMCS_CPU_BASED_VM_EXEC_CONTROL
#define PROC2 HV_VMCS_SECONDARY_VM_EXEC_CONTROL
#define EXITC HV_VMCS_VM_EXIT_CONTROLS
#define ENTRYC HV_VMCS_VM_ENTRY_CONTROLS
#define INFO HV_VMCS_VM_ENTRY_INTR_INFO
#define G(f) HV_VMCS_GUEST_##f
#define H(f) HV_VMCS_HOST_##f
#define EPT_OK { PROC2, 0, HV_PROC2_ENABLE_EPT }, { HV_VMCS_EPT_POINTER, ALL, PAGE | 0x1E }
#define TPR_OK { PROC, 0, HV_PROC_USE_TPR_SHADOW }, { HV_VMCS_VIRTUAL_APIC_PAGE_ADDR, ALL, PAGE }
#define V(x) (HV_INTR_INFO_VALID | (x))
#define SET(f, v) { f, ALL, v }
#define OR(f, v) { f, 0, v }
#define CLR(f, v) { f, v, 0 }
#define NOT_64 CLR(ENTRYC, HV_ENTRY_CTL_IA32E_MODE_GUEST), \
    CLR(G(IA32_EFER), HV_EFER_LMA | HV_EFER_LME), CLR(G(CR4), 1ull << 17), SET(G(RIP), 0x1000)

static const struct recipe k_recipes[] = {
    { "ctl.pin.allowed0", { CLR(PIN, 0x2) } },
    { "ctl.pin.allowed1", { OR(PIN, 1u << 31) } },
    { "ctl.proc.allowed0", { CLR(PROC, 0x2) } },
    { "ctl.proc.allowed1", { OR(PROC, 0x1) } },
    { "ctl.proc2.allowed0", { OR(PROC2, 0) }, .tweak = TW_PROC2_ALLOWED0 },
    { "ctl.proc2.allowed1", { OR(PROC2, 1u << 31) } },
    { "ctl.proc3.allowed1", { OR(PROC, HV_PROC_ACTIVATE_TERTIARY), SET(HV_VMCS_TERTIARY_PROC_CONTROLS, 1ull << 63) } },
    { "ctl.cr3-target-count", { SET(HV_VMCS_CR3_TARGET_COUNT, 100) } },
    { "ctl.io-bitmap-a", { OR(PROC, HV_PROC_USE_IO_BITMAPS), SET(HV_VMCS_IO_BITMAP_A, 0x1234), SET(HV_VMCS_IO_BITMAP_B, PAGE) } },
    { "ctl.io-bitmap-b", { OR(PROC, HV_PROC_USE_IO_BITMAPS), SET(HV_VMCS_IO_BITMAP_A, PAGE), SET(HV_VMCS_IO_BITMAP_B, 0x1234) } },
    { "ctl.msr-bitmap", { OR(HV_VMCS_MSR_BITMAP, 0x800) } },
    { "ctl.virtual-apic-page", { OR(PROC, HV_PROC_USE_TPR_SHADOW), SET(HV_VMCS_VIRTUAL_APIC_PAGE_ADDR, 0x10) } },
    { "ctl.tpr-threshold", { TPR_OK, SET(HV_VMCS_TPR_THRESHOLD, 0x10) } },
    { "ctl.tpr-threshold-vtpr", { TPR_OK, SET(HV_VMCS_TPR_THRESHOLD, 0x5) }, .vtpr = 0x40 },
    { "ctl.apicv-needs-tpr-shadow", { OR(PROC2, HV_PROC2_VIRTUALIZE_X2APIC) } },
    { "ctl.virtual-nmis", { OR(PIN, HV_PIN_VIRTUAL_NMIS), CLR(PIN, HV_PIN_NMI_EXITING) } },
    { "ctl.nmi-window", { CLR(PIN, HV_PIN_VIRTUAL_NMIS), OR(PROC, HV_PROC_NMI_WINDOW_EXITING) } },
    { "ctl.apic-access-addr", { OR(PROC2, HV_PROC2_VIRTUALIZE_APIC_ACCESSES), SET(HV_VMCS_APIC_ACCESS_ADDR, 0x10) } },
    { "ctl.x2apic-apic-access", { TPR_OK, OR(PROC2, HV_PROC2_VIRTUALIZE_APIC_ACCESSES | HV_PROC2_VIRTUALIZE_X2APIC),
                                  SET(HV_VMCS_APIC_ACCESS_ADDR, PAGE) } },
    { "ctl.vid-ext-int-exiting", { TPR_OK, OR(PROC2, 1u << 9), CLR(PIN, HV_PIN_EXTERNAL_INTERRUPT_EXITING) } },
    { "ctl.posted-interrupts", { OR(PIN, HV_PIN_POSTED_INTERRUPTS) } },
    { "ctl.posted-vector", { TPR_OK, OR(PIN, HV_PIN_POSTED_INTERRUPTS | HV_PIN_EXTERNAL_INTERRUPT_EXITING),
                             OR(PROC2, 1u << 9), OR(EXITC, HV_EXIT_CTL_ACK_INTERRUPT_ON_EXIT),
                             SET(HV_VMCS_POSTED_INTR_NOTIFY_VECTOR, 0x1F2), SET(HV_VMCS_POSTED_INTR_DESC_ADDR, PAGE) } },
    { "ctl.posted-desc-addr", { TPR_OK, OR(PIN, HV_PIN_POSTED_INTERRUPTS | HV_PIN_EXTERNAL_INTERRUPT_EXITING),
                                OR(PROC2, 1u << 9), OR(EXITC, HV_EXIT_CTL_ACK_INTERRUPT_ON_EXIT),
                                SET(HV_VMCS_POSTED_INTR_NOTIFY_VECTOR, 0xF2), SET(HV_VMCS_POSTED_INTR_DESC_ADDR, 0x1008) } },
    { "ctl.vpid-zero", { OR(PROC2, HV_PROC2_ENABLE_VPID), SET(HV_VMCS_VPID, 0) } },
    { "ctl.eptp-memtype", { OR(PROC2, HV_PROC2_ENABLE_EPT), SET(HV_VMCS_EPT_POINTER, PAGE | 0x19) } },
    { "ctl.eptp-walk-length", { OR(PROC2, HV_PROC2_ENABLE_EPT), SET(HV_VMCS_EPT_POINTER, PAGE | 0x0E) } },
    { "ctl.eptp-ad", { OR(PROC2, HV_PROC2_ENABLE_EPT), SET(HV_VMCS_EPT_POINTER, PAGE | 0x5E) }, .tweak = TW_NO_EPT_AD },
    { "ctl.eptp-reserved", { OR(PROC2, HV_PROC2_ENABLE_EPT), SET(HV_VMCS_EPT_POINTER, PAGE | 0x11E) } },
    { "ctl.pml-needs-ept", { OR(PROC2, 1u << 17), SET(HV_VMCS_PML_ADDRESS, PAGE) } },
    { "ctl.pml-addr", { EPT_OK, OR(PROC2, 1u << 17), SET(HV_VMCS_PML_ADDRESS, 0x10) } },
    { "ctl.unrestricted-needs-ept", { OR(PROC2, HV_PROC2_UNRESTRICTED_GUEST) } },
    { "ctl.mbec-needs-ept", { OR(PROC2, 1u << 22) } },
    { "ctl.vmfunc-reserved", { OR(PROC2, HV_PROC2_ENABLE_VMFUNC), SET(HV_VMCS_VM_FUNCTION_CONTROLS, 1u << 5) } },
    { "ctl.eptp-switch-needs-ept", { OR(PROC2, HV_PROC2_ENABLE_VMFUNC), SET(HV_VMCS_VM_FUNCTION_CONTROLS, 1),
                                     SET(HV_VMCS_EPTP_LIST_ADDR, PAGE) } },
    { "ctl.eptp-list-addr", { EPT_OK, OR(PROC2, HV_PROC2_ENABLE_VMFUNC), SET(HV_VMCS_VM_FUNCTION_CONTROLS, 1),
                              SET(HV_VMCS_EPTP_LIST_ADDR, 0x10) } },
    { "ctl.vmread-bitmap", { OR(PROC2, 1u << 14), SET(HV_VMCS_VMREAD_BITMAP, 0x10), SET(HV_VMCS_VMWRITE_BITMAP, PAGE) } },
    { "ctl.vmwrite-bitmap", { OR(PROC2, 1u << 14), SET(HV_VMCS_VMREAD_BITMAP, PAGE), SET(HV_VMCS_VMWRITE_BITMAP, 0x10) } },
    { "ctl.ve-info-addr", { EPT_OK, OR(PROC2, 1u << 18), SET(HV_VMCS_VE_INFO_ADDR, 0x10) } },
    { "ctl.spp-needs-ept", { OR(PROC2, 1u << 23), SET(HV_VMCS_SPP_TABLE_POINTER, PAGE) }, { "ctl.proc2.allowed1" } },
    { "ctl.spp-table", { EPT_OK, OR(PROC2, 1u << 23), SET(HV_VMCS_SPP_TABLE_POINTER, 0x10) }, { "ctl.proc2.allowed1" } },
    { "ctl.tsc-multiplier", { OR(PROC2, 1u << 25), SET(HV_VMCS_TSC_MULTIPLIER, 0) }, { "ctl.proc2.allowed1" } },
    { "ctl.exit.allowed0", { CLR(EXITC, 0x1) } },
    { "ctl.exit.allowed1", { OR(EXITC, 1u << 1 << 30) } },
    { "ctl.exit.save-timer", { OR(EXITC, 1u << 22), CLR(PIN, HV_PIN_PREEMPTION_TIMER) } },
    { "ctl.exit.msr-store-addr", { SET(HV_VMCS_VM_EXIT_MSR_STORE_COUNT, 1), SET(HV_VMCS_VM_EXIT_MSR_STORE_ADDR, 0x8) } },
    { "ctl.exit.msr-load-addr", { SET(HV_VMCS_VM_EXIT_MSR_LOAD_COUNT, 1), SET(HV_VMCS_VM_EXIT_MSR_LOAD_ADDR, 0x8) } },
    { "ctl.entry.allowed0", { CLR(ENTRYC, 0x1) } },
    { "ctl.entry.allowed1", { OR(ENTRYC, 1u << 31) } },
    { "ctl.entry.intr-type", { SET(INFO, V(0x100 | 0x20)) } },
    { "ctl.entry.intr-nmi-vector", { SET(INFO, V(0x200 | 3)) } },
    { "ctl.entry.intr-hw-vector", { SET(INFO, V(0x300 | 32)) } },
    { "ctl.entry.intr-other-vector", { SET(INFO, V(0x700 | 1)) } },
    { "ctl.entry.intr-deliver-code", { SET(INFO, V(0x300 | 13)) } },
    { "ctl.entry.intr-reserved", { SET(INFO, V(0x1000 | 0x300 | 6)) } },
    { "ctl.entry.error-code", { SET(INFO, V(0x800 | 0x300 | 13)), SET(HV_VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE, 0x10000) } },
    { "ctl.entry.instr-len", { SET(INFO, V(0x400 | 0x80)), SET(HV_VMCS_VM_ENTRY_INSTRUCTION_LEN, 16) } },
    { "ctl.entry.msr-load-addr", { SET(HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT, 1), SET(HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR, 0x8) } },
    { "ctl.entry.smm", { OR(ENTRYC, 1u << 10) }, { "ctl.entry.allowed1" } },
    { "host.cr0", { CLR(H(CR0), HV_CR0_NE) } },
    { "host.cr4", { CLR(H(CR4), HV_CR4_VMXE) } },
    { "host.cr3", { OR(H(CR3), 1ull << 52) } },
    { "host.cr4-cet-wp", { OR(H(CR4), 1ull << 23), CLR(H(CR0), HV_CR0_WP) } },
    { "host.sysenter-esp", { SET(H(IA32_SYSENTER_ESP), NONCANON) } },
    { "host.sysenter-eip", { SET(H(IA32_SYSENTER_EIP), NONCANON) } },
    { "host.pat", { OR(EXITC, HV_EXIT_CTL_LOAD_PAT), SET(H(IA32_PAT), 0x0007040600070402ull) } },
    { "host.efer-reserved", { OR(EXITC, HV_EXIT_CTL_LOAD_EFER), SET(H(IA32_EFER), 0xD02) } },
    { "host.efer-lma-lme", { OR(EXITC, HV_EXIT_CTL_LOAD_EFER), SET(H(IA32_EFER), 0x101) } },
    { "host.s-cet", { OR(EXITC, HV_EXIT_CTL_LOAD_CET_STATE), SET(H(S_CET), 0x40) } },
    { "host.ssp", { OR(EXITC, HV_EXIT_CTL_LOAD_CET_STATE), SET(H(SSP), 0x1001) } },
    { "host.ssp-table", { OR(EXITC, HV_EXIT_CTL_LOAD_CET_STATE), SET(H(INTR_SSP_TABLE_ADDR), NONCANON) } },
    { "host.pkrs", { OR(EXITC, HV_EXIT_CTL_LOAD_PKRS), SET(H(IA32_PKRS), 1ull << 32) } },
    { "host.selector-ti-rpl", { OR(H(DS_SELECTOR), 3) } },
    { "host.cs-null", { SET(H(CS_SELECTOR), 0) } },
    { "host.tr-null", { SET(H(TR_SELECTOR), 0) } },
    { "host.ss-null", { CLR(EXITC, HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE), SET(H(SS_SELECTOR), 0) },
      { "addr.host64-required", "addr.ia32e-guest-host32", "host.rip-32bit", "host.efer-lma-lme" } },
    { "host.fs-base", { SET(H(FS_BASE), NONCANON) } },
    { "host.gs-base", { SET(H(GS_BASE), NONCANON) } },
    { "host.tr-base", { SET(H(TR_BASE), NONCANON) } },
    { "host.gdtr-base", { SET(H(GDTR_BASE), NONCANON) } },
    { "host.idtr-base", { SET(H(IDTR_BASE), NONCANON) } },
    { "addr.cpu-not-ia32e", { OR(EXITC, 0) }, .tweak = TW_CPU_NOT_IA32E },
    { "addr.host64-required", { CLR(EXITC, HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE), SET(H(RIP), 0x1000),
                                CLR(ENTRYC, HV_ENTRY_CTL_IA32E_MODE_GUEST) },
      { "host.efer-lma-lme", "guest.efer-lma", "guest.rip-high" } },
    { "addr.ia32e-guest-host32", { CLR(EXITC, HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE), SET(H(RIP), 0x1000) },
      { "addr.host64-required", "host.efer-lma-lme" } },
    { "host.cr4-pcide-32bit", { CLR(EXITC, HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE), SET(H(RIP), 0x1000), OR(H(CR4), 1ull << 17) },
      { "addr.host64-required", "addr.ia32e-guest-host32", "host.efer-lma-lme" } },
    { "host.rip-32bit", { CLR(EXITC, HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE) },
      { "addr.host64-required", "addr.ia32e-guest-host32", "host.efer-lma-lme" } },
    { "host.cr4-pae-64bit", { CLR(H(CR4), HV_CR4_PAE) } },
    { "host.rip-canonical", { SET(H(RIP), NONCANON) } },
    { "guest.cr0", { CLR(G(CR0), HV_CR0_NE) } },
    { "guest.cr0-pg-without-pe", { CLR(G(CR0), HV_CR0_PE) }, { "guest.cr0" } },
    { "guest.cr4", { CLR(G(CR4), HV_CR4_VMXE) } },
    { "guest.cr4-cet-wp", { OR(G(CR4), 1ull << 23), CLR(G(CR0), HV_CR0_WP) } },
    { "guest.debugctl", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_DEBUG_CONTROLS), SET(G(IA32_DEBUGCTL), 0x4) } },
    { "guest.ia32e-needs-pg", { CLR(G(CR0), HV_CR0_PG) }, { "guest.cr0" } },
    { "guest.ia32e-needs-pae", { CLR(G(CR4), HV_CR4_PAE) } },
    { "guest.pcide-outside-ia32e", { NOT_64, OR(G(CR4), 1ull << 17), CLR(G(CS_AR_BYTES), 1u << 13) } },
    { "guest.cr3", { OR(G(CR3), 1ull << 52) } },
    { "guest.dr7", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_DEBUG_CONTROLS), OR(G(DR7), 1ull << 32) } },
    { "guest.sysenter-esp", { SET(G(SYSENTER_ESP), NONCANON) } },
    { "guest.sysenter-eip", { SET(G(SYSENTER_EIP), NONCANON) } },
    { "guest.pat", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_PAT), SET(G(IA32_PAT), 0x0007040600070403ull) } },
    { "guest.efer-reserved", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_EFER), SET(G(IA32_EFER), 0xD03) } },
    { "guest.efer-lma", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_EFER), SET(G(IA32_EFER), 0x901) }, { "guest.efer-lme" } },
    { "guest.efer-lme", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_EFER), SET(G(IA32_EFER), 0xC01) } },
    /* This CPU has no MPX: the tweak offers "load IA32_BNDCFGS" and a BNDCFGS of 0x4. */
    { "guest.bndcfgs", { OR(ENTRYC, 0) }, .tweak = TW_BNDCFGS },
    { "guest.s-cet", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_CET_STATE), SET(G(S_CET), 0x40) } },
    { "guest.ssp", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_CET_STATE), SET(G(SSP), 0x1002) } },
    { "guest.ssp-table", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_CET_STATE), SET(G(INTR_SSP_TABLE_ADDR), NONCANON) } },
    { "guest.pkrs", { OR(ENTRYC, HV_ENTRY_CTL_LOAD_PKRS), SET(G(IA32_PKRS), 1ull << 32) } },
    { "guest.tr-ti", { OR(G(TR_SELECTOR), 4) } },
    { "guest.ldtr-ti", { SET(G(LDTR_SELECTOR), 0x54), SET(G(LDTR_AR_BYTES), 0x82) } },
    { "guest.ss-rpl", { OR(G(SS_SELECTOR), 3) }, { "guest.ss-dpl-rpl" } },
    { "guest.v86-base", { NOT_64, OR(G(RFLAGS), HV_RFLAGS_VM) }, { "guest.v86-limit", "guest.v86-ar" } },
    { "guest.v86-limit", { NOT_64, OR(G(RFLAGS), HV_RFLAGS_VM) }, { "guest.v86-base", "guest.v86-ar" } },
    { "guest.v86-ar", { NOT_64, OR(G(RFLAGS), HV_RFLAGS_VM) }, { "guest.v86-base", "guest.v86-limit" } },
    { "guest.tr-base", { SET(G(TR_BASE), NONCANON) } },
    { "guest.fs-base", { SET(G(FS_BASE), NONCANON) } },
    { "guest.gs-base", { SET(G(GS_BASE), NONCANON) } },
    { "guest.ldtr-base", { SET(G(LDTR_AR_BYTES), 0x82), SET(G(LDTR_BASE), NONCANON) } },
    { "guest.cs-base", { OR(G(CS_BASE), 1ull << 32) } },
    { "guest.data-base", { OR(G(SS_BASE), 1ull << 32) } },
    { "guest.cs-type", { CLR(G(CS_AR_BYTES), 0xF), OR(G(CS_AR_BYTES), 0x8) } },
    { "guest.seg-s", { CLR(G(SS_AR_BYTES), 0x10) } },
    { "guest.seg-p", { CLR(G(SS_AR_BYTES), 0x80) } },
    { "guest.seg-ar-reserved", { OR(G(SS_AR_BYTES), 0x100) } },
    { "guest.seg-limit-g", { SET(G(SS_LIMIT), 0xFFFFF000u) } },
    { "guest.cs-dpl", { OR(G(CS_AR_BYTES), 0x60) } },
    { "guest.cs-l-db", { OR(G(CS_AR_BYTES), 1u << 14) } },
    { "guest.ss-type", { CLR(G(SS_AR_BYTES), 0xF), OR(G(SS_AR_BYTES), 0x1) } },
    { "guest.ss-dpl-rpl", { OR(G(SS_AR_BYTES), 0x60) }, { "guest.cs-dpl" } },
    { "guest.ss-dpl-zero", { EPT_OK, OR(PROC2, HV_PROC2_UNRESTRICTED_GUEST), CLR(G(CS_AR_BYTES), 0xF),
                             OR(G(CS_AR_BYTES), 0x3), OR(G(SS_AR_BYTES), 0x60) } },
    { "guest.data-accessed", { SET(G(DS_AR_BYTES), 0xC092), SET(G(DS_LIMIT), 0xFFFFFFFFu) } },
    { "guest.data-code-readable", { SET(G(DS_AR_BYTES), 0xC099), SET(G(DS_LIMIT), 0xFFFFFFFFu) } },
    { "guest.data-dpl-rpl", { SET(G(DS_AR_BYTES), 0xC093), SET(G(DS_LIMIT), 0xFFFFFFFFu), SET(G(DS_SELECTOR), 0x2B) } },
    { "guest.tr-unusable", { OR(G(TR_AR_BYTES), HV_AR_UNUSABLE) } },
    { "guest.tr-type", { CLR(G(TR_AR_BYTES), 0xF), OR(G(TR_AR_BYTES), 0x9) } },
    { "guest.tr-s", { OR(G(TR_AR_BYTES), 0x10) } },
    { "guest.tr-p", { CLR(G(TR_AR_BYTES), 0x80) } },
    { "guest.tr-ar-reserved", { OR(G(TR_AR_BYTES), 0x100) } },
    { "guest.tr-limit-g", { SET(G(TR_LIMIT), 0x100000) } },
    { "guest.ldtr-type", { SET(G(LDTR_AR_BYTES), 0x83) } },
    { "guest.ldtr-s", { SET(G(LDTR_AR_BYTES), 0x92) } },
    { "guest.ldtr-p", { SET(G(LDTR_AR_BYTES), 0x02) } },
    { "guest.ldtr-ar-reserved", { SET(G(LDTR_AR_BYTES), 0x182) } },
    { "guest.ldtr-limit-g", { SET(G(LDTR_AR_BYTES), 0x8082), SET(G(LDTR_LIMIT), 0) } },
    { "guest.gdtr-base", { SET(G(GDTR_BASE), NONCANON) } },
    { "guest.idtr-base", { SET(G(IDTR_BASE), NONCANON) } },
    { "guest.gdtr-limit", { OR(G(GDTR_LIMIT), 1u << 16) } },
    { "guest.idtr-limit", { OR(G(IDTR_LIMIT), 1u << 16) } },
    { "guest.rip-high", { CLR(G(CS_AR_BYTES), 1u << 13) } },
    { "guest.rip-canonical", { SET(G(RIP), NONCANON) } },
    { "guest.rflags-reserved", { OR(G(RFLAGS), 0x8) } },
    { "guest.rflags-bit1", { CLR(G(RFLAGS), 0x2) } },
    { "guest.rflags-vm", { OR(G(RFLAGS), HV_RFLAGS_VM) } },
    { "guest.rflags-if", { SET(INFO, V(0x30)), CLR(G(RFLAGS), HV_RFLAGS_IF) } },
    { "guest.activity", { SET(G(ACTIVITY_STATE), 5) } },
    { "guest.activity-hlt-dpl", { EPT_OK, OR(PROC2, HV_PROC2_UNRESTRICTED_GUEST), OR(G(CS_AR_BYTES), 0xF),
                                  OR(G(SS_AR_BYTES), 0x60), SET(G(ACTIVITY_STATE), 1) } },
    { "guest.activity-blocking", { SET(G(ACTIVITY_STATE), 1), SET(G(INTERRUPTIBILITY_INFO), HV_INTERRUPTIBILITY_STI) } },
    { "guest.activity-event", { SET(G(ACTIVITY_STATE), 1), SET(INFO, V(0x800 | 0x300 | 13)) } },
    { "guest.intr-reserved", { SET(G(INTERRUPTIBILITY_INFO), 0x20) } },
    { "guest.intr-sti-movss", { SET(G(INTERRUPTIBILITY_INFO), 3) } },
    { "guest.intr-sti-if", { SET(G(INTERRUPTIBILITY_INFO), 1), CLR(G(RFLAGS), HV_RFLAGS_IF) } },
    { "guest.intr-ext-blocked", { SET(G(INTERRUPTIBILITY_INFO), 2), SET(INFO, V(0x30)) } },
    { "guest.intr-nmi-movss", { SET(G(INTERRUPTIBILITY_INFO), 2), SET(INFO, V(0x200 | 2)) } },
    { "guest.intr-smi", { SET(G(INTERRUPTIBILITY_INFO), 4) } },
    { "guest.intr-vnmi", { OR(PIN, HV_PIN_VIRTUAL_NMIS | HV_PIN_NMI_EXITING), SET(G(INTERRUPTIBILITY_INFO), 8),
                           SET(INFO, V(0x200 | 2)) } },
    { "guest.pending-dbg", { SET(G(PENDING_DBG_EXCEPTIONS), 0x10) } },
    { "guest.pending-dbg-bs", { SET(G(INTERRUPTIBILITY_INFO), 2), OR(G(RFLAGS), HV_RFLAGS_TF),
                                SET(G(PENDING_DBG_EXCEPTIONS), 0) } },
    { "guest.link-pointer", { SET(HV_VMCS_VMCS_LINK_POINTER, 0x10) } },
    { "guest.link-revision", { SET(HV_VMCS_VMCS_LINK_POINTER, PAGE) } },
    { "guest.pdpte", { NOT_64, CLR(G(CS_AR_BYTES), 1u << 13), EPT_OK, SET(G(PDPTE0), 0x3) } },
    { "msrload.unreadable", { SET(HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT, 1), SET(HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR, 0x10) } },
    { "msrload.fs-gs-base", { SET(HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT, 1), SET(HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR, PAGE) },
      .page = { 0xC0000100u, 0 } },
    { "msrload.x2apic", { SET(HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT, 1), SET(HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR, PAGE) },
      .page = { 0x808u, 0 } },
    { "msrload.smm-only", { SET(HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT, 1), SET(HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR, PAGE) },
      .page = { 0x9Bu, 0 } },
    { "msrload.reserved", { SET(HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT, 1), SET(HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR, PAGE) },
      .page = { (1ull << 32) | 0x10u, 0 } },
};
#define NRECIPES (sizeof(k_recipes) / sizeof(k_recipes[0]))

static int setup(void **state)
{
    const struct hv_guest_entry entry = { .rsp = 0xffffc90000123ff8ull, .rip = 0xffffffff81000123ull,
                                          .rflags = 0x246 };

    (void)state;
    if (support_setup_machine(2, HV_MOCK_PROFILE_SAPPHIRE_RAPIDS))
        return -1;
    if (hv_create(&g_hv, hv_mock_os(), NULL) != HV_STATUS_SUCCESS)
        return -1;
    hv_mock_cpu_bind(1);
    g_v = &g_hv->vcpus[1];
    if (hv_vmx_on(g_v) != HV_STATUS_SUCCESS || hv_vmcs_setup(g_v, &entry) != HV_STATUS_SUCCESS)
        return -1;
    g_page = hv_mock_os()->alloc_pages(hv_mock_os()->ctx, 1);
    return g_page == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    hv_mock_os()->free_pages(hv_mock_os()->ctx, g_page, 1);
    hv_vmx_off(g_v);
    hv_destroy(g_hv);
    hv_mock_fini();
    return 0;
}

static hv_status_t (*g_mock_read)(void *ctx, uint32_t field, uint64_t *value);
static hv_status_t read_with_bndcfgs(void *ctx, uint32_t field, uint64_t *value)
{
    hv_status_t st = g_mock_read(ctx, field, value);

    if (field == HV_VMCS_GUEST_IA32_BNDCFGS)
        *value = 0x4;          /* reserved bit 2 */
    if (field == HV_VMCS_VM_ENTRY_CONTROLS)
        *value |= HV_ENTRY_CTL_LOAD_BNDCFGS;
    return st;
}

static void diagnose(struct hv_vmcs_diag *d, enum tweak tw)
{
    struct hv_vmcs_diag_env env;
    struct hv_vmx_caps caps;

    hv_mock_diag_env(hv_mock_cpu_current(), &caps, &env);
    if (tw == TW_PROC2_ALLOWED0)
        caps.proc2 |= 1u;                  /* "virtualize APIC accesses" must be 1 */
    else if (tw == TW_NO_EPT_AD)
        caps.ept_vpid &= ~(1ull << 21);
    else if (tw == TW_CPU_NOT_IA32E)
        env.cpu_ia32e = false;
    else if (tw == TW_BNDCFGS) {
        caps.entry |= (uint64_t)HV_ENTRY_CTL_LOAD_BNDCFGS << 32;
        g_mock_read = env.read_field;
        env.read_field = read_with_bndcfgs;
    }
    assert_int_equal(hv_vmcs_diagnose(&env, d), HV_STATUS_SUCCESS);
}

static void print_findings(const struct hv_vmcs_diag *d)
{
    char line[320];
    uint32_t i;

    for (i = 0; i < d->count; i++) {
        hv_vmcs_diagnose_format(&d->findings[i], line, sizeof(line));
        print_message("    %s\n", line);
    }
}

static void clean_vmcs_has_no_finding(void **state)
{
    static struct hv_vmcs_diag d;

    (void)state;
    diagnose(&d, TW_NONE);
    print_findings(&d);
    assert_int_equal(d.failed, 0);
    assert_int_equal(d.count, 0);
}

static void every_check_has_a_recipe_and_a_sentence(void **state)
{
    uint32_t i, j;

    (void)state;
    for (i = 0; i < HV_DIAG_CHECK_COUNT; i++) {
        bool found = false;

        assert_true(strlen(hv_vmcs_diagnose_sentence(i)) > 10);
        assert_int_equal(hv_vmcs_diagnose_lookup(hv_vmcs_diagnose_name(i)), (int)i);
        for (j = 0; j < NRECIPES; j++)
            found = found || strcmp(k_recipes[j].check, hv_vmcs_diagnose_name(i)) == 0;
        if (!found)
            fail_msg("check %s has no corruption in the table", hv_vmcs_diagnose_name(i));
    }
    assert_int_equal(hv_vmcs_diagnose_lookup("no.such-check"), -1);
    assert_string_equal(hv_vmcs_diagnose_name(HV_DIAG_CHECK_COUNT), "?");
}

static bool writes(const struct recipe *r, uint32_t field)
{
    uint32_t k;

    for (k = 0; k < 8; k++) {
        if (r->ops[k].field == field && (r->ops[k].clear | r->ops[k].set) != 0)
            return true;
    }
    return false;
}

static bool allowed(const struct recipe *r, uint32_t check)
{
    uint32_t i;

    if (strcmp(r->check, hv_vmcs_diagnose_name(check)) == 0)
        return true;
    for (i = 0; i < 4 && r->also[i] != NULL; i++) {
        if (strcmp(r->also[i], hv_vmcs_diagnose_name(check)) == 0)
            return true;
    }
    return false;
}

/* Given the clean VMCS, when one recipe is applied, then its check (and
 * only its named companions) fail, and VMLAUNCH fails the matching way. */
static void each_corruption_trips_exactly_its_check(void **state)
{
    static struct hv_vmcs_diag d;
    uint64_t saved[8], rsp, rip;
    bool had[8];
    uint32_t i, k, n_ok = 0;

    (void)state;
    for (i = 0; i < NRECIPES; i++) {
        const struct recipe *r = &k_recipes[i];
        int id = hv_vmcs_diagnose_lookup(r->check);
        const struct hv_vmcs_finding *first;
        hv_status_t st, want;
        uint64_t reason = 0;

        if (id < 0)
            fail_msg("recipe %u names unknown check %s", i, r->check);
        memset(g_page, 0, 4096);
        g_page[0] = r->page[0];
        g_page[1] = r->page[1];
        ((uint8_t *)g_page)[0x80] = (uint8_t)r->vtpr;
        for (k = 0; k < 8; k++) {
            const struct op *o = &r->ops[k];
            uint64_t v, set = o->set;

            had[k] = false;
            if (o->field == 0 && o->clear == 0 && o->set == 0)   /* unused slot (VPID is field 0) */
                continue;
            had[k] = hv_mock_vmcs_peek(o->field, &saved[k]);
            v = had[k] ? saved[k] : 0;
            if ((set & PAGE) == PAGE)
                set = (set & ~PAGE) | (uint64_t)(uintptr_t)g_page;
            if (hv_vmcs_write(o->field, (v & ~o->clear) | set) != HV_STATUS_SUCCESS)
                fail_msg("%s: VMWRITE %s refused by the fake CPU", r->check, hv_vmcs_field_name(o->field));
        }
        diagnose(&d, r->tweak);
        if (!hv_vmcs_diagnose_has(&d, (uint32_t)id) || d.failed != d.count) {
            print_findings(&d);
            fail_msg("%s: corruption did not trip it", r->check);
        }
        for (k = 0; k < d.count; k++) {
            if (!allowed(r, d.findings[k].check)) {
                print_findings(&d);
                fail_msg("%s: corruption also tripped %s", r->check, hv_vmcs_diagnose_name(d.findings[k].check));
            }
        }
        /* The mock's VMLAUNCH decides with the same checks (it sets
         * GUEST_RIP itself, so recipes about RIP are not launched). */
        if (r->tweak == TW_NONE && !writes(r, G(RIP))) {
            rsp = support_field_on(1, G(RSP));
            rip = support_field_on(1, G(RIP));
            first = d.count ? &d.findings[0] : NULL;
            assert_non_null(first);
            st = hv_arch_vmlaunch_here();
            switch (hv_vmcs_diagnose_kind(first->check)) {
            case HV_DIAG_CONTROL: want = HV_STATUS_VM_INSTRUCTION_ERROR(7); break;
            case HV_DIAG_HOST: want = HV_STATUS_VM_INSTRUCTION_ERROR(8); break;
            default: want = HV_STATUS_VM_ENTRY_FAILED; break;
            }
            if (st != want)
                fail_msg("%s: VMLAUNCH gave 0x%x, want 0x%x", r->check, (unsigned)st, (unsigned)want);
            if (want == HV_STATUS_VM_ENTRY_FAILED) {
                assert_true(hv_mock_vmcs_peek(HV_VMCS_VM_EXIT_REASON, &reason));
                assert_int_equal(reason & 0xFFFF, hv_vmcs_diagnose_kind(first->check) == HV_DIAG_MSR_LOAD ? 34 : 33);
            }
            assert_int_equal(hv_vmcs_write(G(RSP), rsp), HV_STATUS_SUCCESS);
            assert_int_equal(hv_vmcs_write(G(RIP), rip), HV_STATUS_SUCCESS);
        }
        for (k = 8; k-- > 0;) {
            if (r->ops[k].field != 0 || r->ops[k].clear != 0 || r->ops[k].set != 0)
                assert_int_equal(hv_vmcs_write(r->ops[k].field, had[k] ? saved[k] : 0), HV_STATUS_SUCCESS);
        }
        diagnose(&d, TW_NONE);
        if (d.failed != 0) {
            print_findings(&d);
            fail_msg("%s: restoring the VMCS left findings", r->check);
        }
        n_ok++;
    }
    print_message("    %u corruptions, %u checks: each tripped exactly its check\n", n_ok, (unsigned)HV_DIAG_CHECK_COUNT);
}

static void format_names_section_fields_and_values(void **state)
{
    struct hv_vmcs_finding f = { .check = HV_DIAG_GUEST_LDTR_TYPE, .nvalues = 1,
                                 .field = { HV_VMCS_GUEST_LDTR_AR_BYTES }, .value = { 0x83 } };
    char buf[200], tiny[12];

    (void)state;
    hv_vmcs_diagnose_format(&f, buf, sizeof(buf));
    assert_non_null(strstr(buf, "SDM 27.3.1.2 guest.ldtr-type: "));
    assert_non_null(strstr(buf, "[GUEST_LDTR_AR_BYTES=0x83]"));
    /* Truncates, always terminated. */
    assert_int_equal(hv_vmcs_diagnose_format(&f, tiny, sizeof(tiny)), sizeof(tiny) - 1);
    assert_int_equal(tiny[sizeof(tiny) - 1], '\0');
    assert_int_equal(hv_vmcs_diagnose(NULL, NULL), HV_STATUS_INVALID_PARAMETER);
}

/* More failures than slots: the count says so, nothing overflows. */
static void many_failures_are_bounded(void **state)
{
    static struct hv_vmcs_diag d;
    static const uint32_t fields[] = { H(FS_BASE), H(GS_BASE), H(TR_BASE), H(GDTR_BASE), H(IDTR_BASE),
                                       H(IA32_SYSENTER_ESP), H(IA32_SYSENTER_EIP), G(SYSENTER_ESP),
                                       G(SYSENTER_EIP), G(GDTR_BASE), G(IDTR_BASE), G(FS_BASE), G(GS_BASE),
                                       G(TR_BASE), G(RIP), H(RIP), G(CR3), H(CR3) };
    uint64_t saved[sizeof(fields) / sizeof(fields[0])];
    uint32_t i;

    (void)state;
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        saved[i] = support_field_on(1, fields[i]);
        assert_int_equal(hv_vmcs_write(fields[i], (fields[i] == G(CR3) || fields[i] == H(CR3)) ? 1ull << 60 : NONCANON),
                         HV_STATUS_SUCCESS);
    }
    diagnose(&d, TW_NONE);
    print_message("    %u failing checks, %u stored\n", d.failed, d.count);
    assert_true(d.failed > HV_DIAG_MAX_FINDINGS);
    assert_int_equal(d.count, HV_DIAG_MAX_FINDINGS);
    /* SDM order: host findings before guest ones. */
    assert_int_equal(hv_vmcs_diagnose_kind(d.findings[0].check), HV_DIAG_HOST);
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        assert_int_equal(hv_vmcs_write(fields[i], saved[i]), HV_STATUS_SUCCESS);
}

/* ---- the automatic call: hv_start with the test hook ------------------- */

/* Given the test hook naming one corruption, when hv_start runs, then the
 * launch on CPU 0 fails, the log names the check with its SDM section,
 * hv_vmcs_diagnose_failed() returns it, and nothing is left behind. Over
 * every corruption of the table the Linux module offers. */
static void every_test_corruption_is_diagnosed_at_start(void **state)
{
    uint32_t i, n = hv_vmcs_corrupt_count();

    (void)state;
    assert_true(n >= 30);
    for (i = 0; i < n; i++) {
        const char *name = hv_vmcs_corrupt_name(i);
        const struct hv_vmcs_finding *f;
        struct hv_config cfg;
        struct hv *hv = NULL;
        char want[160];
        hv_status_t st;
        int id = hv_vmcs_diagnose_lookup(name);

        if (id < 0)
            fail_msg("corruption %s names no check", name);
        assert_int_equal(support_setup_machine(2, HV_MOCK_PROFILE_HASWELL), 0);
        hv_config_init(&cfg);
        cfg.test_corrupt = name;
        assert_int_equal(hv_create(&hv, hv_mock_os(), &cfg), HV_STATUS_SUCCESS);
        st = hv_start(hv);
        switch (hv_vmcs_diagnose_kind((uint32_t)id)) {
        case HV_DIAG_CONTROL: assert_int_equal(st, HV_STATUS_VM_INSTRUCTION_ERROR(7)); break;
        case HV_DIAG_HOST: assert_int_equal(st, HV_STATUS_VM_INSTRUCTION_ERROR(8)); break;
        default: assert_int_equal(st, HV_STATUS_VM_ENTRY_FAILED); break;
        }
        assert_int_equal(hv->failed_cpu, 0);
        f = hv_vmcs_diagnose_failed(hv);
        assert_non_null(f);
        if (!hv_vmcs_diagnose_has(&hv->vcpus[0].diag, (uint32_t)id))
            fail_msg("%s: the diagnosis at start did not name it (first: %s)", name,
                     hv_vmcs_diagnose_name(f->check));
        snprintf(want, sizeof(want), "cpu 0: VM-entry check failed: SDM %s %s: ",
                 hv_vmcs_diagnose_section((uint32_t)id), name);
        if (!hv_mock_os_log_contains(want))
            fail_msg("%s: log lacks \"%s\"", name, want);
        assert_false(hv_mock_cpu(0)->vmx_operation);
        assert_false(hv_mock_cpu(1)->vmx_operation);
        hv_destroy(hv);
        assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
        hv_mock_fini();
    }
    print_message("    %u corruptions diagnosed through hv_start\n", n);
}

static void unknown_corruption_is_refused_cleanly(void **state)
{
    struct hv_config cfg;
    struct hv *hv = NULL;

    (void)state;
    assert_int_equal(support_setup_machine(1, HV_MOCK_PROFILE_HASWELL), 0);
    hv_config_init(&cfg);
    cfg.test_corrupt = "no.such-corruption";
    assert_int_equal(hv_create(&hv, hv_mock_os(), &cfg), HV_STATUS_SUCCESS);
    assert_int_equal(hv_start(hv), HV_STATUS_NOT_FOUND);
    assert_null(hv_vmcs_diagnose_failed(hv));
    assert_int_equal(hv_mock_cpu(0)->op_calls[HV_MOCK_OP_VMLAUNCH], 0);
    hv_destroy(hv);
    assert_int_equal(hv_mock_os_outstanding_allocs(), 0);
    hv_mock_fini();
}

/* An entry-failure exit while VMLAUNCH is in progress (real hardware: the
 * exit arrives at HOST_RIP) hands the CPU back to the launcher with
 * VM_ENTRY_FAILED and the OS state captured at setup; after launch it stays
 * fatal. Both explain the failure first. */
static void entry_failure_exit_at_launch_returns_to_the_launcher(void **state)
{
    struct hv_vcpu *v = &fx_hv->vcpus[1];
    uint64_t cr3 = v->resume.cr3;

    (void)state;
    assert_int_equal(hv_vmcs_write(HV_VMCS_GUEST_LDTR_AR_BYTES, 0x83), HV_STATUS_SUCCESS);
    v->launching = true;
    v->resume.cr3 = 0x1234000;      /* what setup captured; the exit must not re-read it */
    assert_int_equal(fx_exit(HV_EXIT_REASON_ENTRY_FAILURE | HV_EXIT_ENTRY_FAIL_GUEST_STATE, 0, 0),
                     HV_ACTION_DEVIRTUALIZE);
    v->launching = false;
    assert_int_equal(v->gprs.r[HV_GPR_RAX], HV_STATUS_VM_ENTRY_FAILED);
    assert_int_equal(v->resume.cr3, 0x1234000);
    assert_true(v->diag_valid);
    assert_true(hv_vmcs_diagnose_has(&v->diag, HV_DIAG_GUEST_LDTR_TYPE));
    assert_true(hv_mock_os_log_contains("cpu 1: VM-entry check failed: SDM 27.3.1.2 guest.ldtr-type"));
    assert_false(hv_mock_cpu(1)->vmx_operation);
    (void)cr3;
}

static void entry_failure_exit_after_launch_is_fatal_and_explained(void **state)
{
    struct hv_vcpu *v = &fx_hv->vcpus[1];

    (void)state;
    assert_int_equal(hv_vmcs_write(HV_VMCS_GUEST_TR_SELECTOR, fx_field(HV_VMCS_GUEST_TR_SELECTOR) | 4), HV_STATUS_SUCCESS);
    assert_int_equal(fx_exit(HV_EXIT_REASON_ENTRY_FAILURE | HV_EXIT_ENTRY_FAIL_GUEST_STATE, 0, 0), HV_ACTION_FATAL);
    assert_true(hv_vmcs_diagnose_has(&v->diag, HV_DIAG_GUEST_TR_TI));
    assert_true(hv_mock_os_log_contains("cpu 1: VM-entry check failed: SDM 27.3.1.2 guest.tr-ti"));
    assert_int_equal(hv_vmcs_write(HV_VMCS_GUEST_TR_SELECTOR, fx_field(HV_VMCS_GUEST_TR_SELECTOR) & ~4ull),
                     HV_STATUS_SUCCESS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clean_vmcs_has_no_finding),
        cmocka_unit_test(every_check_has_a_recipe_and_a_sentence),
        cmocka_unit_test(each_corruption_trips_exactly_its_check),
        cmocka_unit_test(format_names_section_fields_and_values),
        cmocka_unit_test(many_failures_are_bounded),
    };

    const struct CMUnitTest start_tests[] = {
        cmocka_unit_test(every_test_corruption_is_diagnosed_at_start),
        cmocka_unit_test(unknown_corruption_is_refused_cleanly),
        cmocka_unit_test_setup_teardown(entry_failure_exit_at_launch_returns_to_the_launcher, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(entry_failure_exit_after_launch_is_fatal_and_explained, fx_setup, fx_teardown),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);

    return failed + cmocka_run_group_tests(start_tests, NULL, NULL);
}
