/* SPDX-License-Identifier: MIT */
/*
 * VMX capability discovery (SDM Vol. 3C, 24.6 "Discovering Support for
 * VMX", 24.7 "Enabling and Entering VMX Operation"; Vol. 3D, Appendix A).
 */
#include <hvcore/arch.h>
#include <hvcore/hv.h>
#include <hvcore/vmx.h>

#include "lib.h"

#define CPUID_1_ECX_VMX          (1u << 5)
#define CPUID_7_EBX_INVPCID      (1u << 10)
#define CPUID_7_ECX_WAITPKG      (1u << 5)
#define CPUID_7_EBX_RTM          (1u << 11)
#define CPUID_D1_EAX_XSAVES      (1u << 3)
#define CPUID_80000001_EDX_RDTSCP (1u << 27)

static hv_status_t read_cap(uint32_t msr, uint64_t *out)
{
    /* A VMX capability MSR that faults although CPUID says VMX exists is
     * a broken (or hostile) virtual CPU: report it as "no VMX". */
    hv_status_t st = hv_arch_rdmsr_safe(msr, out);

    return hv_success(st) ? HV_STATUS_SUCCESS : HV_STATUS_VMX_NOT_SUPPORTED;
}

static void read_guest_features(struct hv_vmx_caps *caps)
{
    struct hv_cpuid_regs r;
    uint32_t max_basic, max_ext;

    hv_arch_cpuid(0, 0, &r);
    max_basic = r.eax;
    hv_arch_cpuid(0x80000000u, 0, &r);
    max_ext = r.eax;

    if (max_basic >= 7) {
        hv_arch_cpuid(7, 0, &r);
        caps->has_invpcid = (r.ebx & CPUID_7_EBX_INVPCID) != 0;
        caps->has_waitpkg = (r.ecx & CPUID_7_ECX_WAITPKG) != 0;
        caps->has_rtm = (r.ebx & CPUID_7_EBX_RTM) != 0;
    }
    if (max_basic >= 0xD) {
        hv_arch_cpuid(0xD, 1, &r);
        caps->has_xsaves = (r.eax & CPUID_D1_EAX_XSAVES) != 0;
    }
    if (max_ext >= 0x80000001u) {
        hv_arch_cpuid(0x80000001u, 0, &r);
        caps->has_rdtscp = (r.edx & CPUID_80000001_EDX_RDTSCP) != 0;
    }
}

uint32_t hv_vmx_maxphyaddr(void)
{
    struct hv_cpuid_regs r;

    hv_arch_cpuid(0x80000000u, 0, &r);
    if (r.eax < 0x80000008u)
        return 36;
    hv_arch_cpuid(0x80000008u, 0, &r);
    return (r.eax & 0xFFu) != 0 ? (r.eax & 0xFFu) : 36;
}

