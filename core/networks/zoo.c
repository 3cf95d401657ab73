/* The zoo: three families of face-attribute editors plus a shared PatchGAN discriminator (see zoo.h).
 *
 * Every network is a table of layers ({conv | transposed conv} -> [instance norm | AdaIN] -> [activation]) whose
 * forward and backward are one generic pair (zl_forward / zl_backward); each family wires its layers, concats,
 * attribute planes and residual sums by hand in its own forward/backward pair, llm.c style.
 * Activations live in per-slot arenas sized by a planning pass (the layout functions run twice: plan, commit);
 * gradient buffers live in a second arena that is laid out on the first backward, so inference-only use
 * (the browser) never pays for them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zoo.h"

const char *const zoo_attr_names[ZOO_NATTR] = {"Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"};
static const char *const family_arch[ZOO_NFAMILIES] = {"zoo-stargan", "zoo-attgan", "zoo-style"};

#define ZMAX_LAYERS 48
#define ZMAX_RES 16
#define ZMAP_HIDDEN 64
static const float IN_EPS = 1e-5f;

enum { ZN_NONE = 0, ZN_IN = 1, ZN_ADAIN = 2 };

/* ------------------------------------------------------------------ layers */
typedef struct {
    int tr;                 /* 0: conv, 1: transposed conv */
    df_conv cv;
    df_convT ct;
    int cin, cout, H, W, OH, OW;
    int norm;
    df_act act;
    float alpha;
    int w, b, g, be;        /* parameter indices, -1 if absent */
    int mod;                /* AdaIN: offset of [gamma (cout), beta (cout)] in the modulation vector */
} zlayer;

typedef struct {            /* one layer's tensors in one slot */
    const float *in;        /* input view (set by forward) */
    float *pre;             /* conv output (norm layers only) */
    float *nrm;             /* instance-normalised pre (AdaIN only) */
    float *out;             /* output after the activation */
    float *mean, *rstd;
    float *dout;            /* gradient of out (grad arena) */
} zact;

typedef struct {
    df_params p;
    int nl;
    zlayer L[ZMAX_LAYERS];
    int nmod;               /* AdaIN modulation floats per image */
} znet;

static int declare(df_params *p, const char *pre, const char *name, int ndim, int d0, int d1, int d2, int d3) {
    char full[DF_NAME_MAX];
    int dims[4] = {d0, d1, d2, d3};
    snprintf(full, sizeof full, "%s.%s", pre, name);
    return df_params_declare(p, full, ndim, dims);
}

/* Append a layer; input spatial size H x W.  Returns the layer index, or -1. */
static int zl_add(znet *n, const char *name, int tr, int cin, int cout, int k, int stride, int pad, int H, int W,
                  int norm, df_act act, float alpha, int bias) {
    if (n->nl >= ZMAX_LAYERS) return -1;
    zlayer *L = &n->L[n->nl];
    memset(L, 0, sizeof *L);
    L->tr = tr;
    L->cin = cin, L->cout = cout, L->H = H, L->W = W;
    if (tr) {
        L->ct = (df_convT){cin, cout, k, stride, pad, 0};
        L->OH = df_convT_out(H, &L->ct), L->OW = df_convT_out(W, &L->ct);
        L->w = declare(&n->p, name, "w", 4, cin, cout, k, k);
    } else {
        L->cv = (df_conv){cin, cout, k, k, stride, pad, 1, DF_PAD_ZERO};
        L->OH = df_conv_out(H, k, stride, pad), L->OW = df_conv_out(W, k, stride, pad);
        L->w = declare(&n->p, name, "w", 4, cout, cin, k, k);
    }
    L->norm = norm, L->act = act, L->alpha = alpha;
    L->b = bias ? declare(&n->p, name, "b", 1, cout, 0, 0, 0) : -1;
    L->g = L->be = -1;
    if (norm == ZN_IN) {
        L->g = declare(&n->p, name, "gamma", 1, cout, 0, 0, 0);
        L->be = declare(&n->p, name, "beta", 1, cout, 0, 0, 0);
    }
    if (norm == ZN_ADAIN) {
        L->mod = n->nmod;
        n->nmod += 2 * cout;
    }
    if (L->w < 0 || (bias && L->b < 0) || (norm == ZN_IN && (L->g < 0 || L->be < 0))) return -1;
    return n->nl++;
}

static size_t zl_outsize(const zlayer *L) { return (size_t)L->cout * L->OH * L->OW; }

static size_t zl_workspace(const zlayer *L) {
    return L->tr ? df_convT_workspace(&L->ct, L->H, L->W) : df_conv2d_workspace(&L->cv, L->H, L->W);
}

static float *P(const df_params *p, int i) { return i < 0 ? NULL : p->data + p->info[i].offset; }
static float *PG(const df_params *p, int i) { return i < 0 || !p->grad ? NULL : p->grad + p->info[i].offset; }

/* Lay out one layer's tensors: activations (grads == 0) or gradients (grads != 0). */
static void zl_layout(const zlayer *L, zact *A, df_arena *a, int B, int grads) {
    size_t n = (size_t)B * zl_outsize(L);
    if (grads) {
        A->dout = df_arena_floats(a, n);
        return;
    }
    A->pre = L->norm ? df_arena_floats(a, n) : NULL;
    A->nrm = L->norm == ZN_ADAIN ? df_arena_floats(a, n) : NULL;
    A->out = df_arena_floats(a, n);
    A->mean = L->norm ? df_arena_floats(a, (size_t)B * L->cout) : NULL;
    A->rstd = L->norm ? df_arena_floats(a, (size_t)B * L->cout) : NULL;
}

/* out = act(norm(conv(in))).  mod [B, nmod]: the AdaIN modulation vectors (AdaIN layers only). */
static void zl_forward(const df_params *p, const zlayer *L, zact *A, const float *in, int B, const float *mod,
                       int nmod, float *ws) {
    A->in = in;
    float *co = L->norm ? A->pre : A->out;
    if (L->tr)
        df_convT_forward(co, in, P(p, L->w), P(p, L->b), &L->ct, B, L->H, L->W, ws);
    else
        df_conv2d_forward(co, in, P(p, L->w), P(p, L->b), &L->cv, B, L->H, L->W, ws);
    int C = L->cout, HW = L->OH * L->OW;
    if (L->norm == ZN_IN)
        df_instnorm_forward(A->out, A->mean, A->rstd, A->pre, P(p, L->g), P(p, L->be), B, C, HW, IN_EPS);
    if (L->norm == ZN_ADAIN) {
        df_instnorm_forward(A->nrm, A->mean, A->rstd, A->pre, NULL, NULL, B, C, HW, IN_EPS);
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) {
                float ga = 1.0f + mod[(size_t)b * nmod + L->mod + c], be = mod[(size_t)b * nmod + L->mod + C + c];
                const float *s = A->nrm + ((size_t)b * C + c) * HW;
                float *o = A->out + ((size_t)b * C + c) * HW;
                for (int i = 0; i < HW; i++) o[i] = ga * s[i] + be;
            }
    }
    if (L->act != DF_ACT_NONE) df_act_forward(A->out, A->out, (size_t)B * C * HW, L->act, L->alpha);
}

/* From A->dout: din += d(in) (if din), parameter gradients (if pgrad), dmod += d(mod) (AdaIN, if dmod).
 * s1, s2: scratch of B * outsize floats each. */
static void zl_backward(df_params *p, const zlayer *L, zact *A, float *din, int B, const float *mod, float *dmod,
                        int nmod, int pgrad, float *s1, float *s2, float *ws) {
    int C = L->cout, HW = L->OH * L->OW;
    size_t n = (size_t)B * C * HW;
    const float *g = A->dout;
    if (L->act != DF_ACT_NONE) {
        memset(s1, 0, n * sizeof(float));
        df_act_backward(s1, g, NULL, A->out, n, L->act, L->alpha);
        g = s1;
    }
    if (L->norm == ZN_IN) {
        memset(s2, 0, n * sizeof(float));
        df_instnorm_backward(s2, pgrad ? PG(p, L->g) : NULL, pgrad ? PG(p, L->be) : NULL, g, A->pre, A->mean,
                             A->rstd, P(p, L->g), B, C, HW);
        g = s2;
    }
    if (L->norm == ZN_ADAIN) {
        /* y = (1 + ga) * nrm + be:  dnrm = (1 + ga) dy, dga = sum(dy * nrm), dbe = sum(dy) */
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) {
                size_t o = ((size_t)b * C + c) * HW;
                float ga = 1.0f + mod[(size_t)b * nmod + L->mod + c];
                double sg = 0, sb = 0;
                for (int i = 0; i < HW; i++) {
                    sg += (double)g[o + i] * A->nrm[o + i];
                    sb += g[o + i];
                    s2[o + i] = ga * g[o + i];
                }
                if (dmod) {
                    dmod[(size_t)b * nmod + L->mod + c] += (float)sg;
                    dmod[(size_t)b * nmod + L->mod + C + c] += (float)sb;
                }
            }
        memset(s1, 0, n * sizeof(float));
        df_instnorm_backward(s1, NULL, NULL, s2, A->pre, A->mean, A->rstd, NULL, B, C, HW);
        g = s1;
    }
    float *dw = pgrad ? PG(p, L->w) : NULL, *db = pgrad ? PG(p, L->b) : NULL;
    if (L->tr)
        df_convT_backward(din, dw, db, g, A->in, P(p, L->w), &L->ct, B, L->H, L->W, ws);
    else
        df_conv2d_backward(din, dw, db, g, A->in, P(p, L->w), &L->cv, B, L->H, L->W, ws);
}

