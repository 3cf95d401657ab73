/* Gen: the perturbation generator (architecture in gen.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "resample.h"

/* One layer: [nearest-upsample x2] -> conv3x3 -> [instance norm] -> [ReLU | tanh*scale] -> [+ skip]. */
typedef struct {
    df_conv cv;
    int up, norm, act, skip; /* skip: index of the layer whose OUTPUT is added, or -1 */
    int w, g, b, bias;       /* parameter indices (-1 if absent) */
    int H, W;                /* input size (before upsampling) */
    int CH, CW;              /* conv input size (after upsampling) */
    int OH, OW;
    /* activations (arena) */
    const float *in;         /* layer input (previous output or x) */
    float *upo, *conv, *mean, *rstd, *norm_out, *out;
    /* gradients (arena) */
    float *dup, *dconv, *dnorm, *dout;
} gen_layer;

#define GEN_MAX_LAYERS (3 + 2 * GEN_NRES + 3 + 1)

struct gen_model {
    gen_config cfg;
    df_params p;
    int nl;
    gen_layer L[GEN_MAX_LAYERS];
    df_arena arena;
    int B, H, W;      /* planned size (0 = none) */
    float *ws;        /* conv workspace */
    float *ws_row;    /* one row for the delta's smoothing (W floats) */
    const float *x;   /* input of the last forward */
    int have_forward;
};

static const float IN_EPS = 1e-5f;

static int declare(df_params *p, const char *layer, const char *what, int ndim, int d0, int d1, int d2, int d3) {
    char name[DF_NAME_MAX];
    int dims[4] = {d0, d1, d2, d3};
    snprintf(name, sizeof name, "%s.%s", layer, what);
    return df_params_declare(p, name, ndim, dims);
}

static df_status add_layer(gen_model *g, const char *name, int cin, int cout, int stride, int up, int norm, int act,
                           int skip) {
    gen_layer *l = &g->L[g->nl++];
    memset(l, 0, sizeof *l);
    l->cv = (df_conv){cin, cout, 3, 3, stride, 1, 1, DF_PAD_ZERO};
    l->up = up;
    l->norm = norm;
    l->act = act;
    l->skip = skip;
    l->w = declare(&g->p, name, "w", 4, cout, cin, 3, 3);
    l->g = l->b = l->bias = -1;
    if (norm) {
        l->g = declare(&g->p, name, "gamma", 1, cout, 0, 0, 0);
        l->b = declare(&g->p, name, "beta", 1, cout, 0, 0, 0);
    } else {
        l->bias = declare(&g->p, name, "bias", 1, cout, 0, 0, 0);
    }
    if (l->w < 0 || (norm && (l->g < 0 || l->b < 0)) || (!norm && l->bias < 0)) return DF_ERR_ARG;
    return DF_OK;
}

static df_status build(gen_model *g) {
    int c = g->cfg.width;
    char name[32];
    df_status s = DF_OK;
    g->nl = 0;
    s |= add_layer(g, "enc1", 3, c, 2, 0, 1, DF_ACT_RELU, -1);
    s |= add_layer(g, "enc2", c, 2 * c, 2, 0, 1, DF_ACT_RELU, -1);
    s |= add_layer(g, "enc3", 2 * c, 4 * c, 2, 0, 1, DF_ACT_RELU, -1);
    for (int r = 0; r < GEN_NRES; r++) {
        int skip = g->nl - 1; /* output of the layer before the block */
        snprintf(name, sizeof name, "res%d.a", r + 1);
        s |= add_layer(g, name, 4 * c, 4 * c, 1, 0, 1, DF_ACT_RELU, -1);
        snprintf(name, sizeof name, "res%d.b", r + 1);
        s |= add_layer(g, name, 4 * c, 4 * c, 1, 0, 1, DF_ACT_NONE, skip);
    }
    s |= add_layer(g, "dec1", 4 * c, 2 * c, 1, 1, 1, DF_ACT_RELU, -1);
    s |= add_layer(g, "dec2", 2 * c, c, 1, 1, 1, DF_ACT_RELU, -1);
    s |= add_layer(g, "dec3", c, c, 1, 1, 1, DF_ACT_RELU, -1);
    s |= add_layer(g, "out", c, 3, 1, 0, 0, DF_ACT_TANH, -1);
    return s ? DF_ERR_ARG : DF_OK;
}

