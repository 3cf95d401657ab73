/* 2-D convolution and transposed convolution, forward and backward, as GEMMs over an implicit im2col
 * view of a padded copy of the image (no column matrix is materialised).  The padded copy is made one
 * band of rows at a time (it stays in cache) and stored row-interleaved, xp[y][c][x] ("HCW"): the rows
 * that a band of output rows needs, for all channels, are one contiguous stretch of memory.  For stride
 * 1 and 2 the GEMM micro-kernels read the band in place (no packing of the image operand).
 *
 * For one image and group g (Kg = cin_g*kh*kw, P = OH*OW):
 *   forward : out[cout_g, P]  = W_g[cout_g, Kg] * col(xp)[Kg, P] + bias
 *   dweight : dW_g[cout_g, Kg] += dY[cout_g, P] * col(xp)^T  (GEMM; or, for few output channels, direct
 *             kernels: dot products along pixels, or for 3x3 vectors over output channels)
 *   dinp    : the adjoint as convolutions: stride 1: dinp = conv(dY padded by k-1-pad, W flipped and
 *             transposed); stride s: each of the s*s phases (y % s, x % s) of the padded gradient is a
 *             stride-1 convolution of dY with the taps of W in that phase, flipped and transposed
 *   reflect padding: gradients of the padded border are folded back onto their source pixels.
 * With several threads each thread takes whole bands (forward, dinp) or blocks of dW.
 * 3x3 stride-1 convolutions with enough channels (df_winograd_fits) take Winograd F(4x4, 3x3) instead
 * (winograd.c) for the forward and dinp (dinp: the same convolution of dY, weights flipped and
 * transposed; with reflect padding into the padded gradient, folded afterwards); dW stays a GEMM.
 * Depthwise convolutions (groups == cin == cout) use direct loops.  Transposed convolution is the
 * adjoint: its forward is conv's input gradient, its input gradient is conv's forward. */
#include <string.h>

#include "gemm_kern.h"
#include "winograd.h"

/* ------------------------------------------------------------------ padding */
static int reflect_index(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

static inline void copy_floats(float *d, const float *s, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) memcpy(d + i, s + i, 64);
    for (; i < n; i++) d[i] = s[i];
}

static inline void zero_floats(float *d, int n) {
    for (int i = 0; i < n; i++) d[i] = 0.0f;
}

typedef struct {
    float *xp;          /* pad: rows [y0, ...) of [..][C][Wp] (HCW);  fold: [C][H + 2ph][W + 2pw] */
    const float *x;     /* [C, H, W] */
    int C, H, W, ph, pw, Wp, mode, y0; /* pad: top and left padding, padded row length */
} pad_job;

static void pad_run(void *ctx, int t0, int t1) {
    const pad_job *j = ctx;
    int Wp = j->Wp, a = j->pw > 0 ? j->pw : 0, n = (j->pw + j->W < Wp ? j->pw + j->W : Wp) - a;
    for (int t = t0; t < t1; t++) {
        int sy = j->y0 + t - j->ph;
        for (int c = 0; c < j->C; c++) {
            float *row = j->xp + ((size_t)t * j->C + c) * Wp;
            const float *x = j->x + (size_t)c * j->H * j->W;
            if (j->mode == DF_PAD_REFLECT) {
                const float *src = x + (size_t)reflect_index(sy, j->H) * j->W;
                for (int i = 0; i < j->pw; i++) row[i] = src[reflect_index(i - j->pw, j->W)];
                copy_floats(row + j->pw, src, n);
                for (int i = j->pw + n; i < Wp; i++) row[i] = src[reflect_index(i - j->pw, j->W)];
            } else if (sy < 0 || sy >= j->H || n <= 0) {
                zero_floats(row, Wp);
            } else { /* pw < 0 (zero padding only): the row starts -pw pixels in */
                int a = j->pw > 0 ? j->pw : 0;
                zero_floats(row, a);
                copy_floats(row + a, x + (size_t)sy * j->W + (a - j->pw), n);
                zero_floats(row + a + n, Wp - a - n);
            }
        }
    }
}

/* xp[t][C][Wp] = row y0 + t of x[C, H, W] padded by ph rows above, pw columns left and whatever Wp and
 * the rows below need (zero or reflect), t < ny.  Zero padding allows ph, pw < 0 (a crop). */
static void pad_rows(float *xp, const float *x, int C, int H, int W, int ph, int pw, int Wp, int mode, int y0,
                     int ny) {
    pad_job j = {xp, x, C, H, W, ph, pw, Wp, mode, y0};
    df_parallel_for(ny, pad_run, &j);
}

/* dx[C, H, W] += the padded gradient dxp[C, H + 2ph, W + 2pw] mapped back (crop, or reflect fold). */
static void fold_run(void *ctx, int c0, int c1) {
    const pad_job *j = ctx;
    int Hp = j->H + 2 * j->ph, Wp = j->W + 2 * j->pw;
    for (int c = c0; c < c1; c++) {
        float *dx = (float *)j->x + (size_t)c * j->H * j->W;
        const float *dxp = j->xp + (size_t)c * Hp * Wp;
        for (int y = 0; y < Hp; y++) {
            const float *row = dxp + (size_t)y * Wp;
            int sy = y - j->ph;
            if (j->mode == DF_PAD_REFLECT) {
                float *dst = dx + (size_t)reflect_index(sy, j->H) * j->W;
                for (int i = 0; i < Wp; i++) dst[reflect_index(i - j->pw, j->W)] += row[i];
            } else if (sy >= 0 && sy < j->H) {
                float *dst = dx + (size_t)sy * j->W;
                for (int i = 0; i < j->W; i++) dst[i] += row[j->pw + i];
            }
        }
    }
}

static void fold_image(float *dx, const float *dxp, int C, int H, int W, int ph, int pw, int mode) {
    pad_job j = {(float *)dxp, dx, C, H, W, ph, pw, W + 2 * pw, mode, 0};
    df_parallel_for(C, fold_run, &j);
}

/* ------------------------------------------------------------------ implicit im2col sources
 * col(k, pix) = xp[ci*cs + (oy*s + ky)*rs + ox*s + kx],  k = (ci*kh + ky)*kw + kx,  pix = oy*OW + ox. */
#define MAX_PANEL TILE_ROWS
#define MAX_KC GEMM_MAX_BLOCK

