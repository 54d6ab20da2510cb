/* SPDX-License-Identifier: MIT */
/*
 * VMCS fields: one X-macro table with the SDM encodings (Vol. 3D,
 * Appendix B) from which the field enum, the name table used by dumps and
 * the mock's storage slots are all generated.
 *
 * Encoding bits 14:13 give the width (SDM Vol. 3C, 25.11.2):
 * 0 = 16-bit, 1 = 64-bit, 2 = 32-bit, 3 = natural width. The typed
 * accessors below check that width at build time for constant fields; the
 * mock backend checks it again at run time for everything.
 */
#ifndef HVCORE_VMCS_H
#define HVCORE_VMCS_H

#include <stdbool.h>
#include <stdint.h>
#include "status.h"
#include "vmx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Width of a VMCS field: encoding bits 14:13 (SDM Vol. 3C, 25.11.2). */
enum hv_vmcs_width {
    HV_VMCS_W16 = 0,    /* 16-bit */
    HV_VMCS_W64 = 1,    /* 64-bit */
    HV_VMCS_W32 = 2,    /* 32-bit */
    HV_VMCS_WNAT = 3,   /* natural width (64 bits on x86-64) */
};
/* The width of field encoding `enc` (enum hv_vmcs_width). */
#define HV_VMCS_FIELD_WIDTH(enc) ((enum hv_vmcs_width)(((uint32_t)(enc) >> 13) & 3u))
/* Bit 0 of a 64-bit field's encoding selects its high 32 bits ("HIGH" access). */
#define HV_VMCS_FIELD_IS_HIGH(enc) ((((uint32_t)(enc) >> 13) & 3u) == 1u && ((enc) & 1u))
/* Bits 11:10: 0 control, 1 read-only data, 2 guest state, 3 host state. */
#define HV_VMCS_FIELD_TYPE(enc)    (((uint32_t)(enc) >> 10) & 3u)

