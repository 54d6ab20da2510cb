/* SPDX-License-Identifier: MIT */
/*
 * CPUID exits (unconditional in VMX non-root, SDM Vol. 3C, 26.1.2): pass
 * through, except that the guest learns it runs under a hypervisor: leaf 1
 * ECX[31] and the 0x40000000 range (the de-facto hypervisor CPUID leaves).
 */
#include <hvcore/arch.h>
#include <hvcore/exit.h>

#include "exit/trace_arch.h"
#include "exit/exit_handlers.h"

#define CPUID_HV_BASE           0x40000000u
#define CPUID_HV_LAST           0x400000FFu
#define CPUID_HV_MAX_LEAF       0x40000001u
#define CPUID_1_ECX_HYPERVISOR  (1u << 31)

enum hv_exit_action hv_exit_cpuid(struct hv_exit *e)
{
    uint64_t *r = e->gprs->r;
    uint32_t leaf = (uint32_t)r[HV_GPR_RAX], subleaf = (uint32_t)r[HV_GPR_RCX];
    struct hv_cpuid_regs out;

    if (leaf >= CPUID_HV_BASE && leaf <= CPUID_HV_LAST) {
        out.eax = out.ebx = out.ecx = out.edx = 0;
        if (leaf == CPUID_HV_BASE) {
            const uint32_t *sig = e->vcpu->hv->signature_regs;

            out.eax = CPUID_HV_MAX_LEAF;
            out.ebx = sig[0];
            out.ecx = sig[1];
            out.edx = sig[2];
        }
    } else {
        hv_trace_cpuid(leaf, subleaf, &out);
        if (leaf == 1)
            out.ecx |= CPUID_1_ECX_HYPERVISOR;
    }
    /* 32-bit results zero-extend into the 64-bit registers. */
    r[HV_GPR_RAX] = out.eax;
    r[HV_GPR_RBX] = out.ebx;
    r[HV_GPR_RCX] = out.ecx;
    r[HV_GPR_RDX] = out.edx;
    return HV_ACTION_SKIP;
}