static df_status check_config(const gen_config *cfg) {
    if (!cfg || cfg->width < 1 || cfg->width > 256)
        return df_fail(DF_ERR_ARG, "gen: width must be in 1..256");
    if (!(cfg->out_scale > 0.0f && cfg->out_scale <= 2.0f))
        return df_fail(DF_ERR_ARG, "gen: out_scale must be in (0, 2]");
    if (cfg->chroma < GEN_CHROMA_FULL || cfg->chroma > GEN_CHROMA_HALF)
        return df_fail(DF_ERR_ARG, "gen: chroma mode must be 0 (full), 1 (none) or 2 (half resolution)");
    if (cfg->smooth < 0 || cfg->smooth > GEN_MAX_SMOOTH)
        return df_fail(DF_ERR_ARG, "gen: smooth must be in 0..%d blur passes", GEN_MAX_SMOOTH);
    return DF_OK;
}

static df_status gen_new(gen_model **out, const gen_config *cfg, int training) {
    *out = NULL;
    df_status s = check_config(cfg);
    if (s) return s;
    gen_model *g = calloc(1, sizeof *g);
    if (!g) return df_fail(DF_ERR_NOMEM, "gen: out of memory");
    g->cfg = *cfg;
    if ((s = build(g)) != DF_OK || (s = df_params_alloc(&g->p, training)) != DF_OK) {
        gen_free(g);
        return s;
    }
    *out = g;
    return DF_OK;
}

df_status gen_create(gen_model **out, const gen_config *cfg, uint64_t seed, int training) {
    df_status s = gen_new(out, cfg, training);
    if (s) return s;
    gen_model *g = *out;
    df_rng rng;
    df_rng_seed(&rng, seed);
    for (int i = 0; i < g->nl; i++) {
        gen_layer *l = &g->L[i];
        float *w = df_params_get(&g->p, l->w);
        size_t n = g->p.info[l->w].count;
        int fan_in = l->cv.cin * 9;
        /* He init; the output layer starts small so the first deltas are tiny. */
        float std = (l->act == DF_ACT_TANH ? 0.1f : 1.0f) * sqrtf(2.0f / (float)fan_in);
        for (size_t k = 0; k < n; k++) w[k] = std * df_rng_normal(&rng);
        if (l->norm) {
            float *gm = df_params_get(&g->p, l->g);
            for (int k = 0; k < l->cv.cout; k++) gm[k] = 1.0f;
        }
    }
    return DF_OK;
}

