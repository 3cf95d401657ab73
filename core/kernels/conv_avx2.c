/* AVX2 direct convolution weight gradient (see conv_dw_kernel in gemm_kern.h): a 2 x 6 block of dW in
 * 12 ymm accumulators, vectors along output pixels, one horizontal sum per block at the end.
 * Stride 2 takes the even elements of two loads.  Row tails use masked loads. */
#include <immintrin.h>

#include "gemm_kern.h"

#define DW_MCO 2
#define DW_NK 6

static const int mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

static inline __m256i first(int n) { /* lanes < n (0 <= n <= 8) */
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n));
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

void conv_dw_avx2(int nco, int nk, const float *dy, size_t ldy, const float *xp, const int *ro, int rs, int stride,
                  int R, int OW, float *dw, int lddw) {
    const float *d[DW_MCO], *c[DW_NK];
    for (int i = 0; i < DW_MCO; i++) d[i] = dy + (i < nco ? i : 0) * ldy; /* rows past the edge: computed, dropped */
    for (int j = 0; j < DW_NK; j++) c[j] = xp + ro[j < nk ? j : 0];
    __m256 acc[DW_MCO][DW_NK];
#pragma GCC unroll 4
    for (int i = 0; i < DW_MCO; i++)
#pragma GCC unroll 6
        for (int j = 0; j < DW_NK; j++) acc[i][j] = _mm256_setzero_ps();
    for (int oy = 0; oy < R; oy++) {
        size_t drow = (size_t)oy * OW, xrow = (size_t)oy * rs;
        for (int ox = 0; ox < OW; ox += 8) {
            int n = OW - ox < 8 ? OW - ox : 8;
            __m256i m = first(n);
            __m256 dv[DW_MCO];
#pragma GCC unroll 4
            for (int i = 0; i < DW_MCO; i++) dv[i] = _mm256_maskload_ps(d[i] + drow + ox, m);
#pragma GCC unroll 6
            for (int j = 0; j < DW_NK; j++) {
                __m256 cv;
                if (stride == 1) {
                    cv = _mm256_maskload_ps(c[j] + xrow + ox, m);
                } else { /* elements 0, 2, .., 2(n-1) of the 2n-1 from c + 2*ox */
                    int e = 2 * n - 1;
                    const float *p = c[j] + xrow + 2 * (size_t)ox;
                    __m256 lo = _mm256_maskload_ps(p, first(e < 8 ? e : 8));
                    __m256 hi = _mm256_maskload_ps(p + 8, first(e > 8 ? e - 8 : 0));
                    cv = _mm256_castpd_ps(
                        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xd8));
                }
#pragma GCC unroll 4
                for (int i = 0; i < DW_MCO; i++) acc[i][j] = _mm256_fmadd_ps(dv[i], cv, acc[i][j]);
            }
        }
    }
    float sum[DW_MCO][DW_NK]; /* constant indices keep acc in registers */
#pragma GCC unroll 4
    for (int i = 0; i < DW_MCO; i++)
#pragma GCC unroll 6
        for (int j = 0; j < DW_NK; j++) sum[i][j] = hsum(acc[i][j]);
    for (int i = 0; i < nco; i++)
        for (int j = 0; j < nk; j++) dw[(size_t)i * lddw + j] += sum[i][j];
}
