// SPDX-License-Identifier: MIT
/*
 * hvcore.sys: a WDM (legacy, non-PnP) driver that virtualizes every
 * processor at load (blue pill) and devirtualizes them at unload, with the
 * Linux module's rollback and messages (platform/linux/hvcore_main.c).
 *
 * Before it executes any VMX instruction it checks, on every processor,
 * what the core would need, and refuses to virtualize - but stays loaded,
 * answering \\.\hvcore in a "not virtualized" state - when:
 *   - CPUID.1:ECX.VMX[bit 5] is 0 (no VT-x, or a hypervisor hiding it);
 *   - IA32_FEATURE_CONTROL is locked with VMX outside SMX off (firmware);
 *   - IA32_FEATURE_CONTROL is unlocked: on Windows the firmware owns that
 *     MSR (SDM Vol. 3C, 24.7: the lock bit is write-once until reset), and
 *     a driver writing it races Hyper-V/VBS and every other hypervisor
 *     driver; so hvcore.sys never writes it (Wine: reads 0, a write kills
 *     the host process);
 *   - physically contiguous memory cannot be had (Wine: always NULL).
 * Only then does hv_create()/hv_start() run. In the "not virtualized"
 * state every request goes through hv_abi_execute_offline(): QUERY answers
 * with each CPU's reason, MSR/event requests with NOT_VIRTUALIZED, reads
 * with STATUS_INVALID_DEVICE_STATE. The reason is also in the debug log.
 *
 * Machine life: IRP_MJ_SHUTDOWN (IoRegisterShutdownNotification)
 * devirtualizes every processor; processor hot-add is refused
 * (KeRegisterProcessorChangeCallback vetoes KeProcessorAddStartNotify);
 * sleep/hibernate devirtualize before and re-virtualize after
 * (\Callback\PowerState, PO_CB_SYSTEM_STATE_LOCK: 0 = going down, 1 = back).
 */
#include "hvw_kernel.h"
#include "hvcore_windows.h"
#include "hvcore_ioctl.h"

#include <hvcore/abi_exec.h>
#include <hvcore/arch.h>
#include <hvcore/event.h>
#include <hvcore/msg.h>
#include <hvcore/vmx.h>

#define HVW_POOL_TAG 0x64724876u /* 'vHrd' */
/* KeRegisterProcessorChangeCallback (Windows 7+, not Wine): run-time bound. */
typedef enum { HVW_PROC_ADD_START = 0, HVW_PROC_ADD_COMPLETE = 1, HVW_PROC_ADD_FAILED = 2 } hvw_proc_state;
typedef struct {
    hvw_proc_state State;
    ULONG NtNumber;
    NTSTATUS Status;
    PROCESSOR_NUMBER ProcNumber;
} hvw_proc_change_ctx;
typedef VOID (NTAPI *hvw_proc_cb)(PVOID Ctx, hvw_proc_change_ctx *Change, PNTSTATUS OperationStatus);
typedef PVOID (NTAPI *hvw_reg_proc_cb_fn)(hvw_proc_cb Cb, PVOID Ctx, ULONG Flags);
typedef VOID (NTAPI *hvw_dereg_proc_cb_fn)(PVOID Handle);

static struct {
    PDEVICE_OBJECT dev;
    bool symlink, shutdown_registered;
    struct hv *hv;                  /* NULL: not virtualized */
    hv_status_t reason;             /* why not (when hv == NULL) */
    uint64_t host_cr3;
    FAST_MUTEX req_lock;            /* event requests one at a time */
    volatile long shutting_down;
    /* Record delivery: reads that found nothing wait here (pending IRPs). */
    KSPIN_LOCK read_lock;
    LIST_ENTRY readers;
    uint32_t next_core;
    KTIMER timer;
    KDPC timer_dpc;
    uint32_t ticks;
    bool timer_on;
    /* Machine life. */
    PVOID proc_cb;
    hvw_dereg_proc_cb_fn dereg_proc_cb;
    PCALLBACK_OBJECT power_obj;
    PVOID power_cb;
    FAST_MUTEX life_lock;
} d;

