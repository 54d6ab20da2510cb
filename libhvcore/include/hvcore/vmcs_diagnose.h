/* SPDX-License-Identifier: MIT */
/*
 * VM-entry diagnosis: the checks a processor makes on VMLAUNCH/VMRESUME
 * (SDM Vol. 3C, 27.2 controls, host state and address-space size; 27.3
 * guest state; 27.4 MSR-load areas), evaluated in software against the
 * current VMCS and the VMX capability MSRs.
 *
 * Hardware says only "VM-instruction error 7/8" or "entry failure, reason
 * 33"; hv_vmcs_diagnose() names every check the VMCS fails, with its SDM
 * section, the fields and values involved, and one sentence.
 *
 * The same code decides the mock backend's VM entries (testing/), so what
 * the unit tests see and what a real failure is explained with are one.
 */
#ifndef HVCORE_VMCS_DIAGNOSE_H
#define HVCORE_VMCS_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "status.h"
#include "vmcs.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hv_vmx_caps;
struct hv_vcpu;

/* How a failed check shows up on hardware. */
enum hv_diag_kind {
    HV_DIAG_CONTROL = 0,   /* VMfailValid(7): invalid control field(s) */
    HV_DIAG_HOST = 1,      /* VMfailValid(8): invalid host-state field(s) */
    HV_DIAG_GUEST = 2,     /* entry-failure exit, reason 33 */
    HV_DIAG_MSR_LOAD = 3,  /* entry-failure exit, reason 34 */
};

/* Every check: X(id, "name", "SDM section", kind). The names are stable:
 * logs, tests and the Linux test hook (test_corrupt=) use them. */
