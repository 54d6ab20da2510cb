/* The script engine: lexer, compiler (with error positions), verifier and
 * interpreter, table-driven from HyperDbg's documented semantics, run
 * against the mock's fake guest memory. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hvcore/client/script.h>

static uint64_t g_globals[HV_SCRIPT_GLOBAL_SLOTS];
static char g_names[HV_SCRIPT_GLOBAL_SLOTS][HV_SCRIPT_NAME_LEN];
static struct hv_script_vm g_vm;
static struct hv_script_verify_scratch g_scratch;
static char g_out[8192];
static size_t g_out_len;
static struct hv_msg_script_status g_status;
static int g_status_count;
static struct hv_gprs g_gprs;
static uint64_t g_root;
static struct hv_guest_paging g_paging;

static void collect(void *ctx, uint16_t kind, const void *payload, uint32_t len)
{
    (void)ctx;
    if (kind == HV_MSG_SCRIPT) {
        size_t n = strlen((const char *)payload);
        if (g_out_len + n < sizeof(g_out)) {
            memcpy(g_out + g_out_len, payload, n + 1);
            g_out_len += n;
        }
    } else if (kind == HV_MSG_SCRIPT_STATUS && len == sizeof(g_status)) {
        memcpy(&g_status, payload, sizeof(g_status));
        g_status_count++;
    }
}

static uint32_t g_ev_id;
static bool g_ev_en;
static int g_ev_calls;
static void event_ctl(void *ctx, uint32_t id, bool en)
{
    (void)ctx;
    g_ev_id = id;
    g_ev_en = en;
    g_ev_calls++;
}

static int setup(void **state)
{
    (void)state;
    if (support_setup_machine(1, HV_MOCK_PROFILE_HASWELL) != 0)
        return -1;
    memset(g_globals, 0, sizeof(g_globals));
    memset(g_names, 0, sizeof(g_names));
    /* Guest memory: 4-level paging; 0x7000 -> pa 0x5000 (data), 0x8000 -> 0x6000. */
    g_root = hv_mock_gmem_new_table();
    hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, g_root, 0x7000, 0x5000, 4096, 2);
    hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, g_root, 0x8000, 0x6000, 4096, 2);
    hv_mock_gmem_write64(0x5000, 0x1122334455667788ull);
    hv_mock_gmem_write(0x5100, "hello", 6);
    hv_mock_gmem_write(0x5200, "help", 5);
    hv_mock_gmem_write(0x5300, "h\0e\0y\0\0\0", 8);
    hv_mock_gmem_write(0x6000, "hello", 6);
    g_paging.cr0 = HV_CR0_PG | HV_CR0_PE;
    g_paging.cr3 = g_root;
    g_paging.cr4 = HV_CR4_PAE;
    g_paging.efer = HV_EFER_LME | HV_EFER_LMA;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hv_mock_fini();
    return 0;
}

/* Compile and run; returns the run status, fills *result. */
static hv_status_t run_src(const char *src, uint64_t *result, struct hv_script_env *out_env)
{
    uint8_t *prog = NULL;
    uint32_t len = 0;
    struct hv_script_error err;
    struct hv_script s;
    struct hv_script_env env;
    hv_status_t st;
    uint32_t i;

    st = hv_script_compile(src, 0, &prog, &len, &err);
    if (st != HV_STATUS_SUCCESS) {
        char b[300];
        hv_script_error_format(&err, b, sizeof(b));
        fail_msg("compile failed for '%s': %s", src, b);
    }
    assert_int_equal(hv_script_bind(&s, prog, len, &g_scratch, g_names), 0);
    memset(&env, 0, sizeof(env));
    env.os = hv_mock_os();
    env.paging = &g_paging;
    env.gprs = &g_gprs;
    for (i = 0; i < 16; i++)
        g_gprs.r[i] = 0x100 + i;
    env.rip = 0xFFFFFFFF81000000ull;
    env.rflags = 0x246;
    env.pseudo[HV_SPSEUDO_PID] = 0x490;
    env.pseudo[HV_SPSEUDO_CORE] = 1;
    env.pseudo[HV_SPSEUDO_EVENT_ID] = 7;
    env.pseudo[HV_SPSEUDO_IP] = env.rip;
    env.globals = g_globals;
    env.vm = &g_vm;
    env.emit = collect;
    env.event_ctl = event_ctl;
    g_out_len = 0;
    g_out[0] = 0;
    g_status_count = 0;
    st = hv_script_run(&s, &env);
    *result = env.result;
    if (out_env != NULL)
        *out_env = env;
    free(prog);
    return st;
}

struct value_case {
    const char *src;
    uint64_t value;
};

