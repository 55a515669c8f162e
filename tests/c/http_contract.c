/*
 * http_contract: the dpop_http and dpop_response C API against the local test server
 * (run through tests/with_server.sh, which sets DPOP_TOKEN_ENDPOINT and DPOP_API_URL).
 * Bad arguments give their codes and messages, requests work end to end, the response
 * accessors behave, and the session log holds no secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpop.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <pthread.h>
#endif

#include "check.h"

/* The call returns `want` and the object's LastErrorText mentions `needle`. */
#define CHECK_HTTP(http, expr, want, needle)                                             \
    do {                                                                                 \
        dpop_status got_ = (expr);                                                       \
        char text_[1024] = "";                                                           \
        dpop_http_last_error_text((http), text_, sizeof text_, NULL);                    \
        CHECK(got_ == (want));                                                           \
        CHECK(strstr(text_, (needle)) != NULL);                                          \
        if (got_ != (want) || strstr(text_, (needle)) == NULL) {                         \
            fprintf(stderr, "  got %s: %s\n", dpop_error_name(got_), text_);             \
        }                                                                                \
    } while (0)

static const char *SECRET = "c-test-secret-8JqL2vX";

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    static char data[1 << 20];
    size_t n = fread(data, 1, sizeof data - 1, f);
    fclose(f);
    data[n] = '\0';
    return data;
}

static void test_arguments(void) {
    dpop_http *http = dpop_http_new();
    CHECK(http != NULL);
    CHECK(dpop_http_get(NULL, "https://a/") == NULL);
    CHECK(dpop_last_error_code() == DPOP_ERR_NULL_POINTER);
    CHECK(dpop_http_set_key(NULL, NULL) == DPOP_ERR_NULL_POINTER);
    CHECK_HTTP(http, dpop_http_set_key(http, NULL), DPOP_ERR_NULL_POINTER, "'key' is NULL");
    dpop_key *empty = dpop_key_new();
    CHECK_HTTP(http, dpop_http_set_key(http, empty), DPOP_ERR_KEY_NOT_LOADED, "holds no key");
    dpop_key_free(empty);
    CHECK_HTTP(http, dpop_http_set_auth_token(http, "{\"client_id\":\"a\"}"), DPOP_ERR_TOKEN_CONFIG, "lack");
    CHECK_HTTP(http, dpop_http_set_auth_token(http, "not json"), DPOP_ERR_TOKEN_CONFIG, "not valid JSON");
    CHECK_HTTP(http, dpop_http_set_auth_token(http, "{\"client_id\":\"\xff\"}"), DPOP_ERR_INVALID_UTF8, "'json'");
    CHECK_HTTP(http, dpop_http_set_timeouts(http, 0, 100), DPOP_ERR_INVALID_ARGUMENT, "greater than 0");
    CHECK_HTTP(http, dpop_http_set_ca_file(http, "/nonexistent/ca.pem"), DPOP_ERR_IO, "cannot read CA file");
    CHECK_HTTP(http, dpop_http_set_proxy(http, "::not a url::"), DPOP_ERR_HTTP_CONFIG, "proxy");
    CHECK_HTTP(http, dpop_http_set_session_log(http, "/nonexistent/dir/log.txt"), DPOP_ERR_IO, "session log");
    CHECK_HTTP(http, dpop_http_set_user_agent(http, "a\r\nb"), DPOP_ERR_INVALID_ARGUMENT, "user agent");
    CHECK(dpop_http_get(http, "http://example.com/") == NULL);
    CHECK(dpop_http_last_status(http) == 0);
    CHECK_HTTP(http, dpop_last_error_code(), DPOP_ERR_HTTP_INSECURE, "refusing plain http://");
    CHECK(dpop_http_get(http, "not a url") == NULL);
    CHECK(dpop_last_error_code() == DPOP_ERR_HTTP_URL);
    dpop_response *resp = NULL;
    CHECK_HTTP(http, dpop_http_request(http, "GET", "https://a/", "NoColonHere", NULL, 0, &resp),
               DPOP_ERR_INVALID_ARGUMENT, "'Name: value'");
    CHECK_HTTP(http, dpop_http_request(http, "GET", "https://a/", "DPoP: x", NULL, 0, &resp),
               DPOP_ERR_INVALID_ARGUMENT, "set by libdpop");
    CHECK_HTTP(http, dpop_http_request(http, "GET", "https://a/", NULL, NULL, 0, NULL), DPOP_ERR_NULL_POINTER,
               "'out'");
    CHECK(resp == NULL);
    size_t size = 0;
    CHECK_HTTP(http, dpop_http_token_info(http, NULL, 0, &size), DPOP_ERR_NOT_FOUND, "no access token");
    CHECK(dpop_response_status(NULL) == 0);
    CHECK(dpop_response_body(NULL, &size) == NULL);
    CHECK(dpop_response_header(NULL, "a", NULL, 0, NULL) == DPOP_ERR_NULL_POINTER);
    dpop_response_free(NULL);
    dpop_http_free(NULL);
    dpop_http_free(http);
}

