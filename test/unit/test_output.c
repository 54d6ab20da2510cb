/* Event forwarding (hvcore/client/output.h): names, errors, routing, the
 * text and JSON formats, and each kind of output for real: a file, a FIFO
 * with and without a reader (and with one that never reads), and a TCP
 * listener on 127.0.0.1 that goes away and comes back. Waits are bounded
 * (WAIT_MS) and only wait for a state; no test asserts how long anything
 * took. */
#define _GNU_SOURCE
#include "support.h"

#include <hvcore/client/cmd.h>
#include <hvcore/client/output.h>
#include <hvcore/client/wire.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000

static char g_dir[64];
static char g_err[512];

static int make_dir(void **state)
{
    (void)state;
    strcpy(g_dir, "/tmp/hv-output-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *path_in(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", g_dir, name);
    return buf;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* A record as the core writes it. */
static struct hv_msg_record record(uint16_t kind, uint32_t event, uint32_t core, uint64_t pid, uint64_t seq,
                                   uint64_t value, const char *script)
{
    struct hv_msg_record r;
    struct hv_msg_dr_access a = { .dr = 7, .direction = 0, .gpr = 0, .value = value, .rip = 0x55dab4234d3bull };

    memset(&r, 0, sizeof(r));
    r.h.kind = kind;
    r.h.event_id = event;
    r.h.core = core;
    r.h.pid = pid;
    r.h.seq = seq;
    memcpy(r.payload, &a, sizeof(a));
    r.h.payload_len = sizeof(a);
    if (kind == HV_MSG_SCRIPT && script) {
        size_t n = strlen(script) + 1;

        memcpy(r.payload + sizeof(a), script, n);
        r.h.payload_len = (uint16_t)(sizeof(a) + n);
    } else if (kind == HV_MSG_BREAK) {
        uint64_t g[17] = { 0 };

        g[0] = value;
        g[16] = 0x246;
        memcpy(r.payload + sizeof(a), g, sizeof(g));
        r.h.payload_len = (uint16_t)(sizeof(a) + sizeof(g));
    }
    return r;
}

static struct hv_output_info query(struct hv_output_set *s, const char *name)
{
    struct hv_output_info i;

    assert_int_equal(hv_output_query(s, name, &i), HV_STATUS_SUCCESS);
    return i;
}

/* Wait (bounded) until `name` is in `state`. */
static void wait_state(struct hv_output_set *s, const char *name, enum hv_output_state state)
{
    int t;

    for (t = 0; t < WAIT_MS / 10; t++) {
        if (query(s, name).state == state)
            return;
        sleep_ms(10);
    }
    fail_msg("output %s never reached state %s (it is %s: %s)", name, hv_output_state_name(state),
             hv_output_state_name(query(s, name).state), query(s, name).error);
}

/* Wait (bounded) until sent + dropped of `name` reaches `n`. */
static void wait_done(struct hv_output_set *s, const char *name, uint64_t n)
{
    int t;

    for (t = 0; t < WAIT_MS / 10; t++) {
        struct hv_output_info i = query(s, name);

        if (i.sent + i.dropped >= n && i.queued == 0)
            return;
        sleep_ms(10);
    }
    fail_msg("output %s: sent %llu + dropped %llu never reached %llu", name, (unsigned long long)query(s, name).sent,
             (unsigned long long)query(s, name).dropped, (unsigned long long)n);
}

/* Read from fd until `want` bytes came (bounded); returns them, NUL-terminated. */
static char *read_bytes(int fd, size_t want)
{
    char *buf = calloc(1, want + 1);
    size_t got = 0;
    int t;

    assert_non_null(buf);
    for (t = 0; t < WAIT_MS / 10 && got < want; t++) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t k;

        if (poll(&p, 1, 10) <= 0)
            continue;
        k = read(fd, buf + got, want - got);
        if (k > 0)
            got += (size_t)k;
        else if (k == 0)
            sleep_ms(10);           /* a FIFO with no writer (yet) reads as EOF */
    }
    if (got < want)
        fail_msg("read %zu of %zu bytes", got, want);
    return buf;
}

static char *file_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static size_t text_of(const struct hv_msg_record *r, char *out, size_t size)
{
    return hv_output_format_text(r, out, size);
}

