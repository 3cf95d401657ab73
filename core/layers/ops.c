/* Non-convolution layers: resampling, instance norm, batch-norm folding, activations, structure ops
 * (add, concat, broadcast, global average pool) and linear.  Forward/backward side by side; every
 * backward accumulates into its gradients and skips NULL ones.  These layers are memory-bound: loops
 * are kept plain so the compiler vectorises them, and the big ones run on the thread pool. */
#include <math.h>
#include <string.h>

#include "df.h"

/* work (in floats touched) below which a loop stays on the calling thread */
#define PAR_MIN (1 << 16)

/* sum of n floats: 8 float lanes (vectorisable), combined in double */
static double sum_f(const float *x, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    double s = 0;
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

/* ------------------------------------------------------------------ nearest upsampling
 * inp [BC, H, W] -> out [BC, H*s, W*s], out[y][x] = inp[y/s][x/s]. */
void df_upsample_nearest_forward(float *out, const float *inp, int BC, int H, int W, int s) {
    int OW = W * s;
    for (int p = 0; p < BC; p++)
        for (int y = 0; y < H; y++) {
            const float *src = inp + ((size_t)p * H + y) * W;
            float *dst = out + ((size_t)p * H + y) * s * (size_t)OW;
            for (int x = 0; x < W; x++)
                for (int k = 0; k < s; k++) dst[x * s + k] = src[x];
            for (int r = 1; r < s; r++) memcpy(dst + (size_t)r * OW, dst, (size_t)OW * sizeof(float));
        }
}

/* dinp [BC, H, W] += sum of dout over each s x s block. */
void df_upsample_nearest_backward(float *dinp, const float *dout, int BC, int H, int W, int s) {
    if (!dinp) return;
    int OW = W * s;
    for (int p = 0; p < BC; p++)
        for (int y = 0; y < H; y++) {
            float *d = dinp + ((size_t)p * H + y) * W;
            for (int r = 0; r < s; r++) {
                const float *g = dout + (((size_t)p * H + y) * s + r) * (size_t)OW;
                for (int x = 0; x < W; x++) {
                    float acc = 0;
                    for (int k = 0; k < s; k++) acc += g[x * s + k];
                    d[x] += acc;
                }
            }
        }
}

/* (the bilinear resize df_resize_bilinear_* lives in resample.c, with every other resampler) */

/* inp [BC, H, W] -> out [BC, H*s, W*s], bilinear with half-pixel centres */
void df_upsample_bilinear_forward(float *out, const float *inp, int BC, int H, int W, int s) {
    df_resize_bilinear_forward(out, inp, BC, H, W, H * s, W * s);
}

void df_upsample_bilinear_backward(float *dinp, const float *dout, int BC, int H, int W, int s) {
    df_resize_bilinear_backward(dinp, dout, BC, H, W, H * s, W * s);
}

/* ------------------------------------------------------------------ instance norm
 * inp, out [B, C, HW]; per (b, c): mean, biased variance, rstd = 1/sqrt(var + eps);
 * out = gamma[c] * (x - mean) * rstd + beta[c].  mean, rstd [B*C] saved for backward. */
typedef struct {
    float *out, *mean, *rstd, *dinp, *dgamma, *dbeta;
    const float *inp, *dout, *gamma, *beta;
    int B, C, HW;
    float eps;
} in_ctx;

static void in_fwd_range(void *vctx, int begin, int end) {
    const in_ctx *c = vctx;
    int HW = c->HW;
    for (int p = begin; p < end; p++) {
        int ch = p % c->C;
        const float *x = c->inp + (size_t)p * HW;
        float *y = c->out + (size_t)p * HW;
        float m = (float)(sum_f(x, HW) / HW);
        float acc[8] = {0};
        int i = 0;
        for (; i + 8 <= HW; i += 8)
            for (int k = 0; k < 8; k++) acc[k] += (x[i + k] - m) * (x[i + k] - m);
        double var = 0;
        for (; i < HW; i++) var += (double)(x[i] - m) * (x[i] - m);
        for (int k = 0; k < 8; k++) var += acc[k];
        var /= HW;
        float rs = (float)(1.0 / sqrt(var + c->eps));
        c->mean[p] = m;
        c->rstd[p] = rs;
        float g = c->gamma ? c->gamma[ch] : 1.0f, b = c->beta ? c->beta[ch] : 0.0f;
        float a = g * rs, s = b - m * a; /* y = a*x + s */
        for (i = 0; i < HW; i++) y[i] = a * x[i] + s;
    }
}

void df_instnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                         const float *beta, int B, int C, int HW, float eps) {
    in_ctx c = {.out = out, .mean = mean, .rstd = rstd, .inp = inp, .gamma = gamma, .beta = beta,
                .B = B, .C = C, .HW = HW, .eps = eps};
    if ((size_t)B * C * HW >= PAR_MIN) df_parallel_for(B * C, in_fwd_range, &c);
    else in_fwd_range(&c, 0, B * C);
}

