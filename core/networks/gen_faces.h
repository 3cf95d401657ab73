/* Scale-matched protection: Gen on each face at the scale deepfake models see it.
 *
 * A deepfake pipeline crops the face square and shrinks it to the model's input (128-256 pixels).  A delta made
 * on the whole photo at its own resolution lands at the wrong scale and is lost in that shrink; so for each face
 * square (centre cx, cy and side in photo pixels, e.g. the CelebA convention around a detected face):
 *   the square is resampled to S x S (area average), Gen makes its delta there, clipped to eps; the delta is
 *   resampled back onto the square's pixels in the photo (antialiased triangle: bilinear when enlarging);
 *   overlapping squares blend: each square's delta is weighted by w = min(1, distance to its border /
 *   (feather * side)) and the sum divided by max(sum of w, 1), so there are no seams and |delta| <= eps;
 *   the result is clipped to eps at full resolution and rounded; pixels outside every square are unchanged.
 * Squares may reach outside the photo (edges are clamped in the crop; only pixels inside are written).
 * Memory: O(S^2) per face plus 4 floats per pixel of the squares' union bounding box (the face area, not the
 * photo).  Measured (dadfi eval --attack, --gen-margin): Gen on the face square alone beats Gen on the whole
 * photo in success and in PSNR.
 */
#ifndef DF_GEN_FACES_H
#define DF_GEN_FACES_H

#include "gen.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GF_MAX_FACES 64
#define GF_FEATHER 0.05f /* default: the outer 5 % of a square's side fade out */

typedef struct {
    double cx, cy, side; /* in photo pixels (pixel k covers [k, k + 1)) */
} gf_square;

/* out = in with every square protected (8-bit RGB or RGBA interleaved, stride_px 3 or 4, alpha copied).
 * S: Gen's working size (a multiple of 8, 32..1024; the zoo's 128); feather in [0, 0.5] (0: hard edges).
 * n = 0 copies the photo unchanged.  progress (optional) gets values in [0, 1]. */
df_status gf_protect_rgb8(gen_model *g, uint8_t *out, const uint8_t *in, int W, int H, int stride_px, float eps,
                          const gf_square *sq, int n, int S, float feather, void (*progress)(void *ctx, float done),
                          void *progress_ctx);

#ifdef __cplusplus
}
#endif
#endif
