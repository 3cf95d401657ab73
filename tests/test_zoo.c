/* Zoo models: finite-difference gradient checks of every family's generator (input, bottleneck feature and
 * parameter gradients) and of the discriminator; AdaIN in isolation; a few training steps lower the losses on
 * synthetic faces; save/load and checkpoint resume are exact; CelebA labels parsing, face resize, batches. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "celeba.h"
#include "check.h"
#include "zoo.h"

static zoo_config tiny(zoo_family f) {
    zoo_config c = zoo_default_config(f);
    c.size = 32, c.width = 4, c.nres = 1, c.dwidth = 4, c.sdim = 6, c.zdim = 3;
    return c;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ------------------------------------------------------------------ finite differences
 * Central differences (loss accumulated in double) at a few coordinates of a buffer: the one with the largest
 * |analytic gradient| and others drawn among those with at least 5% of it.  The networks are piecewise smooth
 * (ReLU kinks, instance norm over small maps): single coordinates are compared at steps 1e-3, 3e-4, 1e-4 (one
 * must agree within 3%), and a network passes when at least 90% of its coordinates agree (a wrong gradient
 * fails nearly all of them at every step). */
typedef double (*loss_fn)(void *ctx);

static void fd_coords(const char *what, loss_fn f, void *ctx, float *buf, const float *grad, size_t n, int k,
                      unsigned seed, int *bad, int *total) {
    size_t imax = 0;
    for (size_t i = 1; i < n; i++)
        if (fabsf(grad[i]) > fabsf(grad[imax])) imax = i;
    double gmax = fabsf(grad[imax]);
    df_rng r;
    df_rng_seed(&r, seed);
    for (int j = 0; j < k; j++) {
        size_t i = imax;
        for (int tries = 0; j > 0 && tries < 200; tries++) {
            i = df_rng_u32(&r) % n;
            if (fabsf(grad[i]) >= 0.05 * gmax) break;
        }
        float save = buf[i];
        double an = grad[i], fd = 0;
        int ok = 0;
        for (double h = 1e-3; h > 5e-5 && !ok; h *= 0.3) { /* a kink crossed at one step is rarely crossed at all */
            buf[i] = save + (float)h;
            double lp = f(ctx);
            buf[i] = save - (float)h;
            double lm = f(ctx);
            buf[i] = save;
            fd = (lp - lm) / (2 * h);
            ok = fabs(fd - an) <= 0.03 * fmax(fabs(fd), fabs(an)) + 1e-3 * gmax + 1e-5;
        }
        if (!ok) fprintf(stderr, "  fd mismatch %s[%zu]: fd %.6g vs backward %.6g\n", what, i, fd, an);
        *bad += !ok;
        (*total)++;
    }
}

/* ------------------------------------------------------------------ generator gradients
 * L = <wy, G(x)> + <wf, feat(x)> against backward's dL/dx and dL/dtheta (every tensor). */
typedef struct {
    zoo_model *m;
    int B, n, nf;
    float *x, *src, *trg, *z, *y, *wy, *wf;
} gcase;

static double gloss(void *ctx) {
    gcase *g = ctx;
    CHECK(zoo_gen_forward(g->m, 1, g->y, g->x, g->src, g->trg, g->z, g->B) == DF_OK, "forward: %s", df_errmsg());
    const float *f = zoo_gen_features(g->m, 1, NULL, NULL, NULL);
    return dot(g->wy, g->y, g->n) + dot(g->wf, f, g->nf);
}

static void gen_gradcheck(zoo_family fam, int skip) {
    zoo_config c = tiny(fam);
    c.skip = skip;
    c.size = fam == ZOO_ATTGAN ? 128 : 64; /* instance norm over at least 8 x 8 at the bottleneck */
    gcase g = {0};
    g.B = 2;
    CHECK(zoo_create(&g.m, &c, 11 + fam, 1) == DF_OK, "create: %s", df_errmsg());
    if (!g.m) return;
    int S = c.size, C, H, W;
    g.n = g.B * 3 * S * S;
    g.x = malloc(g.n * sizeof(float)), g.y = malloc(g.n * sizeof(float)), g.wy = malloc(g.n * sizeof(float));
    float *dx = calloc(g.n, sizeof(float));
    g.src = malloc(g.B * ZOO_NATTR * sizeof(float)), g.trg = malloc(g.B * ZOO_NATTR * sizeof(float));
    g.z = malloc(g.B * 8 * sizeof(float));
    check_fill(g.x, g.n, 1);
    check_fill(g.wy, g.n, 2);
    check_fill(g.z, g.B * 8, 4);
    float a0[ZOO_NATTR] = {1, 0, 0, 1, 0}, a1[ZOO_NATTR] = {0, 0, 1, 0, 1};
    memcpy(g.src, a0, sizeof a0), memcpy(g.src + ZOO_NATTR, a1, sizeof a1);
    zoo_edit_attrs(g.trg, g.src, ZOO_BLOND);
    zoo_edit_attrs(g.trg + ZOO_NATTR, g.src + ZOO_NATTR, ZOO_YOUNG);
    CHECK(zoo_gen_features(g.m, 1, &C, &H, &W) == NULL, "no features before a forward");
    gloss(&g); /* sizes the slot */
    CHECK(zoo_gen_features(g.m, 1, &C, &H, &W) != NULL, "features");
    g.nf = g.B * C * H * W;
    g.wf = malloc(g.nf * sizeof(float));
    check_fill(g.wf, g.nf, 5);
    df_params *p = zoo_gen_params(g.m);
    df_params_zero_grad(p);
    gloss(&g);
    CHECK(zoo_gen_backward(g.m, 1, dx, g.wy, g.wf, 1) == DF_OK, "backward: %s", df_errmsg());
    int bad = 0, total = 0;
    fd_coords("x", gloss, &g, g.x, dx, g.n, 8, 1, &bad, &total);
    for (int t = 0; t < p->n; t++)
        fd_coords(p->info[t].name, gloss, &g, p->data + p->info[t].offset, p->grad + p->info[t].offset,
                  p->info[t].count, 3, 10 + t, &bad, &total);
    printf("%s (skip %d) generator gradients: %d of %d coordinates agree with finite differences\n",
           zoo_family_arch(fam), skip, total - bad, total);
    CHECK(bad <= total / 10, "%s: %d of %d gradient coordinates disagree", zoo_family_arch(fam), bad, total);
    /* backward accumulates: a second call doubles dx */
    float *dx2 = malloc(g.n * sizeof(float));
    memcpy(dx2, dx, g.n * sizeof(float));
    gloss(&g);
    zoo_gen_backward(g.m, 1, dx2, g.wy, g.wf, 0);
    CHECK(check_maxrel(dx2, dx, g.n) > 0.5 && fabsf(dx2[7] - 2 * dx[7]) <= 1e-5f * (1 + fabsf(dx[7])), "dx accumulates");
    free(dx2), free(dx), free(g.x), free(g.y), free(g.wy), free(g.wf), free(g.src), free(g.trg), free(g.z);
    zoo_free(g.m);
}

