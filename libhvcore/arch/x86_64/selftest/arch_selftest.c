/* SPDX-License-Identifier: MIT */
/*
 * Userspace self-test of the real x86-64 backend (no VT-x needed).
 *
 * It links the backend's real objects and executes them at CPL 3. Every
 * privileged or VMX instruction they execute traps (#GP -> SIGSEGV, #UD ->
 * SIGILL) and the signal handler emulates it on a small fake CPU: a VMCS
 * array, CR0/CR3/CR4 with the architectural ordering rules (PCIDE needs
 * CR3[11:0] = 0, CET needs WP), GDTR/IDTR, LTR that refuses a busy TSS and
 * marks the descriptor busy, DR7 and a few MSRs; VMfailInvalid/VMfailValid
 * can be injected into any VMX instruction. Faults the backend must survive
 * are routed through hv_arch_extable_fixup(), as an OS's handler would.
 * IRETQ works at CPL 3, so the IDT stubs are entered with hand-built
 * exception frames and the exit stub's DEVIRTUALIZE path really IRETQs.
 *
 * Covered: the exception table and the fault-safe helpers; status decoding
 * of every VMX instruction; VMLAUNCH-in-place (success and each failure);
 * the exit stub for RESUME/SKIP (GPR save order, XMM preservation, 16-byte
 * alignment at the C call, misaligned HOST_RSP), VMRESUME failure, FATAL,
 * DEVIRTUALIZE (state restore order, TR via a GDT copy with the OS's GDT
 * mapped read-only, IRETQ frame); the host IDT (gate format, stubs, #GP
 * fixup, NMI with and without VMX, fatal vectors, halting).
 *
 * Two modes: trap mode lets the host fault each privileged instruction;
 * step mode single-steps a backend call (RFLAGS.TF) and emulates the next
 * privileged instruction before it runs. The leaf helpers and every VMX
 * instruction are checked in both; step mode alone where the host does not
 * fault one (a ring-3 VMCALL under KVM completes with RAX = -1). Start-up
 * probes print what this host does with each instruction the harness
 * emulates (audit: the CPL/#UD checks precede VM exits, SDM Vol. 3C 26.1.1;
 * CPUID, XGETBV, RDTSCP, SGDT are never emulated here, so UMIP or CPUID
 * faulting on the host cannot change a result).
 *
 * Not covered (needs a CPU with VT-x or Bochs): what the real CPU does.
 * Run: selftest/run.sh (builds with gcc and clang, -fPIC, project flags).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/hv.h>
#include <hvcore/vmcs.h>
#include "arch_internal.h"
#include "extable.h"

/* ---- sim_asm.S -------------------------------------------------------- */
void sim_enter(const uint64_t *gpr, const void *xmm, uint64_t rsp, uint64_t rip);
void sim_landing(void);
void sim_abort(void);
uint64_t call_vmlaunch_checked(uint64_t *out7);
extern uint64_t sim_out[16], sim_out_rflags, sim_landed;
extern uint8_t sim_out_xmm[256];

static int failures;
static int vmcall_runs[2], vmcall_passes[2]; /* [0] trap mode, [1] step mode */
#define CHECK(c, ...) do { if (!(c)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* ---- emulated machine --------------------------------------------------- */
#define F_CF 0x1ull
#define F_PF 0x4ull
#define F_AF 0x10ull
#define F_ZF 0x40ull
#define F_SF 0x80ull
#define F_OF 0x800ull

static struct {
    int vmx_on;
    int emulate_msr;
    const char *fail_op;   /* VMX instruction to fail next */
    int fail_kind;         /* 1 invalid, 2 valid */
    uint32_t fail_err;
    int vmresume_mode;     /* 0 capture+abort, 1 fail invalid, 2 fail valid */
    uint64_t vmcs[0x10000];
    uint64_t last_mem_operand; /* vmxon/vmclear/vmptrld operand */
    uint64_t inv_type, inv_desc[2];
    uint64_t cr0, cr2, cr3, cr4, cr8, dr[8];
    uint16_t gdt_limit, idt_limit;
    uint64_t gdt_base, idt_base;
    uint16_t tr;
    uint16_t ldtr;
    uint64_t tr_base;
    uint32_t tr_limit;
    uint64_t msr_fs, msr_gs, msr_debugctl, msr_other;
    char trace[4096];
    int halted;
    int rule_violations;
    /* vmresume capture */
    uint64_t cap_gpr[16];
    uint8_t cap_xmm[256];
    uint64_t cap_rflags;
    int captured;
    /* vmcall */
    uint64_t vmcall_args[4], vmcall_result;
} M;

static void tr_add(const char *fmt, ...)
{
    size_t n = strlen(M.trace);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(M.trace + n, sizeof(M.trace) - n, fmt, ap);
    va_end(ap);
}

static const int greg_of[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                 REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15 };

struct modrm {
    int mod, reg, rm;
    bool mem;
    uint64_t ea;
    int len; /* bytes of modrm+sib+disp */
};

static struct modrm decode_modrm(greg_t *g, const uint8_t *p, int rex)
{
    struct modrm m = { 0 };
    uint8_t b = p[0];
    int i = 1;

    m.mod = b >> 6;
    m.reg = ((b >> 3) & 7) | ((rex & 4) ? 8 : 0);
    m.rm = b & 7;
    if (m.mod == 3) {
        m.rm |= (rex & 1) ? 8 : 0;
        m.len = 1;
        return m;
    }
    m.mem = true;
    uint64_t ea = 0;
    bool riprel = false;
    if (m.rm == 4) {
        uint8_t s = p[i++];
        int scale = s >> 6, index = ((s >> 3) & 7) | ((rex & 2) ? 8 : 0), base = (s & 7) | ((rex & 1) ? 8 : 0);
        if (index != 4)
            ea += (uint64_t)g[greg_of[index]] << scale;
        if ((base & 7) == 5 && m.mod == 0) {
            ea += (uint64_t)(int64_t)*(const int32_t *)(p + i);
            i += 4;
        } else {
            ea += (uint64_t)g[greg_of[base]];
        }
    } else if (m.rm == 5 && m.mod == 0) {
        riprel = true;
        ea = (uint64_t)(int64_t)*(const int32_t *)(p + i);
        i += 4;
    } else {
        ea = (uint64_t)g[greg_of[m.rm | ((rex & 1) ? 8 : 0)]];
    }
    if (m.mod == 1) {
        ea += (uint64_t)(int64_t)(int8_t)p[i];
        i += 1;
    } else if (m.mod == 2) {
        ea += (uint64_t)(int64_t)*(const int32_t *)(p + i);
        i += 4;
    }
    m.len = i;
    if (riprel)
        ea += (uint64_t)(uintptr_t)(p + i); /* caller adds nothing after (no immediates) */
    m.ea = ea;
    return m;
}

static bool vmx_fail_now(const char *op)
{
    if (M.fail_op && strcmp(M.fail_op, op) == 0) {
        return true;
    }
    return false;
}

static void set_vmx_flags(greg_t *g, const char *op)
{
    uint64_t f = (uint64_t)g[REG_EFL] & ~(F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF);
    if (vmx_fail_now(op)) {
        if (M.fail_kind == 1)
            f |= F_CF;
        else {
            f |= F_ZF;
            M.vmcs[0x4400] = M.fail_err;
        }
        M.fail_op = NULL;
    }
    g[REG_EFL] = (greg_t)f;
}

static bool vmx_failed_flags(greg_t *g)
{
    return ((uint64_t)g[REG_EFL] & (F_CF | F_ZF)) != 0;
}

#define CR4_PCIDE (1ull << 17)
#define CR4_CET (1ull << 23)
#define CR0_WP (1ull << 16)
#define CR4_BASE 0x3506F0ull /* PAE PGE OSFXSR ... without PCIDE/VMXE */

static void violation(const char *what)
{
    M.rule_violations++;
    printf("  emulated CPU: architectural violation: %s\n", what);
    tr_add("VIOLATION(%s);", what);
}

static void write_cr(int cr, uint64_t v)
{
    switch (cr) {
    case 0:
        if (!(v & CR0_WP) && (M.cr4 & CR4_CET))
            violation("clear CR0.WP with CR4.CET=1");
        M.cr0 = v;
        tr_add("cr0=%llx;", (unsigned long long)v);
        break;
    case 2: M.cr2 = v; break;
    case 3:
        if ((v >> 63) && !(M.cr4 & CR4_PCIDE))
            violation("CR3 bit 63 with PCIDE=0");
        if (v >> 63)
            tr_add("cr3-noflush;");
        M.cr3 = v & ~(1ull << 63);
        tr_add("cr3=%llx;", (unsigned long long)M.cr3);
        break;
    case 4:
        if ((v & CR4_PCIDE) && !(M.cr4 & CR4_PCIDE) && (M.cr3 & 0xFFF))
            violation("set PCIDE with CR3[11:0]!=0");
        if ((v & CR4_CET) && !(M.cr0 & CR0_WP))
            violation("set CR4.CET with CR0.WP=0");
        M.cr4 = v;
        tr_add("cr4=%llx;", (unsigned long long)v);
        break;
    case 8: M.cr8 = v; break;
    }
}

static uint64_t read_cr(int cr)
{
    switch (cr) {
    case 0: return M.cr0;
    case 2: return M.cr2;
    case 3: return M.cr3;
    case 4: return M.cr4;
    case 8: return M.cr8;
    }
    return 0xBAD;
}

/*
 * Emulate the privileged instruction at RIP as the fake CPU would. Reached
 * from two places: the SIGILL/SIGSEGV handler after the host made it fault
 * (trap mode), and the SIGTRAP handler before it runs at all (step mode).
 */
