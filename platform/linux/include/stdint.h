/* Kernel-build shim: the freestanding core includes <stdint.h>; in the
 * kernel the same types come from <linux/types.h>. */
#ifndef HVCORE_LINUX_SHIM_STDINT_H
#define HVCORE_LINUX_SHIM_STDINT_H
#include <linux/types.h>
#include <linux/limits.h>
#ifndef UINT16_MAX
#define UINT16_MAX U16_MAX
#endif
#ifndef UINT32_MAX
#define UINT32_MAX U32_MAX
#endif
#ifndef UINT64_MAX
#define UINT64_MAX U64_MAX
#endif
#endif
