/* PatchGAN discriminator (architecture in patchgan.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchgan.h"

#define NL_MAX (PATCHGAN_MAX_LAYERS + 1)
static const float SLOPE = 0.2f;

typedef struct {
    df_conv cv;
    int w, b;              /* parameter indices */
    int H, W, OH, OW;      /* input and output sizes */
    const float *in;
    float *pre, *out;      /* conv output, activation output (== pre for the last layer) */
    float *dpre, *dout;
} pg_layer;

struct patchgan {
    patchgan_config cfg;
    df_params p;
    int nl;
    pg_layer L[NL_MAX];
    df_arena arena;
    int B, H, W;
    float *ws;
    int have_forward;
};

static df_status build(patchgan *d, const char *prefix) {
    const patchgan_config *c = &d->cfg;
    int cin = c->cin, ch = c->width, nout = c->cout > 1 ? c->cout : 1;
    d->nl = c->nlayers + 1;
    for (int l = 0; l < d->nl; l++) {
        pg_layer *L = &d->L[l];
        int last = l == c->nlayers;
        int cout = last ? nout : ch;
        L->cv = last ? (df_conv){cin, nout, 3, 3, 1, 1, 1, DF_PAD_ZERO} : (df_conv){cin, cout, 4, 4, 2, 1, 1, DF_PAD_ZERO};
        char name[DF_NAME_MAX];
        int dw[4] = {cout, cin, L->cv.kh, L->cv.kw}, db[1] = {cout};
        snprintf(name, sizeof name, "%s.c%d.w", prefix, l + 1);
        L->w = df_params_declare(&d->p, name, 4, dw);
        snprintf(name, sizeof name, "%s.c%d.b", prefix, l + 1);
        L->b = df_params_declare(&d->p, name, 1, db);
        if (L->w < 0 || L->b < 0) return DF_ERR_ARG;
        cin = cout;
        if (ch < 8 * c->width) ch *= 2;
    }
    return DF_OK;
}

df_status patchgan_create(patchgan **out, const patchgan_config *cfg, const char *prefix, uint64_t seed,
                          int training) {
    *out = NULL;
    if (!cfg || cfg->cin < 1 || cfg->cin > 64 || cfg->width < 1 || cfg->width > 256 || cfg->nlayers < 1 ||
        cfg->nlayers > PATCHGAN_MAX_LAYERS || cfg->cout < 0 || cfg->cout > 256)
        return df_fail(DF_ERR_ARG, "patchgan: cin 1..64, width 1..256, nlayers 1..%d, cout 0..256",
                       PATCHGAN_MAX_LAYERS);
    if (!prefix || !*prefix || strlen(prefix) > 15) return df_fail(DF_ERR_ARG, "patchgan: prefix of 1..15 chars");
    patchgan *d = calloc(1, sizeof *d);
    if (!d) return df_fail(DF_ERR_NOMEM, "patchgan: out of memory");
    d->cfg = *cfg;
    df_status s = build(d, prefix);
    if (!s) s = df_params_alloc(&d->p, training);
    if (s) {
        patchgan_free(d);
        return s;
    }
    df_rng rng;
    df_rng_seed(&rng, seed);
    for (int l = 0; l < d->nl; l++) {
        pg_layer *L = &d->L[l];
        float *w = df_params_get(&d->p, L->w);
        size_t n = d->p.info[L->w].count;
        float std = sqrtf(2.0f / (float)(L->cv.cin * L->cv.kh * L->cv.kw)) * (l == d->nl - 1 ? 0.5f : 1.0f);
        for (size_t k = 0; k < n; k++) w[k] = std * df_rng_normal(&rng);
    }
    *out = d;
    return DF_OK;
}

void patchgan_free(patchgan *d) {
    if (!d) return;
    df_params_free(&d->p);
    df_arena_free(&d->arena);
    free(d);
}

df_params *patchgan_params(patchgan *d) { return &d->p; }
const patchgan_config *patchgan_get_config(const patchgan *d) { return &d->cfg; }

void patchgan_out_size(const patchgan_config *cfg, int H, int W, int *OH, int *OW) {
    *OH = H >> cfg->nlayers;
    *OW = W >> cfg->nlayers;
}

