/* SPDX-License-Identifier: MIT */
/*
 * \\.\hvcore device controls. Each takes a request that starts with
 * struct hv_abi_header (hvcore/abi.h) as both input and output buffer
 * (METHOD_BUFFERED): the driver checks the header's size and version, runs
 * it through hv_abi_execute() (the one validation path every transport
 * shares) and returns it in place; the request's own status is in the
 * header. The function numbers are the hv_abi_request numbers plus 0x800.
 * Plain numbers, so user code needs no DDK header:
 * CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800 + req, METHOD_BUFFERED,
 *          FILE_READ_DATA | FILE_WRITE_DATA).
 *
 * ReadFile on the device returns whole struct hv_msg_record (hvcore/msg.h);
 * a read with none ready stays pending until records arrive (overlapped
 * I/O, or a thread per reader), and CancelIo/CloseHandle ends it.
 */
#ifndef HVCORE_WINDOWS_IOCTL_H
#define HVCORE_WINDOWS_IOCTL_H

#define HVCORE_WIN_CTL(req) ((0x22u << 16) | (3u << 14) | ((0x800u + (req)) << 2) | 0u)
#define HVCORE_WIN_IOCTL_MSR          HVCORE_WIN_CTL(0x02)
#define HVCORE_WIN_IOCTL_MSR_VALUES   HVCORE_WIN_CTL(0x03)
#define HVCORE_WIN_IOCTL_QUERY        HVCORE_WIN_CTL(0x04)
#define HVCORE_WIN_IOCTL_EVENT_ADD    HVCORE_WIN_CTL(0x10)
#define HVCORE_WIN_IOCTL_EVENT_ACTION HVCORE_WIN_CTL(0x11)
#define HVCORE_WIN_IOCTL_EVENT_CTL    HVCORE_WIN_CTL(0x12)
#define HVCORE_WIN_IOCTL_EVENT_LIST   HVCORE_WIN_CTL(0x13)
#define HVCORE_WIN_IOCTL_EVENT_RINGS  HVCORE_WIN_CTL(0x14)
#define HVCORE_WIN_IOCTL_SCRIPT_EVAL  HVCORE_WIN_CTL(0x15)
#define HVCORE_WIN_IOCTL_TRACE        HVCORE_WIN_CTL(0x16)
/* The request kind of a control code, or 0 if it is none of ours. */
#define HVCORE_WIN_IOCTL_REQUEST(code) \
    ((((code) >> 16) == 0x22u && ((code) & 0xC003u) == 0xC000u && (((code) >> 2) & 0xFFFu) >= 0x800u) \
         ? ((((code) >> 2) & 0xFFFu) - 0x800u) : 0u)

#endif
