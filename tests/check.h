/* Minimal test harness shared by tests/test_*.c: CHECK records a failure and continues;
 * main() ends with `return check_summary("name");`. */
#ifndef DF_TEST_CHECK_H
#define DF_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures = 0, check_count = 0;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        check_count++;                                                          \
        if (!(cond)) {                                                          \
            check_failures++;                                                   \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
        }                                                                       \
    } while (0)

#define CHECK_NEAR(a, b, tol, what)                                             \
    do {                                                                        \
        double _a = (a), _b = (b);                                              \
        CHECK(fabs(_a - _b) <= (tol), "%s: %.9g vs %.9g (tol %g)", what, _a, _b, (double)(tol)); \
    } while (0)

static inline int check_summary(const char *name) {
    if (check_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, check_failures, check_count);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, check_count);
    return 0;
}

/* max |a - b| / (1 + max |b|) over n floats */
static inline double check_maxrel(const float *a, const float *b, size_t n) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m) m = d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return m / (1.0 + s);
}

/* Deterministic fill in [-1, 1). */
static inline void check_fill(float *x, size_t n, unsigned seed) {
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) * (1.0 / 8388608.0)) - 1.0f;
    }
}

#endif
