/*
 * The wire handshake (hvcore/client/wire.h, version 2): key files, the MAC,
 * every pairing of keys between client and server over a real 127.0.0.1
 * listener, a replayed handshake, a version-1 peer, a request before the
 * handshake. Bounded waits only; nothing is timed.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1
#include "support.h"

#include <hvcore/client/wire.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/hvcore-wire-auth-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text, mode_t mode, char *path, size_t cap)
{
    int fd;

    snprintf(path, cap, "%s/%s", g_dir, name);
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static struct hv_wire_key key_of(const char *text)
{
    struct hv_wire_key k;

    memset(&k, 0, sizeof(k));
    k.len = (uint32_t)strlen(text);
    memcpy(k.bytes, text, k.len);
    return k;
}

/* ---- key files ------------------------------------------------------------ */

static void key_file_rules(void **state)
{
    struct hv_wire_key k;
    char path[128];
    struct stat st;
    mode_t bad[] = { 0640, 0604, 0620, 0602, 0644, 0660 };
    size_t i;

    (void)state;
    /* given a key file readable by group or others, when loaded, then refused with the fix */
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file("loose", "0123456789abcdef0123\n", bad[i], path, sizeof(path));
        assert_int_equal(hv_wire_key_load(path, &k), HV_STATUS_ACCESS_DENIED);
        assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_KEY_FILE);
        assert_non_null(strstr(hv_wire_last_error(), "chmod 600"));
        assert_int_equal(k.len, 0);
    }
    /* 0600 and 0400: accepted, trailing newline cut */
    write_file("good", "0123456789abcdef0123\n", 0400, path, sizeof(path));
    assert_int_equal(hv_wire_key_load(path, &k), HV_STATUS_SUCCESS);
    assert_int_equal(k.len, 20);
    assert_memory_equal(k.bytes, "0123456789abcdef0123", 20);
    /* too short, missing, a directory */
    write_file("short", "tooshort\n", 0600, path, sizeof(path));
    assert_int_equal(hv_wire_key_load(path, &k), HV_STATUS_INVALID_PARAMETER);
    snprintf(path, sizeof(path), "%s/none", g_dir);
    assert_int_equal(hv_wire_key_load(path, &k), HV_STATUS_READ_FAILED);
    assert_int_equal(hv_wire_key_load(g_dir, &k), HV_STATUS_INVALID_PARAMETER);
    assert_int_equal(hv_wire_key_load(NULL, &k), HV_STATUS_INVALID_PARAMETER);
    /* generated: 0600, 64 hex digits, never over an existing file */
    snprintf(path, sizeof(path), "%s/gen", g_dir);
    assert_int_equal(hv_wire_key_generate(path), HV_STATUS_SUCCESS);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(hv_wire_key_load(path, &k), HV_STATUS_SUCCESS);
    assert_int_equal(k.len, 64);
    assert_int_equal(hv_wire_key_generate(path), HV_STATUS_WRITE_FAILED);
}

/* HMAC-SHA256 with the labels of wire.h (vector from Python's hmac). */
static void mac_known_answer(void **state)
{
    static const uint8_t client[32] = {
        0x4d, 0x95, 0xa9, 0xa7, 0x1f, 0x1b, 0xf7, 0x64, 0x84, 0x75, 0xf4, 0x5a, 0xeb, 0x55, 0xbc, 0xf6,
        0xd8, 0x1a, 0x3a, 0xf9, 0x79, 0xaa, 0x2e, 0xbf, 0x02, 0x9f, 0xfa, 0x6d, 0x3a, 0x97, 0x81, 0xd7,
    };
    static const uint8_t server[32] = {
        0x1a, 0x5b, 0xb9, 0xc2, 0x58, 0xa7, 0x54, 0x5b, 0xac, 0x86, 0xb0, 0x07, 0x28, 0xa6, 0xba, 0x74,
        0x67, 0x04, 0x07, 0x6a, 0x24, 0x98, 0x3a, 0x90, 0x68, 0xd9, 0x3d, 0xbf, 0x6c, 0xe3, 0x72, 0xb3,
    };
    struct hv_wire_key k = key_of("0123456789abcdef");
    uint8_t nc[32], ns[32], out[32];
    int i;

    (void)state;
    for (i = 0; i < 32; i++) {
        nc[i] = (uint8_t)i;
        ns[i] = (uint8_t)(32 + i);
    }
    assert_int_equal(hv_wire_auth_mac(&k, false, nc, ns, out), HV_STATUS_SUCCESS);
    assert_memory_equal(out, client, 32);
    assert_int_equal(hv_wire_auth_mac(&k, true, nc, ns, out), HV_STATUS_SUCCESS);
    assert_memory_equal(out, server, 32);
    k.len = 3;
    assert_int_equal(hv_wire_auth_mac(&k, true, nc, ns, out), HV_STATUS_INVALID_PARAMETER);
}

