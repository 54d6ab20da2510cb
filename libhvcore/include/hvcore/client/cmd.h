/* SPDX-License-Identifier: MIT */
/*
 * The command language of hvctl (user mode, libc).
 *
 *   rdmsr <msr> [core <n>]
 *   wrmsr <msr> <value> [core <n>]
 *   !dr [pid <n>|all] [core <n>] [imm yes|no] [buffer <n>] [script {text}]
 *       [condition {hex bytes}] [code {hex bytes}]        ("dr" works too)
 *   events                      list
 *   events e|d|c <id|all>       enable, disable, clear (remove)
 *   listen [seconds]            0 (the default) = until interrupted
 *   simulate dr [core <n>] [pid <n>] [value <n>] [rax|rbx|... <n>]
 *   ? [core <n>] {script} | ? script   run a script once on a core (default 0)
 *   status
 * Debugger mode (serial targets; the target halts every core):
 *   pause                       break in: halt every core, show the stop
 *   g                           go: resume every core ("go" works too)
 *   wait [seconds]              wait for the next stop report (0, the
 *                               default, = until interrupted: Ctrl-C breaks in)
 *   r [<reg>] | r <reg> = <v>   registers of the current core: all, one, or
 *                               write one ("r rax=5" works too)
 *   ~ [<n>]                     show the current core, or switch to core n
 *   db|dd|dq <address> [L <n>]  guest virtual memory of the current core:
 *                               n bytes / dwords / qwords (default 0x80
 *                               bytes' worth); "L20" works too
 *   help [command]
 *   quit | exit
 *   output                      list the outputs (event forwarding)
 *   output create NAME file PATH | namedpipe PATH | tcp HOST:PORT [text|json]
 *                               (a path with blanks in braces: file {a b})
 *   output open NAME | output close NAME
 *   !dr ... output {NAME ...}   names separated by blanks, commas or
 *                               semicolons (`output NAME` for one); the name
 *                               `console` keeps the console too
 *   expect fail <command>       <command>, with expect_fail set: a script
 *                               says this command is meant to fail (hvctl
 *                               judges the outcome; see hv_cmd_help("expect"))
 *   (empty line) | # comment    HV_CMD_NONE
 *
 * Lexing: tokens are separated by blanks (space, tab, CR, LF, VT, FF);
 * '{' and '}' are tokens of their own, so `code{90}` is `code {90}`.
 * Keywords and hex digits are case-insensitive. A comment is a line whose
 * first non-blank character is '#'; there are no trailing comments.
 *
 * Numbers (hv_parse_number): hex by default; "0x" prefix = hex, "0n"
 * prefix = decimal; a backtick may separate digit groups between two
 * digits (fffff807`73553180, 0n1`000`000). A leading or trailing backtick,
 * two backticks in a row, no digits, a bad digit or a value past 64 bits
 * is an error naming the token; nothing wraps silently.
 *
 * Braces: `{` opens a value that ends at the next `}` (no nesting). Code
 * and condition values are hex bytes: blank-separated tokens of 1-2 hex
 * digits or contiguous even-length hex strings ("90 90 90", "909090"),
 * 1 .. HV_CMD_MAX_CODE_BODY (4095) bytes: they are the body, to which the
 * caller appends a ret (hv_code_prepare), as HyperDbg does. A script value is kept verbatim with the
 * blanks around it trimmed, 1 .. HV_CMD_MAX_SCRIPT-1 characters (a script, hvcore/client/script.h);
 * `script {file:PATH}` reads the text from PATH instead (trimmed the same
 * way; a NUL byte in the file or text past the limit is refused).
 *
 * The parser only parses: the custom code is validated by the caller
 * (hv_code_check, <hvcore/client/code_check.h>).
 */
#ifndef HVCORE_CLIENT_CMD_H
#define HVCORE_CLIENT_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../event.h"
#include "../msr.h"
#include "../status.h"
#include "output.h"

