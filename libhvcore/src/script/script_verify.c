/* SPDX-License-Identifier: MIT */
/*
 * The bytecode verifier (hvcore/script.h). Shared by the client (before it
 * sends a program) and the core (before it accepts one): the interpreter
 * trusts exactly what is proven here and checks nothing of it again.
 *
 * Stack depths are found by abstract interpretation without a worklist:
 * depth[] holds, per code byte, "not an instruction start", "start, depth
 * unknown" or the depth; sweeps over the code propagate known depths to
 * successors until a sweep changes nothing. A depth never changes once
 * set (a second, different one is a rejection), so each sweep but the
 * last sets at least one new depth and the sweeps are bounded by the
 * number of instructions.
 */
#include <hvcore/script.h>

#include "lib.h"

#define NOT_START 0xFFu
#define UNKNOWN   0xFEu

struct op_shape {
    uint8_t operand_bytes;
    int8_t pops, pushes;      /* pops -1: variable (printf, call) */
    uint8_t flow;             /* 0 next, 1 jump (no next), 2 branch, 3 end, 4 call */
};

/* Indexed by opcode; a gap (zero operand_bytes with pops 0, pushes 0 and
 * flow 0) is never an opcode: HV_SOP_COUNT bounds the table. */
static const struct op_shape shapes[HV_SOP_COUNT] = {
    [HV_SOP_HALT] = { 0, 0, 0, 3 },
    [HV_SOP_PUSHK] = { 2, 0, 1, 0 },
    [HV_SOP_PUSHI] = { 1, 0, 1, 0 },
    [HV_SOP_REG] = { 1, 0, 1, 0 },
    [HV_SOP_SETREG] = { 1, 1, 0, 0 },
    [HV_SOP_PSEUDO] = { 1, 0, 1, 0 },
    [HV_SOP_LOCAL] = { 1, 0, 1, 0 },
    [HV_SOP_SETLOCAL] = { 1, 1, 0, 0 },
    [HV_SOP_GLOBAL] = { 1, 0, 1, 0 },
    [HV_SOP_SETGLOBAL] = { 1, 1, 0, 0 },
    [HV_SOP_POP] = { 0, 1, 0, 0 },
    [HV_SOP_ADD] = { 0, 2, 1, 0 }, [HV_SOP_SUB] = { 0, 2, 1, 0 }, [HV_SOP_MUL] = { 0, 2, 1, 0 },
    [HV_SOP_DIV] = { 0, 2, 1, 0 }, [HV_SOP_MOD] = { 0, 2, 1, 0 }, [HV_SOP_AND] = { 0, 2, 1, 0 },
    [HV_SOP_OR] = { 0, 2, 1, 0 }, [HV_SOP_XOR] = { 0, 2, 1, 0 }, [HV_SOP_SHL] = { 0, 2, 1, 0 },
    [HV_SOP_SHR] = { 0, 2, 1, 0 }, [HV_SOP_GT] = { 0, 2, 1, 0 }, [HV_SOP_LT] = { 0, 2, 1, 0 },
    [HV_SOP_GE] = { 0, 2, 1, 0 }, [HV_SOP_LE] = { 0, 2, 1, 0 }, [HV_SOP_EQ] = { 0, 2, 1, 0 },
    [HV_SOP_NE] = { 0, 2, 1, 0 },
    [HV_SOP_NEG] = { 0, 1, 1, 0 }, [HV_SOP_NOT] = { 0, 1, 1, 0 }, [HV_SOP_BOOL] = { 0, 1, 1, 0 },
    [HV_SOP_JMP] = { 2, 0, 0, 1 },
    [HV_SOP_JZ] = { 2, 1, 0, 2 },
    [HV_SOP_JNZ] = { 2, 1, 0, 2 },
    [HV_SOP_LOAD] = { 1, 1, 1, 0 },
    [HV_SOP_STORE] = { 1, 2, 1, 0 },
    [HV_SOP_CHECKADDR] = { 0, 1, 1, 0 },
    [HV_SOP_STRLEN] = { 0, 1, 1, 0 },
    [HV_SOP_STRCMP] = { 0, 2, 1, 0 },
    [HV_SOP_STRCMPK] = { 2, 1, 1, 0 },
    [HV_SOP_MEMCMP] = { 0, 3, 1, 0 },
    [HV_SOP_MEMCMPK] = { 2, 2, 1, 0 },
    [HV_SOP_PRINTF] = { 3, -1, 0, 0 },
    [HV_SOP_ILK] = { 2, -1, 1, 0 },
    [HV_SOP_EVENT] = { 1, 1, 0, 0 },
    [HV_SOP_PAUSE] = { 0, 0, 0, 0 },
    [HV_SOP_CALL] = { 3, -1, 1, 4 },
    [HV_SOP_RET] = { 0, 1, 0, 3 },
};

