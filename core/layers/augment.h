/* Differentiable image transforms applied to protected faces during training (design.md "Robustness" and
 * "Transfer"): what an upload pipeline or an attacker does to a photo before the deepfake model sees it.
 * All map x [B,3,S,S] in [-1,1] to y [B,3,S,S]; backward ACCUMULATES dx from dy (recomputing what it needs
 * from x); ops never allocate: scratch comes from ws sized by aug_workspace.
 *
 *   AUG_DIVERSITY  input diversity (Xie et al. 2019): bilinear resize to r x r (r <= S), zero-pad (grey) to
 *                  S x S at offset (oy, ox)
 *   AUG_RESIZE     bilinear down to r x r, then back up to S x S (a site's downscale + the model's upscale)
 *   AUG_BLUR       separable Gaussian blur (sigma, radius = ceil(2 sigma)), edge-clamped
 *   AUG_JPEG       JPEG approximation: RGB -> YCbCr (JFIF), 4:2:0 chroma averaging, 8x8 DCT-II, quantisation
 *                  with the Annex K tables scaled to `quality` (libjpeg's rule), dequantisation, IDCT, the
 *                  decoders' "fancy" chroma upsampling (3/4 - 1/4 triangle filter, as libjpeg and stb_image do),
 *                  YCbCr -> RGB, clamp to [-1, 1].  Rounding: exact in the forward pass with a straight-through
 *                  gradient (AUG_ROUND_STE), or the cubic approximation
 *                  r + (v - r)^3 (Shin & Song 2017) in both passes (AUG_ROUND_CUBIC); AUG_ROUND_NONE skips
 *                  the rounding (a linear map: the STE gradient is its adjoint).  S multiple of 16.
 */
#ifndef DF_AUGMENT_H
#define DF_AUGMENT_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AUG_NONE = 0, AUG_DIVERSITY, AUG_RESIZE, AUG_BLUR, AUG_JPEG } aug_kind;
enum { AUG_ROUND_STE = 0, AUG_ROUND_CUBIC = 1, AUG_ROUND_NONE = 2 /* no quantisation: chroma 4:2:0 only */ };

typedef struct {
    aug_kind kind;
    int r, oy, ox;    /* diversity: side and offset; resize: intermediate side */
    float sigma;      /* blur */
    int quality;      /* jpeg: 1..100 */
    int round_mode;   /* jpeg: AUG_ROUND_STE or AUG_ROUND_CUBIC */
} aug_op;

/* Draw a random op of a kind for side S: diversity r in [0.85 S, S]; resize r in [0.5 S, S]; blur sigma in
 * [0.4, 1.2]; jpeg quality in [70, 95] (STE rounding). */
aug_op aug_random(aug_kind kind, int S, df_rng *rng);
df_status aug_check(const aug_op *op, int S);
size_t aug_workspace(const aug_op *op, int B, int S); /* floats */
void aug_forward(const aug_op *op, float *y, const float *x, int B, int S, float *ws);
void aug_backward(const aug_op *op, float *dx, const float *dy, const float *x, int B, int S, float *ws);

#ifdef __cplusplus
}
#endif
#endif
