// SPDX-License-Identifier: MIT
/*
 * The end-to-end test application (BOOTX64.EFI of the test disk): loads
 * hvcore.efi, checks it from every processor, unloads it, cycles, and prints
 * "HVTEST ..." lines on the console (the serial log) that
 * test/e2e/uefi/run.sh judges; ends with "HVTEST-END rc=N" and powers off.
 * Its mode comes from \hvtest.cfg on the same disk:
 *   vtx [cycles=N]      VT-x machine (Bochs): the full check
 *   novtx               no VT-x (QEMU/TCG): hvcore must refuse, firmware fine
 *   linux OPTIONS...    start hvcore.efi with OPTIONS (a next stage: the
 *                       kernel's EFI stub) and never come back
 * Run from the UEFI Shell with an argument instead (\startup.nsh of the
 * shell run: `load hvcore.efi`, `dh -p LoadedImage >a dh.txt`, ...):
 *   hvtest.efi shell-loaded    every CPU virtualized; finds hvcore.efi's
 *                              handle in \dh.txt and writes \unl.nsh
 *                              ("unload -n HANDLE"); returns to the shell
 *   hvtest.efi shell-unloaded  every CPU devirtualized; HVTEST-END, power off
 */
#include <efi.h>
#include <efilib.h>
#include <stdbool.h>

#include <hvcore/vmcall.h>

#include "hvcore_efi.h"
#include "uefi_mp.h"

#define MAX_CPUS 64
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
/* An x2APIC MSR index no register has (0x801), and the APIC is in xAPIC mode
 * (as OVMF leaves it) where every x2APIC MSR is absent: a #GP
 * on hardware and in Bochs alike (Bochs ignores unknown MSRs by default). */
#define BAD_MSR 0x801u
#define STATUS_GP 0xC001000Du
#define EXIT_CPUID 10u

static EFI_GUID mp_guid = HVU_MP_SERVICES_GUID;
static EFI_GUID hv_guid = HVCORE_PROTOCOL_GUID;
static HVU_MP_SERVICES *mp;
static UINTN ncpu = 1, bsp;
static int failures;
static EFI_LOADED_IMAGE *self_li;
static EFI_HANDLE self;

/* ---- output ------------------------------------------------------------------ */

#define OK(...)   do { Print(L"HVTEST ok: "); Print(__VA_ARGS__); Print(L"\r\n"); } while (0)
#define FAIL(...) do { failures++; Print(L"HVTEST FAIL: "); Print(__VA_ARGS__); Print(L"\r\n"); } while (0)
#define CHECK(c, ...) do { if (c) OK(__VA_ARGS__); else FAIL(__VA_ARGS__); } while (0)

/* ---- per-CPU work through MP Services --------------------------------------------- */

struct slot {
    UINTN cpu;
    UINT64 a, b, c, d;
    UINT64 in1, in2, in3;
};
static struct slot slots[MAX_CPUS];

static void run_everywhere(HVU_AP_PROCEDURE proc)
{
    UINTN i;
    EFI_STATUS st;

    for (i = 0; i < ncpu; i++) {
        slots[i].cpu = i;
        if (i == bsp) {
            proc(&slots[i]);
            continue;
        }
        st = mp->StartupThisAP(mp, proc, i, NULL, 0, &slots[i], NULL);
        if (EFI_ERROR(st))
            FAIL(L"MP Services StartupThisAP(cpu %d): %r", i, st);
    }
}

static void cpuid(UINT32 leaf, UINT32 *a, UINT32 *b, UINT32 *c, UINT32 *d)
{
    UINT32 ra = leaf, rb, rc = 0, rd;

    __asm__ volatile("cpuid" : "+a"(ra), "=b"(rb), "+c"(rc), "=d"(rd));
    *a = ra; *b = rb; *c = rc; *d = rd;
}

