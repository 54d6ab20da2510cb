/* SPDX-License-Identifier: MIT */
/*
 * Smaller default handlers: XSETBV, INVD/WBINVD, instructions that must
 * fault in the guest, NMIs, and the fatal reasons.
 */
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "debugger/debugger_internal.h"
#include "exit/trace_arch.h"
#include "exit/exit_handlers.h"
#include "lib.h"

#define XCR0_X87       (1ull << 0)
#define XCR0_SSE       (1ull << 1)
#define XCR0_AVX       (1ull << 2)
#define XCR0_BNDREGS   (1ull << 3)
#define XCR0_BNDCSR    (1ull << 4)
#define XCR0_AVX512    (7ull << 5)
#define XCR0_TILECFG   (1ull << 17)
#define XCR0_TILEDATA  (1ull << 18)

/* XSETBV (always exits, SDM Vol. 3C, 26.1.2): the checks of SDM Vol. 2D
 * "XSETBV" and Vol. 1, 13.3, then the real instruction, fault-safe. */
enum hv_exit_action hv_exit_xsetbv(struct hv_exit *e)
{
    uint64_t *r = e->gprs->r;
    uint64_t v = ((uint64_t)(uint32_t)r[HV_GPR_RDX] << 32) | (uint32_t)r[HV_GPR_RAX];
    struct hv_cpuid_regs c;
    uint64_t supported;
    bool ok;

    hv_trace_cpuid(0xD, 0, &c);
    supported = ((uint64_t)c.edx << 32) | c.eax;
    ok = hv_exit_cpl(e) == 0 && (uint32_t)r[HV_GPR_RCX] == 0 &&
         (v & XCR0_X87) && (v & ~supported) == 0 &&
         !((v & XCR0_AVX) && !(v & XCR0_SSE)) &&
         !((v & XCR0_AVX512) && ((v & XCR0_AVX512) != XCR0_AVX512 || !(v & XCR0_AVX))) &&
         !!(v & XCR0_BNDREGS) == !!(v & XCR0_BNDCSR) &&
         !!(v & XCR0_TILECFG) == !!(v & XCR0_TILEDATA);
    if (!ok || !hv_success(hv_trace_xsetbv_safe(0, v))) {
        (void)hv_inject_gp(e, 0);
        return HV_ACTION_RESUME;
    }
    return HV_ACTION_SKIP;
}

/* INVD would throw away dirty lines the host owns too; give it WBINVD's
 * semantics, which are a valid implementation of INVD's guarantees. */
enum hv_exit_action hv_exit_invd(struct hv_exit *e)
{
    (void)e;
    hv_arch_wbinvd();
    return HV_ACTION_SKIP;
}

enum hv_exit_action hv_exit_wbinvd(struct hv_exit *e)
{
    (void)e;
    hv_arch_wbinvd();
    return HV_ACTION_SKIP;
}

/* GETSEC and the VMX instructions: the guest has no VMX of its own; #UD is
 * what a CPU without (nested) VMX gives. */
enum hv_exit_action hv_exit_inject_ud(struct hv_exit *e)
{
    (void)hv_inject_ud(e);
    return HV_ACTION_RESUME;
}

/* A triple fault shuts a native CPU down, and a PC turns that shutdown
 * into a reset of the machine (SDM Vol. 3A, 6.15, interrupt 8: "the
 * processor enters shutdown mode"). The guest is the machine's own OS, so
 * the core does what the machine would: it records why (the dump goes to
 * the log, which the platform may or may not get to print) and resets the
 * platform from root. An SDK user who would rather stop and look overrides
 * reason 2. FATAL only if no reset mechanism answered. */
enum hv_exit_action hv_exit_triple_fault(struct hv_exit *e)
{
    (void)hv_exit_unexpected(e);
    hv_lib_log(e->vcpu->hv->os, HV_LOG_ERROR, "guest triple fault: resetting the machine, as the CPU would");
    hv_arch_reset_platform();
    return HV_ACTION_FATAL;
}

