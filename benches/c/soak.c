/*
 * soak: many threads on one dpop_http handle for a long run, against the local test server
 * started with a short token lifetime and a nonce that rotates (benches/soak.sh starts it).
 *
 *   soak THREADS REQUESTS_PER_THREAD TTL_SECONDS
 *
 * Reads DPOP_TOKEN_ENDPOINT, DPOP_API_URL and DPOP_CLIENT_SECRET (tests/with_server.sh and
 * benches/soak.sh set them), and DPOP_CA_FILE when the server speaks HTTPS (soak.sh --tls). Every thread sends GET DPOP_API_URL through the same handle, with
 * the refresh margin at 0, so a token is replaced when it expires: one token request per
 * lifetime. A monitor samples the resident set size (VmRSS) as the run goes.
 *
 * It fails (exit 1) on:
 *   - any request that does not end in DPOP_OK and status 200 with the API's JSON;
 *   - a number of tokens issued more than one away from the number of lifetime windows the
 *     run spanned (floor(elapsed / TTL) + 1), as the server's GET /stats counts them;
 *   - RSS that grows by more than RSS_SLACK_KIB from the second quarter of the run to the last
 *     (the median of the samples taken in each): the first quarter warms up (every thread's
 *     allocator arena, the connection pool, the nonce and token caches), and a median is not
 *     moved by a passing peak, while a leak grows with the requests made in between.
 *     SOAK_RSS_UNJUDGED=1 reports the figure without judging it, for runs too short to warm up
 *     (the smoke's 64 threads x 10 requests: 64 connections still opening in the last quarter).
 * It also reports, without judging it (benches/run.sh does), VmRSS after request 1,000 and after
 * the last request, and the peak (getrusage ru_maxrss).
 * Prints one "soak KEY VALUE" line per figure (benches/run.sh reads them).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpop.h"
#include "rss.h"

#define MAX_THREADS 64
/* Growth of the resident set allowed after warm-up: far below what a leak of a few bytes per
 * request would add over tens of thousands of requests, and above allocator noise. */
#define RSS_SLACK_KIB 4096
#define MAX_SAMPLES 100000
/* The request after which the flat-memory figure starts: warm-up is over by then. */
#define WARM_REQUESTS 1000

static atomic_long rss_at_warm = -1;

static atomic_ullong completed;
static atomic_ullong failed;

struct worker {
    pthread_t thread;
    dpop_http *http;
    const char *url;
    unsigned long requests;
    char first_error[512];
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        fprintf(stderr, "soak: %s is not set (run it through benches/soak.sh)\n", name);
        exit(2);
    }
    return value;
}

static void *hammer(void *arg) {
    struct worker *w = arg;
    for (unsigned long i = 0; i < w->requests; i++) {
        const char *body = dpop_http_get(w->http, w->url);
        int32_t status = dpop_http_last_status(w->http);
        if (body == NULL || status != 200 || strstr(body, "\"client_id\":\"m2m.dpop\"") == NULL) {
            atomic_fetch_add(&failed, 1);
            if (w->first_error[0] == '\0') {
                char text[400] = "";
                dpop_http_last_error_text(w->http, text, sizeof text, NULL);
                snprintf(w->first_error, sizeof w->first_error, "request %lu: status %d, %s", i,
                         (int)status, body == NULL ? text : body);
            }
        }
        if (atomic_fetch_add(&completed, 1) + 1 == WARM_REQUESTS) {
            atomic_store(&rss_at_warm, rss_kib());
        }
    }
    return NULL;
}

struct sample {
    long rss_kib;
    unsigned long long completed;
};

static int compare_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The median RSS of the samples taken while completed was in [from, to), or -1. */
static long median_rss(const struct sample *samples, size_t count, unsigned long long from,
                       unsigned long long to) {
    static long values[MAX_SAMPLES];
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (samples[i].completed >= from && samples[i].completed < to) {
            values[n++] = samples[i].rss_kib;
        }
    }
    if (n == 0) {
        return -1;
    }
    qsort(values, n, sizeof values[0], compare_long);
    return values[n / 2];
}

