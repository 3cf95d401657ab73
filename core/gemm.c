/* Single-precision GEMM: packing, cache blocking and threading shared by every instruction set; the
 * micro-kernels live in gemm_<isa>.c (scalar reference kernel here).  Scheme in gemm_kern.h. */
#include <string.h>

#include "gemm_kern.h"

/* Pack buffers: one set per thread (static storage, no allocation in ops). */
static _Thread_local float pack_a[PACK_A_FLOATS] __attribute__((aligned(64)));
static _Thread_local float pack_b[PACK_B_FLOATS] __attribute__((aligned(64)));

/* ------------------------------------------------------------------ scalar micro-kernel, 4 x 8 */
#define SMR 4
#define SNR 8
static void ukr_scalar(int kc, const float *a, const float *b, float *c, int ldc, float alpha, float beta) {
    float acc[SMR][SNR] = {{0}};
    for (int k = 0; k < kc; k++, a += SMR, b += SNR)
        for (int i = 0; i < SMR; i++)
            for (int j = 0; j < SNR; j++) acc[i][j] += a[i] * b[j];
    for (int i = 0; i < SMR; i++)
        for (int j = 0; j < SNR; j++)
            c[i * ldc + j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
}
const gemm_kinfo gemm_kinfo_scalar = {SMR, SNR, 256, 128, 1024, ukr_scalar};
GEMM_CHECK_BLOCKS(SMR, SNR, 256, 128, 1024);

const gemm_kinfo *gemm_kinfo_active(void) {
    switch (df_isa_active()) {
#if defined(DF_X86)
    case DF_ISA_AVX512: return &gemm_kinfo_avx512;
    case DF_ISA_AVX2: return &gemm_kinfo_avx2;
#endif
#if defined(__wasm_simd128__)
    case DF_ISA_WASM128: return &gemm_kinfo_wasm128;
#endif
    default: return &gemm_kinfo_scalar;
    }
}

/* ------------------------------------------------------------------ plain matrix sources */
/* Y(u, v) = p[v*ld + u]: each v gives P consecutive floats. */
static void pack_ucontig(const gemm_src *s, int u0, int nu, int v0, int nv, int P, float *dst) {
    for (int pu = 0; pu < nu; pu += P, dst += (size_t)P * nv) {
        int w = nu - pu < P ? nu - pu : P;
        const float *src = s->p + (size_t)v0 * s->ld + u0 + pu;
        for (int v = 0; v < nv; v++, src += s->ld) {
            float *d = dst + (size_t)v * P;
            if (w == P) {
                memcpy(d, src, sizeof(float) * (size_t)P);
            } else {
                for (int u = 0; u < w; u++) d[u] = src[u];
                for (int u = w; u < P; u++) d[u] = 0.0f;
            }
        }
    }
}

/* Y(u, v) = p[u*ld + v]: transpose into panels, four v at a time. */
static void pack_vcontig(const gemm_src *s, int u0, int nu, int v0, int nv, int P, float *dst) {
    for (int pu = 0; pu < nu; pu += P, dst += (size_t)P * nv) {
        int w = nu - pu < P ? nu - pu : P;
        for (int u = 0; u < w; u++) {
            const float *src = s->p + (size_t)(u0 + pu + u) * s->ld + v0;
            float *d = dst + u;
            int v = 0;
            for (; v + 4 <= nv; v += 4) {
                d[(size_t)v * P] = src[v];
                d[(size_t)(v + 1) * P] = src[v + 1];
                d[(size_t)(v + 2) * P] = src[v + 2];
                d[(size_t)(v + 3) * P] = src[v + 3];
            }
            for (; v < nv; v++) d[(size_t)v * P] = src[v];
        }
        for (int u = w; u < P; u++)
            for (int v = 0; v < nv; v++) dst[(size_t)v * P + u] = 0.0f;
    }
}

gemm_src gemm_src_matrix(const float *p, int ld, int u_contiguous) {
    gemm_src s;
    memset(&s, 0, sizeof s);
    s.pack = u_contiguous ? pack_ucontig : pack_vcontig;
    s.p = p;
    s.ld = ld;
    return s;
}

/* ------------------------------------------------------------------ driver */
static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f)
            memset(c, 0, sizeof(float) * (size_t)N);
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

