/* Gen: gradients against finite differences, eps guarantee, size handling, FLOP budget, save/load. */
#include "check.h"
#include "augment.h"
#include "gen.h"

/* L = sum(r * Gen(x)) */
static double loss(gen_model *g, const float *x, const float *r, float *delta, int B, int H, int W) {
    if (gen_forward(g, delta, x, B, H, W) != DF_OK) return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)B * 3 * H * W; i++) s += (double)r[i] * delta[i];
    return s;
}

static void test_gradients(int chroma, int smooth) {
    const int B = 2, H = 16, W = 24;
    const size_t n = (size_t)B * 3 * H * W;
    gen_config cfg = {4, 1.0f, chroma, smooth};
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
        CHECK(best <= 5e-2 * fabs(analytic) + 1e-2,
              "chroma %d, smooth %d, %s direction %d: analytic %g vs finite difference %g", chroma, smooth,
              on_x ? "input" : "parameter", trial, analytic, best_fd);
    }
    free(v);
    free(x), free(r), free(d), free(dx);
    gen_free(g);
}

/* Chroma modes, against the colour Gen with the same weights (computed here, independently of gen.c's code):
 * none = its channel mean m in every channel; half = m + the 2x2 block mean of (d_c - m).  Then what the modes are for: JPEG's colour conversion with 4:2:0 chroma averaging and no
 * quantisation (augment.h) passes a grey delta through unchanged, a half-resolution colour one with less change
 * (only the decoder's chroma filter) than a full-colour one.
 * The mode survives save/load and bad values are refused. */