static void emulate(int sig, ucontext_t *uc)
{
    greg_t *g = uc->uc_mcontext.gregs;
    uint8_t *p = (uint8_t *)g[REG_RIP];
    int i = 0, rex = 0, opsz = 0, rep = 0;

    for (;;) {
        if (p[i] == 0x66) { opsz = 1; i++; }
        else if (p[i] == 0xF3) { rep = 1; i++; }
        else break;
    }
    if ((p[i] & 0xF0) == 0x40) { rex = p[i]; i++; }

    if (p[i] == 0xE6 || p[i] == 0xEE) { /* out imm8, al / out dx, al */
        uint16_t port = p[i] == 0xE6 ? p[i + 1] : (uint16_t)g[REG_RDX];
        tr_add("out(%x)=%x;", port, (unsigned)(uint8_t)g[REG_RAX]);
        g[REG_RIP] += i + (p[i] == 0xE6 ? 2 : 1);
        return;
    }
    if (p[i] == 0xFA) { /* cli: the halt loop */
        M.halted++;
        g[REG_RIP] = (greg_t)(uintptr_t)sim_abort;
        return;
    }
    if (p[i] != 0x0F)
        goto unknown;
    i++;
    uint8_t op = p[i++];

    /* endbr64 never traps (NOP); rdmsr/wrmsr */
    if (op == 0x32 || op == 0x30) {
        if (!M.emulate_msr) {
            uint64_t rip = (uint64_t)g[REG_RIP];
            if (hv_arch_extable_fixup(&rip)) { g[REG_RIP] = (greg_t)rip; tr_add("fixup-%s;", op == 0x32 ? "rdmsr" : "wrmsr"); return; }
            goto unknown;
        }
        uint32_t msr = (uint32_t)g[REG_RCX];
        uint64_t *slot = msr == 0xC0000100 ? &M.msr_fs : msr == 0xC0000101 ? &M.msr_gs : msr == 0x1D9 ? &M.msr_debugctl : &M.msr_other;
        if (op == 0x32) {
            g[REG_RAX] = (greg_t)(uint32_t)*slot;
            g[REG_RDX] = (greg_t)(*slot >> 32);
        } else {
            *slot = ((uint64_t)(uint32_t)g[REG_RDX] << 32) | (uint32_t)g[REG_RAX];
            tr_add("wrmsr(%x)=%llx;", msr, (unsigned long long)*slot);
        }
        g[REG_RIP] += i;
        return;
    }
    if (op == 0x20 || op == 0x22 || op == 0x21 || op == 0x23) {
        struct modrm m = decode_modrm(g, p + i, rex);
        if (op == 0x20) g[greg_of[m.rm]] = (greg_t)read_cr(m.reg);
        else if (op == 0x22) write_cr(m.reg, (uint64_t)g[greg_of[m.rm]]);
        else if (op == 0x21) g[greg_of[m.rm]] = (greg_t)M.dr[m.reg & 7];
        else { M.dr[m.reg & 7] = (uint64_t)g[greg_of[m.rm]]; tr_add("dr%d=%llx;", m.reg & 7, (unsigned long long)M.dr[m.reg & 7]); }
        g[REG_RIP] += i + m.len;
        return;
    }
    if (op == 0x01) {
        uint8_t b = p[i];
        if (b == 0xD1) { /* xsetbv */
            uint64_t rip = (uint64_t)g[REG_RIP];
            if (hv_arch_extable_fixup(&rip)) { g[REG_RIP] = (greg_t)rip; tr_add("fixup-xsetbv;"); return; }
            goto unknown;
        }
        if (b == 0xC1) { /* vmcall */
            M.vmcall_args[0] = (uint64_t)g[REG_RAX];
            M.vmcall_args[1] = (uint64_t)g[REG_RCX];
            M.vmcall_args[2] = (uint64_t)g[REG_RDX];
            M.vmcall_args[3] = (uint64_t)g[REG_R8];
            g[REG_RAX] = (greg_t)M.vmcall_result;
            g[REG_RIP] += i + 1;
            return;
        }
        if (b == 0xC2) { /* vmlaunch */
            set_vmx_flags(g, "vmlaunch");
            if (vmx_failed_flags(g)) { g[REG_RIP] += i + 1; return; }
            tr_add("vmlaunch;");
            g[REG_RIP] = (greg_t)M.vmcs[0x681E];
            g[REG_RSP] = (greg_t)M.vmcs[0x681C];
            g[REG_EFL] = (greg_t)M.vmcs[0x6820];
            return;
        }
        if (b == 0xC3) { /* vmresume */
            if (M.vmresume_mode == 0) {
                for (int r = 0; r < 16; r++)
                    M.cap_gpr[r] = (uint64_t)g[greg_of[r]];
                memcpy(M.cap_xmm, uc->uc_mcontext.fpregs->_xmm, 256);
                M.cap_rflags = (uint64_t)g[REG_EFL];
                M.captured = 1;
                g[REG_RIP] = (greg_t)(uintptr_t)sim_abort;
                return;
            }
            M.fail_op = "vmresume";
            M.fail_kind = M.vmresume_mode;
            set_vmx_flags(g, "vmresume");
            g[REG_RIP] += i + 1;
            return;
        }
        if (b == 0xC4) { /* vmxoff */
            set_vmx_flags(g, "vmxoff");
            g[REG_RIP] += i + 1;
            return;
        }
        struct modrm m = decode_modrm(g, p + i, rex);
        if (m.mem && (m.reg == 2 || m.reg == 3)) { /* lgdt / lidt */
            uint16_t lim = *(uint16_t *)(uintptr_t)m.ea;
            uint64_t base = *(uint64_t *)(uintptr_t)(m.ea + 2);
            if (m.reg == 2) { M.gdt_limit = lim; M.gdt_base = base; tr_add("lgdt(%llx,%x);", (unsigned long long)base, lim); }
            else { M.idt_limit = lim; M.idt_base = base; tr_add("lidt(%llx,%x);", (unsigned long long)base, lim); }
            g[REG_RIP] += i + m.len;
            return;
        }
        goto unknown;
    }
    if (op == 0x00) {
        struct modrm m = decode_modrm(g, p + i, rex);
        if ((m.reg & 7) == 2) { /* lldt: null is allowed; else an LDT descriptor (type 2) */
            uint16_t sel = m.mem ? *(uint16_t *)(uintptr_t)m.ea : (uint16_t)g[greg_of[m.rm]];
            uint32_t off = sel & 0xFFF8;
            if (off != 0) {
                if (off + 15 > M.gdt_limit)
                    violation("LLDT beyond GDT limit");
                else if (((*(volatile uint64_t *)(uintptr_t)(M.gdt_base + off) >> 40) & 0x1F) != 0x02)
                    violation("LLDT: not an LDT descriptor");
            }
            M.ldtr = sel;
            tr_add("lldt(%x);", sel);
            g[REG_RIP] += i + m.len;
            return;
        }
        if ((m.reg & 7) == 3) { /* ltr */
            uint16_t sel = m.mem ? *(uint16_t *)(uintptr_t)m.ea : (uint16_t)g[greg_of[m.rm]];
            uint32_t off = sel & 0xFFF8;
            if (off + 15 > M.gdt_limit) { violation("LTR beyond GDT limit"); }
            volatile uint64_t *d = (volatile uint64_t *)(uintptr_t)(M.gdt_base + off);
            uint64_t lo = d[0], hi = d[1];
            if (((lo >> 40) & 0x1F) != 0x09) violation("LTR: not an available 64-bit TSS (busy?)");
            if (!(lo >> 47 & 1)) violation("LTR: not present");
            d[0] = lo | (1ull << 41); /* the CPU marks it busy (a locked write) */
            M.tr = sel;
            M.tr_base = ((lo >> 16) & 0xFFFFFF) | (((lo >> 56) & 0xFF) << 24) | (hi << 32);
            M.tr_limit = (uint32_t)((lo & 0xFFFF) | (((lo >> 48) & 0xF) << 16));
            tr_add("ltr(%x,base=%llx,limit=%x);", sel, (unsigned long long)M.tr_base, M.tr_limit);
            g[REG_RIP] += i + m.len;
            return;
        }
        goto unknown;
    }
    if (op == 0x78 || op == 0x79) { /* vmread / vmwrite */
        struct modrm m = decode_modrm(g, p + i, rex);
        if (!M.vmx_on) {
            uint64_t rip = (uint64_t)g[REG_RIP];
            if (hv_arch_extable_fixup(&rip)) { g[REG_RIP] = (greg_t)rip; tr_add("fixup-vmread;"); return; }
            goto unknown;
        }
        if (op == 0x78) {
            uint64_t field = (uint64_t)g[greg_of[m.reg]];
            set_vmx_flags(g, field == 0x4400 ? "vmread-err" : "vmread");
            if (!vmx_failed_flags(g)) {
                if (m.mem) *(uint64_t *)(uintptr_t)m.ea = M.vmcs[field & 0xFFFF];
                else g[greg_of[m.rm]] = (greg_t)M.vmcs[field & 0xFFFF];
            }
        } else {
            uint64_t field = (uint64_t)g[greg_of[m.reg]];
            uint64_t val = m.mem ? *(uint64_t *)(uintptr_t)m.ea : (uint64_t)g[greg_of[m.rm]];
            set_vmx_flags(g, "vmwrite");
            if (!vmx_failed_flags(g)) {
                M.vmcs[field & 0xFFFF] = val;
                tr_add("vmwrite(%llx)=%llx;", (unsigned long long)field, (unsigned long long)val);
            }
        }
        g[REG_RIP] += i + m.len;
        return;
    }
    if (op == 0xC7) { /* vmxon (F3) / vmclear (66) / vmptrld */
        struct modrm m = decode_modrm(g, p + i, rex);
        if (!m.mem || (m.reg & 7) != 6) goto unknown;
        M.last_mem_operand = *(uint64_t *)(uintptr_t)m.ea;
        const char *name = rep ? "vmxon" : opsz ? "vmclear" : "vmptrld";
        set_vmx_flags(g, name);
        tr_add("%s(%llx);", name, (unsigned long long)M.last_mem_operand);
        g[REG_RIP] += i + m.len;
        return;
    }
    if (op == 0x38 && opsz && (p[i] == 0x80 || p[i] == 0x81 || p[i] == 0x82)) { /* invept / invvpid / invpcid */
        const char *name = p[i] == 0x80 ? "invept" : p[i] == 0x81 ? "invvpid" : "invpcid";
        i++;
        struct modrm m = decode_modrm(g, p + i, rex);
        M.inv_type = (uint64_t)g[greg_of[m.reg]];
        memcpy(M.inv_desc, (void *)(uintptr_t)m.ea, 16);
        if (p[i - 1] == 0x82)
            tr_add("invpcid(%llx);", (unsigned long long)M.inv_type);
        set_vmx_flags(g, name);
        g[REG_RIP] += i + m.len;
        return;
    }
unknown:
    printf("unexpected signal %d at %p: %02x %02x %02x %02x %02x %02x\n", sig, (void *)p, p[0], p[1], p[2], p[3], p[4], p[5]);
    exit(2);
}

