/* The attacker's pipeline with real codecs and resamplers (see attack.h).  Native only: uses image.h's JPEG. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attack.h"
#include "image.h"

df_status atk_real_site_rgb8(atk_site_photo *p, const uint8_t *rgb, int W, int H, const atk_spec *spec,
                             const atk_sample *o) {
    if (!p || !rgb || !spec || !o || W < 1 || H < 1 || (double)W * H > 100e6)
        return df_fail(DF_ERR_ARG, "attack: bad arguments");
    memset(p, 0, sizeof *p);
    p->rgb = rgb, p->w = W, p->h = H, p->scale = 1.0;
    df_status s = DF_OK;
    /* site: downsize the long side */
    int L = W > H ? W : H;
    if (spec->downsize > 0 && L > spec->downsize) {
        double f = (double)spec->downsize / L;
        int w = (int)lround(W * f), h = (int)lround(H * f);
        w = w < 1 ? 1 : w, h = h < 1 ? 1 : h;
        if (!(p->small = malloc((size_t)w * h * 3))) return df_fail(DF_ERR_NOMEM, "attack: out of memory");
        s = rs_resize_u8(p->small, w, h, rgb, W, H, 3, 3, RS_TRIANGLE_AA);
        p->w = w, p->h = h, p->rgb = p->small, p->scale = f;
    }
    /* site: re-encode */
    if (!s && o->jpeg > 0) {
        uint8_t *enc = NULL;
        size_t elen = 0;
        s = df_image_encode(p->rgb, p->w, p->h, DF_FMT_JPEG, o->jpeg, &enc, &elen);
        if (!s) s = df_image_decode(&p->dec, enc, elen);
        free(enc);
        if (!s && (p->dec.w != p->w || p->dec.h != p->h))
            s = df_fail(DF_ERR_FORMAT, "attack: JPEG round trip changed the size");
        if (!s) p->rgb = p->dec.rgb;
    }
    if (s) atk_site_photo_free(p);
    return s;
}

void atk_site_photo_free(atk_site_photo *p) {
    if (!p) return;
    df_image_free(&p->dec);
    free(p->small);
    memset(p, 0, sizeof *p);
}

df_status atk_real_crop(float *out, int S, const atk_site_photo *site, int W, int H, double cx, double cy,
                        double side, const atk_sample *o) {
    if (!out || !site || !site->rgb || !o || S < 8 || S > 4096 || W < 1 || H < 1 || !(side >= 1) || !isfinite(cx) ||
        !isfinite(cy) || !isfinite(side))
        return df_fail(DF_ERR_ARG, "attack: bad arguments");
    df_status s = DF_OK;
    cx *= (double)site->w / W, cy *= (double)site->h / H, side *= site->scale, W = site->w, H = site->h;
    const uint8_t *px = site->rgb;
    /* attacker: crop and resize */
    double side2 = side * (1.0 + o->ds), x0 = cx + o->dx * side - side2 / 2, y0 = cy + o->dy * side - side2 / 2;
    if (o->theta == 0) {
        s = rs_crop_u8_planar(out, S, S, px, W, H, 3, x0, y0, side2, side2, (rs_kernel)o->kernel);
    } else {
        size_t np = (size_t)W * H;
        float *planes = malloc(np * 3 * sizeof(float));
        if (!planes) s = df_fail(DF_ERR_NOMEM, "attack: out of memory");
        rs_affine m = atk_map(o, cx, cy, side, S);
        int k = o->kernel;
        if (!s) s = rs_warp_check(&m, &k, 1, 3, H, W, S, S);
        if (!s) {
            for (size_t p = 0; p < np; p++)
                for (int c = 0; c < 3; c++) planes[c * np + p] = px[p * 3 + c];
            rs_warp_forward(out, planes, &m, &k, 1, 3, H, W, S, S);
            for (size_t p = 0; p < (size_t)3 * S * S; p++) {
                float v = floorf(out[p] + 0.5f);
                out[p] = (v < 0 ? 0 : v > 255 ? 255 : v) / 127.5f - 1.0f;
            }
        }
        free(planes);
    }
    return s;
}

df_status atk_real_rgb8(float *out, int S, const uint8_t *rgb, int W, int H, double cx, double cy, double side,
                        const atk_spec *spec, const atk_sample *o) {
    if (!out || !rgb || !spec || !o || S < 8 || S > 4096 || W < 1 || H < 1 || (double)W * H > 100e6 ||
        !(side >= 1) || !isfinite(cx) || !isfinite(cy) || !isfinite(side))
        return df_fail(DF_ERR_ARG, "attack: bad arguments");
    atk_site_photo site;
    df_status s = atk_real_site_rgb8(&site, rgb, W, H, spec, o);
    if (!s) s = atk_real_crop(out, S, &site, W, H, cx, cy, side, o);
    atk_site_photo_free(&site);
    return s;
}
