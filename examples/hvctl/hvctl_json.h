/*
 * hvctl --json: one JSON object per line for each result or record, built
 * with Debian's libjansson (never by hand). While JSON is on, the text
 * hvctl normally prints goes to /dev/null and only these objects reach
 * stdout; messages on stderr are unchanged.
 *
 * Every object has "type": msr, event_added, event, event_ctl, record,
 * listen, output, status, help, simulate, version, ok or error. 64-bit
 * values are hex strings ("0xc0000082"), exact in any JSON parser.
 */
#ifndef HVCTL_JSON_H
#define HVCTL_JSON_H

#include <hvcore/abi.h>
#include <hvcore/client/output.h>
#include <hvcore/msg.h>
#include <hvcore/status.h>

#include <stdbool.h>
#include <stdint.h>

/* NULL when this build has --json; otherwise the sentence saying why not
 * (hvctl_json_none.c: hvctl.exe, whose mingw-w64 build has no jansson). */
const char *hj_unavailable(void);
/* Switch JSON on: stdout becomes /dev/null for text, JSON keeps the real
 * stdout. Returns false (and leaves text on) when that fails. */
bool hj_enable(void);
bool hj_on(void);
/* Objects written so far (hvctl adds an "ok" object for a command that
 * wrote none). */
unsigned long hj_count(void);

void hj_msr(const char *op, const struct hv_abi_msr_result *r, uint32_t msr);
void hj_event_added(uint32_t id, const char *pid, const char *core, bool imm, bool brk, bool code, bool script,
                    bool condition, const char *outputs);
void hj_event(const struct hv_abi_event_info *info, const char *outputs);
void hj_event_ctl(const char *op, uint32_t id, hv_status_t st);
void hj_record(const struct hv_msg_record *r, bool forwarded_only);
void hj_listen(uint32_t total, uint32_t forwarded_only);
void hj_output(const struct hv_output_info *o, const char *state);
void hj_status(const char *target, uint32_t cores);
void hj_help(const char *topic, const char *text);
void hj_simulate(uint32_t core, uint64_t pid, uint64_t value, hv_status_t st);
void hj_version(const char *version, unsigned abi, unsigned wire);
void hj_ok(const char *command, const char *line);
/* outcome: "failed", "partial" or "unparsed"; st 0 when there is none. */
void hj_error(const char *command, const char *line, const char *outcome, const char *message, hv_status_t st);

#endif
