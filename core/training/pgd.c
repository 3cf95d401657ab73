/* PGD, universal perturbations and NES gradient estimates against zoo models (see pgd.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "metrics.h"
#include "pgd.h"

typedef struct {
    float *yc;  /* [ntrg][B,3,S,S] clean outputs */
    float *wm;  /* [ntrg][B,S,S] pixel weights (masked only) */
    float *fc;  /* [ntrg][B*nf] clean features (feat_weight > 0 only) */
    size_t nf;  /* feature floats per image */
    float *y, *dy, *df;
    size_t cap_yc, cap_wm, cap_fc, cap_y, cap_dy, cap_df;
} pgd_slot;

struct pgd_ctx {
    const pgd_model *m;
    int n, B, S;
    pgd_slot *slot;
    int nslot;
    int have_clean, masked, feat_used;
    float mask_soft, feat_weight;
    float *g, *v, *xin, *lb, *gt;
    size_t cap_g, cap_v, cap_xin, cap_lb, cap_gt;
};

pgd_opts pgd_default_opts(void) {
    pgd_opts o = {0};
    o.eps = 0.05f;
    o.step = 0.01f;
    o.iters = 10;
    o.random_start = 1;
    o.balance = 1;
    o.mask_soft = 0.1f;
    o.nes_samples = 50;
    o.nes_sigma = 0.01f;
    o.nes_down = 1;
    o.seed = 1;
    return o;
}

/* ------------------------------------------------------------------ targets: zoo models or imported graphs */
static int model_side(const pgd_model *m) {
    return m->graph ? graph_get_info(m->graph)->size : zoo_get_config(m->model)->size;
}

/* y = model(x) for target row k (zoo: edit k of the batch's targets, in zoo slot `slot`; graph: its one edit,
 * activations kept for pgd_backward). */
static df_status model_forward(const pgd_model *m, int slot, float *y, const float *x, int k, int B, int S) {
    if (m->graph) return graph_forward(m->graph, y, x, B, S, S, 1);
    return zoo_gen_forward(m->model, slot, y, x, m->src, m->trg + (size_t)k * B * ZOO_NATTR, m->z, B);
}

/* dx += (d y / d x)^T dy (+ the feature term, zoo only) for the model's last slot-1 forward. */
static df_status model_backward(const pgd_model *m, float *dx, const float *dy, const float *df) {
    if (m->graph) return graph_backward(m->graph, dx, dy);
    return zoo_gen_backward(m->model, 1, dx, dy, df, 0);
}

static const float *model_features(const pgd_model *m, int slot, int *C, int *FH, int *FW) {
    return m->graph ? NULL : zoo_gen_features(m->model, slot, C, FH, FW);
}

/* Make *p hold at least n floats (contents not kept). */
static df_status grow(float **p, size_t *cap, size_t n) {
    if (n <= *cap && *p) return DF_OK;
    free(*p);
    *p = malloc((n ? n : 1) * sizeof(float));
    *cap = *p ? n : 0;
    return *p ? DF_OK : df_fail(DF_ERR_NOMEM, "pgd: out of memory (%zu floats)", n);
}

df_status pgd_ctx_create(pgd_ctx **c) {
    *c = calloc(1, sizeof **c);
    return *c ? DF_OK : df_fail(DF_ERR_NOMEM, "pgd: out of memory");
}

void pgd_ctx_free(pgd_ctx *c) {
    if (!c) return;
    for (int i = 0; i < c->nslot; i++) {
        pgd_slot *s = &c->slot[i];
        free(s->yc), free(s->wm), free(s->fc), free(s->y), free(s->dy), free(s->df);
    }
    free(c->slot);
    free(c->g), free(c->v), free(c->xin), free(c->lb), free(c->gt);
    free(c);
}