/* Each is an expression statement: its value is the run's result. */
static const struct value_case values[] = {
    /* numbers: hex by default, 0x 0n 0t 0y, backticks */
    { "10;", 0x10 }, { "0x10;", 0x10 }, { "0n10;", 10 }, { "0t10;", 8 }, { "0y10;", 2 },
    { "ff;", 0xff }, { "dead;", 0xdead }, { "fffff803`1d44fde0;", 0xfffff8031d44fde0ull },
    { "0n18446744073709551615;", 0xFFFFFFFFFFFFFFFFull }, { "0y1111`0000;", 0xF0 }, { "0;", 0 },
    { "0x0;", 0 }, { "0n0;", 0 }, { "7fffffffffffffff;", 0x7fffffffffffffffull }, { "0t777;", 0777 },
    { "0X1F;", 0x1f }, { "0N99;", 99 }, { "1`0;", 0x10 }, { "0n1`000;", 1000 }, { "a;", 0xa },
    /* additive, multiplicative */
    { "1 + 2;", 3 }, { "5 - 7;", (uint64_t)-2 }, { "3 * 4;", 0xc }, { "10 / 3;", 5 }, { "10 % 3;", 1 },
    { "0n10 / 0n3;", 3 }, { "0n10 % 0n3;", 1 }, { "2 + 3 * 4;", 0xe }, { "(2 + 3) * 4;", 0x14 },
    { "20 - 4 - 2;", 0x1a }, { "40 / 4 / 2;", 8 }, { "2 * 3 % 4;", 2 }, { "0 - 1;", 0xFFFFFFFFFFFFFFFFull },
    { "ffffffffffffffff + 1;", 0 }, { "ffffffffffffffff * 2;", 0xFFFFFFFFFFFFFFFEull },
    { "-1 / 2;", 0x7FFFFFFFFFFFFFFFull }, /* unsigned division, as HyperDbg */
    /* unary */
    { "-1;", 0xFFFFFFFFFFFFFFFFull }, { "+5;", 5 }, { "~0;", 0xFFFFFFFFFFFFFFFFull }, { "- -5;", 5 },
    { "-(2+3);", (uint64_t)-5 }, { "~~7;", 7 }, { "-~0;", 1 }, { "!0;", 1 }, { "!5;", 0 },
    { "- 2 * 3;", (uint64_t)-6 }, { "~1 & f;", 0xe },
    /* shifts */
    { "1 << 4;", 0x10 }, { "100 >> 4;", 0x10 }, { "1 << 3f;", 0x8000000000000000ull },
    { "1 << 40;", 1 }, /* count mod 64, as x86 SHL */ { "8000000000000000 >> 3f;", 1 },
    { "1 + 1 << 2;", 8 }, { "10 >> 1 + 1;", 4 }, { "-1 >> 3c;", 0xf },
    /* bitwise with HyperDbg's order: & above ^ above | */
    { "6 & 3;", 2 }, { "6 | 3;", 7 }, { "6 ^ 3;", 5 }, { "1 | 2 ^ 3;", 1 }, { "1 ^ 3 & 2;", 3 },
    { "f0 | f & 3;", 0xf3 }, { "ff & f0 | 1;", 0xf1 }, { "1 | 2 & 3 ^ 4;", 7 },
    /* comparisons: signed > < >= <=; one level below shifts, above & */
    { "1 < 2;", 1 }, { "2 < 1;", 0 }, { "-1 < 0;", 1 }, { "-1 > 0;", 0 }, { "5 >= 5;", 1 },
    { "5 <= 4;", 0 }, { "3 == 3;", 1 }, { "3 != 3;", 0 }, { "ffffffffffffffff == -1;", 1 },
    { "8000000000000000 < 0;", 1 }, { "1 + 1 == 2;", 1 }, { "1 << 2 == 4;", 1 },
    { "2 & 3 == 3;", 0 }, /* & is lower: 2 & (3 == 3) = 2 & 1 = 0 */
    { "(2 & 3) == 2;", 1 }, { "1 == 1 == 1;", 1 }, { "2 > 1 > 0;", 1 }, 
    /* logical with short-circuit */
    { "1 && 2;", 1 }, { "1 && 0;", 0 }, { "0 && 1;", 0 }, { "0 || 0;", 0 }, { "0 || 5;", 1 },
    { "5 || 0;", 1 }, { "1 || 0 && 0;", 1 }, { "(1 || 0) && 0;", 0 }, { "0 && (1 / 0);", 0 },
    { "1 || (1 / 0);", 1 }, { "1 < 2 && 3 < 4;", 1 }, { "1 | 0 && 0 | 0;", 0 },
    /* registers and their parts */
    { "@rax;", 0x100 }, { "@rcx;", 0x101 }, { "@r15;", 0x10f }, { "@rsp;", 0x104 }, { "@rip;", 0xFFFFFFFF81000000ull },
    { "@eip;", 0x81000000 }, { "@rflags;", 0x246 }, { "@zf;", 1 }, { "@cf;", 0 }, { "@if;", 1 }, { "@pf;", 1 },
    { "@ah;", 1 }, { "@al;", 0 }, { "@cx;", 0x101 }, { "@r8d;", 0x108 }, { "@r8l;", 8 }, { "@r8h;", 1 },
    { "@sil;", 6 }, { "@eflags;", 0x246 }, { "@iopl;", 0 },
    /* pseudo-registers */
    { "$pid;", 0x490 }, { "$core;", 1 }, { "$event_id;", 7 }, { "$id;", 7 }, { "$ip;", 0xFFFFFFFF81000000ull },
    { "$tid;", 0 }, { "$buffer;", 0 }, { "$context;", 0 },
    /* memory through the guest's page tables */
    { "dq(7000);", 0x1122334455667788ull }, { "poi(7000);", 0x1122334455667788ull }, { "dd(7000);", 0x55667788 },
    { "dw(7000);", 0x7788 }, { "db(7000);", 0x88 }, { "db(7007);", 0x11 }, { "hi(7000);", 0x5566 },
    { "low(7000);", 0x7788 }, { "x = *7000; x;", 0x1122334455667788ull }, { "dq(6ff8 + 8);", 0x1122334455667788ull },
    { "check_address(7000);", 1 }, { "check_address(9000);", 0 }, { "check_address(0x800000000000);", 0 },
    /* functions */
    { "not(0);", 0xFFFFFFFFFFFFFFFFull }, { "neg(1);", 0xFFFFFFFFFFFFFFFFull }, { "neg(0);", 0 },
    { "not(f0) & ff;", 0xf }, { "strlen(7100);", 5 }, { "strlen(\"abc\");", 3 }, { "strlen(7200);", 4 },
    { "strcmp(7100, 8000);", 0 }, { "strcmp(7100, 7200);", (uint64_t)-1 }, { "strcmp(7200, 7100);", 1 },
    { "strcmp(7100, \"hello\");", 0 }, { "strcmp(\"hello\", 7100);", 0 }, { "strcmp(7100, \"hellp\");", (uint64_t)-1 },
    { "strcmp(\"b\", \"a\");", 1 }, { "strcmp(\"a\", \"a\");", 0 }, { "memcmp(7100, 7200, 3);", 0 },
    { "memcmp(7100, 7200, 4);", (uint64_t)-1 }, { "memcmp(7100, \"hex\", 2);", 0 }, { "memcmp(7100, 8000, 6);", 0 },
    { "memcmp(7100, \"hez\", 3);", (uint64_t)-1 },
    /* variables */
    { "x = 5; x;", 5 }, { "x = 5; x = x + 1; x;", 6 }, { "x = 5; x += 3; x;", 8 }, { "x = 5; x -= 3; x;", 2 },
    { "x = 5; x *= 3; x;", 0xf }, { "x = 10; x /= 3; x;", 5 }, { "x = 10; x %= 3; x;", 1 },
    { "x = 1; x <<= 4; x;", 0x10 }, { "x = 10; x >>= 4; x;", 1 }, { "x = 6; x &= 3; x;", 2 },
    { "x = 6; x |= 1; x;", 7 }, { "x = 6; x ^= 3; x;", 5 }, { "x = 5; x++; x;", 6 }, { "x = 5; x--; x;", 4 },
    { "x = y = 3; x + y;", 6 }, { "int x = 0n42; x;", 42 }, { "unsigned long long q = 1; q;", 1 },
    { "int x; x;", 0 }, { ".g = 5; .g;", 5 }, { ".g = 5; .g += 1; .g;", 6 }, { "xyz = 1; xyz;", 1 },
    /* registers written */
    { "@rax = 5; @rax;", 5 }, { "@eax = 1; @rax;", 1 }, { "@al = ff; @rax;", 0x1ff }, { "@ah = 2; @rax;", 0x200 },
    { "@rip = 1234; @rip;", 0x1234 }, { "@zf = 0; @rflags;", 0x206 }, { "@cf = 1; @rflags;", 0x247 },
    /* control flow */
    { "x = 0; if (1) { x = 1; } x;", 1 }, { "x = 0; if (0) { x = 1; } x;", 0 },
    { "x = 0; if (0) { x = 1; } else { x = 2; } x;", 2 },
    { "x = 0; if (0) { x = 1; } elsif (1) { x = 3; } else { x = 2; } x;", 3 },
    { "x = 0; if (0) { x = 1; } elsif (0) { x = 3; } elsif (1) { x = 4; } x;", 4 },
    { "x = 0; if (0) { x = 1; } elsif (0) { x = 3; } x;", 0 },
    { "x = 0; i = 0; while (i < 0n10) { x += i; i++; } x;", 45 },
    { "x = 0; i = 0; do { x++; i++; } while (i < 3); x;", 3 },
    { "x = 0; i = 5; do { x++; } while (i < 3); x;", 1 },
    { "x = 0; for (i = 0; i < 5; i++) { x += 2; } x;", 0xa },
    { "sum = 0; for (int i = 1; i <= 5; i++) { sum += i; } sum;", 0xf },
    { "x = 0; for (i = 0; i < 0n100; i++) { if (i == 5) { break; } x++; } x;", 5 },
    { "x = 0; for (i = 0; i < 0n10; i++) { if (i % 2) { continue; } x++; } x;", 5 },
    { "x = 0; i = 0; while (1) { i++; if (i > 3) { break; } } i;", 4 },
    { "x = 0; i = 0; while (i < 5) { i++; if (i == 2) { continue; } x++; } x;", 4 },
    { "x = 0; i = 0; do { i++; if (i == 2) { continue; } x++; } while (i < 4); x;", 3 },
    { "x = 0; for (i = 0; i < 3; i++) { for (j = 0; j < 3; j++) { x++; } } x;", 9 },
    { "x = 0; for (i = 0; i < 3; i++) { for (j = 0; j < 3; j++) { if (j == 1) { break; } x++; } } x;", 3 },
    { "x = 0; for (;;) { x++; if (x == 7) { break; } } x;", 7 },
    { "if (1) x = 9; else x = 8; x;", 9 },
    /* user functions (HyperDbg's C syntax) */
    { "int add(int x1, int y1) { return x1 + y1; } add(2, 3);", 5 },
    { "int f(int n) { if (n == 0) { return 0; } if (n == 1) { return 1; } return f(n - 1) + f(n - 2); } f(0n6);", 8 },
    { "int fib(int n) { p0 = 0; p1 = 1; if (n == 0) { return p0; } for (i = 2; i <= n; i++) { t = p0 + p1; p0 = p1; p1 = t; } return p1; } fib(0n9);", 34 },
    { "void g(int v) { .out = v; return; } g(5); .out;", 5 },
    { "int h() { return 7; } h() * 2;", 0xe },
    { "int twice(int v) { return v * 2; } twice(twice(3));", 0xc },
    { "int k(int v) { x = 100; return v; } x = 1; k(2); x;", 1 }, /* locals per call */
    /* interlocked on globals */
    { "interlocked_increment(&.c); interlocked_increment(&.c);", 2 },
    { ".c = 5; interlocked_decrement(&.c);", 4 },
    { ".c = 5; interlocked_exchange(&.c, 9);", 5 }, { ".c = 5; interlocked_exchange(&.c, 9); .c;", 9 },
    { ".c = 5; interlocked_exchange_add(&.c, 2);", 5 }, { ".c = 5; interlocked_exchange_add(&.c, 2); .c;", 7 },
    { ".c = 5; interlocked_compare_exchange(&.c, 9, 5);", 5 },
    { ".c = 5; interlocked_compare_exchange(&.c, 9, 5); .c;", 9 },
    { ".c = 5; interlocked_compare_exchange(&.c, 9, 4); .c;", 5 },
    /* memory writes */
    { "eq(8008, 1122); dq(8008);", 0x1122 }, { "eb(8010, 41); db(8010);", 0x41 }, { "ed(8018, 12345678); dd(8018);", 0x12345678 },
    { "eq(8020, 1);", 1 }, { "eq(9000, 1);", 0 }, { "*8028 = 77; dq(8028);", 0x77 },
    /* comments */
    { "/* a */ 1 + // b\n 2;", 3 },
};

