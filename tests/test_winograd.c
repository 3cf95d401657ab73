/* Winograd F(4x4, 3x3) (core/kernels/winograd.c) under every ISA variant and 1/2 threads:
 *   df_winograd_conv3x3 itself (forward and flipped/transposed weights, zero and reflect padding, any
 *   top/left padding, bias, beta 0 and 1, sizes that are not multiples of 4, 1-pixel images, channel
 *   counts off the micro-tile and past one GEMM depth block, several tile blocks) against a direct
 *   double-precision loop;
 *   df_conv2d_forward / df_conv2d_backward (input gradient) and df_convT (stride 1) on shapes that fit:
 *   the Winograd path is taken (df_winograd_calls counts it), the results match the double reference, the
 *   workspace suffices (guard zone, NaN-filled), and switched off (df_winograd_enable(0)) it is not taken;
 *   mode 2 takes it for small shapes too; the gate refuses what it should.
 *
 * Error bound.  Each output is a dot product of n = 9*C terms; let S be the largest sum of |w'| |x| over
 * the terms of one output, over the outputs of its channel plane (per image): the scale that float
 * rounding works on.  A direct float dot product errs by at most ~n*u*S (u = 2^-24 = 6e-8), typically
 * ~sqrt(n)*u*S.  Winograd rounds transformed values instead: B^T d B (|entries| up to 5, row sums up to
 * 10) and G g G^T (row sums up to 1/2) magnify the factors, and A^T (row sums up to 19) mixes the 36
 * products of a tile back, so an output's error follows the magnitudes of its whole 6x6 input patch (hence
 * S over the plane, not the output's own terms: a corner output with one term sits in a tile with full
 * ones).  That is up to ~10*10*19*19/4 ~ 1e4 u per unit of S in the worst case, ~1e2 u typical; measured
 * here (values uniform in [-1, 1), every ISA, native and wasm): at most 1.7e-6 S, about 28 u.  The bound,
 * 1e-5 S (~170 u), leaves a factor of 6 and is still 37 times tighter than a wrong or missing tap, which
 * errs by ~|w||x| ~ S/n >= 3.7e-4 S for n <= 9*300 (the widest case here); a transform coefficient off by
 * 1e-4 (relative) already fails it (8e-5 S). */
#include <stdint.h>

#include "check.h"
#include "isas.h"
#include "df.h"
#include "ws_guard.h"
#include "winograd.h"

#define TOL 1e-5

static int refl(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

/* out and S (sum of |terms|) of df_winograd_conv3x3's definition, in double. */
static void ref_wino(double *out, double *S, const float *x, const float *w, const float *bias, const float *out0,
                     float beta, const df_wino *s) {
    for (int k = 0; k < s->K; k++)
        for (int oy = 0; oy < s->OH; oy++)
            for (int ox = 0; ox < s->OW; ox++) {
                size_t o = ((size_t)k * s->OH + oy) * s->OW + ox;
                double acc = (bias ? bias[k] : 0.0) + (beta != 0.0f ? beta * (double)out0[o] : 0.0), sa = fabs(acc);
                for (int c = 0; c < s->C; c++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int y = oy + ky - s->ph, xx = ox + kx - s->pw;
                            double v;
                            if (s->mode == DF_PAD_REFLECT)
                                v = x[((size_t)c * s->H + refl(y, s->H)) * s->W + refl(xx, s->W)];
                            else
                                v = (y < 0 || y >= s->H || xx < 0 || xx >= s->W) ? 0.0
                                                                                   : x[((size_t)c * s->H + y) * s->W + xx];
                            double wv = s->flip ? w[(((size_t)c * s->K + k) * 3 + 2 - ky) * 3 + 2 - kx]
                                                : w[(((size_t)k * s->C + c) * 3 + ky) * 3 + kx];
                            acc += wv * v, sa += fabs(wv * v);
                        }
                out[o] = acc, S[o] = sa;
            }
}


/* S[i] = the largest S[] of its plane (planes of m outputs). */
static void plane_max(double *S, size_t n, size_t m) {
    for (size_t p = 0; p < n; p += m) {
        double s = 0;
        for (size_t i = p; i < p + m; i++) s = S[i] > s ? S[i] : s;
        for (size_t i = p; i < p + m; i++) S[i] = s;
    }
}

/* max |got - ref| / S over n outputs (NaN counts as infinite) */
static double err_scaled(const float *got, const double *ref, const double *S, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]) / (S[i] > 1e-30 ? S[i] : 1e-30);
        if (!(e <= m)) m = isnan(e) ? INFINITY : e;
    }
    return m;
}

