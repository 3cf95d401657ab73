/* BlazeFace face detector: forward pass, anchors, decoding, weighted NMS, photos of any size (blazeface.h). */
#include "blazeface.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfw.h"
#include "resample.h"

#define BF_COORDS 16 /* regressor values per anchor: box (4) + 6 keypoints (12) */

typedef struct {
    df_conv dw, pw;
    int w_dw, w_pw, b_pw;
    int stride, skip; /* skip: 1 residual, 0 none */
} bf_block;

struct blazeface {
    int S, K, nb, stride;
    df_conv stem;
    int stem_w, stem_b;
    bf_block B[BF_MAX_BLOCKS];
    int head_block[2], A[2];
    df_conv cls[2], reg[2];
    int cls_w[2], cls_b[2], reg_w[2], reg_b[2];
    df_params p;
    int capH, capW;                              /* buffers below are sized for inputs up to capH x capW */
    float *act[3], *pad, *ws, *hcls[2], *hreg[2];
    float *img;                                  /* detector input [3, capH, capW] (blazeface_detect) */
    bf_face *cand;                               /* candidates of one view */
    int cap_cand;
};

/* ------------------------------------------------------------------ loading */
static df_status dims_of(const dfw_file *f, const char *name, int ndim, int *dims) {
    const dfw_tensor *t = dfw_find(f, name);
    if (!t) return df_fail(DF_ERR_FORMAT, "blazeface: tensor %s missing", name);
    if (t->ndim != ndim) return df_fail(DF_ERR_FORMAT, "blazeface: tensor %s has %d dimensions, not %d", name, t->ndim, ndim);
    for (int i = 0; i < ndim; i++) dims[i] = t->dims[i];
    return DF_OK;
}

/* Declare tensor `name` with the file's shape, which must be [o, i, k, k] with the given i (and k when k > 0). */
static df_status declare_conv(blazeface *m, const dfw_file *f, const char *name, int cin, int k, df_conv *cv, int *wi,
                              int *bi, int with_bias) {
    char tn[DF_NAME_MAX];
    int d[4];
    snprintf(tn, sizeof tn, "%s%s", name, with_bias ? ".w" : "");
    df_status s = dims_of(f, tn, 4, d);
    if (s) return s;
    int groups = with_bias ? 1 : cin;
    if (d[0] < 1 || d[0] > 4096 || d[1] != cin / groups || d[2] != d[3] || (k > 0 && d[2] != k) || d[2] < 1 || d[2] > 7 ||
        (groups > 1 && d[0] != cin))
        return df_fail(DF_ERR_FORMAT, "blazeface: tensor %s has shape [%d, %d, %d, %d], expected [*, %d, %s]", tn, d[0],
                       d[1], d[2], d[3], cin / groups, k == 3 ? "3, 3" : k == 1 ? "1, 1" : "K, K");
    *cv = (df_conv){cin, d[0], d[2], d[3], 1, 0, groups, DF_PAD_ZERO};
    if ((*wi = df_params_declare(&m->p, tn, 4, d)) < 0) return DF_ERR_ARG;
    if (with_bias) {
        snprintf(tn, sizeof tn, "%s.b", name);
        int bd[1] = {d[0]};
        if ((s = dims_of(f, tn, 1, d)) != DF_OK) return s;
        if (d[0] != bd[0]) return df_fail(DF_ERR_FORMAT, "blazeface: tensor %s has %d values, expected %d", tn, d[0], bd[0]);
        if ((*bi = df_params_declare(&m->p, tn, 1, bd)) < 0) return DF_ERR_ARG;
    }
    return DF_OK;
}

