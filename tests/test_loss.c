/* Losses (core/layers/loss.c) and Adam (core/layers/adam.c): hand-computed values, finite-difference gradients,
 * gradient scale and accumulation, NULL gradients. */
#include "df.h"
#include "gradcheck.h"

#define N 29
#define TOL 1e-3

typedef struct {
    float out, *x, *t, *mask;
    int kind, B;
    float eps, tgt;
    size_t n;
} lctx;

enum { L_L1, L_MSE, L_MASKED, L_BCE, L_LSGAN, L_HINGE, L_PERTURB };

static float run_loss(int which, lctx *c, float *grad, float scale) {
    switch (which) {
    case L_L1: return df_l1_loss(grad, c->x, c->t, c->n, scale);
    case L_MSE: return df_mse_loss(grad, c->x, c->t, c->n, scale);
    case L_MASKED: return df_masked_mse_loss(grad, c->x, c->t, c->mask, c->n, scale);
    case L_BCE: return df_bce_logits_loss(grad, c->x, c->t, c->n, scale);
    case L_LSGAN: return df_lsgan_loss(grad, c->x, c->tgt, c->n, scale);
    case L_HINGE: return df_hinge_gan_loss(grad, c->x, c->kind, c->n, scale);
    default: return df_perturb_hinge_loss(grad, c->x, c->B, c->n / c->B, c->eps, scale);
    }
}

static int g_which;
static void fwd_loss(void *v) {
    lctx *c = v;
    c->out = run_loss(g_which, c, NULL, 1.0f);
}

/* d(scale * loss)/dx accumulated on top of a pre-fill, against central differences of n * loss
 * (the factor n brings the gradients of a mean to order 1) */
static void grad_loss(const char *what, int which, lctx *c) {
    float scale = 0.7f, wn = (float)c->n;
    float *g = gc_buf(c->n, 5);
    float l1 = run_loss(which, c, g, scale);
    gc_unfill(g, c->n, 5);
    for (size_t i = 0; i < c->n; i++) g[i] *= wn / scale;
    g_which = which;
    gc_op op = {fwd_loss, c, &c->out, 1, &wn};
    gc_check(what, &op, c->x, c->n, g, 1e-2f, TOL);
    CHECK(run_loss(which, c, NULL, scale) == l1, "%s: value independent of grad", what);
    free(g);
}

static void test_values(void) {
    /* L1 / MSE: x - t = (1, -2, 0.5) */
    float x[3] = {1, -1, 2}, t[3] = {0, 1, 1.5f}, g[3] = {0};
    CHECK_NEAR(df_l1_loss(g, x, t, 3, 1), 3.5 / 3, 1e-6, "l1 value");
    CHECK_NEAR(g[0], 1.0 / 3, 1e-7, "l1 grad");
    CHECK_NEAR(g[1], -1.0 / 3, 1e-7, "l1 grad");
    memset(g, 0, sizeof g);
    CHECK_NEAR(df_mse_loss(g, x, t, 3, 2), 5.25 / 3, 1e-6, "mse value");
    CHECK_NEAR(g[1], 2 * 2 * -2.0 / 3, 1e-6, "mse grad (scale 2)");
    /* masked MSE: mask (1, 0, 1): (1 + 0.25) / 2 */
    float mask[3] = {1, 0, 1}, zero[3] = {0};
    memset(g, 0, sizeof g);
    CHECK_NEAR(df_masked_mse_loss(g, x, t, mask, 3, 1), 1.25 / 2, 1e-6, "masked mse value");
    CHECK(g[1] == 0, "masked mse: no gradient outside the mask");
    CHECK_NEAR(g[2], 2 * 0.5 / 2, 1e-6, "masked mse grad");
    CHECK(df_masked_mse_loss(g, x, t, zero, 3, 1) == 0, "masked mse: empty mask -> 0");
    /* BCE with logits, incl. saturated logits (no overflow) and a soft target */
    float z[6] = {0, 2, -3, 100, -100, 0.5f}, zt[6] = {1, 0, 1, 0, 1, 0.3f}, gz[6] = {0};
    const double lz[6] = {0.6931471805599453, 2.1269280110429727, 3.048587351573742, 100, 100,
                          0.8240769841801067}; /* max(z,0) - z t + log(1 + e^-|z|) */
    double mean = 0;
    for (int i = 0; i < 6; i++) {
        mean += lz[i] / 6;
        CHECK_NEAR(df_bce_logits_loss(NULL, z + i, zt + i, 1, 1), lz[i], 1e-5 * (1 + lz[i]), "bce value");
    }
    CHECK_NEAR(df_bce_logits_loss(gz, z, zt, 6, 1), mean, 1e-5, "bce mean");
    for (int i = 0; i < 6; i++) CHECK_NEAR(gz[i], (1 / (1 + exp(-(double)z[i])) - zt[i]) / 6, 1e-7, "bce grad");
    /* LSGAN */
    float d[2] = {0.5f, 2};
    CHECK_NEAR(df_lsgan_loss(NULL, d, 1, 2, 1), (0.25 + 1) / 2, 1e-7, "lsgan real");
    CHECK_NEAR(df_lsgan_loss(NULL, d, 0, 2, 1), (0.25 + 4) / 2, 1e-7, "lsgan fake");
    /* hinge GAN at x = (0.5, -2, 1.5, -0.25) */
    float h[4] = {0.5f, -2, 1.5f, -0.25f}, gh[4] = {0};
    CHECK_NEAR(df_hinge_gan_loss(gh, h, 1, 4, 1), (0.5 + 3 + 0 + 1.25) / 4, 1e-7, "hinge real");
    CHECK(gh[0] == -0.25f && gh[1] == -0.25f && gh[2] == 0 && gh[3] == -0.25f, "hinge real grad");
    memset(gh, 0, sizeof gh);
    CHECK_NEAR(df_hinge_gan_loss(gh, h, -1, 4, 1), (1.5 + 0 + 2.5 + 0.75) / 4, 1e-7, "hinge fake");
    CHECK(gh[0] == 0.25f && gh[1] == 0 && gh[2] == 0.25f && gh[3] == 0.25f, "hinge fake grad");
    memset(gh, 0, sizeof gh);
    CHECK_NEAR(df_hinge_gan_loss(gh, h, 0, 4, 1), 0.25 / 4, 1e-7, "hinge generator"); /* mean(-x) */
    CHECK(gh[0] == -0.25f && gh[3] == -0.25f, "hinge generator grad");
    /* perturbation hinge (Eq. 4), eps 0.05: image 0 has max |d| = 0.08 -> 0.03, image 1 is inside */
    float dl[8] = {0.01f, -0.08f, 0.03f, 0, 0.02f, -0.04f, 0.05f, 0}, gd[8] = {0};
    CHECK_NEAR(df_perturb_hinge_loss(gd, dl, 2, 4, 0.05f, 2), 0.03 / 2, 1e-7, "perturb hinge value");
    CHECK(gd[1] == -1.0f && gd[0] == 0 && gd[2] == 0 && gd[6] == 0, "perturb hinge grad: sign/B*scale at argmax");
}

