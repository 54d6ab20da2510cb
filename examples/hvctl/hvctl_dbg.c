/*
 * hvctl's Debugger Mode commands: the target halts every core and waits;
 * these commands look at it and change it through the debugger connection
 * (hvcore/client/dbgclient.h). Output follows WinDbg/HyperDbg where they
 * have the command (r, db/dd/dq, ~).
 */
#define _GNU_SOURCE
#include "hvctl_dbg.h"

#include <hvcore/abi_exec.h>
#include <hvcore/client/code_check.h>
#include <hvcore/client/dbgclient.h>
#include <hvcore/debugger.h>

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Event changes queued while halted; the target applies them after `g`
 * and tells their outcome at the next halt (it answers little while it
 * runs). */
static unsigned g_queued;
static bool g_applied;

void hvctl_dbg_queued(void)
{
    g_queued++;
}

static struct hv_dbgc *dbg_of(struct hv_engine *e, const char *what)
{
    struct hv_dbgc *d = hv_engine_debugger(e);

    if (d == NULL) {
        printf("%s: only a Debugger Mode target has it (--target serial:/dev/ttyS0, serial:tcp:HOST:PORT or "
               "serial:sim:cores=N); this one is %s\n", what, hv_engine_target(e));
        hvctl_why("%s needs a Debugger Mode target (serial:...)", what);
    }
    return d;
}

/* A failed request: its status, and the line's words when there are some. */
static enum outcome failed(struct hv_dbgc *d, const char *what, hv_status_t st)
{
    const char *words = hv_dbgc_last_error(d);

    if (*words) {
        printf("%s: %s (0x%08x): %s\n", what, hv_status_name(st), st, words);
        hvctl_why("%s: %s (0x%08x): %s", what, hv_status_name(st), st, words);
    } else {
        hvctl_status_line(what, st);
    }
    return OUT_FAILED;
}

/* "0-3", "1, 3" */
static void core_list(const uint8_t *map, uint32_t ncores, char *out, size_t cap)
{
    uint32_t i;
    size_t o = 0;

    out[0] = '\0';
    for (i = 0; i < ncores && i < HV_DBG_MAX_CORES && o + 8 < cap; i++)
        if (map[i / 8] & (1u << (i % 8)))
            o += (size_t)snprintf(out + o, cap - o, "%s%x", o ? ", " : "", i);
}

static const char *dr_name(uint32_t dr, char *buf)
{
    snprintf(buf, 8, "dr%u", dr & 7u);
    return buf;
}

/* The stop report: who stopped, why, where, and the instruction there. */
static void print_stop(const struct hv_dbg_stop *s, const char *lead)
{
    char rip[24], dis[160], nh[600], a[8];

    if (s->state != HV_DBG_STATE_HALTED) {
        printf("%starget running\n", lead);
        return;
    }
    if (s->reason == HV_DBG_STOP_EVENT)
        printf("%sevent %u (!dr: mov %s %s, value %llx) halted the target on core %x (stop #%llu)\n", lead,
               s->event_id, s->dr.direction ? "from" : "to", dr_name(s->dr.dr, a), (unsigned long long)s->dr.value,
               s->stopping_core, (unsigned long long)s->stops);
    else
        printf("%sbreak-in: core %x halted the target (stop #%llu)\n", lead, s->stopping_core,
               (unsigned long long)s->stops);
    printf("core %x: pid %llx, rip %s, %u-bit code\n", s->current_core, (unsigned long long)s->pid,
           hvctl_hex64(s->rip, rip), s->mode);
    if (s->insn_len) {
        (void)hv_code_disassemble_one(s->insn, s->insn_len, s->rip, s->mode, dis, sizeof(dis));
        printf("%s %s\n", rip, dis);
    } else {
        printf("%s (instruction bytes not readable: %s)\n", rip, hv_status_name(s->insn_status));
    }
    core_list(s->not_halted, s->ncores, nh, sizeof(nh));
    if (nh[0])
        printf("warning: core%s %s did not halt within the bound and still run%s\n", strchr(nh, ',') ? "s" : "", nh,
               strchr(nh, ',') ? "" : "s");
}

static void show_stop(struct hv_dbgc *d, const struct hv_dbg_stop *s, const char *lead);