static UINT64 vmcall(UINT64 nr, UINT64 a1, UINT64 a2, UINT64 *rdx_out)
{
    UINT64 rax = nr, rcx = HV_VMCALL_KEY, rdx = a1;
    register UINT64 r8 __asm__("r8") = a2; /* "+r" alone could be any register */

    __asm__ volatile("vmcall" : "+a"(rax), "+c"(rcx), "+d"(rdx), "+r"(r8) : : "memory");
    if (rdx_out != NULL)
        *rdx_out = rdx;
    return rax;
}

static UINT64 rdmsr(UINT32 msr)
{
    UINT32 lo, hi;

    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((UINT64)hi << 32) | lo;
}

static VOID EFIAPI p_signature(VOID *p)
{
    struct slot *s = p;
    UINT32 a, b, c, d;

    cpuid(0x40000000u, &a, &b, &c, &d);
    s->a = a;
    s->b = b;
    s->c = c;
    s->d = d;
}

static VOID EFIAPI p_cpuid_exits(VOID *p)
{
    struct slot *s = p;
    UINT32 a, b, c, d, i;

    s->c = vmcall(HV_VMCALL_QUERY, HV_QUERY_CPU_VIRTUALIZED, s->cpu, &s->d);
    vmcall(HV_VMCALL_QUERY, HV_QUERY_EXIT_COUNT, EXIT_CPUID, &s->a);
    for (i = 0; i < 50; i++)
        cpuid(0, &a, &b, &c, &d);
    vmcall(HV_VMCALL_QUERY, HV_QUERY_EXIT_COUNT, EXIT_CPUID, &s->b);
}

static VOID EFIAPI p_rdmsr(VOID *p)
{
    struct slot *s = p;

    s->a = rdmsr((UINT32)s->in1);
}

static VOID EFIAPI p_vmcall_msr_write(VOID *p)
{
    struct slot *s = p;

    s->a = vmcall(HV_VMCALL_MSR_WRITE, s->in1, s->in2, NULL);
}

static VOID EFIAPI p_vmcall_msr_read(VOID *p)
{
    struct slot *s = p;

    s->a = vmcall(HV_VMCALL_MSR_READ, s->in1, 0, &s->b);
}

static VOID EFIAPI p_nothing(VOID *p)
{
    ((struct slot *)p)->a = 1;
}

static bool is_signature(const struct slot *s)
{
    return s->b == 0x6862696c && s->c == 0x726f6376 && s->d == 0x65; /* "libh" "vcor" "e" */
}

/* ---- page accounting: AllocatePages/FreePages as hvcore.efi calls them ------- */

#define MAX_ALLOCS 1024
static struct { EFI_PHYSICAL_ADDRESS pa; UINTN pages; } allocs[MAX_ALLOCS];
static INT64 rt_pages_outstanding;
static UINT64 rt_alloc_calls;
static EFI_ALLOCATE_PAGES real_alloc;
static EFI_FREE_PAGES real_free;

static EFI_STATUS EFIAPI count_alloc(EFI_ALLOCATE_TYPE t, EFI_MEMORY_TYPE mt, UINTN pages, EFI_PHYSICAL_ADDRESS *pa)
{
    EFI_STATUS st = real_alloc(t, mt, pages, pa);
    UINTN i;

    if (!EFI_ERROR(st) && (mt == EfiRuntimeServicesData || mt == EfiRuntimeServicesCode)) {
        rt_alloc_calls++;
        for (i = 0; i < MAX_ALLOCS; i++) {
            if (allocs[i].pages == 0) {
                allocs[i].pa = *pa;
                allocs[i].pages = pages;
                rt_pages_outstanding += (INT64)pages;
                break;
            }
        }
    }
    return st;
}

