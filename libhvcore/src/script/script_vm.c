/* SPDX-License-Identifier: MIT */
/*
 * The bytecode interpreter (hvcore/script.h), run in VMX root. It trusts
 * what hv_script_verify proved (opcodes, operands, targets, stack depths)
 * and checks only what depends on run-time values: memory, division by
 * zero, call depth and the instruction budget.
 *
 * Arithmetic follows HyperDbg's evaluator: unsigned 64-bit, comparisons
 * > < >= <= signed, == != bitwise, shift counts modulo 64 (what x86 SHL/SHR
 * do with the count), neg = two's complement, not = bitwise not.
 */
#include <hvcore/guest_mem.h>
#include <hvcore/hv.h>
#include <hvcore/msg.h>
#include <hvcore/script.h>

#include "lib.h"

/* Longest guest string strlen/strcmp/printf %s look at. */
#define MAX_STRING 4096u
/* A string operation is charged one budget unit per this many bytes. */
#define CHUNK 64u

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint64_t konst(const struct hv_script *s, uint32_t i)
{
    const uint8_t *p = s->consts + 8u * i;
    uint64_t v = 0;
    int b;

    for (b = 7; b >= 0; b--)
        v = (v << 8) | p[b];
    return v;
}

struct run {
    const struct hv_script *s;
    struct hv_script_env *env;
    uint64_t budget;
    uint32_t pc;
    uint64_t fault_address;
    hv_status_t fault_status;
    uint32_t text_len;
};

static hv_status_t mem_read(struct run *r, uint64_t addr, void *dst, uint32_t n)
{
    hv_status_t st = hv_guest_mem_read(r->env->os, r->env->paging, addr, dst, n, NULL);

    if (st != HV_STATUS_SUCCESS) {
        r->fault_address = addr;
        r->fault_status = st;
    }
    return st;
}

/* ---- Text output ---------------------------------------------------------- */

static void out_char(struct run *r, char c)
{
    if (r->text_len + 1 < sizeof(r->env->vm->text))
        r->env->vm->text[r->text_len++] = c;
}

static void out_str(struct run *r, const char *s)
{
    while (*s)
        out_char(r, *s++);
}

/* Room left in the text buffer: padding stops there, so a printf costs at
 * most the buffer's size in characters whatever widths it asks for (one
 * budget unit must not buy "%9999d" repeated 800 times). */
static bool out_full(const struct run *r)
{
    return r->text_len + 1 >= sizeof(r->env->vm->text);
}

/* An unsigned number in base 8, 10 or 16 with C's width, '0' and '-' flags. */
static void out_num(struct run *r, uint64_t v, uint32_t base, bool upper, bool negative, uint32_t width,
                    bool zero, bool left)
{
    char digits[24];
    uint32_t n = 0, len, i;
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";

    do {
        digits[n++] = set[v % base];
        v /= base;
    } while (v != 0 && n < sizeof(digits));
    len = n + (negative ? 1u : 0u);
    if (!left && !zero)
        for (i = len; i < width && !out_full(r); i++)
            out_char(r, ' ');
    if (negative)
        out_char(r, '-');
    if (!left && zero)
        for (i = len; i < width && !out_full(r); i++)
            out_char(r, '0');
    while (n > 0)
        out_char(r, digits[--n]);
    if (left)
        for (i = len; i < width && !out_full(r); i++)
            out_char(r, ' ');
}

/* A guest string (narrow or UTF-16, shown as ASCII), at most MAX_STRING. */
static hv_status_t out_guest_string(struct run *r, uint64_t addr, bool wide)
{
    uint8_t chunk[CHUNK];
    uint32_t done = 0, i, step = wide ? 2u : 1u;

    while (done < MAX_STRING) {
        uint32_t n = CHUNK - (uint32_t)((addr + done) & (CHUNK - 1u));
        hv_status_t st;

        if (r->budget == 0)
            return HV_STATUS_SCRIPT_BUDGET_EXHAUSTED;
        r->budget--;
        r->env->executed++;
        if (wide)
            n &= ~1u;
        if (n == 0)
            n = 2;
        st = mem_read(r, addr + done, chunk, n);
        if (st != HV_STATUS_SUCCESS)
            return st;
        for (i = 0; i + step <= n; i += step) {
            uint32_t c = wide ? (uint32_t)(chunk[i] | (chunk[i + 1] << 8)) : chunk[i];

            if (c == 0)
                return HV_STATUS_SUCCESS;
            out_char(r, c < 0x80 ? (char)c : '?');
        }
        done += n;
    }
    return HV_STATUS_SUCCESS;
}

