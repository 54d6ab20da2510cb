/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — the hv_arch_* seam on fake CPUs.
 *
 * Every function acts on the fake CPU bound to the calling thread; calling
 * one on an unbound thread is a reported failure (see mock.h).
 *
 * VMX instructions follow the pseudo-code of SDM Vol. 3C, chapter 31. How
 * their outcomes map to statuses:
 *   VMsucceed                      -> HV_STATUS_SUCCESS
 *   VMfailInvalid                  -> HV_STATUS_VMX_FAIL_INVALID
 *   VMfailValid(n)                 -> HV_STATUS_VM_INSTRUCTION_ERROR(n); n is
 *                                     also stored in VM_INSTRUCTION_ERROR
 *   VMfail(n) with no current VMCS -> HV_STATUS_VMX_FAIL_INVALID (31.2: the
 *                                     error number needs a current VMCS)
 *   #GP (VMXON: FEATURE_CONTROL not locked/enabled, CR0/CR4 fixed bits)
 *                                  -> HV_STATUS_EXCEPTION_GENERAL_PROTECTION
 *   #UD (a VMX instruction outside VMX operation, VMXON with CR4.VMXE=0 or
 *        CR0.PE=0, INVEPT/INVVPID on a CPU without them)
 *                                  -> HV_STATUS_INTERNAL_ERROR (on hardware
 *                                     this kills the kernel: the core must
 *                                     never get here)
 *   a VM-entry failure during guest-state checks (SDM 27.8)
 *                                  -> HV_STATUS_VM_ENTRY_FAILED, with
 *                                     VM_EXIT_REASON = 0x80000021 (33) and
 *                                     EXIT_QUALIFICATION = 4 for a bad VMCS
 *                                     link pointer, else 0
 *   fault injection                -> the injected status, nothing done
 * Every refusal is explained by a "mock: ..." DEBUG line in the fake OS log
 * (hv_mock_os_log_contains, or HVCORE_MOCK_ECHO=1 to see them).
 *
 * Beyond the SDM, the mock reports (as test failures) things that would
 * silently corrupt a real machine: touching the VMX state of the other
 * hypervisor on the VMX_IN_USE profile, VMPTRLD of a region never
 * VMCLEARed, CR/DR/XCR writes that #GP, and restoring guest state while
 * still in VMX operation.
 */
#define _POSIX_C_SOURCE 200809L

#include <hvcore/testing/mock.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mock_internal.h"

#define GP HV_STATUS_EXCEPTION_GENERAL_PROTECTION
#define UD HV_STATUS_INTERNAL_ERROR
#define NO_CPU HV_STATUS_INTERNAL_ERROR

#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR4_PCIDE (1ull << 17)
#define EFER_VALID (HV_EFER_SCE | HV_EFER_LME | HV_EFER_LMA | HV_EFER_NXE)
#define DEBUGCTL_VALID 0xFFC3ull   /* LBR BTF TR BTS BTINT BTS_OFF_* FREEZE_* RTM */

static bool pa_valid(uint64_t pa)
{
    /* 4 KiB aligned, within the physical-address width; 0 is refused too
     * because the mock dereferences pa (pa == va). */
    return pa != 0 && (pa & 0xFFFu) == 0 && (pa >> hv_mocki_maxphyaddr()) == 0;
}

static bool pat_valid(uint64_t pat)
{
    uint32_t i;

    for (i = 0; i < 8; i++) {
        uint32_t t = (uint32_t)(pat >> (8 * i)) & 0xFFu;

        if (t == 2 || t == 3 || t > 7)
            return false;
    }
    return true;
}

static uint32_t basic_revision(const struct hv_mock_cpu *cpu)
{
    return HV_VMX_BASIC_REVISION(hv_mocki_cap(cpu, HV_MSR_IA32_VMX_BASIC));
}

/* ========================================================================
 * CPUID, MSRs, control/debug registers, descriptor tables, XCRs
 * ======================================================================== */

void hv_arch_cpuid(uint32_t leaf, uint32_t subleaf, struct hv_cpuid_regs *out)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_cpuid");

    if (out == NULL) {
        hv_mocki_fail("hv_arch_cpuid: out is NULL");
        return;
    }
    if (cpu == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    /* Leaves not in the table read as zeros (a real CPU would repeat its
     * highest basic leaf; zeros are simpler to reason about in tests). */
    (void)hv_mocki_cpuid_get(cpu, leaf, subleaf, out);
}

hv_status_t hv_arch_rdmsr_safe(uint32_t msr, uint64_t *value)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_rdmsr_safe");
    struct hv_mock_msr *m;

    if (cpu == NULL)
        return NO_CPU;
    if (value == NULL) {
        hv_mocki_fail("hv_arch_rdmsr_safe(0x%x): value is NULL", msr);
        return HV_STATUS_INVALID_PARAMETER;
    }
    m = hv_mocki_msr(cpu, msr);
    if (m == NULL || m->gp_on_read)
        return GP;
    *value = m->value;
    m->reads++;
    return HV_STATUS_SUCCESS;
}

static bool msr_is_address(uint32_t msr)
{
    switch (msr) {
    case HV_MSR_IA32_SYSENTER_ESP: case HV_MSR_IA32_SYSENTER_EIP:
    case HV_MSR_IA32_LSTAR: case 0xC0000083u /* CSTAR */:
    case HV_MSR_IA32_FS_BASE: case HV_MSR_IA32_GS_BASE: case HV_MSR_IA32_KERNEL_GS_BASE:
        return true;
    default:
        return false;
    }
}

hv_status_t hv_arch_wrmsr_safe(uint32_t msr, uint64_t value)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_wrmsr_safe");
    struct hv_cpuid_regs r;
    struct hv_mock_msr *m;
    uint64_t allowed;

    if (cpu == NULL)
        return NO_CPU;
    m = hv_mocki_msr(cpu, msr);
    if (m == NULL || m->gp_on_write || m->read_only)
        return GP;

    switch (msr) {
    case HV_MSR_IA32_FEATURE_CONTROL:
        /* SDM Vol. 3C, 24.7: once locked, any write #GPs until reset.
         * Bits of features the CPU lacks are reserved. */
        if (m->value & HV_FEATURE_CONTROL_LOCK)
            return GP;
        hv_mocki_cpuid_get(cpu, 1, 0, &r);
        allowed = HV_FEATURE_CONTROL_LOCK;
        if (r.ecx & (1u << 5))
            allowed |= HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX;
        if ((r.ecx & (1u << 5)) && (r.ecx & (1u << 6)))
            allowed |= HV_FEATURE_CONTROL_VMX_IN_SMX;
        if (r.ecx & (1u << 6))
            allowed |= 0xFF00ull;                         /* SENTER enables */
        hv_mocki_cpuid_get(cpu, 7, 0, &r);
        if (r.ecx & (1u << 30))
            allowed |= 1ull << 17;                        /* SGX launch control */
        if (r.ebx & (1u << 2))
            allowed |= 1ull << 18;                        /* SGX */
        if (hv_mocki_cap(cpu, 0x179) & (1ull << 27))
            allowed |= 1ull << 20;                        /* LMCE (MCG_CAP[27]) */
        if (value & ~allowed)
            return GP;
        break;
    case HV_MSR_IA32_EFER:
        if (value & ~EFER_VALID)
            return GP;
        /* NXE needs CPUID.80000001H:EDX.NX[20] (SDM Vol. 4, IA32_EFER). */
        hv_mocki_cpuid_get(cpu, 0x80000001u, 0, &r);
        if ((value & HV_EFER_NXE) && !(r.edx & (1u << 20)))
            return GP;
        /* LMA is set by the processor, not by WRMSR. */
        value = (value & ~HV_EFER_LMA) | (m->value & HV_EFER_LMA);
        break;
    case HV_MSR_IA32_PAT:
        if (!pat_valid(value))
            return GP;
        break;
    case HV_MSR_IA32_DEBUGCTL:
        if (value & ~DEBUGCTL_VALID)
            return GP;
        break;
    case 0xDA0u: /* IA32_XSS: only bits CPUID.(0xD,1):ECX/EDX offers */
        hv_mocki_cpuid_get(cpu, 0xD, 1, &r);
        if (value & ~(((uint64_t)r.edx << 32) | r.ecx))
            return GP;
        break;
    default:
        if (msr_is_address(msr) && !hv_mocki_canonical(cpu, value))
            return GP;
        break;
    }
    m->value = value;
    m->writes++;
    return HV_STATUS_SUCCESS;
}

uint64_t hv_arch_read_cr(uint32_t cr)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_read_cr");

    if (cpu == NULL)
        return 0;
    if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8) {
        hv_mocki_fail("hv_arch_read_cr(%u): no such control register (#UD)", cr);
        return 0;
    }
    return cpu->cr[cr];
}

/* Bits CR4 may hold on this CPU: CR4_FIXED1 when VMX is reported, else the
 * Haswell set without VMXE. */
