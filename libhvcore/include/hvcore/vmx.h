/* SPDX-License-Identifier: MIT */
/*
 * Architectural VMX definitions (Intel SDM Vol. 3C, chapters 24-27, 31 and
 * appendices A-C). Only values the SDM defines live here.
 */
#ifndef HVCORE_VMX_H
#define HVCORE_VMX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Basic exit reasons (SDM Vol. 3D, Appendix C) ---------------------- */
/* The basic exit reasons, X(name, number): generates enum hv_exit_reason. */
#define HV_EXIT_REASON_LIST(X)                                   \
    X(EXCEPTION_NMI, 0)          X(EXTERNAL_INTERRUPT, 1)        \
    X(TRIPLE_FAULT, 2)           X(INIT_SIGNAL, 3)               \
    X(SIPI, 4)                   X(IO_SMI, 5)                    \
    X(OTHER_SMI, 6)              X(INTERRUPT_WINDOW, 7)          \
    X(NMI_WINDOW, 8)             X(TASK_SWITCH, 9)               \
    X(CPUID, 10)                 X(GETSEC, 11)                   \
    X(HLT, 12)                   X(INVD, 13)                     \
    X(INVLPG, 14)                X(RDPMC, 15)                    \
    X(RDTSC, 16)                 X(RSM, 17)                      \
    X(VMCALL, 18)                X(VMCLEAR, 19)                  \
    X(VMLAUNCH, 20)              X(VMPTRLD, 21)                  \
    X(VMPTRST, 22)               X(VMREAD, 23)                   \
    X(VMRESUME, 24)              X(VMWRITE, 25)                  \
    X(VMXOFF, 26)                X(VMXON, 27)                    \
    X(CR_ACCESS, 28)             X(MOV_DR, 29)                   \
    X(IO_INSTRUCTION, 30)        X(RDMSR, 31)                    \
    X(WRMSR, 32)                 X(ENTRY_FAIL_GUEST_STATE, 33)   \
    X(ENTRY_FAIL_MSR_LOADING, 34)                                \
    X(MWAIT, 36)                 X(MONITOR_TRAP_FLAG, 37)        \
    X(MONITOR, 39)               X(PAUSE, 40)                    \
    X(ENTRY_FAIL_MACHINE_CHECK, 41)                              \
    X(TPR_BELOW_THRESHOLD, 43)   X(APIC_ACCESS, 44)              \
    X(VIRTUALIZED_EOI, 45)       X(GDTR_IDTR_ACCESS, 46)         \
    X(LDTR_TR_ACCESS, 47)        X(EPT_VIOLATION, 48)            \
    X(EPT_MISCONFIG, 49)         X(INVEPT, 50)                   \
    X(RDTSCP, 51)                X(PREEMPTION_TIMER, 52)         \
    X(INVVPID, 53)               X(WBINVD, 54)                   \
    X(XSETBV, 55)                X(APIC_WRITE, 56)               \
    X(RDRAND, 57)                X(INVPCID, 58)                  \
    X(VMFUNC, 59)                X(ENCLS, 60)                    \
    X(RDSEED, 61)                X(PML_FULL, 62)                 \
    X(XSAVES, 63)                X(XRSTORS, 64)                  \
    X(PCONFIG, 65)               X(SPP_EVENT, 66)                \
    X(UMWAIT, 67)                X(TPAUSE, 68)                   \
    X(LOADIWKEY, 69)             X(ENCLV, 70)                    \
    X(ENQCMD_PASID_FAIL, 72)     X(ENQCMDS_PASID_FAIL, 73)       \
    X(BUS_LOCK, 74)              X(INSTRUCTION_TIMEOUT, 75)      \
    X(SEAMCALL, 76)              X(TDCALL, 77)                   \
    X(RDMSRLIST, 78)             X(WRMSRLIST, 79)                \
    X(URDMSR, 80)                X(UWRMSR, 81)                   \
    X(RDMSR_IMM, 84)             X(WRMSRNS_IMM, 85)

/* Basic exit reasons: HV_EXIT_<name> = number (SDM Vol. 3D, Appendix C). */
enum hv_exit_reason {
#define HV_X_(name, num) HV_EXIT_##name = num,
    HV_EXIT_REASON_LIST(HV_X_)
#undef HV_X_
    HV_EXIT_REASON_COUNT = 86 /* one past the highest defined reason */
};