/*
 * Is the instruction at p one that emulate() handles? The same decoding,
 * kept next to it: step mode must recognise exactly what trap mode would
 * have emulated, and nothing else (SGDT, XGETBV, RDTSCP, CMPXCHG16B, ...
 * run natively in both modes).
 */
static bool privileged_at(const uint8_t *p)
{
    int i = 0, opsz = 0;
    uint8_t op, m;

    while (p[i] == 0x66 || p[i] == 0xF3)
        opsz |= p[i++] == 0x66;
    if ((p[i] & 0xF0) == 0x40)
        i++;
    if (p[i] == 0xFA || p[i] == 0xE6 || p[i] == 0xEE)
        return true; /* cli, out */
    if (p[i++] != 0x0F)
        return false;
    op = p[i++];
    m = p[i];
    switch (op) {
    case 0x30: case 0x32:                     /* wrmsr, rdmsr */
    case 0x20: case 0x21: case 0x22: case 0x23: /* mov cr/dr */
    case 0x78: case 0x79:                     /* vmread, vmwrite */
        return true;
    case 0x01: /* vmcall..vmxoff, xsetbv, lgdt/lidt (memory forms) */
        return (m >= 0xC1 && m <= 0xC4) || m == 0xD1 || ((m >> 6) != 3 && ((m >> 3) & 7) >= 2 && ((m >> 3) & 7) <= 3);
    case 0x00: /* lldt, ltr */
        return ((m >> 3) & 7) == 2 || ((m >> 3) & 7) == 3;
    case 0xC7: /* vmxon/vmclear/vmptrld: /6 with a memory operand (the register form is RDRAND) */
        return (m >> 6) != 3 && ((m >> 3) & 7) == 6;
    case 0x38: /* invept, invvpid, invpcid */
        return opsz && (m == 0x80 || m == 0x81 || m == 0x82);
    default:
        return false;
    }
}

/* ---- how the host treats privileged instructions at CPL 3 ----------------
 *
 * The harness relies on the host faulting each privileged instruction the
 * backend executes. The SDM guarantees it for most (CPL checks and #UD
 * outside VMX operation come before VM exits, Vol. 3C 26.1.1), but not for
 * VMCALL: it exits unconditionally from VMX non-root operation whatever the
 * CPL (Vol. 3C 26.1.2), so on a machine that is itself a guest the host
 * hypervisor decides. KVM answers a ring-3 VMCALL with RAX = -KVM_EPERM and
 * skips it: no signal. So the harness probes every instruction it emulates
 * and prints what the host does, and it can also run the backend under
 * single-stepping (step mode): with RFLAGS.TF set, SIGTRAP arrives before
 * each next instruction executes, and a privileged one is emulated there,
 * never reaching the host. Step mode therefore checks the same code
 * whatever the host does; trap mode is the real faulting path (the #GP/#UD
 * fixups) where the host provides it.
 */
enum probe_id {
    P_VMCALL, P_VMXON, P_VMCLEAR, P_VMPTRLD, P_VMREAD, P_VMWRITE, P_VMLAUNCH, P_VMRESUME, P_VMXOFF,
    P_INVEPT, P_INVVPID, P_INVPCID, P_RDMSR, P_WRMSR, P_XSETBV, P_MOVCR, P_MOVDR, P_LGDT, P_LIDT, P_LLDT, P_LTR,
    P_CLI, P_OUT, P_COUNT
};
static struct { const char *name; int sig; uint64_t rax; } probes[P_COUNT];
static volatile int probe_active, probe_sig;
static uint64_t probe_resume;
static volatile int step_active;
static unsigned long emulated_by_trap, emulated_by_step;

/* HVCORE_SELFTEST_HOST=kvm: behave as a KVM host does when its guest runs
 * VMCALL at CPL 3 (RAX = -KVM_EPERM, the instruction skipped, no signal), so
 * that run.sh proves the harness on such a host from any machine. */
static int host_answers_vmcall;

static void handler(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    greg_t *g = uc->uc_mcontext.gregs;
    const uint8_t *p = (const uint8_t *)g[REG_RIP];
    (void)si;
    if (host_answers_vmcall && p[0] == 0x0F && p[1] == 0x01 && p[2] == 0xC1) {
        g[REG_RAX] = (greg_t)-1; /* -KVM_EPERM (KVM_EPERM is EPERM, 1) */
        g[REG_RIP] += 3;
        return;
    }
    if (probe_active) { /* a probe faulted as it should: note how, and go on after it */
        probe_sig = sig;
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)probe_resume;
        return;
    }
    /* The fault-safe copies: a REP MOVSB that faults on memory is what the
     * OS's #PF handler would fix up through the extable entry. */
    if (sig == SIGSEGV && p[0] == 0xF3 && p[1] == 0xA4) {
        uint64_t rip = (uint64_t)g[REG_RIP];
        if (hv_arch_extable_fixup(&rip)) {
            g[REG_RIP] = (greg_t)rip;
            tr_add("fixup-copy;");
            return;
        }
    }
    emulated_by_trap++;
    emulate(sig, uc);
}

static void step_handler(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    int n;
    (void)si;
    if (!step_active)
        return;
    /* The trap comes after one instruction and before the next: emulate the
     * next one if privileged, and the one after it too if that is also
     * privileged (the following trap would come only after it ran). */
    for (n = 0; n < 64 && privileged_at((const uint8_t *)uc->uc_mcontext.gregs[REG_RIP]); n++) {
        emulated_by_step++;
        emulate(sig, uc);
    }
}

/* Set/clear RFLAGS.TF without touching the red zone below RSP. */
static inline void step_begin(void)
{
    step_active = 1;
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\tpushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\tlea 128(%%rsp), %%rsp"
                     ::: "memory", "cc");
}
static inline void step_end(void)
{
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\tpushfq\n\tandq $~0x100, (%%rsp)\n\tpopfq\n\tlea 128(%%rsp), %%rsp"
                     ::: "memory", "cc");
    step_active = 0;
}

/* Run one backend call single-stepped when `stepped`, natively otherwise. */
#define BX(stepped, expr) __extension__({                \
        int bx_s_ = (stepped);                           \
        if (bx_s_) step_begin();                         \
        __typeof__(expr) bx_r_ = (expr);                 \
        if (bx_s_) step_end();                           \
        bx_r_; })
static int g_step; /* the pass: 0 = trap mode, 1 = step mode */
#define B(expr) BX(g_step, expr)

static void probe_all(void)
{
    static uint64_t operand[2] __attribute__((aligned(16))); /* a zero VMCS pointer / INV descriptor */
    static struct __attribute__((packed)) { uint16_t limit; uint64_t base; } dtr; /* never loaded */
    uint64_t rax;
    /* Each probe runs its instruction with harmless operands and records the
     * signal (0 = none) and RAX; writes to CRs/DRs share the reads' CPL check. */
#define PROBE(id, text, code)                                                                         \
    do {                                                                                              \
        probe_sig = 0;                                                                                \
        probe_active = 1;                                                                             \
        rax = 0x1234;                                                                                 \
        __asm__ volatile("leaq 1f(%%rip), %%r11\n\tmovq %%r11, %[res]\n\t" code "\n1:"                 \
                         : [res] "=m"(probe_resume), "+a"(rax)                                        \
                         : [op] "m"(operand), [dt] "m"(dtr)                                           \
                         : "rcx", "rdx", "r11", "cc", "memory");                                      \
        probe_active = 0;                                                                             \
        probes[id].name = text;                                                                       \
        probes[id].sig = probe_sig;                                                                   \
        probes[id].rax = rax;                                                                         \
    } while (0)
    PROBE(P_VMCALL, "vmcall", "vmcall");
    PROBE(P_VMXON, "vmxon", "vmxon %[op]");
    PROBE(P_VMCLEAR, "vmclear", "vmclear %[op]");
    PROBE(P_VMPTRLD, "vmptrld", "vmptrld %[op]");
    PROBE(P_VMREAD, "vmread", "xorl %%ecx, %%ecx\n\tvmread %%rcx, %%rdx");
    PROBE(P_VMWRITE, "vmwrite", "xorl %%ecx, %%ecx\n\txorl %%edx, %%edx\n\tvmwrite %%rdx, %%rcx");
    PROBE(P_VMLAUNCH, "vmlaunch", "vmlaunch");
    PROBE(P_VMRESUME, "vmresume", "vmresume");
    PROBE(P_VMXOFF, "vmxoff", "vmxoff");
    PROBE(P_INVEPT, "invept", "movl $1, %%ecx\n\tinvept %[op], %%rcx");
    PROBE(P_INVVPID, "invvpid", "movl $1, %%ecx\n\tinvvpid %[op], %%rcx");
    PROBE(P_INVPCID, "invpcid", "movl $2, %%ecx\n\tinvpcid %[op], %%rcx");
    PROBE(P_RDMSR, "rdmsr", "movl $0x10, %%ecx\n\trdmsr");
    PROBE(P_WRMSR, "wrmsr", "movl $0xFFFFFFFF, %%ecx\n\txorl %%edx, %%edx\n\txorl %%eax, %%eax\n\twrmsr");
    PROBE(P_XSETBV, "xsetbv", "xorl %%ecx, %%ecx\n\txgetbv\n\txsetbv");
    PROBE(P_MOVCR, "mov cr", "movq %%cr0, %%rdx");
    PROBE(P_MOVDR, "mov dr", "movq %%dr7, %%rdx");
    PROBE(P_LGDT, "lgdt", "lgdt %[dt]");
    PROBE(P_LIDT, "lidt", "lidt %[dt]");
    PROBE(P_LLDT, "lldt", "xorl %%edx, %%edx\n\tlldt %%dx");
    PROBE(P_LTR, "ltr", "xorl %%edx, %%edx\n\tltr %%dx");
    PROBE(P_CLI, "cli", "cli");
    PROBE(P_OUT, "out", "movl $0x80, %%edx\n\txorl %%eax, %%eax\n\toutb %%al, %%dx"); /* POST port */
#undef PROBE
}

