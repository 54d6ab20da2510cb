/* SPDX-License-Identifier: MIT */
/*
 * The debugger protocol (Debugger Mode): the messages a remote debugger
 * (hvctl, hvcore::client) exchanges with the stub that runs in VMX root on
 * the target, and the target-side API of that stub.
 *
 * Transport. Every message is the payload of one DATA frame of the link
 * layer (hvcore/link.h: framing, CRC-32, seq/ack, retransmission,
 * resynchronisation), over a 16550 UART polled from VMX root, or over TCP
 * (the same bytes). A link payload holds exactly one message: a 16-byte
 * struct hv_dbg_header followed by `length` bytes of body. Every integer is
 * little-endian; every structure has fixed offsets, explicit padding and no
 * pointers (sizes: header 16, hello 56, stop 176, regs 456, set_reg 16,
 * read_mem 16, mem_reply 16; src/debugger/dbg_msg.c asserts them).
 *
 * Conversation. The client sends requests (type < HV_DBG_REPLY); the stub
 * answers each with exactly one reply of type (request type |
 * HV_DBG_REPLY) carrying the request's tag and a status. The stub sends
 * one unsolicited message, HV_DBG_MSG_STOP (tag 0), when the target halts
 * by itself (an event whose action is break). Requests are answered in
 * order, one at a time (the client waits for each reply).
 *
 *   while the target runs:  HELLO, STATUS, PAUSE and EVENT_RESULTS are answered (by the
 *                           core that owns the UART, from its VMX-
 *                           preemption-timer exit, every few ms); any other
 *                           request gets HV_STATUS_TARGET_RUNNING.
 *   while it is halted:     every request is answered; GO resumes all
 *                           cores (its reply is sent before they resume).
 *
 * Errors. A request that is malformed (short header, wrong version, length
 * not matching the payload, a body of the wrong size, an unknown type,
 * reserved fields not 0) is answered with an empty reply of its type and
 * HV_STATUS_INVALID_PACKET (an unknown type: HV_STATUS_INVALID_PARAMETER);
 * one that is well-formed but names something that does not exist (a core,
 * a register, a length over a limit) with HV_STATUS_INVALID_PARAMETER. The
 * stub never waits for anything but the link's bounded waits, so a request
 * can never hang the target.
 *
 * Version. HV_DBG_VERSION is checked on every message: a message of another
 * version is answered with HV_STATUS_INVALID_PACKET and the reply's header
 * carries the stub's version, so a client learns it from any reply.
 * Layouts of version 1 never change; later versions only add message types
 * and append fields (guarded by the body length).
 */
#ifndef HVCORE_DEBUGGER_H
#define HVCORE_DEBUGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "abi.h"
#include "msg.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Limits ---------------------------------------------------------------- */

/* Version of the debugger protocol (struct hv_dbg_header.version). */
#define HV_DBG_VERSION 1u
/* Largest message (header + body) either side sends or accepts: the
 * hv_link_config::max_payload of a debugger link. */
#define HV_DBG_MAX_MESSAGE 16384u
/* Cores a stop report and an MSR reply describe (bitmaps of 32 bytes). */
#define HV_DBG_MAX_CORES 256u
/* Bytes of one READ_MEM request (db/dq ... L n; larger ranges take several). */
#define HV_DBG_MAX_READ 4096u
/* Instruction bytes in a stop report (the longest x86 instruction is 15). */
#define HV_DBG_INSN_BYTES 16u
/* Event changes (EVENT requests) queued until GO. */
#define HV_DBG_MAX_QUEUED 32u
/* Bytes of queued event requests, all together. */
#define HV_DBG_QUEUE_BYTES 32768u
/* Bytes of the ABI request one EVENT message carries. */
#define HV_DBG_MAX_EVENT_REQUEST (HV_DBG_MAX_MESSAGE - 16u - 8u)
/* A core number meaning "the current core" (the one `~ N` selected). */
#define HV_DBG_CURRENT_CORE 0xFFFFFFFFu
/* Every core (MSR requests), as HV_ABI_ALL_CORES. */
#define HV_DBG_ALL_CORES HV_ABI_ALL_CORES
/* The event id in an EVENT_ACTION or EVENT_CTL request queued in the same
 * batch that names the event added by queued request number `n` (0-based,
 * in order of arrival since the last GO): its id is not known before GO. */
