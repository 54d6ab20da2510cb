/*
 * A small Windows client of \\.\hvcore for the Wine test (test/windows/
 * wine_driver.sh), built with mingw-w64. Each command prints what the
 * driver answered, one line per fact:
 *   status              QUERY: ABI version, CPU count, each CPU's state
 *   rdmsr MSR [CORE]    MSR read (CORE omitted: all cores, 0xFFFFFFFF)
 *   wrmsr MSR VAL [CORE]
 *   malformed           a request whose header lies about its size
 *   read                ReadFile for records (overlapped, 1 s at most)
 *   dacl                the device's DACL as SDDL
 *   unknown-ioctl       a control code the driver does not know
 * Exit status 0 when every device call returned (whatever the statuses),
 * 1 when the device could not be opened, 2 on bad usage.
 */
#include <windows.h>
#include <sddl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hvcore/abi.h>
#include <hvcore/msg.h>
#include <hvcore/status.h>
#include "hvcore_ioctl.h"

static HANDLE dev;

static void hdr_init(struct hv_abi_header *h, uint32_t size)
{
    memset(h, 0, sizeof(*h));
    h->size = size;
    h->version = HV_ABI_VERSION;
}

/* One request in place; prints the Win32 result. */
static BOOL call(DWORD code, void *buf, DWORD size, const char *what)
{
    DWORD got = 0;
    BOOL ok = DeviceIoControl(dev, code, buf, size, buf, size, &got, NULL);

    if (!ok)
        printf("%s: DeviceIoControl failed, error %lu\n", what, GetLastError());
    return ok;
}

static int cmd_status(void)
{
    size_t size = sizeof(struct hv_abi_query) + 64 * sizeof(struct hv_abi_cpu_state);
    struct hv_abi_query *q = calloc(1, size);
    uint32_t i;

    hdr_init(&q->hdr, (uint32_t)size);
    q->cpu_capacity = 64;
    if (call(HVCORE_WIN_IOCTL_QUERY, q, (DWORD)size, "status")) {
        printf("status: header 0x%08x (%s), abi %u, cpus %u, allocations %llu, signature \"%.12s\"\n",
               q->hdr.status, hv_status_name(q->hdr.status), q->abi_version, q->cpu_count,
               (unsigned long long)q->allocations, q->signature);
        for (i = 0; i < q->cpus_written; i++)
            printf("status: cpu %u virtualized %u status 0x%08x (%s)\n", i, q->cpus[i].virtualized,
                   q->cpus[i].status, hv_status_name(q->cpus[i].status));
    }
    free(q);
    return 0;
}

static int cmd_msr(int write, uint32_t msr, uint64_t value, uint32_t core)
{
    size_t size = sizeof(struct hv_abi_msr) + 64 * sizeof(struct hv_abi_msr_result);
    struct hv_abi_msr *m = calloc(1, size);
    uint32_t i;

    hdr_init(&m->hdr, (uint32_t)size);
    m->op.msr = msr;
    m->op.core_number = core;
    m->op.action = write ? HV_ABI_MSR_WRITE : HV_ABI_MSR_READ;
    m->op.value = value;
    m->result_capacity = 64;
    if (call(HVCORE_WIN_IOCTL_MSR, m, (DWORD)size, write ? "wrmsr" : "rdmsr")) {
        printf("%s 0x%x: header 0x%08x (%s), %u results\n", write ? "wrmsr" : "rdmsr", msr, m->hdr.status,
               hv_status_name(m->hdr.status), m->results_written);
        for (i = 0; i < m->results_written; i++)
            printf("%s: core %u status 0x%08x value 0x%llx\n", write ? "wrmsr" : "rdmsr", m->results[i].core,
                   m->results[i].status, (unsigned long long)m->results[i].value);
    }
    free(m);
    return 0;
}

static int cmd_malformed(void)
{
    struct hv_abi_query q;

    hdr_init(&q.hdr, 4096); /* claims more than the buffer */
    if (call(HVCORE_WIN_IOCTL_QUERY, &q, sizeof(q), "malformed"))
        printf("malformed: accepted (wrong)\n");
    return 0;
}

