/* Kernel-build shim (see stdint.h): bool/true/false come from <linux/types.h>. */
#ifndef HVCORE_LINUX_SHIM_STDBOOL_H
#define HVCORE_LINUX_SHIM_STDBOOL_H
#include <linux/types.h>
#endif