hv_status_t hv_vmx_caps_read(struct hv_vmx_caps *caps)
{
    struct hv_cpuid_regs r;
    hv_status_t st;
    uint64_t fc;

    if (caps == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    hv_lib_zero(caps, sizeof(*caps));

    hv_arch_cpuid(1, 0, &r);
    if (!(r.ecx & CPUID_1_ECX_VMX))
        return HV_STATUS_VMX_NOT_SUPPORTED;

    st = read_cap(HV_MSR_IA32_FEATURE_CONTROL, &fc);
    if (!hv_success(st))
        return st;
    caps->feature_control = fc;
    /* Locked with VMX-outside-SMX clear: only a reset can change it. */
    if ((fc & HV_FEATURE_CONTROL_LOCK) && !(fc & HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX))
        return HV_STATUS_VMX_DISABLED_BY_FIRMWARE;

    st = read_cap(HV_MSR_IA32_VMX_BASIC, &caps->basic);
    if (!hv_success(st))
        return st;
    caps->revision = HV_VMX_BASIC_REVISION(caps->basic);
    caps->region_size = HV_VMX_BASIC_REGION_SIZE(caps->basic);
    caps->true_ctls = (caps->basic & HV_VMX_BASIC_TRUE_CTLS) != 0;
    /* The core maps its regions write-back and may place them above 4 GiB
     * (SDM Vol. 3D, A.1: bit 48 limits VMX addresses to 32 bits). */
    if (HV_VMX_BASIC_MEMTYPE(caps->basic) != HV_VMX_MEMTYPE_WB ||
        (caps->basic & HV_VMX_BASIC_PA_32BIT) != 0 ||
        caps->region_size == 0 || caps->region_size > HV_PAGE_SIZE)
        return HV_STATUS_VMX_BASIC_UNSUPPORTED;

    /* SDM Vol. 3D, A.2: when bit 55 is set the TRUE MSRs report exactly
     * which default-1 controls may be cleared. */
    st = read_cap(caps->true_ctls ? HV_MSR_IA32_VMX_TRUE_PINBASED_CTLS : HV_MSR_IA32_VMX_PINBASED_CTLS, &caps->pin);
    if (hv_success(st))
        st = read_cap(caps->true_ctls ? HV_MSR_IA32_VMX_TRUE_PROCBASED_CTLS : HV_MSR_IA32_VMX_PROCBASED_CTLS, &caps->proc);
    if (hv_success(st))
        st = read_cap(caps->true_ctls ? HV_MSR_IA32_VMX_TRUE_EXIT_CTLS : HV_MSR_IA32_VMX_EXIT_CTLS, &caps->exit);
    if (hv_success(st))
        st = read_cap(caps->true_ctls ? HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS : HV_MSR_IA32_VMX_ENTRY_CTLS, &caps->entry);
    if (hv_success(st))
        st = read_cap(HV_MSR_IA32_VMX_MISC, &caps->misc);
    if (hv_success(st))
        st = read_cap(HV_MSR_IA32_VMX_CR0_FIXED0, &caps->cr0_fixed0);
    if (hv_success(st))
        st = read_cap(HV_MSR_IA32_VMX_CR0_FIXED1, &caps->cr0_fixed1);
    if (hv_success(st))
        st = read_cap(HV_MSR_IA32_VMX_CR4_FIXED0, &caps->cr4_fixed0);
    if (hv_success(st))
        st = read_cap(HV_MSR_IA32_VMX_CR4_FIXED1, &caps->cr4_fixed1);
    if (!hv_success(st))
        return st;

    /* IA32_VMX_PROCBASED_CTLS2 exists only if "activate secondary
     * controls" can be 1 (SDM Vol. 3D, A.3.3). */
    if ((caps->proc >> 32) & HV_PROC_ACTIVATE_SECONDARY) {
        st = read_cap(HV_MSR_IA32_VMX_PROCBASED_CTLS2, &caps->proc2);
        if (!hv_success(st))
            return st;
        if ((caps->proc2 >> 32) & (HV_PROC2_ENABLE_EPT | HV_PROC2_ENABLE_VPID)) {
            st = read_cap(HV_MSR_IA32_VMX_EPT_VPID_CAP, &caps->ept_vpid);
            if (!hv_success(st))
                return st;
        }
        if ((caps->proc2 >> 32) & HV_PROC2_ENABLE_VMFUNC) {
            st = read_cap(HV_MSR_IA32_VMX_VMFUNC, &caps->vmfunc);
            if (!hv_success(st))
                return st;
        }
    }

    read_guest_features(caps);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_vmx_adjust_controls(uint32_t wanted, uint32_t required,
                                   uint64_t cap_msr, uint32_t *out)
{
    uint32_t allowed0 = (uint32_t)cap_msr;         /* bits that must be 1 */
    uint32_t allowed1 = (uint32_t)(cap_msr >> 32); /* bits that may be 1 */
    uint32_t value = ((wanted | required) | allowed0) & allowed1;

    if (out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    *out = value;
    return (required & ~value) ? HV_STATUS_UNSUPPORTED : HV_STATUS_SUCCESS;
}
