/* SPDX-License-Identifier: MIT */
/* Default VM-exit handlers, one module per family; the table in
 * exit_table.c maps exit reasons to them. */
#ifndef HVCORE_SRC_EXIT_HANDLERS_H
#define HVCORE_SRC_EXIT_HANDLERS_H

#include <hvcore/exit.h>

/* Exit recording (trace.c): around every handler while a recording runs. */
void hv_trace_exit_begin(struct hv_vcpu *vcpu);
void hv_trace_exit_end(struct hv_vcpu *vcpu, uint32_t reason, uint32_t action, uint32_t result);
enum hv_exit_action hv_exit_cpuid(struct hv_exit *e);        /* exit_cpuid.c */
enum hv_exit_action hv_exit_rdmsr(struct hv_exit *e);        /* exit_msr.c */
enum hv_exit_action hv_exit_wrmsr(struct hv_exit *e);
enum hv_exit_action hv_exit_cr_access(struct hv_exit *e);    /* exit_cr.c */
enum hv_exit_action hv_exit_mov_dr(struct hv_exit *e);       /* exit_dr.c */
enum hv_exit_action hv_exit_xsetbv(struct hv_exit *e);       /* exit_misc.c */
enum hv_exit_action hv_exit_invd(struct hv_exit *e);
enum hv_exit_action hv_exit_wbinvd(struct hv_exit *e);
enum hv_exit_action hv_exit_inject_ud(struct hv_exit *e);
enum hv_exit_action hv_exit_triple_fault(struct hv_exit *e);
enum hv_exit_action hv_exit_init_signal(struct hv_exit *e);
enum hv_exit_action hv_exit_sipi(struct hv_exit *e);
enum hv_exit_action hv_exit_entry_failure(struct hv_exit *e);
enum hv_exit_action hv_exit_exception_nmi(struct hv_exit *e);
enum hv_exit_action hv_exit_nmi_window(struct hv_exit *e);
enum hv_exit_action hv_exit_vmcall(struct hv_exit *e);       /* exit_vmcall.c */
enum hv_exit_action hv_exit_xsaves(struct hv_exit *e);       /* exit_xsaves.c: 63 and 64 */

/* One more NMI owed to the guest. A CPU holds at most one NMI pending
 * while another is being handled (blocked until IRET), so a guest can
 * never see more than two of a burst (SDM Vol. 3A, 6.7.1); counting more
 * would deliver NMIs that never existed. */
static inline void hv_exit_pend_nmi(struct hv_vcpu *v)
{
    uint32_t n = __atomic_load_n(&v->pending_nmis, __ATOMIC_RELAXED);

    while (n < 2u && !__atomic_compare_exchange_n(&v->pending_nmis, &n, n + 1u, false, __ATOMIC_RELAXED,
                                                  __ATOMIC_RELAXED)) {
    }
}

#endif