static uint64_t cr4_supported(const struct hv_mock_cpu *cpu)
{
    uint64_t f1 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR4_FIXED1);

    return f1 != 0 ? f1 : (0x003727FFull & ~HV_CR4_VMXE);
}

void hv_arch_write_cr(uint32_t cr, uint64_t value)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_write_cr");
    uint64_t f0, f1;

    if (cpu == NULL)
        return;
    switch (cr) {
    case 0:
        if ((value >> 32) || ((value & HV_CR0_PG) && !(value & HV_CR0_PE)) ||
            ((value & CR0_NW) && !(value & CR0_CD))) {
            hv_mocki_fail("cpu%u: MOV to CR0 of 0x%llx raises #GP", cpu->index,
                          (unsigned long long)value);
            return;
        }
        if (cpu->vmx_operation) {
            f0 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR0_FIXED0);
            f1 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR0_FIXED1);
            if ((value & f0) != f0 || (value & ~f1)) {
                hv_mocki_fail("cpu%u: MOV to CR0 of 0x%llx in VMX operation violates "
                              "IA32_VMX_CR0_FIXED0/1 (#GP)", cpu->index, (unsigned long long)value);
                return;
            }
        }
        break;
    case 2:
        break;
    case 3:
        if ((value >> 63) && !(cpu->cr[4] & CR4_PCIDE)) {
            hv_mocki_fail("cpu%u: MOV to CR3 of 0x%llx: bit 63 without CR4.PCIDE (#GP)",
                          cpu->index, (unsigned long long)value);
            return;
        }
        value &= ~(1ull << 63);   /* "no flush" is not stored */
        if (value >> hv_mocki_maxphyaddr()) {
            hv_mocki_fail("cpu%u: MOV to CR3 of 0x%llx sets reserved bits (#GP)",
                          cpu->index, (unsigned long long)value);
            return;
        }
        break;
    case 4:
        if (value & ~cr4_supported(cpu)) {
            hv_mocki_fail("cpu%u: MOV to CR4 of 0x%llx sets unsupported bits 0x%llx (#GP)",
                          cpu->index, (unsigned long long)value,
                          (unsigned long long)(value & ~cr4_supported(cpu)));
            return;
        }
        if (cpu->vmx_operation) {
            f0 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR4_FIXED0) | HV_CR4_VMXE;
            if ((value & f0) != f0) {
                hv_mocki_fail("cpu%u: MOV to CR4 of 0x%llx in VMX operation clears fixed-1 "
                              "bits 0x%llx (e.g. VMXE) (#GP)", cpu->index,
                              (unsigned long long)value, (unsigned long long)(f0 & ~value));
                return;
            }
        }
        break;
    case 8:
        if (value > 15) {
            hv_mocki_fail("cpu%u: MOV to CR8 of 0x%llx (#GP)", cpu->index, (unsigned long long)value);
            return;
        }
        break;
    default:
        hv_mocki_fail("hv_arch_write_cr(%u): no such control register (#UD)", cr);
        return;
    }
    cpu->cr[cr] = value;
}

uint64_t hv_arch_read_dr(uint32_t dr)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_read_dr");

    if (cpu == NULL)
        return 0;
    if (dr > 7) {
        hv_mocki_fail("hv_arch_read_dr(%u): no such debug register (#UD)", dr);
        return 0;
    }
    if (dr == 4 || dr == 5) {
        /* SDM Vol. 3B, 18.2.2: aliases of DR6/DR7 unless CR4.DE. */
        if (cpu->cr[4] & HV_CR4_DE) {
            hv_mocki_fail("cpu%u: MOV from DR%u with CR4.DE set (#UD)", cpu->index, dr);
            return 0;
        }
        dr += 2;
    }
    return cpu->dr[dr];
}

void hv_arch_write_dr(uint32_t dr, uint64_t value)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_write_dr");

    if (cpu == NULL)
        return;
    if (dr > 7) {
        hv_mocki_fail("hv_arch_write_dr(%u): no such debug register (#UD)", dr);
        return;
    }
    if (dr == 4 || dr == 5) {
        if (cpu->cr[4] & HV_CR4_DE) {
            hv_mocki_fail("cpu%u: MOV to DR%u with CR4.DE set (#UD)", cpu->index, dr);
            return;
        }
        dr += 2;
    }
    if ((dr == 6 || dr == 7) && (value >> 32)) {
        hv_mocki_fail("cpu%u: MOV to DR%u of 0x%llx sets bits 63:32 (#GP)", cpu->index, dr,
                      (unsigned long long)value);
        return;
    }
    if (dr == 6) {
        struct hv_cpuid_regs r;
        /* DR6.RTM (bit 16) is writable, active low, only with RTM
         * (CPUID.(7,0):EBX[11]); otherwise it reads as 1 (SDM Vol. 3B, 18.2.3). */
        bool rtm = hv_mocki_cpuid_get(cpu, 7, 0, &r) && (r.ebx & (1u << 11));

        value |= HV_DR6_FIXED_1 & ~(rtm ? HV_DR6_RTM : 0);
    }
    if (dr == 7)
        value |= HV_DR7_FIXED_1;
    cpu->dr[dr] = value;
}

uint64_t hv_arch_read_rflags(void)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_read_rflags");

    return cpu != NULL ? cpu->rflags : 0;
}

uint16_t hv_arch_read_selector(enum hv_seg seg)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_read_selector");

    if (cpu == NULL)
        return 0;
    if ((unsigned)seg >= HV_SEG_COUNT) {
        hv_mocki_fail("hv_arch_read_selector(%d): no such segment register", (int)seg);
        return 0;
    }
    return cpu->sel[seg];
}

void hv_arch_sgdt(struct hv_dtr *out)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_sgdt");

    if (out == NULL) {
        hv_mocki_fail("hv_arch_sgdt: out is NULL");
        return;
    }
    if (cpu == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = cpu->gdtr;
}

void hv_arch_sidt(struct hv_dtr *out)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_sidt");

    if (out == NULL) {
        hv_mocki_fail("hv_arch_sidt: out is NULL");
        return;
    }
    if (cpu == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = cpu->idtr;
}

uint64_t hv_arch_xgetbv(uint32_t xcr)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_xgetbv");
    struct hv_cpuid_regs r;

    if (cpu == NULL)
        return 0;
    if (!(cpu->cr[4] & HV_CR4_OSXSAVE)) {
        hv_mocki_fail("cpu%u: XGETBV with CR4.OSXSAVE clear (#UD)", cpu->index);
        return 0;
    }
    if (xcr == 0)
        return cpu->xcr0;
    hv_mocki_cpuid_get(cpu, 0xD, 1, &r);
    if (xcr == 1 && (r.eax & (1u << 2)))     /* XGETBV1: XINUSE, approximated by XCR0 */
        return cpu->xcr0;
    hv_mocki_fail("cpu%u: XGETBV of XCR%u (#GP)", cpu->index, xcr);
    return 0;
}

hv_status_t hv_arch_xsetbv_safe(uint32_t xcr, uint64_t value)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_xsetbv_safe");
    struct hv_cpuid_regs r;
    uint64_t offered;

    if (cpu == NULL)
        return NO_CPU;
    /* SDM Vol. 1, 13.3 and the XSETBV reference: #UD without OSXSAVE
     * (reported as #GP here: the safe wrapper catches both), #GP for
     * XCR != 0, x87 clear, bits not in CPUID.(0xD,0):EDX:EAX, AVX without
     * SSE, half of MPX, AVX-512 partially or without AVX. */
    if (!(cpu->cr[4] & HV_CR4_OSXSAVE) || xcr != 0)
        return GP;
    hv_mocki_cpuid_get(cpu, 0xD, 0, &r);
    offered = ((uint64_t)r.edx << 32) | r.eax;
    if (!(value & 1) || (value & ~offered))
        return GP;
    if ((value & 4) && !(value & 2))
        return GP;
    if (((value >> 3) & 1) != ((value >> 4) & 1))
        return GP;
    if ((value & 0xE0) && ((value & 0xE0) != 0xE0 || !(value & 4)))
        return GP;
    cpu->xcr0 = value;
    return HV_STATUS_SUCCESS;
}

void hv_arch_wbinvd(void)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_wbinvd");

    if (cpu != NULL)
        cpu->wbinvd_count++;
}

void hv_arch_reset_platform(void)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_reset_platform");

    if (cpu != NULL)
        cpu->platform_resets++;
}

void hv_arch_flush_root_tlb(bool have_invpcid)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_flush_root_tlb");

    (void)have_invpcid;
    if (cpu != NULL)
        cpu->root_tlb_flushes++;
}

/* ========================================================================
 * VMX instructions
 * ======================================================================== */

/* #UD of a VMX instruction outside VMX operation. */
static hv_status_t vmx_ud(const struct hv_mock_cpu *cpu, const char *insn, const char *why)
{
    hv_mocki_log("cpu%u: %s: #UD: %s", cpu->index, insn, why);
    return UD;
}

