/* SPDX-License-Identifier: MIT */
/*
 * Client-side validator for custom-code and condition buffers. The rules
 * and the reasons for them are in <hvcore/client/code_check.h>.
 *
 * Two linear sweeps over the buffer with Zydis (64-bit mode, Intel branch
 * semantics, which is what a VT-x host executes):
 *   1. decode only: mark where every instruction starts, and where the
 *      first undecodable or truncated instruction is (`stop`);
 *   2. decode fully and apply the rules in byte order, so the report names
 *      the first offending instruction. Branch targets are checked against
 *      the start map from sweep 1; a target at or beyond `stop` is left to
 *      the decode error, which sweep 2 reports when it gets there.
 * Then the last instruction must be a plain near ret.
 *
 * hv_code_prepare runs the same checker on the user's bytes + c3, where
 * the appended ret must decode as an instruction of its own.
 */
#include <hvcore/client/code_check.h>

#include <Zydis/Zydis.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Addresses are computed as if the buffer sat at RT_BASE, so that a
 * negative rel32 target does not wrap; offsets are then address - RT_BASE. */
#define RT_BASE (UINT64_C(1) << 32)

struct checker {
    const uint8_t *code;
    size_t len;
    ZydisDecoder dec;
    ZydisFormatter fmt;
    size_t stop;                                /* first decode failure, or len */
    ZyanStatus stop_status;
    uint32_t count;                             /* instructions decoded so far */
    uint8_t starts[(HV_CODE_MAX_BYTES + 7) / 8]; /* bit per instruction start */
    size_t body;                                /* hv_code_prepare: the user's bytes before the
                                                   appended ret; == len for hv_code_check */
    char what[96];                              /* "the 4-byte buffer", or with the appended ret */
    struct hv_code_report *r;
};

