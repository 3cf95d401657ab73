/* Evaluation pipeline (core/evaluation/eval.h): every protector kind on two images with tiny zoo models, the edits chosen
 * per image, the accumulated metrics against direct computation, and the JSON (syntax, keys, values).
 * Metric values on hand-made cases (identical images, shifts, empty masks) are in test_metrics.c. */
#include <ctype.h>

#include "check.h"
#include "dfw.h"
#include "eval.h"
#include "graph.h"
#include "graph_fixture.h"

#define S 32
#define N (3 * S * S)

/* ------------------------------------------------------------------ a minimal JSON syntax checker */
static const char *ws(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}
static const char *value(const char *p);
static const char *string(const char *p) {
    if (*p++ != '"') return NULL;
    for (; *p && *p != '"'; p++)
        if (*p == '\\' && !*++p) return NULL;
    return *p == '"' ? p + 1 : NULL;
}
static const char *number(const char *p) {
    const char *s = p;
    if (*p == '-') p++;
    if (!isdigit((unsigned char)*p)) return NULL;
    while (isdigit((unsigned char)*p) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-') p++;
    return p > s ? p : NULL;
}
static const char *members(const char *p, char close, int keyed) {
    p = ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
        if (keyed) {
            if (!(p = string(ws(p)))) return NULL;
            p = ws(p);
            if (*p++ != ':') return NULL;
        }
        if (!(p = value(p))) return NULL;
        p = ws(p);
        if (*p == close) return p + 1;
        if (*p++ != ',') return NULL;
    }
}
static const char *value(const char *p) {
    p = ws(p);
    if (*p == '{') return members(p, '}', 1);
    if (*p == '[') return members(p, ']', 0);
    if (*p == '"') return string(p);
    if (!strncmp(p, "null", 4) || !strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    return number(p);
}
static int json_valid(const char *s) {
    const char *e = value(s);
    return e && *ws(e) == 0;
}
/* The number after "key": following the first occurrence of `after` (NAN for null or absent). */
static double json_num(const char *json, const char *after, const char *key) {
    const char *p = after ? strstr(json, after) : json;
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    if (!p || !(p = strstr(p, pat))) return -12345.0;
    p += strlen(pat);
    if (!strncmp(p, "null", 4)) return NAN;
    return strtod(p, NULL);
}

/* ------------------------------------------------------------------ fixtures */
static zoo_model *tiny_model(zoo_family f, uint64_t seed) {
    zoo_config c = zoo_default_config(f);
    c.size = S, c.width = 4, c.dwidth = 2, c.nres = f == ZOO_ATTGAN ? 0 : 1, c.sdim = 4, c.zdim = 2;
    zoo_model *m = NULL;
    if (zoo_create(&m, &c, seed, 0)) fprintf(stderr, "zoo_create: %s\n", df_errmsg());
    return m;
}

/* Smooth test face in [-0.9, 0.9] (no clipping at eps <= 0.1), size F. */
static void face(float *x, int F, unsigned seed) {
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < F; i++)
            for (int j = 0; j < F; j++)
                x[((size_t)c * F + i) * F + j] =
                    0.9f * sinf(0.2f * (float)(i * (c + 1) + seed) / F * 32) * cosf(0.13f * (float)(j + 5 * seed) / F * 32);
}

static double sq_diff(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / n;
}

/* ------------------------------------------------------------------ tests */
static void test_targets(void) {
    float src[5] = {1, 0, 0, 1, 1}, trg[25];
    int n = eval_targets(trg, src, 0, 5);
    CHECK(n == 4, "black-haired face: 4 edits change something (got %d)", n);
    CHECK(trg[0] == 0 && trg[1] == 1 && trg[2] == 0 && trg[3] == 1 && trg[4] == 1, "first edit: blond");
    CHECK(trg[5 + 2] == 1 && trg[5 + 0] == 0, "second edit: brown");
    CHECK(trg[10 + 3] == 0 && trg[15 + 4] == 0, "then Male and Young flipped");
    n = eval_targets(trg, src, 3, 1);
    CHECK(n == 1 && trg[3] == 0 && trg[0] == 1, "index 3 starts with the Male flip");
    n = eval_targets(trg, src, 5, 1);
    CHECK(n == 1 && trg[1] == 1, "index 5 wraps to attribute 0, which is skipped: blond");
    float none[5] = {0, 0, 0, 0, 0};
    CHECK(eval_targets(trg, none, 2, 5) == 5, "no hair colour: all 5 edits change something");
}

