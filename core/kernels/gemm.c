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
static void ukr_scalar(int kc, const float *a, const float *b, int mrows, int nvec, float *c, int ldc,
                       float alpha, float beta, const float *bias) {
    float acc[SMR][SNR] = {{0}};
    for (int k = 0; k < kc; k++, a += SMR, b += SNR)
        for (int i = 0; i < SMR; i++)
            for (int j = 0; j < SNR; j++) acc[i][j] += a[i] * b[j];
    for (int i = 0; i < mrows; i++)
        for (int j = 0; j < nvec; j++)
            c[i * ldc + j] = (beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j]) +
                             (bias ? bias[i] : 0.0f);
}
void gemm_tpack_scalar(const float *const *rows, int w, int nv, int P, float *dst) {
    for (int j = 0; j < w; j++) {
        const float *r = rows[j];
        for (int v = 0; v < nv; v++) dst[(size_t)v * P + j] = r[v];
    }
}

const gemm_kinfo gemm_kinfo_scalar = {
    .mr = SMR, .nr = SNR, .kc = 256, .mc = 128, .nc = 1024,
    .kern = ukr_scalar, .tpack = gemm_tpack_scalar, .vlen = 1};
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
/* d[0 .. n) = s[0 .. n): panel rows are short (nr floats), so a call to memcpy per row costs more than the
 * copy (a third of a pointwise convolution's time in wasm); constant-size pieces are inlined. */
static inline void copy_panel_row(float *d, const float *s, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) memcpy(d + i, s + i, 16);
    for (; i < n; i++) d[i] = s[i];
}

/* Y(u, v) = p[v*ld + u]: each v gives P consecutive floats. */
static void pack_ucontig(const gemm_kinfo *ki, const gemm_src *s, int u0, int nu, int v0, int nv, int P,
                         float *dst) {
    for (int pu = 0; pu < nu; pu += P, dst += (size_t)P * nv) {
        int w = nu - pu < P ? nu - pu : P;
        const float *src = s->p + (size_t)v0 * s->ld + u0 + pu;
        for (int v = 0; v < nv; v++, src += s->ld) {
            float *d = dst + (size_t)v * P;
            if (w == P) {
                copy_panel_row(d, src, P);
            } else {
                for (int u = 0; u < w; u++) d[u] = src[u];
                for (int u = w; u < P; u++) d[u] = 0.0f;
            }
        }
    }
}

void gemm_pack_zero_tail(int w, int nv, int P, float *dst) {
    if (w < P)
        for (int v = 0; v < nv; v++) memset(dst + (size_t)v * P + w, 0, sizeof(float) * (size_t)(P - w));
}

/* Y(u, v) = p[u*ld + v]: transpose into panels. */
static void pack_vcontig(const gemm_kinfo *ki, const gemm_src *s, int u0, int nu, int v0, int nv, int P,
                         float *dst) {
    const float *rows[TILE_ROWS];
    for (int pu = 0; pu < nu; pu += P, dst += (size_t)P * nv) {
        int w = nu - pu < P ? nu - pu : P;
        for (int j = 0; j < w; j++) rows[j] = s->p + (size_t)(u0 + pu + j) * s->ld + v0;
        ki->tpack(rows, w, nv, P, dst);
        gemm_pack_zero_tail(w, nv, P, dst);
    }
}

/* Incremental: no divisions per row. */
void gemm_col_rows(const gemm_src *s, int v0, int nv, int *ro) {
    int kk = s->kh * s->kw, ci = v0 / kk, t = v0 - ci * kk, ky = t / s->kw, kx = t - ky * s->kw;
    for (int v = 0; v < nv; v++) {
        ro[v] = ci * s->cs + ky * s->rs + kx;
        if (++kx == s->kw) {
            kx = 0;
            if (++ky == s->kh) ky = 0, ci++;
        }
    }
}

