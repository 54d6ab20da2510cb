/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor instance and its per-core state, and the bring-up API.
 *
 * Lifecycle (all PRE-LAUNCH):
 *   hv_create()      allocate the instance and every core's regions
 *   hv_start()       on each core in turn: read capabilities, VMXON,
 *                    VMCS setup, VMLAUNCH; a failure on core N undoes
 *                    cores N..0 and returns the status naming the core
 *   hv_stop()        devirtualize every core (highest first)
 *   hv_destroy()     free everything hv_create() allocated
 */
#ifndef HVCORE_HV_H
#define HVCORE_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "os.h"
#include "status.h"
#include "vmx.h"
#include "vmcs_diagnose.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Guest general-purpose registers in x86 encoding order, so the register
 * numbers of exit qualifications index r[] directly (DESIGN.md 3). */
enum hv_gpr {
    HV_GPR_RAX = 0, HV_GPR_RCX, HV_GPR_RDX, HV_GPR_RBX, HV_GPR_RSP,
    HV_GPR_RBP, HV_GPR_RSI, HV_GPR_RDI, HV_GPR_R8, HV_GPR_R9, HV_GPR_R10,
    HV_GPR_R11, HV_GPR_R12, HV_GPR_R13, HV_GPR_R14, HV_GPR_R15
};
/* The guest GPRs the exit stub saves (index: enum hv_gpr). */
struct hv_gprs {
    uint64_t r[16]; /* r[HV_GPR_RSP] is a placeholder: RSP lives in the VMCS */
};

/* VMX capabilities of one core, as read from CPUID and the VMX MSRs. */
struct hv_vmx_caps {
    uint64_t feature_control; /* IA32_FEATURE_CONTROL as found */
    uint64_t basic;        /* IA32_VMX_BASIC (SDM Vol. 3D, A.1) */
    uint32_t revision;     /* VMCS revision identifier (bits 30:0) */
    uint32_t region_size;  /* bytes of a VMXON/VMCS region */
    bool true_ctls;        /* IA32_VMX_BASIC[55] */
    /* Effective allowed-0 (low dword) / allowed-1 (high dword) settings:
     * the TRUE MSRs when true_ctls, else the plain ones (SDM Vol. 3D, A.2). */
    uint64_t pin, proc, exit, entry;
    uint64_t proc2;        /* 0 when "activate secondary controls" is not allowed-1 */
    uint64_t misc, ept_vpid, vmfunc; /* IA32_VMX_MISC, _EPT_VPID_CAP, _VMFUNC (0 if absent) */
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1; /* IA32_VMX_CR0/CR4_FIXED0/1 (SDM Vol. 3D, A.7-A.8) */
    /* Guest-visible CPU features that need a secondary control to keep
     * working once virtualized. */
    bool has_rdtscp, has_invpcid, has_xsaves;
    bool has_waitpkg;      /* CPUID.(7,0):ECX[5]: TPAUSE, UMONITOR, UMWAIT */
    /* RTM: DR7 bit 11 (RTM debugging) is writable and DR6 bit 16 is
     * active-low (SDM Vol. 3B, 18.2.4, 18.3.3). */
    bool has_rtm;
};

/* Controls chosen for a core's VMCS (after allowed-0/1 adjustment). */
struct hv_vmx_controls {
    uint32_t pin, proc, proc2, exit, entry; /* pin-based, primary/secondary processor-based, exit, entry */
};

/* What bring-up did on a core, so teardown undoes exactly that. */
enum hv_vcpu_step {
    HV_STEP_FEATURE_CONTROL_LOCKED = 1u << 0, /* we wrote and locked FEATURE_CONTROL */
    HV_STEP_CR0_FIXED              = 1u << 1, /* CR0 changed to satisfy FIXED0/1 */
    HV_STEP_CR4_VMXE_SET           = 1u << 2, /* we set CR4.VMXE (and other fixed bits) */
    HV_STEP_VMXON                  = 1u << 3, /* VMXON succeeded */
    HV_STEP_VMCS_CLEARED           = 1u << 4, /* VMCLEAR of the core's VMCS */
    HV_STEP_VMCS_LOADED            = 1u << 5, /* VMPTRLD: the VMCS is current */
    HV_STEP_VMCS_SETUP             = 1u << 6, /* hv_vmcs_setup wrote the VMCS */
    HV_STEP_LAUNCHED               = 1u << 7, /* VMLAUNCH succeeded: the core is virtualized */
};

