/* Gen (paper Eq. 1-2): the perturbation generator.
 *
 *   encoder : conv3x3/s2 (3->c) IN ReLU, conv3x3/s2 (c->2c) IN ReLU, conv3x3/s2 (2c->4c) IN ReLU
 *   4 residual blocks at 4c: conv3x3 IN ReLU conv3x3 IN, + skip
 *   decoder : 3 x { nearest-upsample x2, conv3x3 (4c->2c->c->c) IN ReLU }
 *   output  : conv3x3 (c->3), delta = out_scale * tanh(.)
 *             chroma modes, for JPEG robustness (JPEG keeps colour at half resolution, 4:2:0, from quality 90
 *             down in common encoders): with d_c = out_scale * tanh(.)_c and m = mean_c d_c (the grey part),
 *               GEN_CHROMA_FULL  delta_c = d_c
 *               GEN_CHROMA_NONE  delta_c = m                                  one grey pattern
 *               GEN_CHROMA_HALF  delta_c = m + mean over the 2x2 block of (d_c - m)  colour only at half resolution
 *             (each map is a symmetric linear projection: its backward pass applies the same map)
 *             smoothing (meta "smooth" = k, 0 when absent): after the chroma map, k passes of the separable
 *             binomial blur [1 2 1] / 4 per channel with zero padding (a symmetric matrix, so its own adjoint;
 *             weights sum to <= 1, so |delta| <= out_scale still).  It removes the pixel-grid patterns (the
 *             checker at the Nyquist frequency is zeroed by one pass) that an attacker's resampling destroys
 *             anyway and that show on flat skin.
 * x_adv = clip(x + clip(delta, -eps, eps), -1, 1).  Fully convolutional: inputs are reflect-padded to a
 * multiple of 8 and the delta cropped back.  FLOPs per 256x256 image: see gen_flops (c = 16: 1.4 GFLOP).
 */
#ifndef DF_GEN_H
#define DF_GEN_H

#include "df.h"
#include "dfw.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GEN_ARCH "dadfi-gen"
#define GEN_NRES 4
#define GEN_MAX_SMOOTH 8

typedef struct {
    int width;        /* c */
    float out_scale;  /* delta = out_scale * tanh(conv_out) */
    int chroma;       /* GEN_CHROMA_* (meta "chroma"; files without it are GEN_CHROMA_FULL) */
    int smooth;       /* binomial blur passes on the delta, 0..GEN_MAX_SMOOTH (meta "smooth"; absent: 0) */
} gen_config;

enum { GEN_CHROMA_FULL = 0, GEN_CHROMA_NONE = 1, GEN_CHROMA_HALF = 2 };

typedef struct gen_model gen_model; /* opaque: params + activation arena */

/* New model with random (seeded) weights. training != 0 allocates gradients and Adam state. */
df_status gen_create(gen_model **g, const gen_config *cfg, uint64_t seed, int training);
/* Load from a .dfw buffer (meta "arch" must be GEN_ARCH). */
df_status gen_load(gen_model **g, const uint8_t *buf, size_t len, int training);
/* Gen's architecture meta (arch, width, out_scale, res_blocks, chroma), what gen_load reads, into a writer. */
df_status gen_write_meta(const gen_model *g, dfw_writer *w);
/* Serialise (weights; plus Adam state and "step" if checkpoint != 0). */
df_status gen_save(const gen_model *g, int checkpoint, long step, uint8_t **out, size_t *outlen);
void gen_free(gen_model *g);
const gen_config *gen_get_config(const gen_model *g);
df_params *gen_params(gen_model *g);
/* Multiply-adds x 2 for one image of H x W. */
double gen_flops(const gen_config *cfg, int H, int W);

/* delta [B,3,H,W] = Gen(x [B,3,H,W]) (unclipped).  Keeps activations for gen_backward. */
df_status gen_forward(gen_model *g, float *delta, const float *x, int B, int H, int W);
/* Free the activation memory that the last gen_forward's size planned (the next gen_forward plans it again). */
void gen_release(gen_model *g);
/* Accumulate parameter gradients (and dx if non-NULL) from ddelta, for the last gen_forward. */
df_status gen_backward(gen_model *g, float *dx, const float *ddelta);

/* Inference: x_adv = clip(x + clip(Gen(x), -eps, eps), -1, 1) for one image [3,H,W] of any size
 * (edge-padded to a multiple of 8 internally). */
df_status gen_protect(gen_model *g, float *x_adv, const float *x, int H, int W, float eps);

/* Protect an 8-bit photo (RGB or RGBA interleaved, stride_px = 3 or 4; alpha copied unchanged).
 * Large photos: when max(W, H) > work_side (> 0), Gen runs on an area-downscaled copy whose longest side is
 * work_side, and its delta is upsampled to full resolution with Catmull-Rom (GF_UP_KERNEL's RS_BICUBIC_AA, as a
 * face's delta, streamed in bands of rows); work_side = 0 runs at full resolution.
 * The delta is clipped to [-eps, eps] at full resolution before rounding, so every output byte is within
 * eps * 127.5 + 0.5 of the input byte.  Memory: O(working resolution), not O(photo).
 * progress (optional) gets values in [0, 1]. */
df_status gen_protect_rgb8(gen_model *g, uint8_t *out, const uint8_t *in, int W, int H, int stride_px, float eps,
                           int work_side, void (*progress)(void *ctx, float done), void *progress_ctx);

#ifdef __cplusplus
}
#endif
#endif
