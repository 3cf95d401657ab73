/* Private to the GEMM and convolution kernels (core/gemm*.c, core/conv*.c).
 *
 * GEMM follows the BLIS/GotoBLAS scheme: op(A) and op(B) are packed into panels and a register-
 * blocked micro-kernel computes one MR x NR tile of C per call:
 *   A panel: kc x MR floats, a[k*MR + i] = op(A)(i, k)
 *   B panel: kc x NR floats, b[k*NR + j] = op(B)(k, j)
 * A "source" describes where an operand comes from (a plain strided matrix, or an implicit im2col
 * view of an image for convolution) and packs any block of it.  Blocks are viewed as Y(u, v) where u
 * runs along the panel (rows i of A, columns j of B) and v along the contraction index k.
 * Two shortcuts for convolutions: A (the weights) may come packed once for many GEMMs (gemm_prepack),
 * and an im2col B of stride 1 or 2 is read in place by "direct" micro-kernels (no packing).
 * The convolution-only kernels (weight gradients, depthwise) are declared here too: one table
 * (gemm_kinfo) per instruction set holds them all. */
#ifndef DF_GEMM_KERN_H
#define DF_GEMM_KERN_H

#include "df.h"

/* c[mrows x nvec*vlen] (row stride ldc) = alpha * a * b + beta * c (+ bias[i] on row i if bias != NULL): the
 * first mrows rows (MR, or MR/2 when mrows <= MR/2) and nvec vectors (<= NR/vlen) of the tile;
 * beta == 0: c is not read. */
typedef void (*gemm_ukernel)(int kc, const float *a, const float *b, int mrows, int nvec, float *c, int ldc,
                             float alpha, float beta, const float *bias);

/* The same with B read in place ("direct" convolution sources, see gemm_src): vector v of row k of the
 * B tile is the vlen floats at base + ro[k] + off[v], every stride-th float (stride 1 or 2). */
typedef void (*gemm_ukernel_direct)(int kc, const float *a, const float *base, const int *ro, const int *off,
                                    int stride, int mrows, int nvec, float *c, int ldc, float alpha, float beta,
                                    const float *bias);

/* Each instruction-set file writes one always-inline body(mrows, nvec, kc, a, b, base, ro, off, s2, c, ldc,
 * alpha, beta, bias) (B packed when base == NULL, else read in place, stride 2 when s2; mrows rows and
 * nvec vectors of the tile) and gets both micro-kernels, ukr and ukr_direct, from this macro: constant
 * arguments let the compiler specialise each, and the narrower tiles serve the edges. */
#define GEMM_BODY_NVEC(mrows, nvec, ...)                                                                     \
    do {                                                                                                     \
        if ((nvec) == 1)                                                                                     \
            body(mrows, 1, __VA_ARGS__);                                                                     \
        else if ((nvec) == 2 && NV > 2)                                                                      \
            body(mrows, 2, __VA_ARGS__);                                                                     \
        else                                                                                                 \
            body(mrows, NV, __VA_ARGS__);                                                                    \
    } while (0)
#define GEMM_BODY(mrows, nvec, ...)                                                                          \
    do {                                                                                                     \
        if ((mrows) <= MR / 2)                                                                               \
            GEMM_BODY_NVEC(MR / 2, nvec, __VA_ARGS__);                                                       \
        else                                                                                                 \
            GEMM_BODY_NVEC(MR, nvec, __VA_ARGS__);                                                           \
    } while (0)
#define GEMM_UKERNELS(body)                                                                                 \
    static void ukr(int kc, const float *a, const float *b, int mrows, int nvec, float *c, int ldc,         \
                    float alpha, float beta, const float *bias) {                                           \
        GEMM_BODY(mrows, nvec, kc, a, b, NULL, NULL, NULL, 0, c, ldc, alpha, beta, bias);                   \
    }                                                                                                       \
    static void ukr_direct(int kc, const float *a, const float *base, const int *ro, const int *off,        \
                           int stride, int mrows, int nvec, float *c, int ldc, float alpha, float beta,     \
                           const float *bias) {                                                             \
        if (stride == 2)                                                                                    \
            GEMM_BODY(mrows, nvec, kc, a, NULL, base, ro, off, 1, c, ldc, alpha, beta, bias);               \
        else                                                                                                \
            GEMM_BODY(mrows, nvec, kc, a, NULL, base, ro, off, 0, c, ldc, alpha, beta, bias);               \
    }

