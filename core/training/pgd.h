/* Deepfake-disruption attacks on zoo models: per-image PGD (Ruiz et al. 2020), universal perturbations
 * (CMUA-Watermark style), and query-only gradient estimates (NES / SPSA).
 *
 * Loss maximised (per image b, summed over the models i of the list):
 *   L_b = sum_i w_i * [ sum_p W_b[p] * sum_c (y_i(x_adv) - y_i(x))^2 / (3 * sum_p W_b[p])
 *                       + feat_weight * mean((f_i(x_adv) - f_i(x))^2) ]
 * y_i = mod_i(., src -> trg) the model's edit, f_i its bottleneck features (zoo_gen_features), W_b the pixel
 * weights: 1 everywhere, or (opts.masked) mask_soft + CMUA mask of the clean edit (design.md "Metrics"), the
 * region the deepfake changes, which is what the success metric L2_mask measures.
 * The loss reported and differentiated is the MEAN over the B images of the batch.
 *
 * Gradients: backpropagation through the models (white box), or opts.blackbox: antithetic NES
 *   g_b ~ 1/(2 n sigma) sum_k [L_b(x + sigma u_k) - L_b(x - sigma u_k)] u_k,  u_k ~ N(0, I)
 * with directions optionally drawn at resolution S / nes_down and upsampled (fewer dimensions to estimate).
 *
 * PGD (per image): x_adv = clip(x + U(-eps, eps)) (random start), then iters x
 *   { g = dL/dx_adv  (opts.balance: sum_i g_i / mean|g_i|, g_i through model i alone);
 *     [momentum: v = mu v + g / mean|g|, g = v];  x_adv = P(x_adv + step * sign(g)) }
 * with P the projection onto |x_adv - x| <= eps and [-1, 1].  Iteration it attacks target it % ntrg of every
 * model, so one run can cover several attribute edits at the cost of one.
 * Universal: one delta [3,S,S] shared by all images; pgd_universal_step runs iters sign steps on a batch with
 * the gradient summed over its images; calling it over many batches accumulates a perturbation that works
 * for the whole training set.  One delta per model: call it with a list of one model; per ensemble: all.
 *
 * Models run in zoo slot 0 (clean reference, pgd_set_clean) and slot 1 (attacked input, pgd_forward).
 * Targets are zoo models or imported graphs (pgd_model.graph: e.g. a CartoonGAN): a graph keeps its activations
 * of every forward (one plan per size), so pgd_backward differentiates its last pgd_forward as for the zoo.
 */
#ifndef DF_PGD_H
#define DF_PGD_H

#include "df.h"
#include "graph.h"
#include "resample.h"
#include "zoo.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    zoo_model *model;  /* a zoo model, or NULL with graph set */
    const float *src;  /* [B,5] source attributes (0/1) (zoo models only) */
    const float *trg;  /* [ntrg, B, 5] target attributes (zoo models only) */
    int ntrg;          /* >= 1 (an imported model has one edit: the targets cycle over nothing) */
    const float *z;    /* [B, zdim] style noise (zoo-style) or NULL = zeros */
    float weight;      /* w_i (1) */
    graph_model *graph; /* an imported image-to-image model (graph.h) instead of a zoo model, attacked at its own
                           side (graph_info.size); no features (feat_weight must be 0) */
} pgd_model;

typedef struct {
    float eps;          /* L-inf budget on the [-1, 1] scale (0.05) */
    float step;         /* sign-step size (0.01) */
    int iters;          /* iterations (10) */
    int random_start;   /* start uniformly inside the eps ball (1) */
    float momentum;     /* 0: plain sign steps; > 0: MI-FGSM decay factor (e.g. 0.9) */
    int masked;         /* weight pixels by mask_soft + CMUA mask (0) */
    int balance;        /* pgd_attack, white box, >= 2 models: each model's input gradient is scaled to mean |g| = 1
                           per image before the sum, so every model steers the sign step, not only the most
                           sensitive one (1) */
    float mask_soft;    /* weight outside the mask when masked (0.1) */
    float feat_weight;  /* weight of the bottleneck-feature term (0 = off) */
    int blackbox;       /* estimate gradients by NES instead of backpropagation (0) */
    int nes_samples;    /* antithetic pairs per estimate (50) */
    float nes_sigma;    /* probe radius (0.01) */
    int nes_down;       /* directions drawn at S / nes_down, nearest-upsampled (1 = full resolution) */
    uint64_t seed;      /* random start and NES directions */
    int jpeg;           /* pgd_attack: 0, or attack through augment.h's differentiable JPEG at this quality (1..100,
                           STE rounding, 4:2:0 chroma; S a multiple of 16): the clean reference and every attacked
                           input pass through it, so the perturbation is optimised for what survives
                           re-encoding (expectation over one transform) */
} pgd_opts;

pgd_opts pgd_default_opts(void);

typedef struct pgd_ctx pgd_ctx; /* buffers for clean references, outputs and gradients (grown on demand) */

df_status pgd_ctx_create(pgd_ctx **c);
void pgd_ctx_free(pgd_ctx *c);