static void foreign_check(const struct hv_mock_cpu *cpu, const char *insn)
{
    if (hv_mocki_vmx_foreign(cpu))
        hv_mocki_fail("cpu%u: %s while another hypervisor owns VMX on this core "
                      "(VMX_IN_USE profile): it would corrupt that hypervisor", cpu->index, insn);
}

hv_status_t hv_arch_vmxon(uint64_t vmxon_pa)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_vmxon");
    struct hv_mock_msr *fc;
    uint64_t f0, f1;
    hv_status_t st;
    uint32_t rev;

    if (cpu == NULL)
        return NO_CPU;
    if (hv_mocki_injected(cpu, HV_MOCK_OP_VMXON, &st))
        return st;
    if (!(cpu->cr[4] & HV_CR4_VMXE))
        return vmx_ud(cpu, "VMXON", "CR4.VMXE is clear");
    if (!(cpu->cr[0] & HV_CR0_PE) || (cpu->rflags & HV_RFLAGS_VM))
        return vmx_ud(cpu, "VMXON", "not in protected mode");
    if (cpu->vmx_operation) {
        hv_mocki_log("cpu%u: VMXON: VMfail(15) VMXON executed in VMX root operation", cpu->index);
        return hv_mocki_vmfail(cpu, 15);
    }
    fc = hv_mocki_msr(cpu, HV_MSR_IA32_FEATURE_CONTROL);
    if (fc == NULL || !(fc->value & HV_FEATURE_CONTROL_LOCK) ||
        !(fc->value & HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX)) {
        hv_mocki_log("cpu%u: VMXON: #GP: IA32_FEATURE_CONTROL 0x%llx is not locked with "
                     "VMX outside SMX", cpu->index, fc ? (unsigned long long)fc->value : 0ull);
        return GP;
    }
    f0 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR0_FIXED0);
    f1 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR0_FIXED1);
    if ((cpu->cr[0] & f0) != f0 || (cpu->cr[0] & ~f1)) {
        hv_mocki_log("cpu%u: VMXON: #GP: CR0 0x%llx violates IA32_VMX_CR0_FIXED0/1", cpu->index,
                     (unsigned long long)cpu->cr[0]);
        return GP;
    }
    f0 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR4_FIXED0);
    f1 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR4_FIXED1);
    if ((cpu->cr[4] & f0) != f0 || (cpu->cr[4] & ~f1)) {
        hv_mocki_log("cpu%u: VMXON: #GP: CR4 0x%llx violates IA32_VMX_CR4_FIXED0/1", cpu->index,
                     (unsigned long long)cpu->cr[4]);
        return GP;
    }
    if (!pa_valid(vmxon_pa)) {
        hv_mocki_log("cpu%u: VMXON: VMfailInvalid: bad region address 0x%llx", cpu->index,
                     (unsigned long long)vmxon_pa);
        return HV_STATUS_VMX_FAIL_INVALID;
    }
    rev = *(const volatile uint32_t *)(uintptr_t)vmxon_pa;
    if (rev != basic_revision(cpu)) {
        hv_mocki_log("cpu%u: VMXON: VMfailInvalid: region revision 0x%x, CPU wants 0x%x",
                     cpu->index, rev, basic_revision(cpu));
        return HV_STATUS_VMX_FAIL_INVALID;
    }
    cpu->vmx_operation = true;
    cpu->vmxon_pa = vmxon_pa;
    cpu->current_vmcs_pa = ~0ull;
    /* From here on the VMM has read the capabilities and the VMCS field
     * set is fixed, as on a real CPU. */
    hv_mocki_caps_freeze(cpu);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_arch_vmxoff(void)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_vmxoff");
    hv_status_t st;

    if (cpu == NULL)
        return NO_CPU;
    if (hv_mocki_injected(cpu, HV_MOCK_OP_VMXOFF, &st))
        return st;
    if (!cpu->vmx_operation)
        return vmx_ud(cpu, "VMXOFF", "not in VMX operation");
    foreign_check(cpu, "VMXOFF");
    /* The mock also forgets the current VMCS (a real CPU keeps the pointer
     * but VMXON resets it; nothing can observe the difference). */
    cpu->vmx_operation = false;
    cpu->in_guest = false;
    cpu->vmxon_pa = 0;
    cpu->current_vmcs_pa = ~0ull;
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_arch_vmclear(uint64_t vmcs_pa)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_vmclear");
    hv_status_t st;

    if (cpu == NULL)
        return NO_CPU;
    if (hv_mocki_injected(cpu, HV_MOCK_OP_VMCLEAR, &st))
        return st;
    if (!cpu->vmx_operation)
        return vmx_ud(cpu, "VMCLEAR", "not in VMX operation");
    if (!pa_valid(vmcs_pa)) {
        hv_mocki_log("cpu%u: VMCLEAR: VMfail(2) invalid address 0x%llx", cpu->index,
                     (unsigned long long)vmcs_pa);
        return hv_mocki_vmfail(cpu, 2);
    }
    if (vmcs_pa == cpu->vmxon_pa) {
        hv_mocki_log("cpu%u: VMCLEAR: VMfail(3) VMCLEAR with VMXON pointer", cpu->index);
        return hv_mocki_vmfail(cpu, 3);
    }
    foreign_check(cpu, "VMCLEAR");
    hv_mocki_vmcs_init_region(vmcs_pa, *(const volatile uint32_t *)(uintptr_t)vmcs_pa, false);
    if (cpu->current_vmcs_pa == vmcs_pa)
        cpu->current_vmcs_pa = ~0ull;
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_arch_vmptrld(uint64_t vmcs_pa)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_vmptrld");
    uint32_t rev, shadowing;
    hv_status_t st;

    if (cpu == NULL)
        return NO_CPU;
    if (hv_mocki_injected(cpu, HV_MOCK_OP_VMPTRLD, &st))
        return st;
    if (!cpu->vmx_operation)
        return vmx_ud(cpu, "VMPTRLD", "not in VMX operation");
    if (!pa_valid(vmcs_pa)) {
        hv_mocki_log("cpu%u: VMPTRLD: VMfail(9) invalid address 0x%llx", cpu->index,
                     (unsigned long long)vmcs_pa);
        return hv_mocki_vmfail(cpu, 9);
    }
    if (vmcs_pa == cpu->vmxon_pa) {
        hv_mocki_log("cpu%u: VMPTRLD: VMfail(10) VMPTRLD with VMXON pointer", cpu->index);
        return hv_mocki_vmfail(cpu, 10);
    }
    rev = *(const volatile uint32_t *)(uintptr_t)vmcs_pa;
    shadowing = (uint32_t)(hv_mocki_cap(cpu, HV_MSR_IA32_VMX_PROCBASED_CTLS2) >> 32) & (1u << 14);
    if ((rev & 0x7FFFFFFFu) != basic_revision(cpu) || ((rev >> 31) && !shadowing)) {
        hv_mocki_log("cpu%u: VMPTRLD: VMfail(11) region revision 0x%x, CPU wants 0x%x",
                     cpu->index, rev, basic_revision(cpu));
        return hv_mocki_vmfail(cpu, 11);
    }
    foreign_check(cpu, "VMPTRLD");
    if (!hv_mocki_vmcs_is_initialized(vmcs_pa)) {
        hv_mocki_fail("cpu%u: VMPTRLD of VMCS region 0x%llx that was never VMCLEARed "
                      "(SDM Vol. 3C, 25.11.3: its launch state is undefined)", cpu->index,
                      (unsigned long long)vmcs_pa);
        hv_mocki_vmcs_init_region(vmcs_pa, rev, false);
    }
    cpu->current_vmcs_pa = vmcs_pa;
    return HV_STATUS_SUCCESS;
}

/* An EPTP as VM entry and INVEPT check it (SDM Vol. 3C, 26.2.1.1). */
static bool eptp_valid(const struct hv_mock_cpu *cpu, uint64_t eptp, char *why, size_t n)
{
    uint64_t cap = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_EPT_VPID_CAP);
    uint32_t type = (uint32_t)(eptp & 7u), walk = (uint32_t)((eptp >> 3) & 7u);

    if (!((type == 0 && (cap & (1ull << 8))) || (type == 6 && (cap & (1ull << 14))))) {
        snprintf(why, n, "EPTP 0x%llx: memory type %u not supported", (unsigned long long)eptp, type);
        return false;
    }
    if (walk != 3 || !(cap & (1ull << 6))) {
        snprintf(why, n, "EPTP 0x%llx: page-walk length %u not supported", (unsigned long long)eptp,
                 walk + 1);
        return false;
    }
    if ((eptp & (1ull << 6)) && !(cap & (1ull << 21))) {
        snprintf(why, n, "EPTP 0x%llx: accessed/dirty flags not supported", (unsigned long long)eptp);
        return false;
    }
    if ((eptp & 0xF80ull) || (eptp >> hv_mocki_maxphyaddr())) {
        snprintf(why, n, "EPTP 0x%llx: reserved bits set", (unsigned long long)eptp);
        return false;
    }
    return true;
}

