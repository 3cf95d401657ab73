/* Winograd F(4x4, 3x3) convolution (Lavin & Gray 2016): 3x3, stride 1, one group.  Each 4x4 tile of the
 * output is A^T [ (G g G^T) .* (B^T d B) ] A, d the 6x6 input tile: 36 multiplies per tile and channel pair
 * where the direct convolution needs 144, the rest are additions in the transforms.  For one image
 * [C, H, W] -> [K, OH, OW], tiles (ty, tx) over ceil(OH/4) x ceil(OW/4):
 *   U [36][K][C]  = G w G^T          weights, written straight into gemm_prepack's layout of A
 *   V [36][C][nb] = B^T d B          input tiles of a block of whole tile rows (nb tiles, rounded up to 16)
 *   M [36][K][nb] = U[e] V[e]        36 GEMMs through gemm.c (its ISA micro-kernels; V is read in place
 *                                    by the "direct" kernels, as a 1x1 image of nb pixels)
 *   out           = A^T M A + bias   output transform, clipped at the image edges; out = beta * out + ...
 * Points 0, +-1, +-2, inf (matrices in winograd_kern.h).  The transforms run on 16 tiles of a tile row at
 * once (vector extensions, compiled per instruction set: winograd_kern.h): B^T along columns on whole
 * padded rows, then along rows with the six phases (x mod 4, +4, +5) taken out by shuffles; A^T the same way
 * back, the four columns of each output row interleaved by shuffles.  A block keeps V and M within about
 * WINO_BLOCK_FLOATS; each step of a block is shared out among the threads (channels, transform points,
 * output channels).  The planes of U, V and M are a cache line more than a multiple of 4 KiB apart.
 *
 * Accuracy: float32 rounding in the transforms grows the error by about an order of magnitude over the
 * direct GEMM (tests/test_winograd.c: at most 1.7e-6 of the sum of |terms|, bound 1e-5).  Cost: see the gate
 * (df_winograd_fits) below. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "winograd_kern.h"

#define WINO_BLOCK_FLOATS (1 << 20) /* V + M of one block of tiles (4 MiB) */

/* ------------------------------------------------------------------ switch and counter */
static atomic_int wino_mode = -1; /* -1: DF_WINOGRAD not read yet */
static atomic_ulong wino_calls;

void df_winograd_enable(int mode) { atomic_store(&wino_mode, mode < 0 ? 0 : mode > 2 ? 2 : mode); }
unsigned long df_winograd_calls(void) { return atomic_load(&wino_calls); }

int df_winograd_enabled(void) {
    int mode = atomic_load(&wino_mode);
    if (mode < 0) {
        const char *env = getenv("DF_WINOGRAD");
        int want = env && env[0] == '0' ? 0 : env && env[0] == '2' ? 2 : 1, expect = -1;
        atomic_compare_exchange_strong(&wino_mode, &expect, want);
        mode = atomic_load(&wino_mode);
    }
    return mode;
}

/* The gate, measured here (1 thread, AVX-512, tools/bench/bench_conv --set cartoon and smaller images): the
 * weight transform costs per channel pair, the input and output transforms per tile and channel, and lanes of
 * 16 tiles waste work on narrow images, so Winograd gains 1.3-2.2x from 64x64 pixels and ~64 channels up,
 * breaks even near 40x40 (64 channels) or with 32 x 32 channels, and loses up to 4x on 8x8 images. */
#define WINO_MIN_CH 32      /* input and output channels each */
#define WINO_MIN_CHPROD 2048 /* input x output channels */
#define WINO_MIN_PIX 2048   /* output pixels */

int df_winograd_fits(const df_conv *c, int H, int W) {
    if (c->groups > 1 || c->kh != 3 || c->kw != 3 || c->stride != 1 || c->cin < 1 || c->cout < 1) return 0;
    if (WL % gemm_kinfo_active()->mr) return 0; /* the weight transform's vectors: whole panels of mr rows */
    int OH = df_conv_out(H, 3, 1, c->pad), OW = df_conv_out(W, 3, 1, c->pad);
    if (OH < 1 || OW < 1) return 0;
    if (df_winograd_enabled() != 2 &&
        (c->cin < WINO_MIN_CH || c->cout < WINO_MIN_CH || (long)c->cin * c->cout < WINO_MIN_CHPROD ||
         (long)OH * OW < WINO_MIN_PIX))
        return 0;
    if (c->pad_mode == DF_PAD_REFLECT) return c->pad < H && c->pad < W;
    return c->pad_mode == DF_PAD_ZERO && c->pad >= 0 && c->pad <= 2; /* the input gradient pads dY by 2 - pad */
}