/* printf: %[-0][width][h|hh|l|ll|I64](d i u x X o c p s) %ws %ls %%. Integer
 * sizes follow HyperDbg (a Windows program): int and long are 32 bits. */
static hv_status_t format(struct run *r, const char *f, const uint64_t *args, uint32_t nargs)
{
    uint32_t next = 0;

    while (*f) {
        bool left = false, zero = false, wide = false, upper = false;
        uint32_t width = 0, bits = 32, base = 10;
        uint64_t v;
        char conv;

        if (*f != '%') {
            out_char(r, *f++);
            continue;
        }
        f++;
        if (*f == '%') {
            out_char(r, '%');
            f++;
            continue;
        }
        for (;; f++) {
            if (*f == '-')
                left = true;
            else if (*f == '0')
                zero = true;
            else
                break;
        }
        while (*f >= '0' && *f <= '9' && width < 1000)
            width = width * 10u + (uint32_t)(*f++ - '0');
        if (f[0] == 'h' && f[1] == 'h') {
            bits = 8;
            f += 2;
        } else if (f[0] == 'h') {
            bits = 16;
            f++;
        } else if (f[0] == 'l' && f[1] == 'l') {
            bits = 64;
            f += 2;
        } else if (f[0] == 'I' && f[1] == '6' && f[2] == '4') {
            bits = 64;
            f += 3;
        } else if (f[0] == 'l' || f[0] == 'w') {
            if (f[1] == 's') {
                wide = true;
            }
            f++;
        }
        conv = *f;
        if (conv == '\0') {
            out_char(r, '%');
            break;
        }
        f++;
        v = next < nargs ? args[next] : 0;
        if (conv != 'd' && conv != 'i' && conv != 'u' && conv != 'x' && conv != 'X' && conv != 'o' &&
            conv != 'c' && conv != 'p' && conv != 's') {
            /* Not a conversion: shown as written. */
            out_char(r, '%');
            out_char(r, conv);
            continue;
        }
        if (next >= nargs) {
            out_str(r, "<missing>");
            continue;
        }
        next++;
        if (bits < 64)
            v &= (1ull << bits) - 1u;
        switch (conv) {
        case 'd':
        case 'i': {
            uint64_t sign = 1ull << (bits - 1u);
            bool neg = (v & sign) != 0;
            uint64_t mag = neg ? ((~v + 1u) & (bits < 64 ? (1ull << bits) - 1u : ~0ull)) : v;

            out_num(r, mag, 10, false, neg, width, zero, left);
            break;
        }
        case 'u':
            out_num(r, v, 10, false, false, width, zero, left);
            break;
        case 'X':
        case 'x':
            upper = conv == 'X';
            base = 16;
            out_num(r, v, base, upper, false, width, zero, left);
            break;
        case 'o':
            out_num(r, v, 8, false, false, width, zero, left);
            break;
        case 'p':
            v = next - 1 < nargs ? args[next - 1] : 0;
            out_num(r, v, 16, false, false, width > 16 ? width : 16, true, left);
            break;
        case 'c':
            out_char(r, (char)(v & 0xFF));
            break;
        case 's': {
            hv_status_t st = out_guest_string(r, next - 1 < nargs ? args[next - 1] : 0, wide);

            if (st != HV_STATUS_SUCCESS)
                return st;
            break;
        }
        default:
            break;
        }
    }
    return HV_STATUS_SUCCESS;
}

/* Emit the collected text: records of prefix + text + NUL. */
static void flush_text(struct run *r)
{
    struct hv_script_env *env = r->env;
    uint8_t payload[HV_MSG_PAYLOAD_MAX];
    uint32_t room, at = 0;

    if (env->emit == NULL || r->text_len == 0)
        return;
    room = (uint32_t)sizeof(payload) - env->prefix_len - 1u;
    if (env->prefix_len != 0)
        hv_lib_copy(payload, env->prefix, env->prefix_len);
    while (at < r->text_len) {
        uint32_t n = r->text_len - at < room ? r->text_len - at : room;

        hv_lib_copy(payload + env->prefix_len, env->vm->text + at, n);
        payload[env->prefix_len + n] = 0;
        env->emit(env->emit_ctx, HV_MSG_SCRIPT, payload, env->prefix_len + n + 1u);
        at += n;
    }
    r->text_len = 0;
}