hv_status_t hv_arch_invept(uint64_t type, uint64_t eptp)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_invept");
    uint64_t cap;
    char why[160];

    if (cpu == NULL)
        return NO_CPU;
    if (!cpu->vmx_operation)
        return vmx_ud(cpu, "INVEPT", "not in VMX operation");
    cap = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_EPT_VPID_CAP);
    if (!(cap & (1ull << 20)))
        return vmx_ud(cpu, "INVEPT", "not supported by this CPU");
    if (!((type == 1 && (cap & (1ull << 25))) || (type == 2 && (cap & (1ull << 26))))) {
        hv_mocki_log("cpu%u: INVEPT: VMfail(28) type %llu not supported", cpu->index,
                     (unsigned long long)type);
        return hv_mocki_vmfail(cpu, 28);
    }
    if (type == 1 && !eptp_valid(cpu, eptp, why, sizeof(why))) {
        hv_mocki_log("cpu%u: INVEPT: VMfail(28) %s", cpu->index, why);
        return hv_mocki_vmfail(cpu, 28);
    }
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_arch_invvpid(uint64_t type, uint16_t vpid, uint64_t linear)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_invvpid");
    uint64_t cap;

    if (cpu == NULL)
        return NO_CPU;
    if (!cpu->vmx_operation)
        return vmx_ud(cpu, "INVVPID", "not in VMX operation");
    cap = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_EPT_VPID_CAP);
    if (!(cap & (1ull << 32)))
        return vmx_ud(cpu, "INVVPID", "not supported by this CPU");
    /* Types: 0 individual address (cap 40), 1 single context (41), 2 all
     * contexts (42), 3 single context keeping globals (43). */
    if (type > 3 || !(cap & (1ull << (40 + type))) ||
        (type != 2 && vpid == 0) || (type == 0 && !hv_mocki_canonical(cpu, linear))) {
        hv_mocki_log("cpu%u: INVVPID: VMfail(28) type %llu vpid %u linear 0x%llx", cpu->index,
                     (unsigned long long)type, vpid, (unsigned long long)linear);
        return hv_mocki_vmfail(cpu, 28);
    }
    return HV_STATUS_SUCCESS;
}

/* Targets of the host IDT the mock builds: never reached on a fake CPU. */
static void mock_root_exception(void)
{
    hv_mocki_fail("the mock host IDT's exception handler was called");
}

void hv_arch_build_host_idt(void *page, uint16_t host_cs)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_build_host_idt");
    uint64_t isr = (uint64_t)(uintptr_t)mock_root_exception;
    uint64_t *g = page;
    uint32_t v;

    if (cpu == NULL)
        return;
    if (page == NULL || ((uintptr_t)page & 0xFFFu)) {
        hv_mocki_fail("hv_arch_build_host_idt: page %p is not a page", page);
        return;
    }
    for (v = 0; v < 256; v++) {
        g[2 * v] = (isr & 0xFFFFull) | ((uint64_t)host_cs << 16) | (0xEull << 40) | (1ull << 47) |
                   (((isr >> 16) & 0xFFFFull) << 48);
        g[2 * v + 1] = isr >> 32;
    }
}

void hv_arch_restore_guest_state(const struct hv_guest_resume *r)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_restore_guest_state");
    struct hv_mock_msr *m;

    if (cpu == NULL)
        return;
    if (r == NULL) {
        hv_mocki_fail("hv_arch_restore_guest_state: NULL state");
        return;
    }
    if (cpu->vmx_operation)
        hv_mocki_fail("cpu%u: hv_arch_restore_guest_state called in VMX operation "
                      "(it runs after VMXOFF)", cpu->index);
    cpu->cr[0] = r->cr0;
    cpu->cr[3] = r->cr3 & ~(1ull << 63);
    cpu->cr[4] = r->cr4;
    cpu->gdtr.base = r->gdtr_base;
    cpu->gdtr.limit = r->gdtr_limit;
    cpu->idtr.base = r->idtr_base;
    cpu->idtr.limit = r->idtr_limit;
    cpu->sel[HV_SEG_TR] = r->tr_selector;
    cpu->dr[7] = r->dr7 | HV_DR7_FIXED_1;
    cpu->rflags = r->rflags | HV_RFLAGS_FIXED;
    if ((m = hv_mocki_msr(cpu, HV_MSR_IA32_DEBUGCTL)) != NULL)
        m->value = r->debugctl;
    if ((m = hv_mocki_msr(cpu, HV_MSR_IA32_FS_BASE)) != NULL)
        m->value = r->fs_base;
    if ((m = hv_mocki_msr(cpu, HV_MSR_IA32_GS_BASE)) != NULL)
        m->value = r->gs_base;
    if ((m = hv_mocki_msr(cpu, HV_MSR_IA32_SYSENTER_CS)) != NULL)
        m->value = r->sysenter_cs;
    if ((m = hv_mocki_msr(cpu, HV_MSR_IA32_SYSENTER_ESP)) != NULL)
        m->value = r->sysenter_esp;
    if ((m = hv_mocki_msr(cpu, HV_MSR_IA32_SYSENTER_EIP)) != NULL)
        m->value = r->sysenter_eip;
    if (r->restore_pat && (m = hv_mocki_msr(cpu, HV_MSR_IA32_PAT)) != NULL)
        m->value = r->pat;
    if (r->restore_efer && (m = hv_mocki_msr(cpu, HV_MSR_IA32_EFER)) != NULL)
        m->value = r->efer;
    cpu->in_guest = false;
}

/* HOST_RIP of the mock: nothing jumps there; exits are simulated by tests. */
static void mock_exit_stub(void)
{
    hv_mocki_fail("the mock's VM-exit stub (hv_arch_exit_entry) was called");
}

uint64_t hv_arch_exit_entry(void)
{
    (void)hv_mocki_cpu("hv_arch_exit_entry");
    return (uint64_t)(uintptr_t)mock_exit_stub;
}

/* ---- VM-entry checks (SDM Vol. 3C, chapter 27 "VM Entries") ----------- */

#define WHY_LEN 200

struct entry_check {
    struct hv_mock_cpu *cpu;
    char why[WHY_LEN];
};

static uint64_t fld(const struct entry_check *c, uint32_t field)
{
    uint64_t v;

    (void)hv_mocki_vmcs_get(c->cpu, field, &v);   /* unwritten reads as 0 */
    return v;
}

static bool written(const struct entry_check *c, uint32_t field)
{
    uint64_t v;

    return hv_mocki_vmcs_get(c->cpu, field, &v);
}

#define FAIL(c, ...) (snprintf((c)->why, WHY_LEN, __VA_ARGS__), false)

static bool ctl_word_ok(struct entry_check *c, const char *name, uint32_t v, uint64_t cap)
{
    uint32_t a0 = (uint32_t)cap, a1 = (uint32_t)(cap >> 32);

    if ((v & a0) != a0)
        return FAIL(c, "%s controls 0x%x: bits 0x%x must be 1 (capability 0x%016llx)", name, v,
                    a0 & ~v, (unsigned long long)cap);
    if (v & ~a1)
        return FAIL(c, "%s controls 0x%x: bits 0x%x must be 0 (capability 0x%016llx)", name, v,
                    v & ~a1, (unsigned long long)cap);
    return true;
}

static bool aligned_pa(uint64_t pa, uint64_t align)
{
    return (pa & (align - 1u)) == 0 && (pa >> hv_mocki_maxphyaddr()) == 0;
}

static uint64_t ctl_cap(const struct entry_check *c, uint32_t plain, uint32_t true_msr)
{
    return hv_mocki_ctl_cap(c->cpu, plain, true_msr);
}