df_status pgd_set_models(pgd_ctx *c, const pgd_model *m, int n, int B) {
    if (!c || !m || n < 1 || B < 1) return df_fail(DF_ERR_ARG, "pgd: need >= 1 model and >= 1 image");
    int S = 0;
    for (int i = 0; i < n; i++) {
        if (m[i].graph ? m[i].model != NULL || m[i].ntrg < 1
                       : !m[i].model || !m[i].src || !m[i].trg || m[i].ntrg < 1)
            return df_fail(DF_ERR_ARG, "pgd: model %d needs a zoo model with source and target attributes, or an "
                                       "imported graph alone", i);
        if (m[i].graph) {
            df_status gs = graph_check_image_model(m[i].graph);
            if (gs) return gs;
        }
        int s = model_side(&m[i]);
        if (i > 0 && s != S) return df_fail(DF_ERR_ARG, "pgd: models take different input sizes (%d, %d)", S, s);
        S = s;
    }
    if (n > c->nslot) {
        pgd_slot *ns = realloc(c->slot, (size_t)n * sizeof *ns);
        if (!ns) return df_fail(DF_ERR_NOMEM, "pgd: out of memory");
        memset(ns + c->nslot, 0, (size_t)(n - c->nslot) * sizeof *ns);
        c->slot = ns;
        c->nslot = n;
    }
    size_t img = (size_t)B * 3 * S * S;
    for (int i = 0; i < n; i++) {
        pgd_slot *s = &c->slot[i];
        df_status st = grow(&s->y, &s->cap_y, img);
        if (!st) st = grow(&s->dy, &s->cap_dy, img);
        if (!st) st = grow(&s->yc, &s->cap_yc, (size_t)m[i].ntrg * img);
        if (st) return st;
    }
    df_status st = grow(&c->lb, &c->cap_lb, (size_t)B);
    if (st) return st;
    c->m = m;
    c->n = n;
    c->B = B;
    c->S = S;
    c->have_clean = 0;
    return DF_OK;
}

df_status pgd_set_clean(pgd_ctx *c, const float *x, const pgd_opts *o) {
    if (!c || !c->m) return df_fail(DF_ERR_ARG, "pgd: no models bound (pgd_set_models)");
    int B = c->B, S = c->S;
    size_t img = (size_t)B * 3 * S * S, hw = (size_t)S * S;
    c->masked = o->masked;
    c->mask_soft = o->mask_soft;
    c->feat_weight = o->feat_weight;
    c->have_clean = 0;
    for (int i = 0; i < c->n; i++) {
        const pgd_model *m = &c->m[i];
        pgd_slot *s = &c->slot[i];
        df_status st = DF_OK;
        if (o->masked) st = grow(&s->wm, &s->cap_wm, (size_t)m->ntrg * B * hw);
        for (int k = 0; k < m->ntrg && !st; k++) {
            float *yc = s->yc + k * img;
            st = model_forward(m, 0, yc, x, k, B, S);
            if (!st && o->masked) st = pgd_weight_map(s->wm + k * B * hw, yc, x, B, S, S, o->mask_soft);
            if (!st && o->feat_weight > 0) {
                int C, FH, FW;
                const float *f = model_features(m, 0, &C, &FH, &FW);
                if (!f) return df_fail(DF_ERR_ARG, "pgd: model %d exposes no features", i);
                s->nf = (size_t)C * FH * FW;
                if (k == 0) st = grow(&s->fc, &s->cap_fc, (size_t)m->ntrg * B * s->nf);
                if (!st) st = grow(&s->df, &s->cap_df, (size_t)B * s->nf);
                if (!st) memcpy(s->fc + k * B * s->nf, f, (size_t)B * s->nf * sizeof(float));
            }
        }
        if (st) return st;
    }
    c->have_clean = 1;
    return DF_OK;
}

