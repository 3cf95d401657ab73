/* The paper's metrics (design notes "Metrics"): deepfake disruption (d_pix, d_mask, L2_mask, success),
 * invisibility of the protection (PSNR, SSIM, L-inf) and the Frechet distance between feature sets.
 * Everything accumulates in double. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

/* ------------------------------------------------------------------ disruption */

/* CMUA-Watermark's mask rule for pixel p of planar [3, H*W] images. */
static int mask_at(const float *gx, const float *x, size_t hw, size_t p) {
    double s = 0.0;
    for (int c = 0; c < 3; c++) s += fabs((double)gx[c * hw + p] - (double)x[c * hw + p]);
    return s > 0.5;
}

long df_cmua_mask(uint8_t *mask, const float *gx, const float *x, int H, int W) {
    size_t hw = (size_t)H * W;
    long count = 0;
    for (size_t p = 0; p < hw; p++) {
        mask[p] = (uint8_t)mask_at(gx, x, hw, p);
        count += mask[p];
    }
    return count;
}

/* g_adv, g_clean, x: [3, H, W].  The mask comes from (g_clean, x). */
void df_disruption_measure(df_disruption *d, const float *g_adv, const float *g_clean, const float *x, int H, int W) {
    size_t hw = (size_t)H * W;
    double sum = 0.0, sum_mask = 0.0;
    long mp = 0;
    for (size_t p = 0; p < hw; p++) {
        double s = 0.0;
        for (int c = 0; c < 3; c++) {
            double t = (double)g_adv[c * hw + p] - (double)g_clean[c * hw + p];
            s += t * t;
        }
        sum += s;
        if (mask_at(g_clean, x, hw, p)) {
            sum_mask += s;
            mp++;
        }
    }
    double n = 3.0 * (double)hw, nm = 3.0 * (double)mp;
    d->d_pix = sqrt(sum);
    d->d_pix_rms = hw ? sqrt(sum / n) : 0.0;
    d->d_mask = sqrt(sum_mask);
    d->d_mask_rms = mp ? sqrt(sum_mask / nm) : 0.0;
    d->l2 = hw ? sum / n : 0.0;
    d->l2_mask = mp ? sum_mask / nm : 0.0;
    d->mask_pixels = mp;
    d->success = mp > 0 && d->l2_mask > DF_SUCCESS_THRESHOLD;
}

/* ------------------------------------------------------------------ invisibility */

/* PSNR = 10 log10(2^2 / MSE) on [-1, 1] (= 10 log10(255^2 / MSE) on 0..255).
 * Identical inputs give +INFINITY; n == 0 gives NAN. */
double df_psnr(const float *a, const float *b, size_t n) {
    if (n == 0) return NAN;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double t = (double)a[i] - (double)b[i];
        s += t * t;
    }
    if (s == 0.0) return INFINITY;
    return 10.0 * log10(4.0 / (s / (double)n));
}

/* max |a - b|; 0 for n == 0. */
double df_linf(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double t = fabs((double)a[i] - (double)b[i]);
        if (t > m) m = t;
    }
    return m;
}

/* SSIM (Wang et al. 2004, as the reference MATLAB ssim_index): pixels mapped [-1, 1] -> [0, 1] (data range 1),
 * C1 = (0.01)^2, C2 = (0.03)^2, Gaussian window 11x11 with sigma 1.5 normalised to sum 1, local statistics
 * weighted by it (population variances: sigma^2 = E_w[x^2] - mu^2), 'valid' window positions only, SSIM map
 * averaged per channel, then the channel means averaged.
 * Images smaller than 11 in H or W use the largest odd window k <= min(H, W) (same sigma, truncated and
 * renormalised).  Returns NAN on bad sizes or if the scratch allocation (5 * H * (W-k+1) doubles) fails. */
