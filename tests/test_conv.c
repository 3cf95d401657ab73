/* Convolution and transposed convolution under every ISA variant and 1/2 threads:
 *   forward vs a direct double-precision loop (zero/reflect padding, strides, groups, depthwise);
 *   backward (dinp, dweight, dbias) vs central finite differences, in double, of L = sum(R * out) for a
 *   random R, computed with that direct loop;  gradients must ACCUMULATE (start from random values)
 *   and NULL gradients must be skipped;  the workspace must suffice (guard zone) and its initial
 *   contents must not matter (filled with NaN). */
#include <stdint.h>

#include "check.h"
#include "isas.h"
#include "df.h"
#include "ws_guard.h"

/* ------------------------------------------------------------------ references (double) */
static int refl(int i, int n) {
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

static void ref_conv(double *out, const double *x, const double *w, const double *bias, const df_conv *c, int B,
                     int H, int W) {
    int OH = df_conv_out(H, c->kh, c->stride, c->pad), OW = df_conv_out(W, c->kw, c->stride, c->pad);
    int cig = c->cin / c->groups, cog = c->cout / c->groups, Hp = H + 2 * c->pad, Wp = W + 2 * c->pad;
    /* padded copy: zero, or reflect (mirror without repeating the edge) */
    double *xp = malloc(sizeof(double) * (size_t)B * c->cin * Hp * Wp);
    for (int bc = 0; bc < B * c->cin; bc++)
        for (int y = 0; y < Hp; y++)
            for (int xx = 0; xx < Wp; xx++) {
                int sy = y - c->pad, sx = xx - c->pad;
                double v;
                if (c->pad_mode == DF_PAD_REFLECT)
                    v = x[((size_t)bc * H + refl(sy, H)) * W + refl(sx, W)];
                else
                    v = (sy < 0 || sy >= H || sx < 0 || sx >= W) ? 0.0 : x[((size_t)bc * H + sy) * W + sx];
                xp[((size_t)bc * Hp + y) * Wp + xx] = v;
            }
    for (int b = 0; b < B; b++)
        for (int co = 0; co < c->cout; co++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double s = bias ? bias[co] : 0.0;
                    int g = co / cog;
                    for (int ci = 0; ci < cig; ci++) {
                        const double *xc = xp + ((size_t)b * c->cin + g * cig + ci) * Hp * Wp;
                        const double *wc = w + (size_t)(co * cig + ci) * c->kh * c->kw;
                        for (int ky = 0; ky < c->kh; ky++)
                            for (int kx = 0; kx < c->kw; kx++)
                                s += wc[ky * c->kw + kx] * xc[(oy * c->stride + ky) * Wp + ox * c->stride + kx];
                    }
                    out[(((size_t)b * c->cout + co) * OH + oy) * OW + ox] = s;
                }
    free(xp);
}

static void ref_convT(double *out, const double *x, const double *w, const double *bias, const df_convT *c, int B,
                      int H, int W) {
    int OH = df_convT_out(H, c), OW = df_convT_out(W, c);
    for (int b = 0; b < B; b++)
        for (int co = 0; co < c->cout; co++)
            for (int i = 0; i < OH * OW; i++) out[((size_t)b * c->cout + co) * OH * OW + i] = bias ? bias[co] : 0.0;
    for (int b = 0; b < B; b++)
        for (int ci = 0; ci < c->cin; ci++)
            for (int iy = 0; iy < H; iy++)
                for (int ix = 0; ix < W; ix++)
                    for (int co = 0; co < c->cout; co++)
                        for (int ky = 0; ky < c->k; ky++)
                            for (int kx = 0; kx < c->k; kx++) {
                                int y = iy * c->stride - c->pad + ky, xx = ix * c->stride - c->pad + kx;
                                if (y < 0 || y >= OH || xx < 0 || xx >= OW) continue;
                                out[(((size_t)b * c->cout + co) * OH + y) * OW + xx] +=
                                    x[(((size_t)b * c->cin + ci) * H + iy) * W + ix] *
                                    w[((ci * c->cout + co) * c->k + ky) * c->k + kx];
                            }
}

/* ------------------------------------------------------------------ generic harness
 * One "layer" = reference forward in double + the op's forward/backward/workspace in float. */
typedef struct {
    const char *name;
    int is_T;
    df_conv c;
    df_convT t;
    int B, H, W;
    size_t nx, nw, nb, ny; /* sizes of inp, weight, bias, out */
} layer;

static void ref_forward(const layer *L, double *y, const double *x, const double *w, const double *b) {
    if (L->is_T)
        ref_convT(y, x, w, b, &L->t, L->B, L->H, L->W);
    else
        ref_conv(y, x, w, b, &L->c, L->B, L->H, L->W);
}

static double ref_loss(const layer *L, const double *x, const double *w, const double *b, const double *R,
                       double *y) {
    ref_forward(L, y, x, w, b);
    double s = 0;
    for (size_t i = 0; i < L->ny; i++) s += R[i] * y[i];
    return s;
}

/* Central differences of L wrt every element of p (or 16 spread ones for big tensors); NAN = unchecked. */
static void fd_grad(const layer *L, double *g, double *p, size_t n, const double *x, const double *w,
                    const double *b, const double *R, double *y) {
    const double h = 0.25; /* L is linear in each argument: any step is exact up to rounding */
    size_t stride = n <= 200 ? 1 : n / 16 + 1;
    for (size_t i = 0; i < n; i++) g[i] = NAN;
    for (size_t i = (n > 200 ? 7 : 0); i < n; i += stride) {
        double v = p[i];
        p[i] = v + h;
        double lp = ref_loss(L, x, w, b, R, y);
        p[i] = v - h;
        double lm = ref_loss(L, x, w, b, R, y);
        p[i] = v;
        g[i] = (lp - lm) / (2 * h);
    }
}

static double *to_double(const float *f, size_t n) {
    double *d = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}

/* max |got - (base + ref)| / (1 + max |ref|) over checked (non-NaN ref) elements */
static double grad_err(const float *got, const float *base, const double *ref, size_t n) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(ref[i]) && fabs(ref[i]) > s) s = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        if (isnan(ref[i])) continue;
        double e = fabs((double)got[i] - ((double)base[i] + ref[i]));
        if (!(e <= m)) m = isnan(e) ? INFINITY : e;
    }
    return m / (1.0 + s);
}