/* ------------------------------------------------------------------ model */
/* Family tensors outside the layer table, per slot (activation + gradient). */
enum {
    T_X,       /* gradient of the network input x (forward: unused) */
    T_PLANES,  /* attribute planes (stargan: S x S; attgan: bottleneck) */
    T_PLANES2, /* attgan: planes at the first decoder level */
    T_CAT0,    /* stargan: [x, planes]; attgan: [enc4, planes] */
    T_CAT1,    /* attgan: [dec1, enc3] */
    T_CAT2,    /* attgan: [dec1, enc3, planes] */
    T_CAT3,    /* attgan: [dec2, enc2] */
    T_COND,    /* [B, 5]: condition vector (stargan: trg; attgan: trg - src); style: mapping input [B, 5 + zdim] */
    T_H1, T_H2, T_S, T_MOD, /* style mapping: hidden, hidden, style code, modulation */
    T_CLS,     /* discriminator: attribute logits [B, 5] */
    T_SKIP,    /* skip 1: 1 where x + G(x) is inside (-1, 1) (the clamp passes the gradient), else 0;
                * skip 2: colour C [3 planes], mask A [1 plane], input x [3 planes] per image */
    T_RES,     /* residual sums, ZMAX_RES of them */
    T_COUNT = T_RES + ZMAX_RES
};

typedef struct {
    df_arena a, ga;         /* activations, gradients */
    int Bcap, Bgrad;        /* batch the arenas are laid out for (0: none) */
    int B;                  /* batch of the last forward (0: none) */
    zact A[ZMAX_LAYERS];
    float *t[T_COUNT], *dt[T_COUNT];
} zslot;

/* Layer indices of a generator (-1 if the family has no such layer). */
typedef struct {
    int first, nres, res0;  /* res block r: layers res0 + 2r (a), res0 + 2r + 1 (b) */
    int feat;               /* layer whose output is the bottleneck feature */
} gmap;

struct zoo_model {
    zoo_config cfg;
    znet G, D;
    gmap gm;
    int m_fc[4];            /* style: mapping linears (parameter index of w; its b follows) */
    zslot gs[ZOO_SLOTS], ds;
    df_arena scratch;       /* conv workspace, backward scratch, training buffers */
    int scap;               /* batch the scratch is laid out for */
    float *ws, *s1, *s2;
    /* training buffers (scratch) */
    float *fake, *rec, *dfake, *drec, *src_out, *dsrc, *cls_out, *dcls, *trg, *z1, *z2;
    long step;
    int training;
    float *g_ema; /* generator moving average (G.p.total floats) or NULL */
};

zoo_config zoo_default_config(zoo_family f) {
    zoo_config c = {f, ZOO_SIZE, 16, 3, 16, 16, 8, 0, 1};
    if (f == ZOO_ATTGAN) c.width = 16, c.nres = 0;
    return c;
}

const char *zoo_family_arch(zoo_family f) { return (unsigned)f < ZOO_NFAMILIES ? family_arch[f] : "?"; }

df_status zoo_family_parse(const char *name, zoo_family *f) {
    for (int i = 0; name && i < ZOO_NFAMILIES; i++)
        if (strcmp(name, family_arch[i]) == 0 || strcmp(name, family_arch[i] + 4) == 0) {
            *f = (zoo_family)i;
            return DF_OK;
        }
    return df_fail(DF_ERR_ARG, "zoo: unknown architecture '%s' (stargan, attgan or style)", name ? name : "");
}

int zoo_attr_index(const char *name) {
    for (int i = 0; name && i < ZOO_NATTR; i++)
        if (strcmp(name, zoo_attr_names[i]) == 0) return i;
    return -1;
}

static df_status check_config(const zoo_config *c) {
    if (!c || (unsigned)c->family >= ZOO_NFAMILIES) return df_fail(DF_ERR_ARG, "zoo: unknown family");
    if (c->size < 32 || c->size > 512 || c->size % 32)
        return df_fail(DF_ERR_ARG, "zoo: size %d must be a multiple of 32 in 32..512", c->size);
    if (c->width < 1 || c->width > 128) return df_fail(DF_ERR_ARG, "zoo: width %d not in 1..128", c->width);
    if (c->dwidth < 1 || c->dwidth > 64) return df_fail(DF_ERR_ARG, "zoo: dwidth %d not in 1..64", c->dwidth);
    if (c->nres < 0 || c->nres > ZMAX_RES) return df_fail(DF_ERR_ARG, "zoo: nres %d not in 0..%d", c->nres, ZMAX_RES);
    if (c->family == ZOO_STYLE && (c->sdim < 1 || c->sdim > 256 || c->zdim < 0 || c->zdim > 64))
        return df_fail(DF_ERR_ARG, "zoo: sdim must be in 1..256 and zdim in 0..64");
    if (c->skip < 0 || c->skip > ZOO_SKIP_ATTENTION) return df_fail(DF_ERR_ARG, "zoo: skip must be 0, 1 or 2");
    if (c->cls_pool < 0 || c->cls_pool > 32 || (c->cls_pool > 1 && c->size % c->cls_pool))
        return df_fail(DF_ERR_ARG, "zoo: cls_pool %d must be 0, 1 or a divisor of the size %d up to 32", c->cls_pool, c->size);
    return DF_OK;
}

/* ------------------------------------------------------------------ building the tables */
static df_status build_gen(zoo_model *m) {
    const zoo_config *cf = &m->cfg;
    znet *n = &m->G;
    int c = cf->width, S = cf->size, ok = 1;
    char name[32];
    gmap *g = &m->gm;
    memset(g, 0, sizeof *g);
    g->nres = cf->family == ZOO_ATTGAN ? 0 : cf->nres;
    int ad = cf->family == ZOO_STYLE ? ZN_ADAIN : ZN_IN; /* decoder normalisation */
    /* output: 3 colour channels with tanh, or (attention) 3 colour + 1 mask logit, squashed in zoo_gen_forward */
    int oc = cf->skip == ZOO_SKIP_ATTENTION ? 4 : 3;
    df_act oa = cf->skip == ZOO_SKIP_ATTENTION ? DF_ACT_NONE : DF_ACT_TANH;
    switch (cf->family) {
    case ZOO_STARGAN:
        g->first = zl_add(n, "g.enc0", 0, 3 + ZOO_NATTR, c, 7, 1, 3, S, S, ZN_IN, DF_ACT_RELU, 0, 0);
        ok &= zl_add(n, "g.enc1", 0, c, 2 * c, 4, 2, 1, S, S, ZN_IN, DF_ACT_RELU, 0, 0) >= 0;
        g->feat = zl_add(n, "g.enc2", 0, 2 * c, 4 * c, 4, 2, 1, S / 2, S / 2, ZN_IN, DF_ACT_RELU, 0, 0);
        break;
    case ZOO_STYLE:
        g->first = zl_add(n, "g.enc0", 0, 3, c, 3, 1, 1, S, S, ZN_IN, DF_ACT_LRELU, 0.2f, 0);
        ok &= zl_add(n, "g.enc1", 0, c, 2 * c, 4, 2, 1, S, S, ZN_IN, DF_ACT_LRELU, 0.2f, 0) >= 0;
        g->feat = zl_add(n, "g.enc2", 0, 2 * c, 4 * c, 4, 2, 1, S / 2, S / 2, ZN_IN, DF_ACT_LRELU, 0.2f, 0);
        break;
    case ZOO_ATTGAN: {
        int a = ZOO_NATTR;
        g->first = zl_add(n, "g.enc0", 0, 3, c, 4, 2, 1, S, S, ZN_IN, DF_ACT_LRELU, 0.2f, 0);
        ok &= zl_add(n, "g.enc1", 0, c, 2 * c, 4, 2, 1, S / 2, S / 2, ZN_IN, DF_ACT_LRELU, 0.2f, 0) >= 0;
        ok &= zl_add(n, "g.enc2", 0, 2 * c, 4 * c, 4, 2, 1, S / 4, S / 4, ZN_IN, DF_ACT_LRELU, 0.2f, 0) >= 0;
        g->feat = zl_add(n, "g.enc3", 0, 4 * c, 8 * c, 4, 2, 1, S / 8, S / 8, ZN_IN, DF_ACT_LRELU, 0.2f, 0);
        ok &= zl_add(n, "g.dec0", 1, 8 * c + a, 8 * c, 4, 2, 1, S / 16, S / 16, ZN_IN, DF_ACT_RELU, 0, 0) >= 0;
        ok &= zl_add(n, "g.dec1", 1, 12 * c + a, 4 * c, 4, 2, 1, S / 8, S / 8, ZN_IN, DF_ACT_RELU, 0, 0) >= 0;
        ok &= zl_add(n, "g.dec2", 1, 6 * c, 2 * c, 4, 2, 1, S / 4, S / 4, ZN_IN, DF_ACT_RELU, 0, 0) >= 0;
        ok &= zl_add(n, "g.out", 1, 2 * c, oc, 4, 2, 1, S / 2, S / 2, ZN_NONE, oa, 0, 1) >= 0;
        break;
    }
    }
    if (cf->family != ZOO_ATTGAN) {
        int R = S / 4;
        g->res0 = n->nl;
        for (int r = 0; r < g->nres; r++) {
            snprintf(name, sizeof name, "g.res%d.a", r);
            ok &= zl_add(n, name, 0, 4 * c, 4 * c, 3, 1, 1, R, R, ad, DF_ACT_RELU, 0, 0) >= 0;
            snprintf(name, sizeof name, "g.res%d.b", r);
            ok &= zl_add(n, name, 0, 4 * c, 4 * c, 3, 1, 1, R, R, ad, DF_ACT_NONE, 0, 0) >= 0;
        }
        ok &= zl_add(n, "g.dec0", 1, 4 * c, 2 * c, 4, 2, 1, R, R, ad, DF_ACT_RELU, 0, 0) >= 0;
        ok &= zl_add(n, "g.dec1", 1, 2 * c, c, 4, 2, 1, 2 * R, 2 * R, ad, DF_ACT_RELU, 0, 0) >= 0;
        if (cf->family == ZOO_STARGAN)
            ok &= zl_add(n, "g.out", 0, c, oc, 7, 1, 3, S, S, ZN_NONE, oa, 0, 1) >= 0;
        else
            ok &= zl_add(n, "g.out", 0, c, oc, 3, 1, 1, S, S, ZN_NONE, oa, 0, 1) >= 0;
    }
    if (cf->family == ZOO_STYLE) {
        int in = ZOO_NATTR + cf->zdim, h = ZMAP_HIDDEN;
        int dims[4][2] = {{h, in}, {h, h}, {cf->sdim, h}, {n->nmod, cf->sdim}};
        static const char *nm[4] = {"g.map0", "g.map1", "g.map2", "g.mod"};
        for (int i = 0; i < 4; i++) {
            m->m_fc[i] = declare(&n->p, nm[i], "w", 2, dims[i][0], dims[i][1], 0, 0);
            ok &= m->m_fc[i] >= 0 && declare(&n->p, nm[i], "b", 1, dims[i][0], 0, 0, 0) == m->m_fc[i] + 1;
        }
    }
    if (!ok || g->first < 0 || g->feat < 0) return df_fail(DF_ERR_ARG, "zoo: cannot build the generator");
    return DF_OK;
}