static bool probe_traps(enum probe_id id)
{
    return probes[id].sig != 0;
}

/* Print what the host did; true when every instruction but VMCALL faulted. */
static bool report_probes(void)
{
    bool all = true;
    printf("ring-3 behaviour of this host for the instructions the harness emulates:\n");
    for (int id = 0; id < P_COUNT; id++) {
        if (probe_traps((enum probe_id)id))
            printf("  %-8s faults (%s)\n", probes[id].name, probes[id].sig == SIGILL ? "SIGILL, #UD" : "SIGSEGV, #GP");
        else
            printf("  %-8s does NOT fault: it completed with RAX=%016llx%s\n", probes[id].name,
                   (unsigned long long)probes[id].rax,
                   id == P_VMCALL ? " (the host hypervisor answered it): checked in step mode only" : "");
        if (id != P_VMCALL)
            all = all && probe_traps((enum probe_id)id);
    }
    return all;
}

/* ---- core functions the arch objects call (test doubles) ---------------- */
static struct hv_vcpu *g_vcpu;
static struct hv g_hv;
static struct hv_os_ops g_os;
static int panic_calls, panic_returns;
static const char *panic_msg;
static void *panic_ctx;
static int dispatch_calls;
static enum hv_exit_action dispatch_action;
static uint64_t dispatch_gprs_seen[16];
static struct hv_vcpu *dispatch_vcpu_seen;
static int dispatch_aligned;
static uint64_t expect_modified_rax = 0xA0A0A0A0A0A0A0A0ull;
static hv_status_t vmresume_failed_status;
static int root_nmi_calls, root_exc_calls;
static struct hv_vcpu *root_vcpu_seen;
static uint32_t root_exc_vector;
static uint64_t root_exc_error, root_exc_rip;

