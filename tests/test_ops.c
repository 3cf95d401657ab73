/* Non-convolution layers (core/layers/ops.c): hand-computed forwards, finite-difference gradients of every
 * input and parameter at odd sizes, accumulation (+=) into pre-filled gradients, NULL gradients. */
#include "df.h"
#include "gradcheck.h"
#include "ws_guard.h"

#define H_FD 1e-2f
#define TOL 5e-4
#define TOL_BIG 3e-3 /* the thread-pool sized cases: more float round-off in L */

/* One context type for all ops: a few inputs, parameters, outputs and sizes. */
typedef struct {
    float *out, *a, *b, *p, *q, *s1, *s2; /* output, inputs a/b, params p/q, saved s1/s2 */
    int B, C, H, W, OH, OW, s, n2;
    df_act act;
    float alpha;
} ctx_t;

/* ------------------------------------------------------------------ resampling */
static void fwd_nearest(void *v) {
    ctx_t *c = v;
    df_upsample_nearest_forward(c->out, c->a, c->C, c->H, c->W, c->s);
}
static void fwd_bilinear(void *v) {
    ctx_t *c = v;
    df_upsample_bilinear_forward(c->out, c->a, c->C, c->H, c->W, c->s);
}
static void fwd_resize(void *v) {
    ctx_t *c = v;
    df_resize_bilinear_forward(c->out, c->a, c->C, c->H, c->W, c->OH, c->OW);
}

/* mode 0 nearest, 1 bilinear (factor s), 2 resize to OH x OW */
static void grad_resample(int mode, int BC, int H, int W, int s, int OH, int OW) {
    if (mode < 2) OH = H * s, OW = W * s;
    size_t ni = (size_t)BC * H * W, no = (size_t)BC * OH * OW;
    ctx_t c = {.out = malloc(no * 4), .a = gc_buf(ni, 1), .C = BC, .H = H, .W = W, .OH = OH, .OW = OW, .s = s};
    float *w = gc_buf(no, 2), *d = gc_buf(ni, 3);
    void (*fwd[3])(void *) = {fwd_nearest, fwd_bilinear, fwd_resize};
    if (mode == 0) df_upsample_nearest_backward(d, w, BC, H, W, s);
    else if (mode == 1) df_upsample_bilinear_backward(d, w, BC, H, W, s);
    else df_resize_bilinear_backward(d, w, BC, H, W, OH, OW);
    gc_unfill(d, ni, 3);
    gc_op op = {fwd[mode], &c, c.out, no, w};
    char what[96];
    snprintf(what, sizeof what, "resample mode %d %dx%d->%dx%d", mode, H, W, OH, OW);
    gc_check_step(what, &op, c.a, ni, d, H_FD, ni > 5000 ? TOL_BIG : TOL, ni / 200 + 1);
    /* NULL gradient is skipped */
    if (mode == 0) df_upsample_nearest_backward(NULL, w, BC, H, W, s);
    else if (mode == 1) df_upsample_bilinear_backward(NULL, w, BC, H, W, s);
    else df_resize_bilinear_backward(NULL, w, BC, H, W, OH, OW);
    free(c.out), free(c.a), free(w), free(d);
}