/* PatchGAN: 5 x conv4x4/s2 LReLU(0.01), heads src (conv3x3 -> 1) and cls (conv3x3 -> 5, GAP). */
static df_status build_dis(zoo_model *m) {
    znet *n = &m->D;
    int d = m->cfg.dwidth, S = m->cfg.size, cin = 3, ok = 1;
    char name[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "d.conv%d", i);
        ok &= zl_add(n, name, 0, cin, d << i, 4, 2, 1, S >> i, S >> i, ZN_NONE, DF_ACT_LRELU, 0.01f, 1) >= 0;
        cin = d << i;
    }
    ok &= zl_add(n, "d.src", 0, cin, 1, 3, 1, 1, S / 32, S / 32, ZN_NONE, DF_ACT_NONE, 0, 1) >= 0;
    ok &= zl_add(n, "d.cls", 0, cin, ZOO_NATTR, 3, 1, 1, S / 32, S / 32, ZN_NONE, DF_ACT_NONE, 0, 1) >= 0;
    return ok ? DF_OK : df_fail(DF_ERR_ARG, "zoo: cannot build the discriminator");
}

static void init_params(znet *n, df_rng *rng) {
    /* PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases (fan_in of a transposed conv
     * is cout * k * k, as in PyTorch); linear layers likewise; IN gamma = 1, beta = 0. */
    df_params *p = &n->p;
    for (int i = 0; i < p->n; i++) {
        df_param_info *t = &p->info[i];
        float *x = p->data + t->offset;
        const char *nm = strrchr(t->name, '.') + 1;
        if (strcmp(nm, "gamma") == 0) {
            for (size_t k = 0; k < t->count; k++) x[k] = 1.0f;
            continue;
        }
        if (strcmp(nm, "beta") == 0) continue;
        const df_param_info *w = strcmp(nm, "b") == 0 ? &p->info[i - 1] : t; /* a bias follows its weight */
        int fan = w->dims[1];
        for (int k = 2; k < w->ndim; k++) fan *= w->dims[k];
        float bound = 1.0f / sqrtf((float)fan);
        if (strncmp(t->name, "g.mod.", 6) == 0) bound *= 0.25f; /* AdaIN starts close to plain IN */
        for (size_t k = 0; k < t->count; k++) x[k] = bound * (2.0f * df_rng_uniform(rng) - 1.0f);
    }
}

static df_status model_new(zoo_model **out, const zoo_config *cfg, int training) {
    *out = NULL;
    df_status s = check_config(cfg);
    if (s) return s;
    zoo_model *m = calloc(1, sizeof *m);
    if (!m) return df_fail(DF_ERR_NOMEM, "zoo: out of memory");
    m->cfg = *cfg;
    m->training = training;
    if ((s = build_gen(m)) || (s = build_dis(m)) || (s = df_params_alloc(&m->G.p, training)) ||
        (s = df_params_alloc(&m->D.p, training))) {
        zoo_free(m);
        return s;
    }
    *out = m;
    return DF_OK;
}

df_status zoo_create(zoo_model **out, const zoo_config *cfg, uint64_t seed, int training) {
    df_status s = model_new(out, cfg, training);
    if (s) return s;
    df_rng rng;
    df_rng_seed(&rng, seed);
    init_params(&(*out)->G, &rng);
    init_params(&(*out)->D, &rng);
    return DF_OK;
}

/* Plain generator -> attention generator: the colour channels keep the plain output layer, the mask channel starts
 * with zero weights and bias ZOO_ATTN_OPEN (A = sigmoid(2) = 0.88: y = 0.88 * plain + 0.12 * x), so training starts
 * from what the plain model already edits and learns where to let the input through.  A more open start (bias 6,
 * A = 0.9975) left the mask's gradient A (1 - A) = 0.0025 too small to move in 140 steps. */
#define ZOO_ATTN_OPEN 2.0f
df_status zoo_convert(zoo_model **out, const zoo_model *src, int skip, int training) {
    if (!out || !src) return df_fail(DF_ERR_ARG, "zoo_convert: bad arguments");
    *out = NULL;
    if (skip != src->cfg.skip && !(src->cfg.skip == 0 && skip == ZOO_SKIP_ATTENTION))
        return df_fail(DF_ERR_ARG, "zoo: a model with output mode %d cannot become mode %d (only 0 -> 2)",
                       src->cfg.skip, skip);
    zoo_config c = src->cfg;
    c.skip = skip;
    zoo_model *m;
    df_status s = model_new(&m, &c, training);
    if (s) return s;
    memcpy(m->D.p.data, src->D.p.data, src->D.p.total * sizeof(float));
    const df_params *a = &src->G.p;
    df_params *b = &m->G.p;
    for (int i = 0; i < b->n; i++) {
        const df_param_info *ta = &a->info[i], *tb = &b->info[i];
        const float *from = a->data + ta->offset;
        float *to = b->data + tb->offset;
        if (ta->count == tb->count) {
            memcpy(to, from, tb->count * sizeof(float));
            continue;
        }
        /* g.out: 3 -> 4 output channels (w: conv [cout, cin, k, k], convT [cin, cout, k, k]; b: [cout]) */
        if (tb->ndim == 1) {
            memcpy(to, from, 3 * sizeof(float));
            to[3] = ZOO_ATTN_OPEN;
        } else if (tb->dims[0] == 4) {
            size_t per = tb->count / 4;
            memcpy(to, from, 3 * per * sizeof(float));
            memset(to + 3 * per, 0, per * sizeof(float));
        } else {
            size_t per = (size_t)tb->dims[2] * tb->dims[3];
            for (int ci = 0; ci < tb->dims[0]; ci++) {
                memcpy(to + ci * 4 * per, from + ci * 3 * per, 3 * per * sizeof(float));
                memset(to + (ci * 4 + 3) * per, 0, per * sizeof(float));
            }
        }
    }
    *out = m;
    return DF_OK;
}

static void slot_free(zslot *s) {
    df_arena_free(&s->a);
    df_arena_free(&s->ga);
    memset(s, 0, sizeof *s);
}

void zoo_free(zoo_model *m) {
    if (!m) return;
    df_params_free(&m->G.p);
    df_params_free(&m->D.p);
    for (int i = 0; i < ZOO_SLOTS; i++) slot_free(&m->gs[i]);
    slot_free(&m->ds);
    df_arena_free(&m->scratch);
    free(m->g_ema);
    free(m);
}

