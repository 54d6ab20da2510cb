// SPDX-License-Identifier: MIT
/*
 * struct hv_os_ops over UEFI boot services and MP Services.
 *
 * PRE-LAUNCH members run on the BSP before ExitBootServices, with boot
 * services: AllocatePages of EfiRuntimeServicesData for everything the
 * hypervisor keeps (the OS must not reuse it once it boots), MP Services
 * (through ap_loop.c) to run work on the APs. ROOT-SAFE members call no boot
 * service at all: they read the APIC ID with CPUID and write the serial port
 * directly, so they keep working inside VM exits after ExitBootServices,
 * when the firmware's code and data may already be the OS's memory.
 */
#include "hvcore_uefi.h"

static EFI_GUID mp_guid = HVU_MP_SERVICES_GUID;

/* ---- log ------------------------------------------------------------------ */

/* Whole lines, not interleaved characters, when CPUs log at once. The lock
 * is a bounded try: a CPU that cannot get it (another one stuck in root)
 * still writes its line rather than hang. */
static volatile uint32_t log_lock;

static size_t str_len(const char *s)
{
    size_t n = 0;

    while (s[n] != '\0')
        n++;
    return n;
}

void hvu_log(const char *level, const char *msg)
{
    uint32_t spins = 0;
    bool locked = false;

    while (spins++ < 1000000u) {
        if (__atomic_exchange_n(&log_lock, 1u, __ATOMIC_ACQUIRE) == 0) {
            locked = true;
            break;
        }
        hvu_cpu_relax();
    }
    hvu_serial_write("hvcore: ", 8);
    if (level != NULL) {
        hvu_serial_write(level, str_len(level));
        hvu_serial_write(": ", 2);
    }
    hvu_serial_write(msg, str_len(msg));
    hvu_serial_write("\r\n", 2);
    if (locked)
        __atomic_store_n(&log_lock, 0u, __ATOMIC_RELEASE);
}

static void os_log(void *ctx, enum hv_log_level level, const char *msg)
{
    (void)ctx;
    hvu_log(level == HV_LOG_ERROR ? "error" : level == HV_LOG_WARN ? "warning" : NULL, msg);
}

/* ---- memory ---------------------------------------------------------------- */

void *hvu_alloc_pages(struct hvu *u, size_t pages)
{
    EFI_PHYSICAL_ADDRESS pa = 0;
    EFI_STATUS st;
    size_t i;

    if (pages == 0)
        return NULL;
    /* Runtime data: the OS leaves it alone after ExitBootServices. Any
     * address: root maps all of memory 1:1 (host_env.c). */
    st = u->bs->AllocatePages(AllocateAnyPages, EfiRuntimeServicesData, pages, &pa);
    if (EFI_ERROR(st))
        return NULL;
    for (i = 0; i < pages * HV_PAGE_SIZE / sizeof(uint64_t); i++)
        ((volatile uint64_t *)(uintptr_t)pa)[i] = 0;
    u->pages_outstanding += (int64_t)pages;
    u->pages_allocated += pages;
    return (void *)(uintptr_t)pa;
}

void hvu_free_pages(struct hvu *u, void *va, size_t pages)
{
    if (va == NULL || pages == 0)
        return;
    if (EFI_ERROR(u->bs->FreePages((EFI_PHYSICAL_ADDRESS)(uintptr_t)va, pages))) {
        hvu_log("warning", "FreePages failed: the pages stay allocated");
        return;
    }
    u->pages_outstanding -= (int64_t)pages;
    u->pages_freed += pages;
}

