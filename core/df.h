/* dadfi core: status codes, arenas, parameter blocks, threads, and every layer as a
 * forward/backward pair (llm.c style).
 *
 * Conventions (see README "Design"):
 *   - tensors are float32 NCHW; a "tensor" is just a pointer plus the sizes passed next to it
 *     (views, never owning memory);
 *   - argument order: outputs, saved-for-backward, inputs, parameters, sizes;
 *   - every *_backward ACCUMULATES (+=) into its gradient outputs; a NULL gradient pointer means
 *     "not needed" and is skipped;
 *   - ops never allocate: scratch memory ("workspace") is sized by a *_workspace() call and handed in;
 *   - library code never exits, aborts or prints: fallible calls return a df_status and
 *     df_errmsg() tells why.
 */
#ifndef DF_H
#define DF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ status */
typedef enum {
    DF_OK = 0,
    DF_ERR_ARG = 1,         /* bad argument (size, range, NULL) */
    DF_ERR_NOMEM = 2,       /* allocation failed or a size limit was exceeded */
    DF_ERR_FORMAT = 3,      /* malformed file / buffer (weights, images) */
    DF_ERR_IO = 4,          /* file system error */
    DF_ERR_UNSUPPORTED = 5, /* valid but unsupported input (format, version, architecture) */
} df_status;

/* Record an error message (printf-style, truncated to 512 bytes) for this thread and return code. */
df_status df_fail(df_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Message of the last failure on this thread ("" if none). */
const char *df_errmsg(void);
const char *df_status_name(df_status s);

/* ------------------------------------------------------------------ arena
 * Activations live in one arena sized by a planning pass: call the same "point" code twice, first
 * with a planning arena (base == NULL: allocations only add up sizes and return NULL), then after
 * df_arena_commit() for real.  Every allocation is 64-byte aligned. */
typedef struct {
    uint8_t *base;
    size_t cap, used;
    int planning;
} df_arena;

void df_arena_plan(df_arena *a);               /* start a planning pass */
df_status df_arena_commit(df_arena *a);        /* malloc what the plan needs; used = 0 */
float *df_arena_floats(df_arena *a, size_t n); /* NULL while planning */
void df_arena_reset(df_arena *a);              /* used = 0, memory kept */
void df_arena_free(df_arena *a);

/* ------------------------------------------------------------------ parameters
 * All parameters of a network in one allocation; gradients and Adam moments mirror it.
 * Tensors are declared by name (<= 63 chars) and shape, then df_params_alloc points them. */
#define DF_MAX_PARAMS 256
#define DF_NAME_MAX 64
typedef struct {
    char name[DF_NAME_MAX];
    int ndim;
    int dims[4];
    size_t offset, count; /* in floats, into the blocks below */
} df_param_info;

typedef struct {
    int n;
    df_param_info info[DF_MAX_PARAMS];
    size_t total;   /* floats */
    float *data;    /* total floats */
    float *grad;    /* total floats, or NULL (inference) */
    float *m, *v;   /* Adam moments, or NULL */
} df_params;

/* Declare a tensor; returns its index or -1 (and sets the error) on overflow/bad shape. */
int df_params_declare(df_params *p, const char *name, int ndim, const int *dims);
/* Allocate data (and grad/m/v if training != 0), zero-filled. */
df_status df_params_alloc(df_params *p, int training);
void df_params_free(df_params *p);
float *df_params_get(const df_params *p, int index);
int df_params_find(const df_params *p, const char *name);
void df_params_zero_grad(df_params *p);

/* ------------------------------------------------------------------ random (deterministic, portable) */
typedef struct { uint64_t s; } df_rng;
void df_rng_seed(df_rng *r, uint64_t seed);
uint32_t df_rng_u32(df_rng *r);
float df_rng_uniform(df_rng *r);  /* [0, 1) */
float df_rng_normal(df_rng *r);   /* N(0, 1) */

/* ------------------------------------------------------------------ threads
 * A persistent pool (native only; wasm runs on the calling thread). fn(ctx, begin, end) is called
 * on disjoint chunks of [0, n).  Nested calls run serially. */
void df_set_threads(int n); /* 0 = number of cores (capped at 64); 1 = serial */
int df_get_threads(void);
void df_parallel_for(int n, void (*fn)(void *ctx, int begin, int end), void *ctx);

/* ------------------------------------------------------------------ SIMD dispatch */
typedef enum { DF_ISA_SCALAR = 0, DF_ISA_AVX2 = 1, DF_ISA_AVX512 = 2, DF_ISA_WASM128 = 3 } df_isa;
df_isa df_isa_best(void);       /* detected once */
df_isa df_isa_active(void);
df_status df_isa_force(df_isa isa); /* tests/benchmarks: use a lower variant; fails if unsupported */
const char *df_isa_name(df_isa isa);

/* C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, row-major, op = transpose if trans != 0.
 * With beta == 0, C is not read.  Runs on the thread pool when the problem is large. */
void df_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* ------------------------------------------------------------------ convolution
 * weight [cout, cin/groups, kh, kw] (OIHW), bias [cout] or NULL.
 * out [B, cout, OH, OW] with OH = (H + 2*pad - kh)/stride + 1. */
enum { DF_PAD_ZERO = 0, DF_PAD_REFLECT = 1 };
typedef struct {
    int cin, cout, kh, kw, stride, pad, groups, pad_mode;
} df_conv;

static inline int df_conv_out(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }
size_t df_conv2d_workspace(const df_conv *c, int H, int W); /* floats */
void df_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                       const df_conv *c, int B, int H, int W, float *ws);
void df_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const df_conv *c, int B, int H, int W, float *ws);

