/* DADFI training of Gen (see protector.h). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "protector.h"

#define NAUG 4
#define DIRECT_LOG_EPS 1e-3f

struct prot_trainer {
    prot_opts o;
    uint64_t seed;
    long step;
    int n, B, S, P;            /* P = patch logits per image */
    zoo_model *m[PROT_MAX_MODELS];
    gen_model *g;
    patchgan *ix, *iy;
    pgd_ctx *pc;
    float *adv[PROT_MAX_MODELS], *vel[PROT_MAX_MODELS];    /* universal perturbations [3,S,S], momentum */
    float *trg[PROT_MAX_MODELS], *z[PROT_MAX_MODELS];      /* this step's targets [B,5], noise [B,zdim] */
    float *yc[PROT_MAX_MODELS], *wm[PROT_MAX_MODELS];      /* clean edits, pixel weights (ours) */
    float *fc[PROT_MAX_MODELS];                            /* clean features (ours, w_feat > 0) */
    size_t nf[PROT_MAX_MODELS];
    float *yreal[PROT_MAX_MODELS], *yfake[PROT_MAX_MODELS], *dyf[PROT_MAX_MODELS], *dfe[PROT_MAX_MODELS];
    float *delta, *xadv, *ddelta, *dxadv, *xin, *dxin, *xr, *xt, *ytmp, *tmp1, *tmp2;
    float *stage[NAUG];         /* input of each transform of this step */
    aug_op aug[NAUG];
    int naug;
    rs_affine wmap[64];         /* this step's attacker crops, one per image (p_warp > 0) */
    int wkern[64];
    int warp;                   /* 1: the crops apply this step */
    float *xpre, *dpre;         /* model inputs before the crop, and their gradient */
    rs_affine umap[64];         /* the photo path's upsampling S -> Su (p_photo) */
    int ukern[64];
    int Su;                     /* this step's upsampled frame (0: none) */
    float *xup, *dup;           /* model inputs upsampled to Su x Su, and their gradient */
    float *aws;                 /* transform workspace */
    size_t aws_cap;
    float *logit, *dlogit, *ones, *zeros, *lb, *lb2;
    float r_t, eps_t;
    const float *src;          /* this step's source attributes (attgan needs them) */
    /* imported targets (graph.h), at their own side Sg: the attacker's crop of the same frame onto Sg */
    int ng, Sg, Sw;             /* Sw: the side of the window of the Sg view they see in training (graph_window) */
    graph_model *gm[PROT_MAX_MODELS];
    float *ycg[PROT_MAX_MODELS], *wmg[PROT_MAX_MODELS], *yfg[PROT_MAX_MODELS], *dyg[PROT_MAX_MODELS];
    float *xing, *xtg, *dxing;  /* adversarial and clean inputs at Sg, the adversarial input's gradient */
    rs_affine gmap[64];         /* this step's crops onto Sg (the same draws as wmap; in training moved to the
                                 * image's window of Sw x Sw) */
};

/* ------------------------------------------------------------------ options */
prot_opts prot_default_opts(int recipe) {
    prot_opts o;
    memset(&o, 0, sizeof o);
    o.recipe = recipe;
    o.eps = 0.05f;
    o.mu = 0.5f;
    o.lr_g = 2e-4f;
    o.lr_d = 2e-4f;
    o.idex = 1;
    o.idey = 1;
    o.universal = 1;
    o.pgd_step = 0.01f;
    o.pgd_iters = 10;
    o.nes_samples = 20;
    o.nes_sigma = 0.01f;
    o.nes_down = 4;
    o.adv_iters = 3;
    o.adv_step = 0.005f;
    o.adv_momentum = 0.9f;
    o.gen_width = 16;
    o.out_scale = recipe == PROT_OURS ? o.eps : 0.1f;
    o.d_width = 16;
    o.d_layers = 3;
    if (recipe == PROT_OURS) {
        o.lr_g = 5e-4f; /* 400 steps against one zoo model: L2_mask 0.008 at 2e-4, 0.013 at 5e-4, 0.014 at 1e-3 */
        o.w_direct = 100.0f;
        o.direct_cap = 0.2f;
        o.mask_soft = 0.1f;
        o.w_energy = 1.0f;
        o.psnr_target = 37.5f;
        o.p_diversity = 0.3f;
        o.p_resize = 0.25f;
        o.p_blur = 0.2f;
        o.p_jpeg = 0.4f;
        o.aug_start = 400;
        o.aug_ramp = 800;
    }
    o.warp_shift = 0.05f;
    o.warp_scale = 0.10f;
    o.warp_rot = 10.0f;
    o.warp_kernel = ATK_ANY_KERNEL;
    o.photo_up = 2.0f;
    o.w_graph = 1.0f;
    o.eps_start = o.eps;
    return o;
}

typedef struct {
    const char *name;
    size_t off;
    char type; /* f float, i int, l long */
} opt_field;
#define OF(f, t) {#f, offsetof(prot_opts, f), t}
static const opt_field FIELDS[] = {
    OF(recipe, 'i'),      OF(eps, 'f'),          OF(mu, 'f'),          OF(lr_g, 'f'),        OF(lr_d, 'f'),
    OF(idex, 'i'),        OF(idey, 'i'),         OF(universal, 'i'),   OF(blackbox, 'i'),    OF(pgd_step, 'f'),
    OF(pgd_iters, 'i'),   OF(pgd_momentum, 'f'), OF(nes_samples, 'i'), OF(nes_sigma, 'f'),   OF(nes_down, 'i'),
    OF(gen_width, 'i'),   OF(out_scale, 'f'),    OF(d_width, 'i'),     OF(d_layers, 'i'),    OF(w_direct, 'f'),
    OF(direct_cap, 'f'),  OF(mask_soft, 'f'),    OF(w_feat, 'f'),      OF(w_energy, 'f'),    OF(psnr_target, 'f'),
    OF(p_diversity, 'f'), OF(p_resize, 'f'),     OF(p_blur, 'f'),      OF(p_jpeg, 'f'),      OF(eps_start, 'f'),
    OF(eps_ramp, 'l'),    OF(adv_iters, 'i'),    OF(adv_step, 'f'),    OF(adv_momentum, 'f'),  OF(aug_start, 'l'),
    OF(aug_ramp, 'l'),    OF(direct_log, 'i'),   OF(gen_chroma, 'i'),  OF(p_warp, 'f'),     OF(warp_shift, 'f'),
    OF(warp_scale, 'f'),  OF(warp_rot, 'f'),     OF(warp_kernel, 'i'), OF(gen_smooth, 'i'),  OF(p_photo, 'f'),
    OF(photo_up, 'f'),    OF(photo_kernel, 'i'),  OF(w_graph, 'f'),
    OF(graph_side, 'i'),  OF(graph_window, 'i'),
};
#define NFIELDS (int)(sizeof FIELDS / sizeof FIELDS[0])

df_status prot_opts_write(dfw_writer *w, const prot_opts *o) {
    df_status s = DF_OK;
    for (int i = 0; i < NFIELDS && !s; i++) {
        char key[64];
        const char *p = (const char *)o + FIELDS[i].off;
        snprintf(key, sizeof key, "opt.%s", FIELDS[i].name);
        if (FIELDS[i].type == 'f')
            s = dfw_writer_meta_float(w, key, *(const float *)p);
        else
            s = dfw_writer_meta_int(w, key, FIELDS[i].type == 'i' ? *(const int *)p : *(const long *)p);
    }
    return s;
}

