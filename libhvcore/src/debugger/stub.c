/* SPDX-License-Identifier: MIT */
/*
 * The Debugger Mode stub (hvcore/debugger.h): halts every core in VMX root,
 * answers the remote debugger's requests over the polled UART, resumes at
 * GO.
 *
 * Halting. The core that stops the machine (a break action, or a PAUSE
 * request read from its VMX-preemption-timer exit) becomes the owner: it
 * sets every other core's halt_req and sends each an NMI (x2APIC ICR MSR
 * 0x830, or the xAPIC ICR through hv_config.debug_lapic; SDM Vol. 3A,
 * 11.6.1, 11.12.9). With NMI exiting on (SDM Vol. 3C, 25.6.1) the NMI makes
 * a core in the guest exit; one that is in VMX root takes it on the host
 * IDT and asks for an NMI-window exit so it leaves the guest again at once.
 * Either way the core finds halt_req at the end of its exit
 * (hv_debugger_exit_end) and spins there with interrupts off, executing the
 * requests the owner posts to it, until GO clears halt_req. An NMI that
 * arrives while halt_req is clear is not ours and goes to the guest as
 * before (held and re-injected through the NMI window). The owner waits for
 * each core at most debug_halt_timeout_ms and reports the ones that did not
 * halt.
 *
 * While halted nothing here allocates, takes an OS lock or calls the OS
 * (only the ROOT-SAFE current_pid and phys_to_virt, through guest_mem.c).
 * Requests that read or write a core's state run on that core (its VMCS is
 * current only there).
 *
 * Event changes cannot run in root (they allocate, they call every core):
 * EVENT requests are queued and hv_debugger_apply_events runs them in
 * normal kernel context after GO.
 */
#include <hvcore/abi_exec.h>
#include <hvcore/arch.h>
#include <hvcore/debugger.h>
#include <hvcore/guest_mem.h>
#include <hvcore/link.h>
#include <hvcore/msr.h>
#include <hvcore/uart.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "debugger_internal.h"
#include "lib.h"

#define NO_OWNER 0xFFFFFFFFu
/* How often the UART core looks at the line while the guest runs. */
#define POLL_PERIOD_MS 5u
#define DEFAULT_HALT_TIMEOUT_MS 100u
/* The link: the ACK of a frame is awaited for a base time plus the frame's
 * own time on the line, fully escaped (10 bits a byte): ~290 ms for a
 * 500-byte reply at 115200 baud, ~3 s for the largest message. */
#define ACK_BASE_MS 250u
#define ACK_TIMEOUT_MS 1000u
#define MAX_RETRIES 3u
#define RECV_SLICE_MS 250u
/* How long a breaking core waits for the link while the UART core answers a
 * request of a running target: that holds the link for one reply and its
 * retransmissions at most. */
#define BREAK_WAIT_MS ((MAX_RETRIES + 2u) * ACK_TIMEOUT_MS)

#define MSR_APIC_BASE 0x1Bu
#define APIC_BASE_X2APIC (1ull << 10)
#define MSR_X2APIC_ICR 0x830u
#define XAPIC_ICR_LOW 0x300u
#define XAPIC_ICR_HIGH 0x310u
#define ICR_DELIVERY_NMI (4u << 8)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_SEND_PENDING (1u << 12)

/* Requests a halted core runs for the owner. */
enum job_op {
    JOB_NONE = 0,
    JOB_REGS,       /* out: struct hv_dbg_regs */
    JOB_SET_REG,    /* a32 = reg, a64 = value; out: u64 value now */
    JOB_MSR,        /* a32 = msr, b32 = action, a64 = value; out: struct hv_abi_msr_result */
    JOB_READ_MEM,   /* a64 = gva, a32 = len; out: bytes, result_len, status = fault */
    JOB_STOP_INFO,  /* fill the current-core part of the stop report (out: struct hv_dbg_stop) */
};

struct dbg_job {
    uint32_t op;
    uint32_t a32, b32;
    uint64_t a64;
    void *out;
    uint32_t result_len;
    hv_status_t status;
};

struct dbg_core {
    struct hv_vcpu *vcpu;
    uint32_t apic_id;
    uint32_t halt_req;   /* atomic: the owner wants this core halted */
    uint32_t halted;     /* atomic: the core spins in hv_debugger_exit_end */
    uint32_t nmi_sent;   /* atomic: one halting NMI is on its way (consumed by the NMI that is it) */
    uint32_t post_seq;   /* atomic: jobs posted */
    uint32_t done_seq;   /* atomic: jobs done */
    struct dbg_job job;
};

struct queued_event {
    uint32_t request, offset, len;
};

struct hv_debugger {
    struct hv *hv;
    size_t pages;
    bool uart_ok;
    uint32_t owner;          /* atomic: NO_OWNER or the core using the link / halting */
    uint32_t stop_pending;   /* atomic: the owner must stop the machine at its exit end */
    uint32_t halted_state;   /* atomic: 1 while the machine is halted */
    uint32_t events_pending; /* atomic: a batch waits for hv_debugger_apply_events */
    uint32_t force_go;       /* atomic: hv_debugger_release asked for a GO */
    uint32_t current_core;
    uint64_t stops;
    uint64_t tsc_per_ms;
    uint32_t halt_timeout_ms;
    uint32_t timer_value;
    /* The stop being handled. */
    uint32_t reason, event_id, stopping_core, pause_tag;
    bool pause_reply;        /* the stop answers a PAUSE (its tag) rather than a STOP message */
    uint64_t pid;
    struct hv_msg_dr_access dr;
    uint8_t not_halted[HV_DBG_CORE_BITMAP];
    /* Event changes. */
    uint32_t queued, queue_used;
    struct queued_event qe[HV_DBG_MAX_QUEUED];
    uint32_t result_count;
    struct hv_dbg_event_result results[HV_DBG_MAX_QUEUED];
    struct hv_uart uart;
    struct hv_link link;
    uint8_t queue[HV_DBG_QUEUE_BYTES];
    uint8_t rx[HV_LINK_RX_BUFFER_SIZE(HV_DBG_MAX_MESSAGE)];
    uint8_t msg[HV_DBG_MAX_MESSAGE];
    uint8_t reply[HV_DBG_MAX_MESSAGE];
    struct dbg_core cores[];
};

/* ---- helpers ----------------------------------------------------------------- */

static uint64_t now_ms(const struct hv_debugger *d)
{
    return hv_arch_rdtsc() / d->tsc_per_ms;
}

