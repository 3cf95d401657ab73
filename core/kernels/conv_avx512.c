/* AVX-512 direct convolution weight gradient (see conv_dw_kernel in gemm_kern.h): a 4 x 6 block of
 * dW in 24 zmm accumulators, vectors along output pixels, one horizontal sum per block at the end.
 * Stride 2 takes the even elements of two loads.  Row tails use masked loads. */
#include <immintrin.h>

#include "gemm_kern.h"

#define DW_MCO 4
#define DW_NK 6

/* Elements 0, 2, .., 2(n-1) from p (n <= 16), reading nothing past p[2(n-1)]. */
static inline __m512 load_even(const float *p, int n) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    int e = 2 * n - 1;
    __mmask16 lo = (__mmask16)(e >= 16 ? 0xffff : (1u << e) - 1), hi = (__mmask16)(e > 16 ? (1u << (e - 16)) - 1 : 0);
    return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo, p), even, _mm512_maskz_loadu_ps(hi, p + 16));
}

static inline __mmask16 first(int n) { return (__mmask16)((1u << n) - 1); } /* lanes < n, n <= 16 */

void conv_dw_avx512(int nco, int nk, const float *dy, size_t ldy, const float *xp, const int *ro, int rs,
                    int stride, int R, int OW, float *dw, int lddw) {
    const float *d[DW_MCO], *c[DW_NK];
    for (int i = 0; i < DW_MCO; i++) d[i] = dy + (i < nco ? i : 0) * ldy; /* rows past the edge: computed, dropped */
    for (int j = 0; j < DW_NK; j++) c[j] = xp + ro[j < nk ? j : 0];
    __m512 acc[DW_MCO][DW_NK];
#pragma GCC unroll 4
    for (int i = 0; i < DW_MCO; i++)
#pragma GCC unroll 6
        for (int j = 0; j < DW_NK; j++) acc[i][j] = _mm512_setzero_ps();
    for (int oy = 0; oy < R; oy++) {
        size_t drow = (size_t)oy * OW, xrow = (size_t)oy * rs;
        for (int ox = 0; ox < OW; ox += 16) {
            int n = OW - ox < 16 ? OW - ox : 16;
            __mmask16 m = first(n);
            __m512 dv[DW_MCO];
#pragma GCC unroll 4
            for (int i = 0; i < DW_MCO; i++) dv[i] = _mm512_maskz_loadu_ps(m, d[i] + drow + ox);
#pragma GCC unroll 6
            for (int j = 0; j < DW_NK; j++) {
                __m512 cv = stride == 1 ? _mm512_maskz_loadu_ps(m, c[j] + xrow + ox)
                                        : load_even(c[j] + xrow + 2 * (size_t)ox, n);
#pragma GCC unroll 4
                for (int i = 0; i < DW_MCO; i++) acc[i][j] = _mm512_fmadd_ps(dv[i], cv, acc[i][j]);
            }
        }
    }
    float sum[DW_MCO][DW_NK]; /* constant indices keep acc in registers */
#pragma GCC unroll 4
    for (int i = 0; i < DW_MCO; i++)
#pragma GCC unroll 6
        for (int j = 0; j < DW_NK; j++) sum[i][j] = _mm512_reduce_add_ps(acc[i][j]);
    for (int i = 0; i < nco; i++)
        for (int j = 0; j < nk; j++) dw[(size_t)i * lddw + j] += sum[i][j];
}

/* Weight gradient of 3x3 convolutions with vectors over output channels (see conv_dwt_kernel in
 * gemm_kern.h): taps of NCH input channels x NVC vectors of 16 output channels stay in registers; each
 * input pixel is broadcast from the padded band straight into the FMAs; dY comes transposed. */
static inline __attribute__((always_inline)) void dwt_body(int NCH, int NVC, const float *xp, size_t cs, size_t rs,
                                                           int stride, int R, int OW, const float *dyt, int ldt,
                                                           float *dw, int nco, int lddw) {
    __m512 acc[2][9][2];
#pragma GCC unroll 2
    for (int c = 0; c < NCH; c++)
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++)
#pragma GCC unroll 2
            for (int v = 0; v < NVC; v++) acc[c][t][v] = _mm512_setzero_ps();
    for (int oy = 0; oy < R; oy++) {
        const float *row[2][3];
#pragma GCC unroll 2
        for (int c = 0; c < NCH; c++)
#pragma GCC unroll 3
            for (int ky = 0; ky < 3; ky++) row[c][ky] = xp + c * cs + ((size_t)oy * stride + ky) * rs;
        const float *d = dyt + (size_t)oy * OW * ldt;
        for (int ox = 0; ox < OW; ox++, d += ldt) {
            __m512 dv[2];
#pragma GCC unroll 2
            for (int v = 0; v < NVC; v++) dv[v] = _mm512_loadu_ps(d + 16 * v);
            int x = ox * stride;
#pragma GCC unroll 2
            for (int c = 0; c < NCH; c++)
#pragma GCC unroll 9
                for (int t = 0; t < 9; t++) {
                    __m512 a = _mm512_set1_ps(row[c][t / 3][x + t % 3]);
#pragma GCC unroll 2
                    for (int v = 0; v < NVC; v++) acc[c][t][v] = _mm512_fmadd_ps(a, dv[v], acc[c][t][v]);
                }
        }
    }
    float out[2][9][32] __attribute__((aligned(64)));
