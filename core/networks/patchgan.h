/* PatchGAN discriminator (Isola et al. 2017): the DADFI recognisers Ide_x and Ide_y (paper Eq. 3, 7-9).
 *
 *   nlayers x { conv4x4/s2/p1 (cin -> d * 2^l, capped at 8d) + bias, LeakyReLU(0.2) }
 *   conv3x3/s1/p1 (-> cout) + bias  ->  logits [B, cout, H / 2^nlayers, W / 2^nlayers], one real/fake score per
 *   patch (cout = 1, the discriminators) or cout scores per patch (the attribute classifier, core/networks/attrcls.h).
 * No normalisation (batches are small and the inputs of one batch mix real and fake).
 * Parameters live in one df_params block; tensor names carry a prefix ("idex", "idey") so that several
 * discriminators and a Gen can share one checkpoint file.
 */
#ifndef DF_PATCHGAN_H
#define DF_PATCHGAN_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PATCHGAN_MAX_LAYERS 6

typedef struct {
    int cin;      /* input channels (3) */
    int width;    /* d: channels of the first layer */
    int nlayers;  /* stride-2 layers (1..PATCHGAN_MAX_LAYERS) */
    int cout;     /* output channels of the last conv (0 means 1; 0..256) */
} patchgan_config;

typedef struct patchgan patchgan; /* opaque: params + activation arena */

/* prefix: tensor-name prefix ("idex" -> "idex.c1.w", ...), <= 15 chars. training != 0 allocates gradients
 * and Adam moments. Weights: He-normal (seeded), biases 0. */
df_status patchgan_create(patchgan **d, const patchgan_config *cfg, const char *prefix, uint64_t seed, int training);
void patchgan_free(patchgan *d);
df_params *patchgan_params(patchgan *d);
const patchgan_config *patchgan_get_config(const patchgan *d);
/* Output size for an H x W input (both must be multiples of 2^nlayers). */
void patchgan_out_size(const patchgan_config *cfg, int H, int W, int *OH, int *OW);

/* logits [B,cout,OH,OW] = D(x [B,cin,H,W]).  x is borrowed until the matching backward. */
df_status patchgan_forward(patchgan *d, float *logits, const float *x, int B, int H, int W);
/* From dlogits [B,cout,OH,OW] of the last forward: dx += dL/dx (if non-NULL); parameter gradients += (if
 * param_grads != 0). */
df_status patchgan_backward(patchgan *d, float *dx, const float *dlogits, int param_grads);

#ifdef __cplusplus
}
#endif
#endif
