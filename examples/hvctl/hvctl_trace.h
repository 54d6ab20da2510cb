/* SPDX-License-Identifier: MIT */
/* hvctl record / replay (hvctl_trace.c). */
#ifndef HVCTL_TRACE_H
#define HVCTL_TRACE_H

#include <signal.h>

struct hv_engine;

/* `hvctl record --exits N [--reasons LIST] -o FILE [--timeout S]` on `e`;
 * argv starts after "record". Returns the process exit status. */
int hvctl_record(struct hv_engine *e, int argc, char **argv, const volatile sig_atomic_t *stop);
/* `hvctl replay FILE [--max N]`: 0 when every exit matched. */
int hvctl_replay(int argc, char **argv);

#endif
