/* Private to winograd*.c: the plan of one Winograd F(4x4, 3x3) convolution and its three transform kernels
 * (weights, input tiles, output tiles), written once with GCC/clang vector extensions of WL = 16 floats and
 * compiled once per instruction set: winograd.c (baseline: SSE2 natively, SIMD128 in wasm),
 * winograd_avx2.c, winograd_avx512.c, each with its own flags (CMakeLists.txt); winograd.c picks one.
 * The GEMMs between the transforms are gemm.c's.  Scheme and layouts in winograd.c. */
#ifndef DF_WINOGRAD_KERN_H
#define DF_WINOGRAD_KERN_H

#include <string.h>

#include "gemm_kern.h"
#include "winograd.h"

#define WL 16   /* tiles (lanes) per vector */
#define SEGT 32 /* tiles of a row per pass of the input transform (its row buffers: 6 x SEGW floats) */
#define SEGW (4 * SEGT + 80)

/* A block of tile rows [ty0, ty0 + R): tile (ty, tx) is column (ty - ty0)*TW + tx of V and M. */
typedef struct {
    int TW, TH, R, nb, nbp;  /* tiles per row and column, tile rows per block, its tiles, nb rounded up to WL */
    size_t us, vs, ms;       /* floats from one transform point to the next in U, V, M */
    size_t u, v, m, total;   /* U, V, M: offsets into the workspace */
} wplan;

typedef struct {
    const df_wino *s;
    const wplan *p;
    float *out, *ws;
    const float *x, *weight, *bias;
    float beta;
    int mr, kc, packed_m; /* the GEMM's A layout (gemm_prepack) */
    int ty0, R;           /* the block: tile rows [ty0, ty0 + R) */
} wjob;

/* df_parallel_for bodies: weights over panels of mr output channels, input over channels, output over
 * output channels. */
typedef struct {
    void (*weights)(void *job, int p0, int p1);
    void (*input)(void *job, int c0, int c1);
    void (*output)(void *job, int k0, int k1);
} wino_kinfo;

extern const wino_kinfo wino_kinfo_base;
#if defined(DF_X86)
extern const wino_kinfo wino_kinfo_avx2;
extern const wino_kinfo wino_kinfo_avx512;
#endif

/* ------------------------------------------------------------------ the kernels (in each including file) */
typedef float wvec __attribute__((vector_size(WL * sizeof(float))));
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(wvec))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(wvec))
#define WINLINE static inline __attribute__((always_inline))