/* ------------------------------------------------------------------ discriminator gradients */
typedef struct {
    zoo_model *m;
    float *x, so[64], co[64], ws[64], wc[64];
    int B, np, nc;
} dcase;

static double dloss(void *ctx) {
    dcase *d = ctx;
    zoo_dis_forward(d->m, d->so, d->co, d->x, d->B);
    return dot(d->ws, d->so, d->np) + dot(d->wc, d->co, d->nc);
}

static void dis_gradcheck(void) {
    zoo_config c = tiny(ZOO_STARGAN);
    c.size = 64;
    dcase d = {0};
    CHECK(zoo_create(&d.m, &c, 5, 1) == DF_OK, "create: %s", df_errmsg());
    int S = c.size;
    d.B = 3, d.np = d.B * (S / 32) * (S / 32), d.nc = d.B * ZOO_NATTR;
    int n = d.B * 3 * S * S;
    d.x = malloc(n * sizeof(float));
    float *dx = calloc(n, sizeof(float));
    check_fill(d.x, n, 7), check_fill(d.ws, d.np, 9), check_fill(d.wc, d.nc, 10);
    df_params *p = zoo_dis_params(d.m);
    df_params_zero_grad(p);
    dloss(&d);
    CHECK(zoo_dis_backward(d.m, dx, d.ws, d.wc, 1) == DF_OK, "backward: %s", df_errmsg());
    int bad = 0, total = 0;
    fd_coords("x", dloss, &d, d.x, dx, n, 8, 2, &bad, &total);
    for (int t = 0; t < p->n; t++)
        fd_coords(p->info[t].name, dloss, &d, p->data + p->info[t].offset, p->grad + p->info[t].offset,
                  p->info[t].count, 3, 30 + t, &bad, &total);
    printf("discriminator gradients: %d of %d coordinates agree with finite differences\n", total - bad, total);
    CHECK(bad <= total / 10, "D: %d of %d gradient coordinates disagree", bad, total);
    /* the cls head alone must not reach the src head's parameters */
    df_params_zero_grad(p);
    dloss(&d);
    zoo_dis_backward(d.m, NULL, NULL, d.wc, 1);
    int src_b = df_params_find(p, "d.src.b"), cls_b = df_params_find(p, "d.cls.b");
    CHECK(src_b >= 0 && p->grad[p->info[src_b].offset] == 0.0f, "src head got a gradient from cls only");
    CHECK(cls_b >= 0 && p->grad[p->info[cls_b].offset] != 0.0f, "cls head got no gradient");
    free(d.x), free(dx);
    zoo_free(d.m);
}

/* ------------------------------------------------------------------ synthetic faces
 * Hair = colour of the top rows (black / yellow / brown / grey when none), Male = a dark bar at the bottom,
 * Young = brighter "skin"; plus noise. */
static void synth(float *x, float *attr, int B, int S, unsigned seed) {
    df_rng r;
    df_rng_seed(&r, seed);
    static const float hair[4][3] = {{-0.9f, -0.9f, -0.9f}, {0.8f, 0.7f, -0.2f}, {0.1f, -0.3f, -0.6f}, {0.2f, 0.2f, 0.2f}};
    for (int b = 0; b < B; b++) {
        int hc = (int)(df_rng_u32(&r) % 4);
        float *a = attr + b * ZOO_NATTR;
        for (int k = 0; k < 3; k++) a[k] = hc == k;
        a[ZOO_MALE] = (float)(df_rng_u32(&r) & 1);
        a[ZOO_YOUNG] = (float)(df_rng_u32(&r) & 1);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int i = 0; i < S; i++) {
                    float v = a[ZOO_YOUNG] ? 0.5f : 0.1f;
                    if (y < S / 4) v = hair[hc][c];
                    if (a[ZOO_MALE] && y > S * 3 / 4 && i > S / 4 && i < S * 3 / 4) v = -0.5f;
                    x[(((size_t)b * 3 + c) * S + y) * S + i] = v + 0.05f * df_rng_normal(&r);
                }
    }
}

static void train_losses_go_down(zoo_family fam) {
    zoo_config c = tiny(fam);
    c.width = 8, c.dwidth = 8;
    zoo_model *m;
    CHECK(zoo_create(&m, &c, 3, 1) == DF_OK, "create: %s", df_errmsg());
    zoo_train_opts o = zoo_default_train_opts();
    o.lr = 1e-3f;
    int B = 4, S = c.size, steps = 60;
    float *x = malloc((size_t)B * 3 * S * S * sizeof(float)), a[4 * ZOO_NATTR];
    double first[3] = {0}, last[3] = {0};
    for (int t = 0; t < steps; t++) {
        synth(x, a, B, S, 100 + t % 8); /* 8 fixed batches */
        zoo_losses L;
        df_status st = zoo_train_step(m, &o, x, a, B, 1000 + t, &L);
        CHECK(st == DF_OK, "train step: %s", df_errmsg());
        CHECK(isfinite(L.d_adv) && isfinite(L.g_adv) && isfinite(L.g_rec) && isfinite(L.g_cls), "finite losses");
        double v[3] = {L.g_rec, L.d_cls, L.g_cls};
        for (int k = 0; k < 3; k++) {
            if (t < 8) first[k] += v[k] / 8;
            if (t >= steps - 8) last[k] += v[k] / 8;
        }
    }
    printf("%s: g_rec %.3f -> %.3f, d_cls %.3f -> %.3f, g_cls %.3f -> %.3f\n", zoo_family_arch(fam), first[0], last[0],
           first[1], last[1], first[2], last[2]);
    CHECK(last[0] < 0.7 * first[0], "%s: reconstruction loss did not go down (%.4f -> %.4f)", zoo_family_arch(fam),
          first[0], last[0]);
    CHECK(last[1] < 0.85 * first[1], "%s: D attribute loss did not go down (%.4f -> %.4f)", zoo_family_arch(fam), first[1],
          last[1]);
    CHECK(zoo_get_step(m) == steps, "step count");
    free(x);
    zoo_free(m);
}