/* Forward: Y(u = pix, v = k).  Each panel of P pixels is cut into runs along output rows. */
static void pack_col_pix(const gemm_kinfo *ki, const gemm_src *s, int u0, int nu, int v0, int nv, int P,
                         float *dst) {
    int rs[MAX_PANEL + 1], rl[MAX_PANEL + 1], rb[MAX_PANEL + 1], ro[MAX_KC];
    gemm_col_rows(s, v0, nv, ro);
    for (int pu = 0; pu < nu; pu += P, dst += (size_t)P * nv) {
        int w = nu - pu < P ? nu - pu : P, nrun = 0;
        int p = u0 + pu, oy = p / s->OW, ox = p - oy * s->OW;
        for (int j = 0; j < w; nrun++) {
            int len = w - j < s->OW - ox ? w - j : s->OW - ox;
            rs[nrun] = j, rl[nrun] = len, rb[nrun] = oy * s->stride * s->rs + ox * s->stride;
            j += len, ox = 0, oy++;
        }
        for (int v = 0; v < nv; v++) {
            const float *x = s->p + ro[v];
            float *d = dst + (size_t)v * P;
            if (nrun == 1 && w == P && s->stride == 1) { /* the common case: one full run */
                copy_floats(d, x + rb[0], P);
                continue;
            }
            for (int r = 0; r < nrun; r++) {
                if (s->stride == 1) {
                    copy_floats(d + rs[r], x + rb[r], rl[r]);
                } else {
                    const float *xr = x + rb[r];
                    for (int i = 0; i < rl[r]; i++) d[rs[r] + i] = xr[i * s->stride];
                }
            }
            for (int j = w; j < P; j++) d[j] = 0.0f;
        }
    }
}

/* Weight gradient: Y(u = k, v = pix): transposes of row pieces, one run of pixels along an output row
 * at a time. */
static void pack_col_k(const gemm_kinfo *ki, const gemm_src *s, int u0, int nu, int v0, int nv, int P,
                       float *dst) {
    int ro[MAX_KC];
    const float *rows[TILE_ROWS];
    gemm_col_rows(s, u0, nu, ro);
    int oy = v0 / s->OW, ox = v0 - oy * s->OW;
    for (int v = 0; v < nv; ox = 0, oy++) {
        int len = nv - v < s->OW - ox ? nv - v : s->OW - ox, rb = oy * s->stride * s->rs + ox * s->stride;
        float *d = dst + (size_t)v * P;
        for (int pu = 0; pu < nu; pu += P, d += (size_t)P * nv) {
            int w = nu - pu < P ? nu - pu : P;
            if (s->stride == 1) {
                for (int j = 0; j < w; j++) rows[j] = s->p + ro[pu + j] + rb;
                ki->tpack(rows, w, len, P, d);
            } else {
                for (int j = 0; j < w; j++) {
                    const float *x = s->p + ro[pu + j] + rb;
                    for (int i = 0; i < len; i++) d[(size_t)i * P + j] = x[i * s->stride];
                }
            }
        }
        v += len;
    }
    for (int pu = 0; pu < nu; pu += P, dst += (size_t)P * nv) gemm_pack_zero_tail(nu - pu < P ? nu - pu : P, nv, P, dst);
}

/* Flipped, transposed weights of one phase (py, px) of a stride-s kernel, for the input gradient:
 * Y(u = ci, v = (co*khp + ty)*kwp + tx) = W[co, ci, py + s*(khp-1-ty), px + s*(kwp-1-tx)], with the
 * phase's taps khp x kwp (s->kh, s->kw), W [cout_g, cin_g (= s->ld), fkh, fkw]. */
static void pack_wflip(const gemm_kinfo *ki, const gemm_src *s, int u0, int nu, int v0, int nv, int P,
                       float *dst) {
    int off[MAX_KC], fkk = s->fkh * s->fkw, cin = s->ld, kk = s->kh * s->kw;
    for (int v = 0; v < nv; v++) {
        int k = v0 + v, co = k / kk, t = k - co * kk, ty = t / s->kw, tx = t - ty * s->kw;
        off[v] = co * cin * fkk + (s->py + s->stride * (s->kh - 1 - ty)) * s->fkw + s->px + s->stride * (s->kw - 1 - tx);
    }
    for (int pu = 0; pu < nu; pu += P, dst += (size_t)P * nv) {
        int w = nu - pu < P ? nu - pu : P;
        for (int j = 0; j < w; j++) {
            const float *wc = s->p + (size_t)(u0 + pu + j) * fkk;
            for (int v = 0; v < nv; v++) dst[(size_t)v * P + j] = wc[off[v]];
        }
        gemm_pack_zero_tail(w, nv, P, dst);
    }
}

/* col of channels [c0, c0 + ...) of a padded image xp[Hp][C][Wp]. */
static gemm_src col_src(const float *xp, int C, int c0, int kh, int kw, int stride, int Wp, int OW, int by_pixel) {
    gemm_src s;
    memset(&s, 0, sizeof s);
    s.pack = by_pixel ? pack_col_pix : pack_col_k;
    s.p = xp + (size_t)c0 * Wp;
    s.kh = kh, s.kw = kw, s.stride = stride, s.cs = Wp, s.rs = C * Wp, s.OW = OW;
    s.direct = by_pixel && stride <= 2;
    return s;
}

/* ------------------------------------------------------------------ geometry and workspace */
typedef struct {
    int cin, cout, kh, kw, stride, pad, groups, mode;
    int H, W, OH, OW, Hp, Wp, P;
    int cin_g, cout_g, kk, Kg;
} geom;

static geom make_geom(const df_conv *c, int H, int W) {
    geom g;
    g.cin = c->cin, g.cout = c->cout, g.kh = c->kh, g.kw = c->kw, g.stride = c->stride, g.pad = c->pad;
    g.groups = c->groups > 0 ? c->groups : 1, g.mode = c->pad_mode;
    g.H = H, g.W = W;
    g.OH = (H + 2 * g.pad - g.kh) / g.stride + 1, g.OW = (W + 2 * g.pad - g.kw) / g.stride + 1;
    g.Hp = H + 2 * g.pad, g.Wp = W + 2 * g.pad, g.P = g.OH * g.OW;
    g.cin_g = g.cin / g.groups, g.cout_g = g.cout / g.groups, g.kk = g.kh * g.kw, g.Kg = g.cin_g * g.kk;
    return g;
}

static int is_depthwise(const geom *g) { return g->groups > 1 && g->groups == g->cin && g->groups == g->cout; }

/* The GEMM passes read the padded image one band of output rows at a time: the band's padded input
 * rows, (R-1)*stride + kh of them, are copied into the workspace just before use (and stay in cache).
 * With several threads each thread pads and computes whole bands of its own (no hand-off per band),
 * when the workspace holds a band per thread. */