/* ---- client x server key pairings over 127.0.0.1 ------------------------------ */

struct hs_server {
    int lfd;
    const struct hv_wire_key *key;
    hv_status_t st;
    enum hv_wire_reason reason;
};

static void *hs_server_main(void *arg)
{
    struct hs_server *s = arg;
    int fd;

    s->st = hv_wire_accept(s->lfd, &fd, 2000);
    if (!hv_success(s->st))
        return NULL;
    s->st = hv_wire_server_handshake(fd, s->key, 2000);
    s->reason = hv_wire_last_reason();
    if (hv_success(s->st)) {
        uint8_t b[64];
        struct hv_wire_header h;
        uint32_t n;

        /* one request after the handshake, answered */
        if (hv_success(hv_wire_recv(fd, &h, b, sizeof(b), &n, 2000)))
            (void)hv_wire_send(fd, (uint16_t)(h.type | HV_WIRE_RESPONSE), h.seq, b, n, 2000);
    }
    close(fd);
    return NULL;
}

static hv_status_t pair_keys(const struct hv_wire_key *srv, const struct hv_wire_key *cli, struct hs_server *s)
{
    struct hv_wire_conn *c = NULL;
    pthread_t th;
    uint16_t port;
    hv_status_t st;

    memset(s, 0, sizeof(*s));
    s->key = srv;
    assert_int_equal(hv_wire_listen("127.0.0.1", 0, &s->lfd), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_local_port(s->lfd, &port), HV_STATUS_SUCCESS);
    assert_int_equal(pthread_create(&th, NULL, hs_server_main, s), 0);
    st = hv_wire_connect_auth(&c, "127.0.0.1", port, 2000, cli);
    if (hv_success(st)) {
        uint8_t b[8] = "ping!!!", r[8];
        uint32_t n = 0;

        assert_int_equal(hv_wire_call(c, HV_WIRE_QUERY, b, sizeof(b), r, sizeof(r), &n, NULL, 2000),
                         HV_STATUS_SUCCESS);
        assert_memory_equal(r, b, sizeof(b));
        hv_wire_close(c);
    } else {
        assert_null(c);
    }
    pthread_join(th, NULL);
    close(s->lfd);
    return st;
}

static void key_pairings(void **state)
{
    struct hv_wire_key a = key_of("key-A-0123456789abcdef"), b = key_of("key-B-0123456789abcdef");
    struct hs_server s;

    (void)state;
    /* same key: both sides proved it, requests run */
    assert_int_equal(pair_keys(&a, &a, &s), HV_STATUS_SUCCESS);
    assert_int_equal(s.st, HV_STATUS_SUCCESS);
    /* no key on either side (loopback use) */
    assert_int_equal(pair_keys(NULL, NULL, &s), HV_STATUS_SUCCESS);
    assert_int_equal(s.st, HV_STATUS_SUCCESS);
    /* wrong key: refused on both sides */
    assert_int_equal(pair_keys(&a, &b, &s), HV_STATUS_ACCESS_DENIED);
    assert_non_null(strstr(hv_wire_last_error(), "refused our key"));
    assert_int_equal(s.st, HV_STATUS_ACCESS_DENIED);
    assert_int_equal(s.reason, HV_WIRE_REASON_AUTH_FAILED);
    /* the server wants a key the client does not have */
    assert_int_equal(pair_keys(&a, NULL, &s), HV_STATUS_ACCESS_DENIED);
    assert_non_null(strstr(hv_wire_last_error(), "requires a key"));
    assert_false(hv_success(s.st));
    /* the client has a key, the server authenticates nobody: the client refuses */
    assert_int_equal(pair_keys(NULL, &a, &s), HV_STATUS_ACCESS_DENIED);
    assert_non_null(strstr(hv_wire_last_error(), "does not authenticate"));
}

