/* SPDX-License-Identifier: MIT */
/*
 * The per-core MSR broadcast: one request, executed on each target core,
 * in VMX root when that core is virtualized (so guest-state MSRs reach
 * their VMCS fields), fault-safe everywhere (DESIGN.md 4).
 *
 * No lock: a request's state lives on the caller's stack and each core
 * runs its part with interrupts off, so requests from many threads to the
 * same core are serialized by the core itself and all complete.
 */
#include <hvcore/arch.h>
#include <hvcore/hv.h>
#include <hvcore/msr.h>
#include <hvcore/vmcall.h>

#include "lib.h"

enum op { OP_READ, OP_WRITE };

struct one_core {
    struct hv *hv;
    enum op op;
    uint32_t msr;
    struct hv_msr_result *out;
};

/* In VMX root on the target core, called through VMCALL RUN_IN_ROOT. */
static uint64_t in_root(void *vcpu_ptr, void *arg)
{
    struct hv_vcpu *vcpu = vcpu_ptr;
    struct one_core *c = arg;
    enum hv_msr_route route = HV_MSR_ROUTE_PHYSICAL;
    hv_status_t st;

    if (c->op == OP_READ)
        st = hv_msr_guest_read(vcpu, c->msr, &c->out->value, &route);
    else
        st = hv_msr_guest_write(vcpu, c->msr, c->out->value, &route);
    c->out->route = route;
    c->out->in_root = 1;
    return st;
}

/* On the target core (os->run_on_cpu), interrupts off. */
static hv_status_t on_core(uint32_t cpu, void *arg)
{
    struct one_core *c = arg;
    const struct hv_vcpu *v = &c->hv->vcpus[cpu];
    struct hv_root_request req;
    hv_status_t st;

    if (v->steps & HV_STEP_LAUNCHED) {
        req.fn = in_root;
        req.arg = c;
        st = (hv_status_t)hv_arch_vmcall(HV_VMCALL_RUN_IN_ROOT, HV_VMCALL_KEY,
                                         (uint64_t)(uintptr_t)&req, 0);
    } else if (c->msr == HV_MSR_IA32_SMBASE) {
        /* SMM only (SDM Vol. 4, Table 2-2): #GP here too, whatever the
         * platform (an emulator, a VM) does with it. */
        st = HV_STATUS_EXCEPTION_GENERAL_PROTECTION;
    } else if (c->op == OP_READ) {
        st = hv_arch_rdmsr_safe(c->msr, &c->out->value);
    } else {
        st = hv_arch_wrmsr_safe(c->msr, c->out->value);
    }
    c->out->status = st;
    return st;
}

uint32_t hv_msr_target_count(const struct hv *hv, uint32_t core)
{
    if (hv == NULL)
        return 0;
    if (core == HV_ALL_CORES)
        return hv->cpu_count;
    return core < hv->cpu_count ? 1u : 0u;
}

static hv_status_t broadcast(struct hv *hv, uint32_t core, enum op op, uint32_t msr,
                             uint64_t value, struct hv_msr_result *results, uint32_t results_len)
{
    uint32_t n = hv_msr_target_count(hv, core), k;
    hv_status_t first = HV_STATUS_SUCCESS;
    struct one_core c;

    /* Everything is checked before any core runs anything. */
    if (n == 0 || results == NULL || results_len < n)
        return HV_STATUS_INVALID_PARAMETER;
    for (k = 0; k < n; k++) {
        struct hv_msr_result *r = &results[k];
        hv_status_t st;

        r->core = core == HV_ALL_CORES ? k : core;
        r->value = op == OP_WRITE ? value : 0;
        r->route = HV_MSR_ROUTE_PHYSICAL;
        r->in_root = 0;
        r->status = HV_STATUS_CPU_CALL_FAILED;
        c.hv = hv;
        c.op = op;
        c.msr = msr;
        c.out = r;
        st = hv->os->run_on_cpu(hv->os->ctx, r->core, on_core, &c);
        if (st == HV_STATUS_CPU_CALL_FAILED)
            r->status = st;
        if (!hv_success(r->status) && hv_success(first))
            first = r->status;
    }
    return first;
}

hv_status_t hv_msr_read(struct hv *hv, uint32_t core, uint32_t msr,
                        struct hv_msr_result *results, uint32_t results_len)
{
    return broadcast(hv, core, OP_READ, msr, 0, results, results_len);
}

hv_status_t hv_msr_write(struct hv *hv, uint32_t core, uint32_t msr, uint64_t value,
                         struct hv_msr_result *results, uint32_t results_len)
{
    return broadcast(hv, core, OP_WRITE, msr, value, results, results_len);
}