static double worst_seen = 0;

/* ------------------------------------------------------------------ the kernel itself */
static void run_kernel(const char *name, df_wino s, int B, int with_bias, float beta, const df_isa *isas, int nisa) {
    size_t nx1 = (size_t)s.C * s.H * s.W, ny1 = (size_t)s.K * s.OH * s.OW;
    size_t nx = B * nx1, nw = (size_t)s.C * s.K * 9, ny = B * ny1;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * s.K);
    float *y0 = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
    double *ref = malloc(sizeof(double) * ny), *S = malloc(sizeof(double) * ny);
    check_fill(x, nx, 11), check_fill(w, nw, 12), check_fill(b, s.K, 13), check_fill(y0, ny, 14);
    for (int i = 0; i < B; i++)
        ref_wino(ref + i * ny1, S + i * ny1, x + i * nx1, w, with_bias ? b : NULL, y0 + i * ny1, beta, &s);
    plane_max(S, ny, (size_t)s.OH * s.OW);
    size_t nws = df_winograd_workspace(&s);
    for (int ii = 0; ii < nisa; ii++) {
        df_isa_force(isas[ii]);
        for (int nt = 1; nt <= 2; nt++) {
            df_set_threads(nt);
            float *ws = ws_alloc(nws);
            if (beta != 0.0f)
                memcpy(y, y0, sizeof(float) * ny);
            else
                for (size_t i = 0; i < ny; i++) y[i] = NAN; /* beta 0: out is not read */
            unsigned long calls = df_winograd_calls();
            df_winograd_conv3x3(y, x, w, with_bias ? b : NULL, &s, B, beta, ws);
            double e = err_scaled(y, ref, S, ny);
            if (e > worst_seen) worst_seen = e;
            CHECK(e <= TOL, "%s [%s, %d threads] error %.3g S", name, df_isa_name(isas[ii]), nt, e);
            CHECK(df_winograd_calls() == calls + (unsigned long)B, "%s: not counted", name);
            CHECK(ws_guard_ok(ws, nws), "%s [%s] overran its workspace", name, df_isa_name(isas[ii]));
            free(ws);
        }
    }
    free(x), free(w), free(b), free(y0), free(y), free(ref), free(S);
}

static df_wino kcase(int C, int K, int H, int W, int ph, int pw, int OH, int OW, int mode, int flip) {
    df_wino s = {C, H, W, K, OH, OW, ph, pw, mode, flip};
    return s;
}

/* ------------------------------------------------------------------ through df_conv2d / df_convT */
/* Reference conv (forward) and its input gradient, double, one group. */
static void ref_conv(double *y, double *S, const float *x, const float *w, const float *bias, const df_conv *c, int B,
                     int H, int W) {
    int OH = df_conv_out(H, 3, 1, c->pad), OW = df_conv_out(W, 3, 1, c->pad);
    df_wino s = {c->cin, H, W, c->cout, OH, OW, c->pad, c->pad, c->pad_mode, 0};
    for (int b = 0; b < B; b++)
        ref_wino(y + (size_t)b * c->cout * OH * OW, S + (size_t)b * c->cout * OH * OW, x + (size_t)b * c->cin * H * W,
                 w, bias, NULL, 0.0f, &s);
}

/* dx = conv^T(dy) by scattering (the adjoint of ref_conv, reflect folded), plus dx0; S as above. */
static void ref_dinp(double *dx, double *S, const float *dy, const float *w, const float *dx0, const df_conv *c, int B,
                     int H, int W) {
    int OH = df_conv_out(H, 3, 1, c->pad), OW = df_conv_out(W, 3, 1, c->pad);
    size_t n = (size_t)B * c->cin * H * W;
    for (size_t i = 0; i < n; i++) dx[i] = dx0[i], S[i] = fabs(dx0[i]);
    for (int b = 0; b < B; b++)
        for (int co = 0; co < c->cout; co++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double g = dy[(((size_t)b * c->cout + co) * OH + oy) * OW + ox];
                    for (int ci = 0; ci < c->cin; ci++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int y = oy + ky - c->pad, xx = ox + kx - c->pad;
                                if (c->pad_mode == DF_PAD_REFLECT)
                                    y = refl(y, H), xx = refl(xx, W);
                                else if (y < 0 || y >= H || xx < 0 || xx >= W)
                                    continue;
                                size_t i = (((size_t)b * c->cin + ci) * H + y) * W + xx;
                                double t = g * w[(((size_t)co * c->cin + ci) * 3 + ky) * 3 + kx];
                                dx[i] += t, S[i] += fabs(t);
                            }
                }
}