/* ---- replay, old peers, requests before the handshake (socketpair) ---------------- */

struct hs_pair {
    int fd;
    const struct hv_wire_key *key;
    hv_status_t st;
};

static void *hs_pair_main(void *arg)
{
    struct hs_pair *p = arg;

    p->st = hv_wire_server_handshake(p->fd, p->key, 2000);
    return NULL;
}

static void start_pair(struct hs_pair *p, const struct hv_wire_key *key, int sv[2], pthread_t *th)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    p->fd = sv[1];
    p->key = key;
    p->st = 1;
    assert_int_equal(pthread_create(th, NULL, hs_pair_main, p), 0);
}

/* Client half by hand: HELLO with nc, returns the server's nonce. */
static void hello(int fd, const uint8_t nc[32], uint8_t ns[32])
{
    uint8_t b[HV_WIRE_AUTH_HELLO_SIZE];
    struct hv_wire_header h;
    uint32_t n;

    hv_wire_put_le32(b, HV_WIRE_VERSION);
    hv_wire_put_le32(b + 4, HV_WIRE_AUTH_FLAG_KEY);
    memcpy(b + 8, nc, 32);
    assert_int_equal(hv_wire_send(fd, HV_WIRE_AUTH_HELLO, 1, b, sizeof(b), 2000), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_recv(fd, &h, b, sizeof(b), &n, 2000), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_AUTH_HELLO | HV_WIRE_RESPONSE);
    assert_int_equal(n, HV_WIRE_AUTH_HELLO_SIZE);
    assert_int_equal(hv_wire_get_le32(b + 4), HV_WIRE_AUTH_FLAG_KEY);
    memcpy(ns, b + 8, 32);
}

static void replayed_handshake_fails(void **state)
{
    struct hv_wire_key k = key_of("the-shared-key-0123456789");
    uint8_t nc[32], ns1[32], ns2[32], proof[32], b[32];
    struct hv_wire_header h;
    struct hs_pair p;
    pthread_t th;
    uint32_t n;
    int sv[2];

    (void)state;
    memset(nc, 0x5A, sizeof(nc));
    /* given a recorded, successful handshake */
    start_pair(&p, &k, sv, &th);
    hello(sv[0], nc, ns1);
    assert_int_equal(hv_wire_auth_mac(&k, false, nc, ns1, proof), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_send(sv[0], HV_WIRE_AUTH_PROOF, 2, proof, 32, 2000), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_recv(sv[0], &h, b, sizeof(b), &n, 2000), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_AUTH_PROOF | HV_WIRE_RESPONSE);
    assert_int_equal(hv_wire_auth_mac(&k, true, nc, ns1, proof + 0), HV_STATUS_SUCCESS);
    assert_memory_equal(b, proof, 32);
    pthread_join(th, NULL);
    assert_int_equal(p.st, HV_STATUS_SUCCESS);
    close(sv[0]);
    close(sv[1]);
    /* when the same client messages are sent again */
    assert_int_equal(hv_wire_auth_mac(&k, false, nc, ns1, proof), HV_STATUS_SUCCESS);
    start_pair(&p, &k, sv, &th);
    hello(sv[0], nc, ns2);
    assert_memory_not_equal(ns1, ns2, 32); /* a fresh server nonce */
    assert_int_equal(hv_wire_send(sv[0], HV_WIRE_AUTH_PROOF, 2, proof, 32, 2000), HV_STATUS_SUCCESS);
    /* then ACCESS_DENIED on the wire and in the server */
    assert_int_equal(hv_wire_recv(sv[0], &h, b, sizeof(b), &n, 2000), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_ERROR);
    assert_int_equal(hv_wire_get_le32(b), HV_STATUS_ACCESS_DENIED);
    pthread_join(th, NULL);
    assert_int_equal(p.st, HV_STATUS_ACCESS_DENIED);
    close(sv[0]);
    close(sv[1]);
}

