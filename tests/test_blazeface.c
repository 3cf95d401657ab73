/* BlazeFace: anchors against MediaPipe's anchor spec, weighted NMS on hand-made boxes, bad sizes and bad weight
 * files refused, and (with the real weights, converted from ../shared when present) no face on a face-free
 * synthetic photo.  The comparison with the tfjs reference on real faces is tests/js/blazeface.test.mjs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blazeface.h"
#include "check.h"
#include "dfw.h"
#include "image.h"

/* Tensors "<name>.w" [dims] and "<name>.b" [dims[0]] of random data. */
static void add_conv(dfw_writer *w, const char *name, const int *dims, const float *data) {
    char tn[64];
    snprintf(tn, sizeof tn, "%s.w", name);
    dfw_writer_tensor(w, tn, 4, dims, data);
    snprintf(tn, sizeof tn, "%s.b", name);
    dfw_writer_tensor(w, tn, 1, dims, data);
}

/* A BlazeFace-shaped network with C channels everywhere and random weights: `blocks` as in the meta. */
static uint8_t *synthetic(const char *blocks, const char *heads, int S, int C, size_t *len, const char *bad) {
    dfw_writer w;
    dfw_writer_init(&w);
    dfw_writer_meta(&w, "arch", "blazeface");
    dfw_writer_meta_int(&w, "size", S);
    dfw_writer_meta(&w, "blocks", blocks);
    dfw_writer_meta(&w, "heads", heads);
    static float data[1 << 16];
    check_fill(data, sizeof data / sizeof *data, 7);
    for (size_t i = 0; i < sizeof data / sizeof *data; i++) data[i] *= 0.2f;
    int nb = ((int)strlen(blocks) + 1) / 3, h0, h1;
    sscanf(heads, "%d,%d", &h0, &h1);
    char name[64];
    int d[4] = {C, bad && !strcmp(bad, "stem") ? 4 : 3, 5, 5};
    add_conv(&w, "stem", d, data);
    for (int k = 0; k < nb; k++) {
        int dw[4] = {C, 1, 3, 3}, pw[4] = {C, C, 1, 1};
        snprintf(name, sizeof name, "b%d.dw", k);
        dfw_writer_tensor(&w, name, 4, dw, data);
        snprintf(name, sizeof name, "b%d.pw", k);
        add_conv(&w, name, pw, data);
    }
    for (int i = 0; i < 2; i++) {
        int A = i ? 6 : 2, cw[4] = {A, C, 1, 1}, rw[4] = {(bad && !strcmp(bad, "reg") ? 15 : 16) * A, C, 1, 1};
        snprintf(name, sizeof name, "cls%d", i);
        add_conv(&w, name, cw, data);
        snprintf(name, sizeof name, "reg%d", i);
        add_conv(&w, name, rw, data);
    }
    uint8_t *buf = NULL;
    if (dfw_writer_finish(&w, &buf, len) != DF_OK) buf = NULL;
    dfw_writer_free(&w);
    return buf;
}

/* MediaPipe's SsdAnchorsCalculator (fixed_anchor_size, anchor_offset 0.5, aspect_ratios {1}, interpolated scale
 * aspect ratio 1): layers of equal stride share a grid, each adds 2 anchors per cell.  Centres in pixels. */
static int mediapipe_anchors(const int *strides, int nl, int S, float *xy) {
    int n = 0;
    for (int l = 0; l < nl;) {
        int last = l, per = 0;
        while (last < nl && strides[last] == strides[l]) per += 2, last++;
        int fm = (S + strides[l] - 1) / strides[l];
        for (int y = 0; y < fm; y++)
            for (int x = 0; x < fm; x++)
                for (int a = 0; a < per; a++, n++)
                    xy[2 * n] = (x + 0.5f) / fm * S, xy[2 * n + 1] = (y + 0.5f) / fm * S;
        l = last;
    }
    return n;
}

/* The two models' block lists (as tools/convert_blazeface.mjs writes them). */
static const char *front_blocks = "1r,1r,2r,1r,1r,2r,1r,1r,1r,1r,1r,2r,1r,1r,1r,1r";
static char full_blocks[3 * 32];

