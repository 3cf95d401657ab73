/* golden_runner: runs one layer (or a small network) of the C core forward and backward for the
 * tfjs golden tests (tests/js/golden.test.mjs).
 *
 *   golden_runner case.bin result.bin
 *
 * case.bin (little-endian):  "DFG1", char op[32], i32 ni, i32 ints[ni], i32 nf, f32 floats[nf],
 *                            i32 nt, then nt times { i32 n, f32 data[n] }   (shapes follow from ints)
 * result.bin:                i32 nt, then nt times { char name[64], i32 ndim, i32 dims[4], f32 data[n] }
 * Exit status: 0 ok, 2 bad case, 3 op unsupported by this build (message on stderr).
 *
 * Every backward is called on gradient buffers pre-filled with 1.0 and the 1.0 is subtracted again,
 * so the golden comparison also covers "backward accumulates". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df.h"
#include "gen.h"

#define MAX_T 16
#define MAX_OUT 600

typedef struct {
    char op[33];
    int ni, nf, nt;
    int iv[32];
    float fv[8];
    float *t[MAX_T];
    int tn[MAX_T];
} gcase;

typedef struct {
    char name[64];
    int ndim, dims[4];
    float *data;
} gout;

static gout outs[MAX_OUT];
static int nouts;

static void die(int code, const char *msg) {
    fprintf(stderr, "golden_runner: %s\n", msg);
    exit(code);
}

static void *xmalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) die(2, "out of memory");
    return p;
}

/* record an output tensor (data is copied) */
static void emit(const char *name, const float *data, int ndim, int d0, int d1, int d2, int d3) {
    if (nouts == MAX_OUT) die(2, "too many outputs");
    gout *o = &outs[nouts++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->ndim = ndim;
    int d[4] = {d0, d1, d2, d3};
    size_t n = 1;
    for (int i = 0; i < 4; i++) {
        o->dims[i] = i < ndim ? d[i] : 1;
        n *= (size_t)o->dims[i];
    }
    o->data = xmalloc(n * sizeof(float));
    memcpy(o->data, data, n * sizeof(float));
}

/* gradient buffer of n floats pre-filled with 1 (see the header comment) */
static float *gbuf(size_t n) {
    float *g = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) g[i] = 1.0f;
    return g;
}
static void emit_grad(const char *name, float *g, int ndim, int d0, int d1, int d2, int d3) {
    size_t n = (size_t)d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1) * (ndim > 3 ? d3 : 1);
    for (size_t i = 0; i < n; i++) g[i] -= 1.0f;
    emit(name, g, ndim, d0, d1, d2, d3);
    free(g);
}

static float *tensor(gcase *c, int i, size_t n) {
    if (i >= c->nt || (size_t)c->tn[i] != n) {
        fprintf(stderr, "golden_runner: %s: tensor %d has %d floats, expected %zu\n", c->op, i,
                i < c->nt ? c->tn[i] : -1, n);
        exit(2);
    }
    return c->t[i];
}

static void read_case(gcase *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die(2, "cannot open the case file");
    char magic[4];
    int ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "DFG1", 4) == 0;
    memset(c, 0, sizeof *c);
    ok = ok && fread(c->op, 1, 32, f) == 32;
    ok = ok && fread(&c->ni, 4, 1, f) == 1 && c->ni >= 0 && c->ni <= 32;
    ok = ok && fread(c->iv, 4, c->ni, f) == (size_t)c->ni;
    ok = ok && fread(&c->nf, 4, 1, f) == 1 && c->nf >= 0 && c->nf <= 8;
    ok = ok && fread(c->fv, 4, c->nf, f) == (size_t)c->nf;
    ok = ok && fread(&c->nt, 4, 1, f) == 1 && c->nt >= 0 && c->nt <= MAX_T;
    for (int i = 0; ok && i < c->nt; i++) {
        ok = fread(&c->tn[i], 4, 1, f) == 1 && c->tn[i] >= 0 && c->tn[i] <= (1 << 26);
        if (!ok) break;
        c->t[i] = xmalloc((size_t)c->tn[i] * sizeof(float));
        ok = fread(c->t[i], 4, c->tn[i], f) == (size_t)c->tn[i];
    }
    fclose(f);
    if (!ok) die(2, "malformed case file");
}