static void run_layer(layer *L, const df_isa *isas, int nisa) {
    int OH, OW, Cin, Cout;
    if (L->is_T) {
        OH = df_convT_out(L->H, &L->t), OW = df_convT_out(L->W, &L->t), Cin = L->t.cin, Cout = L->t.cout;
        L->nw = (size_t)L->t.cin * L->t.cout * L->t.k * L->t.k;
    } else {
        OH = df_conv_out(L->H, L->c.kh, L->c.stride, L->c.pad), OW = df_conv_out(L->W, L->c.kw, L->c.stride, L->c.pad);
        Cin = L->c.cin, Cout = L->c.cout;
        L->nw = (size_t)L->c.cout * (L->c.cin / L->c.groups) * L->c.kh * L->c.kw;
    }
    L->nx = (size_t)L->B * Cin * L->H * L->W, L->nb = (size_t)Cout, L->ny = (size_t)L->B * Cout * OH * OW;
    float *x = malloc(sizeof(float) * L->nx), *w = malloc(sizeof(float) * L->nw), *bias = malloc(sizeof(float) * L->nb);
    float *R = malloc(sizeof(float) * L->ny), *y = malloc(sizeof(float) * L->ny);
    float *gx0 = malloc(sizeof(float) * L->nx), *gw0 = malloc(sizeof(float) * L->nw), *gb0 = malloc(sizeof(float) * L->nb);
    float *gx = malloc(sizeof(float) * L->nx), *gw = malloc(sizeof(float) * L->nw), *gb = malloc(sizeof(float) * L->nb);
    check_fill(x, L->nx, 1), check_fill(w, L->nw, 2), check_fill(bias, L->nb, 3), check_fill(R, L->ny, 4);
    check_fill(gx0, L->nx, 5), check_fill(gw0, L->nw, 6), check_fill(gb0, L->nb, 7);
    double *xd = to_double(x, L->nx), *wd = to_double(w, L->nw), *bd = to_double(bias, L->nb), *Rd = to_double(R, L->ny);
    double *yref = malloc(sizeof(double) * L->ny), *ytmp = malloc(sizeof(double) * L->ny);
    double *fx = malloc(sizeof(double) * L->nx), *fw = malloc(sizeof(double) * L->nw), *fb = malloc(sizeof(double) * L->nb);
    ref_forward(L, yref, xd, wd, bd);
    fd_grad(L, fx, xd, L->nx, xd, wd, bd, Rd, ytmp);
    fd_grad(L, fw, wd, L->nw, xd, wd, bd, Rd, ytmp);
    fd_grad(L, fb, bd, L->nb, xd, wd, bd, Rd, ytmp);
    size_t nws = L->is_T ? df_convT_workspace(&L->t, L->H, L->W) : df_conv2d_workspace(&L->c, L->H, L->W);

    for (int ii = 0; ii < nisa; ii++) {
        df_isa_force(isas[ii]);
        for (int nt = 1; nt <= 2; nt++) {
            df_set_threads(nt);
            const char *isa = df_isa_name(isas[ii]);
            /* forward */
            float *ws = ws_alloc(nws);
            for (size_t i = 0; i < L->ny; i++) y[i] = NAN;
            if (L->is_T)
                df_convT_forward(y, x, w, bias, &L->t, L->B, L->H, L->W, ws);
            else
                df_conv2d_forward(y, x, w, bias, &L->c, L->B, L->H, L->W, ws);
            double m = 0, s = 0;
            for (size_t i = 0; i < L->ny; i++) {
                double e = fabs(y[i] - yref[i]);
                if (!(e <= m)) m = isnan(e) ? INFINITY : e;
                if (fabs(yref[i]) > s) s = fabs(yref[i]);
            }
            CHECK(m / (1 + s) < 2e-5, "%s [%s, %d threads] forward error %.3g", L->name, isa, nt, m / (1 + s));
            CHECK(ws_guard_ok(ws, nws), "%s [%s] forward overran its workspace", L->name, isa);
            free(ws);
            /* backward: accumulate onto random starting gradients */
            ws = ws_alloc(nws);
            memcpy(gx, gx0, sizeof(float) * L->nx), memcpy(gw, gw0, sizeof(float) * L->nw);
            memcpy(gb, gb0, sizeof(float) * L->nb);
            if (L->is_T)
                df_convT_backward(gx, gw, gb, R, x, w, &L->t, L->B, L->H, L->W, ws);
            else
                df_conv2d_backward(gx, gw, gb, R, x, w, &L->c, L->B, L->H, L->W, ws);
            double ex = grad_err(gx, gx0, fx, L->nx), ew = grad_err(gw, gw0, fw, L->nw), eb = grad_err(gb, gb0, fb, L->nb);
            CHECK(ex < 2e-5, "%s [%s, %d threads] dinp error %.3g", L->name, isa, nt, ex);
            CHECK(ew < 2e-5, "%s [%s, %d threads] dweight error %.3g", L->name, isa, nt, ew);
            CHECK(eb < 2e-5, "%s [%s, %d threads] dbias error %.3g", L->name, isa, nt, eb);
            CHECK(ws_guard_ok(ws, nws), "%s [%s] backward overran its workspace", L->name, isa);
            free(ws);
            /* NULL gradients are skipped; each one alone still matches */
            if (nt == 1) {
                ws = ws_alloc(nws);
                memcpy(gx, gx0, sizeof(float) * L->nx), memcpy(gw, gw0, sizeof(float) * L->nw);
                if (L->is_T) {
                    df_convT_backward(gx, NULL, NULL, R, x, w, &L->t, L->B, L->H, L->W, ws);
                    df_convT_backward(NULL, gw, NULL, R, x, w, &L->t, L->B, L->H, L->W, ws);
                } else {
                    df_conv2d_backward(gx, NULL, NULL, R, x, w, &L->c, L->B, L->H, L->W, ws);
                    df_conv2d_backward(NULL, gw, NULL, R, x, w, &L->c, L->B, L->H, L->W, ws);
                }
                CHECK(grad_err(gx, gx0, fx, L->nx) < 2e-5, "%s [%s] dinp alone", L->name, isa);
                CHECK(grad_err(gw, gw0, fw, L->nw) < 2e-5, "%s [%s] dweight alone", L->name, isa);
                free(ws);
            }
        }
    }
    free(x), free(w), free(bias), free(R), free(y), free(gx0), free(gw0), free(gb0), free(gx), free(gw), free(gb);
    free(xd), free(wd), free(bd), free(Rd), free(yref), free(ytmp), free(fx), free(fw), free(fb);
}