#define HV_DIAG_CHECK_LIST(X)                                                        \
    /* 27.2.1.1 VM-execution control fields */                                       \
    X(PIN_ALLOWED0,        "ctl.pin.allowed0",          "27.2.1.1", CONTROL)         \
    X(PIN_ALLOWED1,        "ctl.pin.allowed1",          "27.2.1.1", CONTROL)         \
    X(PROC_ALLOWED0,       "ctl.proc.allowed0",         "27.2.1.1", CONTROL)         \
    X(PROC_ALLOWED1,       "ctl.proc.allowed1",         "27.2.1.1", CONTROL)         \
    X(PROC2_ALLOWED0,      "ctl.proc2.allowed0",        "27.2.1.1", CONTROL)         \
    X(PROC2_ALLOWED1,      "ctl.proc2.allowed1",        "27.2.1.1", CONTROL)         \
    X(PROC3_ALLOWED1,      "ctl.proc3.allowed1",        "27.2.1.1", CONTROL)         \
    X(CR3_TARGET_COUNT,    "ctl.cr3-target-count",      "27.2.1.1", CONTROL)         \
    X(IO_BITMAP_A,         "ctl.io-bitmap-a",           "27.2.1.1", CONTROL)         \
    X(IO_BITMAP_B,         "ctl.io-bitmap-b",           "27.2.1.1", CONTROL)         \
    X(MSR_BITMAP,          "ctl.msr-bitmap",            "27.2.1.1", CONTROL)         \
    X(VIRTUAL_APIC_PAGE,   "ctl.virtual-apic-page",     "27.2.1.1", CONTROL)         \
    X(TPR_THRESHOLD_HIGH,  "ctl.tpr-threshold",         "27.2.1.1", CONTROL)         \
    X(TPR_THRESHOLD_VTPR,  "ctl.tpr-threshold-vtpr",    "27.2.1.1", CONTROL)         \
    X(APICV_NEEDS_TPR,     "ctl.apicv-needs-tpr-shadow","27.2.1.1", CONTROL)         \
    X(VNMI_NEEDS_NMI_EXIT, "ctl.virtual-nmis",          "27.2.1.1", CONTROL)         \
    X(NMI_WINDOW_NEEDS_VNMI,"ctl.nmi-window",           "27.2.1.1", CONTROL)         \
    X(APIC_ACCESS_ADDR,    "ctl.apic-access-addr",      "27.2.1.1", CONTROL)         \
    X(X2APIC_AND_APIC_ACCESS,"ctl.x2apic-apic-access",  "27.2.1.1", CONTROL)         \
    X(VID_NEEDS_EXT_INT,   "ctl.vid-ext-int-exiting",   "27.2.1.1", CONTROL)         \
    X(POSTED_NEEDS_VID_ACK,"ctl.posted-interrupts",     "27.2.1.1", CONTROL)         \
    X(POSTED_VECTOR,       "ctl.posted-vector",         "27.2.1.1", CONTROL)         \
    X(POSTED_DESC_ADDR,    "ctl.posted-desc-addr",      "27.2.1.1", CONTROL)         \
    X(VPID_ZERO,           "ctl.vpid-zero",             "27.2.1.1", CONTROL)         \
    X(EPTP_MEMTYPE,        "ctl.eptp-memtype",          "27.2.1.1", CONTROL)         \
    X(EPTP_WALK,           "ctl.eptp-walk-length",      "27.2.1.1", CONTROL)         \
    X(EPTP_AD,             "ctl.eptp-ad",               "27.2.1.1", CONTROL)         \
    X(EPTP_RESERVED,       "ctl.eptp-reserved",         "27.2.1.1", CONTROL)         \
    X(PML_NEEDS_EPT,       "ctl.pml-needs-ept",         "27.2.1.1", CONTROL)         \
    X(PML_ADDR,            "ctl.pml-addr",              "27.2.1.1", CONTROL)         \
    X(UG_NEEDS_EPT,        "ctl.unrestricted-needs-ept","27.2.1.1", CONTROL)         \
    X(MBEC_NEEDS_EPT,      "ctl.mbec-needs-ept",        "27.2.1.1", CONTROL)         \
    X(VMFUNC_RESERVED,     "ctl.vmfunc-reserved",       "27.2.1.1", CONTROL)         \
    X(EPTP_SWITCH_NEEDS_EPT,"ctl.eptp-switch-needs-ept","27.2.1.1", CONTROL)         \
    X(EPTP_LIST_ADDR,      "ctl.eptp-list-addr",        "27.2.1.1", CONTROL)         \
    X(VMREAD_BITMAP,       "ctl.vmread-bitmap",         "27.2.1.1", CONTROL)         \
    X(VMWRITE_BITMAP,      "ctl.vmwrite-bitmap",        "27.2.1.1", CONTROL)         \
    X(VE_INFO_ADDR,        "ctl.ve-info-addr",          "27.2.1.1", CONTROL)         \
    X(SPP_NEEDS_EPT,       "ctl.spp-needs-ept",         "27.2.1.1", CONTROL)         \
    X(SPP_TABLE,           "ctl.spp-table",             "27.2.1.1", CONTROL)         \
    X(TSC_MULTIPLIER_ZERO, "ctl.tsc-multiplier",        "27.2.1.1", CONTROL)         \
    /* 27.2.1.2 VM-exit control fields */                                            \
    X(EXIT_ALLOWED0,       "ctl.exit.allowed0",         "27.2.1.2", CONTROL)         \
    X(EXIT_ALLOWED1,       "ctl.exit.allowed1",         "27.2.1.2", CONTROL)         \
    X(EXIT_SAVE_TIMER,     "ctl.exit.save-timer",       "27.2.1.2", CONTROL)         \
    X(EXIT_MSR_STORE_ADDR, "ctl.exit.msr-store-addr",   "27.2.1.2", CONTROL)         \
    X(EXIT_MSR_LOAD_ADDR,  "ctl.exit.msr-load-addr",    "27.2.1.2", CONTROL)         \
    /* 27.2.1.3 VM-entry control fields */                                           \
    X(ENTRY_ALLOWED0,      "ctl.entry.allowed0",        "27.2.1.3", CONTROL)         \
    X(ENTRY_ALLOWED1,      "ctl.entry.allowed1",        "27.2.1.3", CONTROL)         \
    X(INTR_TYPE,           "ctl.entry.intr-type",       "27.2.1.3", CONTROL)         \
    X(INTR_NMI_VECTOR,     "ctl.entry.intr-nmi-vector", "27.2.1.3", CONTROL)         \
    X(INTR_HW_VECTOR,      "ctl.entry.intr-hw-vector",  "27.2.1.3", CONTROL)         \
    X(INTR_OTHER_VECTOR,   "ctl.entry.intr-other-vector","27.2.1.3", CONTROL)        \
    X(INTR_ERROR_CODE_BIT, "ctl.entry.intr-deliver-code","27.2.1.3", CONTROL)        \
    X(INTR_RESERVED,       "ctl.entry.intr-reserved",   "27.2.1.3", CONTROL)         \
    X(INTR_ERROR_CODE,     "ctl.entry.error-code",      "27.2.1.3", CONTROL)         \
    X(INTR_INSTR_LEN,      "ctl.entry.instr-len",       "27.2.1.3", CONTROL)         \
    X(ENTRY_MSR_LOAD_ADDR, "ctl.entry.msr-load-addr",   "27.2.1.3", CONTROL)         \
    X(ENTRY_SMM,           "ctl.entry.smm",             "27.2.1.3", CONTROL)         \
    /* 27.2.2 host control registers and MSRs */                                     \
    X(HOST_CR0,            "host.cr0",                  "27.2.2",   HOST)            \
    X(HOST_CR4,            "host.cr4",                  "27.2.2",   HOST)            \
    X(HOST_CR3,            "host.cr3",                  "27.2.2",   HOST)            \
    X(HOST_CR4_CET_WP,     "host.cr4-cet-wp",           "27.2.2",   HOST)            \
    X(HOST_SYSENTER_ESP,   "host.sysenter-esp",         "27.2.2",   HOST)            \
    X(HOST_SYSENTER_EIP,   "host.sysenter-eip",         "27.2.2",   HOST)            \
    X(HOST_PAT,            "host.pat",                  "27.2.2",   HOST)            \
    X(HOST_EFER_RESERVED,  "host.efer-reserved",        "27.2.2",   HOST)            \
    X(HOST_EFER_LMA_LME,   "host.efer-lma-lme",         "27.2.2",   HOST)            \
    X(HOST_S_CET,          "host.s-cet",                "27.2.2",   HOST)            \
    X(HOST_SSP,            "host.ssp",                  "27.2.2",   HOST)            \
    X(HOST_SSP_TABLE,      "host.ssp-table",            "27.2.2",   HOST)            \
    X(HOST_PKRS,           "host.pkrs",                 "27.2.2",   HOST)            \
    /* 27.2.3 host segment and descriptor-table registers */                         \
    X(HOST_SEL_TI_RPL,     "host.selector-ti-rpl",      "27.2.3",   HOST)            \
    X(HOST_CS_NULL,        "host.cs-null",              "27.2.3",   HOST)            \
    X(HOST_TR_NULL,        "host.tr-null",              "27.2.3",   HOST)            \
    X(HOST_SS_NULL,        "host.ss-null",              "27.2.3",   HOST)            \
    X(HOST_FS_BASE,        "host.fs-base",              "27.2.3",   HOST)            \
    X(HOST_GS_BASE,        "host.gs-base",              "27.2.3",   HOST)            \
    X(HOST_TR_BASE,        "host.tr-base",              "27.2.3",   HOST)            \
    X(HOST_GDTR_BASE,      "host.gdtr-base",            "27.2.3",   HOST)            \
    X(HOST_IDTR_BASE,      "host.idtr-base",            "27.2.3",   HOST)            \
    /* 27.2.4 address-space size */                                                  \
    X(ADDR_CPU_NOT_IA32E,  "addr.cpu-not-ia32e",        "27.2.4",   HOST)            \
    X(ADDR_HOST64_NEEDED,  "addr.host64-required",      "27.2.4",   HOST)            \
    X(ADDR_GUEST_NEEDS_HOST64,"addr.ia32e-guest-host32","27.2.4",   HOST)            \
    X(HOST_PCIDE_32,       "host.cr4-pcide-32bit",      "27.2.4",   HOST)            \
    X(HOST_RIP_32,         "host.rip-32bit",            "27.2.4",   HOST)            \
    X(HOST_PAE_64,         "host.cr4-pae-64bit",        "27.2.4",   HOST)            \
    X(HOST_RIP_CANONICAL,  "host.rip-canonical",        "27.2.4",   HOST)            \
    /* 27.3.1.1 guest control registers, debug registers and MSRs */                 \
    X(GUEST_CR0,           "guest.cr0",                 "27.3.1.1", GUEST)           \
    X(GUEST_CR0_PG_PE,     "guest.cr0-pg-without-pe",   "27.3.1.1", GUEST)           \
    X(GUEST_CR4,           "guest.cr4",                 "27.3.1.1", GUEST)           \
    X(GUEST_CR4_CET_WP,    "guest.cr4-cet-wp",          "27.3.1.1", GUEST)           \
    X(GUEST_DEBUGCTL,      "guest.debugctl",            "27.3.1.1", GUEST)           \
    X(GUEST_IA32E_PG,      "guest.ia32e-needs-pg",      "27.3.1.1", GUEST)           \
    X(GUEST_IA32E_PAE,     "guest.ia32e-needs-pae",     "27.3.1.1", GUEST)           \
    X(GUEST_PCIDE,         "guest.pcide-outside-ia32e", "27.3.1.1", GUEST)           \
    X(GUEST_CR3,           "guest.cr3",                 "27.3.1.1", GUEST)           \
    X(GUEST_DR7,           "guest.dr7",                 "27.3.1.1", GUEST)           \
    X(GUEST_SYSENTER_ESP,  "guest.sysenter-esp",        "27.3.1.1", GUEST)           \
    X(GUEST_SYSENTER_EIP,  "guest.sysenter-eip",        "27.3.1.1", GUEST)           \
    X(GUEST_PAT,           "guest.pat",                 "27.3.1.1", GUEST)           \
    X(GUEST_EFER_RESERVED, "guest.efer-reserved",       "27.3.1.1", GUEST)           \
    X(GUEST_EFER_LMA,      "guest.efer-lma",            "27.3.1.1", GUEST)           \
    X(GUEST_EFER_LME,      "guest.efer-lme",            "27.3.1.1", GUEST)           \
    X(GUEST_BNDCFGS,       "guest.bndcfgs",             "27.3.1.1", GUEST)           \
    X(GUEST_S_CET,         "guest.s-cet",               "27.3.1.1", GUEST)           \
    X(GUEST_SSP,           "guest.ssp",                 "27.3.1.1", GUEST)           \
    X(GUEST_SSP_TABLE,     "guest.ssp-table",           "27.3.1.1", GUEST)           \
    X(GUEST_PKRS,          "guest.pkrs",                "27.3.1.1", GUEST)           \
    /* 27.3.1.2 guest segment registers */                                           \
    X(GUEST_TR_TI,         "guest.tr-ti",               "27.3.1.2", GUEST)           \
    X(GUEST_LDTR_TI,       "guest.ldtr-ti",             "27.3.1.2", GUEST)           \
    X(GUEST_SS_RPL,        "guest.ss-rpl",              "27.3.1.2", GUEST)           \
    X(GUEST_V86_BASE,      "guest.v86-base",            "27.3.1.2", GUEST)           \
    X(GUEST_V86_LIMIT,     "guest.v86-limit",           "27.3.1.2", GUEST)           \
    X(GUEST_V86_AR,        "guest.v86-ar",              "27.3.1.2", GUEST)           \
    X(GUEST_TR_BASE,       "guest.tr-base",             "27.3.1.2", GUEST)           \
    X(GUEST_FS_BASE,       "guest.fs-base",             "27.3.1.2", GUEST)           \
    X(GUEST_GS_BASE,       "guest.gs-base",             "27.3.1.2", GUEST)           \
    X(GUEST_LDTR_BASE,     "guest.ldtr-base",           "27.3.1.2", GUEST)           \
    X(GUEST_CS_BASE,       "guest.cs-base",             "27.3.1.2", GUEST)           \
    X(GUEST_DATA_BASE,     "guest.data-base",           "27.3.1.2", GUEST)           \
    X(GUEST_CS_TYPE,       "guest.cs-type",             "27.3.1.2", GUEST)           \
    X(GUEST_SEG_S,         "guest.seg-s",               "27.3.1.2", GUEST)           \
    X(GUEST_SEG_P,         "guest.seg-p",               "27.3.1.2", GUEST)           \
    X(GUEST_SEG_RESERVED,  "guest.seg-ar-reserved",     "27.3.1.2", GUEST)           \
    X(GUEST_SEG_LIMIT,     "guest.seg-limit-g",         "27.3.1.2", GUEST)           \
    X(GUEST_CS_DPL,        "guest.cs-dpl",              "27.3.1.2", GUEST)           \
    X(GUEST_CS_L_DB,       "guest.cs-l-db",             "27.3.1.2", GUEST)           \
    X(GUEST_SS_TYPE,       "guest.ss-type",             "27.3.1.2", GUEST)           \
    X(GUEST_SS_DPL,        "guest.ss-dpl-rpl",          "27.3.1.2", GUEST)           \
    X(GUEST_SS_DPL_ZERO,   "guest.ss-dpl-zero",         "27.3.1.2", GUEST)           \
    X(GUEST_DATA_ACCESSED, "guest.data-accessed",       "27.3.1.2", GUEST)           \
    X(GUEST_DATA_READABLE, "guest.data-code-readable",  "27.3.1.2", GUEST)           \
    X(GUEST_DATA_DPL,      "guest.data-dpl-rpl",        "27.3.1.2", GUEST)           \
    X(GUEST_TR_UNUSABLE,   "guest.tr-unusable",         "27.3.1.2", GUEST)           \
    X(GUEST_TR_TYPE,       "guest.tr-type",             "27.3.1.2", GUEST)           \
    X(GUEST_TR_S,          "guest.tr-s",                "27.3.1.2", GUEST)           \
    X(GUEST_TR_P,          "guest.tr-p",                "27.3.1.2", GUEST)           \
    X(GUEST_TR_RESERVED,   "guest.tr-ar-reserved",      "27.3.1.2", GUEST)           \
    X(GUEST_TR_LIMIT,      "guest.tr-limit-g",          "27.3.1.2", GUEST)           \
    X(GUEST_LDTR_TYPE,     "guest.ldtr-type",           "27.3.1.2", GUEST)           \
    X(GUEST_LDTR_S,        "guest.ldtr-s",              "27.3.1.2", GUEST)           \
    X(GUEST_LDTR_P,        "guest.ldtr-p",              "27.3.1.2", GUEST)           \
    X(GUEST_LDTR_RESERVED, "guest.ldtr-ar-reserved",    "27.3.1.2", GUEST)           \
    X(GUEST_LDTR_LIMIT,    "guest.ldtr-limit-g",        "27.3.1.2", GUEST)           \
    /* 27.3.1.3 guest descriptor-table registers */                                  \
    X(GUEST_GDTR_BASE,     "guest.gdtr-base",           "27.3.1.3", GUEST)           \
    X(GUEST_IDTR_BASE,     "guest.idtr-base",           "27.3.1.3", GUEST)           \
    X(GUEST_GDTR_LIMIT,    "guest.gdtr-limit",          "27.3.1.3", GUEST)           \
    X(GUEST_IDTR_LIMIT,    "guest.idtr-limit",          "27.3.1.3", GUEST)           \
    /* 27.3.1.4 guest RIP and RFLAGS */                                              \
    X(GUEST_RIP_HIGH,      "guest.rip-high",            "27.3.1.4", GUEST)           \
    X(GUEST_RIP_CANONICAL, "guest.rip-canonical",       "27.3.1.4", GUEST)           \
    X(GUEST_RFLAGS_RESERVED,"guest.rflags-reserved",    "27.3.1.4", GUEST)           \
    X(GUEST_RFLAGS_BIT1,   "guest.rflags-bit1",         "27.3.1.4", GUEST)           \
    X(GUEST_RFLAGS_VM,     "guest.rflags-vm",           "27.3.1.4", GUEST)           \
    X(GUEST_RFLAGS_IF,     "guest.rflags-if",           "27.3.1.4", GUEST)           \
    /* 27.3.1.5 guest non-register state */                                          \
    X(GUEST_ACTIVITY,      "guest.activity",            "27.3.1.5", GUEST)           \
    X(GUEST_ACTIVITY_HLT_DPL,"guest.activity-hlt-dpl",  "27.3.1.5", GUEST)           \
    X(GUEST_ACTIVITY_BLOCKING,"guest.activity-blocking","27.3.1.5", GUEST)           \
    X(GUEST_ACTIVITY_EVENT,"guest.activity-event",      "27.3.1.5", GUEST)           \
    X(GUEST_INTR_RESERVED, "guest.intr-reserved",       "27.3.1.5", GUEST)           \
    X(GUEST_INTR_STI_MOVSS,"guest.intr-sti-movss",      "27.3.1.5", GUEST)           \
    X(GUEST_INTR_STI_IF,   "guest.intr-sti-if",         "27.3.1.5", GUEST)           \
    X(GUEST_INTR_EXT_BLOCKED,"guest.intr-ext-blocked",  "27.3.1.5", GUEST)           \
    X(GUEST_INTR_NMI_MOVSS,"guest.intr-nmi-movss",      "27.3.1.5", GUEST)           \
    X(GUEST_INTR_SMI,      "guest.intr-smi",            "27.3.1.5", GUEST)           \
    X(GUEST_INTR_VNMI,     "guest.intr-vnmi",           "27.3.1.5", GUEST)           \
    X(GUEST_PENDING_DBG,   "guest.pending-dbg",         "27.3.1.5", GUEST)           \
    X(GUEST_PENDING_DBG_BS,"guest.pending-dbg-bs",      "27.3.1.5", GUEST)           \
    X(GUEST_LINK_ADDR,     "guest.link-pointer",        "27.3.1.5", GUEST)           \
    X(GUEST_LINK_REVISION, "guest.link-revision",       "27.3.1.5", GUEST)           \
    /* 27.3.1.6 PDPTEs (PAE paging with EPT) */                                      \
    X(GUEST_PDPTE,         "guest.pdpte",               "27.3.1.6", GUEST)           \
    /* 27.4 VM-entry MSR-load area */                                                \
    X(MSRLOAD_READ,        "msrload.unreadable",        "27.4",     MSR_LOAD)        \
    X(MSRLOAD_FS_GS_BASE,  "msrload.fs-gs-base",        "27.4",     MSR_LOAD)        \
    X(MSRLOAD_X2APIC,      "msrload.x2apic",            "27.4",     MSR_LOAD)        \
    X(MSRLOAD_SMM_ONLY,    "msrload.smm-only",          "27.4",     MSR_LOAD)        \
    X(MSRLOAD_RESERVED,    "msrload.reserved",          "27.4",     MSR_LOAD)

