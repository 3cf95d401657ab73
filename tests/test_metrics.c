/* Metrics against hand-computed values and independent direct implementations: disruption (d_pix, d_mask,
 * L2_mask, success), PSNR, SSIM, L-inf, the symmetric eigen-decomposition and the Frechet distance. */
#include <float.h>
#include <stdint.h>

#include "check.h"
#include "linalg.h"
#include "metrics.h"

/* ------------------------------------------------------------------ disruption */

static void test_identical(void) {
    enum { H = 9, W = 13, N = 3 * H * W };
    static float a[N];
    check_fill(a, N, 1);
    df_disruption d;
    memset(&d, 0xff, sizeof d);
    df_disruption_measure(&d, a, a, a, H, W);
    CHECK(d.d_pix == 0 && d.d_pix_rms == 0 && d.d_mask == 0 && d.d_mask_rms == 0, "zero distances");
    CHECK(d.l2 == 0 && d.l2_mask == 0, "zero L2");
    CHECK(d.mask_pixels == 0 && d.success == 0, "empty mask -> failure (%ld, %d)", d.mask_pixels, d.success);
    double p = df_psnr(a, a, N);
    CHECK(isinf(p) && p > 0, "PSNR of identical images is +inf (%g)", p);
    CHECK_NEAR(df_ssim(a, a, 3, H, W), 1.0, 1e-12, "SSIM identical");
    CHECK(df_linf(a, a, N) == 0.0, "L-inf identical");
}

/* Values on a 1/256 grid so that clean + shift is exact in float. */
static void test_constant_shift(void) {
    enum { H = 7, W = 11, N = 3 * H * W };
    static float gc[N], ga[N], x[N];
    const float shift = -0.1875f;
    check_fill(gc, N, 2);
    for (int i = 0; i < N; i++) {
        gc[i] = roundf(gc[i] * 128.0f) / 256.0f; /* [-0.5, 0.5] */
        ga[i] = gc[i] + shift;
        x[i] = gc[i] + (i < H * W ? 0.75f : 0.0f); /* channel 0 differs by 0.75: every pixel masked */
    }
    df_disruption d;
    df_disruption_measure(&d, ga, gc, x, H, W);
    CHECK_NEAR(d.d_pix, 0.1875 * sqrt((double)N), 1e-12, "d_pix = |shift| sqrt(n)");
    CHECK_NEAR(d.d_pix_rms, 0.1875, 1e-12, "d_pix rms");
    CHECK_NEAR(d.l2, 0.1875 * 0.1875, 1e-12, "L2 = shift^2");
    CHECK(d.mask_pixels == H * W, "all masked (%ld)", d.mask_pixels);
    CHECK_NEAR(d.d_mask, d.d_pix, 1e-12, "d_mask with full mask");
    CHECK_NEAR(d.d_mask_rms, 0.1875, 1e-12, "d_mask rms");
    CHECK_NEAR(d.l2_mask, 0.1875 * 0.1875, 1e-12, "L2_mask");
    CHECK(d.success == 0, "0.035 < 0.05: no success");
    double lref = 0.1875;
    CHECK(df_linf(ga, gc, N) == lref && df_linf(gc, ga, N) == lref, "L-inf of a shift");
}