/* Nearest x2 upsampling then a 3x3, stride-1, zero-pad-1 convolution (groups = 1) in one pass, for inference (no
 * backward): out [B, cout, 2H, 2W] = conv3x3(upsample2(inp [B, cin, H, W])), weight [cout, cin, 3, 3], bias [cout]
 * or NULL.  Each output parity is a 2x2 convolution of inp with summed taps (layers/upconv.c): no upsampled
 * image, 16/36 of the multiply-adds, a workspace of one band of rows. */
size_t df_upconv3x3_workspace(int cin, int cout, int H, int W); /* floats */
void df_upconv3x3_forward(float *out, const float *inp, const float *weight, const float *bias, int cin, int cout,
                          int B, int H, int W, float *ws);

/* Transposed convolution (PyTorch ConvTranspose2d, groups = 1): weight [cin, cout, k, k], bias [cout].
 * OH = (H - 1)*stride - 2*pad + k + out_pad. */
typedef struct {
    int cin, cout, k, stride, pad, out_pad;
} df_convT;
static inline int df_convT_out(int in, const df_convT *c) { return (in - 1) * c->stride - 2 * c->pad + c->k + c->out_pad; }
size_t df_convT_workspace(const df_convT *c, int H, int W);
void df_convT_forward(float *out, const float *inp, const float *weight, const float *bias, const df_convT *c,
                      int B, int H, int W, float *ws);
void df_convT_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                       const float *weight, const df_convT *c, int B, int H, int W, float *ws);

/* ------------------------------------------------------------------ resampling
 * Integer factor s; out [B*C, H*s, W*s].  Bilinear uses half-pixel centres (align_corners = false). */
void df_upsample_nearest_forward(float *out, const float *inp, int BC, int H, int W, int s);
void df_upsample_nearest_backward(float *dinp, const float *dout, int BC, int H, int W, int s);
void df_upsample_bilinear_forward(float *out, const float *inp, int BC, int H, int W, int s);
void df_upsample_bilinear_backward(float *dinp, const float *dout, int BC, int H, int W, int s);
/* Resize [BC, H, W] -> [BC, OH, OW] bilinearly (half-pixel, antialias-free); forward and backward. */
void df_resize_bilinear_forward(float *out, const float *inp, int BC, int H, int W, int OH, int OW);
void df_resize_bilinear_backward(float *dinp, const float *dout, int BC, int H, int W, int OH, int OW);

