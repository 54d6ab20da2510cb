/* SPDX-License-Identifier: MIT */
/*
 * The architecture backend seam. The core calls only these to touch the
 * CPU; `arch/x86_64` implements them with real instructions and `testing/`
 * with fake CPUs in memory. Chosen at link time, so there is no indirect
 * call on the exit path.
 *
 * Every function here is ROOT-SAFE unless it says otherwise. "Current CPU"
 * is the CPU executing the call (on the mock: the fake CPU bound to the
 * calling thread, see hv_mock_cpu_bind()).
 */
#ifndef HVCORE_ARCH_H
#define HVCORE_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include "status.h"
#include "vmx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CPUID output registers. */
struct hv_cpuid_regs {
    uint32_t eax, ebx, ecx, edx; /* EAX, EBX, ECX, EDX after CPUID */
};

/* A descriptor-table register as SGDT/SIDT store it. */
struct hv_dtr {
    uint16_t limit;     /* table limit (bytes - 1) */
    uint64_t base;      /* linear base address */
};

/* CPUID leaf/subleaf on the current CPU (SDM Vol. 2A, CPUID). Context: ROOT-SAFE. */
void hv_arch_cpuid(uint32_t leaf, uint32_t subleaf, struct hv_cpuid_regs *out);

/* Fault-safe MSR access: a #GP is caught (exception-table fixup) and
 * reported as HV_STATUS_EXCEPTION_GENERAL_PROTECTION; *value is untouched.
 * Returns SUCCESS or EXCEPTION_GENERAL_PROTECTION (SDM Vol. 2B, RDMSR).
 * Context: ROOT-SAFE. */
hv_status_t hv_arch_rdmsr_safe(uint32_t msr, uint64_t *value);
/* WRMSR, fault-safe: SUCCESS or EXCEPTION_GENERAL_PROTECTION (nothing
 * written; SDM Vol. 2B, WRMSR). Context: ROOT-SAFE. */
hv_status_t hv_arch_wrmsr_safe(uint32_t msr, uint64_t value);

/* Fault-safe memory copy of `len` bytes (no overlap). A #PF or #GP on the
 * source (read_safe) or the destination (write_safe) is caught and
 * reported as HV_STATUS_ACCESS_VIOLATION; the bytes before the faulting one
 * may have been copied. For guest memory reached through os->phys_to_virt
 * (exit/guest_mem.c), where a guest page table may name physical memory the
 * OS does not map. Returns SUCCESS or ACCESS_VIOLATION.
 * Context: ROOT-SAFE. */
hv_status_t hv_arch_read_safe(void *dst, const void *src, uint64_t len);
/* As hv_arch_read_safe, the fault caught on the destination: SUCCESS or
 * ACCESS_VIOLATION. Context: ROOT-SAFE. */
hv_status_t hv_arch_write_safe(void *dst, const void *src, uint64_t len);

/* MOV from CRn, cr in {0,2,3,4,8} (SDM Vol. 2B, MOV--Move to/from Control
 * Registers). Context: ROOT-SAFE. */
uint64_t hv_arch_read_cr(uint32_t cr);
/* MOV to CRn, cr in {0,2,3,4,8}. Context: ROOT-SAFE. */
void hv_arch_write_cr(uint32_t cr, uint64_t value);
/* MOV from DRn, dr in 0..7 (SDM Vol. 3B, 18.2). Context: ROOT-SAFE. */
uint64_t hv_arch_read_dr(uint32_t dr);
/* MOV to DRn, dr in 0..7. Context: ROOT-SAFE. */
void hv_arch_write_dr(uint32_t dr, uint64_t value);
/* RFLAGS of the current CPU (PUSHF). Context: ROOT-SAFE. */
uint64_t hv_arch_read_rflags(void);
/* A segment selector register (CS, SS, DS, ES, FS, GS, LDTR, TR). Context: ROOT-SAFE. */
uint16_t hv_arch_read_selector(enum hv_seg seg);
/* SGDT (SDM Vol. 2B). Context: ROOT-SAFE. */
void hv_arch_sgdt(struct hv_dtr *out);
/* SIDT (SDM Vol. 2B). Context: ROOT-SAFE. */
void hv_arch_sidt(struct hv_dtr *out);
/* XGETBV of XCR `xcr` (SDM Vol. 2C); CR4.OSXSAVE must be set. Context: ROOT-SAFE. */
uint64_t hv_arch_xgetbv(uint32_t xcr);
/* XSETBV that reports #GP instead of taking it: SUCCESS or
 * EXCEPTION_GENERAL_PROTECTION (SDM Vol. 2C, XSETBV). Context: ROOT-SAFE. */
hv_status_t hv_arch_xsetbv_safe(uint32_t xcr, uint64_t value);
/* WBINVD (also used to give INVD write-back semantics; SDM Vol. 2C).
 * Context: ROOT-SAFE. */
void hv_arch_wbinvd(void);
/* VMX root: invalidate every TLB entry of the current VPID (0, the host's),
 * global ones included: INVPCID all-contexts when `have_invpcid`, else a
 * CR4.PGE toggle (SDM Vol. 3A, 4.10.4.1). See hv.h, root_tlb_gen.
 * Context: ROOT-SAFE. */
void hv_arch_flush_root_tlb(bool have_invpcid);
/* VMX root: reset the machine as a PC does when a CPU shuts down after a
 * triple fault: a full reset through the reset control register (port
 * 0xCF9, PIIX/ICH and later), then the 8042 reset line (port 0x64, 0xFE).
 * Returns only if neither took effect (and always on the mock, which
 * records the request). Context: ROOT-SAFE. */
