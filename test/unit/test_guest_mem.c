/* Guest memory from VMX root (exit/guest_mem.c): page walks for every
 * paging mode against page tables built in the mock's fake guest memory,
 * and an honest status for each way a read can fail. */
#include "support.h"

#include <string.h>

#define CR0_PG_PE  (HV_CR0_PG | HV_CR0_PE)
#define CR4_PSE    (1ull << 4)
#define CR4_LA57   (1ull << 12)
#define EFER_LONG  (HV_EFER_LME | HV_EFER_LMA)

static int setup(void **state)
{
    (void)state;
    return support_setup_machine(1, HV_MOCK_PROFILE_HASWELL);
}

static int teardown(void **state)
{
    (void)state;
    hv_mock_fini();
    return 0;
}

static const struct hv_os_ops *os(void)
{
    return hv_mock_os();
}

/* Given 4-level tables mapping 4 KiB, 2 MiB and 1 GiB pages, when each is
 * translated and read, then the guest-physical address and bytes match. */
static void four_level_pages_of_every_size(void **state)
{
    uint64_t root = hv_mock_gmem_new_table(), gpa = 0, v = 0;
    struct hv_guest_paging p = { CR0_PG_PE, root | 0x5 /* a PCID */, HV_CR4_PAE, EFER_LONG };

    (void)state;
    assert_int_equal(hv_guest_paging_mode(&p), HV_GUEST_PAGING_4LEVEL);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0xFFFF888000001000ull, 0x123000, 4096, 2), 0);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0x7F0000200000ull, 0x400000, 2u << 20, 2), 0);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0xFFFFFFFF80000000ull, 0x80000000ull,
                                      1u << 30, 2), 0);
    hv_mock_gmem_write64(0x123008, 0x1122334455667788ull);
    hv_mock_gmem_write64(0x400000 + 0x12345, 0xCAFEu);
    hv_mock_gmem_write64(0x80000000ull + 0x2345678, 0xBEEFu);

    assert_int_equal(hv_guest_mem_translate(os(), &p, 0xFFFF888000001008ull, &gpa), 0);
    assert_int_equal(gpa, 0x123008);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0xFFFF888000001008ull, &v, 8, NULL), 0);
    assert_int_equal(v, 0x1122334455667788ull);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0x7F0000212345ull, &gpa), 0);
    assert_int_equal(gpa, 0x412345);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0x7F0000212345ull, &v, 8, NULL), 0);
    assert_int_equal(v, 0xCAFE);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0xFFFFFFFF82345678ull, &gpa), 0);
    assert_int_equal(gpa, 0x82345678ull);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0xFFFFFFFF82345678ull, &v, 8, NULL), 0);
    assert_int_equal(v, 0xBEEF);
}

/* Given 5-level tables (CR4.LA57), then a 57-bit address translates, and an
 * address canonical for 48 bits but not mapped is not present. */
static void five_level_paging(void **state)
{
    uint64_t root = hv_mock_gmem_new_table(), gpa = 0, v = 0;
    struct hv_guest_paging p = { CR0_PG_PE, root, HV_CR4_PAE | CR4_LA57, EFER_LONG };
    uint64_t va = 0x00FF123456789000ull;     /* bit 55 set, 56 clear: canonical in 57 bits only */

    (void)state;
    assert_int_equal(hv_guest_paging_mode(&p), HV_GUEST_PAGING_5LEVEL);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_5LEVEL, root, va, 0x7000, 4096, 0), 0);
    hv_mock_gmem_write64(0x7010, 42);
    assert_int_equal(hv_guest_mem_translate(os(), &p, va + 0x10, &gpa), 0);
    assert_int_equal(gpa, 0x7010);
    assert_int_equal(hv_guest_mem_read(os(), &p, va + 0x10, &v, 8, NULL), 0);
    assert_int_equal(v, 42);
    /* The same address under 4-level paging is not canonical. */
    p.cr4 &= ~CR4_LA57;
    assert_int_equal(hv_guest_mem_translate(os(), &p, va, &gpa), HV_STATUS_GUEST_ADDRESS_NONCANONICAL);
    p.cr4 |= CR4_LA57;
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0x0000700000000000ull, &gpa),
                     HV_STATUS_GUEST_PAGE_NOT_PRESENT);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0x0100000000000000ull, &gpa),
                     HV_STATUS_GUEST_ADDRESS_NONCANONICAL);
}