df_status prot_opts_read(const dfw_file *f, prot_opts *o) {
    for (int i = 0; i < NFIELDS; i++) {
        char key[64], val[64];
        snprintf(key, sizeof key, "opt.%s", FIELDS[i].name);
        if (dfw_meta_get(f, key, val, sizeof val) != DF_OK) continue;
        df_status s = prot_opts_set(o, FIELDS[i].name, val);
        if (s) return s;
    }
    return DF_OK;
}

df_status prot_opts_set(prot_opts *o, const char *name, const char *value) {
    for (int i = 0; i < NFIELDS; i++) {
        if (strcmp(name, FIELDS[i].name)) continue;
        char *end;
        char *p = (char *)o + FIELDS[i].off;
        if (FIELDS[i].type == 'f') {
            double v = strtod(value, &end);
            if (end == value || *end || !isfinite(v)) break;
            *(float *)p = (float)v;
        } else {
            long v = strtol(value, &end, 10);
            if (end == value || *end) break;
            if (FIELDS[i].type == 'i') {
                if (v < -2147483647L || v > 2147483647L) break;
                *(int *)p = (int)v;
            } else {
                *(long *)p = v;
            }
        }
        return DF_OK;
    }
    return df_fail(DF_ERR_ARG, "protector: unknown option or bad value '%s=%s'", name, value);
}

static df_status check_opts(const prot_opts *o) {
    if (o->recipe != PROT_PAPER && o->recipe != PROT_OURS) return df_fail(DF_ERR_ARG, "protector: unknown recipe");
    if (!(o->eps > 0 && o->eps <= 1) || !(o->eps_start > 0 && o->eps_start <= 1) || o->eps_ramp < 0)
        return df_fail(DF_ERR_ARG, "protector: eps and eps_start must be in (0, 1], eps_ramp >= 0");
    if (o->aug_start < 0 || o->aug_ramp < 0) return df_fail(DF_ERR_ARG, "protector: aug_start, aug_ramp >= 0");
    if (!(o->p_warp >= 0 && o->p_warp <= 1) || !(o->warp_shift >= 0 && o->warp_shift <= 0.5f) ||
        !(o->warp_scale >= 0 && o->warp_scale <= 0.5f) || !(o->warp_rot >= 0 && o->warp_rot <= 45) ||
        o->warp_kernel < ATK_ANY_KERNEL || o->warp_kernel >= RS_NKERNELS)
        return df_fail(DF_ERR_ARG, "protector: p_warp in [0, 1], warp_shift and warp_scale in [0, 0.5], warp_rot in "
                                   "[0, 45], warp_kernel -1..%d", RS_NKERNELS - 1);
    if (!(o->p_photo >= 0 && o->p_photo <= 1) || !(o->photo_up >= 1 && o->photo_up <= 4) || o->photo_kernel < 0 ||
        o->photo_kernel >= RS_NKERNELS)
        return df_fail(DF_ERR_ARG, "protector: p_photo in [0, 1], photo_up in [1, 4], photo_kernel 0..%d",
                       RS_NKERNELS - 1);
    if (!(o->out_scale > 0 && o->out_scale <= 2)) return df_fail(DF_ERR_ARG, "protector: out_scale in (0, 2]");
    if (!(o->lr_g >= 0) || !(o->lr_d >= 0) || !(o->mu >= 0)) return df_fail(DF_ERR_ARG, "protector: lr, mu >= 0");
    if (o->pgd_iters < 0 || !(o->pgd_step >= 0) || !(o->pgd_momentum >= 0) || o->adv_iters < 0 ||
        !(o->adv_step >= 0) || !(o->adv_momentum >= 0))
        return df_fail(DF_ERR_ARG, "protector: bad PGD settings");
    if (o->blackbox && (o->nes_samples < 1 || !(o->nes_sigma > 0) || o->nes_down < 1))
        return df_fail(DF_ERR_ARG, "protector: NES needs samples >= 1, sigma > 0, down >= 1");
    if (!(o->psnr_target >= 0) || !(o->w_energy >= 0) || !(o->w_direct >= 0) || !(o->w_feat >= 0) ||
        !(o->direct_cap > 0 || o->w_direct == 0))
        return df_fail(DF_ERR_ARG, "protector: loss weights must be >= 0 and direct_cap > 0");
    if (!(o->w_graph >= 0) || o->graph_side < 0 || o->graph_side > 4096 || o->graph_window < 0)
        return df_fail(DF_ERR_ARG, "protector: w_graph >= 0, graph_side in 0..4096, graph_window >= 0");
    return DF_OK;
}

/* ------------------------------------------------------------------ create / free */
static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int zdim_of(const zoo_model *m) {
    const zoo_config *c = zoo_get_config(m);
    return c->family == ZOO_STYLE ? c->zdim : 0;
}

static float *fbuf(size_t n, df_status *s) {
    float *p = *s ? NULL : calloc(n ? n : 1, sizeof(float));
    if (!p && !*s) *s = df_fail(DF_ERR_NOMEM, "protector: out of memory");
    return p;
}

df_status prot_create(prot_trainer **out, const prot_opts *o, zoo_model *const *models, int n, int B, uint64_t seed) {
    return prot_create_targets(out, o, models, n, NULL, 0, B, seed);
}