df_status pgd_forward(pgd_ctx *c, float *loss, float *loss_b, const float *x_in, int t, float scale) {
    if (!c || !c->m) return df_fail(DF_ERR_ARG, "pgd: no models bound (pgd_set_models)");
    int B = c->B, S = c->S;
    size_t img = (size_t)B * 3 * S * S, hw = (size_t)S * S;
    int want = loss || loss_b || scale != 0.0f;
    if (want && !c->have_clean) return df_fail(DF_ERR_ARG, "pgd: loss needs clean references (pgd_set_clean)");
    if (loss_b) memset(loss_b, 0, (size_t)B * sizeof(float));
    double total = 0;
    c->feat_used = want && c->feat_weight > 0;
    for (int i = 0; i < c->n; i++) {
        const pgd_model *m = &c->m[i];
        pgd_slot *s = &c->slot[i];
        int k = t % m->ntrg;
        df_status st = model_forward(m, 1, s->y, x_in, k, B, S);
        if (st) return st;
        memset(s->dy, 0, img * sizeof(float));
        if (!want) continue;
        float w = m->weight;
        total += pgd_disruption_loss(scale != 0.0f ? s->dy : NULL, c->lb, s->y, s->yc + k * img,
                                     c->masked ? s->wm + k * B * hw : NULL, B, S, S, scale * w) * w;
        if (loss_b)
            for (int b = 0; b < B; b++) loss_b[b] += w * c->lb[b];
        if (c->feat_used) {
            int C, FH, FW;
            const float *f = model_features(m, 1, &C, &FH, &FW);
            if (!f || (size_t)C * FH * FW != s->nf) return df_fail(DF_ERR_ARG, "pgd: feature size changed");
            const float *fc = s->fc + k * B * s->nf;
            memset(s->df, 0, (size_t)B * s->nf * sizeof(float));
            float fw = c->feat_weight * w;
            for (int b = 0; b < B; b++) {
                size_t o = (size_t)b * s->nf;
                float lb = df_mse_loss(scale != 0.0f ? s->df + o : NULL, f + o, fc + o, s->nf, scale * fw / B);
                total += (double)fw * lb / B;
                if (loss_b) loss_b[b] += fw * lb;
            }
        }
    }
    if (loss) *loss = (float)total;
    return DF_OK;
}

const float *pgd_output(const pgd_ctx *c, int i) { return c->slot[i].y; }
float *pgd_dout(pgd_ctx *c, int i) { return c->slot[i].dy; }

df_status pgd_backward(pgd_ctx *c, float *dx) {
    for (int i = 0; i < c->n; i++) {
        df_status st = model_backward(&c->m[i], dx, c->slot[i].dy, c->feat_used ? c->slot[i].df : NULL);
        if (st) return st;
    }
    return DF_OK;
}

typedef struct {
    pgd_ctx *c;
    int t;
} nes_oracle;

static df_status oracle(void *ctx, float *loss_b, const float *x, int B) {
    nes_oracle *o = ctx;
    return pgd_forward(o->c, NULL, loss_b, x, o->t, 0.0f);
}

df_status pgd_grad(pgd_ctx *c, float *loss, float *grad, const float *x_in, int t, float scale, const pgd_opts *o,
                   df_rng *rng) {
    if (!o->blackbox) {
        df_status st = pgd_forward(c, loss, NULL, x_in, t, scale);
        return st ? st : pgd_backward(c, grad);
    }
    if (loss) {
        df_status st = pgd_forward(c, loss, NULL, x_in, t, 0.0f);
        if (st) return st;
    }
    nes_oracle orc = {c, t};
    /* pgd_nes estimates d L_b / d x_b; the mean over the batch divides by B */
    return pgd_nes(grad, oracle, &orc, x_in, c->B, 3, c->S, c->S, o->nes_samples, o->nes_sigma, o->nes_down,
                   scale / c->B, rng);
}

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline float signf(float v) { return v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f; }

/* 1 / mean|g| over np floats (0 for an all-zero g): the per-image gradient scale of balancing and MI-FGSM. */
static float inv_mean_abs(const float *g, size_t np) {
    double l1 = 0;
    for (size_t k = 0; k < np; k++) l1 += fabsf(g[k]);
    return l1 > 0 ? (float)(np / l1) : 0.0f;
}

/* Balanced white-box gradient: g += sum_i g_i / mean|g_i| per image, g_i the gradient through model i alone, so
 * that a model whose edit moves little under the perturbation still steers the sign step (with a plain sum the
 * most sensitive model decides almost every sign). */
static df_status balanced_grad(pgd_ctx *c, float *g, const float *x_in, int t) {
    df_status st = pgd_forward(c, NULL, NULL, x_in, t, 1.0f);
    if (st) return st;
    size_t np = (size_t)3 * c->S * c->S, n = (size_t)c->B * np;
    if ((st = grow(&c->gt, &c->cap_gt, n))) return st;
    for (int i = 0; i < c->n; i++) {
        memset(c->gt, 0, n * sizeof(float));
        st = model_backward(&c->m[i], c->gt, c->slot[i].dy, c->feat_used ? c->slot[i].df : NULL);
        if (st) return st;
        for (int b = 0; b < c->B; b++) {
            float *gb = g + (size_t)b * np, *tb = c->gt + (size_t)b * np;
            float inv = inv_mean_abs(tb, np);
            for (size_t k = 0; k < np; k++) gb[k] += tb[k] * inv;
        }
    }
    return DF_OK;
}

