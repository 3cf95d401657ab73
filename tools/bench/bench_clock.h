/* What the native benchmarks share: a monotonic clock and a comparison for sorting times (medians). */
#ifndef DF_BENCH_CLOCK_H
#define DF_BENCH_CLOCK_H
#include <time.h>

static inline double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
#endif
