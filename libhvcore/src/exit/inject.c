/* SPDX-License-Identifier: MIT */
/*
 * Event injection through the VM-entry interruption-information field
 * (SDM Vol. 3C, 25.8.3; delivery in 27.6). Injection never moves RIP: a
 * fault is delivered with RIP at the faulting instruction.
 */
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "exit/trace_arch.h"

static bool is_software(uint32_t type)
{
    return type == HV_INTR_TYPE_SW_INTERRUPT || type == HV_INTR_TYPE_PRIV_SW_EXCEPTION ||
           type == HV_INTR_TYPE_SW_EXCEPTION;
}

/* Exceptions that push an error code in protected mode: #DF, #TS, #NP, #SS,
 * #GP, #PF, #AC, #CP (SDM Vol. 3A, 6.15). */
static bool pushes_error_code(uint32_t vector)
{
    return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21;
}

/*
 * The VM-entry checks on the interruption-information field (SDM Vol. 3C,
 * 27.2.1.3), so that a bad request is refused here instead of failing the
 * next VM entry (which would take the whole machine down): type 1 is
 * reserved; an NMI has vector 2; a hardware exception a vector below 32;
 * type 7 (other event, MTF) vector 0; an error code exactly for the
 * exceptions that push one (the guest runs in protected mode: no
 * unrestricted guest here) and only 16 bits of it; a software event needs
 * the exiting instruction's length, 1 to 15.
 */
static bool injection_valid(struct hv_exit *e, uint32_t vector, uint32_t type, bool has_error_code,
                            uint32_t error_code, uint32_t *len)
{
    if (vector > 255u || type > HV_INTR_TYPE_OTHER || type == 1u)
        return false;
    if ((type == HV_INTR_TYPE_NMI && vector != HV_VECTOR_NMI) ||
        (type == HV_INTR_TYPE_HW_EXCEPTION && vector > 31u) ||
        (type == HV_INTR_TYPE_OTHER && vector != 0u))
        return false;
    if (has_error_code != (type == HV_INTR_TYPE_HW_EXCEPTION && pushes_error_code(vector)))
        return false;
    if (has_error_code && (error_code >> 16) != 0)
        return false;
    if (is_software(type)) {
        *len = hv_exit_instruction_length(e);
        if (*len == 0 || *len > 15u)
            return false;
    }
    return true;
}

hv_status_t hv_inject_event(struct hv_exit *e, uint32_t vector, uint32_t type,
                            bool has_error_code, uint32_t error_code)
{
    uint32_t info, len = 0;
    hv_status_t st;

    if (!injection_valid(e, vector, type, has_error_code, error_code, &len))
        return HV_STATUS_INVALID_PARAMETER;
    info = vector | (type << HV_INTR_INFO_TYPE_SHIFT) | HV_INTR_INFO_VALID;
    if (has_error_code)
        info |= HV_INTR_INFO_DELIVER_CODE;

    st = hv_vmcs_write32(HV_VMCS_VM_ENTRY_INTR_INFO, info);
    if (hv_success(st) && has_error_code)
        st = hv_vmcs_write32(HV_VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE, error_code);
    /* Software interrupts and exceptions push the address of the next
     * instruction, which the CPU computes from this length (25.8.3). */
    if (hv_success(st) && is_software(type))
        st = hv_vmcs_write32(HV_VMCS_VM_ENTRY_INSTRUCTION_LEN, len);
    if (hv_success(st))
        e->injected = true;
    return st;
}

hv_status_t hv_inject_gp(struct hv_exit *e, uint32_t error_code)
{
    return hv_inject_event(e, HV_VECTOR_GP, HV_INTR_TYPE_HW_EXCEPTION, true, error_code);
}

hv_status_t hv_inject_ud(struct hv_exit *e)
{
    return hv_inject_event(e, HV_VECTOR_UD, HV_INTR_TYPE_HW_EXCEPTION, false, 0);
}

hv_status_t hv_inject_db(struct hv_exit *e, uint64_t dr6_bits)
{
    /* Event injection does not touch DR6: set the status bits the CPU
     * would have set. DR6 is not in the VMCS, the real register is the
     * guest's (SDM Vol. 3C, 27.3.3). */
    /* DR6.RTM is active low: every #DB outside an RTM region sets it, so a
     * guest that cleared it (it may, with RTM) finds it set again, as after
     * a hardware #DB (SDM Vol. 3B, 18.2.3). Without RTM it is fixed at 1. */
    hv_trace_write_dr(6, hv_trace_read_dr(6) | dr6_bits | HV_DR6_RTM);
    return hv_inject_event(e, HV_VECTOR_DB, HV_INTR_TYPE_HW_EXCEPTION, false, 0);
}

hv_status_t hv_inject_pf(struct hv_exit *e, uint64_t cr2, uint32_t error_code)
{
    /* CR2 is not part of the VMCS; VM entry leaves the real one alone. */
    hv_trace_write_cr(2, cr2);
    return hv_inject_event(e, HV_VECTOR_PF, HV_INTR_TYPE_HW_EXCEPTION, true, error_code);
}

hv_status_t hv_inject_nmi(struct hv_exit *e)
{
    return hv_inject_event(e, HV_VECTOR_NMI, HV_INTR_TYPE_NMI, false, 0);
}