void hvctl_dbg_before(struct hv_engine *e)
{
    struct hv_dbgc *d = hv_engine_debugger(e);
    struct hv_dbg_stop s;

    if (d == NULL)
        return;
    (void)hv_dbgc_poll(d);
    while (hv_dbgc_take_stop(d, &s))
        show_stop(d, &s, "the target stopped: ");
}

/* ---- pause, g, wait ------------------------------------------------------------- */

static enum outcome do_pause(struct hv_dbgc *d)
{
    struct hv_dbg_stop s;
    bool was = hv_dbgc_state(d)->halted;
    hv_status_t st = hv_dbgc_pause(d, &s);

    if (!hv_success(st))
        return failed(d, "pause", st);
    show_stop(d, &s, was ? "already halted; " : "");
    return OUT_OK;
}

/* The outcome of the event changes sent with the last `g`: asked right
 * after it (polling until the target has applied them, a few seconds at
 * most) where the target answers while running, else at the next halt. */
static enum outcome show_event_results(struct hv_dbgc *d, bool after_go)
{
    struct hv_dbg_event_result r[HV_DBG_MAX_QUEUED];
    struct hv_dbg_event_results sum;
    unsigned tries;
    uint32_t i;
    hv_status_t st;
    bool bad = false;

    for (tries = 0;; tries++) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };

        st = hv_dbgc_event_results(d, &sum, r, HV_DBG_MAX_QUEUED);
        if (!hv_success(st) || !sum.pending || !after_go || tries == 100)
            break;
        nanosleep(&ts, NULL);
    }
    if (after_go && st == HV_STATUS_TARGET_RUNNING) {
        printf("the queued event changes are applied now; their outcome shows at the next stop\n");
        return OUT_OK; /* g_applied stays set */
    }
    g_applied = false;
    if (!hv_success(st))
        return failed(d, "event changes", st);
    if (sum.pending) {
        printf("the event changes sent at g were not applied yet\n");
        return OUT_OK;
    }
    for (i = 0; i < sum.count && i < HV_DBG_MAX_QUEUED; i++) {
        const char *what = r[i].request == HV_ABI_REQ_EVENT_ADD      ? "added event"
                           : r[i].request == HV_ABI_REQ_EVENT_ACTION ? "action for event"
                                                                     : "change of event";

        if (hv_success(r[i].status))
            printf("event change %u (at g): %s %x\n", i, what, r[i].id);
        else
            printf("event change %u (at g): %s %x: %s (0x%08x)\n", i, what, r[i].id, hv_status_name(r[i].status),
                   r[i].status);
        bad |= !hv_success(r[i].status);
    }
    if (bad)
        hvctl_why("some event changes failed when applied at g");
    return bad ? OUT_FAILED : OUT_OK;
}

/* A stop report, then what the last g's event changes did. */
static void show_stop(struct hv_dbgc *d, const struct hv_dbg_stop *s, const char *lead)
{
    print_stop(s, lead);
    /* An event stops the core after the access: show the access too. */
    if (s->state == HV_DBG_STATE_HALTED && s->reason == HV_DBG_STOP_EVENT && s->dr.rip != s->rip &&
        s->current_core == s->stopping_core) {
        uint8_t insn[HV_DBG_INSN_BYTES];
        uint32_t done = 0;
        hv_status_t fault;
        char a[24], dis[160];

        if (hv_success(hv_dbgc_read(d, HV_DBG_CURRENT_CORE, s->dr.rip, insn, sizeof(insn), &done, &fault)) && done) {
            (void)hv_code_disassemble_one(insn, done, s->dr.rip, s->mode, dis, sizeof(dis));
            printf("the access: %s %s\n", hvctl_hex64(s->dr.rip, a), dis);
        }
    }
    if (g_applied && s->state == HV_DBG_STATE_HALTED)
        (void)show_event_results(d, false);
}

static enum outcome wait_stop(struct hv_dbgc *d, int timeout_ms, volatile sig_atomic_t *interrupted)
{
    struct hv_dbg_stop s;
    bool broke = false;
    hv_status_t st;

    *interrupted = 0;
    st = hv_dbgc_wait_stop(d, timeout_ms, interrupted, &s, &broke);
    *interrupted = 0;
    if (!hv_success(st))
        return failed(d, "wait", st);
    show_stop(d, &s, broke ? "Ctrl-C: " : "");
    return OUT_OK;
}

