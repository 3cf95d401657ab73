/* Protector training: PatchGAN and transform gradients vs finite differences (and adjoint identities), the JPEG
 * approximation vs a real JPEG codec, PGD (loss goes up, projection holds), universal steps, NES direction vs the
 * true gradient, the hinge term by hand, the eps guarantee, a tiny training run whose losses move the right way,
 * checkpoint + resume == uninterrupted run (bitwise), options round trip. Tiny zoo models with random weights
 * (zoo_create) and synthetic faces: no data needed. */
#include "check.h"
#include "gradcheck.h"
#include "graph_fixture.h"
#include "image.h"
#include "metrics.h"
#include "protector.h"

#define S 32

static zoo_config tiny(zoo_family f) {
    zoo_config c = zoo_default_config(f);
    c.size = S, c.width = 4, c.nres = 1, c.dwidth = 4, c.sdim = 6, c.zdim = 3;
    c.skip = 0;
    return c;
}

/* Synthetic faces [B,3,S,S]: background gradient, skin ellipse, hair cap, eyes and mouth; attributes from b. */
static void faces(float *x, float *attr, int B, unsigned seed) {
    df_rng r;
    df_rng_seed(&r, seed);
    for (int b = 0; b < B; b++) {
        float skin[3] = {0.5f + 0.3f * df_rng_uniform(&r), 0.1f + 0.2f * df_rng_uniform(&r), -0.1f};
        float hair[3] = {-0.8f + 1.6f * df_rng_uniform(&r), -0.8f + 1.2f * df_rng_uniform(&r), -0.8f};
        float bg = -0.5f + df_rng_uniform(&r), cx = S / 2 + 2 * (df_rng_uniform(&r) - 0.5f);
        for (int y = 0; y < S; y++)
            for (int xx = 0; xx < S; xx++) {
                float dx = (xx - cx) / (0.32f * S), dy = (y - 0.55f * S) / (0.4f * S);
                int face = dx * dx + dy * dy < 1, hr = !face && dx * dx + (dy + 0.3f) * (dy + 0.3f) < 1.3f && y < S / 2;
                int eye = face && abs(y - S / 2) < 2 && (abs(xx - (int)cx - 5) < 2 || abs(xx - (int)cx + 5) < 2);
                for (int c = 0; c < 3; c++) {
                    float v = bg + 0.3f * (float)y / S * (c - 1);
                    if (face) v = skin[c] - 0.2f * (dx * dx + dy * dy);
                    if (hr) v = hair[c];
                    if (eye) v = -0.9f;
                    x[(((size_t)b * 3 + c) * S + y) * S + xx] = v < -1 ? -1 : v > 1 ? 1 : v;
                }
            }
        float *a = attr + b * ZOO_NATTR;
        memset(a, 0, ZOO_NATTR * sizeof(float));
        a[b % 3] = 1;
        a[ZOO_MALE] = (float)(b % 2);
        a[ZOO_YOUNG] = (float)((b / 2) % 2);
    }
}

static zoo_model *models[3];

/* with_skip: the stargan and style models are attention generators (config.skip = 2), the shipped zoo's kind.
 * The objective's finite-difference check runs on plain generators, as it was tuned for (the output modes'
 * gradients are checked in test_zoo). */
