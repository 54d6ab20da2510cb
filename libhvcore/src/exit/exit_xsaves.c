/* SPDX-License-Identifier: MIT */
/*
 * XSAVES/XRSTORS exits (basic reasons 63 and 64). With "enable
 * XSAVES/XRSTORS" on they exit only for the bits set in EDX:EAX &
 * IA32_XSS & the XSS-exiting bitmap (SDM Vol. 3C, 26.1.3), and the core
 * writes that bitmap as 0 (vmcs_setup.c), so only an SDK user's code that
 * set bits there can make one arrive here: with no handler for the
 * reason, or from one that chains to this default.
 *
 * The instruction cannot be emulated in VMX root: it saves or restores the
 * processor's extended state, which in root holds root's registers, not
 * the guest's. So the default gives the bitmap back its 0 and resumes at
 * the same RIP: the instruction runs again natively, with exactly the
 * architectural effect it would have had, and nothing is injected. The log
 * says the user's bitmap was dropped. An exit the bitmap does not explain
 * would repeat forever if re-run, so that one is fatal.
 */
#include <hvcore/exit.h>
#include <hvcore/vmcs.h>
#include <hvcore/vmx.h>

#include "exit/exit_handlers.h"
#include "lib.h"

enum hv_exit_action hv_exit_xsaves(struct hv_exit *e)
{
    uint64_t bitmap = 0;
    char buf[160];
    struct hv_sb sb;

    /* Without the control both instructions #UD and never exit. */
    if (!(e->vcpu->ctls.proc2 & HV_PROC2_ENABLE_XSAVES))
        return hv_exit_unexpected(e);
    if (!hv_success(hv_vmcs_read(HV_VMCS_XSS_EXIT_BITMAP, &bitmap)) || bitmap == 0)
        return hv_exit_unexpected(e);
    if (!hv_success(hv_vmcs_write64(HV_VMCS_XSS_EXIT_BITMAP, 0)))
        return hv_exit_unexpected(e);

    hv_sb_init(&sb, buf, sizeof(buf));
    hv_sb_str(&sb, "cpu ");
    hv_sb_dec(&sb, e->vcpu->index);
    hv_sb_str(&sb, e->basic == HV_EXIT_XRSTORS ? ": XRSTORS" : ": XSAVES");
    hv_sb_str(&sb, " exit with XSS-exiting bitmap ");
    hv_sb_hex(&sb, bitmap);
    hv_sb_str(&sb, " and no handler: bitmap reset to 0, instruction re-run natively");
    hv_lib_log(e->vcpu->hv->os, HV_LOG_WARN, buf);
    return HV_ACTION_RESUME;
}
