/*
 * hvctl: the libhvcore command-line client.
 *
 *   hvctl [--target T] COMMAND...      run one command
 *   hvctl [--target T] -f FILE         run a script (one command a line)
 *   hvctl [--target T]                 interactive prompt (history, `help`)
 *   hvctl serve [--listen HOST:PORT] [--key FILE] [--cores N]   the TCP stub over a simulator
 *   hvctl keygen FILE                  a new key file (mode 0600) for serve / tcp
 *
 * Targets: local (/dev/hvcore, the default), sim:cores=N, tcp:HOST:PORT[,key=FILE]
 * (or the key file named by HVCORE_KEY_FILE).
 */
#define _GNU_SOURCE
#include <hvcore/abi_exec.h>
#include <hvcore/client/cmd.h>
#include <hvcore/client/code_check.h>
#include <hvcore/client/dbglink.h>
#include <hvcore/debugger.h>
#include <hvcore/testing/dbg_sim.h>
#include <hvcore/client/engine.h>
#include <hvcore/client/script.h>
#include <hvcore/client/output.h>
#include <hvcore/client/wire.h>
#include <hvcore/event.h>
#include <hvcore/msr.h>

#include "hvctl_dbg.h"
#include "hvctl_json.h"
#include "hvctl_trace.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef HVCTL_VERSION
#define HVCTL_VERSION "unknown"
#endif

#ifdef HVCTL_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

static volatile sig_atomic_t interrupted;
/* The session's event outputs (output create/open/close, !dr ... output {}). */
static struct hv_output_set *g_outs;
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* fffff807`73553180, as the seeds print 64-bit values. */
static const char *hex64(uint64_t v, char *buf)
{
    if (v >> 32)
        sprintf(buf, "%08x`%08x", (unsigned)(v >> 32), (unsigned)v);
    else
        sprintf(buf, "%08x", (unsigned)v);
    return buf;
}

/* The last failure in words, for the message naming a mismatched line. */
static char g_why[320];

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void why(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(g_why, sizeof(g_why), fmt, ap);
    va_end(ap);
}

static void print_status_line(const char *what, hv_status_t st)
{
    printf("%s: %s (0x%08x)\n", what, hv_status_name(st), st);
    if (!hv_success(st))
        why("%s: %s (0x%08x)", what, hv_status_name(st), st);
}

/* For hvctl_dbg.c. */
void hvctl_why(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(g_why, sizeof(g_why), fmt, ap);
    va_end(ap);
}

void hvctl_status_line(const char *what, hv_status_t st)
{
    print_status_line(what, st);
}

/* An interactive session: `g` waits for the next stop. */
static bool g_interactive;

/* The line being run, for hints that quote what was typed. */
static const char *g_line = "";

/* Numbers are hex: when `v` was typed as a decimal-looking token ("10",
 * not "0x10" or "0n10"), say what it was read as. "" otherwise. */
static const char *decimal_hint(uint64_t v, char *buf, size_t cap)
{
    char t[24];
    const char *at = g_line;
    size_t n;

    n = (size_t)snprintf(t, sizeof(t), "%llx", (unsigned long long)v);
    buf[0] = '\0';
    if (v < 10 || strspn(t, "0123456789") != n)
        return buf;
    while ((at = strstr(at, t)) != NULL) {
        bool starts = at == g_line || strchr(" \t{", at[-1]) != NULL;
        bool ends = at[n] == '\0' || strchr(" \t}", at[n]) != NULL;

        if (starts && ends) {
            snprintf(buf, cap, " (numbers are hex: '%s' is 0x%s = %llu; write 0n%s for decimal %s)", t, t,
                     (unsigned long long)v, t, t);
            break;
        }
        at += n;
    }
    return buf;
}

/* "core 0x99 does not exist: this machine has 4 cores (0-3)" before any
 * request goes out. */
static bool core_exists(struct hv_engine *e, const char *what, uint32_t core);

bool hvctl_core_exists(struct hv_engine *e, const char *what, uint32_t core)
{
    return core_exists(e, what, core);
}

const char *hvctl_hex64(uint64_t v, char *buf)
{
    return hex64(v, buf);
}

static bool core_exists(struct hv_engine *e, const char *what, uint32_t core)
{
    uint32_t n = hv_engine_cpu_count(e);
    char hint[160];

    if (core < n)
        return true;
    decimal_hint(core, hint, sizeof(hint));
    printf("%s: core 0x%x does not exist: this machine has %u core%s (0-%x)%s\n", what, core, n, n == 1 ? "" : "s",
           n ? n - 1 : 0, hint);
    why("core 0x%x does not exist: this machine has %u core%s (0-%x)%s", core, n, n == 1 ? "" : "s", n ? n - 1 : 0,
        hint);
    return false;
}

static const char *route_name(uint32_t r)
{
    return r == 1 ? " (VMCS guest field)" : r == 2 ? " (virtual copy)" : "";
}

/* ---- commands ----------------------------------------------------------------- */

/* Returns an enum outcome: every target core succeeded (OK), every one
 * failed or none ran (FAILED), or some of each (PARTIAL). */