/* Check ids: HV_DIAG_<id>, in HV_DIAG_CHECK_LIST order (SDM order). */
enum hv_diag_check {
#define HV_X_(id, name, sec, kind) HV_DIAG_##id,
    HV_DIAG_CHECK_LIST(HV_X_)
#undef HV_X_
    HV_DIAG_CHECK_COUNT
};

/* Findings one diagnosis stores (struct hv_vmcs_diag.findings). */
#define HV_DIAG_MAX_FINDINGS 16
/* Fields and values one finding names. */
#define HV_DIAG_MAX_VALUES 3

/* One failed check and the values it looked at. */
struct hv_vmcs_finding {
    uint16_t check;                /* enum hv_diag_check */
    uint8_t nvalues;               /* entries used in field[] and value[] */
    uint32_t field[HV_DIAG_MAX_VALUES];   /* VMCS encodings, or HV_DIAG_FIELD_* */
    uint64_t value[HV_DIAG_MAX_VALUES];   /* their values */
};

/* Pseudo-fields for values that are not VMCS fields. */
#define HV_DIAG_FIELD_CAP      0xF0000000u   /* the capability MSR consulted */
#define HV_DIAG_FIELD_MEMORY   0xF0000001u   /* a value read from memory */
#define HV_DIAG_FIELD_INDEX    0xF0000002u   /* an MSR-load entry index */
#define HV_DIAG_FIELD_CPU      0xF0000003u   /* a property of the entering CPU */