/* ------------------------------------------------------------------ normalisation
 * Instance norm over H*W per (b, c), affine gamma/beta [C] (NULL = identity).
 * Saves mean and rstd [B*C] for backward. */
void df_instnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                         const float *beta, int B, int C, int HW, float eps);
void df_instnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                          const float *mean, const float *rstd, const float *gamma, int B, int C, int HW);
/* Fold inference batch norm into the preceding conv: w [cout, per_out], b [cout] (must exist). */
void df_batchnorm_fold(float *w, float *b, const float *gamma, const float *beta, const float *mean,
                       const float *var, float eps, int cout, int per_out);

/* ------------------------------------------------------------------ activations (elementwise, n floats)
 * out may alias inp in forward.  Backward needs inp (relu family) or out (tanh, sigmoid): pass both. */
typedef enum { DF_ACT_NONE = 0, DF_ACT_RELU, DF_ACT_LRELU, DF_ACT_RELU6, DF_ACT_TANH, DF_ACT_SIGMOID } df_act;
void df_act_forward(float *out, const float *inp, size_t n, df_act act, float alpha);
void df_act_backward(float *dinp, const float *dout, const float *inp, const float *out, size_t n, df_act act,
                     float alpha);

/* ------------------------------------------------------------------ structure ops */
void df_add_forward(float *out, const float *a, const float *b, size_t n);
void df_add_backward(float *da, float *db, const float *dout, size_t n);
/* out [B, Ca+Cb, HW] = concat(a [B, Ca, HW], b [B, Cb, HW]) along channels. */
void df_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb, int HW);
void df_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW);
/* out [B, C, HW]: vec [B, C] broadcast over HW (attribute planes). */
void df_broadcast_forward(float *out, const float *vec, int B, int C, int HW);
void df_broadcast_backward(float *dvec, const float *dout, int B, int C, int HW);
/* out [B, C] = mean over HW. */
void df_gap_forward(float *out, const float *inp, int B, int C, int HW);
void df_gap_backward(float *dinp, const float *dout, int B, int C, int HW);
/* out [B, O] = inp [B, I] * weight[O, I]^T + bias[O]. */
void df_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int I, int O);
void df_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, int B, int I, int O);

/* ------------------------------------------------------------------ losses
 * Each returns the mean loss and, if grad != NULL, ADDS scale * d(loss)/d(input) into grad. */
float df_l1_loss(float *grad, const float *x, const float *target, size_t n, float scale);
float df_mse_loss(float *grad, const float *x, const float *target, size_t n, float scale);
/* Masked MSE: sum(mask * (x - t)^2) / max(1, sum(mask)); mask [n] in {0,1} (or weights). */
float df_masked_mse_loss(float *grad, const float *x, const float *target, const float *mask, size_t n, float scale);
/* Binary cross-entropy with logits; target in [0,1]. */
float df_bce_logits_loss(float *grad, const float *logits, const float *target, size_t n, float scale);
/* LSGAN: mean((x - target)^2) with a scalar target (1 real, 0 fake). */
float df_lsgan_loss(float *grad, const float *x, float target, size_t n, float scale);
/* Hinge GAN. Discriminator: real -> mean(relu(1 - x)), fake -> mean(relu(1 + x)).
 * Generator: mean(-x).  kind: +1 real (D), -1 fake (D), 0 generator. */
float df_hinge_gan_loss(float *grad, const float *x, int kind, size_t n, float scale);
/* The paper's perturbation hinge (Eq. 4): mean over B of max(0, ||delta_b||_inf - eps). */
float df_perturb_hinge_loss(float *grad, const float *delta, int B, size_t per_image, float eps, float scale);

/* ------------------------------------------------------------------ Adam (paper Eq. 15-18) */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} df_adam;
static inline df_adam df_adam_default(float lr) { df_adam a = {lr, 0.9f, 0.99f, 1e-6f, 0.0f}; return a; }
/* step counts from 1. */
void df_adam_update(float *param, const float *grad, float *m, float *v, size_t n, const df_adam *cfg, long step);

#ifdef __cplusplus
}
#endif
#endif