/* 27.2.1: VM-execution, VM-exit and VM-entry control fields (error 7). */
static bool check_controls(struct entry_check *c)
{
    uint32_t pin = (uint32_t)fld(c, HV_VMCS_PIN_BASED_VM_EXEC_CONTROL);
    uint32_t proc = (uint32_t)fld(c, HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);
    uint32_t exit = (uint32_t)fld(c, HV_VMCS_VM_EXIT_CONTROLS);
    uint32_t entry = (uint32_t)fld(c, HV_VMCS_VM_ENTRY_CONTROLS);
    uint32_t proc2 = 0, info, type, vec;
    uint64_t misc = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_MISC);
    uint64_t v;

    if (!ctl_word_ok(c, "pin-based", pin,
                     ctl_cap(c, HV_MSR_IA32_VMX_PINBASED_CTLS, HV_MSR_IA32_VMX_TRUE_PINBASED_CTLS)))
        return false;
    if (!ctl_word_ok(c, "primary processor-based", proc,
                     ctl_cap(c, HV_MSR_IA32_VMX_PROCBASED_CTLS, HV_MSR_IA32_VMX_TRUE_PROCBASED_CTLS)))
        return false;
    if (proc & HV_PROC_ACTIVATE_SECONDARY) {
        proc2 = (uint32_t)fld(c, HV_VMCS_SECONDARY_VM_EXEC_CONTROL);
        if (!ctl_word_ok(c, "secondary processor-based", proc2,
                         hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_PROCBASED_CTLS2)))
            return false;
    }
    if (!ctl_word_ok(c, "VM-exit", exit,
                     ctl_cap(c, HV_MSR_IA32_VMX_EXIT_CTLS, HV_MSR_IA32_VMX_TRUE_EXIT_CTLS)))
        return false;
    if (!ctl_word_ok(c, "VM-entry", entry,
                     ctl_cap(c, HV_MSR_IA32_VMX_ENTRY_CTLS, HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS)))
        return false;

    if (fld(c, HV_VMCS_CR3_TARGET_COUNT) > ((misc >> 16) & 0x1FFu))
        return FAIL(c, "CR3-target count %llu above IA32_VMX_MISC's %llu",
                    (unsigned long long)fld(c, HV_VMCS_CR3_TARGET_COUNT),
                    (unsigned long long)((misc >> 16) & 0x1FFu));
    if ((proc & HV_PROC_USE_IO_BITMAPS) &&
        (!aligned_pa(fld(c, HV_VMCS_IO_BITMAP_A), 4096) || !aligned_pa(fld(c, HV_VMCS_IO_BITMAP_B), 4096)))
        return FAIL(c, "I/O bitmap address not 4 KiB aligned");
    if ((proc & HV_PROC_USE_MSR_BITMAPS) && !aligned_pa(fld(c, HV_VMCS_MSR_BITMAP), 4096))
        return FAIL(c, "MSR bitmap address 0x%llx not 4 KiB aligned",
                    (unsigned long long)fld(c, HV_VMCS_MSR_BITMAP));
    if (proc & HV_PROC_USE_TPR_SHADOW) {
        if (!aligned_pa(fld(c, HV_VMCS_VIRTUAL_APIC_PAGE_ADDR), 4096))
            return FAIL(c, "virtual-APIC page address not 4 KiB aligned");
        if (!(proc2 & (1u << 9)) && (fld(c, HV_VMCS_TPR_THRESHOLD) >> 4))
            return FAIL(c, "TPR threshold bits 31:4 not zero");
    } else if (proc2 & (HV_PROC2_VIRTUALIZE_X2APIC | (1u << 8) | (1u << 9))) {
        return FAIL(c, "x2APIC/APIC-register virtualization or virtual-interrupt delivery without TPR shadow");
    }
    if (!(pin & HV_PIN_NMI_EXITING) && (pin & HV_PIN_VIRTUAL_NMIS))
        return FAIL(c, "virtual NMIs without NMI exiting");
    if (!(pin & HV_PIN_VIRTUAL_NMIS) && (proc & HV_PROC_NMI_WINDOW_EXITING))
        return FAIL(c, "NMI-window exiting without virtual NMIs");
    if ((proc2 & HV_PROC2_VIRTUALIZE_APIC_ACCESSES) && !aligned_pa(fld(c, HV_VMCS_APIC_ACCESS_ADDR), 4096))
        return FAIL(c, "APIC-access address not 4 KiB aligned");
    if ((proc2 & HV_PROC2_VIRTUALIZE_X2APIC) && (proc2 & HV_PROC2_VIRTUALIZE_APIC_ACCESSES))
        return FAIL(c, "virtualize x2APIC mode together with virtualize APIC accesses");
    if ((proc2 & (1u << 9)) && !(pin & HV_PIN_EXTERNAL_INTERRUPT_EXITING))
        return FAIL(c, "virtual-interrupt delivery without external-interrupt exiting");
    if (pin & HV_PIN_POSTED_INTERRUPTS) {
        if (!(proc2 & (1u << 9)) || !(exit & HV_EXIT_CTL_ACK_INTERRUPT_ON_EXIT) ||
            (fld(c, HV_VMCS_POSTED_INTR_NOTIFY_VECTOR) & 0xFF00u) ||
            !aligned_pa(fld(c, HV_VMCS_POSTED_INTR_DESC_ADDR), 64))
            return FAIL(c, "posted-interrupt settings inconsistent");
    }
    if ((proc2 & HV_PROC2_ENABLE_VPID) && fld(c, HV_VMCS_VPID) == 0)
        return FAIL(c, "enable VPID with VPID 0");
    if (proc2 & HV_PROC2_ENABLE_EPT) {
        if (!eptp_valid(c->cpu, fld(c, HV_VMCS_EPT_POINTER), c->why, WHY_LEN))
            return false;
    }
    if (proc2 & (1u << 17)) {
        if (!(proc2 & HV_PROC2_ENABLE_EPT) || !aligned_pa(fld(c, HV_VMCS_PML_ADDRESS), 4096))
            return FAIL(c, "PML without EPT or with an unaligned PML address");
    }
    if ((proc2 & HV_PROC2_UNRESTRICTED_GUEST) && !(proc2 & HV_PROC2_ENABLE_EPT))
        return FAIL(c, "unrestricted guest without EPT");
    if (proc2 & HV_PROC2_ENABLE_VMFUNC) {
        v = fld(c, HV_VMCS_VM_FUNCTION_CONTROLS);
        if (v & ~hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_VMFUNC))
            return FAIL(c, "VM-function controls 0x%llx not allowed", (unsigned long long)v);
        if ((v & 1) && (!(proc2 & HV_PROC2_ENABLE_EPT) || !aligned_pa(fld(c, HV_VMCS_EPTP_LIST_ADDR), 4096)))
            return FAIL(c, "EPTP switching without EPT or with an unaligned EPTP list");
    }
    /* 27.2.1.2 VM-exit control fields */
    if (!(pin & HV_PIN_PREEMPTION_TIMER) && (exit & (1u << 22)))
        return FAIL(c, "save VMX-preemption timer without activating it");
    if ((fld(c, HV_VMCS_VM_EXIT_MSR_STORE_COUNT) && !aligned_pa(fld(c, HV_VMCS_VM_EXIT_MSR_STORE_ADDR), 16)) ||
        (fld(c, HV_VMCS_VM_EXIT_MSR_LOAD_COUNT) && !aligned_pa(fld(c, HV_VMCS_VM_EXIT_MSR_LOAD_ADDR), 16)))
        return FAIL(c, "VM-exit MSR-store/load address not 16-byte aligned");
    /* 27.2.1.3 VM-entry control fields */
    info = (uint32_t)fld(c, HV_VMCS_VM_ENTRY_INTR_INFO);
    if (info & HV_INTR_INFO_VALID) {
        type = (info >> HV_INTR_INFO_TYPE_SHIFT) & 7u;
        vec = info & 0xFFu;
        if (type == 1 || (type == HV_INTR_TYPE_NMI && vec != 2) ||
            (type == HV_INTR_TYPE_HW_EXCEPTION && vec > 31) ||
            (type == HV_INTR_TYPE_OTHER && (vec != 0 || !((ctl_cap(c, HV_MSR_IA32_VMX_PROCBASED_CTLS,
                 HV_MSR_IA32_VMX_TRUE_PROCBASED_CTLS) >> 32) & HV_PROC_MONITOR_TRAP_FLAG))))
            return FAIL(c, "VM-entry interruption information 0x%x: bad type/vector", info);
        if (info & 0x7FFFF000u)
            return FAIL(c, "VM-entry interruption information 0x%x: reserved bits set", info);
        if (info & HV_INTR_INFO_DELIVER_CODE) {
            bool pe = (fld(c, HV_VMCS_GUEST_CR0) & HV_CR0_PE) || (proc2 & HV_PROC2_UNRESTRICTED_GUEST);

            if (type != HV_INTR_TYPE_HW_EXCEPTION || !pe ||
                !(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21))
                return FAIL(c, "VM-entry interruption information 0x%x: error code not allowed", info);
            if (fld(c, HV_VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE) >> 16)
                return FAIL(c, "VM-entry exception error code bits 31:16 set");
        }
        if ((type == HV_INTR_TYPE_SW_INTERRUPT || type == HV_INTR_TYPE_PRIV_SW_EXCEPTION ||
             type == HV_INTR_TYPE_SW_EXCEPTION) &&
            (fld(c, HV_VMCS_VM_ENTRY_INSTRUCTION_LEN) < 1 || fld(c, HV_VMCS_VM_ENTRY_INSTRUCTION_LEN) > 15))
            return FAIL(c, "VM-entry instruction length %llu outside 1..15",
                        (unsigned long long)fld(c, HV_VMCS_VM_ENTRY_INSTRUCTION_LEN));
    }
    if (fld(c, HV_VMCS_VM_ENTRY_MSR_LOAD_COUNT) && !aligned_pa(fld(c, HV_VMCS_VM_ENTRY_MSR_LOAD_ADDR), 16))
        return FAIL(c, "VM-entry MSR-load address not 16-byte aligned");
    if (entry & ((1u << 10) | (1u << 11)))
        return FAIL(c, "entry to SMM / deactivate dual-monitor treatment outside SMM");
    return true;
}