df_status gen_load(gen_model **out, const uint8_t *buf, size_t len, int training) {
    *out = NULL;
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s) return s;
    char arch[64];
    long width = 0, chroma = GEN_CHROMA_FULL, smooth = 0;
    double scale = 0;
    if (dfw_meta_get(&f, "arch", arch, sizeof arch) != DF_OK || strcmp(arch, GEN_ARCH) != 0) {
        dfw_free(&f);
        return df_fail(DF_ERR_UNSUPPORTED, "gen: not a Gen weight file (meta arch must be '%s')", GEN_ARCH);
    }
    if (dfw_meta_int(&f, "width", &width) != DF_OK || dfw_meta_float(&f, "out_scale", &scale) != DF_OK) {
        dfw_free(&f);
        return df_fail(DF_ERR_FORMAT, "gen: weight file lacks 'width' or 'out_scale' metadata");
    }
    if (width < 1 || width > 256) {
        dfw_free(&f);
        return df_fail(DF_ERR_FORMAT, "gen: width %ld out of range", width);
    }
    /* "chroma" is optional: files from before it are full-colour generators */
    if (dfw_meta_has(&f, "chroma") &&
        (dfw_meta_int(&f, "chroma", &chroma) != DF_OK || chroma < GEN_CHROMA_FULL || chroma > GEN_CHROMA_HALF)) {
        dfw_free(&f);
        return df_fail(DF_ERR_FORMAT, "gen: meta 'chroma' must be 0, 1 or 2");
    }
    if (dfw_meta_has(&f, "smooth") &&
        (dfw_meta_int(&f, "smooth", &smooth) != DF_OK || smooth < 0 || smooth > GEN_MAX_SMOOTH)) {
        dfw_free(&f);
        return df_fail(DF_ERR_FORMAT, "gen: meta 'smooth' must be in 0..%d", GEN_MAX_SMOOTH);
    }
    gen_config cfg = {(int)width, (float)scale, (int)chroma, (int)smooth};
    s = gen_new(out, &cfg, training);
    if (s == DF_OK) s = dfw_load_params(&f, &(*out)->p);
    if (s == DF_OK && training && dfw_find(&f, "opt.m/enc1.w")) {
        /* checkpoint: restore Adam moments */
        for (int i = 0; i < (*out)->p.n && s == DF_OK; i++) {
            df_param_info *t = &(*out)->p.info[i];
            char name[DF_NAME_MAX + 8];
            snprintf(name, sizeof name, "opt.m/%s", t->name);
            s = dfw_read_tensor(&f, name, (*out)->p.m + t->offset, t->ndim, t->dims);
            snprintf(name, sizeof name, "opt.v/%s", t->name);
            if (s == DF_OK) s = dfw_read_tensor(&f, name, (*out)->p.v + t->offset, t->ndim, t->dims);
        }
    }
    dfw_free(&f);
    if (s) {
        gen_free(*out);
        *out = NULL;
    }
    return s;
}

df_status gen_write_meta(const gen_model *g, dfw_writer *w) {
    df_status s = dfw_writer_meta(w, "arch", GEN_ARCH);
    if (!s) s = dfw_writer_meta_int(w, "width", g->cfg.width);
    if (!s) s = dfw_writer_meta_float(w, "out_scale", g->cfg.out_scale);
    if (!s) s = dfw_writer_meta_int(w, "res_blocks", GEN_NRES);
    if (!s && g->cfg.chroma) s = dfw_writer_meta_int(w, "chroma", g->cfg.chroma);
    if (!s && g->cfg.smooth) s = dfw_writer_meta_int(w, "smooth", g->cfg.smooth);
    return s;
}

df_status gen_save(const gen_model *g, int checkpoint, long step, uint8_t **out, size_t *outlen) {
    dfw_writer w;
    dfw_writer_init(&w);
    df_status s = gen_write_meta(g, &w);
    if (!s && checkpoint) s = dfw_writer_meta_int(&w, "step", step);
    if (!s) s = dfw_writer_params(&w, &g->p, checkpoint);
    if (!s) s = dfw_writer_finish(&w, out, outlen);
    dfw_writer_free(&w);
    return s;
}

void gen_free(gen_model *g) {
    if (!g) return;
    df_params_free(&g->p);
    df_arena_free(&g->arena);
    free(g);
}

void gen_release(gen_model *g) {
    if (!g) return;
    df_arena_free(&g->arena);
    g->B = g->H = g->W = 0;
    g->have_forward = 0;
}

const gen_config *gen_get_config(const gen_model *g) { return &g->cfg; }
df_params *gen_params(gen_model *g) { return &g->p; }

/* Inference needs only three rotating buffers: a layer's input, its output (conv, norm and activation run in place;
 * an upsampling layer reads its input directly, df_upconv3x3_forward, no upsampled copy) and a residual block's
 * skip.  Each buffer is sized by the largest output assigned to it: in the decoder two of them alternate, the
 * third serves only the residual blocks, so memory is about the two largest adjacent outputs. */