/* lambda_id (stargan, style): the identity edit G(x; src -> src) must end closer to x than with the cycle only,
 * from the same initialisation and batches; g_id is reported and falls. */
static double identity_mae(zoo_model *m, const float *x, const float *a, int B, int S) {
    size_t n = (size_t)B * 3 * S * S;
    float *y = malloc(n * sizeof(float));
    CHECK(zoo_edit(m, y, x, a, a, B) == DF_OK, "edit: %s", df_errmsg());
    double e = 0;
    for (size_t i = 0; i < n; i++) e += fabs((double)y[i] - x[i]);
    free(y);
    return e / n;
}

static void identity_term(zoo_family fam) {
    zoo_config c = tiny(fam);
    c.width = 8, c.dwidth = 8;
    int B = 4, S = c.size, steps = 50;
    float *x = malloc((size_t)B * 3 * S * S * sizeof(float)), a[4 * ZOO_NATTR];
    double mae[2], id_first = 0, id_last = 0;
    for (int run = 0; run < 2; run++) {
        zoo_model *m;
        CHECK(zoo_create(&m, &c, 5, 1) == DF_OK, "create: %s", df_errmsg());
        zoo_train_opts o = zoo_default_train_opts();
        o.lr = 1e-3f, o.lambda_id = run ? 10.0f : 0.0f;
        for (int t = 0; t < steps; t++) {
            synth(x, a, B, S, 200 + t % 8);
            zoo_losses L;
            CHECK(zoo_train_step(m, &o, x, a, B, 500 + t, &L) == DF_OK, "train step: %s", df_errmsg());
            if (!run) CHECK(L.g_id == 0, "g_id reported without lambda_id");
            if (run && t < 8) id_first += L.g_id / 8;
            if (run && t >= steps - 8) id_last += L.g_id / 8;
        }
        synth(x, a, B, S, 999); /* a batch not trained on */
        mae[run] = identity_mae(m, x, a, B, S);
        zoo_free(m);
    }
    printf("%s identity edit MAE: cycle only %.4f, with lambda_id %.4f; g_id %.3f -> %.3f\n", zoo_family_arch(fam),
           mae[0], mae[1], id_first, id_last);
    CHECK(id_first > 0 && id_last < 0.7 * id_first, "%s: identity loss did not go down (%.4f -> %.4f)",
          zoo_family_arch(fam), id_first, id_last);
    CHECK(mae[1] < 0.85 * mae[0], "%s: the identity term did not bring G(x; src -> src) closer to x (%.4f vs %.4f)",
          zoo_family_arch(fam), mae[1], mae[0]);
    free(x);
}

/* ------------------------------------------------------------------ save / load / resume */
static void save_load_resume(zoo_family fam) {
    zoo_config c = tiny(fam);
    zoo_train_opts o = zoo_default_train_opts();
    int B = 2, S = c.size, n = B * 3 * S * S;
    float *x = malloc(n * sizeof(float)), a[2 * ZOO_NATTR], *y1 = malloc(n * sizeof(float)),
          *y2 = malloc(n * sizeof(float));
    zoo_model *ma, *mb, *mc;
    CHECK(zoo_create(&ma, &c, 9, 1) == DF_OK && zoo_create(&mb, &c, 9, 1) == DF_OK, "create");
    for (int t = 0; t < 4; t++) {
        synth(x, a, B, S, 50 + t);
        zoo_train_step(ma, &o, x, a, B, 77 + t, NULL);
        if (t < 2) zoo_train_step(mb, &o, x, a, B, 77 + t, NULL);
    }
    uint8_t *buf;
    size_t len;
    CHECK(zoo_save(mb, 1, &buf, &len) == DF_OK, "save checkpoint: %s", df_errmsg());
    CHECK(zoo_load(&mc, buf, len, 1) == DF_OK, "load checkpoint: %s", df_errmsg());
    free(buf);
    CHECK(zoo_get_step(mc) == 2, "step restored: %ld", zoo_get_step(mc));
    for (int t = 2; t < 4; t++) {
        synth(x, a, B, S, 50 + t);
        zoo_train_step(mc, &o, x, a, B, 77 + t, NULL);
    }
    df_params *pa = zoo_gen_params(ma), *pc = zoo_gen_params(mc), *da = zoo_dis_params(ma), *dc = zoo_dis_params(mc);
    CHECK(memcmp(pa->data, pc->data, pa->total * sizeof(float)) == 0, "%s: resumed G differs", zoo_family_arch(fam));
    CHECK(memcmp(da->data, dc->data, da->total * sizeof(float)) == 0, "%s: resumed D differs", zoo_family_arch(fam));
    CHECK(memcmp(pa->v, pc->v, pa->total * sizeof(float)) == 0, "%s: resumed Adam state differs", zoo_family_arch(fam));
    /* weights-only round trip: identical edits */
    zoo_model *md;
    CHECK(zoo_save(ma, 0, &buf, &len) == DF_OK, "save weights");
    CHECK(zoo_load(&md, buf, len, 0) == DF_OK, "load weights: %s", df_errmsg());
    CHECK(md && zoo_get_config(md)->family == fam && zoo_get_config(md)->width == c.width &&
              zoo_get_config(md)->skip == c.skip, "config restored");
    float trg[2 * ZOO_NATTR];
    zoo_edit_attrs(trg, a, ZOO_BLOND), zoo_edit_attrs(trg + ZOO_NATTR, a + ZOO_NATTR, ZOO_MALE);
    zoo_edit(ma, y1, x, a, trg, B);
    zoo_edit(md, y2, x, a, trg, B);
    CHECK(memcmp(y1, y2, n * sizeof(float)) == 0, "%s: loaded model edits differently", zoo_family_arch(fam));
    double diff = 0;
    for (int i = 0; i < n; i++) diff += fabs(y1[i] - x[i]);
    CHECK(diff / n > 1e-3 && diff / n < 2.0, "edit is a real image in [-1,1] (mean |y - x| %.4g)", diff / n);
    /* a corrupted file is refused */
    buf[len / 2] ^= 0x40;
    zoo_model *me = NULL;
    CHECK(zoo_load(&me, buf, len, 0) != DF_OK && me == NULL, "corrupted file accepted");
    free(buf);
    zoo_free(ma), zoo_free(mb), zoo_free(mc), zoo_free(md);
    free(x), free(y1), free(y2);
}