static int do_msr(struct hv_engine *e, const struct hv_cmd *c)
{
    uint32_t cap = hv_engine_cpu_count(e), n = 0, i, bad = 0;
    struct hv_abi_msr_result *r = calloc(cap ? cap : 1, sizeof(*r));
    char a[24], b[24], cores[160] = "";
    size_t o = 0;
    hv_status_t st, first = HV_STATUS_SUCCESS;
    bool same = true;

    if (r == NULL) {
        why("out of memory");
        return OUT_FAILED;
    }
    if (c->core != HV_ALL_CORES && !core_exists(e, c->kind == HV_CMD_WRMSR ? "wrmsr" : "rdmsr", c->core)) {
        free(r);
        return OUT_FAILED;
    }
    if (c->kind == HV_CMD_WRMSR)
        st = hv_engine_msr_write(e, c->core, c->msr, c->value, r, cap, &n);
    else
        st = hv_engine_msr_read(e, c->core, c->msr, r, cap, &n);
    if (n == 0) {
        print_status_line(c->kind == HV_CMD_WRMSR ? "wrmsr" : "rdmsr", hv_success(st) ? HV_STATUS_INTERNAL_ERROR : st);
        free(r);
        return OUT_FAILED;
    }
    for (i = 0; i < n; i++) {
        if (hj_on())
            hj_msr(c->kind == HV_CMD_WRMSR ? "wrmsr" : "rdmsr", &r[i], c->msr);
        if (!hv_success(r[i].status)) {
            if (bad++ == 0)
                first = r[i].status;
            else if (r[i].status != first)
                same = false;
            if (o < sizeof(cores))
                o += (size_t)snprintf(cores + o, sizeof(cores) - o, "%s%x", bad > 1 ? ", " : "", r[i].core);
            printf("core : %x - msr[%x]: %s (0x%08x)%s\n", r[i].core, c->msr, hv_status_name(r[i].status),
                   r[i].status, r[i].status == HV_STATUS_EXCEPTION_GENERAL_PROTECTION ? ", the CPU raised #GP" : "");
        } else if (c->kind == HV_CMD_RDMSR) {
            printf("core : %x - msr[%x] = %s%s\n", r[i].core, c->msr, hex64(r[i].value, a), route_name(r[i].route));
        } else {
            printf("core : %x - msr[%x] <- %s%s\n", r[i].core, c->msr, hex64(r[i].value, b), route_name(r[i].route));
        }
    }
    free(r);
    if (bad == 0)
        return OUT_OK;
    if (bad == n) {
        if (n == 1)
            why("%s (0x%08x) on core %s", hv_status_name(first), first, cores);
        else
            why("%s on each of the %u cores", same ? hv_status_name(first) : "errors", n);
        return OUT_FAILED;
    }
    why("%s on core%s %s; %u of the %u cores succeeded", same ? hv_status_name(first) : "errors", bad > 1 ? "s" : "",
        cores, n - bad, n);
    return OUT_PARTIAL;
}

/* ? [core N] {script}: compile here, run once on the target's core, show the output. */
static int do_eval(struct hv_engine *e, const struct hv_cmd *c)
{
    struct hv_script_error serr;
    struct hv_script_eval_result *r;
    uint8_t *prog = NULL;
    uint32_t plen = 0;
    hv_status_t st;
    int rc = 0;

    if (!core_exists(e, "?", c->core))
        return 1;
    if (!hv_success(hv_script_compile(c->script, 0, &prog, &plen, &serr))) {
        char msg[400];

        hv_script_error_format(&serr, msg, sizeof(msg));
        printf("script error: %s\n", msg);
        why("script error: %s", msg);
        return 1;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        free(prog);
        return 1;
    }
    st = hv_engine_script_eval(e, c->core, prog, plen, r);
    free(prog);
    if (!hv_success(st)) {
        print_status_line("?", st);
        free(r);
        return 1;
    }
    if (r->text_len)
        printf("%s%s", r->text, r->text[r->text_len - 1] == '\n' ? "" : "\n");
    if (r->status == HV_STATUS_SUCCESS) {
        printf("= %llx (core %u, %llu instructions)\n", (unsigned long long)r->result, c->core,
               (unsigned long long)r->executed);
    } else {
        struct hv_msg_script_status m = { r->end, r->error, r->status, r->pc, r->executed, r->address };
        char t[200];

        printf("script %s\n", hv_output_script_status_text(&m, t, sizeof(t)));
        why("script %s", t);
        rc = 1;
    }
    free(r);
    return rc;
}

/* HyperDbg's convention: the bytes are the body, a ret is appended. */
static int show_code(const char *what, const uint8_t *body, uint32_t len, enum hv_code_kind kind, uint8_t *code,
                     size_t *code_len)
{
    struct hv_code_report rep;
    char dis[32768];

    if (!hv_success(hv_code_prepare(body, len, kind, code, HV_EVENT_MAX_CODE, code_len, &rep))) {
        printf("%s refused: %s\n", what, rep.message);
        why("%s refused: %s", what, rep.message);
        return 1;
    }
    hv_code_disassemble_prepared(code, *code_len, len, dis, sizeof(dis));
    printf("%s (%u byte%s + ret, %u instructions):\n%s", what, len, len == 1 ? "" : "s", rep.instructions, dis);
    return 0;
}

