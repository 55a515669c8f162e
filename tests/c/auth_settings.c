/*
 * auth_settings: the AuthToken settings of issue 14 through the C API, against real local test
 * servers, one per set of server flags. The program starts them itself (fork and exec of
 * target/release/dpop-test-server, or $DPOP_TEST_SERVER), because the private_key_jwt server
 * must be told the public JWK of an RSA key this program generates first.
 *
 *   - private_key_jwt with an RSA assertion key from dpop_key_generate_rsa (its private JWK as
 *     client_assertion_key; the server registers its public JWK with --client-key and accepts
 *     only aud = issuer), with discovery through `issuer`; the same key as a PKCS#8 file with
 *     RS256 (dpop_key_set_alg) at a plain token_endpoint; profile fapi2;
 *   - a server whose clock is 300 s ahead (--clock-offset 300): requests work and
 *     dpop_http_token_info reports clock_offset; with clock_correction off the token endpoint
 *     rejects the proof (DPOP_ERR_PROOF_REJECTED);
 *   - an API that accepts only PS256 (--api-algs): DPOP_ERR_ALG_UNSUPPORTED with an ES256 key,
 *     200 with an RSA key; a token endpoint whose metadata lists only PS256 (--dpop-algs);
 *   - DPOP_ERR_ISSUER_MISMATCH (--issuer-override), DPOP_ERR_METADATA (--metadata-fault),
 *     DPOP_ERR_PROFILE_VIOLATION, DPOP_ERR_ASSERTION_KEY;
 *   - the diagnostic in dpop_http_last_error_text after a 401 for a host token bound to
 *     another key.
 * POSIX only (fork, exec, kill); run by make c-test under valgrind and by make sanitize.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dpop.h"

#include "check.h"

static const char *SECRET = "c-settings-secret-R4nW8q";
static const char *build_dir = "build";

/* The call's status is `want` and the object's LastErrorText mentions `needle`. */
#define CHECK_CODE(http, got_expr, want, needle)                                      \
    do {                                                                              \
        dpop_status got_ = (got_expr);                                                \
        char text_[4096] = "";                                                        \
        dpop_http_last_error_text((http), text_, sizeof text_, NULL);                 \
        int ok_ = got_ == (want) && strstr(text_, (needle)) != NULL;                  \
        CHECK(ok_);                                                                   \
        if (!ok_) {                                                                   \
            fprintf(stderr, "  want %s, got %s: %s\n", #want, dpop_error_name(got_), text_); \
        }                                                                             \
    } while (0)

/* ---- test servers ---------------------------------------------------------------------- */

struct server {
    pid_t pid;
    char base[64];  /* http://127.0.0.1:PORT, also the issuer */
    char token[96]; /* base + /token */
    char api[96];   /* base + /dpop/test */
};

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Starts a test server with `flags` (NULL-terminated) on a free port, its client_secret_post
 * client m2m.dpop with SECRET; 0 when it did not. */
static int server_start(struct server *s, const char *name, const char *const *flags) {
    const char *binary = getenv("DPOP_TEST_SERVER");
    if (binary == NULL || binary[0] == '\0') {
        binary = "target/release/dpop-test-server";
    }
    char port_file[512], log_file[512];
    snprintf(port_file, sizeof port_file, "%s/auth_settings-%s.port", build_dir, name);
    snprintf(log_file, sizeof log_file, "%s/auth_settings-%s.log", build_dir, name);
    remove(port_file);
    char client[128];
    snprintf(client, sizeof client, "m2m.dpop:%s", SECRET);
    const char *argv[32] = {binary, "--port", "0", "--port-file", port_file, "--client", client};
    int argc = 7;
    for (int i = 0; flags[i] != NULL && argc < 31; i++) {
        argv[argc++] = flags[i];
    }
    argv[argc] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        return 0;
    }
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL || freopen(log_file, "w", stderr) == NULL) {
            _exit(126);
        }
        execv(binary, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 400; i++) { /* up to 20 s: valgrind is slow to start nothing, but still */
        FILE *f = fopen(port_file, "r");
        int port = 0;
        if (f != NULL) {
            if (fscanf(f, "%d", &port) != 1) {
                port = 0;
            }
            fclose(f);
        }
        if (port > 0) {
            snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", port);
            snprintf(s->token, sizeof s->token, "%s/token", s->base);
            snprintf(s->api, sizeof s->api, "%s/dpop/test", s->base);
            remove(port_file);
            return 1;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "the test server '%s' exited; see %s\n", name, log_file);
            s->pid = 0;
            return 0;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "the test server '%s' reported no port\n", name);
    return 0;
}

