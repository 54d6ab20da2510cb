/* SPDX-License-Identifier: MIT */
/*
 * The script compiler (hvcore/client/script.h): a recursive-descent parser
 * that emits bytecode as it goes (no tree), then hv_script_verify on the
 * result, so nothing the core would refuse leaves the client.
 *
 * Code shapes:
 *   a && b     a; jz F; b; bool; jmp E; F: pushi 0; E:
 *   a || b     a; jnz T; b; bool; jmp E; T: pushi 1; E:
 *   if         c; jz next; body; jmp end; next: (elsif/else) ... end:
 *   while      top: c; jz end; body; jmp top; end:      (continue -> top)
 *   do-while   top: body; cont: c; jnz top;              (continue -> cont)
 *   for        init; top: c; jz end; jmp body; step: s; jmp top; body: ...; jmp step; end:
 *   function   jmp over; entry: body; pushi 0; ret; over:
 */
#include <hvcore/client/script.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FUNCS   64u
#define MAX_FIXUPS  512u
#define MAX_LOOPS   32u
#define MAX_NEST    200u     /* expression/statement nesting (the parser recurses) */

struct local_scope {
    char names[HV_SCRIPT_MAX_LOCALS][HV_SCRIPT_NAME_LEN];
    uint32_t count;
};

struct func {
    char name[HV_SCRIPT_NAME_LEN];
    uint32_t nparams;
    uint32_t entry;         /* code offset, valid when defined */
    bool defined;
    bool returns_value;
    uint32_t line, column;  /* first use, for "never defined" */
};

struct fixup {
    uint32_t at;            /* where the u16 target goes */
    uint32_t func;          /* index into funcs */
};

struct loop {
    uint32_t break_list[64], nbreak;
    uint32_t cont_list[64], ncont;
};

struct cc {
    struct hv_script_lexer lx;
    struct hv_script_token tok, next;   /* current and one look-ahead */
    bool have_next;
    struct hv_script_error *err;
    bool failed;
    uint32_t depth;

    uint8_t code[HV_SCRIPT_MAX_CODE];
    uint32_t code_len;
    uint64_t consts[HV_SCRIPT_MAX_CONST];
    uint32_t nconst;
    char data[HV_SCRIPT_MAX_DATA];
    uint32_t data_len;
    char globals[HV_SCRIPT_MAX_GLOBALS][HV_SCRIPT_NAME_LEN];
    uint32_t nglobals;

    struct local_scope main_scope, func_scope;
    struct local_scope *scope;
    uint32_t max_locals;
    int cur_func;                       /* -1 in main */

    struct func funcs[MAX_FUNCS];
    uint32_t nfuncs;
    struct fixup fixups[MAX_FIXUPS];
    uint32_t nfixups;

    struct loop loops[MAX_LOOPS];
    uint32_t nloops;

    bool last_was_expr;                 /* main's last statement: an expression (keep its value) */
};

/* ---- Errors ---------------------------------------------------------------- */

static bool fail_at(struct cc *c, const struct hv_script_token *t, const char *fmt, ...)
{
    va_list ap;

    if (c->failed)
        return false;
    c->failed = true;
    if (c->err != NULL) {
        c->err->line = t->line;
        c->err->column = t->column;
        if (t->kind == HV_STOK_EOF)
            c->err->token[0] = '\0';
        else
            snprintf(c->err->token, sizeof(c->err->token), "%.*s",
                     (int)(t->length < sizeof(c->err->token) - 1 ? t->length : sizeof(c->err->token) - 1),
                     c->lx.src + t->offset);
        va_start(ap, fmt);
        vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
        va_end(ap);
    }
    return false;
}

#define FAIL(...) fail_at(c, &c->tok, __VA_ARGS__)

int hv_script_error_format(const struct hv_script_error *e, char *buf, size_t cap)
{
    int n;

    if (e == NULL || buf == NULL || cap == 0)
        return 0;
    if (e->token[0] != '\0')
        n = snprintf(buf, cap, "line %u, column %u, at '%s': %s", e->line, e->column, e->token, e->message);
    else
        n = snprintf(buf, cap, "line %u, column %u, at end of script: %s", e->line, e->column, e->message);
    return n < 0 ? 0 : (n >= (int)cap ? (int)cap - 1 : n);
}

/* ---- Tokens ---------------------------------------------------------------- */

static bool advance_tok(struct cc *c)
{
    if (c->have_next) {
        c->tok = c->next;
        c->have_next = false;
    } else {
        hv_script_lex_next(&c->lx, &c->tok);
    }
    if (c->tok.kind == HV_STOK_ERROR)
        return fail_at(c, &c->tok, "%s", c->tok.text);
    return true;
}

static const struct hv_script_token *peek_tok(struct cc *c)
{
    if (!c->have_next) {
        hv_script_lex_next(&c->lx, &c->next);
        c->have_next = true;
    }
    return &c->next;
}

static bool is_punct(const struct hv_script_token *t, const char *p)
{
    return t->kind == HV_STOK_PUNCT && strcmp(t->text, p) == 0;
}

static bool is_word(const struct hv_script_token *t, const char *w)
{
    return t->kind == HV_STOK_IDENT && strcmp(t->text, w) == 0;
}

static bool expect(struct cc *c, const char *p, const char *what)
{
    if (!is_punct(&c->tok, p))
        return FAIL("expected '%s' %s", p, what);
    return advance_tok(c);
}

/* ---- Emission -------------------------------------------------------------- */

static bool emit1(struct cc *c, uint8_t b)
{
    if (c->code_len >= HV_SCRIPT_MAX_CODE)
        return FAIL("script is too long: more than %u bytes of code", HV_SCRIPT_MAX_CODE);
    c->code[c->code_len++] = b;
    return true;
}

static bool emit16(struct cc *c, uint32_t v)
{
    return emit1(c, (uint8_t)(v & 0xFF)) && emit1(c, (uint8_t)(v >> 8));
}

static bool op(struct cc *c, enum hv_script_op o)
{
    return emit1(c, (uint8_t)o);
}

static bool op8(struct cc *c, enum hv_script_op o, uint32_t a)
{
    return emit1(c, (uint8_t)o) && emit1(c, (uint8_t)a);
}

/* A jump with a target to patch later: returns the operand's offset. */
static bool jump(struct cc *c, enum hv_script_op o, uint32_t *at)
{
    if (!emit1(c, (uint8_t)o))
        return false;
    *at = c->code_len;
    return emit16(c, 0);
}

static void patch(struct cc *c, uint32_t at, uint32_t target)
{
    c->code[at] = (uint8_t)(target & 0xFF);
    c->code[at + 1] = (uint8_t)(target >> 8);
}

static bool jump_to(struct cc *c, enum hv_script_op o, uint32_t target)
{
    return emit1(c, (uint8_t)o) && emit16(c, target);
}

static bool push_const(struct cc *c, uint64_t v)
{
    uint32_t i;

    if (v <= 0xFF)
        return op8(c, HV_SOP_PUSHI, (uint32_t)v);
    for (i = 0; i < c->nconst; i++)
        if (c->consts[i] == v)
            break;
    if (i == c->nconst) {
        if (c->nconst >= HV_SCRIPT_MAX_CONST)
            return FAIL("more than %u distinct constants", HV_SCRIPT_MAX_CONST);
        c->consts[c->nconst++] = v;
    }
    return op(c, HV_SOP_PUSHK) && emit16(c, i);
}

/* A NUL-terminated string in the data; its offset. */
static bool add_data(struct cc *c, const char *s, uint32_t len, uint32_t *off)
{
    if (c->data_len + len + 1 > HV_SCRIPT_MAX_DATA || c->data_len + len + 1 > 0xFFFF)
        return FAIL("strings take more than %u bytes", HV_SCRIPT_MAX_DATA);
    *off = c->data_len;
    memcpy(c->data + c->data_len, s, len);
    c->data[c->data_len + len] = '\0';
    c->data_len += len + 1;
    return true;
}

