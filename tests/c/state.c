/*
 * state: dpop_http_save_state, dpop_http_load_state and dpop_http_clear_state through the C API,
 * against the local test server (run by tests/with_server.sh with --refresh-tokens: every
 * client_credentials token comes with a refresh token, and each refresh rotates it).
 *
 *   - a first object gets a token and a refresh token and saves them with a passphrase; the
 *     file is owner-only;
 *   - a second object loads the state (after a wrong passphrase, no passphrase, and foreign
 *     settings are refused) and gets its token with the refresh token alone; the rotated
 *     refresh token is saved again by itself, and a third object works from that;
 *   - damaged, cut, empty and foreign-program files are DPOP_ERR_STATE_CORRUPT and leave the
 *     object as it was; loading before any settings is DPOP_ERR_TOKEN_CONFIG;
 *   - dpop_http_clear_state deletes the file and forgets the key; the session log and the error
 *     texts hold neither the passphrase nor a refresh token.
 * Run by make c-test under valgrind and by make sanitize.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpop.h"

#include "check.h"

static const char *SECRET = "c-state-secret-M3tQ9w";
static const char *PASSPHRASE = "c-state-passphrase-Jx4K";
static const char *WRONG = "c-state-wrong-Vb7R";

static char token_endpoint[256], api[256], stats_url[256];
static char path[512], damaged[512], log_path[512];

/* The call's status is `want` and the object's LastErrorText mentions `needle`. */
#define CHECK_CODE(http, got_expr, want, needle)                                                 \
    do {                                                                                         \
        dpop_status got_ = (got_expr);                                                           \
        char text_[4096] = "";                                                                   \
        dpop_http_last_error_text((http), text_, sizeof text_, NULL);                            \
        int ok_ = got_ == (want) && strstr(text_, (needle)) != NULL && strstr(text_, PASSPHRASE) == NULL && \
                  strstr(text_, WRONG) == NULL;                                                  \
        CHECK(ok_);                                                                              \
        if (!ok_) {                                                                              \
            fprintf(stderr, "  want %s, got %s: %s\n", #want, dpop_error_name(got_), text_);     \
        }                                                                                        \
    } while (0)

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* The number after "name": in the server's GET /stats, or -1. */
static long stat_of(const char *name) {
    dpop_http *plain = dpop_http_new();
    const char *body = dpop_http_get(plain, stats_url);
    long value = -1;
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", name);
    const char *at = body != NULL ? strstr(body, pattern) : NULL;
    if (at != NULL) {
        value = strtol(at + strlen(pattern), NULL, 10);
    }
    dpop_http_free(plain);
    return value;
}

static dpop_http *http_for(const char *client_id) {
    char settings[1024];
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"token_endpoint\":\"%s\",\"scope\":\"api\"}",
             client_id, SECRET, token_endpoint);
    dpop_http *http = dpop_http_new();
    CHECK(http != NULL && dpop_http_set_auth_token(http, settings) == DPOP_OK);
    return http;
}

/* A GET of the API answered 200. */
static int get_ok(dpop_http *http) {
    const char *body = dpop_http_get(http, api);
    int ok = body != NULL && dpop_http_last_status(http) == 200;
    if (!ok) {
        char text[2048] = "";
        dpop_http_last_error_text(http, text, sizeof text, NULL);
        fprintf(stderr, "  GET %s: %d %s / %s\n", api, dpop_http_last_status(http), body ? body : "", text);
    }
    return ok;
}

static long file_size(const char *name) {
    struct stat st;
    return stat(name, &st) == 0 ? (long)st.st_size : -1;
}

/* The whole file into `buf` (at most `cap` bytes); its length, or -1. */
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

