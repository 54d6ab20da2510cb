/* hvctl's command parser (hv_cmd_parse, hv_parse_number, hv_cmd_help):
 * the seed commands with exact field values, every option, every number
 * form, every error with the token it names, the limits, script files. */
#define _POSIX_C_SOURCE 200809L
#include "support.h"

#include <hvcore/client/cmd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct hv_cmd g_cmd;
static char g_err[512];
static char g_line[32768];

static void parse_ok(const char *line)
{
    hv_status_t st;

    memset(&g_cmd, 0xA5, sizeof(g_cmd));
    strcpy(g_err, "stale");
    st = hv_cmd_parse(line, &g_cmd, g_err, sizeof(g_err));
    if (st != HV_STATUS_SUCCESS)
        print_error("'%.200s' refused: %s\n", line, g_err);
    assert_int_equal(st, HV_STATUS_SUCCESS);
    assert_string_equal(g_err, "");
}

static void parse_bad(const char *line, const char *needle)
{
    hv_status_t st;

    memset(&g_cmd, 0xA5, sizeof(g_cmd));
    st = hv_cmd_parse(line, &g_cmd, g_err, sizeof(g_err));
    if (st == HV_STATUS_SUCCESS || strstr(g_err, needle) == NULL)
        print_error("'%.200s': status %#x message \"%s\"; wanted \"%s\"\n", line, st, g_err, needle);
    assert_int_equal(st, HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(g_err, needle));
    /* A refused line leaves the defaults, not half a command. */
    assert_int_equal(g_cmd.kind, HV_CMD_NONE);
    assert_int_equal(g_cmd.core, HV_ALL_CORES);
    assert_true(g_cmd.pid == HV_EVENT_ANY_PID);
    assert_int_equal(g_cmd.code_len, 0);
    assert_int_equal(g_cmd.condition_len, 0);
    assert_false(g_cmd.has_script);
    assert_false(g_cmd.expect_fail);
    assert_false(g_cmd.pid_all);
}

/* The !dr defaults, for checking the options not given. */
static void assert_dr_defaults_except(unsigned given)
{
    assert_int_equal(g_cmd.kind, HV_CMD_DR);
    if (!(given & 1))
        assert_true(g_cmd.pid == HV_EVENT_ANY_PID);
    if (!(given & 2))
        assert_int_equal(g_cmd.dr_core, HV_EVENT_ANY_CORE);
    if (!(given & 4))
        assert_true(g_cmd.imm);
    if (!(given & 8))
        assert_int_equal(g_cmd.buffer_size, 0);
    if (!(given & 16)) {
        assert_false(g_cmd.has_script);
        assert_string_equal(g_cmd.script, "");
    }
    if (!(given & 32))
        assert_int_equal(g_cmd.condition_len, 0);
    if (!(given & 64))
        assert_int_equal(g_cmd.code_len, 0);
}

static uint64_t num_ok(const char *s)
{
    uint64_t v = 0xDEAD;
    char err[128];

    strcpy(err, "stale");
    if (hv_parse_number(s, strlen(s), &v, err, sizeof(err)) != HV_STATUS_SUCCESS)
        print_error("number '%s' refused: %s\n", s, err);
    assert_int_equal(hv_parse_number(s, strlen(s), &v, err, sizeof(err)), HV_STATUS_SUCCESS);
    assert_string_equal(err, "");
    return v;
}

static void num_bad(const char *s, const char *message)
{
    uint64_t v = 0xDEAD;
    char err[128];

    assert_int_equal(hv_parse_number(s, strlen(s), &v, err, sizeof(err)), HV_STATUS_INVALID_PARAMETER);
    if (strcmp(err, message) != 0)
        print_error("number '%s': \"%s\", wanted \"%s\"\n", s, err, message);
    assert_string_equal(err, message);
    assert_true(v == 0);
}

/* ---- the seeds -------------------------------------------------------- */

static void wrmsr_seeds(void **state)
{
    (void)state;
    parse_ok("wrmsr c0000082 fffff807`73553180");
    assert_int_equal(g_cmd.kind, HV_CMD_WRMSR);
    assert_int_equal(g_cmd.msr, 0xc0000082u);
    assert_true(g_cmd.value == 0xfffff80773553180ull);
    assert_int_equal(g_cmd.core, HV_ALL_CORES);

    parse_ok("wrmsr c0000082 fffff807`73553180 core 2");
    assert_int_equal(g_cmd.kind, HV_CMD_WRMSR);
    assert_int_equal(g_cmd.msr, 0xc0000082u);
    assert_true(g_cmd.value == 0xfffff80773553180ull);
    assert_int_equal(g_cmd.core, 2);

    parse_ok("  WRMSR 0xC0000082 0n42 Core 0n10  \n");
    assert_int_equal(g_cmd.msr, 0xc0000082u);
    assert_true(g_cmd.value == 42);
    assert_int_equal(g_cmd.core, 10);

    parse_ok("wrmsr 0 0 core 0");
    assert_int_equal(g_cmd.msr, 0);
    assert_true(g_cmd.value == 0);
    assert_int_equal(g_cmd.core, 0);

    parse_ok("wrmsr ffffffff ffffffffffffffff core fffffffe");
    assert_int_equal(g_cmd.msr, 0xffffffffu);
    assert_true(g_cmd.value == UINT64_MAX);
    assert_int_equal(g_cmd.core, 0xfffffffeu);
}

static void rdmsr_seeds(void **state)
{
    (void)state;
    parse_ok("rdmsr c0000082");
    assert_int_equal(g_cmd.kind, HV_CMD_RDMSR);
    assert_int_equal(g_cmd.msr, 0xc0000082u);
    assert_int_equal(g_cmd.core, HV_ALL_CORES);

    parse_ok("rdmsr c0000082 core 2");
    assert_int_equal(g_cmd.kind, HV_CMD_RDMSR);
    assert_int_equal(g_cmd.msr, 0xc0000082u);
    assert_int_equal(g_cmd.core, 2);

    parse_ok("\tRdMsR\t0x1b\tCORE\t0x3");
    assert_int_equal(g_cmd.msr, 0x1b);
    assert_int_equal(g_cmd.core, 3);
}