static void point_rotating(gen_model *g, int B) {
    int slot[GEN_MAX_LAYERS], cur = -1, live_skip = -1;
    size_t need[3] = {0, 0, 0};
    for (int i = 0; i < g->nl; i++) {
        gen_layer *l = &g->L[i];
        size_t nout = (size_t)B * l->cv.cout * l->OH * l->OW;
        int k = 0;
        while (k == cur || k == live_skip) k++;
        slot[i] = k;
        if (nout > need[k]) need[k] = nout;
        if (l->skip >= 0) live_skip = -1; /* consumed by this layer's add */
        for (int j = i + 1; j < g->nl; j++)
            if (g->L[j].skip == i) live_skip = k;
        cur = k;
    }
    float *buf[3];
    for (int k = 0; k < 3; k++) buf[k] = need[k] ? df_arena_floats(&g->arena, need[k]) : NULL;
    for (int i = 0; i < g->nl; i++) {
        gen_layer *l = &g->L[i];
        l->upo = NULL;
        l->conv = l->out = buf[slot[i]];
        l->norm_out = l->norm ? l->conv : NULL;
        l->dup = l->dconv = l->dnorm = l->dout = NULL;
    }
}

/* Walk the layers, computing sizes and (when the arena is live) pointing the activation buffers.
 * Training keeps every activation for backward; inference rotates three buffers (point_rotating), so memory grows
 * with the largest layers, not with the depth. */
static void point(gen_model *g, int B, int H, int W, int training) {
    df_arena *a = &g->arena;
    size_t ws = 0;
    int h = H, w = W;
    for (int i = 0; i < g->nl; i++) {
        gen_layer *l = &g->L[i];
        l->H = h;
        l->W = w;
        l->CH = l->up ? 2 * h : h;
        l->CW = l->up ? 2 * w : w;
        l->OH = df_conv_out(l->CH, 3, l->cv.stride, 1);
        l->OW = df_conv_out(l->CW, 3, l->cv.stride, 1);
        size_t nin = (size_t)B * l->cv.cin * l->CH * l->CW;
        size_t nout = (size_t)B * l->cv.cout * l->OH * l->OW;
        l->mean = l->norm ? df_arena_floats(a, (size_t)B * l->cv.cout) : NULL;
        l->rstd = l->norm ? df_arena_floats(a, (size_t)B * l->cv.cout) : NULL;
        if (training) {
            l->upo = l->up ? df_arena_floats(a, nin) : NULL;
            l->conv = df_arena_floats(a, nout);
            l->norm_out = l->norm ? df_arena_floats(a, nout) : NULL;
            l->out = df_arena_floats(a, nout);
            l->dup = l->up ? df_arena_floats(a, nin) : NULL;
            l->dconv = df_arena_floats(a, nout);
            l->dnorm = l->norm ? df_arena_floats(a, nout) : NULL;
            l->dout = df_arena_floats(a, nout);
        }
        size_t cw = l->up && !training ? df_upconv3x3_workspace(l->cv.cin, l->cv.cout, h, w)
                                       : df_conv2d_workspace(&l->cv, l->CH, l->CW);
        if (cw > ws) ws = cw;
        h = l->OH;
        w = l->OW;
    }
    if (!training) point_rotating(g, B);
    g->ws = df_arena_floats(a, ws ? ws : 1);
    g->ws_row = df_arena_floats(a, (size_t)W);
}

static df_status plan(gen_model *g, int B, int H, int W) {
    if (B < 1 || H < 8 || W < 8 || H % 8 || W % 8)
        return df_fail(DF_ERR_ARG, "gen: input must be B >= 1 images of H x W, multiples of 8 (got %d x %d x %d)", B,
                       H, W);
    if ((double)B * H * W > 64.0 * 1024 * 1024)
        return df_fail(DF_ERR_NOMEM, "gen: %d x %d x %d pixels is too large for one forward pass", B, H, W);
    if (g->B == B && g->H == H && g->W == W) return DF_OK;
    int training = g->p.grad != NULL;
    df_arena_plan(&g->arena);
    point(g, B, H, W, training);
    df_status s = df_arena_commit(&g->arena);
    if (s) {
        g->B = g->H = g->W = 0;
        return s;
    }
    point(g, B, H, W, training);
    g->B = B;
    g->H = H;
    g->W = W;
    return DF_OK;
}