/* ------------------------------------------------------------------ global residual (skip)
 * With the output layer's weights zeroed, tanh(bias) is the whole network output: y must be exactly
 * clamp(x + tanh(b), -1, 1) per channel, and the input gradient exactly dy where the clamp passes. */
static void skip_output(void) {
    zoo_config c = tiny(ZOO_STARGAN);
    CHECK(c.skip == 0 && zoo_default_config(ZOO_ATTGAN).skip == 0, "default output mode: plain");
    c.skip = 1;
    zoo_model *m;
    CHECK(zoo_create(&m, &c, 5, 1) == DF_OK, "create: %s", df_errmsg());
    if (!m) return;
    df_params *p = zoo_gen_params(m);
    float bias[3] = {0.0f, 0.4f, -0.7f};
    int found = 0;
    for (int t = 0; t < p->n; t++) {
        float *d = p->data + p->info[t].offset;
        if (!strcmp(p->info[t].name, "g.out.w")) memset(d, 0, p->info[t].count * sizeof(float)), found++;
        if (!strcmp(p->info[t].name, "g.out.b")) memcpy(d, bias, sizeof bias), found++;
    }
    CHECK(found == 2, "output layer tensors g.out.w and g.out.b");
    int B = 2, S = c.size, n = B * 3 * S * S, bad = 0, badg = 0;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float)),
          *dx = calloc(n, sizeof(float)), a[2 * ZOO_NATTR];
    synth(x, a, B, S, 3);
    check_fill(dy, n, 6);
    CHECK(zoo_gen_forward(m, 0, y, x, a, a, NULL, B) == DF_OK, "forward");
    CHECK(zoo_gen_backward(m, 0, dx, dy, NULL, 0) == DF_OK, "backward");
    for (int i = 0; i < n; i++) {
        float v = x[i] + tanhf(bias[(i / (S * S)) % 3]), want = v < -1 ? -1 : v > 1 ? 1 : v;
        bad += fabsf(y[i] - want) > 1e-6f;
        badg += fabsf(dx[i] - (v > -1 && v < 1 ? dy[i] : 0.0f)) > 1e-6f; /* the zeroed net passes nothing */
    }
    CHECK(bad == 0, "skip output = clamp(x + tanh(b)): %d of %d pixels differ", bad, n);
    CHECK(badg == 0, "skip input gradient = dy inside the clamp: %d of %d differ", badg, n);
    free(x), free(y), free(dy), free(dx);
    zoo_free(m);
}

/* Plain -> attention conversion: the new model's edit starts as A * plain + (1 - A) * x with the mask
 * A = sigmoid(2) everywhere, weights and config otherwise copied; it survives a save/load round trip; an
 * attention model cannot be converted back. */
static void attention_convert(zoo_family fam) {
    zoo_config c = tiny(fam);
    c.skip = 0;
    zoo_model *m, *a = NULL, *r = NULL, *back = NULL;
    CHECK(zoo_create(&m, &c, 21, 0) == DF_OK, "create");
    CHECK(zoo_convert(&a, m, ZOO_SKIP_ATTENTION, 1) == DF_OK && a, "convert: %s", df_errmsg());
    if (!a) return;
    CHECK(zoo_get_config(a)->skip == ZOO_SKIP_ATTENTION && zoo_get_config(a)->width == c.width, "converted config");
    int B = 2, S = c.size, n = B * 3 * S * S;
    float *x = malloc(n * sizeof(float)), *y0 = malloc(n * sizeof(float)), *y1 = malloc(n * sizeof(float)),
          *y2 = malloc(n * sizeof(float)), at[2 * ZOO_NATTR], trg[2 * ZOO_NATTR];
    synth(x, at, B, S, 8);
    zoo_edit_attrs(trg, at, ZOO_BLACK), zoo_edit_attrs(trg + ZOO_NATTR, at + ZOO_NATTR, ZOO_YOUNG);
    zoo_edit(m, y0, x, at, trg, B);
    zoo_edit(a, y1, x, at, trg, B);
    double worst = 0, bound = 0;
    for (int i = 0; i < n; i++) {
        double A = 1 / (1 + exp(-2.0)), want = A * y0[i] + (1 - A) * x[i];
        worst = fmax(worst, fabs(y1[i] - want));
        bound = fmax(bound, fabs(y1[i] - y0[i]));
    }
    CHECK(worst < 1e-5 && bound > 1e-3, "%s: attention starts at 0.88 x the plain edit (off by %.3g; %.3g from it)",
          zoo_family_arch(fam), worst, bound);
    uint8_t *buf;
    size_t len;
    CHECK(zoo_save(a, 0, &buf, &len) == DF_OK && zoo_load(&r, buf, len, 0) == DF_OK, "round trip: %s", df_errmsg());
    free(buf);
    if (r) {
        zoo_edit(r, y2, x, at, trg, B);
        CHECK(zoo_get_config(r)->skip == ZOO_SKIP_ATTENTION && memcmp(y1, y2, n * sizeof(float)) == 0,
              "attention model saved and loaded");
    }
    CHECK(zoo_convert(&back, a, 0, 0) != DF_OK && !back, "attention -> plain refused");
    free(x), free(y0), free(y1), free(y2);
    zoo_free(m), zoo_free(a), zoo_free(r);
}

