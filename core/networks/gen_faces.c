/* Scale-matched protection of face squares (gen_faces.h). */
#include "gen_faces.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "resample.h"

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

static df_status check_args(const gen_model *g, const uint8_t *out, const uint8_t *in, int W, int H, int stride_px,
                            float eps, const gf_square *sq, int n, int S, float feather) {
    if (!g || !out || !in || (n > 0 && !sq)) return df_fail(DF_ERR_ARG, "protect faces: NULL argument");
    if (W < 1 || H < 1 || (double)W * H > 100e6)
        return df_fail(DF_ERR_ARG, "protect faces: image size %d x %d is out of range (1 .. 100 megapixels)", W, H);
    if (stride_px != 3 && stride_px != 4)
        return df_fail(DF_ERR_ARG, "protect faces: stride must be 3 (RGB) or 4 (RGBA)");
    if (!(eps >= 0.0f && eps <= 2.0f)) return df_fail(DF_ERR_ARG, "protect faces: eps must be in [0, 2]");
    if (n < 0 || n > GF_MAX_FACES) return df_fail(DF_ERR_ARG, "protect faces: %d faces (0 .. %d)", n, GF_MAX_FACES);
    if (S < 32 || S > 1024 || S % 8)
        return df_fail(DF_ERR_ARG, "protect faces: working size %d must be a multiple of 8 in 32..1024", S);
    if (!(feather >= 0.0f && feather <= 0.5f)) return df_fail(DF_ERR_ARG, "protect faces: feather must be in [0, 0.5]");
    for (int i = 0; i < n; i++) {
        const gf_square *q = &sq[i];
        if (!isfinite(q->cx) || !isfinite(q->cy) || !isfinite(q->side) || fabs(q->cx) > 1e6 || fabs(q->cy) > 1e6 ||
            q->side < 4 || q->side > 1e5 || q->side / S > RS_MAX_SHRINK || S / q->side > RS_MAX_SHRINK)
            return df_fail(DF_ERR_ARG, "protect faces: face %d (centre %g, %g, side %g) is out of range (side 4 .. 1e5 "
                                       "pixels, at most %gx the working size %d either way)",
                           i + 1, q->cx, q->cy, q->side, RS_MAX_SHRINK, S);
    }
    return DF_OK;
}

gf_square gf_square_from_face(const bf_face *f) {
    double ex = 0.5 * ((double)f->kp[0][0] + f->kp[1][0]), ey = 0.5 * ((double)f->kp[0][1] + f->kp[1][1]);
    gf_square q = {ex + GF_CENTRE_EYE_MOUTH * (f->kp[3][0] - ex), ey + GF_CENTRE_EYE_MOUTH * (f->kp[3][1] - ey),
                   GF_SIDE_PER_BOX * ((double)f->x1 - f->x0)};
    return q;
}

/* The square's pixels inside the photo: [x0, x1) x [y0, y1) (empty when x0 >= x1 or y0 >= y1). */
static void square_rect(const gf_square *q, int W, int H, int *x0, int *y0, int *x1, int *y1) {
    double h = q->side / 2;
    *x0 = (int)fmax(0, floor(q->cx - h)), *x1 = (int)fmin(W, ceil(q->cx + h));
    *y0 = (int)fmax(0, floor(q->cy - h)), *y1 = (int)fmin(H, ceil(q->cy + h));
}

