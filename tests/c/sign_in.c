/*
 * sign_in: signing a user in (authorization code + PKCE + DPoP) through the C API, against real
 * local test servers this program starts (fork and exec of target/release/dpop-test-server, or
 * $DPOP_TEST_SERVER), one per set of server flags.
 *
 * The browser is this same program: run with a URL as its only argument (which is how
 * DPOP_BROWSER runs a program) it GETs the authorization URL and follows the redirect to the
 * loopback listener, like a browser whose user has already signed in. The tests also run that
 * browser in a thread of their own, for the sign-ins they start without opening a browser.
 *
 *   - dpop_http_sign_in with DPOP_BROWSER = this program: DPOP_OK, then the API answers 200 with
 *     a token bound to the key; DPOP_ERR_SIGN_IN_REQUIRED before signing in;
 *   - dpop_http_sign_in_url: DPOP_ERR_NOT_FOUND without a sign-in, the URL (dpop_jkt, S256)
 *     with one, DPOP_ERR_BUFFER_TOO_SMALL with the size needed;
 *   - dpop_http_sign_in_wait: DPOP_ERR_PENDING, then DPOP_OK; DPOP_ERR_CANCELLED after
 *     dpop_http_sign_in_cancel from another thread; DPOP_ERR_SIGN_IN for access_denied;
 *   - PAR required by the server (--require-par); a browser that cannot be started
 *     (DPOP_ERR_SIGN_IN, the URL still there, the sign-in completed by hand);
 *   - the session log holds neither the state nor the tokens.
 * POSIX only (fork, exec, sockets, pthreads); run by make c-test under valgrind and by make
 * sanitize.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dpop.h"

#include "check.h"

static const char *build_dir = "build";
static char self_path[PATH_MAX];

#define CLIENT "desktop.c"
#define WAIT_MS 60000u

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

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* ---- the browser ----------------------------------------------------------------------- */

/* GET of an http://127.0.0.1:PORT/... URL: the status, and the Location header into
 * `location` (may be NULL). -1 when the request failed. */
static int http_get(const char *url, char *location, size_t location_size) {
    const char *prefix = "http://127.0.0.1:";
    if (strncmp(url, prefix, strlen(prefix)) != 0) {
        return -1;
    }
    char *end = NULL;
    long port = strtol(url + strlen(prefix), &end, 10);
    if (port <= 0 || port > 65535 || end == NULL || *end != '/') {
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct timeval timeout = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return -1;
    }
    static _Thread_local char request[8192];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%ld\r\nUser-Agent: sign_in.c\r\nConnection: close\r\n\r\n",
                     end, port);
    if (n < 0 || (size_t)n >= sizeof request || write(fd, request, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    static _Thread_local char response[16384];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof response - 1 && (r = read(fd, response + got, sizeof response - 1 - got)) > 0) {
        got += (size_t)r;
    }
    close(fd);
    response[got] = '\0';
    int status = -1;
    if (sscanf(response, "HTTP/1.1 %d", &status) != 1) {
        return -1;
    }
    if (location != NULL && location_size > 0) {
        location[0] = '\0';
        const char *at = strstr(response, "\r\nLocation: ");
        if (at != NULL) {
            at += strlen("\r\nLocation: ");
            size_t len = strcspn(at, "\r\n");
            if (len < location_size) {
                memcpy(location, at, len);
                location[len] = '\0';
            }
        }
    }
    return status;
}

/* The browser: the authorization endpoint, then its redirect. The listener's status. */
static int browse(const char *url) {
    static _Thread_local char location[8192];
    if (http_get(url, location, sizeof location) != 302 || location[0] == '\0') {
        return -1;
    }
    return http_get(location, NULL, 0);
}

struct browser_run {
    char url[4096];
    int status;
};

static void *browser_thread(void *arg) {
    struct browser_run *run = arg;
    run->status = browse(run->url);
    return NULL;
}

/* ---- test servers ---------------------------------------------------------------------- */

