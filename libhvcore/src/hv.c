/* SPDX-License-Identifier: MIT */
/*
 * Instance lifecycle: allocate per-core regions, virtualize every core in
 * turn, roll back on the first failure, devirtualize and free.
 */
#include <hvcore/arch.h>
#include <hvcore/event.h>
#include <hvcore/exit.h>
#include <hvcore/hv.h>
#include <hvcore/trace.h>
#include <hvcore/vmcall.h>

#include "debugger/debugger_internal.h"
#include "lib.h"

void hv_config_init(struct hv_config *cfg)
{
    static const char sig[HV_SIGNATURE_LEN] = "libhvcore";

    if (cfg == NULL)
        return;
    hv_lib_zero(cfg, sizeof(*cfg));
    cfg->size = sizeof(*cfg);
    hv_lib_copy(cfg->signature, sig, sizeof(sig));
    cfg->use_vpid = true;
    cfg->own_host_idt = true;
    cfg->inject_launch_failure_cpu = UINT32_MAX;
}

static bool os_ops_valid(const struct hv_os_ops *os)
{
    return os != NULL && os->size >= sizeof(struct hv_os_ops) &&
           os->alloc_pages && os->free_pages && os->alloc_contiguous &&
           os->free_contiguous && os->cpu_count && os->run_on_cpu &&
           os->run_on_each_cpu && os->virt_to_phys && os->cpu_index;
}

static void free_vcpu_regions(struct hv *hv, struct hv_vcpu *v)
{
    const struct hv_os_ops *os = hv->os;

    if (v->host_idt)
        os->free_contiguous(os->ctx, v->host_idt, HV_PAGE_SIZE);
    if (v->host_stack)
        os->free_contiguous(os->ctx, v->host_stack, HV_HOST_STACK_SIZE);
    if (v->msr_bitmap)
        os->free_contiguous(os->ctx, v->msr_bitmap, HV_PAGE_SIZE);
    if (v->vmcs_region)
        os->free_contiguous(os->ctx, v->vmcs_region, HV_PAGE_SIZE);
    if (v->vmxon_region)
        os->free_contiguous(os->ctx, v->vmxon_region, HV_PAGE_SIZE);
    v->host_idt = v->host_stack = v->msr_bitmap = v->vmcs_region = v->vmxon_region = NULL;
}

static hv_status_t alloc_vcpu_regions(struct hv *hv, struct hv_vcpu *v)
{
    const struct hv_os_ops *os = hv->os;

    v->vmxon_region = os->alloc_contiguous(os->ctx, HV_PAGE_SIZE);
    if (v->vmxon_region == NULL)
        goto vmxon_alloc_failed;
    v->vmcs_region = os->alloc_contiguous(os->ctx, HV_PAGE_SIZE);
    if (v->vmcs_region == NULL)
        goto vmcs_alloc_failed;
    /* A zeroed bitmap traps no MSR (SDM Vol. 3C, 25.6.9). */
    v->msr_bitmap = os->alloc_contiguous(os->ctx, HV_PAGE_SIZE);
    if (v->msr_bitmap == NULL)
        goto bitmap_alloc_failed;
    v->host_stack = os->alloc_contiguous(os->ctx, HV_HOST_STACK_SIZE);
    if (v->host_stack == NULL)
        goto stack_alloc_failed;
    if (hv->cfg.own_host_idt) {
        v->host_idt = os->alloc_contiguous(os->ctx, HV_PAGE_SIZE);
        if (v->host_idt == NULL)
            goto idt_alloc_failed;
    }

    v->vmxon_pa = os->virt_to_phys(os->ctx, v->vmxon_region);
    v->vmcs_pa = os->virt_to_phys(os->ctx, v->vmcs_region);
    v->msr_bitmap_pa = os->virt_to_phys(os->ctx, v->msr_bitmap);
    return HV_STATUS_SUCCESS;

idt_alloc_failed:
    os->free_contiguous(os->ctx, v->host_stack, HV_HOST_STACK_SIZE);
    v->host_stack = NULL;
stack_alloc_failed:
    os->free_contiguous(os->ctx, v->msr_bitmap, HV_PAGE_SIZE);
    v->msr_bitmap = NULL;
bitmap_alloc_failed:
    os->free_contiguous(os->ctx, v->vmcs_region, HV_PAGE_SIZE);
    v->vmcs_region = NULL;
vmcs_alloc_failed:
    os->free_contiguous(os->ctx, v->vmxon_region, HV_PAGE_SIZE);
    v->vmxon_region = NULL;
vmxon_alloc_failed:
    return HV_STATUS_INSUFFICIENT_RESOURCES;
}

