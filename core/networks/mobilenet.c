/* ImageNet MobileNet v1 forward (architecture and weight file in mobilenet.h). */
#include "mobilenet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfw.h"
#include "resample.h"

#define MN_LAYERS (1 + 2 * MOBILENET_BLOCKS)

static const int pw_base[MOBILENET_BLOCKS] = {64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};
static const int dw_stride[MOBILENET_BLOCKS] = {1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1};

typedef struct {
    char name[24];   /* Keras layer name: conv1, conv_dw_K, conv_pw_K */
    const char *kernel; /* Keras weight name after "<name>/" */
    df_conv cv;      /* pad: 1 for stride-1 3x3 ("same"), 0 for stride 2 (explicit bottom/right pad) */
    int w, b;        /* parameter indices (folded conv weight and bias) */
} mn_layer;

struct mobilenet {
    double alpha;
    int D;
    mn_layer L[MN_LAYERS];
    df_params p;
    size_t cap_act0, cap_act1, cap_pad, cap_ws, cap_inv, cap_pair, cap_tmp; /* floats allocated in the buffers below */
    float *act0, *act1, *pad, *ws, *resized;
    float *inv;                  /* perceptual: inverse channel norms [2, positions] of a tap */
    float *pair;                 /* perceptual: the two prepared images [2, 3, h, w] */
    float *tmp;                  /* perceptual: one resized image [3, rh, rw] */
};

/* Perceptual taps: layer indices into L (conv1 = 0, conv_pw_K = 2K). */
static const int taps[MOBILENET_PERCEPTUAL_LAYERS] = {0, 2, 6, 10, 22};

static df_status add(mobilenet *m, int i, const char *name, const char *kernel, int cin, int cout, int k, int stride,
                     int groups) {
    mn_layer *l = &m->L[i];
    snprintf(l->name, sizeof l->name, "%s", name);
    l->kernel = kernel;
    l->cv = (df_conv){cin, cout, k, k, stride, stride == 1 ? (k - 1) / 2 : 0, groups, DF_PAD_ZERO};
    char pn[DF_NAME_MAX];
    int wd[4] = {cout, cin / groups, k, k}, bd[1] = {cout};
    snprintf(pn, sizeof pn, "%s.w", name);
    l->w = df_params_declare(&m->p, pn, 4, wd);
    snprintf(pn, sizeof pn, "%s.b", name);
    l->b = df_params_declare(&m->p, pn, 1, bd);
    return l->w < 0 || l->b < 0 ? DF_ERR_ARG : DF_OK;
}

