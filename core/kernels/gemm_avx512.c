/* AVX-512 GEMM micro-kernels: 8 x 48 tile (24 zmm accumulators; per k: 3 loads of B, 8 broadcasts of
 * A), B packed or read in place from a padded image (stride 1 or 2). */
#include <immintrin.h>

#include "gemm_kern.h"

#define MR 8
#define NV 3
#define KC 256
#define MC 128
#define NC 960
#define NR (16 * NV)
GEMM_CHECK_BLOCKS(MR, NR, KC, MC, NC);

/* One body for both kernels: B packed (b, NR floats per k) or read in place (base + ro[k] + off[v]). */
static inline __attribute__((always_inline)) void body(int mrows, int nvec, int kc, const float *a, const float *b, const float *base,
                                                       const int *ro, const int *off, int s2, float *c, int ldc,
                                                       float alpha, float beta, const float *bias) {
    /* stride 2: lanes 0, 2, .., 14 of a load at x and 1, 3, .., 15 of a load at x + 15 */
    const __m512i even = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 14, 12, 10, 8, 6, 4, 2, 0);
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < mrows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nvec; v++) acc[i][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++, a += MR) {
        __m512 bv[NV];
        if (base) {
            const float *r = base + ro[k];
#pragma GCC unroll 4
            for (int v = 0; v < nvec; v++)
                bv[v] = s2 ? _mm512_permutex2var_ps(_mm512_loadu_ps(r + off[v]), even, _mm512_loadu_ps(r + off[v] + 15))
                           : _mm512_loadu_ps(r + off[v]);
        } else {
#pragma GCC unroll 4
            for (int v = 0; v < nvec; v++) bv[v] = _mm512_load_ps(b + 16 * v);
            b += NR;
        }
#pragma GCC unroll 16
        for (int i = 0; i < mrows; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
            for (int v = 0; v < nvec; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < mrows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nvec; v++) {
            float *ci = c + (size_t)i * ldc + 16 * v;
            __m512 r = _mm512_mul_ps(va, acc[i][v]);
            if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), r);
            if (bias) r = _mm512_add_ps(r, _mm512_set1_ps(bias[i]));
            _mm512_storeu_ps(ci, r);
        }
}

GEMM_UKERNELS(body)

const gemm_kinfo gemm_kinfo_avx512 = {
    .mr = MR, .nr = NR, .kc = KC, .mc = MC, .nc = NC,
    .kern = ukr, .tpack = gemm_tpack_avx2, .vlen = 16,
    .kern_direct = ukr_direct, .conv_dw = conv_dw_avx512, .dw_mco = 4, .dw_nk = 6,
    .conv_dwt = conv_dwt_avx512, .conv_dwc = conv_dwc_avx512, .conv_dwc_dw = conv_dwc_dw_avx512};
