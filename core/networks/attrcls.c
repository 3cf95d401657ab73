/* Attribute classifier (architecture and file format in attrcls.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrcls.h"
#include "patchgan.h"

#define ATTRS "Black_Hair,Blond_Hair,Brown_Hair,Male,Young"
#define PREFIX "cls"

struct attrcls {
    attrcls_config cfg;
    patchgan *pg;
    long step;
    int cap;                 /* batch the buffers below hold */
    int B;                   /* batch of the last forward (0: none) */
    float *patch, *dpatch;   /* [B, 5, OH, OW] */
    float *dlogits;          /* [B, 5] (train_step) */
};

attrcls_config attrcls_default_config(void) {
    attrcls_config c = {128, 16, 5};
    return c;
}

static df_status check_config(const attrcls_config *c) {
    if (c->nlayers < 1 || c->nlayers > PATCHGAN_MAX_LAYERS)
        return df_fail(DF_ERR_ARG, "attrcls: nlayers %d not in 1..%d", c->nlayers, PATCHGAN_MAX_LAYERS);
    if (c->width < 1 || c->width > 256) return df_fail(DF_ERR_ARG, "attrcls: width %d not in 1..256", c->width);
    if (c->size < 16 || c->size > 1024 || c->size % (1 << c->nlayers))
        return df_fail(DF_ERR_ARG, "attrcls: size %d not in 16..1024 or not a multiple of %d", c->size,
                       1 << c->nlayers);
    return DF_OK;
}

df_status attrcls_create(attrcls **out, const attrcls_config *cfg, uint64_t seed, int training) {
    *out = NULL;
    if (!cfg) return df_fail(DF_ERR_ARG, "attrcls: no config");
    df_status s = check_config(cfg);
    if (s) return s;
    attrcls *c = calloc(1, sizeof *c);
    if (!c) return df_fail(DF_ERR_NOMEM, "attrcls: out of memory");
    c->cfg = *cfg;
    patchgan_config pc = {3, cfg->width, cfg->nlayers, ATTRCLS_NATTR};
    if ((s = patchgan_create(&c->pg, &pc, PREFIX, seed, training))) {
        free(c);
        return s;
    }
    *out = c;
    return DF_OK;
}

void attrcls_free(attrcls *c) {
    if (!c) return;
    patchgan_free(c->pg);
    free(c->patch), free(c->dpatch), free(c->dlogits);
    free(c);
}

const attrcls_config *attrcls_get_config(const attrcls *c) { return &c->cfg; }
df_params *attrcls_params(attrcls *c) { return patchgan_params(c->pg); }
long attrcls_get_step(const attrcls *c) { return c->step; }

static int npatch(const attrcls *c) {
    int n = c->cfg.size >> c->cfg.nlayers;
    return n * n;
}

/* Grow the scratch buffers to batch B. */
static df_status reserve(attrcls *c, int B) {
    if (B <= c->cap) return DF_OK;
    size_t np = (size_t)B * ATTRCLS_NATTR * npatch(c);
    float *p = malloc(np * sizeof(float)), *dp = malloc(np * sizeof(float));
    float *dl = malloc((size_t)B * ATTRCLS_NATTR * sizeof(float));
    if (!p || !dp || !dl) {
        free(p), free(dp), free(dl);
        return df_fail(DF_ERR_NOMEM, "attrcls: out of memory (batch %d)", B);
    }
    free(c->patch), free(c->dpatch), free(c->dlogits);
    c->patch = p, c->dpatch = dp, c->dlogits = dl, c->cap = B;
    return DF_OK;
}

df_status attrcls_forward(attrcls *c, float *logits, const float *x, int B) {
    if (!c || !logits || !x || B < 1 || B > 65536) return df_fail(DF_ERR_ARG, "attrcls_forward: bad arguments");
    df_status s = reserve(c, B);
    if (!s) s = patchgan_forward(c->pg, c->patch, x, B, c->cfg.size, c->cfg.size);
    c->B = s ? 0 : B;
    if (s) return s;
    df_gap_forward(logits, c->patch, B, ATTRCLS_NATTR, npatch(c));
    return DF_OK;
}

df_status attrcls_backward(attrcls *c, float *dx, const float *dlogits) {
    if (!c || !dlogits) return df_fail(DF_ERR_ARG, "attrcls_backward: bad arguments");
    if (!c->B) return df_fail(DF_ERR_ARG, "attrcls: backward without a forward");
    if (!patchgan_params(c->pg)->grad) return df_fail(DF_ERR_ARG, "attrcls: model was not created for training");
    size_t np = (size_t)c->B * ATTRCLS_NATTR * npatch(c);
    memset(c->dpatch, 0, np * sizeof(float));
    df_gap_backward(c->dpatch, dlogits, c->B, ATTRCLS_NATTR, npatch(c));
    return patchgan_backward(c->pg, dx, c->dpatch, 1);
}

