/* SPDX-License-Identifier: MIT */
/*
 * Internal helpers of the freestanding core: no libc exists here, so the
 * few byte and text operations the core needs live in lib.c.
 */
#ifndef HVCORE_SRC_LIB_H
#define HVCORE_SRC_LIB_H

#include <stddef.h>
#include <stdint.h>
#include <hvcore/os.h>
#include <hvcore/status.h>

void hv_lib_zero(void *dst, size_t n);
/* Not for overlapping buffers. */
void hv_lib_copy(void *dst, const void *src, size_t n);

/* A bounded text builder for log lines; truncates, always NUL-terminated. */
struct hv_sb {
    char *buf;
    size_t cap;
    size_t len;
};
void hv_sb_init(struct hv_sb *sb, char *buf, size_t cap);
void hv_sb_str(struct hv_sb *sb, const char *s);
void hv_sb_hex(struct hv_sb *sb, uint64_t v);   /* "0x1f" */
void hv_sb_dec(struct hv_sb *sb, uint64_t v);
/* "<name> (0xC0000010)" */
void hv_sb_status(struct hv_sb *sb, hv_status_t st);

/* Log through the OS vtable if it has a log member. ROOT-SAFE. */
void hv_lib_log(const struct hv_os_ops *os, enum hv_log_level level, const char *msg);

/* Little-endian 32-bit fields of wire formats (link frames, debugger
 * messages), byte by byte: no alignment or host byte order assumed. */
static inline void hv_lib_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t hv_lib_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