static void test_resample(void) {
    /* nearest: out[y][x] = inp[y/s][x/s] */
    {
        int H = 3, W = 5, s = 3;
        float *x = gc_buf(2 * H * W, 9), *y = malloc(2 * H * W * s * s * 4);
        df_upsample_nearest_forward(y, x, 2, H, W, s);
        int bad = 0;
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < H * s; i++)
                for (int j = 0; j < W * s; j++)
                    bad += y[(p * H * s + i) * W * s + j] != x[(p * H + i / s) * W + j / s];
        CHECK(bad == 0, "nearest upsample: %d wrong values", bad);
        free(x), free(y);
    }
    /* bilinear, half-pixel centres (PyTorch align_corners=False values) */
    {
        float x[2] = {0, 1}, y[8];
        df_upsample_bilinear_forward(y, x, 1, 1, 2, 2); /* [1,2] -> [2,4] */
        const float e[4] = {0, 0.25f, 0.75f, 1};
        for (int i = 0; i < 8; i++) CHECK_NEAR(y[i], e[i % 4], 1e-6, "bilinear x2 [0,1]");
        float r3[3] = {0, 1, 2}, r4[4] = {0, 1, 2, 3}, o[2];
        df_resize_bilinear_forward(o, r3, 1, 1, 3, 1, 2); /* scale 1.5: src 0.25, 1.75 */
        CHECK_NEAR(o[0], 0.25, 1e-6, "resize 3->2 [0]");
        CHECK_NEAR(o[1], 1.75, 1e-6, "resize 3->2 [1]");
        df_resize_bilinear_forward(o, r4, 1, 1, 4, 1, 2); /* scale 2: src 0.5, 2.5 */
        CHECK_NEAR(o[0], 0.5, 1e-6, "resize 4->2 [0]");
        CHECK_NEAR(o[1], 2.5, 1e-6, "resize 4->2 [1]");
        /* 2-D: separable product; ramp in y and x, x3 upsample of a 2x2 */
        float q[4] = {0, 1, 10, 11}, u[36];
        df_upsample_bilinear_forward(u, q, 1, 2, 2, 3);
        /* src coords for o = 0..5 at scale 1/3: (o+0.5)/3-0.5 -> clamp: 0,0,1/3,2/3,1,1 */
        const float t[6] = {0, 0, 1.0f / 3, 2.0f / 3, 1, 1};
        double err = 0;
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++) err = fmax(err, fabs(u[i * 6 + j] - (10 * t[i] + t[j])));
        CHECK(err < 1e-5, "bilinear 2x2 x3: error %g", err);
    }
    grad_resample(0, 3, 3, 5, 2, 0, 0);
    grad_resample(0, 2, 5, 3, 3, 0, 0);
    grad_resample(1, 3, 3, 5, 2, 0, 0);
    grad_resample(1, 2, 5, 3, 3, 0, 0);
    grad_resample(2, 3, 5, 7, 1, 8, 4);
    grad_resample(2, 2, 7, 4, 1, 3, 9);
    grad_resample(2, 2, 3, 300, 1, 2, 1100); /* several column chunks */
    /* large enough to run on the thread pool */
    grad_resample(2, 7, 97, 101, 1, 33, 50);
}

/* ------------------------------------------------------------------ instance norm */
static void fwd_in(void *v) {
    ctx_t *c = v;
    df_instnorm_forward(c->out, c->s1, c->s2, c->a, c->p, c->q, c->B, c->C, c->H * c->W, 1e-5f);
}