df_status gf_protect_rgb8(gen_model *g, uint8_t *out, const uint8_t *in, int W, int H, int stride_px, float eps,
                          const gf_square *sq, int n, int S, float feather, void (*progress)(void *, float),
                          void *pctx) {
    df_status s = check_args(g, out, in, W, H, stride_px, eps, sq, n, S, feather);
    if (s) return s;
    if (out != in) memcpy(out, in, (size_t)W * H * stride_px);
    if (progress) progress(pctx, 0.0f);
    /* the union bounding box of the squares inside the photo */
    int bx0 = W, by0 = H, bx1 = 0, by1 = 0;
    for (int i = 0; i < n; i++) {
        int x0, y0, x1, y1;
        square_rect(&sq[i], W, H, &x0, &y0, &x1, &y1);
        if (x0 >= x1 || y0 >= y1) continue;
        bx0 = x0 < bx0 ? x0 : bx0, by0 = y0 < by0 ? y0 : by0;
        bx1 = x1 > bx1 ? x1 : bx1, by1 = y1 > by1 ? y1 : by1;
    }
    if (bx0 >= bx1 || by0 >= by1) {
        if (progress) progress(pctx, 1.0f);
        return DF_OK; /* no face inside the photo */
    }
    int bw = bx1 - bx0, bh = by1 - by0;
    size_t nb = (size_t)bw * bh, ns = (size_t)3 * S * S;
    float *acc = calloc(4 * nb, sizeof(float)), *xs = malloc(3 * ns * sizeof(float)), *reg = NULL;
    if (!acc || !xs) {
        free(acc), free(xs);
        return df_fail(DF_ERR_NOMEM, "protect faces: out of memory for %d x %d face pixels", bw, bh);
    }
    float *wsum = acc + 3 * nb, *xa = xs + ns, *ds = xa + ns;
    for (int i = 0; i < n && !s; i++) {
        const gf_square *q = &sq[i];
        int x0, y0, x1, y1;
        square_rect(q, W, H, &x0, &y0, &x1, &y1);
        if (x0 >= x1 || y0 >= y1) continue;
        double sx0 = q->cx - q->side / 2, sy0 = q->cy - q->side / 2, f = S / q->side;
        /* Gen at the models' scale */
        s = rs_crop_u8_planar(xs, S, S, in, W, H, stride_px, sx0, sy0, q->side, q->side, RS_AREA);
        if (!s) s = gen_protect(g, xa, xs, S, S, eps);
        if (s) break;
        for (size_t k = 0; k < ns; k++) ds[k] = xa[k] - xs[k];
        /* back onto the square's pixels: output pixel centre (x, y) of the region -> (rx0 + x - sx0) * f */
        int OW = x1 - x0, OH = y1 - y0, kern = GF_UP_KERNEL;
        rs_affine map = rs_rect_map((x0 - sx0) * f, (y0 - sy0) * f, OW * f, OH * f, OW, OH);
        free(reg);
        reg = malloc((size_t)3 * OW * OH * sizeof(float));
        if (!reg) {
            s = df_fail(DF_ERR_NOMEM, "protect faces: out of memory for a %d x %d face", OW, OH);
            break;
        }
        if ((s = rs_warp_check(&map, &kern, 1, 3, S, S, OH, OW))) break;
        rs_warp_forward(reg, ds, &map, &kern, 1, 3, S, S, OH, OW);
        double ramp = feather * q->side;
        for (int y = 0; y < OH; y++) {
            double py = y0 + y + 0.5, dy = fmin(py - sy0, sy0 + q->side - py);
            for (int x = 0; x < OW; x++) {
                double px = x0 + x + 0.5, d = fmin(dy, fmin(px - sx0, sx0 + q->side - px));
                if (d <= 0) continue; /* the pixel's centre lies outside the square */
                float w = ramp > 0 && d < ramp ? (float)(d / ramp) : 1.0f;
                size_t b = (size_t)(y0 + y - by0) * bw + (x0 + x - bx0), r = (size_t)y * OW + x;
                for (int c = 0; c < 3; c++) acc[c * nb + b] += w * reg[(size_t)c * OW * OH + r];
                wsum[b] += w;
            }
        }
        if (progress) progress(pctx, 0.9f * (float)(i + 1) / n);
    }
    if (!s)
        for (int y = 0; y < bh; y++)
            for (int x = 0; x < bw; x++) {
                size_t b = (size_t)y * bw + x, p = ((size_t)(by0 + y) * W + bx0 + x) * stride_px;
                if (wsum[b] <= 0) continue;
                float norm = 1.0f / (wsum[b] > 1.0f ? wsum[b] : 1.0f);
                for (int c = 0; c < 3; c++) {
                    float d = clampf(acc[c * nb + b] * norm, -eps, eps);
                    out[p + c] = (uint8_t)lrintf(clampf(in[p + c] + d * 127.5f, 0.0f, 255.0f));
                }
            }
    free(acc), free(xs), free(reg);
    if (!s && progress) progress(pctx, 1.0f);
    return s;
}

/* ------------------------------------------------------------------ a whole photo */
const char *gf_detection_name(gf_detection d) {
    static const char *names[] = {"off", "no_detector", "given", "detected", "no_face"};
    return (unsigned)d < sizeof names / sizeof *names ? names[d] : "unknown";
}

gf_photo_opts gf_photo_default_opts(void) {
    gf_photo_opts o = {0.05f, 128, GF_WORK_FACE, 0, 1, NULL, 0};
    return o;
}

int gf_face_work_side(int W, int H, int face_size) {
    if (W < 1 || H < 1 || face_size < 1) return GF_WORK_FACE_MAX;
    double lo = W < H ? W : H, hi = W < H ? H : W, side = round(face_size * hi / lo);
    double least = ceil(hi / RS_MAX_SHRINK); /* the area shrink's limit (a 4096 x 4096 photo: 171, not 128) */
    if (side < least) side = least;
    if (side >= GF_WORK_FACE_MAX) return GF_WORK_FACE_MAX;
    /* the short side as gen_protect_rgb8 rounds it must keep within the limit too */
    while (side < GF_WORK_FACE_MAX && side < hi && lo / fmax(1.0, (double)lround(lo * (side / hi))) > RS_MAX_SHRINK)
        side++;
    return (int)side;
}

int gf_square_in_photo(const gf_square *q, int W, int H) {
    double h = q->side / 2;
    return q->cx + h > 0.5 && q->cx - h < W - 0.5 && q->cy + h > 0.5 && q->cy - h < H - 0.5;
}