static void clobber_all_volatile(void)
{
    __asm__ volatile("pxor %%xmm0,%%xmm0; pxor %%xmm1,%%xmm1; pxor %%xmm2,%%xmm2; pxor %%xmm3,%%xmm3;"
                     "pxor %%xmm4,%%xmm4; pxor %%xmm5,%%xmm5; pxor %%xmm6,%%xmm6; pxor %%xmm7,%%xmm7;"
                     "pxor %%xmm8,%%xmm8; pxor %%xmm9,%%xmm9; pxor %%xmm10,%%xmm10; pxor %%xmm11,%%xmm11;"
                     "pxor %%xmm12,%%xmm12; pxor %%xmm13,%%xmm13; pxor %%xmm14,%%xmm14; pxor %%xmm15,%%xmm15;"
                     "xor %%eax,%%eax; xor %%ecx,%%ecx; xor %%edx,%%edx; xor %%esi,%%esi; xor %%edi,%%edi;"
                     "xor %%r8d,%%r8d; xor %%r9d,%%r9d; xor %%r10d,%%r10d; xor %%r11d,%%r11d; std; cld"
                     ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
                       "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "cc");
}


static int df_set_at_c_entry;
static inline void check_df(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; popq %0" : "=r"(f));
    if (f & 0x400)
        df_set_at_c_entry++;
    __asm__ volatile("cld");
}

enum hv_exit_action hv_exit_dispatch(struct hv_vcpu *vcpu)
{
    check_df();
    dispatch_calls++;
    dispatch_vcpu_seen = vcpu;
    dispatch_aligned = (((uintptr_t)__builtin_frame_address(0)) & 15) == 0;
    memcpy(dispatch_gprs_seen, vcpu->gprs.r, sizeof(dispatch_gprs_seen));
    /* handlers may change guest registers */
    vcpu->gprs.r[HV_GPR_RAX] = expect_modified_rax;
    vcpu->gprs.r[HV_GPR_R15] ^= 0xFFFF;
    clobber_all_volatile();
    return dispatch_action;
}

void hv_exit_vmresume_failed(struct hv_vcpu *vcpu, hv_status_t status)
{
    root_vcpu_seen = vcpu;
    vmresume_failed_status = status;
    sim_abort();
}

void hv_exit_root_exception(struct hv_vcpu *vcpu, uint32_t vector, uint64_t error_code, uint64_t rip)
{
    check_df();
    root_exc_calls++;
    root_vcpu_seen = vcpu;
    root_exc_vector = vector;
    root_exc_error = error_code;
    root_exc_rip = rip;
    sim_abort();
}

static int root_mc_calls;
static bool root_mc_continue;
bool hv_exit_root_machine_check(struct hv_vcpu *vcpu)
{
    check_df();
    root_mc_calls++;
    root_vcpu_seen = vcpu;
    clobber_all_volatile();
    if (!root_mc_continue)
        sim_abort(); /* the real one panics and does not return */
    return root_mc_continue;
}

void hv_exit_root_nmi(struct hv_vcpu *vcpu)
{
    check_df();
    root_nmi_calls++;
    root_vcpu_seen = vcpu;
    clobber_all_volatile();
}

static void test_panic(void *ctx, const char *msg)
{
    panic_calls++;
    panic_ctx = ctx;
    panic_msg = msg;
    if (!panic_returns)
        sim_abort();
}

/* ---- helpers ------------------------------------------------------------ */
static uint64_t in_gpr[16];
static uint8_t in_xmm[256];
static uint8_t host_stack[6 * 4096] __attribute__((aligned(4096)));
static uint8_t guest_stack[4096] __attribute__((aligned(16)));

static void fill_inputs(void)
{
    for (int r = 0; r < 16; r++)
        in_gpr[r] = 0x0101010101010101ull * (uint64_t)(r + 1) ^ 0x8000000000000000ull;
    in_gpr[HV_GPR_RSP] = 0xDEADDEADDEADDEADull; /* ignored by sim_enter */
    for (int b = 0; b < 256; b++)
        in_xmm[b] = (uint8_t)(b * 7 + 3);
}

static uint64_t *host_slot(void)
{
    return (uint64_t *)(host_stack + sizeof(host_stack) - HV_HOST_STACK_RESERVED);
}

static void reset_machine(void)
{
    memset(&M, 0, sizeof(M));
    M.vmx_on = 1;
    M.emulate_msr = 1;
}

static uint16_t cur_cs(void) { uint16_t v; __asm__("mov %%cs,%0" : "=r"(v)); return v; }
static uint16_t cur_ss(void) { uint16_t v; __asm__("mov %%ss,%0" : "=r"(v)); return v; }
static uint64_t cur_flags(void) { uint64_t v; __asm__ volatile("pushfq; popq %0" : "=r"(v)); return v; }

/* ---- tests -------------------------------------------------------------- */
static void test_extable(void)
{
    const struct hv_extable_entry *e;
    int n = 0;
    struct { const char *name; void *fn; } fns[] = {
        { "rdmsr", (void *)hv_arch_rdmsr_safe }, { "wrmsr", (void *)hv_arch_wrmsr_safe },
        { "xsetbv", (void *)hv_arch_xsetbv_safe }, { "vmread", (void *)hv_arch_vmread_safe },
        { "read_safe", (void *)hv_arch_read_safe }, { "write_safe", (void *)hv_arch_write_safe } };
    for (e = hv_arch_extable_begin; e < hv_arch_extable_end; e++, n++) {
        uint64_t insn = (uint64_t)(uintptr_t)&e->insn + (uint64_t)(int64_t)e->insn;
        uint64_t fix = (uint64_t)(uintptr_t)&e->fixup + (uint64_t)(int64_t)e->fixup;
        uint64_t f = (uint64_t)(uintptr_t)fns[n].fn;
        CHECK(insn > f && insn < f + 0x20, "entry %d insn %llx not in %s", n, (unsigned long long)insn, fns[n].name);
        CHECK(fix > insn && fix < f + 0x20, "entry %d fixup", n);
        uint64_t r = insn;
        CHECK(hv_arch_extable_fixup(&r) && r == fix, "lookup %d", n);
        r = insn + 1;
        CHECK(!hv_arch_extable_fixup(&r) && r == insn + 1, "non-site lookup %d", n);
    }
    CHECK(n == 6, "extable has %d entries", n);
    const uint8_t *b = (const uint8_t *)(uintptr_t)hv_arch_rdmsr_safe;
    CHECK(b[0] == 0xF3 && b[1] == 0x0F && b[2] == 0x1E && b[3] == 0xFA, "endbr64 at function start");
}

static void test_fault_safe(void)
{
    uint64_t v = 0x5A5A5A5A5A5A5A5Aull;
    reset_machine();
    M.emulate_msr = 0;
    M.vmx_on = 0;
    CHECK(B(hv_arch_rdmsr_safe(0x1D9, &v)) == HV_STATUS_EXCEPTION_GENERAL_PROTECTION, "rdmsr fault status");
    CHECK(v == 0x5A5A5A5A5A5A5A5Aull, "rdmsr fault left value");
    CHECK(B(hv_arch_wrmsr_safe(0x1D9, 1)) == HV_STATUS_EXCEPTION_GENERAL_PROTECTION, "wrmsr fault status");
    CHECK(B(hv_arch_xsetbv_safe(0, 7)) == HV_STATUS_EXCEPTION_GENERAL_PROTECTION, "xsetbv fault status");
    CHECK(B(hv_arch_vmread_safe(0x6C14, &v)) == 1 && v == 0x5A5A5A5A5A5A5A5Aull, "vmread #UD fixup");
    CHECK(strstr(M.trace, "fixup-rdmsr;fixup-wrmsr;fixup-xsetbv;fixup-vmread;") != NULL, "trace %s", M.trace);

    reset_machine();
    M.msr_debugctl = 0x123456789ABCDEF0ull;
    CHECK(B(hv_arch_rdmsr_safe(0x1D9, &v)) == 0 && v == 0x123456789ABCDEF0ull, "rdmsr ok %llx", (unsigned long long)v);
    CHECK(B(hv_arch_wrmsr_safe(0xC0000100, 0xFEDCBA9876543210ull)) == 0 && M.msr_fs == 0xFEDCBA9876543210ull, "wrmsr ok");
    M.vmcs[0x6C14] = 0x1234;
    CHECK(B(hv_arch_vmread_safe(0x6C14, &v)) == 0 && v == 0x1234, "vmread_safe ok");
    M.fail_op = "vmread"; M.fail_kind = 1;
    v = 7;
    CHECK(B(hv_arch_vmread_safe(0x6C14, &v)) == 1 && v == 7, "vmread_safe VMfail");

    /* Fault-safe copies: a good copy moves every byte; a source or
     * destination on an inaccessible page is ACCESS_VIOLATION, after the
     * bytes before the fault. */
    {
        static uint8_t src[16] = "fault-safe copy", dst[16];
        uint8_t *guard = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(guard != MAP_FAILED, "mmap");
        mprotect(guard + 4096, 4096, PROT_NONE);
        memset(dst, 0, sizeof(dst));
        CHECK(B(hv_arch_read_safe(dst, src, 16)) == 0 && memcmp(dst, src, 16) == 0, "read_safe ok");
        CHECK(B(hv_arch_read_safe(dst, guard + 4096 - 4, 8)) == HV_STATUS_ACCESS_VIOLATION, "read_safe fault");
        CHECK(B(hv_arch_write_safe(guard + 4096 - 2, src, 4)) == HV_STATUS_ACCESS_VIOLATION &&
              guard[4094] == 'f' && guard[4095] == 'a', "write_safe fault after 2 bytes");
        CHECK(B(hv_arch_read_safe(dst, (void *)0x8000000000000000ull, 1)) == HV_STATUS_ACCESS_VIOLATION,
              "read_safe non-canonical");
        CHECK(strstr(M.trace, "fixup-copy;fixup-copy;fixup-copy;") != NULL, "copy fixups %s", M.trace);
        munmap(guard, 8192);
    }
}

static void test_vmx_status(void)
{
    uint64_t v;
    reset_machine();
    CHECK(B(hv_arch_vmxon(0x1234000)) == 0 && M.last_mem_operand == 0x1234000, "vmxon ok");
    M.fail_op = "vmxon"; M.fail_kind = 1;
    CHECK(B(hv_arch_vmxon(0x5000)) == HV_STATUS_VMX_FAIL_INVALID, "vmxon invalid");
    M.fail_op = "vmxon"; M.fail_kind = 2; M.fail_err = 15;
    CHECK(B(hv_arch_vmxon(0x5000)) == HV_STATUS_VM_INSTRUCTION_ERROR(15), "vmxon valid 15");
    CHECK(B(hv_arch_vmclear(0xABC000)) == 0 && M.last_mem_operand == 0xABC000, "vmclear");
    CHECK(strstr(M.trace, "vmclear(abc000)"), "vmclear decoded as vmclear");
    M.fail_op = "vmclear"; M.fail_kind = 2; M.fail_err = 2;
    CHECK(B(hv_arch_vmclear(0xABC000)) == HV_STATUS_VM_INSTRUCTION_ERROR(2), "vmclear err");
    CHECK(B(hv_arch_vmptrld(0xDEF000)) == 0 && strstr(M.trace, "vmptrld(def000)"), "vmptrld");
    M.fail_op = "vmptrld"; M.fail_kind = 1;
    CHECK(B(hv_arch_vmptrld(0xDEF000)) == HV_STATUS_VMX_FAIL_INVALID, "vmptrld invalid");
    CHECK(B(hv_arch_vmxoff()) == 0, "vmxoff");
    M.fail_op = "vmxoff"; M.fail_kind = 2; M.fail_err = 23;
    CHECK(B(hv_arch_vmxoff()) == HV_STATUS_VM_INSTRUCTION_ERROR(23), "vmxoff 23");
    CHECK(B(hv_arch_invept(1, 0x55501E)) == 0 && M.inv_type == 1 && M.inv_desc[0] == 0x55501E && M.inv_desc[1] == 0, "invept");
    M.fail_op = "invept"; M.fail_kind = 2; M.fail_err = 28;
    CHECK(B(hv_arch_invept(2, 0)) == HV_STATUS_VM_INSTRUCTION_ERROR(28), "invept err");
    CHECK(B(hv_arch_invvpid(0, 0x7, 0xFFFF800000001000ull)) == 0 && M.inv_type == 0 && M.inv_desc[0] == 7 &&
          M.inv_desc[1] == 0xFFFF800000001000ull, "invvpid");
    /* Root TLB flush: INVPCID all contexts (type 2), else CR4.PGE off and
     * on again, else (no PGE) a CR3 reload. */
    M.cr4 = CR4_BASE; M.cr3 = 0x5000; M.trace[0] = '\0';
    B((hv_arch_flush_root_tlb(true), 0));
    CHECK(strcmp(M.trace, "invpcid(2);") == 0 && M.inv_desc[0] == 0 && M.inv_desc[1] == 0, "invpcid flush: %s", M.trace);
    M.trace[0] = '\0';
    B((hv_arch_flush_root_tlb(false), 0));
    CHECK(strcmp(M.trace, "cr4=350670;cr4=3506f0;") == 0 && M.cr4 == CR4_BASE, "PGE toggle flush: %s", M.trace);
    M.cr4 = CR4_BASE & ~0x80ull; M.trace[0] = '\0';
    B((hv_arch_flush_root_tlb(false), 0));
    CHECK(strcmp(M.trace, "cr3=5000;") == 0, "CR3 reload flush: %s", M.trace);
    /* Platform reset: PIIX/ICH reset control (hard reset), then the 8042. */
    M.trace[0] = '\0';
    B((hv_arch_reset_platform(), 0));
    CHECK(strcmp(M.trace, "out(cf9)=2;out(cf9)=6;out(64)=fe;") == 0, "platform reset: %s", M.trace);
    /* VMCS backend */
    M.vmcs[0x681E] = 0x1122334455667788ull;
    v = 0;
    CHECK(B(hv_vmcs_backend_read(0x681E, HV_VMCS_WNAT, &v)) == 0 && v == 0x1122334455667788ull, "vmread");
    v = 99;
    M.fail_op = "vmread"; M.fail_kind = 2; M.fail_err = 12;
    CHECK(B(hv_vmcs_backend_read(0x2034, HV_VMCS_W64, &v)) == HV_STATUS_VM_INSTRUCTION_ERROR(12) && v == 99, "vmread err 12, value untouched");
    M.fail_op = "vmread"; M.fail_kind = 1;
    CHECK(B(hv_vmcs_backend_read(0x681E, HV_VMCS_WNAT, &v)) == HV_STATUS_VMX_FAIL_INVALID && v == 99, "vmread invalid");
    CHECK(B(hv_vmcs_backend_write(0x4002, HV_VMCS_W32, 0x84006172)) == 0 && M.vmcs[0x4002] == 0x84006172, "vmwrite");
    M.fail_op = "vmwrite"; M.fail_kind = 2; M.fail_err = 13;
    CHECK(B(hv_vmcs_backend_write(0x4400, HV_VMCS_W32, 1)) == HV_STATUS_VM_INSTRUCTION_ERROR(13), "vmwrite ro field");
    /* vmcall: where the host answers a ring-3 VMCALL itself, trap mode
     * cannot intercept it, so this one call is single-stepped there too. */
    {
        int stepped = g_step || !probe_traps(P_VMCALL);
        int before = failures;
        M.vmcall_result = 0x6C69626876636F72ull;
        CHECK(BX(stepped, hv_arch_vmcall(1, 0x68766F7265564D43ull, 22, 33)) == 0x6C69626876636F72ull, "vmcall result");
        CHECK(M.vmcall_args[0] == 1 && M.vmcall_args[1] == 0x68766F7265564D43ull && M.vmcall_args[2] == 22 &&
              M.vmcall_args[3] == 33, "vmcall args");
        vmcall_runs[stepped]++;
        vmcall_passes[stepped] += failures == before;
    }
}

static void test_vmlaunch(void)
{
    uint64_t out[7], st;
    reset_machine();
    M.vmcs[0x6820] = (cur_flags() | F_CF | F_ZF | F_SF); /* GUEST_RFLAGS as setup wrote it */
    st = call_vmlaunch_checked(out);
    CHECK(st == 0, "vmlaunch success returns %llx", (unsigned long long)st);
    CHECK(out[0] == 0x1111111111111111ull && out[1] == 0x5555555555555555ull && out[2] == 0xCCCCCCCCCCCCCCCCull &&
          out[3] == 0xDDDDDDDDDDDDDDDDull && out[4] == 0xEEEEEEEEEEEEEEEEull && out[5] == 0xFFFFFFFFFFFFFFF0ull,
          "callee-saved preserved");
    CHECK(strstr(M.trace, "vmlaunch;") != NULL, "launched");
    CHECK(M.vmcs[0x681C] % 8 == 0 && M.vmcs[0x681E] > (uint64_t)(uintptr_t)hv_arch_vmlaunch_here &&
          M.vmcs[0x681E] < (uint64_t)(uintptr_t)hv_arch_vmlaunch_here + 0x80, "guest rsp/rip written");
    const uint8_t *cont = (const uint8_t *)(uintptr_t)M.vmcs[0x681E];
    CHECK(cont[0] == 0xF3 && cont[1] == 0x0F && cont[2] == 0x1E && cont[3] == 0xFA, "endbr at guest continuation");

    reset_machine();
    M.fail_op = "vmlaunch"; M.fail_kind = 2; M.fail_err = 7;
    st = call_vmlaunch_checked(out);
    CHECK(st == HV_STATUS_VM_INSTRUCTION_ERROR(7), "vmlaunch valid fail %llx", (unsigned long long)st);
    CHECK(out[0] == 0x1111111111111111ull && out[5] == 0xFFFFFFFFFFFFFFF0ull, "callee-saved on failure");
    reset_machine();
    M.fail_op = "vmlaunch"; M.fail_kind = 1;
    st = call_vmlaunch_checked(out);
    CHECK(st == HV_STATUS_VMX_FAIL_INVALID, "vmlaunch invalid %llx", (unsigned long long)st);
    reset_machine();
    M.fail_op = "vmwrite"; M.fail_kind = 1;
    st = call_vmlaunch_checked(out);
    CHECK(st == HV_STATUS_VMX_FAIL_INVALID && !strstr(M.trace, "vmlaunch"), "vmwrite failure stops launch");
}

static void setup_vcpu(void)
{
    static struct hv_vcpu vcpu_storage __attribute__((aligned(64)));
    memset(&vcpu_storage, 0, sizeof(vcpu_storage));
    g_vcpu = &vcpu_storage;
    memset(&g_hv, 0, sizeof(g_hv));
    memset(&g_os, 0, sizeof(g_os));
    g_os.panic = test_panic;
    g_os.ctx = (void *)0xC0C0;
    g_hv.os = &g_os;
    g_vcpu->hv = &g_hv;
    uint64_t *slot = host_slot();
    slot[0] = (uint64_t)(uintptr_t)g_vcpu;
    slot[1] = 0;
    M.vmcs[0x6C14] = (uint64_t)(uintptr_t)slot;
}

static void run_exit(void)
{
    sim_landed = 0;
    sim_enter(in_gpr, in_xmm, (uint64_t)(uintptr_t)host_slot(), hv_arch_exit_entry());
}

static void test_exit_resume(void)
{
    reset_machine();
    setup_vcpu();
    fill_inputs();
    dispatch_calls = 0;
    dispatch_action = HV_ACTION_SKIP;
    M.vmresume_mode = 0;
    run_exit();
    CHECK(dispatch_calls == 1 && dispatch_vcpu_seen == g_vcpu, "dispatch called with vcpu");
    CHECK(dispatch_aligned, "stack 16-aligned at hv_exit_dispatch");
    for (int r = 0; r < 16; r++)
        CHECK(dispatch_gprs_seen[r] == (r == HV_GPR_RSP ? 0 : in_gpr[r]), "gpr %d saved %llx", r,
              (unsigned long long)dispatch_gprs_seen[r]);
    CHECK(M.captured, "vmresume reached");
    for (int r = 0; r < 16; r++) {
        if (r == HV_GPR_RSP) continue;
        uint64_t want = r == HV_GPR_RAX ? expect_modified_rax : r == HV_GPR_R15 ? (in_gpr[r] ^ 0xFFFF) : in_gpr[r];
        CHECK(M.cap_gpr[r] == want, "gpr %d at VMRESUME %llx want %llx", r, (unsigned long long)M.cap_gpr[r],
              (unsigned long long)want);
    }
    CHECK(memcmp(M.cap_xmm, in_xmm, 256) == 0, "XMM restored at VMRESUME");
    CHECK(host_slot()[0] == (uint64_t)(uintptr_t)g_vcpu && host_slot()[1] == 0, "slot intact");
    CHECK((M.cap_rflags & 0x400) == 0, "DF clear");

    /* same with RESUME and a misaligned HOST_RSP (the stub realigns) */
    reset_machine();
    setup_vcpu();
    dispatch_action = HV_ACTION_RESUME;
    uint64_t *slot = (uint64_t *)((uint8_t *)host_slot() - 8);
    slot[0] = (uint64_t)(uintptr_t)g_vcpu;
    sim_enter(in_gpr, in_xmm, (uint64_t)(uintptr_t)slot, hv_arch_exit_entry());
    CHECK(M.captured && dispatch_aligned && memcmp(M.cap_xmm, in_xmm, 256) == 0, "misaligned HOST_RSP tolerated");
}

static void test_exit_vmresume_fail(void)
{
    for (int kind = 1; kind <= 2; kind++) {
        reset_machine();
        setup_vcpu();
        fill_inputs();
        dispatch_action = HV_ACTION_RESUME;
        M.vmresume_mode = kind;
        M.fail_err = 5;
        vmresume_failed_status = 0;
        root_vcpu_seen = NULL;
        run_exit();
        CHECK(root_vcpu_seen == g_vcpu, "vmresume_failed got vcpu");
        CHECK(vmresume_failed_status == (kind == 1 ? HV_STATUS_VMX_FAIL_INVALID : HV_STATUS_VM_INSTRUCTION_ERROR(5)),
              "vmresume fail status %x", vmresume_failed_status);
    }
}

static void test_exit_fatal(void)
{
    for (int ret = 0; ret <= 1; ret++) {
        reset_machine();
        setup_vcpu();
        fill_inputs();
        dispatch_action = HV_ACTION_FATAL;
        strcpy(g_vcpu->dump, "boom");
        panic_calls = 0;
        panic_returns = ret;
        run_exit();
        CHECK(panic_calls == 1 && panic_ctx == (void *)0xC0C0 && panic_msg == g_vcpu->dump, "fatal -> panic(dump)");
        CHECK(M.halted == ret, "halt after panic returns (%d)", M.halted);
    }
    reset_machine();
    setup_vcpu();
    dispatch_action = (enum hv_exit_action)77;
    panic_calls = 0; panic_returns = 0;
    run_exit();
    CHECK(panic_calls == 1, "unknown action -> fatal");
}

static uint64_t *make_gdt(uint64_t tss_base, uint32_t tss_limit, int busy, uint16_t tr_sel)
{
    uint64_t *gdt = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(gdt, 0, 65536);
    gdt[2] = 0x00AF9B000000FFFFull; /* kernel CS */
    gdt[3] = 0x00CF93000000FFFFull; /* kernel DS */
    uint64_t lo = (tss_limit & 0xFFFF) | ((tss_base & 0xFFFFFF) << 16) | ((uint64_t)(busy ? 0xB : 0x9) << 40) |
                  (1ull << 47) | ((uint64_t)((tss_limit >> 16) & 0xF) << 48) | (((tss_base >> 24) & 0xFF) << 56);
    gdt[tr_sel / 8] = lo;
    gdt[tr_sel / 8 + 1] = tss_base >> 32;
    mprotect(gdt, 65536, PROT_READ); /* like Linux's fixmap GDT */
    return gdt;
}

static void fill_resume(struct hv_guest_resume *r, uint64_t *gdt, uint16_t gdt_limit, uint16_t tr)
{
    r->cr0 = 0x80050033;
    r->cr3 = (1ull << 63) | 0x12345000 | 0x3; /* PCID 3 + no-flush hint */
    r->cr4 = CR4_BASE | CR4_PCIDE;            /* no VMXE */
    r->dr7 = 0x401;
    r->debugctl = 0x1;
    r->fs_base = 0x7F0000001000ull;
    r->gs_base = 0xFFFF888000001000ull;
    r->gdtr_base = (uint64_t)(uintptr_t)gdt;
    r->gdtr_limit = gdt_limit;
    r->idtr_base = 0xFFFFFE0000000000ull;
    r->idtr_limit = 0xFFF;
    r->tr_selector = tr;
    r->sysenter_cs = 0x10;
    r->sysenter_esp = 0xFFFFFE0000ABC000ull;
    r->sysenter_eip = 0xFFFFFFFF81E00000ull;
    r->pat = 0x0007010600070106ull;
    r->efer = 0xD01; /* SCE LME LMA NXE */
    r->restore_pat = r->restore_efer = true;
}

static void test_restore(void)
{
    struct hv_guest_resume r;
    uint64_t *gdt = make_gdt(0xFFFFFE0000003000ull, 0x4087, 1, 0x40);

    /* host PCIDE=1 (host CR3 with PCID 1), guest PCIDE=1 */
    reset_machine();
    M.cr0 = 0x80050033; M.cr3 = 0x99999001; M.cr4 = CR4_BASE | CR4_PCIDE | (1 << 13);
    fill_resume(&r, gdt, 0x7F, 0x40);
    hv_arch_restore_guest_state(&r);
    CHECK(M.rule_violations == 0, "no violations: %s", M.trace);
    CHECK(M.cr3 == 0x12345003 && !strstr(M.trace, "noflush"), "cr3 bit 63 cleared");
    CHECK(M.cr4 == r.cr4 && M.cr0 == r.cr0, "cr0/cr4");
    CHECK(M.tr == 0x40 && M.tr_base == 0xFFFFFE0000003000ull && M.tr_limit == 0x4087, "TR reloaded from descriptor");
    CHECK(M.gdt_base == r.gdtr_base && M.gdt_limit == 0x7F, "real GDTR restored");
    /* A VM exit left LDTR null; the guest's selector comes back. */
    CHECK(strstr(M.trace, "lldt(0)") && M.ldtr == r.ldtr_selector, "LDTR reloaded");
    CHECK(M.idt_base == r.idtr_base && M.idt_limit == 0xFFF, "IDTR restored");
    CHECK(M.dr[7] == 0x401 && M.msr_debugctl == 1 && M.msr_fs == r.fs_base && M.msr_gs == r.gs_base, "dr7/msrs");
    CHECK(strstr(M.trace, "wrmsr(174)=10;wrmsr(175)=fffffe0000abc000;wrmsr(176)=ffffffff81e00000;"
                          "wrmsr(277)=7010600070106;wrmsr(c0000080)=d01;") != NULL,
          "guest SYSENTER/PAT/EFER written back: %s", M.trace);
    /* Without the PAT/EFER load controls the exit left those MSRs alone. */
    reset_machine();
    r.restore_pat = r.restore_efer = false;
    hv_arch_restore_guest_state(&r);
    CHECK(!strstr(M.trace, "wrmsr(277)") && !strstr(M.trace, "wrmsr(c0000080)") && strstr(M.trace, "wrmsr(176)") &&
          M.rule_violations == 0, "PAT/EFER untouched without their controls: %s", M.trace);
    r.restore_pat = r.restore_efer = true;
    const char *last = strrchr(M.trace, '(');
    CHECK(last && last >= M.trace + 4 && strncmp(last - 4, "lidt", 4) == 0, "lidt last: %s", M.trace);
    CHECK(gdt[8] >> 41 & 1, "OS GDT descriptor still busy, untouched");
    printf("  trace: %s\n", M.trace);

    /* host PCIDE=0, guest PCIDE=1: needs CR3[11:0]=0 before setting PCIDE */
    reset_machine();
    M.cr0 = 0x80050033; M.cr3 = 0x99999018; M.cr4 = CR4_BASE;
    fill_resume(&r, gdt, 0x7F, 0x40);
    hv_arch_restore_guest_state(&r);
    CHECK(M.rule_violations == 0 && M.cr3 == 0x12345003 && M.cr4 == r.cr4, "PCIDE 0->1: %s", M.trace);
    printf("  PCIDE 0->1 trace: %s\n", M.trace);
    /* the emulator itself catches the naive order (sanity of this harness) */
    printf("  (the violation below is expected: harness self-check)\n");
    reset_machine();
    M.cr4 = CR4_BASE;
    hv_arch_write_cr(3, 0x12345003);
    hv_arch_write_cr(4, CR4_BASE | CR4_PCIDE);
    CHECK(M.rule_violations == 1, "emulator detects PCIDE with CR3[11:0]!=0");

    /* host PCIDE=1, guest PCIDE=0 */
    reset_machine();
    M.cr0 = 0x80050033; M.cr3 = 0x99999001; M.cr4 = CR4_BASE | CR4_PCIDE;
    fill_resume(&r, gdt, 0x7F, 0x40);
    r.cr4 &= ~CR4_PCIDE;
    r.cr3 = 0x12345018;
    hv_arch_restore_guest_state(&r);
    CHECK(M.rule_violations == 0 && M.cr3 == 0x12345018 && M.cr4 == r.cr4, "PCIDE 1->0: %s", M.trace);

    /* CET: host CET+WP, guest WP=0 and CET=0 */
    reset_machine();
    M.cr0 = 0x80050033; M.cr3 = 0x1000; M.cr4 = CR4_BASE | CR4_CET;
    fill_resume(&r, gdt, 0x7F, 0x40);
    r.cr4 &= ~(CR4_PCIDE | CR4_CET); r.cr3 = 0x2000; r.cr0 &= ~CR0_WP;
    hv_arch_restore_guest_state(&r);
    CHECK(M.rule_violations == 0 && M.cr0 == r.cr0 && M.cr4 == r.cr4, "CET/WP down: %s", M.trace);
    /* host WP=0 CET=0, guest WP+CET */
    reset_machine();
    M.cr0 = 0x80040033; M.cr3 = 0x1000; M.cr4 = CR4_BASE;
    fill_resume(&r, gdt, 0x7F, 0x40);
    r.cr4 = (r.cr4 & ~CR4_PCIDE) | CR4_CET; r.cr3 = 0x2000;
    hv_arch_restore_guest_state(&r);
    CHECK(M.rule_violations == 0 && M.cr0 == r.cr0 && M.cr4 == r.cr4, "CET/WP up: %s", M.trace);

    /* TR checks: null selector, beyond limit, non-TSS: no LTR, GDTR still restored */
    uint16_t bad[] = { 0, 0x44 /* TI */, 0x80 /* beyond limit */, 0x10 /* code */ };
    for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        reset_machine();
        M.cr0 = 0x80050033; M.cr3 = 0x99999001; M.cr4 = CR4_BASE | CR4_PCIDE;
        fill_resume(&r, gdt, 0x7F, bad[k]);
        hv_arch_restore_guest_state(&r);
        CHECK(!strstr(M.trace, "ltr(") && M.gdt_base == r.gdtr_base && M.gdt_limit == 0x7F && M.rule_violations == 0,
              "bad TR %x: %s", bad[k], M.trace);
    }
    /* TSS far up in the GDT (window copy) */
    uint64_t *gdt2 = make_gdt(0xFFFFFE0000005000ull, 0x67, 1, 0x7F0);
    reset_machine();
    M.cr0 = 0x80050033; M.cr3 = 0x99999001; M.cr4 = CR4_BASE | CR4_PCIDE;
    fill_resume(&r, gdt2, 0xFFFF, 0x7F0);
    hv_arch_restore_guest_state(&r);
    CHECK(M.tr == 0x7F0 && M.tr_base == 0xFFFFFE0000005000ull && M.tr_limit == 0x67 && M.gdt_base == r.gdtr_base &&
          M.gdt_limit == 0xFFFF && M.rule_violations == 0, "far TSS: %s", M.trace);
    /* available (not busy) TSS is fine too */
    uint64_t *gdt3 = make_gdt(0xFFFFFE0000007000ull, 0x67, 0, 0x40);
    reset_machine();
    M.cr0 = 0x80050033; M.cr3 = 0x1000; M.cr4 = CR4_BASE;
    fill_resume(&r, gdt3, 0x7F, 0x40);
    r.cr4 &= ~CR4_PCIDE;
    hv_arch_restore_guest_state(&r);
    CHECK(M.tr == 0x40 && M.tr_base == 0xFFFFFE0000007000ull && M.rule_violations == 0, "available TSS");
}