const zoo_config *zoo_get_config(const zoo_model *m) { return &m->cfg; }
df_params *zoo_gen_params(zoo_model *m) { return &m->G.p; }
df_params *zoo_dis_params(zoo_model *m) { return &m->D.p; }
df_status zoo_set_cls_pool(zoo_model *m, int k) {
    if (!m) return df_fail(DF_ERR_ARG, "zoo_set_cls_pool: no model");
    zoo_config c = m->cfg;
    c.cls_pool = k;
    df_status s = check_config(&c);
    if (!s) m->cfg.cls_pool = k;
    return s;
}
long zoo_get_step(const zoo_model *m) { return m->step; }
int zoo_has_ema(const zoo_model *m) { return m && m->g_ema; }

df_status zoo_swap_ema(zoo_model *m) {
    if (!m || !m->g_ema) return df_fail(DF_ERR_ARG, "zoo_swap_ema: the model has no moving average");
    float *w = m->G.p.data, *e = m->g_ema;
    for (size_t i = 0; i < m->G.p.total; i++) {
        float t = w[i];
        w[i] = e[i], e[i] = t;
    }
    return DF_OK;
}

void zoo_clear_ema(zoo_model *m) {
    if (!m) return;
    free(m->g_ema);
    m->g_ema = NULL;
}

/* Name of the moving average's copy of generator tensor t in a checkpoint. */
static void ema_name(char *out, size_t n, const df_param_info *t) { snprintf(out, n, "ema/%s", t->name); }

static df_status ema_update(zoo_model *m, float d) {
    size_t n = m->G.p.total;
    if (!m->g_ema) {
        if (!(m->g_ema = malloc(n * sizeof(float)))) return df_fail(DF_ERR_NOMEM, "zoo: out of memory (moving average)");
        memcpy(m->g_ema, m->G.p.data, n * sizeof(float));
        return DF_OK;
    }
    for (size_t i = 0; i < n; i++) m->g_ema[i] = d * m->g_ema[i] + (1.0f - d) * m->G.p.data[i];
    return DF_OK;
}
void zoo_set_step(zoo_model *m, long step) { m->step = step; }

double zoo_gen_flops(const zoo_config *cfg) {
    zoo_model *m;
    if (model_new(&m, cfg, 0)) return 0;
    double f = 0;
    for (int i = 0; i < m->G.nl; i++) {
        const zlayer *L = &m->G.L[i];
        int k = L->tr ? L->ct.k : L->cv.kh;
        f += 2.0 * L->cin * L->cout * k * k * (L->tr ? (double)L->H * L->W : (double)L->OH * L->OW);
    }
    zoo_free(m);
    return f;
}

/* ------------------------------------------------------------------ memory layout */
static size_t net_max_out(const znet *n) {
    size_t mx = 0;
    for (int i = 0; i < n->nl; i++)
        if (zl_outsize(&n->L[i]) > mx) mx = zl_outsize(&n->L[i]);
    return mx;
}

static size_t net_max_ws(const znet *n) {
    size_t mx = 0;
    for (int i = 0; i < n->nl; i++)
        if (zl_workspace(&n->L[i]) > mx) mx = zl_workspace(&n->L[i]);
    return mx;
}

/* The generator's extra tensors: (index, floats per image). */
static int gen_extras(const zoo_model *m, int *idx, size_t *per) {
    const zoo_config *c = &m->cfg;
    size_t S2 = (size_t)c->size * c->size, w = (size_t)c->width, A = ZOO_NATTR;
    int k = 0;
    idx[k] = T_X, per[k++] = 3 * S2;
    idx[k] = T_COND, per[k++] = A + (c->family == ZOO_STYLE ? (size_t)c->zdim : 0);
    if (c->skip) idx[k] = T_SKIP, per[k++] = (c->skip == ZOO_SKIP_ATTENTION ? 7 : 3) * S2;
    if (c->family == ZOO_STARGAN) {
        idx[k] = T_PLANES, per[k++] = A * S2;
        idx[k] = T_CAT0, per[k++] = (3 + A) * S2;
    }
    if (c->family == ZOO_ATTGAN) {
        size_t b = S2 / 256, b2 = S2 / 64, b3 = S2 / 16; /* S/16, S/8, S/4 squared */
        idx[k] = T_PLANES, per[k++] = A * b;
        idx[k] = T_PLANES2, per[k++] = A * b2;
        idx[k] = T_CAT0, per[k++] = (8 * w + A) * b;
        idx[k] = T_CAT1, per[k++] = 12 * w * b2;
        idx[k] = T_CAT2, per[k++] = (12 * w + A) * b2;
        idx[k] = T_CAT3, per[k++] = 6 * w * b3;
    }
    if (c->family == ZOO_STYLE) {
        idx[k] = T_H1, per[k++] = ZMAP_HIDDEN;
        idx[k] = T_H2, per[k++] = ZMAP_HIDDEN;
        idx[k] = T_S, per[k++] = (size_t)c->sdim;
        idx[k] = T_MOD, per[k++] = (size_t)m->G.nmod;
    }
    for (int r = 0; r < m->gm.nres; r++) idx[k] = T_RES + r, per[k++] = 4 * w * S2 / 16;
    return k;
}

static int dis_extras(const zoo_model *m, int *idx, size_t *per) {
    idx[0] = T_X, per[0] = 3 * (size_t)m->cfg.size * m->cfg.size;
    idx[1] = T_CLS, per[1] = ZOO_NATTR;
    return 2;
}

/* Pass 0 plans the arena, pass 1 allocates it; the same layout code runs in both. */
static df_status arena_pass(df_arena *a, int pass) {
    if (pass == 0) {
        df_arena_plan(a);
        return DF_OK;
    }
    return df_arena_commit(a);
}

/* Lay out a slot's activations (grads == 0) or gradients (grads != 0) for batch B; plan + commit. */
static df_status slot_layout(zoo_model *m, zslot *s, const znet *n, int gen, int B, int grads) {
    df_arena *a = grads ? &s->ga : &s->a;
    int idx[T_COUNT];
    size_t per[T_COUNT];
    int ne = gen ? gen_extras(m, idx, per) : dis_extras(m, idx, per);
    for (int pass = 0; pass < 2; pass++) {
        df_status st = arena_pass(a, pass);
        if (st) return st;
        for (int i = 0; i < n->nl; i++) zl_layout(&n->L[i], &s->A[i], a, B, grads);
        for (int i = 0; i < ne; i++) {
            float *q = df_arena_floats(a, (size_t)B * per[i]);
            if (grads)
                s->dt[idx[i]] = q;
            else
                s->t[idx[i]] = q;
        }
    }
    if (grads)
        s->Bgrad = B;
    else
        s->Bcap = B;
    return DF_OK;
}

/* Scratch: conv workspace, two backward buffers, training tensors. */
static df_status scratch_layout(zoo_model *m, int B) {
    if (m->scap >= B && m->scratch.base) return DF_OK;
    df_arena *a = &m->scratch;
    size_t ws = net_max_ws(&m->G), wd = net_max_ws(&m->D);
    size_t mo = net_max_out(&m->G), md = net_max_out(&m->D);
    if (wd > ws) ws = wd;
    if (md > mo) mo = md;
    size_t img = 3 * (size_t)m->cfg.size * m->cfg.size, P = (size_t)(m->cfg.size / 32) * (m->cfg.size / 32);
    size_t zd = m->cfg.family == ZOO_STYLE && m->cfg.zdim ? (size_t)m->cfg.zdim : 1;
    for (int pass = 0; pass < 2; pass++) {
        df_status st = arena_pass(a, pass);
        if (st) return st;
        m->ws = df_arena_floats(a, ws ? ws : 1);
        m->s1 = df_arena_floats(a, (size_t)B * mo);
        m->s2 = df_arena_floats(a, (size_t)B * mo);
        m->fake = df_arena_floats(a, B * img);
        m->rec = df_arena_floats(a, B * img);
        m->dfake = df_arena_floats(a, B * img);
        m->drec = df_arena_floats(a, B * img);
        m->src_out = df_arena_floats(a, B * P);
        m->dsrc = df_arena_floats(a, B * P);
        m->cls_out = df_arena_floats(a, (size_t)B * ZOO_NATTR);
        m->dcls = df_arena_floats(a, (size_t)B * ZOO_NATTR);
        m->trg = df_arena_floats(a, (size_t)B * ZOO_NATTR);
        m->z1 = df_arena_floats(a, B * zd);
        m->z2 = df_arena_floats(a, B * zd);
    }
    m->scap = B;
    return DF_OK;
}

/* Ready a slot (and the scratch) for a forward of batch B. */
static df_status slot_ready(zoo_model *m, zslot *s, const znet *n, int gen, int B) {
    if (B < 1 || B > 4096) return df_fail(DF_ERR_ARG, "zoo: batch %d not in 1..4096", B);
    df_status st = scratch_layout(m, B);
    if (st) return st;
    if (s->Bcap < B && (st = slot_layout(m, s, n, gen, B, 0))) return st;
    return DF_OK;
}