static void grad_instnorm(int B, int C, int HW, int affine) {
    size_t n = (size_t)B * C * HW;
    ctx_t c = {.out = malloc(n * 4), .a = gc_buf(n, 11), .s1 = malloc(B * C * 4), .s2 = malloc(B * C * 4),
               .B = B, .C = C, .H = HW, .W = 1};
    /* per-channel offsets and scales so that the statistics differ */
    for (size_t i = 0; i < n; i++) c.a[i] = c.a[i] * (1.0f + (i / HW) % 3) + 0.3f * ((i / HW) % 5);
    if (affine) c.p = gc_buf(C, 12), c.q = gc_buf(C, 13);
    fwd_in(&c);
    /* forward: per (b,c) mean(out) = beta, mean(out^2) - beta^2 = gamma^2 var/(var+eps) */
    double err = 0;
    for (int p = 0; p < B * C; p++) {
        const float *x = c.a + (size_t)p * HW, *y = c.out + (size_t)p * HW;
        double mx = 0, vx = 0, my = 0, vy = 0;
        for (int i = 0; i < HW; i++) mx += x[i], my += y[i];
        mx /= HW, my /= HW;
        for (int i = 0; i < HW; i++) vx += (x[i] - mx) * (x[i] - mx), vy += (y[i] - my) * (y[i] - my);
        vx /= HW, vy /= HW;
        double g = affine ? c.p[p % C] : 1, b = affine ? c.q[p % C] : 0;
        err = fmax(err, fabs(my - b));
        err = fmax(err, fabs(vy - g * g * vx / (vx + 1e-5)));
        err = fmax(err, fabs(c.s1[p] - mx) + fabs(c.s2[p] - 1 / sqrt(vx + 1e-5)));
    }
    CHECK(err < 1e-4, "instnorm forward statistics: error %g", err);

    float *w = gc_buf(n, 14), *dx = gc_buf(n, 15), *dg = gc_buf(C, 16), *db = gc_buf(C, 17);
    if (n <= 5000) /* upstream gradient with a non-zero mean (small cases: L stays accurate) */
        for (size_t i = 0; i < n; i++) w[i] += 0.5f;
    df_instnorm_backward(dx, affine ? dg : NULL, affine ? db : NULL, w, c.a, c.s1, c.s2, c.p, B, C, HW);
    gc_unfill(dx, n, 15), gc_unfill(dg, C, 16), gc_unfill(db, C, 17);
    gc_op op = {fwd_in, &c, c.out, n, w};
    char what[96];
    snprintf(what, sizeof what, "instnorm dx B%d C%d HW%d affine %d", B, C, HW, affine);
    gc_check_step(what, &op, c.a, n, dx, H_FD, n > 5000 ? TOL_BIG : TOL, n / 200 + 1);
    if (affine) {
        gc_check("instnorm dgamma", &op, c.p, C, dg, H_FD, n > 5000 ? TOL_BIG : TOL);
        gc_check("instnorm dbeta", &op, c.q, C, db, H_FD, n > 5000 ? TOL_BIG : TOL);
        /* dinp NULL: parameter gradients unchanged */
        float *dg2 = calloc(C, 4), *db2 = calloc(C, 4);
        df_instnorm_backward(NULL, dg2, db2, w, c.a, c.s1, c.s2, c.p, B, C, HW);
        CHECK(check_maxrel(dg2, dg, C) < 1e-6 && check_maxrel(db2, db, C) < 1e-6, "instnorm NULL dinp");
        free(dg2), free(db2), free(c.p), free(c.q);
    }
    free(c.out), free(c.a), free(c.s1), free(c.s2), free(w), free(dx), free(dg), free(db);
}

static void test_instnorm(void) {
    /* hand case: x = 1,2,3,4, eps 0: mean 2.5, var 1.25 */
    float x[4] = {1, 2, 3, 4}, y[4], m, r, g = 2, b = 0.5f;
    df_instnorm_forward(y, &m, &r, x, &g, &b, 1, 1, 4, 0.0f);
    CHECK_NEAR(m, 2.5, 1e-6, "instnorm mean");
    CHECK_NEAR(r, 1 / sqrt(1.25), 1e-6, "instnorm rstd");
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], 2 * (x[i] - 2.5) / sqrt(1.25) + 0.5, 1e-5, "instnorm out");
    grad_instnorm(2, 3, 35, 1);
    grad_instnorm(1, 5, 13, 0);
    grad_instnorm(3, 2, 9, 1);
    grad_instnorm(2, 7, 4800, 1); /* thread pool path */
}

