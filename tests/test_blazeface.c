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
    CHECK(blazeface_forward(m, x, 128, 2 * BF_MAX_INPUT, 0.5f, f, 16, &n) == DF_ERR_ARG, "W above BF_MAX_INPUT");
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

/* ------------------------------------------------------------------ the fused pass against layer by layer */
/* A copy of tensor `name` of f (NULL if absent), its dims in d. */
static float *tensor(const dfw_file *f, const char *name, int *d) {
    const dfw_tensor *t = dfw_find(f, name);
    if (!t) return NULL;
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)(d[i] = t->dims[i]);
    float *p = malloc(n * sizeof(float));
    if (p) memcpy(p, t->data, n * sizeof(float));
    return p;
}

/* out [C, Hp, Wp] = in [C, h, w] at (top, left), zeros elsewhere. */
static void ref_pad(float *out, const float *in, int C, int h, int w, int Hp, int Wp, int top, int left) {
    memset(out, 0, (size_t)C * Hp * Wp * sizeof(float));
    for (int c = 0; c < C; c++)
        for (int y = 0; y < h; y++)
            memcpy(out + ((size_t)c * Hp + y + top) * Wp + left, in + ((size_t)c * h + y) * w, (size_t)w * sizeof(float));
}

/* conv `name` (.w/.b, or the bare tensor: depthwise, no bias) of in [C, H, W] into out. */
static void ref_conv(const dfw_file *f, const char *name, int depthwise, int stride, int pad, float *out,
                     const float *in, int H, int W) {
    char tn[64];
    int d[4], bd[1];
    snprintf(tn, sizeof tn, depthwise ? "%s" : "%s.w", name);
    float *w = tensor(f, tn, d), *b = NULL;
    if (!depthwise) {
        snprintf(tn, sizeof tn, "%s.b", name);
        b = tensor(f, tn, bd);
    }
    df_conv cv = {depthwise ? d[0] : d[1], d[0], d[2], d[3], stride, pad, depthwise ? d[0] : 1, DF_PAD_ZERO};
    float *ws = malloc((df_conv2d_workspace(&cv, H, W) + 1) * sizeof(float));
    df_conv2d_forward(out, in, w, b, &cv, 1, H, W, ws);
    free(w), free(b), free(ws);
}

/* The network of a .dfw layer by layer (the pass blazeface_forward fuses, as it was written before): the
 * candidates of x [3, H, W] decoded like blazeface_forward's, in anchor order (min_score low enough: every anchor). */