static void server_stop(struct server *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* ---- helpers --------------------------------------------------------------------------- */

/* dpop_http_get's outcome as a status code: DPOP_OK with a body, else the thread's last error. */
static dpop_status get(dpop_http *http, const char *url) {
    return dpop_http_get(http, url) != NULL ? DPOP_OK : dpop_last_error_code();
}

/* Settings that are refused, when set or at the latest at the first request: the code. */
static dpop_status set_then_get(dpop_http *http, const char *settings, const char *url) {
    dpop_status status = dpop_http_set_auth_token(http, settings);
    return status != DPOP_OK ? status : get(http, url);
}

static dpop_key *generated(const char *alg) {
    dpop_key *key = dpop_key_new();
    CHECK(dpop_key_generate(key, alg) == DPOP_OK);
    return key;
}

static dpop_http *http_with(const dpop_key *key, const char *settings) {
    dpop_http *http = dpop_http_new();
    CHECK(dpop_http_set_key(http, key) == DPOP_OK);
    if (settings != NULL) {
        dpop_status status = dpop_http_set_auth_token(http, settings);
        CHECK(status == DPOP_OK);
        if (status != DPOP_OK) {
            char text[2048] = "";
            dpop_http_last_error_text(http, text, sizeof text, NULL);
            fprintf(stderr, "  set_auth_token: %s: %s\n", dpop_error_name(status), text);
        }
    }
    return http;
}

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* The number after "name": in a JSON text, or `fallback`. */
static long json_number(const char *json, const char *name, long fallback) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", name);
    const char *at = strstr(json, pattern);
    if (at == NULL) {
        return fallback;
    }
    char *end = NULL;
    long value = strtol(at + strlen(pattern), &end, 10);
    return end == at + strlen(pattern) ? fallback : value;
}

/* The server's GET /stats, by an object without settings (a plain request), copied. */
static const char *server_stats(const struct server *s) {
    static char copy[1 << 16];
    char url[128];
    snprintf(url, sizeof url, "%s/stats", s->base);
    dpop_http *plain = dpop_http_new();
    const char *body = dpop_http_get(plain, url);
    snprintf(copy, sizeof copy, "%s", body != NULL ? body : "");
    dpop_http_free(plain);
    return body != NULL ? copy : NULL;
}

/* The client_secret_post settings of m2m.dpop at `token_endpoint`, with `extra` members. */
static void secret_settings(char *out, size_t size, const char *token_endpoint, const char *extra) {
    snprintf(out, size, "{\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\",\"token_endpoint\":\"%s\",\"scope\":\"api\"%s}",
             SECRET, token_endpoint, extra);
}

/* ---- the tests ------------------------------------------------------------------------- */

/* private_key_jwt with an RSA assertion key, discovery, fapi2, and the settings errors that
 * need a working server: a profile violation and an assertion key that does not load. */