static int do_dr(struct hv_engine *e, const struct hv_cmd *c)
{
    struct hv_engine_event ev = { .pid = c->pid, .core = c->dr_core, .imm = c->imm,
                                  .buffer_size = c->buffer_size };
    static uint8_t code[HV_EVENT_MAX_CODE], cond[HV_EVENT_MAX_CODE];
    size_t code_len = 0, cond_len = 0;
    const char *names[HV_OUTPUT_MAX_PER_EVENT];
    char p[24], err[256], outs[360];
    uint32_t id = 0, i;
    hv_status_t st;

    if (c->dr_core != HV_EVENT_ANY_CORE && !core_exists(e, "!dr", c->dr_core))
        return 1;
    if (c->condition_len) {
        if (show_code("condition", c->condition, c->condition_len, HV_CODE_CONDITION, cond, &cond_len))
            return 1;
        ev.condition = cond;
        ev.condition_len = (uint32_t)cond_len;
    }
    if (c->code_len) {
        if (show_code("code", c->code, c->code_len, HV_CODE_ACTION, code, &code_len))
            return 1;
        ev.code = code;
        ev.code_len = (uint32_t)code_len;
    }
    if (c->has_script) {
        uint8_t *prog = NULL;
        uint32_t plen = 0;
        struct hv_script_error serr;

        /* Compiled here to show a compile error; the engine compiles again. */
        if (!hv_success(hv_script_compile(c->script, 0, &prog, &plen, &serr))) {
            char msg[400];

            if (!hv_script_is_legacy_format(c->script)) {
                hv_script_error_format(&serr, msg, sizeof(msg));
                printf("script error: %s\n", msg);
                why("script error: %s", msg);
                return 1;
            }
            printf("note: '%s' is a format string of older hvctl versions; it still works, but as a script "
                   "it reads: printf(\"...\", $pid, ...);\n", c->script);
        }
        free(prog);
        ev.script = c->script;
    }
    /* !dr with no action breaks on every access. */
    ev.action_break = !c->code_len && !c->has_script;
    /* Forwarding: every named output must exist before the event is added. */
    for (i = 0; i < c->output_count; i++)
        names[i] = c->outputs[i];
    if (!hv_success(hv_output_resolve(g_outs, names, c->output_count, err, sizeof(err)))) {
        printf("!dr refused: %s\n", err);
        why("!dr refused: %s", err);
        return 1;
    }
    st = hv_engine_event_add(e, &ev, &id);
    if (!hv_success(st)) {
        print_status_line("!dr", st);
        return 1;
    }
    if ((c->output_count || c->output_console) &&
        !hv_success(hv_output_bind(g_outs, id, names, c->output_count, c->output_console, err, sizeof(err)))) {
        printf("!dr: cannot forward event %u (%s): removed it again\n", id, err);
        why("!dr: cannot forward event %u: %s", id, err);
        (void)hv_engine_event_ctl(e, HV_ABI_EVENT_REMOVE, id);
        return 1;
    }
    outs[0] = '\0';
    if (hv_output_bindings(g_outs, id, outs + 10, sizeof(outs) - 12) > 0) {
        memcpy(outs, ", output {", 10);
        strcat(outs, "}");
    }
    if (id & HV_DBG_QUEUED_EVENT_FLAG) {
        /* Debugger Mode: the target adds it at `g`; its id comes then. */
        hvctl_dbg_queued();
        printf("queued (applies at g): !dr pid %s core %s imm %s%s%s%s%s%s\n",
               c->pid_all ? "all" : c->pid == HV_EVENT_ANY_PID ? "any" : (sprintf(p, "%llx", (unsigned long long)c->pid), p),
               c->dr_core == HV_EVENT_ANY_CORE ? "any" : (sprintf(p + 12, "%x", c->dr_core), p + 12),
               c->imm ? "yes" : "no", ev.action_break ? ", action break" : "", c->code_len ? ", action code" : "",
               c->has_script ? ", action script" : "", c->condition_len ? ", with condition" : "", outs);
        return 0;
    }
    if (hj_on()) {
        char jp[24], jc[16];

        snprintf(jp, sizeof(jp), c->pid_all ? "all" : c->pid == HV_EVENT_ANY_PID ? "any" : "0x%llx",
                 (unsigned long long)c->pid);
        snprintf(jc, sizeof(jc), c->dr_core == HV_EVENT_ANY_CORE ? "any" : "%u", c->dr_core);
        hj_event_added(id, jp, jc, c->imm, ev.action_break, c->code_len != 0, c->has_script, c->condition_len != 0,
                       outs[0] ? outs + 10 : "");
    }
    printf("event %u: !dr pid %s core %s imm %s%s%s%s%s%s\n", id,
           c->pid_all ? "all" : c->pid == HV_EVENT_ANY_PID ? "any" : (sprintf(p, "%llx", (unsigned long long)c->pid), p),
           c->dr_core == HV_EVENT_ANY_CORE ? "any" : (sprintf(p + 12, "%x", c->dr_core), p + 12),
           c->imm ? "yes" : "no", ev.action_break ? ", action break" : "", c->code_len ? ", action code" : "",
           c->has_script ? ", action script" : "", c->condition_len ? ", with condition" : "", outs);
    return 0;
}

/* "event 0x77 does not exist: the events are 1, 2 (numbers are hex...)" */
static void no_such_event(struct hv_engine *e, uint32_t id)
{
    struct hv_abi_event_info info[64];
    char ids[200] = "", hint[160];
    uint32_t n = 0, i;
    size_t o = 0;

    if (hv_success(hv_engine_event_list(e, info, 64, &n)))
        for (i = 0; i < n && i < 64 && o + 16 < sizeof(ids); i++)
            o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s%x", i ? ", " : "", info[i].id);
    if (n > 64 && o + 8 < sizeof(ids))
        snprintf(ids + o, sizeof(ids) - o, ", ...");
    decimal_hint(id, hint, sizeof(hint));
    printf("event 0x%x does not exist: %s%s%s ('events' lists them)\n", id, n ? "the events are " : "there are no events",
           ids, hint);
    why("event 0x%x does not exist: %s%s%s", id, n ? "the events are " : "there are no events", ids, hint);
}

static int do_events(struct hv_engine *e, const struct hv_cmd *c)
{
    struct hv_abi_event_info info[256];
    uint32_t n = 0, i;
    hv_status_t st;

    if (c->kind == HV_CMD_EVENTS_CTL) {
        uint32_t op = c->op == 'e' ? HV_ABI_EVENT_ENABLE : c->op == 'd' ? HV_ABI_EVENT_DISABLE : HV_ABI_EVENT_REMOVE;

        st = hv_engine_event_ctl(e, op, c->id);
        if (hv_success(st) && hv_engine_debugger(e)) {
            char idt[16];

            snprintf(idt, sizeof(idt), c->id == HV_CMD_ALL_EVENTS ? "all" : "%x", c->id);
            hvctl_dbg_queued();
            printf("%s %s: queued (applies at g)\n", c->op == 'e' ? "enable" : c->op == 'd' ? "disable" : "clear",
                   idt);
            return 0;
        }
        if (hj_on())
            hj_event_ctl(c->op == 'e' ? "enable" : c->op == 'd' ? "disable" : "clear", c->id, st);
        /* An unknown event gets one sentence naming the ones that exist, not a raw status line too. */
        if (st == HV_STATUS_NOT_FOUND && c->id != HV_CMD_ALL_EVENTS)
            no_such_event(e, c->id);
        else
            print_status_line(c->op == 'e' ? "enable" : c->op == 'd' ? "disable" : "clear", st);
        if (hv_success(st) && op == HV_ABI_EVENT_REMOVE)
            hv_output_unbind(g_outs, c->id == HV_CMD_ALL_EVENTS ? HV_OUTPUT_ALL_EVENTS : c->id);
        return hv_success(st) ? 0 : 1;
    }
    if (hv_engine_debugger(e)) {
        printf("events: Debugger Mode has no event list; changes made while halted (!dr, events e|d|c) are "
               "queued and applied at g, which shows their outcome\n");
        why("events: no event list in Debugger Mode");
        return 1;
    }
    st = hv_engine_event_list(e, info, 256, &n);
    if (!hv_success(st)) {
        print_status_line("events", st);
        return 1;
    }
    if (n == 0)
        printf("no events\n");
    for (i = 0; i < n && i < 256; i++) {
        char pid[24], core[16], outs[320];

        snprintf(pid, sizeof(pid), info[i].pid == HV_EVENT_ANY_PID ? "any" : "%llx", (unsigned long long)info[i].pid);
        snprintf(core, sizeof(core), info[i].core == HV_EVENT_ANY_CORE ? "any" : "%x", info[i].core);
        printf("%4u  %-8s !dr pid %-8s core %-4s imm %-3s fired %llu%s%s%s", info[i].id,
               info[i].enabled ? "enabled" : "disabled", pid, core, info[i].imm ? "yes" : "no",
               (unsigned long long)info[i].fired, (info[i].actions >> 1) & 1 ? " break" : "",
               (info[i].actions >> 2) & 1 ? " code" : "", ((info[i].actions >> 3) | (info[i].actions >> 5)) & 1 ? " script" : "");
        outs[0] = '\0';
        if (hv_output_bindings(g_outs, info[i].id, outs, sizeof(outs)) > 0)
            printf(" output {%s}", outs);
        printf("\n");
        if (hj_on())
            hj_event(&info[i], outs);
    }
    return 0;
}