static void msr_errors(void **state)
{
    (void)state;
    parse_bad("rdmsr", "rdmsr: usage: rdmsr <msr> [core <n>] (the MSR index is missing)");
    parse_bad("wrmsr", "wrmsr: usage: wrmsr <msr> <value> [core <n>] (the MSR index is missing)");
    parse_bad("wrmsr c0000082", "wrmsr: usage: wrmsr <msr> <value> [core <n>] (the value after the MSR index is missing)");
    /* A refused line of a known command ends with its usage, once. */
    parse_bad("rdmsr xyz", "MSR index: 'xyz' is not a hex number: invalid digit 'x'; usage: rdmsr <msr> [core <n>]");
    parse_bad("expect fail wrmsr 10 zz", "; usage: wrmsr <msr> <value> [core <n>]");
    parse_bad("events e", "; usage: events | events e|d|c <id|all>");
    assert_string_equal(hv_cmd_usage("RDMSR"), "rdmsr <msr> [core <n>]");
    assert_null(hv_cmd_usage("rdmsrx"));
    assert_null(hv_cmd_usage(NULL));
    parse_bad("rdmsr 100000000", "MSR index '100000000' does not fit in 32 bits");
    parse_bad("wrmsr 1`00000000 5", "MSR index '1`00000000' does not fit in 32 bits");
    parse_bad("rdmsr c0000082 core", "'core' needs a value");
    parse_bad("rdmsr c0000082 Core", "'Core' needs a value");
    parse_bad("rdmsr c0000082 core 2 core 3", "duplicate option 'core' for rdmsr");
    parse_bad("rdmsr c0000082 cpu 2", "unknown option 'cpu' for rdmsr");
    parse_bad("wrmsr c0000082 1 2", "unknown option '2' for wrmsr");
    parse_bad("rdmsr c0000082 core ffffffff", "core 'ffffffff' (ffffffff) is reserved");
    parse_bad("rdmsr c0000082 core 100000000", "core '100000000' does not fit in 32 bits");
    parse_bad("rdmsr c0000082 core x", "core: 'x' is not a hex number: invalid digit 'x'");
    parse_bad("rdmsr xyz", "MSR index: 'xyz' is not a hex number: invalid digit 'x'");
    parse_bad("wrmsr c0000082 fffff807`73553180`1",
              "number 'fffff807`73553180`1' does not fit in 64 bits");
    parse_bad("wrmsr c0000082 0x", "'0x' is not a number: no digits");
}

static void dr_seeds(void **state)
{
    (void)state;
    parse_ok("!dr");
    assert_dr_defaults_except(0);

    parse_ok("dr");
    assert_dr_defaults_except(0);

    parse_ok("!dr pid 490 core 3");
    assert_dr_defaults_except(1 | 2);
    assert_true(g_cmd.pid == 0x490);
    assert_int_equal(g_cmd.dr_core, 3);

    parse_ok("!dr script { $pid $core } imm no");
    assert_dr_defaults_except(4 | 16);
    assert_true(g_cmd.has_script);
    assert_string_equal(g_cmd.script, "$pid $core");
    assert_false(g_cmd.imm);

    parse_ok("!dr pid 490 code {90 90 90}");
    assert_dr_defaults_except(1 | 64);
    assert_true(g_cmd.pid == 0x490);
    assert_int_equal(g_cmd.code_len, 3);
    assert_memory_equal(g_cmd.code, "\x90\x90\x90", 3);

    parse_ok("!dr pid 490 code {90 90 90} condition {90 90 90}");
    assert_dr_defaults_except(1 | 32 | 64);
    assert_true(g_cmd.pid == 0x490);
    assert_int_equal(g_cmd.code_len, 3);
    assert_memory_equal(g_cmd.code, "\x90\x90\x90", 3);
    assert_int_equal(g_cmd.condition_len, 3);
    assert_memory_equal(g_cmd.condition, "\x90\x90\x90", 3);

    parse_ok("!dr buffer 200 code {48 89 11 c3}");
    assert_dr_defaults_except(8 | 64);
    assert_int_equal(g_cmd.buffer_size, 0x200);
    assert_int_equal(g_cmd.code_len, 4);
    assert_memory_equal(g_cmd.code, "\x48\x89\x11\xc3", 4);
}

static void dr_pid_all(void **state)
{
    (void)state;
    /* Given HyperDbg's `pid all`, then the event is for every process,
     * as without pid, and the command remembers it was said. */
    parse_ok("!dr pid all");
    assert_dr_defaults_except(1);
    assert_true(g_cmd.pid == HV_EVENT_ANY_PID);
    assert_true(g_cmd.pid_all);
    parse_ok("!dr core 2 PID All imm no");
    assert_true(g_cmd.pid == HV_EVENT_ANY_PID);
    assert_true(g_cmd.pid_all);
    assert_int_equal(g_cmd.dr_core, 2);
    parse_ok("!dr pid all code {90 90 90}");
    assert_true(g_cmd.pid_all);
    assert_int_equal(g_cmd.code_len, 3);
    /* Omitted or a number: not `all`. */
    parse_ok("!dr");
    assert_false(g_cmd.pid_all);
    parse_ok("!dr pid 490");
    assert_false(g_cmd.pid_all);
    /* Still once, and the reserved number points at the word. */
    parse_bad("!dr pid all pid 490", "duplicate option 'pid' for !dr");
    parse_bad("!dr pid 490 pid all", "duplicate option 'pid' for !dr");
    parse_bad("!dr pid ffffffffffffffff", "say 'pid all'");
    parse_bad("!dr pid alll", "pid: 'alll' is not a hex number");
    /* simulate's pid is the process that runs, not a filter. */
    parse_bad("simulate dr pid all", "simulate dr: 'pid all' is not a process");
}

static void dr_every_option(void **state)
{
    (void)state;
    parse_ok("!dr imm yes");
    assert_dr_defaults_except(4);
    assert_true(g_cmd.imm);
    parse_ok("!dr imm No");
    assert_false(g_cmd.imm);
    parse_ok("!dr IMM YES");
    assert_true(g_cmd.imm);

    parse_ok("!dr buffer 0");
    assert_int_equal(g_cmd.buffer_size, 0);
    parse_ok("!dr buffer 100000");
    assert_int_equal(g_cmd.buffer_size, HV_EVENT_MAX_BUFFER);
    parse_ok("!dr buffer 0n1048576");
    assert_int_equal(g_cmd.buffer_size, HV_EVENT_MAX_BUFFER);

    parse_ok("!dr condition {31 c0 ff c0 c3}");
    assert_dr_defaults_except(32);
    assert_int_equal(g_cmd.condition_len, 5);
    assert_memory_equal(g_cmd.condition, "\x31\xc0\xff\xc0\xc3", 5);

    /* Every option at once, in a shuffled order, odd spacing. */
    parse_ok("DR code{9090C3}core 0n7 condition {  1 02 c3 }buffer 0x10 script {rip=$rip} pid 0n1234 imm no");
    assert_dr_defaults_except(127);
    assert_true(g_cmd.pid == 1234);
    assert_int_equal(g_cmd.dr_core, 7);
    assert_false(g_cmd.imm);
    assert_int_equal(g_cmd.buffer_size, 0x10);
    assert_true(g_cmd.has_script);
    assert_string_equal(g_cmd.script, "rip=$rip");
    assert_int_equal(g_cmd.code_len, 3);
    assert_memory_equal(g_cmd.code, "\x90\x90\xc3", 3);
    assert_int_equal(g_cmd.condition_len, 3);
    assert_memory_equal(g_cmd.condition, "\x01\x02\xc3", 3);

    /* Contiguous and separate bytes mix; one digit is one byte. */
    parse_ok("!dr code {9090 c 0f 48c7c001000000 c3}");
    assert_int_equal(g_cmd.code_len, 12);
    assert_memory_equal(g_cmd.code, "\x90\x90\x0c\x0f\x48\xc7\xc0\x01\x00\x00\x00\xc3", 12);

    /* Script text is verbatim inside the trim: braces, #, case. */
    parse_ok("!dr script {  # Core=$core { x }");
    assert_string_equal(g_cmd.script, "# Core=$core { x");
    parse_ok("!dr script {a}");
    assert_string_equal(g_cmd.script, "a");

    /* The largest pid and core that are not the "any" value. */
    parse_ok("!dr pid fffffffffffffffe core fffffffe");
    assert_true(g_cmd.pid == 0xfffffffffffffffeull);
    assert_int_equal(g_cmd.dr_core, 0xfffffffeu);
}

