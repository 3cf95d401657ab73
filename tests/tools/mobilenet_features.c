/* Test helper for tests/js/mobilenet.test.mjs: MobileNet features of raw images, and the perceptual distance.
 *   mobilenet_features WEIGHTS.dfw IN.f32 OUT.f32 B S
 * IN: B images [3, S, S] float32 little endian in [-1, 1]; OUT: B x D float32 features.
 *   mobilenet_features --perceptual WEIGHTS.dfw A.jpg B.jpg OUT.f32 [AMP ...]
 * Two photos of the same size (any format df_image_load reads): prints one JSON line with the sizes
 * (mobilenet_perceptual_size), the distance of A to B with its per-tap terms, of A to itself, and of A to A plus
 * uniform noise of each amplitude AMP (fixed seed; clipped to [-1, 1]); OUT: A and B as float32 [3, H, W]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "mobilenet.h"

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (b = malloc(n ? (size_t)n : 1)) && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (f) fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return b;
}

/* Write n0 floats of p0 and n1 of p1 (may be 0) to path; 0 on success (the message is printed here). */
static int write_floats(const char *path, const float *p0, size_t n0, const float *p1, size_t n1) {
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(p0, sizeof(float), n0, out) != n0 || (n1 && fwrite(p1, sizeof(float), n1, out) != n1) ||
        fclose(out)) {
        fprintf(stderr, "mobilenet_features: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static float *load_planar(const char *path, int *H, int *W) {
    df_image img;
    if (df_image_load(&img, path)) return NULL;
    float *x = malloc(3 * (size_t)img.w * img.h * sizeof(float));
    if (x) df_rgb8_to_planar(x, img.rgb, img.w, img.h, 3);
    *H = img.h;
    *W = img.w;
    df_image_free(&img);
    return x;
}

static int perceptual(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: mobilenet_features --perceptual WEIGHTS.dfw A B OUT.f32 [AMP ...]\n");
        return 2;
    }
    uint8_t *wbuf = NULL;
    size_t wlen = 0;
    mobilenet *m = NULL;
    int H, W, H2, W2;
    float *a = load_planar(argv[3], &H, &W), *b = load_planar(argv[4], &H2, &W2);
    if (!a || !b || H != H2 || W != W2 || !(wbuf = read_all(argv[2], &wlen)) || mobilenet_load(&m, wbuf, wlen)) {
        fprintf(stderr, "mobilenet_features: cannot read the inputs (or sizes differ): %s\n", df_errmsg());
        return 1;
    }
    size_t n = 3 * (size_t)H * W;
    int rh, rw, ch, cw;
    mobilenet_perceptual_size(H, W, &rh, &rw, &ch, &cw);
    double d, same, layers[MOBILENET_PERCEPTUAL_LAYERS];
    if (mobilenet_perceptual(m, &d, layers, a, b, H, W) || mobilenet_perceptual(m, &same, NULL, a, a, H, W)) {
        fprintf(stderr, "mobilenet_features: %s\n", df_errmsg());
        return 1;
    }
    printf("{\"H\": %d, \"W\": %d, \"rh\": %d, \"rw\": %d, \"ch\": %d, \"cw\": %d, \"distance\": %.9g, \"layers\": [",
           H, W, rh, rw, ch, cw, d);
    for (int t = 0; t < MOBILENET_PERCEPTUAL_LAYERS; t++) printf("%s%.9g", t ? ", " : "", layers[t]);
    printf("], \"identical\": %.9g, \"noise\": [", same);
    float *y = malloc(n * sizeof(float));
    if (!y) return 1;
    for (int k = 6; k < argc; k++) {
        float amp = (float)atof(argv[k]);
        uint32_t st = 12345;
        for (size_t i = 0; i < n; i++) {
            st = st * 1664525u + 1013904223u;
            float v = a[i] + amp * (2.0f * (float)(st >> 8) / 16777216.0f - 1.0f);
            y[i] = v < -1 ? -1 : v > 1 ? 1 : v;
        }
        if (mobilenet_perceptual(m, &d, NULL, a, y, H, W)) {
            fprintf(stderr, "mobilenet_features: %s\n", df_errmsg());
            return 1;
        }
        printf("%s[%g, %.9g]", k > 6 ? ", " : "", amp, d);
    }
    printf("]}\n");
    if (write_floats(argv[5], a, n, b, n)) return 1;
    free(y);
    free(a);
    free(b);
    free(wbuf);
    mobilenet_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--perceptual")) return perceptual(argc, argv);
    if (argc != 6) {
        fprintf(stderr, "usage: mobilenet_features WEIGHTS.dfw IN.f32 OUT.f32 B S\n");
        return 2;
    }
    int B = atoi(argv[4]), S = atoi(argv[5]);
    uint8_t *wbuf = NULL, *ibuf = NULL;
    size_t wlen = 0, ilen = 0;
    mobilenet *m = NULL;
    if (B < 1 || S < 1 || !(wbuf = read_all(argv[1], &wlen)) || !(ibuf = read_all(argv[2], &ilen))) {
        fprintf(stderr, "mobilenet_features: cannot read the inputs\n");
        return 1;
    }
    if (mobilenet_load(&m, wbuf, wlen)) {
        fprintf(stderr, "mobilenet_features: %s\n", df_errmsg());
        return 1;
    }
    if (ilen != (size_t)B * 3 * S * S * sizeof(float)) {
        fprintf(stderr, "mobilenet_features: %s has %zu bytes, expected %d images of 3x%dx%d floats\n", argv[2], ilen,
                B, S, S);
        return 1;
    }
    int D = mobilenet_feature_dim(m);
    float *feat = malloc((size_t)B * D * sizeof(float));
    if (!feat || mobilenet_features(m, feat, (const float *)(const void *)ibuf, B, S)) {
        fprintf(stderr, "mobilenet_features: %s\n", df_errmsg());
        return 1;
    }
    if (write_floats(argv[3], feat, (size_t)B * D, NULL, 0)) return 1;
    free(feat);
    free(ibuf);
    free(wbuf);
    mobilenet_free(m);
    return 0;
}
