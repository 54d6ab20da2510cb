/* SPDX-License-Identifier: MIT */
/*
 * The PI MP Services protocol (PI spec Vol. 2, 13.4), which gnu-efi does
 * not ship: defined here by hand, GUID included (DESIGN.md 8).
 */
#ifndef HVCORE_UEFI_MP_H
#define HVCORE_UEFI_MP_H

#include <efi.h>

#define HVU_MP_SERVICES_GUID \
    { 0x3fdda605, 0xa76e, 0x4f46, { 0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08 } }

#define HVU_PROCESSOR_AS_BSP_BIT  0x00000001u
#define HVU_PROCESSOR_ENABLED_BIT 0x00000002u

typedef struct {
    UINT64 ProcessorId;      /* the local APIC ID */
    UINT32 StatusFlag;
    struct { UINT32 Package, Core, Thread; } Location;
} HVU_PROCESSOR_INFORMATION;

typedef VOID (EFIAPI *HVU_AP_PROCEDURE)(VOID *Argument);

typedef struct _HVU_MP_SERVICES HVU_MP_SERVICES;
struct _HVU_MP_SERVICES {
    EFI_STATUS (EFIAPI *GetNumberOfProcessors)(HVU_MP_SERVICES *This, UINTN *Number, UINTN *Enabled);
    EFI_STATUS (EFIAPI *GetProcessorInfo)(HVU_MP_SERVICES *This, UINTN Processor, HVU_PROCESSOR_INFORMATION *Info);
    EFI_STATUS (EFIAPI *StartupAllAPs)(HVU_MP_SERVICES *This, HVU_AP_PROCEDURE Procedure, BOOLEAN SingleThread,
                                       EFI_EVENT WaitEvent, UINTN TimeoutUs, VOID *Argument, UINTN **FailedCpuList);
    EFI_STATUS (EFIAPI *StartupThisAP)(HVU_MP_SERVICES *This, HVU_AP_PROCEDURE Procedure, UINTN Processor,
                                       EFI_EVENT WaitEvent, UINTN TimeoutUs, VOID *Argument, BOOLEAN *Finished);
    EFI_STATUS (EFIAPI *SwitchBSP)(HVU_MP_SERVICES *This, UINTN Processor, BOOLEAN EnableOldBsp);
    EFI_STATUS (EFIAPI *EnableDisableAP)(HVU_MP_SERVICES *This, UINTN Processor, BOOLEAN Enable, UINT32 *Health);
    EFI_STATUS (EFIAPI *WhoAmI)(HVU_MP_SERVICES *This, UINTN *Processor);
};

#endif