/* A 4x5 image with hand-placed mask pixels (x = 0, mask from |g_clean - x| summed over RGB > 0.5). */
static void test_hand_mask(void) {
    enum { H = 4, W = 5, HW = H * W, N = 3 * HW };
    float x[N] = {0}, gc[N] = {0}, ga[N] = {0};
#define PX(arr, p, r, g, b) (arr[(p)] = (r), arr[HW + (p)] = (g), arr[2 * HW + (p)] = (b))
    PX(gc, 3, 0.25f, 0.25f, 0.125f);  /* 0.625: in */
    PX(gc, 7, -0.625f, 0.0f, 0.0f);   /* 0.625 through |.|: in */
    PX(gc, 11, 0.25f, 0.25f, 0.0f);   /* exactly 0.5: out (strict >) */
    PX(gc, 12, 0.125f, 0.125f, 0.125f); /* 0.375: out */
    PX(gc, 15, 0.0f, 0.0f, -1.0f);    /* 1.0: in */
    PX(gc, 19, 0.25f, -0.125f, 0.25f); /* 0.625: in */
    PX(x, 19, 0.0f, 0.0f, 0.25f);     /* ... but x moves too: |diff| = 0.25 + 0.125 + 0 = 0.375: out */
    uint8_t mask[HW];
    long m = df_cmua_mask(mask, gc, x, H, W);
    CHECK(m == 3, "mask pixel count %ld (want 3)", m);
    for (int p = 0; p < HW; p++) CHECK(mask[p] == (p == 3 || p == 7 || p == 15), "mask[%d] = %d", p, mask[p]);
    /* g_adv = g_clean + perturbation on chosen elements */
    memcpy(ga, gc, sizeof ga);
    ga[3] += 0.5f;            /* masked pixel 3, R: 0.25 */
    ga[2 * HW + 7] -= 0.25f;  /* masked pixel 7, B: 0.0625 */
    ga[HW + 15] += 0.125f;    /* masked pixel 15, G: 0.015625 */
    ga[HW + 12] += 1.0f;      /* unmasked pixel 12: 1 */
    ga[2 * HW + 11] -= 0.5f;  /* unmasked pixel 11: 0.25 */
    df_disruption d;
    df_disruption_measure(&d, ga, gc, x, H, W);
    double sm = 0.25 + 0.0625 + 0.015625, sa = sm + 1.0 + 0.25;
    CHECK(d.mask_pixels == 3, "measure mask pixels %ld", d.mask_pixels);
    CHECK_NEAR(d.d_pix, sqrt(sa), 1e-12, "hand d_pix");
    CHECK_NEAR(d.d_pix_rms, sqrt(sa / N), 1e-12, "hand d_pix rms");
    CHECK_NEAR(d.d_mask, sqrt(sm), 1e-12, "hand d_mask");
    CHECK_NEAR(d.d_mask_rms, sqrt(sm / 9.0), 1e-12, "hand d_mask rms");
    CHECK_NEAR(d.l2, sa / N, 1e-12, "hand L2");
    CHECK_NEAR(d.l2_mask, sm / 9.0, 1e-12, "hand L2_mask");
    CHECK(d.success == 0, "0.0365 < 0.05");
    ga[HW + 3] += 0.5f; /* one more 0.25 inside the mask: 0.578125 / 9 = 0.0642 */
    df_disruption_measure(&d, ga, gc, x, H, W);
    CHECK_NEAR(d.l2_mask, (sm + 0.25) / 9.0, 1e-12, "hand L2_mask 2");
    CHECK(d.success == 1, "0.064 > 0.05");
#undef PX
}

/* L2_mask just below / above the 0.05 threshold, and an empty mask with a huge error. */
static void test_threshold(void) {
    enum { H = 6, W = 6, HW = H * W, N = 3 * HW };
    static float x[N], gc[N], ga[N];
    const int masked[] = {0, 5, 17, 30, 35};
    for (int i = 0; i < 5; i++)
        for (int c = 0; c < 3; c++) x[c * HW + masked[i]] = 0.5f;
    /* the floats next to sqrt(0.05): L2_mask = tf^2 lands within ~1e-8 of 0.05 on either side */
    float lo = (float)sqrt(0.05), hi;
    while ((double)lo * lo >= 0.05) lo = nextafterf(lo, 0.0f);
    while ((double)lo * lo < 0.05 && (double)nextafterf(lo, 1.0f) * nextafterf(lo, 1.0f) < 0.05) lo = nextafterf(lo, 1.0f);
    hi = nextafterf(lo, 1.0f);
    for (int side = -1; side <= 1; side += 2) {
        float tf = side < 0 ? lo : hi;
        memset(ga, 0, sizeof ga);
        for (int i = 0; i < 5; i++)
            for (int c = 0; c < 3; c++) ga[c * HW + masked[i]] = (c & 1) ? -tf : tf;
        ga[7] = 1.0f; /* outside the mask: changes l2 only */
        df_disruption d;
        df_disruption_measure(&d, ga, gc, x, H, W);
        double want = (double)tf * tf;
        CHECK(d.mask_pixels == 5, "threshold mask %ld", d.mask_pixels);
        CHECK(d.l2_mask == want, "threshold L2_mask %.17g vs %.17g", d.l2_mask, want);
        CHECK(fabs(d.l2_mask - 0.05) < 1e-8, "threshold L2_mask %.17g next to 0.05", d.l2_mask);
        CHECK_NEAR(d.l2, (15.0 * want + 1.0) / N, 1e-15, "threshold L2");
        CHECK(d.success == (side > 0), "success at 0.05 %s: %d (l2_mask %.9g)", side > 0 ? "+" : "-", d.success,
              d.l2_mask);
    }
    /* empty mask: everything disrupted but nothing counted */
    for (int i = 0; i < N; i++) ga[i] = 1.0f;
    df_disruption d;
    df_disruption_measure(&d, ga, gc, gc, H, W);
    CHECK(d.mask_pixels == 0 && d.success == 0 && d.l2_mask == 0.0 && d.d_mask_rms == 0.0, "empty mask");
    CHECK_NEAR(d.l2, 1.0, 1e-15, "empty mask L2");
}

