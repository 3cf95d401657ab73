/* The zoo: face-attribute editing ("deepfake") models that the protector is trained and measured against.
 * Every family maps a face x [B,3,S,S] in [-1,1] (S = 128 for CelebA, StarGAN's setting) and the five
 * CelebA attributes (Black_Hair, Blond_Hair, Brown_Hair, Male, Young; 0/1) to an edited face in [-1,1] (tanh).
 * Widths below: c = config.width, d = config.dwidth, R = config.nres.
 *
 *   zoo-stargan (StarGAN, Choi et al. 2018): target attributes as 5 constant planes concatenated to x;
 *       conv7x7 (3+5 -> c) IN ReLU, conv4x4/s2 (c -> 2c), conv4x4/s2 (2c -> 4c) IN ReLU,
 *       R residual blocks { conv3x3 IN ReLU conv3x3 IN, + skip } at 4c,
 *       convT4x4/s2 (4c -> 2c), convT4x4/s2 (2c -> c) IN ReLU, conv7x7 (c -> 3) tanh.
 *   Any family, with config.skip = 1: the output is clamp(x + tanh(...), -1, 1), a global residual (as many
 *       StarGAN derivatives): the network predicts the edit, the input carries the face.  With skip = 2
 *       (GANimation, Pumarola et al. 2018, a StarGAN derivative): the output layer has a 4th channel, an attention
 *       mask A = sigmoid(.), and y = A * tanh(colour) + (1 - A) * x: the network chooses where to repaint.
 *   zoo-attgan (AttGAN/STGAN, He et al. 2019, Liu et al. 2019): encoder-decoder with skip connections and the
 *       STGAN difference attribute vector (target - source, in {-1,0,1}) injected at the bottleneck and
 *       again after the first decoder layer (AttGAN's inject layers);
 *       enc: 4 x conv4x4/s2 (3 -> c -> 2c -> 4c -> 8c) IN LeakyReLU(0.2), S/16 at the bottleneck;
 *       dec: convT (8c+5 -> 8c) | concat enc3, diff | convT (12c+5 -> 4c) | concat enc2 | convT (6c -> 2c)
 *            IN ReLU, convT (2c -> 3) tanh.
 *   zoo-style (StarGAN-v2-like style-code model, Choi et al. 2020): a mapping MLP turns (attributes, noise z)
 *       into a style code s (dimension sdim), which modulates EVERY decoder layer through AdaIN:
 *       y = (1 + gamma(s)) * IN(x) + beta(s).
 *       enc: conv3x3 (3 -> c), conv4x4/s2 (c -> 2c), conv4x4/s2 (2c -> 4c) IN LeakyReLU(0.2);
 *       R residual blocks with AdaIN at 4c; convT (4c -> 2c), convT (2c -> c) AdaIN ReLU; conv3x3 (c -> 3) tanh.
 *       mapping: [5 + zdim] -> 64 ReLU -> 64 ReLU -> sdim; one linear (sdim -> all AdaIN gammas and betas).
 *     Why this third family: StarGAN-v2 is one of the three models the paper attacks, and the style code is how
 *     current face editors condition (StarGAN-v2, HiSD, StyleGAN editing): the condition enters at every
 *     decoder layer as a per-channel scale, not as input planes (StarGAN) or at the bottleneck (AttGAN), so a
 *     protector must break three different conditioning paths. The CelebA labels are multi-label attributes,
 *     so the mapping network takes the attribute vector (and noise for diversity) instead of a domain index. A
 *     face-swap autoencoder was the alternative; with 5 photos per identity it would learn 2 identities at
 *     best, and its decoder is identity-specific, so it makes a poorer target for a general protector.
 *
 *   Discriminator (all families; PatchGAN, StarGAN's): 5 x conv4x4/s2 LeakyReLU(0.01) (3 -> d -> ... -> 16d),
 *       src head conv3x3 (16d -> 1) -> [B,1,S/32,S/32] (real/fake per patch), cls head conv3x3 (16d -> 5) + global
 *       average pool -> [B,5] attribute logits (also used to estimate the source attributes of any photo).
 *
 * Training (zoo_train_step): LSGAN adversarial loss + lambda_cls * BCE(attribute logits) + lambda_rec * L1
 * reconstruction: the cycle x -> G(x, trg) -> G(., src) ~ x for zoo-stargan and zoo-style, the identity edit
 * G(x, diff = 0) ~ x for zoo-attgan; optionally (lambda_id) also the identity edit G(x; src -> src) ~ x for
 * zoo-stargan and zoo-style, as many StarGAN derivatives add: a face editor asked for no change leaves the face
 * alone, which the cycle alone does not teach.  Targets: each image gets one random single-attribute edit (a hair colour set
 * one-hot, or Male/Young flipped), decided by the step's random generator, so a run is reproducible from
 * (seed, step) alone.
 *
 * Weight files (.dfw): meta "arch" = zoo-stargan | zoo-attgan | zoo-style, "size", "width", "nres", "dwidth",
 * "sdim", "zdim", "skip" (absent: 0), "attrs"; tensors "g.*" (generator) and "d.*" (discriminator); checkpoints add the Adam state
 * and meta "step".
 */