static int wk_reflect(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

/* dst[0 .. n) = v[0 .. n), n <= WL */
WINLINE void store_n(float *dst, const wvec *v, int n) {
    if (n == WL)
        memcpy(dst, v, sizeof(wvec));
    else
        for (int i = 0; i < n; i++) dst[i] = (*v)[i];
}

/* B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 * G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 * A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] */
#define BT_ROWS(r0, r1, r2, r3, r4, r5, d0, d1, d2, d3, d4, d5)                                           \
    do {                                                                                                 \
        wvec d42_ = (d4) - (d2);                                                                         \
        r0 = 4.0f * (d0) - 5.0f * (d2) + (d4);                                                           \
        r1 = ((d3) + (d4)) - 4.0f * ((d1) + (d2));                                                       \
        r2 = 4.0f * ((d1) - (d2)) + ((d4) - (d3));                                                       \
        r3 = 2.0f * ((d3) - (d1)) + d42_;                                                                \
        r4 = 2.0f * ((d1) - (d3)) + d42_;                                                                \
        r5 = 4.0f * (d1) - 5.0f * (d3) + (d5);                                                           \
    } while (0)

#define AT_ROWS(o0, o1, o2, o3, m0, m1, m2, m3, m4, m5)                                                  \
    do {                                                                                                 \
        wvec s12_ = (m1) + (m2), d12_ = (m1) - (m2), s34_ = (m3) + (m4), d34_ = (m3) - (m4);             \
        o0 = (m0) + s12_ + s34_;                                                                         \
        o1 = d12_ + 2.0f * d34_;                                                                         \
        o2 = s12_ + 4.0f * s34_;                                                                         \
        o3 = d12_ + 8.0f * d34_ + (m5);                                                                  \
    } while (0)

#define G_ROWS(r0, r1, r2, r3, r4, r5, g0, g1, g2)                                                      \
    do {                                                                                                 \
        wvec s02_ = (g0) + (g2), a_ = (g0) * (1.0f / 24.0f) + (g2) * (1.0f / 6.0f), b_ = (g1) * (1.0f / 12.0f); \
        r0 = 0.25f * (g0);                                                                               \
        r1 = (s02_ + (g1)) * (-1.0f / 6.0f);                                                             \
        r2 = (s02_ - (g1)) * (-1.0f / 6.0f);                                                             \
        r3 = a_ + b_;                                                                                    \
        r4 = a_ - b_;                                                                                    \
        r5 = (g2);                                                                                       \
    } while (0)

/* Lanes l of phase q: element 4l + q of the 64 floats v0 v1 v2 v3. */
#define DEINTERLEAVE4(q, v0, v1, v2, v3)                                                                 \
    __builtin_shufflevector(__builtin_shufflevector(v0, v1, q, q + 4, q + 8, q + 12, q + 16, q + 20, q + 24, q + 28), \
                            __builtin_shufflevector(v2, v3, q, q + 4, q + 8, q + 12, q + 16, q + 20, q + 24, q + 28), \
                            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

/* ---- weights: U in gemm_prepack's layout: per block of kc input channels [pc, pc + kc), panels of mr rows
 * (output channels; rows past K zero), a[pc*packed_m + (k/mr)*mr*kc + (c - pc)*mr + k%mr].  A vector is mr
 * rows by WL/mr consecutive channels (mr divides WL: df_winograd_fits checks it): one contiguous store per
 * transform point. */
#define WGB 8 /* vectors of kernels gathered before they are transformed (the gathering's stores settle) */

static void wk_weights(void *ctx, int p0, int p1) {
    const wjob *j = ctx;
    const df_wino *s = j->s;
    const wplan *p = j->p;
    int mr = j->mr, KC = j->kc, cpv = WL / mr;
    float g[WGB * 9 * WL] __attribute__((aligned(64)));
    size_t off[WL], cstep = s->flip ? (size_t)s->K * 9 : 9; /* lane l: kernel at w + c0*cstep + off[l] */
    for (int kp = p0; kp < p1; kp++) {
        int kl[WL];
        for (int l = 0; l < WL; l++) {
            int k = kp * mr + l % mr;
            kl[l] = k < s->K ? l / mr : -1; /* channel within the vector, -1: a row past K */
            off[l] = s->flip ? ((size_t)(l / mr) * s->K + k) * 9 : ((size_t)k * s->C + l / mr) * 9;
        }
        for (int pc = 0; pc < s->C; pc += KC) {
            int kc = s->C - pc < KC ? s->C - pc : KC;
            for (int cb = pc; cb < pc + kc; cb += WGB * cpv) {
                int nv = (pc + kc - cb + cpv - 1) / cpv < WGB ? (pc + kc - cb + cpv - 1) / cpv : WGB;
                for (int v = 0; v < nv; v++) {
                    int c0 = cb + v * cpv, cn = pc + kc - c0; /* channels left in the depth block */
                    const float *wb = j->weight + (size_t)c0 * cstep;
                    float *gv = g + v * 9 * WL;
                    for (int l = 0; l < WL; l++) {
                        if (kl[l] < 0 || kl[l] >= cn)
                            for (int t = 0; t < 9; t++) gv[t * WL + l] = 0.0f;
                        else if (s->flip)
                            for (int t = 0; t < 9; t++) gv[t * WL + l] = wb[off[l] + 8 - t];
                        else
                            for (int t = 0; t < 9; t++) gv[t * WL + l] = wb[off[l] + t];
                    }
                }
                for (int v = 0; v < nv; v++) {
                    int c0 = cb + v * cpv, n = (pc + kc - c0 < cpv ? pc + kc - c0 : cpv) * mr;
                    const float *gv = g + v * 9 * WL;
                    float *dst = j->ws + p->u + (size_t)pc * j->packed_m + (size_t)kp * mr * kc + (size_t)(c0 - pc) * mr;
                    wvec t[18];
                    for (int b = 0; b < 3; b++) {
                        wvec g0, g1, g2;
                        VLOAD(g0, gv + (0 * 3 + b) * WL), VLOAD(g1, gv + (1 * 3 + b) * WL), VLOAD(g2, gv + (2 * 3 + b) * WL);
                        G_ROWS(t[0 * 3 + b], t[1 * 3 + b], t[2 * 3 + b], t[3 * 3 + b], t[4 * 3 + b], t[5 * 3 + b], g0, g1, g2);
                    }
                    for (int a = 0; a < 6; a++) {
                        wvec r[6];
                        G_ROWS(r[0], r[1], r[2], r[3], r[4], r[5], t[a * 3 + 0], t[a * 3 + 1], t[a * 3 + 2]);
                        if (n == WL)
                            for (int b = 0; b < 6; b++) VSTORE(dst + (size_t)(a * 6 + b) * p->us, r[b]);
                        else
                            for (int b = 0; b < 6; b++) store_n(dst + (size_t)(a * 6 + b) * p->us, &r[b], n);
                    }
                }
            }
        }
    }
}

/* ---- input: V[e][c][col] = (B^T d B)[e] for the tiles of the block.  Per tile row and run of up to SEGT
 * tiles: the column transform (B^T on 6 input rows) along the padded rows into sv[6][SEGW], contiguous
 * vectors; then the row transform, 16 tiles at a time, the 6 phases (x mod 4, and +4, +5) of each row
 * taken out by shuffles. */

/* One column: t[a] (stride ts) = B^T d, d the 6 values. */
static void bt_column(float *t, size_t ts, const float *d) {
    t[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    t[ts] = (d[3] + d[4]) - 4.0f * (d[1] + d[2]);
    t[2 * ts] = 4.0f * (d[1] - d[2]) + (d[4] - d[3]);
    t[3 * ts] = 2.0f * (d[3] - d[1]) + (d[4] - d[2]);
    t[4 * ts] = 2.0f * (d[1] - d[3]) + (d[4] - d[2]);
    t[5 * ts] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/* sv[a][i] for i in [0, need), a < 6: B^T of the 6 padded rows from y0 (padded coordinates) at padded column
 * X0 + i, i.e. source column base + i, base = X0 - pw.  Columns past the last padded one the output needs
 * (OW + 2) are zero; those of the valid range [0, nv) are exact.  Source columns come in vectors (the last
 * one moved back to end at W; images narrower than WL column by column), padding columns one by one.
 * sv has WL floats of margin before index 0 (a vector moved back may start there). */
WINLINE void input_columns(float *sv, const float *x, const df_wino *s, int y0, int X0, int nv, int need) {
    const float *row[6];
    int reflect = s->mode == DF_PAD_REFLECT, W = s->W, base = X0 - s->pw;
    int last = s->OW + 2 - s->pw;                /* source columns past this one feed no output */
    int hi = base + nv < W ? base + nv : W, lo = base > 0 ? base : 0;
    for (int a = 0; a < 6; a++) {
        int y = y0 + a - s->ph;
        if (reflect) y = wk_reflect(y, s->H);
        row[a] = y >= 0 && y < s->H ? x + (size_t)y * W : NULL;
    }
    if (W >= WL) {
        for (int xs = lo; xs < hi; xs += WL) {
            int st = xs + WL <= W ? xs : W - WL;
            wvec d[6], r[6];
            for (int a = 0; a < 6; a++) {
                if (row[a])
                    VLOAD(d[a], row[a] + st);
                else
                    d[a] = (wvec){0};
            }
            BT_ROWS(r[0], r[1], r[2], r[3], r[4], r[5], d[0], d[1], d[2], d[3], d[4], d[5]);
            for (int a = 0; a < 6; a++) VSTORE(sv + a * SEGW + (st - base), r[a]);
        }
    }
    for (int i = 0; i < need; i++) {
        int src = base + i;
        if (src >= lo && src < hi && W >= WL) { /* done above */
            i = hi - base - 1;
            continue;
        }
        float d[6];
        if (src >= 0 && src < W && src < base + nv) {
            for (int a = 0; a < 6; a++) d[a] = row[a] ? row[a][src] : 0.0f;
        } else if (reflect && src < last && src < base + nv) {
            int r = wk_reflect(src, W);
            for (int a = 0; a < 6; a++) d[a] = row[a][r];
        } else {
            for (int a = 0; a < 6; a++) sv[a * SEGW + i] = 0.0f;
            continue;
        }
        bt_column(sv + i, SEGW, d);
    }
}

static void wk_input(void *ctx, int c0, int c1) {
    const wjob *j = ctx;
    const df_wino *s = j->s;
    const wplan *p = j->p;
    float svm[6 * SEGW + WL] __attribute__((aligned(64))), *sv = svm + WL;
    for (int c = c0; c < c1; c++) {
        const float *x = j->x + (size_t)c * s->H * s->W;
        float *vc = j->ws + p->v + (size_t)c * p->nbp;
        for (int ty = j->ty0; ty < j->ty0 + j->R; ty++) {
            /* the rows the next tile row adds (or the next channel's first), into the cache ahead of use */
            int ny = ty + 1 < j->ty0 + j->R, yn = ny ? 4 * ty + 6 - s->ph : 4 * j->ty0 - s->ph;
            const float *xn = ny ? x : x + (size_t)s->H * s->W;
            if (c + 1 < c1 || ny)
                for (int a = 0; a < (ny ? 4 : 6); a++)
                    if (yn + a >= 0 && yn + a < s->H)
                        for (int i = 0; i < s->W; i += WL) __builtin_prefetch(xn + (size_t)(yn + a) * s->W + i);
            for (int txs = 0; txs < p->TW; txs += SEGT) {
                int nt = p->TW - txs < SEGT ? p->TW - txs : SEGT;
                int need = 4 * ((nt - 1) / WL * WL) + 80; /* what the last run of 16 tiles reads */
                input_columns(sv, x, s, 4 * ty, 4 * txs, 4 * nt + 2, need);
                float *vt = vc + (size_t)(ty - j->ty0) * p->TW + txs;
                for (int g = 0; g < nt; g += WL) {
                    int n = nt - g < WL ? nt - g : WL;
                    for (int a = 0; a < 6; a++) {
                        const float *b = sv + a * SEGW + 4 * g;
                        wvec v0, v1, v2, v3, v4, q[6], r[6];
                        VLOAD(v0, b), VLOAD(v1, b + 16), VLOAD(v2, b + 32), VLOAD(v3, b + 48), VLOAD(v4, b + 64);
                        q[0] = DEINTERLEAVE4(0, v0, v1, v2, v3);
                        q[1] = DEINTERLEAVE4(1, v0, v1, v2, v3);
                        q[2] = DEINTERLEAVE4(2, v0, v1, v2, v3);
                        q[3] = DEINTERLEAVE4(3, v0, v1, v2, v3);
                        q[4] = __builtin_shufflevector(q[0], v4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
                        q[5] = __builtin_shufflevector(q[1], v4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17);
                        BT_ROWS(r[0], r[1], r[2], r[3], r[4], r[5], q[0], q[1], q[2], q[3], q[4], q[5]);
                        for (int b2 = 0; b2 < 6; b2++) store_n(vt + (size_t)(a * 6 + b2) * p->vs + g, &r[b2], n);
                    }
                }
            }
        }
        for (int e = 0; e < 36; e++) /* the columns past the block's tiles, up to nbp */
            memset(vc + (size_t)e * p->vs + p->nb, 0, sizeof(float) * (size_t)(p->nbp - p->nb));
    }
}

/* ---- output: out[k][4ty + a][4tx + b] = beta * out + bias + (A^T M A)[a][b], 16 tiles at a time, the four
 * columns b of a row interleaved back into 64 pixels by shuffles. */
static void wk_output(void *ctx, int k0, int k1) {
    const wjob *j = ctx;
    const df_wino *s = j->s;
    const wplan *p = j->p;
    int OH = s->OH, OW = s->OW;
    float beta = j->beta;
    for (int k = k0; k < k1; k++) {
        float *out = j->out + (size_t)k * OH * OW;
        const float *mk = j->ws + p->m + (size_t)k * p->nbp;
        wvec bias = (wvec){0} + (j->bias ? j->bias[k] : 0.0f);
        for (int ty = j->ty0; ty < j->ty0 + j->R; ty++) {
            int oy = 4 * ty, ny = OH - oy < 4 ? OH - oy : 4;
            for (int g = 0; g < p->TW; g += WL) {
                const float *m0 = mk + (size_t)(ty - j->ty0) * p->TW + g;
                wvec t[24], o[16];
                for (int b = 0; b < 6; b++) {
                    wvec m[6];
                    for (int a = 0; a < 6; a++) VLOAD(m[a], m0 + (size_t)(a * 6 + b) * p->ms);
                    AT_ROWS(t[0 * 6 + b], t[1 * 6 + b], t[2 * 6 + b], t[3 * 6 + b], m[0], m[1], m[2], m[3], m[4], m[5]);
                }
                for (int a = 0; a < 4; a++) {
                    const wvec *ta = t + a * 6;
                    AT_ROWS(o[a * 4 + 0], o[a * 4 + 1], o[a * 4 + 2], o[a * 4 + 3], ta[0], ta[1], ta[2], ta[3], ta[4], ta[5]);
                }
                int ox = 4 * g, nx = OW - ox < 4 * WL ? OW - ox : 4 * WL;
                for (int a = 0; a < ny; a++) {
                    wvec *oa = o + a * 4, q[4];
                    wvec i01l = __builtin_shufflevector(oa[0], oa[1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
                    wvec i01h = __builtin_shufflevector(oa[0], oa[1], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
                    wvec i23l = __builtin_shufflevector(oa[2], oa[3], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
                    wvec i23h = __builtin_shufflevector(oa[2], oa[3], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
                    q[0] = __builtin_shufflevector(i01l, i23l, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
                    q[1] = __builtin_shufflevector(i01l, i23l, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
                    q[2] = __builtin_shufflevector(i01h, i23h, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
                    q[3] = __builtin_shufflevector(i01h, i23h, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
                    float *row = out + (size_t)(oy + a) * OW + ox;
                    for (int h = 0; h < 4 && 16 * h < nx; h++) {
                        int n = nx - 16 * h < WL ? nx - 16 * h : WL;
                        wvec v = q[h] + bias;
                        if (beta != 0.0f) {
                            if (n == WL) {
                                wvec old;
                                VLOAD(old, row + 16 * h);
                                v += beta * old;
                            } else {
                                for (int i = 0; i < n; i++) v[i] += beta * row[16 * h + i];
                            }
                        }
                        store_n(row + 16 * h, &v, n);
                    }
                }
            }
        }
    }
}

#define WINO_KINFO(name) const wino_kinfo name = {wk_weights, wk_input, wk_output};

#endif
