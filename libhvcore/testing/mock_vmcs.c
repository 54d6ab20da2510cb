/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — the in-memory VMCS: hv_vmcs_backend_read/write on the
 * bound fake CPU's current VMCS, and the hv_mock_vmcs_* helpers.
 *
 * Field values live inside the VMCS region itself (the 4 KiB page whose
 * physical address VMPTRLD made current; the fake OS maps pa == va), after
 * the revision identifier and the VMX-abort indicator, so a VMCS keeps its
 * contents across VMCLEAR/VMPTRLD exactly as a real one does.
 *
 * What the backend does, and why (SDM Vol. 3C, 31.3 VMREAD/VMWRITE):
 *  - no current VMCS                     -> VMfailInvalid
 *  - encoding not in HV_VMCS_FIELD_LIST, or a field this CPU does not
 *    implement (e.g. PML_ADDRESS on Haswell; derived per CPU from its
 *    capability MSRs at its first VMXON) -> VMfailValid(12)
 *  - claimed width != encoding bits 14:13 -> reported failure +
 *    HV_STATUS_INVALID_PARAMETER (the real backend ignores the width)
 *  - VMREAD of a field never written      -> reported failure, *value = 0,
 *    HV_STATUS_READ_FAILED
 *  - VMWRITE to a read-only data field (type 1: 0x24xx/0x44xx/0x64xx)
 *    -> VMfailValid(13) unless IA32_VMX_MISC[29] (VMWRITE to any field)
 *  - values are truncated to the field width on write; a 64-bit field's
 *    HIGH encoding (bit 0 set) reads/writes its upper 32 bits.
 * VMfailValid also stores the error number in the current VMCS's
 * VM_INSTRUCTION_ERROR field, as the processor does.
 */
#define _POSIX_C_SOURCE 200809L

#include <hvcore/testing/mock.h>

#include "mock_sys.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

/* "MOCKVMCS": written by VMCLEAR (or the mock itself) into a region it has
 * initialized. */
#define MOCK_VMCS_MAGIC 0x53434D564B434F4Dull

enum { LAUNCH_CLEAR = 0, LAUNCH_LAUNCHED = 1 };

/* Layout of a VMCS region as the mock uses it. */
struct mock_vmcs {
    uint32_t revision;           /* bytes 0-3: revision id, bit 31 = shadow */
    uint32_t abort_indicator;    /* bytes 4-7: VMX-abort indicator */
    uint64_t magic;
    uint32_t launch_state;
    uint32_t reserved;
    uint64_t value[HV_VMCS_FIELD_COUNT];
    uint8_t written[HV_VMCS_FIELD_COUNT];
};
_Static_assert(sizeof(struct mock_vmcs) <= HV_PAGE_SIZE,
               "the in-memory VMCS must fit in its 4 KiB region");

static inline struct mock_vmcs *region(uint64_t pa)
{
    return (struct mock_vmcs *)(uintptr_t)pa;
}

/* ---- Pages the mock owns (make_current, the IN_USE profile) ------------ */

struct page_node {
    struct page_node *next;
    void *page;
};
static pthread_mutex_t g_pages_lock = PTHREAD_MUTEX_INITIALIZER;
static struct page_node *g_pages;

void *hv_mocki_page_new(void)
{
    struct page_node *n = malloc(sizeof(*n));
    void *p = mock_page_alloc(HV_PAGE_SIZE);

    if (n == NULL || p == NULL) {
        free(n);
        mock_page_free(p);
        return NULL;
    }
    memset(p, 0, HV_PAGE_SIZE);
    n->page = p;
    pthread_mutex_lock(&g_pages_lock);
    n->next = g_pages;
    g_pages = n;
    pthread_mutex_unlock(&g_pages_lock);
    return p;
}

/* ---- Which fields a CPU implements ------------------------------------- */

/* Does a CPU with these capability MSRs implement `enc`? (SDM Vol. 3D,
 * Appendix B: fields exist only on processors that support the feature
 * they belong to.) */