/* 27.2.2-27.2.4: host-state area (error 8). */
static bool check_host(struct entry_check *c)
{
    static const uint32_t sel_f[] = {
        HV_VMCS_HOST_ES_SELECTOR, HV_VMCS_HOST_CS_SELECTOR, HV_VMCS_HOST_SS_SELECTOR,
        HV_VMCS_HOST_DS_SELECTOR, HV_VMCS_HOST_FS_SELECTOR, HV_VMCS_HOST_GS_SELECTOR,
        HV_VMCS_HOST_TR_SELECTOR };
    static const uint32_t base_f[] = {
        HV_VMCS_HOST_FS_BASE, HV_VMCS_HOST_GS_BASE, HV_VMCS_HOST_TR_BASE,
        HV_VMCS_HOST_GDTR_BASE, HV_VMCS_HOST_IDTR_BASE };
    uint64_t cr0 = fld(c, HV_VMCS_HOST_CR0), cr4 = fld(c, HV_VMCS_HOST_CR4);
    uint64_t f0, f1, v;
    uint32_t exit = (uint32_t)fld(c, HV_VMCS_VM_EXIT_CONTROLS);
    uint32_t entry = (uint32_t)fld(c, HV_VMCS_VM_ENTRY_CONTROLS);
    bool host64 = (exit & HV_EXIT_CTL_HOST_ADDR_SPACE_SIZE) != 0;
    size_t i;

    /* Not an SDM check: the mock insists the core set these two. */
    if (!written(c, HV_VMCS_HOST_RIP) || !written(c, HV_VMCS_HOST_RSP))
        return FAIL(c, "HOST_RIP/HOST_RSP never written");

    f0 = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_CR0_FIXED0);
    f1 = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_CR0_FIXED1);
    if ((cr0 & f0) != f0 || (cr0 & ~f1))
        return FAIL(c, "HOST_CR0 0x%llx violates IA32_VMX_CR0_FIXED0/1", (unsigned long long)cr0);
    f0 = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_CR4_FIXED0) | HV_CR4_VMXE;
    f1 = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_CR4_FIXED1);
    if ((cr4 & f0) != f0 || (cr4 & ~f1))
        return FAIL(c, "HOST_CR4 0x%llx violates IA32_VMX_CR4_FIXED0/1 (VMXE must be set)",
                    (unsigned long long)cr4);
    if (fld(c, HV_VMCS_HOST_CR3) >> hv_mocki_maxphyaddr())
        return FAIL(c, "HOST_CR3 0x%llx beyond the physical-address width",
                    (unsigned long long)fld(c, HV_VMCS_HOST_CR3));
    if (!hv_mocki_canonical(c->cpu, fld(c, HV_VMCS_HOST_IA32_SYSENTER_ESP)) ||
        !hv_mocki_canonical(c->cpu, fld(c, HV_VMCS_HOST_IA32_SYSENTER_EIP)))
        return FAIL(c, "host SYSENTER_ESP/EIP not canonical");
    if ((exit & HV_EXIT_CTL_LOAD_PAT) && !pat_valid(fld(c, HV_VMCS_HOST_IA32_PAT)))
        return FAIL(c, "HOST_IA32_PAT 0x%llx invalid", (unsigned long long)fld(c, HV_VMCS_HOST_IA32_PAT));
    if (exit & HV_EXIT_CTL_LOAD_EFER) {
        v = fld(c, HV_VMCS_HOST_IA32_EFER);
        if ((v & ~EFER_VALID) || !(v & HV_EFER_LMA) != !host64 || !(v & HV_EFER_LME) != !host64)
            return FAIL(c, "HOST_IA32_EFER 0x%llx invalid for host address-space size %d",
                        (unsigned long long)v, host64);
    }
    for (i = 0; i < sizeof(sel_f) / sizeof(sel_f[0]); i++) {
        if (fld(c, sel_f[i]) & 7u)
            return FAIL(c, "%s 0x%llx: TI/RPL not 0", hv_vmcs_field_name(sel_f[i]),
                        (unsigned long long)fld(c, sel_f[i]));
    }
    if (fld(c, HV_VMCS_HOST_CS_SELECTOR) == 0 || fld(c, HV_VMCS_HOST_TR_SELECTOR) == 0)
        return FAIL(c, "HOST_CS_SELECTOR/HOST_TR_SELECTOR is 0");
    if (!host64 && fld(c, HV_VMCS_HOST_SS_SELECTOR) == 0)
        return FAIL(c, "HOST_SS_SELECTOR is 0 with a 32-bit host");
    for (i = 0; i < sizeof(base_f) / sizeof(base_f[0]); i++) {
        if (!hv_mocki_canonical(c->cpu, fld(c, base_f[i])))
            return FAIL(c, "%s 0x%llx not canonical", hv_vmcs_field_name(base_f[i]),
                        (unsigned long long)fld(c, base_f[i]));
    }
    /* 27.2.4: the fake CPU runs in IA-32e mode (EFER.LMA). */
    if (hv_mocki_cap(c->cpu, HV_MSR_IA32_EFER) & HV_EFER_LMA) {
        if (!host64)
            return FAIL(c, "host address-space size 0 while the CPU is in IA-32e mode");
    } else if (host64 || (entry & HV_ENTRY_CTL_IA32E_MODE_GUEST)) {
        return FAIL(c, "64-bit host/guest while the CPU is not in IA-32e mode");
    }
    if (host64) {
        if (!(cr4 & HV_CR4_PAE))
            return FAIL(c, "HOST_CR4.PAE clear with a 64-bit host");
        if (!hv_mocki_canonical(c->cpu, fld(c, HV_VMCS_HOST_RIP)))
            return FAIL(c, "HOST_RIP 0x%llx not canonical", (unsigned long long)fld(c, HV_VMCS_HOST_RIP));
    }
    return true;
}

/* Segment access rights (SDM Vol. 3C, 25.4.1, Table 25-2). */
#define AR_TYPE(ar) ((ar) & 0xFu)
#define AR_S(ar) (((ar) >> 4) & 1u)
#define AR_DPL(ar) (((ar) >> 5) & 3u)
#define AR_P(ar) (((ar) >> 7) & 1u)
#define AR_L(ar) (((ar) >> 13) & 1u)
#define AR_DB(ar) (((ar) >> 14) & 1u)
#define AR_G(ar) (((ar) >> 15) & 1u)
#define AR_UNUSABLE(ar) (((ar) >> 16) & 1u)
#define AR_RESERVED 0xFFFE0F00u

struct gseg {
    uint64_t sel, base;
    uint32_t limit, ar;
};

static bool limit_g_ok(const struct gseg *s)
{
    if ((s->limit & 0xFFFu) != 0xFFFu && AR_G(s->ar))
        return false;
    if ((s->limit & 0xFFF00000u) && !AR_G(s->ar))
        return false;
    return true;
}

static const char *const k_seg_name[HV_SEG_COUNT] = { "ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR" };

/* 27.3.1.2 segment registers (unrestricted guest and virtual-8086 mode
 * handled only as far as a blue-pill needs: v8086 skips these checks). */
