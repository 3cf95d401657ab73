/* DADFI training of the protector Gen (paper Eq. 3-18; design.md "The algorithm").
 *
 * One step on a batch x [B,3,S,S] with CelebA attributes src [B,5]; every image gets, per zoo model, a random
 * single-attribute edit (zoo_edit_attrs) and, for style models, random noise z:
 *   delta  = r_t * Gen(x)                  r_t = eps_t / eps: the eps schedule (1 without one)
 *   x_adv  = clip(x + delta, -1, 1)
 *   Ide_x  : real x, fake x_adv                                   (Eq. 3; BCE with logits)
 *   Ide_y  : real mod_i(T(x + adv_i)), fake mod_i(T(x_adv)), summed over the n models  (Eq. 7-9)
 *            adv_i: universal (one per model, prot_universal_update) or per-image PGD computed in the step
 *   hinge  : mean_b max(0, ||delta_b||_inf - eps_t)                (Eq. 4, weight mu)
 *   Gen minimises  Loss_Idex + Loss_Idey + mu * hinge  (non-saturating generator losses), Ide_x and Ide_y
 *   maximise theirs; discriminators are updated first, then Gen against the updated discriminators.  Adam with
 *   beta1 0.9, beta2 0.99, eps 1e-6 (Eq. 15-18).
 * Recipe "ours" adds, per model, with T a random robustness transform (augment.h; the same T for the batch):
 *   - direct: -w_direct * min(L_b, cap) with L_b the masked disruption loss of pgd.h (pixel weights
 *     mask_soft + CMUA mask of mod_i(T(x))) between mod_i(T(x_adv)) and mod_i(T(x)) (the reference goes through
 *     T too, so that L_b measures the perturbation's effect, not the transform's): images already disrupted beyond
 *     the cap stop pulling, so the effort goes to the ones that are not (direct_log: log(min(L_b, cap) + 1e-3),
 *     whose gradient 1 / (L_b + 1e-3) also balances models that are disrupted less);
 *   - feature: -w_feat * mean((f_i(T(x_adv)) - f_i(T(x)))^2) on the models' bottleneck features;
 *   - energy: w_energy * mean_b max(0, mean(delta_b^2) / m - 1), m the squared error of PSNR psnr_target:
 *     keeps the perturbation less visible than uniform noise filling the budget (design.md "Metrics").
 * Black box (opts.blackbox): the zoo models are only queried; the gradient of Gen's model-dependent loss terms
 * with respect to the models' input is estimated by NES (pgd_nes), and PGD labels use NES too.
 *
 * Everything random in a step derives from (seed, step), so a run resumed from a checkpoint (Gen, Ide_x,
 * Ide_y, their Adam moments, the universal perturbations, step) continues exactly as the uninterrupted run.
 */
#ifndef DF_PROTECTOR_H
#define DF_PROTECTOR_H

#include "attack.h"
#include "augment.h"
#include "dfw.h"
#include "gen.h"
#include "graph.h"
#include "patchgan.h"
#include "pgd.h"
#include "zoo.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROT_MAX_MODELS 16
#define PROT_ARCH "dadfi-train" /* meta "checkpoint" of a training checkpoint */

typedef enum { PROT_PAPER = 0, PROT_OURS = 1 } prot_recipe;

