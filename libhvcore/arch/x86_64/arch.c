/* SPDX-License-Identifier: MIT */
/*
 * The real x86-64 backend: the hv_arch_* intrinsics of arch.h and the VMCS
 * backend of vmcs.h, with GNU inline assembly. No OS header, no libc.
 *
 * Where the pieces are:
 *   arch.c        this file: CPUID, CR/DR/segment/descriptor-table access,
 *                 XGETBV, WBINVD, the VMX instructions, VMREAD/VMWRITE,
 *                 VMCALL, and the C halves of the exit stub (fatal,
 *                 VMRESUME failure, devirtualization = state restore)
 *   fault_safe.S  RDMSR/WRMSR/XSETBV (and a probing VMREAD) that report a
 *                 fault instead of taking it, with the exception table
 *   vmx_entry.S   VMLAUNCH-in-place and the VM-exit stub
 *   idt_entry.S   the host IDT's entry stubs and common handler
 *   idt.c         building the host IDT, and what its handler does
 *   extable.c     exception-table lookup
 *
 * VMX instruction results (SDM Vol. 3C, 31.2 "Conventions"): VMsucceed
 * clears CF, PF, AF, ZF, SF, OF; VMfailInvalid sets CF (no current VMCS, or
 * a pointer operand that is not valid); VMfailValid sets ZF and stores the
 * error number in the VM-instruction error field (encoding 0x4400) of the
 * current VMCS (Vol. 3C, 31.4, Table 31-1). The flags are read through GCC
 * flag-output operands (=@ccc/=@ccz), which is why this file needs GCC >= 6
 * or clang >= 9.
 *
 * VMXON, VMCLEAR and VMPTRLD take a memory operand holding the 64-bit
 * physical address (Vol. 3C, 31.3); INVEPT/INVVPID a register with the
 * type and a 128-bit memory descriptor (Vol. 3C, 31.3, INVEPT/INVVPID).
 *
 * Devirtualization (hv_arch_restore_guest_state) reloads what a VM exit
 * replaced with host values or fixed values (Vol. 3C, 28.5; DESIGN.md 7b):
 * CR0, CR3 (bit 63, the PCID "no flush" hint, cleared), CR4, GDTR with its
 * limit, TR (reloaded from a private copy of its descriptor with the busy
 * bit clear: the OS's GDT may be mapped read-only, as Linux's fixmap GDT
 * is), DR7, IA32_DEBUGCTL, the FS/GS bases, and the IDTR last.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hvcore/arch.h>
#include <hvcore/exit.h>
#include <hvcore/hv.h>
#include <hvcore/status.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "arch_internal.h"

#if !defined(__x86_64__)
#error "arch/x86_64 is the x86-64 backend"
#endif
#if !defined(__GCC_ASM_FLAG_OUTPUTS__)
#error "arch/x86_64 needs asm flag outputs (GCC >= 6, clang >= 9)"
#endif

/* Architectural bits not (yet) in vmx.h. */
#define ARCH_CR3_PCID_NOFLUSH  (1ull << 63)   /* MOV to CR3 only, never stored */
#define ARCH_CR3_PCID_MASK     0xFFFull
#define ARCH_CR4_PCIDE         (1ull << 17)
#define ARCH_CR4_CET           (1ull << 23)
#define ARCH_DESC_TSS_BUSY     (1ull << 41)  /* type bit 1 in the low quadword */
#define ARCH_DESC_PRESENT      (1ull << 47)

/* The operand of LGDT/LIDT/SGDT/SIDT in 64-bit mode: 2 + 8 bytes. */
struct arch_pseudo_desc {
    uint16_t limit;
    uint64_t base;
} __attribute__((__packed__));

/* ======================================================================
 * Plain intrinsics
 * ====================================================================== */

HV_NOTRACE void hv_arch_cpuid(uint32_t leaf, uint32_t subleaf, struct hv_cpuid_regs *out)
{
    uint32_t a, b, c, d;

    __asm__ volatile("cpuid"
                     : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
                     : "a"(leaf), "c"(subleaf));
    out->eax = a;
    out->ebx = b;
    out->ecx = c;
    out->edx = d;
}

