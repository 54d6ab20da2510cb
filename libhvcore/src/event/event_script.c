/* SPDX-License-Identifier: MIT */
/*
 * One-shot script evaluation (hv_script_eval, `?` in hvctl): the program
 * runs once in VMX root on the chosen core through VMCALL RUN_IN_ROOT, in
 * the context of the guest thread that made the request, with the same
 * globals as the event scripts.
 */
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/hv.h>
#include <hvcore/script.h>
#include <hvcore/vmcall.h>
#include <hvcore/vmcs.h>

#include "event/event_internal.h"
#include "lib.h"

struct eval_call {
    struct hv *hv;
    struct hv_event_engine *g;
    const struct hv_script *prog;
    struct hv_script_eval_result *out;
};

static void eval_emit(void *ctx, uint16_t kind, const void *payload, uint32_t len)
{
    struct hv_script_eval_result *out = ctx;
    const char *p = payload;
    uint32_t i;

    if (kind == HV_MSG_SCRIPT) {
        for (i = 0; i < len && p[i] != '\0' && out->text_len + 1 < HV_SCRIPT_EVAL_TEXT; i++)
            out->text[out->text_len++] = p[i];
        out->text[out->text_len] = '\0';
    } else if (kind == HV_MSG_SCRIPT_STATUS && len == sizeof(struct hv_msg_script_status)) {
        struct hv_msg_script_status m;

        hv_lib_copy(&m, payload, sizeof(m));
        if (m.reason == HV_SCRIPT_END_PAUSE) {
            out->paused++;
        } else {
            out->pc = m.pc;
            out->address = m.address;
        }
    }
}

static uint64_t eval_in_root(void *vcpu_ptr, void *arg)
{
    struct hv_vcpu *vcpu = vcpu_ptr;
    struct eval_call *c = arg;
    const struct hv_os_ops *os = c->hv->os;
    struct hv_script_env env;
    struct hv_gprs regs;

    /* The registers are the caller's own at its VMCALL (kernel code in the
     * middle of hv_arch_vmcall): the script reads and may write a copy;
     * resuming with a script's @rbx = 0 would corrupt the host. */
    hv_lib_copy(&regs, &vcpu->gprs, sizeof(regs));
    regs.r[HV_GPR_RSP] = hv_vmcs_readnat(HV_VMCS_GUEST_RSP);
    hv_lib_zero(&env, sizeof(env));
    env.os = os;
    env.paging = NULL;
    env.gprs = &regs;
    env.rip = hv_vmcs_readnat(HV_VMCS_GUEST_RIP);
    env.rflags = hv_vmcs_readnat(HV_VMCS_GUEST_RFLAGS);
    env.pseudo[HV_SPSEUDO_PID] = os->current_pid != NULL ? os->current_pid(os->ctx) : 0;
    env.pseudo[HV_SPSEUDO_CORE] = vcpu->index;
    env.pseudo[HV_SPSEUDO_IP] = env.rip;
    env.globals = c->g->script->globals;
    env.vm = &c->g->script_vms[vcpu->index];
    env.emit = eval_emit;
    env.emit_ctx = c->out;
    (void)hv_script_run(c->prog, &env);
    /* Register writes stay in the copy, RIP/RFLAGS changes are dropped:
     * only what the script printed and returned is reported. */
    c->out->status = env.status;
    c->out->end = env.end;
    c->out->error = env.error;
    c->out->result = env.result;
    c->out->executed = env.executed;
    return HV_STATUS_SUCCESS;
}

static hv_status_t eval_on_core(uint32_t cpu, void *arg)
{
    struct eval_call *c = arg;
    struct hv_root_request req;

    if (!(c->hv->vcpus[cpu].steps & HV_STEP_LAUNCHED))
        return HV_STATUS_NOT_VIRTUALIZED;
    req.fn = eval_in_root;
    req.arg = c;
    return (hv_status_t)hv_arch_vmcall(HV_VMCALL_RUN_IN_ROOT, HV_VMCALL_KEY, (uint64_t)(uintptr_t)&req, 0);
}

hv_status_t hv_script_eval(struct hv *hv, uint32_t core, const uint8_t *prog, uint32_t len,
                           struct hv_script_eval_result *out)
{
    struct eval_call c;
    struct hv_event_engine *g;
    struct hv_script *s = NULL;
    size_t pages = 0;
    hv_status_t st;

    if (hv == NULL || prog == NULL || out == NULL || len == 0 || len > HV_SCRIPT_MAX_PROGRAM)
        return HV_STATUS_INVALID_PARAMETER;
    if (core >= hv->cpu_count)
        return HV_STATUS_INVALID_PARAMETER;
    hv_lib_zero(out, sizeof(*out));
    st = hv_event_engine_get(hv, &g);
    if (!hv_success(st))
        return st;
    st = hv_event_script_lock_load(hv, g, prog, len, &s, &pages);
    if (!hv_success(st))
        return st;
    c.hv = hv;
    c.g = g;
    c.prog = s;
    c.out = out;
    st = hv->os->run_on_cpu(hv->os->ctx, core, eval_on_core, &c);
    hv->os->free_pages(hv->os->ctx, s, pages);
    return st;
}