/* The field table, X(name, encoding, width) (SDM Vol. 3D, Appendix B). */
#define HV_VMCS_FIELD_LIST(X)                                              \
    /* 16-bit control */                                                   \
    X(VPID,                           0x0000, W16)                         \
    X(POSTED_INTR_NOTIFY_VECTOR,      0x0002, W16)                         \
    X(EPTP_INDEX,                     0x0004, W16)                         \
    /* 16-bit guest state */                                               \
    X(GUEST_ES_SELECTOR,              0x0800, W16)                         \
    X(GUEST_CS_SELECTOR,              0x0802, W16)                         \
    X(GUEST_SS_SELECTOR,              0x0804, W16)                         \
    X(GUEST_DS_SELECTOR,              0x0806, W16)                         \
    X(GUEST_FS_SELECTOR,              0x0808, W16)                         \
    X(GUEST_GS_SELECTOR,              0x080A, W16)                         \
    X(GUEST_LDTR_SELECTOR,            0x080C, W16)                         \
    X(GUEST_TR_SELECTOR,              0x080E, W16)                         \
    X(GUEST_INTR_STATUS,              0x0810, W16)                         \
    X(GUEST_PML_INDEX,                0x0812, W16)                         \
    /* 16-bit host state */                                                \
    X(HOST_ES_SELECTOR,               0x0C00, W16)                         \
    X(HOST_CS_SELECTOR,               0x0C02, W16)                         \
    X(HOST_SS_SELECTOR,               0x0C04, W16)                         \
    X(HOST_DS_SELECTOR,               0x0C06, W16)                         \
    X(HOST_FS_SELECTOR,               0x0C08, W16)                         \
    X(HOST_GS_SELECTOR,               0x0C0A, W16)                         \
    X(HOST_TR_SELECTOR,               0x0C0C, W16)                         \
    /* 64-bit control */                                                   \
    X(IO_BITMAP_A,                    0x2000, W64)                         \
    X(IO_BITMAP_B,                    0x2002, W64)                         \
    X(MSR_BITMAP,                     0x2004, W64)                         \
    X(VM_EXIT_MSR_STORE_ADDR,         0x2006, W64)                         \
    X(VM_EXIT_MSR_LOAD_ADDR,          0x2008, W64)                         \
    X(VM_ENTRY_MSR_LOAD_ADDR,         0x200A, W64)                         \
    X(EXECUTIVE_VMCS_POINTER,         0x200C, W64)                         \
    X(PML_ADDRESS,                    0x200E, W64)                         \
    X(TSC_OFFSET,                     0x2010, W64)                         \
    X(VIRTUAL_APIC_PAGE_ADDR,         0x2012, W64)                         \
    X(APIC_ACCESS_ADDR,               0x2014, W64)                         \
    X(POSTED_INTR_DESC_ADDR,          0x2016, W64)                         \
    X(VM_FUNCTION_CONTROLS,           0x2018, W64)                         \
    X(EPT_POINTER,                    0x201A, W64)                         \
    X(EOI_EXIT_BITMAP0,               0x201C, W64)                         \
    X(EOI_EXIT_BITMAP1,               0x201E, W64)                         \
    X(EOI_EXIT_BITMAP2,               0x2020, W64)                         \
    X(EOI_EXIT_BITMAP3,               0x2022, W64)                         \
    X(EPTP_LIST_ADDR,                 0x2024, W64)                         \
    X(VMREAD_BITMAP,                  0x2026, W64)                         \
    X(VMWRITE_BITMAP,                 0x2028, W64)                         \
    X(VE_INFO_ADDR,                   0x202A, W64)                         \
    X(XSS_EXIT_BITMAP,                0x202C, W64)                         \
    X(ENCLS_EXITING_BITMAP,           0x202E, W64)                         \
    X(SPP_TABLE_POINTER,              0x2030, W64)                         \
    X(TSC_MULTIPLIER,                 0x2032, W64)                         \
    X(TERTIARY_PROC_CONTROLS,         0x2034, W64)                         \
    X(ENCLV_EXITING_BITMAP,           0x2036, W64)                         \
    /* 64-bit read-only data */                                            \
    X(GUEST_PHYSICAL_ADDRESS,         0x2400, W64)                         \
    /* 64-bit guest state */                                               \
    X(VMCS_LINK_POINTER,              0x2800, W64)                         \
    X(GUEST_IA32_DEBUGCTL,            0x2802, W64)                         \
    X(GUEST_IA32_PAT,                 0x2804, W64)                         \
    X(GUEST_IA32_EFER,                0x2806, W64)                         \
    X(GUEST_IA32_PERF_GLOBAL_CTRL,    0x2808, W64)                         \
    X(GUEST_PDPTE0,                   0x280A, W64)                         \
    X(GUEST_PDPTE1,                   0x280C, W64)                         \
    X(GUEST_PDPTE2,                   0x280E, W64)                         \
    X(GUEST_PDPTE3,                   0x2810, W64)                         \
    X(GUEST_IA32_BNDCFGS,             0x2812, W64)                         \
    X(GUEST_IA32_RTIT_CTL,            0x2814, W64)                         \
    X(GUEST_IA32_LBR_CTL,             0x2816, W64)                         \
    X(GUEST_IA32_PKRS,                0x2818, W64)                         \
    /* 64-bit host state */                                                \
    X(HOST_IA32_PAT,                  0x2C00, W64)                         \
    X(HOST_IA32_EFER,                 0x2C02, W64)                         \
    X(HOST_IA32_PERF_GLOBAL_CTRL,     0x2C04, W64)                         \
    X(HOST_IA32_PKRS,                 0x2C06, W64)                         \
    /* 32-bit control */                                                   \
    X(PIN_BASED_VM_EXEC_CONTROL,      0x4000, W32)                         \
    X(CPU_BASED_VM_EXEC_CONTROL,      0x4002, W32)                         \
    X(EXCEPTION_BITMAP,               0x4004, W32)                         \
    X(PAGE_FAULT_ERROR_CODE_MASK,     0x4006, W32)                         \
    X(PAGE_FAULT_ERROR_CODE_MATCH,    0x4008, W32)                         \
    X(CR3_TARGET_COUNT,               0x400A, W32)                         \
    X(VM_EXIT_CONTROLS,               0x400C, W32)                         \
    X(VM_EXIT_MSR_STORE_COUNT,        0x400E, W32)                         \
    X(VM_EXIT_MSR_LOAD_COUNT,         0x4010, W32)                         \
    X(VM_ENTRY_CONTROLS,              0x4012, W32)                         \
    X(VM_ENTRY_MSR_LOAD_COUNT,        0x4014, W32)                         \
    X(VM_ENTRY_INTR_INFO,             0x4016, W32)                         \
    X(VM_ENTRY_EXCEPTION_ERROR_CODE,  0x4018, W32)                         \
    X(VM_ENTRY_INSTRUCTION_LEN,       0x401A, W32)                         \
    X(TPR_THRESHOLD,                  0x401C, W32)                         \
    X(SECONDARY_VM_EXEC_CONTROL,      0x401E, W32)                         \
    X(PLE_GAP,                        0x4020, W32)                         \
    X(PLE_WINDOW,                     0x4022, W32)                         \
    /* 32-bit read-only data */                                            \
    X(VM_INSTRUCTION_ERROR,           0x4400, W32)                         \
    X(VM_EXIT_REASON,                 0x4402, W32)                         \
    X(VM_EXIT_INTR_INFO,              0x4404, W32)                         \
    X(VM_EXIT_INTR_ERROR_CODE,        0x4406, W32)                         \
    X(IDT_VECTORING_INFO,             0x4408, W32)                         \
    X(IDT_VECTORING_ERROR_CODE,       0x440A, W32)                         \
    X(VM_EXIT_INSTRUCTION_LEN,        0x440C, W32)                         \
    X(VMX_INSTRUCTION_INFO,           0x440E, W32)                         \
    /* 32-bit guest state */                                               \
    X(GUEST_ES_LIMIT,                 0x4800, W32)                         \
    X(GUEST_CS_LIMIT,                 0x4802, W32)                         \
    X(GUEST_SS_LIMIT,                 0x4804, W32)                         \
    X(GUEST_DS_LIMIT,                 0x4806, W32)                         \
    X(GUEST_FS_LIMIT,                 0x4808, W32)                         \
    X(GUEST_GS_LIMIT,                 0x480A, W32)                         \
    X(GUEST_LDTR_LIMIT,               0x480C, W32)                         \
    X(GUEST_TR_LIMIT,                 0x480E, W32)                         \
    X(GUEST_GDTR_LIMIT,               0x4810, W32)                         \
    X(GUEST_IDTR_LIMIT,               0x4812, W32)                         \
    X(GUEST_ES_AR_BYTES,              0x4814, W32)                         \
    X(GUEST_CS_AR_BYTES,              0x4816, W32)                         \
    X(GUEST_SS_AR_BYTES,              0x4818, W32)                         \
    X(GUEST_DS_AR_BYTES,              0x481A, W32)                         \
    X(GUEST_FS_AR_BYTES,              0x481C, W32)                         \
    X(GUEST_GS_AR_BYTES,              0x481E, W32)                         \
    X(GUEST_LDTR_AR_BYTES,            0x4820, W32)                         \
    X(GUEST_TR_AR_BYTES,              0x4822, W32)                         \
    X(GUEST_INTERRUPTIBILITY_INFO,    0x4824, W32)                         \
    X(GUEST_ACTIVITY_STATE,           0x4826, W32)                         \
    X(GUEST_SMBASE,                   0x4828, W32)                         \
    X(GUEST_SYSENTER_CS,              0x482A, W32)                         \
    X(VMX_PREEMPTION_TIMER_VALUE,     0x482E, W32)                         \
    /* 32-bit host state */                                                \
    X(HOST_IA32_SYSENTER_CS,          0x4C00, W32)                         \
    /* natural-width control */                                            \
    X(CR0_GUEST_HOST_MASK,            0x6000, WNAT)                        \
    X(CR4_GUEST_HOST_MASK,            0x6002, WNAT)                        \
    X(CR0_READ_SHADOW,                0x6004, WNAT)                        \
    X(CR4_READ_SHADOW,                0x6006, WNAT)                        \
    X(CR3_TARGET_VALUE0,              0x6008, WNAT)                        \
    X(CR3_TARGET_VALUE1,              0x600A, WNAT)                        \
    X(CR3_TARGET_VALUE2,              0x600C, WNAT)                        \
    X(CR3_TARGET_VALUE3,              0x600E, WNAT)                        \
    /* natural-width read-only data */                                     \
    X(EXIT_QUALIFICATION,             0x6400, WNAT)                        \
    X(IO_RCX,                         0x6402, WNAT)                        \
    X(IO_RSI,                         0x6404, WNAT)                        \
    X(IO_RDI,                         0x6406, WNAT)                        \
    X(IO_RIP,                         0x6408, WNAT)                        \
    X(GUEST_LINEAR_ADDRESS,           0x640A, WNAT)                        \
    /* natural-width guest state */                                        \
    X(GUEST_CR0,                      0x6800, WNAT)                        \
    X(GUEST_CR3,                      0x6802, WNAT)                        \
    X(GUEST_CR4,                      0x6804, WNAT)                        \
    X(GUEST_ES_BASE,                  0x6806, WNAT)                        \
    X(GUEST_CS_BASE,                  0x6808, WNAT)                        \
    X(GUEST_SS_BASE,                  0x680A, WNAT)                        \
    X(GUEST_DS_BASE,                  0x680C, WNAT)                        \
    X(GUEST_FS_BASE,                  0x680E, WNAT)                        \
    X(GUEST_GS_BASE,                  0x6810, WNAT)                        \
    X(GUEST_LDTR_BASE,                0x6812, WNAT)                        \
    X(GUEST_TR_BASE,                  0x6814, WNAT)                        \
    X(GUEST_GDTR_BASE,                0x6816, WNAT)                        \
    X(GUEST_IDTR_BASE,                0x6818, WNAT)                        \
    X(GUEST_DR7,                      0x681A, WNAT)                        \
    X(GUEST_RSP,                      0x681C, WNAT)                        \
    X(GUEST_RIP,                      0x681E, WNAT)                        \
    X(GUEST_RFLAGS,                   0x6820, WNAT)                        \
    X(GUEST_PENDING_DBG_EXCEPTIONS,   0x6822, WNAT)                        \
    X(GUEST_SYSENTER_ESP,             0x6824, WNAT)                        \
    X(GUEST_SYSENTER_EIP,             0x6826, WNAT)                        \
    X(GUEST_S_CET,                    0x6828, WNAT)                        \
    X(GUEST_SSP,                      0x682A, WNAT)                        \
    X(GUEST_INTR_SSP_TABLE_ADDR,      0x682C, WNAT)                        \
    /* natural-width host state */                                         \
    X(HOST_CR0,                       0x6C00, WNAT)                        \
    X(HOST_CR3,                       0x6C02, WNAT)                        \
    X(HOST_CR4,                       0x6C04, WNAT)                        \
    X(HOST_FS_BASE,                   0x6C06, WNAT)                        \
    X(HOST_GS_BASE,                   0x6C08, WNAT)                        \
    X(HOST_TR_BASE,                   0x6C0A, WNAT)                        \
    X(HOST_GDTR_BASE,                 0x6C0C, WNAT)                        \
    X(HOST_IDTR_BASE,                 0x6C0E, WNAT)                        \
    X(HOST_IA32_SYSENTER_ESP,         0x6C10, WNAT)                        \
    X(HOST_IA32_SYSENTER_EIP,         0x6C12, WNAT)                        \
    X(HOST_RSP,                       0x6C14, WNAT)                        \
    X(HOST_RIP,                       0x6C16, WNAT)                        \
    X(HOST_S_CET,                     0x6C18, WNAT)                        \
    X(HOST_SSP,                       0x6C1A, WNAT)                        \
    X(HOST_INTR_SSP_TABLE_ADDR,       0x6C1C, WNAT)