static void test_chroma(void) {
    const int B = 2, H = 16, W = 24;
    const size_t HW = (size_t)H * W, n = (size_t)B * 3 * HW;
    gen_model *g[3];
    float *x = malloc(n * 4), *d[3];
    check_fill(x, n, 3);
    for (int mode = 0; mode < 3; mode++) {
        gen_config c = {4, 0.7f, mode, 0};
        CHECK(gen_create(&g[mode], &c, 5, 0) == DF_OK, "create mode %d", mode);
        d[mode] = malloc(n * 4);
        CHECK(gen_forward(g[mode], d[mode], x, B, H, W) == DF_OK, "forward mode %d", mode);
    }
    double err_none = 0, err_half = 0, spread = 0, chroma_var = 0;
    for (int b = 0; b < B; b++) {
        const float *c = d[0] + (size_t)b * 3 * HW, *l = d[1] + (size_t)b * 3 * HW, *h = d[2] + (size_t)b * 3 * HW;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                size_t k = (size_t)y * W + xx;
                double m = ((double)c[k] + c[HW + k] + c[2 * HW + k]) / 3;
                int y0 = y & ~1, x0 = xx & ~1;
                for (int ch = 0; ch < 3; ch++) {
                    double bm = 0;
                    int cnt = 0;
                    for (int yy = y0; yy < y0 + 2 && yy < H; yy++)
                        for (int x1 = x0; x1 < x0 + 2 && x1 < W; x1++, cnt++) {
                            size_t q = (size_t)yy * W + x1;
                            bm += c[ch * HW + q] - ((double)c[q] + c[HW + q] + c[2 * HW + q]) / 3;
                        }
                    err_none = fmax(err_none, fabs(l[ch * HW + k] - m));
                    err_half = fmax(err_half, fabs(h[ch * HW + k] - (m + bm / cnt)));
                    chroma_var = fmax(chroma_var, fabs(bm / cnt));
                }
                spread = fmax(spread, fabs(c[k] - c[HW + k]));
            }
    }
    CHECK(spread > 1e-3 && chroma_var > 1e-4, "the colour Gen's channels should differ (%g, %g)", spread, chroma_var);
    CHECK(err_none < 1e-6, "chroma none: delta must be the channel mean (max error %g)", err_none);
    CHECK(err_half < 1e-6, "chroma half: delta must be m + block mean of the colour part (max error %g)", err_half);

    /* 4:2:0 JPEG without quantisation passes grey and half-resolution colour through, not full colour */
    const int S = 16;
    const size_t m1 = (size_t)3 * S * S;
    aug_op op = {AUG_JPEG, 0, 0, 0, 0, 100, AUG_ROUND_NONE};
    CHECK(aug_check(&op, S) == DF_OK, "aug op: %s", df_errmsg());
    float *img = malloc(m1 * 4), *adv = malloc(m1 * 4), *ja = malloc(m1 * 4), *jb = malloc(m1 * 4), *dd = malloc(m1 * 4);
    float *ws = malloc(aug_workspace(&op, 1, S) * sizeof(float));
    check_fill(img, m1, 12);
    for (size_t k = 0; k < m1; k++) img[k] *= 0.5f; /* away from the clamp */
    double lost[3];
    for (int mode = 0; mode < 3; mode++) {
        CHECK(gen_forward(g[mode], dd, img, 1, S, S) == DF_OK, "forward");
        for (size_t k = 0; k < m1; k++) adv[k] = img[k] + dd[k];
        aug_forward(&op, ja, adv, 1, S, ws);
        aug_forward(&op, jb, img, 1, S, ws);
        double e = 0, nd = 0;
        for (size_t k = 0; k < m1; k++) e += pow(ja[k] - jb[k] - dd[k], 2), nd += (double)dd[k] * dd[k];
        lost[mode] = sqrt(e / nd);
    }
    printf("4:2:0 JPEG without quantisation keeps the delta up to a relative error of: full colour %.3f, grey %.2g, "
           "half-resolution colour %.3f (the decoder's chroma filter)\n", lost[0], lost[1], lost[2]);
    CHECK(lost[0] > 0.05, "4:2:0 should change a full-colour delta (relative change %g)", lost[0]);
    CHECK(lost[1] < 1e-3, "4:2:0 changed the grey delta (%g)", lost[1]);
    CHECK(lost[2] < 0.5 * lost[0], "4:2:0 changed the half-resolution delta (%g) as much as a colour one (%g)", lost[2],
          lost[0]);
    free(img), free(adv), free(ja), free(jb), free(dd), free(ws);

    uint8_t *buf;
    size_t len;
    gen_model *re;
    CHECK(gen_save(g[2], 0, 0, &buf, &len) == DF_OK, "save");
    CHECK(gen_load(&re, buf, len, 0) == DF_OK && gen_get_config(re)->chroma == GEN_CHROMA_HALF,
          "chroma mode survives save/load");
    gen_free(re);
    free(buf);
    /* photo path: with chroma none every pixel moves by the same amount in R, G and B (before 8-bit rounding) */
    const int PW = 33, PH = 21;
    float *px = malloc(3 * PW * PH * 4), *pa = malloc(3 * PW * PH * 4);
    check_fill(px, 3 * PW * PH, 9);
    for (int i = 0; i < 3 * PW * PH; i++) px[i] *= 0.5f;
    CHECK(gen_protect(g[1], pa, px, PH, PW, 0.05f) == DF_OK, "protect");
    double grey = 0;
    for (int k = 0; k < PW * PH; k++) {
        float d0 = pa[k] - px[k], d1 = pa[PW * PH + k] - px[PW * PH + k], d2 = pa[2 * PW * PH + k] - px[2 * PW * PH + k];
        grey = fmax(grey, fmax(fabs(d0 - d1), fabs(d0 - d2)));
    }
    CHECK(grey < 1e-6, "grey protection changed colour (max channel difference %g)", grey);
    gen_config bad = {4, 0.7f, 3, 0};
    CHECK(gen_create(&re, &bad, 1, 0) == DF_ERR_ARG, "chroma 3 refused");
    dfw_writer w;
    dfw_writer_init(&w);
    dfw_writer_meta(&w, "arch", GEN_ARCH);
    dfw_writer_meta_int(&w, "width", 4);
    dfw_writer_meta_float(&w, "out_scale", 0.7);
    dfw_writer_meta_int(&w, "chroma", 3);
    CHECK(dfw_writer_finish(&w, &buf, &len) == DF_OK, "writer");
    dfw_writer_free(&w);
    CHECK(gen_load(&re, buf, len, 0) == DF_ERR_FORMAT && re == NULL, "meta chroma 3 refused: %s", df_errmsg());
    free(buf);
    free(x), free(px), free(pa);
    for (int mode = 0; mode < 3; mode++) free(d[mode]), gen_free(g[mode]);
}