/* dst[v*P + j] = rows[j][v] for j < w, v < nv: the transposing step of packing. */
typedef void (*gemm_tpack)(const float *const *rows, int w, int nv, int P, float *dst);

/* Convolution weight gradient, direct (no packing; for few output channels): for co < nco <= dw_mco,
 * k < nk <= dw_nk (of the kinfo):  dw[co*lddw + k] += sum over oy < R, ox < OW of
 *   dy[co*ldy + oy*OW + ox] * xp[ro[k] + oy*rs + ox*stride]   (stride 1 or 2; rs: one output row down) */
typedef void (*conv_dw_kernel)(int nco, int nk, const float *dy, size_t ldy, const float *xp, const int *ro, int rs,
                               int stride, int R, int OW, float *dw, int lddw);

/* Weight gradient of a 3x3 convolution, vectors over output channels: for c < nch (1, or 2 with nvc 1)
 * input channels, taps t = ky*3 + kx, co < nco <= 16*nvc (nvc 1 or 2):
 *   dw[co*lddw + c*9 + t] += sum over oy < R, ox < OW of
 *     xp[c*cs + (oy*stride + ky)*rs + ox*stride + kx] * dyt[(oy*OW + ox)*ldt + co]
 * dyt is dY transposed, ldt a multiple of 16, lanes past the channels zero. */
typedef void (*conv_dwt_kernel)(int nch, int nvc, const float *xp, size_t cs, size_t rs, int stride, int R, int OW,
                                const float *dyt, int ldt, float *dw, int nco, int lddw);

/* Depthwise convolution, one channel (stride 1 or 2):
 *   plane: out[oy*OW + ox] = (accumulate ? out[..] : bias) + sum_t w[t] * xp[(oy*stride + ky)*rs + ox*stride + kx],
 *          t = ky*kw + kx
 *   dw:    dw[t] += sum over oy, ox of dy[oy*OW + ox] * xp[(oy*stride + ky)*rs + ox*stride + kx] */
typedef void (*conv_dwc_kernel)(float *out, const float *xp, size_t rs, const float *w, int kh, int kw, int stride,
                                int OH, int OW, int accumulate, float bias);
typedef void (*conv_dwc_dw_kernel)(float *dw, const float *dy, const float *xp, size_t rs, int kh, int kw,
                                   int stride, int OH, int OW);

typedef struct {
    int mr, nr;         /* micro tile */
    int kc, mc, nc;     /* cache blocks (mc multiple of mr, nc of nr) */
    gemm_ukernel kern;
    gemm_tpack tpack;
    int vlen;                        /* floats per vector (nr is a multiple) */
    gemm_ukernel_direct kern_direct; /* or NULL */
    conv_dw_kernel conv_dw;          /* or NULL */
    int dw_mco, dw_nk;               /* its block */
    conv_dwt_kernel conv_dwt;        /* or NULL */
    conv_dwc_kernel conv_dwc;        /* or NULL: plain C in conv.c */
    conv_dwc_dw_kernel conv_dwc_dw;  /* or NULL */
} gemm_kinfo;

/* Per-thread pack buffers (floats) and the largest micro tile; every kinfo must fit them. */
#define PACK_A_FLOATS (160 * 1024)
#define PACK_B_FLOATS (256 * 1024)
#define TILE_FLOATS 1024
#define TILE_ROWS 64     /* largest panel width P */
#define GEMM_MAX_MR 8    /* largest mr */
#define GEMM_MAX_BLOCK 1024 /* largest kc and nc (sources keep per-row tables of this size) */
#define GEMM_CHECK_BLOCKS(mr, nr, kc, mc, nc)                                                       \
    _Static_assert((mc) % (mr) == 0 && (nc) % (nr) == 0 && (mc) * (kc) <= PACK_A_FLOATS &&         \
                       (nc) * (kc) <= PACK_B_FLOATS && (mr) * (nr) <= TILE_FLOATS &&               \
                       (mr) <= GEMM_MAX_MR && (nr) <= TILE_ROWS && (kc) <= GEMM_MAX_BLOCK &&       \
                       (nc) <= GEMM_MAX_BLOCK,                                                     \
                   "GEMM blocking does not fit the pack buffers")