#define SAY(level, ...) DbgPrintEx(DPFLTR_IHVDRIVER_ID, (level), "hvcore: " __VA_ARGS__)

static void report_failure(struct hv *hv, hv_status_t st)
{
    uint32_t vmerr = hv_status_vm_instruction_error(st);

    if (hv != NULL && hv->failed_cpu != UINT32_MAX)
        SAY(DPFLTR_ERROR_LEVEL, "cannot virtualize cpu %lu: %s (0x%08lx)%s%s\n", (unsigned long)hv->failed_cpu,
            hv_status_name(st), (unsigned long)st, vmerr ? ", VM-instruction error: " : "",
            vmerr ? hv_vm_instruction_error_text(vmerr) : "");
    else
        SAY(DPFLTR_ERROR_LEVEL, "cannot start: %s (0x%08lx)\n", hv_status_name(st), (unsigned long)st);
}

/* Virtualize every processor; on failure the core has rolled back. */
static hv_status_t virtualize(void)
{
    struct hv_config cfg;
    struct hv *hv = NULL;
    hv_status_t st;

    hv_config_init(&cfg);
    /* DriverEntry runs in the System process: its CR3 outlives us. */
    cfg.host_cr3 = d.host_cr3;
    st = hv_create(&hv, hvw_os_ops(), &cfg);
    if (!hv_success(st))
        goto create_failed;
    st = hv_start(hv);
    hvw_log_flush();
    if (!hv_success(st))
        goto start_failed;
    d.hv = hv;
    return HV_STATUS_SUCCESS;

start_failed:
    report_failure(hv, st);
    hv_destroy(hv);
    return st;
create_failed:
    report_failure(NULL, st);
    return st;
}

static void devirtualize(const char *why)
{
    hv_status_t st;

    if (d.hv == NULL)
        return;
    st = hv_stop(d.hv);
    hvw_log_flush();
    if (!hv_success(st)) {
        SAY(DPFLTR_ERROR_LEVEL, "%s: devirtualization failed: %s (0x%08lx); keeping its memory\n", why,
            hv_status_name(st), (unsigned long)st);
        return;
    }
    SAY(DPFLTR_INFO_LEVEL, "%s: all %lu processors devirtualized\n", why, (unsigned long)d.hv->cpu_count);
}

/* ---- record delivery ------------------------------------------------------ */

static uint32_t take_records(struct hv_msg_record *out, uint32_t max)
{
    uint32_t n = 0, i, cpus = d.hv->cpu_count;

    /* Round-robin over the cores; each core's records stay in order.
     * Caller holds read_lock (one consumer per ring). */
    for (i = 0; i < cpus && n < max; i++)
        n += hv_msg_get(hv_event_ring(d.hv, (d.next_core + i) % cpus), out + n, max - n);
    d.next_core = (d.next_core + 1) % cpus;
    return n;
}

static void complete_read(PIRP irp, uint32_t n)
{
    irp->IoStatus.Status = STATUS_SUCCESS;
    irp->IoStatus.Information = (ULONG_PTR)n * HV_MSG_RECORD_SIZE;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
}

static VOID NTAPI cancel_read(PDEVICE_OBJECT dev, PIRP irp)
{
    KIRQL irql;

    (void)dev;
    IoReleaseCancelSpinLock(irp->CancelIrql);
    KeAcquireSpinLock(&d.read_lock, &irql);
    RemoveEntryList(&irp->Tail.Overlay.ListEntry);
    KeReleaseSpinLock(&d.read_lock, irql);
    irp->IoStatus.Status = STATUS_CANCELLED;
    irp->IoStatus.Information = 0;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
}

static bool any_readable(void)
{
    uint32_t c;

    for (c = 0; c < d.hv->cpu_count; c++)
        if (hv_msg_readable(hv_event_ring(d.hv, c)))
            return true;
    return false;
}

