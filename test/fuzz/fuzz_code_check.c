/*
 * libFuzzer target: random bytes fed to the client's custom-code validator
 * (hv_code_check) as both kinds, and to hv_code_disassemble. Any crash or
 * sanitizer report is a finding, and so is an accepted buffer that breaks
 * a rule the validator promises, re-checked here independently with Zydis:
 * it decodes completely, has as many instructions as the report says
 * (>= 1), ends in a plain near ret, contains nothing privileged, and every
 * relative branch lands on an instruction start inside the buffer.
 * The same bytes as a body through hv_code_prepare: the built buffer is
 * exactly body + c3, an accepted one obeys the same rules and its
 * appended ret is an instruction of its own; the marked disassembly
 * never crashes either.
 *
 * Run: fuzz_code_check -max_len=4200 -runs=200000 (lengths past the 4096
 * limit must be refused, so let the fuzzer try them).
 */
#include <hvcore/client/code_check.h>

#include <Zydis/Zydis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond, ...)                                                \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz_code_check: %s: ", #cond);              \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            abort();                                                      \
        }                                                                 \
    } while (0)

static uint8_t g_start[HV_CODE_MAX_BYTES];

/* An accepted buffer, re-checked without the validator's code. */
static void verify_accepted(const uint8_t *data, size_t size, const struct hv_code_report *r)
{
    ZydisDecoder dec;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    size_t off, last = 0;
    uint32_t n = 0;
    uint8_t i;

    REQUIRE(size >= 1 && size <= HV_CODE_MAX_BYTES, "accepted %zu bytes", size);
    REQUIRE(r->instructions >= 1, "accepted with %u instructions", r->instructions);
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);

    memset(g_start, 0, size);
    for (off = 0; off < size; off += in.length) {
        REQUIRE(ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, data + off, size - off, &in)),
                "accepted buffer does not decode at byte %zu", off);
        g_start[off] = 1;
    }
    for (off = 0; off < size; off += in.length) {
        REQUIRE(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, data + off, size - off, &in, ops)), "byte %zu", off);
        n++;
        last = off;
        REQUIRE(!(in.attributes & ZYDIS_ATTRIB_IS_PRIVILEGED), "privileged instruction accepted at byte %zu", off);
        REQUIRE(in.meta.branch_type != ZYDIS_BRANCH_TYPE_FAR, "far transfer accepted at byte %zu", off);
        REQUIRE(in.meta.category != ZYDIS_CATEGORY_INTERRUPT && in.meta.category != ZYDIS_CATEGORY_SYSCALL &&
                in.meta.category != ZYDIS_CATEGORY_SYSRET && in.meta.category != ZYDIS_CATEGORY_VTX &&
                in.meta.category != ZYDIS_CATEGORY_IO && in.meta.category != ZYDIS_CATEGORY_IOSTRINGOP,
                "refused category %d accepted at byte %zu", (int)in.meta.category, off);
        if (in.meta.category == ZYDIS_CATEGORY_RET) {
            REQUIRE(in.mnemonic == ZYDIS_MNEMONIC_RET && in.operand_count_visible == 0,
                    "ret with operands or iret accepted at byte %zu", off);
            continue;
        }
        if (in.meta.category != ZYDIS_CATEGORY_UNCOND_BR && in.meta.category != ZYDIS_CATEGORY_COND_BR &&
            in.meta.category != ZYDIS_CATEGORY_CALL)
            continue;
        REQUIRE(in.operand_count_visible >= 1 && ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE &&
                ops[0].imm.is_relative, "indirect branch accepted at byte %zu", off);
        for (i = 0; i < in.operand_count_visible; i++) {
            int64_t t;

            if (ops[i].type != ZYDIS_OPERAND_TYPE_IMMEDIATE || !ops[i].imm.is_relative)
                continue;
            t = (int64_t)off + in.length + ops[i].imm.value.s;
            REQUIRE(t >= 0 && (uint64_t)t < size && g_start[t],
                    "branch at byte %zu to %lld accepted (buffer %zu)", off, (long long)t, size);
        }
    }
    REQUIRE(n == r->instructions, "report says %u instructions, there are %u", r->instructions, n);
    ZydisDecoderDecodeFull(&dec, data + last, size - last, &in, ops);
    REQUIRE(in.mnemonic == ZYDIS_MNEMONIC_RET && in.meta.branch_type == ZYDIS_BRANCH_TYPE_NEAR &&
            in.operand_count_visible == 0, "accepted buffer ends in mnemonic %d", (int)in.mnemonic);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char big[1 << 17];
    char small[48];
    struct hv_code_report r;
    int k;

    for (k = HV_CODE_ACTION; k <= HV_CODE_CONDITION; k++) {
        hv_status_t st = hv_code_check(data, size, (enum hv_code_kind)k, &r);

        REQUIRE(st == r.status, "returned %#x, report says %#x", st, r.status);
        REQUIRE(memchr(r.message, '\0', sizeof(r.message)) != NULL, "message not terminated");
        REQUIRE(r.message[0] != '\0', "empty message");
        if (st == HV_STATUS_SUCCESS) {
            verify_accepted(data, size, &r);
        } else {
            REQUIRE(st == HV_STATUS_INVALID_PARAMETER, "status %#x", st);
            REQUIRE(size == 0 || r.offset < size, "offset %u in a %zu-byte buffer", r.offset, size);
        }
    }

    /* As a body: hv_code_prepare appends the ret. */
    for (k = HV_CODE_ACTION; k <= HV_CODE_CONDITION; k++) {
        static uint8_t built[HV_CODE_MAX_BYTES + 1];
        size_t len = 12345;
        hv_status_t st = hv_code_prepare(data, size, (enum hv_code_kind)k, built, sizeof(built), &len, &r);

        REQUIRE(st == r.status, "prepare returned %#x, report says %#x", st, r.status);
        REQUIRE(memchr(r.message, '\0', sizeof(r.message)) != NULL && r.message[0] != '\0', "prepare message");
        if (size == 0 || size > HV_CODE_MAX_BODY) {
            REQUIRE(st == HV_STATUS_INVALID_PARAMETER && len == 0, "body of %zu bytes: %#x", size, st);
            continue;
        }
        REQUIRE(len == size + 1 && memcmp(built, data, size) == 0 && built[size] == 0xc3, "built buffer");
        if (st == HV_STATUS_SUCCESS) {
            verify_accepted(built, len, &r);
            REQUIRE(g_start[size], "the appended ret at byte %zu is not an instruction of its own", size);
        } else {
            REQUIRE(st == HV_STATUS_INVALID_PARAMETER, "prepare status %#x", st);
            REQUIRE(r.offset < len, "offset %u in a %zu-byte buffer", r.offset, len);
        }
        (void)hv_code_disassemble_prepared(built, len, size, small, sizeof(small));
    }

    {
        size_t a = hv_code_disassemble(data, size, big, sizeof(big));
        size_t b = hv_code_disassemble(data, size, small, sizeof(small));

        REQUIRE(a == b, "disassembly length %zu vs %zu", a, b);
        REQUIRE(strlen(small) == (b < sizeof(small) ? b : sizeof(small) - 1), "truncated output");
        if (a < sizeof(big))
            REQUIRE(strlen(big) == a, "full output %zu vs %zu", strlen(big), a);
        REQUIRE(hv_code_disassemble(data, size, NULL, 0) == a, "size query");
    }
    return 0;
}