static df_status parse_structure(blazeface *m, const dfw_file *f) {
    char blocks[4 * BF_MAX_BLOCKS + 8], heads[32];
    long S;
    if (dfw_meta_int(f, "size", &S) != DF_OK || S < 32 || S > BF_MAX_INPUT)
        return df_fail(DF_ERR_FORMAT, "blazeface: meta \"size\" must be an integer in 32..%d", BF_MAX_INPUT);
    m->S = (int)S;
    if (dfw_meta_get(f, "blocks", blocks, sizeof blocks) != DF_OK)
        return df_fail(DF_ERR_FORMAT, "blazeface: meta \"blocks\" missing or longer than %d blocks", BF_MAX_BLOCKS);
    if (dfw_meta_get(f, "heads", heads, sizeof heads) != DF_OK ||
        sscanf(heads, "%d,%d", &m->head_block[0], &m->head_block[1]) != 2)
        return df_fail(DF_ERR_FORMAT, "blazeface: meta \"heads\" must be two block indices \"i,j\"");
    m->nb = 0;
    for (const char *p = blocks; *p;) {
        if (m->nb == BF_MAX_BLOCKS || (p[0] != '1' && p[0] != '2') || (p[1] != 'r' && p[1] != 'n') ||
            (p[2] != ',' && p[2] != 0))
            return df_fail(DF_ERR_FORMAT, "blazeface: meta \"blocks\" is not a list of up to %d of 1r, 1n, 2r, 2n",
                           BF_MAX_BLOCKS);
        m->B[m->nb].stride = p[0] - '0';
        m->B[m->nb].skip = p[1] == 'r';
        m->nb++;
        p += p[2] ? 3 : 2;
    }
    if (m->nb < 1 || m->head_block[0] < 0 || m->head_block[0] >= m->head_block[1] || m->head_block[1] != m->nb - 1)
        return df_fail(DF_ERR_FORMAT, "blazeface: heads %d,%d do not fit %d blocks (the second must be the last)",
                       m->head_block[0], m->head_block[1], m->nb);
    /* total stride: the stem halves, every stride-2 block halves again */
    m->stride = 2;
    for (int k = 0; k < m->nb; k++) m->stride *= m->B[k].stride;
    if (m->S % m->stride)
        return df_fail(DF_ERR_FORMAT, "blazeface: size %d is not a multiple of the network's stride %d", m->S, m->stride);
    return DF_OK;
}

df_status blazeface_load(blazeface **out, const uint8_t *buf, size_t len) {
    if (!out) return df_fail(DF_ERR_ARG, "blazeface: NULL output");
    *out = NULL;
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s) return s;
    char arch[64];
    if (dfw_meta_get(&f, "arch", arch, sizeof arch) != DF_OK || strcmp(arch, BLAZEFACE_ARCH) != 0) {
        dfw_free(&f);
        return df_fail(DF_ERR_UNSUPPORTED, "blazeface: not a %s weight file (meta \"arch\")", BLAZEFACE_ARCH);
    }
    blazeface *m = calloc(1, sizeof *m);
    if (!m) {
        dfw_free(&f);
        return df_fail(DF_ERR_NOMEM, "blazeface: out of memory");
    }
    s = parse_structure(m, &f);
    if (!s) s = declare_conv(m, &f, "stem", 3, 0, &m->stem, &m->stem_w, &m->stem_b, 1);
    if (!s && m->stem.kh % 2 == 0) s = df_fail(DF_ERR_FORMAT, "blazeface: the stem kernel must have an odd size");
    m->stem.stride = 2;
    int C = m->stem.cout;
    for (int k = 0; k < m->nb && !s; k++) {
        bf_block *b = &m->B[k];
        char name[DF_NAME_MAX];
        snprintf(name, sizeof name, "b%d.dw", k);
        s = declare_conv(m, &f, name, C, 3, &b->dw, &b->w_dw, NULL, 0);
        b->dw.stride = b->stride;
        b->dw.pad = b->stride == 1 ? 1 : 0; /* stride 2: explicit bottom/right pad */
        snprintf(name, sizeof name, "b%d.pw", k);
        if (!s) s = declare_conv(m, &f, name, C, 1, &b->pw, &b->w_pw, &b->b_pw, 1);
        if (!s && b->skip && b->pw.cout < C)
            s = df_fail(DF_ERR_FORMAT, "blazeface: block %d narrows %d -> %d channels around a skip", k, C, b->pw.cout);
        if (!s) C = b->pw.cout;
        for (int i = 0; i < 2 && !s; i++)
            if (m->head_block[i] == k) {
                snprintf(name, sizeof name, "cls%d", i);
                s = declare_conv(m, &f, name, C, 1, &m->cls[i], &m->cls_w[i], &m->cls_b[i], 1);
                snprintf(name, sizeof name, "reg%d", i);
                if (!s) s = declare_conv(m, &f, name, C, 1, &m->reg[i], &m->reg_w[i], &m->reg_b[i], 1);
                m->A[i] = m->cls[i].cout;
                if (!s && (m->A[i] > 64 || m->reg[i].cout != BF_COORDS * m->A[i]))
                    s = df_fail(DF_ERR_FORMAT, "blazeface: head %d has %d anchors per cell and %d regressor channels "
                                "(expected %d per anchor)", i, m->A[i], m->reg[i].cout, BF_COORDS);
            }
    }
    if (!s) s = df_params_alloc(&m->p, 0);
    if (!s) s = dfw_load_params(&f, &m->p);
    for (size_t i = 0; !s && i < m->p.total; i++)
        if (!isfinite(m->p.data[i])) s = df_fail(DF_ERR_FORMAT, "blazeface: a weight is not finite");
    dfw_free(&f);
    if (s) {
        blazeface_free(m);
        return s;
    }
    *out = m;
    return DF_OK;
}