static void dr_errors(void **state)
{
    (void)state;
    parse_bad("!dr cpu 3", "unknown option 'cpu' for !dr");
    parse_bad("!dr pid 1 pid 2", "duplicate option 'pid' for !dr");
    parse_bad("!dr core 1 CORE 2", "duplicate option 'CORE' for !dr");
    parse_bad("!dr imm yes imm no", "duplicate option 'imm' for !dr");
    parse_bad("!dr buffer 1 buffer 2", "duplicate option 'buffer' for !dr");
    parse_bad("!dr script {a} script {b}", "duplicate option 'script' for !dr");
    parse_bad("!dr code {c3} code {c3}", "duplicate option 'code' for !dr");
    parse_bad("!dr condition {c3} condition {c3}", "duplicate option 'condition' for !dr");
    parse_bad("!dr core", "'core' needs a value");
    parse_bad("!dr pid", "'pid' needs a value");
    parse_bad("!dr imm", "'imm' needs a value");
    parse_bad("!dr buffer", "'buffer' needs a value");
    parse_bad("!dr script", "'script' needs a value");
    parse_bad("!dr code   ", "'code' needs a value");
    parse_bad("!dr condition", "'condition' needs a value");
    parse_bad("!dr imm maybe", "'imm' must be yes or no, not 'maybe'");
    parse_bad("!dr pid 490 core", "'core' needs a value");
    parse_bad("!dr pid core 3", "pid: 'core' is not a hex number: invalid digit 'o'");
    parse_bad("!dr pid ffffffffffffffff", "pid 'ffffffffffffffff' (ffffffffffffffff) is reserved");
    parse_bad("!dr pid 1`0000`0000`0000`0000", "number '1`0000`0000`0000`0000' does not fit in 64 bits");
    parse_bad("!dr core ffffffff", "core 'ffffffff' (ffffffff) is reserved");
    parse_bad("!dr core 1`00000000", "core '1`00000000' does not fit in 32 bits");
    parse_bad("!dr buffer 100001", "buffer '100001' is larger than the limit");
    parse_bad("!dr buffer 0n1048577", "buffer '0n1048577' is larger than the limit");
    parse_bad("!dr buffer ffffffffff", "buffer 'ffffffffff' is larger than the limit");
    parse_bad("!dr code 90 90", "'code' needs {hex bytes}, not '90'");
    parse_bad("!dr script $pid", "'script' needs {script}, not '$pid'");
    parse_bad("!dr code {90 90", "missing '}' after code {");
    parse_bad("!dr condition {90", "missing '}' after condition {");
    parse_bad("!dr script { $pid", "missing '}' after script {");
    parse_bad("!dr code {}", "code {} is empty");
    parse_bad("!dr code {   }", "code {} is empty");
    parse_bad("!dr condition {}", "condition {} is empty");
    parse_bad("!dr script {}", "script {} is empty");
    parse_bad("!dr script {  \t }", "script {} is empty");
    /* A bad hex token: the token, its code byte and its column. */
    parse_bad("!dr code {90 zz c3}", "code {}: 'zz' at code byte 1 (column 14) is not a hex byte");
    parse_bad("!dr code {909 c3}", "'909' at code byte 0 (column 11)");
    parse_bad("!dr condition {90 90 0x90}", "condition {}: '0x90' at code byte 2 (column 22)");
    parse_bad("!dr code {90,90}", "'90,90' at code byte 0");
    parse_bad("!dr code {9090 123}", "'123' at code byte 2 (column 16)");
    parse_bad("!dr code {c3} }", "unknown option '}' for !dr");
    parse_bad("!dr {c3}", "unknown option '{' for !dr");
    parse_bad("! dr", "unknown command '!'");
}

/* ---- numbers ---------------------------------------------------------- */

static void number_forms(void **state)
{
    uint64_t v;
    char err[64];

    (void)state;
    assert_true(num_ok("10") == 0x10);
    assert_true(num_ok("0x10") == 0x10);
    assert_true(num_ok("0X10") == 0x10);
    assert_true(num_ok("0n10") == 10);
    assert_true(num_ok("0N10") == 10);
    assert_true(num_ok("0") == 0);
    assert_true(num_ok("0x0") == 0);
    assert_true(num_ok("0n0") == 0);
    assert_true(num_ok("AbCdEf") == 0xabcdef);
    assert_true(num_ok("0b1") == 0xb1);              /* hex, not binary */
    assert_true(num_ok("fffff807`73553180") == 0xfffff80773553180ull);
    assert_true(num_ok("0xfffff807`73553180") == 0xfffff80773553180ull);
    assert_true(num_ok("0n1`000`000") == 1000000);
    assert_true(num_ok("f`f`f") == 0xfff);
    assert_true(num_ok("ffffffffffffffff") == UINT64_MAX);
    assert_true(num_ok("0xffffffff`ffffffff") == UINT64_MAX);
    assert_true(num_ok("0n18446744073709551615") == UINT64_MAX);
    assert_true(num_ok("000000000000000000000000000001") == 1);
    assert_true(num_ok("0n00000000000000000000000000018446744073709551615") == UINT64_MAX);

    /* The length bounds the token; the text after it is not looked at. */
    assert_int_equal(hv_parse_number("12zz", 2, &v, err, sizeof(err)), HV_STATUS_SUCCESS);
    assert_true(v == 0x12);
    /* No message buffer is fine. */
    assert_int_equal(hv_parse_number("ff", 2, &v, NULL, 0), HV_STATUS_SUCCESS);
    assert_true(v == 0xff);
    assert_int_equal(hv_parse_number("zz", 2, &v, NULL, 0), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_parse_number("ff", 2, NULL, err, sizeof(err)), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_parse_number(NULL, 3, &v, err, sizeof(err)), HV_STATUS_INVALID_PARAMETER);
}

