/* SPDX-License-Identifier: MIT */
/*
 * hvcore::testing — fake guest physical memory and the fault-safe copies.
 *
 * Guest-physical pages are backed on demand by hv_mock_gmem_page(); the
 * fake OS's phys_to_virt returns the backing for such an address (identity
 * for everything else, the heap the fake OS allocates from). The mock's
 * hv_arch_read_safe/hv_arch_write_safe copy from/to a backed page or a live
 * fake-OS allocation and report ACCESS_VIOLATION for anything else, or for
 * a page marked faulting: what the real backend's exception-table fixup
 * reports for physical memory the OS does not map.
 *
 * hv_mock_gmem_map() builds the guest's paging structures in that memory
 * (tables come from a private range of guest-physical addresses), so the
 * core's page walk (exit/guest_mem.c) runs against real entry formats.
 */
#define _POSIX_C_SOURCE 200809L

#include <hvcore/testing/mock.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

struct gmem_page {
    uint64_t pa;          /* 4 KiB aligned */
    uint8_t *data;
    bool fault;
};

static struct {
    pthread_mutex_t lock;
    struct gmem_page pages[HV_MOCK_GMEM_PAGES];
    uint32_t count;
    uint64_t next_table_pa;
    uint64_t reads, faults;
} g_gmem = { .lock = PTHREAD_MUTEX_INITIALIZER, .next_table_pa = HV_MOCK_GMEM_TABLE_BASE };

#define PAGE_MASK_ (~(uint64_t)0xFFF)

static struct gmem_page *find_locked(uint64_t pa)
{
    uint32_t i;

    pa &= PAGE_MASK_;
    for (i = 0; i < g_gmem.count; i++) {
        if (g_gmem.pages[i].pa == pa)
            return &g_gmem.pages[i];
    }
    return NULL;
}

void hv_mocki_gmem_reset(void)
{
    uint32_t i;

    pthread_mutex_lock(&g_gmem.lock);
    for (i = 0; i < g_gmem.count; i++)
        free(g_gmem.pages[i].data);
    g_gmem.count = 0;
    g_gmem.next_table_pa = HV_MOCK_GMEM_TABLE_BASE;
    g_gmem.reads = 0;
    g_gmem.faults = 0;
    pthread_mutex_unlock(&g_gmem.lock);
}

void *hv_mock_gmem_page(uint64_t pa)
{
    struct gmem_page *p;
    void *data = NULL;

    pthread_mutex_lock(&g_gmem.lock);
    p = find_locked(pa);
    if (p != NULL) {
        data = p->data;
    } else if (g_gmem.count < HV_MOCK_GMEM_PAGES) {
        data = calloc(1, 4096);
        if (data != NULL) {
            p = &g_gmem.pages[g_gmem.count++];
            p->pa = pa & PAGE_MASK_;
            p->data = data;
            p->fault = false;
        }
    }
    pthread_mutex_unlock(&g_gmem.lock);
    if (data == NULL)
        hv_mocki_fail("hv_mock_gmem_page(0x%llx): out of fake guest pages (%u)",
                      (unsigned long long)pa, HV_MOCK_GMEM_PAGES);
    return data;
}

bool hv_mock_gmem_write(uint64_t pa, const void *src, size_t len)
{
    const uint8_t *s = src;

    while (len > 0) {
        size_t off = (size_t)(pa & 0xFFF);
        size_t n = 4096 - off < len ? 4096 - off : len;
        uint8_t *page = hv_mock_gmem_page(pa);

        if (page == NULL)
            return false;
        memcpy(page + off, s, n);
        s += n;
        pa += n;
        len -= n;
    }
    return true;
}

bool hv_mock_gmem_read(uint64_t pa, void *dst, size_t len)
{
    uint8_t *d = dst;

    while (len > 0) {
        size_t off = (size_t)(pa & 0xFFF);
        size_t n = 4096 - off < len ? 4096 - off : len;
        struct gmem_page *p;

        pthread_mutex_lock(&g_gmem.lock);
        p = find_locked(pa);
        if (p != NULL)
            memcpy(d, p->data + off, n);
        pthread_mutex_unlock(&g_gmem.lock);
        if (p == NULL)
            return false;
        d += n;
        pa += n;
        len -= n;
    }
    return true;
}

