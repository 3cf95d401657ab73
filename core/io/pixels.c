/* 8-bit interleaved RGB or RGBA <-> float planar [3, H, W] in [-1, 1] (native and wasm: the browser hands
 * RGBA pixels to the core).  Forward: x / 127.5 - 1.  Back: (v + 1) * 127.5 rounded to nearest and clamped
 * to 0..255 (NaN -> 0); with stride 4 the alpha byte is set to 255. */
#include "image.h"

#include <stdlib.h>
#include <string.h>

void df_rgb8_to_planar(float *out, const uint8_t *rgb, int w, int h, int stride_px) {
    size_t n = (size_t)w * (size_t)h, s = (size_t)stride_px;
    for (int c = 0; c < 3; c++) {
        float *o = out + (size_t)c * n;
        for (size_t i = 0; i < n; i++) o[i] = (float)rgb[i * s + c] / 127.5f - 1.0f;
    }
}

void df_planar_to_rgb8(uint8_t *rgb, const float *in, int w, int h, int stride_px) {
    size_t n = (size_t)w * (size_t)h, s = (size_t)stride_px;
    for (int c = 0; c < 3; c++) {
        const float *p = in + (size_t)c * n;
        for (size_t i = 0; i < n; i++) {
            float v = (p[i] + 1.0f) * 127.5f;
            v = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f; /* NaN fails v > 0 */
            rgb[i * s + c] = (uint8_t)(v + 0.5f);
        }
    }
    if (stride_px == 4)
        for (size_t i = 0; i < n; i++) rgb[i * 4 + 3] = 255;
}

df_status df_box_shrink_rgba8(uint8_t *dst, const uint8_t *src, int w, int h, int f, int vx0, int vy0, int vx1,
                              int vy1) {
    if (!dst || !src) return df_fail(DF_ERR_ARG, "box shrink: NULL buffer");
    if (w < 1 || h < 1 || (double)w * h > DF_IMAGE_MAX_PIXELS)
        return df_fail(DF_ERR_ARG, "box shrink: image size %d x %d is out of range", w, h);
    if (f < 1 || f > 16) return df_fail(DF_ERR_ARG, "box shrink: factor %d not in 1..16", f);
    int vw = (w + f - 1) / f, vh = (h + f - 1) / f;
    if (vx0 < 0 || vy0 < 0 || vx1 > vw || vy1 > vh || vx0 > vx1 || vy0 > vy1)
        return df_fail(DF_ERR_ARG, "box shrink: box [%d, %d) x [%d, %d) is outside the %d x %d view", vx0, vx1, vy0,
                       vy1, vw, vh);
    int n = vx1 - vx0;
    if (n == 0) return DF_OK;
    uint32_t *acc = malloc((size_t)n * 4 * sizeof *acc);
    if (!acc) return df_fail(DF_ERR_NOMEM, "box shrink: out of memory");
    for (int vy = vy0; vy < vy1; vy++) {
        int ya = vy * f, yb = ya + f < h ? ya + f : h;
        memset(acc, 0, (size_t)n * 4 * sizeof *acc);
        for (int y = ya; y < yb; y++) {
            const uint8_t *row = src + ((size_t)y * w + (size_t)vx0 * f) * 4;
            if (f == 2 && (vx1 - 1) * 2 + 1 < w) { /* the display views' usual factor: no edge column */
                for (int k = 0; k < n; k++, row += 8)
                    for (int c = 0; c < 4; c++) acc[4 * k + c] += (uint32_t)row[c] + row[4 + c];
                continue;
            }
            for (int k = 0; k < n; k++) {
                int xb = w - (vx0 + k) * f;
                xb = xb < f ? xb : f;
                for (int j = 0; j < xb; j++, row += 4)
                    for (int c = 0; c < 4; c++) acc[4 * k + c] += row[c];
            }
        }
        uint8_t *d = dst + ((size_t)vy * vw + vx0) * 4;
        for (int k = 0; k < n; k++) {
            int xb = w - (vx0 + k) * f;
            uint32_t cnt = (uint32_t)(xb < f ? xb : f) * (uint32_t)(yb - ya), half = cnt >> 1;
            for (int c = 0; c < 4; c++) d[4 * k + c] = (uint8_t)((acc[4 * k + c] + half) / cnt);
        }
    }
    free(acc);
    return DF_OK;
}
