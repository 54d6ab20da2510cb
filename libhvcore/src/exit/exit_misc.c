/* SPDX-License-Identifier: MIT */
/*
 * Smaller default handlers: XSETBV, INVD/WBINVD, instructions that must
 * fault in the guest, NMIs, and the fatal reasons.
 */
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

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

    hv_arch_cpuid(0xD, 0, &c);
    supported = ((uint64_t)c.edx << 32) | c.eax;
    ok = hv_exit_cpl(e) == 0 && (uint32_t)r[HV_GPR_RCX] == 0 &&
         (v & XCR0_X87) && (v & ~supported) == 0 &&
         !((v & XCR0_AVX) && !(v & XCR0_SSE)) &&
         !((v & XCR0_AVX512) && ((v & XCR0_AVX512) != XCR0_AVX512 || !(v & XCR0_AVX))) &&
         !!(v & XCR0_BNDREGS) == !!(v & XCR0_BNDCSR) &&
         !!(v & XCR0_TILECFG) == !!(v & XCR0_TILEDATA);
    if (!ok || !hv_success(hv_arch_xsetbv_safe(0, v))) {
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
 * INIT (reason 3): a native CPU would reset itself and wait for a SIPI;
 * in VMX non-root it exits instead (SDM Vol. 3C, 26.2). The OS sends INIT
 * to a CPU it wants to restart (CPU hotplug, refused by the platforms while
 * loaded; kexec and reboot, which devirtualize every CPU first), so one
 * arriving here is the OS giving up on this CPU. The blue-pill guest cannot
 * run the real-mode start-up code that follows (no unrestricted guest), so
 * the CPU is parked as INIT would park it: activity state wait-for-SIPI
 * (HLT where the CPU has no wait-for-SIPI state), where it takes no
 * interrupts and no NMIs (SDM Vol. 3C, 25.4.2, 27.6.x) and costs nothing.
 */
enum hv_exit_action hv_exit_init_signal(struct hv_exit *e)
{
    uint32_t state = (e->vcpu->caps.misc & HV_VMX_MISC_ACTIVITY_WAIT_SIPI) ? HV_ACTIVITY_WAIT_SIPI : HV_ACTIVITY_HLT;

    if (!hv_success(hv_vmcs_write32(HV_VMCS_GUEST_ACTIVITY_STATE, state)))
        return hv_exit_unexpected(e);
    hv_lib_log(e->vcpu->hv->os, HV_LOG_WARN,
               state == HV_ACTIVITY_WAIT_SIPI ? "INIT received: the CPU is parked in wait-for-SIPI"
                                              : "INIT received: the CPU is parked in HLT (no wait-for-SIPI state)");
    return HV_ACTION_RESUME;
}

/* SIPI (reason 4, only in wait-for-SIPI): the start-up code at vector *
 * 4 KiB runs in real mode, which a guest without unrestricted guest
 * cannot do, so the CPU stays parked; the OS sees a CPU that did not start
 * (as when a SIPI is lost) and goes on with the others. */
enum hv_exit_action hv_exit_sipi(struct hv_exit *e)
{
    char msg[96];
    struct hv_sb sb;

    hv_sb_init(&sb, msg, sizeof(msg));
    hv_sb_str(&sb, "SIPI vector ");
    hv_sb_hex(&sb, hv_exit_qualification(e) & 0xFFu);
    hv_sb_str(&sb, " ignored: the CPU stays parked (no real-mode start-up in a blue-pill guest)");
    hv_lib_log(e->vcpu->hv->os, HV_LOG_WARN, msg);
    return HV_ACTION_RESUME;
}

enum hv_exit_action hv_exit_entry_failure(struct hv_exit *e)
{
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
        queue_nmi(e);
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