hv_status_t hv_create(struct hv **out, const struct hv_os_ops *os, const struct hv_config *cfg)
{
    struct hv_config defaults;
    struct hv *hv;
    uint32_t count, i;
    size_t bytes;
    hv_status_t st;

    if (out == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    *out = NULL;
    if (!os_ops_valid(os))
        return HV_STATUS_BAD_OS_OPS;
    if (cfg == NULL) {
        hv_config_init(&defaults);
        cfg = &defaults;
    } else if (cfg->size < sizeof(*cfg)) {
        return HV_STATUS_INVALID_PARAMETER;
    }
    count = os->cpu_count(os->ctx);
    if (count == 0)
        return HV_STATUS_INVALID_PARAMETER;

    _Static_assert(sizeof(struct hv) <= HV_PAGE_SIZE, "struct hv fits one page");
    hv = os->alloc_pages(os->ctx, 1);
    if (hv == NULL) {
        st = HV_STATUS_INSUFFICIENT_RESOURCES;
        goto hv_alloc_failed;
    }
    hv->os = os;
    hv_lib_copy(&hv->cfg, cfg, sizeof(hv->cfg));
    hv->cpu_count = count;
    hv->failed_cpu = UINT32_MAX;
    for (i = 0; i < HV_EXIT_REASON_COUNT; i++)
        hv->handlers[i] = hv_exit_default_handler(i);
    /* CPUID 0x40000000 answers with these on every exit: build them once. */
    for (i = 0; i < 3; i++) {
        const unsigned char *sig = (const unsigned char *)hv->cfg.signature + i * 4u;

        hv->signature_regs[i] = (uint32_t)sig[0] | ((uint32_t)sig[1] << 8) |
                                ((uint32_t)sig[2] << 16) | ((uint32_t)sig[3] << 24);
    }

    bytes = (size_t)count * sizeof(struct hv_vcpu);
    hv->vcpus_pages = (bytes + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
    hv->vcpus = os->alloc_pages(os->ctx, hv->vcpus_pages);
    if (hv->vcpus == NULL) {
        st = HV_STATUS_INSUFFICIENT_RESOURCES;
        goto vcpus_alloc_failed;
    }
    for (i = 0; i < count; i++) {
        hv->vcpus[i].hv = hv;
        hv->vcpus[i].index = i;
        st = alloc_vcpu_regions(hv, &hv->vcpus[i]);
        if (!hv_success(st))
            goto regions_alloc_failed;
    }
    if (hv->cfg.restart_on_sipi) {
        st = hv_ept_build(hv);
        if (!hv_success(st))
            goto ept_build_failed;
    }
    st = hv_debugger_create(hv);
    if (!hv_success(st))
        goto debugger_create_failed;
    *out = hv;
    return HV_STATUS_SUCCESS;

debugger_create_failed:
    hv_ept_free(hv);
ept_build_failed:
    i = count;
regions_alloc_failed:
    while (i-- > 0)
        free_vcpu_regions(hv, &hv->vcpus[i]);
    os->free_pages(os->ctx, hv->vcpus, hv->vcpus_pages);
vcpus_alloc_failed:
    os->free_pages(os->ctx, hv, 1);
hv_alloc_failed:
    return st;
}

static void log_cpu_status(struct hv *hv, uint32_t cpu, const char *what, hv_status_t st)
{
    char buf[200];
    struct hv_sb sb;

    hv_sb_init(&sb, buf, sizeof(buf));
    hv_sb_str(&sb, "cpu ");
    hv_sb_dec(&sb, cpu);
    hv_sb_str(&sb, ": ");
    hv_sb_str(&sb, what);
    if (!hv_success(st)) {
        hv_sb_str(&sb, ": ");
        hv_sb_status(&sb, st);
    }
    hv_lib_log(hv->os, hv_success(st) ? HV_LOG_INFO : HV_LOG_ERROR, buf);
}

/* Runs on `cpu` with preemption off. Stops at the first core that fails:
 * cores after it are left untouched so the rollback is exact. */
static hv_status_t start_one(uint32_t cpu, void *arg)
{
    struct hv *hv = arg;
    struct hv_vcpu *v = &hv->vcpus[cpu];
    struct hv_guest_entry entry;
    hv_status_t st;
    uint64_t reply;

    if (hv->failed_cpu != UINT32_MAX)
        return HV_STATUS_SUCCESS;

    st = hv_vmx_on(v);
    if (!hv_success(st))
        goto vmx_on_failed;
    log_cpu_status(hv, cpu, "VMXON done, VMCS loaded", st);
    hv_debugger_core_init(v);

    /* RSP and RIP are replaced by the launch stub with its own
     * continuation; RFLAGS is the caller's. */
    entry.rsp = 0;
    entry.rip = 0;
    entry.rflags = hv_arch_read_rflags();
    st = hv_vmcs_setup(v, &entry);
    if (!hv_success(st))
        goto setup_failed;
    log_cpu_status(hv, cpu, "VMCS set up from the running state", st);

    v->diag_valid = false;
    if (hv->cfg.test_corrupt != NULL && cpu == 0) {
        st = hv_vmcs_corrupt_apply(hv->cfg.test_corrupt);
        log_cpu_status(hv, cpu, "test hook: VMCS corrupted before VMLAUNCH", st);
        if (!hv_success(st))
            goto launch_failed;
    }
    if (cpu == hv->cfg.inject_launch_failure_cpu) {
        st = HV_STATUS_VM_INSTRUCTION_ERROR(7);
    } else {
        v->launching = true;
        st = hv_arch_vmlaunch_here();
        v->launching = false;
    }
    /* Explain a refused entry while the VMCS is current (an entry-failure
     * exit at launch was explained in root already). */
    if (!hv_success(st) && cpu != hv->cfg.inject_launch_failure_cpu && !v->diag_valid &&
        (st == HV_STATUS_VM_INSTRUCTION_ERROR(7) || st == HV_STATUS_VM_INSTRUCTION_ERROR(8) ||
         st == HV_STATUS_VM_ENTRY_FAILED))
        hv_vmcs_diagnose_vcpu(v);
    if (!hv_success(st))
        goto launch_failed;
    v->steps |= HV_STEP_LAUNCHED;

    /* Now running as the guest: prove the hypervisor answers. */
    reply = hv_arch_vmcall(HV_VMCALL_PING, HV_VMCALL_KEY, 0, 0);
    if (reply != HV_VMCALL_PING_REPLY) {
        st = HV_STATUS_INTERNAL_ERROR;
        log_cpu_status(hv, cpu, "launched but the hypervisor did not answer VMCALL ping", st);
        goto ping_failed;
    }
    log_cpu_status(hv, cpu, "virtualized (VMLAUNCH ok, VMCALL ping answered)", st);
    v->status = HV_STATUS_SUCCESS;
    return HV_STATUS_SUCCESS;

ping_failed:
    (void)hv_arch_vmcall(HV_VMCALL_DEVIRTUALIZE, HV_VMCALL_KEY, 0, 0);
    v->steps &= ~(uint32_t)HV_STEP_LAUNCHED;
launch_failed:
setup_failed:
    hv_vmx_off(v);
vmx_on_failed:
    v->status = st;
    hv->failed_status = st;
    hv->failed_cpu = cpu;
    log_cpu_status(hv, cpu, "virtualization failed", st);
    return st;
}

/* NMIs the guest was still owed when VMX went away: without them the OS
 * misses a watchdog, perf or crash-dump NMI. The CPU runs natively now, so
 * the OS raises them again on itself. */
static void hand_back_nmis(struct hv *hv, struct hv_vcpu *v)
{
    uint32_t owed = __atomic_exchange_n(&v->pending_nmis, 0u, __ATOMIC_RELAXED);
    uint32_t i;

    if (owed == 0)
        return;
    if (!HV_OS_HAS(hv->os, nmi_self)) {
        log_cpu_status(hv, v->index, owed == 1 ? "1 pending NMI dropped at devirtualization (no os->nmi_self)"
                                               : "2 pending NMIs dropped at devirtualization (no os->nmi_self)",
                       HV_STATUS_SUCCESS);
        return;
    }
    for (i = 0; i < owed; i++)
        hv->os->nmi_self(hv->os->ctx);
}

static hv_status_t stop_cpu(struct hv *hv, uint32_t cpu, bool emergency)
{
    struct hv_vcpu *v = &hv->vcpus[cpu];
    uint64_t r;

    if (v->steps & HV_STEP_LAUNCHED) {
        /* Only VMX root can leave VMX: ask it. It runs hv_vmx_off() there
         * and resumes us after the VMCALL with the hardware state back. */
        r = hv_arch_vmcall(HV_VMCALL_DEVIRTUALIZE, HV_VMCALL_KEY, 0, 0);
        if (r != HV_STATUS_SUCCESS) {
            v->status = (hv_status_t)r;
            log_cpu_status(hv, cpu, "devirtualize VMCALL failed", v->status);
            return v->status;
        }
        log_cpu_status(hv, cpu, emergency ? "devirtualized (emergency)" : "devirtualized", HV_STATUS_SUCCESS);
        if (!emergency)
            hand_back_nmis(hv, v);
    } else if (v->steps & ~(uint32_t)HV_STEP_FEATURE_CONTROL_LOCKED) {
        hv_vmx_off(v);
    }
    v->status = HV_STATUS_SUCCESS;
    return HV_STATUS_SUCCESS;
}

static hv_status_t stop_one(uint32_t cpu, void *arg)
{
    return stop_cpu(arg, cpu, false);
}

hv_status_t hv_stop_this_cpu(struct hv *hv)
{
    uint32_t cpu;

    if (hv == NULL || hv->os->cpu_index == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    cpu = hv->os->cpu_index(hv->os->ctx);
    if (cpu >= hv->cpu_count)
        return HV_STATUS_INVALID_PARAMETER;
    return stop_cpu(hv, cpu, true);
}

hv_status_t hv_start(struct hv *hv)
{
    hv_status_t st;

    if (hv == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    hv->failed_cpu = UINT32_MAX;
    hv->failed_status = HV_STATUS_SUCCESS;
    hv->started = true;
    hv_debugger_start(hv);

    st = hv->os->run_on_each_cpu(hv->os->ctx, start_one, hv, HV_CPU_ORDER_ASCENDING);
    if (!hv_success(st)) {
        hv_lib_log(hv->os, HV_LOG_ERROR, "could not run the bring-up on every CPU");
        goto rollback;
    }
    if (hv->failed_cpu != UINT32_MAX) {
        st = hv->failed_status;
        goto rollback;
    }
    return HV_STATUS_SUCCESS;

rollback:
    /* Undo the cores that did succeed, last first. If even that cannot be
     * scheduled the cores stay virtualized and hv_stop() may be retried. */
    if (!hv_success(hv->os->run_on_each_cpu(hv->os->ctx, stop_one, hv, HV_CPU_ORDER_DESCENDING)))
        hv_lib_log(hv->os, HV_LOG_ERROR, "rollback could not run on every CPU");
    else
        hv->started = false;
    return st;
}

hv_status_t hv_stop(struct hv *hv)
{
    hv_status_t st;
    uint32_t i;

    if (hv == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = hv->os->run_on_each_cpu(hv->os->ctx, stop_one, hv, HV_CPU_ORDER_DESCENDING);
    if (!hv_success(st))
        return st;
    for (i = 0; i < hv->cpu_count; i++) {
        if (!hv_success(hv->vcpus[i].status))
            return hv->vcpus[i].status;
    }
    hv->started = false;
    return HV_STATUS_SUCCESS;
}

void hv_destroy(struct hv *hv)
{
    uint32_t i;

    if (hv == NULL)
        return;
    hv_trace_destroy(hv);
    hv_event_engine_destroy(hv);
    for (i = 0; i < hv->cpu_count; i++) {
        /* Freeing a region the CPU may still cache would corrupt memory
         * later: keep it (leak) rather than free it while in use. */
        if (hv->vcpus[i].steps & (HV_STEP_VMXON | HV_STEP_LAUNCHED)) {
            log_cpu_status(hv, i, "still in VMX operation at destroy: regions kept", HV_STATUS_INTERNAL_ERROR);
            continue;
        }
        free_vcpu_regions(hv, &hv->vcpus[i]);
    }
    /* hv_stop() left every core: no EPT is in use any more. */
    for (i = 0; i < hv->cpu_count && !(hv->vcpus[i].steps & (HV_STEP_VMXON | HV_STEP_LAUNCHED)); i++)
        ;
    if (i == hv->cpu_count)
        hv_ept_free(hv);
    hv_debugger_destroy(hv);
    hv->os->free_pages(hv->os->ctx, hv->vcpus, hv->vcpus_pages);
    hv->os->free_pages(hv->os->ctx, hv, 1);
}

struct hv_vcpu *hv_vcpu_current(struct hv *hv)
{
    uint32_t i = hv->os->cpu_index(hv->os->ctx);

    return i < hv->cpu_count ? &hv->vcpus[i] : NULL;
}
