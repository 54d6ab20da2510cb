/* SPDX-License-Identifier: MIT */
/*
 * The script engine, root side: a compact stack bytecode that the client
 * compiles from HyperDbg's script language (hvcore/client/script.h), that
 * the core verifies again and interprets in VMX root.
 *
 * Safety rests on the verifier (hv_script_verify), run by the client before
 * sending and by the core before accepting:
 *   - only known opcodes, each with its operands inside the code;
 *   - every jump and call target is the start of an instruction;
 *   - the operand-stack depth at every instruction is the same on every
 *     path and never above HV_SCRIPT_MAX_STACK (checked by abstract
 *     interpretation), so the interpreter needs no stack check;
 *   - constant, local, global, register, pseudo-register and string
 *     operands are in range; strings are NUL-terminated inside the data.
 * The interpreter then runs without allocation, recursion or floating
 * point, with a per-run instruction budget: a script that runs out ends
 * with a "budget exhausted" record, never a hang. Script functions may call
 * each other (and themselves) up to HV_SCRIPT_MAX_FRAMES deep; the frames
 * are an array, not the C stack.
 *
 * Program layout (little-endian), as sent through the ABI:
 *   struct hv_script_header
 *   code[code_len]                 instructions (opcode byte + operands)
 *   consts[nconst]                 uint64_t each
 *   data[data_len]                 NUL-terminated strings (format strings, literals)
 *   globals[nglobals][HV_SCRIPT_NAME_LEN]  names of the global variables
 *                                  used, NUL-padded; bound to the
 *                                  hypervisor-wide globals by name at load
 */
#ifndef HVCORE_SCRIPT_H
#define HVCORE_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HV_SCRIPT_MAGIC          0x31535648u  /**< "HVS1" */
#define HV_SCRIPT_VERSION        1u           /**< version of the program format */
#define HV_SCRIPT_MAX_CODE       8192u        /**< bytes of code */
#define HV_SCRIPT_MAX_CONST      256u         /**< 64-bit constants */
#define HV_SCRIPT_MAX_DATA       4096u        /**< bytes of strings */
#define HV_SCRIPT_MAX_GLOBALS    64u          /**< globals one script names */
#define HV_SCRIPT_MAX_LOCALS     64u          /**< locals per function frame */
#define HV_SCRIPT_MAX_STACK      32u          /**< operand stack per frame */
#define HV_SCRIPT_MAX_FRAMES     16u          /**< call depth, main included */
#define HV_SCRIPT_NAME_LEN       32u          /**< global name, NUL included */
#define HV_SCRIPT_GLOBAL_SLOTS   256u         /**< globals per hypervisor */
#define HV_SCRIPT_DEFAULT_BUDGET 100000u      /**< instructions per run */
#define HV_SCRIPT_MAX_BUDGET     10000000u    /**< the largest budget a program may ask for */
/** Bytes of the largest program: header, code, constants, strings, global names. */
#define HV_SCRIPT_MAX_PROGRAM    (sizeof(struct hv_script_header) + HV_SCRIPT_MAX_CODE + \
                                  8u * HV_SCRIPT_MAX_CONST + HV_SCRIPT_MAX_DATA + \
                                  HV_SCRIPT_MAX_GLOBALS * HV_SCRIPT_NAME_LEN)

/** Fixed start of a program (24 bytes). */
struct hv_script_header {
    uint32_t magic;      /**< HV_SCRIPT_MAGIC */
    uint16_t version;    /**< HV_SCRIPT_VERSION */
    uint16_t nlocals;    /**< local slots per frame (largest function) */
    uint32_t code_len;   /**< bytes of code */
    uint32_t budget;     /**< instructions per run; 0 = HV_SCRIPT_DEFAULT_BUDGET */
    uint16_t nconst;     /**< 64-bit constants */
    uint16_t data_len;   /**< bytes of string data */
    uint16_t nglobals;   /**< global names */
    uint16_t reserved;   /**< 0 */
};