struct hv_exit;
struct hv_trace;
struct hv_trace_core;

/* What a VM-exit handler asks the dispatcher to do next. */
enum hv_exit_action {
    HV_ACTION_RESUME = 0,       /* VMRESUME at the same RIP (after any injection) */
    HV_ACTION_SKIP = 1,         /* advance past the exiting instruction, then resume */
    HV_ACTION_FATAL = 2,        /* state dumped: the platform stops the machine */
    HV_ACTION_DEVIRTUALIZE = 3, /* leave VMX; the guest continues natively */
};
/* A VM-exit handler (hv_exit_set_handler). Context: ROOT-SAFE (it runs
 * inside the VM exit, on the exiting core). */
typedef enum hv_exit_action (*hv_exit_handler_fn)(struct hv_exit *exit);

/* Guest state the exit stub reloads into the real CPU when a core is
 * devirtualized (HV_ACTION_DEVIRTUALIZE), captured from the VMCS before
 * VMXOFF. A VM exit leaves GDTR/IDTR limits at 0xFFFF, TR's limit at 0x67
 * and DR7 at 0x400 (SDM Vol. 3C, 28.5), so all of these must be restored. */
struct hv_guest_resume {
    uint64_t rip, rsp, rflags;  /* where and how the guest continues */
    uint64_t cr0, cr3, cr4, dr7, debugctl; /* control and debug registers */
    uint64_t fs_base, gs_base;  /* segment bases (MSRs) */
    uint64_t gdtr_base, idtr_base; /* descriptor-table bases */
    uint16_t gdtr_limit, idtr_limit, tr_selector; /* limits saved at launch, TR to reload */
    uint16_t ldtr_selector;     /* a VM exit loads a null LDTR (SDM 28.5.2) */
    /* A VM exit loads the host's SYSENTER MSRs, and its PAT and EFER when
     * the exit controls say so (SDM 28.5.1); the guest's values, which the
     * MSR broadcast may have changed in the VMCS, are put back. */
    uint64_t sysenter_esp, sysenter_eip, pat, efer;
    uint32_t sysenter_cs;       /* guest IA32_SYSENTER_CS */
    bool restore_pat, restore_efer; /* whether pat/efer are to be written back */
};

/* Bytes of a core's fatal state dump (hv_vcpu.dump). */
#define HV_DUMP_SIZE 1024u

/* One core: its VMX regions, capabilities, controls and counters. */
struct hv_vcpu {
    /* First member: the exit stub stores guest GPRs at offset 0. */
    struct hv_gprs gprs;
    struct hv *hv;             /* the instance it belongs to */
    uint32_t index;            /* CPU index (0..cpu_count-1) */
    uint32_t steps;            /* enum hv_vcpu_step bits */
    hv_status_t status;        /* last bring-up/teardown status of this core */

    struct hv_vmx_caps caps;   /* what this core offers */
    struct hv_vmx_controls ctls; /* the controls in its VMCS */
    uint64_t cr0_before, cr4_before; /* as found, restored on teardown */

    void *vmxon_region;  /* VMXON region (SDM Vol. 3C, 25.11.5) */
    uint64_t vmxon_pa;   /* its physical address */
    void *vmcs_region;   /* the VMCS */
    uint64_t vmcs_pa;    /* its physical address */
    void *msr_bitmap;    /* MSR bitmap, 4 KiB (SDM Vol. 3C, 25.6.9) */
    uint64_t msr_bitmap_pa; /* its physical address */
    void *host_stack;    /* HV_HOST_STACK_SIZE bytes */
    void *host_idt;      /* one page: the IDT used in VMX root */

    /* The guest's IA32_FEATURE_CONTROL: a virtual copy, so the guest sees
     * what it wrote (and its lock) without touching the real, locked MSR. */
    uint64_t feature_control_virtual;

