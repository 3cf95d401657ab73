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
