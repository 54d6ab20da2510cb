/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — the fake machine: N fake CPUs built from a capability
 * profile (CPUID table, per-core MSR file, control/debug registers, GDT,
 * IDT, TSS), the thread -> fake-CPU binding, and failure reporting.
 *
 * The machine is global; each fake CPU is meant to be driven by one thread
 * at a time (the one bound to it). Profiles are documented next to
 * enum hv_mock_profile in <hvcore/testing/mock.h>; the exact VMX
 * capability values are in the k_caps_* tables below.
 */
#define _POSIX_C_SOURCE 200809L

#include <hvcore/testing/mock.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

/* ========================================================================
 * Failure reporting
 * ======================================================================== */

static pthread_mutex_t g_fail_lock = PTHREAD_MUTEX_INITIALIZER;
static hv_mock_failure_fn g_fail_fn;
static void *g_fail_ctx;
static atomic_uint g_fail_count;
static char g_last_failure[512];

void hv_mock_set_failure_handler(hv_mock_failure_fn fn, void *ctx)
{
    pthread_mutex_lock(&g_fail_lock);
    g_fail_fn = fn;
    g_fail_ctx = ctx;
    pthread_mutex_unlock(&g_fail_lock);
}

uint32_t hv_mock_failure_count(void)
{
    return atomic_load(&g_fail_count);
}

void hv_mock_report_failure(const char *msg)
{
    hv_mocki_fail("%s", msg != NULL ? msg : "(null)");
}

const char *hv_mock_last_failure(void)
{
    return g_last_failure;
}

void hv_mocki_fail(const char *fmt, ...)
{
    char msg[sizeof(g_last_failure)];
    hv_mock_failure_fn fn;
    void *ctx;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&g_fail_lock);
    memcpy(g_last_failure, msg, sizeof(msg));
    fn = g_fail_fn;
    ctx = g_fail_ctx;
    pthread_mutex_unlock(&g_fail_lock);
    atomic_fetch_add(&g_fail_count, 1u);

    if (fn != NULL) {
        fn(ctx, msg);
        return;
    }
    fprintf(stderr, "hvcore mock: FAILURE: %s\n", msg);
    fflush(stderr);
    abort();
}

/* ========================================================================
 * Profiles
 * ======================================================================== */

/* VMX capability MSRs of a profile (SDM Vol. 3D, Appendix A). Control MSRs
 * are allowed-0 settings in bits 31:0 (1 = must be 1) and allowed-1
 * settings in bits 63:32 (0 = must be 0). A zero ept_vpid / vmfunc /
 * proc3 means the MSR does not exist (A.10, A.11, A.3.4: each exists only
 * when a control that needs it may be 1). */
struct vmx_caps_tab {
    uint64_t basic, pin, proc, exit, entry, misc;
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1, vmcs_enum;
    uint64_t proc2, proc3, ept_vpid, vmfunc;
    uint64_t true_pin, true_proc, true_exit, true_entry;
};

/*
 * Haswell (Bochs corei7_haswell_4770-like). Chosen so that the controls a
 * blue-pill measured there are allowed: pin 0x16, primary 0x94006172,
 * secondary 0x1008, exit 0x3f6fff, entry 0xd3ff.
 *  BASIC   rev 0x2b, region 0x1000, WB (6), INS/OUTS info (54), TRUE (55)
 *  PIN     default1 bits 1,2,4; may set 0 ext-int, 3 NMI, 5 vNMI, 6 preemption timer
 *  PROC    default1 1,4-6,8,13-16,26 (plain); TRUE lets 15,16 (CR3 load/store) be 0;
 *          may set everything but 0, 17 (tertiary), 18
 *  EXIT    default1 0-8,10,11,13,14,16,17 (plain 0x36dff); TRUE lets 2 (save debug
 *          controls) be 0 (0x36dfb); may set 0-22
 *  ENTRY   default1 0-8,12 (plain 0x11ff); TRUE lets 2 (load debug controls) be 0;
 *          may set 0-15
 *  PROC2   may set 0-7 (APIC acc, EPT, desc-table, RDTSCP, x2APIC, VPID, WBINVD,
 *          unrestricted), 10 PLE, 11 RDRAND exiting, 12 INVPCID, 13 VMFUNC
 *  MISC    preemption-timer rate 5, LMA store (5), HLT/shutdown/SIPI activity
 *          states, SMBASE read (15), 4 CR3 targets, 512 MSRs; bit 29 (VMWRITE to
 *          any field) clear, so VMWRITE to exit-information fields fails (error 13)
 *  EPT/VPID  exec-only, 4-level walks, UC+WB EPTP, 2M+1G pages, INVEPT (single,
 *          all), A/D flags, INVVPID (address, single, all, single-keep-globals)
 */
static const struct vmx_caps_tab k_caps_haswell = {
    .basic = 0x00D810000000002Bull,
    .pin = 0x0000007F00000016ull,
    .proc = 0xFFF9FFFE0401E172ull,
    .exit = 0x007FFFFF00036DFFull,
    .entry = 0x0000FFFF000011FFull,
    .misc = 0x00000000000481E5ull,
    .cr0_fixed0 = 0x80000021ull,
    .cr0_fixed1 = 0xFFFFFFFFull,
    .cr4_fixed0 = 0x00002000ull,
    .cr4_fixed1 = 0x003727FFull,
    .vmcs_enum = 0x2Eull,
    .proc2 = 0x00003CFF00000000ull,
    .ept_vpid = 0x00000F0106334141ull,
    .vmfunc = 0x1ull,
    .true_pin = 0x0000007F00000016ull,
    .true_proc = 0xFFF9FFFE04006172ull,
    .true_exit = 0x007FFFFF00036DFBull,
    .true_entry = 0x0000FFFF000011FBull,
};

/* Skylake-like: revision 4; adds to Haswell: PROC2 16 RDSEED exiting,
 * 17 PML, 20 XSAVES; EXIT 23 clear BNDCFGS, 24 conceal from PT, 25 clear
 * RTIT_CTL; ENTRY 16 load BNDCFGS, 17 conceal from PT, 18 load RTIT_CTL;
 * MISC 14 (PT in VMX); CR4_FIXED1 adds SMXE (bit 14). */
static const struct vmx_caps_tab k_caps_skylake = {
    .basic = 0x00D8100000000004ull,
    .pin = 0x0000007F00000016ull,
    .proc = 0xFFF9FFFE0401E172ull,
    .exit = 0x03FFFFFF00036DFFull,
    .entry = 0x0007FFFF000011FFull,
    .misc = 0x000000000004C1E5ull,
    .cr0_fixed0 = 0x80000021ull,
    .cr0_fixed1 = 0xFFFFFFFFull,
    .cr4_fixed0 = 0x00002000ull,
    .cr4_fixed1 = 0x003767FFull,
    .vmcs_enum = 0x2Eull,
    .proc2 = 0x00133CFF00000000ull,
    .ept_vpid = 0x00000F0106334141ull,
    .vmfunc = 0x1ull,
    .true_pin = 0x0000007F00000016ull,
    .true_proc = 0xFFF9FFFE04006172ull,
    .true_exit = 0x03FFFFFF00036DFBull,
    .true_entry = 0x0007FFFF000011FBull,
};

/*
 * Sapphire Rapids class (4th-generation Xeon; Ice Lake server plus WAITPKG,
 * PKS, perfmon v5). Against Skylake:
 *  PIN     + 7 posted interrupts
 *  PROC    + 17 activate tertiary controls (PROCBASED_CTLS3: 4 IPI virtualization)
 *  PROC2   may set 0-20, 22-28, 30: adds 8/9 APIC-register virtualization and
 *          virtual-interrupt delivery, 14 VMCS shadowing, 15 ENCLS exiting,
 *          18 EPT-violation #VE, 19 conceal VMX from PT, 22 mode-based execute,
 *          23 sub-page permissions, 24 PT uses guest PAs, 25 TSC scaling,
 *          26 enable user wait and pause (WAITPKG), 27 PCONFIG, 28 ENCLV, 30 bus lock
 *  EXIT    may set 0-22, 24-29: + 26 clear LBR_CTL, 27 clear UINV, 28 load CET
 *          state, 29 load PKRS; no 23 (MPX is gone since Ice Lake)
 *  ENTRY   may set 0-15, 17-22: + 19 load UINV, 20 load CET state, 21 load
 *          LBR_CTL, 22 load PKRS; no 16 (BNDCFGS)
 *  MISC    + 29 VMWRITE to any field (exit-information fields too)
 *  CR4     FIXED1 adds UMIP (11), LA57 (12), PKE (22), CET (23), PKS (24)
 *  EPT     + 7 5-level walks, 22 advanced exit information, 23 supervisor
 *          shadow-stack control
 */
