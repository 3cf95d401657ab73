/* Evaluation of protectors against zoo models (eval.h). */
#include "eval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_names[] = {"none", "noise", "sign-noise", "pgd", "universal", "gen"};

const char *eval_kind_name(eval_kind k) { return (unsigned)k <= EVAL_GEN ? kind_names[k] : "?"; }

/* ------------------------------------------------------------------ protectors */
size_t eval_protect_workspace(int F, int S) { return 2 * 3 * (size_t)S * S + 3 * (size_t)F * F; }

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* delta_S [3, S, S] = PGD(x) - x against the protector's models for the edits src -> trg. */
static df_status pgd_delta(eval_protector *p, float *delta, float *xs_adv, const float *x, int S, const float *src,
                           const float *trg, int ntrg) {
    if (!p->pgd || !p->pgd_models || p->n_pgd_models < 1 || p->n_pgd_models > EVAL_MAX_MODELS)
        return df_fail(DF_ERR_ARG, "eval: pgd needs a context and 1..%d models", EVAL_MAX_MODELS);
    pgd_model list[EVAL_MAX_MODELS];
    for (int i = 0; i < p->n_pgd_models; i++) list[i] = (pgd_model){p->pgd_models[i], src, trg, ntrg, NULL, 1.0f, NULL};
    pgd_opts o = p->pgd_opts;
    o.eps = p->eps;
    o.seed = (uint64_t)df_rng_u32(&p->rng) << 32 | df_rng_u32(&p->rng);
    df_status s = pgd_set_models(p->pgd, list, p->n_pgd_models, 1);
    if (!s) s = pgd_set_clean(p->pgd, x, &o);
    if (!s) s = pgd_attack(p->pgd, xs_adv, x, &o, NULL);
    if (s) return s;
    for (size_t i = 0; i < 3 * (size_t)S * S; i++) delta[i] = xs_adv[i] - x[i];
    return DF_OK;
}

df_status eval_protect(eval_protector *p, float *x_adv_full, const float *x_full, int F, const float *x, int S,
                       const float *src, const float *trg, int ntrg, float *ws) {
    if (!p || !x_adv_full || !x_full || F < 1 || S < 1 || !(p->eps >= 0.0f))
        return df_fail(DF_ERR_ARG, "eval: bad protect arguments");
    size_t nf = 3 * (size_t)F * F, ns = 3 * (size_t)S * S;
    float eps = p->eps;
    const float *d = NULL; /* delta at S */
    switch (p->kind) {
    case EVAL_NONE:
        memcpy(x_adv_full, x_full, nf * sizeof(float));
        return DF_OK;
    case EVAL_NOISE:
    case EVAL_SIGN_NOISE:
        for (size_t i = 0; i < nf; i++) {
            float u = df_rng_uniform(&p->rng);
            float t = p->kind == EVAL_NOISE ? eps * (2.0f * u - 1.0f) : (u < 0.5f ? -eps : eps);
            x_adv_full[i] = clampf(x_full[i] + t, -1.0f, 1.0f);
        }
        return DF_OK;
    case EVAL_GEN:
        if (!p->gen) return df_fail(DF_ERR_ARG, "eval: gen protector without a model");
        return gen_protect(p->gen, x_adv_full, x_full, F, F, eps);
    case EVAL_PGD: {
        if (!x || !src || !trg || ntrg < 1) return df_fail(DF_ERR_ARG, "eval: pgd needs x, src and trg");
        df_status s = pgd_delta(p, ws, ws + ns, x, S, src, trg, ntrg);
        if (s) return s;
        d = ws;
        break;
    }
    case EVAL_UNIVERSAL:
        if (!p->delta || p->dsize < 1) return df_fail(DF_ERR_ARG, "eval: universal protector without a delta");
        d = p->delta;
        if (p->dsize != S) {
            df_resize_bilinear_forward(ws, p->delta, 3, p->dsize, p->dsize, S, S);
            d = ws;
        }
        break;
    default:
        return df_fail(DF_ERR_ARG, "eval: unknown protector kind %d", (int)p->kind);
    }
    if (F != S) {
        float *big = ws + 2 * ns;
        df_resize_bilinear_forward(big, d, 3, S, S, F, F);
        d = big;
    }
    for (size_t i = 0; i < nf; i++) x_adv_full[i] = clampf(x_full[i] + clampf(d[i], -eps, eps), -1.0f, 1.0f);
    return DF_OK;
}