/* Copy the Keras tensors of layer l into its parameters and fold its batch norm. */
static df_status load_layer(mobilenet *m, const mn_layer *l, const dfw_file *f, float eps, float *bn) {
    char tn[96];
    const df_param_info *wi = &m->p.info[l->w];
    snprintf(tn, sizeof tn, "%s/%s", l->name, l->kernel);
    df_status s = dfw_read_tensor(f, tn, df_params_get(&m->p, l->w), 4, wi->dims);
    if (s) return s;
    static const char *bn_names[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    int C = l->cv.cout;
    for (int q = 0; q < 4; q++) {
        snprintf(tn, sizeof tn, "%s_bn/%s", l->name, bn_names[q]);
        if ((s = dfw_read_tensor(f, tn, bn + (size_t)q * C, 1, &C)) != DF_OK) return s;
    }
    for (int c = 0; c < C; c++)
        if (!(bn[3 * C + c] >= 0.0f) || !isfinite(bn[3 * C + c]))
            return df_fail(DF_ERR_FORMAT, "mobilenet: %s_bn/moving_variance has a negative or non-finite value", l->name);
    df_batchnorm_fold(df_params_get(&m->p, l->w), df_params_get(&m->p, l->b), bn, bn + C, bn + 2 * C, bn + 3 * C, eps,
                      C, (int)(wi->count / C));
    return DF_OK;
}

df_status mobilenet_load(mobilenet **out, const uint8_t *buf, size_t len) {
    if (!out) return df_fail(DF_ERR_ARG, "mobilenet: NULL output");
    *out = NULL;
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s) return s;
    char arch[64];
    double alpha = 0, eps = 0;
    if (dfw_meta_get(&f, "arch", arch, sizeof arch) != DF_OK || strcmp(arch, MOBILENET_ARCH) != 0) {
        dfw_free(&f);
        return df_fail(DF_ERR_UNSUPPORTED, "mobilenet: not a %s weight file (meta \"arch\")", MOBILENET_ARCH);
    }
    if (dfw_meta_float(&f, "alpha", &alpha) != DF_OK || dfw_meta_float(&f, "bn_eps", &eps) != DF_OK ||
        !(alpha == 0.25 || alpha == 0.5 || alpha == 0.75 || alpha == 1.0) || !(eps > 0 && eps < 1)) {
        dfw_free(&f);
        return df_fail(DF_ERR_FORMAT, "mobilenet: meta alpha must be 0.25, 0.5, 0.75 or 1 and bn_eps in (0, 1)");
    }
    mobilenet *m = calloc(1, sizeof *m);
    if (!m) {
        dfw_free(&f);
        return df_fail(DF_ERR_NOMEM, "mobilenet: out of memory");
    }
    m->alpha = alpha;
    int c = (int)(32 * alpha);
    s = add(m, 0, "conv1", "kernel", 3, c, 3, 2, 1);
    for (int k = 0; k < MOBILENET_BLOCKS && !s; k++) {
        char name[24];
        int co = (int)(pw_base[k] * alpha);
        snprintf(name, sizeof name, "conv_dw_%d", k + 1);
        s = add(m, 1 + 2 * k, name, "depthwise_kernel", c, c, 3, dw_stride[k], c);
        snprintf(name, sizeof name, "conv_pw_%d", k + 1);
        if (!s) s = add(m, 2 + 2 * k, name, "kernel", c, co, 1, 1, 1);
        c = co;
    }
    m->D = c;
    float *bn = malloc(4 * (size_t)m->D * sizeof(float)); /* the widest layer is the last */
    if (!s) s = df_params_alloc(&m->p, 0);
    if (!s && !bn) s = df_fail(DF_ERR_NOMEM, "mobilenet: out of memory");
    for (int i = 0; i < MN_LAYERS && !s; i++) s = load_layer(m, &m->L[i], &f, (float)eps, bn);
    free(bn);
    dfw_free(&f);
    if (s) {
        mobilenet_free(m);
        return s;
    }
    *out = m;
    return DF_OK;
}

void mobilenet_free(mobilenet *m) {
    if (!m) return;
    df_params_free(&m->p);
    free(m->act0);
    free(m->act1);
    free(m->pad);
    free(m->ws);
    free(m->resized);
    free(m->inv);
    free(m->pair);
    free(m->tmp);
    free(m);
}

int mobilenet_feature_dim(const mobilenet *m) { return m ? m->D : 0; }

/* Grow *p to hold n floats (contents are not kept). */
static int grow(float **p, size_t *cap, size_t n) {
    if (n <= *cap) return 1;
    float *q = malloc((n ? n : 1) * sizeof(float));
    if (!q) return 0;
    free(*p);
    *p = q;
    *cap = n;
    return 1;
}

/* Size the buffers for B images of H x W through layers 0..last (one planning walk). */
static df_status reserve(mobilenet *m, int B, int H, int W, int last) {
    int H0 = H, W0 = W;
    size_t act = 0, pad = 0, ws = 0;
    for (int i = 0; i <= last; i++) {
        const mn_layer *l = &m->L[i];
        int s2 = l->cv.stride == 2, Hp = H + s2, Wp = W + s2;
        int OH = df_conv_out(Hp, l->cv.kh, l->cv.stride, l->cv.pad), OW = df_conv_out(Wp, l->cv.kw, l->cv.stride, l->cv.pad);
        if (s2 && (size_t)l->cv.cin * Hp * Wp > pad) pad = (size_t)l->cv.cin * Hp * Wp;
        size_t w = df_conv2d_workspace(&l->cv, Hp, Wp);
        if (w > ws) ws = w;
        if ((size_t)l->cv.cout * OH * OW > act) act = (size_t)l->cv.cout * OH * OW;
        H = OH;
        W = OW;
    }
    if (!grow(&m->act0, &m->cap_act0, act * B) || !grow(&m->act1, &m->cap_act1, act * B) ||
        !grow(&m->pad, &m->cap_pad, pad * B) || !grow(&m->ws, &m->cap_ws, ws))
        return df_fail(DF_ERR_NOMEM, "mobilenet: cannot allocate activations for %d images of %d x %d", B, H0, W0);
    return DF_OK;
}