df_status prot_create_targets(prot_trainer **out, const prot_opts *o, zoo_model *const *models, int n,
                              graph_model *const *graphs, int ng, int B, uint64_t seed) {
    *out = NULL;
    df_status s = check_opts(o);
    if (s) return s;
    if (n < 1 || ng < 0 || n + ng > PROT_MAX_MODELS || B < 1 || !models || (ng && !graphs))
        return df_fail(DF_ERR_ARG, "protector: need 1..%d models (at least one zoo model) and B >= 1", PROT_MAX_MODELS);
    int S = zoo_get_config(models[0])->size;
    for (int i = 1; i < n; i++)
        if (zoo_get_config(models[i])->size != S) return df_fail(DF_ERR_ARG, "protector: models differ in input size");
    int Sg = ng ? (o->graph_side > 0 ? o->graph_side : graph_get_info(graphs[0])->size) : 0;
    for (int j = 0; j < ng; j++) {
        int OH, OW;
        if ((s = graph_check_image_model(graphs[j]))) return s;
        if (o->graph_side <= 0 && graph_get_info(graphs[j])->size != Sg)
            return df_fail(DF_ERR_ARG, "protector: imported models differ in input size (%d, %d)", Sg,
                           graph_get_info(graphs[j])->size);
        for (int k = 0; k < 2; k++) {
            int side = k ? (o->graph_window > 0 ? o->graph_window : Sg) : Sg;
            if ((s = graph_output_size(graphs[j], side, side, &OH, &OW))) return s;
            if (OH != side || OW != side)
                return df_fail(DF_ERR_ARG, "protector: an imported model maps %d x %d to %d x %d", side, side, OH, OW);
        }
    }
    if (ng && o->graph_window > Sg)
        return df_fail(DF_ERR_ARG, "protector: graph_window %d exceeds the imported models' side %d", o->graph_window, Sg);
    if (ng && (o->recipe != PROT_OURS || !(o->p_warp > 0) || !(o->w_direct > 0) || o->blackbox))
        return df_fail(DF_ERR_ARG, "protector: imported models need recipe ours with p_warp > 0 and w_direct > 0 "
                                   "(they are attacked through the attacker's crop at their own side), white box");
    if (o->p_warp > 0 && B > 64) return df_fail(DF_ERR_ARG, "protector: at most 64 images per batch with p_warp");
    if (S % 16 || S % (1 << o->d_layers)) return df_fail(DF_ERR_ARG, "protector: S must be a multiple of 16 and 2^d_layers");
    prot_trainer *t = calloc(1, sizeof *t);
    if (!t) return df_fail(DF_ERR_NOMEM, "protector: out of memory");
    t->o = *o;
    if (o->blackbox) t->o.w_feat = 0; /* a query-only model exposes no features */
    t->seed = seed;
    t->n = n, t->B = B, t->S = S;
    t->ng = ng, t->Sg = Sg, t->Sw = ng && o->graph_window > 0 ? o->graph_window : Sg;
    int OH, OW;
    patchgan_config pc = {3, o->d_width, o->d_layers, 1};
    patchgan_out_size(&pc, S, S, &OH, &OW);
    t->P = OH * OW;
    gen_config gc = {o->gen_width, o->out_scale, o->gen_chroma, o->gen_smooth};
    s = gen_create(&t->g, &gc, mix(seed, 1), 1);
    if (!s) s = patchgan_create(&t->ix, &pc, "idex", mix(seed, 2), 1);
    if (!s) s = patchgan_create(&t->iy, &pc, "idey", mix(seed, 3), 1);
    if (!s) s = pgd_ctx_create(&t->pc);
    size_t img = (size_t)B * 3 * S * S, one = (size_t)3 * S * S;
    for (int i = 0; i < n; i++) {
        t->m[i] = models[i];
        t->adv[i] = fbuf(one, &s);
        t->vel[i] = fbuf(one, &s);
        t->trg[i] = fbuf((size_t)B * ZOO_NATTR, &s);
        t->z[i] = fbuf((size_t)B * (zdim_of(models[i]) + 1), &s);
        t->yc[i] = fbuf(img, &s);
        t->wm[i] = fbuf((size_t)B * S * S, &s);
        t->yreal[i] = fbuf(img, &s);
        t->yfake[i] = fbuf(img, &s);
        t->dyf[i] = fbuf(img, &s);
    }
    size_t imgg = (size_t)B * 3 * Sg * Sg;
    for (int j = 0; j < ng; j++) {
        t->gm[j] = graphs[j];
        t->ycg[j] = fbuf(imgg, &s), t->yfg[j] = fbuf(imgg, &s), t->dyg[j] = fbuf(imgg, &s);
        t->wmg[j] = fbuf((size_t)B * Sg * Sg, &s);
    }
    if (ng) t->xing = fbuf(imgg, &s), t->xtg = fbuf(imgg, &s), t->dxing = fbuf(imgg, &s);
    t->delta = fbuf(img, &s), t->xadv = fbuf(img, &s), t->ddelta = fbuf(img, &s), t->dxadv = fbuf(img, &s);
    t->xin = fbuf(img, &s), t->dxin = fbuf(img, &s), t->xr = fbuf(img, &s), t->xt = fbuf(img, &s);
    t->ytmp = fbuf(img, &s);
    t->xpre = fbuf(img, &s), t->dpre = fbuf(img, &s);
    if (o->p_photo > 0 && o->p_warp > 0) {
        size_t U = (size_t)ceil(S * o->photo_up) + 1;
        t->xup = fbuf((size_t)B * 3 * U * U, &s), t->dup = fbuf((size_t)B * 3 * U * U, &s);
    }
    t->tmp1 = fbuf(img, &s), t->tmp2 = fbuf(img, &s);
    for (int k = 0; k < NAUG; k++) t->stage[k] = fbuf(img, &s);
    size_t nl = (size_t)B * t->P;
    t->logit = fbuf(nl, &s), t->dlogit = fbuf(nl, &s), t->ones = fbuf(nl, &s), t->zeros = fbuf(nl, &s);
    t->lb = fbuf((size_t)B, &s), t->lb2 = fbuf((size_t)B, &s);
    if (s) {
        prot_free(t);
        return s;
    }
    for (size_t k = 0; k < nl; k++) t->ones[k] = 1.0f;
    *out = t;
    return DF_OK;
}

void prot_free(prot_trainer *t) {
    if (!t) return;
    gen_free(t->g);
    patchgan_free(t->ix);
    patchgan_free(t->iy);
    pgd_ctx_free(t->pc);
    for (int i = 0; i < t->n; i++) {
        free(t->adv[i]), free(t->vel[i]), free(t->trg[i]), free(t->z[i]), free(t->yc[i]), free(t->wm[i]);
        free(t->fc[i]), free(t->yreal[i]), free(t->yfake[i]), free(t->dyf[i]), free(t->dfe[i]);
    }
    for (int j = 0; j < t->ng; j++) free(t->ycg[j]), free(t->yfg[j]), free(t->dyg[j]), free(t->wmg[j]);
    free(t->xing), free(t->xtg), free(t->dxing);
    free(t->delta), free(t->xadv), free(t->ddelta), free(t->dxadv), free(t->xin), free(t->dxin), free(t->xr);
    free(t->xt);
    free(t->xpre), free(t->dpre), free(t->xup), free(t->dup);
    free(t->ytmp), free(t->tmp1), free(t->tmp2), free(t->aws);
    for (int k = 0; k < NAUG; k++) free(t->stage[k]);
    free(t->logit), free(t->dlogit), free(t->ones), free(t->zeros), free(t->lb), free(t->lb2);
    free(t);
}

const prot_opts *prot_get_opts(const prot_trainer *t) { return &t->o; }
gen_model *prot_gen(prot_trainer *t) { return t->g; }
patchgan *prot_idex(prot_trainer *t) { return t->ix; }
patchgan *prot_idey(prot_trainer *t) { return t->iy; }
long prot_get_step(const prot_trainer *t) { return t->step; }
float *prot_adv(prot_trainer *t, int i) { return i >= 0 && i < t->n ? t->adv[i] : NULL; }

/* ------------------------------------------------------------------ checkpoints */
/* Gen's meta (what gen_load reads) and the run's: step, seed, models, size, batch, options. */
static df_status write_meta(const prot_trainer *t, dfw_writer *w) {
    df_status s = gen_write_meta(t->g, w);
    if (!s) s = dfw_writer_meta_int(w, "step", t->step);
    if (!s) s = dfw_writer_meta_int(w, "seed", (long)t->seed);
    if (!s) s = dfw_writer_meta_int(w, "models", t->n);
    if (!s && t->ng) s = dfw_writer_meta_int(w, "graphs", t->ng);
    if (!s) s = dfw_writer_meta_int(w, "size", t->S);
    if (!s) s = dfw_writer_meta_int(w, "batch", t->B);
    if (!s) s = prot_opts_write(w, &t->o);
    return s;
}