static EFI_STATUS EFIAPI count_free(EFI_PHYSICAL_ADDRESS pa, UINTN pages)
{
    EFI_STATUS st = real_free(pa, pages);
    UINTN i;

    for (i = 0; !EFI_ERROR(st) && i < MAX_ALLOCS; i++) {
        if (allocs[i].pages != 0 && allocs[i].pa == pa) {
            rt_pages_outstanding -= (INT64)allocs[i].pages;
            allocs[i].pages = 0;
            break;
        }
    }
    return st;
}

static void hook_page_calls(void)
{
    real_alloc = BS->AllocatePages;
    real_free = BS->FreePages;
    BS->AllocatePages = count_alloc;
    BS->FreePages = count_free;
}

/* Pages of the runtime types in the memory map: the whole firmware's view. */
static UINT64 runtime_pages_in_map(void)
{
    UINTN size = 0, key, dsize, off;
    UINT32 dver;
    EFI_MEMORY_DESCRIPTOR *map;
    UINT64 total = 0;

    if (BS->GetMemoryMap(&size, NULL, &key, &dsize, &dver) != EFI_BUFFER_TOO_SMALL)
        return 0;
    size += 16 * dsize;
    map = AllocatePool(size);
    if (map == NULL)
        return 0;
    if (!EFI_ERROR(BS->GetMemoryMap(&size, map, &key, &dsize, &dver))) {
        for (off = 0; off + dsize <= size; off += dsize) {
            EFI_MEMORY_DESCRIPTOR *d = (void *)((UINT8 *)map + off);

            if (d->Type == EfiRuntimeServicesData || d->Type == EfiRuntimeServicesCode)
                total += d->NumberOfPages;
        }
    }
    FreePool(map);
    return total;
}

/* ---- loading hvcore.efi -------------------------------------------------------- */

static EFI_STATUS load_hvcore(CHAR16 *options, EFI_HANDLE *h)
{
    EFI_DEVICE_PATH *dp = FileDevicePath(self_li->DeviceHandle, L"\\hvcore.efi");
    EFI_LOADED_IMAGE *li;
    EFI_STATUS st;

    *h = NULL;
    if (dp == NULL)
        return EFI_OUT_OF_RESOURCES;
    st = BS->LoadImage(FALSE, self, dp, NULL, 0, h);
    FreePool(dp);
    if (EFI_ERROR(st))
        return st;
    if (options != NULL && !EFI_ERROR(BS->HandleProtocol(*h, &LoadedImageProtocol, (void **)&li))) {
        li->LoadOptions = options;
        li->LoadOptionsSize = (UINT32)((StrLen(options) + 1) * sizeof(CHAR16));
    }
    st = BS->StartImage(*h, NULL, NULL);
    if (EFI_ERROR(st))
        *h = NULL; /* a driver that fails its entry is unloaded by the firmware */
    return st;
}

static UINTN signature_count(void)
{
    UINTN i, n = 0;

    for (i = 0; i < ncpu; i++)
        slots[i].a = slots[i].b = slots[i].c = slots[i].d = 0;
    run_everywhere(p_signature);
    for (i = 0; i < ncpu; i++)
        n += is_signature(&slots[i]);
    return n;
}

static bool firmware_alive(void)
{
    void *p;
    UINTN i, n = 0;

    BS->Stall(1000);
    p = AllocatePool(4096);
    if (p == NULL)
        return false;
    FreePool(p);
    for (i = 0; i < ncpu; i++)
        slots[i].a = 0;
    run_everywhere(p_nothing);
    for (i = 0; i < ncpu; i++)
        n += slots[i].a == 1;
    return n == ncpu;
}

/* ---- the VT-x run ------------------------------------------------------------ */

