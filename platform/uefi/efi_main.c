// SPDX-License-Identifier: MIT
/*
 * hvcore.efi: virtualizes every processor from firmware, before the OS.
 *
 * Built as an EFI runtime driver (subsystem 12), so the firmware loads the
 * image into EfiRuntimeServicesCode, which the OS leaves alone after
 * ExitBootServices. Its PE relocation table is gnu-efi's empty one (the
 * image relocates itself with its ELF relocations when it starts), so the
 * firmware's RuntimeDxe, which re-relocates runtime images at
 * SetVirtualAddressMap, changes nothing in it: root keeps running at the
 * physical addresses it was loaded at, through its own 1:1 page tables
 * (host_env.c), whatever virtual map the OS chooses.
 *
 * Two ways to use it:
 *   hvcore.efi                        stays resident (shell: `load
 *                                     hvcore.efi`; `unload` devirtualizes)
 *   hvcore.efi \path\next.efi ARGS    virtualizes, then LoadImage +
 *                                     StartImage of the next stage (a boot
 *                                     loader, an OS kernel's EFI stub) with
 *                                     ARGS as its LoadOptions
 *
 * At ExitBootServices the APs go back to the firmware, which parks them
 * with INIT-SIPI-SIPI. Where the CPU has unrestricted guest and EPT, they
 * stay virtualized: the core takes the INIT and the SIPI as VM exits and
 * restarts the AP in real mode at the SIPI vector (cfg.restart_on_sipi,
 * exit_misc.c), so the firmware's parking code runs as a guest. Where it
 * has not, the APs are devirtualized first (the log says why); the BSP
 * stays virtualized under the OS either way.
 */
#include <efi.h>
#include <efilib.h>

#include <hvcore/exit.h>
#include <hvcore/hvcore.h>
#include <hvcore/msr.h>
#include <hvcore/vmcall.h>

#include "host_env.h"
#include "hvcore_efi.h"
#include "hvcore_uefi.h"

static struct hvu U;
static struct hvu_host H;
static struct hv *HV;
static EFI_EVENT ebs_event;
static volatile bool ebs_done;
static EFI_HANDLE self;
static EFI_GUID hvcore_guid = HVCORE_PROTOCOL_GUID;
static EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static HVCORE_PROTOCOL proto;
/* --keep-aps: restart APs at the firmware's SIPI instead of devirtualizing
 * them at ExitBootServices (see on_exit_boot_services). */
static bool keep_aps;

/* ---- log lines with numbers ------------------------------------------------- */

struct line {
    char buf[240];
    size_t n;
};

static void add(struct line *l, const char *s)
{
    while (*s != '\0' && l->n + 1 < sizeof(l->buf))
        l->buf[l->n++] = *s++;
    l->buf[l->n] = '\0';
}