/* Hand records to waiting reads (IRQL <= DISPATCH_LEVEL). */
static void deliver(void)
{
    LIST_ENTRY done;
    KIRQL irql;

    InitializeListHead(&done);
    KeAcquireSpinLock(&d.read_lock, &irql);
    while (!IsListEmpty(&d.readers) && any_readable()) {
        PIRP irp = CONTAINING_RECORD(RemoveHeadList(&d.readers), IRP, Tail.Overlay.ListEntry);
        PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
        uint32_t max = sl->Parameters.Read.Length / HV_MSG_RECORD_SIZE;

        if (IoSetCancelRoutine(irp, NULL) == NULL) {
            /* Being cancelled: its routine unlinks it (harmless now) and
             * completes it; no record goes into it. */
            InitializeListHead(&irp->Tail.Overlay.ListEntry);
            continue;
        }
        /* One consumer under read_lock and a ring was readable: n > 0. */
        irp->IoStatus.Information = take_records(irp->AssociatedIrp.SystemBuffer, max > 64 ? 64 : max);
        InsertTailList(&done, &irp->Tail.Overlay.ListEntry);
    }
    KeReleaseSpinLock(&d.read_lock, irql);
    while (!IsListEmpty(&done)) {
        PIRP irp = CONTAINING_RECORD(RemoveHeadList(&done), IRP, Tail.Overlay.ListEntry);

        complete_read(irp, (uint32_t)irp->IoStatus.Information);
    }
}

/*
 * Every HV_MSG_FLUSH_MS / 10: act on os->notify (imm yes), and every tenth
 * tick publish the batched (imm no) records. notify() cannot queue a DPC
 * itself (it runs in VMX root; see os_windows.c), so this timer is the
 * deferral; the reader never polls - its read stays pending until then.
 */
static VOID NTAPI timer_fn(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    bool more = hvw_notify_take();

    (void)dpc; (void)ctx; (void)a1; (void)a2;
    if (++d.ticks % 10 == 0 && d.hv != NULL && hv_event_flush(d.hv))
        more = true;
    if (more && d.hv != NULL)
        deliver();
    hvw_log_flush();
}

/*
 * Complete the pending reads of `file` (every one when NULL) with
 * STATUS_CANCELLED: IRP_MJ_CLEANUP (the last handle closed, maybe from
 * another thread than the reader's) and shutdown. A read whose cancel
 * routine already runs is left to it.
 */
static void cancel_reads(PFILE_OBJECT file)
{
    LIST_ENTRY done, *e, *next;
    KIRQL irql;

    InitializeListHead(&done);
    KeAcquireSpinLock(&d.read_lock, &irql);
    for (e = d.readers.Flink; e != &d.readers; e = next) {
        PIRP irp = CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);

        next = e->Flink;
        if (file != NULL && IoGetCurrentIrpStackLocation(irp)->FileObject != file)
            continue;
        RemoveEntryList(e);
        if (IoSetCancelRoutine(irp, NULL) == NULL) {
            InitializeListHead(e);      /* its cancel routine completes it */
            continue;
        }
        InsertTailList(&done, e);
    }
    KeReleaseSpinLock(&d.read_lock, irql);
    while (!IsListEmpty(&done)) {
        PIRP irp = CONTAINING_RECORD(RemoveHeadList(&done), IRP, Tail.Overlay.ListEntry);

        irp->IoStatus.Status = STATUS_CANCELLED;
        irp->IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
    }
}

static NTSTATUS do_read(PIRP irp, PIO_STACK_LOCATION sl)
{
    uint32_t max = sl->Parameters.Read.Length / HV_MSG_RECORD_SIZE, n;
    KIRQL irql;

    if (d.hv == NULL || d.shutting_down)
        return STATUS_INVALID_DEVICE_STATE;
    if (max == 0)
        return STATUS_INVALID_PARAMETER;
    if (max > 64)
        max = 64;
    KeAcquireSpinLock(&d.read_lock, &irql);
    n = IsListEmpty(&d.readers) ? take_records(irp->AssociatedIrp.SystemBuffer, max) : 0;
    if (n == 0) {
        IoSetCancelRoutine(irp, cancel_read);
        if (irp->Cancel && IoSetCancelRoutine(irp, NULL) != NULL) {
            KeReleaseSpinLock(&d.read_lock, irql);
            return STATUS_CANCELLED;
        }
        IoMarkIrpPending(irp);
        InsertTailList(&d.readers, &irp->Tail.Overlay.ListEntry);
        KeReleaseSpinLock(&d.read_lock, irql);
        return STATUS_PENDING;
    }
    KeReleaseSpinLock(&d.read_lock, irql);
    irp->IoStatus.Information = (ULONG_PTR)n * HV_MSG_RECORD_SIZE;
    return STATUS_SUCCESS;
}

