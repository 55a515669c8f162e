/*
 * https_bench: dpop_http next to libcurl, against the same local test server over HTTPS (a
 * private CA made for the run, benches/make_ca.sh), in the same process and the same run.
 *
 *   https_bench cost SECONDS ROUNDS       microseconds per request of each variant below
 *   https_bench handles KIND N            memory of N more handles of KIND (below)
 *
 * Reads DPOP_API_URL (https://127.0.0.1:PORT/..., from tests/with_server.sh), DPOP_CA_FILE,
 * and DPOP_CLIENT_SECRET (default "secret", the server's default m2m.dpop client).
 *
 * cost: ROUNDS rounds; each round times every variant for SECONDS / ROUNDS / VARIANTS on
 * handles opened and warmed up once (connection open, token fetched), one after the other so
 * that load from other processes falls on all of them. Every request must answer 200 "hello"
 * (GET /plain, which ignores authentication), or the program fails. Variants:
 *   curl_ip, curl_name     one curl easy handle, keep-alive, HTTP/1.1, no DPoP;
 *   dpop_ip, dpop_name     dpop_http with a key and a cached token from the token endpoint:
 *                          Authorization: DPoP and a fresh proof on every request;
 *   bare_ip, bare_name     dpop_http without key or token (the transport alone);
 *   curl_fresh             a new TLS connection per request (CURLOPT_FRESH_CONNECT and
 *                          CURLOPT_FORBID_REUSE on one easy handle);
 *   dpop_fresh, bare_fresh a new TLS connection per request on one dpop_http: the request sends
 *                          "Connection: close", so the connection is not pooled;
 *   proof                  one dpop_proof_create like the one dpop_ip sends.
 * _ip goes to 127.0.0.1, _name to localhost (resolved by the system; the server's certificate
 * names both). Prints "NAME_us MEDIAN" per variant, then the medians of per-round differences
 * "added_us" (dpop_ip - curl_ip), "name_extra_us" (dpop_name - dpop_ip) and
 * "curl_name_extra_us" (curl_name - curl_ip). The same for the CPU time this process spent per
 * request (all its threads, user and system; the server is another process): "NAME_cpu_us",
 * "added_cpu_us" (dpop_ip - curl_ip), "dpop_self_cpu_us" (dpop_ip - bare_ip) and
 * "name_extra_cpu_us" (dpop_name - dpop_ip). A request's wall time on this machine also holds
 * the server's work and the waits of the two for each other, which move with scheduling from
 * run to run; the client's CPU time does not.
 * With HTTPS_BENCH_ONLY=NAME set, only variant NAME is timed after the warm-up (the others
 * print 0), so that a profiler sees it alone:
 *   HTTPS_BENCH_ONLY=bare_ip perf record -a -F 2000 -- https_bench cost 10 1
 *
 * handles: opens one handle of the kind and makes one request on it (libraries initialised,
 * code paged in), reads VmRSS, then opens N more, each making one request and keeping its
 * connection open, and reads VmRSS again. KIND: curl (an easy handle); dpop (a shared key, a
 * token fetched and cached); and for the breakdown, dpop-bare (no key or token) and dpop-idle
 * (dpop_http_new and the CA file set, no request, so no connection).
 * Prints "handles_rss_before_kib", "handles_rss_after_kib" and "handles_kib_per_handle".
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpop.h"
#include "rss.h"

#define MAX_ROUNDS 64
#define MAX_HANDLES 4096

static const char *ca_file;
static char secret[256] = "secret";
static char base_ip[256], base_name[256]; /* https://127.0.0.1:PORT, https://localhost:PORT */

static double clock_seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void) { return clock_seconds(CLOCK_MONOTONIC); }

/* CPU time of this process: every thread, user and system. */
static double cpu_now(void) { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }

static void die(const char *what, const char *detail) {
    fprintf(stderr, "https_bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* --- libcurl -------------------------------------------------------------------------------- */

struct body {
    char data[256];
    size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata) {
    struct body *b = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof b->data - 1 - b->len;
    memcpy(b->data + b->len, ptr, n < room ? n : room);
    b->len += n < room ? n : room;
    b->data[b->len] = '\0';
    return n;
}

struct curl_client {
    CURL *curl;
    struct body body;
    char url[300];
};

static void curl_open(struct curl_client *c, const char *base, int fresh) {
    snprintf(c->url, sizeof c->url, "%s/plain", base);
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        die("curl_easy_init failed", NULL);
    }
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c->curl, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->body);
    if (fresh) {
        curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c->curl, CURLOPT_FORBID_REUSE, 1L);
    }
}