/* The test server's counter KEY from its GET /stats JSON, or -1. */
static long long stat_of(const char *json, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    return at == NULL ? -1 : strtoll(at + strlen(pattern), NULL, 10);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: soak THREADS REQUESTS_PER_THREAD TTL_SECONDS\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    unsigned long per_thread = strtoul(argv[2], NULL, 10);
    double ttl = atof(argv[3]);
    if (threads < 1 || threads > MAX_THREADS || per_thread < 1 || ttl <= 0) {
        fprintf(stderr, "soak: 1 to %d threads, at least one request each, a positive TTL\n",
                MAX_THREADS);
        return 2;
    }
    const char *api = env("DPOP_API_URL");
    char settings[1024];
    snprintf(settings, sizeof settings,
             "{\"token_endpoint\":\"%s\",\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\","
             "\"scope\":\"api\"}",
             env("DPOP_TOKEN_ENDPOINT"), env("DPOP_CLIENT_SECRET"));

    dpop_key *key = dpop_key_new();
    dpop_http *http = dpop_http_new();
    const char *ca_file = getenv("DPOP_CA_FILE");
    if (key == NULL || http == NULL || dpop_key_generate(key, "ES256") != DPOP_OK ||
        (ca_file != NULL && dpop_http_set_ca_file(http, ca_file) != DPOP_OK) ||
        dpop_http_set_key(http, key) != DPOP_OK ||
        dpop_http_set_auth_token(http, settings) != DPOP_OK ||
        dpop_http_set_refresh_margin(http, 0) != DPOP_OK) {
        fprintf(stderr, "soak: setting up the handle failed: %s\n", dpop_last_error_message());
        return 1;
    }

    struct worker workers[MAX_THREADS];
    unsigned long long total = (unsigned long long)threads * per_thread;
    double start = now();
    for (int t = 0; t < threads; t++) {
        workers[t] = (struct worker){.http = http, .url = api, .requests = per_thread};
        if (pthread_create(&workers[t].thread, NULL, hammer, &workers[t]) != 0) {
            fprintf(stderr, "soak: pthread_create failed\n");
            return 1;
        }
    }

    /* The monitor: an RSS sample every 20 ms, with the number of requests done by then. */
    static struct sample samples[MAX_SAMPLES];
    size_t count = 0;
    long first = rss_kib(), peak = first;
    for (;;) {
        unsigned long long done = atomic_load(&completed);
        long rss = rss_kib();
        if (count < MAX_SAMPLES) {
            samples[count++] = (struct sample){rss, done};
        }
        if (rss > peak) {
            peak = rss;
        }
        if (done >= total) {
            break;
        }
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
    }
    double elapsed = now() - start;
    long final_rss = rss_kib();
    long warm_rss = atomic_load(&rss_at_warm);
    long second_quarter = median_rss(samples, count, total / 4, total / 2);
    long last_quarter = median_rss(samples, count, total - total / 4, total + 1);
    if (second_quarter < 0) { /* a run too short to sample */
        second_quarter = last_quarter;
    }

    /* The server's counters, through a second handle with neither key nor token. */
    dpop_http *plain = dpop_http_new();
    if (plain != NULL && ca_file != NULL) {
        dpop_http_set_ca_file(plain, ca_file);
    }
    char stats_url[512];
    snprintf(stats_url, sizeof stats_url, "%s", api);
    char *path = strstr(stats_url, "/dpop/");
    if (plain == NULL || path == NULL) {
        fprintf(stderr, "soak: DPOP_API_URL has no /dpop/ path\n");
        return 1;
    }
    snprintf(path, sizeof stats_url - (size_t)(path - stats_url), "/stats");
    const char *stats = dpop_http_get(plain, stats_url);
    if (stats == NULL || dpop_http_last_status(plain) != 200) {
        fprintf(stderr, "soak: GET %s failed\n", stats_url);
        return 1;
    }
    long long issued = stat_of(stats, "tokens_issued");
    long long token_requests = stat_of(stats, "token_requests");
    long long api_requests = stat_of(stats, "api_requests");
    long long nonce_api = stat_of(stats, "nonce_rejections_api");
    long long nonce_token = stat_of(stats, "nonce_rejections_token");
    long long invalid_token = stat_of(stats, "invalid_token_rejections");
    long long windows = (long long)(elapsed / ttl) + 1;

    printf("soak threads %d\n", threads);
    printf("soak requests %llu\n", total);
    printf("soak failed %llu\n", (unsigned long long)atomic_load(&failed));
    printf("soak seconds %.2f\n", elapsed);
    printf("soak requests_per_sec %.0f\n", (double)total / elapsed);
    printf("soak token_windows %lld\n", windows);
    printf("soak tokens_issued %lld\n", issued);
    printf("soak token_requests %lld\n", token_requests);
    printf("soak api_requests %lld\n", api_requests);
    printf("soak nonce_retries_api %lld\n", nonce_api);
    printf("soak nonce_retries_token %lld\n", nonce_token);
    printf("soak invalid_token_retries %lld\n", invalid_token);
    printf("soak rss_start_kib %ld\n", first);
    printf("soak rss_samples %zu\n", count);
    printf("soak rss_second_quarter_kib %ld\n", second_quarter);
    printf("soak rss_last_quarter_kib %ld\n", last_quarter);
    printf("soak rss_peak_kib %ld\n", peak);
    printf("soak rss_final_kib %ld\n", final_rss);
    printf("soak rss_growth_kib %ld\n", last_quarter - second_quarter);
    /* From the end of request WARM_REQUESTS to the end of the last one (-1: a shorter run). */
    printf("soak rss_at_warm_kib %ld\n", warm_rss);
    printf("soak rss_growth_after_warm_kib %ld\n", warm_rss < 0 ? -1 : final_rss - warm_rss);
    printf("soak rss_maxrss_kib %ld\n", peak_rss_kib());

    int ok = 1;
    if (atomic_load(&failed) != 0) {
        ok = 0;
        for (int t = 0; t < threads; t++) {
            if (workers[t].first_error[0] != '\0') {
                fprintf(stderr, "soak: thread %d failed: %s\n", t, workers[t].first_error);
                break;
            }
        }
    }
    if (issued < 0 || issued < windows - 1 || issued > windows + 1) {
        fprintf(stderr, "soak: %lld tokens issued over %lld lifetime windows (%.1f s, TTL %.0f s)\n",
                issued, windows, elapsed, ttl);
        ok = 0;
    }
    const char *unjudged = getenv("SOAK_RSS_UNJUDGED");
    int judge_rss = unjudged == NULL || strcmp(unjudged, "1") != 0;
    if (first < 0 || last_quarter < 0 ||
        (judge_rss && last_quarter - second_quarter > RSS_SLACK_KIB)) {
        fprintf(stderr,
                "soak: the median RSS grew from %ld KiB (second quarter) to %ld KiB (last quarter);"
                " slack %d KiB\n",
                second_quarter, last_quarter, RSS_SLACK_KIB);
        ok = 0;
    }
    dpop_http_free(plain);
    dpop_http_free(http);
    dpop_key_free(key);
    printf("soak result %s\n", ok ? "pass" : "FAIL");
    return ok ? 0 : 1;
}
