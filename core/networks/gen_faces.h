/* Scale-matched protection: Gen on each face at the scale deepfake models see it.
 *
 * A deepfake pipeline crops the face square and shrinks it to the model's input (128-256 pixels).  A delta made
 * on the whole photo at its own resolution lands at the wrong scale and is lost in that shrink; so for each face
 * square (centre cx, cy and side in photo pixels, e.g. the CelebA convention around a detected face):
 *   the square is resampled to S x S (area average), Gen makes its delta there, clipped to eps; the delta is
 *   resampled back onto the square's pixels in the photo with GF_UP_KERNEL (Catmull-Rom bicubic: measured on 60
 *   CelebA test photos through the attacker's jittered crop, it keeps 33 / 0 / 47 % of the zoo's edits broken at
 *   37.4 dB where bilinear kept 25 / 0 / 32 % at 37.9 dB: a smoothing kernel removes the delta's fine structure
 *   that the attacker's resampling must carry to the model);
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

#include "blazeface.h"
#include "gen.h"
#include "resample.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GF_MAX_FACES 64
#define GF_FEATHER 0.05f /* default: the outer 5 % of a square's side fade out */
#define GF_UP_KERNEL RS_BICUBIC_AA /* Gen's delta back to the photo (resample.h) */

typedef struct {
    double cx, cy, side; /* in photo pixels (pixel k covers [k, k + 1)) */
} gf_square;

/* The face square deepfake pipelines take around a detected face: the zoo's CelebA convention (the centred
 * 178 x 178 square of the aligned 178 x 218 photo), from a BlazeFace detection (blazeface.h):
 *   side   = GF_SIDE_PER_BOX * the box's width
 *   centre = eye midpoint + GF_CENTRE_EYE_MOUTH * (mouth - eye midpoint)
 * Fitted on 100 CelebA photos (full-range model, bf_default_opts) and checked on 100 others: the centre's
 * residuals have a standard deviation of 0.9 % of the side in x and in y (90 % of photos within 1.6 %), the side's
 * 6.0 % (90 % within 9.8 %; the eye and mouth distances are no better, 6.5 %).  The box centre would place the
 * square with 5 % spread in x (head turns move the box, not the eyes).  The short-range model's fit is within the
 * spread (side 1.84 x width, centre -0.085). */
#define GF_SIDE_PER_BOX 1.81
#define GF_CENTRE_EYE_MOUTH (-0.073)
gf_square gf_square_from_face(const bf_face *f);

/* out = in with every square protected (8-bit RGB or RGBA interleaved, stride_px 3 or 4, alpha copied).
 * S: Gen's working size (a multiple of 8, 32..1024; the zoo's 128); feather in [0, 0.5] (0: hard edges).
 * n = 0 copies the photo unchanged.  progress (optional) gets values in [0, 1]. */
df_status gf_protect_rgb8(gen_model *g, uint8_t *out, const uint8_t *in, int W, int H, int stride_px, float eps,
                          const gf_square *sq, int n, int S, float feather, void (*progress)(void *ctx, float done),
                          void *progress_ctx);