static const struct vmx_caps_tab k_caps_sapphire_rapids = {
    .basic = 0x00D8100000000004ull,
    .pin = 0x000000FF00000016ull,
    .proc = 0xFFFBFFFE0401E172ull,
    .exit = 0x3F7FFFFF00036DFFull,
    .entry = 0x007EFFFF000011FFull,
    .misc = 0x000000002004C1E5ull,
    .cr0_fixed0 = 0x80000021ull,
    .cr0_fixed1 = 0xFFFFFFFFull,
    .cr4_fixed0 = 0x00002000ull,
    .cr4_fixed1 = 0x01F77FFFull,
    .vmcs_enum = 0x34ull,
    .proc2 = 0x5FDFFFFF00000000ull,
    .proc3 = 0x10ull,
    .ept_vpid = 0x00000F0106F341C1ull,
    .vmfunc = 0x1ull,
    .true_pin = 0x000000FF00000016ull,
    .true_proc = 0xFFFBFFFE04006172ull,
    .true_exit = 0x3F7FFFFF00036DFBull,
    .true_entry = 0x007EFFFF000011FBull,
};

/* Haswell without EPT, VPID, unrestricted guest and VM functions (PROC2
 * may set 0, 2-4, 6, 10-12), as some nested hypervisors present VT-x; the
 * EPT/VPID and VMFUNC capability MSRs do not exist. */
static const struct vmx_caps_tab k_caps_no_ept_vpid = {
    .basic = 0x00D810000000002Bull,
    .pin = 0x0000007F00000016ull,
    .proc = 0xFFF9FFFE0401E172ull,
    .exit = 0x007FFFFF00036DFFull,
    .entry = 0x0000FFFF000011FFull,
    .misc = 0x00000000000481E5ull,
    .cr0_fixed0 = 0x80000021ull,
    .cr0_fixed1 = 0xFFFFFFFFull,
    .cr4_fixed0 = 0x00002000ull,
    .cr4_fixed1 = 0x003727FFull,
    .vmcs_enum = 0x2Eull,
    .proc2 = 0x00001C5D00000000ull,
    .true_pin = 0x0000007F00000016ull,
    .true_proc = 0xFFF9FFFE04006172ull,
    .true_exit = 0x007FFFFF00036DFBull,
    .true_entry = 0x0000FFFF000011FBull,
};

/* Bochs 2.7 `cpu: model=tigerlake`, read in the e2e guest (test/e2e/MODELS.md,
 * cpucaps): every value below is the measured one. */
static const struct vmx_caps_tab k_caps_bochs_tigerlake = {
    .basic = 0x01D8100000000004ull,
    .pin = 0x0000007F00000016ull,
    .proc = 0xFFF9FFFE0401E172ull,
    .exit = 0x107FFFFF00036DFFull,
    .entry = 0x0010FFFF000011FFull,
    .misc = 0x00000000600401E0ull,
    .cr0_fixed0 = 0x80000021ull,
    .cr0_fixed1 = 0xFFFFFFFFull,
    .cr4_fixed0 = 0x00002000ull,
    .cr4_fixed1 = 0x00F72FFFull,
    .vmcs_enum = 0x34ull,
    .proc2 = 0x02977FFF00000000ull,
    .ept_vpid = 0x00000F0106B34141ull,
    .vmfunc = 0x1ull,
    .true_pin = 0x0000007F00000016ull,
    .true_proc = 0xFFF9FFFE04006172ull,
    .true_exit = 0x107FFFFF00036DFBull,
    .true_entry = 0x0010FFFF000011FBull,
};

/* The CPUID leaves and non-VMX MSRs of a profile: one CPU generation. */
enum cpu_model { MODEL_HASWELL, MODEL_SKYLAKE, MODEL_SAPPHIRE_RAPIDS, MODEL_BOCHS_TIGERLAKE };

struct profile {
    const char *name;
    enum cpu_model model;
    const struct vmx_caps_tab *caps;  /* NULL: CPUID.1:ECX.VMX = 0, no VMX MSRs */
    bool true_ctls;                   /* IA32_VMX_BASIC[55] and the TRUE MSRs */
    bool in_use;                      /* another hypervisor did VMXON already */
    uint64_t feature_control;
};

static const struct profile k_profiles[HV_MOCK_PROFILE_COUNT] = {
    [HV_MOCK_PROFILE_HASWELL] = { "haswell", MODEL_HASWELL, &k_caps_haswell, true, false, 0x5 },
    [HV_MOCK_PROFILE_SKYLAKE] = { "skylake", MODEL_SKYLAKE, &k_caps_skylake, true, false, 0x0 },
    [HV_MOCK_PROFILE_NO_VMX] = { "no_vmx", MODEL_HASWELL, NULL, false, false, 0x0 },
    [HV_MOCK_PROFILE_VMX_LOCKED_OFF] = { "vmx_locked_off", MODEL_HASWELL, &k_caps_haswell, true, false, 0x1 },
    [HV_MOCK_PROFILE_VMX_IN_USE] = { "vmx_in_use", MODEL_HASWELL, &k_caps_haswell, true, true, 0x5 },
    [HV_MOCK_PROFILE_NO_TRUE_CTLS] = { "no_true_ctls", MODEL_HASWELL, &k_caps_haswell, false, false, 0x5 },
    [HV_MOCK_PROFILE_SAPPHIRE_RAPIDS] = { "sapphire_rapids", MODEL_SAPPHIRE_RAPIDS,
                                          &k_caps_sapphire_rapids, true, false, 0x5 },
    [HV_MOCK_PROFILE_NO_EPT_VPID] = { "no_ept_vpid", MODEL_HASWELL, &k_caps_no_ept_vpid, true, false, 0x5 },
    [HV_MOCK_PROFILE_BOCHS_TIGERLAKE] = { "bochs_tigerlake", MODEL_BOCHS_TIGERLAKE,
                                          &k_caps_bochs_tigerlake, true, false, 0x5 },
};

const char *hv_mock_profile_name(enum hv_mock_profile profile)
{
    if ((unsigned)profile >= HV_MOCK_PROFILE_COUNT || k_profiles[profile].name == NULL)
        return "?";
    return k_profiles[profile].name;
}

/* ========================================================================
 * Machine state and binding
 * ======================================================================== */

static struct hv_mock_cpu *g_cpus;
static struct hv_mocki_cpu_priv *g_priv;
static uint32_t g_ncpus;
/* Bumped by every hv_mock_init: a binding made for an older machine is void. */
static uint32_t g_gen;
static _Thread_local uint32_t tl_cpu = UINT32_MAX;
static _Thread_local uint32_t tl_gen;
/* VMX_IN_USE: physical address of the other hypervisor's VMXON region. */
static uint64_t g_foreign_vmxon[HV_MOCK_MAX_CPUS];

/* The mock's physical-address width (CPUID 0x80000008 EAX[7:0]). Real
 * Haswell reports 39, but the fake OS's virt_to_phys is the identity and
 * userspace heap addresses reach 2^47, so the mock claims 48. */
#define MOCK_MAXPHYADDR 48u

uint32_t hv_mocki_maxphyaddr(void)
{
    return MOCK_MAXPHYADDR;
}

/* The linear-address width: CPUID.80000008H:EAX[15:8], which is 57 on a
 * CPU that supports 5-level paging (CPUID.(7,0):ECX.LA57[16]) and 48
 * otherwise; a table that leaves the leaf out falls back on LA57. The
 * checks that use it (WRMSR of address MSRs, VM-entry checks of bases and
 * SYSENTER addresses) depend on the CPU, not on CR4.LA57 (Intel 5-Level
 * Paging white paper 335252, 2.5-2.6). */