static void expression_values(void **state)
{
    size_t i;
    uint64_t r;

    (void)state;
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        memset(g_globals, 0, sizeof(g_globals));
        hv_status_t st = run_src(values[i].src, &r, NULL);
        if (st != HV_STATUS_SUCCESS)
            fail_msg("'%s': run status %s", values[i].src, hv_status_name(st));
        if (r != values[i].value)
            fail_msg("'%s' = 0x%llx, expected 0x%llx", values[i].src, (unsigned long long)r,
                     (unsigned long long)values[i].value);
    }
    printf("%zu expression/value cases\n", i);
}

struct out_case {
    const char *src;
    const char *out;
};

static const struct out_case outputs[] = {
    { "printf(\"%d\", 0n42);", "42" }, { "printf(\"%d\", -1);", "-1" }, { "printf(\"%u\", -1);", "4294967295" },
    { "printf(\"%llu\", -1);", "18446744073709551615" }, { "printf(\"%lld\", -2);", "-2" },
    { "printf(\"%x\", 1234abcd);", "1234abcd" }, { "printf(\"%X\", abc);", "ABC" },
    { "printf(\"%llx\", fffff8031d44fde0);", "fffff8031d44fde0" }, { "printf(\"%x\", 123456789);", "23456789" },
    { "printf(\"%lx\", 123456789);", "23456789" }, { "printf(\"%hx\", 12345);", "2345" },
    { "printf(\"%hhx\", 1ff);", "ff" }, { "printf(\"%o\", 8);", "10" }, { "printf(\"%c\", 41);", "A" },
    { "printf(\"%p\", 1234);", "0000000000001234" }, { "printf(\"%%\");", "%" },
    { "printf(\"%8x|\", ab);", "      ab|" }, { "printf(\"%08x\", ab);", "000000ab" },
    { "printf(\"%-6d|\", 0n12);", "12    |" }, { "printf(\"%5d\", -0n3);", "   -3" }, { "printf(\"%05d\", -0n3);", "-0003" },
    { "printf(\"%s\", 7100);", "hello" }, { "printf(\"%s!\", \"lit%\");", "lit%!" }, { "printf(\"%ws\", 7300);", "hey" },
    { "printf(\"%ls\", 7300);", "hey" }, { "printf(\"a\\tb\\n\");", "a\tb\n" }, { "printf(\"\\x41\");", "A" },
    { "printf(\"%I64x\", 1ffffffff);", "1ffffffff" }, { "printf(\"%i\", 0n7);", "7" },
    { "print(1234);", "1234\n" }, { "print(dq(7000));", "1122334455667788\n" },
    { "printf(\"pid=%llx core=%d\", $pid, $core);", "pid=490 core=1" },
    { "printf(\"%d %d %d\", 1, 2, 3);", "1 2 3" }, { "printf(\"%s %s\", \"a\", 7100);", "a hello" },
    { "for (i = 0; i < 3; i++) { printf(\"%d\", i); }", "012" },
    { "void my_func(int v1, int v2) { printf(\"v1 = %d, v2 = %d\\n\", v1, v2); return; printf(\"never\"); } for (int i = 0; i < 2; i++) { my_func(1, 2); }",
      "v1 = 1, v2 = 2\nv1 = 1, v2 = 2\n" },
    { "if (strcmp(7100, \"hello\") == 0) { printf(\"match\"); }", "match" },
    { "if (eq(8000, 0x12345678deadbeef) == 1) { printf(\"applied\"); } else { printf(\"not\"); }", "applied" },
};