/* ------------------------------------------------------------------ batch-norm fold */
static void test_bnfold(void) {
    enum { CO = 5, PER = 7 };
    float *w = gc_buf(CO * PER, 21), *b = gc_buf(CO, 22), *g = gc_buf(CO, 23), *be = gc_buf(CO, 24),
          *mu = gc_buf(CO, 25), *var = gc_buf(CO, 26), *x = gc_buf(PER, 27);
    for (int o = 0; o < CO; o++) var[o] = var[o] * var[o] + 0.1f;
    double ref[CO];
    for (int o = 0; o < CO; o++) { /* BN(w x + b) in double */
        double z = b[o];
        for (int i = 0; i < PER; i++) z += (double)w[o * PER + i] * x[i];
        ref[o] = (z - mu[o]) / sqrt((double)var[o] + 1e-3) * g[o] + be[o];
    }
    df_batchnorm_fold(w, b, g, be, mu, var, 1e-3f, CO, PER);
    double err = 0;
    for (int o = 0; o < CO; o++) {
        double z = b[o];
        for (int i = 0; i < PER; i++) z += (double)w[o * PER + i] * x[i];
        err = fmax(err, fabs(z - ref[o]));
    }
    CHECK(err < 1e-5, "batchnorm fold: error %g", err);
    free(w), free(b), free(g), free(be), free(mu), free(var), free(x);
}

/* ------------------------------------------------------------------ activations */
static void fwd_act(void *v) {
    ctx_t *c = v;
    df_act_forward(c->out, c->a, (size_t)c->B, c->act, c->alpha);
}

static void test_act(void) {
    const char *names[] = {"none", "relu", "lrelu", "relu6", "tanh", "sigmoid"};
    /* hand values at x = -2, 0.5, 7 */
    const float xs[3] = {-2, 0.5f, 7};
    const double e[6][3] = {{-2, 0.5, 7},
                            {0, 0.5, 7},
                            {-0.4, 0.5, 7},
                            {0, 0.5, 6},
                            {tanh(-2), tanh(0.5), tanh(7)},
                            {1 / (1 + exp(2)), 1 / (1 + exp(-0.5)), 1 / (1 + exp(-7))}};
    for (int a = 0; a <= DF_ACT_SIGMOID; a++) {
        float y[3];
        df_act_forward(y, xs, 3, (df_act)a, 0.2f);
        for (int i = 0; i < 3; i++) CHECK_NEAR(y[i], e[a][i], 1e-6, names[a]);
    }
    int n = 203;
    for (int a = 0; a <= DF_ACT_SIGMOID; a++) {
        ctx_t c = {.out = malloc(n * 4), .a = gc_buf(n, 31 + a), .B = n, .act = (df_act)a, .alpha = 0.2f};
        for (int i = 0; i < n; i++) { /* spread over [-8, 8], away from the kinks at 0 and 6 */
            float v = c.a[i] * 8;
            if (fabsf(v) < 0.05f) v = v < 0 ? -0.05f : 0.05f;
            if (fabsf(v - 6) < 0.05f) v = 6.1f;
            c.a[i] = v;
        }
        fwd_act(&c);
        float *w = gc_buf(n, 41), *d = gc_buf(n, 42), *d2 = calloc(n, 4), *d3 = calloc(n, 4);
        df_act_backward(d, w, c.a, c.out, n, c.act, c.alpha);
        gc_unfill(d, n, 42);
        /* same gradient from only inp or only out (the forward may run in place) */
        df_act_backward(d2, w, NULL, c.out, n, c.act, c.alpha);
        df_act_backward(d3, w, c.a, NULL, n, c.act, c.alpha);
        CHECK(check_maxrel(d2, d, n) < 1e-6, "%s backward from out only", names[a]);
        CHECK(check_maxrel(d3, d, n) < 1e-6, "%s backward from inp only", names[a]);
        gc_op op = {fwd_act, &c, c.out, n, w};
        gc_check(names[a], &op, c.a, n, d, 1e-3f, TOL);
        /* in place */
        float *y = malloc(n * 4);
        memcpy(y, c.a, n * 4);
        df_act_forward(y, y, n, c.act, c.alpha);
        CHECK(memcmp(y, c.out, n * 4) == 0, "%s in place", names[a]);
        df_act_backward(NULL, w, c.a, c.out, n, c.act, c.alpha);
        free(c.out), free(c.a), free(w), free(d), free(d2), free(d3), free(y);
    }
}