static void msr_on_one_ap(HVCORE_PROTOCOL *hp)
{
    HVCORE_MSR_RESULT r[MAX_CPUS];
    UINTN target = ncpu - 1, i, seen = 0, elsewhere = 0;
    UINT64 v = 0xffffffff81234560ull, v2 = 0xffffffff8abcd000ull;
    UINT32 st;

    if (target == bsp) {
        FAIL(L"need an AP for the one-AP MSR check (cpus %d)", ncpu);
        return;
    }
    /* Through the protocol: hv_msr_write on one core (run_on_cpu -> the AP's
     * service loop -> VMCALL RUN_IN_ROOT -> the VMCS guest field). */
    st = hp->MsrWrite(hp, (UINT32)target, MSR_SYSENTER_EIP, v, r, 1);
    CHECK(st == 0 && r[0].InRoot == 1, L"MsrWrite(cpu %d, SYSENTER_EIP) status 0x%x in root %d route %d", target, st,
          r[0].InRoot, r[0].Route);
    for (i = 0; i < ncpu; i++)
        slots[i].in1 = MSR_SYSENTER_EIP;
    run_everywhere(p_rdmsr);
    for (i = 0; i < ncpu; i++) {
        if (i == target)
            seen = slots[i].a == v;
        else
            elsewhere += slots[i].a == v;
    }
    CHECK(seen && elsewhere == 0, L"SYSENTER_EIP = 0x%lx seen natively on cpu %d only (%d other cpus have it)", v,
          target, elsewhere);
    st = hp->MsrWrite(hp, (UINT32)target, MSR_SYSENTER_EIP, 0, r, 1);
    CHECK(st == 0, L"SYSENTER_EIP put back on cpu %d", target);

    /* Through VMCALL from that AP (the OS's way): MSR_WRITE on it alone. */
    slots[target].in1 = MSR_SYSENTER_ESP;
    slots[target].in2 = v2;
    slots[target].a = ~0ull;
    if (EFI_ERROR(mp->StartupThisAP(mp, p_vmcall_msr_write, target, NULL, 0, &slots[target], NULL)))
        FAIL(L"StartupThisAP for VMCALL MSR_WRITE");
    for (i = 0; i < ncpu; i++)
        slots[i].in1 = MSR_SYSENTER_ESP;
    run_everywhere(p_rdmsr);
    seen = slots[target].a == v2;
    elsewhere = 0;
    for (i = 0; i < ncpu; i++)
        elsewhere += i != target && slots[i].a == v2;
    CHECK(seen && elsewhere == 0, L"VMCALL MSR_WRITE SYSENTER_ESP = 0x%lx from cpu %d: seen there only", v2, target);
    st = hp->MsrWrite(hp, (UINT32)target, MSR_SYSENTER_ESP, 0, r, 1);
    CHECK(st == 0, L"SYSENTER_ESP put back on cpu %d", target);
}

static void bad_msr(HVCORE_PROTOCOL *hp)
{
    HVCORE_MSR_RESULT r[MAX_CPUS];
    UINTN i, gp = 0, vgp = 0;
    UINT32 st;

    st = hp->MsrRead(hp, HVCORE_ALL_CORES, BAD_MSR, r, MAX_CPUS);
    for (i = 0; i < ncpu; i++)
        gp += r[i].Status == STATUS_GP;
    CHECK(st == STATUS_GP && gp == ncpu, L"MsrRead(all, MSR 0x%x): status 0x%x, #GP status on %d of %d cpus", BAD_MSR, st,
          gp, ncpu);
    for (i = 0; i < ncpu; i++)
        slots[i].in1 = BAD_MSR;
    run_everywhere(p_vmcall_msr_read);
    for (i = 0; i < ncpu; i++)
        vgp += slots[i].a == STATUS_GP;
    CHECK(vgp == ncpu, L"VMCALL MSR_READ 0x%x: #GP status 0x%x on %d of %d cpus", BAD_MSR, STATUS_GP, vgp, ncpu);
    CHECK(firmware_alive(), L"firmware alive after the bad MSR (Stall, AllocatePool, MP Services on every cpu)");
}