/* What the diagnosis needs besides the VMCS. */
struct hv_vmcs_diag_env {
    /* NULL: the backend VMREAD (hv_vmcs_backend_read). */
    hv_status_t (*read_field)(void *ctx, uint32_t field, uint64_t *value);
    /* Physical memory the checks look into (MSR-load area, VMCS link
     * pointer, virtual-APIC page); NULL: those checks are skipped. */
    hv_status_t (*read_phys)(void *ctx, uint64_t pa, void *dst, uint32_t len);
    void *ctx;                         /* passed to read_field and read_phys */
    const struct hv_vmx_caps *caps;    /* effective (TRUE when offered) */
    uint64_t proc3_cap;                /* IA32_VMX_PROCBASED_CTLS3, 0 if none */
    uint32_t maxphyaddr;               /* 0: from CPUID 0x80000008 */
    uint32_t linear_bits;              /* 48 or 57; 0: 48 */
    bool cpu_ia32e;                    /* IA32_EFER.LMA of the entering CPU */
};

/* The result of hv_vmcs_diagnose(). */
struct hv_vmcs_diag {
    uint32_t count;                    /* findings stored */
    uint32_t failed;                   /* checks that failed (may exceed count) */
    struct hv_vmcs_finding findings[HV_DIAG_MAX_FINDINGS]; /* the first `count` failures, SDM order */
    /* Field cache (each field read at most once). */
    uint64_t cache[HV_VMCS_FIELD_COUNT];
    uint8_t cached[HV_VMCS_FIELD_COUNT];   /* 0 unread, 1 read ok, 2 read failed */
};