/* Per channel (so that dgamma/dbeta have one writer), over the batch:
 * xhat = (x - mean) * rstd, g = dout * gamma;
 * dx += rstd * (g - mean(g) - xhat * mean(g * xhat)); dgamma += sum dout*xhat; dbeta += sum dout. */
static void in_bwd_range(void *vctx, int begin, int end) {
    const in_ctx *c = vctx;
    int HW = c->HW, C = c->C;
    for (int ch = begin; ch < end; ch++) {
        float gm = c->gamma ? c->gamma[ch] : 1.0f;
        double dg = 0, db = 0;
        for (int b = 0; b < c->B; b++) {
            size_t p = (size_t)b * C + ch;
            const float *x = c->inp + p * HW, *dy = c->dout + p * HW;
            float m = c->mean[p], rs = c->rstd[p];
            float s1[8] = {0}, s2[8] = {0};
            int i = 0;
            for (; i + 8 <= HW; i += 8)
                for (int k = 0; k < 8; k++) {
                    s1[k] += dy[i + k];
                    s2[k] += dy[i + k] * (x[i + k] - m);
                }
            double sdy = 0, sdyx = 0;
            for (; i < HW; i++) {
                sdy += dy[i];
                sdyx += (double)dy[i] * (x[i] - m);
            }
            for (int k = 0; k < 8; k++) {
                sdy += s1[k];
                sdyx += s2[k];
            }
            sdyx *= rs; /* sum dy * xhat */
            db += sdy;
            dg += sdyx;
            if (c->dinp) {
                float *dx = c->dinp + p * HW;
                /* dx = gm*rs*(dy - mean(dy) - xhat*mean(dy*xhat)) = A*dy + Bc*(x - m) + Cc */
                float A = gm * rs;
                float Bc = -(float)(gm * rs * rs * (sdyx / HW));
                float Cc = -(float)(gm * rs * (sdy / HW));
                for (i = 0; i < HW; i++) dx[i] += A * dy[i] + Bc * (x[i] - m) + Cc;
            }
        }
        if (c->dgamma) c->dgamma[ch] += (float)dg;
        if (c->dbeta) c->dbeta[ch] += (float)db;
    }
}

void df_instnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                          const float *mean, const float *rstd, const float *gamma, int B, int C, int HW) {
    in_ctx c = {.dinp = dinp, .dgamma = dgamma, .dbeta = dbeta, .dout = dout, .inp = inp,
                .mean = (float *)mean, .rstd = (float *)rstd, .gamma = gamma, .B = B, .C = C, .HW = HW};
    if ((size_t)B * C * HW >= PAR_MIN) df_parallel_for(C, in_bwd_range, &c);
    else in_bwd_range(&c, 0, C);
}