/*
 * INIT (reason 3): a native CPU resets itself and waits for a SIPI; in VMX
 * non-root it exits instead (SDM Vol. 3C, 26.2), and the guest's state is
 * the core's to change. Two ways:
 *
 * - Restartable (cfg.restart_on_sipi and the CPU has unrestricted guest,
 *   EPT, wait-for-SIPI; hv_ept_sipi_ready): EPT (the identity map built at
 *   hv_create) and unrestricted guest are switched on here, before the
 *   real-mode code that follows the SIPI, and CR0.PE/PG leave the CR0
 *   guest/host mask (with unrestricted guest they are no longer fixed,
 *   SDM Vol. 3C, 24.8 and 27.3.1.1). The CPU waits for the SIPI in the
 *   wait-for-SIPI activity state, where it takes no interrupts and no NMIs
 *   (25.4.2). This is how firmware (OVMF) restarts its APs at
 *   ExitBootServices and how an OS brings up a CPU.
 *
 * - Otherwise the blue-pill guest cannot run the real-mode start-up code
 *   that follows, so the CPU is parked as INIT would park it: wait-for-
 *   SIPI (HLT where the CPU has no wait-for-SIPI state), costing nothing;
 *   a SIPI then leaves it parked.
 */
static hv_status_t enter_restartable(struct hv_vcpu *v)
{
    const struct hv_vmx_caps *c = &v->caps;
    uint32_t proc2 = v->ctls.proc2 | HV_PROC2_ENABLE_EPT | HV_PROC2_UNRESTRICTED_GUEST;
    uint64_t cr0_mask = ((c->cr0_fixed0 & ~(HV_CR0_PE | HV_CR0_PG)) | (~c->cr0_fixed1 & 0xFFFFFFFFull));
    hv_status_t st;

    if (!(v->ctls.proc & HV_PROC_ACTIVATE_SECONDARY)) {
        /* Secondary controls were off (nothing needed them): turn them on
         * with exactly the two bits this needs. */
        proc2 = HV_PROC2_ENABLE_EPT | HV_PROC2_UNRESTRICTED_GUEST;
        hv_exit_update_proc_controls(v, HV_PROC_ACTIVATE_SECONDARY, 0);
    }
    st = hv_vmcs_write64(HV_VMCS_EPT_POINTER, v->hv->eptp);
    if (hv_success(st))
        st = hv_vmcs_write32(HV_VMCS_SECONDARY_VM_EXEC_CONTROL, proc2);
    if (hv_success(st))
        st = hv_vmcs_writenat(HV_VMCS_CR0_GUEST_HOST_MASK, cr0_mask);
    if (!hv_success(st))
        return st;
    v->ctls.proc2 = proc2;
    /* A new EPTP: drop whatever the CPU cached under it (SDM Vol. 3C,
     * 29.4.3.1), single-context where offered, else all contexts. */
    if (v->caps.ept_vpid & (1ull << 25))
        (void)hv_arch_invept(1, v->hv->eptp);
    else if (v->caps.ept_vpid & (1ull << 26))
        (void)hv_arch_invept(2, 0);
    return HV_STATUS_SUCCESS;
}

enum hv_exit_action hv_exit_init_signal(struct hv_exit *e)
{
    struct hv_vcpu *v = e->vcpu;
    uint32_t state = (v->caps.misc & HV_VMX_MISC_ACTIVITY_WAIT_SIPI) ? HV_ACTIVITY_WAIT_SIPI : HV_ACTIVITY_HLT;
    const char *why = NULL;
    bool restartable = hv_ept_sipi_ready(v->hv, v, &why);

