/* wasm SIMD128 GEMM micro-kernels: 4 x 8 tile (8 v128 accumulators; no FMA: mul + add), B packed or
 * read in place from a padded image (stride 1 or 2).
 * Broadcasts use wasm_f32x4_splat (clang-14 does not fold lane-by-lane construction). */
#include <wasm_simd128.h>

#include "gemm_kern.h"

#define MR 4
#define NV 2
#define NR (4 * NV)
#define KC 256
#define MC 128
#define NC 1024
GEMM_CHECK_BLOCKS(MR, NR, KC, MC, NC);

/* One body for both kernels: B packed (b, NR floats per k) or read in place (base + ro[k] + off[v]). */
/* stride 2: elements 0, 2 of a load at x and 1, 3 of a load at x + 3 */
static inline v128_t load_s2(const float *x) {
    return wasm_i32x4_shuffle(wasm_v128_load(x), wasm_v128_load(x + 3), 0, 2, 5, 7);
}

static inline __attribute__((always_inline)) void body(int mrows, int nvec, int kc, const float *a, const float *b, const float *base,
                                                       const int *ro, const int *off, int s2, float *c, int ldc,
                                                       float alpha, float beta, const float *bias) {
    v128_t acc[MR][NV];
#pragma clang loop unroll(full)
    for (int i = 0; i < mrows; i++)
#pragma clang loop unroll(full)
        for (int v = 0; v < nvec; v++) acc[i][v] = wasm_f32x4_splat(0.0f);
    for (int k = 0; k < kc; k++, a += MR) {
        v128_t bv[NV];
        if (base) {
            const float *r = base + ro[k];
#pragma clang loop unroll(full)
            for (int v = 0; v < nvec; v++) bv[v] = s2 ? load_s2(r + off[v]) : wasm_v128_load(r + off[v]);
        } else {
#pragma clang loop unroll(full)
            for (int v = 0; v < nvec; v++) bv[v] = wasm_v128_load(b + 4 * v);
            b += NR;
        }
#pragma clang loop unroll(full)
        for (int i = 0; i < mrows; i++) {
            v128_t ai = wasm_f32x4_splat(a[i]);
#pragma clang loop unroll(full)
            for (int v = 0; v < nvec; v++) acc[i][v] = wasm_f32x4_add(acc[i][v], wasm_f32x4_mul(ai, bv[v]));
        }
    }
    v128_t va = wasm_f32x4_splat(alpha), vb = wasm_f32x4_splat(beta);
#pragma clang loop unroll(full)
    for (int i = 0; i < mrows; i++)
#pragma clang loop unroll(full)
        for (int v = 0; v < nvec; v++) {
            float *ci = c + (size_t)i * ldc + 4 * v;
            v128_t r = wasm_f32x4_mul(va, acc[i][v]);
            if (beta != 0.0f) r = wasm_f32x4_add(r, wasm_f32x4_mul(vb, wasm_v128_load(ci)));
            if (bias) r = wasm_f32x4_add(r, wasm_f32x4_splat(bias[i]));
            wasm_v128_store(ci, r);
        }
}

GEMM_UKERNELS(body)

/* Depthwise convolution of one channel (see conv_dwc_kernel in gemm_kern.h): 8 output pixels (two vectors) at a
 * time, every tap added in a register before one store, in the order of the plain C loops (tap by tap, mul then
 * add: the same floats); the last OW % 4 pixels of a row in scalar code. */
static void conv_dwc_wasm128(float *out, const float *xp, size_t rs, const float *w, int kh, int kw, int stride,
                             int OH, int OW, int accumulate, float bias) {
    int kk = kh * kw, OW4 = OW & ~3;
    if (kk > 25) { /* wider kernels: one tap at a time, as the C loops */
        for (int oy = 0; oy < OH; oy++) {
            float *o = out + (size_t)oy * OW;
            if (!accumulate)
                for (int ox = 0; ox < OW; ox++) o[ox] = bias;
            for (int t = 0; t < kk; t++) {
                const float *xr = xp + (size_t)(oy * stride + t / kw) * rs + t % kw;
                for (int ox = 0; ox < OW; ox++) o[ox] += w[t] * xr[ox * stride];
            }
        }
        return;
    }
    v128_t wv[25];
    for (int t = 0; t < kk; t++) wv[t] = wasm_f32x4_splat(w[t]);
    v128_t vb = wasm_f32x4_splat(bias);
    for (int oy = 0; oy < OH; oy++) {
        const float *r0 = xp + (size_t)oy * stride * rs;
        float *o = out + (size_t)oy * OW;
        int ox = 0;
        for (; ox + 8 <= OW4; ox += 8) {
            v128_t a0 = accumulate ? wasm_v128_load(o + ox) : vb, a1 = accumulate ? wasm_v128_load(o + ox + 4) : vb;
            for (int ky = 0, t = 0; ky < kh; ky++) {
                const float *r = r0 + ky * rs + (size_t)ox * stride;
                for (int kx = 0; kx < kw; kx++, t++) {
                    v128_t x0 = stride == 1 ? wasm_v128_load(r + kx) : load_s2(r + kx);
                    v128_t x1 = stride == 1 ? wasm_v128_load(r + kx + 4) : load_s2(r + kx + 8);
                    a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wv[t], x0));
                    a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wv[t], x1));
                }
            }
            wasm_v128_store(o + ox, a0);
            wasm_v128_store(o + ox + 4, a1);
        }
        for (; ox < OW4; ox += 4) {
            v128_t a0 = accumulate ? wasm_v128_load(o + ox) : vb;
            for (int ky = 0, t = 0; ky < kh; ky++) {
                const float *r = r0 + ky * rs + (size_t)ox * stride;
                for (int kx = 0; kx < kw; kx++, t++)
                    a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wv[t], stride == 1 ? wasm_v128_load(r + kx) : load_s2(r + kx)));
            }
            wasm_v128_store(o + ox, a0);
        }
        for (; ox < OW; ox++) {
            float a = accumulate ? o[ox] : bias;
            for (int ky = 0, t = 0; ky < kh; ky++) {
                const float *r = r0 + ky * rs + (size_t)ox * stride;
                for (int kx = 0; kx < kw; kx++, t++) a += w[t] * r[kx];
            }
            o[ox] = a;
        }
    }
}

const gemm_kinfo gemm_kinfo_wasm128 = {
    .mr = MR, .nr = NR, .kc = KC, .mc = MC, .nc = NC,
    .kern = ukr, .tpack = gemm_tpack_scalar, .vlen = 4,
    .kern_direct = ukr_direct, .conv_dwc = conv_dwc_wasm128};
