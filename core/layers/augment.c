/* Differentiable robustness transforms (see augment.h). */
#include <math.h>
#include <string.h>

#include "augment.h"

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

aug_op aug_random(aug_kind kind, int S, df_rng *rng) {
    aug_op op = {kind, S, 0, 0, 0.0f, 95, AUG_ROUND_STE};
    switch (kind) {
    case AUG_DIVERSITY:
        op.r = clampi((int)lrintf(S * (0.85f + 0.15f * df_rng_uniform(rng))), 1, S);
        op.oy = (int)(df_rng_u32(rng) % (uint32_t)(S - op.r + 1));
        op.ox = (int)(df_rng_u32(rng) % (uint32_t)(S - op.r + 1));
        break;
    case AUG_RESIZE:
        op.r = clampi((int)lrintf(S * (0.5f + 0.5f * df_rng_uniform(rng))), 1, S);
        break;
    case AUG_BLUR:
        op.sigma = 0.4f + 0.8f * df_rng_uniform(rng);
        break;
    case AUG_JPEG:
        op.quality = 70 + (int)(df_rng_u32(rng) % 26u);
        break;
    default:
        break;
    }
    return op;
}

df_status aug_check(const aug_op *op, int S) {
    switch (op->kind) {
    case AUG_NONE:
        return DF_OK;
    case AUG_DIVERSITY:
        if (op->r < 1 || op->r > S || op->oy < 0 || op->ox < 0 || op->oy + op->r > S || op->ox + op->r > S)
            return df_fail(DF_ERR_ARG, "aug: diversity window outside the image");
        return DF_OK;
    case AUG_RESIZE:
        return op->r >= 1 && op->r <= 4 * S ? DF_OK : df_fail(DF_ERR_ARG, "aug: resize side out of range");
    case AUG_BLUR:
        return op->sigma > 0 && op->sigma <= 8 ? DF_OK : df_fail(DF_ERR_ARG, "aug: blur sigma must be in (0, 8]");
    case AUG_JPEG:
        if (S % 16) return df_fail(DF_ERR_ARG, "aug: jpeg needs a side that is a multiple of 16");
        return op->quality >= 1 && op->quality <= 100 ? DF_OK : df_fail(DF_ERR_ARG, "aug: jpeg quality 1..100");
    }
    return df_fail(DF_ERR_ARG, "aug: unknown transform");
}

size_t aug_workspace(const aug_op *op, int B, int S) {
    switch (op->kind) {
    case AUG_DIVERSITY:
    case AUG_RESIZE:
        return (size_t)B * 3 * op->r * op->r;
    case AUG_BLUR:
        return (size_t)B * 3 * S * S;
    case AUG_JPEG: /* planes Y, Cb, Cr; coefficients; gradients: 3 x 1.5 S^2 */
        return (size_t)9 * S * S / 2;
    default:
        return 1;
    }
}

/* ------------------------------------------------------------------ blur: y[i] = sum_k w[k] x[clamp(i + k - R)] */
#define BLUR_RMAX 16

static int blur_kernel(float *w, float sigma) {
    int R = (int)ceilf(2.0f * sigma);
    if (R > BLUR_RMAX) R = BLUR_RMAX;
    double s = 0;
    for (int k = -R; k <= R; k++) s += w[k + R] = expf(-0.5f * k * k / (sigma * sigma));
    for (int k = 0; k <= 2 * R; k++) w[k] = (float)(w[k] / s);
    return R;
}

/* One 1-D pass (rows, or columns if vertical) over planes of S x S.  Forward: out = W in;
 * adjoint: out += W^T in. */
static void blur_pass(float *out, const float *in, int planes, int S, int vertical, const float *w, int R, int adjoint) {
    size_t step = vertical ? (size_t)S : 1;
    for (int p = 0; p < planes; p++)
        for (int line = 0; line < S; line++) {
            size_t base = (size_t)p * S * S + (vertical ? (size_t)line : (size_t)line * S);
            for (int i = 0; i < S; i++) {
                float acc = 0, g = adjoint ? in[base + i * step] : 0.0f;
                for (int k = -R; k <= R; k++) {
                    size_t j = base + (size_t)clampi(i + k, 0, S - 1) * step;
                    if (adjoint)
                        out[j] += w[k + R] * g;
                    else
                        acc += w[k + R] * in[j];
                }
                if (!adjoint) out[base + i * step] = acc;
            }
        }
}