int eval_targets(float *trg, const float *src, int index, int nedits) {
    int n = 0;
    unsigned start = (unsigned)index % ZOO_NATTR;
    for (int j = 0; j < ZOO_NATTR && n < nedits; j++) {
        float *t = trg + (size_t)n * ZOO_NATTR;
        zoo_edit_attrs(t, src, (int)((start + (unsigned)j) % ZOO_NATTR));
        if (memcmp(t, src, ZOO_NATTR * sizeof(float)) != 0) n++;
    }
    return n;
}

/* ------------------------------------------------------------------ accumulation */
df_status eval_init(eval_acc *a, zoo_model *const *models, const char *const *names, int nmodels, int S,
                    mobilenet *mn) {
    if (!a) return df_fail(DF_ERR_ARG, "eval: NULL accumulator");
    memset(a, 0, sizeof *a);
    a->frechet_x = NAN;
    if (nmodels < 0 || nmodels > EVAL_MAX_MODELS || S < 1 || (nmodels && !models))
        return df_fail(DF_ERR_ARG, "eval: need 0..%d models (got %d)", EVAL_MAX_MODELS, nmodels);
    for (int i = 0; i < nmodels; i++) {
        if (!models[i]) return df_fail(DF_ERR_ARG, "eval: model %d is NULL", i);
        if (zoo_get_config(models[i])->size != S)
            return df_fail(DF_ERR_ARG, "eval: model %s has input size %d, not %d", names ? names[i] : "?",
                           zoo_get_config(models[i])->size, S);
    }
    a->S = S;
    a->nmodels = a->nzoo = nmodels;
    a->mn = mn;
    for (int i = 0; i < nmodels; i++) {
        a->m[i].model = models[i];
        a->m[i].size = S;
        a->m[i].frechet = NAN;
        snprintf(a->m[i].name, sizeof a->m[i].name, "%s", names && names[i] ? names[i] : zoo_family_arch(zoo_get_config(models[i])->family));
    }
    if (!(a->y = malloc(2 * 3 * (size_t)S * S * sizeof(float)))) return df_fail(DF_ERR_NOMEM, "eval: out of memory");
    return DF_OK;
}

df_status eval_add_graph(eval_acc *a, graph_model *g, const char *name) {
    if (!a || !a->y || !g) return df_fail(DF_ERR_ARG, "eval: NULL accumulator or model");
    if (a->nmodels >= EVAL_MAX_MODELS) return df_fail(DF_ERR_ARG, "eval: at most %d models", EVAL_MAX_MODELS);
    if (a->nfeat_x || a->nimages) return df_fail(DF_ERR_ARG, "eval: models are added before the first measurement");
    const graph_info *gi = graph_get_info(g);
    int G = gi->size;
    const char *nm = name && name[0] ? name : gi->name[0] ? gi->name : GRAPH_ARCH;
    df_status s = graph_check_image_model(g);
    if (s) return df_fail(s, "eval: %s: %s", nm, df_errmsg());
    int Gmax = G;
    for (int i = a->nzoo; i < a->nmodels; i++) Gmax = a->m[i].size > Gmax ? a->m[i].size : Gmax;
    float *yg = realloc(a->yg, 2 * 3 * (size_t)Gmax * Gmax * sizeof(float));
    if (!yg) return df_fail(DF_ERR_NOMEM, "eval: out of memory");
    a->yg = yg;
    eval_model_acc *m = &a->m[a->nmodels++];
    memset(m, 0, sizeof *m);
    m->graph = g;
    m->size = G;
    m->frechet = NAN;
    snprintf(m->name, sizeof m->name, "%s", nm);
    return DF_OK;
}

void eval_free(eval_acc *a) {
    if (!a) return;
    for (int i = 0; i < a->nmodels; i++) {
        free(a->m[i].feat_clean);
        free(a->m[i].feat_adv);
    }
    free(a->feat_x);
    free(a->feat_xadv);
    free(a->y);
    free(a->yg);
    memset(a, 0, sizeof *a);
}