static void printf_outputs(void **state)
{
    size_t i;
    uint64_t r;

    (void)state;
    for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
        hv_status_t st = run_src(outputs[i].src, &r, NULL);
        if (st != HV_STATUS_SUCCESS)
            fail_msg("'%s': run status %s", outputs[i].src, hv_status_name(st));
        if (strcmp(g_out, outputs[i].out) != 0)
            fail_msg("'%s' printed '%s', expected '%s'", outputs[i].src, g_out, outputs[i].out);
    }
    printf("%zu printf cases\n", i);
}

struct err_case {
    const char *src;
    uint32_t line, column;
    const char *token;
    const char *msg;   /* a part of the message */
};

static const struct err_case errors[] = {
    { "x = @foo;", 1, 5, "@foo", "unknown register '@foo'" },
    { "x = @cr3;", 1, 5, "@cr3", "not available" },
    { "x = $nope;", 1, 5, "$nope", "unknown pseudo-register '$nope'" },
    { "x = $peb;", 1, 5, "$peb", "not available" },
    { "x = frob(1);", 1, 5, "frob", "unknown function 'frob'" },
    { "x = memcpy(1, 2, 3);", 1, 5, "memcpy", "not available" },
    { "\n  y = zz + 1;", 2, 7, "zz", "unknown variable 'zz'" },
    { "x = 1", 1, 6, "", "expected ';'" },
    { "x = (1 + 2;", 1, 11, ";", "expected ')'" },
    { "if (1) { x = 1;", 1, 16, "", "expected '}'" },
    { "x = 0n12a;", 1, 5, "0n12a", "not a decimal digit" },
    { "x = 0y102;", 1, 5, "0y102", "not a binary digit" },
    { "x = 0t8;", 1, 5, "0t8", "not an octal digit" },
    { "x = 1ffffffffffffffff;", 1, 5, "1ffffffffffffffff", "64 bits" },
    { "x = \"abc;", 1, 5, "\"abc;", "not closed" },
    { "x = 1 # 2;", 1, 7, "#", "unexpected character" },
    { "break;", 1, 1, "break", "outside a loop" },
    { "printf(\"%d %d\", 1);", 1, 18, ")", "2 conversion(s) but 1 argument(s)" },
    { "printf(\"%f\", 1);", 1, 15, ")", "unsupported conversion" },
    { "float f = 1;", 1, 1, "float", "floating point" },
    { "interlocked_increment(5);", 1, 23, "5", "&.name" },
    { "x = printf(\"a\");", 1, 5, "printf", "gives no value" },
    { "ab = 1;", 1, 1, "ab", "is a number" },
    { "", 1, 1, "", "empty" },
    { "/* open", 1, 1, "/*", "not closed" },
    { "int f(int n1) { return n1; } f(1, 2);", 1, 30, "f", "takes 1 argument(s), not 2" },
    { "}", 1, 1, "}", "without a matching" },
    { "x = 1;\ny = 2;\nz = @rzx;", 3, 5, "@rzx", "unknown register" },
    { "x = \"s\";", 1, 5, "\"s\"", "can only be an argument" },
    { "x = 1`;", 1, 5, "1`", "separator" },
};