static bool check_guest_segments(struct entry_check *c, bool ia32e, bool ug, uint64_t cr0)
{
    struct gseg s[HV_SEG_COUNT];
    const struct gseg *cs = &s[HV_SEG_CS], *ss = &s[HV_SEG_SS], *tr = &s[HV_SEG_TR], *ldtr = &s[HV_SEG_LDTR];
    uint32_t i;

    for (i = 0; i < HV_SEG_COUNT; i++) {
        s[i].sel = fld(c, hv_vmcs_guest_segment[i].selector);
        s[i].base = fld(c, hv_vmcs_guest_segment[i].base);
        s[i].limit = (uint32_t)fld(c, hv_vmcs_guest_segment[i].limit);
        s[i].ar = (uint32_t)fld(c, hv_vmcs_guest_segment[i].access_rights);
    }
    if (tr->sel & 4u)
        return FAIL(c, "guest TR selector 0x%llx: TI flag set", (unsigned long long)tr->sel);
    if (!AR_UNUSABLE(ldtr->ar) && (ldtr->sel & 4u))
        return FAIL(c, "guest LDTR selector 0x%llx: TI flag set", (unsigned long long)ldtr->sel);
    if (!ug && (ss->sel & 3u) != (cs->sel & 3u))
        return FAIL(c, "guest SS.RPL != CS.RPL");

    if (!hv_mocki_canonical(c->cpu, tr->base) || !hv_mocki_canonical(c->cpu, s[HV_SEG_FS].base) ||
        !hv_mocki_canonical(c->cpu, s[HV_SEG_GS].base) || (!AR_UNUSABLE(ldtr->ar) && !hv_mocki_canonical(c->cpu, ldtr->base)))
        return FAIL(c, "guest TR/FS/GS/LDTR base not canonical");
    if (cs->base >> 32)
        return FAIL(c, "guest CS base bits 63:32 set");
    for (i = HV_SEG_ES; i <= HV_SEG_DS; i++) {
        if (i != HV_SEG_CS && !AR_UNUSABLE(s[i].ar) && (s[i].base >> 32))
            return FAIL(c, "guest %s base bits 63:32 set", k_seg_name[i]);
    }

    /* CS */
    if (AR_UNUSABLE(cs->ar) ||
        !(AR_TYPE(cs->ar) == 9 || AR_TYPE(cs->ar) == 11 || AR_TYPE(cs->ar) == 13 ||
          AR_TYPE(cs->ar) == 15 || (ug && AR_TYPE(cs->ar) == 3)))
        return FAIL(c, "guest CS access rights 0x%x: bad type", cs->ar);
    if (!AR_S(cs->ar) || !AR_P(cs->ar) || (cs->ar & AR_RESERVED))
        return FAIL(c, "guest CS access rights 0x%x: S/P/reserved bits", cs->ar);
    if ((AR_TYPE(cs->ar) == 3 && AR_DPL(cs->ar) != 0) ||
        ((AR_TYPE(cs->ar) == 9 || AR_TYPE(cs->ar) == 11) && AR_DPL(cs->ar) != AR_DPL(ss->ar)) ||
        ((AR_TYPE(cs->ar) == 13 || AR_TYPE(cs->ar) == 15) && AR_DPL(cs->ar) > AR_DPL(ss->ar)))
        return FAIL(c, "guest CS.DPL %u inconsistent with SS.DPL %u", AR_DPL(cs->ar), AR_DPL(ss->ar));
    if (ia32e && AR_L(cs->ar) && AR_DB(cs->ar))
        return FAIL(c, "guest CS has both L and D/B set");
    if (!limit_g_ok(cs))
        return FAIL(c, "guest CS limit 0x%x inconsistent with G", cs->limit);

    /* SS */
    if (!AR_UNUSABLE(ss->ar)) {
        if (!(AR_TYPE(ss->ar) == 3 || AR_TYPE(ss->ar) == 7) || !AR_S(ss->ar) || !AR_P(ss->ar) ||
            (ss->ar & AR_RESERVED))
            return FAIL(c, "guest SS access rights 0x%x invalid", ss->ar);
        if (!ug && AR_DPL(ss->ar) != (ss->sel & 3u))
            return FAIL(c, "guest SS.DPL != SS.RPL");
        if (!limit_g_ok(ss))
            return FAIL(c, "guest SS limit 0x%x inconsistent with G", ss->limit);
    }
    if ((AR_TYPE(cs->ar) == 3 || !(cr0 & HV_CR0_PE)) && AR_DPL(ss->ar) != 0)
        return FAIL(c, "guest SS.DPL must be 0");

    /* DS, ES, FS, GS */
    for (i = 0; i < HV_SEG_LDTR; i++) {
        const struct gseg *d = &s[i];

        if (i == HV_SEG_CS || i == HV_SEG_SS || AR_UNUSABLE(d->ar))
            continue;
        if (!(AR_TYPE(d->ar) & 1u) || ((AR_TYPE(d->ar) & 8u) && !(AR_TYPE(d->ar) & 2u)))
            return FAIL(c, "guest %s access rights 0x%x: not accessed, or unreadable code", k_seg_name[i], d->ar);
        if (!AR_S(d->ar) || !AR_P(d->ar) || (d->ar & AR_RESERVED))
            return FAIL(c, "guest %s access rights 0x%x: S/P/reserved bits (a null selector needs "
                        "the unusable bit 0x10000)", k_seg_name[i], d->ar);
        if (!ug && AR_TYPE(d->ar) <= 11 && AR_DPL(d->ar) < (d->sel & 3u))
            return FAIL(c, "guest %s.DPL below its RPL", k_seg_name[i]);
        if (!limit_g_ok(d))
            return FAIL(c, "guest %s limit 0x%x inconsistent with G", k_seg_name[i], d->limit);
    }

    /* TR */
    if (AR_UNUSABLE(tr->ar) || (ia32e ? AR_TYPE(tr->ar) != 11 : (AR_TYPE(tr->ar) != 3 && AR_TYPE(tr->ar) != 11)))
        return FAIL(c, "guest TR access rights 0x%x: must be a busy TSS", tr->ar);
    if (AR_S(tr->ar) || !AR_P(tr->ar) || (tr->ar & AR_RESERVED) || !limit_g_ok(tr))
        return FAIL(c, "guest TR access rights 0x%x / limit 0x%x invalid", tr->ar, tr->limit);

    /* LDTR */
    if (!AR_UNUSABLE(ldtr->ar)) {
        if (AR_TYPE(ldtr->ar) != 2 || AR_S(ldtr->ar) || !AR_P(ldtr->ar) || (ldtr->ar & AR_RESERVED) ||
            !limit_g_ok(ldtr))
            return FAIL(c, "guest LDTR access rights 0x%x invalid (incorrect LDTR type %u; a null "
                        "LDTR needs the unusable bit)", ldtr->ar, AR_TYPE(ldtr->ar));
    }
    return true;
}

/* 27.3.1: guest-state area. Failures are VM-entry failures (exit reason
 * 33), *qual = 4 for the VMCS link pointer. */