/* L = <r, smooth(Gen0(x))> = <smooth(r), Gen0(x)> (the blur is symmetric): the smoothed Gen's parameter and input
 * gradients for upstream r must equal the unsmoothed Gen's (same weights) for upstream smooth(r), with smooth(r)
 * computed here as a direct 2-D sum; with a chroma mode, the chroma map comes first in the forward pass, so the
 * reference is Gen_chroma's backward of smooth(r). */
static void blur_direct(float *out, const float *in, int planes, int H, int W, int passes) {
    size_t HW = (size_t)H * W;
    float *tmp = malloc(planes * HW * sizeof(float));
    memcpy(tmp, in, planes * HW * sizeof(float));
    for (int p = 0; p < passes; p++) {
        for (int c = 0; c < planes; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double sum = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = y + dy, xx = x + dx;
                            if (yy >= 0 && yy < H && xx >= 0 && xx < W)
                                sum += (2 - abs(dy)) * (2 - abs(dx)) * (double)tmp[c * HW + (size_t)yy * W + xx];
                        }
                    out[c * HW + (size_t)y * W + x] = (float)(sum / 16);
                }
        memcpy(tmp, out, planes * HW * sizeof(float));
    }
    if (passes == 0) memcpy(out, in, planes * HW * sizeof(float));
    free(tmp);
}

static void test_smooth_adjoint(int chroma, int smooth) {
    const int B = 2, H = 16, W = 24;
    const size_t n = (size_t)B * 3 * H * W;
    gen_config c0 = {4, 1.0f, chroma, 0}, c1 = {4, 1.0f, chroma, smooth};
    gen_model *g0 = NULL, *g1 = NULL;
    CHECK(gen_create(&g0, &c0, 7, 1) == DF_OK && gen_create(&g1, &c1, 7, 1) == DF_OK, "create");
    float *x = malloc(n * 4), *r = malloc(n * 4), *sr = malloc(n * 4), *d = malloc(n * 4);
    float *dx0 = calloc(n, 4), *dx1 = calloc(n, 4);
    check_fill(x, n, 1);
    check_fill(r, n, 2);
    blur_direct(sr, r, B * 3, H, W, smooth);
    df_params *p0 = gen_params(g0), *p1 = gen_params(g1);
    df_params_zero_grad(p0), df_params_zero_grad(p1);
    CHECK(gen_forward(g0, d, x, B, H, W) == DF_OK && gen_backward(g0, dx0, sr) == DF_OK, "plain");
    CHECK(gen_forward(g1, d, x, B, H, W) == DF_OK && gen_backward(g1, dx1, r) == DF_OK, "smoothed");
    double ep = check_maxrel(p1->grad, p0->grad, p0->total), ex = check_maxrel(dx1, dx0, n);
    CHECK(ep < 1e-4 && ex < 1e-4, "chroma %d, smooth %d: backward differs from the plain Gen's backward of the "
          "blurred gradient (parameters %g, input %g)", chroma, smooth, ep, ex);
    /* and the blurred gradient is not the plain one (the check can fail) */
    CHECK(check_maxrel(sr, r, n) > 0.1, "the blur changed nothing");
    free(x), free(r), free(sr), free(d), free(dx0), free(dx1);
    gen_free(g0), gen_free(g1);
}

/* Smoothing (gen.h): the smoothed Gen's delta is the plain Gen's delta (same weights) convolved K times with
 * [1 2 1] x [1 2 1] / 16 with zero padding, computed here as a direct 2-D sum; |delta| stays <= out_scale; a
 * checker pattern has no energy left inside the frame; the mode survives save/load; bad values are refused. */