#define HV_DBG_QUEUED_EVENT(n) (0x80000000u | (uint32_t)(n))
/* Mask of the queue index in HV_DBG_QUEUED_EVENT() ids. */
#define HV_DBG_QUEUED_EVENT_FLAG 0x80000000u

/* ---- Message header ---------------------------------------------------------- */

/* Set in the type of every message the stub sends. */
#define HV_DBG_REPLY 0x8000u

/* Message types (struct hv_dbg_header.type; replies add HV_DBG_REPLY). */
enum hv_dbg_msg {
    /* Body: none. Reply: struct hv_dbg_hello. Answered while running too. */
    HV_DBG_MSG_HELLO = 0x0001,
    /* Body: none. Reply: struct hv_dbg_stop (state RUNNING with no stop
     * data while running). Answered while running too. */
    HV_DBG_MSG_STATUS = 0x0002,
    /* Break-in. Body: none. Reply: struct hv_dbg_stop once every core is
     * halted or its wait expired (reason BREAK_IN). While already halted:
     * the current stop report, SUCCESS. */
    HV_DBG_MSG_PAUSE = 0x0003,
    /* `g`. Body: none. Reply: empty, then every core resumes; queued event
     * changes are applied at once after it (hv_debugger_apply_events). */
    HV_DBG_MSG_GO = 0x0004,
    /* `r`. Body: struct hv_dbg_core_req. Reply: struct hv_dbg_regs. */
    HV_DBG_MSG_GET_REGS = 0x0010,
    /* `r REG = V`. Body: struct hv_dbg_set_reg. Reply: struct hv_dbg_set_reg
     * with the value the register holds afterwards. */
    HV_DBG_MSG_SET_REG = 0x0011,
    /* `~ N`. Body: struct hv_dbg_core_req (a core, not CURRENT). Reply:
     * struct hv_dbg_stop describing the new current core. */
    HV_DBG_MSG_SWITCH_CORE = 0x0012,
    /* `rdmsr`/`wrmsr`. Body: struct hv_abi_msr_op. Reply: struct
     * hv_dbg_msr_reply + one struct hv_abi_msr_result per target core
     * (ascending); header status SUCCESS or the first failing core's. */
    HV_DBG_MSG_MSR = 0x0020,
    /* `db`/`dq`. Body: struct hv_dbg_read_mem. Reply: struct
     * hv_dbg_mem_reply + the bytes read. */
    HV_DBG_MSG_READ_MEM = 0x0030,
    /* `events`/`!dr` changes, queued until GO. Body: struct hv_dbg_event_req
     * + an ABI request (abi.h, with its header). Reply: struct
     * hv_dbg_event_reply. */
    HV_DBG_MSG_EVENT = 0x0040,
    /* Outcome of the changes applied at the last GO. Body: none. Reply:
     * struct hv_dbg_event_results + `count` struct hv_dbg_event_result.
     * Answered while running too (poll it until `pending` is 0). */
    HV_DBG_MSG_EVENT_RESULTS = 0x0041,
    /* Drop the changes queued since the last GO. Body: none. Reply: empty. */
    HV_DBG_MSG_EVENT_DISCARD = 0x0042,
    /* Sent by the stub (with HV_DBG_REPLY, tag 0) when the target halted
     * by itself. Body: struct hv_dbg_stop. Never sent by a client. */
    HV_DBG_MSG_STOP = 0x0050,
};