#ifndef DF_ZOO_H
#define DF_ZOO_H

#include "df.h"
#include "dfw.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZOO_NATTR 5
#define ZOO_SKIP_ATTENTION 2
#define ZOO_SIZE 128
enum { ZOO_BLACK = 0, ZOO_BLOND = 1, ZOO_BROWN = 2, ZOO_MALE = 3, ZOO_YOUNG = 4 };
extern const char *const zoo_attr_names[ZOO_NATTR]; /* "Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young" */

typedef enum { ZOO_STARGAN = 0, ZOO_ATTGAN = 1, ZOO_STYLE = 2 } zoo_family;
#define ZOO_NFAMILIES 3

typedef struct {
    zoo_family family;
    int size;    /* input side S: a multiple of 32 in 32..512 (128 for CelebA) */
    int width;   /* generator base channels c */
    int nres;    /* residual blocks (stargan, style); ignored by attgan */
    int dwidth;  /* discriminator base channels d */
    int sdim;    /* style code size (style only) */
    int zdim;    /* noise size (style only) */
    int skip;    /* output mode: 0 plain (tanh), 1 global residual y = clamp(x + G(x), -1, 1) (the network
                  * learns the edit, not the face), 2 attention (ZOO_SKIP_ATTENTION) */
    int cls_pool; /* 0 or 1: the discriminator's attribute head sees the image itself; k (2..32, dividing size):
                   * it sees the image averaged over k x k blocks (a low-pass view), in training and in
                   * zoo_classify, so that a generator cannot satisfy it with fine textures instead of colour */
} zoo_config;

/* Defaults chosen for a ~40 minute run on two cores (see cmd_zoo_train.c's help for the measured speeds); output
 * mode 0 (plain, as the original papers).  Measured on CelebA, 1 core: a plain StarGAN-style model edits
 * convincingly but blurs (reconstruction MAE 0.12 after 2000 steps x 16); a global residual (skip 1) trained from
 * scratch reconstructs at MAE 0.04 but its edits stay faint (the independent classifier recognised 18 % after
 * 1449 steps); the shipped models are plain models continued as attention models (skip 2, zoo_convert). */
zoo_config zoo_default_config(zoo_family f);
const char *zoo_family_arch(zoo_family f); /* "zoo-stargan", ... */
/* Accepts "stargan" or "zoo-stargan" etc. */
df_status zoo_family_parse(const char *name, zoo_family *f);
/* Attribute index by CelebA name (-1 if unknown). */
int zoo_attr_index(const char *name);

typedef struct zoo_model zoo_model; /* opaque: G and D parameters, activation arenas */

df_status zoo_create(zoo_model **m, const zoo_config *cfg, uint64_t seed, int training);
/* Load a weight file or checkpoint.  With training != 0, the Adam state and the step count are restored when
 * the file has them (a plain weight file starts at step 0). */
df_status zoo_load(zoo_model **m, const uint8_t *buf, size_t len, int training);
/* Add the model's meta and tensors to w (with the Adam state and meta "step" if checkpoint != 0); the caller
 * can add meta of its own and then dfw_writer_finish.  Tensors are borrowed from m until then. */
df_status zoo_write(const zoo_model *m, dfw_writer *w, int checkpoint);
/* Convenience: zoo_write + finish into a malloc'd buffer. */
df_status zoo_save(const zoo_model *m, int checkpoint, uint8_t **out, size_t *outlen);
void zoo_free(zoo_model *m);
/* A copy of src (G and D weights; no Adam state, step 0) with output mode skip: the same mode, or a plain
 * generator (0) turned into an attention one (2) whose output starts as 0.88 * the plain output + 0.12 * x. */
df_status zoo_convert(zoo_model **out, const zoo_model *src, int skip, int training);
const zoo_config *zoo_get_config(const zoo_model *m);
df_params *zoo_gen_params(zoo_model *m);
df_params *zoo_dis_params(zoo_model *m);
/* Change the attribute head's view (zoo_config.cls_pool) of a loaded model, e.g. before fine-tuning with it. */
df_status zoo_set_cls_pool(zoo_model *m, int k);
/* Multiply-adds x 2 of one generator forward (one image). */
double zoo_gen_flops(const zoo_config *cfg);

