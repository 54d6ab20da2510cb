/* SPDX-License-Identifier: MIT */
/*
 * Default handler of each basic exit reason. A reason absent here (NULL)
 * is one the core's controls never cause; it reaches hv_exit_unexpected().
 */
#include <hvcore/exit.h>

#include "debugger/debugger_internal.h"
#include "exit/exit_handlers.h"

static const hv_exit_handler_fn default_handlers[HV_EXIT_REASON_COUNT] = {
    [HV_EXIT_EXCEPTION_NMI]            = hv_exit_exception_nmi,
    [HV_EXIT_TRIPLE_FAULT]             = hv_exit_triple_fault,
    [HV_EXIT_INIT_SIGNAL]              = hv_exit_init_signal,
    [HV_EXIT_SIPI]                     = hv_exit_sipi,
    [HV_EXIT_NMI_WINDOW]               = hv_exit_nmi_window,
    [HV_EXIT_CPUID]                    = hv_exit_cpuid,
    [HV_EXIT_GETSEC]                   = hv_exit_inject_ud,
    [HV_EXIT_INVD]                     = hv_exit_invd,
    [HV_EXIT_VMCALL]                   = hv_exit_vmcall,
    [HV_EXIT_VMCLEAR]                  = hv_exit_inject_ud,
    [HV_EXIT_VMLAUNCH]                 = hv_exit_inject_ud,
    [HV_EXIT_VMPTRLD]                  = hv_exit_inject_ud,
    [HV_EXIT_VMPTRST]                  = hv_exit_inject_ud,
    [HV_EXIT_VMREAD]                   = hv_exit_inject_ud,
    [HV_EXIT_VMRESUME]                 = hv_exit_inject_ud,
    [HV_EXIT_VMWRITE]                  = hv_exit_inject_ud,
    [HV_EXIT_VMXOFF]                   = hv_exit_inject_ud,
    [HV_EXIT_VMXON]                    = hv_exit_inject_ud,
    [HV_EXIT_CR_ACCESS]                = hv_exit_cr_access,
    [HV_EXIT_MOV_DR]                   = hv_exit_mov_dr,
    [HV_EXIT_RDMSR]                    = hv_exit_rdmsr,
    [HV_EXIT_WRMSR]                    = hv_exit_wrmsr,
    [HV_EXIT_ENTRY_FAIL_GUEST_STATE]   = hv_exit_entry_failure,
    [HV_EXIT_ENTRY_FAIL_MSR_LOADING]   = hv_exit_entry_failure,
    [HV_EXIT_ENTRY_FAIL_MACHINE_CHECK] = hv_exit_entry_failure,
    [HV_EXIT_INVEPT]                   = hv_exit_inject_ud,
    [HV_EXIT_INVVPID]                  = hv_exit_inject_ud,
    [HV_EXIT_WBINVD]                   = hv_exit_wbinvd,
    [HV_EXIT_XSETBV]                   = hv_exit_xsetbv,
    [HV_EXIT_VMFUNC]                   = hv_exit_inject_ud,
    [HV_EXIT_XSAVES]                   = hv_exit_xsaves,
    [HV_EXIT_XRSTORS]                  = hv_exit_xsaves,
    [HV_EXIT_PREEMPTION_TIMER]         = hv_exit_preemption_timer,
};

hv_exit_handler_fn hv_exit_default_handler(uint32_t reason)
{
    if (reason >= HV_EXIT_REASON_COUNT || default_handlers[reason] == NULL)
        return hv_exit_unexpected;
    return default_handlers[reason];
}