static uint32_t linear_width(const struct hv_mock_cpu *cpu)
{
    struct hv_cpuid_regs r;
    uint32_t w = 0;

    if (hv_mocki_cpuid_get(cpu, 0x80000008u, 0, &r))
        w = (r.eax >> 8) & 0xFFu;
    if (w != 48 && w != 57) {
        hv_mocki_cpuid_get(cpu, 7, 0, &r);
        w = (r.ecx & (1u << 16)) ? 57 : 48;
    }
    return w;
}

bool hv_mocki_canonical(const struct hv_mock_cpu *cpu, uint64_t va)
{
    /* Bits 63:(width-1) all equal. */
    uint32_t w = linear_width(cpu);
    uint64_t top = va >> (w - 1u);

    return top == 0 || top == (~0ull >> (w - 1u));
}

uint64_t hv_mocki_ctl_cap(const struct hv_mock_cpu *cpu, uint32_t plain, uint32_t true_msr)
{
    uint32_t i;

    if (hv_mocki_cap(cpu, HV_MSR_IA32_VMX_BASIC) & HV_VMX_BASIC_TRUE_CTLS) {
        for (i = 0; i < cpu->msr_count; i++) {
            if (cpu->msrs[i].index == true_msr)
                return cpu->msrs[i].value;
        }
    }
    return hv_mocki_cap(cpu, plain);
}

struct hv_mocki_cpu_priv *hv_mocki_priv(const struct hv_mock_cpu *cpu)
{
    return &g_priv[cpu->index];
}

void hv_mocki_caps_freeze(struct hv_mock_cpu *cpu)
{
    struct hv_mocki_cpu_priv *p = hv_mocki_priv(cpu);

    if (p->frozen)
        return;
    hv_mocki_vmcs_derive_fields(cpu, p->supported);
    p->frozen = true;
}

bool hv_mock_caps_frozen(uint32_t cpu)
{
    return g_cpus != NULL && cpu < g_ncpus && g_priv[cpu].frozen;
}

/* A capability change on a frozen CPU: the core has read the old values
 * and the VMCS field set was derived from them, so the change would model
 * a CPU that cannot exist. Reported, and not applied. */
static bool caps_changeable(const struct hv_mock_cpu *cpu, const char *caller, const char *what)
{
    if (!g_priv[cpu->index].frozen)
        return true;
    hv_mocki_fail("%s: %s of cpu%u changed after its first VMXON, when its VMCS field set "
                  "was derived; change capabilities between hv_mock_init() and hv_start()",
                  caller, what, cpu->index);
    return false;
}

uint32_t hv_mock_cpu_count(void)
{
    return g_ncpus;
}

struct hv_mock_cpu *hv_mock_cpu(uint32_t index)
{
    if (g_cpus == NULL || index >= g_ncpus)
        return NULL;
    return &g_cpus[index];
}

struct hv_mock_cpu *hv_mock_cpu_current(void)
{
    if (g_cpus == NULL || tl_gen != g_gen || tl_cpu >= g_ncpus)
        return NULL;
    return &g_cpus[tl_cpu];
}

uint32_t hv_mock_cpu_bind(uint32_t index)
{
    struct hv_mock_cpu *cur = hv_mock_cpu_current();
    uint32_t prev = cur != NULL ? cur->index : UINT32_MAX;

    if (index == UINT32_MAX) {
        tl_cpu = UINT32_MAX;
        return prev;
    }
    if (g_cpus == NULL || index >= g_ncpus) {
        hv_mocki_fail("hv_mock_cpu_bind(%u): no such fake CPU (%u exist)", index, g_ncpus);
        return prev;
    }
    tl_cpu = index;
    tl_gen = g_gen;
    return prev;
}

struct hv_mock_cpu *hv_mocki_cpu(const char *caller)
{
    struct hv_mock_cpu *cpu = hv_mock_cpu_current();

    if (cpu == NULL)
        hv_mocki_fail("%s called on a thread bound to no fake CPU "
                      "(hv_mock_init / hv_mock_cpu_bind first)", caller);
    return cpu;
}

bool hv_mocki_vmx_foreign(const struct hv_mock_cpu *cpu)
{
    uint64_t pa = g_foreign_vmxon[cpu->index];

    return pa != 0 && cpu->vmx_operation && cpu->vmxon_pa == pa;
}

/* ========================================================================
 * MSR file
 * ======================================================================== */

struct hv_mock_msr *hv_mocki_msr(struct hv_mock_cpu *cpu, uint32_t msr)
{
    uint32_t i;

    for (i = 0; i < cpu->msr_count; i++) {
        if (cpu->msrs[i].index == msr)
            return &cpu->msrs[i];
    }
    return NULL;
}

uint64_t hv_mocki_cap(const struct hv_mock_cpu *cpu, uint32_t msr)
{
    uint32_t i;

    for (i = 0; i < cpu->msr_count; i++) {
        if (cpu->msrs[i].index == msr)
            return cpu->msrs[i].value;
    }
    return 0;
}

static struct hv_mock_msr *msr_add(struct hv_mock_cpu *cpu, uint32_t msr, uint64_t value, bool read_only)
{
    struct hv_mock_msr *m = hv_mocki_msr(cpu, msr);

    if (m == NULL) {
        if (cpu->msr_count >= HV_MOCK_MAX_MSRS) {
            hv_mocki_fail("cpu%u: MSR file full (%u entries) adding MSR 0x%x",
                          cpu->index, HV_MOCK_MAX_MSRS, msr);
            return NULL;
        }
        m = &cpu->msrs[cpu->msr_count++];
        memset(m, 0, sizeof(*m));
        m->index = msr;
        m->read_only = read_only;
    }
    m->value = value;
    return m;
}

/* The CPU indices [*first, *end) that `cpu` names (HV_MOCK_ALL_CPUS = all). */
static bool cpu_range(uint32_t cpu, const char *caller, uint32_t *first, uint32_t *end)
{
    if (g_cpus == NULL) {
        hv_mocki_fail("%s: the mock is not initialized (hv_mock_init)", caller);
        return false;
    }
    if (cpu == HV_MOCK_ALL_CPUS) {
        *first = 0;
        *end = g_ncpus;
        return true;
    }
    if (cpu >= g_ncpus) {
        hv_mocki_fail("%s: no fake CPU %u (%u exist)", caller, cpu, g_ncpus);
        return false;
    }
    *first = cpu;
    *end = cpu + 1;
    return true;
}

/* MSRs that describe what the CPU can do rather than hold state: the VMX
 * capability MSRs (SDM Vol. 3D, Appendix A), MTRRCAP, ARCH_CAPABILITIES,
 * MCG_CAP, PERF_CAPABILITIES, and anything the profile made read-only. */
static bool is_capability_msr(struct hv_mock_cpu *c, uint32_t msr)
{
    const struct hv_mock_msr *m = hv_mocki_msr(c, msr);

    if (msr >= HV_MSR_IA32_VMX_BASIC && msr <= HV_MSR_IA32_VMX_EXIT_CTLS2)
        return true;
    switch (msr) {
    case 0xFE: case 0x10A: case 0x179: case 0x345:
        return true;
    default:
        return m != NULL && m->read_only;
    }
}

static char *msr_what(char *buf, size_t n, uint32_t msr)
{
    snprintf(buf, n, "capability MSR 0x%x", msr);
    return buf;
}

void hv_mock_msr_set(uint32_t cpu, uint32_t msr, uint64_t value)
{
    uint32_t i, end;
    char what[40];

    if (!cpu_range(cpu, "hv_mock_msr_set", &i, &end))
        return;
    for (; i < end; i++) {
        bool cap = is_capability_msr(&g_cpus[i], msr);

        if (cap && !caps_changeable(&g_cpus[i], "hv_mock_msr_set", msr_what(what, sizeof(what), msr)))
            continue;
        /* A capability MSR created here is read-only like the others. */
        (void)msr_add(&g_cpus[i], msr, value, cap);
    }
}