/* ------------------------------------------------------------------ a whole photo: the one entry point
 * What dadfi protect, the wasm module, the page and the upload drop-in run on a photo:
 *   squares given (o->given, o->ngiven > 0): those that cover a pixel of the photo are protected;
 *   else with a detector: blazeface_detect (bf_default_opts), each face's gf_square_from_face; faces whose square
 *     is below max(4, S / RS_MAX_SHRINK) pixels are left out (a few pixels wide), a square above S x RS_MAX_SHRINK
 *     is shrunk around its centre to that;
 *   the squares found: gf_protect_rgb8 (scale-matched, nothing outside them changes), except when one face is
 *     found whose square is more than GF_FILL times the photo's short side (r->fills): the photo is itself a
 *     tight crop of that face (an aligned chip, a close-up), which an attacker feeds whole rather than padding
 *     its square, so it is protected whole as one face crop (gf_face_work_side).  Measured on 60 UTKFace chips
 *     (200 x 200; 33 of them filled at GF_FILL 1.1), the attacker cropping the chip with `jitter`: 38 / 7 / 70 %
 *     with this rule against 7 / 3 / 40 % with the squares (every chip as one face crop: 62 / 8 / 88 %); with
 *     the attacker's own detector 2 / 0 / 3 % against 2 / 0 / 13 %;
 *   none (no detector, o->no_detect, or no face found): the whole photo (gen_protect_rgb8), unless
 *     o->whole_if_no_face is 0 and the detector found nothing: then out = in.  Its working side: o->work_side, or
 *     with GF_WORK_FACE (the default) gf_face_work_side: the photo taken as one face crop, its short side at
 *     face_size, the scale the models see such a crop at.  Measured (dadfi eval --whole-side, 60 CelebA test
 *     photos through the attacker's jittered crop, stargan / attgan / style, the delta delivered bilinearly):
 *     27 / 3 / 30 % with the short side at 128 (37 / 3 / 45 % delivered with Catmull-Rom, as now), 22 / 3 / 38 %
 *     at 160 on the long side, 0 / 0-2 / 2-3 % at 1024 or the photo's own size, 0 / 3 / 7 % at 192 and
 *     0 / 0 / 8 % at 128: a delta helps only at the scale the attacker's crop brings to the model.
 * r (required) says what happened.  progress (optional): detection is the first 10 %. */
typedef enum {
    GF_DET_OFF = 0,      /* no_detect: the whole photo */
    GF_DET_NO_DETECTOR,  /* no detector given: the whole photo */
    GF_DET_GIVEN,        /* squares given by the caller */
    GF_DET_DETECTED,     /* faces found */
    GF_DET_NO_FACE       /* the detector found none: the whole photo (or nothing, see whole_if_no_face) */
} gf_detection;
const char *gf_detection_name(gf_detection d);
int gf_square_in_photo(const gf_square *q, int W, int H); /* does it cover any pixel centre of a W x H photo? */ /* "off", "no_detector", "given", "detected", "no_face" */

typedef struct {
    float eps;            /* budget on the [-1, 1] scale */
    int face_size;        /* Gen's working size on a face square (the zoo's 128) */
    int work_side;        /* the whole-photo path's working side (longest side; 0: full; GF_WORK_FACE: face scale) */
    int no_detect;        /* 1: the whole photo, no detection */
    int whole_if_no_face; /* 1 (default): no face found -> the whole photo; 0: nothing changes */
    const gf_square *given;
    int ngiven;
} gf_photo_opts;
gf_photo_opts gf_photo_default_opts(void); /* eps 0.05, face_size 128, GF_WORK_FACE, whole_if_no_face 1 */

#define GF_WORK_FACE (-1)    /* work_side: the photo as one face crop (gf_face_work_side) */
#define GF_WORK_FACE_MAX 1024 /* its working side's cap (a panorama's short side then ends below face_size) */
/* The longest side at which a W x H photo's short side is face_size: round(face_size * long / short), at least
 * long / RS_MAX_SHRINK rounded up (the area shrink's limit: from ~3000 pixels on the short side the working copy
 * is a little larger than the face scale) and at most GF_WORK_FACE_MAX (gen_protect_rgb8 never enlarges: a smaller
 * photo runs at its own size). */
int gf_face_work_side(int W, int H, int face_size);

#define GF_FILL 1.1 /* a face square this many times the photo's short side: the face fills the photo */

typedef struct {
    gf_detection det;
    int nsq;       /* squares protected, or found (fills: the one face; 0: the whole photo, or nothing) */
    int protected_whole; /* 1 when the whole-photo path ran */
    int fills;     /* 1: one face found that fills the photo, protected whole as its crop */
    gf_square sq[GF_MAX_FACES];
} gf_photo_result;

/* det may be NULL (no detector).  out may equal in. */
df_status gf_protect_photo(gen_model *g, blazeface *det, uint8_t *out, const uint8_t *in, int W, int H,
                           int stride_px, const gf_photo_opts *o, gf_photo_result *r,
                           void (*progress)(void *ctx, float done), void *progress_ctx);

#ifdef __cplusplus
}
#endif
#endif