static void add_num(struct line *l, uint64_t v, unsigned base)
{
    char t[24];
    int i = 0;

    if (base == 16)
        add(l, "0x");
    do {
        t[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    while (i > 0 && l->n + 1 < sizeof(l->buf))
        l->buf[l->n++] = t[--i];
    l->buf[l->n] = '\0';
}

static void report_failure(const char *what, hv_status_t st)
{
    struct line l = { .n = 0 };
    uint32_t vmerr = hv_status_vm_instruction_error(st);

    add(&l, what);
    if (HV != NULL && HV->failed_cpu != UINT32_MAX) {
        add(&l, " on cpu ");
        add_num(&l, HV->failed_cpu, 10);
    }
    add(&l, ": ");
    add(&l, hv_status_name(st));
    add(&l, " (");
    add_num(&l, st, 16);
    add(&l, ")");
    if (vmerr != 0) {
        add(&l, ", VM-instruction error: ");
        add(&l, hv_vm_instruction_error_text(vmerr));
    }
    hvu_log("error", l.buf);
}

/* ---- VMCALL: pointers only while root and the caller share memory ----------- */

/*
 * RUN_IN_ROOT takes a pointer to a request and calls a function in it. In
 * firmware, root's 1:1 map is the firmware's own map, so that works (the
 * MSR broadcast uses it). Once the OS runs, its pointers mean nothing in
 * root's address space: refuse them (INVALID_PARAMETER) instead of calling
 * through a stranger's address. The OS uses the register-only calls.
 */
static enum hv_exit_action vmcall_handler(struct hv_exit *e)
{
    uint64_t *r = e->gprs->r;

    if (ebs_done && r[HV_GPR_RAX] == HV_VMCALL_RUN_IN_ROOT && hv_exit_cpl(e) == 0 &&
        r[HV_GPR_RCX] == HV_VMCALL_KEY) {
        r[HV_GPR_RAX] = HV_STATUS_INVALID_PARAMETER;
        return HV_ACTION_SKIP;
    }
    return hv_exit_default_handler(HV_EXIT_VMCALL)(e);
}

/* ---- the protocol -------------------------------------------------------------- */

static UINT32 EFIAPI p_msr_read(HVCORE_PROTOCOL *This, UINT32 Core, UINT32 Msr, HVCORE_MSR_RESULT *Results,
                                UINT32 Count)
{
    (void)This;
    _Static_assert(sizeof(HVCORE_MSR_RESULT) == sizeof(struct hv_msr_result), "same layout");
    if (ebs_done)
        return HV_STATUS_INVALID_PARAMETER;
    return hv_msr_read(HV, Core, Msr, (struct hv_msr_result *)Results, Count);
}

static UINT32 EFIAPI p_msr_write(HVCORE_PROTOCOL *This, UINT32 Core, UINT32 Msr, UINT64 Value,
                                 HVCORE_MSR_RESULT *Results, UINT32 Count)
{
    (void)This;
    if (ebs_done)
        return HV_STATUS_INVALID_PARAMETER;
    return hv_msr_write(HV, Core, Msr, Value, (struct hv_msr_result *)Results, Count);
}

static VOID EFIAPI p_page_counts(HVCORE_PROTOCOL *This, UINT64 *Allocated, UINT64 *Freed)
{
    (void)This;
    if (Allocated != NULL)
        *Allocated = U.pages_allocated;
    if (Freed != NULL)
        *Freed = U.pages_freed;
}

/* ---- ExitBootServices ------------------------------------------------------------ */

static hv_status_t devirtualize_this_cpu(uint32_t cpu, void *arg)
{
    (void)cpu;
    return hv_stop_this_cpu(arg);
}

/* Can every AP stay virtualized through the firmware's INIT-SIPI-SIPI?
 * If not, *why says why (the first AP that cannot). */
static bool aps_restartable(const char **why)
{
    uint32_t i;

    *why = NULL;
    for (i = 0; i < HV->cpu_count; i++) {
        if (i != U.bsp && !hv_ept_sipi_ready(HV, &HV->vcpus[i], why))
            return false;
    }
    return true;
}

/*
 * TPL_NOTIFY: before MP Services' own ExitBootServices callback
 * (TPL_CALLBACK), which wakes every AP with INIT-SIPI-SIPI to park it in
 * reserved memory and waits for each one to check in. The APs leave their
 * service loop here and return to MP Services. With unrestricted guest
 * they stay virtualized: the INIT and the SIPI are VM exits that the core
 * turns into what the CPU would have done, and the AP runs the firmware's
 * start-up and parking code as a guest. Without it a virtualized AP would
 * stay parked at the INIT and never check in (the boot would hang), so
 * the APs leave VMX first. Nothing of root calls a boot service after
 * this point.
 */
static VOID EFIAPI on_exit_boot_services(EFI_EVENT ev, VOID *ctx)
{
    uint32_t i, handled = 0;
    const char *why = NULL;
    bool stay = aps_restartable(&why);
    struct line l = { .n = 0 };

    (void)ev;
    (void)ctx;
    ebs_done = true;
    hvu_mp_restore(&U);
    for (i = U.cpu_count; i-- > 0;) {
        if (i == U.bsp)
            continue;
        if (stay || hv_success(hvu_ap_call(&U, i, devirtualize_this_cpu, HV)))
            handled++;
    }
    hvu_ap_release_all(&U, true);
    add(&l, "ExitBootServices: ");
    add_num(&l, handled, 10);
    if (stay) {
        add(&l, " AP(s) handed back to the firmware still virtualized (it parks them with INIT-SIPI-SIPI, "
                "taken as VM exits: unrestricted guest + EPT); the BSP stays virtualized under the OS");
    } else {
        add(&l, " AP(s) devirtualized and handed back to the firmware (it parks them with INIT-SIPI-SIPI; "
                "no restart at SIPI: ");
        add(&l, why != NULL ? why : "?");
        add(&l, "); the BSP stays virtualized under the OS");
    }
    hvu_log(NULL, l.buf);
}

/* ---- bring-up and teardown --------------------------------------------------------- */

static bool cpu_has_vmx(void)
{
    uint32_t a = 1, b, c = 0, d;

    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return (c >> 5) & 1u;
}

/* hvcore already runs here (a second load of hvcore.efi): its APs are in
 * the first instance's service loops, and VMX is taken. Recognized by the
 * CPUID 0x40000000 signature; another hypervisor is the core's to judge
 * (VMXON then fails with VMX_IN_USE). */
static bool hvcore_present(void)
{
    uint32_t a = 0x40000000u, b, c = 0, d;

    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return b == 0x6862696cu && c == 0x726f6376u && d == 0x65u; /* "libh" "vcor" "e" */
}

static EFI_STATUS EFIAPI unload(EFI_HANDLE image);

static EFI_STATUS bring_up(void)
{
    struct hv_config cfg;
    hv_status_t hst;
    EFI_STATUS st;
    struct line l = { .n = 0 };

    st = hvu_init(&U, BS);
    if (EFI_ERROR(st))
        return st;
    add(&l, "hvcore.efi: ");
    add_num(&l, U.cpu_count, 10);
    add(&l, U.mp != NULL ? " processor(s) from MP Services" : " processor (no MP Services)");
    hvu_log(NULL, l.buf);
    if (hvcore_present()) {
        hvu_log("error", "hvcore is already running (CPUID 0x40000000): not loading a second instance");
        return EFI_ALREADY_STARTED;
    }
    if (!cpu_has_vmx()) {
        hvu_log("error", "VT-x is not available on this processor (CPUID.1:ECX.VMX = 0): nothing was changed, "
                         "the firmware continues without a hypervisor");
        return EFI_UNSUPPORTED;
    }

    st = hvu_host_page_tables(&U, &H);
    if (EFI_ERROR(st))
        goto page_tables_failed;
    st = hvu_host_cpus_prepare(&U, &H);
    if (EFI_ERROR(st))
        goto cpus_prepare_failed;

    hv_config_init(&cfg);
    cfg.host_cr3 = H.cr3;
    cfg.own_host_idt = true;
    /* The firmware restarts APs with INIT-SIPI-SIPI (at ExitBootServices). */
    cfg.restart_on_sipi = keep_aps;
    hst = hv_create(&HV, hvu_os_ops(&U), &cfg);
    if (!hv_success(hst))
        goto create_failed;
    hst = hv_exit_set_handler(HV, HV_EXIT_VMCALL, vmcall_handler);
    if (!hv_success(hst))
        goto handler_failed;
    hst = hv_start(HV);
    if (!hv_success(hst))
        goto start_failed;

    st = BS->CreateEvent(EVT_SIGNAL_EXIT_BOOT_SERVICES, TPL_NOTIFY, on_exit_boot_services, NULL, &ebs_event);
    if (EFI_ERROR(st))
        goto event_failed;
    hvu_mp_interpose(&U);
    l.n = 0;
    add(&l, "all ");
    add_num(&l, HV->cpu_count, 10);
    add(&l, " processor(s) virtualized; ");
    add_num(&l, U.pages_allocated, 10);
    add(&l, " pages of EfiRuntimeServicesData");
    hvu_log(NULL, l.buf);
    {
        const char *why = NULL;

        l.n = 0;
        if (aps_restartable(&why)) {
            add(&l, "APs restart at SIPI (unrestricted guest, identity EPT of ");
            add_num(&l, HV->ept_gib, 10);
            add(&l, " GiB): they stay virtualized through ExitBootServices");
        } else {
            add(&l, "APs will be devirtualized at ExitBootServices (no restart at SIPI: ");
            add(&l, why != NULL ? why : "?");
            add(&l, keep_aps ? ")" : "; --keep-aps enables it)");
        }
        hvu_log(NULL, l.buf);
    }
    return EFI_SUCCESS;

event_failed:
    hvu_log("error", "cannot register for ExitBootServices: devirtualizing");
    if (!hv_success(hv_stop(HV))) {
        /* Still virtualized somewhere: keep every byte (and the image). */
        hvu_log("error", "devirtualization failed: hvcore stays loaded");
        return EFI_SUCCESS;
    }
    hv_destroy(HV);
    HV = NULL;
    goto cpus_restore;
start_failed:
    report_failure("cannot virtualize", hst);
    hv_destroy(HV);
    HV = NULL;
    st = hst == HV_STATUS_VMX_NOT_SUPPORTED ? EFI_UNSUPPORTED
       : hst == HV_STATUS_VMX_DISABLED_BY_FIRMWARE ? EFI_ACCESS_DENIED
       : hst == HV_STATUS_VMX_IN_USE ? EFI_ALREADY_STARTED : EFI_DEVICE_ERROR;
    goto cpus_restore;
handler_failed:
create_failed:
    report_failure("cannot create the hypervisor", hst);
    if (HV != NULL)
        hv_destroy(HV);
    HV = NULL;
    st = hst == HV_STATUS_INSUFFICIENT_RESOURCES ? EFI_OUT_OF_RESOURCES : EFI_DEVICE_ERROR;
cpus_restore:
    hvu_host_cpus_restore(&U, &H);
cpus_prepare_failed:
    hvu_ap_release_all(&U, false);
    hvu_host_page_tables_free(&U, &H);
page_tables_failed:
    if (EFI_ERROR(st))
        hvu_log("error", "hvcore.efi not loaded; the firmware continues without a hypervisor");
    return st;
}

static EFI_STATUS EFIAPI unload(EFI_HANDLE image)
{
    hv_status_t hst;
    struct line l = { .n = 0 };

    (void)image;
    if (ebs_done || HV == NULL)
        return EFI_ACCESS_DENIED;
    hst = hv_stop(HV);
    if (!hv_success(hst)) {
        report_failure("unload: devirtualization failed, hvcore stays loaded", hst);
        return EFI_DEVICE_ERROR;
    }
    hvu_mp_restore(&U);
    BS->UninstallProtocolInterface(self, &hvcore_guid, &proto);
    BS->CloseEvent(ebs_event);
    hv_destroy(HV);
    HV = NULL;
    hvu_host_cpus_restore(&U, &H);
    hvu_ap_release_all(&U, false);
    hvu_host_page_tables_free(&U, &H);
    add(&l, "unloaded: every processor devirtualized; pages allocated ");
    add_num(&l, U.pages_allocated, 10);
    add(&l, ", freed ");
    add_num(&l, U.pages_freed, 10);
    add(&l, ", outstanding ");
    add_num(&l, (uint64_t)U.pages_outstanding, 10);
    hvu_log(NULL, l.buf);
    return EFI_SUCCESS;
}

/* ---- the next stage ---------------------------------------------------------------- */

static bool is_space(CHAR16 c)
{
    return c == L' ' || c == L'\t';
}

/* LoadOptions: "[hvcore.efi] [--keep-aps] [NEXT [ARGS...]]" (the shell
 * passes our own name first, LoadImage callers usually do not). */
static CHAR16 *next_stage(EFI_LOADED_IMAGE *li, CHAR16 **args)
{
    CHAR16 *s = li->LoadOptions, *tok, *end;
    UINTN n = li->LoadOptionsSize / sizeof(CHAR16), i, len;

    *args = NULL;
    if (s == NULL || n == 0)
        return NULL;
    for (i = 0; i < n && s[i] != 0; i++)
        ;
    end = s + i;
    while (s < end && is_space(*s))
        s++;
    tok = s;
    while (s < end && !is_space(*s))
        s++;
    len = (UINTN)(s - tok);
    if (len >= 10 && (tok[len - 4] | 0x20) == L'.' && ((tok[len - 3] | 0x20) == L'e') &&
        (tok[len - 2] | 0x20) == L'f' && (tok[len - 1] | 0x20) == L'i') {
        UINTN k = len;

        while (k > 0 && tok[k - 1] != L'\\' && tok[k - 1] != L'/' && tok[k - 1] != L':')
            k--;
        if (len - k == 10 && (tok[k] | 0x20) == L'h' && (tok[k + 1] | 0x20) == L'v') {
            while (s < end && is_space(*s))
                s++;
            tok = s;
            while (s < end && !is_space(*s))
                s++;
        }
    }
    /* Options before the next stage. */
    while (s > tok && (UINTN)(s - tok) == 10 && StrnCmp(tok, L"--keep-aps", 10) == 0) {
        keep_aps = true;
        while (s < end && is_space(*s))
            s++;
        tok = s;
        while (s < end && !is_space(*s))
            s++;
    }
    if (s == tok)
        return NULL;
    if (s < end) {
        *s++ = 0;
        while (s < end && is_space(*s))
            s++;
        *args = s;
    }
    return tok;
}

static EFI_STATUS start_next(EFI_LOADED_IMAGE *li, CHAR16 *path, CHAR16 *args)
{
    EFI_DEVICE_PATH *dp;
    EFI_HANDLE child = NULL;
    EFI_LOADED_IMAGE *cli;
    EFI_STATUS st;

    dp = FileDevicePath(li->DeviceHandle, path);
    if (dp == NULL)
        return EFI_OUT_OF_RESOURCES;
    st = BS->LoadImage(FALSE, self, dp, NULL, 0, &child);
    FreePool(dp);
    if (EFI_ERROR(st)) {
        hvu_log("error", "cannot load the next stage");
        return st;
    }
    st = BS->HandleProtocol(child, &loaded_image_guid, (void **)&cli);
    if (EFI_ERROR(st)) {
        BS->UnloadImage(child);
        return st;
    }
    if (args != NULL) {
        cli->LoadOptions = args;
        cli->LoadOptionsSize = (UINT32)((StrLen(args) + 1) * sizeof(CHAR16));
    }
    hvu_log(NULL, "starting the next stage");
    st = BS->StartImage(child, NULL, NULL);
    /* Back here only if it returned (a boot loader that gave up, a tool). */
    hvu_log(st == EFI_SUCCESS ? NULL : "warning", "the next stage returned; hvcore stays resident");
    return EFI_SUCCESS;
}

/* Called by gnu-efi's crt0 (_start) with the SysV ABI, not EFIAPI. */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    EFI_LOADED_IMAGE *li;
    CHAR16 *next, *args;
    EFI_STATUS st;

    InitializeLib(image, systab);
    self = image;
    st = BS->HandleProtocol(image, &loaded_image_guid, (void **)&li);
    if (EFI_ERROR(st))
        return st;
    next = next_stage(li, &args);
    st = bring_up();
    if (EFI_ERROR(st))
        return st;
    proto.Revision = HVCORE_PROTOCOL_REVISION;
    proto.CpuCount = HV->cpu_count;
    proto.MsrRead = p_msr_read;
    proto.MsrWrite = p_msr_write;
    proto.PageCounts = p_page_counts;
    st = BS->InstallProtocolInterface(&self, &hvcore_guid, EFI_NATIVE_INTERFACE, &proto);
    if (EFI_ERROR(st)) {
        hvu_log("error", "cannot install the hvcore protocol: unloading");
        if (EFI_ERROR(unload(image)))
            return EFI_SUCCESS; /* still virtualized: stay */
        return st;
    }
    li->Unload = unload;
    if (next != NULL)
        return start_next(li, next, args);
    return EFI_SUCCESS;
}
