/*
 * state_dpapi: the saved state protected with DPAPI (passphrase NULL), run under Wine by
 * windows/build.sh through tests/with_server.sh --refresh-tokens --no-record against the local
 * test server (DPOP_TOKEN_ENDPOINT, DPOP_API_URL; client m2m.dpop with DPOP_CLIENT_SECRET).
 *
 *   state_dpapi.exe DIR
 *
 *   1. a token and its refresh token, saved with DPAPI (NULL, and "" which means the same);
 *   2. a new object loads it with DPAPI and gets its token with the refresh token alone (the
 *      rotated one is saved again by itself, renamed over the old file);
 *   3. a passphrase for a DPAPI state is DPOP_ERR_STATE_LOCKED; a damaged or cut file is
 *      DPOP_ERR_STATE_CORRUPT; a DPAPI blob altered under a fixed checksum is refused by
 *      CryptUnprotectData (DPOP_ERR_STATE_LOCKED); each leaves the object as it was;
 *   4. a passphrase state works on Windows too; dpop_http_clear_state deletes the file.
 * (Wine's DPAPI keys every prefix alike, so another Windows user cannot be shown here.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <bcrypt.h>

#include "dpop.h"

#include "../c/check.h"

static char api[256], stats_url[256], settings[1024];

static void show(dpop_http *http, const char *what, dpop_status got) {
    char text[2048] = "";
    dpop_http_last_error_text(http, text, sizeof text, NULL);
    printf("state_dpapi: %s -> %s %s\n", what, dpop_error_name(got), text);
}

/* The call gives `want`, and the object's LastErrorText mentions `needle`. */
static void expect(dpop_http *http, const char *what, dpop_status got, dpop_status want, const char *needle) {
    char text[2048] = "";
    dpop_http_last_error_text(http, text, sizeof text, NULL);
    int ok = got == want && strstr(text, needle) != NULL;
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "  %s: want %s, got %s: %s\n", what, dpop_error_name(want), dpop_error_name(got), text);
    } else {
        show(http, what, got);
    }
}

static dpop_http *new_http(void) {
    dpop_http *http = dpop_http_new();
    CHECK(http != NULL && dpop_http_set_auth_token(http, settings) == DPOP_OK);
    return http;
}

static int get_ok(dpop_http *http) {
    const char *body = dpop_http_get(http, api);
    int ok = body != NULL && dpop_http_last_status(http) == 200;
    if (!ok) {
        show(http, "GET", dpop_last_error_code());
    }
    return ok;
}

static long stat_of(const char *name) {
    dpop_http *plain = dpop_http_new();
    const char *body = dpop_http_get(plain, stats_url);
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", name);
    const char *at = body != NULL ? strstr(body, pattern) : NULL;
    long value = at != NULL ? strtol(at + strlen(pattern), NULL, 10) : -1;
    dpop_http_free(plain);
    return value;
}

static long read_file(const char *name, unsigned char *buf, size_t cap) {
    FILE *f = fopen(name, "rb");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

static void write_file(const char *name, const unsigned char *data, size_t len) {
    FILE *f = fopen(name, "wb");
    CHECK(f != NULL && fwrite(data, 1, len, f) == len);
    if (f != NULL) {
        fclose(f);
    }
}

/* SHA-256 of data into out (32 bytes), with bcrypt. */
static int sha256(const unsigned char *data, size_t len, unsigned char *out) {
    BCRYPT_ALG_HANDLE alg = NULL;
    BCRYPT_HASH_HANDLE hash = NULL;
    int ok = BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, NULL, 0) == 0 &&
             BCryptCreateHash(alg, &hash, NULL, 0, NULL, 0, 0) == 0 &&
             BCryptHashData(hash, (PUCHAR)data, (ULONG)len, 0) == 0 && BCryptFinishHash(hash, out, 32, 0) == 0;
    if (hash != NULL) {
        BCryptDestroyHash(hash);
    }
    if (alg != NULL) {
        BCryptCloseAlgorithmProvider(alg, 0);
    }
    return ok;
}

