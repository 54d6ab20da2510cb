/* Must NOT compile unless HV_WIDTH_OK is defined: GUEST_DR7 is natural
 * width, and the 32-bit accessor is a build error for it. ctest runs the
 * compiler on this file both ways. */
#include <hvcore/vmcs.h>

uint64_t probe(void);
uint64_t probe(void)
{
#ifdef HV_WIDTH_OK
    return hv_vmcs_readnat(HV_VMCS_GUEST_DR7);
#else
    return hv_vmcs_read32(HV_VMCS_GUEST_DR7);
#endif
}
