/* Test helper for tests/js/mobilenet.test.mjs: MobileNet features of raw images.
 *   mobilenet_features WEIGHTS.dfw IN.f32 OUT.f32 B S
 * IN: B images [3, S, S] float32 little endian in [-1, 1]; OUT: B x D float32 features. */
#include <stdio.h>
#include <stdlib.h>

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

int main(int argc, char **argv) {
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
    FILE *out = fopen(argv[3], "wb");
    if (!out || fwrite(feat, sizeof(float), (size_t)B * D, out) != (size_t)B * D || fclose(out)) {
        fprintf(stderr, "mobilenet_features: cannot write %s\n", argv[3]);
        return 1;
    }
    free(feat);
    free(ibuf);
    free(wbuf);
    mobilenet_free(m);
    return 0;
}