static int cmd_unknown(void)
{
    struct hv_abi_header h;

    hdr_init(&h, sizeof(h));
    if (call(HVCORE_WIN_CTL(0x7F), &h, sizeof(h), "unknown-ioctl"))
        printf("unknown-ioctl: accepted (wrong)\n");
    return 0;
}

static int cmd_read(void)
{
    HANDLE h = CreateFileA("\\\\.\\hvcore", GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
    static struct hv_msg_record recs[4];
    OVERLAPPED ov;
    DWORD got = 0;

    if (h == INVALID_HANDLE_VALUE) {
        printf("read: cannot open overlapped, error %lu\n", GetLastError());
        return 0;
    }
    memset(&ov, 0, sizeof(ov));
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    if (ReadFile(h, recs, sizeof(recs), &got, &ov)) {
        printf("read: %lu bytes at once\n", got);
    } else if (GetLastError() != ERROR_IO_PENDING) {
        DWORD e = GetLastError();

        printf("read: failed, error %lu%s\n", e, e == ERROR_BAD_COMMAND ? " (STATUS_INVALID_DEVICE_STATE)" : "");
    } else if (WaitForSingleObject(ov.hEvent, 1000) == WAIT_OBJECT_0 && GetOverlappedResult(h, &ov, &got, FALSE)) {
        printf("read: %lu bytes after waiting\n", got);
    } else {
        CancelIo(h);
        printf("read: pending (no records); cancelled: %s\n",
               !GetOverlappedResult(h, &ov, &got, TRUE) && GetLastError() == ERROR_OPERATION_ABORTED ? "yes" : "no");
    }
    CloseHandle(ov.hEvent);
    CloseHandle(h);
    return 0;
}

static int cmd_dacl(void)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    DWORD need = 0;
    LPSTR sddl = NULL;

    GetKernelObjectSecurity(dev, DACL_SECURITY_INFORMATION, NULL, 0, &need);
    if (need == 0) {
        printf("dacl: cannot query, error %lu\n", GetLastError());
        return 0;
    }
    sd = malloc(need);
    if (!GetKernelObjectSecurity(dev, DACL_SECURITY_INFORMATION, sd, need, &need) ||
        !ConvertSecurityDescriptorToStringSecurityDescriptorA(sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION,
                                                              &sddl, NULL))
        printf("dacl: cannot query, error %lu\n", GetLastError());
    else
        printf("dacl: \"%s\"%s\n", sddl, sddl[0] ? "" : " (none visible from user mode)");
    LocalFree(sddl);
    free(sd);
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t core = HV_ABI_ALL_CORES;
    int rc = 2;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        goto usage;
    dev = CreateFileA("\\\\.\\hvcore", GENERIC_READ | GENERIC_WRITE | READ_CONTROL, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (dev == INVALID_HANDLE_VALUE) {
        printf("open \\\\.\\hvcore: error %lu\n", GetLastError());
        return 1;
    }
    if (!strcmp(argv[1], "status")) {
        rc = cmd_status();
    } else if (!strcmp(argv[1], "rdmsr") && argc >= 3) {
        if (argc >= 4)
            core = (uint32_t)strtoul(argv[3], NULL, 0);
        rc = cmd_msr(0, (uint32_t)strtoul(argv[2], NULL, 0), 0, core);
    } else if (!strcmp(argv[1], "wrmsr") && argc >= 4) {
        if (argc >= 5)
            core = (uint32_t)strtoul(argv[4], NULL, 0);
        rc = cmd_msr(1, (uint32_t)strtoul(argv[2], NULL, 0), strtoull(argv[3], NULL, 0), core);
    } else if (!strcmp(argv[1], "malformed")) {
        rc = cmd_malformed();
    } else if (!strcmp(argv[1], "unknown-ioctl")) {
        rc = cmd_unknown();
    } else if (!strcmp(argv[1], "read")) {
        rc = cmd_read();
    } else if (!strcmp(argv[1], "dacl")) {
        rc = cmd_dacl();
    } else {
        CloseHandle(dev);
        goto usage;
    }
    CloseHandle(dev);
    return rc;
usage:
    fprintf(stderr, "usage: hvwin_client status|rdmsr MSR [CORE]|wrmsr MSR VAL [CORE]|malformed|read|dacl|unknown-ioctl\n");
    return 2;
}
