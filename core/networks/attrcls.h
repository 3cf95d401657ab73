/* Attribute classifier: recognises the five zoo attributes (Black_Hair, Blond_Hair, Brown_Hair, Male, Young) in
 * a face.  It is trained on real faces only and separately from the zoo models, so it can judge whether an edit
 * made by a zoo model shows the requested attribute (the zoo's own discriminators were trained together with
 * their generators and are easy to please).
 *
 *   PatchGAN trunk (core/networks/patchgan.h; cin 3, width w, nlayers n, cout 5, tensor prefix "cls"):
 *       n x { conv4x4/s2 + bias, LeakyReLU(0.2) }, conv3x3 (-> 5) + bias   -> [B, 5, S/2^n, S/2^n] patch logits
 *   global average pooling over the patches                               -> logits [B, 5]
 * logit > 0 means "attribute present".  Defaults for 128 x 128 faces: w = 16, n = 5 (4 x 4 patches).
 * Training: binary cross-entropy with logits against the 0/1 labels, Adam (betas 0.9 / 0.999, eps 1e-8).
 *
 * Weight files (.dfw): meta "arch" = "attr-classifier", "size", "width", "nlayers",
 * "attrs" = "Black_Hair,Blond_Hair,Brown_Hair,Male,Young"; tensors "cls.c1.w", "cls.c1.b", ...; checkpoints add the
 * Adam moments ("opt.m/...", "opt.v/...") and meta "step".
 */
#ifndef DF_ATTRCLS_H
#define DF_ATTRCLS_H

#include "df.h"
#include "dfw.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATTRCLS_NATTR 5
#define ATTRCLS_ARCH "attr-classifier"

typedef struct {
    int size;    /* input side S: 16..1024, a multiple of 2^nlayers (128 for CelebA) */
    int width;   /* channels of the first layer (1..256) */
    int nlayers; /* stride-2 layers (1..PATCHGAN_MAX_LAYERS) */
} attrcls_config;

/* size 128, width 16, nlayers 5. */
attrcls_config attrcls_default_config(void);

typedef struct attrcls attrcls; /* opaque: the PatchGAN trunk, the step count, scratch buffers */

/* training != 0 allocates gradients and Adam moments.  Weights He-normal (seeded), biases 0. */
df_status attrcls_create(attrcls **c, const attrcls_config *cfg, uint64_t seed, int training);
/* Load a weight file or checkpoint (untrusted: every meta value and tensor shape is checked).  With training != 0
 * the Adam state and step are restored when the file has them. */
df_status attrcls_load(attrcls **c, const uint8_t *buf, size_t len, int training);
/* Add meta and tensors to w (with the Adam state and meta "step" if checkpoint != 0 and the model has them); the
 * caller can add meta of its own, then dfw_writer_finish.  Tensors are borrowed from c until then. */
df_status attrcls_write(const attrcls *c, dfw_writer *w, int checkpoint);
/* Convenience: attrcls_write + finish into a malloc'd buffer. */
df_status attrcls_save(const attrcls *c, int checkpoint, uint8_t **out, size_t *outlen);
void attrcls_free(attrcls *c);
const attrcls_config *attrcls_get_config(const attrcls *c);
df_params *attrcls_params(attrcls *c);
long attrcls_get_step(const attrcls *c);

/* logits [B, 5] of faces x [B, 3, S, S] in [-1, 1].  x is borrowed until the matching backward. */
df_status attrcls_forward(attrcls *c, float *logits, const float *x, int B);
/* From dlogits [B, 5] of the last forward: parameter gradients += (the model must be created for training);
 * dx += dL/dx if dx != NULL. */
df_status attrcls_backward(attrcls *c, float *dx, const float *dlogits);
/* One Adam step (learning rate lr) on mean BCE(logits(x), attr), x [B,3,S,S], attr [B,5] in {0,1}.  *loss (if
 * non-NULL) gets the batch's BCE before the update, logits (if non-NULL, [B,5]) the logits it was computed from. */
df_status attrcls_train_step(attrcls *c, const float *x, const float *attr, int B, float lr, float *loss,
                             float *logits);

#ifdef __cplusplus
}
#endif
#endif
