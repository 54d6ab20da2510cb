/* Shared helpers for the cmocka unit tests. */
#ifndef HVCORE_TEST_SUPPORT_H
#define HVCORE_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hvcore/hvcore.h>
#include <hvcore/testing/mock.h>

/* Route mock failures (unseeded VMCS reads, width mismatches, PRE-LAUNCH
 * calls inside an exit, OS panics) into the running cmocka test. */
void support_fail_on_mock_failure(void);
/* Count mock failures instead, for tests that expect one. */
void support_count_mock_failures(void);

/* Fresh mock machine with `ncpus` cores of `profile`, failures fatal. */
int support_setup_machine(uint32_t ncpus, enum hv_mock_profile profile);
/* Create + start a hypervisor on the mock machine; asserts success. */
struct hv *support_start_hv(void);
/* Stop + destroy; asserts no allocation is left. */
void support_stop_hv(struct hv *hv);
/* A field of `cpu`'s current VMCS, peeked (not counted, no re-binding);
 * fails the test if it was never written. */
uint64_t support_field_on(uint32_t cpu, uint32_t field);

#endif