/* HV_VMCS_<name> = SDM encoding */
enum hv_vmcs_field {
#define HV_X_(name, enc, w) HV_VMCS_##name = enc,
    HV_VMCS_FIELD_LIST(HV_X_)
#undef HV_X_
};

/* Dense slot index of every field, for tables (mock storage, dumps). */
enum hv_vmcs_slot {
#define HV_X_(name, enc, w) HV_VMCS_SLOT_##name,
    HV_VMCS_FIELD_LIST(HV_X_)
#undef HV_X_
    HV_VMCS_FIELD_COUNT
};

/* The guest-state fields of each segment register (SDM Vol. 3C, 25.4.1),
 * indexed by enum hv_seg. */
struct hv_vmcs_segment_fields {
    uint32_t selector, base, limit, access_rights; /* the four field encodings */
};
/* GUEST_<seg>_SELECTOR/_BASE/_LIMIT/_AR_BYTES encodings, indexed by enum hv_seg. */
extern const struct hv_vmcs_segment_fields hv_vmcs_guest_segment[HV_SEG_COUNT];

/* Slot of an encoding (the full-width encoding of 64-bit fields), or -1.
 * Context: any. */
int hv_vmcs_field_slot(uint32_t encoding);
/* Encoding of a slot, or 0xFFFFFFFF for an out-of-range slot. Context: any. */
uint32_t hv_vmcs_slot_encoding(int slot);
/* "GUEST_DR7" for 0x681A; "?" for an unknown encoding. Never NULL.
 * Context: any. */