    if (restartable && !hv_success(enter_restartable(v)))
        return hv_exit_unexpected(e);
    /* INIT leaves no blocking (SDM Vol. 3A, Table 10-1); and a VM exit
     * outside SMM saves blocking by SMI as 0 (SDM Vol. 3C, 28.3.4), which
     * Bochs 2.7 does not (it saves its wait-for-SIPI mask there, and the
     * next entry fails; stlintel/Bochs#10, fixed after 2.7). */
    if (!hv_success(hv_vmcs_write32(HV_VMCS_GUEST_ACTIVITY_STATE, state)) ||
        !hv_success(hv_vmcs_write32(HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, 0)))
        return hv_exit_unexpected(e);
    v->awaiting_sipi = restartable;
    if (restartable) {
        hv_lib_log(v->hv->os, HV_LOG_INFO, "INIT received: waiting for a SIPI (unrestricted guest + EPT)");
    } else {
        char msg[200];
        struct hv_sb sb;

        hv_sb_init(&sb, msg, sizeof(msg));
        hv_sb_str(&sb, state == HV_ACTIVITY_WAIT_SIPI ? "INIT received: the CPU is parked in wait-for-SIPI"
                                                      : "INIT received: the CPU is parked in HLT (no wait-for-SIPI state)");
        hv_sb_str(&sb, " (no restart at SIPI: ");
        hv_sb_str(&sb, why != NULL ? why : "?");
        hv_sb_str(&sb, ")");
        hv_lib_log(v->hv->os, HV_LOG_WARN, msg);
    }
    return HV_ACTION_RESUME;
}

/* One segment register as INIT leaves it (SDM Vol. 3A, 10.1.1, Table
 * 10-1: selector 0 except CS, base 0, limit 0xFFFF, present and
 * accessed), in VMCS access-rights format (SDM Vol. 3C, 25.4.1). */
static hv_status_t write_seg(enum hv_seg s, uint16_t sel, uint64_t base, uint32_t ar)
{
    const struct hv_vmcs_segment_fields *f = &hv_vmcs_guest_segment[s];
    hv_status_t st = hv_vmcs_write(f->selector, sel);

    if (hv_success(st))
        st = hv_vmcs_write(f->base, base);
    if (hv_success(st))
        st = hv_vmcs_write(f->limit, 0xFFFFu);
    if (hv_success(st))
        st = hv_vmcs_write(f->access_rights, ar);
    return st;
}

#define AR_CODE_RX_ACCESSED 0x9Bu  /* P, S, type 11 */
#define AR_DATA_RW_ACCESSED 0x93u  /* P, S, type 3 */
#define AR_TSS_BUSY_32      0x8Bu  /* P, type 11 (16/32-bit mode: 3 or 11) */
#define AR_LDT              0x82u  /* P, type 2 */
#define CR0_AFTER_INIT      0x60000010ull /* CD, NW, ET (Table 10-1) */

/* The state a SIPI starts the CPU in: real mode, CS = vector << 8, IP 0
 * (SDM Vol. 3A, 10.4.3 and Table 10-1; 11.6 for the STARTUP IPI). */