static void compile_errors_name_position_and_token(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        struct hv_script_error e;
        uint8_t *p = NULL;
        uint32_t len;
        char text[400];
        hv_status_t st = hv_script_compile(errors[i].src, 0, &p, &len, &e);

        hv_script_error_format(&e, text, sizeof(text));
        if (st != HV_STATUS_SCRIPT_INVALID)
            fail_msg("'%s' compiled", errors[i].src);
        if (e.line != errors[i].line || e.column != errors[i].column || strcmp(e.token, errors[i].token) != 0 ||
            strstr(e.message, errors[i].msg) == NULL)
            fail_msg("'%s': got %s; expected line %u column %u token '%s' with '%s'", errors[i].src, text,
                     errors[i].line, errors[i].column, errors[i].token, errors[i].msg);
        assert_null(p);
    }
    printf("%zu error cases\n", i);
}

/* The lexer: kinds, values, positions. */
static void lexer_tokens(void **state)
{
    struct hv_script_lexer lx;
    struct hv_script_token t;
    static const struct { enum hv_script_tok kind; const char *text; uint64_t value; uint32_t line, col; } want[] = {
        { HV_STOK_GLOBAL, "cnt", 0, 1, 1 }, { HV_STOK_PUNCT, "+=", 0, 1, 6 }, { HV_STOK_NUMBER, "0n10", 10, 1, 9 },
        { HV_STOK_PUNCT, ";", 0, 1, 13 }, { HV_STOK_REGISTER, "rax", 0, 2, 1 }, { HV_STOK_PUNCT, "<<=", 0, 2, 6 },
        { HV_STOK_PSEUDO, "pid", 0, 2, 10 }, { HV_STOK_IDENT, "name_1", 0, 3, 3 },
        { HV_STOK_NUMBER, "beef", 0xbeef, 3, 10 }, { HV_STOK_STRING, "a\"b\n", 0, 3, 15 }, { HV_STOK_EOF, "", 0, 3, 24 },
    };
    size_t i;

    (void)state;
    hv_script_lex_init(&lx, ".cnt += 0n10;\n@rax <<= $pid\n  name_1 beef \"a\\\"b\\n\" // c");
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        hv_script_lex_next(&lx, &t);
        assert_int_equal(t.kind, want[i].kind);
        if (t.kind != HV_STOK_EOF)
            assert_string_equal(t.text, want[i].text);
        if (t.kind == HV_STOK_NUMBER)
            assert_int_equal(t.value, want[i].value);
        assert_int_equal(t.line, want[i].line);
        if (t.kind != HV_STOK_EOF)
            assert_int_equal(t.column, want[i].col);
    }
}

