/* The C ABI of the WebAssembly module (called from web/engine.mjs; every call is synchronous).
 *
 * Errors: a failing call returns a df_status (or a 0 handle) and dfapi_errmsg() tells why; the module keeps
 * working afterwards (malloc returns NULL instead of aborting, every size is checked before use).
 *
 * Photos with faces (dfapi_protect_photo, gf_protect_photo in core/networks/gen_faces.h, the native CLI's code
 * path): BlazeFace finds the faces, Gen protects each face square at the deepfake models' scale (128 pixels) and
 * nothing outside the squares changes; no face found, or no detector: the whole photo as below.
 *
 * Photos without a face (gen_protect_rgb8 in core/networks/gen.c, shared with the native CLI): Gen runs on an
 * area-downscaled copy, by default (work_side GF_WORK_FACE, what the page passes) with the short side at the face
 * size, as if the photo were one face crop: that is the scale a model sees such a crop at, and a delta made at
 * another scale is lost in the attacker's resize; or with the longest side at most work_side.  The delta is
 * upsampled to full resolution (Catmull-Rom, in bands of rows), clipped to [-eps, eps] there and added to the 8-bit pixels.  So
 * L-inf <= eps holds at full resolution, and memory is one RGBA buffer plus Gen's activations at the working
 * resolution (not at 12 MP).
 */
#include <emscripten.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "df.h"
#include "dfw.h"
#include "blazeface.h"
#include "gen.h"
#include "gen_faces.h"
#include "graph.h"
#include "image.h"
#include "metrics.h"
#include "png_fast.h"
#include "resample.h"

#ifndef DFAPI_HAVE_ZOO /* set by wasm/CMakeLists.txt when core/networks/zoo.c exists */
#define DFAPI_HAVE_ZOO 0
#endif
#if DFAPI_HAVE_ZOO
#include "zoo.h"
#endif

#define DFAPI_ABI 1
#define DFAPI_MAX_SIDE 16384
#define DFAPI_MAX_PIXELS (4096L * 4096L)  /* 16.8 MP */

static df_status last_status;
static df_status ret(df_status s) { last_status = s; return s; }

/* Progress to JavaScript: Module.onProgress(stage, fraction) if the caller set it (stage 1: Gen, 2: apply,
 * 3: an imported model's preview). */
EM_JS(void, dfapi_report, (int stage, double frac), {
    if (Module['onProgress']) Module['onProgress'](stage, frac);
});

EMSCRIPTEN_KEEPALIVE const char *dfapi_version(void) { return "dadfi 0.1.0 wasm (simd128, single thread)"; }
EMSCRIPTEN_KEEPALIVE int dfapi_abi(void) { return DFAPI_ABI; }
EMSCRIPTEN_KEEPALIVE const char *dfapi_errmsg(void) { return df_errmsg(); }
EMSCRIPTEN_KEEPALIVE int dfapi_last_status(void) { return (int)last_status; }
/* Bytes currently malloc'd (leak checks in the tests). */
EMSCRIPTEN_KEEPALIVE double dfapi_heap_used(void) { return (double)mallinfo().uordblks; }

/* Meta value of a .dfw buffer as a NUL-terminated string into out (outsz bytes). */
EMSCRIPTEN_KEEPALIVE int dfapi_dfw_meta(const uint8_t *buf, size_t len, const char *key, char *out, size_t outsz) {
    if (!buf || !key || !out || outsz == 0) return ret(df_fail(DF_ERR_ARG, "dfw_meta: NULL argument"));
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s != DF_OK) return ret(s);
    s = dfw_meta_get(&f, key, out, outsz);
    dfw_free(&f);
    return ret(s);
}