/* Rows [i0, i1) and columns [j0, j1) of C (C points at element (0, 0)). */
static void gemm_block(const gemm_kinfo *ki, const gemm_src *A, const gemm_src *B, int i0, int i1, int j0, int j1,
                       int K, float alpha, float beta, float *C, int ldc) {
    const int MR = ki->mr, NR = ki->nr, KC = ki->kc, MC = ki->mc, NC = ki->nc;
    float tile[TILE_FLOATS] __attribute__((aligned(64)));
    for (int jc = j0; jc < j1; jc += NC) {
        int nc = j1 - jc < NC ? j1 - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            float b = pc == 0 ? beta : 1.0f;
            B->pack(B, jc, nc, pc, kc, NR, pack_b);
            for (int ic = i0; ic < i1; ic += MC) {
                int mc = i1 - ic < MC ? i1 - ic : MC;
                A->pack(A, ic, mc, pc, kc, MR, pack_a);
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bp = pack_b + (size_t)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = mc - ir < MR ? mc - ir : MR;
                        const float *ap = pack_a + (size_t)ir * kc;
                        float *c = C + (size_t)(ic + ir) * ldc + jc + jr;
                        if (mr == MR && nr == NR) {
                            ki->kern(kc, ap, bp, c, ldc, alpha, b);
                            continue;
                        }
                        ki->kern(kc, ap, bp, tile, NR, 1.0f, 0.0f);
                        for (int i = 0; i < mr; i++)
                            for (int j = 0; j < nr; j++) {
                                float *cij = c + (size_t)i * ldc + j;
                                *cij = b == 0.0f ? alpha * tile[i * NR + j] : alpha * tile[i * NR + j] + b * *cij;
                            }
                    }
                }
            }
        }
    }
}

void gemm_serial(const gemm_kinfo *ki, const gemm_src *A, const gemm_src *B, int M, int N, int K, float alpha,
                 float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    gemm_block(ki, A, B, 0, M, 0, N, K, alpha, beta, C, ldc);
}

typedef struct {
    const gemm_kinfo *ki;
    const gemm_src *A, *B;
    int M, N, K, split_n, step;
    float alpha, beta;
    float *C;
    int ldc;
} par_job;

static void par_run(void *ctx, int begin, int end) {
    const par_job *j = ctx;
    int lo = begin * j->step, hi = end * j->step;
    if (j->split_n)
        gemm_block(j->ki, j->A, j->B, 0, j->M, lo, hi < j->N ? hi : j->N, j->K, j->alpha, j->beta, j->C, j->ldc);
    else
        gemm_block(j->ki, j->A, j->B, lo, hi < j->M ? hi : j->M, 0, j->N, j->K, j->alpha, j->beta, j->C, j->ldc);
}

/* Below ~2 MFLOP a thread hand-off costs more than it saves. */
#define PAR_MIN_FLOPS (1 << 21)

void gemm_parallel(const gemm_kinfo *ki, const gemm_src *A, const gemm_src *B, int M, int N, int K, float alpha,
                   float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    int nt = df_get_threads();
    if (nt <= 1 || K <= 0 || alpha == 0.0f || 2.0 * M * N * K < PAR_MIN_FLOPS) {
        gemm_serial(ki, A, B, M, N, K, alpha, beta, C, ldc);
        return;
    }
    par_job j = {ki, A, B, M, N, K, 1, ki->nr, alpha, beta, C, ldc};
    /* Split the wider side into units of the micro tile; several units per thread keep it balanced. */
    if (N / ki->nr < nt && M / ki->mr >= N / ki->nr) {
        j.split_n = 0;
        j.step = ki->mr;
    }
    int units = j.split_n ? (N + j.step - 1) / j.step : (M + j.step - 1) / j.step;
    df_parallel_for(units, par_run, &j);
}

/* ------------------------------------------------------------------ public entry */
/* C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C. */
void df_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc) {
    /* A as Y(i, k): transA ? A[k*lda + i] (i contiguous) : A[i*lda + k].
     * B as Y(j, k): transB ? B[j*ldb + k] : B[k*ldb + j] (j contiguous). */
    gemm_src a = gemm_src_matrix(A, lda, transA != 0);
    gemm_src b = gemm_src_matrix(B, ldb, transB == 0);
    gemm_parallel(gemm_kinfo_active(), &a, &b, M, N, K, alpha, beta, C, ldc);
}