/* ---- Names ----------------------------------------------------------------- */

static bool global_index(struct cc *c, const char *name, uint32_t *idx)
{
    uint32_t i;

    if (strlen(name) >= HV_SCRIPT_NAME_LEN)
        return FAIL("global name '.%s' is longer than %u characters", name, HV_SCRIPT_NAME_LEN - 1);
    for (i = 0; i < c->nglobals; i++)
        if (strcmp(c->globals[i], name) == 0)
            break;
    if (i == c->nglobals) {
        if (c->nglobals >= HV_SCRIPT_MAX_GLOBALS)
            return FAIL("more than %u global variables", HV_SCRIPT_MAX_GLOBALS);
        memset(c->globals[i], 0, HV_SCRIPT_NAME_LEN);
        memcpy(c->globals[i], name, strlen(name));
        c->nglobals++;
    }
    *idx = i;
    return true;
}

static int local_find(const struct cc *c, const char *name)
{
    uint32_t i;

    for (i = 0; i < c->scope->count; i++)
        if (strcmp(c->scope->names[i], name) == 0)
            return (int)i;
    return -1;
}

static bool local_add(struct cc *c, const char *name, uint32_t *idx)
{
    int i = local_find(c, name);

    if (i >= 0) {
        *idx = (uint32_t)i;
        return true;
    }
    if (strlen(name) >= HV_SCRIPT_NAME_LEN)
        return FAIL("variable name '%s' is longer than %u characters", name, HV_SCRIPT_NAME_LEN - 1);
    if (c->scope->count >= HV_SCRIPT_MAX_LOCALS)
        return FAIL("more than %u local variables", HV_SCRIPT_MAX_LOCALS);
    snprintf(c->scope->names[c->scope->count], HV_SCRIPT_NAME_LEN, "%s", name);
    *idx = c->scope->count++;
    if (c->scope->count > c->max_locals)
        c->max_locals = c->scope->count;
    return true;
}

