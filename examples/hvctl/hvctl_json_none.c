/* hvctl --json (hvctl_json.h) in a build without libjansson: hvctl.exe
 * (mingw-w64; Debian has no jansson for it). --json is refused with
 * hj_unavailable()'s sentence before anything runs, so JSON is never on
 * and the hj_* writers are never reached with it on: they write nothing. */
#include "hvctl_json.h"

#include <stddef.h>

const char *hj_unavailable(void)
{
    return "not available in this build (hvctl.exe is built without jansson); the text output is the same "
           "information, and hvctl on Linux has --json";
}

bool hj_enable(void)
{
    return false;
}

bool hj_on(void)
{
    return false;
}

unsigned long hj_count(void)
{
    return 0;
}

void hj_msr(const char *op, const struct hv_abi_msr_result *r, uint32_t msr)
{
    (void)op, (void)r, (void)msr;
}

void hj_event_added(uint32_t id, const char *pid, const char *core, bool imm, bool brk, bool code, bool script,
                    bool condition, const char *outputs)
{
    (void)id, (void)pid, (void)core, (void)imm, (void)brk, (void)code, (void)script, (void)condition, (void)outputs;
}

void hj_event(const struct hv_abi_event_info *info, const char *outputs)
{
    (void)info, (void)outputs;
}

void hj_event_ctl(const char *op, uint32_t id, hv_status_t st)
{
    (void)op, (void)id, (void)st;
}

void hj_record(const struct hv_msg_record *r, bool forwarded_only)
{
    (void)r, (void)forwarded_only;
}

void hj_listen(uint32_t total, uint32_t forwarded_only)
{
    (void)total, (void)forwarded_only;
}

void hj_output(const struct hv_output_info *o, const char *state)
{
    (void)o, (void)state;
}

void hj_status(const char *target, uint32_t cores)
{
    (void)target, (void)cores;
}

void hj_help(const char *topic, const char *text)
{
    (void)topic, (void)text;
}

void hj_simulate(uint32_t core, uint64_t pid, uint64_t value, hv_status_t st)
{
    (void)core, (void)pid, (void)value, (void)st;
}

void hj_version(const char *version, unsigned abi, unsigned wire)
{
    (void)version, (void)abi, (void)wire;
}

void hj_ok(const char *command, const char *line)
{
    (void)command, (void)line;
}

void hj_error(const char *command, const char *line, const char *outcome, const char *message, hv_status_t st)
{
    (void)command, (void)line, (void)outcome, (void)message, (void)st;
}
