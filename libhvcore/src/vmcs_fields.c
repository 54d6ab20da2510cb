/* SPDX-License-Identifier: MIT */
/*
 * Tables generated from HV_VMCS_FIELD_LIST: encoding <-> dense slot and the
 * field names used by state dumps. The width column of the list is checked
 * against the encoding's bits 14:13 at build time, so a typo in either
 * cannot survive compilation.
 */
#include <hvcore/vmcs.h>

#include <stddef.h>

#define HV_X_(name, enc, w)                                                    \
    _Static_assert((((enc) >> 13) & 3) == HV_VMCS_##w,                         \
                   "VMCS field " #name ": width column disagrees with encoding"); \
    _Static_assert(((enc) & 1) == 0, "VMCS field " #name ": list full encodings only");
HV_VMCS_FIELD_LIST(HV_X_)
#undef HV_X_

static const uint32_t slot_encoding[HV_VMCS_FIELD_COUNT] = {
#define HV_X_(name, enc, w) [HV_VMCS_SLOT_##name] = (enc),
    HV_VMCS_FIELD_LIST(HV_X_)
#undef HV_X_
};

static const char *const slot_name[HV_VMCS_FIELD_COUNT] = {
#define HV_X_(name, enc, w) [HV_VMCS_SLOT_##name] = #name,
    HV_VMCS_FIELD_LIST(HV_X_)
#undef HV_X_
};

int hv_vmcs_field_slot(uint32_t encoding)
{
    /* A switch lets the compiler build a dense jump table or a binary
     * search; the list has ~170 entries. */
    switch (encoding) {
#define HV_X_(name, enc, w) case (enc): return HV_VMCS_SLOT_##name;
        HV_VMCS_FIELD_LIST(HV_X_)
#undef HV_X_
    default:
        return -1;
    }
}

uint32_t hv_vmcs_slot_encoding(int slot)
{
    if (slot < 0 || slot >= (int)HV_VMCS_FIELD_COUNT)
        return 0xFFFFFFFFu;
    return slot_encoding[slot];
}

const char *hv_vmcs_field_name(uint32_t encoding)
{
    int slot = hv_vmcs_field_slot(encoding);

    return slot < 0 ? "?" : slot_name[slot];
}