int eval_add_group_kind(eval_acc *a, const char *kind, const char *const *values, int nvalues) {
    if (!a || !kind || a->ngroup_kinds >= EVAL_MAX_GROUP_KINDS || nvalues < 1 || nvalues > EVAL_MAX_GROUP_VALUES) {
        df_fail(DF_ERR_ARG, "eval: too many group kinds or values");
        return -1;
    }
    int k = a->ngroup_kinds++;
    snprintf(a->group_kind[k], sizeof a->group_kind[k], "%s", kind);
    a->ngroup_values[k] = nvalues;
    for (int v = 0; v < nvalues; v++) snprintf(a->group_value[k][v], sizeof a->group_value[k][v], "%s", values[v]);
    return k;
}

/* Make room for one more row in two feature sets [rows, D] that grow together. */
static df_status grow2(float **p, float **q, long *cap, long rows, int D) {
    if (rows < *cap) return DF_OK;
    long nc = *cap ? 2 * *cap : 64;
    float *np = realloc(*p, (size_t)nc * D * sizeof(float));
    if (np) *p = np;
    float *nq = np ? realloc(*q, (size_t)nc * D * sizeof(float)) : NULL;
    if (nq) *q = nq;
    if (!np || !nq) return df_fail(DF_ERR_NOMEM, "eval: cannot grow feature sets to %ld rows", nc);
    *cap = nc;
    return DF_OK;
}

/* One (clean, protected) output pair of model m, outputs yc / ya of the input xc [3, S, S]. */
static df_status accumulate(eval_acc *a, eval_model_acc *m, const float *yc, const float *ya, const float *xc, int S,
                            const int *groups) {
    int D = a->mn && !a->no_frechet ? mobilenet_feature_dim(a->mn) : 0;
    df_disruption d;
    df_disruption_measure(&d, ya, yc, xc, S, S);
    m->d_pix += d.d_pix;
    m->d_pix_rms += d.d_pix_rms;
    m->d_mask += d.d_mask;
    m->d_mask_rms += d.d_mask_rms;
    m->l2 += d.l2;
    m->l2_mask += d.l2_mask;
    m->success += d.success;
    m->empty_masks += d.mask_pixels == 0;
    for (int k = 0; groups && k < a->ngroup_kinds; k++)
        if (groups[k] >= 0 && groups[k] < a->ngroup_values[k]) {
            m->group_n[k][groups[k]]++;
            m->group_success[k][groups[k]] += d.success;
        }
    if (D) {
        df_status s;
        if ((s = grow2(&m->feat_clean, &m->feat_adv, &m->cap, m->n, D)) != DF_OK ||
            (s = mobilenet_features_image(a->mn, m->feat_clean + (size_t)m->n * D, yc, S, S)) != DF_OK ||
            (s = mobilenet_features_image(a->mn, m->feat_adv + (size_t)m->n * D, ya, S, S)) != DF_OK)
            return s;
    }
    m->n++;
    return DF_OK;
}

df_status eval_measure(eval_acc *a, const float *xc, const float *xac, const float *src, const float *trg, int ntrg,
                       const int *groups, float *y_clean, float *y_adv) {
    if (!a || !a->y || !xc || !xac || !src || !trg || ntrg < 1) return df_fail(DF_ERR_ARG, "eval: bad measure arguments");
    int S = a->S;
    size_t n = 3 * (size_t)S * S;
    float *yc = a->y, *ya = a->y + n;
    for (int i = 0; i < a->nzoo; i++) {
        eval_model_acc *m = &a->m[i];
        for (int t = 0; t < ntrg; t++) {
            const float *tr = trg + (size_t)t * ZOO_NATTR;
            df_status s = zoo_edit(m->model, yc, xc, src, tr, 1);
            if (!s) s = zoo_edit(m->model, ya, xac, src, tr, 1);
            if (!s) s = accumulate(a, m, yc, ya, xc, S, groups);
            if (s) return s;
            if (t == 0 && y_clean) memcpy(y_clean + (size_t)i * n, yc, n * sizeof(float));
            if (t == 0 && y_adv) memcpy(y_adv + (size_t)i * n, ya, n * sizeof(float));
        }
    }
    return DF_OK;
}

