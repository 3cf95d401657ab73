/* 8-bit interleaved RGB or RGBA <-> float planar [3, H, W] in [-1, 1] (native and wasm: the browser hands
 * RGBA pixels to the core).  Forward: x / 127.5 - 1.  Back: (v + 1) * 127.5 rounded to nearest and clamped
 * to 0..255 (NaN -> 0); with stride 4 the alpha byte is set to 255. */
#include "image.h"

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