static void test_private_key_jwt(void) {
    dpop_key *rsa = dpop_key_new();
    CHECK(dpop_key_generate_rsa(rsa, 2048, "PS256") == DPOP_OK);
    CHECK(rsa != NULL && dpop_key_alg(rsa) != NULL && strcmp(dpop_key_alg(rsa), "PS256") == 0);
    static char private_jwk[8192], public_jwk[4096], pem[8192];
    CHECK(dpop_key_private_jwk(rsa, private_jwk, sizeof private_jwk, NULL) == DPOP_OK);
    CHECK(dpop_key_public_jwk(rsa, public_jwk, sizeof public_jwk, NULL) == DPOP_OK);
    CHECK(dpop_key_private_pem(rsa, NULL, pem, sizeof pem, NULL) == DPOP_OK);
    CHECK(contains(private_jwk, "\"d\":") && !contains(public_jwk, "\"d\":"));

    static char client_key[4200];
    snprintf(client_key, sizeof client_key, "pkjwt.c:%s", public_jwk);
    const char *flags[] = {"--client-key", client_key, "--assertion-aud-issuer-only", NULL};
    struct server s;
    if (!server_start(&s, "pkjwt", flags)) {
        CHECK(!"the private_key_jwt server started");
        dpop_key_free(rsa);
        return;
    }

    /* Discovery through issuer, the private JWK (an object) as the assertion key. */
    static char settings[16384];
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"pkjwt.c\",\"issuer\":\"%s\",\"auth_method\":\"private_key_jwt\","
             "\"client_assertion_key\":%s,\"scope\":\"api\"}",
             s.base, private_jwk);
    dpop_key *ec = generated("ES256");
    dpop_http *http = http_with(ec, settings);
    const char *body = dpop_http_get(http, s.api);
    CHECK(body != NULL && dpop_http_last_status(http) == 200);
    CHECK(contains(body, "\"client_id\":\"pkjwt.c\""));
    if (body == NULL || dpop_http_last_status(http) != 200) {
        char text[2048] = "";
        dpop_http_last_error_text(http, text, sizeof text, NULL);
        fprintf(stderr, "  private_key_jwt + issuer: %d %s / %s\n", dpop_http_last_status(http), body ? body : "",
                text);
    }
    /* The server saw the metadata fetched and one assertion, its aud the issuer. */
    char aud[128];
    snprintf(aud, sizeof aud, "\"assertion_auds\":[\"%s\"]", s.base);
    const char *stats = server_stats(&s);
    CHECK(contains(stats, aud));
    CHECK(stats != NULL && json_number(stats, "metadata_requests", 0) >= 1);
    CHECK(stats != NULL && json_number(stats, "tokens_issued", 0) == 1);
    dpop_http_free(http);

    /* The same key as a PKCS#8 file signing RS256 (dpop_key_set_alg keeps the thumbprint), at a
     * token_endpoint without discovery; the RSA key as the DPoP key too. */
    char thumb_ps[64], thumb_rs[64];
    CHECK(dpop_key_thumbprint(rsa, thumb_ps, sizeof thumb_ps, NULL) == DPOP_OK);
    CHECK(dpop_key_set_alg(rsa, "RS256") == DPOP_OK);
    CHECK(dpop_key_alg(rsa) != NULL && strcmp(dpop_key_alg(rsa), "RS256") == 0);
    CHECK(dpop_key_thumbprint(rsa, thumb_rs, sizeof thumb_rs, NULL) == DPOP_OK && strcmp(thumb_ps, thumb_rs) == 0);
    CHECK(dpop_key_set_alg(rsa, "ES256") == DPOP_ERR_INVALID_ARGUMENT);
    char pem_path[512];
    snprintf(pem_path, sizeof pem_path, "%s/auth_settings-rsa.pem", build_dir);
    FILE *f = fopen(pem_path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(pem, f);
        fclose(f);
    }
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"pkjwt.c\",\"token_endpoint\":\"%s\",\"auth_method\":\"private_key_jwt\","
             "\"client_assertion_key\":\"%s\",\"client_assertion_alg\":\"RS256\",\"issuer\":\"%s\"}",
             s.token, pem_path, s.base);
    http = http_with(rsa, settings);
    body = dpop_http_get(http, s.api);
    CHECK(body != NULL && dpop_http_last_status(http) == 200);
    CHECK(contains(body, "\"client_id\":\"pkjwt.c\""));
    CHECK(contains(body, thumb_rs)); /* the token's cnf.jkt: the RSA DPoP key */
    dpop_http_free(http);

    /* FAPI 2.0: issuer, private_key_jwt with PS256, an ES256 DPoP key: works. */
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"pkjwt.c\",\"issuer\":\"%s\",\"auth_method\":\"private_key_jwt\","
             "\"client_assertion_key\":%s,\"profile\":\"fapi2\"}",
             s.base, private_jwk);
    http = http_with(ec, settings);
    CHECK_CODE(http, get(http, s.api), DPOP_OK, "");
    CHECK(dpop_http_last_status(http) == 200);
    dpop_http_free(http);

    /* FAPI 2.0 violations, refused before anything is sent: a client secret; an ES384 DPoP key;
     * an RS256 assertion. */
    stats = server_stats(&s);
    long issued = stats != NULL ? json_number(stats, "token_requests", -1) : -1;
    http = http_with(ec, NULL);
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\",\"issuer\":\"%s\",\"profile\":\"fapi2\"}", SECRET,
             s.base);
    dpop_status status = set_then_get(http, settings, s.api);
    CHECK_CODE(http, status, DPOP_ERR_PROFILE_VIOLATION, "FAPI 2.0");
    dpop_http_free(http);

    dpop_key *es384 = generated("ES384");
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"pkjwt.c\",\"issuer\":\"%s\",\"auth_method\":\"private_key_jwt\","
             "\"client_assertion_key\":%s,\"profile\":\"fapi2\"}",
             s.base, private_jwk);
    http = http_with(es384, NULL);
    status = set_then_get(http, settings, s.api);
    CHECK_CODE(http, status, DPOP_ERR_PROFILE_VIOLATION, "ES384");
    dpop_http_free(http);
    dpop_key_free(es384);

    snprintf(settings, sizeof settings,
             "{\"client_id\":\"pkjwt.c\",\"issuer\":\"%s\",\"auth_method\":\"private_key_jwt\","
             "\"client_assertion_key\":%s,\"client_assertion_alg\":\"RS256\",\"profile\":\"fapi2\"}",
             s.base, private_jwk);
    http = http_with(ec, NULL);
    status = set_then_get(http, settings, s.api);
    CHECK_CODE(http, status, DPOP_ERR_PROFILE_VIOLATION, "RS256");
    stats = server_stats(&s);
    CHECK(issued > 0 && stats != NULL && json_number(stats, "token_requests", -2) == issued);
    dpop_http_free(http);

    /* Assertion keys that do not load: not a key, a missing file, a public JWK. */
    const char *bad_keys[] = {"\"not a key\"", "\"/nonexistent/assertion-key.pem\"", public_jwk};
    const char *bad_needles[] = {"", "nonexistent", ""};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        snprintf(settings, sizeof settings,
                 "{\"client_id\":\"pkjwt.c\",\"issuer\":\"%s\",\"auth_method\":\"private_key_jwt\","
                 "\"client_assertion_key\":%s}",
                 s.base, bad_keys[i]);
        http = http_with(ec, NULL);
        status = set_then_get(http, settings, s.api);
        CHECK_CODE(http, status, DPOP_ERR_ASSERTION_KEY, bad_needles[i]);
        dpop_http_free(http);
    }

    /* The diagnostic: a token issued for one key, used by the host with another. The token is
     * fetched by hand (a general request to the token endpoint), since token_info never shows it. */
    dpop_key *other = generated("EdDSA");
    http = http_with(other, NULL);
    char form[256];
    snprintf(form, sizeof form, "grant_type=client_credentials&client_id=m2m.dpop&scope=api&client_secret=%s",
             SECRET);
    dpop_response *resp = NULL;
    CHECK(dpop_http_request(http, "POST", s.token, "Content-Type: application/x-www-form-urlencoded",
                            (const uint8_t *)form, strlen(form), &resp) == DPOP_OK);
    CHECK(resp != NULL && dpop_response_status(resp) == 200);
    static char token[4096] = "";
    if (resp != NULL) {
        const char *json = (const char *)dpop_response_body(resp, NULL);
        const char *at = json != NULL ? strstr(json, "\"access_token\":\"") : NULL;
        if (at != NULL) {
            at += strlen("\"access_token\":\"");
            size_t n = strcspn(at, "\"");
            if (n < sizeof token) {
                memcpy(token, at, n);
                token[n] = '\0';
            }
        }
        dpop_response_free(resp);
    }
    CHECK(strlen(token) > 40);
    dpop_http_free(http);
    char other_thumb[64], ec_thumb[64];
    CHECK(dpop_key_thumbprint(other, other_thumb, sizeof other_thumb, NULL) == DPOP_OK);
    CHECK(dpop_key_thumbprint(ec, ec_thumb, sizeof ec_thumb, NULL) == DPOP_OK);
    http = http_with(ec, NULL);
    CHECK(dpop_http_set_access_token(http, token, NULL) == DPOP_OK);
    body = dpop_http_get(http, s.api);
    CHECK(body != NULL); /* the 401 is a response */
    CHECK(dpop_http_last_status(http) == 401);
    char text[4096] = "";
    CHECK(dpop_http_last_error_text(http, text, sizeof text, NULL) == DPOP_OK);
    CHECK(contains(text, "The server rejected the DPoP proof; probably the key"));
    CHECK(contains(text, other_thumb)); /* the token's cnf.jkt */
    CHECK(contains(text, ec_thumb));    /* the proof's key */
    CHECK(!contains(text, token));
    if (!contains(text, "probably the key")) {
        fprintf(stderr, "  the diagnostic: %s\n", text);
    }
    /* A later success clears it. */
    CHECK(dpop_http_set_access_token(http, NULL, NULL) == DPOP_OK);
    char plain[512];
    secret_settings(plain, sizeof plain, s.token, "");
    CHECK(dpop_http_set_auth_token(http, plain) == DPOP_OK);
    CHECK(get(http, s.api) == DPOP_OK && dpop_http_last_status(http) == 200);
    text[0] = 'x';
    CHECK(dpop_http_last_error_text(http, text, sizeof text, NULL) == DPOP_OK && text[0] == '\0');
    dpop_http_free(http);
    dpop_key_free(other);

    dpop_key_free(ec);
    dpop_key_free(rsa);
    remove(pem_path);
    server_stop(&s);
}

