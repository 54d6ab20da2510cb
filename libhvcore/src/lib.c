/* SPDX-License-Identifier: MIT */
#include "lib.h"

void hv_lib_zero(void *dst, size_t n)
{
    /* volatile: keeps the compiler from turning the loop back into a
     * memset call, which the freestanding core cannot link against. */
    volatile uint8_t *d = dst;

    while (n--)
        *d++ = 0;
}

void hv_lib_copy(void *dst, const void *src, size_t n)
{
    volatile uint8_t *d = dst;
    const uint8_t *s = src;

    while (n--)
        *d++ = *s++;
}

void hv_sb_init(struct hv_sb *sb, char *buf, size_t cap)
{
    sb->buf = buf;
    sb->cap = cap;
    sb->len = 0;
    if (cap)
        buf[0] = '\0';
}

static void sb_putc(struct hv_sb *sb, char c)
{
    if (sb->cap == 0 || sb->len + 1 >= sb->cap)
        return;
    sb->buf[sb->len++] = c;
    sb->buf[sb->len] = '\0';
}

void hv_sb_str(struct hv_sb *sb, const char *s)
{
    if (s == NULL)
        s = "(null)";
    while (*s)
        sb_putc(sb, *s++);
}

void hv_sb_hex(struct hv_sb *sb, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;

    hv_sb_str(sb, "0x");
    do {
        tmp[n++] = digits[v & 0xF];
        v >>= 4;
    } while (v && n < 16);
    while (n--)
        sb_putc(sb, tmp[n]);
}

void hv_sb_dec(struct hv_sb *sb, uint64_t v)
{
    char tmp[20];
    int n = 0;

    do {
        tmp[n++] = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v && n < 20);
    while (n--)
        sb_putc(sb, tmp[n]);
}

void hv_sb_status(struct hv_sb *sb, hv_status_t st)
{
    hv_sb_str(sb, hv_status_name(st));
    hv_sb_str(sb, " (");
    hv_sb_hex(sb, st);
    hv_sb_str(sb, ")");
    if (hv_status_is_vm_instruction_error(st)) {
        hv_sb_str(sb, " VM-instruction error ");
        hv_sb_dec(sb, hv_status_vm_instruction_error(st));
        hv_sb_str(sb, ": ");
        hv_sb_str(sb, hv_vm_instruction_error_text(hv_status_vm_instruction_error(st)));
    }
}

void hv_lib_log(const struct hv_os_ops *os, enum hv_log_level level, const char *msg)
{
    if (os != NULL && os->log != NULL)
        os->log(os->ctx, level, msg);
}