static void free_buffers(blazeface *m) {
    for (int i = 0; i < 3; i++) free(m->act[i]), m->act[i] = NULL;
    for (int i = 0; i < 2; i++) free(m->hcls[i]), free(m->hreg[i]), m->hcls[i] = m->hreg[i] = NULL;
    free(m->pad), free(m->ws), free(m->img), free(m->cand);
    m->pad = m->ws = m->img = NULL;
    m->cand = NULL;
    m->capH = m->capW = m->cap_cand = 0;
}

void blazeface_free(blazeface *m) {
    if (!m) return;
    free_buffers(m);
    df_params_free(&m->p);
    free(m);
}

int blazeface_size(const blazeface *m) { return m ? m->S : 0; }
int blazeface_stride(const blazeface *m) { return m ? m->stride : 0; }

/* ------------------------------------------------------------------ anchors */
static df_status check_input(const blazeface *m, int H, int W) {
    if (H < m->stride || W < m->stride || H > BF_MAX_INPUT || W > BF_MAX_INPUT || H % m->stride || W % m->stride)
        return df_fail(DF_ERR_ARG, "blazeface: input %d x %d is not a multiple of %d in %d..%d", W, H, m->stride,
                       m->stride, BF_MAX_INPUT);
    return DF_OK;
}

/* Stride (input pixels per cell) of head i. */
static int head_stride(const blazeface *m, int i) {
    int t = 2;
    for (int k = 0; k <= m->head_block[i]; k++) t *= m->B[k].stride;
    return t;
}

int blazeface_anchors(const blazeface *m, int H, int W, float *xy, int cap) {
    if (!m) return df_fail(DF_ERR_ARG, "blazeface: NULL model"), -1;
    if (check_input(m, H, W)) return -1;
    int n = 0;
    for (int i = 0; i < 2; i++) {
        int t = head_stride(m, i), h = H / t, w = W / t;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int a = 0; a < m->A[i]; a++, n++)
                    if (xy && n < cap) xy[2 * n] = (x + 0.5f) * t, xy[2 * n + 1] = (y + 0.5f) * t;
    }
    return n;
}

/* ------------------------------------------------------------------ forward */
/* Size the buffers for an H x W input (one planning walk over the layers). */
static df_status reserve(blazeface *m, int H, int W) {
    if (H <= m->capH && W <= m->capW) return DF_OK;
    if (H < m->capH) H = m->capH;
    if (W < m->capW) W = m->capW;
    int P = m->stem.kh - 2;
    size_t act = 0, pad = (size_t)3 * (H + P) * (W + P), ws = df_conv2d_workspace(&m->stem, H + P, W + P), hc[2] = {1, 1}, hr[2] = {1, 1};
    int h = H / 2, w = W / 2;
    act = (size_t)m->stem.cout * h * w;
    for (int k = 0; k < m->nb; k++) {
        const bf_block *b = &m->B[k];
        int hp = b->stride == 2 ? h + 1 : h, wp = b->stride == 2 ? w + 1 : w;
        if (b->stride == 2 && (size_t)b->dw.cin * hp * wp > pad) pad = (size_t)b->dw.cin * hp * wp;
        size_t x = df_conv2d_workspace(&b->dw, hp, wp);
        if (x > ws) ws = x;
        h /= b->stride, w /= b->stride;
        if ((x = df_conv2d_workspace(&b->pw, h, w)) > ws) ws = x;
        if ((size_t)b->pw.cout * h * w > act) act = (size_t)b->pw.cout * h * w;
        if ((size_t)b->dw.cout * h * w > act) act = (size_t)b->dw.cout * h * w;
        for (int i = 0; i < 2; i++)
            if (m->head_block[i] == k) {
                hc[i] = (size_t)m->cls[i].cout * h * w, hr[i] = (size_t)m->reg[i].cout * h * w;
                if ((x = df_conv2d_workspace(&m->reg[i], h, w)) > ws) ws = x;
                if ((x = df_conv2d_workspace(&m->cls[i], h, w)) > ws) ws = x;
            }
    }
    if (act < (size_t)3 * H * W) act = (size_t)3 * H * W; /* run_view's crop uses act[0] before the forward */
    free_buffers(m);
    int ok = 1;
    for (int i = 0; i < 3; i++) ok &= (m->act[i] = malloc(act * sizeof(float))) != NULL;
    for (int i = 0; i < 2; i++) {
        ok &= (m->hcls[i] = malloc(hc[i] * sizeof(float))) != NULL;
        ok &= (m->hreg[i] = malloc(hr[i] * sizeof(float))) != NULL;
    }
    ok &= (m->pad = malloc(pad * sizeof(float))) != NULL;
    ok &= (m->ws = malloc((ws ? ws : 1) * sizeof(float))) != NULL;
    ok &= (m->img = malloc((size_t)3 * H * W * sizeof(float))) != NULL;
    m->cap_cand = blazeface_anchors(m, H, W, NULL, 0);
    ok &= (m->cand = malloc((size_t)m->cap_cand * sizeof(bf_face))) != NULL;
    if (!ok) {
        free_buffers(m);
        return df_fail(DF_ERR_NOMEM, "blazeface: cannot allocate buffers for a %d x %d input", W, H);
    }
    m->capH = H, m->capW = W;
    return DF_OK;
}

