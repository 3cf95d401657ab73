/* core/layers/resample.h and core/evaluation/attack.h: the differentiable warp against finite differences and against a direct
 * evaluation of its kernels, the real resizes (stb_image_resize2) against the warp, the attacker's pipeline
 * (specs, samples, real against differentiable), bad parameters refused. */
#include <math.h>
#include <stdint.h>

#include "attack.h"
#include "augment.h"
#include "gradcheck.h"
#include "image.h"
#include "resample.h"

/* ------------------------------------------------------------------ finite-difference adjoint */
typedef struct {
    float *out;
    const float *in;
    const rs_affine *m;
    const int *k;
    int B, C, H, W, OH, OW;
} warp_ctx;

static void warp_fwd(void *p) {
    warp_ctx *c = p;
    rs_warp_forward(c->out, c->in, c->m, c->k, c->B, c->C, c->H, c->W, c->OH, c->OW);
}

static void test_adjoint(void) {
    /* every kernel, a shrink (antialiasing widens), a rotation, an enlargement and a crop reaching outside */
    int B = RS_NKERNELS, C = 2, H = 13, W = 11, OH = 7, OW = 9;
    rs_affine m[RS_NKERNELS];
    int k[RS_NKERNELS];
    for (int b = 0; b < B; b++) {
        k[b] = b;
        double side = b % 2 ? 14.0 : 6.5, th = 0.15 * (b - 2);
        m[b] = rs_square_map(5.3 + 0.4 * b, 6.1 - 0.3 * b, side, th, OH);
        m[b].a[0] *= (double)OH / OW; /* a non-square output too */
        m[b].a[3] *= (double)OH / OW;
    }
    CHECK(rs_warp_check(m, k, B, C, H, W, OH, OW) == DF_OK, "valid warp refused: %s", df_errmsg());
    size_t nin = (size_t)B * C * H * W, nout = (size_t)B * C * OH * OW;
    float *in = gc_buf(nin, 1), *out = gc_buf(nout, 2), *w = gc_buf(nout, 3), *din = gc_buf(nin, 4);
    rs_warp_forward(out, in, m, k, B, C, H, W, OH, OW);
    rs_warp_backward(din, w, m, k, B, C, H, W, OH, OW);
    gc_unfill(din, nin, 4); /* backward accumulates */
    warp_ctx c = {out, in, m, k, B, C, H, W, OH, OW};
    gc_op op = {warp_fwd, &c, out, nout, w};
    gc_check("warp: finite differences of <w, W x>", &op, in, nin, din, 1e-2f, 1e-4);
    /* the adjoint identity in double: <W x, y> = <x, W^T y> */
    float *y = gc_buf(nout, 5), *wy = calloc(nin, sizeof(float));
    rs_warp_forward(out, in, m, k, B, C, H, W, OH, OW);
    rs_warp_backward(wy, y, m, k, B, C, H, W, OH, OW);
    double l = 0, r = 0, mag = 0;
    for (size_t i = 0; i < nout; i++) l += (double)out[i] * y[i], mag += fabs((double)out[i] * y[i]);
    for (size_t i = 0; i < nin; i++) r += (double)in[i] * wy[i];
    CHECK(fabs(l - r) <= 1e-5 * mag, "adjoint identity: %.9g vs %.9g", l, r);
    free(in), free(out), free(w), free(din), free(y), free(wy);
}

/* ------------------------------------------------------------------ the kernels, evaluated independently */
static double keys(double t, double a) {
    t = fabs(t);
    return t < 1 ? (a + 2) * t * t * t - (a + 3) * t * t + 1 : t < 2 ? a * t * t * t - 5 * a * t * t + 8 * a * t - 4 * a : 0;
}

/* One output sample of a 1-D signal (edge-clamped) through the kernel at centre u with footprint f. */
static double ref_sample(const float *sig, int n, double u, double f, int k) {
    double acc = 0, wsum = 0;
    for (int i = -40; i < n + 40; i++) {
        double c = i + 0.5, t = (c - u) / f, wgt;
        switch (k) {
        case RS_BILINEAR: case RS_TRIANGLE_AA: wgt = fmax(0, 1 - fabs(t)); break;
        case RS_BICUBIC: wgt = keys(t, -0.75); break;
        case RS_BICUBIC_AA: wgt = keys(t, -0.5); break;
        default: wgt = fmax(0, fmin(c + 0.5, u + f / 2) - fmax(c - 0.5, u - f / 2)); break; /* area */
        }
        int j = i < 0 ? 0 : i >= n ? n - 1 : i;
        acc += wgt * sig[j];
        wsum += wgt;
    }
    return acc / wsum;
}