typedef struct {
    int recipe;          /* PROT_PAPER | PROT_OURS */
    float eps;           /* budget = the hinge's lim (0.05) */
    float mu;            /* hinge weight (0.5) */
    float lr_g, lr_d;    /* Adam learning rates (paper 2e-4, ours 5e-4; 2e-4) */
    int idex, idey;      /* use Ide_x / Ide_y (1, 1); idey 0 = the paper's ablation */
    int universal;       /* adv_i: universal (1) or per-image PGD each step (0) */
    int blackbox;        /* query-only zoo models (0) */
    /* PGD for the adv_i labels (and NES settings when blackbox) */
    float pgd_step;      /* 0.01 */
    int pgd_iters;       /* 10 */
    float pgd_momentum;  /* 0 */
    int nes_samples;     /* 20 */
    float nes_sigma;     /* 0.01 */
    int nes_down;        /* 4 */
    /* universal perturbations (prot_universal_update): sign steps per batch, step size, momentum across batches */
    int adv_iters;       /* 3 */
    float adv_step;      /* 0.005 */
    float adv_momentum;  /* 0.9 */
    /* Gen and discriminators */
    int gen_width;       /* 16 */
    int gen_chroma;      /* Gen's colour mode GEN_CHROMA_* (gen.h): 0 full, 1 none (grey), 2 half resolution (0) */
    int gen_smooth;      /* Gen's binomial blur passes on the delta (gen.h), 0..GEN_MAX_SMOOTH (0) */
    float out_scale;     /* Gen's tanh scale (paper: 0.1, hinge-bounded; ours: eps) */
    int d_width, d_layers; /* PatchGAN (16, 3) */
    /* ours */
    float w_direct;      /* 100 */
    float direct_cap;    /* 0.2 */
    int direct_log;      /* 1: maximise log(min(L_b, cap) + 1e-3) instead (balances models and images) (0) */
    float mask_soft;     /* 0.1 */
    float w_feat;        /* 0 */
    float w_energy;      /* 1 */
    float psnr_target;   /* 37.5 dB */
    float p_diversity, p_resize, p_blur, p_jpeg; /* probabilities of each transform (0.3 0.25 0.2 0.4) */
    long aug_start, aug_ramp; /* curriculum: no transforms before step aug_start, then the probabilities ramp
                               * up linearly over aug_ramp steps (400, 800): a Gen that first learns to
                               * disrupt at all, then to disrupt robustly, ends up stronger than one that
                               * starts against blur and JPEG (it settles on smooth colour blobs) */
    /* EOT through the attacker's crop (attack.h): after the transforms above, every image gets its own crop
     * of its face square, moved by U(-warp_shift, warp_shift) of its side per axis, resized by
     * 1 + U(-warp_scale, warp_scale), turned by U(-warp_rot, warp_rot) degrees and resampled to S with
     * warp_kernel (a resample.h kernel, -1: drawn per image from all), with probability p_warp per image
     * (ramped like the transforms), fresh every step; the clean references take the same crop.  Edges clamp.
     * Validation then measures through the same distribution (seeded).  p_warp 0: off (the default) */
    float p_warp, warp_shift, warp_scale, warp_rot;
    int warp_kernel;
    /* The photo path (with p_warp > 0): a protected photo carries Gen's delta made at the models' scale and
     * upsampled to the photo's resolution, and the attacker crops and shrinks from there.  With probability
     * p_photo per step the models' inputs are first upsampled by u ~ U(1, photo_up) with photo_kernel (a
     * resample.h kernel: 0 bilinear, the default; 4 = GF_UP_KERNEL, the Catmull-Rom bicubic that
     * gen_faces.h delivers Gen's delta with) and the crops taken from that frame, so Gen learns patterns
     * that survive the up- and downsampling.  (0, 2, 0) */
    float p_photo, photo_up;
    int photo_kernel;
    float w_graph;       /* imported targets (prot_create_targets): their direct term's weight relative to the zoo
                          * models' (1) */
    int graph_side;      /* ... the side they see (0: each model's own, graph_info.size; a smaller one is cheaper, but
                          * the attacker feeds them at their own side) */
    int graph_window;    /* ... in training, each image's random window of this side of their view (0: the whole
                          * view): the model at its own scale for a quarter of the cost at half the side (fully
                          * convolutional models; the window's borders see padding instead of the face around
                          * it).  Validation measures the whole view. */
    float eps_start;     /* eps schedule: eps_t goes linearly from eps_start to eps ... (= eps: off) */
    long eps_ramp;       /* ... over this many steps */
} prot_opts;

prot_opts prot_default_opts(int recipe);
/* Checkpoint meta: every option as "opt.<name>" (write) and back (read: options absent keep their value). */
df_status prot_opts_write(dfw_writer *w, const prot_opts *o);
df_status prot_opts_read(const dfw_file *f, prot_opts *o);
/* Set one option by name ("w_direct", "p_jpeg", ...; the names of the struct fields) from a string. */
df_status prot_opts_set(prot_opts *o, const char *name, const char *value);

typedef struct {
    float d_idex, d_idey;   /* discriminator losses (BCE real + fake; Ide_y summed over models) */
    float g_idex, g_idey;   /* Gen's adversarial losses */
    float hinge;            /* unweighted Eq. 4 */
    float direct;           /* mean masked disruption L_b (uncapped) over models and images (ours) */
    float feat;             /* mean feature distance (ours, w_feat > 0) */
    float energy;           /* unweighted energy hinge (ours) */
    float linf;             /* max |delta| over the batch */
    float total;            /* Gen's total loss (with the capped direct term it minimises) */
} prot_losses;

typedef struct prot_trainer prot_trainer;

/* models (borrowed, n in 1..PROT_MAX_MODELS, one input size S) and batch size B. Creates Gen, Ide_x, Ide_y from
 * seed; universal perturbations start at zero. */
