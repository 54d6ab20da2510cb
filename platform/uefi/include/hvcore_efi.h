/* SPDX-License-Identifier: MIT */
/*
 * What hvcore.efi offers other UEFI code while it is resident: a protocol
 * on its image handle (the MSR broadcast and its page counts). The OS, and
 * firmware code too, reach the hypervisor itself through VMCALL
 * (hvcore/vmcall.h: ping, query, per-CPU MSR access; ring 0 + key).
 */
#ifndef HVCORE_EFI_H
#define HVCORE_EFI_H

#include <efi.h>

#define HVCORE_PROTOCOL_GUID \
    { 0x6876636f, 0x7265, 0x4566, { 0x69, 0x20, 0x68, 0x76, 0x63, 0x6f, 0x72, 0x65 } }
#define HVCORE_PROTOCOL_REVISION 1u
#define HVCORE_ALL_CORES 0xFFFFFFFFu

/* Same layout as struct hv_msr_result (hvcore/msr.h). */
typedef struct {
    UINT32 Core;
    UINT32 Status;   /* hv_status_t: 0 success, 0xC001000D #GP, ... */
    UINT64 Value;
    UINT32 Route;
    UINT32 InRoot;
} HVCORE_MSR_RESULT;

typedef struct _HVCORE_PROTOCOL HVCORE_PROTOCOL;
struct _HVCORE_PROTOCOL {
    UINT32 Revision;
    UINT32 CpuCount;
    /* hv_msr_read/hv_msr_write on Core or HVCORE_ALL_CORES; one result per
     * target core. Returns the hv_status_t of the call. */
    UINT32 (EFIAPI *MsrRead)(HVCORE_PROTOCOL *This, UINT32 Core, UINT32 Msr, HVCORE_MSR_RESULT *Results,
                             UINT32 Count);
    UINT32 (EFIAPI *MsrWrite)(HVCORE_PROTOCOL *This, UINT32 Core, UINT32 Msr, UINT64 Value,
                              HVCORE_MSR_RESULT *Results, UINT32 Count);
    /* Pages hvcore.efi obtained with AllocatePages and freed so far. */
    VOID (EFIAPI *PageCounts)(HVCORE_PROTOCOL *This, UINT64 *Allocated, UINT64 *Freed);
};

#endif