/* ------------------------------------------------------------------ PSNR, L-inf */

static void test_psnr_linf(void) {
    enum { N = 3 * 8 * 8 };
    static float a[N], b[N];
    for (int i = 0; i < N; i++) {
        a[i] = 0.0f;
        b[i] = (i % 3) ? 0.125f : -0.125f;
    }
    /* MSE = 1/64 on [-1, 1]: 10 log10(4 * 64) */
    CHECK_NEAR(df_psnr(a, b, N), 10.0 * log10(256.0), 1e-12, "PSNR of MSE 1/64");
    /* agrees with the 0..255 definition for random images */
    check_fill(a, N, 3);
    check_fill(b, N, 4);
    double mse = 0;
    for (int i = 0; i < N; i++) {
        double t = ((double)a[i] + 1.0) * 127.5 - ((double)b[i] + 1.0) * 127.5;
        mse += t * t / N;
    }
    CHECK_NEAR(df_psnr(a, b, N), 20.0 * log10(255.0) - 10.0 * log10(mse), 1e-9, "PSNR = 0..255 PSNR");
    CHECK(isnan(df_psnr(a, b, 0)), "PSNR of nothing is NaN");
    /* L-inf: largest |difference| is negative, at a known place */
    memcpy(b, a, sizeof b);
    b[17] = a[17] + 0.03125f;
    b[100] = a[100] - 0.0625f;
    CHECK_NEAR(df_linf(a, b, N), fabs((double)b[100] - a[100]), 0.0, "L-inf");
    CHECK(df_linf(a, b, 50) == fabs((double)b[17] - a[17]), "L-inf on a prefix");
}

/* ------------------------------------------------------------------ SSIM */

/* Direct reference: every valid window, 2-D weights, no separability. */
static double ssim_ref(const float *a, const float *b, int C, int H, int W) {
    int k = H < W ? H : W;
    if (k > 11) k = 11;
    if (k % 2 == 0) k--;
    int r = k / 2;
    double w[11][11], ws = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) ws += w[i][j] = exp(-((i - r) * (i - r) + (j - r) * (j - r)) / 4.5);
    double total = 0;
    for (int c = 0; c < C; c++) {
        double acc = 0;
        for (int y = 0; y + k <= H; y++)
            for (int x = 0; x + k <= W; x++) {
                double mu = 0, mv = 0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        size_t o = ((size_t)c * H + y + i) * W + x + j;
                        mu += w[i][j] / ws * (a[o] + 1.0) / 2;
                        mv += w[i][j] / ws * (b[o] + 1.0) / 2;
                    }
                double su = 0, sv = 0, suv = 0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        size_t o = ((size_t)c * H + y + i) * W + x + j;
                        double du = (a[o] + 1.0) / 2 - mu, dv = (b[o] + 1.0) / 2 - mv;
                        su += w[i][j] / ws * du * du;
                        sv += w[i][j] / ws * dv * dv;
                        suv += w[i][j] / ws * du * dv;
                    }
                double c1 = 1e-4, c2 = 9e-4;
                acc += (2 * mu * mv + c1) * (2 * suv + c2) / ((mu * mu + mv * mv + c1) * (su + sv + c2));
            }
        total += acc / ((H - k + 1) * (W - k + 1));
    }
    return total / C;
}