static void test_anchors(void) {
    for (int k = 0; k < 32; k++) memcpy(full_blocks + 3 * k, k == 31 ? "2n" : k % 8 == 7 ? "2r," : "1r,", 3);
    struct { const char *blocks, *heads; int S, strides[4]; } models[2] = {
        {front_blocks, "10,15", 128, {8, 16, 16, 16}}, {full_blocks, "30,31", 256, {16, 32, 32, 32}}};
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *buf = synthetic(models[i].blocks, models[i].heads, models[i].S, 4, &len, NULL);
        blazeface *m = NULL;
        CHECK(buf && blazeface_load(&m, buf, len) == DF_OK, "synthetic model %d loads: %s", i, df_errmsg());
        free(buf);
        if (!m) continue;
        static float ours[2 * 4096], ref[2 * 4096];
        int n = blazeface_anchors(m, models[i].S, models[i].S, ours, 4096);
        int nr = mediapipe_anchors(models[i].strides, 4, models[i].S, ref);
        CHECK(n == 896 && nr == 896, "model %d: %d anchors, MediaPipe %d (896)", i, n, nr);
        int bad = 0;
        for (int j = 0; j < 2 * n && n == nr; j++) bad += fabsf(ours[j] - ref[j]) > 1e-4f;
        CHECK(bad == 0, "model %d: %d anchor coordinates differ from MediaPipe's", i, bad);
        /* a larger input is a larger grid of the same anchors */
        CHECK(blazeface_anchors(m, models[i].S, 2 * models[i].S, NULL, 0) == 2 * 896, "model %d: 2S wide input", i);
        CHECK(blazeface_stride(m) == models[i].strides[3], "model %d: stride %d", i, blazeface_stride(m));
        blazeface_free(m);
    }
}

static bf_face box(float x0, float y0, float x1, float y1, float s) {
    bf_face f = {x0, y0, x1, y1, s, {{0}}};
    for (int k = 0; k < BF_KEYPOINTS; k++) f.kp[k][0] = x0 + k, f.kp[k][1] = y0 + k;
    return f;
}

static void test_nms(void) {
    bf_face f[5] = {box(100, 100, 200, 200, 0.7f), box(10, 10, 50, 50, 0.6f), box(0, 0, 100, 100, 0.9f),
                    box(10, 0, 110, 100, 0.8f), box(60, 0, 160, 100, 0.95f)};
    /* sorted: 0.95 [60,160] overlaps [10,110] (IoU 50/150 = 0.33 > 0.3) and [0,100] (40/160 = 0.25, kept apart) */
    bf_face g[5];
    memcpy(g, f, sizeof f);
    int n = bf_nms(g, 5, 0.3f, 1);
    CHECK(n == 4, "weighted NMS: %d groups, expected 4", n);
    float w = 0.95f + 0.8f, x0 = (0.95f * 60 + 0.8f * 10) / w;
    CHECK(fabsf(g[0].x0 - x0) < 1e-4f && g[0].score == 0.95f, "weighted mean x0 %f (expected %f), score %f", g[0].x0,
          x0, g[0].score);
    CHECK(fabsf(g[0].kp[2][0] - (x0 + 2)) < 1e-4f, "keypoints are averaged with the box");
    /* then 0.9 [0,100] and [10,10,50,50] (IoU 0.16) stay apart, [100,200] touches nothing: 0.9, 0.7, 0.6 alone */
    CHECK(g[1].score == 0.9f && g[1].x0 == 0 && g[2].score == 0.7f && g[3].score == 0.6f && g[3].x1 == 50,
          "groups in score order (%f %f %f)", g[1].score, g[2].score, g[3].score);
    memcpy(g, f, sizeof f);
    n = bf_nms(g, 5, 0.3f, 0);
    CHECK(n == 4 && g[0].x0 == 60 && g[0].x1 == 160, "plain NMS keeps the best box unchanged (%d, %f)", n, g[0].x0);
    CHECK(fabsf(bf_iou(&f[2], &f[3]) - 90.0f / 110.0f) < 1e-6f, "IoU %f", bf_iou(&f[2], &f[3]));
    CHECK(bf_nms(g, 0, 0.3f, 1) == 0, "empty input");
}

/* Parts of a large face found again at a finer scale are dropped; overlapping neighbours and faces of similar size
 * stay, in their order. */