df_status attrcls_train_step(attrcls *c, const float *x, const float *attr, int B, float lr, float *loss,
                             float *logits) {
    if (!c || !x || !attr || !(lr > 0)) return df_fail(DF_ERR_ARG, "attrcls_train_step: bad arguments");
    df_params *p = patchgan_params(c->pg);
    if (!p->grad) return df_fail(DF_ERR_ARG, "attrcls: model was not created for training");
    df_status s = reserve(c, B);
    float *lg = c->dlogits; /* logits first, then overwritten by their gradient */
    if (!s) s = attrcls_forward(c, lg, x, B);
    if (s) return s;
    size_t n = (size_t)B * ATTRCLS_NATTR;
    if (logits) memcpy(logits, lg, n * sizeof(float));
    float *g = malloc(n * sizeof(float));
    if (!g) return df_fail(DF_ERR_NOMEM, "attrcls: out of memory");
    memset(g, 0, n * sizeof(float));
    float L = df_bce_logits_loss(g, lg, attr, n, 1.0f);
    df_params_zero_grad(p);
    s = attrcls_backward(c, NULL, g);
    free(g);
    if (s) return s;
    df_adam cfg = {lr, 0.9f, 0.999f, 1e-8f, 0.0f};
    c->step++;
    df_adam_update(p->data, p->grad, p->m, p->v, p->total, &cfg, c->step);
    if (loss) *loss = L;
    return DF_OK;
}

/* ------------------------------------------------------------------ files */
static const char *const meta_ints[3] = {"size", "width", "nlayers"};

df_status attrcls_write(const attrcls *c, dfw_writer *w, int checkpoint) {
    const attrcls_config *k = &c->cfg;
    int v[3] = {k->size, k->width, k->nlayers};
    const df_params *p = patchgan_params(c->pg);
    checkpoint = checkpoint && p->m && p->v;
    df_status s = dfw_writer_meta(w, "arch", ATTRCLS_ARCH);
    for (int i = 0; !s && i < 3; i++) s = dfw_writer_meta_int(w, meta_ints[i], v[i]);
    if (!s) s = dfw_writer_meta(w, "attrs", ATTRS);
    if (!s && checkpoint) s = dfw_writer_meta_int(w, "step", c->step);
    if (!s) s = dfw_writer_params(w, p, checkpoint);
    return s;
}

df_status attrcls_save(const attrcls *c, int checkpoint, uint8_t **out, size_t *outlen) {
    dfw_writer *w = malloc(sizeof *w);
    if (!w) return df_fail(DF_ERR_NOMEM, "attrcls_save: out of memory");
    dfw_writer_init(w);
    df_status s = attrcls_write(c, w, checkpoint);
    if (!s) s = dfw_writer_finish(w, out, outlen);
    dfw_writer_free(w);
    free(w);
    return s;
}

df_status attrcls_load(attrcls **out, const uint8_t *buf, size_t len, int training) {
    *out = NULL;
    dfw_file f;
    df_status s = dfw_parse(&f, buf, len);
    if (s) return s;
    char str[128];
    attrcls_config cfg;
    int *field[3] = {&cfg.size, &cfg.width, &cfg.nlayers};
    attrcls *c = NULL;
    if (dfw_meta_get(&f, "arch", str, sizeof str) || strcmp(str, ATTRCLS_ARCH)) {
        s = df_fail(DF_ERR_UNSUPPORTED, "attrcls: not an attribute classifier (meta arch must be '%s')", ATTRCLS_ARCH);
        goto done;
    }
    if (dfw_meta_get(&f, "attrs", str, sizeof str) || strcmp(str, ATTRS)) {
        s = df_fail(DF_ERR_UNSUPPORTED, "attrcls: meta attrs must be '%s'", ATTRS);
        goto done;
    }
    for (int i = 0; i < 3; i++) {
        long v;
        if ((s = dfw_meta_int(&f, meta_ints[i], &v))) goto done;
        if (v < 1 || v > 1024) {
            s = df_fail(DF_ERR_FORMAT, "attrcls: meta '%s' = %ld out of range", meta_ints[i], v);
            goto done;
        }
        *field[i] = (int)v;
    }
    if ((s = check_config(&cfg))) {
        s = df_fail(DF_ERR_FORMAT, "%s", df_errmsg());
        goto done;
    }
    if ((s = attrcls_create(&c, &cfg, 0, training)) || (s = dfw_load_params(&f, attrcls_params(c)))) goto done;
    if (training && attrcls_params(c)->m && dfw_find(&f, "opt.m/" PREFIX ".c1.w")) {
        long step;
        if ((s = dfw_meta_int(&f, "step", &step))) goto done;
        if (step < 0) {
            s = df_fail(DF_ERR_FORMAT, "attrcls: negative step");
            goto done;
        }
        c->step = step;
    }
    *out = c;
    c = NULL;
done:
    attrcls_free(c);
    dfw_free(&f);
    return s;
}
