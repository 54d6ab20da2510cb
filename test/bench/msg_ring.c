/*
 * Benchmark: hv_msg_put, the message ring's producer on the VM-exit path.
 * N DR-access records (the common payload, 40 bytes), imm no, so a batch is
 * published every HV_MSG_BATCH records; the reader drains in the same
 * thread every HV_MSG_BATCH records, so the ring never fills and nothing
 * is dropped. callgrind counts only inside hv_msg_put (run.sh).
 *
 *   bench_msg_ring [N]     N records (default 100000)
 */
#include <hvcore/msg.h>

#include <stdio.h>
#include <stdlib.h>

#define CAPACITY 256u

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000ul, i, got = 0;
    struct hv_msg_record out[HV_MSG_BATCH];
    struct hv_msg_dr_access dr = { .dr = 7, .direction = 0, .gpr = 3 };
    struct hv_msg_header h = { .event_id = 1, .pid = 4242, .kind = HV_MSG_DR_ACCESS };
    struct hv_msg_ring *r = NULL;
    void *mem = aligned_alloc(64, hv_msg_ring_bytes(CAPACITY));

    if (mem == NULL || hv_msg_ring_init(mem, CAPACITY, 0, &r) != HV_STATUS_SUCCESS) {
        fprintf(stderr, "ring init failed\n");
        return 1;
    }
    for (i = 0; i < n; i++) {
        dr.value = i;
        dr.rip = 0xfffff80000001000ull + i;
        h.timestamp = i;
        hv_msg_put(r, &h, &dr, sizeof(dr), false);
        if ((i + 1) % HV_MSG_BATCH == 0)
            got += hv_msg_get(r, out, HV_MSG_BATCH);
    }
    hv_msg_flush(r);
    got += hv_msg_get(r, out, HV_MSG_BATCH);
    if (got != n || hv_msg_dropped(r) != 0) {
        fprintf(stderr, "read %lu of %lu records, %llu dropped\n", got, n,
                (unsigned long long)hv_msg_dropped(r));
        return 1;
    }
    printf("BENCH msg_ring_records %lu records\n", n);
    free(mem);
    return 0;
}