static bool field_supported(uint32_t enc, const struct hv_mock_cpu *c)
{
    uint32_t pin1 = (uint32_t)(hv_mocki_cap(c, HV_MSR_IA32_VMX_PINBASED_CTLS) >> 32);
    uint32_t proc1 = (uint32_t)(hv_mocki_cap(c, HV_MSR_IA32_VMX_PROCBASED_CTLS) >> 32);
    uint32_t exit1 = (uint32_t)(hv_mocki_cap(c, HV_MSR_IA32_VMX_EXIT_CTLS) >> 32);
    uint32_t entry1 = (uint32_t)(hv_mocki_cap(c, HV_MSR_IA32_VMX_ENTRY_CTLS) >> 32);
    uint32_t proc2 = (proc1 & HV_PROC_ACTIVATE_SECONDARY)
                         ? (uint32_t)(hv_mocki_cap(c, HV_MSR_IA32_VMX_PROCBASED_CTLS2) >> 32) : 0;

    switch (enc) {
    case HV_VMCS_POSTED_INTR_NOTIFY_VECTOR:
    case HV_VMCS_POSTED_INTR_DESC_ADDR:
        return pin1 & HV_PIN_POSTED_INTERRUPTS;
    case HV_VMCS_VMX_PREEMPTION_TIMER_VALUE:
        return pin1 & HV_PIN_PREEMPTION_TIMER;
    case HV_VMCS_VIRTUAL_APIC_PAGE_ADDR:
    case HV_VMCS_TPR_THRESHOLD:
        return proc1 & HV_PROC_USE_TPR_SHADOW;
    case HV_VMCS_TERTIARY_PROC_CONTROLS:
        return proc1 & HV_PROC_ACTIVATE_TERTIARY;
    case HV_VMCS_APIC_ACCESS_ADDR:
        return proc2 & HV_PROC2_VIRTUALIZE_APIC_ACCESSES;
    case HV_VMCS_EPT_POINTER:
    case HV_VMCS_GUEST_PHYSICAL_ADDRESS:
    case HV_VMCS_GUEST_PDPTE0: case HV_VMCS_GUEST_PDPTE1:
    case HV_VMCS_GUEST_PDPTE2: case HV_VMCS_GUEST_PDPTE3:
        return proc2 & HV_PROC2_ENABLE_EPT;
    case HV_VMCS_VPID:
        return proc2 & HV_PROC2_ENABLE_VPID;
    case HV_VMCS_PLE_GAP:
    case HV_VMCS_PLE_WINDOW:
        return proc2 & (1u << 10);
    case HV_VMCS_GUEST_INTR_STATUS:
    case HV_VMCS_EOI_EXIT_BITMAP0: case HV_VMCS_EOI_EXIT_BITMAP1:
    case HV_VMCS_EOI_EXIT_BITMAP2: case HV_VMCS_EOI_EXIT_BITMAP3:
        return proc2 & (1u << 9);                      /* virtual-interrupt delivery */
    case HV_VMCS_VM_FUNCTION_CONTROLS:
    case HV_VMCS_EPTP_LIST_ADDR:
        return proc2 & HV_PROC2_ENABLE_VMFUNC;
    case HV_VMCS_VMREAD_BITMAP:
    case HV_VMCS_VMWRITE_BITMAP:
        return proc2 & (1u << 14);                     /* VMCS shadowing */
    case HV_VMCS_ENCLS_EXITING_BITMAP:
        return proc2 & (1u << 15);
    case HV_VMCS_PML_ADDRESS:
    case HV_VMCS_GUEST_PML_INDEX:
        return proc2 & (1u << 17);
    case HV_VMCS_EPTP_INDEX:
    case HV_VMCS_VE_INFO_ADDR:
        return proc2 & (1u << 18);                     /* EPT-violation #VE */
    case HV_VMCS_XSS_EXIT_BITMAP:
        return proc2 & HV_PROC2_ENABLE_XSAVES;
    case HV_VMCS_SPP_TABLE_POINTER:
        return proc2 & (1u << 23);
    case HV_VMCS_TSC_MULTIPLIER:
        return proc2 & (1u << 25);
    case HV_VMCS_ENCLV_EXITING_BITMAP:
        return proc2 & (1u << 28);
    case HV_VMCS_GUEST_IA32_PAT:
        return (entry1 & HV_ENTRY_CTL_LOAD_PAT) || (exit1 & HV_EXIT_CTL_SAVE_PAT);
    case HV_VMCS_HOST_IA32_PAT:
        return exit1 & HV_EXIT_CTL_LOAD_PAT;
    case HV_VMCS_GUEST_IA32_EFER:
        return (entry1 & HV_ENTRY_CTL_LOAD_EFER) || (exit1 & HV_EXIT_CTL_SAVE_EFER);
    case HV_VMCS_HOST_IA32_EFER:
        return exit1 & HV_EXIT_CTL_LOAD_EFER;
    case HV_VMCS_GUEST_IA32_PERF_GLOBAL_CTRL:
        return entry1 & HV_ENTRY_CTL_LOAD_PERF_GLOBAL_CTRL;
    case HV_VMCS_HOST_IA32_PERF_GLOBAL_CTRL:
        return exit1 & HV_EXIT_CTL_LOAD_PERF_GLOBAL_CTRL;
    case HV_VMCS_GUEST_IA32_BNDCFGS:
        return (entry1 & HV_ENTRY_CTL_LOAD_BNDCFGS) || (exit1 & HV_EXIT_CTL_CLEAR_BNDCFGS);
    case HV_VMCS_GUEST_IA32_RTIT_CTL:
        return (entry1 & HV_ENTRY_CTL_LOAD_RTIT_CTL) || (exit1 & HV_EXIT_CTL_CLEAR_RTIT_CTL);
    case HV_VMCS_GUEST_IA32_LBR_CTL:
        return entry1 & (1u << 21);
    case HV_VMCS_GUEST_IA32_PKRS:
        return entry1 & HV_ENTRY_CTL_LOAD_PKRS;
    case HV_VMCS_HOST_IA32_PKRS:
        return exit1 & HV_EXIT_CTL_LOAD_PKRS;
    case HV_VMCS_GUEST_S_CET: case HV_VMCS_GUEST_SSP: case HV_VMCS_GUEST_INTR_SSP_TABLE_ADDR:
        return entry1 & HV_ENTRY_CTL_LOAD_CET_STATE;
    case HV_VMCS_HOST_S_CET: case HV_VMCS_HOST_SSP: case HV_VMCS_HOST_INTR_SSP_TABLE_ADDR:
        return exit1 & HV_EXIT_CTL_LOAD_CET_STATE;
    default:
        return true;
    }
}