    /* Users of MOV-DR exiting on this core (event engine, SDK users);
     * the control is on while this is non-zero. */
    uint32_t movdr_refs;

    /* NMIs owed to the guest (arrived in VMX root, or exited with NMI
     * exiting), re-injected through NMI-window exits; at most 2. What is
     * still owed at devirtualization goes back through os->nmi_self. */
    volatile uint32_t pending_nmis;
    /* A machine check taken in VMX root, to deliver to the guest's OS. */
    volatile uint32_t pending_mce;
    /*
     * With VPID, VM transitions keep root's own translations (VPID 0) in
     * the TLB (SDM Vol. 3C, 29.4.3.1), and the OS's INVLPGs and CR3 writes
     * in the guest flush only the guest's VPID. Memory the OS recycles
     * (vmalloc'd stacks holding request buffers, result arrays, replaced
     * event snapshots, custom-code pages) could then be reached in root
     * through a stale translation. So root flushes its TLB before it
     * touches memory the OS handed it: every RUN_IN_ROOT request, and the
     * first exit that sees a new event snapshot (its generation here).
     * Exits that only use the VMCS and the vcpu pay nothing.
     */
    uint64_t root_tlb_gen;
    struct hv_guest_resume resume; /* state to reload at devirtualization */
    char dump[HV_DUMP_SIZE];    /* last fatal state dump (text) */
    /* VMLAUNCH is in progress on this core: an entry-failure exit now
     * returns VM_ENTRY_FAILED to the launcher instead of stopping. */
    bool launching;
    /* Why the last VM entry on this core failed (vmcs_diagnose.h), valid
     * once diag_valid; filled when VMLAUNCH/VMRESUME fails or an
     * entry-failure exit arrives, while the VMCS is still current. */
    bool diag_valid;
    struct hv_vmcs_diag diag;   /* the diagnosis (valid once diag_valid) */
    /* This core's exit recording (trace.h), NULL while none runs: the one
     * test the dispatcher makes for it. */
    struct hv_trace_core *trace;

    /* Per-core counters of exits by basic reason (index HV_EXIT_REASON_COUNT
     * counts reasons beyond the table). Written only by this core. */
    uint64_t exit_count[HV_EXIT_REASON_COUNT + 1];
    /* INIT left this core in wait-for-SIPI, ready to restart in real mode
     * (cfg.restart_on_sipi); the first SIPI clears it. */
    bool awaiting_sipi;
    uint32_t sipi_restarts;     /* SIPIs that restarted this core */
};

/* Bytes of each core's host stack (VMX root). */
#define HV_HOST_STACK_SIZE (6u * HV_PAGE_SIZE)
/* Bytes reserved at the top of each host stack: [0] = struct hv_vcpu *,
 * [1] = 0. HOST_RSP points at [0], so the exit stub finds its vcpu at
 * (%rsp) before it pushes anything, and the stack stays 16-byte aligned. */
#define HV_HOST_STACK_RESERVED 16u
/* Bytes of the CPUID 0x40000000 signature (hv_config.signature). */
#define HV_SIGNATURE_LEN 12u