static int ref_forward(const uint8_t *buf, size_t len, const float *x, int H, int W, float min_score, bf_face *out) {
    dfw_file f;
    if (dfw_parse(&f, buf, len) != DF_OK) return -1;
    char blocks[256], heads[32];
    int h0, h1, d[4], nb = 0, st[64], sk[64], n = 0;
    dfw_meta_get(&f, "blocks", blocks, sizeof blocks);
    dfw_meta_get(&f, "heads", heads, sizeof heads);
    sscanf(heads, "%d,%d", &h0, &h1);
    for (const char *p = blocks; *p; p += p[2] ? 3 : 2) st[nb] = p[0] - '0', sk[nb++] = p[1] == 'r';
    free(tensor(&f, "stem.w", d));
    int K = d[2], P = K - 2, C = d[0], h = H / 2, w = W / 2, t = 2;
    size_t big = (size_t)(H + P) * (W + P) * 3 + (size_t)64 * H * W;
    float *xp = malloc(big * sizeof(float)), *cur = malloc(big * sizeof(float)), *tmp = malloc(big * sizeof(float)),
          *nxt = malloc(big * sizeof(float)), *hc = malloc(big * sizeof(float)), *hr = malloc(big * sizeof(float));
    ref_pad(xp, x, 3, H, W, H + P, W + P, P / 2, P / 2);
    ref_conv(&f, "stem", 0, 2, 0, cur, xp, H + P, W + P);
    for (size_t i = 0; i < (size_t)C * h * w; i++) cur[i] = cur[i] > 0 ? cur[i] : 0;
    for (int k = 0; k < nb; k++) {
        char name[32];
        int s = st[k], oh = h / s, ow = w / s;
        snprintf(name, sizeof name, "b%d.dw", k);
        if (s == 2) {
            ref_pad(xp, cur, C, h, w, h + 1, w + 1, 0, 0);
            ref_conv(&f, name, 1, 2, 0, tmp, xp, h + 1, w + 1);
        } else
            ref_conv(&f, name, 1, 1, 1, tmp, cur, h, w);
        snprintf(name, sizeof name, "b%d.pw.w", k);
        free(tensor(&f, name, d));
        int Co = d[0];
        snprintf(name, sizeof name, "b%d.pw", k);
        ref_conv(&f, name, 0, 1, 0, nxt, tmp, oh, ow);
        for (int c = 0; c < Co; c++)
            for (int y = 0; y < oh; y++)
                for (int xx = 0; xx < ow; xx++) {
                    float *o = nxt + ((size_t)c * oh + y) * ow + xx, v = *o;
                    if (sk[k] && c < C) {
                        const float *ip = cur + (size_t)c * h * w;
                        if (s == 1)
                            v += ip[(size_t)y * w + xx];
                        else {
                            float a = ip[(size_t)2 * y * w + 2 * xx], b = ip[(size_t)2 * y * w + 2 * xx + 1];
                            float e = ip[(size_t)(2 * y + 1) * w + 2 * xx], g = ip[(size_t)(2 * y + 1) * w + 2 * xx + 1];
                            a = a > b ? a : b, e = e > g ? e : g;
                            v += a > e ? a : e;
                        }
                    }
                    *o = v > 0 ? v : 0;
                }
        float *sw = cur;
        cur = nxt, nxt = sw;
        h = oh, w = ow, C = Co, t *= s;
        for (int i = 0; i < 2; i++) {
            if ((i ? h1 : h0) != k) continue;
            snprintf(name, sizeof name, "cls%d", i);
            ref_conv(&f, name, 0, 1, 0, hc, cur, h, w);
            snprintf(name, sizeof name, "cls%d.w", i);
            free(tensor(&f, name, d));
            int A = d[0];
            snprintf(name, sizeof name, "reg%d", i);
            ref_conv(&f, name, 0, 1, 0, hr, cur, h, w);
            size_t hw = (size_t)h * w;
            float lmin = logf(min_score / (1.0f - min_score));
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                    for (int a = 0; a < A; a++) {
                        size_t p = (size_t)y * w + xx;
                        float logit = hc[a * hw + p];
                        if (!(logit >= lmin)) continue;
                        const float *r = hr + (size_t)a * 16 * hw + p;
                        float ax = (xx + 0.5f) * t, ay = (y + 0.5f) * t;
                        bf_face fc = {ax + r[0] - 0.5f * r[2 * hw], ay + r[hw] - 0.5f * r[3 * hw], ax + r[0] + 0.5f * r[2 * hw],
                                      ay + r[hw] + 0.5f * r[3 * hw], 1.0f / (1.0f + expf(-logit)), {{0}}};
                        for (int q = 0; q < BF_KEYPOINTS; q++)
                            fc.kp[q][0] = ax + r[(4 + 2 * q) * hw], fc.kp[q][1] = ay + r[(5 + 2 * q) * hw];
                        out[n++] = fc;
                    }
        }
    }
    free(xp), free(cur), free(tmp), free(nxt), free(hc), free(hr);
    dfw_free(&f);
    return n;
}

/* blazeface_forward on x [3, H, W] (values in [-1, 1]) against ref_forward: the same candidates, box and
 * keypoints within 1e-3 (input pixels, relative above 1), scores within 1e-4. */
static void check_fused(const uint8_t *buf, size_t len, const float *x, int H, int W, float min_score, const char *what) {
    blazeface *m = NULL;
    CHECK(blazeface_load(&m, buf, len) == DF_OK, "%s: loads: %s", what, df_errmsg());
    if (!m) return;
    int na = blazeface_anchors(m, H, W, NULL, 0), n = -1;
    bf_face *a = malloc((size_t)na * sizeof *a), *b = malloc((size_t)na * sizeof *b);
    CHECK(blazeface_forward(m, x, H, W, min_score, a, na, &n) == DF_OK, "%s: forward %d x %d: %s", what, W, H, df_errmsg());
    int nr = ref_forward(buf, len, x, H, W, min_score, b);
    CHECK(n == nr && n > 0, "%s, %d x %d: %d candidates, layer by layer %d", what, W, H, n, nr);
    double worst = 0, worst_s = 0;
    for (int i = 0; i < n && n == nr; i++) {
        const float *p = &a[i].x0, *q = &b[i].x0; /* x0 y0 x1 y1 score kp */
        for (int j = 0; j < 5 + 2 * BF_KEYPOINTS; j++) {
            double e = fabs((double)p[j] - q[j]) / (1.0 + fabs((double)q[j]));
            if (j == 4) worst_s = fmax(worst_s, e);
            else worst = fmax(worst, e);
        }
    }
    CHECK(worst <= 1e-3 && worst_s <= 1e-4, "%s, %d x %d: largest difference %.3g (coordinates), %.3g (scores)", what, W,
          H, worst, worst_s);
    free(a), free(b);
    blazeface_free(m);
}