void hv_mocki_vmcs_derive_fields(const struct hv_mock_cpu *cpu, uint8_t *supported)
{
    /* A CPU without VMX defines nothing; keep every field so that handler
     * tests on it still have a VMCS to talk to. */
    bool all = hv_mocki_cap(cpu, HV_MSR_IA32_VMX_BASIC) == 0;
    int s;

    for (s = 0; s < (int)HV_VMCS_FIELD_COUNT; s++)
        supported[s] = all || field_supported(hv_vmcs_slot_encoding(s), cpu);
}

void hv_mocki_vmcs_fini(void)
{
    struct page_node *n, *next;

    pthread_mutex_lock(&g_pages_lock);
    n = g_pages;
    g_pages = NULL;
    pthread_mutex_unlock(&g_pages_lock);
    for (; n != NULL; n = next) {
        next = n->next;
        mock_page_free(n->page);
        free(n);
    }
}

/* ---- Region state (used by the VMX instructions in mock_arch.c) -------- */

void hv_mocki_vmcs_init_region(uint64_t pa, uint32_t revision, bool launched)
{
    struct mock_vmcs *v = region(pa);

    if (v->magic != MOCK_VMCS_MAGIC) {
        memset(v->value, 0, sizeof(v->value));
        memset(v->written, 0, sizeof(v->written));
        v->magic = MOCK_VMCS_MAGIC;
    }
    v->revision = revision;
    v->launch_state = launched ? LAUNCH_LAUNCHED : LAUNCH_CLEAR;
}

bool hv_mocki_vmcs_is_initialized(uint64_t pa)
{
    return region(pa)->magic == MOCK_VMCS_MAGIC;
}

bool hv_mocki_vmcs_launched(uint64_t pa)
{
    return region(pa)->launch_state == LAUNCH_LAUNCHED;
}

