/* The client's custom-code validator (hv_code_check), HyperDbg's body
 * convention (hv_code_prepare appends the ret) and the disassembler:
 * shape (size, decodability, final ret), control transfers, the refused
 * instruction classes, RIP-relative operands, and the report. */
#include "support.h"

#include <hvcore/client/code_check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The client's limit is the core's. */
_Static_assert(HV_CODE_MAX_BYTES == HV_EVENT_MAX_CODE, "client and core disagree on the custom-code limit");

/* "90 90 c3" -> bytes; returns the count. */
static size_t parse_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    char *end;

    for (;;) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        assert_true(n < cap);
        out[n++] = (uint8_t)strtoul(s, &end, 16);
        assert_true(end != s);
        s = end;
    }
    return n;
}

static struct hv_code_report check_hex(const char *hex, enum hv_code_kind kind, hv_status_t *st)
{
    uint8_t buf[64];
    size_t n = parse_hex(hex, buf, sizeof(buf));
    struct hv_code_report r;

    memset(&r, 0xAB, sizeof(r));        /* the checker must fill all of it */
    *st = hv_code_check(buf, n, kind, &r);
    assert_int_equal(*st, r.status);
    assert_non_null(memchr(r.message, '\0', sizeof(r.message)));
    return r;
}

static void expect_ok(const char *hex, enum hv_code_kind kind, uint32_t instructions)
{
    hv_status_t st;
    struct hv_code_report r = check_hex(hex, kind, &st);

    if (st != HV_STATUS_SUCCESS)
        print_error("'%s' refused: %s\n", hex, r.message);
    assert_int_equal(st, HV_STATUS_SUCCESS);
    assert_int_equal(r.instructions, instructions);
    assert_int_equal(r.offset, 0);
}