const char *hv_vmcs_field_name(uint32_t encoding);

/*
 * The backend seam: implemented by arch/x86_64 (VMREAD/VMWRITE) or by the
 * mock (in-memory VMCS). `width` is the width the caller believes the field
 * has; the real backend ignores it, the mock fails the test on a mismatch.
 * Returns SUCCESS, VMX_FAIL_INVALID (no current VMCS) or
 * VM_INSTRUCTION_ERROR(12) (unsupported component) (VMREAD, SDM Vol. 3C,
 * 31.3). Context: ROOT-SAFE (VMX root, a VMCS current).
 */
hv_status_t hv_vmcs_backend_read(uint32_t field, enum hv_vmcs_width width, uint64_t *value);
/* VMWRITE through the backend: SUCCESS, VMX_FAIL_INVALID,
 * VM_INSTRUCTION_ERROR(12) (unsupported component) or (13) (read-only
 * component) (SDM Vol. 3C, 31.3). Context: ROOT-SAFE (VMX root, a VMCS
 * current). */
hv_status_t hv_vmcs_backend_write(uint32_t field, enum hv_vmcs_width width, uint64_t value);

/* Build-time width check: a constant field of the wrong width makes a
 * negative-size array. A non-constant field makes a VLA, which the build
 * rejects with -Werror=vla: use hv_vmcs_read()/hv_vmcs_write() for those. */