static void print_record(const struct hv_msg_record *r)
{
    char text[4096];
    size_t n = hv_output_format_text(r, text, sizeof(text));

    fwrite(text, 1, n < sizeof(text) ? n : sizeof(text) - 1, stdout);
}

/* The state of an output in words, by its type. */
static const char *output_state(const struct hv_output_info *o)
{
    if (o->state == HV_OUTPUT_CLOSED)
        return "closed";
    if (o->type == HV_OUTPUT_NAMEDPIPE)
        return o->state == HV_OUTPUT_READY ? "reader attached" : "waiting for a reader";
    if (o->type == HV_OUTPUT_TCP)
        return o->state == HV_OUTPUT_READY ? "connected" : "connecting";
    return "open";
}

static int do_output(const struct hv_cmd *c)
{
    struct hv_output_info *info;
    uint32_t n = 0, i;
    char err[256];
    hv_status_t st;

    switch (c->kind) {
    case HV_CMD_OUTPUT_CREATE:
        st = hv_output_create(g_outs, c->output_name, (enum hv_output_type)c->output_type, c->output_target,
                              (enum hv_output_format)c->output_format, err, sizeof(err));
        if (!hv_success(st))
            break;
        if (hj_on()) {
            struct hv_output_info *ji = malloc(sizeof(*ji));

            if (ji != NULL && hv_success(hv_output_query(g_outs, c->output_name, ji)))
                hj_output(ji, output_state(ji));
            free(ji);
        }
        printf("output %s: %s %s, %s (closed: 'output open %s' starts it)\n", c->output_name,
               hv_output_type_name((enum hv_output_type)c->output_type), c->output_target,
               hv_output_format_name((enum hv_output_format)c->output_format), c->output_name);
        return 0;
    case HV_CMD_OUTPUT_OPEN:
    case HV_CMD_OUTPUT_CLOSE:
        st = c->kind == HV_CMD_OUTPUT_OPEN ? hv_output_open(g_outs, c->output_name, err, sizeof(err))
                                           : hv_output_close(g_outs, c->output_name, err, sizeof(err));
        if (!hv_success(st))
            break;
        info = malloc(sizeof(*info));
        if (info == NULL || !hv_success(hv_output_query(g_outs, c->output_name, info))) {
            free(info);
            return 0;
        }
        if (hj_on())
            hj_output(info, output_state(info));
        if (c->kind == HV_CMD_OUTPUT_CLOSE)
            printf("output %s: closed (sent %llu, dropped %llu)\n", info->name, (unsigned long long)info->sent,
                   (unsigned long long)info->dropped);
        else if (info->state == HV_OUTPUT_READY)
            printf("output %s: %s, %s %s\n", info->name, output_state(info), hv_output_type_name(info->type),
                   info->target);
        else
            printf("output %s: %s on %s (%s); retrying in the background, messages for it are dropped and "
                   "counted meanwhile\n", info->name, output_state(info), info->target, info->error);
        free(info);
        return 0;
    default:
        info = calloc(HV_OUTPUT_MAX, sizeof(*info));
        if (info == NULL || !hv_success(hv_output_list(g_outs, info, HV_OUTPUT_MAX, &n))) {
            free(info);
            why("out of memory");
            return 1;
        }
        if (n == 0)
            printf("no outputs ('help output')\n");
        else
            printf("%-12s %-9s %-6s %-20s %8s %8s %6s %6s  %s\n", "name", "type", "format", "state", "sent",
                   "dropped", "queued", "events", "target");
        for (i = 0; i < n && i < HV_OUTPUT_MAX; i++) {
            printf("%-12s %-9s %-6s %-20s %8llu %8llu %6u %6u  %s", info[i].name, hv_output_type_name(info[i].type),
                   hv_output_format_name(info[i].format), output_state(&info[i]),
                   (unsigned long long)info[i].sent, (unsigned long long)info[i].dropped, info[i].queued,
                   info[i].events, info[i].target);
            if (info[i].error[0] && info[i].state != HV_OUTPUT_CLOSED)
                printf(" (%s)", info[i].error);
            printf("\n");
            if (hj_on())
                hj_output(&info[i], output_state(&info[i]));
        }
        free(info);
        return 0;
    }
    printf("error: %s\n", err);
    why("%s", err);
    return 1;
}

static int do_listen(struct hv_engine *e, const struct hv_cmd *c)
{
    struct hv_msg_record recs[64];
    time_t end = c->seconds ? time(NULL) + (time_t)c->seconds : 0;
    uint32_t n, i, total = 0, hidden = 0;
    hv_status_t st;

    if (hv_engine_debugger(e)) {
        printf("listen: Debugger Mode has no event stream: an event with the break action halts the target "
               "instead ('wait' waits for it)\n");
        why("listen: no event stream in Debugger Mode");
        return 1;
    }
    interrupted = 0;
    if (c->seconds) {
        char hint[160];

        if (decimal_hint(c->seconds, hint, sizeof(hint))[0])
            printf("listening for %u seconds%s\n", c->seconds, hint);
    }
    while (!interrupted && (!end || time(NULL) < end)) {
        st = hv_engine_read(e, recs, 64, &n, 200);
        if (st == HV_STATUS_TIMEOUT)
            continue;
        if (!hv_success(st)) {
            print_status_line("listen", st);
            return 1;
        }
        for (i = 0; i < n; i++) {
            /* Forwarded records of events bound to open outputs; the
             * console shows the rest (output.h: Routing). */
            bool shown = hv_output_forward(g_outs, &recs[i]);

            if (shown)
                print_record(&recs[i]);
            else
                hidden++;
            if (hj_on())
                hj_record(&recs[i], !shown);
        }
        total += n;
        fflush(stdout);
    }
    if (hj_on())
        hj_listen(total, hidden);
    if (hidden)
        printf("(%u messages; %u of them forwarded only, see 'output')\n", total, hidden);
    else
        printf("(%u messages)\n", total);
    return 0;
}