void hv_mocki_vmcs_set_launched(uint64_t pa, bool launched)
{
    region(pa)->launch_state = launched ? LAUNCH_LAUNCHED : LAUNCH_CLEAR;
}

/* Slot of a (full or HIGH) encoding, or -1. */
static int slot_of(uint32_t field, bool *high)
{
    int s;

    *high = HV_VMCS_FIELD_IS_HIGH(field);
    s = hv_vmcs_field_slot(*high ? field & ~1u : field);
    return (s >= 0 && s < (int)HV_VMCS_FIELD_COUNT) ? s : -1;
}

static uint64_t truncate_to_width(uint32_t field, uint64_t value)
{
    switch (HV_VMCS_FIELD_WIDTH(field)) {
    case HV_VMCS_W16:
        return value & 0xFFFFull;
    case HV_VMCS_W32:
        return value & 0xFFFFFFFFull;
    default:
        return value;
    }
}

static void store(struct mock_vmcs *v, int slot, uint32_t field, bool high, uint64_t value)
{
    if (high)
        v->value[slot] = (v->value[slot] & 0xFFFFFFFFull) | (value << 32);
    else
        v->value[slot] = truncate_to_width(field, value);
    v->written[slot] = 1;
}

static uint64_t load(const struct mock_vmcs *v, int slot, bool high)
{
    return high ? v->value[slot] >> 32 : v->value[slot];
}

/* Value of `field` in the current VMCS; false (and 0) if unwritten or no
 * current VMCS. No counters, no reports. */
bool hv_mocki_vmcs_get(const struct hv_mock_cpu *cpu, uint32_t field, uint64_t *value)
{
    const struct mock_vmcs *v;
    bool high;
    int s = slot_of(field, &high);

    *value = 0;
    if (cpu->current_vmcs_pa == ~0ull || s < 0)
        return false;
    v = region(cpu->current_vmcs_pa);
    if (!v->written[s])
        return false;
    *value = load(v, s, high);
    return true;
}

void hv_mocki_vmcs_put(struct hv_mock_cpu *cpu, uint32_t field, uint64_t value)
{
    bool high;
    int s = slot_of(field, &high);

    if (cpu->current_vmcs_pa == ~0ull || s < 0)
        return;
    store(region(cpu->current_vmcs_pa), s, field, high, value);
}

/* SDM Vol. 3C, 31.2 "VMfail(ErrorNumber)": VMfailValid with the number in
 * the current VMCS if there is one, else VMfailInvalid. */
hv_status_t hv_mocki_vmfail(struct hv_mock_cpu *cpu, uint32_t number)
{
    if (cpu->current_vmcs_pa == ~0ull)
        return HV_STATUS_VMX_FAIL_INVALID;
    hv_mocki_vmcs_put(cpu, HV_VMCS_VM_INSTRUCTION_ERROR, number);
    return HV_STATUS_VM_INSTRUCTION_ERROR(number);
}

/* ---- The backend seam --------------------------------------------------- */

static const char *width_name(enum hv_vmcs_width w)
{
    switch (w) {
    case HV_VMCS_W16: return "16-bit";
    case HV_VMCS_W32: return "32-bit";
    case HV_VMCS_W64: return "64-bit";
    case HV_VMCS_WNAT: return "natural-width";
    default: return "an invalid width";
    }
}

/* Fault injection: the op's countdown reached 1 on this call. */
bool hv_mocki_injected(struct hv_mock_cpu *cpu, enum hv_mock_vmx_op op, hv_status_t *st)
{
    cpu->op_calls[op]++;
    if (cpu->fail_at[op] == 0 || --cpu->fail_at[op] != 0)
        return false;
    *st = cpu->fail_status[op] != HV_STATUS_SUCCESS ? cpu->fail_status[op] : HV_STATUS_VMX_FAIL_INVALID;
    if (hv_status_is_vm_instruction_error(*st))
        hv_mocki_vmcs_put(cpu, HV_VMCS_VM_INSTRUCTION_ERROR, hv_status_vm_instruction_error(*st));
    return true;
}

/* What VMREAD and VMWRITE both check, in the CPU's order: a current VMCS,
 * a component this CPU implements (else VMfailValid 12), and - the mock's
 * own check - the width the caller believes the field has. */