/* PAE: four PDPTEs at CR3 bits 31:5, 4 KiB and 2 MiB pages. */
static void pae_paging(void **state)
{
    uint64_t pdpt = hv_mock_gmem_new_table() + 0x20, gpa = 0;   /* 32-byte aligned, not page aligned */
    struct hv_guest_paging p = { CR0_PG_PE, pdpt, HV_CR4_PAE, 0 };
    uint32_t v = 0;

    (void)state;
    assert_int_equal(hv_guest_paging_mode(&p), HV_GUEST_PAGING_PAE);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_PAE, pdpt, 0xC0001000u, 0x9000, 4096, 2), 0);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_PAE, pdpt, 0x40200000u, 0x1200000, 2u << 20, 2), 0);
    hv_mock_gmem_write64(0x9ABC, 0x55AA55AAu);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0xC0001ABCu, &v, 4, NULL), 0);
    assert_int_equal(v, 0x55AA55AAu);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0x402ABCDEu, &gpa), 0);
    assert_int_equal(gpa, 0x12ABCDEu);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0x80000000u, &gpa), HV_STATUS_GUEST_PAGE_NOT_PRESENT);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0x100000000ull, &gpa), HV_STATUS_GUEST_ADDRESS_NONCANONICAL);
    /* A reserved PDPTE bit (bit 1) is the guest's #PF with RSVD. */
    hv_mock_gmem_write64(pdpt + 3 * 8, 0x5000 | 0x3);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0xC0001000u, &gpa), HV_STATUS_GUEST_PAGE_RESERVED_BIT);
}

/* 32-bit paging: 4-byte entries; a 4 MiB page only with CR4.PSE (PSE-36
 * high bits in PDE bits 20:13). */
static void thirty_two_bit_paging(void **state)
{
    uint64_t pd = hv_mock_gmem_new_table(), gpa = 0;
    struct hv_guest_paging p = { CR0_PG_PE, pd, CR4_PSE, 0 };
    uint16_t v = 0;

    (void)state;
    assert_int_equal(hv_guest_paging_mode(&p), HV_GUEST_PAGING_32BIT);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_32, pd, 0x08048000u, 0x6000, 4096, 2), 0);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_32, pd, 0xC0000000u, 0x100400000ull, 4u << 20, 2), 0);
    hv_mock_gmem_write(0x6FFE, "\x34\x12", 2);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0x08048FFEu, &v, 2, NULL), 0);
    assert_int_equal(v, 0x1234);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0xC0123456u, &gpa), 0);
    assert_int_equal(gpa, 0x100523456ull);
    /* Without CR4.PSE the PS bit is ignored and the PDE names a table:
     * PDE bits 31:12 = 0x00402 (bit 13 is PSE-36's bit 32), and that page,
     * backed and zeroed here, makes the 4 KiB entry not present. */
    p.cr4 = 0;
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0xC0123456u, &gpa), HV_STATUS_ACCESS_VIOLATION);
    hv_mock_gmem_page(0x402000);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0xC0123456u, &gpa), HV_STATUS_GUEST_PAGE_NOT_PRESENT);
}

/* Paging off: linear = physical, 32 bits. */
static void paging_off(void **state)
{
    struct hv_guest_paging p = { HV_CR0_PE, 0, 0, 0 };
    uint64_t gpa = 0, v = 0;

    (void)state;
    assert_int_equal(hv_guest_paging_mode(&p), HV_GUEST_PAGING_NONE);
    hv_mock_gmem_write64(0xB8000, 0x0741);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0xB8000, &gpa), 0);
    assert_int_equal(gpa, 0xB8000);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0xB8000, &v, 8, NULL), 0);
    assert_int_equal(v, 0x0741);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0x100000000ull, &gpa), HV_STATUS_GUEST_ADDRESS_NONCANONICAL);
}

/* A read straddling two linear pages mapped to unrelated physical pages is
 * assembled from both; when the second is missing, the first part is
 * reported done and the status says why the rest failed. */
static void read_across_pages_and_partial_reads(void **state)
{
    uint64_t root = hv_mock_gmem_new_table(), v = 0;
    struct hv_guest_paging p = { CR0_PG_PE, root, HV_CR4_PAE, EFER_LONG };
    size_t done = 99;

    (void)state;
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0x10000, 0x30000, 4096, 2), 0);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0x11000, 0x20000, 4096, 2), 0);
    hv_mock_gmem_write(0x30FFC, "\x01\x02\x03\x04", 4);
    hv_mock_gmem_write(0x20000, "\x05\x06\x07\x08", 4);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0x10FFC, &v, 8, &done), 0);
    assert_int_equal(done, 8);
    assert_int_equal(v, 0x0807060504030201ull);

    assert_int_equal(hv_guest_mem_read(os(), &p, 0x11FFC, &v, 8, &done), HV_STATUS_GUEST_PAGE_NOT_PRESENT);
    assert_int_equal(done, 4);
}

/* Each way to fail gets its own status, and none of them touches memory
 * it should not: a not-present leaf, a non-canonical address, a page the
 * host access faults on (an MMIO hole), a CR3 in unmapped memory, a PS bit
 * in a PML4E, and an address range that wraps. */