/* ------------------------------------------------------------------ small pieces */
static void attrs_and_config(void) {
    float src[5] = {0, 1, 0, 1, 1}, trg[5];
    zoo_edit_attrs(trg, src, ZOO_BROWN);
    CHECK(trg[0] == 0 && trg[1] == 0 && trg[2] == 1 && trg[3] == 1 && trg[4] == 1, "hair set one-hot");
    zoo_edit_attrs(trg, src, ZOO_MALE);
    CHECK(trg[1] == 1 && trg[3] == 0 && trg[4] == 1, "Male flipped");
    zoo_family f;
    CHECK(zoo_family_parse("attgan", &f) == DF_OK && f == ZOO_ATTGAN, "parse attgan");
    CHECK(zoo_family_parse("zoo-style", &f) == DF_OK && f == ZOO_STYLE, "parse zoo-style");
    CHECK(zoo_family_parse("cyclegan", &f) != DF_OK, "unknown family refused");
    CHECK(zoo_attr_index("Young") == ZOO_YOUNG && zoo_attr_index("Smiling") == -1, "attr index");
    zoo_config c = zoo_default_config(ZOO_STARGAN);
    zoo_model *m = NULL;
    c.size = 100;
    CHECK(zoo_create(&m, &c, 1, 0) != DF_OK && !m, "size 100 refused");
    c = zoo_default_config(ZOO_STARGAN);
    /* FLOPs by hand for the default StarGAN (c = 16, R = 3, 128 x 128) */
    double S2 = 128.0 * 128, f0 = 2 * 8 * 16 * 49 * S2, f1 = 2 * 16 * 32 * 16 * S2 / 4, f2 = 2 * 32 * 64 * 16 * S2 / 16;
    double fr = 6 * 2 * 64 * 64 * 9 * S2 / 16, fu = 2 * 64 * 32 * 16 * S2 / 16 + 2 * 32 * 16 * 16 * S2 / 4;
    double fo = 2 * 16 * 3 * 49 * S2;
    CHECK_NEAR(zoo_gen_flops(&c), f0 + f1 + f2 + fr + fu + fo, 1, "stargan flops");
}

/* AdaIN alone (style model, nres 0 keeps two AdaIN layers): gradient wrt the modulation path is covered by the
 * parameter checks above; here the identity: with zero modulation weights AdaIN == plain instance norm, so the
 * noise z must not change the output. */
static void adain_neutral(void) {
    zoo_config c = tiny(ZOO_STYLE);
    zoo_model *m;
    zoo_create(&m, &c, 2, 0);
    df_params *p = zoo_gen_params(m);
    int w = df_params_find(p, "g.mod.w"), b = df_params_find(p, "g.mod.b");
    CHECK(w >= 0 && b >= 0, "style model has g.mod");
    memset(p->data + p->info[w].offset, 0, p->info[w].count * sizeof(float));
    memset(p->data + p->info[b].offset, 0, p->info[b].count * sizeof(float));
    int n = 3 * c.size * c.size;
    float *x = malloc(n * sizeof(float)), *y1 = malloc(n * sizeof(float)), *y2 = malloc(n * sizeof(float));
    float a[5] = {1, 0, 0, 0, 1}, z1[3] = {1, -2, 0.5f}, z2[3] = {-1, 0, 3};
    check_fill(x, n, 21);
    zoo_gen_forward(m, 0, y1, x, a, a, z1, 1);
    zoo_gen_forward(m, 0, y2, x, a, a, z2, 1);
    CHECK(memcmp(y1, y2, n * sizeof(float)) == 0, "zero modulation: z must not matter");
    zoo_free(m);
    zoo_create(&m, &c, 2, 0);
    zoo_gen_forward(m, 0, y1, x, a, a, z1, 1);
    zoo_gen_forward(m, 0, y2, x, a, a, z2, 1);
    CHECK(memcmp(y1, y2, n * sizeof(float)) != 0, "random modulation: z must matter");
    zoo_free(m);
    free(x), free(y1), free(y2);
}

/* ------------------------------------------------------------------ CelebA */
static void celeba_labels(void) {
    const char *good = "file,identity,partition,Smiling,Black_Hair,Blond_Hair,Brown_Hair,Male,Young\r\n"
                       "000001.jpg,7,0,1,0,1,0,0,1\r\n"
                       "000002.jpg,7,2,0,1,0,0,1,0\r\n"
                       "000003.jpg,9,0,0,0,0,1,1,1\r\n";
    celeba_set s;
    CHECK(celeba_parse(&s, good, strlen(good), NULL, 0) == DF_OK, "good csv: %s", df_errmsg());
    CHECK(s.n == 2 && strcmp(s.file[1], "000003.jpg") == 0 && s.identity[1] == 9, "train rows");
    CHECK(s.attr[0] == 0 && s.attr[1] == 1 && s.attr[4] == 1 && s.attr[5 + 2] == 1 && s.attr[5 + 3] == 1, "attributes");
    celeba_free(&s);
    CHECK(celeba_parse(&s, good, strlen(good), NULL, -1) == DF_OK && s.n == 3, "all rows");
    celeba_free(&s);
    static const char *bad[] = {
        "file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male\n1.jpg,1,0,0,0,0,0\n",    /* no Young */
        "file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male,Young\n1.jpg,1,0,0,0,0,0\n", /* short row */
        "file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male,Young\n1.jpg,1,0,0,0,0,0,-1\n", /* -1 */
        "file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male,Young\n../x.jpg,1,0,0,0,0,0,1\n",
        "file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male,Young\n1.jpg,1,3,0,0,0,0,1\n", /* partition */
        "file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male,Young\n1.jpg,x,0,0,0,0,0,1\n",
        "file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male,Young\n\n1.jpg,1,0,0,0,0,0,1\n",
        "file,identity,partition,Black_Hair,Blond_Hair,Brown_Hair,Male,Young\n1.jpg,1,1,0,0,0,0,1\n", /* no train */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        df_status st = celeba_parse(&s, bad[i], strlen(bad[i]), NULL, 0);
        CHECK(st == DF_ERR_FORMAT && s.n == 0 && !s.file, "bad csv %zu accepted", i);
    }
}

