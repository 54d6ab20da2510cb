/* Kernel-build shim (see stdint.h). */
#ifndef HVCORE_LINUX_SHIM_STDDEF_H
#define HVCORE_LINUX_SHIM_STDDEF_H
#include <linux/stddef.h>
#include <linux/types.h>
#endif