static int func_find(const struct cc *c, const char *name)
{
    uint32_t i;

    for (i = 0; i < c->nfuncs; i++)
        if (strcmp(c->funcs[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- Registers and pseudo-registers --------------------------------------- */

struct reg_desc {
    const char *name;
    uint8_t reg, shift;
    uint64_t mask;           /* 0 = the whole register */
};

#define GPR(n64, n32, n16, n8, idx) \
    { n64, idx, 0, 0 }, { n32, idx, 0, 0xFFFFFFFFull }, { n16, idx, 0, 0xFFFF }, { n8, idx, 0, 0xFF }

static const struct reg_desc regs[] = {
    { "rax", 0, 0, 0 }, { "eax", 0, 0, 0xFFFFFFFFull }, { "ax", 0, 0, 0xFFFF }, { "al", 0, 0, 0xFF }, { "ah", 0, 8, 0xFF },
    { "rcx", 1, 0, 0 }, { "ecx", 1, 0, 0xFFFFFFFFull }, { "cx", 1, 0, 0xFFFF }, { "cl", 1, 0, 0xFF }, { "ch", 1, 8, 0xFF },
    { "rdx", 2, 0, 0 }, { "edx", 2, 0, 0xFFFFFFFFull }, { "dx", 2, 0, 0xFFFF }, { "dl", 2, 0, 0xFF }, { "dh", 2, 8, 0xFF },
    { "rbx", 3, 0, 0 }, { "ebx", 3, 0, 0xFFFFFFFFull }, { "bx", 3, 0, 0xFFFF }, { "bl", 3, 0, 0xFF }, { "bh", 3, 8, 0xFF },
    GPR("rsp", "esp", "sp", "spl", 4), GPR("rbp", "ebp", "bp", "bpl", 5),
    GPR("rsi", "esi", "si", "sil", 6), GPR("rdi", "edi", "di", "dil", 7),
    GPR("r8", "r8d", "r8w", "r8l", 8), GPR("r9", "r9d", "r9w", "r9l", 9),
    GPR("r10", "r10d", "r10w", "r10l", 10), GPR("r11", "r11d", "r11w", "r11l", 11),
    GPR("r12", "r12d", "r12w", "r12l", 12), GPR("r13", "r13d", "r13w", "r13l", 13),
    GPR("r14", "r14d", "r14w", "r14l", 14), GPR("r15", "r15d", "r15w", "r15l", 15),
    /* HyperDbg also names r8h..r15h (bits 15:8, as ah). */
    { "r8h", 8, 8, 0xFF }, { "r9h", 9, 8, 0xFF }, { "r10h", 10, 8, 0xFF }, { "r11h", 11, 8, 0xFF },
    { "r12h", 12, 8, 0xFF }, { "r13h", 13, 8, 0xFF }, { "r14h", 14, 8, 0xFF }, { "r15h", 15, 8, 0xFF },
    { "rip", HV_SREG_RIP, 0, 0 }, { "eip", HV_SREG_RIP, 0, 0xFFFFFFFFull }, { "ip", HV_SREG_RIP, 0, 0xFFFF },
    { "rflags", HV_SREG_RFLAGS, 0, 0 }, { "eflags", HV_SREG_RFLAGS, 0, 0xFFFFFFFFull },
    { "flags", HV_SREG_RFLAGS, 0, 0xFFFF },
    { "cf", HV_SREG_RFLAGS, 0, 1 }, { "pf", HV_SREG_RFLAGS, 2, 1 }, { "af", HV_SREG_RFLAGS, 4, 1 },
    { "zf", HV_SREG_RFLAGS, 6, 1 }, { "sf", HV_SREG_RFLAGS, 7, 1 }, { "tf", HV_SREG_RFLAGS, 8, 1 },
    { "if", HV_SREG_RFLAGS, 9, 1 }, { "df", HV_SREG_RFLAGS, 10, 1 }, { "of", HV_SREG_RFLAGS, 11, 1 },
    { "iopl", HV_SREG_RFLAGS, 12, 3 }, { "nt", HV_SREG_RFLAGS, 14, 1 }, { "rf", HV_SREG_RFLAGS, 16, 1 },
    { "vm", HV_SREG_RFLAGS, 17, 1 }, { "ac", HV_SREG_RFLAGS, 18, 1 }, { "vif", HV_SREG_RFLAGS, 19, 1 },
    { "vip", HV_SREG_RFLAGS, 20, 1 }, { "id", HV_SREG_RFLAGS, 21, 1 },
};

/* Registers HyperDbg documents that scripts here cannot reach. */
static const char *const regs_unavailable[] = {
    "ds", "es", "fs", "gs", "cs", "ss", "cr0", "cr2", "cr3", "cr4", "cr8", "dr0", "dr1", "dr2", "dr3",
    "dr6", "dr7", "gdtr", "ldtr", "tr", "idtr",
};

static const struct { const char *name; uint8_t id; } pseudos[] = {
    { "pid", HV_SPSEUDO_PID }, { "tid", HV_SPSEUDO_TID }, { "core", HV_SPSEUDO_CORE },
    { "proc", HV_SPSEUDO_PROC }, { "thread", HV_SPSEUDO_THREAD }, { "context", HV_SPSEUDO_CONTEXT },
    { "ip", HV_SPSEUDO_IP }, { "buffer", HV_SPSEUDO_BUFFER }, { "event_id", HV_SPSEUDO_EVENT_ID },
    { "id", HV_SPSEUDO_EVENT_ID }, { "event_stage", HV_SPSEUDO_EVENT_STAGE },
};

static const char *const pseudos_unavailable[] = { "pname", "peb", "teb", "event_tag", "tag", "date", "time" };

static const struct reg_desc *reg_lookup(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
        if (strcmp(regs[i].name, name) == 0)
            return &regs[i];
    return NULL;
}

static bool in_list(const char *const *list, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static bool reg_desc_of(struct cc *c, const struct reg_desc **out)
{
    const struct reg_desc *r = reg_lookup(c->tok.text);

    if (r == NULL) {
        if (in_list(regs_unavailable, sizeof(regs_unavailable) / sizeof(regs_unavailable[0]), c->tok.text))
            return FAIL("register '@%s' is not available to scripts here (general-purpose registers, "
                        "@rip and @rflags are)", c->tok.text);
        return FAIL("unknown register '@%s'", c->tok.text);
    }
    *out = r;
    return true;
}

/* Push a register's value (part). */
static bool emit_reg_read(struct cc *c, const struct reg_desc *r)
{
    if (!op8(c, HV_SOP_REG, r->reg))
        return false;
    if (r->shift && (!push_const(c, r->shift) || !op(c, HV_SOP_SHR)))
        return false;
    if (r->mask && (!push_const(c, r->mask) || !op(c, HV_SOP_AND)))
        return false;
    return true;
}

/* The value is on the stack: store it into the register (a part keeps the
 * other bits: reg = (reg & ~(mask << shift)) | ((v & mask) << shift)). */
static bool emit_reg_write(struct cc *c, const struct reg_desc *r)
{
    if (r->mask == 0)
        return op8(c, HV_SOP_SETREG, r->reg);
    return push_const(c, r->mask) && op(c, HV_SOP_AND) &&
           (r->shift == 0 || (push_const(c, r->shift) && op(c, HV_SOP_SHL))) &&
           op8(c, HV_SOP_REG, r->reg) && push_const(c, ~(r->mask << r->shift)) && op(c, HV_SOP_AND) &&
           op(c, HV_SOP_OR) && op8(c, HV_SOP_SETREG, r->reg);
}

/* ---- Expressions ---------------------------------------------------------- */

static bool expr(struct cc *c);
static bool unary(struct cc *c);

static bool nest_in(struct cc *c)
{
    if (++c->depth > MAX_NEST)
        return FAIL("nested too deeply (more than %u levels)", MAX_NEST);
    return true;
}

/* An argument that may be a string literal: *is_lit tells, text in lit. */
static bool string_or_expr(struct cc *c, bool *is_lit, char *lit, uint32_t *lit_len)
{
    if (c->tok.kind == HV_STOK_STRING) {
        *is_lit = true;
        memcpy(lit, c->tok.text, c->tok.text_len + 1);
        *lit_len = c->tok.text_len;
        return advance_tok(c);
    }
    *is_lit = false;
    return expr(c);
}

/* &.global, the first argument of the interlocked functions. */
static bool global_ref(struct cc *c, uint32_t *g)
{
    if (!is_punct(&c->tok, "&"))
        return FAIL("expected a reference to a global variable (&.name)");
    if (!advance_tok(c))
        return false;
    if (c->tok.kind != HV_STOK_GLOBAL)
        return FAIL("interlocked functions work on global variables here: write &.name");
    if (!global_index(c, c->tok.text, g))
        return false;
    return advance_tok(c);
}

static bool printf_call(struct cc *c, bool add_newline_fmt_only)
{
    char fmt[HV_SCRIPT_MAX_DATA];
    uint32_t flen, nargs = 0, off;
    size_t i;

    (void)add_newline_fmt_only;
    if (c->tok.kind != HV_STOK_STRING)
        return FAIL("printf needs a format string first");
    memcpy(fmt, c->tok.text, c->tok.text_len + 1);
    flen = c->tok.text_len;
    if (!advance_tok(c))
        return false;
    while (is_punct(&c->tok, ",")) {
        if (!advance_tok(c))
            return false;
        if (c->tok.kind == HV_STOK_STRING) {
            /* A literal for %s: put it into the format (the format is
             * text, the literal's % doubled). */
            char *p = NULL;
            uint32_t seen = 0, k;
            char buf[HV_SCRIPT_MAX_DATA];
            uint32_t bl = 0;

            for (i = 0; i < flen; i++) {
                if (fmt[i] == '%' && i + 1 < flen && fmt[i + 1] == '%') {
                    i++;
                    continue;
                }
                if (fmt[i] == '%') {
                    size_t j = i + 1;

                    while (j < flen && strchr("-0123456789hlI", fmt[j]))
                        j++;
                    if (seen == nargs) {
                        if (j < flen && fmt[j] == 's')
                            p = fmt + i;
                        else
                            return FAIL("a string argument needs %%s in the format");
                        break;
                    }
                    seen++;
                }
            }
            if (p == NULL)
                return FAIL("more arguments than conversions in the format");
            /* Rebuild: fmt up to p, the literal (% -> %%), then after %s. */
            {
                char *after = strchr(p, 's') + 1;

                memcpy(buf, fmt, (size_t)(p - fmt));
                bl = (uint32_t)(p - fmt);
                for (k = 0; k < c->tok.text_len; k++) {
                    if (bl + 3 >= sizeof(buf))
                        return FAIL("printf format too long");
                    buf[bl++] = c->tok.text[k];
                    if (c->tok.text[k] == '%')
                        buf[bl++] = '%';
                }
                if (bl + strlen(after) + 1 >= sizeof(buf))
                    return FAIL("printf format too long");
                memcpy(buf + bl, after, strlen(after) + 1);
                bl += (uint32_t)strlen(after);
                memcpy(fmt, buf, bl + 1);
                flen = bl;
            }
            if (!advance_tok(c))
                return false;
            continue;
        }
        if (!expr(c))
            return false;
        if (++nargs > HV_SCRIPT_MAX_STACK - 2)
            return FAIL("too many printf arguments");
    }
    /* Check the conversions against the arguments. */
    {
        uint32_t convs = 0;

        for (i = 0; i < flen; i++) {
            size_t j;

            if (fmt[i] != '%')
                continue;
            if (i + 1 < flen && fmt[i + 1] == '%') {
                i++;
                continue;
            }
            j = i + 1;
            while (j < flen && strchr("-0123456789", fmt[j]))
                j++;
            if (j + 1 < flen && fmt[j] == 'h' && fmt[j + 1] == 'h')
                j += 2;
            else if (j + 1 < flen && fmt[j] == 'l' && fmt[j + 1] == 'l')
                j += 2;
            else if (j + 2 < flen && fmt[j] == 'I' && fmt[j + 1] == '6' && fmt[j + 2] == '4')
                j += 3;
            else if (j < flen && (fmt[j] == 'h' || fmt[j] == 'l' || fmt[j] == 'w'))
                j++;
            if (j >= flen || !strchr("diuxXocps", fmt[j]))
                return FAIL("unsupported conversion in printf format at '%.*s' (use %%d %%i %%u %%x "
                            "%%X %%o %%c %%p %%s %%ws with h, hh, l, ll, I64)",
                            (int)(j < flen ? j - i + 1 : j - i), fmt + i);
            convs++;
            i = j;
        }
        if (convs != nargs)
            return FAIL("printf format has %u conversion(s) but %u argument(s)", convs, nargs);
    }
    if (!add_data(c, fmt, flen, &off))
        return false;
    return op(c, HV_SOP_PRINTF) && emit16(c, off) && emit1(c, (uint8_t)nargs);
}

/* Built-in function call; the name token is consumed, c->tok is '('.
 * *pushes = whether a value is left on the stack. */
static bool builtin(struct cc *c, const char *name, const struct hv_script_token *at, bool *pushes, bool *known)
{
    static const struct { const char *name; uint8_t kind; } loads[] = {
        { "poi", HV_SLOAD_DQ }, { "dq", HV_SLOAD_DQ }, { "dd", HV_SLOAD_DD }, { "dw", HV_SLOAD_DW },
        { "db", HV_SLOAD_DB }, { "hi", HV_SLOAD_HI }, { "low", HV_SLOAD_LOW },
    };
    static const char *const unsupported[] = {
        "poi_pa", "db_pa", "dw_pa", "dd_pa", "dq_pa", "hi_pa", "low_pa", "eb_pa", "ed_pa", "eq_pa",
        "memcpy", "memcpy_pa", "strncmp", "wcslen", "wcscmp", "wcsncmp", "spinlock_lock",
        "spinlock_unlock", "spinlock_lock_custom_wait", "event_inject", "event_inject_error_code",
        "event_clear", "event_sc", "flush", "formats", "rdtsc", "rdtscp", "microsleep", "disassemble_len",
        "disassemble_len32", "disassemble_len64", "physical_to_virtual", "virtual_to_physical",
        "event_trace_step", "event_trace_step_in", "event_trace_step_out", "event_trace_instrumentation_step",
        "event_trace_instrumentation_step_in", "lbr_save", "lbr_dump", "lbr_print", "lbr_restore",
        "lbr_check", "lbr_restore_by_filter", "test_statement", "json", "jsonstart", "jsonend",
        "reference", "sizeof",
    };
    size_t i;
    uint32_t g;

    *known = true;
    *pushes = true;
    if (!expect(c, "(", "after the function name"))
        return false;
    for (i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
        if (strcmp(name, loads[i].name) == 0)
            return expr(c) && expect(c, ")", "to close the call") && op8(c, HV_SOP_LOAD, loads[i].kind);
    }
    if (strcmp(name, "not") == 0)
        return expr(c) && expect(c, ")", "to close the call") && op(c, HV_SOP_NOT);
    if (strcmp(name, "neg") == 0)
        return expr(c) && expect(c, ")", "to close the call") && op(c, HV_SOP_NEG);
    if (strcmp(name, "check_address") == 0)
        return expr(c) && expect(c, ")", "to close the call") && op(c, HV_SOP_CHECKADDR);
    if (strcmp(name, "eb") == 0 || strcmp(name, "ed") == 0 || strcmp(name, "eq") == 0) {
        uint32_t size = name[1] == 'b' ? 1 : name[1] == 'd' ? 4 : 8;

        return expr(c) && expect(c, ",", "between the address and the value") && expr(c) &&
               expect(c, ")", "to close the call") && op8(c, HV_SOP_STORE, size);
    }
    if (strcmp(name, "strlen") == 0) {
        bool lit;
        char s[256];
        uint32_t n = 0;

        if (!string_or_expr(c, &lit, s, &n) || !expect(c, ")", "to close the call"))
            return false;
        return lit ? push_const(c, n) : op(c, HV_SOP_STRLEN);
    }
    if (strcmp(name, "strcmp") == 0 || strcmp(name, "memcmp") == 0) {
        bool mem = name[0] == 'm', la, lb;
        char sa[256], sb[256];
        uint32_t na = 0, nb = 0, off = 0;

        if (!string_or_expr(c, &la, sa, &na) || !expect(c, ",", "between the arguments"))
            return false;
        /* A literal first argument is compared second and the sign flipped. */
        if (!string_or_expr(c, &lb, sb, &nb))
            return false;
        if (la && lb && !mem) {
            int r = strcmp(sa, sb);

            return expect(c, ")", "to close the call") && push_const(c, r < 0 ? (uint64_t)-1 : r > 0 ? 1 : 0);
        }
        if (la && lb)
            return FAIL("memcmp of two literals: compare them yourself");
        if (la || lb) {
            if (!add_data(c, la ? sa : sb, la ? na : nb, &off))
                return false;
        }
        if (mem) {
            if (!expect(c, ",", "before the length") || !expr(c))
                return false;
        }
        if (!expect(c, ")", "to close the call"))
            return false;
        if (la || lb) {
            if (!op(c, mem ? HV_SOP_MEMCMPK : HV_SOP_STRCMPK) || !emit16(c, off))
                return false;
            return la ? op(c, HV_SOP_NEG) : true;
        }
        return op(c, mem ? HV_SOP_MEMCMP : HV_SOP_STRCMP);
    }
    if (strcmp(name, "interlocked_increment") == 0 || strcmp(name, "interlocked_decrement") == 0) {
        return global_ref(c, &g) && expect(c, ")", "to close the call") && op(c, HV_SOP_ILK) &&
               emit1(c, name[12] == 'i' ? HV_SILK_INC : HV_SILK_DEC) && emit1(c, (uint8_t)g);
    }
    if (strcmp(name, "interlocked_exchange") == 0 || strcmp(name, "interlocked_exchange_add") == 0) {
        bool add = strcmp(name, "interlocked_exchange_add") == 0;

        return global_ref(c, &g) && expect(c, ",", "between the arguments") && expr(c) &&
               expect(c, ")", "to close the call") && op(c, HV_SOP_ILK) &&
               emit1(c, add ? HV_SILK_XADD : HV_SILK_XCHG) && emit1(c, (uint8_t)g);
    }
    if (strcmp(name, "interlocked_compare_exchange") == 0) {
        return global_ref(c, &g) && expect(c, ",", "after the destination") && expr(c) &&
               expect(c, ",", "after the exchange value") && expr(c) && expect(c, ")", "to close the call") &&
               op(c, HV_SOP_ILK) && emit1(c, HV_SILK_CMPXCHG) && emit1(c, (uint8_t)g);
    }
    if (strcmp(name, "event_enable") == 0 || strcmp(name, "event_disable") == 0 ||
        strcmp(name, "enable_event") == 0 || strcmp(name, "disable_event") == 0) {
        bool en = strstr(name, "enable") != NULL;

        *pushes = false;
        return expr(c) && expect(c, ")", "to close the call") && op8(c, HV_SOP_EVENT, en ? 1 : 2);
    }
    if (strcmp(name, "pause") == 0) {
        *pushes = false;
        return expect(c, ")", "pause takes no arguments") && op(c, HV_SOP_PAUSE);
    }
    if (strcmp(name, "print") == 0) {
        uint32_t off;

        *pushes = false;
        return expr(c) && expect(c, ")", "to close the call") && add_data(c, "%llx\n", 5, &off) &&
               op(c, HV_SOP_PRINTF) && emit16(c, off) && emit1(c, 1);
    }
    if (strcmp(name, "printf") == 0) {
        *pushes = false;
        return printf_call(c, false) && expect(c, ")", "to close the call");
    }
    for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (strcmp(name, unsupported[i]) == 0)
            return fail_at(c, at, "function '%s' is not available in this script engine", name);
    *known = false;
    return true;
}

/* A call of a user function (name consumed, c->tok is '('). */
static bool user_call(struct cc *c, const struct hv_script_token *at, const char *name)
{
    int f = func_find(c, name);
    uint32_t nargs = 0;

    /* '(' was consumed by builtin(). */
    if (!is_punct(&c->tok, ")")) {
        for (;;) {
            if (!expr(c))
                return false;
            nargs++;
            if (!is_punct(&c->tok, ","))
                break;
            if (!advance_tok(c))
                return false;
        }
    }
    if (!expect(c, ")", "to close the call"))
        return false;
    if (f < 0) {
        if (c->nfuncs >= MAX_FUNCS)
            return fail_at(c, at, "more than %u functions", MAX_FUNCS);
        f = (int)c->nfuncs++;
        memset(&c->funcs[f], 0, sizeof(c->funcs[f]));
        snprintf(c->funcs[f].name, HV_SCRIPT_NAME_LEN, "%s", name);
        c->funcs[f].nparams = nargs;
        c->funcs[f].line = at->line;
        c->funcs[f].column = at->column;
    } else if (c->funcs[f].nparams != nargs) {
        return fail_at(c, at, "function '%s' takes %u argument(s), not %u", name, c->funcs[f].nparams, nargs);
    }
    if (c->nfixups >= MAX_FIXUPS)
        return fail_at(c, at, "too many calls");
    if (!op(c, HV_SOP_CALL))
        return false;
    c->fixups[c->nfixups].at = c->code_len;
    c->fixups[c->nfixups].func = (uint32_t)f;
    c->nfixups++;
    return emit16(c, 0) && emit1(c, (uint8_t)nargs);
}

static bool primary(struct cc *c)
{
    struct hv_script_token t = c->tok;
    size_t i;

    switch (t.kind) {
    case HV_STOK_NUMBER:
        return advance_tok(c) && push_const(c, t.value);
    case HV_STOK_REGISTER: {
        const struct reg_desc *r;

        return reg_desc_of(c, &r) && advance_tok(c) && emit_reg_read(c, r);
    }
    case HV_STOK_PSEUDO:
        for (i = 0; i < sizeof(pseudos) / sizeof(pseudos[0]); i++)
            if (strcmp(pseudos[i].name, t.text) == 0)
                return advance_tok(c) && op8(c, HV_SOP_PSEUDO, pseudos[i].id);
        if (in_list(pseudos_unavailable, sizeof(pseudos_unavailable) / sizeof(pseudos_unavailable[0]), t.text))
            return FAIL("pseudo-register '$%s' is not available in this script engine", t.text);
        return FAIL("unknown pseudo-register '$%s'", t.text);
    case HV_STOK_GLOBAL: {
        uint32_t g;

        return global_index(c, t.text, &g) && advance_tok(c) && op8(c, HV_SOP_GLOBAL, g);
    }
    case HV_STOK_IDENT: {
        int l;

        if (is_punct(peek_tok(c), "(")) {
            bool pushes, known;

            if (!advance_tok(c) || !builtin(c, t.text, &t, &pushes, &known))
                return false;
            if (!known) {
                /* Not a built-in: a user function ('(' not consumed). */
                if (!user_call(c, &t, t.text))
                    return false;
                return true;
            }
            if (!pushes)
                return fail_at(c, &t, "'%s' gives no value and cannot be used in an expression", t.text);
            return true;
        }
        if (strcmp(t.text, "float") == 0 || strcmp(t.text, "double") == 0)
            return FAIL("floating point is not supported (scripts run in VMX root)");
        l = local_find(c, t.text);
        if (l < 0)
            return FAIL("unknown variable '%s' (assign it first; globals are written .%s)", t.text, t.text);
        return advance_tok(c) && op8(c, HV_SOP_LOCAL, (uint32_t)l);
    }
    case HV_STOK_PUNCT:
        if (is_punct(&t, "(")) {
            return advance_tok(c) && expr(c) && expect(c, ")", "to close the parenthesis");
        }
        break;
    case HV_STOK_STRING:
        return FAIL("a string can only be an argument of printf, strlen, strcmp or memcmp");
    case HV_STOK_EOF:
        return FAIL("expected a value, found the end of the script");
    default:
        break;
    }
    return FAIL("expected a value");
}

static bool unary(struct cc *c)
{
    bool ok;

    if (!nest_in(c))
        return false;
    if (is_punct(&c->tok, "-")) {
        ok = advance_tok(c) && unary(c) && op(c, HV_SOP_NEG);
    } else if (is_punct(&c->tok, "+")) {
        ok = advance_tok(c) && unary(c);
    } else if (is_punct(&c->tok, "~")) {
        ok = advance_tok(c) && unary(c) && op(c, HV_SOP_NOT);
    } else if (is_punct(&c->tok, "!")) {
        ok = advance_tok(c) && unary(c) && push_const(c, 0) && op(c, HV_SOP_EQ);
    } else if (is_punct(&c->tok, "*")) {
        ok = advance_tok(c) && unary(c) && op8(c, HV_SOP_LOAD, HV_SLOAD_DQ);
    } else if (is_punct(&c->tok, "&")) {
        ok = FAIL("'&' (address of) works only on a global in interlocked_*(&.name, ...)");
    } else {
        ok = primary(c);
    }
    c->depth--;
    return ok;
}

struct binop { const char *text; enum hv_script_op op; };

static const struct binop level_ops[7][7] = {
    /* 0: | */ { { "|", HV_SOP_OR } },
    /* 1: ^ */ { { "^", HV_SOP_XOR } },
    /* 2: & */ { { "&", HV_SOP_AND } },
    /* 3: comparisons (one level, as HyperDbg's boolean grammar) */
    { { "==", HV_SOP_EQ }, { "!=", HV_SOP_NE }, { "<", HV_SOP_LT }, { ">", HV_SOP_GT },
      { "<=", HV_SOP_LE }, { ">=", HV_SOP_GE } },
    /* 4: shifts */ { { "<<", HV_SOP_SHL }, { ">>", HV_SOP_SHR } },
    /* 5: additive */ { { "+", HV_SOP_ADD }, { "-", HV_SOP_SUB } },
    /* 6: multiplicative */ { { "*", HV_SOP_MUL }, { "/", HV_SOP_DIV }, { "%", HV_SOP_MOD } },
};

static bool binary(struct cc *c, int level)
{
    if (level > 6)
        return unary(c);
    if (!nest_in(c) || !binary(c, level + 1))
        return false;
    for (;;) {
        const struct binop *found = NULL;
        size_t i;

        for (i = 0; i < 7 && level_ops[level][i].text != NULL; i++)
            if (is_punct(&c->tok, level_ops[level][i].text))
                found = &level_ops[level][i];
        if (found == NULL)
            break;
        if (!advance_tok(c) || !binary(c, level + 1) || !op(c, found->op))
            return false;
    }
    c->depth--;
    return true;
}

static bool logic_and(struct cc *c)
{
    if (!binary(c, 0))
        return false;
    while (is_punct(&c->tok, "&&")) {
        uint32_t f, e;

        if (!advance_tok(c) || !jump(c, HV_SOP_JZ, &f) || !binary(c, 0) || !op(c, HV_SOP_BOOL) ||
            !jump(c, HV_SOP_JMP, &e))
            return false;
        patch(c, f, c->code_len);
        if (!push_const(c, 0))
            return false;
        patch(c, e, c->code_len);
    }
    return true;
}

static bool expr(struct cc *c)
{
    if (!nest_in(c) || !logic_and(c))
        return false;
    while (is_punct(&c->tok, "||")) {
        uint32_t t, e;

        if (!advance_tok(c) || !jump(c, HV_SOP_JNZ, &t) || !logic_and(c) || !op(c, HV_SOP_BOOL) ||
            !jump(c, HV_SOP_JMP, &e))
            return false;
        patch(c, t, c->code_len);
        if (!push_const(c, 1))
            return false;
        patch(c, e, c->code_len);
    }
    c->depth--;
    return true;
}

/* ---- Statements ------------------------------------------------------------ */

static bool statement(struct cc *c);

static bool is_type_word(const struct hv_script_token *t)
{
    static const char *const types[] = { "void", "bool", "char", "short", "int", "long", "unsigned", "signed",
                                         "float", "double" };
    size_t i;

    if (t->kind != HV_STOK_IDENT)
        return false;
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(t->text, types[i]) == 0)
            return true;
    return false;
}

/* Skip type words (and a '*'); refuse floating point. */
static bool skip_types(struct cc *c, bool *is_void)
{
    *is_void = false;
    while (is_type_word(&c->tok)) {
        if (strcmp(c->tok.text, "float") == 0 || strcmp(c->tok.text, "double") == 0)
            return FAIL("floating point is not supported (scripts run in VMX root)");
        if (strcmp(c->tok.text, "void") == 0)
            *is_void = true;
        if (!advance_tok(c))
            return false;
    }
    while (is_punct(&c->tok, "*"))
        if (!advance_tok(c))
            return false;
    return true;
}

enum lv_kind { LV_LOCAL, LV_GLOBAL, LV_REG };
struct lvalue {
    enum lv_kind kind;
    uint32_t index;
    const struct reg_desc *reg;
};

static bool lvalue_read(struct cc *c, const struct lvalue *lv)
{
    switch (lv->kind) {
    case LV_LOCAL: return op8(c, HV_SOP_LOCAL, lv->index);
    case LV_GLOBAL: return op8(c, HV_SOP_GLOBAL, lv->index);
    default: return emit_reg_read(c, lv->reg);
    }
}

static bool lvalue_write(struct cc *c, const struct lvalue *lv)
{
    switch (lv->kind) {
    case LV_LOCAL: return op8(c, HV_SOP_SETLOCAL, lv->index);
    case LV_GLOBAL: return op8(c, HV_SOP_SETGLOBAL, lv->index);
    default: return emit_reg_write(c, lv->reg);
    }
}

/* The current token names something assignable; consume it. */
static bool lvalue_parse(struct cc *c, struct lvalue *lv, bool declare)
{
    switch (c->tok.kind) {
    case HV_STOK_IDENT:
        if (func_find(c, c->tok.text) >= 0 && !declare)
            return FAIL("'%s' is a function, not a variable", c->tok.text);
        lv->kind = LV_LOCAL;
        if (!local_add(c, c->tok.text, &lv->index))
            return false;
        break;
    case HV_STOK_GLOBAL:
        lv->kind = LV_GLOBAL;
        if (!global_index(c, c->tok.text, &lv->index))
            return false;
        break;
    case HV_STOK_REGISTER:
        lv->kind = LV_REG;
        if (!reg_desc_of(c, &lv->reg))
            return false;
        break;
    case HV_STOK_NUMBER:
        return FAIL("'%.*s' is a number (hex digits only), not a variable name", (int)c->tok.length,
                    c->lx.src + c->tok.offset);
    default:
        return FAIL("expected a variable, a global (.name) or a register (@name)");
    }
    return advance_tok(c);
}

/* After an lvalue: = += ... ++ -- (and a = b = c). */
static bool assignment_rest(struct cc *c, const struct lvalue *lv)
{
    static const struct binop compound[] = {
        { "+=", HV_SOP_ADD }, { "-=", HV_SOP_SUB }, { "*=", HV_SOP_MUL }, { "/=", HV_SOP_DIV },
        { "%=", HV_SOP_MOD }, { "<<=", HV_SOP_SHL }, { ">>=", HV_SOP_SHR }, { "&=", HV_SOP_AND },
        { "^=", HV_SOP_XOR }, { "|=", HV_SOP_OR },
    };
    size_t i;

    if (is_punct(&c->tok, "++") || is_punct(&c->tok, "--")) {
        bool inc = c->tok.text[0] == '+';

        return advance_tok(c) && lvalue_read(c, lv) && push_const(c, 1) &&
               op(c, inc ? HV_SOP_ADD : HV_SOP_SUB) && lvalue_write(c, lv);
    }
    if (is_punct(&c->tok, "=")) {
        if (!advance_tok(c))
            return false;
        /* a = b = expr: b is assigned first, then a gets b's value. */
        if ((c->tok.kind == HV_STOK_IDENT || c->tok.kind == HV_STOK_GLOBAL || c->tok.kind == HV_STOK_REGISTER) &&
            is_punct(peek_tok(c), "=")) {
            struct lvalue inner;

            if (!lvalue_parse(c, &inner, false) || !assignment_rest(c, &inner) || !lvalue_read(c, &inner))
                return false;
            return lvalue_write(c, lv);
        }
        return expr(c) && lvalue_write(c, lv);
    }
    for (i = 0; i < sizeof(compound) / sizeof(compound[0]); i++) {
        if (is_punct(&c->tok, compound[i].text))
            return advance_tok(c) && lvalue_read(c, lv) && expr(c) && op(c, compound[i].op) &&
                   lvalue_write(c, lv);
    }
    return FAIL("expected an assignment (=, +=, ++, ...)");
}

static bool block_or_statement(struct cc *c)
{
    return statement(c);
}

static bool cond_paren(struct cc *c, const char *what)
{
    return expect(c, "(", what) && expr(c) && expect(c, ")", "to close the condition");
}

static bool loop_begin(struct cc *c)
{
    if (c->nloops >= MAX_LOOPS)
        return FAIL("loops nested more than %u deep", MAX_LOOPS);
    memset(&c->loops[c->nloops], 0, sizeof(c->loops[0]));
    c->nloops++;
    return true;
}

static void loop_end(struct cc *c, uint32_t break_to, uint32_t cont_to)
{
    struct loop *l = &c->loops[--c->nloops];
    uint32_t i;

    for (i = 0; i < l->nbreak; i++)
        patch(c, l->break_list[i], break_to);
    for (i = 0; i < l->ncont; i++)
        patch(c, l->cont_list[i], cont_to);
}

static bool function_def(struct cc *c, bool is_void)
{
    struct hv_script_token name = c->tok;
    uint32_t over, i;
    int f;

    if (c->cur_func >= 0)
        return FAIL("functions cannot be defined inside functions");
    if (c->nloops != 0)
        return FAIL("functions cannot be defined inside loops");
    if (strlen(name.text) >= HV_SCRIPT_NAME_LEN)
        return FAIL("function name is longer than %u characters", HV_SCRIPT_NAME_LEN - 1);
    f = func_find(c, name.text);
    if (f >= 0 && c->funcs[f].defined)
        return FAIL("function '%s' is defined twice", name.text);
    if (f < 0) {
        if (c->nfuncs >= MAX_FUNCS)
            return FAIL("more than %u functions", MAX_FUNCS);
        f = (int)c->nfuncs++;
        memset(&c->funcs[f], 0, sizeof(c->funcs[f]));
        snprintf(c->funcs[f].name, HV_SCRIPT_NAME_LEN, "%s", name.text);
        c->funcs[f].nparams = UINT32_MAX;
    }
    if (!advance_tok(c) || !expect(c, "(", "after the function name"))
        return false;
    memset(&c->func_scope, 0, sizeof(c->func_scope));
    c->scope = &c->func_scope;
    i = 0;
    if (!is_punct(&c->tok, ")")) {
        for (;;) {
            bool v;
            uint32_t idx;

            if (!skip_types(c, &v))
                return false;
            if (c->tok.kind != HV_STOK_IDENT)
                return FAIL("expected a parameter name");
            if (local_find(c, c->tok.text) >= 0)
                return FAIL("parameter '%s' appears twice", c->tok.text);
            if (!local_add(c, c->tok.text, &idx) || !advance_tok(c))
                return false;
            i++;
            if (!is_punct(&c->tok, ","))
                break;
            if (!advance_tok(c))
                return false;
        }
    }
    if (!expect(c, ")", "after the parameters"))
        return false;
    if (c->funcs[f].nparams != UINT32_MAX && c->funcs[f].nparams != i)
        return fail_at(c, &name, "function '%s' was called with %u argument(s) but takes %u", name.text,
                       c->funcs[f].nparams, i);
    c->funcs[f].nparams = i;
    c->funcs[f].returns_value = !is_void;
    if (!is_punct(&c->tok, "{"))
        return FAIL("expected '{' to start the function body");
    if (!jump(c, HV_SOP_JMP, &over))
        return false;
    c->funcs[f].entry = c->code_len;
    c->funcs[f].defined = true;
    c->cur_func = f;
    if (!statement(c))
        return false;
    /* Falling off the end returns 0. */
    if (!push_const(c, 0) || !op(c, HV_SOP_RET))
        return false;
    c->cur_func = -1;
    c->scope = &c->main_scope;
    patch(c, over, c->code_len);
    return true;
}

static bool statement(struct cc *c)
{
    struct hv_script_token t = c->tok;
    bool ok = true;

    if (!nest_in(c))
        return false;
    c->last_was_expr = false;
    if (is_punct(&t, "{")) {
        if (!advance_tok(c))
            return false;
        while (!is_punct(&c->tok, "}")) {
            if (c->tok.kind == HV_STOK_EOF)
                return FAIL("expected '}' to close the block opened at line %u, column %u", t.line, t.column);
            if (!statement(c))
                return false;
        }
        ok = advance_tok(c);
        c->last_was_expr = false;
    } else if (is_punct(&t, ";")) {
        ok = advance_tok(c);
    } else if (is_word(&t, "if")) {
        uint32_t ends[128], nends = 0, next, i;

        if (!advance_tok(c) || !cond_paren(c, "after if") || !jump(c, HV_SOP_JZ, &next) || !block_or_statement(c))
            return false;
        for (;;) {
            if (is_word(&c->tok, "elsif") || (is_word(&c->tok, "else") && is_word(peek_tok(c), "if"))) {
                if (nends >= 128)
                    return FAIL("too many elsif branches");
                if (!jump(c, HV_SOP_JMP, &ends[nends++]))
                    return false;
                patch(c, next, c->code_len);
                if (is_word(&c->tok, "else") && !advance_tok(c))
                    return false;
                if (!advance_tok(c) || !cond_paren(c, "after elsif") || !jump(c, HV_SOP_JZ, &next) ||
                    !block_or_statement(c))
                    return false;
                continue;
            }
            if (is_word(&c->tok, "else")) {
                if (nends >= 128)
                    return FAIL("too many elsif branches");
                if (!jump(c, HV_SOP_JMP, &ends[nends++]))
                    return false;
                patch(c, next, c->code_len);
                next = UINT32_MAX;
                if (!advance_tok(c) || !block_or_statement(c))
                    return false;
            }
            break;
        }
        if (next != UINT32_MAX)
            patch(c, next, c->code_len);
        for (i = 0; i < nends; i++)
            patch(c, ends[i], c->code_len);
        c->last_was_expr = false;
    } else if (is_word(&t, "while")) {
        uint32_t top = c->code_len, end;

        if (!advance_tok(c) || !cond_paren(c, "after while") || !jump(c, HV_SOP_JZ, &end) || !loop_begin(c) ||
            !block_or_statement(c) || !jump_to(c, HV_SOP_JMP, top))
            return false;
        patch(c, end, c->code_len);
        loop_end(c, c->code_len, top);
        c->last_was_expr = false;
    } else if (is_word(&t, "do")) {
        uint32_t top = c->code_len, cont;

        if (!advance_tok(c) || !loop_begin(c) || !block_or_statement(c))
            return false;
        if (!is_word(&c->tok, "while"))
            return FAIL("expected 'while' after the do body");
        cont = c->code_len;
        if (!advance_tok(c) || !cond_paren(c, "after while") || !jump_to(c, HV_SOP_JNZ, top) ||
            !expect(c, ";", "after do ... while (...)"))
            return false;
        loop_end(c, c->code_len, cont);
        c->last_was_expr = false;
    } else if (is_word(&t, "for")) {
        uint32_t top, end = UINT32_MAX, body_jmp, step, i;

        if (!advance_tok(c) || !expect(c, "(", "after for"))
            return false;
        if (!is_punct(&c->tok, ";")) {
            struct lvalue lv;
            bool v;

            if (!skip_types(c, &v) || !lvalue_parse(c, &lv, true) || !assignment_rest(c, &lv))
                return false;
            while (is_punct(&c->tok, ",")) {
                if (!advance_tok(c) || !lvalue_parse(c, &lv, true) || !assignment_rest(c, &lv))
                    return false;
            }
        }
        if (!expect(c, ";", "after the for initialization"))
            return false;
        top = c->code_len;
        if (!is_punct(&c->tok, ";")) {
            if (!expr(c) || !jump(c, HV_SOP_JZ, &end))
                return false;
        }
        if (!expect(c, ";", "after the for condition") || !jump(c, HV_SOP_JMP, &body_jmp))
            return false;
        step = c->code_len;
        while (!is_punct(&c->tok, ")")) {
            struct lvalue lv;

            if (!lvalue_parse(c, &lv, false) || !assignment_rest(c, &lv))
                return false;
            if (!is_punct(&c->tok, ","))
                break;
            if (!advance_tok(c))
                return false;
        }
        if (!expect(c, ")", "to close for (...)") || !jump_to(c, HV_SOP_JMP, top))
            return false;
        patch(c, body_jmp, c->code_len);
        if (!loop_begin(c) || !block_or_statement(c) || !jump_to(c, HV_SOP_JMP, step))
            return false;
        if (end != UINT32_MAX)
            patch(c, end, c->code_len);
        loop_end(c, c->code_len, step);
        (void)i;
        c->last_was_expr = false;
    } else if (is_word(&t, "break") || is_word(&t, "continue")) {
        struct loop *l;
        bool brk = t.text[0] == 'b';
        uint32_t at;

        if (c->nloops == 0)
            return FAIL("'%s' outside a loop", t.text);
        l = &c->loops[c->nloops - 1];
        if ((brk ? l->nbreak : l->ncont) >= 64)
            return FAIL("too many '%s' in one loop", t.text);
        if (!advance_tok(c) || !expect(c, ";", brk ? "after break" : "after continue") || !jump(c, HV_SOP_JMP, &at))
            return false;
        if (brk)
            l->break_list[l->nbreak++] = at;
        else
            l->cont_list[l->ncont++] = at;
    } else if (is_word(&t, "return")) {
        if (!advance_tok(c))
            return false;
        if (is_punct(&c->tok, ";")) {
            ok = push_const(c, 0);
        } else {
            ok = expr(c);
        }
        ok = ok && expect(c, ";", "after return") && op(c, HV_SOP_RET);
    } else if (is_type_word(&t)) {
        bool is_void;

        if (!skip_types(c, &is_void))
            return false;
        if (c->tok.kind == HV_STOK_IDENT && is_punct(peek_tok(c), "(")) {
            ok = function_def(c, is_void);
        } else {
            struct lvalue lv;

            for (;;) {
                if (c->tok.kind != HV_STOK_IDENT)
                    return FAIL("expected a variable name after the type");
                if (!lvalue_parse(c, &lv, true))
                    return false;
                if (is_punct(&c->tok, "=")) {
                    if (!assignment_rest(c, &lv))
                        return false;
                } else if (!push_const(c, 0) || !lvalue_write(c, &lv)) {
                    return false;
                }
                if (!is_punct(&c->tok, ","))
                    break;
                if (!advance_tok(c))
                    return false;
            }
            ok = expect(c, ";", "after the declaration");
        }
    } else if (is_punct(&t, "*")) {
        /* *addr = value: an 8-byte store (HyperDbg's dereference assignment). */
        if (!advance_tok(c) || !unary(c) || !expect(c, "=", "in *address = value") || !expr(c) ||
            !op8(c, HV_SOP_STORE, 8) || !op(c, HV_SOP_POP) || !expect(c, ";", "after the assignment"))
            return false;
    } else if ((t.kind == HV_STOK_IDENT || t.kind == HV_STOK_GLOBAL || t.kind == HV_STOK_REGISTER) &&
               peek_tok(c)->kind == HV_STOK_PUNCT && !is_punct(peek_tok(c), "(") &&
               (strchr("=+-*/%<>&^|", peek_tok(c)->text[0]) != NULL) &&
               (strcmp(peek_tok(c)->text, "==") != 0 && peek_tok(c)->text[strlen(peek_tok(c)->text) - 1] == '=' ?
                    true : is_punct(peek_tok(c), "++") || is_punct(peek_tok(c), "--"))) {
        struct lvalue lv;

        if (!lvalue_parse(c, &lv, false) || !assignment_rest(c, &lv) || !expect(c, ";", "after the assignment"))
            return false;
    } else if (t.kind == HV_STOK_IDENT && is_punct(peek_tok(c), "(") &&
               (strcmp(t.text, "printf") == 0 || strcmp(t.text, "print") == 0 || strcmp(t.text, "pause") == 0 ||
                strstr(t.text, "event_") == t.text || strstr(t.text, "_event") != NULL)) {
        bool pushes, known;

        if (!advance_tok(c) || !builtin(c, t.text, &t, &pushes, &known))
            return false;
        if (!known) {
            int f;

            if (!user_call(c, &t, t.text))
                return false;
            f = func_find(c, t.text);
            (void)f;
            pushes = true;
        }
        /* A call statement may go on as an expression: strlen(x) + 1; */
        if (pushes && !is_punct(&c->tok, ";")) {
            /* Not worth a second parser path: only a bare call is a statement. */
            return FAIL("expected ';' after the call");
        }
        if (!expect(c, ";", "after the call"))
            return false;
        if (pushes) {
            if (!op(c, HV_SOP_POP))
                return false;
            c->last_was_expr = c->cur_func < 0;
        }
        c->depth--;
        return true;
    } else if (t.kind == HV_STOK_NUMBER && is_punct(peek_tok(c), "=")) {
        struct lvalue lv;

        return lvalue_parse(c, &lv, false);
    } else if (t.kind == HV_STOK_EOF) {
        return FAIL("expected a statement, found the end of the script");
    } else {
        /* An expression statement: its value is dropped (the last one of the
         * script is kept as the result of `?`). */
        if (!expr(c) || !expect(c, ";", "after the expression") || !op(c, HV_SOP_POP))
            return false;
        c->last_was_expr = c->cur_func < 0;
    }
    c->depth--;
    return ok;
}

/* ---- Driver ------------------------------------------------------------------ */

hv_status_t hv_script_compile(const char *src, uint32_t budget, uint8_t **out, uint32_t *out_len,
                              struct hv_script_error *err)
{
    struct cc *c;
    struct hv_script_header h;
    struct hv_script_verify_scratch *scratch;
    uint8_t *prog;
    uint32_t len, i;
    hv_status_t st;
    const char *why = NULL;
    uint32_t where = 0;

    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (src == NULL || out == NULL || out_len == NULL || budget > HV_SCRIPT_MAX_BUDGET)
        return HV_STATUS_INVALID_PARAMETER;
    *out = NULL;
    *out_len = 0;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    c->err = err;
    c->scope = &c->main_scope;
    c->cur_func = -1;
    hv_script_lex_init(&c->lx, src);
    if (!advance_tok(c))
        goto compile_error;
    if (c->tok.kind == HV_STOK_EOF) {
        fail_at(c, &c->tok, "the script is empty");
        goto compile_error;
    }
    while (c->tok.kind != HV_STOK_EOF) {
        if (is_punct(&c->tok, "}")) {
            fail_at(c, &c->tok, "'}' without a matching '{'");
            goto compile_error;
        }
        if (!statement(c))
            goto compile_error;
    }
    /* The value of a last expression statement is the result of the run. */
    if (c->last_was_expr && c->code_len > 0 && c->code[c->code_len - 1] == HV_SOP_POP)
        c->code_len--;
    if (!op(c, HV_SOP_HALT))
        goto compile_error;
    for (i = 0; i < c->nfuncs; i++) {
        if (!c->funcs[i].defined) {
            struct hv_script_token at;

            memset(&at, 0, sizeof(at));
            at.kind = HV_STOK_IDENT;
            at.line = c->funcs[i].line;
            at.column = c->funcs[i].column;
            fail_at(c, &at, "unknown function '%s'", c->funcs[i].name);
            if (err != NULL)
                snprintf(err->token, sizeof(err->token), "%s", c->funcs[i].name);
            goto compile_error;
        }
    }
    for (i = 0; i < c->nfixups; i++)
        patch(c, c->fixups[i].at, c->funcs[c->fixups[i].func].entry);

    memset(&h, 0, sizeof(h));
    h.magic = HV_SCRIPT_MAGIC;
    h.version = HV_SCRIPT_VERSION;
    h.nlocals = (uint16_t)c->max_locals;
    h.code_len = c->code_len;
    h.budget = budget;
    h.nconst = (uint16_t)c->nconst;
    h.data_len = (uint16_t)c->data_len;
    h.nglobals = (uint16_t)c->nglobals;
    len = (uint32_t)sizeof(h) + c->code_len + 8u * c->nconst + c->data_len + c->nglobals * HV_SCRIPT_NAME_LEN;
    prog = malloc(len);
    scratch = malloc(sizeof(*scratch));
    if (prog == NULL || scratch == NULL) {
        free(prog);
        free(scratch);
        free(c);
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    {
        uint8_t *p = prog;

        memcpy(p, &h, sizeof(h));
        p += sizeof(h);
        memcpy(p, c->code, c->code_len);
        p += c->code_len;
        for (i = 0; i < c->nconst; i++) {
            int b;

            for (b = 0; b < 8; b++)
                *p++ = (uint8_t)(c->consts[i] >> (8 * b));
        }
        memcpy(p, c->data, c->data_len);
        p += c->data_len;
        for (i = 0; i < c->nglobals; i++) {
            memcpy(p, c->globals[i], HV_SCRIPT_NAME_LEN);
            p += HV_SCRIPT_NAME_LEN;
        }
    }
    st = hv_script_verify(prog, len, scratch, NULL, &why, &where);
    free(scratch);
    if (st != HV_STATUS_SUCCESS) {
        /* The compiler made code its own verifier refuses: a compiler
         * bug, or limits (stack depth) the script exceeds. */
        if (err != NULL) {
            err->line = c->tok.line;
            err->column = c->tok.column;
            err->token[0] = '\0';
            snprintf(err->message, sizeof(err->message), "the compiled script is refused: %s (at code offset %u)",
                     why != NULL ? why : "?", where);
        }
        free(prog);
        free(c);
        return HV_STATUS_SCRIPT_INVALID;
    }
    free(c);
    *out = prog;
    *out_len = len;
    return HV_STATUS_SUCCESS;

compile_error:
    free(c);
    return HV_STATUS_SCRIPT_INVALID;
}

bool hv_script_is_legacy_format(const char *src)
{
    bool dollar = false;
    const char *p;

    if (src == NULL)
        return false;
    for (p = src; *p; p++) {
        if (*p == ';' || *p == '(')
            return false;
        if (*p == '$')
            dollar = true;
    }
    return dollar;
}

int hv_script_disassemble(const uint8_t *prog, uint32_t len, char *buf, size_t cap)
{
    struct hv_script_header h;
    const uint8_t *code;
    size_t n = 0;
    uint32_t pc;

    if (buf == NULL || cap == 0)
        return 0;
    buf[0] = '\0';
    if (prog == NULL || len < sizeof(h))
        return 0;
    memcpy(&h, prog, sizeof(h));
    if (h.code_len > len - sizeof(h))
        return 0;
    code = prog + sizeof(h);
    for (pc = 0; pc < h.code_len && n + 64 < cap;) {
        uint8_t o = code[pc];
        uint32_t size = 1;
        int w;

        switch (o) {
        case HV_SOP_PUSHK: case HV_SOP_JMP: case HV_SOP_JZ: case HV_SOP_JNZ: case HV_SOP_STRCMPK:
        case HV_SOP_MEMCMPK:
            size = 3;
            break;
        case HV_SOP_PUSHI: case HV_SOP_REG: case HV_SOP_SETREG: case HV_SOP_PSEUDO: case HV_SOP_LOCAL:
        case HV_SOP_SETLOCAL: case HV_SOP_GLOBAL: case HV_SOP_SETGLOBAL: case HV_SOP_LOAD: case HV_SOP_STORE:
        case HV_SOP_EVENT:
            size = 2;
            break;
        case HV_SOP_ILK:
            size = 3;
            break;
        case HV_SOP_PRINTF: case HV_SOP_CALL:
            size = 4;
            break;
        default:
            break;
        }
        if (pc + size > h.code_len)
            break;
        w = snprintf(buf + n, cap - n, "%04x  %-11s", pc, hv_script_op_name(o));
        n += (size_t)(w > 0 ? w : 0);
        if (size == 2)
            w = snprintf(buf + n, cap - n, " %u", code[pc + 1]);
        else if (size == 3)
            w = snprintf(buf + n, cap - n, " %u", (unsigned)(code[pc + 1] | (code[pc + 2] << 8)));
        else if (size == 4)
            w = snprintf(buf + n, cap - n, " %u, %u", (unsigned)(code[pc + 1] | (code[pc + 2] << 8)), code[pc + 3]);
        else
            w = 0;
        n += (size_t)(w > 0 ? w : 0);
        if (n + 1 < cap)
            buf[n++] = '\n';
        buf[n] = '\0';
        pc += size;
    }
    return (int)n;
}