/* The micro-kernels (one per instruction set) and their blocking. */
extern const gemm_kinfo gemm_kinfo_scalar;
#if defined(DF_X86)
extern const gemm_kinfo gemm_kinfo_avx2;
extern const gemm_kinfo gemm_kinfo_avx512;
void gemm_tpack_avx2(const float *const *rows, int w, int nv, int P, float *dst); /* AVX2, used by both */
void conv_dw_avx2(int nco, int nk, const float *dy, size_t ldy, const float *xp, const int *ro, int rs, int stride,
                  int R, int OW, float *dw, int lddw);
void conv_dw_avx512(int nco, int nk, const float *dy, size_t ldy, const float *xp, const int *ro, int rs,
                    int stride, int R, int OW, float *dw, int lddw);
void conv_dwt_avx512(int nch, int nvc, const float *xp, size_t cs, size_t rs, int stride, int R, int OW,
                     const float *dyt, int ldt, float *dw, int nco, int lddw);
void conv_dwc_avx512(float *out, const float *xp, size_t rs, const float *w, int kh, int kw, int stride, int OH,
                     int OW, int accumulate, float bias);
void conv_dwc_dw_avx512(float *dw, const float *dy, const float *xp, size_t rs, int kh, int kw, int stride, int OH,
                        int OW);
#endif
void gemm_tpack_scalar(const float *const *rows, int w, int nv, int P, float *dst);
#if defined(__wasm_simd128__)
extern const gemm_kinfo gemm_kinfo_wasm128;
#endif
const gemm_kinfo *gemm_kinfo_active(void);

typedef struct gemm_src gemm_src;
struct gemm_src {
    /* Pack Y(u0 .. u0+nu, v0 .. v0+nv) into panels of width P: dst[(u/P)*P*nv + v*P + u%P], u padded
     * with zeros up to a multiple of P. */
    void (*pack)(const gemm_kinfo *ki, const gemm_src *s, int u0, int nu, int v0, int nv, int P, float *dst);
    const float *p;
    int ld;
    /* implicit im2col of one padded image (see conv.c): element (k, pix) with k = (ci*kh + ky)*kw + kx,
     * pix = oy*OW + ox is p[ci*cs + (oy*stride + ky)*rs + ox*stride + kx].  With direct != 0 (stride 1
     * or 2) the GEMM may read it in place instead of packing, when OW is a multiple of the vector length. */
    int kh, kw, stride, cs, rs, OW, direct;
    int fkh, fkw, py, px; /* flipped weights (conv.c): full kernel and phase */
    /* A operand packed beforehand (gemm_prepack): per block of kc: all rows in panels of MR, rows rounded up
     * to packed_m; pack is then unused */
    const float *packed;
    int packed_m;
};

/* Zero dst[v*P + j] for w <= j < P (the padding of a last, partial panel). */
void gemm_pack_zero_tail(int w, int nv, int P, float *dst);

/* Pack A (M x K, as Y(i, k)) for ki into dst, GEMM_PREPACK_FLOATS(M, K) floats: its depth blocks (of ki->kc)
 * b0 <= b < b1 (several calls may share the work); returns the source that reads the whole packed A.
 * Worth it when one A meets many B blocks (convolution weights and bands). */
#define GEMM_PREPACK_FLOATS(M, K) ((size_t)((M) + GEMM_MAX_MR - 1) / GEMM_MAX_MR * GEMM_MAX_MR * (size_t)(K))
gemm_src gemm_prepack(const gemm_kinfo *ki, const gemm_src *A, int M, int K, float *dst, int b0, int b1);

/* Offsets of the rows k = v0 .. v0+nv of an im2col source. */
void gemm_col_rows(const gemm_src *s, int v0, int nv, int *ro);

/* Plain matrix sources: Y(u, v) = p[u*ld + v] (v contiguous) or p[v*ld + u] (u contiguous). */
gemm_src gemm_src_matrix(const float *p, int ld, int u_contiguous);

/* C[M,N] = alpha * A * B + beta * C + bias (A viewed as Y(i, k), B as Y(j, k); bias [M] or NULL). */
typedef struct {
    const gemm_src *A, *B;
    int M, N, K;
    float alpha, beta;
    float *C;
    int ldc;
    const float *bias;
} gemm_args;

/* On the calling thread. */
void gemm_serial(const gemm_kinfo *ki, const gemm_args *g);
/* Split over the thread pool (along N, or M when N is narrow) when the problem is large. */
void gemm_parallel(const gemm_kinfo *ki, const gemm_args *g);

#endif
