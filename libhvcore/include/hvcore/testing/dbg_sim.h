/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — a target in Debugger Mode on the mock machine, for
 * clients and tests that talk to the stub (hvcore/debugger.h) as a remote
 * debugger would.
 *
 * hv_mock_dbg_sim_start() builds the mock machine (hv_mock_init), creates
 * and starts a hypervisor with hv_config.debug_port set, attaches the fake
 * 16550 (hvcore/testing/mock.h) to the caller's descriptor (or to the
 * in-memory queues), and runs one thread per core that plays the guest:
 * it counts guest steps, takes the NMIs sent to its CPU as NMI exits, takes
 * NMI-window exits while that control is on (counting the NMIs injected
 * into the guest), a VMX-preemption-timer exit every millisecond on the
 * UART core, and the DR accesses asked for with hv_mock_dbg_sim_dr_access.
 * A further thread plays the OS timer: it calls hv_debugger_apply_events
 * when event changes wait. One sim per process (the mock machine is
 * global); not for use together with other mock machines.
 */
#ifndef HVCORE_TESTING_DBG_SIM_H
#define HVCORE_TESTING_DBG_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include "../hv.h"
#include "../status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hv_mock_dbg_sim;

/* Guest memory of the sim: one set of 4-level page tables (GUEST_CR3 of
 * every core) maps a code page and a data page. Core N's GUEST_RIP is
 * HV_MOCK_DBG_SIM_CODE_GVA + 16 * N, where its next DR access is written as
 * MOV RAX, DRn (0F 21 /r) followed by NOPs. The data page holds byte i & 0xFF
 * at offset i. Everything else is unmapped (reads fault). */
#define HV_MOCK_DBG_SIM_CODE_GVA 0xFFFFF80000001000ull
#define HV_MOCK_DBG_SIM_DATA_GVA 0xFFFFF80000002000ull
#define HV_MOCK_DBG_SIM_CODE_GPA 0x100000ull
#define HV_MOCK_DBG_SIM_DATA_GPA 0x101000ull

struct hv_mock_dbg_sim_config {
    uint32_t size;              /* sizeof(struct hv_mock_dbg_sim_config) */
    uint32_t ncores;            /* 1 .. 16 */
    /* The line: the fake UART's TX bytes are written to it, bytes read from
     * it are its RX (set O_NONBLOCK on it; the caller keeps it open until
     * hv_mock_dbg_sim_stop). -1: the in-memory queues
     * (hv_mock_uart_host_write / hv_mock_uart_host_read). */
    int fd;
    uint16_t port;              /* I/O port of the UART (0x3F8) */
    uint32_t baud;              /* hv_config.debug_baud (0 = 115200) */
    uint32_t halt_timeout_ms;   /* hv_config.debug_halt_timeout_ms (0 = 100) */
    /* A core whose guest never exits (an NMI never reaches it): it is
     * reported as not halted. UINT32_MAX = none. */
    uint32_t stuck_core;
    /* NMIs through the x2APIC ICR (IA32_APIC_BASE[10] set); false: xAPIC
     * without a mapping, so cores halt only at their next exit. */
    bool x2apic;
};

/* Defaults: 2 cores, fd -1, port 0x3F8, no stuck core, x2APIC. Context: any. */
void hv_mock_dbg_sim_config_init(struct hv_mock_dbg_sim_config *cfg);
/* Start the sim. SUCCESS; INVALID_PARAMETER (NULL, size, ncores); what
 * hv_create/hv_start return; INSUFFICIENT_RESOURCES. Context: a test thread. */
hv_status_t hv_mock_dbg_sim_start(const struct hv_mock_dbg_sim_config *cfg, struct hv_mock_dbg_sim **out);
/* Stop the threads (a halted machine is released as by GO first), stop and
 * destroy the hypervisor, detach the UART, free. NULL is ignored. Context: a test thread. */
void hv_mock_dbg_sim_stop(struct hv_mock_dbg_sim *sim);
/* The hypervisor (for hv_event_add etc. while it runs). Context: any. */
struct hv *hv_mock_dbg_sim_hv(struct hv_mock_dbg_sim *sim);
/* Make `core`'s guest execute MOV RAX, DR<dr> with process `pid` current
 * (a MOV-DR exit, when an event enabled MOV-DR exiting there). Returns
 * at once; the core's thread takes the exit. SUCCESS or INVALID_PARAMETER.
 * Context: any. */
hv_status_t hv_mock_dbg_sim_dr_access(struct hv_mock_dbg_sim *sim, uint32_t core, uint64_t pid, uint32_t dr);
/* Guest progress of `core`: steps taken outside VM exits (it stops growing
 * while the core is halted). Context: any. */
uint64_t hv_mock_dbg_sim_guest_steps(struct hv_mock_dbg_sim *sim, uint32_t core);
/* NMIs delivered (injected) into `core`'s guest so far. Context: any. */
uint64_t hv_mock_dbg_sim_guest_nmis(struct hv_mock_dbg_sim *sim, uint32_t core);
/* DR accesses `core`'s guest completed (exits taken). Context: any. */
uint64_t hv_mock_dbg_sim_dr_done(struct hv_mock_dbg_sim *sim, uint32_t core);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_TESTING_DBG_SIM_H */
