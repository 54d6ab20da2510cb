/* SPDX-License-Identifier: MIT */
/*
 * Guest memory from VMX root: a guest linear address is translated through
 * the guest's own paging structures (from its CR0/CR3/CR4/EFER) to a guest
 * physical address, which is reached through os->phys_to_virt and copied
 * with the backend's fault-safe copy (hv_arch_read_safe/write_safe).
 *
 * Assumption: guest-physical == host-physical (no EPT, or an identity EPT
 * as the core builds it). Every failure is a status, never a fault: a
 * non-present entry on the walk, a non-canonical address and a host access
 * that faults (memory the OS does not map) each have their own.
 *
 * Accessed/dirty bits are not set and permissions (R/W, U/S, NX, SMAP,
 * protection keys) are not checked: this is a debugger's view of memory,
 * as a debugger's supervisor read would see it.
 */
#ifndef HVCORE_GUEST_MEM_H
#define HVCORE_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>
#include "os.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The guest's paging mode (SDM Vol. 3A, 4.1.1, Table 4-1). */
enum hv_guest_paging_mode {
    HV_GUEST_PAGING_NONE = 0,  /**< CR0.PG = 0: linear = physical (32 bits). */
    HV_GUEST_PAGING_32BIT,     /**< CR4.PAE = 0: 2 levels, 4 KiB / 4 MiB (CR4.PSE) pages. */
    HV_GUEST_PAGING_PAE,       /**< CR4.PAE = 1, EFER.LMA = 0: 4 PDPTEs, 4 KiB / 2 MiB pages. */
    HV_GUEST_PAGING_4LEVEL,    /**< EFER.LMA = 1, CR4.LA57 = 0: 48-bit linear addresses. */
    HV_GUEST_PAGING_5LEVEL,    /**< EFER.LMA = 1, CR4.LA57 = 1: 57-bit linear addresses. */
};

/** The registers that select and root the guest's paging. */
struct hv_guest_paging {
    uint64_t cr0;   /**< GUEST_CR0 (the real value, not the read shadow). */
    uint64_t cr3;   /**< GUEST_CR3. */
    uint64_t cr4;   /**< GUEST_CR4 (the real value). */
    uint64_t efer;  /**< GUEST_IA32_EFER (LMA tells IA-32e mode). */
};

/**
 * Read the guest's paging registers from the current VMCS.
 * Context: root-safe (inside a VM exit, on the core whose VMCS is current).
 * @param out  filled with GUEST_CR0, GUEST_CR3, GUEST_CR4, GUEST_IA32_EFER.
 */
void hv_guest_paging_current(struct hv_guest_paging *out);

/**
 * The paging mode `p` selects (SDM Vol. 3A, 4.1.1).
 * Context: any.
 * @param p  the guest's paging registers.
 * @return the mode.
 */
enum hv_guest_paging_mode hv_guest_paging_mode(const struct hv_guest_paging *p);

/**
 * Translate guest linear address `gva` to a guest physical address by
 * walking the guest's paging structures (SDM Vol. 3A, 4.3, 4.4.2, 4.5).
 * Context: root-safe (no allocation, no lock; entries are read fault-safe).
 * @param os     the OS vtable (phys_to_virt).
 * @param p      the paging registers; NULL = the current VMCS's.
 * @param gva    guest linear address.
 * @param gpa    receives the guest physical address.
 * @return SUCCESS; GUEST_ADDRESS_NONCANONICAL (not canonical for the mode,
 *         or above 4 GiB outside IA-32e mode); GUEST_PAGE_NOT_PRESENT (an
 *         entry on the walk has P = 0); ACCESS_VIOLATION (a paging
 *         structure is in memory the host cannot read); INVALID_PARAMETER
 *         (os or gpa NULL).
 */
hv_status_t hv_guest_mem_translate(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                                   uint64_t gva, uint64_t *gpa);

/**
 * Copy `len` bytes of guest physical memory at `gpa` into `dst`.
 * Context: root-safe.
 * @param os   the OS vtable (phys_to_virt).
 * @param gpa  guest physical address.
 * @param dst  destination (host memory).
 * @param len  bytes.
 * @return SUCCESS; ACCESS_VIOLATION (the host access faulted or
 *         phys_to_virt had no mapping); INVALID_PARAMETER.
 */
hv_status_t hv_guest_mem_read_phys(const struct hv_os_ops *os, uint64_t gpa, void *dst, size_t len);

/**
 * Copy `len` bytes of guest linear memory at `gva` into `dst`, translating
 * each page separately (a buffer may straddle pages mapped anywhere).
 * Context: root-safe.
 * @param os    the OS vtable.
 * @param p     the paging registers; NULL = the current VMCS's.
 * @param gva   guest linear address.
 * @param dst   destination (host memory).
 * @param len   bytes.
 * @param done  if not NULL, receives the bytes copied before a failure
 *              (len on success).
 * @return SUCCESS or the status of the first page that failed (see
 *         hv_guest_mem_translate and hv_guest_mem_read_phys).
 */
hv_status_t hv_guest_mem_read(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                              uint64_t gva, void *dst, size_t len, size_t *done);

/**
 * Copy `len` bytes from `src` into guest linear memory at `gva` (for a
 * debugger's memory edits). Page permissions are not checked.
 * Context: root-safe.
 * @param os    the OS vtable.
 * @param p     the paging registers; NULL = the current VMCS's.
 * @param gva   guest linear address.
 * @param src   source (host memory).
 * @param len   bytes.
 * @param done  if not NULL, receives the bytes written before a failure.
 * @return as hv_guest_mem_read.
 */
hv_status_t hv_guest_mem_write(const struct hv_os_ops *os, const struct hv_guest_paging *p,
                               uint64_t gva, const void *src, size_t len, size_t *done);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_GUEST_MEM_H */