static void point(patchgan *d, int B, int H, int W, int training) {
    df_arena *a = &d->arena;
    size_t ws = 0;
    for (int l = 0; l < d->nl; l++) {
        pg_layer *L = &d->L[l];
        L->H = H;
        L->W = W;
        L->OH = df_conv_out(H, L->cv.kh, L->cv.stride, L->cv.pad);
        L->OW = df_conv_out(W, L->cv.kw, L->cv.stride, L->cv.pad);
        size_t n = (size_t)B * L->cv.cout * L->OH * L->OW;
        int last = l == d->nl - 1;
        L->pre = df_arena_floats(a, n);
        L->out = last ? L->pre : df_arena_floats(a, n);
        L->dpre = training ? df_arena_floats(a, n) : NULL;
        L->dout = (training && !last) ? df_arena_floats(a, n) : NULL;
        size_t cw = df_conv2d_workspace(&L->cv, H, W);
        if (cw > ws) ws = cw;
        H = L->OH;
        W = L->OW;
    }
    d->ws = df_arena_floats(a, ws ? ws : 1);
}

df_status patchgan_forward(patchgan *d, float *logits, const float *x, int B, int H, int W) {
    int m = 1 << d->cfg.nlayers;
    if (B < 1 || H < m || W < m || H % m || W % m)
        return df_fail(DF_ERR_ARG, "patchgan: input %d x %d must be a multiple of %d", H, W, m);
    if (d->B != B || d->H != H || d->W != W) {
        int training = d->p.grad != NULL;
        df_arena_plan(&d->arena);
        point(d, B, H, W, training);
        df_status s = df_arena_commit(&d->arena);
        if (s) {
            d->B = 0;
            return s;
        }
        point(d, B, H, W, training);
        d->B = B, d->H = H, d->W = W;
    }
    const float *in = x;
    for (int l = 0; l < d->nl; l++) {
        pg_layer *L = &d->L[l];
        L->in = in;
        df_conv2d_forward(L->pre, in, df_params_get(&d->p, L->w), df_params_get(&d->p, L->b), &L->cv, B, L->H, L->W,
                          d->ws);
        if (l < d->nl - 1) df_act_forward(L->out, L->pre, (size_t)B * L->cv.cout * L->OH * L->OW, DF_ACT_LRELU, SLOPE);
        in = L->out;
    }
    pg_layer *last = &d->L[d->nl - 1];
    memcpy(logits, last->out, (size_t)B * last->cv.cout * last->OH * last->OW * sizeof(float));
    d->have_forward = 1;
    return DF_OK;
}

df_status patchgan_backward(patchgan *d, float *dx, const float *dlogits, int param_grads) {
    if (!d->have_forward) return df_fail(DF_ERR_ARG, "patchgan: backward without a forward");
    if (!d->p.grad) return df_fail(DF_ERR_ARG, "patchgan: model was not created for training");
    int B = d->B;
    pg_layer *last = &d->L[d->nl - 1];
    memcpy(last->dpre, dlogits, (size_t)B * last->cv.cout * last->OH * last->OW * sizeof(float));
    for (int l = d->nl - 1; l >= 0; l--) {
        pg_layer *L = &d->L[l];
        size_t n = (size_t)B * L->cv.cout * L->OH * L->OW;
        if (l < d->nl - 1) {
            memset(L->dpre, 0, n * sizeof(float));
            df_act_backward(L->dpre, L->dout, L->pre, L->out, n, DF_ACT_LRELU, SLOPE);
        }
        float *din = NULL;
        if (l > 0) {
            din = d->L[l - 1].dout;
            memset(din, 0, (size_t)B * L->cv.cin * L->H * L->W * sizeof(float));
        } else {
            din = dx;
        }
        float *dw = param_grads ? d->p.grad + d->p.info[L->w].offset : NULL;
        float *db = param_grads ? d->p.grad + d->p.info[L->b].offset : NULL;
        if (din || dw)
            df_conv2d_backward(din, dw, db, L->dpre, L->in, df_params_get(&d->p, L->w), &L->cv, B, L->H, L->W, d->ws);
    }
    return DF_OK;
}
