/*
 * libFuzzer target: random bytes fed to hvctl's command parser
 * (hv_cmd_parse, as a NUL-terminated copy) and to hv_parse_number (with
 * the exact length, NULs included). Any crash or sanitizer report is a
 * finding, and so is a result that breaks the parser's promises:
 *   - the status is SUCCESS or INVALID_PARAMETER, and the message is
 *     NUL-terminated, empty on success and non-empty on failure, also in
 *     a tiny message buffer;
 *   - on success: code_len, condition_len <= HV_CMD_MAX_CODE_BODY (4095: a
 *     ret is appended to the body), the script
 *     and the help topic are NUL-terminated inside their arrays (and the
 *     script is non-empty exactly when has_script), buffer_size <= 1 MiB,
 *     kind is one of the enum, op is e/d/c for EVENTS_CTL, cores are not
 *     0xFFFFFFFF unless absent, `pid all` only on !dr and as the any-pid
 *     value, and parsing the same line again gives the
 *     same command;
 *   - output create/open/close and !dr output {...}: names obey
 *     hv_output_name_check, are distinct, at most HV_OUTPUT_MAX_PER_EVENT;
 *     targets are non-empty and terminated; the fields appear only on
 *     their commands;
 *   - on failure: *out is back to the defaults (kind NONE).
 *   - hv_parse_number: on success the value re-parses identically from its
 *     own hex rendering; on failure the value is 0.
 *
 * Run: fuzz_cmd_parse -max_len=9000 -runs=200000 (past two 4096-byte code
 * buffers). `script {file:...}` really opens files; the fuzzer will rarely
 * name one, and only reads them.
 */
#include <hvcore/client/cmd.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond, ...)                                                \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz_cmd_parse: %s: ", #cond);               \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            abort();                                                      \
        }                                                                 \
    } while (0)

static struct hv_cmd g_a, g_b;
static char g_line[1 << 16];

static void check_message(hv_status_t st, const char *err, size_t err_len)
{
    REQUIRE(memchr(err, '\0', err_len) != NULL, "message not terminated");
    if (st == HV_STATUS_SUCCESS)
        REQUIRE(err[0] == '\0', "message on success: %s", err);
    else
        REQUIRE(st == HV_STATUS_INVALID_PARAMETER && err[0] != '\0', "status %#x, message '%s'", st, err);
}

