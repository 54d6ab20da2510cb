/* SPDX-License-Identifier: MIT */
/*
 * Client-side validation of "custom code" buffers (user mode, libc).
 *
 * `!dr code {90 90 90}` and `condition {...}` attach raw x86-64 machine
 * code to an event. As in HyperDbg, the hex bytes a user writes are the
 * body of a function: hv_code_prepare() appends a ret (c3) to them, always
 * (also to a body that already ends in ret: the second one is never
 * reached and harmless), so what is armed is exactly "the bytes, then
 * ret". A body may therefore have at most HV_CODE_MAX_BODY (4095) bytes,
 * and its last instruction must be complete: `b8 01 00 00` + c3 would
 * decode as mov eax, 0xc3000001 and is refused. Branches may target any
 * instruction of the body or the appended ret.
 *
 * The hypervisor copies the bytes into a read-only +
 * executable mapping (behind an ENDBR64 it prepends) and calls them in VMX
 * root with the Microsoft x64 ABI:
 *
 *   custom code  RCX = the event's pre-allocated buffer (or 0), RDX = the
 *                guest's saved GPRs (struct hv_gprs *), R8 = context (NULL)
 *   condition    RCX = the guest's saved GPRs, RDX = context (NULL);
 *                fires when it returns non-zero in RAX
 *
 * Nothing checks the bytes once they are in VMX root, so the client decodes
 * the whole buffer (Zydis, 64-bit mode) before arming the event and refuses
 * it unless all of the following hold. The core re-checks only the size.
 *
 * Shape
 *   - 1 .. HV_CODE_MAX_BYTES bytes;
 *   - every byte decodes, as a linear sweep from byte 0, and no
 *     instruction runs past the end of the buffer;
 *   - the last instruction is a plain near `ret` (c3, or f3/f2 c3), so no
 *     path can fall through past the end; an earlier `ret` is fine.
 *
 * Control transfers (every target must be checkable and inside the code)
 *   - relative jmp / jcc / call / loop / jrcxz: the target must be the
 *     start of an instruction of the sweep, in [0, len). A target equal to
 *     len is outside (there is no code there); a target inside another
 *     instruction is refused too, because bytes reached that way were
 *     never checked;
 *   - refused outright: indirect jmp/call (register or memory), far
 *     jmp/call/ret, `ret imm16` (pops extra bytes: unbalanced stack), an
 *     operand-size (66) prefix on any branch or ret (16-bit on AMD,
 *     ignored on Intel), int / int3 / int1 / into / iret, syscall /
 *     sysenter / sysret / sysexit / rsm, user interrupts (uiret, senduipi,
 *     clui, stui), transactional memory (xbegin / xend / xabort / xtest,
 *     xsusldtrk: a hidden abort path, and xend faults outside a
 *     transaction).
 *
 * RIP-relative memory operands
 *   - may only read bytes of the buffer itself: a write would modify the
 *     (read-only, W^X) copy and fault, and a reference outside the buffer
 *     points at unrelated memory next to it.
 *
 * Instructions that would wreck VMX root (the code runs at CPL0, so
 * privileged instructions really execute instead of faulting)
 *   - every instruction Zydis marks privileged (CPL0-only): mov to/from
 *     CR/DR, rdmsr/wrmsr, lidt/ltr/lldt/lmsw/clts, invd/wbinvd, invlpg,
 *     invpcid, swapgs, xsetbv, xrstors, hlt, mwait, ... plus the ones
 *     Zydis 4.0 does not mark but the SDM makes CPL0-only: lgdt, enqcmds;
 *   - VMX and other virtualization/security extensions: vmxon, vmxoff,
 *     vmlaunch, vmresume, vmcall, vmptrld, vmclear, vmread, vmwrite,
 *     invept, invvpid, vmfunc; AMD SVM (vmrun, vmmcall, clgi, stgi, ...);
 *     SMX (getsec); SGX (enclu, encls, enclv);
 *   - cli, sti, popf (can set IF/TF/AC), hlt, monitor/mwait(x),
 *     umonitor/umwait/tpause: interrupts or a sleeping core in VMX root;
 *   - in/out/ins/outs: device ports behind the guest OS's back;
 *   - ud0/ud1/ud2: #UD by design, a host crash in VMX root;
 *   - writes of segment registers (mov sreg, pop sreg, lss/lfs/lgs) and of
 *     the FS/GS bases (wrfsbase/wrgsbase): GS is the host's per-CPU base;
 *   - CET shadow-stack management (incssp, rstorssp, saveprevssp, wrss,
 *     ...): the host's shadow stack; endbr32/64 and rdssp are allowed;
 *   - state the exit path does not save (the guest's FPU/SIMD state is
 *     live in VMX root; the entry stub saves only XMM0-15): any write of
 *     x87/MMX/YMM/ZMM/opmask/AMX-tile/MPX-bound registers, MXCSR, PKRU,
 *     XCR0 or UIF; VEX/EVEX/XOP writes of XMM (they zero the upper YMM/ZMM
 *     bits); vzeroupper/vzeroall, fxrstor/xrstor, frstor/fninit/emms.
 *     Legacy-SSE writes of XMM0-15 are allowed (they are saved).
 *
 * Not checked (undecidable or not cheap): termination (`eb fe` is a loop
 * inside the buffer), stack balance of push/pop/sub rsp, the direction
 * flag on return (the ABI requires it clear), memory accessed through
 * registers, and faults such as a bad pointer: the code must be correct.
 */