static size_t pages_of(size_t bytes)
{
    return (bytes + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
}

static void *os_alloc_pages(void *ctx, size_t count)
{
    return hvu_alloc_pages(ctx, count);
}

static void os_free_pages(void *ctx, void *va, size_t count)
{
    hvu_free_pages(ctx, va, count);
}

/* AllocatePages memory is physically contiguous by definition. */
static void *os_alloc_contiguous(void *ctx, size_t bytes)
{
    return hvu_alloc_pages(ctx, pages_of(bytes));
}

static void os_free_contiguous(void *ctx, void *va, size_t bytes)
{
    hvu_free_pages(ctx, va, pages_of(bytes));
}

/* Boot services run with paging on and memory mapped 1:1 (UEFI 2.x,
 * 2.3.4), and root's own page tables map it 1:1 too: an address is its
 * physical address, before and after the OS changes its own mappings. */
static uint64_t os_virt_to_phys(void *ctx, const void *va)
{
    (void)ctx;
    return (uint64_t)(uintptr_t)va;
}

static void *os_phys_to_virt(void *ctx, uint64_t pa)
{
    (void)ctx;
    return (void *)(uintptr_t)pa;
}

/* ---- CPUs ------------------------------------------------------------------ */

static uint32_t os_cpu_count(void *ctx)
{
    return ((struct hvu *)ctx)->cpu_count;
}

/* ROOT-SAFE: CPUID does not exit to ourselves in root, and the table was
 * filled before launch. UINT32_MAX for a CPU we never saw. */
static uint32_t os_cpu_index(void *ctx)
{
    struct hvu *u = ctx;
    uint32_t id = hvu_cpu_apic_id(), i;

    for (i = 0; i < u->cpu_count; i++) {
        if (u->apic_id[i] == id)
            return i;
    }
    return UINT32_MAX;
}

static hv_status_t os_run_on_cpu(void *ctx, uint32_t cpu, hv_cpu_fn fn, void *arg)
{
    struct hvu *u = ctx;
    EFI_TPL old;
    hv_status_t st;

    if (cpu >= u->cpu_count)
        return HV_STATUS_CPU_CALL_FAILED;
    if (cpu != u->bsp)
        return hvu_ap_call(u, cpu, fn, arg);
    /* The BSP itself, with interrupts off (TPL_HIGH_LEVEL) as the core
     * expects of a cross-call. */
    old = u->bs->RaiseTPL(TPL_HIGH_LEVEL);
    st = fn(cpu, arg);
    u->bs->RestoreTPL(old);
    return st;
}

/* One CPU at a time in the requested order (ANY is ascending): the core's
 * "stop at the first failure" and its reverse rollback rely on it. */
static hv_status_t os_run_on_each_cpu(void *ctx, hv_cpu_fn fn, void *arg, enum hv_cpu_order order)
{
    struct hvu *u = ctx;
    uint32_t i;

    for (i = 0; i < u->cpu_count; i++) {
        uint32_t cpu = order == HV_CPU_ORDER_DESCENDING ? u->cpu_count - 1 - i : i;

        if (os_run_on_cpu(ctx, cpu, fn, arg) == HV_STATUS_CPU_CALL_FAILED)
            return HV_STATUS_CPU_CALL_FAILED;
    }
    return HV_STATUS_SUCCESS;
}

static uint64_t os_current_pid(void *ctx)
{
    (void)ctx;
    return 0; /* firmware has no processes; an OS on top is opaque to us */
}

static void os_notify(void *ctx, uint32_t cpu)
{
    (void)ctx;
    (void)cpu; /* no message-ring readers in firmware */
}

static void os_panic(void *ctx, const char *msg)
{
    (void)ctx;
    hvu_log("panic", msg);
    hvu_cpu_stop();
}

const struct hv_os_ops *hvu_os_ops(struct hvu *u)
{
    return &u->ops;
}

EFI_STATUS hvu_init(struct hvu *u, EFI_BOOT_SERVICES *bs)
{
    HVU_PROCESSOR_INFORMATION info;
    UINTN n = 1, enabled = 1, me = 0, i;
    EFI_STATUS st;
    void *mp = NULL;

    u->bs = bs;
    u->mp = NULL;
    u->cpu_count = 1;
    u->bsp = 0;
    u->apic_id[0] = hvu_cpu_apic_id();
    if (u->ap_timeout_us == 0)
        u->ap_timeout_us = 30u * 1000u * 1000u; /* Bochs is slow: generous */
    u->ops = (struct hv_os_ops){
        .size = sizeof(struct hv_os_ops),
        .ctx = u,
        .alloc_pages = os_alloc_pages,
        .free_pages = os_free_pages,
        .alloc_contiguous = os_alloc_contiguous,
        .free_contiguous = os_free_contiguous,
        .cpu_count = os_cpu_count,
        .run_on_cpu = os_run_on_cpu,
        .run_on_each_cpu = os_run_on_each_cpu,
        .virt_to_phys = os_virt_to_phys,
        .phys_to_virt = os_phys_to_virt,
        .cpu_index = os_cpu_index,
        .current_pid = os_current_pid,
        .log = os_log,
        .notify = os_notify,
        .panic = os_panic,
        /* No alloc_exec (no custom-code actions) and no nmi_self: owed
         * NMIs at devirtualization are logged as dropped. */
    };

    st = bs->LocateProtocol(&mp_guid, NULL, &mp);
    if (EFI_ERROR(st) || mp == NULL) {
        hvu_log("warning", "MP Services protocol not found: virtualizing the BSP only");
        return EFI_SUCCESS;
    }
    u->mp = mp;
    st = u->mp->GetNumberOfProcessors(u->mp, &n, &enabled);
    if (EFI_ERROR(st) || n == 0)
        goto mp_unusable;
    st = u->mp->WhoAmI(u->mp, &me);
    if (EFI_ERROR(st))
        goto mp_unusable;
    if (n > HVU_MAX_CPUS || me >= n) {
        hvu_log("error", "more processors than hvcore.efi supports (64)");
        return EFI_UNSUPPORTED;
    }
    for (i = 0; i < n; i++) {
        st = u->mp->GetProcessorInfo(u->mp, i, &info);
        if (EFI_ERROR(st))
            goto mp_unusable;
        /* A disabled AP would never answer: refuse rather than hang. */
        if (!(info.StatusFlag & HVU_PROCESSOR_ENABLED_BIT)) {
            hvu_log("error", "a processor is disabled in MP Services: cannot virtualize every CPU");
            return EFI_UNSUPPORTED;
        }
        u->apic_id[i] = (uint32_t)info.ProcessorId;
        u->ap[i].cpu = (uint32_t)i;
        u->ap[i].u = u;
    }
    u->cpu_count = (uint32_t)n;
    u->bsp = (uint32_t)me;
    u->halting_aps = n > 1 && hvu_cpu_wake_ready();
    return EFI_SUCCESS;

mp_unusable:
    hvu_log("warning", "MP Services did not answer: virtualizing the BSP only");
    u->mp = NULL;
    u->cpu_count = 1;
    u->bsp = 0;
    return EFI_SUCCESS;
}