static void write_result(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) die(2, "cannot write the result file");
    fwrite(&nouts, 4, 1, f);
    for (int i = 0; i < nouts; i++) {
        gout *o = &outs[i];
        size_t n = (size_t)o->dims[0] * o->dims[1] * o->dims[2] * o->dims[3];
        fwrite(o->name, 1, 64, f);
        fwrite(&o->ndim, 4, 1, f);
        fwrite(o->dims, 4, 4, f);
        fwrite(o->data, 4, n, f);
    }
    if (fclose(f) != 0) die(2, "cannot write the result file");
}

/* ------------------------------------------------------------------ cases */

/* ints: B cin H W cout kh kw stride pad groups pad_mode has_bias; tensors: x, w, [b], dout */
static void run_conv2d(gcase *c) {
    int *v = c->iv;
    if (c->ni != 12) die(2, "conv2d: 12 ints");
    int B = v[0], H = v[2], W = v[3], hb = v[11];
    df_conv cv = {v[1], v[4], v[5], v[6], v[7], v[8], v[9], v[10]};
    int OH = df_conv_out(H, cv.kh, cv.stride, cv.pad), OW = df_conv_out(W, cv.kw, cv.stride, cv.pad);
    size_t nx = (size_t)B * cv.cin * H * W, nw = (size_t)cv.cout * (cv.cin / cv.groups) * cv.kh * cv.kw,
           no = (size_t)B * cv.cout * OH * OW;
    float *x = tensor(c, 0, nx), *w = tensor(c, 1, nw), *b = hb ? tensor(c, 2, cv.cout) : NULL;
    float *dout = tensor(c, 2 + hb, no);
    float *ws = xmalloc(df_conv2d_workspace(&cv, H, W) * sizeof(float) + 64), *out = xmalloc(no * 4);
    df_conv2d_forward(out, x, w, b, &cv, B, H, W, ws);
    emit("out", out, 4, B, cv.cout, OH, OW);
    float *dx = gbuf(nx), *dw = gbuf(nw), *db = hb ? gbuf(cv.cout) : NULL;
    df_conv2d_backward(dx, dw, db, dout, x, w, &cv, B, H, W, ws);
    emit_grad("dx", dx, 4, B, cv.cin, H, W);
    emit_grad("dw", dw, 4, cv.cout, cv.cin / cv.groups, cv.kh, cv.kw);
    if (hb) emit_grad("db", db, 1, cv.cout, 0, 0, 0);
    free(ws), free(out);
}

/* ints: B cin H W cout k stride pad out_pad; tensors: x, w [cin, cout, k, k], b, dout */
static void run_convT(gcase *c) {
    int *v = c->iv;
    if (c->ni != 9) die(2, "convT: 9 ints");
    int B = v[0], H = v[2], W = v[3];
    df_convT cv = {v[1], v[4], v[5], v[6], v[7], v[8]};
    int OH = df_convT_out(H, &cv), OW = df_convT_out(W, &cv);
    size_t nx = (size_t)B * cv.cin * H * W, nw = (size_t)cv.cin * cv.cout * cv.k * cv.k,
           no = (size_t)B * cv.cout * OH * OW;
    float *x = tensor(c, 0, nx), *w = tensor(c, 1, nw), *b = tensor(c, 2, cv.cout), *dout = tensor(c, 3, no);
    float *ws = xmalloc(df_convT_workspace(&cv, H, W) * sizeof(float) + 64), *out = xmalloc(no * 4);
    df_convT_forward(out, x, w, b, &cv, B, H, W, ws);
    emit("out", out, 4, B, cv.cout, OH, OW);
    float *dx = gbuf(nx), *dw = gbuf(nw), *db = gbuf(cv.cout);
    df_convT_backward(dx, dw, db, dout, x, w, &cv, B, H, W, ws);
    emit_grad("dx", dx, 4, B, cv.cin, H, W);
    emit_grad("dw", dw, 4, cv.cin, cv.cout, cv.k, cv.k);
    emit_grad("db", db, 1, cv.cout, 0, 0, 0);
    free(ws), free(out);
}