static inline __attribute__((always_inline)) hv_status_t access_check(struct hv_mock_cpu *cpu, uint32_t field, enum hv_vmcs_width width,
                                                               int *slot, bool *high)
{
    int s;

    if (cpu->current_vmcs_pa == ~0ull)
        return HV_STATUS_VMX_FAIL_INVALID;
    s = slot_of(field, high);
    /* A VMCS is current, so VMXON froze this CPU's field set already. */
    if (s < 0 || !hv_mocki_priv(cpu)->supported[s])
        return hv_mocki_vmfail(cpu, 12);
    if (width != HV_VMCS_FIELD_WIDTH(field)) {
        hv_mocki_fail("VMCS width mismatch: %s (0x%x) is %s, accessed as %s",
                      hv_vmcs_field_name(field & ~(uint32_t)*high), field,
                      width_name(HV_VMCS_FIELD_WIDTH(field)), width_name(width));
        return HV_STATUS_INVALID_PARAMETER;
    }
    *slot = s;
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_vmcs_backend_read(uint32_t field, enum hv_vmcs_width width, uint64_t *value)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("VMREAD (hv_vmcs_backend_read)");
    struct mock_vmcs *v;
    hv_status_t st;
    bool high;
    int s;

    if (cpu == NULL)
        return HV_STATUS_VMX_FAIL_INVALID;
    cpu->vmcs_reads++;
    if (value == NULL) {
        hv_mocki_fail("VMREAD of %s (0x%x) with a NULL destination", hv_vmcs_field_name(field), field);
        return HV_STATUS_INVALID_PARAMETER;
    }
    if (hv_mocki_injected(cpu, HV_MOCK_OP_VMREAD, &st))
        return st;
    st = access_check(cpu, field, width, &s, &high);
    if (st != HV_STATUS_SUCCESS)
        return st;
    v = region(cpu->current_vmcs_pa);
    if (!v->written[s]) {
        hv_mocki_fail("VMREAD of never-written VMCS field %s (0x%x) on cpu%u",
                      hv_vmcs_field_name(field & ~(uint32_t)high), field, cpu->index);
        *value = 0;
        return HV_STATUS_READ_FAILED;
    }
    *value = load(v, s, high);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_vmcs_backend_write(uint32_t field, enum hv_vmcs_width width, uint64_t value)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("VMWRITE (hv_vmcs_backend_write)");
    hv_status_t st;
    bool high;
    int s;

    if (cpu == NULL)
        return HV_STATUS_VMX_FAIL_INVALID;
    cpu->vmcs_writes++;
    if (hv_mocki_injected(cpu, HV_MOCK_OP_VMWRITE, &st))
        return st;
    st = access_check(cpu, field, width, &s, &high);
    if (st != HV_STATUS_SUCCESS)
        return st;
    if (HV_VMCS_FIELD_TYPE(field) == 1u &&
        !(hv_mocki_cap(cpu, HV_MSR_IA32_VMX_MISC) & (1ull << 29)))
        return hv_mocki_vmfail(cpu, 13);
    if (hv_mocki_vmx_foreign(cpu)) {
        hv_mocki_fail("VMWRITE of %s (0x%x) on cpu%u into another hypervisor's current VMCS",
                      hv_vmcs_field_name(field & ~(uint32_t)high), field, cpu->index);
    }
    store(region(cpu->current_vmcs_pa), s, field, high, value);
    return HV_STATUS_SUCCESS;
}

/* ---- Test helpers ------------------------------------------------------- */