int main(void) {
    const char *endpoint = getenv("DPOP_TOKEN_ENDPOINT");
    const char *api_url = getenv("DPOP_API_URL");
    const char *dir = getenv("BUILD_DIR");
    if (endpoint == NULL || api_url == NULL) {
        fprintf(stderr, "state: run me with tests/with_server.sh --refresh-tokens --no-record --client m2m.dpop:%s\n",
                SECRET);
        return 2;
    }
    snprintf(token_endpoint, sizeof token_endpoint, "%s", endpoint);
    snprintf(api, sizeof api, "%s", api_url);
    snprintf(stats_url, sizeof stats_url, "%.*s/stats", (int)(strlen(api_url) - strlen("/dpop/test")), api_url);
    dir = dir != NULL ? dir : "build";
    snprintf(path, sizeof path, "%s/state-c.bin", dir);
    snprintf(damaged, sizeof damaged, "%s/state-c-damaged.bin", dir);
    snprintf(log_path, sizeof log_path, "%s/state-c-session.log", dir);
    remove(path);
    remove(log_path);

    /* 1. The first run: a token and a refresh token, saved with a passphrase. */
    dpop_key *key = dpop_key_new();
    CHECK(dpop_key_generate(key, "ES256") == DPOP_OK);
    dpop_http *first = http_for("m2m.dpop");
    CHECK_CODE(first, dpop_http_save_state(first, path, PASSPHRASE), DPOP_ERR_KEY_NOT_LOADED, "no DPoP key");
    CHECK(dpop_http_set_key(first, key) == DPOP_OK);
    CHECK(get_ok(first));
    CHECK(dpop_http_save_state(first, path, PASSPHRASE) == DPOP_OK);
    CHECK_CODE(first, dpop_http_save_state(first, path, NULL), DPOP_ERR_INVALID_ARGUMENT, "Windows");
    CHECK_CODE(first, dpop_http_save_state(first, path, ""), DPOP_ERR_INVALID_ARGUMENT, "Windows");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    dpop_http_free(first);
    CHECK(stat_of("client_credentials_grants") == 1);

    /* 2. The next run: refused with the wrong passphrase, none, or foreign settings; then
     *    loaded, and the token comes from the refresh token alone. */
    dpop_http *second = http_for("m2m.dpop");
    CHECK(dpop_http_set_session_log(second, log_path) == DPOP_OK);
    CHECK_CODE(second, dpop_http_load_state(second, path, WRONG), DPOP_ERR_STATE_LOCKED, "passphrase does not open it");
    CHECK_CODE(second, dpop_http_load_state(second, path, NULL), DPOP_ERR_INVALID_ARGUMENT, "passphrase is required");
    dpop_http *foreign = http_for("another.client");
    CHECK_CODE(foreign, dpop_http_load_state(foreign, path, PASSPHRASE), DPOP_ERR_STATE_FOREIGN,
               "belongs to client 'm2m.dpop'");
    dpop_http_free(foreign);
    dpop_http *bare = dpop_http_new();
    CHECK_CODE(bare, dpop_http_load_state(bare, path, PASSPHRASE), DPOP_ERR_TOKEN_CONFIG, "set the token settings");
    dpop_http_free(bare);
    unsigned char saved[8192];
    long saved_len = read_file(path, saved, sizeof saved);
    CHECK(saved_len > 100);
    CHECK(dpop_http_load_state(second, path, PASSPHRASE) == DPOP_OK);
    CHECK(get_ok(second));
    CHECK(stat_of("client_credentials_grants") == 1);
    CHECK(stat_of("refresh_grants") == 1);
    unsigned char rotated[8192];
    long rotated_len = read_file(path, rotated, sizeof rotated);
    CHECK(rotated_len == saved_len && memcmp(rotated, saved, (size_t)saved_len) != 0); /* saved again */
    dpop_http_free(second);

    /* 3. A third object works from what the second saved by itself. */
    dpop_http *third = http_for("m2m.dpop");
    CHECK(dpop_http_load_state(third, path, PASSPHRASE) == DPOP_OK);
    CHECK(get_ok(third));
    CHECK(stat_of("refresh_grants") == 2);
    CHECK(stat_of("client_credentials_grants") == 1);
    long token_requests = stat_of("token_requests");

    /* 4. Damaged, cut, empty and foreign files: corrupt, and the object keeps its state. */
    if (rotated_len > 0) {
        unsigned char copy[8192];
        memcpy(copy, rotated, (size_t)rotated_len);
        copy[rotated_len / 2] ^= 0x20;
        write_file(damaged, copy, (size_t)rotated_len);
        CHECK_CODE(third, dpop_http_load_state(third, damaged, PASSPHRASE), DPOP_ERR_STATE_CORRUPT, "damaged");
        write_file(damaged, rotated, (size_t)rotated_len - 1);
        CHECK_CODE(third, dpop_http_load_state(third, damaged, PASSPHRASE), DPOP_ERR_STATE_CORRUPT, "");
        write_file(damaged, rotated, 0);
        CHECK_CODE(third, dpop_http_load_state(third, damaged, PASSPHRASE), DPOP_ERR_STATE_CORRUPT, "empty");
        const char *json = "{\"refresh_token\":\"x\",\"client_id\":\"m2m.dpop\"}";
        write_file(damaged, (const unsigned char *)json, strlen(json));
        CHECK_CODE(third, dpop_http_load_state(third, damaged, PASSPHRASE), DPOP_ERR_STATE_CORRUPT,
                   "not a libdpop saved state");
        remove(damaged);
        CHECK_CODE(third, dpop_http_load_state(third, damaged, PASSPHRASE), DPOP_ERR_IO, "no saved state");
    }
    CHECK(get_ok(third));
    CHECK(stat_of("token_requests") == token_requests); /* its token and key are as they were */

    /* 5. Clear: the file goes, and so do the key and the tokens. */
    CHECK(dpop_http_clear_state(third, path) == DPOP_OK);
    CHECK(file_size(path) == -1);
    CHECK(dpop_http_get(third, api) == NULL && dpop_last_error_code() == DPOP_ERR_KEY_NOT_LOADED);
    CHECK(dpop_http_clear_state(third, path) == DPOP_OK);
    CHECK_CODE(third, dpop_http_clear_state(third, ""), DPOP_ERR_INVALID_ARGUMENT, "empty");
    dpop_http_free(third);

    /* The session log tells what was saved, without a secret. */
    FILE *f = fopen(log_path, "rb");
    static char log_text[1 << 16];
    size_t log_len = f != NULL ? fread(log_text, 1, sizeof log_text - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    log_text[log_len] = '\0';
    CHECK(contains(log_text, "state loaded from") && contains(log_text, "state saved again to"));
    CHECK(!contains(log_text, PASSPHRASE) && !contains(log_text, WRONG) && !contains(log_text, SECRET));
    CHECK(contains(log_text, "refresh_token=****"));
    remove(log_path);

    dpop_key_free(key);
    printf("state: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