static void init_zydis(ZydisDecoder *dec, ZydisFormatter *fmt)
{
    ZydisDecoderInit(dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    ZydisFormatterInit(fmt, ZYDIS_FORMATTER_STYLE_INTEL);
    /* Targets relative to the buffer read best as "jmp 0x2". */
    ZydisFormatterSetProperty(fmt, ZYDIS_FORMATTER_PROP_ADDR_PADDING_ABSOLUTE, ZYDIS_PADDING_DISABLED);
    /* Lowercase hex, like the report messages ("jmp to 0x1a"). */
    ZydisFormatterSetProperty(fmt, ZYDIS_FORMATTER_PROP_HEX_UPPERCASE, ZYAN_FALSE);
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static hv_status_t refuse(struct checker *c, size_t offset, uint32_t count, const char *fmt, ...)
{
    va_list ap;

    c->r->status = HV_STATUS_INVALID_PARAMETER;
    c->r->offset = (uint32_t)offset;
    c->r->instructions = count;
    va_start(ap, fmt);
    vsnprintf(c->r->message, sizeof(c->r->message), fmt, ap);
    va_end(ap);
    return HV_STATUS_INVALID_PARAMETER;
}

/* "0f 0b ff" for up to `max` bytes, "..." appended when there are more. */
static void hex_bytes(char *dst, size_t size, const uint8_t *p, size_t n, size_t max)
{
    size_t i, pos = 0;

    dst[0] = '\0';
    for (i = 0; i < n && i < max && pos + 4 < size; i++)
        pos += (size_t)snprintf(dst + pos, size - pos, i ? " %02x" : "%02x", p[i]);
    if (n > max && pos + 4 < size)
        snprintf(dst + pos, size - pos, " ...");
}

static void insn_text(const ZydisFormatter *fmt, const ZydisDecodedInstruction *in,
                      const ZydisDecodedOperand *ops, size_t offset, char *buf, size_t size)
{
    if (!ZYAN_SUCCESS(ZydisFormatterFormatInstruction(fmt, in, ops, in->operand_count_visible,
                                                      buf, size, offset, NULL)))
        snprintf(buf, size, "%s", ZydisMnemonicGetString(in->mnemonic));
}

static const char *mnem(const ZydisDecodedInstruction *in)
{
    const char *s = ZydisMnemonicGetString(in->mnemonic);

    return s ? s : "?";
}

/* "0x40" or "-0x10". */
static void fmt_target(char *buf, size_t size, int64_t t)
{
    if (t < 0)
        snprintf(buf, size, "-0x%" PRIx64, (uint64_t)0 - (uint64_t)t);
    else
        snprintf(buf, size, "0x%" PRIx64, (uint64_t)t);
}

static bool is_start(const struct checker *c, size_t off)
{
    return (c->starts[off / 8] >> (off % 8)) & 1u;
}

/* ---- per-instruction rules ------------------------------------------ */

/* Refused by mnemonic, with the reason (some of these are privileged too;
 * the specific reason reads better than the generic one). */
static const struct {
    ZydisMnemonic m;
    const char *why;
} k_refused_mnemonics[] = {
    { ZYDIS_MNEMONIC_HLT, "halts the core in VMX root" },
    { ZYDIS_MNEMONIC_CLI, "changes the interrupt flag in VMX root" },
    { ZYDIS_MNEMONIC_STI, "changes the interrupt flag in VMX root" },
    { ZYDIS_MNEMONIC_POPF, "loads RFLAGS from the stack (it can set IF/TF/AC in VMX root)" },
    { ZYDIS_MNEMONIC_POPFD, "loads RFLAGS from the stack (it can set IF/TF/AC in VMX root)" },
    { ZYDIS_MNEMONIC_POPFQ, "loads RFLAGS from the stack (it can set IF/TF/AC in VMX root)" },
    /* Zydis 4.0 does not mark LGDT privileged; the SDM does. */
    { ZYDIS_MNEMONIC_LGDT, "is privileged: it replaces the host's GDT" },
    { ZYDIS_MNEMONIC_UD0, "raises #UD by design (a host crash in VMX root)" },
    { ZYDIS_MNEMONIC_UD1, "raises #UD by design (a host crash in VMX root)" },
    { ZYDIS_MNEMONIC_UD2, "raises #UD by design (a host crash in VMX root)" },
    { ZYDIS_MNEMONIC_WRFSBASE, "replaces the host's FS base" },
    { ZYDIS_MNEMONIC_WRGSBASE, "replaces the host's GS base (its per-CPU pointer)" },
    { ZYDIS_MNEMONIC_VZEROUPPER, "clobbers the guest's YMM/ZMM state, which is live in VMX root" },
    { ZYDIS_MNEMONIC_VZEROALL, "clobbers the guest's YMM/ZMM state, which is live in VMX root" },
    { ZYDIS_MNEMONIC_MONITOR, "waits (monitor/mwait) in VMX root" },
    { ZYDIS_MNEMONIC_MWAIT, "waits (monitor/mwait) in VMX root" },
    { ZYDIS_MNEMONIC_MONITORX, "waits (monitor/mwait) in VMX root" },
    { ZYDIS_MNEMONIC_MWAITX, "waits (monitor/mwait) in VMX root" },
    { ZYDIS_MNEMONIC_UMONITOR, "waits (umonitor/umwait/tpause) in VMX root" },
    { ZYDIS_MNEMONIC_UMWAIT, "waits (umonitor/umwait/tpause) in VMX root" },
    { ZYDIS_MNEMONIC_TPAUSE, "waits (umonitor/umwait/tpause) in VMX root" },
};

/* Refused by ISA extension. */
static const struct {
    ZydisISAExt ext;
    const char *why;
} k_refused_exts[] = {
    { ZYDIS_ISA_EXT_VTX, "is a VMX instruction: it would act on the hypervisor itself" },
    { ZYDIS_ISA_EXT_VMFUNC, "is a VMX instruction: it would act on the hypervisor itself" },
    { ZYDIS_ISA_EXT_SVM, "is an AMD SVM instruction (#UD or worse on a VT-x host)" },
    { ZYDIS_ISA_EXT_SMX, "is an SMX instruction (getsec)" },
    { ZYDIS_ISA_EXT_SGX, "is an SGX instruction (#UD or enclave state in VMX root)" },
    { ZYDIS_ISA_EXT_SGX_ENCLV, "is an SGX instruction (#UD or enclave state in VMX root)" },
    { ZYDIS_ISA_EXT_RTM, "is transactional (a hidden abort path; xend faults outside a transaction)" },
    { ZYDIS_ISA_EXT_TSX_LDTRK, "is transactional (a hidden abort path; xend faults outside a transaction)" },
    { ZYDIS_ISA_EXT_UINTR, "changes user-interrupt state or control flow" },
    { ZYDIS_ISA_EXT_ENQCMD, "submits work to a device (enqcmds is CPL0-only)" },
    { ZYDIS_ISA_EXT_AMX_TILE, "uses AMX tile state, which the exit path does not save" },
    { ZYDIS_ISA_EXT_AMX_BF16, "uses AMX tile state, which the exit path does not save" },
    { ZYDIS_ISA_EXT_AMX_INT8, "uses AMX tile state, which the exit path does not save" },
    /* Even reads: fwait/fnstsw act on the guest's live x87 state, and a
     * pending unmasked x87 exception would raise #MF in VMX root. */
    { ZYDIS_ISA_EXT_X87, "uses the guest's live x87 state (not saved; a pending x87 exception faults in VMX root)" },
};

/* Relative branch: the target must be an instruction start in [0, len). */
static hv_status_t check_target(struct checker *c, size_t off, const ZydisDecodedInstruction *in,
                                const ZydisDecodedOperand *op)
{
    ZyanU64 abs;
    int64_t t;
    char tb[24];

    if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(in, op, RT_BASE + off, &abs)))
        return refuse(c, off, c->count, "byte %zu: %s: cannot compute the branch target", off, mnem(in));
    t = (int64_t)(abs - RT_BASE);
    fmt_target(tb, sizeof(tb), t);
    if (t < 0 || (uint64_t)t >= c->len)
        return refuse(c, off, c->count, "byte %zu: %s to %s leaves %s", off, mnem(in), tb, c->what);
    if ((size_t)t >= c->stop)
        return HV_STATUS_SUCCESS;   /* the decode error at `stop` is reported later */
    if (!is_start(c, (size_t)t)) {
        size_t s = (size_t)t;

        while (s > 0 && !is_start(c, s))
            s--;
        return refuse(c, off, c->count, "byte %zu: %s to %s lands inside the instruction at byte %zu",
                      off, mnem(in), tb, s);
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t check_control_flow(struct checker *c, size_t off, const ZydisDecodedInstruction *in,
                                      const ZydisDecodedOperand *ops, const char *text)
{
    const ZydisInstructionCategory cat = in->meta.category;
    const bool osz = (in->attributes & ZYDIS_ATTRIB_HAS_OPERANDSIZE) != 0;
    uint8_t i;

    switch (cat) {
    case ZYDIS_CATEGORY_INTERRUPT:
        return refuse(c, off, c->count, "byte %zu: %s raises an interrupt or exception in VMX root", off, text);
    case ZYDIS_CATEGORY_SYSCALL:
    case ZYDIS_CATEGORY_SYSRET:
        return refuse(c, off, c->count, "byte %zu: %s transfers control out of the code (system call/return)",
                      off, text);
    case ZYDIS_CATEGORY_RET:
        if (in->mnemonic != ZYDIS_MNEMONIC_RET)     /* iret, iretd, iretq */
            return refuse(c, off, c->count, "byte %zu: %s returns through an interrupt frame", off, text);
        if (in->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
            return refuse(c, off, c->count, "byte %zu: far return (%s) is refused: it reloads CS", off, text);
        for (i = 0; i < in->operand_count_visible; i++)
            if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
                return refuse(c, off, c->count,
                              "byte %zu: %s pops %" PRIu64 " extra bytes and would unbalance the stack; use a plain ret",
                              off, text, (uint64_t)ops[i].imm.value.u);
        if (osz)
            return refuse(c, off, c->count, "byte %zu: operand-size prefix on ret (16-bit on AMD); use a plain ret", off);
        return HV_STATUS_SUCCESS;
    case ZYDIS_CATEGORY_UNCOND_BR:
    case ZYDIS_CATEGORY_COND_BR:
    case ZYDIS_CATEGORY_CALL:
        break;
    default:
        if (in->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
            return refuse(c, off, c->count, "byte %zu: far transfer (%s) is refused", off, text);
        return HV_STATUS_SUCCESS;
    }

    /* jmp, jcc, call, loop*, jrcxz */
    if (in->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
        return refuse(c, off, c->count, "byte %zu: far %s (%s) is refused: it reloads CS", off, mnem(in), text);
    if (osz)
        return refuse(c, off, c->count,
                      "byte %zu: operand-size prefix on %s (16-bit on AMD, ignored on Intel) is refused",
                      off, mnem(in));
    for (i = 0; i < in->operand_count_visible; i++)
        if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && ops[i].imm.is_relative)
            return check_target(c, off, in, &ops[i]);
    return refuse(c, off, c->count,
                  "byte %zu: indirect %s (%s): the target cannot be checked; only relative branches inside the buffer are allowed",
                  off, mnem(in), text);
}

/* Writes of state that VMX root must not change or that the exit path does
 * not save (the guest's FPU/SIMD registers are live in VMX root; the entry
 * stub saves XMM0-15 only). */
static hv_status_t check_writes(struct checker *c, size_t off, const ZydisDecodedInstruction *in,
                                const ZydisDecodedOperand *ops, const char *text)
{
    uint8_t i;

    if (in->attributes & (ZYDIS_ATTRIB_FPU_STATE_CW | ZYDIS_ATTRIB_XMM_STATE_CW))
        return refuse(c, off, c->count, "byte %zu: %s replaces FPU/SIMD state, which the exit path does not save",
                      off, text);
    for (i = 0; i < in->operand_count; i++) {
        const ZydisDecodedOperand *o = &ops[i];
        const char *rn;

        if (o->type != ZYDIS_OPERAND_TYPE_REGISTER || !(o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
            continue;
        rn = ZydisRegisterGetString(o->reg.value);
        if (!rn)
            rn = "?";
        switch (o->reg.value) {
        case ZYDIS_REGISTER_MXCSR:
        case ZYDIS_REGISTER_PKRU:
        case ZYDIS_REGISTER_XCR0:
        case ZYDIS_REGISTER_UIF:
            return refuse(c, off, c->count, "byte %zu: %s writes %s, which the exit path does not save",
                          off, text, rn);
        case ZYDIS_REGISTER_X87CONTROL:
        case ZYDIS_REGISTER_X87STATUS:
        case ZYDIS_REGISTER_X87TAG:
            return refuse(c, off, c->count, "byte %zu: %s changes x87 state, which the exit path does not save",
                          off, text);
        default:
            break;
        }
        switch (ZydisRegisterGetClass(o->reg.value)) {
        case ZYDIS_REGCLASS_X87:
        case ZYDIS_REGCLASS_MMX:
            return refuse(c, off, c->count, "byte %zu: %s changes x87/MMX state, which the exit path does not save",
                          off, text);
        case ZYDIS_REGCLASS_YMM:
        case ZYDIS_REGCLASS_ZMM:
        case ZYDIS_REGCLASS_MASK:
        case ZYDIS_REGCLASS_TMM:
        case ZYDIS_REGCLASS_BOUND:
            return refuse(c, off, c->count, "byte %zu: %s writes %s, which the exit path does not save",
                          off, text, rn);
        case ZYDIS_REGCLASS_XMM:
            if (in->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
                return refuse(c, off, c->count,
                              "byte %zu: %s zeroes the upper YMM/ZMM bits of %s, which the exit path does not save (use legacy SSE)",
                              off, text, rn);
            break;
        case ZYDIS_REGCLASS_SEGMENT:
            return refuse(c, off, c->count, "byte %zu: %s loads segment register %s in VMX root", off, text, rn);
        case ZYDIS_REGCLASS_CONTROL:
        case ZYDIS_REGCLASS_DEBUG:
        case ZYDIS_REGCLASS_TABLE:
        case ZYDIS_REGCLASS_TEST:
            return refuse(c, off, c->count, "byte %zu: %s writes %s in VMX root", off, text, rn);
        default:
            break;
        }
    }
    return HV_STATUS_SUCCESS;
}

/* RIP-relative operands may only read the buffer itself. */
static hv_status_t check_rip_relative(struct checker *c, size_t off, const ZydisDecodedInstruction *in,
                                      const ZydisDecodedOperand *ops, const char *text)
{
    uint8_t i;

    for (i = 0; i < in->operand_count; i++) {
        const ZydisDecodedOperand *o = &ops[i];
        ZyanU64 abs;
        int64_t t;
        uint64_t size;
        char tb[24];

        if (o->type != ZYDIS_OPERAND_TYPE_MEMORY)
            continue;
        if (o->mem.base == ZYDIS_REGISTER_EIP)
            return refuse(c, off, c->count, "byte %zu: %s: eip-relative addressing truncates the address", off, text);
        if (o->mem.base != ZYDIS_REGISTER_RIP)
            continue;
        if (o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
            return refuse(c, off, c->count,
                          "byte %zu: %s writes rip-relative memory: the code's copy is read-only (W^X)", off, text);
        if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(in, o, RT_BASE + off, &abs)))
            return refuse(c, off, c->count, "byte %zu: %s: cannot compute the rip-relative address", off, text);
        t = (int64_t)(abs - RT_BASE);
        size = o->mem.type == ZYDIS_MEMOP_TYPE_AGEN || o->size < 8 ? 1 : o->size / 8u;
        if (t < 0 || (uint64_t)t >= c->len || size > c->len - (uint64_t)t) {
            fmt_target(tb, sizeof(tb), t);
            return refuse(c, off, c->count, "byte %zu: %s refers to %s (rip-relative), outside %s",
                          off, text, tb, c->what);
        }
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t check_insn(struct checker *c, size_t off, const ZydisDecodedInstruction *in,
                              const ZydisDecodedOperand *ops)
{
    char text[96];
    hv_status_t st;
    size_t i;

    insn_text(&c->fmt, in, ops, off, text, sizeof(text));

    /* Extensions first: RTM's xend/xabort look like branches to Zydis. */
    for (i = 0; i < sizeof(k_refused_exts) / sizeof(k_refused_exts[0]); i++)
        if (in->meta.isa_ext == k_refused_exts[i].ext)
            return refuse(c, off, c->count, "byte %zu: %s %s", off, text, k_refused_exts[i].why);
    st = check_control_flow(c, off, in, ops, text);
    if (st != HV_STATUS_SUCCESS)
        return st;
    for (i = 0; i < sizeof(k_refused_mnemonics) / sizeof(k_refused_mnemonics[0]); i++)
        if (in->mnemonic == k_refused_mnemonics[i].m)
            return refuse(c, off, c->count, "byte %zu: %s %s", off, text, k_refused_mnemonics[i].why);
    if (in->meta.category == ZYDIS_CATEGORY_IO || in->meta.category == ZYDIS_CATEGORY_IOSTRINGOP)
        return refuse(c, off, c->count, "byte %zu: %s accesses an I/O port from VMX root", off, text);
    if (in->attributes & ZYDIS_ATTRIB_IS_PRIVILEGED)
        return refuse(c, off, c->count, "byte %zu: %s is privileged (CPL0-only): in VMX root it would really execute",
                      off, text);
    /* CET shadow-stack management touches the host's shadow stack. */
    if (in->meta.isa_ext == ZYDIS_ISA_EXT_CET &&
        in->mnemonic != ZYDIS_MNEMONIC_ENDBR32 && in->mnemonic != ZYDIS_MNEMONIC_ENDBR64 &&
        in->mnemonic != ZYDIS_MNEMONIC_RDSSPD && in->mnemonic != ZYDIS_MNEMONIC_RDSSPQ)
        return refuse(c, off, c->count, "byte %zu: %s manages the host's CET shadow stack", off, text);
    st = check_writes(c, off, in, ops, text);
    if (st != HV_STATUS_SUCCESS)
        return st;
    return check_rip_relative(c, off, in, ops, text);
}

/* ---- the checker ------------------------------------------------------ */

static const char *kind_name(enum hv_code_kind kind)
{
    return kind == HV_CODE_CONDITION ? "condition" : "custom code";
}

/* The checker behind hv_code_check (body == len) and hv_code_prepare
 * (body == len - 1: the last byte is the appended ret). */
static hv_status_t check(const uint8_t *code, size_t len, size_t body, enum hv_code_kind kind,
                         struct hv_code_report *report)
{
    struct checker c;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    size_t off, last = 0;
    char hex[64], text[96];
    hv_status_t st;

    if (!report)
        return HV_STATUS_INVALID_PARAMETER;
    memset(report, 0, sizeof(*report));
    memset(&c, 0, sizeof(c));
    c.code = code;
    c.len = len;
    c.body = body;
    c.r = report;
    if (body < len)
        snprintf(c.what, sizeof(c.what), "the %zu-byte code (%zu byte%s + the appended ret)", len, body,
                 body == 1 ? "" : "s");
    else
        snprintf(c.what, sizeof(c.what), "the %zu-byte buffer", len);

    if (kind != HV_CODE_ACTION && kind != HV_CODE_CONDITION)
        return refuse(&c, 0, 0, "unknown code kind %d", (int)kind);
    if (len == 0)
        return refuse(&c, 0, 0, "empty buffer: %s needs at least a ret (c3)", kind_name(kind));
    if (!code)
        return refuse(&c, 0, 0, "no buffer (NULL pointer for %zu bytes)", len);
    if (len > HV_CODE_MAX_BYTES)
        return refuse(&c, 0, 0, "buffer of %zu bytes exceeds the %u-byte limit", len, HV_CODE_MAX_BYTES);

    init_zydis(&c.dec, &c.fmt);

    /* Sweep 1: instruction starts, and where decoding stops. */
    c.stop = len;
    for (off = 0; off < len; off += in.length) {
        ZyanStatus zs = ZydisDecoderDecodeInstruction(&c.dec, NULL, code + off, len - off, &in);

        if (!ZYAN_SUCCESS(zs)) {
            c.stop = off;
            c.stop_status = zs;
            break;
        }
        c.starts[off / 8] |= (uint8_t)(1u << (off % 8));
    }

    /* Sweep 2: the rules, in byte order. */
    for (off = 0; off < len; off += in.length) {
        if (off == c.stop) {
            size_t rest = len - off;

            if (c.stop_status == ZYDIS_STATUS_NO_MORE_DATA) {
                hex_bytes(hex, sizeof(hex), code + off, rest, ZYDIS_MAX_INSTRUCTION_LENGTH);
                return refuse(&c, off, c.count, "byte %zu: truncated instruction (%s) runs past the end of %s",
                              off, hex, c.what);
            }
            hex_bytes(hex, sizeof(hex), code + off, rest, 6);
            return refuse(&c, off, c.count, "byte %zu: undecodable instruction bytes %s", off, hex);
        }
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&c.dec, code + off, len - off, &in, ops)))
            return refuse(&c, off, c.count, "byte %zu: internal error: the instruction decodes differently on the second sweep", off);
        c.count++;
        if (off < c.body && off + in.length > c.body) {
            /* The user's last instruction is incomplete and decodes
             * together with the appended c3 (b8 01 00 00 + c3 is
             * mov eax, 0xc3000001; f3 + c3 is rep ret). */
            hex_bytes(hex, sizeof(hex), code + off, c.body - off, ZYDIS_MAX_INSTRUCTION_LENGTH);
            insn_text(&c.fmt, &in, ops, off, text, sizeof(text));
            return refuse(&c, off, c.count,
                          "byte %zu: the last instruction (%s) is incomplete: with the appended ret it decodes as '%s'",
                          off, hex, text);
        }
        st = check_insn(&c, off, &in, ops);
        if (st != HV_STATUS_SUCCESS)
            return st;
        last = off;
    }

    /* Every path must end in ret: the last instruction is one (a near ret
     * without imm16 or 66, or check_insn would have refused it above). */
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&c.dec, code + last, len - last, &in, ops)))
        return refuse(&c, last, c.count, "byte %zu: internal error: the last instruction no longer decodes", last);
    if (in.mnemonic != ZYDIS_MNEMONIC_RET) {
        insn_text(&c.fmt, &in, ops, last, text, sizeof(text));
        return refuse(&c, last, c.count,
                      "last instruction must be ret (found %s at byte %zu); hv_code_prepare() appends one", text, last);
    }

    report->status = HV_STATUS_SUCCESS;
    report->offset = 0;
    report->instructions = c.count;
    snprintf(report->message, sizeof(report->message), "%s ok: %u instruction%s, %zu byte%s%s",
             kind_name(kind), c.count, c.count == 1 ? "" : "s", len, len == 1 ? "" : "s",
             body < len ? " (the appended ret included)" : "");
    return HV_STATUS_SUCCESS;
}

hv_status_t hv_code_check(const uint8_t *code, size_t len, enum hv_code_kind kind,
                          struct hv_code_report *report)
{
    return check(code, len, len, kind, report);
}

hv_status_t hv_code_prepare(const uint8_t *body, size_t len, enum hv_code_kind kind, uint8_t *out, size_t out_size,
                            size_t *out_len, struct hv_code_report *report)
{
    struct checker c;

    if (!report)
        return HV_STATUS_INVALID_PARAMETER;
    memset(report, 0, sizeof(*report));
    if (out_len)
        *out_len = 0;
    memset(&c, 0, sizeof(c));
    c.r = report;
    if (kind != HV_CODE_ACTION && kind != HV_CODE_CONDITION)
        return refuse(&c, 0, 0, "unknown code kind %d", (int)kind);
    if (len == 0)
        return refuse(&c, 0, 0, "empty %s: give at least one byte (a ret is appended to it)", kind_name(kind));
    if (!body)
        return refuse(&c, 0, 0, "no buffer (NULL pointer for %zu bytes)", len);
    if (len > HV_CODE_MAX_BODY)
        return refuse(&c, 0, 0, "%s of %zu bytes is too long: at most %u bytes, as the ret appended to it must fit in the %u-byte limit",
                      kind_name(kind), len, HV_CODE_MAX_BODY, HV_CODE_MAX_BYTES);
    if (!out || !out_len || out_size < len + 1)
        return refuse(&c, 0, 0, "no room for the code: %zu bytes needed (the body and the appended ret)", len + 1);
    if (out != body)
        memmove(out, body, len);
    out[len] = 0xc3;
    *out_len = len + 1;
    return check(out, len + 1, len, kind, report);
}

/* ---- disassembly ------------------------------------------------------ */

struct sink {
    char *out;
    size_t size, total;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sink_printf(struct sink *s, const char *fmt, ...)
{
    va_list ap;
    char line[192];
    int n;
    size_t len, pos, room;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (s->size > 0) {
        pos = s->total < s->size - 1 ? s->total : s->size - 1;
        room = s->size - 1 - pos;
        if (room > len)
            room = len;
        memcpy(s->out + pos, line, room);
        s->out[pos + room] = '\0';
    }
    s->total += len;
}

static size_t disassemble(const uint8_t *code, size_t len, size_t body, char *out, size_t out_size)
{
    struct sink s = { out, out ? out_size : 0, 0 };
    ZydisDecoder dec;
    ZydisFormatter fmt;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    size_t off, n;
    char hex[64], text[128];

    if (s.size > 0)
        s.out[0] = '\0';
    if (!code)
        return 0;
    init_zydis(&dec, &fmt);
    for (off = 0; off < len; off += n) {
        ZyanStatus zs = ZydisDecoderDecodeFull(&dec, code + off, len - off, &in, ops);

        if (ZYAN_SUCCESS(zs)) {
            n = in.length;
            insn_text(&fmt, &in, ops, off, text, sizeof(text));
        } else if (zs == ZYDIS_STATUS_NO_MORE_DATA) {
            n = len - off;
            snprintf(text, sizeof(text), "(truncated)");
        } else {
            n = 1;
            snprintf(text, sizeof(text), "(bad)");
        }
        hex_bytes(hex, sizeof(hex), code + off, n, ZYDIS_MAX_INSTRUCTION_LENGTH);
        if (off >= body)
            sink_printf(&s, "%04zx  %-18s %-24s (appended)\n", off, hex, text);
        else
            sink_printf(&s, "%04zx  %-18s %s\n", off, hex, text);
    }
    return s.total;
}

size_t hv_code_disassemble(const uint8_t *code, size_t len, char *out, size_t out_size)
{
    return disassemble(code, len, len, out, out_size);
}

size_t hv_code_disassemble_prepared(const uint8_t *code, size_t len, size_t body_len, char *out, size_t out_size)
{
    return disassemble(code, len, body_len < len ? body_len : len, out, out_size);
}

size_t hv_code_disassemble_one(const uint8_t *code, size_t len, uint64_t address, unsigned bits, char *out,
                               size_t out_size)
{
    ZydisDecoder dec;
    ZydisFormatter fmt;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    ZyanStatus zs;
    char hex[64], text[128];
    size_t n = 0;

    if (out && out_size)
        out[0] = '\0';
    if (!code || !out || out_size == 0)
        return 0;
    init_zydis(&dec, &fmt);
    /* The guest's mode: long mode (CS.L), a 32-bit or a 16-bit code segment. */
    if (bits == 32)
        ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32);
    else if (bits == 16)
        ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_COMPAT_16, ZYDIS_STACK_WIDTH_16);
    zs = len ? ZydisDecoderDecodeFull(&dec, code, len, &in, ops) : ZYDIS_STATUS_NO_MORE_DATA;
    if (ZYAN_SUCCESS(zs)) {
        n = in.length;
        /* Branch targets and RIP-relative operands as absolute addresses. */
        insn_text(&fmt, &in, ops, (size_t)address, text, sizeof(text));
        hex_bytes(hex, sizeof(hex), code, n, ZYDIS_MAX_INSTRUCTION_LENGTH);
        snprintf(out, out_size, "%-20s %s", hex, text);
        return n;
    }
    hex_bytes(hex, sizeof(hex), code, len, 8);
    snprintf(out, out_size, "%-20s %s", hex, zs == ZYDIS_STATUS_NO_MORE_DATA ? "(truncated)" : "(bad)");
    return 0;
}