static layer conv_case(const char *name, int cin, int cout, int k, int stride, int pad, int groups, int mode, int B,
                       int H, int W) {
    layer L = {0};
    L.name = name;
    L.c = (df_conv){cin, cout, k, k, stride, pad, groups, mode};
    L.B = B, L.H = H, L.W = W;
    return L;
}

static layer convT_case(const char *name, int cin, int cout, int k, int stride, int pad, int out_pad, int B, int H,
                        int W) {
    layer L = {0};
    L.name = name;
    L.is_T = 1;
    L.t = (df_convT){cin, cout, k, stride, pad, out_pad};
    L.B = B, L.H = H, L.W = W;
    return L;
}

int main(void) {
    df_isa isas[DF_ISA_WASM128 + 1];
    int nisa = test_isas(isas);
    df_isa best = df_isa_best();

    const int Z = DF_PAD_ZERO, R = DF_PAD_REFLECT;
    layer cases[] = {
        conv_case("3x3 s1 zero", 3, 5, 3, 1, 1, 1, Z, 2, 9, 11),
        conv_case("3x3 s1 reflect", 3, 5, 3, 1, 1, 1, R, 2, 9, 11),
        conv_case("3x3 s2 zero", 4, 6, 3, 2, 1, 1, Z, 2, 10, 7),
        conv_case("3x3 s2 reflect", 4, 6, 3, 2, 1, 1, R, 2, 11, 8),
        conv_case("4x4 s2 reflect", 3, 5, 4, 2, 1, 1, R, 2, 12, 9),
        conv_case("4x4 s2 zero", 3, 5, 4, 2, 1, 1, Z, 2, 9, 12),
        conv_case("4x4 s1 zero", 2, 3, 4, 1, 1, 1, Z, 2, 8, 7),
        conv_case("4x4 s1 reflect p2", 2, 3, 4, 1, 2, 1, R, 2, 8, 7),
        conv_case("1x1 s1", 7, 4, 1, 1, 0, 1, Z, 2, 5, 9),
        conv_case("1x1 s2", 5, 3, 1, 2, 0, 1, Z, 2, 7, 6),
        conv_case("1x1 groups 2", 6, 4, 1, 1, 0, 2, Z, 2, 5, 7),
        conv_case("1x1 wide", 40, 70, 1, 1, 0, 1, Z, 1, 9, 13),
        conv_case("7x7 s1 reflect p3", 3, 4, 7, 1, 3, 1, R, 2, 10, 12),
        conv_case("7x7 s2 zero p3", 3, 4, 7, 2, 3, 1, Z, 2, 13, 11),
        conv_case("3x3 valid", 3, 4, 3, 1, 0, 1, Z, 2, 8, 9),
        conv_case("3x3 zero p3 (pad > k-1)", 2, 3, 3, 1, 3, 1, Z, 2, 5, 6),
        conv_case("3x3 groups 2", 4, 6, 3, 1, 1, 2, Z, 2, 9, 8),
        conv_case("3x3 s2 groups 3 reflect", 6, 9, 3, 2, 1, 3, R, 2, 9, 8),
        conv_case("depthwise 3x3 s1", 5, 5, 3, 1, 1, 5, Z, 2, 9, 10),
        conv_case("depthwise 3x3 s2", 5, 5, 3, 2, 1, 5, Z, 2, 11, 10),
        conv_case("depthwise 3x3 s1 reflect", 4, 4, 3, 1, 1, 4, R, 2, 7, 8),
        conv_case("depthwise 3x3 s1 wide", 6, 6, 3, 1, 1, 6, Z, 2, 9, 37),
        conv_case("depthwise 3x3 s2 wide", 6, 6, 3, 2, 1, 6, Z, 1, 12, 67),
        conv_case("depthwise 5x5 s1 p2", 3, 3, 5, 1, 2, 3, Z, 1, 8, 21),
        conv_case("depthwise 3x3 valid", 3, 3, 3, 1, 0, 3, Z, 1, 6, 19),
        conv_case("3x3 wide (blocks, tails)", 40, 70, 3, 1, 1, 1, Z, 1, 11, 11),
        conv_case("3x3 s2 wide reflect", 33, 20, 3, 2, 1, 1, R, 1, 17, 15),
        conv_case("3x3 64ch s1 reflect", 64, 64, 3, 1, 1, 1, R, 1, 8, 8),
        /* widths that are multiples of 8 and 16 take the direct (unpacked) GEMM path */
        conv_case("3x3 s1 direct", 5, 7, 3, 1, 1, 1, Z, 2, 9, 32),
        conv_case("3x3 s1 direct groups reflect", 4, 6, 3, 1, 1, 2, R, 2, 7, 30),
        conv_case("5x5 s1 p2 direct", 3, 4, 5, 1, 2, 1, Z, 1, 6, 48),
        conv_case("3x3 s2 direct", 5, 9, 3, 2, 1, 1, Z, 2, 9, 64),
        conv_case("4x4 s2 direct reflect", 4, 6, 4, 2, 1, 1, R, 1, 8, 32),
        /* 3x3 with 8..32 output channels: weight gradient with vectors over output channels */
        conv_case("3x3 dW 16 out", 5, 16, 3, 1, 1, 1, Z, 2, 9, 20),
        conv_case("3x3 s2 dW 12 out reflect", 4, 12, 3, 2, 1, 1, R, 1, 11, 13),
        conv_case("3x3 dW 24 out groups 2", 6, 48, 3, 1, 1, 2, Z, 1, 7, 9),
        conv_case("3x3 dW 8 out, two bands", 64, 8, 3, 1, 1, 1, Z, 1, 44, 44),
        conv_case("3x3 many bands (input)", 100, 3, 3, 1, 1, 1, Z, 1, 48, 48),
        conv_case("3x3 s2 many bands reflect", 100, 3, 3, 2, 1, 1, R, 1, 48, 40),
        conv_case("3x3 many bands (gradient) reflect", 3, 100, 3, 1, 1, 1, R, 1, 48, 44),
        convT_case("convT 4x4 s2 p1", 4, 3, 4, 2, 1, 0, 2, 5, 6),
        convT_case("convT 3x3 s2 p1 op1", 3, 5, 3, 2, 1, 1, 2, 4, 5),
        convT_case("convT 3x3 s1 p1", 5, 4, 3, 1, 1, 0, 2, 6, 7),
        convT_case("convT 1x1", 6, 3, 1, 1, 0, 0, 2, 4, 5),
        convT_case("convT 3x3 s1 p1 direct", 4, 5, 3, 1, 1, 0, 2, 5, 16),
        convT_case("convT 4x4 s2 p1 direct", 5, 4, 4, 2, 1, 0, 1, 4, 16),
        convT_case("convT 5x5 s3 p2 op2", 3, 4, 5, 3, 2, 2, 2, 4, 3),
        convT_case("convT 4x4 s2 p1 wide", 70, 33, 4, 2, 1, 0, 1, 6, 5),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_layer(&cases[i], isas, nisa);
    df_isa_force(best);
    return check_summary("test_conv");
}