int main(int argc, char **argv) {
    const char *endpoint = getenv("DPOP_TOKEN_ENDPOINT");
    const char *api_url = getenv("DPOP_API_URL");
    const char *secret = getenv("DPOP_CLIENT_SECRET");
    if (argc < 2 || endpoint == NULL || api_url == NULL || secret == NULL) {
        fprintf(stderr, "usage: state_dpapi.exe DIR, under tests/with_server.sh --refresh-tokens\n");
        return 2;
    }
    snprintf(api, sizeof api, "%s", api_url);
    snprintf(stats_url, sizeof stats_url, "%.*s/stats", (int)(strlen(api_url) - strlen("/dpop/test")), api_url);
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\",\"token_endpoint\":\"%s\",\"scope\":\"api\"}", secret,
             endpoint);
    char path[MAX_PATH], damaged[MAX_PATH], with_passphrase[MAX_PATH];
    snprintf(path, sizeof path, "%s\\state-dpapi.bin", argv[1]);
    snprintf(damaged, sizeof damaged, "%s\\state-dpapi-damaged.bin", argv[1]);
    snprintf(with_passphrase, sizeof with_passphrase, "%s\\state-passphrase.bin", argv[1]);
    remove(path);
    remove(with_passphrase);

    /* 1. Saved with DPAPI. */
    dpop_key *key = dpop_key_new();
    CHECK(dpop_key_generate(key, "ES256") == DPOP_OK);
    dpop_http *first = new_http();
    CHECK(dpop_http_set_key(first, key) == DPOP_OK);
    CHECK(get_ok(first));
    dpop_status status = dpop_http_save_state(first, path, "");
    CHECK(status == DPOP_OK);
    show(first, "save_state with DPAPI (\"\")", status);
    status = dpop_http_save_state(first, path, NULL); /* renamed over the first file */
    CHECK(status == DPOP_OK);
    show(first, "save_state with DPAPI (NULL) over the first file", status);
    dpop_http_free(first);
    unsigned char saved[8192];
    long saved_len = read_file(path, saved, sizeof saved);
    CHECK(saved_len > 100);

    /* 2. Loaded by a new object: the refresh token alone gets the token. */
    dpop_http *second = new_http();
    expect(second, "load_state with a passphrase", dpop_http_load_state(second, path, "not-for-dpapi"),
           DPOP_ERR_STATE_LOCKED, "protected with DPAPI");
    status = dpop_http_load_state(second, path, NULL);
    CHECK(status == DPOP_OK);
    show(second, "load_state with DPAPI", status);
    CHECK(get_ok(second));
    CHECK(stat_of("client_credentials_grants") == 1);
    CHECK(stat_of("refresh_grants") == 1);
    unsigned char rotated[8192];
    long rotated_len = read_file(path, rotated, sizeof rotated);
    CHECK(rotated_len > 100 && (rotated_len != saved_len || memcmp(rotated, saved, (size_t)saved_len) != 0));
    long token_requests = stat_of("token_requests");

    /* 3. Damaged, cut, and altered under a fixed checksum: refused, the object as it was. */
    if (rotated_len > 100) {
        unsigned char copy[8192];
        memcpy(copy, rotated, (size_t)rotated_len);
        copy[rotated_len / 2] ^= 0x01;
        write_file(damaged, copy, (size_t)rotated_len);
        expect(second, "load_state of a damaged file", dpop_http_load_state(second, damaged, NULL),
               DPOP_ERR_STATE_CORRUPT, "damaged");
        write_file(damaged, rotated, (size_t)rotated_len - 7);
        expect(second, "load_state of a cut file", dpop_http_load_state(second, damaged, NULL), DPOP_ERR_STATE_CORRUPT,
               "");
        /* A byte inside the DPAPI blob (its end: Wine's fingerprint), then a new checksum. */
        memcpy(copy, rotated, (size_t)rotated_len);
        copy[rotated_len - 32 - 5] ^= 0x01;
        CHECK(sha256(copy, (size_t)rotated_len - 32, copy + rotated_len - 32));
        write_file(damaged, copy, (size_t)rotated_len);
        expect(second, "load_state of an altered DPAPI blob", dpop_http_load_state(second, damaged, NULL),
               DPOP_ERR_STATE_LOCKED, "CryptUnprotectData");
        remove(damaged);
    }
    CHECK(get_ok(second));
    CHECK(stat_of("token_requests") == token_requests);

    /* 4. A passphrase state on Windows, and clear. */
    status = dpop_http_save_state(second, with_passphrase, "a-windows-passphrase");
    CHECK(status == DPOP_OK);
    dpop_http *third = new_http();
    expect(third, "load_state of a passphrase state with DPAPI", dpop_http_load_state(third, with_passphrase, NULL),
           DPOP_ERR_STATE_LOCKED, "passphrase");
    status = dpop_http_load_state(third, with_passphrase, "a-windows-passphrase");
    CHECK(status == DPOP_OK);
    show(third, "load_state with a passphrase", status);
    CHECK(get_ok(third));
    CHECK(dpop_http_clear_state(third, path) == DPOP_OK && read_file(path, saved, sizeof saved) == -1);
    CHECK(dpop_http_clear_state(third, with_passphrase) == DPOP_OK);
    CHECK(dpop_http_clear_state(second, path) == DPOP_OK);
    dpop_http_free(third);
    dpop_http_free(second);
    dpop_key_free(key);
    printf("state_dpapi: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