static inline HV_NOTRACE uint64_t read_cr0(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}
static inline HV_NOTRACE uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}
static inline HV_NOTRACE uint64_t read_cr4(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}
/* Control-register writes change how memory is translated or cached:
 * "memory" keeps the compiler from moving accesses across them. */
static inline HV_NOTRACE void write_cr0(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}
static inline HV_NOTRACE void write_cr3(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}
static inline HV_NOTRACE void write_cr4(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

HV_NOTRACE uint64_t hv_arch_read_cr(uint32_t cr)
{
    uint64_t v;

    switch (cr) {
    case 0:
        return read_cr0();
    case 2:
        __asm__ volatile("mov %%cr2, %0" : "=r"(v));
        return v;
    case 3:
        return read_cr3();
    case 4:
        return read_cr4();
    case 8:
        __asm__ volatile("mov %%cr8, %0" : "=r"(v));
        return v;
    default:
        return 0;
    }
}

HV_NOTRACE void hv_arch_write_cr(uint32_t cr, uint64_t value)
{
    switch (cr) {
    case 0:
        write_cr0(value);
        break;
    case 2:
        __asm__ volatile("mov %0, %%cr2" : : "r"(value) : "memory");
        break;
    case 3:
        write_cr3(value);
        break;
    case 4:
        write_cr4(value);
        break;
    case 8:
        __asm__ volatile("mov %0, %%cr8" : : "r"(value) : "memory");
        break;
    default:
        break;
    }
}

/* DR4/DR5 are aliases of DR6/DR7 when CR4.DE = 0 and #UD when it is 1
 * (SDM Vol. 3B, 18.2.2); the backend always uses the real registers. */
HV_NOTRACE uint64_t hv_arch_read_dr(uint32_t dr)
{
    uint64_t v;

    switch (dr) {
    case 0:
        __asm__ volatile("mov %%dr0, %0" : "=r"(v));
        return v;
    case 1:
        __asm__ volatile("mov %%dr1, %0" : "=r"(v));
        return v;
    case 2:
        __asm__ volatile("mov %%dr2, %0" : "=r"(v));
        return v;
    case 3:
        __asm__ volatile("mov %%dr3, %0" : "=r"(v));
        return v;
    case 4:
    case 6:
        __asm__ volatile("mov %%dr6, %0" : "=r"(v));
        return v;
    case 5:
    case 7:
        __asm__ volatile("mov %%dr7, %0" : "=r"(v));
        return v;
    default:
        return 0;
    }
}

HV_NOTRACE void hv_arch_write_dr(uint32_t dr, uint64_t value)
{
    switch (dr) {
    case 0:
        __asm__ volatile("mov %0, %%dr0" : : "r"(value));
        break;
    case 1:
        __asm__ volatile("mov %0, %%dr1" : : "r"(value));
        break;
    case 2:
        __asm__ volatile("mov %0, %%dr2" : : "r"(value));
        break;
    case 3:
        __asm__ volatile("mov %0, %%dr3" : : "r"(value));
        break;
    case 4:
    case 6:
        __asm__ volatile("mov %0, %%dr6" : : "r"(value));
        break;
    case 5:
    case 7:
        __asm__ volatile("mov %0, %%dr7" : : "r"(value));
        break;
    default:
        break;
    }
}

/* PUSHFQ writes below RSP: step over the 128-byte red zone first (LEA
 * leaves the flags alone), so this is correct even in a build that does
 * not pass -mno-red-zone. */
HV_NOTRACE uint64_t hv_arch_read_rflags(void)
{
    uint64_t v;

    __asm__ volatile("lea -128(%%rsp), %%rsp\n\t"
                     "pushfq\n\t"
                     "popq %0\n\t"
                     "lea 128(%%rsp), %%rsp"
                     : "=r"(v));
    return v;
}

HV_NOTRACE uint16_t hv_arch_read_selector(enum hv_seg seg)
{
    uint16_t v;

    switch (seg) {
    case HV_SEG_ES:
        __asm__ volatile("mov %%es, %0" : "=r"(v));
        return v;
    case HV_SEG_CS:
        __asm__ volatile("mov %%cs, %0" : "=r"(v));
        return v;
    case HV_SEG_SS:
        __asm__ volatile("mov %%ss, %0" : "=r"(v));
        return v;
    case HV_SEG_DS:
        __asm__ volatile("mov %%ds, %0" : "=r"(v));
        return v;
    case HV_SEG_FS:
        __asm__ volatile("mov %%fs, %0" : "=r"(v));
        return v;
    case HV_SEG_GS:
        __asm__ volatile("mov %%gs, %0" : "=r"(v));
        return v;
    case HV_SEG_LDTR:
        __asm__ volatile("sldt %0" : "=r"(v));
        return v;
    case HV_SEG_TR:
        __asm__ volatile("str %0" : "=r"(v));
        return v;
    default:
        return 0;
    }
}

HV_NOTRACE void hv_arch_sgdt(struct hv_dtr *out)
{
    struct arch_pseudo_desc d;

    __asm__ volatile("sgdt %0" : "=m"(d));
    out->limit = d.limit;
    out->base = d.base;
}

HV_NOTRACE void hv_arch_sidt(struct hv_dtr *out)
{
    struct arch_pseudo_desc d;

    __asm__ volatile("sidt %0" : "=m"(d));
    out->limit = d.limit;
    out->base = d.base;
}

HV_NOTRACE uint64_t hv_arch_xgetbv(uint32_t xcr)
{
    uint32_t lo, hi;

    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(xcr));
    return ((uint64_t)hi << 32) | lo;
}

