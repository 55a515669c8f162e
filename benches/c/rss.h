/*
 * rss.h: the resident set size of this process, for the benchmark programs that measure memory
 * (soak.c, https_bench.c). One definition, included by each program.
 */
#ifndef DPOP_BENCH_RSS_H
#define DPOP_BENCH_RSS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* VmRSS from /proc/self/status in KiB, or -1. */
static inline long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/* The peak resident set size so far (getrusage ru_maxrss) in KiB, or -1. */
static inline long peak_rss_kib(void) {
    struct rusage usage;
    return getrusage(RUSAGE_SELF, &usage) == 0 ? usage.ru_maxrss : -1;
}

#endif