static void test_smooth(void) {
    const int B = 1, H = 16, W = 24;
    const size_t HW = (size_t)H * W, n = (size_t)B * 3 * HW;
    float *x = malloc(n * 4), *d0 = malloc(n * 4), *d2 = malloc(n * 4), *ref = malloc(n * 4), *tmp = malloc(n * 4);
    check_fill(x, n, 4);
    gen_config c0 = {4, 0.6f, 0, 0}, c2 = {4, 0.6f, 0, 2};
    gen_model *g0 = NULL, *g2 = NULL;
    CHECK(gen_create(&g0, &c0, 11, 0) == DF_OK && gen_create(&g2, &c2, 11, 0) == DF_OK, "create");
    CHECK(gen_forward(g0, d0, x, B, H, W) == DF_OK && gen_forward(g2, d2, x, B, H, W) == DF_OK, "forward");
    memcpy(ref, d0, n * 4);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t c = 0; c < 3 * (size_t)B; c++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++) {
                    double sum = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = y + dy, x1 = xx + dx;
                            if (yy < 0 || yy >= H || x1 < 0 || x1 >= W) continue;
                            sum += (2 - abs(dy)) * (2 - abs(dx)) * (double)ref[c * HW + (size_t)yy * W + x1];
                        }
                    tmp[c * HW + (size_t)y * W + xx] = (float)(sum / 16);
                }
        memcpy(ref, tmp, n * 4);
    }
    double err = 0, amax = 0, diff = 0;
    for (size_t k = 0; k < n; k++) {
        err = fmax(err, fabs(d2[k] - ref[k]));
        amax = fmax(amax, fabs(d2[k]));
        diff = fmax(diff, fabs(d2[k] - d0[k]));
    }
    CHECK(err < 1e-6, "smooth 2: delta differs from two direct [1 2 1]^2/16 passes (max error %g)", err);
    CHECK(diff > 1e-3, "smoothing should change the delta (max change %g)", diff);
    CHECK(amax <= 0.6f, "smoothed delta exceeds out_scale (%g)", amax);
    /* the checker (-1)^(x+y) is zeroed inside the frame by one pass: the map's symmetric matrix applied to it */
    gen_config c1 = {4, 0.6f, 0, 1};
    gen_model *g1;
    CHECK(gen_create(&g1, &c1, 11, 1) == DF_OK, "create smooth 1");
    float *dx = calloc(n, 4);
    CHECK(gen_forward(g1, d0, x, B, H, W) == DF_OK, "forward smooth 1");
    /* backward of a checker upstream gradient: the blur (its own adjoint) zeroes it away from the border,
     * so the parameter gradient comes only from the border pixels: much smaller than for a smooth gradient */
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) tmp[c * HW + (size_t)y * W + xx] = (y + xx) % 2 ? 1.0f : -1.0f;
    df_params *p = gen_params(g1);
    df_params_zero_grad(p);
    CHECK(gen_backward(g1, dx, tmp) == DF_OK, "backward");
    double g_checker = 0;
    for (size_t k = 0; k < p->total; k++) g_checker += (double)p->grad[k] * p->grad[k];
    for (size_t k = 0; k < n; k++) tmp[k] = 1.0f;
    df_params_zero_grad(p);
    CHECK(gen_forward(g1, d0, x, B, H, W) == DF_OK && gen_backward(g1, dx, tmp) == DF_OK, "backward");
    double g_flat = 0;
    for (size_t k = 0; k < p->total; k++) g_flat += (double)p->grad[k] * p->grad[k];
    CHECK(g_checker < 0.2 * g_flat, "a checker gradient should be blurred away (|g|^2 %g vs %g for a flat one)",
          g_checker, g_flat);
    free(dx);
    gen_free(g1);

    uint8_t *buf;
    size_t len;
    gen_model *re;
    CHECK(gen_save(g2, 0, 0, &buf, &len) == DF_OK, "save");
    CHECK(gen_load(&re, buf, len, 0) == DF_OK && gen_get_config(re)->smooth == 2, "smooth survives save/load");
    CHECK(gen_forward(re, tmp, x, B, H, W) == DF_OK && memcmp(tmp, d2, n * 4) == 0, "reloaded output differs");
    gen_free(re);
    free(buf);
    gen_config bad = {4, 0.6f, 0, GEN_MAX_SMOOTH + 1}, neg = {4, 0.6f, 0, -1};
    CHECK(gen_create(&re, &bad, 1, 0) == DF_ERR_ARG && gen_create(&re, &neg, 1, 0) == DF_ERR_ARG,
          "smooth out of range refused");
    dfw_writer w;
    dfw_writer_init(&w);
    dfw_writer_meta(&w, "arch", GEN_ARCH);
    dfw_writer_meta_int(&w, "width", 4);
    dfw_writer_meta_float(&w, "out_scale", 0.6);
    dfw_writer_meta_int(&w, "smooth", 99);
    CHECK(dfw_writer_finish(&w, &buf, &len) == DF_OK, "writer");
    dfw_writer_free(&w);
    CHECK(gen_load(&re, buf, len, 0) == DF_ERR_FORMAT && re == NULL, "meta smooth 99 refused: %s", df_errmsg());
    free(buf);
    free(x), free(d0), free(d2), free(ref), free(tmp);
    gen_free(g0), gen_free(g2);
}