/* The first 16 bytes of every message. */
struct hv_dbg_header {
    uint16_t version;   /* HV_DBG_VERSION */
    uint16_t type;      /* enum hv_dbg_msg, | HV_DBG_REPLY in replies */
    uint32_t tag;       /* request: chosen by the client; reply: the request's; STOP: 0 */
    uint32_t status;    /* reply: hv_status_t; request: 0 */
    uint32_t length;    /* bytes of body after the header (= link payload - 16) */
};

/* ---- Bodies ------------------------------------------------------------------- */

/* hv_dbg_stop.state, hv_dbg_hello.state. */
enum hv_dbg_state {
    HV_DBG_STATE_RUNNING = 0,   /* the guest runs on every core */
    HV_DBG_STATE_HALTED = 1,    /* the cores are held in VMX root */
};

/* HELLO reply: what the stub is and can do. */
struct hv_dbg_hello {
    uint32_t version;           /* HV_DBG_VERSION of the stub */
    uint32_t state;             /* enum hv_dbg_state */
    uint32_t ncores;            /* cores the hypervisor manages */
    uint32_t current_core;      /* the current core (`~`) */
    uint32_t max_message;       /* HV_DBG_MAX_MESSAGE */
    uint32_t max_read;          /* HV_DBG_MAX_READ */
    uint32_t max_queued;        /* HV_DBG_MAX_QUEUED */
    uint32_t queue_bytes;       /* HV_DBG_QUEUE_BYTES */
    uint64_t stops;             /* halts since the hypervisor started */
    char signature[16];         /* CPUID 0x40000000 signature, NUL-padded */
};

/* hv_dbg_stop.reason: why the target halted. */
enum hv_dbg_stop_reason {
    HV_DBG_STOP_NONE = 0,       /* running (STATUS while running) */
    HV_DBG_STOP_BREAK_IN = 1,   /* a PAUSE request (Ctrl-C, `pause`) */
    HV_DBG_STOP_EVENT = 2,      /* an event whose action is break (event_id, dr) */
};

/* Bytes of each core bitmap in a stop report. */
#define HV_DBG_CORE_BITMAP (HV_DBG_MAX_CORES / 8u)

/* Stop report (STOP, PAUSE, STATUS and SWITCH_CORE replies). Bit n of a
 * bitmap is byte n / 8, bit n % 8. RIP, pid, mode and instruction bytes are
 * those of current_core. */
struct hv_dbg_stop {
    uint32_t state;             /* enum hv_dbg_state */
    uint32_t reason;            /* enum hv_dbg_stop_reason */
    uint32_t stopping_core;     /* the core that halted the others */
    uint32_t current_core;      /* the core commands act on */
    uint32_t event_id;          /* reason EVENT: the event; else 0xFFFFFFFF */
    uint32_t ncores;            /* cores the hypervisor manages */
    uint64_t pid;               /* process current on current_core (0: none) */
    uint64_t rip;               /* guest RIP of current_core */
    uint64_t stops;             /* halts since the hypervisor started (this one included) */
    uint32_t mode;              /* code size of current_core: 16, 32 or 64 (CS.L/CS.D) */
    uint32_t insn_len;          /* valid bytes in insn[] (0 .. 16) */
    uint32_t insn_status;       /* SUCCESS, or why fewer bytes (a guest page not present, ...) */
    uint32_t reserved;          /* 0 */
    uint8_t insn[HV_DBG_INSN_BYTES]; /* guest bytes at rip (through the guest page tables) */
    struct hv_msg_dr_access dr; /* reason EVENT: the DR access that fired; else zero */
    uint8_t halted[HV_DBG_CORE_BITMAP];     /* cores held in VMX root */
    uint8_t not_halted[HV_DBG_CORE_BITMAP]; /* cores that did not halt within the bound (still running) */
};

/* GET_REGS and SWITCH_CORE request body. */
struct hv_dbg_core_req {
    uint32_t core;              /* a core; GET_REGS also HV_DBG_CURRENT_CORE */
    uint32_t reserved;          /* 0 */
};

