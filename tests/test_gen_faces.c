/* Scale-matched protection (core/networks/gen_faces.h): against gen_protect_rgb8 where both must agree (a square
 * that is the whole photo at the working size) and against stb's bicubic upsampling of Gen's delta (twice the
 * working size), the eps bound, untouched pixels outside the
 * squares, alpha, the feathered border, overlapping and partly outside squares, and refused arguments. */
#include "check.h"
#include "gen_faces.h"

static gen_model *strong_gen(void) {
    gen_config cfg = {4, 1.0f, 0, 0};
    gen_model *g = NULL;
    CHECK(gen_create(&g, &cfg, 3, 0) == DF_OK, "create: %s", df_errmsg());
    /* a large raw delta, so that clipping to eps is exercised everywhere */
    df_params *p = gen_params(g);
    float *w = df_params_get(p, df_params_find(p, "out.w"));
    for (int i = 0; i < 4 * 9 * 3; i++) w[i] *= 50.0f;
    return g;
}

static uint8_t *photo(int W, int H, int st, unsigned seed) {
    uint8_t *p = malloc((size_t)W * H * st);
    unsigned r = seed;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < st; c++) {
                r = r * 1103515245u + 12345u;
                /* a smooth face-like pattern plus a little noise; alpha varies */
                int v = 128 + (int)(60 * sin(x * 0.11 + c) * cos(y * 0.07)) + (int)((r >> 16) % 9) - 4;
                p[((size_t)y * W + x) * st + c] = (uint8_t)(c == 3 ? (x * 7 + y) & 255 : v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

static int maxdiff(const uint8_t *a, const uint8_t *b, size_t n, int st, int ch) {
    int m = 0;
    for (size_t i = 0; i < n; i++)
        if ((int)(i % st) < ch || ch < 0) m = abs(a[i] - b[i]) > m ? abs(a[i] - b[i]) : m;
    return m;
}

/* One square = the whole photo: at the working size, the same as protecting the whole photo with gen_protect_rgb8
 * (no resampling); at twice it, Gen's delta on the area-shrunk photo upsampled by stb's Catmull-Rom resize
 * (rs_resize_planar, an implementation independent of the warp that gen_faces uses), clipped and rounded, and so
 * is gen_protect_rgb8 at that working side (its delta streamed in bands). */
static void test_whole_photo_agrees(gen_model *g) {
    const int S = 64;
    const float eps = 0.05f;
    for (int k = 1; k <= 2; k++) {
        int W = k * S;
        size_t n = (size_t)W * W * 3;
        uint8_t *in = photo(W, W, 3, 7u + k), *a = malloc(n), *b = malloc(n);
        gf_square q = {W / 2.0, W / 2.0, W};
        CHECK(gf_protect_rgb8(g, a, in, W, W, 3, eps, &q, 1, S, 0.0f, NULL, NULL) == DF_OK, "faces: %s", df_errmsg());
        if (k == 1) {
            CHECK(gen_protect_rgb8(g, b, in, W, W, 3, eps, 0, NULL, NULL) == DF_OK, "photo: %s", df_errmsg());
        } else {
            size_t ns = (size_t)3 * S * S;
            float *xs = malloc(ns * sizeof(float)), *xa = malloc(ns * sizeof(float)), *up = malloc(n * sizeof(float));
            CHECK(rs_crop_u8_planar(xs, S, S, in, W, W, 3, 0, 0, W, W, RS_AREA) == DF_OK, "%s", df_errmsg());
            CHECK(gen_protect(g, xa, xs, S, S, eps) == DF_OK, "%s", df_errmsg());
            for (size_t i = 0; i < ns; i++) xa[i] -= xs[i];
            CHECK(rs_resize_planar(up, W, W, xa, 3, S, S, RS_BICUBIC_AA) == DF_OK, "%s", df_errmsg());
            for (int c = 0; c < 3; c++)
                for (size_t p = 0; p < (size_t)W * W; p++) {
                    float d = up[(size_t)c * W * W + p], v = in[3 * p + c] + 127.5f * (d < -eps ? -eps : d > eps ? eps : d);
                    b[3 * p + c] = (uint8_t)lrintf(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            free(xs), free(xa), free(up);
        }
        int d = maxdiff(a, b, n, 3, -1), changed = maxdiff(a, in, n, 3, -1);
        size_t off = 0;
        for (size_t i = 0; i < n; i++) off += a[i] != b[i];
        CHECK(d <= 1 && off * 100 < n, "%dx%d: the face path differs from the reference by up to %d levels in %zu "
              "bytes", W, W, d, off);
        CHECK(changed >= 5, "%dx%d: the protection changed at most %d levels", W, W, changed);
        if (k == 2) { /* the whole-photo path at working side S delivers its delta the same way */
            CHECK(gen_protect_rgb8(g, a, in, W, W, 3, eps, S, NULL, NULL) == DF_OK, "photo: %s", df_errmsg());
            d = maxdiff(a, b, n, 3, -1), off = 0;
            for (size_t i = 0; i < n; i++) off += a[i] != b[i];
            CHECK(d <= 1 && off * 100 < n, "%dx%d at working side %d: gen_protect_rgb8 differs from the reference by up "
                  "to %d levels in %zu bytes", W, W, S, d, off);
        }
        free(in), free(a), free(b);
    }
}

static void test_squares(gen_model *g) {
    const int W = 157, H = 131, st = 4, S = 64;
    const float eps = 0.04f;
    uint8_t *in = photo(W, H, st, 11), *out = malloc((size_t)W * H * st), *again = malloc((size_t)W * H * st);
    gf_square q[3] = {{50, 60, 70}, {90, 70, 80}, {150, 10, 40}};
    CHECK(gf_protect_rgb8(g, out, in, W, H, st, eps, q, 3, S, 0.1f, NULL, NULL) == DF_OK, "protect: %s", df_errmsg());
    int bound = (int)floor(eps * 127.5 + 0.5), worst = 0, outside_changed = 0, alpha = 0, inside = 0, border = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t p = ((size_t)y * W + x) * st;
            int in_any = 0;
            double dmax = 0; /* the deepest any square covers the pixel */
            for (int i = 0; i < 3; i++) {
                double px = x + 0.5, py = y + 0.5, h = q[i].side / 2;
                double d = fmin(fmin(px - (q[i].cx - h), q[i].cx + h - px), fmin(py - (q[i].cy - h), q[i].cy + h - py));
                if (d > 0) in_any = 1;
                if (d > dmax) dmax = d;
            }
            for (int c = 0; c < 3; c++) {
                int d = abs(out[p + c] - in[p + c]);
                worst = d > worst ? d : worst;
                if (!in_any && d) outside_changed++;
                if (in_any && d) inside++;
                /* within a pixel of a border that no other square covers deeply: the feather has faded it */
                if (in_any && dmax < 1.0 && d > border) border = d;
            }
            alpha += out[p + 3] != in[p + 3];
        }
    CHECK(worst <= bound, "a pixel moved %d levels (bound %d)", worst, bound);
    CHECK(outside_changed == 0, "%d bytes outside every square changed", outside_changed);
    CHECK(alpha == 0, "%d alpha bytes changed", alpha);
    CHECK(inside > 1000, "only %d bytes inside the squares changed", inside);
    CHECK(border <= 2, "the feathered border still moves %d levels", border);
    memcpy(again, in, (size_t)W * H * st);
    CHECK(gf_protect_rgb8(g, again, again, W, H, st, eps, q, 3, S, 0.1f, NULL, NULL) == DF_OK, "in place");
    CHECK(memcmp(again, out, (size_t)W * H * st) == 0, "in place differs");
    /* no faces, or only outside the photo: unchanged */
    gf_square far = {-500, -500, 100};
    CHECK(gf_protect_rgb8(g, again, in, W, H, st, eps, &far, 1, S, 0.1f, NULL, NULL) == DF_OK &&
              memcmp(again, in, (size_t)W * H * st) == 0, "a square outside the photo changed it");
    CHECK(gf_protect_rgb8(g, again, in, W, H, st, eps, NULL, 0, S, 0.1f, NULL, NULL) == DF_OK &&
              memcmp(again, in, (size_t)W * H * st) == 0, "no faces changed the photo");
    free(in), free(out), free(again);
}

static void test_refused(gen_model *g) {
    uint8_t px[3 * 64 * 64] = {0}, out[3 * 64 * 64];
    gf_square ok = {32, 32, 64}, nan_sq = {NAN, 32, 64}, tiny = {32, 32, 1}, huge = {32, 32, 64 * 64};
    CHECK(gf_protect_rgb8(g, out, px, 64, 64, 3, 0.05f, &ok, -1, 64, 0, NULL, NULL) == DF_ERR_ARG, "n -1");
    CHECK(gf_protect_rgb8(g, out, px, 64, 64, 3, 0.05f, &ok, 1, 60, 0, NULL, NULL) == DF_ERR_ARG, "S 60");
    CHECK(gf_protect_rgb8(g, out, px, 64, 64, 3, 0.05f, &ok, 1, 64, 0.6f, NULL, NULL) == DF_ERR_ARG, "feather");
    CHECK(gf_protect_rgb8(g, out, px, 64, 64, 2, 0.05f, &ok, 1, 64, 0, NULL, NULL) == DF_ERR_ARG, "stride 2");
    CHECK(gf_protect_rgb8(g, out, px, 64, 64, 3, -1.0f, &ok, 1, 64, 0, NULL, NULL) == DF_ERR_ARG, "eps -1");
    CHECK(gf_protect_rgb8(g, out, px, 64, 64, 3, 0.05f, &nan_sq, 1, 64, 0, NULL, NULL) == DF_ERR_ARG, "NaN centre");
    CHECK(gf_protect_rgb8(g, out, px, 64, 64, 3, 0.05f, &tiny, 1, 64, 0, NULL, NULL) == DF_ERR_ARG, "side 1");
    CHECK(gf_protect_rgb8(g, out, px, 64, 64, 3, 0.05f, &huge, 1, 64, 0, NULL, NULL) == DF_ERR_ARG, "side 4096");
    CHECK(gf_protect_rgb8(g, out, px, 64, 64, 3, 0.05f, NULL, 1, 64, 0, NULL, NULL) == DF_ERR_ARG, "NULL squares");
    CHECK(gf_protect_rgb8(g, out, px, 0, 64, 3, 0.05f, &ok, 1, 64, 0, NULL, NULL) == DF_ERR_ARG, "width 0");
}

/* gf_protect_photo, the photo-level entry point, without a detector: --no-detect and no detector run
 * gen_protect_rgb8 at the working side, given squares run gf_protect_rgb8 on those inside the photo (the others
 * dropped), progress ends at 1, refused arguments leave a result that says nothing was protected. */
static void last_progress(void *ctx, float done) { *(float *)ctx = done; }
static void test_photo(gen_model *g) {
    const int W = 150, H = 110, st = 4, S = 64;
    const float eps = 0.04f;
    size_t n = (size_t)W * H * st;
    uint8_t *in = photo(W, H, st, 11u), *a = malloc(n), *b = malloc(n);
    gf_photo_opts o = gf_photo_default_opts();
    gf_photo_result r;
    CHECK(o.face_size == 128 && o.work_side == GF_WORK_FACE && o.whole_if_no_face == 1 && fabsf(o.eps - 0.05f) < 1e-7f,
          "default options");
    /* the default whole-photo path: the photo as one face crop, its short side at face_size (hand-computed sides) */
    CHECK(gf_face_work_side(178, 218, 128) == 157 && gf_face_work_side(4000, 3000, 128) == 171 &&
              gf_face_work_side(4096, 4096, 128) == 171 && gf_face_work_side(16384, 4096, 64) == 683 &&
              gf_face_work_side(100, 100, 128) == 128 && gf_face_work_side(3000, 4000, 256) == 341 &&
              gf_face_work_side(10000, 500, 128) == GF_WORK_FACE_MAX && gf_face_work_side(0, 5, 128) == GF_WORK_FACE_MAX,
          "gf_face_work_side");
    o.eps = eps, o.face_size = S, o.no_detect = 1;
    CHECK(gf_protect_photo(g, NULL, a, in, W, H, st, &o, &r, NULL, NULL) == DF_OK, "%s", df_errmsg());
    CHECK(gen_protect_rgb8(g, b, in, W, H, st, eps, 87, NULL, NULL) == DF_OK, "%s", df_errmsg()); /* 64 * 150 / 110 */
    CHECK(memcmp(a, b, n) == 0, "whole photo at the face scale differs from gen_protect_rgb8 at 87 x 64");
    CHECK(gen_protect_rgb8(g, b, in, W, H, st, eps, 96, NULL, NULL) == DF_OK && memcmp(a, b, n) != 0,
          "the face scale is not the 96 working side");
    o.work_side = -2;
    CHECK(gf_protect_photo(g, NULL, a, in, W, H, st, &o, &r, NULL, NULL) == DF_ERR_ARG, "work_side -2 refused");
    o.work_side = GF_WORK_FACE, o.face_size = 60;
    CHECK(gf_protect_photo(g, NULL, a, in, W, H, st, &o, &r, NULL, NULL) == DF_ERR_ARG, "face_size 60 refused");
    o.no_detect = 0;
    o.eps = eps, o.face_size = S, o.work_side = 96;
    for (int no_detect = 1; no_detect >= 0; no_detect--) {
        o.no_detect = no_detect;
        float last = -1;
        CHECK(gf_protect_photo(g, NULL, a, in, W, H, st, &o, &r, last_progress, &last) == DF_OK, "%s",
              df_errmsg());
        CHECK(gen_protect_rgb8(g, b, in, W, H, st, eps, 96, NULL, NULL) == DF_OK, "%s", df_errmsg());
        CHECK(memcmp(a, b, n) == 0, "whole photo (no_detect %d) differs from gen_protect_rgb8", no_detect);
        CHECK(r.det == (no_detect ? GF_DET_OFF : GF_DET_NO_DETECTOR) && r.nsq == 0 && r.protected_whole == 1,
              "result: det %d nsq %d whole %d", (int)r.det, r.nsq, r.protected_whole);
        CHECK(last == 1.0f, "progress ended at %g", last);
    }
    gf_square given[3] = {{40, 50, 70}, {-400, 50, 70}, {120, 60, 50}};
    o.no_detect = 0, o.given = given, o.ngiven = 3;
    memcpy(a, in, n);
    CHECK(gf_protect_photo(g, NULL, a, a, W, H, st, &o, &r, NULL, NULL) == DF_OK, "given, in place: %s", df_errmsg());
    gf_square inside[2] = {given[0], given[2]};
    CHECK(gf_protect_rgb8(g, b, in, W, H, st, eps, inside, 2, S, GF_FEATHER, NULL, NULL) == DF_OK, "%s", df_errmsg());
    CHECK(memcmp(a, b, n) == 0, "given squares differ from gf_protect_rgb8 on the two inside the photo");
    CHECK(r.det == GF_DET_GIVEN && r.nsq == 2 && r.sq[1].cx == 120 && !r.protected_whole, "given: det %d nsq %d",
          (int)r.det, r.nsq);
    o.ngiven = 1, o.given = &given[1];
    CHECK(gf_protect_photo(g, NULL, a, in, W, H, st, &o, &r, NULL, NULL) == DF_ERR_ARG && r.nsq == 0,
          "only a square outside the photo: refused");
    o.ngiven = GF_MAX_FACES + 1;
    CHECK(gf_protect_photo(g, NULL, a, in, W, H, st, &o, &r, NULL, NULL) == DF_ERR_ARG, "too many squares");
    o.ngiven = 0;
    CHECK(gf_protect_photo(g, NULL, a, in, W, H, 2, &o, &r, NULL, NULL) == DF_ERR_ARG, "stride 2");
    CHECK(gf_protect_photo(g, NULL, a, in, 0, H, st, &o, &r, NULL, NULL) == DF_ERR_ARG, "width 0");
    CHECK(gf_protect_photo(NULL, NULL, a, in, W, H, st, &o, &r, NULL, NULL) == DF_ERR_ARG, "no Gen");
    CHECK(gf_protect_photo(g, NULL, a, in, W, H, st, NULL, &r, NULL, NULL) == DF_ERR_ARG, "no options");
    CHECK(!strcmp(gf_detection_name(GF_DET_NO_FACE), "no_face") && !strcmp(gf_detection_name((gf_detection)99), "unknown"),
          "detection names");
    free(in), free(a), free(b);
}

int main(void) {
    gen_model *g = strong_gen();
    test_whole_photo_agrees(g);
    test_squares(g);
    test_refused(g);
    test_photo(g);
    gen_free(g);
    return check_summary("test_gen_faces");
}