/* ------------------------------------------------------------------ structure ops */
static void fwd_add(void *v) {
    ctx_t *c = v;
    df_add_forward(c->out, c->a, c->b, (size_t)c->B);
}
static void fwd_concat(void *v) {
    ctx_t *c = v;
    df_concat_forward(c->out, c->a, c->b, c->B, c->C, c->n2, c->H);
}
static void fwd_bcast(void *v) {
    ctx_t *c = v;
    df_broadcast_forward(c->out, c->a, c->B, c->C, c->H);
}
static void fwd_gap(void *v) {
    ctx_t *c = v;
    df_gap_forward(c->out, c->a, c->B, c->C, c->H);
}
static void fwd_linear(void *v) {
    ctx_t *c = v;
    df_linear_forward(c->out, c->a, c->p, c->q, c->B, c->C, c->n2);
}

static void test_structure(void) {
    { /* add */
        int n = 37;
        ctx_t c = {.out = malloc(n * 4), .a = gc_buf(n, 51), .b = gc_buf(n, 52), .B = n};
        float *w = gc_buf(n, 53), *da = gc_buf(n, 54), *db = gc_buf(n, 55);
        df_add_backward(da, db, w, n);
        gc_unfill(da, n, 54), gc_unfill(db, n, 55);
        gc_op op = {fwd_add, &c, c.out, n, w};
        gc_check("add da", &op, c.a, n, da, H_FD, TOL);
        gc_check("add db", &op, c.b, n, db, H_FD, TOL);
        df_add_backward(NULL, NULL, w, n);
        free(c.out), free(c.a), free(c.b), free(w), free(da), free(db);
    }
    { /* concat: out [2, 3+2, 7] */
        int B = 2, Ca = 3, Cb = 2, HW = 7;
        size_t na = B * Ca * HW, nb = B * Cb * HW, no = na + nb;
        ctx_t c = {.out = malloc(no * 4), .a = gc_buf(na, 61), .b = gc_buf(nb, 62), .B = B, .C = Ca, .n2 = Cb, .H = HW};
        fwd_concat(&c);
        CHECK(c.out[(1 * 5 + 3) * HW + 4] == c.b[(1 * 2 + 0) * HW + 4], "concat layout");
        CHECK(c.out[(1 * 5 + 2) * HW + 6] == c.a[(1 * 3 + 2) * HW + 6], "concat layout");
        float *w = gc_buf(no, 63), *da = gc_buf(na, 64), *db = gc_buf(nb, 65);
        df_concat_backward(da, db, w, B, Ca, Cb, HW);
        gc_unfill(da, na, 64), gc_unfill(db, nb, 65);
        gc_op op = {fwd_concat, &c, c.out, no, w};
        gc_check("concat da", &op, c.a, na, da, H_FD, TOL);
        gc_check("concat db", &op, c.b, nb, db, H_FD, TOL);
        df_concat_backward(NULL, NULL, w, B, Ca, Cb, HW);
        free(c.out), free(c.a), free(c.b), free(w), free(da), free(db);
    }
    { /* broadcast [3, 5] over 11 and gap back */
        int B = 3, C = 5, HW = 11;
        size_t nv = B * C, no = nv * HW;
        ctx_t c = {.out = malloc(no * 4), .a = gc_buf(nv, 71), .B = B, .C = C, .H = HW};
        float *w = gc_buf(no, 72), *dv = gc_buf(nv, 73);
        df_broadcast_backward(dv, w, B, C, HW);
        gc_unfill(dv, nv, 73);
        gc_op op = {fwd_bcast, &c, c.out, no, w};
        gc_check("broadcast", &op, c.a, nv, dv, H_FD, TOL);
        CHECK(c.out[(2 * C + 4) * HW + 10] == c.a[2 * C + 4], "broadcast value");
        df_broadcast_backward(NULL, w, B, C, HW);
        free(c.out), free(c.a), free(w), free(dv);

        ctx_t g = {.out = malloc(nv * 4), .a = gc_buf(no, 74), .B = B, .C = C, .H = HW};
        fwd_gap(&g);
        double m = 0;
        for (int i = 0; i < HW; i++) m += g.a[(1 * C + 2) * HW + i];
        CHECK_NEAR(g.out[1 * C + 2], m / HW, 1e-6, "gap value");
        float *wg = gc_buf(nv, 75), *dx = gc_buf(no, 76);
        df_gap_backward(dx, wg, B, C, HW);
        gc_unfill(dx, no, 76);
        gc_op opg = {fwd_gap, &g, g.out, nv, wg};
        gc_check("gap", &opg, g.a, no, dx, H_FD, TOL);
        df_gap_backward(NULL, wg, B, C, HW);
        free(g.out), free(g.a), free(wg), free(dx);
    }
    { /* linear: [3, 13] -> [3, 5] */
        int B = 3, I = 13, O = 5;
        ctx_t c = {.out = malloc(B * O * 4), .a = gc_buf(B * I, 81), .p = gc_buf(O * I, 82), .q = gc_buf(O, 83),
                   .B = B, .C = I, .n2 = O};
        fwd_linear(&c);
        double ref = c.q[3];
        for (int i = 0; i < I; i++) ref += (double)c.a[2 * I + i] * c.p[3 * I + i];
        CHECK_NEAR(c.out[2 * O + 3], ref, 1e-5, "linear value");
        float *w = gc_buf(B * O, 84), *dx = gc_buf(B * I, 85), *dw = gc_buf(O * I, 86), *db = gc_buf(O, 87);
        df_linear_backward(dx, dw, db, w, c.a, c.p, B, I, O);
        gc_unfill(dx, B * I, 85), gc_unfill(dw, O * I, 86), gc_unfill(db, O, 87);
        gc_op op = {fwd_linear, &c, c.out, B * O, w};
        gc_check("linear dx", &op, c.a, B * I, dx, H_FD, TOL);
        gc_check("linear dw", &op, c.p, O * I, dw, H_FD, TOL);
        gc_check("linear db", &op, c.q, O, db, H_FD, TOL);
        /* NULL gradients skipped, the others unchanged */
        float *dw2 = calloc(O * I, 4);
        df_linear_backward(NULL, dw2, NULL, w, c.a, c.p, B, I, O);
        CHECK(check_maxrel(dw2, dw, O * I) < 1e-6, "linear dweight alone");
        /* no bias */
        double b3 = c.q[3];
        free(c.q);
        c.q = NULL;
        fwd_linear(&c);
        CHECK_NEAR(c.out[2 * O + 3], ref - b3, 1e-5, "linear without bias");
        free(c.out), free(c.a), free(c.p), free(w), free(dx), free(dw), free(db), free(dw2);
    }
}