typedef struct {
    void (*fn)(void *, float);
    void *ctx;
    float from, span;
} sub_progress;
static void sub_report(void *c, float done) {
    const sub_progress *p = c;
    p->fn(p->ctx, p->from + p->span * done);
}

df_status gf_protect_photo(gen_model *g, blazeface *det, uint8_t *out, const uint8_t *in, int W, int H,
                           int stride_px, const gf_photo_opts *o, gf_photo_result *r,
                           void (*progress)(void *ctx, float done), void *pctx) {
    if (!r || !o) return df_fail(DF_ERR_ARG, "protect photo: NULL argument");
    memset(r, 0, sizeof *r);
    if (!g || !out || !in || (o->ngiven > 0 && !o->given)) return df_fail(DF_ERR_ARG, "protect photo: NULL argument");
    if (o->ngiven < 0 || o->ngiven > GF_MAX_FACES)
        return df_fail(DF_ERR_ARG, "protect photo: %d squares given (0 .. %d)", o->ngiven, GF_MAX_FACES);
    if (W < 1 || H < 1 || (double)W * H > 100e6)
        return df_fail(DF_ERR_ARG, "protect photo: image size %d x %d is out of range (1 .. 100 megapixels)", W, H);
    if (stride_px != 3 && stride_px != 4) return df_fail(DF_ERR_ARG, "protect photo: stride must be 3 (RGB) or 4 (RGBA)");
    if (o->work_side < GF_WORK_FACE)
        return df_fail(DF_ERR_ARG, "protect photo: work_side %d (a side >= 0, or GF_WORK_FACE)", o->work_side);
    if (o->face_size < 32 || o->face_size > 1024 || o->face_size % 8)
        return df_fail(DF_ERR_ARG, "protect photo: face_size must be a multiple of 8 in 32..1024, got %d", o->face_size);
    df_status s = DF_OK;
    if (o->no_detect) {
        r->det = GF_DET_OFF;
    } else if (o->ngiven > 0) {
        r->det = GF_DET_GIVEN;
        for (int i = 0; i < o->ngiven; i++)
            if (gf_square_in_photo(&o->given[i], W, H)) r->sq[r->nsq++] = o->given[i];
        if (r->nsq == 0)
            return df_fail(DF_ERR_ARG, "protect photo: no given face square lies inside the %d x %d photo", W, H);
    } else if (!det) {
        r->det = GF_DET_NO_DETECTOR;
    } else {
        bf_face *faces = malloc(GF_MAX_FACES * sizeof *faces);
        if (!faces) return df_fail(DF_ERR_NOMEM, "protect photo: out of memory");
        bf_opts bo = bf_default_opts();
        int n = 0;
        if (progress) progress(pctx, 0.0f);
        s = blazeface_detect(det, in, W, H, stride_px, &bo, faces, GF_MAX_FACES, &n);
        double lo = fmax(4.0, o->face_size / RS_MAX_SHRINK), hi = o->face_size * RS_MAX_SHRINK, side0 = 0;
        for (int i = 0; !s && i < n; i++) {
            gf_square q = gf_square_from_face(&faces[i]);
            if (!(q.side >= lo) || !isfinite(q.cx) || !isfinite(q.cy)) continue;
            double side = q.side;
            if (q.side > hi) q.side = hi;
            if (gf_square_in_photo(&q, W, H)) {
                if (r->nsq == 0) side0 = side;
                r->sq[r->nsq++] = q;
            }
        }
        free(faces);
        if (s) return s;
        r->det = r->nsq ? GF_DET_DETECTED : GF_DET_NO_FACE;
        r->fills = r->nsq == 1 && side0 > GF_FILL * (W < H ? W : H);
        if (progress) progress(pctx, 0.1f);
    }
    int detected = r->det == GF_DET_GIVEN || r->det == GF_DET_DETECTED;
    sub_progress sp = {progress, pctx, detected || r->det == GF_DET_NO_FACE ? 0.1f : 0.0f, 0.0f};
    sp.span = 1.0f - sp.from;
    void (*fn)(void *, float) = progress ? sub_report : NULL;
    if (detected && !r->fills)
        return gf_protect_rgb8(g, out, in, W, H, stride_px, o->eps, r->sq, r->nsq, o->face_size, GF_FEATHER, fn, &sp);
    if (r->det == GF_DET_NO_FACE && !o->whole_if_no_face) {
        if (out != in) memcpy(out, in, (size_t)W * H * stride_px);
        if (progress) progress(pctx, 1.0f);
        return DF_OK;
    }
    r->protected_whole = 1;
    if (det) blazeface_release(det); /* its tiles' buffers make room for Gen at the working resolution */
    int ws = o->work_side == GF_WORK_FACE || r->fills ? gf_face_work_side(W, H, o->face_size) : o->work_side;
    return gen_protect_rgb8(g, out, in, W, H, stride_px, o->eps, ws, fn, &sp);
}
