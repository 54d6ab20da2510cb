/* SPDX-License-Identifier: MIT */
/*
 * The script lexer (hvcore/client/script.h): numbers in HyperDbg's MASM
 * forms, @registers, $pseudo-registers, .globals, strings with C escapes,
 * operators, // and block comments.
 */
#include <hvcore/client/script.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void hv_script_lex_init(struct hv_script_lexer *lx, const char *src)
{
    lx->src = src != NULL ? src : "";
    lx->len = strlen(lx->src);
    lx->pos = 0;
    lx->line = 1;
    lx->column = 1;
}

static int peek(const struct hv_script_lexer *lx, size_t ahead)
{
    return lx->pos + ahead < lx->len ? (unsigned char)lx->src[lx->pos + ahead] : 0;
}

static void advance(struct hv_script_lexer *lx)
{
    if (lx->pos >= lx->len)
        return;
    if (lx->src[lx->pos] == '\n') {
        lx->line++;
        lx->column = 1;
    } else {
        lx->column++;
    }
    lx->pos++;
}

static void error(struct hv_script_token *t, const char *msg)
{
    t->kind = HV_STOK_ERROR;
    snprintf(t->text, sizeof(t->text), "%s", msg);
    t->text_len = (uint32_t)strlen(t->text);
}

static bool word_char(int c)
{
    return isalnum(c) || c == '_';
}

/* Skip blanks and comments; false (with an error token) for an unclosed
 * block comment. */
static bool skip(struct hv_script_lexer *lx, struct hv_script_token *t)
{
    for (;;) {
        int c = peek(lx, 0);

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
            advance(lx);
        } else if (c == '/' && peek(lx, 1) == '/') {
            while (peek(lx, 0) != 0 && peek(lx, 0) != '\n')
                advance(lx);
        } else if (c == '/' && peek(lx, 1) == '*') {
            t->line = lx->line;
            t->column = lx->column;
            t->offset = (uint32_t)lx->pos;
            advance(lx);
            advance(lx);
            while (!(peek(lx, 0) == '*' && peek(lx, 1) == '/')) {
                if (peek(lx, 0) == 0) {
                    t->length = 2;
                    error(t, "comment is not closed (missing */)");
                    return false;
                }
                advance(lx);
            }
            advance(lx);
            advance(lx);
        } else {
            return true;
        }
    }
}

static int digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

/* Parse the word w[0..n) as a number in `base`; digit separators (`)
 * allowed between digits. */
static bool parse_digits(const char *w, size_t n, unsigned base, uint64_t *out, const char **why)
{
    uint64_t v = 0;
    size_t i, digits = 0;

    for (i = 0; i < n; i++) {
        int d;

        if (w[i] == '`') {
            if (digits == 0 || i + 1 == n || w[i + 1] == '`') {
                *why = "a digit separator (`) must stand between digits";
                return false;
            }
            continue;
        }
        d = digit_value((unsigned char)w[i]);
        if (d >= (int)base) {
            *why = base == 16 ? "not a hex digit" : base == 10 ? "not a decimal digit (0n)"
                 : base == 8 ? "not an octal digit (0t)" : "not a binary digit (0y)";
            return false;
        }
        if (v > (UINT64_MAX - (uint64_t)d) / base) {
            *why = "number does not fit in 64 bits";
            return false;
        }
        v = v * base + (uint64_t)d;
        digits++;
    }
    if (digits == 0) {
        *why = "number has no digits";
        return false;
    }
    *out = v;
    return true;
}

static bool all_hex(const char *w, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (digit_value((unsigned char)w[i]) > 15 && w[i] != '`')
            return false;
    return n > 0 && w[0] != '`';
}

static const char *const puncts[] = {
    "<<=", ">>=", "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "++", "--", "+=", "-=", "*=", "/=",
    "%=", "&=", "^=", "|=", "(", ")", "{", "}", "[", "]", ",", ";", "=", "+", "-", "*", "/", "%", "&",
    "|", "^", "~", "!", "<", ">", ":", "?",
};

