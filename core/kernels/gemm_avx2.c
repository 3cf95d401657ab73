/* AVX2+FMA GEMM micro-kernels: 4 x 24 tile (12 ymm accumulators; per k: 3 loads of B, 4 broadcasts of
 * A), B packed or read in place from a padded image (stride 1 or 2); 8 x 8 transposing pack.
 * MR = 4 divides the channel counts of the networks, so convolutions rarely hit row tails. */
#include <immintrin.h>

#include "gemm_kern.h"

#define MR 4
#define NV 3
#define NR (8 * NV)
#define KC 256
#define MC 128
#define NC 960
GEMM_CHECK_BLOCKS(MR, NR, KC, MC, NC);

/* One body for both kernels: B packed (b, NR floats per k) or read in place (base + ro[k] + off[v]). */
/* stride 2: elements 0, 2, 4, 6 of a load at x and 1, 3, 5, 7 of a load at x + 7 */
static inline __m256 load_s2(const float *x) {
    __m256 t = _mm256_shuffle_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 7), 0xd8);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0xd8));
}

static inline __attribute__((always_inline)) void body(int mrows, int nvec, int kc, const float *a, const float *b, const float *base,
                                                       const int *ro, const int *off, int s2, float *c, int ldc,
                                                       float alpha, float beta, const float *bias) {
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < mrows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nvec; v++) acc[i][v] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++, a += MR) {
        __m256 bv[NV];
        if (base) {
            const float *r = base + ro[k];
#pragma GCC unroll 4
            for (int v = 0; v < nvec; v++) bv[v] = s2 ? load_s2(r + off[v]) : _mm256_loadu_ps(r + off[v]);
        } else {
#pragma GCC unroll 4
            for (int v = 0; v < nvec; v++) bv[v] = _mm256_load_ps(b + 8 * v);
            b += NR;
        }
#pragma GCC unroll 8
        for (int i = 0; i < mrows; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 4
            for (int v = 0; v < nvec; v++) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
        }
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
    for (int i = 0; i < mrows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nvec; v++) {
            float *ci = c + (size_t)i * ldc + 8 * v;
            __m256 r = _mm256_mul_ps(va, acc[i][v]);
            if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r);
            if (bias) r = _mm256_add_ps(r, _mm256_broadcast_ss(bias + i));
            _mm256_storeu_ps(ci, r);
        }
}

GEMM_UKERNELS(body)

/* 8 x 8 transposes: dst[v*P + j] = rows[j][v]; edges fall back to scalar. */
void gemm_tpack_avx2(const float *const *rows, int w, int nv, int P, float *dst) {
    int j = 0;
    if (P % 8 == 0) {
        for (; j + 8 <= w; j += 8) {
            const float *const *r = rows + j;
            int v = 0;
            for (; v + 8 <= nv; v += 8) {
                __m256 t0 = _mm256_loadu_ps(r[0] + v), t1 = _mm256_loadu_ps(r[1] + v);
                __m256 t2 = _mm256_loadu_ps(r[2] + v), t3 = _mm256_loadu_ps(r[3] + v);
                __m256 t4 = _mm256_loadu_ps(r[4] + v), t5 = _mm256_loadu_ps(r[5] + v);
                __m256 t6 = _mm256_loadu_ps(r[6] + v), t7 = _mm256_loadu_ps(r[7] + v);
                __m256 u0 = _mm256_unpacklo_ps(t0, t1), u1 = _mm256_unpackhi_ps(t0, t1);
                __m256 u2 = _mm256_unpacklo_ps(t2, t3), u3 = _mm256_unpackhi_ps(t2, t3);
                __m256 u4 = _mm256_unpacklo_ps(t4, t5), u5 = _mm256_unpackhi_ps(t4, t5);
                __m256 u6 = _mm256_unpacklo_ps(t6, t7), u7 = _mm256_unpackhi_ps(t6, t7);
                t0 = _mm256_shuffle_ps(u0, u2, 0x44), t1 = _mm256_shuffle_ps(u0, u2, 0xee);
                t2 = _mm256_shuffle_ps(u1, u3, 0x44), t3 = _mm256_shuffle_ps(u1, u3, 0xee);
                t4 = _mm256_shuffle_ps(u4, u6, 0x44), t5 = _mm256_shuffle_ps(u4, u6, 0xee);
                t6 = _mm256_shuffle_ps(u5, u7, 0x44), t7 = _mm256_shuffle_ps(u5, u7, 0xee);
                float *d = dst + (size_t)v * P + j;
                _mm256_storeu_ps(d + 0 * (size_t)P, _mm256_permute2f128_ps(t0, t4, 0x20));
                _mm256_storeu_ps(d + 1 * (size_t)P, _mm256_permute2f128_ps(t1, t5, 0x20));
                _mm256_storeu_ps(d + 2 * (size_t)P, _mm256_permute2f128_ps(t2, t6, 0x20));
                _mm256_storeu_ps(d + 3 * (size_t)P, _mm256_permute2f128_ps(t3, t7, 0x20));
                _mm256_storeu_ps(d + 4 * (size_t)P, _mm256_permute2f128_ps(t0, t4, 0x31));
                _mm256_storeu_ps(d + 5 * (size_t)P, _mm256_permute2f128_ps(t1, t5, 0x31));
                _mm256_storeu_ps(d + 6 * (size_t)P, _mm256_permute2f128_ps(t2, t6, 0x31));
                _mm256_storeu_ps(d + 7 * (size_t)P, _mm256_permute2f128_ps(t3, t7, 0x31));
            }
            for (; v < nv; v++)
                for (int i = 0; i < 8; i++) dst[(size_t)v * P + j + i] = r[i][v];
        }
    }
    if (j < w) gemm_tpack_scalar(rows + j, w - j, nv, P, dst + j);
}

const gemm_kinfo gemm_kinfo_avx2 = {
    .mr = MR, .nr = NR, .kc = KC, .mc = MC, .nc = NC,
    .kern = ukr, .tpack = gemm_tpack_avx2, .vlen = 8,
    .kern_direct = ukr_direct, .conv_dw = conv_dw_avx2, .dw_mco = 2, .dw_nk = 6};