/* ------------------------------------------------------------------ generator
 * y [B,3,S,S] = G(x, condition), the condition being built from src and trg [B,5] (0/1 attributes):
 * stargan uses trg, attgan trg - src, style the style code of (trg, z); z [B, zdim] or NULL (zeros).
 * slot (0..ZOO_SLOTS-1) picks the activation store, so two forwards can be kept for one backward pass.
 * zoo_gen_backward accumulates into the generator's parameter gradients (if param_grads != 0 and the model
 * was created for training) and into dx if non-NULL, from dy and optionally dfeat (a gradient on the
 * bottleneck features returned by zoo_gen_features, or NULL). */
#define ZOO_SLOTS 2
df_status zoo_gen_forward(zoo_model *m, int slot, float *y, const float *x, const float *src, const float *trg,
                          const float *z, int B);
df_status zoo_gen_backward(zoo_model *m, int slot, float *dx, const float *dy, const float *dfeat, int param_grads);
/* The bottleneck activation of the last forward in slot: [B, C, H, W] (NULL before any forward). */
const float *zoo_gen_features(const zoo_model *m, int slot, int *C, int *H, int *W);

/* ------------------------------------------------------------------ discriminator
 * src_out [B, 1, S/32, S/32] patch scores, cls_out [B, 5] attribute logits (either may be NULL in forward).
 * Backward: dsrc / dcls may be NULL (no gradient from that head); accumulates into dx if non-NULL and into
 * the discriminator's parameter gradients if param_grads != 0. */
df_status zoo_dis_forward(zoo_model *m, float *src_out, float *cls_out, const float *x, int B);
df_status zoo_dis_backward(zoo_model *m, float *dx, const float *dsrc, const float *dcls, int param_grads);
/* Attribute logits of faces x [B,3,S,S] (the discriminator's classification head, through the cls_pool view). */
df_status zoo_classify(zoo_model *m, float *logits, const float *x, int B);

/* ------------------------------------------------------------------ editing helpers */
/* trg = src edited on attribute k: a hair colour (0..2) is set one-hot, Male / Young are flipped. */
void zoo_edit_attrs(float *trg, const float *src, int k);
/* One edit (no gradients): y [B,3,S,S] = G(x; src -> trg). */
df_status zoo_edit(zoo_model *m, float *y, const float *x, const float *src, const float *trg, int B);
/* Sample grid: row b = [x_b | x_b edited on attribute 0 | ... | attribute 4], 8-bit interleaved RGB of
 * (1 + ZOO_NATTR) * S x B * S pixels into rgb (caller-allocated). */
df_status zoo_edit_grid(zoo_model *m, uint8_t *rgb, const float *x, const float *src, int B);

/* ------------------------------------------------------------------ training */
typedef struct {
    float lr, beta1, beta2;   /* Adam for G and D */
    float lambda_cls, lambda_rec;
    float lambda_id;          /* stargan, style: weight of the identity edit L1(G(x; src -> src), x) (0: off) */
    float ema;                /* 0 (off) or the decay d of an exponential moving average of the generator's
                               * weights (StarGAN v2 evaluates its G this way): after each update
                               * ema = d * ema + (1 - d) * w, starting from the first updated weights */
} zoo_train_opts;
zoo_train_opts zoo_default_train_opts(void); /* lr 2e-4, betas 0.5/0.999, lambda_cls 1, lambda_rec 10, lambda_id 0 */

typedef struct {
    float d_adv, d_cls;  /* discriminator: LSGAN (real + fake), BCE on real attributes */
    float g_adv, g_cls;  /* generator: LSGAN on fakes, BCE of the fakes' requested attributes */
    float g_rec;         /* L1 reconstruction */
    float g_id;          /* L1 identity edit (stargan, style with lambda_id > 0) */
} zoo_losses;

/* One D update and one G update on a batch x [B,3,S,S] with attributes src [B,5].  The random choices
 * (targets, noise) come from rng_seed only; the step count (Adam's t) lives in the model, is incremented here
 * and is saved in checkpoints. */
df_status zoo_train_step(zoo_model *m, const zoo_train_opts *o, const float *x, const float *src, int B,
                         uint64_t rng_seed, zoo_losses *out);
long zoo_get_step(const zoo_model *m);
/* The generator's moving average (zoo_train_opts.ema): present once a step ran with ema > 0 or a checkpoint with
 * one was loaded for training; saved in checkpoints (tensors "ema/<name>").  A checkpoint with one loaded for
 * inference (zoo_load, training 0) uses the average as its generator, as the written weights do.  zoo_swap_ema exchanges it with
 * the generator's weights (call it again to swap back), e.g. to validate or to write the averaged weights. */
int zoo_has_ema(const zoo_model *m);
df_status zoo_swap_ema(zoo_model *m);
void zoo_clear_ema(zoo_model *m); /* drop it (a new run restarts the average from its first update) */
void zoo_set_step(zoo_model *m, long step);

#ifdef __cplusplus
}
#endif
#endif