static hv_status_t restart_at(struct hv_exit *e, uint32_t vector)
{
    struct hv_vcpu *v = e->vcpu;
    const struct hv_vmx_caps *c = &v->caps;
    struct hv_cpuid_regs id;
    uint32_t i, entry;
    hv_status_t st = HV_STATUS_SUCCESS;

    for (i = 0; i < HV_SEG_COUNT && hv_success(st); i++) {
        if (i == HV_SEG_CS)
            st = write_seg(HV_SEG_CS, (uint16_t)(vector << 8), (uint64_t)vector << 12, AR_CODE_RX_ACCESSED);
        else if (i == HV_SEG_TR)
            st = write_seg(HV_SEG_TR, 0, 0, AR_TSS_BUSY_32);
        else if (i == HV_SEG_LDTR)
            st = write_seg(HV_SEG_LDTR, 0, 0, AR_LDT);
        else
            st = write_seg((enum hv_seg)i, 0, 0, AR_DATA_RW_ACCESSED);
    }
    entry = hv_vmcs_read32(HV_VMCS_VM_ENTRY_CONTROLS) & ~HV_ENTRY_CTL_IA32E_MODE_GUEST;
#define W(kind, f, val)                         \
    do {                                        \
        if (hv_success(st))                     \
            st = hv_vmcs_write##kind((f), (val)); \
    } while (0)
    W(32, HV_VMCS_VM_ENTRY_CONTROLS, entry);
    W(32, HV_VMCS_GUEST_GDTR_LIMIT, 0xFFFFu);
    W(nat, HV_VMCS_GUEST_GDTR_BASE, 0);
    W(32, HV_VMCS_GUEST_IDTR_LIMIT, 0xFFFFu);
    W(nat, HV_VMCS_GUEST_IDTR_BASE, 0);
    /* PE and PG may be 0 under unrestricted guest; the other fixed bits
     * (NE) stay set and the guest reads its own value from the shadow. */
    W(nat, HV_VMCS_GUEST_CR0, (CR0_AFTER_INIT | (c->cr0_fixed0 & ~(HV_CR0_PE | HV_CR0_PG))) & c->cr0_fixed1);
    W(nat, HV_VMCS_CR0_READ_SHADOW, CR0_AFTER_INIT);
    W(nat, HV_VMCS_GUEST_CR3, 0);
    W(nat, HV_VMCS_GUEST_CR4, (c->cr4_fixed0 | HV_CR4_VMXE) & c->cr4_fixed1);
    W(nat, HV_VMCS_CR4_READ_SHADOW, 0);
    W(nat, HV_VMCS_GUEST_DR7, 0x400u);
    W(64, HV_VMCS_GUEST_IA32_DEBUGCTL, 0);
    W(64, HV_VMCS_GUEST_IA32_EFER, 0);
    W(32, HV_VMCS_GUEST_INTERRUPTIBILITY_INFO, 0);
    W(nat, HV_VMCS_GUEST_PENDING_DBG_EXCEPTIONS, 0);
    W(32, HV_VMCS_GUEST_ACTIVITY_STATE, HV_ACTIVITY_ACTIVE);
#undef W
    if (!hv_success(st))
        return st;
    /* General registers 0, EDX = the processor signature (Table 10-1). */
    hv_trace_cpuid(1, 0, &id);
    for (i = 0; i < 16; i++)
        e->gprs->r[i] = 0;
    e->gprs->r[HV_GPR_RDX] = id.eax;
    hv_exit_set_rsp(e, 0);
    hv_exit_set_rip(e, 0);
    hv_exit_set_rflags(e, HV_RFLAGS_FIXED);
    /* INIT flushes the TLBs; with VPID the guest's translations would
     * survive VM entries (SDM Vol. 3C, 29.1). */
    if (v->ctls.proc2 & HV_PROC2_ENABLE_VPID)
        (void)hv_arch_invvpid(1, (uint16_t)(v->index + 1u), 0);
    return HV_STATUS_SUCCESS;
}

/* SIPI (reason 4): exits only in wait-for-SIPI (SDM Vol. 3C, 26.2). The
 * first SIPI after a restartable INIT starts the CPU at the vector; any
 * other (a second SIPI of INIT-SIPI-SIPI cannot exit once the CPU runs,
 * but a handler that left it waiting might see one; or a CPU parked
 * without unrestricted guest) leaves it as it is, as a CPU that is not
 * waiting for a SIPI ignores it (SDM Vol. 3A, 11.6.1). */
enum hv_exit_action hv_exit_sipi(struct hv_exit *e)
{
    struct hv_vcpu *v = e->vcpu;
    uint32_t vector = (uint32_t)(hv_exit_qualification(e) & 0xFFu);
    char msg[120];
    struct hv_sb sb;

    hv_sb_init(&sb, msg, sizeof(msg));
    hv_sb_str(&sb, "SIPI vector ");
    hv_sb_hex(&sb, vector);
    if (!v->awaiting_sipi) {
        hv_sb_str(&sb, " ignored: the CPU stays parked (not restartable here)");
        hv_lib_log(v->hv->os, HV_LOG_WARN, msg);
        return HV_ACTION_RESUME;
    }
    if (!hv_success(restart_at(e, vector)))
        return hv_exit_unexpected(e);
    v->awaiting_sipi = false;
    v->sipi_restarts++;
    hv_sb_str(&sb, ": restarting in real mode at ");
    hv_sb_hex(&sb, (uint64_t)vector << 8);
    hv_sb_str(&sb, ":0000");
    hv_lib_log(v->hv->os, HV_LOG_INFO, msg);
    return HV_ACTION_RESUME;
}

