/* SPDX-License-Identifier: MIT */
/*
 * The Debugger Mode stub's hooks into the rest of the core (stub.c). All
 * are no-ops, or not called, when hv->dbg is NULL (hv_config.debug_port 0).
 */
#ifndef HVCORE_SRC_DEBUGGER_INTERNAL_H
#define HVCORE_SRC_DEBUGGER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <hvcore/event.h>
#include <hvcore/exit.h>
#include <hvcore/hv.h>

/* Allocate the stub's state when cfg.debug_port is set (else SUCCESS and
 * nothing). SUCCESS or INSUFFICIENT_RESOURCES. Context: PRE-LAUNCH. */
hv_status_t hv_debugger_create(struct hv *hv);
/* Free it. Context: PRE-LAUNCH. */
void hv_debugger_destroy(struct hv *hv);
/* Program the UART (logged when absent: the stub then never answers).
 * Context: PRE-LAUNCH, before the cores launch. */
void hv_debugger_start(struct hv *hv);
/* On each core before its launch: its APIC ID. Context: PRE-LAUNCH, on the core. */
void hv_debugger_core_init(struct hv_vcpu *vcpu);
/* The VMX-preemption-timer value of `vcpu`'s VMCS, 0 = no timer on this
 * core (not in Debugger Mode, not the UART core, or no timer). Context: any. */
uint32_t hv_debugger_timer_value(const struct hv_vcpu *vcpu);
/* An NMI reached `vcpu` (NMI exit, or in VMX root): true if it was the
 * stub's halting NMI (the guest must not get it): one per NMI the owner
 * sent. Context: ROOT-SAFE. */
bool hv_debugger_nmi_is_ours(struct hv_vcpu *vcpu);
/* After an NMI exit in Debugger Mode: end the NMI blocking the exit left
 * (hv_arch_unblock_nmi). Context: ROOT-SAFE, in the NMI exit. */
void hv_debugger_nmi_exit_done(struct hv_vcpu *vcpu);
/* At the end of every exit that resumes the guest, after its write-back:
 * halt here when asked to. Context: ROOT-SAFE. */
void hv_debugger_exit_end(struct hv_vcpu *vcpu);
/* A break action fired on the current core. Context: ROOT-SAFE. */
void hv_debugger_break(struct hv *hv, const struct hv_event_access *access);
/* The VMX-preemption-timer exit (reason 52): poll the line for a request.
 * Context: ROOT-SAFE. */
enum hv_exit_action hv_exit_preemption_timer(struct hv_exit *e);

#endif