void hv_mock_msr_set_gp(uint32_t cpu, uint32_t msr, bool on_read, bool on_write)
{
    struct hv_mock_msr *m;
    uint32_t i, end;
    char what[40];

    if (!cpu_range(cpu, "hv_mock_msr_set_gp", &i, &end))
        return;
    for (; i < end; i++) {
        if (is_capability_msr(&g_cpus[i], msr) &&
            !caps_changeable(&g_cpus[i], "hv_mock_msr_set_gp", msr_what(what, sizeof(what), msr)))
            continue;
        m = hv_mocki_msr(&g_cpus[i], msr);
        if (m == NULL)
            m = msr_add(&g_cpus[i], msr, 0, false);
        if (m != NULL) {
            m->gp_on_read = on_read;
            m->gp_on_write = on_write;
        }
    }
}

void hv_mock_msr_remove(uint32_t cpu, uint32_t msr)
{
    struct hv_mock_cpu *c;
    struct hv_mock_msr *m;
    uint32_t i, end;
    char what[40];

    if (!cpu_range(cpu, "hv_mock_msr_remove", &i, &end))
        return;
    for (; i < end; i++) {
        c = &g_cpus[i];
        m = hv_mocki_msr(c, msr);
        if (m == NULL)
            continue;
        if (is_capability_msr(c, msr) &&
            !caps_changeable(c, "hv_mock_msr_remove", msr_what(what, sizeof(what), msr)))
            continue;
        memmove(m, m + 1, (size_t)(&c->msrs[c->msr_count] - (m + 1)) * sizeof(*m));
        c->msr_count--;
    }
}

bool hv_mock_msr_get(uint32_t cpu, uint32_t msr, uint64_t *value)
{
    struct hv_mock_msr *m = hv_mock_msr_find(cpu, msr);

    if (m == NULL)
        return false;
    if (value != NULL)
        *value = m->value;
    return true;
}

struct hv_mock_msr *hv_mock_msr_find(uint32_t cpu, uint32_t msr)
{
    if (g_cpus == NULL || cpu >= g_ncpus)
        return NULL;
    return hv_mocki_msr(&g_cpus[cpu], msr);
}

/* ========================================================================
 * VMX fault injection
 * ======================================================================== */

/* fail_at[op] is a countdown: each call of `op` decrements it and the call
 * that brings it to 0 fails with fail_status[op] (1 = the next call; 0 =
 * disarmed). Tests may also set the two arrays directly. */
void hv_mock_vmx_fail_at(uint32_t cpu, enum hv_mock_vmx_op op, uint32_t nth, hv_status_t status)
{
    uint32_t i, end;

    if ((unsigned)op >= HV_MOCK_OP_COUNT) {
        hv_mocki_fail("hv_mock_vmx_fail_at: no such VMX op %d", (int)op);
        return;
    }
    if (!cpu_range(cpu, "hv_mock_vmx_fail_at", &i, &end))
        return;
    for (; i < end; i++) {
        g_cpus[i].fail_at[op] = nth;
        g_cpus[i].fail_status[op] = status;
    }
}

/* ========================================================================
 * CPUID
 * ======================================================================== */

/* Leaves whose output depends on ECX; all others ignore the subleaf. */
static bool leaf_has_subleaves(uint32_t leaf)
{
    switch (leaf) {
    case 0x4: case 0x7: case 0xB: case 0xD: case 0xF: case 0x10: case 0x12:
    case 0x14: case 0x17: case 0x18: case 0x1B: case 0x1D: case 0x1E: case 0x1F:
    case 0x20: case 0x23: case 0x24: case 0x8000001Du: case 0x80000020u:
    case 0x80000026u:
        return true;
    default:
        return false;
    }
}

bool hv_mocki_cpuid_get(const struct hv_mock_cpu *cpu, uint32_t leaf, uint32_t subleaf,
                        struct hv_cpuid_regs *out)
{
    uint32_t i;

    if (!leaf_has_subleaves(leaf))
        subleaf = 0;
    for (i = 0; i < cpu->cpuid_count; i++) {
        if (cpu->cpuid[i].leaf == leaf && cpu->cpuid[i].subleaf == subleaf) {
            *out = cpu->cpuid[i].regs;
            return true;
        }
    }
    memset(out, 0, sizeof(*out));
    return false;
}

static void cpuid_put(struct hv_mock_cpu *cpu, uint32_t leaf, uint32_t subleaf,
                      uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx)
{
    struct hv_mock_cpuid *e = NULL;
    uint32_t i;

    for (i = 0; i < cpu->cpuid_count; i++) {
        if (cpu->cpuid[i].leaf == leaf && cpu->cpuid[i].subleaf == subleaf) {
            e = &cpu->cpuid[i];
            break;
        }
    }
    if (e == NULL) {
        if (cpu->cpuid_count >= HV_MOCK_MAX_CPUID) {
            hv_mocki_fail("cpu%u: CPUID table full (%u entries) adding leaf 0x%x.%u",
                          cpu->index, HV_MOCK_MAX_CPUID, leaf, subleaf);
            return;
        }
        e = &cpu->cpuid[cpu->cpuid_count++];
        e->leaf = leaf;
        e->subleaf = subleaf;
    }
    e->regs.eax = eax;
    e->regs.ebx = ebx;
    e->regs.ecx = ecx;
    e->regs.edx = edx;
}

void hv_mock_cpuid_set(uint32_t cpu, uint32_t leaf, uint32_t subleaf,
                       const struct hv_cpuid_regs *regs)
{
    uint32_t i, end;

    if (regs == NULL) {
        hv_mocki_fail("hv_mock_cpuid_set: regs is NULL");
        return;
    }
    if (!cpu_range(cpu, "hv_mock_cpuid_set", &i, &end))
        return;
    for (; i < end; i++) {
        if (!caps_changeable(&g_cpus[i], "hv_mock_cpuid_set", "CPUID"))
            continue;
        cpuid_put(&g_cpus[i], leaf, leaf_has_subleaves(leaf) ? subleaf : 0,
                  regs->eax, regs->ebx, regs->ecx, regs->edx);
    }
}

bool hv_mock_cpuid_get(uint32_t cpu, uint32_t leaf, uint32_t subleaf, struct hv_cpuid_regs *out)
{
    struct hv_cpuid_regs dummy;

    if (out == NULL)
        out = &dummy;
    if (g_cpus == NULL || cpu >= g_ncpus) {
        memset(out, 0, sizeof(*out));
        return false;
    }
    return hv_mocki_cpuid_get(&g_cpus[cpu], leaf, subleaf, out);
}

void hv_mock_cpuid_update(uint32_t cpu, uint32_t leaf, uint32_t subleaf, enum hv_mock_reg reg,
                          uint32_t set, uint32_t clear)
{
    struct hv_cpuid_regs r;
    uint32_t *word;
    uint32_t i, end;

    if ((unsigned)reg > HV_MOCK_EDX) {
        hv_mocki_fail("hv_mock_cpuid_update: register %d is not EAX..EDX", (int)reg);
        return;
    }
    if (!cpu_range(cpu, "hv_mock_cpuid_update", &i, &end))
        return;
    for (; i < end; i++) {
        if (!caps_changeable(&g_cpus[i], "hv_mock_cpuid_update", "CPUID"))
            continue;
        (void)hv_mocki_cpuid_get(&g_cpus[i], leaf, subleaf, &r);
        word = reg == HV_MOCK_EAX ? &r.eax : reg == HV_MOCK_EBX ? &r.ebx
             : reg == HV_MOCK_ECX ? &r.ecx : &r.edx;
        *word = (*word & ~clear) | set;
        cpuid_put(&g_cpus[i], leaf, leaf_has_subleaves(leaf) ? subleaf : 0, r.eax, r.ebx, r.ecx, r.edx);
    }
}

/* ---- VMX controls: the plain and the TRUE MSR move together ------------- */

struct ctls_msrs {
    uint32_t plain, true_msr;   /* true_msr 0: no TRUE twin */
    const char *name;
};

