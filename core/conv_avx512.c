/* AVX-512 direct convolution weight gradient (see conv_dw_kernel in gemm_kern.h): a 4 x 6 block of
 * dW in 24 zmm accumulators, vectors along output pixels, one horizontal sum per block at the end.
 * Stride 2 takes the even elements of two loads.  Row tails use masked loads. */
#include <immintrin.h>

#include "gemm_kern.h"

#define DW_MCO 4
#define DW_NK 6

void conv_dw_avx512(int nco, int nk, const float *dy, size_t ldy, const float *xp, const int *ro, int rs,
                    int stride, int R, int OW, float *dw, int lddw) {
    const float *d[DW_MCO], *c[DW_NK];
    for (int i = 0; i < DW_MCO; i++) d[i] = dy + (i < nco ? i : 0) * ldy; /* rows past the edge: computed, dropped */
    for (int j = 0; j < DW_NK; j++) c[j] = xp + ro[j < nk ? j : 0];
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    __m512 acc[DW_MCO][DW_NK];
#pragma GCC unroll 4
    for (int i = 0; i < DW_MCO; i++)
#pragma GCC unroll 6
        for (int j = 0; j < DW_NK; j++) acc[i][j] = _mm512_setzero_ps();
    for (int oy = 0; oy < R; oy++) {
        size_t drow = (size_t)oy * OW, xrow = (size_t)oy * rs;
        for (int ox = 0; ox < OW; ox += 16) {
            int n = OW - ox < 16 ? OW - ox : 16;
            __mmask16 m = (__mmask16)((1u << n) - 1);
            __m512 dv[DW_MCO];
#pragma GCC unroll 4
            for (int i = 0; i < DW_MCO; i++) dv[i] = _mm512_maskz_loadu_ps(m, d[i] + drow + ox);
#pragma GCC unroll 6
            for (int j = 0; j < DW_NK; j++) {
                __m512 cv;
                if (stride == 1) {
                    cv = _mm512_maskz_loadu_ps(m, c[j] + xrow + ox);
                } else { /* elements 0, 2, .., 2(n-1) of the 2n-1 from c + 2*ox */
                    int e = 2 * n - 1;
                    __mmask16 lo = (__mmask16)(e >= 16 ? 0xffff : (1u << e) - 1);
                    __mmask16 hi = (__mmask16)(e > 16 ? (1u << (e - 16)) - 1 : 0);
                    const float *p = c[j] + xrow + 2 * (size_t)ox;
                    cv = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo, p), even, _mm512_maskz_loadu_ps(hi, p + 16));
                }
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