static void test_kernels(void) {
    /* a 1-row image resized 12 -> 5 (shrink 2.4: widened kernels) and 12 -> 17 (enlargement) */
    float sig[12];
    check_fill(sig, 12, 9);
    for (int k = 0; k < RS_NKERNELS; k++)
        for (int OWi = 0; OWi < 2; OWi++) {
            int OW = OWi ? 17 : 5;
            rs_affine m = rs_rect_map(0, 0, 12, 1, OW, 1);
            float out[17];
            rs_warp_forward(out, sig, &m, &k, 1, 1, 1, 12, 1, OW);
            double f = rs_kernel_antialiased(k) && OW < 12 ? 12.0 / OW : 1.0, err = 0;
            for (int x = 0; x < OW; x++) err = fmax(err, fabs(out[x] - ref_sample(sig, 12, (x + 0.5) * 12.0 / OW, f, k)));
            CHECK(err < 1e-5, "kernel %s, 12 -> %d: error %.3g against the direct evaluation", rs_kernel_name(k), OW, err);
        }
    /* the identity map copies exactly; a half-pixel shift with bilinear averages neighbours */
    float img[4 * 6], o[4 * 6];
    check_fill(img, 24, 3);
    rs_affine id = rs_square_map(3, 2, 4, 0, 4);
    id = rs_rect_map(0, 0, 6, 4, 6, 4);
    int kb = RS_BILINEAR;
    rs_warp_forward(o, img, &id, &kb, 1, 1, 4, 6, 4, 6);
    CHECK(memcmp(o, img, sizeof img) == 0, "identity map must copy");
    rs_affine sh = rs_rect_map(0.5, 0, 6, 4, 6, 4);
    rs_warp_forward(o, img, &sh, &kb, 1, 1, 4, 6, 4, 6);
    CHECK(fabsf(o[2] - 0.5f * (img[2] + img[3])) < 1e-6f, "half-pixel shift: %g vs %g", o[2], 0.5f * (img[2] + img[3]));
    /* names */
    for (int k = 0; k < RS_NKERNELS; k++) CHECK(rs_kernel_parse(rs_kernel_name(k)) == k, "kernel name round trip %d", k);
    CHECK(rs_kernel_parse("lanczos") == -1 && rs_kernel_parse(NULL) == -1, "unknown kernel names refused");
}

/* Axis-aligned maps (the fast path with per-column and per-row taps) against a separable double-precision
 * evaluation of the kernels and against the per-pixel path (a map with a1 = 1e-300 takes it and samples the same
 * points): every kernel, shrinking along x and enlarging along y and the reverse, crops reaching outside. */
static void test_axis_aligned(void) {
    int C = 2, H = 13, W = 11;
    float *in = gc_buf((size_t)C * H * W, 7);
    for (int k = 0; k < RS_NKERNELS; k++)
        for (int v = 0; v < 2; v++) {
            int OW = v ? 17 : 4, OH = v ? 5 : 19;
            double x0 = v ? -2.5 : 1.25, y0 = v ? 0.75 : -3.0, w = v ? 9.5 : 10.0, h = v ? 14.0 : 12.5;
            rs_affine m = rs_rect_map(x0, y0, w, h, OW, OH), g = m;
            g.a[1] = 1e-300;
            CHECK(rs_warp_check(&m, &k, 1, C, H, W, OH, OW) == DF_OK, "axis-aligned warp refused: %s", df_errmsg());
            float *fast = malloc(sizeof(float) * C * OH * OW), *slow = malloc(sizeof(float) * C * OH * OW);
            rs_warp_forward(fast, in, &m, &k, 1, C, H, W, OH, OW);
            rs_warp_forward(slow, in, &g, &k, 1, C, H, W, OH, OW);
            CHECK(memcmp(fast, slow, sizeof(float) * C * OH * OW) == 0, "kernel %s: axis-aligned path differs from the "
                  "per-pixel path", rs_kernel_name(k));
            double fx = rs_kernel_antialiased(k) && w / OW > 1 ? w / OW : 1.0, fy = rs_kernel_antialiased(k) && h / OH > 1 ? h / OH : 1.0;
            double err = 0;
            float *col = malloc(sizeof(float) * H);
            for (int c = 0; c < C; c++)
                for (int x = 0; x < OW; x++) {
                    double u = x0 + (x + 0.5) * w / OW;
                    for (int y = 0; y < H; y++) col[y] = (float)ref_sample(in + ((size_t)c * H + y) * W, W, u, fx, k);
                    for (int y = 0; y < OH; y++) {
                        double r = ref_sample(col, H, y0 + (y + 0.5) * h / OH, fy, k);
                        err = fmax(err, fabs(fast[((size_t)c * OH + y) * OW + x] - r));
                    }
                }
            CHECK(err < 1e-5, "kernel %s, axis-aligned %dx%d -> %dx%d: error %.3g against the direct evaluation",
                  rs_kernel_name(k), W, H, OW, OH, err);
            free(fast), free(slow), free(col);
        }
    free(in);
}