/* ---- device controls ------------------------------------------------------ */

static bool is_event_request(uint32_t req)
{
    return req == HV_ABI_REQ_EVENT_ADD || req == HV_ABI_REQ_EVENT_ACTION || req == HV_ABI_REQ_EVENT_CTL ||
           req == HV_ABI_REQ_EVENT_LIST || req == HV_ABI_REQ_SCRIPT_EVAL || req == HV_ABI_REQ_TRACE;
}

/*
 * METHOD_BUFFERED: the I/O manager copied the input into SystemBuffer,
 * which is max(in, out) bytes long; the response is written back in place
 * and copied out for `Information` bytes. The request must fit both
 * lengths. Malformed: STATUS_INVALID_PARAMETER (nothing is copied back);
 * otherwise STATUS_SUCCESS with the request's own status in its header.
 */
static NTSTATUS do_ioctl(PIRP irp, PIO_STACK_LOCATION sl)
{
    ULONG code = sl->Parameters.DeviceIoControl.IoControlCode;
    ULONG in = sl->Parameters.DeviceIoControl.InputBufferLength;
    ULONG out = sl->Parameters.DeviceIoControl.OutputBufferLength;
    uint32_t req = HVCORE_WIN_IOCTL_REQUEST(code);
    struct hv_abi_header *h = irp->AssociatedIrp.SystemBuffer;
    size_t len = 0;
    hv_status_t st;

    if (req == 0)
        return STATUS_INVALID_DEVICE_REQUEST;
    if (d.shutting_down)
        return STATUS_TOO_LATE;
    if (h == NULL || in < sizeof(*h) || h->size > in || h->size > out)
        return STATUS_INVALID_PARAMETER;
    if (d.hv == NULL) {
        st = hv_abi_execute_offline(hvw_cpu_count(), d.reason, req, h, h->size, &len);
    } else if (is_event_request(req)) {
        ExAcquireFastMutex(&d.req_lock);
        st = hv_abi_execute(d.hv, req, h, h->size, &len);
        ExReleaseFastMutex(&d.req_lock);
    } else {
        st = hv_abi_execute(d.hv, req, h, h->size, &len);
    }
    hvw_log_flush();
    if (len == 0 || st == HV_STATUS_INVALID_PARAMETER)
        return STATUS_INVALID_PARAMETER;
    if (req == HV_ABI_REQ_QUERY)
        ((struct hv_abi_query *)(void *)h)->allocations = (uint64_t)hvw_allocations();
    irp->IoStatus.Information = len;
    return STATUS_SUCCESS;
}

static NTSTATUS NTAPI dispatch(PDEVICE_OBJECT dev, PIRP irp)
{
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    NTSTATUS status = STATUS_SUCCESS;

    (void)dev;
    irp->IoStatus.Information = 0;
    switch (sl->MajorFunction) {
    case IRP_MJ_CREATE:
    case IRP_MJ_CLOSE:
        break;
    case IRP_MJ_CLEANUP:
        cancel_reads(sl->FileObject);
        break;
    case IRP_MJ_DEVICE_CONTROL:
        status = do_ioctl(irp, sl);
        break;
    case IRP_MJ_READ:
        status = do_read(irp, sl);
        if (status == STATUS_PENDING)
            return status;
        break;
    case IRP_MJ_SHUTDOWN:
        /* Before the machine goes: no more requests, every CPU out of VMX. */
        _InterlockedExchange(&d.shutting_down, 1);
        cancel_reads(NULL);
        ExAcquireFastMutex(&d.life_lock);
        if (d.hv != NULL) {
            ExAcquireFastMutex(&d.req_lock);
            hv_event_clear(d.hv);
            ExReleaseFastMutex(&d.req_lock);
            devirtualize("shutdown");
        }
        ExReleaseFastMutex(&d.life_lock);
        break;
    default:
        status = STATUS_INVALID_DEVICE_REQUEST;
        break;
    }
    if (status != STATUS_SUCCESS)
        irp->IoStatus.Information = 0;
    irp->IoStatus.Status = status;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return status;
}

