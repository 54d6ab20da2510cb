/*
 * The debugger client's answer decoder (hvcore/client/dbgclient.h): any
 * bytes the target could send as a link payload, checked as the reply to
 * any request (type, tag and the target's core count come from the input)
 * or as a stop report. Invariants: never crashes or reads outside the
 * payload; what it accepts has the shape the protocol gives that reply
 * (sizes, counts matching lengths, cores in range), which is what the
 * client's copies rely on.
 */
#include <hvcore/client/dbgclient.h>

#include <stdlib.h>
#include <string.h>

static const uint16_t types[] = {
    HV_DBG_MSG_HELLO, HV_DBG_MSG_STATUS, HV_DBG_MSG_PAUSE, HV_DBG_MSG_GO, HV_DBG_MSG_GET_REGS, HV_DBG_MSG_SET_REG,
    HV_DBG_MSG_SWITCH_CORE, HV_DBG_MSG_MSR, HV_DBG_MSG_READ_MEM, HV_DBG_MSG_EVENT, HV_DBG_MSG_EVENT_RESULTS,
    HV_DBG_MSG_EVENT_DISCARD,
};

static void check_stop(const uint8_t *body, uint32_t ncores)
{
    struct hv_dbg_stop s;

    memcpy(&s, body, sizeof(s));
    if (s.state > HV_DBG_STATE_HALTED || s.insn_len > HV_DBG_INSN_BYTES || s.ncores == 0 ||
        s.ncores > HV_DBG_MAX_CORES || (ncores && s.ncores != ncores))
        abort();
    if (s.state == HV_DBG_STATE_HALTED && (s.current_core >= s.ncores || s.stopping_core >= s.ncores))
        abort();
}

/* What an accepted successful reply of `type` must look like. */
static void check_accepted(uint16_t type, const struct hv_dbg_header *h, const uint8_t *body, uint32_t ncores)
{
    switch (type) {
    case HV_DBG_MSG_HELLO: {
        struct hv_dbg_hello o;

        if (h->length != sizeof(o))
            abort();
        memcpy(&o, body, sizeof(o));
        if (o.ncores == 0 || o.ncores > HV_DBG_MAX_CORES || o.current_core >= o.ncores || o.max_read == 0)
            abort();
        break;
    }
    case HV_DBG_MSG_STATUS:
    case HV_DBG_MSG_PAUSE:
    case HV_DBG_MSG_SWITCH_CORE:
        if (h->length != sizeof(struct hv_dbg_stop))
            abort();
        check_stop(body, ncores);
        break;
    case HV_DBG_MSG_GO:
    case HV_DBG_MSG_EVENT_DISCARD:
        if (h->length != 0)
            abort();
        break;
    case HV_DBG_MSG_GET_REGS: {
        uint32_t core;

        if (h->length != sizeof(struct hv_dbg_regs))
            abort();
        memcpy(&core, body, sizeof(core));
        if (ncores && core >= ncores)
            abort();
        break;
    }
    case HV_DBG_MSG_SET_REG:
        if (h->length != sizeof(struct hv_dbg_set_reg))
            abort();
        break;
    case HV_DBG_MSG_MSR: {
        struct hv_dbg_msr_reply m;

        if (h->length < sizeof(m))
            abort();
        memcpy(&m, body, sizeof(m));
        if (m.count > HV_DBG_MAX_CORES || (ncores && m.count > ncores) ||
            h->length != sizeof(m) + m.count * sizeof(struct hv_abi_msr_result))
            abort();
        break;
    }
    case HV_DBG_MSG_READ_MEM: {
        struct hv_dbg_mem_reply m;

        if (h->length < sizeof(m))
            abort();
        memcpy(&m, body, sizeof(m));
        if (m.length > HV_DBG_MAX_READ || h->length != sizeof(m) + m.length)
            abort();
        break;
    }
    case HV_DBG_MSG_EVENT:
        if (h->length != sizeof(struct hv_dbg_event_reply))
            abort();
        break;
    case HV_DBG_MSG_EVENT_RESULTS: {
        struct hv_dbg_event_results r;

        if (h->length < sizeof(r))
            abort();
        memcpy(&r, body, sizeof(r));
        if (r.count > HV_DBG_MAX_QUEUED || h->length != sizeof(r) + r.count * sizeof(struct hv_dbg_event_result))
            abort();
        break;
    }
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hv_dbg_header h;
    const uint8_t *body, *msg;
    uint8_t *copy;
    uint16_t type;
    uint32_t tag, ncores, len;
    bool is_stop, stale;
    char err[160];
    hv_status_t st;

    if (size < 3)
        return 0;
    type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    ncores = data[1] % 5 == 0 ? 0 : 1u + data[1] % HV_DBG_MAX_CORES;
    /* The tag the client waits for: often the message's own, so replies get checked. */
    msg = data + 3;
    len = (uint32_t)(size - 3 > HV_DBG_MAX_MESSAGE + 64 ? HV_DBG_MAX_MESSAGE + 64 : size - 3);
    tag = (data[2] & 1) && len >= 8 ? (uint32_t)msg[4] | (uint32_t)msg[5] << 8 | (uint32_t)msg[6] << 16 |
                                         (uint32_t)msg[7] << 24
                                    : data[2];
    /* An exact-size heap copy: ASan catches any read past the payload. */
    copy = malloc(len ? len : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, msg, len);
    st = hv_dbgc_check_message(len ? copy : NULL, len, type, tag, ncores, &h, &body, &is_stop, &stale, err,
                               sizeof(err));
    if (memchr(err, '\0', sizeof(err)) == NULL)
        abort();
    if (st == HV_STATUS_SUCCESS) {
        if (body != copy + 16 || h.length != len - 16 || is_stop + stale > 1)
            abort();
        if (is_stop) {
            if (h.length != sizeof(struct hv_dbg_stop))
                abort();
            check_stop(body, ncores);
        } else if (!stale) {
            if (h.type != (type | HV_DBG_REPLY) || h.tag != tag)
                abort();
            if (h.status == HV_STATUS_SUCCESS || h.length != 0)
                check_accepted(type, &h, body, ncores);
        }
    } else if (st != HV_STATUS_INVALID_PACKET || err[0] == '\0') {
        abort();
    }
    free(copy);
    return 0;
}
