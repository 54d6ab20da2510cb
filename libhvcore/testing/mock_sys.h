/* SPDX-License-Identifier: MIT */
/*
 * Page memory for the mock machine, the only thing it needs from the OS
 * beyond C11 and pthreads: page-aligned allocation (C11 aligned_alloc;
 * Windows' CRT has none, its _aligned_malloc needs _aligned_free) and
 * protection changes for custom code (mprotect / VirtualProtect).
 */
#ifndef HVCORE_MOCK_SYS_H
#define HVCORE_MOCK_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#ifdef _WIN32
#include <malloc.h>
#include <windows.h>

static inline void *mock_page_alloc(size_t bytes)
{
    return _aligned_malloc(bytes, 4096);
}

static inline void mock_page_free(void *p)
{
    _aligned_free(p);
}

/* Read+execute (code) or read+write (back to data): 0 or -1. */
static inline int mock_page_protect(void *p, size_t bytes, bool exec)
{
    DWORD old;

    return VirtualProtect(p, bytes, exec ? PAGE_EXECUTE_READ : PAGE_READWRITE, &old) ? 0 : -1;
}
#else
#include <sys/mman.h>

static inline void *mock_page_alloc(size_t bytes)
{
    return aligned_alloc(4096, bytes);
}

static inline void mock_page_free(void *p)
{
    free(p);
}

static inline int mock_page_protect(void *p, size_t bytes, bool exec)
{
    return mprotect(p, bytes, exec ? PROT_READ | PROT_EXEC : PROT_READ | PROT_WRITE);
}
#endif

#endif