gemm_src gemm_prepack(const gemm_kinfo *ki, const gemm_src *A, int M, int K, float *dst, int b0, int b1) {
    gemm_src s;
    memset(&s, 0, sizeof s);
    s.packed = dst;
    s.packed_m = (M + ki->mr - 1) / ki->mr * ki->mr;
    for (int pc = b0 * ki->kc; pc < K && pc < b1 * ki->kc; pc += ki->kc) {
        int kc = K - pc < ki->kc ? K - pc : ki->kc;
        A->pack(ki, A, 0, M, pc, kc, ki->mr, dst + (size_t)pc * s.packed_m);
    }
    return s;
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
static void scale_c(const gemm_args *g) {
    for (int i = 0; i < g->M; i++) {
        float *c = g->C + (size_t)i * g->ldc, b = g->bias ? g->bias[i] : 0.0f;
        for (int j = 0; j < g->N; j++) c[j] = (g->beta == 0.0f ? 0.0f : g->beta * c[j]) + b;
    }
}

/* Offsets of the vectors of the B tile starting at column (pixel) j of a direct source. */
static void direct_offsets(const gemm_src *s, int j, int nvec, int vlen, int nr, int *off) {
    for (int v = 0; v < nvec; v++) {
        int p = j + (v * vlen < nr ? v * vlen : 0), oy = p / s->OW, ox = p - oy * s->OW; /* past nr: any valid */
        off[v] = (oy * s->rs + ox) * s->stride;
    }
}

/* Rows [i0, i1) and columns [j0, j1) of C.  Loops: columns (nc) > depth (kc) > rows (mc) > micro tiles.
 * When all of A's rows [i0, i1) fit the pack buffer they are packed once, on the first column block
 * (unless A comes packed already).
 * A direct B source is not packed: the micro-kernel reads it in place through row offsets. */
static void gemm_block(const gemm_kinfo *ki, const gemm_args *g, int i0, int i1, int j0, int j1) {
    const int MR = ki->mr, NR = ki->nr, KC = ki->kc, MC = ki->mc, NC = ki->nc, K = g->K, ldc = g->ldc;
    const size_t Mr = (size_t)(i1 - i0 + MR - 1) / MR * MR;
    const int once = Mr * (size_t)K <= PACK_A_FLOATS, nvec_all = NR / ki->vlen;
    const int direct = g->B->direct && ki->kern_direct && g->B->OW % ki->vlen == 0 && j0 % ki->vlen == 0;
    float tile[TILE_FLOATS] __attribute__((aligned(64)));
    int ro[GEMM_MAX_BLOCK], off[TILE_ROWS];
    for (int jc = j0; jc < j1; jc += NC) {
        int nc = j1 - jc < NC ? j1 - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            float beta = pc == 0 ? g->beta : 1.0f;
            if (direct)
                gemm_col_rows(g->B, pc, kc, ro);
            else
                g->B->pack(ki, g->B, jc, nc, pc, kc, NR, pack_b);
            for (int ic = i0; ic < i1; ic += MC) {
                int mc = i1 - ic < MC ? i1 - ic : MC;
                const float *pa;
                if (g->A->packed) {
                    pa = g->A->packed + (size_t)pc * g->A->packed_m + (size_t)ic * kc;
                } else {
                    float *dst = once ? pack_a + (size_t)pc * Mr + (size_t)(ic - i0) * kc : pack_a;
                    if (!once || jc == j0) g->A->pack(ki, g->A, ic, mc, pc, kc, MR, dst);
                    pa = dst;
                }
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bp = pack_b + (size_t)jr * kc;
                    if (direct) direct_offsets(g->B, jc + jr, nvec_all, ki->vlen, nr, off);
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = mc - ir < MR ? mc - ir : MR;
                        const float *ap = pa + (size_t)ir * kc, *bias = pc == 0 && g->bias ? g->bias + ic + ir : NULL;
                        float *c = g->C + (size_t)(ic + ir) * ldc + jc + jr;
                        /* whole vectors of MR (or MR/2) rows go straight to C, narrower when nr < NR; other
                         * edges through the tile buffer, computing MR/2 rows when that is enough */
                        int half = (MR / 2) * (mr <= MR / 2), full = (mr == MR || mr == half) && nr % ki->vlen == 0;
                        int mrows = half ? half : MR, nvec = full ? nr / ki->vlen : nvec_all;
                        float *ct = full ? c : tile;
                        if (direct)
                            ki->kern_direct(kc, ap, g->B->p, ro, off, g->B->stride, mrows, nvec, ct, full ? ldc : NR,
                                            full ? g->alpha : 1.0f, full ? beta : 0.0f, full ? bias : NULL);
                        else
                            ki->kern(kc, ap, bp, mrows, nvec, ct, full ? ldc : NR, full ? g->alpha : 1.0f,
                                     full ? beta : 0.0f, full ? bias : NULL);
                        if (full) continue;
                        for (int i = 0; i < mr; i++) {
                            float bi = bias ? bias[i] : 0.0f;
                            for (int j = 0; j < nr; j++) {
                                float *cij = c + (size_t)i * ldc + j, t = g->alpha * tile[i * NR + j] + bi;
                                *cij = beta == 0.0f ? t : t + beta * *cij;
                            }
                        }
                    }
                }
            }
        }
    }
}

void gemm_serial(const gemm_kinfo *ki, const gemm_args *g) {
    if (g->M <= 0 || g->N <= 0) return;
    if (g->K <= 0 || g->alpha == 0.0f)
        scale_c(g);
    else
        gemm_block(ki, g, 0, g->M, 0, g->N);
}

typedef struct {
    const gemm_kinfo *ki;
    const gemm_args *g;
    int split_n, step;
} par_job;

static void par_run(void *ctx, int begin, int end) {
    const par_job *j = ctx;
    int lo = begin * j->step, hi = end * j->step;
    if (j->split_n)
        gemm_block(j->ki, j->g, 0, j->g->M, lo, hi < j->g->N ? hi : j->g->N);
    else
        gemm_block(j->ki, j->g, lo, hi < j->g->M ? hi : j->g->M, 0, j->g->N);
}

/* Below ~2 MFLOP a thread hand-off costs more than it saves. */
#define PAR_MIN_FLOPS (1 << 21)

void gemm_parallel(const gemm_kinfo *ki, const gemm_args *g) {
    if (g->M <= 0 || g->N <= 0) return;
    int nt = df_get_threads();
    if (nt <= 1 || g->K <= 0 || g->alpha == 0.0f || 2.0 * g->M * g->N * g->K < PAR_MIN_FLOPS) {
        gemm_serial(ki, g);
        return;
    }
    /* Split N or M into units of the micro tile, whichever balances the threads better (N on ties). */
    int un = (g->N + ki->nr - 1) / ki->nr, um = (g->M + ki->mr - 1) / ki->mr;
    double en = (double)un / (nt * ((un + nt - 1) / nt)), em = (double)um / (nt * ((um + nt - 1) / nt));
    par_job j = {ki, g, em <= en, em <= en ? ki->nr : ki->mr};
    int units = j.split_n ? un : um;
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
    gemm_args g = {&a, &b, M, N, K, alpha, beta, C, ldc, NULL};
    gemm_parallel(gemm_kinfo_active(), &g);
}