static void test_protectors(zoo_model *const *models) {
    float *x = malloc(N * sizeof(float)), *xa = malloc(N * sizeof(float)), *ws = malloc(eval_protect_workspace(2 * S, S) * sizeof(float));
    float *big = malloc(4 * N * sizeof(float)), *biga = malloc(4 * N * sizeof(float));
    float *delta = malloc(N * sizeof(float)), *y0 = malloc(N * sizeof(float)), *y1 = malloc(N * sizeof(float));
    float src[5] = {0, 1, 0, 0, 1}, trg[25];
    int ntrg = eval_targets(trg, src, 0, 2);
    const float eps = 0.05f;
    for (int img = 0; img < 2; img++) {
        face(x, S, 3 + img);
        eval_protector p = {.kind = EVAL_NONE, .eps = eps};
        df_rng_seed(&p.rng, 7 + img);

        CHECK(eval_protect(&p, xa, x, S, x, S, src, trg, ntrg, ws) == DF_OK, "none: %s", df_errmsg());
        CHECK(memcmp(xa, x, N * sizeof(float)) == 0, "none leaves the image unchanged");

        p.kind = EVAL_NOISE;
        CHECK(eval_protect(&p, xa, x, S, x, S, src, trg, ntrg, ws) == DF_OK, "noise");
        double mabs = 0, linf = df_linf(xa, x, N);
        for (int i = 0; i < N; i++) mabs += fabs((double)xa[i] - x[i]) / N;
        CHECK(linf <= eps + 1e-6 && linf > 0.9 * eps, "noise fills [-eps, eps] (%g)", linf);
        CHECK(fabs(mabs - eps / 2) < 0.1 * eps, "uniform noise: mean |d| = eps/2 (%g)", mabs);

        p.kind = EVAL_SIGN_NOISE;
        CHECK(eval_protect(&p, xa, x, S, x, S, src, trg, ntrg, ws) == DF_OK, "sign-noise");
        int pos = 0, exact = 1;
        for (int i = 0; i < N; i++) {
            double d = (double)xa[i] - x[i];
            exact &= fabs(fabs(d) - eps) < 1e-6;
            pos += d > 0;
        }
        CHECK(exact, "sign-noise: every |d| = eps");
        CHECK(pos > N * 0.45 && pos < N * 0.55, "sign-noise: half the signs positive (%d of %d)", pos, N);
        double sign_l2[2];
        for (int m = 0; m < 2; m++) {
            zoo_edit(models[m], y0, x, src, trg, 1);
            zoo_edit(models[m], y1, xa, src, trg, 1);
            sign_l2[m] = sq_diff(y0, y1, N);
        }

        /* universal: clipped to eps; values beyond it exercise the clip */
        for (int i = 0; i < N; i++) delta[i] = 0.1f * sinf(0.37f * i);
        p.kind = EVAL_UNIVERSAL, p.delta = delta, p.dsize = S;
        CHECK(eval_protect(&p, xa, x, S, x, S, src, trg, ntrg, ws) == DF_OK, "universal");
        double err = 0;
        for (int i = 0; i < N; i++) {
            float d = delta[i] < -eps ? -eps : delta[i] > eps ? eps : delta[i];
            err = fmax(err, fabs((double)xa[i] - (x[i] + d)));
        }
        CHECK(err < 1e-6, "universal: x + clip(delta, eps) (err %g)", err);
        /* resized both ways: a constant delta stays constant (16 -> S -> 2S) */
        for (int i = 0; i < 3 * 16 * 16; i++) delta[i] = 0.03f;
        p.dsize = 16;
        face(big, 2 * S, 3 + img);
        CHECK(eval_protect(&p, biga, big, 2 * S, x, S, src, trg, ntrg, ws) == DF_OK, "universal resized");
        err = 0;
        for (int i = 0; i < 4 * N; i++) err = fmax(err, fabs((double)biga[i] - big[i] - 0.03));
        CHECK(err < 1e-6, "universal resized 16 -> 32 -> 64: constant delta kept (err %g)", err);

        /* gen: any size, within eps */
        gen_model *g = NULL;
        gen_config gc = {4, 1.0f, 0, 0};
        CHECK(gen_create(&g, &gc, 11, 0) == DF_OK, "gen_create");
        p.kind = EVAL_GEN, p.gen = g;
        CHECK(eval_protect(&p, biga, big, 2 * S, x, S, src, trg, ntrg, ws) == DF_OK, "gen: %s", df_errmsg());
        linf = df_linf(biga, big, 4 * N);
        CHECK(linf <= eps + 1e-6 && linf > 0, "gen at 64x64 within eps (%g)", linf);
        gen_free(g);

        /* pgd: white box, beats random signs of the same budget on both models; and at full size 2S */
        pgd_ctx *ctx = NULL;
        CHECK(pgd_ctx_create(&ctx) == DF_OK, "pgd_ctx_create");
        p.kind = EVAL_PGD, p.pgd = ctx, p.pgd_opts = pgd_default_opts(), p.pgd_models = models, p.n_pgd_models = 2;
        CHECK(eval_protect(&p, xa, x, S, x, S, src, trg, ntrg, ws) == DF_OK, "pgd: %s", df_errmsg());
        linf = df_linf(xa, x, N);
        CHECK(linf <= eps + 1e-6, "pgd within eps (%g)", linf);
        for (int m = 0; m < 2; m++) {
            zoo_edit(models[m], y0, x, src, trg, 1);
            zoo_edit(models[m], y1, xa, src, trg, 1);
            double l2 = sq_diff(y0, y1, N);
            CHECK(l2 > 2 * sign_l2[m], "pgd disrupts model %d more than sign noise (%g vs %g)", m, l2, sign_l2[m]);
        }
        CHECK(eval_protect(&p, biga, big, 2 * S, x, S, src, trg, ntrg, ws) == DF_OK, "pgd at 2S");
        linf = df_linf(biga, big, 4 * N);
        CHECK(linf <= eps + 1e-6 && linf > 0.5 * eps, "pgd delta upsampled to 64x64 within eps (%g)", linf);
        pgd_ctx_free(ctx);

        p.kind = (eval_kind)99;
        CHECK(eval_protect(&p, xa, x, S, x, S, src, trg, ntrg, ws) != DF_OK, "unknown kind fails");
    }
    free(x), free(xa), free(ws), free(big), free(biga), free(delta), free(y0), free(y1);
}