typedef struct {
    const float *x;                                /* [C, H, W] */
    int C, H, W, ph, pw, Wq, mode, kh, kw, stride; /* padding (top, left), padded row length, kernel */
    int OH, OW;                                    /* output size */
} band_view;

#define BAND_FLOATS (128 * 1024)

static band_view make_band(const float *x, int C, int H, int W, int ph, int pw, int mode, int kh, int kw,
                           int stride) {
    band_view b = {x, C, H, W, ph, pw, W + 2 * pw, mode, kh, kw, stride, 0, 0};
    b.OH = (H + 2 * ph - kh) / stride + 1, b.OW = (W + 2 * pw - kw) / stride + 1;
    return b;
}

static size_t band_floats(const band_view *b, int R) {
    return ((size_t)(R - 1) * b->stride + b->kh) * b->C * b->Wq;
}

/* Output rows per band when a band may use `budget` floats (at least 1). */
static int band_rows(const band_view *b, size_t budget) {
    int R = 1;
    while (R < b->OH && band_floats(b, R + 1) <= budget) R++;
    return R;
}

static size_t band_ws(const band_view *b) {
    size_t one = band_floats(b, 1);
    return one > BAND_FLOATS ? one : BAND_FLOATS;
}

/* Pad the input rows of the band of output rows [oy0, oy0 + r) into xp. */
static void band_fill(float *xp, const band_view *b, int oy0, int r) {
    pad_rows(xp, b->x, b->C, b->H, b->W, b->ph, b->pw, b->Wq, b->mode, oy0 * b->stride,
             (r - 1) * b->stride + b->kh);
}

typedef void (*band_fn)(void *ctx, const float *xp, int oy0, int r);

typedef struct {
    const band_view *b;
    float *ws;
    size_t slot;
    int R, nband, nt;
    band_fn fn;
    void *ctx;
} band_job;

static void band_worker(void *arg, int t0, int t1) {
    const band_job *j = arg;
    for (int t = t0; t < t1; t++) {
        float *xp = j->ws + (size_t)t * j->slot;
        for (int i = t; i < j->nband; i += j->nt) {
            int oy = i * j->R, r = j->b->OH - oy < j->R ? j->b->OH - oy : j->R;
            band_fill(xp, j->b, oy, r);
            j->fn(j->ctx, xp, oy, r);
        }
    }
}

/* fn(ctx, padded band, oy0, r) over all bands; fn's bands must write disjoint outputs when run_bands may
 * run them concurrently (parallel != 0). */
static void run_bands(const band_view *b, float *ws, int parallel, band_fn fn, void *ctx) {
    size_t budget = band_ws(b);
    int nt = df_get_threads();
    if (parallel && nt > 1 && b->OH >= nt && nt * band_floats(b, 1) <= budget) {
        int R = band_rows(b, budget / nt), nb = (b->OH + R - 1) / R;
        nb = (nb + nt - 1) / nt * nt; /* a multiple of the threads, each band as even as possible */
        R = (b->OH + nb - 1) / nb;
        band_job j = {b, ws, budget / nt, R, (b->OH + R - 1) / R, nt, fn, ctx};
        df_parallel_for(nt, band_worker, &j);
        return;
    }
    int R = band_rows(b, budget);
    for (int oy = 0; oy < b->OH; oy += R) {
        int r = b->OH - oy < R ? b->OH - oy : R;
        band_fill(ws, b, oy, r);
        fn(ctx, ws, oy, r);
    }
}

static band_view fwd_band(const geom *g, const float *x) {
    return make_band(x, g->cin, g->H, g->W, g->pad, g->pad, g->mode, g->kh, g->kw, g->stride);
}

/* Stride 1, zero padding, pad < k: dinp itself is the convolution of dY padded by (kh-1-pad, kw-1-pad). */
static int dinp_direct(const geom *g) {
    return g->stride == 1 && g->mode == DF_PAD_ZERO && g->pad <= g->kh - 1 && g->pad <= g->kw - 1;
}

static band_view dinp_band(const geom *g, const float *dy) {
    return make_band(dy, g->cout, g->OH, g->OW, g->kh - 1 - g->pad, g->kw - 1 - g->pad, DF_PAD_ZERO, g->kh, g->kw,
                     1);
}

/* Otherwise phase (py, px) of the padded gradient, the pixels (py + s*Y, px + s*X), is the convolution
 * of dY padded by (khp-1, kwp-1) with the phase's khp x kwp taps.  Only Y in [Y0, Y0 + Hn), X in
 * [X0, X0 + Wn) are computed: all of them with reflect padding, those inside the image with zero
 * padding; rows are computed Wr >= Wn wide (a multiple of the vector length when that wastes little). */
typedef struct {
    int khp, kwp, Y0, X0, Hn, Wn, Wr;
} phase;

static void phase_range(int p, int s, int pad, int n, int np, int reflect, int *first, int *count) {
    int lo = reflect ? 0 : pad, hi = reflect ? np : pad + n; /* padded coordinates wanted */
    int a = lo > p ? (lo - p + s - 1) / s : 0, b = hi > p ? (hi - p + s - 1) / s : 0;
    *first = a, *count = b > a ? b - a : 0;
}

static phase make_phase(const geom *g, int py, int px) {
    int s = g->stride, reflect = g->mode == DF_PAD_REFLECT;
    phase f = {(g->kh - py + s - 1) / s, (g->kw - px + s - 1) / s, 0, 0, 0, 0, 0};
    phase_range(py, s, g->pad, g->H, g->Hp, reflect, &f.Y0, &f.Hn);
    phase_range(px, s, g->pad, g->W, g->Wp, reflect, &f.X0, &f.Wn);
    int r16 = (f.Wn + 15) / 16 * 16;
    f.Wr = r16 - f.Wn <= f.Wn / 8 ? r16 : f.Wn;
    return f;
}

static band_view phase_band(const geom *g, const phase *f, const float *dy) {
    band_view b = {dy, g->cout, g->OH, g->OW, f->khp - 1 - f->Y0, f->kwp - 1 - f->X0, f->Wr + f->kwp - 1,
                   DF_PAD_ZERO, f->khp, f->kwp, 1, f->Hn, f->Wr};
    return b;
}