/* Ready a slot's gradients; zero them for the last forward's batch. */
static df_status slot_grads(zoo_model *m, zslot *s, const znet *n, int gen) {
    if (!s->B) return df_fail(DF_ERR_ARG, "zoo: backward without a forward");
    df_status st;
    if (s->Bgrad < s->Bcap && (st = slot_layout(m, s, n, gen, s->Bcap, 1))) return st;
    memset(s->ga.base, 0, s->ga.used);
    return DF_OK;
}

/* ------------------------------------------------------------------ generator forward / backward */
static void planes(float *out, const float *vec, int B, int HW) { df_broadcast_forward(out, vec, B, ZOO_NATTR, HW); }

static void linear_relu_fwd(const df_params *p, int wi, float *out, const float *in, int B, int I, int O, int relu) {
    df_linear_forward(out, in, P(p, wi), P(p, wi + 1), B, I, O);
    if (relu) df_act_forward(out, out, (size_t)B * O, DF_ACT_RELU, 0);
}

static void linear_relu_bwd(df_params *p, int wi, float *din, float *dout, const float *out, const float *in, int B,
                            int I, int O, int relu, int pgrad, float *tmp) {
    const float *g = dout;
    if (relu) {
        memset(tmp, 0, (size_t)B * O * sizeof(float));
        df_act_backward(tmp, dout, NULL, out, (size_t)B * O, DF_ACT_RELU, 0);
        g = tmp;
    }
    df_linear_backward(din, pgrad ? PG(p, wi) : NULL, pgrad ? PG(p, wi + 1) : NULL, g, in, P(p, wi), B, I, O);
}

/* Residual blocks + decoder shared by stargan and style; h = encoder output. Returns the output tensor. */
static const float *resdec_forward(zoo_model *m, zslot *s, const float *h, int B, const float *mod) {
    const df_params *p = &m->G.p;
    const gmap *g = &m->gm;
    int nmod = m->G.nmod;
    for (int r = 0; r < g->nres; r++) {
        int a = g->res0 + 2 * r;
        zl_forward(p, &m->G.L[a], &s->A[a], h, B, mod, nmod, m->ws);
        zl_forward(p, &m->G.L[a + 1], &s->A[a + 1], s->A[a].out, B, mod, nmod, m->ws);
        df_add_forward(s->t[T_RES + r], h, s->A[a + 1].out, (size_t)B * zl_outsize(&m->G.L[a + 1]));
        h = s->t[T_RES + r];
    }
    for (int i = g->res0 + 2 * g->nres; i < m->G.nl; i++) {
        zl_forward(p, &m->G.L[i], &s->A[i], h, B, mod, nmod, m->ws);
        h = s->A[i].out;
    }
    return h;
}

/* Backward through decoder and residual blocks; accumulates into the encoder output's gradient dh. */
static void resdec_backward(zoo_model *m, zslot *s, float *dh, int B, int pg) {
    df_params *p = &m->G.p;
    const gmap *g = &m->gm;
    int nmod = m->G.nmod, last = g->res0 + 2 * g->nres;
    const float *mod = s->t[T_MOD];
    float *dmod = s->dt[T_MOD];
    for (int i = m->G.nl - 1; i >= last; i--) {
        float *din = i > last ? s->A[i - 1].dout : g->nres ? s->dt[T_RES + g->nres - 1] : dh;
        zl_backward(p, &m->G.L[i], &s->A[i], din, B, mod, dmod, nmod, pg, m->s1, m->s2, m->ws);
    }
    for (int r = g->nres - 1; r >= 0; r--) {
        int a = g->res0 + 2 * r;
        float *dsum = s->dt[T_RES + r], *dprev = r ? s->dt[T_RES + r - 1] : dh;
        size_t n = (size_t)B * zl_outsize(&m->G.L[a + 1]);
        df_add_backward(dprev, s->A[a + 1].dout, dsum, n);
        zl_backward(p, &m->G.L[a + 1], &s->A[a + 1], s->A[a].dout, B, mod, dmod, nmod, pg, m->s1, m->s2, m->ws);
        zl_backward(p, &m->G.L[a], &s->A[a], dprev, B, mod, dmod, nmod, pg, m->s1, m->s2, m->ws);
    }
}

df_status zoo_gen_forward(zoo_model *m, int slot, float *y, const float *x, const float *src, const float *trg,
                          const float *z, int B) {
    if (!m || slot < 0 || slot >= ZOO_SLOTS || !y || !x || !trg || (m->cfg.family == ZOO_ATTGAN && !src))
        return df_fail(DF_ERR_ARG, "zoo_gen_forward: bad arguments");
    zslot *s = &m->gs[slot];
    df_status st = slot_ready(m, s, &m->G, 1, B);
    if (st) return st;
    const df_params *p = &m->G.p;
    const zoo_config *c = &m->cfg;
    const zlayer *L = m->G.L;
    zact *A = s->A;
    int S = c->size, S2 = S * S, w = c->width, na = ZOO_NATTR;
    float *cond = s->t[T_COND];
    const float *h = NULL;
    switch (c->family) {
    case ZOO_STARGAN:
        memcpy(cond, trg, (size_t)B * na * sizeof(float));
        planes(s->t[T_PLANES], cond, B, S2);
        df_concat_forward(s->t[T_CAT0], x, s->t[T_PLANES], B, 3, na, S2);
        zl_forward(p, &L[0], &A[0], s->t[T_CAT0], B, NULL, 0, m->ws);
        zl_forward(p, &L[1], &A[1], A[0].out, B, NULL, 0, m->ws);
        zl_forward(p, &L[2], &A[2], A[1].out, B, NULL, 0, m->ws);
        h = resdec_forward(m, s, A[2].out, B, NULL);
        break;
    case ZOO_STYLE: {
        int in = na + c->zdim;
        for (int b = 0; b < B; b++) {
            memcpy(cond + (size_t)b * in, trg + (size_t)b * na, na * sizeof(float));
            for (int k = 0; k < c->zdim; k++) cond[(size_t)b * in + na + k] = z ? z[(size_t)b * c->zdim + k] : 0.0f;
        }
        linear_relu_fwd(p, m->m_fc[0], s->t[T_H1], cond, B, in, ZMAP_HIDDEN, 1);
        linear_relu_fwd(p, m->m_fc[1], s->t[T_H2], s->t[T_H1], B, ZMAP_HIDDEN, ZMAP_HIDDEN, 1);
        linear_relu_fwd(p, m->m_fc[2], s->t[T_S], s->t[T_H2], B, ZMAP_HIDDEN, c->sdim, 0);
        linear_relu_fwd(p, m->m_fc[3], s->t[T_MOD], s->t[T_S], B, c->sdim, m->G.nmod, 0);
        zl_forward(p, &L[0], &A[0], x, B, NULL, 0, m->ws);
        zl_forward(p, &L[1], &A[1], A[0].out, B, NULL, 0, m->ws);
        zl_forward(p, &L[2], &A[2], A[1].out, B, NULL, 0, m->ws);
        h = resdec_forward(m, s, A[2].out, B, s->t[T_MOD]);
        break;
    }
    case ZOO_ATTGAN: {
        int b1 = S2 / 256, b2 = S2 / 64, b3 = S2 / 16;
        for (size_t i = 0; i < (size_t)B * na; i++) cond[i] = trg[i] - src[i];
        zl_forward(p, &L[0], &A[0], x, B, NULL, 0, m->ws);
        for (int i = 1; i < 4; i++) zl_forward(p, &L[i], &A[i], A[i - 1].out, B, NULL, 0, m->ws);
        planes(s->t[T_PLANES], cond, B, b1);
        df_concat_forward(s->t[T_CAT0], A[3].out, s->t[T_PLANES], B, 8 * w, na, b1);
        zl_forward(p, &L[4], &A[4], s->t[T_CAT0], B, NULL, 0, m->ws);
        df_concat_forward(s->t[T_CAT1], A[4].out, A[2].out, B, 8 * w, 4 * w, b2);
        planes(s->t[T_PLANES2], cond, B, b2);
        df_concat_forward(s->t[T_CAT2], s->t[T_CAT1], s->t[T_PLANES2], B, 12 * w, na, b2);
        zl_forward(p, &L[5], &A[5], s->t[T_CAT2], B, NULL, 0, m->ws);
        df_concat_forward(s->t[T_CAT3], A[5].out, A[1].out, B, 4 * w, 2 * w, b3);
        zl_forward(p, &L[6], &A[6], s->t[T_CAT3], B, NULL, 0, m->ws);
        zl_forward(p, &L[7], &A[7], A[6].out, B, NULL, 0, m->ws);
        h = A[7].out;
        break;
    }
    }
    if (c->skip == ZOO_SKIP_ATTENTION) { /* y = A * C + (1 - A) * x, C = tanh(h[0..2]), A = sigmoid(h[3]) */
        for (int b = 0; b < B; b++) {
            const float *hb = h + (size_t)b * 4 * S2, *xb = x + (size_t)b * 3 * S2;
            float *sv = s->t[T_SKIP] + (size_t)b * 7 * S2, *Cb = sv, *Ab = sv + 3 * S2, *Xb = sv + 4 * S2;
            float *yb = y + (size_t)b * 3 * S2;
            for (int i = 0; i < S2; i++) Ab[i] = 1.0f / (1.0f + expf(-hb[3 * S2 + i]));
            for (int i = 0; i < 3 * S2; i++) {
                float a = Ab[i % S2];
                Cb[i] = tanhf(hb[i]);
                Xb[i] = xb[i];
                yb[i] = a * Cb[i] + (1.0f - a) * xb[i];
            }
        }
    } else if (c->skip) {
        float *mask = s->t[T_SKIP];
        for (size_t i = 0; i < (size_t)B * 3 * S2; i++) {
            float v = x[i] + h[i];
            mask[i] = v > -1.0f && v < 1.0f;
            y[i] = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
        }
    } else {
        memcpy(y, h, (size_t)B * 3 * S2 * sizeof(float));
    }
    s->B = B;
    return DF_OK;
}