/* The command's name for JSON objects. */
static const char *kind_name(enum hv_cmd_kind k)
{
    switch (k) {
    case HV_CMD_RDMSR: return "rdmsr";
    case HV_CMD_WRMSR: return "wrmsr";
    case HV_CMD_DR: return "!dr";
    case HV_CMD_EVENTS_LIST:
    case HV_CMD_EVENTS_CTL: return "events";
    case HV_CMD_LISTEN: return "listen";
    case HV_CMD_SIMULATE_DR: return "simulate";
    case HV_CMD_EVAL: return "?";
    case HV_CMD_OUTPUT_LIST:
    case HV_CMD_OUTPUT_CREATE:
    case HV_CMD_OUTPUT_OPEN:
    case HV_CMD_OUTPUT_CLOSE: return "output";
    case HV_CMD_STATUS: return "status";
    case HV_CMD_PAUSE: return "pause";
    case HV_CMD_GO: return "g";
    case HV_CMD_WAIT: return "wait";
    case HV_CMD_REGS: return "r";
    case HV_CMD_CORE: return "~";
    case HV_CMD_MEM: return "db";
    case HV_CMD_HELP: return "help";
    case HV_CMD_QUIT: return "quit";
    default: return "command";
    }
}

/* status: a line for each core the hypervisor does not run (a driver that
 * stayed loaded without virtualizing, e.g. under Wine), with the reason its
 * bring-up gave; nothing more when every core is virtualized. */
static int status_cores(struct hv_engine *e)
{
    uint32_t n = hv_engine_cpu_count(e), i;
    size_t size, len = 0;
    struct hv_abi_query *q;
    hv_status_t st;

    if (n > 1024)
        n = 1024;
    size = sizeof(*q) + (size_t)n * sizeof(q->cpus[0]);
    q = calloc(1, size);
    if (q == NULL)
        return 1;
    q->hdr.size = (uint32_t)size;
    q->hdr.version = HV_ABI_VERSION;
    q->cpu_capacity = n;
    st = hv_engine_request(e, HV_ABI_REQ_QUERY, q, size, &len);
    if (!hv_success(st)) {
        printf("query failed: %s (0x%08x)\n", hv_status_name(st), st);
        why("query failed: %s", hv_status_name(st));
        free(q);
        return 1;
    }
    for (i = 0; i < q->cpus_written && i < n; i++)
        if (!q->cpus[i].virtualized)
            printf("core %u: not virtualized: %s (0x%08x)\n", i, hv_status_name(q->cpus[i].status),
                   q->cpus[i].status);
    free(q);
    return 0;
}

/* --json: a failed command ends with an "error" object saying why; one that
 * succeeded without a result object gets an "ok" object, so every command
 * answers with at least one line. */
static void json_result(const char *line, const char *command, enum outcome out, unsigned long before)
{
    char word[32];

    if (out == OUT_UNPARSED) {
        size_t a = strspn(line, " \t"), n = strcspn(line + a, " \t{");

        snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1), line + a);
        command = word;
    }
    if (out == OUT_OK) {
        if (hj_count() == before)
            hj_ok(command, line);
        return;
    }
    hj_error(command, line, out == OUT_PARTIAL ? "partial" : out == OUT_UNPARSED ? "unparsed" : "failed", g_why, 0);
}

/* Run one line; *expect_fail = the line said `expect fail`. */
static enum outcome run_line(struct hv_engine *e, const char *line, bool *quit, bool *expect_fail)
{
    struct hv_cmd *c = calloc(1, sizeof(*c));
    char err[256];
    int rc = 0;
    hv_status_t st;
    unsigned long objects = hj_count();

    *expect_fail = false;
    g_why[0] = '\0';
    g_line = line;
    if (c == NULL) {
        why("out of memory");
        return OUT_FAILED;
    }
    if (!hv_success(hv_cmd_parse(line, c, err, sizeof(err)))) {
        printf("error: %s\n", err);
        why("%s", err);
        free(c);
        if (hj_on())
            json_result(line, "", OUT_UNPARSED, objects);
        return OUT_UNPARSED;
    }
    *expect_fail = c->expect_fail;
    /* Debugger Mode: the target may have stopped by itself meanwhile. */
    if (c->kind != HV_CMD_NONE && c->kind != HV_CMD_HELP)
        hvctl_dbg_before(e);
    switch (c->kind) {
    case HV_CMD_NONE: break;
    case HV_CMD_HELP:
        fputs(hv_cmd_help(c->topic[0] ? c->topic : NULL), stdout);
        if (hj_on())
            hj_help(c->topic, hv_cmd_help(c->topic[0] ? c->topic : NULL));
        break;
    case HV_CMD_QUIT: *quit = true; break;
    case HV_CMD_STATUS:
        if (hv_engine_debugger(e)) {
            rc = hvctl_dbg_status(e);
            break;
        }
        printf("target %s, %u cores\n", hv_engine_target(e), hv_engine_cpu_count(e));
        if (hj_on())
            hj_status(hv_engine_target(e), hv_engine_cpu_count(e));
        rc = status_cores(e);
        break;
    case HV_CMD_RDMSR:
    case HV_CMD_WRMSR: rc = do_msr(e, c); break;
    case HV_CMD_DR: rc = do_dr(e, c); break;
    case HV_CMD_EVENTS_LIST:
    case HV_CMD_EVENTS_CTL: rc = do_events(e, c); break;
    case HV_CMD_LISTEN: rc = do_listen(e, c); break;
    case HV_CMD_OUTPUT_LIST:
    case HV_CMD_OUTPUT_CREATE:
    case HV_CMD_OUTPUT_OPEN:
    case HV_CMD_OUTPUT_CLOSE: rc = do_output(c); break;
    case HV_CMD_SIMULATE_DR:
        if (c->core != HV_ALL_CORES && !core_exists(e, "simulate", c->core)) {
            rc = 1;
            break;
        }
        st = hv_engine_simulate_dr_regs(e, c->core == HV_ALL_CORES ? 0 : c->core,
                                        c->pid == HV_EVENT_ANY_PID ? 0 : c->pid, c->value, c->regs, c->regs_set);
        if (hj_on())
            hj_simulate(c->core == HV_ALL_CORES ? 0 : c->core, c->pid == HV_EVENT_ANY_PID ? 0 : c->pid, c->value, st);
        if (!hv_success(st)) {
            print_status_line("simulate", st);
            rc = 1;
        }
        break;
    case HV_CMD_EVAL: rc = do_eval(e, c); break;
    case HV_CMD_PAUSE:
    case HV_CMD_GO:
    case HV_CMD_WAIT:
    case HV_CMD_REGS:
    case HV_CMD_CORE:
    case HV_CMD_MEM: rc = hvctl_dbg_command(e, c, g_interactive, &interrupted); break;
    }
    if (rc != OUT_OK && g_why[0] == '\0')
        why("it failed");
    if (hj_on() && c->kind != HV_CMD_NONE)
        json_result(line, kind_name(c->kind), (enum outcome)rc, objects);
    free(c);
    if (rc == OUT_FAILED && *expect_fail)
        printf("(failed, as expected)\n");
    fflush(stdout);
    return (enum outcome)rc;
}