static void face_resize(void) {
    /* 4 wide x 6 high: the crop keeps rows 1..4; a 2x downscale with the triangle stretched to 2 pixels weights
     * taps at distances 1.5, 0.5, 0.5, 1.5 by 0.25, 0.75, 0.75, 0.25 (sum 2), the tap outside the crop clamped to
     * its edge (stb_image_resize2's STBIR_EDGE_CLAMP); the result is 8-bit, as PIL's */
    uint8_t rgb[6 * 4 * 3];
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 4; x++)
            for (int c = 0; c < 3; c++) rgb[(y * 4 + x) * 3 + c] = (uint8_t)(y * 40 + x * 10 + c);
    float out[3 * 2 * 2];
    CHECK(celeba_prepare(out, 2, rgb, 4, 6, 1, 0) == DF_OK, "prepare");
    double wt[2][4] = {{1.0 / 2, 0.75 / 2, 0.25 / 2, 0}, {0, 0.25 / 2, 0.75 / 2, 1.0 / 2}};
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                double v = 0;
                for (int y = 0; y < 4; y++)
                    for (int x = 0; x < 4; x++) v += wt[i][y] * wt[j][x] * ((y + 1) * 40 + x * 10 + c);
                CHECK_NEAR(out[(c * 2 + i) * 2 + j], floor(v + 0.5) / 127.5 - 1, 1e-6, "resized pixel");
            }
    float fl[3 * 2 * 2];
    celeba_prepare(fl, 2, rgb, 4, 6, 1, 1);
    CHECK(fl[0] == out[1] && fl[1] == out[0], "mirror");
    /* upscale of a constant image stays constant */
    uint8_t one[3] = {255, 0, 128};
    float up[3 * 5 * 5];
    celeba_prepare(up, 5, one, 1, 1, 0, 0);
    CHECK(fabsf(up[0] - 1) < 1e-6 && fabsf(up[25 + 12] + 1) < 1e-6 && fabsf(up[74] - (128 / 127.5f - 1)) < 1e-6,
          "upscaled constant");
}

static void batches(void) {
    int n = 10, B = 4, seen[10] = {0}, idx[4], again[4];
    for (long st = 0; st < 5; st++) { /* 20 draws = 2 epochs */
        celeba_batch_indices(idx, n, B, 42, st);
        celeba_batch_indices(again, n, B, 42, st);
        CHECK(memcmp(idx, again, sizeof idx) == 0, "deterministic batch");
        for (int b = 0; b < B; b++) seen[idx[b]]++;
    }
    for (int i = 0; i < n; i++) CHECK(seen[i] == 2, "index %d drawn %d times in 2 epochs", i, seen[i]);
    celeba_batch_indices(idx, n, B, 43, 0);
    celeba_batch_indices(again, n, B, 42, 0);
    CHECK(memcmp(idx, again, sizeof idx) != 0, "seed changes the order");
}

static void celeba_real(void) {
    const char *sh = getenv("DF_SHARED_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/celeba_subset", sh ? sh : "../shared");
    if (access(dir, R_OK) != 0) {
        printf("test_zoo: SKIP real CelebA checks (%s not found)\n", dir);
        return;
    }
    celeba_set s;
    CHECK(celeba_open(&s, dir, 0) == DF_OK, "open: %s", df_errmsg());
    CHECK(s.n == 16090, "train rows %d", s.n);
    float *x = malloc(3 * 128 * 128 * sizeof(float));
    CHECK(celeba_load(&s, 0, x, 128, 0) == DF_OK, "load: %s", df_errmsg());
    double mn = 1, mx = -1;
    for (int i = 0; i < 3 * 128 * 128; i++) mn = fmin(mn, x[i]), mx = fmax(mx, x[i]);
    CHECK(mn >= -1 && mx <= 1 && mx - mn > 0.5, "image range %.3f..%.3f", mn, mx);
    free(x);
    celeba_free(&s);
}

/* ------------------------------------------------------------------ CLI: bad arguments -> exit 2 */
/* ------------------------------------------------------------------ low-pass attribute head (cls_pool)
 * With cls_pool k the attribute logits are those of the plain head on the k x k block means (computed here
 * independently), so they ignore any texture whose block means are zero; bad k are refused; the setting
 * survives save / load; and a few training steps with it still teach the head the (colour) attributes. */