static void vtx_run(UINTN cycles)
{
    HVCORE_PROTOCOL *hp = NULL;
    EFI_HANDLE h;
    EFI_STATUS st;
    UINT64 map0, alloc0 = 0, freed0 = 0, n;
    UINTN i, moved = 0, virt = 0;

    map0 = runtime_pages_in_map();
    st = load_hvcore(NULL, &h);
    CHECK(!EFI_ERROR(st), L"hvcore.efi loaded and started: %r", st);
    if (EFI_ERROR(st))
        return;
    if (EFI_ERROR(BS->HandleProtocol(h, &hv_guid, (void **)&hp)) || hp == NULL) {
        FAIL(L"no hvcore protocol on the image handle");
        return;
    }
    CHECK(hp->CpuCount == ncpu, L"hvcore manages %d of %d processors", hp->CpuCount, ncpu);
    n = signature_count();
    for (i = 0; i < ncpu; i++) {
        CHAR8 sig[13];
        UINT32 regs[3] = { (UINT32)slots[i].b, (UINT32)slots[i].c, (UINT32)slots[i].d };

        CopyMem(sig, regs, 12);
        sig[12] = 0;
        Print(L"HVTEST cpu %d: CPUID 0x40000000 -> \"%a\"\r\n", i, sig);
    }
    CHECK(n == ncpu, L"signature \"libhvcore\" on %d of %d processors (through MP Services)", n, ncpu);

    {
        EFI_HANDLE h2;

        st = load_hvcore(NULL, &h2);
        CHECK(st == EFI_ALREADY_STARTED, L"a second hvcore.efi refuses to load: %r", st);
        if (!EFI_ERROR(st))
            BS->UnloadImage(h2);
        CHECK(signature_count() == ncpu, L"the first one still runs on every processor");
    }
    run_everywhere(p_cpuid_exits);
    for (i = 0; i < ncpu; i++) {
        Print(L"HVTEST cpu %d: virtualized %d, CPUID exits %ld -> %ld\r\n", i, slots[i].d, slots[i].a, slots[i].b);
        moved += slots[i].b >= slots[i].a + 50;
        virt += slots[i].c == 0 && slots[i].d == 1;
    }
    CHECK(virt == ncpu, L"VMCALL QUERY: %d of %d processors virtualized", virt, ncpu);
    CHECK(moved == ncpu, L"exit counters moved by >= 50 CPUID exits on %d of %d processors", moved, ncpu);

    msr_on_one_ap(hp);
    bad_msr(hp);

    hp->PageCounts(hp, &alloc0, &freed0);
    st = BS->UnloadImage(h);
    CHECK(!EFI_ERROR(st), L"unload: %r", st);
    n = signature_count();
    CHECK(n == 0, L"after unload: signature on %d processors (devirtualized)", n);
    CHECK(rt_pages_outstanding == 0, L"after unload: %ld runtime pages outstanding (%ld AllocatePages calls)",
          rt_pages_outstanding, rt_alloc_calls);

    for (i = 1; i <= cycles; i++) {
        st = load_hvcore(NULL, &h);
        n = EFI_ERROR(st) ? 0 : signature_count();
        if (!EFI_ERROR(st))
            st = BS->UnloadImage(h);
        if (EFI_ERROR(st) || n != ncpu || rt_pages_outstanding != 0)
            FAIL(L"cycle %d: %r, signature on %d cpus, %ld pages outstanding", i, st, n, rt_pages_outstanding);
        else
            Print(L"HVTEST cycle %d: loaded, %d cpus virtualized, unloaded, 0 pages outstanding\r\n", i, n);
    }
    CHECK(signature_count() == 0, L"%d load/unload cycles: nothing left virtualized", cycles);
    CHECK(rt_pages_outstanding == 0, L"%d cycles: AllocatePages/FreePages balance (0 pages outstanding)", cycles);
    n = runtime_pages_in_map();
    CHECK(n == map0, L"runtime pages in the memory map: %ld before, %ld after", map0, n);
    CHECK(firmware_alive(), L"firmware alive at the end");
}