/* ------------------------------------------------------------------ jpeg */
static const unsigned char QY[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                                     14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                                     18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                                     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
static const unsigned char QC[64] = {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                                     24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
                                     99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
                                     99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

static void quant_table(float *q, const unsigned char *base, int quality) {
    int scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
    for (int i = 0; i < 64; i++) q[i] = (float)clampi((base[i] * scale + 50) / 100, 1, 255);
}

static float dct_c[8][8]; /* dct_c[u][i] = a(u) cos((2i + 1) u pi / 16) */
static int dct_ready = 0;

static void dct_init(void) {
    if (dct_ready) return;
    for (int u = 0; u < 8; u++)
        for (int i = 0; i < 8; i++)
            dct_c[u][i] = (float)((u ? sqrt(0.25) : sqrt(0.125)) * cos((2 * i + 1) * u * 3.14159265358979323846 / 16.0));
    dct_ready = 1;
}

/* In place on an 8x8 block of a plane with row stride ld: inverse = 0: F = C X C^T; inverse = 1: X = C^T F C. */
static void dct8(float *b, int ld, int inverse) {
    float t[8][8];
    for (int u = 0; u < 8; u++)
        for (int j = 0; j < 8; j++) {
            float s = 0;
            for (int i = 0; i < 8; i++) s += (inverse ? dct_c[i][u] : dct_c[u][i]) * b[i * ld + j];
            t[u][j] = s;
        }
    for (int u = 0; u < 8; u++)
        for (int v = 0; v < 8; v++) {
            float s = 0;
            for (int j = 0; j < 8; j++) s += t[u][j] * (inverse ? dct_c[j][v] : dct_c[v][j]);
            b[u * ld + v] = s;
        }
}

/* Code a plane (w x h, multiples of 8) in place: p <- IDCT(Q * rnd(DCT(p) / Q)); v <- DCT(p) / Q. */
static void plane_code(float *p, float *v, int w, int h, const float *q, int mode) {
    for (int by = 0; by < h; by += 8)
        for (int bx = 0; bx < w; bx += 8) {
            float *b = p + (size_t)by * w + bx, *vb = v + (size_t)by * w + bx;
            dct8(b, w, 0);
            for (int u = 0; u < 8; u++)
                for (int k = 0; k < 8; k++) {
                    float a = b[u * w + k] / q[u * 8 + k], r = rintf(a);
                    vb[u * w + k] = a;
                    if (mode == AUG_ROUND_CUBIC) r += (a - r) * (a - r) * (a - r);
                    b[u * w + k] = q[u * 8 + k] * (mode == AUG_ROUND_NONE ? a : r);
                }
            dct8(b, w, 1);
        }
}

/* Adjoint of plane_code's Jacobian, in place on the gradient plane g. */
static void plane_code_backward(float *g, const float *v, int w, int h, int mode) {
    for (int by = 0; by < h; by += 8)
        for (int bx = 0; bx < w; bx += 8) {
            float *b = g + (size_t)by * w + bx;
            const float *vb = v + (size_t)by * w + bx;
            dct8(b, w, 0); /* the adjoint of the IDCT */
            if (mode == AUG_ROUND_CUBIC)
                for (int u = 0; u < 8; u++)
                    for (int k = 0; k < 8; k++) {
                        float a = vb[u * w + k], d = a - rintf(a);
                        b[u * w + k] *= 3.0f * d * d;
                    }
            dct8(b, w, 1);
        }
}

/* Planes of one image after coding: Y [S*S], Cb, Cr [S/2 * S/2] (centred on 0, 0..255 scale); V likewise. */
static void jpeg_planes(const aug_op *op, const float *x, int S, float *Y, float *Cb, float *Cr, float *V) {
    size_t hw = (size_t)S * S;
    int h2 = S / 2;
    float qy[64], qc[64];
    quant_table(qy, QY, op->quality);
    quant_table(qc, QC, op->quality);
    memset(Cb, 0, sizeof(float) * (size_t)h2 * h2);
    memset(Cr, 0, sizeof(float) * (size_t)h2 * h2);
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            size_t p = (size_t)i * S + j, c = (size_t)(i / 2) * h2 + j / 2;
            float R = (x[p] + 1) * 127.5f, G = (x[hw + p] + 1) * 127.5f, B = (x[2 * hw + p] + 1) * 127.5f;
            Y[p] = 0.299f * R + 0.587f * G + 0.114f * B - 128.0f;
            Cb[c] += 0.25f * (-0.168736f * R - 0.331264f * G + 0.5f * B);
            Cr[c] += 0.25f * (0.5f * R - 0.418688f * G - 0.081312f * B);
        }
    plane_code(Y, V, S, S, qy, op->round_mode);
    plane_code(Cb, V + hw, h2, h2, qc, op->round_mode);
    plane_code(Cr, V + hw + hw / 4, h2, h2, qc, op->round_mode);
}

/* Chroma upsampling as decoders do it ("fancy", libjpeg's and stb_image's h2v2 filter): full-resolution sample i
 * of a half-resolution axis is 3/4 of sample i/2 plus 1/4 of its neighbour on i's side (clamped at the edges). */
static inline void up_taps(int i, int h2, int *near, int *far) {
    *near = i / 2;
    *far = clampi(i & 1 ? i / 2 + 1 : i / 2 - 1, 0, h2 - 1);
}

static inline float chroma_at(const float *C, int h2, int i, int j) {
    int a0, a1, b0, b1;
    up_taps(i, h2, &a0, &a1);
    up_taps(j, h2, &b0, &b1);
    const float *r0 = C + (size_t)a0 * h2, *r1 = C + (size_t)a1 * h2;
    return 0.5625f * r0[b0] + 0.1875f * (r0[b1] + r1[b0]) + 0.0625f * r1[b1];
}

/* Adjoint of chroma_at: G[taps of (i, j)] += weights * g. */
static inline void chroma_at_adjoint(float *G, int h2, int i, int j, float g) {
    int a0, a1, b0, b1;
    up_taps(i, h2, &a0, &a1);
    up_taps(j, h2, &b0, &b1);
    float *r0 = G + (size_t)a0 * h2, *r1 = G + (size_t)a1 * h2;
    r0[b0] += 0.5625f * g, r0[b1] += 0.1875f * g, r1[b0] += 0.1875f * g, r1[b1] += 0.0625f * g;
}

/* RGB value of channel ch (before clamping), on the [-1, 1] scale, from Y (centred) and upsampled cb, cr. */
static inline float jpeg_rgb(float Yp, float cb, float cr, int ch) {
    float y = Yp + 128.0f;
    float v = ch == 0 ? y + 1.402f * cr : ch == 1 ? y - 0.344136f * cb - 0.714136f * cr : y + 1.772f * cb;
    return v / 127.5f - 1.0f;
}

static void jpeg_forward(const aug_op *op, float *y, const float *x, int B, int S, float *ws) {
    dct_init();
    size_t hw = (size_t)S * S;
    int h2 = S / 2;
    float *Y = ws, *Cb = ws + hw, *Cr = Cb + hw / 4, *V = Cr + hw / 4;
    for (int b = 0; b < B; b++) {
        jpeg_planes(op, x + b * 3 * hw, S, Y, Cb, Cr, V);
        float *yb = y + b * 3 * hw;
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                size_t p = (size_t)i * S + j;
                float cb = chroma_at(Cb, h2, i, j), cr = chroma_at(Cr, h2, i, j);
                for (int ch = 0; ch < 3; ch++) {
                    float v = jpeg_rgb(Y[p], cb, cr, ch);
                    yb[ch * hw + p] = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
                }
            }
    }
}