/* Exit-reason field bits (SDM Vol. 3C, 25.9.1). */
#define HV_EXIT_REASON_BASIC_MASK      0xFFFFu
#define HV_EXIT_REASON_ENCLAVE_MODE    (1u << 27)
#define HV_EXIT_REASON_PENDING_MTF     (1u << 28)
#define HV_EXIT_REASON_FROM_VMX_ROOT   (1u << 29)
#define HV_EXIT_REASON_ENTRY_FAILURE   (1u << 31)

/* ---- Capability and related MSRs (SDM Vol. 3D, Appendix A; Vol. 4) --- */
#define HV_MSR_IA32_FEATURE_CONTROL        0x0000003Au
#define HV_MSR_IA32_SMBASE                 0x0000009Eu
#define HV_MSR_IA32_SYSENTER_CS            0x00000174u
#define HV_MSR_IA32_SYSENTER_ESP           0x00000175u
#define HV_MSR_IA32_SYSENTER_EIP           0x00000176u
#define HV_MSR_IA32_DEBUGCTL               0x000001D9u
#define HV_MSR_IA32_PAT                    0x00000277u
#define HV_MSR_IA32_MCG_STATUS             0x0000017Au
#define HV_MCG_STATUS_RIPV                 (1ull << 0) /* restart IP valid */
#define HV_MSR_IA32_PERF_GLOBAL_CTRL       0x0000038Fu
#define HV_MSR_IA32_VMX_BASIC              0x00000480u
#define HV_MSR_IA32_VMX_PINBASED_CTLS      0x00000481u
#define HV_MSR_IA32_VMX_PROCBASED_CTLS     0x00000482u
#define HV_MSR_IA32_VMX_EXIT_CTLS          0x00000483u
#define HV_MSR_IA32_VMX_ENTRY_CTLS         0x00000484u
#define HV_MSR_IA32_VMX_MISC               0x00000485u
/* IA32_VMX_MISC bits 6-8: activity states HLT, shutdown, wait-for-SIPI
 * supported (SDM Vol. 3D, A.6). */
#define HV_VMX_MISC_ACTIVITY_HLT           (1ull << 6)
#define HV_VMX_MISC_ACTIVITY_WAIT_SIPI     (1ull << 8)
/* Guest activity state (SDM Vol. 3C, 25.4.2). */
#define HV_ACTIVITY_ACTIVE                 0u
#define HV_ACTIVITY_HLT                    1u
#define HV_ACTIVITY_SHUTDOWN               2u
#define HV_ACTIVITY_WAIT_SIPI              3u

/* More capability and related MSRs (SDM Vol. 3D, Appendix A; Vol. 4). */
#define HV_MSR_IA32_VMX_CR0_FIXED0         0x00000486u
#define HV_MSR_IA32_VMX_CR0_FIXED1         0x00000487u
#define HV_MSR_IA32_VMX_CR4_FIXED0         0x00000488u
#define HV_MSR_IA32_VMX_CR4_FIXED1         0x00000489u
#define HV_MSR_IA32_VMX_VMCS_ENUM          0x0000048Au
#define HV_MSR_IA32_VMX_PROCBASED_CTLS2    0x0000048Bu
#define HV_MSR_IA32_VMX_EPT_VPID_CAP       0x0000048Cu
#define HV_MSR_IA32_VMX_TRUE_PINBASED_CTLS 0x0000048Du
#define HV_MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x0000048Eu
#define HV_MSR_IA32_VMX_TRUE_EXIT_CTLS     0x0000048Fu
#define HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS    0x00000490u
#define HV_MSR_IA32_VMX_VMFUNC             0x00000491u
#define HV_MSR_IA32_VMX_PROCBASED_CTLS3    0x00000492u
#define HV_MSR_IA32_VMX_EXIT_CTLS2         0x00000493u
#define HV_MSR_IA32_RTIT_CTL               0x00000570u
#define HV_MSR_IA32_S_CET                  0x000006A2u
#define HV_MSR_IA32_INTERRUPT_SSP_TABLE_ADDR 0x000006A8u
#define HV_MSR_IA32_PKRS                   0x000006E1u
#define HV_MSR_IA32_BNDCFGS                0x00000D90u
#define HV_MSR_IA32_EFER                   0xC0000080u
#define HV_MSR_IA32_STAR                   0xC0000081u
#define HV_MSR_IA32_LSTAR                  0xC0000082u
#define HV_MSR_IA32_FS_BASE                0xC0000100u
#define HV_MSR_IA32_GS_BASE                0xC0000101u
#define HV_MSR_IA32_KERNEL_GS_BASE         0xC0000102u