/* MI-FGSM: v = mu v + g / mean|g| (per image of np floats); g = v. */
static void momentum_update(float *g, float *v, int B, size_t np, float mu) {
    for (int b = 0; b < B; b++) {
        float *gb = g + (size_t)b * np, *vb = v + (size_t)b * np;
        float inv = inv_mean_abs(gb, np);
        for (size_t k = 0; k < np; k++) gb[k] = vb[k] = mu * vb[k] + gb[k] * inv;
    }
}

static df_status check_opts(const pgd_opts *o) {
    if (!(o->eps >= 0 && o->eps <= 2) || !(o->step >= 0) || o->iters < 0 || !(o->momentum >= 0))
        return df_fail(DF_ERR_ARG, "pgd: eps must be in [0, 2], step >= 0, iters >= 0, momentum >= 0");
    if (o->blackbox && (o->nes_samples < 1 || !(o->nes_sigma > 0) || o->nes_down < 1))
        return df_fail(DF_ERR_ARG, "pgd: NES needs samples >= 1, sigma > 0, down >= 1");
    if (o->jpeg < 0 || o->jpeg > 100) return df_fail(DF_ERR_ARG, "pgd: jpeg quality must be in 0..100 (0: off)");
    return DF_OK;
}

/* The differentiable JPEG of pgd_opts.jpeg: op, the clean reference J(x), the transformed input and its gradient. */
typedef struct {
    aug_op op;
    float *xc, *xj, *gj, *ws;
} pgd_jpeg;

static void jpeg_free(pgd_jpeg *j) {
    free(j->xc), free(j->xj), free(j->gj), free(j->ws);
    memset(j, 0, sizeof *j);
}

static df_status jpeg_init(pgd_jpeg *j, int quality, const float *x, int B, int S) {
    memset(j, 0, sizeof *j);
    j->op = (aug_op){AUG_JPEG, 0, 0, 0, 0, quality, AUG_ROUND_STE};
    df_status s = aug_check(&j->op, S);
    if (s) return s;
    size_t n = (size_t)B * 3 * S * S;
    j->xc = malloc(n * sizeof(float)), j->xj = malloc(n * sizeof(float)), j->gj = malloc(n * sizeof(float));
    j->ws = malloc(aug_workspace(&j->op, B, S) * sizeof(float));
    if (!j->xc || !j->xj || !j->gj || !j->ws) {
        jpeg_free(j);
        return df_fail(DF_ERR_NOMEM, "pgd: out of memory");
    }
    aug_forward(&j->op, j->xc, x, B, S, j->ws);
    return DF_OK;
}