/* Evaluate every check against the current VMCS. Findings are stored in
 * SDM order (controls, host, guest, MSR-load) so the first one is what
 * the processor would most likely report. Returns INVALID_PARAMETER for
 * NULL arguments, else SUCCESS (also when checks fail: see d->failed).
 * Context: ROOT-SAFE (no allocation, bounded stack). */
hv_status_t hv_vmcs_diagnose(const struct hv_vmcs_diag_env *env, struct hv_vmcs_diag *d);

/* Fill an env for the current CPU from a core's capabilities (backend
 * VMREAD, os->phys_to_virt for memory, CPUID, IA32_EFER; SDM Vol. 3C,
 * 27.2-27.4 depend on them). Context: ROOT-SAFE, on the core itself. */
void hv_vmcs_diagnose_env(struct hv_vcpu *vcpu, struct hv_vmcs_diag_env *env);

/* Check names/sections/sentences; "?" / "" for an out-of-range id.
 * Context: any (static tables). */
const char *hv_vmcs_diagnose_name(uint32_t check);
/* The SDM section of a check ("27.3.1.2"); "" for an out-of-range id.
 * Context: any. */
const char *hv_vmcs_diagnose_section(uint32_t check);
/* The one-sentence explanation of a check; "" for an out-of-range id.
 * Context: any. */