static void test_exit_devirtualize(void)
{
    uint64_t *gdt = make_gdt(0xFFFFFE0000003000ull, 0x4087, 1, 0x40);
    reset_machine();
    setup_vcpu();
    fill_inputs();
    M.cr0 = 0x80050033; M.cr3 = 0x99999001; M.cr4 = CR4_BASE | CR4_PCIDE | (1 << 13);
    dispatch_action = HV_ACTION_DEVIRTUALIZE;
    fill_resume(&g_vcpu->resume, gdt, 0x7F, 0x40);
    g_vcpu->resume.rip = (uint64_t)(uintptr_t)sim_landing;
    g_vcpu->resume.rsp = (uint64_t)(uintptr_t)(guest_stack + 2048 + 8); /* deliberately not 16-aligned */
    g_vcpu->resume.rflags = (cur_flags() & ~0xFFull) | F_CF | F_ZF | F_PF | 0x2;
    expect_modified_rax = 0; /* the VMCALL result */
    run_exit();
    expect_modified_rax = 0xA0A0A0A0A0A0A0A0ull;
    CHECK(sim_landed == 1, "iretq landed at resume.rip");
    for (int r = 0; r < 16; r++) {
        uint64_t want = r == HV_GPR_RSP ? g_vcpu->resume.rsp : r == HV_GPR_RAX ? 0 :
                        r == HV_GPR_R15 ? (in_gpr[r] ^ 0xFFFF) : in_gpr[r];
        CHECK(sim_out[r] == want, "devirt gpr %d = %llx want %llx", r, (unsigned long long)sim_out[r],
              (unsigned long long)want);
    }
    CHECK((sim_out_rflags & (F_CF | F_ZF | F_PF | F_SF)) == (F_CF | F_ZF | F_PF), "rflags from resume %llx",
          (unsigned long long)sim_out_rflags);
    CHECK(memcmp(sim_out_xmm, in_xmm, 256) == 0, "XMM restored on devirtualize");
    CHECK(M.tr == 0x40 && M.idt_base == g_vcpu->resume.idtr_base && M.cr3 == 0x12345003 && M.rule_violations == 0,
          "state restored: %s", M.trace);
}

