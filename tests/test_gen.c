/* Gen: gradients against finite differences, eps guarantee, size handling, FLOP budget, save/load. */
#include "check.h"
#include "gen.h"

/* L = sum(r * Gen(x)) */
static double loss(gen_model *g, const float *x, const float *r, float *delta, int B, int H, int W) {
    if (gen_forward(g, delta, x, B, H, W) != DF_OK) return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)B * 3 * H * W; i++) s += (double)r[i] * delta[i];
    return s;
}

static void test_gradients(void) {
    const int B = 2, H = 32, W = 24;
    const size_t n = (size_t)B * 3 * H * W;
    gen_config cfg = {3, 1.0f};
    gen_model *g;
    CHECK(gen_create(&g, &cfg, 7, 1) == DF_OK, "create: %s", df_errmsg());
    float *x = malloc(n * 4), *r = malloc(n * 4), *d = malloc(n * 4), *dx = calloc(n, 4);
    check_fill(x, n, 1);
    check_fill(r, n, 2);
    df_params *p = gen_params(g);
    /* make the output layer large enough that tanh is not linear-only */
    float *wout = df_params_get(p, df_params_find(p, "out.w"));
    for (size_t i = 0; i < p->info[df_params_find(p, "out.w")].count; i++) wout[i] *= 10.0f;
    df_params_zero_grad(p);
    loss(g, x, r, d, B, H, W);
    CHECK(gen_backward(g, dx, r) == DF_OK, "backward: %s", df_errmsg());

    const float h = 1e-2f;
    int bad = 0, tried = 0;
    for (int k = 0; k < 24; k++) { /* input gradient at scattered points */
        size_t i = (size_t)(k * 7919) % n;
        float keep = x[i];
        x[i] = keep + h;
        double lp = loss(g, x, r, d, B, H, W);
        x[i] = keep - h;
        double lm = loss(g, x, r, d, B, H, W);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        tried++;
        if (fabs(fd - dx[i]) > 2e-2 * (1 + fabs(fd))) {
            bad++;
            fprintf(stderr, "  dx[%zu]: analytic %g vs finite difference %g\n", i, dx[i], fd);
        }
    }
    /* parameter gradients: a few entries of every tensor */
    for (int t = 0; t < p->n; t++) {
        for (int k = 0; k < 3; k++) {
            size_t i = p->info[t].offset + (size_t)(k * 131) % p->info[t].count;
            float keep = p->data[i];
            p->data[i] = keep + h;
            double lp = loss(g, x, r, d, B, H, W);
            p->data[i] = keep - h;
            double lm = loss(g, x, r, d, B, H, W);
            p->data[i] = keep;
            double fd = (lp - lm) / (2 * h);
            tried++;
            if (fabs(fd - p->grad[i]) > 2e-2 * (1 + fabs(fd))) {
                bad++;
                fprintf(stderr, "  d%s[%zu]: analytic %g vs finite difference %g\n", p->info[t].name,
                        i - p->info[t].offset, p->grad[i], fd);
            }
        }
    }
    /* ReLU kinks can spoil an occasional finite difference; more than 5% is a bug. */
    CHECK(bad * 20 <= tried, "%d of %d gradient entries disagree with finite differences", bad, tried);
    free(x), free(r), free(d), free(dx);
    gen_free(g);
}