double gen_flops(const gen_config *cfg, int H, int W) {
    gen_model tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.cfg = *cfg;
    if (build(&tmp) != DF_OK) return 0;
    double f = 0;
    int h = H, w = W;
    for (int i = 0; i < tmp.nl; i++) {
        gen_layer *l = &tmp.L[i];
        int ch = l->up ? 2 * h : h, cw = l->up ? 2 * w : w;
        int oh = df_conv_out(ch, 3, l->cv.stride, 1), ow = df_conv_out(cw, 3, l->cv.stride, 1);
        f += 2.0 * l->cv.cout * l->cv.cin * 9 * (double)oh * ow;
        h = oh;
        w = ow;
    }
    return f;
}

/* The chroma projection (gen.h) of d [B,3,H,W], in place (H, W even: gen_forward takes multiples of 8). */
static void shape_delta(int mode, float *d, int B, int H, int W) {
    if (mode == GEN_CHROMA_FULL) return;
    size_t HW = (size_t)H * W;
    for (int b = 0; b < B; b++) {
        float *r = d + (size_t)b * 3 * HW, *gr = r + HW, *bl = gr + HW;
        if (mode == GEN_CHROMA_NONE) {
            for (size_t k = 0; k < HW; k++) r[k] = gr[k] = bl[k] = (r[k] + gr[k] + bl[k]) * (1.0f / 3.0f);
            continue;
        }
        for (int y = 0; y < H; y += 2)
            for (int x = 0; x < W; x += 2) {
                float sum[3] = {0, 0, 0};
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        size_t k = (size_t)(y + dy) * W + x + dx;
                        float m = (r[k] + gr[k] + bl[k]) * (1.0f / 3.0f);
                        sum[0] += r[k] - m, sum[1] += gr[k] - m, sum[2] += bl[k] - m;
                    }
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        size_t k = (size_t)(y + dy) * W + x + dx;
                        float m = (r[k] + gr[k] + bl[k]) * (1.0f / 3.0f);
                        r[k] = m + 0.25f * sum[0], gr[k] = m + 0.25f * sum[1], bl[k] = m + 0.25f * sum[2];
                    }
            }
    }
}

/* One pass of the binomial blur [1 2 1] / 4 along x then y, zero padding, over B*3 planes of H x W in place
 * (tmp: one row of W floats).  A symmetric linear map: the backward pass applies the same passes. */
static void smooth_delta(int passes, float *d, int planes, int H, int W, float *tmp) {
    for (int p = 0; p < passes; p++)
        for (int c = 0; c < planes; c++) {
            float *pl = d + (size_t)c * H * W;
            for (int y = 0; y < H; y++) {
                float *r = pl + (size_t)y * W;
                for (int x = 0; x < W; x++)
                    tmp[x] = 0.25f * ((x > 0 ? r[x - 1] : 0.0f) + 2.0f * r[x] + (x + 1 < W ? r[x + 1] : 0.0f));
                memcpy(r, tmp, (size_t)W * sizeof(float));
            }
            for (int x = 0; x < W; x++) {
                float prev = 0.0f;
                for (int y = 0; y < H; y++) {
                    float cur = pl[(size_t)y * W + x], next = y + 1 < H ? pl[(size_t)(y + 1) * W + x] : 0.0f;
                    pl[(size_t)y * W + x] = 0.25f * (prev + 2.0f * cur + next);
                    prev = cur;
                }
            }
        }
}