HV_NOTRACE void hv_arch_wbinvd(void)
{
    __asm__ volatile("wbinvd" : : : "memory");
}

HV_NOTRACE void hv_arch_flush_root_tlb(bool have_invpcid)
{
    if (have_invpcid) {
        /* Type 2: all PCIDs, global translations included; the descriptor
         * is not used for this type but must be a valid operand. */
        static const struct { uint64_t pcid, linear; } desc = { 0, 0 };

        __asm__ volatile("invpcid %[desc], %[type]" : : [desc] "m"(desc), [type] "r"(2ull) : "memory");
        return;
    }
    {
        uint64_t cr4 = read_cr4();

        if (cr4 & (1ull << 7)) { /* PGE: clearing it flushes everything */
            write_cr4(cr4 & ~(1ull << 7));
            write_cr4(cr4);
        } else {
            write_cr3(read_cr3() & ~(1ull << 63));
        }
    }
}

static inline HV_NOTRACE void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline HV_NOTRACE uint8_t inb(uint16_t port)
{
    uint8_t value;

    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}

HV_NOTRACE uint8_t hv_arch_inb(uint16_t port)
{
    return inb(port);
}

HV_NOTRACE void hv_arch_outb(uint16_t port, uint8_t value)
{
    outb(port, value);
}

HV_NOTRACE uint64_t hv_arch_rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

HV_NOTRACE void hv_arch_pause(void)
{
    __asm__ volatile("pause" : : : "memory");
}

HV_NOTRACE void hv_arch_unblock_nmi(void)
{
    uint64_t tmp;

    /* An IRET frame that returns right here: SS, RSP, RFLAGS, CS, RIP. */
    __asm__ volatile("mov %%ss, %k0\n\t"
                     "pushq %q0\n\t"
                     "pushq %%rsp\n\t"
                     "addq $8, (%%rsp)\n\t"
                     "pushfq\n\t"
                     "mov %%cs, %k0\n\t"
                     "pushq %q0\n\t"
                     "leaq 1f(%%rip), %q0\n\t"
                     "pushq %q0\n\t"
                     "iretq\n"
                     "1:"
                     : "=&r"(tmp)
                     :
                     : "cc", "memory");
}

HV_NOTRACE void hv_arch_reset_platform(void)
{
    uint32_t spin;

    outb(0xCF9, 0x02);  /* reset control: select a hard reset... */
    outb(0xCF9, 0x06);  /* ...and pulse it */
    for (spin = 0; spin < 100000u; spin++)
        __asm__ volatile("pause");
    outb(0x64, 0xFE);   /* 8042: pulse the CPU reset line */
    for (spin = 0; spin < 100000u; spin++)
        __asm__ volatile("pause");
}