/* ------------------------------------------------------------------ streamed enlargement
 * rs_upsample_rows (bilinear written out; bicubic-aa through stb in bands) against the warp of the whole image:
 * every row once, in order, the same values up to float rounding. */
typedef struct {
    const float *want; /* [C, H, W] */
    int C, H, W, next;
    double err;
} rows_probe;

static void probe_row(void *ctx, int y, const float *r) {
    rows_probe *p = ctx;
    if (y != p->next++) p->err = INFINITY;
    for (int c = 0; c < p->C; c++)
        for (int x = 0; x < p->W; x++)
            p->err = fmax(p->err, fabs(r[(size_t)c * p->W + x] - p->want[((size_t)c * p->H + y) * p->W + x]));
}

static void test_upsample_rows(void) {
    const int sizes[][4] = {{5, 7, 5, 7}, {7, 5, 161, 93}, {20, 13, 460, 300}, {13, 9, 14, 1000}, {1, 1, 3, 70}};
    const rs_kernel ks[] = {RS_BILINEAR, RS_TRIANGLE_AA, RS_BICUBIC_AA};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++)
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
            int w = sizes[t][0], h = sizes[t][1], W = sizes[t][2], H = sizes[t][3], C = 3, k = ks[j];
            float *in = gc_buf((size_t)C * h * w, 11 + (unsigned)t), *want = malloc(sizeof(float) * C * H * W);
            rs_affine m = rs_rect_map(0, 0, w, h, W, H);
            rs_warp_forward(want, in, &m, &k, 1, C, h, w, H, W);
            rows_probe p = {want, C, H, W, 0, 0};
            CHECK(rs_upsample_rows(in, C, h, w, W, H, (rs_kernel)k, probe_row, &p) == DF_OK, "%s", df_errmsg());
            CHECK(p.next == H && p.err < 1e-5, "upsample_rows %s %dx%d -> %dx%d: %d rows, error %.3g against the warp",
                  rs_kernel_name(k), w, h, W, H, p.next, p.err);
            free(in), free(want);
        }
    float one = 1;
    rows_probe p = {&one, 1, 1, 1, 0, 0};
    CHECK(rs_upsample_rows(&one, 1, 1, 1, 1, 1, RS_AREA, probe_row, &p) == DF_ERR_ARG, "area refused");
    CHECK(rs_upsample_rows(&one, 1, 2, 2, 1, 1, RS_BILINEAR, probe_row, &p) == DF_ERR_ARG, "a shrink refused");
    CHECK(rs_upsample_rows(&one, 5, 1, 1, 2, 2, RS_BILINEAR, probe_row, &p) == DF_ERR_ARG, "5 channels refused");
}