void hv_script_lex_next(struct hv_script_lexer *lx, struct hv_script_token *t)
{
    int c;
    size_t start;

    memset(t, 0, sizeof(*t));
    if (!skip(lx, t))
        return;
    t->line = lx->line;
    t->column = lx->column;
    t->offset = (uint32_t)lx->pos;
    start = lx->pos;
    c = peek(lx, 0);
    if (c == 0) {
        t->kind = HV_STOK_EOF;
        return;
    }

    /* Words: numbers (a leading digit, or hex digits only) or names. */
    if (word_char(c) || c == '`') {
        const char *w;
        size_t n;
        const char *why = NULL;

        while (word_char(peek(lx, 0)) || peek(lx, 0) == '`')
            advance(lx);
        w = lx->src + start;
        n = lx->pos - start;
        t->length = (uint32_t)n;
        snprintf(t->text, sizeof(t->text), "%.*s", (int)(n < 255 ? n : 255), w);
        t->text_len = (uint32_t)strlen(t->text);
        if (isdigit((unsigned char)w[0])) {
            unsigned base = 16;
            size_t skip_n = 0;

            if (n >= 2 && w[0] == '0') {
                switch (w[1]) {
                case 'x': case 'X': base = 16; skip_n = 2; break;
                case 'n': case 'N': base = 10; skip_n = 2; break;
                case 't': case 'T': base = 8; skip_n = 2; break;
                case 'y': case 'Y': base = 2; skip_n = 2; break;
                default: break;
                }
            }
            if (!parse_digits(w + skip_n, n - skip_n, base, &t->value, &why)) {
                error(t, why);
                return;
            }
            t->kind = HV_STOK_NUMBER;
            return;
        }
        /* A hex-looking word before '(' is a function (db, dd, ...). */
        {
            size_t k = lx->pos;

            while (k < lx->len && (lx->src[k] == ' ' || lx->src[k] == '\t'))
                k++;
            if (k < lx->len && lx->src[k] == '(' && memchr(w, '`', n) == NULL) {
                t->kind = HV_STOK_IDENT;
                return;
            }
        }
        if (all_hex(w, n) && parse_digits(w, n, 16, &t->value, &why)) {
            t->kind = HV_STOK_NUMBER;
            return;
        }
        if (memchr(w, '`', n) != NULL) {
            error(t, "a digit separator (`) inside a name");
            return;
        }
        t->kind = HV_STOK_IDENT;
        return;
    }

    /* @register, $pseudo, .global */
    if ((c == '@' || c == '$' || c == '.') && (word_char(peek(lx, 1)))) {
        advance(lx);
        while (word_char(peek(lx, 0)))
            advance(lx);
        t->length = (uint32_t)(lx->pos - start);
        snprintf(t->text, sizeof(t->text), "%.*s", (int)(t->length - 1 < 255 ? t->length - 1 : 255),
                 lx->src + start + 1);
        t->text_len = (uint32_t)strlen(t->text);
        t->kind = c == '@' ? HV_STOK_REGISTER : c == '$' ? HV_STOK_PSEUDO : HV_STOK_GLOBAL;
        return;
    }

    if (c == '"') {
        uint32_t n = 0;

        advance(lx);
        for (;;) {
            int d = peek(lx, 0);

            if (d == 0 || d == '\n') {
                t->length = (uint32_t)(lx->pos - start);
                error(t, "string is not closed (missing \")");
                return;
            }
            if (d == '"') {
                advance(lx);
                break;
            }
            if (d == '\\') {
                int e = peek(lx, 1);

                advance(lx);
                advance(lx);
                switch (e) {
                case 'n': d = '\n'; break;
                case 't': d = '\t'; break;
                case 'r': d = '\r'; break;
                case '\\': d = '\\'; break;
                case '"': d = '"'; break;
                case '\'': d = '\''; break;
                case 'x': {
                    int h1 = digit_value(peek(lx, 0)), h2 = digit_value(peek(lx, 1));

                    if (h1 > 15 || h2 > 15 || (h1 == 0 && h2 == 0)) {
                        t->length = (uint32_t)(lx->pos - start);
                        error(t, "\\x needs two hex digits, not 00");
                        return;
                    }
                    advance(lx);
                    advance(lx);
                    d = h1 * 16 + h2;
                    break;
                }
                default:
                    t->length = (uint32_t)(lx->pos - start);
                    error(t, "unknown escape in string (\\n \\t \\r \\\\ \\\" \\xHH)");
                    return;
                }
            } else {
                advance(lx);
            }
            if (n + 1 >= sizeof(t->text)) {
                t->length = (uint32_t)(lx->pos - start);
                error(t, "string is longer than 255 characters");
                return;
            }
            t->text[n++] = (char)d;
        }
        t->text[n] = '\0';
        t->text_len = n;
        t->length = (uint32_t)(lx->pos - start);
        t->kind = HV_STOK_STRING;
        return;
    }

    {
        size_t i;

        for (i = 0; i < sizeof(puncts) / sizeof(puncts[0]); i++) {
            size_t n = strlen(puncts[i]);

            if (lx->len - lx->pos >= n && memcmp(lx->src + lx->pos, puncts[i], n) == 0) {
                size_t k;

                for (k = 0; k < n; k++)
                    advance(lx);
                memcpy(t->text, puncts[i], n + 1);
                t->text_len = (uint32_t)n;
                t->length = (uint32_t)n;
                t->kind = HV_STOK_PUNCT;
                return;
            }
        }
    }
    advance(lx);
    t->length = 1;
    snprintf(t->text, sizeof(t->text), "unexpected character '%c'", isprint(c) ? c : '?');
    t->kind = HV_STOK_ERROR;
    t->text_len = (uint32_t)strlen(t->text);
}