HV_NOTRACE _Noreturn void hv_arch_halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli\n\thlt" : : : "memory");
}

/* ======================================================================
 * VMX instructions
 * ====================================================================== */

/* The error number of the last VMfailValid (only meaningful right after
 * one: the field is read from the current VMCS, which exists by
 * definition of VMfailValid). */
static inline HV_NOTRACE uint32_t vm_instruction_error(void)
{
    uint64_t field = HV_VMCS_VM_INSTRUCTION_ERROR, v = 0;

    __asm__ volatile("vmread %1, %0" : "+r"(v) : "r"(field) : "cc");
    return (uint32_t)v;
}

static inline HV_NOTRACE hv_status_t vmx_status(bool cf, bool zf)
{
    if (cf)
        return HV_STATUS_VMX_FAIL_INVALID;
    if (zf)
        return HV_STATUS_VM_INSTRUCTION_ERROR(vm_instruction_error());
    return HV_STATUS_SUCCESS;
}

HV_NOTRACE hv_status_t hv_arch_vmxon(uint64_t vmxon_pa)
{
    bool cf, zf;

    __asm__ volatile("vmxon %[pa]"
                     : "=@ccc"(cf), "=@ccz"(zf)
                     : [pa] "m"(vmxon_pa)
                     : "memory");
    return vmx_status(cf, zf);
}

HV_NOTRACE hv_status_t hv_arch_vmxoff(void)
{
    bool cf, zf;

    __asm__ volatile("vmxoff" : "=@ccc"(cf), "=@ccz"(zf) : : "memory");
    return vmx_status(cf, zf);
}

HV_NOTRACE hv_status_t hv_arch_vmclear(uint64_t vmcs_pa)
{
    bool cf, zf;

    __asm__ volatile("vmclear %[pa]"
                     : "=@ccc"(cf), "=@ccz"(zf)
                     : [pa] "m"(vmcs_pa)
                     : "memory");
    return vmx_status(cf, zf);
}

HV_NOTRACE hv_status_t hv_arch_vmptrld(uint64_t vmcs_pa)
{
    bool cf, zf;

    __asm__ volatile("vmptrld %[pa]"
                     : "=@ccc"(cf), "=@ccz"(zf)
                     : [pa] "m"(vmcs_pa)
                     : "memory");
    return vmx_status(cf, zf);
}

HV_NOTRACE hv_status_t hv_arch_invept(uint64_t type, uint64_t eptp)
{
    /* INVEPT descriptor: bits 63:0 EPTP, bits 127:64 reserved (0). */
    struct {
        uint64_t eptp, reserved;
    } desc = { eptp, 0 };
    bool cf, zf;

    __asm__ volatile("invept %[desc], %[type]"
                     : "=@ccc"(cf), "=@ccz"(zf)
                     : [desc] "m"(desc), [type] "r"(type)
                     : "memory");
    return vmx_status(cf, zf);
}

HV_NOTRACE hv_status_t hv_arch_invvpid(uint64_t type, uint16_t vpid, uint64_t linear)
{
    /* INVVPID descriptor: bits 15:0 VPID, 63:16 reserved (0), 127:64 the
     * linear address (individual-address type only). */
    struct {
        uint64_t vpid, linear;
    } desc = { vpid, linear };
    bool cf, zf;

    __asm__ volatile("invvpid %[desc], %[type]"
                     : "=@ccc"(cf), "=@ccz"(zf)
                     : [desc] "m"(desc), [type] "r"(type)
                     : "memory");
    return vmx_status(cf, zf);
}

/* VMREAD/VMWRITE take the field encoding in a 64-bit register; in 64-bit
 * mode the operand size is always 64 bits and the field's own width is
 * handled by the CPU (SDM Vol. 3C, 25.11.2), so `width` is not needed. On
 * VMfail the destination is unchanged and *value is not written. */
