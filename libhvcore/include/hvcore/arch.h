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

struct hv_cpuid_regs {
    uint32_t eax, ebx, ecx, edx;
};

/* A descriptor-table register as SGDT/SIDT store it. */
struct hv_dtr {
    uint16_t limit;
    uint64_t base;
};

void hv_arch_cpuid(uint32_t leaf, uint32_t subleaf, struct hv_cpuid_regs *out);

/* Fault-safe MSR access: a #GP is caught (exception-table fixup) and
 * reported as HV_STATUS_EXCEPTION_GENERAL_PROTECTION; *value is untouched. */
hv_status_t hv_arch_rdmsr_safe(uint32_t msr, uint64_t *value);
hv_status_t hv_arch_wrmsr_safe(uint32_t msr, uint64_t value);

/* Fault-safe memory copy of `len` bytes (no overlap). A #PF or #GP on the
 * source (read_safe) or the destination (write_safe) is caught and
 * reported as HV_STATUS_ACCESS_VIOLATION; the bytes before the faulting one
 * may have been copied. For guest memory reached through os->phys_to_virt
 * (exit/guest_mem.c), where a guest page table may name physical memory the
 * OS does not map. */
hv_status_t hv_arch_read_safe(void *dst, const void *src, uint64_t len);
hv_status_t hv_arch_write_safe(void *dst, const void *src, uint64_t len);

uint64_t hv_arch_read_cr(uint32_t cr);            /* cr in {0,2,3,4,8} */
void hv_arch_write_cr(uint32_t cr, uint64_t value);
uint64_t hv_arch_read_dr(uint32_t dr);            /* dr in 0..7 */
void hv_arch_write_dr(uint32_t dr, uint64_t value);
uint64_t hv_arch_read_rflags(void);
uint16_t hv_arch_read_selector(enum hv_seg seg);
void hv_arch_sgdt(struct hv_dtr *out);
void hv_arch_sidt(struct hv_dtr *out);
uint64_t hv_arch_xgetbv(uint32_t xcr);
/* XSETBV that reports #GP instead of taking it. */
hv_status_t hv_arch_xsetbv_safe(uint32_t xcr, uint64_t value);
/* WBINVD (also used to give INVD write-back semantics). */
void hv_arch_wbinvd(void);
/* VMX root: invalidate every TLB entry of the current VPID (0, the host's),
 * global ones included: INVPCID all-contexts when `have_invpcid`, else a
 * CR4.PGE toggle (SDM Vol. 3A, 4.10.4.1). See hv.h, root_tlb_gen. */
void hv_arch_flush_root_tlb(bool have_invpcid);
/* VMX root: reset the machine as a PC does when a CPU shuts down after a
 * triple fault: a full reset through the reset control register (port
 * 0xCF9, PIIX/ICH and later), then the 8042 reset line (port 0x64, 0xFE).
 * Returns only if neither took effect (and always on the mock, which
 * records the request). */
void hv_arch_reset_platform(void);

/* VMX instructions. Results follow SDM Vol. 3C, 31.2: VMsucceed ->
 * SUCCESS; VMfailInvalid -> HV_STATUS_VMX_FAIL_INVALID; VMfailValid ->
 * HV_STATUS_VM_INSTRUCTION_ERROR(error number read from the VMCS). */
hv_status_t hv_arch_vmxon(uint64_t vmxon_pa);
hv_status_t hv_arch_vmxoff(void);
hv_status_t hv_arch_vmclear(uint64_t vmcs_pa);
hv_status_t hv_arch_vmptrld(uint64_t vmcs_pa);
hv_status_t hv_arch_invept(uint64_t type, uint64_t eptp);
hv_status_t hv_arch_invvpid(uint64_t type, uint16_t vpid, uint64_t linear);

/* Fill one 4 KiB page with a 256-entry 64-bit IDT for VMX root: #GP/#PF
 * go through the exception-fixup table, NMI to hv_exit_root_nmi(), every
 * other vector to hv_exit_root_exception(). PRE-LAUNCH. */
void hv_arch_build_host_idt(void *page, uint16_t host_cs);

/* Reload the guest state of `r` into the CPU (CR0/CR3/CR4, GDTR/IDTR with
 * their limits, TR, DR7, DEBUGCTL, FS/GS bases); used by the stub when a
 * core is devirtualized, after VMXOFF. */
struct hv_guest_resume;
void hv_arch_restore_guest_state(const struct hv_guest_resume *r);

/* For platforms whose own #GP/#PF handlers must honour the backend's
 * fault-safe accessors (UEFI, Windows): if *rip is a listed fault site,
 * rewrite it to the fixup and return true. */
bool hv_arch_extable_fixup(uint64_t *rip);

/* Address the VM-exit stub starts at (HOST_RIP). */
uint64_t hv_arch_exit_entry(void);

/* VMLAUNCH the current VMCS so that the guest resumes right after this
 * call with the caller's registers (GUEST_RSP/GUEST_RIP are set by the
 * stub). Returns SUCCESS once running as the guest; on VMfail returns the
 * status while still in VMX root. PRE-LAUNCH context, interrupts off. */
hv_status_t hv_arch_vmlaunch_here(void);

/* Guest side: execute VMCALL with the core's calling convention
 * (RAX = number, RCX/RDX/R8 = arguments; result in RAX). */
uint64_t hv_arch_vmcall(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_ARCH_H */