bool hv_mock_gmem_write64(uint64_t pa, uint64_t value)
{
    return hv_mock_gmem_write(pa, &value, sizeof(value));
}

void hv_mock_gmem_set_fault(uint64_t pa, bool fault)
{
    struct gmem_page *p;

    if (hv_mock_gmem_page(pa) == NULL)
        return;
    pthread_mutex_lock(&g_gmem.lock);
    p = find_locked(pa);
    if (p != NULL)
        p->fault = fault;
    pthread_mutex_unlock(&g_gmem.lock);
}

uint64_t hv_mock_gmem_new_table(void)
{
    uint64_t pa;

    pthread_mutex_lock(&g_gmem.lock);
    pa = g_gmem.next_table_pa;
    g_gmem.next_table_pa += 4096;
    pthread_mutex_unlock(&g_gmem.lock);
    return hv_mock_gmem_page(pa) != NULL ? pa : 0;
}

uint64_t hv_mock_gmem_reads(void)
{
    uint64_t n;

    pthread_mutex_lock(&g_gmem.lock);
    n = g_gmem.reads;
    pthread_mutex_unlock(&g_gmem.lock);
    return n;
}

uint64_t hv_mock_gmem_faults(void)
{
    uint64_t n;

    pthread_mutex_lock(&g_gmem.lock);
    n = g_gmem.faults;
    pthread_mutex_unlock(&g_gmem.lock);
    return n;
}

/* The host pointer phys_to_virt gives for a backed guest page, else NULL. */
void *hv_mocki_gmem_virt(uint64_t pa)
{
    struct gmem_page *p;
    void *v = NULL;

    pthread_mutex_lock(&g_gmem.lock);
    p = find_locked(pa);
    if (p != NULL)
        v = p->data + (pa & 0xFFF);
    pthread_mutex_unlock(&g_gmem.lock);
    return v;
}

/* ---- Paging structures ------------------------------------------------------ */

static uint64_t entry_get(uint64_t table, uint32_t index, bool wide)
{
    uint64_t v = 0;

    (void)hv_mock_gmem_read(table + (uint64_t)index * (wide ? 8u : 4u), &v, wide ? 8u : 4u);
    return v;
}

static void entry_set(uint64_t table, uint32_t index, bool wide, uint64_t v)
{
    (void)hv_mock_gmem_write(table + (uint64_t)index * (wide ? 8u : 4u), &v, wide ? 8u : 4u);
}

/* The table an entry points to, made (present, writable, user) if missing. */
static uint64_t next_table(uint64_t table, uint32_t index, bool wide)
{
    uint64_t e = entry_get(table, index, wide);
    uint64_t t;

    if (e & 1u)
        return e & (wide ? 0x000FFFFFFFFFF000ull : 0xFFFFF000ull);
    t = hv_mock_gmem_new_table();
    if (t == 0)
        return 0;
    entry_set(table, index, wide, t | 0x7u);
    return t;
}