static void emit_status(struct run *r, uint32_t reason, uint32_t error, hv_status_t status, uint64_t address)
{
    struct hv_msg_script_status m;

    if (r->env->emit == NULL)
        return;
    m.reason = reason;
    m.error = error;
    m.status = status;
    m.pc = r->pc;
    m.executed = r->env->executed;
    m.address = address;
    r->env->emit(r->env->emit_ctx, HV_MSG_SCRIPT_STATUS, &m, sizeof(m));
}

/* ---- Registers ---------------------------------------------------------- */

static uint64_t reg_get(const struct hv_script_env *env, uint32_t reg)
{
    if (reg < 16)
        return env->gprs->r[reg];
    return reg == HV_SREG_RIP ? env->rip : env->rflags;
}

static void reg_set(struct hv_script_env *env, uint32_t reg, uint64_t v)
{
    if (reg < 16) {
        env->gprs->r[reg] = v;
    } else if (reg == HV_SREG_RIP) {
        env->rip = v;
        env->rip_changed = true;
    } else {
        env->rflags = v;
        env->rflags_changed = true;
    }
}

/* ---- String and memory comparisons ------------------------------------------ */

/* Compare guest memory at a with b (guest address, or host literal when
 * lit != NULL), up to n bytes (strings: stop at the NUL, n = MAX_STRING).
 * *out = -1/0/1. */
static hv_status_t compare(struct run *r, uint64_t a, uint64_t b, const char *lit, uint64_t n, bool string,
                           int64_t *out)
{
    uint8_t ca[CHUNK], cb[CHUNK];
    uint64_t done = 0;
    hv_status_t st;

    *out = 0;
    while (done < n) {
        uint32_t k = CHUNK - (uint32_t)((a + done) & (CHUNK - 1u)), i;

        if (lit == NULL && CHUNK - (uint32_t)((b + done) & (CHUNK - 1u)) < k)
            k = CHUNK - (uint32_t)((b + done) & (CHUNK - 1u));
        if (k > n - done)
            k = (uint32_t)(n - done);
        if (r->budget == 0)
            return HV_STATUS_SCRIPT_BUDGET_EXHAUSTED;
        r->budget--;
        r->env->executed++;
        st = mem_read(r, a + done, ca, k);
        if (st != HV_STATUS_SUCCESS)
            return st;
        if (lit == NULL) {
            st = mem_read(r, b + done, cb, k);
            if (st != HV_STATUS_SUCCESS)
                return st;
        }
        for (i = 0; i < k; i++) {
            uint8_t x = ca[i], y = lit != NULL ? (uint8_t)lit[done + i] : cb[i];

            if (x != y) {
                *out = x < y ? -1 : 1;
                return HV_STATUS_SUCCESS;
            }
            if (string && x == 0)
                return HV_STATUS_SUCCESS;
            /* A literal ends at its NUL: reading past it is never needed,
             * the guest byte differed or was the NUL too. */
        }
        done += k;
    }
    return HV_STATUS_SUCCESS;
}

static uint64_t lit_len(const char *s)
{
    uint64_t n = 0;

    while (s[n])
        n++;
    return n;
}

/* ---- The loop --------------------------------------------------------------- */

#define POP()      (vm->stack[--sp])
#define PUSH(v)    (vm->stack[sp++] = (v))
#define TOP        (vm->stack[sp - 1])