/* ---- machine life --------------------------------------------------------- */

static VOID NTAPI on_processor_change(PVOID ctx, hvw_proc_change_ctx *change, PNTSTATUS op)
{
    (void)ctx;
    /* A processor that came online now would run unvirtualized, and the
     * core's CPU numbering is fixed: refuse it while the driver is loaded. */
    if (change->State == HVW_PROC_ADD_START && d.hv != NULL) {
        *op = STATUS_NOT_SUPPORTED;
        SAY(DPFLTR_WARNING_LEVEL, "refusing to add processor %lu while the hypervisor is loaded\n",
            (unsigned long)change->NtNumber);
    }
}

/* \Callback\PowerState: Argument1 = PO_CB_SYSTEM_STATE_LOCK (3),
 * Argument2 = 0 before a sleep/hibernate, 1 after resume. */
static VOID NTAPI on_power(PVOID ctx, PVOID a1, PVOID a2)
{
    (void)ctx;
    if ((ULONG_PTR)a1 != 3 || d.shutting_down)
        return;
    ExAcquireFastMutex(&d.life_lock);
    if ((ULONG_PTR)a2 == 0 && d.hv != NULL && d.hv->started) {
        devirtualize("sleep");
    } else if ((ULONG_PTR)a2 == 1 && d.hv != NULL && !d.hv->started) {
        hv_status_t st = hv_start(d.hv);

        hvw_log_flush();
        if (hv_success(st))
            SAY(DPFLTR_INFO_LEVEL, "resume: all %lu processors virtualized again\n",
                (unsigned long)d.hv->cpu_count);
        else
            report_failure(d.hv, st);
    }
    ExReleaseFastMutex(&d.life_lock);
}

static NTSTATUS register_life(void)
{
    OBJECT_ATTRIBUTES oa;
    UNICODE_STRING name;
    hvw_reg_proc_cb_fn reg;
    NTSTATUS status;

    RtlInitUnicodeString(&name, L"KeRegisterProcessorChangeCallback");
    reg = (hvw_reg_proc_cb_fn)MmGetSystemRoutineAddress(&name);
    RtlInitUnicodeString(&name, L"KeDeregisterProcessorChangeCallback");
    d.dereg_proc_cb = (hvw_dereg_proc_cb_fn)MmGetSystemRoutineAddress(&name);
    if (reg != NULL && d.dereg_proc_cb != NULL)
        d.proc_cb = reg(on_processor_change, NULL, 0);
    if (d.proc_cb == NULL && d.hv != NULL) {
        SAY(DPFLTR_ERROR_LEVEL, "cannot register the processor-change callback (hot-add could not be refused)\n");
        return STATUS_NOT_SUPPORTED;
    }
    RtlInitUnicodeString(&name, L"\\Callback\\PowerState");
    InitializeObjectAttributes(&oa, &name, OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE, NULL, NULL);
    status = ExCreateCallback(&d.power_obj, &oa, FALSE, TRUE);
    if (NT_SUCCESS(status)) {
        d.power_cb = ExRegisterCallback(d.power_obj, on_power, NULL);
        if (d.power_cb == NULL) {
            ObDereferenceObject(d.power_obj);
            d.power_obj = NULL;
        }
    }
    if (d.power_cb == NULL && d.hv != NULL) {
        SAY(DPFLTR_ERROR_LEVEL, "cannot register the power-state callback (0x%08lx)\n", (unsigned long)status);
        return STATUS_NOT_SUPPORTED;
    }
    return STATUS_SUCCESS;
}

static void unregister_life(void)
{
    if (d.power_cb != NULL)
        ExUnregisterCallback(d.power_cb);
    if (d.power_obj != NULL)
        ObDereferenceObject(d.power_obj);
    if (d.proc_cb != NULL)
        d.dereg_proc_cb(d.proc_cb);
    d.power_cb = d.power_obj = d.proc_cb = NULL;
}

