/* SPDX-License-Identifier: MIT */
/*
 * The VM-exit dispatcher: reason -> handler through a bounds-checked table,
 * per-core counters, the action protocol, and the fatal paths (unexpected
 * reasons, failed VMRESUME, exceptions in VMX root).
 */
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "debugger/debugger_internal.h"
#include "exit/exit_handlers.h"
#include "lib.h"

/* ---- state dump -------------------------------------------------------- */

static void dump_field(struct hv_sb *sb, uint32_t field)
{
    uint64_t v = 0;

    hv_sb_str(sb, " ");
    hv_sb_str(sb, hv_vmcs_field_name(field));
    hv_sb_str(sb, "=");
    if (hv_success(hv_vmcs_read(field, &v)))
        hv_sb_hex(sb, v);
    else
        hv_sb_str(sb, "<unreadable>");
}

static void write_dump(struct hv_vcpu *vcpu, const char *what, uint32_t reason,
                       const uint32_t *fields, uint32_t nfields)
{
    static const char *const gpr_names[16] = {
        "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
    struct hv_sb sb;
    uint32_t i;

    hv_sb_init(&sb, vcpu->dump, sizeof(vcpu->dump));
    hv_sb_str(&sb, "hvcore FATAL cpu ");
    hv_sb_dec(&sb, vcpu->index);
    hv_sb_str(&sb, ": ");
    hv_sb_str(&sb, what);
    hv_sb_str(&sb, " reason=");
    hv_sb_hex(&sb, reason);
    for (i = 0; i < nfields; i++)
        dump_field(&sb, fields[i]);
    for (i = 0; i < 16; i++) {
        if (i == HV_GPR_RSP)
            continue;
        hv_sb_str(&sb, " ");
        hv_sb_str(&sb, gpr_names[i]);
        hv_sb_str(&sb, "=");
        hv_sb_hex(&sb, vcpu->gprs.r[i]);
    }
    hv_lib_log(vcpu->hv->os, HV_LOG_ERROR, vcpu->dump);
}

/* Fields an exit dump shows: what happened and where the guest was. */
static const uint32_t exit_dump_fields[] = {
    HV_VMCS_EXIT_QUALIFICATION, HV_VMCS_VM_EXIT_INTR_INFO, HV_VMCS_VM_EXIT_INSTRUCTION_LEN,
    HV_VMCS_IDT_VECTORING_INFO, HV_VMCS_GUEST_RIP, HV_VMCS_GUEST_RSP, HV_VMCS_GUEST_RFLAGS,
    HV_VMCS_GUEST_CR0, HV_VMCS_GUEST_CR3, HV_VMCS_GUEST_CR4, HV_VMCS_GUEST_CS_SELECTOR,
    HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, HV_VMCS_VM_INSTRUCTION_ERROR,
};

enum hv_exit_action hv_exit_unexpected(struct hv_exit *e)
{
    write_dump(e->vcpu, (e->reason & HV_EXIT_REASON_ENTRY_FAILURE) ? "VM-entry failure"
                                                                   : "unhandled VM exit",
               e->reason, exit_dump_fields, sizeof(exit_dump_fields) / sizeof(exit_dump_fields[0]));
    return HV_ACTION_FATAL;
}

const char *hv_exit_last_dump(const struct hv_vcpu *vcpu)
{
    return vcpu->dump;
}

/* ---- retiring the exiting instruction ------------------------------------- */

/* Inline into the dispatcher: it runs on nearly every exit. */
static inline __attribute__((always_inline)) void skip_instruction(struct hv_exit *e)
{
    uint64_t rip = hv_exit_rip(e);
    uint64_t next = rip + hv_exit_instruction_length(e);
    uint64_t rflags = hv_exit_rflags(e);
    uint32_t intr = hv_vmcs_read32(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO);

    /* Outside 64-bit mode EIP wraps at 4 GiB. Only an instruction that
     * crosses that line needs CS.L, so the common path reads nothing more. */
    if (next > 0xFFFFFFFFull && rip <= 0xFFFFFFFFull &&
        !(hv_vmcs_read32(HV_VMCS_GUEST_CS_AR_BYTES) & (1u << 13)))
        next &= 0xFFFFFFFFull;
    hv_exit_set_rip(e, next);

    /* RF suppresses instruction breakpoints for one instruction only: the
     * CPU clears it when an instruction completes (SDM Vol. 3B, 18.3.1.1),
     * so an emulated one must too, or the next breakpoint is missed. */
    if (rflags & HV_RFLAGS_RF)
        hv_exit_set_rflags(e, rflags & ~HV_RFLAGS_RF);

    /* Retiring an instruction ends the one-instruction shadow of a
     * preceding STI or MOV SS (SDM Vol. 3C, 25.4.2, Table 25-3). */
    if (intr & (HV_INTERRUPTIBILITY_STI | HV_INTERRUPTIBILITY_MOV_SS))
        (void)hv_vmcs_write32(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO,
                              intr & ~(HV_INTERRUPTIBILITY_STI | HV_INTERRUPTIBILITY_MOV_SS));

    /* With RFLAGS.TF set (and DEBUGCTL.BTF clear) the instruction would
     * have ended in a single-step trap: make it pending (DR6.BS) so VM
     * entry delivers the #DB the guest expects (SDM Vol. 3B, 18.3.1.4;
     * Vol. 3C, 27.7.3). */
    if ((rflags & HV_RFLAGS_TF) && !(hv_vmcs_read64(HV_VMCS_GUEST_IA32_DEBUGCTL) & (1ull << 1))) {
        uint64_t pend = hv_vmcs_readnat(HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS);

        (void)hv_vmcs_writenat(HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS, pend | HV_PENDING_DBG_BS);
    }
}

void hv_exit_skip_instruction(struct hv_exit *e)
{
    skip_instruction(e);
}

/* ---- events interrupted by the exit -------------------------------------- */

/* Reasons that can occur while an event is being delivered through the
 * guest IDT, and so may carry valid IDT-vectoring information (SDM Vol. 3C,
 * 28.2.4: a fault in the exception bitmap, a task switch through a task
 * gate, an APIC access, an EPT violation or misconfiguration, a full PML
 * log, an SPP-related event). Instruction exits never do: reading the
 * field costs nothing on their path. */
static const bool k_during_delivery[HV_EXIT_REASON_COUNT] = {
    [HV_EXIT_EXCEPTION_NMI] = true,
    [HV_EXIT_TASK_SWITCH] = true,
    [HV_EXIT_APIC_ACCESS] = true,
    [HV_EXIT_EPT_VIOLATION] = true,
    [HV_EXIT_EPT_MISCONFIG] = true,
    [HV_EXIT_PML_FULL] = true,
    [HV_EXIT_SPP_EVENT] = true,
};

/* Exception classes for the double-fault rules (SDM Vol. 3A, 6.15, Table
 * 6-5); anything that is not a hardware exception counts as benign. */
enum exc_class { EXC_BENIGN, EXC_CONTRIBUTORY, EXC_PAGE_FAULT };

static enum exc_class exc_class(uint32_t info)
{
    uint32_t v = HV_INTR_INFO_VECTOR(info);

    if (((info >> HV_INTR_INFO_TYPE_SHIFT) & 7u) != HV_INTR_TYPE_HW_EXCEPTION)
        return EXC_BENIGN;
    if (v == HV_VECTOR_PF)
        return EXC_PAGE_FAULT;
    /* #DE, #TS, #NP, #SS, #GP, and #CP (21) with CET */
    return (v == HV_VECTOR_DE || (v >= 10 && v <= 13) || v == 21) ? EXC_CONTRIBUTORY : EXC_BENIGN;
}

/*
 * The exit interrupted the delivery of an event (IDT-vectoring information
 * valid). Unless the handler injected something, deliver that event again
 * at VM entry, with its error code and, for software events, its
 * instruction length (SDM Vol. 3C, 28.2.4, 31.7.1.1): otherwise an
 * interrupt or exception the guest was taking is lost. If the handler
 * injected a hardware exception, combine the two as the CPU would: two
 * contributory faults, or a #PF then a contributory fault or #PF, become a
 * #DF; a fault while delivering a #DF is a triple fault (the caller's
 * FATAL); otherwise the handler's exception is delivered (serially).
 */
static enum hv_exit_action complete_event_delivery(struct hv_exit *e, enum hv_exit_action action)
{
    uint32_t idt = hv_vmcs_read32(HV_VMCS_IDT_VECTORING_INFO);
    uint32_t type = (idt >> HV_INTR_INFO_TYPE_SHIFT) & 7u;
    uint32_t now;
    enum exc_class first, second;

    if (!(idt & HV_INTR_INFO_VALID))
        return action;
    if (!e->injected) {
        uint32_t code = (idt & HV_INTR_INFO_DELIVER_CODE) ? hv_vmcs_read32(HV_VMCS_IDT_VECTORING_ERROR_CODE) : 0;

        if (!hv_success(hv_inject_event(e, HV_INTR_INFO_VECTOR(idt), type,
                                        (idt & HV_INTR_INFO_DELIVER_CODE) != 0, code)))
            return hv_exit_unexpected(e);
        return action;
    }
    now = hv_vmcs_read32(HV_VMCS_VM_ENTRY_INTR_INFO);
    if (type == HV_INTR_TYPE_HW_EXCEPTION && HV_INTR_INFO_VECTOR(idt) == HV_VECTOR_DF &&
        exc_class(now) != EXC_BENIGN)
        return hv_exit_triple_fault(e);
    first = exc_class(idt);
    second = exc_class(now);
    if ((first == EXC_CONTRIBUTORY && second == EXC_CONTRIBUTORY) ||
        (first == EXC_PAGE_FAULT && second != EXC_BENIGN)) {
        if (!hv_success(hv_inject_event(e, HV_VECTOR_DF, HV_INTR_TYPE_HW_EXCEPTION, true, 0)))
            return hv_exit_unexpected(e);
    }
    return action;
}

/* ---- dispatch ------------------------------------------------------------ */

static inline void write_back(struct hv_exit *e)
{
    if (e->dirty & HV_EXIT_HAVE_RIP)
        (void)hv_vmcs_writenat(HV_VMCS_GUEST_RIP, e->rip);
    if (e->dirty & HV_EXIT_HAVE_RSP)
        (void)hv_vmcs_writenat(HV_VMCS_GUEST_RSP, e->rsp);
    if (e->dirty & HV_EXIT_HAVE_RFLAGS)
        (void)hv_vmcs_writenat(HV_VMCS_GUEST_RFLAGS, e->rflags);
}

/* Apply the handler's action: what the exit stub does next. */
static inline __attribute__((always_inline)) enum hv_exit_action finish(struct hv_exit *e,
                                                                        enum hv_exit_action action)
{
    switch (action) {
    case HV_ACTION_SKIP:
        /* A fault delivered at this instruction must find RIP on it. */
        if (!e->injected)
            skip_instruction(e);
        write_back(e);
        hv_debugger_exit_end(e->vcpu);
        return HV_ACTION_RESUME;
    case HV_ACTION_RESUME:
        write_back(e);
        hv_debugger_exit_end(e->vcpu);
        return HV_ACTION_RESUME;
    case HV_ACTION_DEVIRTUALIZE:
        return HV_ACTION_DEVIRTUALIZE;
    case HV_ACTION_FATAL:
        if (e->vcpu->dump[0] == '\0')
            (void)hv_exit_unexpected(e);
        return HV_ACTION_FATAL;
    default:
        /* A custom handler returned garbage: treat it as a bug, loudly. */
        (void)hv_exit_unexpected(e);
        return HV_ACTION_FATAL;
    }
}

enum hv_exit_action hv_exit_dispatch(struct hv_vcpu *vcpu)
{
    struct hv_exit e;
    hv_exit_handler_fn fn;
    enum hv_exit_action action, result;
    bool during_delivery = false;

    /* Exit recording (trace.h): the one test it costs when off. */
    struct hv_trace_core *tr = __atomic_load_n(&vcpu->trace, __ATOMIC_ACQUIRE);

    if (__builtin_expect(tr != NULL, 0))
        hv_trace_exit_begin(vcpu);
    e.vcpu = vcpu;
    e.gprs = &vcpu->gprs;
    e.valid = 0;
    e.dirty = 0;
    e.injected = false;
    e.reason = hv_vmcs_read32(HV_VMCS_VM_EXIT_REASON);
    e.basic = e.reason & HV_EXIT_REASON_BASIC_MASK;

    if (e.basic < HV_EXIT_REASON_COUNT) {
        vcpu->exit_count[e.basic]++;
        fn = vcpu->hv->handlers[e.basic];
        during_delivery = k_during_delivery[e.basic];
    } else {
        vcpu->exit_count[HV_EXIT_REASON_COUNT]++;
        fn = NULL;
    }
    /* An entry failure is never a normal exit, whatever its basic reason
     * (SDM Vol. 3C, 27.8): no handler may "resume" it. */
    if (e.reason & HV_EXIT_REASON_ENTRY_FAILURE)
        fn = hv_exit_entry_failure;
    if (fn == NULL)
        fn = hv_exit_unexpected;

    action = fn(&e);
    if (during_delivery && (action == HV_ACTION_RESUME || action == HV_ACTION_SKIP))
        action = complete_event_delivery(&e, action);
    result = finish(&e, action);
    if (__builtin_expect(tr != NULL, 0))
        hv_trace_exit_end(vcpu, e.reason, (uint32_t)action, (uint32_t)result);
    return result;
}

hv_status_t hv_exit_set_handler(struct hv *hv, uint32_t reason, hv_exit_handler_fn fn)
{
    if (hv == NULL || reason >= HV_EXIT_REASON_COUNT)
        return HV_STATUS_INVALID_PARAMETER;
    if (hv->started)
        return HV_STATUS_ALREADY_VIRTUALIZED;
    hv->handlers[reason] = fn != NULL ? fn : hv_exit_default_handler(reason);
    return HV_STATUS_SUCCESS;
}

/* ---- called from the arch backend in VMX root ---------------------------- */

static void stop_machine(struct hv_vcpu *vcpu)
{
    const struct hv_os_ops *os = vcpu->hv->os;

    if (os->panic != NULL)
        os->panic(os->ctx, vcpu->dump);
}

void hv_exit_vmresume_failed(struct hv_vcpu *vcpu, hv_status_t status)
{
    char what[96];
    struct hv_sb sb;

    hv_sb_init(&sb, what, sizeof(what));
    hv_sb_str(&sb, "VMRESUME failed: ");
    hv_sb_status(&sb, status);
    if (status == HV_STATUS_VM_INSTRUCTION_ERROR(7) || status == HV_STATUS_VM_INSTRUCTION_ERROR(8))
        hv_vmcs_diagnose_vcpu(vcpu);
    write_dump(vcpu, what, hv_vmcs_read32(HV_VMCS_VM_EXIT_REASON), exit_dump_fields,
               sizeof(exit_dump_fields) / sizeof(exit_dump_fields[0]));
    stop_machine(vcpu);
}

void hv_exit_root_exception(struct hv_vcpu *vcpu, uint32_t vector, uint64_t error_code, uint64_t rip)
{
    char what[128];
    struct hv_sb sb;

    hv_sb_init(&sb, what, sizeof(what));
    hv_sb_str(&sb, "exception in VMX root: vector ");
    hv_sb_dec(&sb, vector);
    hv_sb_str(&sb, " error ");
    hv_sb_hex(&sb, error_code);
    hv_sb_str(&sb, " at ");
    hv_sb_hex(&sb, rip);
    write_dump(vcpu, what, hv_vmcs_read32(HV_VMCS_VM_EXIT_REASON), exit_dump_fields,
               sizeof(exit_dump_fields) / sizeof(exit_dump_fields[0]));
    stop_machine(vcpu);
}

void hv_exit_root_nmi(struct hv_vcpu *vcpu)
{
    uint32_t proc;

    /* Count it and ask for an exit as soon as the guest can take an NMI;
     * the NMI-window handler injects it (SDM Vol. 3C, 25.6.2, 27.7.6).
     * The debugger's halting NMI is not the guest's: the window exit only
     * brings the core back to root, where it halts. */
    if (!hv_debugger_nmi_is_ours(vcpu))
        hv_exit_pend_nmi(vcpu);
    proc = hv_vmcs_read32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);
    if (!(proc & HV_PROC_NMI_WINDOW_EXITING))
        (void)hv_vmcs_write32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, proc | HV_PROC_NMI_WINDOW_EXITING);
}