static void make_models(int with_skip) {
    for (int f = 0; f < 3; f++) {
        zoo_config c = tiny((zoo_family)f);
        c.skip = with_skip && f != ZOO_ATTGAN ? ZOO_SKIP_ATTENTION : 0;
        CHECK(zoo_create(&models[f], &c, 11 + f, 0) == DF_OK, "zoo_create %d: %s", f, df_errmsg());
    }
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ------------------------------------------------------------------ PatchGAN */
typedef struct {
    patchgan *d;
    float *out;
    const float *x;
    int B, H, W;
} pg_ctx;

static void pg_fwd(void *c) {
    pg_ctx *p = c;
    patchgan_forward(p->d, p->out, p->x, p->B, p->H, p->W);
}

static void test_patchgan(void) {
    patchgan_config cfg = {3, 3, 2, 1};
    patchgan *d;
    CHECK(patchgan_create(&d, &cfg, "idex", 5, 1) == DF_OK, "create: %s", df_errmsg());
    const int B = 2, H = 16, W = 8;
    int OH, OW;
    patchgan_out_size(&cfg, H, W, &OH, &OW);
    CHECK(OH == 4 && OW == 2, "out size %dx%d", OH, OW);
    size_t nx = (size_t)B * 3 * H * W, no = (size_t)B * OH * OW;
    float *x = gc_buf(nx, 1), *out = gc_buf(no, 0), *w = gc_buf(no, 2), *dx = gc_buf(nx, 3);
    df_params *p = patchgan_params(d);
    CHECK(df_params_find(p, "idex.c1.w") >= 0 && df_params_find(p, "idex.c3.b") >= 0, "tensor names");
    for (size_t i = 0; i < p->total; i++) p->grad[i] = 0.25f; /* backward must accumulate */
    pg_ctx c = {d, out, x, B, H, W};
    pg_fwd(&c);
    CHECK(patchgan_backward(d, dx, w, 1) == DF_OK, "backward: %s", df_errmsg());
    gc_unfill(dx, nx, 3);
    for (size_t i = 0; i < p->total; i++) p->grad[i] -= 0.25f;
    gc_op op = {pg_fwd, &c, out, no, w};
    /* small steps: LeakyReLU kinks are rarely crossed */
    gc_check("patchgan dx", &op, x, nx, dx, 1e-3f, 2e-3);
    gc_check_step("patchgan params", &op, p->data, p->total, p->grad, 1e-3f, 2e-3, 3);
    /* param_grads = 0 leaves the parameter gradients alone */
    df_params_zero_grad(p);
    pg_fwd(&c);
    patchgan_backward(d, NULL, w, 0);
    double s = 0;
    for (size_t i = 0; i < p->total; i++) s += fabsf(p->grad[i]);
    CHECK(s == 0, "param_grads = 0 changed parameter gradients");
    CHECK(patchgan_forward(d, out, x, 1, 10, 8) != DF_OK, "10 rows are not a multiple of 4");
    free(x), free(out), free(w), free(dx);
    patchgan_free(d);
}

/* ------------------------------------------------------------------ transforms */
typedef struct {
    aug_op op;
    float *y, *ws;
    const float *x;
    int B;
} aug_ctx;

static void aug_fwd(void *c) {
    aug_ctx *a = c;
    aug_forward(&a->op, a->y, a->x, a->B, S, a->ws);
}

static void test_augment(void) {
    const int B = 2;
    size_t n = (size_t)B * 3 * S * S;
    float *x = malloc(n * 4), *attr = malloc(B * 5 * 4), *y = malloc(n * 4), *w = gc_buf(n, 7), *dx = gc_buf(n, 8);
    faces(x, attr, B, 3);
    for (size_t i = 0; i < n; i++) x[i] = x[i] * 0.6f + 0.05f * w[(i * 7) % n]; /* texture, off the clamp */
    aug_op ops[6] = {
        {AUG_DIVERSITY, 27, 3, 2, 0, 0, 0}, {AUG_RESIZE, 19, 0, 0, 0, 0, 0}, {AUG_BLUR, 0, 0, 0, 0.8f, 0, 0},
        {AUG_BLUR, 0, 0, 0, 1.7f, 0, 0},    {AUG_JPEG, 0, 0, 0, 0, 80, AUG_ROUND_NONE},
        {AUG_JPEG, 0, 0, 0, 0, 80, AUG_ROUND_CUBIC},
    };
    const char *names[6] = {"diversity", "resize", "blur", "blur wide", "jpeg unquantised", "jpeg80 cubic"};
    float *g_none = NULL;
    for (int k = 0; k < 6; k++) {
        CHECK(aug_check(&ops[k], S) == DF_OK, "%s: %s", names[k], df_errmsg());
        float *ws = malloc(aug_workspace(&ops[k], B, S) * 4);
        aug_ctx c = {ops[k], y, ws, x, B};
        aug_fwd(&c);
        float *g = gc_buf(n, 8);
        aug_backward(&ops[k], g, w, x, B, S, ws);
        gc_unfill(g, n, 8);
        if (ops[k].round_mode != AUG_ROUND_CUBIC) {
            /* linear (x stays off the clamp): <T x, w> == <x, T^T w> up to rounding, and finite differences */
            double lhs = dot(y, w, n), rhs = dot(x, g, n);
            CHECK(fabs(lhs - rhs) <= 1e-4 * (1 + fabs(lhs)), "%s adjoint: %g vs %g", names[k], lhs, rhs);
            gc_op op = {aug_fwd, &c, y, n, w};
            gc_check_step(names[k], &op, x, n, g, 1e-2f, 1e-2, 37);
            if (ops[k].kind == AUG_JPEG) {
                /* straight-through rounding: the gradient of the unquantised map */
                aug_op ste = ops[k];
                ste.round_mode = AUG_ROUND_STE;
                g_none = gc_buf(n, 0);
                memset(g_none, 0, n * 4);
                aug_backward(&ste, g_none, w, x, B, S, ws);
                CHECK(check_maxrel(g_none, g, n) < 1e-6, "STE gradient differs from the unquantised adjoint");
            }
        } else {
            /* piecewise smooth (the cubic rounding jumps at half-integers): most coordinates must agree with
             * small central differences */
            int bad = 0, tried = 0;
            const float h = 1e-4f;
            for (size_t i = 11; i < n; i += 97) {
                float keep = x[i];
                x[i] = keep + h;
                aug_fwd(&c);
                double lp = dot(y, w, n);
                x[i] = keep - h;
                aug_fwd(&c);
                double lm = dot(y, w, n);
                x[i] = keep;
                double fd = (lp - lm) / (2.0 * h);
                tried++;
                if (fabs(fd - g[i]) > 0.05 * (fabs(fd) + fabs(g[i])) + 0.03) {
                    bad++;
                    if (getenv("GC_VERBOSE")) fprintf(stderr, "  jpeg dx[%zu]: fd %g vs %g\n", i, fd, g[i]);
                }
            }
            CHECK(bad * 10 <= tried, "%s: %d of %d gradient entries disagree with finite differences", names[k], bad,
                  tried);
            /* the cubic derivative 3 (v - r)^2 <= 0.75 shrinks the straight-through gradient */
            CHECK(dot(g, g, n) < dot(g_none, g_none, n), "cubic gradient not smaller than STE");
        }
        free(g), free(ws);
    }
    free(g_none);
    /* jpeg at quality 100 is nearly the identity; diversity pads with 0 */
    aug_op q100 = {AUG_JPEG, 0, 0, 0, 0, 100, AUG_ROUND_STE};
    float *ws = malloc(aug_workspace(&q100, B, S) * 4);
    aug_forward(&q100, y, x, B, S, ws);
    double e = df_psnr(y, x, n);
    CHECK(e > 30, "jpeg q100: %g dB from the input", e); /* 4:2:0 chroma averaging remains at sharp edges */
    free(ws);
    /* the approximation vs a real JPEG codec (stb) at quality 85: close in PSNR */
    {
        uint8_t *rgb = malloc((size_t)S * S * 3), *buf = NULL;
        size_t len = 0;
        df_planar_to_rgb8(rgb, x, S, S, 3);
        df_rgb8_to_planar(x, rgb, S, S, 3); /* x exactly on the 8-bit grid */
        aug_op q85 = {AUG_JPEG, 0, 0, 0, 0, 85, AUG_ROUND_STE};
        ws = malloc(aug_workspace(&q85, 1, S) * 4);
        aug_forward(&q85, y, x, 1, S, ws);
        df_image img = {0};
        if (df_image_encode(rgb, S, S, DF_FMT_JPEG, 85, &buf, &len) == DF_OK &&
            df_image_decode(&img, buf, len) == DF_OK) {
            float *xr = malloc((size_t)3 * S * S * 4);
            df_rgb8_to_planar(xr, img.rgb, S, S, 3);
            double p_codec = df_psnr(xr, x, (size_t)3 * S * S), p_ours = df_psnr(y, xr, (size_t)3 * S * S);
            double p_approx = df_psnr(y, x, (size_t)3 * S * S);
            printf("jpeg q85: codec vs original %.1f dB, approx vs original %.1f dB, approx vs codec %.1f dB\n",
                   p_codec, p_approx, p_ours);
            /* 39 dB with nearest-neighbour chroma upsampling, 52 with the decoders' filter */
            CHECK(p_ours > 45 && fabs(p_approx - p_codec) < 1, "jpeg approximation far from the codec");
            free(xr);
            df_image_free(&img);
        } else {
            CHECK(0, "stb jpeg round trip: %s", df_errmsg());
        }
        free(buf), free(rgb), free(ws);
    }
    free(x), free(attr), free(y), free(w), free(dx);
}

/* ------------------------------------------------------------------ PGD */
static void test_pgd(void) {
    const int B = 2;
    size_t n = (size_t)B * 3 * S * S, per = n / B;
    float *x = malloc(n * 4), *src = malloc(B * 5 * 4), *trg = malloc(2 * B * 5 * 4), *xa = malloc(n * 4);
    float *xr = malloc(n * 4);
    faces(x, src, B, 9);
    for (int b = 0; b < B; b++) {
        zoo_edit_attrs(trg + b * 5, src + b * 5, ZOO_BLOND);
        zoo_edit_attrs(trg + (B + b) * 5, src + b * 5, ZOO_MALE);
    }
    pgd_ctx *c;
    CHECK(pgd_ctx_create(&c) == DF_OK, "ctx");
    pgd_model pm[3];
    for (int i = 0; i < 3; i++) pm[i] = (pgd_model){models[i], src, trg, 2, NULL, 1.0f, NULL};
    CHECK(pgd_set_models(c, pm, 3, B) == DF_OK, "set_models: %s", df_errmsg());
    pgd_opts o = pgd_default_opts();
    o.masked = 1;
    float l_pgd = 0, l_rand = 0, l0 = 0;
    CHECK(pgd_attack(c, xa, x, &o, &l_pgd) == DF_OK, "attack: %s", df_errmsg());
    double linf = 0;
    int inrange = 1;
    for (size_t k = 0; k < n; k++) {
        linf = fmax(linf, fabs(xa[k] - x[k]));
        inrange &= xa[k] >= -1 && xa[k] <= 1;
    }
    CHECK(linf <= o.eps + 1e-6 && inrange, "projection: linf %g, in range %d", linf, inrange);
    /* random start only (0 iterations) and the clean input */
    pgd_opts o0 = o;
    o0.iters = 0;
    CHECK(pgd_attack(c, xr, x, &o0, &l_rand) == DF_OK, "attack 0 iters");
    CHECK(pgd_set_clean(c, x, &o) == DF_OK && pgd_forward(c, &l0, NULL, x, 0, 0) == DF_OK, "forward");
    printf("pgd: loss clean %.3g, random start %.3g, 10 iterations %.3g\n", l0, l_rand, l_pgd);
    CHECK(l0 < 1e-10, "loss at the clean input is %g", l0);
    CHECK(l_pgd > 3 * l_rand && l_pgd > 0, "PGD did not raise the loss: %g vs random %g", l_pgd, l_rand);
    /* momentum and feature term run and stay in budget */
    pgd_opts om = o;
    om.momentum = 0.9f, om.feat_weight = 0.5f, om.iters = 3;
    CHECK(pgd_attack(c, xa, x, &om, &l_pgd) == DF_OK && l_pgd > l_rand, "momentum attack: %g", l_pgd);
    for (size_t k = 0; k < n; k++) linf = fmax(linf, fabs(xa[k] - x[k]));
    CHECK(linf <= o.eps + 1e-6, "momentum projection %g", linf);

    /* through JPEG: an attack made through the differentiable JPEG disrupts more after that JPEG than a plain one
     * (both measured here at J(x_adv) against the models' edits of J(x)) */
    {
        pgd_opts oj = o;
        oj.jpeg = 50;
        float *xj = malloc(n * 4), *jx = malloc(n * 4), *jadv = malloc(n * 4), l_final = 0, l_through = 0, l_plain = 0;
        CHECK(pgd_attack(c, xa, x, &o, NULL) == DF_OK && pgd_attack(c, xj, x, &oj, &l_final) == DF_OK, "attacks: %s",
              df_errmsg());
        aug_op q = {AUG_JPEG, 0, 0, 0, 0, 50, AUG_ROUND_STE};
        float *ws = malloc(aug_workspace(&q, B, S) * 4);
        aug_forward(&q, jx, x, B, S, ws);
        CHECK(pgd_set_clean(c, jx, &o) == DF_OK, "clean");
        aug_forward(&q, jadv, xj, B, S, ws);
        CHECK(pgd_forward(c, &l_through, NULL, jadv, 0, 0) == DF_OK, "forward");
        aug_forward(&q, jadv, xa, B, S, ws);
        CHECK(pgd_forward(c, &l_plain, NULL, jadv, 0, 0) == DF_OK, "forward");
        printf("pgd after JPEG 50: plain attack %.3g, attack through JPEG %.3g\n", l_plain, l_through);
        CHECK(l_through > 1.5 * l_plain, "attacking through JPEG did not help after JPEG: %g vs %g", l_through, l_plain);
        double lj = 0;
        for (size_t k = 0; k < n; k++) lj = fmax(lj, fabs(xj[k] - x[k]));
        CHECK(lj <= o.eps + 1e-6, "JPEG attack projection %g", lj);
        /* exactly: one step from the random start x0 goes along sign(J'(x0)^T g), g the models' gradient at J(x0)
         * against the edits of J(x) (plain sum), computed here with augment.h and pgd_grad directly */
        pgd_opts o1 = oj;
        o1.balance = 0, o1.iters = 0;
        float *x0 = malloc(n * 4), *gj = calloc(n, 4), *gx = calloc(n, 4);
        CHECK(pgd_attack(c, x0, x, &o1, NULL) == DF_OK, "random start");
        o1.iters = 1;
        CHECK(pgd_attack(c, xj, x, &o1, NULL) == DF_OK, "one step");
        df_rng r0;
        df_rng_seed(&r0, 1);
        aug_forward(&q, jadv, x0, B, S, ws);
        CHECK(pgd_set_clean(c, jx, &o1) == DF_OK && pgd_grad(c, NULL, gj, jadv, 0, 1.0f, &o1, &r0) == DF_OK, "grad");
        aug_backward(&q, gx, gj, x0, B, S, ws);
        size_t checked = 0, wrong = 0, differs = 0;
        for (size_t k = 0; k < n; k++) {
            float want = x0[k] + (gx[k] > 0 ? o1.step : -o1.step);
            if (fabsf(gx[k]) < 1e-6f || fabsf(want) > 1 || fabsf(want - x[k]) > o1.eps) continue;
            checked++;
            wrong += fabsf(xj[k] - want) > 1e-6f;
            differs += (gx[k] > 0) != (gj[k] > 0); /* the identity (BPDA) step would differ here */
        }
        printf("PGD step through JPEG 50: %zu of %zu checked, %zu wrong; an identity backward differs in %zu\n", checked,
               n, wrong, differs);
        CHECK(checked > n / 2 && wrong == 0, "step through JPEG: %zu of %zu wrong", wrong, checked);
        CHECK(differs > 0, "the JPEG backward changed no sign");
        free(x0), free(gj), free(gx);
        oj.jpeg = 101;
        CHECK(pgd_attack(c, xj, x, &oj, NULL) == DF_ERR_ARG, "quality 101 refused");
        free(xj), free(jx), free(jadv), free(ws);
    }

    /* balanced step: one iteration from the random start x0 steps along sign(sum_i g_i / mean|g_i|), g_i each
     * model's gradient at x0 computed alone in its own context; the plain sum's signs differ somewhere (the option
     * changes the step) */
    {
        pgd_opts ob = o;
        ob.iters = 0, ob.balance = 1;
        CHECK(pgd_attack(c, xr, x, &ob, NULL) == DF_OK, "random start: %s", df_errmsg());
        ob.iters = 1;
        CHECK(pgd_attack(c, xa, x, &ob, NULL) == DF_OK, "balanced attack: %s", df_errmsg());
        float *gs = calloc(n, 4), *gi = malloc(n * 4), *gp = calloc(n, 4);
        for (int i = 0; i < 3; i++) {
            pgd_ctx *ci;
            df_rng r0;
            df_rng_seed(&r0, 1);
            memset(gi, 0, n * 4);
            CHECK(pgd_ctx_create(&ci) == DF_OK && pgd_set_models(ci, &pm[i], 1, B) == DF_OK &&
                      pgd_set_clean(ci, x, &ob) == DF_OK && pgd_grad(ci, NULL, gi, xr, 0, 1.0f, &ob, &r0) == DF_OK,
                  "model %d alone: %s", i, df_errmsg());
            pgd_ctx_free(ci);
            for (int b = 0; b < B; b++) {
                double l1 = 0;
                for (size_t k = 0; k < per; k++) l1 += fabs(gi[b * per + k]);
                CHECK(l1 > 0, "model %d image %d has a zero gradient", i, b);
                for (size_t k = 0; k < per; k++) {
                    gs[b * per + k] += (float)(gi[b * per + k] * per / l1);
                    gp[b * per + k] += gi[b * per + k];
                }
            }
        }
        size_t checked = 0, wrong = 0, differs = 0;
        for (size_t k = 0; k < n; k++) {
            float want = xr[k] + (gs[k] > 0 ? ob.step : -ob.step);
            if (fabsf(gs[k]) < 1e-3f || fabsf(want) > 1 || fabsf(want - x[k]) > ob.eps) continue; /* ties, clips */
            checked++;
            wrong += fabsf(xa[k] - want) > 1e-6f;
            differs += (gs[k] > 0) != (gp[k] > 0);
        }
        printf("balanced PGD step: %zu of %zu elements checked, %zu wrong; plain sum differs in %zu\n", checked, n,
               wrong, differs);
        CHECK(checked > n / 2 && wrong == 0, "balanced step: %zu of %zu wrong", wrong, checked);
        CHECK(differs > 0, "balancing changed no sign");
        free(gs), free(gi), free(gp);
    }

    /* universal: one delta for both images; the loss grows over batches, |delta| <= eps */
    float *delta = calloc(per, 4), *vel = calloc(per, 4);
    df_rng r;
    df_rng_seed(&r, 3);
    pgd_opts ou = o;
    ou.iters = 2;
    float first = 0, last = 0;
    for (int it = 0; it < 6; it++) {
        float l;
        CHECK(pgd_universal_step(c, delta, vel, x, &ou, it * 2, &r, &l) == DF_OK, "universal: %s", df_errmsg());
        if (it == 0) first = l;
        last = l;
    }
    double dm = 0;
    for (size_t k = 0; k < per; k++) dm = fmax(dm, fabs(delta[k]));
    printf("universal: loss %.3g -> %.3g, max |delta| %.3g\n", first, last, dm);
    CHECK(last > 2 * first && dm <= o.eps + 1e-7, "universal loss %g -> %g, |delta| %g", first, last, dm);
    free(delta), free(vel);

    /* pgd_disruption_loss by hand: uniform weights = MSE; a zero weight map gives 0 */
    {
        float y[2 * 3 * 4] = {0}, yc[2 * 3 * 4] = {0}, wm[2 * 4] = {0}, dy[2 * 3 * 4] = {0}, lb[2];
        y[0] = 1, y[5] = -2, y[12] = 0.5f;
        float m = pgd_disruption_loss(dy, lb, y, yc, NULL, 2, 2, 2, 1.0f);
        CHECK_NEAR(lb[0], (1 + 4) / 12.0, 1e-6, "loss_b[0]");
        CHECK_NEAR(lb[1], 0.25 / 12.0, 1e-6, "loss_b[1]");
        CHECK_NEAR(m, (lb[0] + lb[1]) / 2, 1e-7, "mean");
        CHECK_NEAR(dy[5], 2 * -2 / 12.0 / 2, 1e-6, "dy");
        wm[1] = 1; /* only pixel 1 of image 0 counts: (y[1], y[5], y[9]) */
        float m2 = pgd_disruption_loss(NULL, lb, y, yc, wm, 2, 2, 2, 1.0f);
        CHECK_NEAR(lb[0], 4 / 3.0, 1e-6, "masked loss_b[0]");
        CHECK(lb[1] == 0 && fabsf(m2 - 2 / 3.0f) < 1e-6, "empty mask gives 0");
    }
    pgd_ctx_free(c);
    free(x), free(src), free(trg), free(xa), free(xr);
}

static void test_nes(void) {
    const int B = 1;
    size_t n = (size_t)3 * S * S;
    float *x = malloc(n * 4), *src = malloc(5 * 4), *trg = malloc(5 * 4), *gw = calloc(n, 4), *gb = calloc(n, 4);
    faces(x, src, B, 21);
    zoo_edit_attrs(trg, src, ZOO_BLOND);
    pgd_ctx *c;
    pgd_ctx_create(&c);
    pgd_model pm = {models[0], src, trg, 1, NULL, 1.0f, NULL};
    pgd_set_models(c, &pm, 1, B);
    pgd_opts o = pgd_default_opts();
    float *xa = malloc(n * 4);
    df_rng r;
    df_rng_seed(&r, 4);
    for (size_t k = 0; k < n; k++) xa[k] = x[k] + 0.05f * (2 * df_rng_uniform(&r) - 1);
    CHECK(pgd_set_clean(c, x, &o) == DF_OK, "clean");
    CHECK(pgd_grad(c, NULL, gw, xa, 0, 1.0f, &o, &r) == DF_OK, "white-box grad: %s", df_errmsg());
    o.blackbox = 1, o.nes_samples = 1000, o.nes_sigma = 0.005f, o.nes_down = 2;
    CHECK(pgd_grad(c, NULL, gb, xa, 0, 1.0f, &o, &r) == DF_OK, "NES grad: %s", df_errmsg());
    double cs = dot(gw, gb, n) / sqrt(dot(gw, gw, n) * dot(gb, gb, n) + 1e-30);
    /* the same with full-resolution directions */
    float *gf = calloc(n, 4);
    o.nes_down = 1, o.nes_samples = 2500;
    CHECK(pgd_grad(c, NULL, gf, xa, 0, 1.0f, &o, &r) == DF_OK, "NES full res");
    double cf = dot(gw, gf, n) / sqrt(dot(gw, gw, n) * dot(gf, gf, n) + 1e-30);
    printf("NES vs true gradient: cosine %.3f (directions at S/2, 1000 pairs), %.3f (full res, 2500 pairs)\n", cs, cf);
    /* expected ~ sqrt(n / (n + d)): 0.67 for d = 3072 at full resolution; at S/2 the estimate only sees the
     * gradient's low-frequency part (this random model's gradient is mostly high-frequency) */
    CHECK(cf > 0.5, "NES full-resolution cosine %g", cf);
    CHECK(cs > 0.2, "NES cosine at S/2 %g", cs);
    /* scale: NES estimates the magnitude too (projection onto the sampled subspace keeps it below) */
    double ratio = dot(gw, gf, n) / dot(gw, gw, n);
    CHECK(ratio > 0.5 && ratio < 1.5, "NES magnitude ratio %g", ratio);
    pgd_ctx_free(c);
    free(x), free(src), free(trg), free(gw), free(gb), free(gf), free(xa);
}

/* ------------------------------------------------------------------ trainer */
static prot_opts tiny_opts(int recipe) {
    prot_opts o = prot_default_opts(recipe);
    o.gen_width = 4;
    o.d_width = 4;
    o.d_layers = 3;
    o.pgd_iters = 2;
    o.aug_start = o.aug_ramp = 0; /* transforms from the first step */
    return o;
}

static void test_hinge_and_budget(void) {
    const int B = 2;
    size_t n = (size_t)B * 3 * S * S, per = n / B;
    float *x = malloc(n * 4), *src = malloc(B * 5 * 4), *delta = malloc(n * 4), *xa = malloc(n * 4);
    faces(x, src, B, 5);
    prot_opts o = tiny_opts(PROT_PAPER);
    o.out_scale = 0.5f; /* Gen's raw delta exceeds eps: the hinge is active */
    o.idex = o.idey = 0;
    o.lr_g = 1e-3f;
    prot_trainer *t;
    CHECK(prot_create(&t, &o, models, 3, B, 1) == DF_OK, "create: %s", df_errmsg());
    /* scale up the output layer so that |delta| reaches well beyond eps */
    df_params *gp = gen_params(prot_gen(t));
    int wi = df_params_find(gp, "out.w");
    for (size_t k = 0; k < gp->info[wi].count; k++) df_params_get(gp, wi)[k] *= 4;
    CHECK(gen_forward(prot_gen(t), delta, x, B, S, S) == DF_OK, "gen forward");
    double hand = 0;
    for (int b = 0; b < B; b++) {
        double m = 0;
        for (size_t k = 0; k < per; k++) m = fmax(m, fabs(delta[b * per + k]));
        hand += fmax(0, m - o.eps) / B;
    }
    prot_losses L0, L;
    CHECK(prot_step(t, x, src, &L0) == DF_OK, "step: %s", df_errmsg());
    CHECK_NEAR(L0.hinge, hand, 1e-5, "hinge vs hand computation");
    CHECK(hand > 0.05, "test setup: hinge should be active (%g)", hand);
    CHECK_NEAR(L0.total, o.mu * hand, 1e-5, "total = mu * hinge without discriminators");
    for (int k = 0; k < 30; k++) prot_step(t, x, src, &L);
    printf("hinge only: %.4f -> %.4f (linf %.3f -> %.3f)\n", L0.hinge, L.hinge, L0.linf, L.linf);
    CHECK(L.hinge < 0.7 * L0.hinge, "hinge did not decrease: %g -> %g", L0.hinge, L.hinge);
    /* the eps guarantee at inference, whatever Gen outputs */
    prot_val v;
    CHECK(prot_validate(t, x, src, B, 9, &v, xa, NULL, NULL) == DF_OK, "validate: %s", df_errmsg());
    double linf = 0;
    for (size_t k = 0; k < n; k++) linf = fmax(linf, fabs(xa[k] - x[k]));
    CHECK(linf <= o.eps + 1e-6, "validated x_adv exceeds eps: %g", linf);
    float *xp = malloc(per * 4);
    CHECK(gen_protect(prot_gen(t), xp, x, S, S, o.eps) == DF_OK, "gen_protect");
    linf = 0;
    for (size_t k = 0; k < per; k++) linf = fmax(linf, fabs(xp[k] - x[k]));
    CHECK(linf <= o.eps + 1e-6, "gen_protect exceeds eps: %g", linf);
    free(xp);
    prot_free(t);
    free(x), free(src), free(delta), free(xa);
}

/* Mean of the first and last five steps' losses of k steps on synthetic batches. */
typedef struct {
    prot_losses first, last;
} trend;

static void add_scaled(prot_losses *a, const prot_losses *b, float s) {
    float *pa = (float *)a;
    const float *pb = (const float *)b;
    for (size_t i = 0; i < sizeof *a / sizeof(float); i++) pa[i] += s * pb[i];
}

static trend train(prot_trainer *t, int steps, int B) {
    size_t n = (size_t)B * 3 * S * S;
    float *x = malloc(n * 4), *src = malloc(B * 5 * 4);
    trend r;
    memset(&r, 0, sizeof r);
    for (int s = 0; s < steps; s++) {
        faces(x, src, B, 1000 + s % 8);
        prot_losses L;
        CHECK(prot_step(t, x, src, &L) == DF_OK, "step %d: %s", s, df_errmsg());
        CHECK(isfinite(L.total), "loss not finite at step %d", s);
        if (s < 5) add_scaled(&r.first, &L, 0.2f);
        if (s >= steps - 5) add_scaled(&r.last, &L, 0.2f);
    }
    free(x), free(src);
    return r;
}

/* Gen's output layer times k: a visible initial perturbation */
static void boost_gen(prot_trainer *t, float k) {
    df_params *gp = gen_params(prot_gen(t));
    int wi = df_params_find(gp, "out.w");
    for (size_t j = 0; j < gp->info[wi].count; j++) df_params_get(gp, wi)[j] *= k;
}

static prot_trainer *trainer_with_universal(const prot_opts *o, int B, float boost) {
    size_t n = (size_t)B * 3 * S * S;
    float *x = malloc(n * 4), *src = malloc(B * 5 * 4);
    prot_trainer *t;
    CHECK(prot_create(&t, o, models, 3, B, 7) == DF_OK, "create: %s", df_errmsg());
    boost_gen(t, boost);
    float lu0 = 0, lu1 = 0;
    for (int it = 0; it < 4; it++)
        for (int i = 0; i < 3; i++) {
            faces(x, src, B, 100 + it);
            float l;
            CHECK(prot_universal_update(t, i, x, src, it, &l) == DF_OK, "universal: %s", df_errmsg());
            if (it == 0) lu0 += l;
            if (it == 3) lu1 += l;
        }
    CHECK(lu1 > lu0, "universal loss did not grow: %g -> %g", lu0, lu1);
    free(x), free(src);
    return t;
}

static void test_training_run(void) {
    const int B = 4;
    size_t n = (size_t)B * 3 * S * S;
    float *xv = malloc(n * 4), *sv = malloc(B * 5 * 4);
    faces(xv, sv, B, 1234);
    /* paper: each side of the game improves its own losses while the other is frozen */
    prot_opts o = tiny_opts(PROT_PAPER);
    o.lr_g = 0, o.lr_d = 3e-3f;
    prot_trainer *t = trainer_with_universal(&o, B, 5);
    trend r = train(t, 30, B);
    printf("paper, Gen frozen: D_x %.3f -> %.3f, D_y %.3f -> %.3f\n", r.first.d_idex, r.last.d_idex, r.first.d_idey,
           r.last.d_idey);
    /* (Gen's initial perturbation is faint: Ide_x has little to see, Ide_y more) */
    CHECK(r.last.d_idex < 0.98 * r.first.d_idex && r.last.d_idey < 0.9 * r.first.d_idey,
          "discriminator losses did not fall");
    prot_free(t);
    o.lr_g = 1e-2f, o.lr_d = 0;
    t = trainer_with_universal(&o, B, 5);
    r = train(t, 30, B);
    printf("paper, discriminators frozen: G_x %.3f -> %.3f, G_y %.3f -> %.3f\n", r.first.g_idex, r.last.g_idex,
           r.first.g_idey, r.last.g_idey);
    /* Ide_x sees x_adv directly; Ide_y only through the zoo models, which move little within eps */
    CHECK(r.last.g_idex < 0.95 * r.first.g_idex && r.last.g_idey < r.first.g_idey, "Gen's losses did not fall");
    prot_free(t);

    /* ours, the whole game: the direct disruption grows, on training and on held-out faces */
    o = tiny_opts(PROT_OURS);
    o.lr_g = 2e-3f, o.lr_d = 1e-3f;
    t = trainer_with_universal(&o, B, 1);
    prot_val v0, v1;
    CHECK(prot_validate(t, xv, sv, B, 5, &v0, NULL, NULL, NULL) == DF_OK, "validate");
    r = train(t, 40, B);
    CHECK(prot_validate(t, xv, sv, B, 5, &v1, NULL, NULL, NULL) == DF_OK, "validate");
    double m0 = 0, m1 = 0;
    for (int i = 0; i < 3; i++) m0 += v0.l2_mask[i] / 3, m1 += v1.l2_mask[i] / 3;
    printf("ours: direct %.4f -> %.4f, energy %.3f -> %.3f; validation l2_mask %.4f -> %.4f, psnr %.1f -> %.1f\n",
           r.first.direct, r.last.direct, r.first.energy, r.last.energy, m0, m1, v0.psnr, v1.psnr);
    CHECK(r.last.direct > 2 * r.first.direct, "direct disruption did not grow");
    CHECK(m1 > 1.5 * m0, "validation disruption did not grow: %g -> %g", m0, m1);
    CHECK(v1.psnr > 30, "psnr %g", v1.psnr);
    prot_free(t);
    free(xv), free(sv);
}

/* Gen's objective (clip, transforms, zoo models, discriminators, hinge, energy, capped direct and feature
 * terms, eps schedule) against finite differences on Gen's parameters, one term at a time (so that a small
 * term's error is not drowned by the others) and all together: per tensor (every other one), the entry with
 * the largest gradient if that is >= 2% of the largest of all, at steps 1e-3 / 3e-4 / 1e-4 (one must agree
 * within 5%); 90% of them must pass. */
static void test_objective_gradient(void) {
    const int B = 2;
    size_t n = (size_t)B * 3 * S * S;
    float *x = malloc(n * 4), *src = malloc(B * 5 * 4);
    faces(x, src, B, 31);
    const char *names[] = {"Ide_x",  "Ide_y",      "direct",      "feature",     "energy",
                           "hinge",  "all (ours)", "all (paper)", "direct (log)", "direct through the attacker's crops",
                           "direct through the photo path (upsampled, then cropped)",
                           "direct through the photo path, bicubic upsampling",
                           "direct with an imported model at its own side (photo path, crops onto 40 x 40)",
                           "direct with an imported model, a random 24 x 24 window of its 40 x 40 view"};
    graph_model *gm = NULL; /* tanh as a stand-in deepfake, taking 40 x 40 (the crops are resampled onto it) */
    CHECK(tiny_graph(&gm, 40, 0, 3) == DF_OK, "tiny graph: %s", df_errmsg());
    for (int variant = 0; variant < 14; variant++) {
        prot_opts o = tiny_opts(variant == 5 || variant == 7 ? PROT_PAPER : PROT_OURS);
        int only = variant < 6 || variant >= 8;
        if (o.recipe == PROT_OURS) {
            o.p_diversity = o.p_resize = o.p_blur = 1.0f, o.p_jpeg = 0; /* linear transforms: exact gradients */
            o.w_feat = 0.3f, o.psnr_target = 60, o.w_energy = 0.5f, o.direct_cap = 0.02f;
            o.eps_start = 0.07f, o.eps_ramp = 10;
        } else {
            o.out_scale = 0.3f; /* the hinge is active */
        }
        if (only) {
            o.idex = variant == 0, o.idey = variant == 1;
            o.w_direct = variant == 2 ? 10.0f : 0, o.w_feat = variant == 3 ? 1.0f : 0;
            o.w_energy = variant == 4 ? 1.0f : 0, o.mu = variant == 5 ? 0.5f : 0;
            if (variant == 8) o.w_direct = 1.0f, o.direct_log = 1;
            if (variant >= 9) { /* EOT: a fresh crop per image (shift, scale, rotation, any kernel) after the transforms */
                o.w_direct = 10.0f, o.p_warp = 1.0f, o.aug_start = 0, o.aug_ramp = 0;
            }
            if (variant >= 10) o.p_photo = 1.0f, o.photo_up = 2.5f; /* ... from a frame upsampled by 1..2.5 */
            if (variant == 11) o.photo_kernel = RS_BICUBIC_AA;    /* ... as gen_faces.h delivers the delta */
            if (variant == 12) o.w_graph = 3.0f;
            if (variant == 13) o.w_graph = 3.0f, o.graph_window = 24, o.p_photo = 0;
        }
        int ng = variant >= 12;
        prot_trainer *t;
        CHECK(prot_create_targets(&t, &o, models, 3, &gm, ng, B, 5) == DF_OK, "create: %s", df_errmsg());
        boost_gen(t, 6);
        for (int i = 0; i < 3; i++) prot_universal_update(t, i, x, src, 0, NULL);
        prot_losses L;
        CHECK(prot_gen_objective(t, x, src, 2, &L) == DF_OK, "objective: %s", df_errmsg());
        float active[14] = {L.g_idex, L.g_idey, L.direct, L.feat, L.energy, L.hinge, 1, 1, L.direct, L.direct, L.direct,
                            L.direct, L.direct, L.direct};
        if (only) CHECK(active[variant] > 0, "%s: term inactive", names[variant]);
        if (variant >= 9) { /* the crops (the upsampling) change what the models see: without them it differs */
            prot_opts o2 = o;
            if (variant == 9) o2.p_warp = 0;
            else if (variant == 10) o2.p_photo = 0;
            else if (variant == 11) o2.photo_kernel = RS_BILINEAR; /* the kernel is used: bicubic and bilinear differ */
            else if (variant == 13) o2.graph_window = 0; /* the whole view gives another loss */
            /* else: without the imported model (its disruption enters the mean) */
            prot_trainer *t2;
            prot_losses L2;
            CHECK(prot_create_targets(&t2, &o2, models, 3, &gm, variant == 13, B, 5) == DF_OK, "create: %s",
                  df_errmsg());
            boost_gen(t2, 6);
            CHECK(prot_gen_objective(t2, x, src, 2, &L2) == DF_OK, "objective: %s", df_errmsg());
            CHECK(fabsf(L2.direct - L.direct) > 1e-3f * L.direct, "%s: on and off give the same direct loss %g",
                  names[variant], L.direct);
            prot_free(t2);
        }
        df_params *p = gen_params(prot_gen(t));
        float *g = malloc(p->total * 4);
        memcpy(g, p->grad, p->total * 4);
        int bad = 0, tried = 0;
        float gmax = 0;
        for (size_t j = 0; j < p->total; j++) gmax = fmaxf(gmax, fabsf(g[j]));
        for (int k = variant % 2; k < p->n; k += 2) {
            size_t i = p->info[k].offset;
            for (size_t j = i; j < p->info[k].offset + p->info[k].count; j++)
                if (fabsf(g[j]) > fabsf(g[i])) i = j;
            if (fabsf(g[i]) < 0.02f * gmax) continue; /* below the loss's float resolution */
            float keep = p->data[i];
            double fd = 0;
            int ok = 0;
            for (double h = 1e-3; h > 5e-5 && !ok; h *= 0.3) {
                prot_losses lp, lm;
                p->data[i] = keep + (float)h;
                prot_gen_objective(t, x, src, 2, &lp);
                p->data[i] = keep - (float)h;
                prot_gen_objective(t, x, src, 2, &lm);
                p->data[i] = keep;
                fd = ((double)lp.total - lm.total) / (2 * h);
                ok = fabs(fd - g[i]) <= 0.05 * fmax(fabs(fd), fabs(g[i])) + 1e-5;
            }
            tried++;
            if (!ok) {
                bad++;
                fprintf(stderr, "  objective %s d%s: fd %.6g vs backward %.6g\n", names[variant], p->info[k].name, fd,
                        g[i]);
            }
        }
        CHECK(tried >= 6 && bad * 10 <= tried, "%s: %d of %d Gen tensors disagree with finite differences",
              names[variant], bad, tried);
        free(g);
        prot_free(t);
    }
    /* imported targets need the attacker's crops (recipe ours, p_warp > 0), white box, one side */
    prot_opts o = tiny_opts(PROT_OURS);
    o.w_direct = 1.0f;
    prot_trainer *t = NULL;
    CHECK(prot_create_targets(&t, &o, models, 3, &gm, 1, B, 5) != DF_OK && !t, "an imported model without crops is refused");
    o.p_warp = 1.0f, o.blackbox = 1;
    CHECK(prot_create_targets(&t, &o, models, 3, &gm, 1, B, 5) != DF_OK, "an imported model in black box is refused");
    o.blackbox = 0;
    CHECK(prot_create_targets(&t, &o, NULL, 0, &gm, 1, B, 5) != DF_OK, "imported models alone are refused");
    graph_model *g2 = NULL, *gs[2];
    CHECK(tiny_graph(&g2, 48, 0, 3) == DF_OK, "tiny graph: %s", df_errmsg());
    gs[0] = gm, gs[1] = g2;
    CHECK(prot_create_targets(&t, &o, models, 3, gs, 2, B, 5) != DF_OK, "two sides are refused");
    graph_free(g2);
    CHECK(tiny_graph(&g2, 40, 1, 1) == DF_OK, "tiny graph: %s", df_errmsg());
    gs[1] = g2;
    CHECK(prot_create_targets(&t, &o, models, 3, gs, 2, B, 5) != DF_OK, "a one-channel output is refused");
    graph_free(g2);
    o.graph_window = 41;
    CHECK(prot_create_targets(&t, &o, models, 3, &gm, 1, B, 5) != DF_OK, "a window beyond the view is refused");
    o.graph_window = 24;
    CHECK(prot_create_targets(&t, &o, models, 3, &gm, 1, B, 5) == DF_OK, "create: %s", df_errmsg());
    prot_val v;
    CHECK(prot_validate(t, x, src, B, 5, &v, NULL, NULL, NULL) == DF_OK, "validate: %s", df_errmsg());
    CHECK(v.psnr > 20 && v.l2_mask[3] > 0, "validation reports the imported model (L2_mask %g)", v.l2_mask[3]);
    prot_free(t);
    graph_free(gm);
    free(x), free(src);
}

/* Train k steps from the trainer's current state on deterministic batches. */
static void run_steps(prot_trainer *t, int k) {
    const int B = 2;
    float x[B * 3 * S * S], src[B * 5];
    for (int s = 0; s < k; s++) {
        faces(x, src, B, 500 + (unsigned)prot_get_step(t));
        CHECK(prot_step(t, x, src, NULL) == DF_OK, "step: %s", df_errmsg());
    }
}

static int same_params(const df_params *a, const df_params *b) {
    return a->total == b->total && !memcmp(a->data, b->data, a->total * 4) && !memcmp(a->m, b->m, a->total * 4) &&
           !memcmp(a->v, b->v, a->total * 4);
}

static void test_resume(void) {
    const int B = 2;
    for (int variant = 0; variant < 3; variant++) {
        prot_opts o = tiny_opts(variant ? PROT_OURS : PROT_PAPER);
        if (variant == 1) o.universal = 0, o.w_feat = 0.1f, o.eps_start = 0.08f, o.eps_ramp = 3; /* per-image PGD */
        if (variant) o.gen_chroma = variant; /* grey Gen, half-resolution colour */
        if (variant == 2) o.blackbox = 1, o.nes_samples = 2;
        o.p_diversity = o.p_resize = o.p_blur = o.p_jpeg = variant ? 0.5f : 0.0f;
        prot_trainer *a, *b;
        CHECK(prot_create(&a, &o, models, 3, B, 99) == DF_OK, "create: %s", df_errmsg());
        float x[B * 3 * S * S], src[B * 5];
        faces(x, src, B, 77);
        for (int i = 0; i < 3; i++) prot_universal_update(a, i, x, src, 0, NULL);
        run_steps(a, 2);
        uint8_t *buf;
        size_t len;
        CHECK(prot_save(a, &buf, &len) == DF_OK, "save: %s", df_errmsg());
        run_steps(a, 3);
        CHECK(prot_create(&b, &o, models, 3, B, 99) == DF_OK, "create b");
        CHECK(prot_resume(b, buf, len) == DF_OK, "resume: %s", df_errmsg());
        CHECK(prot_get_step(b) == 2, "resumed step %ld", prot_get_step(b));
        run_steps(b, 3);
        CHECK(same_params(gen_params(prot_gen(a)), gen_params(prot_gen(b))), "variant %d: Gen differs after resume",
              variant);
        CHECK(same_params(patchgan_params(prot_idex(a)), patchgan_params(prot_idex(b))), "variant %d: Ide_x differs",
              variant);
        CHECK(same_params(patchgan_params(prot_idey(a)), patchgan_params(prot_idey(b))), "variant %d: Ide_y differs",
              variant);
        /* and the run did change the weights (the comparison is not vacuous) */
        prot_trainer *c;
        prot_create(&c, &o, models, 3, B, 99);
        CHECK(!same_params(gen_params(prot_gen(a)), gen_params(prot_gen(c))), "training changed nothing");
        /* the checkpoint is also a Gen weight file */
        gen_model *g;
        CHECK(gen_load(&g, buf, len, 0) == DF_OK, "gen_load of a checkpoint: %s", df_errmsg());
        if (g) {
            CHECK(gen_get_config(g)->chroma == o.gen_chroma, "variant %d: chroma %d in the checkpoint's Gen", variant,
                  gen_get_config(g)->chroma);
            float d[3 * S * S];
            CHECK(gen_forward(g, d, x, 1, S, S) == DF_OK, "forward");
            double spread = 0;
            for (int k = 0; k < S * S; k++) spread = fmax(spread, fabs(d[k] - d[S * S + k]) + fabs(d[k] - d[2 * S * S + k]));
            CHECK(o.gen_chroma == GEN_CHROMA_NONE ? spread < 1e-6 : spread > 1e-6,
                  "variant %d: channel spread %g with chroma %d", variant, spread, o.gen_chroma);
        }
        gen_free(g);
        /* options round trip; a checkpoint from other options is refused by shape or count */
        dfw_file f;
        prot_opts o2 = prot_default_opts(PROT_PAPER);
        CHECK(dfw_parse(&f, buf, len) == DF_OK && prot_opts_read(&f, &o2) == DF_OK, "opts read");
        CHECK(!memcmp(&o2, &o, sizeof o), "variant %d: options did not round-trip", variant);
        uint64_t seed = 0;
        CHECK(prot_checkpoint_seed(&f, &seed) == DF_OK && seed == 99, "seed %llu", (unsigned long long)seed);
        dfw_free(&f);
        prot_opts ow = o;
        ow.gen_width = 5;
        prot_trainer *d;
        prot_create(&d, &ow, models, 3, B, 99);
        CHECK(prot_resume(d, buf, len) != DF_OK, "a checkpoint of another width must be refused");
        prot_free(d);
        CHECK(prot_create(&d, &o, models, 2, B, 99) == DF_OK && prot_resume(d, buf, len) != DF_OK,
              "a checkpoint with another model count must be refused");
        prot_free(d);
        free(buf);
        prot_free(a), prot_free(b), prot_free(c);
    }
    /* a new run from trained weights: same Gen (and discriminators from a checkpoint), step 0, fresh moments */
    {
        prot_opts o = tiny_opts(PROT_OURS);
        prot_trainer *a, *b, *c;
        CHECK(prot_create(&a, &o, models, 3, B, 4) == DF_OK, "create");
        float x[B * 3 * S * S], src[B * 5];
        faces(x, src, B, 78);
        for (int i = 0; i < 3; i++) prot_universal_update(a, i, x, src, 0, NULL);
        run_steps(a, 2);
        uint8_t *ck, *wb;
        size_t lk, lw;
        dfw_writer w;
        dfw_writer_init(&w);
        CHECK(prot_save(a, &ck, &lk) == DF_OK && prot_write_weights(a, &w) == DF_OK &&
                  dfw_writer_finish(&w, &wb, &lw) == DF_OK, "save");
        dfw_writer_free(&w);
        o.w_direct = 3; /* other options */
        CHECK(prot_create(&b, &o, models, 3, B, 8) == DF_OK && prot_init_from(b, ck, lk) == DF_OK, "init from ckpt");
        CHECK(prot_create(&c, &o, models, 3, B, 8) == DF_OK && prot_init_from(c, wb, lw) == DF_OK, "init from weights");
        df_params *pa = gen_params(prot_gen(a)), *pb = gen_params(prot_gen(b)), *pc = gen_params(prot_gen(c));
        CHECK(!memcmp(pa->data, pb->data, pa->total * 4) && !memcmp(pa->data, pc->data, pa->total * 4), "Gen differs");
        df_params *da = patchgan_params(prot_idey(a)), *db = patchgan_params(prot_idey(b));
        CHECK(!memcmp(da->data, db->data, da->total * 4), "Ide_y not taken from the checkpoint");
        CHECK(memcmp(da->data, patchgan_params(prot_idey(c))->data, da->total * 4), "Ide_y taken from plain weights?");
        double msum = 0;
        for (size_t k = 0; k < pb->total; k++) msum += fabsf(pb->m[k]) + fabsf(pb->v[k]);
        CHECK(prot_get_step(b) == 0 && msum == 0, "step %ld, moments %g", prot_get_step(b), msum);
        CHECK(!memcmp(prot_adv(a, 1), prot_adv(b, 1), (size_t)3 * S * S * 4), "adv not taken from the checkpoint");
        run_steps(b, 1);
        free(ck), free(wb);
        prot_free(a), prot_free(b), prot_free(c);
    }
    prot_opts o = prot_default_opts(PROT_OURS);
    CHECK(prot_opts_set(&o, "w_direct", "3.5") == DF_OK && o.w_direct == 3.5f, "set float");
    CHECK(prot_opts_set(&o, "pgd_iters", "7") == DF_OK && o.pgd_iters == 7, "set int");
    CHECK(prot_opts_set(&o, "nope", "1") != DF_OK && prot_opts_set(&o, "eps", "x") != DF_OK, "bad option accepted");
}

int main(void) {
    make_models(1);
    test_patchgan();
    test_augment();
    test_pgd();
    test_nes();
    test_hinge_and_budget();
    test_training_run();
    for (int i = 0; i < 3; i++) zoo_free(models[i]);
    make_models(0);
    test_objective_gradient();
    test_resume();
    for (int i = 0; i < 3; i++) zoo_free(models[i]);
    return check_summary("test_protector");
}