/* One segment register in struct hv_dbg_regs (VMCS guest-state fields). */
struct hv_dbg_segment {
    uint16_t selector;          /* selector */
    uint16_t reserved;          /* 0 */
    uint32_t access_rights;     /* VMX access-rights format (SDM Vol. 3C, 25.4.1) */
    uint32_t limit;             /* limit in bytes - 1 */
    uint32_t reserved2;         /* 0 */
    uint64_t base;              /* base address */
};

/* GET_REGS reply: a halted core's guest state. */
struct hv_dbg_regs {
    uint32_t core;              /* the core read */
    uint32_t reserved;          /* 0 */
    uint64_t gpr[16];           /* enum hv_gpr order; gpr[HV_GPR_RSP] = GUEST_RSP */
    uint64_t rip, rflags;       /* GUEST_RIP, GUEST_RFLAGS */
    uint64_t cr0, cr2, cr3, cr4; /* GUEST_CR0/CR3/CR4; CR2 as the core holds it (not switched by VMX) */
    uint64_t dr0, dr1, dr2, dr3, dr6; /* as the core holds them (not switched by VMX) */
    uint64_t dr7;               /* GUEST_DR7 */
    uint64_t efer;              /* GUEST_IA32_EFER (0 when the VMCS has no such field) */
    uint64_t gdtr_base, idtr_base; /* GUEST_GDTR_BASE, GUEST_IDTR_BASE */
    uint32_t gdtr_limit, idtr_limit; /* their limits */
    struct hv_dbg_segment seg[8]; /* enum hv_seg order: ES CS SS DS FS GS LDTR TR */
};

/* Registers SET_REG writes (hv_dbg_set_reg.reg); 0-15 are enum hv_gpr. */
enum hv_dbg_reg {
    HV_DBG_REG_GPR_LAST = 15,   /* 0 .. 15: RAX .. R15 (RSP goes to GUEST_RSP) */
    HV_DBG_REG_RIP = 16,        /* GUEST_RIP */
    HV_DBG_REG_RFLAGS = 17,     /* GUEST_RFLAGS (bit 1 forced to 1, reserved bits refused) */
    HV_DBG_REG_DR0 = 18,        /* DR0 */
    HV_DBG_REG_DR1 = 19,        /* DR1 */
    HV_DBG_REG_DR2 = 20,        /* DR2 */
    HV_DBG_REG_DR3 = 21,        /* DR3 */
    HV_DBG_REG_DR6 = 22,        /* DR6 */
    HV_DBG_REG_DR7 = 23,        /* GUEST_DR7 */
    HV_DBG_REG_COUNT = 24,      /* one past the last */
};

/* SET_REG request body, and its reply. */
struct hv_dbg_set_reg {
    uint32_t core;              /* a core or HV_DBG_CURRENT_CORE */
    uint32_t reg;               /* enum hv_dbg_reg */
    uint64_t value;             /* request: the value; reply: the value now held */
};

/* MSR reply: `count` struct hv_abi_msr_result follow (abi.h). */
struct hv_dbg_msr_reply {
    uint32_t count;             /* results that follow, one per target core */
    uint32_t reserved;          /* 0 */
};

/* READ_MEM request body. */
struct hv_dbg_read_mem {
    uint64_t address;           /* guest virtual address (the core's guest page tables) */
    uint32_t length;            /* 1 .. HV_DBG_MAX_READ */
    uint32_t core;              /* a core or HV_DBG_CURRENT_CORE */
};

/* READ_MEM reply: `length` bytes follow. Header status: SUCCESS when every
 * byte was read, else the fault (GUEST_PAGE_NOT_PRESENT, ACCESS_VIOLATION,
 * GUEST_ADDRESS_NONCANONICAL, ...) with the bytes before it. */
struct hv_dbg_mem_reply {
    uint64_t address;           /* as requested */
    uint32_t length;            /* bytes that follow (read before the fault) */
    uint32_t fault;             /* status of the first byte not read; SUCCESS when none */
};