df_status eval_measure_graph(eval_acc *a, int i, const float *xc, const float *xac, const int *groups) {
    if (!a || !a->yg || !xc || !xac || i < a->nzoo || i >= a->nmodels || !a->m[i].graph)
        return df_fail(DF_ERR_ARG, "eval: bad imported-model measure arguments");
    eval_model_acc *m = &a->m[i];
    int G = m->size;
    float *yc = a->yg, *ya = a->yg + 3 * (size_t)G * G;
    df_status s = graph_forward(m->graph, yc, xc, 1, G, G, 0);
    if (!s) s = graph_forward(m->graph, ya, xac, 1, G, G, 0);
    if (!s) s = accumulate(a, m, yc, ya, xc, G, groups);
    return s;
}

df_status eval_add_protection(eval_acc *a, const float *x_full, const float *x_adv_full, int F, double ms,
                              const float *xc, const float *xac) {
    return eval_add_protection_hw(a, x_full, x_adv_full, F, F, ms, xc, xac);
}

df_status eval_add_protection_hw(eval_acc *a, const float *x_full, const float *x_adv_full, int H, int W, double ms,
                                 const float *xc, const float *xac) {
    if (!a || !x_full || !x_adv_full || H < 1 || W < 1) return df_fail(DF_ERR_ARG, "eval: bad protection arguments");
    int F = H; /* the SSIM below takes both sides */
    size_t n = 3 * (size_t)H * W;
    double p = df_psnr(x_full, x_adv_full, n), l = df_linf(x_full, x_adv_full, n);
    if (isfinite(p)) {
        a->psnr += p;
        a->psnr_finite++;
    }
    a->ssim += df_ssim(x_full, x_adv_full, 3, F, W);
    a->linf_sum += l;
    if (l > a->linf) a->linf = l;
    a->ms += ms;
    a->nimages++;
    if (a->mn && !a->no_perceptual) {
        double d;
        df_status s = mobilenet_perceptual(a->mn, &d, NULL, x_full, x_adv_full, H, W);
        if (s) return s;
        a->perceptual += d;
        a->nperceptual++;
    }
    if (a->mn && !a->no_frechet && xc && xac) {
        int D = mobilenet_feature_dim(a->mn), S = a->S;
        df_status s = grow2(&a->feat_x, &a->feat_xadv, &a->cap_x, a->nfeat_x, D);
        if (!s) s = mobilenet_features_image(a->mn, a->feat_x + (size_t)a->nfeat_x * D, xc, S, S);
        if (!s) s = mobilenet_features_image(a->mn, a->feat_xadv + (size_t)a->nfeat_x * D, xac, S, S);
        if (s) return s;
        a->nfeat_x++;
    }
    return DF_OK;
}

df_status eval_finish(eval_acc *a) {
    if (!a) return df_fail(DF_ERR_ARG, "eval: NULL accumulator");
    if (!a->mn || a->no_frechet) return DF_OK;
    int D = mobilenet_feature_dim(a->mn);
    df_status s = DF_OK;
    for (int i = 0; i < a->nmodels && !s; i++)
        if (a->m[i].n >= 2) s = df_frechet(&a->m[i].frechet, a->m[i].feat_adv, (int)a->m[i].n, a->m[i].feat_clean, (int)a->m[i].n, D);
    if (!s && a->nfeat_x >= 2) s = df_frechet(&a->frechet_x, a->feat_xadv, (int)a->nfeat_x, a->feat_x, (int)a->nfeat_x, D);
    return s;
}

/* ------------------------------------------------------------------ JSON */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (!b->s || b->len + (size_t)n + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 4096) + (size_t)n + 1;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

static void put_num(sbuf *b, double v) {
    if (isfinite(v)) put(b, "%.6g", v);
    else put(b, "null");
}

/* A JSON string literal (control characters escaped). */
static void put_str(sbuf *b, const char *s) {
    put(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') put(b, "\\%c", c);
        else if (c < 0x20) put(b, "\\u%04x", c);
        else put(b, "%c", c);
    }
    put(b, "\"");
}

static double ratio(double s, long n) { return n > 0 ? s / (double)n : NAN; }

