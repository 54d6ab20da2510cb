/* SPDX-License-Identifier: MIT */
/* The PsWriteMsr-style names over the engine (hvcore/client/pulse.h). */
#include <hvcore/client/pulse.h>

#include <stdlib.h>

PULSE_STATUS EngCreateEngine(PPS_ENGINE *ppEngine, const char *Target)
{
    if (ppEngine == NULL)
        return PULSE_STATUS_INVALID_PARAMETER;
    return hv_engine_create(ppEngine, Target != NULL ? Target : "local");
}

void EngDestroyEngine(PPS_ENGINE pEngine)
{
    hv_engine_destroy(pEngine);
}

PULSE_STATUS PsWriteMsrOnCore(PPS_ENGINE pEngine, UINT64 MsrNumber, UINT64 MsrValue, UINT32 CoreNumber)
{
    struct hv_abi_msr_result *r;
    uint32_t n = 0, cap;
    hv_status_t st;

    if (pEngine == NULL || MsrNumber > 0xFFFFFFFFull)
        return PULSE_STATUS_INVALID_PARAMETER;
    cap = CoreNumber == PULSE_ALL_CORES ? hv_engine_cpu_count(pEngine) : 1;
    if (cap == 0)
        return PULSE_STATUS_INVALID_PARAMETER;
    r = calloc(cap, sizeof(*r));
    if (r == NULL)
        return PULSE_STATUS_INSUFFICIENT_RESOURCES;
    st = hv_engine_msr_write(pEngine, CoreNumber, (uint32_t)MsrNumber, MsrValue, r, cap, &n);
    free(r);
    return st;
}

PULSE_STATUS PsWriteMsr(PPS_ENGINE pEngine, UINT64 MsrNumber, UINT64 MsrValue)
{
    return PsWriteMsrOnCore(pEngine, MsrNumber, MsrValue, PULSE_ALL_CORES);
}

PULSE_STATUS PsReadMsr(PPS_ENGINE pEngine, UINT64 MsrNumber, UINT32 CoreNumber, UINT64 *Values,
                       UINT32 ValueCount, UINT32 *ValuesWritten)
{
    struct hv_abi_msr_result *r;
    uint32_t n = 0, i, cap;
    hv_status_t st;

    if (ValuesWritten)
        *ValuesWritten = 0;
    if (pEngine == NULL || Values == NULL || MsrNumber > 0xFFFFFFFFull)
        return PULSE_STATUS_INVALID_PARAMETER;
    cap = CoreNumber == PULSE_ALL_CORES ? hv_engine_cpu_count(pEngine) : 1;
    if (cap == 0 || ValueCount < cap)
        return PULSE_STATUS_INVALID_PARAMETER;
    r = calloc(cap, sizeof(*r));
    if (r == NULL)
        return PULSE_STATUS_INSUFFICIENT_RESOURCES;
    st = hv_engine_msr_read(pEngine, CoreNumber, (uint32_t)MsrNumber, r, cap, &n);
    for (i = 0; i < n; i++)
        Values[i] = r[i].value;
    if (ValuesWritten)
        *ValuesWritten = n;
    free(r);
    return st;
}