/* ---- names and errors ----------------------------------------------------------- */

static void names_are_checked(void **state)
{
    static const char *const good[] = { "log", "_x", "a.b-c_1", "Feed2", "abcdefghijabcdefghijabcdefghij1" };
    static const char *const bad[] = { "1abc", "a b", "a/b", "-x", ".x", "a\"b", "abcdefghijabcdefghijabcdefghij12" };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(hv_output_name_check(good[i], strlen(good[i]), g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(hv_output_name_check(bad[i], strlen(bad[i]), g_err, sizeof(g_err)),
                         HV_STATUS_INVALID_PARAMETER);
        assert_non_null(strstr(g_err, "output name '"));
    }
    assert_int_equal(hv_output_name_check("", 0, g_err, sizeof(g_err)), HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(g_err, "an output needs a name");
    assert_int_equal(hv_output_name_check("CONSOLE", 7, g_err, sizeof(g_err)), HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(g_err, "'console' is reserved"));
    assert_int_equal(hv_output_name_check("a b", 3, NULL, 0), HV_STATUS_INVALID_PARAMETER);
}

static void create_open_close_errors(void **state)
{
    static const char *const bad_tcp[] = { "127.0.0.1", "127.0.0.1:0", ":80", "127.0.0.1:65536", "127.0.0.1:8x",
                                           "[::1]80", "::1:80", "127.0.0.1:" };
    struct hv_output_set *s;
    char path[128], name[16];
    size_t i;

    (void)state;
    assert_int_equal(hv_output_set_create(&s), HV_STATUS_SUCCESS);
    path_in("log.txt", path, sizeof(path));
    /* Given an output, when the same name is created again, then it is refused. */
    assert_int_equal(hv_output_create(s, "log", HV_OUTPUT_FILE, path, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "log", HV_OUTPUT_TCP, "127.0.0.1:9", HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(g_err, "output 'log' already exists");
    assert_int_equal(hv_output_create(s, "x y", HV_OUTPUT_FILE, path, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(g_err, "is not a name"));
    assert_int_equal(hv_output_create(s, "console", HV_OUTPUT_FILE, path, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_output_create(s, "t", (enum hv_output_type)9, path, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(g_err, "use file, namedpipe or tcp"));
    assert_int_equal(hv_output_create(s, "t", HV_OUTPUT_FILE, path, (enum hv_output_format)5, g_err, sizeof(g_err)),
                     HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_output_create(s, "t", HV_OUTPUT_FILE, "", HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(g_err, "output 't' needs a path");
    for (i = 0; i < sizeof(bad_tcp) / sizeof(bad_tcp[0]); i++) {
        assert_int_equal(hv_output_create(s, "t", HV_OUTPUT_TCP, bad_tcp[i], HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                         HV_STATUS_INVALID_PARAMETER);
        assert_non_null(strstr(g_err, "tcp output '"));
    }
    /* Unknown names: NOT_FOUND with a hint. */
    assert_int_equal(hv_output_open(s, "nosuch", g_err, sizeof(g_err)), HV_STATUS_NOT_FOUND);
    assert_string_equal(g_err, "unknown output 'nosuch' (create it first: output create nosuch file PATH)");
    assert_int_equal(hv_output_close(s, "nosuch", g_err, sizeof(g_err)), HV_STATUS_NOT_FOUND);
    /* Close before open, open twice. */
    assert_int_equal(hv_output_close(s, "log", g_err, sizeof(g_err)), HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(g_err, "output 'log' is not open");
    assert_int_equal(hv_output_open(s, "log", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_open(s, "log", g_err, sizeof(g_err)), HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(g_err, "output 'log' is already open");
    assert_int_equal(hv_output_close(s, "log", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    /* A file that cannot be opened fails the open and leaves it closed. */
    assert_int_equal(hv_output_create(s, "nodir", HV_OUTPUT_FILE, "/nonexistent-dir/x.log", HV_OUTPUT_TEXT, g_err,
                                      sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_open(s, "nodir", g_err, sizeof(g_err)), HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(g_err, "cannot open output 'nodir' (file /nonexistent-dir/x.log): No such file"));
    assert_int_equal(query(s, "nodir").state, HV_OUTPUT_CLOSED);
    /* At most HV_OUTPUT_MAX outputs. */
    for (i = 2; i < HV_OUTPUT_MAX; i++) {
        snprintf(name, sizeof(name), "o%zu", i);
        assert_int_equal(hv_output_create(s, name, HV_OUTPUT_FILE, path, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                         HV_STATUS_SUCCESS);
    }
    assert_int_equal(hv_output_create(s, "onemore", HV_OUTPUT_FILE, path, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_INVALID_PARAMETER);
    assert_string_equal(g_err, "too many outputs: at most 32");
    hv_output_set_destroy(s);
    hv_output_set_destroy(NULL);
}

static void dr_output_unknown_is_refused(void **state)
{
    struct hv_output_set *s;
    struct hv_cmd *c = calloc(1, sizeof(*c));
    const char *names[HV_OUTPUT_MAX_PER_EVENT];
    struct hv_msg_record r = record(HV_MSG_BREAK, 1, 0, 0x490, 1, 0x401, NULL);
    char path[128], buf[64];
    uint32_t i;

    (void)state;
    assert_non_null(c);
    assert_int_equal(hv_output_set_create(&s), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "log", HV_OUTPUT_FILE, path_in("dr.log", path, sizeof(path)),
                                      HV_OUTPUT_TEXT, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    /* Given `!dr ... output {log, nosuch}` (it parses: outputs are the
     * session's), when its names are resolved before the event is added,
     * then the unknown one is refused by name and nothing is bound. */
    assert_int_equal(hv_cmd_parse("!dr pid 490 output {log, nosuch}", c, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(c->output_count, 2);
    for (i = 0; i < c->output_count; i++)
        names[i] = c->outputs[i];
    assert_int_equal(hv_output_resolve(s, names, c->output_count, g_err, sizeof(g_err)), HV_STATUS_NOT_FOUND);
    assert_string_equal(g_err, "unknown output 'nosuch' (create it first: output create nosuch file PATH)");
    assert_int_equal(hv_output_bind(s, 1, names, c->output_count, false, g_err, sizeof(g_err)), HV_STATUS_NOT_FOUND);
    assert_int_equal(hv_output_bindings(s, 1, buf, sizeof(buf)), 0);
    assert_int_equal(query(s, "log").events, 0);
    assert_true(hv_output_forward(s, &r));
    /* The known one alone is fine. */
    assert_int_equal(hv_output_resolve(s, names, 1, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    free(c);
    hv_output_set_destroy(s);
}

/* ---- routing ------------------------------------------------------------------ */

static void routing_and_the_console(void **state)
{
    struct hv_output_set *s;
    const char *a[] = { "a" }, *ab[] = { "a", "b" }, *b[] = { "b" }, *acon[] = { "a", "console", "a" };
    char path[128], buf[64];
    struct hv_msg_record r;
    uint32_t ev;

    (void)state;
    assert_int_equal(hv_output_set_create(&s), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "a", HV_OUTPUT_FILE, path_in("a.log", path, sizeof(path)), HV_OUTPUT_TEXT,
                                      g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "b", HV_OUTPUT_FILE, path_in("b.log", path, sizeof(path)), HV_OUTPUT_TEXT,
                                      g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_open(s, "a", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    /* Given bindings: 1 -> a, 2 -> a + console, 4 -> b (closed), 5 -> a b */
    assert_int_equal(hv_output_bind(s, 1, a, 1, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_bind(s, 2, acon, 3, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_bind(s, 4, b, 1, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_bind(s, 5, ab, 2, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    /* then the console shows: 2 (asked for), 3 (not bound), 4 (none of its
     * outputs open); not 1 and 5 (an open output has them). */
    for (ev = 1; ev <= 5; ev++) {
        r = record(HV_MSG_DR_ACCESS, ev, 0, 1, ev, 0x400, NULL);
        assert_int_equal(hv_output_forward(s, &r), ev == 2 || ev == 3 || ev == 4);
    }
    assert_int_equal(hv_output_bindings(s, 2, buf, sizeof(buf)), strlen("a console"));
    assert_string_equal(buf, "a console");
    assert_int_equal(hv_output_bindings(s, 5, buf, sizeof(buf)), 3);
    assert_string_equal(buf, "a b");
    assert_int_equal(hv_output_bindings(s, 3, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(query(s, "a").events, 3);
    assert_int_equal(query(s, "b").events, 2);
    /* a got the records of 1, 2 and 5; b none (closed: not counted). */
    wait_done(s, "a", 3);
    assert_int_equal(query(s, "a").sent, 3);
    assert_int_equal(query(s, "b").sent + query(s, "b").dropped, 0);
    /* Rebinding replaces; unbinding returns the console. */
    assert_int_equal(hv_output_bind(s, 1, b, 1, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(query(s, "a").events, 2);
    r = record(HV_MSG_DR_ACCESS, 5, 0, 1, 9, 0x400, NULL);
    hv_output_unbind(s, 5);
    assert_true(hv_output_forward(s, &r));
    hv_output_unbind(s, HV_OUTPUT_ALL_EVENTS);
    assert_int_equal(query(s, "a").events, 0);
    assert_int_equal(query(s, "b").events, 0);
    r = record(HV_MSG_DR_ACCESS, 1, 0, 1, 10, 0x400, NULL);
    assert_true(hv_output_forward(s, &r));
    /* More than HV_OUTPUT_MAX_PER_EVENT distinct outputs: refused. */
    {
        const char *many[HV_OUTPUT_MAX_PER_EVENT + 1];
        char names[HV_OUTPUT_MAX_PER_EVENT + 1][8];
        uint32_t i;

        for (i = 0; i <= HV_OUTPUT_MAX_PER_EVENT; i++) {
            snprintf(names[i], sizeof(names[i]), "m%u", i);
            many[i] = names[i];
            assert_int_equal(hv_output_create(s, names[i], HV_OUTPUT_FILE, path, HV_OUTPUT_TEXT, g_err,
                                              sizeof(g_err)), HV_STATUS_SUCCESS);
        }
        assert_int_equal(hv_output_bind(s, 7, many, HV_OUTPUT_MAX_PER_EVENT + 1, false, g_err, sizeof(g_err)),
                         HV_STATUS_INVALID_PARAMETER);
        assert_string_equal(g_err, "an event can forward to at most 8 outputs");
        assert_int_equal(hv_output_bind(s, 7, many, HV_OUTPUT_MAX_PER_EVENT, true, g_err, sizeof(g_err)),
                         HV_STATUS_SUCCESS);
    }
    assert_true(hv_output_forward(NULL, &r));
    hv_output_set_destroy(s);
}

/* ---- formats ------------------------------------------------------------------ */

static void text_is_what_listen_prints(void **state)
{
    struct hv_msg_record r = record(HV_MSG_BREAK, 1, 3, 0x490, 1, 0x401, NULL);
    char out[2048], small[16];

    (void)state;
    r.h.lost_before = 2;
    hv_output_format_text(&r, out, sizeof(out));
    assert_string_equal(out,
                        "(2 messages lost before this one: the ring was full)\n"
                        "[core 3 pid 490 event 1 #1] mov to dr7, rax = 00000401 at 000055da`b4234d3b\n"
                        "  break (local mode: the guest continues):\n"
                        "    rax=00000401 rcx=00000000 rdx=00000000 rbx=00000000\n"
                        "    rsp=00000000 rbp=00000000 rsi=00000000 rdi=00000000\n"
                        "    r8=00000000 r9=00000000 r10=00000000 r11=00000000\n"
                        "    r12=00000000 r13=00000000 r14=00000000 r15=00000000\n"
                        "    rflags=00000246\n");
    assert_int_equal(hv_output_format_text(&r, small, sizeof(small)), strlen(out));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(hv_output_format_text(&r, NULL, 0), strlen(out));
    r = record(HV_MSG_SCRIPT, 2, 1, 0x77, 5, 0x403, "dr0x7 <- 0x403");
    hv_output_format_text(&r, out, sizeof(out));
    assert_string_equal(out, "[core 1 pid 77 event 2 #5] mov to dr7, rax = 00000403 at 000055da`b4234d3b\n"
                             "  script: dr0x7 <- 0x403\n");
    /* A malformed length is clamped, never read past the record. */
    r.h.payload_len = 0xffff;
    assert_true(hv_output_format_text(&r, out, sizeof(out)) > 0);
    assert_true(hv_output_format_json(&r, out, sizeof(out)) > 0);
}

static void json_escaping(void **state)
{
    static const struct { const char *in; size_t len; const char *out; } cases[] = {
        { "plain text", 10, "plain text" },
        { "a\"b\\c/", 6, "a\\\"b\\\\c/" },
        { "\n\t\r\b\f", 5, "\\n\\t\\r\\b\\f" },
        { "\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f" },
        { "a\0b", 3, "a\\u0000b" },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
        { "\xff", 1, "\\ufffd" },
        { "\xc0\xaf", 2, "\\ufffd\\ufffd" },                       /* overlong '/' */
        { "\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd" },             /* a surrogate */
        { "\xe2\x82", 2, "\\ufffd\\ufffd" },                        /* cut short */
        { "\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd" },  /* past U+10FFFF */
        { "x\xe2\x82y", 4, "x\\ufffd\\ufffdy" },
    };
    char out[128], tiny[4];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = hv_output_json_escape(cases[i].in, cases[i].len, out, sizeof(out));

        if (strcmp(out, cases[i].out) != 0)
            print_error("case %zu: got '%s', wanted '%s'\n", i, out, cases[i].out);
        assert_string_equal(out, cases[i].out);
        assert_int_equal(n, strlen(cases[i].out));
    }
    /* snprintf-like */
    assert_int_equal(hv_output_json_escape("\"\"", 2, tiny, sizeof(tiny)), 4);
    assert_string_equal(tiny, "\\\"\\");
    assert_int_equal(hv_output_json_escape("abc", 3, NULL, 0), 3);

    /* A script record as one JSON line, the script escaped. */
    {
        struct hv_msg_record r = record(HV_MSG_SCRIPT, 2, 1, 0x490, 7, 0x401, "say \"hi\"\\\n\x01");
        char line[1024];

        hv_output_format_json(&r, line, sizeof(line));
        assert_string_equal(line, "{\"event\":2,\"core\":1,\"pid\":\"0x490\",\"seq\":7,\"kind\":\"script\","
                                  "\"lost_before\":0,\"timestamp\":\"0x0\",\"dr\":7,\"direction\":\"to\","
                                  "\"gpr\":\"rax\",\"value\":\"0x401\",\"rip\":\"0x55dab4234d3b\","
                                  "\"script\":\"say \\\"hi\\\"\\\\\\n\\u0001\"}\n");
        r = record(HV_MSG_BREAK, 1, 3, 0x490, 1, 0x401, NULL);
        hv_output_format_json(&r, line, sizeof(line));
        assert_non_null(strstr(line, "\"kind\":\"break\""));
        assert_non_null(strstr(line, "\"regs\":{\"rax\":\"0x401\",\"rcx\":\"0x0\""));
        assert_non_null(strstr(line, "\"r15\":\"0x0\",\"rflags\":\"0x246\"}}\n"));
        assert_true(strchr(line, '\n') == line + strlen(line) - 1);     /* one line */
    }
}

/* ---- a file -------------------------------------------------------------------- */

static void file_appends_whole_records(void **state)
{
    struct hv_output_set *s;
    const char *names[] = { "log", "js" };
    char path[128], jpath[128], want[8192], *got;
    struct hv_msg_record r[4];
    size_t o = 0;
    int i, lines = 0;

    (void)state;
    path_in("events.log", path, sizeof(path));
    path_in("events.jsonl", jpath, sizeof(jpath));
    assert_int_equal(hv_output_set_create(&s), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "log", HV_OUTPUT_FILE, path, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "js", HV_OUTPUT_FILE, jpath, HV_OUTPUT_JSON, g_err, sizeof(g_err)),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_bind(s, 1, names, 2, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_open(s, "log", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_open(s, "js", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(query(s, "log").state, HV_OUTPUT_READY);
    /* Given three records of event 1, when forwarded and the outputs
     * closed, then the file holds exactly their text, in order. */
    r[0] = record(HV_MSG_BREAK, 1, 3, 0x490, 1, 0x401, NULL);
    r[1] = record(HV_MSG_SCRIPT, 1, 2, 0x490, 2, 0x402, "two");
    r[2] = record(HV_MSG_DR_ACCESS, 1, 1, 0x490, 3, 0x403, NULL);
    r[3] = record(HV_MSG_SCRIPT, 1, 0, 0x490, 4, 0x404, "after reopening");
    for (i = 0; i < 3; i++) {
        assert_false(hv_output_forward(s, &r[i]));
        o += text_of(&r[i], want + o, sizeof(want) - o);
    }
    assert_int_equal(hv_output_flush(s, WAIT_MS), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_close(s, "log", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    got = file_text(path);
    assert_string_equal(got, want);
    free(got);
    /* Reopened: appended, the old records kept. */
    assert_int_equal(hv_output_open(s, "log", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_false(hv_output_forward(s, &r[3]));
    o += text_of(&r[3], want + o, sizeof(want) - o);
    assert_int_equal(hv_output_close(s, "log", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    got = file_text(path);
    assert_string_equal(got, want);
    free(got);
    assert_int_equal(query(s, "log").sent, 4);
    assert_int_equal(query(s, "log").dropped, 0);
    /* The JSON file: one object per line, one line per record. */
    assert_int_equal(hv_output_close(s, "js", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    got = file_text(jpath);
    for (i = 0; got[i]; i++)
        lines += got[i] == '\n';
    assert_int_equal(lines, 4);
    assert_true(got[0] == '{');
    assert_non_null(strstr(got, "\"script\":\"after reopening\"}\n"));
    free(got);
    {
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    hv_output_set_destroy(s);
}

/* ---- a FIFO ------------------------------------------------------------------- */

static void fifo_with_a_reader(void **state)
{
    struct hv_output_set *s;
    const char *names[] = { "pipe" };
    char path[128], want[4096], *got;
    struct hv_msg_record r[2];
    struct stat st;
    size_t o = 0;
    int fd, i;

    (void)state;
    path_in("events.fifo", path, sizeof(path));
    assert_int_equal(hv_output_set_create(&s), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "pipe", HV_OUTPUT_NAMEDPIPE, path, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_bind(s, 1, names, 1, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    /* Given no FIFO yet, when opened, then it is created and waits for a reader. */
    assert_int_equal(hv_output_open(s, "pipe", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(query(s, "pipe").state, HV_OUTPUT_WAITING);
    assert_string_equal(query(s, "pipe").error, "no reader");
    /* When a reader comes, then the output attaches and records flow. */
    fd = open(path, O_RDONLY | O_NONBLOCK);
    assert_true(fd >= 0);
    wait_state(s, "pipe", HV_OUTPUT_READY);
    r[0] = record(HV_MSG_SCRIPT, 1, 0, 0x490, 1, 0x401, "first");
    r[1] = record(HV_MSG_BREAK, 1, 3, 0x490, 2, 0x402, NULL);
    for (i = 0; i < 2; i++) {
        assert_false(hv_output_forward(s, &r[i]));
        o += text_of(&r[i], want + o, sizeof(want) - o);
    }
    got = read_bytes(fd, o);
    assert_string_equal(got, want);
    free(got);
    wait_done(s, "pipe", 2);
    assert_int_equal(query(s, "pipe").sent, 2);
    /* When the reader goes, then the output waits again (and counts drops). */
    close(fd);
    wait_state(s, "pipe", HV_OUTPUT_WAITING);
    assert_false(hv_output_forward(s, &r[0]));
    wait_done(s, "pipe", 3);
    assert_int_equal(query(s, "pipe").dropped, 1);
    assert_int_equal(hv_output_close(s, "pipe", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    /* A path that is not a FIFO is refused. */
    path_in("plain-file", path, sizeof(path));
    fclose(fopen(path, "w"));
    assert_int_equal(hv_output_create(s, "notfifo", HV_OUTPUT_NAMEDPIPE, path, HV_OUTPUT_TEXT, g_err,
                                      sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_open(s, "notfifo", g_err, sizeof(g_err)), HV_STATUS_INVALID_PARAMETER);
    assert_non_null(strstr(g_err, "exists and is not a named pipe (FIFO)"));
    hv_output_set_destroy(s);
}

static void fifo_without_a_reader_never_blocks(void **state)
{
    struct hv_output_set *s;
    const char *names[] = { "lonely" };
    struct hv_msg_record r = record(HV_MSG_BREAK, 1, 0, 1, 1, 0x400, NULL);
    char path[128];
    int i;

    (void)state;
    path_in("nobody.fifo", path, sizeof(path));
    assert_int_equal(hv_output_set_create(&s), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "lonely", HV_OUTPUT_NAMEDPIPE, path, HV_OUTPUT_JSON, g_err, sizeof(g_err)),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_bind(s, 1, names, 1, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_open(s, "lonely", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    /* Given no reader ever, when records are forwarded, then every call
     * returns (the test would hang otherwise) and each record is dropped
     * and counted. The output is open but waiting: the console is not
     * asked to show them. */
    for (i = 0; i < 5; i++)
        assert_false(hv_output_forward(s, &r));
    wait_done(s, "lonely", 5);
    assert_int_equal(query(s, "lonely").dropped, 5);
    assert_int_equal(query(s, "lonely").sent, 0);
    assert_int_equal(query(s, "lonely").state, HV_OUTPUT_WAITING);
    assert_int_equal(hv_output_close(s, "lonely", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    hv_output_set_destroy(s);
}

static void fifo_full_pipe_drops_and_counts(void **state)
{
    enum { N = 5000 };
    struct hv_output_set *s;
    const char *names[] = { "slow" };
    struct hv_msg_record r = record(HV_MSG_SCRIPT, 1, 0, 1, 1, 0x400, "a reader that never reads");
    struct hv_output_info info;
    char path[128];
    int fd, i;

    (void)state;
    path_in("slow.fifo", path, sizeof(path));
    assert_int_equal(mkfifo(path, 0600), 0);
    fd = open(path, O_RDONLY | O_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(hv_output_set_create(&s), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "slow", HV_OUTPUT_NAMEDPIPE, path, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_bind(s, 1, names, 1, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_open(s, "slow", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(query(s, "slow").state, HV_OUTPUT_READY);
    /* Given a reader that never reads, when far more records than the pipe
     * and the queue hold are forwarded, then every call returns and the
     * surplus is dropped and counted. */
    for (i = 0; i < N; i++)
        assert_false(hv_output_forward(s, &r));
    info = query(s, "slow");
    assert_true(info.dropped > 0);
    assert_true(info.queued <= HV_OUTPUT_QUEUE + 64);
    /* Closing gives up on what cannot be written; all is accounted for. */
    assert_int_equal(hv_output_close(s, "slow", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    info = query(s, "slow");
    assert_int_equal(info.sent + info.dropped, N);
    assert_true(info.sent > 0);
    assert_int_equal(info.queued, 0);
    close(fd);
    hv_output_set_destroy(s);
}

/* ---- TCP ------------------------------------------------------------------------ */

/* Accept one connection (bounded). */
static int accept_one(int lfd)
{
    int fd = -1;

    assert_int_equal(hv_wire_accept(lfd, &fd, WAIT_MS), HV_STATUS_SUCCESS);
    return fd;
}

static void tcp_reconnects_and_counts_drops(void **state)
{
    struct hv_output_set *s;
    const char *names[] = { "feed" };
    struct hv_msg_record r[4];
    char target[32], want[1024], *got;
    uint16_t port;
    int lfd, fd, i;
    size_t n;

    (void)state;
    for (i = 0; i < 4; i++)
        r[i] = record(HV_MSG_SCRIPT, 1, (uint32_t)i, 0x490, (uint64_t)i + 1, 0x400 + (uint64_t)i, "tcp");
    assert_int_equal(hv_wire_listen("127.0.0.1", 0, &lfd), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_local_port(lfd, &port), HV_STATUS_SUCCESS);
    snprintf(target, sizeof(target), "127.0.0.1:%u", port);
    assert_int_equal(hv_output_set_create(&s), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "feed", HV_OUTPUT_TCP, target, HV_OUTPUT_JSON, g_err, sizeof(g_err)),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_bind(s, 1, names, 1, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    /* Given a listener, when the output opens, then it connects. */
    assert_int_equal(hv_output_open(s, "feed", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    fd = accept_one(lfd);
    wait_state(s, "feed", HV_OUTPUT_READY);
    assert_false(hv_output_forward(s, &r[0]));
    n = hv_output_format_json(&r[0], want, sizeof(want));
    got = read_bytes(fd, n);
    assert_string_equal(got, want);
    free(got);

    /* When the listener goes away, then the output notices, waits, and
     * drops (and counts) what comes meanwhile. */
    close(lfd);
    close(fd);
    wait_state(s, "feed", HV_OUTPUT_WAITING);
    assert_false(hv_output_forward(s, &r[1]));
    assert_false(hv_output_forward(s, &r[2]));
    wait_done(s, "feed", 3);
    assert_int_equal(query(s, "feed").dropped, 2);
    assert_int_equal(query(s, "feed").sent, 1);

    /* When it comes back on the same port, then the output reconnects by
     * itself and the next record arrives (the dropped ones never do). */
    assert_int_equal(hv_wire_listen("127.0.0.1", port, &lfd), HV_STATUS_SUCCESS);
    fd = accept_one(lfd);
    wait_state(s, "feed", HV_OUTPUT_READY);
    assert_false(hv_output_forward(s, &r[3]));
    n = hv_output_format_json(&r[3], want, sizeof(want));
    got = read_bytes(fd, n);
    assert_string_equal(got, want);
    free(got);
    wait_done(s, "feed", 4);
    assert_int_equal(query(s, "feed").sent, 2);
    assert_int_equal(query(s, "feed").dropped, 2);
    assert_int_equal(query(s, "feed").reconnects, 1);
    assert_int_equal(hv_output_close(s, "feed", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    close(fd);
    close(lfd);
    hv_output_set_destroy(s);
}

static void tcp_open_without_listener_waits(void **state)
{
    struct hv_output_set *s;
    const char *names[] = { "feed" };
    struct hv_msg_record r = record(HV_MSG_DR_ACCESS, 1, 0, 1, 1, 0x400, NULL);
    char target[32];
    uint16_t port;
    int lfd;

    (void)state;
    /* A port nobody listens on: bind one, note it, close it. */
    assert_int_equal(hv_wire_listen("127.0.0.1", 0, &lfd), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_local_port(lfd, &port), HV_STATUS_SUCCESS);
    close(lfd);
    snprintf(target, sizeof(target), "127.0.0.1:%u", port);
    assert_int_equal(hv_output_set_create(&s), HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_create(s, "feed", HV_OUTPUT_TCP, target, HV_OUTPUT_TEXT, g_err, sizeof(g_err)),
                     HV_STATUS_SUCCESS);
    assert_int_equal(hv_output_bind(s, 1, names, 1, false, g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    /* Given no listener, then open succeeds, waiting, with the reason. */
    assert_int_equal(hv_output_open(s, "feed", g_err, sizeof(g_err)), HV_STATUS_SUCCESS);
    assert_int_equal(query(s, "feed").state, HV_OUTPUT_WAITING);
    assert_non_null(strstr(query(s, "feed").error, "Connection refused"));
    assert_false(hv_output_forward(s, &r));
    wait_done(s, "feed", 1);
    assert_int_equal(query(s, "feed").dropped, 1);
    hv_output_set_destroy(s);      /* closes it too */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_are_checked),
        cmocka_unit_test(create_open_close_errors),
        cmocka_unit_test(dr_output_unknown_is_refused),
        cmocka_unit_test(routing_and_the_console),
        cmocka_unit_test(text_is_what_listen_prints),
        cmocka_unit_test(json_escaping),
        cmocka_unit_test(file_appends_whole_records),
        cmocka_unit_test(fifo_with_a_reader),
        cmocka_unit_test(fifo_without_a_reader_never_blocks),
        cmocka_unit_test(fifo_full_pipe_drops_and_counts),
        cmocka_unit_test(tcp_reconnects_and_counts_drops),
        cmocka_unit_test(tcp_open_without_listener_waits),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