/* Where the lines come from, and how they behaved. */
struct script {
    const char *name;          /* "demo.hvctl", "<stdin>", or NULL for one command */
    unsigned line;             /* current line number, from 1 */
    unsigned commands;         /* lines that were commands (not empty, not comments) */
    unsigned mismatches;
    char lines[128];           /* the mismatched line numbers, for the summary */
};

/* Judge one line's outcome against what it says; a mismatch is named on
 * stderr (FILE:LINE: the command: what happened). */
static void judge(struct script *s, const char *line, enum outcome out, bool expect_fail)
{
    char where[300], cmd[200];
    size_t a = strspn(line, " \t\r\v\f"), n = strlen(line + a), o;

    while (n > 0 && strchr(" \t\r\n\v\f", line[a + n - 1]))
        n--;
    if (n == 0 || line[a] == '#')
        return;                             /* not a command */
    s->commands++;
    if (out == OUT_OK && !expect_fail)
        return;
    if (out == OUT_FAILED && expect_fail)
        return;
    snprintf(cmd, sizeof(cmd), "%.*s%s", (int)(n > 120 ? 117 : n), line + a, n > 120 ? "..." : "");
    if (s->name)
        snprintf(where, sizeof(where), "%s:%u: ", s->name, s->line);
    else
        where[0] = '\0';
    if (out == OUT_UNPARSED)
        fprintf(stderr, "hvctl: %s%s: does not parse: %s\n", where, cmd, g_why);
    else if (out == OUT_OK)
        fprintf(stderr, "hvctl: %s%s: succeeded, but the line expects it to fail\n", where, cmd);
    else if (out == OUT_PARTIAL && expect_fail)
        fprintf(stderr, "hvctl: %s%s: failed only on some cores (%s); 'expect fail' wants every target core to fail\n",
                where, cmd, g_why);
    else if (out == OUT_PARTIAL)
        fprintf(stderr, "hvctl: %s%s: failed on some cores: %s\n", where, cmd, g_why);
    else
        fprintf(stderr, "hvctl: %s%s: failed: %s (write 'expect fail' before the command if that is intended)\n",
                where, cmd, g_why);
    s->mismatches++;
    o = strlen(s->lines);
    if (o + 16 < sizeof(s->lines))
        snprintf(s->lines + o, sizeof(s->lines) - o, "%s%u", o ? ", " : "", s->line);
    else if (!strstr(s->lines, "..."))
        snprintf(s->lines + o, sizeof(s->lines) - o, ", ...");
}

static void serve_log_line(void *ctx, const char *line)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;

    (void)ctx;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    fprintf(stderr, "hvctl serve: %s %s\n", when, line);
}

/* serve --serial: a simulated machine in Debugger Mode whose serial line is
 * a TCP socket, as an emulator's com port is (serial:tcp:HOST:PORT). */
static int serve_serial(const char *host, unsigned port, unsigned cores)
{
    struct hv_mock_dbg_sim_config cfg;
    struct hv_mock_dbg_sim *sim = NULL;
    uint16_t bound = (uint16_t)port;
    int fds[2] = { -1, -1 }, lfd = -1;
    hv_status_t st;

    st = hv_dbglink_socketpair(fds);
    if (!hv_success(st)) {
        print_status_line("hvctl serve --serial", st);
        return 1;
    }
    hv_mock_dbg_sim_config_init(&cfg);
    cfg.ncores = cores;
    cfg.fd = fds[1];
    st = hv_mock_dbg_sim_start(&cfg, &sim);
    if (hv_success(st))
        st = hv_wire_listen(host, (uint16_t)port, &lfd);
    if (hv_success(st)) {
        (void)hv_wire_local_port(lfd, &bound);
        printf("hvctl serve: a simulated %u-core machine in Debugger Mode, its serial line on %s:%u "
               "(hvctl --target serial:tcp:%s:%u)\n", cores, host, bound, host, bound);
        fflush(stdout);
        st = hv_dbglink_serve_tcp(lfd, fds[0], &interrupted, serve_log_line, NULL);
        if (st == HV_STATUS_ACCESS_DENIED)
            fprintf(stderr, "hvctl serve --serial: refusing %s:%u: a serial line has no authentication, so only a "
                            "127.x.x.x address may expose it\n", host, bound);
    } else {
        print_status_line("hvctl serve --serial", st);
    }
    if (lfd >= 0)
        hv_wire_close_fd(lfd);
    hv_mock_dbg_sim_stop(sim);
    hv_dbglink_peer_close(fds[0]);
    hv_dbglink_peer_close(fds[1]);
    return hv_success(st) ? 0 : 1;
}