df_status prot_write_weights(const prot_trainer *t, dfw_writer *w) {
    df_status s = write_meta(t, w);
    return s ? s : dfw_writer_params(w, gen_params(t->g), 0);
}

df_status prot_write(const prot_trainer *t, dfw_writer *w) {
    int dims[3] = {3, t->S, t->S};
    df_status s = write_meta(t, w);
    if (!s) s = dfw_writer_meta(w, "checkpoint", PROT_ARCH);
    if (!s) s = dfw_writer_params(w, gen_params(t->g), 1);
    if (!s) s = dfw_writer_params(w, patchgan_params(t->ix), 1);
    if (!s) s = dfw_writer_params(w, patchgan_params(t->iy), 1);
    for (int i = 0; i < t->n && !s; i++) {
        char name[32];
        snprintf(name, sizeof name, "adv.%d", i);
        s = dfw_writer_tensor(w, name, 3, dims, t->adv[i]);
        snprintf(name, sizeof name, "advvel.%d", i);
        if (!s) s = dfw_writer_tensor(w, name, 3, dims, t->vel[i]);
    }
    return s;
}

df_status prot_save(const prot_trainer *t, uint8_t **out, size_t *outlen) {
    dfw_writer w;
    dfw_writer_init(&w);
    df_status s = prot_write(t, &w);
    if (!s) s = dfw_writer_finish(&w, out, outlen);
    dfw_writer_free(&w);
    return s;
}

df_status prot_init_from(prot_trainer *t, const uint8_t *buf, size_t len) {
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s) return s;
    char kind[32];
    long n = 0, S = 0;
    int ckpt = dfw_meta_get(&f, "checkpoint", kind, sizeof kind) == DF_OK && !strcmp(kind, PROT_ARCH);
    s = dfw_load_params(&f, gen_params(t->g));
    if (!s && ckpt) {
        s = dfw_load_params(&f, patchgan_params(t->ix));
        if (!s) s = dfw_load_params(&f, patchgan_params(t->iy));
        if (!s && !dfw_meta_int(&f, "models", &n) && !dfw_meta_int(&f, "size", &S) && n == t->n && S == t->S) {
            int dims[3] = {3, t->S, t->S};
            for (int i = 0; i < t->n && !s; i++) {
                char name[32];
                snprintf(name, sizeof name, "adv.%d", i);
                s = dfw_read_tensor(&f, name, t->adv[i], 3, dims);
            }
        }
    }
    dfw_free(&f);
    if (s) return s;
    /* a new run: fresh optimiser state and step 0 */
    df_params *ps[3] = {gen_params(t->g), patchgan_params(t->ix), patchgan_params(t->iy)};
    for (int k = 0; k < 3; k++) {
        memset(ps[k]->m, 0, ps[k]->total * sizeof(float));
        memset(ps[k]->v, 0, ps[k]->total * sizeof(float));
    }
    for (int i = 0; i < t->n; i++) memset(t->vel[i], 0, (size_t)3 * t->S * t->S * sizeof(float));
    t->step = 0;
    return DF_OK;
}

df_status prot_checkpoint_seed(const dfw_file *f, uint64_t *seed) {
    long v;
    df_status s = dfw_meta_int(f, "seed", &v);
    if (!s) *seed = (uint64_t)v;
    return s;
}

df_status prot_resume(prot_trainer *t, const uint8_t *buf, size_t len) {
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s) return s;
    char kind[32];
    long step = 0, n = 0, S = 0;
    if (dfw_meta_get(&f, "checkpoint", kind, sizeof kind) || strcmp(kind, PROT_ARCH) ||
        dfw_meta_int(&f, "step", &step) || dfw_meta_int(&f, "models", &n) || dfw_meta_int(&f, "size", &S)) {
        dfw_free(&f);
        return df_fail(DF_ERR_FORMAT, "protector: not a training checkpoint (meta checkpoint = %s)", PROT_ARCH);
    }
    if (n != t->n || S != t->S || step < 0) {
        dfw_free(&f);
        return df_fail(DF_ERR_ARG, "protector: checkpoint has %ld models of size %ld; this run %d of size %d", n, S,
                       t->n, t->S);
    }
    s = dfw_load_params(&f, gen_params(t->g));
    if (!s) s = dfw_load_params(&f, patchgan_params(t->ix));
    if (!s) s = dfw_load_params(&f, patchgan_params(t->iy));
    int dims[3] = {3, t->S, t->S};
    for (int i = 0; i < t->n && !s; i++) {
        char name[32];
        snprintf(name, sizeof name, "adv.%d", i);
        s = dfw_read_tensor(&f, name, t->adv[i], 3, dims);
        snprintf(name, sizeof name, "advvel.%d", i);
        if (!s) s = dfw_read_tensor(&f, name, t->vel[i], 3, dims);
    }
    if (!s) t->step = step;
    dfw_free(&f);
    return s;
}

/* ------------------------------------------------------------------ helpers */
void prot_random_targets(float *trg, float *z, const float *src, int B, int zdim, df_rng *rng) {
    for (int b = 0; b < B; b++) {
        const float *sb = src + b * ZOO_NATTR;
        float *tb = trg + b * ZOO_NATTR;
        /* an edit that changes something (a hair colour the face already has is redrawn) */
        for (int tries = 0; tries < 8; tries++) {
            zoo_edit_attrs(tb, sb, (int)(df_rng_u32(rng) % ZOO_NATTR));
            if (memcmp(tb, sb, ZOO_NATTR * sizeof(float))) break;
        }
    }
    if (z)
        for (size_t k = 0; k < (size_t)B * zdim; k++) z[k] = df_rng_normal(rng);
}

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

static void adam(df_params *p, float lr, long step) {
    df_adam cfg = df_adam_default(lr);
    df_adam_update(p->data, p->grad, p->m, p->v, p->total, &cfg, step);
}

/* Apply this step's transforms: out = T(in).  keep: remember each stage's input for backward. */
static void aug_chain(prot_trainer *t, float *out, const float *in, int keep) {
    int B = t->B, S = t->S;
    size_t n = (size_t)B * 3 * S * S;
    if (t->naug == 0) {
        memcpy(out, in, n * sizeof(float));
        return;
    }
    const float *cur = in;
    for (int k = 0; k < t->naug; k++) {
        float *dst = k == t->naug - 1 ? out : keep ? t->stage[k + 1] : (k % 2 ? t->tmp2 : t->tmp1);
        if (keep) {
            if (k == 0) memcpy(t->stage[0], in, n * sizeof(float));
            cur = t->stage[k];
        }
        aug_forward(&t->aug[k], dst, cur, B, S, t->aws);
        cur = dst;
    }
}

/* dx += T^T dy through the kept stages (dy is consumed). */
static void aug_chain_backward(prot_trainer *t, float *dx, float *dy) {
    int B = t->B, S = t->S;
    size_t n = (size_t)B * 3 * S * S;
    float *g = dy;
    for (int k = t->naug - 1; k >= 0; k--) {
        float *dst = k == 0 ? dx : (g == t->tmp1 ? t->tmp2 : t->tmp1);
        if (k > 0) memset(dst, 0, n * sizeof(float));
        aug_backward(&t->aug[k], dst, g, t->stage[k], B, S, t->aws);
        g = dst;
    }
    if (t->naug == 0)
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
}