enum hv_exit_action hv_exit_entry_failure(struct hv_exit *e)
{
    struct hv_vcpu *v = e->vcpu;

    /* Explain it while the VMCS is current (SDM Vol. 3C, 27.8: the exit
     * reason says only "invalid guest state" or "MSR loading"). */
    hv_vmcs_diagnose_vcpu(v);
    if (v->launching) {
        /* The guest never ran: give the CPU back to the launcher, which
         * sees VM_ENTRY_FAILED and unwinds like a refused VMLAUNCH. The
         * OS state comes from setup (vmcs_setup.c), not from the guest
         * fields the entry just refused; RIP/RSP are the launch stub's. */
        v->resume.rip = hv_vmcs_readnat(HV_VMCS_GUEST_RIP);
        v->resume.rsp = hv_vmcs_readnat(HV_VMCS_GUEST_RSP);
        e->gprs->r[HV_GPR_RAX] = HV_STATUS_VM_ENTRY_FAILED;
        hv_vmx_off(v);
        return HV_ACTION_DEVIRTUALIZE;
    }
    (void)hv_exit_unexpected(e);
    return HV_ACTION_FATAL;
}

static void queue_nmi(struct hv_exit *e)
{
    uint32_t proc = hv_vmcs_read32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);

    hv_exit_pend_nmi(e->vcpu);
    if (!(proc & HV_PROC_NMI_WINDOW_EXITING))
        (void)hv_vmcs_write32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, proc | HV_PROC_NMI_WINDOW_EXITING);
}

/* Exception or NMI (reason 0). With NMI exiting on, the guest's NMIs land
 * here; queue them for the NMI window so they are delivered exactly when
 * the guest can take one (SDM Vol. 3C, 25.6.2, 27.7.6). */
enum hv_exit_action hv_exit_exception_nmi(struct hv_exit *e)
{
    uint32_t info = hv_vmcs_read32(HV_VMCS_VM_EXIT_INTR_INFO);

    if ((info & HV_INTR_INFO_VALID) &&
        ((info >> HV_INTR_INFO_TYPE_SHIFT) & 7u) == HV_INTR_TYPE_NMI) {
        /* The debugger's halting NMI stays in root (the core halts at the
         * end of this exit); every other NMI is the guest's. */
        if (!hv_debugger_nmi_is_ours(e->vcpu))
            queue_nmi(e);
        hv_debugger_nmi_exit_done(e->vcpu);
        return HV_ACTION_RESUME;
    }
    return hv_exit_unexpected(e);
}

static bool owed_to_guest(const struct hv_vcpu *v)
{
    return __atomic_load_n(&v->pending_nmis, __ATOMIC_RELAXED) != 0 ||
           __atomic_load_n(&v->pending_mce, __ATOMIC_RELAXED) != 0;
}

enum hv_exit_action hv_exit_nmi_window(struct hv_exit *e)
{
    struct hv_vcpu *v = e->vcpu;
    uint32_t proc = hv_vmcs_read32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL);

    /* One event per entry. A machine check taken in root goes first (an
     * abort-class exception); an owed NMI follows at the next window. */
    if (v->pending_mce) {
        if (hv_success(hv_inject_event(e, HV_VECTOR_MC, HV_INTR_TYPE_HW_EXCEPTION, false, 0)))
            __atomic_store_n(&v->pending_mce, 0u, __ATOMIC_RELAXED);
    } else if (v->pending_nmis > 0) {
        if (hv_success(hv_inject_nmi(e)))
            __atomic_fetch_sub(&v->pending_nmis, 1u, __ATOMIC_RELAXED);
    }
    if (!owed_to_guest(v)) {
        (void)hv_vmcs_write32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, proc & ~HV_PROC_NMI_WINDOW_EXITING);
        /* An NMI or #MC taken in root between our read and write set the
         * window bit that we just cleared: its counter tells, so reopen it. */
        if (owed_to_guest(v))
            (void)hv_vmcs_write32(HV_VMCS_CPU_BASED_VM_EXEC_CONTROL, proc | HV_PROC_NMI_WINDOW_EXITING);
    }
    return HV_ACTION_RESUME;
}