static void test_accumulate_and_json(zoo_model *const *models) {
    const char *names[2] = {"model-a", "model-b"};
    eval_acc a;
    CHECK(eval_init(&a, models, names, 2, S, NULL) == DF_OK, "eval_init: %s", df_errmsg());
    const char *genders[2] = {"male", "female"};
    CHECK(eval_add_group_kind(&a, "gender", genders, 2) == 0, "group kind");
    float *x = malloc(N * sizeof(float)), *xa = malloc(N * sizeof(float)), *y0 = malloc(N * sizeof(float)),
          *y1 = malloc(N * sizeof(float)), *yc = malloc(2 * N * sizeof(float)), *ya = malloc(2 * N * sizeof(float));
    float src[5] = {0, 0, 1, 1, 0}, trg[25];
    double l2m[2] = {0, 0}, dpix[2] = {0, 0};
    long succ[2] = {0, 0}, pairs = 0;
    double psnr = 0, ssim = 0;
    for (int img = 0; img < 2; img++) {
        face(x, S, 20 + img);
        for (int i = 0; i < N; i++) xa[i] = x[i] + (i % 3 ? 0.05f : -0.05f);
        int ntrg = eval_targets(trg, src, img, 2);
        int groups[1] = {img};
        CHECK(eval_measure(&a, x, xa, src, trg, ntrg, groups, yc, ya) == DF_OK, "measure: %s", df_errmsg());
        CHECK(eval_add_protection(&a, x, xa, S, 1.5, x, xa) == DF_OK, "protection");
        psnr += df_psnr(x, xa, N);
        ssim += df_ssim(x, xa, 3, S, S);
        for (int m = 0; m < 2; m++)
            for (int t = 0; t < ntrg; t++) {
                zoo_edit(models[m], y0, x, src, trg + 5 * t, 1);
                zoo_edit(models[m], y1, xa, src, trg + 5 * t, 1);
                df_disruption d;
                df_disruption_measure(&d, y1, y0, x, S, S);
                l2m[m] += d.l2_mask;
                dpix[m] += d.d_pix;
                succ[m] += d.success;
                if (t == 0) {
                    CHECK(memcmp(yc + m * N, y0, N * sizeof(float)) == 0, "first edit's G(x) returned");
                    CHECK(memcmp(ya + m * N, y1, N * sizeof(float)) == 0, "first edit's G(x_adv) returned");
                }
            }
        pairs += ntrg;
    }
    CHECK(a.m[0].n == pairs && a.nimages == 2, "pair and image counts");
    CHECK(eval_finish(&a) == DF_OK, "finish without MobileNet");
    eval_info info = {"sign-pattern", 0.05, 85, 0.5, "data/dir", "test", 2, NULL};
    char *json = NULL;
    CHECK(eval_json(&a, &info, &json) == DF_OK && json, "json");
    if (json) {
        CHECK(json_valid(json), "JSON syntax:\n%s", json);
        for (int m = 0; m < 2; m++) {
            char key[32];
            snprintf(key, sizeof key, "\"%s\": {\"arch\"", names[m]);
            CHECK_NEAR(json_num(json, key, "l2_mask"), l2m[m] / pairs, 1e-5 * (1 + l2m[m] / pairs), "mean l2_mask");
            CHECK_NEAR(json_num(json, key, "d_pix"), dpix[m] / pairs, 1e-5 * (1 + dpix[m] / pairs), "mean d_pix");
            CHECK_NEAR(json_num(json, key, "success_rate"), (double)succ[m] / pairs, 1e-6, "success rate");
            CHECK(isnan(json_num(json, key, "frechet")), "Frechet null without MobileNet");
        }
        CHECK_NEAR(json_num(json, NULL, "psnr"), psnr / 2, 1e-4, "mean PSNR");
        CHECK_NEAR(json_num(json, NULL, "ssim"), ssim / 2, 1e-5, "mean SSIM");
        CHECK_NEAR(json_num(json, NULL, "linf"), 0.05, 1e-6, "linf");
        CHECK_NEAR(json_num(json, NULL, "ms_per_image"), 1.5, 1e-9, "ms per image");
        CHECK_NEAR(json_num(json, NULL, "jpeg"), 85, 0, "condition jpeg");
        CHECK_NEAR(json_num(json, NULL, "resize"), 0.5, 0, "condition resize");
        CHECK_NEAR(json_num(json, "\"male\"", "pairs"), (double)pairs / 2, 0, "male pairs");
        CHECK_NEAR(json_num(json, "\"female\"", "pairs"), (double)pairs / 2, 0, "female pairs");
        const char *keys[] = {"\"protector\"", "\"eps\"", "\"n\"", "\"condition\"", "\"protection\"", "\"ssim\"",
                              "\"models\"", "\"d_pix_rms\"", "\"d_mask\"", "\"d_mask_rms\"", "\"l2\"", "\"groups\""};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) CHECK(strstr(json, keys[k]), "key %s", keys[k]);
        free(json);
    }
    eval_free(&a);

    /* protector none: everything 0, PSNR undefined (null) */
    CHECK(eval_init(&a, models, names, 2, S, NULL) == DF_OK, "eval_init");
    face(x, S, 30);
    int ntrg = eval_targets(trg, src, 0, 1);
    CHECK(eval_measure(&a, x, x, src, trg, ntrg, NULL, NULL, NULL) == DF_OK, "measure none");
    CHECK(eval_add_protection(&a, x, x, S, 0.0, NULL, NULL) == DF_OK, "protection none");
    eval_info info0 = {"none", 0.05, 0, 0, "d\"ir\\", "all", 1, NULL};
    CHECK(eval_json(&a, &info0, &json) == DF_OK, "json none");
    CHECK(json_valid(json), "JSON syntax with escaped strings:\n%s", json);
    CHECK(isnan(json_num(json, NULL, "psnr")) && isnan(json_num(json, NULL, "jpeg")), "psnr and jpeg null");
    CHECK(json_num(json, NULL, "success_rate") == 0 && json_num(json, NULL, "l2_mask") == 0, "none: zero disruption");
    CHECK(strstr(json, "\"groups\": {}"), "no groups: empty object");
    free(json);
    eval_free(&a);

    /* wrong model size is refused */
    zoo_config c = zoo_default_config(ZOO_STARGAN);
    c.size = 64, c.width = 2, c.dwidth = 2, c.nres = 0;
    zoo_model *big = NULL;
    zoo_create(&big, &c, 1, 0);
    zoo_model *mix[2] = {models[0], big};
    CHECK(eval_init(&a, mix, names, 2, S, NULL) != DF_OK, "models of another size are refused");
    eval_free(&a);
    zoo_free(big);
    free(x), free(xa), free(y0), free(y1), free(yc), free(ya);
}