static const char *const op_names[HV_SOP_COUNT] = {
    [HV_SOP_HALT] = "halt", [HV_SOP_PUSHK] = "pushk", [HV_SOP_PUSHI] = "pushi", [HV_SOP_REG] = "reg",
    [HV_SOP_SETREG] = "setreg", [HV_SOP_PSEUDO] = "pseudo", [HV_SOP_LOCAL] = "local",
    [HV_SOP_SETLOCAL] = "setlocal", [HV_SOP_GLOBAL] = "global", [HV_SOP_SETGLOBAL] = "setglobal",
    [HV_SOP_POP] = "pop", [HV_SOP_ADD] = "add", [HV_SOP_SUB] = "sub", [HV_SOP_MUL] = "mul",
    [HV_SOP_DIV] = "div", [HV_SOP_MOD] = "mod", [HV_SOP_AND] = "and", [HV_SOP_OR] = "or",
    [HV_SOP_XOR] = "xor", [HV_SOP_SHL] = "shl", [HV_SOP_SHR] = "shr", [HV_SOP_GT] = "gt",
    [HV_SOP_LT] = "lt", [HV_SOP_GE] = "ge", [HV_SOP_LE] = "le", [HV_SOP_EQ] = "eq", [HV_SOP_NE] = "ne",
    [HV_SOP_NEG] = "neg", [HV_SOP_NOT] = "not", [HV_SOP_BOOL] = "bool", [HV_SOP_JMP] = "jmp",
    [HV_SOP_JZ] = "jz", [HV_SOP_JNZ] = "jnz", [HV_SOP_LOAD] = "load", [HV_SOP_STORE] = "store",
    [HV_SOP_CHECKADDR] = "checkaddr", [HV_SOP_STRLEN] = "strlen", [HV_SOP_STRCMP] = "strcmp",
    [HV_SOP_STRCMPK] = "strcmpk", [HV_SOP_MEMCMP] = "memcmp", [HV_SOP_MEMCMPK] = "memcmpk",
    [HV_SOP_PRINTF] = "printf", [HV_SOP_ILK] = "interlocked", [HV_SOP_EVENT] = "event",
    [HV_SOP_PAUSE] = "pause", [HV_SOP_CALL] = "call", [HV_SOP_RET] = "ret",
};