HV_NOTRACE hv_status_t hv_vmcs_backend_read(uint32_t field, enum hv_vmcs_width width, uint64_t *value)
{
    uint64_t v = 0;
    bool cf, zf;

    (void)width;
    __asm__ volatile("vmread %[f], %[v]"
                     : [v] "+r"(v), "=@ccc"(cf), "=@ccz"(zf)
                     : [f] "r"((uint64_t)field)
                     : "memory");
    if (cf || zf)
        return vmx_status(cf, zf);
    *value = v;
    return HV_STATUS_SUCCESS;
}

HV_NOTRACE hv_status_t hv_vmcs_backend_write(uint32_t field, enum hv_vmcs_width width, uint64_t value)
{
    bool cf, zf;

    (void)width;
    __asm__ volatile("vmwrite %[v], %[f]"
                     : "=@ccc"(cf), "=@ccz"(zf)
                     : [v] "r"(value), [f] "r"((uint64_t)field)
                     : "memory");
    return vmx_status(cf, zf);
}

/* Guest side. The exit stub restores every GPR and XMM register from its
 * save areas and the VMCALL handler changes only RAX, but the hypervisor is
 * another program: RCX, RDX and R8 are declared as changed and R9-R11 (all
 * caller-saved in both ABIs) as clobbered, at no cost to the callers. */
HV_NOTRACE uint64_t hv_arch_vmcall(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t r8 __asm__("r8") = a3;
    uint64_t rax = number;

    __asm__ volatile("vmcall"
                     : "+a"(rax), "+c"(a1), "+d"(a2), "+r"(r8)
                     :
                     : "r9", "r10", "r11", "cc", "memory");
    return rax;
}

/* ======================================================================
 * C halves of the VM-exit stub (vmx_entry.S)
 * ====================================================================== */

HV_NOTRACE _Noreturn void hv_arch_fatal(struct hv_vcpu *vcpu)
{
    const struct hv_os_ops *os;

    if (vcpu != NULL && vcpu->hv != NULL) {
        os = vcpu->hv->os;
        vcpu->dump[HV_DUMP_SIZE - 1] = '\0';
        if (os != NULL && os->panic != NULL)
            os->panic(os->ctx, vcpu->dump);
    }
    hv_arch_halt_forever();
}

HV_NOTRACE _Noreturn void hv_arch_vmresume_failed(struct hv_vcpu *vcpu, uint64_t rflags)
{
    const uint64_t cf = 1ull << 0, zf = 1ull << 6;
    hv_status_t st;

    if (rflags & cf)
        st = HV_STATUS_VMX_FAIL_INVALID;
    else if (rflags & zf)
        st = HV_STATUS_VM_INSTRUCTION_ERROR(vm_instruction_error());
    else
        st = HV_STATUS_INTERNAL_ERROR; /* VMRESUME cannot fall through on success */
    hv_exit_vmresume_failed(vcpu, st);
    hv_arch_halt_forever();
}

HV_NOTRACE const struct hv_guest_resume *hv_arch_devirtualize(struct hv_vcpu *vcpu)
{
    hv_arch_restore_guest_state(&vcpu->resume);
    return &vcpu->resume;
}

/* ---- devirtualization: state restore ------------------------------------ */

static inline HV_NOTRACE void load_gdt(const struct arch_pseudo_desc *d)
{
    __asm__ volatile("lgdt %0" : : "m"(*d) : "memory");
}

/* LIDT with the 10-byte operand built below RSP inside the asm (RSP moved
 * first, so no red zone is assumed): no local of the caller has its address
 * taken, so -fstack-protector-strong leaves the caller uninstrumented. See
 * hv_arch_restore_guest_state() for why that matters. */
static inline HV_NOTRACE void load_idt(uint64_t base, uint16_t limit)
{
    __asm__ volatile("lea -16(%%rsp), %%rsp\n\t"
                     "movw %w[limit], 6(%%rsp)\n\t"
                     "movq %[base], 8(%%rsp)\n\t"
                     "lidt 6(%%rsp)\n\t"
                     "lea 16(%%rsp), %%rsp"
                     :
                     : [limit] "r"(limit), [base] "r"(base)
                     : "memory");
}