bool hv_exit_root_machine_check(struct hv_vcpu *vcpu)
{
    char what[96];
    struct hv_sb sb;
    uint64_t mcg = 0;
    uint32_t proc;
    hv_status_t st = hv_arch_rdmsr_safe(HV_MSR_IA32_MCG_STATUS, &mcg);

    /* RIPV: the interrupted instruction stream (the hypervisor's own code
     * here) can be restarted. Then the error belongs to the OS to judge:
     * it gets the #MC as if it had been running, with MCG_STATUS.MCIP and
     * the banks still set for its handler (SDM Vol. 3B, 16.3.1.2, 16.10). */
    if (hv_success(st) && (mcg & HV_MCG_STATUS_RIPV)) {
        __atomic_store_n(&vcpu->pending_mce, 1u, __ATOMIC_RELAXED);
        proc = hv_vmcs_read32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);
        if (!(proc & HV_PROC_NMI_WINDOW_EXITING))
            (void)hv_vmcs_write32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, proc | HV_PROC_NMI_WINDOW_EXITING);
        return true;
    }
    hv_sb_init(&sb, what, sizeof(what));
    hv_sb_str(&sb, "machine check in VMX root, root code cannot continue: MCG_STATUS=");
    if (hv_success(st))
        hv_sb_hex(&sb, mcg);
    else
        hv_sb_str(&sb, "<unreadable>");
    write_dump(vcpu, what, hv_vmcs_read32(HV_VMCS_VM_EXIT_REASON), exit_dump_fields,
               sizeof(exit_dump_fields) / sizeof(exit_dump_fields[0]));
    stop_machine(vcpu);
    return false;
}

void hv_exit_update_proc_controls(struct hv_vcpu *vcpu, uint32_t set, uint32_t clear)
{
    uint32_t proc = hv_vmcs_read32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);
    uint32_t next = (proc | set) & ~clear;

    if (next != proc)
        (void)hv_vmcs_write32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, next);
    /* An NMI or #MC in root between the read and the write set the window
     * bit in the value we just replaced; its counter says so. */
    if ((__atomic_load_n(&vcpu->pending_nmis, __ATOMIC_RELAXED) != 0 ||
         __atomic_load_n(&vcpu->pending_mce, __ATOMIC_RELAXED) != 0) &&
        !(next & HV_PROC_NMI_WINDOW_EXITING)) {
        next |= HV_PROC_NMI_WINDOW_EXITING;
        (void)hv_vmcs_write32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, next);
    }
    vcpu->ctls.proc = next & ~(uint32_t)HV_PROC_NMI_WINDOW_EXITING;
}