/* out [BC, H+1, W+1] = inp [BC, H, W] with one zero row at the bottom and one zero column at the right
 * (TensorFlow "same" padding of a 3x3 stride-2 window on an even size). */
static void pad_bottom_right(float *out, const float *inp, int BC, int H, int W) {
    for (int p = 0; p < BC; p++) {
        float *o = out + (size_t)p * (H + 1) * (W + 1);
        const float *s = inp + (size_t)p * H * W;
        for (int y = 0; y < H; y++) {
            memcpy(o + (size_t)y * (W + 1), s + (size_t)y * W, W * sizeof(float));
            o[(size_t)y * (W + 1) + W] = 0.0f;
        }
        memset(o + (size_t)H * (W + 1), 0, (W + 1) * sizeof(float));
    }
}

/* Perceptual term of one tap: a = [2, C, P] (the two images' activations); inv: scratch [2P].
 * Mean over the P positions of || a0/|a0| - a1/|a1| ||^2 (norms over the C channels, + 1e-10 as LPIPS). */
static double tap_distance(const float *a, int C, size_t P, float *inv) {
    const float *b = a + (size_t)C * P;
    float *ia = inv, *ib = inv + P;
    memset(inv, 0, 2 * P * sizeof(float));
    for (int c = 0; c < C; c++) {
        const float *ra = a + (size_t)c * P, *rb = b + (size_t)c * P;
        for (size_t p = 0; p < P; p++) {
            ia[p] += ra[p] * ra[p];
            ib[p] += rb[p] * rb[p];
        }
    }
    for (size_t p = 0; p < P; p++) {
        ia[p] = 1.0f / (sqrtf(ia[p]) + 1e-10f);
        ib[p] = 1.0f / (sqrtf(ib[p]) + 1e-10f);
    }
    double sum = 0;
    for (int c = 0; c < C; c++) {
        const float *ra = a + (size_t)c * P, *rb = b + (size_t)c * P;
        float row = 0;
        for (size_t p = 0; p < P; p++) {
            float d = ra[p] * ia[p] - rb[p] * ib[p];
            row += d * d;
        }
        sum += row;
    }
    return sum / (double)P;
}

/* Layers 0..last on x [B, 3, H, W] (H, W multiples of 32; buffers reserved).  Returns the last activation
 * [B, C, *oh, *ow].  layer_d (B = 2 only): the perceptual term of every tap up to last. */
static const float *forward(mobilenet *m, const float *x, int B, int H, int W, int last, int *oh, int *ow,
                            double *layer_d) {
    const float *in = x;
    float *bufs[2] = {m->act0, m->act1};
    for (int i = 0, t = 0; i <= last; i++) {
        const mn_layer *l = &m->L[i];
        float *out = bufs[i % 2];
        int Hc = H, Wc = W;
        if (l->cv.stride == 2) {
            pad_bottom_right(m->pad, in, B * l->cv.cin, H, W);
            in = m->pad;
            Hc = H + 1;
            Wc = W + 1;
        }
        int OH = df_conv_out(Hc, l->cv.kh, l->cv.stride, l->cv.pad), OW = df_conv_out(Wc, l->cv.kw, l->cv.stride, l->cv.pad);
        df_conv2d_forward(out, in, df_params_get(&m->p, l->w), df_params_get(&m->p, l->b), &l->cv, B, Hc, Wc, m->ws);
        df_act_forward(out, out, (size_t)B * l->cv.cout * OH * OW, DF_ACT_RELU6, 0.0f);
        in = out;
        H = OH;
        W = OW;
        if (layer_d && t < MOBILENET_PERCEPTUAL_LAYERS && taps[t] == i)
            layer_d[t++] = tap_distance(out, l->cv.cout, (size_t)H * W, m->inv);
    }
    *oh = H;
    *ow = W;
    return in;
}

/* x [B, 3, S, S] -> feat [B, D] */
df_status mobilenet_features(mobilenet *m, float *feat, const float *x, int B, int S) {
    if (!m || !feat || !x || B < 1) return df_fail(DF_ERR_ARG, "mobilenet: bad arguments");
    if (S < 32 || S > MOBILENET_MAX_SIDE || S % 32)
        return df_fail(DF_ERR_ARG, "mobilenet: size %d is not a multiple of 32 in 32..%d", S, MOBILENET_MAX_SIDE);
    df_status s = reserve(m, B, S, S, MN_LAYERS - 1);
    if (s) return s;
    int H, W;
    const float *last = forward(m, x, B, S, S, MN_LAYERS - 1, &H, &W, NULL);
    df_gap_forward(feat, last, B, m->D, H * W);
    return DF_OK;
}

