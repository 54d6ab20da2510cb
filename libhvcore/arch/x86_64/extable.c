/* SPDX-License-Identifier: MIT */
/*
 * Exception-table lookup (layout and protocol: extable.h). A linear scan:
 * the table has one entry per fault site of fault_safe.S (a handful), and
 * it only runs when something faulted.
 */
#include <stdbool.h>
#include <stdint.h>

#include "arch_internal.h"
#include "extable.h"

static inline HV_NOTRACE uint64_t extable_addr(const int32_t *field)
{
    return (uint64_t)(uintptr_t)field + (uint64_t)(int64_t)*field;
}

HV_NOTRACE bool hv_arch_extable_fixup(uint64_t *rip)
{
    const struct hv_extable_entry *e;

    for (e = hv_arch_extable_begin; e < hv_arch_extable_end; e++) {
        if (extable_addr(&e->insn) == *rip) {
            *rip = extable_addr(&e->fixup);
            return true;
        }
    }
    return false;
}