/* ------------------------------------------------------------------ real (stb) against the warp */
static void test_real_vs_warp(void) {
    int W = 61, H = 75, S = 32;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    float *plan = malloc(sizeof(float) * 3 * W * H), *a = malloc(sizeof(float) * 3 * S * S), *b = malloc(sizeof(float) * 3 * S * S);
    /* a smooth picture with an edge (what faces have), 8-bit */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                double v = 128 + 90 * sin(0.21 * x + 0.5 * c) * cos(0.13 * y) + (x > 30 ? 20 : -20);
                rgb[((size_t)y * W + x) * 3 + c] = (uint8_t)lround(fmin(255, fmax(0, v)));
            }
    df_rgb8_to_planar(plan, rgb, W, H, 3);
    for (int k = 0; k < RS_NKERNELS; k++) {
        /* crops inside the image and one reaching 4 pixels over the left edge (edges clamp) */
        double x0s[2] = {9.3, -4.0};
        for (int j = 0; j < 2; j++) {
            double x0 = x0s[j], y0 = 12.7, side = 45.5;
            CHECK(rs_crop_u8_planar(a, S, S, rgb, W, H, 3, x0, y0, side, side, k) == DF_OK, "crop: %s", df_errmsg());
            rs_affine m = rs_rect_map(x0, y0, side, side, S, S);
            int kk = k;
            rs_warp_forward(b, plan, &m, &kk, 1, 3, H, W, S, S);
            double e = 0;
            for (size_t i = 0; i < (size_t)3 * S * S; i++) e = fmax(e, fabs(a[i] - b[i]));
            /* the real one is rounded to 8 bits: half a level is 0.0039 on the [-1, 1] scale */
            CHECK(e <= 0.0045, "kernel %s, crop at x0 = %g: real (stb) and differentiable differ by %.4g", rs_kernel_name(k), x0, e);
        }
    }
    /* whole-image resizes: 8-bit and planar float agree with the warp */
    uint8_t *o8 = malloc((size_t)S * S * 3);
    for (int k = 0; k < RS_NKERNELS; k++) {
        CHECK(rs_resize_u8(o8, S, S, rgb, W, H, 3, 3, k) == DF_OK, "resize_u8: %s", df_errmsg());
        CHECK(rs_resize_planar(a, S, S, plan, 3, H, W, k) == DF_OK, "resize_planar: %s", df_errmsg());
        rs_affine m = rs_rect_map(0, 0, W, H, S, S);
        int kk = k;
        rs_warp_forward(b, plan, &m, &kk, 1, 3, H, W, S, S);
        double e8 = 0, ef = 0;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < S * S; p++) {
                e8 = fmax(e8, fabs(o8[p * 3 + c] / 127.5 - 1 - b[c * S * S + p]));
                ef = fmax(ef, fabs(a[c * S * S + p] - b[c * S * S + p]));
            }
        CHECK(e8 <= 0.0045 && ef <= 1e-4, "kernel %s resize: 8-bit off by %.4g, float by %.4g", rs_kernel_name(k), e8, ef);
    }
    /* bad arguments */
    CHECK(rs_resize_u8(o8, 0, S, rgb, W, H, 3, 3, RS_AREA) != DF_OK, "zero width refused");
    CHECK(rs_resize_u8(o8, S, S, rgb, W, H, 3, 3, (rs_kernel)7) != DF_OK, "unknown kernel refused");
    CHECK(rs_crop_u8_planar(a, S, S, rgb, W, H, 3, W + 1.0, 0, 10, 10, RS_AREA) != DF_OK, "crop outside refused");
    CHECK(rs_crop_u8_planar(a, S, S, rgb, W, H, 3, 0, 0, NAN, 10, RS_AREA) != DF_OK, "NaN crop refused");
    rs_affine bad = rs_rect_map(0, 0, 1e5, 1e5, S, S);
    int kb = RS_AREA;
    CHECK(rs_warp_check(&bad, &kb, 1, 3, H, W, S, S) != DF_OK, "a shrink beyond RS_MAX_SHRINK refused");
    bad = rs_rect_map(0, 0, 10, 10, S, S);
    bad.a[2] = INFINITY;
    CHECK(rs_warp_check(&bad, &kb, 1, 3, H, W, S, S) != DF_OK, "non-finite map refused");
    free(rgb), free(plan), free(a), free(b), free(o8);
}