/* Build an exception frame as the CPU would and enter stub `vector`. */
static void run_idt(uint32_t vector, int has_err, uint64_t err, uint64_t rip, uint64_t rsp)
{
    static uint8_t xstack[8192] __attribute__((aligned(16)));
    uint64_t *top = (uint64_t *)(xstack + sizeof(xstack) - 64); /* 16-aligned */
    uint64_t *f = top - 5 - (has_err ? 1 : 0);
    int k = 0;
    if (has_err) f[k++] = err;
    f[k++] = rip;
    f[k++] = cur_cs();
    f[k++] = cur_flags() | F_CF | F_SF;
    f[k++] = rsp;
    f[k++] = cur_ss();
    uint64_t stub = (uint64_t)(uintptr_t)&hv_arch_idt_stub_offsets[vector] + (uint64_t)(int64_t)hv_arch_idt_stub_offsets[vector];
    sim_landed = 0;
    sim_enter(in_gpr, in_xmm, (uint64_t)(uintptr_t)f, stub);
}

static void test_idt(void)
{
    static uint64_t page[512] __attribute__((aligned(4096)));
    static const int has_err[32] = { [8] = 1, [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1, [17] = 1, [21] = 1, [29] = 1, [30] = 1 };
    hv_arch_build_host_idt(page, 0x13);
    for (int v = 0; v < 256; v++) {
        uint64_t lo = page[2 * v], hi = page[2 * v + 1];
        uint64_t a = (lo & 0xFFFF) | (((lo >> 48) & 0xFFFF) << 16) | ((hi & 0xFFFFFFFF) << 32);
        CHECK(((lo >> 16) & 0xFFFF) == 0x10, "gate %d selector", v);
        CHECK(((lo >> 32) & 0xFF) == 0 && ((lo >> 40) & 0xFF) == 0x8E && (hi >> 32) == 0, "gate %d type/ist", v);
        const uint8_t *s = (const uint8_t *)(uintptr_t)a;
        CHECK(s[0] == 0xF3 && s[1] == 0x0F && s[2] == 0x1E && s[3] == 0xFA, "stub %d endbr", v);
        int o = 4;
        int e = v < 32 && has_err[v];
        if (!e) { CHECK(s[o] == 0x6A && s[o + 1] == 0, "stub %d dummy error code", v); o += 2; }
        if (v < 128) CHECK(s[o] == 0x6A && s[o + 1] == v, "stub %d push imm8", v);
        else CHECK(s[o] == 0x68 && *(const int32_t *)(s + o + 1) == v, "stub %d push imm32", v);
    }

    /* #GP at the RDMSR site: fixed up, RDMSR's fixup returns GP to the "caller" */
    const struct hv_extable_entry *e = hv_arch_extable_begin; /* rdmsr */
    uint64_t insn = (uint64_t)(uintptr_t)&e->insn + (uint64_t)(int64_t)e->insn;
    uint64_t *ret_stack = (uint64_t *)(guest_stack + 1024);
    ret_stack[0] = (uint64_t)(uintptr_t)sim_landing;
    reset_machine(); setup_vcpu(); fill_inputs();
    root_exc_calls = root_nmi_calls = 0;
    run_idt(13, 1, 0, insn, (uint64_t)(uintptr_t)ret_stack);
    CHECK(sim_landed && sim_out[HV_GPR_RAX] == HV_STATUS_EXCEPTION_GENERAL_PROTECTION, "#GP fixup -> GP status");
    CHECK(sim_out[HV_GPR_RSP] == (uint64_t)(uintptr_t)(ret_stack + 1), "#GP fixup: RSP from frame");
    for (int r = 1; r < 16; r++) if (r != HV_GPR_RSP) CHECK(sim_out[r] == in_gpr[r], "#GP fixup preserves gpr %d", r);
    CHECK(memcmp(sim_out_xmm, in_xmm, 256) == 0 && root_exc_calls == 0, "#GP fixup xmm");

    /* NMI in root: hv_exit_root_nmi(vcpu), everything preserved */
    reset_machine(); setup_vcpu(); fill_inputs();
    root_nmi_calls = 0; root_vcpu_seen = NULL;
    run_idt(2, 0, 0, (uint64_t)(uintptr_t)sim_landing, (uint64_t)(uintptr_t)(guest_stack + 3000));
    CHECK(sim_landed && root_nmi_calls == 1 && root_vcpu_seen == g_vcpu, "NMI -> root_nmi(vcpu)");
    for (int r = 0; r < 16; r++) if (r != HV_GPR_RSP) CHECK(sim_out[r] == in_gpr[r], "NMI preserves gpr %d", r);
    CHECK(sim_out[HV_GPR_RSP] == (uint64_t)(uintptr_t)(guest_stack + 3000), "NMI restores RSP");
    CHECK(memcmp(sim_out_xmm, in_xmm, 256) == 0, "NMI preserves XMM");
    CHECK((sim_out_rflags & (F_CF | F_SF)) == (F_CF | F_SF) && !(sim_out_rflags & 0x400), "NMI restores RFLAGS");

    /* #MC in root that root may survive: queued for the guest, everything preserved */
    reset_machine(); setup_vcpu(); fill_inputs();
    root_mc_calls = root_exc_calls = 0; root_vcpu_seen = NULL; root_mc_continue = true;
    run_idt(18, 0, 0, (uint64_t)(uintptr_t)sim_landing, (uint64_t)(uintptr_t)(guest_stack + 3000));
    CHECK(sim_landed && root_mc_calls == 1 && root_vcpu_seen == g_vcpu && root_exc_calls == 0, "#MC -> root_machine_check(vcpu), resumed");
    for (int r = 0; r < 16; r++) if (r != HV_GPR_RSP) CHECK(sim_out[r] == in_gpr[r], "#MC preserves gpr %d", r);
    CHECK(memcmp(sim_out_xmm, in_xmm, 256) == 0, "#MC preserves XMM");
    /* ...and one it may not: never resumed (the core's handler panics) */
    reset_machine(); setup_vcpu(); fill_inputs();
    root_mc_calls = 0; root_mc_continue = false;
    run_idt(18, 0, 0, (uint64_t)(uintptr_t)sim_landing, (uint64_t)(uintptr_t)(guest_stack + 3000));
    CHECK(!sim_landed && root_mc_calls == 1 && root_exc_calls == 0, "#MC without RIPV is not resumed");

    /* NMI outside VMX operation (VMREAD #UD -> fixup): dropped */
    reset_machine(); setup_vcpu(); fill_inputs();
    M.vmx_on = 0; root_nmi_calls = 0;
    run_idt(2, 0, 0, (uint64_t)(uintptr_t)sim_landing, (uint64_t)(uintptr_t)(guest_stack + 3000));
    CHECK(sim_landed && root_nmi_calls == 0 && strstr(M.trace, "fixup-vmread"), "NMI without VMX dropped");

    /* unfixable #PF: root_exception(vcpu, 14, err, rip) */
    reset_machine(); setup_vcpu(); fill_inputs();
    root_exc_calls = 0;
    run_idt(14, 1, 0x2, 0xFFFF800012345678ull, (uint64_t)(uintptr_t)(guest_stack + 3000));
    CHECK(root_exc_calls == 1 && root_vcpu_seen == g_vcpu && root_exc_vector == 14 && root_exc_error == 2 &&
          root_exc_rip == 0xFFFF800012345678ull, "#PF -> root_exception");
    /* vector without error code: error 0 */
    reset_machine(); setup_vcpu(); fill_inputs();
    root_exc_calls = 0;
    run_idt(3, 0, 0, 0x1234, (uint64_t)(uintptr_t)(guest_stack + 3000));
    CHECK(root_exc_calls == 1 && root_exc_vector == 3 && root_exc_error == 0 && root_exc_rip == 0x1234, "#BP");
    run_idt(200, 0, 0, 0x5678, (uint64_t)(uintptr_t)(guest_stack + 3000));
    CHECK(root_exc_calls == 2 && root_exc_vector == 200 && root_exc_rip == 0x5678, "vector 200");
    /* #UD at the vmread site: fixup */
    e = hv_arch_extable_begin + 3;
    insn = (uint64_t)(uintptr_t)&e->insn + (uint64_t)(int64_t)e->insn;
    ret_stack[0] = (uint64_t)(uintptr_t)sim_landing;
    run_idt(6, 0, 0, insn, (uint64_t)(uintptr_t)ret_stack);
    CHECK(sim_landed && sim_out[HV_GPR_RAX] == 1 && root_exc_calls == 2, "#UD at vmread site fixed up");
    /* NMI at an extable site must NOT be fixed up */
    root_nmi_calls = 0;
    reset_machine(); setup_vcpu();
    /* iret goes back to RDMSR itself, which then really faults in userspace -> handler fixup */
    e = hv_arch_extable_begin;
    insn = (uint64_t)(uintptr_t)&e->insn + (uint64_t)(int64_t)e->insn;
    M.emulate_msr = 0;
    fill_inputs();
    in_gpr[HV_GPR_R8] = (uint64_t)(uintptr_t)(guest_stack + 64); /* rdmsr stores through r8 */
    ret_stack[0] = (uint64_t)(uintptr_t)sim_landing;
    run_idt(2, 0, 0, insn, (uint64_t)(uintptr_t)ret_stack);
    CHECK(root_nmi_calls == 1 && sim_landed && strstr(M.trace, "fixup-rdmsr"), "NMI at fault site not fixed up: %s", M.trace);
    /* unfixable with no vcpu: halt */
    reset_machine(); setup_vcpu(); fill_inputs();
    M.vmx_on = 0; root_exc_calls = 0;
    run_idt(13, 1, 0, 0x1111, (uint64_t)(uintptr_t)(guest_stack + 3000));
    CHECK(root_exc_calls == 0 && M.halted == 1, "no vcpu -> halt");
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = handler;
    static uint8_t altstack[1 << 17];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sa.sa_sigaction = step_handler;
    sigaction(SIGTRAP, &sa, NULL);

    host_answers_vmcall = getenv("HVCORE_SELFTEST_HOST") && !strcmp(getenv("HVCORE_SELFTEST_HOST"), "kvm");
    if (host_answers_vmcall)
        printf("HVCORE_SELFTEST_HOST=kvm: a ring-3 VMCALL is answered as KVM answers it (RAX=-1, no signal)\n");
    probe_all();
    bool traps_all = report_probes();
    CHECK(traps_all, "a privileged instruction other than VMCALL completed at CPL 3 (see above): the SDM says it "
                     "must fault (Vol. 3C 26.1.1); trap-mode checks of it would run it for real, so they are skipped");

    printf("extable\n"); test_extable();
    if (traps_all) {
        printf("fault-safe (trap mode)\n"); test_fault_safe();
        printf("vmx status (trap mode)\n"); test_vmx_status();
    }
    {
        unsigned long by_trap = emulated_by_trap;
        g_step = 1;
        printf("fault-safe (step mode)\n"); test_fault_safe();
        printf("vmx status (step mode)\n"); test_vmx_status();
        g_step = 0;
        CHECK(emulated_by_trap == by_trap, "step mode let %lu privileged instruction(s) reach the host",
              emulated_by_trap - by_trap);
        CHECK(emulated_by_step >= 25, "step mode emulated only %lu instructions", emulated_by_step);
    }
    printf("VMCALL checks: %d run in trap mode (%d passed), %d run in step mode (%d passed)\n", vmcall_runs[0],
           vmcall_passes[0], vmcall_runs[1], vmcall_passes[1]);
    CHECK(vmcall_runs[1] >= 1 && vmcall_passes[0] == vmcall_runs[0] && vmcall_passes[1] == vmcall_runs[1],
          "VMCALL checks did not all run and pass");
    if (!traps_all) {
        printf("the remaining tests need every privileged instruction but VMCALL to fault; not run\n");
        printf("FAILED (%d failures)\n", failures);
        return 1;
    }
    printf("vmlaunch\n"); test_vmlaunch();
    printf("exit resume\n"); test_exit_resume();
    printf("exit vmresume fail\n"); test_exit_vmresume_fail();
    printf("exit fatal\n"); test_exit_fatal();
    printf("restore\n"); test_restore();
    printf("exit devirtualize\n"); test_exit_devirtualize();
    printf("idt\n"); test_idt();
    CHECK(df_set_at_c_entry == 0, "DF was set at %d C entries from the stubs", df_set_at_c_entry);
    printf("%s (%d failures)\n", failures ? "FAILED" : "ALL OK", failures);
    return failures != 0;
}
