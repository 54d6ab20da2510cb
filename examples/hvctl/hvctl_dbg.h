/*
 * hvctl's Debugger Mode commands (serial:... targets): pause, g, wait, r,
 * ~, db/dd/dq, and the stop report. hvctl.c parses and dispatches; this file
 * talks to the target through hv_engine_debugger() (hvcore/client/dbgclient.h).
 */
#ifndef HVCTL_DBG_H
#define HVCTL_DBG_H

#include <hvcore/client/cmd.h>
#include <hvcore/client/engine.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* What a command did, judged against what its line says (`expect fail`). */
enum outcome {
    OUT_OK,         /* did everything it was asked */
    OUT_FAILED,     /* did nothing: refused, an error, or every target core failed */
    OUT_PARTIAL,    /* rdmsr/wrmsr: some target cores failed, others did not */
    OUT_UNPARSED,   /* the line does not parse */
};

/* From hvctl.c. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void hvctl_why(const char *fmt, ...);
void hvctl_status_line(const char *what, hv_status_t st);
bool hvctl_core_exists(struct hv_engine *e, const char *what, uint32_t core);
const char *hvctl_hex64(uint64_t v, char *buf);

/* Run a Debugger Mode command (c->kind PAUSE, GO, WAIT, REGS, CORE, MEM);
 * interactive: `g` waits for the next stop (Ctrl-C sets *interrupted: break in). */
enum outcome hvctl_dbg_command(struct hv_engine *e, const struct hv_cmd *c, bool interactive,
                               volatile sig_atomic_t *interrupted);
/* Before each command on a serial target: show the stop reports that came meanwhile. */
void hvctl_dbg_before(struct hv_engine *e);
/* `status` on a serial target. */
enum outcome hvctl_dbg_status(struct hv_engine *e);
/* An event change was queued (shown at `g` with its outcome). */
void hvctl_dbg_queued(void);

#endif