static void check_cmd(const struct hv_cmd *c)
{
    uint32_t i, j;

    REQUIRE(c->kind >= HV_CMD_NONE && c->kind <= HV_CMD_MEM, "kind %d", (int)c->kind);
    /* Debugger Mode commands: a terminated register name, a memory read of a
     * known width within the documented size that does not wrap. */
    if (c->kind == HV_CMD_REGS)
        REQUIRE(memchr(c->reg, '\0', sizeof(c->reg)) != NULL, "register name not terminated");
    if (c->kind == HV_CMD_MEM) {
        REQUIRE(c->mem_width == 1 || c->mem_width == 4 || c->mem_width == 8, "mem_width %" PRIu32, c->mem_width);
        REQUIRE(c->mem_count >= 1 && c->mem_count <= HV_CMD_MAX_MEM_BYTES / c->mem_width, "mem_count %" PRIu32,
                c->mem_count);
        REQUIRE(c->address + (uint64_t)c->mem_count * c->mem_width - 1 >= c->address, "address range wraps");
    }
    /* Forwarding: names valid, distinct and terminated; fields only where
     * their command is. */
    REQUIRE(c->output_count <= HV_OUTPUT_MAX_PER_EVENT, "output_count %" PRIu32, c->output_count);
    for (i = 0; i < c->output_count; i++) {
        REQUIRE(memchr(c->outputs[i], '\0', sizeof(c->outputs[i])) != NULL, "output name not terminated");
        REQUIRE(hv_output_name_check(c->outputs[i], strlen(c->outputs[i]), NULL, 0) == HV_STATUS_SUCCESS,
                "invalid output name '%s' accepted", c->outputs[i]);
        for (j = 0; j < i; j++)
            REQUIRE(strcmp(c->outputs[i], c->outputs[j]) != 0, "output '%s' twice", c->outputs[i]);
    }
    if (c->kind != HV_CMD_DR)
        REQUIRE(c->output_count == 0 && !c->output_console, "output list outside !dr");
    REQUIRE(memchr(c->output_name, '\0', sizeof(c->output_name)) != NULL, "output_name not terminated");
    REQUIRE(memchr(c->output_target, '\0', sizeof(c->output_target)) != NULL, "output_target not terminated");
    if (c->kind == HV_CMD_OUTPUT_CREATE || c->kind == HV_CMD_OUTPUT_OPEN || c->kind == HV_CMD_OUTPUT_CLOSE)
        REQUIRE(hv_output_name_check(c->output_name, strlen(c->output_name), NULL, 0) == HV_STATUS_SUCCESS,
                "invalid output name '%s' accepted", c->output_name);
    else
        REQUIRE(c->output_name[0] == '\0', "output name outside output commands");
    if (c->kind == HV_CMD_OUTPUT_CREATE) {
        REQUIRE(c->output_target[0] != '\0', "output create without a target");
        REQUIRE(c->output_type >= HV_OUTPUT_FILE && c->output_type <= HV_OUTPUT_TCP, "type %" PRIu32, c->output_type);
        REQUIRE(c->output_format == HV_OUTPUT_TEXT || c->output_format == HV_OUTPUT_JSON, "format");
    } else {
        REQUIRE(c->output_target[0] == '\0' && c->output_type == 0, "output target outside output create");
    }
    REQUIRE(c->code_len <= HV_CMD_MAX_CODE_BODY, "code_len %" PRIu32, c->code_len);
    REQUIRE(c->condition_len <= HV_CMD_MAX_CODE_BODY, "condition_len %" PRIu32, c->condition_len);
    REQUIRE(memchr(c->script, '\0', sizeof(c->script)) != NULL, "script not terminated");
    REQUIRE(c->has_script == (c->script[0] != '\0'), "has_script %d, script '%s'", c->has_script, c->script);
    REQUIRE(memchr(c->topic, '\0', sizeof(c->topic)) != NULL, "topic not terminated");
    REQUIRE(c->buffer_size <= HV_EVENT_MAX_BUFFER, "buffer %" PRIu32, c->buffer_size);
    /* The MSR field is 32 bits wide; the parser must have refused a wider
     * index rather than truncated it: re-checked by re-parsing below. */
    REQUIRE((uint64_t)c->msr <= UINT32_MAX, "msr");
    if (c->expect_fail)
        REQUIRE(c->kind != HV_CMD_NONE, "expect fail on an empty command");
    if (c->pid_all)
        REQUIRE(c->kind == HV_CMD_DR && c->pid == HV_EVENT_ANY_PID, "pid all with pid %#" PRIx64, c->pid);
    if (c->kind == HV_CMD_EVENTS_CTL)
        REQUIRE(c->op == 'e' || c->op == 'd' || c->op == 'c', "op %d", c->op);
    if (c->kind != HV_CMD_DR)
        REQUIRE(c->code_len == 0 && c->condition_len == 0, "!dr fields outside !dr");
    /* A script belongs to !dr (optional) or to ? (required). */
    if (c->kind == HV_CMD_EVAL)
        REQUIRE(c->has_script, "? without a script");
    else if (c->kind != HV_CMD_DR)
        REQUIRE(!c->has_script, "script outside !dr and ?");
    if (c->kind != HV_CMD_HELP)
        REQUIRE(c->topic[0] == '\0', "topic outside help");
}

/* Every number token of a successful rdmsr/wrmsr line names an MSR that
 * fits: re-parse the index token and compare. */