/* op "upsample_nearest" / "upsample_bilinear": ints BC H W s; "resize_bilinear": ints BC H W OH OW.
 * tensors: x, dout */
static void run_resample(gcase *c) {
    int *v = c->iv, BC = v[0], H = v[1], W = v[2];
    int kind = !strcmp(c->op, "resize_bilinear") ? 2 : !strcmp(c->op, "upsample_bilinear") ? 1 : 0;
    if (c->ni != (kind == 2 ? 5 : 4)) die(2, "resample: wrong int count");
    int OH = kind == 2 ? v[3] : H * v[3], OW = kind == 2 ? v[4] : W * v[3];
    size_t nx = (size_t)BC * H * W, no = (size_t)BC * OH * OW;
    float *x = tensor(c, 0, nx), *dout = tensor(c, 1, no), *out = xmalloc(no * 4), *dx = gbuf(nx);
    if (kind == 0) {
        df_upsample_nearest_forward(out, x, BC, H, W, v[3]);
        df_upsample_nearest_backward(dx, dout, BC, H, W, v[3]);
    } else if (kind == 1) {
        df_upsample_bilinear_forward(out, x, BC, H, W, v[3]);
        df_upsample_bilinear_backward(dx, dout, BC, H, W, v[3]);
    } else {
        df_resize_bilinear_forward(out, x, BC, H, W, OH, OW);
        df_resize_bilinear_backward(dx, dout, BC, H, W, OH, OW);
    }
    emit("out", out, 3, BC, OH, OW, 0);
    emit_grad("dx", dx, 3, BC, H, W, 0);
    free(out);
}

/* ints: B C HW; floats: eps; tensors: x, gamma, beta, dout */
static void run_instnorm(gcase *c) {
    if (c->ni != 3 || c->nf != 1) die(2, "instnorm: 3 ints, 1 float");
    int B = c->iv[0], C = c->iv[1], HW = c->iv[2];
    size_t n = (size_t)B * C * HW;
    float *x = tensor(c, 0, n), *g = tensor(c, 1, C), *b = tensor(c, 2, C), *dout = tensor(c, 3, n);
    float *out = xmalloc(n * 4), *mean = xmalloc(B * C * 4), *rstd = xmalloc(B * C * 4);
    df_instnorm_forward(out, mean, rstd, x, g, b, B, C, HW, c->fv[0]);
    emit("out", out, 3, B, C, HW, 0);
    float *dx = gbuf(n), *dg = gbuf(C), *db = gbuf(C);
    df_instnorm_backward(dx, dg, db, dout, x, mean, rstd, g, B, C, HW);
    emit_grad("dx", dx, 3, B, C, HW, 0);
    emit_grad("dgamma", dg, 1, C, 0, 0, 0);
    emit_grad("dbeta", db, 1, C, 0, 0, 0);
    free(out), free(mean), free(rstd);
}

/* Residual block as in Gen: y = x + IN2(conv2(relu(IN1(conv1(x))))), convs 3x3 pad 1 without bias.
 * ints: B C H W pad_mode; floats: eps; tensors: x, w1, g1, b1, w2, g2, b2, dout */