const char *hv_vmcs_diagnose_sentence(uint32_t check);
/* The kind (controls, host, guest, MSR-load) of a check; HV_DIAG_GUEST for
 * an out-of-range id. Context: any. */
enum hv_diag_kind hv_vmcs_diagnose_kind(uint32_t check);
/* Check id by name, or -1. Context: any. */
int hv_vmcs_diagnose_lookup(const char *name);
/* True if the diagnosis holds a finding of `check`. Context: any. */
bool hv_vmcs_diagnose_has(const struct hv_vmcs_diag *d, uint32_t check);
/* First finding of a kind (NULL if none). Context: any. */
const struct hv_vmcs_finding *hv_vmcs_diagnose_first(const struct hv_vmcs_diag *d, enum hv_diag_kind kind);

/* "SDM 27.3.1.2 guest.ldtr-type: <sentence> [GUEST_LDTR_AR_BYTES=0x82]";
 * always NUL-terminated, truncated to cap. Returns the length.
 * Context: any. */
size_t hv_vmcs_diagnose_format(const struct hv_vmcs_finding *f, char *buf, size_t cap);

/* Log every finding of `d` (ERROR level), prefixed by "cpu N: ", through
 * os->log. Context: ROOT-SAFE. */
void hv_vmcs_diagnose_log(struct hv_vcpu *vcpu, const struct hv_vmcs_diag *d);