static void cls_pool_view(void) {
    zoo_config c = tiny(ZOO_STARGAN);
    int S = c.size, k = 4;
    zoo_model *m, *plain;
    CHECK(zoo_create(&m, &c, 21, 0) == DF_OK, "create: %s", df_errmsg());
    CHECK(zoo_set_cls_pool(m, 3) != DF_OK && zoo_set_cls_pool(m, 64) != DF_OK, "cls_pool 3 / 64 refused at size 32");
    CHECK(zoo_get_config(m)->cls_pool <= 1, "a refused cls_pool leaves the model unchanged");
    zoo_free(m);
    /* training with the pooled head: its attribute loss falls */
    c.width = 8, c.dwidth = 8, c.cls_pool = k;
    CHECK(zoo_create(&m, &c, 3, 1) == DF_OK, "create: %s", df_errmsg());
    zoo_train_opts o = zoo_default_train_opts();
    o.lr = 1e-3f;
    int steps = 60, B = 4, n = B * 3 * S * S;
    float *x = malloc(n * sizeof(float)), *xm = malloc(n * sizeof(float)), a[4 * ZOO_NATTR];
    double first[2] = {0}, last[2] = {0};
    for (int t = 0; t < steps; t++) {
        synth(x, a, B, S, 100 + t % 8);
        zoo_losses L;
        CHECK(zoo_train_step(m, &o, x, a, B, 1000 + t, &L) == DF_OK, "train step: %s", df_errmsg());
        double v[2] = {L.d_cls, L.g_cls};
        for (int j = 0; j < 2; j++) {
            if (t < 8) first[j] += v[j] / 8;
            if (t >= steps - 8) last[j] += v[j] / 8;
        }
    }
    printf("cls_pool 4: d_cls %.3f -> %.3f, g_cls %.3f -> %.3f\n", first[0], last[0], first[1], last[1]);
    CHECK(last[0] < 0.85 * first[0], "pooled D attribute loss did not go down (%.4f -> %.4f)", first[0], last[0]);
    /* the trained head: its logits are the plain head's on block means; a texture does not move them */
    uint8_t *buf;
    size_t len;
    CHECK(zoo_save(m, 0, &buf, &len) == DF_OK && zoo_load(&plain, buf, len, 0) == DF_OK, "copy: %s", df_errmsg());
    free(buf);
    CHECK(zoo_get_config(plain)->cls_pool == k, "cls_pool survives save / load");
    CHECK(zoo_set_cls_pool(plain, 1) == DF_OK, "cls_pool 1: %s", df_errmsg());
    float l1[4 * ZOO_NATTR], l2[4 * ZOO_NATTR], l3[4 * ZOO_NATTR], l4[4 * ZOO_NATTR];
    synth(x, a, B, S, 5);
    for (int p = 0; p < B * 3; p++)
        for (int y = 0; y < S; y++)
            for (int i = 0; i < S; i++) {
                double sum = 0;
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++) sum += x[((size_t)p * S + y / k * k + u) * S + i / k * k + v];
                xm[((size_t)p * S + y) * S + i] = (float)(sum / (k * k));
            }
    CHECK(zoo_classify(m, l1, x, B) == DF_OK && zoo_classify(plain, l2, xm, B) == DF_OK, "classify");
    CHECK(zoo_classify(plain, l4, x, B) == DF_OK, "classify");
    double d12 = 0, mag = 0;
    for (int i = 0; i < B * ZOO_NATTR; i++) d12 = fmax(d12, fabs(l1[i] - l2[i])), mag = fmax(mag, fabs(l4[i]));
    for (int i = 0; i < n; i++) x[i] += ((i / S + i) & 1) ? 0.3f : -0.3f; /* a checkerboard: zero block means */
    CHECK(zoo_classify(m, l3, x, B) == DF_OK && zoo_classify(plain, l2, x, B) == DF_OK, "classify");
    double d13 = 0, dplain = 0;
    for (int i = 0; i < B * ZOO_NATTR; i++) d13 = fmax(d13, fabs(l1[i] - l3[i])), dplain = fmax(dplain, fabs(l2[i] - l4[i]));
    printf("cls_pool 4 logits (max |logit| %.2g): vs the plain head on block means %.2g; a checkerboard moves them "
           "%.2g, the plain head's %.2g\n", mag, d12, d13, dplain);
    CHECK(d12 < 1e-4 * (1 + mag), "pooled logits differ from the plain head on block means by %.3g", d12);
    CHECK(d13 < 1e-4 * (1 + mag), "a fine texture moved the pooled logits by %.3g", d13);
    CHECK(dplain > 0.05 * mag, "the checkerboard does not move the plain head either (%.3g): the test cannot tell", dplain);
    free(x), free(xm);
    zoo_free(m), zoo_free(plain);
}

/* ------------------------------------------------------------------ generator moving average (ema)
 * The average must not change training (same weights as without it), must equal an average computed here from
 * the weights after every step, survive a checkpoint exactly, and swap in and out. */
static void ema_average(void) {
    zoo_config c = tiny(ZOO_STARGAN);
    zoo_train_opts o = zoo_default_train_opts(), oe = o;
    oe.ema = 0.9f;
    int B = 2, S = c.size, steps = 5;
    float *x = malloc((size_t)B * 3 * S * S * sizeof(float)), a[2 * ZOO_NATTR];
    zoo_model *ma, *mb, *mc = NULL;
    CHECK(zoo_create(&ma, &c, 4, 1) == DF_OK && zoo_create(&mb, &c, 4, 1) == DF_OK, "create");
    CHECK(!zoo_has_ema(ma) && zoo_swap_ema(ma) != DF_OK, "no average before a step with ema > 0");
    df_params *pa = zoo_gen_params(ma), *pb = zoo_gen_params(mb);
    float *ref = malloc(pb->total * sizeof(float));
    for (int t = 0; t < steps; t++) {
        synth(x, a, B, S, 60 + t);
        CHECK(zoo_train_step(ma, &oe, x, a, B, 90 + t, NULL) == DF_OK && zoo_train_step(mb, &o, x, a, B, 90 + t, NULL) == DF_OK,
              "train step: %s", df_errmsg());
        for (size_t i = 0; i < pb->total; i++) ref[i] = t ? 0.9f * ref[i] + (1.0f - 0.9f) * pb->data[i] : pb->data[i];
        if (t == 2) { /* checkpoint here, continue the copy below */
            uint8_t *buf;
            size_t len;
            CHECK(zoo_save(ma, 1, &buf, &len) == DF_OK && zoo_load(&mc, buf, len, 1) == DF_OK, "checkpoint: %s", df_errmsg());
            CHECK(zoo_has_ema(mc), "the checkpoint keeps the average");
            zoo_model *mi;
            CHECK(zoo_load(&mi, buf, len, 0) == DF_OK && !zoo_has_ema(mi), "inference load: %s", df_errmsg());
            CHECK(zoo_swap_ema(ma) == DF_OK && memcmp(pa->data, zoo_gen_params(mi)->data, pa->total * sizeof(float)) == 0,
                  "a checkpoint loaded for inference does not use the average");
            zoo_swap_ema(ma);
            zoo_free(mi);
            free(buf);
        }
        if (t > 2) CHECK(zoo_train_step(mc, &oe, x, a, B, 90 + t, NULL) == DF_OK, "resumed step");
    }
    CHECK(memcmp(pa->data, pb->data, pa->total * sizeof(float)) == 0, "the average changed the training");
    double dmax = 0, moved = 0;
    df_params *pc = zoo_gen_params(mc);
    CHECK(memcmp(pa->data, pc->data, pa->total * sizeof(float)) == 0, "resumed weights differ");
    CHECK(zoo_swap_ema(ma) == DF_OK && zoo_swap_ema(mc) == DF_OK, "swap");
    for (size_t i = 0; i < pa->total; i++) {
        dmax = fmax(dmax, fabs(pa->data[i] - ref[i]));
        moved = fmax(moved, fabs(ref[i] - pb->data[i]));
    }
    printf("ema: max |average - reference| %.3g (average vs last weights %.3g)\n", dmax, moved);
    CHECK(dmax < 1e-6, "moving average differs from the reference by %.3g", dmax);
    CHECK(moved > 1e-5, "the average equals the last weights: the test cannot tell");
    double dres = 0;
    for (size_t i = 0; i < pa->total; i++) dres = fmax(dres, fabs(pa->data[i] - pc->data[i]));
    CHECK(memcmp(pa->data, pc->data, pa->total * sizeof(float)) == 0, "resumed average differs (%.3g)", dres);
    CHECK(zoo_swap_ema(ma) == DF_OK && memcmp(pa->data, pb->data, pa->total * sizeof(float)) == 0, "swap back");
    zoo_free(ma), zoo_free(mb), zoo_free(mc);
    free(x), free(ref);
}