static void test_ssim(void) {
    const int sizes[][3] = {{3, 24, 30}, {3, 11, 11}, {1, 16, 12}, {3, 7, 9}, {2, 10, 15}, {3, 1, 5}};
    for (int s = 0; s < 6; s++) {
        int C = sizes[s][0], H = sizes[s][1], W = sizes[s][2];
        size_t n = (size_t)C * H * W;
        float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *z = malloc(n * sizeof(float));
        check_fill(a, n, 10 + s);
        check_fill(z, n, 20 + s);
        /* constant offset: structure term is 1, only luminance differs */
        for (size_t i = 0; i < n; i++) {
            a[i] *= 0.8f;
            b[i] = a[i] + 0.1f;
        }
        double v = df_ssim(a, b, C, H, W), ref = ssim_ref(a, b, C, H, W);
        CHECK_NEAR(v, ref, 1e-10, "SSIM constant offset vs direct");
        CHECK(v < 1.0 && v > 0.9, "SSIM constant offset %g in (0.9, 1)", v);
        /* noise */
        for (size_t i = 0; i < n; i++) b[i] = a[i] + 0.1f * z[i];
        v = df_ssim(a, b, C, H, W);
        ref = ssim_ref(a, b, C, H, W);
        CHECK_NEAR(v, ref, 1e-10, "SSIM noise vs direct");
        CHECK(v < 1.0, "SSIM with noise < 1 (%g)", v);
        CHECK_NEAR(df_ssim(b, a, C, H, W), v, 1e-14, "SSIM symmetric");
        /* unrelated images score low (a 1x1 window has no structure term: skip) */
        if (H >= 7) CHECK(df_ssim(a, z, C, H, W) < 0.3, "SSIM of unrelated noise %g", df_ssim(a, z, C, H, W));
        free(a);
        free(b);
        free(z);
    }
    float one = 0.5f;
    CHECK(isnan(df_ssim(&one, &one, 1, 0, 1)), "SSIM of an empty image is NaN");
}

/* ------------------------------------------------------------------ eigen-decomposition */

static void sym_random(double *A, int n, unsigned seed) {
    float *t = malloc((size_t)n * n * sizeof(float));
    check_fill(t, (size_t)n * n, seed);
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) A[(size_t)i * n + j] = A[(size_t)j * n + i] = t[(size_t)i * n + j];
    free(t);
}

/* Decompose A (kept), check A = Z^T diag(w) Z, Z Z^T = I, ascending w, values-only agreement,
 * sum w = trace, sum w^2 = ||A||_F^2.  garbage != 0 fills the lower triangle of the input with junk. */
