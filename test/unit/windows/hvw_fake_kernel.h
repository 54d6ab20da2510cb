/*
 * A userspace fake of the few Windows kernel functions platform/windows's
 * OS layer (os_windows.c, vmx_check.c) calls, with the types they use, so
 * that layer compiles and runs on Linux (test/unit/test_windows_os.c
 * implements them: processors are threads, processor groups are
 * configurable, allocations fail on demand). Only what the layer needs.
 */
#ifndef HVW_FAKE_KERNEL_H
#define HVW_FAKE_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

#define NTAPI
#define NTKERNELAPI
#define VOID void
typedef int32_t NTSTATUS;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef int64_t LONGLONG;
typedef uint8_t UCHAR;
typedef uint16_t USHORT;
typedef uintptr_t ULONG_PTR;
typedef uint64_t KAFFINITY;
typedef uint8_t KIRQL;
typedef void *PVOID;
typedef void *HANDLE;
typedef ULONG LOGICAL;
typedef union { LONGLONG QuadPart; } PHYSICAL_ADDRESS;
typedef struct { USHORT Group; UCHAR Number; UCHAR Reserved; } PROCESSOR_NUMBER, *PPROCESSOR_NUMBER;
typedef struct { KAFFINITY Mask; USHORT Group; USHORT Reserved[3]; } GROUP_AFFINITY, *PGROUP_AFFINITY;
typedef struct { int unused; } KDPC, *PKDPC;
typedef struct { USHORT Length, MaximumLength; const wchar_t *Buffer; } UNICODE_STRING, *PUNICODE_STRING;
typedef enum { NonPagedPoolNx = 512 } POOL_TYPE;
typedef enum { MmCached = 1 } MEMORY_CACHING_TYPE;
typedef VOID (*hvw_deferred_routine)(PKDPC Dpc, PVOID DeferredContext, PVOID SystemArgument1, PVOID SystemArgument2);

#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)
#define STATUS_SUCCESS ((NTSTATUS)0)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000Du)
#define PASSIVE_LEVEL 0
#define DISPATCH_LEVEL 2
#define ALL_PROCESSOR_GROUPS 0xffff
#define DPFLTR_IHVDRIVER_ID 77
#define DPFLTR_ERROR_LEVEL 0
#define DPFLTR_WARNING_LEVEL 1
#define DPFLTR_TRACE_LEVEL 2
#define DPFLTR_INFO_LEVEL 3
#define RtlZeroMemory(p, n) memset((p), 0, (n))

PVOID ExAllocatePoolWithTag(POOL_TYPE type, size_t bytes, ULONG tag);
VOID ExFreePoolWithTag(PVOID p, ULONG tag);
PVOID MmAllocateContiguousMemorySpecifyCache(size_t bytes, PHYSICAL_ADDRESS low, PHYSICAL_ADDRESS high,
                                             PHYSICAL_ADDRESS boundary, MEMORY_CACHING_TYPE cache);
VOID MmFreeContiguousMemorySpecifyCache(PVOID p, size_t bytes, MEMORY_CACHING_TYPE cache);
PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID va);
PVOID MmGetVirtualForPhysical(PHYSICAL_ADDRESS pa);
PVOID MmGetSystemRoutineAddress(PUNICODE_STRING name);
VOID RtlInitUnicodeString(PUNICODE_STRING u, const wchar_t *s);
ULONG KeQueryActiveProcessorCountEx(USHORT group);
ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER pn);
KIRQL KeGetCurrentIrql(void);
KIRQL hvw_fake_raise_irql(KIRQL to);
VOID KeLowerIrql(KIRQL to);
#define KeRaiseIrql(to, old) (*(old) = hvw_fake_raise_irql(to))
KAFFINITY KeSetSystemAffinityThreadEx(KAFFINITY mask);
VOID KeRevertToUserAffinityThreadEx(KAFFINITY mask);
VOID KeGenericCallDpc(hvw_deferred_routine routine, PVOID context);
VOID KeSignalCallDpcDone(PVOID arg1);
LOGICAL KeSignalCallDpcSynchronize(PVOID arg2);
HANDLE PsGetCurrentProcessId(void);
ULONG DbgPrintEx(ULONG component, ULONG level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
VOID KeBugCheckEx(ULONG code, ULONG_PTR p1, ULONG_PTR p2, ULONG_PTR p3, ULONG_PTR p4);

#endif