/* Floats for the phase pass: the padded gradient, one phase's output, the band. */
static size_t phase_ws(const geom *g) {
    size_t most = 0;
    for (int py = 0; py < g->stride; py++)
        for (int px = 0; px < g->stride; px++) {
            phase f = make_phase(g, py, px);
            if (f.khp <= 0 || f.kwp <= 0 || f.Hn <= 0 || f.Wn <= 0) continue;
            band_view b = phase_band(g, &f, NULL);
            size_t n = ((size_t)g->cin * f.Hn * f.Wr + 15) / 16 * 16 + band_ws(&b);
            if (n > most) most = n;
        }
    return ((size_t)g->cin * g->Hp * g->Wp + 15) / 16 * 16 + most;
}

/* Row length of dY transposed for the 3x3 weight-gradient kernels (see dweight_dwt). */
static int dwt_ld(const geom *g) { return (g->cout_g + 15) / 16 * 16; }

/* Floats to hold the packed weights of all groups, forward or input gradient. */
static size_t prepack_floats(const geom *g) {
    size_t f = GEMM_PREPACK_FLOATS(g->cout_g, g->Kg), b = GEMM_PREPACK_FLOATS(g->cin_g, g->cout_g * g->kk);
    return (f > b ? f : b) * g->groups;
}

static size_t ws_floats(const geom *g) {
    band_view f = fwd_band(g, NULL);
    size_t need = band_ws(&f), d, pk = prepack_floats(g) + 16;
    if (is_depthwise(g)) { /* bands; the padded gradient of the scatter path */
        band_view b = dinp_band(g, NULL);
        d = dinp_direct(g) ? band_ws(&b) : (size_t)g->cin * g->Hp * g->Wp;
        return (d > need ? d : need) + 16;
    }
    if (g->kh == 3 && g->kw == 3 && g->cout_g <= 32) /* room for dY transposed (dweight_dwt) */
        need = (need + 15) / 16 * 16 + (size_t)band_rows(&f, band_ws(&f)) * g->OW * dwt_ld(g);
    if (dinp_direct(g)) {
        band_view b = dinp_band(g, NULL);
        d = band_ws(&b);
    } else {
        d = phase_ws(g);
    }
    need = need > pk + band_ws(&f) ? need : pk + band_ws(&f); /* forward: weights packed, then bands */
    return (d + pk > need ? d + pk : need) + 16;
}

/* Winograd (winograd.c) for the forward and the input gradient: the switch is read per call, the
 * workspace counts it whenever the shape fits. */
static int wino_fits(const geom *g) {
    df_conv c = {g->cin, g->cout, g->kh, g->kw, g->stride, g->pad, g->groups, g->mode};
    return df_winograd_fits(&c, g->H, g->W);
}

static int use_wino(const geom *g) { return wino_fits(g) && df_winograd_enabled(); }

static df_wino wino_fwd(const geom *g) {
    df_wino s = {g->cin, g->H, g->W, g->cout, g->OH, g->OW, g->pad, g->pad, g->mode, 0};
    return s;
}

/* dinp = dY padded by 2 - pad (zero), or for reflect the padded gradient [cin][Hp][Wp] (dY padded by 2),
 * convolved with the flipped, transposed weights. */
static df_wino wino_dinp(const geom *g) {
    int reflect = g->mode == DF_PAD_REFLECT, p = reflect ? 2 : 2 - g->pad;
    df_wino s = {g->cout, g->OH, g->OW, g->cin, reflect ? g->Hp : g->H, reflect ? g->Wp : g->W, p, p, DF_PAD_ZERO, 1};
    return s;
}

static size_t wino_dxp_floats(const geom *g) {
    return g->mode == DF_PAD_REFLECT ? ((size_t)g->cin * g->Hp * g->Wp + 15) / 16 * 16 : 0;
}

static size_t ws_all(const geom *g) {
    size_t need = ws_floats(g);
    if (wino_fits(g)) {
        df_wino f = wino_fwd(g), d = wino_dinp(g);
        size_t wf = df_winograd_workspace(&f), wd = wino_dxp_floats(g) + df_winograd_workspace(&d);
        if (wf > need) need = wf;
        if (wd > need) need = wd;
    }
    return need;
}

size_t df_conv2d_workspace(const df_conv *c, int H, int W) {
    geom g = make_geom(c, H, W);
    return ws_all(&g);
}

/* ------------------------------------------------------------------ depthwise (direct)
 * One channel at a time from the padded image xp[Hp][C][Wp] (row step rs = C*Wp); ISA kernels where the
 * kinfo has them, else these loops. */
static void dwc_plane_c(float *out, const float *xp, size_t rs, const float *w, int kh, int kw, int stride, int OH,
                        int OW, int accumulate, float bias) {
    for (int oy = 0; oy < OH; oy++) {
        float *o = out + (size_t)oy * OW;
        if (!accumulate)
            for (int ox = 0; ox < OW; ox++) o[ox] = bias;
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                float wv = w[ky * kw + kx];
                const float *xr = xp + (size_t)(oy * stride + ky) * rs + kx;
                for (int ox = 0; ox < OW; ox++) o[ox] += wv * xr[ox * stride];
            }
    }
}

static void dwc_dw_c(float *dw, const float *dy, const float *xp, size_t rs, int kh, int kw, int stride, int OH,
                     int OW) {
    for (int t = 0; t < kh * kw; t++) {
        double s = 0.0;
        for (int oy = 0; oy < OH; oy++) {
            const float *xr = xp + (size_t)(oy * stride + t / kw) * rs + t % kw, *d = dy + (size_t)oy * OW;
            float r = 0.0f;
            for (int ox = 0; ox < OW; ox++) r += d[ox] * xr[ox * stride];
            s += r;
        }
        dw[t] += (float)s;
    }
}

/* Bands of the padded image (see run_bands), all channels: forward, weight gradient, and for stride 1
 * with zero padding the input gradient (dY padded, kernel flipped). */
typedef struct {
    const geom *g;
    float *out;                  /* out, dW, dx */
    const float *w, *bias, *dy;
    const float *xp;             /* the band (weight gradient: channels shared out) */
    int oy, r, mode;             /* mode 0 forward, 1 weight gradient, 2 input gradient */
} dw_job;