static void curl_send(struct curl_client *c) {
    c->body.len = 0;
    c->body.data[0] = '\0';
    CURLcode rc = curl_easy_perform(c->curl);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200 || strcmp(c->body.data, "hello") != 0) {
        fprintf(stderr, "https_bench: libcurl GET %s: %s, status %ld, body '%s'\n", c->url,
                curl_easy_strerror(rc), status, c->body.data);
        exit(1);
    }
}

/* --- dpop_http ------------------------------------------------------------------------------ */

struct dpop_client {
    dpop_http *http;
    char url[300];
    const char *headers; /* "Connection: close" for a new connection per request, or NULL */
};

static void dpop_check(dpop_status status, const char *what) {
    if (status != DPOP_OK) {
        die(what, dpop_last_error_message());
    }
}

/* A dpop_http for BASE/plain; with KEY, a token from BASE/token is fetched and cached. */
static void dpop_open(struct dpop_client *c, const char *base, dpop_key *key, int fresh) {
    snprintf(c->url, sizeof c->url, "%s/plain", base);
    c->headers = fresh ? "Connection: close" : NULL;
    c->http = dpop_http_new();
    if (c->http == NULL) {
        die("dpop_http_new failed", dpop_last_error_message());
    }
    dpop_check(dpop_http_set_ca_file(c->http, ca_file), "dpop_http_set_ca_file");
    if (key != NULL) {
        char settings[1024];
        snprintf(settings, sizeof settings,
                 "{\"token_endpoint\":\"%s/token\",\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\","
                 "\"scope\":\"api\"}",
                 base, secret);
        dpop_check(dpop_http_set_key(c->http, key), "dpop_http_set_key");
        dpop_check(dpop_http_set_auth_token(c->http, settings), "dpop_http_set_auth_token");
    }
}

static void dpop_send(struct dpop_client *c) {
    if (c->headers == NULL) {
        const char *body = dpop_http_get(c->http, c->url);
        int32_t status = dpop_http_last_status(c->http);
        if (body == NULL || status != 200 || strcmp(body, "hello") != 0) {
            char text[400] = "";
            dpop_http_last_error_text(c->http, text, sizeof text, NULL);
            fprintf(stderr, "https_bench: dpop_http GET %s: status %d, %s\n", c->url, (int)status,
                    body == NULL ? text : body);
            exit(1);
        }
        return;
    }
    dpop_response *response = NULL;
    dpop_status rc = dpop_http_request(c->http, "GET", c->url, c->headers, NULL, 0, &response);
    size_t len = 0;
    const uint8_t *body = rc == DPOP_OK ? dpop_response_body(response, &len) : NULL;
    if (rc != DPOP_OK || dpop_response_status(response) != 200 || len != 5 ||
        memcmp(body, "hello", 5) != 0) {
        char text[400] = "";
        dpop_http_last_error_text(c->http, text, sizeof text, NULL);
        fprintf(stderr, "https_bench: dpop_http GET %s (Connection: close): %s %s\n", c->url,
                dpop_error_name(rc), text);
        exit(1);
    }
    dpop_response_free(response);
}

/* --- cost ----------------------------------------------------------------------------------- */

enum { CURL_IP, DPOP_IP, BARE_IP, CURL_NAME, DPOP_NAME, BARE_NAME, CURL_FRESH, DPOP_FRESH,
       BARE_FRESH, PROOF, VARIANTS };
static const char *const variant_names[VARIANTS] = {
    "curl_ip",   "dpop_ip",   "bare_ip",    "curl_name", "dpop_name",
    "bare_name", "curl_fresh", "dpop_fresh", "bare_fresh", "proof"};

static struct curl_client curls[VARIANTS];
static struct dpop_client dpops[VARIANTS];
static dpop_key *proof_key;
static char proof_url[300];