static void jpeg_backward(const aug_op *op, float *dx, const float *dy, const float *x, int B, int S, float *ws) {
    dct_init();
    size_t hw = (size_t)S * S, c4 = hw / 4;
    int h2 = S / 2;
    float *Y = ws, *Cb = ws + hw, *Cr = Cb + c4, *V = Cr + c4, *gY = V + hw + 2 * c4, *gCb = gY + hw, *gCr = gCb + c4;
    for (int b = 0; b < B; b++) {
        const float *xb = x + b * 3 * hw, *db = dy + b * 3 * hw;
        jpeg_planes(op, xb, S, Y, Cb, Cr, V);
        memset(gY, 0, sizeof(float) * (hw + 2 * c4));
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                size_t p = (size_t)i * S + j;
                float cb = chroma_at(Cb, h2, i, j), cr = chroma_at(Cr, h2, i, j), g[3];
                for (int ch = 0; ch < 3; ch++) {
                    float v = jpeg_rgb(Y[p], cb, cr, ch);
                    g[ch] = (v > -1.0f && v < 1.0f) ? db[ch * hw + p] / 127.5f : 0.0f;
                }
                gY[p] = g[0] + g[1] + g[2];
                chroma_at_adjoint(gCb, h2, i, j, -0.344136f * g[1] + 1.772f * g[2]);
                chroma_at_adjoint(gCr, h2, i, j, 1.402f * g[0] - 0.714136f * g[1]);
            }
        plane_code_backward(gY, V, S, S, op->round_mode);
        plane_code_backward(gCb, V + hw, h2, h2, op->round_mode);
        plane_code_backward(gCr, V + hw + c4, h2, h2, op->round_mode);
        float *dxb = dx + b * 3 * hw;
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                size_t p = (size_t)i * S + j, c = (size_t)(i / 2) * h2 + j / 2;
                float gy = gY[p], gb = 0.25f * gCb[c], gr = 0.25f * gCr[c];
                dxb[p] += 127.5f * (0.299f * gy - 0.168736f * gb + 0.5f * gr);
                dxb[hw + p] += 127.5f * (0.587f * gy - 0.331264f * gb - 0.418688f * gr);
                dxb[2 * hw + p] += 127.5f * (0.114f * gy + 0.5f * gb - 0.081312f * gr);
            }
    }
}