static void test_protect_budget(void) {
    gen_config cfg = {4, 1.0f}; /* out_scale 1: the raw delta far exceeds eps, so clipping must hold it */
    gen_model *g;
    CHECK(gen_create(&g, &cfg, 3, 0) == DF_OK, "create");
    float *wout = df_params_get(gen_params(g), df_params_find(gen_params(g), "out.w"));
    for (int i = 0; i < 4 * 9 * 3; i++) wout[i] *= 50.0f;
    const int sizes[][2] = {{37, 23}, {8, 8}, {1, 1}, {5, 300}, {130, 97}};
    for (int s = 0; s < 5; s++) {
        int W = sizes[s][0], H = sizes[s][1];
        for (int stride = 3; stride <= 4; stride++) {
            size_t n = (size_t)W * H * stride;
            uint8_t *in = malloc(n), *out = malloc(n);
            for (size_t i = 0; i < n; i++) in[i] = (uint8_t)((i * 37 + (i / 7) * 11) & 255);
            for (int ws = 0; ws <= 64; ws += 64) {
                const float eps = 0.05f;
                CHECK(gen_protect_rgb8(g, out, in, W, H, stride, eps, ws, NULL, NULL) == DF_OK, "protect %dx%d: %s",
                      W, H, df_errmsg());
                int maxd = 0, changed = 0;
                for (size_t i = 0; i < n; i++) {
                    int dd = abs((int)out[i] - in[i]);
                    if (stride == 4 && i % 4 == 3) {
                        CHECK(dd == 0, "alpha must be copied");
                        continue;
                    }
                    if (dd > maxd) maxd = dd;
                    changed += dd != 0;
                }
                /* eps on [-1,1] = eps * 127.5 levels, plus rounding */
                CHECK(maxd <= (int)(eps * 127.5f + 0.5f), "%dx%d ws %d: max change %d levels", W, H, ws, maxd);
                CHECK(changed > 0, "%dx%d: protection changed nothing", W, H);
            }
            free(in), free(out);
        }
    }
    /* float path */
    const int H = 20, W = 28;
    float *x = malloc(3 * H * W * 4), *xa = malloc(3 * H * W * 4);
    check_fill(x, 3 * H * W, 5);
    x[0] = 1.0f, x[1] = -1.0f;
    CHECK(gen_protect(g, xa, x, H, W, 0.03f) == DF_OK, "gen_protect");
    double m = 0;
    for (int i = 0; i < 3 * H * W; i++) {
        double dd = fabs((double)xa[i] - x[i]);
        if (dd > m) m = dd;
        CHECK(xa[i] >= -1.0f && xa[i] <= 1.0f, "x_adv out of range");
    }
    CHECK(m <= 0.03 + 1e-7, "float protect exceeds eps: %g", m);
    CHECK(m > 0.02, "clipped delta should reach the budget with a huge raw delta: %g", m);
    /* bad arguments fail cleanly */
    uint8_t px[12] = {0};
    CHECK(gen_protect_rgb8(g, px, px, 0, 1, 3, 0.05f, 0, NULL, NULL) == DF_ERR_ARG, "zero width");
    CHECK(gen_protect_rgb8(g, px, px, 1, 1, 2, 0.05f, 0, NULL, NULL) == DF_ERR_ARG, "bad stride");
    CHECK(gen_protect_rgb8(g, px, px, 1, 1, 3, -1.0f, 0, NULL, NULL) == DF_ERR_ARG, "negative eps");
    CHECK(gen_protect_rgb8(g, px, px, 1, 1, 3, NAN, 0, NULL, NULL) == DF_ERR_ARG, "NaN eps");
    CHECK(strlen(df_errmsg()) > 0, "error message set");
    free(x), free(xa);
    gen_free(g);
}

static void test_save_load_flops(void) {
    gen_config cfg = {16, 0.1f};
    double f = gen_flops(&cfg, 256, 256);
    CHECK(f > 1e9 && f <= 4e9, "Gen c=16 must cost at most 4 GFLOP per 256x256 image: %.3g", f);
    gen_model *g, *h;
    CHECK(gen_create(&g, &cfg, 11, 0) == DF_OK, "create");
    uint8_t *buf;
    size_t len;
    CHECK(gen_save(g, 0, 0, &buf, &len) == DF_OK, "save: %s", df_errmsg());
    CHECK(gen_load(&h, buf, len, 0) == DF_OK, "load: %s", df_errmsg());
    if (h) {
        df_params *a = gen_params(g), *b = gen_params(h);
        CHECK(a->total == b->total && memcmp(a->data, b->data, a->total * 4) == 0, "weights survive a round trip");
        CHECK(gen_get_config(h)->width == 16, "width from metadata");
        gen_free(h);
    }
    buf[len / 2] ^= 0x40;
    CHECK(gen_load(&h, buf, len, 0) != DF_OK && h == NULL, "a corrupted file is refused");
    free(buf);
    /* a file of another architecture is refused */
    dfw_writer w;
    dfw_writer_init(&w);
    dfw_writer_meta(&w, "arch", "something-else");
    CHECK(dfw_writer_finish(&w, &buf, &len) == DF_OK, "writer");
    dfw_writer_free(&w);
    CHECK(gen_load(&h, buf, len, 0) == DF_ERR_UNSUPPORTED, "wrong arch refused: %s", df_errmsg());
    free(buf);
    gen_free(g);
}

int main(void) {
    test_gradients();
    test_protect_budget();
    test_save_load_flops();
    return check_summary("test_gen");
}
