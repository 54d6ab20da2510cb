/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * /dev/hvcore ioctls. Each takes a pointer to a request that starts with
 * struct hv_abi_header (hvcore/abi.h); the driver reads the header first,
 * checks size and version, then copies exactly `size` bytes. The ioctl
 * number encodes only the header size, so requests can grow compatibly.
 */
#ifndef HVCORE_UAPI_IOCTL_H
#define HVCORE_UAPI_IOCTL_H

#ifdef __KERNEL__
#include <linux/ioctl.h>
#else
#include <sys/ioctl.h>
#endif
#include <hvcore/abi.h>

#define HVCORE_IOCTL_MAGIC 'h'
/* struct hv_abi_query */
#define HVCORE_IOCTL_QUERY _IOWR(HVCORE_IOCTL_MAGIC, 0x01, struct hv_abi_header)
/* struct hv_abi_msr: rdmsr/wrmsr, one result (value + status) per core */
#define HVCORE_IOCTL_MSR _IOWR(HVCORE_IOCTL_MAGIC, 0x02, struct hv_abi_header)
/* struct hv_abi_msr_values: the same, values only */
#define HVCORE_IOCTL_MSR_VALUES _IOWR(HVCORE_IOCTL_MAGIC, 0x03, struct hv_abi_header)
/* struct hv_abi_event_add, _action, _ctl, _list */
#define HVCORE_IOCTL_EVENT_ADD _IOWR(HVCORE_IOCTL_MAGIC, 0x10, struct hv_abi_header)
#define HVCORE_IOCTL_EVENT_ACTION _IOWR(HVCORE_IOCTL_MAGIC, 0x11, struct hv_abi_header)
#define HVCORE_IOCTL_EVENT_CTL _IOWR(HVCORE_IOCTL_MAGIC, 0x12, struct hv_abi_header)
#define HVCORE_IOCTL_EVENT_LIST _IOWR(HVCORE_IOCTL_MAGIC, 0x13, struct hv_abi_header)
/* struct hv_abi_event_rings: the message rings' counters (records produced,
 * dropped, read); needs no event lock */
#define HVCORE_IOCTL_EVENT_RINGS _IOWR(HVCORE_IOCTL_MAGIC, 0x14, struct hv_abi_header)
/* struct hv_abi_script_eval: run a script once on a core (`?`). */
#define HVCORE_IOCTL_SCRIPT_EVAL _IOWR(HVCORE_IOCTL_MAGIC, 0x15, struct hv_abi_header)
/* struct hv_abi_trace: exit recording (`hvctl record`). */
#define HVCORE_IOCTL_TRACE _IOWR(HVCORE_IOCTL_MAGIC, 0x16, struct hv_abi_header)

#endif
