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
    if (msr == 0x830u) {
        /* x2APIC ICR: exists only in x2APIC mode, IA32_APIC_BASE[10]
         * (SDM Vol. 3A, 11.12.1, 11.12.9). */
        m = hv_mocki_msr(cpu, 0x1Bu);
        if (m == NULL || !(m->value & (1ull << 10)))
            return GP;
        hv_mocki_icr_write(cpu, value);
        return HV_STATUS_SUCCESS;
    }
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

/* The checks themselves are the core's (vmx/vmcs_diagnose.c): one source
 * of truth for the mock's entries and for explaining real failures. The
 * mock supplies the fake CPU's VMCS (an unwritten field reads as 0), its
 * capability MSRs and its memory (pa == va, only fake-OS allocations). */
static hv_status_t mock_diag_read(void *ctx, uint32_t field, uint64_t *value)
{
    (void)hv_mocki_vmcs_get(ctx, field, value);   /* unwritten reads as 0 */
    return HV_STATUS_SUCCESS;
}

static hv_status_t mock_diag_phys(void *ctx, uint64_t pa, void *dst, uint32_t len)
{
    (void)ctx;
    if (pa == 0 || !hv_mocki_os_owns((const void *)(uintptr_t)pa, len))
        return HV_STATUS_ACCESS_VIOLATION;
    memcpy(dst, (const void *)(uintptr_t)pa, len);
    return HV_STATUS_SUCCESS;
}

void hv_mock_diag_env(struct hv_mock_cpu *cpu, struct hv_vmx_caps *caps, struct hv_vmcs_diag_env *env)
{
    uint32_t w = 48;
    uint64_t top = 1ull << 56;

    memset(caps, 0, sizeof(*caps));
    memset(env, 0, sizeof(*env));
    caps->basic = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_BASIC);
    caps->revision = HV_VMX_BASIC_REVISION(caps->basic);
    caps->pin = hv_mocki_ctl_cap(cpu, HV_MSR_IA32_VMX_PINBASED_CTLS, HV_MSR_IA32_VMX_TRUE_PINBASED_CTLS);
    caps->proc = hv_mocki_ctl_cap(cpu, HV_MSR_IA32_VMX_PROCBASED_CTLS, HV_MSR_IA32_VMX_TRUE_PROCBASED_CTLS);
    caps->exit = hv_mocki_ctl_cap(cpu, HV_MSR_IA32_VMX_EXIT_CTLS, HV_MSR_IA32_VMX_TRUE_EXIT_CTLS);
    caps->entry = hv_mocki_ctl_cap(cpu, HV_MSR_IA32_VMX_ENTRY_CTLS, HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS);
    caps->proc2 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_PROCBASED_CTLS2);
    caps->misc = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_MISC);
    caps->ept_vpid = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_EPT_VPID_CAP);
    caps->vmfunc = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_VMFUNC);
    caps->cr0_fixed0 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR0_FIXED0);
    caps->cr0_fixed1 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR0_FIXED1);
    caps->cr4_fixed0 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR4_FIXED0);
    caps->cr4_fixed1 = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_CR4_FIXED1);
    env->read_field = mock_diag_read;
    env->read_phys = mock_diag_phys;
    env->ctx = cpu;
    env->caps = caps;
    env->proc3_cap = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_PROCBASED_CTLS3);
    env->maxphyaddr = hv_mocki_maxphyaddr();
    /* The fake CPU's linear width, as hv_mocki_canonical sees it. */
    if (!hv_mocki_canonical(cpu, top))
        w = 57;
    env->linear_bits = w;
    env->cpu_ia32e = (hv_mocki_cap(cpu, HV_MSR_IA32_EFER) & HV_EFER_LMA) != 0;
}

static void log_findings(const struct hv_mock_cpu *cpu, const struct hv_vmcs_diag *d)
{
    char line[320];
    uint32_t i;

    for (i = 0; i < d->count; i++) {
        hv_vmcs_diagnose_format(&d->findings[i], line, sizeof(line));
        hv_mocki_log("cpu%u: VMLAUNCH:   %s", cpu->index, line);
    }
}

