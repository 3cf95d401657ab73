/* The attacker's pipeline (design.md "Where the photo goes"): what happens to a protected photo between the
 * protector and a deepfake model, as one named, seeded distribution with a real and a differentiable version.
 *
 *   site      [downsize: the photo's long side shrunk to `downsize` pixels when longer (antialiased triangle,
 *             what PIL / libvips thumbnails do)] -> [JPEG at quality q, 4:2:0 chroma, drawn in [jpeg_lo, jpeg_hi]]
 *   attacker  its own face square: the reference square (centre c, side s; CelebA: the centred 178 x 178 of the
 *             aligned photo) moved by (dx, dy) * s, resized by (1 + ds), turned by theta, with
 *             dx, dy ~ U(-shift, shift), ds ~ U(-scale, scale), theta ~ U(-rot, rot) degrees, then resampled to the
 *             model's S x S with a kernel (resample.h; one drawn per sample when kernel = ATK_ANY_KERNEL)
 *
 * Real version (atk_real_rgb8, native: needs the JPEG codec of image.h): stb's JPEG encoder and decoder and
 * stb_image_resize2 (rotated crops: the warp of resample.h, as cv2.warpAffine would, rounded to 8 bits).
 * Differentiable version: atk_map gives the same crop as an affine map for rs_warp_forward / rs_warp_backward,
 * and the JPEG is augment.h's approximation (AUG_JPEG); tests check that both versions agree.
 *
 * Specs (atk_parse): comma-separated key=value or a preset name, e.g. "jitter", "shift=0.04,scale=0.08,
 * kernel=bicubic-aa,jpeg=90", "full".  Keys: shift, scale (fractions), rot (degrees), kernel (a resample.h
 * name or "any"), jpeg (Q or LO-HI, 0 = none), downsize (pixels, 0 = none).  Presets:
 *   lab        the protector's own crop: no jitter, triangle-aa (what the CelebA loader does)
 *   jitter     shift 0.04, scale 0.08, bicubic-aa (the bar of the "Robust Gen" issue)
 *   bilinear | bicubic | area | triangle-aa | bicubic-aa   that kernel alone, no jitter
 *   jpeg95 | jpeg90 | jpeg85 | jpeg75                       that JPEG alone (triangle-aa, no jitter)
 *   downsize   long side to 1080 (only bites on photos larger than that), triangle-aa
 *   full       shift 0.04, scale 0.08, rot 5, any kernel, JPEG 75-95, downsize 1080
 *   train      shift 0.05, scale 0.10, rot 10, any kernel, JPEG 70-95 (the training distribution)
 */
#ifndef DF_ATTACK_H
#define DF_ATTACK_H

#include "df.h"
#include "image.h"
#include "resample.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATK_ANY_KERNEL (-1)

typedef struct {
    float shift, scale, rot; /* max |dx|, |dy| and |ds| (fractions of the side), max |theta| (degrees) */
    int kernel;              /* rs_kernel or ATK_ANY_KERNEL */
    int jpeg_lo, jpeg_hi;    /* 0 0: no re-encoding */
    int downsize;            /* 0: none */
} atk_spec;

typedef struct {
    double dx, dy, ds, theta; /* fractions of the side; radians */
    int kernel;               /* rs_kernel */
    int jpeg;                 /* 0: none */
} atk_sample;

/* Parse a spec (see above); refuses unknown keys, out-of-range values (shift, scale in [0, 0.5], rot in
 * [0, 45], jpeg in 1..100 with lo <= hi, downsize 0 or 16..65536) with a message naming the problem. */
df_status atk_parse(atk_spec *s, const char *spec);
/* Canonical text of a spec (for JSON and logs), e.g. "shift=0.04,scale=0.08,rot=0,kernel=bicubic-aa,jpeg=0,
 * downsize=0". */
void atk_format(const atk_spec *s, char *buf, size_t len);
/* Draw one pipeline sample (always the same number of draws, so streams stay aligned). */
void atk_draw(atk_sample *o, const atk_spec *s, df_rng *rng);
/* The attacker's crop of the square (cx, cy, side) as the affine map of resample.h onto S x S. */
rs_affine atk_map(const atk_sample *o, double cx, double cy, double side, int S);

/* The site's part of the real pipeline alone (downsize, JPEG of sample o) on an 8-bit RGB photo (W x H,
 * interleaved): the photo as the attacker receives it, p->rgb (p->w x p->h; the input itself when nothing
 * applies), p->scale its size over the input's (downsize).  Native only; atk_site_photo_free after success. */
typedef struct {
    const uint8_t *rgb;
    int w, h;
    double scale;
    uint8_t *small; /* owned buffers */
    df_image dec;
} atk_site_photo;
df_status atk_real_site_rgb8(atk_site_photo *p, const uint8_t *rgb, int W, int H, const atk_spec *spec,
                             const atk_sample *o);
void atk_site_photo_free(atk_site_photo *p);
/* The attacker's part alone: its crop of the square (cx, cy, side), given in the pixels of the W x H photo the site
 * received, from the site's output -> out [3, S, S] in [-1, 1].  atk_real_rgb8 = atk_real_site_rgb8 + this. */
df_status atk_real_crop(float *out, int S, const atk_site_photo *site, int W, int H, double cx, double cy,
                        double side, const atk_sample *o);

/* Real pipeline on an 8-bit RGB photo (W x H, interleaved, 3 channels) whose reference face square is
 * (cx, cy, side) in its pixels: site (downsize, JPEG) then the attacker's crop and resize -> out [3, S, S] in
 * [-1, 1].  Native builds only (JPEG codec). */
df_status atk_real_rgb8(float *out, int S, const uint8_t *rgb, int W, int H, double cx, double cy, double side,
                        const atk_spec *spec, const atk_sample *o);

#ifdef __cplusplus
}
#endif
#endif