static void run_conv(const char *name, df_conv c, int B, int H, int W, const df_isa *isas, int nisa) {
    int OH = df_conv_out(H, 3, 1, c.pad), OW = df_conv_out(W, 3, 1, c.pad);
    size_t nx = (size_t)B * c.cin * H * W, nw = (size_t)c.cout * c.cin * 9, ny = (size_t)B * c.cout * OH * OW;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * c.cout);
    float *y = malloc(sizeof(float) * ny), *dy = malloc(sizeof(float) * ny), *dx0 = malloc(sizeof(float) * nx);
    float *dx = malloc(sizeof(float) * nx);
    double *yr = malloc(sizeof(double) * ny), *Sy = malloc(sizeof(double) * ny);
    double *dxr = malloc(sizeof(double) * nx), *Sx = malloc(sizeof(double) * nx);
    check_fill(x, nx, 21), check_fill(w, nw, 22), check_fill(b, c.cout, 23), check_fill(dy, ny, 24);
    check_fill(dx0, nx, 25);
    ref_conv(yr, Sy, x, w, b, &c, B, H, W);
    ref_dinp(dxr, Sx, dy, w, dx0, &c, B, H, W);
    plane_max(Sy, ny, (size_t)OH * OW), plane_max(Sx, nx, (size_t)H * W);
    CHECK(df_winograd_fits(&c, H, W), "%s: the shape should take the Winograd path", name);
    size_t nws = df_conv2d_workspace(&c, H, W);
    for (int ii = 0; ii < nisa; ii++) {
        df_isa_force(isas[ii]);
        const char *isa = df_isa_name(isas[ii]);
        for (int nt = 1; nt <= 2; nt++) {
            df_set_threads(nt);
            float *ws = ws_alloc(nws);
            for (size_t i = 0; i < ny; i++) y[i] = NAN;
            unsigned long calls = df_winograd_calls();
            df_conv2d_forward(y, x, w, b, &c, B, H, W, ws);
            CHECK(df_winograd_calls() == calls + (unsigned long)B, "%s [%s]: forward did not take Winograd", name, isa);
            double e = err_scaled(y, yr, Sy, ny);
            if (e > worst_seen) worst_seen = e;
            CHECK(e <= TOL, "%s [%s, %d threads] forward error %.3g S", name, isa, nt, e);
            memcpy(dx, dx0, sizeof(float) * nx);
            calls = df_winograd_calls();
            df_conv2d_backward(dx, NULL, NULL, dy, x, w, &c, B, H, W, ws);
            CHECK(df_winograd_calls() == calls + (unsigned long)B, "%s [%s]: dinp did not take Winograd", name, isa);
            e = err_scaled(dx, dxr, Sx, nx);
            if (e > worst_seen) worst_seen = e;
            CHECK(e <= TOL, "%s [%s, %d threads] dinp error %.3g S", name, isa, nt, e);
            CHECK(ws_guard_ok(ws, nws), "%s [%s] overran its workspace", name, isa);
            free(ws);
        }
    }
    /* switched off: not taken, and the GEMM path agrees */
    int mode = df_winograd_enabled();
    df_winograd_enable(0);
    float *ws = ws_alloc(nws);
    unsigned long calls = df_winograd_calls();
    df_conv2d_forward(y, x, w, b, &c, B, H, W, ws);
    memcpy(dx, dx0, sizeof(float) * nx);
    df_conv2d_backward(dx, NULL, NULL, dy, x, w, &c, B, H, W, ws);
    CHECK(df_winograd_calls() == calls, "%s: taken while switched off", name);
    CHECK(err_scaled(y, yr, Sy, ny) <= TOL && err_scaled(dx, dxr, Sx, nx) <= TOL, "%s: GEMM path", name);
    free(ws);
    df_winograd_enable(mode);
    free(x), free(w), free(b), free(y), free(dy), free(dx0), free(dx), free(yr), free(Sy), free(dxr), free(Sx);
}