df_status zoo_gen_backward(zoo_model *m, int slot, float *dx, const float *dy, const float *dfeat, int param_grads) {
    if (!m || slot < 0 || slot >= ZOO_SLOTS || !dy) return df_fail(DF_ERR_ARG, "zoo_gen_backward: bad arguments");
    if (param_grads && !m->G.p.grad) return df_fail(DF_ERR_ARG, "zoo_gen_backward: model not created for training");
    zslot *s = &m->gs[slot];
    df_status st = slot_grads(m, s, &m->G, 1);
    if (st) return st;
    df_params *p = &m->G.p;
    const zoo_config *c = &m->cfg;
    const zlayer *L = m->G.L;
    zact *A = s->A;
    int B = s->B, S = c->size, S2 = S * S, w = c->width, na = ZOO_NATTR, nl = m->G.nl, pg = param_grads;
    size_t nimg = (size_t)B * 3 * S2;
    if (c->skip == ZOO_SKIP_ATTENTION) {
        for (int b = 0; b < B; b++) {
            const float *sv = s->t[T_SKIP] + (size_t)b * 7 * S2, *Cb = sv, *Ab = sv + 3 * S2, *Xb = sv + 4 * S2;
            const float *dyb = dy + (size_t)b * 3 * S2;
            float *dh = A[nl - 1].dout + (size_t)b * 4 * S2, *dxb = dx ? dx + (size_t)b * 3 * S2 : NULL;
            for (int i = 0; i < S2; i++) dh[3 * S2 + i] = 0;
            for (int i = 0; i < 3 * S2; i++) {
                float a = Ab[i % S2];
                dh[i] = dyb[i] * a * (1.0f - Cb[i] * Cb[i]);
                dh[3 * S2 + i % S2] += dyb[i] * (Cb[i] - Xb[i]);
                if (dxb) dxb[i] += dyb[i] * (1.0f - a);
            }
            for (int i = 0; i < S2; i++) dh[3 * S2 + i] *= Ab[i] * (1.0f - Ab[i]);
        }
    } else if (c->skip) { /* the clamp's mask gates both paths: the network output and the input itself */
        const float *mask = s->t[T_SKIP];
        for (size_t i = 0; i < nimg; i++) A[nl - 1].dout[i] = dy[i] * mask[i];
        if (dx) df_add_forward(dx, dx, A[nl - 1].dout, nimg);
    } else {
        memcpy(A[nl - 1].dout, dy, nimg * sizeof(float));
    }
    if (dfeat) df_add_forward(A[m->gm.feat].dout, A[m->gm.feat].dout, dfeat, (size_t)B * zl_outsize(&L[m->gm.feat]));
    float *s1 = m->s1, *s2 = m->s2, *ws = m->ws, *dX = dx ? s->dt[T_X] : NULL;
    switch (c->family) {
    case ZOO_STARGAN:
    case ZOO_STYLE: {
        resdec_backward(m, s, A[2].dout, B, pg);
        zl_backward(p, &L[2], &A[2], A[1].dout, B, NULL, NULL, 0, pg, s1, s2, ws);
        zl_backward(p, &L[1], &A[1], A[0].dout, B, NULL, NULL, 0, pg, s1, s2, ws);
        if (c->family == ZOO_STARGAN) {
            float *dcat = dX ? s->dt[T_CAT0] : NULL;
            zl_backward(p, &L[0], &A[0], dcat, B, NULL, NULL, 0, pg, s1, s2, ws);
            if (dX) df_concat_backward(dX, NULL, dcat, B, 3, na, S2);
        } else {
            zl_backward(p, &L[0], &A[0], dX, B, NULL, NULL, 0, pg, s1, s2, ws);
            /* mapping network: dmod -> ds -> dh2 -> dh1 (no gradient to the condition itself) */
            int in = na + c->zdim, H = ZMAP_HIDDEN;
            linear_relu_bwd(p, m->m_fc[3], s->dt[T_S], s->dt[T_MOD], NULL, s->t[T_S], B, c->sdim, m->G.nmod, 0, pg, s1);
            linear_relu_bwd(p, m->m_fc[2], s->dt[T_H2], s->dt[T_S], NULL, s->t[T_H2], B, H, c->sdim, 0, pg, s1);
            linear_relu_bwd(p, m->m_fc[1], s->dt[T_H1], s->dt[T_H2], s->t[T_H2], s->t[T_H1], B, H, H, 1, pg, s1);
            linear_relu_bwd(p, m->m_fc[0], NULL, s->dt[T_H1], s->t[T_H1], s->t[T_COND], B, in, H, 1, pg, s1);
        }
        break;
    }
    case ZOO_ATTGAN: {
        int b1 = S2 / 256, b2 = S2 / 64, b3 = S2 / 16;
        zl_backward(p, &L[7], &A[7], A[6].dout, B, NULL, NULL, 0, pg, s1, s2, ws);
        zl_backward(p, &L[6], &A[6], s->dt[T_CAT3], B, NULL, NULL, 0, pg, s1, s2, ws);
        df_concat_backward(A[5].dout, A[1].dout, s->dt[T_CAT3], B, 4 * w, 2 * w, b3);
        zl_backward(p, &L[5], &A[5], s->dt[T_CAT2], B, NULL, NULL, 0, pg, s1, s2, ws);
        df_concat_backward(s->dt[T_CAT1], NULL, s->dt[T_CAT2], B, 12 * w, na, b2);
        df_concat_backward(A[4].dout, A[2].dout, s->dt[T_CAT1], B, 8 * w, 4 * w, b2);
        zl_backward(p, &L[4], &A[4], s->dt[T_CAT0], B, NULL, NULL, 0, pg, s1, s2, ws);
        df_concat_backward(A[3].dout, NULL, s->dt[T_CAT0], B, 8 * w, na, b1);
        for (int i = 3; i >= 1; i--) zl_backward(p, &L[i], &A[i], A[i - 1].dout, B, NULL, NULL, 0, pg, s1, s2, ws);
        zl_backward(p, &L[0], &A[0], dX, B, NULL, NULL, 0, pg, s1, s2, ws);
        break;
    }
    }
    if (dx) df_add_forward(dx, dx, dX, nimg);
    return DF_OK;
}

const float *zoo_gen_features(const zoo_model *m, int slot, int *C, int *H, int *W) {
    if (!m || slot < 0 || slot >= ZOO_SLOTS || !m->gs[slot].B) return NULL;
    const zlayer *L = &m->G.L[m->gm.feat];
    if (C) *C = L->cout;
    if (H) *H = L->OH;
    if (W) *W = L->OW;
    return m->gs[slot].A[m->gm.feat].out;
}

/* ------------------------------------------------------------------ discriminator */
df_status zoo_dis_forward(zoo_model *m, float *src_out, float *cls_out, const float *x, int B) {
    if (!m || !x) return df_fail(DF_ERR_ARG, "zoo_dis_forward: bad arguments");
    zslot *s = &m->ds;
    df_status st = slot_ready(m, s, &m->D, 0, B);
    if (st) return st;
    const df_params *p = &m->D.p;
    const zlayer *L = m->D.L;
    zact *A = s->A;
    const float *h = x;
    for (int i = 0; i < 5; i++) {
        zl_forward(p, &L[i], &A[i], h, B, NULL, 0, m->ws);
        h = A[i].out;
    }
    zl_forward(p, &L[5], &A[5], h, B, NULL, 0, m->ws);
    zl_forward(p, &L[6], &A[6], h, B, NULL, 0, m->ws);
    int P2 = L[6].OH * L[6].OW;
    df_gap_forward(s->t[T_CLS], A[6].out, B, ZOO_NATTR, P2);
    if (src_out) memcpy(src_out, A[5].out, (size_t)B * P2 * sizeof(float));
    if (cls_out) memcpy(cls_out, s->t[T_CLS], (size_t)B * ZOO_NATTR * sizeof(float));
    s->B = B;
    return DF_OK;
}

