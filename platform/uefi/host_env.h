/* SPDX-License-Identifier: MIT */
/* Root's own page tables, GDT and TSS (host_env.c). */
#ifndef HVCORE_UEFI_HOST_ENV_H
#define HVCORE_UEFI_HOST_ENV_H

#include "hvcore_uefi.h"

struct hvu_host_cpu {
    void *page;              /* GDT copy at 0, TSS at 0x800 */
    uint64_t old_gdt_base;
    uint16_t old_gdt_limit, old_tr;
    bool loaded;
    bool set_osxsave;        /* we turned CR4.OSXSAVE on */
};

struct hvu_host {
    uint64_t *pt;            /* PML4, PDPT, PDs */
    uint64_t pt_pages;
    uint64_t cr3;
    struct hvu_host_cpu cpu[HVU_MAX_CPUS];
};

EFI_STATUS hvu_host_page_tables(struct hvu *u, struct hvu_host *h);
void hvu_host_page_tables_free(struct hvu *u, struct hvu_host *h);
/* On every CPU: load a GDT copy with a TSS (LGDT, LTR). */
EFI_STATUS hvu_host_cpus_prepare(struct hvu *u, struct hvu_host *h);
/* On every CPU: the firmware's GDT (and TR) again; free the pages. */
void hvu_host_cpus_restore(struct hvu *u, struct hvu_host *h);

#endif
