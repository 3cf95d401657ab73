/* Resampling: every resize and warp of dadfi in one module.
 *
 * Two implementations of the same filters:
 *   - real resizes (8-bit and float images) go through stb_image_resize2 (core/io/stb/, v2.18): what image
 *     libraries do when a site or an attacker shrinks a photo;
 *   - the differentiable warp (rs_warp_forward / rs_warp_backward) samples an image through an affine map with
 *     the same kernels, written out so that its backward pass is the exact adjoint (training and EOT-PGD).
 * For an axis-aligned crop with an antialiased kernel both give the same image up to float rounding (tested).
 *
 * Coordinates: pixel k covers [k, k+1) and its centre is k + 0.5 (half-pixel convention of PIL, OpenCV, stb,
 * TF and torch with align_corners = false).  An affine map A sends an output pixel centre (x, y) to the input
 * point (u, v) = (a0 x + a1 y + a2, a3 x + a4 y + a5).  Indices outside the image are clamped (edge pixels
 * repeat), like stb's STBIR_EDGE_CLAMP and OpenCV's BORDER_REPLICATE.
 *
 * Kernels (what common libraries do when they shrink a face to a model's input):
 *   bilinear     triangle, radius 1, never widened       OpenCV INTER_LINEAR, TF/torch bilinear, canvas (fast)
 *   bicubic      Keys cubic a = -0.75, never widened     OpenCV INTER_CUBIC
 *   area         pixel coverage of the output footprint  OpenCV INTER_AREA, libvips shrink, stb BOX
 *   triangle-aa  triangle widened by the downscale      PIL BILINEAR, torchvision antialias, stb TRIANGLE
 *   bicubic-aa   Keys a = -0.5 widened by the downscale  PIL BICUBIC, stb CATMULLROM, browsers' smooth scaling
 * "Widened": when the map shrinks by a factor f > 1 (f = sqrt|det A|), the kernel is stretched to f input
 * pixels (antialiasing); weights are normalised to sum 1 per axis.
 */
#ifndef DF_RESAMPLE_H
#define DF_RESAMPLE_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RS_BILINEAR = 0,
    RS_BICUBIC = 1,
    RS_AREA = 2,
    RS_TRIANGLE_AA = 3,
    RS_BICUBIC_AA = 4,
    RS_NKERNELS = 5
} rs_kernel;

const char *rs_kernel_name(rs_kernel k);   /* "bilinear", "bicubic", "area", "triangle-aa", "bicubic-aa" */
int rs_kernel_parse(const char *name);     /* the kernel, or -1 */
int rs_kernel_antialiased(rs_kernel k);    /* widened when shrinking */

#define RS_MAX_SHRINK 24.0 /* largest downscale factor a warp accepts (taps per axis stay small) */

typedef struct {
    double a[6];
} rs_affine;

/* The map that samples a square of side `side` input pixels centred at (cx, cy), rotated by theta radians
 * (its x axis points along (cos theta, sin theta) in image coordinates, y down), onto an S x S output. */
rs_affine rs_square_map(double cx, double cy, double side, double theta, int S);
/* Axis-aligned: output OW x OH samples the input rectangle [x0, x0 + w) x [y0, y0 + h). */
rs_affine rs_rect_map(double x0, double y0, double w, double h, int OW, int OH);

/* ------------------------------------------------------------------ differentiable warp
 * out [B, C, OH, OW] = sample of in [B, C, H, W] through maps[b] with kernels[b] (one per image).
 * Fails (DF_ERR_ARG) for non-finite maps, a shrink factor above RS_MAX_SHRINK, bad kernels or sizes. */
df_status rs_warp_check(const rs_affine *maps, const int *kernels, int B, int C, int H, int W, int OH, int OW);
void rs_warp_forward(float *out, const float *in, const rs_affine *maps, const int *kernels, int B, int C, int H,
                     int W, int OH, int OW);
/* din += W^T dout (the exact adjoint of rs_warp_forward). */
void rs_warp_backward(float *din, const float *dout, const rs_affine *maps, const int *kernels, int B, int C, int H,
                      int W, int OH, int OW);

/* ------------------------------------------------------------------ real resizes (stb_image_resize2)
 * 8-bit interleaved (channels 1..4, alpha not premultiplied: treated as a colour channel), gamma-space values
 * like PIL and OpenCV.  out: OW x OH (stride OW * channels). */
df_status rs_resize_u8(uint8_t *out, int OW, int OH, const uint8_t *in, int W, int H, int stride_px, int channels,
                       rs_kernel k);
/* Planar float [C, H, W] -> [C, OH, OW]. */
df_status rs_resize_planar(float *out, int OH, int OW, const float *in, int C, int H, int W, rs_kernel k);
/* 8-bit interleaved (stride_px channels per pixel, the first 3 used) sampled through an axis-aligned rectangle
 * [x0, x0 + w) x [y0, y0 + h) (may reach outside the image: edges clamp) into planar float out [3, OH, OW] in
 * [-1, 1].  Antialiased kernels go through stb; bilinear and bicubic (which no library widens) through the
 * warp, as OpenCV computes them.  The real attacker's crop and resize. */
df_status rs_crop_u8_planar(float *out, int OH, int OW, const uint8_t *in, int W, int H, int stride_px, double x0,
                            double y0, double w, double h, rs_kernel k);

/* Enlargement (W >= w, H >= h; half-pixel centres, edges clamped) of planar src [C, h, w] (C <= 4) to W x H,
 * streamed: row(ctx, y, r) gets output row y as C planes of W floats (r[c * W + x]), in order.  k: RS_BILINEAR or
 * RS_TRIANGLE_AA (the same when enlarging; written out here), or RS_BICUBIC_AA (Catmull-Rom, stb in bands of 32
 * rows).  Memory O(C * W) (x 32 for bicubic): a 12-megapixel delta never exists at full resolution. */
df_status rs_upsample_rows(const float *src, int C, int h, int w, int W, int H, rs_kernel k,
                           void (*row)(void *ctx, int y, const float *r), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