/* Options of hv_create(); start from hv_config_init(). */
struct hv_config {
    uint32_t size;             /* sizeof(struct hv_config) */
    /* CPUID 0x40000000 vendor signature (EBX,ECX,EDX), 12 bytes, NUL-padded. */
    char signature[HV_SIGNATURE_LEN];
    /* Host CR3 for VM exits: a page-table root that stays valid for the
     * hypervisor's lifetime (0 = the CR3 current at setup on each core). */
    uint64_t host_cr3;
    /* Enable VPID (one tag per core) when the CPU offers it. */
    bool use_vpid;
    /* Use the core's own host IDT in VMX root (fault fixups, NMI
     * re-injection, fatal dumps). Off = keep the OS's IDT. */
    bool own_host_idt;
    /* Test hook: make VMLAUNCH on this CPU report VM-instruction error 7
     * (invalid control fields) without executing it, to exercise the
     * rollback of the CPUs already virtualized on real hardware.
     * UINT32_MAX (the default) = off. */
    uint32_t inject_launch_failure_cpu;
    /* Take INIT and SIPI as a native CPU would: INIT parks the CPU in
     * wait-for-SIPI and the SIPI restarts it in real mode at the vector,
     * under unrestricted guest with an identity EPT that hv_create()
     * builds (ept.c). Where the CPU cannot (no EPT, no unrestricted
     * guest, no wait-for-SIPI state) an INIT parks the CPU and a SIPI is
     * ignored, as with this off. For firmware whose MP code restarts APs
     * with INIT-SIPI-SIPI (UEFI). Off by default. */
    bool restart_on_sipi;
    /* Test hook: before VMLAUNCH on CPU 0, corrupt the VMCS as the named
     * corruption of hv_vmcs_corrupt_apply() says (vmcs_diagnose.h), so a
     * test can compare the diagnosis with what the processor (or Bochs)
     * reports. NULL (the default) = off. */
    const char *test_corrupt;
    /* Debugger Mode (debugger.h): the I/O port base of the 16550 UART the
     * stub drives from VMX root (0x3F8 = COM1). 0 (the default) = off, and
     * nothing about the VMCS changes: no NMI exiting, no VMX-preemption
     * timer, no stub. The platform reserves the port for the hypervisor
     * (the OS must not drive the same UART). Needs own_host_idt. */
    uint16_t debug_port;
    /* Line speed in bits/s (divisor 115200 / baud, 8N1); 0 = 115200. */
    uint32_t debug_baud;
    /* The core that polls the UART for a break-in while the guest runs
     * (from its VMX-preemption-timer exits; SDM Vol. 3C, 26.5.1). 0 by
     * default. */
    uint32_t debug_uart_core;
    /* TSC ticks per millisecond, the stub's clock in VMX root (bounded
     * waits, the poll period); 0 = CPUID 0x15/0x16, else 1,000,000. */
    uint64_t debug_tsc_per_ms;
    /* Bound on waiting for each core to halt after its NMI; 0 = 100 ms. A
     * core that does not halt in time is reported (struct hv_dbg_stop
     * not_halted) and not waited for again until GO. */
    uint32_t debug_halt_timeout_ms;
    /* The local APIC's register page, mapped by the platform before
     * hv_create() (PRE-LAUNCH; e.g. ioremap of IA32_APIC_BASE[51:12]) and
     * kept until hv_destroy(), for sending the halting NMIs through the
     * xAPIC ICR (offsets 0x300/0x310; SDM Vol. 3A, 11.6.1) when x2APIC is
     * off. With x2APIC on (IA32_APIC_BASE[10]) the stub writes MSR 0x830
     * and needs no mapping. Used from VMX root, never mapped there. NULL
     * with x2APIC off: other cores are not halted (reported). */
    volatile void *debug_lapic;
};

/* The hypervisor instance (hv_create). */
struct hv {
    const struct hv_os_ops *os; /* the platform's vtable */
    struct hv_config cfg;      /* the configuration it was created with */
    uint32_t cpu_count;        /* CPUs managed (os->cpu_count at create) */
    struct hv_vcpu *vcpus;     /* cpu_count entries */
    size_t vcpus_pages;        /* pages of the vcpus array */
    hv_status_t failed_status; /* status of the core that stopped hv_start() */
    uint32_t failed_cpu;       /* that core's index, or UINT32_MAX */
    bool started;              /* handlers are frozen once true */
    uint32_t signature_regs[3];/* cfg.signature as CPUID EBX, ECX, EDX */
    /* The event engine (event.h), created with the first event. */
    struct hv_event_engine *events;
    /* Handler of each basic exit reason; NULL = hv_exit_unexpected. */
    hv_exit_handler_fn handlers[HV_EXIT_REASON_COUNT];
    /* The identity EPT of cfg.restart_on_sipi (ept.c): EPTP, or 0 with
     * the reason it was not built. */
    uint64_t eptp;
    void *ept;                 /* the EPT paging structures (NULL: none) */
    size_t ept_bytes;          /* their size in bytes */
    uint32_t ept_gib;          /* GiB of guest-physical space mapped */
    const char *ept_off_reason; /* why there is no EPT (eptp 0), else NULL */
    /* Exit recording (trace.h): made by the first hv_trace_start. */
    struct hv_trace *trace;
    /* The Debugger Mode stub (debugger.h), NULL unless cfg.debug_port. */
    struct hv_debugger *dbg;
};