static void novtx_run(void)
{
    EFI_HANDLE h;
    EFI_STATUS st;

    st = load_hvcore(NULL, &h);
    CHECK(st == EFI_UNSUPPORTED, L"hvcore.efi refused to load without VT-x: %r", st);
    CHECK(rt_pages_outstanding == 0, L"nothing kept: %ld runtime pages outstanding", rt_pages_outstanding);
    CHECK(signature_count() == 0, L"no processor answers CPUID 0x40000000 with the signature");
    CHECK(firmware_alive(), L"firmware alive (Stall, AllocatePool, MP Services on all %d cpus)", ncpu);
}

/* ---- the UEFI Shell's load / unload ------------------------------------------- */

static UINTN read_file(const CHAR16 *name, CHAR8 *buf, UINTN cap)
{
    EFI_FILE_HANDLE root = LibOpenRoot(self_li->DeviceHandle), f;
    UINTN n = cap - 1;

    buf[0] = 0;
    if (root == NULL)
        return 0;
    if (EFI_ERROR(root->Open(root, &f, (CHAR16 *)name, EFI_FILE_MODE_READ, 0))) {
        root->Close(root);
        return 0;
    }
    if (EFI_ERROR(f->Read(f, &n, buf)))
        n = 0;
    buf[n] = 0;
    f->Close(f);
    root->Close(root);
    return n;
}

static bool write_file(const CHAR16 *name, const CHAR8 *text)
{
    EFI_FILE_HANDLE root = LibOpenRoot(self_li->DeviceHandle), f;
    UINTN n = strlena(text);
    EFI_STATUS st;

    if (root == NULL)
        return false;
    if (!EFI_ERROR(root->Open(root, &f, (CHAR16 *)name, EFI_FILE_MODE_READ | EFI_FILE_MODE_WRITE, 0)))
        f->Delete(f); /* the old one: Delete closes it */
    st = root->Open(root, &f, (CHAR16 *)name, EFI_FILE_MODE_READ | EFI_FILE_MODE_WRITE | EFI_FILE_MODE_CREATE, 0);
    if (!EFI_ERROR(st)) {
        st = f->Write(f, &n, (VOID *)text);
        f->Close(f);
    }
    root->Close(root);
    return !EFI_ERROR(st);
}

static CHAR8 lower(CHAR8 c)
{
    return c >= 'A' && c <= 'Z' ? (CHAR8)(c + 32) : c;
}

/* The shell's handle number of hvcore.efi's image in `dh -p LoadedImage`
 * output: the line naming hvcore.efi starts with "<hex>: ". The file may
 * be ASCII (>a) or UCS-2 (>): NULs are skipped. */
static bool hvcore_handle_in_dh(const CHAR8 *raw, UINTN n, CHAR8 *hex, UINTN cap)
{
    static CHAR8 line[512];
    UINTN i, len = 0, j, k;

    for (i = 0; i <= n; i++) {
        CHAR8 c = i < n ? raw[i] : '\n';

        if (c == 0 || c == '\r')
            continue;
        if (c != '\n') {
            if (len + 1 < sizeof(line))
                line[len++] = c;
            continue;
        }
        line[len] = 0;
        for (j = 0; j + 6 <= len; j++) {
            if (lower(line[j]) == 'h' && lower(line[j + 1]) == 'v' && lower(line[j + 2]) == 'c' &&
                lower(line[j + 3]) == 'o' && lower(line[j + 4]) == 'r' && lower(line[j + 5]) == 'e')
                break;
        }
        if (j + 6 <= len) {
            for (j = 0; j < len && line[j] == ' '; j++)
                ;
            for (k = 0; j < len && k + 1 < cap && ((line[j] >= '0' && line[j] <= '9') ||
                                                   (lower(line[j]) >= 'a' && lower(line[j]) <= 'f'));
                 j++)
                hex[k++] = line[j];
            hex[k] = 0;
            if (k > 0 && j < len && line[j] == ':')
                return true;
        }
        len = 0;
    }
    return false;
}