df_status zoo_dis_backward(zoo_model *m, float *dx, const float *dsrc, const float *dcls, int param_grads) {
    if (!m) return df_fail(DF_ERR_ARG, "zoo_dis_backward: bad arguments");
    if (param_grads && !m->D.p.grad) return df_fail(DF_ERR_ARG, "zoo_dis_backward: model not created for training");
    zslot *s = &m->ds;
    df_status st = slot_grads(m, s, &m->D, 0);
    if (st) return st;
    df_params *p = &m->D.p;
    const zlayer *L = m->D.L;
    zact *A = s->A;
    int B = s->B, P2 = L[6].OH * L[6].OW, pg = param_grads;
    float *s1 = m->s1, *s2 = m->s2, *ws = m->ws;
    if (dsrc) {
        memcpy(A[5].dout, dsrc, (size_t)B * P2 * sizeof(float));
        zl_backward(p, &L[5], &A[5], A[4].dout, B, NULL, NULL, 0, pg, s1, s2, ws);
    }
    if (dcls) {
        df_gap_backward(A[6].dout, dcls, B, ZOO_NATTR, P2);
        zl_backward(p, &L[6], &A[6], A[4].dout, B, NULL, NULL, 0, pg, s1, s2, ws);
    }
    for (int i = 4; i >= 0; i--)
        zl_backward(p, &L[i], &A[i], i ? A[i - 1].dout : (dx ? s->dt[T_X] : NULL), B, NULL, NULL, 0, pg, s1, s2, ws);
    if (dx) df_add_forward(dx, dx, s->dt[T_X], (size_t)B * 3 * m->cfg.size * m->cfg.size);
    return DF_OK;
}

/* y = each k x k block of x [n planes of S x S] replaced by its mean (y may be x).  The map is symmetric, so it
 * is also its own transpose: the backward pass applies it to the gradient. */
static void block_mean(float *y, const float *x, size_t n, int S, int k) {
    float inv = 1.0f / ((float)k * k);
    for (size_t p = 0; p < n; p++)
        for (int by = 0; by < S; by += k)
            for (int bx = 0; bx < S; bx += k) {
                const float *xp = x + p * S * S + (size_t)by * S + bx;
                float *yp = y + p * S * S + (size_t)by * S + bx;
                float sum = 0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) sum += xp[(size_t)i * S + j];
                sum *= inv;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) yp[(size_t)i * S + j] = sum;
            }
}

df_status zoo_classify(zoo_model *m, float *logits, const float *x, int B) {
    if (!m || !x || !logits || B < 1) return df_fail(DF_ERR_ARG, "zoo_classify: bad arguments");
    int k = m->cfg.cls_pool, S = m->cfg.size;
    if (k <= 1) return zoo_dis_forward(m, NULL, logits, x, B);
    size_t n = (size_t)B * 3 * S * S;
    float *v = malloc(n * sizeof(float));
    if (!v) return df_fail(DF_ERR_NOMEM, "zoo_classify: out of memory");
    block_mean(v, x, (size_t)B * 3, S, k);
    df_status st = zoo_dis_forward(m, NULL, logits, v, B);
    free(v);
    return st;
}

/* ------------------------------------------------------------------ editing */
void zoo_edit_attrs(float *trg, const float *src, int k) {
    memcpy(trg, src, ZOO_NATTR * sizeof(float));
    if (k <= ZOO_BROWN)
        for (int i = 0; i <= ZOO_BROWN; i++) trg[i] = i == k ? 1.0f : 0.0f;
    else if (k < ZOO_NATTR)
        trg[k] = src[k] > 0.5f ? 0.0f : 1.0f;
}

df_status zoo_edit(zoo_model *m, float *y, const float *x, const float *src, const float *trg, int B) {
    return zoo_gen_forward(m, 0, y, x, src, trg, NULL, B);
}