double df_ssim(const float *a, const float *b, int C, int H, int W) {
    if (!a || !b || C < 1 || H < 1 || W < 1) return NAN;
    int k = H < W ? H : W;
    if (k > 11) k = 11;
    if (k % 2 == 0) k--;
    int OH = H - k + 1, OW = W - k + 1, r = k / 2;
    double g[11], gs = 0.0;
    for (int i = 0; i < k; i++) gs += g[i] = exp(-(double)((i - r) * (i - r)) / (2.0 * 1.5 * 1.5));
    for (int i = 0; i < k; i++) g[i] /= gs;
    size_t plane = (size_t)H * OW;
    double *buf = malloc(5 * plane * sizeof(double));
    if (!buf) return NAN;
    const double C1 = 0.01 * 0.01, C2 = 0.03 * 0.03;
    double total = 0.0;
    for (int c = 0; c < C; c++) {
        const float *pa = a + (size_t)c * H * W, *pb = b + (size_t)c * H * W;
        /* horizontal pass: E_x[u], E_x[v], E_x[u^2], E_x[v^2], E_x[uv] with u, v in [0, 1] */
        for (int y = 0; y < H; y++)
            for (int ox = 0; ox < OW; ox++) {
                double s[5] = {0, 0, 0, 0, 0};
                for (int i = 0; i < k; i++) {
                    double u = 0.5 * ((double)pa[(size_t)y * W + ox + i] + 1.0);
                    double v = 0.5 * ((double)pb[(size_t)y * W + ox + i] + 1.0);
                    s[0] += g[i] * u;
                    s[1] += g[i] * v;
                    s[2] += g[i] * u * u;
                    s[3] += g[i] * v * v;
                    s[4] += g[i] * u * v;
                }
                for (int q = 0; q < 5; q++) buf[q * plane + (size_t)y * OW + ox] = s[q];
            }
        /* vertical pass and the SSIM map */
        double acc = 0.0;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double s[5] = {0, 0, 0, 0, 0};
                for (int i = 0; i < k; i++)
                    for (int q = 0; q < 5; q++) s[q] += g[i] * buf[q * plane + (size_t)(oy + i) * OW + ox];
                double mu = s[0], mv = s[1];
                double su = s[2] - mu * mu, sv = s[3] - mv * mv, suv = s[4] - mu * mv;
                acc += ((2.0 * mu * mv + C1) * (2.0 * suv + C2)) / ((mu * mu + mv * mv + C1) * (su + sv + C2));
            }
        total += acc / ((double)OH * OW);
    }
    free(buf);
    return total / C;
}

/* ------------------------------------------------------------------ Frechet distance */

/* C[i, j] (+)= dot(A[i, :K], B[j, :K]) for rows i of A and j of B; C is ldc wide.  With sym (A == B) only
 * the tiles on or above the diagonal are computed (the caller mirrors).  4x2 register tiles. */
typedef struct {
    double *C;
    const double *A, *B;
    int M, N, K, ldc, sym, acc;
} gemm_nt_args;

static double dot(const double *a, const double *b, int K) {
    double s0 = 0, s1 = 0;
    int k = 0;
    for (; k + 1 < K; k += 2) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
    }
    if (k < K) s0 += a[k] * b[k];
    return s0 + s1;
}

static void gemm_nt_block(const gemm_nt_args *g, int i0) {
    int K = g->K, i1 = i0 + 4 < g->M ? i0 + 4 : g->M;
    int j = g->sym ? i0 : 0;
    const double *a0 = g->A + (size_t)i0 * K;
    if (i1 - i0 == 4)
        for (; j + 1 < g->N; j += 2) {
            const double *a1 = a0 + K, *a2 = a1 + K, *a3 = a2 + K;
            const double *b0 = g->B + (size_t)j * K, *b1 = b0 + K;
            double s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
            for (int k = 0; k < K; k++) {
                double x0 = b0[k], x1 = b1[k];
                s00 += a0[k] * x0;
                s01 += a0[k] * x1;
                s10 += a1[k] * x0;
                s11 += a1[k] * x1;
                s20 += a2[k] * x0;
                s21 += a2[k] * x1;
                s30 += a3[k] * x0;
                s31 += a3[k] * x1;
            }
            double s[8] = {s00, s01, s10, s11, s20, s21, s30, s31};
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 2; c++) {
                    double *o = &g->C[(size_t)(i0 + r) * g->ldc + j + c];
                    *o = g->acc ? *o + s[2 * r + c] : s[2 * r + c];
                }
        }
    for (; j < g->N; j++) /* tails */
        for (int i = i0; i < i1; i++) {
            double s = dot(g->A + (size_t)i * K, g->B + (size_t)j * K, K);
            double *o = &g->C[(size_t)i * g->ldc + j];
            *o = g->acc ? *o + s : s;
        }
}

/* Work item p does row blocks p and nb-1-p, so that triangular (sym) work splits evenly over threads. */
static void gemm_nt_pairs(void *ctx, int p0, int p1) {
    const gemm_nt_args *g = ctx;
    int nb = (g->M + 3) / 4;
    for (int p = p0; p < p1; p++) {
        gemm_nt_block(g, 4 * p);
        if (nb - 1 - p != p) gemm_nt_block(g, 4 * (nb - 1 - p));
    }
}

static void gemm_nt(double *C, int ldc, const double *A, int M, const double *B, int N, int K, int sym, int acc) {
    gemm_nt_args g = {C, A, B, M, N, K, ldc, sym, acc};
    df_parallel_for(((M + 3) / 4 + 1) / 2, gemm_nt_pairs, &g);
}