/*
 * CR4 and CR3 together, because of PCIDs (SDM Vol. 3A, 4.10.1 and the MOV
 * CR instruction): setting CR4.PCIDE requires CR3[11:0] = 0, while a CR3
 * that carries a PCID is only meaningful with CR4.PCIDE = 1. Linux's kernel
 * CR3 carries a non-zero PCID, so "CR3 first" and "CR4 first" can each
 * #GP depending on the direction. Make PCIDE match the target first (with
 * the current CR3's PCID cleared if PCIDE is being turned on), then load
 * CR3, then the full CR4 with no PCIDE transition left.
 *
 * Bit 63 of the saved CR3 is the "do not flush this PCID" hint that MOV to
 * CR3 accepts with PCIDE = 1 and never stores; DESIGN.md 7b: clear it. A
 * flush is always safe.
 */
static HV_NOTRACE void load_cr3_cr4(uint64_t cr3, uint64_t cr4)
{
    uint64_t cur4 = read_cr4();

    cr3 &= ~ARCH_CR3_PCID_NOFLUSH;
    if ((cr4 & ARCH_CR4_PCIDE) && !(cur4 & ARCH_CR4_PCIDE)) {
        write_cr3(read_cr3() & ~ARCH_CR3_PCID_MASK);
        cur4 |= ARCH_CR4_PCIDE;
        write_cr4(cur4);
    } else if (!(cr4 & ARCH_CR4_PCIDE) && (cur4 & ARCH_CR4_PCIDE)) {
        cur4 &= ~ARCH_CR4_PCIDE;
        write_cr4(cur4);
    }
    write_cr3(cr3);
    write_cr4(cr4);
}

/*
 * CR0 around CR3/CR4: CR4.CET = 1 requires CR0.WP = 1, and CR0.WP cannot be
 * cleared while CR4.CET = 1 (SDM Vol. 3A, 2.5 / MOV CR). A consistent
 * target pair is reached without an invalid intermediate state by setting
 * WP (CR0 first) before CR4 may set CET, or clearing CET (CR4 first)
 * before CR0 clears WP.
 */
static HV_NOTRACE void load_control_registers(const struct hv_guest_resume *r)
{
    if (r->cr0 & HV_CR0_WP) {
        write_cr0(r->cr0);
        load_cr3_cr4(r->cr3, r->cr4);
    } else {
        load_cr3_cr4(r->cr3, r->cr4);
        write_cr0(r->cr0);
    }
}

/*
 * GDTR and TR. LTR refuses a busy TSS descriptor (#GP), and after a VM exit
 * the OS's descriptor is still marked busy from its own LTR. Writing the
 * OS's GDT is not an option: Linux maps it read-only (the fixmap GDT). So
 * the descriptors up to and including the TSS descriptor are copied to a
 * buffer on this stack, the copy's busy bit is cleared, a temporary GDTR
 * pointing at the copy is loaded, LTR loads TR from the copy (and marks the
 * copy busy), and the real GDTR is loaded back. TR then holds the OS's TSS
 * base, limit and attributes, and the OS's descriptor stays busy, exactly
 * as the OS left it.
 *
 * The copy keeps every descriptor below the TSS (the code and stack
 * segments of an NMI arriving in the three-instruction window included);
 * a TSS beyond the buffer gets a window of the descriptors just below it.
 * Nothing is loaded for a null, LDT-relative, out-of-limit or non-TSS
 * selector: GDTR is restored and TR stays as the VM exit left it.
 */
#define ARCH_GDT_COPY_BYTES 512u

/* noinline: this frame holds an array, so the stack protector guards it
 * with the canary at %gs:0x28; it must stay a frame of its own that is
 * entered and left before the GS base changes. */