/** Opcodes. Operands follow the opcode byte; u16 are little-endian. */
enum hv_script_op {
    HV_SOP_HALT = 0,      /**< end the run */
    HV_SOP_PUSHK,         /**< u16 constant index: push it */
    HV_SOP_PUSHI,         /**< u8 value: push it */
    HV_SOP_REG,           /**< u8 register (enum hv_script_reg): push it */
    HV_SOP_SETREG,        /**< u8 register: pop into it */
    HV_SOP_PSEUDO,        /**< u8 pseudo-register (enum hv_script_pseudo): push it */
    HV_SOP_LOCAL,         /**< u8 local: push it */
    HV_SOP_SETLOCAL,      /**< u8 local: pop into it */
    HV_SOP_GLOBAL,        /**< u8 global: push it */
    HV_SOP_SETGLOBAL,     /**< u8 global: pop into it */
    HV_SOP_POP,           /**< drop the top */
    HV_SOP_ADD, HV_SOP_SUB, HV_SOP_MUL, HV_SOP_DIV, HV_SOP_MOD,   /**< unsigned 64-bit; /0 is a run-time error */
    HV_SOP_AND, HV_SOP_OR, HV_SOP_XOR, HV_SOP_SHL, HV_SOP_SHR,    /**< shift counts taken mod 64 */
    HV_SOP_GT, HV_SOP_LT, HV_SOP_GE, HV_SOP_LE,                   /**< signed, 1 or 0 */
    HV_SOP_EQ, HV_SOP_NE,
    HV_SOP_NEG,           /**< two's complement */
    HV_SOP_NOT,           /**< bitwise */
    HV_SOP_BOOL,          /**< x != 0 */
    HV_SOP_JMP,           /**< u16 target */
    HV_SOP_JZ,            /**< u16 target: pop; jump if 0 */
    HV_SOP_JNZ,           /**< u16 target: pop; jump if not 0 */
    HV_SOP_LOAD,          /**< u8 kind (enum hv_script_load): pop guest address, push value */
    HV_SOP_STORE,         /**< u8 size 1/4/8: pop value, pop address; push 1 written / 0 not */
    HV_SOP_CHECKADDR,     /**< pop address; push 1 if one byte there is readable */
    HV_SOP_STRLEN,        /**< pop address; push the string's length */
    HV_SOP_STRCMP,        /**< pop b, pop a (addresses): push -1/0/1 */
    HV_SOP_STRCMPK,       /**< u16 data offset: pop a (address), compare with the literal */
    HV_SOP_MEMCMP,        /**< pop n, pop b, pop a (addresses) */
    HV_SOP_MEMCMPK,       /**< u16 data offset: pop n, pop a (address) */
    HV_SOP_PRINTF,        /**< u16 format (data offset), u8 argument count: pop them, emit text */
    HV_SOP_ILK,           /**< u8 op (enum hv_script_ilk), u8 global: atomic on the global */
    HV_SOP_EVENT,         /**< u8 1 enable / 2 disable: pop event id */
    HV_SOP_PAUSE,         /**< emit a pause record (a debugger breaks there) */
    HV_SOP_CALL,          /**< u16 target, u8 argument count: new frame, arguments in locals from 0 */
    HV_SOP_RET,           /**< pop the result, back to the caller (push it there); in main: end */
    HV_SOP_COUNT
};

/** Registers (HV_SOP_REG/SETREG): 0-15 in x86 encoding order (RAX=0 .. R15=15). */
enum hv_script_reg {
    HV_SREG_RIP = 16,
    HV_SREG_RFLAGS = 17,
    HV_SREG_COUNT = 18,
};

/** Pseudo-registers. Those a platform cannot tell read 0 (HyperDbg: NULL). */
enum hv_script_pseudo {
    HV_SPSEUDO_PID = 1,
    HV_SPSEUDO_TID,
    HV_SPSEUDO_CORE,
    HV_SPSEUDO_PROC,
    HV_SPSEUDO_THREAD,
    HV_SPSEUDO_CONTEXT,
    HV_SPSEUDO_IP,
    HV_SPSEUDO_BUFFER,
    HV_SPSEUDO_EVENT_ID,
    HV_SPSEUDO_EVENT_STAGE,
    HV_SPSEUDO_COUNT
};

/** HV_SOP_LOAD kinds: bytes read and what is kept (HyperDbg keywords). */
enum hv_script_load {
    HV_SLOAD_DB = 1,   /**< 8 bits */
    HV_SLOAD_DW = 2,   /**< 16 bits */
    HV_SLOAD_DD = 4,   /**< 32 bits */
    HV_SLOAD_DQ = 8,   /**< 64 bits (also poi) */
    HV_SLOAD_HI = 9,   /**< bits 31:16 of the 64-bit value there */
    HV_SLOAD_LOW = 10, /**< bits 15:0 of the 64-bit value there */
};

/** HV_SOP_ILK operations on a global; each pushes the global's old value
 * (increment/decrement push the new one, as InterlockedIncrement). */
