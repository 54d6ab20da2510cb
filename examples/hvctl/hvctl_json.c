/* hvctl --json (hvctl_json.h): objects built with libjansson. */
#define _GNU_SOURCE
#include "hvctl_json.h"

#include <hvcore/event.h>

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *g_out;            /* the real stdout while JSON is on */
static unsigned long g_count;

const char *hj_unavailable(void)
{
    return NULL;
}

bool hj_enable(void)
{
    int fd = dup(STDOUT_FILENO), null;

    if (fd < 0)
        return false;
    g_out = fdopen(fd, "w");
    if (g_out == NULL) {
        close(fd);
        return false;
    }
    setvbuf(g_out, NULL, _IOLBF, 0);
    fflush(stdout);
    null = open("/dev/null", O_WRONLY);
    if (null < 0 || dup2(null, STDOUT_FILENO) < 0) {
        if (null >= 0)
            close(null);
        fclose(g_out);
        g_out = NULL;
        return false;
    }
    close(null);
    return true;
}

bool hj_on(void)
{
    return g_out != NULL;
}

unsigned long hj_count(void)
{
    return g_count;
}

static json_t *hex(uint64_t v)
{
    char b[24];

    snprintf(b, sizeof(b), "0x%" PRIx64, v);
    return json_string(b);
}

/* A string that may not be UTF-8 (a script's text, a path): kept when it
 * is, else each byte outside printable ASCII as \xNN text. */
static json_t *text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    char buf[4 * 256 + 1];
    size_t i, o = 0;

    if (j != NULL)
        return j;
    for (i = 0; i < n && o + 5 < sizeof(buf); i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c < 0x7f)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
    }
    buf[o] = '\0';
    return json_string(buf);
}

static void status_fields(json_t *o, hv_status_t st)
{
    char b[16];

    snprintf(b, sizeof(b), "0x%08x", st);
    json_object_set_new(o, "status", json_string(hv_status_name(st)));
    json_object_set_new(o, "status_code", json_string(b));
}

/* Writes one object as a line and releases it. */
static void emit(json_t *o)
{
    char *s;

    if (o == NULL)
        return;
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s != NULL && g_out != NULL) {
        fprintf(g_out, "%s\n", s);
        fflush(g_out);
        g_count++;
    }
    free(s);
    json_decref(o);
}

static json_t *typed(const char *type)
{
    json_t *o = json_object();

    if (o != NULL)
        json_object_set_new(o, "type", json_string(type));
    return o;
}

void hj_msr(const char *op, const struct hv_abi_msr_result *r, uint32_t msr)
{
    static const char *const routes[] = { "physical", "vmcs", "virtual" };
    json_t *o = typed("msr");

    if (o == NULL)
        return;
    json_object_set_new(o, "op", json_string(op));
    json_object_set_new(o, "core", json_integer(r->core));
    json_object_set_new(o, "msr", hex(msr));
    if (hv_success(r->status)) {
        json_object_set_new(o, "value", hex(r->value));
        json_object_set_new(o, "route", json_string(r->route < 3 ? routes[r->route] : "unknown"));
    }
    status_fields(o, r->status);
    emit(o);
}

static json_t *words(const char *list)
{
    json_t *a = json_array();
    const char *s = list;

    while (a != NULL && s != NULL && *s) {
        size_t n = strcspn(s, " ,;");

        if (n)
            json_array_append_new(a, json_stringn(s, n));
        s += n;
        s += strspn(s, " ,;");
    }
    return a;
}

static json_t *actions(bool brk, bool code, bool script, bool condition)
{
    json_t *a = json_array();

    if (brk)
        json_array_append_new(a, json_string("break"));
    if (code)
        json_array_append_new(a, json_string("code"));
    if (script)
        json_array_append_new(a, json_string("script"));
    if (condition)
        json_array_append_new(a, json_string("condition"));
    return a;
}