hv_status_t hv_arch_vmlaunch_here(void)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_arch_vmlaunch_here");
    static _Thread_local struct hv_vmcs_diag diag;   /* ~2.5 KiB: off the stack */
    const struct hv_vmcs_finding *f;
    struct hv_vmcs_diag_env env;
    struct hv_vmx_caps caps;
    uint64_t v;
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

    /* Not an SDM check: the mock insists the core set these two. */
    if (!hv_mocki_vmcs_get(cpu, HV_VMCS_HOST_RIP, &v) || !hv_mocki_vmcs_get(cpu, HV_VMCS_HOST_RSP, &v)) {
        hv_mocki_log("cpu%u: VMLAUNCH: VMfail(8) HOST_RIP/HOST_RSP never written", cpu->index);
        return hv_mocki_vmfail(cpu, 8);
    }
    hv_mock_diag_env(cpu, &caps, &env);
    if (hv_vmcs_diagnose(&env, &diag) != HV_STATUS_SUCCESS) {
        hv_mocki_fail("hv_vmcs_diagnose refused the mock's environment");
        return HV_STATUS_INTERNAL_ERROR;
    }
    /* The order a processor checks in (SDM Vol. 3C, 27.1-27.4): controls
     * and host state fail the instruction, guest state and MSR loading
     * become entry-failure exits. */
    if ((f = hv_vmcs_diagnose_first(&diag, HV_DIAG_CONTROL)) != NULL) {
        hv_mocki_log("cpu%u: VMLAUNCH: VMfail(7) VM entry with invalid control field(s): %s", cpu->index,
                     hv_vmcs_diagnose_name(f->check));
        log_findings(cpu, &diag);
        return hv_mocki_vmfail(cpu, 7);
    }
    if ((f = hv_vmcs_diagnose_first(&diag, HV_DIAG_HOST)) != NULL) {
        hv_mocki_log("cpu%u: VMLAUNCH: VMfail(8) VM entry with invalid host-state field(s): %s", cpu->index,
                     hv_vmcs_diagnose_name(f->check));
        log_findings(cpu, &diag);
        return hv_mocki_vmfail(cpu, 8);
    }
    if ((f = hv_vmcs_diagnose_first(&diag, HV_DIAG_GUEST)) != NULL) {
        /* 27.8: exit qualification 4 for a bad VMCS link pointer. */
        qual = (f->check == HV_DIAG_GUEST_LINK_ADDR || f->check == HV_DIAG_GUEST_LINK_REVISION) ? 4u : 0u;
        hv_mocki_log("cpu%u: VMLAUNCH: VM-entry failure, exit reason 33 (invalid guest state), "
                     "qualification %u: %s%s", cpu->index, qual, hv_vmcs_diagnose_name(f->check),
                     qual == 4 && !hv_mocki_vmcs_get(cpu, HV_VMCS_VMCS_LINK_POINTER, &v)
                         ? " (VMCS link pointer never written)" : "");
        log_findings(cpu, &diag);
        hv_mocki_vmcs_put(cpu, HV_VMCS_VM_EXIT_REASON, HV_EXIT_REASON_ENTRY_FAILURE | HV_EXIT_ENTRY_FAIL_GUEST_STATE);
        hv_mocki_vmcs_put(cpu, HV_VMCS_EXIT_QUALIFICATION, qual);
        return HV_STATUS_VM_ENTRY_FAILED;
    }
    if ((f = hv_vmcs_diagnose_first(&diag, HV_DIAG_MSR_LOAD)) != NULL) {
        /* 27.4: the qualification is the failing entry's index plus one. */
        qual = (uint32_t)f->value[0] + 1u;
        hv_mocki_log("cpu%u: VMLAUNCH: VM-entry failure, exit reason 34 (MSR loading), "
                     "qualification %u: %s", cpu->index, qual, hv_vmcs_diagnose_name(f->check));
        log_findings(cpu, &diag);
        hv_mocki_vmcs_put(cpu, HV_VMCS_VM_EXIT_REASON, HV_EXIT_REASON_ENTRY_FAILURE | HV_EXIT_ENTRY_FAIL_MSR_LOADING);
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