#ifndef HVCORE_CLIENT_CODE_CHECK_H
#define HVCORE_CLIENT_CODE_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include "../status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest custom-code or condition buffer; the core enforces it again. */
#define HV_CODE_MAX_BYTES 4096u
/* Largest body for hv_code_prepare(): the appended ret must fit too. */
#define HV_CODE_MAX_BODY (HV_CODE_MAX_BYTES - 1u)

enum hv_code_kind {
    HV_CODE_ACTION,     /* custom code run as an event action */
    HV_CODE_CONDITION,  /* condition code: non-zero RAX fires the event */
};

struct hv_code_report {
    uint32_t status;        /* hv_status_t: HV_STATUS_SUCCESS or HV_STATUS_INVALID_PARAMETER */
    uint32_t offset;        /* byte offset of the offending instruction (0 for a bad buffer) */
    uint32_t instructions;  /* decoded up to and including the offending one; all on success */
    char message[160];      /* e.g. "byte 5: jmp to 0x40 leaves the 8-byte buffer" */
};

/*
 * Validate `len` bytes of `code` as `kind` (see the rules above). Returns
 * HV_STATUS_SUCCESS or HV_STATUS_INVALID_PARAMETER and fills `report`
 * (always NUL-terminated). `report` == NULL returns INVALID_PARAMETER and
 * writes nothing. Thread-safe; no allocation.
 */
hv_status_t hv_code_check(const uint8_t *code, size_t len, enum hv_code_kind kind,
                          struct hv_code_report *report);

/*
 * HyperDbg's convention: build the buffer to arm from a body the user
 * wrote. Copies body[0 .. len) to out (out == body is fine, other overlaps
 * too), appends c3, sets *out_len = len + 1 and validates the result as
 * hv_code_check() does (the rules above; branch targets may be the
 * appended ret). Refused besides: an empty body, a body longer than
 * HV_CODE_MAX_BODY ("at most 4095 bytes, as the ret appended to it must
 * fit in the 4096-byte limit"), out_size < len + 1, and a body whose last
 * instruction is incomplete so that the appended c3 would become part of
 * it (report offset = that instruction). On a refusal after the copy, out
 * and *out_len still hold the built buffer (to disassemble it). Messages
 * name the buffer "the 4-byte code (3 bytes + the appended ret)".
 */
hv_status_t hv_code_prepare(const uint8_t *body, size_t len, enum hv_code_kind kind, uint8_t *out, size_t out_size,
                            size_t *out_len, struct hv_code_report *report);

/*
 * Disassemble into `out`, one line per instruction, Intel syntax, branch
 * targets as buffer offsets:
 *
 *   0000  48 c7 01 34 12 00 00 mov qword ptr [rcx], 0x1234
 *   0007  c3                 ret
 *
 * Bytes that do not decode print as "(bad)" (one byte each), an
 * instruction cut by the end of the buffer as "(truncated)". Returns the
 * length of the whole text (like snprintf); `out` receives at most
 * out_size - 1 characters plus a NUL. out may be NULL when out_size is 0.
 */
size_t hv_code_disassemble(const uint8_t *code, size_t len, char *out, size_t out_size);

/* The same for a buffer built by hv_code_prepare() from body_len bytes:
 * the instructions from byte body_len on are marked "(appended)":
 *
 *   0002  90                 nop
 *   0003  c3                 ret                      (appended)
 */
size_t hv_code_disassemble_prepared(const uint8_t *code, size_t len, size_t body_len, char *out, size_t out_size);

/* The first instruction of `code` (bytes read at guest address `address`,
 * e.g. RIP in a debugger's stop report) in a `bits` (64, 32 or 16) code
 * segment, as "0f 23 f8              mov dr7, rax" (branch targets and
 * RIP-relative operands absolute). Returns its length; 0 when the bytes do
 * not decode ("(bad)") or stop short of an instruction ("(truncated)").
 * out always ends with a NUL (out_size > 0). */
size_t hv_code_disassemble_one(const uint8_t *code, size_t len, uint64_t address, unsigned bits, char *out,
                               size_t out_size);

#ifdef __cplusplus
}
#endif

#endif