static enum outcome do_go(struct hv_dbgc *d, bool interactive, volatile sig_atomic_t *interrupted)
{
    enum outcome out = OUT_OK;
    hv_status_t st = hv_dbgc_go(d);

    if (!hv_success(st))
        return failed(d, "g", st);
    printf("running (every core resumed)\n");
    if (g_queued) {
        g_queued = 0;
        g_applied = true;
        out = show_event_results(d, true);
    }
    if (interactive) {
        printf("waiting for the target to stop (Ctrl-C breaks in)\n");
        fflush(stdout);
        if (wait_stop(d, -1, interrupted) != OUT_OK)
            out = OUT_FAILED;
    }
    return out;
}

/* ---- r ------------------------------------------------------------------------------ */

/* Registers `r <name>` reads, beyond those SET_REG writes. */
static const struct {
    const char *name;
    size_t off;
} extra_regs[] = {
    { "cr0", offsetof(struct hv_dbg_regs, cr0) },   { "cr2", offsetof(struct hv_dbg_regs, cr2) },
    { "cr3", offsetof(struct hv_dbg_regs, cr3) },   { "cr4", offsetof(struct hv_dbg_regs, cr4) },
    { "efer", offsetof(struct hv_dbg_regs, efer) }, { "gdtr", offsetof(struct hv_dbg_regs, gdtr_base) },
    { "idtr", offsetof(struct hv_dbg_regs, idtr_base) },
};

static const char *const seg_names[8] = { "es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr" };

static uint64_t reg_value(const struct hv_dbg_regs *r, uint32_t reg)
{
    switch (reg) {
    case HV_DBG_REG_RIP: return r->rip;
    case HV_DBG_REG_RFLAGS: return r->rflags;
    case HV_DBG_REG_DR0: return r->dr0;
    case HV_DBG_REG_DR1: return r->dr1;
    case HV_DBG_REG_DR2: return r->dr2;
    case HV_DBG_REG_DR3: return r->dr3;
    case HV_DBG_REG_DR6: return r->dr6;
    case HV_DBG_REG_DR7: return r->dr7;
    default: return reg < 16 ? r->gpr[reg] : 0;
    }
}

static void print_regs(const struct hv_dbg_regs *r)
{
    static const int order[16] = { 0, 3, 1, 2, 6, 7, -1, 4, 5, 8, 9, 10, 11, 12, 13, 14 };
    int i, col = 0;
    unsigned s;

    printf("core %x:\n", r->core);
    for (i = 0; i < 16; i++) {
        int g = order[i];
        const char *name = g < 0 ? "rip" : hv_dbgc_reg_name((uint32_t)g);
        uint64_t v = g < 0 ? r->rip : r->gpr[g];

        printf("%s%3s=%016llx", col ? " " : "", name, (unsigned long long)v);
        if (++col == 3) {
            printf("\n");
            col = 0;
        }
    }
    printf(" r15=%016llx\n", (unsigned long long)r->gpr[15]);
    printf("efl=%08llx cr0=%016llx cr2=%016llx\ncr3=%016llx cr4=%016llx efer=%016llx\n",
           (unsigned long long)r->rflags, (unsigned long long)r->cr0, (unsigned long long)r->cr2,
           (unsigned long long)r->cr3, (unsigned long long)r->cr4, (unsigned long long)r->efer);
    printf("dr0=%016llx dr1=%016llx dr2=%016llx\ndr3=%016llx dr6=%016llx dr7=%016llx\n",
           (unsigned long long)r->dr0, (unsigned long long)r->dr1, (unsigned long long)r->dr2,
           (unsigned long long)r->dr3, (unsigned long long)r->dr6, (unsigned long long)r->dr7);
    for (s = 0; s < 8; s++)
        printf("%s%s=%04x", s ? " " : "", seg_names[s], r->seg[s].selector);
    printf("\ngdtr=%016llx/%x idtr=%016llx/%x\n", (unsigned long long)r->gdtr_base, r->gdtr_limit,
           (unsigned long long)r->idtr_base, r->idtr_limit);
}

static enum outcome do_regs(struct hv_engine *e, struct hv_dbgc *d, const struct hv_cmd *c)
{
    struct hv_dbg_regs r;
    int idx = c->reg[0] ? hv_dbgc_reg_index(c->reg) : -1;
    hv_status_t st;
    size_t i;

