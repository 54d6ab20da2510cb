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

/* Dense key of an encoding: width+type+reserved bit 12 (bits 14:10) and
 * the low 6 bits of the index (bits 6:1). Every listed field has an index
 * below 64 (checked here), so keys never collide. */
#define KEY(enc) (((((uint32_t)(enc)) >> 10) & 0x1Fu) << 6 | ((((uint32_t)(enc)) >> 1) & 0x3Fu))
#define HV_X_(name, enc, w) \
    _Static_assert((((enc) >> 7) & 7) == 0, "VMCS field " #name ": index too large for the slot table");
HV_VMCS_FIELD_LIST(HV_X_)
#undef HV_X_

_Static_assert(HV_VMCS_FIELD_COUNT < 255, "slot numbers fit a byte");
static const uint8_t slot_plus_1[32 * 64] = {
#define HV_X_(name, enc, w) [KEY(enc)] = HV_VMCS_SLOT_##name + 1,
    HV_VMCS_FIELD_LIST(HV_X_)
#undef HV_X_
};

int hv_vmcs_field_slot(uint32_t encoding)
{
    /* Bit 0 ("high" access), bits 31:15 and index bits 9:7 are never set
     * in a listed encoding; anything else is one table load. */
    if (encoding & 0xFFFF8381u)
        return -1;
    return (int)slot_plus_1[KEY(encoding)] - 1;
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

#define SEG_FIELDS(seg) { HV_VMCS_GUEST_##seg##_SELECTOR, HV_VMCS_GUEST_##seg##_BASE, \
                          HV_VMCS_GUEST_##seg##_LIMIT, HV_VMCS_GUEST_##seg##_AR_BYTES }
const struct hv_vmcs_segment_fields hv_vmcs_guest_segment[HV_SEG_COUNT] = {
    [HV_SEG_ES] = SEG_FIELDS(ES),   [HV_SEG_CS] = SEG_FIELDS(CS),
    [HV_SEG_SS] = SEG_FIELDS(SS),   [HV_SEG_DS] = SEG_FIELDS(DS),
    [HV_SEG_FS] = SEG_FIELDS(FS),   [HV_SEG_GS] = SEG_FIELDS(GS),
    [HV_SEG_LDTR] = SEG_FIELDS(LDTR), [HV_SEG_TR] = SEG_FIELDS(TR),
};