df_status gen_forward(gen_model *g, float *delta, const float *x, int B, int H, int W) {
    df_status s = plan(g, B, H, W);
    if (s) return s;
    const float *in = x;
    for (int i = 0; i < g->nl; i++) {
        gen_layer *l = &g->L[i];
        int C = l->cv.cout, HW = l->OH * l->OW;
        size_t n = (size_t)B * C * HW;
        l->in = in;
        const float *wt = df_params_get(&g->p, l->w), *bias = l->bias >= 0 ? df_params_get(&g->p, l->bias) : NULL;
        if (l->up && !l->upo) { /* inference: the upsampling folded into the conv, no upsampled copy */
            df_upconv3x3_forward(l->conv, in, wt, bias, l->cv.cin, l->cv.cout, B, l->H, l->W, g->ws);
        } else {
            const float *cin = in;
            if (l->up) {
                df_upsample_nearest_forward(l->upo, in, B * l->cv.cin, l->H, l->W, 2);
                cin = l->upo;
            }
            df_conv2d_forward(l->conv, cin, wt, bias, &l->cv, B, l->CH, l->CW, g->ws);
        }
        const float *pre = l->conv;
        if (l->norm) {
            df_instnorm_forward(l->norm_out, l->mean, l->rstd, l->conv, df_params_get(&g->p, l->g),
                                df_params_get(&g->p, l->b), B, C, HW, IN_EPS);
            pre = l->norm_out;
        }
        df_act_forward(l->out, pre, n, (df_act)l->act, 0.0f);
        if (l->skip >= 0) df_add_forward(l->out, l->out, g->L[l->skip].out, n);
        in = l->out;
    }
    gen_layer *last = &g->L[g->nl - 1];
    size_t n = (size_t)B * 3 * H * W;
    for (size_t k = 0; k < n; k++) delta[k] = g->cfg.out_scale * last->out[k];
    shape_delta(g->cfg.chroma, delta, B, H, W);
    if (g->cfg.smooth) smooth_delta(g->cfg.smooth, delta, B * 3, H, W, g->ws_row);
    g->x = x;
    g->have_forward = 1;
    return DF_OK;
}

df_status gen_backward(gen_model *g, float *dx, const float *ddelta) {
    if (!g->have_forward) return df_fail(DF_ERR_ARG, "gen: backward without a forward");
    if (!g->p.grad) return df_fail(DF_ERR_ARG, "gen: model was not created for training");
    int B = g->B;
    for (int i = 0; i < g->nl; i++) {
        gen_layer *l = &g->L[i];
        memset(l->dout, 0, (size_t)B * l->cv.cout * l->OH * l->OW * sizeof(float));
    }
    gen_layer *last = &g->L[g->nl - 1];
    size_t nlast = (size_t)B * 3 * g->H * g->W;
    for (size_t k = 0; k < nlast; k++) last->dout[k] = g->cfg.out_scale * ddelta[k];
    /* the adjoint of smooth(chroma(.)) is chroma(smooth(.)): both maps are symmetric */
    if (g->cfg.smooth) smooth_delta(g->cfg.smooth, last->dout, B * 3, g->H, g->W, g->ws_row);
    shape_delta(g->cfg.chroma, last->dout, B, g->H, g->W);
    for (int i = g->nl - 1; i >= 0; i--) {
        gen_layer *l = &g->L[i];
        int C = l->cv.cout, HW = l->OH * l->OW;
        size_t n = (size_t)B * C * HW;
        if (l->skip >= 0) df_add_backward(NULL, g->L[l->skip].dout, l->dout, n);
        /* activation: out = act(pre) (before the skip add, whose gradient passes through unchanged) */
        const float *pre = l->norm ? l->norm_out : l->conv;
        float *dpre = l->norm ? l->dnorm : l->dconv;
        memset(dpre, 0, n * sizeof(float));
        if (l->act == DF_ACT_TANH) {
            /* l->out holds tanh(pre) (no skip on this layer) */
            df_act_backward(dpre, l->dout, pre, l->out, n, DF_ACT_TANH, 0.0f);
        } else {
            df_act_backward(dpre, l->dout, pre, pre, n, (df_act)l->act, 0.0f);
        }
        if (l->norm) {
            memset(l->dconv, 0, n * sizeof(float));
            df_instnorm_backward(l->dconv, g->p.grad + g->p.info[l->g].offset, g->p.grad + g->p.info[l->b].offset,
                                 l->dnorm, l->conv, l->mean, l->rstd, df_params_get(&g->p, l->g), B, C, HW);
        }
        float *dcin = NULL;
        if (i > 0 || dx) {
            if (l->up) {
                memset(l->dup, 0, (size_t)B * l->cv.cin * l->CH * l->CW * sizeof(float));
                dcin = l->dup;
            } else {
                dcin = i > 0 ? g->L[i - 1].dout : dx;
            }
        }
        const float *cin = l->up ? l->upo : l->in;
        float *dbias = l->bias >= 0 ? g->p.grad + g->p.info[l->bias].offset : NULL;
        df_conv2d_backward(dcin, g->p.grad + g->p.info[l->w].offset, dbias, l->dconv, cin,
                           df_params_get(&g->p, l->w), &l->cv, B, l->CH, l->CW, g->ws);
        if (l->up && dcin) {
            float *dprev = i > 0 ? g->L[i - 1].dout : dx;
            df_upsample_nearest_backward(dprev, l->dup, B * l->cv.cin, l->H, l->W, 2);
        }
    }
    return DF_OK;
}

