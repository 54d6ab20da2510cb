// SPDX-License-Identifier: MIT
/*
 * The APs while hvcore.efi is loaded.
 *
 * OVMF's MP Services keep idle APs in a HLT loop and wake them with
 * INIT-SIPI-SIPI for every StartupThisAP (measured: an AP's CR2 is 0 again
 * at the next call, which only an INIT does). An INIT that reaches a
 * virtualized CPU is a VM exit, and the core parks the CPU (a blue-pill
 * guest cannot run the real-mode start-up that follows). So an AP, once
 * hvcore owns it, must not go back to MP Services' idle loop: the first
 * call starts ap_loop() there with a non-blocking StartupThisAP, and the AP
 * stays in it, taking requests from its mailbox (struct hvu_ap), until
 * hvcore is unloaded (or the OS boots, efi_main.c). Meanwhile MP Services'
 * StartupThisAP/StartupAllAPs are routed through the same mailboxes, so the
 * rest of the firmware (and the test application) can still run code on
 * the APs.
 *
 * Requests run with interrupts off (MP Services runs procedures with IF=0),
 * which is the "preemption off" the core expects of a cross-call. Between
 * requests the AP halts (xAPIC firmware) or spins (x2APIC, or no APIC).
 */
#include "hvcore_uefi.h"

/* The one instance whose mailboxes serve MP Services (there is one
 * hypervisor per machine). */
static struct hvu *interposed;

/*
 * Between requests the AP halts when it can (a spinning AP costs an
 * emulator as much as the BSP's own work): it runs with hvcore's IDT, whose
 * every vector only acknowledges and returns, and the BSP wakes it with a
 * fixed IPI after posting. "cli; check; sti; hlt" cannot miss a wake-up: an
 * IPI that arrives after the check waits in the IRR and ends the HLT.
 */
static VOID EFIAPI ap_loop(VOID *p)
{
    struct hvu_ap *a = p;
    uint32_t seen = __atomic_load_n(&a->done, __ATOMIC_RELAXED);
    uint8_t firmware_idt[16];
    bool halting = a->halting;

    if (halting)
        hvu_cpu_idt_enter(firmware_idt);
    __atomic_store_n(&a->running, 1u, __ATOMIC_RELEASE);
    for (;;) {
        uint32_t req = __atomic_load_n(&a->req, __ATOMIC_ACQUIRE);

        if (req != seen) {
            /* Requests run on the firmware's IDT: a firmware procedure
             * expects its handlers, and the core captures the IDTR the
             * guest continues with. */
            if (halting)
                hvu_cpu_idt_leave(firmware_idt);
            if (a->fn != NULL)
                a->status = a->fn(a->cpu, a->arg);
            else
                a->proc(a->arg);
            if (halting)
                hvu_cpu_idt_enter(firmware_idt);
            seen = req;
            __atomic_store_n(&a->done, req, __ATOMIC_RELEASE);
            continue;
        }
        if (__atomic_load_n(&a->quit, __ATOMIC_ACQUIRE))
            break;
        if (!halting) {
            hvu_cpu_relax();
            continue;
        }
        /* Say "asleep", then look once more: either this sees the BSP's
         * new request, or the BSP sees "asleep" and sends the IPI (both
         * sides order store-then-load with SEQ_CST). So the BSP only
         * interrupts an AP that is, or is about to be, halted. */
        __atomic_store_n(&a->asleep, 1u, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&a->req, __ATOMIC_SEQ_CST) == seen && !__atomic_load_n(&a->quit, __ATOMIC_SEQ_CST))
            hvu_cpu_halt();
        __atomic_store_n(&a->asleep, 0u, __ATOMIC_SEQ_CST);
    }
    if (halting)
        hvu_cpu_idt_leave(firmware_idt);
    /* Only the return into MP Services follows. */
    __atomic_store_n(&a->running, 0u, __ATOMIC_RELEASE);
}

/* Spin for `cond` with a bounded number of 10 µs stalls. */
#define WAIT_FOR(u, cond, ok)                                        \
    do {                                                             \
        uint64_t waited_ = 0;                                        \
        (ok) = true;                                                 \
        while (!(cond)) {                                            \
            if (waited_ >= (u)->ap_timeout_us) {                     \
                (ok) = false;                                        \
                break;                                               \
            }                                                        \
            (u)->bs->Stall(10);                                      \
            waited_ += 10;                                           \
        }                                                            \
    } while (0)