/* IA32_FEATURE_CONTROL bits (SDM Vol. 3C, 24.7). */
#define HV_FEATURE_CONTROL_LOCK            (1ull << 0)
#define HV_FEATURE_CONTROL_VMX_IN_SMX      (1ull << 1)
#define HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX (1ull << 2)

/* IA32_VMX_BASIC fields (SDM Vol. 3D, A.1). */
#define HV_VMX_BASIC_REVISION(v)      ((uint32_t)((v) & 0x7FFFFFFFu))
#define HV_VMX_BASIC_REGION_SIZE(v)   ((uint32_t)(((v) >> 32) & 0x1FFFu))
#define HV_VMX_BASIC_PA_32BIT         (1ull << 48)
#define HV_VMX_BASIC_DUAL_MONITOR     (1ull << 49)
#define HV_VMX_BASIC_MEMTYPE(v)       ((uint32_t)(((v) >> 50) & 0xFu))
#define HV_VMX_BASIC_INS_OUTS_INFO    (1ull << 54)
#define HV_VMX_BASIC_TRUE_CTLS        (1ull << 55)
#define HV_VMX_MEMTYPE_WB             6u

/* ---- CR/RFLAGS/EFER bits the core touches ---------------------------- */
/* CR0, CR4, RFLAGS and IA32_EFER bits the core touches (SDM Vol. 3A, 2.5, 2.3, 2.2.1). */
#define HV_CR0_PE (1ull << 0)
#define HV_CR0_NE (1ull << 5)
#define HV_CR0_WP (1ull << 16)
#define HV_CR0_PG (1ull << 31)
#define HV_CR4_DE (1ull << 3)
#define HV_CR4_PAE (1ull << 5)
#define HV_CR4_VMXE (1ull << 13)
#define HV_CR4_SMXE (1ull << 14)
#define HV_CR4_OSXSAVE (1ull << 18)
#define HV_RFLAGS_FIXED (1ull << 1)
#define HV_RFLAGS_TF (1ull << 8)
#define HV_RFLAGS_IF (1ull << 9)
#define HV_RFLAGS_RF (1ull << 16)
#define HV_RFLAGS_VM (1ull << 17)
#define HV_EFER_SCE (1ull << 0)
#define HV_EFER_LME (1ull << 8)
#define HV_EFER_LMA (1ull << 10)
#define HV_EFER_NXE (1ull << 11)