/* The fused forward pass equals the layer-by-layer one: both models' layouts with random weights, square and
 * wide inputs (rows that end in a partial vector), a network whose widths are not multiples of 4 and that widens
 * around a skip (the added channels get none) and narrows after a block without one. */
static void test_fused(void) {
    static float x[3 * 256 * 320];
    unsigned r = 3;
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) r = r * 1664525u + 1013904223u, x[i] = (float)(r >> 8) / 8388608.0f - 1.0f;
    size_t len;
    uint8_t *buf = synthetic(front_blocks, "10,15", 128, 4, &len, NULL);
    check_fused(buf, len, x, 128, 128, 1e-6f, "front layout");
    check_fused(buf, len, x, 96, 176, 1e-6f, "front layout");
    free(buf);
    buf = synthetic(full_blocks, "30,31", 256, 4, &len, NULL);
    check_fused(buf, len, x, 256, 320, 1e-6f, "full layout");
    free(buf);
    /* channels 6 (stem), 6, 10 (2r: 4 added without a skip), 10, 7 (2n), 7: stride 8 */
    dfw_writer wr;
    dfw_writer_init(&wr);
    dfw_writer_meta(&wr, "arch", "blazeface");
    dfw_writer_meta_int(&wr, "size", 64);
    dfw_writer_meta(&wr, "blocks", "1r,2r,1r,2n,1r");
    dfw_writer_meta(&wr, "heads", "2,4");
    static float data[1 << 14];
    check_fill(data, sizeof data / sizeof *data, 11);
    for (size_t i = 0; i < sizeof data / sizeof *data; i++) data[i] *= 0.3f;
    int C[6] = {6, 6, 10, 10, 7, 7}, stem[4] = {6, 3, 5, 5};
    add_conv(&wr, "stem", stem, data);
    char name[32];
    for (int k = 0; k < 5; k++) {
        int dw[4] = {C[k], 1, 3, 3}, pw[4] = {C[k + 1], C[k], 1, 1};
        snprintf(name, sizeof name, "b%d.dw", k);
        dfw_writer_tensor(&wr, name, 4, dw, data + 100 * k);
        snprintf(name, sizeof name, "b%d.pw", k);
        add_conv(&wr, name, pw, data + 1000 + 100 * k);
    }
    for (int i = 0; i < 2; i++) {
        int c = i ? 7 : 10, A = i ? 3 : 2, cw[4] = {A, c, 1, 1}, rw[4] = {16 * A, c, 1, 1};
        snprintf(name, sizeof name, "cls%d", i);
        add_conv(&wr, name, cw, data + 3000);
        snprintf(name, sizeof name, "reg%d", i);
        add_conv(&wr, name, rw, data + 4000);
    }
    buf = NULL;
    CHECK(dfw_writer_finish(&wr, &buf, &len) == DF_OK, "uneven model written");
    dfw_writer_free(&wr);
    check_fused(buf, len, x, 64, 64, 1e-6f, "uneven widths");
    check_fused(buf, len, x, 40, 104, 1e-6f, "uneven widths");
    free(buf);
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
    if (m) { /* the fused pass on the real weights: a smooth picture with an edge and noise */
        static float x[3 * 256 * 320];
        unsigned r = 9;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 256; y++)
                for (int xx = 0; xx < 320; xx++) {
                    r = r * 1664525u + 1013904223u;
                    x[((size_t)c * 256 + y) * 320 + xx] = 0.6f * sinf(0.03f * xx + c) * cosf(0.02f * y) +
                                                          (xx > 150 ? 0.2f : -0.2f) + (float)(r >> 8) / 8388608.0f * 0.1f - 0.05f;
                }
        check_fused(buf, len, x, 256, 320, 0.01f, "real weights");
    }
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
    test_fused();
    test_no_face();
    return check_summary("test_blazeface");
}
