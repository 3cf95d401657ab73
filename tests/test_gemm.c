/* df_sgemm: every instruction-set variant available here, 1 and 2 threads, all transposes, odd sizes
 * (tails of every block), alpha/beta cases and padded leading dimensions, against a double-precision
 * triple loop.  Also: beta == 0 never reads C (C starts as NaN), and C outside M x N is untouched. */
#include <float.h>
#include <stdint.h>

#include "check.h"
#include "isas.h"
#include "df.h"

typedef struct { int M, N, K; } shape;

/* ref[i*N + j] = sum_k op(A)(i,k) * op(B)(k,j) and abs[] = sum_k |.| (error scale) in double. */
static void reference(double *ref, double *abs, int tA, int tB, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, a = 0;
            for (int k = 0; k < K; k++) {
                double x = tA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double y = tB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += x * y;
                a += fabs(x * y);
            }
            ref[(size_t)i * N + j] = s;
            abs[(size_t)i * N + j] = a;
        }
}

static const float ab_cases[][2] = {{1, 0}, {0.7f, 0}, {1, 1}, {-1.3f, 0.5f}, {0, 0.5f}, {0, 0}};
#define NAB (int)(sizeof ab_cases / sizeof ab_cases[0])

/* Run one shape and transpose pair under every ISA, thread count and alpha/beta case. */
static void run_case(shape s, int tA, int tB, const df_isa *isas, int nisa) {
    int M = s.M, N = s.N, K = s.K;
    int lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5, ldc = N + 7;
    size_t na = (size_t)(tA ? K : M) * lda, nb = (size_t)(tB ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
    float *C0 = malloc(sizeof(float) * nc), *C = malloc(sizeof(float) * nc);
    double *ref = malloc(sizeof(double) * M * N), *abs = malloc(sizeof(double) * M * N);
    check_fill(A, na, 11u + M);
    check_fill(B, nb, 23u + N);
    check_fill(C0, nc, 37u + K);
    reference(ref, abs, tA, tB, M, N, K, A, lda, B, ldb);
    for (int ii = 0; ii < nisa; ii++) {
        df_isa_force(isas[ii]);
        for (int nt = 1; nt <= 2; nt++) {
            df_set_threads(nt);
            for (int c = 0; c < NAB; c++) {
                float alpha = ab_cases[c][0], beta = ab_cases[c][1];
                for (size_t i = 0; i < nc; i++) C[i] = C0[i];
                if (beta == 0.0f) /* must not be read */
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = NAN;
                df_sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                double worst = 0;
                int bad_pad = 0;
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < N; j++) {
                        double r = alpha * ref[(size_t)i * N + j] + (double)beta * C0[(size_t)i * ldc + j];
                        double scale = fabs(alpha) * abs[(size_t)i * N + j] + fabs(beta * C0[(size_t)i * ldc + j]);
                        double tol = 2.0 * (K + 4) * FLT_EPSILON * scale + 1e-30;
                        double e = fabs(C[(size_t)i * ldc + j] - r) / tol;
                        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e; /* NaN counts as failure */
                    }
                    for (int j = N; j < ldc; j++) bad_pad += C[(size_t)i * ldc + j] != C0[(size_t)i * ldc + j];
                }
                CHECK(worst <= 1.0, "%s threads=%d M=%d N=%d K=%d tA=%d tB=%d alpha=%g beta=%g: error %.3g x tol",
                      df_isa_name(isas[ii]), nt, M, N, K, tA, tB, alpha, beta, worst);
                CHECK(bad_pad == 0, "%s M=%d N=%d K=%d: %d elements beyond N changed", df_isa_name(isas[ii]), M, N,
                      K, bad_pad);
            }
        }
    }
    free(A), free(B), free(C0), free(C), free(ref), free(abs);
}

int main(void) {
    df_isa isas[DF_ISA_WASM128 + 1];
    df_isa best = df_isa_best();
    printf("best ISA: %s\n", df_isa_name(best));
    int nisa = test_isas(isas);
    CHECK(nisa >= 1 && isas[0] == DF_ISA_SCALAR, "scalar must always be available");
    CHECK(df_isa_force(best) == DF_OK, "forcing the best ISA");
#if defined(DF_X86)
    CHECK(df_isa_force(DF_ISA_WASM128) != DF_OK, "wasm128 is not an x86 variant");
#endif
    CHECK(strcmp(df_isa_name(DF_ISA_AVX512), "avx512") == 0, "name");

    /* Small odd shapes (primes, tile multiples +-1) drawn deterministically from 1..70. */
    static const int dims[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 15, 16, 17, 23, 24, 25, 31, 32, 33,
                               37, 41, 47, 48, 49, 53, 59, 61, 63, 64, 65, 67, 70};
    const int nd = (int)(sizeof dims / sizeof dims[0]);
    shape shapes[80];
    int ns = 0;
    uint32_t r = 12345;
    for (int t = 0; t < 48; t++) {
        shape s;
        r = r * 1664525u + 1013904223u; s.M = dims[(r >> 8) % nd];
        r = r * 1664525u + 1013904223u; s.N = dims[(r >> 8) % nd];
        r = r * 1664525u + 1013904223u; s.K = dims[(r >> 8) % nd];
        shapes[ns++] = s;
    }
    /* Larger: cross the cache blocks (kc 256, mc 128, nc 960) and take the threaded path. */
    static const shape big[] = {{1, 1, 1}, {70, 70, 70}, {100, 150, 80}, {129, 1001, 257}, {300, 97, 530},
                                {3, 2000, 27}, {513, 40, 65}, {64, 1500, 576}};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) shapes[ns++] = big[i];

    for (int i = 0; i < ns; i++)
        for (int t = 0; t < 4; t++) run_case(shapes[i], t & 1, t >> 1, isas, nisa);
    /* M, N or K == 0 must be harmless. */
    df_sgemm(0, 0, 0, 5, 5, 1, NULL, 5, NULL, 5, 0, NULL, 5);
    float c1[2] = {3, 4};
    df_sgemm(0, 0, 1, 2, 0, 1, NULL, 1, NULL, 2, 0.5f, c1, 2);
    CHECK(c1[0] == 1.5f && c1[1] == 2.0f, "K == 0 scales C by beta");
    df_isa_force(best);
    return check_summary("test_gemm");
}