static void test_live(const char *token_endpoint, const char *api_url, const char *log_path) {
    dpop_key *key = dpop_key_new();
    CHECK(dpop_key_generate(key, "ES256") == DPOP_OK);
    dpop_http *http = dpop_http_new();
    CHECK(dpop_http_set_key(http, key) == DPOP_OK);
    dpop_key_free(key); /* the object keeps its own reference */
    char settings[1024];
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\",\"token_endpoint\":\"%s\",\"scope\":\"api\","
             "\"auth_method\":\"client_secret_basic\"}",
             SECRET, token_endpoint);
    CHECK(dpop_http_set_auth_token(http, settings) == DPOP_OK);
    CHECK(dpop_http_set_session_log(http, log_path) == DPOP_OK);

    const char *body = dpop_http_get(http, api_url);
    CHECK(body != NULL);
    CHECK(dpop_http_last_status(http) == 200);
    CHECK(body != NULL && strstr(body, "\"client_id\":\"m2m.dpop\"") != NULL);

    char info[512];
    CHECK(dpop_http_token_info(http, info, sizeof info, NULL) == DPOP_OK);
    CHECK(strstr(info, "\"token_type\":\"DPoP\"") != NULL);

    /* A general request: method, headers, body; the response's accessors. */
    char echo_url[512];
    snprintf(echo_url, sizeof echo_url, "%s", api_url);
    char *last_slash = strrchr(echo_url, '/');
    snprintf(last_slash, sizeof echo_url - (size_t)(last_slash - echo_url), "/echo?x=1");
    const char *payload = "{\"hello\":\"world\"}";
    dpop_response *resp = NULL;
    CHECK(dpop_http_request(http, "POST", echo_url, "X-Test: c-contract\r\nContent-Type: application/json",
                            (const uint8_t *)payload, strlen(payload), &resp) == DPOP_OK);
    CHECK(resp != NULL);
    CHECK(dpop_response_status(resp) == 200);
    CHECK(dpop_http_last_status(http) == 200);
    size_t len = 0;
    const char *text = (const char *)dpop_response_body(resp, &len);
    CHECK(text != NULL && strlen(text) == len);
    CHECK(strstr(text, "\"x-test\":\"c-contract\"") != NULL);
    CHECK(strstr(text, "\"method\":\"POST\"") != NULL);
    char value[256];
    size_t size = 0;
    CHECK(dpop_response_header(resp, "Content-Type", value, sizeof value, &size) == DPOP_OK);
    CHECK(strncmp(value, "application/json", 16) == 0);
    CHECK(dpop_response_header(resp, "X-Absent", value, sizeof value, &size) == DPOP_ERR_NOT_FOUND);
    CHECK(dpop_response_headers(resp, NULL, 0, &size) == DPOP_ERR_BUFFER_TOO_SMALL);
    char *all = malloc(size);
    CHECK(dpop_response_headers(resp, all, size, &size) == DPOP_OK);
    CHECK(strstr(all, "content-type: application/json") != NULL);
    free(all);
    dpop_response_free(resp);

    /* A 404 is a response, not an error. */
    char missing_url[512];
    snprintf(missing_url, sizeof missing_url, "%s", token_endpoint);
    char *token_path = strrchr(missing_url, '/');
    snprintf(token_path, sizeof missing_url - (size_t)(token_path - missing_url), "/nope");
    body = dpop_http_get(http, missing_url);
    CHECK(body != NULL);
    CHECK(dpop_http_last_status(http) == 404);
    dpop_http_free(http);

    /* The session log masks the credentials. */
    const char *log = read_file(log_path);
    CHECK(log != NULL);
    if (log != NULL) {
        CHECK(strstr(log, "authorization: Basic ****") != NULL);
        CHECK(strstr(log, "authorization: DPoP ****") != NULL);
        CHECK(strstr(log, "dpop: ****") != NULL);
        CHECK(strstr(log, "x-test: c-contract") != NULL);
        CHECK(strstr(log, SECRET) == NULL);
    }
}

