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

/* Compare ana[nx] with central differences of L over x[i] for every step-th i (x is restored).
 * Passes when max |num - ana| <= tol * (1 + max |num|).  Returns the measured relative error. */
static inline double gc_check_step(const char *what, const gc_op *op, float *x, size_t nx, const float *ana,
                                   float h, double tol, size_t step) {
    double maxerr = 0, maxg = 0;
    for (size_t i = 0; i < nx; i += step) {
        float x0 = x[i], xp = x0 + h, xm = x0 - h;
        x[i] = xp;
        double lp = gc_eval(op);
        x[i] = xm;
        double lm = gc_eval(op);
        x[i] = x0;
        double num = (lp - lm) / ((double)xp - xm);
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