static void check_msr_token(const char *line, const struct hv_cmd *c)
{
    const char *p = line;
    size_t n;
    uint64_t v;

    if (c->kind != HV_CMD_RDMSR && c->kind != HV_CMD_WRMSR)
        return;
    while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
        p++;
    if (c->expect_fail) {                       /* expect fail rdmsr ... */
        p += 6;
        while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
            p++;
        p += 4;
        while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
            p++;
    }
    p += 5;                                     /* rdmsr / wrmsr */
    while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
        p++;
    n = strcspn(p, " \t\n\v\f\r{}");
    REQUIRE(hv_parse_number(p, n, &v, NULL, 0) == HV_STATUS_SUCCESS, "msr token does not parse");
    REQUIRE(v <= UINT32_MAX && (uint32_t)v == c->msr, "msr %#" PRIx64 " vs %#" PRIx32, v, c->msr);
}

static const char *const k_prefixes[] = {
    "output ", "output create o1 file ", "output create o2 tcp ", "output create o3 namedpipe {",
    "output open ", "output close ", "!dr output {", "!dr pid all output ", "expect fail ",
    "expect fail !dr output {", "!dr code {", "!dr pid ", "expect fail rdmsr ", "output create ",
};

/* Parse one line and check every promise. */
static void check_line(const char *line)
{
    char err[256], tiny[7];
    hv_status_t st, st2;

    st = hv_cmd_parse(line, &g_a, err, sizeof(err));
    check_message(st, err, sizeof(err));
    if (st == HV_STATUS_SUCCESS) {
        check_cmd(&g_a);
        check_msr_token(line, &g_a);
    } else {
        REQUIRE(g_a.kind == HV_CMD_NONE && g_a.code_len == 0 && g_a.condition_len == 0 && !g_a.has_script &&
                g_a.core == HV_ALL_CORES && g_a.pid == HV_EVENT_ANY_PID && g_a.dr_core == HV_EVENT_ANY_CORE &&
                g_a.imm && !g_a.expect_fail && !g_a.pid_all && g_a.output_count == 0 && !g_a.output_console &&
                g_a.output_name[0] == '\0', "failure left a half-parsed command");
    }

    /* Deterministic, and a tiny message buffer changes nothing but the text. */
    memset(tiny, 'X', sizeof(tiny));
    st2 = hv_cmd_parse(line, &g_b, tiny, 5);
    REQUIRE(st2 == st, "second parse %#x vs %#x", st2, st);
    REQUIRE(tiny[5] == 'X' && tiny[6] == 'X', "message overran its buffer");
    REQUIRE(memchr(tiny, '\0', 5) != NULL, "tiny message not terminated");
    REQUIRE(memcmp(&g_a, &g_b, sizeof(g_a)) == 0 || st != HV_STATUS_SUCCESS, "second parse differs");

    (void)hv_cmd_help(g_a.topic);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    hv_status_t st;
    uint64_t v = 1;

    if (size >= sizeof(g_line))
        size = sizeof(g_line) - 1;

    /* Numbers: the exact bytes, NULs and all. */
    st = hv_parse_number((const char *)data, size, &v, err, sizeof(err));
    check_message(st, err, sizeof(err));
    if (st == HV_STATUS_SUCCESS) {
        char hex[24];
        uint64_t w = 0;
        int n = snprintf(hex, sizeof(hex), "0x%" PRIx64, v);

        REQUIRE(hv_parse_number(hex, (size_t)n, &w, NULL, 0) == HV_STATUS_SUCCESS && w == v,
                "%s does not re-parse", hex);
    } else {
        REQUIRE(v == 0, "value %#" PRIx64 " after a failure", v);
    }

    /* Lines: a NUL-terminated copy (parsing stops at the first NUL). */
    memcpy(g_line, data, size);
    g_line[size] = '\0';
    check_line(g_line);

    /* The same bytes after a prefix chosen by the first one, so that the
     * output, expect and !dr output forms are reached from an empty corpus
     * (the bounded runs start with none). */
    if (size > 0) {
        size_t k = data[0] % (sizeof(k_prefixes) / sizeof(k_prefixes[0])), pl = strlen(k_prefixes[k]);
        size_t rest = size - 1 < sizeof(g_line) - 1 - pl ? size - 1 : sizeof(g_line) - 1 - pl;

        memcpy(g_line, k_prefixes[k], pl);
        memcpy(g_line + pl, data + 1, rest);
        g_line[pl + rest] = '\0';
        check_line(g_line);
    }
    return 0;
}
