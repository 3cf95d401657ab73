/* AVX2+FMA GEMM micro-kernel: 4 x 24 tile (12 ymm accumulators; per k: 3 loads of B, 4 broadcasts of A).
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

static void ukr(int kc, const float *a, const float *b, float *c, int ldc, float alpha, float beta) {
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++, a += MR, b += NR) {
        __m256 bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
        }
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            float *ci = c + (size_t)i * ldc + 8 * v;
            __m256 r = _mm256_mul_ps(va, acc[i][v]);
            if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r);
            _mm256_storeu_ps(ci, r);
        }
}

const gemm_kinfo gemm_kinfo_avx2 = {MR, NR, KC, MC, NC, ukr};