/* An endless loop ends with a counted budget record, not a hang. */
static void endless_loop_hits_the_budget(void **state)
{
    uint64_t r;
    struct hv_script_env env;
    uint8_t *p;
    uint32_t len;

    (void)state;
    assert_int_equal(run_src("while (1) { .n = .n + 1; }", &r, &env), HV_STATUS_SCRIPT_BUDGET_EXHAUSTED);
    assert_int_equal(env.end, HV_SCRIPT_END_BUDGET);
    assert_int_equal(env.executed, HV_SCRIPT_DEFAULT_BUDGET);
    assert_int_equal(g_status_count, 1);
    assert_int_equal(g_status.reason, HV_SCRIPT_END_BUDGET);
    assert_int_equal(g_status.executed, HV_SCRIPT_DEFAULT_BUDGET);
    /* A configured budget. */
    assert_int_equal(hv_script_compile("for (;;) { }", 500, &p, &len, NULL), 0);
    {
        struct hv_script s;
        assert_int_equal(hv_script_bind(&s, p, len, &g_scratch, g_names), 0);
        assert_int_equal(s.info.budget, 500);
    }
    free(p);
}

/* Run-time errors: a record that says which, the run stops there. */
static void runtime_errors_are_records(void **state)
{
    uint64_t r;
    struct hv_script_env env;

    (void)state;
    assert_int_equal(run_src("printf(\"before\"); x = dq(9000); printf(\"after\");", &r, &env),
                     HV_STATUS_GUEST_PAGE_NOT_PRESENT);
    assert_string_equal(g_out, "before");
    assert_int_equal(g_status.reason, HV_SCRIPT_END_ERROR);
    assert_int_equal(g_status.error, HV_SCRIPT_ERR_MEMORY);
    assert_int_equal(g_status.address, 0x9000);
    assert_int_equal(g_status.status, HV_STATUS_GUEST_PAGE_NOT_PRESENT);
    assert_int_equal(run_src("x = 1 / 0;", &r, &env), HV_STATUS_SCRIPT_RUNTIME_ERROR);
    assert_int_equal(g_status.error, HV_SCRIPT_ERR_DIVIDE);
    assert_int_equal(run_src("x = 0; y = 5 % x;", &r, &env), HV_STATUS_SCRIPT_RUNTIME_ERROR);
    assert_int_equal(run_src("printf(\"%s\", 0xffff800000000000);", &r, &env), HV_STATUS_GUEST_PAGE_NOT_PRESENT);
    assert_int_equal(run_src("x = dq(0x800000000000);", &r, &env), HV_STATUS_GUEST_ADDRESS_NONCANONICAL);
    assert_int_equal(run_src("int d(int n) { return d(n + 1); } d(0);", &r, &env), HV_STATUS_SCRIPT_RUNTIME_ERROR);
    assert_int_equal(g_status.error, HV_SCRIPT_ERR_DEPTH);
    /* A page the host cannot read (an MMIO hole). */
    hv_mock_gmem_set_fault(0x6000, true);
    assert_int_equal(run_src("x = db(8000);", &r, &env), HV_STATUS_ACCESS_VIOLATION);
}