static void number_errors(void **state)
{
    uint64_t v;
    char err[128];

    (void)state;
    num_bad("0x", "'0x' is not a number: no digits");
    num_bad("0n", "'0n' is not a number: no digits");
    num_bad("", "'' is not a number: no digits");
    num_bad("`ff", "'`ff' is not a number: leading backtick");
    num_bad("0x`ff", "'0x`ff' is not a number: leading backtick");
    num_bad("ff`", "'ff`' is not a number: trailing backtick");
    num_bad("0n1`", "'0n1`' is not a number: trailing backtick");
    num_bad("`", "'`' is not a number: leading backtick");
    num_bad("f``f", "'f``f' is not a number: empty digit group (two backticks)");
    num_bad("12g", "'12g' is not a hex number: invalid digit 'g'");
    num_bad("0n12a", "'0n12a' is not a decimal number: invalid digit 'a'");
    num_bad("-1", "'-1' is not a hex number: invalid digit '-'");
    num_bad("+1", "'+1' is not a hex number: invalid digit '+'");
    num_bad("0x0x1", "'0x0x1' is not a hex number: invalid digit 'x'");
    num_bad("1 2", "'1 2' is not a hex number: invalid digit ' '");
    num_bad("fffff807`73553180`1", "number 'fffff807`73553180`1' does not fit in 64 bits");
    num_bad("10000000000000000", "number '10000000000000000' does not fit in 64 bits");
    num_bad("0n18446744073709551616", "number '0n18446744073709551616' does not fit in 64 bits");
    num_bad("0n99999999999999999999", "number '0n99999999999999999999' does not fit in 64 bits");
    /* A syntax error wins over an overflow that comes before it. */
    num_bad("fffffffffffffffffffz", "'fffffffffffffffffffz' is not a hex number: invalid digit 'z'");
    /* A NUL or a control byte inside the length is a bad byte, printed safely. */
    assert_int_equal(hv_parse_number("1\0002", 3, &v, err, sizeof(err)), HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(err, "'1?2' is not a hex number: invalid byte 0x00");
    /* A very long token is shortened in the message, which stays whole. */
    {
        char big[300];

        memset(big, 'f', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(hv_parse_number(big, strlen(big), &v, err, sizeof(err)), HV_STATUS_INVALID_PARAMETER);
        assert_non_null(strstr(err, "...' does not fit in 64 bits"));
        assert_true(strlen(err) < 100);
    }
    /* A tiny message buffer is truncated, never overrun. */
    {
        char tiny[8];

        memset(tiny, 'X', sizeof(tiny));
        assert_int_equal(hv_parse_number("zz", 2, &v, tiny, 5), HV_STATUS_INVALID_PARAMETER);
        assert_int_equal(strlen(tiny), 4);
        assert_int_equal(tiny[5], 'X');
    }
}

/* ---- limits ----------------------------------------------------------- */

static void code_limits(void **state)
{
    size_t i, o;

    (void)state;
    /* Given 4095 separate bytes (the body: a ret is appended to it), then
     * they parse. */
    o = (size_t)sprintf(g_line, "!dr code {");
    for (i = 0; i < HV_CMD_MAX_CODE_BODY; i++)
        o += (size_t)sprintf(g_line + o, "%02x ", (unsigned)(i & 0xff));
    strcpy(g_line + o, "}");
    parse_ok(g_line);
    assert_int_equal(g_cmd.code_len, HV_CMD_MAX_CODE_BODY);
    for (i = 0; i < HV_CMD_MAX_CODE_BODY; i++)
        assert_int_equal(g_cmd.code[i], i & 0xff);

    /* 4096: the ret would not fit: refused, saying why. */
    strcpy(g_line + o, "c3}");
    parse_bad(g_line, "code {} has more than 4095 bytes: a ret (c3) is appended to them and the whole must fit in 4096");

    /* Contiguous: 4095 ok, 4096 refused, also when the last token crosses. */
    o = (size_t)sprintf(g_line, "!dr condition {");
    for (i = 0; i < HV_CMD_MAX_CODE_BODY; i++)
        o += (size_t)sprintf(g_line + o, "c3");
    strcpy(g_line + o, "}");
    parse_ok(g_line);
    assert_int_equal(g_cmd.condition_len, HV_CMD_MAX_CODE_BODY);
    assert_int_equal(g_cmd.condition[HV_CMD_MAX_CODE_BODY - 1], 0xc3);
    strcpy(g_line + o, "c3}");
    parse_bad(g_line, "condition {} has more than 4095 bytes");
    strcpy(g_line + o - 2, " c3c3}");
    parse_bad(g_line, "condition {} has more than 4095 bytes");

    /* Both at the limit at once. */
    o = (size_t)sprintf(g_line, "!dr code {");
    for (i = 0; i < HV_CMD_MAX_CODE_BODY; i++)
        o += (size_t)sprintf(g_line + o, "90");
    o += (size_t)sprintf(g_line + o, "} condition {");
    for (i = 0; i < HV_CMD_MAX_CODE_BODY; i++)
        o += (size_t)sprintf(g_line + o, "c3");
    strcpy(g_line + o, "}");
    parse_ok(g_line);
    assert_int_equal(g_cmd.code_len, HV_CMD_MAX_CODE_BODY);
    assert_int_equal(g_cmd.condition_len, HV_CMD_MAX_CODE_BODY);
}

static void script_limits(void **state)
{
    char text[HV_CMD_MAX_SCRIPT + 8];

    (void)state;
    memset(text, 'a', sizeof(text));
    text[HV_CMD_MAX_SCRIPT - 1] = '\0';                 /* 4095 characters */
    snprintf(g_line, sizeof(g_line), "!dr script {  %s  }", text);
    parse_ok(g_line);
    assert_int_equal(strlen(g_cmd.script), HV_CMD_MAX_SCRIPT - 1);
    assert_string_equal(g_cmd.script, text);

    text[HV_CMD_MAX_SCRIPT - 1] = 'a';
    text[HV_CMD_MAX_SCRIPT] = '\0';                     /* 4096 characters */
    snprintf(g_line, sizeof(g_line), "!dr script {%s}", text);
    parse_bad(g_line, "script has 4096 characters; the limit is 4095");
}

static char *write_temp(const char *content, size_t len)
{
    static char path[64];
    int fd;

    strcpy(path, "/tmp/hvcore_cmd_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void script_files(void **state)
{
    char text[HV_CMD_MAX_SCRIPT + 8];
    char *path;

    (void)state;
    path = write_temp("core=$core pid=$pid\n", 20);
    snprintf(g_line, sizeof(g_line), "!dr script {file:%s} imm no", path);
    parse_ok(g_line);
    assert_dr_defaults_except(4 | 16);
    assert_true(g_cmd.has_script);
    assert_string_equal(g_cmd.script, "core=$core pid=$pid");
    /* Blanks around the path and FILE: in capitals. */
    snprintf(g_line, sizeof(g_line), "!dr script { FILE:  %s }", path);
    parse_ok(g_line);
    assert_string_equal(g_cmd.script, "core=$core pid=$pid");
    unlink(path);

    /* Gone: the path is in the message. */
    snprintf(g_line, sizeof(g_line), "!dr script {file:%s}", path);
    parse_bad(g_line, "cannot read script file");
    assert_non_null(strstr(g_err, path));
    parse_bad("!dr script {file:/nonexistent/dir/x.txt}", "cannot read script file '/nonexistent/dir/x.txt'");
    parse_bad("!dr script {file:/tmp}", "cannot read script file '/tmp'");
    parse_bad("!dr script {file:}", "script {file:} needs a path");
    parse_bad("!dr script {file:   }", "script {file:} needs a path");

    /* 4095 characters plus a newline: fine; 4096: larger than the limit. */
    memset(text, 'x', sizeof(text));
    text[HV_CMD_MAX_SCRIPT - 1] = '\n';
    path = write_temp(text, HV_CMD_MAX_SCRIPT);
    snprintf(g_line, sizeof(g_line), "!dr script {file:%s}", path);
    parse_ok(g_line);
    assert_int_equal(strlen(g_cmd.script), HV_CMD_MAX_SCRIPT - 1);
    unlink(path);

    memset(text, 'x', sizeof(text));
    path = write_temp(text, HV_CMD_MAX_SCRIPT);
    snprintf(g_line, sizeof(g_line), "!dr script {file:%s}", path);
    parse_bad(g_line, "is larger than the script limit");
    assert_non_null(strstr(g_err, path));
    unlink(path);

    /* Much larger than anything that could trim down to the limit. */
    path = write_temp(text, sizeof(text));
    snprintf(g_line, sizeof(g_line), "!dr script {file:%s}", path);
    parse_bad(g_line, "is larger than the script limit");
    assert_non_null(strstr(g_err, path));
    unlink(path);

    /* Empty, blank and NUL-carrying files. */
    path = write_temp("", 0);
    snprintf(g_line, sizeof(g_line), "!dr script {file:%s}", path);
    parse_bad(g_line, "is empty");
    assert_non_null(strstr(g_err, path));
    unlink(path);
    path = write_temp(" \n\t\n", 4);
    snprintf(g_line, sizeof(g_line), "!dr script {file:%s}", path);
    parse_bad(g_line, "is empty");
    unlink(path);
    path = write_temp("a\0b", 3);
    snprintf(g_line, sizeof(g_line), "!dr script {file:%s}", path);
    parse_bad(g_line, "contains a NUL byte");
    unlink(path);

    /* A multi-line file is kept as it is, inner newlines included. */
    path = write_temp("\n rax=$rax\nrcx=$rcx \n\n", 22);
    snprintf(g_line, sizeof(g_line), "!dr script {file:%s}", path);
    parse_ok(g_line);
    assert_string_equal(g_cmd.script, "rax=$rax\nrcx=$rcx");
    unlink(path);
}

/* ---- the other commands ------------------------------------------------ */

static void events_forms(void **state)
{
    (void)state;
    parse_ok("events");
    assert_int_equal(g_cmd.kind, HV_CMD_EVENTS_LIST);
    parse_ok("EVENTS  ");
    assert_int_equal(g_cmd.kind, HV_CMD_EVENTS_LIST);

    parse_ok("events e 1");
    assert_int_equal(g_cmd.kind, HV_CMD_EVENTS_CTL);
    assert_int_equal(g_cmd.op, 'e');
    assert_int_equal(g_cmd.id, 1);
    parse_ok("events d 0n12");
    assert_int_equal(g_cmd.op, 'd');
    assert_int_equal(g_cmd.id, 12);
    parse_ok("events c 1f");
    assert_int_equal(g_cmd.op, 'c');
    assert_int_equal(g_cmd.id, 0x1f);
    parse_ok("events e all");
    assert_int_equal(g_cmd.op, 'e');
    assert_int_equal(g_cmd.id, 0xFFFFFFFFu);
    parse_ok("Events D ALL");
    assert_int_equal(g_cmd.op, 'd');
    assert_int_equal(g_cmd.id, HV_CMD_ALL_EVENTS);
    parse_ok("events C All");
    assert_int_equal(g_cmd.op, 'c');
    assert_int_equal(g_cmd.id, 0xFFFFFFFFu);
    parse_ok("events e fffffffe");
    assert_int_equal(g_cmd.id, 0xfffffffeu);

    parse_bad("events x 1", "unknown events operation 'x'");
    parse_bad("events enable 1", "unknown events operation 'enable'");
    parse_bad("events e", "'e' needs an event id or 'all'");
    parse_bad("events D", "'D' needs an event id or 'all'");
    parse_bad("events e 1 2", "unexpected '2' after '1'");
    parse_bad("events c all now", "unexpected 'now' after 'all'");
    parse_bad("events e ffffffff", "event id 'ffffffff' (ffffffff) is reserved");
    parse_bad("events e 100000000", "event id '100000000' does not fit in 32 bits");
    parse_bad("events e alll", "event id: 'alll' is not a hex number: invalid digit 'l'");
}

static void listen_simulate_status(void **state)
{
    (void)state;
    parse_ok("listen");
    assert_int_equal(g_cmd.kind, HV_CMD_LISTEN);
    assert_int_equal(g_cmd.seconds, 0);
    parse_ok("listen 10");
    assert_int_equal(g_cmd.seconds, 0x10);
    parse_ok("LISTEN 0n30");
    assert_int_equal(g_cmd.seconds, 30);
    parse_ok("listen ffffffff");
    assert_int_equal(g_cmd.seconds, 0xffffffffu);
    parse_bad("listen 100000000", "listen seconds '100000000' does not fit in 32 bits");
    parse_bad("listen 5 6", "unexpected '6' after '5'");
    parse_bad("listen forever", "listen seconds: 'forever' is not a hex number");

    parse_ok("simulate dr");
    assert_int_equal(g_cmd.kind, HV_CMD_SIMULATE_DR);
    assert_int_equal(g_cmd.core, HV_ALL_CORES);
    assert_true(g_cmd.pid == HV_EVENT_ANY_PID);
    assert_true(g_cmd.value == HV_CMD_SIMULATE_DR7_DEFAULT);
    parse_ok("simulate dr core 1 pid 490 value 401");
    assert_int_equal(g_cmd.kind, HV_CMD_SIMULATE_DR);
    assert_int_equal(g_cmd.core, 1);
    assert_true(g_cmd.pid == 0x490);
    assert_true(g_cmd.value == 0x401);
    parse_ok("Simulate DR Value 0 PID 0n7 CORE 0");
    assert_int_equal(g_cmd.core, 0);
    assert_true(g_cmd.pid == 7);
    assert_true(g_cmd.value == 0);
    parse_ok("simulate !dr value ffffffffffffffff");
    assert_true(g_cmd.value == UINT64_MAX);
    parse_bad("simulate", "'simulate' needs what to simulate: dr");
    parse_bad("simulate msr", "unknown simulation 'msr'");
    parse_bad("simulate dr cpu 1", "unknown option 'cpu' for simulate dr");
    parse_bad("simulate dr core 1 core 2", "duplicate option 'core' for simulate dr");
    parse_bad("simulate dr value", "'value' needs a value");
    parse_bad("simulate dr core ffffffff", "core 'ffffffff' (ffffffff) is reserved");
    parse_bad("simulate dr pid ffffffffffffffff", "pid 'ffffffffffffffff' (ffffffffffffffff) is reserved");
    parse_bad("simulate dr value 1`0000`0000`0000`0000", "does not fit in 64 bits");

    parse_ok("status");
    assert_int_equal(g_cmd.kind, HV_CMD_STATUS);
    parse_ok(" Status\r\n");
    assert_int_equal(g_cmd.kind, HV_CMD_STATUS);
    parse_bad("status now", "unexpected 'now' after 'status'");
}

static void help_quit_none(void **state)
{
    char topic[64];

    (void)state;
    parse_ok("help");
    assert_int_equal(g_cmd.kind, HV_CMD_HELP);
    assert_string_equal(g_cmd.topic, "");
    parse_ok("help wrmsr");
    assert_string_equal(g_cmd.topic, "wrmsr");
    parse_ok("HELP !dr");
    assert_int_equal(g_cmd.kind, HV_CMD_HELP);
    assert_string_equal(g_cmd.topic, "!dr");
    parse_ok("help nosuchthing");
    assert_string_equal(g_cmd.topic, "nosuchthing");
    memset(topic, 't', 31);
    topic[31] = '\0';
    snprintf(g_line, sizeof(g_line), "help %s", topic);
    parse_ok(g_line);
    assert_string_equal(g_cmd.topic, topic);
    topic[31] = 't';
    topic[32] = '\0';
    snprintf(g_line, sizeof(g_line), "help %s", topic);
    parse_bad(g_line, "help topic '");
    parse_bad("help simulate dr", "unexpected 'dr' after 'simulate'");

    parse_ok("quit");
    assert_int_equal(g_cmd.kind, HV_CMD_QUIT);
    parse_ok("EXIT");
    assert_int_equal(g_cmd.kind, HV_CMD_QUIT);
    parse_ok("Quit\n");
    assert_int_equal(g_cmd.kind, HV_CMD_QUIT);
    parse_bad("quit now", "unexpected 'now' after 'quit'");

    parse_ok("");
    assert_int_equal(g_cmd.kind, HV_CMD_NONE);
    parse_ok("   \t \r\n");
    assert_int_equal(g_cmd.kind, HV_CMD_NONE);
    parse_ok("# wrmsr c0000082 0");
    assert_int_equal(g_cmd.kind, HV_CMD_NONE);
    parse_ok("   #!dr code {");
    assert_int_equal(g_cmd.kind, HV_CMD_NONE);
    /* The defaults are there for NONE too. */
    assert_int_equal(g_cmd.core, HV_ALL_CORES);
    assert_true(g_cmd.pid == HV_EVENT_ANY_PID);

    parse_bad("frobnicate", "unknown command 'frobnicate'");
    parse_bad("wrmsrx 1 2", "unknown command 'wrmsrx'");
    parse_bad("rdmsr 10 # no trailing comments", "unknown option '#' for rdmsr");
}

static void output_commands(void **state)
{
    (void)state;
    /* Given HyperDbg's output commands, then each parses to its fields. */
    parse_ok("output");
    assert_int_equal(g_cmd.kind, HV_CMD_OUTPUT_LIST);
    parse_ok("output create log file /tmp/dr.log");
    assert_int_equal(g_cmd.kind, HV_CMD_OUTPUT_CREATE);
    assert_string_equal(g_cmd.output_name, "log");
    assert_int_equal(g_cmd.output_type, HV_OUTPUT_FILE);
    assert_string_equal(g_cmd.output_target, "/tmp/dr.log");
    assert_int_equal(g_cmd.output_format, HV_OUTPUT_TEXT);
    parse_ok("OUTPUT Create feed TCP 127.0.0.1:9000 JSON");
    assert_string_equal(g_cmd.output_name, "feed");
    assert_int_equal(g_cmd.output_type, HV_OUTPUT_TCP);
    assert_string_equal(g_cmd.output_target, "127.0.0.1:9000");
    assert_int_equal(g_cmd.output_format, HV_OUTPUT_JSON);
    parse_ok("output create p namedpipe /tmp/hv.fifo text");
    assert_int_equal(g_cmd.output_type, HV_OUTPUT_NAMEDPIPE);
    parse_ok("output create p2 fifo {/tmp/with blanks/x.fifo} json");
    assert_int_equal(g_cmd.output_type, HV_OUTPUT_NAMEDPIPE);
    assert_string_equal(g_cmd.output_target, "/tmp/with blanks/x.fifo");
    assert_int_equal(g_cmd.output_format, HV_OUTPUT_JSON);
    parse_ok("output open log");
    assert_int_equal(g_cmd.kind, HV_CMD_OUTPUT_OPEN);
    assert_string_equal(g_cmd.output_name, "log");
    parse_ok("output close log");
    assert_int_equal(g_cmd.kind, HV_CMD_OUTPUT_CLOSE);
    /* Errors name what is wrong. */
    parse_bad("output delete log", "unknown output operation 'delete': use create, open or close");
    parse_bad("output open", "'output open' needs an output name");
    parse_bad("output open a b", "unexpected 'b' after 'open'");
    parse_bad("output open 9lives", "output open: output name '9lives' is not a name");
    parse_bad("output create console file /tmp/x", "'console' is reserved");
    parse_bad("output create log", "output create log needs a type: file, namedpipe or tcp");
    parse_bad("output create log socket /tmp/x", "unknown output type 'socket': use file, namedpipe or tcp");
    parse_bad("output create log file", "output create log file needs a path");
    parse_bad("output create log tcp", "needs a HOST:PORT (e.g. 127.0.0.1:9000)");
    parse_bad("output create log file {  }", "output create log file needs a path");
    parse_bad("output create log file /tmp/x yaml", "unknown format 'yaml': use text or json");
    parse_bad("output create log file /tmp/x json extra", "unexpected 'extra' after 'json'");
}

static void dr_output_names(void **state)
{
    (void)state;
    /* Given the liberal forms HyperDbg users write, then the same names. */
    parse_ok("!dr pid 490 output {a b}");
    assert_int_equal(g_cmd.output_count, 2);
    assert_string_equal(g_cmd.outputs[0], "a");
    assert_string_equal(g_cmd.outputs[1], "b");
    assert_false(g_cmd.output_console);
    parse_ok("!dr output {a, b}");
    assert_int_equal(g_cmd.output_count, 2);
    parse_ok("!dr output{a,b;c}");
    assert_int_equal(g_cmd.output_count, 3);
    assert_string_equal(g_cmd.outputs[2], "c");
    parse_ok("!dr output log imm no");
    assert_int_equal(g_cmd.output_count, 1);
    assert_string_equal(g_cmd.outputs[0], "log");
    assert_false(g_cmd.imm);
    parse_ok("!dr output {a a , a}");
    assert_int_equal(g_cmd.output_count, 1);
    parse_ok("!dr output {Console log}");
    assert_true(g_cmd.output_console);
    assert_int_equal(g_cmd.output_count, 1);
    parse_ok("!dr output {console}");
    assert_true(g_cmd.output_console);
    assert_int_equal(g_cmd.output_count, 0);
    /* Names are checked here; whether they exist is the session's business. */
    parse_bad("!dr output {}", "!dr output {} is empty: name at least one output (or console)");
    parse_bad("!dr output { , ; }", "!dr output {} is empty");
    parse_bad("!dr output {a/b}", "!dr output: output name 'a/b' is not a name");
    parse_bad("!dr output {a b c d e f g h i}", "!dr output: at most 8 outputs per event");
    parse_bad("!dr output {a} output {b}", "duplicate option 'output' for !dr");
    parse_bad("!dr output {a", "missing '}' after output {");
    parse_bad("!dr output", "'output' needs a value");
}

static void expect_fail_lines(void **state)
{
    (void)state;
    /* Given `expect fail <command>`, then the command itself is parsed and
     * marked as expected to fail. */
    parse_ok("expect fail rdmsr 12345678");
    assert_int_equal(g_cmd.kind, HV_CMD_RDMSR);
    assert_int_equal(g_cmd.msr, 0x12345678);
    assert_int_equal(g_cmd.core, HV_ALL_CORES);
    assert_true(g_cmd.expect_fail);
    parse_ok("  EXPECT   Fail !dr code {eb 10}");
    assert_int_equal(g_cmd.kind, HV_CMD_DR);
    assert_int_equal(g_cmd.code_len, 2);
    assert_true(g_cmd.expect_fail);
    parse_ok("expect fail wrmsr 175 00008000`00000000 core 1");
    assert_int_equal(g_cmd.kind, HV_CMD_WRMSR);
    assert_true(g_cmd.value == 0x0000800000000000ull);
    assert_int_equal(g_cmd.core, 1);
    assert_true(g_cmd.expect_fail);
    parse_ok("expect fail events c 5");
    assert_int_equal(g_cmd.kind, HV_CMD_EVENTS_CTL);
    assert_true(g_cmd.expect_fail);
    /* A plain line is not marked. */
    parse_ok("rdmsr 12345678");
    assert_false(g_cmd.expect_fail);
    /* The marker needs its word and a command; the command must parse. */
    parse_bad("expect", "'expect' needs 'fail' and a command: expect fail <command>");
    parse_bad("expect rdmsr 1", "'expect' must be followed by 'fail', not 'rdmsr'");
    parse_bad("expect failure rdmsr 1", "not 'failure'");
    parse_bad("expect fail", "'expect fail' needs a command to run");
    parse_bad("expect fail   # a comment", "'expect fail' needs a command to run");
    parse_bad("expect fail expect fail rdmsr 1", "'expect fail' cannot be nested");
    parse_bad("expect fail rdmsrr 1", "unknown command 'rdmsrr'");
    parse_bad("expect fail rdmsr zz", "MSR index: 'zz' is not a hex number");
}

static void help_texts(void **state)
{
    const char *overview = hv_cmd_help(NULL);
    const char *dr = hv_cmd_help("!dr");
    static const char *const topics[] = { "rdmsr", "wrmsr", "!dr", "events", "listen", "simulate",
                                          "status", "help", "quit", "numbers", "expect", "output", "?",
                                          "script" };
    size_t i;

    (void)state;
    assert_non_null(overview);
    for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        assert_non_null(strstr(overview, topics[i][0] == '!' ? "!dr" : topics[i]));
        assert_ptr_not_equal(hv_cmd_help(topics[i]), overview);
    }
    assert_ptr_equal(hv_cmd_help(""), overview);
    assert_ptr_equal(hv_cmd_help("nosuchthing"), overview);
    assert_ptr_equal(hv_cmd_help("dr"), dr);
    assert_ptr_equal(hv_cmd_help("DR"), dr);
    assert_ptr_equal(hv_cmd_help("!Dr"), dr);
    assert_ptr_equal(hv_cmd_help("exit"), hv_cmd_help("quit"));
    assert_ptr_equal(hv_cmd_help("WRMSR"), hv_cmd_help("wrmsr"));

    /* Scripts are described as the script language, not as format strings. */
    assert_non_null(strstr(hv_cmd_help("script"), "HyperDbg's script language"));
    assert_non_null(strstr(hv_cmd_help("script"), "100000 instructions per run"));
    assert_non_null(strstr(hv_cmd_help("!dr"), "help script"));
    assert_null(strstr(hv_cmd_help("!dr"), "$value"));
    assert_non_null(strstr(hv_cmd_help("?"), "? [core <n>] {script}"));
    assert_ptr_equal(hv_cmd_help("eval"), hv_cmd_help("?"));
    assert_non_null(strstr(hv_cmd_help("simulate"), "rbx 7000"));

    /* The seeds' syntax and what the options mean. */
    assert_non_null(strstr(hv_cmd_help("wrmsr"), "wrmsr c0000082 fffff807`73553180 core 2"));
    assert_non_null(strstr(hv_cmd_help("rdmsr"), "rdmsr c0000082 core 2"));
    assert_non_null(strstr(hv_cmd_help("events"), "events e <id|all>"));
    assert_non_null(strstr(hv_cmd_help("simulate"), "simulate dr [core <n>] [pid <n>] [value <n>]"));
    assert_non_null(strstr(hv_cmd_help("listen"), "listen [seconds]"));
    assert_non_null(strstr(hv_cmd_help("numbers"), "0n"));
    assert_non_null(strstr(dr, "imm yes|no"));
    assert_non_null(strstr(dr, "not real time"));
    assert_non_null(strstr(dr, "pid <n>|all"));
    assert_non_null(strstr(dr, "a ret (c3) is\n  appended"));
    assert_non_null(strstr(overview, "expect fail <command>"));
    assert_non_null(strstr(overview, "output create <name> file|namedpipe|tcp <target> [text|json]"));
    assert_non_null(strstr(hv_cmd_help("output"), "output create <name> tcp <host>:<port> [text|json]"));
    assert_non_null(strstr(hv_cmd_help("output"), "!dr pid 490 output {log, feed console}"));
    assert_non_null(strstr(dr, "output {names}"));
    assert_non_null(strstr(hv_cmd_help("expect"), "expect fail rdmsr 12345678"));
    assert_non_null(strstr(hv_cmd_help("expect"), "every target\n                  core failed"));
    assert_non_null(strstr(hv_cmd_help("expect"), "never counts as an\n  expected failure"));
    assert_non_null(strstr(dr, "pre-allocated buffer"));
    assert_non_null(strstr(dr, "NULL"));
    assert_non_null(strstr(dr, "$context"));
    assert_non_null(strstr(dr, "RCX = the pre-allocated buffer"));
    assert_non_null(strstr(dr, "R8 = context"));
    assert_non_null(strstr(dr, "RDX = context"));
    assert_non_null(strstr(dr, "non-zero"));
    assert_non_null(strstr(dr, "file:"));
    assert_non_null(strstr(dr, "neither script nor code the event breaks"));
    assert_non_null(strstr(hv_cmd_help("simulate"), "core 0, pid 0, value 400"));
    /* Every example in the !dr help parses. */
    {
        const char *p = strstr(dr, "Examples:");

        assert_non_null(p);
        while ((p = strstr(p, "\n    !dr")) != NULL) {
            char line[128];
            const char *end = strchr(p + 5, '\n');
            const char *two = strstr(p + 5, "  ");
            size_t n;

            if (two != NULL && two < end)
                end = two;                  /* drop the trailing comment */
            n = (size_t)(end - (p + 5));
            assert_true(n < sizeof(line));
            memcpy(line, p + 5, n);
            line[n] = '\0';
            if (strstr(line, "file:") == NULL) {
                parse_ok(line);
                assert_int_equal(g_cmd.kind, HV_CMD_DR);
            }
            p = end;
        }
    }
}

static void api_edges(void **state)
{
    struct hv_cmd c;
    char err[64];
    char tiny[6];

    (void)state;
    assert_int_equal(hv_cmd_parse(NULL, &c, err, sizeof(err)), HV_STATUS_INVALID_PARAMETER);
    assert_true(err[0] != '\0');
    assert_int_equal(c.kind, HV_CMD_NONE);
    assert_int_equal(hv_cmd_parse("status", NULL, err, sizeof(err)), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_cmd_parse("status", &c, NULL, 0), HV_STATUS_SUCCESS);
    assert_int_equal(c.kind, HV_CMD_STATUS);
    assert_int_equal(hv_cmd_parse("bogus", &c, NULL, 0), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_cmd_parse("bogus", &c, NULL, 100), HV_STATUS_INVALID_PARAMETER);
    memset(tiny, 'X', sizeof(tiny));
    assert_int_equal(hv_cmd_parse("bogus", &c, tiny, 4), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(strlen(tiny), 3);
    assert_int_equal(tiny[4], 'X');
    /* A long bad token is shortened in the message. */
    memset(g_line, 'q', 5000);
    g_line[5000] = '\0';
    parse_bad(g_line, "unknown command 'qqqq");
    assert_non_null(strstr(g_err, "...' (try 'help')"));
    /* Non-printable bytes are not echoed raw. */
    parse_bad("!dr \x01\x7f\xff", "unknown option '?\?\?' for !dr");
}

/* ? carries its script in the same fields as !dr's (found by fuzz_cmd_parse:
 * "?\r^" once left has_script false with a script set). */
static void eval_script(void **state)
{
    (void)state;
    /* given a ? line in each form, when parsed, then the script is set and flagged */
    parse_ok("?\r^");
    assert_int_equal(g_cmd.kind, HV_CMD_EVAL);
    assert_true(g_cmd.has_script);
    assert_string_equal(g_cmd.script, "^");
    parse_ok("? core 1 { printf(\"%llx\\n\", $core); }");
    assert_int_equal(g_cmd.kind, HV_CMD_EVAL);
    assert_int_equal(g_cmd.core, 1);
    assert_true(g_cmd.has_script);
    assert_non_null(strstr(g_cmd.script, "printf"));
    parse_ok("? 1 + 2");
    assert_true(g_cmd.has_script);
    assert_string_equal(g_cmd.script, "1 + 2");
    parse_bad("?", "'?' needs a script");
}

/* Debugger mode: pause, g, wait, r, ~, db/dd/dq. */
static void debugger_commands(void **state)
{
    (void)state;
    parse_ok("pause");
    assert_int_equal(g_cmd.kind, HV_CMD_PAUSE);
    parse_ok("G");
    assert_int_equal(g_cmd.kind, HV_CMD_GO);
    parse_ok("go");
    assert_int_equal(g_cmd.kind, HV_CMD_GO);
    parse_ok("wait");
    assert_int_equal(g_cmd.kind, HV_CMD_WAIT);
    assert_int_equal(g_cmd.seconds, 0);
    parse_ok("wait 0n30");
    assert_int_equal(g_cmd.seconds, 30);

    parse_ok("r");
    assert_int_equal(g_cmd.kind, HV_CMD_REGS);
    assert_string_equal(g_cmd.reg, "");
    assert_false(g_cmd.reg_write);
    parse_ok("r RIP");
    assert_string_equal(g_cmd.reg, "rip");
    assert_false(g_cmd.reg_write);
    parse_ok("r rax = 5");
    assert_string_equal(g_cmd.reg, "rax");
    assert_true(g_cmd.reg_write);
    assert_true(g_cmd.value == 5);
    parse_ok("r rax=0n10");
    assert_true(g_cmd.reg_write);
    assert_true(g_cmd.value == 10);
    parse_ok("r @r15 =fffff807`73553180");
    assert_string_equal(g_cmd.reg, "r15");
    assert_true(g_cmd.value == 0xfffff80773553180ull);
    parse_ok("r rbx= 7");
    assert_true(g_cmd.value == 7);

    parse_ok("~");
    assert_int_equal(g_cmd.kind, HV_CMD_CORE);
    assert_int_equal(g_cmd.core, HV_ALL_CORES);
    parse_ok("~ 2");
    assert_int_equal(g_cmd.core, 2);
    parse_ok("~3");
    assert_int_equal(g_cmd.core, 3);

    parse_ok("db 7ff6`12340000");
    assert_int_equal(g_cmd.kind, HV_CMD_MEM);
    assert_true(g_cmd.address == 0x7ff612340000ull);
    assert_int_equal(g_cmd.mem_width, 1);
    assert_int_equal(g_cmd.mem_count, 0x80);
    parse_ok("dq 1000 L 4");
    assert_int_equal(g_cmd.mem_width, 8);
    assert_int_equal(g_cmd.mem_count, 4);
    parse_ok("DD 1000 l20");
    assert_int_equal(g_cmd.mem_width, 4);
    assert_int_equal(g_cmd.mem_count, 0x20);
    parse_ok("dq 1000");
    assert_int_equal(g_cmd.mem_count, 0x10);
    parse_ok("db 0 L 10000");
    assert_int_equal(g_cmd.mem_count, 0x10000);
}

static void debugger_command_errors(void **state)
{
    (void)state;
    parse_bad("pause now", "pause");
    parse_bad("g 1000", "g");
    parse_bad("wait x", "wait seconds");
    parse_bad("r = 5", "register name must come before");
    parse_bad("r rax =", "needs a value");
    parse_bad("r rax = zz", "zz");
    parse_bad("r rax 5", "only '= <value>'");
    parse_bad("r ra-x", "not a register name");
    parse_bad("r thisnameiswaytoolong", "not a register name");
    parse_bad("r rax = 5 6", "6");
    parse_bad("~ x", "x");
    parse_bad("~ ffffffff", "ffffffff");
    parse_bad("~ 1 2", "2");
    parse_bad("db", "address is missing");
    parse_bad("dq 1000 L", "needs a count");
    parse_bad("dq 1000 L 0", "must be 1 .. 0x2000");
    parse_bad("dq 1000 L 2001", "must be 1 .. 0x2000");
    parse_bad("db 1000 L 10001", "must be 1 .. 0x10000");
    parse_bad("dq ffffffffffffffff L 2", "past the end");
    parse_bad("db 1000 count 4", "count");
    parse_bad("dq 1000 L 4 5", "5");
    /* The usage of the command follows a refusal. */
    parse_bad("db 1000 count 4", "usage: db <address> [L <count>]");
    assert_non_null(strstr(hv_cmd_help("debugger"), "EVERY core waits in VMX root"));
    assert_non_null(strstr(hv_cmd_help("r"), "r <reg> = <value>"));
    assert_non_null(strstr(hv_cmd_help("~"), "make core <n> current"));
    assert_non_null(strstr(hv_cmd_help(NULL), "pause"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(debugger_commands),
        cmocka_unit_test(debugger_command_errors),
        cmocka_unit_test(wrmsr_seeds),
        cmocka_unit_test(eval_script),
        cmocka_unit_test(rdmsr_seeds),
        cmocka_unit_test(msr_errors),
        cmocka_unit_test(dr_seeds),
        cmocka_unit_test(dr_pid_all),
        cmocka_unit_test(dr_every_option),
        cmocka_unit_test(dr_errors),
        cmocka_unit_test(number_forms),
        cmocka_unit_test(number_errors),
        cmocka_unit_test(code_limits),
        cmocka_unit_test(script_limits),
        cmocka_unit_test(script_files),
        cmocka_unit_test(events_forms),
        cmocka_unit_test(listen_simulate_status),
        cmocka_unit_test(help_quit_none),
        cmocka_unit_test(output_commands),
        cmocka_unit_test(dr_output_names),
        cmocka_unit_test(expect_fail_lines),
        cmocka_unit_test(help_texts),
        cmocka_unit_test(api_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
