/* SPDX-License-Identifier: MIT */
#include "lib.h"

/* A word at a time: the event engine clears and copies records, payloads
 * and the script environment (hundreds of bytes) inside VM exits, where a
 * byte loop cost ~1,400 instructions per script action (callgrind).
 * may_alias + aligned(1): any buffer, any alignment (x86 allows unaligned
 * access; other targets get byte accesses from the compiler). volatile
 * stores keep the compiler from turning the loops back into memset or
 * memcpy calls, which the freestanding core cannot link against. */
typedef uint64_t __attribute__((may_alias, aligned(1))) lib_word;

void hv_lib_zero(void *dst, size_t n)
{
    volatile lib_word *w = (volatile lib_word *)dst;
    volatile uint8_t *d;

    for (; n >= sizeof(lib_word); n -= sizeof(lib_word))
        *w++ = 0;
    d = (volatile uint8_t *)w;
    while (n--)
        *d++ = 0;
}

/* Not for overlapping buffers (no caller has them). */
void hv_lib_copy(void *dst, const void *src, size_t n)
{
    volatile lib_word *dw = (volatile lib_word *)dst;
    const lib_word *sw = (const lib_word *)src;
    volatile uint8_t *d;
    const uint8_t *s;

    for (; n >= sizeof(lib_word); n -= sizeof(lib_word))
        *dw++ = *sw++;
    d = (volatile uint8_t *)dw;
    s = (const uint8_t *)sw;
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