/* A server whose clock is 300 s ahead. */
static void test_clock_offset(void) {
    const char *flags[] = {"--clock-offset", "300", NULL};
    struct server s;
    if (!server_start(&s, "skew", flags)) {
        CHECK(!"the skewed server started");
        return;
    }
    dpop_key *key = generated("ES256");
    char settings[1024];
    secret_settings(settings, sizeof settings, s.token, "");
    dpop_http *http = http_with(key, settings);
    CHECK_CODE(http, get(http, s.api), DPOP_OK, "");
    CHECK(dpop_http_last_status(http) == 200);
    char info[512] = "";
    CHECK(dpop_http_token_info(http, info, sizeof info, NULL) == DPOP_OK);
    long offset = json_number(info, "clock_offset", -1000);
    CHECK(offset >= 295 && offset <= 305);
    if (offset < 295 || offset > 305) {
        fprintf(stderr, "  token_info: %s\n", info);
    }
    CHECK_CODE(http, get(http, s.api), DPOP_OK, ""); /* the token again, proofs on server time */
    CHECK(dpop_http_last_status(http) == 200);
    dpop_http_free(http);

    /* Clock correction off: the token endpoint rejects the proof's iat. */
    secret_settings(settings, sizeof settings, s.token, ",\"clock_correction\":false");
    http = http_with(key, settings);
    CHECK_CODE(http, get(http, s.api), DPOP_ERR_PROOF_REJECTED, "The server rejected the DPoP proof; probably the time");
    CHECK_CODE(http, get(http, s.api), DPOP_ERR_PROOF_REJECTED, "clock_correction");
    dpop_http_free(http);
    dpop_key_free(key);
    server_stop(&s);
}