struct server {
    pid_t pid;
    char base[64]; /* http://127.0.0.1:PORT, also the issuer */
    char api[96];
};

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Starts a test server with the public client CLIENT and `flags` (NULL-terminated). */
static int server_start(struct server *s, const char *name, const char *const *flags) {
    const char *binary = getenv("DPOP_TEST_SERVER");
    if (binary == NULL || binary[0] == '\0') {
        binary = "target/release/dpop-test-server";
    }
    char port_file[512], log_file[512];
    snprintf(port_file, sizeof port_file, "%s/sign_in-%s.port", build_dir, name);
    snprintf(log_file, sizeof log_file, "%s/sign_in-%s.log", build_dir, name);
    remove(port_file);
    const char *argv[32] = {binary, "--port", "0", "--port-file", port_file, "--public-client", CLIENT};
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
    for (int i = 0; i < 400; i++) {
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

/* The number after "name": in the server's GET /stats, or -1. */
static long stat_of(const struct server *s, const char *name) {
    char url[128], pattern[64];
    snprintf(url, sizeof url, "%s/stats", s->base);
    snprintf(pattern, sizeof pattern, "\"%s\":", name);
    dpop_http *plain = dpop_http_new();
    const char *body = dpop_http_get(plain, url);
    long value = -1;
    const char *at = body != NULL ? strstr(body, pattern) : NULL;
    if (at != NULL) {
        value = strtol(at + strlen(pattern), NULL, 10);
    }
    dpop_http_free(plain);
    return value;
}

/* An object with a fresh ES256 key and the sign-in settings of `s`, with `extra` members. */
static dpop_http *signing_in(const struct server *s, const char *extra, dpop_key **key_out) {
    dpop_key *key = dpop_key_new();
    CHECK(dpop_key_generate(key, "ES256") == DPOP_OK);
    dpop_http *http = dpop_http_new();
    CHECK(dpop_http_set_key(http, key) == DPOP_OK);
    char settings[1024];
    snprintf(settings, sizeof settings,
             "{\"grant_type\":\"authorization_code\",\"client_id\":\"" CLIENT "\",\"issuer\":\"%s\","
             "\"redirect_uri\":\"http://127.0.0.1:0/callback\",\"scope\":\"api\"%s}",
             s->base, extra);
    CHECK_CODE(http, dpop_http_set_auth_token(http, settings), DPOP_OK, "");
    if (key_out != NULL) {
        *key_out = key;
    } else {
        dpop_key_free(key);
    }
    return http;
}

/* Starts a sign-in without a browser, runs the test's browser in a thread, waits: the code. */
static dpop_status sign_in_by_hand(dpop_http *http, int *page_status) {
    struct browser_run run = {.status = 0};
    if (dpop_http_sign_in_start(http, 0) != DPOP_OK ||
        dpop_http_sign_in_url(http, run.url, sizeof run.url, NULL) != DPOP_OK) {
        return dpop_last_error_code();
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, browser_thread, &run) != 0) {
        return DPOP_ERR_PANIC;
    }
    dpop_status status = dpop_http_sign_in_wait(http, WAIT_MS);
    pthread_join(thread, NULL);
    if (page_status != NULL) {
        *page_status = run.status;
    }
    return status;
}

/* ---- the tests ------------------------------------------------------------------------- */

/* dpop_http_sign_in opening "the browser" (this program, through DPOP_BROWSER), then the API
 * with the signed-in token; the URL and the session log. */
static void test_sign_in(void) {
    const char *flags[] = {NULL};
    struct server s;
    if (!server_start(&s, "plain", flags)) {
        CHECK(!"the test server started");
        return;
    }
    dpop_key *key = NULL;
    dpop_http *http = signing_in(&s, "", &key);
    char log_path[512];
    snprintf(log_path, sizeof log_path, "%s/sign_in-session.log", build_dir);
    remove(log_path);
    CHECK(dpop_http_set_session_log(http, log_path) == DPOP_OK);

    CHECK(dpop_http_get(http, s.api) == NULL);
    CHECK_CODE(http, dpop_last_error_code(), DPOP_ERR_SIGN_IN_REQUIRED, "sign in");

    char url[4096];
    size_t size = 0;
    CHECK_CODE(http, dpop_http_sign_in_url(http, url, sizeof url, &size), DPOP_ERR_NOT_FOUND, "no sign-in");

    setenv("DPOP_BROWSER", self_path, 1);
    CHECK_CODE(http, dpop_http_sign_in(http, WAIT_MS), DPOP_OK, "");
    unsetenv("DPOP_BROWSER");
    CHECK(dpop_http_sign_in_url(http, url, sizeof url, NULL) == DPOP_ERR_NOT_FOUND);

    const char *body = dpop_http_get(http, s.api);
    CHECK(body != NULL && dpop_http_last_status(http) == 200);
    char thumbprint[64], jkt[96];
    CHECK(dpop_key_thumbprint(key, thumbprint, sizeof thumbprint, NULL) == DPOP_OK);
    snprintf(jkt, sizeof jkt, "\"jkt\":\"%s\"", thumbprint);
    CHECK(contains(body, jkt));
    CHECK(contains(body, "\"client_id\":\"" CLIENT "\""));
    char info[512];
    CHECK(dpop_http_token_info(http, info, sizeof info, NULL) == DPOP_OK);
    CHECK(contains(info, "\"refresh_token\":true"));
    CHECK(stat_of(&s, "authorization_requests") == 1);
    CHECK(stat_of(&s, "authorization_code_grants") == 1);

    /* A second sign-in, started without the browser: the URL, its size, Pending, then done. */
    CHECK(dpop_http_sign_in_start(http, 0) == DPOP_OK);
    size = 0;
    CHECK(dpop_http_sign_in_url(http, NULL, 0, &size) == DPOP_ERR_BUFFER_TOO_SMALL && size > 100);
    struct browser_run run = {.status = 0};
    CHECK(dpop_http_sign_in_url(http, run.url, size, NULL) == DPOP_OK && strlen(run.url) + 1 == size);
    CHECK(contains(run.url, "code_challenge_method=S256"));
    char dpop_jkt[96];
    snprintf(dpop_jkt, sizeof dpop_jkt, "dpop_jkt=%s", thumbprint);
    CHECK(contains(run.url, dpop_jkt));
    char state[128] = "";
    const char *at = strstr(run.url, "state=");
    if (at != NULL) {
        snprintf(state, sizeof state, "%.*s", (int)strcspn(at + 6, "&"), at + 6);
    }
    CHECK(strlen(state) >= 43);
    CHECK_CODE(http, dpop_http_sign_in_wait(http, 0), DPOP_ERR_PENDING, "not finished");
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, browser_thread, &run) == 0);
    dpop_status status;
    while ((status = dpop_http_sign_in_wait(http, 50)) == DPOP_ERR_PENDING) {
    }
    pthread_join(thread, NULL);
    CHECK_CODE(http, status, DPOP_OK, "");
    CHECK(run.status == 200);
    CHECK(dpop_http_get(http, s.api) != NULL && dpop_http_last_status(http) == 200);
    CHECK(dpop_http_set_session_log(http, NULL) == DPOP_OK);

    /* The session log shows the code grant, masked. */
    static char log[1 << 17];
    FILE *f = fopen(log_path, "r");
    size_t len = f != NULL ? fread(log, 1, sizeof log - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    log[len] = '\0';
    CHECK(contains(log, "grant_type=authorization_code"));
    CHECK(contains(log, "code=****"));
    CHECK(state[0] != '\0' && !contains(log, state));
    dpop_http_free(http);
    dpop_key_free(key);
    server_stop(&s);
}