static void pause_and_events(void **state)
{
    uint64_t r;
    struct hv_script_env env;

    (void)state;
    assert_int_equal(run_src("pause(); printf(\"on\");", &r, &env), 0);
    assert_int_equal(g_status.reason, HV_SCRIPT_END_PAUSE);
    assert_string_equal(g_out, "on");
    g_ev_calls = 0;
    assert_int_equal(run_src("event_disable(3); event_enable(4);", &r, &env), 0);
    assert_int_equal(g_ev_calls, 2);
    assert_int_equal(g_ev_id, 4);
    assert_true(g_ev_en);
    assert_int_equal(run_src("@rip = 0x1000; @rflags = 0x202;", &r, &env), 0);
    assert_true(env.rip_changed && env.rflags_changed);
    assert_int_equal(env.rip, 0x1000);
}

/* Globals are shared by name between programs bound to the same table. */
static void globals_bind_by_name(void **state)
{
    uint64_t r;

    (void)state;
    memset(g_globals, 0, sizeof(g_globals));
    assert_int_equal(run_src(".a = 1; .shared = 0x77;", &r, NULL), 0);
    assert_int_equal(run_src(".shared;", &r, NULL), 0);
    assert_int_equal(r, 0x77);
}

/* The verifier refuses malformed programs (hand-made bytecode). */
static void verifier_refuses_bad_programs(void **state)
{
    uint8_t prog[256];
    struct hv_script_header h;
    const char *why;
    uint32_t where;
    static const struct { uint8_t code[12]; uint32_t len; const char *why; } bad[] = {
        { { 0xEE }, 1, "unknown opcode" },
        { { HV_SOP_PUSHK, 0 }, 2, "operands run past" },
        { { HV_SOP_JMP, 0x50, 0 }, 3, "jump target" },
        { { HV_SOP_JMP, 2, 0 }, 3, "jump target" },            /* into the operand */
        { { HV_SOP_ADD }, 1, "stack underflow" },
        { { HV_SOP_PUSHI, 1, HV_SOP_JMP, 0, 0 }, 5, "differs" }, /* loop with a growing stack */
        { { HV_SOP_REG, 30 }, 2, "unknown register" },
        { { HV_SOP_PSEUDO, 0 }, 2, "pseudo" },
        { { HV_SOP_LOCAL, 0 }, 2, "local index" },
        { { HV_SOP_GLOBAL, 0 }, 2, "global index" },
        { { HV_SOP_LOAD, 3 }, 2, "load kind" },
        { { HV_SOP_PUSHI, 1, HV_SOP_PUSHI, 2, HV_SOP_RET, HV_SOP_CALL, 2, 0, 0 }, 9, "differ" },
        { { HV_SOP_PUSHK, 0, 0 }, 3, "constant index" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&h, 0, sizeof(h));
        h.magic = HV_SCRIPT_MAGIC;
        h.version = HV_SCRIPT_VERSION;
        h.code_len = bad[i].len;
        memcpy(prog, &h, sizeof(h));
        memcpy(prog + sizeof(h), bad[i].code, bad[i].len);
        if (hv_script_verify(prog, (uint32_t)sizeof(h) + bad[i].len, &g_scratch, NULL, &why, &where) !=
            HV_STATUS_SCRIPT_INVALID)
            fail_msg("bad program %zu accepted", i);
        if (strstr(why, bad[i].why) == NULL)
            fail_msg("case %zu: '%s', expected '%s'", i, why, bad[i].why);
    }
    /* A stack deeper than the limit. */
    memset(&h, 0, sizeof(h));
    h.magic = HV_SCRIPT_MAGIC;
    h.version = HV_SCRIPT_VERSION;
    h.code_len = 2 * (HV_SCRIPT_MAX_STACK + 1);
    memcpy(prog, &h, sizeof(h));
    for (i = 0; i <= HV_SCRIPT_MAX_STACK; i++) {
        prog[sizeof(h) + 2 * i] = HV_SOP_PUSHI;
        prog[sizeof(h) + 2 * i + 1] = 1;
    }
    assert_int_equal(hv_script_verify(prog, (uint32_t)sizeof(h) + h.code_len, &g_scratch, NULL, &why, &where),
                     HV_STATUS_SCRIPT_INVALID);
    assert_non_null(strstr(why, "deeper"));
    /* Wrong magic / length. */
    prog[0] ^= 1;
    assert_int_equal(hv_script_verify(prog, (uint32_t)sizeof(h) + h.code_len, &g_scratch, NULL, &why, &where),
                     HV_STATUS_SCRIPT_INVALID);
    assert_int_equal(hv_script_verify(prog, 3, &g_scratch, NULL, &why, &where), HV_STATUS_SCRIPT_INVALID);
}

