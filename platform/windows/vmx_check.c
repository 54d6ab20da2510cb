// SPDX-License-Identifier: MIT
/*
 * Can this machine be virtualized? Answered without trying: CPUID and one
 * MSR read per processor, and one page of contiguous memory, before any VMX
 * instruction runs (driver.c explains the policy). Kept apart from
 * driver.c so that the unit tests run it on the mock's fake CPUs
 * (test/unit/test_windows_os.c).
 */
#include "hvw_kernel.h"
#include "hvcore_windows.h"

#include <hvcore/arch.h>
#include <hvcore/vmx.h>

#define SAY(level, ...) DbgPrintEx(DPFLTR_IHVDRIVER_ID, (level), "hvcore: " __VA_ARGS__)

struct precheck {
    hv_status_t status;
    uint32_t cpu;
    uint64_t feature_control;
    bool unlocked;
};

static hv_status_t precheck_one(uint32_t cpu, void *arg)
{
    struct precheck *p = arg;
    struct hv_cpuid_regs r;
    uint64_t fc = 0;
    hv_status_t st = HV_STATUS_SUCCESS;

    if (!hv_success(p->status))
        return HV_STATUS_SUCCESS;
    hv_arch_cpuid(1, 0, &r);
    if (!(r.ecx & (1u << 5))) {                       /* SDM Vol. 3C, 24.6 */
        st = HV_STATUS_VMX_NOT_SUPPORTED;
    } else if (!hv_success(hv_arch_rdmsr_safe(HV_MSR_IA32_FEATURE_CONTROL, &fc))) {
        st = HV_STATUS_VMX_NOT_SUPPORTED;
    } else if (!(fc & HV_FEATURE_CONTROL_LOCK)) {
        st = HV_STATUS_VMX_DISABLED_BY_FIRMWARE;
        p->unlocked = true;
    } else if (!(fc & HV_FEATURE_CONTROL_VMX_OUTSIDE_SMX)) {
        st = HV_STATUS_VMX_DISABLED_BY_FIRMWARE;
    }
    if (!hv_success(st)) {
        p->status = st;
        p->cpu = cpu;
        p->feature_control = fc;
    }
    return HV_STATUS_SUCCESS;
}

hv_status_t hvw_vmx_check(void)
{
    const struct hv_os_ops *os = hvw_os_ops();
    struct precheck p = { .status = HV_STATUS_SUCCESS, .cpu = 0, .feature_control = 0, .unlocked = false };
    hv_status_t st;
    void *probe;

    st = os->run_on_each_cpu(os->ctx, precheck_one, &p, HV_CPU_ORDER_ASCENDING);
    if (!hv_success(st)) {
        SAY(DPFLTR_ERROR_LEVEL, "cannot run the VMX check on every processor\n");
        return st;
    }
    if (p.status == HV_STATUS_VMX_NOT_SUPPORTED) {
        SAY(DPFLTR_ERROR_LEVEL, "processor %lu has no VMX (CPUID.1:ECX[5] = 0)\n", (unsigned long)p.cpu);
        return p.status;
    }
    if (p.unlocked) {
        SAY(DPFLTR_ERROR_LEVEL,
            "processor %lu: IA32_FEATURE_CONTROL = 0x%llx is unlocked; the firmware must lock it with VMX on "
            "(hvcore.sys never writes it)\n", (unsigned long)p.cpu, (unsigned long long)p.feature_control);
        return p.status;
    }
    if (!hv_success(p.status)) {
        SAY(DPFLTR_ERROR_LEVEL, "processor %lu: VMX is disabled in firmware (IA32_FEATURE_CONTROL = 0x%llx)\n",
            (unsigned long)p.cpu, (unsigned long long)p.feature_control);
        return p.status;
    }
    probe = os->alloc_contiguous(os->ctx, HV_PAGE_SIZE);
    if (probe == NULL) {
        SAY(DPFLTR_ERROR_LEVEL, "no physically contiguous memory (MmAllocateContiguousMemorySpecifyCache)\n");
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    os->free_contiguous(os->ctx, probe, HV_PAGE_SIZE);
    return HV_STATUS_SUCCESS;
}