static const struct ctls_msrs k_ctls_msrs[] = {
    [HV_MOCK_CTLS_PIN] = { HV_MSR_IA32_VMX_PINBASED_CTLS, HV_MSR_IA32_VMX_TRUE_PINBASED_CTLS, "pin-based" },
    [HV_MOCK_CTLS_PROC] = { HV_MSR_IA32_VMX_PROCBASED_CTLS, HV_MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
                            "primary processor-based" },
    [HV_MOCK_CTLS_PROC2] = { HV_MSR_IA32_VMX_PROCBASED_CTLS2, 0, "secondary processor-based" },
    [HV_MOCK_CTLS_EXIT] = { HV_MSR_IA32_VMX_EXIT_CTLS, HV_MSR_IA32_VMX_TRUE_EXIT_CTLS, "VM-exit" },
    [HV_MOCK_CTLS_ENTRY] = { HV_MSR_IA32_VMX_ENTRY_CTLS, HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS, "VM-entry" },
};

/* allowed-1 |= allow, &= ~forbid in one capability MSR; false (reported)
 * if a bit to forbid is default-1 there (it would have to be 0 and 1). */
static bool ctls_msr_update(struct hv_mock_cpu *c, uint32_t msr, uint32_t allow, uint32_t forbid,
                            const char *name)
{
    struct hv_mock_msr *m = hv_mocki_msr(c, msr);

    if (m == NULL) {
        hv_mocki_fail("hv_mock_vmx_ctls_allow: cpu%u has no %s capability MSR 0x%x", c->index, name, msr);
        return false;
    }
    if ((uint32_t)m->value & forbid) {
        hv_mocki_fail("hv_mock_vmx_ctls_allow: %s controls 0x%x of cpu%u are default-1 in MSR 0x%x "
                      "and cannot be forbidden", name, (uint32_t)m->value & forbid, c->index, msr);
        return false;
    }
    m->value = (m->value | ((uint64_t)allow << 32)) & ~((uint64_t)forbid << 32);
    return true;
}

void hv_mock_vmx_ctls_allow(uint32_t cpu, enum hv_mock_ctls ctls, uint32_t allow, uint32_t forbid)
{
    const struct ctls_msrs *k;
    struct hv_mock_cpu *c;
    uint32_t i, end;

    if ((unsigned)ctls >= sizeof(k_ctls_msrs) / sizeof(k_ctls_msrs[0])) {
        hv_mocki_fail("hv_mock_vmx_ctls_allow: no control word %d", (int)ctls);
        return;
    }
    k = &k_ctls_msrs[ctls];
    if (allow & forbid) {
        hv_mocki_fail("hv_mock_vmx_ctls_allow: %s controls 0x%x both allowed and forbidden",
                      k->name, allow & forbid);
        return;
    }
    if (!cpu_range(cpu, "hv_mock_vmx_ctls_allow", &i, &end))
        return;
    for (; i < end; i++) {
        c = &g_cpus[i];
        if (!caps_changeable(c, "hv_mock_vmx_ctls_allow", "a VMX control capability"))
            continue;
        if (!ctls_msr_update(c, k->plain, allow, forbid, k->name))
            continue;
        /* SDM Vol. 3D, A.3: the TRUE MSRs report the same allowed-1 bits. */
        if (k->true_msr != 0 && hv_mocki_msr(c, k->true_msr) != NULL)
            (void)ctls_msr_update(c, k->true_msr, allow, forbid, k->name);
    }
}