#ifdef __cplusplus
extern "C" {
#endif

enum hv_cmd_kind {
    HV_CMD_NONE,            /* empty line or comment: nothing to do */
    HV_CMD_HELP,
    HV_CMD_QUIT,
    HV_CMD_STATUS,
    HV_CMD_RDMSR,
    HV_CMD_WRMSR,
    HV_CMD_DR,
    HV_CMD_EVENTS_LIST,
    HV_CMD_EVENTS_CTL,
    HV_CMD_LISTEN,
    HV_CMD_SIMULATE_DR,
    HV_CMD_EVAL,            /* ? [core <n>] {script} | ? script: run a script once (script in .script) */
    HV_CMD_OUTPUT_LIST,     /* output */
    HV_CMD_OUTPUT_CREATE,   /* output create NAME file|namedpipe|tcp TARGET [text|json] */
    HV_CMD_OUTPUT_OPEN,     /* output open NAME */
    HV_CMD_OUTPUT_CLOSE,    /* output close NAME */
    HV_CMD_PAUSE,           /* pause: break in */
    HV_CMD_GO,              /* g | go */
    HV_CMD_WAIT,            /* wait [seconds] (in .seconds; 0 = until interrupted) */
    HV_CMD_REGS,            /* r [reg [= value]]: .reg ("" = all), .reg_write, .value */
    HV_CMD_CORE,            /* ~ [n]: .core (HV_ALL_CORES = show the current one) */
    HV_CMD_MEM,             /* db|dd|dq address [L n]: .address, .mem_width, .mem_count */
};

/* Longest register name `r` takes (the engine knows which exist). */
#define HV_CMD_MAX_REG_NAME 15u
/* Most bytes one db/dd/dq shows. */
#define HV_CMD_MAX_MEM_BYTES 0x10000u

/* "events e|d|c all" */
#define HV_CMD_ALL_EVENTS 0xFFFFFFFFu
/* Longest script text (`script {...}`, `? {...}`, or a script file). */
#define HV_CMD_MAX_SCRIPT 4096u

struct hv_cmd {
    enum hv_cmd_kind kind;
    /* rdmsr / wrmsr: msr, value (wrmsr), core = HV_ALL_CORES when absent.
     * simulate dr: core (HV_ALL_CORES when absent) and pid
     * (HV_EVENT_ANY_PID when absent): the caller picks its defaults
     * (hvctl: core 0, pid 0); value = the value moved to DR7
     * (HV_CMD_SIMULATE_DR7_DEFAULT = 0x400, DR7's reset value, when
     * absent). */
    uint32_t msr;
    uint64_t value;
    uint32_t core;
    /* !dr */
    uint64_t pid;            /* HV_EVENT_ANY_PID when absent or `pid all` */
    bool pid_all;            /* `pid all` was written: every process, also
                                where a target later has a current process */
    uint32_t dr_core;        /* HV_EVENT_ANY_CORE when absent */
    bool imm;                /* default true */
    uint32_t buffer_size;    /* 0 .. HV_EVENT_MAX_BUFFER, 0 = none */
    bool has_script;
    char script[HV_CMD_MAX_SCRIPT];            /* NUL-terminated */
    /* simulate dr: guest GPRs to set first (bit i of regs_set: regs[i]). */
    uint64_t regs[16];
    uint32_t regs_set;
    uint32_t code_len;                         /* 0 = no code; the body, no ret appended */
    uint8_t code[HV_EVENT_MAX_CODE];
    uint32_t condition_len;                    /* 0 = no condition; the body */
    uint8_t condition[HV_EVENT_MAX_CODE];
    /* events e|d|c */
    char op;                 /* 'e', 'd' or 'c' (lower case) */
    uint32_t id;             /* HV_CMD_ALL_EVENTS (0xFFFFFFFF) for "all" */
    uint32_t seconds;        /* listen; 0 = until interrupted */
    char topic[32];          /* help [command], as typed; "" = overview */
    /* output create / open / close: the name (checked with
     * hv_output_name_check); create: type (enum hv_output_type), the
     * target as written (path or HOST:PORT, not yet checked further) and
     * the format (enum hv_output_format, text when absent). */
    char output_name[HV_OUTPUT_NAME_MAX + 1];
    uint32_t output_type;
    uint32_t output_format;
    char output_target[HV_OUTPUT_TARGET_MAX + 1];
    /* !dr ... output {NAME ...}: the names, distinct, `console` apart */
    uint32_t output_count;
    char outputs[HV_OUTPUT_MAX_PER_EVENT][HV_OUTPUT_NAME_MAX + 1];
    bool output_console;     /* `console` was among them */
    bool expect_fail;        /* the line was `expect fail <command>` */
    /* r: the register as typed, lower-cased ("" = all of them); reg_write =
     * `r <reg> = <value>` (the value in .value) */
    char reg[HV_CMD_MAX_REG_NAME + 1];
    bool reg_write;
    /* db / dd / dq: address, unit size (1, 4, 8) and count of units
     * (mem_count * mem_width <= HV_CMD_MAX_MEM_BYTES) */
    uint64_t address;
    uint32_t mem_width;
    uint32_t mem_count;
};

/* Most hex bytes in code {} / condition {}: a ret is appended to them
 * (hv_code_prepare) and the whole must fit in HV_EVENT_MAX_CODE. */
#define HV_CMD_MAX_CODE_BODY (HV_EVENT_MAX_CODE - 1u)

/* Default DR7 value of `simulate dr` without `value`. */
#define HV_CMD_SIMULATE_DR7_DEFAULT 0x400u

/*
 * Parse one line (NUL-terminated; a trailing newline is fine). Returns
 * HV_STATUS_SUCCESS with *out filled, or HV_STATUS_INVALID_PARAMETER with
 * a message naming the offending token in err (always NUL-terminated when
 * err_len > 0; err may be NULL with err_len 0) and *out reset to an
 * HV_CMD_NONE command with the defaults. `script {file:...}` reads a file;
 * otherwise no I/O, no allocation.
 */
hv_status_t hv_cmd_parse(const char *line, struct hv_cmd *out, char *err, size_t err_len);

/*
 * Parse the `len` bytes at `token` as a number (rules above; a NUL byte
 * inside is just an invalid digit). SUCCESS or INVALID_PARAMETER with a
 * message such as "'0x' is not a number: no digits" or
 * "number 'fffff807`73553180`1' does not fit in 64 bits".
 */
hv_status_t hv_parse_number(const char *token, size_t len, uint64_t *out, char *err, size_t err_len);

/*
 * The one-line usage of a command ("rdmsr" -> "rdmsr <msr> [core <n>]";
 * case-insensitive), or NULL for a word that is no command. A line that
 * hv_cmd_parse refuses ends with "; usage: ..." of its command unless the
 * message already shows it ("rdmsr: usage: rdmsr <msr> [core <n>] ...").
 * Static storage.
 */
const char *hv_cmd_usage(const char *command);

/* Help text for a command ("wrmsr", "!dr", "dr", "events", "numbers", ...,
 * case-insensitive), or the overview for NULL, "" or an unknown topic.
 * Never NULL; static storage. */
const char *hv_cmd_help(const char *topic);

#ifdef __cplusplus
}
#endif

#endif