static void check_eigh(const double *A, int n, const char *what, int garbage) {
    size_t nn = (size_t)n * n;
    double *Z = malloc(nn * sizeof(double)), *Z2 = malloc(nn * sizeof(double));
    double *w = malloc(n * sizeof(double)), *w2 = malloc(n * sizeof(double)), *e = malloc(n * sizeof(double));
    memcpy(Z, A, nn * sizeof(double));
    if (garbage)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) Z[(size_t)i * n + j] = 1e3 * (i - j) + 7;
    memcpy(Z2, Z, nn * sizeof(double));
    CHECK(df_eigh(w, Z, e, n, 1) == DF_OK, "%s: eigh: %s", what, df_errmsg());
    CHECK(df_eigh(w2, Z2, e, n, 0) == DF_OK, "%s: eigh values: %s", what, df_errmsg());
    double scale = 0, fro = 0, tr = 0, sw = 0, sw2 = 0, rec = 0, orth = 0, vdiff = 0, order = 0;
    for (size_t i = 0; i < nn; i++) fro += A[i] * A[i];
    for (int i = 0; i < n; i++) tr += A[(size_t)i * n + i];
    scale = sqrt(fro) + 1e-300;
    for (int i = 0; i < n; i++) {
        sw += w[i];
        sw2 += w[i] * w[i];
        vdiff = fmax(vdiff, fabs(w[i] - w2[i]));
        if (i) order = fmax(order, w[i - 1] - w[i]);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double r = 0, o = 0;
            for (int k = 0; k < n; k++) {
                r += Z[(size_t)k * n + i] * w[k] * Z[(size_t)k * n + j];
                o += Z[(size_t)i * n + k] * Z[(size_t)j * n + k];
            }
            rec = fmax(rec, fabs(r - A[(size_t)i * n + j]));
            orth = fmax(orth, fabs(o - (i == j)));
        }
    double tol = 1e-12 * n;
    CHECK(rec <= tol * scale, "%s: reconstruction error %g", what, rec / scale);
    CHECK(orth <= tol, "%s: orthonormality error %g", what, orth);
    CHECK(order <= 0, "%s: eigenvalues not ascending", what);
    CHECK(vdiff <= tol * scale, "%s: values-only differ by %g", what, vdiff / scale);
    CHECK(fabs(sw - tr) <= tol * scale, "%s: sum of eigenvalues %g vs trace %g", what, sw, tr);
    CHECK(fabs(sw2 - fro) <= tol * scale * scale, "%s: sum of squares %g vs %g", what, sw2, fro);
    free(Z);
    free(Z2);
    free(w);
    free(w2);
    free(e);
}

static void test_eigh(void) {
    const int ns[] = {1, 2, 3, 5, 17, 64, 150};
    char what[64];
    for (int t = 0; t < 7; t++) {
        int n = ns[t];
        double *A = malloc((size_t)n * n * sizeof(double));
        sym_random(A, n, 30 + t);
        snprintf(what, sizeof what, "random n=%d", n);
        check_eigh(A, n, what, t % 2);
        /* rank one u u^T: eigenvalues 0 (n-1 times) and |u|^2; repeated eigenvalues stress QL */
        float *u = malloc(n * sizeof(float));
        check_fill(u, n, 40 + t);
        double uu = 0;
        for (int i = 0; i < n; i++) {
            uu += (double)u[i] * u[i];
            for (int j = 0; j < n; j++) A[(size_t)i * n + j] = (double)u[i] * u[j];
        }
        snprintf(what, sizeof what, "rank one n=%d", n);
        check_eigh(A, n, what, 0);
        double *Z = malloc((size_t)n * n * sizeof(double)), *w = malloc(n * sizeof(double)),
               *e = malloc(n * sizeof(double));
        memcpy(Z, A, (size_t)n * n * sizeof(double));
        df_eigh(w, Z, e, n, 0);
        CHECK_NEAR(w[n - 1], uu, 1e-12 * uu, "rank one top eigenvalue");
        for (int i = 0; i < n - 1; i++) CHECK_NEAR(w[i], 0.0, 1e-12 * uu * n, "rank one zero eigenvalue");
        /* diagonal with repeats, and the identity */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) A[(size_t)i * n + j] = i == j ? (double)((i * 7) % 5) - 2.0 : 0.0;
        snprintf(what, sizeof what, "diagonal n=%d", n);
        check_eigh(A, n, what, 0);
        free(A);
        free(u);
        free(Z);
        free(w);
        free(e);
    }
    /* 2x2 by hand: [[2, 1], [1, 2]] -> 1, 3 with vectors (1, -1)/sqrt2, (1, 1)/sqrt2 */
    double Z[4] = {2, 1, 1, 2}, w[2], e[2];
    CHECK(df_eigh(w, Z, e, 2, 1) == DF_OK, "2x2");
    CHECK_NEAR(w[0], 1.0, 1e-15, "2x2 w0");
    CHECK_NEAR(w[1], 3.0, 1e-15, "2x2 w1");
    CHECK_NEAR(fabs(Z[0] + Z[1]), 0.0, 1e-15, "2x2 v0 ~ (1, -1)");
    CHECK_NEAR(fabs(Z[2] - Z[3]), 0.0, 1e-15, "2x2 v1 ~ (1, 1)");
    CHECK(df_eigh(w, Z, e, 0, 1) == DF_ERR_ARG, "n = 0 rejected");
    double bad[4] = {1, NAN, NAN, 1};
    CHECK(df_eigh(w, bad, e, 2, 1) == DF_ERR_ARG, "NaN rejected");
}