static void run_resblock(gcase *c) {
    if (c->ni != 5 || c->nf != 1) die(2, "resblock: 5 ints, 1 float");
    int B = c->iv[0], C = c->iv[1], H = c->iv[2], W = c->iv[3], HW = H * W;
    float eps = c->fv[0];
    df_conv cv = {C, C, 3, 3, 1, 1, 1, c->iv[4]};
    size_t n = (size_t)B * C * HW, nw = (size_t)C * C * 9;
    float *x = tensor(c, 0, n), *w1 = tensor(c, 1, nw), *g1 = tensor(c, 2, C), *b1 = tensor(c, 3, C);
    float *w2 = tensor(c, 4, nw), *g2 = tensor(c, 5, C), *b2 = tensor(c, 6, C), *dout = tensor(c, 7, n);
    float *ws = xmalloc(df_conv2d_workspace(&cv, H, W) * sizeof(float) + 64);
    float *c1 = xmalloc(n * 4), *n1 = xmalloc(n * 4), *a1 = xmalloc(n * 4), *c2 = xmalloc(n * 4), *n2 = xmalloc(n * 4),
          *y = xmalloc(n * 4), *st = xmalloc(4 * B * C * 4);
    float *m1 = st, *r1 = st + B * C, *m2 = st + 2 * B * C, *r2 = st + 3 * B * C;
    df_conv2d_forward(c1, x, w1, NULL, &cv, B, H, W, ws);
    df_instnorm_forward(n1, m1, r1, c1, g1, b1, B, C, HW, eps);
    df_act_forward(a1, n1, n, DF_ACT_RELU, 0);
    df_conv2d_forward(c2, a1, w2, NULL, &cv, B, H, W, ws);
    df_instnorm_forward(n2, m2, r2, c2, g2, b2, B, C, HW, eps);
    df_add_forward(y, n2, x, n);
    emit("out", y, 4, B, C, H, W);
    /* backward */
    float *dx = gbuf(n), *dw1 = gbuf(nw), *dg1 = gbuf(C), *db1 = gbuf(C), *dw2 = gbuf(nw), *dg2 = gbuf(C),
          *db2 = gbuf(C);
    float *dn2 = xmalloc(n * 4), *dc2 = xmalloc(n * 4), *da1 = xmalloc(n * 4), *dn1 = xmalloc(n * 4),
          *dc1 = xmalloc(n * 4);
    df_add_backward(dn2, dx, dout, n);
    df_instnorm_backward(dc2, dg2, db2, dn2, c2, m2, r2, g2, B, C, HW);
    df_conv2d_backward(da1, dw2, NULL, dc2, a1, w2, &cv, B, H, W, ws);
    df_act_backward(dn1, da1, n1, a1, n, DF_ACT_RELU, 0);
    df_instnorm_backward(dc1, dg1, db1, dn1, c1, m1, r1, g1, B, C, HW);
    df_conv2d_backward(dx, dw1, NULL, dc1, x, w1, &cv, B, H, W, ws);
    emit_grad("dx", dx, 4, B, C, H, W);
    emit_grad("dw1", dw1, 4, C, C, 3, 3);
    emit_grad("dgamma1", dg1, 1, C, 0, 0, 0);
    emit_grad("dbeta1", db1, 1, C, 0, 0, 0);
    emit_grad("dw2", dw2, 4, C, C, 3, 3);
    emit_grad("dgamma2", dg2, 1, C, 0, 0, 0);
    emit_grad("dbeta2", db2, 1, C, 0, 0, 0);
    free(ws), free(c1), free(n1), free(a1), free(c2), free(n2), free(y), free(st);
    free(dn2), free(dc2), free(da1), free(dn1), free(dc1);
}

/* ints: n act; floats: alpha; tensors: x, dout */
static void run_act(gcase *c) {
    if (c->ni != 2 || c->nf != 1) die(2, "act: 2 ints, 1 float");
    int n = c->iv[0];
    df_act act = (df_act)c->iv[1];
    float *x = tensor(c, 0, n), *dout = tensor(c, 1, n), *out = xmalloc(n * 4), *dx = gbuf(n);
    df_act_forward(out, x, n, act, c->fv[0]);
    df_act_backward(dx, dout, x, out, n, act, c->fv[0]);
    emit("out", out, 1, n, 0, 0, 0);
    emit_grad("dx", dx, 1, n, 0, 0, 0);
    free(out);
}