static void to_rgb8(uint8_t *rgb, int stride, const float *x, int S) {
    for (int y = 0; y < S; y++)
        for (int i = 0; i < S; i++)
            for (int c = 0; c < 3; c++) {
                float v = (x[((size_t)c * S + y) * S + i] + 1.0f) * 127.5f;
                rgb[((size_t)y * stride + i) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
            }
}

df_status zoo_edit_grid(zoo_model *m, uint8_t *rgb, const float *x, const float *src, int B) {
    int S = m->cfg.size, cols = 1 + ZOO_NATTR, W = cols * S;
    size_t img = (size_t)3 * S * S;
    float *y = malloc(img * sizeof(float)), trg[ZOO_NATTR];
    if (!y) return df_fail(DF_ERR_NOMEM, "zoo_edit_grid: out of memory");
    df_status st = DF_OK;
    for (int b = 0; b < B && !st; b++) {
        uint8_t *row = rgb + (size_t)b * S * W * 3;
        to_rgb8(row, W, x + b * img, S);
        for (int k = 0; k < ZOO_NATTR && !st; k++) {
            zoo_edit_attrs(trg, src + b * ZOO_NATTR, k);
            if (!(st = zoo_edit(m, y, x + b * img, src + b * ZOO_NATTR, trg, 1))) to_rgb8(row + (size_t)(k + 1) * S * 3, W, y, S);
        }
    }
    free(y);
    return st;
}

/* ------------------------------------------------------------------ training */
zoo_train_opts zoo_default_train_opts(void) {
    zoo_train_opts o = {2e-4f, 0.5f, 0.999f, 1.0f, 10.0f, 0.0f, 0.0f};
    return o;
}

static void adam_step(df_params *p, const zoo_train_opts *o, long t) {
    df_adam a = {o->lr, o->beta1, o->beta2, 1e-8f, 0.0f};
    df_adam_update(p->data, p->grad, p->m, p->v, p->total, &a, t);
}

df_status zoo_train_step(zoo_model *m, const zoo_train_opts *o, const float *x, const float *src, int B,
                         uint64_t rng_seed, zoo_losses *out) {
    if (!m || !o || !x || !src || !m->training) return df_fail(DF_ERR_ARG, "zoo_train_step: bad arguments");
    df_status st = scratch_layout(m, B);
    if (st) return st;
    const zoo_config *c = &m->cfg;
    size_t nimg = (size_t)B * 3 * c->size * c->size, P = (size_t)B * (c->size / 32) * (c->size / 32);
    size_t na = (size_t)B * ZOO_NATTR;
    float cls_scale = o->lambda_cls * ZOO_NATTR; /* StarGAN: sum over attributes, mean over the batch */
    zoo_losses L = {0};
    df_rng rng;
    df_rng_seed(&rng, rng_seed);
    for (int b = 0; b < B; b++) zoo_edit_attrs(m->trg + b * ZOO_NATTR, src + b * ZOO_NATTR, (int)(df_rng_u32(&rng) % ZOO_NATTR));
    const float *z1 = NULL, *z2 = NULL;
    if (c->family == ZOO_STYLE && c->zdim) {
        for (size_t i = 0; i < (size_t)B * c->zdim; i++) m->z1[i] = df_rng_normal(&rng);
        for (size_t i = 0; i < (size_t)B * c->zdim; i++) m->z2[i] = df_rng_normal(&rng);
        z1 = m->z1, z2 = m->z2;
    }
    long t = ++m->step;

    /* D: real -> 1 and its attributes, fake -> 0.  With cls_pool k > 1 the attribute head sees the block means
     * (a second pass through the trunk); m->rec and m->drec are free until the reconstruction term. */
    int k = c->cls_pool > 1 ? c->cls_pool : 0;
    df_params_zero_grad(&m->D.p);
    if ((st = zoo_dis_forward(m, m->src_out, k ? NULL : m->cls_out, x, B))) return st;
    memset(m->dsrc, 0, P * sizeof(float));
    memset(m->dcls, 0, na * sizeof(float));
    L.d_adv = df_lsgan_loss(m->dsrc, m->src_out, 1.0f, P, 1.0f);
    if (k) {
        if ((st = zoo_dis_backward(m, NULL, m->dsrc, NULL, 1))) return st;
        block_mean(m->rec, x, (size_t)B * 3, c->size, k);
        if ((st = zoo_dis_forward(m, NULL, m->cls_out, m->rec, B))) return st;
    }
    L.d_cls = ZOO_NATTR * df_bce_logits_loss(m->dcls, m->cls_out, src, na, cls_scale);
    if ((st = zoo_dis_backward(m, NULL, k ? NULL : m->dsrc, m->dcls, 1))) return st;
    if ((st = zoo_gen_forward(m, 0, m->fake, x, src, m->trg, z1, B))) return st;
    if ((st = zoo_dis_forward(m, m->src_out, NULL, m->fake, B))) return st;
    memset(m->dsrc, 0, P * sizeof(float));
    L.d_adv += df_lsgan_loss(m->dsrc, m->src_out, 0.0f, P, 1.0f);
    if ((st = zoo_dis_backward(m, NULL, m->dsrc, NULL, 1))) return st;
    adam_step(&m->D.p, o, t);

    /* G: fool the updated D, carry the requested attributes, reconstruct */
    df_params_zero_grad(&m->G.p);
    if ((st = zoo_dis_forward(m, m->src_out, k ? NULL : m->cls_out, m->fake, B))) return st;
    memset(m->dsrc, 0, P * sizeof(float));
    memset(m->dcls, 0, na * sizeof(float));
    memset(m->dfake, 0, nimg * sizeof(float));
    L.g_adv = df_lsgan_loss(m->dsrc, m->src_out, 1.0f, P, 1.0f);
    if (k) {
        if ((st = zoo_dis_backward(m, m->dfake, m->dsrc, NULL, 0))) return st;
        block_mean(m->rec, m->fake, (size_t)B * 3, c->size, k);
        if ((st = zoo_dis_forward(m, NULL, m->cls_out, m->rec, B))) return st;
    }
    L.g_cls = ZOO_NATTR * df_bce_logits_loss(m->dcls, m->cls_out, m->trg, na, cls_scale);
    if (k) {
        memset(m->drec, 0, nimg * sizeof(float));
        if ((st = zoo_dis_backward(m, m->drec, NULL, m->dcls, 0))) return st;
        block_mean(m->drec, m->drec, (size_t)B * 3, c->size, k);
        df_add_forward(m->dfake, m->dfake, m->drec, nimg);
    } else if ((st = zoo_dis_backward(m, m->dfake, m->dsrc, m->dcls, 0))) return st;
    memset(m->drec, 0, nimg * sizeof(float));
    if (c->family == ZOO_ATTGAN) {
        /* identity edit: G(x, diff = 0) ~ x */
        if ((st = zoo_gen_forward(m, 1, m->rec, x, src, src, NULL, B))) return st;
        L.g_rec = df_l1_loss(m->drec, m->rec, x, nimg, o->lambda_rec);
        if ((st = zoo_gen_backward(m, 1, NULL, m->drec, NULL, 1))) return st;
    } else {
        /* cycle: G(G(x, trg), src) ~ x */
        if ((st = zoo_gen_forward(m, 1, m->rec, m->fake, m->trg, src, z2, B))) return st;
        L.g_rec = df_l1_loss(m->drec, m->rec, x, nimg, o->lambda_rec);
        if ((st = zoo_gen_backward(m, 1, m->dfake, m->drec, NULL, 1))) return st;
        if (o->lambda_id > 0) {
            /* identity edit: G(x; src -> src) ~ x (slot 1 is free again after the cycle's backward) */
            memset(m->drec, 0, nimg * sizeof(float));
            if ((st = zoo_gen_forward(m, 1, m->rec, x, src, src, z1, B))) return st;
            L.g_id = df_l1_loss(m->drec, m->rec, x, nimg, o->lambda_id);
            if ((st = zoo_gen_backward(m, 1, NULL, m->drec, NULL, 1))) return st;
        }
    }
    if ((st = zoo_gen_backward(m, 0, NULL, m->dfake, NULL, 1))) return st;
    adam_step(&m->G.p, o, t);
    if (o->ema > 0 && (st = ema_update(m, o->ema))) return st;
    if (out) *out = L;
    return DF_OK;
}

/* ------------------------------------------------------------------ weight files */
static const char *const meta_ints[] = {"size", "width", "nres", "dwidth", "sdim", "zdim"};

static int *config_field(zoo_config *c, int i) {
    int *f[] = {&c->size, &c->width, &c->nres, &c->dwidth, &c->sdim, &c->zdim};
    return f[i];
}

df_status zoo_write(const zoo_model *m, dfw_writer *w, int checkpoint) {
    zoo_config c = m->cfg;
    df_status s = dfw_writer_meta(w, "arch", zoo_family_arch(c.family));
    for (int i = 0; !s && i < 6; i++) s = dfw_writer_meta_int(w, meta_ints[i], *config_field(&c, i));
    if (!s) s = dfw_writer_meta_int(w, "skip", c.skip);
    if (!s && c.cls_pool > 1) s = dfw_writer_meta_int(w, "cls_pool", c.cls_pool); /* absent: 1 (older files) */
    if (!s) s = dfw_writer_meta(w, "attrs", "Black_Hair,Blond_Hair,Brown_Hair,Male,Young");
    if (!s && checkpoint) s = dfw_writer_meta_int(w, "step", m->step);
    if (!s) s = dfw_writer_params(w, &m->G.p, checkpoint);
    if (!s) s = dfw_writer_params(w, &m->D.p, checkpoint);
    if (checkpoint && m->g_ema) /* the moving average, named after the generator's tensors */
        for (int i = 0; !s && i < m->G.p.n; i++) {
            const df_param_info *t = &m->G.p.info[i];
            char name[DF_NAME_MAX + 8];
            ema_name(name, sizeof name, t);
            s = dfw_writer_tensor(w, name, t->ndim, t->dims, m->g_ema + t->offset);
        }
    return s;
}

df_status zoo_save(const zoo_model *m, int checkpoint, uint8_t **out, size_t *outlen) {
    dfw_writer *w = malloc(sizeof *w);
    if (!w) return df_fail(DF_ERR_NOMEM, "zoo_save: out of memory");
    dfw_writer_init(w);
    df_status s = zoo_write(m, w, checkpoint);
    if (!s) s = dfw_writer_finish(w, out, outlen);
    dfw_writer_free(w);
    free(w);
    return s;
}

/* Adam moments "opt.m/<name>", "opt.v/<name>" of every tensor of p. */
static df_status load_opt(const dfw_file *f, df_params *p) {
    char name[DF_NAME_MAX + 8];
    for (int i = 0; i < p->n; i++) {
        const df_param_info *t = &p->info[i];
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "opt.%c/%s", k ? 'v' : 'm', t->name);
            df_status s = dfw_read_tensor(f, name, (k ? p->v : p->m) + t->offset, t->ndim, t->dims);
            if (s) return s;
        }
    }
    return DF_OK;
}

df_status zoo_load(zoo_model **out, const uint8_t *buf, size_t len, int training) {
    *out = NULL;
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s) return s;
    char arch[64];
    zoo_config c;
    memset(&c, 0, sizeof c);
    if ((s = dfw_meta_get(&f, "arch", arch, sizeof arch)) || (s = zoo_family_parse(arch, &c.family))) {
        s = df_fail(DF_ERR_UNSUPPORTED, "zoo: not a zoo model (arch '%s')", s == DF_ERR_FORMAT ? "?" : arch);
        goto done;
    }
    for (int i = 0; i < 6; i++) {
        long v;
        if ((s = dfw_meta_int(&f, meta_ints[i], &v))) goto done;
        if (v < -1 || v > 100000) {
            s = df_fail(DF_ERR_FORMAT, "zoo: meta '%s' out of range", meta_ints[i]);
            goto done;
        }
        *config_field(&c, i) = (int)v;
    }
    if (dfw_meta_has(&f, "skip")) { /* optional: files from before it are plain generators */
        long v;
        if ((s = dfw_meta_int(&f, "skip", &v))) goto done;
        if (v < 0 || v > ZOO_SKIP_ATTENTION) {
            s = df_fail(DF_ERR_FORMAT, "zoo: meta 'skip' must be 0, 1 or 2");
            goto done;
        }
        c.skip = (int)v;
    }
    if (dfw_meta_has(&f, "cls_pool")) { /* optional: files from before it have a plain attribute head */
        long v;
        if ((s = dfw_meta_int(&f, "cls_pool", &v))) goto done;
        if (v < 0 || v > 32) {
            s = df_fail(DF_ERR_FORMAT, "zoo: meta 'cls_pool' out of range");
            goto done;
        }
        c.cls_pool = (int)v;
    }
    zoo_model *m;
    if ((s = model_new(&m, &c, training))) goto done;
    if ((s = dfw_load_params(&f, &m->G.p)) || (s = dfw_load_params(&f, &m->D.p))) {
        zoo_free(m);
        goto done;
    }
    if (training && dfw_find(&f, "opt.m/g.enc0.w")) {
        long step;
        if ((s = dfw_meta_int(&f, "step", &step)) || (s = load_opt(&f, &m->G.p)) || (s = load_opt(&f, &m->D.p))) {
            zoo_free(m);
            goto done;
        }
        m->step = step;
    }
    char ema0[DF_NAME_MAX + 8];
    ema_name(ema0, sizeof ema0, &m->G.p.info[0]);
    if (dfw_find(&f, ema0)) { /* training: the average goes on; inference: it is the generator to use */
        float *dst = m->G.p.data;
        if (training && !(dst = m->g_ema = calloc(m->G.p.total, sizeof(float)))) /* padding: 0 */
            s = df_fail(DF_ERR_NOMEM, "zoo: out of memory");
        for (int i = 0; !s && i < m->G.p.n; i++) {
            const df_param_info *t = &m->G.p.info[i];
            char name[DF_NAME_MAX + 8];
            ema_name(name, sizeof name, t);
            s = dfw_read_tensor(&f, name, dst + t->offset, t->ndim, t->dims);
        }
        if (s) {
            zoo_free(m);
            goto done;
        }
    }
    *out = m;
done:
    dfw_free(&f);
    return s;
}