df_status pgd_attack(pgd_ctx *c, float *x_adv, const float *x, const pgd_opts *o, float *final_loss) {
    df_status st = check_opts(o);
    if (st) return st;
    if (!c || !c->m) return df_fail(DF_ERR_ARG, "pgd: no models bound (pgd_set_models)");
    int B = c->B, S = c->S;
    size_t np = (size_t)3 * S * S, n = (size_t)B * np;
    if ((st = grow(&c->g, &c->cap_g, n)) || (st = grow(&c->v, &c->cap_v, n))) return st;
    pgd_jpeg jp = {0};
    if (o->jpeg > 0 && (st = jpeg_init(&jp, o->jpeg, x, B, S))) return st;
    if ((st = pgd_set_clean(c, o->jpeg > 0 ? jp.xc : x, o))) goto done;
    df_rng rng;
    df_rng_seed(&rng, o->seed);
    for (size_t k = 0; k < n; k++) {
        float r = o->random_start ? (2.0f * df_rng_uniform(&rng) - 1.0f) * o->eps : 0.0f;
        x_adv[k] = clampf(x[k] + r, -1.0f, 1.0f);
    }
    memset(c->v, 0, n * sizeof(float));
    for (int it = 0; it < o->iters; it++) {
        memset(c->g, 0, n * sizeof(float));
        const float *xin = x_adv;
        float *g = c->g;
        if (o->jpeg > 0) { /* the models see J(x_adv); the gradient comes back through J */
            aug_forward(&jp.op, jp.xj, x_adv, B, S, jp.ws);
            memset(jp.gj, 0, n * sizeof(float));
            xin = jp.xj, g = jp.gj;
        }
        if (o->balance && !o->blackbox && c->n > 1)
            st = balanced_grad(c, g, xin, it);
        else
            st = pgd_grad(c, NULL, g, xin, it, 1.0f, o, &rng);
        if (st) goto done;
        if (o->jpeg > 0) aug_backward(&jp.op, c->g, jp.gj, x_adv, B, S, jp.ws);
        if (o->momentum > 0) momentum_update(c->g, c->v, B, np, o->momentum);
        for (size_t k = 0; k < n; k++) {
            float a = x_adv[k] + o->step * signf(c->g[k]);
            x_adv[k] = clampf(clampf(a, x[k] - o->eps, x[k] + o->eps), -1.0f, 1.0f);
        }
    }
    if (final_loss) {
        int nt = 1;
        for (int i = 0; i < c->n; i++)
            if (c->m[i].ntrg > nt) nt = c->m[i].ntrg;
        const float *xin = x_adv;
        if (o->jpeg > 0) aug_forward(&jp.op, jp.xj, x_adv, B, S, jp.ws), xin = jp.xj;
        double s = 0;
        for (int t = 0; t < nt; t++) {
            float l;
            if ((st = pgd_forward(c, &l, NULL, xin, t, 0.0f))) goto done;
            s += l;
        }
        *final_loss = (float)(s / nt);
    }
done:
    jpeg_free(&jp);
    return st;
}

df_status pgd_eot_attack(pgd_ctx *c, float *x_adv, const float *x, int H, int W, pgd_sampler sample, void *sctx,
                         const pgd_opts *o) {
    df_status st = check_opts(o);
    if (st) return st;
    if (!c || !c->m) return df_fail(DF_ERR_ARG, "pgd: no models bound (pgd_set_models)");
    if (!x_adv || !x || !sample || H < 1 || W < 1 || (double)H * W > 16e6) return df_fail(DF_ERR_ARG, "pgd: bad EOT frame");
    int K = c->B, S = c->S;
    size_t nf = (size_t)3 * H * W, ns = (size_t)K * 3 * S * S;
    rs_affine *maps = malloc((size_t)K * sizeof *maps);
    int *kern = malloc((size_t)K * sizeof(int));
    float *xw = malloc(ns * sizeof(float)), *aw = malloc(ns * sizeof(float)), *gw = malloc(ns * sizeof(float));
    float *gf = malloc(nf * sizeof(float)), *vf = calloc(nf, sizeof(float));
    pgd_jpeg jp = {0};
    int q = -1; /* quality of jp (-1: none made) */
    if (!maps || !kern || !xw || !aw || !gw || !gf || !vf) {
        st = df_fail(DF_ERR_NOMEM, "pgd: out of memory");
        goto done;
    }
    df_rng rng;
    df_rng_seed(&rng, o->seed);
    for (size_t k = 0; k < nf; k++) {
        float r = o->random_start ? (2.0f * df_rng_uniform(&rng) - 1.0f) * o->eps : 0.0f;
        x_adv[k] = clampf(x[k] + r, -1.0f, 1.0f);
    }
    for (int it = 0; it < o->iters; it++) {
        int jq = 0;
        sample(sctx, maps, kern, &jq, K, it);
        if ((st = rs_warp_check(maps, kern, K, 3, H, W, S, S))) goto done;
        if (jq < 0 || jq > 100) {
            st = df_fail(DF_ERR_ARG, "pgd: EOT sampler gave JPEG quality %d", jq);
            goto done;
        }
        /* clean references of this iteration's samples */
        for (int k = 0; k < K; k++) rs_warp_forward(xw + (size_t)k * 3 * S * S, x, maps + k, kern + k, 1, 3, H, W, S, S);
        if (jq > 0 && jq != q) {
            jpeg_free(&jp);
            q = -1;
            if ((st = jpeg_init(&jp, jq, xw, K, S))) goto done;
            q = jq;
        } else if (jq > 0) {
            aug_forward(&jp.op, jp.xc, xw, K, S, jp.ws);
        }
        if ((st = pgd_set_clean(c, jq > 0 ? jp.xc : xw, o))) goto done;
        /* the attacked samples */
        for (int k = 0; k < K; k++) rs_warp_forward(aw + (size_t)k * 3 * S * S, x_adv, maps + k, kern + k, 1, 3, H, W, S, S);
        const float *xin = aw;
        if (jq > 0) aug_forward(&jp.op, jp.xj, aw, K, S, jp.ws), xin = jp.xj;
        memset(gw, 0, ns * sizeof(float));
        if (o->balance && !o->blackbox && c->n > 1) st = balanced_grad(c, gw, xin, it);
        else st = pgd_grad(c, NULL, gw, xin, it, 1.0f, o, &rng);
        if (st) goto done;
        if (jq > 0) {
            memcpy(jp.gj, gw, ns * sizeof(float));
            memset(gw, 0, ns * sizeof(float));
            aug_backward(&jp.op, gw, jp.gj, aw, K, S, jp.ws);
        }
        memset(gf, 0, nf * sizeof(float));
        for (int k = 0; k < K; k++) rs_warp_backward(gf, gw + (size_t)k * 3 * S * S, maps + k, kern + k, 1, 3, H, W, S, S);
        if (o->momentum > 0) momentum_update(gf, vf, 1, nf, o->momentum);
        for (size_t k = 0; k < nf; k++) {
            float a = x_adv[k] + o->step * signf(gf[k]);
            x_adv[k] = clampf(clampf(a, x[k] - o->eps, x[k] + o->eps), -1.0f, 1.0f);
        }
    }
done:
    jpeg_free(&jp);
    free(maps), free(kern), free(xw), free(aw), free(gw), free(gf), free(vf);
    return st;
}