static int serve(int argc, char **argv)
{
    const char *listen_at = "127.0.0.1:5555", *key_file = NULL;
    char host[64], target[32];
    unsigned cores = 4;
    bool serial = false;
    struct { struct hv_engine *sim; } s;
    struct hv_wire_key key;
    struct hv_engine_serve_opts opts = { .log = serve_log_line };
    int lfd, i;
    unsigned long port;
    const char *colon;
    hv_status_t st;

    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen_at = argv[++i];
        else if (!strcmp(argv[i], "--cores") && i + 1 < argc)
            cores = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--serial"))
            serial = true;
        else if (!strcmp(argv[i], "--key") && i + 1 < argc)
            key_file = argv[++i];
        else {
            fprintf(stderr, "usage: hvctl serve [--listen HOST:PORT] [--key FILE] [--cores N] | "
                            "hvctl serve --serial [--listen 127.0.0.1:PORT] [--cores N]\n");
            return 2;
        }
    }
    colon = strrchr(listen_at, ':');
    if (colon == NULL || (size_t)(colon - listen_at) >= sizeof(host) || colon[1] == '\0' ||
        (port = strtoul(colon + 1, NULL, 10)) > 65535) {
        fprintf(stderr, "hvctl serve: --listen wants HOST:PORT, not '%s'\n", listen_at);
        return 2;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = '\0';
    if (key_file) {
        st = hv_wire_key_load(key_file, &key);
        if (!hv_success(st)) {
            fprintf(stderr, "hvctl serve: %s (%s)\n", hv_wire_last_error(), hv_status_name(st));
            return 1;
        }
        opts.key = &key;
    }
    if (serial) {
        if (key_file || cores == 0 || cores > 16) {
            fprintf(stderr, "hvctl serve --serial: 1 .. 16 cores, no key (a serial line has no authentication: "
                            "loopback only)\n");
            return 2;
        }
        return serve_serial(host, (unsigned)port, cores);
    }
    snprintf(target, sizeof(target), "sim:cores=%u", cores);
    st = hv_engine_create(&s.sim, target);
    if (!hv_success(st)) {
        print_status_line("hvctl serve: simulator", st);
        hv_wire_key_wipe(&key);
        return 1;
    }
    st = hv_wire_listen(host, (uint16_t)port, &lfd);
    if (!hv_success(st)) {
        print_status_line("hvctl serve: listen", st);
        hv_engine_destroy(s.sim);
        hv_wire_key_wipe(&key);
        return 1;
    }
    fflush(stdout);
#ifdef SIGPIPE /* POSIX: a peer that leaves must not kill the server */
    signal(SIGPIPE, SIG_IGN);
#endif
    {
        uint16_t bound = (uint16_t)port;

        /* Port 0 asks the system for one: say which. */
        (void)hv_wire_local_port(lfd, &bound);
        if (opts.key || !strncmp(host, "127.", 4) || !strcmp(host, "localhost"))
            printf("hvctl serve: a simulated %u-core machine on %s:%u%s\n", cores, host, bound,
                   opts.key ? ", key required" : " (loopback, no key)");
    }
    st = hv_engine_serve_with(s.sim, lfd, &interrupted, &opts);
    if (st == HV_STATUS_ACCESS_DENIED)
        fprintf(stderr, "hvctl serve: refusing to listen on %s without a key: anyone who can reach it could drive "
                        "the target. Use --key FILE (hvctl keygen FILE makes one) or a 127.x.x.x address.\n",
                listen_at);
    else if (!hv_success(st) && !interrupted)
        print_status_line("hvctl serve", st);
    hv_wire_close_fd(lfd);
    hv_engine_destroy(s.sim);
    hv_wire_key_wipe(&key);
    return hv_success(st) ? 0 : 1;
}

static int keygen(int argc, char **argv)
{
    hv_status_t st;

    if (argc != 1) {
        fprintf(stderr, "usage: hvctl keygen FILE   (a new key file, mode 0600; FILE must not exist)\n");
        return 2;
    }
    st = hv_wire_key_generate(argv[0]);
    if (!hv_success(st)) {
        fprintf(stderr, "hvctl keygen: %s (%s)\n", hv_wire_last_error(), hv_status_name(st));
        return 1;
    }
    printf("hvctl keygen: wrote a new key to %s (mode 0600)\n", argv[0]);
    return 0;
}

/* ---- main ------------------------------------------------------------------------ */

/* getline(3) in plain C (Windows' C library has none): the whole line,
 * however long, with its newline; -1 at the end of the input. */
static ssize_t read_line(char **buf, size_t *cap, FILE *in)
{
    size_t len = 0;

    for (;;) {
        if (*cap - len < 2) {
            size_t ncap = *cap ? *cap * 2 : 256;
            char *nb = realloc(*buf, ncap);

            if (nb == NULL)
                return -1;
            *buf = nb;
            *cap = ncap;
        }
        if (fgets(*buf + len, (int)(*cap - len > 0x7FFFFFFF ? 0x7FFFFFFF : *cap - len), in) == NULL)
            return len ? (ssize_t)len : -1;
        len += strlen(*buf + len);
        if (len && (*buf)[len - 1] == '\n')
            return (ssize_t)len;
    }
}

