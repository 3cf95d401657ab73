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

static void test_gradients(int luma) {
    const int B = 2, H = 16, W = 24;
    const size_t n = (size_t)B * 3 * H * W;
    gen_config cfg = {4, 1.0f, luma};
    gen_model *g;
    CHECK(gen_create(&g, &cfg, 7, 1) == DF_OK, "create: %s", df_errmsg());
    float *x = malloc(n * 4), *r = malloc(n * 4), *d = malloc(n * 4), *dx = calloc(n, 4);
    check_fill(x, n, 1);
    check_fill(r, n, 2);
    df_params *p = gen_params(g);
    df_params_zero_grad(p);
    loss(g, x, r, d, B, H, W);
    CHECK(gen_backward(g, dx, r) == DF_OK, "backward: %s", df_errmsg());

    /* Directional derivatives along random directions of all inputs / all parameters at once: a single
     * entry's finite difference drowns in float noise in a deep network, a whole direction does not.
     * (Entry-wise agreement with an independent autodiff is checked by tests/js/golden.test.mjs.) */
    const float h = 1e-4f; /* the function is strongly curved at init (instance norm on tiny maps) */
    df_rng rng;
    df_rng_seed(&rng, 99);
    float *v = malloc((n > p->total ? n : p->total) * sizeof(float));
    for (int trial = 0; trial < 6; trial++) {
        int on_x = trial % 2 == 0;
        float *theta = on_x ? x : p->data;
        const float *grad = on_x ? dx : p->grad;
        size_t m = on_x ? n : p->total;
        double analytic = 0;
        for (size_t i = 0; i < m; i++) {
            v[i] = df_rng_normal(&rng);
            analytic += (double)v[i] * grad[i];
        }
        /* The function is strongly curved at init (instance norm over tiny maps, ReLU kinks) and float32
         * limits small steps: accept the best of a range of step sizes; a wrong gradient fails at every h. */
        double best = INFINITY, best_fd = 0;
        for (float hh = 3 * h; hh > h / 30; hh /= 3) {
            for (size_t i = 0; i < m; i++) theta[i] += hh * v[i];
            double lp = loss(g, x, r, d, B, H, W);
            for (size_t i = 0; i < m; i++) theta[i] -= 2 * hh * v[i];
            double lm = loss(g, x, r, d, B, H, W);
            for (size_t i = 0; i < m; i++) theta[i] += hh * v[i];
            double fd = (lp - lm) / (2 * hh);
            if (fabs(fd - analytic) < best) best = fabs(fd - analytic), best_fd = fd;
        }
        CHECK(best <= 5e-2 * fabs(analytic) + 1e-2, "luma %d, %s direction %d: analytic %g vs finite difference %g",
              luma, on_x ? "input" : "parameter", trial, analytic, best_fd);
    }
    free(v);
    free(x), free(r), free(d), free(dx);
    gen_free(g);
}

/* Luma mode: the same weights as a colour Gen give, in every channel, the mean of the colour Gen's three
 * channels (so a protected photo changes brightness only), and the mode survives save/load; bad meta is refused. */
