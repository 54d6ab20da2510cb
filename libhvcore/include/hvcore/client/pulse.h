/* SPDX-License-Identifier: MIT */
/*
 * Compatibility names for users of the PsWriteMsr-style SDK: the same
 * calls and the same numeric statuses, on top of the libhvcore engine.
 *
 *   PPS_ENGINE engine;
 *   if (EngCreateEngine(&engine, "sim:cores=4") == PULSE_STATUS_SUCCESS)
 *       status = PsWriteMsr(engine, 0xC0000082, 0xfffff80773553180);  // all cores
 */
#ifndef HVCORE_CLIENT_PULSE_H
#define HVCORE_CLIENT_PULSE_H

#include <stdint.h>
#include "engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t PULSE_STATUS;
typedef uint64_t UINT64;
typedef uint32_t UINT32;
typedef struct hv_engine PS_ENGINE, *PPS_ENGINE;

#define PULSE_STATUS_SUCCESS                      ((PULSE_STATUS)0x00000000u)
#define PULSE_STATUS_INSUFFICIENT_RESOURCES       ((PULSE_STATUS)0xC0000002u)
#define PULSE_STATUS_READ_FAILED                  ((PULSE_STATUS)0xC0000003u)
#define PULSE_STATUS_WRITE_FAILED                 ((PULSE_STATUS)0xC0000004u)
#define PULSE_STATUS_TIMEOUT                      ((PULSE_STATUS)0xC0000007u)
#define PULSE_STATUS_INVALID_PARAMETER            ((PULSE_STATUS)0xC0000010u)
#define PULSE_STATUS_INVALID_PACKET               ((PULSE_STATUS)0xC0000031u)
#define PULSE_STATUS_DEVICE_CONNECTION_LOST       ((PULSE_STATUS)0xC0000308u)
#define PULSE_STATUS_EXCEPTION_GENERAL_PROTECTION ((PULSE_STATUS)0xC001000Du)

#define PULSE_ALL_CORES 0xFFFFFFFFu

/* Target: "local", "sim:cores=N", "tcp:HOST:PORT"; NULL means "local". */
PULSE_STATUS EngCreateEngine(PPS_ENGINE *ppEngine, const char *Target);
void EngDestroyEngine(PPS_ENGINE pEngine);
/* Write an MSR on every core. */
PULSE_STATUS PsWriteMsr(PPS_ENGINE pEngine, UINT64 MsrNumber, UINT64 MsrValue);
/* ...on one core (or PULSE_ALL_CORES). */
PULSE_STATUS PsWriteMsrOnCore(PPS_ENGINE pEngine, UINT64 MsrNumber, UINT64 MsrValue, UINT32 CoreNumber);
/* Read an MSR on one core or all: Values[k] for the k-th target core;
 * *ValuesWritten = how many. */
PULSE_STATUS PsReadMsr(PPS_ENGINE pEngine, UINT64 MsrNumber, UINT32 CoreNumber, UINT64 *Values,
                       UINT32 ValueCount, UINT32 *ValuesWritten);

#ifdef __cplusplus
}
#endif
#endif