/* ------------------------------------------------------------------ plan and driver */
/* The 36 planes of U, V and M are read and written together: strides a multiple of 4 KiB would put them
 * all in the same L1 sets, so each is moved on by a cache line. */
static size_t plane_stride(size_t n) { return (n + 15) / 16 * 16 + 16; }

static wplan make_plan(const df_wino *s) {
    wplan p;
    p.TH = (s->OH + 3) / 4, p.TW = (s->OW + 3) / 4;
    long most = WINO_BLOCK_FLOATS / (36L * (s->C + s->K > 0 ? s->C + s->K : 1)); /* tiles per block */
    int R = (int)(most / p.TW), nblk;
    if (R < 1) R = 1;
    nblk = (p.TH + R - 1) / R;
    p.R = (p.TH + nblk - 1) / nblk; /* as even as possible */
    p.nb = p.R * p.TW, p.nbp = (p.nb + WL - 1) / WL * WL;
    p.us = plane_stride(GEMM_PREPACK_FLOATS(s->K, s->C));
    p.vs = plane_stride((size_t)s->C * p.nbp), p.ms = plane_stride((size_t)s->K * p.nbp);
    p.u = 0, p.v = 36 * p.us, p.m = p.v + 36 * p.vs, p.total = p.m + 36 * p.ms;
    return p;
}

size_t df_winograd_workspace(const df_wino *s) { return make_plan(s).total; }

WINO_KINFO(wino_kinfo_base)

static const wino_kinfo *wino_active(void) {
    switch (df_isa_active()) {
#if defined(DF_X86)
    case DF_ISA_AVX512: return &wino_kinfo_avx512;
    case DF_ISA_AVX2: return &wino_kinfo_avx2;
#endif
    default: return &wino_kinfo_base;
    }
}

/* M[e] = U[e] V[e], transform points [e0, e1), each GEMM on one thread. */
typedef struct {
    const wjob *j;
    const gemm_kinfo *ki;
} gemm_job;

static void gemm_run(void *ctx, int e0, int e1) {
    const gemm_job *g = ctx;
    const wjob *j = g->j;
    const df_wino *s = j->s;
    const wplan *p = j->p;
    for (int e = e0; e < e1; e++) {
        gemm_src A, B;
        memset(&A, 0, sizeof A);
        A.packed = j->ws + p->u + (size_t)e * p->us, A.packed_m = j->packed_m;
        /* V[e] as a 1x1 "image" of nbp pixels, C channels: read in place by the direct micro-kernels */
        B = gemm_src_matrix(j->ws + p->v + (size_t)e * p->vs, p->nbp, 1);
        B.kh = B.kw = B.stride = 1, B.cs = B.rs = B.OW = p->nbp, B.direct = 1;
        gemm_args a = {&A, &B, s->K, p->nbp, s->C, 1.0f, 0.0f, j->ws + p->m + (size_t)e * p->ms, p->nbp, NULL};
        gemm_serial(g->ki, &a);
    }
}

void df_winograd_conv3x3(float *out, const float *x, const float *weight, const float *bias, const df_wino *s, int B,
                         float beta, float *ws) {
    if (B <= 0 || s->K <= 0 || s->OH <= 0 || s->OW <= 0) return;
    atomic_fetch_add(&wino_calls, (unsigned long)B);
    wplan p = make_plan(s);
    const gemm_kinfo *ki = gemm_kinfo_active();
    const wino_kinfo *wk = wino_active();
    wjob j = {s, &p, out, ws, x, weight, bias, beta, ki->mr, ki->kc, (s->K + ki->mr - 1) / ki->mr * ki->mr, 0, 0};
    gemm_job gj = {&j, ki};
    df_parallel_for(j.packed_m / ki->mr, wk->weights, &j);
    for (int b = 0; b < B; b++) {
        j.x = x + (size_t)b * s->C * s->H * s->W, j.out = out + (size_t)b * s->K * s->OH * s->OW;
        for (j.ty0 = 0; j.ty0 < p.TH; j.ty0 += p.R) {
            j.R = p.TH - j.ty0 < p.R ? p.TH - j.ty0 : p.R;
            df_parallel_for(s->C, wk->input, &j);
            df_parallel_for(36, gemm_run, &gj);
            df_parallel_for(s->K, wk->output, &j);
        }
    }
}