void hj_event_added(uint32_t id, const char *pid, const char *core, bool imm, bool brk, bool code, bool script,
                    bool condition, const char *outputs)
{
    json_t *o = typed("event_added");

    if (o == NULL)
        return;
    json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "pid", json_string(pid));
    json_object_set_new(o, "core", json_string(core));
    json_object_set_new(o, "imm", json_boolean(imm));
    json_object_set_new(o, "actions", actions(brk, code, script, condition));
    json_object_set_new(o, "outputs", words(outputs));
    emit(o);
}

void hj_event(const struct hv_abi_event_info *e, const char *outputs)
{
    json_t *o = typed("event");

    if (o == NULL)
        return;
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "enabled", json_boolean(e->enabled));
    json_object_set_new(o, "pid", e->pid == HV_EVENT_ANY_PID ? json_string("any") : hex(e->pid));
    json_object_set_new(o, "core", e->core == HV_EVENT_ANY_CORE ? json_string("any") : json_integer(e->core));
    json_object_set_new(o, "imm", json_boolean(e->imm));
    json_object_set_new(o, "fired", json_integer((json_int_t)e->fired));
    json_object_set_new(o, "actions", actions((e->actions >> 1) & 1, (e->actions >> 2) & 1, (e->actions >> 3) & 1,
                                              false));
    json_object_set_new(o, "outputs", words(outputs));
    emit(o);
}

void hj_event_ctl(const char *op, uint32_t id, hv_status_t st)
{
    json_t *o = typed("event_ctl");

    if (o == NULL)
        return;
    json_object_set_new(o, "op", json_string(op));
    json_object_set_new(o, "id", id == 0xFFFFFFFFu ? json_string("all") : json_integer(id));
    status_fields(o, st);
    emit(o);
}

static const char *const k_regs[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };

void hj_record(const struct hv_msg_record *r, bool forwarded_only)
{
    static const char *const kinds[] = { "unknown", "dr_access", "break", "script", "code" };
    struct hv_msg_dr_access a;
    const uint8_t *rest = r->payload + sizeof(a);
    uint32_t len = r->h.payload_len <= HV_MSG_PAYLOAD_MAX ? r->h.payload_len : (uint32_t)HV_MSG_PAYLOAD_MAX;
    json_t *o = typed("record");

    if (o == NULL)
        return;
    memcpy(&a, r->payload, sizeof(a));
    len = len > sizeof(a) ? len - (uint32_t)sizeof(a) : 0;
    json_object_set_new(o, "event", json_integer(r->h.event_id));
    json_object_set_new(o, "core", json_integer(r->h.core));
    json_object_set_new(o, "pid", hex(r->h.pid));
    json_object_set_new(o, "seq", json_integer((json_int_t)r->h.seq));
    json_object_set_new(o, "kind", json_string(r->h.kind < 5 ? kinds[r->h.kind] : "unknown"));
    json_object_set_new(o, "lost_before", json_integer(r->h.lost_before));
    json_object_set_new(o, "timestamp", hex(r->h.timestamp));
    json_object_set_new(o, "dr", json_integer(a.dr));
    json_object_set_new(o, "direction", json_string(a.direction ? "from" : "to"));
    json_object_set_new(o, "gpr", json_string(k_regs[a.gpr & 15]));
    json_object_set_new(o, "value", hex(a.value));
    json_object_set_new(o, "rip", hex(a.rip));
    json_object_set_new(o, "forwarded_only", json_boolean(forwarded_only));
    if (r->h.kind == HV_MSG_SCRIPT) {
        const uint8_t *nul = memchr(rest, 0, len);

        json_object_set_new(o, "script", text((const char *)rest, nul ? (size_t)(nul - rest) : len));
    } else if (r->h.kind == HV_MSG_BREAK) {
        uint64_t g[17] = { 0 };
        json_t *regs = json_object();
        int i;

        memcpy(g, rest, len < sizeof(g) ? len : sizeof(g));
        for (i = 0; i < 16; i++)
            json_object_set_new(regs, k_regs[i], hex(g[i]));
        json_object_set_new(regs, "rflags", hex(g[16]));
        json_object_set_new(o, "regs", regs);
    } else if (r->h.kind == HV_MSG_CODE) {
        char b[2 * HV_MSG_PAYLOAD_MAX + 1];
        uint32_t k;

        for (k = 0; k < len; k++)
            snprintf(b + 2 * k, 3, "%02x", rest[k]);
        b[2 * len] = '\0';
        json_object_set_new(o, "buffer", json_string(b));
    }
    emit(o);
}