/* Fill `cfg` with defaults: signature "libhvcore\0\0\0", VPID on.
 * Context: any. */
void hv_config_init(struct hv_config *cfg);

/* Create an instance for os->cpu_count() CPUs and allocate every core's
 * regions (VMXON, VMCS, MSR bitmap, host stack, host IDT); nothing runs on
 * the CPUs yet. `cfg` NULL = defaults. Returns SUCCESS (*out set),
 * INVALID_PARAMETER (out NULL, cfg->size too small, 0 CPUs, debug_port set
 * with own_host_idt off), BAD_OS_OPS (a
 * required vtable member missing or os->size too small) or
 * INSUFFICIENT_RESOURCES (everything allocated so far is freed).
 * Context: PRE-LAUNCH. */
hv_status_t hv_create(struct hv **out, const struct hv_os_ops *os, const struct hv_config *cfg);
/* Virtualize every CPU, ascending: capabilities, FEATURE_CONTROL, CR0/CR4
 * fixed bits, VMXON, VMCLEAR/VMPTRLD, VMCS setup, VMLAUNCH (SDM Vol. 3C,
 * 24.7-24.8, 25, 26) and a VMCALL ping. Exit handlers are frozen from here
 * on. Returns SUCCESS, INVALID_PARAMETER (hv NULL), CPU_CALL_FAILED, or
 * the failing core's status (VMX_NOT_SUPPORTED, VMX_DISABLED_BY_FIRMWARE,
 * VMX_IN_USE, VMX_BASIC_UNSUPPORTED, CR_FIXED_BITS, UNSUPPORTED,
 * VM_INSTRUCTION_ERROR(n), VMX_FAIL_INVALID, VM_ENTRY_FAILED, ...; its
 * index is in hv->failed_cpu); on failure the cores already virtualized
 * are undone, last first. Context: PRE-LAUNCH. */
hv_status_t hv_start(struct hv *hv);
/* Devirtualize every CPU (highest first) by VMCALL; each core restores
 * the guest state it runs on and leaves VMX (VMXOFF). Returns SUCCESS,
 * INVALID_PARAMETER, CPU_CALL_FAILED, or the first core's failing status.
 * Context: PRE-LAUNCH. */
hv_status_t hv_stop(struct hv *hv);
/* Devirtualize the calling CPU only, for the OS's emergency paths (crash
 * dump, emergency restart) that stop CPUs one by one with interrupts off,
 * often from an NMI. NATIVE/EMERGENCY context: no allocation, no OS call
 * but the ROOT-SAFE ones; owed NMIs are dropped (the machine is going
 * down). SUCCESS also when this CPU was not virtualized; INVALID_PARAMETER
 * for a NULL hv, a vtable without cpu_index or a CPU index out of range.
 * Context: NATIVE/EMERGENCY (see above). */
hv_status_t hv_stop_this_cpu(struct hv *hv);
/* Free everything hv_create() allocated (and the event engine). A core
 * still in VMX operation keeps its regions (logged) rather than free
 * memory the CPU may use. NULL is ignored. Context: PRE-LAUNCH, after
 * hv_stop(). */
void hv_destroy(struct hv *hv);

/* ---- Per-core building blocks (used by hv_start; public for platforms
 * and tests). All run on the core they configure. ------------------------ */

/* Read CPUID and the VMX capability MSRs of the current core and judge
 * them: VMX_NOT_SUPPORTED, VMX_DISABLED_BY_FIRMWARE (locked, VMX off),
 * VMX_BASIC_UNSUPPORTED, or SUCCESS. An unlocked FEATURE_CONTROL is fine
 * here: hv_vmx_on() locks it with VMX outside SMX enabled (SDM Vol. 3C,
 * 24.6-24.7; Vol. 3D, A.1). Context: PRE-LAUNCH, on the core to read. */