/* ------------------------------------------------------------------ the attacker's pipeline */
static void test_attack(void) {
    atk_spec s;
    char buf[200];
    CHECK(atk_parse(&s, "jitter") == DF_OK && fabsf(s.shift - 0.04f) < 1e-7f && fabsf(s.scale - 0.08f) < 1e-7f &&
              s.kernel == RS_BICUBIC_AA && s.jpeg_lo == 0,
          "preset jitter");
    CHECK(atk_parse(&s, "shift=0.02,kernel=any,jpeg=70-95,downsize=1080,rot=10") == DF_OK && s.kernel == ATK_ANY_KERNEL &&
              s.jpeg_lo == 70 && s.jpeg_hi == 95 && s.downsize == 1080 && s.rot == 10.0f,
          "explicit spec");
    atk_format(&s, buf, sizeof buf);
    atk_spec s2;
    CHECK(atk_parse(&s2, buf) == DF_OK && !memcmp(&s, &s2, sizeof s), "format/parse round trip: %s", buf);
    const char *bads[] = {"shift=0.6", "scale=-0.1", "rot=90", "kernel=lanczos", "jpeg=101", "jpeg=90-80", "jpeg=abc",
                          "downsize=5", "colour=1", "nonsense", "", "shift=0.04,"};
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        df_status st = atk_parse(&s2, bads[i]);
        if (!strcmp(bads[i], "shift=0.04,")) continue; /* a trailing comma is harmless */
        CHECK(st != DF_OK, "bad spec accepted: '%s'", bads[i]);
    }
    /* samples stay in range, every kernel and quality is drawn */
    atk_parse(&s, "train");
    df_rng r;
    df_rng_seed(&r, 7);
    int seen_k[RS_NKERNELS] = {0}, qlo = 100, qhi = 0;
    for (int i = 0; i < 2000; i++) {
        atk_sample o;
        atk_draw(&o, &s, &r);
        CHECK(fabs(o.dx) <= 0.05 + 1e-6 && fabs(o.dy) <= 0.05 + 1e-6 && fabs(o.ds) <= 0.1 + 1e-6 &&
                  fabs(o.theta) <= 10 * M_PI / 180 + 1e-6 && o.jpeg >= 70 && o.jpeg <= 95,
              "sample out of range");
        seen_k[o.kernel]++;
        qlo = o.jpeg < qlo ? o.jpeg : qlo, qhi = o.jpeg > qhi ? o.jpeg : qhi;
    }
    for (int k = 0; k < RS_NKERNELS; k++) CHECK(seen_k[k] > 300, "kernel %d drawn %d times of 2000", k, seen_k[k]);
    CHECK(qlo == 70 && qhi == 95, "JPEG qualities drawn %d..%d", qlo, qhi);

    /* real against differentiable on a photo: a jittered, turned crop (no JPEG), then with JPEG 85 against
     * augment.h's approximation applied before the crop */
    int W = 96, H = 112, S = 64;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                double v = 128 + 70 * sin(0.11 * x + c) * cos(0.09 * y) + 25 * sin(0.3 * x * (c + 1) + 0.4 * y);
                rgb[((size_t)y * W + x) * 3 + c] = (uint8_t)lround(fmin(255, fmax(0, v)));
            }
    float *plan = malloc(sizeof(float) * 3 * W * H), *a = malloc(sizeof(float) * 3 * S * S),
          *b = malloc(sizeof(float) * 3 * S * S);
    df_rgb8_to_planar(plan, rgb, W, H, 3);
    atk_sample o = {0.03, -0.02, 0.06, 0.12, RS_BICUBIC_AA, 0};
    atk_parse(&s, "shift=0.04");
    double cx = 48, cy = 56, side = 80;
    CHECK(atk_real_rgb8(a, S, rgb, W, H, cx, cy, side, &s, &o) == DF_OK, "real pipeline: %s", df_errmsg());
    rs_affine m = atk_map(&o, cx, cy, side, S);
    int kk = o.kernel;
    rs_warp_forward(b, plan, &m, &kk, 1, 3, H, W, S, S);
    double e = 0;
    for (size_t i = 0; i < (size_t)3 * S * S; i++) e = fmax(e, fabs(a[i] - b[i]));
    CHECK(e <= 0.0045, "turned crop: real and differentiable differ by %.4g", e);
    /* JPEG: the real codec against the approximation on the photo (multiple of 16), then the same crop */
    o.jpeg = 85;
    o.theta = 0;
    cy = 50;
    CHECK(atk_real_rgb8(a, S, rgb, W, H, cx, cy, side, &s, &o) == DF_OK, "real pipeline with JPEG: %s", df_errmsg());
    aug_op j = {AUG_JPEG, 0, 0, 0, 0, 85, AUG_ROUND_STE};
    /* augment.h wants square images: the approximation on the 96 x 96 square under the crop */
    float *sq = malloc(sizeof(float) * 3 * 96 * 96), *sqj = malloc(sizeof(float) * 3 * 96 * 96);
    float *ws = malloc(aug_workspace(&j, 1, 96) * sizeof(float));
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 96; y++) memcpy(sq + ((size_t)c * 96 + y) * 96, plan + ((size_t)c * H + y) * W, 96 * sizeof(float));
    aug_forward(&j, sqj, sq, 1, 96, ws);
    m = atk_map(&o, cx, cy, side, S);
    kk = o.kernel;
    rs_warp_forward(b, sqj, &m, &kk, 1, 3, 96, 96, S, S);
    double mse = 0;
    for (size_t i = 0; i < (size_t)3 * S * S; i++) mse += (double)(a[i] - b[i]) * (a[i] - b[i]) / (3.0 * S * S);
    double psnr = 10 * log10(4.0 / mse);
    /* the square is the photo's top 96 rows (MCU-aligned) and holds the whole crop */
    CHECK(psnr > 38, "JPEG 85 then crop: real and differentiable %.1f dB apart", psnr);
    CHECK(atk_real_rgb8(a, S, rgb, 0, H, cx, cy, side, &s, &o) != DF_OK, "bad photo size refused");
    free(sq), free(sqj), free(ws), free(rgb), free(plan), free(a), free(b);
}

int main(void) {
    test_adjoint();
    test_kernels();
    test_axis_aligned();
    test_upsample_rows();
    test_real_vs_warp();
    test_attack();
    return check_summary("test_resample");
}