static void request_before_handshake_refused(void **state)
{
    uint8_t b[16] = { 0 };
    struct hv_wire_header h;
    struct hs_pair p;
    pthread_t th;
    uint32_t n;
    int sv[2];

    (void)state;
    start_pair(&p, NULL, sv, &th); /* even without a key */
    assert_int_equal(hv_wire_send(sv[0], HV_WIRE_MSR, 9, b, sizeof(b), 2000), HV_STATUS_SUCCESS);
    assert_int_equal(hv_wire_recv(sv[0], &h, b, sizeof(b), &n, 2000), HV_STATUS_SUCCESS);
    assert_int_equal(h.type, HV_WIRE_ERROR);
    assert_int_equal(h.seq, 9);
    assert_int_equal(hv_wire_get_le32(b), HV_STATUS_ACCESS_DENIED);
    pthread_join(th, NULL);
    assert_int_equal(p.st, HV_STATUS_ACCESS_DENIED);
    close(sv[0]);
    close(sv[1]);
}

static void version_1_peer_told_unsupported(void **state)
{
    uint8_t f[HV_WIRE_HEADER_SIZE + 4], r[HV_WIRE_HEADER_SIZE + 4];
    struct hs_pair p;
    pthread_t th;
    size_t n;
    int sv[2];

    (void)state;
    start_pair(&p, NULL, sv, &th);
    /* a version-1 HELLO as an old hvctl sends it */
    assert_int_equal(hv_wire_encode(HV_WIRE_HELLO, 3, "\1\0\0\0", 4, f, sizeof(f), &n), HV_STATUS_SUCCESS);
    f[4] = 1;
    assert_int_equal(write(sv[0], f, n), (ssize_t)n);
    pthread_join(th, NULL);
    assert_int_equal(p.st, HV_STATUS_INVALID_PACKET);
    assert_int_equal(read(sv[0], r, sizeof(r)), (ssize_t)sizeof(r));
    assert_int_equal(r[4], 1); /* its own version, so it can decode it */
    assert_int_equal(r[6] | r[7] << 8, HV_WIRE_ERROR);
    assert_int_equal(hv_wire_get_le32(r + 8), 3);
    assert_int_equal(hv_wire_get_le32(r + HV_WIRE_HEADER_SIZE), HV_STATUS_UNSUPPORTED);
    close(sv[0]);
    close(sv[1]);
}

static void silent_peer_times_out(void **state)
{
    int sv[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    /* nothing is ever written: the handshake's deadline ends it */
    assert_int_equal(hv_wire_server_handshake(sv[1], NULL, 50), HV_STATUS_TIMEOUT);
    /* half a HELLO, then silence: the same deadline */
    assert_int_equal(write(sv[0], "HVC1\2\0", 6), 6);
    assert_int_equal(hv_wire_server_handshake(sv[1], NULL, 50), HV_STATUS_TIMEOUT);
    assert_int_equal(hv_wire_last_reason(), HV_WIRE_REASON_TIMEOUT_MID_FRAME);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_file_rules),
        cmocka_unit_test(mac_known_answer),
        cmocka_unit_test(key_pairings),
        cmocka_unit_test(replayed_handshake_fails),
        cmocka_unit_test(request_before_handshake_refused),
        cmocka_unit_test(version_1_peer_told_unsupported),
        cmocka_unit_test(silent_peer_times_out),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