/* Imported targets: each at its own side, metrics of tanh(x) computed here directly, the JSON names them. */
static void test_imported(zoo_model *const *models) {
    const int G = 2 * S;
    const size_t NG = 3 * (size_t)G * G;
    graph_model *g = NULL, *gray = NULL;
    CHECK(tiny_graph(&g, G, 0, 3) == DF_OK, "tiny graph: %s", df_errmsg());
    CHECK(tiny_graph(&gray, G, 1, 1) == DF_OK, "tiny 3 -> 1 graph: %s", df_errmsg());
    if (!g || !gray) {
        graph_free(g), graph_free(gray);
        return;
    }
    const char *names[2] = {"model-a", "model-b"};
    eval_acc a;
    CHECK(eval_init(&a, models, names, 2, S, NULL) == DF_OK, "eval_init: %s", df_errmsg());
    CHECK(eval_add_graph(&a, gray, "gray") != DF_OK, "a model with one output channel is refused");
    CHECK(eval_add_graph(&a, g, "cartoon") == DF_OK, "eval_add_graph: %s", df_errmsg());
    CHECK(a.nmodels == 3 && a.nzoo == 2 && a.m[2].size == G, "targets: %d, zoo %d", a.nmodels, a.nzoo);
    float *x = malloc(NG * sizeof(float)), *xa = malloc(NG * sizeof(float)), *y0 = malloc(NG * sizeof(float)),
          *y1 = malloc(NG * sizeof(float));
    double l2m = 0, dmask = 0;
    long succ = 0;
    for (int img = 0; img < 3; img++) {
        face(x, G, 40 + img);
        for (size_t i = 0; i < NG; i++) xa[i] = x[i] + (img == 2 ? 0.0f : img == 1 ? 0.04f : (i % 2 ? 0.6f : -0.6f));
        CHECK(eval_measure_graph(&a, 2, x, xa, NULL) == DF_OK, "measure graph: %s", df_errmsg());
        for (size_t i = 0; i < NG; i++) y0[i] = tanhf(x[i]), y1[i] = tanhf(xa[i]);
        df_disruption d;
        df_disruption_measure(&d, y1, y0, x, G, G);
        l2m += d.l2_mask, dmask += d.d_mask, succ += d.success;
    }
    CHECK(eval_measure_graph(&a, 1, x, xa, NULL) != DF_OK, "a zoo index is refused by eval_measure_graph");
    CHECK(a.m[2].n == 3 && a.m[0].n == 0, "pairs: imported %ld, zoo %ld", a.m[2].n, a.m[0].n);
    char *json = NULL;
    eval_info info = {"noise", 0.05, 0, 0, "d", "test", 1, "jitter"};
    CHECK(eval_json(&a, &info, &json) == DF_OK && json && json_valid(json), "json with an imported model");
    if (json) {
        const char *key = "\"cartoon\": {\"arch\": \"" GRAPH_ARCH "\"";
        CHECK(strstr(json, key), "imported model named with its arch:\n%s", json);
        CHECK_NEAR(json_num(json, key, "size"), G, 0, "its side");
        CHECK_NEAR(json_num(json, key, "l2_mask"), l2m / 3, 1e-5 * (1 + l2m / 3), "mean l2_mask");
        CHECK_NEAR(json_num(json, key, "d_mask"), dmask / 3, 1e-5 * (1 + dmask / 3), "mean d_mask");
        CHECK_NEAR(json_num(json, key, "success_rate"), succ / 3.0, 1e-6, "success rate");
        CHECK(succ >= 1 && succ <= 2, "the fixture has a broken and an untouched pair (%ld)", succ);
        free(json);
    }
    eval_free(&a);
    /* imported models alone (no zoo model) */
    CHECK(eval_init(&a, NULL, NULL, 0, S, NULL) == DF_OK && eval_add_graph(&a, g, NULL) == DF_OK,
          "imported models alone: %s", df_errmsg());
    face(x, G, 50);
    CHECK(eval_measure_graph(&a, 0, x, x, NULL) == DF_OK && a.m[0].n == 1 && a.m[0].success == 0, "unchanged: no success");
    eval_free(&a);
    graph_free(g), graph_free(gray);
    free(x), free(xa), free(y0), free(y1);
}

int main(void) {
    df_set_threads(1);
    zoo_model *models[2] = {tiny_model(ZOO_STARGAN, 1), tiny_model(ZOO_ATTGAN, 2)};
    CHECK(models[0] && models[1], "tiny models");
    if (models[0] && models[1]) {
        test_targets();
        test_protectors(models);
        test_accumulate_and_json(models);
        test_imported(models);
    }
    zoo_free(models[0]);
    zoo_free(models[1]);
    return check_summary("test_eval");
}