const char *hv_script_op_name(uint8_t op)
{
    return op < HV_SOP_COUNT && op_names[op] != NULL ? op_names[op] : "?";
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static hv_status_t reject(const char **why, const char *reason, uint32_t *where, uint32_t pc)
{
    if (why != NULL)
        *why = reason;
    if (where != NULL)
        *where = pc;
    return HV_STATUS_SCRIPT_INVALID;
}

/* Operand checks of one instruction at pc (its bytes are inside the code). */
static const char *check_operands(const struct hv_script_header *h, const uint8_t *code, const char *data,
                                  uint32_t pc, uint32_t *pops)
{
    uint8_t op = code[pc];
    const uint8_t *a = code + pc + 1;
    uint32_t off;

    *pops = shapes[op].pops >= 0 ? (uint32_t)shapes[op].pops : 0;
    switch (op) {
    case HV_SOP_PUSHK:
        return rd16(a) < h->nconst ? NULL : "constant index out of range";
    case HV_SOP_REG:
    case HV_SOP_SETREG:
        return a[0] < HV_SREG_COUNT ? NULL : "unknown register";
    case HV_SOP_PSEUDO:
        return a[0] >= 1 && a[0] < HV_SPSEUDO_COUNT ? NULL : "unknown pseudo-register";
    case HV_SOP_LOCAL:
    case HV_SOP_SETLOCAL:
        return a[0] < h->nlocals ? NULL : "local index out of range";
    case HV_SOP_GLOBAL:
    case HV_SOP_SETGLOBAL:
        return a[0] < h->nglobals ? NULL : "global index out of range";
    case HV_SOP_LOAD:
        return (a[0] == HV_SLOAD_DB || a[0] == HV_SLOAD_DW || a[0] == HV_SLOAD_DD || a[0] == HV_SLOAD_DQ ||
                a[0] == HV_SLOAD_HI || a[0] == HV_SLOAD_LOW) ? NULL : "unknown load kind";
    case HV_SOP_STORE:
        return (a[0] == 1 || a[0] == 4 || a[0] == 8) ? NULL : "unknown store size";
    case HV_SOP_STRCMPK:
    case HV_SOP_MEMCMPK:
    case HV_SOP_PRINTF:
        off = rd16(a);
        if (off >= h->data_len)
            return "string offset out of range";
        /* The data ends with a NUL (checked once), so every string does. */
        if (op == HV_SOP_PRINTF) {
            *pops = a[2];
            if (a[2] > HV_SCRIPT_MAX_STACK)
                return "too many printf arguments";
        }
        (void)data;
        return NULL;
    case HV_SOP_ILK:
        if (a[1] >= h->nglobals)
            return "global index out of range";
        switch (a[0]) {
        case HV_SILK_INC: case HV_SILK_DEC: *pops = 0; return NULL;
        case HV_SILK_XCHG: case HV_SILK_XADD: *pops = 1; return NULL;
        case HV_SILK_CMPXCHG: *pops = 2; return NULL;
        default: return "unknown interlocked operation";
        }
    case HV_SOP_EVENT:
        return (a[0] == 1 || a[0] == 2) ? NULL : "unknown event operation";
    case HV_SOP_CALL:
        *pops = a[2];
        if (a[2] > h->nlocals)
            return "more call arguments than locals";
        return NULL;
    default:
        return NULL;
    }
}

/* Give `target` depth d; false on a conflict. */
static int set_depth(uint8_t *depth, uint32_t target, uint32_t d, bool *changed)
{
    if (depth[target] == UNKNOWN) {
        depth[target] = (uint8_t)d;
        *changed = true;
        return 1;
    }
    return depth[target] == d;
}

hv_status_t hv_script_verify(const uint8_t *prog, uint32_t len, struct hv_script_verify_scratch *scratch,
                             struct hv_script_info *info, const char **why, uint32_t *where)
{
    struct hv_script_header h;
    const uint8_t *code;
    const char *data;
    uint8_t *depth;
    uint32_t total, pc, max_stack = 0, sweeps;
    bool changed;

    if (why != NULL)
        *why = NULL;
    if (where != NULL)
        *where = 0;
    if (prog == NULL || scratch == NULL || len < sizeof(h))
        return reject(why, "shorter than a header", where, 0);
    hv_lib_copy(&h, prog, sizeof(h));
    if (h.magic != HV_SCRIPT_MAGIC || h.version != HV_SCRIPT_VERSION || h.reserved != 0)
        return reject(why, "bad magic, version or reserved field", where, 0);
    if (h.code_len == 0 || h.code_len > HV_SCRIPT_MAX_CODE || h.nconst > HV_SCRIPT_MAX_CONST ||
        h.data_len > HV_SCRIPT_MAX_DATA || h.nglobals > HV_SCRIPT_MAX_GLOBALS ||
        h.nlocals > HV_SCRIPT_MAX_LOCALS || h.budget > HV_SCRIPT_MAX_BUDGET)
        return reject(why, "a size is out of bounds", where, 0);
    total = (uint32_t)sizeof(h) + h.code_len + 8u * h.nconst + h.data_len + h.nglobals * HV_SCRIPT_NAME_LEN;
    if (total != len)
        return reject(why, "length does not match the header", where, 0);
    code = prog + sizeof(h);
    data = (const char *)(code + h.code_len + 8u * h.nconst);
    if (h.data_len != 0 && data[h.data_len - 1] != '\0')
        return reject(why, "string data does not end with NUL", where, 0);
    {
        const char *names = data + h.data_len;
        uint32_t g, i;

        for (g = 0; g < h.nglobals; g++) {
            const char *n = names + g * HV_SCRIPT_NAME_LEN;

            if (n[0] == '\0' || n[HV_SCRIPT_NAME_LEN - 1] != '\0')
                return reject(why, "bad global name", where, 0);
            for (i = 0; i < g; i++) {
                const char *m = names + i * HV_SCRIPT_NAME_LEN;
                uint32_t k = 0;

                while (k < HV_SCRIPT_NAME_LEN && n[k] == m[k] && n[k] != '\0')
                    k++;
                if (k < HV_SCRIPT_NAME_LEN && n[k] == m[k])
                    return reject(why, "duplicate global name", where, 0);
            }
        }
    }

    /* Pass 1: instruction starts, opcodes, operand ranges. */
    depth = scratch->depth;
    for (pc = 0; pc < h.code_len; pc++)
        depth[pc] = NOT_START;
    for (pc = 0; pc < h.code_len;) {
        uint8_t op = code[pc];
        uint32_t pops;
        const char *bad;

        if (op >= HV_SOP_COUNT)
            return reject(why, "unknown opcode", where, pc);
        if (pc + 1u + shapes[op].operand_bytes > h.code_len)
            return reject(why, "operands run past the code", where, pc);
        bad = check_operands(&h, code, data, pc, &pops);
        if (bad != NULL)
            return reject(why, bad, where, pc);
        depth[pc] = UNKNOWN;
        pc += 1u + shapes[op].operand_bytes;
    }
    /* Jump and call targets must be instruction starts. */
    for (pc = 0; pc < h.code_len; pc += 1u + shapes[code[pc]].operand_bytes) {
        uint8_t op = code[pc];

        if ((op == HV_SOP_JMP || op == HV_SOP_JZ || op == HV_SOP_JNZ || op == HV_SOP_CALL)) {
            uint32_t t = rd16(code + pc + 1);

            if (t >= h.code_len || depth[t] == NOT_START)
                return reject(why, "jump target is not an instruction", where, pc);
        }
    }

    /* Pass 2: depths. Entries: main at 0, every call target at 0. */
    depth[0] = 0;
    for (pc = 0; pc < h.code_len; pc += 1u + shapes[code[pc]].operand_bytes) {
        if (code[pc] == HV_SOP_CALL) {
            uint32_t t = rd16(code + pc + 1);

            if (depth[t] == UNKNOWN)
                depth[t] = 0;
            else if (depth[t] != 0)
                return reject(why, "call target reached with a non-empty stack", where, pc);
        }
    }
    for (sweeps = 0; sweeps <= h.code_len; sweeps++) {
        changed = false;
        for (pc = 0; pc < h.code_len; pc += 1u + shapes[code[pc]].operand_bytes) {
            uint8_t op = code[pc];
            const struct op_shape *sh = &shapes[op];
            uint32_t d = depth[pc], pops, after, next = pc + 1u + sh->operand_bytes;

            if (d == UNKNOWN)
                continue;
            (void)check_operands(&h, code, data, pc, &pops);
            if (d < pops)
                return reject(why, "stack underflow", where, pc);
            after = d - pops + (uint32_t)sh->pushes;
            if (after > HV_SCRIPT_MAX_STACK)
                return reject(why, "stack deeper than the limit", where, pc);
            if (after > max_stack)
                max_stack = after;
            if (sh->flow == 1 || sh->flow == 2) {
                if (!set_depth(depth, rd16(code + pc + 1), after, &changed))
                    return reject(why, "stack depth differs between paths", where, pc);
            }
            if (sh->flow != 1 && sh->flow != 3 && next < h.code_len) {
                if (!set_depth(depth, next, after, &changed))
                    return reject(why, "stack depth differs between paths", where, pc);
            }
        }
        if (!changed)
            break;
    }
    if (sweeps > h.code_len)
        return reject(why, "depth analysis did not settle", where, 0);

    if (info != NULL) {
        info->code_len = h.code_len;
        info->nconst = h.nconst;
        info->data_len = h.data_len;
        info->nglobals = h.nglobals;
        info->nlocals = h.nlocals;
        info->budget = h.budget != 0 ? h.budget : HV_SCRIPT_DEFAULT_BUDGET;
        info->max_stack = max_stack;
        info->total_len = total;
    }
    return HV_STATUS_SUCCESS;
}

static bool name_eq(const char *a, const char *b)
{
    uint32_t i;

    for (i = 0; i < HV_SCRIPT_NAME_LEN; i++) {
        if (a[i] != b[i])
            return false;
        if (a[i] == '\0')
            return true;
    }
    return true;
}

hv_status_t hv_script_bind(struct hv_script *s, const uint8_t *prog, uint32_t len,
                           struct hv_script_verify_scratch *scratch, char (*names)[HV_SCRIPT_NAME_LEN])
{
    const char *gnames;
    hv_status_t st;
    uint32_t g, slot;

    if (s == NULL || names == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    st = hv_script_verify(prog, len, scratch, &s->info, NULL, NULL);
    if (st != HV_STATUS_SUCCESS)
        return st;
    s->code = prog + sizeof(struct hv_script_header);
    s->consts = s->code + s->info.code_len;
    s->data = (const char *)(s->consts + 8u * s->info.nconst);
    gnames = s->data + s->info.data_len;
    for (g = 0; g < s->info.nglobals; g++) {
        const char *n = gnames + g * HV_SCRIPT_NAME_LEN;
        uint32_t free_slot = HV_SCRIPT_GLOBAL_SLOTS;

        for (slot = 0; slot < HV_SCRIPT_GLOBAL_SLOTS; slot++) {
            if (names[slot][0] == '\0') {
                if (free_slot == HV_SCRIPT_GLOBAL_SLOTS)
                    free_slot = slot;
            } else if (name_eq(names[slot], n)) {
                break;
            }
        }
        if (slot == HV_SCRIPT_GLOBAL_SLOTS) {
            if (free_slot == HV_SCRIPT_GLOBAL_SLOTS)
                return HV_STATUS_INSUFFICIENT_RESOURCES;
            slot = free_slot;
            hv_lib_copy(names[slot], n, HV_SCRIPT_NAME_LEN);
        }
        s->global_slot[g] = (uint16_t)slot;
    }
    return HV_STATUS_SUCCESS;
}