static void test_grads(void) {
    lctx c = {.x = gc_buf(N, 1), .t = gc_buf(N, 2), .mask = gc_buf(N, 3), .n = N};
    for (int i = 0; i < N; i++) {
        if (fabsf(c.x[i] - c.t[i]) < 0.03f) c.x[i] += 0.06f; /* away from the L1 kink */
        c.mask[i] = c.mask[i] > 0 ? 1.0f : 0.3f * (i % 2);  /* binary and fractional weights */
    }
    grad_loss("l1", L_L1, &c);
    grad_loss("mse", L_MSE, &c);
    grad_loss("masked mse", L_MASKED, &c);
    for (int i = 0; i < N; i++) c.x[i] *= 4, c.t[i] = (c.t[i] + 1) / 2; /* logits, targets in [0, 1] */
    grad_loss("bce", L_BCE, &c);
    c.tgt = 1, grad_loss("lsgan real", L_LSGAN, &c);
    c.tgt = 0, grad_loss("lsgan fake", L_LSGAN, &c);
    for (int i = 0; i < N; i++)
        if (fabsf(fabsf(c.x[i]) - 1) < 0.03f) c.x[i] *= 1.1f; /* away from the hinge kinks */
    for (int k = -1; k <= 1; k++) c.kind = k, grad_loss("hinge gan", L_HINGE, &c);
    /* perturbation hinge, B = 3 images of 9 values with unique maxima; image 2 inside the budget */
    float *dl = gc_buf(27, 4);
    for (int i = 0; i < 27; i++) dl[i] *= (i / 9 == 2) ? 0.04f : 0.1f;
    dl[4] = 0.3f, dl[9 + 7] = -0.25f;
    lctx p = {.x = dl, .n = 27, .B = 3, .eps = 0.05f};
    grad_loss("perturb hinge", L_PERTURB, &p);
    free(c.x), free(c.t), free(c.mask), free(dl);
}

/* Adam, two steps by hand: lr 0.1, b1 0.9, b2 0.99, eps 1e-6, p0 = 1, g = 0.5 then -0.25.
 * step 1: m = 0.05, v = 0.0025, mhat = 0.5, vhat = 0.25: p = 1 - 0.1 * 0.5 / (0.5 + 1e-6)
 * step 2: m = 0.02, v = 0.0031, mhat = 0.02/0.19, vhat = 0.0031/0.0199 */
static void test_adam(void) {
    /* case 0: defaults; 1: decoupled weight decay 0.01; 2: eps 0.1, outside the square root */
    for (int k = 0; k < 3; k++) {
        df_adam cfg = df_adam_default(0.1f);
        CHECK(cfg.beta1 == 0.9f && cfg.beta2 == 0.99f && cfg.eps == 1e-6f, "adam defaults (design notes)");
        cfg.weight_decay = k == 1 ? 0.01f : 0.0f;
        double e = k == 2 ? 0.1 : 1e-6;
        cfg.eps = (float)e;
        float p[3] = {1, 1, 1}, m[3] = {0}, v[3] = {0}, g1[3] = {0.5f, 0.5f, 0.5f}, g2[3] = {-0.25f, -0.25f, -0.25f};
        double decay = 1 - 0.1 * cfg.weight_decay;
        double p1 = 1 * decay - 0.1 * 0.5 / (0.5 + e);
        double p2 = p1 * decay - 0.1 * (0.02 / 0.19) / (sqrt(0.0031 / 0.0199) + e);
        df_adam_update(p, g1, m, v, 3, &cfg, 1);
        CHECK_NEAR(m[2], 0.05, 1e-7, "adam m1");
        CHECK_NEAR(v[2], 0.0025, 1e-8, "adam v1");
        CHECK_NEAR(p[2], p1, 1e-6, "adam p1");
        df_adam_update(p, g2, m, v, 3, &cfg, 2);
        CHECK_NEAR(m[0], 0.02, 1e-7, "adam m2");
        CHECK_NEAR(v[0], 0.0031, 1e-8, "adam v2");
        CHECK_NEAR(p[0], p2, 1e-6, "adam p2");
    }
}

int main(void) {
    test_values();
    test_grads();
    test_adam();
    return check_summary("test_loss");
}