/* ------------------------------------------------------------------ fused upsample + conv (upconv.c)
 * df_upconv3x3_forward against its definition written out here in double: nearest x2 upsampling, then a 3x3
 * stride-1 convolution with zero padding 1 of the upsampled image.  Every ISA variant, 1 and 2 threads; odd sizes,
 * channel counts that are not multiples of 8, B > 1, several bands of rows, with and without bias; the workspace
 * must suffice (guard zone) and its initial contents must not matter (NaN). */
static void ref_upconv(double *out, const float *x, const float *w, const float *bias, int cin, int cout, int B,
                       int H, int W) {
    int OH = 2 * H, OW = 2 * W;
    for (int b = 0; b < B; b++)
        for (int co = 0; co < cout; co++)
            for (int y = 0; y < OH; y++)
                for (int xx = 0; xx < OW; xx++) {
                    double s = bias ? bias[co] : 0.0;
                    for (int ci = 0; ci < cin; ci++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int uy = y + ky - 1, ux = xx + kx - 1; /* in the upsampled image */
                                if (uy < 0 || uy >= OH || ux < 0 || ux >= OW) continue;
                                s += (double)w[((co * cin + ci) * 3 + ky) * 3 + kx] *
                                     x[(((size_t)b * cin + ci) * H + uy / 2) * W + ux / 2];
                            }
                    out[(((size_t)b * cout + co) * OH + y) * OW + xx] = s;
                }
}