#pragma GCC unroll 2
    for (int c = 0; c < NCH; c++)
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++)
#pragma GCC unroll 2
            for (int v = 0; v < NVC; v++) _mm512_store_ps(out[c][t] + 16 * v, acc[c][t][v]);
    for (int co = 0; co < nco; co++)
        for (int c = 0; c < NCH; c++)
            for (int t = 0; t < 9; t++) dw[(size_t)co * lddw + c * 9 + t] += out[c][t][co];
}

void conv_dwt_avx512(int nch, int nvc, const float *xp, size_t cs, size_t rs, int stride, int R, int OW,
                     const float *dyt, int ldt, float *dw, int nco, int lddw) {
    if (nch == 2 && nvc == 1)
        dwt_body(2, 1, xp, cs, rs, stride, R, OW, dyt, ldt, dw, nco, lddw);
    else if (nvc == 1)
        dwt_body(1, 1, xp, cs, rs, stride, R, OW, dyt, ldt, dw, nco, lddw);
    else
        dwt_body(1, 2, xp, cs, rs, stride, R, OW, dyt, ldt, dw, nco, lddw);
}

/* Depthwise convolution of one channel (see conv_dwc_kernel): 16 output pixels per vector, all taps
 * accumulated in a register before one store. */
void conv_dwc_avx512(float *out, const float *xp, size_t rs, const float *w, int kh, int kw, int stride, int OH,
                     int OW, int accumulate, float bias) {
    for (int oy = 0; oy < OH; oy++) {
        const float *r0 = xp + (size_t)oy * stride * rs;
        float *o = out + (size_t)oy * OW;
        for (int ox = 0; ox < OW; ox += 16) {
            int n = OW - ox < 16 ? OW - ox : 16;
            __mmask16 m = first(n);
            __m512 acc = accumulate ? _mm512_maskz_loadu_ps(m, o + ox) : _mm512_set1_ps(bias);
            for (int ky = 0; ky < kh; ky++) {
                const float *r = r0 + ky * rs + (size_t)ox * stride;
                for (int kx = 0; kx < kw; kx++) {
                    __m512 x = stride == 1 ? _mm512_maskz_loadu_ps(m, r + kx) : load_even(r + kx, n);
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(w[ky * kw + kx]), x, acc);
                }
            }
            _mm512_mask_storeu_ps(o + ox, m, acc);
        }
    }
}

/* Depthwise weight gradient of one channel (see conv_dwc_dw_kernel): for 3x3, nine vector sums over
 * all pixels, reduced once; other sizes one tap at a time. */
static inline __attribute__((always_inline)) void dwc_dw_taps(float *dw, const float *dy, const float *xp, size_t rs,
                                                              int kh, int kw, int t0, int nt, int stride, int OH,
                                                              int OW) {
    __m512 acc[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++) acc[t] = _mm512_setzero_ps();
    for (int oy = 0; oy < OH; oy++) {
        const float *r0 = xp + (size_t)oy * stride * rs, *d = dy + (size_t)oy * OW;
        for (int ox = 0; ox < OW; ox += 16) {
            int n = OW - ox < 16 ? OW - ox : 16;
            __m512 dv = _mm512_maskz_loadu_ps(first(n), d + ox);
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++) {
                if (t >= nt) break;
                int ky = (t0 + t) / kw, kx = (t0 + t) % kw;
                const float *r = r0 + ky * rs + (size_t)ox * stride + kx;
                __m512 x = stride == 1 ? _mm512_maskz_loadu_ps(first(n), r) : load_even(r, n);
                acc[t] = _mm512_fmadd_ps(dv, x, acc[t]);
            }
        }
    }
    float sum[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++) sum[t] = _mm512_reduce_add_ps(acc[t]);
    for (int t = 0; t < nt; t++) dw[t0 + t] += sum[t];
}

void conv_dwc_dw_avx512(float *dw, const float *dy, const float *xp, size_t rs, int kh, int kw, int stride, int OH,
                        int OW) {
    for (int t0 = 0; t0 < kh * kw; t0 += 9) {
        int nt = kh * kw - t0 < 9 ? kh * kw - t0 : 9;
        if (kh == 3 && kw == 3)
            dwc_dw_taps(dw, dy, xp, rs, 3, 3, 0, 9, stride, OH, OW);
        else
            dwc_dw_taps(dw, dy, xp, rs, kh, kw, t0, nt, stride, OH, OW);
    }
}