hv_status_t hv_script_run(const struct hv_script *s, struct hv_script_env *env)
{
    struct hv_script_vm *vm;
    struct run r;
    const uint8_t *code;
    uint32_t sp = 0, frame = 0, base = 0, i;
    uint64_t *locals;
    hv_status_t st = HV_STATUS_SUCCESS;

    if (s == NULL || env == NULL || env->vm == NULL || env->gprs == NULL || env->globals == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    vm = env->vm;
    code = s->code;
    r.s = s;
    r.env = env;
    r.budget = s->info.budget;
    r.pc = 0;
    r.fault_address = 0;
    r.fault_status = HV_STATUS_SUCCESS;
    r.text_len = 0;
    env->executed = 0;
    env->end = HV_SCRIPT_END_OK;
    env->error = HV_SCRIPT_ERR_NONE;
    env->result = 0;
    locals = vm->locals[0];
    for (i = 0; i < s->info.nlocals; i++)
        locals[i] = 0;

    for (;;) {
        uint32_t pc = r.pc;
        uint8_t op;
        uint64_t a, b, c;

        if (pc >= s->info.code_len)
            goto done;
        if (r.budget == 0) {
            flush_text(&r);
            env->end = HV_SCRIPT_END_BUDGET;
            env->status = HV_STATUS_SCRIPT_BUDGET_EXHAUSTED;
            emit_status(&r, HV_SCRIPT_END_BUDGET, HV_SCRIPT_ERR_NONE, env->status, 0);
            return env->status;
        }
        r.budget--;
        env->executed++;
        op = code[pc];
        r.pc = pc + 1u;
        switch (op) {
        case HV_SOP_HALT:
            goto done;
        case HV_SOP_PUSHK:
            PUSH(konst(s, rd16(code + pc + 1)));
            r.pc = pc + 3u;
            break;
        case HV_SOP_PUSHI:
            PUSH(code[pc + 1]);
            r.pc = pc + 2u;
            break;
        case HV_SOP_REG:
            PUSH(reg_get(env, code[pc + 1]));
            r.pc = pc + 2u;
            break;
        case HV_SOP_SETREG:
            reg_set(env, code[pc + 1], POP());
            r.pc = pc + 2u;
            break;
        case HV_SOP_PSEUDO:
            PUSH(env->pseudo[code[pc + 1]]);
            r.pc = pc + 2u;
            break;
        case HV_SOP_LOCAL:
            PUSH(locals[code[pc + 1]]);
            r.pc = pc + 2u;
            break;
        case HV_SOP_SETLOCAL:
            locals[code[pc + 1]] = POP();
            r.pc = pc + 2u;
            break;
        case HV_SOP_GLOBAL:
            PUSH(__atomic_load_n(&env->globals[s->global_slot[code[pc + 1]]], __ATOMIC_RELAXED));
            r.pc = pc + 2u;
            break;
        case HV_SOP_SETGLOBAL:
            __atomic_store_n(&env->globals[s->global_slot[code[pc + 1]]], POP(), __ATOMIC_RELAXED);
            r.pc = pc + 2u;
            break;
        case HV_SOP_POP:
            sp--;
            break;
        case HV_SOP_ADD: b = POP(); TOP += b; break;
        case HV_SOP_SUB: b = POP(); TOP -= b; break;
        case HV_SOP_MUL: b = POP(); TOP *= b; break;
        case HV_SOP_DIV:
        case HV_SOP_MOD:
            b = POP();
            if (b == 0) {
                r.pc = pc;
                st = HV_STATUS_SCRIPT_RUNTIME_ERROR;
                env->error = HV_SCRIPT_ERR_DIVIDE;
                goto failed;
            }
            TOP = op == HV_SOP_DIV ? TOP / b : TOP % b;
            break;
        case HV_SOP_AND: b = POP(); TOP &= b; break;
        case HV_SOP_OR: b = POP(); TOP |= b; break;
        case HV_SOP_XOR: b = POP(); TOP ^= b; break;
        case HV_SOP_SHL: b = POP(); TOP <<= (b & 63u); break;
        case HV_SOP_SHR: b = POP(); TOP >>= (b & 63u); break;
        case HV_SOP_GT: b = POP(); TOP = (int64_t)TOP > (int64_t)b; break;
        case HV_SOP_LT: b = POP(); TOP = (int64_t)TOP < (int64_t)b; break;
        case HV_SOP_GE: b = POP(); TOP = (int64_t)TOP >= (int64_t)b; break;
        case HV_SOP_LE: b = POP(); TOP = (int64_t)TOP <= (int64_t)b; break;
        case HV_SOP_EQ: b = POP(); TOP = TOP == b; break;
        case HV_SOP_NE: b = POP(); TOP = TOP != b; break;
        case HV_SOP_NEG: TOP = ~TOP + 1u; break;
        case HV_SOP_NOT: TOP = ~TOP; break;
        case HV_SOP_BOOL: TOP = TOP != 0; break;
        case HV_SOP_JMP:
            r.pc = rd16(code + pc + 1);
            break;
        case HV_SOP_JZ:
        case HV_SOP_JNZ:
            a = POP();
            r.pc = ((a == 0) == (op == HV_SOP_JZ)) ? rd16(code + pc + 1) : pc + 3u;
            break;
        case HV_SOP_LOAD: {
            uint8_t kind = code[pc + 1];
            uint32_t n = kind >= HV_SLOAD_HI ? 8u : kind;
            uint64_t v = 0;

            r.pc = pc;
            st = mem_read(&r, TOP, &v, n);
            if (st != HV_STATUS_SUCCESS) {
                env->error = HV_SCRIPT_ERR_MEMORY;
                goto failed;
            }
            if (kind == HV_SLOAD_HI)
                v = (v >> 16) & 0xFFFFu;
            else if (kind == HV_SLOAD_LOW)
                v &= 0xFFFFu;
            TOP = v;
            r.pc = pc + 2u;
            break;
        }
        case HV_SOP_STORE: {
            uint32_t n = code[pc + 1];

            a = POP();   /* value */
            /* Little-endian: the low n bytes of a are the value. */
            TOP = hv_guest_mem_write(env->os, env->paging, TOP, &a, n, NULL) == HV_STATUS_SUCCESS;
            r.pc = pc + 2u;
            break;
        }
        case HV_SOP_CHECKADDR: {
            uint8_t byte;

            TOP = hv_guest_mem_read(env->os, env->paging, TOP, &byte, 1, NULL) == HV_STATUS_SUCCESS;
            break;
        }
        case HV_SOP_STRLEN: {
            uint8_t chunk[CHUNK];
            uint64_t addr = TOP, n = 0;
            bool end = false;

            r.pc = pc;
            while (!end && n < MAX_STRING) {
                uint32_t k = CHUNK - (uint32_t)((addr + n) & (CHUNK - 1u)), j;

                if (r.budget == 0) {
                    st = HV_STATUS_SCRIPT_BUDGET_EXHAUSTED;
                    goto failed;
                }
                r.budget--;
                env->executed++;
                st = mem_read(&r, addr + n, chunk, k);
                if (st != HV_STATUS_SUCCESS) {
                    env->error = HV_SCRIPT_ERR_MEMORY;
                    goto failed;
                }
                for (j = 0; j < k && chunk[j] != 0; j++)
                    ;
                n += j;
                end = j < k;
            }
            TOP = n;
            r.pc = pc + 1u;
            break;
        }
        case HV_SOP_STRCMP:
        case HV_SOP_STRCMPK:
        case HV_SOP_MEMCMP:
        case HV_SOP_MEMCMPK: {
            const char *lit = NULL;
            int64_t cmp = 0;
            uint64_t n = MAX_STRING;
            bool string = op == HV_SOP_STRCMP || op == HV_SOP_STRCMPK;

            if (op == HV_SOP_STRCMPK || op == HV_SOP_MEMCMPK)
                lit = s->data + rd16(code + pc + 1);
            if (!string)
                n = POP();
            b = lit == NULL ? POP() : 0;
            a = TOP;
            if (lit != NULL) {
                /* Past the literal's NUL there is nothing to compare with. */
                uint64_t ll = lit_len(lit) + 1u;

                if (n > ll)
                    n = ll;
            }
            r.pc = pc;
            st = compare(&r, a, b, lit, n, string, &cmp);
            if (st == HV_STATUS_SCRIPT_BUDGET_EXHAUSTED)
                goto failed;
            if (st != HV_STATUS_SUCCESS) {
                env->error = HV_SCRIPT_ERR_MEMORY;
                goto failed;
            }
            TOP = (uint64_t)cmp;
            r.pc = pc + 1u + ((op == HV_SOP_STRCMPK || op == HV_SOP_MEMCMPK) ? 2u : 0u);
            break;
        }
        case HV_SOP_PRINTF: {
            uint32_t nargs = code[pc + 3];

            r.pc = pc;
            st = format(&r, s->data + rd16(code + pc + 1), &vm->stack[sp - nargs], nargs);
            if (st == HV_STATUS_SCRIPT_BUDGET_EXHAUSTED)
                goto failed;
            if (st != HV_STATUS_SUCCESS) {
                env->error = HV_SCRIPT_ERR_MEMORY;
                goto failed;
            }
            sp -= nargs;
            flush_text(&r);
            r.pc = pc + 4u;
            break;
        }
        case HV_SOP_ILK: {
            uint64_t *g = &env->globals[s->global_slot[code[pc + 2]]];

            switch (code[pc + 1]) {
            case HV_SILK_INC:
                PUSH(__atomic_add_fetch(g, 1u, __ATOMIC_SEQ_CST));
                break;
            case HV_SILK_DEC:
                PUSH(__atomic_sub_fetch(g, 1u, __ATOMIC_SEQ_CST));
                break;
            case HV_SILK_XCHG:
                TOP = __atomic_exchange_n(g, TOP, __ATOMIC_SEQ_CST);
                break;
            case HV_SILK_XADD:
                TOP = __atomic_fetch_add(g, TOP, __ATOMIC_SEQ_CST);
                break;
            default: /* HV_SILK_CMPXCHG: exchange below comperand */
                c = POP();
                b = c;
                (void)__atomic_compare_exchange_n(g, &b, TOP, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
                TOP = b;   /* the original value */
                break;
            }
            r.pc = pc + 3u;
            break;
        }
        case HV_SOP_EVENT:
            a = POP();
            if (env->event_ctl != NULL)
                env->event_ctl(env->event_ctx, (uint32_t)a, code[pc + 1] == 1);
            r.pc = pc + 2u;
            break;
        case HV_SOP_PAUSE:
            flush_text(&r);
            r.pc = pc;
            emit_status(&r, HV_SCRIPT_END_PAUSE, HV_SCRIPT_ERR_NONE, HV_STATUS_SUCCESS, 0);
            r.pc = pc + 1u;
            break;
        case HV_SOP_CALL: {
            uint32_t nargs = code[pc + 3];

            if (frame + 1u >= HV_SCRIPT_MAX_FRAMES) {
                r.pc = pc;
                st = HV_STATUS_SCRIPT_RUNTIME_ERROR;
                env->error = HV_SCRIPT_ERR_DEPTH;
                goto failed;
            }
            vm->frames[frame].ret_pc = pc + 4u;
            vm->frames[frame].stack_base = base;
            frame++;
            locals = vm->locals[frame];
            for (i = 0; i < s->info.nlocals; i++)
                locals[i] = 0;
            for (i = 0; i < nargs; i++)
                locals[i] = vm->stack[sp - nargs + i];
            sp -= nargs;
            /* The callee's stack starts here: at most MAX_STACK per frame
             * (verified), MAX_FRAMES frames, so the array suffices. */
            base = sp;
            r.pc = rd16(code + pc + 1);
            break;
        }
        case HV_SOP_RET:
            a = POP();
            if (frame == 0) {
                PUSH(a);
                goto done;
            }
            sp = base;
            frame--;
            base = vm->frames[frame].stack_base;
            locals = vm->locals[frame];
            r.pc = vm->frames[frame].ret_pc;
            PUSH(a);
            break;
        default:
            /* The verifier admits no other opcode; stop rather than guess. */
            st = HV_STATUS_SCRIPT_INVALID;
            r.pc = pc;
            goto failed;
        }
    }

done:
    flush_text(&r);
    env->result = sp > 0 ? vm->stack[sp - 1] : 0;
    env->status = HV_STATUS_SUCCESS;
    return HV_STATUS_SUCCESS;

failed:
    flush_text(&r);
    if (st == HV_STATUS_SCRIPT_BUDGET_EXHAUSTED) {
        env->end = HV_SCRIPT_END_BUDGET;
        env->status = st;
        emit_status(&r, HV_SCRIPT_END_BUDGET, HV_SCRIPT_ERR_NONE, st, 0);
        return st;
    }
    env->end = HV_SCRIPT_END_ERROR;
    env->status = st;
    emit_status(&r, HV_SCRIPT_END_ERROR, env->error, st, r.fault_address);
    return st;
}