/* ---- the device and its DACL ---------------------------------------------- */

/* Append to a bounded text buffer. */
static void put(char *buf, size_t cap, size_t *at, const char *s)
{
    while (*s != '\0' && *at + 1 < cap)
        buf[(*at)++] = *s++;
    buf[*at] = '\0';
}

static void put_num(char *buf, size_t cap, size_t *at, uint64_t v, unsigned base)
{
    char tmp[24];
    int n = 0;

    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0 && n < (int)sizeof(tmp));
    while (n > 0) {
        char c[2] = { tmp[--n], '\0' };

        put(buf, cap, at, c);
    }
}

/*
 * Read the DACL back from the object manager and log it in SDDL form
 * (SIDs numeric, masks in hex), so the log shows what Windows will check,
 * not what we meant to set. The descriptor comes back self-relative:
 * Control at byte 2, the DACL's offset at byte 16 (SECURITY_DESCRIPTOR_RELATIVE).
 */
static void report_dacl(HANDLE h)
{
    static UCHAR sdbuf[512];
    char text[256];
    ULONG need = 0, off, i;
    size_t at = 0;
    NTSTATUS status;

    text[0] = '\0';
    status = ZwQuerySecurityObject(h, DACL_SECURITY_INFORMATION, sdbuf, sizeof(sdbuf), &need);
    if (!NT_SUCCESS(status) || need < 20) {
        SAY(DPFLTR_WARNING_LEVEL, "cannot read the DACL back (0x%08lx)\n", (unsigned long)status);
        return;
    }
    off = *(ULONG *)(sdbuf + 16);
    put(text, sizeof(text), &at, (*(USHORT *)(sdbuf + 2) & SE_DACL_PROTECTED) ? "D:P" : "D:");
    if (off != 0 && off + sizeof(ACL) <= need) {
        ACL *acl = (ACL *)(sdbuf + off);
        ULONG pos = off + sizeof(ACL);

        for (i = 0; i < acl->AceCount && pos + 8 <= need; i++) {
            ACE_HEADER *ace = (ACE_HEADER *)(sdbuf + pos);
            SID *sid = (SID *)(sdbuf + pos + 8);
            ULONG a;

            if (ace->AceSize < 16 || pos + ace->AceSize > need)
                break;
            put(text, sizeof(text), &at, ace->AceType == ACCESS_ALLOWED_ACE_TYPE ? "(A;;0x" : "(?;;0x");
            put_num(text, sizeof(text), &at, *(ULONG *)(sdbuf + pos + 4), 16);
            put(text, sizeof(text), &at, ";;;S-1-");
            put_num(text, sizeof(text), &at, sid->IdentifierAuthority.Value[5], 10);
            for (a = 0; a < sid->SubAuthorityCount && a < 8; a++) {
                put(text, sizeof(text), &at, "-");
                put_num(text, sizeof(text), &at, sid->SubAuthority[a], 10);
            }
            put(text, sizeof(text), &at, ")");
            pos += ace->AceSize;
        }
    }
    SAY(DPFLTR_INFO_LEVEL, "\\Device\\hvcore DACL read back: %s\n", text);
}

/*
 * D:P(A;;GA;;;SY)(A;;GA;;;BA): SYSTEM and Administrators only, inheritance
 * blocked. mingw-w64 has no wdmsec.lib (IoCreateDeviceSecure), so the
 * descriptor is built with Rtl* calls and set on the device object through
 * a kernel handle (ZwSetSecurityObject maps GENERIC_ALL with the device's
 * generic mapping).
 */