static int run_cli(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", 1);
        if (fd >= 0) dup2(fd, 2), dup2(fd, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

static void cli_args(void) {
    const char *bd = getenv("DF_BUILD_DIR");
    char exe[1024];
    snprintf(exe, sizeof exe, "%s/dadfi", bd ? bd : ".");
    if (access(exe, X_OK) != 0) {
        printf("test_zoo: SKIP CLI checks (%s not found)\n", exe);
        return;
    }
    char *cases[][10] = {
        {exe, "deepfake", NULL},
        {exe, "deepfake", "--model", NULL},
        {exe, "deepfake", "--model", "m.dfw", "--attr", "Smiling=1", "in.png", "out.png"},
        {exe, "deepfake", "--model", "m.dfw", "--attr", "Male=2", "in.png", "out.png"},
        {exe, "deepfake", "--model", "m.dfw", "--bogus", "in.png", "out.png"},
        {exe, "deepfake", "--model", "m.dfw", "in.png", NULL},
        {exe, "zoo-train", "--arch", "cyclegan", "--out", "x.dfw", NULL},
        {exe, "zoo-train", "--arch", "stargan", "--out", "x.dfw", "--steps", "-3"},
        {exe, "zoo-train", "--init", "a.dfw", "--resume", "a.dfw.ckpt", "--out", "x.dfw", NULL},
        {exe, "zoo-train", "--init", "a.dfw", "--width", "8", "--out", "x.dfw", NULL},
        {exe, "zoo-train", "--arch", "stargan", "--cls-pool", "0", "--out", "x.dfw", NULL},
        {exe, "zoo-train", "--arch", "stargan", "--ema", "1", "--out", "x.dfw", NULL},
        {exe, "zoo-train", "--arch", "stargan", "--cls-pool", "3", "--out", "/nonexistent/x.dfw", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(run_cli(cases[i]) == 2, "CLI case %zu (%s %s) did not exit 2", i, cases[i][1], cases[i][2] ? cases[i][2] : "");
    char *help[] = {exe, "deepfake", "--help", NULL}, *help2[] = {exe, "zoo-train", "--help", NULL};
    CHECK(run_cli(help) == 0 && run_cli(help2) == 0, "--help exits 0");
    char *missing[] = {exe, "deepfake", "--model", "/nonexistent/m.dfw", "in.png", "out.png", NULL};
    CHECK(run_cli(missing) == 1, "missing model file: runtime error (exit 1)");
    /* --init: the family comes from the file; asking for another one is a usage error */
    char attgan[1200];
    const char *sd = getenv("DF_SOURCE_DIR");
    snprintf(attgan, sizeof attgan, "%s/weights/zoo/attgan.dfw", sd ? sd : "..");
    if (access(attgan, R_OK) == 0) {
        char *mismatch[] = {exe, "zoo-train", "--init", attgan, "--arch", "stargan", "--out", "/nonexistent/x.dfw", NULL};
        CHECK(run_cli(mismatch) == 2, "--init with another --arch: usage error (exit 2)");
    }
    char *noinit[] = {exe, "zoo-train", "--init", "/nonexistent/m.dfw", "--out", "/nonexistent/x.dfw", NULL};
    CHECK(run_cli(noinit) == 1, "missing --init file: runtime error (exit 1)");
}

int main(void) {
    df_set_threads(2);
    attrs_and_config();
    for (int f = 0; f < ZOO_NFAMILIES; f++) gen_gradcheck((zoo_family)f, zoo_default_config((zoo_family)f).skip);
    gen_gradcheck(ZOO_STARGAN, 1); /* the output modes (family-independent code after the output layer) */
    gen_gradcheck(ZOO_STARGAN, ZOO_SKIP_ATTENTION);
    gen_gradcheck(ZOO_STYLE, ZOO_SKIP_ATTENTION);
    skip_output();
    for (int f = 0; f < ZOO_NFAMILIES; f++) attention_convert((zoo_family)f);
    dis_gradcheck();
    adain_neutral();
    for (int f = 0; f < ZOO_NFAMILIES; f++) save_load_resume((zoo_family)f);
    for (int f = 0; f < ZOO_NFAMILIES; f++) train_losses_go_down((zoo_family)f);
    identity_term(ZOO_STARGAN);
    identity_term(ZOO_STYLE);
    cls_pool_view();
    ema_average();
    celeba_labels();
    face_resize();
    batches();
    celeba_real();
    cli_args();
    return check_summary("test_zoo");
}