enum hv_script_ilk {
    HV_SILK_INC = 1,
    HV_SILK_DEC,
    HV_SILK_XCHG,      /**< pop value */
    HV_SILK_XADD,      /**< pop value */
    HV_SILK_CMPXCHG,   /**< pop comperand, pop exchange */
};

/** Why a run ended early (struct hv_msg_script_status.reason). */
enum hv_script_end {
    HV_SCRIPT_END_OK = 0,
    HV_SCRIPT_END_BUDGET = 1,     /**< instruction budget exhausted */
    HV_SCRIPT_END_ERROR = 2,      /**< run-time error (status, error, address tell) */
    HV_SCRIPT_END_PAUSE = 3,      /**< pause() */
};

/** Run-time errors (struct hv_msg_script_status.error). */
enum hv_script_errcode {
    HV_SCRIPT_ERR_NONE = 0,
    HV_SCRIPT_ERR_MEMORY = 1,     /**< guest memory unreadable; status says why */
    HV_SCRIPT_ERR_DIVIDE = 2,     /**< division or modulo by zero */
    HV_SCRIPT_ERR_DEPTH = 3,      /**< calls nested deeper than HV_SCRIPT_MAX_FRAMES */
};

/** Payload of an HV_MSG_SCRIPT_STATUS record. */
struct hv_msg_script_status {
    uint32_t reason;     /**< enum hv_script_end */
    uint32_t error;      /**< enum hv_script_errcode */
    uint32_t status;     /**< hv_status_t: BUDGET_EXHAUSTED, RUNTIME_ERROR or the memory status */
    uint32_t pc;         /**< code offset of the instruction */
    uint64_t executed;   /**< instructions run */
    uint64_t address;    /**< the guest address for memory errors */
};

/** What the verifier learned. */
struct hv_script_info {
    uint32_t code_len, nconst, data_len, nglobals, nlocals; /**< sizes and counts from the header */
    uint32_t budget;       /**< effective (default applied) */
    uint32_t max_stack;    /**< deepest operand stack of any frame */
    uint32_t total_len;    /**< bytes the program occupies */
};

/** Working memory of the verifier: one byte per code byte. */
struct hv_script_verify_scratch {
    uint8_t depth[HV_SCRIPT_MAX_CODE]; /**< stack depth at each code offset */
};

/**
 * Check a program (the rules at the top of this file).
 * Context: any (no allocation; the work is bounded by the code size: at
 * most one sweep over the code per instruction).
 * @param prog  the program bytes.
 * @param len   their count (the program may not be longer).
 * @param scratch  working memory (kept off the stack).
 * @param info  if not NULL, filled on success.
 * @param why   if not NULL, receives a short reason on failure.
 * @param where if not NULL, receives the code offset at fault (or 0).
 * @return SUCCESS or SCRIPT_INVALID.
 */
hv_status_t hv_script_verify(const uint8_t *prog, uint32_t len, struct hv_script_verify_scratch *scratch,
                             struct hv_script_info *info, const char **why, uint32_t *where);

/** A verified program in the form the interpreter runs. */
struct hv_script {
    struct hv_script_info info; /**< what the verifier learned */
    const uint8_t *code;        /**< the bytecode */
    const uint8_t *consts;      /**< nconst * 8 bytes, little-endian */
    const char *data;           /**< the strings */
    uint16_t global_slot[HV_SCRIPT_MAX_GLOBALS]; /**< script global -> env globals index */
};

/**
 * Make a struct hv_script over `prog` (which must stay alive as long as
 * it): verify, then bind the global names to `slots` of a
 * HV_SCRIPT_GLOBAL_SLOTS-entry name table (`names`, NUL-padded; a new name
 * takes the first empty entry).
 * Context: any (the caller serializes users of `names`).
 * @return SUCCESS; SCRIPT_INVALID; INSUFFICIENT_RESOURCES (no free global slot).
 */
hv_status_t hv_script_bind(struct hv_script *s, const uint8_t *prog, uint32_t len,
                           struct hv_script_verify_scratch *scratch, char (*names)[HV_SCRIPT_NAME_LEN]);

/** Where a run sends its output; called once per record's worth. */
typedef void (*hv_script_emit_fn)(void *ctx, uint16_t kind, const void *payload, uint32_t len);

/** Per-core working memory of the interpreter (kept off the C stack). */
struct hv_script_vm {
    uint64_t stack[HV_SCRIPT_MAX_STACK * HV_SCRIPT_MAX_FRAMES]; /**< operand stacks of every frame */
    uint64_t locals[HV_SCRIPT_MAX_FRAMES][HV_SCRIPT_MAX_LOCALS]; /**< locals of every frame */
    /** Call frames: return offset and operand-stack base. */
    struct { uint32_t ret_pc, stack_base; } frames[HV_SCRIPT_MAX_FRAMES];
    char text[HV_SCRIPT_MAX_DATA + 64]; /**< printf output being built */
};

