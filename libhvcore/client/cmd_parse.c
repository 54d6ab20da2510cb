/* SPDX-License-Identifier: MIT */
/*
 * hvctl's command parser: one line in, one struct hv_cmd out. The syntax
 * is described in <hvcore/client/cmd.h>.
 *
 * Everything works on (offset, length) spans of the line, never past its
 * NUL; every write into *out is bounded by the field's size, and every
 * token quoted in a message is shortened and made printable first, so an
 * arbitrary line (the fuzzer's) yields either a command or a message.
 */
#include <hvcore/client/cmd.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* How much of a token a message quotes, and of a file path. */
#define QUOTE_TOKEN 64u
#define QUOTE_PATH  256u
/* Longest script file path, and how much of a script file is read. */
#define PATH_MAX_LEN 4095u
#define SCRIPT_FILE_READ HV_CMD_MAX_SCRIPT

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    char *err;
    size_t err_len;
};

struct tok {
    size_t off;
    size_t len;
};

/* ---- small helpers ------------------------------------------------------ */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Hex digit value, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Case-insensitive keyword match of s[0..len). */
static bool kw_eq(const char *s, size_t len, const char *kw)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (kw[i] == '\0' || lower(s[i]) != kw[i])
            return false;
    return kw[len] == '\0';
}

/* s[0..len) as a printable, NUL-terminated string of at most cap-1
 * characters: non-printable bytes become '?', a long text ends in "...". */