/* The model's view: out = Crop(T(in)) (the attacker's crop after the site's transforms); keep as aug_chain. */
static void pipe(prot_trainer *t, float *out, const float *in, int keep) {
    if (!t->warp) {
        aug_chain(t, out, in, keep);
        return;
    }
    aug_chain(t, t->xpre, in, keep);
    int S = t->S, Su = t->Su;
    if (Su) { /* the photo path: upsampled, then the attacker's crop from the larger frame */
        rs_warp_forward(t->xup, t->xpre, t->umap, t->ukern, t->B, 3, S, S, Su, Su);
        rs_warp_forward(out, t->xup, t->wmap, t->wkern, t->B, 3, Su, Su, S, S);
        return;
    }
    rs_warp_forward(out, t->xpre, t->wmap, t->wkern, t->B, 3, S, S, S, S);
}

/* The imported targets' view of the frame the last pipe() cropped from: out [B,3,Sw,Sw] = the same crops onto
 * Sg (the attacker resamples its crop to each model's own input), each image's window of it. */
static void pipe_graph(prot_trainer *t, float *out) {
    int F = t->Su ? t->Su : t->S;
    rs_warp_forward(out, t->Su ? t->xup : t->xpre, t->gmap, t->wkern, t->B, 3, F, F, t->Sw, t->Sw);
}

/* dx += T^T (Crop^T dy + CropG^T dyg) (dy is consumed; dyg [B,3,Sw,Sw] or NULL: no imported targets). */
static void pipe_backward(prot_trainer *t, float *dx, float *dy, const float *dyg) {
    if (!t->warp) {
        aug_chain_backward(t, dx, dy);
        return;
    }
    int S = t->S, Su = t->Su, Sw = t->Sw;
    memset(t->dpre, 0, (size_t)t->B * 3 * S * S * sizeof(float));
    if (Su) {
        memset(t->dup, 0, (size_t)t->B * 3 * Su * Su * sizeof(float));
        rs_warp_backward(t->dup, dy, t->wmap, t->wkern, t->B, 3, Su, Su, S, S);
        if (dyg) rs_warp_backward(t->dup, dyg, t->gmap, t->wkern, t->B, 3, Su, Su, Sw, Sw);
        rs_warp_backward(t->dpre, t->dup, t->umap, t->ukern, t->B, 3, S, S, Su, Su);
    } else {
        rs_warp_backward(t->dpre, dy, t->wmap, t->wkern, t->B, 3, S, S, S, S);
        if (dyg) rs_warp_backward(t->dpre, dyg, t->gmap, t->wkern, t->B, 3, S, S, Sw, Sw);
    }
    aug_chain_backward(t, dx, t->dpre);
}

/* Per-image attacker crops for nb images of a frame F x F (the face square: S, or Su on the photo path): with
 * probability p (per image) a draw from the opts' distribution, otherwise the face square itself (at F = S an
 * exact copy).  Draws do not depend on p. */
static void draw_warps(prot_trainer *t, int nb, float p, int F, int window, df_rng *rng) {
    const prot_opts *o = &t->o;
    atk_spec sp = {o->warp_shift, o->warp_scale, o->warp_rot, o->warp_kernel, 0, 0, 0};
    int S = t->S;
    for (int b = 0; b < nb; b++) {
        atk_sample a;
        float u = df_rng_uniform(rng);
        atk_draw(&a, &sp, rng);
        if (u < p) {
            t->wmap[b] = atk_map(&a, F / 2.0, F / 2.0, F, S);
            if (t->ng) t->gmap[b] = atk_map(&a, F / 2.0, F / 2.0, F, t->Sg);
            t->wkern[b] = a.kernel;
        } else {
            t->wmap[b] = rs_square_map(F / 2.0, F / 2.0, F, 0, S);
            if (t->ng) t->gmap[b] = rs_square_map(F / 2.0, F / 2.0, F, 0, t->Sg);
            t->wkern[b] = F == S ? RS_BILINEAR : RS_BICUBIC_AA;
        }
        if (window && t->ng && t->Sw < t->Sg) { /* output (x, y) of the window = (x + ox, y + oy) of the view */
            double ox = floor(df_rng_uniform(rng) * (t->Sg - t->Sw + 1)), oy = floor(df_rng_uniform(rng) * (t->Sg - t->Sw + 1));
            double *a = t->gmap[b].a;
            a[2] += a[0] * ox + a[1] * oy;
            a[5] += a[3] * ox + a[4] * oy;
        }
    }
}

static df_status draw_augs(prot_trainer *t, long step, df_rng *rng) {
    const prot_opts *o = &t->o;
    float ramp = step < o->aug_start ? 0.0f
                 : o->aug_ramp > 0   ? fminf(1.0f, (float)(step - o->aug_start + 1) / (float)o->aug_ramp)
                                     : 1.0f;
    const float p[NAUG] = {ramp * o->p_diversity, ramp * o->p_resize, ramp * o->p_blur, ramp * o->p_jpeg};
    const aug_kind kinds[NAUG] = {AUG_DIVERSITY, AUG_RESIZE, AUG_BLUR, AUG_JPEG};
    t->naug = 0;
    for (int k = 0; k < NAUG; k++) {
        float u = df_rng_uniform(rng); /* always drawn: the stream does not depend on the probabilities */
        aug_op op = aug_random(kinds[k], t->S, rng);
        if (o->recipe == PROT_OURS && u < p[k]) t->aug[t->naug++] = op;
    }
    t->warp = o->recipe == PROT_OURS && o->p_warp > 0;
    t->Su = 0;
    if (t->warp && o->p_photo > 0) { /* drawn only with the photo path on: older runs keep their streams */
        float u = df_rng_uniform(rng), f = 1.0f + (o->photo_up - 1.0f) * df_rng_uniform(rng);
        if (u < ramp * o->p_photo) t->Su = (int)lroundf(t->S * f);
        if (t->Su == t->S) t->Su = 0;
        for (int b = 0; b < t->B && t->Su; b++) {
            t->umap[b] = rs_square_map(t->S / 2.0, t->S / 2.0, t->S, 0, t->Su);
            t->ukern[b] = t->o.photo_kernel;
        }
    }
    if (t->warp) draw_warps(t, t->B, ramp * o->p_warp, t->Su ? t->Su : t->S, 1, rng);
    size_t need = 1;
    for (int k = 0; k < t->naug; k++) {
        size_t w = aug_workspace(&t->aug[k], t->B, t->S);
        if (w > need) need = w;
    }
    if (need > t->aws_cap) {
        free(t->aws);
        t->aws = malloc(need * sizeof(float));
        t->aws_cap = t->aws ? need : 0;
        if (!t->aws) return df_fail(DF_ERR_NOMEM, "protector: out of memory");
    }
    return DF_OK;
}