/* One shared object, many threads: each sees its own status, body and error text. POSIX
 * threads, and on Windows its own threads (CreateThread), so that make windows runs it under
 * Wine too. */
struct shared_call {
    dpop_http *http;
    const char *api_url;
    int thread;
    int ok;
};

static void hammer(struct shared_call *call) {
    call->ok = 1;
    for (int i = 0; i < 5; i++) {
        const char *body = dpop_http_get(call->http, call->api_url);
        if (body == NULL || dpop_http_last_status(call->http) != 200 || strstr(body, "m2m.dpop") == NULL) {
            call->ok = 0;
        }
        /* A failure of this thread's own, recorded for this thread only. */
        char url[64];
        snprintf(url, sizeof url, "ftp://thread-%d.example/", call->thread);
        if (dpop_http_get(call->http, url) != NULL || dpop_http_last_status(call->http) != 0) {
            call->ok = 0;
        }
        char text[512] = "";
        dpop_http_last_error_text(call->http, text, sizeof text, NULL);
        char mine[64];
        snprintf(mine, sizeof mine, "thread-%d.example", call->thread);
        if (strstr(text, mine) == NULL) {
            call->ok = 0;
        }
    }
}

#ifdef _WIN32
typedef HANDLE thread_handle;

static DWORD WINAPI hammer_thread(LPVOID arg) {
    hammer(arg);
    return 0;
}

static int thread_start(thread_handle *thread, struct shared_call *call) {
    *thread = CreateThread(NULL, 0, hammer_thread, call, 0, NULL);
    return *thread != NULL;
}

static void thread_join(thread_handle thread) {
    WaitForSingleObject(thread, INFINITE);
    CloseHandle(thread);
}
#else
typedef pthread_t thread_handle;

static void *hammer_thread(void *arg) {
    hammer(arg);
    return NULL;
}

static int thread_start(thread_handle *thread, struct shared_call *call) {
    return pthread_create(thread, NULL, hammer_thread, call) == 0;
}

static void thread_join(thread_handle thread) {
    pthread_join(thread, NULL);
}
#endif

static void test_threads(const char *token_endpoint, const char *api_url) {
    dpop_key *key = dpop_key_new();
    CHECK(dpop_key_generate(key, "ES256") == DPOP_OK);
    dpop_http *http = dpop_http_new();
    CHECK(dpop_http_set_key(http, key) == DPOP_OK);
    char settings[1024];
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\",\"token_endpoint\":\"%s\"}", SECRET,
             token_endpoint);
    CHECK(dpop_http_set_auth_token(http, settings) == DPOP_OK);
    /* This thread's body stays valid while other threads make their own calls (valgrind
     * reports a read of freed memory if it does not). */
    const char *mine = dpop_http_get(http, api_url);
    CHECK(mine != NULL);
    static char seen[1 << 16];
    snprintf(seen, sizeof seen, "%s", mine != NULL ? mine : "");
    enum { THREADS = 8 };
    thread_handle threads[THREADS];
    struct shared_call calls[THREADS];
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        calls[i] = (struct shared_call){http, api_url, i, 0};
        if (!thread_start(&threads[started], &calls[i])) {
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        thread_join(threads[i]);
        CHECK(calls[i].ok);
    }
    CHECK(started == THREADS);
    CHECK(mine != NULL && strcmp(mine, seen) == 0);
    CHECK(dpop_http_last_status(http) == 200);
    char text[256] = "unset";
    CHECK(dpop_http_last_error_text(http, text, sizeof text, NULL) == DPOP_OK && text[0] == '\0');
    dpop_http_free(http);
    dpop_key_free(key);
}

int main(void) {
    const char *token_endpoint = getenv("DPOP_TOKEN_ENDPOINT");
    const char *api_url = getenv("DPOP_API_URL");
    if (token_endpoint == NULL || api_url == NULL) {
        fprintf(stderr, "run through tests/with_server.sh (DPOP_TOKEN_ENDPOINT, DPOP_API_URL)\n");
        return 2;
    }
    test_arguments();
    const char *build = getenv("BUILD_DIR") != NULL ? getenv("BUILD_DIR") : "build";
    char log_path[512];
    snprintf(log_path, sizeof log_path, "%s/http_contract.log", build);
    remove(log_path);
    test_live(token_endpoint, api_url, log_path);
    test_threads(token_endpoint, api_url);
    printf("http_contract: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