#define HV_VMCS_WIDTH_CHECK(field, w) \
    ((void)sizeof(char[1 - 2 * (HV_VMCS_FIELD_WIDTH(field) != (w))]))

/*
 * HV_VMCS_INLINE_VMX=1 (set by a build for real hardware only, e.g.
 * platform/linux/Kbuild): the fixed-field accessors below execute VMREAD/
 * VMWRITE in place instead of calling the backend, a call and its status
 * decoding less per access (issue 17: ~10 instructions each, 6 accesses
 * per CPUID exit). Same results: a failed VMREAD leaves its destination
 * alone (SDM Vol. 3C, 31.3, VMREAD: VMfail), so 0 is returned as the
 * backend does; a failed VMWRITE is executed again by the backend, which
 * fails the same way and decodes the status. Builds against the mock never
 * set it.
 */
#if defined(HV_VMCS_INLINE_VMX) && HV_VMCS_INLINE_VMX
static inline uint64_t hv_vmcs_raw_read_as_(uint32_t field, enum hv_vmcs_width w)
{
    uint64_t v = 0;

    (void)w;
    __asm__ volatile("vmread %[f], %[v]" : [v] "+r"(v) : [f] "r"((uint64_t)field) : "cc", "memory");
    return v;
}

static inline hv_status_t hv_vmcs_raw_write_as_(uint32_t field, enum hv_vmcs_width w, uint64_t value)
{
    bool fail;

    __asm__ volatile("vmwrite %[v], %[f]" : "=@ccbe"(fail) : [v] "r"(value), [f] "r"((uint64_t)field) : "memory");
    return fail ? hv_vmcs_backend_write(field, w, value) : HV_STATUS_SUCCESS;
}
#else
static inline uint64_t hv_vmcs_raw_read_as_(uint32_t field, enum hv_vmcs_width w)
{
    uint64_t v = 0;
    /* A failing VMREAD of a field the core set up is an invariant break:
     * the backend records it (the mock fails the test) and 0 is returned. */
    (void)hv_vmcs_backend_read(field, w, &v);
    return v;
}

static inline hv_status_t hv_vmcs_raw_write_as_(uint32_t field, enum hv_vmcs_width w, uint64_t value)
{
    return hv_vmcs_backend_write(field, w, value);
}
#endif

/* Exit recording (trace.h) sees every VMCS access of an exit through
 * these. Off, that is one load and one predictable branch each. */
extern uint32_t hv_trace_armed;
/* Note a VMREAD for the current core's recording (trace.c).
 * Context: ROOT-SAFE. */