static NTSTATUS set_device_dacl(PDEVICE_OBJECT dev)
{
    static SID_IDENTIFIER_AUTHORITY nt = SECURITY_NT_AUTHORITY;
    union { SID sid; UCHAR b[68]; } system, admins; /* SECURITY_MAX_SID_SIZE */
    SECURITY_DESCRIPTOR sd;
    ULONG acl_len;
    HANDLE h = NULL;
    PACL acl;
    NTSTATUS status;

    RtlInitializeSid(&system.sid, &nt, 1);
    *RtlSubAuthoritySid(&system.sid, 0) = SECURITY_LOCAL_SYSTEM_RID;      /* S-1-5-18 */
    RtlInitializeSid(&admins.sid, &nt, 2);
    *RtlSubAuthoritySid(&admins.sid, 0) = SECURITY_BUILTIN_DOMAIN_RID;    /* S-1-5-32 */
    *RtlSubAuthoritySid(&admins.sid, 1) = DOMAIN_ALIAS_RID_ADMINS;        /* -544 */
    acl_len = sizeof(ACL) + 2 * (sizeof(ACCESS_ALLOWED_ACE) - sizeof(ULONG)) + RtlLengthSid(&system.sid) +
              RtlLengthSid(&admins.sid);
    acl = ExAllocatePoolWithTag(PagedPool, acl_len, HVW_POOL_TAG);
    if (acl == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    status = RtlCreateAcl(acl, acl_len, ACL_REVISION);
    if (NT_SUCCESS(status))
        status = RtlAddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, &system.sid);
    if (NT_SUCCESS(status))
        status = RtlAddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, &admins.sid);
    if (NT_SUCCESS(status))
        status = RtlCreateSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION);
    if (NT_SUCCESS(status))
        status = RtlSetDaclSecurityDescriptor(&sd, TRUE, acl, FALSE);
    /* "P": not inherited from the parent directory (libntoskrnl.a has no
     * RtlSetControlSecurityDescriptor; sd is absolute, its Control ours). */
    sd.Control |= SE_DACL_PROTECTED;
    if (NT_SUCCESS(status))
        status = ObOpenObjectByPointer(dev, OBJ_KERNEL_HANDLE, NULL, WRITE_DAC | READ_CONTROL, NULL, KernelMode, &h);
    if (NT_SUCCESS(status)) {
        status = ZwSetSecurityObject(h, DACL_SECURITY_INFORMATION, &sd);
        if (NT_SUCCESS(status))
            report_dacl(h);
        ZwClose(h);
    }
    ExFreePoolWithTag(acl, HVW_POOL_TAG);
    return status;
}

static void stop_timer(void)
{
    if (!d.timer_on)
        return;
    KeCancelTimer(&d.timer);
    KeFlushQueuedDpcs();
    d.timer_on = false;
}

static VOID NTAPI driver_unload(PDRIVER_OBJECT drv)
{
    UNICODE_STRING link;

    (void)drv;
    if (d.shutdown_registered)
        IoUnregisterShutdownNotification(d.dev);
    unregister_life();
    stop_timer();
    if (d.symlink) {
        RtlInitUnicodeString(&link, L"\\DosDevices\\hvcore");
        IoDeleteSymbolicLink(&link);
    }
    if (d.dev != NULL)
        IoDeleteDevice(d.dev);
    if (d.hv != NULL) {
        hv_event_clear(d.hv);
        devirtualize("unload");
        /* DriverUnload cannot refuse, and the image (the exit handler
         * among it) is unmapped after it returns: a CPU still in VMX root
         * would take its next exit into freed memory. Stop here, named. */
        if (d.hv->started)
            KeBugCheckEx(0xE0E1DEADu, (ULONG_PTR)"hvcore: devirtualization failed at unload", 0, 0, 0);
        hv_destroy(d.hv);
        d.hv = NULL;
    }
    SAY(DPFLTR_INFO_LEVEL, "unloaded; %ld allocations outstanding\n", hvw_allocations());
    hvw_os_exit();
}

NTSTATUS NTAPI DriverEntry(PDRIVER_OBJECT drv, PUNICODE_STRING reg);