hv_status_t hv_mock_gmem_map(enum hv_mock_paging mode, uint64_t root, uint64_t va, uint64_t pa,
                             uint64_t size, uint64_t flags)
{
    uint64_t t = root;
    uint64_t pflags = flags | 1u;          /* present unless the caller clears it later */
    bool wide = mode != HV_MOCK_PAGING_32;
    int level;

    if (root == 0 || ((root & 0xFFF) != 0 && mode != HV_MOCK_PAGING_PAE))
        return HV_STATUS_INVALID_PARAMETER;
    switch (mode) {
    case HV_MOCK_PAGING_32:
        if (size == 4096) {
            t = next_table(t, (uint32_t)(va >> 22) & 0x3FF, false);
            if (t == 0)
                return HV_STATUS_INSUFFICIENT_RESOURCES;
            entry_set(t, (uint32_t)(va >> 12) & 0x3FF, false, (pa & 0xFFFFF000u) | pflags);
            return HV_STATUS_SUCCESS;
        }
        if (size == (4u << 20)) {      /* PSE-36: PA bits 39:32 in PDE bits 20:13 */
            entry_set(t, (uint32_t)(va >> 22) & 0x3FF, false,
                      (pa & 0xFFC00000u) | (((pa >> 32) & 0xFF) << 13) | pflags | 0x80u);
            return HV_STATUS_SUCCESS;
        }
        return HV_STATUS_INVALID_PARAMETER;
    case HV_MOCK_PAGING_PAE: {
        /* CR3 bits 31:5 name four 8-byte PDPTEs (no R/W/U bits in them). */
        uint64_t pdpte_pa = (root & 0xFFFFFFE0u) + ((va >> 30) & 3u) * 8u;
        uint64_t e = 0;

        (void)hv_mock_gmem_read(pdpte_pa, &e, 8);
        if (!(e & 1u)) {
            uint64_t nt = hv_mock_gmem_new_table();
            if (nt == 0)
                return HV_STATUS_INSUFFICIENT_RESOURCES;
            e = nt | 1u;
            (void)hv_mock_gmem_write(pdpte_pa, &e, 8);
        }
        t = e & 0x000FFFFFFFFFF000ull;
        if (size == (2u << 20)) {
            entry_set(t, (uint32_t)(va >> 21) & 0x1FF, true, (pa & 0x000FFFFFFFE00000ull) | pflags | 0x80u);
            return HV_STATUS_SUCCESS;
        }
        if (size != 4096)
            return HV_STATUS_INVALID_PARAMETER;
        t = next_table(t, (uint32_t)(va >> 21) & 0x1FF, true);
        if (t == 0)
            return HV_STATUS_INSUFFICIENT_RESOURCES;
        entry_set(t, (uint32_t)(va >> 12) & 0x1FF, true, (pa & 0x000FFFFFFFFFF000ull) | pflags);
        return HV_STATUS_SUCCESS;
    }
    case HV_MOCK_PAGING_4LEVEL:
    case HV_MOCK_PAGING_5LEVEL: {
        int top = mode == HV_MOCK_PAGING_5LEVEL ? 5 : 4;
        int leaf = size == 4096 ? 1 : size == (2u << 20) ? 2 : size == (1u << 30) ? 3 : 0;

        if (leaf == 0)
            return HV_STATUS_INVALID_PARAMETER;
        for (level = top; level > leaf; level--) {
            t = next_table(t, (uint32_t)(va >> (12 + 9 * (level - 1))) & 0x1FF, wide);
            if (t == 0)
                return HV_STATUS_INSUFFICIENT_RESOURCES;
        }
        entry_set(t, (uint32_t)(va >> (12 + 9 * (leaf - 1))) & 0x1FF, true,
                  (pa & 0x000FFFFFFFFFF000ull & ~(size - 1)) | pflags | (leaf > 1 ? 0x80u : 0));
        return HV_STATUS_SUCCESS;
    }
    }
    return HV_STATUS_INVALID_PARAMETER;
}

/* ---- The arch seam's fault-safe copies ---------------------------------------- */

/* May [p, p+len) be touched? A backed, non-faulting guest page (the chunk
 * must stay inside it) or a live fake-OS allocation. */
static bool accessible(const void *p, uint64_t len)
{
    uintptr_t a = (uintptr_t)p;
    uint32_t i;
    bool ok = false;

    pthread_mutex_lock(&g_gmem.lock);
    for (i = 0; i < g_gmem.count; i++) {
        uintptr_t base = (uintptr_t)g_gmem.pages[i].data;
        if (a >= base && a - base < 4096) {
            ok = !g_gmem.pages[i].fault && len <= 4096 - (a - base);
            break;
        }
    }
    if (i == g_gmem.count)
        ok = hv_mocki_os_owns(p, len);
    if (ok)
        g_gmem.reads++;
    else
        g_gmem.faults++;
    pthread_mutex_unlock(&g_gmem.lock);
    return ok;
}

hv_status_t hv_arch_read_safe(void *dst, const void *src, uint64_t len)
{
    if (len == 0)
        return HV_STATUS_SUCCESS;
    if (!accessible(src, len))
        return HV_STATUS_ACCESS_VIOLATION;
    memcpy(dst, src, (size_t)len);
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_arch_write_safe(void *dst, const void *src, uint64_t len)
{
    if (len == 0)
        return HV_STATUS_SUCCESS;
    if (!accessible(dst, len))
        return HV_STATUS_ACCESS_VIOLATION;
    memcpy(dst, src, (size_t)len);
    return HV_STATUS_SUCCESS;
}