/* ------------------------------------------------------------------ batch-norm folding
 * w [cout, per_out], b [cout]: conv followed by inference BN == conv with
 * w' = w * gamma/sqrt(var + eps), b' = (b - mean) * gamma/sqrt(var + eps) + beta. */
void df_batchnorm_fold(float *w, float *b, const float *gamma, const float *beta, const float *mean,
                       const float *var, float eps, int cout, int per_out) {
    for (int o = 0; o < cout; o++) {
        float s = (float)((gamma ? gamma[o] : 1.0f) / sqrt((double)var[o] + eps));
        float *wo = w + (size_t)o * per_out;
        for (int i = 0; i < per_out; i++) wo[i] *= s;
        b[o] = (b[o] - mean[o]) * s + (beta ? beta[o] : 0.0f);
    }
}

/* ------------------------------------------------------------------ activations
 * out [n] = act(inp [n]); alpha is the leaky-ReLU slope. */
void df_act_forward(float *out, const float *inp, size_t n, df_act act, float alpha) {
    switch (act) {
    case DF_ACT_NONE:
        if (out != inp) memmove(out, inp, n * sizeof(float));
        break;
    /* Blocks of 8 through a local copy: the compiler vectorises these branch-free at -O2 (cmpltps + andps;
     * SIMD128 in wasm) although out may alias inp; the plain loop compiles to a branch per element, which
     * mispredicts on activations (~10 % of a CartoonGAN forward). */
    case DF_ACT_RELU: {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            float t[8];
            for (int k = 0; k < 8; k++) t[k] = inp[i + k] > 0 ? inp[i + k] : 0.0f;
            for (int k = 0; k < 8; k++) out[i + k] = t[k];
        }
        for (; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : 0.0f;
        break;
    }
    case DF_ACT_LRELU: {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            float t[8];
            for (int k = 0; k < 8; k++) t[k] = inp[i + k] > 0 ? inp[i + k] : alpha * inp[i + k];
            for (int k = 0; k < 8; k++) out[i + k] = t[k];
        }
        for (; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : alpha * inp[i];
        break;
    }
    case DF_ACT_RELU6:
        for (size_t i = 0; i < n; i++) out[i] = fminf(fmaxf(inp[i], 0.0f), 6.0f);
        break;
    case DF_ACT_TANH:
        for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
        break;
    case DF_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + expf(-inp[i]));
        break;
    }
}

/* dinp [n] += dout * act'(.).  The ReLU family reads inp (or out when inp is NULL: same sign
 * pattern for alpha > 0); tanh and sigmoid read out (or recompute it from inp when out is NULL). */
void df_act_backward(float *dinp, const float *dout, const float *inp, const float *out, size_t n, df_act act,
                     float alpha) {
    if (!dinp) return;
    const float *z = inp ? inp : out;
    switch (act) {
    case DF_ACT_NONE:
        for (size_t i = 0; i < n; i++) dinp[i] += dout[i];
        break;
    case DF_ACT_RELU:
        for (size_t i = 0; i < n; i++) dinp[i] += z[i] > 0 ? dout[i] : 0.0f;
        break;
    case DF_ACT_LRELU:
        for (size_t i = 0; i < n; i++) dinp[i] += z[i] > 0 ? dout[i] : alpha * dout[i];
        break;
    case DF_ACT_RELU6:
        for (size_t i = 0; i < n; i++) dinp[i] += (z[i] > 0 && z[i] < 6.0f) ? dout[i] : 0.0f;
        break;
    case DF_ACT_TANH:
        if (out)
            for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
        else
            for (size_t i = 0; i < n; i++) {
                float t = tanhf(inp[i]);
                dinp[i] += dout[i] * (1.0f - t * t);
            }
        break;
    case DF_ACT_SIGMOID:
        if (out)
            for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * out[i] * (1.0f - out[i]);
        else
            for (size_t i = 0; i < n; i++) {
                float s = 1.0f / (1.0f + expf(-inp[i]));
                dinp[i] += dout[i] * s * (1.0f - s);
            }
        break;
    }
}