/* out [C, Hp, Wp] = in [C, h, w] at offset (top, left), zeros elsewhere. */
static void pad_planes(float *out, const float *in, int C, int h, int w, int Hp, int Wp, int top, int left) {
    memset(out, 0, (size_t)C * Hp * Wp * sizeof(float));
    for (int c = 0; c < C; c++)
        for (int y = 0; y < h; y++)
            memcpy(out + ((size_t)c * Hp + y + top) * Wp + left, in + ((size_t)c * h + y) * w, (size_t)w * sizeof(float));
}

/* out [C', h/s, w/s] = ReLU(out + skip of in [C, h, w]) (C <= C'): the skip is the input itself (s = 1) or its
 * 2x2/2 max pool; the channels C.. C'-1 of the skip are zero (ReLU only); in = NULL: no skip (ReLU only).  One
 * pass: the same values as adding the skip, then a separate ReLU pass. */
static inline float relu(float v) { return v > 0.0f ? v : 0.0f; }
static void skip_relu(float *out, const float *in, int C, int Co, int h, int w, int s) {
    int oh = h / s, ow = w / s;
    size_t plane = (size_t)oh * ow;
    for (int c = 0; c < Co; c++) {
        float *restrict op = out + (size_t)c * plane;
        if (!in || c >= C) {
            for (size_t i = 0; i < plane; i++) op[i] = relu(op[i]);
            continue;
        }
        const float *restrict ip = in + (size_t)c * h * w;
        if (s == 1) {
            for (size_t i = 0; i < plane; i++) op[i] = relu(op[i] + ip[i]);
            continue;
        }
        for (int y = 0; y < oh; y++) {
            const float *r0 = ip + (size_t)2 * y * w, *r1 = r0 + w;
            float *o = op + (size_t)y * ow;
            for (int x = 0; x < ow; x++) {
                float a = r0[2 * x] > r0[2 * x + 1] ? r0[2 * x] : r0[2 * x + 1];
                float b = r1[2 * x] > r1[2 * x + 1] ? r1[2 * x] : r1[2 * x + 1];
                o[x] = relu(o[x] + (a > b ? a : b));
            }
        }
    }
}

static void conv(const blazeface *m, float *out, const float *in, const df_conv *cv, int wi, int bi, int H, int W) {
    df_conv2d_forward(out, in, df_params_get(&m->p, wi), bi >= 0 ? df_params_get(&m->p, bi) : NULL, cv, 1, H, W, m->ws);
}

/* Keep the best `cap` candidates: insert f, replacing the worst when full. */
static void keep(bf_face *c, int *n, int cap, const bf_face *f) {
    if (*n < cap) {
        c[(*n)++] = *f;
        return;
    }
    int worst = 0;
    for (int i = 1; i < cap; i++)
        if (c[i].score < c[worst].score) worst = i;
    if (f->score > c[worst].score) c[worst] = *f;
}