static void test_nested(void) {
    bf_face f[5] = {box(150, 150, 250, 250, 0.9f), box(100, 100, 500, 500, 0.8f), box(450, 450, 550, 550, 0.75f),
                    box(120, 120, 420, 420, 0.7f), box(600, 0, 700, 100, 0.6f)};
    int n = bf_drop_nested(f, 5);
    /* [150,250] lies inside [100,500] and is 1/4 of its side: dropped, although it scores higher; [450,550] is a
     * quarter inside: kept; [120,420] is inside but 3/4 of the side (not a part): kept; [600,700] apart: kept */
    CHECK(n == 4 && f[0].score == 0.8f && f[1].score == 0.75f && f[2].score == 0.7f && f[3].score == 0.6f,
          "nested faces: %d left (%f %f ...)", n, f[0].score, f[1].score);
    CHECK(bf_drop_nested(f, 0) == 0, "empty input");
}

static void expect_load_fails(const uint8_t *buf, size_t len, df_status want, const char *what) {
    blazeface *m = NULL;
    df_status s = blazeface_load(&m, buf, len);
    CHECK(s == want && m == NULL, "%s: status %d (expected %d): %s", what, s, want, df_errmsg());
    blazeface_free(m);
}

static void test_refused(void) {
    size_t len;
    uint8_t *buf = synthetic(front_blocks, "10,15", 128, 4, &len, NULL);
    expect_load_fails(buf, len / 2, DF_ERR_FORMAT, "truncated file");
    buf[len - 1] ^= 1;
    expect_load_fails(buf, len, DF_ERR_FORMAT, "corrupt data (checksum)");
    free(buf);
    struct { const char *blocks, *heads, *bad; int S; } cases[] = {
        {"1r,3r", "0,1", NULL, 64},       {"1r,2x", "0,1", NULL, 64}, {front_blocks, "15,10", NULL, 128},
        {front_blocks, "10,14", NULL, 128}, {front_blocks, "10,15", "stem", 128}, {front_blocks, "10,15", "reg", 128},
        {front_blocks, "10,15", NULL, 72}, /* not a multiple of the stride 16 */
        {front_blocks, "10,15", NULL, 4096},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf = synthetic(cases[i].blocks, cases[i].heads, cases[i].S, 4, &len, cases[i].bad);
        char what[64];
        snprintf(what, sizeof what, "bad file %zu", i);
        expect_load_fails(buf, len, DF_ERR_FORMAT, what);
        free(buf);
    }
    /* bad sizes and arguments on a good model */
    buf = synthetic(front_blocks, "10,15", 128, 4, &len, NULL);
    blazeface *m = NULL;
    CHECK(blazeface_load(&m, buf, len) == DF_OK, "good synthetic model: %s", df_errmsg());
    free(buf);
    if (!m) return;
    static float x[3 * 256 * 256];
    bf_face f[16];
    int n = -1;
    CHECK(blazeface_forward(m, x, 120, 128, 0.5f, f, 16, &n) == DF_ERR_ARG && n == 0, "H not a multiple of 16");
    CHECK(blazeface_forward(m, x, 128, 2048, 0.5f, f, 16, &n) == DF_ERR_ARG, "W above BF_MAX_INPUT");
    CHECK(blazeface_forward(m, x, 128, 128, 1.5f, f, 16, &n) == DF_ERR_ARG, "min_score above 1");
    CHECK(blazeface_forward(m, x, 128, 128, 0.5f, f, 16, &n) == DF_OK, "a 128 x 128 forward: %s", df_errmsg());
    CHECK(blazeface_anchors(m, 100, 128, NULL, 0) == -1, "anchors of a bad size");
    uint8_t rgb[32 * 24 * 4] = {0};
    bf_opts o = bf_default_opts();
    CHECK(blazeface_detect(m, rgb, 32, 24, 2, &o, f, 16, &n) == DF_ERR_ARG, "2 channels");
    CHECK(blazeface_detect(m, rgb, 0, 24, 3, &o, f, 16, &n) == DF_ERR_ARG, "width 0");
    CHECK(blazeface_detect(m, rgb, 100000, 24, 3, &o, f, 16, &n) == DF_ERR_ARG, "width 100000");
    o.max_tile = 100;
    CHECK(blazeface_detect(m, rgb, 32, 24, 3, &o, f, 16, &n) == DF_ERR_ARG, "max_tile not a multiple of 16");
    o = bf_default_opts();
    o.max_tile_area = 1000;
    CHECK(blazeface_detect(m, rgb, 32, 24, 3, &o, f, 16, &n) == DF_ERR_ARG, "max_tile_area below S x S");
    o.max_tile_area = 1L << 40;
    CHECK(blazeface_detect(m, rgb, 32, 24, 3, &o, f, 16, &n) == DF_ERR_ARG, "max_tile_area above the largest input");
    o = bf_default_opts();
    o.min_face = 0;
    CHECK(blazeface_detect(m, rgb, 32, 24, 3, &o, f, 16, &n) == DF_ERR_ARG, "min_face 0");
    o = bf_default_opts();
    CHECK(blazeface_detect(m, rgb, 32, 24, 4, &o, f, 16, &n) == DF_OK, "a 32 x 24 RGBA photo: %s", df_errmsg());
    blazeface_free(m);
}