int main(int argc, char **argv)
{
    const char *target = "local", *file = NULL;
    struct hv_engine *e = NULL;
    int i = 1, rc = 0;
    bool quit = false;
    hv_status_t st;

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGINT, on_sigint);
    if (argc > 1 && !strcmp(argv[1], "serve"))
        return serve(argc - 2, argv + 2);
    if (argc > 1 && !strcmp(argv[1], "keygen"))
        return keygen(argc - 2, argv + 2);
    if (argc > 1 && !strcmp(argv[1], "replay"))
        return hvctl_replay(argc - 2, argv + 2);
    while (i < argc && argv[i][0] == '-' && argv[i][1] == '-') {
        if (!strcmp(argv[i], "--target") && i + 1 < argc) {
            target = argv[i + 1];
            i += 2;
        } else if (!strcmp(argv[i], "--json")) {
            if (hj_unavailable()) {
                fprintf(stderr, "hvctl: --json: %s\n", hj_unavailable());
                return 2;
            }
            if (!hj_enable()) {
                fprintf(stderr, "hvctl: --json: cannot set up the output: %s\n", strerror(errno));
                return 1;
            }
            i++;
        } else if (!strcmp(argv[i], "--version")) {
            printf("hvctl %s (libhvcore; ioctl ABI %u, wire protocol %u)\n", HVCTL_VERSION, HV_ABI_VERSION,
                   HV_WIRE_VERSION);
            if (hj_on())
                hj_version(HVCTL_VERSION, HV_ABI_VERSION, HV_WIRE_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: hvctl [--json] [--target T] [-f FILE | COMMAND...]\n"
                   "  T: local | sim:cores=N | tcp:HOST:PORT[,key=FILE]\n"
                   "     | serial:/dev/ttyS0[,baud=N] | serial:tcp:HOST:PORT | serial:sim:cores=N  (Debugger Mode)\n"
                   "       hvctl serve [--listen HOST:PORT] [--key FILE] [--cores N]\n"
                   "       hvctl serve --serial [--listen 127.0.0.1:PORT] [--cores N]\n"
                   "       hvctl keygen FILE\n"
                   "       hvctl [--target T] record --exits N [--reasons LIST] -o FILE [--timeout SECONDS]\n"
                   "           record the next N VM exits (LIST: cpuid,rdmsr,wrmsr,mov-dr,vmcall,... or numbers)\n"
                   "           into a trace file (docs/trace-format.md)\n"
                   "       hvctl replay FILE [--max N]\n"
                   "           feed each recorded exit to the handlers on the mock and compare their outputs:\n"
                   "           prints exits, matched, and the first divergence field by field\n"
                   "       hvctl --version\n\n%s", hv_cmd_help(NULL));
            return 0;
        } else {
            fprintf(stderr, "hvctl: unknown option '%s': the options are --target T, --json, --version, --help "
                    "(then -f FILE or a command)\n", argv[i]);
            return 2;
        }
    }
    if (i < argc && !strcmp(argv[i], "-f") && i + 1 < argc) {
        file = argv[i + 1];
        i += 2;
    }
    st = hv_engine_create(&e, target);
    if (hv_success(st) && !hv_success(hv_output_set_create(&g_outs))) {
        hv_engine_destroy(e);
        st = HV_STATUS_INSUFFICIENT_RESOURCES;
    }
    if (!hv_success(st)) {
        fprintf(stderr, "hvctl: cannot open target '%s': %s (0x%08x)%s\n", target, hv_status_name(st), st,
                !strcmp(target, "local") ? "\n  (is the hvcore driver loaded: hvcore.ko on Linux, hvcore.sys on Windows? try --target "
                                           "sim:cores=4 on a machine without it)"
                                         : "");
        /* tcp: the wire layer says why (wrong key, unsafe key file, ...). */
        if (!strncmp(target, "tcp:", 4) && *hv_wire_last_error())
            fprintf(stderr, "  (%s)\n", hv_wire_last_error());
        /* serial: the line says why (no such port, refused, no answer). */
        if (!strncmp(target, "serial:", 7) && *hv_dbglink_last_error(NULL))
            fprintf(stderr, "  (%s)\n", hv_dbglink_last_error(NULL));
        if (hj_on())
            hj_error("target", target, "failed", "cannot open the target", st);
        return 1;
    }
    if (i < argc && !strcmp(argv[i], "record")) {
        rc = hvctl_record(e, argc - i - 1, argv + i + 1, &interrupted);
        hv_output_set_destroy(g_outs);
        hv_engine_destroy(e);
        return rc;
    }
    if (i < argc) {
        /* One command from the arguments. */
        struct script one = { .name = NULL, .line = 1 };
        size_t len = 1, off = 0;
        char *line;
        int k;
        enum outcome out;
        bool expect_fail;

        for (k = i; k < argc; k++)
            len += strlen(argv[k]) + 1;
        line = malloc(len);
        if (line == NULL) {
            hv_output_set_destroy(g_outs);
            hv_engine_destroy(e);
            return 1;
        }
        line[0] = '\0';
        for (k = i; k < argc; k++)
            off += (size_t)snprintf(line + off, len - off, "%s%s", off ? " " : "", argv[k]);
        out = run_line(e, line, &quit, &expect_fail);
        judge(&one, line, out, expect_fail);
        rc = one.mismatches ? 1 : 0;
        free(line);
    } else {
        FILE *in = stdin;
        bool tty;
        struct script sc = { .name = file ? file : "<stdin>" };
        char *buf = NULL;
        size_t cap = 0;
        ssize_t got;

        if (file && !(in = fopen(file, "r"))) {
            fprintf(stderr, "hvctl: cannot read %s: %s\n", file, strerror(errno));
            hv_output_set_destroy(g_outs);
            hv_engine_destroy(e);
            return 1;
        }
        tty = !file && isatty(0);
        g_interactive = tty;
        while (!quit) {
            char *line = NULL;
            enum outcome out;
            bool expect_fail;
#ifdef HVCTL_READLINE
            if (tty) {
                line = readline("hvctl> ");
                if (line == NULL)
                    break;
                if (*line)
                    add_history(line);
            }
#endif
            if (line == NULL) {
                if (tty) {
                    printf("hvctl> ");
                    fflush(stdout);
                }
                if ((got = read_line(&buf, &cap, in)) < 0)
                    break;
                buf[strcspn(buf, "\n")] = '\0';
                if (file || !tty)
                    printf("hvctl> %s\n", buf);
                line = buf;
            }
            sc.line++;
            out = run_line(e, line, &quit, &expect_fail);
            if (tty) {
                /* Interactive: the exit status still says whether every
                 * command behaved as written, without naming lines. */
                if ((out == OUT_OK) == expect_fail || out == OUT_UNPARSED || out == OUT_PARTIAL)
                    rc = 1;
            } else {
                judge(&sc, line, out, expect_fail);
            }
            if (line != buf)
                free(line);
        }
        free(buf);
        if (file)
            fclose(in);
        if (sc.mismatches) {
            fprintf(stderr, "hvctl: %s: %u of %u command%s did not behave as written (line%s %s)\n", sc.name,
                    sc.mismatches, sc.commands, sc.commands == 1 ? "" : "s", sc.mismatches == 1 ? "" : "s",
                    sc.lines);
            rc = 1;
        }
    }
    /* Closing the outputs writes what is still queued (up to a second each). */
    hv_output_set_destroy(g_outs);
    hv_engine_destroy(e);
    return rc;
}