struct cancel_run {
    dpop_http *http;
    dpop_status status;
};

static void *wait_thread(void *arg) {
    struct cancel_run *run = arg;
    run->status = dpop_http_sign_in_wait(run->http, WAIT_MS);
    return NULL;
}

/* A cancel from another thread, access_denied, PAR required, a browser that does not start. */
static void test_outcomes(void) {
    const char *deny_flags[] = {"--deny-authorization", NULL};
    struct server denying;
    if (!server_start(&denying, "deny", deny_flags)) {
        CHECK(!"the denying test server started");
        return;
    }
    dpop_http *http = signing_in(&denying, "", NULL);
    int page = 0;
    CHECK_CODE(http, sign_in_by_hand(http, &page), DPOP_ERR_SIGN_IN, "access_denied");
    CHECK(page == 400);

    /* Cancelled while another thread waits (or before it waits: the wait says so either way). */
    CHECK(dpop_http_sign_in_start(http, 0) == DPOP_OK);
    struct cancel_run run = {http, DPOP_OK};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, wait_thread, &run) == 0);
    CHECK(dpop_http_sign_in_cancel(http) == DPOP_OK);
    pthread_join(thread, NULL);
    CHECK(run.status == DPOP_ERR_CANCELLED);
    CHECK(dpop_http_sign_in_wait(http, 0) == DPOP_ERR_NOT_FOUND);
    CHECK(dpop_http_sign_in_cancel(http) == DPOP_OK);
    dpop_http_free(http);
    server_stop(&denying);

    const char *par_flags[] = {"--require-par", "--require-nonce", NULL};
    struct server par;
    if (!server_start(&par, "par", par_flags)) {
        CHECK(!"the PAR test server started");
        return;
    }
    http = signing_in(&par, ",\"sign_in_timeout\":120", NULL);
    CHECK_CODE(http, sign_in_by_hand(http, &page), DPOP_OK, "");
    CHECK(page == 200);
    CHECK(stat_of(&par, "par_requests") == 2); /* the first met the nonce demand */
    CHECK(dpop_http_get(http, par.api) != NULL && dpop_http_last_status(http) == 200);

    /* A browser that cannot be started: DPOP_ERR_SIGN_IN, and the URL to open by hand. */
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/no-such-browser", build_dir);
    setenv("DPOP_BROWSER", missing, 1);
    CHECK_CODE(http, dpop_http_sign_in(http, WAIT_MS), DPOP_ERR_SIGN_IN, "by hand");
    unsetenv("DPOP_BROWSER");
    struct browser_run by_hand = {.status = 0};
    CHECK(dpop_http_sign_in_url(http, by_hand.url, sizeof by_hand.url, NULL) == DPOP_OK);
    CHECK(pthread_create(&thread, NULL, browser_thread, &by_hand) == 0);
    CHECK_CODE(http, dpop_http_sign_in_wait(http, WAIT_MS), DPOP_OK, "");
    pthread_join(thread, NULL);
    CHECK(by_hand.status == 200);
    dpop_http_free(http);
    server_stop(&par);
}

int main(int argc, char **argv) {
    if (argc == 2 && strncmp(argv[1], "http://", 7) == 0) {
        /* Run as DPOP_BROWSER: the browser, whose user signs in at once. */
        return browse(argv[1]) == 200 ? 0 : 1;
    }
    if (getenv("BUILD_DIR") != NULL && getenv("BUILD_DIR")[0] != '\0') {
        build_dir = getenv("BUILD_DIR");
    }
    if (realpath(argv[0], self_path) == NULL) {
        fprintf(stderr, "sign_in: cannot resolve %s\n", argv[0]);
        return 1;
    }
    test_sign_in();
    test_outcomes();
    printf("sign_in: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