static void log_ap(const char *what, uint32_t cpu)
{
    char line[96];
    size_t n = 0;
    const char *p;

    for (p = what; *p != '\0' && n < 70; p++)
        line[n++] = *p;
    line[n++] = ' ';
    if (cpu >= 10)
        line[n++] = (char)('0' + cpu / 10);
    line[n++] = (char)('0' + cpu % 10);
    line[n] = '\0';
    hvu_log("error", line);
}

static bool ap_start(struct hvu *u, struct hvu_ap *a)
{
    EFI_STATUS st;
    bool ok;

    if (u->mp == NULL || a->broken)
        return false;
    st = u->bs->CreateEvent(0, 0, NULL, NULL, &a->finished_event);
    if (EFI_ERROR(st))
        goto event_failed;
    a->quit = 0;
    a->req = a->done = 0;
    a->halting = u->halting_aps;
    /* Non-blocking (WaitEvent given): ap_loop() does not return until
     * hvcore lets it go. No timeout: MP Services would INIT the AP. */
    st = u->mp->StartupThisAP(u->mp, ap_loop, a->cpu, a->finished_event, 0, a, NULL);
    if (EFI_ERROR(st))
        goto startup_failed;
    WAIT_FOR(u, __atomic_load_n(&a->running, __ATOMIC_ACQUIRE), ok);
    if (!ok)
        goto no_answer;
    return true;

no_answer:
    /* Left started: if it ever arrives it finds quit set and returns. */
    a->quit = 1;
    a->broken = true;
    log_ap("AP did not enter hvcore's service loop in time: cpu", a->cpu);
    return false;
startup_failed:
    u->bs->CloseEvent(a->finished_event);
event_failed:
    a->finished_event = NULL;
    log_ap("MP Services could not start hvcore's service loop on cpu", a->cpu);
    return false;
}

/* Post one request and wait for its answer. */
static bool ap_post(struct hvu *u, struct hvu_ap *a, hv_cpu_fn fn, HVU_AP_PROCEDURE proc, void *arg)
{
    uint32_t n;
    bool ok;

    if (a->broken)
        return false;
    if (!__atomic_load_n(&a->running, __ATOMIC_ACQUIRE) && !ap_start(u, a))
        return false;
    a->fn = fn;
    a->proc = proc;
    a->arg = arg;
    a->status = HV_STATUS_CPU_CALL_FAILED;
    n = a->req + 1u;
    __atomic_store_n(&a->req, n, __ATOMIC_SEQ_CST);
    if (a->halting && __atomic_load_n(&a->asleep, __ATOMIC_SEQ_CST))
        hvu_cpu_wake(u->apic_id[a->cpu]);
    WAIT_FOR(u, __atomic_load_n(&a->done, __ATOMIC_ACQUIRE) == n, ok);
    if (!ok) {
        a->broken = true;
        log_ap("AP did not finish a request in time: cpu", a->cpu);
    }
    return ok;
}

hv_status_t hvu_ap_call(struct hvu *u, uint32_t cpu, hv_cpu_fn fn, void *arg)
{
    struct hvu_ap *a;

    if (cpu >= u->cpu_count || cpu == u->bsp)
        return HV_STATUS_CPU_CALL_FAILED;
    a = &u->ap[cpu];
    if (!ap_post(u, a, fn, NULL, arg))
        return HV_STATUS_CPU_CALL_FAILED;
    return a->status;
}

void hvu_ap_release_all(struct hvu *u, bool at_exit_boot_services)
{
    uint32_t i;
    bool ok;

    for (i = 0; i < u->cpu_count; i++) {
        struct hvu_ap *a = &u->ap[i];

        if (i == u->bsp || a->finished_event == NULL)
            continue;
        __atomic_store_n(&a->quit, 1u, __ATOMIC_SEQ_CST);
        if (a->halting && __atomic_load_n(&a->asleep, __ATOMIC_SEQ_CST))
            hvu_cpu_wake(u->apic_id[i]);
        WAIT_FOR(u, !__atomic_load_n(&a->running, __ATOMIC_ACQUIRE), ok);
        if (!ok)
            log_ap("AP did not leave hvcore's service loop: cpu", i);
        /* MP Services signals the event from its timer once the AP is
         * back; after that no AP runs hvcore's code, and the image may
         * go. Timers are off at ExitBootServices: the image stays then. */
        if (!at_exit_boot_services && ok) {
            WAIT_FOR(u, u->bs->CheckEvent(a->finished_event) == EFI_SUCCESS, ok);
            if (!ok)
                log_ap("MP Services did not report the AP back: cpu", i);
        }
        if (!at_exit_boot_services)
            u->bs->CloseEvent(a->finished_event);
        a->finished_event = NULL;
    }
}