/* Edge-replicate x [3,H,W] into xp [3,PH,PW]. */
static void pad_edge(float *xp, const float *x, int H, int W, int PH, int PW) {
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < PH; y++) {
            const float *src = x + ((size_t)c * H + (y < H ? y : H - 1)) * W;
            float *dst = xp + ((size_t)c * PH + y) * PW;
            memcpy(dst, src, (size_t)W * sizeof(float));
            for (int xx = W; xx < PW; xx++) dst[xx] = src[W - 1];
        }
}

/* Gen on one image of any size: delta [3,H,W] (unclipped). tmp needs 2 * 3 * PH * PW floats. */
static df_status run_any_size(gen_model *g, float *delta, const float *x, int H, int W) {
    int PH = (H + 7) / 8 * 8, PW = (W + 7) / 8 * 8;
    if (PH < 8) PH = 8;
    if (PW < 8) PW = 8;
    if (PH == H && PW == W) return gen_forward(g, delta, x, 1, H, W);
    size_t np = (size_t)3 * PH * PW;
    float *xp = malloc(2 * np * sizeof(float));
    if (!xp) return df_fail(DF_ERR_NOMEM, "gen: out of memory for a %d x %d image", W, H);
    float *dp = xp + np;
    pad_edge(xp, x, H, W, PH, PW);
    df_status s = gen_forward(g, dp, xp, 1, PH, PW);
    if (!s)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < H; y++)
                memcpy(delta + ((size_t)c * H + y) * W, dp + ((size_t)c * PH + y) * PW, (size_t)W * sizeof(float));
    free(xp);
    g->have_forward = 0; /* the saved input pointer is gone */
    return s;
}

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

df_status gen_protect(gen_model *g, float *x_adv, const float *x, int H, int W, float eps) {
    if (!g || !x_adv || !x || H < 1 || W < 1) return df_fail(DF_ERR_ARG, "gen_protect: bad arguments");
    if (!(eps >= 0.0f && eps <= 2.0f)) return df_fail(DF_ERR_ARG, "gen_protect: eps must be in [0, 2]");
    df_status s = run_any_size(g, x_adv, x, H, W);
    if (s) return s;
    size_t n = (size_t)3 * H * W;
    for (size_t k = 0; k < n; k++) x_adv[k] = clampf(x[k] + clampf(x_adv[k], -eps, eps), -1.0f, 1.0f);
    return DF_OK;
}

/* Output rows of gen_protect_rgb8: the upsampled delta clipped to eps, added to the input row, rounded. */
typedef struct {
    uint8_t *out;
    const uint8_t *in;
    int W, H, stride_px;
    float eps;
    void (*progress)(void *, float);
    void *pctx;
} protect_rows;