/* ------------------------------------------------------------------ Frechet distance */

static double frechet(const float *a, int na, const float *b, int nb, int d) {
    double v = -1;
    df_status st = df_frechet(&v, a, na, b, nb, d);
    CHECK(st == DF_OK, "frechet: %s", df_errmsg());
    return v;
}

static void mean_var(const float *x, int n, int d, int j, double *mu, double *var) {
    double m = 0, v = 0;
    for (int r = 0; r < n; r++) m += x[(size_t)r * d + j];
    m /= n;
    for (int r = 0; r < n; r++) v += (x[(size_t)r * d + j] - m) * (x[(size_t)r * d + j] - m);
    *mu = m;
    *var = v / (n - 1);
}

static void test_frechet(void) {
    /* 1-D: (mu1 - mu2)^2 + s1 + s2 - 2 sqrt(s1 s2) */
    float a1[9], b1[14];
    check_fill(a1, 9, 50);
    check_fill(b1, 14, 51);
    for (int i = 0; i < 14; i++) b1[i] = 2.0f * b1[i] + 0.3f;
    double ma, va, mb, vb;
    mean_var(a1, 9, 1, 0, &ma, &va);
    mean_var(b1, 14, 1, 0, &mb, &vb);
    CHECK_NEAR(frechet(a1, 9, b1, 14, 1), (ma - mb) * (ma - mb) + va + vb - 2 * sqrt(va * vb), 1e-12, "1-D");

    /* diagonal covariances: columns are scaled orthogonal +-1 patterns (Hadamard order 8, zero-mean rows 1..7),
     * so Sa = diag(8/7 sa_j^2), Sb = diag(8/7 sb_j^2) exactly; FD = |dmu|^2 + 8/7 sum (sa_j - sb_j)^2 */
    enum { HN = 8, HD = 7 };
    float ha[HN * HD], hb[HN * HD];
    double want = 0;
    for (int j = 0; j < HD; j++) {
        double sa = 0.25 * (j + 1), sb = 0.5 + 0.125 * j, ma_ = 0.125 * j, mb_ = -0.0625 * j * j;
        for (int r = 0; r < HN; r++) {
            int h = (__builtin_popcount(r & (j + 1)) & 1) ? -1 : 1; /* Sylvester Hadamard entry H[r][j+1] */
            ha[r * HD + j] = (float)(ma_ + sa * h);
            hb[r * HD + j] = (float)(mb_ + sb * h);
        }
        want += (ma_ - mb_) * (ma_ - mb_) + 8.0 / 7.0 * (sa - sb) * (sa - sb);
    }
    CHECK_NEAR(frechet(ha, HN, hb, HN, HD), want, 1e-9, "diagonal covariances");
    CHECK_NEAR(frechet(hb, HN, ha, HN, HD), want, 1e-9, "diagonal covariances, swapped");

    /* 2-D general case, closed form: Tr sqrt(Sa Sb) = sqrt(Tr(Sa Sb) + 2 sqrt(det Sa det Sb)) */
    enum { N2 = 40 };
    float p[N2 * 2], q[N2 * 2];
    check_fill(p, N2 * 2, 52);
    check_fill(q, N2 * 2, 53);
    for (int r = 0; r < N2; r++) {
        p[2 * r + 1] = 0.5f * p[2 * r + 1] + 0.7f * p[2 * r];
        q[2 * r] = 1.5f * q[2 * r] - 0.4f * q[2 * r + 1] + 0.2f;
    }
    double S[2][3], mu[2][2];
    const float *sets[2] = {p, q};
    for (int s = 0; s < 2; s++) {
        double c00 = 0, c01 = 0, c11 = 0;
        mean_var(sets[s], N2, 2, 0, &mu[s][0], &c00);
        mean_var(sets[s], N2, 2, 1, &mu[s][1], &c11);
        for (int r = 0; r < N2; r++) c01 += (sets[s][2 * r] - mu[s][0]) * (sets[s][2 * r + 1] - mu[s][1]);
        S[s][0] = c00, S[s][1] = c01 / (N2 - 1), S[s][2] = c11;
    }
    double tr_ab = S[0][0] * S[1][0] + 2 * S[0][1] * S[1][1] + S[0][2] * S[1][2];
    double det_a = S[0][0] * S[0][2] - S[0][1] * S[0][1], det_b = S[1][0] * S[1][2] - S[1][1] * S[1][1];
    double fd2 = (mu[0][0] - mu[1][0]) * (mu[0][0] - mu[1][0]) + (mu[0][1] - mu[1][1]) * (mu[0][1] - mu[1][1]) +
                 S[0][0] + S[0][2] + S[1][0] + S[1][2] - 2 * sqrt(tr_ab + 2 * sqrt(det_a * det_b));
    CHECK_NEAR(frechet(p, N2, q, N2, 2), fd2, 1e-12, "2-D closed form");

    /* identical sets, translation by delta adds |delta|^2, symmetry; full-rank (n > d) and singular (n < d) */
    const int cases[][2] = {{200, 16}, {10, 16}, {300, 96}};
    for (int c = 0; c < 3; c++) {
        int n = cases[c][0], d = cases[c][1];
        size_t nd = (size_t)n * d;
        float *x = malloc(nd * sizeof(float)), *y = malloc(nd * sizeof(float)), *z = malloc(nd * sizeof(float));
        float *delta = malloc(d * sizeof(float));
        check_fill(x, nd, 60 + c);
        check_fill(z, nd, 70 + c);
        check_fill(delta, d, 80 + c);
        for (size_t i = 0; i < nd; i++) x[i] = x[i] + 0.5f * x[(i * 7 + 3) % nd]; /* correlated features */
        double dd = 0, tr = 0;
        for (int j = 0; j < d; j++) {
            double m, v;
            mean_var(x, n, d, j, &m, &v);
            tr += v;
        }
        for (size_t i = 0; i < nd; i++) {
            y[i] = x[i] + delta[i % d];
        }
        for (int j = 0; j < d; j++) {
            double m1, m2, v;
            mean_var(x, n, d, j, &m1, &v);
            mean_var(y, n, d, j, &m2, &v);
            dd += (m2 - m1) * (m2 - m1);
        }
        double tol = (n > d ? 1e-9 : 1e-5) * tr;
        CHECK_NEAR(frechet(x, n, x, n, d), 0.0, tol, "identical sets");
        CHECK_NEAR(frechet(x, n, y, n, d), dd, tol, "translation adds |delta|^2");
        double f1 = frechet(x, n, z, n, d), f2 = frechet(z, n, x, n, d);
        CHECK_NEAR(f1, f2, 1e-9 * (f1 + tr), "Frechet symmetric");
        CHECK(f1 > 0.01 * tr, "different sets are far (%g, trace %g)", f1, tr);
        free(x);
        free(y);
        free(z);
        free(delta);
    }

    double v;
    CHECK(df_frechet(&v, a1, 1, b1, 14, 1) == DF_ERR_ARG, "n < 2 rejected");
    CHECK(df_frechet(&v, a1, 9, b1, 14, 0) == DF_ERR_ARG, "d < 1 rejected");
    CHECK(df_frechet(NULL, a1, 9, b1, 14, 1) == DF_ERR_ARG, "NULL out rejected");
    a1[3] = NAN;
    CHECK(df_frechet(&v, a1, 9, b1, 14, 1) == DF_ERR_ARG, "NaN features rejected");
}

int main(void) {
    test_identical();
    test_constant_shift();
    test_hand_mask();
    test_threshold();
    test_psnr_linf();
    test_ssim();
    test_eigh();
    test_frechet();
    return check_summary("test_metrics");
}