/* Four 32-bit registers of a brand-string leaf from 16 bytes of text. */
static void cpuid_brand(struct hv_mock_cpu *cpu, const char *brand)
{
    char buf[48];
    uint32_t r[12];
    uint32_t i;

    memset(buf, 0, sizeof(buf));
    strncpy(buf, brand, sizeof(buf) - 1);
    memcpy(r, buf, sizeof(r));
    for (i = 0; i < 3; i++)
        cpuid_put(cpu, 0x80000002u + i, 0, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
}

/* CPUID bits used below. */
#define C1_ECX_VMX      (1u << 5)
#define C1_ECX_SMX      (1u << 6)

/* The mock's linear-address width without LA57 (CPUID 0x80000008 EAX[15:8]). */
#define MOCK_LINEAR_4LEVEL 48u
#define MOCK_LINEAR_5LEVEL 57u

static void build_cpuid_haswell_skylake(struct hv_mock_cpu *c, const struct profile *p, uint32_t ncpus)
{
    bool skylake = p->model == MODEL_SKYLAKE;
    /* Leaf 1 ECX (Haswell): SSE3 PCLMUL DTES64 MONITOR DS-CPL VMX EST TM2
     * SSSE3 FMA CX16 xTPR PDCM PCID SSE4.1 SSE4.2 x2APIC MOVBE POPCNT
     * TSC-deadline AES XSAVE OSXSAVE AVX F16C RDRAND; bit 31 (hypervisor
     * present) clear. Skylake adds SMX and SDBG. */
    uint32_t ecx1 = 0x7FFAF3BFu;
    /* Leaf 7 EBX: FSGSBASE TSC_ADJUST BMI1 HLE AVX2 FDP SMEP BMI2 ERMS
     * INVPCID RTM SMAP (SMAP because CR4.SMAP is set in the fake CR4);
     * Skylake adds MPX RDSEED ADX CLFLUSHOPT. */
    uint32_t ebx7 = 0x001027ABu;
    uint32_t xcr0_mask = 0x7, xsave_max = 0x340, d1_eax = 0x1;
    uint32_t fms = 0x000306C3u;                  /* family 6 model 0x3C */
    uint32_t ext_ecx = 0x21u;                    /* LAHF, LZCNT */

    if (skylake) {
        ecx1 |= C1_ECX_SMX | (1u << 11);
        ebx7 |= (1u << 14) | (1u << 18) | (1u << 19) | (1u << 23);
        xcr0_mask = 0x1F;                        /* + BNDREGS, BNDCSR (MPX) */
        xsave_max = 0x440;
        d1_eax = 0xF;                            /* XSAVEOPT XSAVEC XGETBV1 XSAVES */
        fms = 0x000506E3u;                       /* family 6 model 0x5E */
        ext_ecx |= 1u << 8;                      /* PREFETCHW */
    }
    if (p->caps == NULL)
        ecx1 &= ~C1_ECX_VMX;

    /* "GenuineIntel": EBX "Genu", EDX "ineI", ECX "ntel". */
    cpuid_put(c, 0x0, 0, 0xD, 0x756E6547u, 0x6C65746Eu, 0x49656E69u);
    cpuid_put(c, 0x1, 0, fms, (c->index << 24) | ((ncpus & 0xFFu) << 16) | 0x0800u,
              ecx1, 0xBFEBFBFFu);
    cpuid_put(c, 0x7, 0, 0, ebx7, 0, 0);
    cpuid_put(c, 0xD, 0, xcr0_mask, 0x340, xsave_max, 0);
    cpuid_put(c, 0xD, 1, d1_eax, skylake ? 0x340 : 0, 0, 0);
    cpuid_put(c, 0xD, 2, 0x100, 0x240, 0, 0);    /* AVX state: 256 bytes at 576 */
    if (skylake) {
        cpuid_put(c, 0xD, 3, 0x40, 0x3C0, 0, 0); /* BNDREGS */
        cpuid_put(c, 0xD, 4, 0x40, 0x400, 0, 0); /* BNDCSR */
    }
    cpuid_put(c, 0x80000000u, 0, 0x80000008u, 0, 0, 0);
    /* EDX: SYSCALL NX 1G-pages RDTSCP LM */
    cpuid_put(c, 0x80000001u, 0, 0, 0, ext_ecx, 0x2C100800u);
    cpuid_brand(c, skylake ? "Intel(R) Core(TM) i7-6700 CPU @ 3.40GHz"
                           : "Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz");
    cpuid_put(c, 0x80000008u, 0, (MOCK_LINEAR_4LEVEL << 8) | MOCK_MAXPHYADDR, 0, 0, 0);
}

static void build_cpuid_sapphire_rapids(struct hv_mock_cpu *c, uint32_t ncpus)
{
    /* Leaf 1 ECX: Haswell's plus SMX (6), SDBG (11), DCA (18). */
    const uint32_t ecx1 = 0x7FFEFBFFu;

    cpuid_put(c, 0x0, 0, 0x20, 0x756E6547u, 0x6C65746Eu, 0x49656E69u);
    cpuid_put(c, 0x1, 0, 0x000806F8u,                 /* family 6 model 0x8F */
              (c->index << 24) | ((ncpus & 0xFFu) << 16) | 0x0800u, ecx1, 0xBFEBFBFFu);
    /* Leaf 7.0 EAX = 1 (subleaf 1 exists).
     * EBX: FSGSBASE TSC_ADJUST BMI1 AVX2 FDP SMEP BMI2 ERMS INVPCID RTM(11)
     *      RDT-M FPU-CS/DS RDT-A AVX512F/DQ RDSEED ADX SMAP AVX512IFMA
     *      CLFLUSHOPT CLWB PT(25) AVX512CD SHA AVX512BW/VL; no HLE, SGX, MPX.
     * ECX: AVX512VBMI UMIP PKU OSPKE WAITPKG(5) AVX512VBMI2 CET_SS(7) GFNI
     *      VAES VPCLMULQDQ AVX512VNNI/BITALG TME AVX512VPOPCNTDQ LA57(16)
     *      RDPID BUS_LOCK_DETECT CLDEMOTE MOVDIRI MOVDIR64B ENQCMD PKS(31).
     * EDX: FSRM MD_CLEAR SERIALIZE TSXLDTRK ARCH_LBR CET_IBT(20) AVX512FP16
     *      IBRS/IBPB STIBP L1D_FLUSH ARCH_CAPABILITIES SSBD. */
    cpuid_put(c, 0x7, 0, 1, 0xF3BFBFEBu, 0xBB417FFEu, 0xBC994410u);
    cpuid_put(c, 0x7, 1, 0x30, 0, 0, 0);               /* AVX-VNNI, AVX512_BF16 */
    /* Architectural perfmon v5: 8 GP counters of 48 bits, fixed counters
     * 0-3 (EDX[4:0] = 4 and the ECX bitmask 0xF), 48 bits wide. */
    cpuid_put(c, 0xA, 0, 0x07300805u, 0, 0xF, 0x8604u);
    /* XCR0: x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM PKRU; XSS: PT, CET_U,
     * CET_S, arch LBR. */
    cpuid_put(c, 0xD, 0, 0x2E7, 0xA88, 0xA88, 0);
    cpuid_put(c, 0xD, 1, 0xF, 0x340, 0x9900, 0);      /* XSAVEOPT XSAVEC XGETBV1 XSAVES */
    cpuid_put(c, 0xD, 2, 0x100, 0x240, 0, 0);
    cpuid_put(c, 0xD, 5, 0x40, 0x440, 0, 0);
    cpuid_put(c, 0xD, 6, 0x200, 0x480, 0, 0);
    cpuid_put(c, 0xD, 7, 0x400, 0x680, 0, 0);
    cpuid_put(c, 0xD, 8, 0x80, 0, 1, 0);              /* supervisor (XSS) states: ECX[0] */
    cpuid_put(c, 0xD, 9, 0x8, 0xA80, 0, 0);
    cpuid_put(c, 0xD, 11, 0x10, 0, 1, 0);
    cpuid_put(c, 0xD, 12, 0x18, 0, 1, 0);
    cpuid_put(c, 0xD, 15, 0x328, 0, 1, 0);
    cpuid_put(c, 0x80000000u, 0, 0x80000008u, 0, 0, 0);
    cpuid_put(c, 0x80000001u, 0, 0, 0, 0x121u, 0x2C100800u); /* LAHF LZCNT PREFETCHW */
    cpuid_brand(c, "Intel(R) Xeon(R) Platinum 8480+");
    cpuid_put(c, 0x80000008u, 0, (MOCK_LINEAR_5LEVEL << 8) | MOCK_MAXPHYADDR, 0, 0, 0);
}

/* Bochs's tigerlake: the modern leaves of the Sapphire Rapids table, with
 * the leaves the e2e guest read in their place. */
static void build_cpuid_bochs_tigerlake(struct hv_mock_cpu *c, uint32_t ncpus)
{
    build_cpuid_sapphire_rapids(c, ncpus);
    cpuid_put(c, 0x1, 0, 0x000806C1u,                 /* family 6 model 0x8C */
              (c->index << 24) | ((ncpus & 0xFFu) << 16) | 0x0800u, 0x7FFAFBBFu, 0xBFEBFBFFu);
    /* Measured CPUID.7.0: no RTM/HLE, no WAITPKG, PKS or LA57; CET_SS
     * (ECX[7]) and CET_IBT (EDX[20]). */
    cpuid_put(c, 0x7, 0, 0, 0xF1BF27EBu, 0x00405FCEu, 0xFC100510u);
    cpuid_put(c, 0xA, 0, 0x08300805u, 0, 0xF, 0x8604u); /* perfmon v5, measured */
    cpuid_brand(c, "11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz");
    cpuid_put(c, 0x80000008u, 0, (MOCK_LINEAR_4LEVEL << 8) | MOCK_MAXPHYADDR, 0, 0, 0);
}

static void build_cpuid(struct hv_mock_cpu *c, const struct profile *p, uint32_t ncpus)
{
    switch (p->model) {
    case MODEL_SAPPHIRE_RAPIDS:
        build_cpuid_sapphire_rapids(c, ncpus);
        break;
    case MODEL_BOCHS_TIGERLAKE:
        build_cpuid_bochs_tigerlake(c, ncpus);
        break;
    case MODEL_HASWELL:
    case MODEL_SKYLAKE:
    default:
        build_cpuid_haswell_skylake(c, p, ncpus);
        break;
    }
}

/* ========================================================================
 * MSR file of a profile
 * ======================================================================== */

static void build_vmx_msrs(struct hv_mock_cpu *c, const struct profile *p)
{
    const struct vmx_caps_tab *k = p->caps;
    uint32_t proc1 = (uint32_t)(k->proc >> 32), proc2 = (uint32_t)(k->proc2 >> 32);

    (void)msr_add(c, HV_MSR_IA32_VMX_BASIC,
                  p->true_ctls ? k->basic : (k->basic & ~HV_VMX_BASIC_TRUE_CTLS), true);
    (void)msr_add(c, HV_MSR_IA32_VMX_PINBASED_CTLS, k->pin, true);
    (void)msr_add(c, HV_MSR_IA32_VMX_PROCBASED_CTLS, k->proc, true);
    (void)msr_add(c, HV_MSR_IA32_VMX_EXIT_CTLS, k->exit, true);
    (void)msr_add(c, HV_MSR_IA32_VMX_ENTRY_CTLS, k->entry, true);
    (void)msr_add(c, HV_MSR_IA32_VMX_MISC, k->misc, true);
    (void)msr_add(c, HV_MSR_IA32_VMX_CR0_FIXED0, k->cr0_fixed0, true);
    (void)msr_add(c, HV_MSR_IA32_VMX_CR0_FIXED1, k->cr0_fixed1, true);
    (void)msr_add(c, HV_MSR_IA32_VMX_CR4_FIXED0, k->cr4_fixed0, true);
    (void)msr_add(c, HV_MSR_IA32_VMX_CR4_FIXED1, k->cr4_fixed1, true);
    (void)msr_add(c, HV_MSR_IA32_VMX_VMCS_ENUM, k->vmcs_enum, true);
    if (proc1 & HV_PROC_ACTIVATE_SECONDARY)
        (void)msr_add(c, HV_MSR_IA32_VMX_PROCBASED_CTLS2, k->proc2, true);
    if (proc2 & (HV_PROC2_ENABLE_EPT | HV_PROC2_ENABLE_VPID))
        (void)msr_add(c, HV_MSR_IA32_VMX_EPT_VPID_CAP, k->ept_vpid, true);
    if (p->true_ctls) {
        (void)msr_add(c, HV_MSR_IA32_VMX_TRUE_PINBASED_CTLS, k->true_pin, true);
        (void)msr_add(c, HV_MSR_IA32_VMX_TRUE_PROCBASED_CTLS, k->true_proc, true);
        (void)msr_add(c, HV_MSR_IA32_VMX_TRUE_EXIT_CTLS, k->true_exit, true);
        (void)msr_add(c, HV_MSR_IA32_VMX_TRUE_ENTRY_CTLS, k->true_entry, true);
    }
    if (proc2 & HV_PROC2_ENABLE_VMFUNC)
        (void)msr_add(c, HV_MSR_IA32_VMX_VMFUNC, k->vmfunc, true);
    if (proc1 & HV_PROC_ACTIVATE_TERTIARY)
        (void)msr_add(c, HV_MSR_IA32_VMX_PROCBASED_CTLS3, k->proc3, true);
}

static void build_msrs(struct hv_mock_cpu *c, const struct profile *p)
{
    bool skylake = p->model == MODEL_SKYLAKE, spr = p->model == MODEL_SAPPHIRE_RAPIDS;
    bool tgl = p->model == MODEL_BOCHS_TIGERLAKE;
    uint64_t i = c->index;
    struct hv_mock_msr *m;

    (void)msr_add(c, 0x1B, 0xFEE00800ull | (i == 0 ? 0x100ull : 0), false);  /* APIC_BASE (+BSP) */
    (void)msr_add(c, HV_MSR_IA32_FEATURE_CONTROL, p->feature_control, false);
    /* IA32_SMBASE exists but is readable only in SMM (SDM Vol. 4). */
    m = msr_add(c, HV_MSR_IA32_SMBASE, 0x30000, false);
    if (m != NULL)
        m->gp_on_read = m->gp_on_write = true;
    (void)msr_add(c, 0xFE, 0xD0A, true);                                     /* MTRRCAP */
    (void)msr_add(c, HV_MSR_IA32_SYSENTER_CS, 0x10, false);
    (void)msr_add(c, HV_MSR_IA32_SYSENTER_ESP, 0xFFFFFE0000003000ull + i * 0x3B000ull, false);
    (void)msr_add(c, HV_MSR_IA32_SYSENTER_EIP, 0xFFFFFFFF81C01590ull, false);
    /* MCG_CAP: banks, CMCI, threshold status; SPR adds SER, EMC, ELOG, LMCE (27). */
    (void)msr_add(c, 0x179, spr ? 0x0F000C14ull : 0xC09ull, true);
    (void)msr_add(c, 0x1A0, 0x850089, false);                                /* MISC_ENABLE */
    (void)msr_add(c, HV_MSR_IA32_DEBUGCTL, 0, false);
    (void)msr_add(c, HV_MSR_IA32_PAT, 0x0007040600070406ull, false);
    (void)msr_add(c, 0x2FF, 0xC06, false);                                   /* MTRR_DEF_TYPE */
    /* PERF_CAPABILITIES; SPR: arch LBR format, PEBS v4, full-width writes,
     * PERF_METRICS (15), PEBS to PT. */
    (void)msr_add(c, 0x345, spr ? 0x1F4FFull : tgl ? 0 : skylake ? 0x33C3 : 0x31C3, true); /* Bochs: reads 0 */
    (void)msr_add(c, 0x38D, 0, false);                                       /* FIXED_CTR_CTRL */
    /* What Linux leaves enabled: every GP and fixed counter (+ PERF_METRICS). */
    (void)msr_add(c, HV_MSR_IA32_PERF_GLOBAL_CTRL,
                  spr ? 0x0001000F000000FFull : tgl ? 0x0000000F000000FFull : 0x000000070000000Full, false);
    (void)msr_add(c, 0x6E0, 0, false);                                       /* TSC_DEADLINE */

    if (p->caps != NULL)
        build_vmx_msrs(c, p);
    if (skylake || spr)
        (void)msr_add(c, HV_MSR_IA32_RTIT_CTL, 0, false);                    /* Intel PT */
    if (skylake) {
        (void)msr_add(c, HV_MSR_IA32_BNDCFGS, 0, false);                     /* MPX */
        (void)msr_add(c, 0xDA0, 0, false);                                   /* IA32_XSS */
    }
    if (spr) {
        (void)msr_add(c, 0xDA0, 0, false);                                   /* IA32_XSS */
        (void)msr_add(c, 0xE1, 0x2FFFF, false);                              /* UMWAIT_CONTROL */
        (void)msr_add(c, 0x329, 0, false);                                   /* PERF_METRICS */
        (void)msr_add(c, 0x6A0, 0, false);                                   /* U_CET */
        /* Linux with kernel IBT: ENDBR_EN only, no supervisor shadow stack. */
        (void)msr_add(c, HV_MSR_IA32_S_CET, 0x4, false);
        (void)msr_add(c, 0x6A4, 0, false);                                   /* PL0_SSP */
        (void)msr_add(c, HV_MSR_IA32_INTERRUPT_SSP_TABLE_ADDR, 0, false);
        (void)msr_add(c, HV_MSR_IA32_PKRS, 0x55555554u, false);              /* Linux's PKS default */
    }
    if (tgl) {
        (void)msr_add(c, 0xDA0, 0, false);                                   /* IA32_XSS */
        (void)msr_add(c, 0x6A0, 0, false);                                   /* U_CET */
        (void)msr_add(c, HV_MSR_IA32_S_CET, 0, false);                       /* Debian 6.1: no kernel IBT */
        (void)msr_add(c, 0x6A4, 0, false);                                   /* PL0_SSP */
        (void)msr_add(c, HV_MSR_IA32_INTERRUPT_SSP_TABLE_ADDR, 0, false);
    }
    /* Haswell and Skylake have no CET or PKS: S_CET, the SSP table and PKRS #GP there. */

    (void)msr_add(c, HV_MSR_IA32_EFER, HV_EFER_SCE | HV_EFER_LME | HV_EFER_LMA | HV_EFER_NXE, false);
    (void)msr_add(c, HV_MSR_IA32_STAR, 0x0023001000000000ull, false);
    (void)msr_add(c, HV_MSR_IA32_LSTAR, 0xFFFFFFFF81C00080ull, false);
    (void)msr_add(c, 0xC0000083u, 0xFFFFFFFF81C01540ull, false);             /* CSTAR */
    (void)msr_add(c, 0xC0000084u, 0x47700, false);                           /* FMASK */
    (void)msr_add(c, HV_MSR_IA32_FS_BASE, 0x00007F3A5C000740ull + i * 0x100000ull, false);
    (void)msr_add(c, HV_MSR_IA32_GS_BASE, 0xFFFF88803FC00000ull + i * 0x40000ull, false);
    (void)msr_add(c, HV_MSR_IA32_KERNEL_GS_BASE, 0, false);
    (void)msr_add(c, 0xC0000103u, i, false);                                 /* TSC_AUX */
}

/* ========================================================================
 * Registers and descriptor tables
 * ======================================================================== */

/* A code/data/system segment descriptor (SDM Vol. 3A, 3.4.5). */
static uint64_t seg_desc(uint32_t base, uint32_t limit, uint32_t type, uint32_t s,
                         uint32_t dpl, uint32_t l, uint32_t db, uint32_t g)
{
    return (uint64_t)(limit & 0xFFFFu) |
           ((uint64_t)(base & 0xFFFFFFu) << 16) |
           ((uint64_t)(type & 0xFu) << 40) |
           ((uint64_t)(s & 1u) << 44) |
           ((uint64_t)(dpl & 3u) << 45) |
           (1ull << 47) |                                  /* P */
           ((uint64_t)((limit >> 16) & 0xFu) << 48) |
           ((uint64_t)(l & 1u) << 53) |
           ((uint64_t)(db & 1u) << 54) |
           ((uint64_t)(g & 1u) << 55) |
           ((uint64_t)(base >> 24) << 56);
}

/* Target of the fake IDT's gates; a fake CPU never delivers interrupts. */
static void mock_interrupt_handler(void)
{
    hv_mocki_fail("the fake IDT's interrupt handler was called");
}

static void build_registers(struct hv_mock_cpu *c, const struct profile *p)
{
    uint64_t tss = (uint64_t)(uintptr_t)c->tss;
    uint64_t isr = (uint64_t)(uintptr_t)mock_interrupt_handler;
    uint32_t v;

    c->cr[0] = 0x80050033ull;                     /* PE MP ET NE WP AM PG */
    c->cr[2] = 0;
    c->cr[3] = 0x0000000001A0A000ull + (uint64_t)c->index * 0x2000ull;
    /* PSE PAE MCE PGE OSFXSR OSXMMEXCPT OSXSAVE SMEP SMAP; on Sapphire
     * Rapids also UMIP, PKE and CET (Linux with kernel IBT), 4-level paging. */
    c->cr[4] = 0x003406F0ull | (p->in_use ? HV_CR4_VMXE : 0) |
               (p->model == MODEL_SAPPHIRE_RAPIDS ? (1ull << 11) | (1ull << 22) | (1ull << 23) : 0) |
               (p->model == MODEL_BOCHS_TIGERLAKE ? (1ull << 11) : 0); /* UMIP; the e2e kernel clears PKU */
    c->cr[8] = 0;
    c->dr[6] = 0xFFFF0FF0ull;
    c->dr[7] = 0x400ull;
    c->rflags = 0x246ull;                          /* IF ZF PF, bit 1 */
    /* x87 SSE AVX; Sapphire Rapids adds AVX-512 (5-7) and PKRU (9). */
    c->xcr0 = p->model == MODEL_SAPPHIRE_RAPIDS ? 0x2E7 : p->model == MODEL_BOCHS_TIGERLAKE ? 0xE7 : 0x7;

    c->sel[HV_SEG_CS] = 0x10;
    c->sel[HV_SEG_SS] = 0x18;
    c->sel[HV_SEG_TR] = 0x40;

    /* Linux x86-64 layout: 1 = 32-bit kernel CS, 2 (0x10) = kernel CS,
     * 3 (0x18) = kernel DS, 4/5/6 = user CS32/DS/CS, 8-9 (0x40) = TSS. */
    c->gdt[1] = seg_desc(0, 0xFFFFF, 0xB, 1, 0, 0, 1, 1);
    c->gdt[2] = seg_desc(0, 0xFFFFF, 0xB, 1, 0, 1, 0, 1);
    c->gdt[3] = seg_desc(0, 0xFFFFF, 0x3, 1, 0, 0, 1, 1);
    c->gdt[4] = seg_desc(0, 0xFFFFF, 0xB, 1, 3, 0, 1, 1);
    c->gdt[5] = seg_desc(0, 0xFFFFF, 0x3, 1, 3, 0, 1, 1);
    c->gdt[6] = seg_desc(0, 0xFFFFF, 0xB, 1, 3, 1, 0, 1);
    c->gdt[8] = seg_desc((uint32_t)tss, 0x67, 0xB, 0, 0, 0, 0, 0);  /* busy 64-bit TSS */
    c->gdt[9] = tss >> 32;
    c->gdtr.base = (uint64_t)(uintptr_t)c->gdt;
    c->gdtr.limit = (uint16_t)(HV_MOCK_GDT_ENTRIES * 8u - 1u);

    /* TSS: no I/O permission bitmap (I/O map base = limit + 1). */
    c->tss[102] = 0x68;
    c->tss[103] = 0x00;

    /* 32 interrupt gates (type 0xE, present, CS 0x10). The limit is the
     * one a real 256-vector IDT has (0xFFF), as the brief specifies; only
     * the first 32 gates are backed by cpu->idt[]. */
    for (v = 0; v < 32; v++) {
        c->idt[2 * v] = (isr & 0xFFFFull) | (0x10ull << 16) | (0xEull << 40) | (1ull << 47) |
                        (((isr >> 16) & 0xFFFFull) << 48);
        c->idt[2 * v + 1] = isr >> 32;
    }
    c->idtr.base = (uint64_t)(uintptr_t)c->idt;
    c->idtr.limit = 0xFFF;

    c->pid = 1000u + c->index;
    c->vmxon_pa = 0;
    c->current_vmcs_pa = ~0ull;
}

/* ========================================================================
 * Init / fini
 * ======================================================================== */

hv_status_t hv_mock_init(uint32_t ncpus, enum hv_mock_profile profile)
{
    const struct profile *p;
    uint32_t i;

    if (ncpus == 0 || ncpus > HV_MOCK_MAX_CPUS || (unsigned)profile >= HV_MOCK_PROFILE_COUNT)
        return HV_STATUS_INVALID_PARAMETER;
    hv_mock_fini();

    g_cpus = calloc(ncpus, sizeof(*g_cpus));
    g_priv = calloc(ncpus, sizeof(*g_priv));
    if (g_cpus == NULL || g_priv == NULL) {
        hv_mock_fini();
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    g_ncpus = ncpus;
    g_gen++;
    p = &k_profiles[profile];

    pthread_mutex_lock(&g_fail_lock);
    g_last_failure[0] = '\0';
    pthread_mutex_unlock(&g_fail_lock);
    atomic_store(&g_fail_count, 0u);
    memset(g_foreign_vmxon, 0, sizeof(g_foreign_vmxon));

    for (i = 0; i < ncpus; i++) {
        struct hv_mock_cpu *c = &g_cpus[i];

        c->index = i;
        c->profile = profile;
        build_registers(c, p);
        build_cpuid(c, p, ncpus);
        build_msrs(c, p);
    }
    hv_mocki_os_reset();
    hv_mocki_gmem_reset();
    hv_mocki_nmi_reset();
    hv_mock_uart_detach();

    if (p->in_use) {
        /* Another hypervisor did VMXON on every core and has a VMCS
         * current, so VMXON fails with VMfailValid(15). */
        uint32_t rev = HV_VMX_BASIC_REVISION(p->caps->basic);

        for (i = 0; i < ncpus; i++) {
            struct hv_mock_cpu *c = &g_cpus[i];
            uint32_t *on = hv_mocki_page_new();
            void *vmcs = hv_mocki_page_new();

            if (on == NULL || vmcs == NULL) {
                hv_mock_fini();
                return HV_STATUS_INSUFFICIENT_RESOURCES;
            }
            *on = rev;
            c->vmx_operation = true;
            c->vmxon_pa = (uint64_t)(uintptr_t)on;
            g_foreign_vmxon[i] = c->vmxon_pa;
            hv_mocki_vmcs_init_region((uint64_t)(uintptr_t)vmcs, rev, true);
            c->current_vmcs_pa = (uint64_t)(uintptr_t)vmcs;
            hv_mocki_caps_freeze(c);
        }
    }
    tl_cpu = 0;
    tl_gen = g_gen;
    return HV_STATUS_SUCCESS;
}

void hv_mock_fini(void)
{
    hv_mocki_vmcs_fini();
    hv_mocki_os_fini();
    hv_mocki_gmem_reset();
    free(g_cpus);
    free(g_priv);
    g_cpus = NULL;
    g_priv = NULL;
    g_ncpus = 0;
    memset(g_foreign_vmxon, 0, sizeof(g_foreign_vmxon));
    g_gen++;
    tl_cpu = UINT32_MAX;
}

/* ---- Replay (replay.c): the recorded CPU answers, whatever the freeze ---- */

void hv_mocki_replay_cpuid(struct hv_mock_cpu *cpu, uint32_t leaf, uint32_t subleaf, const struct hv_cpuid_regs *r)
{
    cpuid_put(cpu, leaf, leaf_has_subleaves(leaf) ? subleaf : 0, r->eax, r->ebx, r->ecx, r->edx);
}

void hv_mocki_replay_msr(struct hv_mock_cpu *cpu, uint32_t msr, uint64_t value, bool gp_read, bool gp_write)
{
    struct hv_mock_msr *m = msr_add(cpu, msr, value, false);

    if (m == NULL)
        return;
    m->read_only = false;
    m->gp_on_read = gp_read;
    m->gp_on_write = gp_write;
}

void hv_mock_get_failure_handler(hv_mock_failure_fn *fn, void **ctx)
{
    pthread_mutex_lock(&g_fail_lock);
    *fn = g_fail_fn;
    *ctx = g_fail_ctx;
    pthread_mutex_unlock(&g_fail_lock);
}