/* ------------------------------------------------------------------ Gen */
EMSCRIPTEN_KEEPALIVE gen_model *dfapi_gen_load(const uint8_t *buf, size_t len) {
    if (!buf || len == 0) {
        ret(df_fail(DF_ERR_FORMAT, "weights: empty buffer"));
        return NULL;
    }
    gen_model *g = NULL;
    if (ret(gen_load(&g, buf, len, 0)) != DF_OK) return NULL;
    return g;
}
EMSCRIPTEN_KEEPALIVE void dfapi_gen_free(gen_model *g) { if (g) gen_free(g); }
EMSCRIPTEN_KEEPALIVE int dfapi_gen_width(const gen_model *g) { return g ? gen_get_config(g)->width : 0; }
EMSCRIPTEN_KEEPALIVE double dfapi_gen_flops(const gen_model *g, int H, int W) {
    return g ? gen_flops(gen_get_config(g), H, W) : 0.0;
}
/* delta [3,H,W] = Gen(x [3,H,W]) (unclipped): benchmarks and the tests' reference of dfapi_protect. */
EMSCRIPTEN_KEEPALIVE int dfapi_gen_forward(gen_model *g, float *delta, const float *x, int H, int W) {
    if (!g || !delta || !x) return ret(df_fail(DF_ERR_ARG, "gen_forward: NULL argument"));
    if (H < 1 || W < 1 || H > DFAPI_MAX_SIDE || W > DFAPI_MAX_SIDE || (long)H * W > DFAPI_MAX_PIXELS)
        return ret(df_fail(DF_ERR_ARG, "gen_forward: bad size %dx%d", W, H));
    return ret(gen_forward(g, delta, x, 1, H, W));
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Working size for a w x h photo (as gen_protect_rgb8 picks it): longest side <= work_side (0 = no limit;
 * GF_WORK_FACE: the whole-photo path's default, gf_face_work_side with faces at 128). */
static void working_size(int w, int h, int work_side, int *ww, int *wh) {
    if (work_side == GF_WORK_FACE) work_side = gf_face_work_side(w, h, 128);
    int longest = w > h ? w : h;
    if (work_side <= 0 || longest <= work_side) {
        *ww = w, *wh = h;
        return;
    }
    double s = (double)work_side / longest;
    *ww = clampi((int)lround(w * s), 1, work_side);
    *wh = clampi((int)lround(h * s), 1, work_side);
}
EMSCRIPTEN_KEEPALIVE void dfapi_working_size(int w, int h, int work_side, int *out2) {
    working_size(w, h, work_side, &out2[0], &out2[1]);
}

static df_status check_image(const void *rgba, int w, int h) {
    if (!rgba) return df_fail(DF_ERR_ARG, "image: NULL pixel buffer");
    if (w < 1 || h < 1) return df_fail(DF_ERR_ARG, "image: empty (%d x %d)", w, h);
    if (w > DFAPI_MAX_SIDE || h > DFAPI_MAX_SIDE || (long)w * h > DFAPI_MAX_PIXELS)
        return df_fail(DF_ERR_NOMEM, "image too large: %d x %d (at most %ld pixels, sides <= %d)", w, h,
                       DFAPI_MAX_PIXELS, DFAPI_MAX_SIDE);
    return DF_OK;
}

static void protect_progress(void *ctx, float done) { (void)ctx, dfapi_report(1, done); }

/* Protect rgba [h, w, 4] in place (alpha kept) with gen_protect_rgb8, the native CLI's code path.
 * work_side: working resolution (0 = full resolution, else 64..16384). */
/* The arguments both protect calls share: a Gen, the pixels, eps and the working side. */
static df_status check_protect(const gen_model *g, const uint8_t *rgba, int w, int h, float eps, int work_side) {
    if (!g) return df_fail(DF_ERR_ARG, "protect: no Gen model loaded");
    df_status s = check_image(rgba, w, h);
    if (s != DF_OK) return s;
    if (!(eps > 0.0f && eps <= 0.5f)) return df_fail(DF_ERR_ARG, "protect: eps must be in (0, 0.5], got %g", eps);
    if (work_side != 0 && (work_side < 64 || work_side > DFAPI_MAX_SIDE))
        return df_fail(DF_ERR_ARG, "protect: work_side must be 0 or in 64..%d, got %d", DFAPI_MAX_SIDE, work_side);
    return DF_OK;
}

EMSCRIPTEN_KEEPALIVE int dfapi_protect(gen_model *g, uint8_t *rgba, int w, int h, float eps, int work_side) {
    df_status s = check_protect(g, rgba, w, h, eps, work_side);
    if (s != DF_OK) return ret(s);
    return ret(gen_protect_rgb8(g, rgba, rgba, w, h, 4, eps, work_side, protect_progress, NULL));
}

/* ------------------------------------------------------------------ face detector and face-scale protection */
EMSCRIPTEN_KEEPALIVE blazeface *dfapi_detector_load(const uint8_t *buf, size_t len) {
    if (!buf || len == 0) {
        ret(df_fail(DF_ERR_FORMAT, "detector weights: empty buffer"));
        return NULL;
    }
    blazeface *m = NULL;
    if (ret(blazeface_load(&m, buf, len)) != DF_OK) return NULL;
    return m;
}
EMSCRIPTEN_KEEPALIVE void dfapi_detector_free(blazeface *m) { if (m) blazeface_free(m); }
EMSCRIPTEN_KEEPALIVE int dfapi_max_faces(void) { return GF_MAX_FACES; }

/* The faces of an RGBA photo, as gf_protect_photo finds them (blazeface_detect, the default options): out (1 + 5 *
 * dfapi_max_faces() doubles) gets their count, then x0, y0, x1, y1 (photo pixels) and the score of each, best first.
 * The page also runs it once on a blank photo after loading, so that the first photo finds its buffers and its
 * compiled code ready. */
EMSCRIPTEN_KEEPALIVE int dfapi_detect(blazeface *det, const uint8_t *rgba, int w, int h, double *out) {
    if (!det) return ret(df_fail(DF_ERR_ARG, "detect: no detector loaded"));
    df_status s = check_image(rgba, w, h);
    if (s != DF_OK) return ret(s);
    if (!out) return ret(df_fail(DF_ERR_ARG, "detect: NULL result buffer"));
    bf_face f[GF_MAX_FACES];
    int n = 0;
    bf_opts o = bf_default_opts();
    if ((s = blazeface_detect(det, rgba, w, h, 4, &o, f, GF_MAX_FACES, &n)) != DF_OK) return ret(s);
    out[0] = n;
    for (int i = 0; i < n; i++)
        out[1 + 5 * i] = f[i].x0, out[2 + 5 * i] = f[i].y0, out[3 + 5 * i] = f[i].x1, out[4 + 5 * i] = f[i].y1,
                    out[5 + 5 * i] = f[i].score;
    return ret(DF_OK);
}

EMSCRIPTEN_KEEPALIVE int dfapi_protect_photo_to(gen_model *g, blazeface *det, uint8_t *out, const uint8_t *in, int w,
                                                int h, float eps, int face_size, int work_side, int no_detect,
                                                double *info);
/* Protect rgba [h, w, 4] in place with gf_protect_photo (det may be 0: the whole photo).  face_size: Gen's size
 * on a face square (32..1024, multiple of 8; 128); work_side: the whole-photo path's, as in dfapi_protect, or -1
 * (GF_WORK_FACE, what the page passes: the photo as one face crop, its short side at face_size); no_detect: the
 * whole photo.
 * info (3 + 3 * dfapi_max_faces() doubles): detection (gf_detection: 0 off, 1 no detector, 2 given, 3 detected,
 * 4 no face), squares protected, whole photo protected (0/1), then cx, cy, side of each square in photo pixels. */
EMSCRIPTEN_KEEPALIVE int dfapi_protect_photo(gen_model *g, blazeface *det, uint8_t *rgba, int w, int h, float eps,
                                             int face_size, int work_side, int no_detect, double *info) {
    return dfapi_protect_photo_to(g, det, rgba, rgba, w, h, eps, face_size, work_side, no_detect, info);
}

/* dfapi_protect_photo out of place: in (the decoded photo, kept) -> out (the protected photo); the page keeps both
 * in wasm memory (no copies through JavaScript).  out and in are the same buffer or do not overlap. */
EMSCRIPTEN_KEEPALIVE int dfapi_protect_photo_to(gen_model *g, blazeface *det, uint8_t *out, const uint8_t *in, int w,
                                                int h, float eps, int face_size, int work_side, int no_detect,
                                                double *info) {
    df_status s = check_protect(g, in, w, h, eps, work_side == GF_WORK_FACE ? 0 : work_side);
    if (s != DF_OK) return ret(s);
    if (!out) return ret(df_fail(DF_ERR_ARG, "protect: NULL output buffer"));
    size_t n = (size_t)w * h * 4;
    if (out != in && out < in + n && in < out + n) return ret(df_fail(DF_ERR_ARG, "protect: the buffers overlap"));
    if (!info) return ret(df_fail(DF_ERR_ARG, "protect: NULL result buffer"));
    if (face_size < 32 || face_size > 1024 || face_size % 8)
        return ret(df_fail(DF_ERR_ARG, "protect: face_size must be a multiple of 8 in 32..1024, got %d", face_size));
    gf_photo_opts o = gf_photo_default_opts();
    o.eps = eps, o.face_size = face_size, o.work_side = work_side, o.no_detect = no_detect != 0;
    gf_photo_result r;
    s = gf_protect_photo(g, det, out, in, w, h, 4, &o, &r, protect_progress, NULL);
    if (s != DF_OK) return ret(s);
    info[0] = (double)r.det, info[1] = r.nsq, info[2] = r.protected_whole;
    for (int i = 0; i < r.nsq; i++)
        info[3 + 3 * i] = r.sq[i].cx, info[4 + 3 * i] = r.sq[i].cy, info[5 + 3 * i] = r.sq[i].side;
    return ret(DF_OK);
}

/* The page's display views (web/views.mjs makeViews): df_box_shrink_rgba8 of an RGBA photo in wasm memory. */
EMSCRIPTEN_KEEPALIVE int dfapi_box_shrink(uint8_t *dst, const uint8_t *src, int w, int h, int f, int vx0, int vy0,
                                          int vx1, int vy1) {
    df_status s = check_image(src, w, h);
    return ret(s != DF_OK ? s : df_box_shrink_rgba8(dst, src, w, h, f, vx0, vy0, vx1, vy1));
}

/* The page's comparison of the original and the protected photo (web/views.mjs diffRGBA) in C: df_diff_rgba8 over
 * the box [x0, x1) x [y0, y1); out (7 doubles): linf, the sum of squared differences, the changed pixels, then the
 * changed pixels' box x0, y0, x1, y1 (x0 >= x1: none). */
EMSCRIPTEN_KEEPALIVE int dfapi_diff(const uint8_t *a, const uint8_t *b, int w, int h, int x0, int y0, int x1, int y1,
                                    double *out) {
    df_status s = check_image(a, w, h);
    if (s == DF_OK) s = check_image(b, w, h);
    if (s != DF_OK) return ret(s);
    if (!out) return ret(df_fail(DF_ERR_ARG, "diff: NULL result buffer"));
    df_diff d;
    if ((s = df_diff_rgba8(a, b, w, h, x0, y0, x1, y1, &d)) != DF_OK) return ret(s);
    out[0] = d.linf, out[1] = d.se, out[2] = (double)d.changed;
    out[3] = d.x0, out[4] = d.y0, out[5] = d.x1, out[6] = d.y1;
    return ret(DF_OK);
}

/* ------------------------------------------------------------------ PNG file (core/io/png_fast.h)
 * The page's downloadable file, encoded from the photo in wasm memory in steps (progress, no whole-file buffer):
 * dfapi_png_begin(rgba, w, h, channels 0 | 3 | 4, filter -1 | 0..4) -> handle | 0, then dfapi_png_next(handle, rows,
 * res) until res[2] (rows left) is 0: each call's bytes are res[0] (pointer) and res[1] (length), valid until the
 * next call; dfapi_png_free(handle). */
EMSCRIPTEN_KEEPALIVE png_fast *dfapi_png_begin(const uint8_t *rgba, int w, int h, int channels, int filter) {
    png_fast *st = NULL;
    df_status s = check_image(rgba, w, h);
    if (s == DF_OK) s = png_fast_begin(&st, rgba, w, h, channels, filter);
    ret(s);
    return s == DF_OK ? st : NULL;
}
EMSCRIPTEN_KEEPALIVE int dfapi_png_channels(const png_fast *st) { return png_fast_channels(st); }
EMSCRIPTEN_KEEPALIVE int dfapi_png_next(png_fast *st, int rows, uint32_t *res) {
    const uint8_t *p;
    size_t n;
    int left = 0;
    df_status s = png_fast_next(st, rows, &p, &n, &left);
    res[0] = (uint32_t)(uintptr_t)p, res[1] = (uint32_t)n, res[2] = (uint32_t)left;
    return ret(s);
}
EMSCRIPTEN_KEEPALIVE void dfapi_png_free(png_fast *st) { png_fast_free(st); }

/* ------------------------------------------------------------------ zoo (deepfake preview)
 * The page's preview: a square crop (centre cx, cy, side) of the original and of the protected photo is
 * resized to the model's input size S (what a deepfake pipeline does to a face in a photo), edited by a zoo
 * model (attribute attr: 0 black, 1 blond, 2 brown hair, 3 male, 4 young), and the disruption measured (design
 * notes, "Metrics").  out: four S x S RGBA images (crop of the original, crop of the protected, edit of the original,
 * edit of the protected); stats: l2_mask, mask pixels, success (> 0.05), d_mask_rms, PSNR of the crops. */
#if DFAPI_HAVE_ZOO
typedef zoo_model zoo_adapter;
static df_status zoo_adapter_load(zoo_adapter **z, const uint8_t *buf, size_t len) { return zoo_load(z, buf, len, 0); }
static void zoo_adapter_free(zoo_adapter *z) { zoo_free(z); }
static int zoo_adapter_size(const zoo_adapter *z) { return zoo_get_config(z)->size; }
/* The edit: the face's own attributes (the model's classifier on the clean crop, or all 0 if the file has no
 * discriminator) -> the same with attribute k changed (zoo_edit_attrs); the same edit for both crops. */
static df_status zoo_adapter_edit(zoo_adapter *z, float *gc, float *ga, const float *xc, const float *xa, int k) {
    float logits[ZOO_NATTR], src[ZOO_NATTR] = {0}, trg[ZOO_NATTR];
    if (zoo_classify(z, logits, xc, 1) == DF_OK)
        for (int i = 0; i < ZOO_NATTR; i++) src[i] = logits[i] > 0.0f ? 1.0f : 0.0f;
    zoo_edit_attrs(trg, src, k);
    df_status s = zoo_edit(z, gc, xc, src, trg, 1);
    return s ? s : zoo_edit(z, ga, xa, src, trg, 1);
}
#else
typedef struct zoo_adapter zoo_adapter;
static df_status no_zoo(void) { return df_fail(DF_ERR_UNSUPPORTED, "no deepfake model available in this build"); }
static df_status zoo_adapter_load(zoo_adapter **z, const uint8_t *buf, size_t len) {
    (void)buf, (void)len;
    *z = NULL;
    return no_zoo();
}
static void zoo_adapter_free(zoo_adapter *z) { (void)z; }
static int zoo_adapter_size(const zoo_adapter *z) { (void)z; return 0; }
static df_status zoo_adapter_edit(zoo_adapter *z, float *gc, float *ga, const float *xc, const float *xa, int k) {
    (void)z, (void)gc, (void)ga, (void)xc, (void)xa, (void)k;
    return no_zoo();
}
#endif

EMSCRIPTEN_KEEPALIVE int dfapi_zoo_available(void) { return DFAPI_HAVE_ZOO; }
EMSCRIPTEN_KEEPALIVE zoo_adapter *dfapi_zoo_load(const uint8_t *buf, size_t len) {
    zoo_adapter *z = NULL;
    if (!buf || len == 0) {
        ret(df_fail(DF_ERR_FORMAT, "weights: empty buffer"));
        return NULL;
    }
    if (ret(zoo_adapter_load(&z, buf, len)) != DF_OK) return NULL;
    return z;
}
EMSCRIPTEN_KEEPALIVE void dfapi_zoo_free(zoo_adapter *z) { if (z) zoo_adapter_free(z); }
EMSCRIPTEN_KEEPALIVE int dfapi_zoo_size(const zoo_adapter *z) { return z ? zoo_adapter_size(z) : 0; }

/* x [3, S, S] = the square (x0, y0, side) of rgba (w x h) resized to S: area average (bilinear when enlarging). */
static df_status crop_resize(float *x, int S, const uint8_t *rgba, int w, int h, int x0, int y0, int side) {
    return rs_crop_u8_planar(x, S, S, rgba, w, h, 4, x0, y0, side, side, RS_AREA);
}

static void planar_to_rgba(uint8_t *rgba, const float *x, int S) {
    df_planar_to_rgb8(rgba, x, S, S, 4);
    for (size_t i = 0; i < (size_t)S * S; i++) rgba[4 * i + 3] = 255;
}

/* The preview's results, the same for every kind of model: stats (l2_mask, mask pixels, success, d_mask_rms, PSNR
 * of the crops) and out = the four S x S RGBA images (clean crop, protected crop, their edits). */
static void preview_results(uint8_t *out, double *stats, const float *xc, const float *xa, const float *gc,
                            const float *ga, int S) {
    df_disruption d;
    df_disruption_measure(&d, ga, gc, xc, S, S);
    stats[0] = d.l2_mask, stats[1] = (double)d.mask_pixels, stats[2] = d.success, stats[3] = d.d_mask_rms;
    stats[4] = df_psnr(xa, xc, (size_t)3 * S * S);
    size_t img = (size_t)S * S * 4;
    planar_to_rgba(out, xc, S), planar_to_rgba(out + img, xa, S);
    planar_to_rgba(out + 2 * img, gc, S), planar_to_rgba(out + 3 * img, ga, S);
}

/* The preview's shared checks: both photos, the outputs, the crop (clamped into the photo: *x0, *y0, *side). */
static df_status check_preview(const uint8_t *orig, const uint8_t *prot, int w, int h, int cx, int cy, int *side,
                               const uint8_t *out, const double *stats, int *x0, int *y0) {
    df_status s = check_image(orig, w, h);
    if (s == DF_OK) s = check_image(prot, w, h);
    if (s != DF_OK) return s;
    if (!out || !stats) return df_fail(DF_ERR_ARG, "preview: NULL output");
    if (*side < 8) return df_fail(DF_ERR_ARG, "preview: crop side %d too small", *side);
    if (*side > w) *side = w;
    if (*side > h) *side = h;
    long long lx = (long long)cx - *side / 2, ly = (long long)cy - *side / 2; /* any int centre, no overflow */
    *x0 = lx < 0 ? 0 : lx > w - *side ? w - *side : (int)lx;
    *y0 = ly < 0 ? 0 : ly > h - *side ? h - *side : (int)ly;
    return DF_OK;
}

EMSCRIPTEN_KEEPALIVE int dfapi_zoo_preview(zoo_adapter *z, const uint8_t *orig, const uint8_t *prot, int w, int h,
                                           int cx, int cy, int side, int attr, uint8_t *out, double *stats) {
    if (!z) return ret(df_fail(DF_ERR_UNSUPPORTED, "no deepfake model loaded"));
    int x0, y0;
    df_status s = check_preview(orig, prot, w, h, cx, cy, &side, out, stats, &x0, &y0);
    if (s != DF_OK) return ret(s);
    if (attr < 0 || attr > 4) return ret(df_fail(DF_ERR_ARG, "preview: attribute index %d out of 0..4", attr));
    int S = zoo_adapter_size(z);
    size_t n = (size_t)3 * S * S;
    float *buf = malloc(sizeof(float) * 4 * n);
    if (!buf) return ret(df_fail(DF_ERR_NOMEM, "out of memory (preview)"));
    float *xc = buf, *xa = buf + n, *gc = buf + 2 * n, *ga = buf + 3 * n;
    s = crop_resize(xc, S, orig, w, h, x0, y0, side);
    if (s == DF_OK) s = crop_resize(xa, S, prot, w, h, x0, y0, side);
    if (s == DF_OK) s = zoo_adapter_edit(z, gc, ga, xc, xa, attr);
    if (s == DF_OK) preview_results(out, stats, xc, xa, gc, ga, S);
    free(buf);
    return ret(s);
}

/* ------------------------------------------------------------------ imported models (deepfake preview)
 * Real-world image-to-image models converted from TensorFlow.js (tools/convert_tfjs_graph.mjs; e.g. the CartoonGAN
 * generators, core/networks/graph.h).  The preview is dfapi_zoo_preview's with the graph as the edit: the square
 * crop resized to the model's own size S (meta "size"), graph_forward on the clean and on the protected crop, the
 * same stats and the same four S x S RGBA images.  A CartoonGAN at 256 is ~100 GFLOP per pass (seconds in wasm):
 * progress goes to Module.onProgress(3, fraction) over both passes. */
#define DFAPI_GRAPH_MAX_SIZE 1024

/* What the preview needs of a graph: an image-to-image model (graph_check_image_model) of a size in
 * 8..DFAPI_GRAPH_MAX_SIZE. */
static df_status check_graph_for_preview(const graph_model *g) {
    const graph_info *in = graph_get_info(g);
    if (in->size < 8 || in->size > DFAPI_GRAPH_MAX_SIZE)
        return df_fail(DF_ERR_UNSUPPORTED, "imported model: size %d outside the preview's 8..%d", in->size,
                       DFAPI_GRAPH_MAX_SIZE);
    return graph_check_image_model(g);
}

EMSCRIPTEN_KEEPALIVE graph_model *dfapi_graph_load(const uint8_t *buf, size_t len) {
    if (!buf || len == 0) {
        ret(df_fail(DF_ERR_FORMAT, "imported model: empty buffer"));
        return NULL;
    }
    graph_model *g = NULL;
    if (ret(graph_load(&g, buf, len)) != DF_OK) return NULL;
    df_status s = check_graph_for_preview(g);
    if (s != DF_OK) {
        graph_free(g);
        ret(s);
        return NULL;
    }
    return g;
}
EMSCRIPTEN_KEEPALIVE void dfapi_graph_free(graph_model *g) { if (g) graph_free(g); }
EMSCRIPTEN_KEEPALIVE int dfapi_graph_size(const graph_model *g) { return g ? graph_get_info(g)->size : 0; }
/* FLOPs of one pass at the model's size (progress estimates). */
EMSCRIPTEN_KEEPALIVE double dfapi_graph_flops(const graph_model *g) {
    return g ? graph_flops(g, graph_get_info(g)->size, graph_get_info(g)->size) : 0.0;
}

typedef struct {
    float base; /* 0 for the clean crop's pass, 0.5 for the protected crop's */
} graph_progress_ctx;
static void graph_progress(void *ctx, float done) { dfapi_report(3, ((graph_progress_ctx *)ctx)->base + 0.5 * done); }

EMSCRIPTEN_KEEPALIVE int dfapi_graph_preview(graph_model *g, const uint8_t *orig, const uint8_t *prot, int w, int h,
                                             int cx, int cy, int side, uint8_t *out, double *stats) {
    if (!g) return ret(df_fail(DF_ERR_UNSUPPORTED, "no imported model loaded"));
    int x0, y0;
    df_status s = check_preview(orig, prot, w, h, cx, cy, &side, out, stats, &x0, &y0);
    if (s != DF_OK) return ret(s);
    if ((s = check_graph_for_preview(g)) != DF_OK) return ret(s);
    int S = graph_get_info(g)->size;
    size_t n = (size_t)3 * S * S;
    float *buf = malloc(sizeof(float) * 4 * n);
    if (!buf) return ret(df_fail(DF_ERR_NOMEM, "out of memory (preview)"));
    float *xc = buf, *xa = buf + n, *gc = buf + 2 * n, *ga = buf + 3 * n;
    graph_progress_ctx pc = {0.0f};
    graph_set_progress(g, graph_progress, &pc);
    s = crop_resize(xc, S, orig, w, h, x0, y0, side);
    if (s == DF_OK) s = crop_resize(xa, S, prot, w, h, x0, y0, side);
    if (s == DF_OK) s = graph_forward(g, gc, xc, 1, S, S, 0);
    pc.base = 0.5f;
    if (s == DF_OK) s = graph_forward(g, ga, xa, 1, S, S, 0);
    graph_set_progress(g, NULL, NULL);
    if (s == DF_OK) preview_results(out, stats, xc, xa, gc, ga, S);
    free(buf);
    return ret(s);
}
