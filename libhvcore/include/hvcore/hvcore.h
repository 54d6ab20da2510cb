/* SPDX-License-Identifier: MIT */
/* libhvcore umbrella header: includes every public header of the core. */
#ifndef HVCORE_HVCORE_H
#define HVCORE_HVCORE_H

#include "status.h"
#include "os.h"
#include "vmx.h"
#include "vmcs.h"
#include "vmcs_diagnose.h"
#include "arch.h"
#include "hv.h"
#include "exit.h"
#include "msr.h"
#include "vmcall.h"
#include "msg.h"
#include "event.h"
#include "guest_mem.h"

/* Version of the library these headers belong to (also the CMake package
 * version and the Debian packages' upstream version). */
#define HVCORE_VERSION_MAJOR 0
#define HVCORE_VERSION_MINOR 1
#define HVCORE_VERSION_PATCH 0

#endif
