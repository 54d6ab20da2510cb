/* SPDX-License-Identifier: MIT */
/*
 * hv_code_check & co. (hvcore/client/code_check.h) in a build without the
 * Zydis decoder: hvcore::client for Windows (mingw-w64), as Debian ships
 * Zydis for Linux only. Custom code runs in VMX root at CPL0 and is armed
 * only after the whole-buffer check, which needs a decoder, so here every
 * buffer is refused with a sentence that says so (UNSUPPORTED); scripts,
 * conditions written as scripts, breaks and every other command work.
 * CMake compiles this file instead of code_check.c when Zydis is absent.
 */
#include <hvcore/client/code_check.h>

#include <stdio.h>
#include <string.h>

static const char why_not[] = "custom code is not available in this build (no Zydis decoder to check it before "
                              "it runs in VMX root): use a script action";

static hv_status_t refuse(struct hv_code_report *report)
{
    if (report == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    memset(report, 0, sizeof(*report));
    report->status = HV_STATUS_UNSUPPORTED;
    snprintf(report->message, sizeof(report->message), "%s", why_not);
    return HV_STATUS_UNSUPPORTED;
}

hv_status_t hv_code_check(const uint8_t *code, size_t len, enum hv_code_kind kind, struct hv_code_report *report)
{
    (void)code, (void)len, (void)kind;
    return refuse(report);
}

hv_status_t hv_code_prepare(const uint8_t *body, size_t len, enum hv_code_kind kind, uint8_t *out, size_t out_size,
                            size_t *out_len, struct hv_code_report *report)
{
    (void)body, (void)len, (void)kind, (void)out, (void)out_size;
    if (out_len)
        *out_len = 0;
    return refuse(report);
}

size_t hv_code_disassemble(const uint8_t *code, size_t len, char *out, size_t out_size)
{
    (void)code, (void)len;
    return (size_t)snprintf(out, out_size, "(no disassembler in this build)\n");
}

size_t hv_code_disassemble_prepared(const uint8_t *code, size_t len, size_t body_len, char *out, size_t out_size)
{
    (void)body_len;
    return hv_code_disassemble(code, len, out, out_size);
}

size_t hv_code_disassemble_one(const uint8_t *code, size_t len, uint64_t address, unsigned bits, char *out,
                               size_t out_size)
{
    (void)code, (void)len, (void)address, (void)bits;
    if (out && out_size)
        snprintf(out, out_size, "(no disassembler in this build)");
    return 0;
}