/* BCE of patch logits against a constant target, per image (mean over patches), scaled by 1/B into dlogit. */
static float bce(prot_trainer *t, float *dlogit, float *loss_b, const float *logit, int real, float scale) {
    int B = t->B, P = t->P;
    double s = 0;
    const float *tg = real ? t->ones : t->zeros;
    for (int b = 0; b < B; b++) {
        float l = df_bce_logits_loss(dlogit ? dlogit + b * P : NULL, logit + b * P, tg, (size_t)P, scale / B);
        if (loss_b) loss_b[b] += l;
        s += l;
    }
    return (float)(s / B);
}

/* Gen's model-dependent loss for model i from its output y (zoo slot 1 holds the matching forward):
 * Ide_y (non-saturating) + ours' direct and feature terms.  Adds per-image losses to loss_b (if non-NULL);
 * with grad, writes dy (overwritten) and the feature gradient.  Returns the components through *cmp. */
typedef struct {
    double idey, direct, feat;
    double gen_terms; /* what Gen minimises from the direct and feature terms (capped direct) */
} comp;

/* Ours' direct term of one target of side S with weight w: Gen minimises -w * min(L_b, cap) (or its log form)
 * per image, L_b the masked disruption of y against the clean yc (pixel weights wm).  dy (may be NULL) gets
 * the gradient (added). */
static void direct_term(prot_trainer *t, float *dy, const float *y, const float *yc, const float *wm, int S, float w,
                        float *loss_b, comp *cmp) {
    const prot_opts *o = &t->o;
    int B = t->B;
    size_t img1 = (size_t)3 * S * S, hw = (size_t)S * S;
    pgd_disruption_loss(NULL, t->lb2, y, yc, wm, B, S, S, 0.0f);
    for (int b = 0; b < B; b++) {
        cmp->direct += t->lb2[b] / B;
        float l = t->lb2[b] < o->direct_cap ? t->lb2[b] : o->direct_cap;
        /* log form: d log(l + e) = dl / (l + e), so weakly disrupted images and models pull hardest */
        float v = o->direct_log ? logf(l + DIRECT_LOG_EPS) : l;
        float scale = o->direct_log ? 1.0f / (l + DIRECT_LOG_EPS) : 1.0f;
        cmp->gen_terms -= w * v / B;
        if (loss_b) loss_b[b] -= w * v;
        if (dy && t->lb2[b] < o->direct_cap)
            pgd_disruption_loss(dy + b * img1, NULL, y + b * img1, yc + b * img1, wm + b * hw, 1, S, S,
                                -w * scale / B);
    }
}

static df_status model_loss(prot_trainer *t, int i, const float *y, float *loss_b, int grad, comp *cmp) {
    const prot_opts *o = &t->o;
    int B = t->B, S = t->S;
    size_t img1 = (size_t)3 * S * S;
    float *dy = t->dyf[i];
    if (grad) memset(dy, 0, (size_t)B * img1 * sizeof(float));
    df_status s;
    if (o->idey) {
        if ((s = patchgan_forward(t->iy, t->logit, y, B, S, S))) return s;
        if (grad) memset(t->dlogit, 0, (size_t)B * t->P * sizeof(float));
        cmp->idey += bce(t, grad ? t->dlogit : NULL, loss_b, t->logit, 1, 1.0f);
        if (grad && (s = patchgan_backward(t->iy, dy, t->dlogit, 0))) return s;
    }
    if (o->recipe == PROT_OURS && o->w_direct > 0)
        direct_term(t, grad ? dy : NULL, y, t->yc[i], t->wm[i], S, o->w_direct, loss_b, cmp);
    if (o->recipe == PROT_OURS && o->w_feat > 0) {
        const float *f = zoo_gen_features(t->m[i], 1, NULL, NULL, NULL);
        if (!f) return df_fail(DF_ERR_ARG, "protector: model %d exposes no features", i);
        size_t nf = t->nf[i];
        if (grad) memset(t->dfe[i], 0, (size_t)B * nf * sizeof(float));
        for (int b = 0; b < B; b++) {
            float l = df_mse_loss(grad ? t->dfe[i] + b * nf : NULL, f + b * nf, t->fc[i] + b * nf, nf, -o->w_feat / B);
            cmp->feat += l / B;
            cmp->gen_terms -= o->w_feat * l / B;
            if (loss_b) loss_b[b] -= o->w_feat * l;
        }
    }
    return DF_OK;
}

/* NES oracle: Gen's model-dependent loss per image at model input x. */
typedef struct {
    prot_trainer *t;
} oracle_ctx;

static df_status oracle(void *ctx, float *loss_b, const float *x, int B) {
    prot_trainer *t = ((oracle_ctx *)ctx)->t;
    memset(loss_b, 0, (size_t)B * sizeof(float));
    for (int i = 0; i < t->n; i++) {
        df_status s = zoo_gen_forward(t->m[i], 1, t->ytmp, x, t->src, t->trg[i], t->z[i], B);
        comp c = {0, 0, 0, 0};
        if (!s) s = model_loss(t, i, t->ytmp, loss_b, 0, &c);
        if (s) return s;
    }
    return DF_OK;
}

static pgd_opts label_opts(const prot_trainer *t, uint64_t seed) {
    pgd_opts po = pgd_default_opts();
    po.eps = t->o.eps;
    po.step = t->o.pgd_step;
    po.iters = t->o.pgd_iters;
    po.momentum = t->o.pgd_momentum;
    po.masked = t->o.recipe == PROT_OURS;
    po.mask_soft = t->o.recipe == PROT_OURS ? t->o.mask_soft : 0.1f;
    po.blackbox = t->o.blackbox;
    po.nes_samples = t->o.nes_samples;
    po.nes_sigma = t->o.nes_sigma;
    po.nes_down = t->o.nes_down;
    po.seed = seed;
    return po;
}

/* ------------------------------------------------------------------ the training step */
/* One step with the randomness of `step`.  train: update the discriminators, then Gen.  Otherwise only Gen's
 * loss and its parameter gradient (overwritten) are computed, against the current discriminators. */