df_status pgd_universal_step(pgd_ctx *c, float *delta, float *velocity, const float *x, const pgd_opts *o,
                             long t0, df_rng *rng, float *loss) {
    df_status st = check_opts(o);
    if (st) return st;
    if (!c || !c->m) return df_fail(DF_ERR_ARG, "pgd: no models bound (pgd_set_models)");
    if (o->momentum > 0 && !velocity) return df_fail(DF_ERR_ARG, "pgd: momentum needs a velocity buffer");
    int B = c->B;
    size_t np = (size_t)3 * c->S * c->S, n = (size_t)B * np;
    if ((st = grow(&c->g, &c->cap_g, n)) || (st = grow(&c->xin, &c->cap_xin, n)) || (st = grow(&c->v, &c->cap_v, np)))
        return st;
    if ((st = pgd_set_clean(c, x, o))) return st;
    int zero = 1;
    for (size_t k = 0; k < np && zero; k++) zero = delta[k] == 0.0f;
    if (zero && o->random_start) /* at delta = 0 the loss is flat (0 with a 0 gradient): start inside the ball */
        for (size_t k = 0; k < np; k++) delta[k] = (2.0f * df_rng_uniform(rng) - 1.0f) * o->eps;
    float *gd = c->v;
    for (int it = 0; it < o->iters; it++) {
        for (size_t k = 0; k < n; k++) c->xin[k] = clampf(x[k] + delta[k % np], -1.0f, 1.0f);
        memset(c->g, 0, n * sizeof(float));
        if ((st = pgd_grad(c, loss, c->g, c->xin, (int)((t0 + it) % 0x40000000L), 1.0f, o, rng))) return st;
        /* d/d delta = sum over images of the gradient where the pixel clip is inactive */
        memset(gd, 0, np * sizeof(float));
        for (int b = 0; b < B; b++) {
            const float *xb = x + (size_t)b * np, *gb = c->g + (size_t)b * np;
            for (size_t k = 0; k < np; k++) {
                float a = xb[k] + delta[k];
                if (a > -1.0f && a < 1.0f) gd[k] += gb[k];
            }
        }
        if (o->momentum > 0) momentum_update(gd, velocity, 1, np, o->momentum);
        for (size_t k = 0; k < np; k++) delta[k] = clampf(delta[k] + o->step * signf(gd[k]), -o->eps, o->eps);
    }
    return DF_OK;
}