NTSTATUS NTAPI DriverEntry(PDRIVER_OBJECT drv, PUNICODE_STRING reg)
{
    UNICODE_STRING name, link;
    LARGE_INTEGER due;
    hv_status_t st;
    NTSTATUS status;

    (void)reg;
    RtlZeroMemory(&d, sizeof(d));
    ExInitializeFastMutex(&d.req_lock);
    ExInitializeFastMutex(&d.life_lock);
    KeInitializeSpinLock(&d.read_lock);
    InitializeListHead(&d.readers);
    d.host_cr3 = hv_arch_read_cr(3);

    st = hvw_os_init();
    if (!hv_success(st)) {
        SAY(DPFLTR_ERROR_LEVEL, "cannot set up the OS layer: %s (0x%08lx)\n", hv_status_name(st),
            (unsigned long)st);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    SAY(DPFLTR_INFO_LEVEL, "%lu processors; broadcasts through %s\n", (unsigned long)hvw_cpu_count(),
        hvw_os_uses_ipi() ? "KeIpiGenericCall" : "KeGenericCallDpc");

    st = hvw_vmx_check();
    if (hv_success(st))
        st = virtualize();
    d.reason = st;

    RtlInitUnicodeString(&name, L"\\Device\\hvcore");
    status = IoCreateDevice(drv, 0, &name, FILE_DEVICE_UNKNOWN, FILE_DEVICE_SECURE_OPEN, FALSE, &d.dev);
    if (!NT_SUCCESS(status))
        goto device_failed;
    d.dev->Flags |= DO_BUFFERED_IO;
    status = set_device_dacl(d.dev);
    if (!NT_SUCCESS(status))
        goto dacl_failed;
    SAY(DPFLTR_INFO_LEVEL, "\\Device\\hvcore DACL D:P(A;;GA;;;SY)(A;;GA;;;BA) applied\n");
    RtlInitUnicodeString(&link, L"\\DosDevices\\hvcore");
    status = IoCreateSymbolicLink(&link, &name);
    if (!NT_SUCCESS(status))
        goto link_failed;
    d.symlink = true;
    drv->MajorFunction[IRP_MJ_CREATE] = dispatch;
    drv->MajorFunction[IRP_MJ_CLOSE] = dispatch;
    drv->MajorFunction[IRP_MJ_CLEANUP] = dispatch;
    drv->MajorFunction[IRP_MJ_DEVICE_CONTROL] = dispatch;
    drv->MajorFunction[IRP_MJ_READ] = dispatch;
    drv->MajorFunction[IRP_MJ_SHUTDOWN] = dispatch;
    drv->DriverUnload = driver_unload;
    status = IoRegisterShutdownNotification(d.dev);
    if (!NT_SUCCESS(status))
        goto shutdown_failed;
    d.shutdown_registered = true;
    status = register_life();
    if (!NT_SUCCESS(status))
        goto life_failed;
    if (d.hv != NULL) {
        KeInitializeDpc(&d.timer_dpc, timer_fn, NULL);
        KeInitializeTimerEx(&d.timer, NotificationTimer);
        due.QuadPart = -(LONGLONG)HV_MSG_FLUSH_MS * 1000;   /* 100-ns units: a tenth of the flush period */
        KeSetTimerEx(&d.timer, due, HV_MSG_FLUSH_MS / 10 ? HV_MSG_FLUSH_MS / 10 : 1, &d.timer_dpc);
        d.timer_on = true;
        SAY(DPFLTR_INFO_LEVEL, "all %lu processors virtualized; \\\\.\\hvcore ready\n",
            (unsigned long)d.hv->cpu_count);
    } else {
        SAY(DPFLTR_WARNING_LEVEL,
            "not virtualized (%s, 0x%08lx): staying loaded; \\\\.\\hvcore answers with that status\n",
            hv_status_name(d.reason), (unsigned long)d.reason);
    }
    return STATUS_SUCCESS;

life_failed:
    IoUnregisterShutdownNotification(d.dev);
shutdown_failed:
    IoDeleteSymbolicLink(&link);
link_failed:
dacl_failed:
    SAY(DPFLTR_ERROR_LEVEL, "cannot set up \\Device\\hvcore (0x%08lx)\n", (unsigned long)status);
    IoDeleteDevice(d.dev);
device_failed:
    unregister_life();
    if (d.hv != NULL) {
        devirtualize("load failed");
        if (!d.hv->started)
            hv_destroy(d.hv);
        d.hv = NULL;
    }
    hvw_os_exit();
    return status;
}