static void dw_channels_run(void *ctx, int c0, int c1) {
    const dw_job *j = ctx;
    const geom *g = j->g;
    const gemm_kinfo *ki = gemm_kinfo_active();
    conv_dwc_kernel plane = ki->conv_dwc ? ki->conv_dwc : dwc_plane_c;
    float wf[64];
    for (int c = c0; c < c1; c++) {
        const float *w = j->w + (size_t)c * g->kk;
        if (j->mode == 0) {
            float *o = j->out + (size_t)c * g->P + (size_t)j->oy * g->OW;
            plane(o, j->xp + (size_t)c * g->Wp, (size_t)g->cin * g->Wp, w, g->kh, g->kw, g->stride, j->r, g->OW, 0,
                  j->bias ? j->bias[c] : 0.0f);
        } else if (j->mode == 1) {
            (ki->conv_dwc_dw ? ki->conv_dwc_dw : dwc_dw_c)(j->out + (size_t)c * g->kk,
                                                           j->dy + (size_t)c * g->P + (size_t)j->oy * g->OW,
                                                           j->xp + (size_t)c * g->Wp, (size_t)g->cin * g->Wp, g->kh,
                                                           g->kw, g->stride, j->r, g->OW);
        } else {
            int Wq = g->OW + 2 * (g->kw - 1 - g->pad);
            for (int t = 0; t < g->kk; t++) wf[t] = w[g->kk - 1 - t];
            plane(j->out + (size_t)c * g->H * g->W + (size_t)j->oy * g->W, j->xp + (size_t)c * Wq,
                  (size_t)g->cout * Wq, wf, g->kh, g->kw, 1, j->r, g->W, 1, 0.0f);
        }
    }
}

/* One band: every channel (forward, input gradient: the bands may run concurrently), or the channels
 * shared out among the threads (weight gradient: the bands add into the same dW). */
static void dw_band(void *ctx, const float *xp, int oy, int r) {
    dw_job j = *(const dw_job *)ctx;
    j.xp = xp, j.oy = oy, j.r = r;
    if (j.mode == 1)
        df_parallel_for(j.g->cin, dw_channels_run, &j);
    else
        dw_channels_run(&j, 0, j.g->cin);
}

static int dw_dinp_gather(const geom *g) { return dinp_direct(g) && g->kk <= 64; }

/* Otherwise: scatter into the padded gradient [C][Hp][Wp], folded afterwards. */
typedef struct {
    const geom *g;
    float *dxp;
    const float *dy, *w;
} dw_scatter_job;

static void dw_dinp_run(void *ctx, int c0, int c1) {
    const dw_scatter_job *j = ctx;
    const geom *g = j->g;
    for (int c = c0; c < c1; c++) {
        float *dxp = j->dxp + (size_t)c * g->Hp * g->Wp;
        const float *dy = j->dy + (size_t)c * g->P, *w = j->w + (size_t)c * g->kk;
        memset(dxp, 0, sizeof(float) * (size_t)g->Hp * g->Wp);
        for (int oy = 0; oy < g->OH; oy++) {
            const float *d = dy + (size_t)oy * g->OW;
            for (int ky = 0; ky < g->kh; ky++)
                for (int kx = 0; kx < g->kw; kx++) {
                    float wv = w[ky * g->kw + kx];
                    float *xr = dxp + (size_t)(oy * g->stride + ky) * g->Wp + kx;
                    for (int ox = 0; ox < g->OW; ox++) xr[ox * g->stride] += wv * d[ox];
                }
        }
    }
}

/* ------------------------------------------------------------------ per-image passes */
/* One band of a convolution pass: GEMMs per group against the padded band xp. */
typedef struct {
    const geom *g;
    const band_view *b;            /* the convolution run over the bands */
    const float *weight, *bias, *dy;
    float *out, beta;
    int flip, py, px;              /* input gradient: weights of phase (py, px) flipped and transposed */
    int plane;                     /* output plane size (rows of TW = b->OW) */
    float *scratch;                /* the workspace (dweight: transposed dY after the band) */
    const float *packed;           /* the weights of each group packed for the GEMM (see prepack) */
    size_t packed_stride;
    int packed_m;
} pass;

/* The GEMM's A operand of group gr: the weights, or (flip) those of the phase flipped and transposed. */
static gemm_src pass_weights(const pass *p, int gr) {
    const geom *g = p->g;
    gemm_src A;
    if (p->flip) {
        memset(&A, 0, sizeof A);
        A.pack = pack_wflip, A.p = p->weight + (size_t)gr * g->cout_g * g->Kg, A.ld = g->cin_g;
        A.kh = p->b->kh, A.kw = p->b->kw, A.stride = g->stride, A.fkh = g->kh, A.fkw = g->kw, A.py = p->py,
        A.px = p->px;
    } else {
        A = gemm_src_matrix(p->weight + (size_t)gr * g->cout_g * g->Kg, g->Kg, 0);
    }
    return A;
}

static int pass_m(const pass *p) { return p->flip ? p->g->cin_g : p->g->cout_g; }
static int pass_k(const pass *p) { return (p->flip ? p->g->cout_g : p->g->cin_g) * p->b->kh * p->b->kw; }

typedef struct {
    const pass *p;
    const gemm_kinfo *ki;
    float *dst;
    int nblk; /* depth blocks per group */
} prepack_job;

static void prepack_run(void *ctx, int u0, int u1) { /* unit = (group, depth block) */
    const prepack_job *j = ctx;
    for (int u = u0; u < u1; u++) {
        int gr = u / j->nblk, b = u - gr * j->nblk;
        gemm_src A = pass_weights(j->p, gr);
        gemm_prepack(j->ki, &A, pass_m(j->p), pass_k(j->p), j->dst + (size_t)gr * j->p->packed_stride, b, b + 1);
    }
}

/* Pack every group's weights once into dst (the bands then share them); returns the floats used. */
static size_t prepack(pass *p, float *dst) {
    const gemm_kinfo *ki = gemm_kinfo_active();
    prepack_job j = {p, ki, dst, (pass_k(p) + ki->kc - 1) / ki->kc};
    p->packed = dst, p->packed_stride = GEMM_PREPACK_FLOATS(pass_m(p), pass_k(p));
    p->packed_m = (pass_m(p) + ki->mr - 1) / ki->mr * ki->mr;
    df_parallel_for(p->g->groups * j.nblk, prepack_run, &j);
    return (p->packed_stride * p->g->groups + 15) / 16 * 16;
}

/* out[cout, P] (+)= conv(xp) + bias, or with flip: target[cin, ...] (+)= conv(dY band, W flipped) */
static void conv_band(void *ctx, const float *xp, int oy, int r) {
    const pass *p = ctx;
    const geom *g = p->g;
    const band_view *b = p->b;
    const gemm_kinfo *ki = gemm_kinfo_active();
    int M = pass_m(p), cg = p->flip ? g->cout_g : g->cin_g;
    for (int gr = 0; gr < g->groups; gr++) {
        gemm_src A;
        memset(&A, 0, sizeof A);
        A.packed = p->packed + gr * p->packed_stride, A.packed_m = p->packed_m;
        gemm_src B = col_src(xp, b->C, gr * cg, b->kh, b->kw, b->stride, b->Wq, b->OW, 1);
        gemm_args a = {&A, &B, M, r * b->OW, cg * b->kh * b->kw, 1.0f, p->beta,
                       p->out + (size_t)gr * M * p->plane + (size_t)oy * b->OW, p->plane,
                       p->bias ? p->bias + gr * M : NULL};
        gemm_parallel(ki, &a);
    }
}