static void protect_row(void *vctx, int y, const float *d) {
    const protect_rows *c = vctx;
    int W = c->W, st = c->stride_px;
    const uint8_t *ip = c->in + (size_t)y * W * st;
    uint8_t *op = c->out + (size_t)y * W * st;
    for (int ch = 0; ch < 3; ch++)
        for (int x = 0; x < W; x++) {
            float dv = clampf(d[(size_t)ch * W + x], -c->eps, c->eps);
            float v = ip[(size_t)x * st + ch] + dv * 127.5f;
            op[(size_t)x * st + ch] = (uint8_t)lrintf(clampf(v, 0.0f, 255.0f));
        }
    if (st == 4)
        for (int x = 0; x < W; x++) op[(size_t)x * 4 + 3] = ip[(size_t)x * 4 + 3];
    if (c->progress && (y & 255) == 0) c->progress(c->pctx, 0.8f + 0.2f * (float)y / c->H);
}

df_status gen_protect_rgb8(gen_model *g, uint8_t *out, const uint8_t *in, int W, int H, int stride_px, float eps,
                           int work_side, void (*progress)(void *, float), void *pctx) {
    if (!g || !out || !in) return df_fail(DF_ERR_ARG, "protect: NULL argument");
    if (W < 1 || H < 1 || (double)W * H > 100e6)
        return df_fail(DF_ERR_ARG, "protect: image size %d x %d is out of range (1 .. 100 megapixels)", W, H);
    if (stride_px != 3 && stride_px != 4) return df_fail(DF_ERR_ARG, "protect: stride must be 3 (RGB) or 4 (RGBA)");
    if (!(eps >= 0.0f && eps <= 2.0f)) return df_fail(DF_ERR_ARG, "protect: eps must be in [0, 2]");
    if (work_side < 0) return df_fail(DF_ERR_ARG, "protect: work_side must be >= 0");
    int w = W, h = H;
    if (work_side > 0 && (W > work_side || H > work_side)) {
        double f = (double)work_side / (W > H ? W : H);
        w = (int)lround(W * f);
        h = (int)lround(H * f);
        if (w < 1) w = 1;
        if (h < 1) h = 1;
        if ((double)W / w > RS_MAX_SHRINK || (double)H / h > RS_MAX_SHRINK)
            return df_fail(DF_ERR_ARG, "protect: a working side of %d is too small for a %d x %d photo (at most a %gx "
                                       "shrink: %d or more)", work_side, W, H, RS_MAX_SHRINK,
                           (int)ceil((W > H ? W : H) / RS_MAX_SHRINK));
    }
    size_t nw = (size_t)3 * w * h;
    float *xs = malloc(2 * nw * sizeof(float));
    if (!xs) return df_fail(DF_ERR_NOMEM, "protect: out of memory for the working image (%d x %d)", w, h);
    float *ds = xs + nw;
    if (progress) progress(pctx, 0.0f);
    df_status s = rs_crop_u8_planar(xs, h, w, in, W, H, stride_px, 0, 0, W, H, RS_AREA); /* area average */
    if (s) {
        free(xs);
        return s;
    }
    if (progress) progress(pctx, 0.05f);
    s = run_any_size(g, ds, xs, h, w);
    /* a large working size's activations (84 MB at 1024 x 1024) are not kept for the next photo, whose faces
     * need a fraction of them: the memory goes back to the allocator */
    if ((size_t)w * h > (size_t)512 * 512) gen_release(g);
    if (s) {
        free(xs);
        return s;
    }
    if (progress) progress(pctx, 0.8f);
    for (size_t k = 0; k < nw; k++) ds[k] = clampf(ds[k], -eps, eps);
    /* the delta upsampled with Catmull-Rom, streamed in rows (resample.h), clipped again at full resolution: as
     * gen_faces delivers a face's delta (GF_UP_KERNEL), whose fine structure must survive the attacker's resize
     * (on 60 CelebA photos protected whole as one face crop, through the attacker's jittered crop: 37 / 3 / 45 %
     * of the zoo's edits broken at 36.4 dB, against 27 / 3 / 30 % at 36.8 dB with bilinear) */
    protect_rows pr = {out, in, W, H, stride_px, eps, progress, pctx};
    s = rs_upsample_rows(ds, 3, h, w, W, H, RS_BICUBIC_AA, protect_row, &pr);
    if (s) {
        free(xs);
        return s;
    }
    if (progress) progress(pctx, 1.0f);
    free(xs);
    return DF_OK;
}
