/* SPDX-License-Identifier: MIT */
/*
 * The script compiler (client side, user mode): HyperDbg's script
 * language to the bytecode of hvcore/script.h.
 *
 * The language, as HyperDbg documents it (docs.hyperdbg.org, "Scripting
 * language"):
 *   - numbers are hex by default; 0x hex, 0n decimal, 0t octal, 0y binary;
 *     backticks separate digit groups (fffff803`1d44fde0). A word made only
 *     of hex digits is a number (so `a` and `dead` are numbers, as in
 *     HyperDbg/WinDbg MASM syntax);
 *   - registers @rax..@r15, @rip, @rflags and their 32/16/8-bit parts
 *     (@eax @ax @ah @al @r8d @r8w @r8l ...), the RFLAGS bits (@cf @zf ...);
 *   - pseudo-registers $pid $tid $core $proc $thread $context $ip $buffer
 *     $event_id $event_stage;
 *   - globals .name (shared by every core and event), locals name (one
 *     set per function call); optional C types (int, long, ...) in
 *     declarations, all values are 64-bit integers;
 *   - operators, lowest first: || && | ^ & (== != < > <= >=) (<< >>) (+ -)
 *     (* / %) then unary - + ~ ! * (poi); && and || short-circuit;
 *     comparisons are signed; assignments = += -= *= /= %= <<= >>= &= ^= |=
 *     ++ --, and *addr = value;
 *   - if/elsif/else, while, do-while, for, break, continue, user functions
 *     (C syntax, return), // and C comments;
 *   - functions: printf print poi db dw dd dq hi low not neg check_address
 *     strlen strcmp memcmp eb ed eq interlocked_increment/decrement/
 *     exchange/exchange_add/compare_exchange (on &.global) event_enable
 *     event_disable pause.
 * Errors name the line, the column and the token.
 */
#ifndef HVCORE_CLIENT_SCRIPT_H
#define HVCORE_CLIENT_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../script.h"
#include "../status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A compile error: where and what. */
struct hv_script_error {
    uint32_t line;          /**< 1-based */
    uint32_t column;        /**< 1-based */
    char token[40];         /**< the token at fault ("" at the end of the text) */
    char message[200];      /**< what is wrong */
};

/** Token kinds of the lexer. */
enum hv_script_tok {
    HV_STOK_EOF = 0,
    HV_STOK_NUMBER,     /**< value in .value */
    HV_STOK_IDENT,      /**< a word that is not a number */
    HV_STOK_REGISTER,   /**< @name (text without the @) */
    HV_STOK_PSEUDO,     /**< $name */
    HV_STOK_GLOBAL,     /**< .name */
    HV_STOK_STRING,     /**< "..." (escapes resolved into .text) */
    HV_STOK_PUNCT,      /**< an operator or separator (text) */
    HV_STOK_ERROR,      /**< a lexical error; .text is the message */
};

/** One token. */
struct hv_script_token {
    enum hv_script_tok kind;
    uint32_t line, column;
    uint32_t offset, length;    /**< span in the source */
    uint64_t value;             /**< HV_STOK_NUMBER */
    char text[256];             /**< name, operator, string contents, or error message */
    uint32_t text_len;          /**< bytes in text (strings may hold NULs? no: escapes \0 refused) */
};

/** The lexer's position. */
struct hv_script_lexer {
    const char *src;
    size_t len, pos;
    uint32_t line, column;
};

/**
 * Start lexing `src` (NUL-terminated). Context: any (user mode).
 * @param lx   the lexer.
 * @param src  the text.
 */
void hv_script_lex_init(struct hv_script_lexer *lx, const char *src);

/**
 * The next token. Comments and blanks are skipped.
 * @param lx   the lexer.
 * @param tok  receives the token (HV_STOK_ERROR with a message on bad input).
 */
void hv_script_lex_next(struct hv_script_lexer *lx, struct hv_script_token *tok);

/**
 * Compile `src` to a program (verified with hv_script_verify before it is
 * returned). Context: user mode.
 * @param src     the script text, NUL-terminated.
 * @param budget  instructions per run (0 = HV_SCRIPT_DEFAULT_BUDGET).
 * @param out     receives a malloc'd program (free() it).
 * @param out_len receives its size.
 * @param err     receives the error on failure (may be NULL).
 * @return SUCCESS; SCRIPT_INVALID (a compile error, described in err);
 *         INSUFFICIENT_RESOURCES; INVALID_PARAMETER.
 */
hv_status_t hv_script_compile(const char *src, uint32_t budget, uint8_t **out, uint32_t *out_len,
                              struct hv_script_error *err);

/**
 * "line L, column C, at 'tok': message" (or "at end of script").
 * @return the length written (truncated to cap - 1).
 */
int hv_script_error_format(const struct hv_script_error *e, char *buf, size_t cap);

/**
 * Does `src` look like the format-string scripts of hvctl before the
 * script engine ("$pid $core ..."): text with $pseudo-registers and none
 * of a program's punctuation (; or ()? The client then tells how to write
 * it as a script. Context: any.
 */
bool hv_script_is_legacy_format(const char *src);

/**
 * Disassemble a program into `buf` (one instruction a line). Context: user mode.
 * @return the length written.
 */
int hv_script_disassemble(const uint8_t *prog, uint32_t len, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_CLIENT_SCRIPT_H */