/* Few output channels: the weight gradient reads dY and the band in place (conv_dw kernels), blocks
 * of dW shared out among the threads. */
#ifndef DW_DIRECT_MAX_COUT
#define DW_DIRECT_MAX_COUT 16
#endif

static int dweight_direct(const geom *g, const gemm_kinfo *ki) {
    return ki->conv_dw && g->cout_g <= DW_DIRECT_MAX_COUT && g->stride <= 2;
}

typedef struct {
    const pass *p;
    const float *xp;
    int oy, r, nbk, nblk; /* k blocks per group, blocks per group */
} dw_job_t;

static void dw_direct_run(void *ctx, int b0, int b1) {
    const dw_job_t *j = ctx;
    const geom *g = j->p->g;
    const gemm_kinfo *ki = gemm_kinfo_active();
    int ro[TILE_ROWS];
    for (int b = b0; b < b1; b++) {
        int gr = b / j->nblk, t = b - gr * j->nblk, co = t / j->nbk * ki->dw_mco, k = t % j->nbk * ki->dw_nk;
        int nco = g->cout_g - co < ki->dw_mco ? g->cout_g - co : ki->dw_mco;
        int nk = g->Kg - k < ki->dw_nk ? g->Kg - k : ki->dw_nk;
        gemm_src B = col_src(j->xp, g->cin, gr * g->cin_g, g->kh, g->kw, g->stride, g->Wp, g->OW, 0);
        gemm_col_rows(&B, k, nk, ro);
        size_t c0 = (size_t)gr * g->cout_g + co;
        ki->conv_dw(nco, nk, j->p->dy + c0 * g->P + (size_t)j->oy * g->OW, (size_t)g->P, B.p, ro, B.rs * g->stride, g->stride,
                    j->r, g->OW, j->p->out + c0 * g->Kg + k, g->Kg);
    }
}

/* 3x3 kernels with 8..32 output channels: vectors over output channels (conv_dwt kernels) against a
 * transposed copy of the band's dY, stored after the band in the workspace. */
static int dweight_dwt(const geom *g, const gemm_kinfo *ki) {
    return ki->conv_dwt && g->kh == 3 && g->kw == 3 && g->stride <= 2 && g->cout_g >= 8 && g->cout_g <= 32;
}

typedef struct {
    const pass *p;
    const float *xp;
    float *dyt;
    int gr, oy, r, nch;
} dwt_job;

static void dwt_transpose_run(void *ctx, int i0, int i1) { /* pixels [i0*64, i1*64) of the band */
    const dwt_job *j = ctx;
    const geom *g = j->p->g;
    const float *rows[TILE_ROWS];
    int ld = dwt_ld(g), n = j->r * g->OW, p0 = i0 * 64, p1 = i1 * 64 < n ? i1 * 64 : n;
    for (int c = 0; c < g->cout_g; c++) rows[c] = j->p->dy + ((size_t)j->gr * g->cout_g + c) * g->P + (size_t)j->oy * g->OW + p0;
    gemm_kinfo_active()->tpack(rows, g->cout_g, p1 - p0, ld, j->dyt + (size_t)p0 * ld);
    gemm_pack_zero_tail(g->cout_g, p1 - p0, ld, j->dyt + (size_t)p0 * ld);
}

static void dwt_run(void *ctx, int t0, int t1) {
    const dwt_job *j = ctx;
    const geom *g = j->p->g;
    for (int t = t0; t < t1; t++) {
        int c = t * j->nch, nch = g->cin_g - c < j->nch ? g->cin_g - c : j->nch;
        gemm_kinfo_active()->conv_dwt(nch, dwt_ld(g) / 16, j->xp + ((size_t)j->gr * g->cin_g + c) * g->Wp,
                                      (size_t)g->Wp, (size_t)g->cin * g->Wp, g->stride, j->r, g->OW, j->dyt,
                                      dwt_ld(g), j->p->out + (size_t)j->gr * g->cout_g * g->Kg + c * 9, g->cout_g,
                                      g->Kg);
    }
}

/* dW += dY[band] * col(xp)^T */
static void dweight_band(void *ctx, const float *xp, int oy, int r) {
    const pass *p = ctx;
    const geom *g = p->g;
    const gemm_kinfo *ki = gemm_kinfo_active();
    if (dweight_dwt(g, ki)) {
        band_view b = fwd_band(g, NULL);
        float *dyt = p->scratch + (band_ws(&b) + 15) / 16 * 16;
        for (int gr = 0; gr < g->groups; gr++) {
            dwt_job j = {p, xp, dyt, gr, oy, r, dwt_ld(g) == 16 ? 2 : 1};
            df_parallel_for((r * g->OW + 63) / 64, dwt_transpose_run, &j);
            df_parallel_for((g->cin_g + j.nch - 1) / j.nch, dwt_run, &j);
        }
        return;
    }
    if (dweight_direct(g, ki)) {
        int nbk = (g->Kg + ki->dw_nk - 1) / ki->dw_nk, nbc = (g->cout_g + ki->dw_mco - 1) / ki->dw_mco;
        dw_job_t j = {p, xp, oy, r, nbk, nbk * nbc};
        df_parallel_for(g->groups * nbk * nbc, dw_direct_run, &j);
        return;
    }
    for (int gr = 0; gr < g->groups; gr++) {
        gemm_src A = gemm_src_matrix(p->dy + (size_t)gr * g->cout_g * g->P + (size_t)oy * g->OW, g->P, 0);
        gemm_src B = col_src(xp, g->cin, gr * g->cin_g, g->kh, g->kw, g->stride, g->Wp, g->OW, 0);
        gemm_args a = {&A, &B, g->cout_g, g->Kg, r * g->OW, 1.0f, 1.0f, p->out + (size_t)gr * g->cout_g * g->Kg,
                       g->Kg, NULL};
        gemm_parallel(ki, &a);
    }
}

/* out[cout, P] = conv(x) + beta * out + bias  (bias may be NULL) */
/* 1x1, stride 1, no padding: the image is already the column matrix [cin, P]: plain GEMMs per group,
 *   out = W * x (+ bias),  dW += dY * x^T,  dx += W^T * dY. */