/* Transposed convolution, stride 1, 3x3 (the adjoint of a conv cout -> cin): forward and input gradient. */
static void run_convT(const char *name, df_convT t, int H, int W) {
    df_conv c = {t.cout, t.cin, 3, 3, 1, t.pad, 1, DF_PAD_ZERO}; /* the conv whose adjoint it is */
    int OH = df_convT_out(H, &t), OW = df_convT_out(W, &t);
    size_t nx = (size_t)t.cin * H * W, nw = (size_t)t.cin * t.cout * 9, ny = (size_t)t.cout * OH * OW;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw), *y = malloc(sizeof(float) * ny);
    float *dy = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx), *zero = calloc(ny > nx ? ny : nx, sizeof(float));
    double *yr = malloc(sizeof(double) * ny), *Sy = malloc(sizeof(double) * ny);
    double *dxr = malloc(sizeof(double) * nx), *Sx = malloc(sizeof(double) * nx);
    check_fill(x, nx, 31), check_fill(w, nw, 32), check_fill(dy, ny, 33);
    CHECK(df_winograd_fits(&c, OH, OW), "%s: the shape should take the Winograd path", name);
    ref_dinp(yr, Sy, x, w, zero, &c, 1, OH, OW); /* convT forward = the conv's input gradient */
    ref_conv(dxr, Sx, dy, w, NULL, &c, 1, OH, OW); /* its input gradient = the conv's forward */
    plane_max(Sy, ny, (size_t)OH * OW), plane_max(Sx, nx, (size_t)H * W);
    size_t nws = df_convT_workspace(&t, H, W);
    float *ws = ws_alloc(nws);
    unsigned long calls = df_winograd_calls();
    df_convT_forward(y, x, w, NULL, &t, 1, H, W, ws);
    memset(dx, 0, sizeof(float) * nx);
    df_convT_backward(dx, NULL, NULL, dy, x, w, &t, 1, H, W, ws);
    CHECK(df_winograd_calls() == calls + 2, "%s: did not take Winograd", name);
    double ef = err_scaled(y, yr, Sy, ny), ed = err_scaled(dx, dxr, Sx, nx);
    CHECK(ef <= TOL && ed <= TOL, "%s: forward error %.3g S, dinp %.3g S", name, ef, ed);
    CHECK(ws_guard_ok(ws, nws), "%s overran its workspace", name);
    free(ws), free(x), free(w), free(y), free(dy), free(dx), free(zero), free(yr), free(Sy), free(dxr), free(Sx);
}

