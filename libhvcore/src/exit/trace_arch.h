/* SPDX-License-Identifier: MIT */
/*
 * The CPU accesses of exit handlers, as the exit recording (trace.h) sees
 * them: each calls the arch backend and, while a recording is armed,
 * notes what the handler read from the CPU or did to it. Off, one load
 * and one predictable branch more than the bare hv_arch_* call.
 */
#ifndef HVCORE_SRC_EXIT_TRACE_ARCH_H
#define HVCORE_SRC_EXIT_TRACE_ARCH_H

#include <hvcore/arch.h>
#include <hvcore/trace.h>
#include <hvcore/vmcs.h>

/* Note one CPU access for the current core's recording (trace.c).
 * Context: ROOT-SAFE. */
void hv_trace_note_io(uint32_t kind, uint32_t key, uint32_t key2, hv_status_t status, uint64_t v0, uint64_t v1);

/* The exit runs code the record cannot hold (trace.h, HV_TRACE_EXIT_OPAQUE).
 * Context: ROOT-SAFE. */
void hv_trace_note_opaque(void);

static inline bool hv_trace_on_(void)
{
    return __builtin_expect(__atomic_load_n(&hv_trace_armed, __ATOMIC_RELAXED) != 0, 0);
}

static inline void hv_trace_opaque(void)
{
    if (hv_trace_on_())
        hv_trace_note_opaque();
}

static inline void hv_trace_cpuid(uint32_t leaf, uint32_t subleaf, struct hv_cpuid_regs *out)
{
    hv_arch_cpuid(leaf, subleaf, out);
    if (hv_trace_on_())
        hv_trace_note_io(HV_TRACE_IO_CPUID, leaf, subleaf, HV_STATUS_SUCCESS,
                         out->eax | (uint64_t)out->ebx << 32, out->ecx | (uint64_t)out->edx << 32);
}

static inline hv_status_t hv_trace_rdmsr_safe(uint32_t msr, uint64_t *value)
{
    hv_status_t st = hv_arch_rdmsr_safe(msr, value);

    if (hv_trace_on_())
        hv_trace_note_io(HV_TRACE_IO_RDMSR, msr, 0, st, hv_success(st) ? *value : 0, 0);
    return st;
}

static inline hv_status_t hv_trace_wrmsr_safe(uint32_t msr, uint64_t value)
{
    hv_status_t st = hv_arch_wrmsr_safe(msr, value);

    if (hv_trace_on_())
        hv_trace_note_io(HV_TRACE_IO_WRMSR, msr, 0, st, value, 0);
    return st;
}

static inline uint64_t hv_trace_read_dr(uint32_t dr)
{
    uint64_t v = hv_arch_read_dr(dr);

    if (hv_trace_on_())
        hv_trace_note_io(HV_TRACE_IO_READ_DR, dr, 0, HV_STATUS_SUCCESS, v, 0);
    return v;
}

static inline void hv_trace_write_dr(uint32_t dr, uint64_t value)
{
    hv_arch_write_dr(dr, value);
    if (hv_trace_on_())
        hv_trace_note_io(HV_TRACE_IO_WRITE_DR, dr, 0, HV_STATUS_SUCCESS, value, 0);
}

static inline uint64_t hv_trace_read_cr(uint32_t cr)
{
    uint64_t v = hv_arch_read_cr(cr);

    if (hv_trace_on_())
        hv_trace_note_io(HV_TRACE_IO_READ_CR, cr, 0, HV_STATUS_SUCCESS, v, 0);
    return v;
}

static inline void hv_trace_write_cr(uint32_t cr, uint64_t value)
{
    hv_arch_write_cr(cr, value);
    if (hv_trace_on_())
        hv_trace_note_io(HV_TRACE_IO_WRITE_CR, cr, 0, HV_STATUS_SUCCESS, value, 0);
}

static inline hv_status_t hv_trace_xsetbv_safe(uint32_t xcr, uint64_t value)
{
    hv_status_t st = hv_arch_xsetbv_safe(xcr, value);

    if (hv_trace_on_())
        hv_trace_note_io(HV_TRACE_IO_XSETBV, xcr, 0, st, value, 0);
    return st;
}

#endif
