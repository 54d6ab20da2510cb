/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — the mock architecture backend, for unit-testing the
 * core and your own VM-exit handlers in userspace, without VT-x.
 *
 * It provides, in memory:
 *   - N fake CPUs with a capability profile (CPUID, VMX capability MSRs,
 *     FEATURE_CONTROL), a per-core MSR file in which chosen MSRs raise #GP,
 *     CR0/2/3/4/8, DR0-7, RFLAGS, selectors, a GDT/IDT/TSS, XCR0;
 *   - VMX instruction semantics (VMXON/VMXOFF/VMCLEAR/VMPTRLD/VMLAUNCH with
 *     the SDM's main checks) and an in-memory VMCS that fails the test when
 *     a never-written field is read or a field is accessed with the wrong
 *     width;
 *   - a fake OS vtable whose allocations and cross-core calls can be made
 *     to fail on the Nth call, and which counts outstanding allocations.
 *
 * The "current CPU" of the arch seam is the fake CPU bound to the calling
 * thread (hv_mock_cpu_bind); run_on_cpu/run_on_each_cpu bind it for you.
 * Several threads may each be bound to a different fake CPU at once.
 *
 * Composing a CPU: hv_mock_init() builds every CPU from a profile; until a
 * CPU's first VMXON (hv_start(), hv_vmx_on(), hv_mock_vmcs_make_current())
 * a test may change its CPUID leaves (hv_mock_cpuid_set/_update), its
 * capability MSRs (hv_mock_msr_set, hv_mock_vmx_ctls_allow) and anything
 * else. At that first VMXON the CPU's capabilities freeze, as a real CPU's
 * are fixed for the VMM that read them, and its VMCS field set is derived
 * from its capability MSRs (a field exists only if its feature may be
 * enabled, SDM Vol. 3D, Appendix B). A capability change after that is
 * reported as a failure (see "Failure reporting") and not applied:
 *
 *     hv_mock_init(2, HV_MOCK_PROFILE_SKYLAKE);
 *     hv_mock_vmx_ctls_allow(HV_MOCK_ALL_CPUS, HV_MOCK_CTLS_ENTRY,
 *                            HV_ENTRY_CTL_LOAD_CET_STATE, 0);
 *     hv_mock_vmx_ctls_allow(HV_MOCK_ALL_CPUS, HV_MOCK_CTLS_EXIT,
 *                            HV_EXIT_CTL_LOAD_CET_STATE, 0);
 *     hv_mock_cpuid_update(HV_MOCK_ALL_CPUS, 7, 0, HV_MOCK_EDX, 1u << 20, 0);  (CET_IBT)
 *     hv_mock_msr_set(HV_MOCK_ALL_CPUS, HV_MSR_IA32_S_CET, 0);
 *     ... hv_start(): the CET guest-state fields now exist.
 *
 * "Capability" means CPUID, the VMX capability MSRs 0x480-0x493, MTRRCAP,
 * ARCH_CAPABILITIES, MCG_CAP, PERF_CAPABILITIES and any MSR the profile
 * made read-only. Registers, FEATURE_CONTROL and ordinary MSRs may change
 * at any time. Writing struct hv_mock_cpu's msrs[]/cpuid[] directly
 * bypasses the check: don't.
 *
 * Admin calls need guest CPL 0. Everything that reaches VMX root from the
 * running guest does so by VMCALL (hv_msr_read/write on virtualized cores,
 * hv_stop, event changes applied per core), and the VMCALL handler, like a
 * CPU without a hypervisor, answers a VMCALL from CPL > 0 with #UD and
 * runs nothing. The guest's CPL is GUEST_SS_AR_BYTES.DPL: a test that sets
 * it to 3 to check a CPL rule must set it back to 0 before such calls.
 */
#ifndef HVCORE_TESTING_MOCK_H
#define HVCORE_TESTING_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../arch.h"
#include "../hv.h"
#include "../os.h"
#include "../status.h"
#include "../vmcs.h"
#include "../vmcs_diagnose.h"
#include "../vmx.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HV_MOCK_MAX_CPUS      256u
#define HV_MOCK_MAX_MSRS      96u
#define HV_MOCK_MAX_CPUID     48u
#define HV_MOCK_GDT_ENTRIES   16u
#define HV_MOCK_ALL_CPUS      0xFFFFFFFFu

/* Profiles: the starting point of a fake CPU (see "Composing a CPU"). The
 * exact values are in testing/mock_machine.c (k_caps_* and build_*). All
 * report MAXPHYADDR 48 (the fake OS maps pa == va on a 47-bit heap). */
enum hv_mock_profile {
    /* Like Bochs' corei7_haswell_4770: TRUE controls, secondary controls,
     * EPT, VPID, unrestricted guest, RDTSCP, INVPCID, RTM, no XSAVES;
     * 48-bit linear addresses; no CPUID leaf 0xA (reads as zeros: no
     * architectural perfmon, so the core treats PERF_GLOBAL_CTRL as
     * absent); FEATURE_CONTROL = 0x5 (locked, VMX outside SMX on). */
    HV_MOCK_PROFILE_HASWELL = 0,
    /* Skylake-like: as Haswell plus XSAVES (CPUID.(0xD,1):EAX[3] and the
     * secondary control), PML, SMX, MPX (load BNDCFGS), the RTIT_CTL
     * controls (but PT not in CPUID); FEATURE_CONTROL = 0 (unlocked). */
    HV_MOCK_PROFILE_SKYLAKE,
    /* CPUID.1:ECX.VMX = 0; the VMX MSRs raise #GP. */
    HV_MOCK_PROFILE_NO_VMX,
    /* FEATURE_CONTROL = 0x1: locked with VMX off (firmware disabled it). */
    HV_MOCK_PROFILE_VMX_LOCKED_OFF,
    /* Another hypervisor owns VMX: CR4.VMXE already set and VMXON fails
     * (VMfailValid 15, "VMXON executed in VMX root operation"). */
    HV_MOCK_PROFILE_VMX_IN_USE,
    /* Older CPU: IA32_VMX_BASIC[55] = 0, so CR3-load/store exiting are
     * default-1 in the plain PROCBASED_CTLS (no TRUE MSRs). */
    HV_MOCK_PROFILE_NO_TRUE_CTLS,
    /* Ice Lake server / Sapphire Rapids class (family 6 model 0x8F):
     *  - WAITPKG (CPUID.(7,0):ECX[5]) and "enable user wait and pause";
     *  - XSAVES with supervisor states PT, CET_U, CET_S, arch LBR in XSS;
     *  - CET: CET_SS and CET_IBT, the load-CET-state entry/exit controls,
     *    S_CET = ENDBR_EN (Linux kernel IBT), CR4.CET set; cpu->ssp is the
     *    shadow-stack pointer exits save into GUEST_SSP;
     *  - PKS: CPUID.(7,0):ECX[31], load PKRS entry/exit controls, PKRS;
     *  - LA57: CPUID.(7,0):ECX[16], CPUID.80000008H:EAX[15:8] = 57, so
     *    canonical means 57-bit for MSRs and VMCS bases even though the
     *    fake CR4.LA57 is 0 (4-level paging, as Linux boots by default);
     *  - perfmon v5: 8 GP counters, fixed counters 0-3 (CPUID.0xA:EDX[4:0]
     *    = 4 and ECX = 0xF), PERF_CAPABILITIES[15] (PERF_METRICS);
     *    PERF_GLOBAL_CTRL = 0x0001000F000000FF;
     *  - RTM, AVX-512, PKU; no MPX (no BNDCFGS), no SGX;
     *  - posted interrupts, tertiary controls, VMCS shadowing, 5-level EPT,
     *    IA32_VMX_MISC[29] (VMWRITE to exit-information fields succeeds);
     *  - FEATURE_CONTROL = 0x5, MCG_CAP with LMCE. */
    HV_MOCK_PROFILE_SAPPHIRE_RAPIDS,
    /* Haswell without EPT, VPID, unrestricted guest and VMFUNC (as some
     * nested hypervisors present VT-x): IA32_VMX_EPT_VPID_CAP and
     * IA32_VMX_VMFUNC do not exist, nor do the EPT/VPID VMCS fields. */
    HV_MOCK_PROFILE_NO_EPT_VPID,
    /* Bochs's `tigerlake` model, the second CPU of the e2e suite, as
     * measured there (test/e2e/MODELS.md): VMCS revision 4, the VMX
     * capability MSRs 0x480-0x491 read in the guest, CPUID.7.0 as read
     * (XSAVES, CET SHSTK/IBT with load-CET-state, AVX-512, FSRM, UMIP; no
     * WAITPKG, PKS, LA57, RTM), perfmon v5 without PERF_METRICS
     * (IA32_PERF_CAPABILITIES reads 0), FEATURE_CONTROL 0x5. What runs on
     * the emulated machine can be reproduced here without Bochs. */
    HV_MOCK_PROFILE_BOCHS_TIGERLAKE,
    HV_MOCK_PROFILE_COUNT
};

struct hv_mock_msr {
    uint32_t index;
    uint64_t value;
    bool gp_on_read;
    bool gp_on_write;
    bool read_only;            /* a write raises #GP (capability MSRs) */
    uint32_t reads, writes;    /* successful accesses */
};

struct hv_mock_cpuid {
    uint32_t leaf, subleaf;
    struct hv_cpuid_regs regs;
};

/* VMX instructions that fault injection can make fail. */
enum hv_mock_vmx_op {
    HV_MOCK_OP_VMXON = 0, HV_MOCK_OP_VMXOFF, HV_MOCK_OP_VMCLEAR, HV_MOCK_OP_VMPTRLD,
    HV_MOCK_OP_VMLAUNCH, HV_MOCK_OP_VMREAD, HV_MOCK_OP_VMWRITE, HV_MOCK_OP_COUNT
};

struct hv_mock_cpu {
    uint32_t index;
    enum hv_mock_profile profile;

    /* Architectural registers (tests may read and set them directly). */
    uint64_t cr[9];            /* cr[0], cr[2], cr[3], cr[4], cr[8] used */
    uint64_t dr[8];
    uint64_t rflags;
    uint64_t xcr0;
    uint16_t sel[HV_SEG_COUNT];
    struct hv_dtr gdtr, idtr;
    uint64_t gdt[HV_MOCK_GDT_ENTRIES];   /* gdtr.base points here */
    uint64_t idt[2 * 256];               /* idtr.base points here */
    uint8_t tss[104];                    /* TR's descriptor points here */
    uint64_t pid;                        /* what os->current_pid returns */

    struct hv_mock_msr msrs[HV_MOCK_MAX_MSRS];
    uint32_t msr_count;
    struct hv_mock_cpuid cpuid[HV_MOCK_MAX_CPUID];
    uint32_t cpuid_count;

    /* VMX state. */
    bool vmx_operation;        /* between VMXON and VMXOFF */
    bool in_guest;             /* launched and running as the guest */
    uint64_t vmxon_pa;
    uint64_t current_vmcs_pa;  /* ~0ull when none */
    /* Fault injection: each call of op decrements fail_at[op] when
     * nonzero; the call that brings it to 0 fails with fail_status[op]
     * (SUCCESS there means VMX_FAIL_INVALID). 1 = the next call; 0 = never. */
    uint32_t op_calls[HV_MOCK_OP_COUNT];
    uint32_t fail_at[HV_MOCK_OP_COUNT];
    hv_status_t fail_status[HV_MOCK_OP_COUNT];

    /* Counters for benchmarks and assertions. */
    uint64_t vmcs_reads, vmcs_writes;
    uint32_t wbinvd_count;
    uint32_t root_tlb_flushes;  /* hv_arch_flush_root_tlb calls */
    uint32_t platform_resets;   /* hv_arch_reset_platform calls (a real one does not return) */

    /* CET shadow-stack pointer. On a CPU with the load-CET-state control
     * each simulated exit saves it into GUEST_SSP and each entry with
     * that control on loads it back (SDM Vol. 3C, 28.3.3, 27.3.2.1); the
     * same holds for S_CET, INTERRUPT_SSP_TABLE_ADDR, PKRS, BNDCFGS and
     * RTIT_CTL in the MSR file. */
    uint64_t ssp;
};

/* ---- Machine ----------------------------------------------------------- */

/* Create `ncpus` fake CPUs (1..HV_MOCK_MAX_CPUS) with `profile`, reset the
 * fake OS and its fault injection. The calling thread is bound to CPU 0. */
hv_status_t hv_mock_init(uint32_t ncpus, enum hv_mock_profile profile);
/* Free all fake state. Safe to call twice. */
void hv_mock_fini(void);
uint32_t hv_mock_cpu_count(void);
struct hv_mock_cpu *hv_mock_cpu(uint32_t index);      /* NULL if out of range */
const char *hv_mock_profile_name(enum hv_mock_profile profile);

/* Bind the calling thread to fake CPU `index`; returns the previous
 * binding (UINT32_MAX if none). */
uint32_t hv_mock_cpu_bind(uint32_t index);
/* The fake CPU bound to the calling thread (NULL if none). */
struct hv_mock_cpu *hv_mock_cpu_current(void);
/* One activity per fake CPU at a time, as on hardware: run_on_cpu
 * callbacks and simulated VM exits hold this (recursive) lock. A test
 * thread acting as a CPU takes it around its own sequences. */
void hv_mock_cpu_lock(uint32_t cpu);
void hv_mock_cpu_unlock(uint32_t cpu);

/* ---- MSR file (cpu may be HV_MOCK_ALL_CPUS) ---------------------------- */
void hv_mock_msr_set(uint32_t cpu, uint32_t msr, uint64_t value);
/* Make reads and/or writes of `msr` raise #GP on `cpu`. */
void hv_mock_msr_set_gp(uint32_t cpu, uint32_t msr, bool on_read, bool on_write);
/* Remove `msr` entirely: any access raises #GP, as on real hardware for an
 * unimplemented MSR. */
void hv_mock_msr_remove(uint32_t cpu, uint32_t msr);
/* false if the MSR does not exist on that CPU. */
bool hv_mock_msr_get(uint32_t cpu, uint32_t msr, uint64_t *value);
struct hv_mock_msr *hv_mock_msr_find(uint32_t cpu, uint32_t msr);

/* ---- CPUID (cpu may be HV_MOCK_ALL_CPUS; capability: see the top) ---------
 * Leaves without subleaves ignore `subleaf`. A leaf the table lacks reads
 * as zeros. */
void hv_mock_cpuid_set(uint32_t cpu, uint32_t leaf, uint32_t subleaf,
                       const struct hv_cpuid_regs *regs);
enum hv_mock_reg { HV_MOCK_EAX = 0, HV_MOCK_EBX, HV_MOCK_ECX, HV_MOCK_EDX };
/* Set then clear bits of one register of a leaf (the leaf is created if
 * missing), e.g. LA57 off: hv_mock_cpuid_update(c, 7, 0, HV_MOCK_ECX, 0, 1u << 16). */
void hv_mock_cpuid_update(uint32_t cpu, uint32_t leaf, uint32_t subleaf, enum hv_mock_reg reg,
                          uint32_t set, uint32_t clear);
/* false (and zeros) if the leaf is not in `cpu`'s table. */
bool hv_mock_cpuid_get(uint32_t cpu, uint32_t leaf, uint32_t subleaf, struct hv_cpuid_regs *out);

/* ---- VMX capability MSRs -------------------------------------------------- */
enum hv_mock_ctls {
    HV_MOCK_CTLS_PIN = 0, HV_MOCK_CTLS_PROC, HV_MOCK_CTLS_PROC2, HV_MOCK_CTLS_EXIT, HV_MOCK_CTLS_ENTRY
};
/* Let the controls `allow` be 1 and make the controls `forbid` 0 (their
 * allowed-1 bits, SDM Vol. 3D, A.3-A.5), in the plain capability MSR and
 * its TRUE twin alike. Forbidding a default-1 control, or a control word
 * whose MSR the CPU lacks, is a reported failure. A capability change:
 * only before the CPU's first VMXON. */
void hv_mock_vmx_ctls_allow(uint32_t cpu, enum hv_mock_ctls ctls, uint32_t allow, uint32_t forbid);
/* true once `cpu`'s capabilities are frozen (its first VMXON happened). */
bool hv_mock_caps_frozen(uint32_t cpu);

/* ---- VMX fault injection ------------------------------------------------- */
/* Make the `nth` next call (1 = next) of `op` on `cpu` fail with `status`. */
void hv_mock_vmx_fail_at(uint32_t cpu, enum hv_mock_vmx_op op, uint32_t nth, hv_status_t status);

/* The VM-entry diagnosis environment of a fake CPU: its VMCS (unwritten
 * fields read as 0), capability MSRs and memory. The mock's VMLAUNCH decides
 * with hv_vmcs_diagnose() over exactly this; tests may call it too. `caps`
 * must outlive the env. */
struct hv_vmcs_diag_env;
void hv_mock_diag_env(struct hv_mock_cpu *cpu, struct hv_vmx_caps *caps, struct hv_vmcs_diag_env *env);

/* ---- In-memory VMCS ------------------------------------------------------- */
/* Make a fresh, zeroed VMCS current on the bound CPU without any bring-up
 * (for handler unit tests). The mock owns and frees it in hv_mock_fini. */
hv_status_t hv_mock_vmcs_make_current(void);
/* Seed a field of the bound CPU's current VMCS (any width, no counters). */
void hv_mock_vmcs_seed(uint32_t field, uint64_t value);
/* Read back a field without counting it; false if never written. */
bool hv_mock_vmcs_peek(uint32_t field, uint64_t *value);
/* The same on fake CPU `cpu`'s current VMCS, whatever the calling thread
 * is bound to (no re-binding); taken under that CPU's activity lock. No
 * current VMCS there is a reported failure. */
void hv_mock_vmcs_seed_on(uint32_t cpu, uint32_t field, uint64_t value);
bool hv_mock_vmcs_peek_on(uint32_t cpu, uint32_t field, uint64_t *value);
/* Forget every write to the current VMCS (fields become unwritten). */
void hv_mock_vmcs_clear_fields(void);

/* ---- VM-exit simulation ----------------------------------------------------
 * What the real exit stub does, on the mock: the bound CPU must be running
 * as the guest (after hv_start). The exit-information fields are seeded,
 * the valid bit of VM_ENTRY_INTR_INFO is cleared (as every VM exit does),
 * the vcpu is found through HOST_RSP's slot exactly as the stub finds it,
 * hv_exit_dispatch() runs, and the action is applied: DEVIRTUALIZE leaves
 * the guest (hv_arch_restore_guest_state), FATAL leaves the dump in
 * vcpu->dump. Set guest GPRs in vcpu->gprs before the call. */
struct hv_mock_exit {
    uint32_t reason;          /* full exit-reason field */
    uint64_t qualification;
    uint32_t instruction_len;
    uint32_t intr_info;       /* VM_EXIT_INTR_INFO */
    /* An exit during event delivery (SDM Vol. 3C, 28.2.4): the event that
     * was being delivered, and its error code; 0 = none, as on most exits. */
    uint32_t idt_vectoring_info;
    uint32_t idt_vectoring_error;
};
enum hv_exit_action hv_mock_exit(const struct hv_mock_exit *exit);
/* The vcpu the bound CPU's current VMCS belongs to (via HOST_RSP), or NULL. */
struct hv_vcpu *hv_mock_current_vcpu(void);
/* Guest-side VMCALL on the bound CPU (what hv_arch_vmcall does on the
 * mock): sets RAX/RCX/RDX/R8, exits with reason 18 and length 3. */
uint64_t hv_mock_guest_vmcall(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3);

/* ---- What the core recorded, per core ---------------------------------------
 * Read-only views for assertions, instead of reaching into struct hv_vcpu.
 * A core outside `hv` is a reported failure (and 0 / ""). */
/* Is fake CPU `cpu` running as the guest? */
bool hv_mock_cpu_in_guest(uint32_t cpu);
/* A FATAL exit stops the machine on hardware; on the mock the CPU just
 * stays in VMX root. Let it run as the guest again (so the test can go on
 * or hv_stop() can devirtualize it). A CPU without a launched VMCS current
 * is a reported failure. */
void hv_mock_cpu_resume_guest(uint32_t cpu);
/* Exits of basic reason `reason` on `core`; a reason beyond the table
 * gives the count of all such reasons. */
uint64_t hv_mock_exit_count(const struct hv *hv, uint32_t core, uint32_t reason);
/* The last fatal dump of `core` ("" if none), and forgetting it. */
const char *hv_mock_exit_dump(const struct hv *hv, uint32_t core);
void hv_mock_exit_dump_clear(struct hv *hv, uint32_t core);
/* The guest's virtual IA32_FEATURE_CONTROL on `core`, and setting it
 * (the core starts it as the real MSR after bring-up, i.e. locked; a test
 * of the guest's writes to an unlocked copy starts it unlocked). */
uint64_t hv_mock_feature_control_virtual(const struct hv *hv, uint32_t core);
void hv_mock_set_feature_control_virtual(struct hv *hv, uint32_t core, uint64_t value);
/* Users of MOV-DR exiting on `core` (the control is on while > 0). */
uint32_t hv_mock_movdr_refs(const struct hv *hv, uint32_t core);

/* ---- Failure reporting ----------------------------------------------------
 * A read of a never-written field, a width mismatch, a PRE-LAUNCH OS call
 * inside an exit, an OS panic, a capability changed after the CPU's first
 * VMXON: all are reported here. The default handler
 * prints the message to stderr and aborts; a cmocka test installs one that
 * calls fail_msg(), and a test that expects a failure installs a counter. */
typedef void (*hv_mock_failure_fn)(void *ctx, const char *msg);
void hv_mock_set_failure_handler(hv_mock_failure_fn fn, void *ctx);
/* The handler and context installed now (to put them back later). */
void hv_mock_get_failure_handler(hv_mock_failure_fn *fn, void **ctx);
uint32_t hv_mock_failure_count(void);
/* Report a failure through the installed handler (for mock extensions). */
void hv_mock_report_failure(const char *msg);
const char *hv_mock_last_failure(void);

/* ---- Fake OS --------------------------------------------------------------- */
const struct hv_os_ops *hv_mock_os(void);
/* The nth next allocation (alloc_pages or alloc_contiguous; 1 = next) returns
 * NULL. 0 disarms. */
void hv_mock_os_fail_alloc_at(uint32_t nth);
/* The nth next run_on_cpu / run_on_each_cpu call returns CPU_CALL_FAILED
 * without running anything. 0 disarms. */
void hv_mock_os_fail_cpu_call_at(uint32_t nth);
/* Allocations not yet freed, and totals. */
uint32_t hv_mock_os_outstanding_allocs(void);
uint32_t hv_mock_os_alloc_calls(void);
uint32_t hv_mock_os_cpu_calls(void);
/* Echo log lines to stdout as "[cpuN] level: msg" (off by default). */
void hv_mock_os_set_echo(bool on);
/* true if some logged line contains `needle`. */
bool hv_mock_os_log_contains(const char *needle);
void hv_mock_os_log_clear(void);
/* Number of notify() calls for `cpu`. */
uint32_t hv_mock_os_notify_count(uint32_t cpu);
/* Mark the bound CPU as executing a VM exit: PRE-LAUNCH OS members called
 * meanwhile are reported as failures. The exit simulator sets it. */
void hv_mock_os_set_in_exit(bool in_exit);

/* ---- Fake guest physical memory --------------------------------------------
 * Guest-physical pages backed on demand, for code that reads guest memory
 * (hv_guest_mem_read): the fake OS's phys_to_virt gives a backed page's
 * host copy, and the mock's hv_arch_read_safe/write_safe succeed only on a
 * backed page that is not marked faulting (or on fake-OS allocations);
 * anything else is ACCESS_VIOLATION, as the real backend reports a fault.
 * Reset by hv_mock_init/hv_mock_fini. Guest-physical addresses from
 * HV_MOCK_GMEM_TABLE_BASE up are handed out for paging structures; keep a
 * test's own pages below it. */
#define HV_MOCK_GMEM_PAGES       1024u
#define HV_MOCK_GMEM_TABLE_BASE  0x40000000ull
/* Back the 4 KiB guest-physical page holding `pa` (zeroed the first time);
 * its host copy, or NULL (a reported failure) when all pages are used. */
void *hv_mock_gmem_page(uint64_t pa);
/* Copy to/from guest-physical memory (write backs pages; read fails on an
 * unbacked one). */
bool hv_mock_gmem_write(uint64_t pa, const void *src, size_t len);
bool hv_mock_gmem_read(uint64_t pa, void *dst, size_t len);
bool hv_mock_gmem_write64(uint64_t pa, uint64_t value);
/* Make host accesses to the page holding `pa` fault (memory the OS does not
 * map, an MMIO hole), or stop doing so. */
void hv_mock_gmem_set_fault(uint64_t pa, bool fault);
/* A fresh zeroed page for a paging structure; its guest-physical address. */
uint64_t hv_mock_gmem_new_table(void);
/* Successful and faulting fault-safe accesses so far. */
uint64_t hv_mock_gmem_reads(void);
uint64_t hv_mock_gmem_faults(void);

/* ---- Port I/O, a fake 16550 UART, the TSC, NMIs -----------------------------
 * hv_arch_inb/outb reach a fake 16550 at `base` .. base+7 once attached
 * (other ports read 0xFF, writes vanish). What the target transmits is
 * queued for hv_mock_uart_host_read and, with a descriptor attached, written
 * to it (non-blocking; the caller sets O_NONBLOCK); what the host sends comes
 * from hv_mock_uart_host_write or is read from the descriptor whenever the
 * target polls LSR or RBR. Faults act per byte on the line. One UART per
 * process; thread-safe. hv_arch_rdtsc counts nanoseconds (CLOCK_MONOTONIC);
 * hv_arch_pause yields for a microsecond. */
struct hv_mock_uart_faults {
    uint32_t seed;                  /* PRNG seed of the faults (0 = 1) */
    uint32_t drop_rx_per_mille;     /* host -> target bytes lost */
    uint32_t drop_tx_per_mille;     /* target -> host bytes lost */
    uint32_t corrupt_rx_per_mille;  /* host -> target bytes with one bit flipped */
    uint32_t corrupt_tx_per_mille;  /* target -> host bytes with one bit flipped */
    bool silent;                    /* a dead line: nothing arrives, TX bytes vanish */
    bool tx_stuck;                  /* LSR.THRE never sets (a transmitter that takes nothing) */
};
struct hv_mock_uart_stats {
    uint64_t tx_bytes, rx_bytes;    /* bytes the target wrote to THR / read from RBR */
    uint64_t dropped, corrupted;    /* fault injection */
    uint64_t overruns;              /* bytes lost because a queue was full */
    uint64_t rx_cleared;            /* bytes dropped by FCR "clear receive FIFO" */
    uint64_t tx_overwritten;        /* THR writes while THRE was clear */
    uint64_t lsr_reads, port_reads, port_writes; /* accesses */
    bool host_closed;               /* the attached descriptor reached EOF */
    uint16_t divisor;               /* DLM:DLL */
    uint8_t lcr, fcr, ier, mcr;     /* as last written */
};
/* Attach (and reset) the UART at `base`; `fd` < 0: queues only. */
void hv_mock_uart_attach(uint16_t base, int fd);
void hv_mock_uart_detach(void);
/* NULL = no faults. */
void hv_mock_uart_set_faults(const struct hv_mock_uart_faults *faults);
/* Host side of the line without a descriptor: bytes accepted / bytes read. */
size_t hv_mock_uart_host_write(const void *buf, size_t len);
size_t hv_mock_uart_host_read(void *buf, size_t cap);
void hv_mock_uart_get_stats(struct hv_mock_uart_stats *out);
/* NMIs. A WRMSR to the x2APIC ICR (MSR 0x830, with IA32_APIC_BASE[10] set;
 * else #GP) with delivery mode NMI latches an NMI on the destination CPU
 * (destination field = CPU index; shorthands self / all / all-but-self).
 * Whatever drives a fake CPU as the guest takes it with hv_mock_cpu_take_nmi
 * and simulates the NMI exit. Several NMIs latched meanwhile are one (SDM
 * Vol. 3A, 6.7.1). hv_mock_cpu_post_nmi latches one that no CPU sent (a
 * watchdog, a device). Reset by hv_mock_init. */
void hv_mock_cpu_post_nmi(uint32_t cpu);
bool hv_mock_cpu_take_nmi(uint32_t cpu);
/* NMIs sent to `cpu` through the ICR so far. */
uint32_t hv_mock_cpu_nmis_sent(uint32_t cpu);

/* Paging modes of the guest's page tables (SDM Vol. 3A, 4.1.1). */
enum hv_mock_paging {
    HV_MOCK_PAGING_32 = 0,    /* CR4.PAE = 0: 2 levels of 4-byte entries */
    HV_MOCK_PAGING_PAE,       /* CR4.PAE = 1, EFER.LME = 0: PDPTEs + 2 levels */
    HV_MOCK_PAGING_4LEVEL,    /* IA-32e, CR4.LA57 = 0 */
    HV_MOCK_PAGING_5LEVEL,    /* IA-32e, CR4.LA57 = 1 */
};
/* Map guest linear `va` to guest-physical `pa` with a page of `size` (4 KiB;
 * 2 MiB in PAE/4/5-level; 4 MiB in 32-bit (PSE); 1 GiB in 4/5-level) in the
 * paging structures rooted at `root` (a table from hv_mock_gmem_new_table;
 * for PAE the 32-byte-aligned PDPT address). Missing tables are made
 * present/writable/user; the leaf gets `flags` | present (| PS for a large
 * page). INVALID_PARAMETER for a size the mode lacks. */
hv_status_t hv_mock_gmem_map(enum hv_mock_paging mode, uint64_t root, uint64_t va, uint64_t pa,
                             uint64_t size, uint64_t flags);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_TESTING_MOCK_H */