static int is_pointwise(const geom *g) { return g->kk == 1 && g->stride == 1 && g->pad == 0; }

static void pointwise(int which, float *C, const float *dy, const float *x, const float *weight, const float *bias,
                      const geom *g, float beta) {
    const gemm_kinfo *ki = gemm_kinfo_active();
    for (int gr = 0; gr < g->groups; gr++) {
        const float *w = weight ? weight + (size_t)gr * g->cout_g * g->cin_g : NULL;
        const float *xg = x ? x + (size_t)gr * g->cin_g * g->P : NULL, *dyg = dy ? dy + (size_t)gr * g->cout_g * g->P : NULL;
        gemm_src A, B;
        gemm_args a;
        if (which == 0) { /* out[cout_g, P] = W[cout_g, cin_g] x[cin_g, P] */
            A = gemm_src_matrix(w, g->cin_g, 0), B = gemm_src_matrix(xg, g->P, 1);
            a = (gemm_args){&A, &B, g->cout_g, g->P, g->cin_g, 1.0f, beta, C + (size_t)gr * g->cout_g * g->P, g->P,
                            bias ? bias + gr * g->cout_g : NULL};
        } else if (which == 1) { /* dW[cout_g, cin_g] += dY[cout_g, P] x^T */
            A = gemm_src_matrix(dyg, g->P, 0), B = gemm_src_matrix(xg, g->P, 0);
            a = (gemm_args){&A, &B, g->cout_g, g->cin_g, g->P, 1.0f, 1.0f, C + (size_t)gr * g->cout_g * g->cin_g,
                            g->cin_g, NULL};
        } else { /* dx[cin_g, P] += W^T dY[cout_g, P] */
            A = gemm_src_matrix(w, g->cin_g, 1), B = gemm_src_matrix(dyg, g->P, 1);
            a = (gemm_args){&A, &B, g->cin_g, g->P, g->cout_g, 1.0f, 1.0f, C + (size_t)gr * g->cin_g * g->P, g->P,
                            NULL};
        }
        gemm_parallel(ki, &a);
    }
}

static void conv_image(float *out, const float *x, const float *weight, const float *bias, const geom *g,
                       float beta, float *ws) {
    if (is_pointwise(g)) {
        pointwise(0, out, NULL, x, weight, bias, g, beta);
        return;
    }
    if (use_wino(g)) {
        df_wino s = wino_fwd(g);
        df_winograd_conv3x3(out, x, weight, bias, &s, 1, beta, ws);
        return;
    }
    band_view b = fwd_band(g, x);
    pass p = {g, &b, weight, bias, NULL, out, beta, 0, 0, 0, g->P, ws, NULL, 0, 0};
    run_bands(&b, ws + prepack(&p, ws), 1, conv_band, &p);
}

/* dW += dY * col(x)^T  (bands run one after another: they all add into dW) */
static void dweight_image(float *dweight, const float *dy, const float *x, const geom *g, float *ws) {
    if (is_pointwise(g)) {
        pointwise(1, dweight, dy, x, NULL, NULL, g, 1.0f);
        return;
    }
    band_view b = fwd_band(g, x);
    pass p = {g, &b, NULL, NULL, dy, dweight, 1.0f, 0, 0, 0, g->P, ws, NULL, 0, 0};
    run_bands(&b, ws, 0, dweight_band, &p);
}

typedef struct {
    const geom *g;
    const phase *f;
    float *dxp, *dx;
    const float *T;
    int py, px;
} scatter_job;

/* Reflect padding: dxp[c][py + s*(Y0 + Y)][px + s*(X0 + X)] = T[c][Y][X] (0 when T is NULL), folded later.
 * Zero padding (only pixels inside the image were computed): dx[c][y - pad][x - pad] += T[c][Y][X]. */
static void scatter_run(void *ctx, int c0, int c1) {
    const scatter_job *j = ctx;
    const geom *g = j->g;
    const phase *f = j->f;
    int s = g->stride;
    for (int c = c0; c < c1; c++)
        for (int Y = 0; Y < f->Hn; Y++) {
            int y = j->py + s * (f->Y0 + Y), x = j->px + s * f->X0;
            const float *t = j->T ? j->T + ((size_t)c * f->Hn + Y) * f->Wr : NULL;
            if (j->dx) {
                float *d = j->dx + ((size_t)c * g->H + y - g->pad) * g->W + x - g->pad;
                if (t)
                    for (int X = 0; X < f->Wn; X++) d[(size_t)s * X] += t[X];
            } else {
                float *d = j->dxp + ((size_t)c * g->Hp + y) * g->Wp + x;
                for (int X = 0; X < f->Wn; X++) d[(size_t)s * X] = t ? t[X] : 0.0f;
            }
        }
}

/* dx += conv^T(dy) */
static void dinp_image(float *dx, const float *dy, const float *weight, const geom *g, float *ws) {
    if (is_pointwise(g)) {
        pointwise(2, dx, dy, NULL, weight, NULL, g, 1.0f);
        return;
    }
    if (use_wino(g)) {
        df_wino s = wino_dinp(g);
        if (g->mode == DF_PAD_REFLECT) {
            df_winograd_conv3x3(ws, dy, weight, NULL, &s, 1, 0.0f, ws + wino_dxp_floats(g));
            fold_image(dx, ws, g->cin, g->H, g->W, g->pad, g->pad, g->mode);
        } else {
            df_winograd_conv3x3(dx, dy, weight, NULL, &s, 1, 1.0f, ws);
        }
        return;
    }
    if (dinp_direct(g)) {
        band_view b = dinp_band(g, dy);
        pass p = {g, &b, weight, NULL, NULL, dx, 1.0f, 1, 0, 0, g->H * g->W, ws, NULL, 0, 0};
        run_bands(&b, ws + prepack(&p, ws), 1, conv_band, &p);
        return;
    }
    /* reflect: the padded gradient [cin][Hp][Wp], each element written by one phase, then folded */
    int reflect = g->mode == DF_PAD_REFLECT;
    float *dxp = ws, *T = reflect ? ws + ((size_t)g->cin * g->Hp * g->Wp + 15) / 16 * 16 : ws;
    for (int py = 0; py < g->stride; py++)
        for (int px = 0; px < g->stride; px++) {
            phase f = make_phase(g, py, px);
            scatter_job j = {g, &f, dxp, reflect ? NULL : dx, NULL, py, px};
            if (!reflect && (f.khp <= 0 || f.kwp <= 0)) continue; /* no taps: adds nothing */
            if (f.Hn <= 0 || f.Wn <= 0) continue;
            if (f.khp > 0 && f.kwp > 0) {
                band_view b = phase_band(g, &f, dy);
                pass p = {g, &b, weight, NULL, NULL, T, 0.0f, 1, py, px, f.Hn * f.Wr, ws, NULL, 0, 0};
                float *pk = T + ((size_t)g->cin * f.Hn * f.Wr + 15) / 16 * 16;
                run_bands(&b, pk + prepack(&p, pk), 1, conv_band, &p);
                j.T = T;
            }
            df_parallel_for(g->cin, scatter_run, &j);
        }
    if (reflect) fold_image(dx, dxp, g->cin, g->H, g->W, g->pad, g->pad, g->mode);
}