/* Algorithms the servers accept. */
static void test_algorithms(void) {
    const char *api_flags[] = {"--api-algs", "PS256", NULL};
    struct server s;
    if (!server_start(&s, "api-algs", api_flags)) {
        CHECK(!"the --api-algs server started");
        return;
    }
    char settings[1024];
    secret_settings(settings, sizeof settings, s.token, "");
    dpop_key *ec = generated("ES256");
    dpop_http *http = http_with(ec, settings);
    CHECK_CODE(http, get(http, s.api), DPOP_ERR_ALG_UNSUPPORTED, "PS256");
    dpop_http_free(http);
    dpop_key *rsa = dpop_key_new();
    CHECK(dpop_key_generate_rsa(rsa, 2048, NULL) == DPOP_OK);
    http = http_with(rsa, settings);
    CHECK_CODE(http, get(http, s.api), DPOP_OK, "");
    CHECK(dpop_http_last_status(http) == 200);
    dpop_http_free(http);
    dpop_key_free(rsa);
    server_stop(&s);

    /* The token endpoint's metadata lists PS256 only: refused before any token request. */
    const char *dpop_flags[] = {"--dpop-algs", "PS256", NULL};
    if (!server_start(&s, "dpop-algs", dpop_flags)) {
        CHECK(!"the --dpop-algs server started");
        dpop_key_free(ec);
        return;
    }
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\",\"issuer\":\"%s\"}", SECRET, s.base);
    http = http_with(ec, settings);
    CHECK_CODE(http, get(http, s.api), DPOP_ERR_ALG_UNSUPPORTED, "PS256");
    const char *stats = server_stats(&s);
    CHECK(stats != NULL && json_number(stats, "token_requests", -1) == 0);
    dpop_http_free(http);
    dpop_key_free(ec);
    server_stop(&s);
}