static void test_protect_budget(void) {
    gen_config cfg = {4, 1.0f, 0, 0}; /* out_scale 1: the raw delta far exceeds eps, so clipping must hold it */
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
    gen_config cfg = {16, 0.1f, 0, 0};
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

/* Inference reuses a few buffers and folds each nearest upsampling into the conv after it (df_upconv3x3_forward);
 * its output must match the training path's (which keeps every activation, upsamples, then convolves, and is
 * checked against tfjs in tests/js/golden.test.mjs) up to float rounding.  Two widths (12: channel counts that are
 * not multiples of 8), several sizes and batches on the same models (re-planning). */
static void test_inference_plan(void) {
    static const int cases[][4] = {/* width, B, H, W */
                                   {4, 2, 40, 24}, {4, 1, 8, 8}, {4, 3, 16, 56}, {12, 1, 64, 48}, {12, 2, 24, 32}};
    gen_model *tr = NULL, *inf = NULL;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int width = cases[k][0], B = cases[k][1], H = cases[k][2], W = cases[k][3];
        if (!tr || gen_get_config(tr)->width != width) {
            gen_free(tr), gen_free(inf);
            gen_config cfg = {width, 0.5f, 0, 0};
            uint8_t *buf;
            size_t len;
            CHECK(gen_create(&tr, &cfg, 21 + k, 1) == DF_OK, "create");
            df_params *p = gen_params(tr);
            df_rng rng;
            df_rng_seed(&rng, 4 + k);
            for (int t = 0; t < p->n; t++) /* non-trivial norms and biases */
                if (!strstr(p->info[t].name, ".w"))
                    for (size_t i = 0; i < p->info[t].count; i++)
                        p->data[p->info[t].offset + i] += 0.3f * df_rng_normal(&rng);
            CHECK(gen_save(tr, 0, 0, &buf, &len) == DF_OK, "save");
            CHECK(gen_load(&inf, buf, len, 0) == DF_OK, "load");
            free(buf);
        }
        size_t n = (size_t)B * 3 * H * W;
        float *x = malloc(n * 4), *d1 = malloc(n * 4), *d2 = malloc(n * 4);
        check_fill(x, n, 8 + (unsigned)k);
        CHECK(gen_forward(tr, d1, x, B, H, W) == DF_OK, "training forward");
        CHECK(gen_forward(inf, d2, x, B, H, W) == DF_OK, "inference forward");
        double err = check_maxrel(d2, d1, n);
        CHECK(err <= 1e-5, "width %d, %d x %d x %d: the inference plan changes the output (max diff %g)", width, B, H,
              W, err);
        CHECK(gen_backward(inf, NULL, d1) != DF_OK, "backward on an inference model is refused");
        if (k % 2) { /* released activations are planned again, the same output */
            gen_release(inf);
            memset(d2, 0, n * 4);
            CHECK(gen_forward(inf, d2, x, B, H, W) == DF_OK, "forward after gen_release");
            CHECK(check_maxrel(d2, d1, n) <= 1e-5, "width %d: the forward after gen_release differs", width);
        }
        free(x), free(d1), free(d2);
    }
    gen_free(tr);
    gen_free(inf);
}

int main(void) {
    test_inference_plan();
    for (int chroma = 0; chroma < 3; chroma++) test_gradients(chroma, 0);
    /* smoothing's backward: exactly, against the unsmoothed Gen (test_smooth_adjoint), since finite differences
     * of the smoothed objective are unreliable in float32 (its curvature; 7 % off along some directions) */
    for (int chroma = 0; chroma < 3; chroma++) test_smooth_adjoint(chroma, 1 + chroma % 2);
    test_chroma();
    test_smooth();
    test_protect_budget();
    test_save_load_flops();
    return check_summary("test_gen");
}
