/* A started hypervisor on 2 fake cores, bound to core 1, ready for exits. */
#ifndef HVCORE_TEST_EXIT_FIXTURE_H
#define HVCORE_TEST_EXIT_FIXTURE_H

#include "support.h"

extern struct hv *fx_hv;
extern struct hv_vcpu *fx_v;

int fx_setup(void **state);
int fx_teardown(void **state);
/* Simulate an exit on core 1. */
enum hv_exit_action fx_exit(uint32_t reason, uint64_t qual, uint32_t len);
uint64_t fx_field(uint32_t field);
/* VM_ENTRY_INTR_INFO if its valid bit is set, else 0. */
uint32_t fx_injected(void);
/* Set the guest's CPL (SS.DPL). */
void fx_set_cpl(uint32_t cpl);

#endif