static void mirror_upper(double *S, int d) {
    for (int i = 0; i < d; i++)
        for (int j = i + 1; j < d; j++) S[(size_t)j * d + i] = S[(size_t)i * d + j];
}

#define FRECHET_ROWS 256 /* feature rows centred and transposed per covariance update */

/* mu [d], S [d, d] = sum (x - mu)(x - mu)^T / (n - 1).  xt: scratch [d, FRECHET_ROWS]. */
static void moments(double *mu, double *S, double *xt, const float *X, int n, int d) {
    for (int j = 0; j < d; j++) mu[j] = 0.0;
    for (int r = 0; r < n; r++)
        for (int j = 0; j < d; j++) mu[j] += X[(size_t)r * d + j];
    for (int j = 0; j < d; j++) mu[j] /= n;
    for (int r0 = 0; r0 < n; r0 += FRECHET_ROWS) {
        int m = n - r0 < FRECHET_ROWS ? n - r0 : FRECHET_ROWS;
        for (int r = 0; r < m; r++)
            for (int j = 0; j < d; j++) xt[(size_t)j * m + r] = X[(size_t)(r0 + r) * d + j] - mu[j];
        gemm_nt(S, d, xt, d, xt, d, m, 1, r0 > 0);
    }
    mirror_upper(S, d);
    for (size_t i = 0; i < (size_t)d * d; i++) S[i] /= n - 1;
}

/* FD = ||mu_a - mu_b||^2 + Tr(Sa) + Tr(Sb) - 2 Tr((Sa^1/2 Sb Sa^1/2)^1/2).
 * With Sa = Z^T diag(la) Z, Sa^1/2 Sb Sa^1/2 is orthogonally similar to M = diag(sqrt la) (Z Sb Z^T) diag(sqrt la),
 * so the trace term is sum sqrt(eig(M)); eigenvalues are clamped at 0 (PSD up to rounding), and so is the result. */
df_status df_frechet(double *out, const float *feat_a, int na, const float *feat_b, int nb, int d) {
    if (!out || !feat_a || !feat_b) return df_fail(DF_ERR_ARG, "frechet: NULL argument");
    if (na < 2 || nb < 2) return df_fail(DF_ERR_ARG, "frechet: need at least 2 feature rows per set (%d, %d)", na, nb);
    if (d < 1 || d > 8192) return df_fail(DF_ERR_ARG, "frechet: feature size %d out of range [1, 8192]", d);
    size_t dd = (size_t)d * d;
    double *mem = malloc((3 * dd + (size_t)d * FRECHET_ROWS + 5 * (size_t)d) * sizeof(double));
    if (!mem) return df_fail(DF_ERR_NOMEM, "frechet: cannot allocate scratch for d = %d", d);
    double *Sa = mem, *Sb = Sa + dd, *Q = Sb + dd, *xt = Q + dd;
    double *mua = xt + (size_t)d * FRECHET_ROWS, *mub = mua + d, *la = mub + d, *lm = la + d, *e = lm + d;
    moments(mua, Sa, xt, feat_a, na, d);
    moments(mub, Sb, xt, feat_b, nb, d);
    double fd = 0.0;
    for (int j = 0; j < d; j++) {
        double t = mua[j] - mub[j];
        fd += t * t + Sa[(size_t)j * d + j] + Sb[(size_t)j * d + j];
    }
    df_status st = DF_OK;
    if (!isfinite(fd)) {
        st = df_fail(DF_ERR_ARG, "frechet: non-finite features");
        goto done;
    }
    if ((st = df_eigh(la, Sa, e, d, 1)) != DF_OK) goto done; /* Sa now holds Z */
    gemm_nt(Q, d, Sa, d, Sb, d, d, 0, 0);                     /* Q = Z Sb (Sb symmetric) */
    gemm_nt(Sb, d, Q, d, Sa, d, d, 1, 0);                     /* Sb = Q Z^T, upper triangle */
    for (int i = 0; i < d; i++) la[i] = sqrt(la[i] > 0.0 ? la[i] : 0.0);
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++) Sb[(size_t)i * d + j] *= la[i] * la[j];
    if ((st = df_eigh(lm, Sb, e, d, 0)) != DF_OK) goto done;
    double tr = 0.0;
    for (int i = 0; i < d; i++) tr += sqrt(lm[i] > 0.0 ? lm[i] : 0.0);
    fd -= 2.0 * tr;
    *out = fd > 0.0 ? fd : 0.0;
done:
    free(mem);
    return st;
}
