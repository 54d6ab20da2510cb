/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Linux's half of the arch backend's fault fixups: outside VMX root the
 * kernel's IDT is active, so every fault-safe instruction is also listed
 * in the kernel's exception table (the module loader registers it).
 */
#ifndef HV_PLATFORM_EXTABLE_H
#define HV_PLATFORM_EXTABLE_H
#include <asm/asm.h>
#define HV_PLATFORM_EXTABLE(insn_label, fixup_label) _ASM_EXTABLE(insn_label, fixup_label)
#ifdef __ASSEMBLY__
/* Returns go through the kernel's return thunk (RETHUNK builds). */
#include <linux/linkage.h>
#define HV_PLATFORM_RET RET
#endif
#endif