/* ints: B I O; tensors: x, w [O, I], b [O], dout */
static void run_linear(gcase *c) {
    if (c->ni != 3) die(2, "linear: 3 ints");
    int B = c->iv[0], I = c->iv[1], O = c->iv[2];
    float *x = tensor(c, 0, (size_t)B * I), *w = tensor(c, 1, (size_t)O * I), *b = tensor(c, 2, O);
    float *dout = tensor(c, 3, (size_t)B * O), *out = xmalloc((size_t)B * O * 4);
    df_linear_forward(out, x, w, b, B, I, O);
    emit("out", out, 2, B, O, 0, 0);
    float *dx = gbuf((size_t)B * I), *dw = gbuf((size_t)O * I), *db = gbuf(O);
    df_linear_backward(dx, dw, db, dout, x, w, B, I, O);
    emit_grad("dx", dx, 2, B, I, 0, 0);
    emit_grad("dw", dw, 2, O, I, 0, 0);
    emit_grad("db", db, 1, O, 0, 0, 0);
    free(out);
}

/* Gen with random weights: ints B H W width seed; floats out_scale; tensors: x, ddelta.
 * Emits delta, dx, and per parameter tensor "p:<name>" (value) and "g:<name>" (gradient). */
static void run_gen(gcase *c) {
    if (c->ni != 5 || c->nf != 1) die(2, "gen: 5 ints, 1 float");
    int B = c->iv[0], H = c->iv[1], W = c->iv[2];
    gen_config cfg = {c->iv[3], c->fv[0], 0, 0};
    size_t n = (size_t)B * 3 * H * W;
    float *x = tensor(c, 0, n), *dd = tensor(c, 1, n), *delta = xmalloc(n * 4), *dx = gbuf(n);
    gen_model *g = NULL;
    if (gen_create(&g, &cfg, (uint64_t)c->iv[4], 1) != DF_OK) die(3, df_errmsg());
    df_params *p = gen_params(g);
    /* random gamma/beta/bias too, so that every parameter kind matters */
    df_rng rng;
    df_rng_seed(&rng, 7);
    for (int i = 0; i < p->n; i++) {
        const char *dot = strrchr(p->info[i].name, '.');
        if (dot && strcmp(dot, ".w") != 0) {
            float *d = df_params_get(p, i);
            for (size_t k = 0; k < p->info[i].count; k++)
                d[k] += 0.2f * df_rng_normal(&rng);
        }
    }
    if (gen_forward(g, delta, x, B, H, W) != DF_OK) die(3, df_errmsg());
    for (size_t k = 0; k < p->total; k++) p->grad[k] = 1.0f;
    if (gen_backward(g, dx, dd) != DF_OK) die(3, df_errmsg());
    emit("delta", delta, 4, B, 3, H, W);
    emit_grad("dx", dx, 4, B, 3, H, W);
    for (int i = 0; i < p->n; i++) {
        df_param_info *t = &p->info[i];
        char name[80];
        for (size_t k = 0; k < t->count; k++) p->grad[t->offset + k] -= 1.0f;
        snprintf(name, sizeof name, "p:%s", t->name);
        emit(name, p->data + t->offset, t->ndim, t->dims[0], t->dims[1], t->dims[2], t->dims[3]);
        snprintf(name, sizeof name, "g:%s", t->name);
        emit(name, p->grad + t->offset, t->ndim, t->dims[0], t->dims[1], t->dims[2], t->dims[3]);
    }
    gen_free(g);
    free(delta);
}

int main(int argc, char **argv) {
    if (argc != 3) die(2, "usage: golden_runner case.bin result.bin");
    gcase c;
    read_case(&c, argv[1]);
    static const struct {
        const char *op;
        void (*run)(gcase *);
    } ops[] = {{"conv2d", run_conv2d},
               {"convT", run_convT},
               {"upsample_nearest", run_resample},
               {"upsample_bilinear", run_resample},
               {"resize_bilinear", run_resample},
               {"instnorm", run_instnorm},
               {"resblock", run_resblock},
               {"act", run_act},
               {"linear", run_linear},
               {"gen", run_gen}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(c.op, ops[i].op) == 0) {
            ops[i].run(&c);
            write_result(argv[2]);
            for (int k = 0; k < nouts; k++) free(outs[k].data);
            for (int k = 0; k < c.nt; k++) free(c.t[k]);
            return 0;
        }
    fprintf(stderr, "golden_runner: unsupported op '%s'\n", c.op);
    return 3;
}