static void expect_refused(const char *hex, uint32_t offset, const char *needle)
{
    hv_status_t st;
    struct hv_code_report r = check_hex(hex, HV_CODE_ACTION, &st);

    if (st == HV_STATUS_SUCCESS || r.offset != offset || !strstr(r.message, needle))
        print_error("'%s': status %#x offset %u message \"%s\"; wanted offset %u and \"%s\"\n",
                    hex, st, r.offset, r.message, offset, needle);
    assert_int_equal(st, HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(r.offset, offset);
    assert_non_null(strstr(r.message, needle));
}

/* ---- the body convention: hv_code_prepare appends the ret ------------- */

/* `hex` as a body through hv_code_prepare; *st = its status, *out the
 * buffer it built (64 bytes). */
static struct hv_code_report prepare_hex(const char *hex, enum hv_code_kind kind, hv_status_t *st, uint8_t *out,
                                         size_t *out_len)
{
    uint8_t body[64];
    size_t n = parse_hex(hex, body, sizeof(body));
    struct hv_code_report r;

    memset(&r, 0xAB, sizeof(r));
    *st = hv_code_prepare(body, n, kind, out, 64, out_len, &r);
    assert_int_equal(*st, r.status);
    assert_non_null(memchr(r.message, '\0', sizeof(r.message)));
    return r;
}

static void prepare_ok(const char *hex, enum hv_code_kind kind, uint32_t instructions)
{
    uint8_t out[64], body[64];
    size_t n = parse_hex(hex, body, sizeof(body)), len = 0;
    hv_status_t st;
    struct hv_code_report r = prepare_hex(hex, kind, &st, out, &len);

    if (st != HV_STATUS_SUCCESS)
        print_error("body '%s' refused: %s\n", hex, r.message);
    assert_int_equal(st, HV_STATUS_SUCCESS);
    assert_int_equal(r.instructions, instructions);
    /* Exactly the body, then c3. */
    assert_int_equal(len, n + 1);
    assert_memory_equal(out, body, n);
    assert_int_equal(out[n], 0xc3);
}

static void prepare_refused(const char *hex, uint32_t offset, const char *needle)
{
    uint8_t out[64];
    size_t len = 0;
    hv_status_t st;
    struct hv_code_report r = prepare_hex(hex, HV_CODE_ACTION, &st, out, &len);

    if (st == HV_STATUS_SUCCESS || r.offset != offset || !strstr(r.message, needle))
        print_error("body '%s': status %#x offset %u message \"%s\"; wanted offset %u and \"%s\"\n",
                    hex, st, r.offset, r.message, offset, needle);
    assert_int_equal(st, HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(r.offset, offset);
    assert_non_null(strstr(r.message, needle));
}

static void reference_examples_get_a_ret(void **state)
{
    uint8_t out[64];
    size_t len = 0;
    hv_status_t st;
    struct hv_code_report r;

    (void)state;
    /* Given HyperDbg's own example body "90 90 90" (no ret),
     * when it is prepared as custom code and as a condition,
     * then both are accepted as nop nop nop ret. */
    r = prepare_hex("90 90 90", HV_CODE_ACTION, &st, out, &len);
    assert_int_equal(st, HV_STATUS_SUCCESS);
    assert_int_equal(len, 4);
    assert_memory_equal(out, "\x90\x90\x90\xc3", 4);
    assert_int_equal(r.instructions, 4);
    assert_string_equal(r.message, "custom code ok: 4 instructions, 4 bytes (the appended ret included)");
    r = prepare_hex("90 90 90", HV_CODE_CONDITION, &st, out, &len);
    assert_int_equal(st, HV_STATUS_SUCCESS);
    assert_int_equal(r.instructions, 4);
    assert_string_equal(r.message, "condition ok: 4 instructions, 4 bytes (the appended ret included)");
}

static void bodies_that_used_to_need_a_ret(void **state)
{
    (void)state;
    /* Given bodies whose last instruction is not a ret,
     * when prepared, then they run to the appended ret. */
    prepare_ok("c3 90", HV_CODE_ACTION, 3);                     /* ret nop ret */
    prepare_ok("b8 01 00 00 00", HV_CODE_CONDITION, 2);        /* mov eax, 1; ret */
    prepare_ok("48 89 11", HV_CODE_ACTION, 2);                  /* mov [rcx], rdx; ret */
    /* Given a body that already ends in ret, then a second one is
     * appended all the same (never reached, harmless). */
    prepare_ok("90 90 c3", HV_CODE_ACTION, 4);
    prepare_ok("c3", HV_CODE_ACTION, 2);
    prepare_ok("f3 c3", HV_CODE_ACTION, 2);                     /* rep ret; ret */
}

static void branches_may_target_the_appended_ret(void **state)
{
    (void)state;
    prepare_ok("eb 00", HV_CODE_ACTION, 2);                     /* jmp to the ret */
    prepare_ok("74 01 90", HV_CODE_CONDITION, 3);               /* jz over the nop, onto the ret */
    prepare_ok("e8 00 00 00 00", HV_CODE_ACTION, 2);            /* call the ret; ret */
    /* ... but not past it, and the message counts the ret in. */
    prepare_refused("eb 01", 0, "byte 0: jmp to 0x3 leaves the 3-byte code (2 bytes + the appended ret)");
    prepare_refused("eb 10", 0, "jmp to 0x12 leaves the 3-byte code (2 bytes + the appended ret)");
    prepare_refused("48 8b 05 01 00 00 00", 0, "outside the 8-byte code (7 bytes + the appended ret)");
    /* The ret is readable by rip-relative loads like the body. */
    prepare_ok("8a 05 00 00 00 00", HV_CODE_CONDITION, 2);      /* mov al, [rip+0] = the c3 */
}

static void an_incomplete_last_instruction_is_refused(void **state)
{
    (void)state;
    /* Given a body cut in the middle of its last instruction, when the c3
     * is appended it would become part of it: refused, naming it. */
    prepare_refused("b8 01 00 00", 0,
                    "byte 0: the last instruction (b8 01 00 00) is incomplete: with the appended ret it decodes as "
                    "'mov eax, 0xc3000001'");
    prepare_refused("90 f3", 1, "byte 1: the last instruction (f3) is incomplete");
    prepare_refused("90 48", 1, "byte 1: the last instruction (48) is incomplete");
    /* An earlier problem is still reported first. */
    prepare_refused("f4 b8 01", 0, "byte 0: hlt halts the core in VMX root");
    /* Everything the validator refuses stays refused. */
    prepare_refused("0f 01 c1", 0, "vmcall");
    prepare_refused("fa", 0, "cli");
    prepare_refused("ff e0", 0, "indirect jmp");
    prepare_refused("66 c3", 0, "operand-size prefix on ret");
}

static void prepare_limits_and_arguments(void **state)
{
    uint8_t *body = malloc(HV_CODE_MAX_BYTES + 1), *out = malloc(HV_CODE_MAX_BYTES + 1);
    struct hv_code_report r;
    size_t len = 7;

    (void)state;
    assert_non_null(body);
    assert_non_null(out);
    memset(body, 0x90, HV_CODE_MAX_BYTES + 1);
    /* Given a 4095-byte body, then body + ret is exactly the limit. */
    assert_int_equal(hv_code_prepare(body, HV_CODE_MAX_BODY, HV_CODE_ACTION, out, HV_CODE_MAX_BYTES, &len, &r),
                     HV_STATUS_SUCCESS);
    assert_int_equal(len, HV_CODE_MAX_BYTES);
    assert_int_equal(out[HV_CODE_MAX_BYTES - 1], 0xc3);
    assert_int_equal(r.instructions, HV_CODE_MAX_BYTES);
    /* Given a 4096-byte body, then the ret does not fit: a clear error. */
    assert_int_equal(hv_code_prepare(body, HV_CODE_MAX_BYTES, HV_CODE_ACTION, out, HV_CODE_MAX_BYTES + 1, &len, &r),
                     HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(r.message, "custom code of 4096 bytes is too long: at most 4095 bytes, as the ret appended "
                                   "to it must fit in the 4096-byte limit");
    assert_int_equal(len, 0);
    /* Empty, NULL, no room, bad kind, no report. */
    assert_int_equal(hv_code_prepare(body, 0, HV_CODE_CONDITION, out, 8, &len, &r), HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(r.message, "empty condition: give at least one byte (a ret is appended to it)");
    assert_int_equal(hv_code_prepare(NULL, 3, HV_CODE_ACTION, out, 8, &len, &r), HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(r.message, "NULL"));
    assert_int_equal(hv_code_prepare(body, 3, HV_CODE_ACTION, out, 3, &len, &r), HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(r.message, "4 bytes needed"));
    assert_int_equal(hv_code_prepare(body, 3, HV_CODE_ACTION, NULL, 0, &len, &r), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_code_prepare(body, 3, HV_CODE_ACTION, out, 8, NULL, &r), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_code_prepare(body, 3, (enum hv_code_kind)9, out, 8, &len, &r), HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(r.message, "unknown code kind 9"));
    assert_int_equal(hv_code_prepare(body, 3, HV_CODE_ACTION, out, 8, &len, NULL), HV_STATUS_INVALID_PARAMETER);
    /* In place: out == body. */
    body[0] = 0x31;
    body[1] = 0xc0;
    assert_int_equal(hv_code_prepare(body, 2, HV_CODE_CONDITION, body, 3, &len, &r), HV_STATUS_SUCCESS);
    assert_memory_equal(body, "\x31\xc0\xc3", 3);
    free(body);
    free(out);
}

/* ---- shape of a raw buffer (hv_code_check) ----------------------------- */

static void raw_buffer_without_ret_is_refused(void **state)
{
    hv_status_t st;
    struct hv_code_report r = check_hex("90 90 90", HV_CODE_ACTION, &st);

    (void)state;
    /* hv_code_check validates what is armed as is: an SDK user who skips
     * hv_code_prepare must bring the ret, and is told where it comes from. */
    assert_int_equal(st, HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(r.offset, 2);
    assert_int_equal(r.instructions, 3);
    assert_string_equal(r.message, "last instruction must be ret (found nop at byte 2); hv_code_prepare() appends one");
}

static void ending_in_ret_is_accepted(void **state)
{
    (void)state;
    expect_ok("90 90 c3", HV_CODE_ACTION, 3);
    expect_ok("c3", HV_CODE_ACTION, 1);
    expect_ok("f3 c3", HV_CODE_ACTION, 1);          /* rep ret */
    expect_ok("f2 c3", HV_CODE_ACTION, 1);          /* bnd ret */
    expect_ok("c3 90 c3", HV_CODE_ACTION, 3);       /* early return */
    expect_refused("c3 90", 1, "last instruction must be ret (found nop at byte 1)");
}

static void success_report(void **state)
{
    static const uint8_t code[] = { 0x90, 0x90, 0xc3 };
    struct hv_code_report r;

    (void)state;
    assert_int_equal(hv_code_check(code, sizeof(code), HV_CODE_ACTION, &r), HV_STATUS_SUCCESS);
    assert_int_equal(r.status, HV_STATUS_SUCCESS);
    assert_string_equal(r.message, "custom code ok: 3 instructions, 3 bytes");
    assert_int_equal(hv_code_check(code + 2, 1, HV_CODE_CONDITION, &r), HV_STATUS_SUCCESS);
    assert_string_equal(r.message, "condition ok: 1 instruction, 1 byte");
}

static void empty_and_bad_arguments(void **state)
{
    static const uint8_t ret[] = { 0xc3 };
    struct hv_code_report r;

    (void)state;
    assert_int_equal(hv_code_check(ret, 0, HV_CODE_ACTION, &r), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(r.status, HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(r.offset, 0);
    assert_int_equal(r.instructions, 0);
    assert_non_null(strstr(r.message, "empty buffer"));
    assert_int_equal(hv_code_check(NULL, 0, HV_CODE_CONDITION, &r), HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(r.message, "empty buffer: condition needs at least a ret"));
    assert_int_equal(hv_code_check(NULL, 5, HV_CODE_ACTION, &r), HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(r.message, "NULL"));
    assert_int_equal(hv_code_check(ret, 1, (enum hv_code_kind)7, &r), HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(r.message, "unknown code kind 7"));
    assert_int_equal(hv_code_check(ret, 1, HV_CODE_ACTION, NULL), HV_STATUS_INVALID_PARAMETER);
}

static void size_limit(void **state)
{
    uint8_t *buf = malloc(HV_CODE_MAX_BYTES + 1);
    struct hv_code_report r;

    (void)state;
    assert_non_null(buf);
    memset(buf, 0x90, HV_CODE_MAX_BYTES + 1);
    buf[HV_CODE_MAX_BYTES] = 0xc3;
    assert_int_equal(hv_code_check(buf, HV_CODE_MAX_BYTES + 1, HV_CODE_ACTION, &r), HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(r.message, "buffer of 4097 bytes exceeds the 4096-byte limit");
    assert_int_equal(r.instructions, 0);

    /* Exactly the limit is fine, and a backward jump across all of it. */
    buf[HV_CODE_MAX_BYTES - 1] = 0xc3;
    assert_int_equal(hv_code_check(buf, HV_CODE_MAX_BYTES, HV_CODE_ACTION, &r), HV_STATUS_SUCCESS);
    assert_int_equal(r.instructions, HV_CODE_MAX_BYTES);
    buf[HV_CODE_MAX_BYTES - 6] = 0xe9;              /* jmp rel32 to byte 0 */
    buf[HV_CODE_MAX_BYTES - 5] = 0x01;              /* -(4096 - 1) = 0xfffff001 */
    buf[HV_CODE_MAX_BYTES - 4] = 0xf0;
    buf[HV_CODE_MAX_BYTES - 3] = 0xff;
    buf[HV_CODE_MAX_BYTES - 2] = 0xff;
    assert_int_equal(hv_code_check(buf, HV_CODE_MAX_BYTES, HV_CODE_ACTION, &r), HV_STATUS_SUCCESS);
    free(buf);
}

static void undecodable_and_truncated(void **state)
{
    hv_status_t st;
    struct hv_code_report r;

    (void)state;
    /* 06 (push es) and ce (into) do not exist in 64-bit mode. */
    r = check_hex("90 90 90 06 c3", HV_CODE_ACTION, &st);
    assert_int_equal(st, HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(r.offset, 3);
    assert_int_equal(r.instructions, 3);
    assert_string_equal(r.message, "byte 3: undecodable instruction bytes 06 c3");
    expect_refused("ce c3", 0, "byte 0: undecodable instruction bytes ce c3");
    expect_refused("90 0f 04 90 90 90 90 90 90 c3", 1, "undecodable instruction bytes 0f 04 90 90 90 90 ...");

    /* Cut by the end of the buffer: mov r64, r/m64 without its ModRM. */
    r = check_hex("90 48 8b", HV_CODE_ACTION, &st);
    assert_int_equal(st, HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(r.offset, 1);
    assert_string_equal(r.message, "byte 1: truncated instruction (48 8b) runs past the end of the 3-byte buffer");
    /* 0f ff (ud0) wants a ModRM and c4 is a VEX prefix: at the very end
     * Zydis reports both as cut short, not as invalid. */
    expect_refused("c3 0f ff", 1, "truncated instruction (0f ff)");
    expect_refused("c3 c4", 1, "truncated instruction (c4)");
    expect_refused("b8 01 00 00", 0, "truncated instruction (b8 01 00 00)");
}

static void dead_code_is_checked_too(void **state)
{
    (void)state;
    expect_refused("c3 f4 c3", 1, "byte 1: hlt halts the core in VMX root");
}

/* ---- control transfers ------------------------------------------------ */

static void branches_inside_are_accepted(void **state)
{
    (void)state;
    expect_ok("eb 00 c3", HV_CODE_ACTION, 2);                    /* jmp to the ret */
    expect_ok("74 01 90 c3", HV_CODE_ACTION, 3);                 /* jz over the nop */
    /* xor eax,eax; inc eax; cmp eax,5; jnz -> byte 2; ret */
    expect_ok("31 c0 ff c0 83 f8 05 75 f9 c3", HV_CODE_CONDITION, 5);
    expect_ok("e8 01 00 00 00 c3 c3", HV_CODE_ACTION, 3);        /* call a local function */
    expect_ok("0f 84 00 00 00 00 c3", HV_CODE_ACTION, 2);        /* jz rel32 */
    expect_ok("e3 00 c3", HV_CODE_ACTION, 2);                    /* jrcxz */
    expect_ok("e2 fe c3", HV_CODE_ACTION, 2);                    /* loop to itself */
    expect_ok("f2 e9 00 00 00 00 c3", HV_CODE_ACTION, 2);        /* bnd jmp */
}

static void branches_outside_are_refused(void **state)
{
    (void)state;
    expect_refused("eb 10 c3", 0, "byte 0: jmp to 0x12 leaves the 3-byte buffer");
    expect_refused("90 eb fc c3", 1, "byte 1: jmp to -0x1 leaves the 4-byte buffer");
    /* A target exactly at len is outside: there is no code there. */
    expect_refused("74 01 c3", 0, "byte 0: jz to 0x3 leaves the 3-byte buffer");
    expect_refused("90 90 90 90 90 75 01 c3", 5, "byte 5: jnz to 0x8 leaves the 8-byte buffer");
    expect_refused("e8 00 01 00 00 c3", 0, "byte 0: call to 0x105 leaves the 6-byte buffer");
    expect_refused("e8 00 00 00 80 c3", 0, "byte 0: call to -0x7ffffffb leaves the 6-byte buffer");
    expect_refused("e2 05 c3", 0, "byte 0: loop to 0x7 leaves");
    expect_refused("e3 05 c3", 0, "byte 0: jrcxz to 0x7 leaves");
    expect_refused("67 e3 05 c3", 0, "jecxz to 0x8 leaves");
}

static void branch_into_an_instruction_is_refused(void **state)
{
    (void)state;
    /* jmp 3 lands on the f4 (hlt) hidden in mov eax, imm32. */
    expect_refused("eb 01 b8 f4 90 90 90 c3", 0, "byte 0: jmp to 0x3 lands inside the instruction at byte 2");
    /* A target past the first undecodable byte is left to that error. */
    expect_refused("eb 01 c3 06", 3, "byte 3: undecodable instruction bytes 06");
}

static void uncheckable_transfers_are_refused(void **state)
{
    (void)state;
    expect_refused("ff e0 c3", 0, "byte 0: indirect jmp (jmp rax): the target cannot be checked");
    expect_refused("ff d0 c3", 0, "indirect call (call rax)");
    expect_refused("3e ff e0 c3", 0, "indirect jmp");
    expect_refused("ff 25 00 00 00 00 c3", 0, "indirect jmp");
    expect_refused("ff 14 24 c3", 0, "indirect call");
    expect_refused("48 ff 1c 24 c3", 0, "far call");
    expect_refused("ff 2c 24 c3", 0, "far jmp");
    expect_refused("cb", 0, "far return");
    expect_refused("48 cf", 0, "iretq returns through an interrupt frame");
    expect_refused("cc c3", 0, "byte 0: int3 raises an interrupt or exception in VMX root");
    expect_refused("cd 03 c3", 0, "byte 0: int 0x03 raises an interrupt");
    expect_refused("f1 c3", 0, "int1 raises");
    expect_refused("0f 05 c3", 0, "syscall transfers control out of the code");
    expect_refused("0f 34 c3", 0, "sysenter transfers control");
    expect_refused("0f 07 c3", 0, "sysret transfers control");
    expect_refused("0f aa c3", 0, "rsm transfers control");
    expect_refused("f3 0f 01 ec c3", 0, "uiret");
    expect_refused("c7 f8 00 00 00 00 c3", 0, "xbegin 0x6 is transactional");
    expect_refused("0f 01 d5 c3", 0, "xend is transactional");
    /* 66 on a near branch: 16-bit on AMD, ignored on Intel. */
    expect_refused("66 eb 00 c3", 0, "operand-size prefix on jmp");
}

static void ret_must_be_plain(void **state)
{
    (void)state;
    expect_refused("c2 08 00", 0, "byte 0: ret 0x08 pops 8 extra bytes and would unbalance the stack");
    expect_refused("90 c2 00 00", 1, "byte 1: ret 0x00 pops 0 extra bytes");
    expect_refused("c2 08 00 c3", 0, "pops 8 extra bytes");
    expect_refused("66 c3", 0, "operand-size prefix on ret");
    expect_refused("ca 08 00", 0, "far return");
}

/* ---- refused instructions -------------------------------------------- */

static void vmx_instructions_are_refused(void **state)
{
    static const char *const vmx[] = {
        "0f 01 c4 c3",          /* vmxoff */
        "0f 01 c1 c3",          /* vmcall */
        "0f 01 c2 c3",          /* vmlaunch */
        "0f 01 c3 c3",          /* vmresume */
        "f3 0f c7 30 c3",       /* vmxon [rax] */
        "0f c7 30 c3",          /* vmptrld [rax] */
        "66 0f c7 30 c3",       /* vmclear [rax] */
        "0f 78 c8 c3",          /* vmread rax, rcx */
        "0f 79 c8 c3",          /* vmwrite rcx, rax */
        "66 0f 38 80 08 c3",    /* invept rcx, [rax] */
        "66 0f 38 81 08 c3",    /* invvpid rcx, [rax] */
        "0f 01 d4 c3",          /* vmfunc */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vmx) / sizeof(vmx[0]); i++)
        expect_refused(vmx[i], 0, "is a VMX instruction");
    expect_refused("90 0f 01 c4 c3", 1, "byte 1: vmxoff is a VMX instruction");
    expect_refused("0f 01 d8 c3", 0, "vmrun rax is an AMD SVM instruction");
    expect_refused("0f 01 dd c3", 0, "clgi is an AMD SVM instruction");
    expect_refused("0f 37 c3", 0, "getsec is an SMX instruction");
    expect_refused("0f 01 d7 c3", 0, "enclu is an SGX instruction");
}

static void privileged_instructions_are_refused(void **state)
{
    (void)state;
    expect_refused("0f 30 c3", 0, "byte 0: wrmsr is privileged (CPL0-only)");
    expect_refused("0f 32 c3", 0, "rdmsr is privileged");
    expect_refused("0f 22 d8 c3", 0, "mov cr3, rax is privileged");
    expect_refused("0f 20 d8 c3", 0, "mov rax, cr3 is privileged");
    expect_refused("0f 22 c0 c3", 0, "mov cr0, rax is privileged");
    expect_refused("0f 23 f8 c3", 0, "mov dr7, rax is privileged");
    expect_refused("0f 01 10 c3", 0, "lgdt [rax] is privileged");   /* not flagged by Zydis 4.0 */
    expect_refused("0f 01 18 c3", 0, "lidt [rax] is privileged");
    expect_refused("0f 00 d8 c3", 0, "ltr ax is privileged");
    expect_refused("0f 00 d0 c3", 0, "lldt ax is privileged");
    expect_refused("0f 01 f0 c3", 0, "lmsw ax is privileged");
    expect_refused("0f 06 c3", 0, "clts is privileged");
    expect_refused("0f 08 c3", 0, "invd is privileged");
    expect_refused("0f 09 c3", 0, "wbinvd is privileged");
    expect_refused("0f 01 38 c3", 0, "invlpg [rax] is privileged");
    expect_refused("66 0f 38 82 08 c3", 0, "invpcid");
    expect_refused("0f 01 f8 c3", 0, "swapgs is privileged");
    expect_refused("0f 01 d1 c3", 0, "xsetbv is privileged");
    expect_refused("0f c7 18 c3", 0, "xrstors [rax] is privileged");
    expect_refused("0f 01 cb c3", 0, "stac is privileged");
    expect_refused("f3 0f 38 f8 00 c3", 0, "enqcmds");
}

static void host_wrecking_instructions_are_refused(void **state)
{
    (void)state;
    expect_refused("f4", 0, "byte 0: hlt halts the core in VMX root");
    expect_refused("fa c3", 0, "cli changes the interrupt flag");
    expect_refused("fb c3", 0, "sti changes the interrupt flag");
    expect_refused("9c 9d c3", 1, "popfq loads RFLAGS from the stack");
    expect_refused("0f 01 c8 c3", 0, "monitor waits");
    expect_refused("0f 01 c9 c3", 0, "mwait waits");
    expect_refused("f2 0f ae f1 c3", 0, "umwait ecx waits");
    expect_refused("0f 0b", 0, "ud2 raises #UD");
    expect_refused("0f b9 c0 c3", 0, "ud1 eax, eax raises #UD");
    expect_refused("ec c3", 0, "in al, dx accesses an I/O port");
    expect_refused("e6 80 c3", 0, "out 0x80, al accesses an I/O port");
    expect_refused("f3 6c c3", 0, "accesses an I/O port");
    expect_refused("8e e8 c3", 0, "mov gs, ax loads segment register gs");
    expect_refused("0f a9 c3", 0, "pop gs loads segment register gs");
    expect_refused("8e d0 c3", 0, "loads segment register ss");
    expect_refused("0f b5 00 c3", 0, "lgs eax, fword ptr [rax] loads segment register gs");
    expect_refused("f3 48 0f ae d8 c3", 0, "wrgsbase rax replaces the host's GS base");
    expect_refused("f3 48 0f ae d0 c3", 0, "wrfsbase rax replaces the host's FS base");
    expect_refused("f3 48 0f ae e8 c3", 0, "incsspq rax manages the host's CET shadow stack");
    expect_refused("48 0f 38 f6 00 c3", 0, "shadow stack");
}

static void unsaved_state_is_refused(void **state)
{
    (void)state;
    /* Legacy SSE on XMM0-15 is saved by the exit path: allowed. */
    expect_ok("66 0f ef c0 c3", HV_CODE_ACTION, 2);                 /* pxor xmm0, xmm0 */
    expect_ok("f3 0f 6f 01 f3 0f 7f 02 c3", HV_CODE_ACTION, 3);     /* movdqu in/out */
    expect_ok("0f ae 01 c3", HV_CODE_ACTION, 2);                    /* fxsave [rcx] */
    expect_refused("c5 f9 ef c0 c3", 0, "vpxor xmm0, xmm0, xmm0 zeroes the upper YMM/ZMM bits of xmm0");
    expect_refused("c5 fc 28 00 c3", 0, "writes ymm0");
    expect_refused("62 f1 7d 48 ef c0 c3", 0, "writes zmm0");
    expect_refused("c5 f8 90 c8 c3", 0, "writes k1");
    expect_refused("c5 f8 77 c3", 0, "vzeroupper clobbers the guest's YMM/ZMM state");
    expect_refused("0f 6f c1 c3", 0, "movq mm0, mm1 changes x87/MMX state");
    expect_refused("0f 77 c3", 0, "emms replaces FPU/SIMD state");
    expect_refused("d9 e8 c3", 0, "fld1 uses the guest's live x87 state");
    expect_refused("9b c3", 0, "fwait uses the guest's live x87 state");
    expect_refused("0f ae 11 c3", 0, "ldmxcsr [rcx] writes mxcsr");
    expect_refused("0f ae 09 c3", 0, "fxrstor [rcx] replaces FPU/SIMD state");
    expect_refused("0f ae 29 c3", 0, "xrstor [rcx] replaces FPU/SIMD state");
    expect_refused("0f 01 ef c3", 0, "wrpkru writes pkru");
    expect_refused("c4 e2 78 49 00 c3", 0, "AMX tile state");
    expect_refused("f3 0f 1b 00 c3", 0, "writes bnd0");
}

static void rip_relative_operands(void **state)
{
    (void)state;
    /* mov al, [rip+1]: reads the last byte of the buffer. */
    expect_ok("8a 05 01 00 00 00 c3 c3", HV_CODE_ACTION, 3);
    expect_ok("48 8d 05 f9 ff ff ff c3", HV_CODE_ACTION, 2);        /* lea rax, [0x0] */
    expect_refused("8a 05 10 00 00 00 c3", 0, "mov al, [0x16] refers to 0x16 (rip-relative), outside the 7-byte buffer");
    /* an 8-byte read starting at the last byte sticks out */
    expect_refused("48 8b 05 00 00 00 00 c3", 0, "refers to 0x7 (rip-relative), outside the 8-byte buffer");
    expect_refused("48 8d 05 f0 ff ff ff c3", 0, "refers to -0x9");
    expect_refused("88 05 00 00 00 00 c3", 0, "writes rip-relative memory: the code's copy is read-only");
    expect_refused("67 8a 05 00 00 00 00 c3", 0, "eip-relative");
}

/* ---- realistic bodies ------------------------------------------------- */

static void realistic_action_and_conditions(void **state)
{
    (void)state;
    /* mov qword [rcx], 0x1234; ret (write into the event buffer) */
    expect_ok("48 c7 01 34 12 00 00 c3", HV_CODE_ACTION, 2);
    /* test rcx, rcx; jz done; mov rax, [rdx]; mov [rcx], rax; done: ret */
    expect_ok("48 85 c9 74 06 48 8b 02 48 89 01 c3", HV_CODE_ACTION, 5);
    /* push rbx; mov rbx, [rdx+8]; inc qword [rdx+8]; pop rbx; ret */
    expect_ok("53 48 8b 5a 08 48 ff 42 08 5b c3", HV_CODE_ACTION, 5);
    /* cpuid / rdtsc / rdtscp / pause / lfence are fine in VMX root */
    expect_ok("0f 31 0f 01 f9 f3 90 0f ae e8 c3", HV_CODE_ACTION, 5);
    /* conditions: xor eax, eax; ret  and  mov eax, 1; ret */
    expect_ok("31 c0 c3", HV_CODE_CONDITION, 2);
    expect_ok("b8 01 00 00 00 c3", HV_CODE_CONDITION, 2);
    /* RAX (guest GPRs[0] via RCX) == 0x1234 ? */
    expect_ok("31 c0 48 81 39 34 12 00 00 0f 94 c0 c3", HV_CODE_CONDITION, 4);
}

/* ---- disassembly ------------------------------------------------------ */

static void disassembly(void **state)
{
    static const uint8_t code[] = { 0x90, 0x48, 0xc7, 0x01, 0x34, 0x12, 0x00, 0x00, 0xeb, 0x00, 0xc3 };
    static const char want[] =
        "0000  90                 nop\n"
        "0001  48 c7 01 34 12 00 00 mov qword ptr [rcx], 0x1234\n"
        "0008  eb 00              jmp 0xa\n"
        "000a  c3                 ret\n";
    char out[512], small[20];
    size_t n;

    (void)state;
    n = hv_code_disassemble(code, sizeof(code), out, sizeof(out));
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_non_null(strstr(out, "mov"));

    /* snprintf-like: truncated, NUL-terminated, full length returned. */
    assert_int_equal(hv_code_disassemble(code, sizeof(code), small, sizeof(small)), strlen(want));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, want, sizeof(small) - 1);
    assert_int_equal(hv_code_disassemble(code, sizeof(code), NULL, 0), strlen(want));

    /* bad and truncated bytes */
    {
        static const uint8_t bad[] = { 0x06, 0xc3, 0x48, 0x8b };

        hv_code_disassemble(bad, sizeof(bad), out, sizeof(out));
        assert_string_equal(out,
                            "0000  06                 (bad)\n"
                            "0001  c3                 ret\n"
                            "0002  48 8b              (truncated)\n");
    }
    assert_int_equal(hv_code_disassemble(code, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");

    /* A prepared buffer: the appended ret is marked. */
    {
        static const uint8_t prepared[] = { 0x90, 0x90, 0x90, 0xc3 };

        hv_code_disassemble_prepared(prepared, sizeof(prepared), 3, out, sizeof(out));
        assert_string_equal(out,
                            "0000  90                 nop\n"
                            "0001  90                 nop\n"
                            "0002  90                 nop\n"
                            "0003  c3                 ret                      (appended)\n");
        /* body_len == len marks nothing: the plain disassembly. */
        hv_code_disassemble_prepared(code, sizeof(code), sizeof(code), out, sizeof(out));
        assert_string_equal(out, want);
    }
}

/* The stop report's instruction: one, at the guest's RIP, in the guest's mode. */
static void disassemble_one_at_rip(void **state)
{
    static const uint8_t mov_dr7[] = { 0x0f, 0x23, 0xf8, 0xcc, 0xcc };
    static const uint8_t call[] = { 0xe8, 0x00, 0x00, 0x00, 0x00 };
    static const uint8_t bad[] = { 0xff, 0xff };
    static const uint8_t rex[] = { 0x48 };
    static const uint8_t inc[] = { 0x40 };
    char out[128];

    (void)state;
    assert_int_equal(hv_code_disassemble_one(mov_dr7, sizeof(mov_dr7), 0xfffff80773553180ull, 64, out, sizeof(out)),
                     3);
    assert_non_null(strstr(out, "0f 23 f8"));
    assert_non_null(strstr(out, "mov dr7, rax"));
    /* Relative targets are absolute, from the address given. */
    assert_int_equal(hv_code_disassemble_one(call, sizeof(call), 0x1000, 64, out, sizeof(out)), 5);
    assert_non_null(strstr(out, "call 0x1005"));
    assert_int_equal(hv_code_disassemble_one(bad, sizeof(bad), 0, 64, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "(bad)"));
    assert_int_equal(hv_code_disassemble_one(rex, sizeof(rex), 0, 64, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "(truncated)"));
    /* 0x40 is a REX prefix in 64-bit code, inc eax in a 32-bit segment. */
    assert_int_equal(hv_code_disassemble_one(inc, sizeof(inc), 0, 32, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "inc eax"));
    assert_int_equal(hv_code_disassemble_one(rex, 0, 0, 64, out, sizeof(out)), 0);
    assert_int_equal(hv_code_disassemble_one(rex, 1, 0, 64, out, 1), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disassemble_one_at_rip),
        cmocka_unit_test(reference_examples_get_a_ret),
        cmocka_unit_test(bodies_that_used_to_need_a_ret),
        cmocka_unit_test(branches_may_target_the_appended_ret),
        cmocka_unit_test(an_incomplete_last_instruction_is_refused),
        cmocka_unit_test(prepare_limits_and_arguments),
        cmocka_unit_test(raw_buffer_without_ret_is_refused),
        cmocka_unit_test(ending_in_ret_is_accepted),
        cmocka_unit_test(success_report),
        cmocka_unit_test(empty_and_bad_arguments),
        cmocka_unit_test(size_limit),
        cmocka_unit_test(undecodable_and_truncated),
        cmocka_unit_test(dead_code_is_checked_too),
        cmocka_unit_test(branches_inside_are_accepted),
        cmocka_unit_test(branches_outside_are_refused),
        cmocka_unit_test(branch_into_an_instruction_is_refused),
        cmocka_unit_test(uncheckable_transfers_are_refused),
        cmocka_unit_test(ret_must_be_plain),
        cmocka_unit_test(vmx_instructions_are_refused),
        cmocka_unit_test(privileged_instructions_are_refused),
        cmocka_unit_test(host_wrecking_instructions_are_refused),
        cmocka_unit_test(unsaved_state_is_refused),
        cmocka_unit_test(rip_relative_operands),
        cmocka_unit_test(realistic_action_and_conditions),
        cmocka_unit_test(disassembly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