void mobilenet_perceptual_size(int H, int W, int *rh, int *rw, int *ch, int *cw) {
    int h = H, w = W, big = H > W ? H : W;
    if (big > MOBILENET_MAX_SIDE) {
        double f = (double)MOBILENET_MAX_SIDE / big;
        h = (int)lround(H * f);
        w = (int)lround(W * f);
    }
    if (h < 32) h = 32;
    if (w < 32) w = 32;
    if (h > MOBILENET_MAX_SIDE) h = MOBILENET_MAX_SIDE;
    if (w > MOBILENET_MAX_SIDE) w = MOBILENET_MAX_SIDE;
    *rh = h;
    *rw = w;
    *ch = h - h % 32;
    *cw = w - w % 32;
}

/* dst [3, ch, cw] = the centred ch x cw window of src [3, h, w]. */
static void crop_centre(float *dst, const float *src, int h, int w, int ch, int cw) {
    int oy = (h - ch) / 2, ox = (w - cw) / 2;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < ch; y++)
            memcpy(dst + ((size_t)c * ch + y) * cw, src + ((size_t)c * h + oy + y) * w + ox, (size_t)cw * sizeof(float));
}

df_status mobilenet_perceptual(mobilenet *m, double *dist, double *layers, const float *x, const float *y, int H, int W) {
    if (!m || !dist || !x || !y || H < 1 || W < 1 || H > MOBILENET_MAX_INPUT || W > MOBILENET_MAX_INPUT)
        return df_fail(DF_ERR_ARG, "mobilenet: bad perceptual arguments (%d x %d; sides 1..%d)", H, W, MOBILENET_MAX_INPUT);
    *dist = NAN;
    size_t n = 3 * (size_t)H * W;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || !isfinite(y[i])) return df_fail(DF_ERR_ARG, "mobilenet: non-finite pixel in a perceptual input");
    int rh, rw, ch, cw;
    mobilenet_perceptual_size(H, W, &rh, &rw, &ch, &cw);
    int last = taps[MOBILENET_PERCEPTUAL_LAYERS - 1];
    size_t one = 3 * (size_t)ch * cw, rsz = 3 * (size_t)rh * rw;
    int resize = rh != H || rw != W;
    df_status s = reserve(m, 2, ch, cw, last);
    if (s) return s;
    if (!grow(&m->pair, &m->cap_pair, 2 * one) || !grow(&m->inv, &m->cap_inv, 2 * (size_t)(ch / 2) * (cw / 2)) ||
        (resize && !grow(&m->tmp, &m->cap_tmp, rsz)))
        return df_fail(DF_ERR_NOMEM, "mobilenet: out of memory for a perceptual pair of %d x %d", ch, cw);
    const float *img[2] = {x, y};
    for (int k = 0; k < 2; k++) {
        const float *src = img[k];
        if (resize) {
            if ((s = rs_resize_planar(m->tmp, rh, rw, src, 3, H, W, RS_TRIANGLE_AA)) != DF_OK) return s;
            src = m->tmp;
        }
        crop_centre(m->pair + k * one, src, rh, rw, ch, cw);
    }
    double d[MOBILENET_PERCEPTUAL_LAYERS], sum = 0;
    int oh, ow;
    forward(m, m->pair, 2, ch, cw, last, &oh, &ow, d);
    for (int t = 0; t < MOBILENET_PERCEPTUAL_LAYERS; t++) {
        sum += d[t];
        if (layers) layers[t] = d[t];
    }
    *dist = sum / MOBILENET_PERCEPTUAL_LAYERS;
    return DF_OK;
}

df_status mobilenet_features_image(mobilenet *m, float *feat, const float *img, int H, int W) {
    if (!m || !feat || !img || H < 1 || W < 1) return df_fail(DF_ERR_ARG, "mobilenet: bad arguments");
    const int S = MOBILENET_SIZE;
    if (H == S && W == S) return mobilenet_features(m, feat, img, 1, S);
    if (!m->resized && !(m->resized = malloc(3 * (size_t)S * S * sizeof(float))))
        return df_fail(DF_ERR_NOMEM, "mobilenet: out of memory");
    df_resize_bilinear_forward(m->resized, img, 3, H, W, S, S);
    return mobilenet_features(m, feat, m->resized, 1, S);
}
