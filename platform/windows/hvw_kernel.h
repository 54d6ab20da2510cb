/* SPDX-License-Identifier: MIT */
/*
 * The Windows kernel API the OS layer (os_windows.c) uses, and nothing
 * else: the real one from mingw-w64's DDK headers, or, with
 * HVW_FAKE_KERNEL, a userspace fake (test/unit/windows/hvw_fake_kernel.h)
 * so the layer's unit tests run on Linux (test/unit/test_windows_os.c).
 */
#ifndef HVW_KERNEL_H
#define HVW_KERNEL_H

#ifdef HVW_FAKE_KERNEL
#include "hvw_fake_kernel.h"
#else
#include <ntifs.h> /* ntddk.h plus the security (Rtl*Sid, ACL) declarations */

/*
 * In libntoskrnl.a but not declared by mingw-w64 10's DDK headers
 * (DESIGN.md 8). Documented in the WDK (wdm.h) with these signatures.
 */
typedef VOID (*hvw_deferred_routine)(PKDPC Dpc, PVOID DeferredContext, PVOID SystemArgument1,
                                     PVOID SystemArgument2);
NTKERNELAPI VOID NTAPI KeGenericCallDpc(hvw_deferred_routine Routine, PVOID Context);
NTKERNELAPI VOID NTAPI KeSignalCallDpcDone(PVOID SystemArgument1);
NTKERNELAPI LOGICAL NTAPI KeSignalCallDpcSynchronize(PVOID SystemArgument2);
#endif

/*
 * Found at run time with MmGetSystemRoutineAddress, not imported: Wine's
 * ntoskrnl.exe lacks them, and a missing import stops the image loading at
 * all. Every Windows since 7 has them; os_windows.c falls back where it can.
 */
typedef ULONG_PTR (NTAPI *hvw_ipi_fn)(ULONG_PTR Argument);
typedef ULONG_PTR (NTAPI *hvw_ipi_generic_call_fn)(hvw_ipi_fn BroadcastFunction, ULONG_PTR Context);
typedef NTSTATUS (NTAPI *hvw_number_from_index_fn)(ULONG ProcIndex, PPROCESSOR_NUMBER ProcNumber);
typedef VOID (NTAPI *hvw_set_group_affinity_fn)(PGROUP_AFFINITY Affinity, PGROUP_AFFINITY Previous);
typedef VOID (NTAPI *hvw_revert_group_affinity_fn)(PGROUP_AFFINITY Previous);

#endif