df_status eval_json(const eval_acc *a, const eval_info *info, char **out) {
    if (!a || !info || !out) return df_fail(DF_ERR_ARG, "eval: bad json arguments");
    *out = NULL;
    sbuf b = {0};
    put(&b, "{\n  \"protector\": ");
    put_str(&b, info->protector);
    put(&b, ",\n  \"eps\": ");
    put_num(&b, info->eps);
    put(&b, ",\n  \"n\": %ld,\n  \"condition\": {\"jpeg\": ", a->nimages);
    if (info->jpeg > 0) put(&b, "%d", info->jpeg);
    else put(&b, "null");
    put(&b, ", \"resize\": ");
    put_num(&b, info->resize > 0 ? info->resize : NAN);
    put(&b, ", \"attack\": ");
    if (info->attack) put_str(&b, info->attack);
    else put(&b, "null");
    put(&b, "},\n  \"data\": {\"dir\": ");
    put_str(&b, info->data);
    put(&b, ", \"split\": ");
    put_str(&b, info->split);
    put(&b, ", \"size\": %d, \"edits\": %d},\n", a->S, info->edits);
    put(&b, "  \"protection\": {\"psnr\": ");
    put_num(&b, ratio(a->psnr, a->psnr_finite));
    put(&b, ", \"psnr_images\": %ld, \"ssim\": ", a->psnr_finite);
    put_num(&b, ratio(a->ssim, a->nimages));
    put(&b, ", \"linf\": ");
    put_num(&b, a->nimages ? a->linf : NAN);
    put(&b, ", \"linf_mean\": ");
    put_num(&b, ratio(a->linf_sum, a->nimages));
    put(&b, ", \"ms_per_image\": ");
    put_num(&b, ratio(a->ms, a->nimages));
    put(&b, ", \"perceptual\": ");
    put_num(&b, ratio(a->perceptual, a->nperceptual));
    put(&b, ", \"frechet\": ");
    put_num(&b, a->frechet_x);
    put(&b, "},\n  \"models\": {");
    for (int i = 0; i < a->nmodels; i++) {
        const eval_model_acc *m = &a->m[i];
        put(&b, "%s\n    ", i ? "," : "");
        put_str(&b, m->name);
        put(&b, ": {\"arch\": ");
        put_str(&b, m->model ? zoo_family_arch(zoo_get_config(m->model)->family) : GRAPH_ARCH);
        put(&b, ", \"size\": %d, \"pairs\": %ld, \"d_pix\": ", m->size, m->n);
        put_num(&b, ratio(m->d_pix, m->n));
        put(&b, ", \"d_pix_rms\": ");
        put_num(&b, ratio(m->d_pix_rms, m->n));
        put(&b, ", \"d_mask\": ");
        put_num(&b, ratio(m->d_mask, m->n));
        put(&b, ", \"d_mask_rms\": ");
        put_num(&b, ratio(m->d_mask_rms, m->n));
        put(&b, ", \"l2\": ");
        put_num(&b, ratio(m->l2, m->n));
        put(&b, ", \"l2_mask\": ");
        put_num(&b, ratio(m->l2_mask, m->n));
        put(&b, ", \"success_rate\": ");
        put_num(&b, ratio((double)m->success, m->n));
        put(&b, ", \"empty_masks\": %ld, \"frechet\": ", m->empty_masks);
        put_num(&b, m->frechet);
        put(&b, "}");
    }
    put(&b, "\n  },\n  \"groups\": {");
    for (int k = 0; k < a->ngroup_kinds; k++) {
        put(&b, "%s\n    ", k ? "," : "");
        put_str(&b, a->group_kind[k]);
        put(&b, ": {");
        for (int v = 0; v < a->ngroup_values[k]; v++) {
            put(&b, "%s\n      ", v ? "," : "");
            put_str(&b, a->group_value[k][v]);
            put(&b, ": {\"pairs\": %ld, \"success_rate\": {", a->m[0].group_n[k][v]);
            for (int i = 0; i < a->nmodels; i++) {
                put(&b, "%s", i ? ", " : "");
                put_str(&b, a->m[i].name);
                put(&b, ": ");
                put_num(&b, ratio((double)a->m[i].group_success[k][v], a->m[i].group_n[k][v]));
            }
            put(&b, "}}");
        }
        put(&b, "\n    }");
    }
    put(&b, "%s}\n}\n", a->ngroup_kinds ? "\n  " : "");
    if (b.failed) {
        free(b.s);
        return df_fail(DF_ERR_NOMEM, "eval: cannot format the JSON result");
    }
    *out = b.s;
    return DF_OK;
}