    (void)e;
    if (c->reg_write) {
        uint64_t now = 0;

        if (idx < 0) {
            printf("r: cannot write '%s': the registers r writes are rax..r15, rip, rflags (efl), dr0-dr3, dr6, "
                   "dr7\n", c->reg);
            hvctl_why("r: cannot write '%s'", c->reg);
            return OUT_FAILED;
        }
        st = hv_dbgc_set_reg(d, HV_DBG_CURRENT_CORE, (uint32_t)idx, c->value, &now);
        if (!hv_success(st))
            return failed(d, "r", st);
        printf("core %x: %s=%016llx\n", hv_dbgc_state(d)->current_core, hv_dbgc_reg_name((uint32_t)idx),
               (unsigned long long)now);
        return OUT_OK;
    }
    st = hv_dbgc_regs(d, HV_DBG_CURRENT_CORE, &r);
    if (!hv_success(st))
        return failed(d, "r", st);
    if (c->reg[0] == '\0') {
        print_regs(&r);
        return OUT_OK;
    }
    if (idx >= 0) {
        printf("%s=%016llx\n", hv_dbgc_reg_name((uint32_t)idx), (unsigned long long)reg_value(&r, (uint32_t)idx));
        return OUT_OK;
    }
    for (i = 0; i < sizeof(extra_regs) / sizeof(extra_regs[0]); i++) {
        if (!strcmp(c->reg, extra_regs[i].name)) {
            uint64_t v;

            memcpy(&v, (const uint8_t *)&r + extra_regs[i].off, sizeof(v));
            printf("%s=%016llx\n", c->reg, (unsigned long long)v);
            return OUT_OK;
        }
    }
    for (i = 0; i < 8; i++) {
        if (!strcmp(c->reg, seg_names[i])) {
            printf("%s=%04x base=%016llx limit=%08x access=%04x\n", c->reg, r.seg[i].selector,
                   (unsigned long long)r.seg[i].base, r.seg[i].limit, r.seg[i].access_rights);
            return OUT_OK;
        }
    }
    printf("r: no register '%s' (rax..r15, rip, rflags, cr0 cr2 cr3 cr4, efer, dr0-dr3 dr6 dr7, es cs ss ds fs gs "
           "ldtr tr, gdtr idtr)\n", c->reg);
    hvctl_why("r: no register '%s'", c->reg);
    return OUT_FAILED;
}

/* ---- ~ ------------------------------------------------------------------------------ */

static enum outcome do_core(struct hv_engine *e, struct hv_dbgc *d, const struct hv_cmd *c)
{
    struct hv_dbg_stop s;
    hv_status_t st;

    if (c->core == HV_ALL_CORES) {
        const struct hv_dbgc_state *ds = hv_dbgc_state(d);

        printf("current core %x (of %u)%s\n", ds->current_core, ds->hello.ncores, ds->halted ? "" : "; running");
        return OUT_OK;
    }
    if (!hvctl_core_exists(e, "~", c->core))
        return OUT_FAILED;
    st = hv_dbgc_switch_core(d, c->core, &s);
    if (!hv_success(st))
        return failed(d, "~", st);
    printf("switched to core %x\n", s.current_core);
    print_stop(&s, "");
    return OUT_OK;
}

/* ---- db / dd / dq ------------------------------------------------------------------- */

static void print_mem(uint64_t addr, const uint8_t *b, uint32_t n, uint32_t width)
{
    uint32_t row, i;
    char a[24];

    for (row = 0; row < n; row += 16) {
        uint32_t k = n - row < 16 ? n - row : 16;

        printf("%s ", hvctl_hex64(addr + row, a));
        if (width == 1) {
            for (i = 0; i < 16; i++) {
                if (i < k)
                    printf("%c%02x", i == 8 ? '-' : ' ', b[row + i]);
                else
                    printf("   ");
            }
            printf("  ");
            for (i = 0; i < k; i++)
                putchar(isprint(b[row + i]) ? b[row + i] : '.');
        } else {
            for (i = 0; i + width <= k; i += width) {
                uint64_t v = 0;

                memcpy(&v, b + row + i, width);
                if (width == 8)
                    printf(" %s", hvctl_hex64(v, a));
                else
                    printf(" %08x", (unsigned)v);
            }
        }
        printf("\n");
    }
}