/* ---- VM-execution controls (SDM Vol. 3C, 25.6) ------------------------ */
/* Pin-based VM-execution controls (SDM Vol. 3C, 25.6.1) */
#define HV_PIN_EXTERNAL_INTERRUPT_EXITING  (1u << 0)
#define HV_PIN_NMI_EXITING                 (1u << 3)
#define HV_PIN_VIRTUAL_NMIS                (1u << 5)
#define HV_PIN_PREEMPTION_TIMER            (1u << 6)
#define HV_PIN_POSTED_INTERRUPTS           (1u << 7)
/* Primary processor-based VM-execution controls (SDM Vol. 3C, 25.6.2) */
#define HV_PROC_INTERRUPT_WINDOW_EXITING   (1u << 2)
#define HV_PROC_USE_TSC_OFFSETTING         (1u << 3)
#define HV_PROC_HLT_EXITING                (1u << 7)
#define HV_PROC_INVLPG_EXITING             (1u << 9)
#define HV_PROC_MWAIT_EXITING              (1u << 10)
#define HV_PROC_RDPMC_EXITING              (1u << 11)
#define HV_PROC_RDTSC_EXITING              (1u << 12)
#define HV_PROC_CR3_LOAD_EXITING           (1u << 15)
#define HV_PROC_CR3_STORE_EXITING          (1u << 16)
#define HV_PROC_ACTIVATE_TERTIARY          (1u << 17)
#define HV_PROC_CR8_LOAD_EXITING           (1u << 19)
#define HV_PROC_CR8_STORE_EXITING          (1u << 20)
#define HV_PROC_USE_TPR_SHADOW             (1u << 21)
#define HV_PROC_NMI_WINDOW_EXITING         (1u << 22)
#define HV_PROC_MOV_DR_EXITING             (1u << 23)
#define HV_PROC_UNCOND_IO_EXITING          (1u << 24)
#define HV_PROC_USE_IO_BITMAPS             (1u << 25)
#define HV_PROC_MONITOR_TRAP_FLAG          (1u << 27)
#define HV_PROC_USE_MSR_BITMAPS            (1u << 28)
#define HV_PROC_MONITOR_EXITING            (1u << 29)
#define HV_PROC_PAUSE_EXITING              (1u << 30)
#define HV_PROC_ACTIVATE_SECONDARY         (1u << 31)
/* Secondary processor-based VM-execution controls (SDM Vol. 3C, 25.6.2) */
#define HV_PROC2_VIRTUALIZE_APIC_ACCESSES  (1u << 0)
#define HV_PROC2_ENABLE_EPT                (1u << 1)
#define HV_PROC2_DESCRIPTOR_TABLE_EXITING  (1u << 2)
#define HV_PROC2_ENABLE_RDTSCP             (1u << 3)
#define HV_PROC2_VIRTUALIZE_X2APIC         (1u << 4)
#define HV_PROC2_ENABLE_VPID               (1u << 5)
#define HV_PROC2_WBINVD_EXITING            (1u << 6)
#define HV_PROC2_UNRESTRICTED_GUEST        (1u << 7)
#define HV_PROC2_ENABLE_INVPCID            (1u << 12)
#define HV_PROC2_ENABLE_VMFUNC             (1u << 13)
#define HV_PROC2_ENABLE_XSAVES             (1u << 20)
#define HV_PROC2_ENABLE_USER_WAIT_PAUSE    (1u << 26)
/* VM-exit controls (SDM Vol. 3C, 25.7.1) */
#define HV_EXIT_CTL_SAVE_DEBUG_CONTROLS    (1u << 2)
#define HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE   (1u << 9)
#define HV_EXIT_CTL_LOAD_PERF_GLOBAL_CTRL  (1u << 12)
#define HV_EXIT_CTL_ACK_INTERRUPT_ON_EXIT  (1u << 15)
#define HV_EXIT_CTL_SAVE_PAT               (1u << 18)
#define HV_EXIT_CTL_LOAD_PAT               (1u << 19)
#define HV_EXIT_CTL_SAVE_EFER              (1u << 20)
#define HV_EXIT_CTL_LOAD_EFER              (1u << 21)
#define HV_EXIT_CTL_CLEAR_BNDCFGS          (1u << 23)
#define HV_EXIT_CTL_CLEAR_RTIT_CTL         (1u << 25)
#define HV_EXIT_CTL_LOAD_CET_STATE         (1u << 28)
#define HV_EXIT_CTL_LOAD_PKRS              (1u << 29)
/* VM-entry controls (SDM Vol. 3C, 25.8.1) */
#define HV_ENTRY_CTL_LOAD_DEBUG_CONTROLS   (1u << 2)
#define HV_ENTRY_CTL_IA32E_MODE_GUEST      (1u << 9)
#define HV_ENTRY_CTL_LOAD_PERF_GLOBAL_CTRL (1u << 13)
#define HV_ENTRY_CTL_LOAD_PAT              (1u << 14)
#define HV_ENTRY_CTL_LOAD_EFER             (1u << 15)
#define HV_ENTRY_CTL_LOAD_BNDCFGS          (1u << 16)
#define HV_ENTRY_CTL_LOAD_RTIT_CTL         (1u << 18)
#define HV_ENTRY_CTL_LOAD_CET_STATE        (1u << 20)
#define HV_ENTRY_CTL_LOAD_PKRS             (1u << 22)

/* ---- Exit qualifications (SDM Vol. 3C, 28.2.1) ------------------------ */
/* Exit qualification of a control-register access (SDM Vol. 3C, 28.2.1, Table 28-3) */
#define HV_QUAL_CR_NUMBER(q)        ((uint32_t)((q) & 0xFu))
#define HV_QUAL_CR_ACCESS_TYPE(q)   ((uint32_t)(((q) >> 4) & 0x3u))
#define HV_QUAL_CR_LMSW_MEMORY(q)   ((uint32_t)(((q) >> 6) & 0x1u))
#define HV_QUAL_CR_GPR(q)           ((uint32_t)(((q) >> 8) & 0xFu))
#define HV_QUAL_CR_LMSW_DATA(q)     ((uint32_t)(((q) >> 16) & 0xFFFFu))
/* Access type of a control-register access (HV_QUAL_CR_ACCESS_TYPE). */
enum hv_cr_access_type {
    HV_CR_ACCESS_MOV_TO_CR   = 0,
    HV_CR_ACCESS_MOV_FROM_CR = 1,
    HV_CR_ACCESS_CLTS        = 2,
    HV_CR_ACCESS_LMSW        = 3,
};
/* Exit qualification of a MOV DR (SDM Vol. 3C, 28.2.1, Table 28-4) */
#define HV_QUAL_DR_NUMBER(q)        ((uint32_t)((q) & 0x7u))
#define HV_QUAL_DR_DIRECTION(q)     ((uint32_t)(((q) >> 4) & 0x1u))
#define HV_QUAL_DR_GPR(q)           ((uint32_t)(((q) >> 8) & 0xFu))
/* Direction of a MOV DR (HV_QUAL_DR_DIRECTION). */
enum hv_dr_direction {
    HV_DR_MOV_TO_DR   = 0,
    HV_DR_MOV_FROM_DR = 1,
};
/* Builds a control-register-access qualification (tests; documents the layout). */
#define HV_QUAL_CR_MAKE(cr, type, gpr) \
    ((uint64_t)((cr) & 0xFu) | ((uint64_t)((type) & 0x3u) << 4) | ((uint64_t)((gpr) & 0xFu) << 8))