void hv_trace_note_vmread(uint32_t field, uint64_t value, hv_status_t status);
/* Note a VMWRITE for the current core's recording (trace.c).
 * Context: ROOT-SAFE. */
void hv_trace_note_vmwrite(uint32_t field, uint64_t value, hv_status_t status);

static inline uint64_t hv_vmcs_read_as_(uint32_t field, enum hv_vmcs_width w)
{
    uint64_t v = hv_vmcs_raw_read_as_(field, w);

    if (__builtin_expect(__atomic_load_n(&hv_trace_armed, __ATOMIC_RELAXED) != 0, 0))
        hv_trace_note_vmread(field, v, HV_STATUS_SUCCESS);
    return v;
}

static inline hv_status_t hv_vmcs_write_as_(uint32_t field, enum hv_vmcs_width w, uint64_t value)
{
    hv_status_t st = hv_vmcs_raw_write_as_(field, w, value);

    if (__builtin_expect(__atomic_load_n(&hv_trace_armed, __ATOMIC_RELAXED) != 0, 0))
        hv_trace_note_vmwrite(field, value, st);
    return st;
}


/* Typed VMREAD of a constant field (width checked at build time); a
 * failing read yields 0 and is recorded by the backend. Context: ROOT-SAFE. */
#define hv_vmcs_read16(f)  (HV_VMCS_WIDTH_CHECK(f, HV_VMCS_W16),  (uint16_t)hv_vmcs_read_as_((f), HV_VMCS_W16))
#define hv_vmcs_read32(f)  (HV_VMCS_WIDTH_CHECK(f, HV_VMCS_W32),  (uint32_t)hv_vmcs_read_as_((f), HV_VMCS_W32))
#define hv_vmcs_read64(f)  (HV_VMCS_WIDTH_CHECK(f, HV_VMCS_W64),  hv_vmcs_read_as_((f), HV_VMCS_W64))
#define hv_vmcs_readnat(f) (HV_VMCS_WIDTH_CHECK(f, HV_VMCS_WNAT), hv_vmcs_read_as_((f), HV_VMCS_WNAT))

/* Typed VMWRITE of a constant field (width checked at build time);
 * statuses as hv_vmcs_backend_write. Context: ROOT-SAFE. */
#define hv_vmcs_write16(f, v)  (HV_VMCS_WIDTH_CHECK(f, HV_VMCS_W16),  hv_vmcs_write_as_((f), HV_VMCS_W16, (uint16_t)(v)))
#define hv_vmcs_write32(f, v)  (HV_VMCS_WIDTH_CHECK(f, HV_VMCS_W32),  hv_vmcs_write_as_((f), HV_VMCS_W32, (uint32_t)(v)))
#define hv_vmcs_write64(f, v)  (HV_VMCS_WIDTH_CHECK(f, HV_VMCS_W64),  hv_vmcs_write_as_((f), HV_VMCS_W64, (uint64_t)(v)))
#define hv_vmcs_writenat(f, v) (HV_VMCS_WIDTH_CHECK(f, HV_VMCS_WNAT), hv_vmcs_write_as_((f), HV_VMCS_WNAT, (uint64_t)(v)))

/* Run-time-width access for a field chosen at run time (dumps, tables):
 * VMREAD with the width from the encoding. Statuses as
 * hv_vmcs_backend_read. Context: ROOT-SAFE. */
static inline hv_status_t hv_vmcs_read(uint32_t field, uint64_t *value)
{
    hv_status_t st = hv_vmcs_backend_read(field, HV_VMCS_FIELD_WIDTH(field), value);

    if (__builtin_expect(__atomic_load_n(&hv_trace_armed, __ATOMIC_RELAXED) != 0, 0))
        hv_trace_note_vmread(field, *value, st);
    return st;
}
/* VMWRITE with the width from the encoding. Statuses as
 * hv_vmcs_backend_write. Context: ROOT-SAFE. */
static inline hv_status_t hv_vmcs_write(uint32_t field, uint64_t value)
{
    hv_status_t st = hv_vmcs_backend_write(field, HV_VMCS_FIELD_WIDTH(field), value);

    if (__builtin_expect(__atomic_load_n(&hv_trace_armed, __ATOMIC_RELAXED) != 0, 0))
        hv_trace_note_vmwrite(field, value, st);
    return st;
}

#ifdef __cplusplus
}
#endif
#endif /* HVCORE_VMCS_H */