hv_status_t hv_vmx_caps_read(struct hv_vmx_caps *caps);
/* The processor's physical-address width (MAXPHYADDR): CPUID.80000008H:
 * EAX[7:0], or 36 where the leaf is absent or reports 0 (SDM Vol. 3A,
 * 4.1.4). Physical-address bits at or above it are reserved in CR3, EPT
 * and VMCS address fields. Context: any (CPUID only; root-safe). */
uint32_t hv_vmx_maxphyaddr(void);

/* The identity EPT for restarting CPUs at a SIPI (cfg.restart_on_sipi):
 * built by hv_create() on the calling core (SUCCESS with hv->eptp = 0 and
 * hv->ept_off_reason when the CPU cannot use it; INSUFFICIENT_RESOURCES
 * when memory is short; INVALID_PARAMETER for a NULL hv), freed by
 * hv_destroy() (SDM Vol. 3C, 29.3 EPT). Context: PRE-LAUNCH. */
hv_status_t hv_ept_build(struct hv *hv);
/* Free what hv_ept_build() allocated. Context: PRE-LAUNCH. */
void hv_ept_free(struct hv *hv);
/* Can `vcpu` restart at a SIPI (EPT built, unrestricted guest, wait-for-
 * SIPI, EFER.LMA stored at exits)? If not, *why says why.
 * Context: ROOT-SAFE. */
bool hv_ept_sipi_ready(const struct hv *hv, const struct hv_vcpu *vcpu, const char **why);

/* Adjust a control word to a capability MSR (SDM Vol. 3D, A.3):
 * *out = (wanted | required | allowed0) & allowed1. Returns UNSUPPORTED
 * if a bit of `required` cannot be 1 (and still stores the result), else
 * SUCCESS. Context: any. */
hv_status_t hv_vmx_adjust_controls(uint32_t wanted, uint32_t required,
                                   uint64_t cap_msr, uint32_t *out);

/* Enter VMX root on the current core: FEATURE_CONTROL, CR0/CR4 fixed bits,
 * VMXON, VMCLEAR + VMPTRLD of the core's VMCS (SDM Vol. 3C, 24.7-24.8,
 * 25.11.3). On failure undoes its own steps before returning. Returns
 * SUCCESS, VMX_DISABLED_BY_FIRMWARE, CR_FIXED_BITS, VMX_IN_USE,
 * VMX_FAIL_INVALID or VM_INSTRUCTION_ERROR(n). Context: PRE-LAUNCH, on the
 * core itself (interrupts or preemption off). */
hv_status_t hv_vmx_on(struct hv_vcpu *vcpu);

/* Undo hv_vmx_on() (and a launch) exactly: VMCLEAR, VMXOFF, restore CR4
 * and CR0. FEATURE_CONTROL stays locked: the architecture allows no unlock
 * until reset (SDM Vol. 3C, 24.7). Safe to call with any subset of steps
 * done. Context: PRE-LAUNCH, on the core itself. */
void hv_vmx_off(struct hv_vcpu *vcpu);

/* Where the guest continues after VMLAUNCH. */
struct hv_guest_entry {
    uint64_t rsp, rip, rflags; /* guest RSP, RIP and RFLAGS at VMLAUNCH */
};

/* Write the whole VMCS of the current core for a blue-pill guest that
 * continues the running OS at `entry` (SDM Vol. 3C, 25.3-25.8, 27.2-27.3
 * checks). Requires VMCS_LOADED. Returns SUCCESS, UNSUPPORTED (a required
 * control the CPU does not offer), BAD_DESCRIPTOR (a guest segment that
 * cannot be described from the GDT), or a VMWRITE failure
 * (VMCS_FIELD_UNSUPPORTED, VM_INSTRUCTION_ERROR(n)). Context: PRE-LAUNCH,
 * on the core itself. */
hv_status_t hv_vmcs_setup(struct hv_vcpu *vcpu, const struct hv_guest_entry *entry);

/* The vcpu of the calling core (os->cpu_index); NULL if out of range.
 * Context: ROOT-SAFE. */
struct hv_vcpu *hv_vcpu_current(struct hv *hv);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_HV_H */