/* Builds a MOV-DR qualification (tests; documents the layout). */
#define HV_QUAL_DR_MAKE(dr, dir, gpr) \
    ((uint64_t)((dr) & 0x7u) | ((uint64_t)((dir) & 0x1u) << 4) | ((uint64_t)((gpr) & 0xFu) << 8))

/* ---- Event injection (SDM Vol. 3C, 25.8.3) ---------------------------- */
/* VM-entry interruption-information field (SDM Vol. 3C, 25.8.3, Table 25-17). */
#define HV_INTR_INFO_VECTOR(v)       ((uint32_t)((v) & 0xFFu))
#define HV_INTR_INFO_TYPE_SHIFT      8
#define HV_INTR_INFO_DELIVER_CODE    (1u << 11)
#define HV_INTR_INFO_NMI_UNBLOCKING  (1u << 12)
#define HV_INTR_INFO_VALID           (1u << 31)
/* Interruption types (bits 10:8 of the interruption information). */
enum hv_intr_type {
    HV_INTR_TYPE_EXTERNAL       = 0,
    HV_INTR_TYPE_NMI            = 2,
    HV_INTR_TYPE_HW_EXCEPTION   = 3,
    HV_INTR_TYPE_SW_INTERRUPT   = 4,
    HV_INTR_TYPE_PRIV_SW_EXCEPTION = 5,
    HV_INTR_TYPE_SW_EXCEPTION   = 6,
    HV_INTR_TYPE_OTHER          = 7,
};
/* Guest interruptibility state (SDM Vol. 3C, 25.4.2, Table 25-3) */
#define HV_INTERRUPTIBILITY_STI      (1u << 0)
#define HV_INTERRUPTIBILITY_MOV_SS   (1u << 1)
#define HV_INTERRUPTIBILITY_SMI      (1u << 2)
#define HV_INTERRUPTIBILITY_NMI      (1u << 3)
/* Pending debug exceptions (SDM Vol. 3C, 25.4.2, Table 25-4) */
#define HV_PENDING_DBG_BS            (1ull << 14)

/* Exception vectors (SDM Vol. 3A, 6.3.1, Table 6-1) */
#define HV_VECTOR_DE  0u
#define HV_VECTOR_DB  1u
#define HV_VECTOR_NMI 2u
#define HV_VECTOR_BP  3u
#define HV_VECTOR_UD  6u
#define HV_VECTOR_GP  13u
#define HV_VECTOR_PF  14u
#define HV_VECTOR_DF  8u
#define HV_VECTOR_MC  18u

/* DR6/DR7 (SDM Vol. 3B, 18.2) */
#define HV_DR6_BD        (1ull << 13)
#define HV_DR6_BS        (1ull << 14)
#define HV_DR6_RTM       (1ull << 16) /* active low: 0 = #DB/#BP inside an RTM region */
#define HV_DR6_FIXED_1   0xFFFF0FF0ull
#define HV_DR7_GD        (1ull << 13)
#define HV_DR7_RTM       (1ull << 11) /* RTM debugging; reserved (0) without RTM */
#define HV_DR7_FIXED_1   (1ull << 10)
#define HV_DR7_RESET     0x400ull

/* Segment registers in VMCS order (SDM Vol. 3C, 25.4.1). */
enum hv_seg {
    HV_SEG_ES = 0, HV_SEG_CS, HV_SEG_SS, HV_SEG_DS, HV_SEG_FS, HV_SEG_GS,
    HV_SEG_LDTR, HV_SEG_TR, HV_SEG_COUNT
};
/* Access-rights "unusable" bit (SDM Vol. 3C, 25.4.1, Table 25-2). */
#define HV_AR_UNUSABLE (1u << 16)

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_VMX_H */