/* EVENT request body: the ABI request (abi.h layout, its hv_abi_header
 * first, header.size = request_len) follows. */
struct hv_dbg_event_req {
    uint32_t request;           /* HV_ABI_REQ_EVENT_ADD, _ACTION or _CTL (abi_exec.h) */
    uint32_t request_len;       /* bytes of the ABI request (<= HV_DBG_MAX_EVENT_REQUEST) */
};

/* EVENT reply. */
struct hv_dbg_event_reply {
    uint32_t index;             /* position in the queue (HV_DBG_QUEUED_EVENT(index) names an added event) */
    uint32_t queued;            /* requests now queued */
    uint32_t bytes_used;        /* queue bytes now used */
    uint32_t bytes_free;        /* queue bytes left */
};

/* EVENT_RESULTS reply: `count` struct hv_dbg_event_result follow. */
struct hv_dbg_event_results {
    uint32_t count;             /* results of the last applied batch */
    uint32_t pending;           /* 1 while the batch queued at the last GO is not applied yet */
    uint32_t queued;            /* requests queued since the last GO */
    uint32_t reserved;          /* 0 */
};

/* The outcome of one applied event change. */
struct hv_dbg_event_result {
    uint32_t request;           /* HV_ABI_REQ_EVENT_ADD, _ACTION or _CTL */
    uint32_t status;            /* hv_abi_execute's status */
    uint32_t id;                /* EVENT_ADD: the new event's id; else the event named */
    uint32_t reserved;          /* 0 */
};

/* ---- Message helpers (both sides) ---------------------------------------- */

/* Check the header of a received link payload: at least 16 bytes, version
 * HV_DBG_VERSION, reserved bits clear, `length` = len - 16 (copied into
 * *out when readable, even on failure). Context: any.
 * @return SUCCESS, INVALID_PACKET (short, wrong version, length mismatch)
 *         or INVALID_PARAMETER (NULL pointers). */
hv_status_t hv_dbg_header_check(const void *payload, uint32_t len, struct hv_dbg_header *out);

/* Write a header into `buf` (at least 16 bytes). Context: any. */
void hv_dbg_header_put(void *buf, uint16_t type, uint32_t tag, hv_status_t status, uint32_t length);

/* Name of a message type ("HELLO", "STOP", ...; the reply bit is ignored);
 * never NULL ("UNKNOWN" for others). Context: any. */
const char *hv_dbg_msg_name(uint16_t type);

/* ---- Target side (the stub, src/debugger/) --------------------------------- */

struct hv;

/* Whether hv_create() turned Debugger Mode on (hv_config.debug_port set).
 * Context: any. */
bool hv_debugger_enabled(const struct hv *hv);

/* Whether event changes queued while halted wait to be applied (a GO was
 * answered and hv_debugger_apply_events has not run yet). Lock-free; a
 * platform polls it from its periodic timer (the hv_event_flush one).
 * Context: any. */
bool hv_debugger_events_pending(const struct hv *hv);

/* Apply the event changes queued at the last GO, in order, through
 * hv_abi_execute (queued ids resolved, HV_DBG_QUEUED_EVENT), and keep their
 * outcomes for EVENT_RESULTS. Event changes allocate and run callbacks on
 * every core, so they cannot run in VMX root: the stub only queues them
 * and the platform calls this from normal kernel context soon after GO.
 * @return SUCCESS (also when nothing was pending; each change's own status
 *         is in its result), or INVALID_PARAMETER (hv NULL or not in
 *         Debugger Mode). Context: PRE-LAUNCH. */
hv_status_t hv_debugger_apply_events(struct hv *hv);

/* End a halt as GO does, without a debugger (a platform that unloads, a
 * test that stops): the owner's wait ends at its next bounded wait and
 * every core resumes. While running it stays armed: the next halt ends at
 * once (after its stop report). Context: any (lock-free). */
void hv_debugger_release(struct hv *hv);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_DEBUGGER_H */