/* Decode head i (maps h x w at stride t) into candidates with score >= min_score. */
static void decode_head(const blazeface *m, int i, int h, int w, float min_score, bf_face *out, int cap, int *n) {
    int t = head_stride(m, i), A = m->A[i];
    size_t hw = (size_t)h * w;
    float lmin = logf(min_score / (1.0f - min_score));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int a = 0; a < A; a++) {
                size_t p = (size_t)y * w + x;
                float logit = m->hcls[i][a * hw + p];
                if (!(logit >= lmin)) continue;
                logit = logit < -100.0f ? -100.0f : logit > 100.0f ? 100.0f : logit;
                const float *r = m->hreg[i] + (size_t)a * BF_COORDS * hw + p;
                float ax = (x + 0.5f) * t, ay = (y + 0.5f) * t, cx = ax + r[0], cy = ay + r[hw];
                float bw = r[2 * hw], bh = r[3 * hw];
                bf_face f = {cx - 0.5f * bw, cy - 0.5f * bh, cx + 0.5f * bw, cy + 0.5f * bh, 1.0f / (1.0f + expf(-logit)), {{0}}};
                for (int k = 0; k < BF_KEYPOINTS; k++)
                    f.kp[k][0] = ax + r[(4 + 2 * k) * hw], f.kp[k][1] = ay + r[(5 + 2 * k) * hw];
                keep(out, n, cap, &f);
            }
}

df_status blazeface_forward(blazeface *m, const float *x, int H, int W, float min_score, bf_face *out, int cap,
                            int *n) {
    if (!m || !x || !out || !n || cap < 1) return df_fail(DF_ERR_ARG, "blazeface: bad arguments");
    *n = 0;
    if (!(min_score > 0.0f && min_score < 1.0f)) return df_fail(DF_ERR_ARG, "blazeface: min_score must be in (0, 1)");
    df_status s = check_input(m, H, W);
    if (!s) s = reserve(m, H, W);
    if (s) return s;
    int P = m->stem.kh - 2;
    pad_planes(m->pad, x, 3, H, W, H + P, W + P, P / 2, P / 2);
    float *cur = m->act[0], *tmp = m->act[1], *nxt = m->act[2];
    conv(m, cur, m->pad, &m->stem, m->stem_w, m->stem_b, H + P, W + P);
    int h = H / 2, w = W / 2, C = m->stem.cout;
    skip_relu(cur, NULL, 0, C, h, w, 1);
    for (int k = 0; k < m->nb; k++) {
        const bf_block *b = &m->B[k];
        int oh = h / b->stride, ow = w / b->stride, Co = b->pw.cout;
        if (b->stride == 2) {
            pad_planes(m->pad, cur, C, h, w, h + 1, w + 1, 0, 0);
            conv(m, tmp, m->pad, &b->dw, b->w_dw, -1, h + 1, w + 1);
        } else
            conv(m, tmp, cur, &b->dw, b->w_dw, -1, h, w);
        conv(m, nxt, tmp, &b->pw, b->w_pw, b->b_pw, oh, ow);
        skip_relu(nxt, b->skip ? cur : NULL, C, Co, h, w, b->stride);
        float *t = cur;
        cur = nxt, nxt = t;
        h = oh, w = ow, C = Co;
        for (int i = 0; i < 2; i++)
            if (m->head_block[i] == k) {
                conv(m, m->hcls[i], cur, &m->cls[i], m->cls_w[i], m->cls_b[i], h, w);
                conv(m, m->hreg[i], cur, &m->reg[i], m->reg_w[i], m->reg_b[i], h, w);
                decode_head(m, i, h, w, min_score, out, cap, n);
            }
    }
    return DF_OK;
}

/* ------------------------------------------------------------------ weighted non-maximum suppression */
static double iou_d(const bf_face *a, const bf_face *b) {
    double ix = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), iy = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
    if (ix <= 0 || iy <= 0) return 0.0;
    double inter = ix * iy,
           uni = ((double)a->x1 - a->x0) * ((double)a->y1 - a->y0) + ((double)b->x1 - b->x0) * ((double)b->y1 - b->y0) - inter;
    return uni > 0 ? inter / uni : 0.0;
}

float bf_iou(const bf_face *a, const bf_face *b) { return (float)iou_d(a, b); }