static const char *quote(char *dst, size_t cap, const char *s, size_t len)
{
    size_t i, n = len, o = 0;
    bool cut = false;

    if (cap < 8) {
        if (cap)
            dst[0] = '\0';
        return dst;
    }
    if (n > cap - 1) {
        n = cap - 4;
        cut = true;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        dst[o++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    if (cut) {
        dst[o++] = '.';
        dst[o++] = '.';
        dst[o++] = '.';
    }
    dst[o] = '\0';
    return dst;
}

#if defined(__GNUC__) || defined(__clang__)
#define HV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HV_PRINTF(a, b)
#endif

static void vmsg(char *err, size_t err_len, const char *fmt, va_list ap)
{
    if (err != NULL && err_len > 0)
        (void)vsnprintf(err, err_len, fmt, ap);
}

static HV_PRINTF(3, 4) hv_status_t fail_to(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmsg(err, err_len, fmt, ap);
    va_end(ap);
    return HV_STATUS_INVALID_PARAMETER;
}

static HV_PRINTF(2, 3) hv_status_t fail(struct parser *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmsg(p->err, p->err_len, fmt, ap);
    va_end(ap);
    return HV_STATUS_INVALID_PARAMETER;
}

/* A token of the line, quoted for a message (q has QUOTE_TOKEN bytes). */
static const char *tq(const struct parser *p, const struct tok *t, char *q)
{
    return quote(q, QUOTE_TOKEN, p->s + t->off, t->len);
}

static void skip_blanks(struct parser *p)
{
    while (p->pos < p->len && is_blank(p->s[p->pos]))
        p->pos++;
}

/* The next token: '{' and '}' alone, else a run up to a blank or brace. */
static bool next_token(struct parser *p, struct tok *t)
{
    skip_blanks(p);
    if (p->pos >= p->len)
        return false;
    t->off = p->pos;
    if (p->s[p->pos] == '{' || p->s[p->pos] == '}') {
        p->pos++;
    } else {
        while (p->pos < p->len && !is_blank(p->s[p->pos]) && p->s[p->pos] != '{' && p->s[p->pos] != '}')
            p->pos++;
    }
    t->len = p->pos - t->off;
    return true;
}

static bool tok_is(const struct parser *p, const struct tok *t, const char *kw)
{
    return kw_eq(p->s + t->off, t->len, kw);
}

/* Nothing may follow `after` (the command as typed). */
static hv_status_t expect_end(struct parser *p, const struct tok *after)
{
    struct tok t;
    char q1[QUOTE_TOKEN], q2[QUOTE_TOKEN];

    if (!next_token(p, &t))
        return HV_STATUS_SUCCESS;
    return fail(p, "unexpected '%s' after '%s'", tq(p, &t, q1), tq(p, after, q2));
}

/* The value token of option `opt`. */
static hv_status_t need_value(struct parser *p, const struct tok *opt, struct tok *v)
{
    char q[QUOTE_TOKEN];

    if (!next_token(p, v))
        return fail(p, "'%s' needs a value", tq(p, opt, q));
    return HV_STATUS_SUCCESS;
}

/* ---- numbers ------------------------------------------------------------ */

hv_status_t hv_parse_number(const char *token, size_t len, uint64_t *out, char *err, size_t err_len)
{
    char q[QUOTE_TOKEN];
    unsigned base = 16;
    size_t i, start = 0, digits = 0;
    uint64_t v = 0;

    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (out == NULL)
        return fail_to(err, err_len, "no place for the number");
    *out = 0;
    if (token == NULL && len > 0)
        return fail_to(err, err_len, "no number");
    if (token == NULL)
        token = "";
    quote(q, sizeof(q), token, len);

    if (len >= 2 && token[0] == '0' && lower(token[1]) == 'x') {
        start = 2;
    } else if (len >= 2 && token[0] == '0' && lower(token[1]) == 'n') {
        start = 2;
        base = 10;
    }

    /* Syntax first (so a bad digit is reported as such even in a long
     * token), then the value. */
    for (i = start; i < len; i++) {
        char c = token[i];
        int d;

        if (c == '`') {
            if (i == start)
                return fail_to(err, err_len, "'%s' is not a number: leading backtick", q);
            if (token[i - 1] == '`')
                return fail_to(err, err_len, "'%s' is not a number: empty digit group (two backticks)", q);
            if (i + 1 == len)
                return fail_to(err, err_len, "'%s' is not a number: trailing backtick", q);
            continue;
        }
        d = hex_value(c);
        if (d < 0 || (unsigned)d >= base) {
            unsigned char uc = (unsigned char)c;

            if (uc >= 0x20 && uc < 0x7F)
                return fail_to(err, err_len, "'%s' is not a %s number: invalid digit '%c'", q,
                               base == 10 ? "decimal" : "hex", c);
            return fail_to(err, err_len, "'%s' is not a %s number: invalid byte 0x%02x", q,
                           base == 10 ? "decimal" : "hex", uc);
        }
        digits++;
    }
    if (digits == 0)
        return fail_to(err, err_len, "'%s' is not a number: no digits", q);

    for (i = start; i < len; i++) {
        unsigned d;

        if (token[i] == '`')
            continue;
        d = (unsigned)hex_value(token[i]);
        if (v > (UINT64_MAX - d) / base)
            return fail_to(err, err_len, "number '%s' does not fit in 64 bits", q);
        v = v * base + d;
    }
    *out = v;
    return HV_STATUS_SUCCESS;
}

/* A number token; `what` prefixes the message ("pid", "wrmsr value"). */
static hv_status_t num_tok(struct parser *p, const char *what, const struct tok *t, uint64_t *v)
{
    char msg[160];

    if (hv_parse_number(p->s + t->off, t->len, v, msg, sizeof(msg)) != HV_STATUS_SUCCESS)
        return fail(p, "%s: %s", what, msg);
    return HV_STATUS_SUCCESS;
}

static hv_status_t u32_tok(struct parser *p, const char *what, const struct tok *t, uint32_t *v)
{
    char q[QUOTE_TOKEN];
    uint64_t x;
    hv_status_t st = num_tok(p, what, t, &x);

    if (st != HV_STATUS_SUCCESS)
        return st;
    if (x > UINT32_MAX)
        return fail(p, "%s '%s' does not fit in 32 bits", what, tq(p, t, q));
    *v = (uint32_t)x;
    return HV_STATUS_SUCCESS;
}

/* A core number: 32 bits, and not 0xFFFFFFFF (which means "all"/"any"). */
static hv_status_t core_tok(struct parser *p, const struct tok *t, uint32_t *v, const char *omitted)
{
    char q[QUOTE_TOKEN];
    hv_status_t st = u32_tok(p, "core", t, v);

    if (st != HV_STATUS_SUCCESS)
        return st;
    if (*v == 0xFFFFFFFFu)
        return fail(p, "core '%s' (ffffffff) is reserved: leave 'core' out for %s", tq(p, t, q), omitted);
    return HV_STATUS_SUCCESS;
}

static hv_status_t pid_tok(struct parser *p, const struct tok *t, uint64_t *v, const char *omitted)
{
    char q[QUOTE_TOKEN];
    hv_status_t st = num_tok(p, "pid", t, v);

    if (st != HV_STATUS_SUCCESS)
        return st;
    if (*v == HV_EVENT_ANY_PID)
        return fail(p, "pid '%s' (ffffffffffffffff) is reserved: leave 'pid' out for %s", tq(p, t, q), omitted);
    return HV_STATUS_SUCCESS;
}

/* ---- option bookkeeping --------------------------------------------------- */

/* Marks option bit `bit` seen; a second time is an error. */
static hv_status_t once(struct parser *p, unsigned *seen, unsigned bit, const struct tok *opt, const char *cmd)
{
    char q[QUOTE_TOKEN];

    if (*seen & bit)
        return fail(p, "duplicate option '%s' for %s", tq(p, opt, q), cmd);
    *seen |= bit;
    return HV_STATUS_SUCCESS;
}

static hv_status_t unknown_option(struct parser *p, const struct tok *opt, const char *cmd)
{
    char q[QUOTE_TOKEN];

    return fail(p, "unknown option '%s' for %s", tq(p, opt, q), cmd);
}

/* ---- braces --------------------------------------------------------------- */

/* After option `opt`: "{ ... }" -> the span between the braces. */
static hv_status_t brace_value(struct parser *p, const struct tok *opt, const char *shape, size_t *a, size_t *b)
{
    char q1[QUOTE_TOKEN], q2[QUOTE_TOKEN];
    const char *close;
    struct tok t;

    skip_blanks(p);
    if (p->pos >= p->len)
        return fail(p, "'%s' needs a value: %s {%s}", tq(p, opt, q1), tq(p, opt, q2), shape);
    if (p->s[p->pos] != '{') {
        (void)next_token(p, &t);
        return fail(p, "'%s' needs {%s}, not '%s'", tq(p, opt, q1), shape, tq(p, &t, q2));
    }
    if (strcmp(shape, "script") == 0) {
        /* A script has blocks and strings: the matching brace ends it. */
        size_t i, depth = 0;
        bool in_str = false;

        close = NULL;
        for (i = p->pos; i < p->len; i++) {
            char ch = p->s[i];

            if (in_str) {
                if (ch == '\\' && i + 1 < p->len)
                    i++;
                else if (ch == '"')
                    in_str = false;
            } else if (ch == '"') {
                in_str = true;
            } else if (ch == '{') {
                depth++;
            } else if (ch == '}' && --depth == 0) {
                close = p->s + i;
                break;
            }
        }
        /* Unbalanced: a format string of older versions; the first '}' ends it. */
        if (close == NULL)
            close = memchr(p->s + p->pos + 1, '}', p->len - p->pos - 1);
    } else {
        close = memchr(p->s + p->pos + 1, '}', p->len - p->pos - 1);
    }
    if (close == NULL)
        return fail(p, "missing '}' after %s {", tq(p, opt, q1));
    *a = p->pos + 1;
    *b = (size_t)(close - p->s);
    p->pos = *b + 1;
    return HV_STATUS_SUCCESS;
}

/* Hex bytes in s[a..b) -> dst (at most HV_CMD_MAX_CODE_BODY bytes). */
static hv_status_t hex_bytes(struct parser *p, const char *what, size_t a, size_t b, uint8_t *dst, uint32_t *n_out)
{
    char q[QUOTE_TOKEN];
    size_t i = a;
    uint32_t n = 0;

    while (i < b) {
        size_t ts, tl, k, nb;
        bool ok = true;

        while (i < b && is_blank(p->s[i]))
            i++;
        if (i >= b)
            break;
        ts = i;
        while (i < b && !is_blank(p->s[i]))
            i++;
        tl = i - ts;
        for (k = 0; k < tl; k++)
            if (hex_value(p->s[ts + k]) < 0)
                ok = false;
        if (!ok || (tl > 2 && tl % 2 != 0))
            return fail(p, "%s {}: '%s' at code byte %" PRIu32 " (column %zu) is not a hex byte: "
                        "use 1-2 hex digits or an even-length hex string",
                        what, quote(q, sizeof(q), p->s + ts, tl), n, ts + 1);
        nb = tl <= 2 ? 1 : tl / 2;
        if (nb > HV_CMD_MAX_CODE_BODY - n)
            return fail(p, "%s {} has more than %u bytes: a ret (c3) is appended to them and the whole must fit in %u",
                        what, HV_CMD_MAX_CODE_BODY, HV_EVENT_MAX_CODE);
        if (tl <= 2) {
            dst[n++] = (uint8_t)(tl == 1 ? hex_value(p->s[ts])
                                         : hex_value(p->s[ts]) * 16 + hex_value(p->s[ts + 1]));
        } else {
            for (k = 0; k < tl; k += 2)
                dst[n++] = (uint8_t)(hex_value(p->s[ts + k]) * 16 + hex_value(p->s[ts + k + 1]));
        }
    }
    if (n == 0)
        return fail(p, "%s {} is empty: give at least one hex byte", what);
    *n_out = n;
    return HV_STATUS_SUCCESS;
}

/* Trim blanks off [*a, *b) of s. */
static void trim(const char *s, size_t *a, size_t *b)
{
    while (*a < *b && is_blank(s[*a]))
        (*a)++;
    while (*b > *a && is_blank(s[*b - 1]))
        (*b)--;
}

static hv_status_t script_file(struct parser *p, const char *path, char *script)
{
    char qp[QUOTE_PATH];
    char buf[SCRIPT_FILE_READ + 1];
    size_t n, a, b;
    FILE *f;
    int e;

    quote(qp, sizeof(qp), path, strlen(path));
    errno = 0;
    f = fopen(path, "rb");
    if (f == NULL) {
        e = errno;
        return fail(p, "cannot read script file '%s': %s", qp, e ? strerror(e) : "open failed");
    }
    errno = 0;
    n = fread(buf, 1, sizeof(buf), f);
    e = errno;
    if (ferror(f)) {
        fclose(f);
        return fail(p, "cannot read script file '%s': %s", qp, e ? strerror(e) : "read error");
    }
    fclose(f);
    if (n > SCRIPT_FILE_READ)
        return fail(p, "script file '%s' is larger than the script limit (%u characters)", qp,
                    HV_CMD_MAX_SCRIPT - 1);
    if (memchr(buf, '\0', n) != NULL)
        return fail(p, "script file '%s' contains a NUL byte", qp);
    a = 0;
    b = n;
    trim(buf, &a, &b);
    if (b == a)
        return fail(p, "script file '%s' is empty", qp);
    if (b - a > HV_CMD_MAX_SCRIPT - 1)
        return fail(p, "script file '%s' is larger than the script limit: %zu characters, at most %u", qp,
                    b - a, HV_CMD_MAX_SCRIPT - 1);
    memcpy(script, buf + a, b - a);
    script[b - a] = '\0';
    return HV_STATUS_SUCCESS;
}

/* script {text} or script {file:PATH}, the span s[a..b). */
static hv_status_t script_value(struct parser *p, size_t a, size_t b, char *script)
{
    char path[PATH_MAX_LEN + 1];

    trim(p->s, &a, &b);
    if (b - a >= 5 && kw_eq(p->s + a, 5, "file:")) {
        a += 5;
        trim(p->s, &a, &b);
        if (a == b)
            return fail(p, "script {file:} needs a path");
        if (b - a > PATH_MAX_LEN)
            return fail(p, "script file path is longer than %u characters", PATH_MAX_LEN);
        memcpy(path, p->s + a, b - a);
        path[b - a] = '\0';
        return script_file(p, path, script);
    }
    if (a == b)
        return fail(p, "script {} is empty");
    if (b - a > HV_CMD_MAX_SCRIPT - 1)
        return fail(p, "script has %zu characters; the limit is %u", b - a, HV_CMD_MAX_SCRIPT - 1);
    memcpy(script, p->s + a, b - a);
    script[b - a] = '\0';
    return HV_STATUS_SUCCESS;
}

/* ---- commands ------------------------------------------------------------- */

/* rdmsr <msr> [core <n>] / wrmsr <msr> <value> [core <n>] */
static hv_status_t parse_msr(struct parser *p, struct hv_cmd *c, const struct tok *cmd, bool write)
{
    const char *name = write ? "wrmsr" : "rdmsr";
    unsigned seen = 0;
    struct tok t, v;
    hv_status_t st;

    (void)cmd;
    c->kind = write ? HV_CMD_WRMSR : HV_CMD_RDMSR;
    if (!next_token(p, &t))
        return fail(p, "%s: usage: %s (the MSR index is missing)", name, hv_cmd_usage(name));
    if ((st = u32_tok(p, "MSR index", &t, &c->msr)) != HV_STATUS_SUCCESS)
        return st;
    if (write) {
        if (!next_token(p, &t))
            return fail(p, "%s: usage: %s (the value after the MSR index is missing)", name, hv_cmd_usage(name));
        if ((st = num_tok(p, "wrmsr value", &t, &c->value)) != HV_STATUS_SUCCESS)
            return st;
    }
    while (next_token(p, &t)) {
        if (!tok_is(p, &t, "core"))
            return unknown_option(p, &t, name);
        if ((st = once(p, &seen, 1u, &t, name)) != HV_STATUS_SUCCESS ||
            (st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS ||
            (st = core_tok(p, &v, &c->core, "every core")) != HV_STATUS_SUCCESS)
            return st;
    }
    return HV_STATUS_SUCCESS;
}

enum { DR_PID = 1, DR_CORE = 2, DR_IMM = 4, DR_BUFFER = 8, DR_SCRIPT = 16, DR_CONDITION = 32, DR_CODE = 64,
       DR_OUTPUT = 128 };

static bool is_name_separator(char ch)
{
    return is_blank(ch) || ch == ',' || ch == ';';
}

/* One output name s[a..b) of `output {...}` into the command. */
static hv_status_t add_output_name(struct parser *p, struct hv_cmd *c, size_t a, size_t b)
{
    char msg[160];
    uint32_t i;

    if (b - a == 7 && kw_eq(p->s + a, 7, "console")) {
        c->output_console = true;
        return HV_STATUS_SUCCESS;
    }
    if (hv_output_name_check(p->s + a, b - a, msg, sizeof(msg)) != HV_STATUS_SUCCESS)
        return fail(p, "!dr output: %s", msg);
    for (i = 0; i < c->output_count; i++)
        if (strlen(c->outputs[i]) == b - a && memcmp(c->outputs[i], p->s + a, b - a) == 0)
            return HV_STATUS_SUCCESS;           /* a name twice counts once */
    if (c->output_count >= HV_OUTPUT_MAX_PER_EVENT)
        return fail(p, "!dr output: at most %u outputs per event", HV_OUTPUT_MAX_PER_EVENT);
    memcpy(c->outputs[c->output_count], p->s + a, b - a);
    c->outputs[c->output_count][b - a] = '\0';
    c->output_count++;
    return HV_STATUS_SUCCESS;
}

/* output {a b} | {a, b} | {a;b} | NAME (one name without braces). */
static hv_status_t dr_outputs(struct parser *p, struct hv_cmd *c, const struct tok *opt)
{
    size_t a, b, i;
    struct tok v;
    hv_status_t st;

    skip_blanks(p);
    if (p->pos < p->len && p->s[p->pos] != '{') {
        (void)next_token(p, &v);
        return add_output_name(p, c, v.off, v.off + v.len);
    }
    if ((st = brace_value(p, opt, "names", &a, &b)) != HV_STATUS_SUCCESS)
        return st;
    for (i = a; i < b;) {
        size_t start;

        while (i < b && is_name_separator(p->s[i]))
            i++;
        if (i >= b)
            break;
        start = i;
        while (i < b && !is_name_separator(p->s[i]))
            i++;
        if ((st = add_output_name(p, c, start, i)) != HV_STATUS_SUCCESS)
            return st;
    }
    if (c->output_count == 0 && !c->output_console)
        return fail(p, "!dr output {} is empty: name at least one output (or console)");
    return HV_STATUS_SUCCESS;
}

static hv_status_t parse_dr(struct parser *p, struct hv_cmd *c)
{
    static const char name[] = "!dr";
    char q[QUOTE_TOKEN];
    unsigned seen = 0;
    struct tok t, v;
    hv_status_t st;
    size_t a, b;
    uint64_t x;

    c->kind = HV_CMD_DR;
    while (next_token(p, &t)) {
        if (tok_is(p, &t, "pid")) {
            if ((st = once(p, &seen, DR_PID, &t, name)) != HV_STATUS_SUCCESS ||
                (st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS)
                return st;
            if (tok_is(p, &v, "all")) {
                /* HyperDbg's `pid all`: every process, as no pid. */
                c->pid = HV_EVENT_ANY_PID;
                c->pid_all = true;
            } else if ((st = pid_tok(p, &v, &c->pid, "any process or say 'pid all'")) != HV_STATUS_SUCCESS) {
                return st;
            }
        } else if (tok_is(p, &t, "core")) {
            if ((st = once(p, &seen, DR_CORE, &t, name)) != HV_STATUS_SUCCESS ||
                (st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS ||
                (st = core_tok(p, &v, &c->dr_core, "any core")) != HV_STATUS_SUCCESS)
                return st;
        } else if (tok_is(p, &t, "imm")) {
            if ((st = once(p, &seen, DR_IMM, &t, name)) != HV_STATUS_SUCCESS ||
                (st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS)
                return st;
            if (tok_is(p, &v, "yes"))
                c->imm = true;
            else if (tok_is(p, &v, "no"))
                c->imm = false;
            else
                return fail(p, "'imm' must be yes or no, not '%s'", tq(p, &v, q));
        } else if (tok_is(p, &t, "buffer")) {
            if ((st = once(p, &seen, DR_BUFFER, &t, name)) != HV_STATUS_SUCCESS ||
                (st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS ||
                (st = num_tok(p, "buffer", &v, &x)) != HV_STATUS_SUCCESS)
                return st;
            if (x > HV_EVENT_MAX_BUFFER)
                return fail(p, "buffer '%s' is larger than the limit of %x bytes (1 MiB)", tq(p, &v, q),
                            HV_EVENT_MAX_BUFFER);
            c->buffer_size = (uint32_t)x;
        } else if (tok_is(p, &t, "script")) {
            if ((st = once(p, &seen, DR_SCRIPT, &t, name)) != HV_STATUS_SUCCESS ||
                (st = brace_value(p, &t, "script", &a, &b)) != HV_STATUS_SUCCESS ||
                (st = script_value(p, a, b, c->script)) != HV_STATUS_SUCCESS)
                return st;
            c->has_script = true;
        } else if (tok_is(p, &t, "condition")) {
            if ((st = once(p, &seen, DR_CONDITION, &t, name)) != HV_STATUS_SUCCESS ||
                (st = brace_value(p, &t, "hex bytes", &a, &b)) != HV_STATUS_SUCCESS ||
                (st = hex_bytes(p, "condition", a, b, c->condition, &c->condition_len)) != HV_STATUS_SUCCESS)
                return st;
        } else if (tok_is(p, &t, "output")) {
            if ((st = once(p, &seen, DR_OUTPUT, &t, name)) != HV_STATUS_SUCCESS ||
                (st = dr_outputs(p, c, &t)) != HV_STATUS_SUCCESS)
                return st;
        } else if (tok_is(p, &t, "code")) {
            if ((st = once(p, &seen, DR_CODE, &t, name)) != HV_STATUS_SUCCESS ||
                (st = brace_value(p, &t, "hex bytes", &a, &b)) != HV_STATUS_SUCCESS ||
                (st = hex_bytes(p, "code", a, b, c->code, &c->code_len)) != HV_STATUS_SUCCESS)
                return st;
        } else {
            return unknown_option(p, &t, name);
        }
    }
    return HV_STATUS_SUCCESS;
}

/* events | events e|d|c <id|all> */
static hv_status_t parse_events(struct parser *p, struct hv_cmd *c)
{
    char q[QUOTE_TOKEN];
    struct tok op, t;
    hv_status_t st;

    if (!next_token(p, &op)) {
        c->kind = HV_CMD_EVENTS_LIST;
        return HV_STATUS_SUCCESS;
    }
    if (!(op.len == 1 && (tok_is(p, &op, "e") || tok_is(p, &op, "d") || tok_is(p, &op, "c"))))
        return fail(p, "unknown events operation '%s': use e (enable), d (disable) or c (clear)", tq(p, &op, q));
    c->kind = HV_CMD_EVENTS_CTL;
    c->op = lower(p->s[op.off]);
    if (!next_token(p, &t))
        return fail(p, "'%s' needs an event id or 'all'", tq(p, &op, q));
    if (tok_is(p, &t, "all")) {
        c->id = HV_CMD_ALL_EVENTS;
    } else {
        if ((st = u32_tok(p, "event id", &t, &c->id)) != HV_STATUS_SUCCESS)
            return st;
        if (c->id == HV_CMD_ALL_EVENTS)
            return fail(p, "event id '%s' (ffffffff) is reserved: say 'all'", tq(p, &t, q));
    }
    return expect_end(p, &t);
}

/* A general-purpose register name (rax..r15, as the exit stub orders them), or -1. */
static int gpr_index(const struct parser *p, const struct tok *t)
{
    static const char *const names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                            "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
    int i;

    for (i = 0; i < 16; i++)
        if (strlen(names[i]) == t->len && strncmp(p->s + t->off, names[i], t->len) == 0)
            return i;
    return -1;
}

/* simulate dr [core <n>] [pid <n>] [value <n>] [rax..r15 <n>] */
static hv_status_t parse_simulate(struct parser *p, struct hv_cmd *c, const struct tok *cmd)
{
    static const char name[] = "simulate dr";
    char q[QUOTE_TOKEN];
    unsigned seen = 0;
    struct tok t, v;
    hv_status_t st;

    if (!next_token(p, &t))
        return fail(p, "'%s' needs what to simulate: dr", tq(p, cmd, q));
    if (!tok_is(p, &t, "dr") && !tok_is(p, &t, "!dr"))
        return fail(p, "unknown simulation '%s': only 'dr' can be simulated", tq(p, &t, q));
    c->kind = HV_CMD_SIMULATE_DR;
    c->value = HV_CMD_SIMULATE_DR7_DEFAULT;
    while (next_token(p, &t)) {
        if (tok_is(p, &t, "core")) {
            if ((st = once(p, &seen, 1u, &t, name)) != HV_STATUS_SUCCESS ||
                (st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS ||
                (st = core_tok(p, &v, &c->core, "the default core (0)")) != HV_STATUS_SUCCESS)
                return st;
        } else if (tok_is(p, &t, "pid")) {
            if ((st = once(p, &seen, 2u, &t, name)) != HV_STATUS_SUCCESS ||
                (st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS)
                return st;
            if (tok_is(p, &v, "all"))
                return fail(p, "simulate dr: 'pid all' is not a process: the simulated guest runs one pid "
                            "(leave 'pid' out for pid 0)");
            if ((st = pid_tok(p, &v, &c->pid, "the default pid (0)")) != HV_STATUS_SUCCESS)
                return st;
        } else if (tok_is(p, &t, "value")) {
            if ((st = once(p, &seen, 4u, &t, name)) != HV_STATUS_SUCCESS ||
                (st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS ||
                (st = num_tok(p, "value", &v, &c->value)) != HV_STATUS_SUCCESS)
                return st;
        } else if (gpr_index(p, &t) >= 0) {
            int r = gpr_index(p, &t);

            if ((c->regs_set >> r) & 1u)
                return fail(p, "simulate dr: '%s' given twice", tq(p, &t, q));
            if ((st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS ||
                (st = num_tok(p, "register value", &v, &c->regs[r])) != HV_STATUS_SUCCESS)
                return st;
            c->regs_set |= 1u << r;
        } else {
            return unknown_option(p, &t, name);
        }
    }
    return HV_STATUS_SUCCESS;
}

/* r [<reg>] | r <reg> = <value> | r <reg>=<value>: the '=' may touch either side. */
static hv_status_t parse_regs(struct parser *p, struct hv_cmd *c)
{
    char q[QUOTE_TOKEN];
    size_t a, n, i;
    struct tok v;
    hv_status_t st;

    c->kind = HV_CMD_REGS;
    skip_blanks(p);
    if (p->pos >= p->len)
        return HV_STATUS_SUCCESS;
    a = p->pos;
    for (n = 0; a + n < p->len && !is_blank(p->s[a + n]) && p->s[a + n] != '='; n++)
        ;
    if (n == 0)
        return fail(p, "r: a register name must come before '=': r rax = 5");
    p->pos = a + n;
    /* WinDbg writes @rax in expressions: accept it here too. */
    if (p->s[a] == '@') {
        a++;
        n--;
    }
    for (i = 0; i < n; i++) {
        char ch = lower(p->s[a + i]);

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
            break;
    }
    if (n == 0 || i < n || n > HV_CMD_MAX_REG_NAME)
        return fail(p, "r: '%s' is not a register name", quote(q, sizeof(q), p->s + a, n));
    for (i = 0; i < n; i++)
        c->reg[i] = lower(p->s[a + i]);
    c->reg[n] = '\0';
    skip_blanks(p);
    if (p->pos >= p->len)
        return HV_STATUS_SUCCESS;
    if (p->s[p->pos] != '=')
        return fail(p, "r: after '%s' only '= <value>' may follow, not '%s'", c->reg,
                    quote(q, sizeof(q), p->s + p->pos, p->len - p->pos));
    p->pos++;
    if (!next_token(p, &v))
        return fail(p, "r: '%s =' needs a value: r %s = 5", c->reg, c->reg);
    if ((st = num_tok(p, "register value", &v, &c->value)) != HV_STATUS_SUCCESS)
        return st;
    c->reg_write = true;
    return expect_end(p, &v);
}

/* ~ [<n>] | ~<n> */
static hv_status_t parse_core(struct parser *p, struct hv_cmd *c, const struct tok *cmd)
{
    struct tok t = *cmd;
    hv_status_t st;

    c->kind = HV_CMD_CORE;
    c->core = HV_ALL_CORES;
    if (t.len > 1) {
        t.off++;
        t.len--;
    } else if (!next_token(p, &t)) {
        return HV_STATUS_SUCCESS;
    }
    if ((st = core_tok(p, &t, &c->core, "the current core")) != HV_STATUS_SUCCESS)
        return st;
    return expect_end(p, &t);
}

/* db|dd|dq <address> [L <n>] | ... L<n> */
static hv_status_t parse_mem(struct parser *p, struct hv_cmd *c, const struct tok *cmd)
{
    char name[3] = { lower(p->s[cmd->off]), lower(p->s[cmd->off + 1]), '\0' };
    char q[QUOTE_TOKEN];
    struct tok t, v;
    uint64_t count;
    hv_status_t st;

    c->kind = HV_CMD_MEM;
    c->mem_width = name[1] == 'b' ? 1u : name[1] == 'd' ? 4u : 8u;
    c->mem_count = 0x80u / c->mem_width;
    if (!next_token(p, &t))
        return fail(p, "%s: usage: %s (the address is missing)", name, hv_cmd_usage(name));
    if ((st = num_tok(p, "address", &t, &c->address)) != HV_STATUS_SUCCESS)
        return st;
    if (!next_token(p, &t))
        return HV_STATUS_SUCCESS;
    if (lower(p->s[t.off]) != 'l')
        return unknown_option(p, &t, name);
    if (t.len > 1) {
        v.off = t.off + 1;
        v.len = t.len - 1;
    } else if (!next_token(p, &v)) {
        return fail(p, "%s: 'L' needs a count: %s %llx L 10", name, name, (unsigned long long)c->address);
    }
    if ((st = num_tok(p, "count", &v, &count)) != HV_STATUS_SUCCESS)
        return st;
    if (count == 0 || count > HV_CMD_MAX_MEM_BYTES / c->mem_width)
        return fail(p, "%s: count '%s' must be 1 .. 0x%x (0x%x bytes at most)", name, tq(p, &v, q),
                    HV_CMD_MAX_MEM_BYTES / c->mem_width, HV_CMD_MAX_MEM_BYTES);
    if (c->address + count * c->mem_width - 1 < c->address)
        return fail(p, "%s: %llx L %llx runs past the end of the address space", name,
                    (unsigned long long)c->address, (unsigned long long)count);
    c->mem_count = (uint32_t)count;
    return expect_end(p, &v);
}

/* The NAME of output create/open/close. */
static hv_status_t output_name(struct parser *p, struct hv_cmd *c, const struct tok *op)
{
    char q[QUOTE_TOKEN], msg[160];
    struct tok t;

    if (!next_token(p, &t))
        return fail(p, "'output %s' needs an output name", tq(p, op, q));
    if (hv_output_name_check(p->s + t.off, t.len, msg, sizeof(msg)) != HV_STATUS_SUCCESS)
        return fail(p, "output %s: %s", tq(p, op, q), msg);
    memcpy(c->output_name, p->s + t.off, t.len);
    c->output_name[t.len] = '\0';
    return HV_STATUS_SUCCESS;
}

/* output | output create NAME TYPE TARGET [text|json] | output open|close NAME */
static hv_status_t parse_output(struct parser *p, struct hv_cmd *c)
{
    char q[QUOTE_TOKEN];
    struct tok op, t;
    size_t a, b;
    hv_status_t st;

    if (!next_token(p, &op)) {
        c->kind = HV_CMD_OUTPUT_LIST;
        return HV_STATUS_SUCCESS;
    }
    if (tok_is(p, &op, "open") || tok_is(p, &op, "close")) {
        c->kind = tok_is(p, &op, "open") ? HV_CMD_OUTPUT_OPEN : HV_CMD_OUTPUT_CLOSE;
        if ((st = output_name(p, c, &op)) != HV_STATUS_SUCCESS)
            return st;
        return expect_end(p, &op);
    }
    if (!tok_is(p, &op, "create"))
        return fail(p, "unknown output operation '%s': use create, open or close (or 'output' alone to list)",
                    tq(p, &op, q));
    c->kind = HV_CMD_OUTPUT_CREATE;
    if ((st = output_name(p, c, &op)) != HV_STATUS_SUCCESS)
        return st;
    if (!next_token(p, &t))
        return fail(p, "output create %s needs a type: file, namedpipe or tcp", c->output_name);
    if (tok_is(p, &t, "file"))
        c->output_type = HV_OUTPUT_FILE;
    else if (tok_is(p, &t, "namedpipe") || tok_is(p, &t, "pipe") || tok_is(p, &t, "fifo"))
        c->output_type = HV_OUTPUT_NAMEDPIPE;
    else if (tok_is(p, &t, "tcp"))
        c->output_type = HV_OUTPUT_TCP;
    else
        return fail(p, "unknown output type '%s': use file, namedpipe or tcp", tq(p, &t, q));
    skip_blanks(p);
    if (p->pos < p->len && p->s[p->pos] == '{') {
        if ((st = brace_value(p, &t, "path", &a, &b)) != HV_STATUS_SUCCESS)
            return st;
        trim(p->s, &a, &b);
    } else if (next_token(p, &t)) {
        a = t.off;
        b = t.off + t.len;
    } else {
        a = b = 0;
    }
    if (a == b)
        return fail(p, "output create %s %s needs a %s", c->output_name, hv_output_type_name(c->output_type),
                    c->output_type == HV_OUTPUT_TCP ? "HOST:PORT (e.g. 127.0.0.1:9000)" : "path");
    if (b - a > HV_OUTPUT_TARGET_MAX)
        return fail(p, "output create %s: the target is longer than %u characters", c->output_name,
                    HV_OUTPUT_TARGET_MAX);
    memcpy(c->output_target, p->s + a, b - a);
    c->output_target[b - a] = '\0';
    c->output_format = HV_OUTPUT_TEXT;
    if (next_token(p, &t)) {
        if (tok_is(p, &t, "json"))
            c->output_format = HV_OUTPUT_JSON;
        else if (!tok_is(p, &t, "text"))
            return fail(p, "output create %s: unknown format '%s': use text or json", c->output_name, tq(p, &t, q));
        return expect_end(p, &t);
    }
    return HV_STATUS_SUCCESS;
}

static hv_status_t parse_line(struct parser *p, struct hv_cmd *c);

/* expect fail <command>: the command itself, marked as expected to fail. */
static hv_status_t parse_expect(struct parser *p, struct hv_cmd *c, const struct tok *cmd)
{
    char q[QUOTE_TOKEN];
    struct tok t;
    size_t rest;
    hv_status_t st;

    if (!next_token(p, &t))
        return fail(p, "'%s' needs 'fail' and a command: expect fail <command>", tq(p, cmd, q));
    if (!tok_is(p, &t, "fail"))
        return fail(p, "'%s' must be followed by 'fail', not '%s': expect fail <command>", "expect", tq(p, &t, q));
    skip_blanks(p);
    rest = p->pos;
    if (p->pos >= p->len || p->s[p->pos] == '#')
        return fail(p, "'expect fail' needs a command to run: expect fail <command>");
    if (next_token(p, &t) && tok_is(p, &t, "expect"))
        return fail(p, "'expect fail' cannot be nested");
    p->pos = rest;
    st = parse_line(p, c);
    if (st == HV_STATUS_SUCCESS)
        c->expect_fail = true;
    return st;
}

static hv_status_t parse_line(struct parser *p, struct hv_cmd *c)
{
    char q[QUOTE_TOKEN];
    struct tok cmd, t;
    hv_status_t st;

    skip_blanks(p);
    if (p->pos >= p->len || p->s[p->pos] == '#')
        return HV_STATUS_SUCCESS;               /* HV_CMD_NONE */
    (void)next_token(p, &cmd);

    if (tok_is(p, &cmd, "expect"))
        return parse_expect(p, c, &cmd);
    if (tok_is(p, &cmd, "rdmsr"))
        return parse_msr(p, c, &cmd, false);
    if (tok_is(p, &cmd, "wrmsr"))
        return parse_msr(p, c, &cmd, true);
    if (tok_is(p, &cmd, "!dr") || tok_is(p, &cmd, "dr"))
        return parse_dr(p, c);
    if (tok_is(p, &cmd, "events"))
        return parse_events(p, c);
    if (tok_is(p, &cmd, "output"))
        return parse_output(p, c);
    if (tok_is(p, &cmd, "simulate"))
        return parse_simulate(p, c, &cmd);
    if (tok_is(p, &cmd, "?")) {
        size_t a, b;

        c->kind = HV_CMD_EVAL;
        c->core = 0;
        skip_blanks(p);
        if (p->len - p->pos >= 4 && strncmp(p->s + p->pos, "core", 4) == 0 &&
            (p->len - p->pos == 4 || is_blank(p->s[p->pos + 4]))) {
            struct tok v;

            (void)next_token(p, &t);
            if ((st = need_value(p, &t, &v)) != HV_STATUS_SUCCESS ||
                (st = core_tok(p, &v, &c->core, "core 0")) != HV_STATUS_SUCCESS)
                return st;
            skip_blanks(p);
        }
        if (p->pos < p->len && p->s[p->pos] == '{') {
            if ((st = brace_value(p, &cmd, "script", &a, &b)) != HV_STATUS_SUCCESS)
                return st;
            if ((st = script_value(p, a, b, c->script)) != HV_STATUS_SUCCESS)
                return st;
            c->has_script = true;
            if (next_token(p, &t))
                return expect_end(p, &t);
            return HV_STATUS_SUCCESS;
        }
        /* The rest of the line is the script. */
        if (p->pos >= p->len)
            return fail(p, "'?' needs a script: ? {printf(\"%%llx\\n\", $pid);} or ? 1 + 2;");
        if ((st = script_value(p, p->pos, p->len, c->script)) != HV_STATUS_SUCCESS)
            return st;
        c->has_script = true;
        p->pos = p->len;
        return HV_STATUS_SUCCESS;
    }
    if (tok_is(p, &cmd, "listen")) {
        c->kind = HV_CMD_LISTEN;
        if (!next_token(p, &t))
            return HV_STATUS_SUCCESS;
        if ((st = u32_tok(p, "listen seconds", &t, &c->seconds)) != HV_STATUS_SUCCESS)
            return st;
        return expect_end(p, &t);
    }
    if (tok_is(p, &cmd, "pause")) {
        c->kind = HV_CMD_PAUSE;
        return expect_end(p, &cmd);
    }
    if (tok_is(p, &cmd, "g") || tok_is(p, &cmd, "go")) {
        c->kind = HV_CMD_GO;
        return expect_end(p, &cmd);
    }
    if (tok_is(p, &cmd, "wait")) {
        c->kind = HV_CMD_WAIT;
        if (!next_token(p, &t))
            return HV_STATUS_SUCCESS;
        if ((st = u32_tok(p, "wait seconds", &t, &c->seconds)) != HV_STATUS_SUCCESS)
            return st;
        return expect_end(p, &t);
    }
    if (tok_is(p, &cmd, "r"))
        return parse_regs(p, c);
    if (p->s[cmd.off] == '~')
        return parse_core(p, c, &cmd);
    if (tok_is(p, &cmd, "db") || tok_is(p, &cmd, "dd") || tok_is(p, &cmd, "dq"))
        return parse_mem(p, c, &cmd);
    if (tok_is(p, &cmd, "help")) {
        c->kind = HV_CMD_HELP;
        if (!next_token(p, &t))
            return HV_STATUS_SUCCESS;
        if (t.len >= sizeof(c->topic))
            return fail(p, "help topic '%s' is too long", tq(p, &t, q));
        memcpy(c->topic, p->s + t.off, t.len);
        c->topic[t.len] = '\0';
        return expect_end(p, &t);
    }
    if (tok_is(p, &cmd, "status")) {
        c->kind = HV_CMD_STATUS;
        return expect_end(p, &cmd);
    }
    if (tok_is(p, &cmd, "quit") || tok_is(p, &cmd, "exit")) {
        c->kind = HV_CMD_QUIT;
        return expect_end(p, &cmd);
    }
    return fail(p, "unknown command '%s' (try 'help')", tq(p, &cmd, q));
}

/* One line per command: what a refused line is told it should look like.
 * New commands add their line here (hv_cmd_usage). */
static const struct { const char *name; const char *usage; } usages[] = {
    { "rdmsr", "rdmsr <msr> [core <n>]" },
    { "wrmsr", "wrmsr <msr> <value> [core <n>]" },
    { "!dr", "!dr [pid <n>|all] [core <n>] [imm yes|no] [buffer <n>] [script {..}] [condition {hex}] [code {hex}] "
             "[output {names}]" },
    { "dr", "!dr [pid <n>|all] [core <n>] [imm yes|no] [buffer <n>] [script {..}] [condition {hex}] [code {hex}] "
            "[output {names}]" },
    { "events", "events | events e|d|c <id|all>" },
    { "listen", "listen [seconds]" },
    { "simulate", "simulate dr [core <n>] [pid <n>] [value <n>] [rbx|rcx|... <n>]" },
    { "?", "? [core <n>] {script}" },
    { "output", "output | output create <name> file|namedpipe|tcp <target> [text|json] | output open|close <name>" },
    { "status", "status" },
    { "pause", "pause" },
    { "g", "g" },
    { "go", "g" },
    { "wait", "wait [seconds]" },
    { "r", "r [<reg>] | r <reg> = <value>" },
    { "~", "~ [<core>]" },
    { "db", "db <address> [L <count>]" },
    { "dd", "dd <address> [L <count>]" },
    { "dq", "dq <address> [L <count>]" },
    { "help", "help [command]" },
    { "quit", "quit" },
    { "exit", "exit" },
    { "expect", "expect fail <command>" },
};

const char *hv_cmd_usage(const char *command)
{
    size_t i;

    if (command == NULL)
        return NULL;
    for (i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
        if (kw_eq(command, strlen(command), usages[i].name))
            return usages[i].usage;
    return NULL;
}

/* A refused line of a known command ends with that command's usage, unless
 * the message already shows it. The command is the first word (after
 * `expect fail`). */
static void add_usage(const char *line, char *err, size_t err_len)
{
    char name[16];
    const char *u, *s = line;
    size_t n, used;
    int k;

    if (err == NULL || err_len == 0 || strstr(err, "usage:") != NULL)
        return;
    for (k = 0; k < 3; k++) {
        while (is_blank(*s))
            s++;
        n = 0;
        while (s[n] != '\0' && !is_blank(s[n]) && s[n] != '{' && s[n] != '}')
            n++;
        if (n == 0 || n >= sizeof(name))
            return;
        memcpy(name, s, n);
        name[n] = '\0';
        /* `expect fail X`: the usage of X */
        if ((k == 0 && kw_eq(s, n, "expect")) || (k == 1 && kw_eq(s, n, "fail"))) {
            s += n;
            continue;
        }
        break;
    }
    if (k == 3 || (u = hv_cmd_usage(name)) == NULL)
        return;
    used = strlen(err);
    if (used + 1 < err_len)
        (void)snprintf(err + used, err_len - used, "; usage: %s", u);
}

static void cmd_init(struct hv_cmd *c)
{
    memset(c, 0, sizeof(*c));
    c->kind = HV_CMD_NONE;
    c->core = HV_ALL_CORES;
    c->pid = HV_EVENT_ANY_PID;
    c->dr_core = HV_EVENT_ANY_CORE;
    c->imm = true;
}

hv_status_t hv_cmd_parse(const char *line, struct hv_cmd *out, char *err, size_t err_len)
{
    struct parser p;
    hv_status_t st;

    if (err == NULL)
        err_len = 0;
    if (err_len > 0)
        err[0] = '\0';
    if (out == NULL)
        return fail_to(err, err_len, "no place for the command");
    cmd_init(out);
    if (line == NULL)
        return fail_to(err, err_len, "no command line");

    p.s = line;
    p.len = strlen(line);
    p.pos = 0;
    p.err = err;
    p.err_len = err_len;
    st = parse_line(&p, out);
    if (st != HV_STATUS_SUCCESS) {
        cmd_init(out);
        add_usage(line, err, err_len);
    }
    return st;
}

/* ---- help ----------------------------------------------------------------- */

static const char help_overview[] =
    "hvctl commands (numbers are hex unless prefixed with 0n; see 'help numbers'):\n"
    "  rdmsr <msr> [core <n>]              read an MSR on every core, or on one core\n"
    "  wrmsr <msr> <value> [core <n>]      write an MSR on every core, or on one core\n"
    "  !dr [options]                       add an event on debug-register accesses ('help !dr')\n"
    "  events                              list the events\n"
    "  events e|d|c <id|all>               enable, disable or clear (remove) events\n"
    "  listen [seconds]                    print event messages (0 = until Ctrl-C)\n"
    "  ? [core <n>] {script}               run a script once on a core, in VMX root ('help ?')\n"
    "  simulate dr [core <n>] [pid <n>] [value <n>] [rax..r15 <n>]\n"
    "                                      inject a guest MOV to DR7 (simulated target)\n"
    "  output                              list the event outputs (forwarding, 'help output')\n"
    "  output create <name> file|namedpipe|tcp <target> [text|json]\n"
    "                                      define where events can be forwarded\n"
    "  output open|close <name>            start or stop writing to an output\n"
    "  status                              show the hypervisor's state\n"
    "Debugger mode (--target serial:...: the target halts every core; 'help debugger'):\n"
    "  pause                               break in (Ctrl-C too): halt every core, show where\n"
    "  g                                   resume every core\n"
    "  wait [seconds]                      wait for the next stop (a break event, or Ctrl-C)\n"
    "  r [<reg>] | r <reg> = <value>       registers of the current core\n"
    "  ~ [<n>]                             show the current core, or switch to core <n>\n"
    "  db|dd|dq <address> [L <n>]          guest memory (virtual, current core's page tables)\n"
    "  help [command]                      this overview, or one command in detail\n"
    "  quit | exit                         leave hvctl\n"
    "  expect fail <command>               in a script: this command is meant to fail ('help expect')\n"
    "Scripts (!dr ... script {..}, ?) are HyperDbg's script language: 'help script'.\n"
    "Keywords are case-insensitive. Empty lines and lines starting with # do nothing.\n";

static const char help_output[] =
    "output\n"
    "  List the outputs: name, type, target, format, state, and how many\n"
    "  messages were sent, dropped and are queued.\n"
    "output create <name> file <path> [text|json]\n"
    "output create <name> namedpipe <path> [text|json]\n"
    "output create <name> tcp <host>:<port> [text|json]\n"
    "  Define an output (HyperDbg's event forwarding). A name is 1-31 letters,\n"
    "  digits, '_', '-' or '.', starting with a letter or '_' ('console' is\n"
    "  reserved). A path with blanks goes in braces: file {/tmp/my log.txt}.\n"
    "  text (default): the lines 'listen' prints; json: one JSON object per\n"
    "  message and line, 64-bit values as \"0x...\" strings.\n"
    "output open <name>\n"
    "  Start writing. A file is appended to (created 0600 if missing) and\n"
    "  written whole message by message. A named pipe is a FIFO, created if\n"
    "  missing; while no reader has it open the output waits, and messages are\n"
    "  dropped and counted. A tcp output connects, and reconnects when the\n"
    "  connection is lost; messages it cannot send are dropped and counted.\n"
    "  A slow output never slows the hypervisor's message rings: past 1024\n"
    "  queued messages it drops and counts.\n"
    "output close <name>\n"
    "  Stop writing (what is queued is written first, for up to a second).\n"
    "\n"
    "  !dr ... output {a b} sends the event's messages to the open outputs a\n"
    "  and b, not to the console; output {a console} to both. While none of an\n"
    "  event's outputs is open its messages stay on the console. Messages are\n"
    "  read while 'listen' runs.\n"
    "\n"
    "  Examples:\n"
    "    output create log file /tmp/dr.log\n"
    "    output create feed tcp 127.0.0.1:9000 json\n"
    "    output create pipe namedpipe /tmp/hvctl.fifo\n"
    "    output open log\n"
    "    !dr pid 490 output {log, feed console}\n";

static const char help_expect[] =
    "expect fail <command>\n"
    "  Run <command> and say that it is meant to fail, e.g. to show an error in a\n"
    "  script. A script (hvctl -f FILE, or commands on stdin) exits with status 0\n"
    "  when every command behaved as written: the plain ones succeeded and the\n"
    "  'expect fail' ones failed. Otherwise it exits with status 1 after naming\n"
    "  each line that did not (FILE:LINE and the command) on stderr; a command\n"
    "  marked 'expect fail' that succeeds is such a line too. The script always\n"
    "  runs to its end.\n"
    "\n"
    "  What fails means:\n"
    "    rdmsr/wrmsr   run on one core or on several; the command succeeds when\n"
    "                  every target core succeeded, and fails when every target\n"
    "                  core failed (e.g. #GP on each core) or nothing ran (a bad\n"
    "                  core). Some cores failing and others not is neither: a\n"
    "                  mismatch with or without 'expect fail', reported with the\n"
    "                  failing cores.\n"
    "    !dr           fails when the event is not added (code refused, unknown\n"
    "                  output, the target said no).\n"
    "    the others    fail when the target or the system answers with an error.\n"
    "  A line that does not parse (a typo, a bad number) never counts as an\n"
    "  expected failure: it is a mismatch with or without 'expect fail', so a typo\n"
    "  cannot pass for the failure the script wanted to show.\n"
    "\n"
    "  Examples:\n"
    "    expect fail rdmsr 12345678          an MSR that does not exist: #GP on each core\n"
    "    expect fail !dr code {eb 10}        code that jumps out of its bytes is refused\n";

static const char help_rdmsr[] =
    "rdmsr <msr> [core <n>]\n"
    "  Read model-specific register <msr> (a 32-bit index) on every core, or only\n"
    "  on core <n>, and print each core's value or error.\n"
    "  Examples:\n"
    "    rdmsr c0000082            IA32_LSTAR on every core\n"
    "    rdmsr c0000082 core 2     only on core 2\n";

static const char help_wrmsr[] =
    "wrmsr <msr> <value> [core <n>]\n"
    "  Write the 64-bit <value> into MSR <msr> (a 32-bit index) on every core, or\n"
    "  only on core <n>. A core that refuses the write (#GP) is reported; the\n"
    "  others keep the new value.\n"
    "  Examples:\n"
    "    wrmsr c0000082 fffff807`73553180           on every core\n"
    "    wrmsr c0000082 fffff807`73553180 core 2    only on core 2\n";

static const char help_dr[] =
    "!dr [pid <n>|all] [core <n>] [imm yes|no] [buffer <n>] [script {text}]\n"
    "    [condition {hex bytes}] [code {hex bytes}] [output {names}]\n"
    "  Add an event that fires when the guest reads or writes a debug register\n"
    "  (MOV from/to DR0-DR7). Options come in any order, each at most once;\n"
    "  'dr' works without the '!'.\n"
    "\n"
    "  pid <n>|all      only accesses by this process; 'pid all' (or no pid)\n"
    "                   means every process\n"
    "  core <n>         only accesses on this core (default: any core)\n"
    "  imm yes|no       yes (default): each message is delivered at once;\n"
    "                   no: messages are batched and flushed periodically, which\n"
    "                   is faster but not real time\n"
    "  buffer <n>       reserve a pre-allocated buffer of <n> bytes for the\n"
    "                   event's actions (at most 100000 = 1 MiB, 0 = none);\n"
    "                   custom code receives it in RCX\n"
    "  script {..}      on every firing, run a script in HyperDbg's script\n"
    "                   language ('help script'): compiled here, checked and\n"
    "                   run in VMX root with an instruction budget; printf\n"
    "                   output becomes the event's messages. Braces nest and\n"
    "                   strings may hold '}': the matching '}' ends the\n"
    "                   script. At most 4095 characters.\n"
    "                   script {file:PATH} reads the script from the file PATH.\n"
    "                   (The format strings of older versions, e.g.\n"
    "                   script { $pid $core }, still work, with a note.)\n"
    "  condition {..}   x86-64 machine code deciding whether the event fires:\n"
    "                   called with RCX = guest registers (struct hv_gprs *),\n"
    "                   RDX = context; the event fires when it returns non-zero\n"
    "                   in RAX\n"
    "  code {..}        x86-64 machine code run as an action when the event\n"
    "                   fires: RCX = the pre-allocated buffer (or 0),\n"
    "                   RDX = guest registers (struct hv_gprs *), R8 = context\n"
    "  output {names}   forward the event's messages to these outputs (see\n"
    "                   'help output') instead of the console; add the name\n"
    "                   console to keep them there too. Names are separated by\n"
    "                   blanks, commas or semicolons: output {log, pipe console}\n"
    "\n"
    "  The event context is NULL for debug-register events: $context in scripts,\n"
    "  R8 in custom code and RDX in condition code are 0.\n"
    "  With neither script nor code the event breaks: each access is reported\n"
    "  with the guest's registers (in local mode the guest then continues).\n"
    "  Hex bytes are blank-separated (90 90 90) or contiguous (909090), 1 to 4095\n"
    "  bytes. As in HyperDbg they are the body of a function: a ret (c3) is\n"
    "  appended to them, always (a body that already ends in ret gets a second,\n"
    "  unreachable one), and shown in the disassembly as (appended). Code and\n"
    "  condition run in VMX root with the Microsoft x64 ABI and are checked\n"
    "  before the event is armed: no privileged, VMX, I/O or interrupt\n"
    "  instruction, the last instruction complete, and every branch inside the\n"
    "  bytes or onto the appended ret.\n"
    "\n"
    "  Examples:\n"
    "    !dr                                        every access, everywhere\n"
    "    !dr pid 490 core 3\n"
    "    !dr pid all script { printf(\"pid=%x\\n\", $pid); }       every process\n"
    "    !dr script { printf(\"%x %x %llx\\n\", $pid, $core, dq(@rsp)); } imm no\n"
    "    !dr pid 490 script { .n++; if (.n > 0n100) { event_disable($event_id); } }\n"
    "    !dr pid 490 code {90 90 90}                nop nop nop, then the appended ret\n"
    "    !dr pid 490 code {90 90 90} condition {90 90 90}\n"
    "    !dr buffer 200 code {48 89 11}             mov [rcx], rdx ; ret\n"
    "    !dr pid 490 code {90} condition {31 c0 ff c0}   fires: xor eax,eax; inc eax\n"
    "    !dr script {file:/tmp/x.txt}\n"
    "    !dr pid 490 output {log}                   forward to the output 'log'\n";

static const char help_events[] =
    "events\n"
    "  List the events with their filters, whether enabled, and how often fired.\n"
    "events e <id|all>    enable an event (or all of them)\n"
    "events d <id|all>    disable an event (or all of them); it stays defined\n"
    "events c <id|all>    clear: remove an event (or all of them)\n"
    "  Examples: events d 1     events c all\n";

static const char help_listen[] =
    "listen [seconds]\n"
    "  Print the messages of the events (scripts, breaks) as they arrive, for\n"
    "  <seconds> (a number, hex by default: 0n30 is thirty seconds), or until\n"
    "  interrupted with Ctrl-C when it is 0 or absent.\n";

static const char help_simulate[] =
    "simulate dr [core <n>] [pid <n>] [value <n>] [rax..r15 <n>]\n"
    "  On a simulated target, make the guest execute MOV DR7, <value> on core <n>\n"
    "  in process <pid>, so the events can be tried without hardware. Register\n"
    "  names (rax rbx rcx rdx rsi rdi rbp r8..r15) set the guest's registers\n"
    "  first, for scripts that read them (@rbx).\n"
    "  Defaults: core 0, pid 0, value 400 (DR7's reset value).\n"
    "  Examples: simulate dr core 1 pid 490 value 401\n"
    "            simulate dr pid 490 rbx 7000 rcx 1234\n";

static const char help_eval[] =
    "? [core <n>] {script}\n"
    "? [core <n>] script text to the end of the line\n"
    "  Run a script once, in VMX root on core <n> (default 0), in the context of\n"
    "  hvctl's own thread there: registers as they are at its request, $pid its\n"
    "  process. Shows the printf output, the value of the last expression\n"
    "  statement and, if the run ended early, why (budget exhausted, run-time\n"
    "  error with the code offset and address). Register writes change only\n"
    "  the script's copy. Globals (.name) are shared with event scripts.\n"
    "  Works on every target (local, tcp, sim). See 'help script'.\n"
    "  Examples:\n"
    "    ? 1 + 2 * 3;\n"
    "    ? core 1 { printf(\"core %x pid %x\\n\", $core, $pid); }\n"
    "    ? { .hits; }                      a global an event script counts\n";

static const char help_script[] =
    "Scripts: HyperDbg's script language (docs.hyperdbg.org, \"Scripting language\")\n"
    "  Used by !dr ... script {..} (on every firing) and ? (once). hvctl compiles\n"
    "  the text to bytecode; the hypervisor verifies it again and interprets it in\n"
    "  VMX root without allocation, recursion or floating point.\n"
    "\n"
    "  Values     64-bit integers. Numbers are hex by default (10 is sixteen);\n"
    "             0x hex, 0n decimal, 0t octal, 0y binary; ` separates digits.\n"
    "             Strings \"...\" with \\n \\t \\r \\\" \\\\ \\xHH escapes (printf\n"
    "             formats, strcmp/memcmp literals).\n"
    "  Registers  @rax..@r15 @rip @rflags, 32/16/8-bit parts (@eax @ax @al @ah\n"
    "             @r8d @r8w @r8l), RFLAGS bits (@cf @pf @af @zf @sf @tf @if @df\n"
    "             @of @iopl @nt @rf @vm @ac @vif ...); readable and assignable.\n"
    "  Pseudo     $pid $tid $core $proc $thread $context $ip $buffer $event_id\n"
    "  registers  ($id) $event_stage; what a platform cannot tell reads 0.\n"
    "  Variables  .name is global (every core and event, and ?); name is local.\n"
    "             Optional C types in declarations (int x = 1;).\n"
    "  Operators  HyperDbg's precedence, lowest first: || && | ^ & (comparisons)\n"
    "             (<< >>) (+ -) (* / %) then unary - + ~ ! * (poi). && and ||\n"
    "             short-circuit; < > <= >= are signed; / and % by zero are\n"
    "             run-time errors; = += -= *= /= %= <<= >>= &= ^= |= ++ --.\n"
    "  Statements if/elsif/else, while, do-while, for, break, continue, functions\n"
    "             (C syntax, return; recursion up to 16 calls deep), // and C\n"
    "             comments.\n"
    "  Functions  printf(fmt, ...) (%d %i %u %x %X %o %c %s %ws %p %%, width,\n"
    "             0 and - flags, h hh l ll I64), print(x), poi db dw dd dq hi low\n"
    "             (read guest memory through the guest's page tables),\n"
    "             eb ed eq (write), check_address, not neg, strlen strcmp memcmp,\n"
    "             interlocked_increment/decrement/exchange/exchange_add/\n"
    "             compare_exchange(&.global, ...), event_enable/event_disable(id),\n"
    "             pause() (a record; a debugger breaks there).\n"
    "  Limits     8192 bytes of code, 256 constants, 4096 bytes of strings, 64\n"
    "             globals per script (256 in all), 64 locals, a stack of 32,\n"
    "             16 call frames; 100000 instructions per run (a string\n"
    "             operation costs one per 64 bytes). An endless loop ends with a\n"
    "             'budget exhausted' record; the guest continues.\n"
    "  Errors     A compile error names the line, column and token:\n"
    "               script error: line 1, column 1, at 'foo': unknown function 'foo'\n"
    "             A run-time error (an unreadable address, division by zero, calls\n"
    "             too deep) ends that run with a record naming it; nothing crashes.\n"
    "  Examples:\n"
    "    !dr pid 490 script { printf(\"rax=%llx [rsp]=%llx\\n\", @rax, dq(@rsp)); }\n"
    "    !dr script { if ($pid == 490 && @rcx == 0n10) { pause(); } }\n"
    "    ? { for (i = 0; i < 3; i++) { printf(\"%d \", i); } }\n";

static const char help_status[] =
    "status\n"
    "  Show the target (a real hypervisor or a simulation) and its cores.\n";

static const char help_debugger[] =
    "Debugger mode: hvctl --target serial:/dev/ttyS0[,baud=N] | serial:tcp:HOST:PORT\n"
    "  | serial:sim:cores=N. The target runs until a break: 'pause', Ctrl-C, or a\n"
    "  !dr event with the break action. Then EVERY core waits in VMX root, and\n"
    "  the stop report names the core, the reason (event id), the process, RIP\n"
    "  and the instruction there. While halted:\n"
    "    r / r rax = 5        registers of the current core (read, write)\n"
    "    ~ 1                  switch to core 1 (r, db... act on it)\n"
    "    rdmsr / wrmsr        run in VMX root on the halted cores, without resuming\n"
    "                         them (guest-state MSRs go to their VMCS fields)\n"
    "    db/dd/dq ADDR [L n]  guest virtual memory through the current core's page tables\n"
    "    events, !dr          changes take effect at 'g'\n"
    "    status               halted or running, current core, link counters\n"
    "    g                    resume every core\n"
    "  'wait [seconds]' waits for the next stop (scripts: after g, to see a break\n"
    "  event); interactively 'g' waits by itself until the next stop or Ctrl-C.\n"
    "  A dropped line is reconnected on the next command: a halted target keeps\n"
    "  waiting, and its state is asked again.\n";

static const char help_pause[] =
    "pause\n"
    "  Break in: halt every core of a serial target in VMX root and show the\n"
    "  stop report (core, reason, pid, RIP, instruction). Ctrl-C does the same\n"
    "  while hvctl waits for the target. Nothing to do when already halted.\n";

static const char help_go[] =
    "g\n"
    "  Resume every core of a halted target; event changes made while halted\n"
    "  take effect now. Interactively hvctl then waits for the next stop (Ctrl-C\n"
    "  breaks in); in a script the next line runs at once ('wait' waits).\n";

static const char help_wait[] =
    "wait [seconds]\n"
    "  Wait for the target's next stop report (a !dr event with the break action,\n"
    "  or Ctrl-C, which breaks in). 0 or nothing: until then. A wait that ends\n"
    "  without a stop fails (TIMEOUT).\n";

static const char help_regs[] =
    "r [<reg>] | r <reg> = <value>\n"
    "  The registers of the current core ('~' switches) of a halted target: all\n"
    "  of them, one, or write one. Names: rax rbx rcx rdx rsi rdi rbp rsp r8-r15\n"
    "  rip rflags (and what 'r' lists). Examples: r, r rip, r rax = 5, r rax=0n10.\n";

static const char help_core[] =
    "~ [<n>]\n"
    "  Show the current core of a halted target, or make core <n> current: r,\n"
    "  db/dd/dq act on it. The stop report makes the stopping core current.\n";

static const char help_mem[] =
    "db|dd|dq <address> [L <count>]\n"
    "  Show guest virtual memory of a halted target as bytes (with ASCII),\n"
    "  dwords or qwords, translated through the current core's guest page\n"
    "  tables. Default 0x80 bytes' worth; L <count> units, at most 0x10000\n"
    "  bytes. A page that is not present is reported, never touched.\n"
    "  Examples: db 7ff6`12340000, dq ffffc000`00001000 L 4, db 1000 L20\n";

static const char help_help[] =
    "help [command]\n"
    "  Without a command: the overview. With one: its syntax and options.\n"
    "  Topics: rdmsr wrmsr !dr events listen ? script simulate output status expect\n"
    "  help quit numbers debugger pause g wait r ~ db dd dq\n";

static const char help_quit[] =
    "quit | exit\n"
    "  Leave hvctl.\n";

static const char help_numbers[] =
    "Numbers\n"
    "  Hex by default: 10 is sixteen. 0x10 is hex too; 0n10 is decimal ten.\n"
    "  A backtick may separate groups of digits: fffff807`73553180, 0n1`000`000.\n"
    "  Values are 64-bit at most (MSR indexes, cores and event ids 32-bit;\n"
    "  core ffffffff is reserved); a value that does not fit is an error, it\n"
    "  never wraps.\n";

const char *hv_cmd_help(const char *topic)
{
    static const struct { const char *name; const char *text; } topics[] = {
        { "rdmsr", help_rdmsr },       { "wrmsr", help_wrmsr },
        { "dr", help_dr },             { "events", help_events },
        { "listen", help_listen },     { "simulate", help_simulate },
        { "status", help_status },     { "help", help_help },
        { "quit", help_quit },         { "exit", help_quit },
        { "numbers", help_numbers },   { "number", help_numbers },
        { "expect", help_expect },     { "output", help_output },
        { "?", help_eval },            { "eval", help_eval },
        { "script", help_script },     { "scripts", help_script },
        { "debugger", help_debugger }, { "pause", help_pause },
        { "g", help_go },              { "go", help_go },
        { "wait", help_wait },         { "r", help_regs },
        { "~", help_core },            { "db", help_mem },
        { "dd", help_mem },            { "dq", help_mem },
    };
    size_t i, len;

    if (topic == NULL)
        return help_overview;
    if (topic[0] == '!')
        topic++;
    len = strlen(topic);
    for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (kw_eq(topic, len, topics[i].name))
            return topics[i].text;
    return help_overview;
}