static void legacy_format_strings_are_recognized(void **state)
{
    (void)state;
    assert_true(hv_script_is_legacy_format("$pid $core"));
    assert_true(hv_script_is_legacy_format("pid=$pid"));
    assert_false(hv_script_is_legacy_format("printf(\"%x\", $pid);"));
    assert_false(hv_script_is_legacy_format("x = 1;"));
}

/* `?` (hv_script_eval): the script runs once in VMX root on the asked core
 * with the caller's registers at its VMCALL; it may change its copy of them
 * but never the caller's (they are the kernel's own at that VMCALL). */
static void eval_runs_once_and_leaves_the_callers_registers(void **state)
{
    struct hv *hv;
    struct hv_vcpu *v;
    struct hv_script_eval_result *out = calloc(1, sizeof(*out));
    struct hv_script_error err;
    uint8_t *prog = NULL;
    uint32_t len = 0;

    (void)state;
    assert_non_null(out);
    hv = support_start_hv();
    hv_mock_cpu_bind(0);
    v = hv_mock_current_vcpu();
    v->gprs.r[HV_GPR_RBX] = 0x1234;
    v->gprs.r[HV_GPR_R15] = 0x5678;
    assert_int_equal(hv_script_compile("printf(\"rbx=%llx core=%x\\n\", @rbx, $core); @rbx = 5; @r15 = 0; "
                                       "@rflags = 0; @rbx + 1;",
                                       0, &prog, &len, &err), HV_STATUS_SUCCESS);
    assert_int_equal(hv_script_eval(hv, 0, prog, len, out), HV_STATUS_SUCCESS);
    assert_int_equal(out->status, HV_STATUS_SUCCESS);
    assert_int_equal(out->result, 6);
    assert_string_equal(out->text, "rbx=1234 core=0\n");
    /* The caller's registers are as they were. */
    assert_int_equal(v->gprs.r[HV_GPR_RBX], 0x1234);
    assert_int_equal(v->gprs.r[HV_GPR_R15], 0x5678);
    /* An endless loop ends with the budget, reported. */
    free(prog);
    assert_int_equal(hv_script_compile("while (1) {}", 0, &prog, &len, &err), HV_STATUS_SUCCESS);
    assert_int_equal(hv_script_eval(hv, 0, prog, len, out), HV_STATUS_SUCCESS);
    assert_int_equal(out->status, HV_STATUS_SCRIPT_BUDGET_EXHAUSTED);
    assert_int_equal(out->end, HV_SCRIPT_END_BUDGET);
    assert_int_equal(out->executed, HV_SCRIPT_DEFAULT_BUDGET);
    /* Bad input: a core that does not exist, a program the verifier refuses. */
    assert_int_equal(hv_script_eval(hv, 7, prog, len, out), HV_STATUS_INVALID_PARAMETER);
    prog[0] ^= 0xFF;
    assert_int_equal(hv_script_eval(hv, 0, prog, len, out), HV_STATUS_SCRIPT_INVALID);
    free(prog);
    free(out);
    support_stop_hv(hv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lexer_tokens),
        cmocka_unit_test_setup_teardown(expression_values, setup, teardown),
        cmocka_unit_test_setup_teardown(printf_outputs, setup, teardown),
        cmocka_unit_test(compile_errors_name_position_and_token),
        cmocka_unit_test_setup_teardown(endless_loop_hits_the_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(runtime_errors_are_records, setup, teardown),
        cmocka_unit_test_setup_teardown(pause_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(globals_bind_by_name, setup, teardown),
        cmocka_unit_test(verifier_refuses_bad_programs),
        cmocka_unit_test(legacy_format_strings_are_recognized),
        cmocka_unit_test_setup_teardown(eval_runs_once_and_leaves_the_callers_registers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
