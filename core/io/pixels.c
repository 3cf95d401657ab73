/* 8-bit interleaved RGB or RGBA <-> float planar [3, H, W] in [-1, 1] (native and wasm: the browser hands
 * RGBA pixels to the core).  Forward: x / 127.5 - 1.  Back: (v + 1) * 127.5 rounded to nearest and clamped
 * to 0..255 (NaN -> 0); with stride 4 the alpha byte is set to 255. */
#include "image.h"

#include <stdlib.h>
#include <string.h>

#ifdef __wasm_simd128__
#include <wasm_simd128.h>

/* df_box_shrink_rgba8's factor 2 (the display views of photos up to 4096 pixels a side) for whole blocks: output
 * pixels [k0, k1) of row vy, four at a time, 16 bytes of each source row widened to 16 bits; the same rounding
 * ((sum + 2) >> 2).  Returns the first pixel not done. */
static int shrink2_row(uint8_t *d, const uint8_t *r0, const uint8_t *r1, int k0, int k1) {
    const v128_t two = wasm_i16x8_splat(2);
    int k = k0;
    for (; k + 4 <= k1; k += 4) {
        const uint8_t *a = r0 + (size_t)k * 8, *b = r1 + (size_t)k * 8;
        v128_t a0 = wasm_v128_load(a), a1 = wasm_v128_load(a + 16), b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 16);
        /* per source pixel pair (p0 p1 | p2 p3), the two rows' sums, 16 bits a channel */
        v128_t s0 = wasm_i16x8_add(wasm_u16x8_extend_low_u8x16(a0), wasm_u16x8_extend_low_u8x16(b0));   /* p0 p1 */
        v128_t s1 = wasm_i16x8_add(wasm_u16x8_extend_high_u8x16(a0), wasm_u16x8_extend_high_u8x16(b0)); /* p2 p3 */
        v128_t s2 = wasm_i16x8_add(wasm_u16x8_extend_low_u8x16(a1), wasm_u16x8_extend_low_u8x16(b1));   /* p4 p5 */
        v128_t s3 = wasm_i16x8_add(wasm_u16x8_extend_high_u8x16(a1), wasm_u16x8_extend_high_u8x16(b1)); /* p6 p7 */
        /* output pixel j = source pixels 2j and 2j + 1: the low and high halves of each pair added */
        v128_t o01 = wasm_i16x8_add(wasm_i64x2_shuffle(s0, s1, 0, 2), wasm_i64x2_shuffle(s0, s1, 1, 3));
        v128_t o23 = wasm_i16x8_add(wasm_i64x2_shuffle(s2, s3, 0, 2), wasm_i64x2_shuffle(s2, s3, 1, 3));
        o01 = wasm_u16x8_shr(wasm_i16x8_add(o01, two), 2);
        o23 = wasm_u16x8_shr(wasm_i16x8_add(o23, two), 2);
        wasm_v128_store(d + (size_t)k * 4, wasm_u8x16_narrow_i16x8(o01, o23));
    }
    return k;
}
#endif

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
#ifdef __wasm_simd128__
        if (f == 2 && yb - ya == 2 && (vx1 - 1) * 2 + 1 < w) { /* whole blocks: SIMD, then the rest below */
            const uint8_t *r0 = src + (size_t)ya * w * 4, *r1 = r0 + (size_t)w * 4;
            uint8_t *d = dst + (size_t)vy * vw * 4;
            for (int k = shrink2_row(d, r0, r1, vx0, vx1); k < vx1; k++)
                for (int c = 0; c < 4; c++)
                    d[4 * k + c] = (uint8_t)((r0[8 * k + c] + r0[8 * k + 4 + c] + r1[8 * k + c] + r1[8 * k + 4 + c] + 2) >> 2);
            continue;
        }
#endif
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

df_status df_diff_rgba8(const uint8_t *a, const uint8_t *b, int w, int h, int x0, int y0, int x1, int y1,
                        df_diff *out) {
    if (!a || !b || !out) return df_fail(DF_ERR_ARG, "diff: NULL buffer");
    if (w < 1 || h < 1 || (double)w * h > DF_IMAGE_MAX_PIXELS)
        return df_fail(DF_ERR_ARG, "diff: image size %d x %d is out of range", w, h);
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0, x1 = x1 > w ? w : x1, y1 = y1 > h ? h : y1;
    df_diff r = {0, 0.0, 0, w, h, 0, 0};
    for (int y = y0; y < y1; y++) {
        const uint8_t *pa = a + ((size_t)y * w + x0) * 4, *pb = b + ((size_t)y * w + x0) * 4;
        int row_changed = 0;
        for (int x = x0; x < x1; x++, pa += 4, pb += 4) {
            uint32_t u, v;
            memcpy(&u, pa, 4), memcpy(&v, pb, 4);
            if (u == v) continue;
            int m = 0;
            for (int c = 0; c < 3; c++) {
                int d = pa[c] - pb[c], ad = d < 0 ? -d : d;
                r.se += (double)(d * d);
                m = ad > m ? ad : m;
            }
            r.linf = m > r.linf ? m : r.linf;
            r.changed++;
            row_changed = 1;
            if (x < r.x0) r.x0 = x;
            if (x >= r.x1) r.x1 = x + 1;
        }
        if (row_changed) {
            if (y < r.y0) r.y0 = y;
            r.y1 = y + 1;
        }
    }
    *out = r;
    return DF_OK;
}