static void honest_failure_statuses(void **state)
{
    uint64_t root = hv_mock_gmem_new_table(), gpa = 0, v = 0, faults;
    struct hv_guest_paging p = { CR0_PG_PE, root, HV_CR4_PAE, EFER_LONG };
    size_t done = 0;

    (void)state;
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0x200000, 0xFEE00000ull, 4096, 2), 0);
    hv_mock_gmem_set_fault(0xFEE00000ull, true);
    faults = hv_mock_gmem_faults();
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0x200000, &gpa), 0);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0x200000, &v, 8, &done), HV_STATUS_ACCESS_VIOLATION);
    assert_int_equal(done, 0);
    assert_int_equal(hv_mock_gmem_faults(), faults + 1);

    assert_int_equal(hv_guest_mem_read(os(), &p, 0x201000, &v, 8, NULL), HV_STATUS_GUEST_PAGE_NOT_PRESENT);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0x0000800000000000ull, &v, 8, NULL),
                     HV_STATUS_GUEST_ADDRESS_NONCANONICAL);
    assert_int_equal(hv_guest_mem_read(os(), &p, 0xFFFFFFFFFFFFFFFCull, &v, 8, NULL),
                     HV_STATUS_GUEST_PAGE_NOT_PRESENT);

    /* CR3 naming memory nobody backs: the first entry read faults. */
    p.cr3 = 0x3FF000000ull;
    assert_int_equal(hv_guest_mem_translate(os(), &p, 0x200000, &gpa), HV_STATUS_ACCESS_VIOLATION);
    /* PS in a PML4E is reserved. */
    p.cr3 = root;
    hv_mock_gmem_write64(root + 8 * 5, 0x1000 | 0x83);
    assert_int_equal(hv_guest_mem_translate(os(), &p, 5ull << 39, &gpa), HV_STATUS_GUEST_PAGE_RESERVED_BIT);
    /* Physical addresses above bit 51 are never touched. */
    assert_int_equal(hv_guest_mem_read_phys(os(), 0x0010000000000000ull, &v, 8), HV_STATUS_ACCESS_VIOLATION);
    assert_int_equal(hv_guest_mem_read(NULL, &p, 0x200000, &v, 8, NULL), HV_STATUS_INVALID_PARAMETER);
}

/* Given the paging registers only in the current VMCS, when no paging
 * struct is passed, then the VMCS's GUEST_CR0/CR3/CR4/EFER are used. */
static void current_vmcs_paging(void **state)
{
    uint64_t root = hv_mock_gmem_new_table(), v = 0;

    (void)state;
    assert_int_equal(hv_mock_vmcs_make_current(), 0);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR0, CR0_PG_PE);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR3, root);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_CR4, HV_CR4_PAE);
    hv_mock_vmcs_seed(HV_VMCS_GUEST_IA32_EFER, EFER_LONG);
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0xFFFFC90000000000ull, 0x8000, 4096, 2), 0);
    hv_mock_gmem_write64(0x8040, 0xD00Du);
    assert_int_equal(hv_guest_mem_read(os(), NULL, 0xFFFFC90000000040ull, &v, 8, NULL), 0);
    assert_int_equal(v, 0xD00D);
}

/* Writes go through the same walk; a write to a faulting page is refused. */
static void writes(void **state)
{
    uint64_t root = hv_mock_gmem_new_table(), v = 0x0102030405060708ull, back = 0;
    struct hv_guest_paging p = { CR0_PG_PE, root, HV_CR4_PAE, EFER_LONG };
    size_t done = 0;

    (void)state;
    assert_int_equal(hv_mock_gmem_map(HV_MOCK_PAGING_4LEVEL, root, 0x400000, 0xA000, 4096, 2), 0);
    /* Mapped but unbacked: physical memory the host does not map. */
    assert_int_equal(hv_guest_mem_write(os(), &p, 0x400010, &v, 8, &done), HV_STATUS_ACCESS_VIOLATION);
    hv_mock_gmem_page(0xA000);
    assert_int_equal(hv_guest_mem_write(os(), &p, 0x400010, &v, 8, &done), 0);
    assert_int_equal(done, 8);
    assert_true(hv_mock_gmem_read(0xA010, &back, 8));
    assert_int_equal(back, v);
    hv_mock_gmem_set_fault(0xA000, true);
    assert_int_equal(hv_guest_mem_write(os(), &p, 0x400010, &v, 8, &done), HV_STATUS_ACCESS_VIOLATION);
    assert_int_equal(done, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(four_level_pages_of_every_size, setup, teardown),
        cmocka_unit_test_setup_teardown(five_level_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(pae_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(thirty_two_bit_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(paging_off, setup, teardown),
        cmocka_unit_test_setup_teardown(read_across_pages_and_partial_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(honest_failure_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(current_vmcs_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(writes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