struct hv_os_ops;
struct hv_guest_paging;
struct hv_gprs;

/** Everything a run sees and may change. */
struct hv_script_env {
    const struct hv_os_ops *os;          /**< phys_to_virt for guest memory */
    const struct hv_guest_paging *paging;/**< NULL: the current VMCS's */
    struct hv_gprs *gprs;                /**< guest GPRs (RSP included), read and written */
    uint64_t rip, rflags;                /**< read; written back by the caller if *_changed */
    bool rip_changed, rflags_changed;    /**< out: the run wrote rip / rflags */
    uint64_t pseudo[HV_SPSEUDO_COUNT];   /**< values of the pseudo-registers */
    uint64_t *globals;                   /**< HV_SCRIPT_GLOBAL_SLOTS entries, shared by all cores */
    struct hv_script_vm *vm;             /**< scratch */
    hv_script_emit_fn emit;              /**< output (HV_MSG_SCRIPT text, HV_MSG_SCRIPT_STATUS) */
    void *emit_ctx;                      /**< passed to emit */
    /** Event enable/disable requests (may be NULL: then they do nothing). */
    void (*event_ctl)(void *ctx, uint32_t id, bool enable);
    void *event_ctx;                     /**< passed to event_ctl */
    /** Prefix of every HV_MSG_SCRIPT text payload (the event's access), or 0 bytes. */
    const void *prefix;
    uint32_t prefix_len;                 /**< bytes of prefix */
    /* Out: */
    uint64_t executed;                   /**< instructions run */
    uint32_t end;                        /**< enum hv_script_end */
    uint32_t error;                      /**< enum hv_script_errcode */
    hv_status_t status;                  /**< of the run */
    uint64_t result;                     /**< top of the stack at the end (0 if empty) */
};

/**
 * Run a bound program once.
 * Context: root-safe (no allocation, no lock, no recursion; bounded by the
 * budget: at most info.budget instructions, each of bounded cost).
 * @param s    the program.
 * @param env  inputs and outputs.
 * @return SUCCESS, SCRIPT_BUDGET_EXHAUSTED, SCRIPT_RUNTIME_ERROR, or the
 *         memory status of a failed read; a status record was emitted for
 *         each but SUCCESS (and for pause()).
 */
hv_status_t hv_script_run(const struct hv_script *s, struct hv_script_env *env);

/** Name of an opcode ("add"), "?" if unknown. Context: any. */
const char *hv_script_op_name(uint8_t op);

/** Bytes of text a one-shot evaluation returns. */
#define HV_SCRIPT_EVAL_TEXT 2048u

/** What a one-shot evaluation (`?` in hvctl) produced. */
struct hv_script_eval_result {
    hv_status_t status;     /**< of the run (SUCCESS, BUDGET_EXHAUSTED, RUNTIME_ERROR, a memory status) */
    uint32_t end;           /**< enum hv_script_end */
    uint32_t error;         /**< enum hv_script_errcode */
    uint32_t text_len;      /**< bytes in text (NUL-terminated; cut at HV_SCRIPT_EVAL_TEXT - 1) */
    uint64_t result;        /**< value of a last expression statement, else 0 */
    uint64_t executed;      /**< instructions run */
    uint64_t address;       /**< the bad address of a memory error */
    uint32_t pc;            /**< where the run ended early */
    uint32_t paused;        /**< pause() calls */
    char text[HV_SCRIPT_EVAL_TEXT]; /**< printf output */
};

struct hv;

/**
 * Run a program once on `core` in VMX root, in the context of the guest
 * that asked (its registers at the VMCALL; $pid its process), sharing the
 * globals of event scripts. Context: PRE-LAUNCH (allocates, cross-calls).
 * @param hv    a started hypervisor.
 * @param core  the core to run on.
 * @param prog  the program (copied and verified).
 * @param len   its size.
 * @param out   the result.
 * @return SUCCESS when the run took place (its own status is out->status);
 *         SCRIPT_INVALID; NOT_VIRTUALIZED (core not virtualized);
 *         INVALID_PARAMETER; INSUFFICIENT_RESOURCES; CPU_CALL_FAILED.
 */
hv_status_t hv_script_eval(struct hv *hv, uint32_t core, const uint8_t *prog, uint32_t len,
                           struct hv_script_eval_result *out);

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_SCRIPT_H */