static df_status step_impl(prot_trainer *t, const float *x, const float *src, long step, int train,
                           prot_losses *out) {
    const prot_opts *o = &t->o;
    int B = t->B, S = t->S, n = t->n;
    size_t img = (size_t)B * 3 * S * S, per = (size_t)3 * S * S;
    df_status s;
    df_rng rng;
    df_rng_seed(&rng, mix(t->seed, 1000 + (uint64_t)step));
    prot_losses L;
    memset(&L, 0, sizeof L);
    t->src = src;

    /* eps schedule */
    float f = o->eps_ramp > 0 ? 1.0f - (float)step / (float)o->eps_ramp : 0.0f;
    t->eps_t = o->eps + (o->eps_start - o->eps) * (f > 0 ? f : 0.0f);
    t->r_t = t->eps_t / o->eps;

    for (int i = 0; i < n; i++) prot_random_targets(t->trg[i], t->z[i], src, B, zdim_of(t->m[i]), &rng);
    if ((s = draw_augs(t, step, &rng))) return s;
    uint64_t pgd_seed = df_rng_u32(&rng);

    /* Gen */
    if ((s = gen_forward(t->g, t->delta, x, B, S, S))) return s;
    for (size_t k = 0; k < img; k++) {
        t->delta[k] *= t->r_t;
        t->xadv[k] = clampf(x[k] + t->delta[k], -1.0f, 1.0f);
        float a = fabsf(t->delta[k]);
        if (a > L.linf) L.linf = a;
    }

    /* model passes: clean references on T(x) (ours: the perturbation's effect, not the transform's), Ide_y
     * reals, fakes on T(x_adv) (kept in slot 1 for backward) */
    pipe(t, t->xin, t->xadv, 1);
    if (t->ng) pipe_graph(t, t->xing);
    if (o->recipe == PROT_OURS) pipe(t, t->xt, x, 0);
    if (t->ng) pipe_graph(t, t->xtg); /* ours: checked in prot_create */
    int Sw = t->Sw; /* the imported targets' window */
    for (int j = 0; j < t->ng; j++) { /* clean reference, then the adversarial pass whose activations stay */
        if ((s = graph_forward(t->gm[j], t->ycg[j], t->xtg, B, Sw, Sw, 1))) return s;
        if ((s = pgd_weight_map(t->wmg[j], t->ycg[j], t->xtg, B, Sw, Sw, o->mask_soft))) return s;
        if ((s = graph_forward(t->gm[j], t->yfg[j], t->xing, B, Sw, Sw, 1))) return s;
    }
    for (int i = 0; i < n; i++) {
        zoo_model *m = t->m[i];
        if (o->recipe == PROT_OURS) {
            if ((s = zoo_gen_forward(m, 0, t->yc[i], t->xt, src, t->trg[i], t->z[i], B))) return s;
            if ((s = pgd_weight_map(t->wm[i], t->yc[i], t->xt, B, S, S, o->mask_soft))) return s;
            if (o->w_feat > 0) {
                int C, FH, FW;
                const float *fe = zoo_gen_features(m, 0, &C, &FH, &FW);
                if (!fe) return df_fail(DF_ERR_ARG, "protector: model %d exposes no features", i);
                size_t nf = (size_t)C * FH * FW;
                if (!t->fc[i] || t->nf[i] != nf) {
                    free(t->fc[i]), free(t->dfe[i]);
                    t->fc[i] = malloc((size_t)B * nf * sizeof(float));
                    t->dfe[i] = malloc((size_t)B * nf * sizeof(float));
                    t->nf[i] = nf;
                    if (!t->fc[i] || !t->dfe[i]) return df_fail(DF_ERR_NOMEM, "protector: out of memory");
                }
                memcpy(t->fc[i], fe, (size_t)B * nf * sizeof(float));
            }
        }
        if (o->idey) {
            if (o->universal) {
                for (size_t k = 0; k < img; k++) t->xr[k] = clampf(x[k] + t->adv[i][k % per], -1.0f, 1.0f);
            } else {
                pgd_model pm = {m, src, t->trg[i], 1, t->z[i], 1.0f, NULL};
                pgd_opts po = label_opts(t, mix(pgd_seed, (uint64_t)i));
                if ((s = pgd_set_models(t->pc, &pm, 1, B)) || (s = pgd_attack(t->pc, t->xr, x, &po, NULL))) return s;
            }
            pipe(t, t->ytmp, t->xr, 0);
            if ((s = zoo_gen_forward(m, 1, t->yreal[i], t->ytmp, src, t->trg[i], t->z[i], B))) return s;
        }
        if ((s = zoo_gen_forward(m, 1, t->yfake[i], t->xin, src, t->trg[i], t->z[i], B))) return s;
    }

    /* discriminators first (fakes detached) */
    if (train && o->idex) {
        patchgan *d = t->ix;
        df_params_zero_grad(patchgan_params(d));
        if ((s = patchgan_forward(d, t->logit, x, B, S, S))) return s;
        memset(t->dlogit, 0, (size_t)B * t->P * sizeof(float));
        L.d_idex = bce(t, t->dlogit, NULL, t->logit, 1, 1.0f);
        if ((s = patchgan_backward(d, NULL, t->dlogit, 1))) return s;
        if ((s = patchgan_forward(d, t->logit, t->xadv, B, S, S))) return s;
        memset(t->dlogit, 0, (size_t)B * t->P * sizeof(float));
        L.d_idex += bce(t, t->dlogit, NULL, t->logit, 0, 1.0f);
        if ((s = patchgan_backward(d, NULL, t->dlogit, 1))) return s;
        adam(patchgan_params(d), o->lr_d, step + 1);
    }
    if (train && o->idey) {
        patchgan *d = t->iy;
        df_params_zero_grad(patchgan_params(d));
        for (int i = 0; i < n; i++)
            for (int real = 1; real >= 0; real--) {
                if ((s = patchgan_forward(d, t->logit, real ? t->yreal[i] : t->yfake[i], B, S, S))) return s;
                memset(t->dlogit, 0, (size_t)B * t->P * sizeof(float));
                L.d_idey += bce(t, t->dlogit, NULL, t->logit, real, 1.0f);
                if ((s = patchgan_backward(d, NULL, t->dlogit, 1))) return s;
            }
        adam(patchgan_params(d), o->lr_d, step + 1);
    }

    /* Gen's losses */
    memset(t->dxadv, 0, img * sizeof(float));
    memset(t->ddelta, 0, img * sizeof(float));
    if (o->idex) {
        if ((s = patchgan_forward(t->ix, t->logit, t->xadv, B, S, S))) return s;
        memset(t->dlogit, 0, (size_t)B * t->P * sizeof(float));
        L.g_idex = bce(t, t->dlogit, NULL, t->logit, 1, 1.0f);
        if ((s = patchgan_backward(t->ix, t->dxadv, t->dlogit, 0))) return s;
    }
    comp c = {0, 0, 0, 0};
    int model_terms = o->idey || (o->recipe == PROT_OURS && (o->w_direct > 0 || o->w_feat > 0));
    if (model_terms) {
        memset(t->dxin, 0, img * sizeof(float));
        for (int i = 0; i < n; i++) {
            if ((s = model_loss(t, i, t->yfake[i], NULL, !o->blackbox, &c))) return s;
            if (!o->blackbox &&
                (s = zoo_gen_backward(t->m[i], 1, t->dxin, t->dyf[i], o->w_feat > 0 && o->recipe == PROT_OURS ? t->dfe[i] : NULL, 0)))
                return s;
        }
        if (o->blackbox) {
            oracle_ctx oc = {t};
            if ((s = pgd_nes(t->dxin, oracle, &oc, t->xin, B, 3, S, S, o->nes_samples, o->nes_sigma, o->nes_down,
                             1.0f / B, &rng)))
                return s;
        }
        if (t->ng) memset(t->dxing, 0, (size_t)B * 3 * Sw * Sw * sizeof(float));
        for (int j = 0; j < t->ng; j++) {
            memset(t->dyg[j], 0, (size_t)B * 3 * Sw * Sw * sizeof(float));
            direct_term(t, t->dyg[j], t->yfg[j], t->ycg[j], t->wmg[j], Sw, o->w_direct * o->w_graph, NULL, &c);
            if ((s = graph_backward(t->gm[j], t->dxing, t->dyg[j]))) return s;
        }
        pipe_backward(t, t->dxadv, t->dxin, t->ng ? t->dxing : NULL);
    }
    L.g_idey = (float)c.idey;
    L.direct = (float)(c.direct / (n + t->ng));
    L.feat = (float)(c.feat / n);
    L.hinge = df_perturb_hinge_loss(t->ddelta, t->delta, B, per, t->eps_t, o->mu);
    if (o->recipe == PROT_OURS && o->w_energy > 0 && o->psnr_target > 0) {
        double m = 4.0 * pow(10.0, -o->psnr_target / 10.0); /* MSE of that PSNR on the [-1, 1] scale */
        for (int b = 0; b < B; b++) {
            const float *d = t->delta + b * per;
            double e = 0;
            for (size_t k = 0; k < per; k++) e += (double)d[k] * d[k];
            e /= per;
            if (e > m) {
                L.energy += (float)((e / m - 1) / B);
                float gk = (float)(o->w_energy * 2.0 / (m * per * B));
                for (size_t k = 0; k < per; k++) t->ddelta[b * per + k] += gk * d[k];
            }
        }
    }
    L.total = (float)(L.g_idex + L.g_idey + o->mu * L.hinge + c.gen_terms + o->w_energy * L.energy);

    /* through the pixel clip and the schedule into Gen */
    for (size_t k = 0; k < img; k++) {
        float a = x[k] + t->delta[k];
        if (a > -1.0f && a < 1.0f) t->ddelta[k] += t->dxadv[k];
        t->ddelta[k] *= t->r_t;
    }
    df_params *gp = gen_params(t->g);
    df_params_zero_grad(gp);
    if ((s = gen_backward(t->g, NULL, t->ddelta))) return s;
    if (train) {
        adam(gp, o->lr_g, step + 1);
        t->step = step + 1;
    }
    if (out) *out = L;
    return DF_OK;
}