static void test_upconv(void) {
    static const int cases[][6] = {/* B, cin, cout, H, W, bias */
                                   {1, 1, 1, 1, 1, 1},   {2, 3, 5, 3, 7, 0},    {1, 13, 6, 9, 4, 1},
                                   {3, 7, 11, 5, 5, 1},  {1, 16, 16, 33, 40, 0}, {2, 20, 9, 17, 31, 1},
                                   {1, 5, 3, 2, 130, 1}, {2, 24, 24, 37, 200, 1}}; /* the last: several bands */
    df_isa best = df_isa_best();
    int threads = df_get_threads();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int B = cases[k][0], cin = cases[k][1], cout = cases[k][2], H = cases[k][3], W = cases[k][4];
        size_t nx = (size_t)B * cin * H * W, ny = (size_t)B * cout * 4 * H * W, nw = (size_t)cout * cin * 9;
        float *x = gc_buf(nx, 40 + (int)k), *w = gc_buf(nw, 60 + (int)k), *bias = cases[k][5] ? gc_buf(cout, 80) : NULL;
        float *y = malloc(ny * sizeof(float));
        double *ref = malloc(ny * sizeof(double)), big = 0;
        ref_upconv(ref, x, w, bias, cin, cout, B, H, W);
        for (size_t i = 0; i < ny; i++) big = fabs(ref[i]) > big ? fabs(ref[i]) : big;
        size_t nws = df_upconv3x3_workspace(cin, cout, H, W);
        for (int isa = DF_ISA_SCALAR; isa <= DF_ISA_WASM128; isa++) {
            if (df_isa_force((df_isa)isa) != DF_OK) continue;
            for (int nt = 1; nt <= 2; nt++) {
                df_set_threads(nt);
                float *ws = ws_alloc(nws);
                for (size_t i = 0; i < ny; i++) y[i] = NAN;
                df_upconv3x3_forward(y, x, w, bias, cin, cout, B, H, W, ws);
                double err = 0;
                for (size_t i = 0; i < ny; i++) {
                    double d = fabs(y[i] - ref[i]);
                    err = d > err || d != d ? d : err; /* NaN (an output never written) fails */
                }
                CHECK(err <= 1e-5 * (1.0 + big), "upconv B%d %d->%d %dx%d bias %d (%s, %d threads): max error %g",
                      B, cin, cout, H, W, cases[k][5], df_isa_name((df_isa)isa), nt, err);
                CHECK(ws_guard_ok(ws, nws), "upconv %d->%d %dx%d: workspace overrun", cin, cout, H, W);
                free(ws);
            }
        }
        df_isa_force(best);
        df_set_threads(threads);
        free(x), free(w), free(bias), free(y), free(ref);
    }
    /* bounded workspace: a band of rows, not the image (a 16 -> 16 layer to 2048 x 2048 outputs) */
    CHECK(df_upconv3x3_workspace(16, 16, 1024, 1024) < (size_t)16 * 1024 * 1024 / 8,
          "upconv workspace grows with the image: %zu floats", df_upconv3x3_workspace(16, 16, 1024, 1024));
}

int main(void) {
    test_resample();
    test_instnorm();
    test_bnfold();
    test_act();
    test_structure();
    test_upconv();
    return check_summary("test_ops");
}