/* ------------------------------------------------------------------ add
 * out [n] = a + b (out may alias a or b). */
void df_add_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void df_add_backward(float *da, float *db, const float *dout, size_t n) {
    if (da)
        for (size_t i = 0; i < n; i++) da[i] += dout[i];
    if (db)
        for (size_t i = 0; i < n; i++) db[i] += dout[i];
}

/* ------------------------------------------------------------------ concat
 * out [B, Ca+Cb, HW] = (a [B, Ca, HW], b [B, Cb, HW]) along channels. */
void df_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb, int HW) {
    size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    for (int i = 0; i < B; i++) {
        memcpy(out + i * (na + nb), a + i * na, na * sizeof(float));
        memcpy(out + i * (na + nb) + na, b + i * nb, nb * sizeof(float));
    }
}

void df_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW) {
    size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    for (int i = 0; i < B; i++) {
        const float *g = dout + i * (na + nb);
        if (da)
            for (size_t j = 0; j < na; j++) da[i * na + j] += g[j];
        if (db)
            for (size_t j = 0; j < nb; j++) db[i * nb + j] += g[na + j];
    }
}

/* ------------------------------------------------------------------ broadcast
 * out [B, C, HW] = vec [B, C] repeated over HW. */
void df_broadcast_forward(float *out, const float *vec, int B, int C, int HW) {
    for (size_t p = 0; p < (size_t)B * C; p++) {
        float v = vec[p];
        float *o = out + p * HW;
        for (int i = 0; i < HW; i++) o[i] = v;
    }
}

/* dvec [B, C] += sum over HW of dout */
void df_broadcast_backward(float *dvec, const float *dout, int B, int C, int HW) {
    if (!dvec) return;
    for (size_t p = 0; p < (size_t)B * C; p++) dvec[p] += (float)sum_f(dout + p * HW, HW);
}

/* ------------------------------------------------------------------ global average pool
 * out [B, C] = mean over HW of inp [B, C, HW]. */
void df_gap_forward(float *out, const float *inp, int B, int C, int HW) {
    for (size_t p = 0; p < (size_t)B * C; p++) out[p] = (float)(sum_f(inp + p * HW, HW) / HW);
}

void df_gap_backward(float *dinp, const float *dout, int B, int C, int HW) {
    if (!dinp) return;
    for (size_t p = 0; p < (size_t)B * C; p++) {
        float g = dout[p] / (float)HW;
        float *d = dinp + p * HW;
        for (int i = 0; i < HW; i++) d[i] += g;
    }
}

/* ------------------------------------------------------------------ linear
 * out [B, O] = inp [B, I] * weight [O, I]^T + bias [O] (bias may be NULL).  Small layers (heads of
 * discriminators): plain loops. */
static float dot_f(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

void df_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int I, int O) {
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++)
            out[(size_t)b * O + o] = (bias ? bias[o] : 0.0f) + dot_f(inp + (size_t)b * I, weight + (size_t)o * I, I);
}

/* dinp [B, I] += dout * W; dweight [O, I] += dout^T * inp; dbias [O] += sum_b dout */
void df_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, int B, int I, int O) {
    for (int b = 0; b < B; b++) {
        const float *x = inp + (size_t)b * I;
        float *dx = dinp ? dinp + (size_t)b * I : NULL;
        for (int o = 0; o < O; o++) {
            float g = dout[(size_t)b * O + o];
            const float *w = weight + (size_t)o * I;
            if (dx)
                for (int i = 0; i < I; i++) dx[i] += g * w[i];
            if (dweight) {
                float *dw = dweight + (size_t)o * I;
                for (int i = 0; i < I; i++) dw[i] += g * x[i];
            }
            if (dbias) dbias[o] += g;
        }
    }
}