/* ------------------------------------------------------------------ dispatch */
void aug_forward(const aug_op *op, float *y, const float *x, int B, int S, float *ws) {
    int BC = B * 3;
    size_t n = (size_t)BC * S * S;
    switch (op->kind) {
    case AUG_NONE:
        memcpy(y, x, n * sizeof(float));
        break;
    case AUG_DIVERSITY:
        df_resize_bilinear_forward(ws, x, BC, S, S, op->r, op->r);
        memset(y, 0, n * sizeof(float));
        for (int p = 0; p < BC; p++)
            for (int i = 0; i < op->r; i++)
                memcpy(y + ((size_t)p * S + op->oy + i) * S + op->ox, ws + ((size_t)p * op->r + i) * op->r,
                       (size_t)op->r * sizeof(float));
        break;
    case AUG_RESIZE:
        df_resize_bilinear_forward(ws, x, BC, S, S, op->r, op->r);
        df_resize_bilinear_forward(y, ws, BC, op->r, op->r, S, S);
        break;
    case AUG_BLUR: {
        float w[2 * BLUR_RMAX + 1];
        int R = blur_kernel(w, op->sigma);
        blur_pass(ws, x, BC, S, 0, w, R, 0);
        blur_pass(y, ws, BC, S, 1, w, R, 0);
        break;
    }
    case AUG_JPEG:
        jpeg_forward(op, y, x, B, S, ws);
        break;
    }
}

void aug_backward(const aug_op *op, float *dx, const float *dy, const float *x, int B, int S, float *ws) {
    int BC = B * 3;
    size_t n = (size_t)BC * S * S;
    switch (op->kind) {
    case AUG_NONE:
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
        break;
    case AUG_DIVERSITY:
        for (int p = 0; p < BC; p++)
            for (int i = 0; i < op->r; i++)
                memcpy(ws + ((size_t)p * op->r + i) * op->r, dy + ((size_t)p * S + op->oy + i) * S + op->ox,
                       (size_t)op->r * sizeof(float));
        df_resize_bilinear_backward(dx, ws, BC, S, S, op->r, op->r);
        break;
    case AUG_RESIZE:
        memset(ws, 0, (size_t)BC * op->r * op->r * sizeof(float));
        df_resize_bilinear_backward(ws, dy, BC, op->r, op->r, S, S);
        df_resize_bilinear_backward(dx, ws, BC, S, S, op->r, op->r);
        break;
    case AUG_BLUR: {
        float w[2 * BLUR_RMAX + 1];
        int R = blur_kernel(w, op->sigma);
        memset(ws, 0, n * sizeof(float));
        blur_pass(ws, dy, BC, S, 1, w, R, 1);
        blur_pass(dx, ws, BC, S, 0, w, R, 1);
        break;
    }
    case AUG_JPEG:
        jpeg_backward(op, dx, dy, x, B, S, ws);
        break;
    }
}