static void shell_loaded(void)
{
    static CHAR8 dh[16384];
    static CHAR8 script[64];
    CHAR8 hex[20];
    UINTN n, i, virt = 0, count = 0, sig = signature_count();
    HVCORE_PROTOCOL *hp = NULL;

    CHECK(!EFI_ERROR(BS->LocateProtocol(&hv_guid, NULL, (void **)&hp)) && hp != NULL,
          L"shell: `load hvcore.efi` left the hvcore protocol installed");
    CHECK(sig == ncpu, L"shell: CPUID 0x40000000 signature \"libhvcore\" on %d of %d processors", sig, ncpu);
    vmcall(HV_VMCALL_QUERY, HV_QUERY_CPU_COUNT, 0, &count);
    for (i = 0; i < count; i++) {
        UINT64 v = 0;

        vmcall(HV_VMCALL_QUERY, HV_QUERY_CPU_VIRTUALIZED, i, &v);
        virt += v == 1;
    }
    CHECK(count == ncpu && virt == ncpu, L"shell: VMCALL QUERY: %d of %d processors virtualized", virt, ncpu);
    n = read_file(L"\\dh.txt", dh, sizeof(dh));
    if (!hvcore_handle_in_dh(dh, n, hex, sizeof(hex))) {
        FAIL(L"shell: no hvcore.efi line in `dh -p LoadedImage` (%d bytes in \\dh.txt)", n);
        return;
    }
    for (i = 0; "unload -n "[i] != 0; i++)
        script[i] = (CHAR8)"unload -n "[i];
    for (n = 0; hex[n] != 0; n++)
        script[i++] = hex[n];
    script[i++] = '\r';
    script[i++] = '\n';
    script[i] = 0;
    CHECK(write_file(L"\\unl.nsh", script), L"shell: hvcore.efi is handle %a in `dh`: wrote \\unl.nsh (\"unload -n %a\")",
          hex, hex);
}

static void shell_unloaded(void)
{
    UINTN sig = signature_count();
    HVCORE_PROTOCOL *hp = NULL;

    CHECK(EFI_ERROR(BS->LocateProtocol(&hv_guid, NULL, (void **)&hp)),
          L"shell: after `unload`: the hvcore protocol is gone");
    CHECK(sig == 0, L"shell: after `unload`: signature on %d processors (devirtualized)", sig);
    CHECK(firmware_alive(), L"shell: firmware alive after `unload` (Stall, AllocatePool, MP Services on all %d cpus)",
          ncpu);
}

/* The argument the shell passed ("hvtest.efi shell-loaded"), ASCII. */
static void shell_argument(CHAR8 *out, UINTN cap)
{
    CHAR16 *s = self_li->LoadOptions;
    UINTN n = self_li->LoadOptionsSize / sizeof(CHAR16), i = 0, k = 0;

    out[0] = 0;
    if (s == NULL)
        return;
    while (i < n && s[i] != 0 && s[i] != L' ')
        i++; /* our own name */
    while (i < n && s[i] == L' ')
        i++;
    while (i < n && s[i] != 0 && s[i] != L' ' && k + 1 < cap)
        out[k++] = (CHAR8)s[i++];
    out[k] = 0;
    /* Only ours: a boot option's LoadOptions may be binary (OVMF gives
     * auto-created boot options a GUID there). */
    if (k < 6 || out[0] != 's' || out[1] != 'h' || out[2] != 'e' || out[3] != 'l' || out[4] != 'l' || out[5] != '-')
        out[0] = 0;
}

/* ---- config -------------------------------------------------------------------- */