df_status prot_step(prot_trainer *t, const float *x, const float *src, prot_losses *out) {
    return step_impl(t, x, src, t->step, 1, out);
}

df_status prot_gen_objective(prot_trainer *t, const float *x, const float *src, long step, prot_losses *out) {
    if (t->o.blackbox) return df_fail(DF_ERR_ARG, "protector: no exact gradient in black-box mode");
    return step_impl(t, x, src, step, 0, out);
}

/* ------------------------------------------------------------------ universal perturbations */
df_status prot_universal_update(prot_trainer *t, int i, const float *x, const float *src, long batch_index,
                                float *loss) {
    if (i < 0 || i >= t->n) return df_fail(DF_ERR_ARG, "protector: no model %d", i);
    df_rng rng;
    df_rng_seed(&rng, mix(mix(t->seed, 77 + (uint64_t)i), (uint64_t)batch_index));
    prot_random_targets(t->trg[i], t->z[i], src, t->B, zdim_of(t->m[i]), &rng);
    pgd_model pm = {t->m[i], src, t->trg[i], 1, t->z[i], 1.0f, NULL};
    pgd_opts po = label_opts(t, df_rng_u32(&rng));
    po.iters = t->o.adv_iters, po.step = t->o.adv_step, po.momentum = t->o.adv_momentum;
    df_status s = pgd_set_models(t->pc, &pm, 1, t->B);
    if (!s) s = pgd_universal_step(t->pc, t->adv[i], t->vel[i], x, &po, 0, &rng, loss);
    return s;
}

/* ------------------------------------------------------------------ validation */
df_status prot_validate(prot_trainer *t, const float *x, const float *src, int B, uint64_t val_seed, prot_val *out,
                        float *x_adv, float *const *y_clean, float *const *y_adv) {
    int S = t->S, n = t->n, TB = t->B;
    size_t per = (size_t)3 * S * S;
    float eps = t->o.eps;
    memset(out, 0, sizeof *out);
    df_rng rng;
    df_rng_seed(&rng, val_seed);
    df_status s = DF_OK;
    double psnr = 0, ssim = 0;
    for (int off = 0; off < B && !s; off += TB) {
        int nb = B - off < TB ? B - off : TB;
        const float *xb = x + off * per, *sb = src + off * ZOO_NATTR;
        if ((s = gen_forward(t->g, t->delta, xb, nb, S, S))) break;
        float *xa = x_adv ? x_adv + off * per : t->xadv;
        for (size_t k = 0; k < nb * per; k++) xa[k] = clampf(xb[k] + clampf(t->delta[k], -eps, eps), -1.0f, 1.0f);
        for (int b = 0; b < nb; b++) {
            psnr += df_psnr(xa + b * per, xb + b * per, per) / B;
            ssim += df_ssim(xa + b * per, xb + b * per, 3, S, S) / B;
        }
        /* with EOT training: the models see the attacker's crops (drawn from the training distribution) */
        const float *mc = xb, *ma = xa;
        if (t->o.p_warp > 0 && t->o.recipe == PROT_OURS) {
            df_rng wr;
            df_rng_seed(&wr, mix(val_seed, 991 + (uint64_t)off));
            draw_warps(t, nb, 1.0f, S, 0, &wr);
            rs_warp_forward(t->xt, xb, t->wmap, t->wkern, nb, 3, S, S, S, S);
            rs_warp_forward(t->xin, xa, t->wmap, t->wkern, nb, 3, S, S, S, S);
            mc = t->xt, ma = t->xin;
        }
        for (int j = 0; j < t->ng && !s; j++) { /* imported targets: the same crops at their side */
            int Sg = t->Sg;
            size_t pg = (size_t)3 * Sg * Sg;
            rs_warp_forward(t->xtg, xb, t->gmap, t->wkern, nb, 3, S, S, Sg, Sg);
            rs_warp_forward(t->xing, xa, t->gmap, t->wkern, nb, 3, S, S, Sg, Sg);
            s = graph_forward(t->gm[j], t->ycg[j], t->xtg, nb, Sg, Sg, 1);
            if (!s) s = graph_forward(t->gm[j], t->yfg[j], t->xing, nb, Sg, Sg, 1);
            for (int b = 0; b < nb && !s; b++) {
                df_disruption d;
                df_disruption_measure(&d, t->yfg[j] + b * pg, t->ycg[j] + b * pg, t->xtg + b * pg, Sg, Sg);
                out->success[n + j] += (float)d.success / B;
                out->l2_mask[n + j] += (float)d.l2_mask / B;
            }
        }
        for (int i = 0; i < n && !s; i++) {
            prot_random_targets(t->trg[i], t->z[i], sb, nb, zdim_of(t->m[i]), &rng);
            float *yc = y_clean ? y_clean[i] + off * per : t->yc[i];
            float *ya = y_adv ? y_adv[i] + off * per : t->yfake[i];
            s = zoo_gen_forward(t->m[i], 0, yc, mc, sb, t->trg[i], t->z[i], nb);
            if (!s) s = zoo_gen_forward(t->m[i], 1, ya, ma, sb, t->trg[i], t->z[i], nb);
            for (int b = 0; b < nb && !s; b++) {
                df_disruption d;
                df_disruption_measure(&d, ya + b * per, yc + b * per, mc + b * per, S, S);
                out->success[i] += (float)d.success / B;
                out->l2_mask[i] += (float)d.l2_mask / B;
            }
        }
    }
    for (int i = 0; i < n + t->ng; i++) out->success_mean += out->success[i] / (n + t->ng);
    out->psnr = (float)psnr;
    out->ssim = (float)ssim;
    return s;
}