static uint32_t ld(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void bit_set(uint8_t *map, uint32_t n)
{
    if (n < HV_DBG_MAX_CORES)
        map[n / 8u] |= (uint8_t)(1u << (n % 8u));
}

static uint32_t self_index(const struct hv_debugger *d)
{
    return d->hv->os->cpu_index(d->hv->os->ctx);
}

bool hv_debugger_enabled(const struct hv *hv)
{
    return hv != NULL && hv->dbg != NULL;
}

void hv_debugger_release(struct hv *hv)
{
    if (hv != NULL && hv->dbg != NULL)
        st32(&hv->dbg->force_go, 1);
}

bool hv_debugger_events_pending(const struct hv *hv)
{
    return hv != NULL && hv->dbg != NULL && ld(&hv->dbg->events_pending) != 0;
}

/* ---- setup (PRE-LAUNCH) -------------------------------------------------------- */

static uint64_t tsc_rate(const struct hv_config *cfg)
{
    struct hv_cpuid_regs r;

    if (cfg->debug_tsc_per_ms != 0)
        return cfg->debug_tsc_per_ms;
    /* CPUID 15H: TSC = crystal * EBX / EAX; 16H: base MHz (SDM Vol. 2A, CPUID). */
    hv_arch_cpuid(0, 0, &r);
    if (r.eax >= 0x15u) {
        uint32_t max = r.eax;

        hv_arch_cpuid(0x15u, 0, &r);
        if (r.eax != 0 && r.ebx != 0 && r.ecx != 0)
            return (uint64_t)r.ecx / 1000u * r.ebx / r.eax;
        if (max >= 0x16u) {
            hv_arch_cpuid(0x16u, 0, &r);
            if ((r.eax & 0xFFFFu) != 0)
                return (uint64_t)(r.eax & 0xFFFFu) * 1000u;
        }
    }
    return 1000000u;
}

hv_status_t hv_debugger_create(struct hv *hv)
{
    const struct hv_os_ops *os = hv->os;
    struct hv_debugger *d;
    size_t bytes, pages;
    uint32_t i;

    hv->dbg = NULL;
    if (hv->cfg.debug_port == 0)
        return HV_STATUS_SUCCESS;
    /* Halting takes NMIs in VMX root: the core's own host IDT must be there. */
    if (!hv->cfg.own_host_idt)
        return HV_STATUS_INVALID_PARAMETER;
    bytes = sizeof(struct hv_debugger) + (size_t)hv->cpu_count * sizeof(struct dbg_core);
    pages = (bytes + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
    d = os->alloc_pages(os->ctx, pages);
    if (d == NULL)
        return HV_STATUS_INSUFFICIENT_RESOURCES;
    d->hv = hv;
    d->pages = pages;
    d->owner = NO_OWNER;
    d->tsc_per_ms = tsc_rate(&hv->cfg);
    d->halt_timeout_ms = hv->cfg.debug_halt_timeout_ms != 0 ? hv->cfg.debug_halt_timeout_ms
                                                            : DEFAULT_HALT_TIMEOUT_MS;
    for (i = 0; i < hv->cpu_count; i++)
        d->cores[i].vcpu = &hv->vcpus[i];
    hv->dbg = d;
    return HV_STATUS_SUCCESS;
}

void hv_debugger_destroy(struct hv *hv)
{
    if (hv->dbg == NULL)
        return;
    hv->os->free_pages(hv->os->ctx, hv->dbg, hv->dbg->pages);
    hv->dbg = NULL;
}

void hv_debugger_start(struct hv *hv)
{
    struct hv_debugger *d = hv->dbg;
    struct hv_link_config lc;
    struct hv_link_io io;
    hv_status_t st;

    if (d == NULL)
        return;
    st = hv_uart_init(&d->uart, hv->cfg.debug_port, hv->cfg.debug_baud, d->tsc_per_ms);
    if (!hv_success(st)) {
        hv_lib_log(hv->os, HV_LOG_ERROR, "debugger: no 16550 UART answers at debug_port; the stub stays silent");
        return;
    }
    hv_uart_link_io(&d->uart, &io);
    lc.max_payload = HV_DBG_MAX_MESSAGE;
    lc.ack_timeout = ACK_TIMEOUT_MS;
    lc.max_retries = MAX_RETRIES;
    lc.initial_seq = (uint32_t)hv_arch_rdtsc();
    st = hv_link_init(&d->link, &io, &lc, d->rx, sizeof(d->rx));
    if (!hv_success(st)) {
        hv_lib_log(hv->os, HV_LOG_ERROR, "debugger: link setup failed");
        return;
    }
    d->uart_ok = true;
    hv_lib_log(hv->os, HV_LOG_INFO, "debugger: Debugger Mode on, waiting for a debugger on the UART");
}

void hv_debugger_core_init(struct hv_vcpu *vcpu)
{
    struct hv_debugger *d = vcpu->hv->dbg;
    struct hv_cpuid_regs r;
    uint64_t misc = vcpu->caps.misc;
    uint32_t max;

    if (d == NULL)
        return;
    /* x2APIC ID from CPUID 0BH EDX when the leaf exists, else the 8-bit
     * initial APIC ID of CPUID 01H EBX[31:24] (SDM Vol. 3A, 11.4.6, 11.12.8). */
    hv_arch_cpuid(0, 0, &r);
    max = r.eax;
    hv_arch_cpuid(1, 0, &r);
    d->cores[vcpu->index].apic_id = r.ebx >> 24;
    if (max >= 0xBu) {
        hv_arch_cpuid(0xBu, 0, &r);
        if (r.ebx != 0)
            d->cores[vcpu->index].apic_id = r.edx;
    }
    /* The timer counts down at the TSC rate >> IA32_VMX_MISC[4:0] (SDM
     * Vol. 3C, 26.5.1; Vol. 3D, A.6). */
    if (vcpu->index == vcpu->hv->cfg.debug_uart_core) {
        uint64_t v = (d->tsc_per_ms * POLL_PERIOD_MS) >> (misc & 0x1Fu);

        d->timer_value = v == 0 ? 1u : v > 0xFFFFFFFFull ? 0xFFFFFFFFu : (uint32_t)v;
    }
}

uint32_t hv_debugger_timer_value(const struct hv_vcpu *vcpu)
{
    const struct hv_debugger *d = vcpu->hv->dbg;

    if (d == NULL || vcpu->index != vcpu->hv->cfg.debug_uart_core)
        return 0;
    return d->timer_value;
}

/* ---- NMIs ---------------------------------------------------------------------- */

/* Returns whether an NMI went out. */
static bool send_nmi(struct hv_debugger *d, uint32_t core)
{
    uint32_t apic = d->cores[core].apic_id;
    volatile uint32_t *lapic = (volatile uint32_t *)d->hv->cfg.debug_lapic;
    uint64_t base = 0;
    uint32_t spin;

    if (hv_success(hv_arch_rdmsr_safe(MSR_APIC_BASE, &base)) && (base & APIC_BASE_X2APIC)) {
        /* x2APIC: one WRMSR, destination in bits 63:32 (SDM Vol. 3A, 11.12.9). */
        return hv_success(hv_arch_wrmsr_safe(MSR_X2APIC_ICR,
                                             (uint64_t)apic << 32 | ICR_DELIVERY_NMI | ICR_LEVEL_ASSERT));
    }
    if (lapic == NULL)
        return false; /* no way to interrupt it: it halts at its next exit or is reported */
    /* xAPIC: destination first, the low word sends (SDM Vol. 3A, 11.6.1). */
    for (spin = 0; spin < 100000u && (lapic[XAPIC_ICR_LOW / 4u] & ICR_SEND_PENDING); spin++)
        hv_arch_pause();
    lapic[XAPIC_ICR_HIGH / 4u] = (apic & 0xFFu) << 24;
    lapic[XAPIC_ICR_LOW / 4u] = ICR_DELIVERY_NMI | ICR_LEVEL_ASSERT;
    return true;
}

bool hv_debugger_nmi_is_ours(struct hv_vcpu *vcpu)
{
    struct hv_debugger *d = vcpu->hv->dbg;
    struct dbg_core *c;

    if (d == NULL)
        return false;
    c = &d->cores[vcpu->index];
    /* One NMI per token: NMIs from elsewhere (a watchdog, perf) that
     * arrive while the core is asked to halt still go to the guest. Two
     * NMIs that the CPU merged into one (SDM Vol. 3A, 6.7.1) are taken as
     * ours: that one is lost to the guest, as on a machine without us. */
    return __atomic_exchange_n(&c->nmi_sent, 0u, __ATOMIC_ACQ_REL) != 0;
}

void hv_debugger_nmi_exit_done(struct hv_vcpu *vcpu)
{
    /* Before halting (or sending NMIs as the owner), NMIs must be taken
     * in root again. */
    if (vcpu->hv->dbg != NULL)
        hv_arch_unblock_nmi();
}

/* ---- work a core does on itself ------------------------------------------------ */

static uint32_t code_mode(struct hv_vcpu *vcpu)
{
    uint32_t ar = hv_vmcs_read32(HV_VMCS_GUEST_CS_AR_BYTES);
    uint64_t efer = 0;

    (void)hv_msr_guest_read(vcpu, HV_MSR_IA32_EFER, &efer, NULL);
    if ((efer & HV_EFER_LMA) && (ar & (1u << 13)))
        return 64;
    return (ar & (1u << 14)) ? 32u : 16u;
}

static void fill_regs(struct hv_vcpu *vcpu, struct hv_dbg_regs *r)
{
    uint64_t v;
    uint32_t i;

    hv_lib_zero(r, sizeof(*r));
    r->core = vcpu->index;
    for (i = 0; i < 16; i++)
        r->gpr[i] = vcpu->gprs.r[i];
    r->gpr[HV_GPR_RSP] = hv_vmcs_readnat(HV_VMCS_GUEST_RSP);
    r->rip = hv_vmcs_readnat(HV_VMCS_GUEST_RIP);
    r->rflags = hv_vmcs_readnat(HV_VMCS_GUEST_RFLAGS);
    r->cr0 = hv_vmcs_readnat(HV_VMCS_GUEST_CR0);
    r->cr2 = hv_arch_read_cr(2);
    r->cr3 = hv_vmcs_readnat(HV_VMCS_GUEST_CR3);
    r->cr4 = hv_vmcs_readnat(HV_VMCS_GUEST_CR4);
    r->dr0 = hv_arch_read_dr(0);
    r->dr1 = hv_arch_read_dr(1);
    r->dr2 = hv_arch_read_dr(2);
    r->dr3 = hv_arch_read_dr(3);
    r->dr6 = hv_arch_read_dr(6);
    r->dr7 = hv_vmcs_readnat(HV_VMCS_GUEST_DR7);
    (void)hv_msr_guest_read(vcpu, HV_MSR_IA32_EFER, &r->efer, NULL);
    r->gdtr_base = hv_vmcs_readnat(HV_VMCS_GUEST_GDTR_BASE);
    r->idtr_base = hv_vmcs_readnat(HV_VMCS_GUEST_IDTR_BASE);
    r->gdtr_limit = hv_vmcs_read32(HV_VMCS_GUEST_GDTR_LIMIT);
    r->idtr_limit = hv_vmcs_read32(HV_VMCS_GUEST_IDTR_LIMIT);
    /* ES..TR are consecutive encodings, 2 apart (SDM Vol. 3D, Appendix B). */
    for (i = 0; i < HV_SEG_COUNT && i < 8; i++) {
        v = 0;
        (void)hv_vmcs_read(HV_VMCS_GUEST_ES_SELECTOR + 2u * i, &v);
        r->seg[i].selector = (uint16_t)v;
        v = 0;
        (void)hv_vmcs_read(HV_VMCS_GUEST_ES_AR_BYTES + 2u * i, &v);
        r->seg[i].access_rights = (uint32_t)v;
        v = 0;
        (void)hv_vmcs_read(HV_VMCS_GUEST_ES_LIMIT + 2u * i, &v);
        r->seg[i].limit = (uint32_t)v;
        v = 0;
        (void)hv_vmcs_read(HV_VMCS_GUEST_ES_BASE + 2u * i, &v);
        r->seg[i].base = v;
    }
}

/* RFLAGS bits software may set (SDM Vol. 1, 3.4.3): CF PF AF ZF SF TF IF DF
 * OF IOPL NT RF VM AC VIF VIP ID; bit 1 reads as 1. */
#define RFLAGS_WRITABLE 0x3F7FD5ull

static hv_status_t set_reg(struct hv_vcpu *vcpu, uint32_t reg, uint64_t value, uint64_t *now)
{
    hv_status_t st = HV_STATUS_SUCCESS;

    if (reg <= HV_DBG_REG_GPR_LAST) {
        if (reg == HV_GPR_RSP) {
            st = hv_vmcs_writenat(HV_VMCS_GUEST_RSP, value);
            *now = hv_vmcs_readnat(HV_VMCS_GUEST_RSP);
        } else {
            vcpu->gprs.r[reg] = value;
            *now = value;
        }
        return st;
    }
    switch (reg) {
    case HV_DBG_REG_RIP:
        st = hv_vmcs_writenat(HV_VMCS_GUEST_RIP, value);
        *now = hv_vmcs_readnat(HV_VMCS_GUEST_RIP);
        return st;
    case HV_DBG_REG_RFLAGS:
        if (value & ~(RFLAGS_WRITABLE | HV_RFLAGS_FIXED))
            return HV_STATUS_INVALID_PARAMETER;
        st = hv_vmcs_writenat(HV_VMCS_GUEST_RFLAGS, value | HV_RFLAGS_FIXED);
        *now = hv_vmcs_readnat(HV_VMCS_GUEST_RFLAGS);
        return st;
    case HV_DBG_REG_DR0: case HV_DBG_REG_DR1: case HV_DBG_REG_DR2: case HV_DBG_REG_DR3:
        hv_arch_write_dr(reg - HV_DBG_REG_DR0, value);
        *now = hv_arch_read_dr(reg - HV_DBG_REG_DR0);
        return HV_STATUS_SUCCESS;
    case HV_DBG_REG_DR6:
        /* Bits 63:32 are reserved and must be 0 (SDM Vol. 3B, 18.2.3). */
        if (value >> 32)
            return HV_STATUS_INVALID_PARAMETER;
        hv_arch_write_dr(6, value);
        *now = hv_arch_read_dr(6);
        return HV_STATUS_SUCCESS;
    case HV_DBG_REG_DR7:
        /* Bits 63:32 must be 0 or VM entry fails (SDM Vol. 3C, 27.3.1.1). */
        if (value >> 32)
            return HV_STATUS_INVALID_PARAMETER;
        st = hv_vmcs_writenat(HV_VMCS_GUEST_DR7, value);
        *now = hv_vmcs_readnat(HV_VMCS_GUEST_DR7);
        return st;
    default:
        return HV_STATUS_INVALID_PARAMETER;
    }
}

static void stop_info(struct hv_debugger *d, struct hv_vcpu *vcpu, struct hv_dbg_stop *s)
{
    const struct hv_os_ops *os = d->hv->os;
    struct hv_guest_paging p;
    uint64_t cs_base, lin;
    size_t done = 0;

    s->rip = hv_vmcs_readnat(HV_VMCS_GUEST_RIP);
    s->mode = code_mode(vcpu);
    s->pid = os->current_pid != NULL ? os->current_pid(os->ctx) : 0;
    cs_base = s->mode == 64 ? 0 : hv_vmcs_readnat(HV_VMCS_GUEST_CS_BASE);
    lin = cs_base + s->rip;
    if (s->mode != 64)
        lin &= 0xFFFFFFFFull;
    hv_guest_paging_current(&p);
    s->insn_status = hv_guest_mem_read(os, &p, lin, s->insn, HV_DBG_INSN_BYTES, &done);
    s->insn_len = (uint32_t)done;
}

static void run_job(struct hv_debugger *d, struct hv_vcpu *vcpu, struct dbg_job *j)
{
    struct hv_guest_paging p;
    struct hv_abi_msr_result *mr;
    enum hv_msr_route route = HV_MSR_ROUTE_PHYSICAL;
    uint64_t v;
    size_t done = 0;

    j->status = HV_STATUS_SUCCESS;
    j->result_len = 0;
    switch (j->op) {
    case JOB_REGS:
        fill_regs(vcpu, j->out);
        break;
    case JOB_SET_REG:
        v = 0;
        j->status = set_reg(vcpu, j->a32, j->a64, &v);
        *(uint64_t *)j->out = v;
        break;
    case JOB_MSR:
        mr = j->out;
        mr->core = vcpu->index;
        mr->in_root = 1;
        if (j->b32 == HV_ABI_MSR_WRITE) {
            mr->value = j->a64;
            mr->status = hv_msr_guest_write(vcpu, j->a32, j->a64, &route);
        } else {
            v = 0;
            mr->status = hv_msr_guest_read(vcpu, j->a32, &v, &route);
            mr->value = v;
        }
        mr->route = route;
        j->status = mr->status;
        break;
    case JOB_READ_MEM:
        hv_guest_paging_current(&p);
        j->status = hv_guest_mem_read(d->hv->os, &p, j->a64, j->out, j->a32, &done);
        j->result_len = (uint32_t)done;
        break;
    case JOB_STOP_INFO:
        stop_info(d, vcpu, j->out);
        break;
    default:
        j->status = HV_STATUS_INVALID_PARAMETER;
        break;
    }
}

/* Run `j` on `core`: here when it is the caller, else through its mailbox
 * (it must be halted), waiting at most the halt timeout. */
static hv_status_t on_core(struct hv_debugger *d, uint32_t self, uint32_t core, struct dbg_job *j)
{
    struct dbg_core *c = &d->cores[core];
    uint64_t deadline;
    uint32_t seq;

    if (core == self) {
        run_job(d, c->vcpu, j);
        return j->status;
    }
    if (ld(&c->halted) == 0)
        return HV_STATUS_TIMEOUT; /* not halted: its state cannot be reached */
    c->job = *j;
    seq = ld(&c->post_seq) + 1u;
    st32(&c->post_seq, seq);
    deadline = now_ms(d) + d->halt_timeout_ms;
    while (ld(&c->done_seq) != seq) {
        if (now_ms(d) > deadline)
            return HV_STATUS_TIMEOUT;
        hv_arch_pause();
    }
    *j = c->job;
    return j->status;
}

/* ---- messages ------------------------------------------------------------------ */

static void send_reply(struct hv_debugger *d, uint16_t type, uint32_t tag, hv_status_t st, uint32_t body_len)
{
    uint32_t len = (uint32_t)sizeof(struct hv_dbg_header) + body_len;
    uint32_t baud = d->hv->cfg.debug_baud != 0 ? d->hv->cfg.debug_baud : HV_UART_BASE_BAUD;

    hv_dbg_header_put(d->reply, (uint16_t)(type | HV_DBG_REPLY), tag, st, body_len);
    hv_link_set_ack_timeout(&d->link, ACK_BASE_MS + (uint64_t)HV_LINK_ENCODED_MAX(len) * 10u * 1000u / baud);
    /* A client that went away loses the reply (it re-queries on return); a
     * client that reconnects ends the wait at once (PEER_RESTARTED) and its
     * first request is held for the next receive. */
    (void)hv_link_send(&d->link, d->reply, len);
}

static uint8_t *body_out(struct hv_debugger *d)
{
    return d->reply + sizeof(struct hv_dbg_header);
}

static void fill_hello(struct hv_debugger *d, struct hv_dbg_hello *h)
{
    hv_lib_zero(h, sizeof(*h));
    h->version = HV_DBG_VERSION;
    h->state = ld(&d->halted_state) ? HV_DBG_STATE_HALTED : HV_DBG_STATE_RUNNING;
    h->ncores = d->hv->cpu_count;
    h->current_core = d->current_core;
    h->max_message = HV_DBG_MAX_MESSAGE;
    h->max_read = HV_DBG_MAX_READ;
    h->max_queued = HV_DBG_MAX_QUEUED;
    h->queue_bytes = HV_DBG_QUEUE_BYTES;
    h->stops = d->stops;
    hv_lib_copy(h->signature, d->hv->cfg.signature, HV_SIGNATURE_LEN);
}

/* The stop report of the current core (halted) or of a running target. */
static void fill_stop(struct hv_debugger *d, uint32_t self, struct hv_dbg_stop *s)
{
    struct dbg_job j;
    uint32_t i;

    hv_lib_zero(s, sizeof(*s));
    s->ncores = d->hv->cpu_count;
    s->stops = d->stops;
    s->event_id = 0xFFFFFFFFu;
    s->current_core = d->current_core;
    if (!ld(&d->halted_state))
        return;
    s->state = HV_DBG_STATE_HALTED;
    s->reason = d->reason;
    s->stopping_core = d->stopping_core;
    if (d->reason == HV_DBG_STOP_EVENT) {
        s->event_id = d->event_id;
        s->dr = d->dr;
    }
    for (i = 0; i < d->hv->cpu_count && i < HV_DBG_MAX_CORES; i++) {
        if (ld(&d->cores[i].halted))
            bit_set(s->halted, i);
    }
    hv_lib_copy(s->not_halted, d->not_halted, sizeof(s->not_halted));
    hv_lib_zero(&j, sizeof(j));
    j.op = JOB_STOP_INFO;
    j.out = s;
    if (!hv_success(on_core(d, self, d->current_core, &j)))
        s->insn_status = HV_STATUS_TIMEOUT;
    /* The current core's process, not the stopping one's, except for the
     * stopping core of an event (the pid its filter matched). */
    if (d->reason == HV_DBG_STOP_EVENT && d->current_core == d->stopping_core)
        s->pid = d->pid;
}

static bool body_is(const struct hv_dbg_header *h, uint32_t size)
{
    return h->length == size;
}

static hv_status_t core_arg(const struct hv_debugger *d, uint32_t core, bool current_ok, uint32_t *out)
{
    if (core == HV_DBG_CURRENT_CORE && current_ok)
        core = d->current_core;
    if (core >= d->hv->cpu_count)
        return HV_STATUS_INVALID_PARAMETER;
    *out = core;
    return HV_STATUS_SUCCESS;
}

static void req_regs(struct hv_debugger *d, uint32_t self, const struct hv_dbg_header *h, const uint8_t *body)
{
    struct hv_dbg_core_req r;
    struct dbg_job j;
    uint32_t core = 0;
    hv_status_t st;

    if (!body_is(h, sizeof(r))) {
        send_reply(d, h->type, h->tag, HV_STATUS_INVALID_PACKET, 0);
        return;
    }
    hv_lib_copy(&r, body, sizeof(r));
    st = r.reserved != 0 ? HV_STATUS_INVALID_PACKET : core_arg(d, r.core, true, &core);
    if (!hv_success(st)) {
        send_reply(d, h->type, h->tag, st, 0);
        return;
    }
    hv_lib_zero(&j, sizeof(j));
    j.op = JOB_REGS;
    j.out = body_out(d);
    st = on_core(d, self, core, &j);
    send_reply(d, h->type, h->tag, st, hv_success(st) ? (uint32_t)sizeof(struct hv_dbg_regs) : 0);
}

static void req_set_reg(struct hv_debugger *d, uint32_t self, const struct hv_dbg_header *h, const uint8_t *body)
{
    struct hv_dbg_set_reg r;
    struct dbg_job j;
    uint64_t now = 0;
    uint32_t core = 0;
    hv_status_t st;

    if (!body_is(h, sizeof(r))) {
        send_reply(d, h->type, h->tag, HV_STATUS_INVALID_PACKET, 0);
        return;
    }
    hv_lib_copy(&r, body, sizeof(r));
    st = core_arg(d, r.core, true, &core);
    if (hv_success(st) && r.reg >= HV_DBG_REG_COUNT)
        st = HV_STATUS_INVALID_PARAMETER;
    if (hv_success(st)) {
        hv_lib_zero(&j, sizeof(j));
        j.op = JOB_SET_REG;
        j.a32 = r.reg;
        j.a64 = r.value;
        j.out = &now;
        st = on_core(d, self, core, &j);
    }
    r.core = core;
    r.value = now;
    hv_lib_copy(body_out(d), &r, sizeof(r));
    send_reply(d, h->type, h->tag, st, hv_success(st) ? (uint32_t)sizeof(r) : 0);
}

static void req_switch(struct hv_debugger *d, uint32_t self, const struct hv_dbg_header *h, const uint8_t *body)
{
    struct hv_dbg_core_req r;
    uint32_t core = 0;
    hv_status_t st;

    if (!body_is(h, sizeof(r))) {
        send_reply(d, h->type, h->tag, HV_STATUS_INVALID_PACKET, 0);
        return;
    }
    hv_lib_copy(&r, body, sizeof(r));
    st = r.reserved != 0 ? HV_STATUS_INVALID_PACKET : core_arg(d, r.core, false, &core);
    if (hv_success(st) && ld(&d->cores[core].halted) == 0)
        st = HV_STATUS_TIMEOUT; /* it never halted: nothing of it can be read */
    if (!hv_success(st)) {
        send_reply(d, h->type, h->tag, st, 0);
        return;
    }
    d->current_core = core;
    fill_stop(d, self, (struct hv_dbg_stop *)(void *)body_out(d));
    send_reply(d, h->type, h->tag, HV_STATUS_SUCCESS, (uint32_t)sizeof(struct hv_dbg_stop));
}

static void req_msr(struct hv_debugger *d, uint32_t self, const struct hv_dbg_header *h, const uint8_t *body)
{
    struct hv_abi_msr_op op;
    struct hv_dbg_msr_reply rep;
    struct hv_abi_msr_result *res;
    struct dbg_job j;
    uint32_t first, last, core, n = 0;
    hv_status_t st, overall = HV_STATUS_SUCCESS;

    if (!body_is(h, sizeof(op))) {
        send_reply(d, h->type, h->tag, HV_STATUS_INVALID_PACKET, 0);
        return;
    }
    hv_lib_copy(&op, body, sizeof(op));
    if (op.msr > 0xFFFFFFFFull || (op.action != HV_ABI_MSR_READ && op.action != HV_ABI_MSR_WRITE) ||
        (op.core_number != HV_DBG_ALL_CORES && op.core_number >= d->hv->cpu_count)) {
        send_reply(d, h->type, h->tag, HV_STATUS_INVALID_PARAMETER, 0);
        return;
    }
    first = op.core_number == HV_DBG_ALL_CORES ? 0 : op.core_number;
    last = op.core_number == HV_DBG_ALL_CORES ? d->hv->cpu_count - 1u : op.core_number;
    if (last >= HV_DBG_MAX_CORES)
        last = HV_DBG_MAX_CORES - 1u;
    res = (struct hv_abi_msr_result *)(void *)(body_out(d) + sizeof(rep));
    for (core = first; core <= last; core++, n++) {
        hv_lib_zero(&res[n], sizeof(res[n]));
        hv_lib_zero(&j, sizeof(j));
        j.op = JOB_MSR;
        j.a32 = (uint32_t)op.msr;
        j.b32 = op.action;
        j.a64 = op.value;
        j.out = &res[n];
        st = on_core(d, self, core, &j);
        res[n].core = core;
        res[n].status = st;
        if (st == HV_STATUS_TIMEOUT)
            res[n].in_root = 0;
        if (!hv_success(st) && hv_success(overall))
            overall = st;
    }
    rep.count = n;
    rep.reserved = 0;
    hv_lib_copy(body_out(d), &rep, sizeof(rep));
    send_reply(d, h->type, h->tag, overall, (uint32_t)(sizeof(rep) + n * sizeof(*res)));
}

static void req_read_mem(struct hv_debugger *d, uint32_t self, const struct hv_dbg_header *h, const uint8_t *body)
{
    struct hv_dbg_read_mem r;
    struct hv_dbg_mem_reply rep;
    struct dbg_job j;
    uint32_t core = 0;
    hv_status_t st;

    if (!body_is(h, sizeof(r))) {
        send_reply(d, h->type, h->tag, HV_STATUS_INVALID_PACKET, 0);
        return;
    }
    hv_lib_copy(&r, body, sizeof(r));
    st = core_arg(d, r.core, true, &core);
    if (hv_success(st) && (r.length == 0 || r.length > HV_DBG_MAX_READ))
        st = HV_STATUS_INVALID_PARAMETER;
    if (!hv_success(st)) {
        send_reply(d, h->type, h->tag, st, 0);
        return;
    }
    hv_lib_zero(&j, sizeof(j));
    j.op = JOB_READ_MEM;
    j.a64 = r.address;
    j.a32 = r.length;
    j.out = body_out(d) + sizeof(rep);
    st = on_core(d, self, core, &j);
    rep.address = r.address;
    rep.length = j.result_len;
    rep.fault = st;
    hv_lib_copy(body_out(d), &rep, sizeof(rep));
    send_reply(d, h->type, h->tag, st, (uint32_t)sizeof(rep) + rep.length);
}

static void req_event(struct hv_debugger *d, const struct hv_dbg_header *h, const uint8_t *body)
{
    struct hv_dbg_event_req r;
    struct hv_dbg_event_reply rep;
    const uint8_t *abi;
    hv_status_t st = HV_STATUS_SUCCESS;

    if (h->length < sizeof(r)) {
        send_reply(d, h->type, h->tag, HV_STATUS_INVALID_PACKET, 0);
        return;
    }
    hv_lib_copy(&r, body, sizeof(r));
    abi = body + sizeof(r);
    if (r.request_len != h->length - sizeof(r) || r.request_len < sizeof(struct hv_abi_header) ||
        hv_lib_get_le32(abi) != r.request_len)
        st = HV_STATUS_INVALID_PACKET;
    else if (r.request != HV_ABI_REQ_EVENT_ADD && r.request != HV_ABI_REQ_EVENT_ACTION &&
             r.request != HV_ABI_REQ_EVENT_CTL)
        st = HV_STATUS_INVALID_PARAMETER;
    else if (ld(&d->events_pending) != 0 || d->queued >= HV_DBG_MAX_QUEUED ||
             r.request_len > HV_DBG_QUEUE_BYTES - d->queue_used)
        st = HV_STATUS_INSUFFICIENT_RESOURCES;
    if (hv_success(st)) {
        d->qe[d->queued].request = r.request;
        d->qe[d->queued].offset = d->queue_used;
        d->qe[d->queued].len = r.request_len;
        hv_lib_copy(d->queue + d->queue_used, abi, r.request_len);
        d->queue_used += (r.request_len + 7u) & ~7u;
        if (d->queue_used > HV_DBG_QUEUE_BYTES)
            d->queue_used = HV_DBG_QUEUE_BYTES;
        d->queued++;
    }
    rep.index = hv_success(st) ? d->queued - 1u : 0xFFFFFFFFu;
    rep.queued = d->queued;
    rep.bytes_used = d->queue_used;
    rep.bytes_free = HV_DBG_QUEUE_BYTES - d->queue_used;
    hv_lib_copy(body_out(d), &rep, sizeof(rep));
    send_reply(d, h->type, h->tag, st, (uint32_t)sizeof(rep));
}

static void req_event_results(struct hv_debugger *d, const struct hv_dbg_header *h)
{
    struct hv_dbg_event_results rep;
    bool pending = ld(&d->events_pending) != 0;

    rep.count = pending ? 0 : d->result_count;
    rep.pending = pending ? 1u : 0u;
    rep.queued = pending ? 0 : d->queued;
    rep.reserved = 0;
    hv_lib_copy(body_out(d), &rep, sizeof(rep));
    hv_lib_copy(body_out(d) + sizeof(rep), d->results, rep.count * sizeof(d->results[0]));
    send_reply(d, h->type, h->tag, HV_STATUS_SUCCESS,
               (uint32_t)(sizeof(rep) + rep.count * sizeof(d->results[0])));
}

/* Requests whose body is empty. */
static bool takes_no_body(uint16_t type)
{
    return type == HV_DBG_MSG_HELLO || type == HV_DBG_MSG_STATUS || type == HV_DBG_MSG_PAUSE ||
           type == HV_DBG_MSG_GO || type == HV_DBG_MSG_EVENT_RESULTS || type == HV_DBG_MSG_EVENT_DISCARD;
}

/* Handle one received message. Returns true for an answered GO. */
static bool handle(struct hv_debugger *d, uint32_t self, uint32_t len, bool halted)
{
    struct hv_dbg_header h;
    const uint8_t *body = d->msg + sizeof(struct hv_dbg_header);
    hv_status_t st = hv_dbg_header_check(d->msg, len, &h);

    if (!hv_success(st)) {
        /* Unreadable header: answer with what can be echoed. */
        send_reply(d, len >= 4 ? (uint16_t)(d->msg[2] | d->msg[3] << 8) : 0,
                   len >= 8 ? hv_lib_get_le32(d->msg + 4) : 0, HV_STATUS_INVALID_PACKET, 0);
        return false;
    }
    if ((h.type & HV_DBG_REPLY) || h.status != 0 || (takes_no_body(h.type) && h.length != 0)) {
        send_reply(d, h.type, h.tag, HV_STATUS_INVALID_PACKET, 0);
        return false;
    }
    switch (h.type) {
    case HV_DBG_MSG_HELLO:
        fill_hello(d, (struct hv_dbg_hello *)(void *)body_out(d));
        send_reply(d, h.type, h.tag, HV_STATUS_SUCCESS, (uint32_t)sizeof(struct hv_dbg_hello));
        return false;
    case HV_DBG_MSG_STATUS:
        fill_stop(d, self, (struct hv_dbg_stop *)(void *)body_out(d));
        send_reply(d, h.type, h.tag, HV_STATUS_SUCCESS, (uint32_t)sizeof(struct hv_dbg_stop));
        return false;
    case HV_DBG_MSG_PAUSE:
        if (halted) {
            fill_stop(d, self, (struct hv_dbg_stop *)(void *)body_out(d));
            send_reply(d, h.type, h.tag, HV_STATUS_SUCCESS, (uint32_t)sizeof(struct hv_dbg_stop));
            return false;
        }
        /* Stop at the end of this exit; the stop report answers the tag. */
        d->reason = HV_DBG_STOP_BREAK_IN;
        d->event_id = 0xFFFFFFFFu;
        d->pause_reply = true;
        d->pause_tag = h.tag;
        d->stopping_core = self;
        st32(&d->stop_pending, 1);
        return false;
    case HV_DBG_MSG_EVENT_RESULTS:
        req_event_results(d, &h);
        return false;
    default:
        break;
    }
    if (!halted) {
        st = (h.type == HV_DBG_MSG_STOP || hv_dbg_msg_name(h.type)[0] == 'U') ? HV_STATUS_INVALID_PARAMETER
                                                                                  : HV_STATUS_TARGET_RUNNING;
        send_reply(d, h.type, h.tag, st, 0);
        return false;
    }
    switch (h.type) {
    case HV_DBG_MSG_GO:
        send_reply(d, h.type, h.tag, HV_STATUS_SUCCESS, 0);
        return true;
    case HV_DBG_MSG_GET_REGS:
        req_regs(d, self, &h, body);
        return false;
    case HV_DBG_MSG_SET_REG:
        req_set_reg(d, self, &h, body);
        return false;
    case HV_DBG_MSG_SWITCH_CORE:
        req_switch(d, self, &h, body);
        return false;
    case HV_DBG_MSG_MSR:
        req_msr(d, self, &h, body);
        return false;
    case HV_DBG_MSG_READ_MEM:
        req_read_mem(d, self, &h, body);
        return false;
    case HV_DBG_MSG_EVENT:
        req_event(d, &h, body);
        return false;
    case HV_DBG_MSG_EVENT_DISCARD:
        if (ld(&d->events_pending) == 0) {
            d->queued = 0;
            d->queue_used = 0;
        }
        send_reply(d, h.type, h.tag, HV_STATUS_SUCCESS, 0);
        return false;
    default:
        send_reply(d, h.type, h.tag, HV_STATUS_INVALID_PARAMETER, 0);
        return false;
    }
}

/* ---- halting --------------------------------------------------------------------- */

static bool take_owner(struct hv_debugger *d, uint32_t self)
{
    uint32_t none = NO_OWNER;

    return __atomic_compare_exchange_n(&d->owner, &none, self, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static void drop_owner(struct hv_debugger *d)
{
    st32(&d->owner, NO_OWNER);
}

/* A halted core: run posted jobs until GO clears halt_req. Interrupts are
 * off (VMX root); an NMI that arrives lands on the host IDT. */
static void halted_spin(struct hv_debugger *d, struct dbg_core *c)
{
    uint32_t seq;

    st32(&c->halted, 1);
    while (ld(&c->halt_req) != 0) {
        seq = ld(&c->post_seq);
        if (seq != ld(&c->done_seq)) {
            run_job(d, c->vcpu, &c->job);
            st32(&c->done_seq, seq);
        }
        hv_arch_pause();
    }
    st32(&c->halted, 0);
}

static void stop_machine(struct hv_debugger *d, uint32_t self)
{
    struct dbg_core *me = &d->cores[self];
    uint32_t n = d->hv->cpu_count, i, len;
    uint64_t deadline;
    bool all, go = false;
    hv_status_t st;

    d->stops++;
    hv_lib_zero(d->not_halted, sizeof(d->not_halted));
    st32(&me->halt_req, 1);
    st32(&me->halted, 1);
    for (i = 0; i < n; i++) {
        if (i != self && !ld(&d->cores[i].halted)) {
            st32(&d->cores[i].halt_req, 1);
            st32(&d->cores[i].nmi_sent, 1);
            if (!send_nmi(d, i))
                st32(&d->cores[i].nmi_sent, 0);
        } else if (i != self) {
            st32(&d->cores[i].halt_req, 1);
        }
    }
    deadline = now_ms(d) + d->halt_timeout_ms;
    do {
        all = true;
        for (i = 0; i < n; i++)
            all = all && ld(&d->cores[i].halted) != 0;
        if (!all)
            hv_arch_pause();
    } while (!all && now_ms(d) <= deadline);
    for (i = 0; i < n; i++) {
        if (!ld(&d->cores[i].halted))
            bit_set(d->not_halted, i);
    }
    d->current_core = self;
    st32(&d->halted_state, 1);

    fill_stop(d, self, (struct hv_dbg_stop *)(void *)body_out(d));
    if (d->pause_reply)
        send_reply(d, HV_DBG_MSG_PAUSE, d->pause_tag, HV_STATUS_SUCCESS, (uint32_t)sizeof(struct hv_dbg_stop));
    else
        send_reply(d, HV_DBG_MSG_STOP, 0, HV_STATUS_SUCCESS, (uint32_t)sizeof(struct hv_dbg_stop));
    d->pause_reply = false;

    /* Wait for the debugger as long as it takes (the point of halting);
     * each wait is bounded, so a dead line only means more of them. */
    while (!go && !ld(&d->force_go)) {
        st = hv_link_recv(&d->link, d->msg, sizeof(d->msg), &len, RECV_SLICE_MS);
        if (hv_success(st))
            go = handle(d, self, len, true);
    }
    st32(&d->force_go, 0);

    if (d->queued != 0) {
        d->result_count = 0;
        st32(&d->events_pending, 1);
    }
    st32(&d->halted_state, 0);
    for (i = 0; i < n; i++) {
        if (i != self)
            st32(&d->cores[i].halt_req, 0);
    }
    st32(&me->halt_req, 0);
    st32(&me->halted, 0);
}

void hv_debugger_break(struct hv *hv, const struct hv_event_access *access)
{
    struct hv_debugger *d = hv->dbg;
    uint64_t deadline;
    uint32_t self;

    if (d == NULL || !d->uart_ok)
        return;
    self = self_index(d);
    if (self >= hv->cpu_count)
        return;
    /* The UART core may be answering a request of the running target (its
     * preemption-timer poll owns the link for that reply): wait for it, so
     * the break is not lost. One stop at a time: a core that breaks while
     * another stops the machine is halted by that one (its own break is not
     * reported), so give up as soon as a stop is pending. */
    deadline = now_ms(d) + BREAK_WAIT_MS;
    while (!take_owner(d, self)) {
        if (ld(&d->stop_pending) != 0 || ld(&d->halted_state) != 0 || now_ms(d) > deadline)
            return;
        hv_arch_pause();
    }
    d->reason = HV_DBG_STOP_EVENT;
    d->event_id = access->event_id;
    d->pid = access->pid;
    d->dr = access->dr;
    d->stopping_core = self;
    d->pause_reply = false;
    st32(&d->stop_pending, 1);
}

void hv_debugger_exit_end(struct hv_vcpu *vcpu)
{
    struct hv_debugger *d = vcpu->hv->dbg;
    struct dbg_core *c;

    if (d == NULL)
        return;
    c = &d->cores[vcpu->index];
    if (ld(&d->owner) == vcpu->index && ld(&d->stop_pending) != 0) {
        st32(&d->stop_pending, 0);
        stop_machine(d, vcpu->index);
        drop_owner(d);
        return;
    }
    if (ld(&c->halt_req) != 0)
        halted_spin(d, c);
}

enum hv_exit_action hv_exit_preemption_timer(struct hv_exit *e)
{
    struct hv_debugger *d = e->vcpu->hv->dbg;
    uint32_t self = e->vcpu->index, len = 0;
    bool ready = false;

    if (d == NULL || !d->uart_ok || !take_owner(d, self))
        return HV_ACTION_RESUME;
    if (hv_success(hv_link_poll(&d->link, &ready)) && ready &&
        hv_success(hv_link_recv(&d->link, d->msg, sizeof(d->msg), &len, 0)))
        (void)handle(d, self, len, false);
    /* A PAUSE keeps the ownership for the stop at the end of this exit. */
    if (ld(&d->stop_pending) == 0)
        drop_owner(d);
    return HV_ACTION_RESUME;
}

/* ---- event changes (PRE-LAUNCH) --------------------------------------------------- */

hv_status_t hv_debugger_apply_events(struct hv *hv)
{
    struct hv_debugger *d;
    uint32_t i, id, idx, id_off;
    size_t resp = 0;
    uint8_t *req;

    if (hv == NULL || hv->dbg == NULL)
        return HV_STATUS_INVALID_PARAMETER;
    d = hv->dbg;
    if (ld(&d->events_pending) == 0)
        return HV_STATUS_SUCCESS;
    for (i = 0; i < d->queued; i++) {
        struct hv_dbg_event_result *r = &d->results[i];

        req = d->queue + d->qe[i].offset;
        r->request = d->qe[i].request;
        r->reserved = 0;
        r->id = 0xFFFFFFFFu;
        r->status = HV_STATUS_SUCCESS;
        id_off = 0;
        if (r->request == HV_ABI_REQ_EVENT_ACTION)
            id_off = (uint32_t)offsetof(struct hv_abi_event_action, id);
        else if (r->request == HV_ABI_REQ_EVENT_CTL)
            id_off = (uint32_t)offsetof(struct hv_abi_event_ctl, id);
        if (id_off != 0 && d->qe[i].len >= id_off + 4u) {
            id = hv_lib_get_le32(req + id_off);
            if (id != HV_ABI_EVENT_ALL && (id & HV_DBG_QUEUED_EVENT_FLAG)) {
                idx = id & ~HV_DBG_QUEUED_EVENT_FLAG;
                if (idx >= i || d->results[idx].request != HV_ABI_REQ_EVENT_ADD ||
                    !hv_success(d->results[idx].status))
                    r->status = HV_STATUS_NOT_FOUND;
                else
                    hv_lib_put_le32(req + id_off, d->results[idx].id);
            }
            r->id = hv_lib_get_le32(req + id_off);
        }
        if (hv_success(r->status))
            r->status = hv_abi_execute(hv, r->request, req, d->qe[i].len, &resp);
        if (r->request == HV_ABI_REQ_EVENT_ADD && hv_success(r->status) &&
            d->qe[i].len >= offsetof(struct hv_abi_event_add, id) + 4u)
            r->id = hv_lib_get_le32(req + offsetof(struct hv_abi_event_add, id));
    }
    d->result_count = d->queued;
    d->queued = 0;
    d->queue_used = 0;
    st32(&d->events_pending, 0);
    return HV_STATUS_SUCCESS;
}