void hj_listen(uint32_t total, uint32_t forwarded_only)
{
    json_t *o = typed("listen");

    if (o == NULL)
        return;
    json_object_set_new(o, "messages", json_integer(total));
    json_object_set_new(o, "forwarded_only", json_integer(forwarded_only));
    emit(o);
}

void hj_output(const struct hv_output_info *i, const char *state)
{
    json_t *o = typed("output");

    if (o == NULL)
        return;
    json_object_set_new(o, "name", json_string(i->name));
    json_object_set_new(o, "output_type", json_string(hv_output_type_name(i->type)));
    json_object_set_new(o, "format", json_string(hv_output_format_name(i->format)));
    json_object_set_new(o, "state", json_string(state));
    json_object_set_new(o, "target", text(i->target, strlen(i->target)));
    json_object_set_new(o, "sent", json_integer((json_int_t)i->sent));
    json_object_set_new(o, "dropped", json_integer((json_int_t)i->dropped));
    json_object_set_new(o, "queued", json_integer(i->queued));
    json_object_set_new(o, "events", json_integer(i->events));
    json_object_set_new(o, "error", text(i->error, strlen(i->error)));
    emit(o);
}

void hj_status(const char *target, uint32_t cores)
{
    json_t *o = typed("status");

    if (o == NULL)
        return;
    json_object_set_new(o, "target", json_string(target));
    json_object_set_new(o, "cores", json_integer(cores));
    emit(o);
}

void hj_help(const char *topic, const char *t)
{
    json_t *o = typed("help");

    if (o == NULL)
        return;
    json_object_set_new(o, "topic", json_string(topic && *topic ? topic : ""));
    json_object_set_new(o, "text", text(t, strlen(t)));
    emit(o);
}

void hj_simulate(uint32_t core, uint64_t pid, uint64_t value, hv_status_t st)
{
    json_t *o = typed("simulate");

    if (o == NULL)
        return;
    json_object_set_new(o, "core", json_integer(core));
    json_object_set_new(o, "pid", hex(pid));
    json_object_set_new(o, "value", hex(value));
    status_fields(o, st);
    emit(o);
}

void hj_version(const char *version, unsigned abi, unsigned wire)
{
    json_t *o = typed("version");

    if (o == NULL)
        return;
    json_object_set_new(o, "hvctl", json_string(version));
    json_object_set_new(o, "abi", json_integer(abi));
    json_object_set_new(o, "wire", json_integer(wire));
    json_object_set_new(o, "jansson", json_string(JANSSON_VERSION));
    emit(o);
}

void hj_ok(const char *command, const char *line)
{
    json_t *o = typed("ok");

    if (o == NULL)
        return;
    json_object_set_new(o, "command", json_string(command));
    json_object_set_new(o, "line", text(line, strlen(line)));
    emit(o);
}

void hj_error(const char *command, const char *line, const char *outcome, const char *message, hv_status_t st)
{
    json_t *o = typed("error");

    if (o == NULL)
        return;
    json_object_set_new(o, "command", json_string(command));
    json_object_set_new(o, "line", text(line, strlen(line)));
    json_object_set_new(o, "outcome", json_string(outcome));
    json_object_set_new(o, "message", text(message, strlen(message)));
    if (st != 0)
        status_fields(o, st);
    emit(o);
}