/* Bind a model list (borrowed until the next call) and batch size; all models must share one input size S. */
df_status pgd_set_models(pgd_ctx *c, const pgd_model *m, int n, int B);
/* Clean references for every model and target: y_i(x), pixel weights, features.  x [B,3,S,S] is borrowed
 * until the next pgd_set_clean (it is needed for the CMUA mask only here). */
df_status pgd_set_clean(pgd_ctx *c, const float *x, const pgd_opts *o);
/* Run every model on x_in [B,3,S,S] (targets t % ntrg) in slot 1.  *loss (may be NULL) = mean over images,
 * loss_b [B] (may be NULL) per image; the loss gradient times scale is put in pgd_dout (overwritten).
 * Needs pgd_set_clean unless scale == 0 and loss pointers are NULL (forward only). */
df_status pgd_forward(pgd_ctx *c, float *loss, float *loss_b, const float *x_in, int t, float scale);
const float *pgd_output(const pgd_ctx *c, int i); /* y_i of the last pgd_forward [B,3,S,S] */
float *pgd_dout(pgd_ctx *c, int i);               /* its gradient buffer: callers may add their own terms */
/* dx [B,3,S,S] += sum_i (d y_i / d x_in)^T dout_i (+ the feature term): backprop of the last pgd_forward. */
df_status pgd_backward(pgd_ctx *c, float *dx);
/* grad [B,3,S,S] += scale * d(mean loss)/d x_in at x_in (target t), by backprop or (o->blackbox) NES. */
df_status pgd_grad(pgd_ctx *c, float *loss, float *grad, const float *x_in, int t, float scale, const pgd_opts *o,
                   df_rng *rng);

/* Per-image PGD against the bound models: x_adv [B,3,S,S] from x.  *final_loss (may be NULL): mean loss at
 * the returned x_adv (one extra forward). */
df_status pgd_attack(pgd_ctx *c, float *x_adv, const float *x, const pgd_opts *o, float *final_loss);
/* EOT-PGD (expectation over transformation, Athalye et al. 2018): the bound of a protector that must survive a
 * random pipeline.  The perturbation lives on one frame x [3, H, W] (a photo at the models' scale); every
 * iteration the sampler draws K pipeline samples (per sample: an affine crop onto S x S with a kernel,
 * resample.h, and a JPEG quality, 0 = none, shared by the K samples of an iteration), the bound models (bound
 * with B = K: sample k uses src / trg row k) see crop_k(x_adv) (then augment.h's JPEG approximation) against the
 * clean reference crop_k(x) through the same transforms, and x_adv steps along the sign of the gradient summed
 * over the samples (balanced per model as pgd_attack, momentum as opts), projected to the eps ball and [-1, 1].
 * o->jpeg is ignored (the sampler decides).  Random start as opts. */
typedef void (*pgd_sampler)(void *ctx, rs_affine *maps, int *kernels, int *jpeg, int K, int iter);
df_status pgd_eot_attack(pgd_ctx *c, float *x_adv, const float *x, int H, int W, pgd_sampler sample, void *sctx,
                         const pgd_opts *o);

/* Universal: o->iters sign steps on the shared delta [3,S,S] over batch x (bound models); an all-zero delta
 * starts uniformly in the eps ball when o->random_start (the loss is flat at 0).  velocity [3,S,S]
 * (momentum state, kept by the caller across batches) may be NULL when o->momentum == 0.  t0: target index of
 * the first iteration (pass a running counter to cycle targets across batches).  *loss: mean loss before the
 * last step. */
df_status pgd_universal_step(pgd_ctx *c, float *delta, float *velocity, const float *x, const pgd_opts *o,
                             long t0, df_rng *rng, float *loss);

/* ------------------------------------------------------------------ building blocks (also used by the trainer) */
/* Pixel weights wmap [B, H*W] = soft + CMUA mask(yc, x) (mask from metrics.h). */
df_status pgd_weight_map(float *wmap, const float *yc, const float *x, int B, int H, int W, float soft);
/* Per image b: sum_p w[p] sum_c (y - yc)^2 / (3 sum_p w[p]) (wmap NULL: plain mean); returns the mean over b,
 * writes loss_b [B] if non-NULL, and ADDS scale * d(mean)/dy into dy if non-NULL.  An all-zero weight map
 * gives 0. */
float pgd_disruption_loss(float *dy, float *loss_b, const float *y, const float *yc, const float *wmap, int B,
                          int H, int W, float scale);

/* A per-image loss oracle for NES: loss_b [B] at inputs x [B, C, H, W]. */
typedef df_status (*pgd_loss_fn)(void *ctx, float *loss_b, const float *x, int B);
/* grad [B,C,H,W] += scale * NES estimate of d L_b / d x_b for every image (antithetic pairs, directions at
 * (H/down) x (W/down) nearest-upsampled; H, W multiples of down). */
df_status pgd_nes(float *grad, pgd_loss_fn f, void *fctx, const float *x, int B, int C, int H, int W, int samples,
                  float sigma, int down, float scale, df_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