static UINTN read_config(CHAR8 *buf, UINTN cap)
{
    EFI_FILE_HANDLE root = LibOpenRoot(self_li->DeviceHandle), f;
    UINTN n = cap - 1;

    buf[0] = 0;
    if (root == NULL || EFI_ERROR(root->Open(root, &f, L"\\hvtest.cfg", EFI_FILE_MODE_READ, 0)))
        return 0;
    if (EFI_ERROR(f->Read(f, &n, buf)))
        n = 0;
    buf[n] = 0;
    f->Close(f);
    root->Close(root);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = 0;
    return n;
}

static bool starts(const CHAR8 *s, const char *w)
{
    while (*w != 0)
        if (*s++ != (CHAR8)*w++)
            return false;
    return *s == 0 || *s == ' ';
}

/* Called by gnu-efi's crt0 (_start) with the SysV ABI, not EFIAPI. */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    static CHAR8 cfg[1024];
    static CHAR16 wopts[1024];
    UINTN enabled, cycles = 10, i;
    CHAR8 *p;

    InitializeLib(image, systab);
    self = image;
    BS->HandleProtocol(image, &LoadedImageProtocol, (void **)&self_li);
    shell_argument(cfg, sizeof(cfg));
    if (cfg[0] == 0)
        read_config(cfg, sizeof(cfg));
    Print(L"HVTEST start: mode \"%a\"\r\n", cfg);
    if (EFI_ERROR(BS->LocateProtocol(&mp_guid, NULL, (void **)&mp)) ||
        EFI_ERROR(mp->GetNumberOfProcessors(mp, &ncpu, &enabled)) || EFI_ERROR(mp->WhoAmI(mp, &bsp))) {
        FAIL(L"MP Services not available");
        mp = NULL;
        ncpu = 1;
    }
    Print(L"HVTEST processors: %d (BSP %d)\r\n", ncpu, bsp);
    /* Not for Linux: its EFI stub would call through our hooks. */
    /* Not for the shell runs either: hvtest.efi returns to the shell and is
     * unloaded, its hooks must not stay behind. */
    if (!starts(cfg, "linux") && !starts(cfg, "shell-loaded") && !starts(cfg, "shell-unloaded"))
        hook_page_calls();
    if (mp != NULL && ncpu <= MAX_CPUS) {
        if (starts(cfg, "vtx")) {
            for (p = cfg; *p != 0; p++) {
                if (p[0] == '=' && p[1] >= '0' && p[1] <= '9') {
                    cycles = 0;
                    for (p++; *p >= '0' && *p <= '9'; p++)
                        cycles = cycles * 10 + (UINTN)(*p - '0');
                    break;
                }
            }
            vtx_run(cycles);
        } else if (starts(cfg, "novtx")) {
            novtx_run();
        } else if (starts(cfg, "shell-loaded")) {
            shell_loaded();
            Print(L"HVTEST shell-loaded done, failures=%d\r\n", failures);
            return EFI_SUCCESS; /* back to the shell: unl.nsh follows */
        } else if (starts(cfg, "shell-unloaded")) {
            shell_unloaded();
        } else if (starts(cfg, "linux")) {
            EFI_HANDLE h;
            EFI_STATUS st;

            for (i = 0; cfg[6 + i] != 0 && i + 1 < sizeof(wopts) / sizeof(wopts[0]); i++)
                wopts[i] = cfg[6 + i];
            wopts[i] = 0;
            Print(L"HVTEST starting hvcore.efi with \"%s\"\r\n", wopts);
            st = load_hvcore(wopts, &h);
            FAIL(L"hvcore.efi returned (%r): the next stage did not take over", st);
        } else {
            FAIL(L"unknown mode in \\hvtest.cfg: \"%a\"", cfg);
        }
    }
    Print(L"HVTEST-END rc=%d failures=%d\r\n", failures ? 1 : 0, failures);
    BS->Stall(100000);
    RT->ResetSystem(EfiResetShutdown, EFI_SUCCESS, 0, NULL);
    return EFI_SUCCESS;
}
