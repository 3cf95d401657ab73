/* Finite-difference gradient checks shared by tests/test_*.c.
 *
 * An op under test is a closure `fwd(ctx)` that recomputes its outputs `out[nout]` from inputs the
 * test owns.  The scalar checked is the random linear functional L = sum_i w[i] * out[i] (so the
 * upstream gradient dout is w), evaluated in double; d L / d x[j] is estimated by central differences
 * and compared with the analytic gradient the op's backward produced. */
#ifndef DF_TEST_GRADCHECK_H
#define DF_TEST_GRADCHECK_H

#include "check.h"

typedef struct {
    void (*fwd)(void *ctx);
    void *ctx;
    const float *out;
    size_t nout;
    const float *w; /* [nout] */
} gc_op;

static inline double gc_eval(const gc_op *op) {
    op->fwd(op->ctx);
    double s = 0;
    for (size_t i = 0; i < op->nout; i++) s += (double)op->w[i] * op->out[i];
    return s;
}

/* Central difference of L over x[i] (x[i] is restored; the outputs are left at x +- h: call op->fwd after). */
static inline double gc_central(const gc_op *op, float *x, size_t i, float h) {
    float x0 = x[i], xp = x0 + h, xm = x0 - h;
    x[i] = xp;
    double lp = gc_eval(op);
    x[i] = xm;
    double lm = gc_eval(op);
    x[i] = x0;
    return (lp - lm) / ((double)xp - xm);
}

/* Compare ana[nx] with central differences of L over x[i] for every step-th i (x is restored).
 * Passes when max |num - ana| <= tol * (1 + max |num|).  Returns the measured relative error. */
static inline double gc_check_step(const char *what, const gc_op *op, float *x, size_t nx, const float *ana,
                                   float h, double tol, size_t step) {
    double maxerr = 0, maxg = 0;
    for (size_t i = 0; i < nx; i += step) {
        double num = gc_central(op, x, i, h);
        double err = fabs(num - ana[i]);
        if (err > maxerr) maxerr = err;
        if (fabs(num) > maxg) maxg = fabs(num);
    }
    op->fwd(op->ctx);
    CHECK(maxerr <= tol * (1 + maxg), "%s: gradient error %.3g (max |grad| %.3g)", what, maxerr, maxg);
    if (getenv("GC_VERBOSE")) printf("%-40s err %.3g (|g| %.3g)\n", what, maxerr, maxg);
    return maxerr / (1 + maxg);
}

static inline double gc_check(const char *what, const gc_op *op, float *x, size_t nx, const float *ana, float h,
                              double tol) {
    return gc_check_step(what, op, x, nx, ana, h, tol, 1);
}

/* For deep networks in float (several ReLU-family layers, outputs much larger than what one entry moves them),
 * where a few entries cross kinks and rounding limits every entry to ~1e-3 relative: the errors |num - ana| of every
 * step-th entry, relative to max |num|, are bounded at three points, the median by tol50, the 99th percentile by
 * tol99 and the maximum by tolmax.  A wrong gradient (scale, layout, a missing term) moves most entries and fails
 * the first two bounds. */
static inline int gc_cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static inline void gc_check_quantiles(const char *what, const gc_op *op, float *x, size_t nx, const float *ana,
                                      float h, size_t step, double tol50, double tol99, double tolmax) {
    size_t m = (nx + step - 1) / step, k = 0;
    double *err = malloc(m * sizeof(double)), maxg = 0;
    for (size_t i = 0; i < nx; i += step, k++) {
        double num = gc_central(op, x, i, h);
        err[k] = fabs(num - ana[i]);
        if (fabs(num) > maxg) maxg = fabs(num);
    }
    op->fwd(op->ctx);
    qsort(err, m, sizeof(double), gc_cmp_desc);
    double e50 = err[m / 2] / maxg, e99 = err[m / 100] / maxg, emax = err[0] / maxg;
    CHECK(maxg > 0 && e50 <= tol50 && e99 <= tol99 && emax <= tolmax,
          "%s: relative gradient error median %.3g (tol %g), p99 %.3g (tol %g), max %.3g (tol %g)", what, e50, tol50,
          e99, tol99, emax, tolmax);
    if (getenv("GC_VERBOSE"))
        printf("%-40s median %.3g p99 %.3g max %.3g (max |grad| %.3g, %zu entries)\n", what, e50, e99, emax, maxg, m);
    free(err);
}

/* A buffer filled deterministically in [-1, 1) (inputs, upstream gradients, pre-filled gradients). */
static inline float *gc_buf(size_t n, unsigned seed) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    check_fill(p, n, seed);
    return p;
}

/* Gradients are pre-filled with gc_buf(n, seed) before backward to test that backward accumulates;
 * gc_unfill subtracts that fill again, leaving what backward added. */
static inline void gc_unfill(float *g, size_t n, unsigned seed) {
    float *g0 = gc_buf(n, seed);
    for (size_t i = 0; i < n; i++) g[i] -= g0[i];
    free(g0);
}

#endif