static bool check_guest(struct entry_check *c, uint32_t *qual)
{
    uint32_t entry = (uint32_t)fld(c, HV_VMCS_VM_ENTRY_CONTROLS);
    uint32_t proc = (uint32_t)fld(c, HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);
    uint32_t proc2 = (proc & HV_PROC_ACTIVATE_SECONDARY) ? (uint32_t)fld(c, HV_VMCS_SECONDARY_VM_EXEC_CONTROL) : 0;
    bool ia32e = (entry & HV_ENTRY_CTL_IA32E_MODE_GUEST) != 0;
    bool ug = (proc2 & HV_PROC2_UNRESTRICTED_GUEST) != 0;
    uint64_t cr0 = fld(c, HV_VMCS_GUEST_CR0), cr4 = fld(c, HV_VMCS_GUEST_CR4);
    uint64_t rfl = fld(c, HV_VMCS_GUEST_RFLAGS), rip = fld(c, HV_VMCS_GUEST_RIP);
    uint64_t misc = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_MISC);
    uint64_t f0, f1, v;
    uint32_t info = (uint32_t)fld(c, HV_VMCS_VM_ENTRY_INTR_INFO);
    uint32_t itype = (info >> HV_INTR_INFO_TYPE_SHIFT) & 7u;
    bool inject_valid = (info & HV_INTR_INFO_VALID) != 0;
    uint32_t act, ii;

    *qual = 0;
    /* 27.3.1.1 control registers, debug registers, MSRs */
    f0 = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_CR0_FIXED0);
    f1 = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_CR0_FIXED1);
    if (ug)
        f0 &= ~(HV_CR0_PE | HV_CR0_PG);
    if ((cr0 & f0) != f0 || (cr0 & ~f1) || (cr0 >> 32))
        return FAIL(c, "GUEST_CR0 0x%llx violates IA32_VMX_CR0_FIXED0/1", (unsigned long long)cr0);
    if ((cr0 & HV_CR0_PG) && !(cr0 & HV_CR0_PE))
        return FAIL(c, "GUEST_CR0 0x%llx: PG without PE", (unsigned long long)cr0);
    f0 = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_CR4_FIXED0);
    f1 = hv_mocki_cap(c->cpu, HV_MSR_IA32_VMX_CR4_FIXED1);
    if ((cr4 & f0) != f0 || (cr4 & ~f1))
        return FAIL(c, "GUEST_CR4 0x%llx violates IA32_VMX_CR4_FIXED0/1", (unsigned long long)cr4);
    if ((entry & HV_ENTRY_CTL_LOAD_DEBUG_CONTROLS) && (fld(c, HV_VMCS_GUEST_DR7) >> 32))
        return FAIL(c, "GUEST_DR7 0x%llx: bits 63:32 set", (unsigned long long)fld(c, HV_VMCS_GUEST_DR7));
    if (ia32e && (!(cr0 & HV_CR0_PG) || !(cr4 & HV_CR4_PAE)))
        return FAIL(c, "IA-32e mode guest without CR0.PG and CR4.PAE");
    if (!ia32e && (cr4 & CR4_PCIDE))
        return FAIL(c, "CR4.PCIDE set outside IA-32e mode");
    if (fld(c, HV_VMCS_GUEST_CR3) >> hv_mocki_maxphyaddr())
        return FAIL(c, "GUEST_CR3 0x%llx sets bits beyond the physical-address width (guest invalid CR3)",
                    (unsigned long long)fld(c, HV_VMCS_GUEST_CR3));
    if (!hv_mocki_canonical(c->cpu, fld(c, HV_VMCS_GUEST_SYSENTER_ESP)) ||
        !hv_mocki_canonical(c->cpu, fld(c, HV_VMCS_GUEST_SYSENTER_EIP)))
        return FAIL(c, "guest SYSENTER_ESP/EIP not canonical");
    if ((entry & HV_ENTRY_CTL_LOAD_PAT) && !pat_valid(fld(c, HV_VMCS_GUEST_IA32_PAT)))
        return FAIL(c, "GUEST_IA32_PAT 0x%llx invalid", (unsigned long long)fld(c, HV_VMCS_GUEST_IA32_PAT));
    if (entry & HV_ENTRY_CTL_LOAD_EFER) {
        v = fld(c, HV_VMCS_GUEST_IA32_EFER);
        if ((v & ~EFER_VALID) || !(v & HV_EFER_LMA) != !ia32e ||
            ((cr0 & HV_CR0_PG) && !(v & HV_EFER_LMA) != !(v & HV_EFER_LME)))
            return FAIL(c, "GUEST_IA32_EFER 0x%llx inconsistent with IA-32e mode guest %d / CR0.PG",
                        (unsigned long long)v, ia32e);
    }

    /* 27.3.1.4 RFLAGS first: it decides whether the segment checks apply. */
    if (rfl & 0xFFFFFFFFFFC08028ull)
        return FAIL(c, "GUEST_RFLAGS 0x%llx: reserved bits set", (unsigned long long)rfl);
    if (!(rfl & HV_RFLAGS_FIXED))
        return FAIL(c, "GUEST_RFLAGS 0x%llx: RFLAGS[1] cleared", (unsigned long long)rfl);
    if ((ia32e || !(cr0 & HV_CR0_PE)) && (rfl & HV_RFLAGS_VM))
        return FAIL(c, "GUEST_RFLAGS.VM set in IA-32e mode or real mode");
    if (inject_valid && itype == HV_INTR_TYPE_EXTERNAL && !(rfl & HV_RFLAGS_IF))
        return FAIL(c, "external interrupt injected with RFLAGS.IF clear");

    /* 27.3.1.2 segment registers */
    if (!(rfl & HV_RFLAGS_VM) && !check_guest_segments(c, ia32e, ug, cr0))
        return false;

    /* 27.3.1.3 descriptor-table registers */
    if (!hv_mocki_canonical(c->cpu, fld(c, HV_VMCS_GUEST_GDTR_BASE)) || !hv_mocki_canonical(c->cpu, fld(c, HV_VMCS_GUEST_IDTR_BASE)))
        return FAIL(c, "guest GDTR/IDTR base not canonical");
    if ((fld(c, HV_VMCS_GUEST_GDTR_LIMIT) >> 16) || (fld(c, HV_VMCS_GUEST_IDTR_LIMIT) >> 16))
        return FAIL(c, "guest GDTR/IDTR limit bits 31:16 set");

    /* 27.3.1.4 RIP */
    if (ia32e && AR_L((uint32_t)fld(c, HV_VMCS_GUEST_CS_AR_BYTES))) {
        if (!hv_mocki_canonical(c->cpu, rip))
            return FAIL(c, "GUEST_RIP 0x%llx not canonical", (unsigned long long)rip);
    } else if (rip >> 32) {
        return FAIL(c, "GUEST_RIP 0x%llx: bits 63:32 set outside 64-bit mode", (unsigned long long)rip);
    }

    /* 27.3.1.5 non-register state */
    act = (uint32_t)fld(c, HV_VMCS_GUEST_ACTIVITY_STATE);
    if (act > 3 || (act != 0 && !(misc & (1ull << (5 + act)))))
        return FAIL(c, "guest activity state %u not supported", act);
    if (act == 1 && AR_DPL((uint32_t)fld(c, HV_VMCS_GUEST_SS_AR_BYTES)) != 0)
        return FAIL(c, "HLT activity state with SS.DPL != 0");
    ii = (uint32_t)fld(c, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO);
    if ((ii & ~0x1Fu) || (ii & 3u) == 3u || (ii & HV_INTERRUPTIBILITY_SMI))
        return FAIL(c, "guest interruptibility 0x%x invalid", ii);
    if ((ii & HV_INTERRUPTIBILITY_STI) && !(rfl & HV_RFLAGS_IF))
        return FAIL(c, "blocking by STI with RFLAGS.IF clear");
    if (inject_valid && itype == HV_INTR_TYPE_EXTERNAL && (ii & 3u))
        return FAIL(c, "external interrupt injected while blocked by STI/MOV SS");
    if (inject_valid && itype == HV_INTR_TYPE_NMI && (ii & HV_INTERRUPTIBILITY_MOV_SS))
        return FAIL(c, "NMI injected while blocked by MOV SS");
    v = fld(c, HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS);
    if (v & ~0x1500Full)
        return FAIL(c, "guest pending debug exceptions 0x%llx: reserved bits", (unsigned long long)v);
    if (!written(c, HV_VMCS_VMCS_LINK_POINTER) || fld(c, HV_VMCS_VMCS_LINK_POINTER) != ~0ull) {
        /* A real CPU accepts a valid shadow-VMCS pointer too; the mock
         * offers no VMCS shadowing and wants all ones. */
        *qual = 4;
        return FAIL(c, "VMCS link pointer %s0x%llx is not 0xffffffffffffffff",
                    written(c, HV_VMCS_VMCS_LINK_POINTER) ? "" : "(never written) ",
                    (unsigned long long)fld(c, HV_VMCS_VMCS_LINK_POINTER));
    }
    return true;
}

hv_status_t hv_arch_vmlaunch_here(void)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_vmlaunch_here");
    struct entry_check c;
    uint32_t qual;
    hv_status_t st;
    int here;

    if (cpu == NULL)
        return NO_CPU;
    if (hv_mocki_injected(cpu, HV_MOCK_OP_VMLAUNCH, &st))
        return st;
    if (!cpu->vmx_operation)
        return vmx_ud(cpu, "VMLAUNCH", "not in VMX operation");
    if (cpu->current_vmcs_pa == ~0ull) {
        hv_mocki_log("cpu%u: VMLAUNCH: VMfailInvalid: no current VMCS", cpu->index);
        return HV_STATUS_VMX_FAIL_INVALID;
    }
    foreign_check(cpu, "VMLAUNCH");
    if (hv_mocki_vmcs_launched(cpu->current_vmcs_pa)) {
        hv_mocki_log("cpu%u: VMLAUNCH: VMfail(4) VMLAUNCH with non-clear VMCS", cpu->index);
        return hv_mocki_vmfail(cpu, 4);
    }
    /* What the real launch stub does before VMLAUNCH: the guest continues
     * right after this call with the caller's stack. */
    hv_mocki_vmcs_put(cpu, HV_VMCS_GUEST_RSP, (uint64_t)(uintptr_t)&here);
#if defined(__GNUC__)
    hv_mocki_vmcs_put(cpu, HV_VMCS_GUEST_RIP, (uint64_t)(uintptr_t)__builtin_return_address(0));
#else
    hv_mocki_vmcs_put(cpu, HV_VMCS_GUEST_RIP, (uint64_t)(uintptr_t)hv_arch_vmlaunch_here);
#endif

    c.cpu = cpu;
    c.why[0] = '\0';
    if (!check_controls(&c)) {
        hv_mocki_log("cpu%u: VMLAUNCH: VMfail(7) VM entry with invalid control field(s): %s",
                     cpu->index, c.why);
        return hv_mocki_vmfail(cpu, 7);
    }
    if (!check_host(&c)) {
        hv_mocki_log("cpu%u: VMLAUNCH: VMfail(8) VM entry with invalid host-state field(s): %s",
                     cpu->index, c.why);
        return hv_mocki_vmfail(cpu, 8);
    }
    if (!check_guest(&c, &qual)) {
        hv_mocki_log("cpu%u: VMLAUNCH: VM-entry failure, exit reason 33 (invalid guest state), "
                     "qualification %u: %s", cpu->index, qual, c.why);
        hv_mocki_vmcs_put(cpu, HV_VMCS_VM_EXIT_REASON, HV_EXIT_REASON_ENTRY_FAILURE | HV_EXIT_ENTRY_FAIL_GUEST_STATE);
        hv_mocki_vmcs_put(cpu, HV_VMCS_EXIT_QUALIFICATION, qual);
        return HV_STATUS_VM_ENTRY_FAILED;
    }
    hv_mocki_vmcs_set_launched(cpu->current_vmcs_pa, true);
    hv_mocki_entry_load(cpu);
    cpu->in_guest = true;
    return HV_STATUS_SUCCESS;
}

/* ========================================================================
 * VMCALL
 * ======================================================================== */

/*
 * >>> In-guest VMCALL: routed to the exit simulator (testing/mock_exit.c,
 * hv_mock_guest_vmcall: RAX/RCX/RDX/R8 = number/a1/a2/a3, exit reason 18,
 * instruction length 3, hv_exit_dispatch). <<<
 */
static uint64_t mock_guest_vmcall(struct hv_mock_cpu *cpu, uint64_t number, uint64_t a1,
                                  uint64_t a2, uint64_t a3)
{
    (void)cpu;
    return hv_mock_guest_vmcall(number, a1, a2, a3);
}

uint64_t hv_arch_vmcall(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_vmcall");

    if (cpu == NULL)
        return (uint64_t)-1;
    /* Outside VMX non-root a real CPU raises #UD; the mock answers -1. */
    if (!cpu->in_guest)
        return (uint64_t)-1;
    return mock_guest_vmcall(cpu, number, a1, a2, a3);
}