/* ---- MP Services while the APs are ours ------------------------------------ */

typedef EFI_STATUS (EFIAPI *this_ap_fn)(HVU_MP_SERVICES *, HVU_AP_PROCEDURE, UINTN, EFI_EVENT, UINTN, VOID *, BOOLEAN *);
typedef EFI_STATUS (EFIAPI *all_aps_fn)(HVU_MP_SERVICES *, HVU_AP_PROCEDURE, BOOLEAN, EFI_EVENT, UINTN, VOID *, UINTN **);

static bool ours(struct hvu *u, UINTN cpu)
{
    return u != NULL && cpu < u->cpu_count && cpu != u->bsp &&
           __atomic_load_n(&u->ap[cpu].running, __ATOMIC_ACQUIRE) && !u->ap[cpu].broken;
}

/* The procedure runs to completion before we return, so a caller's
 * WaitEvent is signalled at once (allowed: "when the AP finishes"). */
static EFI_STATUS EFIAPI mp_this_ap(HVU_MP_SERVICES *This, HVU_AP_PROCEDURE Procedure, UINTN Processor,
                                   EFI_EVENT WaitEvent, UINTN TimeoutUs, VOID *Argument, BOOLEAN *Finished)
{
    struct hvu *u = interposed;

    if (!ours(u, Processor))
        return ((this_ap_fn)u->mp_saved_this_ap)(This, Procedure, Processor, WaitEvent, TimeoutUs, Argument,
                                                 Finished);
    if (Procedure == NULL)
        return EFI_INVALID_PARAMETER;
    if (!ap_post(u, &u->ap[Processor], NULL, Procedure, Argument))
        return EFI_TIMEOUT;
    if (Finished != NULL)
        *Finished = TRUE;
    if (WaitEvent != NULL)
        u->bs->SignalEvent(WaitEvent);
    return EFI_SUCCESS;
}

/* Every AP, one after the other (a valid schedule for both SingleThread
 * modes: the spec promises no overlap either way). */
static EFI_STATUS EFIAPI mp_all_aps(HVU_MP_SERVICES *This, HVU_AP_PROCEDURE Procedure, BOOLEAN SingleThread,
                                   EFI_EVENT WaitEvent, UINTN TimeoutUs, VOID *Argument, UINTN **FailedCpuList)
{
    struct hvu *u = interposed;
    UINTN i;
    bool any = false;

    for (i = 0; u != NULL && i < u->cpu_count; i++)
        any = any || ours(u, i);
    if (!any)
        return ((all_aps_fn)u->mp_saved_all_aps)(This, Procedure, SingleThread, WaitEvent, TimeoutUs, Argument,
                                                 FailedCpuList);
    if (Procedure == NULL)
        return EFI_INVALID_PARAMETER;
    if (FailedCpuList != NULL)
        *FailedCpuList = NULL;
    for (i = 0; i < u->cpu_count; i++) {
        EFI_STATUS st;

        if (i == u->bsp)
            continue;
        if (ours(u, i))
            st = ap_post(u, &u->ap[i], NULL, Procedure, Argument) ? EFI_SUCCESS : EFI_TIMEOUT;
        else
            st = ((this_ap_fn)u->mp_saved_this_ap)(This, Procedure, i, NULL, TimeoutUs, Argument, NULL);
        if (EFI_ERROR(st))
            return st;
    }
    if (WaitEvent != NULL)
        u->bs->SignalEvent(WaitEvent);
    return EFI_SUCCESS;
}

void hvu_mp_interpose(struct hvu *u)
{
    if (u->mp == NULL || interposed != NULL)
        return;
    interposed = u;
    u->mp_saved_this_ap = (void *)u->mp->StartupThisAP;
    u->mp_saved_all_aps = (void *)u->mp->StartupAllAPs;
    u->mp->StartupThisAP = mp_this_ap;
    u->mp->StartupAllAPs = mp_all_aps;
}

void hvu_mp_restore(struct hvu *u)
{
    if (u->mp == NULL || interposed != u)
        return;
    u->mp->StartupThisAP = (this_ap_fn)u->mp_saved_this_ap;
    u->mp->StartupAllAPs = (all_aps_fn)u->mp_saved_all_aps;
    interposed = NULL;
}
