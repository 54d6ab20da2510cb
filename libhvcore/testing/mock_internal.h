/* SPDX-License-Identifier: MIT */
/* Interfaces shared by the mock backend's files (not installed: SDK users
 * see only hvcore/testing/mock.h). Each function is defined in exactly one
 * of mock_machine.c, mock_vmcs.c, mock_exit.c and mock_os.c. */
#ifndef HVCORE_TESTING_MOCK_INTERNAL_H
#define HVCORE_TESTING_MOCK_INTERNAL_H

#include <hvcore/testing/mock.h>

#if defined(__GNUC__)
#define HV_MOCKI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define HV_MOCKI_PRINTF(f, a)
#endif
/* Per-CPU state the public struct does not show. */
struct hv_mocki_cpu_priv {
    /* The CPU's capabilities (CPUID, capability MSRs) are frozen from its
     * first VMXON on; `supported` (the VMCS field set) is derived then. */
    bool frozen;
    uint8_t supported[HV_VMCS_FIELD_COUNT];
};

/* mock_machine.c */
void hv_mocki_fail(const char *fmt, ...) HV_MOCKI_PRINTF(1, 2);
struct hv_mocki_cpu_priv *hv_mocki_priv(const struct hv_mock_cpu *cpu);
/* Freeze `cpu`'s capabilities and derive its VMCS field set (idempotent). */
void hv_mocki_caps_freeze(struct hv_mock_cpu *cpu);
struct hv_mock_cpu *hv_mocki_cpu(const char *caller);
struct hv_mock_msr *hv_mocki_msr(struct hv_mock_cpu *cpu, uint32_t msr);
uint64_t hv_mocki_cap(const struct hv_mock_cpu *cpu, uint32_t msr);
bool hv_mocki_cpuid_get(const struct hv_mock_cpu *cpu, uint32_t leaf, uint32_t subleaf,
                        struct hv_cpuid_regs *out);
bool hv_mocki_vmx_foreign(const struct hv_mock_cpu *cpu);
uint32_t hv_mocki_maxphyaddr(void);
/* Canonical for `cpu`'s linear-address width (48, or 57 with LA57). */
bool hv_mocki_canonical(const struct hv_mock_cpu *cpu, uint64_t va);
/* The capability MSR VM entry checks a control word against: the TRUE
 * one when IA32_VMX_BASIC[55] is set and it exists, else the plain one. */
uint64_t hv_mocki_ctl_cap(const struct hv_mock_cpu *cpu, uint32_t plain, uint32_t true_msr);
/* mock_vmcs.c */
/* Which VMCS fields a CPU with `cpu`'s capability MSRs implements. */
void hv_mocki_vmcs_derive_fields(const struct hv_mock_cpu *cpu, uint8_t *supported);
void hv_mocki_vmcs_fini(void);
void *hv_mocki_page_new(void);
void hv_mocki_vmcs_init_region(uint64_t pa, uint32_t revision, bool launched);
bool hv_mocki_vmcs_is_initialized(uint64_t pa);
bool hv_mocki_vmcs_launched(uint64_t pa);
void hv_mocki_vmcs_set_launched(uint64_t pa, bool launched);
bool hv_mocki_vmcs_get(const struct hv_mock_cpu *cpu, uint32_t field, uint64_t *value);
void hv_mocki_vmcs_put(struct hv_mock_cpu *cpu, uint32_t field, uint64_t value);
hv_status_t hv_mocki_vmfail(struct hv_mock_cpu *cpu, uint32_t number);
bool hv_mocki_injected(struct hv_mock_cpu *cpu, enum hv_mock_vmx_op op, hv_status_t *st);
/* mock_exit.c: the guest state a VM exit saves and a VM entry loads on
 * their own (SDM Vol. 3C, 28.3.1/28.3.3 and 27.3.2.1). */
void hv_mocki_exit_save(struct hv_mock_cpu *cpu);
/* Replay: put a recorded CPUID answer or MSR into a CPU, frozen or not. */
void hv_mocki_replay_cpuid(struct hv_mock_cpu *cpu, uint32_t leaf, uint32_t subleaf, const struct hv_cpuid_regs *r);
void hv_mocki_replay_msr(struct hv_mock_cpu *cpu, uint32_t msr, uint64_t value, bool gp_read, bool gp_write);
void hv_mocki_entry_load(struct hv_mock_cpu *cpu);
/* mock_os.c */
void hv_mocki_os_reset(void);
void hv_mocki_os_fini(void);
void hv_mocki_log(const char *fmt, ...) HV_MOCKI_PRINTF(1, 2);
/* Is [p, p+len) inside one live fake-OS allocation? */
bool hv_mocki_os_owns(const void *p, uint64_t len);
/* mock_uart.c: an ICR write (x2APIC MSR 0x830) from `from`; NMI reset. */
void hv_mocki_icr_write(struct hv_mock_cpu *from, uint64_t icr);
void hv_mocki_nmi_reset(void);
/* mock_gmem.c */
void hv_mocki_gmem_reset(void);
void *hv_mocki_gmem_virt(uint64_t pa);

#endif