/* ------------------------------------------------------------------ building blocks */

df_status pgd_weight_map(float *wmap, const float *yc, const float *x, int B, int H, int W, float soft) {
    size_t hw = (size_t)H * W;
    uint8_t *mask = malloc(hw);
    if (!mask) return df_fail(DF_ERR_NOMEM, "pgd: out of memory");
    for (int b = 0; b < B; b++) {
        df_cmua_mask(mask, yc + (size_t)b * 3 * hw, x + (size_t)b * 3 * hw, H, W);
        float *w = wmap + (size_t)b * hw;
        for (size_t p = 0; p < hw; p++) w[p] = soft + (float)mask[p];
    }
    free(mask);
    return DF_OK;
}

float pgd_disruption_loss(float *dy, float *loss_b, const float *y, const float *yc, const float *wmap, int B, int H,
                          int W, float scale) {
    size_t hw = (size_t)H * W;
    double mean = 0;
    for (int b = 0; b < B; b++) {
        const float *yb = y + (size_t)b * 3 * hw, *cb = yc + (size_t)b * 3 * hw;
        const float *wb = wmap ? wmap + (size_t)b * hw : NULL;
        double s = 0, ws = 0;
        for (size_t p = 0; p < hw; p++) {
            float w = wb ? wb[p] : 1.0f;
            double e = 0;
            for (int ch = 0; ch < 3; ch++) {
                double d = (double)yb[ch * hw + p] - cb[ch * hw + p];
                e += d * d;
            }
            s += w * e;
            ws += w;
        }
        double lb = ws > 0 ? s / (3.0 * ws) : 0.0;
        if (loss_b) loss_b[b] = (float)lb;
        mean += lb / B;
        if (dy && ws > 0) {
            float g = (float)(2.0 * scale / (3.0 * ws * B));
            float *db = dy + (size_t)b * 3 * hw;
            for (int ch = 0; ch < 3; ch++)
                for (size_t p = 0; p < hw; p++)
                    db[ch * hw + p] += g * (wb ? wb[p] : 1.0f) * (yb[ch * hw + p] - cb[ch * hw + p]);
        }
    }
    return (float)mean;
}

df_status pgd_nes(float *grad, pgd_loss_fn f, void *fctx, const float *x, int B, int C, int H, int W, int samples,
                  float sigma, int down, float scale, df_rng *rng) {
    if (samples < 1 || !(sigma > 0) || down < 1 || H % down || W % down)
        return df_fail(DF_ERR_ARG, "pgd_nes: samples >= 1, sigma > 0, and H, W multiples of down are required");
    size_t n = (size_t)B * C * H * W;
    int h = H / down, w = W / down;
    size_t ns = (size_t)B * C * h * w;
    float *u = malloc(n * sizeof(float)), *xp = malloc(n * sizeof(float)), *us = malloc(ns * sizeof(float));
    float *lp = malloc((size_t)B * 2 * sizeof(float)), *lm = lp + B;
    df_status st = (u && xp && us && lp) ? DF_OK : df_fail(DF_ERR_NOMEM, "pgd_nes: out of memory");
    for (int k = 0; k < samples && !st; k++) {
        for (size_t i = 0; i < ns; i++) us[i] = df_rng_normal(rng);
        if (down == 1) {
            memcpy(u, us, n * sizeof(float));
        } else {
            df_upsample_nearest_forward(u, us, B * C, h, w, down);
        }
        for (size_t i = 0; i < n; i++) xp[i] = x[i] + sigma * u[i];
        if ((st = f(fctx, lp, xp, B))) break;
        for (size_t i = 0; i < n; i++) xp[i] = x[i] - sigma * u[i];
        if ((st = f(fctx, lm, xp, B))) break;
        size_t per = n / B;
        for (int b = 0; b < B; b++) {
            float a = scale * (lp[b] - lm[b]) / (2.0f * sigma * samples);
            float *gb = grad + (size_t)b * per;
            const float *ub = u + (size_t)b * per;
            for (size_t i = 0; i < per; i++) gb[i] += a * ub[i];
        }
    }
    free(u), free(xp), free(us), free(lp);
    return st;
}
