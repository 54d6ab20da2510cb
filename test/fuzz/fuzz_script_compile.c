/*
 * The client's script compiler (hvcore/client/script.h) fed random text.
 * Invariants: never crashes or reads outside the text; a failure is
 * SCRIPT_INVALID with a position (line, column >= 1) and a message; a
 * program it emits passes the core's verifier unchanged (the core runs
 * exactly that check before accepting it) and then runs against the mock's
 * fake guest within its budget. The disassembler and the legacy-format
 * test see every input too.
 */
#include <hvcore/client/script.h>

#include "script_env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    env_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[16384];
    struct hv_script_error err;
    struct hv_script_info info;
    char *src;
    uint8_t *prog = NULL;
    uint32_t len = 0;
    hv_status_t st;

    if (size > 8192)
        return 0;
    src = malloc(size + 1);
    memcpy(src, data, size);
    src[size] = '\0';
    (void)hv_script_is_legacy_format(src);
    memset(&err, 0xA5, sizeof(err));
    st = hv_script_compile(src, 2000, &prog, &len, &err);
    if (st == HV_STATUS_SUCCESS) {
        const char *why = NULL;
        uint32_t where = 0;

        if (prog == NULL || len == 0 || len > HV_SCRIPT_MAX_PROGRAM)
            abort();
        if (hv_script_verify(prog, len, &g_scratch, &info, &why, &where) != HV_STATUS_SUCCESS) {
            fprintf(stderr, "compiler emitted a program the verifier refuses: %s at %u\n", why, where);
            abort();
        }
        if (info.total_len != len || info.budget != 2000)
            abort();
        if (hv_script_disassemble(prog, len, text, sizeof(text)) < 0)
            abort();
        env_reset();
        run_checked(prog, len);
        free(prog);
    } else {
        if (st != HV_STATUS_SCRIPT_INVALID || prog != NULL)
            abort();
        if (err.line < 1 || err.column < 1 || memchr(err.message, 0, sizeof(err.message)) == NULL ||
            err.message[0] == '\0' || memchr(err.token, 0, sizeof(err.token)) == NULL)
            abort();
        if (hv_script_error_format(&err, text, sizeof(text)) <= 0)
            abort();
    }
    free(src);
    return 0;
}