static __attribute__((__noinline__)) HV_NOTRACE void load_gdt_and_tr(uint64_t gdt_base, uint16_t gdt_limit, uint16_t tr)
{
    struct arch_pseudo_desc real = { gdt_limit, gdt_base };
    struct arch_pseudo_desc tmp;
    _Alignas(16) uint64_t copy[ARCH_GDT_COPY_BYTES / 8];
    const volatile uint64_t *gdt;
    uint32_t off = tr & 0xFFF8u, start, i, n;
    uint64_t lo;

    if (off == 0 || (tr & 4u) || off + 15u > gdt_limit) {
        load_gdt(&real);
        return;
    }
    gdt = (const volatile uint64_t *)(uintptr_t)gdt_base;
    lo = gdt[off / 8];
    /* S = 0 and type 9 (available) or 11 (busy) 64-bit TSS, present. */
    if (((lo >> 40) & 0x1D) != 0x09 || !(lo & ARCH_DESC_PRESENT)) {
        load_gdt(&real);
        return;
    }
    start = off + 16u > ARCH_GDT_COPY_BYTES ? off + 16u - ARCH_GDT_COPY_BYTES : 0u;
    n = (off + 16u - start) / 8u;
    /* volatile reads: a copy loop the compiler cannot turn into memcpy() */
    for (i = 0; i < n; i++)
        copy[i] = gdt[start / 8 + i];
    copy[(off - start) / 8] &= ~ARCH_DESC_TSS_BUSY;

    tmp.limit = (uint16_t)(off + 15u);
    tmp.base = (uint64_t)(uintptr_t)copy - start;
    __asm__ volatile("lgdt %[tmp]\n\t"
                     "ltr %w[sel]\n\t"
                     "lgdt %[real]"
                     :
                     : [tmp] "m"(tmp), [sel] "r"(tr), [real] "m"(real), "m"(copy)
                     : "memory");
}

/*
 * The GS base changes in the middle of this function (host value -> the
 * guest's). Compiler-generated code may read %gs: Linux's stack protector
 * keeps its canary at %gs:0x28. So no frame that is live across that write
 * may be canary-checked: this function has no array and no address-taken
 * local (-fstack-protector-strong leaves it alone), the GDT copy lives in
 * load_gdt_and_tr()'s own frame, which returns before the write, and the
 * helpers after it are asm. For a blue-pilled kernel both bases are the
 * same per-CPU address anyway; this keeps it correct when they are not.
 */
HV_NOTRACE void hv_arch_restore_guest_state(const struct hv_guest_resume *r)
{
    load_control_registers(r);
    load_gdt_and_tr(r->gdtr_base, r->gdtr_limit, r->tr_selector);
    /* The exit left LDTR null; a task using modify_ldt() needs its own back. */
    __asm__ volatile("lldt %w0" : : "r"(r->ldtr_selector) : "memory");
    __asm__ volatile("mov %0, %%dr7" : : "r"(r->dr7));
    /* IA32_DEBUGCTL was zeroed by the exit; the bases were host values.
     * Fault-safe: a value the CPU rejects is dropped, not fatal. */
    (void)hv_arch_wrmsr_safe(HV_MSR_IA32_DEBUGCTL, r->debugctl);
    (void)hv_arch_wrmsr_safe(HV_MSR_IA32_FS_BASE, r->fs_base);
    (void)hv_arch_wrmsr_safe(HV_MSR_IA32_GS_BASE, r->gs_base);
    /* The exit loaded the host's SYSENTER MSRs (and PAT/EFER with those
     * exit controls); the guest may have changed them through the VMCS.
     * EFER keeps LME/LMA as they are: the guest is in IA-32e mode now. */
    (void)hv_arch_wrmsr_safe(HV_MSR_IA32_SYSENTER_CS, r->sysenter_cs);
    (void)hv_arch_wrmsr_safe(HV_MSR_IA32_SYSENTER_ESP, r->sysenter_esp);
    (void)hv_arch_wrmsr_safe(HV_MSR_IA32_SYSENTER_EIP, r->sysenter_eip);
    if (r->restore_pat)
        (void)hv_arch_wrmsr_safe(HV_MSR_IA32_PAT, r->pat);
    if (r->restore_efer)
        (void)hv_arch_wrmsr_safe(HV_MSR_IA32_EFER, r->efer);
    /* Last: until here a fault is handled by the host IDT's fixups. */
    load_idt(r->idtr_base, r->idtr_limit);
}