df_status prot_create(prot_trainer **t, const prot_opts *o, zoo_model *const *models, int n, int B, uint64_t seed);
/* The same with imported image-to-image models (graph.h, borrowed; ng >= 0, n + ng <= PROT_MAX_MODELS, one side
 * Sg for all of them) as further targets: recipe ours with p_warp > 0, white box.  Every step they see the
 * attacker's crops of the same frame as the zoo models, resampled onto Sg instead of S (the attacker resizes its
 * crop to each model's own input), against the clean reference through the same crop; Gen minimises
 * -w_direct * w_graph * (ours' capped direct term) for each of them (no Ide_y, no universal perturbation, no
 * features).  Validation reports them after the zoo models (success [n + j]).  Memory: every activation of a
 * graph at B x Sg x Sg stays for its backward (a CartoonGAN at 256: about 0.4 GB per image). */
df_status prot_create_targets(prot_trainer **t, const prot_opts *o, zoo_model *const *models, int n,
                              graph_model *const *graphs, int ng, int B, uint64_t seed);
void prot_free(prot_trainer *t);
const prot_opts *prot_get_opts(const prot_trainer *t);
gen_model *prot_gen(prot_trainer *t);
patchgan *prot_idex(prot_trainer *t);
patchgan *prot_idey(prot_trainer *t);
long prot_get_step(const prot_trainer *t);
float *prot_adv(prot_trainer *t, int i); /* model i's universal perturbation [3,S,S] */

/* Full checkpoint (Gen + Ide_x + Ide_y + Adam moments + adv_i + options + seed + step) to a dfw writer /
 * buffer; gen_load accepts the result (it is a Gen weight file with extra tensors). */
df_status prot_write(const prot_trainer *t, dfw_writer *w);
/* Gen weight file (no optimiser state, no discriminators) with the run's options, seed and step as meta. */
df_status prot_write_weights(const prot_trainer *t, dfw_writer *w);
df_status prot_save(const prot_trainer *t, uint8_t **out, size_t *outlen);
/* Restore weights, moments, adv_i and step from a checkpoint made with the same options and models. */
df_status prot_resume(prot_trainer *t, const uint8_t *buf, size_t len);
/* Start a new run from trained weights: Gen from a Gen weight file or a checkpoint; from a checkpoint with the
 * same models also Ide_x, Ide_y and the universal perturbations.  Adam state and step start afresh (fine-tuning
 * with other options). */
df_status prot_init_from(prot_trainer *t, const uint8_t *buf, size_t len);
/* Seed stored in a checkpoint (meta "seed"). */
df_status prot_checkpoint_seed(const dfw_file *f, uint64_t *seed);

/* One training step (increments the step count). */
df_status prot_step(prot_trainer *t, const float *x, const float *src, prot_losses *out);
/* Gen's total loss (out->total) with the randomness of step `step` against the current discriminators, and its
 * gradient in Gen's parameter gradients (overwritten); nothing is updated.  White box only.  For tests. */
df_status prot_gen_objective(prot_trainer *t, const float *x, const float *src, long step, prot_losses *out);

/* Universal perturbation of model i: o.adv_iters sign steps on batch (x, src) (bounded by eps); targets
 * drawn from (seed, batch_index).  *loss (may be NULL): the disruption loss before the last step.
 * Call it over training batches before the first step (recipe paper and ours with idey and universal). */
df_status prot_universal_update(prot_trainer *t, int i, const float *x, const float *src, long batch_index,
                                float *loss);

/* Random targets for B images: trg [B,5] = a random single-attribute edit of src; z [B, zdim] ~ N(0,1)
 * (z may be NULL). */
void prot_random_targets(float *trg, float *z, const float *src, int B, int zdim, df_rng *rng);

/* Validation on a fixed batch (x [B,3,S,S], src [B,5]; targets drawn from val_seed): Gen at inference
 * (delta clipped to eps), every model's edit of x and of x_adv, the disruption metrics.
 * success [n + ng] (fraction of images with L2_mask > 0.05 per model, imported ones last), psnr (mean),
 * l2_mask [n + ng] (mean); success_mean over all n + ng.
 * Optional outputs: x_adv [B,3,S,S]; y_clean, y_adv [n][B,3,S,S] (arrays of n pointers). */
typedef struct {
    float success[PROT_MAX_MODELS], l2_mask[PROT_MAX_MODELS];
    float success_mean, psnr, ssim;
} prot_val;
df_status prot_validate(prot_trainer *t, const float *x, const float *src, int B, uint64_t val_seed, prot_val *out,
                        float *x_adv, float *const *y_clean, float *const *y_adv);

#ifdef __cplusplus
}
#endif
#endif