static void send_one(int variant) {
    switch (variant) {
    case CURL_IP:
    case CURL_NAME:
    case CURL_FRESH:
        curl_send(&curls[variant]);
        break;
    case PROOF: {
        char proof[1024];
        dpop_check(dpop_proof_create(proof_key, "GET", proof_url,
                                     "an-access-token-of-typical-length-0123456789abcdef", NULL,
                                     NULL, proof, sizeof proof, NULL),
                   "dpop_proof_create");
        break;
    }
    default:
        dpop_send(&dpops[variant]);
    }
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n) {
    qsort(values, (size_t)n, sizeof values[0], compare_double);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static int cost(double seconds, int rounds) {
    proof_key = dpop_key_new();
    if (proof_key == NULL) {
        die("dpop_key_new failed", NULL);
    }
    dpop_check(dpop_key_generate(proof_key, "ES256"), "dpop_key_generate");
    snprintf(proof_url, sizeof proof_url, "%s/plain", base_ip);
    curl_open(&curls[CURL_IP], base_ip, 0);
    curl_open(&curls[CURL_NAME], base_name, 0);
    curl_open(&curls[CURL_FRESH], base_ip, 1);
    dpop_open(&dpops[DPOP_IP], base_ip, proof_key, 0);
    dpop_open(&dpops[BARE_IP], base_ip, NULL, 0);
    dpop_open(&dpops[DPOP_NAME], base_name, proof_key, 0);
    dpop_open(&dpops[BARE_NAME], base_name, NULL, 0);
    dpop_open(&dpops[DPOP_FRESH], base_ip, proof_key, 1);
    dpop_open(&dpops[BARE_FRESH], base_ip, NULL, 1);
    for (int i = 0; i < 20; i++) { /* warm-up: connections open, tokens fetched */
        for (int v = 0; v < VARIANTS; v++) {
            send_one(v);
        }
    }
    static double us[VARIANTS][MAX_ROUNDS], cpu_us[VARIANTS][MAX_ROUNDS];
    double added[MAX_ROUNDS], name_extra[MAX_ROUNDS], curl_name_extra[MAX_ROUNDS];
    double added_cpu[MAX_ROUNDS], self_cpu[MAX_ROUNDS], name_extra_cpu[MAX_ROUNDS];
    double slice = seconds / rounds / VARIANTS;
    const char *only = getenv("HTTPS_BENCH_ONLY");
    for (int r = 0; r < rounds; r++) {
        for (int v = 0; v < VARIANTS; v++) {
            if (only != NULL && strcmp(only, variant_names[v]) != 0) {
                us[v][r] = cpu_us[v][r] = 0;
                continue;
            }
            unsigned long count = 0;
            double start = now(), cpu_start = cpu_now(), elapsed;
            do {
                for (int i = 0; i < 4; i++) {
                    send_one(v);
                }
                count += 4;
                elapsed = now() - start;
            } while (elapsed < slice);
            cpu_us[v][r] = (cpu_now() - cpu_start) * 1e6 / (double)count;
            us[v][r] = elapsed * 1e6 / (double)count;
        }
        added[r] = us[DPOP_IP][r] - us[CURL_IP][r];
        added_cpu[r] = cpu_us[DPOP_IP][r] - cpu_us[CURL_IP][r];
        self_cpu[r] = cpu_us[DPOP_IP][r] - cpu_us[BARE_IP][r];
        name_extra_cpu[r] = cpu_us[DPOP_NAME][r] - cpu_us[DPOP_IP][r];
        name_extra[r] = us[DPOP_NAME][r] - us[DPOP_IP][r];
        curl_name_extra[r] = us[CURL_NAME][r] - us[CURL_IP][r];
    }
    for (int v = 0; v < VARIANTS; v++) {
        printf("%s_us %.1f\n", variant_names[v], median(us[v], rounds));
    }
    printf("added_us %.1f\n", median(added, rounds));
    printf("name_extra_us %.2f\n", median(name_extra, rounds));
    printf("curl_name_extra_us %.2f\n", median(curl_name_extra, rounds));
    for (int v = 0; v < VARIANTS; v++) {
        printf("%s_cpu_us %.2f\n", variant_names[v], median(cpu_us[v], rounds));
    }
    printf("added_cpu_us %.2f\n", median(added_cpu, rounds));
    printf("dpop_self_cpu_us %.2f\n", median(self_cpu, rounds));
    printf("name_extra_cpu_us %.2f\n", median(name_extra_cpu, rounds));
    for (int v = 0; v < VARIANTS; v++) {
        if (curls[v].curl != NULL) {
            curl_easy_cleanup(curls[v].curl);
        }
        dpop_http_free(dpops[v].http);
    }
    dpop_key_free(proof_key);
    return 0;
}

/* --- handles -------------------------------------------------------------------------------- */

static int handles(const char *kind, int n) {
    int curl = strcmp(kind, "curl") == 0, bare = strcmp(kind, "dpop-bare") == 0;
    int idle = strcmp(kind, "dpop-idle") == 0;
    if (!curl && !bare && !idle && strcmp(kind, "dpop") != 0) {
        die("handles: the kind is curl, dpop, dpop-bare or dpop-idle", kind);
    }
    static struct curl_client curl_handles[MAX_HANDLES + 1];
    static struct dpop_client dpop_handles[MAX_HANDLES + 1];
    dpop_key *key = NULL;
    if (!curl) {
        key = dpop_key_new();
        if (key == NULL) {
            die("dpop_key_new failed", NULL);
        }
        dpop_check(dpop_key_generate(key, "ES256"), "dpop_key_generate");
    }
    long before = 0;
    for (int i = 0; i <= n; i++) {
        if (curl) {
            curl_open(&curl_handles[i], base_ip, 0);
            curl_send(&curl_handles[i]);
        } else {
            dpop_open(&dpop_handles[i], base_ip, bare || idle ? NULL : key, 0);
            if (!idle || i == 0) {
                dpop_send(&dpop_handles[i]);
            }
        }
        if (i == 0) { /* the first handle: the libraries' own set-up, not counted */
            before = rss_kib();
        }
    }
    long after = rss_kib();
    printf("handles_kind %s\n", kind);
    printf("handles_count %d\n", n);
    printf("handles_rss_before_kib %ld\n", before);
    printf("handles_rss_after_kib %ld\n", after);
    printf("handles_kib_per_handle %.1f\n", (double)(after - before) / n);
    for (int i = 0; i <= n; i++) {
        if (curl) {
            curl_easy_cleanup(curl_handles[i].curl);
        } else {
            dpop_http_free(dpop_handles[i].http);
        }
    }
    dpop_key_free(key);
    return before < 0 || after < 0;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "cost") != 0 && strcmp(argv[1], "handles") != 0)) {
        fprintf(stderr, "usage: https_bench cost SECONDS ROUNDS | https_bench handles curl|dpop|dpop-bare|dpop-idle N\n");
        return 2;
    }
    const char *api = getenv("DPOP_API_URL");
    ca_file = getenv("DPOP_CA_FILE");
    if (api == NULL || ca_file == NULL || strncmp(api, "https://127.0.0.1:", 18) != 0) {
        die("needs DPOP_API_URL (https://127.0.0.1:PORT/...) and DPOP_CA_FILE", NULL);
    }
    if (getenv("DPOP_CLIENT_SECRET") != NULL) {
        snprintf(secret, sizeof secret, "%s", getenv("DPOP_CLIENT_SECRET"));
    }
    int port = atoi(api + 18);
    snprintf(base_ip, sizeof base_ip, "https://127.0.0.1:%d", port);
    snprintf(base_name, sizeof base_name, "https://localhost:%d", port);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        die("curl_global_init failed", NULL);
    }
    int rc;
    if (strcmp(argv[1], "cost") == 0) {
        int rounds = atoi(argv[3]);
        if (rounds < 1 || rounds > MAX_ROUNDS) {
            die("cost: 1 to 64 rounds", NULL);
        }
        rc = cost(atof(argv[2]), rounds);
    } else {
        int n = atoi(argv[3]);
        if (n < 1 || n > MAX_HANDLES) {
            die("handles: 1 to 4096 handles", NULL);
        }
        rc = handles(argv[2], n);
    }
    curl_global_cleanup();
    return rc;
}