static int by_score(const void *a, const void *b) {
    float x = ((const bf_face *)a)->score, y = ((const bf_face *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Take the best remaining detection and every remaining one that overlaps it by IoU > threshold (itself
 * included); output the best (weighted = 0) or, MediaPipe's WEIGHTED algorithm, their score-weighted mean box and
 * keypoints with the best score. */
int bf_nms(bf_face *f, int n, float thr, int weighted) {
    if (!f || n <= 0) return 0;
    qsort(f, (size_t)n, sizeof *f, by_score);
    int out = 0; /* f[0 .. out): merged detections; f[out .. out + n): the rest, best first */
    while (n > 0) {
        bf_face *r = f + out, best = r[0], acc = {0};
        float wsum = 0;
        int rest = 0;
        for (int i = 0; i < n; i++) {
            if (i > 0 && !(iou_d(&best, &r[i]) > thr)) { /* IoU in double: as a JavaScript reference */
                r[1 + rest++] = r[i]; /* 1 + rest <= i: compaction in place keeps the order */
                continue;
            }
            float s = r[i].score;
            wsum += s;
            acc.x0 += s * r[i].x0, acc.y0 += s * r[i].y0, acc.x1 += s * r[i].x1, acc.y1 += s * r[i].y1;
            for (int k = 0; k < BF_KEYPOINTS; k++) acc.kp[k][0] += s * r[i].kp[k][0], acc.kp[k][1] += s * r[i].kp[k][1];
        }
        if (weighted && wsum > 0) {
            best.x0 = acc.x0 / wsum, best.y0 = acc.y0 / wsum, best.x1 = acc.x1 / wsum, best.y1 = acc.y1 / wsum;
            for (int k = 0; k < BF_KEYPOINTS; k++) best.kp[k][0] = acc.kp[k][0] / wsum, best.kp[k][1] = acc.kp[k][1] / wsum;
        }
        f[out++] = best;
        n = rest;
    }
    return out;
}

int bf_drop_nested(bf_face *f, int n) {
    int out = 0;
    for (int i = 0; i < n; i++) {
        double si = fmax(f[i].x1 - f[i].x0, f[i].y1 - f[i].y0), ai = (double)(f[i].x1 - f[i].x0) * (f[i].y1 - f[i].y0);
        int nested = 0;
        for (int j = 0; j < n && !nested; j++) {
            double sj = fmax(f[j].x1 - f[j].x0, f[j].y1 - f[j].y0);
            if (j == i || !(si <= BF_NESTED_SIDE * sj) || !(ai > 0)) continue;
            double w = fmin(f[i].x1, f[j].x1) - fmax(f[i].x0, f[j].x0), h = fmin(f[i].y1, f[j].y1) - fmax(f[i].y0, f[j].y0);
            nested = w > 0 && h > 0 && w * h >= BF_NESTED_INSIDE * ai;
        }
        if (!nested) f[out++] = f[i];
    }
    return out;
}

/* ------------------------------------------------------------------ photos of any size */
/* The smallest face (box side, detector input pixels) the full-range model finds reliably, and the ratio of
 * face sizes one scale covers: a photo is searched at scales this far apart.  Tiles overlap by 1.5x the largest
 * face of their level (BF_MIN_FACE_PX * BF_LEVEL_RATIO), so a level may stretch to BF_LEVEL_STRETCH (faces up to
 * 108 input pixels, still whole in a tile) rather than add a level: a 4:3 photo searched for faces of 3 % of its
 * short side needs a ratio of 4.17 between the whole-photo view and the finest scale, one level, not two. */
#define BF_MIN_FACE_PX 24.0
#define BF_LEVEL_RATIO 4.0
#ifndef BF_LEVEL_STRETCH
#define BF_LEVEL_STRETCH 4.5
#endif
#define BF_VIEW_IOU 0.5f   /* the same face seen in two views */
#define BF_EDGE_MARGIN 2.0f /* input pixels: a box this close to a tile's inner edge is a cut face */

bf_opts bf_default_opts(void) {
    bf_opts o = {0.5f, 0.03f, BF_MAX_INPUT, 1024 * 512};
    return o;
}

/* One detector input: the photo rectangle [px0, px0 + pw) x [py0, py0 + ph) resampled to cw x ch pixels at
 * (ox, oy) of a tw x th input (the rest -1, black); cut[0..3]: the left, top, right, bottom input edges are
 * cuts through the photo (tiles), not its borders. */
typedef struct {
    double px0, py0, pw, ph;
    int cw, ch, ox, oy, tw, th;
    int cut[4];
} bf_view;

static df_status run_view(blazeface *m, const uint8_t *rgb, int W, int H, int channels, const bf_view *v,
                          float min_score, bf_face *faces, int cap, int *n) {
    df_status s = reserve(m, v->th, v->tw);
    if (s) return s;
    size_t np = (size_t)v->cw * v->ch, plane = (size_t)v->tw * v->th;
    float *crop = m->act[0]; /* scratch until the forward pass (reserve makes it hold [3, th, tw]) */
    if (v->px0 == 0 && v->py0 == 0 && v->pw == W && v->ph == H) {
        uint8_t *u8 = malloc(np * channels);
        if (!u8) return df_fail(DF_ERR_NOMEM, "blazeface: out of memory");
        s = rs_resize_u8(u8, v->cw, v->ch, rgb, W, H, channels, channels, RS_TRIANGLE_AA);
        for (size_t p = 0; !s && p < np; p++)
            for (int c = 0; c < 3; c++) crop[c * np + p] = u8[p * channels + c] / 127.5f - 1.0f;
        free(u8);
    } else
        s = rs_crop_u8_planar(crop, v->ch, v->cw, rgb, W, H, channels, v->px0, v->py0, v->pw, v->ph, RS_TRIANGLE_AA);
    if (s) return s;
    for (size_t i = 0; i < 3 * plane; i++) m->img[i] = -1.0f;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < v->ch; y++)
            memcpy(m->img + c * plane + (size_t)(y + v->oy) * v->tw + v->ox, crop + c * np + (size_t)y * v->cw,
                   (size_t)v->cw * sizeof(float));
    int nc = 0;
    if ((s = blazeface_forward(m, m->img, v->th, v->tw, min_score, m->cand, m->cap_cand, &nc)) != DF_OK) return s;
    nc = bf_nms(m->cand, nc, BF_NMS_IOU, 1);
    double sx = v->pw / v->cw, sy = v->ph / v->ch;
    for (int i = 0; i < nc; i++) {
        bf_face f = m->cand[i];
        if ((v->cut[0] && f.x0 < v->ox + BF_EDGE_MARGIN) || (v->cut[1] && f.y0 < v->oy + BF_EDGE_MARGIN) ||
            (v->cut[2] && f.x1 > v->ox + v->cw - BF_EDGE_MARGIN) || (v->cut[3] && f.y1 > v->oy + v->ch - BF_EDGE_MARGIN))
            continue;
        f.x0 = (float)(v->px0 + (f.x0 - v->ox) * sx), f.x1 = (float)(v->px0 + (f.x1 - v->ox) * sx);
        f.y0 = (float)(v->py0 + (f.y0 - v->oy) * sy), f.y1 = (float)(v->py0 + (f.y1 - v->oy) * sy);
        for (int k = 0; k < BF_KEYPOINTS; k++)
            f.kp[k][0] = (float)(v->px0 + (f.kp[k][0] - v->ox) * sx), f.kp[k][1] = (float)(v->py0 + (f.kp[k][1] - v->oy) * sy);
        keep(faces, n, cap, &f);
    }
    return DF_OK;
}

/* Tiles of a photo side L (input pixels Ls = L * sc) cut into n: the side t of each (a multiple of the stride, at
 * least Ls / n plus the overlaps), so that n tiles spread evenly from one end to the other overlap by >= overlap. */
static int tile_side(double Ls, int n, int stride, int overlap) {
    double need = n == 1 ? ceil(Ls) : ceil((Ls + (double)(n - 1) * overlap) / n);
    return ((int)need + stride - 1) / stride * stride;
}

/* Every tile of the photo at scale sc: the fewest input pixels in all (the network's time is proportional to
 * them), with sides up to max_tile and areas up to max_tile_area; along each axis n tiles of equal side spread
 * evenly, neighbours overlapping by `overlap` input pixels (a face that small lies whole in one of them). */
static df_status run_scale(blazeface *m, const uint8_t *rgb, int W, int H, int channels, double sc, const bf_opts *o,
                           bf_face *faces, int cap, int *n) {
    int overlap = (int)(BF_MIN_FACE_PX * BF_LEVEL_RATIO * 1.5), nx = 0, ny = 0, tw = 0, th = 0;
    double Lw = W * sc, Lh = H * sc, best = 0;
    /* a side of t >= overlap + stride advances, so counts up to Ls / stride + 1 cover every useful layout */
    int mx = (int)(Lw / m->stride) + 1, my = (int)(Lh / m->stride) + 1;
    for (int i = 1; i <= mx; i++) {
        int a = tile_side(Lw, i, m->stride, overlap);
        if (a > o->max_tile) continue;
        for (int j = 1; j <= my; j++) {
            int b = tile_side(Lh, j, m->stride, overlap);
            if (b > o->max_tile || (double)a * b > o->max_tile_area) continue;
            double px = (double)i * j * a * b;
            if (!nx || px < best) best = px, nx = i, ny = j, tw = a, th = b;
        }
    }
    if (!nx) return df_fail(DF_ERR_ARG, "blazeface: no tiling of a %d x %d photo at scale %g fits max_tile %d", W, H,
                            sc, o->max_tile);
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            bf_view v = {0, 0, W, H, 0, 0, 0, 0, tw, th, {i > 0, j > 0, i < nx - 1, j < ny - 1}};
            if (nx == 1)
                v.cw = (int)fmin(tw, fmax(1.0, round(W * sc)));
            else
                v.cw = tw, v.pw = tw / sc, v.px0 = i * (W - v.pw) / (nx - 1);
            if (ny == 1)
                v.ch = (int)fmin(th, fmax(1.0, round(H * sc)));
            else
                v.ch = th, v.ph = th / sc, v.py0 = j * (H - v.ph) / (ny - 1);
            df_status s = run_view(m, rgb, W, H, channels, &v, o->min_score, faces, cap, n);
            if (s) return s;
        }
    return DF_OK;
}

df_status blazeface_detect(blazeface *m, const uint8_t *rgb, int W, int H, int channels, const bf_opts *opts,
                           bf_face *faces, int cap, int *n) {
    if (!m || !rgb || !faces || !n || cap < 1) return df_fail(DF_ERR_ARG, "blazeface: bad arguments");
    *n = 0;
    bf_opts o = opts ? *opts : bf_default_opts();
    if (W < 1 || H < 1 || W > 65536 || H > 65536 || (channels != 3 && channels != 4))
        return df_fail(DF_ERR_ARG, "blazeface: photo %d x %d with %d channels (1..65536 pixels a side, 3 or 4 channels)",
                       W, H, channels);
    if (!(o.min_score > 0.0f && o.min_score < 1.0f) || !(o.min_face > 0.0f && o.min_face <= 1.0f))
        return df_fail(DF_ERR_ARG, "blazeface: min_score must be in (0, 1) and min_face in (0, 1]");
    if (o.max_tile < m->S || o.max_tile > BF_MAX_INPUT || o.max_tile % m->stride)
        return df_fail(DF_ERR_ARG, "blazeface: max_tile %d is not a multiple of %d in %d..%d", o.max_tile, m->stride,
                       m->S, BF_MAX_INPUT);
    if (o.max_tile_area < (long)m->S * m->S || o.max_tile_area > (long)BF_MAX_INPUT * BF_MAX_INPUT)
        return df_fail(DF_ERR_ARG, "blazeface: max_tile_area %ld is not in %ld..%ld pixels", o.max_tile_area,
                       (long)m->S * m->S, (long)BF_MAX_INPUT * BF_MAX_INPUT);
    /* the whole photo, letterboxed into S x S */
    int S = m->S, L = W > H ? W : H;
    double sc0 = (double)S / L;
    bf_view v = {0, 0, W, H, (int)fmax(1.0, round(W * sc0)), (int)fmax(1.0, round(H * sc0)), 0, 0, S, S, {0, 0, 0, 0}};
    v.cw = v.cw > S ? S : v.cw, v.ch = v.ch > S ? S : v.ch;
    v.ox = (S - v.cw) / 2, v.oy = (S - v.ch) / 2;
    df_status s = run_view(m, rgb, W, H, channels, &v, o.min_score, faces, cap, n);
    /* finer scales, down to faces of min_face at BF_MIN_FACE_PX input pixels (never above the photo's resolution) */
    double fpx = o.min_face * (W < H ? W : H), scf = fmin(1.0, BF_MIN_FACE_PX / fpx);
    if (!s && scf > sc0 * 1.25) {
        int levels = (int)ceil(log(scf / sc0) / log(BF_LEVEL_STRETCH));
        for (int l = 1; l <= levels && !s; l++)
            s = run_scale(m, rgb, W, H, channels, sc0 * pow(scf / sc0, (double)l / levels), &o, faces, cap, n);
    }
    if (s) {
        *n = 0;
        return s;
    }
    /* across scales and overlapping tiles: the best-scoring view of a face wins (no averaging of boxes that the
     * model predicted at different scales).  Views of one face overlap by far more than MediaPipe's 0.3, which
     * would also remove neighbours that one view's weighted NMS has already kept apart. */
    *n = bf_nms(faces, *n, BF_VIEW_IOU, 0);
    *n = bf_drop_nested(faces, *n);
    return DF_OK;
}