void hv_arch_reset_platform(void);

/* IN AL, DX: one byte from I/O port `port` (SDM Vol. 2A, IN). For the
 * debugger's polled UART (debugger/uart.c); the mock backend routes it to a
 * fake 16550 (hvcore/testing/mock.h). Context: ROOT-SAFE. */
uint8_t hv_arch_inb(uint16_t port);
/* OUT DX, AL: one byte to I/O port `port` (SDM Vol. 2B, OUT).
 * Context: ROOT-SAFE. */
void hv_arch_outb(uint16_t port, uint8_t value);
/* RDTSC: the time-stamp counter (SDM Vol. 2B, RDTSC; Vol. 3B, 18.17); the
 * debugger's clock in VMX root. The mock counts nanoseconds.
 * Context: ROOT-SAFE. */
uint64_t hv_arch_rdtsc(void);
/* PAUSE: a spin-wait hint (SDM Vol. 2B, PAUSE). Context: ROOT-SAFE. */
void hv_arch_pause(void);
/* IRET to the next instruction, to end the blocking of NMIs that a VM exit
 * caused by an NMI leaves in VMX root (blocked until the next IRET; SDM Vol.
 * 3A, 6.7.1; Vol. 3C, 28.2.3), so an NMI sent later while the core is still
 * in root (halted by the debugger) is taken. Needs a host IDT that handles
 * NMIs in root (hv_config.own_host_idt). Context: ROOT-SAFE. */
void hv_arch_unblock_nmi(void);

/* VMX instructions. Results follow SDM Vol. 3C, 31.2: VMsucceed ->
 * SUCCESS; VMfailInvalid -> HV_STATUS_VMX_FAIL_INVALID; VMfailValid ->
 * HV_STATUS_VM_INSTRUCTION_ERROR(error number read from the VMCS). */
/* VMXON with the region at `vmxon_pa` (SDM Vol. 3C, 24.7, 25.11.5).
 * Statuses as above. Context: PRE-LAUNCH, on the core itself. */
hv_status_t hv_arch_vmxon(uint64_t vmxon_pa);
/* VMXOFF (SDM Vol. 3C, 24.7). Statuses as above. Context: VMX root. */
hv_status_t hv_arch_vmxoff(void);
/* VMCLEAR of the VMCS at `vmcs_pa` (SDM Vol. 3C, 25.11.3). Statuses as
 * above. Context: VMX root. */
hv_status_t hv_arch_vmclear(uint64_t vmcs_pa);
/* VMPTRLD: make the VMCS at `vmcs_pa` current (SDM Vol. 3C, 25.11.3).
 * Statuses as above. Context: VMX root. */
hv_status_t hv_arch_vmptrld(uint64_t vmcs_pa);
/* INVEPT of `type` for `eptp` (SDM Vol. 3C, 29.4.3.1; Vol. 2C). Statuses
 * as above. Context: ROOT-SAFE. */
hv_status_t hv_arch_invept(uint64_t type, uint64_t eptp);
/* INVVPID of `type` for `vpid`/`linear` (SDM Vol. 3C, 29.4.3.1; Vol. 2C).
 * Statuses as above. Context: ROOT-SAFE. */
hv_status_t hv_arch_invvpid(uint64_t type, uint16_t vpid, uint64_t linear);

/* Fill one 4 KiB page with a 256-entry 64-bit IDT for VMX root: #GP/#PF
 * go through the exception-fixup table, NMI to hv_exit_root_nmi(), every
 * other vector to hv_exit_root_exception() (SDM Vol. 3A, 6.10-6.14).
 * Context: PRE-LAUNCH. */
void hv_arch_build_host_idt(void *page, uint16_t host_cs);

struct hv_guest_resume;
/* Reload the guest state of `r` into the CPU (CR0/CR3/CR4, GDTR/IDTR with
 * their limits, TR, DR7, DEBUGCTL, FS/GS bases); used by the stub when a
 * core is devirtualized, after VMXOFF. Context: native, interrupts off,
 * on the core being devirtualized. */
void hv_arch_restore_guest_state(const struct hv_guest_resume *r);

/* For platforms whose own #GP/#PF handlers must honour the backend's
 * fault-safe accessors (UEFI, Windows): if *rip is a listed fault site,
 * rewrite it to the fixup and return true. Context: any (exception
 * handlers). */
bool hv_arch_extable_fixup(uint64_t *rip);

/* Address the VM-exit stub starts at (HOST_RIP). Context: any. */
uint64_t hv_arch_exit_entry(void);

/* VMLAUNCH the current VMCS so that the guest resumes right after this
 * call with the caller's registers (GUEST_RSP/GUEST_RIP are set by the
 * stub). Returns SUCCESS once running as the guest; on VMfail returns the
 * status (VMX_FAIL_INVALID, VM_INSTRUCTION_ERROR(n); SDM Vol. 3C, 31.2)
 * while still in VMX root. Context: PRE-LAUNCH, interrupts off. */
hv_status_t hv_arch_vmlaunch_here(void);

/* Guest side: execute VMCALL with the core's calling convention
 * (RAX = number, RCX/RDX/R8 = arguments; result in RAX; vmcall.h).
 * Context: guest side, CPL 0 (any kernel context of a virtualized core). */
uint64_t hv_arch_vmcall(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_ARCH_H */