/* The real full-range model: converted from ../shared into the build directory when absent. */
static void test_no_face(void) {
    const char *src = getenv("DF_SOURCE_DIR"), *build = getenv("DF_BUILD_DIR"), *shared = getenv("DF_SHARED_DIR");
    char path[4096], cmd[3 * 4096 + 64], model[4096];
    if (!src || !build || !shared) {
        printf("skip: no face on a face-free photo (run through ctest: DF_SOURCE_DIR, DF_BUILD_DIR, DF_SHARED_DIR)\n");
        return;
    }
    snprintf(path, sizeof path, "%s/blazeface.dfw", build);
    snprintf(model, sizeof model, "%s/models/human-models/blazeface.json", shared);
    FILE *t = fopen(path, "rb");
    if (!t && (t = fopen(model, "rb")) != NULL) {
        fclose(t);
        snprintf(cmd, sizeof cmd, "node '%s/tools/convert_blazeface.mjs' '%s' '%s'", src, model, path);
        if (system(cmd) != 0) printf("note: converting %s failed\n", model);
        t = fopen(path, "rb");
    }
    if (!t) {
        printf("skip: no face on a face-free photo (%s absent and %s cannot be converted)\n", path, model);
        return;
    }
    fclose(t);
    uint8_t *buf = NULL;
    size_t len = 0;
    blazeface *m = NULL;
    CHECK(df_read_file(path, 1 << 26, &buf, &len) == DF_OK && blazeface_load(&m, buf, len) == DF_OK,
          "real weights load: %s", df_errmsg());
    free(buf);
    if (!m) return;
    /* 1600 x 1200: gradients, a disc, stripes, checks and noise; large enough for the tiled finer scales */
    int W = 1600, H = 1200;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    unsigned s = 1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            s = s * 1664525u + 1013904223u;
            int n = (int)(s >> 28) - 8, v[3] = {x * 255 / W, y * 255 / H, 128};
            if ((x - 500) * (x - 500) + (y - 600) * (y - 600) < 200 * 200) v[0] = 220, v[1] = 60, v[2] = 40;
            if (y > 900) v[2] = ((x / 16) % 2) * 200;
            if (x > 1200 && y < 400) v[1] = (((x / 40) + (y / 40)) % 2) * 255;
            for (int c = 0; c < 3; c++) rgb[((size_t)y * W + x) * 3 + c] = (uint8_t)(v[c] + n < 0 ? 0 : v[c] + n > 255 ? 255 : v[c] + n);
        }
    bf_face f[64];
    int n = -1;
    bf_opts o = bf_default_opts();
    CHECK(blazeface_detect(m, rgb, W, H, 3, &o, f, 64, &n) == DF_OK, "detect: %s", df_errmsg());
    CHECK(n == 0, "%d faces on a face-free photo (best score %.3f)", n, n > 0 ? f[0].score : 0.0f);
    free(rgb);
    blazeface_free(m);
}

int main(void) {
    test_anchors();
    test_nms();
    test_nested();
    test_refused();
    test_no_face();
    return check_summary("test_blazeface");
}
