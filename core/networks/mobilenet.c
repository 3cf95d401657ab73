/* ImageNet MobileNet v1 forward (architecture and weight file in mobilenet.h). */
#include "mobilenet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfw.h"

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
    int capB, capS;              /* buffers below are sized for B <= capB images of S <= capS */
    float *act0, *act1, *pad, *ws, *resized;
};

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
    free(m);
}

int mobilenet_feature_dim(const mobilenet *m) { return m ? m->D : 0; }

/* Size the buffers for B images of S x S (one planning walk over the layers). */
static df_status reserve(mobilenet *m, int B, int S) {
    if (B <= m->capB && S <= m->capS) return DF_OK;
    if (B < m->capB) B = m->capB;
    if (S < m->capS) S = m->capS;
    size_t act = 0, pad = 0, ws = 0;
    int H = S;
    for (int i = 0; i < MN_LAYERS; i++) {
        const mn_layer *l = &m->L[i];
        int Hp = l->cv.stride == 2 ? H + 1 : H, OH = df_conv_out(Hp, l->cv.kh, l->cv.stride, l->cv.pad);
        if (l->cv.stride == 2 && (size_t)l->cv.cin * Hp * Hp > pad) pad = (size_t)l->cv.cin * Hp * Hp;
        size_t w = df_conv2d_workspace(&l->cv, Hp, Hp);
        if (w > ws) ws = w;
        if ((size_t)l->cv.cout * OH * OH > act) act = (size_t)l->cv.cout * OH * OH;
        H = OH;
    }
    float *a0 = malloc(act * B * sizeof(float)), *a1 = malloc(act * B * sizeof(float));
    float *pd = malloc(pad * B * sizeof(float)), *w = malloc((ws ? ws : 1) * sizeof(float));
    if (!a0 || !a1 || !pd || !w) {
        free(a0);
        free(a1);
        free(pd);
        free(w);
        return df_fail(DF_ERR_NOMEM, "mobilenet: cannot allocate activations for %d images of %d x %d", B, S, S);
    }
    free(m->act0);
    free(m->act1);
    free(m->pad);
    free(m->ws);
    m->act0 = a0;
    m->act1 = a1;
    m->pad = pd;
    m->ws = w;
    m->capB = B;
    m->capS = S;
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

/* x [B, 3, S, S] -> feat [B, D] */
df_status mobilenet_features(mobilenet *m, float *feat, const float *x, int B, int S) {
    if (!m || !feat || !x || B < 1) return df_fail(DF_ERR_ARG, "mobilenet: bad arguments");
    if (S < 32 || S > 1024 || S % 32) return df_fail(DF_ERR_ARG, "mobilenet: size %d is not a multiple of 32 in 32..1024", S);
    df_status s = reserve(m, B, S);
    if (s) return s;
    const float *in = x;
    float *bufs[2] = {m->act0, m->act1};
    int H = S;
    for (int i = 0; i < MN_LAYERS; i++) {
        const mn_layer *l = &m->L[i];
        float *out = bufs[i % 2];
        int Hc = H;
        if (l->cv.stride == 2) {
            pad_bottom_right(m->pad, in, B * l->cv.cin, H, H);
            in = m->pad;
            Hc = H + 1;
        }
        int OH = df_conv_out(Hc, l->cv.kh, l->cv.stride, l->cv.pad);
        df_conv2d_forward(out, in, df_params_get(&m->p, l->w), df_params_get(&m->p, l->b), &l->cv, B, Hc, Hc, m->ws);
        df_act_forward(out, out, (size_t)B * l->cv.cout * OH * OH, DF_ACT_RELU6, 0.0f);
        in = out;
        H = OH;
    }
    df_gap_forward(feat, in, B, m->D, H * H);
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