/* Metadata that names another issuer, and metadata that is not JSON. */
static void test_metadata_errors(void) {
    struct {
        const char *name;
        const char *flag;
        const char *value;
        dpop_status want;
        const char *needle;
    } cases[] = {
        {"issuer-override", "--issuer-override", "https://issuer.example", DPOP_ERR_ISSUER_MISMATCH,
         "https://issuer.example"},
        {"metadata-not-json", "--metadata-fault", "not-json", DPOP_ERR_METADATA, ""},
        {"metadata-no-endpoint", "--metadata-fault", "no-token-endpoint", DPOP_ERR_METADATA, "token_endpoint"},
    };
    dpop_key *key = generated("ES256");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *flags[] = {cases[i].flag, cases[i].value, NULL};
        struct server s;
        if (!server_start(&s, cases[i].name, flags)) {
            CHECK(!"the metadata server started");
            continue;
        }
        char settings[1024];
        snprintf(settings, sizeof settings,
                 "{\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\",\"issuer\":\"%s\"}", SECRET, s.base);
        dpop_http *http = http_with(key, settings);
        CHECK_CODE(http, get(http, s.api), cases[i].want, cases[i].needle);
        dpop_http_free(http);
        server_stop(&s);
    }
    dpop_key_free(key);
}

int main(void) {
    if (getenv("BUILD_DIR") != NULL && getenv("BUILD_DIR")[0] != '\0') {
        build_dir = getenv("BUILD_DIR");
    }
    test_private_key_jwt();
    test_clock_offset();
    test_algorithms();
    test_metadata_errors();
    printf("auth_settings: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