/* ------------------------------------------------------------------ bias */
static void bias_forward(float *out, const float *bias, int C, int P) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < P; i++) out[(size_t)c * P + i] += bias[c];
}

typedef struct {
    float *dbias;
    const float *dout;
    int P;
} bias_job;

static void bias_backward_run(void *ctx, int c0, int c1) {
    const bias_job *j = ctx;
    for (int c = c0; c < c1; c++) {
        const float *d = j->dout + (size_t)c * j->P;
        double s = 0.0;
        for (int i = 0; i < j->P; i++) s += d[i];
        j->dbias[c] += (float)s;
    }
}

static void bias_backward(float *dbias, const float *dout, int C, int P) {
    bias_job j = {dbias, dout, P};
    df_parallel_for(C, bias_backward_run, &j);
}

/* ------------------------------------------------------------------ conv2d
 * inp [B, cin, H, W], weight [cout, cin/groups, kh, kw], bias [cout] or NULL -> out [B, cout, OH, OW] */
void df_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias, const df_conv *c,
                       int B, int H, int W, float *ws) {
    geom g = make_geom(c, H, W);
    if (use_wino(&g)) { /* all images at once: the weights are transformed once */
        df_wino s = wino_fwd(&g);
        df_winograd_conv3x3(out, inp, weight, bias, &s, B, 0.0f, ws);
        return;
    }
    for (int b = 0; b < B; b++) {
        const float *x = inp + (size_t)b * g.cin * H * W;
        float *o = out + (size_t)b * g.cout * g.P;
        if (is_depthwise(&g)) {
            band_view bv = fwd_band(&g, x);
            dw_job j = {&g, o, weight, bias, NULL, NULL, 0, 0, 0};
            run_bands(&bv, ws, 1, dw_band, &j);
        } else {
            conv_image(o, x, weight, bias, &g, 0.0f, ws);
        }
    }
}

void df_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const df_conv *c, int B, int H, int W, float *ws) {
    geom g = make_geom(c, H, W);
    int wdx = dinp && use_wino(&g) && g.mode == DF_PAD_ZERO; /* dinp of all images at once, after the loop */
    for (int b = 0; b < B; b++) {
        const float *x = inp + (size_t)b * g.cin * H * W, *dy = dout + (size_t)b * g.cout * g.P;
        float *dx = dinp && !wdx ? dinp + (size_t)b * g.cin * H * W : NULL;
        if (dbias) bias_backward(dbias, dy, g.cout, g.P);
        if (dweight) {
            if (is_depthwise(&g)) {
                band_view bv = fwd_band(&g, x);
                dw_job j = {&g, dweight, weight, NULL, dy, NULL, 0, 0, 1};
                run_bands(&bv, ws, 0, dw_band, &j);
            } else {
                dweight_image(dweight, dy, x, &g, ws);
            }
        }
        if (dx) {
            if (is_depthwise(&g) && dw_dinp_gather(&g)) {
                band_view bv = dinp_band(&g, dy);
                dw_job j = {&g, dx, weight, NULL, NULL, NULL, 0, 0, 2};
                run_bands(&bv, ws, 1, dw_band, &j);
            } else if (is_depthwise(&g)) {
                dw_scatter_job j = {&g, ws, dy, weight};
                df_parallel_for(g.cin, dw_dinp_run, &j);
                fold_image(dx, ws, g.cin, H, W, g.pad, g.pad, g.mode);
            } else {
                dinp_image(dx, dy, weight, &g, ws);
            }
        }
    }
    if (wdx) {
        df_wino s = wino_dinp(&g);
        df_winograd_conv3x3(dinp, dout, weight, NULL, &s, B, 1.0f, ws);
    }
}

/* ------------------------------------------------------------------ transposed conv
 * inp [B, cin, H, W], weight [cin, cout, k, k], bias [cout] -> out [B, cout, OH, OW],
 * OH = (H-1)*stride - 2*pad + k + out_pad.  It is the adjoint of the conv "cout -> cin" (same weight
 * memory: [cin, cout, k, k] read as OIHW) applied to an OH x OW image, whose output is H x W. */
static geom convT_geom(const df_convT *t, int H, int W) {
    df_conv c = {t->cout, t->cin, t->k, t->k, t->stride, t->pad, 1, DF_PAD_ZERO};
    return make_geom(&c, df_convT_out(H, t), df_convT_out(W, t));
}

size_t df_convT_workspace(const df_convT *c, int H, int W) {
    geom g = convT_geom(c, H, W);
    return ws_all(&g);
}

void df_convT_forward(float *out, const float *inp, const float *weight, const float *bias, const df_convT *c,
                      int B, int H, int W, float *ws) {
    geom g = convT_geom(c, H, W); /* g.H x g.W is the output size, g.OH x g.OW == H x W */
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * g.cin * g.H * g.W;
        memset(o, 0, sizeof(float) * (size_t)g.cin * g.H * g.W);
        dinp_image(o, inp + (size_t)b * g.cout * g.P, weight, &g, ws);
        if (bias) bias_forward(o, bias, g.cin, g.H * g.W);
    }
}

void df_convT_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                       const float *weight, const df_convT *c, int B, int H, int W, float *ws) {
    geom g = convT_geom(c, H, W);
    for (int b = 0; b < B; b++) {
        const float *dy = dout + (size_t)b * g.cin * g.H * g.W, *x = inp + (size_t)b * g.cout * g.P;
        if (dbias) bias_backward(dbias, dy, g.cin, g.H * g.W);
        if (dweight) dweight_image(dweight, x, dy, &g, ws);
        if (dinp) conv_image(dinp + (size_t)b * g.cout * g.P, dy, weight, NULL, &g, 1.0f, ws);
    }
}