hv_status_t hv_mock_vmcs_make_current(void)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu("hv_mock_vmcs_make_current");
    uint32_t rev;
    uint32_t *on;
    void *vmcs;

    if (cpu == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    rev = HV_VMX_BASIC_REVISION(hv_mocki_cap(cpu, HV_MSR_IA32_VMX_BASIC));
    vmcs = hv_mocki_page_new();
    if (vmcs == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    /* As inside a VM exit: VMX root, CR4.VMXE on, the VMCS launched. */
    if (!cpu->vmx_operation) {
        on = hv_mocki_page_new();
        if (on == NULL)
            return HV_STATUS_INSUFFICIENT_RESOURCES;
        *on = rev;
        cpu->vmx_operation = true;
        cpu->vmxon_pa = (uint64_t)(uintptr_t)on;
    }
    cpu->cr[4] |= HV_CR4_VMXE;
    hv_mocki_caps_freeze(cpu);
    hv_mocki_vmcs_init_region((uint64_t)(uintptr_t)vmcs, rev, true);
    cpu->current_vmcs_pa = (uint64_t)(uintptr_t)vmcs;
    return HV_STATUS_SUCCESS;
}

static struct mock_vmcs *current_of(struct hv_mock_cpu *cpu, const char *caller)
{
    if (cpu == NULL)
        return NULL;
    if (cpu->current_vmcs_pa == ~0ull) {
        hv_mocki_fail("%s: cpu%u has no current VMCS", caller, cpu->index);
        return NULL;
    }
    return region(cpu->current_vmcs_pa);
}

static struct mock_vmcs *current_for(const char *caller, struct hv_mock_cpu **out)
{
    struct hv_mock_cpu *cpu = hv_mocki_cpu(caller);

    *out = cpu;
    return current_of(cpu, caller);
}

static void seed(struct mock_vmcs *v, const char *caller, uint32_t field, uint64_t value)
{
    bool high;
    int s;

    if (v == NULL)
        return;
    s = slot_of(field, &high);
    if (s < 0) {
        hv_mocki_fail("%s: unknown VMCS field encoding 0x%x", caller, field);
        return;
    }
    store(v, s, field, high, value);
}

static bool peek(const struct mock_vmcs *v, uint32_t field, uint64_t *value)
{
    uint64_t dummy;
    bool high;
    int s;

    if (value == NULL)
        value = &dummy;
    *value = 0;
    if (v == NULL)
        return false;
    s = slot_of(field, &high);
    if (s < 0 || !v->written[s])
        return false;
    *value = load(v, s, high);
    return true;
}

void hv_mock_vmcs_seed(uint32_t field, uint64_t value)
{
    struct hv_mock_cpu *cpu;

    seed(current_for("hv_mock_vmcs_seed", &cpu), "hv_mock_vmcs_seed", field, value);
}

bool hv_mock_vmcs_peek(uint32_t field, uint64_t *value)
{
    struct hv_mock_cpu *cpu;

    return peek(current_for("hv_mock_vmcs_peek", &cpu), field, value);
}

/* Another CPU's VMCS, under that CPU's activity lock so that an exit it
 * is simulating on another thread is never observed half-way. */
static struct hv_mock_cpu *other_cpu(uint32_t index, const char *caller)
{
    struct hv_mock_cpu *cpu = hv_mock_cpu(index);

    if (cpu == NULL)
        hv_mocki_fail("%s: no fake CPU %u (%u exist)", caller, index, hv_mock_cpu_count());
    return cpu;
}

void hv_mock_vmcs_seed_on(uint32_t cpu_index, uint32_t field, uint64_t value)
{
    struct hv_mock_cpu *cpu = other_cpu(cpu_index, "hv_mock_vmcs_seed_on");

    if (cpu == NULL)
        return;
    hv_mock_cpu_lock(cpu_index);
    seed(current_of(cpu, "hv_mock_vmcs_seed_on"), "hv_mock_vmcs_seed_on", field, value);
    hv_mock_cpu_unlock(cpu_index);
}

bool hv_mock_vmcs_peek_on(uint32_t cpu_index, uint32_t field, uint64_t *value)
{
    struct hv_mock_cpu *cpu = other_cpu(cpu_index, "hv_mock_vmcs_peek_on");
    bool ok;

    if (cpu == NULL) {
        if (value != NULL)
            *value = 0;
        return false;
    }
    hv_mock_cpu_lock(cpu_index);
    ok = peek(current_of(cpu, "hv_mock_vmcs_peek_on"), field, value);
    hv_mock_cpu_unlock(cpu_index);
    return ok;
}

void hv_mock_vmcs_clear_fields(void)
{
    struct hv_mock_cpu *cpu;
    struct mock_vmcs *v = current_for("hv_mock_vmcs_clear_fields", &cpu);

    if (v == NULL)
        return;
    memset(v->value, 0, sizeof(v->value));
    memset(v->written, 0, sizeof(v->written));
}
