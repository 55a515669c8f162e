/*
 * proof_bench: DPoP proofs per second through the C ABI, the figure benches/proof.rs measures
 * through the Rust API, with the same inputs: dpop_proof_create in a loop on one ES256 key.
 *
 *   proof_bench SECONDS [THREADS]
 *
 * With THREADS > 1 every thread signs with the same dpop_key handle at once (the handle is
 * documented as usable from many threads), and the figure is the sum over the threads.
 * Prints "c_abi threads N proofs_per_sec RATE".
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpop.h"

/* The request every benchmark proof is made for (also in benches/proof.rs). */
#define METHOD "GET"
#define URL "https://api.example.com/resource"
#define ACCESS_TOKEN "an-access-token-of-typical-length-0123456789abcdef"

#define MAX_THREADS 64

struct worker {
    pthread_t thread;
    const dpop_key *key;
    double seconds;
    pthread_barrier_t *start;
    unsigned long long count;
    double elapsed;
    int failed;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sign_for(void *arg) {
    struct worker *w = arg;
    char proof[1024];
    pthread_barrier_wait(w->start);
    double start = now();
    double elapsed = 0;
    do {
        for (int i = 0; i < 64; i++) {
            size_t size = 0;
            dpop_status status = dpop_proof_create(w->key, METHOD, URL, ACCESS_TOKEN, NULL, NULL, proof,
                                                   sizeof proof, &size);
            if (status != DPOP_OK) {
                fprintf(stderr, "dpop_proof_create: %s: %s\n", dpop_error_name(status),
                        dpop_last_error_message());
                w->failed = 1;
                return NULL;
            }
        }
        w->count += 64;
        elapsed = now() - start;
    } while (elapsed < w->seconds);
    w->elapsed = elapsed;
    return NULL;
}

/* Proofs per second of `threads` threads sharing `key` for `seconds`; negative on failure. */
static double measure(const dpop_key *key, int threads, double seconds) {
    struct worker workers[MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        workers[i] = (struct worker){.key = key, .seconds = seconds, .start = &start};
        if (pthread_create(&workers[i].thread, NULL, sign_for, &workers[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
    }
    unsigned long long count = 0;
    double longest = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        count += workers[i].count;
        failed |= workers[i].failed;
        if (workers[i].elapsed > longest) {
            longest = workers[i].elapsed;
        }
    }
    pthread_barrier_destroy(&start);
    return failed ? -1.0 : (double)count / longest;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s SECONDS [THREADS]\n", argv[0]);
        return 2;
    }
    double seconds = strtod(argv[1], NULL);
    int threads = argc == 3 ? atoi(argv[2]) : 1;
    if (!(seconds > 0) || threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "SECONDS must be positive and THREADS 1..%d\n", MAX_THREADS);
        return 2;
    }
    dpop_key *key = dpop_key_new();
    dpop_status status = dpop_key_generate(key, "ES256");
    if (status != DPOP_OK) {
        fprintf(stderr, "dpop_key_generate: %s\n", dpop_error_name(status));
        return 1;
    }
    measure(key, threads, seconds / 10); /* warm-up, as benches/proof.rs does */
    double rate = measure(key, threads, seconds);
    dpop_key_free(key);
    if (rate < 0) {
        return 1;
    }
    printf("c_abi threads %d proofs_per_sec %.0f\n", threads, rate);
    return 0;
}