int main(void) {
    df_isa isas[DF_ISA_WASM128 + 1];
    int nisa = test_isas(isas);
    df_isa best = df_isa_best();
    df_winograd_enable(1);
    const int Z = DF_PAD_ZERO, R = DF_PAD_REFLECT;

    /* the kernel: output size = input size for pad 1 (OH = H + 2*pad - 2 in general) */
    run_kernel("8x8 zero", kcase(5, 7, 8, 8, 1, 1, 8, 8, Z, 0), 1, 1, 0.0f, isas, nisa);
    run_kernel("13x9 reflect, batch 3", kcase(6, 9, 13, 9, 1, 1, 13, 9, R, 0), 3, 1, 0.0f, isas, nisa);
    run_kernel("1x1 image zero", kcase(4, 3, 1, 1, 1, 1, 1, 1, Z, 0), 1, 1, 0.0f, isas, nisa);
    run_kernel("1x1 image reflect", kcase(4, 3, 1, 1, 1, 1, 1, 1, R, 0), 1, 1, 0.0f, isas, nisa);
    run_kernel("1x7 reflect", kcase(3, 5, 1, 7, 1, 1, 1, 7, R, 0), 1, 0, 0.0f, isas, nisa);
    run_kernel("valid 10x11", kcase(5, 6, 10, 11, 0, 0, 8, 9, Z, 0), 1, 1, 0.0f, isas, nisa);
    run_kernel("pad 2 (full) 6x5", kcase(4, 5, 6, 5, 2, 2, 8, 7, Z, 0), 1, 0, 0.0f, isas, nisa);
    run_kernel("flip, beta 1, 7x10, batch 2", kcase(6, 5, 7, 10, 1, 1, 7, 10, Z, 1), 2, 0, 1.0f, isas, nisa);
    run_kernel("flip, full, 5x6", kcase(5, 7, 5, 6, 2, 2, 7, 8, Z, 1), 1, 0, 0.0f, isas, nisa);
    run_kernel("uneven padding 9x7", kcase(3, 4, 9, 7, 2, 0, 9, 4, Z, 0), 1, 1, 1.0f, isas, nisa);
    run_kernel("33 -> 35 channels 17x15", kcase(33, 35, 17, 15, 1, 1, 17, 15, Z, 0), 1, 1, 0.0f, isas, nisa);
    run_kernel("300 -> 20 (two depth blocks) 6x6", kcase(300, 20, 6, 6, 1, 1, 6, 6, R, 0), 1, 1, 0.0f, isas, nisa);
    run_kernel("20 -> 300 flip 5x7", kcase(20, 300, 5, 7, 1, 1, 5, 7, Z, 1), 1, 0, 1.0f, isas, nisa);
    run_kernel("64 -> 64, several tile blocks, 66x62", kcase(64, 64, 66, 62, 1, 1, 66, 62, R, 0), 1, 1, 0.0f, isas,
               nisa);

    /* through df_conv2d (the gate: groups 1, 3x3, stride 1, >= 32 channels in and out, >= 2048 channel pairs
     * and output pixels) */
    run_conv("conv 32 -> 64 zero, 47x45, batch 2", (df_conv){32, 64, 3, 3, 1, 1, 1, Z}, 2, 47, 45, isas, nisa);
    run_conv("conv 64 -> 40 reflect, 45x50, batch 2", (df_conv){64, 40, 3, 3, 1, 1, 1, R}, 2, 45, 50, isas, nisa);
    run_conv("conv 48 -> 44 valid, 50x48", (df_conv){48, 44, 3, 3, 1, 0, 1, Z}, 1, 50, 48, isas, nisa);
    run_conv("conv 36 -> 65 pad 2, 43x47", (df_conv){36, 65, 3, 3, 1, 2, 1, Z}, 1, 43, 47, isas, nisa);
    run_conv("conv 64 -> 64 reflect, 48x48", (df_conv){64, 64, 3, 3, 1, 1, 1, R}, 1, 48, 48, isas, nisa);
    df_isa_force(best);
    run_convT("convT 48 -> 44 s1 p1, 47x46", (df_convT){48, 44, 3, 1, 1, 0}, 47, 46);

    /* mode 2: every fitting shape, small ones too (set before the workspace is sized) */
    df_winograd_enable(2);
    CHECK(df_winograd_fits(&(df_conv){3, 5, 3, 3, 1, 1, 1, Z}, 6, 7), "mode 2: small shapes fit");
    run_conv("mode 2: conv 3 -> 5 zero, 6x7, batch 2", (df_conv){3, 5, 3, 3, 1, 1, 1, Z}, 2, 6, 7, isas, nisa);
    run_conv("mode 2: conv 6 -> 4 reflect, 5x9", (df_conv){6, 4, 3, 3, 1, 1, 1, R}, 1, 5, 9, isas, nisa);
    df_winograd_enable(1);
    df_isa_force(best);

    /* the gate: too few channels, groups, stride 2, 5x5, too few pixels, zero padding > 2 */
    CHECK(!df_winograd_fits(&(df_conv){16, 128, 3, 3, 1, 1, 1, Z}, 64, 64), "16 input channels");
    CHECK(!df_winograd_fits(&(df_conv){32, 32, 3, 3, 1, 1, 1, Z}, 64, 64), "32 x 32 channels");
    CHECK(!df_winograd_fits(&(df_conv){64, 64, 3, 3, 1, 1, 2, Z}, 64, 64), "groups");
    CHECK(!df_winograd_fits(&(df_conv){64, 64, 3, 3, 2, 1, 1, Z}, 64, 64), "stride 2");
    CHECK(!df_winograd_fits(&(df_conv){64, 64, 5, 5, 1, 2, 1, Z}, 64, 64), "5x5");
    CHECK(!df_winograd_fits(&(df_conv){64, 64, 3, 3, 1, 1, 1, Z}, 32, 32), "32x32 image");
    CHECK(!df_winograd_fits(&(df_conv){64, 64, 3, 3, 1, 3, 1, Z}, 64, 64), "zero padding 3");
    CHECK(df_winograd_fits(&(df_conv){256, 256, 3, 3, 1, 1, 1, Z}, 64, 64), "the CartoonGAN residual convs");
    CHECK(df_winograd_fits(&(df_conv){64, 64, 3, 3, 1, 1, 1, R}, 256, 256), "the CartoonGAN 64-channel conv");

    df_isa_force(best);
    printf("test_winograd: largest error %.3g S (bound %.3g S)\n", worst_seen, TOL);
    return check_summary("test_winograd");
}