/* Diagnose the current VMCS of this core into vcpu->diag (diag_valid)
 * and log it. Called by the core when VMLAUNCH/VMRESUME fails and when an
 * entry-failure exit arrives (SDM Vol. 3C, 27.2-27.4). Context: ROOT-SAFE. */
void hv_vmcs_diagnose_vcpu(struct hv_vcpu *vcpu);
struct hv;
/* The first finding on the core that stopped hv_start(), or NULL (no
 * failed core, or its failure was not a refused VM entry). Context: any,
 * after hv_start() returned. */
const struct hv_vmcs_finding *hv_vmcs_diagnose_failed(const struct hv *hv);

/* ---- test hook (vmx/vmcs_corrupt.c) ------------------------------------
 * Named corruptions of the current VMCS, one per line of a table, each
 * meant to trip the VM-entry check of the same name. Used by the Linux
 * module's test_corrupt= parameter (hv_config.test_corrupt) to compare
 * this diagnosis with an independent one (Bochs's own log). */
/* Apply the corruption `name` to the current VMCS: SUCCESS, NOT_FOUND for
 * an unknown name, INVALID_PARAMETER for NULL, or a failed VMREAD/VMWRITE's
 * status. Context: ROOT-SAFE (VMX root, a VMCS current; a test hook). */
hv_status_t hv_vmcs_corrupt_apply(const char *name);
/* Number of named corruptions. Context: any. */
uint32_t hv_vmcs_corrupt_count(void);
/* Name of corruption `index`, NULL past the end. Context: any. */
const char *hv_vmcs_corrupt_name(uint32_t index);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_VMCS_DIAGNOSE_H */
