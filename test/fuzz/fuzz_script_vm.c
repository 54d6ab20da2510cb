/*
 * The core's verifier and interpreter (hvcore/script.h) fed programs made
 * from random bytes. Most inputs get a well-formed header and section
 * sizes taken from their first bytes (so the code itself is what is
 * random and the verifier's depth analysis is what decides); the rest go
 * to the verifier as they are. Invariants: the verifier never crashes or
 * reads outside the program; whatever it accepts runs against the mock's
 * fake guest without crashing or reading out of bounds (ASan; the
 * program is an exactly sized heap block), executes at most its budget,
 * and ends with exactly one status record when it ends early.
 */
#include "script_env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    env_init();
    return 0;
}

static void try_program(const uint8_t *prog, uint32_t len)
{
    struct hv_script_info info;
    const char *why = NULL;
    uint32_t where = 0;

    env_reset();
    if (hv_script_verify(prog, len, &g_scratch, &info, &why, &where) != HV_STATUS_SUCCESS) {
        if (why == NULL)
            abort();
        return;
    }
    if (info.total_len != len || info.budget == 0 || info.budget > HV_SCRIPT_MAX_BUDGET ||
        info.max_stack > HV_SCRIPT_MAX_STACK)
        abort();
    run_checked(prog, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hv_script_header h;
    uint8_t *prog;
    uint32_t code_len, rest, len, g;

    if (size < 8 || size > HV_SCRIPT_MAX_PROGRAM)
        return 0;
    if (data[0] & 0x80) {
        /* As it is: the header checks. */
        prog = malloc(size - 1);
        memcpy(prog, data + 1, size - 1);
        try_program(prog, (uint32_t)(size - 1));
        free(prog);
        return 0;
    }
    /* Shaped: sizes from the first bytes, then code, constants, strings. */
    memset(&h, 0, sizeof(h));
    h.magic = HV_SCRIPT_MAGIC;
    h.version = HV_SCRIPT_VERSION;
    h.nlocals = data[1] % (HV_SCRIPT_MAX_LOCALS + 1u);
    h.nconst = data[2] % 9u;
    h.data_len = data[3] % 65u;
    h.nglobals = data[4] % 5u;
    h.budget = 1u + (uint32_t)(data[5] | (data[6] << 8)) % 3000u;  /* keeps runs short */
    if (data[0] & 0x40)
        h.budget = 0;   /* the default budget, sometimes */
    data += 7;
    size -= 7;
    rest = 8u * h.nconst + h.data_len;
    code_len = size > rest ? (uint32_t)(size - rest) : 1u;
    if (code_len > HV_SCRIPT_MAX_CODE)
        code_len = HV_SCRIPT_MAX_CODE;
    h.code_len = code_len;
    len = (uint32_t)sizeof(h) + code_len + rest + h.nglobals * HV_SCRIPT_NAME_LEN;
    prog = calloc(1, len);
    memcpy(prog, &h, sizeof(h));
    memcpy(prog + sizeof(h), data, size < code_len + rest ? size : code_len + rest);
    if (h.data_len != 0)
        prog[sizeof(h) + code_len + 8u * h.nconst + h.data_len - 1u] = 0;
    for (g = 0; g < h.nglobals; g++)
        snprintf((char *)prog + sizeof(h) + code_len + rest + g * HV_SCRIPT_NAME_LEN, HV_SCRIPT_NAME_LEN, "g%u", g);
    try_program(prog, len);
    free(prog);
    return 0;
}