static enum outcome do_mem(struct hv_dbgc *d, const struct hv_cmd *c)
{
    uint32_t len = c->mem_count * c->mem_width, done = 0;
    uint8_t *buf = malloc(len ? len : 1);
    char name[3] = { 'd', c->mem_width == 1 ? 'b' : c->mem_width == 4 ? 'd' : 'q', '\0' };
    hv_status_t st, fault = HV_STATUS_SUCCESS;
    char a[24];

    if (buf == NULL) {
        hvctl_why("out of memory");
        return OUT_FAILED;
    }
    st = hv_dbgc_read(d, HV_DBG_CURRENT_CORE, c->address, buf, len, &done, &fault);
    if (!hv_success(st)) {
        free(buf);
        return failed(d, name, st);
    }
    /* Whole units only. */
    print_mem(c->address, buf, done - done % c->mem_width, c->mem_width);
    free(buf);
    if (hv_success(fault))
        return OUT_OK;
    printf("%s: %s: %s (0x%08x) after %u of %u bytes\n", name, hvctl_hex64(c->address + done, a),
           hv_status_name(fault), fault, done, len);
    hvctl_why("%s: %s at %s after %u of %u bytes", name, hv_status_name(fault), a, done, len);
    /* The bytes before the fault are shown; the command did not do all it was asked. */
    return OUT_FAILED;
}

/* ---- dispatch ----------------------------------------------------------------------- */

enum outcome hvctl_dbg_command(struct hv_engine *e, const struct hv_cmd *c, bool interactive,
                               volatile sig_atomic_t *interrupted)
{
    static const char *const names[] = { [HV_CMD_PAUSE] = "pause", [HV_CMD_GO] = "g", [HV_CMD_WAIT] = "wait",
                                         [HV_CMD_REGS] = "r", [HV_CMD_CORE] = "~", [HV_CMD_MEM] = "db/dd/dq" };
    struct hv_dbgc *d = dbg_of(e, c->kind < sizeof(names) / sizeof(names[0]) && names[c->kind] ? names[c->kind]
                                                                                                : "command");

    if (d == NULL)
        return OUT_FAILED;
    switch (c->kind) {
    case HV_CMD_PAUSE: return do_pause(d);
    case HV_CMD_GO: return do_go(d, interactive, interrupted);
    case HV_CMD_WAIT: return wait_stop(d, c->seconds ? (int)(c->seconds > 2000000u ? 2000000u : c->seconds) * 1000 : -1,
                                       interrupted);
    case HV_CMD_REGS: return do_regs(e, d, c);
    case HV_CMD_CORE: return do_core(e, d, c);
    case HV_CMD_MEM: return do_mem(d, c);
    default: return OUT_FAILED;
    }
}

enum outcome hvctl_dbg_status(struct hv_engine *e)
{
    struct hv_dbgc *d = hv_engine_debugger(e);
    const struct hv_dbgc_state *s;
    struct hv_link_stats ls;
    hv_status_t st;

    if (d == NULL)
        return OUT_FAILED;
    st = hv_dbgc_status(d, NULL);
    if (!hv_success(st))
        return failed(d, "status", st);
    s = hv_dbgc_state(d);
    hv_dbglink_get_stats(hv_dbgc_link(d), &ls);
    printf("target %s, %u cores, Debugger Mode (stub '%s', protocol %u)\n", hv_engine_target(e), s->hello.ncores,
           s->hello.signature, s->hello.version);
    if (s->halted)
        printf("halted (stop #%llu), current core %x\n", (unsigned long long)s->stop.stops, s->current_core);
    else
        printf("running, current core %x\n", s->current_core);
    printf("line: %s; %llu requests answered, %u reconnects; frames %llu sent, %llu retransmitted, %llu bad "
           "received\n", hv_dbglink_describe(hv_dbgc_link(d)), (unsigned long long)s->requests, s->reconnects,
           (unsigned long long)ls.data_sent, (unsigned long long)ls.retransmits, (unsigned long long)ls.bad_frames);
    if (g_queued)
        printf("%u event change%s queued, applied at g\n", g_queued, g_queued == 1 ? "" : "s");
    return OUT_OK;
}