static void test_luma(void) {
    const int B = 2, H = 16, W = 16;
    const size_t HW = (size_t)H * W, n = (size_t)B * 3 * HW;
    gen_config cc = {4, 0.7f, 0}, lc = {4, 0.7f, 1};
    gen_model *col, *lum, *re;
    CHECK(gen_create(&col, &cc, 5, 0) == DF_OK && gen_create(&lum, &lc, 5, 0) == DF_OK, "create");
    float *x = malloc(n * 4), *dc = malloc(n * 4), *dl = malloc(n * 4);
    check_fill(x, n, 3);
    CHECK(gen_forward(col, dc, x, B, H, W) == DF_OK && gen_forward(lum, dl, x, B, H, W) == DF_OK, "forward");
    double maxerr = 0, spread = 0;
    for (int b = 0; b < B; b++)
        for (size_t k = 0; k < HW; k++) {
            const float *c = dc + (size_t)b * 3 * HW + k, *l = dl + (size_t)b * 3 * HW + k;
            double mean = ((double)c[0] + c[HW] + c[2 * HW]) / 3;
            for (int ch = 0; ch < 3; ch++) maxerr = fmax(maxerr, fabs(l[ch * HW] - mean));
            spread = fmax(spread, fabs(c[0] - c[HW]));
        }
    CHECK(spread > 1e-3, "the colour Gen's channels should differ (%g)", spread);
    CHECK(maxerr < 1e-6, "luma delta must be the channel mean in every channel (max error %g)", maxerr);
    uint8_t *buf;
    size_t len;
    CHECK(gen_save(lum, 0, 0, &buf, &len) == DF_OK, "save");
    CHECK(gen_load(&re, buf, len, 0) == DF_OK && gen_get_config(re)->luma == 1, "luma survives save/load");
    gen_free(re);
    free(buf);
    /* photo path: every pixel moves by the same amount in R, G and B (before 8-bit rounding) */
    const int PW = 33, PH = 21;
    float *px = malloc(3 * PW * PH * 4), *pa = malloc(3 * PW * PH * 4);
    check_fill(px, 3 * PW * PH, 9);
    for (int i = 0; i < 3 * PW * PH; i++) px[i] *= 0.5f; /* away from the [-1, 1] clip */
    CHECK(gen_protect(lum, pa, px, PH, PW, 0.05f) == DF_OK, "protect");
    double grey = 0;
    for (int k = 0; k < PW * PH; k++) {
        float d0 = pa[k] - px[k], d1 = pa[PW * PH + k] - px[PW * PH + k], d2 = pa[2 * PW * PH + k] - px[2 * PW * PH + k];
        grey = fmax(grey, fmax(fabs(d0 - d1), fabs(d0 - d2)));
    }
    CHECK(grey < 1e-6, "luma protection changed colour (max channel difference %g)", grey);
    gen_config bad = {4, 0.7f, 2};
    CHECK(gen_create(&re, &bad, 1, 0) == DF_ERR_ARG, "luma 2 refused");
    dfw_writer w;
    dfw_writer_init(&w);
    dfw_writer_meta(&w, "arch", GEN_ARCH);
    dfw_writer_meta_int(&w, "width", 4);
    dfw_writer_meta_float(&w, "out_scale", 0.7);
    dfw_writer_meta_int(&w, "luma", 3);
    CHECK(dfw_writer_finish(&w, &buf, &len) == DF_OK, "writer");
    dfw_writer_free(&w);
    CHECK(gen_load(&re, buf, len, 0) == DF_ERR_FORMAT && re == NULL, "meta luma 3 refused: %s", df_errmsg());
    free(buf);
    free(x), free(dc), free(dl), free(px), free(pa);
    gen_free(col);
    gen_free(lum);
}

static void test_protect_budget(void) {
    gen_config cfg = {4, 1.0f, 0}; /* out_scale 1: the raw delta far exceeds eps, so clipping must hold it */
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
                /* (an image whose bottleneck is 1x1 normalises to a constant there: no delta at init) */
                if (W >= 16 && H >= 16) CHECK(changed > 0, "%dx%d: protection changed nothing", W, H);
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
    gen_config cfg = {16, 0.1f, 0};
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

/* Inference reuses a few buffers; its output must equal the training path's (which keeps everything and is
 * checked against tfjs in tests/js/golden.test.mjs). */
static void test_inference_plan(void) {
    gen_config cfg = {4, 0.5f, 0};
    gen_model *tr, *inf;
    uint8_t *buf;
    size_t len;
    CHECK(gen_create(&tr, &cfg, 21, 1) == DF_OK, "create");
    df_params *p = gen_params(tr);
    df_rng rng;
    df_rng_seed(&rng, 4);
    for (int t = 0; t < p->n; t++) /* non-trivial norms and biases */
        if (!strstr(p->info[t].name, ".w"))
            for (size_t i = 0; i < p->info[t].count; i++) p->data[p->info[t].offset + i] += 0.3f * df_rng_normal(&rng);
    CHECK(gen_save(tr, 0, 0, &buf, &len) == DF_OK, "save");
    CHECK(gen_load(&inf, buf, len, 0) == DF_OK, "load");
    const int B = 2, H = 40, W = 24;
    size_t n = (size_t)B * 3 * H * W;
    float *x = malloc(n * 4), *d1 = malloc(n * 4), *d2 = malloc(n * 4);
    check_fill(x, n, 8);
    CHECK(gen_forward(tr, d1, x, B, H, W) == DF_OK, "training forward");
    CHECK(gen_forward(inf, d2, x, B, H, W) == DF_OK, "inference forward");
    CHECK(memcmp(d1, d2, n * 4) == 0, "inference plan changes the output (max diff %g)", check_maxrel(d2, d1, n));
    CHECK(gen_backward(inf, NULL, d1) != DF_OK, "backward on an inference model is refused");
    free(x), free(d1), free(d2), free(buf);
    gen_free(tr);
    gen_free(inf);
}

int main(void) {
    test_inference_plan();
    test_gradients(0);
    test_gradients(1);
    test_luma();
    test_protect_budget();
    test_save_load_flops();
    return check_summary("test_gen");
}
